//! The ACD: one pure state machine owning every queue and agent.
//!
//! Being written: the types are final, the behaviour is not there yet.

use std::collections::VecDeque;
use std::time::Duration;

use crate::Millis;

mod config;
mod events;
mod skills;
mod snapshot;

pub use config::{
    AcdConfig, AgentConfig, CallbackConfig, CallbackMode, ConfigError, NoAnswerAction, OverflowRule, OverflowTarget,
    OverflowWhen, QueueConfig, Strategy,
};
pub use events::{Action, AgentId, CallId, Callback, CallbackId, Event, OverflowReason, RejectReason};
pub use snapshot::{AgentCounts, AgentSnapshot, QueueSnapshot, Snapshot};

/// How many times one call may be moved between queues by `queue:` overflow
/// targets before it is rejected ([`RejectReason::OverflowLoop`]).
pub const MAX_QUEUE_HOPS: u8 = 8;

/// The ACD.
#[derive(Debug)]
pub struct Acd {
    actions: VecDeque<Action>,
}

impl Acd {
    /// An ACD with this configuration, started at `now`.
    pub fn new(_config: AcdConfig, _now: Millis) -> Acd {
        Acd {
            actions: VecDeque::new(),
        }
    }

    /// Feeds one event.
    pub fn handle(&mut self, _event: Event, _now: Millis) {}

    /// The next thing the shell must do, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next internal deadline; call [`Acd::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Millis> {
        None
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, _now: Millis) {}

    /// Queues and agents now.
    pub fn snapshot(&self, now: Millis) -> Snapshot {
        Snapshot {
            at: now,
            queues: Vec::new(),
            agents: Vec::new(),
        }
    }

    /// What a caller joining `queue` now would wait.
    pub fn estimated_wait(&self, _queue: &str, _now: Millis) -> Option<Duration> {
        None
    }
}
