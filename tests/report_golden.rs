//! Golden-file tests for the run reports (SPEC §10): a fixed `RunReport` rendered in every format
//! must match `tests/golden/*` byte for byte, contain no secret, JWT or `Authorization` value, and
//! parse back (JSON with serde_json, XML with a small well-formedness check).
//!
//! Regenerate the golden files after an intended change with
//! `UPDATE_GOLDEN=1 cargo test --test report_golden`, and review the diff.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use gauntlet::report::{
    clause_ids, cucumber_json, html, junit, refresh_latest, results_json, run_id, write_all,
    BreakerState, BreakerTimeline, BreakerTransition, ClauseVerdict, Evidence, Exchange,
    FeatureReport, HistogramReport, HttpRecord, HttpResponseRecord, JournalRecord,
    LatencyObjective, PercentileValue, RunReport, ScenarioReport, Secrets, ServiceJournal,
    StackInfo, Status, StepReport, Verdict,
};
use gauntlet::trace::{SpanJson, SpanKind, TraceJson};

/// The stack's JWT secret in the fixture; must never appear in an output.
const SECRET: &str = "frontend-app-secret-7c1d2e";
/// An HS256 token ({"alg":"HS256","typ":"JWT"} / {"iss":"frontend-app-jwt-key"}); the signature
/// segment is made up, which does not matter for redaction.
const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJmcm9udGVuZC1hcHAtand0LWtleSJ9.q2V9fX0eJ3pZ8zJ3K1c";
/// An opaque credential that is not a JWT, sent in an `Authorization` header.
const OPAQUE: &str = "opaque-credential-9f8e";

fn step(keyword: &str, text: &str, line: usize, status: Status, ms: u64) -> StepReport {
    StepReport {
        keyword: keyword.to_string(),
        text: text.to_string(),
        line,
        status,
        duration: Duration::from_millis(ms),
        error: None,
        exchange: None,
        exchanges: Vec::new(),
        exchanges_omitted: 0,
        docstring: None,
        table: None,
    }
}

fn scenario(name: &str, line: usize, tags: &[&str], steps: Vec<StepReport>) -> ScenarioReport {
    ScenarioReport {
        name: name.to_string(),
        keyword: "Scenario".to_string(),
        line,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        clauses: clause_ids(tags),
        status: Status::aggregate(steps.iter().map(|s| s.status)),
        duration: steps.iter().map(|s| s.duration).sum(),
        steps,
        examples: Vec::new(),
        repeats: Vec::new(),
        started_at: None,
        evidence: Evidence::default(),
    }
}

fn fixture() -> RunReport {
    let passing = scenario(
        "A request without a token is rejected",
        6,
        &["AUTH-1"],
        vec![
            step(
                "Given ",
                "the valueverse stack is running",
                7,
                Status::Passed,
                40,
            ),
            step(
                "When ",
                "an anonymous client sends GET /api/v1/value-models",
                8,
                Status::Passed,
                3,
            ),
            step("Then ", "the response status is 401", 9, Status::Passed, 0),
            step(
                "And ",
                "the response header \"WWW-Authenticate\" is \"Bearer\"",
                10,
                Status::Passed,
                0,
            ),
        ],
    );

    let mut passing = passing;
    passing.evidence.histograms = vec![HistogramReport {
        name: "GET /api/v1/value-models".into(),
        count: 1000,
        min_ms: 0.8,
        mean_ms: 2.5,
        max_ms: 41.0,
        percentiles: [
            (0.0, 0.8),
            (50.0, 2.1),
            (90.0, 3.9),
            (99.0, 12.5),
            (99.9, 30.2),
            (99.99, 41.0),
            (100.0, 41.0),
        ]
        .into_iter()
        .map(|(percentile, value_ms)| PercentileValue {
            percentile,
            value_ms,
        })
        .collect(),
        hlog_file: Some("value-models-read.hlog".into()),
        hlog: Some("#[StartTime: 1795863823.000 (seconds since epoch)]\n".into()),
        objectives: vec![LatencyObjective {
            percentile: 99.0,
            below_ms: 50.0,
            measured_ms: 12.5,
            met: true,
        }],
        stack_start_ms: None,
    }];

    let mut send = step(
        "When ",
        &format!("frontend-app sends GET /api/v1/value-models?jwt={JWT}"),
        15,
        Status::Passed,
        5,
    );
    send.table = Some(vec![
        vec!["header".into(), "value".into()],
        vec!["Authorization".into(), format!("Bearer {OPAQUE}")],
    ]);
    let mut failing_step = step("Then ", "the response status is 401", 16, Status::Failed, 1);
    failing_step.error = Some(format!(
        "expected status 401, got 200 <ok> & \"quoted\"\ntoken was signed with {SECRET}"
    ));
    failing_step.exchange = Some(Exchange {
        request: HttpRecord {
            method: "GET".into(),
            url: format!("http://127.0.0.1:8000/api/v1/value-models?jwt={JWT}"),
            headers: vec![
                ("Authorization".into(), format!("Bearer {OPAQUE}")),
                ("Cookie".into(), format!("jwt={JWT}; theme=dark")),
                ("Accept".into(), "application/json".into()),
            ],
            body: String::new(),
        },
        response: Some(HttpResponseRecord {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-Consumer-Username".into(), "frontend-app".into()),
            ],
            body: format!("{{\"models\":[],\"echo\":\"{SECRET}\"}}"),
        }),
    });
    let mut failing = scenario(
        "An expired token is rejected",
        13,
        &["AUTH-4", "slow"],
        vec![
            step(
                "Given ",
                "a token for frontend-app that expired 1 second ago",
                14,
                Status::Passed,
                2,
            ),
            send,
            failing_step,
            step(
                "And ",
                "the response body is {\"exp\":\"token expired\"}",
                17,
                Status::Skipped,
                0,
            ),
        ],
    );
    failing.evidence.stack_startup = Some(Duration::from_millis(250));
    failing.evidence.breakers = vec![BreakerTimeline {
        service: "value-architect".into(),
        transitions: vec![
            BreakerTransition {
                from: BreakerState::Closed,
                to: BreakerState::Open,
                at: Duration::from_millis(1_500),
                reason: "5 consecutive failures".into(),
            },
            BreakerTransition {
                from: BreakerState::Open,
                to: BreakerState::HalfOpen,
                at: Duration::from_millis(61_500),
                reason: "open_timeout elapsed".into(),
            },
        ],
    }];
    failing.evidence.journals = vec![ServiceJournal {
        service: "value-architect".into(),
        received: 2,
        entries: vec![
            JournalRecord {
                seq: 1,
                at: Duration::from_millis(1_200),
                source: Some("spiffe://valueverse.local/ns/default/dc/dc1/svc/api-gateway".into()),
                method: "GET".into(),
                path: "/api/v1/value-models?jwt=…".into(),
                fault: Some("abort 503".into()),
            },
            JournalRecord {
                seq: 2,
                at: Duration::from_millis(1_300),
                source: None,
                method: "GET".into(),
                path: format!("/api/v1/value-models/{SECRET}"),
                fault: None,
            },
        ],
    }];

    // The last request as a trace: gateway stages, the attempt, the sidecar hop and its fault
    // (a path with the secret in it must come out redacted).
    let span = |id: &str,
                parent: Option<&str>,
                name: &str,
                component: &str,
                depth: usize,
                at: (f64, f64),
                error: bool,
                attrs: &[(&str, &str)]| SpanJson {
        span_id: id.into(),
        parent_id: parent.map(str::to_string),
        name: name.into(),
        component: component.into(),
        kind: if depth == 0 {
            SpanKind::Server
        } else {
            SpanKind::Internal
        },
        depth,
        offset_ms: at.0,
        duration_ms: at.1,
        error,
        attributes: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    failing.evidence.traces = vec![TraceJson {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        name: "gateway GET /api/v1/value-models".into(),
        duration_ms: 2.5,
        error: true,
        spans: vec![
            span(
                "00000000000000a1",
                Some("00f067aa0ba902b7"),
                "gateway GET /api/v1/value-models",
                "gateway",
                0,
                (0.0, 2.5),
                true,
                &[
                    ("http.response.status_code", "503"),
                    ("kong.consumer", "admin-user"),
                ],
            ),
            span(
                "00000000000000a2",
                Some("00000000000000a1"),
                "jwt",
                "gateway",
                1,
                (0.01, 0.02),
                false,
                &[("decision", "passed")],
            ),
            span(
                "00000000000000a3",
                Some("00000000000000a1"),
                "circuit-breaker",
                "gateway",
                1,
                (0.04, 0.001),
                false,
                &[("breaker.state", "CLOSED")],
            ),
            span(
                "00000000000000a4",
                Some("00000000000000a1"),
                "upstream value-architect",
                "gateway",
                1,
                (0.05, 2.4),
                true,
                &[("attempts", "1")],
            ),
            span(
                "00000000000000a5",
                Some("00000000000000a4"),
                "attempt 1",
                "gateway",
                2,
                (0.05, 2.4),
                true,
                &[("outcome", "status 503")],
            ),
            span(
                "00000000000000b1",
                Some("00000000000000a4"),
                "inbound value-architect GET /api/v1/value-models",
                "value-architect sidecar",
                2,
                (0.6, 1.2),
                true,
                &[("url.path", &format!("/api/v1/value-models/{SECRET}"))],
            ),
            span(
                "00000000000000b2",
                Some("00000000000000b1"),
                "intention api-gateway → value-architect",
                "value-architect sidecar",
                3,
                (0.61, 0.01),
                false,
                &[("decision", "allow")],
            ),
            span(
                "00000000000000b3",
                Some("00000000000000b1"),
                "fault: abort 503",
                "value-architect sidecar",
                3,
                (0.63, 0.0),
                true,
                &[("fault", "abort 503")],
            ),
        ],
    }];

    let typo = scenario(
        "A tag with a typo",
        20,
        &["AUTH-9"],
        vec![step(
            "Given ",
            "the valueverse stack is running",
            21,
            Status::Passed,
            1,
        )],
    );

    RunReport {
        run_id: run_id(
            UNIX_EPOCH + Duration::from_secs(1_795_863_823),
            "valueverse",
        ),
        started_at: UNIX_EPOCH + Duration::from_secs(1_795_863_823),
        duration: Duration::from_millis(1_234),
        stack: StackInfo {
            name: "valueverse".into(),
            dir: "scenarios/valueverse".into(),
            warnings: vec![
                "kong.yml: plugin \"cors\" is not emulated (routes: value-models-read)".into(),
            ],
        },
        seed: 42,
        real_time: false,
        features: vec![FeatureReport {
            name: "JWT authentication".into(),
            path: "features/auth/jwt.feature".into(),
            line: 2,
            description: Some("Kong's jwt plugin semantics <as documented>.".into()),
            tags: vec!["auth".into()],
            scenarios: vec![passing, failing, typo],
        }],
        // A short catalogue keeps the golden files readable; one clause stays uncovered.
        clauses: gauntlet::clauses::Catalogue::built_in()
            .report_rows()
            .into_iter()
            .filter(|c| ["AUTH-1", "AUTH-4", "CB-2"].contains(&c.id.as_str()))
            .collect(),
        explain: Default::default(),
        secrets: Secrets(vec![SECRET.to_string()]),
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compares `actual` with `tests/golden/<name>`, or rewrites the file under `UPDATE_GOLDEN=1`.
fn assert_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        fs::create_dir_all(golden_dir()).expect("create tests/golden");
        fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from {} at line {}:\n  expected: {:?}\n  actual:   {:?}\n\
             (UPDATE_GOLDEN=1 regenerates it after an intended change)",
            path.display(),
            line + 1,
            expected.lines().nth(line).unwrap_or("<end of file>"),
            actual.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}

/// No secret, JWT, or credential value survives; the redaction markers are there instead.
fn assert_redacted(name: &str, output: &str) {
    for leaked in [SECRET, JWT, OPAQUE, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"] {
        assert!(!output.contains(leaked), "{name} leaks {leaked:?}");
    }
    assert!(
        output.contains("[REDACTED JWT]"),
        "{name} lacks the JWT marker"
    );
    assert!(
        output.contains("[REDACTED]"),
        "{name} lacks the redaction marker"
    );
}

fn all_outputs() -> Vec<(&'static str, String)> {
    let report = fixture();
    vec![
        ("index.html", html::render(&report).expect("render html")),
        ("junit.xml", junit::render(&report)),
        (
            "cucumber.json",
            cucumber_json::render(&report).expect("render cucumber json"),
        ),
        (
            "results.json",
            results_json::render(&report).expect("render results json"),
        ),
    ]
}

#[test]
fn every_format_matches_its_golden_file() {
    for (name, output) in all_outputs() {
        assert_golden(name, &output);
    }
}

#[test]
fn no_secret_jwt_or_authorization_value_survives_in_any_output() {
    for (name, output) in all_outputs() {
        assert_redacted(name, &output);
    }
    let html = html::render(&fixture()).expect("render html");
    assert!(html.contains("Authorization: Bearer [REDACTED]"));
    assert!(html.contains("?jwt=[REDACTED JWT]"));
}

#[test]
fn the_fixture_fails_on_its_failing_clause_and_lists_the_uncovered_one() {
    let report = fixture();
    assert_eq!(report.verdict(), Verdict::Failed);
    let matrix = report.clause_matrix();
    let verdicts: Vec<(&str, ClauseVerdict)> = matrix
        .rows
        .iter()
        .map(|r| (r.id.as_str(), r.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("AUTH-1", ClauseVerdict::Passed),
            ("AUTH-4", ClauseVerdict::Failed),
            ("CB-2", ClauseVerdict::Uncovered)
        ]
    );
    assert_eq!(matrix.unknown.len(), 1);
    assert_eq!(matrix.unknown[0].id, "AUTH-9");
}

#[test]
fn json_outputs_parse_back_with_the_expected_shape() {
    let report = fixture();
    let cucumber: serde_json::Value =
        serde_json::from_str(&cucumber_json::render(&report).expect("render")).expect("valid JSON");
    let feature = &cucumber[0];
    assert_eq!(feature["keyword"], "Feature");
    assert_eq!(feature["uri"], "features/auth/jwt.feature");
    assert_eq!(feature["tags"][0]["name"], "@auth");
    let failing = &feature["elements"][1];
    assert_eq!(failing["type"], "scenario");
    assert_eq!(
        failing["id"],
        "jwt-authentication;an-expired-token-is-rejected"
    );
    let step = &failing["steps"][2];
    assert_eq!(step["result"]["status"], "failed");
    assert_eq!(step["result"]["duration"], 1_000_000);
    assert_eq!(failing["steps"][3]["result"]["status"], "skipped");

    let results: serde_json::Value =
        serde_json::from_str(&results_json::render(&report).expect("render")).expect("valid JSON");
    assert_eq!(results["format"], "gauntlet-results");
    assert_eq!(results["verdict"], "failed");
    assert_eq!(results["counts"]["scenarios"]["failed"], 1);
    assert_eq!(results["duration_ms"], 1234.0);
    assert_eq!(results["started_at"], "2026-11-28T11:03:43Z");
    assert!(results.get("secrets").is_none());
    assert_eq!(results["clause_matrix"]["rows"][2]["verdict"], "uncovered");
}

#[test]
fn junit_xml_is_well_formed_and_counts_the_failure() {
    let xml = junit::render(&fixture());
    check_well_formed(&xml);
    assert!(xml.contains(
        "<testsuite name=\"JWT authentication\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"0\""
    ));
    assert!(xml.contains("classname=\"features/auth/jwt.feature\""));
    assert!(xml.contains("<property name=\"clause\" value=\"AUTH-4\"/>"));
    assert!(xml.contains("<failure message=\"Then the response status is 401: expected status 401, got 200 &lt;ok&gt; &amp; &quot;quoted&quot;\" type=\"failed\">"));
}

#[test]
fn html_is_self_contained() {
    let html = html::render(&fixture()).expect("render html");
    for external in ["http://", "https://", "//cdn", "<link", "@import", "src="] {
        let allowed = external == "http://" && html.matches(external).count() == 1;
        assert!(
            !html.contains(external) || allowed,
            "index.html references {external:?}"
        );
    }
    // The one http:// is the redacted request URL of the failing step, shown as text.
    assert!(html.contains("GET http://127.0.0.1:8000/api/v1/value-models?jwt=[REDACTED JWT]"));
    assert!(html.contains("<details class=\"scenario failed\" id=\"scenario-1-2\" open>"));
    assert!(html.contains("<svg class=\"plot\""));
}

#[test]
fn write_all_writes_every_file_and_latest_mirrors_the_run() {
    let root = tempfile::tempdir().expect("tempdir");
    let report = fixture();
    let run_dir = root.path().join(&report.run_id);
    let paths = write_all(&report, &run_dir).expect("write reports");
    for path in [
        &paths.index_html,
        &paths.junit_xml,
        &paths.cucumber_json,
        &paths.results_json,
    ] {
        let text = fs::read_to_string(path).expect("read written report");
        assert_redacted(&path.display().to_string(), &text);
    }
    assert_eq!(
        paths.histograms,
        [run_dir.join("histograms/value-models-read.hlog")]
    );

    refresh_latest(root.path(), &run_dir).expect("refresh latest");
    let latest = root.path().join("latest");
    assert_eq!(
        fs::read_to_string(latest.join("index.html")).expect("latest index"),
        fs::read_to_string(&paths.index_html).expect("run index")
    );
    assert!(latest.join("histograms/value-models-read.hlog").is_file());
}

/// A small XML 1.0 well-formedness check: one root, balanced and properly nested tags, quoted
/// attributes, only the five predefined entities or character references, no raw `<` or `&`.
fn check_well_formed(xml: &str) {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("XML declaration first");
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open]);
        let close = rest[open..].find('>').expect("unterminated tag") + open;
        let tag = &rest[open + 1..close];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
        } else {
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name = tag.split_whitespace().next().expect("tag name");
            check_attributes(&tag[name.len()..]);
            if stack.is_empty() {
                roots += 1;
            }
            if !self_closing {
                stack.push(name.to_string());
            }
        }
        rest = &rest[close + 1..];
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert_eq!(roots, 1, "exactly one root element");
}

fn check_attributes(mut attrs: &str) {
    loop {
        attrs = attrs.trim_start();
        if attrs.is_empty() {
            return;
        }
        let eq = attrs.find("=\"").expect("attribute with a quoted value");
        let end = attrs[eq + 2..].find('"').expect("closing quote") + eq + 2;
        check_text(&attrs[eq + 2..end]);
        assert!(!attrs[eq + 2..end].contains('<'), "raw < in attribute");
        attrs = &attrs[end + 1..];
    }
}

fn check_text(text: &str) {
    assert!(!text.contains('>') || !text.contains("]]>"), "]]> in text");
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        let semi = rest[amp..].find(';').expect("unterminated entity") + amp;
        let entity = &rest[amp + 1..semi];
        assert!(
            ["amp", "lt", "gt", "quot", "apos"].contains(&entity)
                || entity
                    .strip_prefix('#')
                    .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit())),
            "unknown entity &{entity};"
        );
        rest = &rest[semi + 1..];
    }
    for c in text.chars() {
        assert!(
            matches!(c, '\t' | '\n' | '\r') || c >= ' ',
            "control character {c:?} in XML"
        );
    }
}
