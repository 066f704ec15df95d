//! The verified-token cache changes no decision: a remembered token still expires, a token
//! that failed is not remembered, another plugin instance verifies afresh.

use super::*;

fn run_cached(
    config: &JwtConfig,
    req: &Req,
    now: u64,
    cache: TokenCache<'_>,
) -> Result<JwtOutcome, JwtError> {
    let uri = req.uri.parse().expect("uri");
    authenticate_cached(
        config,
        &consumers(),
        &req.method,
        &uri,
        &req.headers,
        now,
        Some(cache),
    )
}

#[test]
fn a_remembered_token_is_still_refused_once_it_expires() {
    let tokens = VerifiedTokens::default();
    let cache = TokenCache {
        tokens: &tokens,
        plugin: Uuid::from_u128(1),
    };
    let config = claims_config();
    let req = get("/").bearer(&alice_token());
    let first = run_cached(&config, &req, NOW, cache).expect("valid");
    assert_eq!(tokens.len(), 1, "remembered");
    let again = run_cached(&config, &req, NOW, cache).expect("still valid");
    assert_eq!(first, again, "the same consumer and credential");
    let later = run_cached(&config, &req, NOW + 3600, cache).expect_err("expired");
    assert_eq!(
        later,
        req.error_at(&config, NOW + 3600),
        "as without a cache"
    );
}

#[test]
fn a_token_that_failed_is_not_remembered() {
    let tokens = VerifiedTokens::default();
    let cache = TokenCache {
        tokens: &tokens,
        plugin: Uuid::from_u128(1),
    };
    let forged = issue("alice-iss", "not-S", NOW, Duration::from_secs(3600));
    let req = get("/").bearer(&forged);
    let err = run_cached(&claims_config(), &req, NOW, cache).expect_err("bad signature");
    assert_eq!(err, JwtError::InvalidSignature);
    assert!(tokens.is_empty());
}

#[test]
fn another_plugin_instance_decides_with_its_own_configuration() {
    let tokens = VerifiedTokens::default();
    let req = get("/").bearer(&alice_token());
    let first = TokenCache {
        tokens: &tokens,
        plugin: Uuid::from_u128(1),
    };
    run_cached(&claims_config(), &req, NOW, first).expect("valid");
    // A second instance keys on another claim: the token has no `sub`, so it is refused there.
    let other = JwtConfig {
        key_claim_name: "sub".into(),
        ..claims_config()
    };
    let second = TokenCache {
        tokens: &tokens,
        plugin: Uuid::from_u128(2),
    };
    let err = run_cached(&other, &req, NOW, second).expect_err("no sub claim");
    assert_eq!(err, req.error(&other));
}
