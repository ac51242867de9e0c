//! The recordings' part of the API: search, metadata, streamed download,
//! audited deletion, on-demand start, pause and resume of a live call's
//! recording, and QA evaluations. See docs/api.md and docs/recordings.md.
//!
//! The index is read and changed on connections of the API's own, on
//! tokio's blocking pool (SQLite and the file system block); live calls are
//! the SIP core's, asked through its query channel.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, Query as QueryString, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::http::{error, AppState};
use crate::http_api_body::ApiError;
use crate::http_auth::ApiCaller;
use crate::recording::{Control, QaConfig, RecordingRefused};
use crate::server::Query;
use crate::store::recordings::{self, Deletion, EvaluationRow, Search};

/// What the recordings API needs beside the common state.
#[derive(Debug, Clone)]
pub(crate) struct RecordingsApi {
    /// The store's database file.
    pub(crate) db: PathBuf,
    /// The QA form.
    pub(crate) qa: Arc<QaConfig>,
}

/// The routes, for the HTTP server's router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/recordings", get(list))
        .route("/api/recordings/{id}", get(one).delete(delete))
        .route("/api/recordings/{id}/audio", get(audio))
        .route("/api/recordings/{id}/evaluations", get(evaluations).post(evaluate))
        .route("/api/calls/{call}/recording/{action}", post(control))
}

fn unavailable(why: impl std::fmt::Display) -> Response {
    tracing::error!(%why, "recordings API");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the recordings index cannot be read now",
    )
}

/// Runs `f` with a connection to the index on the blocking pool.
async fn with_db<T: Send + 'static>(
    api: &RecordingsApi,
    f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, Response> {
    let db = api.db.clone();
    match tokio::task::spawn_blocking(move || recordings::open(&db).and_then(|mut conn| f(&mut conn))).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(unavailable(e)),
        Err(e) => Err(unavailable(e)),
    }
}

fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("`{text}` is neither RFC 3339 nor Unix milliseconds: {e}"))
}

/// `?from=&to=&queue=&agent=&caller=&limit=&deleted=`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    from: Option<String>,
    to: Option<String>,
    queue: Option<String>,
    agent: Option<String>,
    caller: Option<String>,
    limit: Option<u32>,
    #[serde(default)]
    deleted: bool,
}

async fn list(
    State(state): State<AppState>,
    params: Result<QueryString<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(QueryString(p)) = params else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "parameters are from, to, queue, agent, caller, limit, deleted",
        );
    };
    let (from, to) = match (p.from.as_deref().map(parse_time), p.to.as_deref().map(parse_time)) {
        (Some(Err(e)), _) | (_, Some(Err(e))) => return error(StatusCode::BAD_REQUEST, "bad_time", e),
        (from, to) => (from.and_then(Result::ok), to.and_then(Result::ok)),
    };
    let search = Search {
        from,
        to,
        queue: p.queue,
        agent: p.agent,
        caller: p.caller,
        deleted: p.deleted,
        limit: p.limit.unwrap_or(100).min(1000),
    };
    match with_db(&state.recordings, move |conn| recordings::list(conn, &search)).await {
        Ok(rows) => Json(serde_json::json!({ "recordings": rows })).into_response(),
        Err(r) => r,
    }
}

fn no_recording(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "unknown_recording",
        format!("no recording `{id}`"),
    )
}

async fn one(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let key = id.clone();
    let found = with_db(&state.recordings, move |conn| {
        let Some(row) = recordings::get(conn, &key)? else {
            return Ok(None);
        };
        let evaluations = recordings::evaluations(conn, &key)?;
        let audit = recordings::audit_of(conn, &key)?;
        Ok(Some((row, evaluations, audit)))
    })
    .await;
    match found {
        Ok(Some((row, evaluations, audit))) => {
            let sidecar_path = crate::recording::sidecar_path(std::path::Path::new(&row.path));
            let sidecar = tokio::fs::read(&sidecar_path)
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            Json(serde_json::json!({
                "recording": row,
                "sidecar": sidecar,
                "evaluations": evaluations,
                "audit": audit,
            }))
            .into_response()
        }
        Ok(None) => no_recording(&id),
        Err(r) => r,
    }
}

/// The WAV file, streamed in chunks (never read whole into memory).
async fn audio(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let key = id.clone();
    let row = match with_db(&state.recordings, move |conn| recordings::get(conn, &key)).await {
        Ok(Some(row)) => row,
        Ok(None) => return no_recording(&id),
        Err(r) => return r,
    };
    if row.deleted_at_ms.is_some() {
        return error(StatusCode::GONE, "deleted", format!("recording `{id}` was deleted"));
    }
    let file = match tokio::fs::File::open(&row.path).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(%e, path = %row.path, "recording file missing");
            return error(
                StatusCode::NOT_FOUND,
                "file_missing",
                format!("the file of `{id}` is missing"),
            );
        }
    };
    let length = file.metadata().await.ok().map(|m| m.len());
    // A recording still being written grows while it is sent: the body
    // stops at the length announced, or the client would see a broken
    // response.
    use tokio::io::AsyncReadExt;
    let file = file.take(length.unwrap_or(u64::MAX));
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        let mut chunk = vec![0u8; 64 * 1024];
        match file.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let mut response = axum::body::Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("audio/wav"));
    if let Some(len) = length {
        headers.insert(header::CONTENT_LENGTH, len.into());
    }
    if let Ok(v) = header::HeaderValue::from_str(&format!("attachment; filename=\"{}.wav\"", row.id)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// `?why=...` or a JSON body `{"why": "..."}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteParams {
    why: Option<String>,
}

async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(id): Path<String>,
    params: Result<QueryString<DeleteParams>, axum::extract::rejection::QueryRejection>,
    body: Option<Json<DeleteParams>>,
) -> Response {
    let Ok(QueryString(query)) = params else {
        return error(StatusCode::BAD_REQUEST, "bad_query", "the parameter is why");
    };
    let why = body.and_then(|Json(b)| b.why).or(query.why);
    let who = caller.name.to_string();
    let key = id.clone();
    let now = chrono::Utc::now().timestamp_millis();
    let result = with_db(&state.recordings, move |conn| {
        recordings::delete(conn, &key, &who, why.as_deref(), now)
    })
    .await;
    match result {
        Ok(Deletion::Deleted) => {
            tracing::info!(recording = %id, by = %caller.name, "recording deleted");
            metrics::counter!("recordings_deleted_total", "by" => "api").increment(1);
            Json(serde_json::json!({ "deleted": id, "by": caller.name.as_ref(), "at_ms": now })).into_response()
        }
        Ok(Deletion::Recording) => error(
            StatusCode::CONFLICT,
            "recording",
            format!("recording `{id}` is still being written; delete it once it ends"),
        ),
        Ok(Deletion::AlreadyDeleted) => error(
            StatusCode::GONE,
            "deleted",
            format!("recording `{id}` was deleted already"),
        ),
        Ok(Deletion::Unknown) => no_recording(&id),
        Err(r) => r,
    }
}

async fn control(State(state): State<AppState>, Path((call, action)): Path<(String, String)>) -> Response {
    let control = match action.as_str() {
        "start" => Control::Start,
        "pause" => Control::Pause,
        "resume" => Control::Resume,
        other => {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("`{other}` is not start, pause or resume"),
            )
        }
    };
    let (reply, rx) = oneshot::channel();
    let query = Query::Recording {
        call: call.clone(),
        control,
        reply,
    };
    if state.queries.send(query).await.is_err() {
        return ApiError::core_not_running().into_response();
    }
    match rx.await {
        Ok(Ok(recording)) => {
            Json(serde_json::json!({ "call": call, "recording": recording, "action": action })).into_response()
        }
        Ok(Err(e)) => {
            let (status, code) = match e {
                RecordingRefused::NoCall(_) => (StatusCode::NOT_FOUND, "unknown_call"),
                RecordingRefused::Forbidden => (StatusCode::FORBIDDEN, "recording_off"),
                RecordingRefused::Conflict(_) | RecordingRefused::NotBridged => (StatusCode::CONFLICT, "conflict"),
            };
            error(status, code, e.to_string())
        }
        Err(_) => ApiError::core_did_not_answer().into_response(),
    }
}

/// `{"evaluator": "...", "scores": {"criterion": 0..10}, "comment": "..."}`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Evaluation {
    evaluator: String,
    scores: std::collections::BTreeMap<String, f64>,
    #[serde(default)]
    comment: Option<String>,
}

/// The weighted total out of 10 of `scores` by the form's criteria, and the
/// scores as taken. Scores are on 0..10 only: reading a form whose scores
/// are all at most 1 as fractions would turn an evaluator's 1s and 0s out
/// of 10 into a near-perfect total.
fn total(
    form: &QaConfig,
    scores: &std::collections::BTreeMap<String, f64>,
) -> Result<(f64, serde_json::Value), String> {
    if form.criteria.is_empty() {
        return Err("no QA criteria are configured ([qa] criteria)".into());
    }
    for name in scores.keys() {
        if !form.criteria.iter().any(|c| &c.name == name) {
            return Err(format!("`{name}` is not a criterion of the form"));
        }
    }
    let mut sum = 0.0;
    let mut weights = 0.0;
    let mut normalised = serde_json::Map::new();
    for c in &form.criteria {
        let Some(&score) = scores.get(&c.name) else {
            return Err(format!("criterion `{}` has no score", c.name));
        };
        if !score.is_finite() || !(0.0..=10.0).contains(&score) {
            return Err(format!("the score of `{}` must be between 0 and 10", c.name));
        }
        normalised.insert(c.name.clone(), score.into());
        sum += score * c.weight;
        weights += c.weight;
    }
    Ok((sum / weights, serde_json::Value::Object(normalised)))
}

async fn evaluate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<crate::http_api_body::ApiJson<Evaluation>, crate::http_api_body::ApiError>,
) -> Response {
    // The API's one body reader: 400/413/415/422 naming the field.
    let e = match body {
        Ok(crate::http_api_body::ApiJson(e)) => e,
        Err(e) => return e.into_response(),
    };
    if e.evaluator.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "bad_body", "evaluator must not be empty");
    }
    let (total, scores) = match total(&state.recordings.qa, &e.scores) {
        Ok(t) => t,
        Err(why) => return error(StatusCode::UNPROCESSABLE_ENTITY, "bad_scores", why),
    };
    let key = id.clone();
    let now = chrono::Utc::now().timestamp_millis();
    let stored = with_db(&state.recordings, move |conn| {
        let Some(row) = recordings::get(conn, &key)? else {
            return Ok(None);
        };
        let mut evaluation = EvaluationRow {
            id: 0,
            recording: key,
            at_ms: now,
            evaluator: e.evaluator,
            agent: row.agent.clone(),
            queue: row.queue.clone(),
            total,
            scores,
            comment: e.comment,
        };
        evaluation.id = recordings::add_evaluation(conn, &evaluation)?;
        Ok(Some((row.call_id, evaluation)))
    })
    .await;
    match stored {
        Ok(Some((call_id, evaluation))) => {
            let score = queue::record::QaScore {
                agent: evaluation.agent.clone(),
                total: evaluation.total,
                at: queue::Millis(u64::try_from(now).unwrap_or(0)),
            };
            let _ = state
                .stats
                .send(crate::stats::StatsRequest::Evaluation { call_id, score });
            (StatusCode::CREATED, Json(evaluation)).into_response()
        }
        Ok(None) => no_recording(&id),
        Err(r) => r,
    }
}

async fn evaluations(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let key = id.clone();
    let found = with_db(&state.recordings, move |conn| {
        if recordings::get(conn, &key)?.is_none() {
            return Ok(None);
        }
        recordings::evaluations(conn, &key).map(Some)
    })
    .await;
    match found {
        Ok(Some(list)) => Json(serde_json::json!({ "evaluations": list })).into_response(),
        Ok(None) => no_recording(&id),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_is_weighted_out_of_10() {
        let form = QaConfig {
            criteria: vec![
                crate::recording::config::Criterion {
                    name: "greeting".into(),
                    weight: 1.0,
                },
                crate::recording::config::Criterion {
                    name: "resolution".into(),
                    weight: 3.0,
                },
            ],
        };
        let scores = |a: f64, b: f64| [("greeting".to_owned(), a), ("resolution".to_owned(), b)].into();
        let (t, _) = total(&form, &scores(10.0, 6.0)).unwrap();
        assert!((t - 7.0).abs() < 1e-9, "{t}");
        let (t, n) = total(&form, &scores(1.0, 0.0)).unwrap();
        assert!((t - 0.25).abs() < 1e-9, "low scores stay low: {t}");
        assert_eq!(n["greeting"], 1.0);
        assert!(total(&form, &scores(-1.0, 5.0)).is_err());
        assert!(total(&form, &scores(f64::NAN, 5.0)).is_err());
        assert!(total(&form, &scores(11.0, 5.0)).is_err());
        assert!(
            total(&form, &[("greeting".to_owned(), 5.0)].into()).is_err(),
            "a score missing"
        );
        assert!(
            total(&form, &[("tone".to_owned(), 5.0)].into()).is_err(),
            "an unknown criterion"
        );
    }
}
