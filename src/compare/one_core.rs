//! `reactord compare --one-core`: reactord on one core against tokio's current-thread runtime.
//!
//! The target is stated for one core: echo 64 B at 100 connections,
//! reactord with one reactor against the same echo code on tokio's
//! current-thread runtime (`tokio_echo --current-thread`), both one thread
//! and one event loop. Each server is pinned to the same single CPU; the
//! load generator runs in this process, pinned to every other CPU, so it
//! never takes the server's core (see [`one_core_plan`]).
//!
//! Rounds are paired ([`super::paired`]): each round runs the
//! designs back to back and the ratios are taken within the round. With
//! `--baseline PATH`, that build joins every round as a third design, so one
//! run also shows before/after on one core.

use super::cores_plan::{one_core_plan, OneCorePlan};
use super::error::CompareError;
use super::paired::{self, DesignSummary, PairedRatios, Round};
use super::pinned::{self, PinnedRun};
use super::plan::{Case, Design};
use super::server::Tuning;
use super::{affinity, baseline, conditions, CompareArgs, Machine};
use crate::loadgen::Scenario;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Connections unless `--conns` says otherwise: the target case.
pub const DEFAULT_CONNS: usize = 100;
/// Message size, bytes.
pub const SIZE: usize = 64;
/// Paired rounds unless `--rounds` says otherwise.
pub const DEFAULT_ROUNDS: usize = 5;
/// Seconds of load per run unless `--duration` says otherwise.
pub const DEFAULT_SECS: f64 = 3.0;

/// What `--one-core` runs with.
#[derive(Debug, Clone)]
pub struct OneCoreOptions {
    /// Where the servers and the load generator run.
    pub plan: OneCorePlan,
    /// Connections.
    pub conns: usize,
    /// Seconds of load per run.
    pub duration: Duration,
    /// Paired rounds.
    pub rounds: usize,
    /// This binary.
    pub reactord: PathBuf,
    /// The tokio echo example.
    pub tokio: PathBuf,
    /// Another reactord build, if given.
    pub baseline: Option<PathBuf>,
    /// Whether the baseline knows `--reactors` (older builds do not, and have one reactor).
    pub baseline_reactors_flag: bool,
}

/// A whole one-core run: `one-core.json` is this, serialized.
#[derive(Debug, Clone, Serialize)]
pub struct OneCore {
    /// Where it ran.
    pub machine: Machine,
    /// Load average before and after, CPU steal.
    pub conditions: conditions::Conditions,
    /// How the CPUs were split.
    pub plan: OneCorePlan,
    /// `echo 64 B x 100`.
    pub case: String,
    /// Seconds of load per run.
    pub duration_secs: f64,
    /// The command that produced it.
    pub command: String,
    /// The baseline build, if one ran.
    pub baseline: Option<String>,
    /// Each design's figures over the rounds, by name.
    pub designs: BTreeMap<&'static str, DesignSummary>,
    /// The reactor against each partner (tokio, then the baseline).
    pub ratios: Vec<PairedRatios>,
    /// The verdicts against the targets (reactor against tokio).
    pub targets: Vec<String>,
    /// Every round, in the order run.
    pub rounds: Vec<Round>,
}

impl OneCoreOptions {
    /// The partners the reactor is paired with.
    pub fn partners(&self) -> Vec<Design> {
        let mut partners = vec![Design::Tokio];
        partners.extend(self.baseline.as_ref().map(|_| Design::Baseline));
        partners
    }

    /// The case every round runs.
    pub fn case(&self) -> Case {
        Case::new(Scenario::Echo, self.conns, SIZE)
    }

    /// How `design` starts: TCP echo only, one thread, pinned to the server's CPU.
    pub fn tuning(&self, design: Design) -> Tuning {
        let one = || vec!["--reactors".to_string(), "1".to_string()];
        Tuning {
            args: match design {
                Design::Reactor => one(),
                Design::Baseline if self.baseline_reactors_flag => one(),
                Design::Tokio => vec!["--current-thread".to_string()],
                _ => Vec::new(),
            },
            env: Vec::new(),
            cpus: self.plan.server_cpu.map(|cpu| vec![cpu]),
            tcp_only: true,
        }
    }
}

/// The options `args` ask for, or why they cannot be had.
pub fn options(args: &CompareArgs, reactord: PathBuf) -> Result<OneCoreOptions, String> {
    let default_tokio = reactord
        .parent()
        .map(|d| d.join("examples").join("tokio_echo"));
    let tokio = args.tokio.clone().or(default_tokio).unwrap_or_default();
    if !tokio.is_file() {
        return Err(format!(
            "--one-core needs the tokio echo example, and {} is not there: build it with \
             `cargo build --release --examples` or pass --tokio PATH",
            tokio.display()
        ));
    }
    let conns = match args.conns[..] {
        [] => DEFAULT_CONNS,
        [n] => n as usize,
        _ => return Err("--one-core measures one connection count: give --conns once".into()),
    };
    if let Some(path) = &args.baseline {
        baseline::check(path, true)?;
    }
    let allowed = affinity::allowed_cpus();
    Ok(OneCoreOptions {
        plan: one_core_plan(&allowed, args.client_threads.map(|n| n as usize)),
        conns,
        duration: Duration::from_secs_f64(args.duration.unwrap_or(DEFAULT_SECS)),
        rounds: args.rounds.map_or(DEFAULT_ROUNDS, |n| n as usize),
        baseline_reactors_flag: args
            .baseline
            .as_deref()
            .is_some_and(|path| baseline::accepts_flag(path, "--reactors")),
        baseline: args.baseline.clone(),
        tokio,
        reactord,
    })
}

/// Runs every paired round; `progress` gets one line per run.
pub fn run(
    options: &OneCoreOptions,
    mut progress: impl FnMut(&str),
) -> Result<OneCore, CompareError> {
    // Read before pinning: pinned, this process would see only the load generator's CPUs.
    let machine = Machine::detect();
    let start = conditions::Start::now();
    if let Some(cpus) = &options.plan.client_cpus {
        // This thread and the load threads it starts stay off the server's CPU.
        affinity::apply(&affinity::cpu_set(cpus))
            .map_err(|err| CompareError::Spawn("load generator (pinning)".into(), err))?;
    }
    let case = options.case();
    let partners = options.partners();
    let total = options.rounds * (partners.len() + 1);
    let mut rounds = Vec::with_capacity(options.rounds);
    for round in 0..options.rounds {
        let order = paired::order(round, &partners);
        let mut runs = BTreeMap::new();
        for &design in &order {
            let run = run_one(options, &case, design)?;
            progress(&format!(
                "[{}/{total}] {} {design} round {}: {}",
                round * order.len() + runs.len() + 1,
                case.name,
                round + 1,
                run.describe()
            ));
            runs.insert(design.name(), run);
        }
        let order = order.iter().map(|d| d.name()).collect();
        rounds.push(Round { order, runs });
    }
    Ok(assemble(options, machine, start.finish(), rounds))
}

fn run_one(
    options: &OneCoreOptions,
    case: &Case,
    design: Design,
) -> Result<PinnedRun, CompareError> {
    let program = match design {
        Design::Tokio => &options.tokio,
        Design::Baseline => options.baseline.as_ref().unwrap_or(&options.reactord),
        Design::Reactor | Design::Threaded => &options.reactord,
    };
    let load = pinned::Load {
        case,
        duration: options.duration,
        threads: options.plan.client_threads,
        cpus: options.plan.client_cpus.as_deref(),
    };
    pinned::run(design, program, &options.tuning(design), load)
}

/// The report's figures from the rounds.
fn assemble(
    options: &OneCoreOptions,
    machine: Machine,
    conditions: conditions::Conditions,
    rounds: Vec<Round>,
) -> OneCore {
    let mut designs = BTreeMap::new();
    for design in [Design::Reactor].into_iter().chain(options.partners()) {
        if let Some(summary) = paired::summarize(&rounds, design.name()) {
            designs.insert(design.name(), summary);
        }
    }
    let ratios: Vec<PairedRatios> = options
        .partners()
        .into_iter()
        .map(|partner| paired::ratios(&rounds, partner.name()))
        .collect();
    let targets = vec![
        paired::RATE_TARGET.line(ratios[0].rate_stat.as_ref()),
        paired::CPU_TARGET.line(ratios[0].cpu_stat.as_ref()),
    ];
    OneCore {
        machine,
        conditions,
        plan: options.plan.clone(),
        case: options.case().name,
        duration_secs: options.duration.as_secs_f64(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        baseline: options.baseline.as_ref().map(|p| p.display().to_string()),
        designs,
        ratios,
        targets,
        rounds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_options(baseline_reactors_flag: bool) -> OneCoreOptions {
        OneCoreOptions {
            plan: one_core_plan(&[0, 1], None),
            conns: 100,
            duration: Duration::from_secs(1),
            rounds: 2,
            reactord: "reactord".into(),
            tokio: "tokio_echo".into(),
            baseline: Some("old".into()),
            baseline_reactors_flag,
        }
    }

    #[test]
    fn every_server_gets_one_thread_on_the_same_cpu_and_tcp_echo_only() {
        let options = test_options(false);
        let reactor = options.tuning(Design::Reactor);
        assert_eq!(reactor.args, ["--reactors", "1"]);
        assert_eq!(reactor.cpus.as_deref(), Some(&[0][..]));
        assert!(reactor.tcp_only);
        let tokio = options.tuning(Design::Tokio);
        assert_eq!(tokio.args, ["--current-thread"]);
        assert_eq!(tokio.cpus, reactor.cpus);
        // An old baseline without --reactors gets no such flag (it has one reactor).
        assert!(options.tuning(Design::Baseline).args.is_empty());
        assert_eq!(
            test_options(true).tuning(Design::Baseline).args,
            ["--reactors", "1"]
        );
        assert_eq!(options.partners(), [Design::Tokio, Design::Baseline]);
        assert_eq!(options.case().name, "echo 64 B x 100");
    }
}
