//! discard (RFC 863): everything is read and thrown away; nothing is ever sent.
//!
//! Useful as a sink for load tests: it measures how fast a server can read.
