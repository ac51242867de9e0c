//! Hooks: what other channels (web, chat, WhatsApp, the CRM) hear of the
//! calls, and what they decide for the switch.
//!
//! - Events ([`event`]) are derived from the call-record updates the core
//!   already sends to the store ([`derive`]): one source of truth.
//! - Each event a subscription wants is written to the durable outbox
//!   ([`outbox`], store schema 5) before any delivery; one worker thread per
//!   subscription ([`delivery`]) POSTs it signed ([`signature`]), at least
//!   once, in order per call, with backoff, until a 2xx or a dead letter.
//! - The same events go to `/api/events` (server-sent events) as they
//!   happen.
//! - Overflow rules with `to = "hook:NAME"` ask a decision hook
//!   ([`overflow`]); the IVR's `http` node and the hooks share one client
//!   ([`client`]).
//! - `queue.service_level_at_risk` comes from a projection of the current
//!   interval ([`sl_risk`]).
//!
//! Threads: the core hands events to [`Hooks`] on its own task (deriving is
//! cheap and pure); the outbox writer thread writes them in batches and
//! wakes the workers. When the switch stops, [`Hooks::stop`] lets the writer
//! finish what it holds; deliveries not made yet are sent after the next
//! start. Events still in the writer's channel when the process is killed
//! are lost, as are the call records in the store's channel.

pub(crate) mod client;
pub(crate) mod config;
mod delivery;
mod derive;
pub(crate) mod event;
pub(crate) mod outbox;
pub(crate) mod overflow;
pub(crate) mod shell;
pub(crate) mod signature;
pub(crate) mod sl_risk;

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{broadcast, oneshot};

pub(crate) use self::config::HooksConfig;
pub(crate) use self::derive::{Deriver, Occurrence};
pub(crate) use self::event::Event;
use self::outbox::{DeadLetter, Outbox, Stored};
use crate::store::Command;

/// An event as streamed: the event and its JSON.
#[derive(Debug)]
pub(crate) struct Streamed {
    /// The event (for filters).
    pub(crate) event: Event,
    /// Its JSON, as delivered.
    pub(crate) json: String,
}

enum ToOutbox {
    Events(Vec<Stored>),
    DeadLetters(oneshot::Sender<Result<Vec<DeadLetter>, String>>),
    Retry(i64, oneshot::Sender<Result<bool, String>>),
    Stop,
}

/// What the HTTP side uses: the dead letters and the live stream.
#[derive(Clone)]
pub(crate) struct HooksApi {
    tx: mpsc::Sender<ToOutbox>,
    stream: broadcast::Sender<Arc<Streamed>>,
}

impl HooksApi {
    /// Dead letters, oldest first.
    pub(crate) async fn dead_letters(&self) -> Result<Vec<DeadLetter>, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(ToOutbox::DeadLetters(reply))
            .map_err(|_| "the outbox has stopped".to_owned())?;
        rx.await.map_err(|_| "the outbox has stopped".to_owned())?
    }

    /// Puts a dead letter back in line; `false`: no such dead letter.
    pub(crate) async fn retry(&self, id: i64) -> Result<bool, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(ToOutbox::Retry(id, reply))
            .map_err(|_| "the outbox has stopped".to_owned())?;
        rx.await.map_err(|_| "the outbox has stopped".to_owned())?
    }

    /// The live events from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Streamed>> {
        self.stream.subscribe()
    }
}

/// The core's side of the hooks. See the module docs.
pub(crate) struct Hooks {
    deriver: Deriver,
    api: HooksApi,
    writer: Option<JoinHandle<()>>,
    /// Whether any subscription is configured: without one nothing is
    /// stored (the live stream still gets every event).
    subscribed: bool,
}

impl Hooks {
    /// Starts the outbox writer and a worker per subscription on the
    /// database at `db` (already at schema 5). Event ids start from
    /// `epoch` (the start time, ms).
    pub(crate) fn start(
        config: &HooksConfig,
        db: &Path,
        epoch: u64,
        kpi: queue::kpi::KpiSettings,
    ) -> anyhow::Result<Hooks> {
        let outbox = Outbox::open(db)?;
        let mut wakes = Vec::new();
        for subscription in &config.subscriptions {
            let (wake, woken) = mpsc::channel();
            let path: PathBuf = db.to_path_buf();
            let subscription = subscription.clone();
            std::thread::Builder::new()
                .name(format!("hook-{}", subscription.name))
                .spawn(move || delivery::run(subscription, path, woken))?;
            // A first look at what the previous run left undelivered.
            let _ = wake.send(());
            wakes.push(wake);
        }
        let (tx, rx) = mpsc::channel();
        let subscriptions = config.subscriptions.clone();
        let writer = std::thread::Builder::new()
            .name("hook-outbox".into())
            .spawn(move || write_loop(outbox, &subscriptions, &wakes, &rx))?;
        let (stream, _) = broadcast::channel(4096);
        Ok(Hooks {
            deriver: Deriver::new(epoch, kpi),
            api: HooksApi { tx, stream },
            writer: Some(writer),
            subscribed: !config.subscriptions.is_empty(),
        })
    }

    /// The HTTP side's handle.
    pub(crate) fn api(&self) -> HooksApi {
        self.api.clone()
    }

    /// A call-record update from the core.
    pub(crate) fn record(&mut self, command: &Command) {
        let events = self.deriver.command(command);
        self.publish(events);
    }

    /// A fact from the core that is no record update.
    pub(crate) fn occurrence(&mut self, occurrence: Occurrence) {
        let events = self.deriver.occurrence(occurrence);
        self.publish(events);
    }

    /// Events made elsewhere (the service-level watch), with fresh ids.
    pub(crate) fn publish_made(&mut self, made: Vec<sl_risk::AtRisk>) {
        let events = made.into_iter().map(|r| self.deriver.at_risk(&r)).collect();
        self.publish(events);
    }

    fn publish(&mut self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let mut stored = Vec::with_capacity(events.len());
        for event in events {
            let json = match serde_json::to_string(&event) {
                Ok(json) => json,
                Err(e) => {
                    tracing::error!(%e, "an event cannot be written as JSON");
                    continue;
                }
            };
            metrics::counter!("hook_events_total", "type" => event.kind.as_str()).increment(1);
            stored.push(Stored {
                id: event.id.clone(),
                kind: event.kind,
                queue: event.queue.clone(),
                order_key: event.order_key(),
                body: json.clone(),
            });
            // Nobody listening is fine.
            let _ = self.api.stream.send(Arc::new(Streamed { event, json }));
        }
        if self.subscribed && self.api.tx.send(ToOutbox::Events(stored)).is_err() {
            tracing::error!("the hook outbox has stopped: events not stored");
        }
    }

    /// Lets the writer store what it holds (at most `timeout`).
    pub(crate) fn stop(mut self, timeout: Duration) {
        let _ = self.api.tx.send(ToOutbox::Stop);
        let Some(writer) = self.writer.take() else { return };
        let deadline = std::time::Instant::now() + timeout;
        while !writer.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if writer.is_finished() {
            let _ = writer.join();
        } else {
            tracing::error!("the hook outbox did not finish in time; its last events may be lost");
        }
    }
}

fn write_loop(
    mut outbox: Outbox,
    subscriptions: &[config::Subscription],
    wakes: &[mpsc::Sender<()>],
    rx: &mpsc::Receiver<ToOutbox>,
) {
    let mut stopping = false;
    let mut last_gauges = std::time::Instant::now() - Duration::from_secs(2);
    while !stopping {
        let first = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(message) => Some(message),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if last_gauges.elapsed() >= Duration::from_secs(1) {
            last_gauges = std::time::Instant::now();
            if let Ok((pending, dead)) = outbox.counts() {
                metrics::gauge!("hook_deliveries_pending").set(pending as f64);
                metrics::gauge!("hook_dead_letters").set(dead as f64);
            }
        }
        let Some(first) = first else { continue };
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                ToOutbox::Events(events) => batch.extend(events),
                ToOutbox::DeadLetters(reply) => {
                    let _ = reply.send(outbox.dead_letters(1000).map_err(|e| e.to_string()));
                }
                ToOutbox::Retry(id, reply) => {
                    let result = outbox.retry(id, delivery::now_ms()).map_err(|e| e.to_string());
                    if let Ok(Some(name)) = &result {
                        if let Some(i) = subscriptions.iter().position(|s| &s.name == name) {
                            let _ = wakes[i].send(());
                        }
                    }
                    let _ = reply.send(result.map(|s| s.is_some()));
                }
                ToOutbox::Stop => stopping = true,
            }
            if !stopping && batch.len() < 1000 {
                next = rx.try_recv().ok();
            }
        }
        // Stored before any delivery; a failure that may pass is retried,
        // holding the batch, never dropping it.
        let mut pause = Duration::from_millis(100);
        loop {
            match outbox.insert(&batch, subscriptions, delivery::now_ms()) {
                Ok(woken) => {
                    for i in woken {
                        let _ = wakes[i].send(());
                    }
                    break;
                }
                Err(e) => {
                    tracing::error!(%e, events = batch.len(), "cannot store events in the outbox; retrying");
                    if stopping {
                        break;
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
