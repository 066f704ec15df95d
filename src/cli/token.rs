//! `gauntlet token`: a signed JWT on the last line, for curl and for the runbook.
//!
//! `gauntlet token --consumer admin-user [--stack DIR] [--minutes N]` signs with the consumer's
//! credential from `kong.yml` (its algorithm; for RS/PS/ES/EdDSA credentials the private key
//! comes from `--key-file`); `gauntlet token <key> <secret> [minutes]` signs HS256 with the given
//! pair; `gauntlet token <key> --key-file PEM --algorithm ES256` signs with a private key. Times
//! are real wall-clock time (there is no running stack to ask).

use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use clap::Args;
use serde_json::json;

use super::Exit;
use crate::clock::real_wall_now;
use crate::config::gateway::JwtAlgorithm;
use crate::config::StackDef;
use crate::token;

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Consumer whose jwt credential signs the token.
    #[arg(long, conflicts_with = "pair")]
    pub consumer: Option<String>,
    /// Stack definition folder (with --consumer).
    #[arg(long, default_value = "scenarios/valueverse")]
    pub stack: PathBuf,
    /// Lifetime in minutes (default 60).
    #[arg(long)]
    pub minutes: Option<u64>,
    /// Private key PEM (PKCS#8, or PKCS#1 for RSA) for an RS/PS/ES/EdDSA token.
    #[arg(long, value_name = "PEM")]
    pub key_file: Option<PathBuf>,
    /// Algorithm (HS256 … EdDSA); default: the consumer's credential's, else HS256.
    #[arg(long, value_name = "ALG")]
    pub algorithm: Option<String>,
    /// `<key> <secret> [minutes]`, or `<key>` with --key-file.
    #[arg(id = "pair", num_args = 0..=3, value_name = "KEY SECRET [MINUTES]")]
    pub pair: Vec<String>,
}

pub fn execute(args: TokenArgs) -> Exit {
    match issue(&args) {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            Exit::Success
        }
        Err(message) => {
            eprintln!("error: {message}");
            Exit::Usage
        }
    }
}

const USAGE: &str = "usage: gauntlet token --consumer NAME [--key-file PEM] [--minutes N] | gauntlet token <key> <secret> [minutes] | gauntlet token <key> --key-file PEM --algorithm ALG";

/// The lines `gauntlet token` prints; the token is the last.
pub fn issue(args: &TokenArgs) -> Result<Vec<String>, String> {
    let now = real_wall_now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|e| e.to_string())?;
    let chosen = match args.algorithm.as_deref() {
        None => None,
        Some(a) => Some(JwtAlgorithm::parse(a).ok_or_else(|| {
            let all: Vec<&str> = crate::config::gateway::ALL_ALGORITHMS
                .iter()
                .map(|a| a.as_str())
                .collect();
            format!(
                "unknown algorithm {a:?}; expected one of: {}",
                all.join(", ")
            )
        })?),
    };
    let private_key = match &args.key_file {
        None => None,
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?,
        ),
    };
    let (key, secret, alg, minutes, note) = match (&args.consumer, args.pair.as_slice()) {
        (Some(consumer), []) => {
            let stack = StackDef::load(&args.stack).map_err(|e| e.to_string())?;
            let (_, found) = stack.gateway.consumer_by_name(consumer).ok_or_else(|| {
                let known: Vec<String> = stack
                    .gateway
                    .consumers
                    .iter()
                    .map(|c| c.display_name())
                    .collect();
                format!(
                    "no consumer {consumer:?} in {}; known: {}",
                    stack.dir.display(),
                    known.join(", ")
                )
            })?;
            let credential = found
                .jwt_secrets
                .first()
                .ok_or_else(|| format!("consumer {consumer:?} has no jwt_secrets credential"))?;
            let alg = chosen.unwrap_or(credential.algorithm);
            if !alg.is_hmac() && private_key.is_none() {
                return Err(format!(
                    "consumer {consumer:?} signs {}: give its private key with --key-file PEM",
                    alg.as_str()
                ));
            }
            let minutes = args.minutes.unwrap_or(60);
            let max = stack.gateway.max_token_lifetime().map(|d| d.as_secs());
            let note = max
                .filter(|max| minutes.saturating_mul(60) > *max)
                .map(|max| format!("note: the stack's jwt maximum_expiration is {max} s; the gateway will reject this token"));
            (
                credential.key.clone(),
                credential.secret.clone().into_bytes(),
                alg,
                minutes,
                note,
            )
        }
        (None, [key]) if private_key.is_some() => {
            let alg = chosen.ok_or("with --key-file and a key, name the algorithm: --algorithm RS256 (or PS*, ES*, EdDSA)")?;
            (
                key.clone(),
                Vec::new(),
                alg,
                args.minutes.unwrap_or(60),
                None,
            )
        }
        (None, [key, secret]) if private_key.is_none() => (
            key.clone(),
            secret.clone().into_bytes(),
            chosen.unwrap_or(JwtAlgorithm::HS256),
            args.minutes.unwrap_or(60),
            None,
        ),
        (None, [key, secret, minutes]) if private_key.is_none() => {
            let minutes = minutes
                .parse::<u64>()
                .map_err(|_| format!("minutes must be a whole number, got {minutes:?}"))?;
            (
                key.clone(),
                secret.clone().into_bytes(),
                chosen.unwrap_or(JwtAlgorithm::HS256),
                minutes,
                None,
            )
        }
        _ => return Err(USAGE.into()),
    };
    // JWT times are seconds since 1970; a lifetime past year 9999 is a typo, not a token.
    const MAX_MINUTES: u64 = 4_000_000_000;
    if minutes > MAX_MINUTES {
        return Err(format!(
            "minutes must be at most {MAX_MINUTES}, got {minutes}"
        ));
    }
    let lifetime = minutes * 60;
    let signing_key = match (alg.is_hmac(), &private_key) {
        (false, Some(pem)) => pem.as_slice(),
        (false, None) => {
            return Err(format!(
                "{} needs a private key: --key-file PEM",
                alg.as_str()
            ))
        }
        (true, _) => secret.as_slice(),
    };
    let claims = json!({"iss": key, "iat": now, "nbf": now, "exp": now + lifetime});
    let header = json!({"alg": alg.as_str(), "typ": "JWT"});
    let jwt = token::sign(&header, &claims, signing_key, alg).map_err(|e| e.to_string())?;
    let mut lines = vec![format!(
        "iss={key} iat={now} nbf={now} exp={} ({minutes} min, {})",
        now + lifetime,
        alg.as_str()
    )];
    lines.extend(note);
    lines.push(jwt);
    Ok(lines)
}
