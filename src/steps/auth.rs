//! Tokens: signing them for a stack's consumers (valid, expired, tampered, malformed) and
//! choosing where a request carries them (header, query parameter, cookie).
//!
//! Token times come from the scenario's stack clock, so "a token that expires in 30 seconds"
//! followed by "30 seconds pass" is expired without waiting.

use std::time::Duration;

use cucumber::given;
use serde_json::{json, Value};

use super::params::DurationParam;
use super::world::{AttachedToken, GauntletWorld, StepError, StepResult, TokenPlacement};
use crate::config::gateway::{JwtAlgorithm, JwtCredential};
use crate::token;

/// Whole seconds of a token duration: JWT times are whole seconds, so "1500 ms" would silently
/// become 1 s.
fn whole_seconds(d: DurationParam) -> Result<u64, StepError> {
    if d.0.subsec_nanos() == 0 {
        Ok(d.0.as_secs())
    } else {
        Err(StepError::new(format!(
            "JWT times are whole seconds; {} ms cannot be a token time",
            d.0.as_millis()
        )))
    }
}

/// Lifetime of a "valid" token: one hour, or less if the stack's jwt plugin caps it.
fn default_lifetime(world: &GauntletWorld) -> Duration {
    let hour = Duration::from_secs(3600);
    world
        .settings
        .as_ref()
        .map_or(hour, |s| s.stack.gateway.usable_token_lifetime(hour))
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

/// Claims valid from `from` until `until` (unix seconds) for `credential`.
fn claims(credential: &JwtCredential, iat: u64, nbf: u64, exp: u64) -> Value {
    json!({"iss": credential.key, "iat": iat, "nbf": nbf, "exp": exp})
}

/// Signs `claims` for `consumer`'s credential (with `alg` in the header, the credential's by
/// default) and makes it the request's only token. `shape` receives the credential and the
/// stack's current unix time.
async fn give_token(
    world: &mut GauntletWorld,
    consumer: &str,
    header_alg: Option<&str>,
    shape: impl FnOnce(&JwtCredential, u64) -> Value,
) -> StepResult {
    let credential = credential(world, consumer)?;
    let now = world.stack().await?.clock().unix_seconds();
    let alg = if credential.algorithm.is_hmac() {
        credential.algorithm
    } else {
        JwtAlgorithm::HS256
    };
    let header = json!({"alg": header_alg.unwrap_or(alg.as_str()), "typ": "JWT"});
    let claims = shape(&credential, now);
    let signed = token::sign(&header, &claims, credential.secret.as_bytes(), alg)?;
    set_token(world, signed);
    Ok(())
}

/// Replaces the tokens of the request with `token`, sent the default way.
fn set_token(world: &mut GauntletWorld, token: String) {
    world.tokens = vec![AttachedToken {
        token,
        placement: TokenPlacement::default(),
    }];
}

#[given(expr = "I have a valid token for {string}")]
async fn valid_token(world: &mut GauntletWorld, consumer: String) -> StepResult {
    let lifetime = default_lifetime(world).as_secs();
    give_token(world, &consumer, None, |c, now| {
        claims(c, now, now, now + lifetime)
    })
    .await
}

#[given(expr = "I have a token for {string} that expires in {duration}")]
async fn token_expiring_in(
    world: &mut GauntletWorld,
    consumer: String,
    d: DurationParam,
) -> StepResult {
    let lifetime = whole_seconds(d)?;
    give_token(world, &consumer, None, |c, now| {
        claims(c, now, now, now + lifetime)
    })
    .await
}

#[given(expr = "I have a token for {string} that lives for {duration}")]
async fn token_lifetime(
    world: &mut GauntletWorld,
    consumer: String,
    d: DurationParam,
) -> StepResult {
    token_expiring_in(world, consumer, d).await
}

#[given(expr = "I have a token for {string} that expired {duration} ago")]
async fn token_expired_ago(
    world: &mut GauntletWorld,
    consumer: String,
    d: DurationParam,
) -> StepResult {
    let ago = whole_seconds(d)?;
    give_token(world, &consumer, None, |c, now| {
        let exp = now.saturating_sub(ago);
        let issued = exp.saturating_sub(3600);
        claims(c, issued, issued, exp)
    })
    .await
}

#[given(expr = "I have a token for {string} that becomes valid in {duration}")]
async fn token_not_yet_valid(
    world: &mut GauntletWorld,
    consumer: String,
    d: DurationParam,
) -> StepResult {
    let wait = whole_seconds(d)?;
    give_token(world, &consumer, None, |c, now| {
        claims(c, now, now + wait, now + wait + 600)
    })
    .await
}

#[given(expr = "I have a token for {string} signed with the wrong secret")]
async fn token_wrong_secret(world: &mut GauntletWorld, consumer: String) -> StepResult {
    valid_token(world, consumer).await?;
    let signed = world
        .tokens
        .first()
        .map(|t| token::tamper_signature(&t.token));
    set_token(world, signed.unwrap_or_default());
    Ok(())
}

#[given(expr = "I have a token for {string} signed with algorithm {string}")]
async fn token_other_alg(world: &mut GauntletWorld, consumer: String, alg: String) -> StepResult {
    let credential = credential(world, &consumer)?;
    let algorithm = JwtAlgorithm::parse(&alg)
        .filter(|a| a.is_hmac())
        .ok_or_else(|| StepError::new(format!("{alg} is not HS256, HS384 or HS512")))?;
    let now = world.stack().await?.clock().unix_seconds();
    let lifetime = default_lifetime(world).as_secs();
    let header = json!({"alg": alg, "typ": "JWT"});
    let signed = token::sign(
        &header,
        &claims(&credential, now, now, now + lifetime),
        credential.secret.as_bytes(),
        algorithm,
    )?;
    set_token(world, signed);
    Ok(())
}

#[given(expr = "I have a valid token for {string} signed with the private key {string}")]
async fn token_private_key(
    world: &mut GauntletWorld,
    consumer: String,
    path: String,
) -> StepResult {
    let credential = credential(world, &consumer)?;
    let pem = std::fs::read(&path).map_err(|e| {
        StepError::new(format!(
            "cannot read the private key {path:?} (a path from the directory gauntlet runs in): {e}"
        ))
    })?;
    let now = world.stack().await?.clock().unix_seconds();
    let lifetime = default_lifetime(world).as_secs();
    let alg = credential.algorithm;
    let header = json!({"alg": alg.as_str(), "typ": "JWT"});
    let signed = token::sign(
        &header,
        &claims(&credential, now, now, now + lifetime),
        &pem,
        alg,
    )?;
    set_token(world, signed);
    Ok(())
}

#[given(expr = "I have an HS256 token for {string} signed with its public key as the secret")]
async fn token_alg_confusion(world: &mut GauntletWorld, consumer: String) -> StepResult {
    let credential = credential(world, &consumer)?;
    let public = credential.rsa_public_key.clone().ok_or_else(|| {
        StepError::new(format!(
            "consumer {consumer:?}'s jwt credential has no rsa_public_key ({})",
            credential.algorithm.as_str()
        ))
    })?;
    let now = world.stack().await?.clock().unix_seconds();
    let lifetime = default_lifetime(world).as_secs();
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let signed = token::sign(
        &header,
        &claims(&credential, now, now, now + lifetime),
        public.as_bytes(),
        JwtAlgorithm::HS256,
    )?;
    set_token(world, signed);
    Ok(())
}

#[given(expr = "I have a token for {string} whose header says alg {string}")]
async fn token_header_alg(world: &mut GauntletWorld, consumer: String, alg: String) -> StepResult {
    let lifetime = default_lifetime(world).as_secs();
    give_token(world, &consumer, Some(&alg), |c, now| {
        claims(c, now, now, now + lifetime)
    })
    .await?;
    // `alg: none` tokens carry no signature.
    if alg.eq_ignore_ascii_case("none") {
        if let Some(first) = world.tokens.first_mut() {
            let unsigned: Vec<&str> = first.token.split('.').take(2).collect();
            first.token = format!("{}.", unsigned.join("."));
        }
    }
    Ok(())
}

#[given(expr = "I have a token for {string} without the {string} claim")]
async fn token_without_claim(
    world: &mut GauntletWorld,
    consumer: String,
    claim: String,
) -> StepResult {
    let lifetime = default_lifetime(world).as_secs();
    give_token(world, &consumer, None, |c, now| {
        let mut claims = claims(c, now, now, now + lifetime);
        if let Some(map) = claims.as_object_mut() {
            map.remove(&claim);
        }
        claims
    })
    .await
}

#[given(expr = "I have a token issued for the unknown key {string}")]
async fn token_unknown_key(world: &mut GauntletWorld, key: String) -> StepResult {
    let now = world.stack().await?.clock().unix_seconds();
    let claims = json!({"iss": key, "iat": now, "nbf": now, "exp": now + 600});
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let signed = token::sign(&header, &claims, b"some-other-secret", JwtAlgorithm::HS256)?;
    set_token(world, signed);
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
    let first = world.tokens.first_mut().ok_or_else(no_token_yet)?;
    first.placement = placement;
    Ok(())
}

fn no_token_yet() -> StepError {
    StepError::new("no token yet: add a step like 'Given I have a valid token for \"admin-user\"'")
}

#[given(expr = "the same token is also sent in the query parameter {string}")]
async fn same_token_in_query(world: &mut GauntletWorld, name: String) -> StepResult {
    let token = world.tokens.first().ok_or_else(no_token_yet)?.token.clone();
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
    let mut first = std::mem::take(&mut world.tokens);
    // One second shorter, so it differs from a token for the same consumer issued this second.
    let lifetime = default_lifetime(world).as_secs().saturating_sub(1);
    give_token(world, &consumer, None, |c, now| {
        claims(c, now, now, now + lifetime)
    })
    .await?;
    let second = std::mem::take(&mut world.tokens);
    first.extend(second.into_iter().map(|t| AttachedToken {
        token: t.token,
        placement: TokenPlacement::Query(name.clone()),
    }));
    world.tokens = first;
    Ok(())
}
