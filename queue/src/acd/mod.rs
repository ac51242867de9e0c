//! The ACD: one pure state machine owning every queue and agent.
//!
//! Events go in with the time ([`Acd::handle`], [`Acd::handle_timeout`]);
//! actions come out in order ([`Acd::poll_action`]); [`Acd::poll_timeout`]
//! says when to call again. There is no I/O, no clock and no thread, so a
//! test can run a day of calls in virtual time.
//!
//! # Agents
//!
//! An agent is logged out, available, ringing (reserved for one call, or for
//! a call-back being dialled), on a call, in wrap-up or paused, with one call
//! at a time. An agent who is a member of several queues is offered calls from
//! all of them: the freed agent takes, among the entries it can serve, the one
//! with the highest priority and then the earliest entry time (into its queue).
//! Agents whose phone is not reachable get no offers; an available agent stays
//! available in the snapshot. An agent is *staffed* when logged in, not
//! paused and reachable.
//!
//! # Routing
//!
//! Each queue keeps its line (priority, then time), its routable entries
//! grouped by skill requirements, and its available members in an index
//! ordered for its strategy, so that matching a freed agent or a new call
//! costs a few ordered-set look-ups, not a scan of all agents or calls.
//! A ring-all call stays routable while it rings: an agent freed meanwhile is
//! added to the ringing set. Skill requirements only count in queues with the
//! `skills` strategy; there, the matching agent with the highest sum of levels
//! in the required skills wins, then the one idle longest.
//!
//! # Estimated wait
//!
//! For a caller at position *p* (1-based) in a queue with *s* staffed members
//! of whom *f* are available now: `0` if *p ≤ f*, else `p × AHT / s`, where
//! AHT is the queue's exponentially weighted mean of talk plus wrap-up of its
//! calls (each finished call moves it a tenth of the way; it starts at the
//! queue's `default_handle_secs`). `None` when no member is staffed.
//!
//! # Overflow
//!
//! On entry, rules are tried in order (`max_length`, `no_agents`,
//! `estimated_wait`); a queue at `max_length` with no rule that fired rejects
//! the call. `max_wait` runs by timer, and `no_agents` also fires for every
//! waiting call when the last staffed member goes. A `queue:` target is done
//! here: the call joins that queue as a new entry (its wait there starts
//! again, for priority and for that queue's rules) after the `Overflow`
//! action; a call moved more than [`MAX_QUEUE_HOPS`] times is rejected.
//!
//! # Call-backs
//!
//! A call-back takes a place in line like a call (by `requested_at`). At the
//! head with an agent free, the agent is reserved and `DialCallback` goes out;
//! the shell reports `CallbackConnected` (or `CallbackResult`). A failed
//! attempt frees the agent and the call-back waits `retry_after_secs` out of
//! line, then takes its old place again; after `max_attempts` it is dropped.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use crate::Millis;

mod agents;
mod callbacks;
mod config;
mod events;
mod line;
mod routing;
mod skills;
mod snapshot;
mod state;
mod view;

pub use config::{
    AcdConfig, AgentConfig, CallbackConfig, CallbackMode, ConfigError, NoAnswerAction, OverflowRule, OverflowTarget,
    OverflowWhen, QueueConfig, Strategy,
};
pub use events::{Action, AgentId, CallId, Callback, CallbackId, Event, OverflowReason, RejectReason};
pub use snapshot::{AgentCounts, AgentSnapshot, QueueSnapshot, Snapshot};
pub use view::CallStatus;

use skills::{AgentSkills, Interner};
use state::{AState, Agent, AgentTimer, Avail, Ax, Entry, EntryId, EntryTimer, Queue, Qx, Rng, Timer};

/// How many times one call may be moved between queues by `queue:` overflow
/// targets before it is rejected ([`RejectReason::OverflowLoop`]).
pub const MAX_QUEUE_HOPS: u8 = 8;

const DAY_MS: u64 = 86_400_000;

/// Work left over by a state change, done before the ACD returns.
#[derive(Debug, Clone, Copy)]
enum Work {
    /// This agent may have become routable: find it a call, or file it as available.
    Agent(Ax),
    /// This entry may have become routable: find it an agent.
    Entry(EntryId),
    /// This queue may have lost its last staffed member.
    Empty(Qx),
}

/// The ACD: every queue and agent (see the module docs).
pub struct Acd {
    queues: Vec<Queue>,
    queue_ix: HashMap<String, Qx>,
    agents: Vec<Agent>,
    agent_ix: HashMap<String, Ax>,
    entries: HashMap<EntryId, Entry>,
    next_entry: EntryId,
    /// Queued calls (waiting or ringing).
    calls: HashMap<CallId, EntryId>,
    /// Call-backs in a queue (due, later, or being dialled).
    callbacks: HashMap<CallbackId, EntryId>,
    /// Calls being talked on.
    talking: HashMap<CallId, Ax>,
    /// Call-backs answered whose call the shell has not named yet.
    cb_talking: HashMap<CallbackId, Ax>,
    timers: BTreeSet<(Millis, Timer)>,
    actions: VecDeque<Action>,
    work: VecDeque<Work>,
    interner: Interner,
    rng: Rng,
    now: Millis,
    day: u64,
    next_callback: CallbackId,
}

impl std::fmt::Debug for Acd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acd")
            .field("queues", &self.queues.len())
            .field("agents", &self.agents.len())
            .field("entries", &self.entries.len())
            .field("talking", &self.talking.len())
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl Acd {
    /// An ACD with this configuration, started at `now`. Unknown members,
    /// duplicate names and bad skills are skipped (see [`AcdConfig::validate`]).
    /// Agents logged in at start are reported with an `AgentState` action.
    pub fn new(config: AcdConfig, now: Millis) -> Acd {
        let mut acd = Acd {
            queues: Vec::new(),
            queue_ix: HashMap::new(),
            agents: Vec::new(),
            agent_ix: HashMap::new(),
            entries: HashMap::new(),
            next_entry: 1,
            calls: HashMap::new(),
            callbacks: HashMap::new(),
            talking: HashMap::new(),
            cb_talking: HashMap::new(),
            timers: BTreeSet::new(),
            actions: VecDeque::new(),
            work: VecDeque::new(),
            interner: Interner::default(),
            rng: Rng::new(config.seed),
            now,
            day: now.0 / DAY_MS,
            next_callback: now.0.saturating_mul(1000).max(1),
        };
        for a in config.agents {
            if acd.agent_ix.contains_key(&a.id) {
                continue;
            }
            let ax = Ax::try_from(acd.agents.len()).unwrap_or(Ax::MAX);
            acd.agent_ix.insert(a.id.clone(), ax);
            acd.agents.push(Agent {
                skills: AgentSkills::new(&mut acd.interner, &a.skills),
                id: a.id,
                no_answer: a.no_answer,
                queues: Vec::new(),
                state: if a.logged_in_at_start {
                    AState::Available
                } else {
                    AState::LoggedOut
                },
                since: now,
                reachable: false,
                idle_since: now,
                calls: 0,
                logout_pending: false,
                pause_pending: None,
                blocked: false,
                timer: None,
                indexed: None,
                staffed: false,
            });
        }
        for q in config.queues {
            if acd.queue_ix.contains_key(&q.name) {
                continue;
            }
            let qx = Qx::try_from(acd.queues.len()).unwrap_or(Qx::MAX);
            let mut members = Vec::new();
            for m in &q.agents {
                if let Some(&ax) = acd.agent_ix.get(m) {
                    if !members.contains(&ax) {
                        let pos = u32::try_from(members.len()).unwrap_or(u32::MAX);
                        members.push(ax);
                        acd.agents[ax as usize].queues.push((qx, pos));
                    }
                }
            }
            let max_wait = q
                .overflow
                .iter()
                .enumerate()
                .filter_map(|(i, r)| match r.when {
                    OverflowWhen::MaxWait { secs } => Some((Duration::from_secs(secs), i)),
                    _ => None,
                })
                .min();
            acd.queue_ix.insert(q.name.clone(), qx);
            acd.queues.push(Queue {
                ring_timeout: Duration::from_secs(q.ring_timeout_secs.max(1)),
                wrap_up: Duration::from_secs(q.wrap_up_secs),
                retry: Duration::from_secs(q.retry_secs),
                announce: q.announce_every_secs.map(|s| Duration::from_secs(s.max(1))),
                relax: q.relax_skills_after_secs.map(Duration::from_secs),
                max_wait,
                members,
                line: BTreeSet::new(),
                calls: 0,
                by_arrival: BTreeSet::new(),
                groups: Default::default(),
                avail: Avail::new(q.strategy),
                staffed: 0,
                aht_ms: q.default_handle_secs as f64 * 1000.0,
                rr_last: None,
                later: 0,
                cfg: q,
            });
        }
        for ax in 0..acd.agents.len() {
            let ax = ax as Ax;
            if acd.agents[ax as usize].state == AState::Available {
                acd.emit_state(ax);
            }
        }
        acd
    }

    /// Feeds one event that happened at `now`.
    pub fn handle(&mut self, event: Event, now: Millis) {
        self.begin(now);
        match event {
            Event::Login { agent } => self.on_login(&agent),
            Event::Logout { agent } => self.on_logout(&agent),
            Event::Pause { agent, reason } => self.on_pause(&agent, reason),
            Event::Resume { agent } => self.on_resume(&agent),
            Event::Reachable { agent, reachable } => self.on_reachable(&agent, reachable),
            Event::Enqueue {
                call,
                queue,
                priority,
                skills,
                caller,
            } => self.on_enqueue(call, &queue, priority, skills, caller),
            Event::Answered { call, agent } => self.on_answered(call, agent),
            Event::OfferFailed { call, agent, busy } => self.on_offer_failed(call, &agent, busy),
            Event::CallerLeft { call } => self.on_caller_left(call),
            Event::AgentLeft { call } => self.on_agent_left(call),
            Event::EndWrapUp { agent } => self.on_end_wrap_up(&agent),
            Event::AcceptCallback { call } => self.on_accept_callback(call),
            Event::ScheduleCallback {
                number,
                queue,
                at,
                attributes,
            } => self.on_schedule_callback(number, queue, at, attributes),
            Event::CancelCallback { callback } => self.on_cancel_callback(callback),
            Event::CallbackResult { callback, answered } => self.on_callback_result(callback, answered),
            Event::CallbackConnected { callback, call } => self.on_callback_connected(callback, call),
            Event::RestoreCallback(cb) => self.on_restore_callback(cb),
        }
        self.run_work();
    }

    /// The next thing the shell must do, in order; drain it after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next internal deadline; call [`Acd::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.timers.first().map(|&(at, _)| at)
    }

    /// Runs every timer due at `now`: ring-no-answer, wrap-up end, retry after a
    /// failed offer, announcements, `max_wait` overflow, skills relaxation and
    /// call-backs coming due or not answered in time.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.begin(now);
        while let Some(&(at, timer)) = self.timers.first() {
            if at > self.now {
                break;
            }
            self.timers.remove(&(at, timer));
            match timer {
                Timer::Agent(ax) => {
                    let Some(a) = self.agents.get_mut(ax as usize) else {
                        continue;
                    };
                    let Some((_, kind)) = a.timer.take() else { continue };
                    self.agent_timer(ax, kind);
                }
                Timer::Entry(eid, kind) => {
                    let Some(e) = self.entries.get_mut(&eid) else { continue };
                    if e.timers.slot(kind).take().is_none() {
                        continue;
                    }
                    self.entry_timer(eid, kind);
                }
            }
            self.run_work();
        }
    }

    /// Moves the clock (never backwards) and starts a new day's call counts.
    fn begin(&mut self, now: Millis) {
        self.now = self.now.max(now);
        let day = self.now.0 / DAY_MS;
        if day != self.day {
            self.day = day;
            for ax in 0..self.agents.len() {
                let ax = ax as Ax;
                let was = self.agents[ax as usize].indexed.is_some();
                self.unindex(ax);
                self.agents[ax as usize].calls = 0;
                if was {
                    self.index(ax);
                }
            }
        }
    }

    fn run_work(&mut self) {
        while let Some(w) = self.work.pop_front() {
            match w {
                Work::Agent(ax) => self.dispatch_agent(ax),
                Work::Entry(eid) => self.dispatch_entry(eid),
                Work::Empty(qx) => self.queue_emptied(qx),
            }
        }
    }

    fn emit(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    fn set_agent_timer(&mut self, ax: Ax, at: Millis, kind: AgentTimer) {
        self.clear_agent_timer(ax);
        if let Some(a) = self.agents.get_mut(ax as usize) {
            a.timer = Some((at, kind));
            self.timers.insert((at, Timer::Agent(ax)));
        }
    }

    fn clear_agent_timer(&mut self, ax: Ax) {
        if let Some((at, _)) = self.agents.get_mut(ax as usize).and_then(|a| a.timer.take()) {
            self.timers.remove(&(at, Timer::Agent(ax)));
        }
    }

    fn set_entry_timer(&mut self, eid: EntryId, kind: EntryTimer, at: Millis) {
        let Some(e) = self.entries.get_mut(&eid) else { return };
        if let Some(old) = e.timers.slot(kind).replace(at) {
            self.timers.remove(&(old, Timer::Entry(eid, kind)));
        }
        self.timers.insert((at, Timer::Entry(eid, kind)));
    }

    fn clear_entry_timer(&mut self, eid: EntryId, kind: EntryTimer) {
        let Some(e) = self.entries.get_mut(&eid) else { return };
        if let Some(old) = e.timers.slot(kind).take() {
            self.timers.remove(&(old, Timer::Entry(eid, kind)));
        }
    }

    fn agent_by_id(&self, id: &str) -> Option<Ax> {
        self.agent_ix.get(id).copied()
    }

    fn queue(&self, qx: Qx) -> &Queue {
        &self.queues[qx as usize]
    }

    fn agent(&self, ax: Ax) -> &Agent {
        &self.agents[ax as usize]
    }
}
