//! The ACD's part of the API: queue figures over a window, agents and
//! their states, call-back requests. See docs/api.md.

use std::time::Duration;

use axum::extract::{Path, Query as QueryString, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use queue::acd::Event;
use queue::kpi::{Filter, Window};
use queue::Millis;
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::http::{error, AppState};
use crate::http_api_body::ApiError;
use crate::server::Query;
use crate::stats::StatsRequest;

/// The routes, for the HTTP server's router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/queues/{name}/stats", get(queue_stats))
        .route("/api/calls", get(calls).post(crate::http_api::originate))
        .route("/api/agents", get(agents))
        .route("/api/agents/{id}/state", post(agent_state).put(agent_state))
        .route("/api/agents/{id}/stats", get(agent_stats))
}

/// Now on the wall clock, as the records count time.
pub(crate) fn now_millis() -> Millis {
    Millis(u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0))
}

/// `?window=15m|1h|today` or `?from=&to=` (RFC 3339 or Unix milliseconds),
/// with optional `agent` and `language` filters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsParams {
    window: Option<String>,
    from: Option<String>,
    to: Option<String>,
    agent: Option<String>,
    language: Option<String>,
}

fn parse_time(text: &str) -> Result<Millis, String> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(Millis(ms));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| Millis(u64::try_from(t.timestamp_millis()).unwrap_or(0)))
        .map_err(|e| format!("`{text}` is neither RFC 3339 nor Unix milliseconds: {e}"))
}

fn window_of(params: &StatsParams, now: Millis, tz: chrono_tz::Tz) -> Result<Window, String> {
    let end = now + Duration::from_millis(1);
    match (&params.window, &params.from, &params.to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err("give either window or from/to, not both".into()),
        (_, Some(from), to) => Ok(Window {
            from: parse_time(from)?,
            to: to.as_deref().map(parse_time).transpose()?.unwrap_or(end),
        }),
        (_, None, Some(_)) => Err("`to` needs `from`".into()),
        (window, None, None) => {
            let from = match window.as_deref().unwrap_or("15m") {
                "15m" => now - Duration::from_secs(15 * 60),
                "1h" => now - Duration::from_secs(3600),
                "today" => crate::days::midnight(tz, now),
                other => return Err(format!("window `{other}` is not 15m, 1h or today")),
            };
            Ok(Window { from, to: end })
        }
    }
}

async fn queue_stats(
    State(state): State<AppState>,
    Path(name): Path<String>,
    params: Result<QueryString<StatsParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(QueryString(params)) = params else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "parameters are window, from, to, agent, language",
        );
    };
    let known = state.queues.contains(&name);
    if !known {
        return error(StatusCode::NOT_FOUND, "unknown_queue", format!("no queue `{name}`"));
    }
    let window = match window_of(&params, now_millis(), state.timezone) {
        Ok(w) => w,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_window", e),
    };
    let filter = Filter {
        queue: Some(name.clone()),
        agent: params.agent,
        language: params.language,
    };
    stats_reply(&state, window, filter, ("queue", name)).await
}

/// An agent's figures over a window, all queues together: the calls the
/// agent answered, their handle times, and the surveys and QA evaluations
/// about the agent (`?window=` or `?from=&to=`, optional `language`).
async fn agent_stats(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<QueryString<StatsParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(QueryString(params)) = params else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "parameters are window, from, to, language",
        );
    };
    if params.agent.is_some() {
        return error(StatusCode::BAD_REQUEST, "bad_query", "the agent is in the path");
    }
    let window = match window_of(&params, now_millis(), state.timezone) {
        Ok(w) => w,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_window", e),
    };
    let filter = Filter {
        queue: None,
        agent: Some(id.clone()),
        language: params.language,
    };
    stats_reply(&state, window, filter, ("agent", id)).await
}

/// Asks the live KPIs for the figures of `window` and `filter`, answered
/// with what they are about (`("queue", name)` or `("agent", id)`).
async fn stats_reply(state: &AppState, window: Window, filter: Filter, about: (&str, String)) -> Response {
    let (reply, rx) = oneshot::channel();
    if state.stats.send(StatsRequest::Stats { window, filter, reply }).is_err() {
        return ApiError::core_not_running().into_response();
    }
    match rx.await {
        Ok(stats) => {
            let mut body = serde_json::json!({
                "window": { "from_ms": window.from.0, "to_ms": window.to.0 },
                "stats": stats,
            });
            body[about.0] = about.1.into();
            Json(body).into_response()
        }
        Err(_) => ApiError::core_not_running().into_response(),
    }
}

/// The call records of a window (`?window=` or `?from=&to=`, by arrival).
async fn calls(
    State(state): State<AppState>,
    params: Result<QueryString<StatsParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(QueryString(params)) = params else {
        return error(StatusCode::BAD_REQUEST, "bad_query", "parameters are window, from, to");
    };
    let window = match window_of(&params, now_millis(), state.timezone) {
        Ok(w) => w,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_window", e),
    };
    let (reply, rx) = oneshot::channel();
    if state.stats.send(StatsRequest::Calls { window, reply }).is_err() {
        return ApiError::core_not_running().into_response();
    }
    match rx.await {
        Ok(calls) => Json(serde_json::json!({ "calls": calls })).into_response(),
        Err(_) => ApiError::core_not_running().into_response(),
    }
}

async fn agents(State(state): State<AppState>) -> Response {
    let (reply, rx) = oneshot::channel();
    if state.queries.send(Query::Acd(reply)).await.is_err() {
        return ApiError::core_not_running().into_response();
    }
    match rx.await {
        Ok(snapshot) => Json(serde_json::json!({ "agents": snapshot.agents })).into_response(),
        Err(_) => ApiError::core_not_running().into_response(),
    }
}

/// `{"state": "login" | "logout" | "pause" | "resume" | "ready", "reason": "lunch"}`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateChange {
    state: String,
    #[serde(default)]
    reason: Option<String>,
}

async fn agent_state(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<crate::http_api_body::ApiJson<StateChange>, crate::http_api_body::ApiError>,
) -> Response {
    let change = match body {
        Ok(crate::http_api_body::ApiJson(change)) => change,
        Err(e) => return e.into_response(),
    };
    let agent = id.clone();
    let event = match change.state.as_str() {
        "login" => Event::Login { agent },
        "logout" => Event::Logout { agent },
        "pause" => Event::Pause {
            agent,
            reason: change.reason.unwrap_or_else(|| "break".into()),
        },
        "resume" => Event::Resume { agent },
        "ready" => Event::EndWrapUp { agent },
        other => {
            return crate::http_api_body::ApiError::field(
                "state",
                format!("state `{other}` is not login, logout, pause, resume or ready"),
            )
            .into_response()
        }
    };
    let (reply, rx) = oneshot::channel();
    if state.queries.send(Query::Acd(reply)).await.is_err() {
        return ApiError::core_not_running().into_response();
    }
    let Ok(snapshot) = rx.await else {
        return ApiError::core_not_running().into_response();
    };
    if !snapshot.agents.iter().any(|a| a.id == id) {
        return error(StatusCode::NOT_FOUND, "unknown_agent", format!("no agent `{id}`"));
    }
    let (done, rx) = oneshot::channel();
    if state.queries.send(Query::AcdEvent(event, done)).await.is_err() || rx.await.is_err() {
        return ApiError::core_not_running().into_response();
    }
    let (reply, rx) = oneshot::channel();
    if state.queries.send(Query::Acd(reply)).await.is_err() {
        return ApiError::core_not_running().into_response();
    }
    match rx.await.ok().and_then(|s| s.agents.into_iter().find(|a| a.id == id)) {
        Some(agent) => Json(agent).into_response(),
        None => ApiError::core_not_running().into_response(),
    }
}

// POST /api/callbacks is in crate::http_api, with the other channels' API.
