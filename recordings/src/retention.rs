//! Which recordings are due for deletion: a pure function of the time, the
//! retention days per queue and a listing. The caller lists (from the store
//! or the disk), deletes, and audits; nothing here touches a file.

use std::collections::BTreeMap;

/// How long recordings are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Days for recordings of a queue (or flow) not named in `per_queue`,
    /// and for those of no queue; `None` keeps them for ever.
    pub default_days: Option<u32>,
    /// Days per queue or flow name, over `default_days`: `None` keeps
    /// that queue's recordings for ever even when there is a default;
    /// `Some(0)` deletes them once they ended.
    pub per_queue: BTreeMap<String, Option<u32>>,
}

impl RetentionPolicy {
    /// Days kept for recordings of `queue`; `None`: for ever.
    pub fn days_for(&self, queue: Option<&str>) -> Option<u32> {
        match queue.and_then(|q| self.per_queue.get(q)) {
            Some(&days) => days,
            None => self.default_days,
        }
    }
}

/// A recording as the retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<K> {
    /// The caller's key for it (a call id, a path).
    pub key: K,
    /// The queue or flow it was recorded for.
    pub queue: Option<String>,
    /// When it started (Unix milliseconds).
    pub started_unix_ms: u64,
    /// When it ended; `None` while it is being recorded (never due).
    pub ended_unix_ms: Option<u64>,
}

const DAY_MS: u64 = 86_400_000;

/// The keys of the recordings due for deletion at `now_unix_ms`: those that
/// ended, whose queue keeps recordings for a number of days, and whose end
/// is at least that many days ago. A recording still running is never due.
pub fn due_for_deletion<'a, K: Clone + 'a>(
    now_unix_ms: u64,
    policy: &RetentionPolicy,
    listing: impl IntoIterator<Item = &'a Listed<K>>,
) -> Vec<K> {
    listing
        .into_iter()
        .filter(|r| {
            let (Some(ended), Some(days)) = (r.ended_unix_ms, policy.days_for(r.queue.as_deref())) else {
                return false;
            };
            // The end can be no earlier than the start, whatever was stored.
            let ended = ended.max(r.started_unix_ms);
            ended.saturating_add(u64::from(days).saturating_mul(DAY_MS)) <= now_unix_ms
        })
        .map(|r| r.key.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(key: &str, queue: Option<&str>, ended_days_ago: Option<f64>, now: u64) -> Listed<String> {
        let ended = ended_days_ago.map(|d| now - (d * DAY_MS as f64) as u64);
        Listed {
            key: key.into(),
            queue: queue.map(String::from),
            started_unix_ms: ended.unwrap_or(now) - 60_000,
            ended_unix_ms: ended,
        }
    }

    #[test]
    fn deletes_what_is_due_and_nothing_else() {
        let now = 1_800_000_000_000;
        let policy = RetentionPolicy {
            default_days: Some(90),
            per_queue: [
                ("sales".to_string(), Some(30)),
                ("audit".to_string(), Some(0)),
                ("legal".to_string(), None),
            ]
            .into(),
        };
        let listing = vec![
            listed("sales-old", Some("sales"), Some(31.0), now),
            listed("sales-exact", Some("sales"), Some(30.0), now),
            listed("sales-young", Some("sales"), Some(29.9), now),
            listed("support-old", Some("support"), Some(91.0), now),
            listed("support-young", Some("support"), Some(89.0), now),
            listed("no-queue-old", None, Some(100.0), now),
            listed("audit-ended", Some("audit"), Some(0.0), now),
            listed("sales-running", Some("sales"), None, now),
            listed("legal-old", Some("legal"), Some(3000.0), now),
        ];
        let due = due_for_deletion(now, &policy, &listing);
        assert_eq!(
            due,
            ["sales-old", "sales-exact", "support-old", "no-queue-old", "audit-ended"]
        );
    }

    #[test]
    fn no_default_keeps_for_ever() {
        let now = 1_800_000_000_000;
        let policy = RetentionPolicy {
            default_days: None,
            per_queue: [("sales".to_string(), Some(1))].into(),
        };
        let listing = vec![
            listed("a", Some("support"), Some(5000.0), now),
            listed("b", Some("sales"), Some(2.0), now),
        ];
        assert_eq!(due_for_deletion(now, &policy, &listing), ["b"]);
    }
}
