//! kong.md §1 "JWT black-box test cases" 1–24, one test per case.

use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::token::{issue, tamper_signature, with_alg_none, TokenSpec};

#[test]
fn case_1_no_credentials_is_unauthorized_with_a_bare_bearer_challenge() {
    let err = get("/").error(&JwtConfig::default());
    assert_eq!(err, JwtError::NoToken);
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(err.body().to_string(), r#"{"message":"Unauthorized"}"#);
    assert_eq!(err.www_authenticate(None).as_deref(), Some("Bearer"));
    assert_eq!(err.reason(), "no_token");
}

#[test]
fn case_2_a_valid_bearer_token_identifies_alice_and_sets_consumer_headers() {
    let req = get("/").bearer(&alice_token());
    let auth = req.consumer(&JwtConfig::default());
    assert_eq!(username(&auth), "alice");
    assert!(!auth.is_anonymous());
    let (ctx, up) = req.upstream(&JwtConfig::default());
    assert_eq!(ctx.consumer, Some(0));
    assert_eq!(
        ctx.credential.as_ref().map(|c| c.key.as_str()),
        Some("alice-iss")
    );
    assert_eq!(up["x-consumer-username"], "alice");
    assert_eq!(up["x-consumer-id"], ALICE_ID.to_string().as_str());
    assert_eq!(up["x-consumer-custom-id"], "alice-001");
    assert_eq!(up["x-credential-identifier"], "alice-iss");
    assert!(up.get("x-anonymous-consumer").is_none());
    assert!(
        up.get("authorization").is_some(),
        "the token is not stripped"
    );
}

#[test]
fn case_3_a_lower_case_bearer_prefix_is_accepted() {
    let req = get("/").header("authorization", &format!("bearer {}", alice_token()));
    assert_eq!(username(&req.consumer(&JwtConfig::default())), "alice");
}

#[test]
fn case_4_an_upper_case_bearer_prefix_finds_no_token() {
    let req = get("/").header("authorization", &format!("BEARER {}", alice_token()));
    assert_eq!(req.error(&JwtConfig::default()), JwtError::NoToken);
}

#[test]
fn case_5_basic_credentials_or_a_bare_bearer_find_no_token() {
    for value in ["Basic abc", "Bearer", &format!("Token {}", alice_token())] {
        let err = get("/")
            .header("authorization", value)
            .error(&JwtConfig::default());
        assert_eq!(err, JwtError::NoToken, "{value}");
    }
}

#[test]
fn case_6_tokens_are_read_from_the_jwt_query_parameter_and_custom_names() {
    let token = alice_token();
    assert_eq!(
        username(&get(&format!("/p?jwt={token}")).consumer(&JwtConfig::default())),
        "alice"
    );
    let config = JwtConfig {
        uri_param_names: vec!["token".into(), "jwt".into()],
        ..JwtConfig::default()
    };
    assert_eq!(
        username(&get(&format!("/p?token={token}")).consumer(&config)),
        "alice"
    );
    let err = get(&format!("/p?token={token}")).error(&JwtConfig::default());
    assert_eq!(err, JwtError::NoToken);
}

#[test]
fn case_7_a_configured_cookie_carries_the_token_and_garbage_is_invalid_json() {
    let config = JwtConfig {
        cookie_names: vec!["silly".into(), "crumble".into()],
        ..JwtConfig::default()
    };
    let token = alice_token();
    let req = get("/").header("cookie", &format!("theme=dark; crumble={token}; lang=en"));
    assert_eq!(username(&req.consumer(&config)), "alice");
    let err = get("/")
        .header("cookie", &format!("crumble=garbage{token}"))
        .error(&config);
    assert_eq!(err, JwtError::InvalidJson);
    assert_401(&err, json!({"message": "Bad token; invalid JSON"}));
}

#[test]
fn case_8_two_different_tokens_are_refused_but_the_same_token_twice_is_fine() {
    let token = alice_token();
    let err = get(&format!("/?jwt={token}"))
        .bearer("invalid.jwt.token")
        .error(&JwtConfig::default());
    assert_401(&err, json!({"message": "Multiple tokens provided"}));
    assert_eq!(err.reason(), "multiple_tokens");
    let same = get(&format!("/?jwt={token}")).bearer(&token);
    assert_eq!(username(&same.consumer(&JwtConfig::default())), "alice");
}

#[test]
fn case_9_only_the_first_of_repeated_token_headers_is_read() {
    let req = get("/").bearer(&alice_token()).bearer("junk");
    assert_eq!(username(&req.consumer(&JwtConfig::default())), "alice");
    let config = JwtConfig {
        header_names: vec!["customauthorization".into()],
        ..JwtConfig::default()
    };
    let req = get("/")
        .header("customauthorization", &format!("Bearer {}", alice_token()))
        .header("customauthorization", "Bearer junk");
    assert_eq!(username(&req.consumer(&config)), "alice");
}

#[test]
fn case_10_a_missing_or_empty_key_claim_is_refused_by_name() {
    let token = TokenSpec::new("alice-iss", "S")
        .without_key()
        .sign()
        .expect("sign");
    let err = get("/").bearer(&token).error(&JwtConfig::default());
    assert_401(&err, json!({"message": "No mandatory 'iss' in claims"}));
    let token = TokenSpec::new("", "S").sign().expect("sign");
    let err = get("/").bearer(&token).error(&JwtConfig::default());
    assert_401(&err, json!({"message": "Invalid 'iss' in claims"}));
    let config = JwtConfig {
        key_claim_name: "sub".into(),
        ..JwtConfig::default()
    };
    let err = get("/").bearer(&alice_token()).error(&config);
    assert_eq!(
        err.message().as_deref(),
        Some("No mandatory 'sub' in claims")
    );
}

#[test]
fn case_11_an_unknown_key_finds_no_credentials() {
    let token = TokenSpec::new("123456789", "S").sign().expect("sign");
    let err = get("/").bearer(&token).error(&JwtConfig::default());
    assert_401(
        &err,
        json!({"message": "No credentials found for given 'iss'"}),
    );
    assert_eq!(err.reason(), "unknown_key");
}

#[test]
fn case_12_a_wrong_secret_or_tampered_signature_is_an_invalid_signature() {
    let token = TokenSpec::new("alice-iss", "not-S").sign().expect("sign");
    let err = get("/").bearer(&token).error(&JwtConfig::default());
    assert_401(&err, json!({"message": "Invalid signature"}));
    let err = get("/")
        .bearer(&tamper_signature(&alice_token()))
        .error(&JwtConfig::default());
    assert_eq!(err, JwtError::InvalidSignature);
}

#[test]
fn case_13_an_algorithm_other_than_the_credentials_or_none_is_refused() {
    let token = TokenSpec::new("alice-iss", "S")
        .header_alg("RS256")
        .sign()
        .expect("sign");
    let err = get("/").bearer(&token).error(&JwtConfig::default());
    assert_401(&err, json!({"message": "Invalid algorithm"}));
    let token = TokenSpec::new("alice-iss", "S")
        .algorithm(JwtAlgorithm::HS512)
        .sign()
        .expect("sign");
    assert_eq!(
        get("/").bearer(&token).error(&JwtConfig::default()),
        JwtError::AlgorithmMismatch
    );
    let err = get("/")
        .bearer(&with_alg_none(&json!({"iss": "alice-iss"})))
        .error(&JwtConfig::default());
    assert_401(&err, json!({"message": "Bad token; invalid alg"}));
}

#[test]
fn case_14_the_key_may_come_from_the_header_kid_or_another_claim() {
    let kid = JwtConfig {
        key_claim_name: "kid".into(),
        ..JwtConfig::default()
    };
    let token = TokenSpec::new("alice-iss", "S")
        .key_in_header("kid")
        .sign()
        .expect("sign");
    assert_eq!(username(&get("/").bearer(&token).consumer(&kid)), "alice");
    let aud = JwtConfig {
        key_claim_name: "aud".into(),
        ..JwtConfig::default()
    };
    let token = TokenSpec::new("alice-iss", "S")
        .key_claim("aud")
        .sign()
        .expect("sign");
    assert_eq!(username(&get("/").bearer(&token).consumer(&aud)), "alice");
}

#[test]
fn case_15_missing_time_claims_must_be_numbers_in_one_body() {
    let token = TokenSpec::new("alice-iss", "S").sign().expect("sign");
    let err = get("/").bearer(&token).error(&claims_config());
    assert_401(
        &err,
        json!({"nbf": "must be a number", "exp": "must be a number"}),
    );
    assert_eq!(err.reason(), "claim_not_number");
    let token = TokenSpec::new("alice-iss", "S")
        .claim("exp", json!("soon"))
        .not_before(NOW)
        .sign()
        .expect("sign");
    let err = get("/").bearer(&token).error(&claims_config());
    assert_eq!(err.body(), json!({"exp": "must be a number"}));
}

#[test]
fn case_16_an_expired_token_has_the_errors_object_as_body() {
    let token = TokenSpec::new("alice-iss", "S")
        .not_before(NOW - 20)
        .expires_at(NOW - 10)
        .sign()
        .expect("sign");
    let err = get("/").bearer(&token).error(&claims_config());
    assert_eq!(err.body().to_string(), r#"{"exp":"token expired"}"#);
    assert_eq!(err.reason(), "expired");
    assert_eq!(err.message(), None);
}

#[test]
fn case_17_a_token_not_valid_yet_is_refused_but_nbf_equal_to_now_is_fine() {
    let token = TokenSpec::new("alice-iss", "S")
        .not_before(NOW + 5)
        .expires_at(NOW + 60)
        .sign()
        .expect("sign");
    let err = get("/").bearer(&token).error(&claims_config());
    assert_401(&err, json!({"nbf": "token not valid yet"}));
    assert_eq!(err.reason(), "not_yet_valid");
    let token = TokenSpec::new("alice-iss", "S")
        .not_before(NOW)
        .expires_at(NOW + 60)
        .sign()
        .expect("sign");
    assert_eq!(
        username(&get("/").bearer(&token).consumer(&claims_config())),
        "alice"
    );
}

#[test]
fn case_18_without_claims_to_verify_an_expired_token_passes() {
    let token = TokenSpec::new("alice-iss", "S")
        .expires_at(NOW - 3600)
        .sign()
        .expect("sign");
    assert_eq!(
        username(&get("/").bearer(&token).consumer(&JwtConfig::default())),
        "alice"
    );
}

#[test]
fn case_19_maximum_expiration_refuses_long_lived_tokens() {
    let config = JwtConfig {
        maximum_expiration: 300,
        ..claims_config()
    };
    let long = TokenSpec::new("alice-iss", "S")
        .not_before(NOW - 30)
        .expires_at(NOW + 3600)
        .sign()
        .expect("sign");
    let err = get(&format!("/?jwt={long}")).error(&config);
    assert_eq!(
        err.body().to_string(),
        r#"{"exp":"exceeds maximum allowed expiration"}"#
    );
    assert_eq!(
        err.www_authenticate(None).as_deref(),
        Some("Bearer error=\"invalid_token\"")
    );
    assert_eq!(err.reason(), "exceeds_max_expiration");
    let short = TokenSpec::new("alice-iss", "S")
        .not_before(NOW - 30)
        .expires_at(NOW + 270)
        .sign()
        .expect("sign");
    assert_eq!(
        username(&get(&format!("/?jwt={short}")).consumer(&config)),
        "alice"
    );
    let edge = TokenSpec::new("alice-iss", "S")
        .not_before(NOW)
        .expires_at(NOW + 300)
        .sign()
        .expect("sign");
    assert_eq!(username(&get("/").bearer(&edge).consumer(&config)), "alice");
}

#[test]
fn case_20_anonymous_by_id_or_username_replaces_any_failure() {
    for anonymous in [ANON_ID.to_string(), "no-body".to_owned()] {
        let config = JwtConfig {
            anonymous: Some(anonymous),
            ..JwtConfig::default()
        };
        let auth = get("/").consumer(&config);
        assert!(auth.is_anonymous());
        assert_eq!(auth.anonymous_because, Some(JwtError::NoToken));
        let (ctx, up) = get("/")
            .header("x-credential-identifier", "forged")
            .upstream(&config);
        assert_eq!(ctx.credential, None);
        assert_eq!(up["x-anonymous-consumer"], "true");
        assert_eq!(up["x-consumer-username"], "no-body");
        assert_eq!(up["x-consumer-id"], ANON_ID.to_string().as_str());
        assert!(up.get("x-credential-identifier").is_none());
        assert!(up.get("x-consumer-custom-id").is_none());
        let bad = get("/")
            .bearer(&tamper_signature(&alice_token()))
            .consumer(&config);
        assert_eq!(bad.anonymous_because, Some(JwtError::InvalidSignature));
        let good = get("/").bearer(&alice_token()).consumer(&config);
        assert_eq!(username(&good), "alice");
    }
}

#[test]
fn case_21_a_missing_anonymous_consumer_is_a_500_without_challenge() {
    let missing = Uuid::from_u128(0xdead).to_string();
    let config = JwtConfig {
        anonymous: Some(missing.clone()),
        ..JwtConfig::default()
    };
    let err = get("/").error(&config);
    assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let expected = format!("anonymous consumer {missing} is configured but doesn't exist");
    assert_eq!(err.message(), Some(expected));
    assert_eq!(err.www_authenticate(None), None);
    assert!(err.includes_request_id());
    assert_eq!(err.reason(), "anonymous_not_found");
}

#[test]
fn case_22_preflight_passes_only_when_run_on_preflight_is_false() {
    let options = Req {
        method: Method::OPTIONS,
        uri: "/".into(),
        headers: HeaderMap::new(),
    };
    let config = JwtConfig {
        run_on_preflight: false,
        ..JwtConfig::default()
    };
    assert_eq!(options.run(&config), Ok(JwtOutcome::Preflight));
    let err = options.error(&JwtConfig::default());
    assert_eq!(err.body().to_string(), r#"{"message":"Unauthorized"}"#);
}

#[test]
fn case_23_the_realm_appears_in_every_challenge() {
    let config = JwtConfig {
        realm: Some("test-jwt".into()),
        ..JwtConfig::default()
    };
    let err = get("/").error(&config);
    assert_eq!(
        err.www_authenticate(Some("test-jwt")).as_deref(),
        Some("Bearer realm=\"test-jwt\"")
    );
    let token = TokenSpec::new("nobody", "S").sign().expect("sign");
    let err = get("/").bearer(&token).error(&config);
    assert_eq!(
        err.www_authenticate(Some("test-jwt")).as_deref(),
        Some("Bearer realm=\"test-jwt\", error=\"invalid_token\"")
    );
}

#[test]
fn case_24_client_sent_consumer_headers_are_replaced_or_removed() {
    let req = get("/")
        .bearer(&alice_token())
        .header("x-consumer-username", "admin")
        .header("x-anonymous-consumer", "true")
        .header("x-credential-identifier", "admin-iss");
    let (_, up) = req.upstream(&JwtConfig::default());
    assert_eq!(up["x-consumer-username"], "alice");
    assert_eq!(up["x-credential-identifier"], "alice-iss");
    assert!(up.get("x-anonymous-consumer").is_none());
    let bob = issue("bob-iss", "B", NOW, Duration::from_secs(60));
    let (_, up) = get("/")
        .bearer(&bob)
        .header("x-consumer-custom-id", "forged")
        .upstream(&JwtConfig::default());
    assert!(
        up.get("x-consumer-custom-id").is_none(),
        "bob has no custom_id"
    );
}
