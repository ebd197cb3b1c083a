//! `reactord compare`: the reactor, the threaded baseline and tokio, side by side.
//!
//! Each design runs as a child process of this very binary (`serve`,
//! `threaded`) or of the tokio echo example, on ephemeral loopback ports. The
//! load generator runs in this process, so client and server each have their
//! own open-file budget. Every run starts a fresh server, samples its RSS and
//! threads from `/proc` while the load runs, and stops it by its pid.
//!
//! # Layout
//!
//! - [`plan`]: the designs and the cases each preset runs.
//! - [`server`]: a server as a child process: start, learn its ports, stop, reap.
//! - [`sampler`]: peak RSS and thread count from `/proc/PID/status`.
//! - [`run`]: the alternating runs and the median of each design's rounds.
//! - [`spread`]: median, min and max of a figure over the rounds, and the noise flag.
//! - [`conditions`]: load average before and after, CPU steal.
//! - [`table`]: the markdown tables. [`chart`]: the SVG chart.
//! - [`machine`]: cores, CPU model and kernel, named in every output.
//! - [`cores`]: `--cores`, how each design scales with the cores it gets;
//!   [`cores_report`] its table and chart; [`cores_plan`] which CPUs serve
//!   and which load; [`affinity`] pinning to CPUs; [`pinned`] one measured
//!   run on pinned CPUs, with the load generator's own CPU share.
//! - [`one_core`]: `--one-core`, reactord against tokio current-thread on one
//!   core in paired rounds; [`paired`] the per-round ratios, their median and
//!   the targets; [`one_core_report`] its markdown.
//! - [`baseline`]: `--baseline PATH`, another reactord build as a design.
//! - [`error`]: why a comparison stopped ([`CompareError`]).

pub mod affinity;
pub mod baseline;
pub mod chart;
pub mod conditions;
pub mod cores;
pub mod cores_plan;
pub mod cores_report;
pub mod error;
pub mod machine;
pub mod one_core;
pub mod one_core_report;
pub mod paired;
pub mod pinned;
pub mod plan;
pub mod run;
pub mod sampler;
pub mod server;
pub mod spread;
pub mod table;

pub use error::CompareError;
pub use machine::Machine;
pub use plan::{Design, Preset};
pub use run::{CaseResult, CompareOptions, DesignResult, Measurement};

use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `reactord compare [--quick] [--out DIR]`: run both designs through the same loads.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// A CI smoke run (echo 64 B at 10 and 100 connections, hold 500, churn, udp; 1 s each), under a minute.
    #[arg(long)]
    pub quick: bool,
    /// Where to write compare.md, compare.json and compare.svg.
    #[arg(long, value_name = "DIR", default_value = "compare-results")]
    pub out: PathBuf,
    /// The tokio echo example [default: examples/tokio_echo next to this binary, skipped if absent].
    #[arg(long, value_name = "PATH")]
    pub tokio: Option<PathBuf>,
    /// Seconds of load per run [default: 3, or 1 with --quick; echo at 10,000 connections gets at least 10].
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    pub duration: Option<f64>,
    /// Runs per design and case; the median is kept [default: 3, or 1 with --quick].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=99))]
    pub rounds: Option<u32>,
    /// Load generator threads (event loops) [default: 1; with --cores, one per core of its half].
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub client_threads: Option<u32>,
    /// Core scaling instead of the usual cases: echo 64 B at 1,000 and 10,000 connections
    /// against every design on N = 1, 2, 4, ... server cores (or the counts given,
    /// e.g. --cores 1,4,8); writes cores.md, cores.json and cores.svg.
    #[arg(long, value_name = "N,N,...", num_args = 0..=1, require_equals = false,
          default_missing_value = "auto", value_parser = parse_core_counts, group = "mode")]
    pub cores: Option<CoreCounts>,
    /// One core instead of the usual cases: echo 64 B at 100 connections, reactord with one
    /// reactor against `tokio_echo --current-thread`, each pinned to one CPU, in paired
    /// rounds [default: 5 rounds of 3 s]; writes one-core.md and one-core.json.
    #[arg(long, group = "mode", conflicts_with = "quick")]
    pub one_core: bool,
    /// With --cores: the connection counts to measure [default: 1000,10000];
    /// with --one-core: the one count [default: 100].
    #[arg(long, value_name = "N,N,...", value_delimiter = ',', requires = "mode",
          value_parser = clap::value_parser!(u32).range(1..=15_000))]
    pub conns: Vec<u32>,
    /// Another reactord binary (e.g. built from an older commit), run as the design
    /// `baseline` wherever the reactor runs, for before/after tables.
    #[arg(long, value_name = "PATH", conflicts_with = "cores")]
    pub baseline: Option<PathBuf>,
}

/// `--cores`: every power of two up to the server's half, or the counts listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreCounts {
    /// 1, 2, 4, ... up to the cores the server gets.
    Auto,
    /// Exactly these.
    List(Vec<usize>),
}

fn parse_core_counts(text: &str) -> Result<CoreCounts, String> {
    if text == "auto" {
        return Ok(CoreCounts::Auto);
    }
    text.split(',')
        .map(|n| match n.trim().parse::<usize>() {
            Ok(n) if (1..=1024).contains(&n) => Ok(n),
            _ => Err(format!("'{n}' is not a core count from 1 to 1024")),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(CoreCounts::List)
}

fn parse_duration(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && (0.1..=600.0).contains(&secs) => Ok(secs),
        _ => Err(format!(
            "'{text}' is not a number of seconds from 0.1 to 600"
        )),
    }
}

/// A whole comparison: `compare.json` is this, serialized.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Where it ran.
    pub machine: Machine,
    /// What else the machine was doing: load average, CPU steal.
    pub conditions: conditions::Conditions,
    /// Which cases.
    pub preset: Preset,
    /// Seconds of load per run.
    pub duration_secs: f64,
    /// Runs per design and case.
    pub rounds: usize,
    /// Load generator threads.
    pub client_threads: usize,
    /// `--baseline`: the other build, if one ran.
    pub baseline: Option<String>,
    /// One entry per case, in the order run.
    pub cases: Vec<CaseResult>,
}

impl CompareArgs {
    /// The options these flags ask for; `reactord` is this binary.
    pub fn options(&self, reactord: PathBuf) -> CompareOptions {
        let tokio = match &self.tokio {
            Some(path) => Some(path.clone()),
            None => reactord
                .parent()
                .map(|dir| dir.join("examples").join("tokio_echo"))
                .filter(|path| path.is_file()),
        };
        CompareOptions {
            preset: if self.quick {
                Preset::Quick
            } else {
                Preset::Full
            },
            duration: Duration::from_secs_f64(self.duration.unwrap_or(if self.quick {
                1.0
            } else {
                3.0
            })),
            rounds: self.rounds.unwrap_or(if self.quick { 1 } else { 3 }) as usize,
            client_threads: self.client_threads.unwrap_or(1) as usize,
            reactord,
            tokio,
            baseline: self.baseline.clone(),
        }
    }
}

/// Runs the comparison `args` asks for, prints the table and writes the files.
pub fn main(args: &CompareArgs) -> Result<(), Box<dyn std::error::Error>> {
    let reactord = std::env::current_exe()?;
    if args.one_core {
        return run_one_core(args, reactord);
    }
    let options = args.options(reactord);
    if let Some(path) = &options.baseline {
        baseline::check(path, false)?;
    }
    if let Some(path) = &options.tokio {
        if !path.is_file() {
            return Err(format!("--tokio {}: no such file", path.display()).into());
        }
    } else {
        eprintln!(
            "note: no tokio echo example next to this binary; build it with \
             `cargo build --release --examples` or pass --tokio PATH. Comparing without it."
        );
    }
    // The children inherit the raised limit: 10,000 connections need more than 1024 descriptors.
    if let Err(err) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("warning: cannot raise the open-file limit: {err}");
    }
    if let Some(counts) = &args.cores {
        return scale(args, options, counts);
    }
    let comparison = compare(&options, |line| eprintln!("{line}"))?;
    let markdown = table::markdown(&comparison);
    print!("{markdown}");
    write_outputs(&args.out, &comparison, &markdown)?;
    eprintln!(
        "wrote compare.md, compare.json and compare.svg to {}",
        args.out.display()
    );
    Ok(())
}

/// `--cores`: runs the scaling cases, prints the tables and writes the files.
fn scale(
    args: &CompareArgs,
    options: CompareOptions,
    counts: &CoreCounts,
) -> Result<(), Box<dyn std::error::Error>> {
    let requested = match counts {
        CoreCounts::Auto => None,
        CoreCounts::List(list) => Some(list.as_slice()),
    };
    let client_threads = args.client_threads.map(|n| n as usize);
    let plan = cores::plan(&affinity::allowed_cpus(), requested, client_threads)?;
    eprintln!("core scaling: {}", plan.note);
    let scaling_options = cores::ScalingOptions {
        plan: plan.clone(),
        duration: Duration::from_secs_f64(args.duration.unwrap_or(cores::DEFAULT_SECS)),
        rounds: args.rounds.map_or(cores::DEFAULT_ROUNDS, |n| n as usize),
        conns: if args.conns.is_empty() {
            cores::CONNS.to_vec()
        } else {
            args.conns.iter().map(|&n| n as usize).collect()
        },
        reactord: options.reactord,
        tokio: options.tokio,
    };
    // Read before the run: the load generator pins this process to its half
    // of the CPUs, and the machine's core count would then read as that half.
    let machine = Machine::detect();
    let cases = cores::run(&scaling_options, |line| eprintln!("{line}"))?;
    let scaling = cores::Scaling {
        machine,
        plan,
        duration_secs: scaling_options.duration.as_secs_f64(),
        rounds: scaling_options.rounds,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        cases,
    };
    let markdown = cores_report::markdown(&scaling);
    print!("{markdown}");
    cores_report::write_outputs(&args.out, &scaling, &markdown)?;
    eprintln!(
        "wrote cores.md, cores.json and cores.svg to {}",
        args.out.display()
    );
    Ok(())
}

/// `--one-core`: runs the paired rounds, prints the report and writes the files.
fn run_one_core(args: &CompareArgs, reactord: PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    let options = one_core::options(args, reactord)?;
    eprintln!("one core: {}", options.plan.note);
    let result = one_core::run(&options, |line| eprintln!("{line}"))?;
    let markdown = one_core_report::markdown(&result);
    print!("{markdown}");
    one_core_report::write_outputs(&args.out, &result, &markdown)?;
    eprintln!(
        "wrote one-core.md and one-core.json to {}",
        args.out.display()
    );
    Ok(())
}

/// Runs every case; `progress` gets one line per run.
pub fn compare(
    options: &CompareOptions,
    progress: impl FnMut(&str),
) -> Result<Comparison, CompareError> {
    let start = conditions::Start::now();
    let cases = run::run_cases(options, progress)?;
    Ok(Comparison {
        machine: Machine::detect(),
        conditions: start.finish(),
        preset: options.preset,
        duration_secs: options.duration.as_secs_f64(),
        rounds: options.rounds,
        client_threads: options.client_threads,
        baseline: options.baseline.as_ref().map(|p| p.display().to_string()),
        cases,
    })
}

/// Writes `compare.md`, `compare.json` and `compare.svg` into `dir`, creating it.
pub fn write_outputs(
    dir: &Path,
    comparison: &Comparison,
    markdown: &str,
) -> Result<(), CompareError> {
    let output = |path: PathBuf| move |err| CompareError::Output(path, err);
    std::fs::create_dir_all(dir).map_err(output(dir.to_path_buf()))?;
    let md = dir.join("compare.md");
    std::fs::write(&md, markdown).map_err(output(md.clone()))?;
    let json = dir.join("compare.json");
    // Every field is a number, string, map with string keys or option: cannot fail.
    let text = serde_json::to_string_pretty(comparison).expect("a Comparison always serializes");
    std::fs::write(&json, text + "\n").map_err(output(json.clone()))?;
    chart::write(&dir.join("compare.svg"), &comparison.cases)
}
