//! `gauntlet token`: a signed HS256 JWT on the last line, for curl and for the runbook.
//!
//! `gauntlet token --consumer admin-user [--stack DIR] [--minutes N]` signs with the consumer's
//! credential from `kong.yml`; `gauntlet token <key> <secret> [minutes]` signs with the given
//! pair. Times are real wall-clock time (there is no running stack to ask).

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use clap::Args;

use super::Exit;
use crate::clock::real_wall_now;
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
    /// `<key> <secret> [minutes]`.
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

/// The lines `gauntlet token` prints; the token is the last.
pub fn issue(args: &TokenArgs) -> Result<Vec<String>, String> {
    let now = real_wall_now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|e| e.to_string())?;
    let (key, secret, minutes, note) = match (&args.consumer, args.pair.as_slice()) {
        (Some(consumer), []) => {
            let stack = StackDef::load(&args.stack).map_err(|e| e.to_string())?;
            let (_, found) = stack.gateway.consumer_by_name(consumer).ok_or_else(|| {
                let known: Vec<String> =
                    stack.gateway.consumers.iter().map(|c| c.display_name()).collect();
                format!("no consumer {consumer:?} in {}; known: {}", stack.dir.display(), known.join(", "))
            })?;
            let credential = found
                .jwt_secrets
                .first()
                .ok_or_else(|| format!("consumer {consumer:?} has no jwt_secrets credential"))?;
            let minutes = args.minutes.unwrap_or(60);
            let max = stack.gateway.max_token_lifetime().map(|d| d.as_secs());
            let note = max
                .filter(|max| minutes.saturating_mul(60) > *max)
                .map(|max| format!("note: the stack's jwt maximum_expiration is {max} s; the gateway will reject this token"));
            (credential.key.clone(), credential.secret.clone(), minutes, note)
        }
        (None, [key, secret]) => (key.clone(), secret.clone(), args.minutes.unwrap_or(60), None),
        (None, [key, secret, minutes]) => {
            let minutes = minutes
                .parse::<u64>()
                .map_err(|_| format!("minutes must be a whole number, got {minutes:?}"))?;
            (key.clone(), secret.clone(), minutes, None)
        }
        _ => {
            return Err("usage: gauntlet token --consumer NAME [--minutes N] | gauntlet token <key> <secret> [minutes]".into())
        }
    };
    // JWT times are seconds since 1970; a lifetime past year 9999 is a typo, not a token.
    const MAX_MINUTES: u64 = 4_000_000_000;
    if minutes > MAX_MINUTES {
        return Err(format!(
            "minutes must be at most {MAX_MINUTES}, got {minutes}"
        ));
    }
    let lifetime = minutes * 60;
    let jwt = token::issue(&key, &secret, now, Duration::from_secs(lifetime));
    let mut lines = vec![format!(
        "iss={key} iat={now} nbf={now} exp={} ({minutes} min, HS256)",
        now + lifetime
    )];
    lines.extend(note);
    lines.push(jwt);
    Ok(lines)
}
