//! The writer: a channel the switch sends to without waiting, and the thread
//! that writes what comes out of it, one transaction per batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use queue::record::{AgentStateRecord, CallRecord, End, LegReport, Mark, SurveyAnswer};
use queue::Millis;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior};

use super::codec::{millis_to_sql, name};
use super::milestone::to_columns;
use super::StoreError;

/// One thing to write. Commands are written in the order they were sent.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    /// A call arrived: its record so far (usually just the arrival mark).
    /// A complete record (with an end) is stored as it is.
    CallStarted(CallRecord),
    /// A mark appended to a started call's timeline.
    CallMarked {
        /// The call's id.
        id: String,
        /// The mark.
        mark: Mark,
    },
    /// The IVR language the call ended up in.
    CallLanguage {
        /// The call's id.
        id: String,
        /// Language code.
        language: String,
    },
    /// A survey answer for a call.
    Survey {
        /// The call's id.
        id: String,
        /// The answer.
        answer: SurveyAnswer,
    },
    /// A media leg of the call closed, with its quality.
    CallLeg {
        /// The call's id.
        id: String,
        /// The leg's figures.
        leg: LegReport,
    },
    /// The call's record is closed.
    CallEnded {
        /// The call's id.
        id: String,
        /// How it ended.
        end: End,
    },
    /// An agent entered a state.
    AgentState(AgentStateRecord),
    /// A call-back was stored or updated (same id: replaced).
    CallbackStored {
        /// The call-back's id.
        id: u64,
        /// When it is due.
        due_at: Millis,
        /// The call-back, as its owner serialises it.
        json: serde_json::Value,
    },
    /// A call-back is done or cancelled.
    CallbackRemoved(u64),
    /// A call recording's index entry (see `recordings.rs`).
    Recording(super::recordings::RecordingCommand),
}

/// Tuning of the writer thread.
#[derive(Debug, Clone)]
pub(crate) struct WriterOptions {
    /// The most commands in one transaction.
    pub(crate) max_batch: usize,
    /// The longest a batch keeps collecting commands before it is written.
    pub(crate) max_batch_age: Duration,
    /// How long a write waits for another connection's lock before the
    /// batch fails and is retried.
    pub(crate) busy_timeout: Duration,
    /// The first wait before retrying a failed batch; it doubles on each
    /// failure up to `max_retry_wait`.
    pub(crate) first_retry_wait: Duration,
    /// The longest wait between retries.
    pub(crate) max_retry_wait: Duration,
}

impl Default for WriterOptions {
    fn default() -> WriterOptions {
        WriterOptions {
            max_batch: 20_000,
            max_batch_age: Duration::from_millis(100),
            busy_timeout: Duration::from_secs(1),
            first_retry_wait: Duration::from_millis(100),
            max_retry_wait: Duration::from_secs(5),
        }
    }
}

/// What the writer has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WriterStats {
    /// Commands written (committed).
    pub(crate) written: u64,
    /// Transactions committed.
    pub(crate) batches: u64,
    /// Batches that failed and were retried.
    pub(crate) retries: u64,
    /// Commands that could never be written (see the module docs), skipped.
    pub(crate) skipped: u64,
    /// Commands not written: sent after the writer stopped, or given up
    /// when shut-down timed out.
    pub(crate) lost: u64,
    /// Commands sent and not yet written.
    pub(crate) backlog: usize,
}

/// Counters shared by the senders and the thread.
#[derive(Default)]
struct Shared {
    backlog: AtomicUsize,
    written: AtomicU64,
    batches: AtomicU64,
    retries: AtomicU64,
    skipped: AtomicU64,
    lost: AtomicU64,
    /// Set when shut-down timed out: a batch that keeps failing is dropped
    /// (with an error log) so the thread can end.
    give_up: AtomicBool,
}

enum Message {
    Command(Command),
    /// Answer once everything sent before is committed.
    #[cfg_attr(not(test), allow(dead_code))]
    Flush(mpsc::SyncSender<()>),
    /// Write everything sent before, then stop.
    Shutdown,
}

/// The switch's handle on the store: sending never blocks. Clone it freely.
#[derive(Clone)]
pub(crate) struct StoreWriter {
    tx: mpsc::Sender<Message>,
    shared: Arc<Shared>,
}

impl StoreWriter {
    /// Queues a command for writing; returns at once. Fails only when the
    /// writer thread has stopped (the command is then lost, logged and
    /// counted in [`WriterStats::lost`]).
    pub(crate) fn send(&self, command: Command) -> Result<(), StoreError> {
        self.shared.backlog.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(Message::Command(command)).is_err() {
            self.shared.backlog.fetch_sub(1, Ordering::Relaxed);
            let lost = self.shared.lost.fetch_add(1, Ordering::Relaxed);
            if lost.is_power_of_two() || lost == 0 {
                tracing::error!(
                    lost = lost + 1,
                    "store writer has stopped: call records are not being saved"
                );
            }
            return Err(StoreError::WriterGone);
        }
        Ok(())
    }

    /// Waits until everything sent before is committed. Blocks: for tests
    /// and shut-down, never for the switch's core task.
    #[cfg_attr(not(test), allow(dead_code))] // for metrics and tests; the switch does not ask yet
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.tx.send(Message::Flush(tx)).map_err(|_| StoreError::WriterGone)?;
        rx.recv().map_err(|_| StoreError::WriterGone)
    }

    /// Commands sent and not yet written: grows when the disk is slower than
    /// the calls, or while a failing batch is retried.
    #[cfg_attr(not(test), allow(dead_code))] // for metrics and tests; the switch does not ask yet
    pub(crate) fn backlog(&self) -> usize {
        self.shared.backlog.load(Ordering::Relaxed)
    }

    /// What the writer has done so far.
    #[cfg_attr(not(test), allow(dead_code))] // for metrics and tests; the switch does not ask yet
    pub(crate) fn stats(&self) -> WriterStats {
        stats(&self.shared)
    }
}

/// The writer thread; stop it with [`WriterThread::shutdown`].
///
/// Dropping it leaves the thread running until every [`StoreWriter`] is
/// dropped, after which it writes what it has and ends.
pub(crate) struct WriterThread {
    handle: JoinHandle<()>,
    tx: mpsc::Sender<Message>,
    shared: Arc<Shared>,
}

impl WriterThread {
    /// Writes everything sent so far, then stops the thread. If that takes
    /// longer than `timeout` (a batch failing again and again), the batch in
    /// hand and the commands still queued are dropped with an error log, and
    /// the error tells how many commands have been lost in all.
    pub(crate) fn shutdown(self, timeout: Duration) -> Result<WriterStats, StoreError> {
        // The thread may already be gone; then there is nothing to tell it.
        let _ = self.tx.send(Message::Shutdown);
        let deadline = Instant::now() + timeout;
        while !self.handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let timed_out = !self.handle.is_finished();
        if timed_out {
            self.shared.give_up.store(true, Ordering::Relaxed);
        }
        if self.handle.join().is_err() {
            return Err(StoreError::WriterGone);
        }
        let stats = stats(&self.shared);
        if timed_out {
            return Err(StoreError::ShutdownTimeout(stats.lost));
        }
        Ok(stats)
    }
}

fn stats(shared: &Shared) -> WriterStats {
    WriterStats {
        written: shared.written.load(Ordering::Relaxed),
        batches: shared.batches.load(Ordering::Relaxed),
        retries: shared.retries.load(Ordering::Relaxed),
        skipped: shared.skipped.load(Ordering::Relaxed),
        lost: shared.lost.load(Ordering::Relaxed),
        backlog: shared.backlog.load(Ordering::Relaxed),
    }
}

/// Starts the writer thread on `conn`.
pub(super) fn spawn(conn: Connection, options: WriterOptions) -> Result<(StoreWriter, WriterThread), StoreError> {
    conn.busy_timeout(options.busy_timeout)?;
    let (tx, rx) = mpsc::channel();
    let shared = Arc::new(Shared::default());
    let thread_shared = Arc::clone(&shared);
    let handle = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || Writer::new(conn, options, thread_shared).run(rx))
        .map_err(StoreError::Spawn)?;
    Ok((
        StoreWriter {
            tx: tx.clone(),
            shared: Arc::clone(&shared),
        },
        WriterThread { handle, tx, shared },
    ))
}

/// What the writer knows of a call it is writing, so a mark is one insert.
#[derive(Debug, Clone, Copy)]
struct LiveCall {
    /// `calls.key`.
    key: i64,
    /// The `seq` of the call's next mark.
    next_seq: i64,
}

/// Why a command was not written.
enum Failure {
    /// The database cannot write now (locked, disk full, I/O): retry the batch.
    Retry(rusqlite::Error),
    /// This command can never be written: skip it.
    Skip(String),
}

impl Failure {
    fn from_sqlite(e: rusqlite::Error, what: impl FnOnce() -> String) -> Failure {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    ErrorCode::ConstraintViolation
                        | ErrorCode::TypeMismatch
                        | ErrorCode::TooBig
                        | ErrorCode::ParameterOutOfRange
                ) =>
            {
                Failure::Skip(format!("{}: {e}", what()))
            }
            // Anything else from SQLite itself may pass: keep the data.
            rusqlite::Error::SqliteFailure(..) => Failure::Retry(e),
            // Conversions and the like: the command itself is at fault.
            _ => Failure::Skip(format!("{}: {e}", what())),
        }
    }
}

struct Writer {
    conn: Connection,
    options: WriterOptions,
    shared: Arc<Shared>,
    live: HashMap<String, LiveCall>,
}

impl Writer {
    fn new(conn: Connection, options: WriterOptions, shared: Arc<Shared>) -> Writer {
        Writer {
            conn,
            options,
            shared,
            live: HashMap::new(),
        }
    }

    fn run(mut self, rx: mpsc::Receiver<Message>) {
        let mut batch = Vec::new();
        let mut waiters = Vec::new();
        let mut stop = false;
        while !stop {
            // Wait for the first message of a batch...
            match rx.recv() {
                Ok(m) => stop |= take(m, &mut batch, &mut waiters),
                Err(_) => break,
            }
            // ...then take what else is there, up to the batch limits. After a
            // shut-down request, take everything sent before it.
            let started = Instant::now();
            loop {
                if !stop && (batch.len() >= self.options.max_batch || started.elapsed() >= self.options.max_batch_age) {
                    break;
                }
                match rx.try_recv() {
                    Ok(m) => stop |= take(m, &mut batch, &mut waiters),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        stop = true;
                        break;
                    }
                }
            }
            self.write_until_done(&mut batch);
            for w in waiters.drain(..) {
                // The waiter may have stopped waiting; nothing to do then.
                let _ = w.send(());
            }
        }
        // Every sender is gone: nothing more can arrive.
        self.write_until_done(&mut batch);
    }

    /// Writes the batch, retrying failures that may pass, and empties it.
    fn write_until_done(&mut self, batch: &mut Vec<Command>) {
        if batch.is_empty() {
            return;
        }
        let mut wait = self.options.first_retry_wait;
        loop {
            match self.write(batch) {
                Ok(skipped) => {
                    let n = batch.len();
                    self.shared.skipped.fetch_add(skipped, Ordering::Relaxed);
                    self.shared.written.fetch_add(n as u64 - skipped, Ordering::Relaxed);
                    self.shared.batches.fetch_add(1, Ordering::Relaxed);
                    self.shared.backlog.fetch_sub(n, Ordering::Relaxed);
                    batch.clear();
                    return;
                }
                Err(e) => {
                    // The transaction was rolled back: what the writer
                    // remembered of live calls may be ahead of the database.
                    self.live.clear();
                    if self.shared.give_up.load(Ordering::Relaxed) {
                        tracing::error!(error = %e, commands = batch.len(), "store: giving up a batch at shut-down; these call records are lost");
                        self.shared.backlog.fetch_sub(batch.len(), Ordering::Relaxed);
                        self.shared.lost.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        batch.clear();
                        return;
                    }
                    self.shared.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, commands = batch.len(), retry_in = ?wait, "store: batch not written, will retry");
                    self.sleep(wait);
                    wait = (wait * 2).min(self.options.max_retry_wait);
                }
            }
        }
    }

    /// Sleeps, waking early if shut-down gives up.
    fn sleep(&self, wait: Duration) {
        let until = Instant::now() + wait;
        while Instant::now() < until && !self.shared.give_up.load(Ordering::Relaxed) {
            std::thread::sleep(
                until
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(20)),
            );
        }
    }

    /// One transaction for the batch; returns how many commands were skipped.
    fn write(&mut self, batch: &[Command]) -> Result<u64, rusqlite::Error> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut skipped = 0;
        for command in batch {
            match apply(&tx, &mut self.live, command) {
                Ok(()) => {}
                Err(Failure::Retry(e)) => return Err(e),
                Err(Failure::Skip(why)) => {
                    tracing::warn!(%why, "store: command skipped");
                    skipped += 1;
                }
            }
        }
        tx.commit()?;
        Ok(skipped)
    }
}

/// Sorts a message into the batch or the flush waiters; true for shut-down.
fn take(message: Message, batch: &mut Vec<Command>, waiters: &mut Vec<mpsc::SyncSender<()>>) -> bool {
    match message {
        Message::Command(c) => batch.push(c),
        Message::Flush(w) => waiters.push(w),
        Message::Shutdown => return true,
    }
    false
}

fn apply(tx: &Transaction<'_>, live: &mut HashMap<String, LiveCall>, command: &Command) -> Result<(), Failure> {
    match command {
        Command::CallStarted(record) => start(tx, live, record),
        Command::CallMarked { id, mark } => {
            let call = locate(tx, live, id)?;
            insert_mark(tx, call.key, call.next_seq, mark)
                .map_err(|e| Failure::from_sqlite(e, || format!("mark for call {id}")))?;
            if let Some(c) = live.get_mut(id) {
                c.next_seq += 1;
            }
            Ok(())
        }
        Command::CallLanguage { id, language } => {
            let n = tx
                .prepare_cached("UPDATE calls SET language = ?2 WHERE id = ?1")
                .and_then(|mut s| s.execute(params![id, language]))
                .map_err(|e| Failure::from_sqlite(e, || format!("language of call {id}")))?;
            if n == 0 {
                return Err(Failure::Skip(format!(
                    "language for call {id}, which was never started"
                )));
            }
            Ok(())
        }
        Command::Survey { id, answer } => {
            let call = locate(tx, live, id)?;
            insert_survey(tx, call.key, answer).map_err(|e| Failure::from_sqlite(e, || format!("survey of call {id}")))
        }
        Command::CallLeg { id, leg } => {
            let call = locate(tx, live, id)?;
            insert_leg(tx, call.key, leg).map_err(|e| Failure::from_sqlite(e, || format!("leg of call {id}")))
        }
        Command::CallEnded { id, end } => {
            let end = name(end).map_err(|e| Failure::Skip(format!("end of call {id}: {e}")))?;
            let n = tx
                .prepare_cached("UPDATE calls SET ended = ?2 WHERE id = ?1")
                .and_then(|mut s| s.execute(params![id, end]))
                .map_err(|e| Failure::from_sqlite(e, || format!("end of call {id}")))?;
            live.remove(id);
            if n == 0 {
                return Err(Failure::Skip(format!("end of call {id}, which was never started")));
            }
            Ok(())
        }
        Command::AgentState(r) => {
            let state = r.state.as_str();
            tx.prepare_cached("INSERT INTO agent_log (agent, at_ms, state, reason) VALUES (?1, ?2, ?3, ?4)")
                .and_then(|mut s| s.execute(params![r.agent, millis_to_sql(r.at), state, r.reason]))
                .map(drop)
                .map_err(|e| Failure::from_sqlite(e, || format!("state of agent {}", r.agent)))
        }
        Command::CallbackStored { id, due_at, json } => {
            let key = i64::try_from(*id).map_err(|_| Failure::Skip(format!("call-back id {id} is too large")))?;
            tx.prepare_cached(
                "INSERT INTO callbacks (id, due_at_ms, json) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET due_at_ms = excluded.due_at_ms, json = excluded.json",
            )
            .and_then(|mut s| s.execute(params![key, millis_to_sql(*due_at), json.to_string()]))
            .map(drop)
            .map_err(|e| Failure::from_sqlite(e, || format!("call-back {id}")))
        }
        Command::CallbackRemoved(id) => {
            let Ok(key) = i64::try_from(*id) else {
                return Err(Failure::Skip(format!("call-back id {id} is too large")));
            };
            tx.prepare_cached("DELETE FROM callbacks WHERE id = ?1")
                .and_then(|mut s| s.execute(params![key]))
                .map(drop)
                .map_err(|e| Failure::from_sqlite(e, || format!("removal of call-back {id}")))
        }
        Command::Recording(c) => {
            super::recordings::apply(tx, c).map_err(|e| Failure::from_sqlite(e, || format!("recording: {c:?}")))
        }
    }
}

/// Inserts a call with the marks and surveys its record already has.
fn start(tx: &Transaction<'_>, live: &mut HashMap<String, LiveCall>, record: &CallRecord) -> Result<(), Failure> {
    let id = &record.id;
    let arrival = record.arrival().unwrap_or_else(|| {
        tracing::warn!(call = %id, "store: call record without an arrival mark; stored with arrival 0");
        Millis(0)
    });
    let end = match &record.end {
        Some(end) => Some(name(end).map_err(|e| Failure::Skip(format!("end of call {id}: {e}")))?),
        None => None,
    };
    tx.prepare_cached(
        "INSERT INTO calls (id, caller, called, language, arrival_ms, ended) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            id,
            record.caller,
            record.called,
            record.language,
            millis_to_sql(arrival),
            end
        ])
    })
    .map_err(|e| Failure::from_sqlite(e, || format!("start of call {id}")))?;
    let key = tx.last_insert_rowid();
    for (seq, mark) in (0_i64..).zip(&record.marks) {
        insert_mark(tx, key, seq, mark).map_err(|e| Failure::from_sqlite(e, || format!("mark for call {id}")))?;
    }
    for answer in &record.surveys {
        insert_survey(tx, key, answer).map_err(|e| Failure::from_sqlite(e, || format!("survey of call {id}")))?;
    }
    if record.end.is_none() {
        let next_seq = i64::try_from(record.marks.len()).unwrap_or(i64::MAX);
        live.insert(id.clone(), LiveCall { key, next_seq });
    }
    Ok(())
}

/// The key and next mark number of a call: from memory for live calls,
/// else from the database (remembered if the call is still open).
fn locate(tx: &Transaction<'_>, live: &mut HashMap<String, LiveCall>, id: &str) -> Result<LiveCall, Failure> {
    if let Some(call) = live.get(id) {
        return Ok(*call);
    }
    let found = tx
        .prepare_cached(
            "SELECT key, ended IS NULL, (SELECT coalesce(max(seq) + 1, 0) FROM marks WHERE call = calls.key)
             FROM calls WHERE id = ?1",
        )
        .and_then(|mut s| {
            s.query_row(params![id], |row| {
                Ok((
                    LiveCall {
                        key: row.get(0)?,
                        next_seq: row.get(2)?,
                    },
                    row.get::<_, bool>(1)?,
                ))
            })
            .optional()
        })
        .map_err(|e| Failure::from_sqlite(e, || format!("looking up call {id}")))?;
    match found {
        Some((call, open)) => {
            if open {
                live.insert(id.to_owned(), call);
            }
            Ok(call)
        }
        None => Err(Failure::Skip(format!("call {id} was never started"))),
    }
}

fn insert_mark(tx: &Transaction<'_>, key: i64, seq: i64, mark: &Mark) -> Result<(), rusqlite::Error> {
    let (kind, subject, target) = to_columns(&mark.what);
    tx.prepare_cached("INSERT INTO marks (call, seq, at_ms, kind, subject, target) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
        .execute(params![key, seq, millis_to_sql(mark.at), kind, subject, target])?;
    Ok(())
}

fn insert_leg(tx: &Transaction<'_>, key: i64, leg: &LegReport) -> Result<(), rusqlite::Error> {
    let side = name(&leg.side).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    tx.prepare_cached(
        "INSERT INTO legs (call, side, agent, packets, lost, jitter_ms, rtt_ms, mos) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        key,
        side,
        leg.agent,
        i64::try_from(leg.packets).unwrap_or(i64::MAX),
        leg.lost,
        leg.jitter_ms,
        leg.rtt_ms,
        leg.mos
    ])?;
    Ok(())
}

fn insert_survey(tx: &Transaction<'_>, key: i64, answer: &SurveyAnswer) -> Result<(), rusqlite::Error> {
    let kind = name(&answer.kind).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    tx.prepare_cached("INSERT INTO surveys (call, at_ms, kind, score, agent) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![key, millis_to_sql(answer.at), kind, answer.score, answer.agent])?;
    Ok(())
}
