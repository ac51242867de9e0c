//! Closing the calls a stopped switch left open (see the module docs).

use queue::record::{End, Milestone, Party};
use rusqlite::{params, Connection, TransactionBehavior};

use super::codec::name;
use super::milestone::{to_columns, HUNG_UP};
use super::StoreError;

/// Closes every call without an end as interrupted, adding a final
/// `HungUp { by: Switch }` at its last mark's time unless it has a hang-up
/// already. One transaction; returns how many calls were closed.
pub(super) fn close_dangling(conn: &mut Connection) -> Result<usize, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let open: Vec<(i64, i64)> = tx
        .prepare("SELECT key, arrival_ms FROM calls WHERE ended IS NULL")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    if open.is_empty() {
        return Ok(0);
    }
    let (hung_up, by, _) = to_columns(&Milestone::HungUp { by: Party::Switch });
    let interrupted = name(&End::Interrupted).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    {
        let mut marks = tx.prepare("SELECT seq, at_ms, kind FROM marks WHERE call = ?1")?;
        let mut add_mark =
            tx.prepare("INSERT INTO marks (call, seq, at_ms, kind, subject) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        let mut close = tx.prepare("UPDATE calls SET ended = ?2 WHERE key = ?1")?;
        for &(key, arrival) in &open {
            let mut next_seq = 0_i64;
            let mut last_at = arrival;
            let mut has_hang_up = false;
            let mut rows = marks.query(params![key])?;
            while let Some(row) = rows.next()? {
                next_seq = next_seq.max(row.get::<_, i64>(0)?.saturating_add(1));
                last_at = last_at.max(row.get(1)?);
                has_hang_up |= row.get_ref(2)?.as_str().ok() == Some(HUNG_UP);
            }
            if !has_hang_up {
                add_mark.execute(params![key, next_seq, last_at, hung_up, by])?;
            }
            close.execute(params![key, interrupted])?;
        }
    }
    tx.commit()?;
    Ok(open.len())
}
