//! What an event leads to: the token says which kind of source it is for,
//! and each kind has its handler. A connection's handler gives it a turn and
//! acts on the outcome (keep, serve again later, close); closing releases
//! everything the connection held in the loop (its per-source count, its
//! chat seat, its timer) in one place, whatever the reason.

use super::connection::{Connection, Outcome, Peer};
use super::context::{Context, Moment};
use super::source::Source;
use super::token::{self, Target};
use super::{room, udp, Reactor};
use crate::protocol::chat::Departure;
use mio::Token;
use slab::Slab;
use std::time::{Instant, SystemTime};

impl Reactor {
    pub(super) fn dispatch(&mut self, token: Token, now: Instant, wall: SystemTime) {
        match token::target(token) {
            Target::Waker => {
                // One waker for both: mail from siblings, then a shutdown request.
                self.handle_mail(now);
                self.handle_wake(now)
            }
            Target::Signals => self.handle_signals(now),
            Target::Source(index) => self.handle_source(index, now, wall),
            Target::Metrics(key) => self.handle_metrics(key, now),
            Target::Handshake(key) => self.handle_handshake(key, now, wall),
            Target::Connection { key, generation } => {
                self.handle_connection(key, generation, now, wall)
            }
        }
    }

    fn handle_source(&mut self, index: usize, now: Instant, wall: SystemTime) {
        let outcome = match self.sources.get(index) {
            Some(Some(source)) if source.is_listener() => {
                return self.accept_ready(index, now, wall);
            }
            Some(Some(Source::Udp { socket, binding })) => {
                let protocol = binding.protocol;
                udp::serve_udp(
                    socket,
                    protocol,
                    &mut self.scratch,
                    &mut self.guard,
                    &mut self.stats,
                    now,
                    wall,
                )
            }
            Some(Some(Source::UnixDatagram {
                socket, binding, ..
            })) => {
                let protocol = binding.protocol;
                udp::serve_unixgram(socket, protocol, &mut self.scratch, &mut self.stats, wall)
            }
            // Closed at shutdown; the event is stale.
            _ => return,
        };
        if outcome == Outcome::Yield {
            self.post(token::source(index));
        }
    }

    /// What a connection may use during its turn, borrowed field by field.
    pub(super) fn context(
        &mut self,
        token: Token,
        now: Instant,
        wall: SystemTime,
    ) -> (Context<'_>, &mut Slab<Connection>) {
        let cx = Context {
            room_allowance: 0,
            registry: self.poll.registry(),
            scratch: &mut self.scratch,
            limits: &self.limits,
            stats: &mut self.stats,
            files: self.files.as_ref(),
            moment: Moment { now, wall },
            token,
        };
        (cx, &mut self.connections)
    }

    pub(super) fn handle_connection(
        &mut self,
        key: usize,
        generation: u32,
        now: Instant,
        wall: SystemTime,
    ) {
        let idle_timeout = self.limits.idle_timeout;
        let room_allowance = match self.connections.get(key) {
            Some(conn) if conn.seat != room::NO_SEAT => self.room_allowance(conn.listener),
            _ => 0,
        };
        let (mut cx, connections) = self.context(token::connection(key, generation), now, wall);
        cx.room_allowance = room_allowance;
        let Some(conn) = connections
            .get_mut(key)
            .filter(|c| c.generation == generation)
        else {
            log::trace!("stale event for slot {key} generation {generation}: dropped");
            return;
        };
        let token = token::connection(key, generation);
        let was_lingering = conn.is_lingering();
        let outcome = conn.drive(token, &mut cx);
        let listener = conn.listener;
        let linger_deadline = (!was_lingering && conn.is_lingering())
            .then(|| conn.deadline(idle_timeout))
            .flatten();
        if let Some(deadline) = linger_deadline {
            self.timers.schedule(deadline, key, generation);
        }
        // What it said goes to its room before any departure notice of its own.
        self.collect_room(listener, Some(key));
        match outcome {
            Outcome::Keep => self.judge_member(key, now),
            Outcome::Yield => {
                self.post(token);
                self.judge_member(key, now);
            }
            Outcome::Close(reason) => self.close(key, reason, Departure::Left),
        }
    }

    /// Closes the connection in slot `key`, tells its room, and resumes
    /// accepting if it had stopped at the cap.
    pub(super) fn close(&mut self, key: usize, reason: &str, departure: Departure) {
        let mut conn = self.connections.remove(key);
        conn.deregister(self.poll.registry());
        if let Peer::Inet(addr) = conn.peer {
            self.guard.release(addr);
        }
        self.guard.unreserve();
        log::debug!(
            "{} closed ({reason}), peer {}",
            token::Label(token::connection(key, conn.generation)),
            conn.peer
        );
        self.leave_room(conn.listener, conn.seat);
        self.ops.count_close(conn.listener);
        let connections = &self.connections;
        self.timers.compact(connections.len(), |key, generation| {
            connections
                .get(key)
                .is_some_and(|c| c.generation == generation)
        });
        conn.depart(departure, &mut self.scratch);
        self.collect_room(conn.listener, None);
        self.resume_accepting_if_paused();
    }

    pub(super) fn fire_timers(&mut self, now: Instant) {
        while let Some(entry) = self.timers.pop_due(now) {
            let key = entry.key as usize;
            let Some(conn) = self
                .connections
                .get(key)
                .filter(|c| c.generation == entry.generation)
            else {
                continue;
            };
            match conn.deadline(self.limits.idle_timeout) {
                Some(deadline) if deadline <= now => {
                    log::trace!(
                        "{} timer fired: deadline passed",
                        token::Label(token::connection(key, entry.generation))
                    );
                    let reason = if conn.is_lingering() {
                        "linger timeout"
                    } else {
                        self.stats.idle_closed += 1;
                        "idle timeout"
                    };
                    self.close(key, reason, Departure::Left);
                }
                Some(deadline) => {
                    log::trace!(
                        "{} timer fired early: active since, re-armed",
                        token::Label(token::connection(key, entry.generation))
                    );
                    self.timers.schedule(deadline, key, entry.generation)
                }
                None => {}
            }
        }
        self.accept
            .fire_retry(now, &self.sources, &mut self.yielded);
    }
}
