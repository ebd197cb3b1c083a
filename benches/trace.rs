//! What the trace lines cost when trace is off (the default): nothing noticeable.
//!
//! Every `log::trace!` first compares its level with `log::max_level()` (one
//! relaxed atomic load) and skips formatting when trace is disabled. This
//! bench measures one echo round trip's worth of the reactor's trace lines
//! (registered, read, write, read `WouldBlock`, interest, half-close, FIN: 8
//! calls with the same arguments) with the logger at `info`, against the
//! same loop with no log calls at all. Run with `cargo bench --bench trace`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

/// A logger that would print everything it is asked to, like env_logger at `info`.
struct Counting;

impl log::Log for Counting {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }
    fn log(&self, record: &log::Record<'_>) {
        black_box(record.args());
    }
    fn flush(&self) {}
}

static LOGGER: Counting = Counting;

/// The work the trace lines sit beside, reduced to arithmetic on the same values.
fn round_trip(label: u64, n: usize, left: usize, traced: bool) -> usize {
    let mut sum = black_box(n) + black_box(left);
    if traced {
        log::trace!("conn#{label} registered, interest READABLE");
        log::trace!("conn#{label} read {n} bytes");
        log::trace!("conn#{label} write: {n} bytes taken, {left} left");
        log::trace!("conn#{label} read WouldBlock: drained");
        log::trace!("event conn#{label} readable=true writable=false read_closed=true");
        log::trace!("conn#{label} read 0 bytes: the peer shut its write side (half-close)");
        log::trace!("conn#{label} all output sent: shut down our write side (FIN)");
        log::trace!("conn#{label} interest now READABLE");
    }
    sum += black_box(label as usize);
    sum
}

fn bench_trace_off(c: &mut Criterion) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
    let mut group = c.benchmark_group("trace_off");
    group.bench_function("round_trip_without_log_calls", |b| {
        b.iter(|| round_trip(black_box(3), black_box(64), black_box(0), false))
    });
    group.bench_function("round_trip_with_8_disabled_trace_calls", |b| {
        b.iter(|| round_trip(black_box(3), black_box(64), black_box(0), true))
    });
    group.finish();
}

criterion_group!(benches, bench_trace_off);
criterion_main!(benches);
