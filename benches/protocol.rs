//! Per-message cost of the sans-IO hot path: line framing and each handler.
//!
//! Run with `cargo bench --bench protocol`. Each benchmark feeds a batch of
//! messages through a [`Session`] the way the reactor does (one read's worth
//! of bytes, replies appended to a reused buffer) and reports throughput in
//! bytes/s and, via the element count, messages/s. Compare a change against a
//! baseline from the same machine and session (`--save-baseline`, then
//! `--baseline`): the machine is shared and absolute numbers drift.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use reactord::protocol::{Framing, Protocol, Session};
use std::hint::black_box;
use std::time::SystemTime;

/// 1,000 lines of `size` bytes each, `\n`-terminated.
fn lines(size: usize) -> Vec<u8> {
    let mut input = Vec::new();
    for i in 0..1000 {
        input.extend((0..size).map(|j| b'a' + ((i + j) % 26) as u8));
        input.push(b'\n');
    }
    input
}

fn bench_sessions(c: &mut Criterion) {
    let now = SystemTime::now();
    let mut group = c.benchmark_group("session");
    for size in [16usize, 256] {
        let input = lines(size);
        group.throughput(Throughput::Bytes(input.len() as u64));
        for protocol in [
            Protocol::Echo,
            Protocol::Hello,
            Protocol::Timestamp,
            Protocol::Chat,
            Protocol::Discard,
        ] {
            group.bench_with_input(
                BenchmarkId::new(protocol.name(), size),
                &input,
                |b, input| {
                    let mut session = Session::new(protocol, Framing::Line, 8192);
                    let mut out = Vec::with_capacity(1 << 20);
                    b.iter(|| {
                        out.clear();
                        let progress =
                            session.on_bytes(black_box(input), now, &mut out, usize::MAX);
                        black_box((progress, out.len()))
                    });
                },
            );
        }
    }
    group.finish();
}

fn bench_framing_splits(c: &mut Criterion) {
    // Lines cut across reads force the framer to copy the partial line once.
    let now = SystemTime::now();
    let input = lines(64);
    let mut group = c.benchmark_group("framing");
    group.throughput(Throughput::Elements(1000));
    for chunk in [input.len(), 4096, 100] {
        group.bench_with_input(
            BenchmarkId::new("hello_chunked", chunk),
            &chunk,
            |b, &chunk| {
                let mut session = Session::new(Protocol::Hello, Framing::Line, 8192);
                let mut out = Vec::with_capacity(1 << 20);
                b.iter(|| {
                    out.clear();
                    for piece in input.chunks(chunk) {
                        black_box(session.on_bytes(piece, now, &mut out, usize::MAX));
                    }
                });
            },
        );
    }
    group.finish();
}

fn bench_datagrams(c: &mut Criterion) {
    let now = SystemTime::now();
    let mut group = c.benchmark_group("datagram");
    group.throughput(Throughput::Elements(1));
    for protocol in [
        Protocol::Echo,
        Protocol::Hello,
        Protocol::Timestamp,
        Protocol::Time,
    ] {
        group.bench_function(protocol.name(), |b| {
            let mut out = Vec::with_capacity(1024);
            b.iter(|| {
                out.clear();
                black_box(protocol.on_datagram(
                    black_box(b"a 64 byte datagram would be about this long, give or take a few"),
                    now,
                    &mut out,
                ))
            });
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_sessions,
    bench_framing_splits,
    bench_datagrams
);
criterion_main!(benches);
