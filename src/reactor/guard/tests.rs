use super::*;
use proptest::prelude::*;

fn limits(per_ip: usize, rate: u32, budget: u64) -> Limits {
    Limits {
        max_conns_per_ip: per_ip,
        conn_rate_per_ip: rate,
        udp_budget: budget,
        udp_window: Duration::from_secs(10),
        ..Limits::default()
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
    let a = Source::of("2001:db8:1:2:aaaa::1".parse().unwrap());
    let b = Source::of("2001:db8:1:2:bbbb::2".parse().unwrap());
    let c = Source::of("2001:db8:1:3::1".parse().unwrap());
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(
        Source::of("::ffff:127.0.0.2".parse().unwrap()),
        Source::of("127.0.0.2".parse().unwrap())
    );
    assert_ne!(
        Source::of("127.0.0.1".parse().unwrap()),
        Source::of("127.0.0.2".parse().unwrap())
    );
}

#[test]
fn per_ip_cap_counts_open_connections_only() {
    let mut guard = Guard::new(&limits(2, 0, 0));
    let mut stats = Stats::default();
    let now = Instant::now();
    let (one, two) = (addr("10.0.0.1:1000"), addr("10.0.0.2:1000"));
    assert!(guard.admit(one, now, &mut stats));
    assert!(guard.admit(addr("10.0.0.1:1001"), now, &mut stats));
    assert!(!guard.admit(addr("10.0.0.1:1002"), now, &mut stats));
    assert!(
        guard.admit(two, now, &mut stats),
        "another source is not affected"
    );
    guard.release(one);
    assert!(guard.admit(one, now, &mut stats));
    assert_eq!(stats.refused_per_ip, 1);
    guard.release(one);
    guard.release(one);
    guard.release(two);
    assert_eq!(
        guard.table_sizes().0,
        0,
        "no entry is kept for a source with nothing open"
    );
}

#[test]
fn rate_allows_a_burst_of_one_second_then_refills() {
    let mut guard = Guard::new(&limits(0, 5, 0));
    let mut stats = Stats::default();
    let start = Instant::now();
    let peer = addr("10.0.0.1:1000");
    let admitted = (0..10)
        .filter(|_| guard.admit(peer, start, &mut stats))
        .count();
    assert_eq!(admitted, 5);
    assert_eq!(stats.refused_rate, 5);
    let later = start + Duration::from_millis(400);
    let admitted = (0..10)
        .filter(|_| guard.admit(peer, later, &mut stats))
        .count();
    assert_eq!(admitted, 2, "0.4 s at 5/s refills 2 tokens");
}

#[test]
fn udp_refuses_low_ports_and_spends_a_budget_per_window() {
    let mut guard = Guard::new(&limits(0, 0, 100));
    let mut stats = Stats::default();
    let start = Instant::now();
    assert!(!guard.allow_reply(addr("10.0.0.1:19"), 1, start, &mut stats));
    assert_eq!(stats.udp_low_port, 1);
    let peer = addr("10.0.0.1:40000");
    // Each reply costs its payload plus 28 bytes of IPv4 and UDP headers.
    assert!(guard.allow_reply(peer, 40, start, &mut stats));
    assert!(!guard.allow_reply(peer, 40, start, &mut stats));
    assert!(guard.allow_reply(peer, 4, start, &mut stats));
    assert!(!guard.allow_reply(peer, 0, start, &mut stats));
    assert_eq!(stats.udp_over_budget, 2);
    let next_window = start + Duration::from_secs(10);
    assert!(guard.allow_reply(peer, 72, next_window, &mut stats));
    assert!(!guard.allow_reply(peer, 0, next_window, &mut stats));
    let mut open = Guard::new(&Limits {
        udp_allow_low_ports: true,
        ..limits(0, 0, 0)
    });
    assert!(open.allow_reply(addr("10.0.0.1:7"), 1 << 20, start, &mut stats));
}

#[test]
fn empty_replies_are_charged_their_headers() {
    let mut guard = Guard::new(&limits(0, 0, 100));
    let mut stats = Stats::default();
    let now = Instant::now();
    let sent = (0..1000)
        .filter(|_| guard.allow_reply(addr("10.0.0.1:40000"), 0, now, &mut stats))
        .count();
    assert_eq!(sent, 3, "3 x 28 bytes fit in 100");
    let v6 = (0..1000)
        .filter(|_| guard.allow_reply(addr("[2001:db8::1]:40000"), 0, now, &mut stats))
        .count();
    assert_eq!(v6, 2, "2 x 48 bytes fit in 100");
}

#[test]
fn no_reply_to_our_own_udp_ports_on_this_host() {
    let mut guard = Guard::new(&limits(0, 0, 0));
    guard.set_own_sockets(OwnSockets::new([addr("127.0.0.1:7007")]));
    let mut stats = Stats::default();
    let now = Instant::now();
    assert!(!guard.allow_reply(addr("127.0.0.1:7007"), 0, now, &mut stats));
    assert!(!guard.allow_reply(addr("127.0.0.2:7007"), 5, now, &mut stats));
    assert!(guard.allow_reply(addr("127.0.0.1:7008"), 5, now, &mut stats));
    assert!(guard.allow_reply(addr("192.0.2.1:7007"), 5, now, &mut stats));
    assert_eq!(stats.udp_own_port, 2);
}

#[test]
fn a_flood_of_other_sources_does_not_reset_a_victim_over_budget() {
    let mut guard = Guard::new(&limits(0, 0, 1000));
    let mut stats = Stats::default();
    let now = Instant::now();
    let victim = addr("10.9.9.9:40000");
    while guard.allow_reply(victim, 100, now, &mut stats) {}
    for n in 0..2 * TABLE_SIZE as u32 {
        let other = SocketAddr::new(IpAddr::V4((0x0b00_0000 + n).into()), 40000);
        guard.allow_reply(other, 10, now, &mut stats);
    }
    assert!(!guard.allow_reply(victim, 100, now, &mut stats));
}

proptest! {
    #[test]
    fn tables_never_exceed_their_size(sources in proptest::collection::vec(any::<u32>(), 0..3 * TABLE_SIZE)) {
        let mut guard = Guard::new(&limits(0, 10, 1000));
        let mut stats = Stats::default();
        let now = Instant::now();
        for ip in sources {
            let peer = SocketAddr::new(IpAddr::V4(ip.into()), 5000);
            guard.admit(peer, now, &mut stats);
            guard.release(peer);
            guard.allow_reply(peer, 10, now, &mut stats);
        }
        let (open, buckets, budgets) = guard.table_sizes();
        prop_assert_eq!(open, 0);
        prop_assert!(buckets <= TABLE_SIZE && budgets <= TABLE_SIZE);
    }

    #[test]
    fn a_table_keeps_the_newest_entries(keys in proptest::collection::vec(0u16..512, 1..2000), size in 1usize..64) {
        let mut table = BoundedTable::new(size);
        for &key in &keys {
            *table.entry(key, || 0u32) += 1;
            prop_assert!(table.map.len() <= size);
        }
        // The last key touched is always present.
        let last = *keys.last().unwrap();
        prop_assert!(table.map.contains_key(&last));
        prop_assert_eq!(table.map.len(), table.order.len());
    }
}

#[test]
fn loopback_is_exempt_unless_asked_and_low_ports_stay_refused() {
    let mut stats = Stats::default();
    let now = Instant::now();
    let mut guard = Guard::new(&limits(1, 1, 10));
    for peer in [
        "127.0.0.1:5000",
        "127.9.9.9:5000",
        "[::1]:5000",
        "[::ffff:127.0.0.2]:5000",
    ] {
        for _ in 0..3 {
            assert!(guard.admit(addr(peer), now, &mut stats), "{peer}");
            assert!(
                guard.allow_reply(addr(peer), 100, now, &mut stats),
                "{peer}"
            );
        }
        assert!(!guard.allow_reply(addr(&peer.replace("5000", "53")), 1, now, &mut stats));
        guard.release(addr(peer));
    }
    assert_eq!(
        guard.table_sizes(),
        (0, 0, 0),
        "exempt sources cost no entries"
    );
    assert!(guard.admit(addr("10.0.0.1:1"), now, &mut stats));
    assert!(!guard.admit(addr("10.0.0.1:2"), now, &mut stats));

    let mut limited = Guard::new(&Limits {
        limit_loopback: true,
        ..limits(1, 0, 10)
    });
    assert!(limited.admit(addr("127.0.0.1:1"), now, &mut stats));
    assert!(!limited.admit(addr("[::ffff:127.0.0.1]:2"), now, &mut stats));
    assert!(!limited.allow_reply(addr("[::1]:5000"), 11, now, &mut stats));
}

#[test]
fn one_source_holds_at_most_a_quarter_of_max_conns() {
    let mut guard = Guard::new(&Limits {
        max_conns: 8,
        ..limits(256, 0, 0)
    });
    let mut stats = Stats::default();
    let now = Instant::now();
    assert!(guard.admit(addr("10.0.0.1:1"), now, &mut stats));
    assert!(guard.admit(addr("10.0.0.1:2"), now, &mut stats));
    assert!(!guard.admit(addr("10.0.0.1:3"), now, &mut stats));
    assert!(guard.admit(addr("10.0.0.2:1"), now, &mut stats));
}
