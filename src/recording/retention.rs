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

/// The retention of `config` in the `recordings` crate's terms. A rule's
/// 0 keeps its recordings for ever, as `[recording] retention_days = 0`
/// does: it must not fall back to the default and be deleted by it.
pub(crate) fn policy(config: &super::RecordingConfig) -> ::recordings::RetentionPolicy {
    let days = |d: u32| (d > 0).then_some(d);
    ::recordings::RetentionPolicy {
        default_days: days(config.retention_days),
        per_queue: config
            .queues
            .iter()
            .chain(&config.flows)
            .filter_map(|(name, rule)| Some((name.clone(), days(rule.retention_days?))))
            .collect(),
    }
}

/// One pass: deletes what is due at `now_ms` by `policy` (the index rows
/// of recordings that ended and are not deleted are listed, the
/// `recordings` crate decides); returns how many were deleted.
pub(crate) fn run_once(
    db: &std::path::Path,
    policy: &::recordings::RetentionPolicy,
    now_ms: i64,
) -> Result<usize, crate::store::StoreError> {
    let mut conn = recordings::open(db)?;
    let listing = recordings::retained(&conn)?;
    let due = ::recordings::due_for_deletion(u64::try_from(now_ms).unwrap_or(0), policy, &listing);
    let queues: std::collections::HashMap<&str, Option<&str>> =
        listing.iter().map(|l| (l.key.as_str(), l.queue.as_deref())).collect();
    let mut deleted = 0;
    for id in due {
        let queue = queues.get(id.as_str()).copied().flatten();
        let days = policy.days_for(queue).unwrap_or(0);
        let why = format!("retention of {days} days");
        match recordings::delete(&mut conn, &id, WHO, Some(&why), now_ms) {
            Ok(recordings::Deletion::Deleted) => deleted += 1,
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
pub(crate) async fn run(db: PathBuf, policy: ::recordings::RetentionPolicy) {
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        let (db, policy) = (db.clone(), policy.clone());
        let now_ms = chrono::Utc::now().timestamp_millis();
        match tokio::task::spawn_blocking(move || run_once(&db, &policy, now_ms)).await {
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
    fn the_policy_names_queues_and_flows_with_days() {
        #[derive(serde::Deserialize)]
        struct Doc {
            recording: super::super::RecordingConfig,
        }
        let doc: Doc = toml::from_str(
            "[recording]\nretention_days = 90\n[recording.queues.a]\nretention_days = 7\n\
             [recording.queues.b]\nrecording = \"always\"\n[recording.queues.c]\nretention_days = 0\n\
             [recording.flows.\"100\"]\nretention_days = 1\n",
        )
        .unwrap();
        let p = policy(&doc.recording);
        assert_eq!(p.days_for(Some("a")), Some(7));
        assert_eq!(p.days_for(Some("b")), Some(90));
        assert_eq!(p.days_for(Some("100")), Some(1));
        assert_eq!(p.days_for(Some("c")), None, "0 keeps for ever, not the default");
        assert_eq!(p.days_for(None), Some(90));
    }
}
