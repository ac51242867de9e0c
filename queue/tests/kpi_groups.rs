//! Figures split by queue, agent and language; filters; occupancy clipped to
//! the window; repeat callers; CSAT and NPS; the settings' TOML form and the
//! JSON field names; and, over seeded random timelines, that a group's figures
//! equal the filtered figures.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use queue::kpi::{compute, compute_by, AnswerMoment, Filter, GroupBy, KpiSettings, SlFormula, Window, NO_LANGUAGE};
use queue::record::{
    AgentStateKind, AgentStateRecord, CallRecord, End, Mark, Milestone, Party, SurveyAnswer, SurveyKind,
};
use queue::Millis;

const S: u64 = 1000;
const H: u64 = 3600 * S;

fn record(id: &str, caller: &str, arrival: u64, marks: Vec<(u64, Milestone)>) -> CallRecord {
    CallRecord {
        id: id.into(),
        caller: caller.into(),
        called: "100".into(),
        language: None,
        marks: std::iter::once((arrival, Milestone::Arrival))
            .chain(marks)
            .map(|(at, what)| Mark { at: Millis(at), what })
            .collect(),
        surveys: Vec::new(),
        legs: Vec::new(),
        evaluations: Vec::new(),
        end: Some(End::Completed),
    }
}

/// A call arriving at `at`, queued in `queue` 2 s later, answered by `agent`
/// after `wait` seconds (or abandoned then if `agent` is `None`).
fn call(id: &str, caller: &str, at: u64, queue: &str, agent: Option<&str>, wait: u64) -> CallRecord {
    let enq = at + 2 * S;
    let end = enq + wait * S;
    let mut marks = vec![(enq, Milestone::Enqueued { queue: queue.into() })];
    match agent {
        Some(agent) => {
            marks.push((end, Milestone::Bridged { agent: agent.into() }));
            marks.push((end + 100 * S, Milestone::TalkEnded { agent: agent.into() }));
            marks.push((end + 100 * S, Milestone::HungUp { by: Party::Caller }));
            marks.push((end + 120 * S, Milestone::WrapUpEnded { agent: agent.into() }));
        }
        None => {
            marks.push((end, Milestone::Abandoned { queue: queue.into() }));
            marks.push((end, Milestone::HungUp { by: Party::Caller }));
        }
    }
    record(id, caller, at, marks)
}

fn survey(kind: SurveyKind, score: u32, agent: &str) -> SurveyAnswer {
    SurveyAnswer {
        kind,
        score,
        agent: Some(agent.into()),
        at: Millis(0),
    }
}

fn state(agent: &str, at: u64, state: AgentStateKind) -> AgentStateRecord {
    AgentStateRecord {
        agent: agent.into(),
        at: Millis(at),
        state,
        reason: None,
    }
}

const ALL: Window = Window {
    from: Millis(0),
    to: Millis(u64::MAX),
};

fn sample() -> Vec<CallRecord> {
    let mut en = call("1", "+1", 0, "sales", Some("a1"), 10);
    en.language = Some("en".into());
    let mut es = call("2", "+2", 10 * S, "support", Some("a2"), 40);
    es.language = Some("es".into());
    let mut en2 = call("3", "+3", 20 * S, "sales", None, 30);
    en2.language = Some("en".into());
    let plain = call("4", "+4", 30 * S, "support", Some("a1"), 5);
    vec![en, es, en2, plain]
}

#[test]
fn grouped_by_queue_agent_and_language() {
    let records = sample();
    let settings = KpiSettings::default();
    let by_queue = compute_by(&records, &[], ALL, &settings, GroupBy::Queue);
    assert_eq!(by_queue.keys().collect::<Vec<_>>(), ["sales", "support"]);
    assert_eq!(
        (
            by_queue["sales"].offered,
            by_queue["sales"].answered,
            by_queue["sales"].abandoned
        ),
        (2, 1, 1)
    );
    assert_eq!((by_queue["support"].offered, by_queue["support"].answered), (2, 2));
    assert_eq!(by_queue["support"].asa_secs, Some(22.5));

    let by_agent = compute_by(&records, &[], ALL, &settings, GroupBy::Agent);
    assert_eq!(by_agent.keys().collect::<Vec<_>>(), ["a1", "a2"]);
    assert_eq!((by_agent["a1"].offered, by_agent["a1"].answered), (2, 2));
    assert_eq!(by_agent["a1"].asa_secs, Some(7.5));
    assert_eq!(by_agent["a2"].answered_within, vec![(20, 0), (60, 1)]);
    assert_eq!(by_agent["a1"].aht_secs, Some(120.0));

    let by_language = compute_by(&records, &[], ALL, &settings, GroupBy::Language);
    assert_eq!(by_language.keys().collect::<Vec<_>>(), [NO_LANGUAGE, "en", "es"]);
    assert_eq!((by_language["en"].offered, by_language["en"].abandoned), (2, 1));
    assert_eq!(by_language[NO_LANGUAGE].offered, 1);

    // The filters give the same figures as the groups.
    let filtered = |filter: Filter| compute(&records, &[], ALL, &filter, &settings);
    let f = |queue: Option<&str>, agent: Option<&str>, language: Option<&str>| Filter {
        queue: queue.map(Into::into),
        agent: agent.map(Into::into),
        language: language.map(Into::into),
    };
    assert_eq!(filtered(f(Some("sales"), None, None)), by_queue["sales"]);
    assert_eq!(filtered(f(None, Some("a1"), None)), by_agent["a1"]);
    assert_eq!(filtered(f(None, None, Some("es"))), by_language["es"]);
    // Filters combine.
    let s = filtered(f(Some("support"), Some("a1"), None));
    assert_eq!((s.offered, s.asa_secs), (1, Some(5.0)));
}

#[test]
fn occupancy_is_clipped_to_the_window() {
    let log = vec![
        state("a1", 0, AgentStateKind::Available),
        state("a2", 0, AgentStateKind::OnCall), // on call through the window
        state("a1", 100 * S, AgentStateKind::OnCall),
        state("a1", 200 * S, AgentStateKind::WrapUp),
        state("a1", 250 * S, AgentStateKind::Available),
        state("a1", 300 * S, AgentStateKind::Paused),
        state("a1", 400 * S, AgentStateKind::LoggedOut),
        state("a3", 360 * S, AgentStateKind::Available), // after the window
    ];
    let window = Window {
        from: Millis(150 * S),
        to: Millis(350 * S),
    };
    let one = |agent: &str| {
        let filter = Filter {
            agent: Some(agent.into()),
            ..Filter::default()
        };
        compute(&[], &log, window, &filter, &KpiSettings::default()).occupancy
    };
    // a1: busy 150-250 (100 s), staffed 150-300 (150 s); paused after.
    assert_eq!(one("a1"), Some(100.0 / 150.0));
    assert_eq!(one("a2"), Some(1.0));
    assert_eq!(one("a3"), None);
    let all = compute(&[], &log, window, &Filter::default(), &KpiSettings::default());
    assert_eq!(all.occupancy, Some(300.0 / 350.0));
    // Agents with time but no calls still show up by agent; a3 has none.
    let by_agent = compute_by(&[], &log, window, &KpiSettings::default(), GroupBy::Agent);
    assert_eq!(by_agent.keys().collect::<Vec<_>>(), ["a1", "a2"]);
    assert_eq!(by_agent["a1"].occupancy, Some(100.0 / 150.0));
    // Out of order logs are sorted first.
    let mut shuffled = log.clone();
    shuffled.reverse();
    let again = compute(&[], &shuffled, window, &Filter::default(), &KpiSettings::default());
    assert_eq!(again.occupancy, all.occupancy);
}

#[test]
fn repeat_callers() {
    let records = vec![
        call("1", "+111", 0, "q", Some("a1"), 1),               // before the window
        call("2", "+222", 0, "q", Some("a1"), 1),               // before the window
        call("3", "+111", 10 * H, "q", Some("a1"), 1),          // repeat of 1
        call("4", "+222", 30 * H, "q", Some("a1"), 1),          // 30 h after 2: not a repeat
        call("5", "+333", 31 * H, "q", Some("a1"), 1),          // first call
        call("6", "anonymous", 32 * H, "q", Some("a1"), 1),     // left out
        call("7", "", 33 * H, "q", Some("a1"), 1),              // left out
        call("8", "+333", 31 * H + 24 * H, "q", Some("a1"), 1), // exactly 24 h later: a repeat
        call("9", "anonymous", 33 * H + 1, "q", Some("a1"), 1),
    ];
    let window = Window {
        from: Millis(5 * H),
        to: Millis(60 * H),
    };
    let s = compute(&records, &[], window, &Filter::default(), &KpiSettings::default());
    assert_eq!((s.calls, s.repeat_base, s.repeat_calls), (7, 4, 2));
    assert_eq!(s.repeat_rate, Some(0.5));
    // A shorter window makes fewer repeats; order of the slice does not matter.
    let settings = KpiSettings {
        repeat_window: Duration::from_secs(3600),
        ..KpiSettings::default()
    };
    let mut reversed = records.clone();
    reversed.reverse();
    let s = compute(&reversed, &[], window, &Filter::default(), &settings);
    assert_eq!((s.repeat_base, s.repeat_calls), (4, 0));
}

#[test]
fn csat_and_nps() {
    let mut a = call("1", "+1", 0, "q", Some("a1"), 1);
    a.surveys = vec![
        survey(SurveyKind::Csat, 5, "a1"),
        survey(SurveyKind::Nps, 10, "a1"),
        survey(SurveyKind::Csat, 9, "a1"), // off the scale
    ];
    let mut b = call("2", "+2", 0, "q", Some("a2"), 1);
    b.surveys = vec![survey(SurveyKind::Csat, 4, "a2"), survey(SurveyKind::Nps, 9, "a2")];
    let mut c = call("3", "+3", 0, "q", Some("a2"), 1);
    c.surveys = vec![
        survey(SurveyKind::Csat, 3, "a2"),
        survey(SurveyKind::Csat, 1, "a2"),
        survey(SurveyKind::Nps, 8, "a2"),
        survey(SurveyKind::Nps, 3, "a2"),
        survey(SurveyKind::Nps, 0, "a2"),
    ];
    let mut short = call("4", "+4", 0, "q", None, 1); // a short abandon: not counted
    short.surveys = vec![survey(SurveyKind::Csat, 1, "a1")];
    let records = vec![a, b, c, short];
    let s = compute(&records, &[], ALL, &Filter::default(), &KpiSettings::default());
    assert_eq!(s.csat_answers, 4);
    assert_eq!(s.csat, Some(0.5));
    assert_eq!(s.csat_mean, Some(3.25));
    assert_eq!(s.nps_answers, 5);
    assert_eq!(s.nps, Some(0.0)); // 2 promoters, 2 detractors of 5
    let by_agent = compute_by(&records, &[], ALL, &KpiSettings::default(), GroupBy::Agent);
    assert_eq!((by_agent["a1"].csat, by_agent["a1"].nps), (Some(1.0), Some(100.0)));
    assert_eq!(by_agent["a2"].nps, Some(-25.0));
    assert_eq!(by_agent["a2"].csat_mean, Some(8.0 / 3.0));
}

#[test]
fn settings_from_toml() {
    let s: KpiSettings = toml::from_str("").unwrap();
    assert_eq!(s, KpiSettings::default());
    assert_eq!(s.thresholds, [Duration::from_secs(20), Duration::from_secs(60)]);
    assert_eq!(s.formula, SlFormula::AbandonsIgnored);
    assert_eq!(s.short_abandon, Duration::from_secs(5));
    assert_eq!(s.repeat_window, Duration::from_secs(24 * 3600));
    assert_eq!(s.answered_at, AnswerMoment::Bridged);

    let s: KpiSettings = toml::from_str(
        "thresholds_secs = [15, 30, 90]\nformula = \"asterisk_sl2\"\nshort_abandon_secs = 0\n\
         repeat_window_hours = 72\nanswered_at = \"first_agent_audio\"\n",
    )
    .unwrap();
    assert_eq!(s.thresholds.len(), 3);
    assert_eq!(s.formula, SlFormula::AsteriskSl2);
    assert_eq!(s.short_abandon, Duration::ZERO);
    assert_eq!(s.repeat_window, Duration::from_secs(72 * 3600));
    assert_eq!(s.answered_at, AnswerMoment::FirstAgentAudio);
    for name in [
        "abandons_ignored",
        "abandons_negative",
        "abandons_positive",
        "answered_only",
    ] {
        let s: KpiSettings = toml::from_str(&format!("formula = \"{name}\"")).unwrap();
        assert_eq!(
            toml::to_string(&s).unwrap().lines().nth(1).unwrap(),
            format!("formula = \"{name}\"")
        );
    }
    let err = toml::from_str::<KpiSettings>("threshold_secs = [20]").unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
    assert!(toml::from_str::<KpiSettings>("formula = \"cisco\"").is_err());
    assert!(toml::from_str::<KpiSettings>("answered_at = \"ringing\"").is_err());
}

#[test]
fn stats_json_field_names() {
    let s = compute(&sample(), &[], ALL, &Filter::default(), &KpiSettings::default());
    let json = serde_json::to_value(&s).unwrap();
    for field in [
        "offered",
        "answered",
        "abandoned",
        "short_abandoned",
        "overflowed",
        "callbacks_requested",
        "answered_within",
        "abandoned_within",
        "service_level",
        "asa_secs",
        "max_wait_secs",
        "abandon_rate",
        "aht_secs",
        "talk_secs",
        "wrap_up_secs",
        "occupancy",
        "repeat_rate",
        "csat",
        "nps",
    ] {
        assert!(json.get(field).is_some(), "{field}");
    }
    assert_eq!(json["service_level"][0]["threshold_secs"], 20);
    assert_eq!(json["formula"], "abandons_ignored");
    assert_eq!(json["answered_within"][1], serde_json::json!([60, 3]));
}

/// Random timelines: the groups add up to the whole, each group equals its
/// filter, and every figure stays in range.
#[test]
fn groups_equal_filters_on_random_timelines() {
    let mut rng = StdRng::seed_from_u64(7);
    let queues = ["q1", "q2", "q3"];
    let agents = ["a1", "a2", "a3", "a4"];
    let mut records = Vec::new();
    for i in 0..2000u64 {
        let at = i * 7 * S + rng.gen_range(0..5 * S);
        let mut marks = Vec::new();
        let mut t = at + rng.gen_range(0..20 * S);
        let visits = rng.gen_range(1..=3);
        let mut ended = false;
        for _ in 0..visits {
            marks.push((
                t,
                Milestone::Enqueued {
                    queue: queues[rng.gen_range(0..3)].into(),
                },
            ));
            t += rng.gen_range(0..120 * S);
            let agent = agents[rng.gen_range(0..4)];
            match rng.gen_range(0..10) {
                0..=5 => {
                    marks.push((t, Milestone::AgentAnswered { agent: agent.into() }));
                    if rng.gen_bool(0.9) {
                        t += rng.gen_range(0..2 * S);
                        marks.push((t, Milestone::Bridged { agent: agent.into() }));
                    }
                    t += rng.gen_range(10 * S..300 * S);
                    marks.push((t, Milestone::TalkEnded { agent: agent.into() }));
                    if rng.gen_bool(0.3) {
                        continue; // transferred to another queue
                    }
                    marks.push((t, Milestone::HungUp { by: Party::Agent }));
                    marks.push((
                        t + rng.gen_range(0..60 * S),
                        Milestone::WrapUpEnded { agent: agent.into() },
                    ));
                }
                6 => marks.push((t, Milestone::Abandoned { queue: "x".into() })),
                7 => marks.push((t, Milestone::CallbackRequested { queue: "x".into() })),
                8 => {
                    marks.push((
                        t,
                        Milestone::Overflowed {
                            queue: "x".into(),
                            to: "queue:y".into(),
                        },
                    ));
                    continue;
                }
                _ => marks.push((t, Milestone::HungUp { by: Party::Caller })),
            }
            ended = true;
            break;
        }
        let mut r = record(&i.to_string(), &format!("+{}", rng.gen_range(0..500)), at, marks);
        r.language = [None, Some("en".to_string()), Some("es".to_string())][rng.gen_range(0..3)].clone();
        if !ended && rng.gen_bool(0.5) {
            r.end = None;
        }
        r.surveys = vec![survey(
            SurveyKind::Csat,
            rng.gen_range(1..=5),
            agents[rng.gen_range(0..4)],
        )];
        records.push(r);
    }
    let window = Window {
        from: Millis(1000 * S),
        to: Millis(12000 * S),
    };
    let settings = KpiSettings::default();
    let total = compute(&records, &[], window, &Filter::default(), &settings);
    assert!(total.offered > 1000);
    assert!(total.repeat_calls > 100);
    // The order of the records does not matter.
    let mut shuffled = records.clone();
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.gen_range(0..=i));
    }
    assert_eq!(compute(&shuffled, &[], window, &Filter::default(), &settings), total);
    for key in [GroupBy::Queue, GroupBy::Agent, GroupBy::Language] {
        assert_eq!(
            compute_by(&shuffled, &[], window, &settings, key),
            compute_by(&records, &[], window, &settings, key)
        );
    }
    assert_eq!(
        total.offered,
        total.answered + total.abandoned + total.overflowed + total.callbacks_requested + total.other_ended
    );
    for key in [GroupBy::Queue, GroupBy::Agent, GroupBy::Language] {
        let groups = compute_by(&records, &[], window, &settings, key);
        let offered: u64 = groups.values().map(|s| s.offered).sum();
        let answered: u64 = groups.values().map(|s| s.answered).sum();
        assert_eq!(answered, total.answered, "{key:?}");
        if key != GroupBy::Agent {
            assert_eq!(offered, total.offered, "{key:?}");
        }
        for (name, stats) in &groups {
            let mut filter = Filter::default();
            match key {
                GroupBy::Queue => filter.queue = Some(name.clone()),
                GroupBy::Agent => filter.agent = Some(name.clone()),
                GroupBy::Language if name == NO_LANGUAGE => continue,
                GroupBy::Language => filter.language = Some(name.clone()),
            }
            assert_eq!(
                &compute(&records, &[], window, &filter, &settings),
                stats,
                "{key:?} {name}"
            );
            for level in &stats.service_level {
                assert!(level.value.is_none_or(|v| (0.0..=1.0).contains(&v)));
            }
        }
    }
}
