//! What goes into the ACD ([`Event`]) and what comes out ([`Action`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::OverflowTarget;
use crate::record::AgentStateKind;
use crate::Millis;

/// The switch's id of a call.
pub type CallId = u64;
/// An agent's id: its extension, e.g. `"1001"`.
pub type AgentId = String;
/// A call-back's id, unique across restarts (see [`Callback::id`]).
pub type CallbackId = u64;

/// Something that happened, fed to [`super::Acd::handle`].
///
/// Any event may come late, twice, out of order or about a call or agent the
/// ACD does not know: such events are ignored, or answered with the action
/// that undoes them (an `Answered` for an offer already withdrawn gets a
/// `CancelOffer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The agent logs in (from logged out; cancels a pending logout).
    Login {
        /// The agent.
        agent: AgentId,
    },
    /// The agent logs out: at once unless on a call or dialling a call-back
    /// (then when that ends, without wrap-up); a ringing offer counts as failed.
    Logout {
        /// The agent.
        agent: AgentId,
    },
    /// The agent pauses; on a call, ringing or in wrap-up it takes effect when
    /// the agent would next be available.
    Pause {
        /// The agent.
        agent: AgentId,
        /// Reason code, e.g. `lunch`.
        reason: String,
    },
    /// The agent resumes from pause (and a pending pause is dropped).
    Resume {
        /// The agent.
        agent: AgentId,
    },
    /// The agent's phone registered (`true`) or unregistered. Unreachable agents
    /// get no offers; one that goes while ringing counts as a refused offer.
    Reachable {
        /// The agent.
        agent: AgentId,
        /// Whether the phone can be rung.
        reachable: bool,
    },
    /// A call joins a queue. Ignored if the ACD already holds the call (queued,
    /// ringing or talking); for a transfer into a queue end the talk first.
    Enqueue {
        /// The call.
        call: CallId,
        /// Queue name.
        queue: String,
        /// Higher is served first; FIFO within a priority.
        priority: i32,
        /// Requirements for the `skills` strategy: `"language:es"` (has the skill)
        /// or `"language:es>=7"`. Ignored by other strategies.
        skills: Vec<String>,
        /// The caller's number, used if the caller takes a call-back.
        caller: String,
    },
    /// The agent's phone answered the offer.
    Answered {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
    },
    /// The offer failed: refused, busy or an error. The call goes to the next
    /// agent; a busy agent is not paused, others get the no-answer treatment.
    OfferFailed {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
        /// The agent's phone said busy.
        busy: bool,
    },
    /// The caller hung up, or the call died, in any state: queued, it is an
    /// abandon; ringing, the offers are cancelled; talking, the agent wraps up.
    CallerLeft {
        /// The call.
        call: CallId,
    },
    /// The agent hung up a talking call: the agent wraps up.
    AgentLeft {
        /// The call.
        call: CallId,
    },
    /// The agent is ready before the end of wrap-up.
    EndWrapUp {
        /// The agent.
        agent: AgentId,
    },
    /// The caller accepted a call-back: the call leaves the line and a
    /// call-back keeps its place.
    AcceptCallback {
        /// The call.
        call: CallId,
    },
    /// A call-back requested for a time (API, web, hooks): it joins the queue's
    /// line at `at` (or now, if later), as if the caller had called then.
    ScheduleCallback {
        /// The number to dial.
        number: String,
        /// Queue name.
        queue: String,
        /// Not served before this.
        at: Millis,
        /// What the requester knows of the customer (order number, chat
        /// transcript link...): shown to the agent who calls back.
        attributes: BTreeMap<String, String>,
    },
    /// A call-back is no longer wanted: it leaves its queue (not while it is
    /// being dialled) with `CallbackRemoved { placed: false }`.
    CancelCallback {
        /// The call-back.
        callback: CallbackId,
    },
    /// The outcome of a [`Action::DialCallback`]. Not answered: the agent is
    /// freed and the call-back retried, up to its queue's `max_attempts`.
    /// Answered: the agent is on the call-back until [`Event::CallbackConnected`]
    /// names the call (or a later not-answered result ends it).
    CallbackResult {
        /// The call-back.
        callback: CallbackId,
        /// Whether the customer was reached.
        answered: bool,
    },
    /// The call-back's call is up, with the switch's id for it: the agent is on
    /// that call and the ordinary call events (`CallerLeft`, `AgentLeft`) apply.
    CallbackConnected {
        /// The call-back.
        callback: CallbackId,
        /// The switch's new call.
        call: CallId,
    },
    /// A call-back read back from storage after a restart; it takes its place
    /// in line by `requested_at`.
    RestoreCallback(Callback),
}

/// Something the shell must do, from [`super::Acd::poll_action`], in order.
///
/// New variants may be added; match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Ring this agent for this call. The ACD times the ring itself.
    Offer {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
        /// The queue the call waits in.
        queue: String,
    },
    /// Stop ringing this agent for this call (another agent answered, no answer,
    /// the caller left), or drop an answer that came too late.
    CancelOffer {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
    },
    /// Tell the caller their place in line.
    Announce {
        /// The call.
        call: CallId,
        /// 1-based.
        position: usize,
        /// `None` when no member is staffed.
        estimated_wait: Option<Duration>,
    },
    /// Play the virtual-hold offer to this caller (once per call).
    OfferCallback {
        /// The call.
        call: CallId,
        /// The estimate that triggered the offer.
        estimated_wait: Duration,
    },
    /// The call has left the queue by an overflow rule. A `queue:` target is
    /// already done (the call is in that queue now); others are the shell's.
    Overflow {
        /// The call.
        call: CallId,
        /// The queue it left.
        queue: String,
        /// Where it goes.
        target: OverflowTarget,
        /// Which rule.
        reason: OverflowReason,
    },
    /// The call was not queued.
    Rejected {
        /// The call.
        call: CallId,
        /// The queue asked for.
        queue: String,
        /// Why.
        reason: RejectReason,
    },
    /// The caller hung up while queued (an abandon), for records.
    Abandoned {
        /// The call.
        call: CallId,
        /// The queue.
        queue: String,
        /// How long the caller was in this queue.
        waited: Duration,
    },
    /// Dial this call-back; the agent is reserved (state ringing) for it. Answer
    /// with `CallbackConnected` or `CallbackResult`.
    DialCallback {
        /// The call-back, with its attempt count.
        callback: Callback,
        /// The reserved agent.
        agent: AgentId,
    },
    /// Store (or update) this call-back.
    CallbackStored(Callback),
    /// Delete this call-back from storage: it was placed, or dropped.
    CallbackRemoved {
        /// The call-back.
        callback: CallbackId,
        /// `true` if it reached the customer, `false` if it was given up.
        placed: bool,
    },
    /// A call-back could not be taken (unknown queue); nothing was stored.
    CallbackRefused {
        /// The call-back as asked for.
        callback: Callback,
        /// Why.
        reason: RejectReason,
    },
    /// An agent changed state: for the agent log and metrics.
    AgentState {
        /// The agent.
        agent: AgentId,
        /// The new state.
        state: AgentStateKind,
        /// The pause reason, when paused.
        reason: Option<String>,
    },
    /// The call is with this agent now (after its answer), for records.
    Assigned {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
    },
}

/// Which overflow rule moved a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverflowReason {
    /// The call waited its `max_wait`.
    MaxWait,
    /// The line was full on entry.
    MaxLength,
    /// No member was staffed.
    NoAgents,
    /// The estimated wait was too long on entry.
    EstimatedWait,
}

/// Why a call (or call-back) was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// No queue by that name.
    UnknownQueue,
    /// The queue is at `max_length` and has no `max_length` overflow rule.
    Full,
    /// The call has been moved between queues too many times (see
    /// [`super::MAX_QUEUE_HOPS`]).
    OverflowLoop,
}

/// A call-back waiting to be placed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Callback {
    /// Unique across restarts: ids are handed out from `now × 1000` at start-up
    /// and above every restored id.
    pub id: CallbackId,
    /// The number to dial.
    pub number: String,
    /// The queue whose agents call back.
    pub queue: String,
    /// Its place in line: when the caller joined the queue (or the scheduled time).
    pub requested_at: Millis,
    /// Not dialled before this.
    pub due_at: Millis,
    /// Dial attempts made so far that did not reach the customer.
    pub attempts: u32,
    /// As a call's priority.
    pub priority: i32,
    /// As a call's skill requirements.
    pub skills: Vec<String>,
    /// What the requester knows of the customer, for the agent's screen.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}
