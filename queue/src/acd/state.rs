//! The ACD's inner records: agents, queue entries, queues and their indexes.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use super::config::{NoAnswerAction, QueueConfig, Strategy};
use super::events::{CallId, Callback, CallbackId};
use super::skills::{AgentSkills, Req, SkillId};
use crate::record::AgentStateKind;
use crate::Millis;

/// An agent's index in `Acd::agents`.
pub(super) type Ax = u32;
/// A queue's index in `Acd::queues`.
pub(super) type Qx = u32;
/// The ACD's own id of a queue entry (a call or a call-back in a queue).
pub(super) type EntryId = u64;
/// The order of a line: higher priority first, then earlier, then entry id.
pub(super) type OrderKey = (Reverse<i32>, Millis, EntryId);

/// What an on-call agent is talking on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Talk {
    /// A switch call.
    Call(CallId),
    /// A call-back answered before the shell named its call.
    Callback(CallbackId),
}

/// An agent's state, with what it is tied to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AState {
    LoggedOut,
    Available,
    /// Ringing for a call entry.
    Ringing(EntryId),
    /// Reserved for a call-back entry being dialled.
    Reserved(EntryId),
    OnCall {
        talk: Talk,
        queue: Qx,
        answered_at: Millis,
    },
    WrapUp {
        queue: Qx,
        answered_at: Millis,
    },
    Paused(String),
}

impl AState {
    pub(super) fn kind(&self) -> AgentStateKind {
        match self {
            AState::LoggedOut => AgentStateKind::LoggedOut,
            AState::Available => AgentStateKind::Available,
            AState::Ringing(_) | AState::Reserved(_) => AgentStateKind::Ringing,
            AState::OnCall { .. } => AgentStateKind::OnCall,
            AState::WrapUp { .. } => AgentStateKind::WrapUp,
            AState::Paused(_) => AgentStateKind::Paused,
        }
    }
}

/// The one timer an agent can have; which one follows from its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum AgentTimer {
    /// Ring-no-answer (ringing).
    Ring,
    /// No call-back result (reserved).
    Dial,
    /// End of wrap-up.
    WrapUp,
    /// End of the pause after a failed offer (available).
    Retry,
}

/// The timers of queue entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum EntryTimer {
    /// Next position announcement.
    Announce,
    /// The first `max_wait` overflow rule.
    MaxWait,
    /// Skill requirements are dropped.
    Relax,
    /// A call-back's due time.
    Due,
}

/// Why the ACD next wakes up: a named timer, printable in a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Timer {
    Agent(Ax),
    Entry(EntryId, EntryTimer),
}

pub(super) struct Agent {
    pub(super) id: String,
    pub(super) skills: AgentSkills,
    pub(super) no_answer: NoAnswerAction,
    /// Queues the agent is a member of, and its position in each member list.
    pub(super) queues: Vec<(Qx, u32)>,
    pub(super) state: AState,
    pub(super) since: Millis,
    pub(super) reachable: bool,
    /// Since the end of the last call (or wrap-up), or login.
    pub(super) idle_since: Millis,
    /// Calls answered today.
    pub(super) calls: u32,
    pub(super) logout_pending: bool,
    pub(super) pause_pending: Option<String>,
    /// No offers until the retry timer.
    pub(super) blocked: bool,
    pub(super) timer: Option<(Millis, AgentTimer)>,
    /// The (idle_since, calls) the agent is filed under in its queues'
    /// available indexes, when it is.
    pub(super) indexed: Option<(Millis, u32)>,
    /// Logged in, not paused, reachable.
    pub(super) staffed: bool,
}

impl Agent {
    /// Can be offered a call now.
    pub(super) fn routable(&self) -> bool {
        self.state == AState::Available && self.reachable && !self.blocked
    }
}

/// What waits in a line.
#[derive(Debug, Clone)]
pub(super) enum What {
    Call {
        call: CallId,
        caller: String,
        skills: Vec<String>,
        callback_offered: bool,
        hops: u8,
    },
    Callback(Callback),
}

/// Where an entry is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Status {
    /// In line, no offer out.
    Waiting,
    /// A call ringing these agents.
    Offered(Vec<Ax>),
    /// A call-back being dialled with this agent reserved.
    Reserved(Ax),
    /// A call-back not yet due: not in line.
    Later,
}

#[derive(Debug, Clone, Default)]
pub(super) struct EntryTimers {
    pub(super) announce: Option<Millis>,
    pub(super) max_wait: Option<Millis>,
    pub(super) relax: Option<Millis>,
    pub(super) due: Option<Millis>,
}

impl EntryTimers {
    pub(super) fn slot(&mut self, t: EntryTimer) -> &mut Option<Millis> {
        match t {
            EntryTimer::Announce => &mut self.announce,
            EntryTimer::MaxWait => &mut self.max_wait,
            EntryTimer::Relax => &mut self.relax,
            EntryTimer::Due => &mut self.due,
        }
    }
}

/// A call or call-back in a queue.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) queue: Qx,
    pub(super) key: OrderKey,
    /// The requirements routing uses: empty outside the skills strategy and once relaxed.
    pub(super) reqs: Vec<Req>,
    pub(super) what: What,
    pub(super) status: Status,
    pub(super) timers: EntryTimers,
    /// In the queue's line (counted for positions).
    pub(super) in_line: bool,
    /// In one of the queue's routing groups (may be offered).
    pub(super) in_group: bool,
}

impl Entry {
    pub(super) fn call(&self) -> Option<CallId> {
        match &self.what {
            What::Call { call, .. } => Some(*call),
            What::Callback(_) => None,
        }
    }
}

/// The available members of a queue, ordered for the queue's strategy.
#[derive(Debug)]
pub(super) enum Avail {
    /// longest_idle and ring_all: by idle-since.
    Idle(BTreeSet<(Millis, Ax)>),
    /// round_robin: by member position.
    RoundRobin(BTreeSet<(u32, Ax)>),
    /// fewest_calls: by calls today, then idle-since.
    Fewest(BTreeSet<(u32, Millis, Ax)>),
    /// random: a vector to draw from, with each agent's place in it.
    Random(Vec<Ax>, HashMap<Ax, usize>),
    /// skills: everyone by idle-since, and by level (highest first) per skill.
    Skills {
        idle: BTreeSet<(Millis, Ax)>,
        by_skill: HashMap<SkillId, SkillSet>,
    },
}

/// The available agents with one skill: highest level first, then longest idle.
pub(super) type SkillSet = BTreeSet<(Reverse<u8>, Millis, Ax)>;

/// What an agent is filed under in an [`Avail`].
pub(super) struct AvailKey<'a> {
    pub(super) ax: Ax,
    pub(super) pos: u32,
    pub(super) idle: Millis,
    pub(super) calls: u32,
    pub(super) skills: &'a AgentSkills,
}

impl Avail {
    pub(super) fn new(strategy: Strategy) -> Avail {
        match strategy {
            Strategy::LongestIdle | Strategy::RingAll => Avail::Idle(BTreeSet::new()),
            Strategy::RoundRobin => Avail::RoundRobin(BTreeSet::new()),
            Strategy::FewestCalls => Avail::Fewest(BTreeSet::new()),
            Strategy::Random => Avail::Random(Vec::new(), HashMap::new()),
            Strategy::Skills => Avail::Skills {
                idle: BTreeSet::new(),
                by_skill: HashMap::new(),
            },
        }
    }

    pub(super) fn insert(&mut self, k: &AvailKey<'_>) {
        match self {
            Avail::Idle(s) => {
                s.insert((k.idle, k.ax));
            }
            Avail::RoundRobin(s) => {
                s.insert((k.pos, k.ax));
            }
            Avail::Fewest(s) => {
                s.insert((k.calls, k.idle, k.ax));
            }
            Avail::Random(v, at) => {
                if let std::collections::hash_map::Entry::Vacant(slot) = at.entry(k.ax) {
                    slot.insert(v.len());
                    v.push(k.ax);
                }
            }
            Avail::Skills { idle, by_skill } => {
                idle.insert((k.idle, k.ax));
                for &(skill, level) in &k.skills.0 {
                    by_skill
                        .entry(skill)
                        .or_default()
                        .insert((Reverse(level), k.idle, k.ax));
                }
            }
        }
    }

    pub(super) fn remove(&mut self, k: &AvailKey<'_>) {
        match self {
            Avail::Idle(s) => {
                s.remove(&(k.idle, k.ax));
            }
            Avail::RoundRobin(s) => {
                s.remove(&(k.pos, k.ax));
            }
            Avail::Fewest(s) => {
                s.remove(&(k.calls, k.idle, k.ax));
            }
            Avail::Random(v, at) => {
                if let Some(i) = at.remove(&k.ax) {
                    v.swap_remove(i);
                    if let Some(&moved) = v.get(i) {
                        at.insert(moved, i);
                    }
                }
            }
            Avail::Skills { idle, by_skill } => {
                idle.remove(&(k.idle, k.ax));
                for &(skill, level) in &k.skills.0 {
                    if let Some(s) = by_skill.get_mut(&skill) {
                        s.remove(&(Reverse(level), k.idle, k.ax));
                        if s.is_empty() {
                            by_skill.remove(&skill);
                        }
                    }
                }
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Avail::Idle(s) => s.len(),
            Avail::RoundRobin(s) => s.len(),
            Avail::Fewest(s) => s.len(),
            Avail::Random(v, _) => v.len(),
            Avail::Skills { idle, .. } => idle.len(),
        }
    }

    /// Every available agent, in no promised order.
    pub(super) fn all(&self) -> Vec<Ax> {
        match self {
            Avail::Idle(s) => s.iter().map(|&(_, a)| a).collect(),
            Avail::RoundRobin(s) => s.iter().map(|&(_, a)| a).collect(),
            Avail::Fewest(s) => s.iter().map(|&(_, _, a)| a).collect(),
            Avail::Random(v, _) => v.clone(),
            Avail::Skills { idle, .. } => idle.iter().map(|&(_, a)| a).collect(),
        }
    }
}

pub(super) struct Queue {
    pub(super) cfg: QueueConfig,
    pub(super) ring_timeout: Duration,
    pub(super) wrap_up: Duration,
    pub(super) retry: Duration,
    pub(super) announce: Option<Duration>,
    pub(super) relax: Option<Duration>,
    /// The shortest `max_wait` rule: its wait and its index in `cfg.overflow`.
    pub(super) max_wait: Option<(Duration, usize)>,
    pub(super) members: Vec<Ax>,
    /// Calls and due call-backs in line, in order.
    pub(super) line: BTreeSet<OrderKey>,
    /// Calls in line (the rest of `line` are call-backs).
    pub(super) calls: usize,
    /// Calls in line by entry time, for the longest wait.
    pub(super) by_arrival: BTreeSet<(Millis, EntryId)>,
    /// Entries that may be offered, grouped by requirements.
    pub(super) groups: BTreeMap<Vec<Req>, BTreeSet<OrderKey>>,
    pub(super) avail: Avail,
    /// Members staffed now.
    pub(super) staffed: usize,
    /// Weighted mean handle time, in milliseconds.
    pub(super) aht_ms: f64,
    /// The member position last offered a call (round robin).
    pub(super) rr_last: Option<u32>,
    /// Call-backs not yet due.
    pub(super) later: usize,
}

/// A small xorshift64* generator for the `random` strategy.
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        usize::try_from(r % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }
}
