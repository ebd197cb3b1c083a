//! `--metrics`: scraped over real HTTP and parsed by Prometheus' own Python parser.

mod common;
#[path = "common/tools.rs"]
mod tools;

use common::{ServerProcess, TIMEOUT};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};

/// Sends `request` and reads until the server closes.
fn http(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.write_all(request).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    String::from_utf8(reply).unwrap()
}

/// The metrics page parsed by `prometheus_client.parser`: one `name{labels} value` per sample.
fn parse_with_prometheus(page: &str) -> Vec<String> {
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))
        print(f'{family.type} {s.name}{{{labels}}} {s.value}')
"#;
    let mut python = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    python
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let output = python.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "parser rejected the page: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn value(samples: &[String], kind_and_name: &str) -> f64 {
    let line = samples
        .iter()
        .find(|line| line.starts_with(kind_and_name))
        .unwrap_or_else(|| panic!("no {kind_and_name} in {samples:#?}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn the_contract_metrics_parse_and_count() {
    if !tools::has_prometheus_parser() {
        return;
    }
    let server = ServerProcess::start(
        &[
            "--tcp",
            "echo=127.0.0.1:0",
            "--udp",
            "hello=127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
        ],
        3,
    );
    assert_eq!(server.listening[2].0, "tcp");
    assert_eq!(server.listening[2].1, "metrics");
    let (echo, hello, metrics) = (server.addr(0), server.addr(1), server.addr(2));
    let mut client = common::connect(echo);
    client.write_all(b"12345").unwrap();
    common::read_exact(&mut client, 5);
    let udp = common::udp_client();
    assert_eq!(common::ask(&udp, hello, b"x"), b"Hello, x!");
    let page = http(
        metrics,
        b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let (head, body) = page.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let samples = parse_with_prometheus(body);
    let contract = [
        "counter reactord_connections_total{protocol=echo,transport=tcp} 1",
        "gauge reactord_connections_active{protocol=echo,transport=tcp} 1",
        "counter reactord_refused_total{reason=per_source} 0",
        "counter reactord_refused_total{reason=proxy_header} 0",
        "counter reactord_udp_dropped_total{reason=send_buffer_full} 0",
    ];
    for sample in contract {
        assert!(
            samples.iter().any(|s| s == sample),
            "{sample} missing from {samples:#?}"
        );
    }
    assert_eq!(
        value(&samples, "counter reactord_bytes_received_total"),
        6.0
    );
    assert_eq!(value(&samples, "counter reactord_bytes_sent_total"), 14.0);
    assert_eq!(value(&samples, "counter reactord_chat_dropped_total"), 0.0);
    assert!(value(&samples, "histogram reactord_loop_turn_seconds_count") >= 2.0);
    assert!(samples
        .iter()
        .any(|s| s.starts_with("histogram reactord_loop_turn_seconds_bucket{le=+Inf}")));
    assert!(value(&samples, "counter reactord_loop_busy_seconds_total") > 0.0);
}

#[test]
fn the_endpoint_refuses_what_it_does_not_serve_and_keeps_alive() {
    let server = ServerProcess::start(
        &["--tcp", "echo=127.0.0.1:0", "--metrics", "127.0.0.1:0"],
        2,
    );
    let metrics = server.addr(1);
    let status = |request: &[u8]| {
        http(metrics, request)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        status(b"GET /other HTTP/1.1\r\nConnection: close\r\n\r\n"),
        "HTTP/1.1 404 Not Found"
    );
    assert_eq!(
        status(b"POST /metrics HTTP/1.0\r\n\r\n"),
        "HTTP/1.1 405 Method Not Allowed"
    );
    assert_eq!(
        status(b"GET /metrics SPDY\r\n\r\n"),
        "HTTP/1.1 400 Bad Request"
    );
    let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    huge.resize(8_300, b'a');
    assert_eq!(
        status(&huge),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    // Pipelined requests on one connection, the last closing it: more than
    // one turn's worth, so the rest must be served without a new event.
    let mut pipelined = b"GET /metrics HTTP/1.1\r\n\r\n".repeat(9);
    pipelined.extend_from_slice(b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    let page = http(metrics, &pipelined);
    assert_eq!(page.matches("HTTP/1.1 200 OK").count(), 10);
    // The echo port still works: the scraper never held the loop.
    let mut client = common::connect(server.addr(0));
    client.write_all(b"ok").unwrap();
    assert_eq!(common::read_exact(&mut client, 2), b"ok");
}

/// Scrapes until `done` accepts the parsed page (siblings publish their
/// counters at the end of each turn, a moment after the reply was written).
fn scrape_until(metrics: SocketAddr, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let page = http(
            metrics,
            b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        let (_, body) = page.split_once("\r\n\r\n").unwrap();
        let samples = parse_with_prometheus(body);
        if done(&samples) || std::time::Instant::now() > deadline {
            return samples;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn two_reactors_behind_proxy_headers_scrape_as_one_server() {
    if !tools::has_prometheus_parser() {
        return;
    }
    let server = ServerProcess::start(
        &[
            "--reactors",
            "2",
            "--proxy-protocol",
            "--tcp",
            "echo=127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
        ],
        2,
    );
    assert_eq!(server.listening[1].1, "metrics");
    let (echo, metrics) = (server.addr(0), server.addr(1));
    // 32 connections from as many source ports: the kernel's SO_REUSEPORT
    // hash puts some on each reactor (all on one: odds 2 in 2^32).
    const SERVED: usize = 32;
    for k in 0..SERVED {
        let mut client = common::connect(echo);
        let header = format!("PROXY TCP4 192.0.2.{} 127.0.0.1 4000 7\r\nhello", k + 1);
        client.write_all(header.as_bytes()).unwrap();
        assert_eq!(common::read_exact(&mut client, 5), b"hello");
    }
    // Headers are required on both reactors: these are closed unserved.
    const REFUSED: usize = 8;
    for _ in 0..REFUSED {
        let mut client = common::connect(echo);
        client.write_all(b"hello without a header\r\n").unwrap();
        // Closed without a reply (a reset, as unread bytes were left, counts too).
        let mut reply = Vec::new();
        let _ = client.read_to_end(&mut reply);
        assert_eq!(reply, b"");
    }
    let expected_bytes = (SERVED * 5) as f64;
    let samples = scrape_until(metrics, |samples| {
        samples
            .iter()
            .any(|s| s.starts_with("counter reactord_bytes_sent_total"))
            && value(samples, "counter reactord_bytes_sent_total") == expected_bytes
            && value(
                samples,
                "counter reactord_refused_total{reason=proxy_header}",
            ) == REFUSED as f64
    });
    assert_eq!(
        value(&samples, "counter reactord_bytes_received_total"),
        expected_bytes
    );
    assert_eq!(
        value(&samples, "counter reactord_bytes_sent_total"),
        expected_bytes
    );
    assert_eq!(
        value(
            &samples,
            "counter reactord_refused_total{reason=proxy_header}"
        ),
        REFUSED as f64
    );
    let per_reactor = |k: usize| {
        value(
            &samples,
            &format!("counter reactord_reactor_connections_total{{reactor={k}}}"),
        )
    };
    let (first, second) = (per_reactor(0), per_reactor(1));
    assert_eq!(first + second, SERVED as f64, "{samples:#?}");
    assert!(first > 0.0 && second > 0.0, "{samples:#?}");
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("summary: connections={SERVED} ")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("proxy_header={REFUSED} ")),
        "{stderr}"
    );
}

#[test]
fn with_two_reactors_connection_and_loop_families_cover_both() {
    if !tools::has_prometheus_parser() {
        return;
    }
    let server = ServerProcess::start(
        &[
            "--reactors",
            "2",
            "--tcp",
            "echo=127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
        ],
        2,
    );
    let (echo, metrics) = (server.addr(0), server.addr(1));
    // 32 connections from as many source ports, held open: SO_REUSEPORT's
    // hash puts some on each reactor (all on one: odds 2 in 2^32).
    const OPEN: usize = 32;
    let mut clients: Vec<TcpStream> = (0..OPEN)
        .map(|_| {
            let mut client = common::connect(echo);
            client.write_all(b"hi").unwrap();
            assert_eq!(common::read_exact(&mut client, 2), b"hi");
            client
        })
        .collect();
    let active = "gauge reactord_connections_active{protocol=echo,transport=tcp}";
    let per_reactor_active = |samples: &[String], k: usize| {
        value(
            samples,
            &format!("gauge reactord_reactor_connections_active{{reactor={k}}}"),
        )
    };
    let samples = scrape_until(metrics, |s| value(s, active) == OPEN as f64);
    assert_eq!(value(&samples, active), OPEN as f64, "{samples:#?}");
    assert_eq!(
        value(
            &samples,
            "counter reactord_connections_total{protocol=echo,transport=tcp}"
        ),
        OPEN as f64
    );
    let (first, second) = (
        per_reactor_active(&samples, 0),
        per_reactor_active(&samples, 1),
    );
    assert_eq!(first + second, OPEN as f64, "{samples:#?}");
    assert!(first > 0.0 && second > 0.0, "{samples:#?}");
    // The loop figures are both reactors' turns: one merged histogram.
    let turns = value(&samples, "counter reactord_loop_turns_total");
    assert_eq!(
        value(&samples, "histogram reactord_loop_turn_seconds_count"),
        turns
    );
    for k in 0..2 {
        let busy = format!("counter reactord_reactor_loop_busy_seconds_total{{reactor={k}}}");
        assert!(value(&samples, &busy) > 0.0, "{samples:#?}");
        let age = format!("gauge reactord_reactor_last_turn_age_seconds{{reactor={k}}}");
        assert!(value(&samples, &age) >= 0.0, "{samples:#?}");
    }
    // Closing counts on whichever reactor held the connection.
    const CLOSED: usize = 10;
    clients.truncate(OPEN - CLOSED);
    let left = (OPEN - CLOSED) as f64;
    let samples = scrape_until(metrics, |s| value(s, active) == left);
    assert_eq!(value(&samples, active), left, "{samples:#?}");
    assert_eq!(
        per_reactor_active(&samples, 0) + per_reactor_active(&samples, 1),
        left
    );
    drop(clients);
    server.terminate();
    let (status, stderr) = server.wait();
    assert!(status.success(), "{stderr}");
}
