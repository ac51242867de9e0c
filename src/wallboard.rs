//! The live wallboard: a page for a wall screen in the contact centre, and
//! the two ways it (or anything else) reads the board.
//!
//! - `GET /` is the page, one self-contained HTML file (`web/wallboard.html`,
//!   built into the binary: no build step, no external fetches).
//! - `GET /api/queues` is the board as it is now.
//! - `GET /api/wallboard/stream` is Server-Sent Events: the board as one
//!   `data:` line each time it changes, and again after a second without a
//!   change, so a client sees the live figures (longest wait grows while a
//!   caller waits) and notices a dead connection within a few seconds.
//!
//! The board itself is made by the shell, which publishes it into
//! [`AppState::board`](crate::http::AppState) every second; this module only
//! reads it, so a slow browser never holds anything the core needs.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use tokio::sync::watch;

use crate::http::AppState;

/// The page, served as it is.
const PAGE: &str = include_str!("../web/wallboard.html");

/// Longest time between two events of the stream.
const REFRESH: Duration = Duration::from_secs(1);

/// The wallboard's routes, to merge into the API router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/api/queues", get(queues))
        .route("/api/wallboard/stream", get(stream))
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
}

async fn queues(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.board.borrow().clone())
}

async fn stream(State(state): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(board_events(state.board)).keep_alive(KeepAlive::default())
}

/// The board as events: the current one at once, then each change, and the
/// latest again whenever a second passes without one.
fn board_events(board: watch::Receiver<serde_json::Value>) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold((board, true), |(mut board, first)| async move {
        if !first {
            next_tick(&mut board).await;
        }
        // Compact JSON has no raw line breaks, so it is one `data:` line.
        let text = board.borrow_and_update().to_string();
        Some((Ok(Event::default().data(text)), (board, false)))
    })
}

/// Waits for the board to change, or for [`REFRESH`] to pass.
async fn next_tick(board: &mut watch::Receiver<serde_json::Value>) {
    // Once the publisher is gone `changed` fails at once: only the timer
    // paces the stream then.
    let _ = tokio::time::timeout(REFRESH, async {
        if board.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn events_come_on_change_and_every_second() {
        let (tx, rx) = watch::channel(serde_json::json!({ "queues": [] }));
        let events = board_events(rx);
        let mut events = std::pin::pin!(events);
        let start = tokio::time::Instant::now();
        // The current board at once.
        assert!(events.next().await.is_some());
        assert_eq!(start.elapsed(), Duration::ZERO);
        // A change is sent without waiting for the second.
        tx.send_replace(serde_json::json!({ "queues": [{ "name": "support" }] }));
        assert!(events.next().await.is_some());
        assert_eq!(start.elapsed(), Duration::ZERO);
        // Nothing changes: the board again after a second, and so on, also
        // when the publisher has gone.
        assert!(events.next().await.is_some());
        assert_eq!(start.elapsed(), REFRESH);
        drop(tx);
        assert!(events.next().await.is_some());
        assert_eq!(start.elapsed(), 2 * REFRESH);
    }
}
