//! The durable outbox: every event a subscription wants is written here, in
//! the call-record database (schema version 5), before anyone tries to
//! deliver it, and stays until the receiver took it (2xx) or it became a
//! dead letter.
//!
//! ```sql
//! hook_events(seq INTEGER PRIMARY KEY, id TEXT UNIQUE, type, order_key, body, created_ms)
//! hook_deliveries(id INTEGER PRIMARY KEY, event, subscription, order_key,
//!                 state 'pending'|'dead', attempts, next_at_ms, last_error, updated_ms)
//! ```
//!
//! `body` is the exact JSON that is signed and sent, so a retry after a
//! restart sends the same bytes. A delivered row is deleted, and its event
//! with it once no delivery refers to it.
//!
//! Order per call: a delivery is due only when no earlier pending delivery
//! of the same subscription has the same `order_key` (the call, or the
//! call-back). A dead letter no longer holds its call's later events back;
//! retried, it is delivered after them.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::config::Subscription;
use super::event::EventType;

/// An event ready for the outbox.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    /// The event's id.
    pub(crate) id: String,
    /// Its type.
    pub(crate) kind: EventType,
    /// Its queue, for the subscriptions' filters.
    pub(crate) queue: Option<String>,
    /// See [`super::Event::order_key`].
    pub(crate) order_key: Option<String>,
    /// The JSON sent.
    pub(crate) body: String,
}

/// A delivery to make.
#[derive(Debug, Clone)]
pub(crate) struct Due {
    /// The delivery's id.
    pub(crate) id: i64,
    /// The event's id (the idempotency key).
    pub(crate) event_id: String,
    /// The event's type.
    pub(crate) kind: String,
    /// The JSON to send.
    pub(crate) body: String,
    /// Attempts made before this one.
    pub(crate) attempts: u32,
}

/// What a subscription's worker does next.
#[derive(Debug)]
pub(crate) enum Next {
    /// Deliver this now.
    Due(Due),
    /// Nothing due before this time (Unix ms).
    At(u64),
    /// Nothing pending.
    Idle,
}

/// A delivery that gave up, for the API.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DeadLetter {
    /// The delivery's id (what POST .../retry takes).
    pub(crate) id: i64,
    /// The subscription.
    pub(crate) subscription: String,
    /// The event's id.
    pub(crate) event_id: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// Attempts made.
    pub(crate) attempts: u32,
    /// Why the last one failed.
    pub(crate) last_error: Option<String>,
    /// When it was given up (Unix ms).
    pub(crate) failed_at_ms: u64,
    /// The event.
    pub(crate) event: serde_json::Value,
}

/// One connection to the outbox tables.
pub(crate) struct Outbox {
    conn: Connection,
}

fn to_sql(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn from_sql(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0)
}

impl Outbox {
    /// Opens the database the store has already brought to schema 5.
    pub(crate) fn open(path: &Path) -> rusqlite::Result<Outbox> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Outbox { conn })
    }

    /// Writes `events` and a delivery for each subscription that wants it,
    /// in one transaction; events nobody wants are not kept. Returns the
    /// subscriptions that got deliveries.
    pub(crate) fn insert(
        &mut self,
        events: &[Stored],
        subscriptions: &[Subscription],
        now: u64,
    ) -> rusqlite::Result<Vec<usize>> {
        let tx = self.conn.transaction()?;
        let mut woken = Vec::new();
        {
            let mut event_stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO hook_events (id, type, order_key, body, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut delivery_stmt = tx.prepare_cached(
                "INSERT INTO hook_deliveries (event, subscription, order_key, state, attempts, next_at_ms, updated_ms)
                 VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?4)",
            )?;
            for event in events {
                let wanted: Vec<usize> = subscriptions
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.wants(event.kind, event.queue.as_deref()))
                    .map(|(i, _)| i)
                    .collect();
                if wanted.is_empty() {
                    continue;
                }
                let added = event_stmt.execute(params![
                    event.id,
                    event.kind.as_str(),
                    event.order_key,
                    event.body,
                    to_sql(now)
                ])?;
                if added == 0 {
                    // Already there (the same id twice): delivered once.
                    continue;
                }
                let seq = tx.last_insert_rowid();
                for i in wanted {
                    delivery_stmt.execute(params![seq, subscriptions[i].name, event.order_key, to_sql(now)])?;
                    if !woken.contains(&i) {
                        woken.push(i);
                    }
                }
            }
        }
        tx.commit()?;
        Ok(woken)
    }

    /// The subscription's next delivery, in order per call.
    pub(crate) fn next(&self, subscription: &str, now: u64) -> rusqlite::Result<Next> {
        // Not held back by an earlier pending delivery of its call.
        const FREE: &str = "d.subscription = ?1 AND d.state = 'pending' AND (d.order_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM hook_deliveries p WHERE p.subscription = d.subscription AND p.state = 'pending'
                AND p.order_key = d.order_key AND p.event < d.event))";
        let due = self
            .conn
            .prepare_cached(&format!(
                "SELECT d.id, e.id, e.type, e.body, d.attempts FROM hook_deliveries d JOIN hook_events e ON e.seq = d.event
                 WHERE {FREE} AND d.next_at_ms <= ?2 ORDER BY d.event LIMIT 1"
            ))?
            .query_row(params![subscription, to_sql(now)], |row| {
                Ok(Due {
                    id: row.get(0)?,
                    event_id: row.get(1)?,
                    kind: row.get(2)?,
                    body: row.get(3)?,
                    attempts: row.get(4)?,
                })
            })
            .optional()?;
        if let Some(due) = due {
            return Ok(Next::Due(due));
        }
        let at: Option<i64> = self
            .conn
            .prepare_cached(&format!("SELECT min(d.next_at_ms) FROM hook_deliveries d WHERE {FREE}"))?
            .query_row(params![subscription], |row| row.get(0))?;
        Ok(at.map_or(Next::Idle, |at| Next::At(from_sql(at))))
    }

    /// The receiver took it.
    pub(crate) fn delivered(&mut self, id: i64) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        let event: Option<i64> = tx
            .query_row("SELECT event FROM hook_deliveries WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()?;
        tx.execute("DELETE FROM hook_deliveries WHERE id = ?1", [id])?;
        if let Some(event) = event {
            tx.execute(
                "DELETE FROM hook_events WHERE seq = ?1 AND NOT EXISTS (SELECT 1 FROM hook_deliveries WHERE event = ?1)",
                [event],
            )?;
        }
        tx.commit()
    }

    /// An attempt failed: try again at `retry_at`, or give up (`None`).
    pub(crate) fn failed(
        &mut self,
        id: i64,
        attempts: u32,
        retry_at: Option<u64>,
        error: &str,
        now: u64,
    ) -> rusqlite::Result<()> {
        let (state, next) = match retry_at {
            Some(at) => ("pending", at),
            None => ("dead", now),
        };
        self.conn.execute(
            "UPDATE hook_deliveries SET state = ?2, attempts = ?3, next_at_ms = ?4, last_error = ?5, updated_ms = ?6 WHERE id = ?1",
            params![id, state, attempts, to_sql(next), error, to_sql(now)],
        )?;
        Ok(())
    }

    /// Dead letters, oldest first, at most `limit`.
    pub(crate) fn dead_letters(&self, limit: u32) -> rusqlite::Result<Vec<DeadLetter>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.id, d.subscription, e.id, e.type, d.attempts, d.last_error, d.updated_ms, e.body
             FROM hook_deliveries d JOIN hook_events e ON e.seq = d.event
             WHERE d.state = 'dead' ORDER BY d.id LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |row| {
            let body: String = row.get(7)?;
            Ok(DeadLetter {
                id: row.get(0)?,
                subscription: row.get(1)?,
                event_id: row.get(2)?,
                kind: row.get(3)?,
                attempts: row.get(4)?,
                last_error: row.get(5)?,
                failed_at_ms: from_sql(row.get(6)?),
                event: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
            })
        })?;
        rows.collect()
    }

    /// Puts a dead letter back in line with fresh attempts; returns its
    /// subscription, or `None` if there is no such dead letter.
    pub(crate) fn retry(&mut self, id: i64, now: u64) -> rusqlite::Result<Option<String>> {
        let subscription: Option<String> = self
            .conn
            .query_row(
                "SELECT subscription FROM hook_deliveries WHERE id = ?1 AND state = 'dead'",
                [id],
                |row| row.get(0),
            )
            .optional()?;
        if subscription.is_some() {
            self.conn.execute(
                "UPDATE hook_deliveries SET state = 'pending', attempts = 0, next_at_ms = ?2, updated_ms = ?2 WHERE id = ?1",
                params![id, to_sql(now)],
            )?;
        }
        Ok(subscription)
    }

    /// Deliveries waiting, per state, for the metrics.
    pub(crate) fn counts(&self) -> rusqlite::Result<(u64, u64)> {
        self.conn.query_row(
            "SELECT coalesce(sum(state = 'pending'), 0), coalesce(sum(state = 'dead'), 0) FROM hook_deliveries",
            [],
            |row| Ok((from_sql(row.get(0)?), from_sql(row.get(1)?))),
        )
    }
}

/// The delay before attempt `attempts + 1` (after `attempts` failures):
/// `base × 2^(attempts-1)`, at most `max`, less a random share of up to
/// half ("equal jitter"), so that receivers coming back are not hit by
/// every sender at once. `unit` in [0, 1) is the random draw.
pub(crate) fn backoff(attempts: u32, base_ms: u64, max_ms: u64, unit: f64) -> u64 {
    let exp = attempts.saturating_sub(1).min(40);
    let full = base_ms.saturating_mul(1u64 << exp).min(max_ms);
    let half = full / 2;
    let jitter = (half as f64 * unit.clamp(0.0, 1.0)) as u64;
    full - jitter
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
