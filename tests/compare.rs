//! `reactord compare` end to end: the quick preset with short runs, `--cores`,
//! and a server that fails to start. `compare_versus.rs`: `--one-core` and `--baseline`.
//!
//! No test here asserts a speed; they check the outputs' shape and that no
//! server process outlives the comparison.

#[path = "common/compare_run.rs"]
mod compare_run;

use compare_run::{compare, leftover_servers, BIN};
use std::path::Path;
use std::process::Command;

/// One comparison at a time: each test checks that no compare server is left, which
/// another test's comparison running at the same moment would break.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn quick_compare_writes_all_three_files_and_leaves_no_server() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let output = compare(&out, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "compare failed: {stderr}");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let markdown = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert_eq!(stdout, markdown, "stdout is the markdown file");
    for needle in [
        "## Server CPU µs per operation",
        "## Operations per second",
        "vs threaded",
        "Load average",
        "echo 64 B x 100",
        "hold x 500",
        "churn x 10",
        "udp x 10",
    ] {
        assert!(markdown.contains(needle), "no '{needle}' in:\n{markdown}");
    }

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json["preset"], "quick");
    assert!(json["machine"]["cores"].as_u64().unwrap() >= 1);
    let cases = json["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    let mut pids = Vec::new();
    for case in cases {
        for design in ["reactor", "threaded"] {
            let median = &case["designs"][design]["median"];
            assert!(median["report"]["ops"].as_u64().unwrap() > 0, "{case}");
            assert_eq!(median["report"]["errors_total"], 0, "{case}");
            assert!(median["peak"]["rss_kib"].as_u64().unwrap() > 0, "{case}");
            assert!(median["peak"]["threads"].as_u64().unwrap() >= 1, "{case}");
            pids.push(median["server_pid"].as_u64().unwrap());
        }
    }
    let hold = &cases[2]["designs"]["reactor"]["median"]["report"]["hold"];
    assert_eq!(hold["verified"], 500, "{hold}");
    // The tokio example is built by `cargo test` next to the binary, so compare finds it.
    if Path::new(BIN)
        .parent()
        .unwrap()
        .join("examples/tokio_echo")
        .is_file()
    {
        assert!(markdown.contains("vs tokio"), "{markdown}");
        assert!(
            cases[0]["designs"]["tokio"]["median"]["report"]["ops"]
                .as_u64()
                .unwrap()
                > 0
        );
    }

    let svg = std::fs::read_to_string(out.join("compare.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("reactor"), "{svg}");

    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists() || !is_ours(pid),
            "server {pid} left running"
        );
    }
    assert_eq!(leftover_servers(), Vec::<u32>::new());
}

fn is_ours(pid: u64) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(BIN.as_bytes()))
}

#[test]
fn a_server_that_fails_to_start_is_a_clear_error_with_its_stderr() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("broken_server");
    std::fs::write(&script, "#!/bin/sh\necho 'boom: cannot bind' >&2\nexit 3\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let output = compare(
        &dir.path().join("out"),
        &["--tokio", script.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: the tokio server did not start: it exited with exit status 3"),
        "{stderr}"
    );
    assert!(stderr.contains("boom: cannot bind"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(leftover_servers(), Vec::<u32>::new());
}

#[test]
fn cores_writes_a_scaling_table_and_chart_for_every_design() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cores");
    let output = Command::new(BIN)
        .args([
            "compare",
            "--cores",
            "1,2",
            "--conns",
            "20",
            "--duration",
            "0.3",
        ])
        .args(["--rounds", "1", "--out"])
        .arg(&out)
        .output()
        .expect("run reactord compare --cores");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("core scaling: "), "{stderr}");
    let markdown = std::fs::read_to_string(out.join("cores.md")).unwrap();
    assert!(markdown.contains("## echo 64 B x 20"), "{markdown}");
    assert!(markdown.contains("\n| 2 | "), "{markdown}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("cores.json")).unwrap()).unwrap();
    let rows = &json["cases"][0]["rows"];
    for cores in ["1", "2"] {
        for design in ["reactor", "threaded"] {
            let cell = &rows[cores][design];
            assert!(
                cell["median"].as_f64().unwrap() > 0.0,
                "{cores} {design}: {cell}"
            );
            assert_eq!(cell["errors"], 0, "{cores} {design}: {cell}");
        }
    }
    let svg = std::fs::read_to_string(out.join("cores.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("server cores"),
        "{svg}"
    );
    assert_eq!(leftover_servers(), Vec::<u32>::new());
}
