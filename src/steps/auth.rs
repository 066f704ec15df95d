//! Tokens: signing them for a stack's consumers (valid, expired, tampered, malformed) and
//! choosing where a request carries them (header, query parameter, cookie).
//!
//! Token times come from the scenario's stack clock, so "a token that expires in 30 seconds"
//! followed by "31 seconds pass" is expired without waiting.

use std::time::Duration;

use cucumber::given;
use serde_json::{json, Value};

use super::params::DurationParam;
use super::world::{AttachedToken, GauntletWorld, StepError, StepResult, TokenPlacement};
use crate::config::gateway::{JwtAlgorithm, JwtCredential, PluginConfig};
use crate::token;

/// Default lifetime of a "valid" token: one hour, or less if the stack's jwt plugin caps it.
fn default_lifetime(world: &GauntletWorld) -> Duration {
    let cap = world.settings.as_ref().and_then(|s| {
        s.stack
            .gateway
            .plugins
            .iter()
            .filter_map(|p| match &p.config {
                PluginConfig::Jwt(c) if c.maximum_expiration > 0 => Some(c.maximum_expiration),
                _ => None,
            })
            .min()
    });
    let hour = 3600;
    Duration::from_secs(cap.map_or(hour, |cap| cap.min(hour)))
}

fn credential(world: &GauntletWorld, consumer: &str) -> Result<JwtCredential, StepError> {
    let settings = world.settings()?;
    let gateway = &settings.stack.gateway;
    let (_, found) = gateway.consumer_by_name(consumer).ok_or_else(|| {
        let known: Vec<String> = gateway.consumers.iter().map(|c| c.display_name()).collect();
        StepError::new(format!(
            "no consumer {consumer:?} in {}; known consumers: {}",
            settings.stack.dir.display(),
            known.join(", ")
        ))
    })?;
    found.jwt_secrets.first().cloned().ok_or_else(|| {
        StepError::new(format!(
            "consumer {consumer:?} has no jwt_secrets credential"
        ))
    })
}

/// Claims for `credential` valid from `now` for `lifetime`.
fn claims(credential: &JwtCredential, now: u64, lifetime: Duration) -> Value {
    json!({
        "iss": credential.key,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime.as_secs(),
    })
}

fn header(alg: &str) -> Value {
    json!({"alg": alg, "typ": "JWT"})
}

async fn now(world: &mut GauntletWorld) -> Result<u64, StepError> {
    Ok(world.stack().await?.clock.unix_seconds())
}

fn sign(credential: &JwtCredential, header: &Value, claims: &Value) -> Result<String, StepError> {
    let alg = if credential.algorithm.is_hmac() {
        credential.algorithm
    } else {
        JwtAlgorithm::HS256
    };
    Ok(token::sign(
        header,
        claims,
        credential.secret.as_bytes(),
        alg,
    )?)
}

/// Replaces the tokens of the request with `token`, sent the default way.
fn set_token(world: &mut GauntletWorld, token: String) {
    world.tokens = vec![AttachedToken {
        token,
        placement: TokenPlacement::default(),
    }];
}

fn current_token(world: &GauntletWorld) -> Result<String, StepError> {
    world
        .tokens
        .first()
        .map(|t| t.token.clone())
        .ok_or_else(|| {
            StepError::new(
                "no token yet: add a step like 'Given I have a valid token for \"admin-user\"'",
            )
        })
}

#[given(expr = "I have a valid token for {string}")]
async fn valid_token(world: &mut GauntletWorld, consumer: String) -> StepResult {
    let credential = credential(world, &consumer)?;
    let now = now(world).await?;
    let lifetime = default_lifetime(world);
    let token = sign(
        &credential,
        &header(credential.algorithm.as_str()),
        &claims(&credential, now, lifetime),
    )?;
    set_token(world, token);
    Ok(())
}

#[given(expr = "I have a token for {string} that expires in {duration}")]
async fn token_expiring_in(
    world: &mut GauntletWorld,
    consumer: String,
    d: DurationParam,
) -> StepResult {
    let credential = credential(world, &consumer)?;
    let now = now(world).await?;
    let token = sign(
        &credential,
        &header(credential.algorithm.as_str()),
        &claims(&credential, now, d.0),
    )?;
    set_token(world, token);
    Ok(())
}

#[given(expr = "I have a token for {string} that expired {duration} ago")]
async fn token_expired_ago(
    world: &mut GauntletWorld,
    consumer: String,
    d: DurationParam,
) -> StepResult {
    let credential = credential(world, &consumer)?;
    let now = now(world).await?;
    let exp = now.saturating_sub(d.0.as_secs());
    let claims = json!({"iss": credential.key, "iat": exp.saturating_sub(3600), "nbf": exp.saturating_sub(3600), "exp": exp});
    let token = sign(&credential, &header(credential.algorithm.as_str()), &claims)?;
    set_token(world, token);
    Ok(())
}

#[given(expr = "I have a token for {string} that becomes valid in {duration}")]
async fn token_not_yet_valid(
    world: &mut GauntletWorld,
    consumer: String,
    d: DurationParam,
) -> StepResult {
    let credential = credential(world, &consumer)?;
    let now = now(world).await?;
    let nbf = now + d.0.as_secs();
    let claims = json!({"iss": credential.key, "iat": now, "nbf": nbf, "exp": nbf + 600});
    let token = sign(&credential, &header(credential.algorithm.as_str()), &claims)?;
    set_token(world, token);
    Ok(())
}

#[given(expr = "I have a token for {string} signed with the wrong secret")]
async fn token_wrong_secret(world: &mut GauntletWorld, consumer: String) -> StepResult {
    let mut credential = credential(world, &consumer)?;
    let now = now(world).await?;
    let lifetime = default_lifetime(world);
    credential.secret = format!("not-{}", credential.key);
    let token = sign(
        &credential,
        &header(credential.algorithm.as_str()),
        &claims(&credential, now, lifetime),
    )?;
    set_token(world, token);
    Ok(())
}

#[given(expr = "I have a token for {string} signed with algorithm {string}")]
async fn token_other_alg(world: &mut GauntletWorld, consumer: String, alg: String) -> StepResult {
    let credential = credential(world, &consumer)?;
    let algorithm = JwtAlgorithm::parse(&alg)
        .filter(|a| a.is_hmac())
        .ok_or_else(|| StepError::new(format!("{alg} is not HS256, HS384 or HS512")))?;
    let now = now(world).await?;
    let lifetime = default_lifetime(world);
    let token = token::sign(
        &header(&alg),
        &claims(&credential, now, lifetime),
        credential.secret.as_bytes(),
        algorithm,
    )?;
    set_token(world, token);
    Ok(())
}

#[given(expr = "I have a token for {string} whose header says alg {string}")]
async fn token_header_alg(world: &mut GauntletWorld, consumer: String, alg: String) -> StepResult {
    let credential = credential(world, &consumer)?;
    let now = now(world).await?;
    let lifetime = default_lifetime(world);
    let signed = sign(
        &credential,
        &header(&alg),
        &claims(&credential, now, lifetime),
    )?;
    // `alg: none` tokens carry no signature.
    let token = if alg.eq_ignore_ascii_case("none") {
        let mut parts: Vec<&str> = signed.split('.').collect();
        parts.truncate(2);
        format!("{}.", parts.join("."))
    } else {
        signed
    };
    set_token(world, token);
    Ok(())
}

#[given(expr = "I have a token for {string} without the {string} claim")]
async fn token_without_claim(
    world: &mut GauntletWorld,
    consumer: String,
    claim: String,
) -> StepResult {
    let credential = credential(world, &consumer)?;
    let now = now(world).await?;
    let lifetime = default_lifetime(world);
    let mut claims = claims(&credential, now, lifetime);
    if let Some(map) = claims.as_object_mut() {
        map.remove(&claim);
    }
    let token = sign(&credential, &header(credential.algorithm.as_str()), &claims)?;
    set_token(world, token);
    Ok(())
}

#[given(expr = "I have a token for {string} that lives for {duration}")]
async fn token_lifetime(
    world: &mut GauntletWorld,
    consumer: String,
    d: DurationParam,
) -> StepResult {
    token_expiring_in(world, consumer, d).await
}

#[given(expr = "I have a token issued for the unknown key {string}")]
async fn token_unknown_key(world: &mut GauntletWorld, key: String) -> StepResult {
    let now = now(world).await?;
    let claims = json!({"iss": key, "iat": now, "nbf": now, "exp": now + 600});
    let token = token::sign(
        &header("HS256"),
        &claims,
        b"some-other-secret",
        JwtAlgorithm::HS256,
    )?;
    set_token(world, token);
    Ok(())
}

#[given(expr = "I have the malformed token {string}")]
async fn malformed_token(world: &mut GauntletWorld, raw: String) -> StepResult {
    set_token(world, raw);
    Ok(())
}

#[given("I have no token")]
async fn no_token(world: &mut GauntletWorld) -> StepResult {
    world.tokens.clear();
    Ok(())
}

#[given(expr = "the token is sent in the query parameter {string}")]
async fn token_in_query(world: &mut GauntletWorld, name: String) -> StepResult {
    place_first(world, TokenPlacement::Query(name))
}

#[given(expr = "the token is sent in the cookie {string}")]
async fn token_in_cookie(world: &mut GauntletWorld, name: String) -> StepResult {
    place_first(world, TokenPlacement::Cookie(name))
}

#[given(expr = "the token is sent in the {string} header with scheme {string}")]
async fn token_in_header(world: &mut GauntletWorld, name: String, scheme: String) -> StepResult {
    place_first(world, TokenPlacement::Header { name, scheme })
}

fn place_first(world: &mut GauntletWorld, placement: TokenPlacement) -> StepResult {
    let first = world
        .tokens
        .first_mut()
        .ok_or_else(|| StepError::new("no token yet: add a 'Given I have … token' step first"))?;
    first.placement = placement;
    Ok(())
}

#[given(expr = "the same token is also sent in the query parameter {string}")]
async fn same_token_in_query(world: &mut GauntletWorld, name: String) -> StepResult {
    let token = current_token(world)?;
    world.tokens.push(AttachedToken {
        token,
        placement: TokenPlacement::Query(name),
    });
    Ok(())
}

#[given(expr = "a valid token for {string} is also sent in the query parameter {string}")]
async fn second_token_in_query(
    world: &mut GauntletWorld,
    consumer: String,
    name: String,
) -> StepResult {
    let credential = credential(world, &consumer)?;
    let now = now(world).await?;
    let lifetime = default_lifetime(world);
    // One second shorter, so it differs from a token for the same consumer issued this second.
    let lifetime = lifetime.saturating_sub(Duration::from_secs(1));
    let token = sign(
        &credential,
        &header(credential.algorithm.as_str()),
        &claims(&credential, now, lifetime),
    )?;
    world.tokens.push(AttachedToken {
        token,
        placement: TokenPlacement::Query(name),
    });
    Ok(())
}
