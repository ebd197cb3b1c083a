//! Properties over random input, run by every `cargo test`: the same
//! invariants the fuzz targets in `fuzz/` check (see tests/common/chunking.rs),
//! plus the UDP path end to end.

mod common;

use common::chunking::*;
use common::*;
use proptest::prelude::*;
use reactord::config::Transport::Udp;
use reactord::protocol::{Framing, Protocol};

/// Bytes rich in the framer's special characters.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b'\n'),
            Just(b'\r'),
            Just(0u8),
            b'a'..=b'e',
            any::<u8>()
        ],
        0..300,
    )
}

/// Input that sometimes holds `exit` lines, for hello.
fn conversation() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b"exit\n".to_vec()),
            Just(b"exit\r\n".to_vec()),
            Just(b"Ann\n".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..20),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![Just(Framing::Line), Just(Framing::Raw)]
}

proptest! {
    #[test]
    fn framer_chunking_changes_nothing_and_memory_stays_bounded(
        input in stream(),
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
        max_line in 1usize..40,
    ) {
        prop_assert_eq!(check_framer(&input, &cuts, max_line), Ok(()));
    }

    #[test]
    fn every_protocol_answers_alike_however_the_stream_is_cut(
        input in prop_oneof![stream(), conversation()],
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
        budget in 1usize..100,
        framing in framing(),
    ) {
        for protocol in Protocol::ALL {
            prop_assert_eq!(check_session(protocol, framing, &input, &cuts, budget), Ok(()));
        }
    }

    #[test]
    fn every_datagram_gets_its_protocols_reply(input in proptest::collection::vec(any::<u8>(), 0..2000)) {
        for protocol in Protocol::ALL {
            prop_assert_eq!(check_datagram(protocol, &input), Ok(()));
        }
    }
}

proptest! {
    // Each case is a real round trip over loopback: a few dozen are plenty.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_udp_path_answers_random_datagrams_exactly(
        datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 1..8),
    ) {
        let server = start_server(config(Framing::Line));
        let client = udp_client();
        let mut buf = vec![0; 65_536];
        // The protocols with a UDP service that echo the datagram back in some form.
        let protocols = [Protocol::Echo, Protocol::Hello, Protocol::Timestamp];
        for datagram in &datagrams {
            for protocol in protocols {
                let addr = server.addr(Udp, protocol);
                client.send_to(datagram, addr).unwrap();
                let (n, from) = client.recv_from(&mut buf).expect("reply");
                prop_assert_eq!(from, addr);
                let mut expected = Vec::new();
                protocol.on_datagram(datagram, fixed_now(), &mut expected);
                if protocol == Protocol::Timestamp {
                    // The server's clock differs from the fixed one: compare around the stamp.
                    prop_assert_eq!(n, expected.len());
                    prop_assert!(buf[..n].ends_with(datagram));
                } else {
                    prop_assert_eq!(&buf[..n], &expected[..]);
                }
            }
        }
        let stats = server.stop();
        prop_assert_eq!(stats.udp_out, (datagrams.len() * protocols.len()) as u64);
        prop_assert_eq!(stats.udp_dropped, 0);
    }
}
