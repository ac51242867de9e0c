//! A subscription's delivery worker: one thread per subscription, with its
//! own database connection and HTTP client (blocking; nothing here runs on
//! the async workers). It takes the subscription's next due delivery from
//! the outbox, POSTs it signed, and records the outcome: delivered (any
//! 2xx), retried later with backoff, or a dead letter after
//! `max_attempts`. It sleeps until the next retry is due or the outbox
//! wakes it for a new event; when the switch stops, the wake channel
//! closes and the worker ends after its current attempt.
//!
//! A receiver that cannot be reached at all (refused, no answer in time)
//! is down as a whole: the worker then waits for that delivery's retry
//! before trying any other, so an outage costs one attempt per backoff
//! step, not one per pending event, and a long outage does not turn every
//! pending event into a dead letter. A receiver that answers with an error
//! status is up: the worker goes on with the other calls' events.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use rand::Rng;

use super::client::{Client, ClientError};
use super::config::Subscription;
use super::outbox::{backoff, Due, Next, Outbox};
use super::signature;

/// The longest a worker sleeps without looking at the outbox (a clock
/// change, a retry set through the API).
const MAX_SLEEP: Duration = Duration::from_secs(5);

pub(crate) fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

/// Runs the worker of `subscription` until `wake` closes.
pub(crate) fn run(subscription: Subscription, db: PathBuf, wake: mpsc::Receiver<()>) {
    let mut outbox = loop {
        match Outbox::open(&db) {
            Ok(outbox) => break outbox,
            Err(e) => {
                tracing::error!(%e, hook = %subscription.name, "cannot open the outbox; retrying");
                if matches!(wake.recv_timeout(MAX_SLEEP), Err(mpsc::RecvTimeoutError::Disconnected)) {
                    return;
                }
            }
        }
    };
    let client = Client::new(subscription.timeout());
    let mut paused_until = 0;
    loop {
        let now = now_ms();
        let next = if now < paused_until {
            Ok(Next::At(paused_until))
        } else {
            outbox.next(&subscription.name, now)
        };
        let sleep = match next {
            Ok(Next::Due(due)) => {
                if let Some(retry_at) = attempt(&subscription, &client, &mut outbox, due) {
                    paused_until = retry_at;
                }
                continue;
            }
            Ok(Next::At(at)) => Duration::from_millis(at.saturating_sub(now)).min(MAX_SLEEP),
            Ok(Next::Idle) => MAX_SLEEP,
            Err(e) => {
                tracing::error!(%e, hook = %subscription.name, "outbox read failed");
                MAX_SLEEP
            }
        };
        match wake.recv_timeout(sleep) {
            Ok(()) => while wake.try_recv().is_ok() {},
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// One attempt of one delivery. Returns when to try again if the receiver
/// could not be reached at all.
fn attempt(subscription: &Subscription, client: &Client, outbox: &mut Outbox, due: Due) -> Option<u64> {
    let attempt = due.attempts + 1;
    let t = chrono::Utc::now().timestamp();
    let headers = [
        (
            signature::HEADER,
            signature::sign(subscription.secret.as_bytes(), t, due.body.as_bytes()),
        ),
        ("Switchboard-Event-Id", due.event_id.clone()),
        ("Idempotency-Key", due.event_id.clone()),
        ("Switchboard-Event-Type", due.kind.clone()),
        ("Switchboard-Delivery-Attempt", attempt.to_string()),
    ];
    let outcome = match client.post_json(&subscription.url, due.body.as_bytes(), &headers) {
        Ok(reply) if (200..300).contains(&reply.status) => Ok(()),
        Ok(reply) => Err((format!("HTTP {}", reply.status), false)),
        Err(ClientError::Timeout) => Err(("no answer in time".to_owned(), true)),
        Err(ClientError::Connection(why)) => Err((why, true)),
    };
    let now = now_ms();
    let mut unreachable_until = None;
    let stored = match outcome {
        Ok(()) => {
            metrics::counter!("hook_deliveries_total", "hook" => subscription.name.clone(), "outcome" => "delivered")
                .increment(1);
            outbox.delivered(due.id)
        }
        Err((why, unreachable)) => {
            let retry_at = (attempt < subscription.max_attempts).then(|| {
                let delay = backoff(
                    attempt,
                    subscription.backoff_base_ms,
                    subscription.backoff_max_ms,
                    rand::thread_rng().gen::<f64>(),
                );
                now + delay
            });
            if unreachable {
                unreachable_until = retry_at;
            }
            let outcome = if retry_at.is_some() { "retry" } else { "dead_letter" };
            tracing::info!(hook = %subscription.name, event = %due.event_id, attempt, %why, outcome, "hook delivery failed");
            metrics::counter!("hook_deliveries_total", "hook" => subscription.name.clone(), "outcome" => outcome)
                .increment(1);
            outbox.failed(due.id, attempt, retry_at, &why, now)
        }
    };
    if let Err(e) = stored {
        // The delivery stays as it was: sent again later (at least once).
        tracing::error!(%e, hook = %subscription.name, "cannot record a delivery's outcome");
        std::thread::sleep(Duration::from_millis(500));
    }
    unreachable_until
}
