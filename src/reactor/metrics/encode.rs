//! The counters as the Prometheus text format, built fresh for each scrape.
//!
//! The loop keeps plain integers; a scrape copies them into a
//! `prometheus_client` registry and lets that crate write the text format
//! (names, `_total` suffixes, escaping, histogram buckets). A scrape is rare
//! and small, so building the registry each time costs nothing that matters
//! and keeps the hot path free of atomics. Names are a contract for
//! dashboards: `reactord_` prefix, `_total` counters, base units.
//!
//! With `--reactors N` every family covers every reactor: a scrape target is
//! a process, and a dashboard or alert on `reactord_connections_active` must
//! not depend on how many loops serve it, so the families are sums (the turn
//! histogram is merged bucket by bucket, exact since every reactor has the
//! same buckets), read from the siblings' lock-free vitals (`vitals.rs`) and
//! published counters. The per-reactor view, to spot an imbalance or a hung
//! loop, is a few `reactord_reactor_*{reactor="K"}` families: labelling every
//! family by reactor would multiply the series and make each query sum them.

use super::super::ops::SourceLabels;
use super::super::vitals::Vitals;
use super::super::{refusals, Reactor, Stats};
use super::{LoopFigures, TurnHistogram};
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

/// The `Content-Type` of the reply.
pub(super) const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

type Labels = Vec<(&'static str, String)>;
/// Reads one counter of a reactor's [`Stats`].
type PerReactor = fn(&Stats) -> u64;

fn counter(value: u64) -> Counter {
    let counter = Counter::default();
    counter.inc_by(value);
    counter
}

fn gauge(value: u64) -> Gauge {
    let gauge = Gauge::default();
    gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
    gauge
}

fn seconds(value: std::time::Duration) -> Counter<f64, AtomicU64> {
    let counter = Counter::<f64, AtomicU64>::default();
    counter.inc_by(value.as_secs_f64());
    counter
}

fn by_label(label: &'static str, values: &[(&'static str, u64)]) -> Family<Labels, Counter> {
    let family = Family::<Labels, Counter>::default();
    for (value, count) in values {
        family
            .get_or_create(&vec![(label, value.to_string())])
            .inc_by(*count);
    }
    family
}

impl Reactor {
    /// The metrics page: every counter of the summary and more.
    pub(super) fn metrics_text(&self) -> String {
        let mut registry = Registry::with_prefix("reactord");
        self.register_connections(&mut registry);
        self.register_closes(&mut registry);
        self.register_traffic(&mut registry);
        self.register_loop(&mut registry);
        self.register_reactors(&mut registry);
        self.register_reactor_vitals(&mut registry);
        let mut text = String::new();
        if let Err(err) = prometheus_text::encode(&mut text, &registry) {
            log::warn!("metrics: cannot encode: {err}");
        }
        text
    }

    fn register_connections(&self, registry: &mut Registry) {
        let accepted = Family::<Labels, Counter>::default();
        let active = Family::<Labels, Gauge>::default();
        let labels = |source: &SourceLabels| {
            vec![
                ("protocol", source.protocol.to_string()),
                ("transport", source.transport.to_string()),
            ]
        };
        for (index, source) in self.ops.sources.iter().enumerate() {
            let Some(source) = source else { continue };
            if source.transport == "tcp" || source.transport == "unix" {
                let (accepted_here, open_here) =
                    self.every_reactor().fold((0, 0), |(a, o), (_, v)| {
                        (a + v.accepted(index), o + v.open(index))
                    });
                // Sockets of one protocol and transport share a series: add.
                accepted
                    .get_or_create(&labels(source))
                    .inc_by(accepted_here);
                active
                    .get_or_create(&labels(source))
                    .inc_by(i64::try_from(open_here).unwrap_or(i64::MAX));
            }
        }
        registry.register("connections", "Stream connections accepted", accepted);
        registry.register("connections_active", "Stream connections open now", active);
        let refused: Vec<_> = refusals::by_reason(&self.total_stats()).collect();
        registry.register(
            "refused",
            "Connections, accepts and UDP replies refused by a limit",
            by_label("reason", &refused),
        );
    }

    fn register_closes(&self, registry: &mut Registry) {
        let s = &self.total_stats();
        registry.register(
            "idle_closed",
            "Connections closed by --idle-timeout",
            counter(s.idle_closed),
        );
        registry.register(
            "drain_aborted",
            "Connections whose replies the drain timeout cut short",
            counter(s.drain_aborted),
        );
        registry.register(
            "chat_dropped",
            "Chat members dropped by the slow-reader rule for not reading",
            counter(s.chat_dropped),
        );
        let pending = self.ops.handshakes.len() as u64;
        registry.register(
            "proxy_handshakes_active",
            "Connections still sending their PROXY header",
            gauge(pending),
        );
        registry.register(
            "max_connections",
            "--max-conns",
            gauge(self.limits.max_conns as u64),
        );
    }

    fn register_traffic(&self, registry: &mut Registry) {
        let s = &self.total_stats();
        registry.register(
            "bytes_received",
            "Bytes received over every transport",
            counter(s.bytes_in),
        );
        registry.register(
            "bytes_sent",
            "Bytes sent over every transport",
            counter(s.bytes_out),
        );
        registry.register(
            "messages",
            "Messages answered: lines, raw chunks, echo reads, datagrams",
            counter(s.messages),
        );
        registry.register("udp_received", "UDP datagrams received", counter(s.udp_in));
        registry.register("udp_sent", "UDP replies sent", counter(s.udp_out));
        let dropped = [
            ("send_buffer_full", s.udp_dropped),
            ("low_port", s.udp_low_port),
            ("over_budget", s.udp_over_budget),
            ("own_port", s.udp_own_port),
        ];
        registry.register(
            "udp_dropped",
            "UDP replies not sent, by reason",
            by_label("reason", &dropped),
        );
    }

    fn register_loop(&self, registry: &mut Registry) {
        let mut health = LoopFigures::default();
        for (_, vitals) in self.every_reactor() {
            health.add(&vitals.health.snapshot());
        }
        registry.register_with_unit(
            "loop_turn",
            "Time from poll's return to the next poll call, every reactor's turns",
            Unit::Seconds,
            TurnHistogram(health),
        );
        registry.register("loop_turns", "Event loop turns", counter(health.turns));
        registry.register(
            "loop_events",
            "Readiness events served",
            counter(health.events),
        );
        registry.register(
            "loop_max_events_per_turn",
            "The largest batch of events one poll returned",
            gauge(health.max_events),
        );
        registry.register_with_unit(
            "loop_busy",
            "Time spent outside poll",
            Unit::Seconds,
            seconds(health.busy),
        );
    }

    /// This reactor's vitals as reactor 0, then its siblings' with their index.
    fn every_reactor(&self) -> impl Iterator<Item = (usize, &Vitals)> {
        let own = std::iter::once((0, &*self.ops.liveness.own));
        let siblings = self.ops.liveness.siblings.iter().map(|(k, v)| (*k, &**v));
        own.chain(siblings)
    }

    /// This reactor's counters plus its siblings' (as of their last turn).
    fn total_stats(&self) -> Stats {
        let mut total = self.stats;
        for sibling in &self.ops.sibling_stats {
            total.add(&sibling.snapshot());
        }
        total
    }

    /// With `--reactors N > 1`: a few counters per reactor, labelled
    /// `reactor="K"`, so that an imbalance shows. Nothing with one reactor.
    fn register_reactors(&self, registry: &mut Registry) {
        if self.ops.sibling_stats.is_empty() {
            return;
        }
        let mut per_reactor = vec![self.stats];
        per_reactor.extend(self.ops.sibling_stats.iter().map(|s| s.snapshot()));
        let families: [(&str, &str, PerReactor); 3] = [
            (
                "reactor_connections",
                "Stream connections accepted, by reactor",
                |s| s.connections,
            ),
            ("reactor_messages", "Messages answered, by reactor", |s| {
                s.messages
            }),
            ("reactor_bytes_sent", "Bytes sent, by reactor", |s| {
                s.bytes_out
            }),
        ];
        for (name, help, field) in families {
            let family = Family::<Labels, Counter>::default();
            for (k, stats) in per_reactor.iter().enumerate() {
                family
                    .get_or_create(&vec![("reactor", k.to_string())])
                    .inc_by(field(stats));
            }
            registry.register(name, help, family);
        }
    }

    /// With `--reactors N > 1`: each reactor's open connections, busy time
    /// and how long ago its loop last began a turn (a hung loop's grows).
    fn register_reactor_vitals(&self, registry: &mut Registry) {
        if self.ops.liveness.siblings.is_empty() {
            return;
        }
        let now = std::time::Instant::now();
        let open = Family::<Labels, Gauge>::default();
        let busy = Family::<Labels, Counter<f64, AtomicU64>>::default();
        let age = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        for (k, vitals) in self.every_reactor() {
            let label = vec![("reactor", k.to_string())];
            open.get_or_create(&label)
                .set(i64::try_from(vitals.open_total()).unwrap_or(i64::MAX));
            busy.get_or_create(&label)
                .inc_by(vitals.health.snapshot().busy.as_secs_f64());
            let since = now.saturating_duration_since(vitals.last_turn());
            age.get_or_create(&label).set(since.as_secs_f64());
        }
        registry.register(
            "reactor_connections_active",
            "Stream connections open now, by reactor",
            open,
        );
        registry.register_with_unit(
            "reactor_loop_busy",
            "Time spent outside poll, by reactor",
            Unit::Seconds,
            busy,
        );
        registry.register_with_unit(
            "reactor_last_turn_age",
            "Time since the reactor's loop last began a turn (grows while it hangs)",
            Unit::Seconds,
            age,
        );
    }
}
