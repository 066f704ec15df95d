//! Requests through the gateway and assertions on responses and on what the service received.
//!
//! What the service received is read from the mocks' echo endpoint: a request to any path ending
//! in `/_echo` is answered with the method, path, query, headers and body the service saw.

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use serde_json::Value;

use super::params::MethodParam;
use super::world::{Exchange, GauntletWorld, StepError, StepResult, TokenPlacement};
use crate::http::client::OutgoingRequest;
use crate::report::redact;

/// Builds the request for `method path` with the World's tokens and headers.
pub(crate) async fn build_request(
    world: &mut GauntletWorld,
    method: http::Method,
    path: &str,
) -> Result<OutgoingRequest, StepError> {
    let base = world.stack().await?.proxy_url();
    let mut query: Vec<String> = Vec::new();
    let mut cookies: Vec<String> = Vec::new();
    let mut headers: Vec<(String, String)> = Vec::new();
    for attached in &world.tokens {
        match &attached.placement {
            TokenPlacement::Header { name, scheme } => {
                let value = if scheme.is_empty() {
                    attached.token.clone()
                } else {
                    format!("{scheme} {}", attached.token)
                };
                headers.push((name.clone(), value));
            }
            TokenPlacement::Query(name) => query.push(format!("{name}={}", attached.token)),
            TokenPlacement::Cookie(name) => cookies.push(format!("{name}={}", attached.token)),
        }
    }
    if !cookies.is_empty() {
        headers.push(("Cookie".into(), cookies.join("; ")));
    }
    headers.extend(world.headers.iter().cloned());
    let mut url = format!("{base}{path}");
    if !query.is_empty() {
        url.push(if path.contains('?') { '&' } else { '?' });
        url.push_str(&query.join("&"));
    }
    let mut request = OutgoingRequest::new(method, url);
    for (name, value) in headers {
        request = request.header(&name, &value)?;
    }
    Ok(request)
}

async fn send(world: &mut GauntletWorld, request: OutgoingRequest) -> StepResult {
    let result = world.client.send(&request).await;
    match result {
        Ok(response) => {
            world.exchanges.push(Exchange {
                request,
                response: Some(response),
            });
            Ok(())
        }
        Err(e) => {
            world.exchanges.push(Exchange {
                request,
                response: None,
            });
            Err(e.into())
        }
    }
}

#[given(expr = "the request header {string} is {string}")]
async fn request_header(world: &mut GauntletWorld, name: String, value: String) -> StepResult {
    world.headers.push((name, value));
    Ok(())
}

#[when(expr = "I send a {method} request to {string}")]
async fn send_request(world: &mut GauntletWorld, method: MethodParam, path: String) -> StepResult {
    let request = build_request(world, method.0, &path).await?;
    send(world, request).await
}

#[when(expr = "I send a {method} request to {string} with JSON:")]
async fn send_json(
    world: &mut GauntletWorld,
    method: MethodParam,
    path: String,
    step: &Step,
) -> StepResult {
    let text = step.docstring.as_deref().ok_or_else(|| {
        StepError::new("this step needs a JSON docstring (\"\"\" … \"\"\") below it")
    })?;
    let body: Value = serde_json::from_str(text)
        .map_err(|e| StepError::new(format!("the docstring is not valid JSON: {e}")))?;
    let request = build_request(world, method.0, &path)
        .await?
        .json_body(&body);
    send(world, request).await
}

#[when(expr = "I send a {method} request to {string} with a body of {int} bytes")]
async fn send_sized(
    world: &mut GauntletWorld,
    method: MethodParam,
    path: String,
    size: usize,
) -> StepResult {
    let mut request = build_request(world, method.0, &path).await?;
    request.body = bytes::Bytes::from(vec![b'x'; size]);
    send(world, request).await
}

#[when(expr = "I send {int} {method} requests to {string}")]
async fn send_many(
    world: &mut GauntletWorld,
    count: usize,
    method: MethodParam,
    path: String,
) -> StepResult {
    for _ in 0..count {
        let request = build_request(world, method.0.clone(), &path).await?;
        send(world, request).await?;
    }
    Ok(())
}

#[then(expr = "the response status is {int}")]
async fn status_is(world: &mut GauntletWorld, expected: u16) -> StepResult {
    let response = world.last()?;
    if response.status == expected {
        return Ok(());
    }
    Err(StepError::new(format!(
        "expected status {expected}, got {} with body: {}",
        response.status,
        excerpt(&redact::redact_text(&response.text(), &world.secrets()))
    )))
}

#[then(expr = "the last {int} responses have status {int}")]
async fn last_n_status(world: &mut GauntletWorld, n: usize, expected: u16) -> StepResult {
    let wrong: Vec<String> = world
        .last_responses(n)?
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status != expected)
        .map(|(i, r)| format!("#{} was {}", i + 1, r.status))
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "expected all {n} responses to be {expected}: {}",
            wrong.join(", ")
        )))
    }
}

/// At most 400 characters of a body, for failure messages.
fn excerpt(text: &str) -> String {
    const MAX: usize = 400;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
        None => text.to_string(),
    }
}

/// Reads `path` (`message`, `error.code`, `items.0.name`) from a JSON value.
fn json_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| match v {
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => v.get(key),
    })
}

fn body_json(world: &GauntletWorld) -> Result<Value, StepError> {
    let response = world.last()?;
    response.json().ok_or_else(|| {
        StepError::new(format!(
            "the response body is not JSON: {}",
            excerpt(&redact::redact_text(&response.text(), &world.secrets()))
        ))
    })
}

#[then(expr = "the response JSON {string} is {string}")]
async fn json_field_is(world: &mut GauntletWorld, path: String, expected: String) -> StepResult {
    let body = body_json(world)?;
    let actual = json_path(&body, &path);
    let matches = match actual {
        Some(Value::String(s)) => *s == expected,
        Some(other) => *other.to_string() == *expected,
        None => false,
    };
    if matches {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "expected JSON {path:?} to be {expected:?}, got {} in body {}",
            actual.map_or("nothing".to_string(), Value::to_string),
            excerpt(&body.to_string())
        )))
    }
}

#[then("the response JSON is:")]
async fn json_is(world: &mut GauntletWorld, step: &Step) -> StepResult {
    let text = step
        .docstring
        .as_deref()
        .ok_or_else(|| StepError::new("this step needs the expected JSON as a docstring"))?;
    let expected: Value = serde_json::from_str(text)
        .map_err(|e| StepError::new(format!("the docstring is not valid JSON: {e}")))?;
    let mut actual = body_json(world)?;
    // Kong's error template carries a per-request id; compare it only when the feature names it.
    if let (Some(map), false) = (actual.as_object_mut(), expected.get("request_id").is_some()) {
        map.remove("request_id");
    }
    if actual == expected {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "expected body {expected}, got {}",
            excerpt(&actual.to_string())
        )))
    }
}

#[then(expr = "the response header {string} is {string}")]
async fn header_is(world: &mut GauntletWorld, name: String, expected: String) -> StepResult {
    match one_header(world.last()?, &name)? {
        Some(actual) if actual == expected => Ok(()),
        Some(actual) => Err(StepError::new(format!(
            "expected header {name}: {expected:?}, got {actual:?}"
        ))),
        None => Err(StepError::new(format!(
            "expected header {name}: {expected:?}, but the response has no {name} header"
        ))),
    }
}

#[then(expr = "the response header {string} matches {string}")]
async fn header_matches(world: &mut GauntletWorld, name: String, pattern: String) -> StepResult {
    let re = regex::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| StepError::new(format!("{pattern:?} is not a valid regex: {e}")))?;
    match one_header(world.last()?, &name)? {
        Some(actual) if re.is_match(actual) => Ok(()),
        Some(actual) => Err(StepError::new(format!(
            "expected header {name} to match {pattern:?}, got {actual:?}"
        ))),
        None => Err(StepError::new(format!(
            "expected header {name} matching {pattern:?}, but the response has no {name} header"
        ))),
    }
}

#[then(expr = "the response has no {string} header")]
async fn header_absent(world: &mut GauntletWorld, name: String) -> StepResult {
    match one_header(world.last()?, &name)? {
        None => Ok(()),
        Some(v) => Err(StepError::new(format!(
            "expected no {name} header, got {v:?}"
        ))),
    }
}

/// The value of a header that must appear at most once.
pub(crate) fn one_header<'a>(
    response: &'a crate::http::client::ReceivedResponse,
    name: &str,
) -> Result<Option<&'a str>, StepError> {
    response.single_header(name).map_err(StepError::new)
}

#[then(expr = "the response header {string} is {string} minus {int}")]
async fn header_is_other_minus(
    world: &mut GauntletWorld,
    name: String,
    other: String,
    minus: i64,
) -> StepResult {
    let response = world.last()?;
    let number = |header: &str| -> Result<i64, StepError> {
        let value = one_header(response, header)?
            .ok_or_else(|| StepError::new(format!("the response has no {header} header")))?;
        value
            .parse()
            .map_err(|_| StepError::new(format!("{header}: {value:?} is not a whole number")))
    };
    let (actual, base) = (number(&name)?, number(&other)?);
    if actual == base - minus {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "{name} is {actual}, expected {other} ({base}) minus {minus} = {}",
            base - minus
        )))
    }
}

/// The headers the service saw, from the echo endpoint's answer.
fn echoed_header(world: &GauntletWorld, name: &str) -> Result<Option<String>, StepError> {
    let body = body_json(world)?;
    let headers = body.get("headers").ok_or_else(|| {
        let status = world.last().map(|r| r.status).unwrap_or_default();
        StepError::new(format!(
            "the response (status {status}) is not the echo endpoint's: it came from the gateway or \
             from a path not ending in /_echo; body: {}",
            excerpt(&body.to_string())
        ))
    })?;
    Ok(match headers.get(name.to_ascii_lowercase()) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(values)) => Some(
            values
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Some(other) => Some(other.to_string()),
        None => None,
    })
}

#[then(expr = "the service received the header {string} with value {string}")]
async fn service_saw_header(
    world: &mut GauntletWorld,
    name: String,
    expected: String,
) -> StepResult {
    match echoed_header(world, &name)? {
        Some(actual) if actual == expected => Ok(()),
        Some(actual) => Err(StepError::new(format!(
            "the service received {name}: {actual:?}, expected {expected:?}"
        ))),
        None => Err(StepError::new(format!(
            "the service did not receive a {name} header (expected {expected:?})"
        ))),
    }
}

#[then(expr = "the service received the header {string} with the id of consumer {string}")]
async fn service_saw_consumer_id(
    world: &mut GauntletWorld,
    name: String,
    consumer: String,
) -> StepResult {
    let id = {
        let settings = world.settings()?;
        let (_, found) = settings
            .stack
            .gateway
            .consumer_by_name(&consumer)
            .ok_or_else(|| StepError::new(format!("no consumer {consumer:?} in the stack")))?;
        found.id.to_string()
    };
    service_saw_header(world, name, id).await
}

#[then(expr = "the service did not receive the header {string}")]
async fn service_did_not_see_header(world: &mut GauntletWorld, name: String) -> StepResult {
    match echoed_header(world, &name)? {
        None => Ok(()),
        Some(actual) => Err(StepError::new(format!(
            "the service received {name}: {actual:?}, expected no such header"
        ))),
    }
}
