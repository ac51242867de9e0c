//! Cutting a call's timeline into queue segments (the rules are in the
//! module docs of [`crate::kpi`]).

use crate::record::{CallRecord, Milestone, Party};
use crate::Millis;

use super::settings::{duration_ms, AnswerMoment, KpiSettings};

/// How a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Answered,
    Abandoned,
    ShortAbandoned,
    Overflowed,
    Callback,
    Other,
    Waiting,
}

/// One visit of a call to a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Segment<'a> {
    pub(super) queue: &'a str,
    pub(super) enqueued: Millis,
    pub(super) outcome: Outcome,
    /// Enqueue to the answer moment, or to the mark that ended the segment.
    pub(super) wait_ms: u64,
    /// The agent who answered.
    pub(super) agent: Option<&'a str>,
    /// `(talk, wrap-up)` in milliseconds, once both are known.
    pub(super) handle: Option<(u64, u64)>,
}

/// Calls `f` with each queue segment of `record` whose queue and enqueue
/// time pass `keep`, in timeline order (the others are not worked out).
pub(super) fn for_each<'a>(
    record: &'a CallRecord,
    settings: &KpiSettings,
    mut keep: impl FnMut(&str, Millis) -> bool,
    mut f: impl FnMut(Segment<'a>),
) {
    for (i, mark) in record.marks.iter().enumerate() {
        if let Milestone::Enqueued { queue } = &mark.what {
            if keep(queue, mark.at) {
                f(segment(record, i, queue, mark.at, settings));
            }
        }
    }
}

/// Answer marks by kind: agent answered, bridged, first agent audio.
type Answers<'a> = [Option<(Millis, &'a str)>; 3];

fn segment<'a>(
    record: &'a CallRecord,
    start: usize,
    queue: &'a str,
    enqueued: Millis,
    settings: &KpiSettings,
) -> Segment<'a> {
    let marks = &record.marks;
    let mut answers: Answers<'a> = [None; 3];
    let mut answered = false;
    // The end of an unanswered segment, or the end of talk of an answered one
    // (the mark's index, time, and for `TalkEnded` the agent).
    let mut close: Option<(usize, Millis, Outcome, Option<&'a str>)> = None;
    for (j, mark) in marks.iter().enumerate().skip(start + 1) {
        let at = mark.at;
        let unanswered = |outcome| Some((j, at, outcome, None));
        match &mark.what {
            Milestone::AgentAnswered { agent } => {
                answered = true;
                answers[0].get_or_insert((at, agent));
            }
            Milestone::Bridged { agent } => {
                answered = true;
                answers[1].get_or_insert((at, agent));
            }
            Milestone::FirstAgentAudio { agent } => {
                answered = true;
                answers[2].get_or_insert((at, agent));
            }
            Milestone::TalkEnded { agent } if answered => close = Some((j, at, Outcome::Answered, Some(agent))),
            Milestone::Enqueued { .. } if answered => close = Some((j, at, Outcome::Answered, None)),
            Milestone::HungUp { .. } if answered => close = Some((j, at, Outcome::Answered, None)),
            Milestone::Enqueued { .. } | Milestone::Overflowed { .. } if !answered => {
                close = unanswered(Outcome::Overflowed)
            }
            Milestone::Abandoned { .. } | Milestone::HungUp { by: Party::Caller } if !answered => {
                close = unanswered(Outcome::Abandoned)
            }
            Milestone::CallbackRequested { .. } if !answered => close = unanswered(Outcome::Callback),
            Milestone::Transferred { .. } | Milestone::HungUp { .. } if !answered => close = unanswered(Outcome::Other),
            _ => {}
        }
        if close.is_some() {
            break;
        }
    }
    if answered {
        return answered_segment(record, queue, enqueued, &answers, close, settings.answered_at);
    }
    let (at, outcome) = match close {
        Some((_, at, outcome, _)) => (at, outcome),
        None => match (record.end, marks.last()) {
            (Some(_), Some(last)) => (last.at, Outcome::Other),
            _ => (enqueued, Outcome::Waiting),
        },
    };
    let wait_ms = at.0.saturating_sub(enqueued.0);
    let outcome = if outcome == Outcome::Abandoned && wait_ms < duration_ms(settings.short_abandon) {
        Outcome::ShortAbandoned
    } else {
        outcome
    };
    Segment {
        queue,
        enqueued,
        outcome,
        wait_ms,
        agent: None,
        handle: None,
    }
}

fn answered_segment<'a>(
    record: &'a CallRecord,
    queue: &'a str,
    enqueued: Millis,
    answers: &Answers<'a>,
    talk_end: Option<(usize, Millis, Outcome, Option<&'a str>)>,
    moment: AnswerMoment,
) -> Segment<'a> {
    let order = match moment {
        AnswerMoment::AgentAnswered => [0, 1, 2],
        AnswerMoment::Bridged => [1, 0, 2],
        AnswerMoment::FirstAgentAudio => [2, 1, 0],
    };
    let (answer_at, agent) = order.iter().find_map(|&k| answers[k]).unwrap_or((enqueued, ""));
    let handle = match talk_end {
        Some((index, end, _, talk_agent)) => {
            let talk = end.0.saturating_sub(answer_at.0);
            let wrap_agent = talk_agent.unwrap_or(agent);
            let wrap_end = record.marks[index + 1..].iter().find_map(|m| match &m.what {
                Milestone::WrapUpEnded { agent } if agent == wrap_agent => Some(m.at),
                _ => None,
            });
            match (wrap_end, record.end) {
                (Some(w), _) => Some((talk, w.0.saturating_sub(end.0))),
                (None, Some(_)) => Some((talk, 0)),
                (None, None) => None,
            }
        }
        // A closed record that never said when talk ended: talk to its last mark.
        None => match (record.end, record.marks.last()) {
            (Some(_), Some(last)) => Some((last.at.0.saturating_sub(answer_at.0), 0)),
            _ => None,
        },
    };
    Segment {
        queue,
        enqueued,
        outcome: Outcome::Answered,
        wait_ms: answer_at.0.saturating_sub(enqueued.0),
        agent: Some(agent),
        handle,
    }
}
