//! JWS signatures (RFC 7518) for every algorithm Kong 3.x's jwt plugin accepts: HS256/384/512,
//! RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA (Ed25519).
//!
//! ```text
//!   kong.yml rsa_public_key ──parse_public_key (at load)──► PublicKey ──► verify (jwt plugin)
//!   private key PEM / secret ──────────────────────────────► sign (gauntlet token, steps, tests)
//! ```
//!
//! The cryptography is the `jsonwebtoken` crate's (aws-lc-rs backend), except ES512, which that
//! crate lacks: it is aws-lc-rs's ECDSA P-521 directly. Signatures are the JOSE forms (raw
//! `r || s` for ECDSA), as Kong's `jwt_parser` expects.
//!
//! Kong validates `rsa_public_key` with `openssl.pkey.new` (`kong/plugins/jwt/daos.lua`
//! `validate_ssl_key`: "invalid key"): any key PEM loads, whatever the credential's algorithm;
//! a key of another family than the algorithm then fails every verification ("Invalid
//! signature"). [`PublicKey`] keeps that: it parses any RSA, EC (P-256/384/521) or Ed25519 public
//! key and [`verify`] returns false across families.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, UnparsedPublicKey, ECDSA_P521_SHA512_FIXED, ECDSA_P521_SHA512_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use crate::config::gateway::JwtAlgorithm;

/// Why a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a PEM public key Kong's OpenSSL would load.
    #[error("invalid key")]
    InvalidPublicKey,
    /// Not a private key of the algorithm's family (PEM, PKCS#1 or PKCS#8).
    #[error("not a {0} private key in PEM form ({1})")]
    InvalidPrivateKey(&'static str, String),
}

/// A parsed public key (`rsa_public_key`), of any family.
#[derive(Clone)]
pub struct PublicKey {
    family: Family,
    /// For RSA, EC P-256/P-384 and Ed25519.
    decoding: Option<DecodingKey>,
    /// The uncompressed P-521 point, for ES512.
    p521_point: Option<Vec<u8>>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    Ec,
    Ed25519,
}

/// DER of the curve OID secp521r1 (1.3.132.0.35).
const SECP521R1_OID: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
/// `0x04 || x || y`, 66 bytes each.
const P521_POINT_LEN: usize = 133;

/// Parses a public key PEM (`PUBLIC KEY`, or PKCS#1 `RSA PUBLIC KEY`).
///
/// # Errors
/// [`KeyError::InvalidPublicKey`] (Kong's message, "invalid key").
pub fn parse_public_key(pem_text: &str) -> Result<PublicKey, KeyError> {
    let bytes = pem_text.trim().as_bytes();
    if let Ok(decoding) = DecodingKey::from_rsa_pem(bytes) {
        return Ok(PublicKey {
            family: Family::Rsa,
            decoding: Some(decoding),
            p521_point: None,
        });
    }
    if let Ok(decoding) = DecodingKey::from_ed_pem(bytes) {
        return Ok(PublicKey {
            family: Family::Ed25519,
            decoding: Some(decoding),
            p521_point: None,
        });
    }
    if let Ok(decoding) = DecodingKey::from_ec_pem(bytes) {
        let der = pem::parse(bytes)
            .map(|p| p.into_contents())
            .unwrap_or_default();
        let p521_point = der
            .windows(SECP521R1_OID.len())
            .any(|w| w == SECP521R1_OID)
            .then(|| der.len().checked_sub(P521_POINT_LEN))
            .flatten()
            .map(|start| der[start..].to_vec())
            .filter(|point| point.first() == Some(&0x04));
        return Ok(PublicKey {
            family: Family::Ec,
            decoding: Some(decoding),
            p521_point,
        });
    }
    Err(KeyError::InvalidPublicKey)
}

/// The `jsonwebtoken` algorithm for `alg`, or `None` for ES512.
fn crate_algorithm(alg: JwtAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::HS384 => Algorithm::HS384,
        JwtAlgorithm::HS512 => Algorithm::HS512,
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::RS384 => Algorithm::RS384,
        JwtAlgorithm::RS512 => Algorithm::RS512,
        JwtAlgorithm::PS256 => Algorithm::PS256,
        JwtAlgorithm::PS384 => Algorithm::PS384,
        JwtAlgorithm::PS512 => Algorithm::PS512,
        JwtAlgorithm::ES256 => Algorithm::ES256,
        JwtAlgorithm::ES384 => Algorithm::ES384,
        JwtAlgorithm::EdDSA => Algorithm::EdDSA,
        JwtAlgorithm::ES512 => return None,
    })
}

fn family_of(alg: JwtAlgorithm) -> Option<Family> {
    match alg.as_str().get(..2) {
        Some("RS" | "PS") => Some(Family::Rsa),
        Some("ES") => Some(Family::Ec),
        Some("Ed") => Some(Family::Ed25519),
        _ => None,
    }
}

/// Whether `signature` is `key`'s signature of `message` under the asymmetric `alg`. False for
/// an HMAC algorithm or a key of another family.
pub fn verify(alg: JwtAlgorithm, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    if family_of(alg) != Some(key.family) {
        return false;
    }
    match (crate_algorithm(alg), &key.decoding, &key.p521_point) {
        (None, _, Some(point)) => UnparsedPublicKey::new(&ECDSA_P521_SHA512_FIXED, point)
            .verify(message, signature)
            .is_ok(),
        (Some(algorithm), Some(decoding), _) => {
            let encoded = URL_SAFE_NO_PAD.encode(signature);
            jsonwebtoken::crypto::verify(&encoded, message, decoding, algorithm).unwrap_or(false)
        }
        _ => false,
    }
}

/// Signs `message` with the private key PEM `private_pem` under the asymmetric `alg`.
///
/// # Errors
/// [`KeyError::InvalidPrivateKey`] when the PEM is not a private key of `alg`'s family.
pub fn sign(alg: JwtAlgorithm, private_pem: &[u8], message: &[u8]) -> Result<Vec<u8>, KeyError> {
    let bad = |e: String| KeyError::InvalidPrivateKey(family_name(alg), e);
    let Some(algorithm) = crate_algorithm(alg) else {
        let der = pem::parse(private_pem)
            .map_err(|e| bad(e.to_string()))?
            .into_contents();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P521_SHA512_FIXED_SIGNING, &der)
            .map_err(|e| bad(e.to_string()))?;
        let signature = pair
            .sign(&SystemRandom::new(), message)
            .map_err(|e| bad(e.to_string()))?;
        return Ok(signature.as_ref().to_vec());
    };
    let key = match family_of(alg) {
        Some(Family::Rsa) => EncodingKey::from_rsa_pem(private_pem),
        Some(Family::Ec) => EncodingKey::from_ec_pem(private_pem),
        Some(Family::Ed25519) => EncodingKey::from_ed_pem(private_pem),
        None => EncodingKey::from_secret(private_pem),
    }
    .map_err(|e| bad(e.to_string()))?;
    let encoded =
        jsonwebtoken::crypto::sign(message, &key, algorithm).map_err(|e| bad(e.to_string()))?;
    URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|e| bad(e.to_string()))
}

fn family_name(alg: JwtAlgorithm) -> &'static str {
    match family_of(alg) {
        Some(Family::Rsa) => "RSA",
        Some(Family::Ec) => match alg {
            JwtAlgorithm::ES256 => "EC P-256",
            JwtAlgorithm::ES384 => "EC P-384",
            _ => "EC P-521",
        },
        Some(Family::Ed25519) => "Ed25519",
        None => "HMAC",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> String {
        let path = format!(
            "{}/features/auth/keys/{name}.pem",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// (algorithm, private key, public key) for every asymmetric algorithm Kong accepts.
    fn pairs() -> Vec<(JwtAlgorithm, &'static str, &'static str)> {
        use JwtAlgorithm::*;
        vec![
            (RS256, "rsa-private", "rsa-public"),
            (RS384, "rsa-private", "rsa-public"),
            (RS512, "rsa-private", "rsa-public"),
            (PS256, "rsa-private", "rsa-public"),
            (PS384, "rsa-private", "rsa-public"),
            (PS512, "rsa-private", "rsa-public"),
            (ES256, "ec-p256-private", "ec-p256-public"),
            (ES384, "ec-p384-private", "ec-p384-public"),
            (ES512, "ec-p521-private", "ec-p521-public"),
            (EdDSA, "ed25519-private", "ed25519-public"),
        ]
    }

    #[test]
    fn every_asymmetric_algorithm_signs_and_verifies_with_its_key_pair() {
        for (alg, private, public) in pairs() {
            let signature = sign(alg, key(private).as_bytes(), b"h.c").expect("signs");
            let public = parse_public_key(&key(public)).expect("parses");
            assert!(verify(alg, &public, b"h.c", &signature), "{alg:?}");
            assert!(
                !verify(alg, &public, b"h.d", &signature),
                "{alg:?} other message"
            );
        }
    }

    #[test]
    fn a_signature_by_another_key_or_family_does_not_verify() {
        let other = sign(
            JwtAlgorithm::RS256,
            key("rsa-other-private").as_bytes(),
            b"m",
        )
        .expect("signs");
        let rsa = parse_public_key(&key("rsa-public")).expect("parses");
        assert!(!verify(JwtAlgorithm::RS256, &rsa, b"m", &other));
        // An EC key on an RS256 credential loads (as in Kong) but verifies nothing.
        let ec = parse_public_key(&key("ec-p256-public")).expect("parses");
        let by_rsa = sign(JwtAlgorithm::RS256, key("rsa-private").as_bytes(), b"m").expect("signs");
        assert!(!verify(JwtAlgorithm::RS256, &ec, b"m", &by_rsa));
        // ES256 with a P-521 key, ES512 with a P-256 key.
        let p521 = parse_public_key(&key("ec-p521-public")).expect("parses");
        let by_p256 =
            sign(JwtAlgorithm::ES256, key("ec-p256-private").as_bytes(), b"m").expect("signs");
        assert!(!verify(JwtAlgorithm::ES256, &p521, b"m", &by_p256));
        assert!(!verify(JwtAlgorithm::ES512, &ec, b"m", &by_p256));
        assert!(!verify(JwtAlgorithm::HS256, &rsa, b"m", &by_rsa));
    }

    #[test]
    fn a_public_key_that_is_not_a_key_is_kongs_invalid_key() {
        assert_eq!(
            parse_public_key("PEM").unwrap_err().to_string(),
            "invalid key"
        );
        let truncated: String = key("rsa-public")
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(parse_public_key(&truncated).is_err());
    }

    #[test]
    fn signing_with_a_key_of_another_family_fails() {
        let err = sign(JwtAlgorithm::ES256, key("rsa-private").as_bytes(), b"m").unwrap_err();
        assert!(
            err.to_string().starts_with("not a EC P-256 private key"),
            "{err}"
        );
        assert!(sign(JwtAlgorithm::ES512, b"secret", b"m").is_err());
    }
}
