//! The agent softphone page at /agent, and the agents' login for an API
//! token of their own.
//!
//! The page is static (embedded, so it works without internet access): it
//! logs in with the agent's SIP credentials at `POST /api/agent/login`, sets
//! the agent's state through the API with the token it gets, follows its
//! calls' context on `/api/events?agent=`, and is a SIP phone itself: JsSIP
//! (vendored in web/vendor) registers over `/ws` and takes the calls, with
//! WebRTC media through the switch's gateway.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::http::AppState;

const PAGE: &str = include_str!("../web/agent.html");
const SCRIPT: &str = include_str!("../web/agent.js");
const JSSIP: &str = include_str!("../web/vendor/jssip.min.js");

/// The page, its script, the SIP library and the login.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/agent", get(page))
        .route("/agent/agent.js", get(script))
        .route("/agent/jssip.min.js", get(jssip))
        .route("/api/agent/login", post(login))
}

async fn page() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response()
}

async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

async fn jssip() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        JSSIP,
    )
        .into_response()
}

/// `{"extension": "1001", "password": "..."}`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    extension: String,
    password: String,
}

/// A token scoped to the agent whose SIP password this is, with what the
/// page's phone needs (the SIP domain).
async fn login(
    State(state): State<AppState>,
    body: Result<crate::http_api_body::ApiJson<Login>, crate::http_api_body::ApiError>,
) -> Response {
    let login = match body {
        Ok(crate::http_api_body::ApiJson(login)) => login,
        Err(e) => return e.into_response(),
    };
    let now = std::time::Instant::now();
    match state.tokens.issue_agent(&login.extension, &login.password, now) {
        Some(token) => Json(serde_json::json!({
            "token": token,
            "extension": login.extension,
            "domain": state.tokens.domain(),
            "expires_in_secs": crate::http_auth::AGENT_TOKEN_TTL.as_secs(),
        }))
        .into_response(),
        None => {
            metrics::counter!("agent_login_failures_total").increment(1);
            crate::http::error(
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "unknown extension or wrong password",
            )
        }
    }
}
