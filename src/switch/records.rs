//! Call records from the switch's side: a record starts when a call
//! arrives, every step of the call is a mark on it, and the updates go out
//! to the store and the live KPIs through [`Switch::poll_record`].
//!
//! Timestamps are the switch's monotonic clock mapped onto wall time
//! ([`super::ivr::WallClock`]), so marks never go backwards.

use std::time::Instant;

use media::engine::LegId;
use queue::record::{CallRecord, LegReport, LegSide, Mark, Milestone, SurveyAnswer, SurveyKind};
use queue::Millis;

use super::Switch;
use crate::b2bua::OfferId;
use crate::store::Command;

/// What the switch knows of a call for the ACD and its record.
#[derive(Debug)]
pub(crate) struct Tracked {
    /// Agents this call keeps busy outside the ACD (a direct call, a
    /// transfer to an extension): they get no queue calls meanwhile.
    pub(crate) busy_agents: Vec<String>,
    /// The call record's id.
    pub(crate) record: String,
    /// The caller's number.
    pub(crate) caller: String,
    /// The caller's media leg.
    pub(crate) leg: LegId,
    /// Prompt language, for announcements.
    pub(crate) language: String,
    /// PCM rate of the caller's leg.
    pub(crate) rate: u32,
    /// The queue the call waits in (also while an agent rings).
    pub(crate) queue: Option<String>,
    /// When it joined that queue.
    pub(crate) enqueued_at: Option<Instant>,
    /// The queue whose agent answered the call (kept after it left the queue).
    pub(crate) answered_queue: Option<String>,
    /// The agent who took the call (talking, then wrap-up), or the
    /// extension of a direct call.
    pub(crate) agent: Option<String>,
    /// The agents ringing for the call, with their offers: one, or every
    /// available member of a ring-all queue.
    pub(crate) ringing: Vec<(String, OfferId)>,
    /// The agent answered (talk, then wrap-up).
    pub(crate) talking: bool,
    /// What ends the call when the playing prompt ends.
    pub(crate) then_hang_up: bool,
    /// The caller is leaving a message (overflow to voicemail).
    pub(crate) voicemail: bool,
    /// The virtual-hold offer was played; `1` accepts it.
    pub(crate) callback_offered: bool,
    /// The music on hold of the queue (a prompt path), if one is set.
    pub(crate) music: Option<String>,
}

impl Tracked {
    /// The queue the call is in, or the one whose agent answered it.
    pub(super) fn queue_of_record(&self) -> Option<String> {
        self.queue.clone().or_else(|| self.answered_queue.clone())
    }
}

impl Switch {
    /// Now on the records' clock.
    pub(super) fn millis(&self, now: Instant) -> Millis {
        Millis(u64::try_from(self.clock.utc(now).timestamp_millis()).unwrap_or(0))
    }

    /// Starts the record of a call that just arrived.
    pub(super) fn track(&mut self, now: Instant, call: u64, leg: LegId, rate: u32, (caller, called): (&str, &str)) {
        let record = format!("{}-{call}", self.records_epoch);
        let at = self.millis(now);
        self.record_out.push_back(Command::CallStarted(CallRecord::arrived(
            record.clone(),
            caller.to_owned(),
            called.to_owned(),
            at,
        )));
        self.track_as(call, leg, rate, caller, record);
    }

    /// Tracks a service call (an agent's feature code) without a call record:
    /// it is no customer's call and must not count as one.
    pub(super) fn track_unrecorded(&mut self, call: u64, leg: LegId, rate: u32, caller: &str) {
        self.track_as(call, leg, rate, caller, String::new());
    }

    fn track_as(&mut self, call: u64, leg: LegId, rate: u32, caller: &str, record: String) {
        if !record.is_empty() {
            self.leg_records.insert(leg, (record.clone(), LegSide::Caller, None));
        }
        self.tracked.insert(
            call,
            Tracked {
                busy_agents: Vec::new(),
                record,
                caller: caller.to_owned(),
                leg,
                language: String::new(),
                rate,
                queue: None,
                enqueued_at: None,
                answered_queue: None,
                agent: None,
                ringing: Vec::new(),
                talking: false,
                then_hang_up: false,
                voicemail: false,
                callback_offered: false,
                music: None,
            },
        );
    }

    /// Appends a mark to a call's record.
    pub(super) fn mark(&mut self, now: Instant, call: u64, what: Milestone) {
        let at = self.millis(now);
        if let Some(t) = self.tracked.get(&call).filter(|t| !t.record.is_empty()) {
            self.record_out.push_back(Command::CallMarked {
                id: t.record.clone(),
                mark: Mark { at, what },
            });
        }
    }

    /// A survey answer, kept with the call and the agent who handled it.
    pub(super) fn survey(&mut self, now: Instant, call: u64, kind: ::ivr::SurveyKind, score: u32) {
        let at = self.millis(now);
        let Some(t) = self.tracked.get(&call).filter(|t| !t.record.is_empty()) else {
            return;
        };
        let kind = match kind {
            ::ivr::SurveyKind::Csat => SurveyKind::Csat,
            ::ivr::SurveyKind::Nps => SurveyKind::Nps,
        };
        self.record_out.push_back(Command::Survey {
            id: t.record.clone(),
            answer: SurveyAnswer {
                kind,
                score,
                agent: t.agent.clone(),
                at,
            },
        });
    }

    /// The next record update for the store and the live KPIs (the tests
    /// read records alone; the shell takes them with the hooks' facts from
    /// [`Switch::poll_out`]).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn poll_record(&mut self) -> Option<Command> {
        self.record_out.pop_front()
    }
}

impl Switch {
    /// The agent's media leg of `call` belongs to its record from now on.
    pub(super) fn record_agent_leg(&mut self, call: u64, agent: &str) {
        let Some(record) = self.tracked.get(&call).map(|t| t.record.clone()) else {
            return;
        };
        if let (false, Some(leg)) = (record.is_empty(), self.b2bua.agent_leg(call)) {
            self.leg_records
                .insert(leg, (record, LegSide::Agent, Some(agent.to_owned())));
        }
    }

    /// A media leg closed: its quality goes to the record of its call.
    pub(super) fn leg_closed(&mut self, leg: LegId, quality: &media::rtp::LegQuality) {
        let Some((record, side, agent)) = self.leg_records.remove(&leg) else {
            return;
        };
        self.record_out.push_back(Command::CallLeg {
            id: record,
            leg: LegReport {
                side,
                agent,
                packets: quality.packets,
                lost: quality.lost,
                jitter_ms: quality.jitter_ms,
                rtt_ms: quality.rtt_ms,
                mos: quality.mos,
            },
        });
    }

    /// `agent` is busy on `call`, a call the ACD does not handle.
    pub(super) fn keep_busy(&mut self, call: u64, agent: &str) {
        let Some(t) = self.tracked.get_mut(&call) else { return };
        if !self.accounts.contains_key(agent) || t.busy_agents.iter().any(|a| a == agent) {
            return;
        }
        t.busy_agents.push(agent.to_owned());
        *self.busy_elsewhere.entry(agent.to_owned()).or_default() += 1;
    }

    /// The call that kept its agents busy outside the ACD is over.
    pub(super) fn release_busy(&mut self, busy_agents: &[String]) {
        for agent in busy_agents {
            if let Some(n) = self.busy_elsewhere.get_mut(agent) {
                *n -= 1;
                if *n == 0 {
                    self.busy_elsewhere.remove(agent);
                }
            }
        }
    }

    /// The switch stops: every agent's log ends here (as logged out), so
    /// that the downtime never counts as staffed time.
    pub(crate) fn close_agent_log(&mut self, now: Instant) {
        let at = self.millis(now);
        // Calls whose wrap-up was still going: closed without one.
        for record in std::mem::take(&mut self.ended_in_wrap_up) {
            self.record_out.push_back(Command::CallEnded {
                id: record,
                end: queue::record::End::Completed,
            });
        }
        for agent in self.acd.snapshot(at).agents {
            if agent.state != queue::record::AgentStateKind::LoggedOut {
                self.record_out
                    .push_back(Command::AgentState(queue::record::AgentStateRecord {
                        agent: agent.id,
                        at,
                        state: queue::record::AgentStateKind::LoggedOut,
                        reason: Some("switch stopped".into()),
                    }));
            }
        }
    }
}
