//! # reactord
//!
//! One thread, one `mio::Poll` and non-blocking sockets serving many clients.
//!
//! # Layout
//!
//! - [`protocol`]: sans-IO handlers. Bytes and the time in; bytes and a decision out.
//! - [`reactor`]: the event loop; the only server code that touches mio.
//! - [`shards`]: `--reactors N`, the same loop once per core, started and wired above the reactor.
//! - [`config`]: what to serve and with which limits, shared by every driver.
//! - [`net`]: binding listeners and UDP sockets, the same way for every server design.
//! - [`files`]: opening the files protocol's files safely inside `--files-root`.
//! - [`stats`]: the counters both servers keep and print as their shutdown summary.
//! - [`cli`]: the command line, parsed with clap.
//! - [`loadgen`]: `reactord bench`, a verifying non-blocking load generator.
//! - [`threaded`]: the thread-per-connection baseline, same handlers, blocking sockets.
//! - [`compare`]: `reactord compare`, both designs (and tokio) side by side under the same loads.
//!
//! # How a message flows
//!
//! ```text
//! socket --read--> scratch buffer --on_bytes--> Session --replies--> out buffer
//!    ^                (one per loop)            (framer +            |
//!    |                                           handler)            |
//!    +---------write now; keep only what the socket would not take---+
//! ```
//!
//! The reactor reads every ready socket into one scratch buffer, hands the
//! bytes to the connection's [`protocol::Session`], writes the replies at once
//! and keeps per connection only the input not yet used and the output not yet
//! sent. An idle connection therefore costs a slab entry and a kernel socket.
#![deny(missing_docs, rust_2018_idioms)]
#![warn(missing_debug_implementations)]

pub mod cli;
pub mod compare;
pub mod config;
pub mod files;
pub mod loadgen;
pub mod net;
pub mod protocol;
pub mod reactor;
pub mod shards;
pub mod stats;
pub mod threaded;
