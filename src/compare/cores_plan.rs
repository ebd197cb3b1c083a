//! How `--cores` and `--one-core` split the CPUs between the servers and the load generator.
//!
//! A server and the load generator that measures it must not compete for
//! the same cores, or the figures measure the competition. Given the CPUs
//! this process may use, these plans say which a server is pinned to, which
//! the load generator gets, and, when there are too few to keep apart, say
//! so in a note that goes into the output.

use serde::Serialize;

/// Above this share of its cores busy, the load generator is called the bottleneck.
pub const CLIENT_BOUND_SHARE: f64 = 0.9;

/// Which CPUs serve, which load, and how many cores each server run gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorePlan {
    /// Server core counts, ascending.
    pub counts: Vec<usize>,
    /// The CPUs servers are pinned to (the first N of them for N cores); `None`: unpinned.
    pub server_cpus: Option<Vec<usize>>,
    /// The CPUs the load generator is pinned to; `None`: unpinned.
    pub client_cpus: Option<Vec<usize>>,
    /// Load generator event loops.
    pub client_threads: usize,
    /// What the plan could not do, for the output (e.g. "unpinned: 2 cores").
    pub note: String,
}

/// Splits `allowed` CPUs between server and load; `requested` counts, if given, must fit.
pub fn plan(
    allowed: &[usize],
    requested: Option<&[usize]>,
    client_threads: Option<usize>,
) -> Result<CorePlan, String> {
    let pinned = allowed.len() >= 4;
    let (server, client) = if pinned {
        let half = allowed.len() / 2;
        (allowed[..half].to_vec(), allowed[half..].to_vec())
    } else {
        (allowed.to_vec(), allowed.to_vec())
    };
    let counts = match requested {
        Some(counts) => {
            if let Some(&too_many) = counts.iter().find(|&&n| n == 0 || n > server.len()) {
                return Err(format!(
                    "--cores {too_many}: the server can have 1 to {} cores here",
                    server.len()
                ));
            }
            let mut counts = counts.to_vec();
            counts.sort_unstable();
            counts.dedup();
            counts
        }
        None => {
            let mut counts: Vec<usize> = std::iter::successors(Some(1), |n| Some(n * 2))
                .take_while(|&n| n <= server.len())
                .collect();
            if counts.last() != Some(&server.len()) {
                counts.push(server.len());
            }
            counts
        }
    };
    let note = if pinned {
        format!(
            "server pinned to CPUs {} (the first N for N cores), load generator to CPUs {}",
            ranges(&server),
            ranges(&client)
        )
    } else {
        format!(
            "only {} cores: server and load generator share them, nothing is pinned; \
             these figures show that it works, not how it scales",
            allowed.len()
        )
    };
    Ok(CorePlan {
        counts,
        client_threads: client_threads.unwrap_or(client.len()).max(1),
        server_cpus: pinned.then_some(server),
        client_cpus: pinned.then_some(client),
        note,
    })
}

/// `0-7` for a run of CPUs, `0,2,4` otherwise.
pub fn ranges(cpus: &[usize]) -> String {
    let contiguous = cpus.windows(2).all(|w| w[1] == w[0] + 1);
    match (cpus.first(), cpus.last()) {
        (Some(first), Some(last)) if contiguous && cpus.len() > 1 => format!("{first}-{last}"),
        _ => cpus
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// `--one-core`: the server on one CPU, the load generator on all the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OneCorePlan {
    /// The CPU every server is pinned to; `None`: unpinned (a single CPU).
    pub server_cpu: Option<usize>,
    /// The CPUs the load generator is pinned to; `None`: unpinned.
    pub client_cpus: Option<Vec<usize>>,
    /// Load generator event loops.
    pub client_threads: usize,
    /// How the CPUs were split, or why they were not, for the output.
    pub note: String,
}

/// Pins servers to the first of the `allowed` CPUs and the load generator to
/// the rest, one event loop per CPU unless `client_threads` says otherwise;
/// with a single CPU, pins nothing and says so.
pub fn one_core_plan(allowed: &[usize], client_threads: Option<usize>) -> OneCorePlan {
    match allowed {
        [server, rest @ ..] if !rest.is_empty() => OneCorePlan {
            server_cpu: Some(*server),
            client_cpus: Some(rest.to_vec()),
            client_threads: client_threads.unwrap_or(rest.len()).max(1),
            note: format!(
                "server pinned to CPU {server}, load generator to CPU{} {}",
                if rest.len() > 1 { "s" } else { "" },
                ranges(rest)
            ),
        },
        _ => OneCorePlan {
            server_cpu: None,
            client_cpus: None,
            client_threads: client_threads.unwrap_or(1).max(1),
            note: "only 1 CPU: server and load generator share it, nothing is pinned; \
                   each server's figures include the load generator's competition"
                .to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_cores_split_in_halves_with_powers_of_two() {
        let cpus: Vec<usize> = (0..16).collect();
        let plan = plan(&cpus, None, None).unwrap();
        assert_eq!(plan.counts, [1, 2, 4, 8]);
        assert_eq!(plan.server_cpus.as_deref(), Some(&cpus[..8]));
        assert_eq!(plan.client_cpus.as_deref(), Some(&cpus[8..]));
        assert_eq!(plan.client_threads, 8);
        assert!(plan.note.contains("CPUs 0-7"), "{}", plan.note);
    }

    #[test]
    fn odd_machines_include_their_half_and_small_ones_are_unpinned() {
        let twelve: Vec<usize> = (0..12).collect();
        assert_eq!(plan(&twelve, None, None).unwrap().counts, [1, 2, 4, 6]);
        let two = plan(&[0, 1], None, Some(3)).unwrap();
        assert_eq!(two.counts, [1, 2]);
        assert_eq!(two.server_cpus, None);
        assert_eq!(two.client_threads, 3);
        assert!(two.note.contains("nothing is pinned"));
    }

    #[test]
    fn requested_counts_must_fit_the_servers_half() {
        let cpus: Vec<usize> = (0..8).collect();
        assert_eq!(plan(&cpus, Some(&[4, 1, 4]), None).unwrap().counts, [1, 4]);
        let err = plan(&cpus, Some(&[8]), None).unwrap_err();
        assert!(err.contains("1 to 4"), "{err}");
    }

    #[test]
    fn one_core_gives_the_server_one_cpu_and_the_load_the_rest() {
        let two = one_core_plan(&[0, 1], None);
        assert_eq!(two.server_cpu, Some(0));
        assert_eq!(two.client_cpus.as_deref(), Some(&[1][..]));
        assert_eq!(two.client_threads, 1);
        assert_eq!(two.note, "server pinned to CPU 0, load generator to CPU 1");
        let sixteen: Vec<usize> = (0..16).collect();
        let plan = one_core_plan(&sixteen, None);
        assert_eq!(plan.client_threads, 15);
        assert!(plan.note.ends_with("CPUs 1-15"), "{}", plan.note);
        assert_eq!(one_core_plan(&sixteen, Some(4)).client_threads, 4);
        let one = one_core_plan(&[3], None);
        assert_eq!(
            (one.server_cpu, one.client_cpus, one.client_threads),
            (None, None, 1)
        );
        assert!(one.note.contains("nothing is pinned"), "{}", one.note);
    }
}
