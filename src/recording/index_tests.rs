//! The recordings index, its retention and its repair at start, on a real
//! database and real files.

use std::path::Path;

use crate::recording::ending;
use crate::store::recordings::*;

const DAY: u64 = 86_400_000;

fn started(id: &str, queue: &str, at: u64, dir: &Path) -> Started {
    Started {
        id: id.into(),
        call_id: format!("call-{id}"),
        path: dir.join(format!("{id}.wav")),
        kind: Kind::Call,
        queue: Some(queue.into()),
        agent: Some("1001".into()),
        caller: "600".into(),
        started_ms: at,
        codec: "PCMA".into(),
        rate: 8000,
        retention_days: 0,
        layout: recordings::ChannelLayout::CallerLeftAgentRight,
        mono_mix: false,
    }
}

fn write(db: &Path, commands: &[RecordingCommand]) {
    let mut conn = open(db).unwrap();
    let tx = conn.transaction().unwrap();
    for c in commands {
        apply(&tx, c).unwrap();
    }
    tx.commit().unwrap();
}

#[test]
fn retention_deletes_what_is_due_and_nothing_else_and_audits_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchboard.db");
    drop(crate::store::Store::open(&db).unwrap());
    let now = 1_800_000_000_000_u64;
    // sales keeps 30 days, everything else 90; one still recording.
    let cases = [
        ("old-sales", "sales", now - 31 * DAY, true),
        ("new-sales", "sales", now - 29 * DAY, true),
        ("old-support", "support", now - 60 * DAY, true),
        ("ancient-support", "support", now - 91 * DAY, true),
        ("live-sales", "sales", now - 40 * DAY, false),
    ];
    for (id, queue, at, ended) in cases {
        let s = started(id, queue, at, dir.path());
        std::fs::write(&s.path, b"RIFF").unwrap();
        std::fs::write(crate::recording::sidecar_path(&s.path), b"{}").unwrap();
        let mut commands = vec![RecordingCommand::Started(s.clone())];
        if ended {
            let pauses = vec![Pause {
                from_ms: at + 10,
                to_ms: at + 20,
            }];
            let e = ending(
                &s,
                pauses,
                queue::Millis(at + 60_000),
                State::Complete,
                None,
                serde_json::json!({}),
            );
            commands.push(RecordingCommand::Ended(Box::new(e)));
        }
        write(&db, &commands);
    }
    let policy = recordings::RetentionPolicy {
        default_days: Some(90),
        per_queue: [("sales".to_owned(), Some(30))].into(),
    };
    let deleted = crate::recording::retention::run_once(&db, &policy, i64::try_from(now).unwrap()).unwrap();
    assert_eq!(deleted, 2);
    let conn = open(&db).unwrap();
    for (id, _, _, _) in cases {
        let row = get(&conn, id).unwrap().unwrap();
        let gone = matches!(id, "old-sales" | "ancient-support");
        assert_eq!(row.deleted_at_ms.is_some(), gone, "{id}");
        assert_eq!(Path::new(&row.path).exists(), !gone, "{id}");
        assert_eq!(
            crate::recording::sidecar_path(Path::new(&row.path)).exists(),
            !gone,
            "{id}"
        );
        let audit = audit_of(&conn, id).unwrap();
        if gone {
            assert_eq!(row.deleted_by.as_deref(), Some("retention"));
            assert_eq!(audit.len(), 1);
            assert_eq!(audit[0].who, "retention");
            assert_eq!(audit[0].action, "delete_recording");
        } else {
            assert!(audit.is_empty(), "{id}");
        }
    }
    let row = get(&conn, "new-sales").unwrap().unwrap();
    assert_eq!(row.state, "complete");
    assert_eq!(row.duration_ms, Some(60_000));
    assert_eq!(row.pauses[0]["from_ms"], now - 29 * DAY + 10);
    // A second pass finds nothing more, and a list leaves the deleted out.
    assert_eq!(
        crate::recording::retention::run_once(&db, &policy, i64::try_from(now).unwrap()).unwrap(),
        0
    );
    let listed = list(
        &conn,
        &Search {
            limit: 10,
            ..Search::default()
        },
    )
    .unwrap();
    assert_eq!(listed.len(), 3);
}

#[test]
fn a_recording_left_open_is_repaired_and_marked_interrupted_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchboard.db");
    drop(crate::store::Store::open(&db).unwrap());
    let s = started("cut", "support", 1_800_000_000_000, dir.path());
    // A stereo WAV whose header was never finished: 1 s of audio.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&8000u32.to_le_bytes());
    bytes.extend_from_slice(&32_000u32.to_le_bytes());
    bytes.extend_from_slice(&4u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data\0\0\0\0");
    bytes.extend(std::iter::repeat_n(1u8, 32_000));
    std::fs::write(&s.path, &bytes).unwrap();
    write(&db, &[RecordingCommand::Started(s.clone())]);
    assert_eq!(crate::recording::wav::recover(&db).unwrap(), 1);
    let conn = open(&db).unwrap();
    let row = get(&conn, "cut").unwrap().unwrap();
    assert_eq!(row.state, "interrupted");
    assert_eq!(row.duration_ms, Some(1000));
    let reader = hound::WavReader::open(&s.path).unwrap();
    assert_eq!(reader.len(), 16_000);
    let sidecar = recordings::Sidecar::read(&crate::recording::sidecar_path(&s.path)).unwrap();
    assert_eq!(sidecar.duration_ms, 1000);
    assert!(matches!(sidecar.state, recordings::State::Interrupted { .. }));
    assert_eq!(
        crate::recording::wav::recover(&db).unwrap(),
        0,
        "nothing left to repair"
    );
}

#[test]
fn an_evaluation_joins_its_calls_stored_record_and_gives_the_quality_rate() {
    use queue::record::{CallRecord, Mark, Milestone, Party};
    use queue::Millis;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchboard.db");
    let store = crate::store::Store::open(&db).unwrap();
    let (w, thread) = store.writer(crate::store::WriterOptions::default()).unwrap();
    let t0 = Millis(1_800_000_000_000);
    let mut record = CallRecord::arrived("c1".into(), "600".into(), "100".into(), t0);
    for (ms, what) in [
        (
            1000,
            Milestone::Enqueued {
                queue: "support".into(),
            },
        ),
        (2000, Milestone::Offered { agent: "1001".into() }),
        (3000, Milestone::AgentAnswered { agent: "1001".into() }),
        (3000, Milestone::Bridged { agent: "1001".into() }),
        (9000, Milestone::TalkEnded { agent: "1001".into() }),
        (9000, Milestone::HungUp { by: Party::Caller }),
    ] {
        record.marks.push(Mark {
            at: t0 + Duration::from_millis(ms),
            what,
        });
    }
    record.end = Some(queue::record::End::Completed);
    w.send(crate::store::Command::CallStarted(record)).unwrap();
    let s = started("c1-r1", "support", t0.0 + 3000, dir.path());
    let s = Started {
        call_id: "c1".into(),
        ..s
    };
    w.send(crate::store::Command::Recording(RecordingCommand::Started(s)))
        .unwrap();
    w.flush().unwrap();
    let conn = open(&db).unwrap();
    for (evaluator, total) in [("qa-1", 8.0), ("qa-2", 6.0)] {
        let e = EvaluationRow {
            id: 0,
            recording: "c1-r1".into(),
            at_ms: i64::try_from(t0.0).unwrap() + 60_000,
            evaluator: evaluator.into(),
            agent: Some("1001".into()),
            queue: Some("support".into()),
            total,
            scores: serde_json::json!({}),
            comment: None,
        };
        add_evaluation(&conn, &e).unwrap();
    }
    assert_eq!(evaluations(&conn, "c1-r1").unwrap().len(), 2);
    let records = store.records_arrived(t0, t0 + Duration::from_secs(60)).unwrap();
    assert_eq!(records[0].evaluations.len(), 2);
    assert_eq!(records[0].evaluations[0].agent.as_deref(), Some("1001"));
    let window = queue::kpi::Window {
        from: t0,
        to: t0 + Duration::from_secs(60),
    };
    let settings = queue::kpi::KpiSettings::default();
    for agent in [None, Some("1001".to_owned())] {
        let filter = queue::kpi::Filter {
            queue: Some("support".into()),
            agent,
            language: None,
        };
        let stats = queue::kpi::compute(&records, &[], window, &filter, &settings);
        assert_eq!(stats.qa_evaluations, 2);
        assert!((stats.quality_rate.unwrap() - 0.7).abs() < 1e-9, "{stats:?}");
    }
    let other = queue::kpi::Filter {
        agent: Some("1002".into()),
        ..queue::kpi::Filter::default()
    };
    let stats = queue::kpi::compute(&records, &[], window, &other, &settings);
    assert_eq!((stats.qa_evaluations, stats.quality_rate), (0, None));
    drop(w);
    thread.shutdown(Duration::from_secs(5)).unwrap();
}
