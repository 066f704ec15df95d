//! Boundaries, other algorithms, Lua-error paths and the secrecy of errors.

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::token::{tamper_signature, Malformed, TokenSpec};

#[test]
fn percent_encoded_query_tokens_are_decoded() {
    let encoded = alice_token().replace('.', "%2E");
    assert_eq!(
        username(&get(&format!("/?jwt={encoded}")).consumer(&JwtConfig::default())),
        "alice"
    );
}

#[test]
fn claims_win_over_the_header_for_the_key() {
    let kid = JwtConfig {
        key_claim_name: "kid".into(),
        ..JwtConfig::default()
    };
    let token = TokenSpec::new("alice-iss", "S")
        .key_in_header("kid")
        .claim("kid", json!("bob-iss"))
        .sign()
        .expect("sign");
    assert_eq!(
        get("/").bearer(&token).error(&kid),
        JwtError::InvalidSignature
    );
}

#[test]
fn a_token_expiring_exactly_now_is_expired() {
    let token = TokenSpec::new("alice-iss", "S")
        .not_before(NOW)
        .expires_at(NOW)
        .sign()
        .expect("sign");
    let err = get("/").bearer(&token).error(&claims_config());
    assert_eq!(err.body(), json!({"exp": "token expired"}));
    let token = TokenSpec::new("alice-iss", "S")
        .not_before(NOW)
        .expires_at(NOW + 1)
        .sign()
        .expect("sign");
    assert_eq!(
        username(&get("/").bearer(&token).consumer(&claims_config())),
        "alice"
    );
}

#[test]
fn hs384_and_hs512_credentials_verify_their_own_algorithm() {
    for (key, secret, alg, name) in [
        ("h384-iss", "S384", JwtAlgorithm::HS384, "h384"),
        ("h512-iss", "S512", JwtAlgorithm::HS512, "h512"),
    ] {
        let token = TokenSpec::new(key, secret)
            .algorithm(alg)
            .sign()
            .expect("sign");
        assert_eq!(
            username(&get("/").bearer(&token).consumer(&JwtConfig::default())),
            name
        );
        let wrong = TokenSpec::new(key, "nope")
            .algorithm(alg)
            .sign()
            .expect("sign");
        assert_eq!(
            get("/").bearer(&wrong).error(&JwtConfig::default()),
            JwtError::InvalidSignature
        );
    }
}

#[test]
fn an_rs256_credential_verifies_with_its_public_key() {
    let token = TokenSpec::new("rsa-iss", &test_key("rsa-private"))
        .algorithm(JwtAlgorithm::RS256)
        .sign()
        .expect("sign");
    assert_eq!(
        username(&get("/").bearer(&token).consumer(&JwtConfig::default())),
        "rsa"
    );
    let other = TokenSpec::new("rsa-iss", &test_key("rsa-other-private"))
        .algorithm(JwtAlgorithm::RS256)
        .sign()
        .expect("sign");
    let err = get("/").bearer(&other).error(&JwtConfig::default());
    assert_401(&err, json!({"message": "Invalid signature"}));
}

/// The algorithm-confusion attack: an HS256 token whose HMAC key is the credential's public key
/// PEM. Kong compares the header's `alg` with the credential's first: "Invalid algorithm".
#[test]
fn an_hs256_token_signed_with_the_public_key_is_refused() {
    let token = TokenSpec::new("rsa-iss", &test_key("rsa-public"))
        .sign()
        .expect("sign");
    let err = get("/").bearer(&token).error(&JwtConfig::default());
    assert_401(&err, json!({"message": "Invalid algorithm"}));
}

#[test]
fn under_secret_is_base64_the_public_key_is_decoded_too_as_kong_does() {
    let token = TokenSpec::new("rsa-iss", &test_key("rsa-private"))
        .algorithm(JwtAlgorithm::RS256)
        .sign()
        .expect("sign");
    let config = JwtConfig {
        secret_is_base64: true,
        ..JwtConfig::default()
    };
    // A PEM is not base64 (its dashes and newlines): no key value, "Invalid key/secret".
    let err = get("/").bearer(&token).error(&config);
    assert_401(&err, json!({"message": "Invalid key/secret"}));
}

#[test]
fn secret_is_base64_verifies_with_the_decoded_secret() {
    let mut list = consumers();
    list[0].jwt_secrets[0].secret = "c2VjcmV0LWJ5dGVz".into(); // "secret-bytes"
    let config = JwtConfig {
        secret_is_base64: true,
        ..JwtConfig::default()
    };
    let token = TokenSpec::new("alice-iss", "")
        .secret_bytes(b"secret-bytes")
        .sign()
        .expect("sign");
    let uri = "/".parse().expect("uri");
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).expect("v"),
    );
    let ok = authenticate(&config, &list, &Method::GET, &uri, &headers, NOW);
    assert!(matches!(ok, Ok(JwtOutcome::Authenticated(_))));
    list[0].jwt_secrets[0].secret = "not base64!".into();
    let err =
        authenticate(&config, &list, &Method::GET, &uri, &headers, NOW).expect_err("bad secret");
    assert_401(&err, json!({"message": "Invalid key/secret"}));
}

#[test]
fn malformed_conformance_tokens_get_kongs_messages() {
    for kind in [
        Malformed::Garbage,
        Malformed::TwoSegments,
        Malformed::HeaderNotJson,
        Malformed::ClaimsNotJson,
        Malformed::MissingAlg,
    ] {
        let err = get("/").bearer(&kind.token()).error(&JwtConfig::default());
        assert_eq!(
            err.message().as_deref(),
            Some(kind.kong_message()),
            "{kind:?}"
        );
    }
    let four = format!("{}.more", alice_token());
    let err = get("/").bearer(&four).error(&JwtConfig::default());
    assert_401(&err, json!({"message": "Bad token; invalid signature"}));
}

#[test]
fn a_bare_query_flag_is_an_unrecognizable_token() {
    let err = get("/?jwt").error(&JwtConfig::default());
    assert_401(&err, json!({"message": "Unrecognizable token"}));
}

#[test]
fn a_non_string_key_claim_is_a_500_even_with_anonymous() {
    let config = JwtConfig {
        anonymous: Some("no-body".into()),
        ..JwtConfig::default()
    };
    let token = TokenSpec::new("x", "S")
        .claim("iss", json!(42))
        .sign()
        .expect("sign");
    let err = get("/").bearer(&token).error(&config);
    assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        err.body(),
        json!({"message": "An unexpected error occurred"})
    );
    let token = TokenSpec::new("x", "S")
        .claim("iss", json!(false))
        .sign()
        .expect("sign");
    let err = get("/").bearer(&token).error(&JwtConfig::default());
    assert_eq!(
        err.message().as_deref(),
        Some("No mandatory 'iss' in claims")
    );
}

#[test]
fn anonymous_does_not_override_an_earlier_credential() {
    let config = JwtConfig {
        anonymous: Some("no-body".into()),
        ..JwtConfig::default()
    };
    let mut ctx = RequestContext::new(
        Method::GET,
        "/".parse().expect("uri"),
        HeaderMap::new(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        "r".into(),
        crate::gateway::router::RouteMatch::new(0, 0, "/"),
    );
    ctx.credential = Some(CredentialRef {
        id: Uuid::nil(),
        key: "key-auth".into(),
    });
    assert_eq!(
        apply(&config, &consumers(), &mut ctx, NOW),
        Ok(JwtOutcome::AlreadyAuthenticated)
    );
    assert!(ctx.upstream_headers.is_empty());
}

#[test]
fn errors_never_show_the_token_or_the_secret() {
    let token = TokenSpec::new("alice-iss", "S")
        .header_alg("RS256")
        .sign()
        .expect("sign");
    let signature = token.rsplit('.').next().expect("sig").to_owned();
    let cases = [
        get("/").bearer(&token).error(&JwtConfig::default()),
        get("/")
            .bearer(&tamper_signature(&alice_token()))
            .error(&JwtConfig::default()),
        get(&format!("/?jwt={token}"))
            .bearer(&alice_token())
            .error(&JwtConfig::default()),
        get("/")
            .bearer(&format!("garbage{token}"))
            .error(&JwtConfig::default()),
    ];
    for err in cases {
        for text in [format!("{err}"), format!("{err:?}"), err.body().to_string()] {
            assert!(!text.contains(&signature), "{text}");
            assert!(!text.contains("eyJ"), "{text}");
        }
    }
    let auth = get("/")
        .bearer(&alice_token())
        .consumer(&JwtConfig::default());
    assert!(!format!("{auth:?}").contains("eyJ"));
}
