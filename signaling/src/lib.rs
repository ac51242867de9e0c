//! SIP for Switchboard.
//!
//! Layers, bottom up, each usable on its own:
//! - [`message`]: framing of bytes into SIP messages (datagrams and TCP streams),
//!   compact header forms, size limits and the validation RFC 3261 section 8.2 asks
//!   for before a request reaches a transaction. Messages themselves are `rsip` types.
//! - [`headers`]: typed access to the headers the core needs (Via, CSeq, tags) and
//!   the RFC 3581 `received`/`rport` rules.
//! - [`transaction`]: the RFC 3261 section 17 transaction layer as a sans-IO state
//!   machine: input with an explicit `now`, output drained with `poll_*`.
//! - [`dialog`]: dialog state per section 12.
//! - [`auth`] and [`registrar`]: digest authentication (RFC 7616/8760) and the
//!   location service of section 10, both pure and clock-free.
//! - [`net`]: the tokio UDP and TCP transports, the only part here that does I/O.
//! - [`ws`]: SIP over WebSocket (RFC 7118), a connection the HTTP server
//!   accepted as a flow of the same network.

pub mod auth;
pub mod dialog;
pub mod headers;
pub mod message;
pub mod net;
pub mod registrar;
pub mod response;
pub mod transaction;
pub mod transport;
pub mod ws;

pub use rsip;
