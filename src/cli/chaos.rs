//! `gauntlet chaos`: acts on a running `gauntlet up` stack through its control API
//! ([`crate::api::control`]).
//!
//! ```text
//!   gauntlet chaos stop value-architect            POST /services/value-architect/stop
//!   gauntlet chaos fault value-architect --status 503 --times 3
//!                                                  POST /services/value-architect/faults
//!   gauntlet chaos pause value-architect           POST /services/value-architect/pause
//!   gauntlet chaos partition value-architect       POST /services/value-architect/partition
//!   gauntlet chaos advance 60s                     POST /clock/advance
//! ```
//! The control URL is `--control`, else `GAUNTLET_CONTROL`, else `http://127.0.0.1:<ports.control>`
//! of `--stack`'s `stack.yml` (moved by `--port-offset` as `up` moved it). Exit 0 when the stack
//! did it, 2 when it refused (the message says why) or is not running.
//!
//! Each subcommand is one arm of [`run`] turning its arguments into control-API calls and the
//! lines to print; a new one adds a [`ChaosAction`] variant and its arm.

use std::path::{Path, PathBuf};
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
    /// Control API base URL (overrides --stack; default: GAUNTLET_CONTROL), e.g.
    /// http://127.0.0.1:8099, as `gauntlet up` prints it.
    #[arg(long, global = true)]
    pub control: Option<String>,
    /// The --port-offset `gauntlet up` was started with (with --stack).
    #[arg(long, global = true, default_value_t = 0)]
    pub port_offset: u16,
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
    /// Pause a service: its port stays open but the service is frozen, so requests hang until
    /// it is unpaused (as `docker pause`).
    Pause { service: String },
    /// Unpause a paused service: the requests it held go on.
    #[command(alias = "resume")]
    Unpause { service: String },
    /// Cut a service off the network (in containers its pod leaves the run network; in
    /// process every link to or from it is disabled).
    Partition { service: String },
    /// Put a partitioned service back.
    Heal { service: String },
    /// Add an HTTP fault at the service's inbound stage; prints its id.
    ///
    /// Stacked faults apply in the order they were added: every matching delay adds its time,
    /// and the first matching --status/--hang/--reset/--malformed ends the request (later faults
    /// do not see it and keep their --times count).
    Fault(FaultArgs),
    /// Remove one fault (`clear SERVICE ID`, the id `fault` and `status` print), every fault of
    /// a service (`clear SERVICE`), or every fault of the stack (`clear`).
    Clear {
        service: Option<String>,
        /// The fault's id.
        id: Option<String>,
    },
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
    /// Print every service with its state, its addresses and its faults (with their ids), the
    /// seed and the clock offset.
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

/// The environment variable naming the control API when `--control` is not given.
pub const CONTROL_ENV: &str = "GAUNTLET_CONTROL";

/// The control API's base URL: `control` (`--control`), `GAUNTLET_CONTROL`, or the control
/// port of `stack`'s `stack.yml` moved by `port_offset`. `gauntlet token` finds the stack's
/// clock the same way.
///
/// # Errors
/// `stack.yml` cannot be read, or the offset moves the port past 65535.
pub fn control_url(
    control: Option<&str>,
    stack: &Path,
    port_offset: u16,
) -> Result<String, String> {
    let given = control
        .map(str::to_string)
        .or_else(|| std::env::var(CONTROL_ENV).ok().filter(|v| !v.is_empty()));
    if let Some(url) = given {
        return Ok(url.trim_end_matches('/').to_string());
    }
    let def = StackDef::load(stack).map_err(|e| e.to_string())?;
    let port = def.topology.ports.shifted(port_offset)?.control;
    Ok(format!("http://127.0.0.1:{port}"))
}

async fn run(args: ChaosArgs) -> Result<Vec<String>, ChaosError> {
    let base =
        control_url(args.control.as_deref(), &args.stack, args.port_offset).map_err(ChaosError)?;
    let api = Api {
        client: HttpClient::new(Duration::from_secs(30)),
        base,
        token: ApiToken::from_arg_or_env(args.api_token.as_deref()),
    };
    match args.action {
        ChaosAction::Stop { service } => api.process(&service, "stop").await,
        ChaosAction::Start { service } => api.process(&service, "start").await,
        ChaosAction::Kill { service } => api.process(&service, "kill").await,
        ChaosAction::Pause { service } => api.process(&service, "pause").await,
        ChaosAction::Unpause { service } => api.process(&service, "unpause").await,
        ChaosAction::Partition { service } => api.process(&service, "partition").await,
        ChaosAction::Heal { service } => api.process(&service, "heal").await,
        ChaosAction::Fault(fault) => {
            let rules = fault_rules(&fault)?;
            let mut lines = Vec::new();
            for rule in rules {
                let description = rule.describe();
                let body = serde_json::to_value(&rule).map_err(|e| ChaosError(e.to_string()))?;
                let answer = api
                    .call(
                        http::Method::POST,
                        &format!("/services/{}/faults", fault.service),
                        Some(body),
                    )
                    .await?;
                lines.push(format!(
                    "{}: fault {} added: {description}",
                    fault.service, answer["id"]
                ));
            }
            Ok(lines)
        }
        ChaosAction::Clear { service, id } => {
            let (path, done) = match (&service, &id) {
                (Some(s), Some(id)) => (
                    format!("/services/{s}/faults/{id}"),
                    format!("{s}: fault {id} removed"),
                ),
                (Some(s), None) => (
                    format!("/services/{s}/faults"),
                    format!("{s}: every fault removed"),
                ),
                _ => ("/faults".into(), "every fault removed".to_string()),
            };
            let answer = api.call(http::Method::DELETE, &path, None).await?;
            let mut lines = vec![done];
            if id.is_some() {
                lines.extend(fault_lines(&answer));
            }
            Ok(lines)
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
                lines.push(format!(
                    "  {:<16} {:<8} {}  (the service itself {})  received {}",
                    s["name"].as_str().unwrap_or("?"),
                    match s["health"].as_str() {
                        Some("up") => "running",
                        Some(health) => health,
                        None if s["running"].as_bool() == Some(true) => "running",
                        None => "stopped",
                    },
                    s["url"].as_str().unwrap_or(""),
                    s["service_addr"].as_str().unwrap_or("?"),
                    s["requests_received"],
                ));
                lines.extend(fault_lines(s));
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

/// A service's faults in the order they apply, one line each: `    fault 2: abort 503 ...`.
fn fault_lines(service: &Value) -> Vec<String> {
    service["faults"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            format!(
                "    fault {}: {}",
                f["id"],
                f["description"].as_str().unwrap_or("?")
            )
        })
        .collect()
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
        let url = answer["url"].as_str().unwrap_or("");
        Ok(vec![
            match (action, answer["running"].as_bool() == Some(true)) {
                ("pause", _) => {
                    format!("{service}: paused ({url} open, requests hang until unpause)")
                }
                ("unpause", _) => format!("{service}: unpaused"),
                ("partition", _) => format!("{service}: partitioned (cut off from the network)"),
                ("heal", _) => format!("{service}: healed (back on the network)"),
                ("kill", false) => {
                    format!("{service}: killed ({url} closed, its connections reset)")
                }
                ("stop", false) => format!("{service}: stopped ({url} closed)"),
                (_, true) => format!(
                    "{service}: running at {url} (the service itself {})",
                    answer["service_addr"].as_str().unwrap_or("?")
                ),
                (_, false) => format!("{service}: stopped ({url})"),
            },
        ])
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
