//! Tests of the jwt plugin: fixtures here, Kong's black-box cases (kong.md §1, numbered as there)
//! in `kong_cases`, boundaries, other algorithms and the secrecy of errors in `edge_cases`.
//! Consumer `alice` holds key `alice-iss`, secret `S`; `no-body` is the anonymous consumer.

mod cached;
mod edge_cases;
mod kong_cases;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use uuid::Uuid;

use super::*;
use crate::token::issue;

pub(super) const NOW: u64 = 1_700_000_000;
pub(super) const ALICE_ID: Uuid = Uuid::from_u128(0xa11ce);
pub(super) const ANON_ID: Uuid = Uuid::from_u128(0xa404);

pub(super) fn credential(key: &str, secret: &str, algorithm: JwtAlgorithm) -> JwtCredential {
    JwtCredential {
        id: Uuid::from_u128(key.len() as u128 + 0x1000),
        key: key.into(),
        secret: secret.into(),
        algorithm,
        rsa_public_key: None,
        public_key: None,
    }
}

/// A test key of `features/auth/keys/` (`rsa-public`, `rsa-private`, …).
pub(super) fn test_key(name: &str) -> String {
    let path = format!(
        "{}/features/auth/keys/{name}.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An asymmetric credential with the public key `public` of `features/auth/keys/`.
pub(super) fn asymmetric(key: &str, algorithm: JwtAlgorithm, public: &str) -> JwtCredential {
    let pem = test_key(public);
    JwtCredential {
        public_key: Some(crate::jws::parse_public_key(&pem).expect("test key")),
        rsa_public_key: Some(pem),
        ..credential(key, "", algorithm)
    }
}

pub(super) fn consumer(
    id: Uuid,
    username: &str,
    custom_id: Option<&str>,
    creds: Vec<JwtCredential>,
) -> Consumer {
    Consumer {
        id,
        username: Some(username.into()),
        custom_id: custom_id.map(Into::into),
        jwt_secrets: creds,
        keyauth_credentials: vec![],
        acl_groups: vec![],
    }
}

pub(super) fn consumers() -> Vec<Consumer> {
    vec![
        consumer(
            ALICE_ID,
            "alice",
            Some("alice-001"),
            vec![credential("alice-iss", "S", JwtAlgorithm::HS256)],
        ),
        consumer(
            Uuid::from_u128(0xb0b),
            "bob",
            None,
            vec![credential("bob-iss", "B", JwtAlgorithm::HS256)],
        ),
        consumer(
            Uuid::from_u128(0x384),
            "h384",
            None,
            vec![credential("h384-iss", "S384", JwtAlgorithm::HS384)],
        ),
        consumer(
            Uuid::from_u128(0x512),
            "h512",
            None,
            vec![credential("h512-iss", "S512", JwtAlgorithm::HS512)],
        ),
        consumer(
            Uuid::from_u128(0x256),
            "rsa",
            None,
            vec![asymmetric("rsa-iss", JwtAlgorithm::RS256, "rsa-public")],
        ),
        consumer(ANON_ID, "no-body", None, vec![]),
    ]
}

pub(super) fn alice_token() -> String {
    issue("alice-iss", "S", NOW, Duration::from_secs(3600))
}

pub(super) fn claims_config() -> JwtConfig {
    JwtConfig {
        claims_to_verify: vec![RegisteredClaim::Exp, RegisteredClaim::Nbf],
        ..JwtConfig::default()
    }
}

pub(super) struct Req {
    pub(super) method: Method,
    pub(super) uri: String,
    pub(super) headers: HeaderMap,
}

pub(super) fn get(uri: &str) -> Req {
    Req {
        method: Method::GET,
        uri: uri.into(),
        headers: HeaderMap::new(),
    }
}

impl Req {
    pub(super) fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
        self
    }

    pub(super) fn bearer(self, token: &str) -> Req {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub(super) fn run(&self, config: &JwtConfig) -> Result<JwtOutcome, JwtError> {
        let uri = self.uri.parse().expect("uri");
        authenticate(config, &consumers(), &self.method, &uri, &self.headers, NOW)
    }

    pub(super) fn consumer(&self, config: &JwtConfig) -> Authenticated {
        match self.run(config) {
            Ok(JwtOutcome::Authenticated(auth)) => auth,
            other => panic!("expected a consumer, got {other:?}"),
        }
    }

    pub(super) fn error(&self, config: &JwtConfig) -> JwtError {
        self.run(config).expect_err("expected a refusal")
    }

    /// The refusal without a cache at `now`.
    pub(super) fn error_at(&self, config: &JwtConfig, now: u64) -> JwtError {
        let uri = self.uri.parse().expect("uri");
        authenticate(config, &consumers(), &self.method, &uri, &self.headers, now)
            .expect_err("expected a refusal")
    }

    /// Runs `apply` and returns the upstream headers after the plugin's changes.
    pub(super) fn upstream(&self, config: &JwtConfig) -> (RequestContext, HeaderMap) {
        let mut ctx = RequestContext::new(
            self.method.clone(),
            self.uri.parse().expect("uri"),
            self.headers.clone(),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "req-1".into(),
            crate::gateway::router::RouteMatch::new(0, 0, "/"),
        );
        apply(config, &consumers(), &mut ctx, NOW).expect("passes");
        let mut upstream = self.headers.clone();
        ctx.apply_upstream_headers(&mut upstream);
        (ctx, upstream)
    }
}

pub(super) fn username(auth: &Authenticated) -> String {
    consumers()[auth.consumer].display_name()
}

pub(super) fn assert_401(err: &JwtError, body: serde_json::Value) {
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(err.body(), body);
    assert_eq!(
        err.www_authenticate(None).as_deref(),
        Some("Bearer error=\"invalid_token\"")
    );
}
