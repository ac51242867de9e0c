//! What the API and the wallboard show: queues and agents at a moment.

use std::time::Duration;

use serde::{Serialize, Serializer};

use super::events::{CallId, CallbackId};
use crate::record::AgentStateKind;
use crate::Millis;

/// The ACD at one moment, from [`super::Acd::snapshot`]. Durations are written
/// as whole milliseconds (`*_ms`) when serialised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// When it was taken.
    pub at: Millis,
    /// Every queue, in configuration order.
    pub queues: Vec<QueueSnapshot>,
    /// Every agent, in configuration order.
    pub agents: Vec<AgentSnapshot>,
}

/// One queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueSnapshot {
    /// Queue name.
    pub name: String,
    /// Calls in line, ringing ones included.
    pub waiting: usize,
    /// Of those, calls being offered to an agent now.
    pub ringing: usize,
    /// Call-backs in line (due), being dialled included.
    pub callbacks: usize,
    /// Call-backs waiting for their time (scheduled, or between attempts).
    pub callbacks_later: usize,
    /// The wait so far of the call that has been in line longest.
    #[serde(rename = "longest_wait_ms", serialize_with = "opt_ms")]
    pub longest_wait: Option<Duration>,
    /// What a caller joining now would be told (see [`super::Acd::estimated_wait`]).
    #[serde(rename = "estimated_wait_ms", serialize_with = "opt_ms")]
    pub estimated_wait: Option<Duration>,
    /// The handle time the estimate uses (talk plus wrap-up, weighted mean).
    #[serde(rename = "handle_time_ms", serialize_with = "ms")]
    pub handle_time: Duration,
    /// Members logged in, not paused, with a reachable phone.
    pub staffed: usize,
    /// Members by state.
    pub agents: AgentCounts,
}

/// Agents counted by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AgentCounts {
    /// Logged out.
    pub logged_out: usize,
    /// Available (reachable or not).
    pub available: usize,
    /// Ringing, or reserved for a call-back.
    pub ringing: usize,
    /// Talking.
    pub on_call: usize,
    /// In after-call work.
    pub wrap_up: usize,
    /// Paused.
    pub paused: usize,
}

impl AgentCounts {
    pub(super) fn add(&mut self, state: AgentStateKind) {
        let n = match state {
            AgentStateKind::LoggedOut => &mut self.logged_out,
            AgentStateKind::Available => &mut self.available,
            AgentStateKind::Ringing => &mut self.ringing,
            AgentStateKind::OnCall => &mut self.on_call,
            AgentStateKind::WrapUp => &mut self.wrap_up,
            AgentStateKind::Paused => &mut self.paused,
        };
        *n += 1;
    }
}

/// One agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentSnapshot {
    /// Agent id.
    pub id: String,
    /// State.
    pub state: AgentStateKind,
    /// When the agent entered the state.
    pub since: Millis,
    /// Pause reason, when paused.
    pub reason: Option<String>,
    /// The call ringing or talking, if any (none for a call-back before it connects).
    pub call: Option<CallId>,
    /// The call-back the agent is reserved for or talking on, if any.
    pub callback: Option<CallbackId>,
    /// The queue of that call or call-back.
    pub queue: Option<String>,
    /// Calls answered today (UTC day).
    pub calls_taken: u32,
    /// Whether the agent's phone can be rung.
    pub reachable: bool,
    /// A logout waits for the current call to end.
    pub logout_pending: bool,
    /// A pause (with this reason) waits for the current call and wrap-up to end.
    pub pause_pending: Option<String>,
    /// In wrap-up: when it ends by itself (the queue's `wrap_up_secs` after
    /// the talk ended), for a countdown.
    pub wrap_up_ends: Option<Millis>,
}

fn ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn opt_ms<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ms(d, s),
        None => s.serialize_none(),
    }
}
