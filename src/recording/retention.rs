//! Retention: recordings older than their queue's `retention_days` are
//! deleted (files and sidecar; the index row stays, marked deleted by
//! `retention`, with an audit entry). Runs once at start and then hourly, on
//! a blocking thread of tokio's pool: it is file and database work.

use std::path::PathBuf;
use std::time::Duration;

use crate::store::recordings;

/// Who the audit log names for deletions made by retention.
pub(crate) const WHO: &str = "retention";

/// How often retention runs.
pub(crate) const PERIOD: Duration = Duration::from_secs(3600);

/// Whether a recording that started at `started_ms` and is kept
/// `retention_days` (0: forever) is due for deletion at `now_ms`.
pub(crate) fn is_due(started_ms: i64, retention_days: u32, now_ms: i64) -> bool {
    retention_days > 0 && now_ms.saturating_sub(started_ms) >= i64::from(retention_days) * 86_400_000
}

/// One pass: deletes what is due at `now_ms`; returns how many were deleted.
pub(crate) fn run_once(db: &std::path::Path, now_ms: i64) -> Result<usize, crate::store::StoreError> {
    let mut conn = recordings::open(db)?;
    let mut deleted = 0;
    for (id, started_ms, days) in recordings::retained(&conn)? {
        if !is_due(started_ms, days, now_ms) {
            continue;
        }
        let why = format!("retention of {days} days");
        match recordings::delete(&mut conn, &id, WHO, Some(&why), now_ms) {
            Ok(Some(true)) => deleted += 1,
            Ok(_) => {}
            Err(e) => tracing::error!(%e, recording = %id, "retention could not delete a recording"),
        }
    }
    if deleted > 0 {
        tracing::info!(deleted, "recordings deleted by retention");
        metrics::counter!("recordings_deleted_total", "by" => WHO).increment(deleted as u64);
    }
    Ok(deleted)
}

/// Runs retention at start and every [`PERIOD`], until the runtime stops.
pub(crate) async fn run(db: PathBuf) {
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        let db = db.clone();
        let now_ms = chrono::Utc::now().timestamp_millis();
        match tokio::task::spawn_blocking(move || run_once(&db, now_ms)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(%e, "retention pass failed"),
            Err(e) => tracing::error!(%e, "retention pass stopped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_after_the_days_and_never_without_a_retention() {
        let day = 86_400_000;
        assert!(!is_due(0, 0, 1000 * day));
        assert!(!is_due(0, 30, 30 * day - 1));
        assert!(is_due(0, 30, 30 * day));
        assert!(!is_due(10 * day, 30, 5 * day), "a clock set back deletes nothing");
    }
}
