//! Reading records, the agent log and call-backs back.
//!
//! A row that cannot be read (an unknown kind of mark, an unknown state
//! name, a NULL where a value belongs, call-back JSON that does not parse)
//! is skipped with a warning; a failure of the database itself is an error.

use std::collections::HashMap;

use queue::record::{AgentStateRecord, CallRecord, LegReport, Mark, Milestone, QaScore, SurveyAnswer};
use queue::Millis;
use rusqlite::{params, Row};

use super::codec::{millis_from_sql, millis_to_sql, parse_name};
use super::milestone::from_columns;
use super::{Store, StoreError};

/// Why a row was skipped.
#[derive(Debug, thiserror::Error)]
enum BadRow {
    #[error(transparent)]
    Column(#[from] rusqlite::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Mark(String),
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
            calls.push(row, false)?;
        }
        calls.fill(self)?;
        Ok(calls.records)
    }

    /// The calls that arrived in `[from, to)`, in arrival order, each with
    /// its arrival mark only: no other marks, no surveys. That is all the
    /// repeat-caller rate needs of the calls before a window (their caller
    /// and arrival), at a fraction of the cost of whole records; such a
    /// record has no queue segment, so it counts in no other figure.
    pub(crate) fn arrivals(&self, from: Millis, to: Millis) -> Result<Vec<CallRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, id, caller, called, language, arrival_ms, ended FROM calls
             WHERE arrival_ms >= ?1 AND arrival_ms < ?2 ORDER BY arrival_ms, key",
        )?;
        let mut rows = stmt.query(params![millis_to_sql(from), millis_to_sql(to)])?;
        let mut calls = Calls::default();
        while let Some(row) = rows.next()? {
            calls.push(row, true)?;
        }
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
            calls.push(row, false)?;
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
    /// `calls.key` of each record.
    keys: Vec<i64>,
}

/// The marks a call usually has, to allocate once.
const USUAL_MARKS: usize = 10;

impl Calls {
    /// Reads a row of `key, id, caller, called, language, arrival_ms, ended`;
    /// with `arrival_only`, the record gets its arrival mark, else no mark
    /// (its marks come from [`Calls::fill`]).
    fn push(&mut self, row: &Row<'_>, arrival_only: bool) -> Result<(), StoreError> {
        let read = || -> Result<(i64, CallRecord), BadRow> {
            let ended = row.get_ref(6)?.as_str_or_null().map_err(rusqlite::Error::from)?;
            let marks = if arrival_only {
                vec![Mark {
                    at: millis_from_sql(row.get(5)?),
                    what: Milestone::Arrival,
                }]
            } else {
                Vec::with_capacity(USUAL_MARKS)
            };
            Ok((
                row.get(0)?,
                CallRecord {
                    id: row.get(1)?,
                    caller: row.get(2)?,
                    called: row.get(3)?,
                    language: row.get(4)?,
                    marks,
                    surveys: Vec::new(),
                    legs: Vec::new(),
                    evaluations: Vec::new(),
                    end: ended.map(parse_name).transpose()?,
                },
            ))
        };
        match read() {
            Ok((key, record)) => {
                self.keys.push(key);
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

    /// Reads the marks, surveys and legs of the calls read: one range scan
    /// per table over the keys, since calls that arrived together have
    /// neighbouring keys.
    fn fill(&mut self, store: &Store) -> Result<(), StoreError> {
        let Some(index) = KeyIndex::new(&self.keys) else {
            return Ok(());
        };
        self.fill_from(
            store,
            &index,
            "mark",
            "SELECT call, seq, at_ms, kind, subject, target FROM marks
             WHERE call BETWEEN ?1 AND ?2 ORDER BY call, seq",
            |row| {
                let text = |i| row.get_ref(i)?.as_str_or_null().map_err(rusqlite::Error::from);
                let kind = text(3)?.ok_or_else(|| BadRow::Mark("a mark without a kind".into()))?;
                Ok(Mark {
                    at: millis_from_sql(row.get(2)?),
                    what: from_columns(kind, text(4)?, text(5)?).map_err(BadRow::Mark)?,
                })
            },
            |record, mark| record.marks.push(mark),
        )?;
        self.fill_from(
            store,
            &index,
            "survey answer",
            "SELECT call, at_ms, kind, score, agent FROM surveys WHERE call BETWEEN ?1 AND ?2 ORDER BY call, rowid",
            |row| {
                Ok(SurveyAnswer {
                    at: millis_from_sql(row.get(1)?),
                    kind: parse_name(row.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?)?,
                    score: row.get(3)?,
                    agent: row.get(4)?,
                })
            },
            |record, answer| record.surveys.push(answer),
        )?;
        self.fill_from(
            store,
            &index,
            "leg",
            "SELECT call, side, agent, packets, lost, jitter_ms, rtt_ms, mos FROM legs \
             WHERE call BETWEEN ?1 AND ?2 ORDER BY call, rowid",
            |row| {
                Ok(LegReport {
                    side: parse_name(row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?)?,
                    agent: row.get(2)?,
                    packets: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
                    lost: row.get(4)?,
                    jitter_ms: row.get(5)?,
                    rtt_ms: row.get(6)?,
                    mos: row.get(7)?,
                })
            },
            |record, leg| record.legs.push(leg),
        )?;
        self.fill_from(
            store,
            &index,
            "QA evaluation",
            "SELECT call, agent, total, at_ms FROM qa_evaluations WHERE call BETWEEN ?1 AND ?2 ORDER BY call, id",
            |row| {
                Ok(QaScore {
                    agent: row.get(1)?,
                    total: row.get(2)?,
                    at: millis_from_sql(row.get(3)?),
                })
            },
            |record, score| record.evaluations.push(score),
        )
    }

    /// Reads the rows of `sql` (a table of the calls' parts, the call's key
    /// first, keys bound as ?1 and ?2) and adds each to its call's record. A
    /// row that cannot be read is skipped with a warning naming `what`; a
    /// failure of the database ends the read.
    fn fill_from<T>(
        &mut self,
        store: &Store,
        index: &KeyIndex,
        what: &str,
        sql: &str,
        read: impl Fn(&Row<'_>) -> Result<T, BadRow>,
        add: impl Fn(&mut CallRecord, T),
    ) -> Result<(), StoreError> {
        let (min_key, max_key) = index.range();
        let mut stmt = store.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params![min_key, max_key])?;
        while let Some(row) = rows.next()? {
            let Some(i) = row.get_ref(0)?.as_i64().ok().and_then(|key| index.get(key)) else {
                continue;
            };
            match read(row) {
                Ok(part) => add(&mut self.records[i], part),
                Err(e) => {
                    let why = e.to_string();
                    if let Some(fatal) = e.into_fatal() {
                        return Err(fatal.into());
                    }
                    tracing::warn!(call = %self.records[i].id, %why, "store: unreadable {what} skipped");
                }
            }
        }
        Ok(())
    }
}

/// From `calls.key` to the index of the record read. Keys of calls read
/// together are nearly contiguous, so usually a table indexed by the key's
/// offset, which beats hashing on the 8 lookups per call.
enum KeyIndex {
    Dense {
        min: i64,
        max: i64,
        slots: Vec<u32>,
    },
    Sparse {
        min: i64,
        max: i64,
        map: HashMap<i64, usize>,
    },
}

impl KeyIndex {
    /// `None` when there are no keys.
    fn new(keys: &[i64]) -> Option<KeyIndex> {
        let min = *keys.iter().min()?;
        let max = *keys.iter().max()?;
        let span = usize::try_from(max.abs_diff(min))
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        if span <= keys.len().saturating_mul(4).saturating_add(1024) && u32::try_from(keys.len()).is_ok() {
            let mut slots = vec![u32::MAX; span];
            for (i, key) in (0_u32..).zip(keys) {
                if let Some(slot) = usize::try_from(key - min).ok().and_then(|s| slots.get_mut(s)) {
                    *slot = i;
                }
            }
            Some(KeyIndex::Dense { min, max, slots })
        } else {
            let map = keys.iter().enumerate().map(|(i, &k)| (k, i)).collect();
            Some(KeyIndex::Sparse { min, max, map })
        }
    }

    fn range(&self) -> (i64, i64) {
        match self {
            KeyIndex::Dense { min, max, .. } | KeyIndex::Sparse { min, max, .. } => (*min, *max),
        }
    }

    fn get(&self, key: i64) -> Option<usize> {
        match self {
            KeyIndex::Dense { min, slots, .. } => {
                let slot = *slots.get(usize::try_from(key.checked_sub(*min)?).ok()?)?;
                (slot != u32::MAX).then_some(slot as usize)
            }
            KeyIndex::Sparse { map, .. } => map.get(&key).copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::KeyIndex;

    #[test]
    fn key_index_dense_and_sparse() {
        assert!(KeyIndex::new(&[]).is_none());
        for keys in [vec![7, 5, 6, 9], vec![3, 1_000_000, -4, 20_000]] {
            let index = KeyIndex::new(&keys).unwrap();
            assert_eq!(matches!(index, KeyIndex::Dense { .. }), keys[1] == 5);
            for (i, &key) in keys.iter().enumerate() {
                assert_eq!(index.get(key), Some(i));
            }
            let (min, max) = index.range();
            assert_eq!((min, max), (*keys.iter().min().unwrap(), *keys.iter().max().unwrap()));
            assert_eq!(index.get(8), None);
            assert_eq!(index.get(min - 1), None);
            assert_eq!(index.get(max + 1), None);
            assert_eq!(index.get(i64::MIN), None);
        }
    }
}
