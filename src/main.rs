//! The `reactord` binary: parse the command line, set up logging, bind, run.
//!
//! Everything interesting lives in the library; this file only wires it to
//! the process: exit codes, stdout `listening` lines, signals, rlimits.

use clap::error::ErrorKind;
use clap::Parser;
use reactord::cli::{Cli, Command, ServeArgs};
use reactord::config::{Binding, UnixBinding};
use reactord::reactor::activation;
use reactord::shards::Shards;
use reactord::threaded::{self, ThreadedServer};
use std::io::Write;
use std::process::ExitCode;

/// Descriptors kept back from `--max-conns` for listeners, the poll, stdio and logging.
const DESCRIPTOR_RESERVE: u64 = 32;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return clap_exit(err),
    };
    match cli.command {
        None => serve(&cli.serve),
        Some(Command::Serve(ref args)) => serve(args),
        Some(Command::Threaded(ref args)) => serve_threaded(args),
        Some(Command::Bench(ref args)) => report_error(reactord::loadgen::main(args)),
        Some(Command::MassHold(ref args)) => report_error(reactord::loadgen::mass::main(args)),
        Some(Command::Compare(ref args)) => report_error(reactord::compare::main(args)),
    }
}

/// Success, or the error on one line of stderr and a failure exit code.
fn report_error(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Help and version go to stdout with success; a usage error is one line on
/// stderr that keeps everything clap said about the culprit.
fn clap_exit(err: clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            ExitCode::SUCCESS
        }
        _ => {
            let mut line = one_line(&err.render().to_string());
            if !line.contains("tip:") {
                if let Some(flag) = transposed_flag(&err) {
                    line.push_str(&format!("; tip: a similar argument exists: '{flag}'"));
                }
            }
            eprintln!("{line} (see --help)");
            ExitCode::from(2)
        }
    }
}

/// Clap's error without its usage block, joined into one line: the missing
/// argument (`<ADDR>`), the tip (`a similar argument exists: '--framing'`)
/// and the possible values all stay, only the line breaks go.
fn one_line(rendered: &str) -> String {
    let kept: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    if kept.is_empty() {
        return "error: invalid arguments".to_string();
    }
    let mut line = String::new();
    for (i, part) in kept.iter().enumerate() {
        if i > 0 {
            line.push_str(if part.starts_with("tip:") { "; " } else { " " });
        }
        line.push_str(part);
    }
    line
}

/// Clap suggests by similarity and misses two swapped letters (`--tpc`);
/// this finds a flag of any subcommand spelled with exactly the same letters.
fn transposed_flag(err: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    use clap::CommandFactory;
    let Some(ContextValue::String(typed)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let letters = |s: &str| {
        let mut chars: Vec<char> = s.trim_start_matches('-').chars().collect();
        chars.sort_unstable();
        chars
    };
    let wanted = letters(typed);
    let command = Cli::command();
    let commands = std::iter::once(&command).chain(command.get_subcommands());
    let found = commands
        .flat_map(|c| c.get_arguments())
        .filter_map(|arg| arg.get_long())
        .find(|long| letters(long) == wanted && format!("--{long}") != *typed)
        .map(|long| format!("--{long}"));
    found
}

/// Logs to stderr with microsecond timestamps, so the trace of one round
/// trip (tens of microseconds) can be followed and timed line by line.
///
/// mio's own trace lines are off unless `RUST_LOG` names mio (`RUST_LOG=trace,mio=trace`):
/// they print raw tokens such as `Token(9223372036854775808)`, which is
/// `conn#0.0` in reactord's labels (see `reactor::token`).
fn init_logging(level: log::LevelFilter) {
    env_logger::Builder::new()
        .filter_level(level)
        .filter_module("mio", log::LevelFilter::Off)
        .format_timestamp_micros()
        .parse_default_env()
        .init();
}

/// Raises the soft open-file limit to the hard one and returns how many connections fit.
fn default_max_conns(sockets: usize) -> usize {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(err) => {
            log::warn!("cannot raise the open-file limit: {err}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    };
    let reserve = DESCRIPTOR_RESERVE + sockets as u64;
    usize::try_from(limit.saturating_sub(reserve).max(1)).unwrap_or(usize::MAX)
}

/// Prints one `listening <tcp|udp|unix|unixgram> <protocol> <address>` line per socket, flushed.
fn announce(bindings: &[Binding], unix_bindings: &[UnixBinding]) {
    let mut stdout = std::io::stdout().lock();
    for binding in bindings {
        let _ = writeln!(stdout, "listening {binding}");
    }
    for binding in unix_bindings {
        let _ = writeln!(stdout, "listening {binding}");
    }
    let _ = stdout.flush();
}

fn serve(args: &ServeArgs) -> ExitCode {
    init_logging(args.log_level());
    let sockets = args.tcp.len() + args.udp.len() + args.unix.len() + args.unixgram.len();
    let mut config = args.config(default_max_conns(sockets.max(16)));
    let inherited = match activation::take_from_env() {
        Ok(inherited) => inherited,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    if !inherited.is_empty() && !args.has_explicit_bindings() {
        // Sockets passed by systemd replace the defaults, as explicit flags do.
        config.bindings.clear();
    }
    let count = args.reactors.resolve(reactord::shards::available_cores());
    let mut shards = match Shards::bind_adopting(&config, count, args.reuse_port, inherited) {
        Ok(shards) => shards,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    shards.require_proxy_header(args.proxy_protocol);
    shards.notify_service_manager();
    if let Some((k, after)) = args.test_stall_reactor {
        shards.stall_for_tests(k, std::time::Duration::from_secs(after));
    }
    let metrics = match args
        .metrics
        .map(|addr| shards.serve_metrics(addr))
        .transpose()
    {
        Ok(metrics) => metrics,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = shards.watch_signals() {
        eprintln!("error: cannot watch SIGINT/SIGTERM: {err}");
        return ExitCode::FAILURE;
    }
    announce(&shards.bindings(), &shards.unix_bindings());
    if let Some(addr) = metrics {
        println!("listening tcp metrics {addr}");
    }
    match shards.run() {
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: event loop failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `reactord threaded`: the same flags and stdout lines, one thread per connection.
fn serve_threaded(args: &ServeArgs) -> ExitCode {
    init_logging(args.log_level());
    if args.metrics.is_some() || args.proxy_protocol {
        eprintln!("error: --metrics and --proxy-protocol are served by the event loop only, not the threaded baseline");
        return ExitCode::FAILURE;
    }
    if !args.unix.is_empty() || !args.unixgram.is_empty() {
        eprintln!("error: the threaded baseline serves TCP and UDP only, not Unix sockets");
        return ExitCode::FAILURE;
    }
    if args.reactors != reactord::cli::ReactorCount::Fixed(1) {
        eprintln!("error: --reactors is for `reactord serve`; the threaded baseline runs a thread per connection");
        return ExitCode::FAILURE;
    }
    if args.reuse_port {
        // Its shutdown wakes each blocking accept by connecting to its own
        // port, which another process's listener might answer instead.
        eprintln!("error: --reuse-port is for `reactord serve`; the threaded baseline refuses it");
        return ExitCode::FAILURE;
    }
    let mut config = args.config(default_max_conns(args.tcp.len() + args.udp.len()));
    if args.tcp.is_empty() && args.udp.is_empty() {
        // The defaults, less chat: the baseline has no shared room.
        config
            .bindings
            .retain(|b| b.protocol != reactord::protocol::Protocol::Chat);
    }
    let server = match ThreadedServer::bind(&config) {
        Ok(server) => server,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = threaded::watch_signals(server.shutdown_handle()) {
        eprintln!("error: cannot watch SIGINT/SIGTERM: {err}");
        return ExitCode::FAILURE;
    }
    announce(&server.local_bindings(), &[]);
    let stats = server.run();
    log::info!("summary: {stats}");
    ExitCode::SUCCESS
}
