//! Connection settings and the schema, versioned by `PRAGMA user_version`.

use std::time::Duration;

use rusqlite::Connection;

use super::StoreError;

/// The schema version this build writes.
pub(super) const VERSION: i64 = 5;

/// How long a statement waits for another connection's lock before failing
/// with "busy" (readers never wait for the writer in WAL mode; this is for
/// two writers, or a checkpoint).
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Version 1: calls, their marks (a milestone as JSON) and surveys, the agent
/// state log, call-backs.
pub(super) const V1: &str = "
CREATE TABLE calls (
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    caller TEXT NOT NULL,
    called TEXT NOT NULL,
    language TEXT,
    arrival_ms INTEGER NOT NULL,
    ended TEXT
);
CREATE INDEX calls_arrival ON calls (arrival_ms);
CREATE INDEX calls_open ON calls (key) WHERE ended IS NULL;

CREATE TABLE marks (
    call INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    what TEXT NOT NULL,
    PRIMARY KEY (call, seq)
) WITHOUT ROWID;

CREATE TABLE surveys (
    call INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    score INTEGER NOT NULL,
    agent TEXT
);
CREATE INDEX surveys_call ON surveys (call);

CREATE TABLE agent_log (
    agent TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX agent_log_at ON agent_log (at_ms);
CREATE INDEX agent_log_agent ON agent_log (agent, at_ms);

CREATE TABLE callbacks (
    id INTEGER PRIMARY KEY,
    due_at_ms INTEGER NOT NULL,
    json TEXT NOT NULL
);
";

/// Version 2: a mark's milestone in columns (see `milestone.rs`) instead of
/// JSON. A mark whose JSON cannot be read keeps its text in `subject`, with
/// the kind `unreadable`, so it is skipped with a warning, and not lost.
const V2: &str = "
CREATE TABLE marks_v2 (
    call INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT,
    target TEXT,
    PRIMARY KEY (call, seq)
) WITHOUT ROWID;
INSERT INTO marks_v2 (call, seq, at_ms, kind, subject, target)
SELECT call, seq, at_ms,
    CASE WHEN json_valid(what) THEN coalesce(json_extract(what, '$.kind'), 'unreadable') ELSE 'unreadable' END,
    CASE WHEN json_valid(what)
        THEN coalesce(json_extract(what, '$.queue'), json_extract(what, '$.agent'), json_extract(what, '$.by'))
        ELSE what END,
    CASE WHEN json_valid(what) THEN json_extract(what, '$.to') END
FROM marks;
DROP TABLE marks;
ALTER TABLE marks_v2 RENAME TO marks;
";

/// Version 3: each media leg's quality, taken when the leg closed.
const V3: &str = "
CREATE TABLE legs (
    call INTEGER NOT NULL,
    side TEXT NOT NULL,
    agent TEXT,
    packets INTEGER NOT NULL,
    lost INTEGER NOT NULL,
    jitter_ms REAL NOT NULL,
    rtt_ms REAL,
    mos REAL NOT NULL
);
CREATE INDEX legs_call ON legs (call);
";

/// Version 5: the hook outbox (see `crate::hooks::outbox`): events as sent,
/// and one delivery row per subscription until it is delivered or dead.
const V5: &str = "
CREATE TABLE hook_events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    order_key TEXT,
    body TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE hook_deliveries (
    id INTEGER PRIMARY KEY,
    event INTEGER NOT NULL,
    subscription TEXT NOT NULL,
    order_key TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at_ms INTEGER NOT NULL,
    last_error TEXT,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX hook_deliveries_line ON hook_deliveries (subscription, state, event);
CREATE INDEX hook_deliveries_order ON hook_deliveries (subscription, order_key, event) WHERE state = 'pending';
CREATE INDEX hook_deliveries_event ON hook_deliveries (event);
";

/// Per-connection settings for a connection that writes: WAL with
/// `synchronous = NORMAL` (see the module docs for why), and a busy timeout.
pub(super) fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // `journal_mode` answers with the mode now in force.
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "the database is not in WAL mode; writes will block reads");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

/// The schema version of the database behind `conn` (0: empty).
pub(super) fn version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// Brings the schema up to [`VERSION`], in one transaction.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found = version(&tx)?;
    if found > VERSION {
        return Err(StoreError::NewerSchema {
            found,
            supported: VERSION,
        });
    }
    if found < 1 {
        tx.execute_batch(V1)?;
    }
    if found < 2 {
        tx.execute_batch(V2)?;
    }
    if found < 3 {
        tx.execute_batch(V3)?;
    }
    if found < 4 {
        tx.execute_batch(super::recordings::V4)?;
    }
    if found < 5 {
        tx.execute_batch(V5)?;
    }
    if found < VERSION {
        tx.pragma_update(None, "user_version", VERSION)?;
    }
    tx.commit()?;
    Ok(())
}
