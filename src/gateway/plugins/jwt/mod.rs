//! Kong's `jwt` plugin (priority 1450, the first plugin after route match): finds the token,
//! identifies the consumer by its credential key, verifies the HMAC and registered claims, and
//! tells the upstream who the consumer is.
//!
//! ```text
//!   request ──► preflight skip? ──► [anonymous set and already authenticated? skip]
//!          ──► extract (query, cookies, headers) ──► parse (base64/JSON/alg)
//!          ──► key claim (claims, then header) ──► credential ──► alg ──► HMAC
//!          ──► claims_to_verify (no leeway) ──► maximum_expiration
//!          ──► Authenticated ──► set_consumer_headers (X-Consumer-*, X-Credential-Identifier)
//!   any failure ──► anonymous consumer if configured, else JwtError (401; rescue renders it)
//! ```
//!
//! Behaviour, messages and order follow `kong/plugins/jwt/handler.lua` and `jwt_parser.lua`
//! (see `shared/reference/kong.md` §1). Time is a parameter (`now_unix` from the stack clock).

pub mod cache;
mod error;
mod extract;
mod parse;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use serde_json::Value;
use sha2::{Sha256, Sha384, Sha512};
use uuid::Uuid;

use cache::Verified;
pub use cache::VerifiedTokens;
pub use error::{claim_name, ClaimErrors, ClaimProblem, JwtError};
pub(crate) use extract::{first_header, query_args};
pub use extract::{retrieve_tokens, Found};
pub use parse::{decode_token, kong_base64_decode, DecodedJwt};

use crate::config::gateway::{Consumer, JwtAlgorithm, JwtConfig, JwtCredential, RegisteredClaim};
use crate::gateway::context::{CredentialRef, RequestContext};

/// What the plugin decided for a request that may proceed.
#[derive(Debug, Clone, PartialEq)]
pub enum JwtOutcome {
    /// `OPTIONS` with `run_on_preflight: false`: passed without authentication or headers.
    Preflight,
    /// `anonymous` is set and an earlier auth plugin already identified a credential
    /// (Kong's logical OR): nothing to do.
    AlreadyAuthenticated,
    /// A consumer was identified (by token, or the anonymous consumer).
    Authenticated(Authenticated),
}

/// The consumer the plugin identified.
#[derive(Debug, Clone, PartialEq)]
pub struct Authenticated {
    /// Index into the `consumers` slice given to [`authenticate`].
    pub consumer: usize,
    /// The matched credential; `None` for the anonymous consumer.
    pub credential: Option<CredentialRef>,
    /// Why authentication failed when this is the anonymous consumer (for logs and metrics).
    pub anonymous_because: Option<JwtError>,
}

impl Authenticated {
    /// Whether this is the configured anonymous consumer.
    pub fn is_anonymous(&self) -> bool {
        self.credential.is_none()
    }
}

/// Where a plugin instance remembers the tokens it verified ([`cache`]).
#[derive(Debug, Clone, Copy)]
pub struct TokenCache<'a> {
    pub tokens: &'a VerifiedTokens,
    /// The plugin instance's id: what one instance verified says nothing for another.
    pub plugin: Uuid,
}

/// Runs the plugin on `ctx`: [`authenticate`], then [`set_consumer_headers`] on success.
/// Also applies Kong's logical-OR skip (`anonymous` set and `ctx.credential` already present).
///
/// # Errors
/// The [`JwtError`] to answer with (rendered by `gateway::rescue`).
pub fn apply(
    config: &JwtConfig,
    consumers: &[Consumer],
    ctx: &mut RequestContext,
    now_unix: u64,
) -> Result<JwtOutcome, JwtError> {
    apply_cached(config, consumers, ctx, now_unix, None)
}

/// [`apply`], skipping the decoding and signature check of a token `cache` saw verify.
///
/// # Errors
/// As [`apply`].
pub fn apply_cached(
    config: &JwtConfig,
    consumers: &[Consumer],
    ctx: &mut RequestContext,
    now_unix: u64,
    cache: Option<TokenCache<'_>>,
) -> Result<JwtOutcome, JwtError> {
    if is_skipped_preflight(config, &ctx.method) {
        return Ok(JwtOutcome::Preflight);
    }
    if config.anonymous.is_some() && ctx.credential.is_some() {
        return Ok(JwtOutcome::AlreadyAuthenticated);
    }
    let outcome = authenticate_cached(
        config,
        consumers,
        &ctx.method,
        &ctx.uri,
        &ctx.headers,
        now_unix,
        cache,
    )?;
    if let JwtOutcome::Authenticated(auth) = &outcome {
        if let Some(consumer) = consumers.get(auth.consumer) {
            set_consumer_headers(ctx, consumer, auth);
        }
    }
    Ok(outcome)
}

/// Kong's `access` phase without side effects: who is this request from?
///
/// # Errors
/// Every 401 of the plugin when `anonymous` is not set; with `anonymous` set only
/// [`JwtError::AnonymousNotFound`] and [`JwtError::Unexpected`] (both 500).
pub fn authenticate(
    config: &JwtConfig,
    consumers: &[Consumer],
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    now_unix: u64,
) -> Result<JwtOutcome, JwtError> {
    authenticate_cached(config, consumers, method, uri, headers, now_unix, None)
}

/// [`authenticate`] with a [`TokenCache`].
///
/// # Errors
/// As [`authenticate`].
pub fn authenticate_cached(
    config: &JwtConfig,
    consumers: &[Consumer],
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    now_unix: u64,
    cache: Option<TokenCache<'_>>,
) -> Result<JwtOutcome, JwtError> {
    if is_skipped_preflight(config, method) {
        return Ok(JwtOutcome::Preflight);
    }
    match verify_request(config, consumers, uri, headers, now_unix, cache) {
        Ok(auth) => Ok(JwtOutcome::Authenticated(auth)),
        // A Lua error is not an authentication failure: it is a 500 even with `anonymous`.
        Err(err @ JwtError::Unexpected { .. }) => Err(err),
        Err(err) => match &config.anonymous {
            None => Err(err),
            Some(anonymous) => match find_anonymous(consumers, anonymous) {
                Some(consumer) => Ok(JwtOutcome::Authenticated(Authenticated {
                    consumer,
                    credential: None,
                    anonymous_because: Some(err),
                })),
                None => Err(JwtError::AnonymousNotFound {
                    anonymous: anonymous.clone(),
                }),
            },
        },
    }
}

fn is_skipped_preflight(config: &JwtConfig, method: &Method) -> bool {
    !config.run_on_preflight && method == Method::OPTIONS
}

/// Kong's `set_consumer`: consumer headers for the upstream (client copies replaced or removed),
/// `ctx.consumer` and `ctx.credential`. The token itself is left in place.
pub fn set_consumer_headers(ctx: &mut RequestContext, consumer: &Consumer, auth: &Authenticated) {
    fn set_or_clear(ctx: &mut RequestContext, name: &'static str, value: Option<&str>) {
        let name = HeaderName::from_static(name);
        match value.and_then(|v| HeaderValue::from_str(v).ok()) {
            Some(value) => ctx.set_upstream_header(name, value),
            None => ctx.clear_upstream_header(name),
        }
    }
    let id = consumer.id.to_string();
    set_or_clear(ctx, "x-consumer-id", Some(&id));
    set_or_clear(ctx, "x-consumer-custom-id", consumer.custom_id.as_deref());
    set_or_clear(ctx, "x-consumer-username", consumer.username.as_deref());
    let key = auth.credential.as_ref().map(|c| c.key.as_str());
    set_or_clear(ctx, "x-credential-identifier", key);
    let anonymous = auth.is_anonymous().then_some("true");
    set_or_clear(ctx, "x-anonymous-consumer", anonymous);
    ctx.consumer = Some(auth.consumer);
    ctx.credential = auth.credential.clone();
}

/// `kong.client.load_consumer(anonymous, true)`: by id when it is a UUID, then by username.
pub(crate) fn find_anonymous(consumers: &[Consumer], anonymous: &str) -> Option<usize> {
    let as_uuid = (anonymous.len() == 36)
        .then(|| Uuid::try_parse(anonymous).ok())
        .flatten();
    as_uuid
        .and_then(|id| consumers.iter().position(|c| c.id == id))
        .or_else(|| {
            consumers
                .iter()
                .position(|c| c.username.as_deref() == Some(anonymous))
        })
}

/// Kong's `do_authentication`, steps 1–9 of kong.md §1.
fn verify_request(
    config: &JwtConfig,
    consumers: &[Consumer],
    uri: &Uri,
    headers: &HeaderMap,
    now_unix: u64,
    cache: Option<TokenCache<'_>>,
) -> Result<Authenticated, JwtError> {
    let token = match retrieve_tokens(config, uri, headers) {
        Found::None => return Err(JwtError::NoToken),
        Found::Multiple => return Err(JwtError::MultipleTokens),
        Found::Unrecognizable => return Err(JwtError::UnrecognizableToken),
        Found::One(token) => token,
    };
    let remembered = cache.and_then(|c| c.tokens.get(c.plugin, &token));
    let verified = match remembered {
        Some(verified) => verified,
        None => {
            let verified = Arc::new(verify_token(config, consumers, &token)?);
            if let Some(c) = cache {
                c.tokens.insert(c.plugin, &token, verified.clone());
            }
            verified
        }
    };
    verify_registered_claims(&verified.claims, &config.claims_to_verify, now_unix)?;
    if config.maximum_expiration > 0 {
        check_maximum_expiration(&verified.claims, config.maximum_expiration, now_unix)?;
    }
    Ok(Authenticated {
        consumer: verified.consumer,
        credential: Some(verified.credential.clone()),
        anonymous_because: None,
    })
}

/// Steps 3–7 of kong.md §1, which depend only on the token and the configuration: decode, key
/// claim, credential, algorithm, signature.
fn verify_token(
    config: &JwtConfig,
    consumers: &[Consumer],
    token: &[u8],
) -> Result<Verified, JwtError> {
    let jwt = decode_token(token)?;

    let key = key_claim(&jwt, &config.key_claim_name)?;
    let (consumer, credential) =
        find_credential(consumers, key).ok_or_else(|| JwtError::UnknownKey {
            claim: config.key_claim_name.clone(),
        })?;

    if jwt.alg != credential.algorithm {
        return Err(JwtError::AlgorithmMismatch);
    }
    if !signature_matches(config, credential, &jwt)? {
        return Err(JwtError::InvalidSignature);
    }
    Ok(Verified {
        consumer,
        credential: CredentialRef {
            id: credential.id,
            key: credential.key.clone(),
        },
        claims: jwt.claims,
    })
}

/// `claims[name] or header[name]`, with Lua truthiness: absent and `false` fall through.
fn key_claim<'a>(jwt: &'a DecodedJwt, name: &str) -> Result<&'a str, JwtError> {
    fn lua_index<'v>(table: &'v Value, name: &str) -> Option<&'v Value> {
        // Objects are tables; strings and arrays index to nil for a string key.
        table
            .as_object()?
            .get(name)
            .filter(|v| **v != Value::Bool(false))
    }
    if matches!(jwt.claims, Value::Number(_) | Value::Bool(_) | Value::Null) {
        return Err(JwtError::Unexpected {
            cause: "token claims are a JSON scalar",
        });
    }
    let value = lua_index(&jwt.claims, name).or_else(|| lua_index(&jwt.header, name));
    match value {
        None => Err(JwtError::MissingKeyClaim {
            claim: name.to_owned(),
        }),
        Some(Value::String(s)) if s.is_empty() => Err(JwtError::EmptyKeyClaim {
            claim: name.to_owned(),
        }),
        Some(Value::String(s)) => Ok(s),
        // A number, `true`, null, object or array reaches `select_by_key`, whose type check
        // raises: Kong answers 500.
        Some(_) => Err(JwtError::Unexpected {
            cause: "key claim is not a string",
        }),
    }
}

/// The credential whose key equals `key`, with its consumer's index.
fn find_credential<'a>(consumers: &'a [Consumer], key: &str) -> Option<(usize, &'a JwtCredential)> {
    consumers.iter().enumerate().find_map(|(i, consumer)| {
        consumer
            .jwt_secrets
            .iter()
            .find(|cred| cred.key == key)
            .map(|cred| (i, cred))
    })
}

/// Kong's key choice and `jwt:verify_signature`: the secret for HS*, else `rsa_public_key`
/// (`handler.lua`: `algorithm:sub(1, 2) == "HS" and jwt_secret.secret or
/// jwt_secret.rsa_public_key`), base64-decoded first under `secret_is_base64` (for the public key
/// too, as Kong does).
///
/// # Errors
/// `InvalidSecret` ("Invalid key/secret") when there is no key value; `Unexpected` (500) when a
/// base64-decoded public key no longer loads (Kong's `assert` in `jwt_parser` raises).
fn signature_matches(
    config: &JwtConfig,
    credential: &JwtCredential,
    jwt: &DecodedJwt,
) -> Result<bool, JwtError> {
    if credential.algorithm.is_hmac() {
        let secret = if config.secret_is_base64 {
            kong_base64_decode(credential.secret.as_bytes()).ok_or(JwtError::InvalidSecret)?
        } else {
            credential.secret.as_bytes().to_vec()
        };
        return Ok(hmac_matches(
            jwt.alg,
            &secret,
            &jwt.signing_input,
            &jwt.signature,
        ));
    }
    let (Some(pem), Some(key)) = (&credential.rsa_public_key, &credential.public_key) else {
        return Err(JwtError::InvalidSecret);
    };
    if config.secret_is_base64 {
        let decoded = kong_base64_decode(pem.as_bytes()).ok_or(JwtError::InvalidSecret)?;
        let text = String::from_utf8_lossy(&decoded);
        let key = crate::jws::parse_public_key(&text).map_err(|_| JwtError::Unexpected {
            cause: "rsa_public_key is not a key once base64-decoded",
        })?;
        return Ok(crate::jws::verify(
            jwt.alg,
            &key,
            &jwt.signing_input,
            &jwt.signature,
        ));
    }
    Ok(crate::jws::verify(
        jwt.alg,
        key,
        &jwt.signing_input,
        &jwt.signature,
    ))
}

/// Constant-time HMAC comparison over the raw `header_64.claims_64` bytes.
fn hmac_matches(alg: JwtAlgorithm, secret: &[u8], data: &[u8], signature: &[u8]) -> bool {
    fn check<M: Mac + KeyInit>(secret: &[u8], data: &[u8], signature: &[u8]) -> bool {
        match <M as KeyInit>::new_from_slice(secret) {
            Ok(mut mac) => {
                mac.update(data);
                mac.verify_slice(signature).is_ok()
            }
            Err(_) => false,
        }
    }
    match alg {
        JwtAlgorithm::HS256 => check::<Hmac<Sha256>>(secret, data, signature),
        JwtAlgorithm::HS384 => check::<Hmac<Sha384>>(secret, data, signature),
        JwtAlgorithm::HS512 => check::<Hmac<Sha512>>(secret, data, signature),
        _ => false,
    }
}

/// `jwt_parser:verify_registered_claims`: every configured claim must be a number; then
/// `exp <= now` is expired and `nbf > now` not yet valid. No leeway.
fn verify_registered_claims(
    claims: &Value,
    to_verify: &[RegisteredClaim],
    now_unix: u64,
) -> Result<(), JwtError> {
    let now = now_unix as f64;
    let mut errors = ClaimErrors::default();
    for (i, claim) in to_verify.iter().enumerate() {
        if to_verify[..i].contains(claim) {
            continue; // Kong's schema makes this a set
        }
        let value = claims.as_object().and_then(|m| m.get(claim_name(*claim)));
        let problem = match value.and_then(Value::as_f64) {
            None => Some(ClaimProblem::NotANumber),
            Some(exp) if *claim == RegisteredClaim::Exp && exp <= now => {
                Some(ClaimProblem::Expired)
            }
            Some(nbf) if *claim == RegisteredClaim::Nbf && nbf > now => {
                Some(ClaimProblem::NotYetValid)
            }
            Some(_) => None,
        };
        if let Some(problem) = problem {
            errors.0.push((*claim, problem));
        }
    }
    if errors.0.is_empty() {
        Ok(())
    } else {
        Err(JwtError::Claims(errors))
    }
}

/// `jwt_parser:check_maximum_expiration`: `exp` missing or `exp - now > max` is refused.
fn check_maximum_expiration(claims: &Value, max: u64, now_unix: u64) -> Result<(), JwtError> {
    match claims.as_object().and_then(|m| m.get("exp")) {
        None => Err(JwtError::ExceedsMaxExpiration),
        Some(exp) => match exp.as_f64() {
            Some(exp) if exp - now_unix as f64 > max as f64 => Err(JwtError::ExceedsMaxExpiration),
            Some(_) => Ok(()),
            // Arithmetic on a non-number raises in Lua. Unreachable with a valid config, which
            // requires `exp` in claims_to_verify whenever maximum_expiration is set.
            None => Err(JwtError::Unexpected {
                cause: "exp is not a number",
            }),
        },
    }
}
