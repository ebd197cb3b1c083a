//! Running `reactord compare` from a test, and checking that it left no server behind.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_reactord");

/// `compare --quick` with 0.3 s runs into `out`, plus `extra` flags; at most 90 s.
pub fn compare(out: &Path, extra: &[&str]) -> Output {
    let started = Instant::now();
    let output = Command::new(BIN)
        .args(["compare", "--quick", "--duration", "0.3", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("run reactord compare");
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "compare --quick took {:?}",
        started.elapsed()
    );
    output
}

/// Processes still running this binary as a compare server (`--max-conns 15000` is compare's).
pub fn leftover_servers() -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let ours = args.first().is_some_and(|a| a == BIN);
        if ours
            && args
                .windows(2)
                .any(|w| w[0] == "--max-conns" && w[1] == "15000")
        {
            pids.push(pid);
        }
    }
    pids
}
