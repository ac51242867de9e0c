//! The recordings index (schema version 4): one row per recording, its QA
//! evaluations, and the audit log of deletions.
//!
//! The switch's writer thread inserts and ends rows ([`RecordingCommand`]);
//! the API reads, deletes and adds evaluations on connections of its own
//! ([`open`]), which WAL mode lets run beside the writer. A deleted
//! recording keeps its row (with `deleted_at_ms`, `deleted_by`, `deleted_why`)
//! so the call record still tells that there was one and who removed it.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};

use super::StoreError;

/// A paused span of a recording (silence in the file), in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pause {
    /// When the pause began.
    pub(crate) from_ms: u64,
    /// When it ended (the recording's end for a pause never resumed).
    pub(crate) to_ms: u64,
}

/// What a recording holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// The caller and the agent, in stereo.
    Call,
    /// The caller alone, in an IVR flow until an agent answers.
    Ivr,
    /// A message left by a caller (a flow's record node, an overflow to voicemail).
    Voicemail,
}

/// Where a recording stands, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    /// Being written.
    Recording,
    /// Ended normally.
    Complete,
    /// The engine stopped writing it (disk full, I/O error); what was
    /// written is kept.
    Failed,
    /// The switch stopped in the middle; repaired at the next start.
    Interrupted,
}

impl State {
    /// The stored name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Recording => "recording",
            State::Complete => "complete",
            State::Failed => "failed",
            State::Interrupted => "interrupted",
        }
    }
}

/// A recording's index entry as it starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Started {
    /// The recording's id (`<call record>-r<n>`).
    pub(crate) id: String,
    /// The call record it belongs to.
    pub(crate) call_id: String,
    /// The WAV file.
    pub(crate) path: PathBuf,
    /// What it holds.
    pub(crate) kind: Kind,
    /// The queue of the call, if any.
    pub(crate) queue: Option<String>,
    /// The agent recorded, if any.
    pub(crate) agent: Option<String>,
    /// The caller's number.
    pub(crate) caller: String,
    /// When it started.
    pub(crate) started_ms: u64,
    /// The codec of the caller's leg (upper case).
    pub(crate) codec: String,
    /// Sample rate of the file.
    pub(crate) rate: u32,
    /// Days it is kept (0: until deleted by hand).
    pub(crate) retention_days: u32,
    /// Who is on which channel of a call.
    pub(crate) layout: recordings::ChannelLayout,
    /// A mono mix is written beside it.
    pub(crate) mono_mix: bool,
}

/// The ending of a recording, for the store (and the sidecar next to the file).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Ended {
    /// The recording's id.
    pub(crate) id: String,
    /// When it ended.
    pub(crate) ended_ms: u64,
    /// How.
    pub(crate) state: State,
    /// Its pauses.
    pub(crate) pauses: Vec<Pause>,
    /// Why it failed, if it did.
    pub(crate) error: Option<String>,
    /// The JSON written beside the file (`<file>.json`).
    pub(crate) sidecar: serde_json::Value,
    /// Where the sidecar goes.
    pub(crate) sidecar_path: PathBuf,
    /// The switch writes the sidecar (a message); a call's is written by
    /// the media engine's recorder, which knows the audio's figures.
    pub(crate) write_sidecar: bool,
}

/// Version 4: recordings, QA evaluations and the audit log.
pub(super) const V4: &str = "
CREATE TABLE recordings (
    id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    queue TEXT,
    agent TEXT,
    caller TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER,
    duration_ms INTEGER,
    state TEXT NOT NULL,
    pauses TEXT NOT NULL DEFAULT '[]',
    codec TEXT NOT NULL,
    rate INTEGER NOT NULL,
    retention_days INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    deleted_at_ms INTEGER,
    deleted_by TEXT,
    deleted_why TEXT
);
CREATE INDEX recordings_started ON recordings (started_ms);
CREATE INDEX recordings_call ON recordings (call_id);
CREATE INDEX recordings_open ON recordings (id) WHERE state = 'recording';

CREATE TABLE qa_evaluations (
    id INTEGER PRIMARY KEY,
    recording TEXT NOT NULL,
    call INTEGER,
    at_ms INTEGER NOT NULL,
    evaluator TEXT NOT NULL,
    agent TEXT,
    queue TEXT,
    total REAL NOT NULL,
    scores TEXT NOT NULL,
    comment TEXT
);
CREATE INDEX qa_evaluations_recording ON qa_evaluations (recording);
CREATE INDEX qa_evaluations_call ON qa_evaluations (call);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    why TEXT
);
CREATE INDEX audit_at ON audit (at_ms);
";

/// What the switch's writer thread writes about recordings.
#[derive(Debug, Clone)]
pub(crate) enum RecordingCommand {
    /// A recording started: its row, in state `recording`.
    Started(Started),
    /// Its pauses so far (after a pause or a resume).
    Pauses {
        /// The recording.
        id: String,
        /// Every pause so far, an open one ending now.
        pauses: Vec<Pause>,
    },
    /// It ended: the row is closed and the sidecar written beside the file.
    Ended(Box<Ended>),
}

/// Writes one command in the writer's transaction.
pub(crate) fn apply(tx: &Transaction<'_>, command: &RecordingCommand) -> rusqlite::Result<()> {
    match command {
        RecordingCommand::Started(s) => {
            tx.prepare_cached(
                "INSERT INTO recordings (id, call_id, path, kind, queue, agent, caller, started_ms, state,
                     codec, rate, retention_days)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'recording', ?9, ?10, ?11)
                 ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![
                s.id,
                s.call_id,
                s.path.to_string_lossy(),
                json_name(&s.kind),
                s.queue,
                s.agent,
                s.caller,
                ms(s.started_ms),
                s.codec,
                s.rate,
                s.retention_days,
            ])?;
        }
        RecordingCommand::Pauses { id, pauses } => {
            tx.prepare_cached("UPDATE recordings SET pauses = ?2 WHERE id = ?1")?
                .execute(params![id, pauses_json(pauses)])?;
        }
        RecordingCommand::Ended(e) => {
            // The sidecar first: a crash between the two leaves a row that
            // the next start repairs, never a complete row without its sidecar.
            if e.write_sidecar {
                write_sidecar(&e.sidecar_path, &e.sidecar);
            }
            tx.prepare_cached(
                "UPDATE recordings SET ended_ms = ?2, duration_ms = ?2 - started_ms, state = ?3, pauses = ?4,
                     error = ?5
                 WHERE id = ?1",
            )?
            .execute(params![
                e.id,
                ms(e.ended_ms),
                e.state.as_str(),
                pauses_json(&e.pauses),
                e.error
            ])?;
        }
    }
    Ok(())
}

/// Writes a sidecar (the file's directory exists: the engine made it).
fn write_sidecar(path: &Path, json: &serde_json::Value) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let text = serde_json::to_vec_pretty(json).unwrap_or_default();
    if let Err(e) = std::fs::write(path, text) {
        tracing::error!(%e, path = %path.display(), "recording sidecar not written");
        metrics::counter!("recording_sidecar_errors_total").increment(1);
    }
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn json_name<T: Serialize>(value: &T) -> String {
    super::codec::name(value).unwrap_or_default()
}

fn pauses_json(pauses: &[Pause]) -> String {
    serde_json::to_string(pauses).unwrap_or_else(|_| "[]".into())
}

/// A connection of the API's or the retention task's own (read and write).
pub(crate) fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(super::schema::BUSY_TIMEOUT)?;
    Ok(conn)
}

/// A recording's index entry, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RecordingRow {
    /// Its id.
    pub(crate) id: String,
    /// The call record it belongs to.
    pub(crate) call_id: String,
    /// The WAV file.
    pub(crate) path: String,
    /// `call`, `ivr` or `voicemail`.
    pub(crate) kind: String,
    /// The queue of the call.
    pub(crate) queue: Option<String>,
    /// The agent recorded.
    pub(crate) agent: Option<String>,
    /// The caller's number.
    pub(crate) caller: String,
    /// Start, Unix ms.
    pub(crate) started_ms: i64,
    /// End, Unix ms.
    pub(crate) ended_ms: Option<i64>,
    /// Length, ms (pauses included: they are silence in the file).
    pub(crate) duration_ms: Option<i64>,
    /// `recording`, `complete`, `failed`, `interrupted`.
    pub(crate) state: String,
    /// Paused spans.
    pub(crate) pauses: serde_json::Value,
    /// The caller leg's codec.
    pub(crate) codec: String,
    /// Sample rate of the file.
    pub(crate) sample_rate: u32,
    /// Days kept (0: until deleted).
    pub(crate) retention_days: u32,
    /// Why it failed.
    pub(crate) error: Option<String>,
    /// When it was deleted.
    pub(crate) deleted_at_ms: Option<i64>,
    /// Who deleted it (an API token's name, or `retention`).
    pub(crate) deleted_by: Option<String>,
    /// Why.
    pub(crate) deleted_why: Option<String>,
}

const COLUMNS: &str = "id, call_id, path, kind, queue, agent, caller, started_ms, ended_ms, duration_ms, state, \
                       pauses, codec, rate, retention_days, error, deleted_at_ms, deleted_by, deleted_why";

fn row(r: &Row<'_>) -> rusqlite::Result<RecordingRow> {
    let pauses: String = r.get(11)?;
    Ok(RecordingRow {
        id: r.get(0)?,
        call_id: r.get(1)?,
        path: r.get(2)?,
        kind: r.get(3)?,
        queue: r.get(4)?,
        agent: r.get(5)?,
        caller: r.get(6)?,
        started_ms: r.get(7)?,
        ended_ms: r.get(8)?,
        duration_ms: r.get(9)?,
        state: r.get(10)?,
        pauses: serde_json::from_str(&pauses).unwrap_or(serde_json::Value::Null),
        codec: r.get(12)?,
        sample_rate: r.get(13)?,
        retention_days: r.get(14)?,
        error: r.get(15)?,
        deleted_at_ms: r.get(16)?,
        deleted_by: r.get(17)?,
        deleted_why: r.get(18)?,
    })
}

/// What a list asks for; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub(crate) struct Search {
    /// Started at or after (Unix ms).
    pub(crate) from: Option<i64>,
    /// Started before.
    pub(crate) to: Option<i64>,
    /// Of this queue.
    pub(crate) queue: Option<String>,
    /// Of this agent.
    pub(crate) agent: Option<String>,
    /// Of this caller.
    pub(crate) caller: Option<String>,
    /// Include deleted ones.
    pub(crate) deleted: bool,
    /// At most this many, newest first.
    pub(crate) limit: u32,
}

/// The recordings matching `search`, newest first.
pub(crate) fn list(conn: &Connection, search: &Search) -> Result<Vec<RecordingRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM recordings
         WHERE started_ms >= coalesce(?1, started_ms) AND started_ms < coalesce(?2, started_ms + 1)
           AND (?3 IS NULL OR queue = ?3) AND (?4 IS NULL OR agent = ?4) AND (?5 IS NULL OR caller = ?5)
           AND (?6 OR deleted_at_ms IS NULL)
         ORDER BY started_ms DESC, id LIMIT ?7"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            search.from,
            search.to,
            search.queue,
            search.agent,
            search.caller,
            search.deleted,
            search.limit
        ],
        row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One recording.
pub(crate) fn get(conn: &Connection, id: &str) -> Result<Option<RecordingRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM recordings WHERE id = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row(params![id], row).optional()?)
}

/// What became of a deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deletion {
    /// Files removed, row marked, audited.
    Deleted,
    /// No such recording.
    Unknown,
    /// Deleted before.
    AlreadyDeleted,
    /// Still being written: its files cannot go while the engine writes them.
    Recording,
}

/// Deletes a recording's files and marks its row, with an audit entry, in
/// one transaction.
pub(crate) fn delete(
    conn: &mut Connection,
    id: &str,
    who: &str,
    why: Option<&str>,
    now_ms: i64,
) -> Result<Deletion, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found: Option<(String, Option<i64>, String)> = tx
        .query_row(
            "SELECT path, deleted_at_ms, state FROM recordings WHERE id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((path, deleted, state)) = found else {
        return Ok(Deletion::Unknown);
    };
    if deleted.is_some() {
        return Ok(Deletion::AlreadyDeleted);
    }
    if state == "recording" {
        return Ok(Deletion::Recording);
    }
    tx.execute(
        "UPDATE recordings SET deleted_at_ms = ?2, deleted_by = ?3, deleted_why = ?4 WHERE id = ?1",
        params![id, now_ms, who, why],
    )?;
    tx.execute(
        "INSERT INTO audit (at_ms, who, action, subject, why) VALUES (?1, ?2, 'delete_recording', ?3, ?4)",
        params![now_ms, who, id, why],
    )?;
    // The files go before the commit: if removing fails the row stays as
    // it was and the caller hears of it.
    remove_files(Path::new(&path))?;
    tx.commit()?;
    Ok(Deletion::Deleted)
}

/// Removes a recording's WAV, its mix and its sidecar; a file already gone is fine.
fn remove_files(wav: &Path) -> Result<(), StoreError> {
    let mix = recordings::mono_mix_path(wav);
    for file in [wav.to_path_buf(), mix, recordings::Sidecar::path_for(wav)] {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Io(e)),
        }
    }
    Ok(())
}

/// An audit entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct AuditEntry {
    /// When.
    pub(crate) at_ms: i64,
    /// Who (an API token's name, or `retention`).
    pub(crate) who: String,
    /// What (`delete_recording`).
    pub(crate) action: String,
    /// On what (a recording id).
    pub(crate) subject: String,
    /// Why, if given.
    pub(crate) why: Option<String>,
}

/// The audit entries about `subject`, oldest first.
pub(crate) fn audit_of(conn: &Connection, subject: &str) -> Result<Vec<AuditEntry>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT at_ms, who, action, subject, why FROM audit WHERE subject = ?1 ORDER BY id")?;
    let rows = stmt.query_map(params![subject], |r| {
        Ok(AuditEntry {
            at_ms: r.get(0)?,
            who: r.get(1)?,
            action: r.get(2)?,
            subject: r.get(3)?,
            why: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Recordings that ended and are not deleted, for the retention to decide on.
pub(crate) fn retained(conn: &Connection) -> Result<Vec<recordings::Listed<String>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, queue, started_ms, ended_ms FROM recordings
         WHERE deleted_at_ms IS NULL AND state != 'recording'",
    )?;
    let rows = stmt.query_map([], |r| {
        let ms = |v: Option<i64>| v.map(|v| u64::try_from(v).unwrap_or(0));
        Ok(recordings::Listed {
            key: r.get(0)?,
            queue: r.get(1)?,
            started_unix_ms: ms(r.get(2)?).unwrap_or(0),
            ended_unix_ms: ms(r.get(3)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Rows left `recording` by a stopped switch, as (id, path).
pub(crate) fn left_recording(conn: &Connection) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, path FROM recordings WHERE state = 'recording'")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, PathBuf::from(r.get::<_, String>(1)?))))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Marks a recording left by a stopped switch as interrupted, with its
/// length as repaired from the file (`None`: unknown) and its sidecar.
pub(crate) fn mark_interrupted(
    conn: &Connection,
    id: &str,
    duration_ms: Option<i64>,
    error: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE recordings SET state = 'interrupted', duration_ms = ?2, ended_ms = started_ms + ?2, error = ?3
         WHERE id = ?1",
        params![id, duration_ms, error],
    )?;
    Ok(())
}

/// A QA evaluation of a recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct EvaluationRow {
    /// Its id.
    pub(crate) id: i64,
    /// The recording.
    pub(crate) recording: String,
    /// When it was posted.
    pub(crate) at_ms: i64,
    /// Who scored.
    pub(crate) evaluator: String,
    /// The agent scored.
    pub(crate) agent: Option<String>,
    /// The queue of the call.
    pub(crate) queue: Option<String>,
    /// Weighted total out of 10.
    pub(crate) total: f64,
    /// The scores as posted, each normalised to 0..10.
    pub(crate) scores: serde_json::Value,
    /// The evaluator's comment.
    pub(crate) comment: Option<String>,
}

/// Stores an evaluation of `recording` (whose call record it joins, for the
/// KPIs); returns its id.
pub(crate) fn add_evaluation(conn: &Connection, e: &EvaluationRow) -> Result<i64, StoreError> {
    let call: Option<i64> = conn
        .query_row(
            "SELECT c.key FROM recordings r JOIN calls c ON c.id = r.call_id WHERE r.id = ?1",
            params![e.recording],
            |r| r.get(0),
        )
        .optional()?;
    conn.execute(
        "INSERT INTO qa_evaluations (recording, call, at_ms, evaluator, agent, queue, total, scores, comment)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            e.recording,
            call,
            e.at_ms,
            e.evaluator,
            e.agent,
            e.queue,
            e.total,
            e.scores.to_string(),
            e.comment
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The evaluations of a recording, oldest first.
pub(crate) fn evaluations(conn: &Connection, recording: &str) -> Result<Vec<EvaluationRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, recording, at_ms, evaluator, agent, queue, total, scores, comment FROM qa_evaluations
         WHERE recording = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![recording], |r| {
        let scores: String = r.get(7)?;
        Ok(EvaluationRow {
            id: r.get(0)?,
            recording: r.get(1)?,
            at_ms: r.get(2)?,
            evaluator: r.get(3)?,
            agent: r.get(4)?,
            queue: r.get(5)?,
            total: r.get(6)?,
            scores: serde_json::from_str(&scores).unwrap_or(serde_json::Value::Null),
            comment: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
