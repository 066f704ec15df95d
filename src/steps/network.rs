//! Network faults on links (SPEC §7.1): Toxiproxy's toxics on a hop of the scenario's stack,
//! named by its two ends (`the link from "value-committer" to "redis"` is `value-committer->redis`).
//!
//! The shorthand steps use Toxiproxy's defaults (stream `downstream`, the bytes coming back,
//! toxicity 1) except `resets connections`, which acts on the first bytes sent (`upstream`) so
//! the destination never sees the request. Any toxic, stream and toxicity: the JSON step.

use std::time::Duration;

use cucumber::gherkin::Step;
use cucumber::{given, then, when};

use super::params::DurationParam;
use super::world::{GauntletWorld, StepError, StepResult};
use crate::link::{link_name, Stream, Toxic, ToxicKind};

/// The name of the link from `from` to `to`, which the stack must have.
async fn link(world: &mut GauntletWorld, from: &str, to: &str) -> Result<String, StepError> {
    let known = world.stack().await?.link_names().await?;
    let name = link_name(from, to);
    if known.contains(&name) {
        return Ok(name);
    }
    let hint = crate::config::kong::yaml::closest(&name, known.iter().map(String::as_str))
        .map(|c| format!(" (did you mean {c}?)"))
        .unwrap_or_default();
    Err(StepError::new(format!(
        "this stack has no link {name}{hint}; its links: {}",
        known.join(", ")
    )))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

async fn add(world: &mut GauntletWorld, from: &str, to: &str, toxic: Toxic) -> StepResult {
    let link = link(world, from, to).await?;
    Ok(world.stack().await?.add_toxic(&link, toxic).await?)
}

#[given(expr = "a latency of {duration} on the link from {string} to {string}")]
#[when(expr = "a latency of {duration} on the link from {string} to {string}")]
async fn latency(
    world: &mut GauntletWorld,
    d: DurationParam,
    from: String,
    to: String,
) -> StepResult {
    let kind = ToxicKind::Latency {
        latency: millis(d.0),
        jitter: 0,
    };
    add(world, &from, &to, Toxic::new(kind, Stream::Downstream)).await
}

#[given(expr = "a latency of {duration} ± {duration} on the link from {string} to {string}")]
#[when(expr = "a latency of {duration} ± {duration} on the link from {string} to {string}")]
async fn latency_jitter(
    world: &mut GauntletWorld,
    d: DurationParam,
    jitter: DurationParam,
    from: String,
    to: String,
) -> StepResult {
    let kind = ToxicKind::Latency {
        latency: millis(d.0),
        jitter: millis(jitter.0),
    };
    add(world, &from, &to, Toxic::new(kind, Stream::Downstream)).await
}

#[given(expr = "a bandwidth limit of {int} KB\\/s on the link from {string} to {string}")]
#[when(expr = "a bandwidth limit of {int} KB\\/s on the link from {string} to {string}")]
async fn bandwidth(world: &mut GauntletWorld, rate: u64, from: String, to: String) -> StepResult {
    let kind = ToxicKind::Bandwidth { rate };
    add(world, &from, &to, Toxic::new(kind, Stream::Downstream)).await
}

#[given(expr = "the link from {string} to {string} is sliced into {int}-byte segments")]
#[when(expr = "the link from {string} to {string} is sliced into {int}-byte segments")]
async fn sliced(world: &mut GauntletWorld, from: String, to: String, size: u64) -> StepResult {
    if size == 0 {
        return Err(StepError::new("a slicer needs segments of at least 1 byte"));
    }
    let kind = ToxicKind::Slicer {
        average_size: size,
        size_variation: 0,
        delay: 0,
    };
    add(world, &from, &to, Toxic::new(kind, Stream::Downstream)).await
}

#[given(expr = "the link from {string} to {string} closes after {int} bytes")]
#[when(expr = "the link from {string} to {string} closes after {int} bytes")]
async fn limit_data(world: &mut GauntletWorld, from: String, to: String, bytes: u64) -> StepResult {
    let kind = ToxicKind::LimitData { bytes };
    add(world, &from, &to, Toxic::new(kind, Stream::Downstream)).await
}

#[given(expr = "the link from {string} to {string} closes {duration} late")]
#[when(expr = "the link from {string} to {string} closes {duration} late")]
async fn slow_close(
    world: &mut GauntletWorld,
    from: String,
    to: String,
    d: DurationParam,
) -> StepResult {
    let kind = ToxicKind::SlowClose { delay: millis(d.0) };
    add(world, &from, &to, Toxic::new(kind, Stream::Downstream)).await
}

#[given(expr = "the link from {string} to {string} goes silent")]
#[when(expr = "the link from {string} to {string} goes silent")]
async fn silent(world: &mut GauntletWorld, from: String, to: String) -> StepResult {
    let kind = ToxicKind::Timeout { timeout: 0 };
    add(world, &from, &to, Toxic::new(kind, Stream::Downstream)).await
}

#[given(expr = "the link from {string} to {string} goes silent and closes after {duration}")]
#[when(expr = "the link from {string} to {string} goes silent and closes after {duration}")]
async fn timeout(
    world: &mut GauntletWorld,
    from: String,
    to: String,
    d: DurationParam,
) -> StepResult {
    let kind = ToxicKind::Timeout {
        timeout: millis(d.0).max(1),
    };
    add(world, &from, &to, Toxic::new(kind, Stream::Downstream)).await
}

#[given(expr = "the link from {string} to {string} resets connections")]
#[when(expr = "the link from {string} to {string} resets connections")]
async fn resets(world: &mut GauntletWorld, from: String, to: String) -> StepResult {
    let kind = ToxicKind::ResetPeer { timeout: 0 };
    add(world, &from, &to, Toxic::new(kind, Stream::Upstream)).await
}

#[given(expr = "the toxic {string} on the link from {string} to {string} is:")]
#[when(expr = "the toxic {string} on the link from {string} to {string} is:")]
async fn toxic_json(
    world: &mut GauntletWorld,
    name: String,
    from: String,
    to: String,
    step: &Step,
) -> StepResult {
    let body = step
        .docstring
        .as_deref()
        .ok_or_else(|| StepError::new("the toxic's JSON goes in a docstring below the step"))?;
    let toxic = Toxic::from_json(body.as_bytes())
        .map_err(|e| StepError::new(format!("toxic {name:?}: {e}")))?
        .named(&name);
    add(world, &from, &to, toxic).await
}

#[given(expr = "the link from {string} to {string} is down")]
#[when(expr = "the link from {string} to {string} is down")]
async fn down(world: &mut GauntletWorld, from: String, to: String) -> StepResult {
    let link = link(world, &from, &to).await?;
    Ok(world.stack().await?.set_link_enabled(&link, false).await?)
}

#[given(expr = "the link from {string} to {string} is up again")]
#[when(expr = "the link from {string} to {string} is up again")]
async fn up(world: &mut GauntletWorld, from: String, to: String) -> StepResult {
    let link = link(world, &from, &to).await?;
    Ok(world.stack().await?.set_link_enabled(&link, true).await?)
}

#[when(expr = "the toxic {string} is removed")]
async fn removed(world: &mut GauntletWorld, name: String) -> StepResult {
    let stack = world.stack().await?;
    let toxics = stack.toxics().await?;
    let holders: Vec<&str> = toxics
        .iter()
        .filter(|t| t.toxic.name == name)
        .map(|t| t.link.as_str())
        .collect();
    match holders.as_slice() {
        [one] => Ok(stack.remove_toxic(one, &name).await?),
        [] => {
            let names: Vec<String> = toxics
                .iter()
                .map(|t| format!("{} on {}", t.toxic.name, t.link))
                .collect();
            Err(StepError::new(format!(
                "no link has a toxic named {name:?}; the toxics now: {}",
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            )))
        }
        several => Err(StepError::new(format!(
            "the toxic {name:?} is on several links ({}); remove it with the link's name",
            several.join(", ")
        ))),
    }
}

#[when(expr = "the toxic {string} is removed from the link from {string} to {string}")]
async fn removed_from(
    world: &mut GauntletWorld,
    name: String,
    from: String,
    to: String,
) -> StepResult {
    let link = link(world, &from, &to).await?;
    Ok(world.stack().await?.remove_toxic(&link, &name).await?)
}

#[given(expr = "every link is reset")]
#[when(expr = "every link is reset")]
async fn reset(world: &mut GauntletWorld) -> StepResult {
    Ok(world.stack().await?.reset_links().await?)
}

#[then(expr = "the link from {string} to {string} carried {int} connection(s)")]
async fn carried(world: &mut GauntletWorld, from: String, to: String, n: u64) -> StepResult {
    let link = link(world, &from, &to).await?;
    let opened = world.stack().await?.connections_opened(&link).await?;
    if opened == n {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "expected {n} connection(s) through {link}, saw {opened}"
        )))
    }
}

#[then(expr = "the last {int} responses have the same body")]
async fn same_body(world: &mut GauntletWorld, n: usize) -> StepResult {
    let responses = world.last_responses(n)?;
    let Some(first) = responses.first() else {
        return Ok(());
    };
    for (i, r) in responses.iter().enumerate().skip(1) {
        if r.body != first.body {
            let at = first
                .body
                .iter()
                .zip(r.body.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(first.body.len().min(r.body.len()));
            return Err(StepError::new(format!(
                "response #{} of the last {n} differs from the first from byte {at} on ({} bytes against {}, statuses {} and {})",
                i + 1,
                r.body.len(),
                first.body.len(),
                r.status,
                first.status
            )));
        }
    }
    Ok(())
}

#[then(expr = "the response took at least {duration}")]
async fn took_at_least(world: &mut GauntletWorld, d: DurationParam) -> StepResult {
    let last = world.last_responses(1)?;
    let took = last.first().map(|r| r.elapsed).unwrap_or_default();
    if took >= d.0 {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "the response took {:.1} ms, less than {:.1} ms",
            took.as_secs_f64() * 1000.0,
            d.0.as_secs_f64() * 1000.0
        )))
    }
}
