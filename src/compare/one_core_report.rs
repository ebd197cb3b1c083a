//! `--one-core`'s outputs: `one-core.md` (the verdicts, the paired ratios,
//! each design's figures, every round) and `one-core.json`.

use super::cores_plan::CLIENT_BOUND_SHARE;
use super::error::CompareError;
use super::one_core::OneCore;
use super::paired::{DesignSummary, PairedRatios};
use super::spread::{si, Stat, NOISY};
use super::table::render;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Writes `one-core.md` and `one-core.json` into `dir`, creating it.
pub fn write_outputs(dir: &Path, one_core: &OneCore, markdown: &str) -> Result<(), CompareError> {
    let output = |path: PathBuf| move |err| CompareError::Output(path, err);
    std::fs::create_dir_all(dir).map_err(output(dir.to_path_buf()))?;
    let md = dir.join("one-core.md");
    std::fs::write(&md, markdown).map_err(output(md.clone()))?;
    let json = dir.join("one-core.json");
    // Numbers, strings, options, vectors and maps with string keys: cannot fail.
    let text = serde_json::to_string_pretty(one_core).expect("a OneCore always serializes");
    std::fs::write(&json, text + "\n").map_err(output(json.clone()))
}

/// How a design is called in the report.
fn label(design: &str) -> &str {
    match design {
        "tokio" => "tokio current-thread",
        "reactor" => "reactord, 1 reactor",
        other => other,
    }
}

/// The whole `one-core.md`.
pub fn markdown(run: &OneCore) -> String {
    let mut out = format!(
        "# One core: reactord against tokio current-thread, {}\n\n",
        run.case
    );
    let (m, c) = (&run.machine, &run.conditions);
    let _ = writeln!(out, "{}\n", m.describe(c));
    let _ = writeln!(
        out,
        "{}; {} load generator event loop(s). {} paired rounds of {:.1} s: each round runs every \
         design once, back to back, the reactor between its partners, who swap sides every round. \
         Ratios are **reactor ÷ other**, taken within each round, for the rate and for the server's \
         CPU µs per operation alike (a rate ratio above 1 and a CPU ratio below 1 favour the \
         reactor); shown as the median over the rounds (lowest–highest).\n\nCommand: `{}`\n",
        capitalized(&run.plan.note),
        run.plan.client_threads,
        run.rounds.len(),
        run.duration_secs,
        run.command
    );
    out += "## Targets (issue 10: reactor against tokio current-thread)\n\n";
    for target in &run.targets {
        let _ = writeln!(out, "- {target}");
    }
    out += "\n## Paired ratios (reactor ÷ other)\n\n";
    out += &ratios_table(&run.ratios);
    out += "\n## Each design (median over the rounds, ± half the min–max range)\n\n";
    out += &designs_table(run);
    out += "\n## Rounds\n\n";
    out += &rounds_table(run);
    out += &notes(run);
    out
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or(String::new(), |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// `1.12 (1.05–1.20)`.
fn ratio_cell(stat: Option<&Stat>) -> String {
    stat.map_or("-".into(), |s| {
        format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max)
    })
}

fn ratios_table(ratios: &[PairedRatios]) -> String {
    let header = ["other", "rate ratio", "CPU µs/op ratio", "pairs"].map(String::from);
    let rows: Vec<Vec<String>> = ratios
        .iter()
        .map(|r| {
            vec![
                label(r.partner).to_string(),
                ratio_cell(r.rate_stat.as_ref()),
                ratio_cell(r.cpu_stat.as_ref()),
                r.rate_stat.map_or(0, |s| s.rounds).to_string(),
            ]
        })
        .collect();
    render(&header, &rows)
}

fn designs_table(run: &OneCore) -> String {
    let header = [
        "design",
        "ops/s",
        "server CPU µs/op",
        "load generator busiest",
        "errors",
    ]
    .map(String::from);
    let rows: Vec<Vec<String>> = run
        .designs
        .iter()
        .map(|(name, d): (&&str, &DesignSummary)| {
            vec![
                label(name).to_string(),
                d.rate.map_or("-".into(), |s| s.cell(si)),
                d.cpu_us_per_op
                    .map_or("-".into(), |s| s.cell(|v| format!("{v:.2}"))),
                format!(
                    "{:.0}%{}",
                    d.client_share_max * 100.0,
                    if d.client_bound_rounds > 0 {
                        " †"
                    } else {
                        ""
                    }
                ),
                d.errors.to_string(),
            ]
        })
        .collect();
    render(&header, &rows)
}

fn rounds_table(run: &OneCore) -> String {
    let mut header = vec!["round".to_string(), "order".to_string()];
    for r in &run.ratios {
        header.push(format!("rate vs {}", r.partner));
        header.push(format!("CPU/op vs {}", r.partner));
    }
    let cell = |v: Option<&Option<f64>>| {
        v.copied()
            .flatten()
            .map_or("-".into(), |v| format!("{v:.2}"))
    };
    let rows: Vec<Vec<String>> = run
        .rounds
        .iter()
        .enumerate()
        .map(|(i, round)| {
            let mut row = vec![(i + 1).to_string(), round.order.join(", ")];
            for r in &run.ratios {
                row.push(cell(r.rate.get(i)));
                row.push(cell(r.cpu_per_op.get(i)));
            }
            row
        })
        .collect();
    render(&header, &rows)
}

/// The bottleneck warning, the noise warning, and what a figure from a small machine is.
fn notes(run: &OneCore) -> String {
    let mut out = String::new();
    let bound: Vec<&str> = run
        .designs
        .iter()
        .filter(|(_, d)| d.client_bound_rounds > 0)
        .map(|(name, _)| label(name))
        .collect();
    if !bound.is_empty() {
        let _ = writeln!(
            out,
            "\n† The load generator used over {:.0}% of its cores in some round against {}: \
             it may have been the bottleneck, so that rate is a floor, not the server's capacity.",
            CLIENT_BOUND_SHARE * 100.0,
            bound.join(", ")
        );
    }
    let noisy = run
        .ratios
        .iter()
        .flat_map(|r| [r.rate_stat, r.cpu_stat])
        .flatten()
        .any(|s| s.noisy());
    if noisy {
        let _ = writeln!(
            out,
            "\n**Noisy**: some paired ratio spread more than {:.0}% over the rounds; \
             rerun on a quieter machine before quoting.",
            NOISY * 100.0
        );
    }
    let _ = writeln!(
        out,
        "\nA one-core ratio from a {}-core machine: quote it with that core count and the load average above.",
        run.machine.cores
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::conditions::Conditions;
    use crate::compare::cores_plan::one_core_plan;
    use crate::compare::paired::{self, Round, CPU_TARGET, RATE_TARGET};
    use crate::compare::pinned::PinnedRun;
    use crate::compare::Machine;

    fn run(rate: f64, cpu_secs: f64, client_share: f64) -> PinnedRun {
        PinnedRun {
            server_pid: 1,
            ops: (rate * 3.0) as u64,
            rate,
            server_cpu_secs: cpu_secs,
            client_share,
            errors: 0,
        }
    }

    fn one_core(rounds: Vec<Round>) -> OneCore {
        let ratios = vec![paired::ratios(&rounds, "tokio")];
        OneCore {
            machine: Machine {
                cores: 2,
                cpu: "Test CPU".into(),
                kernel: "6.1".into(),
            },
            conditions: Conditions {
                load_before: Some([0.5, 0.4, 0.3]),
                load_after: Some([1.0, 0.5, 0.3]),
                steal_pct: Some(0.0),
            },
            plan: one_core_plan(&[0, 1], None),
            case: "echo 64 B x 100".into(),
            duration_secs: 3.0,
            command: "reactord compare --one-core".into(),
            baseline: None,
            designs: ["reactor", "tokio"]
                .into_iter()
                .filter_map(|d| Some((d, paired::summarize(&rounds, d)?)))
                .collect(),
            targets: vec![
                RATE_TARGET.line(ratios[0].rate_stat.as_ref()),
                CPU_TARGET.line(ratios[0].cpu_stat.as_ref()),
            ],
            ratios,
            rounds,
        }
    }

    #[test]
    fn the_report_leads_with_the_verdicts_and_shows_every_pair() {
        let rounds = vec![
            Round {
                order: vec!["tokio", "reactor"],
                runs: [
                    ("reactor", run(120_000.0, 1.0, 0.5)),
                    ("tokio", run(100_000.0, 1.25, 0.5)),
                ]
                .into(),
            },
            Round {
                order: vec!["reactor", "tokio"],
                runs: [
                    ("reactor", run(116_000.0, 1.0, 0.95)),
                    ("tokio", run(100_000.0, 1.1, 0.5)),
                ]
                .into(),
            },
        ];
        let md = markdown(&one_core(rounds));
        for needle in [
            "# One core: reactord against tokio current-thread, echo 64 B x 100",
            "Machine: 2 cores (Test CPU), Linux 6.1. Load average 0.50 0.40 0.30 before, 1.00 0.50 0.30 after",
            "Server pinned to CPU 0, load generator to CPU 1; 1 load generator",
            "2 paired rounds of 3.0 s",
            "- rate ratio 1.18 (target ≥ 1.10): met",
            // Round 1: 0.6667, round 2: 0.7837 -> median 0.7252.
            "- CPU per op ratio 0.73 (target ≤ 0.90): met",
            "| tokio current-thread | 1.18 (1.16–1.20) | 0.73 (0.67–0.78) | 2     |",
            "| 1     | tokio, reactor | 1.20",
            "| 2     | reactor, tokio | 1.16",
            "95% †",
            "† The load generator used over 90% of its cores in some round against reactord, 1 reactor",
            "from a 2-core machine",
        ] {
            assert!(md.contains(needle), "no '{needle}' in:\n{md}");
        }
        assert!(!md.contains("Noisy"), "{md}");
    }

    #[test]
    fn a_missing_target_and_a_noisy_pair_are_said() {
        let mut idle = run(0.0, 1.0, 0.1);
        idle.ops = 0;
        let rounds = vec![Round {
            order: vec!["tokio", "reactor"],
            runs: [("reactor", run(100_000.0, 1.0, 0.5)), ("tokio", idle)].into(),
        }];
        let md = markdown(&one_core(rounds));
        assert!(
            md.contains("- rate ratio - (target ≥ 1.10): not measured"),
            "{md}"
        );
        let noisy = vec![
            Round {
                order: vec!["tokio", "reactor"],
                runs: [
                    ("reactor", run(100_000.0, 1.0, 0.5)),
                    ("tokio", run(100_000.0, 1.0, 0.5)),
                ]
                .into(),
            },
            Round {
                order: vec!["reactor", "tokio"],
                runs: [
                    ("reactor", run(200_000.0, 1.0, 0.5)),
                    ("tokio", run(100_000.0, 1.0, 0.5)),
                ]
                .into(),
            },
        ];
        let md = markdown(&one_core(noisy));
        assert!(md.contains("**Noisy**"), "{md}");
        assert!(md.contains("rate ratio 1.50 (target ≥ 1.10): met"), "{md}");
    }
}
