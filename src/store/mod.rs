//! Call records, the agent state log, survey answers and call-backs in SQLite,
//! so that nothing is lost across a restart or a crash.
//!
//! # Shape
//!
//! - [`Store`] is one connection for opening, recovering and reading.
//! - [`StoreWriter`] is what the switch holds: sending a [`Command`] puts it on
//!   an unbounded channel and returns at once, so the switch's core task never
//!   waits on the disk. A dedicated thread ([`WriterThread`]) owns a second
//!   connection, drains the channel and writes what it got in one transaction
//!   per batch: a batch ends when the channel is empty, after
//!   [`WriterOptions::max_batch`] commands or after
//!   [`WriterOptions::max_batch_age`]. Under load, batches grow by themselves,
//!   so the cost of a commit is shared by more commands exactly when it matters.
//!
//! # Schema (version 2, kept in `PRAGMA user_version`)
//!
//! ```sql
//! calls(key INTEGER PRIMARY KEY, id TEXT UNIQUE, caller, called, language,
//!       arrival_ms INTEGER, ended TEXT)        -- index on arrival_ms; partial index on open calls
//! marks(call, seq, at_ms, kind, subject, target) -- WITHOUT ROWID, primary key (call, seq)
//! surveys(call, at_ms, kind, score, agent)     -- index on call
//! agent_log(agent, at_ms, state, reason)       -- indexes on at_ms and (agent, at_ms)
//! callbacks(id INTEGER PRIMARY KEY, due_at_ms, json)
//! ```
//!
//! Version 1 kept a mark's milestone as JSON; opening such a file converts it.
//!
//! Why this shape:
//! - A mark is a row appended to `marks`, never a rewrite of the call's
//!   record: a JSON column holding the whole timeline would be rewritten on
//!   every mark, which is quadratic in the marks of a call.
//! - `marks` and `surveys` refer to a call by its integer `key`, the rowid of
//!   `calls`, not by its text id: rows stay small, and since keys are given in
//!   the order calls start, which is the order they arrive, the marks of a
//!   day of calls are one contiguous range of the `marks` b-tree (clustered by
//!   `(call, seq)`), read in one range scan instead of one lookup per call.
//! - The writer thread remembers the key and the next mark number of each
//!   live call, so appending a mark is a single insert, no lookup; a call it
//!   does not know (after a restart, or after a failed batch cleared that
//!   memory) is looked up once by its id.
//! - A milestone is stored in columns: its kind by the serde name of the
//!   variant (`enqueued`, `hung_up`), the queue, agent or party it names
//!   (`subject`), and where it went (`target`); the table is in
//!   `milestone.rs`. Without a JSON parse per mark, reading a day of
//!   records back takes less than half the time, and rows are smaller. A row that cannot be read
//!   back is skipped with a warning, never a panic, and the rest of its
//!   record is kept.
//! - Call-backs are stored opaque (`json`), with their id and due time in
//!   columns: their type belongs to the ACD, which serialises them.
//!
//! # Durability
//!
//! The database is in WAL mode with `synchronous = NORMAL`. In WAL mode this
//! never corrupts the database, and a committed transaction survives a crash
//! of the process (the commit has reached the operating system); only a
//! power loss or an operating-system crash may lose the last transactions
//! before the next checkpoint. That is the trade the switch makes: an fsync
//! per batch would bind its write rate to the disk's flush latency, for a
//! failure that would also have dropped the calls themselves.
//!
//! When a batch fails for a reason that may pass (the database is locked, the
//! disk is full, an I/O error), the writer rolls it back, logs, waits (100 ms,
//! doubling up to 5 s) and writes the same batch again, for as long as it
//! takes; new commands wait in the channel meanwhile ([`StoreWriter::backlog`]
//! tells how many). A command that can never be written (a mark for a call
//! that was never started, a second start of the same id) is skipped with a
//! warning and counted, without holding up the rest of its batch.
//!
//! # Crash recovery
//!
//! [`Store::open`] closes every call that has no end: such a call was live
//! when the switch stopped. It gets `end = interrupted` and, unless its
//! timeline already holds a hang-up, a final `HungUp { by: Switch }` mark at
//! the time of its last mark, the last moment the switch knew the call to be
//! alive. So every stored record that is not live ends with a hang-up, and
//! the `interrupted` end tells that this last mark was written at recovery,
//! not seen on the wire. Opening for reports ([`Store::open_read_only`]) does
//! none of that: the calls of a running switch are live, not dangling.
//!
//! Not here: retention (deleting old records) and PostgreSQL for several nodes.

mod codec;
mod milestone;
mod read;
pub(crate) mod recordings;
mod recover;
mod schema;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

pub(crate) use self::writer::{Command, StoreWriter, WriterOptions, WriterThread};

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum StoreError {
    /// SQLite refused (cannot open the file, I/O error, ...).
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file was written by a newer version of the switch.
    #[error("the database has schema version {found}; this version of the switch reads up to {supported}")]
    NewerSchema {
        /// The version in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// Reading only, and the file has an older schema (opening it with
    /// [`Store::open`], as the switch does, upgrades it).
    #[error("the database has schema version {found}, older than this version's {current}; starting the switch on it upgrades it")]
    OlderSchema {
        /// The version in the file.
        found: i64,
        /// The version this build reads.
        current: i64,
    },
    /// Reading only, and there is no database at that path.
    #[error("no database at {0}")]
    Missing(PathBuf),
    /// The writer thread could not be started.
    #[error("cannot start the store's writer thread: {0}")]
    Spawn(std::io::Error),
    /// The writer thread has stopped (shut down, or it panicked).
    #[error("the store's writer thread has stopped")]
    WriterGone,
    /// A file beside the database (a recording) could not be changed.
    #[error("file: {0}")]
    Io(std::io::Error),
    /// The writer thread did not finish its work in time at shut-down.
    #[error("the store's writer did not finish in time; {0} commands were not written")]
    ShutdownTimeout(u64),
}

/// The store: one SQLite connection for opening, recovery and reading.
///
/// Reading while a [`WriterThread`] writes is fine: WAL mode lets readers
/// and one writer work at once, each on its own connection.
pub(crate) struct Store {
    conn: Connection,
    path: PathBuf,
    interrupted: usize,
}

impl Store {
    /// Opens (creating it if needed) the database at `path`, brings its
    /// schema up to date, and closes the calls left open by a previous run
    /// (see the module docs); [`Store::interrupted_on_open`] tells how many.
    ///
    /// Only the switch should open a store this way: opening it while
    /// another switch runs on it would close that switch's live calls.
    pub(crate) fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path)?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        let interrupted = recover::close_dangling(&mut conn)?;
        Ok(Store {
            conn,
            path,
            interrupted,
        })
    }

    /// Opens an existing database for reading only: no schema change, no
    /// recovery, so it is safe while a switch is writing to it. A file
    /// without the schema (an empty file) reads as an empty store.
    pub(crate) fn open_read_only(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(StoreError::Missing(path));
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(schema::BUSY_TIMEOUT)?;
        let version = schema::version(&conn)?;
        let conn = if version == 0 {
            // Nothing was ever written: an in-memory database with the
            // schema reads the same as an empty store.
            let mut empty = Connection::open_in_memory()?;
            schema::migrate(&mut empty)?;
            empty
        } else if version > schema::VERSION {
            return Err(StoreError::NewerSchema {
                found: version,
                supported: schema::VERSION,
            });
        } else if version < schema::VERSION {
            // Upgrading writes; reading only, leave that to the switch.
            return Err(StoreError::OlderSchema {
                found: version,
                current: schema::VERSION,
            });
        } else {
            conn
        };
        Ok(Store {
            conn,
            path,
            interrupted: 0,
        })
    }

    /// How many dangling calls [`Store::open`] closed as interrupted.
    pub(crate) fn interrupted_on_open(&self) -> usize {
        self.interrupted
    }

    /// The database file.
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Starts the writer thread on its own connection to this database.
    pub(crate) fn writer(&self, options: WriterOptions) -> Result<(StoreWriter, WriterThread), StoreError> {
        let conn = Connection::open(&self.path)?;
        schema::configure(&conn)?;
        writer::spawn(conn, options)
    }
}
