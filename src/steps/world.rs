//! The World: everything one scenario owns. Each scenario gets its own stack on ephemeral ports,
//! started on first use and stopped when the World is dropped.

use std::sync::Arc;

use cucumber::World;

use crate::config::StackDef;
use crate::http::client::{HttpClient, OutgoingRequest, ReceivedResponse};
use crate::target::{RunTarget, ScenarioStack};

/// Settings shared by every scenario of a run.
#[derive(Debug)]
pub struct RunSettings {
    pub stack: Arc<StackDef>,
    /// "N seconds pass" sleeps for real instead of jumping the clock.
    pub real_time: bool,
    pub seed: u64,
    /// Where each scenario's stack runs (SPEC §13).
    pub target: RunTarget,
}

/// A step failure, worded for a QA engineer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StepError(pub String);

impl StepError {
    pub fn new(message: impl Into<String>) -> Self {
        StepError(message.into())
    }
}

macro_rules! impl_from_error {
    ($($t:ty),*) => {$(
        impl From<$t> for StepError {
            fn from(e: $t) -> Self { StepError(e.to_string()) }
        }
    )*};
}
impl_from_error!(
    crate::stack::StackError,
    crate::target::TargetError,
    crate::http::client::ClientError,
    crate::token::TokenError
);

pub type StepResult = Result<(), StepError>;

/// Where the current token travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenPlacement {
    /// `Authorization: <scheme> <token>`.
    Header { name: String, scheme: String },
    /// `?<name>=<token>`.
    Query(String),
    /// `Cookie: <name>=<token>`.
    Cookie(String),
}

impl Default for TokenPlacement {
    fn default() -> Self {
        TokenPlacement::Header {
            name: "Authorization".into(),
            scheme: "Bearer".into(),
        }
    }
}

/// A token to attach to requests, and where.
#[derive(Debug, Clone)]
pub struct AttachedToken {
    pub token: String,
    pub placement: TokenPlacement,
}

/// A request sent in the background ("I start a GET request to …").
#[derive(Debug)]
pub struct InFlight {
    /// The stack service the gateway routes the request to.
    pub target: Option<String>,
    pub task: tokio::task::JoinHandle<(
        OutgoingRequest,
        Result<ReceivedResponse, crate::http::client::ClientError>,
    )>,
}

/// One request and its response.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: OutgoingRequest,
    pub response: Option<ReceivedResponse>,
}

/// Every exchange of a scenario, oldest first, each with the real wall time it was recorded at,
/// so the report can show it under the step that made it (steps read it as a slice).
#[derive(Debug, Default)]
pub struct Exchanges {
    items: Vec<Exchange>,
    at: Vec<std::time::SystemTime>,
}

impl Exchanges {
    pub fn push(&mut self, exchange: Exchange) {
        self.items.push(exchange);
        self.at.push(crate::clock::real_wall_now());
    }

    /// Each exchange with the time it was recorded.
    pub fn timed(&self) -> impl Iterator<Item = (std::time::SystemTime, &Exchange)> {
        self.at.iter().copied().zip(&self.items)
    }
}

impl std::ops::Deref for Exchanges {
    type Target = [Exchange];

    fn deref(&self) -> &[Exchange] {
        &self.items
    }
}

/// How long a step waits for the gateway: the slowest service's every attempt timing out
/// (`(retries + 1) × (connect + read timeout)`), plus a margin; at least 30 s.
fn patience(def: &StackDef) -> std::time::Duration {
    let worst = def
        .gateway
        .services
        .iter()
        .map(|s| (s.connect_timeout + s.read_timeout) * (s.retries + 1))
        .max()
        .unwrap_or_default();
    (worst + std::time::Duration::from_secs(10)).max(std::time::Duration::from_secs(30))
}

#[derive(Debug, World)]
#[world(init = Self::new)]
pub struct GauntletWorld {
    /// Set by the runner before the first step.
    pub settings: Option<Arc<RunSettings>>,
    stack: Option<ScenarioStack>,
    pub client: HttpClient,
    /// Tokens attached to every request, in order.
    pub tokens: Vec<AttachedToken>,
    /// Extra request headers (`the request header "X" is "Y"`).
    pub headers: Vec<(String, String)>,
    /// Every exchange of this scenario, oldest first.
    pub exchanges: Exchanges,
    /// Seed of this scenario's random fault choices (the run's seed mixed with the scenario).
    pub seed: u64,
    /// Requests started in the background and not yet collected, in start order.
    pub in_flight: Vec<InFlight>,
    /// Each service's journal count when the first of `in_flight` was started.
    pub journal_baseline: std::collections::BTreeMap<String, u64>,
    /// The last mesh call: who called whom, and what came back.
    pub mesh_outcome: Option<(String, crate::mesh::probe::Outcome)>,
    /// Mesh connections kept open, by destination.
    pub open_connections: std::collections::BTreeMap<String, crate::target::MeshConnection>,
    /// Every load step's result, oldest first (assertions read the last; the report all).
    pub load_runs: Vec<super::load::LoadRun>,
    /// Steady states this experiment declared (`Given the steady state: …`).
    pub steady_states: Vec<crate::explore::hypothesis::Hypothesis>,
    /// The rate-limit windows the steady-state load has used.
    pub steady_quotas: crate::explore::window::Quotas,
    /// What each load step's client counted beside what the gateway answered meanwhile
    /// (INV-8, checked after the scenario).
    pub client_counts: Vec<crate::explore::invariants::ClientCount>,
    /// `Then the steady state holds` checks started (the first follows the method).
    pub steady_checks: usize,
    /// The rollbacks the runner played after the experiment failed before them.
    pub experiment: Option<crate::report::evidence::ExperimentRecord>,
}

impl GauntletWorld {
    fn new() -> Self {
        GauntletWorld {
            settings: None,
            stack: None,
            client: HttpClient::default(),
            tokens: Vec::new(),
            headers: Vec::new(),
            exchanges: Exchanges::default(),
            seed: 0,
            in_flight: Vec::new(),
            journal_baseline: std::collections::BTreeMap::new(),
            mesh_outcome: None,
            open_connections: std::collections::BTreeMap::new(),
            load_runs: Vec::new(),
            steady_states: Vec::new(),
            steady_quotas: crate::explore::window::Quotas::default(),
            client_counts: Vec::new(),
            steady_checks: 0,
            experiment: None,
        }
    }

    /// A World for `settings` (the runner installs it before the first step).
    pub fn with_settings(settings: Arc<RunSettings>) -> Self {
        let mut world = Self::new();
        world.settings = Some(settings);
        world
    }

    pub fn settings(&self) -> Result<&Arc<RunSettings>, StepError> {
        self.settings
            .as_ref()
            .ok_or_else(|| StepError::new("internal: the runner did not install run settings"))
    }

    /// The scenario's stack, started on first use (where the run's target says). A container
    /// that died since the last step fails the step that asks, naming it.
    pub async fn stack(&mut self) -> Result<&ScenarioStack, StepError> {
        if self.stack.is_none() {
            let settings = self.settings()?.clone();
            self.client = HttpClient::new(patience(&settings.stack));
            let stack =
                ScenarioStack::start(&settings.target, settings.stack.clone(), self.seed).await?;
            self.stack = Some(stack);
        }
        let stack = self
            .stack
            .as_ref()
            .ok_or_else(|| StepError::new("internal: stack missing after start"))?;
        stack.check_alive().await?;
        Ok(stack)
    }

    /// The stack if it was started.
    pub fn started_stack(&self) -> Option<&ScenarioStack> {
        self.stack.as_ref()
    }

    /// Stops the scenario's stack and removes what it started, before returning.
    pub async fn shutdown_stack(&mut self) {
        if let Some(stack) = self.stack.take() {
            stack.shutdown().await;
        }
    }

    /// The last exchange, or an error telling the QA engineer to send a request first.
    pub fn last(&self) -> Result<&ReceivedResponse, StepError> {
        self.exchanges
            .last()
            .and_then(|e| e.response.as_ref())
            .ok_or_else(|| StepError::new("no response yet: send a request first"))
    }

    /// The last `n` responses, oldest first.
    ///
    /// # Errors
    /// Fewer than `n` requests got a response so far.
    pub fn last_responses(&self, n: usize) -> Result<Vec<&ReceivedResponse>, StepError> {
        let mut responses: Vec<&ReceivedResponse> = self
            .exchanges
            .iter()
            .rev()
            .filter_map(|e| e.response.as_ref())
            .take(n)
            .collect();
        if responses.len() < n {
            return Err(StepError::new(format!(
                "only {} responses so far, expected at least {n}",
                responses.len()
            )));
        }
        responses.reverse();
        Ok(responses)
    }

    /// Secrets of the stack, for redacting what the report shows.
    pub fn secrets(&self) -> Vec<String> {
        self.settings
            .as_ref()
            .map(|s| s.stack.gateway.jwt_secrets())
            .unwrap_or_default()
    }
}
