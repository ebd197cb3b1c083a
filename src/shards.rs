//! `--reactors N`: the same single-threaded loop once per core, sharing nothing on the message path.
//!
//! One reactor uses one core. To use more, reactord does what nginx workers,
//! memcached threads and the seastar/glommio/monoio shards do: it runs the
//! *same* loop N times, one per thread, each owning its connections outright.
//! This module is the thin layer that starts and wires them; a [`Reactor`]
//! itself never learns how many siblings it has.
//!
//! - **Spreading the work.** The first reactor binds every socket (TCP and
//!   UDP with `SO_REUSEPORT`); each sibling binds its own socket on the same
//!   address, so the kernel's accept and receive queues are per reactor and
//!   it spreads clients over them by a hash. Unix sockets cannot be spread
//!   that way: every reactor polls the same listening socket and whichever
//!   wakes first accepts (see `reactor/sibling.rs`).
//! - **Nothing shared per message.** Each reactor has its own `Poll`, slab,
//!   timers, buffers and counters. Only the process-wide limits are shared,
//!   touched on accept, on close and per UDP reply.
//! - **Chat across reactors.** Each reactor gets its siblings' mailbox
//!   addresses (a channel plus that loop's `Waker`); a chat line crosses
//!   reactors as a message, stored once, never by one thread touching another's
//!   connections.
//! - **Signals.** With one reactor it watches SIGINT/SIGTERM (and SIGUSR1,
//!   SIGHUP) itself, exactly as `reactord` always did. With several, a small
//!   thread waits for the signals and asks every reactor to drain; each
//!   finishes on its own. SIGUSR1 logs the sums of every reactor's counters.
//! - **Running as a service.** Sockets passed by systemd are served by every
//!   reactor (duplicate descriptors, like Unix sockets). The PROXY protocol
//!   applies to every reactor's listeners. The metrics endpoint and systemd
//!   notifications live on reactor 0: `READY=1` is sent once every reactor's
//!   loop has started, `STOPPING=1` when reactor 0 begins its drain (all
//!   reactors are asked at once). Reactor 0 reads every sibling's vitals
//!   (`reactor/vitals.rs`: heartbeat, connections per socket, loop health;
//!   atomics each loop writes alone), so `WATCHDOG=1` is sent only while
//!   every reactor turns, a stuck one is named in `STATUS=` and the log
//!   (`reactor/liveness.rs`), and the metrics and `STATUS=` cover every
//!   reactor: sums, with `reactord_reactor_*{reactor="K"}` per reactor.
//! - **Counters.** Each reactor counts alone. At the end the summary line
//!   holds the sums, preceded (with more than one reactor) by one line per
//!   reactor, `reactor K: connections=... messages=... bytes_in=... bytes_out=...`,
//!   so an imbalance between reactors is visible.

use crate::config::{Binding, ServerConfig, UnixBinding};
use crate::reactor::{
    activation, MailboxAddress, Reactor, ShutdownHandle, SignalRequest, StartError, Stats,
    StatsHandle, HANDLED_SIGNALS,
};
use signal_hook::iterator::Signals;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;

/// How many reactors `auto` means: the cores this process may run on.
pub fn available_cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// N reactors bound to the same sockets, ready to run.
#[derive(Debug)]
pub struct Shards {
    reactors: Vec<Reactor>,
    signals: Option<Signals>,
}

/// Stops every reactor of a [`Shards`] from any thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct ShardsShutdown {
    handles: Vec<ShutdownHandle>,
}

impl ShardsShutdown {
    /// Starts a graceful shutdown of every reactor, as SIGTERM would.
    pub fn shutdown(&self) {
        for handle in &self.handles {
            handle.shutdown();
        }
    }
}

/// The counters of each reactor, in reactor order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardStats {
    /// One entry per reactor, reactor 0 first.
    pub per_reactor: Vec<Stats>,
}

impl ShardStats {
    /// The sums over every reactor: what the summary line prints.
    pub fn total(&self) -> Stats {
        let mut total = Stats::default();
        for stats in &self.per_reactor {
            total.add(stats);
        }
        total
    }
}

impl Shards {
    /// Binds `count` reactors (at least one) serving `config`.
    ///
    /// With `reuse_port`, or with more than one reactor, TCP and UDP sockets
    /// are bound with `SO_REUSEPORT`.
    pub fn bind(
        config: &ServerConfig,
        count: usize,
        reuse_port: bool,
    ) -> Result<Shards, StartError> {
        Shards::bind_adopting(config, count, reuse_port, Vec::new())
    }

    /// Like [`bind`](Self::bind), also serving sockets passed by systemd on
    /// every reactor (see [`activation`]).
    pub fn bind_adopting(
        config: &ServerConfig,
        count: usize,
        reuse_port: bool,
        inherited: Vec<activation::Inherited>,
    ) -> Result<Shards, StartError> {
        let count = count.max(1);
        let mut first = Reactor::bind_adopting(config, reuse_port || count > 1, inherited)?;
        let mut reactors = Vec::with_capacity(count);
        for _ in 1..count {
            reactors.push(first.sibling(config)?);
        }
        reactors.insert(0, first);
        let addresses: Vec<MailboxAddress> =
            reactors.iter().map(Reactor::mailbox_address).collect();
        for (k, reactor) in reactors.iter_mut().enumerate() {
            let others = addresses
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != k)
                .map(|(_, address)| address.clone())
                .collect();
            reactor.connect_siblings(others);
        }
        if count > 1 {
            Reactor::start_together(&mut reactors);
            Reactor::watch_together(&mut reactors);
        }
        Ok(Shards {
            reactors,
            signals: None,
        })
    }

    /// The bound TCP and UDP sockets, once each whatever the number of reactors.
    pub fn bindings(&self) -> Vec<Binding> {
        self.reactors[0].bindings()
    }

    /// The bound Unix domain sockets.
    pub fn unix_bindings(&self) -> Vec<UnixBinding> {
        self.reactors[0].unix_bindings()
    }

    /// How many reactors will run.
    pub fn len(&self) -> usize {
        self.reactors.len()
    }

    /// Always false: there is at least one reactor.
    pub fn is_empty(&self) -> bool {
        self.reactors.is_empty()
    }

    /// A handle that shuts every reactor down.
    pub fn shutdown_handle(&self) -> ShardsShutdown {
        ShardsShutdown {
            handles: self.reactors.iter().map(Reactor::shutdown_handle).collect(),
        }
    }

    /// A live view of each reactor's counters, reactor 0 first.
    pub fn stats_handles(&self) -> Vec<StatsHandle> {
        self.reactors.iter().map(Reactor::stats_handle).collect()
    }

    /// Every reactor's stream connections must begin with a PROXY header.
    pub fn require_proxy_header(&mut self, on: bool) {
        for reactor in &mut self.reactors {
            reactor.require_proxy_header(on);
        }
    }

    /// Reactor 0 talks to systemd (see [`Reactor::notify_service_manager`]);
    /// with several reactors, `READY=1` waits for all of them, and with a
    /// watchdog every reactor turns often enough for reactor 0 to see it alive.
    pub fn notify_service_manager(&mut self) {
        let (first, siblings) = self.reactors.split_at_mut(1);
        first[0].notify_service_manager();
        if let Some(every) = first[0].watchdog_turn_interval() {
            for sibling in siblings {
                sibling.turn_at_least_every(every);
            }
        }
    }

    /// Test hook (`--test-stall-reactor K:SECS`): reactor `k` (if it exists)
    /// hangs inside its loop `after` it starts, for an hour, so that tests can
    /// check the watchdog notices. Never use it in service.
    #[doc(hidden)]
    pub fn stall_for_tests(&mut self, k: usize, after: std::time::Duration) {
        if let Some(reactor) = self.reactors.get_mut(k) {
            reactor.stall_for_tests(after, std::time::Duration::from_secs(3600));
        }
    }

    /// Serves the metrics of every reactor at `addr`, from reactor 0.
    pub fn serve_metrics(&mut self, addr: SocketAddr) -> Result<SocketAddr, StartError> {
        let siblings = self.reactors[1..]
            .iter()
            .map(Reactor::stats_handle)
            .collect();
        self.reactors[0].serve_metrics_with(addr, siblings)
    }

    /// Shuts every reactor down gracefully on SIGINT and SIGTERM, logs the
    /// counters on SIGUSR1 and ignores SIGHUP (once per process).
    pub fn watch_signals(&mut self) -> io::Result<()> {
        if self.reactors.len() == 1 {
            return self.reactors[0].watch_signals();
        }
        self.signals = Some(Signals::new(HANDLED_SIGNALS)?);
        Ok(())
    }

    /// Runs every reactor until shut down and drained, each on its own thread
    /// (one reactor runs on the calling thread, exactly as before), then logs
    /// the summary. If one loop fails, the others are shut down too and the
    /// first error is returned.
    pub fn run(mut self) -> io::Result<ShardStats> {
        if self.reactors.len() == 1 {
            let reactor = self.reactors.remove(0);
            return Ok(ShardStats {
                per_reactor: vec![reactor.run()?],
            });
        }
        let shutdown = self.shutdown_handle();
        let stats = self.stats_handles();
        let signal_thread = self
            .signals
            .take()
            .and_then(|signals| forward_signals(signals, &shutdown, stats));
        let result = run_threads(self.reactors, &shutdown);
        if let Some((handle, thread)) = signal_thread {
            handle.close();
            let _ = thread.join();
        }
        let stats = result?;
        for (k, reactor) in stats.per_reactor.iter().enumerate() {
            log::info!("{}", reactor_line(k, reactor));
        }
        log::info!("summary: {}", stats.total());
        Ok(stats)
    }
}

/// `reactor K: connections=... messages=... bytes_in=... bytes_out=...`: fields only ever appended.
pub fn reactor_line(k: usize, stats: &Stats) -> String {
    format!(
        "reactor {k}: connections={} messages={} bytes_in={} bytes_out={} udp_in={} udp_out={}",
        stats.connections,
        stats.messages,
        stats.bytes_in,
        stats.bytes_out,
        stats.udp_in,
        stats.udp_out
    )
}

type SignalThread = (signal_hook::iterator::Handle, thread::JoinHandle<()>);

/// A thread that turns each SIGINT/SIGTERM into a shutdown request to every
/// reactor (a second one cuts their drain short, as with one reactor), logs
/// the summed counters on SIGUSR1 and ignores SIGHUP.
fn forward_signals(
    mut signals: Signals,
    shutdown: &ShardsShutdown,
    stats: Vec<StatsHandle>,
) -> Option<SignalThread> {
    let handle = signals.handle();
    let shutdown = shutdown.clone();
    let spawned = thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                match SignalRequest::of(signal) {
                    SignalRequest::Counters => {
                        let per_reactor = stats.iter().map(StatsHandle::snapshot).collect();
                        log::info!("counters: {}", ShardStats { per_reactor }.total());
                    }
                    SignalRequest::Ignore => {}
                    SignalRequest::Stop(name) => {
                        log::info!("received {name}");
                        shutdown.shutdown();
                    }
                }
            }
        });
    match spawned {
        Ok(thread) => Some((handle, thread)),
        Err(err) => {
            log::error!("cannot start the signal thread: {err}");
            None
        }
    }
}

/// Runs each reactor on a thread named `reactor K`; collects their counters in order.
fn run_threads(reactors: Vec<Reactor>, shutdown: &ShardsShutdown) -> io::Result<ShardStats> {
    let count = reactors.len();
    let (done, finished) = mpsc::channel();
    let mut threads = Vec::with_capacity(count);
    for (k, reactor) in reactors.into_iter().enumerate() {
        let done = done.clone();
        let stop = shutdown.clone();
        let spawned = thread::Builder::new()
            .name(format!("reactor {k}"))
            .spawn(move || {
                let _stop_siblings_if_this_panics = ShutdownOnPanic(stop);
                let _ = done.send((k, reactor.run()));
            });
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(err) => {
                shutdown.shutdown();
                for thread in threads {
                    let _ = thread.join();
                }
                return Err(err);
            }
        }
    }
    drop(done);
    let mut per_reactor = vec![Stats::default(); count];
    let mut first_error = None;
    for (k, result) in finished {
        match result {
            Ok(stats) => per_reactor[k] = stats,
            Err(err) => {
                log::error!("reactor {k}: event loop failed: {err}");
                shutdown.shutdown();
                first_error.get_or_insert(err);
            }
        }
    }
    for thread in threads {
        if thread.join().is_err() {
            shutdown.shutdown();
            first_error.get_or_insert_with(|| io::Error::other("a reactor thread panicked"));
        }
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(ShardStats { per_reactor }),
    }
}

/// Shuts the siblings down when a reactor thread panics, so that the process
/// does not serve on with one loop missing until a signal comes.
struct ShutdownOnPanic(ShardsShutdown);

impl Drop for ShutdownOnPanic {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.shutdown();
        }
    }
}
