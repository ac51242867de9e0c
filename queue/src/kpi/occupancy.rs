//! Agents' busy and staffed time from their state log, clipped to a window.

use crate::record::{AgentStateKind, AgentStateRecord};
use crate::Millis;

use super::hash::FastMap;
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
/// record, the last one to the end of the window. One pass over a log in
/// time order (as stored); a log out of order is sorted first (stably, so
/// records at the same time keep their order).
pub(super) fn times(log: &[AgentStateRecord], window: Window) -> FastMap<&str, Times> {
    let mut current = FastMap::default();
    let mut latest = Millis(0);
    for r in log {
        if r.at < latest {
            let mut order: Vec<&AgentStateRecord> = log.iter().collect();
            order.sort_by_key(|r| r.at);
            current.clear();
            for r in order {
                visit(&mut current, r, window);
            }
            return close(current, window);
        }
        latest = r.at;
        visit(&mut current, r, window);
    }
    close(current, window)
}

type Current<'a> = FastMap<&'a str, (AgentStateKind, Millis, Times)>;

fn visit<'a>(current: &mut Current<'a>, r: &'a AgentStateRecord, window: Window) {
    if r.at >= window.to {
        return;
    }
    let (state, since, times) =
        current
            .entry(r.agent.as_str())
            .or_insert((AgentStateKind::LoggedOut, r.at, Times::default()));
    times.add(*state, *since, r.at, window);
    *state = r.state;
    *since = r.at;
}

/// Each agent's last state lasts to the end of the window.
fn close(current: Current<'_>, window: Window) -> FastMap<&str, Times> {
    current
        .into_iter()
        .map(|(agent, (state, since, mut times))| {
            times.add(state, since, window.to, window);
            (agent, times)
        })
        .collect()
}

/// The sum over every agent.
pub(super) fn total(times: &FastMap<&str, Times>) -> Times {
    times.values().fold(Times::default(), |sum, t| Times {
        busy_ms: sum.busy_ms + t.busy_ms,
        staffed_ms: sum.staffed_ms + t.staffed_ms,
    })
}
