//! `scripts/million.sh` at a size CI can afford: 30,000 connections over three
//! server processes, more than one process's open-file limit (20,000) allows,
//! every connection verified, through exactly the code path of the full run.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Connections in the test run: past one process's 20,000 descriptors.
const CONNS: u64 = 30_000;
/// Longest the run may take before the test stops it and fails.
const WATCHDOG: Duration = Duration::from_secs(300);

/// The script's process, stopped with SIGTERM (so its trap stops its own children) if still running.
struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: kill(2) on our own child's pid, which is not reaped yet and so not reused.
            unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
            let until = Instant::now() + Duration::from_secs(20);
            while Instant::now() < until && matches!(self.0.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts the script with `args`, its output piped.
fn start(args: &[&str]) -> Script {
    let child = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/million.sh"))
        .args(args)
        .arg("--reactord")
        .arg(env!("CARGO_BIN_EXE_reactord"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bash scripts/million.sh");
    Script(child)
}

/// Runs the script with `args`; returns its exit code, stdout and stderr.
fn run(args: &[&str]) -> (i32, String, String) {
    let mut script = start(args);
    let started = Instant::now();
    while matches!(script.0.try_wait(), Ok(None)) {
        assert!(
            started.elapsed() < WATCHDOG,
            "million.sh ran past {WATCHDOG:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut out = String::new();
    let mut err = String::new();
    use std::io::Read;
    let child = &mut script.0;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let code = child.wait().unwrap().code().unwrap_or(-1);
    (code, out, err)
}

/// The value of `key=` in the RESULT line.
fn field(result: &str, key: &str) -> u64 {
    result
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {result}"))
        .parse()
        .unwrap_or_else(|_| panic!("{key}= is not a whole number in {result}"))
}

/// This process's open-file hard limit (the script's children inherit it).
fn nofile_hard_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the live struct we pass.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    limit.rlim_max
}

#[test]
fn thirty_thousand_connections_over_three_servers_all_verified() {
    // Three servers of 10,000 each, or more, smaller ones where the limit is lower.
    let per_process = (nofile_hard_limit() / 5 * 4).min(CONNS / 3).to_string();
    let (code, out, err) = run(&[
        "--hold",
        "2",
        "--sample",
        "1000",
        "--per-process",
        &per_process,
        &CONNS.to_string(),
    ]);
    let result = out.lines().last().unwrap_or_default();
    assert!(
        result.starts_with("RESULT "),
        "last line is not RESULT:\n{out}\n{err}"
    );
    assert_eq!(code, 0, "million.sh failed:\n{out}\n{err}");
    for key in ["conns", "established", "verified"] {
        assert_eq!(field(result, key), CONNS, "{key} in {result}");
    }
    assert!(field(result, "servers") >= 3, "{result}");
    assert!(field(result, "sample") >= 1000, "{result}");
    assert_eq!(field(result, "sample_verified"), field(result, "sample"));
    assert_eq!(field(result, "lost_while_idle"), 0);
    assert!(field(result, "user_bytes_per_conn") > 0, "{result}");
    assert!(
        out.contains("| **server user space per connection** |"),
        "{out}"
    );
}

#[test]
fn a_setting_that_would_stop_the_run_is_named_with_its_fix() {
    // A trillion connections: more memory than any machine has, and more TCP
    // memory than tcp_mem allows on any of them (fs.file-max may be unlimited).
    let (code, _, err) = run(&["--check", "1000000000000"]);
    assert_eq!(code, 2, "{err}");
    let verdict = err
        .lines()
        .find(|l| l.starts_with("million: would stop the run: "))
        .unwrap_or_else(|| panic!("no verdict in {err}"));
    assert!(verdict.contains("net.ipv4.tcp_mem"), "{err}");
    assert!(verdict.contains("memory"), "{err}");
    assert!(
        err.contains("fix (as root): sysctl -w net.ipv4.tcp_mem=\""),
        "{err}"
    );
    assert!(err.contains("rerun with --tune"), "{err}");
}

#[test]
fn bad_arguments_are_refused_clearly() {
    let (code, _, err) = run(&["--hold", "soon"]);
    assert_eq!(code, 2);
    assert!(err.contains("'soon' is not a whole number"), "{err}");
    let (code, _, err) = run(&["--per-process", "999999999"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("does not fit under the open-file limit"),
        "{err}"
    );
}

/// The `reactord` processes below `ancestor` (the script runs its work in a
/// child bash, so they are its grandchildren).
fn reactord_descendants(ancestor: u32) -> Vec<u32> {
    let mut parents = vec![ancestor];
    let mut found = Vec::new();
    // Two passes reach the grandchildren: the script's child bash, then its children.
    for _ in 0..2 {
        let mut next = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // The fields after the command name, which is in parentheses: state, ppid, ...
            let Some((name, rest)) = stat.split_once(") ") else {
                continue;
            };
            let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
            if ppid.is_some_and(|ppid| parents.contains(&ppid)) {
                if name.ends_with("(reactord") {
                    found.push(pid);
                }
                next.push(pid);
            }
        }
        parents = next;
    }
    found
}

#[test]
fn an_interrupted_run_stops_every_process_it_started() {
    let script = start(&["--hold", "120", "--per-process", "1000", "2000"]);
    let pid = script.0.id();
    let started = Instant::now();
    let mut children = reactord_descendants(pid);
    while children.len() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {children:?} started"
        );
        std::thread::sleep(Duration::from_millis(100));
        children = reactord_descendants(pid);
    }
    // SAFETY: kill(2) on our own child's pid, which is not reaped yet and so not reused.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
    let mut script = script;
    let until = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = script.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < until,
            "million.sh still running 30 s after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = script.0.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    // 130 is what the script means to return; bash 5.2 has been seen to end
    // an interrupted run with 2 instead (a trap lost mid-parse, see the top of
    // million.sh). What matters is that the run stops, non-zero, and leaves
    // no process behind, which is checked below.
    assert!(
        matches!(status.code(), Some(130 | 2)),
        "exit {:?}, stderr:\n{stderr}",
        status.code()
    );
    for child in children {
        let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains("reactord"),
            "pid {child} is still running after the script was interrupted"
        );
    }
}
