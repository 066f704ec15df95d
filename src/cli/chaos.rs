//! `gauntlet chaos`: acts on a running `gauntlet up` stack through its control API
//! ([`crate::api::control`]).
//!
//! ```text
//!   gauntlet chaos stop value-architect            POST /services/value-architect/stop
//!   gauntlet chaos fault value-architect --status 503 --times 3
//!                                                  POST /services/value-architect/faults
//!   gauntlet chaos advance 60s                     POST /clock/advance
//! ```
//! The control URL is `--control`, or `http://127.0.0.1:<ports.control>` of `--stack`'s
//! `stack.yml`. Exit 0 when the stack did it, 2 when it refused (the message says why) or is not
//! running.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::toxics::{self, LinkAction, ToxicAction};
use super::Exit;
use crate::api::access::ApiToken;
use crate::chaos::fault::{Delay, FaultAction, FaultRule};
use crate::config::StackDef;
use crate::http::client::{HttpClient, OutgoingRequest};
use crate::units::parse_duration;

#[derive(Debug, Args)]
pub struct ChaosArgs {
    /// Stack definition folder (its stack.yml gives the control port).
    #[arg(long, default_value = "scenarios/valueverse", global = true)]
    pub stack: PathBuf,
    /// Control API base URL (overrides --stack), e.g. http://127.0.0.1:8099.
    #[arg(long, global = true)]
    pub control: Option<String>,
    /// The API token `gauntlet up` was started with (default: GAUNTLET_API_TOKEN), sent as
    /// `Authorization: Bearer`.
    #[arg(long, global = true, hide_env_values = true)]
    pub api_token: Option<String>,
    #[command(subcommand)]
    pub action: ChaosAction,
}

#[derive(Debug, Subcommand)]
pub enum ChaosAction {
    /// Stop a service: its port closes (connection refused); requests in flight may finish.
    Stop { service: String },
    /// Start a stopped or killed service again on the same port.
    Start { service: String },
    /// Kill a service: its port closes and every open connection is reset.
    Kill { service: String },
    /// Add an HTTP fault at the service's inbound stage.
    Fault(FaultArgs),
    /// Remove the HTTP faults of one service, or of every service.
    Clear { service: Option<String> },
    /// Jump the stack clock (breaker open_timeout, rate-limit windows, timeouts, token expiry).
    Advance {
        /// How far: 60s, 2m, 500ms, 1h.
        by: String,
    },
    /// Print what reached a service (its journal).
    Journal {
        service: String,
        /// Print the control API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print every service with its state and faults, the seed and the clock offset.
    Status,
    /// Toxics on the stack's links (Toxiproxy's, through its API on the control port).
    #[command(subcommand)]
    Toxic(ToxicAction),
    /// Take links down and up, list them, reset them.
    #[command(subcommand)]
    Link(LinkAction),
}

#[derive(Debug, Args)]
pub struct FaultArgs {
    pub service: String,
    /// Answer this status without calling the service.
    #[arg(long)]
    pub status: Option<u16>,
    /// Body of the --status answer (JSON or text).
    #[arg(long, requires = "status")]
    pub body: Option<String>,
    /// Delay each request: 200ms, or a uniform range 100ms..300ms.
    #[arg(long)]
    pub delay: Option<String>,
    /// Never answer.
    #[arg(long)]
    pub hang: bool,
    /// Close the connection with a TCP reset and no response.
    #[arg(long)]
    pub reset: bool,
    /// Answer bytes that are not HTTP.
    #[arg(long)]
    pub malformed: bool,
    /// Only the next N matching requests.
    #[arg(long)]
    pub times: Option<u32>,
    /// Chance that a matching request is affected (0–1).
    #[arg(long)]
    pub probability: Option<f64>,
    /// Only requests with this method.
    #[arg(long)]
    pub method: Option<String>,
    /// Only requests whose path starts with this.
    #[arg(long)]
    pub path: Option<String>,
}

/// A control-API call that did not do what was asked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ChaosError(String);

pub async fn execute(args: ChaosArgs) -> Exit {
    match run(args).await {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            Exit::Success
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Usage
        }
    }
}

async fn run(args: ChaosArgs) -> Result<Vec<String>, ChaosError> {
    let base = match &args.control {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let def = StackDef::load(&args.stack).map_err(|e| ChaosError(e.to_string()))?;
            format!("http://127.0.0.1:{}", def.topology.ports.control)
        }
    };
    let api = Api {
        client: HttpClient::new(Duration::from_secs(30)),
        base,
        token: ApiToken::from_arg_or_env(args.api_token.as_deref()),
    };
    match args.action {
        ChaosAction::Stop { service } => api.process(&service, "stop").await,
        ChaosAction::Start { service } => api.process(&service, "start").await,
        ChaosAction::Kill { service } => api.process(&service, "kill").await,
        ChaosAction::Fault(fault) => {
            let rules = fault_rules(&fault)?;
            let mut lines = Vec::new();
            for rule in rules {
                let description = rule.describe();
                let body = serde_json::to_value(&rule).map_err(|e| ChaosError(e.to_string()))?;
                api.call(
                    http::Method::POST,
                    &format!("/services/{}/faults", fault.service),
                    Some(body),
                )
                .await?;
                lines.push(format!("{}: {description}", fault.service));
            }
            Ok(lines)
        }
        ChaosAction::Clear { service } => {
            let path = match &service {
                Some(s) => format!("/services/{s}/faults"),
                None => "/faults".into(),
            };
            api.call(http::Method::DELETE, &path, None).await?;
            Ok(vec![format!(
                "faults cleared on {}",
                service.as_deref().unwrap_or("every service")
            )])
        }
        ChaosAction::Advance { by } => {
            let d = parse_duration(&by).map_err(|e| ChaosError(e.to_string()))?;
            let answer = api
                .call(
                    http::Method::POST,
                    "/clock/advance",
                    Some(json!({"seconds": d.as_secs_f64()})),
                )
                .await?;
            Ok(vec![format!(
                "clock advanced {} s (total offset {} s)",
                answer["advanced_seconds"], answer["offset_seconds"]
            )])
        }
        ChaosAction::Journal { service, json } => {
            let answer = api
                .call(
                    http::Method::GET,
                    &format!("/services/{service}/journal"),
                    None,
                )
                .await?;
            if json {
                return Ok(vec![answer.to_string()]);
            }
            let mut lines = vec![format!("{service} received {} requests", answer["count"])];
            for e in answer["data"].as_array().into_iter().flatten() {
                lines.push(format!(
                    "  #{:<4} +{:>9.3} s  {:<6} {}{}",
                    e["seq"],
                    e["stack_time_ms"].as_f64().unwrap_or(0.0) / 1000.0,
                    e["method"].as_str().unwrap_or(""),
                    e["path"].as_str().unwrap_or(""),
                    e["fault"]
                        .as_str()
                        .map(|f| format!("  [{f}]"))
                        .unwrap_or_default()
                ));
            }
            Ok(lines)
        }
        ChaosAction::Toxic(action) => toxic(&api, action).await,
        ChaosAction::Link(action) => link(&api, action).await,
        ChaosAction::Status => {
            let answer = api.call(http::Method::GET, "/", None).await?;
            let mut lines = vec![format!(
                "stack {} (fault seed {}), clock offset {} s",
                answer["stack"].as_str().unwrap_or("?"),
                answer["seed"],
                answer["clock"]["offset_seconds"]
            )];
            for s in answer["services"].as_array().into_iter().flatten() {
                let faults: Vec<&str> = s["faults"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f["description"].as_str())
                    .collect();
                lines.push(format!(
                    "  {:<16} {:<8} {}  received {}{}",
                    s["name"].as_str().unwrap_or("?"),
                    if s["running"].as_bool() == Some(true) {
                        "running"
                    } else {
                        "stopped"
                    },
                    s["url"].as_str().unwrap_or(""),
                    s["requests_received"],
                    if faults.is_empty() {
                        String::new()
                    } else {
                        format!("  faults: {}", faults.join("; "))
                    }
                ));
            }
            Ok(lines)
        }
    }
}

async fn toxic(api: &Api, action: ToxicAction) -> Result<Vec<String>, ChaosError> {
    let path = |link: &str| format!("/proxies/{}/toxics", toxics::segment(link));
    match action {
        ToxicAction::Add(args) => {
            let body = toxics::add_body(&args).map_err(ChaosError)?;
            let made = api
                .call(http::Method::POST, &path(&args.link), Some(body))
                .await?;
            Ok(vec![format!(
                "{}: added{}",
                args.link,
                toxics::toxic_line(&made)
            )])
        }
        ToxicAction::Update(args) => {
            let body = toxics::update_body(&args).map_err(ChaosError)?;
            let at = format!("{}/{}", path(&args.link), toxics::segment(&args.name));
            let made = api.call(http::Method::PATCH, &at, Some(body)).await?;
            Ok(vec![format!(
                "{}: updated{}",
                args.link,
                toxics::toxic_line(&made)
            )])
        }
        ToxicAction::Remove { link, name } => {
            let at = format!("{}/{}", path(&link), toxics::segment(&name));
            api.call(http::Method::DELETE, &at, None).await?;
            Ok(vec![format!("{link}: removed {name}")])
        }
        ToxicAction::List { link, json } => {
            let proxies = match &link {
                Some(l) => {
                    let one = api
                        .call(
                            http::Method::GET,
                            &format!("/proxies/{}", toxics::segment(l)),
                            None,
                        )
                        .await?;
                    vec![one]
                }
                None => api
                    .call(http::Method::GET, "/proxies", None)
                    .await?
                    .as_object()
                    .map(|o| o.values().cloned().collect())
                    .unwrap_or_default(),
            };
            if json {
                return Ok(vec![Value::Array(proxies).to_string()]);
            }
            Ok(proxies.iter().flat_map(toxics::link_lines).collect())
        }
    }
}

async fn link(api: &Api, action: LinkAction) -> Result<Vec<String>, ChaosError> {
    let toggle = |link: &str, enabled: bool| {
        (
            format!("/proxies/{}", toxics::segment(link)),
            json!({"enabled": enabled}),
        )
    };
    match action {
        LinkAction::Disable { link } => {
            let (path, body) = toggle(&link, false);
            api.call(http::Method::POST, &path, Some(body)).await?;
            Ok(vec![format!(
                "{link} is down: new connections refused, open ones closed"
            )])
        }
        LinkAction::Enable { link } => {
            let (path, body) = toggle(&link, true);
            api.call(http::Method::POST, &path, Some(body)).await?;
            Ok(vec![format!("{link} is up")])
        }
        LinkAction::List { json } => {
            let answer = api.call(http::Method::GET, "/proxies", None).await?;
            if json {
                return Ok(vec![answer.to_string()]);
            }
            Ok(answer
                .as_object()
                .into_iter()
                .flatten()
                .flat_map(|(_, p)| toxics::link_lines(p))
                .collect())
        }
        LinkAction::Reset => {
            api.call(http::Method::POST, "/reset", None).await?;
            Ok(vec!["every link is up, every toxic removed".into()])
        }
    }
}

/// The rules `gauntlet chaos fault` asks for: a delay first (if any), then at most one of
/// status, hang, reset, malformed; the filters apply to each.
fn fault_rules(f: &FaultArgs) -> Result<Vec<FaultRule>, ChaosError> {
    let mut actions = Vec::new();
    if let Some(delay) = &f.delay {
        actions.push(FaultAction::Delay(parse_delay(delay)?));
    }
    let terminals: Vec<FaultAction> = [
        f.status.map(|status| FaultAction::Abort {
            status,
            body: f.body.clone(),
        }),
        f.hang.then_some(FaultAction::Hang),
        f.reset.then_some(FaultAction::Reset),
        f.malformed.then_some(FaultAction::Malformed),
    ]
    .into_iter()
    .flatten()
    .collect();
    if terminals.len() > 1 {
        return Err(ChaosError(
            "give at most one of --status, --hang, --reset, --malformed".into(),
        ));
    }
    actions.extend(terminals);
    if actions.is_empty() {
        return Err(ChaosError(
            "no fault given: use --status, --delay, --hang, --reset or --malformed".into(),
        ));
    }
    actions
        .into_iter()
        .map(|action| {
            let rule = FaultRule {
                action,
                times: f.times,
                probability: f.probability.unwrap_or(1.0),
                method: f.method.clone(),
                path_prefix: f.path.clone(),
            };
            rule.validate().map_err(|e| ChaosError(e.to_string()))?;
            Ok(rule)
        })
        .collect()
}

/// `200ms` (fixed) or `100ms..300ms` (uniform).
fn parse_delay(text: &str) -> Result<Delay, ChaosError> {
    let ms = |s: &str| -> Result<u64, ChaosError> {
        let d = parse_duration(s).map_err(|e| ChaosError(e.to_string()))?;
        Ok(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    };
    match text.split_once("..") {
        Some((lo, hi)) => Ok(Delay::UniformMs(ms(lo)?, ms(hi)?)),
        None => Ok(Delay::FixedMs(ms(text)?)),
    }
}

struct Api {
    client: HttpClient,
    base: String,
    token: Option<ApiToken>,
}

impl Api {
    async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ChaosError> {
        let mut request = OutgoingRequest::new(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request
                .header("authorization", &format!("Bearer {}", token.expose()))
                .map_err(|_| ChaosError("the API token is not a valid header value".into()))?;
        }
        if let Some(body) = &body {
            request = request.json_body(body);
        }
        let response = self.client.send(&request).await.map_err(|e| {
            ChaosError(format!(
                "cannot reach the control API at {} (is `gauntlet up` running?): {e}",
                self.base
            ))
        })?;
        let answer = response.json().unwrap_or(Value::Null);
        if response.status >= 400 {
            return Err(ChaosError(
                answer["message"]
                    .as_str()
                    .or_else(|| answer["error"].as_str())
                    .map_or_else(|| response.text(), str::to_string),
            ));
        }
        Ok(answer)
    }

    async fn process(&self, service: &str, action: &str) -> Result<Vec<String>, ChaosError> {
        let answer = self
            .call(
                http::Method::POST,
                &format!("/services/{service}/{action}"),
                None,
            )
            .await?;
        let state = if answer["running"].as_bool() == Some(true) {
            "running"
        } else {
            "stopped"
        };
        Ok(vec![format!(
            "{service}: {state} ({})",
            answer["url"].as_str().unwrap_or("")
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(service: &str) -> FaultArgs {
        FaultArgs {
            service: service.into(),
            status: None,
            body: None,
            delay: None,
            hang: false,
            reset: false,
            malformed: false,
            times: None,
            probability: None,
            method: None,
            path: None,
        }
    }

    #[test]
    fn a_delay_and_a_status_become_two_rules_sharing_the_filters() {
        let rules = fault_rules(&FaultArgs {
            status: Some(503),
            delay: Some("100ms..300ms".into()),
            times: Some(3),
            ..args("value-architect")
        })
        .expect("valid");
        let described: Vec<String> = rules.iter().map(FaultRule::describe).collect();
        assert_eq!(
            described,
            [
                "delay uniform 100–300 ms for the next 3 requests",
                "abort 503 for the next 3 requests"
            ]
        );
    }

    #[test]
    fn refuses_no_fault_and_two_terminal_faults() {
        assert!(fault_rules(&args("a")).is_err());
        let both = FaultArgs {
            hang: true,
            reset: true,
            ..args("a")
        };
        assert!(fault_rules(&both)
            .unwrap_err()
            .to_string()
            .contains("at most one"));
    }
}
