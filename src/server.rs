//! The async shell: binds the sockets, runs the SIP core on one task and the
//! HTTP server beside it. The core is fed from the network's channel and
//! woken at its next deadline; nothing else touches its state, so no lock is
//! held anywhere across an await.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use media::engine::{EngineConfig, MediaEngine};
use signaling::message::Limits;
use signaling::net::{NetEvent, Network};
use signaling::registrar::Registration;
use signaling::transport::Transport;
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::http;
use crate::switch::Switch;

/// Requests from the HTTP side to the core.
#[derive(Debug)]
pub(crate) enum Query {
    /// Current registrations.
    Registrations(oneshot::Sender<Vec<Registration>>),
    /// Reload the IVR flows and prompts; the answer is the number of flows,
    /// or every error of the files refused (the old flows keep serving).
    ReloadFlows(oneshot::Sender<Result<usize, String>>),
    /// The ACD's queues and agents now.
    Acd(oneshot::Sender<queue::acd::Snapshot>),
    /// An agent state change or a call-back request for the ACD.
    AcdEvent(queue::acd::Event, oneshot::Sender<()>),
    /// Call-backs by id and call control, for other channels.
    Control(crate::http_api::Control),
    /// Start, pause or resume the recording of a live call (by its record's id).
    Recording {
        call: String,
        control: crate::recording::Control,
        reply: oneshot::Sender<Result<String, crate::recording::RecordingRefused>>,
    },
}

/// Runs the switch until ctrl-c or SIGTERM.
pub(crate) async fn run(config: Config) -> anyhow::Result<()> {
    let limits = Limits {
        max_message_size: config.sip.max_message_size,
        socket_buffer: config.sip.udp_socket_buffer_bytes,
        ..Limits::default()
    };
    let (events_tx, mut events) = mpsc::channel::<NetEvent>(16_384);
    let network = Network::bind(&config.sip.listen_udp, &config.sip.listen_tcp, limits, events_tx)
        .await
        .context("binding SIP sockets")?;
    let udp = network.local_addr(Transport::Udp);
    let tcp = network.local_addr(Transport::Tcp);
    let m = &config.media;
    let engine_config = EngineConfig {
        bind: m.rtp_address,
        port_first: m.rtp_port_first,
        port_last: m.rtp_port_last,
        workers: m.workers,
        inactivity: Duration::from_secs(m.inactivity_secs),
    };
    let (engine, mut media_events) = MediaEngine::start(&engine_config).context("starting the media engine")?;
    let engine = Arc::new(engine);
    let ivr = crate::ivr_load::load(&config)?;
    let store = crate::store::Store::open(&config.storage.path)
        .with_context(|| format!("opening the call records at {}", config.storage.path.display()))?;
    if store.interrupted_on_open() > 0 {
        tracing::warn!(
            calls = store.interrupted_on_open(),
            "calls left open by the previous run were closed as interrupted"
        );
    }
    // Recordings the previous run left open: headers repaired, marked
    // interrupted; then retention, at start and hourly.
    match crate::recording::wav::recover(&config.storage.path) {
        Ok(0) => {}
        Ok(n) => tracing::warn!(recordings = n, "recordings left open by the previous run were repaired"),
        Err(e) => tracing::error!(%e, "interrupted recordings not repaired"),
    }
    tokio::spawn(crate::recording::retention::run(
        config.storage.path.clone(),
        crate::recording::retention::policy(&config.recording),
    ));
    let (writer, writer_thread) = store
        .writer(crate::store::WriterOptions::default())
        .context("starting the call-record writer")?;
    let started = Instant::now();
    let wall = chrono::Utc::now();
    let (webrtc, mut webrtc_events) = start_webrtc(&config, &engine);
    let media_control = crate::webrtc::WebRtcMedia::new(engine.clone(), webrtc, browser_agents(&config));
    let mut switch = Switch::new(&config, udp, tcp, Box::new(media_control), ivr, started, wall);
    let callbacks: Vec<queue::acd::Callback> = store
        .load_callbacks()
        .context("reading stored call-backs")?
        .into_iter()
        .filter_map(|json| match serde_json::from_value(json) {
            Ok(callback) => Some(callback),
            Err(e) => {
                tracing::error!(%e, "a stored call-back cannot be read; it stays in the store");
                None
            }
        })
        .collect();
    if !callbacks.is_empty() {
        tracing::info!(callbacks = callbacks.len(), "call-backs restored");
    }
    switch.restore_callbacks(started, callbacks);
    let live = live_records(&store, &config, wall)?;
    drop(store);
    let (stats_tx, stats_rx) = mpsc::unbounded_channel();
    let (query_tx, mut queries) = mpsc::channel::<Query>(64);
    let metrics = http::install_metrics(&config.kpi.thresholds)?;
    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("binding HTTP on {}", config.http.listen))?;
    let http_addr = listener.local_addr()?;
    let tls = match (&config.http.tls_certificate, &config.http.tls_key) {
        (Some(certificate), Some(key)) => Some(crate::http_tls::acceptor(certificate, key)?),
        _ => None,
    };
    let (board_tx, board) = tokio::sync::watch::channel(serde_json::json!({ "queues": [] }));
    let (mut hooks, mut hook_inputs) =
        crate::hooks::shell::HookShell::start(&config, wall, stats_tx.clone()).context("starting the hooks")?;
    std::thread::Builder::new()
        .name("live-kpis".into())
        .spawn(move || crate::stats::run(live, stats_rx, board_tx))
        .context("starting the live KPIs")?;
    tokio::spawn(http::serve(
        listener,
        tls,
        http::AppState {
            queries: query_tx,
            metrics,
            board,
            stats: stats_tx.clone(),
            queues: config.queues.iter().map(|q| q.name.clone()).collect(),
            timezone: config.timezone(),
            tokens: std::sync::Arc::new(
                crate::http_auth::Tokens::new(&config.http.tokens).with_agents(
                    &config.sip.domain,
                    config
                        .agents
                        .iter()
                        .filter_map(|a| Some((a.extension.clone(), a.password.clone()?))),
                ),
            ),
            recordings: crate::http_recordings::RecordingsApi {
                db: config.storage.path.clone(),
                qa: std::sync::Arc::new(config.qa.clone()),
            },
            hooks: hooks.api(),
            sip: Some(network.clone()),
        },
    ));
    tracing::info!(?udp, ?tcp, http = %http_addr, "switchboard is up");

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    // Flows reload when their files change; calls in progress keep the
    // version they started with.
    let mut flow_check = tokio::time::interval(Duration::from_secs(2));
    let mut flow_stamps = flow_file_stamps(&config);
    let (http_done, mut http_results) = mpsc::unbounded_channel();
    let mut board_tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let deadline = switch.poll_timeout();
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                let now = Instant::now();
                handle(&mut switch, now, event);
                // Drain what is already queued before looking at timers again.
                while let Ok(event) = events.try_recv() {
                    handle(&mut switch, now, event);
                }
            }
            _ = sleep_until(deadline) => switch.handle_timeout(Instant::now()),
            Some(query) = queries.recv() => match query {
                Query::ReloadFlows(reply) => {
                    let _ = reply.send(reload_flows(&config, &mut switch));
                    flow_stamps = flow_file_stamps(&config);
                }
                Query::AcdEvent(event, reply) => {
                    switch.agent_command(Instant::now(), event);
                    let _ = reply.send(());
                }
                Query::Recording { call, control, reply } => {
                    let _ = reply.send(switch.recording_control(Instant::now(), &call, control));
                }
                Query::Control(control) => crate::http_api::control(&mut switch, Instant::now(), control),
                query => answer(&switch, query),
            },
            Some((call, result)) = http_results.recv() => switch.handle_http_result(Instant::now(), call, result),
            Some(input) = hook_inputs.recv() => hooks.input(&mut switch, input),
            _ = flow_check.tick() => {
                let stamps = flow_file_stamps(&config);
                if stamps != flow_stamps {
                    flow_stamps = stamps;
                    if let Err(errors) = reload_flows(&config, &mut switch) {
                        tracing::error!("flow change refused, the previous flows keep serving:\n{errors}");
                    }
                }
            }
            Some(event) = media_events.recv() => switch.handle_media_event(Instant::now(), event),
            Some(event) = webrtc_events.recv() => webrtc_event(&event),
            _ = board_tick.tick() => {
                let snapshot = switch.acd_snapshot(Instant::now());
                crate::switch::publish_gauges(&snapshot);
                let store = writer.stats();
                metrics::gauge!("store_backlog").set(store.backlog as f64);
                metrics::gauge!("store_commands_lost").set(store.lost as f64);
                let _ = stats_tx.send(crate::stats::StatsRequest::Board(Box::new(snapshot)));
                hooks.tick(&switch, Instant::now());
            }
            _ = &mut shutdown => {
                tracing::info!("shutting down");
                break;
            }
        }
        // Records first: once a peer sees an answer, the API shows its effect.
        hooks.pump(&mut switch, &writer, &stats_tx);
        while let Some(transmit) = switch.poll_transmit() {
            network.send(transmit);
        }
        while let Some(request) = switch.poll_http() {
            let done = http_done.clone();
            tokio::task::spawn_blocking(move || {
                let call = request.call;
                let _ = done.send((call, crate::hooks::client::data_dip(&request)));
            });
        }
        let (transactions, bindings, calls) = switch.gauges();
        metrics::gauge!("sip_transactions").set(transactions as f64);
        metrics::gauge!("sip_registrations").set(bindings as f64);
        metrics::gauge!("calls_active").set(calls as f64);
        metrics::gauge!("media_ports_available").set(engine.ports_available() as f64);
        let ticks = engine.tick_lateness();
        metrics::counter!("media_ticks_total").absolute(ticks.total());
        for (over, label) in [(5, "5"), (20, "20"), (40, "40")] {
            metrics::counter!("media_ticks_late_total", "over_ms" => label).absolute(ticks.at_least(over));
        }
    }
    // Calls still up are closed as interrupted at the next start; what was
    // recorded so far is written now.
    switch.close_agent_log(Instant::now());
    hooks.pump(&mut switch, &writer, &stats_tx);
    hooks.stop();
    drop(writer);
    match writer_thread.shutdown(Duration::from_secs(10)) {
        Ok(stats) => tracing::info!(written = stats.written, "call records written"),
        Err(e) => tracing::error!(%e, "call records lost at shutdown"),
    }
    Ok(())
}

/// The WebRTC gateway for browser agents, unless `[webrtc] enabled = false`;
/// its events arrive on the receiver (which stays empty without one).
fn start_webrtc(
    config: &Config,
    engine: &Arc<media::engine::MediaEngine>,
) -> (
    Option<Arc<media::webrtc::WebRtcGateway>>,
    mpsc::UnboundedReceiver<media::webrtc::WebRtcEvent>,
) {
    if let Some(bind) = config.webrtc.bind {
        tracing::warn!(
            %bind,
            "[webrtc] bind is no longer used: browsers reach the media on [media] rtp_address"
        );
    }
    if !config.webrtc.enabled {
        let (_none, events) = mpsc::unbounded_channel();
        return (None, events);
    }
    let (gateway, events) = media::webrtc::WebRtcGateway::new(config.webrtc.gateway_config(), engine.clone());
    (Some(Arc::new(gateway)), events)
}

/// Addresses of record of the agents configured as browser agents.
fn browser_agents(config: &Config) -> std::collections::HashSet<String> {
    config
        .agents
        .iter()
        .filter(|a| a.webrtc)
        .map(|a| format!("sip:{}@{}", a.extension, config.sip.domain))
        .collect()
}

/// A browser leg connected or went: counted and logged (a browser that
/// vanishes mid-call ends it through the engine's inactivity watch).
fn webrtc_event(event: &media::webrtc::WebRtcEvent) {
    match event.event {
        media::webrtc::SessionEvent::Connected => {
            metrics::counter!("webrtc_connected_total").increment(1);
            tracing::info!(leg = event.session, "browser media connected (ICE and DTLS up)");
        }
        media::webrtc::SessionEvent::Disconnected => {
            metrics::counter!("webrtc_disconnected_total").increment(1);
            tracing::info!(leg = event.session, "browser media gone");
        }
    }
}

/// Today's records (and the repeat window before) from the store, so the
/// live figures survive a restart.
fn live_records(
    store: &crate::store::Store,
    config: &Config,
    wall: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<crate::stats::LiveRecords> {
    let now = queue::Millis(u64::try_from(wall.timestamp_millis()).unwrap_or(0));
    let midnight = crate::days::midnight(config.timezone(), now);
    let from = midnight - config.kpi.repeat_window.max(Duration::from_secs(86_400));
    let to = now + Duration::from_secs(1);
    let records = store
        .records_arrived(from, to)
        .context("reading today's call records")?;
    let agent_log = store.agent_log(from, to).context("reading the agent log")?;
    Ok(crate::stats::LiveRecords::new(
        config.kpi.clone(),
        config.timezone(),
        config.wallboard.service_level_target_percent,
        records,
        agent_log,
    ))
}

fn handle(switch: &mut Switch, now: Instant, event: NetEvent) {
    match event {
        NetEvent::Message { message, source } => switch.handle_message(now, message, source),
        NetEvent::Malformed { bytes, error, source } => switch.handle_malformed(&bytes, &error, source),
    }
}

fn answer(switch: &Switch, query: Query) {
    match query {
        Query::Registrations(reply) => {
            let _ = reply.send(switch.registrations(Instant::now()));
        }
        Query::Acd(reply) => {
            let _ = reply.send(switch.acd_snapshot(Instant::now()));
        }
        Query::ReloadFlows(_) | Query::AcdEvent(..) | Query::Recording { .. } | Query::Control(_) => {}
    }
}

/// Modification times of the routed flow files.
fn flow_file_stamps(config: &Config) -> Vec<Option<std::time::SystemTime>> {
    config
        .routes
        .iter()
        .map(|r| std::fs::metadata(&r.flow).and_then(|m| m.modified()).ok())
        .collect()
}

fn reload_flows(config: &Config, switch: &mut Switch) -> Result<usize, String> {
    let setup = crate::ivr_load::load(config).map_err(|e| format!("{e:#}"))?;
    let flows = setup.flows.len() + setup.by_caller.len();
    switch.replace_ivr(setup);
    tracing::info!(flows, "flows reloaded");
    metrics::counter!("ivr_flow_reloads_total").increment(1);
    Ok(flows)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
