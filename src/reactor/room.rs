//! Chat rooms: the one place where one connection's input becomes another's output.
//!
//! # Fan-out without copies
//!
//! A chat session writes what it says into the loop's `room` buffer. After
//! its turn the reactor moves those bytes into its room's *batch* and notes
//! who said them. Once per loop turn (after the event batch, and again after
//! the connections served a second time) the batch becomes one message, an
//! `Arc<[u8]>` stored once, and every member gets a shared slice of it in its
//! outbox (leaving out the lines it said itself) and is *posted*: put once on
//! the loop's list of connections to serve this turn, however many messages
//! it got. A paste into a room of a thousand members costs the paste once
//! plus a few words per member; a join, leave or drop costs O(members).
//!
//! # Who is "not reading"
//!
//! A member is judged only after a write to it was tried. What counts is
//! what the kernel refused: the output held for it here (bytes and chunk
//! bookkeeping), and its *backlog*, that plus what the kernel still holds for
//! it (`SIOCOUTQ`, asked only once a write was refused, so a member whose
//! writes all succeed costs no extra system call). One turn's burst, however
//! large, is never a reason: nothing is judged before the kernel had its
//! chance. The rule, after redis's `client-output-buffer-limit pubsub` (a hard
//! limit, and a soft limit for N seconds):
//!
//! - **hard:** more than `HARD_FACTOR` x `--max-pending` (8 MiB by default)
//!   held here drops the member at once. Kernel bytes are not counted here:
//!   the kernel grows a socket's send buffer to several MiB for a reader
//!   that is merely slow, and that is no reason to drop it;
//! - **soft:** while the backlog stays over `--max-pending` (256 KiB), the
//!   member must take at least `--max-pending` bytes every `SOFT_WINDOW`
//!   (3 s), a floor of about 85 KiB/s; one that does not is dropped. A reader
//!   that keeps reading, however far behind, is never dropped by this rule.
//!
//! # Backpressure
//!
//! While any member has more than `GATE_FACTOR` x `--max-pending` (1 MiB)
//! unsent, the room's senders are not read: their input waits in their own
//! kernel buffers (TCP flow control slows them down) and they are posted
//! again when the member catches up or is dropped. So a 10 MB paste to 100
//! members moves at the pace of the slowest *reader*, the room holds at most
//! about 1 MiB of messages plus one batch, and nobody is dropped for being
//! slower than the paster. A member that stops reading holds the room for at
//! most two `SOFT_WINDOW`s: the one in which its kernel buffers were still
//! taking bytes, and one in which it took nothing.
//!
//! # Rooms across reactors
//!
//! A message is an `Arc<[u8]>` and members are addressed by (slot,
//! generation) of *this* loop only. With `--reactors N` each finished batch
//! is also posted, the same `Arc`, to every sibling loop's mailbox; each loop
//! delivers it to its own members and judges them itself (`room_mail.rs`).
//! Nothing here assumes that every member of a room lives in this reactor's
//! slab: members this loop does not own simply are not in its seats.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;
use std::time::{Duration, Instant};

/// `Connection::seat` of a connection that is in no room.
pub const NO_SEAT: u32 = u32::MAX;
/// A backlog over this many times `--max-pending` drops a member at once.
pub const HARD_FACTOR: usize = 32;
/// Senders wait while a member has over this many times `--max-pending` unsent.
pub const GATE_FACTOR: usize = 4;
/// A member over `--max-pending` must take that much per window, or go.
pub const SOFT_WINDOW: Duration = Duration::from_secs(3);

/// What the rule says about one member after a write attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Within the soft limit.
    Reading,
    /// Over the soft limit: look again at `check_at` even if nothing happens
    /// (`fresh`: a new window began, so that look is not scheduled yet).
    Behind { check_at: Instant, fresh: bool },
    /// Drop it.
    NotReading,
}

/// A member over the soft limit: since when, and its progress then.
#[derive(Debug, Clone, Copy)]
pub(super) struct Behind {
    pub(super) since: Instant,
    pub(super) written_then: u64,
}

/// The hard and soft limits, from `--max-pending`. Sans-IO: time is passed in.
#[derive(Debug, Clone, Copy)]
pub(super) struct SlowReaderRule {
    pub(super) soft: usize,
    pub(super) hard: usize,
    pub(super) gate: usize,
    pub(super) window: Duration,
}

impl SlowReaderRule {
    /// The rule for a server whose `--max-pending` is `max_pending`.
    pub(super) fn new(max_pending: usize) -> Self {
        SlowReaderRule {
            soft: max_pending,
            hard: max_pending.saturating_mul(HARD_FACTOR),
            gate: max_pending.saturating_mul(GATE_FACTOR),
            window: SOFT_WINDOW,
        }
    }

    /// Judges a member after a write attempt: `held` bytes kept here,
    /// `backlog` counting the kernel's too, `written` bytes taken by the
    /// kernel over its life.
    pub(super) fn judge(
        &self,
        behind: &mut Option<Behind>,
        held: usize,
        backlog: usize,
        written: u64,
        now: Instant,
    ) -> Verdict {
        if held > self.hard {
            return Verdict::NotReading;
        }
        if backlog <= self.soft {
            *behind = None;
            return Verdict::Reading;
        }
        let fresh = Behind {
            since: now,
            written_then: written,
        };
        let (window, is_fresh) = match *behind {
            None => (fresh, true),
            Some(window) if now < window.since + self.window => (window, false),
            // Too little taken over a whole window: it is not reading.
            Some(window) if written - window.written_then < self.soft as u64 => {
                return Verdict::NotReading;
            }
            // It kept reading: a fresh window.
            Some(_) => (fresh, true),
        };
        *behind = Some(window);
        Verdict::Behind {
            check_at: window.since + self.window,
            fresh: is_fresh,
        }
    }
}

/// One member of a room.
#[derive(Debug)]
pub(super) struct Seat {
    pub(super) key: usize,
    pub(super) generation: u32,
    /// Batch bytes said before it joined, which it does not get.
    pub(super) joined_at: usize,
    pub(super) behind: Option<Behind>,
    pub(super) over_gate: bool,
    /// On the room's `waiting` list already.
    pub(super) waiting: bool,
}

impl Seat {
    /// Records whether this member is over the gate, keeping `room_over` (the
    /// room's count of such members) in step; true when that made the count 0.
    pub(super) fn set_over_gate(&mut self, over: bool, room_over: &mut usize) -> bool {
        if over == self.over_gate {
            return false;
        }
        self.over_gate = over;
        if over {
            *room_over += 1;
            false
        } else {
            *room_over -= 1;
            *room_over == 0
        }
    }
}

/// Bytes of the current batch said by one member (left out of its own copy).
#[derive(Debug)]
pub(super) struct Origin {
    pub(super) key: usize,
    pub(super) range: Range<usize>,
}

/// One listener's room.
#[derive(Debug, Default)]
pub(super) struct Room {
    pub(super) seats: Vec<Seat>,
    /// What members said this turn, not yet delivered.
    pub(super) batch: Vec<u8>,
    pub(super) origins: Vec<Origin>,
    /// Members with more than the gate unsent: while any, senders wait.
    pub(super) over_gate: usize,
    /// Senders that stopped for the gate, to post when it opens.
    pub(super) waiting: Vec<(usize, u32)>,
}

/// The rooms of every listener (empty for listeners that are not chat).
#[derive(Debug)]
pub(super) struct Rooms {
    pub(super) rooms: Vec<Room>,
    pub(super) rule: SlowReaderRule,
    /// Members over the soft limit, to look at when their window ends.
    pub(super) checks: BinaryHeap<Reverse<(Instant, usize, u32)>>,
}

impl Rooms {
    /// Empty rooms for `sources` listeners.
    pub(super) fn new(sources: usize, max_pending: usize) -> Self {
        Rooms {
            rooms: (0..sources).map(|_| Room::default()).collect(),
            rule: SlowReaderRule::new(max_pending),
            checks: BinaryHeap::new(),
        }
    }

    /// Seats the connection in slot `key` in `listener`'s room; returns its seat.
    pub(super) fn join(&mut self, listener: usize, key: usize, generation: u32) -> u32 {
        let room = &mut self.rooms[listener];
        room.seats.push(Seat {
            key,
            generation,
            joined_at: room.batch.len(),
            behind: None,
            over_gate: false,
            waiting: false,
        });
        (room.seats.len() - 1) as u32
    }

    /// When the next slow member must be looked at.
    pub(super) fn next_check(&self) -> Option<Instant> {
        self.checks.peek().map(|Reverse((at, _, _))| *at)
    }

    /// True while some room has a batch to deliver.
    pub(super) fn has_batch(&self) -> bool {
        self.rooms.iter().any(|room| !room.batch.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: usize = 1024;

    fn rule() -> SlowReaderRule {
        SlowReaderRule::new(256 * KIB)
    }

    #[test]
    fn a_member_within_the_soft_limit_is_reading() {
        let mut behind = None;
        let now = Instant::now();
        assert_eq!(
            rule().judge(&mut behind, 256 * KIB, 256 * KIB, 0, now),
            Verdict::Reading
        );
        assert!(behind.is_none());
    }

    #[test]
    fn over_the_hard_limit_drops_at_once() {
        let mut behind = None;
        let now = Instant::now();
        let hard = 256 * KIB * HARD_FACTOR;
        assert_eq!(
            rule().judge(&mut behind, hard + 1, hard + 1, 0, now),
            Verdict::NotReading
        );
    }

    #[test]
    fn bytes_the_kernel_holds_count_for_the_soft_limit_not_the_hard_one() {
        let rule = rule();
        let mut behind = None;
        let now = Instant::now();
        let kernel = 256 * KIB * HARD_FACTOR * 2;
        assert!(matches!(
            rule.judge(&mut behind, 0, kernel, 0, now),
            Verdict::Behind { fresh: true, .. }
        ));
    }

    #[test]
    fn a_member_behind_that_keeps_reading_is_never_dropped() {
        let rule = rule();
        let mut behind = None;
        let start = Instant::now();
        let mut written = 0;
        for second in 0..60 {
            let now = start + Duration::from_secs(second);
            let verdict = rule.judge(&mut behind, 1024 * KIB, 1024 * KIB, written, now);
            assert!(
                matches!(verdict, Verdict::Behind { .. }),
                "{second}s: {verdict:?}"
            );
            // About 100 KiB/s: above the floor of soft / window.
            written += 100 * KIB as u64;
        }
    }

    #[test]
    fn a_member_behind_that_takes_too_little_in_a_window_is_dropped() {
        let rule = rule();
        let mut behind = None;
        let start = Instant::now();
        let first = rule.judge(&mut behind, 300 * KIB, 300 * KIB, 0, start);
        assert_eq!(
            first,
            Verdict::Behind {
                check_at: start + SOFT_WINDOW,
                fresh: true
            }
        );
        let during = start + SOFT_WINDOW / 2;
        assert_eq!(
            rule.judge(&mut behind, 300 * KIB, 300 * KIB, 10, during),
            Verdict::Behind {
                check_at: start + SOFT_WINDOW,
                fresh: false
            }
        );
        let after = start + SOFT_WINDOW;
        assert_eq!(
            rule.judge(&mut behind, 300 * KIB, 300 * KIB, 10 * KIB as u64, after),
            Verdict::NotReading
        );
    }

    #[test]
    fn catching_up_below_the_soft_limit_starts_over() {
        let rule = rule();
        let mut behind = None;
        let start = Instant::now();
        rule.judge(&mut behind, 300 * KIB, 300 * KIB, 0, start);
        assert_eq!(
            rule.judge(&mut behind, 0, 0, 0, start + SOFT_WINDOW),
            Verdict::Reading
        );
        let later = start + SOFT_WINDOW * 2;
        assert!(matches!(
            rule.judge(&mut behind, 300 * KIB, 300 * KIB, 0, later),
            Verdict::Behind { fresh: true, .. }
        ));
    }
}
