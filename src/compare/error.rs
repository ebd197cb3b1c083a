//! Why a comparison stopped. Every variant names the design or file at fault.

use crate::loadgen::BenchError;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// A comparison that could not go on; servers already started are stopped by their guards.
#[derive(Debug)]
pub enum CompareError {
    /// The server binary could not be started at all.
    Spawn(String, io::Error),
    /// The server exited, or said nothing usable, before announcing its sockets; its stderr follows.
    NoListening {
        /// Which server.
        design: String,
        /// What went wrong (exited with status ..., timed out, ...).
        why: String,
        /// The last lines the server wrote to stderr.
        stderr: String,
    },
    /// The load generator refused to run one case.
    Bench(String, BenchError),
    /// Writing a result file failed.
    Output(PathBuf, io::Error),
    /// Drawing the chart failed.
    Chart(String),
}

impl fmt::Display for CompareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompareError::Spawn(design, err) => {
                write!(f, "cannot start the {design} server: {err}")
            }
            CompareError::NoListening {
                design,
                why,
                stderr,
            } => {
                write!(f, "the {design} server did not start: {why}")?;
                if stderr.trim().is_empty() {
                    write!(f, " (it wrote nothing to stderr)")
                } else {
                    write!(f, "; its stderr:\n{}", stderr.trim_end())
                }
            }
            CompareError::Bench(case, err) => write!(f, "cannot run {case}: {err}"),
            CompareError::Output(path, err) => write!(f, "cannot write {}: {err}", path.display()),
            CompareError::Chart(why) => write!(f, "cannot draw the chart: {why}"),
        }
    }
}

impl std::error::Error for CompareError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CompareError::Spawn(_, err) | CompareError::Output(_, err) => Some(err),
            CompareError::Bench(_, err) => Some(err),
            _ => None,
        }
    }
}
