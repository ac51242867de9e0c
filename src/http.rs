//! The HTTP server: /health for load balancers, /metrics for Prometheus, the
//! JSON API under /api, and the wallboard page at / (see [`crate::wallboard`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::http_api_body::ApiError;
use crate::server::Query;

/// What the HTTP side reads from: the core's query channel, the metrics
/// recorder, and the wallboard snapshot the shell publishes every second.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) queries: mpsc::Sender<Query>,
    pub(crate) metrics: PrometheusHandle,
    /// The document of GET /api/queues: every queue's live figures.
    pub(crate) board: tokio::sync::watch::Receiver<serde_json::Value>,
    /// The live KPIs.
    pub(crate) stats: mpsc::UnboundedSender<crate::stats::StatsRequest>,
    /// The configured queues' names.
    pub(crate) queues: std::sync::Arc<[String]>,
    /// The site's time zone, for "today".
    pub(crate) timezone: chrono_tz::Tz,
    /// The API's bearer tokens.
    pub(crate) tokens: std::sync::Arc<crate::http_auth::Tokens>,
    /// The SIP network, for SIP over WebSocket at /ws.
    pub(crate) sip: Option<signaling::net::Network>,
    /// The recordings index and the QA form.
    pub(crate) recordings: crate::http_recordings::RecordingsApi,
    /// The hooks' dead letters and the live event stream.
    pub(crate) hooks: crate::hooks::HooksApi,
}

/// Installs the Prometheus recorder for the `metrics` facade. Queue waits
/// get histogram buckets at the service-level thresholds, so that SL(T) can
/// be read off Prometheus too.
pub(crate) fn install_metrics(thresholds: &[std::time::Duration]) -> anyhow::Result<PrometheusHandle> {
    let mut buckets: Vec<f64> = [
        5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0,
    ]
    .into_iter()
    .chain(thresholds.iter().map(|t| t.as_secs_f64()))
    .collect();
    buckets.sort_by(f64::total_cmp);
    buckets.dedup();
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(metrics_exporter_prometheus::Matcher::Prefix("acd_".into()), &buckets)?
        .install_recorder()?)
}

/// Serves until the listener fails; over TLS with `tls`.
pub(crate) async fn serve(listener: tokio::net::TcpListener, tls: Option<tokio_rustls::TlsAcceptor>, state: AppState) {
    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(prometheus))
        .route("/api/registrations", get(registrations))
        .route("/api/flows/reload", axum::routing::post(reload_flows))
        .merge(crate::wallboard::routes())
        .merge(crate::http_acd::routes())
        .merge(crate::http_ws::routes(state.sip.clone()))
        .merge(crate::http_api::routes())
        .merge(crate::http_recordings::routes())
        .merge(crate::agent_page::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Every body the API takes is small JSON.
        .layer(axum::extract::DefaultBodyLimit::max(crate::http_api_body::BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.tokens.clone(),
            crate::http_auth::require_token,
        ))
        .with_state(state);
    // The remote address names a WebSocket flow (see crate::http_ws).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = match tls {
        None => axum::serve(listener, app).await,
        Some(acceptor) => match crate::http_tls::TlsListener::new(listener, acceptor) {
            // tap_io: axum gives the peer address as connect info through it.
            Ok(listener) => axum::serve(axum::serve::ListenerExt::tap_io(listener, |_| {}), app).await,
            Err(e) => Err(e),
        },
    };
    if let Err(e) = served {
        tracing::error!(%e, "HTTP server stopped");
    }
}

/// A JSON error `{"code", "message"}` with `status`.
pub(crate) fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    ApiError::new(status, code, message).into_response()
}

async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn prometheus(State(state): State<AppState>) -> String {
    state.metrics.render()
}

async fn reload_flows(State(state): State<AppState>) -> Response {
    let (tx, rx) = oneshot::channel();
    if state.queries.send(Query::ReloadFlows(tx)).await.is_err() {
        return ApiError::core_not_running().into_response();
    }
    match rx.await {
        Ok(Ok(flows)) => Json(serde_json::json!({ "flows": flows })).into_response(),
        Ok(Err(errors)) => error(StatusCode::UNPROCESSABLE_ENTITY, "flow_errors", errors),
        Err(_) => ApiError::core_did_not_answer().into_response(),
    }
}

#[derive(Serialize)]
struct RegistrationView {
    aor: String,
    contact: String,
    expires: u32,
    source: String,
    user_agent: Option<String>,
}

async fn registrations(State(state): State<AppState>) -> Response {
    let (tx, rx) = oneshot::channel();
    if state.queries.send(Query::Registrations(tx)).await.is_err() {
        return ApiError::core_not_running().into_response();
    }
    match rx.await {
        Ok(list) => Json(
            list.into_iter()
                .map(|r| RegistrationView {
                    aor: r.aor,
                    contact: r.contact,
                    expires: r.expires_in,
                    source: r.source.to_string(),
                    user_agent: r.user_agent,
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(_) => ApiError::core_did_not_answer().into_response(),
    }
}
