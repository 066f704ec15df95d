//! The mesh's intentions at run time (SPEC §6, MESH-3, MESH-5, MESH-6): a pure decision
//! function over the validated entries that [`crate::config::intentions`] loads, and the
//! mutable store that the catalog API edits on a running stack.
//!
//! ```text
//!   config::intentions ─► Vec<IntentionEntry> ─► Intentions { entries, default action }
//!                                                   │ decide(src, dst, Option<&HttpRequestView>)
//!   catalog API ─► IntentionStore (snapshot swap) ──┘ put_exact / delete_exact / check / list
//! ```

pub mod decide;
pub mod store;

pub use decide::{Decision, Matched, Reason};
pub use store::{CheckResponse, IntentionApiError, IntentionStore, IntentionView};

pub use crate::config::intentions::{
    Action, HeaderMatch, HeaderMatchKind, HttpMatch, HttpRequestView, IntentionEntry, MeshServices,
    PathMatch, Pattern, Permission, Rule, ServiceMatch, SourceIntention,
};

/// A validated, immutable set of intentions and the stack's default action.
#[derive(Debug, Clone, PartialEq)]
pub struct Intentions {
    entries: Vec<IntentionEntry>,
    default: Action,
}

impl Intentions {
    pub fn new(entries: Vec<IntentionEntry>, default: Action) -> Self {
        Intentions { entries, default }
    }

    pub fn entries(&self) -> &[IntentionEntry] {
        &self.entries
    }

    /// What applies when no intention governs a pair (valueverse: deny).
    pub fn default_action(&self) -> Action {
        self.default
    }

    /// Decides `source` → `destination`; `request` is `None` for tcp traffic.
    pub fn decide(
        &self,
        source: &str,
        destination: &str,
        request: Option<&HttpRequestView<'_>>,
    ) -> Decision {
        decide::decide(&self.entries, self.default, source, destination, request)
    }

    /// Consul's `intentions/check`: the L4 answer, an L7 intention counting as deny.
    pub fn check(&self, source: &str, destination: &str) -> bool {
        self.decide(source, destination, None).allowed()
    }
}

#[cfg(test)]
mod tests;
