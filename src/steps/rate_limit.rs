//! Rate-limit assertions: header countdowns over a burst, numeric header ranges, and bursts of
//! concurrent requests (to prove the limit holds without overshoot).

use cucumber::{then, when};
use futures::future::join_all;

use super::params::MethodParam;
use super::world::{Exchange, GauntletWorld, StepError, StepResult};
use crate::steps::http::build_request;

#[then(expr = "the {string} header of the last {int} responses counts down from {int} to {int}")]
async fn header_counts_down(
    world: &mut GauntletWorld,
    name: String,
    n: usize,
    from: i64,
    to: i64,
) -> StepResult {
    let responses = world.last_responses(n)?;
    let step: i64 = if from >= to { -1 } else { 1 };
    let expected_len = usize::try_from((to - from).abs() + 1).unwrap_or(0);
    if expected_len != n {
        return Err(StepError::new(format!(
            "counting from {from} to {to} takes {expected_len} responses, not {n}"
        )));
    }
    for (i, response) in responses.iter().enumerate() {
        let expected = from + step * i64::try_from(i).unwrap_or(0);
        let actual = crate::steps::http::one_header(response, &name)?;
        if actual != Some(expected.to_string().as_str()) {
            return Err(StepError::new(format!(
                "response #{} of the last {n} (status {}) has {name}: {}, expected {expected}",
                i + 1,
                response.status,
                actual.map_or("none".to_string(), |v| format!("{v:?}"))
            )));
        }
    }
    Ok(())
}

#[then(expr = "the response header {string} is a number between {int} and {int}")]
async fn header_in_range(
    world: &mut GauntletWorld,
    name: String,
    low: i64,
    high: i64,
) -> StepResult {
    let response = world.last()?;
    let value = crate::steps::http::one_header(response, &name)?
        .ok_or_else(|| StepError::new(format!("the response has no {name} header")))?;
    let number: i64 = value
        .parse()
        .map_err(|_| StepError::new(format!("{name}: {value:?} is not a whole number")))?;
    if (low..=high).contains(&number) {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "{name} is {number}, expected between {low} and {high}"
        )))
    }
}

#[when(expr = "I send {int} concurrent {method} requests to {string}")]
async fn send_concurrently(
    world: &mut GauntletWorld,
    count: usize,
    method: MethodParam,
    path: String,
) -> StepResult {
    let request = build_request(world, method.0, &path).await?;
    let client = world.client.clone();
    let sends = (0..count).map(|_| {
        let client = client.clone();
        let request = request.clone();
        async move {
            let response = client.send(&request).await;
            (request, response)
        }
    });
    let mut failures = Vec::new();
    for (request, response) in join_all(sends).await {
        match response {
            Ok(response) => world.exchanges.push(Exchange {
                request,
                response: Some(response),
            }),
            Err(e) => failures.push(e.to_string()),
        }
    }
    match failures.first() {
        None => Ok(()),
        Some(first) => Err(StepError::new(format!(
            "{} of {count} requests got no response; first: {first}",
            failures.len()
        ))),
    }
}

/// Upper bound for "until one is refused", so a stack without a limit fails instead of looping.
const MAX_UNTIL_REFUSED: usize = 100_000;

#[when(expr = "I send {method} requests to {string} until one is refused")]
async fn send_until_refused(
    world: &mut GauntletWorld,
    method: MethodParam,
    path: String,
) -> StepResult {
    for sent in 1..=MAX_UNTIL_REFUSED {
        let request = build_request(world, method.0.clone(), &path).await?;
        let response = world.client.send(&request).await?;
        let status = response.status;
        world.exchanges.push(Exchange {
            request,
            response: Some(response),
        });
        if status == 429 {
            return Ok(());
        }
        if !(200..300).contains(&status) {
            return Err(StepError::new(format!(
                "request #{sent} got {status} before any was refused with 429"
            )));
        }
    }
    Err(StepError::new(format!(
        "{MAX_UNTIL_REFUSED} requests and none refused with 429: is rate limiting configured?"
    )))
}

#[then(expr = "exactly {int} of the last {int} responses have status {int}")]
async fn exactly_n_with_status(
    world: &mut GauntletWorld,
    expected: usize,
    n: usize,
    status: u16,
) -> StepResult {
    let statuses: Vec<u16> = world.last_responses(n)?.iter().map(|r| r.status).collect();
    let matching = statuses.iter().filter(|s| **s == status).count();
    if matching == expected {
        return Ok(());
    }
    let mut histogram = std::collections::BTreeMap::new();
    for s in &statuses {
        *histogram.entry(s).or_insert(0) += 1;
    }
    let seen: Vec<String> = histogram
        .iter()
        .map(|(status, count)| format!("{status} ×{count}"))
        .collect();
    Err(StepError::new(format!(
        "expected exactly {expected} of {n} responses with status {status}, got {matching} (statuses: {})",
        seen.join(", ")
    )))
}
