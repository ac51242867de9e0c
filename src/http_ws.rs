//! The `/ws` endpoint: SIP over WebSocket (RFC 7118) on the HTTP port, for
//! browser softphones (JsSIP, SIP.js, the built-in agent page).
//!
//! The upgrade must ask for the `sip` subprotocol (section 4.1); the
//! connection then becomes a flow of the SIP network
//! ([`signaling::ws::WsFlow`]) and this task only moves messages between the
//! two. Phones authenticate with digest as over UDP, so the endpoint needs
//! no API token.

use std::net::SocketAddr;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::Response;
use signaling::net::Network;

/// The route, with the network it feeds.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(network: Option<Network>) -> axum::Router<S> {
    axum::Router::new()
        .route("/ws", axum::routing::get(upgrade))
        .with_state(network)
}

async fn upgrade(
    State(network): State<Option<Network>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(network) = network else {
        return crate::http::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "SIP over WebSocket is not running",
        );
    };
    // Section 4.1: a server that does not agree on `sip` must not carry SIP.
    let ws = ws.protocols(["sip"]);
    if ws.selected_protocol().is_none() {
        return crate::http::error(
            StatusCode::BAD_REQUEST,
            "no_sip_subprotocol",
            "ask for the WebSocket subprotocol \"sip\" (RFC 7118)",
        );
    }
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |socket| carry(socket, network, remote))
}

/// Moves messages until either side closes.
async fn carry(mut socket: WebSocket, network: Network, remote: SocketAddr) {
    let mut flow = network.ws_flow(remote);
    tracing::debug!(%remote, "websocket flow open");
    metrics::gauge!("sip_ws_flows").increment(1.0);
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if !flow.receive(text.as_str().as_bytes()).await { break }
                }
                Some(Ok(Message::Binary(bytes))) => {
                    if !flow.receive(&bytes).await { break }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            },
            outgoing = flow.next_outgoing() => {
                let Some(bytes) = outgoing else { break };
                // SIP is UTF-8 text as a rule; a body that is not goes binary.
                let message = match String::from_utf8(bytes.to_vec()) {
                    Ok(text) => Message::Text(text.into()),
                    Err(e) => Message::Binary(e.into_bytes().into()),
                };
                if socket.send(message).await.is_err() { break }
            }
        }
    }
    metrics::gauge!("sip_ws_flows").decrement(1.0);
    tracing::debug!(%remote, "websocket flow closed");
}
