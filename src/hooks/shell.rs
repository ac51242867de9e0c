//! The hooks in the async shell (`server.rs`): what runs beside the core's
//! loop. Record updates and facts go from the core to the store, the live
//! KPIs and the events in one order; overflow hook requests are made on
//! the blocking pool and their answers come back as inputs; the
//! service-level watch runs on a task of its own.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::sl_risk::{self, AtRisk, Watch};
use super::{Hooks, HooksApi};
use crate::config::Config;
use crate::stats::StatsRequest;
use crate::store::StoreWriter;
use crate::switch::{Out, OverflowAsk, Switch};

/// How often the service level is projected.
const WATCH_EVERY: Duration = Duration::from_secs(5);

/// An input for the core from the hooks' side.
#[derive(Debug)]
pub(crate) enum HookInput {
    /// An overflow hook's answer for a call.
    OverflowAnswer(u64, Result<serde_json::Value, String>),
    /// Queues whose projected service level crossed below target.
    AtRisk(Vec<AtRisk>),
}

/// The hooks' part of the shell.
pub(crate) struct HookShell {
    hooks: Hooks,
    inputs: mpsc::UnboundedSender<HookInput>,
    waits: mpsc::Sender<(queue::Millis, HashMap<String, Vec<Duration>>)>,
    last_watch: Instant,
}

impl HookShell {
    /// Starts the outbox, the delivery workers and the service-level watch.
    pub(crate) fn start(
        config: &Config,
        wall: chrono::DateTime<chrono::Utc>,
        stats: mpsc::UnboundedSender<StatsRequest>,
    ) -> anyhow::Result<(HookShell, mpsc::UnboundedReceiver<HookInput>)> {
        let epoch = u64::try_from(wall.timestamp_millis()).unwrap_or(0);
        let hooks = Hooks::start(&config.hooks, &config.storage.path, epoch, config.kpi.clone())?;
        let (inputs, rx) = mpsc::unbounded_channel();
        let (waits, waits_rx) = mpsc::channel(1);
        let threshold = config
            .kpi
            .thresholds
            .first()
            .copied()
            .unwrap_or(Duration::from_secs(20));
        let target = f64::from(config.wallboard.service_level_target_percent) / 100.0;
        let minutes = config.hooks.service_level.interval_minutes;
        tokio::spawn(watch(waits_rx, stats, inputs.clone(), threshold, target, minutes));
        Ok((
            HookShell {
                hooks,
                inputs,
                waits,
                last_watch: Instant::now(),
            },
            rx,
        ))
    }

    /// The HTTP side's handle.
    pub(crate) fn api(&self) -> HooksApi {
        self.hooks.api()
    }

    /// Hands the core's record updates to the store and the live KPIs, and
    /// them and the core's facts to the events, in the order they happened.
    pub(crate) fn pump(
        &mut self,
        switch: &mut Switch,
        writer: &StoreWriter,
        stats: &mpsc::UnboundedSender<StatsRequest>,
    ) {
        while let Some(out) = switch.poll_out() {
            match out {
                Out::Record(command) => {
                    if let Err(e) = writer.send(command.clone()) {
                        tracing::error!(%e, "call record not stored");
                    }
                    self.hooks.record(&command);
                    let _ = stats.send(StatsRequest::Record(command));
                }
                Out::Hook(occurrence) => self.hooks.occurrence(occurrence),
            }
        }
        while let Some(ask) = switch.poll_overflow_ask() {
            let inputs = self.inputs.clone();
            tokio::task::spawn_blocking(move || {
                let call = ask.call;
                let _ = inputs.send(HookInput::OverflowAnswer(call, ask_hook(&ask)));
            });
        }
    }

    /// Every second: now and then, the waits of queued callers go to the
    /// service-level watch.
    pub(crate) fn tick(&mut self, switch: &Switch, now: Instant) {
        if now.duration_since(self.last_watch) < WATCH_EVERY {
            return;
        }
        self.last_watch = now;
        let _ = self.waits.try_send((switch.wall_now(now), switch.queue_waits(now)));
    }

    /// An input from the hooks' side.
    pub(crate) fn input(&mut self, switch: &mut Switch, input: HookInput) {
        match input {
            HookInput::OverflowAnswer(call, answer) => switch.handle_overflow_answer(Instant::now(), call, answer),
            HookInput::AtRisk(risks) => self.hooks.publish_made(risks),
        }
    }

    /// Stores what is left (the switch is stopping).
    pub(crate) fn stop(self) {
        self.hooks.stop(Duration::from_secs(5));
    }
}

/// POSTs an overflow hook's request (blocking) and reads its JSON answer.
fn ask_hook(ask: &OverflowAsk) -> Result<serde_json::Value, String> {
    let mut headers = Vec::new();
    if let Some(secret) = &ask.secret {
        let t = chrono::Utc::now().timestamp();
        headers.push((
            super::signature::HEADER,
            super::signature::sign(secret.as_bytes(), t, &ask.body),
        ));
    }
    let reply = super::client::Client::new(ask.timeout)
        .post_json(&ask.url, &ask.body, &headers)
        .map_err(|e| e.to_string())?;
    if !(200..300).contains(&reply.status) {
        return Err(format!("HTTP {}", reply.status));
    }
    serde_json::from_slice(&reply.body).map_err(|e| format!("not JSON: {e}"))
}

/// The service-level watch: projects each queue's interval from the live
/// KPIs and the waits of its callers, and reports new crossings.
async fn watch(
    mut waits: mpsc::Receiver<(queue::Millis, HashMap<String, Vec<Duration>>)>,
    stats: mpsc::UnboundedSender<StatsRequest>,
    inputs: mpsc::UnboundedSender<HookInput>,
    threshold: Duration,
    target: f64,
    minutes: u32,
) {
    let mut state = Watch::default();
    let t_secs = threshold.as_secs();
    while let Some((now, by_queue)) = waits.recv().await {
        let start = sl_risk::interval_start(now, minutes);
        let end = start + Duration::from_secs(u64::from(minutes) * 60);
        let mut risks = Vec::new();
        for (queue, waits) in by_queue {
            let (reply, rx) = oneshot::channel();
            let request = StatsRequest::Stats {
                window: queue::kpi::Window {
                    from: start,
                    to: now + Duration::from_millis(1),
                },
                filter: queue::kpi::Filter {
                    queue: Some(queue.clone()),
                    ..queue::kpi::Filter::default()
                },
                reply,
            };
            if stats.send(request).is_err() {
                return;
            }
            let Ok(figures) = rx.await else { return };
            let so_far = sl_risk::parts(&figures, t_secs);
            let projected = sl_risk::project(so_far, &waits, threshold);
            if state.check(&queue, start, projected, target) {
                risks.push(AtRisk {
                    queue,
                    at: now,
                    interval: (start, end),
                    threshold_secs: t_secs,
                    target,
                    projected: projected.unwrap_or(0.0),
                    so_far,
                    waiting: (waits.len(), waits.iter().filter(|w| **w > threshold).count()),
                });
            }
        }
        if !risks.is_empty() && inputs.send(HookInput::AtRisk(risks)).is_err() {
            return;
        }
    }
}
