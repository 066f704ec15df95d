//! Every way Kong's `jwt` plugin can refuse a request, with the exact status, body and
//! `WWW-Authenticate` Kong sends (`kong/plugins/jwt/handler.lua`, `jwt_parser.lua`).
//!
//! `gateway::rescue` renders a [`JwtError`] with [`JwtError::status`], [`JwtError::body`] and
//! [`JwtError::www_authenticate`]; metrics label it with [`JwtError::reason`]. No variant holds
//! the token, a secret or an `Authorization` value, so `Debug` and `Display` are safe to log.

use http::StatusCode;
use serde_json::{json, Map, Value};

use crate::config::gateway::RegisteredClaim;

/// A refusal by the jwt plugin. All are 401 except the two 500s at the end.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JwtError {
    /// No token in the configured query parameters, cookies or headers.
    #[error("jwt: no token in the request")]
    NoToken,
    /// Two or more *different* tokens (identical copies count once).
    #[error("jwt: more than one distinct token in the request")]
    MultipleTokens,
    /// The only "token" was a query parameter without `=` (`?jwt`), which Lua sees as `true`.
    #[error("jwt: token is not a string")]
    UnrecognizableToken,
    /// Fewer than three segments, bad base64 or bad JSON in the header or claims.
    #[error("jwt: token is not base64url JSON")]
    InvalidJson,
    /// The header has no `alg`, a non-string one, or one Kong does not know (incl. `none`).
    #[error("jwt: token header names no known algorithm")]
    InvalidAlg,
    /// The signature segment is not base64 (for example a fourth `.` segment).
    #[error("jwt: token signature is not base64")]
    InvalidSignatureEncoding,
    /// The key claim is in neither the claims nor the header.
    #[error("jwt: no '{claim}' claim to identify the credential")]
    MissingKeyClaim { claim: String },
    /// The key claim is the empty string.
    #[error("jwt: empty '{claim}' claim")]
    EmptyKeyClaim { claim: String },
    /// No credential has that key.
    #[error("jwt: no credential for the token's '{claim}'")]
    UnknownKey { claim: String },
    /// The header's `alg` differs from the credential's algorithm.
    #[error("jwt: token algorithm differs from the credential's")]
    AlgorithmMismatch,
    /// `secret_is_base64` is set and the secret does not decode.
    #[error("jwt: credential secret is not valid base64")]
    InvalidSecret,
    /// The HMAC does not match.
    #[error("jwt: signature does not match")]
    InvalidSignature,
    /// The credential (and token) use an asymmetric algorithm, which Gauntlet cannot verify.
    /// `claims_to_verify` failed; the body is the errors object itself.
    #[error("jwt: registered claims rejected ({0})")]
    Claims(ClaimErrors),
    /// `maximum_expiration` is set and `exp` is missing or too far ahead.
    #[error("jwt: token lives longer than maximum_expiration")]
    ExceedsMaxExpiration,
    /// `anonymous` names no consumer (id or username). 500, rendered with `request_id`.
    #[error("jwt: anonymous consumer {anonymous} is configured but doesn't exist")]
    AnonymousNotFound { anonymous: String },
    /// Where Kong's Lua raises a runtime error (e.g. a numeric key claim reaches the DAO, a
    /// header that is a JSON number): 500 `An unexpected error occurred`, with `request_id`,
    /// even when `anonymous` is set.
    #[error("jwt: unexpected error ({cause})")]
    Unexpected { cause: &'static str },
}

impl JwtError {
    /// The HTTP status Kong answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            JwtError::AnonymousNotFound { .. } | JwtError::Unexpected { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// Kong's `message`, or `None` for the claim errors whose body has no `message`.
    pub fn message(&self) -> Option<String> {
        Some(match self {
            JwtError::NoToken => "Unauthorized".to_owned(),
            JwtError::MultipleTokens => "Multiple tokens provided".to_owned(),
            JwtError::UnrecognizableToken => "Unrecognizable token".to_owned(),
            JwtError::InvalidJson => "Bad token; invalid JSON".to_owned(),
            JwtError::InvalidAlg => "Bad token; invalid alg".to_owned(),
            JwtError::InvalidSignatureEncoding => "Bad token; invalid signature".to_owned(),
            JwtError::MissingKeyClaim { claim } => format!("No mandatory '{claim}' in claims"),
            JwtError::EmptyKeyClaim { claim } => format!("Invalid '{claim}' in claims"),
            JwtError::UnknownKey { claim } => format!("No credentials found for given '{claim}'"),
            JwtError::AlgorithmMismatch => "Invalid algorithm".to_owned(),
            JwtError::InvalidSecret => "Invalid key/secret".to_owned(),
            JwtError::InvalidSignature => "Invalid signature".to_owned(),
            JwtError::Claims(_) | JwtError::ExceedsMaxExpiration => return None,
            JwtError::AnonymousNotFound { anonymous } => {
                format!("anonymous consumer {anonymous} is configured but doesn't exist")
            }
            JwtError::Unexpected { .. } => "An unexpected error occurred".to_owned(),
        })
    }

    /// The exact JSON body: `{"message":"..."}`, or for claim failures the errors object itself
    /// (`{"exp":"token expired"}`). The two 500s also carry `request_id` in Kong
    /// (`kong.response.error`); see [`JwtError::includes_request_id`].
    pub fn body(&self) -> Value {
        match self {
            JwtError::Claims(errors) => errors.to_json(),
            JwtError::ExceedsMaxExpiration => json!({"exp": "exceeds maximum allowed expiration"}),
            other => json!({ "message": other.message().unwrap_or_default() }),
        }
    }

    /// Whether Kong renders this error with its error template (`message` + `request_id`,
    /// content negotiated) instead of the compact `kong.response.exit` body.
    pub fn includes_request_id(&self) -> bool {
        self.status() == StatusCode::INTERNAL_SERVER_ERROR
    }

    /// The `WWW-Authenticate` value: `Bearer` (with `realm="x"`) when no token was found,
    /// `Bearer error="invalid_token"` / `Bearer realm="x", error="invalid_token"` for every other
    /// 401, nothing for the 500s.
    pub fn www_authenticate(&self, realm: Option<&str>) -> Option<String> {
        let base = match realm {
            Some(realm) => format!("Bearer realm=\"{realm}\""),
            None => "Bearer".to_owned(),
        };
        match self {
            JwtError::NoToken => Some(base),
            _ if self.status() == StatusCode::UNAUTHORIZED => Some(match realm {
                Some(_) => format!("{base}, error=\"invalid_token\""),
                None => format!("{base} error=\"invalid_token\""),
            }),
            _ => None,
        }
    }

    /// A stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            JwtError::NoToken => "no_token",
            JwtError::MultipleTokens => "multiple_tokens",
            JwtError::UnrecognizableToken => "unrecognizable_token",
            JwtError::InvalidJson => "invalid_json",
            JwtError::InvalidAlg => "invalid_alg",
            JwtError::InvalidSignatureEncoding => "invalid_signature_encoding",
            JwtError::MissingKeyClaim { .. } => "missing_key_claim",
            JwtError::EmptyKeyClaim { .. } => "empty_key_claim",
            JwtError::UnknownKey { .. } => "unknown_key",
            JwtError::AlgorithmMismatch => "algorithm_mismatch",
            JwtError::InvalidSecret => "invalid_secret",
            JwtError::InvalidSignature => "invalid_signature",
            JwtError::Claims(errors) => errors.reason(),
            JwtError::ExceedsMaxExpiration => "exceeds_max_expiration",
            JwtError::AnonymousNotFound { .. } => "anonymous_not_found",
            JwtError::Unexpected { .. } => "unexpected",
        }
    }
}

/// What is wrong with one registered claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimProblem {
    /// Missing or not a JSON number: `must be a number`.
    NotANumber,
    /// `exp <= now`: `token expired`.
    Expired,
    /// `nbf > now`: `token not valid yet`.
    NotYetValid,
}

impl ClaimProblem {
    fn kong_text(self) -> &'static str {
        match self {
            ClaimProblem::NotANumber => "must be a number",
            ClaimProblem::Expired => "token expired",
            ClaimProblem::NotYetValid => "token not valid yet",
        }
    }
}

/// The failed `claims_to_verify` checks, in configuration order (at most one per claim).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClaimErrors(pub Vec<(RegisteredClaim, ClaimProblem)>);

impl ClaimErrors {
    /// Kong's body: `{"exp":"token expired","nbf":"must be a number"}`.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (claim, problem) in &self.0 {
            map.insert(claim_name(*claim).to_owned(), json!(problem.kong_text()));
        }
        Value::Object(map)
    }

    /// `claim_not_number` if any claim had the wrong type, else `expired`, else `not_yet_valid`.
    pub fn reason(&self) -> &'static str {
        let has = |p: ClaimProblem| self.0.iter().any(|(_, q)| *q == p);
        if has(ClaimProblem::NotANumber) {
            "claim_not_number"
        } else if has(ClaimProblem::Expired) {
            "expired"
        } else {
            "not_yet_valid"
        }
    }
}

impl std::fmt::Display for ClaimErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (claim, problem)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}: {}", claim_name(*claim), problem.kong_text())?;
        }
        Ok(())
    }
}

/// The claim's JSON name.
pub fn claim_name(claim: RegisteredClaim) -> &'static str {
    match claim {
        RegisteredClaim::Exp => "exp",
        RegisteredClaim::Nbf => "nbf",
    }
}
