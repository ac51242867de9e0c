//! The events other channels hear of, one JSON schema per type, versioned.
//!
//! Every event has the same envelope:
//!
//! ```json
//! {"id": "evt_1700000000000_42", "type": "call.answered", "version": 1,
//!  "occurred_at": "2026-11-23T15:04:05.123Z", "call_id": "1700000000000-7",
//!  "queue": "support", "agent": "1001", "data": {"wait_secs": 12.4}}
//! ```
//!
//! `id` is unique across restarts and is the idempotency key of a delivery;
//! `version` is the version of that type's `data` schema: a field may be
//! added within a version, never removed or changed in meaning. The types
//! and their `data` are listed in docs/api.md.

use serde::Serialize;

/// The schema version of every event type's `data` today.
pub(crate) const VERSION: u32 = 1;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub(crate) enum EventType {
    /// A call arrived.
    #[serde(rename = "call.started")]
    CallStarted,
    /// The call left its IVR flow.
    #[serde(rename = "ivr.completed")]
    IvrCompleted,
    /// The call joined a queue.
    #[serde(rename = "call.queued")]
    CallQueued,
    /// An agent's phone rings for the call (the screen-pop).
    #[serde(rename = "call.offered")]
    CallOffered,
    /// An agent took the call.
    #[serde(rename = "call.answered")]
    CallAnswered,
    /// The caller hung up while queued.
    #[serde(rename = "call.abandoned")]
    CallAbandoned,
    /// The call's record closed: its timeline and KPIs.
    #[serde(rename = "call.ended")]
    CallEnded,
    /// An overflow rule moved the call out of its queue.
    #[serde(rename = "queue.overflow")]
    QueueOverflow,
    /// A call-back was asked for (a caller's key, the API, an overflow hook).
    #[serde(rename = "callback.requested")]
    CallbackRequested,
    /// A call-back took its place in a queue.
    #[serde(rename = "callback.scheduled")]
    CallbackScheduled,
    /// A call-back is being dialled.
    #[serde(rename = "callback.attempted")]
    CallbackAttempted,
    /// A call-back reached its customer, was given up or cancelled.
    #[serde(rename = "callback.completed")]
    CallbackCompleted,
    /// An agent changed state.
    #[serde(rename = "agent.state_changed")]
    AgentStateChanged,
    /// A call's recording is finalised and can be fetched.
    #[serde(rename = "recording.ready")]
    RecordingReady,
    /// The caller answered a post-call survey question.
    #[serde(rename = "survey.completed")]
    SurveyCompleted,
    /// The projected service level of the current interval is below target.
    #[serde(rename = "queue.service_level_at_risk")]
    ServiceLevelAtRisk,
}

impl EventType {
    /// Every type, for filters and the docs.
    pub(crate) const ALL: [EventType; 16] = [
        EventType::CallStarted,
        EventType::IvrCompleted,
        EventType::CallQueued,
        EventType::CallOffered,
        EventType::CallAnswered,
        EventType::CallAbandoned,
        EventType::CallEnded,
        EventType::QueueOverflow,
        EventType::CallbackRequested,
        EventType::CallbackScheduled,
        EventType::CallbackAttempted,
        EventType::CallbackCompleted,
        EventType::AgentStateChanged,
        EventType::RecordingReady,
        EventType::SurveyCompleted,
        EventType::ServiceLevelAtRisk,
    ];

    /// The wire name, e.g. `call.answered`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::CallStarted => "call.started",
            EventType::IvrCompleted => "ivr.completed",
            EventType::CallQueued => "call.queued",
            EventType::CallOffered => "call.offered",
            EventType::CallAnswered => "call.answered",
            EventType::CallAbandoned => "call.abandoned",
            EventType::CallEnded => "call.ended",
            EventType::QueueOverflow => "queue.overflow",
            EventType::CallbackRequested => "callback.requested",
            EventType::CallbackScheduled => "callback.scheduled",
            EventType::CallbackAttempted => "callback.attempted",
            EventType::CallbackCompleted => "callback.completed",
            EventType::AgentStateChanged => "agent.state_changed",
            EventType::RecordingReady => "recording.ready",
            EventType::SurveyCompleted => "survey.completed",
            EventType::ServiceLevelAtRisk => "queue.service_level_at_risk",
        }
    }

    /// The type of a wire name.
    pub(crate) fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// One event, as delivered and streamed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Event {
    /// Unique across restarts; the idempotency key.
    pub(crate) id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub(crate) kind: EventType,
    /// The schema version of `data`.
    pub(crate) version: u32,
    /// When it happened (RFC 3339, UTC, milliseconds).
    pub(crate) occurred_at: String,
    /// The call record's id, when the event is about a call.
    pub(crate) call_id: Option<String>,
    /// The queue it concerns, if any.
    pub(crate) queue: Option<String>,
    /// The agent it concerns, if any.
    pub(crate) agent: Option<String>,
    /// The type's own fields.
    pub(crate) data: serde_json::Value,
}

impl Event {
    /// What orders deliveries: a call's events are delivered in order; so
    /// are a call-back's (`callback:<id>`). `None`: no order with others.
    pub(crate) fn order_key(&self) -> Option<String> {
        if let Some(call) = &self.call_id {
            return Some(call.clone());
        }
        self.data
            .get("callback_id")
            .and_then(serde_json::Value::as_u64)
            .map(|id| format!("callback:{id}"))
    }
}

/// Millisecond Unix time as the events' RFC 3339.
pub(crate) fn rfc3339(ms: u64) -> String {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
