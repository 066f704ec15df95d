//! JWT signing for the harness side: the tokens the CLI prints, the steps send and the tests use.
//!
//! ```text
//!   gauntlet token / `gauntlet up` ──┐
//!   steps (auth scenarios)  ─────────┼──► issue / TokenSpec::sign ──► "h.c.s" ──► gateway jwt plugin
//!   unit tests ──────────────────────┘         └── malformed helpers (AUTH-3 cases)
//! ```
//!
//! Every algorithm Kong accepts is signed (HMAC here, the asymmetric ones through
//! [`crate::jws`]), base64url without padding, exactly like Kong's own `jwt_parser.encode`. Nothing here reads a clock: every time claim is computed from a
//! `now` the caller passes (the stack clock's `unix_seconds`). Secrets never appear in `Debug` or
//! error messages.

use std::time::Duration;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::{Sha256, Sha384, Sha512};

use crate::config::gateway::JwtAlgorithm;

/// Why a token could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The key given for an asymmetric algorithm is not a private key of its family.
    #[error("cannot sign a {alg} token: {cause}")]
    BadKey { alg: &'static str, cause: String },
}

/// Signs `header` and `claims` using `alg`: with `key` as the shared secret for HS*, or as a
/// private key PEM (PKCS#8, or PKCS#1 for RSA) for RS*, PS*, ES* and EdDSA ([`crate::jws`]).
///
/// The header is used verbatim (its `alg` field is not forced to match `alg`), so a test can
/// produce a token whose header names `RS256` but which is signed with HS256 — or an HS256 token
/// signed with a public key PEM as the secret (the algorithm-confusion attack).
///
/// # Errors
/// [`TokenError::BadKey`] when an asymmetric `alg` gets a key that is not one of its family.
pub fn sign(
    header: &Value,
    claims: &Value,
    key: &[u8],
    alg: JwtAlgorithm,
) -> Result<String, TokenError> {
    let signing_input = format!("{}.{}", encode_segment(header), encode_segment(claims));
    let signature = if alg.is_hmac() {
        hmac_digest(alg, key, signing_input.as_bytes())
    } else {
        crate::jws::sign(alg, key, signing_input.as_bytes()).map_err(|e| TokenError::BadKey {
            alg: alg.as_str(),
            cause: e.to_string(),
        })?
    };
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// A ready-to-use HS256 token: header `{"alg":"HS256","typ":"JWT"}`, claims `iss = key`,
/// `iat = nbf = now_unix`, `exp = now_unix + lifetime` (whole seconds).
pub fn issue(key: &str, secret: &str, now_unix: u64, lifetime: Duration) -> String {
    TokenSpec::new(key, secret)
        .lifetime(now_unix, lifetime)
        .sign_hmac()
}

/// base64url (no padding) of the compact JSON of `value`: one token segment.
pub fn encode_segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Header and claims of `token`, without checking the signature. For display only (the CLI
/// prints the claims of the token it issued); accepts padded or unpadded base64url.
pub fn decode_unverified(token: &str) -> Option<(Value, Value)> {
    let mut parts = token.split('.');
    let header = parts.next()?;
    let claims = parts.next()?;
    parts.next()?;
    let decode = |segment: &str| -> Option<Value> {
        let bytes = LENIENT_URL_SAFE.decode(segment).ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    Some((decode(header)?, decode(claims)?))
}

const LENIENT_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A test or step token, built up claim by claim and signed with [`TokenSpec::sign`].
///
/// ```
/// use gauntlet::token::TokenSpec;
/// let token = TokenSpec::new("alice-iss", "S").expires_at(2_000_000_000).sign().unwrap();
/// assert_eq!(token.split('.').count(), 3);
/// ```
#[derive(Clone)]
pub struct TokenSpec {
    secret: Vec<u8>,
    alg: JwtAlgorithm,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl std::fmt::Debug for TokenSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSpec")
            .field("secret", &"<redacted>")
            .field("alg", &self.alg)
            .field("header", &self.header)
            .field("claims", &self.claims)
            .finish()
    }
}

impl TokenSpec {
    /// HS256, header `{"alg":"HS256","typ":"JWT"}`, claims `{"iss": key}`, no time claims.
    pub fn new(key: &str, secret: &str) -> Self {
        let mut spec = TokenSpec {
            secret: secret.as_bytes().to_vec(),
            alg: JwtAlgorithm::HS256,
            header: Map::new(),
            claims: Map::new(),
        };
        spec.header.insert("typ".into(), json!("JWT"));
        spec.header.insert("alg".into(), json!("HS256"));
        spec.claims.insert("iss".into(), json!(key));
        spec
    }

    /// Signs with raw secret bytes (e.g. the decoded form of a `secret_is_base64` secret).
    pub fn secret_bytes(mut self, secret: &[u8]) -> Self {
        self.secret = secret.to_vec();
        self
    }

    /// Signs with `alg` and names it in the header.
    pub fn algorithm(mut self, alg: JwtAlgorithm) -> Self {
        self.alg = alg;
        self.header.insert("alg".into(), json!(alg.as_str()));
        self
    }

    /// Keeps the signing algorithm but writes `alg` into the header verbatim (`"none"`, `"RS256"`).
    pub fn header_alg(self, alg: &str) -> Self {
        self.header_field("alg", json!(alg))
    }

    /// Sets (or replaces) a header field.
    pub fn header_field(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.into(), value);
        self
    }

    /// Removes a header field (`alg` to test a missing algorithm).
    pub fn without_header_field(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Moves the key from `iss` to another claim (`key_claim_name: aud`).
    pub fn key_claim(mut self, name: &str) -> Self {
        if let Some(key) = self.claims.remove("iss") {
            self.claims.insert(name.into(), key);
        }
        self
    }

    /// Moves the key from the claims into the header under `name` (`key_claim_name: kid`).
    pub fn key_in_header(mut self, name: &str) -> Self {
        if let Some(key) = self.claims.remove("iss") {
            self.header.insert(name.into(), key);
        }
        self
    }

    /// Drops the `iss` claim.
    pub fn without_key(self) -> Self {
        self.without_claim("iss")
    }

    /// `iat` in unix seconds.
    pub fn issued_at(self, unix: u64) -> Self {
        self.claim("iat", json!(unix))
    }

    /// `nbf` in unix seconds.
    pub fn not_before(self, unix: u64) -> Self {
        self.claim("nbf", json!(unix))
    }

    /// `exp` in unix seconds.
    pub fn expires_at(self, unix: u64) -> Self {
        self.claim("exp", json!(unix))
    }

    /// `iat = nbf = now_unix`, `exp = now_unix + lifetime` (whole seconds).
    pub fn lifetime(self, now_unix: u64, lifetime: Duration) -> Self {
        self.issued_at(now_unix)
            .not_before(now_unix)
            .expires_at(now_unix.saturating_add(lifetime.as_secs()))
    }

    /// Sets (or replaces) any claim, with any JSON value (`"exp": "soon"` for type errors).
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }

    /// Removes a claim.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// The header as it will be encoded.
    pub fn header(&self) -> Value {
        Value::Object(self.header.clone())
    }

    /// The claims as they will be encoded.
    pub fn claims(&self) -> Value {
        Value::Object(self.claims.clone())
    }

    /// The signed token.
    ///
    /// # Errors
    /// [`TokenError::BadKey`] when [`TokenSpec::algorithm`] chose an asymmetric algorithm and the
    /// key is not a private key PEM of its family.
    pub fn sign(&self) -> Result<String, TokenError> {
        sign(&self.header(), &self.claims(), &self.secret, self.alg)
    }

    /// Signs a spec whose algorithm is known to be HMAC (the default).
    fn sign_hmac(&self) -> String {
        let signing_input = format!(
            "{}.{}",
            encode_segment(&self.header()),
            encode_segment(&self.claims())
        );
        let signature = hmac_digest(self.alg, &self.secret, signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// The same token with an invalid signature of the same length: structure and claims intact,
/// so Kong gets as far as `Invalid signature`.
pub fn tamper_signature(token: &str) -> String {
    let (signing_input, signature) = match token.rsplit_once('.') {
        Some(parts) => parts,
        None => return format!("{token}.x"),
    };
    let mut bytes = LENIENT_URL_SAFE
        .decode(signature)
        .unwrap_or_else(|_| vec![0; 32]);
    match bytes.first_mut() {
        Some(first) => *first ^= 0x01,
        None => bytes = vec![0; 32],
    }
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// An `alg: none` token: header `{"alg":"none","typ":"JWT"}`, the given claims, empty signature.
/// Kong answers `Bad token; invalid alg`.
pub fn with_alg_none(claims: &Value) -> String {
    unsigned(&json!({"alg": "none", "typ": "JWT"}), claims)
}

/// `header.claims.` with an empty signature segment.
pub fn unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.{}.", encode_segment(header), encode_segment(claims))
}

/// Malformed tokens for the AUTH-3 conformance cases, each with Kong's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Not a JWT at all (`Bad token; invalid JSON`).
    Garbage,
    /// Only two segments (`Bad token; invalid JSON`).
    TwoSegments,
    /// Three base64url segments whose header is not JSON (`Bad token; invalid JSON`).
    HeaderNotJson,
    /// A valid header, claims that are not JSON (`Bad token; invalid JSON`).
    ClaimsNotJson,
    /// A header without `alg` (`Bad token; invalid alg`).
    MissingAlg,
}

impl Malformed {
    /// The token text.
    pub fn token(self) -> String {
        let header = encode_segment(&json!({"alg": "HS256", "typ": "JWT"}));
        let not_json = URL_SAFE_NO_PAD.encode("not json");
        match self {
            Malformed::Garbage => "this-is-not-a-jwt".to_owned(),
            Malformed::TwoSegments => {
                format!("{header}.{}", encode_segment(&json!({"iss": "x"})))
            }
            Malformed::HeaderNotJson => format!("{not_json}.{not_json}.c2ln"),
            Malformed::ClaimsNotJson => format!("{header}.{not_json}.c2ln"),
            Malformed::MissingAlg => format!(
                "{}.{}.c2ln",
                encode_segment(&json!({"typ": "JWT"})),
                encode_segment(&json!({"iss": "x"}))
            ),
        }
    }

    /// Kong's `message` for this token.
    pub fn kong_message(self) -> &'static str {
        match self {
            Malformed::MissingAlg => "Bad token; invalid alg",
            _ => "Bad token; invalid JSON",
        }
    }
}

/// Raw HMAC of `data`; `alg` must be one of the HMAC algorithms (others fall back to SHA-256,
/// callers check [`JwtAlgorithm::is_hmac`] first).
fn hmac_digest(alg: JwtAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length (long keys are hashed), so this cannot fail.
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
            .expect("HMAC accepts keys of any length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
    match alg {
        JwtAlgorithm::HS384 => run::<Hmac<Sha384>>(key, data),
        JwtAlgorithm::HS512 => run::<Hmac<Sha512>>(key, data),
        _ => run::<Hmac<Sha256>>(key, data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_produces_hs256_header_and_lifetime_claims() {
        let token = issue("alice-iss", "S", 1_000, Duration::from_secs(60));
        let (header, claims) = decode_unverified(&token).expect("decodable");
        assert_eq!(header, json!({"alg": "HS256", "typ": "JWT"}));
        assert_eq!(
            claims,
            json!({"iss": "alice-iss", "iat": 1_000, "nbf": 1_000, "exp": 1_060})
        );
    }

    #[test]
    fn sign_matches_a_vector_computed_with_openssl() {
        // printf '%s' 'eyJ...J9.eyJpc3MiOiJ4In0' | openssl dgst -sha256 -hmac secret -binary | base64url
        let token = sign(
            &json!({"alg": "HS256", "typ": "JWT"}),
            &json!({"iss": "x"}),
            b"secret",
            JwtAlgorithm::HS256,
        )
        .expect("hmac");
        assert_eq!(
            token,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJ4In0.\
             Rc4YYH0RQw7wPl2Rm2za0GSmDwPhivTwsYrXgYN7EEo"
        );
    }

    #[test]
    fn signatures_have_the_length_of_their_hash() {
        for (alg, len) in [
            (JwtAlgorithm::HS256, 32),
            (JwtAlgorithm::HS384, 48),
            (JwtAlgorithm::HS512, 64),
        ] {
            let token = TokenSpec::new("k", "s")
                .algorithm(alg)
                .sign()
                .expect("hmac");
            let sig = token.rsplit('.').next().expect("sig");
            assert_eq!(URL_SAFE_NO_PAD.decode(sig).expect("b64").len(), len);
            let (header, _) = decode_unverified(&token).expect("decodable");
            assert_eq!(header["alg"], json!(alg.as_str()));
        }
    }

    #[test]
    fn an_asymmetric_algorithm_without_a_private_key_is_refused_without_naming_it() {
        let err = TokenSpec::new("k", "top-secret")
            .algorithm(JwtAlgorithm::RS256)
            .sign()
            .expect_err("not a key");
        assert!(
            matches!(err, TokenError::BadKey { alg: "RS256", .. }),
            "{err}"
        );
        assert!(!err.to_string().contains("top-secret"));
    }

    #[test]
    fn header_alg_override_keeps_the_hmac_signature() {
        let spec = TokenSpec::new("k", "s").header_alg("RS256");
        let token = spec.sign().expect("still signed with HS256");
        assert_eq!(
            decode_unverified(&token).expect("decodable").0["alg"],
            "RS256"
        );
    }

    #[test]
    fn key_can_move_to_another_claim_or_to_the_header() {
        let aud = TokenSpec::new("k", "s").key_claim("aud");
        assert_eq!(aud.claims(), json!({"aud": "k"}));
        let kid = TokenSpec::new("k", "s").key_in_header("kid");
        assert_eq!(kid.claims(), json!({}));
        assert_eq!(kid.header()["kid"], "k");
    }

    #[test]
    fn tampered_signature_keeps_structure_but_changes_bytes() {
        let token = issue("k", "s", 0, Duration::from_secs(1));
        let tampered = tamper_signature(&token);
        assert_ne!(token, tampered);
        assert_eq!(tampered.split('.').count(), 3);
        assert_eq!(
            token.rsplit_once('.').map(|p| p.0),
            tampered.rsplit_once('.').map(|p| p.0)
        );
        assert_eq!(token.len(), tampered.len());
    }

    #[test]
    fn alg_none_token_has_an_empty_signature() {
        let token = with_alg_none(&json!({"iss": "k"}));
        assert!(token.ends_with('.'));
        assert_eq!(
            decode_unverified(&token).expect("decodable").0["alg"],
            "none"
        );
    }

    #[test]
    fn malformed_tokens_are_what_they_claim() {
        assert!(decode_unverified(&Malformed::Garbage.token()).is_none());
        assert_eq!(Malformed::TwoSegments.token().split('.').count(), 2);
        assert!(decode_unverified(&Malformed::HeaderNotJson.token()).is_none());
        assert!(decode_unverified(&Malformed::ClaimsNotJson.token()).is_none());
        let (header, _) = decode_unverified(&Malformed::MissingAlg.token()).expect("json");
        assert!(header.get("alg").is_none());
        assert_eq!(
            Malformed::MissingAlg.kong_message(),
            "Bad token; invalid alg"
        );
    }

    #[test]
    fn debug_of_a_spec_redacts_the_secret() {
        let spec = TokenSpec::new("k", "hunter2-secret");
        assert!(!format!("{spec:?}").contains("hunter2-secret"));
    }
}
