//! Token decoding: Kong's `jwt_parser.decode_token`, including its lenient base64.
//!
//! ```text
//!   "h.c.s[.more]" ──tokenize(".", 3)──► h | c | "s[.more]"
//!        h, c: base64 → JSON   (any failure, or a missing part: "invalid JSON")
//!        header.alg: known string  ("invalid alg", incl. "none")
//!        s: base64             ("invalid signature", e.g. a fourth segment)
//! ```
//!
//! Kong's base64 (`jwt_parser.base64_decode`): pad to a multiple of 4 with `=`, map `-`→`+` and
//! `_`→`/`, then `ngx.decode_base64`, which reads up to the first `=`, rejects any other
//! character outside the alphabet and a length of 4n+1, and ignores leftover bits. So both
//! alphabets are accepted and anything after an `=` is ignored.

use serde_json::Value;

use super::error::JwtError;
use crate::config::gateway::JwtAlgorithm;

/// A decoded, not yet verified token.
#[derive(Debug, Clone)]
pub struct DecodedJwt {
    /// The header, an object with a known `alg`.
    pub header: Value,
    /// The claims, any JSON value (Kong indexes whatever `cjson` returned).
    pub claims: Value,
    pub alg: JwtAlgorithm,
    /// `header_64 "." claims_64`, the bytes the signature covers.
    pub signing_input: Vec<u8>,
    /// The decoded signature bytes.
    pub signature: Vec<u8>,
}

/// Decodes `token` with Kong's rules and messages.
///
/// # Errors
/// `InvalidJson`, `InvalidAlg`, `InvalidSignatureEncoding`, or `Unexpected` when the header is
/// a JSON number, boolean or null (Kong's `header.alg` raises a Lua error there).
pub fn decode_token(token: &[u8]) -> Result<DecodedJwt, JwtError> {
    let mut parts = token.splitn(3, |&b| b == b'.');
    let (Some(header_64), Some(claims_64), Some(signature_64)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::InvalidJson);
    };

    let json = |segment: &[u8]| -> Option<Value> {
        serde_json::from_slice(&kong_base64_decode(segment)?).ok()
    };
    let (Some(header), Some(claims)) = (json(header_64), json(claims_64)) else {
        return Err(JwtError::InvalidJson);
    };
    let signature = kong_base64_decode(signature_64);

    let alg = match &header {
        Value::Object(map) => map
            .get("alg")
            .and_then(Value::as_str)
            .and_then(JwtAlgorithm::parse),
        // A Lua string or table: indexing `.alg` yields nil.
        Value::String(_) | Value::Array(_) => None,
        Value::Number(_) | Value::Bool(_) | Value::Null => {
            return Err(JwtError::Unexpected {
                cause: "token header is a JSON scalar",
            })
        }
    };
    let alg = alg.ok_or(JwtError::InvalidAlg)?;
    let signature = signature.ok_or(JwtError::InvalidSignatureEncoding)?;

    let mut signing_input = Vec::with_capacity(header_64.len() + 1 + claims_64.len());
    signing_input.extend_from_slice(header_64);
    signing_input.push(b'.');
    signing_input.extend_from_slice(claims_64);

    Ok(DecodedJwt {
        header,
        claims,
        alg,
        signing_input,
        signature,
    })
}

/// Kong's `jwt_parser.base64_decode` (also used for `secret_is_base64` secrets).
pub fn kong_base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    /// Each byte's sextet (standard and URL-safe alphabets), or `INVALID`.
    const INVALID: u8 = 0xFF;
    const SEXTETS: [u8; 256] = {
        let mut table = [INVALID; 256];
        let mut i = 0;
        while i < 26 {
            table[b'A' as usize + i] = i as u8;
            table[b'a' as usize + i] = i as u8 + 26;
            i += 1;
        }
        let mut d = 0;
        while d < 10 {
            table[b'0' as usize + d] = d as u8 + 52;
            d += 1;
        }
        table[b'+' as usize] = 62;
        table[b'-' as usize] = 62;
        table[b'/' as usize] = 63;
        table[b'_' as usize] = 63;
        table
    };
    let data = match input.iter().position(|&b| b == b'=') {
        Some(eq) => &input[..eq],
        None => input,
    };
    if data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    for chunk in data.chunks(4) {
        let mut n = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            let sextet = SEXTETS[usize::from(b)];
            if sextet == INVALID {
                return None;
            }
            n |= u32::from(sextet) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{encode_segment, Malformed, TokenSpec};
    use serde_json::json;

    fn err(token: &str) -> JwtError {
        decode_token(token.as_bytes()).expect_err("should fail")
    }

    #[test]
    fn base64_accepts_both_alphabets_missing_padding_and_leftover_bits() {
        assert_eq!(kong_base64_decode(b"aGk"), Some(b"hi".to_vec()));
        assert_eq!(kong_base64_decode(b"aGk="), Some(b"hi".to_vec()));
        assert_eq!(kong_base64_decode(b"aGl"), Some(b"hi".to_vec()));
        assert_eq!(kong_base64_decode(b"-_-_"), kong_base64_decode(b"+/+/"));
        assert_eq!(kong_base64_decode(b""), Some(vec![]));
    }

    #[test]
    fn base64_rejects_stray_characters_and_a_lone_trailing_sextet() {
        assert_eq!(kong_base64_decode(b"aGk.eA"), None);
        assert_eq!(kong_base64_decode(b"aGk eA"), None);
        assert_eq!(kong_base64_decode(b"aGlhY"), None);
    }

    #[test]
    fn base64_ignores_everything_after_the_first_equals_sign() {
        assert_eq!(kong_base64_decode(b"aGk=!!!"), Some(b"hi".to_vec()));
    }

    #[test]
    fn a_signed_token_decodes_with_its_signing_input() {
        let token = TokenSpec::new("k", "s").sign().expect("sign");
        let jwt = decode_token(token.as_bytes()).expect("decodes");
        assert_eq!(jwt.alg, JwtAlgorithm::HS256);
        assert_eq!(jwt.claims, json!({"iss": "k"}));
        assert_eq!(jwt.signature.len(), 32);
        let (input, _) = token.rsplit_once('.').expect("dots");
        assert_eq!(jwt.signing_input, input.as_bytes());
    }

    #[test]
    fn fewer_than_three_segments_is_invalid_json() {
        assert_eq!(err("abc"), JwtError::InvalidJson);
        assert_eq!(err(&Malformed::TwoSegments.token()), JwtError::InvalidJson);
        assert_eq!(err(""), JwtError::InvalidJson);
        assert_eq!(err(".."), JwtError::InvalidJson);
    }

    #[test]
    fn non_json_or_non_base64_segments_are_invalid_json() {
        assert_eq!(
            err(&Malformed::HeaderNotJson.token()),
            JwtError::InvalidJson
        );
        assert_eq!(
            err(&Malformed::ClaimsNotJson.token()),
            JwtError::InvalidJson
        );
        assert_eq!(err(&Malformed::Garbage.token()), JwtError::InvalidJson);
        let token = TokenSpec::new("k", "s").sign().expect("sign");
        assert_eq!(err(&format!("garbage{token}")), JwtError::InvalidJson);
    }

    #[test]
    fn missing_unknown_none_or_non_string_alg_is_invalid_alg() {
        assert_eq!(err(&Malformed::MissingAlg.token()), JwtError::InvalidAlg);
        let claims = encode_segment(&json!({"iss": "k"}));
        for header in [
            json!({"alg": "none"}),
            json!({"alg": "HS257"}),
            json!({"alg": 256}),
            json!({"alg": "hs256"}),
            json!("HS256"),
            json!(["HS256"]),
        ] {
            let token = format!("{}.{claims}.c2ln", encode_segment(&header));
            assert_eq!(err(&token), JwtError::InvalidAlg, "header {header}");
        }
    }

    #[test]
    fn a_scalar_header_is_a_lua_error_in_kong() {
        let claims = encode_segment(&json!({"iss": "k"}));
        let token = format!("{}.{claims}.c2ln", encode_segment(&json!(7)));
        assert!(matches!(err(&token), JwtError::Unexpected { .. }));
    }

    #[test]
    fn a_fourth_segment_makes_the_signature_undecodable() {
        let token = TokenSpec::new("k", "s").sign().expect("sign");
        assert_eq!(
            err(&format!("{token}.extra")),
            JwtError::InvalidSignatureEncoding
        );
    }

    #[test]
    fn alg_is_checked_before_the_signature_encoding() {
        let token = format!(
            "{}.{}.a.b",
            encode_segment(&json!({"alg": "none"})),
            encode_segment(&json!({}))
        );
        assert_eq!(err(&token), JwtError::InvalidAlg);
    }

    #[test]
    fn an_empty_signature_decodes_to_no_bytes() {
        let token = format!(
            "{}.{}.",
            encode_segment(&json!({"alg": "HS256"})),
            encode_segment(&json!({}))
        );
        assert!(decode_token(token.as_bytes())
            .expect("decodes")
            .signature
            .is_empty());
    }
}
