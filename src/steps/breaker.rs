//! The circuit breaker as the admin API shows it (SPEC §4, §5): its state, its failure count,
//! the path of its transitions, and whether a response's `X-Circuit-Breaker-State` agrees.

use cucumber::{then, when};
use serde_json::Value;

use super::http::build_request;
use super::params::MethodParam;
use super::world::{Exchange, GauntletWorld, StepError, StepResult};
use crate::gateway::breaker::BreakerState;
use crate::http::client::OutgoingRequest;

/// `GET /breakers/{service}` of the scenario's gateway admin API.
async fn breaker(world: &mut GauntletWorld, service: &str) -> Result<Value, StepError> {
    let admin = world.stack().await?.admin_url();
    let response = world
        .client
        .send(&OutgoingRequest::new(
            http::Method::GET,
            format!("{admin}/breakers/{service}"),
        ))
        .await?;
    if response.status == 404 {
        return Err(StepError::new(format!(
            "{service} has no circuit breaker (no circuit-breaker plugin covers it in kong.yml)"
        )));
    }
    response
        .json()
        .ok_or_else(|| StepError::new(format!("the admin API's /breakers/{service} is not JSON")))
}

fn parse_state(text: &str) -> Result<BreakerState, StepError> {
    BreakerState::parse(text).ok_or_else(|| {
        StepError::new(format!(
            "{text:?} is not a breaker state: use CLOSED, OPEN or HALF-OPEN"
        ))
    })
}

/// `CLOSED → OPEN (5 consecutive failures …) → …` for failure messages.
fn describe_path(b: &Value) -> String {
    let transitions = b["transitions"].as_array().cloned().unwrap_or_default();
    if transitions.is_empty() {
        return format!("no transition yet ({})", b["state"].as_str().unwrap_or("?"));
    }
    let mut text = transitions[0]["from"].as_str().unwrap_or("?").to_string();
    for t in &transitions {
        text.push_str(&format!(
            " → {} at +{:.1} s ({})",
            t["to"].as_str().unwrap_or("?"),
            t["stack_time"].as_f64().unwrap_or(0.0),
            t["reason"].as_str().unwrap_or("")
        ));
    }
    text
}

#[then(expr = "the circuit breaker of {string} is {word}")]
async fn state_is(world: &mut GauntletWorld, service: String, expected: String) -> StepResult {
    let expected = parse_state(&expected)?;
    let b = breaker(world, &service).await?;
    let actual = b["state"].as_str().unwrap_or("?");
    if actual == expected.as_str() {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "the circuit breaker of {service} is {actual}, expected {expected}; history: {}",
            describe_path(&b)
        )))
    }
}

#[then(expr = "the circuit breaker of {string} counts {int} consecutive failure(s)")]
async fn failures_are(world: &mut GauntletWorld, service: String, expected: u64) -> StepResult {
    let b = breaker(world, &service).await?;
    let actual = b["consecutive_failures"].as_u64().unwrap_or(u64::MAX);
    if actual == expected {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "the circuit breaker of {service} counts {actual} consecutive failures, expected {expected} (state {})",
            b["state"].as_str().unwrap_or("?")
        )))
    }
}

#[then(expr = "the circuit breaker of {string} went {string}")]
async fn went(world: &mut GauntletWorld, service: String, path: String) -> StepResult {
    // States separated by `→`, `->` or commas.
    let expected: Vec<BreakerState> = path
        .replace("->", "→")
        .split(['→', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_state)
        .collect::<Result<_, _>>()?;
    let b = breaker(world, &service).await?;
    let transitions = b["transitions"].as_array().cloned().unwrap_or_default();
    let mut actual: Vec<String> = transitions
        .first()
        .map(|t| vec![t["from"].as_str().unwrap_or("?").to_string()])
        .unwrap_or_else(|| vec![b["state"].as_str().unwrap_or("?").to_string()]);
    actual.extend(
        transitions
            .iter()
            .map(|t| t["to"].as_str().unwrap_or("?").to_string()),
    );
    let expected: Vec<String> = expected.iter().map(|s| s.as_str().to_string()).collect();
    if actual == expected {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "the circuit breaker of {service} went {}, expected {}; history: {}",
            actual.join(" → "),
            expected.join(" → "),
            describe_path(&b)
        )))
    }
}

#[then(expr = "the response's breaker state matches the admin API for {string}")]
async fn header_matches_admin(world: &mut GauntletWorld, service: String) -> StepResult {
    let header = world
        .last()?
        .single_header(crate::gateway::stage::BREAKER_STATE)
        .map_err(StepError::new)?
        .map(str::to_string)
        .ok_or_else(|| StepError::new("the response has no X-Circuit-Breaker-State header"))?;
    let b = breaker(world, &service).await?;
    let admin = b["state"].as_str().unwrap_or("?");
    if header == admin {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "X-Circuit-Breaker-State says {header} but the admin API says {admin}"
        )))
    }
}

/// Upper bound for "until the circuit breaker … is OPEN", so a breaker that never opens fails.
const MAX_UNTIL_OPEN: usize = 1000;

#[when(expr = "I send {method} requests to {string} until the circuit breaker of {string} is OPEN")]
async fn send_until_open(
    world: &mut GauntletWorld,
    method: MethodParam,
    path: String,
    service: String,
) -> StepResult {
    for sent in 1..=MAX_UNTIL_OPEN {
        let request = build_request(world, method.0.clone(), &path).await?;
        let response = world.client.send(&request).await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                world.exchanges.push(Exchange {
                    request,
                    response: None,
                });
                return Err(e.into());
            }
        };
        let state = response
            .header(crate::gateway::stage::BREAKER_STATE)
            .map(str::to_string);
        world.exchanges.push(Exchange {
            request,
            response: Some(response),
        });
        match state.as_deref() {
            Some("OPEN") => return Ok(()),
            Some(_) => {}
            None => {
                return Err(StepError::new(format!(
                    "response {sent} has no X-Circuit-Breaker-State header: the request did not reach {service}'s breaker"
                )))
            }
        }
    }
    Err(StepError::new(format!(
        "the circuit breaker of {service} was still not OPEN after {MAX_UNTIL_OPEN} requests"
    )))
}
