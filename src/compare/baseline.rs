//! `compare --baseline PATH`: another reactord build as one more design, for before/after.
//!
//! "Nothing else gets slower" is a claim about two builds, so the honest way
//! to show it is to run both through the same loads in the same run, with
//! this build's load generator against each. The baseline is usually an
//! older commit's binary, so it is started only with flags that reactord has
//! accepted all along (see [`Design::Baseline`]), and newer flags such as
//! `--reactors` are passed only after asking its `serve --help` whether it
//! knows them.
//!
//! Before any case runs, the baseline is started once and stopped: a path
//! that is missing, is not a program, or does not print reactord's
//! `listening` lines is refused at once with one clear error, not after
//! minutes of other cases.

use super::plan::Design;
use super::server::{ServerProcess, Tuning};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `PATH serve --help` may take.
const HELP_TIMEOUT: Duration = Duration::from_secs(5);

/// Checks that `path` is a program that serves as a reactord does, or says why not.
pub fn check(path: &Path, tcp_only: bool) -> Result<(), String> {
    if !path.is_file() {
        return Err(format!("--baseline {}: no such file", path.display()));
    }
    let tuning = Tuning {
        tcp_only,
        ..Tuning::default()
    };
    match ServerProcess::start_tuned(Design::Baseline, path, &tuning) {
        // Dropping it stops it by its pid.
        Ok((server, _ports)) => {
            drop(server);
            Ok(())
        }
        Err(err) => Err(format!(
            "--baseline {}: not a reactord server: {}",
            path.display(),
            first_line(&err.to_string())
        )),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// Whether `program serve --help` lists `flag` (e.g. `--reactors`); `false`
/// when it cannot tell (no such flag, a failure, or no answer within 5 s).
pub fn accepts_flag(program: &Path, flag: &str) -> bool {
    let Ok(mut child) = Command::new(program)
        .args(["serve", "--help"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    // Read on a thread so a program that never exits cannot hold this one.
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = stdout {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    });
    let deadline = Instant::now() + HELP_TIMEOUT;
    let exited = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                // Our own child, by its pid (Child::kill), then reaped.
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
        }
    };
    let help = reader.join().unwrap_or_default();
    exited && lists_flag(&help, flag)
}

/// Whether clap's help text has a line for `flag` (`  --reactors <N|auto>`).
fn lists_flag(help: &str, flag: &str) -> bool {
    help.lines().any(|line| {
        line.split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '<')
            .any(|word| word == flag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_counts_only_as_a_whole_word_of_the_help() {
        let help = "Options:\n      --reactors <N|auto>  How many\n  -q, --quiet  Less\n";
        assert!(lists_flag(help, "--reactors"));
        assert!(lists_flag(help, "--quiet"));
        assert!(!lists_flag(help, "--reactor"));
        assert!(!lists_flag(
            "Options:\n      --max-conns <N>\n",
            "--reactors"
        ));
    }

    #[test]
    fn a_missing_baseline_is_refused_in_one_line() {
        let err = check(Path::new("/nonexistent/reactord-old"), false).unwrap_err();
        assert_eq!(err, "--baseline /nonexistent/reactord-old: no such file");
        assert!(!accepts_flag(
            Path::new("/nonexistent/reactord-old"),
            "--reactors"
        ));
    }
}
