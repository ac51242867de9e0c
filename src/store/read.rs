//! Reading records, the agent log and call-backs back.
//!
//! A row that cannot be read (a milestone whose JSON does not parse, an
//! unknown state name, a NULL where a value belongs) is skipped with a
//! warning; a failure of the database itself is an error.

use std::collections::HashMap;

use queue::record::{AgentStateRecord, CallRecord, Mark, Milestone, SurveyAnswer};
use queue::Millis;
use rusqlite::{params, Row};

use super::codec::{millis_from_sql, millis_to_sql, parse_name};
use super::{Store, StoreError};

/// Why a row was skipped.
#[derive(Debug, thiserror::Error)]
enum BadRow {
    #[error(transparent)]
    Column(#[from] rusqlite::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl BadRow {
    /// A failure of the database itself, not of one row's content.
    fn into_fatal(self) -> Option<rusqlite::Error> {
        match self {
            BadRow::Column(e @ rusqlite::Error::SqliteFailure(..)) => Some(e),
            _ => None,
        }
    }
}

impl Store {
    /// The calls that arrived in `[from, to)`, in arrival order, with their
    /// marks and surveys. KPIs over a window need calls that arrived a little
    /// before it too (queued before the window, and the repeat-caller
    /// window): the caller widens `from` for that.
    pub(crate) fn records_arrived(&self, from: Millis, to: Millis) -> Result<Vec<CallRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, id, caller, called, language, arrival_ms, ended FROM calls
             WHERE arrival_ms >= ?1 AND arrival_ms < ?2 ORDER BY arrival_ms, key",
        )?;
        let mut rows = stmt.query(params![millis_to_sql(from), millis_to_sql(to)])?;
        let mut calls = Calls::default();
        while let Some(row) = rows.next()? {
            calls.push(row)?;
        }
        calls.fill(self)?;
        Ok(calls.records)
    }

    /// One call's record, if stored.
    #[cfg_attr(not(test), allow(dead_code))] // for the API; the switch does not ask yet
    pub(crate) fn record(&self, id: &str) -> Result<Option<CallRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT key, id, caller, called, language, arrival_ms, ended FROM calls WHERE id = ?1")?;
        let mut rows = stmt.query(params![id])?;
        let mut calls = Calls::default();
        if let Some(row) = rows.next()? {
            calls.push(row)?;
        }
        calls.fill(self)?;
        Ok(calls.records.pop())
    }

    /// Agents' state changes in `[from, to)`, in time order, preceded by
    /// each agent's last change before `from`, so that the state every agent
    /// was in at `from` is known.
    pub(crate) fn agent_log(&self, from: Millis, to: Millis) -> Result<Vec<AgentStateRecord>, StoreError> {
        let from_sql = millis_to_sql(from);
        let mut log = Vec::new();
        // Each agent's last change before `from`: the distinct agents by a
        // skip scan of the (agent, at_ms) index, then one lookup each.
        let mut agents = self.conn.prepare_cached(
            "WITH RECURSIVE agents (name) AS (
                 SELECT min(agent) FROM agent_log
                 UNION ALL
                 SELECT (SELECT min(agent) FROM agent_log WHERE agent > agents.name)
                 FROM agents WHERE agents.name IS NOT NULL
             )
             SELECT l.agent, l.at_ms, l.state, l.reason FROM agents
             JOIN agent_log l ON l.rowid = (
                 SELECT rowid FROM agent_log
                 WHERE agent = agents.name AND at_ms < ?1
                 ORDER BY at_ms DESC, rowid DESC LIMIT 1
             )",
        )?;
        let mut rows = agents.query(params![from_sql])?;
        while let Some(row) = rows.next()? {
            push_agent_state(row, &mut log)?;
        }
        log.sort_by_key(|r| r.at);
        let mut stmt = self.conn.prepare_cached(
            "SELECT agent, at_ms, state, reason FROM agent_log
             WHERE at_ms >= ?1 AND at_ms < ?2 ORDER BY at_ms, rowid",
        )?;
        let mut rows = stmt.query(params![from_sql, millis_to_sql(to)])?;
        while let Some(row) = rows.next()? {
            push_agent_state(row, &mut log)?;
        }
        Ok(log)
    }

    /// Every stored call-back, the soonest due first.
    pub(crate) fn load_callbacks(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, json FROM callbacks ORDER BY due_at_ms, id")?;
        let mut rows = stmt.query([])?;
        let mut callbacks = Vec::new();
        while let Some(row) = rows.next()? {
            let id = row.get_ref(0)?.as_i64().ok();
            let json = row
                .get_ref(1)
                .and_then(|v| v.as_str().map_err(rusqlite::Error::from))
                .map_err(BadRow::from)
                .and_then(|text| Ok(serde_json::from_str(text)?));
            match json {
                Ok(value) => callbacks.push(value),
                Err(e) => {
                    if let Some(fatal) = e.into_fatal() {
                        return Err(fatal.into());
                    }
                    tracing::warn!(?id, "store: unreadable call-back skipped");
                }
            }
        }
        Ok(callbacks)
    }
}

fn push_agent_state(row: &Row<'_>, log: &mut Vec<AgentStateRecord>) -> Result<(), StoreError> {
    let read = || -> Result<AgentStateRecord, BadRow> {
        Ok(AgentStateRecord {
            agent: row.get(0)?,
            at: millis_from_sql(row.get(1)?),
            state: parse_name(row.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?)?,
            reason: row.get(3)?,
        })
    };
    match read() {
        Ok(r) => log.push(r),
        Err(e) => {
            let why = e.to_string();
            if let Some(fatal) = e.into_fatal() {
                return Err(fatal.into());
            }
            tracing::warn!(%why, "store: unreadable agent state skipped");
        }
    }
    Ok(())
}

/// Records being read: calls first, then their marks and surveys.
#[derive(Default)]
struct Calls {
    records: Vec<CallRecord>,
    /// `calls.key` -> index in `records`.
    index: HashMap<i64, usize>,
    min_key: i64,
    max_key: i64,
}

impl Calls {
    /// Reads a row of `key, id, caller, called, language, arrival_ms, ended`.
    fn push(&mut self, row: &Row<'_>) -> Result<(), StoreError> {
        let read = || -> Result<(i64, CallRecord), BadRow> {
            let ended: Option<String> = row.get(6)?;
            Ok((
                row.get(0)?,
                CallRecord {
                    id: row.get(1)?,
                    caller: row.get(2)?,
                    called: row.get(3)?,
                    language: row.get(4)?,
                    marks: Vec::new(),
                    surveys: Vec::new(),
                    end: ended.as_deref().map(parse_name).transpose()?,
                },
            ))
        };
        match read() {
            Ok((key, record)) => {
                if self.records.is_empty() {
                    (self.min_key, self.max_key) = (key, key);
                }
                self.min_key = self.min_key.min(key);
                self.max_key = self.max_key.max(key);
                self.index.insert(key, self.records.len());
                self.records.push(record);
            }
            Err(e) => {
                let why = e.to_string();
                if let Some(fatal) = e.into_fatal() {
                    return Err(fatal.into());
                }
                tracing::warn!(%why, "store: unreadable call skipped");
            }
        }
        Ok(())
    }

    /// Reads the marks and surveys of the calls read: one range scan over
    /// the keys, since calls that arrived together have neighbouring keys.
    fn fill(&mut self, store: &Store) -> Result<(), StoreError> {
        if self.records.is_empty() {
            return Ok(());
        }
        let mut stmt = store.conn.prepare_cached(
            "SELECT call, seq, at_ms, what FROM marks WHERE call BETWEEN ?1 AND ?2 ORDER BY call, seq",
        )?;
        let mut rows = stmt.query(params![self.min_key, self.max_key])?;
        while let Some(row) = rows.next()? {
            let Some(&i) = row.get::<_, i64>(0).ok().and_then(|key| self.index.get(&key)) else {
                continue;
            };
            let read = || -> Result<Mark, BadRow> {
                let what: Milestone = serde_json::from_str(row.get_ref(3)?.as_str().map_err(rusqlite::Error::from)?)?;
                Ok(Mark {
                    at: millis_from_sql(row.get(2)?),
                    what,
                })
            };
            match read() {
                Ok(mark) => self.records[i].marks.push(mark),
                Err(e) => {
                    let why = e.to_string();
                    if let Some(fatal) = e.into_fatal() {
                        return Err(fatal.into());
                    }
                    let seq: Option<i64> = row.get(1).ok();
                    tracing::warn!(call = %self.records[i].id, ?seq, %why, "store: unreadable mark skipped");
                }
            }
        }
        let mut stmt = store.conn.prepare_cached(
            "SELECT call, at_ms, kind, score, agent FROM surveys WHERE call BETWEEN ?1 AND ?2 ORDER BY call, rowid",
        )?;
        let mut rows = stmt.query(params![self.min_key, self.max_key])?;
        while let Some(row) = rows.next()? {
            let Some(&i) = row.get::<_, i64>(0).ok().and_then(|key| self.index.get(&key)) else {
                continue;
            };
            let read = || -> Result<SurveyAnswer, BadRow> {
                Ok(SurveyAnswer {
                    at: millis_from_sql(row.get(1)?),
                    kind: parse_name(row.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?)?,
                    score: row.get(3)?,
                    agent: row.get(4)?,
                })
            };
            match read() {
                Ok(answer) => self.records[i].surveys.push(answer),
                Err(e) => {
                    let why = e.to_string();
                    if let Some(fatal) = e.into_fatal() {
                        return Err(fatal.into());
                    }
                    tracing::warn!(call = %self.records[i].id, %why, "store: unreadable survey answer skipped");
                }
            }
        }
        Ok(())
    }
}
