//! Message passing between sibling reactors: a channel plus the receiver's `Waker`.
//!
//! Reactors never touch each other's connections. When something produced in
//! one loop concerns clients of another (a chat line for a room whose members
//! landed on several reactors), the producing loop *posts* it to the other
//! loop's mailbox: it sends it down a channel and wakes that loop's poll. The
//! receiving loop drains its mailbox on its next turn, on its own thread, and
//! handles each piece of mail as if its own client had produced it.
//!
//! - **Shared, not copied.** Mail carries an `Arc<[u8]>`: a chat message is
//!   stored once, however many reactors and members receive it.
//! - **One wake-up per burst.** A flag says "mail is waiting and the loop was
//!   woken"; posting sets it and calls `wake` (a syscall) only if it was
//!   clear; the receiver clears it before draining. A burst of a thousand
//!   messages costs one wake-up.
//! - **In order.** Each channel is FIFO and each loop drains it in order, so
//!   what one client says reaches every other reactor in the order it was said.
//! - **Bounded.** Mail is drained every loop turn and becomes ordinary output
//!   of the receiving loop's connections, where `--max-pending` and the chat
//!   slow-reader rule bound it; the channel holds at most what siblings
//!   produce between two turns.

use super::Reactor;
use mio::Waker;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

/// Something one reactor hands to another.
#[derive(Debug, Clone)]
pub(super) enum Mail {
    /// Chat: `message` was said in the room of source `listener` (same index
    /// in every sibling); deliver it to every local member.
    Room { listener: usize, message: Arc<[u8]> },
}

/// Where to post mail for one reactor; cheap to clone, usable from any thread.
#[derive(Debug, Clone)]
pub struct MailboxAddress {
    sender: Sender<Mail>,
    waker: Arc<Waker>,
    /// Set while the receiver has been woken and has not drained yet.
    woken: Arc<AtomicBool>,
}

impl MailboxAddress {
    /// Posts `mail` and wakes the receiving loop unless it is already awake for mail.
    fn post(&self, mail: Mail) {
        if self.sender.send(mail).is_err() {
            // The receiver finished (shutdown): nobody is left to tell.
            return;
        }
        if !self.woken.swap(true, Ordering::AcqRel) {
            if let Err(err) = self.waker.wake() {
                log::error!("cannot wake a sibling reactor for its mail: {err}");
            }
        }
    }
}

/// A reactor's own mailbox and its siblings' addresses.
#[derive(Debug)]
pub(super) struct Mailbox {
    inbox: Receiver<Mail>,
    address: MailboxAddress,
    siblings: Vec<MailboxAddress>,
}

impl Mailbox {
    pub(super) fn new(waker: Arc<Waker>) -> Self {
        let (sender, inbox) = mpsc::channel();
        Mailbox {
            inbox,
            address: MailboxAddress {
                sender,
                waker,
                woken: Arc::new(AtomicBool::new(false)),
            },
            siblings: Vec::new(),
        }
    }

    /// Posts a room's message to every sibling (a reference count each, no copy).
    pub(super) fn post_room(&self, listener: usize, message: &Arc<[u8]>) {
        for sibling in &self.siblings {
            sibling.post(Mail::Room {
                listener,
                message: Arc::clone(message),
            });
        }
    }
}

impl Reactor {
    /// Where siblings post mail for this reactor.
    pub fn mailbox_address(&self) -> MailboxAddress {
        self.mailbox.address.clone()
    }

    /// Tells this reactor where its siblings' mailboxes are (not its own). Call before [`run`](Self::run).
    pub fn connect_siblings(&mut self, siblings: Vec<MailboxAddress>) {
        self.mailbox.siblings = siblings;
    }

    /// Handles every piece of mail waiting (after a wake-up).
    pub(super) fn handle_mail(&mut self, _now: Instant) {
        self.mailbox.address.woken.store(false, Ordering::Release);
        while let Ok(mail) = self.mailbox.inbox.try_recv() {
            match mail {
                Mail::Room { listener, message } => self.deliver_from_sibling(listener, &message),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};
    use std::time::Duration;

    #[test]
    fn a_burst_of_mail_costs_one_wake_up_and_keeps_its_order() {
        let mut poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
        let mailbox = Mailbox::new(waker);
        let address = mailbox.address.clone();
        for n in 0..100u8 {
            address.post(Mail::Room {
                listener: 0,
                message: Arc::from(&[n][..]),
            });
        }
        let mut events = Events::with_capacity(8);
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(events.iter().count(), 1);
        assert!(
            address.woken.load(Ordering::Acquire),
            "no second wake while undrained"
        );
        mailbox.address.woken.store(false, Ordering::Release);
        let received: Vec<u8> = mailbox
            .inbox
            .try_iter()
            .map(|Mail::Room { message, .. }| message[0])
            .collect();
        assert_eq!(received, (0..100).collect::<Vec<u8>>());
    }
}
