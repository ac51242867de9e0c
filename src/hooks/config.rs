//! The `[hooks]` section: who hears of events, and whom an overflow rule
//! with `to = "hook:NAME"` asks.
//!
//! ```toml
//! [[hooks.subscriptions]]
//! name = "crm"                           # unique; deliveries are kept under it
//! url = "https://crm.example.com/switchboard"
//! secret = "whsec_at_least_16_chars"     # HMAC key of Switchboard-Signature
//! events = ["call.*", "callback.*"]      # default: every type
//! queues = ["support"]                   # default: every queue (and events of none)
//! timeout_ms = 5000                      # one delivery attempt
//! max_attempts = 12                      # then the delivery is a dead letter
//! backoff_base_ms = 1000                 # first retry after about this...
//! backoff_max_ms = 600000                # ...doubling up to this, with jitter
//!
//! [[hooks.overflow]]
//! name = "overloaded"                    # an overflow rule's `to = "hook:overloaded"`
//! url = "https://router.example.com/overflow"
//! secret = "whsec_at_least_16_chars"     # optional: the request is signed like events
//! timeout_ms = 2000                      # no answer by then: the fallback runs
//! fallback = "message"                   # wait | queue:NAME | flow:NUMBER | callback | message | hang_up
//! message_prompt = "message_coming"      # what "message" plays before hanging up
//!
//! [hooks.service_level]
//! interval_minutes = 30                  # the interval projected
//! ```

use std::time::Duration;

use serde::Deserialize;

use super::event::EventType;
use super::overflow::Decision;

/// The whole `[hooks]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HooksConfig {
    /// Event subscriptions.
    #[serde(default)]
    pub(crate) subscriptions: Vec<Subscription>,
    /// Decision hooks for overflow rules.
    #[serde(default)]
    pub(crate) overflow: Vec<OverflowHook>,
    /// The service-level projection.
    #[serde(default)]
    pub(crate) service_level: ServiceLevelWatch,
}

/// Where events go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Subscription {
    /// Unique name.
    pub(crate) name: String,
    /// Where to POST.
    pub(crate) url: String,
    /// The signing key.
    pub(crate) secret: String,
    /// Event types (`call.answered`) or families (`call.*`); empty: all.
    #[serde(default)]
    pub(crate) events: Vec<String>,
    /// Queues; empty: all, and events that concern no queue.
    #[serde(default)]
    pub(crate) queues: Vec<String>,
    /// One attempt's time limit.
    #[serde(default = "default_timeout")]
    pub(crate) timeout_ms: u64,
    /// Attempts before a dead letter.
    #[serde(default = "default_attempts")]
    pub(crate) max_attempts: u32,
    /// The first retry's delay.
    #[serde(default = "default_backoff_base")]
    pub(crate) backoff_base_ms: u64,
    /// The longest delay between retries.
    #[serde(default = "default_backoff_max")]
    pub(crate) backoff_max_ms: u64,
}

impl Subscription {
    /// Whether an event of `kind` about `queue` goes to this subscription.
    pub(crate) fn wants(&self, kind: EventType, queue: Option<&str>) -> bool {
        let name = kind.as_str();
        let type_ok = self.events.is_empty()
            || self.events.iter().any(|f| match f.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => f == name,
            });
        let queue_ok = self.queues.is_empty() || queue.is_some_and(|q| self.queues.iter().any(|f| f == q));
        type_ok && queue_ok
    }

    /// One attempt's time limit.
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// A decision hook an overflow rule names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OverflowHook {
    /// The name in `to = "hook:NAME"`.
    pub(crate) name: String,
    /// Where to POST the call's context.
    pub(crate) url: String,
    /// Signs the request like events when set.
    #[serde(default)]
    pub(crate) secret: Option<String>,
    /// How long the caller waits for the answer (hearing the queue's music).
    #[serde(default = "default_overflow_timeout")]
    pub(crate) timeout_ms: u64,
    /// What happens on a timeout, an error or an answer that cannot be used.
    #[serde(default = "default_fallback")]
    pub(crate) fallback: String,
    /// The prompt `message` plays.
    #[serde(default = "default_message_prompt")]
    pub(crate) message_prompt: String,
}

impl OverflowHook {
    /// The fallback, checked by [`HooksConfig::validate`].
    pub(crate) fn fallback(&self) -> Decision {
        Decision::parse_fallback(&self.fallback).unwrap_or(Decision::HangUp)
    }
}

/// `[hooks.service_level]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceLevelWatch {
    /// Length of the interval projected, minutes (divides a day).
    #[serde(default = "default_interval")]
    pub(crate) interval_minutes: u32,
}

impl Default for ServiceLevelWatch {
    fn default() -> ServiceLevelWatch {
        ServiceLevelWatch {
            interval_minutes: default_interval(),
        }
    }
}

fn default_timeout() -> u64 {
    5000
}
fn default_attempts() -> u32 {
    12
}
fn default_backoff_base() -> u64 {
    1000
}
fn default_backoff_max() -> u64 {
    600_000
}
fn default_overflow_timeout() -> u64 {
    2000
}
fn default_fallback() -> String {
    "hang_up".into()
}
fn default_message_prompt() -> String {
    "message_coming".into()
}
fn default_interval() -> u32 {
    30
}

impl HooksConfig {
    /// Checks the section; the error names the key.
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.subscriptions.iter().enumerate() {
            let key = |field: &str| format!("hooks.subscriptions[{i}].{field}");
            if s.name.is_empty() || !names.insert(s.name.as_str()) {
                return Err((key("name"), "must be set and unique".into()));
            }
            check_url(&s.url).map_err(|e| (key("url"), e))?;
            if s.secret.len() < 16 {
                return Err((key("secret"), "must be at least 16 characters".into()));
            }
            for f in &s.events {
                let known = match f.strip_suffix('*') {
                    Some(prefix) => EventType::ALL.iter().any(|t| t.as_str().starts_with(prefix)),
                    None => EventType::parse(f).is_some(),
                };
                if !known {
                    return Err((key("events"), format!("`{f}` names no event type")));
                }
            }
            if s.timeout_ms == 0 || s.max_attempts == 0 || s.backoff_base_ms == 0 {
                return Err((
                    key("timeout_ms"),
                    "timeout_ms, max_attempts and backoff_base_ms must be above 0".into(),
                ));
            }
            if s.backoff_max_ms < s.backoff_base_ms {
                return Err((key("backoff_max_ms"), "must be at least backoff_base_ms".into()));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, h) in self.overflow.iter().enumerate() {
            let key = |field: &str| format!("hooks.overflow[{i}].{field}");
            if h.name.is_empty() || !names.insert(h.name.as_str()) {
                return Err((key("name"), "must be set and unique".into()));
            }
            check_url(&h.url).map_err(|e| (key("url"), e))?;
            if h.timeout_ms == 0 {
                return Err((key("timeout_ms"), "must be above 0".into()));
            }
            if Decision::parse_fallback(&h.fallback).is_none() {
                return Err((
                    key("fallback"),
                    format!(
                        "`{}` is not wait, queue:NAME, flow:NUMBER, callback, message or hang_up",
                        h.fallback
                    ),
                ));
            }
        }
        let minutes = self.service_level.interval_minutes;
        if minutes == 0 || 1440 % minutes != 0 {
            return Err((
                "hooks.service_level.interval_minutes".into(),
                "must divide a day (15, 30, 60...)".into(),
            ));
        }
        Ok(())
    }
}

fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(format!("`{url}` is not an http:// or https:// URL"))
    }
}
