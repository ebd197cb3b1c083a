//! Telling systemd how the service is doing (`sd_notify`), from the loop.
//!
//! With `Type=notify` systemd waits for `READY=1` before it counts the
//! service as started, and so before units ordered after it start. reactord
//! sends it once every socket is registered and the first turn is about to
//! poll; `STOPPING=1` when a drain begins; `STATUS=` with the connection
//! count every few seconds; and, when the unit sets `WatchdogSec=`,
//! `WATCHDOG=1` at half the period. The watchdog ping comes from the loop
//! itself, so a loop that hangs stops pinging and systemd restarts it; with
//! sibling reactors it is sent only while every one of them turns (see
//! `liveness.rs`), and `STATUS=` counts every reactor's connections.
//!
//! Only a reactor asked to ([`Reactor::notify_service_manager`], as the
//! binary does) speaks, and only when `NOTIFY_SOCKET` is set (run by
//! systemd): a library user's reactors, several in one test process, stay
//! quiet. The protocol is the `sd-notify` crate's; each message is one
//! datagram to a local socket that systemd drains at once.

use super::liveness::Liveness;
use super::Reactor;

use sd_notify::NotifyState;
use std::time::{Duration, Instant};

/// How often `STATUS=` is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// Notification state: whether anyone listens, and when to speak next.
#[derive(Debug)]
pub(super) struct Notifier {
    enabled: bool,
    watchdog_every: Option<Duration>,
    next_watchdog: Option<Instant>,
    next_status: Option<Instant>,
    /// A drain has begun: the siblings finish on their own, and stop turning.
    stopping: bool,
}

impl Reactor {
    /// Sends systemd readiness, status, watchdog and stopping notifications
    /// when `NOTIFY_SOCKET` is set (one reactor per process should).
    pub fn notify_service_manager(&mut self) {
        self.ops.notifier = Notifier::from_env();
    }
}

impl Notifier {
    /// A notifier that says nothing.
    pub(super) fn off() -> Self {
        Notifier {
            enabled: false,
            watchdog_every: None,
            next_watchdog: None,
            next_status: None,
            stopping: false,
        }
    }

    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` from the environment.
    fn from_env() -> Self {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some();
        let watchdog_every = sd_notify::watchdog_enabled().map(|period| period / 2);
        Notifier {
            enabled,
            watchdog_every: watchdog_every.filter(|_| enabled),
            next_watchdog: None,
            next_status: None,
            stopping: false,
        }
    }

    /// `READY=1` with a first status; starts the watchdog and status timers.
    pub(super) fn ready(&mut self, sockets: usize, now: Instant) {
        if !self.enabled {
            return;
        }
        let status = format!("STATUS=serving {sockets} sockets, 0 connections");
        self.send(&[NotifyState::Ready, NotifyState::Custom(&status)]);
        self.next_watchdog = self.watchdog_every.map(|every| now + every);
        self.next_status = Some(now + STATUS_EVERY);
    }

    /// `STOPPING=1`: a drain has begun.
    pub(super) fn stopping(&mut self, connections: u64) {
        if !self.enabled {
            return;
        }
        let status = format!("STATUS=draining {connections} connections");
        self.send(&[NotifyState::Stopping, NotifyState::Custom(&status)]);
        self.next_status = None;
        self.stopping = true;
    }

    /// Half of `WATCHDOG_USEC`: how often `WATCHDOG=1` is due, if at all.
    pub(super) fn ping_interval(&self) -> Option<Duration> {
        self.watchdog_every
    }

    /// Sends whatever is due: a watchdog ping (only while every sibling
    /// turns), a status line (the stuck reactor, or the connection count).
    pub(super) fn tick(&mut self, now: Instant, liveness: &mut Liveness) {
        if let (Some(at), Some(every)) = (self.next_watchdog, self.watchdog_every) {
            if at <= now {
                let was_stuck = liveness.stuck();
                let stuck = match self.stopping {
                    true => None,
                    false => liveness.check(now, every),
                };
                match stuck {
                    None => self.send(&[NotifyState::Watchdog]),
                    Some(stuck) if was_stuck.map(|s| s.reactor) != Some(stuck.reactor) => {
                        self.send(&[NotifyState::Custom(&stuck.status(now))]);
                    }
                    Some(_) => {}
                }
                self.next_watchdog = Some(now + every);
            }
        }
        if self.next_status.is_some_and(|at| at <= now) {
            let status = match liveness.stuck() {
                Some(stuck) => stuck.status(now),
                None => format!("STATUS={} connections", liveness.open_connections()),
            };
            self.send(&[NotifyState::Custom(&status)]);
            self.next_status = Some(now + STATUS_EVERY);
        }
    }

    /// The next time [`tick`](Self::tick) has something to send.
    pub(super) fn deadline(&self) -> Option<Instant> {
        [self.next_watchdog, self.next_status]
            .into_iter()
            .flatten()
            .min()
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if let Err(err) = sd_notify::notify(states) {
            log::warn!("sd_notify: {err}");
        }
    }
}
