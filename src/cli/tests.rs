use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("reactord").chain(args.iter().copied()))
}

#[test]
fn no_arguments_serves_the_defaults() {
    for args in [&[][..], &["serve"][..]] {
        let cli = parse(args).unwrap();
        let config = cli.serve_args().unwrap().config(100);
        assert_eq!(config.bindings, Binding::defaults(false));
        assert_eq!(config.limits.max_conns, 100);
        assert_eq!(config.limits.idle_timeout, Some(Duration::from_secs(300)));
        // The binary guards an open port by default, unlike the library's Limits::default().
        assert_eq!(config.limits.max_conns_per_ip, DEFAULT_MAX_CONNS_PER_IP);
        assert_eq!(config.limits.conn_rate_per_ip, DEFAULT_CONN_RATE_PER_IP);
        assert!(!config.limits.udp_allow_low_ports);
        assert_eq!(config.limits.udp_budget, 1 << 20);
        assert_eq!(config.limits.udp_window, Duration::from_secs(600));
    }
}

#[test]
fn explicit_bindings_replace_the_defaults() {
    let cli = parse(&[
        "serve",
        "--udp",
        "echo=127.0.0.1:0",
        "--idle-timeout",
        "0",
        "--framing",
        "raw",
    ])
    .unwrap();
    let config = cli.serve_args().unwrap().config(100);
    assert_eq!(config.bindings.len(), 1);
    assert_eq!(config.framing, Framing::Raw);
    assert_eq!(config.limits.idle_timeout, None);
}

#[test]
fn host_moves_the_defaults_and_only_the_defaults() {
    let cli = parse(&["--host", "0.0.0.0", "--host", "::"]).unwrap();
    let config = cli.serve_args().unwrap().config(100);
    let defaults = Binding::defaults(false);
    assert_eq!(config.bindings.len(), 2 * defaults.len());
    assert_eq!(config.bindings[0].to_string(), "tcp echo 0.0.0.0:7007");
    assert_eq!(
        config.bindings[defaults.len()].to_string(),
        "tcp echo [::]:7007"
    );
    let cli = parse(&["--host", "0.0.0.0", "--tcp", "echo=127.0.0.1:0"]).unwrap();
    let config = cli.serve_args().unwrap().config(100);
    assert_eq!(config.bindings.len(), 1);
    assert!(config.bindings[0].addr.ip().is_loopback());
    assert!(parse(&["--host", "localhost"]).is_err());
}

#[test]
fn threaded_takes_the_same_flags() {
    let cli = parse(&["threaded", "--tcp", "hello=127.0.0.1:0", "--max-conns", "3"]).unwrap();
    assert!(matches!(cli.command, Some(Command::Threaded(_))));
    let config = cli.serve_args().unwrap().config(100);
    assert_eq!(config.bindings.len(), 1);
    assert_eq!(config.limits.max_conns, 3);
}

#[test]
fn bad_values_are_errors_naming_the_culprit() {
    let err = parse(&["--tcp", "nope=127.0.0.1:1"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown protocol 'nope'"), "{err}");
    assert!(parse(&["--max-line", "0"]).is_err());
    assert!(parse(&["--drain-timeout", "-1"]).is_err());
    assert!(parse(&["-v", "-q"]).is_err());
}

#[test]
fn every_number_is_range_checked_at_parse_time() {
    for (flag, bad) in [
        ("--max-line", "0"),
        ("--max-line", "16777217"),
        ("--max-pending", "1073741825"),
        ("--max-conns", "0"),
        ("--max-conns-per-ip", "4294967296"),
        ("--conn-rate-per-ip", "1000001"),
        ("--udp-window", "0"),
        ("--sndbuf", "100"),
        ("--sndbuf", "67108865"),
        ("--drain-timeout", "86401"),
        ("--idle-timeout", "-1"),
        ("--udp-budget", "18446744073709551616"),
    ] {
        let err = parse(&[flag, bad]).expect_err(flag).to_string();
        assert!(err.contains(bad), "{flag} {bad}: {err}");
    }
    let ok = |args: &[&str]| parse(args).unwrap().serve_args().unwrap().config(100);
    assert_eq!(ok(&["--sndbuf", "0"]).limits.sndbuf, None);
    assert_eq!(ok(&["--sndbuf", "65536"]).limits.sndbuf, Some(65536));
    assert_eq!(ok(&[]).limits.sndbuf, Some(DEFAULT_SNDBUF));
    // Huge idle timeouts are accepted: they mean "never" (see the reactor's timers).
    let huge = ok(&["--idle-timeout", "18446744073709551615"]);
    assert_eq!(
        huge.limits.idle_timeout,
        Some(Duration::from_secs(u64::MAX))
    );
    assert!(!ok(&[]).limits.limit_loopback);
    assert!(ok(&["--limit-loopback"]).limits.limit_loopback);
}

#[test]
fn verbosity_maps_onto_levels() {
    let level = |args: &[&str]| parse(args).unwrap().serve_args().unwrap().log_level();
    assert_eq!(level(&[]), log::LevelFilter::Info);
    assert_eq!(level(&["-vv"]), log::LevelFilter::Trace);
    assert_eq!(level(&["-qqq"]), log::LevelFilter::Off);
}
