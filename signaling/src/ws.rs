//! SIP over WebSocket (RFC 7118): a WebSocket connection as a SIP flow.
//!
//! The WebSocket handshake belongs to the HTTP server (the `/ws` endpoint
//! with subprotocol `sip`); this module knows nothing of HTTP. The server
//! hands each accepted connection to [`Network::ws_flow`] and then pumps:
//! every WebSocket message it reads goes to [`WsFlow::receive`] (RFC 7118
//! section 5: one SIP message per WebSocket message, no framing by
//! Content-Length), and every message the core sends to [`Peer::ws`] comes
//! out of [`WsFlow::next_outgoing`] to be written as a text frame.
//!
//! A browser can only be reached over the connection it opened: the flow is
//! named by the connection's remote address, a REGISTER over it records that
//! address as the binding's source, and every request to the registered
//! agent goes down the same connection (the flow reuse of RFC 5626; the
//! `;transport=ws` host of a browser's Contact is an invented `.invalid`
//! name that cannot be resolved anyway). When the connection closes the flow
//! is gone and messages to it are dropped like lost datagrams: the
//! transaction layer times out as it would for a vanished UDP phone.

use std::net::SocketAddr;
use std::sync::PoisonError;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::message;
use crate::net::{Connections, NetEvent, Network};
use crate::transport::Peer;

/// Depth of a flow's outgoing queue; a browser that stops reading is cut
/// off rather than allowed to grow memory.
const WS_QUEUE: usize = 1024;

/// One WebSocket connection's side of the SIP transport. Dropping it ends
/// the flow.
#[derive(Debug)]
pub struct WsFlow {
    peer: Peer,
    queue: mpsc::Sender<Bytes>,
    outgoing: mpsc::Receiver<Bytes>,
    events: mpsc::Sender<NetEvent>,
    limits: message::Limits,
    connections: Connections,
}

impl Network {
    /// Opens the SIP flow of a WebSocket connection accepted from `remote`.
    /// A flow already open under the same address is replaced.
    pub fn ws_flow(&self, remote: SocketAddr) -> WsFlow {
        let (queue, outgoing) = mpsc::channel(WS_QUEUE);
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ws
            .insert(remote, queue.clone());
        WsFlow {
            peer: Peer::ws(remote),
            queue,
            outgoing,
            events: self.events.clone(),
            limits: self.limits,
            connections: self.connections.clone(),
        }
    }

    pub(crate) fn send_ws(&self, addr: SocketAddr, payload: Bytes) {
        let mut table = self.connections.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(queue) = table.ws.get(&addr) else {
            // A browser cannot be called back: without its connection the
            // message is lost, and the transaction times out.
            tracing::debug!(%addr, "no websocket flow");
            return;
        };
        if queue.try_send(payload).is_err() {
            tracing::debug!(%addr, "websocket flow gone or full");
            table.ws.remove(&addr);
        }
    }
}

impl WsFlow {
    /// The peer the core sees for this connection.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// Delivers one WebSocket message (text or binary) to the core. Returns
    /// false when the core is gone. A message that is not SIP is reported as
    /// malformed, as a bad datagram would be.
    pub async fn receive(&self, frame: &[u8]) -> bool {
        let source = self.peer;
        let event = match message::parse_datagram(frame, &self.limits) {
            Ok(Some(message)) => NetEvent::Message { message, source },
            // Keep-alive CRLFs some clients send: nothing to deliver.
            Ok(None) => return true,
            Err(error) => NetEvent::Malformed {
                bytes: Bytes::copy_from_slice(frame),
                error,
                source,
            },
        };
        self.events.send(event).await.is_ok()
    }

    /// The next message to write to the browser; `None` once the flow was
    /// cut off (a full queue).
    pub async fn next_outgoing(&mut self) -> Option<Bytes> {
        self.outgoing.recv().await
    }
}

impl Drop for WsFlow {
    fn drop(&mut self) {
        let mut table = self.connections.lock().unwrap_or_else(PoisonError::into_inner);
        if table
            .ws
            .get(&self.peer.addr)
            .is_some_and(|q| q.same_channel(&self.queue))
        {
            table.ws.remove(&self.peer.addr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Transmit, Transport};

    const OPTIONS: &str = "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n";

    #[tokio::test]
    async fn a_flow_carries_messages_both_ways_until_dropped() {
        let (tx, mut rx) = mpsc::channel(8);
        let network = Network::bind(&[], &[], message::Limits::default(), tx)
            .await
            .expect("bind nothing");
        let remote: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        let mut flow = network.ws_flow(remote);
        assert!(flow.receive(OPTIONS.as_bytes()).await);
        match rx.recv().await {
            Some(NetEvent::Message { source, .. }) => {
                assert_eq!(source.transport, Transport::Ws);
                assert_eq!(source.addr, remote);
            }
            other => panic!("expected a message, got {other:?}"),
        }
        assert!(flow.receive(b"not sip at all").await);
        assert!(matches!(rx.recv().await, Some(NetEvent::Malformed { .. })));

        network.send(Transmit {
            destination: Peer::ws(remote),
            payload: Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n"),
        });
        assert_eq!(
            flow.next_outgoing().await.as_deref(),
            Some(&b"SIP/2.0 200 OK\r\n\r\n"[..])
        );

        drop(flow);
        // Sending to a closed flow is dropped, not an error.
        network.send(Transmit {
            destination: Peer::ws(remote),
            payload: Bytes::from_static(b"x"),
        });
        assert!(network.connections.lock().expect("lock").ws.is_empty());
    }
}
