//! Every protocol over every address family: IPv4, IPv6 and Unix sockets.
//!
//! One smoke check per protocol, run over each family's stream and datagram
//! sockets, so a protocol cannot quietly work on one family only.

mod common;

use common::*;
use reactord::config::{Binding, ServerConfig, Transport, UnixBinding};
use reactord::protocol::{Framing, Protocol};
use std::io::{Read, Write};
use std::net::{Shutdown, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};

/// A connected stream of either family, with timeouts.
trait Stream: Read + Write {
    fn close_write(&self);
}

impl Stream for std::net::TcpStream {
    fn close_write(&self) {
        self.shutdown(Shutdown::Write).unwrap();
    }
}

impl Stream for UnixStream {
    fn close_write(&self) {
        self.shutdown(Shutdown::Write).unwrap();
    }
}

/// Talks `protocol` over a fresh stream from `open` and checks the reply's shape.
fn check_stream(protocol: Protocol, open: &dyn Fn() -> Box<dyn Stream>) {
    let mut stream = open();
    let mut reply = Vec::new();
    match protocol {
        Protocol::Chat => {
            let mut other = open();
            let mut joined = [0u8; 2];
            stream.read_exact(&mut joined).unwrap();
            assert_eq!(&joined, b"* ", "join notice");
            other.write_all(b"hi\n").unwrap();
            other.close_write();
            let mut rest = Vec::new();
            let mut byte = [0u8];
            while !rest.ends_with(b": hi\n") {
                stream.read_exact(&mut byte).unwrap();
                rest.push(byte[0]);
            }
            return;
        }
        Protocol::Files => stream.write_all(b"f.txt\n").unwrap(),
        Protocol::Chargen => {
            let mut line = [0u8; 74];
            stream.read_exact(&mut line).unwrap();
            assert!(line.ends_with(b"\r\n"));
            return;
        }
        _ => stream.write_all(b"ping\n").unwrap(),
    }
    stream.close_write();
    stream.read_to_end(&mut reply).unwrap();
    let ok = match protocol {
        Protocol::Echo => reply == b"ping\n",
        Protocol::Timestamp => reply.starts_with(b"[") && reply.ends_with(b"] ping\n"),
        Protocol::Hello => reply == b"Welcome!\nHello, ping!\n",
        Protocol::Discard => reply.is_empty(),
        Protocol::Daytime => reply.len() == 26 && reply.ends_with(b"\r\n"),
        Protocol::Time => reply.len() == 4,
        Protocol::Files => reply == b"file body",
        Protocol::Chargen | Protocol::Chat => unreachable!(),
    };
    assert!(ok, "{protocol}: {:?}", String::from_utf8_lossy(&reply));
}

/// Checks one datagram exchange's shape (`None`: no reply expected).
fn check_datagram(protocol: Protocol, reply: Option<Vec<u8>>) {
    let ok = match (protocol, &reply) {
        (Protocol::Discard, None) => true,
        (Protocol::Echo, Some(r)) => r == b"ping",
        (Protocol::Timestamp, Some(r)) => r.starts_with(b"[") && r.ends_with(b"] ping"),
        (Protocol::Hello, Some(r)) => r == b"Hello, ping!",
        (Protocol::Chargen, Some(r)) => r.len() == 74,
        (Protocol::Daytime, Some(r)) => r.len() == 26,
        (Protocol::Time, Some(r)) => r.len() == 4,
        _ => false,
    };
    assert!(ok, "{protocol}: {reply:?}");
}

fn datagram_protocols() -> impl Iterator<Item = Protocol> {
    Protocol::ALL.into_iter().filter(|p| !p.is_stream_only())
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reactord-families-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("root")).unwrap();
    std::fs::write(dir.join("root/f.txt"), b"file body").unwrap();
    dir
}

fn base_config(dir: &Path) -> ServerConfig {
    let mut config = config(Framing::Line);
    config.bindings.clear();
    config.files_root = Some(dir.join("root"));
    config
}

fn inet_family(ip: &str, name: &str, reactors: usize) {
    let dir = scratch(name);
    let mut config = base_config(&dir);
    for protocol in Protocol::ALL {
        let addr = format!("{ip}:0").parse().unwrap();
        config.bindings.push(Binding {
            transport: Transport::Tcp,
            protocol,
            addr,
        });
        if !protocol.is_stream_only() {
            config.bindings.push(Binding {
                transport: Transport::Udp,
                protocol,
                addr,
            });
        }
    }
    let server = start_reactors(config, reactors);
    for protocol in Protocol::ALL {
        let addr = server.addr(Transport::Tcp, protocol);
        check_stream(protocol, &|| Box::new(connect(addr)));
    }
    let client = UdpSocket::bind(format!("{ip}:0")).unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    for protocol in datagram_protocols() {
        client
            .send_to(b"ping", server.addr(Transport::Udp, protocol))
            .unwrap();
        let mut buf = [0u8; 256];
        let reply = client
            .recv_from(&mut buf)
            .ok()
            .map(|(n, _)| buf[..n].to_vec());
        check_datagram(protocol, reply);
    }
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_protocol_over_ipv4() {
    inet_family("127.0.0.1", "v4", 1);
}

#[test]
fn every_protocol_over_ipv6() {
    inet_family("[::1]", "v6", 1);
}

#[test]
fn every_protocol_over_unix_sockets() {
    unix_family("unix", 1);
}

fn unix_family(name: &str, reactors: usize) {
    let dir = scratch(name);
    let mut config = base_config(&dir);
    let stream_path = |p: Protocol| dir.join(format!("{p}.sock"));
    let dgram_path = |p: Protocol| dir.join(format!("{p}.dgram"));
    for protocol in Protocol::ALL {
        config.unix_bindings.push(UnixBinding {
            datagram: false,
            protocol,
            path: stream_path(protocol),
        });
        if !protocol.is_stream_only() {
            config.unix_bindings.push(UnixBinding {
                datagram: true,
                protocol,
                path: dgram_path(protocol),
            });
        }
    }
    let server = start_reactors(config, reactors);
    for protocol in Protocol::ALL {
        let path = stream_path(protocol);
        check_stream(protocol, &|| {
            let stream = UnixStream::connect(&path).unwrap();
            stream.set_read_timeout(Some(TIMEOUT)).unwrap();
            Box::new(stream)
        });
    }
    let client = UnixDatagram::bind(dir.join("client.dgram")).unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    for protocol in datagram_protocols() {
        client.send_to(b"ping", dgram_path(protocol)).unwrap();
        let mut buf = [0u8; 256];
        let reply = client.recv(&mut buf).ok().map(|n| buf[..n].to_vec());
        check_datagram(protocol, reply);
    }
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_protocol_over_every_family_with_2_and_4_reactors() {
    for reactors in [2, 4] {
        inet_family("127.0.0.1", &format!("v4-{reactors}"), reactors);
        inet_family("[::1]", &format!("v6-{reactors}"), reactors);
        unix_family(&format!("unix-{reactors}"), reactors);
    }
}
