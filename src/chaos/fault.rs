//! HTTP faults (SPEC §7): what a service's inbound stage does to a request instead of, or before,
//! passing it on.
//!
//! ```text
//!   request ──► FaultSet::plan(method, path) ──► Plan { delay, terminal }
//!                 │ rules in order: a matching rule that fires (probability, remaining count)
//!                 │ adds its delay and goes on, or ends the walk with abort/hang/reset/malformed
//! ```
//! A rule's JSON form is what the control API takes and what `gauntlet chaos fault` sends:
//! `{"action":"abort","status":503,"times":3,"probability":0.5,"method":"GET","path_prefix":"/api"}`,
//! `{"action":"delay","delay":{"fixed_ms":200}}` (or `{"uniform_ms":[100,300]}`,
//! `{"lognormal":{"median_ms":20,"sigma":0.5}}`), `{"action":"hang"}`, `{"action":"reset"}`,
//! `{"action":"malformed"}`.
//!
//! # Order (stacked faults)
//! A service's rules are walked in the order they were added, and each gets an id (1, 2, ...,
//! never reused) for `DELETE /services/{name}/faults/{id}` and `gauntlet chaos clear SERVICE ID`.
//! For each request, every matching delay that fires adds its time, and the first matching
//! abort/hang/reset/malformed that fires ends the walk: later rules do not see the request (a
//! counted rule behind it keeps its count). A rule whose count is spent is removed.

use std::sync::Mutex;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use serde::{Deserialize, Serialize};

/// What a rule does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer with `status` (and `body`) without calling the service.
    Abort { status: u16, body: Option<String> },
    /// Wait (real time: injected latency is measured), then go on.
    Delay(Delay),
    /// Never answer.
    Hang,
    /// Close the connection without a response (TCP reset).
    Reset,
    /// Answer bytes that are not HTTP.
    Malformed,
}

/// How long a delay lasts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Delay {
    FixedMs(u64),
    /// Uniform between the two bounds (inclusive).
    UniformMs(u64, u64),
    /// Log-normal with this median and shape (the σ of the underlying normal).
    Lognormal {
        median_ms: f64,
        sigma: f64,
    },
}

impl Delay {
    fn sample(&self, rng: &mut impl Rng) -> Duration {
        match *self {
            Delay::FixedMs(ms) => Duration::from_millis(ms),
            Delay::UniformMs(lo, hi) => Duration::from_millis(rng.random_range(lo..=hi)),
            Delay::Lognormal { median_ms, sigma } => {
                let ms = LogNormal::new(median_ms.ln(), sigma)
                    .map(|d| d.sample(rng))
                    .unwrap_or(median_ms);
                Duration::from_secs_f64(ms.clamp(0.0, 3_600_000.0) / 1000.0)
            }
        }
    }

    /// `200 ms`, `uniform 100–300 ms`, `lognormal median 20 ms σ 0.5`.
    pub fn describe(&self) -> String {
        match *self {
            Delay::FixedMs(ms) => format!("{ms} ms"),
            Delay::UniformMs(lo, hi) => format!("uniform {lo}–{hi} ms"),
            Delay::Lognormal { median_ms, sigma } => {
                format!("lognormal median {median_ms} ms σ {sigma}")
            }
        }
    }
}

/// One fault rule: an action, which requests it applies to, and how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRule", into = "RawRule")]
pub struct FaultRule {
    pub action: FaultAction,
    /// Apply to the next N matching requests only (then the rule is spent); every request when
    /// absent.
    pub times: Option<u32>,
    /// Chance that a matching request is affected (0–1; default 1).
    pub probability: f64,
    /// Only requests with this method (any when absent).
    pub method: Option<String>,
    /// Only requests whose path starts with this (any when absent).
    pub path_prefix: Option<String>,
}

/// The JSON form of a rule (flat, so a typo in any key is refused).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delay: Option<Delay>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    times: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    probability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path_prefix: Option<String>,
}

impl TryFrom<RawRule> for FaultRule {
    type Error = InvalidFault;

    fn try_from(raw: RawRule) -> Result<Self, InvalidFault> {
        let missing = |key: &str| InvalidFault(format!("action `{}` needs `{key}`", raw.action));
        let action = match raw.action.as_str() {
            "abort" => FaultAction::Abort {
                status: raw.status.ok_or_else(|| missing("status"))?,
                body: raw.body.clone(),
            },
            "delay" => FaultAction::Delay(raw.delay.ok_or_else(|| missing("delay"))?),
            "hang" => FaultAction::Hang,
            "reset" => FaultAction::Reset,
            "malformed" => FaultAction::Malformed,
            other => {
                return Err(InvalidFault(format!(
                    "unknown action `{other}` (expected abort, delay, hang, reset or malformed)"
                )))
            }
        };
        let rule = FaultRule {
            action,
            times: raw.times,
            probability: raw.probability.unwrap_or(1.0),
            method: raw.method,
            path_prefix: raw.path_prefix,
        };
        rule.validate()?;
        Ok(rule)
    }
}

impl From<FaultRule> for RawRule {
    fn from(rule: FaultRule) -> Self {
        let (action, status, body, delay) = match rule.action {
            FaultAction::Abort { status, body } => ("abort", Some(status), body, None),
            FaultAction::Delay(d) => ("delay", None, None, Some(d)),
            FaultAction::Hang => ("hang", None, None, None),
            FaultAction::Reset => ("reset", None, None, None),
            FaultAction::Malformed => ("malformed", None, None, None),
        };
        RawRule {
            action: action.into(),
            status,
            body,
            delay,
            times: rule.times,
            probability: (rule.probability < 1.0).then_some(rule.probability),
            method: rule.method,
            path_prefix: rule.path_prefix,
        }
    }
}

/// A rule that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault: {0}")]
pub struct InvalidFault(pub String);

impl FaultRule {
    /// A rule applying `action` to every request.
    pub fn always(action: FaultAction) -> Self {
        FaultRule {
            action,
            times: None,
            probability: 1.0,
            method: None,
            path_prefix: None,
        }
    }

    /// Checks the values a JSON body or a step may get wrong.
    ///
    /// # Errors
    /// [`InvalidFault`] naming the field.
    pub fn validate(&self) -> Result<(), InvalidFault> {
        if !(0.0..=1.0).contains(&self.probability) {
            return Err(InvalidFault(format!(
                "probability must be between 0 and 1, got {}",
                self.probability
            )));
        }
        if self.times == Some(0) {
            return Err(InvalidFault("times must be at least 1".into()));
        }
        if let Some(method) = &self.method {
            if http::Method::from_bytes(method.as_bytes()).is_err() {
                return Err(InvalidFault(format!(
                    "method `{method}` is not an HTTP method"
                )));
            }
        }
        match &self.action {
            // Envoy's fault filter takes 200–599: an abort is a final response.
            FaultAction::Abort { status, .. } if !(200..=599).contains(status) => Err(
                InvalidFault(format!("status must be between 200 and 599, got {status}")),
            ),

            FaultAction::Delay(Delay::UniformMs(lo, hi)) if lo > hi => Err(InvalidFault(format!(
                "uniform delay bounds are reversed ({lo} > {hi})"
            ))),
            FaultAction::Delay(Delay::Lognormal { median_ms, sigma })
                if !(*median_ms > 0.0 && sigma.is_finite() && *sigma >= 0.0) =>
            {
                Err(InvalidFault(
                    "lognormal delay needs median_ms > 0 and sigma >= 0".into(),
                ))
            }
            _ => Ok(()),
        }
    }

    /// A one-line description for the journal, logs and `gauntlet chaos` output.
    pub fn describe(&self) -> String {
        let mut text = match &self.action {
            FaultAction::Abort { status, .. } => format!("abort {status}"),
            FaultAction::Delay(delay) => format!("delay {}", delay.describe()),
            FaultAction::Hang => "hang".into(),
            FaultAction::Reset => "reset".into(),
            FaultAction::Malformed => "malformed response".into(),
        };
        if let Some(method) = &self.method {
            text.push_str(&format!(" on {method}"));
        }
        if let Some(prefix) = &self.path_prefix {
            text.push_str(&format!(" under {prefix}"));
        }
        if self.probability < 1.0 {
            text.push_str(&format!(" with probability {}", self.probability));
        }
        if let Some(n) = self.times {
            text.push_str(&format!(" for the next {n} requests"));
        }
        text
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
    }
}

/// What ends a request at the inbound stage instead of the service answering it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Terminal {
    Abort { status: u16, body: Option<String> },
    Hang,
    Reset,
    Malformed,
}

/// What the inbound stage does to one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub delay: Duration,
    pub terminal: Option<Terminal>,
    /// The rules that fired, described (for the journal).
    pub applied: Vec<String>,
}

#[derive(Debug)]
struct Active {
    id: u64,
    rule: FaultRule,
    remaining: Option<u32>,
}

/// A rule still active in a [`FaultSet`], with its id and how many requests it has left
/// (`None`: unlimited).
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveFault {
    pub id: u64,
    pub rule: FaultRule,
    pub remaining: Option<u32>,
}

/// The fault rules of one service and the seeded random source their choices use.
#[derive(Debug)]
pub struct FaultSet {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    rules: Vec<Active>,
    rng: rand::rngs::StdRng,
    /// The id of the last rule added (ids are never reused).
    last_id: u64,
}

impl FaultSet {
    /// An empty set whose random choices follow `seed`.
    pub fn new(seed: u64) -> Self {
        FaultSet {
            inner: Mutex::new(Inner {
                rules: Vec::new(),
                rng: rand::rngs::StdRng::seed_from_u64(seed),
                last_id: 0,
            }),
        }
    }

    /// Adds a rule after the existing ones; returns its id.
    ///
    /// # Errors
    /// [`InvalidFault`] from [`FaultRule::validate`].
    pub fn add(&self, rule: FaultRule) -> Result<u64, InvalidFault> {
        rule.validate()?;
        let remaining = rule.times;
        let mut inner = self.lock();
        inner.last_id += 1;
        let id = inner.last_id;
        inner.rules.push(Active {
            id,
            rule,
            remaining,
        });
        Ok(id)
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Removes the rule with this id; whether it was still active.
    pub fn remove(&self, id: u64) -> bool {
        let mut inner = self.lock();
        let before = inner.rules.len();
        inner.rules.retain(|a| a.id != id);
        inner.rules.len() != before
    }

    /// The rules still active, in order, with their ids.
    pub fn active(&self) -> Vec<ActiveFault> {
        self.lock()
            .rules
            .iter()
            .map(|a| ActiveFault {
                id: a.id,
                rule: a.rule.clone(),
                remaining: a.remaining,
            })
            .collect()
    }

    /// The rules still active, with how many requests each has left (`None`: unlimited).
    pub fn rules(&self) -> Vec<(FaultRule, Option<u32>)> {
        self.lock()
            .rules
            .iter()
            .map(|a| (a.rule.clone(), a.remaining))
            .collect()
    }

    /// Decides what happens to a request, consuming counted rules that fire.
    pub fn plan(&self, method: &str, path: &str) -> Plan {
        let mut inner = self.lock();
        let Inner { rules, rng, .. } = &mut *inner;
        let mut plan = Plan::default();
        for active in rules.iter_mut() {
            if active.remaining == Some(0) || !active.rule.matches(method, path) {
                continue;
            }
            if active.rule.probability < 1.0 && !rng.random_bool(active.rule.probability) {
                continue;
            }
            if let Some(n) = &mut active.remaining {
                *n -= 1;
            }
            let terminal = match &active.rule.action {
                FaultAction::Delay(delay) => {
                    let d = delay.sample(rng);
                    plan.delay += d;
                    plan.applied.push(format!("delay {} ms", d.as_millis()));
                    None
                }
                FaultAction::Abort { status, body } => Some(Terminal::Abort {
                    status: *status,
                    body: body.clone(),
                }),
                FaultAction::Hang => Some(Terminal::Hang),
                FaultAction::Reset => Some(Terminal::Reset),
                FaultAction::Malformed => Some(Terminal::Malformed),
            };
            if let Some(terminal) = terminal {
                plan.applied.push(active.rule.describe());
                plan.terminal = Some(terminal);
                break;
            }
        }
        rules.retain(|a| a.remaining != Some(0));
        plan
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abort(status: u16) -> FaultAction {
        FaultAction::Abort { status, body: None }
    }

    #[test]
    fn a_counted_rule_applies_to_the_next_n_requests_only() {
        let set = FaultSet::new(1);
        set.add(FaultRule {
            times: Some(2),
            ..FaultRule::always(abort(503))
        })
        .expect("valid");
        let terminals: Vec<bool> = (0..3)
            .map(|_| set.plan("GET", "/").terminal.is_some())
            .collect();
        assert_eq!(terminals, [true, true, false]);
        assert!(set.rules().is_empty(), "a spent rule is removed");
    }

    #[test]
    fn delays_add_up_and_an_abort_ends_the_walk() {
        let set = FaultSet::new(1);
        for rule in [
            FaultRule::always(FaultAction::Delay(Delay::FixedMs(20))),
            FaultRule::always(abort(500)),
            FaultRule::always(FaultAction::Hang),
        ] {
            set.add(rule).expect("valid");
        }
        let plan = set.plan("GET", "/");
        assert_eq!(plan.delay, Duration::from_millis(20));
        assert_eq!(
            plan.terminal,
            Some(Terminal::Abort {
                status: 500,
                body: None
            })
        );
    }

    #[test]
    fn stacked_faults_apply_in_order_and_the_first_terminal_wins_without_spending_later_ones() {
        let set = FaultSet::new(1);
        let delay = set
            .add(FaultRule::always(FaultAction::Delay(Delay::FixedMs(20))))
            .expect("valid");
        let first = set
            .add(FaultRule {
                times: Some(1),
                ..FaultRule::always(abort(503))
            })
            .expect("valid");
        let second = set
            .add(FaultRule {
                times: Some(1),
                ..FaultRule::always(abort(500))
            })
            .expect("valid");
        let later_delay = set
            .add(FaultRule::always(FaultAction::Delay(Delay::FixedMs(5))))
            .expect("valid");
        assert_eq!([delay, first, second, later_delay], [1, 2, 3, 4]);
        let status = |plan: Plan| match plan.terminal {
            Some(Terminal::Abort { status, .. }) => Some(status),
            _ => None,
        };
        let plan = set.plan("GET", "/");
        assert_eq!(
            plan.delay,
            Duration::from_millis(20),
            "the walk ended at 503"
        );
        assert_eq!(status(plan), Some(503));
        let plan = set.plan("GET", "/");
        assert_eq!(status(plan), Some(500), "the 500 kept its count");
        let plan = set.plan("GET", "/");
        assert_eq!(plan.delay, Duration::from_millis(25));
        assert_eq!(status(plan), None);
        let ids: Vec<u64> = set.active().iter().map(|a| a.id).collect();
        assert_eq!(ids, [1, 4]);
    }

    #[test]
    fn a_fault_is_removed_by_its_id_and_ids_are_never_reused() {
        let set = FaultSet::new(1);
        let a = set.add(FaultRule::always(abort(503))).expect("valid");
        let b = set
            .add(FaultRule::always(FaultAction::Hang))
            .expect("valid");
        assert!(set.remove(a));
        assert!(!set.remove(a), "already gone");
        let c = set.add(FaultRule::always(abort(500))).expect("valid");
        assert_eq!((a, b, c), (1, 2, 3));
        let left: Vec<(u64, String)> = set
            .active()
            .into_iter()
            .map(|f| (f.id, f.rule.describe()))
            .collect();
        assert_eq!(
            left,
            [(2, "hang".to_string()), (3, "abort 500".to_string())]
        );
    }

    #[test]
    fn method_and_path_prefix_restrict_a_rule() {
        let set = FaultSet::new(1);
        set.add(FaultRule {
            method: Some("POST".into()),
            path_prefix: Some("/api/v1/commitments".into()),
            ..FaultRule::always(abort(503))
        })
        .expect("valid");
        assert!(set.plan("GET", "/api/v1/commitments").terminal.is_none());
        assert!(set.plan("POST", "/health").terminal.is_none());
        assert!(set.plan("post", "/api/v1/commitments/x").terminal.is_some());
    }

    #[test]
    fn the_same_seed_replays_the_same_choices() {
        let run = |seed| {
            let set = FaultSet::new(seed);
            set.add(FaultRule {
                probability: 0.5,
                ..FaultRule::always(abort(503))
            })
            .expect("valid");
            (0..64)
                .map(|_| set.plan("GET", "/").terminal.is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let hits = run(7).iter().filter(|h| **h).count();
        assert!((16..=48).contains(&hits), "{hits} of 64 with p = 0.5");
    }

    #[test]
    fn delays_follow_their_distribution() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..100 {
            let d = Delay::UniformMs(100, 300).sample(&mut rng).as_millis();
            assert!((100..=300).contains(&d));
        }
        let mut samples: Vec<f64> = (0..2001)
            .map(|_| {
                Delay::Lognormal {
                    median_ms: 20.0,
                    sigma: 0.5,
                }
                .sample(&mut rng)
                .as_secs_f64()
                    * 1000.0
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        let median = samples[1000];
        assert!((17.0..23.0).contains(&median), "median {median}");
    }

    #[test]
    fn rejects_rules_that_cannot_apply() {
        let bad = [
            FaultRule {
                probability: 1.5,
                ..FaultRule::always(FaultAction::Hang)
            },
            FaultRule::always(abort(99)),
            FaultRule {
                times: Some(0),
                ..FaultRule::always(FaultAction::Reset)
            },
            FaultRule::always(FaultAction::Delay(Delay::UniformMs(300, 100))),
        ];
        for rule in bad {
            assert!(rule.validate().is_err(), "{rule:?}");
        }
    }

    #[test]
    fn json_form_round_trips_and_refuses_unknown_keys() {
        let rule: FaultRule = serde_json::from_str(
            r#"{"action":"abort","status":503,"times":3,"probability":0.5,"method":"GET"}"#,
        )
        .expect("parses");
        assert_eq!(rule.times, Some(3));
        assert_eq!(
            rule.describe(),
            "abort 503 on GET with probability 0.5 for the next 3 requests"
        );
        let delay: FaultRule =
            serde_json::from_str(r#"{"action":"delay","delay":{"uniform_ms":[100,300]}}"#)
                .expect("parses");
        assert_eq!(delay.describe(), "delay uniform 100–300 ms");
        assert!(serde_json::from_str::<FaultRule>(r#"{"action":"abort","statsu":503}"#).is_err());
        let err =
            serde_json::from_str::<FaultRule>(r#"{"action":"abort"}"#).expect_err("no status");
        assert!(
            err.to_string().contains("action `abort` needs `status`"),
            "{err}"
        );
        let back = serde_json::to_value(&rule).expect("serializes");
        assert_eq!(back["status"], 503);
        assert_eq!(back["probability"], 0.5);
    }
}
