//! The chat room: fan-out, notices, and a member who stops reading.

mod common;

use common::*;
use reactord::config::Transport::Tcp;
use reactord::protocol::{Framing, Protocol};
use std::io::Write;
use std::net::TcpStream;

fn join(server: &TestServer) -> (TcpStream, String) {
    let client = connect(server.addr(Tcp, Protocol::Chat));
    let name = client.local_addr().unwrap().to_string();
    (client, name)
}

#[test]
fn lines_reach_every_other_member_with_join_and_leave_notices() {
    let server = start_server(config(Framing::Line));
    let (mut ann, ann_name) = join(&server);
    let (mut bo, bo_name) = join(&server);
    assert_eq!(
        read_line(&mut ann),
        format!("* {bo_name} joined\n").as_bytes()
    );
    let (mut cy, cy_name) = join(&server);
    assert_eq!(
        read_line(&mut ann),
        format!("* {cy_name} joined\n").as_bytes()
    );
    assert_eq!(
        read_line(&mut bo),
        format!("* {cy_name} joined\n").as_bytes()
    );
    ann.write_all(b"hi all\r\n").unwrap();
    assert_eq!(
        read_line(&mut bo),
        format!("{ann_name}: hi all\n").as_bytes()
    );
    assert_eq!(
        read_line(&mut cy),
        format!("{ann_name}: hi all\n").as_bytes()
    );
    drop(cy);
    assert_eq!(
        read_line(&mut ann),
        format!("* {cy_name} left\n").as_bytes()
    );
    assert_eq!(read_line(&mut bo), format!("* {cy_name} left\n").as_bytes());
    // The sender never gets its own line back.
    bo.write_all(b"bye\n").unwrap();
    assert_eq!(read_line(&mut ann), format!("{bo_name}: bye\n").as_bytes());
}

#[test]
fn a_member_who_stops_reading_is_dropped_and_the_room_told() {
    let mut config = config(Framing::Line);
    config.limits.max_pending = 64 * 1024;
    let server = start_server(config);
    let (mut talker, talker_name) = join(&server);
    let (mut listener, _) = join(&server);
    let (sleeper, sleeper_name) = join(&server);
    // The sleeper never reads. Its kernel buffers fill, then its outbox passes the cap.
    read_line(&mut talker);
    read_line(&mut talker);
    read_line(&mut listener);
    let line = format!("{}\n", "x".repeat(1000));
    let expected = format!("{talker_name}: {line}");
    let mut dropped = false;
    for _ in 0..20_000 {
        talker.write_all(line.as_bytes()).unwrap();
        let got = read_line(&mut listener);
        if got == format!("* {sleeper_name} dropped (not reading)\n").as_bytes() {
            dropped = true;
            break;
        }
        assert_eq!(
            got,
            expected.as_bytes(),
            "the listener keeps getting every line"
        );
    }
    assert!(dropped, "the sleeper was never dropped");
    // The talker hears it too, and the room goes on.
    let mut notice_seen = false;
    for _ in 0..20_000 {
        if read_line(&mut talker) == format!("* {sleeper_name} dropped (not reading)\n").as_bytes()
        {
            notice_seen = true;
            break;
        }
    }
    assert!(notice_seen);
    talker.write_all(b"still here\n").unwrap();
    // The line written just before the notice arrived may still be on its way.
    let mut next = read_line(&mut listener);
    if next == expected.as_bytes() {
        next = read_line(&mut listener);
    }
    assert_eq!(next, format!("{talker_name}: still here\n").as_bytes());
    drop(sleeper);
    assert_eq!(server.stop().chat_dropped, 1, "the drop is counted once");
}

#[test]
fn a_line_too_long_is_answered_to_its_sender_only() {
    let mut config = config(Framing::Line);
    config.limits.max_line = 16;
    let server = start_server(config);
    let (mut ann, _) = join(&server);
    let (mut bo, _) = join(&server);
    read_line(&mut ann);
    bo.write_all(b"short\n").unwrap();
    bo.write_all(format!("{}\n", "x".repeat(100)).as_bytes())
        .unwrap();
    // The sender hears the error, then its connection ends.
    assert_eq!(read_line(&mut bo), b"error: line too long\n");
    assert_eq!(read_to_end(&mut bo), b"");
    // The room hears the good line and the departure, never the error.
    let bo_name = bo.local_addr().unwrap().to_string();
    assert_eq!(
        read_line(&mut ann),
        format!("{bo_name}: short\n").as_bytes()
    );
    assert_eq!(
        read_line(&mut ann),
        format!("* {bo_name} left\n").as_bytes()
    );
    let (mut cy, _) = join(&server);
    cy.write_all(b"hi\n").unwrap();
    let cy_name = cy.local_addr().unwrap().to_string();
    assert_eq!(
        read_line(&mut ann),
        format!("* {cy_name} joined\n").as_bytes()
    );
    assert_eq!(read_line(&mut ann), format!("{cy_name}: hi\n").as_bytes());
}
