//! The API for other channels: call-backs by id, call control (originate,
//! transfer, hang-up), the live event stream, the hooks' dead letters and
//! the OpenAPI document. Bodies go through [`ApiJson`]; errors are JSON
//! `{code, message, field?}`. See docs/api.md.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Path, Query as QueryString, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use queue::acd::Callback;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::oneshot;

use crate::hooks::event::rfc3339;
use crate::http::AppState;
use crate::http_acd::now_millis;
use crate::http_api_body::{ApiError, ApiJson, BODY_LIMIT};
use crate::server::Query;
use crate::switch::{ControlRefused, Destination, Switch};

/// The OpenAPI document, kept beside the code it describes.
const OPENAPI: &str = include_str!("openapi.json");

/// The routes, for the HTTP server's router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/events", get(events))
        .route("/api/hooks/dead-letters", get(dead_letters))
        .route("/api/hooks/dead-letters/{id}/retry", post(retry))
        .route("/api/callbacks", post(request_callback))
        .route("/api/callbacks/{id}", get(callback).delete(cancel_callback))
        .route("/api/calls/{call}/transfer", post(transfer))
        .route("/api/calls/{call}/hangup", post(hang_up))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// What the API asks the core to do.
#[derive(Debug)]
pub(crate) enum Control {
    /// A call-back from outside.
    RequestCallback {
        number: String,
        queue: String,
        at: queue::Millis,
        attributes: BTreeMap<String, String>,
        reply: oneshot::Sender<Result<Callback, ControlRefused>>,
    },
    /// A waiting call-back.
    Callback {
        id: u64,
        reply: oneshot::Sender<Option<(Callback, &'static str)>>,
    },
    /// Cancel a waiting call-back.
    CancelCallback {
        id: u64,
        reply: oneshot::Sender<Result<(), ControlRefused>>,
    },
    /// Place a call.
    Originate {
        number: String,
        to: Destination,
        reply: oneshot::Sender<Result<String, ControlRefused>>,
    },
    /// Move a call.
    Transfer {
        call: String,
        to: Destination,
        /// Asked by this agent's own token: only its current call.
        by_agent: Option<String>,
        reply: oneshot::Sender<Result<(), ControlRefused>>,
    },
    /// End a call.
    HangUp {
        call: String,
        reply: oneshot::Sender<Result<(), ControlRefused>>,
    },
}

/// Carries out a [`Control`] on the core (its own task).
pub(crate) fn control(switch: &mut Switch, now: Instant, control: Control) {
    match control {
        Control::RequestCallback {
            number,
            queue,
            at,
            attributes,
            reply,
        } => {
            let _ = reply.send(switch.request_callback(now, number, queue, at, attributes, "api"));
        }
        Control::Callback { id, reply } => {
            let _ = reply.send(switch.callback_status(id));
        }
        Control::CancelCallback { id, reply } => {
            let _ = reply.send(switch.cancel_callback(now, id));
        }
        Control::Originate { number, to, reply } => {
            let _ = reply.send(switch.originate(now, &number, to));
        }
        Control::Transfer {
            call,
            to,
            by_agent,
            reply,
        } => {
            let _ = reply.send(switch.transfer(now, &call, to, by_agent.as_deref()));
        }
        Control::HangUp { call, reply } => {
            let _ = reply.send(switch.hang_up(now, &call));
        }
    }
}

/// Sends a control to the core and waits for its answer.
async fn ask<T>(state: &AppState, make: impl FnOnce(oneshot::Sender<T>) -> Control) -> Result<T, ApiError> {
    let (reply, rx) = oneshot::channel();
    state
        .queries
        .send(Query::Control(make(reply)))
        .await
        .map_err(|_| ApiError::core_not_running())?;
    rx.await.map_err(|_| ApiError::core_not_running())
}

fn refused(e: ControlRefused) -> ApiError {
    match e {
        ControlRefused::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
        ControlRefused::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
        ControlRefused::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
        ControlRefused::Unavailable(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// A number to dial: digits with an optional leading `+`.
fn check_number(number: &str) -> Result<(), ApiError> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    if digits.is_empty() || digits.len() > 32 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::field(
            "number",
            "digits with an optional leading +, at most 32",
        ));
    }
    Ok(())
}

fn parse_time(text: &str) -> Option<queue::Millis> {
    if let Ok(ms) = text.parse::<u64>() {
        return Some(queue::Millis(ms));
    }
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    Some(queue::Millis(u64::try_from(t.timestamp_millis()).ok()?))
}

/// `POST /api/callbacks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallbackRequest {
    number: String,
    queue: String,
    /// Not dialled before this (RFC 3339 or Unix ms); default now.
    #[serde(default)]
    at: Option<String>,
    /// Shown to the agent who calls back.
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

fn callback_json(callback: &Callback, state: &str) -> serde_json::Value {
    json!({
        "id": callback.id,
        "number": callback.number,
        "queue": callback.queue,
        "state": state,
        "requested_at": rfc3339(callback.requested_at.0),
        "due_at": rfc3339(callback.due_at.0),
        "attempts": callback.attempts,
        "attributes": callback.attributes,
    })
}

async fn request_callback(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CallbackRequest>,
) -> Result<Response, ApiError> {
    check_number(&request.number)?;
    if request.attributes.len() > 32
        || request
            .attributes
            .iter()
            .any(|(k, v)| k.is_empty() || k.len() > 64 || v.len() > 1024)
    {
        return Err(ApiError::field(
            "attributes",
            "at most 32 attributes, names of 1 to 64 characters, values of at most 1024",
        ));
    }
    if !state.queues.contains(&request.queue) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_queue",
            format!("no queue `{}`", request.queue),
        ));
    }
    let at = match request.at.as_deref() {
        Some(text) => {
            parse_time(text).ok_or_else(|| ApiError::field("at", "neither RFC 3339 nor Unix milliseconds"))?
        }
        None => now_millis(),
    };
    let CallbackRequest {
        number,
        queue,
        attributes,
        ..
    } = request;
    let callback = ask(&state, |reply| Control::RequestCallback {
        number,
        queue,
        at,
        attributes,
        reply,
    })
    .await?
    .map_err(refused)?;
    let mut body = callback_json(&callback, "scheduled");
    body["scheduled_at_ms"] = json!(callback.due_at.0);
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

fn callback_id(text: &str) -> Result<u64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no call-back `{text}`")))
}

async fn callback(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = callback_id(&id)?;
    match ask(&state, |reply| Control::Callback { id, reply }).await? {
        Some((callback, status)) => Ok(Json(callback_json(&callback, status)).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no call-back {id} waiting (placed, given up, cancelled, or never)"),
        )),
    }
}

async fn cancel_callback(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = callback_id(&id)?;
    ask(&state, |reply| Control::CancelCallback { id, reply })
        .await?
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/calls`: `{"number": "+34...", "to": "queue:support"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Originate {
    number: String,
    to: String,
}

fn destination(to: &str) -> Result<Destination, ApiError> {
    Destination::parse(to).ok_or_else(|| ApiError::field("to", "queue:NAME, flow:NUMBER or agent:ID"))
}

/// Places a call; routed from the ACD API's `/api/calls`.
pub(crate) async fn originate(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<Originate>,
) -> Result<Response, ApiError> {
    check_number(&request.number)?;
    let to = destination(&request.to)?;
    let number = request.number;
    let call = ask(&state, |reply| Control::Originate { number, to, reply })
        .await?
        .map_err(refused)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "call_id": call, "to": request.to, "state": "dialling" })),
    )
        .into_response())
}

/// `POST /api/calls/{call}/transfer`: `{"to": "queue:sales"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    to: String,
}

async fn transfer(
    State(state): State<AppState>,
    Path(call): Path<String>,
    caller: Option<axum::Extension<crate::http_auth::ApiCaller>>,
    ApiJson(request): ApiJson<Transfer>,
) -> Result<Response, ApiError> {
    let to = destination(&request.to)?;
    let id = call.clone();
    let by_agent = caller.and_then(|c| c.0.agent.as_deref().map(str::to_owned));
    ask(&state, |reply| Control::Transfer {
        call: id,
        to,
        by_agent,
        reply,
    })
    .await?
    .map_err(refused)?;
    Ok(Json(json!({ "call_id": call, "to": request.to })).into_response())
}

async fn hang_up(State(state): State<AppState>, Path(call): Path<String>) -> Result<Response, ApiError> {
    let id = call.clone();
    ask(&state, |reply| Control::HangUp { call: id, reply })
        .await?
        .map_err(refused)?;
    Ok(Json(json!({ "call_id": call, "state": "ending" })).into_response())
}

async fn dead_letters(State(state): State<AppState>) -> Result<Response, ApiError> {
    let letters = state
        .hooks
        .dead_letters()
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e))?;
    Ok(Json(json!({ "dead_letters": letters })).into_response())
}

async fn retry(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no dead letter `{id}`"));
    let number: i64 = id.parse().map_err(|_| not_found())?;
    let found = state
        .hooks
        .retry(number)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e))?;
    if !found {
        return Err(not_found());
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": number, "state": "pending" }))).into_response())
}

/// `GET /api/events?agent=&queue=&types=`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventFilter {
    agent: Option<String>,
    queue: Option<String>,
    /// Comma-separated types or families (`call.*`).
    types: Option<String>,
    /// A browser's `EventSource` cannot send a header: its token comes here
    /// and the auth layer checks it. Without this field the filter refused
    /// it, and the agent page's stream got a 400.
    #[serde(rename = "access_token")]
    _access_token: Option<String>,
}

async fn events(
    State(state): State<AppState>,
    filter: Result<QueryString<EventFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Ok(QueryString(filter)) = filter else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "parameters are agent, queue, types and access_token",
        ));
    };
    let types: Vec<String> = filter
        .types
        .as_deref()
        .map(|t| {
            t.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let rx = state.hooks.subscribe();
    let stream = futures_util::stream::unfold(rx, move |mut rx| {
        let (agent, queue, types) = (filter.agent.clone(), filter.queue.clone(), types.clone());
        async move {
            loop {
                match rx.recv().await {
                    Ok(streamed) => {
                        let e = &streamed.event;
                        let name = e.kind.as_str();
                        let wanted = agent.as_ref().is_none_or(|a| e.agent.as_ref() == Some(a))
                            && queue.as_ref().is_none_or(|q| e.queue.as_ref() == Some(q))
                            && (types.is_empty()
                                || types.iter().any(|t| match t.strip_suffix('*') {
                                    Some(prefix) => name.starts_with(prefix),
                                    None => t == name,
                                }));
                        if wanted {
                            let event = SseEvent::default()
                                .event(name)
                                .id(e.id.clone())
                                .data(streamed.json.clone());
                            return Some((Ok::<_, Infallible>(event), rx));
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        // A reader too slow for the stream: told, not cut off.
                        let event = SseEvent::default()
                            .event("lagged")
                            .data(json!({ "missed": n }).to_string());
                        return Some((Ok(event), rx));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
