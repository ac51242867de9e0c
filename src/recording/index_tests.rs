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
        per_queue: [("sales".to_owned(), 30)].into(),
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
