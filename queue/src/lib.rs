//! The contact-centre heart of Switchboard, with no I/O and no clock.
//!
//! - [`acd`]: the ACD, one state machine owning every queue and agent: events
//!   in with the time, actions out (offer this call to that agent, announce,
//!   overflow, dial a call-back).
//! - [`record`]: the call record, a timeline of marks per call, which is all
//!   the KPIs are derived from.
//! - [`kpi`]: service level, ASA, abandonment, AHT, occupancy, repeat callers,
//!   CSAT/NPS over a window of records.
//! - [`erlang`]: Erlang C and Erlang A, for capacity planning and for checking
//!   the ACD against theory.
//!
//! Time is [`Millis`]: milliseconds since the Unix epoch, read by the shell from
//! a monotonic clock anchored to wall time once at start, so that it never goes
//! backwards and still means something in a stored record.

pub mod acd;
pub mod erlang;
pub mod kpi;
pub mod record;
mod time;

pub use time::Millis;
