//! Service level, ASA, abandonment and AHT from hand-built call timelines:
//! every formula, the edges at T and at the short-abandon threshold, overflow,
//! call-backs, calls visiting several queues, and the answer-moment setting.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use queue::kpi::{compute, AnswerMoment, Filter, KpiSettings, SlFormula, Stats, Window};
use queue::record::{CallRecord, End, Mark, Milestone, Party};
use queue::Millis;

const S: u64 = 1000;

fn record(id: &str, marks: Vec<(u64, Milestone)>) -> CallRecord {
    CallRecord {
        id: id.into(),
        caller: format!("+1555{id}"),
        called: "100".into(),
        language: None,
        marks: std::iter::once((0, Milestone::Arrival))
            .chain(marks)
            .map(|(at, what)| Mark { at: Millis(at), what })
            .collect(),
        surveys: Vec::new(),
        legs: Vec::new(),
        evaluations: Vec::new(),
        end: Some(End::Completed),
    }
}

fn enq(q: &str) -> Milestone {
    Milestone::Enqueued { queue: q.into() }
}
fn answered(a: &str) -> Milestone {
    Milestone::AgentAnswered { agent: a.into() }
}
fn bridged(a: &str) -> Milestone {
    Milestone::Bridged { agent: a.into() }
}
fn audio(a: &str) -> Milestone {
    Milestone::FirstAgentAudio { agent: a.into() }
}
fn abandoned(q: &str) -> Milestone {
    Milestone::Abandoned { queue: q.into() }
}
fn hung_up(by: Party) -> Milestone {
    Milestone::HungUp { by }
}
fn talk_ended(a: &str) -> Milestone {
    Milestone::TalkEnded { agent: a.into() }
}
fn wrap_ended(a: &str) -> Milestone {
    Milestone::WrapUpEnded { agent: a.into() }
}

/// Enqueued at 1 s, bridged `wait` ms later, hung up a minute after.
fn answered_after(id: &str, wait: u64) -> CallRecord {
    record(
        id,
        vec![
            (S, enq("q")),
            (S + wait, bridged("a1")),
            (S + wait + 60 * S, hung_up(Party::Caller)),
        ],
    )
}

/// Enqueued at 1 s, abandoned `wait` ms later.
fn abandoned_after(id: &str, wait: u64) -> CallRecord {
    record(
        id,
        vec![
            (S, enq("q")),
            (S + wait, abandoned("q")),
            (S + wait, hung_up(Party::Caller)),
        ],
    )
}

const ALL: Window = Window {
    from: Millis(0),
    to: Millis(u64::MAX),
};

fn stats(records: &[CallRecord], settings: &KpiSettings) -> Stats {
    compute(records, &[], ALL, &Filter::default(), settings)
}

fn with_formula(formula: SlFormula) -> KpiSettings {
    KpiSettings {
        formula,
        ..KpiSettings::default()
    }
}

fn sl(stats: &Stats) -> Vec<f64> {
    stats.service_level.iter().map(|s| s.value.unwrap()).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// Ten calls covering every edge; counts at T = 20 s: answered within 2,
/// abandoned within 2; at 60 s: 3 and 3; offered 9 (the short abandon drops).
fn mixed() -> Vec<CallRecord> {
    vec![
        answered_after("a", 10 * S),
        answered_after("b", 20 * S),     // exactly T: within
        answered_after("c", 20 * S + 1), // a millisecond late
        answered_after("d", 90 * S),
        abandoned_after("e", 3 * S),  // short abandon
        abandoned_after("f", 5 * S),  // exactly the short threshold: not short
        abandoned_after("g", 20 * S), // abandoned exactly at T: within
        abandoned_after("h", 30 * S),
        record(
            "i",
            vec![
                (S, enq("q")),
                (
                    41 * S,
                    Milestone::Overflowed {
                        queue: "q".into(),
                        to: "voicemail:q".into(),
                    },
                ),
                (100 * S, hung_up(Party::Caller)),
            ],
        ),
        record(
            "j",
            vec![
                (S, enq("q")),
                (51 * S, Milestone::CallbackRequested { queue: "q".into() }),
                (52 * S, hung_up(Party::Caller)),
            ],
        ),
    ]
}

#[test]
fn counts_of_each_outcome() {
    let s = stats(&mixed(), &KpiSettings::default());
    assert_eq!(s.offered, 9);
    assert_eq!(s.answered, 4);
    assert_eq!(s.abandoned, 3);
    assert_eq!(s.short_abandoned, 1);
    assert_eq!(s.overflowed, 1);
    assert_eq!(s.callbacks_requested, 1);
    assert_eq!(s.other_ended, 0);
    assert_eq!(s.answered_within, vec![(20, 2), (60, 3)]);
    assert_eq!(s.abandoned_within, vec![(20, 2), (60, 3)]);
    assert!(close(s.asa_secs.unwrap(), (10.0 + 20.0 + 20.001 + 90.0) / 4.0));
    assert_eq!(s.max_wait_secs, Some(90.0));
    assert!(close(s.abandon_rate.unwrap(), 3.0 / 9.0));
    assert_eq!(s.calls, 9);
}

#[test]
fn every_service_level_formula() {
    let records = mixed();
    let cases = [
        (SlFormula::AbandonsIgnored, [2.0 / 7.0, 3.0 / 6.0]),
        (SlFormula::AbandonsNegative, [2.0 / 9.0, 3.0 / 9.0]),
        (SlFormula::AbandonsPositive, [4.0 / 9.0, 6.0 / 9.0]),
        (SlFormula::AnsweredOnly, [2.0 / 4.0, 3.0 / 4.0]),
        (SlFormula::AsteriskSl2, [4.0 / 7.0, 6.0 / 7.0]),
    ];
    for (formula, expected) in cases {
        let s = stats(&records, &with_formula(formula));
        assert_eq!(s.formula, formula);
        let got = sl(&s);
        assert!(
            close(got[0], expected[0]) && close(got[1], expected[1]),
            "{formula:?}: {got:?}"
        );
        assert_eq!(s.service_level[0].threshold_secs, 20);
    }
}

#[test]
fn short_abandon_threshold_is_a_setting() {
    let records = mixed();
    let none_short = KpiSettings {
        short_abandon: Duration::ZERO,
        ..KpiSettings::default()
    };
    let s = stats(&records, &none_short);
    assert_eq!((s.short_abandoned, s.abandoned, s.offered), (0, 4, 10));
    let longer = KpiSettings {
        short_abandon: Duration::from_secs(6),
        ..KpiSettings::default()
    };
    let s = stats(&records, &longer);
    assert_eq!((s.short_abandoned, s.abandoned, s.offered), (2, 2, 8));
}

#[test]
fn no_calls_no_figures() {
    let s = stats(&[], &KpiSettings::default());
    assert_eq!(s.offered, 0);
    assert!(s.service_level.iter().all(|l| l.value.is_none()));
    assert_eq!(
        (s.asa_secs, s.abandon_rate, s.aht_secs, s.max_wait_secs),
        (None, None, None, None)
    );
    // Only short abandons: nothing offered either.
    let s = stats(&[abandoned_after("x", 1000)], &KpiSettings::default());
    assert_eq!((s.offered, s.short_abandoned, s.calls), (0, 1, 0));
}

#[test]
fn answer_moment_setting_moves_the_wait() {
    let records = vec![
        record(
            "a",
            vec![
                (0, enq("q")),
                (15 * S, answered("a1")),
                (18 * S, bridged("a1")),
                (21 * S, audio("a1")),
                (80 * S, hung_up(Party::Agent)),
            ],
        ),
        // No agent audio ever: first_agent_audio falls back to the bridge.
        record(
            "b",
            vec![
                (0, enq("q")),
                (5 * S, answered("a2")),
                (6 * S, bridged("a2")),
                (80 * S, hung_up(Party::Agent)),
            ],
        ),
    ];
    let at = |answered_at| KpiSettings {
        answered_at,
        ..KpiSettings::default()
    };
    let s = stats(&records, &at(AnswerMoment::AgentAnswered));
    assert_eq!((s.asa_secs, s.answered_within[0]), (Some(10.0), (20, 2)));
    let s = stats(&records, &at(AnswerMoment::Bridged));
    assert_eq!((s.asa_secs, s.answered_within[0]), (Some(12.0), (20, 2)));
    let s = stats(&records, &at(AnswerMoment::FirstAgentAudio));
    assert_eq!((s.asa_secs, s.answered_within[0]), (Some(13.5), (20, 1)));
    assert_eq!(s.answered, 2);
}

#[test]
fn an_answer_mark_makes_the_segment_answered() {
    // The agent's phone answered, then the caller hung up before the bridge:
    // an agent took the call, so it is answered (at the agent's answer).
    let r = record(
        "a",
        vec![
            (0, enq("q")),
            (8 * S, answered("a1")),
            (9 * S, abandoned("q")),
            (9 * S, hung_up(Party::Caller)),
        ],
    );
    let s = stats(&[r], &KpiSettings::default());
    assert_eq!((s.answered, s.abandoned, s.asa_secs), (1, 0, Some(8.0)));
}

#[test]
fn hang_ups_without_an_abandoned_mark() {
    let records = vec![
        // The caller's BYE while queued is an abandon.
        record("a", vec![(0, enq("q")), (30 * S, hung_up(Party::Caller))]),
        // The switch ending the call, or a transfer out, is neither.
        record("b", vec![(0, enq("q")), (30 * S, hung_up(Party::Switch))]),
        record(
            "c",
            vec![
                (0, enq("q")),
                (30 * S, Milestone::Transferred { to: "sip:x@y".into() }),
                (31 * S, hung_up(Party::Switch)),
            ],
        ),
        // A short BYE is a short abandon.
        record("d", vec![(0, enq("q")), (2 * S, hung_up(Party::Caller))]),
    ];
    let s = stats(&records, &KpiSettings::default());
    assert_eq!((s.abandoned, s.other_ended, s.short_abandoned, s.offered), (1, 2, 1, 3));
    assert_eq!(s.abandoned_within, vec![(20, 0), (60, 1)]);
}

#[test]
fn live_and_interrupted_records() {
    let mut live = record("a", vec![(0, enq("q"))]);
    live.end = None;
    let mut interrupted = record(
        "b",
        vec![(0, enq("q")), (40 * S, Milestone::Offered { agent: "a1".into() })],
    );
    interrupted.end = Some(End::Interrupted);
    let s = stats(&[live, interrupted], &KpiSettings::default());
    assert_eq!((s.waiting, s.other_ended, s.offered, s.calls), (1, 1, 1, 1));
    assert_eq!(s.max_wait_secs, Some(40.0));
}

#[test]
fn multi_queue_call() {
    // Overflowed from sales to support after 30 s, answered there 10 s later,
    // then transferred back into sales by the agent and answered again.
    let r = record(
        "a",
        vec![
            (0, enq("sales")),
            (
                30 * S,
                Milestone::Overflowed {
                    queue: "sales".into(),
                    to: "queue:support".into(),
                },
            ),
            (30 * S, enq("support")),
            (40 * S, bridged("s1")),
            (100 * S, enq("sales")),
            (103 * S, bridged("s2")),
            (200 * S, talk_ended("s2")),
            (200 * S, hung_up(Party::Caller)),
            (210 * S, wrap_ended("s2")),
        ],
    );
    let records = [r];
    let s = stats(&records, &KpiSettings::default());
    assert_eq!((s.offered, s.answered, s.overflowed, s.calls), (3, 2, 1, 1));
    let only = |q: &str| {
        let filter = Filter {
            queue: Some(q.into()),
            ..Filter::default()
        };
        compute(&records, &[], ALL, &filter, &KpiSettings::default())
    };
    let sales = only("sales");
    assert_eq!((sales.offered, sales.answered, sales.overflowed), (2, 1, 1));
    assert_eq!(sales.asa_secs, Some(3.0));
    assert_eq!(sales.answered_within, vec![(20, 1), (60, 1)]);
    // Abandons ignored: 1 / (2 - 0); the overflow counts against the queue.
    assert_eq!(sl(&sales), vec![0.5, 0.5]);
    let support = only("support");
    assert_eq!(
        (support.offered, support.answered, support.asa_secs),
        (1, 1, Some(10.0))
    );
    // The first agent's talk ended when the call went back to a queue.
    assert_eq!((support.talk_secs, support.wrap_up_secs), (Some(60.0), Some(0.0)));
    assert_eq!(
        (sales.talk_secs, sales.wrap_up_secs, sales.aht_secs),
        (Some(97.0), Some(10.0), Some(107.0))
    );
}

#[test]
fn enqueued_again_without_an_overflow_mark_is_an_overflow() {
    let r = record(
        "a",
        vec![
            (0, enq("first")),
            (12 * S, enq("second")),
            (20 * S, abandoned("second")),
            (20 * S, hung_up(Party::Caller)),
        ],
    );
    let s = stats(&[r], &KpiSettings::default());
    assert_eq!((s.offered, s.overflowed, s.abandoned), (2, 1, 1));
    assert_eq!(s.abandoned_within, vec![(20, 1), (60, 1)]);
}

#[test]
fn handle_time_is_talk_plus_wrap_up() {
    let records = vec![
        // Talk 120 s, wrap-up 30 s (its end after the hang-up).
        record(
            "a",
            vec![
                (0, enq("q")),
                (10 * S, bridged("a1")),
                (130 * S, talk_ended("a1")),
                (131 * S, hung_up(Party::Caller)),
                (160 * S, wrap_ended("a1")),
            ],
        ),
        // No wrap-up recorded in a closed record: none.
        record(
            "b",
            vec![(0, enq("q")), (10 * S, bridged("a2")), (70 * S, hung_up(Party::Agent))],
        ),
        // Live, wrap-up under way: left out until it ends.
        {
            let mut r = record(
                "c",
                vec![
                    (0, enq("q")),
                    (10 * S, bridged("a3")),
                    (500 * S, talk_ended("a3")),
                    (500 * S, hung_up(Party::Caller)),
                ],
            );
            r.end = None;
            r
        },
    ];
    let s = stats(&records, &KpiSettings::default());
    assert_eq!((s.answered, s.handled), (3, 2));
    assert_eq!(s.talk_secs, Some(90.0));
    assert_eq!(s.wrap_up_secs, Some(15.0));
    assert_eq!(s.aht_secs, Some(105.0));
}

#[test]
fn window_is_by_enqueue_time() {
    let records = vec![
        record(
            "a",
            vec![
                (10 * S, enq("q")),
                (15 * S, bridged("a1")),
                (99 * S, hung_up(Party::Caller)),
            ],
        ),
        record(
            "b",
            vec![
                (20 * S, enq("q")),
                (25 * S, bridged("a1")),
                (99 * S, hung_up(Party::Caller)),
            ],
        ),
    ];
    let window = |from: u64, to: u64| Window {
        from: Millis(from),
        to: Millis(to),
    };
    let count = |w| compute(&records, &[], w, &Filter::default(), &KpiSettings::default()).offered;
    assert_eq!(count(window(10 * S, 20 * S)), 1); // from included, to excluded
    assert_eq!(count(window(10 * S + 1, 20 * S + 1)), 1);
    assert_eq!(count(window(0, 10 * S)), 0);
    assert_eq!(count(window(0, 100 * S)), 2);
}

/// Stored records read back give the same figures as the live ones.
#[test]
fn stored_records_give_the_same_figures() {
    let records = mixed();
    let stored = serde_json::to_string(&records).unwrap();
    let read_back: Vec<CallRecord> = serde_json::from_str(&stored).unwrap();
    let settings = KpiSettings::default();
    assert_eq!(stats(&records, &settings), stats(&read_back, &settings));
}
