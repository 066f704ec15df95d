//! `gauntlet compare` and self-explaining failures through the real binary (issue 13 items 2, 3):
//! two runs of a conformant stack compare without regression; an edited copy of the stack that
//! opens its breakers after 6 failures fails CB-2, its report names `failure_threshold: 6` with
//! file and line and diffs the stack against `--baseline-stack`; `compare` then reports the new
//! failures and the config diff and exits 1.

use std::path::{Path, PathBuf};
use std::process::Command;

const CB2: &str = "features/resilience/circuit_breaker.feature:28";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn gauntlet(args: &[&str], extra: &[&Path]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(args)
        .args(extra)
        .current_dir(root())
        .output()
        .expect("run gauntlet");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn compare_finds_no_regression_then_the_new_failures_and_the_config_change_that_explains_them() {
    let tmp = tempfile::tempdir().unwrap();
    let reports = tmp.path().join("reports");
    let report_dir = ["--report-dir"];
    for _ in 0..2 {
        let (code, stdout, stderr) =
            gauntlet(&[&["run", CB2][..], &report_dir[..]].concat(), &[&reports]);
        assert_eq!(code, 0, "{stdout}{stderr}");
    }
    let (code, stdout, stderr) = gauntlet(&["compare", "--report-dir"], &[&reports]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("new failures: 0"), "{stdout}");
    assert!(stdout.contains("stack files: same"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("no regression"), "{stdout}");
    assert!(reports.join("compare.html").is_file());

    // The same stack name, one value changed: CB-2 breaks.
    let edited = tmp.path().join("valueverse");
    copy_dir(&root().join("scenarios/valueverse"), &edited);
    let kong = std::fs::read_to_string(edited.join("kong.yml")).unwrap();
    std::fs::write(
        edited.join("kong.yml"),
        kong.replace("failure_threshold: 5", "failure_threshold: 6"),
    )
    .unwrap();
    let (code, stdout, stderr) = gauntlet(
        &[&["run", CB2][..], &report_dir[..]].concat(),
        &[
            &reports,
            Path::new("--stack"),
            &edited,
            Path::new("--baseline-stack"),
            Path::new("scenarios/valueverse"),
        ],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    let html = std::fs::read_to_string(reports.join("latest/index.html")).unwrap();
    assert!(
        html.contains("Config governing"),
        "the failure names its config"
    );
    assert!(
        html.contains(
            "services[value-architect].plugins[circuit-breaker].config.failure_threshold"
        ),
        "the governing key"
    );
    let kong_line = kong
        .lines()
        .position(|l| l.contains("failure_threshold"))
        .unwrap()
        + 1;
    assert!(
        html.contains(&format!(
            "href=\"#stack-kong-yml-L{kong_line}\">kong.yml:{kong_line}</a>"
        )),
        "links to kong.yml:{kong_line}"
    );
    assert!(html.contains(&format!(
        "id=\"stack-kong-yml-L{kong_line}\" class=\"marked\""
    )));
    assert!(html.contains("Changes against the baseline"));
    assert!(html.contains("failure_threshold: 6"));
    // Every step of the failing scenario shows its requests, not only the last one.
    assert!(html.contains("The 4 requests of this step"), "the 4 GETs");
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("latest/results.json")).unwrap(),
    )
    .unwrap();
    let cb2 = &results["explain"]["governing"][0];
    assert_eq!(cb2["clause"], "CB-2");
    assert!(cb2["values"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["value"] == "6" && v["line"] == kong_line));
    assert!(reports.join("latest/stack/kong.yml").is_file());

    let (code, stdout, stderr) = gauntlet(&["compare", "--report-dir"], &[&reports]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("new failures: 8"), "{stdout}");
    assert!(stdout.contains("stack files changed"), "{stdout}");
    assert!(
        stdout.contains("-          failure_threshold: 5"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+          failure_threshold: 6"),
        "{stdout}"
    );
    assert!(stdout.contains("CB-2       passed → failed"), "{stdout}");
    assert!(
        stdout.lines().last().unwrap().starts_with("REGRESSION"),
        "{stdout}"
    );
    let page = std::fs::read_to_string(reports.join("compare.html")).unwrap();
    assert!(page.contains("REGRESSION") && page.contains("failure_threshold: 6"));

    // Runs named by directory; an unknown run is a usage error.
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("20"))
        .collect();
    dirs.sort();
    let (code, stdout, _) = gauntlet(
        &["compare"],
        &[&dirs[0], &dirs[1], Path::new("--report-dir"), &reports],
    );
    assert_eq!(code, 0, "{stdout}");
    let (code, _, stderr) = gauntlet(
        &["compare", "nope", "20990101-000000-x", "--report-dir"],
        &[&reports],
    );
    assert_eq!(code, 2, "{stderr}");
}

/// The nightly CI examples are YAML that parses, and every `gauntlet` command in them is one the
/// command line accepts; the README points at both.
#[test]
fn the_nightly_ci_examples_parse_and_use_real_commands() {
    use clap::Parser as _;
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for file in ["ci/nightly.yml", "ci/nightly.gitlab-ci.yml"] {
        assert!(readme.contains(file), "the README documents {file}");
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let _: serde_json::Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut commands = 0;
        for line in text.lines() {
            let Some((_, rest)) = line.split_once("target/release/gauntlet ") else {
                continue;
            };
            let args: Vec<&str> = rest
                .split(['|', ';', '&'])
                .next()
                .unwrap()
                .split_whitespace()
                .collect();
            let argv = std::iter::once("gauntlet").chain(args.iter().copied());
            gauntlet::cli::Cli::try_parse_from(argv)
                .unwrap_or_else(|e| panic!("{file}: `gauntlet {}`: {e}", args.join(" ")));
            commands += 1;
        }
        assert!(commands >= 2, "{file} runs and compares");
        assert!(text.contains("junit.xml") && text.contains("reports/"));
    }
}
