//! Contact-centre KPIs, derived from call records alone.
//!
//! Every figure here is a pure function of the [`CallRecord`]s and
//! [`AgentStateRecord`]s passed in, so `switchboard report` over stored
//! records gives exactly the figures the live wallboard showed for the same
//! window. Nothing is counted on the side.
//!
//! # Queue segments
//!
//! A call can visit several queues. Each `Enqueued` mark opens a **segment**
//! for its queue, and the segment counts in a [`Window`] when that mark's time
//! is in `[from, to)`. What ends the segment decides its outcome:
//!
//! | the segment reaches | outcome | wait |
//! |---|---|---|
//! | an answer mark (`AgentAnswered`, `Bridged`, `FirstAgentAudio`) | **answered** by that mark's agent | enqueue → the answer moment |
//! | `Abandoned`, or `HungUp` by the caller | **abandoned** | enqueue → the mark |
//! | the same, less than `short_abandon` after the enqueue | **short abandon** | |
//! | `Overflowed`, or another `Enqueued` | **overflowed** | enqueue → the mark |
//! | `CallbackRequested` | **call-back**: not abandoned | enqueue → the mark |
//! | `Transferred` or `HungUp` by the switch or agent | **other** | enqueue → the mark |
//! | the record's end, closed (`end` set) | **other** | enqueue → last mark |
//! | the record's end, still live (`end` is `None`) | **waiting**: not counted yet | |
//!
//! - **Answered.** A segment is answered as soon as any of the three answer
//!   marks appears in it; what happens after that (a hang-up, even an
//!   `Abandoned`) does not change it. The *answer moment*, which the wait is
//!   measured to, is the mark [`KpiSettings::answered_at`] names; if the
//!   segment lacks it (a phone that never sent audio), the nearest other answer
//!   mark is used: for `first_agent_audio` the `Bridged`, else the
//!   `AgentAnswered`; for `bridged` the `AgentAnswered`, else the
//!   `FirstAgentAudio`; for `agent_answered` the `Bridged`, else the
//!   `FirstAgentAudio`. The agent is the one named by that mark.
//! - **Short abandons** (wait below [`KpiSettings::short_abandon`], default 5 s;
//!   exactly 5 s is not short) are dropped from every count first: they are
//!   neither offered nor abandoned, and only `short_abandoned` counts them.
//! - **Offered** = answered + abandoned + overflowed + call-backs + other.
//!   Segments still waiting in a live record are not offered yet (their end
//!   is unknown); `waiting` counts them.
//! - **Within T** means a wait of at most T, for answered and abandoned alike:
//!   a call answered exactly at T is answered within T, and a call abandoned
//!   exactly at T is abandoned within T (it did not outlast the threshold).
//! - **Call-backs.** The request ends the caller's segment (not an abandon);
//!   the call the switch later dials to the customer joins no queue (it has no
//!   `Enqueued` mark), so it opens no segment and is not offered again.
//!
//! # Figures
//!
//! - **Service level** for each threshold, by [`SlFormula`] (`aw` answered
//!   within T, `abw` abandoned within T); `None` when the denominator is 0:
//!   - `abandons_ignored` (default): aw / (offered - abw)
//!   - `abandons_negative`: aw / offered
//!   - `abandons_positive`: (aw + abw) / offered
//!   - `answered_only` (Asterisk's SL): aw / answered
//!   - `asterisk_sl2`: (aw + abw) / (answered + abandoned)
//! - **ASA**: the mean wait of answered segments; **max wait**: the longest
//!   wait of any counted segment; **abandon rate**: abandoned / offered.
//! - **AHT** = talk + wrap-up, averaged over the answered segments whose talk
//!   has ended (`handled`): talk from the answer moment to the first
//!   `TalkEnded` after it (else the `HungUp`, else the next `Enqueued`, a
//!   transfer back to a queue); wrap-up from the end of talk to that agent's
//!   next `WrapUpEnded`, which may come after the hang-up. A closed record
//!   without one has no wrap-up; a live record waiting for one leaves the
//!   segment out of AHT until it comes. Hold time is part of talk.
//! - **Occupancy**: (on call + wrap-up) / (available + ringing + on call +
//!   wrap-up) agent time from `agent_log`, clipped to the window. A state
//!   lasts until the same agent's next record; an agent's last state lasts
//!   to the end of the window (so for a live figure, end the window now).
//!   Pass the log from each agent's last record before `from` on. It is
//!   over every agent in the log, or only the filtered agent: pass only a
//!   queue's agents to get a queue's occupancy.
//! - **Calls** are the records with at least one counted segment (short
//!   abandons do not count). **Repeat rate**: the share of calls whose caller
//!   had an earlier call arrive (first mark) within
//!   [`KpiSettings::repeat_window`] before this one's arrival, among all the
//!   records passed, whatever their queue; at the same millisecond the one
//!   earlier in the slice is the earlier. **The caller must pass the records
//!   of the preceding `repeat_window` too**, or the first calls of the window
//!   look new. Anonymous callers (empty or `anonymous`) are left out of the
//!   repeat rate (`repeat_base` counts who is in it).
//! - **CSAT**: the share of answers 4 or 5 on the 1-5 scale (and their mean);
//!   **NPS**: promoters (9-10) minus detractors (0-6), in points of 100; from
//!   the surveys of the calls counted, and with an agent filter, only the
//!   answers about that agent. Scores off the scale are ignored.
//! - **Quality rate**: the mean of the QA evaluations' totals (out of 10) of
//!   the calls counted, as a share of 10; with an agent filter, only the
//!   evaluations of that agent. Totals off the scale are ignored.
//!
//! # Filters and groups
//!
//! [`Filter::queue`] keeps that queue's segments; [`Filter::agent`] keeps the
//! segments answered by that agent (so offered = answered there: an
//! unanswered call belongs to no agent); [`Filter::language`] keeps records of
//! that IVR language. [`compute_by`] splits the same way in one pass; records
//! without a language are grouped under [`NO_LANGUAGE`]. By agent, each group
//! has that agent's occupancy (agents with staffed time but no calls get a
//! group too); by queue or language, every group has the occupancy of all the
//! agents in the log, since agent states name no queue.

mod acc;
mod hash;
mod occupancy;
mod segment;
mod settings;

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use serde::{Deserialize, Serialize};

use crate::record::{AgentStateRecord, CallRecord};
use crate::Millis;

use acc::Acc;
use hash::FastMap;
use segment::{Outcome, Segment};

pub use settings::{AnswerMoment, KpiSettings, SlFormula};

/// The key of records without a language in [`compute_by`] by language.
pub const NO_LANGUAGE: &str = "(none)";

/// The time span a figure covers: a segment counts if its `Enqueued` mark is
/// in `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start, included.
    pub from: Millis,
    /// End, excluded.
    pub to: Millis,
}

impl Window {
    /// Whether `at` is in the window.
    pub fn contains(&self, at: Millis) -> bool {
        self.from <= at && at < self.to
    }
}

/// Which calls count; `None` keeps everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Filter {
    /// Only this queue's segments.
    pub queue: Option<String>,
    /// Only the segments this agent answered.
    pub agent: Option<String>,
    /// Only calls in this IVR language.
    pub language: Option<String>,
}

/// How [`compute_by`] splits the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// By the queue of each segment.
    Queue,
    /// By the agent who answered each segment (unanswered segments drop out).
    Agent,
    /// By the call's IVR language.
    Language,
}

/// The service level at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ServiceLevel {
    /// The threshold T, in seconds.
    pub threshold_secs: u64,
    /// The share (0 to 1) by the formula; `None` when nothing counts.
    pub value: Option<f64>,
}

/// The figures of a window. The field names are the JSON of the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Segments offered: answered + abandoned + overflowed + call-backs + other.
    pub offered: u64,
    /// Segments answered.
    pub answered: u64,
    /// Segments abandoned (short abandons excluded).
    pub abandoned: u64,
    /// Segments abandoned before the short-abandon threshold.
    pub short_abandoned: u64,
    /// Segments that left by an overflow rule or into another queue.
    pub overflowed: u64,
    /// Segments that ended in a call-back request.
    pub callbacks_requested: u64,
    /// Segments ended by the switch (transfer, switch hang-up, restart).
    pub other_ended: u64,
    /// Segments still waiting in live records; not offered yet.
    pub waiting: u64,
    /// `(T in seconds, segments answered within T)` per threshold.
    pub answered_within: Vec<(u64, u64)>,
    /// `(T in seconds, segments abandoned within T)` per threshold.
    pub abandoned_within: Vec<(u64, u64)>,
    /// The formula of `service_level`.
    pub formula: SlFormula,
    /// Service level per threshold.
    pub service_level: Vec<ServiceLevel>,
    /// Average speed of answer, seconds.
    pub asa_secs: Option<f64>,
    /// The longest wait of a counted segment, seconds.
    pub max_wait_secs: Option<f64>,
    /// Abandoned / offered.
    pub abandon_rate: Option<f64>,
    /// Answered segments whose talk has ended: the base of the AHT.
    pub handled: u64,
    /// Average handle time (talk + wrap-up), seconds.
    pub aht_secs: Option<f64>,
    /// Average talk time (hold included), seconds.
    pub talk_secs: Option<f64>,
    /// Average wrap-up time, seconds.
    pub wrap_up_secs: Option<f64>,
    /// Busy (on call + wrap-up) share of staffed agent time.
    pub occupancy: Option<f64>,
    /// Records with at least one counted segment.
    pub calls: u64,
    /// Calls from identified callers: the base of the repeat rate.
    pub repeat_base: u64,
    /// Calls whose caller had called within the repeat window before.
    pub repeat_calls: u64,
    /// Repeat calls / repeat base.
    pub repeat_rate: Option<f64>,
    /// CSAT answers counted.
    pub csat_answers: u64,
    /// Share of CSAT answers 4 or 5.
    pub csat: Option<f64>,
    /// Mean CSAT score (1 to 5).
    pub csat_mean: Option<f64>,
    /// NPS answers counted.
    pub nps_answers: u64,
    /// Promoters (9-10) minus detractors (0-6), in points (-100 to 100).
    pub nps: Option<f64>,
    /// QA evaluations counted.
    #[serde(default)]
    pub qa_evaluations: u64,
    /// The quality rate: the mean QA total as a share of its maximum (0 to 1).
    #[serde(default)]
    pub quality_rate: Option<f64>,
}

/// The figures of the calls in `window` that pass `filter`.
pub fn compute(
    records: &[CallRecord],
    agent_log: &[AgentStateRecord],
    window: Window,
    filter: &Filter,
    settings: &KpiSettings,
) -> Stats {
    let thresholds = settings.thresholds_ms();
    let mut repeats = Repeats::new(records, settings);
    let mut acc = Acc::new(thresholds.len());
    for (i, record) in records.iter().enumerate() {
        let repeat = repeats.visit(i);
        if filter.language.is_some() && record.language != filter.language {
            continue;
        }
        let mut counted = false;
        let keep = |queue: &str, at: Millis| window.contains(at) && filter.queue.as_deref().is_none_or(|q| q == queue);
        segment::for_each(record, settings, keep, |seg| {
            if let Some(agent) = filter.agent.as_deref() {
                if seg.outcome != Outcome::Answered || seg.agent != Some(agent) {
                    return;
                }
            }
            counted |= acc.add_segment(&seg, &thresholds);
        });
        if counted {
            acc.add_call(repeat);
            repeats.counted(i, 0);
            for survey in &record.surveys {
                if filter.agent.is_none() || survey.agent == filter.agent {
                    acc.add_survey(survey);
                }
            }
            for score in &record.evaluations {
                if filter.agent.is_none() || score.agent == filter.agent {
                    acc.add_qa(score);
                }
            }
        }
    }
    if let Some((flags, counted)) = repeats.redo() {
        acc.clear_repeats();
        for (i, _) in counted {
            acc.add_repeat(flags[i]);
        }
    }
    let times = occupancy::times(agent_log, window);
    let busy = match filter.agent.as_deref() {
        Some(agent) => times.get(agent).copied().unwrap_or_default(),
        None => occupancy::total(&times),
    };
    acc.finish(settings, busy)
}

/// The figures of the calls in `window`, split by `key`, in one pass.
pub fn compute_by(
    records: &[CallRecord],
    agent_log: &[AgentStateRecord],
    window: Window,
    settings: &KpiSettings,
    key: GroupBy,
) -> BTreeMap<String, Stats> {
    let thresholds = settings.thresholds_ms();
    let mut repeats = Repeats::new(records, settings);
    let mut index: FastMap<&str, usize> = FastMap::default();
    let mut groups: Vec<(&str, Acc)> = Vec::new();
    // The groups the current record counted in, each once (a few at most).
    let mut touched: Vec<usize> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let repeat = repeats.visit(i);
        touched.clear();
        let language = record.language.as_deref().unwrap_or(NO_LANGUAGE);
        let keep = |_: &str, at: Millis| window.contains(at);
        segment::for_each(record, settings, keep, |seg: Segment<'_>| {
            let name = match key {
                GroupBy::Queue => seg.queue,
                GroupBy::Language => language,
                GroupBy::Agent => match (seg.outcome, seg.agent) {
                    (Outcome::Answered, Some(agent)) => agent,
                    _ => return,
                },
            };
            let group = *index.entry(name).or_insert_with(|| {
                groups.push((name, Acc::new(thresholds.len())));
                groups.len() - 1
            });
            if groups[group].1.add_segment(&seg, &thresholds) && !touched.contains(&group) {
                touched.push(group);
            }
        });
        for &group in &touched {
            let (name, acc) = &mut groups[group];
            acc.add_call(repeat);
            repeats.counted(i, group);
            for survey in &record.surveys {
                if key != GroupBy::Agent || survey.agent.as_deref() == Some(*name) {
                    acc.add_survey(survey);
                }
            }
            for score in &record.evaluations {
                if key != GroupBy::Agent || score.agent.as_deref() == Some(*name) {
                    acc.add_qa(score);
                }
            }
        }
    }
    if let Some((flags, counted)) = repeats.redo() {
        groups.iter_mut().for_each(|(_, acc)| acc.clear_repeats());
        for (i, group) in counted {
            groups[group].1.add_repeat(flags[i]);
        }
    }
    let times = occupancy::times(agent_log, window);
    let total = occupancy::total(&times);
    if key == GroupBy::Agent {
        // Agents who were staffed but answered nothing still have an occupancy.
        for (agent, t) in &times {
            if t.staffed_ms > 0 && !index.contains_key(agent) {
                index.insert(agent, groups.len());
                groups.push((agent, Acc::new(thresholds.len())));
            }
        }
    }
    groups
        .into_iter()
        .map(|(name, acc)| {
            let busy = match key {
                GroupBy::Agent => times.get(name).copied().unwrap_or_default(),
                GroupBy::Queue | GroupBy::Language => total,
            };
            (name.to_owned(), acc.finish(settings, busy))
        })
        .collect()
}

/// The calls counted, as (record, group).
type Counted = Vec<(usize, usize)>;

/// Repeat callers, found in the same pass as the segments: while records
/// come in arrival order (as stored), a record's flag is known when it is
/// reached. If one comes out of order, the flags are worked out again in
/// arrival order at the end and the counted calls' repeats counted again.
struct Repeats<'a> {
    records: &'a [CallRecord],
    window_ms: u64,
    callers: Callers<'a>,
    latest: Millis,
    in_order: bool,
    counted: Counted,
}

impl<'a> Repeats<'a> {
    fn new(records: &'a [CallRecord], settings: &KpiSettings) -> Repeats<'a> {
        Repeats {
            records,
            window_ms: settings::duration_ms(settings.repeat_window),
            callers: Callers::new(records.len()),
            latest: Millis(0),
            in_order: true,
            counted: Vec::new(),
        }
    }

    /// Record `i`, visited in slice order: `Some(true)` if its caller had a
    /// call arrive within the repeat window before it, `None` for anonymous
    /// callers, records without marks, and once the order is broken.
    fn visit(&mut self, i: usize) -> Option<bool> {
        let at = self.records[i].arrival()?;
        if at < self.latest {
            self.in_order = false;
        }
        self.latest = self.latest.max(at);
        if !self.in_order {
            return None;
        }
        self.callers.repeat(self.records, i, at, self.window_ms)
    }

    /// Record `i` counted as a call in `group`.
    fn counted(&mut self, i: usize, group: usize) {
        self.counted.push((i, group));
    }

    /// If the records were out of order: every record's flag, worked out in
    /// arrival order, and the counted calls.
    fn redo(self) -> Option<(Vec<Option<bool>>, Counted)> {
        if self.in_order {
            return None;
        }
        let mut order: Vec<(Millis, usize)> = self
            .records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((r.arrival()?, i)))
            .collect();
        order.sort_unstable();
        let mut callers = Callers::new(self.records.len());
        let mut flags = vec![None; self.records.len()];
        for (at, i) in order {
            flags[i] = callers.repeat(self.records, i, at, self.window_ms);
        }
        Some((flags, self.counted))
    }
}

/// Each caller's last arrival. Keyed by a randomly keyed 64-bit hash of the
/// number (numbers come from the network: no flooding), and a number of up to
/// 16 bytes is kept in the entry to confirm a hit, so a lookup touches one
/// small table entry and never another record; two numbers with one hash (a
/// chance of one in 2^64) go to a plain map.
struct Callers<'a> {
    hasher: RandomState,
    last: FastMap<u64, Seen>,
    spill: HashMap<&'a str, Millis>,
}

/// A caller's last arrival, with the number (inline if short).
#[derive(Debug, Clone, Copy)]
struct Seen {
    at: Millis,
    index: usize,
    len: usize,
    head: [u8; 16],
}

impl Seen {
    fn new(caller: &str, at: Millis, index: usize) -> Seen {
        let bytes = caller.as_bytes();
        let mut head = [0u8; 16];
        let n = bytes.len().min(16);
        head[..n].copy_from_slice(&bytes[..n]);
        Seen {
            at,
            index,
            len: bytes.len(),
            head,
        }
    }

    fn is(&self, caller: &str, records: &[CallRecord]) -> bool {
        let bytes = caller.as_bytes();
        if bytes.len() != self.len {
            false
        } else if bytes.len() <= 16 {
            self.head[..bytes.len()] == *bytes
        } else {
            records[self.index].caller == caller
        }
    }
}

impl<'a> Callers<'a> {
    fn new(capacity: usize) -> Callers<'a> {
        Callers {
            hasher: RandomState::new(),
            last: FastMap::with_capacity_and_hasher(capacity / 2, Default::default()),
            spill: HashMap::new(),
        }
    }

    /// Whether the call `i` at `at` repeats its caller's last call, recording
    /// it as the last; `None` for anonymous callers.
    fn repeat(&mut self, records: &'a [CallRecord], i: usize, at: Millis, window_ms: u64) -> Option<bool> {
        let caller = records[i].caller.as_str();
        if caller.is_empty() || caller.eq_ignore_ascii_case("anonymous") {
            return None;
        }
        let previous = match self.last.entry(self.hasher.hash_one(caller)) {
            Entry::Vacant(entry) => {
                entry.insert(Seen::new(caller, at, i));
                None
            }
            Entry::Occupied(mut entry) => {
                let seen = *entry.get();
                if seen.is(caller, records) {
                    entry.insert(Seen::new(caller, at, i));
                    Some(seen.at)
                } else {
                    self.spill.insert(caller, at)
                }
            }
        };
        Some(previous.is_some_and(|p| at.0.saturating_sub(p.0) <= window_ms))
    }
}
