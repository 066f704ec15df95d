//! `gauntlet load <url>`: a standalone load run on the engine the load steps use, printing HDR
//! percentiles, the achieved rate and errors by kind; `--hlog` writes the interval log.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use http::{HeaderMap, Method};

use super::Exit;
use crate::clock::Stopwatch;
use crate::load::summary::{summarize, table};
use crate::load::{self, plan, LoadPlan, Model, Progress, RequestTemplate, Stop};
use crate::units::parse_duration;

#[derive(Debug, Args)]
#[command(after_help = "\
Models:
  --rate R     open model: R requests per second whatever the latency; each request's latency
               counts from when it was due, so a stalled server shows in every request it
               delayed (as wrk2 reports it). The table also shows the uncorrected service time.
  (no --rate)  closed model: each connection sends its next request as soon as the previous
               response arrived, as fast as the server allows (like wrk); latency counts from
               the send.

Only loopback targets are accepted (127.0.0.1, ::1, localhost).
Exit status: 0 when the run completed with at least one non-5xx response, 1 when no request
succeeded, 2 for usage errors.

Examples:
  gauntlet load http://127.0.0.1:9001/health --rate 2000 --duration 10s --hlog health.hlog
  gauntlet load http://127.0.0.1:8000/api/v1/value-models -H 'Authorization: Bearer <jwt>' --rate 20 --requests 90")]
pub struct LoadArgs {
    /// Target URL (plain http, loopback host).
    pub url: String,
    /// Requests per second (open model). Without it, the closed model runs at full speed.
    #[arg(long)]
    pub rate: Option<f64>,
    /// How long to send: 10s, 500ms, 2m.
    #[arg(long, short = 'z', default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Send exactly this many requests instead of running for --duration.
    #[arg(long, short = 'n', conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// Keep-alive HTTP/1.1 connections (the closed model's concurrent clients).
    #[arg(long, short = 'c', default_value_t = 10)]
    pub connections: usize,
    /// A request header, 'Name: value' (repeat for more).
    #[arg(long, short = 'H')]
    pub header: Vec<String>,
    /// Request method.
    #[arg(long, short = 'X', default_value = "GET")]
    pub method: String,
    /// Request body.
    #[arg(long, short = 'd')]
    pub body: Option<String>,
    /// Write the HdrHistogram interval log (.hlog, 1 s intervals) to this file.
    #[arg(long)]
    pub hlog: Option<PathBuf>,
    /// Per-request limit; a request unanswered by then counts as a timeout error.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Builds the plan from the arguments.
fn build_plan(args: &LoadArgs) -> Result<LoadPlan, String> {
    let target = plan::parse_target(&args.url).map_err(|e| e.to_string())?;
    let method = Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("not an HTTP method: {:?}", args.method))?;
    let mut headers = HeaderMap::new();
    for text in &args.header {
        let (name, value) = plan::parse_header(text).map_err(|e| e.to_string())?;
        headers.append(name, value);
    }
    if !headers.contains_key(http::header::HOST) {
        if let Ok(host) = http::HeaderValue::from_str(&target.authority) {
            headers.insert(http::header::HOST, host);
        }
    }
    let body = args.body.clone().map(Bytes::from).unwrap_or_default();
    let label = format!("{method} {}", target.path_and_query);
    let template = RequestTemplate {
        method,
        path_and_query: target.path_and_query,
        headers,
        body,
        label,
    };
    let model = match args.rate {
        Some(rate) => Model::Open { rate },
        None => Model::Closed,
    };
    let stop = match args.requests {
        Some(n) => Stop::Requests(n),
        None => Stop::Duration(args.duration),
    };
    LoadPlan::new(
        target.addr,
        vec![template],
        model,
        stop,
        args.connections,
        args.timeout,
    )
    .map_err(|e| e.to_string())
}

pub async fn execute(args: LoadArgs) -> Exit {
    let plan = match build_plan(&args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let heading = format!(
        "gauntlet load: {} {}, {}",
        plan.templates[0].method,
        args.url,
        plan.describe()
    );
    println!("{heading}");
    let total = plan.total_requests();
    let progress = Arc::new(Progress::default());
    let ticker = std::io::stderr()
        .is_terminal()
        .then(|| tokio::spawn(show_progress(progress.clone(), total)));
    let run = load::run(plan, &heading, progress.clone());
    tokio::pin!(run);
    let result = tokio::select! {
        result = &mut run => result,
        () = super::interrupted() => {
            // Ctrl-C: stop sending, and report what was measured so far.
            progress.stop();
            run.await
        }
    };
    if let Some(ticker) = ticker {
        ticker.abort();
        eprint!("\r\x1b[2K");
    }
    let result = match result {
        Ok(result) => result,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Failures;
        }
    };
    let summary = summarize(&result);
    print!("{}", table(&summary));
    if let Some(path) = &args.hlog {
        if let Err(e) = std::fs::write(path, &result.hlog) {
            eprintln!(
                "error: cannot write the interval log {}: {e}",
                path.display()
            );
            return Exit::Usage;
        }
        println!("\ninterval log: {}", path.display());
    }
    if summary.success_ratio > 0.0 {
        Exit::Success
    } else {
        Exit::Failures
    }
}

/// Redraws one progress line on stderr (only on a terminal) until aborted.
async fn show_progress(progress: Arc<Progress>, total: Option<u64>) {
    let watch = Stopwatch::start();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let done = progress.done.load(Ordering::Relaxed);
        let errors = progress.errors.load(Ordering::Relaxed);
        let of = total.map(|t| format!("/{t}")).unwrap_or_default();
        let secs = watch.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        eprint!("\r\x1b[2K{done}{of} requests, {errors} errors, {secs:.1} s, {rate:.0}/s");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str) -> LoadArgs {
        LoadArgs {
            url: url.into(),
            rate: Some(100.0),
            duration: Duration::from_secs(2),
            requests: None,
            connections: 4,
            header: vec!["Authorization: Bearer x.y.z".into()],
            method: "post".into(),
            body: Some("{}".into()),
            hlog: None,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_plan_carries_method_headers_host_and_body() {
        let plan = build_plan(&args("http://127.0.0.1:9001/health?deep=1")).unwrap();
        let t = &plan.templates[0];
        assert_eq!(t.method, Method::POST);
        assert_eq!(t.path_and_query, "/health?deep=1");
        assert_eq!(t.headers["host"], "127.0.0.1:9001");
        assert_eq!(t.headers["authorization"], "Bearer x.y.z");
        assert_eq!(&t.body[..], b"{}");
        assert_eq!(plan.total_requests(), Some(200));
    }

    #[test]
    fn a_remote_target_is_a_usage_error() {
        let e = build_plan(&args("http://192.0.2.10/health")).unwrap_err();
        assert!(e.contains("loopback"), "{e}");
    }
}
