//! chat (tutorial 004, made multi-user): one room per listener.
//!
//! Each line a member sends reaches every *other* member as
//! `<peer address>: <line>`; members joining and leaving are announced as
//! `* <peer> joined` and `* <peer> left`, and a member the server had to drop
//! because it stopped reading as `* <peer> dropped (not reading)`.
//!
//! This is the one protocol whose output is not for the connection that
//! caused it. The handler stays sans-IO all the same: it writes the room's
//! message into the output buffer and [`Session::is_broadcast`](super::Session::is_broadcast)
//! tells the driver that this output goes to everyone else in the room.

/// Appends `<peer>: <message>`.
pub fn message(peer: &str, text: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(peer.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(text);
}

/// Appends `* <peer> joined`.
pub fn joined(peer: &str, out: &mut Vec<u8>) {
    notice(peer, "joined", out);
}

/// Why a member is leaving the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// It closed the connection (or the server shut down, or it idled out).
    Left,
    /// It stopped reading and its output passed the cap.
    NotReading,
}

/// Appends the notice for a member leaving.
pub fn departed(peer: &str, departure: Departure, out: &mut Vec<u8>) {
    let what = match departure {
        Departure::Left => "left",
        Departure::NotReading => "dropped (not reading)",
    };
    notice(peer, what, out);
}

fn notice(peer: &str, what: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"* ");
    out.extend_from_slice(peer.as_bytes());
    out.push(b' ');
    out.extend_from_slice(what.as_bytes());
}
