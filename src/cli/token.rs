//! `gauntlet token`: a signed JWT on the last line, for curl and for the runbook.
//!
//! `gauntlet token --consumer admin-user [--stack DIR] [--minutes N]` signs with the consumer's
//! credential from `kong.yml` (its algorithm; for RS/PS/ES/EdDSA credentials the private key
//! comes from `--key-file`); `gauntlet token <key> <secret> [minutes]` signs HS256 with the given
//! pair; `gauntlet token <key> --key-file PEM --algorithm ES256` signs with a private key. Times
//! are the running `gauntlet up` stack's (`GET /clock` on its control API, found as `gauntlet
//! chaos` finds it), so a token minted after `chaos advance 1h` is valid there; real time when no
//! stack answers or with `--real-time`. Which clock was used goes to stderr.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use clap::Args;
use serde_json::json;

use super::Exit;
use crate::api::access::ApiToken;
use crate::clock::real_wall_now;
use crate::config::gateway::JwtAlgorithm;
use crate::config::StackDef;
use crate::http::client::{HttpClient, OutgoingRequest};
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
    /// The running stack's control API, whose clock the token follows (default:
    /// GAUNTLET_CONTROL, else the control port of --stack's stack.yml).
    #[arg(long)]
    pub control: Option<String>,
    /// The --port-offset `gauntlet up` was started with.
    #[arg(long, default_value_t = 0)]
    pub port_offset: u16,
    /// The API token `gauntlet up` was started with (default: GAUNTLET_API_TOKEN).
    #[arg(long, hide_env_values = true)]
    pub api_token: Option<String>,
    /// Use real time, without asking a running stack.
    #[arg(long)]
    pub real_time: bool,
}

pub async fn execute(args: TokenArgs) -> Exit {
    let now = match clock(&args).await {
        Ok((now, which)) => {
            eprintln!("clock: {which}");
            now
        }
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Usage;
        }
    };
    match issue(&args, now) {
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

/// The time tokens are minted at (seconds since 1970) and which clock gave it: the running
/// stack's, or real time when none answers.
async fn clock(args: &TokenArgs) -> Result<(u64, String), String> {
    let real = real_wall_now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|e| e.to_string())?;
    if args.real_time {
        return Ok((real, "real time (--real-time)".into()));
    }
    let Ok(base) =
        super::chaos::control_url(args.control.as_deref(), &args.stack, args.port_offset)
    else {
        return Ok((real, "real time (no stack to ask)".into()));
    };
    let mut request = OutgoingRequest::new(http::Method::GET, format!("{base}/clock"));
    if let Some(token) = ApiToken::from_arg_or_env(args.api_token.as_deref()) {
        request = request
            .header("authorization", &format!("Bearer {}", token.expose()))
            .map_err(|_| "the API token is not a valid header value".to_string())?;
    }
    let answer = HttpClient::new(Duration::from_secs(5)).send(&request).await;
    let stack_time = match &answer {
        Ok(response) if response.status == 200 => response
            .json()
            .and_then(|v| Some((v["unix_seconds"].as_u64()?, v["offset_seconds"].as_f64()?))),
        _ => None,
    };
    Ok(match (stack_time, answer) {
        (Some((now, offset)), _) => (
            now,
            format!("the running stack's at {base} ({offset} s ahead of real time)"),
        ),
        (None, Ok(response)) if response.status == 401 => (
            real,
            format!("real time (the control API at {base} wants its --api-token)"),
        ),
        (None, _) => (
            real,
            format!("real time (no `gauntlet up` answers at {base})"),
        ),
    })
}

const USAGE: &str = "usage: gauntlet token --consumer NAME [--key-file PEM] [--minutes N] | gauntlet token <key> <secret> [minutes] | gauntlet token <key> --key-file PEM --algorithm ALG";

/// The lines `gauntlet token` prints at `now` (seconds since 1970); the token is the last.
pub fn issue(args: &TokenArgs, now: u64) -> Result<Vec<String>, String> {
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
