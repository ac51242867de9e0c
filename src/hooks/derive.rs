//! Events derived from what the switch already writes: the call-record
//! updates it sends to the store ([`Command`]) and a few facts that are no
//! record's ([`Occurrence`]: call-back requests and attempts). There is no
//! second account of a call: an event is a view of a mark, and `call.ended`
//! carries the record itself with KPIs computed by the same code as the
//! reports.
//!
//! Pure: no clock (times come from the marks), no I/O.

use std::collections::{BTreeMap, HashMap, HashSet};

use queue::acd::Callback;
use queue::kpi::{GroupBy, KpiSettings, Window};
use queue::record::{CallRecord, Milestone};
use queue::Millis;
use serde_json::{json, Map, Value};

use super::event::{rfc3339, Event, EventType, VERSION};
use crate::store::recordings::RecordingCommand;
use crate::store::Command;

/// A fact for the events that no call-record update carries.
#[derive(Debug, Clone, PartialEq)]
// All about call-backs today; named for what they are among the events.
#[allow(clippy::enum_variant_names)]
pub(crate) enum Occurrence {
    /// A call-back was asked for through the API.
    CallbackRequested {
        /// The call-back as stored.
        callback: Callback,
        /// Who asked (`api`, `overflow_hook`).
        source: &'static str,
        /// Its attributes, for the agent's screen-pop.
        attributes: BTreeMap<String, String>,
        /// When.
        at: Millis,
    },
    /// A call-back is being dialled; `agent` is reserved for it.
    CallbackAttempted {
        /// The call-back (its `attempts` counts the failed ones before).
        callback: Callback,
        /// The reserved agent.
        agent: String,
        /// When.
        at: Millis,
    },
    /// A call-back is done: `outcome` is `placed`, `given_up` or `cancelled`.
    CallbackCompleted {
        /// Its id.
        callback: u64,
        /// How it ended.
        outcome: &'static str,
        /// When.
        at: Millis,
    },
    /// The call of a call-back has this record: its offers carry the
    /// call-back's attributes.
    CallbackCall {
        /// The call's record.
        record: String,
        /// The call-back.
        callback: u64,
        /// Its queue (the call joins none).
        queue: String,
        /// Its attributes.
        attributes: BTreeMap<String, String>,
    },
}

/// What the deriver remembers of a live call.
#[derive(Debug)]
struct Live {
    record: CallRecord,
    queue: Option<String>,
    agent: Option<String>,
    enqueued_at: Option<Millis>,
    callback: Option<u64>,
    attributes: BTreeMap<String, String>,
}

/// Turns record updates and occurrences into events. See the module docs.
#[derive(Debug)]
pub(crate) struct Deriver {
    /// Event ids: `evt_<epoch>_<n>`, unique across restarts.
    epoch: u64,
    next: u64,
    calls: HashMap<String, Live>,
    /// Call-backs already announced as scheduled.
    scheduled: HashSet<u64>,
    /// Recordings going, by id.
    recordings: HashMap<String, crate::recording::Started>,
    settings: KpiSettings,
}

impl Deriver {
    /// A deriver whose ids start from `epoch` (the start time, ms).
    pub(crate) fn new(epoch: u64, settings: KpiSettings) -> Deriver {
        Deriver {
            epoch,
            next: 0,
            calls: HashMap::new(),
            scheduled: HashSet::new(),
            recordings: HashMap::new(),
            settings,
        }
    }

    /// Live calls remembered (for a guard test: none are leaked).
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.calls.len()
    }

    fn event(&mut self, kind: EventType, at: Millis, call: Option<&str>, data: Value) -> Event {
        self.next += 1;
        let (queue, agent) = call
            .and_then(|c| self.calls.get(c))
            .map_or((None, None), |l| (l.queue.clone(), l.agent.clone()));
        Event {
            id: format!("evt_{}_{}", self.epoch, self.next),
            kind,
            version: VERSION,
            occurred_at: rfc3339(at.0),
            call_id: call.map(str::to_owned),
            queue,
            agent,
            data,
        }
    }

    /// The events of one record update (none, usually one).
    pub(crate) fn command(&mut self, command: &Command) -> Vec<Event> {
        match command {
            Command::CallStarted(record) => {
                let at = record.arrival().unwrap_or_default();
                self.calls.insert(
                    record.id.clone(),
                    Live {
                        record: record.clone(),
                        queue: None,
                        agent: None,
                        enqueued_at: None,
                        callback: None,
                        attributes: BTreeMap::new(),
                    },
                );
                let data = json!({ "caller": record.caller, "called": record.called });
                vec![self.event(EventType::CallStarted, at, Some(&record.id), data)]
            }
            Command::CallMarked { id, mark } => {
                let Some(live) = self.calls.get_mut(id) else {
                    return Vec::new();
                };
                live.record.mark(mark.at, mark.what.clone());
                self.mark(id, mark.at, &mark.what).into_iter().collect()
            }
            Command::CallLanguage { id, language } => {
                if let Some(live) = self.calls.get_mut(id) {
                    live.record.language = Some(language.clone());
                }
                Vec::new()
            }
            Command::CallLeg { id, leg } => {
                if let Some(live) = self.calls.get_mut(id) {
                    live.record.legs.push(leg.clone());
                }
                Vec::new()
            }
            Command::Survey { id, answer } => {
                let Some(live) = self.calls.get_mut(id) else {
                    return Vec::new();
                };
                live.record.surveys.push(answer.clone());
                let mut event = self.event(
                    EventType::SurveyCompleted,
                    answer.at,
                    Some(id),
                    json!({ "kind": answer.kind, "score": answer.score }),
                );
                event.agent = answer.agent.clone();
                vec![event]
            }
            Command::CallEnded { id, end } => {
                let Some(mut live) = self.calls.remove(id) else {
                    return Vec::new();
                };
                live.record.end = Some(*end);
                let at = live.record.marks.last().map(|m| m.at).unwrap_or_default();
                let data = self.ended(&live);
                let mut event = self.event(EventType::CallEnded, at, Some(id), data);
                event.queue = live.queue;
                event.agent = live.agent;
                vec![event]
            }
            Command::AgentState(state) => {
                let mut event = self.event(
                    EventType::AgentStateChanged,
                    state.at,
                    None,
                    json!({ "state": state.state, "reason": state.reason }),
                );
                event.agent = Some(state.agent.clone());
                vec![event]
            }
            Command::CallbackStored { id, due_at, json } => {
                if !self.scheduled.insert(*id) {
                    return Vec::new();
                }
                let queue = json.get("queue").and_then(Value::as_str).map(str::to_owned);
                let at = json.get("requested_at").and_then(Value::as_u64).map_or(*due_at, Millis);
                let mut event = self.event(
                    EventType::CallbackScheduled,
                    at,
                    None,
                    json!({
                        "callback_id": id,
                        "number": json.get("number"),
                        "due_at": rfc3339(due_at.0),
                        "attributes": json.get("attributes").cloned().unwrap_or_else(|| json!({})),
                    }),
                );
                event.queue = queue;
                vec![event]
            }
            Command::CallbackRemoved(id) => {
                self.scheduled.remove(id);
                Vec::new()
            }
            Command::Recording(recording) => self.recording(recording).into_iter().collect(),
            #[allow(unreachable_patterns)]
            _ => Vec::new(),
        }
    }

    /// `recording.ready` when a recording ends whole (complete), from the
    /// recordings index's own updates.
    fn recording(&mut self, command: &RecordingCommand) -> Option<Event> {
        match command {
            RecordingCommand::Started(started) => {
                self.recordings.insert(started.id.clone(), started.clone());
                None
            }
            RecordingCommand::Pauses { .. } => None,
            RecordingCommand::Ended(ended) => {
                let started = self.recordings.remove(&ended.id)?;
                if ended.state != crate::recording::State::Complete {
                    return None;
                }
                let paused_ms: u64 = ended.pauses.iter().map(|p| p.to_ms.saturating_sub(p.from_ms)).sum();
                let mut event = self.event(
                    EventType::RecordingReady,
                    Millis(ended.ended_ms),
                    None,
                    json!({
                        "recording_id": ended.id,
                        "kind": started.kind,
                        "started_at": rfc3339(started.started_ms),
                        "duration_secs": ended.ended_ms.saturating_sub(started.started_ms) as f64 / 1000.0,
                        "paused_secs": paused_ms as f64 / 1000.0,
                        "caller": started.caller,
                        "url": format!("/api/recordings/{}", ended.id),
                        "audio_url": format!("/api/recordings/{}/audio", ended.id),
                    }),
                );
                event.call_id = Some(started.call_id.clone());
                event.queue = started.queue.clone();
                event.agent = started.agent.clone();
                Some(event)
            }
        }
    }

    fn mark(&mut self, id: &str, at: Millis, what: &Milestone) -> Option<Event> {
        let live = self.calls.get_mut(id)?;
        let caller = live.record.caller.clone();
        let (kind, data) = match what {
            Milestone::IvrExit => (EventType::IvrCompleted, json!({ "language": live.record.language })),
            Milestone::Enqueued { queue } => {
                live.queue = Some(queue.clone());
                live.enqueued_at = Some(at);
                (EventType::CallQueued, json!({ "caller": caller }))
            }
            Milestone::Offered { agent } => {
                live.agent = Some(agent.clone());
                // The screen-pop: what the caller told the IVR and how long
                // they have waited, as well as who they are.
                let choices: Vec<Value> = live
                    .record
                    .marks
                    .iter()
                    .filter_map(|m| match &m.what {
                        Milestone::MenuChoice { node, digits } => Some(json!({ "node": node, "digits": digits })),
                        _ => None,
                    })
                    .collect();
                let data = json!({
                    "caller": caller,
                    "called": live.record.called,
                    "language": live.record.language,
                    "menu_choices": choices,
                    "queued_at": live.enqueued_at.map(|e| rfc3339(e.0)),
                    "wait_secs": live.enqueued_at.map(|e| at.since(e).as_secs_f64()),
                    "callback_id": live.callback,
                    "attributes": live.attributes,
                });
                (EventType::CallOffered, data)
            }
            Milestone::AgentAnswered { agent } => {
                live.agent = Some(agent.clone());
                let wait = live.enqueued_at.map(|e| at.since(e).as_secs_f64());
                let data = json!({
                    "caller": caller,
                    "wait_secs": wait,
                    "callback_id": live.callback,
                    "attributes": live.attributes,
                });
                (EventType::CallAnswered, data)
            }
            Milestone::Abandoned { queue } => {
                live.queue = Some(queue.clone());
                let wait = live.enqueued_at.map(|e| at.since(e).as_secs_f64());
                (EventType::CallAbandoned, json!({ "wait_secs": wait }))
            }
            Milestone::Overflowed { queue, to } => {
                live.queue = Some(queue.clone());
                let wait = live.enqueued_at.map(|e| at.since(e).as_secs_f64());
                (EventType::QueueOverflow, json!({ "to": to, "wait_secs": wait }))
            }
            Milestone::CallbackRequested { queue } => {
                live.queue = Some(queue.clone());
                (
                    EventType::CallbackRequested,
                    json!({ "number": caller, "source": "caller" }),
                )
            }
            _ => return None,
        };
        Some(self.event(kind, at, Some(id), data))
    }

    /// The data of `call.ended`: the record's timeline and its KPIs, per
    /// queue visited, computed by the reports' code.
    fn ended(&self, live: &Live) -> Value {
        let record = &live.record;
        let timeline: Vec<Value> = record
            .marks
            .iter()
            .map(|m| {
                let mut entry = match serde_json::to_value(&m.what) {
                    Ok(Value::Object(map)) => map,
                    _ => Map::new(),
                };
                entry.insert("at".into(), Value::String(rfc3339(m.at.0)));
                entry.insert("at_ms".into(), json!(m.at.0));
                Value::Object(entry)
            })
            .collect();
        let everything = Window {
            from: Millis(0),
            to: Millis(u64::MAX),
        };
        let by_queue = queue::kpi::compute_by(
            std::slice::from_ref(record),
            &[],
            everything,
            &self.settings,
            GroupBy::Queue,
        );
        let queues: BTreeMap<String, Value> = by_queue
            .into_iter()
            .map(|(queue, s)| {
                let answered_within: Vec<Value> = s
                    .answered_within
                    .iter()
                    .map(|&(t, n)| json!({ "threshold_secs": t, "within": n > 0 }))
                    .collect();
                let kpis = json!({
                    "answered": s.answered > 0,
                    "abandoned": s.abandoned > 0,
                    "short_abandoned": s.short_abandoned > 0,
                    "overflowed": s.overflowed > 0,
                    "callback_requested": s.callbacks_requested > 0,
                    "wait_secs": s.max_wait_secs,
                    "answered_within": answered_within,
                    "talk_secs": s.talk_secs,
                    "wrap_up_secs": s.wrap_up_secs,
                    "handle_secs": s.aht_secs,
                });
                (queue, kpis)
            })
            .collect();
        let arrival = record.arrival().unwrap_or_default();
        let last = record.marks.last().map_or(arrival, |m| m.at);
        let hung_up_by = record.marks.iter().rev().find_map(|m| match &m.what {
            Milestone::HungUp { by } => Some(*by),
            _ => None,
        });
        json!({
            "caller": record.caller,
            "called": record.called,
            "language": record.language,
            "end": record.end,
            "hung_up_by": hung_up_by,
            "duration_secs": last.since(arrival).as_secs_f64(),
            "callback_id": live.callback,
            "attributes": live.attributes,
            "timeline": timeline,
            "queues": queues,
            "surveys": record.surveys,
            "legs": record.legs,
        })
    }

    /// The event of a service level at risk.
    pub(crate) fn at_risk(&mut self, r: &super::sl_risk::AtRisk) -> Event {
        let mut event = self.event(
            EventType::ServiceLevelAtRisk,
            r.at,
            None,
            json!({
                "interval_start": rfc3339(r.interval.0 .0),
                "interval_end": rfc3339(r.interval.1 .0),
                "threshold_secs": r.threshold_secs,
                "target": r.target,
                "projected": r.projected,
                "answered_within_so_far": r.so_far.0,
                "counted_so_far": r.so_far.1,
                "waiting": r.waiting.0,
                "waiting_beyond_threshold": r.waiting.1,
            }),
        );
        event.queue = Some(r.queue.clone());
        event
    }

    /// The events of an occurrence.
    pub(crate) fn occurrence(&mut self, occurrence: Occurrence) -> Vec<Event> {
        match occurrence {
            Occurrence::CallbackRequested {
                callback,
                source,
                attributes,
                at,
            } => {
                let mut event = self.event(
                    EventType::CallbackRequested,
                    at,
                    None,
                    json!({
                        "callback_id": callback.id,
                        "number": callback.number,
                        "source": source,
                        "due_at": rfc3339(callback.due_at.0),
                        "attributes": attributes,
                    }),
                );
                event.queue = Some(callback.queue);
                vec![event]
            }
            Occurrence::CallbackAttempted { callback, agent, at } => {
                let mut event = self.event(
                    EventType::CallbackAttempted,
                    at,
                    None,
                    json!({
                        "callback_id": callback.id,
                        "number": callback.number,
                        "attempt": callback.attempts + 1,
                    }),
                );
                event.queue = Some(callback.queue);
                event.agent = Some(agent);
                vec![event]
            }
            Occurrence::CallbackCompleted { callback, outcome, at } => {
                self.scheduled.remove(&callback);
                vec![self.event(
                    EventType::CallbackCompleted,
                    at,
                    None,
                    json!({ "callback_id": callback, "outcome": outcome }),
                )]
            }
            Occurrence::CallbackCall {
                record,
                callback,
                queue,
                attributes,
            } => {
                if let Some(live) = self.calls.get_mut(&record) {
                    live.callback = Some(callback);
                    live.queue = Some(queue);
                    live.attributes = attributes;
                }
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
#[path = "derive_tests.rs"]
mod tests;
