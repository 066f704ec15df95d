//! Tokens whose signature verified, so a token seen again skips decoding and the HMAC or RSA
//! check (as Envoy's `jwt_authn` does with `jwt_cache_config`).
//!
//! ```text
//!   token ──► cache hit?  ── yes ──────────────────────────────────┐
//!               │ no                                               ▼
//!               └─► decode ─► key claim ─► credential ─► alg ─► signature ─► remember ─► claims (exp, nbf,
//!                                                                                       maximum_expiration)
//! ```
//! Everything before the claims depends only on the token's bytes and on the configuration,
//! which is fixed for the gateway's life (the plugin instance, keyed by its id, and the
//! consumers). The time-dependent checks run on every request against the stack clock, so a
//! remembered token still expires, and a jump of the clock still makes it not yet valid or
//! expired. Only tokens that verified are remembered; a refused one is decided afresh each time.
//! The cache holds tokens (credentials): its `Debug` shows only how many.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use uuid::Uuid;

use crate::gateway::context::CredentialRef;

/// Tokens kept per gateway; past this the cache starts again empty (a load test uses a handful
/// of tokens, so this is never reached in practice).
pub const CAPACITY: usize = 1024;

/// What verifying a token's signature established.
#[derive(Debug)]
pub struct Verified {
    /// The token's claims, for the checks that depend on the time.
    pub claims: Value,
    /// Index of the credential's consumer.
    pub consumer: usize,
    pub credential: CredentialRef,
}

/// Verified tokens of one gateway, by jwt plugin instance.
#[derive(Default)]
pub struct VerifiedTokens {
    /// Plugin instance id → token → what verifying it established.
    tokens: Mutex<HashMap<Uuid, ByToken>>,
}

/// One plugin instance's verified tokens.
type ByToken = HashMap<Box<[u8]>, Arc<Verified>>;

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("tokens", &self.len())
            .finish()
    }
}

impl VerifiedTokens {
    /// What plugin instance `plugin` established about `token` before, if it verified.
    pub fn get(&self, plugin: Uuid, token: &[u8]) -> Option<Arc<Verified>> {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens.get(&plugin)?.get(token).cloned()
    }

    /// Remembers that `token` verified under plugin instance `plugin`.
    pub fn insert(&self, plugin: Uuid, token: &[u8], verified: Arc<Verified>) {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if tokens.values().map(HashMap::len).sum::<usize>() >= CAPACITY {
            tokens.clear();
        }
        tokens
            .entry(plugin)
            .or_default()
            .insert(Box::from(token), verified);
    }

    /// Tokens remembered.
    pub fn len(&self) -> usize {
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(HashMap::len)
            .sum()
    }

    /// Whether no token is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified() -> Arc<Verified> {
        Arc::new(Verified {
            claims: Value::Null,
            consumer: 0,
            credential: CredentialRef {
                id: Uuid::nil(),
                key: "k".into(),
            },
        })
    }

    #[test]
    fn a_token_is_remembered_per_plugin_instance() {
        let cache = VerifiedTokens::default();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        cache.insert(a, b"t", verified());
        assert!(cache.get(a, b"t").is_some());
        assert!(
            cache.get(b, b"t").is_none(),
            "another instance verifies afresh"
        );
        assert!(cache.get(a, b"u").is_none());
    }

    #[test]
    fn a_full_cache_starts_again_and_never_grows_past_its_capacity() {
        let cache = VerifiedTokens::default();
        for i in 0..=CAPACITY {
            cache.insert(Uuid::nil(), i.to_string().as_bytes(), verified());
        }
        assert!(cache.len() <= CAPACITY);
        assert!(cache
            .get(Uuid::nil(), CAPACITY.to_string().as_bytes())
            .is_some());
    }

    #[test]
    fn its_debug_shows_no_token() {
        let cache = VerifiedTokens::default();
        cache.insert(Uuid::nil(), b"secret-token", verified());
        let shown = format!("{cache:?}");
        assert!(!shown.contains("secret-token"), "{shown}");
    }
}
