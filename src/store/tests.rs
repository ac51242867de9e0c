//! Store tests: round trips, crash recovery (in-process and a killed
//! process), call-backs, unreadable rows, a locked database.

use std::path::Path;
use std::time::Duration;

use queue::record::{
    AgentStateKind, AgentStateRecord, CallRecord, End, LegReport, LegSide, Mark, Milestone, Party, SurveyAnswer,
    SurveyKind,
};
use queue::Millis;
use rusqlite::Connection;
use serde_json::json;

use super::milestone::{from_columns, to_columns};
use super::{schema, Command, Store, StoreError, StoreWriter, WriterOptions, WriterThread};

const T0: u64 = 1_795_000_000_000;

fn at(seconds: u64) -> Millis {
    Millis(T0 + seconds * 1000)
}

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("switchboard.db")).unwrap();
    (dir, store)
}

fn writer(store: &Store) -> (StoreWriter, WriterThread) {
    store.writer(WriterOptions::default()).unwrap()
}

/// Every kind of milestone, in a plausible order.
fn every_milestone() -> Vec<Milestone> {
    let agent = || "1001".to_owned();
    vec![
        Milestone::MenuChoice {
            node: "choose_language".into(),
            digits: "1".into(),
        },
        Milestone::IvrExit,
        Milestone::Enqueued { queue: "sales".into() },
        Milestone::Offered { agent: "1002".into() },
        Milestone::OfferFailed { agent: "1002".into() },
        Milestone::Overflowed {
            queue: "sales".into(),
            to: "queue:support".into(),
        },
        Milestone::Enqueued {
            queue: "support".into(),
        },
        Milestone::Offered { agent: agent() },
        Milestone::AgentAnswered { agent: agent() },
        Milestone::Bridged { agent: agent() },
        Milestone::FirstAgentAudio { agent: agent() },
        Milestone::TalkEnded { agent: agent() },
        Milestone::Transferred {
            to: "sip:desk@example.com".into(),
        },
        Milestone::Abandoned {
            queue: "support".into(),
        },
        Milestone::CallbackRequested {
            queue: "support".into(),
        },
        Milestone::CallbackPlaced,
        Milestone::Recorded {
            recording: "r1".into(),
            path: "recordings/2026/11/23/support/r1.wav".into(),
        },
        Milestone::WrapUpEnded { agent: agent() },
        Milestone::HungUp { by: Party::Caller },
        Milestone::HungUp { by: Party::Agent },
        Milestone::HungUp { by: Party::Switch },
    ]
}

/// Sends a whole call the way the switch does: start, marks, language,
/// surveys, end. Returns the record as it should read back.
fn send_call(writer: &StoreWriter, id: &str, arrival: Millis, marks: Vec<Milestone>, end: Option<End>) -> CallRecord {
    let mut record = CallRecord::arrived(id.into(), "+4930123".into(), "100".into(), arrival);
    writer.send(Command::CallStarted(record.clone())).unwrap();
    for (i, what) in (1_u64..).zip(marks) {
        let mark = Mark {
            at: arrival + Duration::from_millis(i * 1500),
            what,
        };
        record.marks.push(mark.clone());
        writer.send(Command::CallMarked { id: id.into(), mark }).unwrap();
    }
    if let Some(end) = end {
        writer.send(Command::CallEnded { id: id.into(), end }).unwrap();
        record.end = Some(end);
    }
    record
}

#[test]
fn every_milestone_survives_a_round_trip() {
    let (_dir, store) = temp_store();
    let (w, thread) = writer(&store);
    let mut record = send_call(&w, "c1", at(10), every_milestone(), None);
    w.send(Command::CallLanguage {
        id: "c1".into(),
        language: "es".into(),
    })
    .unwrap();
    record.language = Some("es".into());
    for (kind, score, agent) in [(SurveyKind::Csat, 4, Some("1001")), (SurveyKind::Nps, 9, None)] {
        let answer = SurveyAnswer {
            kind,
            score,
            agent: agent.map(str::to_owned),
            at: at(90),
        };
        w.send(Command::Survey {
            id: "c1".into(),
            answer: answer.clone(),
        })
        .unwrap();
        record.surveys.push(answer);
    }
    w.send(Command::CallEnded {
        id: "c1".into(),
        end: End::Completed,
    })
    .unwrap();
    record.end = Some(End::Completed);
    // A mark after the end (wrap-up finishing later) is appended, not lost.
    let late = Mark {
        at: at(120),
        what: Milestone::WrapUpEnded { agent: "1001".into() },
    };
    w.send(Command::CallMarked {
        id: "c1".into(),
        mark: late.clone(),
    })
    .unwrap();
    record.marks.push(late);
    // Each leg's quality, reported when the leg closed (after the end).
    for (side, agent, rtt) in [
        (LegSide::Caller, None, Some(41.5)),
        (LegSide::Agent, Some("1001"), None),
    ] {
        let leg = LegReport {
            side,
            agent: agent.map(str::to_owned),
            packets: 1500,
            lost: 3,
            jitter_ms: 2.25,
            rtt_ms: rtt,
            mos: 4.31,
        };
        w.send(Command::CallLeg {
            id: "c1".into(),
            leg: leg.clone(),
        })
        .unwrap();
        record.legs.push(leg);
    }
    // A complete record sent at once is stored as it is.
    let mut whole = CallRecord::arrived("c2".into(), "+4930999".into(), "200".into(), at(20));
    whole.mark(at(25), Milestone::HungUp { by: Party::Caller });
    whole.end = Some(End::Completed);
    whole.surveys.push(SurveyAnswer {
        kind: SurveyKind::Csat,
        score: 1,
        agent: None,
        at: at(26),
    });
    w.send(Command::CallStarted(whole.clone())).unwrap();
    w.flush().unwrap();

    assert_eq!(store.record("c1").unwrap(), Some(record.clone()));
    assert_eq!(store.record("c2").unwrap(), Some(whole.clone()));
    assert_eq!(store.record("nope").unwrap(), None);
    assert_eq!(
        store.records_arrived(at(0), at(100)).unwrap(),
        vec![record.clone(), whole]
    );
    // The window is by arrival, half open.
    assert_eq!(store.records_arrived(at(10), at(20)).unwrap(), vec![record]);
    assert!(store.records_arrived(at(21), at(1000)).unwrap().is_empty());

    let stats = thread.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(stats.skipped, 0);
    assert_eq!(stats.backlog, 0);
    assert!(stats.written > 20);
}

#[test]
fn many_calls_read_back_in_arrival_order_with_their_own_marks() {
    let (_dir, store) = temp_store();
    let (w, thread) = writer(&store);
    // Interleaved like live calls: all start, then marks round-robin.
    let ids: Vec<String> = (0..50).map(|i| format!("call-{i}")).collect();
    let mut records: Vec<CallRecord> = ids
        .iter()
        .zip(0..)
        .map(|(id, i)| CallRecord::arrived(id.clone(), format!("+49{i}"), "100".into(), at(i)))
        .collect();
    for r in &records {
        w.send(Command::CallStarted(r.clone())).unwrap();
    }
    for step in 0..8 {
        for r in &mut records {
            let mark = Mark {
                at: at(100 + step),
                what: Milestone::Offered {
                    agent: format!("{}-{step}", r.id),
                },
            };
            r.marks.push(mark.clone());
            w.send(Command::CallMarked { id: r.id.clone(), mark }).unwrap();
        }
    }
    thread.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(store.records_arrived(at(0), at(50)).unwrap(), records);
    assert_eq!(store.records_arrived(at(10), at(20)).unwrap(), records[10..20].to_vec());
}

#[test]
fn agent_log_starts_with_each_agents_state_at_from() {
    let (_dir, store) = temp_store();
    let (w, thread) = writer(&store);
    let state = |agent: &str, s: u64, state, reason: Option<&str>| AgentStateRecord {
        agent: agent.into(),
        at: at(s),
        state,
        reason: reason.map(str::to_owned),
    };
    let log = [
        state("1001", 1, AgentStateKind::Available, None),
        state("1002", 2, AgentStateKind::Available, None),
        state("1001", 3, AgentStateKind::Paused, Some("lunch")),
        state("1003", 4, AgentStateKind::LoggedOut, None),
        state("1002", 10, AgentStateKind::Ringing, None),
        state("1002", 11, AgentStateKind::OnCall, None),
        state("1001", 12, AgentStateKind::Available, None),
        state("1002", 30, AgentStateKind::WrapUp, None),
    ];
    for r in &log {
        w.send(Command::AgentState(r.clone())).unwrap();
    }
    thread.shutdown(Duration::from_secs(5)).unwrap();
    let got = store.agent_log(at(5), at(30)).unwrap();
    let expected = [&log[1], &log[2], &log[3], &log[4], &log[5], &log[6]].map(Clone::clone);
    assert_eq!(got, expected);
    assert_eq!(store.agent_log(at(0), at(1)).unwrap(), vec![]);
}

#[test]
fn callbacks_survive_a_reopen_and_removed_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.db");
    {
        let store = Store::open(&path).unwrap();
        let (w, thread) = writer(&store);
        for id in 1..=3_u64 {
            w.send(Command::CallbackStored {
                id,
                due_at: at(100 - id),
                json: json!({ "id": id, "number": format!("+4930{id}"), "attempts": 0 }),
            })
            .unwrap();
        }
        w.send(Command::CallbackRemoved(2)).unwrap();
        // Stored again under the same id: replaced.
        w.send(Command::CallbackStored {
            id: 1,
            due_at: at(200),
            json: json!({ "id": 1, "number": "+49301", "attempts": 1 }),
        })
        .unwrap();
        // Removing one that is not there is not an error.
        w.send(Command::CallbackRemoved(42)).unwrap();
        let stats = thread.shutdown(Duration::from_secs(5)).unwrap();
        assert_eq!(stats.skipped, 0);
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.load_callbacks().unwrap(),
        vec![
            json!({ "id": 3, "number": "+49303", "attempts": 0 }),
            json!({ "id": 1, "number": "+49301", "attempts": 1 }),
        ]
    );
}

/// Checks what a reopen after a crash must find: the live call closed as
/// interrupted with a final hang-up at its last mark, everything else as it was.
fn assert_recovered(path: &Path) {
    let store = Store::open(path).unwrap();
    assert_eq!(store.interrupted_on_open(), 1);
    let live = store.record("live").unwrap().unwrap();
    assert_eq!(live.end, Some(End::Interrupted));
    let n = live.marks.len();
    assert_eq!(n, 4, "arrival, 2 marks, the hang-up: {:?}", live.marks);
    assert_eq!(live.marks[n - 1].what, Milestone::HungUp { by: Party::Switch });
    assert_eq!(live.marks[n - 1].at, live.marks[n - 2].at);
    let done = store.record("done").unwrap().unwrap();
    assert_eq!(done.end, Some(End::Completed));
    assert_eq!(done.marks.len(), 2);
    assert_eq!(store.agent_log(at(0), at(1000)).unwrap().len(), 1);
    assert_eq!(store.load_callbacks().unwrap().len(), 1);
    drop(store);
    // Recovery happens once.
    assert_eq!(Store::open(path).unwrap().interrupted_on_open(), 0);
}

/// The data of a switch that stops in the middle of a call.
fn write_then_stop_mid_call(path: &Path) -> (Store, StoreWriter, WriterThread) {
    let store = Store::open(path).unwrap();
    let (w, thread) = writer(&store);
    send_call(
        &w,
        "live",
        at(1),
        vec![
            Milestone::Enqueued { queue: "sales".into() },
            Milestone::Offered { agent: "1001".into() },
        ],
        None,
    );
    send_call(
        &w,
        "done",
        at(2),
        vec![Milestone::HungUp { by: Party::Caller }],
        Some(End::Completed),
    );
    w.send(Command::AgentState(AgentStateRecord {
        agent: "1001".into(),
        at: at(1),
        state: AgentStateKind::Ringing,
        reason: None,
    }))
    .unwrap();
    w.send(Command::CallbackStored {
        id: 7,
        due_at: at(60),
        json: json!({ "id": 7 }),
    })
    .unwrap();
    w.flush().unwrap();
    (store, w, thread)
}

#[test]
fn reopening_after_a_crash_closes_live_calls_as_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.db");
    let (store, w, thread) = write_then_stop_mid_call(&path);
    // The first switch never shuts down: its connections stay open, nothing
    // is checkpointed or closed cleanly, as if it had been killed.
    std::mem::forget((store, w, thread));
    assert_recovered(&path);
}

/// The test re-runs itself as a child process (marked by the database path
/// in the environment) that writes and then aborts; the parent checks what
/// the killed child left.
#[test]
fn a_killed_process_loses_nothing_committed() {
    if let Some(path) = std::env::var_os("SWITCHBOARD_STORE_CHILD_DB") {
        let _kept = write_then_stop_mid_call(Path::new(&path));
        std::process::abort();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.db");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "store::tests::a_killed_process_loses_nothing_committed",
            "--exact",
            "--nocapture",
        ])
        .env("SWITCHBOARD_STORE_CHILD_DB", &path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must die, not exit: {status}");
    assert!(path.exists());
    assert_recovered(&path);
}

#[test]
fn unreadable_rows_are_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.db");
    let store = Store::open(&path).unwrap();
    let (w, thread) = writer(&store);
    let record = send_call(
        &w,
        "c1",
        at(1),
        vec![Milestone::IvrExit, Milestone::HungUp { by: Party::Caller }],
        Some(End::Completed),
    );
    w.send(Command::CallbackStored {
        id: 1,
        due_at: at(5),
        json: json!({ "id": 1 }),
    })
    .unwrap();
    thread.shutdown(Duration::from_secs(5)).unwrap();

    // Damage some rows behind the store's back.
    let raw = Connection::open(&path).unwrap();
    raw.execute_batch(&format!(
        "INSERT INTO marks (call, seq, at_ms, kind) VALUES (1, 50, {t}, 'teleported');
         INSERT INTO marks (call, seq, at_ms, kind, subject) VALUES (1, 51, {t}, 'hung_up', 'nobody');
         INSERT INTO marks (call, seq, at_ms, kind) VALUES (1, 52, {t}, 'enqueued');
         INSERT INTO marks (call, seq, at_ms, kind) VALUES (1, 53, {t}, x'00ff');
         INSERT INTO marks (call, seq, at_ms, kind) VALUES (1, 54, 'soon', 'ivr_exit');
         INSERT INTO calls (id, caller, called, arrival_ms, ended) VALUES ('c2', 'a', 'b', {t}, 'exploded');
         INSERT INTO surveys (call, at_ms, kind, score) VALUES (1, {t}, 'mood', 3);
         INSERT INTO agent_log (agent, at_ms, state) VALUES ('1001', {t}, 'dancing');
         INSERT INTO agent_log (agent, at_ms, state) VALUES ('1001', {t}, 'available');
         INSERT INTO callbacks (id, due_at_ms, json) VALUES (2, 0, '{{broken');",
        t = at(3).0
    ))
    .unwrap();
    drop(raw);

    assert_eq!(store.records_arrived(at(0), at(10)).unwrap(), vec![record.clone()]);
    assert_eq!(store.record("c1").unwrap(), Some(record));
    assert_eq!(store.record("c2").unwrap(), None);
    assert_eq!(store.agent_log(at(0), at(10)).unwrap().len(), 1);
    assert_eq!(store.load_callbacks().unwrap(), vec![json!({ "id": 1 })]);
}

#[test]
fn commands_that_can_never_be_written_are_skipped_without_holding_up_the_rest() {
    let (_dir, store) = temp_store();
    let (w, thread) = writer(&store);
    let record = send_call(&w, "c1", at(1), vec![Milestone::IvrExit], None);
    // A second start of the same id, and things for a call never started.
    w.send(Command::CallStarted(CallRecord::arrived(
        "c1".into(),
        "x".into(),
        "y".into(),
        at(2),
    )))
    .unwrap();
    w.send(Command::CallMarked {
        id: "ghost".into(),
        mark: Mark {
            at: at(3),
            what: Milestone::IvrExit,
        },
    })
    .unwrap();
    w.send(Command::CallEnded {
        id: "ghost".into(),
        end: End::Completed,
    })
    .unwrap();
    w.send(Command::CallbackStored {
        id: u64::MAX,
        due_at: at(3),
        json: json!({}),
    })
    .unwrap();
    let after = send_call(&w, "c3", at(4), vec![Milestone::IvrExit], Some(End::Completed));
    let stats = thread.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(stats.skipped, 4);
    assert_eq!(store.records_arrived(at(0), at(10)).unwrap(), vec![record, after]);
}

#[test]
fn a_locked_database_delays_writes_but_loses_none() {
    let (_dir, store) = temp_store();
    let (w, thread) = store
        .writer(WriterOptions {
            busy_timeout: Duration::from_millis(10),
            first_retry_wait: Duration::from_millis(10),
            ..WriterOptions::default()
        })
        .unwrap();
    // Another connection takes the write lock and holds it a while.
    let mut other = Connection::open(store.path()).unwrap();
    let lock = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let records: Vec<CallRecord> = (0..20)
        .map(|i| {
            send_call(
                &w,
                &format!("c{i}"),
                at(i),
                vec![Milestone::IvrExit],
                Some(End::Completed),
            )
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert!(w.stats().retries > 0, "the writer must have retried: {:?}", w.stats());
    assert!(w.backlog() > 0);
    assert!(store.records_arrived(at(0), at(100)).unwrap().is_empty());
    lock.commit().unwrap();
    w.flush().unwrap();
    assert_eq!(store.records_arrived(at(0), at(100)).unwrap(), records);
    let stats = thread.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!((stats.backlog, stats.skipped, stats.lost), (0, 0, 0));
}

#[test]
fn shutdown_gives_up_a_batch_that_keeps_failing_and_says_so() {
    let (_dir, store) = temp_store();
    let (w, thread) = store
        .writer(WriterOptions {
            busy_timeout: Duration::from_millis(10),
            first_retry_wait: Duration::from_millis(10),
            ..WriterOptions::default()
        })
        .unwrap();
    let mut other = Connection::open(store.path()).unwrap();
    let _lock = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    send_call(&w, "c1", at(1), vec![], None);
    match thread.shutdown(Duration::from_millis(200)) {
        Err(StoreError::ShutdownTimeout(1)) => {}
        other => panic!("expected a shut-down timeout, got {other:?}"),
    }
    // The writer is gone: sending says so.
    assert!(matches!(
        w.send(Command::CallbackRemoved(1)),
        Err(StoreError::WriterGone)
    ));
    assert_eq!(w.stats().lost, 2);
}

#[test]
fn a_new_writer_continues_the_timeline_of_an_open_call() {
    let (_dir, store) = temp_store();
    let (w, thread) = writer(&store);
    let mut record = send_call(&w, "c1", at(1), vec![Milestone::IvrExit], None);
    thread.shutdown(Duration::from_secs(5)).unwrap();
    let (w, thread) = writer(&store);
    let mark = Mark {
        at: at(9),
        what: Milestone::HungUp { by: Party::Caller },
    };
    w.send(Command::CallMarked {
        id: "c1".into(),
        mark: mark.clone(),
    })
    .unwrap();
    w.send(Command::CallEnded {
        id: "c1".into(),
        end: End::Completed,
    })
    .unwrap();
    thread.shutdown(Duration::from_secs(5)).unwrap();
    record.marks.push(mark);
    record.end = Some(End::Completed);
    assert_eq!(store.record("c1").unwrap(), Some(record));
}

#[test]
fn reading_only_changes_nothing_and_needs_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.db");
    assert!(matches!(Store::open_read_only(&path), Err(StoreError::Missing(_))));
    // An empty file reads as an empty store.
    std::fs::write(&path, b"").unwrap();
    let empty = Store::open_read_only(&path).unwrap();
    assert!(empty.records_arrived(Millis(0), Millis(u64::MAX)).unwrap().is_empty());
    assert!(empty.agent_log(Millis(0), Millis(u64::MAX)).unwrap().is_empty());
    drop(empty);

    let store = Store::open(&path).unwrap();
    let (w, thread) = writer(&store);
    send_call(&w, "live", at(1), vec![Milestone::IvrExit], None);
    w.flush().unwrap();
    // A report while the switch runs sees the live call, and leaves it live.
    let reader = Store::open_read_only(&path).unwrap();
    let live = reader.record("live").unwrap().unwrap();
    assert_eq!((live.end, live.marks.len()), (None, 2));
    assert_eq!(store.record("live").unwrap().unwrap().end, None);
    thread.shutdown(Duration::from_secs(5)).unwrap();
    drop((reader, store));
    assert!(!dir.path().join("switchboard.db-wal").exists());
    // And after the switch stopped (no -wal or -shm left behind).
    let reader = Store::open_read_only(&path).unwrap();
    assert_eq!(reader.record("live").unwrap().unwrap().end, None);
}

#[test]
fn a_database_from_a_newer_switch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.db");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::NewerSchema { found: 99, .. })
    ));
    assert!(matches!(
        Store::open_read_only(&path),
        Err(StoreError::NewerSchema { found: 99, .. })
    ));
}

#[test]
fn mark_columns_name_milestones_as_serde_does_and_read_back() {
    let mut all = every_milestone();
    all.push(Milestone::Arrival);
    for m in all {
        let (kind, subject, target) = to_columns(&m);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["kind"], kind, "{m:?}");
        if let Milestone::HungUp { by } = &m {
            assert_eq!(json!(by), json!(subject.unwrap()));
        }
        assert_eq!(from_columns(kind, subject, target), Ok(m));
    }
    assert!(from_columns("overflowed", Some("sales"), None).is_err());
    assert!(from_columns("hung_up", Some("nobody"), None).is_err());
}

#[test]
fn a_version_1_database_is_migrated_with_its_marks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.db");
    let v1 = Connection::open(&path).unwrap();
    v1.execute_batch(schema::V1).unwrap();
    v1.execute_batch(&format!(
        "PRAGMA user_version = 1;
         INSERT INTO calls (key, id, caller, called, arrival_ms) VALUES (1, 'c1', '+491', '100', {t});
         INSERT INTO marks VALUES (1, 0, {t}, '{{\"kind\":\"arrival\"}}');
         INSERT INTO marks VALUES (1, 1, {t}, '{{\"kind\":\"overflowed\",\"queue\":\"sales\",\"to\":\"queue:b\"}}');
         INSERT INTO marks VALUES (1, 2, {t}, '{{\"kind\":\"transferred\",\"to\":\"sip:x@y\"}}');
         INSERT INTO marks VALUES (1, 3, {t}, 'not json');
         INSERT INTO marks VALUES (1, 4, {t}, '{{\"kind\":\"hung_up\",\"by\":\"agent\"}}');",
        t = at(1).0
    ))
    .unwrap();
    drop(v1);
    // Reading only does not upgrade, and says how to.
    assert!(matches!(
        Store::open_read_only(&path),
        Err(StoreError::OlderSchema { found: 1, current }) if current == super::schema::VERSION
    ));
    let store = Store::open(&path).unwrap();
    // The call was open: recovery closed it, and found its hang-up.
    assert_eq!(store.interrupted_on_open(), 1);
    let record = store.record("c1").unwrap().unwrap();
    let what: Vec<Milestone> = record.marks.into_iter().map(|m| m.what).collect();
    assert_eq!(
        what,
        [
            Milestone::Arrival,
            Milestone::Overflowed {
                queue: "sales".into(),
                to: "queue:b".into()
            },
            Milestone::Transferred { to: "sip:x@y".into() },
            Milestone::HungUp { by: Party::Agent },
        ]
    );
    // The unreadable mark is kept, not lost.
    let raw = Connection::open(&path).unwrap();
    let kept: (String, String) = raw
        .query_row("SELECT kind, subject FROM marks WHERE seq = 3", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(kept, ("unreadable".to_owned(), "not json".to_owned()));
    let version: i64 = raw.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, schema::VERSION);
}

#[test]
fn arrivals_are_records_with_their_arrival_mark_only() {
    let (_dir, store) = temp_store();
    let (w, thread) = writer(&store);
    let full = send_call(
        &w,
        "c1",
        at(5),
        vec![
            Milestone::Enqueued { queue: "q".into() },
            Milestone::HungUp { by: Party::Caller },
        ],
        Some(End::Completed),
    );
    thread.shutdown(Duration::from_secs(5)).unwrap();
    let arrivals = store.arrivals(at(0), at(10)).unwrap();
    let mut expected = full;
    expected.marks.truncate(1);
    assert_eq!(arrivals, vec![expected]);
    assert!(store.arrivals(at(6), at(10)).unwrap().is_empty());
}
