use queue::record::{AgentStateKind, AgentStateRecord, End, Mark, Party};

use super::*;

fn at(s: u64) -> Millis {
    Millis(1_700_000_000_000 + s * 1000)
}

fn mark(id: &str, s: u64, what: Milestone) -> Command {
    Command::CallMarked {
        id: id.into(),
        mark: Mark { at: at(s), what },
    }
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

#[test]
fn a_queued_call_answered_then_ended_gives_its_events_and_kpis() {
    let mut d = Deriver::new(7, KpiSettings::default());
    let mut out = Vec::new();
    let started = CallRecord::arrived("r1".into(), "+34600".into(), "100".into(), at(0));
    out.extend(d.command(&Command::CallStarted(started)));
    out.extend(d.command(&mark("r1", 3, Milestone::IvrExit)));
    out.extend(d.command(&mark(
        "r1",
        3,
        Milestone::Enqueued {
            queue: "support".into(),
        },
    )));
    out.extend(d.command(&mark("r1", 10, Milestone::Offered { agent: "1001".into() })));
    out.extend(d.command(&mark("r1", 13, Milestone::AgentAnswered { agent: "1001".into() })));
    out.extend(d.command(&mark("r1", 13, Milestone::Bridged { agent: "1001".into() })));
    out.extend(d.command(&mark("r1", 73, Milestone::TalkEnded { agent: "1001".into() })));
    out.extend(d.command(&mark("r1", 73, Milestone::HungUp { by: Party::Caller })));
    out.extend(d.command(&mark("r1", 78, Milestone::WrapUpEnded { agent: "1001".into() })));
    out.extend(d.command(&Command::CallEnded {
        id: "r1".into(),
        end: End::Completed,
    }));
    assert_eq!(
        kinds(&out),
        [
            "call.started",
            "ivr.completed",
            "call.queued",
            "call.offered",
            "call.answered",
            "call.ended"
        ]
    );
    let ids: HashSet<&str> = out.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), out.len(), "ids are unique");
    assert!(out[0].id.starts_with("evt_7_"));
    assert!(out.iter().all(|e| e.call_id.as_deref() == Some("r1") && e.version == 1));
    let answered = &out[4];
    assert_eq!(
        (answered.queue.as_deref(), answered.agent.as_deref()),
        (Some("support"), Some("1001"))
    );
    assert_eq!(answered.data["wait_secs"], 10.0);
    let ended = &out[5];
    assert_eq!(ended.occurred_at, "2023-11-14T22:14:38.000Z");
    let kpis = &ended.data["queues"]["support"];
    assert_eq!(kpis["answered"], true);
    assert_eq!(kpis["wait_secs"], 10.0);
    assert_eq!(kpis["talk_secs"], 60.0);
    assert_eq!(kpis["wrap_up_secs"], 5.0);
    assert_eq!(kpis["answered_within"][0]["within"], true);
    assert_eq!(ended.data["timeline"].as_array().map(Vec::len), Some(9));
    assert_eq!(ended.data["timeline"][2]["kind"], "enqueued");
    assert_eq!(ended.data["hung_up_by"], "caller");
    assert_eq!(d.live(), 0, "nothing kept after the end");
}

#[test]
fn an_offer_carries_the_callers_language_menu_choices_and_wait() {
    let mut d = Deriver::new(7, KpiSettings::default());
    let started = CallRecord::arrived("r1".into(), "+34600".into(), "100".into(), at(0));
    d.command(&Command::CallStarted(started));
    let choice = Milestone::MenuChoice {
        node: "choose_language".into(),
        digits: "2".into(),
    };
    assert!(d.command(&mark("r1", 2, choice)).is_empty(), "a choice is no event");
    d.command(&Command::CallLanguage {
        id: "r1".into(),
        language: "es".into(),
    });
    d.command(&mark(
        "r1",
        3,
        Milestone::Enqueued {
            queue: "support".into(),
        },
    ));
    let e = d.command(&mark("r1", 10, Milestone::Offered { agent: "1001".into() }));
    assert_eq!(kinds(&e), ["call.offered"]);
    assert_eq!(
        (e[0].queue.as_deref(), e[0].agent.as_deref()),
        (Some("support"), Some("1001"))
    );
    let data = &e[0].data;
    assert_eq!(data["caller"], "+34600");
    assert_eq!(data["language"], "es");
    assert_eq!(
        data["menu_choices"],
        json!([{ "node": "choose_language", "digits": "2" }])
    );
    assert_eq!(data["queued_at"], "2023-11-14T22:13:23.000Z");
    assert_eq!(data["wait_secs"], 7.0);
}

#[test]
fn an_abandon_an_overflow_agent_states_and_call_backs() {
    let mut d = Deriver::new(1, KpiSettings::default());
    let started = CallRecord::arrived("r2".into(), "555".into(), "100".into(), at(0));
    d.command(&Command::CallStarted(started));
    d.command(&mark("r2", 0, Milestone::Enqueued { queue: "sales".into() }));
    let e = d.command(&mark(
        "r2",
        30,
        Milestone::Overflowed {
            queue: "sales".into(),
            to: "hook:crm".into(),
        },
    ));
    assert_eq!(kinds(&e), ["queue.overflow"]);
    assert_eq!(e[0].data["to"], "hook:crm");
    let e = d.command(&mark("r2", 40, Milestone::Abandoned { queue: "sales".into() }));
    assert_eq!(kinds(&e), ["call.abandoned"]);
    assert_eq!(e[0].data["wait_secs"], 40.0);
    let e = d.command(&Command::AgentState(AgentStateRecord {
        agent: "1002".into(),
        at: at(50),
        state: AgentStateKind::Paused,
        reason: Some("lunch".into()),
    }));
    assert_eq!(kinds(&e), ["agent.state_changed"]);
    assert_eq!(
        (e[0].agent.as_deref(), &e[0].data["state"]),
        (Some("1002"), &json!("paused"))
    );
    let stored = Command::CallbackStored {
        id: 9,
        due_at: at(60),
        json: json!({"id": 9, "number": "555", "queue": "sales", "requested_at": at(55).0, "attributes": {"order": "A1"}}),
    };
    let e = d.command(&stored);
    assert_eq!(kinds(&e), ["callback.scheduled"]);
    assert_eq!(e[0].order_key().as_deref(), Some("callback:9"));
    assert_eq!(e[0].data["attributes"]["order"], "A1");
    // Stored again after a failed attempt: no second "scheduled".
    assert!(d.command(&stored).is_empty());
    let e = d.occurrence(Occurrence::CallbackCompleted {
        callback: 9,
        outcome: "placed",
        at: at(70),
    });
    assert_eq!(kinds(&e), ["callback.completed"]);
}

#[test]
fn a_call_back_call_offers_carry_its_attributes() {
    let mut d = Deriver::new(1, KpiSettings::default());
    let started = CallRecord::arrived("r3".into(), "+34600111222".into(), "centre".into(), at(0));
    d.command(&Command::CallStarted(started));
    d.occurrence(Occurrence::CallbackCall {
        record: "r3".into(),
        callback: 5,
        queue: "support".into(),
        attributes: [("order".to_string(), "B-2".to_string())].into(),
    });
    d.command(&mark("r3", 0, Milestone::CallbackPlaced));
    let e = d.command(&mark("r3", 1, Milestone::Offered { agent: "1001".into() }));
    assert_eq!(kinds(&e), ["call.offered"]);
    assert_eq!(e[0].agent.as_deref(), Some("1001"));
    assert_eq!(e[0].data["attributes"]["order"], "B-2");
    assert_eq!(e[0].data["callback_id"], 5);
    assert_eq!(e[0].queue.as_deref(), Some("support"));
}

#[test]
fn updates_for_unknown_calls_are_ignored() {
    let mut d = Deriver::new(1, KpiSettings::default());
    assert!(d.command(&mark("nope", 1, Milestone::IvrExit)).is_empty());
    assert!(d
        .command(&Command::CallEnded {
            id: "nope".into(),
            end: End::Completed
        })
        .is_empty());
}

#[test]
fn a_recording_that_ends_whole_is_ready_and_a_failed_one_is_not() {
    use crate::recording::{Ended, Kind, Pause, Started, State};
    let mut d = Deriver::new(1, KpiSettings::default());
    let started = |id: &str| Started {
        id: id.into(),
        call_id: "r9".into(),
        path: "call-recordings/x.wav".into(),
        kind: Kind::Call,
        queue: Some("support".into()),
        agent: Some("1001".into()),
        caller: "+34600".into(),
        started_ms: at(10).0,
        codec: "PCMU".into(),
        rate: 8000,
        retention_days: 0,
        layout: Default::default(),
        mono_mix: false,
    };
    let ended = |id: &str, state: State| Ended {
        id: id.into(),
        ended_ms: at(70).0,
        state,
        pauses: vec![Pause {
            from_ms: at(20).0,
            to_ms: at(25).0,
        }],
        error: None,
        sidecar: json!({}),
        sidecar_path: "call-recordings/x.wav.json".into(),
        write_sidecar: true,
    };
    for (id, state) in [("r9-r1", State::Complete), ("r9-r2", State::Failed)] {
        assert!(d
            .command(&Command::Recording(RecordingCommand::Started(started(id))))
            .is_empty());
        let e = d.command(&Command::Recording(RecordingCommand::Ended(Box::new(ended(id, state)))));
        if state == State::Complete {
            assert_eq!(kinds(&e), ["recording.ready"]);
            let ready = &e[0];
            assert_eq!(ready.call_id.as_deref(), Some("r9"));
            assert_eq!(
                (ready.queue.as_deref(), ready.agent.as_deref()),
                (Some("support"), Some("1001"))
            );
            assert_eq!(ready.data["recording_id"], "r9-r1");
            assert_eq!(ready.data["duration_secs"], 60.0);
            assert_eq!(ready.data["paused_secs"], 5.0);
            assert_eq!(ready.data["audio_url"], "/api/recordings/r9-r1/audio");
        } else {
            assert!(e.is_empty(), "a failed recording is not ready");
        }
    }
}
