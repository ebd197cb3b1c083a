//! `reactord compare` against other builds: `--one-core` (tokio's current-thread
//! runtime on one core) and `--baseline PATH` (an older reactord), end to end.
//!
//! No test here asserts a speed; they check the outputs' shape, the refusals,
//! and that no server process outlives the comparison.

mod common;
#[path = "common/compare_run.rs"]
mod compare_run;

use compare_run::{compare, leftover_servers, BIN};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One comparison at a time: each test checks that no compare server is left, which
/// another test's comparison running at the same moment would break.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether `pid` is still a running `program`.
fn still_running(pid: u64, program: &Path) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.starts_with(program.as_os_str().as_encoded_bytes()))
}

#[test]
fn one_core_pairs_reactor_tokio_and_baseline_and_says_the_verdicts() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let tokio = common::example_path("tokio_echo");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("one-core");
    let started = Instant::now();
    let output = Command::new(BIN)
        .args([
            "compare",
            "--one-core",
            "--conns",
            "20",
            "--duration",
            "0.3",
        ])
        .args(["--rounds", "2", "--baseline", BIN, "--tokio"])
        .arg(&tokio)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run reactord compare --one-core");
    assert!(started.elapsed() < Duration::from_secs(90));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("one core: "), "{stderr}");
    let markdown = std::fs::read_to_string(out.join("one-core.md")).unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), markdown);
    let target = regex::Regex::new(
        r"(?m)^- rate ratio \d+\.\d\d \(target ≥ 1\.10\): (met|missed)( \(noisy: .*\))?\n- CPU per op ratio \d+\.\d\d \(target ≤ 0\.90\): (met|missed)( \(noisy: .*\))?$",
    )
    .unwrap();
    assert!(target.is_match(&markdown), "{markdown}");
    for needle in [
        "# One core: reactord against tokio current-thread, echo 64 B x 20",
        "Load average",
        "CPU steal",
        "2 paired rounds of 0.3 s",
        "| tokio current-thread | ",
        "| baseline ",
        "| 1     | tokio, reactor, baseline |",
        "| 2     | baseline, reactor, tokio |",
        "load generator busiest",
    ] {
        assert!(markdown.contains(needle), "no '{needle}' in:\n{markdown}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("one-core.json")).unwrap()).unwrap();
    assert!(json["machine"]["cores"].as_u64().unwrap() >= 1);
    assert_eq!(json["case"], "echo 64 B x 20");
    let rounds = json["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 2);
    for round in rounds {
        for (design, program) in [
            ("reactor", Path::new(BIN)),
            ("tokio", &tokio),
            ("baseline", Path::new(BIN)),
        ] {
            let run = &round["runs"][design];
            assert!(run["ops"].as_u64().unwrap() > 0, "{design}: {run}");
            assert_eq!(run["errors"], 0, "{design}: {run}");
            let pid = run["server_pid"].as_u64().unwrap();
            assert!(
                !still_running(pid, program),
                "{design} server {pid} left running"
            );
        }
    }
    for (i, partner) in ["tokio", "baseline"].into_iter().enumerate() {
        let ratios = &json["ratios"][i];
        assert_eq!(ratios["partner"], partner);
        assert_eq!(ratios["rate"].as_array().unwrap().len(), 2);
        assert!(
            ratios["rate_stat"]["median"].as_f64().unwrap() > 0.0,
            "{ratios}"
        );
        assert!(
            ratios["cpu_stat"]["median"].as_f64().unwrap() > 0.0,
            "{ratios}"
        );
    }
    assert_eq!(leftover_servers(), Vec::<u32>::new());
}

#[test]
fn one_core_without_the_tokio_example_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args([
            "compare",
            "--one-core",
            "--tokio",
            "/nonexistent/tokio_echo",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: --one-core needs the tokio echo example, and /nonexistent/tokio_echo is not there"),
        "{stderr}"
    );
    assert!(!dir.path().join("one-core.md").exists());
}

#[test]
fn a_baseline_that_is_missing_or_not_a_server_is_refused_in_one_line() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let output = compare(
        &dir.path().join("out"),
        &["--baseline", "/nonexistent/reactord-old"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "error: --baseline /nonexistent/reactord-old: no such file"
    );

    let script = dir.path().join("not_a_server");
    std::fs::write(&script, "#!/bin/sh\necho 'hello' >&2\nexit 0\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = compare(
        &dir.path().join("out"),
        &["--baseline", script.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("not a reactord server: the baseline server did not start: it exited with exit status 0"),
        "{stderr}"
    );
    assert!(!dir.path().join("out/compare.md").exists());
    assert_eq!(leftover_servers(), Vec::<u32>::new());
}

#[test]
fn baseline_joins_every_case_with_before_after_tables() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let output = compare(&out, &["--baseline", BIN]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let markdown = std::fs::read_to_string(out.join("compare.md")).unwrap();
    for needle in [
        "## Before/after: this build (reactor) against the baseline build",
        "### Before/after: Server CPU µs per operation",
        "### Before/after: Operations per second",
        "| case            | reactor | baseline | vs baseline |",
        "| hold x 500      | baseline ",
        "| udp x 10        | baseline ",
    ] {
        assert!(markdown.contains(needle), "no '{needle}' in:\n{markdown}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json["baseline"], BIN);
    for case in json["cases"].as_array().unwrap() {
        let median = &case["designs"]["baseline"]["median"];
        assert!(median["report"]["ops"].as_u64().unwrap() > 0, "{case}");
        assert_eq!(median["report"]["errors_total"], 0, "{case}");
    }
    let svg = std::fs::read_to_string(out.join("compare.svg")).unwrap();
    assert!(svg.contains("baseline"), "the chart has no baseline bars");
    assert_eq!(leftover_servers(), Vec::<u32>::new());
}
