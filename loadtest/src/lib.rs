//! switchboard-loadtest: capacity tests for SIP contact-centre platforms.
//!
//! Callers dial in at a planned rate with real G.711 audio from a WAV file,
//! navigate the IVR with RFC 4733 keys, wait for an agent, talk and hang up
//! (or abandon); simulated agents register with digest authentication,
//! answer after a drawn ring time, talk and respect wrap-up. Only standard
//! SIP and RTP are used, so any platform can be tested. What is measured and
//! exactly how is in docs/loadtest.md.
//!
//! - [`scenario`]: the TOML test plan;
//! - [`run()`]: runs a plan (or a capacity search) and returns [`Results`];
//! - [`thresholds`]: pass/fail limits and the exit code;
//! - [`report`]: the HTML report.

mod agent;
mod caller;
pub mod cli;
pub mod measure;
mod queue_start;
pub mod report;
mod rtp;
pub mod run;
pub mod scenario;
mod sipmsg;
pub mod thresholds;
mod ua;
mod webrtc_agent;

use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

pub use measure::{CallRecord, Outcome, Percentiles};
pub use rtp::Audio;
pub use run::{run, Results, RunError, RunOptions, Search};
pub use scenario::Scenario;

/// What every call and agent of a run shares.
pub(crate) struct Shared {
    pub(crate) ua: ua::Ua,
    pub(crate) scenario: Scenario,
    pub(crate) caller_audio: Arc<Audio>,
    pub(crate) agent_audio: Option<Arc<Audio>>,
    /// What marks the queue's start in a caller's received audio.
    pub(crate) queue_signature: Option<queue_start::QueueSignature>,
    /// Browser agents' tone, by which callers hear their answer.
    pub(crate) agent_tone: Option<queue_start::QueueSignature>,
    pub(crate) media_ip: IpAddr,
    /// The stamps' clock origin.
    pub(crate) epoch: Instant,
    /// The collector of the current measurement (one per search step).
    pub(crate) collector: RwLock<Arc<measure::Collector>>,
    /// The last caller number's index (unique across a search's steps).
    pub(crate) next_caller: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub(crate) fn collector(&self) -> Arc<measure::Collector> {
        self.collector.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}
