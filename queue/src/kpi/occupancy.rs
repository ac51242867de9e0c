//! Agents' busy and staffed time from their state log, clipped to a window.

use std::collections::HashMap;

use crate::record::{AgentStateKind, AgentStateRecord};
use crate::Millis;

use super::Window;

/// One agent's (or a sum of agents') time in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Times {
    /// On call + wrap-up.
    pub(super) busy_ms: u64,
    /// Available + ringing + on call + wrap-up.
    pub(super) staffed_ms: u64,
}

impl Times {
    fn add(&mut self, state: AgentStateKind, from: Millis, to: Millis, window: Window) {
        let start = from.max(window.from);
        let end = to.min(window.to);
        if end <= start {
            return;
        }
        let ms = end.0 - start.0;
        match state {
            AgentStateKind::OnCall | AgentStateKind::WrapUp => {
                self.busy_ms += ms;
                self.staffed_ms += ms;
            }
            AgentStateKind::Available | AgentStateKind::Ringing => self.staffed_ms += ms,
            AgentStateKind::Paused | AgentStateKind::LoggedOut => {}
        }
    }
}

/// Each agent's time in `window`. A state lasts until the agent's next
/// record, the last one to the end of the window.
pub(super) fn times<'a>(log: &'a [AgentStateRecord], window: Window) -> HashMap<&'a str, Times> {
    let mut current: HashMap<&'a str, (AgentStateKind, Millis, Times)> = HashMap::new();
    let mut visit = |r: &'a AgentStateRecord| {
        if r.at >= window.to {
            return;
        }
        let entry = current
            .entry(r.agent.as_str())
            .or_insert((AgentStateKind::LoggedOut, r.at, Times::default()));
        let (state, since, times) = entry;
        times.add(*state, *since, r.at, window);
        *state = r.state;
        *since = r.at;
    };
    if log.windows(2).all(|w| w[0].at <= w[1].at) {
        log.iter().for_each(&mut visit);
    } else {
        let mut order: Vec<&'a AgentStateRecord> = log.iter().collect();
        order.sort_by_key(|r| r.at); // stable: same-time records keep their order
        order.into_iter().for_each(&mut visit);
    }
    current
        .into_iter()
        .map(|(agent, (state, since, mut times))| {
            times.add(state, since, window.to, window);
            (agent, times)
        })
        .collect()
}

/// The sum over every agent.
pub(super) fn total(times: &HashMap<&str, Times>) -> Times {
    times.values().fold(Times::default(), |sum, t| Times {
        busy_ms: sum.busy_ms + t.busy_ms,
        staffed_ms: sum.staffed_ms + t.staffed_ms,
    })
}
