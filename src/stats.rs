//! Live KPIs: the call records of today (and of the repeat window before)
//! kept in memory off the SIP core's task, updated by the same commands the
//! store writes, and computed with the same [`queue::kpi`] functions that
//! `switchboard report` runs on stored records, so both always agree.

use std::collections::HashMap;
use std::time::Duration;

use queue::acd::Snapshot;
use queue::kpi::{self, Filter, GroupBy, KpiSettings, Stats, Window};
use queue::record::{AgentStateRecord, CallRecord};
use queue::Millis;
use tokio::sync::{mpsc, oneshot, watch};

use crate::store::Command;

/// Asks of the live KPIs.
#[derive(Debug)]
pub(crate) enum StatsRequest {
    /// A record update, as sent to the store.
    Record(Command),
    /// Figures for a window and filter.
    Stats {
        window: Window,
        filter: Filter,
        reply: oneshot::Sender<Stats>,
    },
    /// The records of the calls that arrived in a window, live ones included.
    Calls {
        window: Window,
        reply: oneshot::Sender<Vec<CallRecord>>,
    },
    /// The ACD now: publish the board (queues with the last 15 minutes).
    Board(Box<Snapshot>),
    /// A QA evaluation of a call's recording (stored already).
    Evaluation {
        /// The call record.
        call_id: String,
        /// The score.
        score: queue::record::QaScore,
    },
}

/// Today's records and agent log.
pub(crate) struct LiveRecords {
    records: Vec<CallRecord>,
    by_id: HashMap<String, usize>,
    agent_log: Vec<AgentStateRecord>,
    settings: KpiSettings,
    /// The wallboard's service-level target, in percent.
    sl_target_percent: u8,
    /// The site's time zone: records of today (there) are kept.
    timezone: chrono_tz::Tz,
}

/// The window of the wallboard's figures.
pub(crate) const BOARD_WINDOW: Duration = Duration::from_secs(15 * 60);

impl LiveRecords {
    /// Live records seeded with stored ones (a restart keeps today's figures).
    pub(crate) fn new(
        settings: KpiSettings,
        timezone: chrono_tz::Tz,
        sl_target_percent: u8,
        records: Vec<CallRecord>,
        agent_log: Vec<AgentStateRecord>,
    ) -> Self {
        let by_id = records.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
        LiveRecords {
            records,
            by_id,
            agent_log,
            settings,
            sl_target_percent,
            timezone,
        }
    }

    /// Applies what the core sent to the store.
    pub(crate) fn apply(&mut self, command: Command) {
        match command {
            Command::CallStarted(record) => {
                self.by_id.insert(record.id.clone(), self.records.len());
                self.records.push(record);
            }
            Command::CallMarked { id, mark } => {
                if let Some(r) = self.get(&id) {
                    r.marks.push(mark);
                }
            }
            Command::CallLanguage { id, language } => {
                if let Some(r) = self.get(&id) {
                    r.language = Some(language);
                }
            }
            Command::Survey { id, answer } => {
                if let Some(r) = self.get(&id) {
                    r.surveys.push(answer);
                }
            }
            Command::CallLeg { id, leg } => {
                if let Some(r) = self.get(&id) {
                    r.legs.push(leg);
                }
            }
            Command::CallEnded { id, end } => {
                if let Some(r) = self.get(&id) {
                    r.end = Some(end);
                }
            }
            Command::AgentState(state) => self.agent_log.push(state),
            Command::CallbackStored { .. } | Command::CallbackRemoved(_) | Command::Recording(_) => {}
        }
    }

    fn get(&mut self, id: &str) -> Option<&mut CallRecord> {
        let i = *self.by_id.get(id)?;
        self.records.get_mut(i)
    }

    /// Drops what is older than `keep_from` (finished calls only).
    pub(crate) fn prune(&mut self, keep_from: Millis) {
        let before = self.records.len();
        self.records
            .retain(|r| r.end.is_none() || r.arrival().is_some_and(|a| a >= keep_from));
        if self.records.len() != before {
            self.by_id = self
                .records
                .iter()
                .enumerate()
                .map(|(i, r)| (r.id.clone(), i))
                .collect();
        }
        // Keep each agent's last state before the cut: it is still in force.
        let mut last_before: HashMap<String, usize> = HashMap::new();
        for (i, s) in self.agent_log.iter().enumerate() {
            if s.at < keep_from {
                last_before.insert(s.agent.clone(), i);
            }
        }
        let mut i = 0;
        self.agent_log.retain(|s| {
            let keep = s.at >= keep_from || last_before.get(&s.agent) == Some(&i);
            i += 1;
            keep
        });
    }

    /// The figures of `window` for `filter`.
    pub(crate) fn stats(&self, window: Window, filter: &Filter) -> Stats {
        kpi::compute(&self.records, &self.agent_log, window, filter, &self.settings)
    }

    /// The board document (see docs/api.md): the ACD's live view of each
    /// queue with the figures of the last 15 minutes.
    pub(crate) fn board(&self, snapshot: &Snapshot) -> serde_json::Value {
        let window = Window {
            from: snapshot.at - BOARD_WINDOW,
            to: snapshot.at + Duration::from_millis(1),
        };
        let mut by_queue = kpi::compute_by(&self.records, &self.agent_log, window, &self.settings, GroupBy::Queue);
        let queues: Vec<serde_json::Value> = snapshot
            .queues
            .iter()
            .map(|q| {
                let stats = by_queue.remove(&q.name).unwrap_or_else(|| {
                    let filter = Filter {
                        queue: Some(q.name.clone()),
                        ..Filter::default()
                    };
                    self.stats(window, &filter)
                });
                serde_json::json!({
                    "name": q.name,
                    "waiting": q.waiting,
                    "ringing": q.ringing,
                    "callbacks": q.callbacks,
                    "callbacks_later": q.callbacks_later,
                    "longest_wait_secs": q.longest_wait.map(|w| w.as_secs_f64()),
                    "estimated_wait_secs": q.estimated_wait.map(|w| w.as_secs_f64()),
                    "staffed": q.staffed,
                    "agents": q.agents,
                    "stats": stats,
                })
            })
            .collect();
        serde_json::json!({
            "at": chrono::DateTime::<chrono::Utc>::from_timestamp_millis(i64::try_from(snapshot.at.0).unwrap_or(0))
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            "at_ms": snapshot.at.0,
            "window_secs": BOARD_WINDOW.as_secs(),
            "sl_target_percent": self.sl_target_percent,
            "queues": queues,
        })
    }
}

/// Runs the live KPIs until the request channel closes. The figures are
/// CPU work over the day's records (tens of milliseconds on a busy day), so
/// this runs on a thread of its own, never on the async workers.
pub(crate) fn run(
    mut live: LiveRecords,
    mut requests: mpsc::UnboundedReceiver<StatsRequest>,
    board: watch::Sender<serde_json::Value>,
) {
    let mut last_prune = Millis(0);
    while let Some(request) = requests.blocking_recv() {
        match request {
            StatsRequest::Record(command) => live.apply(command),
            StatsRequest::Evaluation { call_id, score } => {
                if let Some(r) = live.get(&call_id) {
                    r.evaluations.push(score);
                }
            }
            StatsRequest::Stats { window, filter, reply } => {
                let _ = reply.send(live.stats(window, &filter));
            }
            StatsRequest::Calls { window, reply } => {
                let calls = live
                    .records
                    .iter()
                    .filter(|r| r.arrival().is_some_and(|a| window.contains(a)))
                    .cloned()
                    .collect();
                let _ = reply.send(calls);
            }
            StatsRequest::Board(snapshot) => {
                // Keep today and the repeat window before it.
                if snapshot.at.since(last_prune) > Duration::from_secs(600) {
                    let day = Duration::from_secs(86_400);
                    let midnight = crate::days::midnight(live.timezone, snapshot.at);
                    live.prune(midnight - live.settings.repeat_window.max(day));
                    last_prune = snapshot.at;
                }
                let _ = board.send(live.board(&snapshot));
            }
        }
    }
}
