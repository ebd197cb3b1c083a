//! What running reactord as a service adds to the loop, in one field.
//!
//! Metrics, the PROXY protocol, systemd notification, refusal reports and
//! socket-file cleanup are each in their own module; [`Operations`] holds
//! their state so that the core loop carries one field and a few calls:
//! [`Reactor::begin_turn`] before serving events, [`Reactor::end_turn`] after,
//! and [`Operations::deadline`] in the poll timeout.

use super::liveness::Liveness;
use super::metrics::MetricsServer;
use super::notify::Notifier;
use super::proxied::Handshakes;
use super::refusals::Refusals;
use super::socket_files::SocketFiles;
use super::source::Source;
use super::start_gate::StartGate;
use super::{Reactor, Stats, StatsHandle};
use crate::protocol::Protocol;
use std::time::Instant;

/// Labels of one listening socket for the metrics: protocol and transport.
#[derive(Debug, Clone, Copy)]
pub(super) struct SourceLabels {
    pub(super) protocol: Protocol,
    pub(super) transport: &'static str,
}

impl SourceLabels {
    pub(super) fn of(source: &Source) -> SourceLabels {
        let transport = match source {
            Source::Listener { .. } => "tcp",
            Source::Udp { .. } => "udp",
            Source::UnixListener { .. } => "unix",
            Source::UnixDatagram { .. } => "unixgram",
        };
        SourceLabels {
            protocol: source.protocol(),
            transport,
        }
    }
}

/// The service-level state of a reactor.
#[derive(Debug)]
pub(super) struct Operations {
    pub(super) metrics: Option<MetricsServer>,
    /// Heartbeat, connections per socket and loop health, readable by the
    /// first reactor; the siblings' too on the first reactor (`liveness.rs`).
    pub(super) liveness: Liveness,
    pub(super) refusals: Refusals,
    pub(super) notifier: Notifier,
    pub(super) socket_files: SocketFiles,
    pub(super) handshakes: Handshakes,
    /// Every stream connection must begin with a PROXY header.
    pub(super) proxy_protocol: bool,
    /// Per source index: its labels (none for an unused index). What each
    /// source accepted and has open is in `liveness.own`.
    pub(super) sources: Vec<Option<SourceLabels>>,
    /// How many of the sources, at the end of the list, systemd passed in.
    pub(super) inherited: usize,
    /// With siblings: readiness waits for every reactor (see `start_gate.rs`).
    pub(super) start_gate: Option<StartGate>,
    /// Whether `READY=1` has been sent (or would have been, with no systemd).
    pub(super) announced: bool,
    /// The siblings' live counters, for metrics totals (the first reactor only).
    pub(super) sibling_stats: Vec<StatsHandle>,
}

impl Operations {
    pub(super) fn new(sources: &[Option<Source>], socket_files: SocketFiles) -> Self {
        Operations {
            metrics: None,
            liveness: Liveness::new(sources.len()),
            refusals: Refusals::default(),
            notifier: Notifier::off(),
            socket_files,
            handshakes: Handshakes::default(),
            proxy_protocol: false,
            sources: sources
                .iter()
                .map(|s| s.as_ref().map(SourceLabels::of))
                .collect(),
            inherited: 0,
            start_gate: None,
            announced: false,
            sibling_stats: Vec::new(),
        }
    }

    /// Counts a connection accepted on source `index`.
    pub(super) fn count_accept(&mut self, index: usize) {
        self.liveness.own.opened(index);
    }

    /// Counts a connection of source `index` closed.
    pub(super) fn count_close(&mut self, index: usize) {
        self.liveness.own.closed(index);
    }

    /// The earliest time one of these parts needs the loop.
    pub(super) fn deadline(&self, stats: &Stats) -> Option<Instant> {
        [
            self.refusals.deadline(stats),
            self.notifier.deadline(),
            self.liveness.deadline(),
            self.handshakes.deadline(),
            self.metrics.as_ref().and_then(MetricsServer::deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

impl Reactor {
    /// Serves every stream connection only after its PROXY header (v1 or v2).
    pub fn require_proxy_header(&mut self, on: bool) {
        self.ops.proxy_protocol = on;
    }

    /// Before a turn's events: show the loop alive, expire slow PROXY
    /// headers and idle scrapers.
    pub(super) fn begin_turn(&mut self, now: Instant) {
        self.ops.liveness.beat(now);
        self.expire_handshakes(now);
        if let Some(metrics) = &mut self.ops.metrics {
            metrics.expire(now, self.poll.registry());
        }
    }

    /// After a turn: record its cost, report refusals, talk to systemd.
    pub(super) fn end_turn(&mut self, started: Instant, events: usize) {
        let now = Instant::now();
        let health = &self.ops.liveness.own.health;
        health.record(now.duration_since(started), events);
        self.ops.refusals.report(&self.stats, now);
        self.announce_if_all_started();
        self.ops.notifier.tick(now, &mut self.ops.liveness);
    }
}
