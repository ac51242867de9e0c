//! Tokio transports: UDP sockets and TCP connections, the I/O edge of signaling.
//!
//! Receiving tasks frame and parse (the costly part) in parallel on the runtime's
//! workers and hand [`NetEvent`]s to one channel; sending never waits: a UDP
//! datagram goes out with `try_send_to`, a TCP message is queued to the writer
//! task of its connection. Over TCP a peer is named by its remote address, so a
//! response or an in-dialog request finds the connection the peer opened
//! (RFC 3261 section 18.2.2; phones behind NAT can only be reached that way).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use rsip::SipMessage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use crate::message::{self, Framed, Limits, MessageError};
use crate::transport::{Peer, Transmit, Transport};

/// What the transports deliver to the SIP core.
#[derive(Debug)]
pub enum NetEvent {
    /// A framed, parsed message.
    Message {
        /// The message.
        message: SipMessage,
        /// Where it came from.
        source: Peer,
    },
    /// Bytes that could not be framed or parsed.
    Malformed {
        /// The raw bytes (for a 400 where one can be built).
        bytes: Bytes,
        /// Why.
        error: MessageError,
        /// Where they came from.
        source: Peer,
    },
}

/// Depth of each TCP connection's outgoing queue; a peer that does not read is
/// cut off rather than allowed to grow memory.
const TCP_QUEUE: usize = 1024;
/// How long a connection the peer closed (or that fell out of step) keeps
/// sending the answers the core still owes it.
const TCP_LINGER: std::time::Duration = std::time::Duration::from_millis(500);
/// Concurrent receive tasks per UDP socket (one per core is the aim).
const UDP_RECEIVERS: usize = 2;

/// TCP connections by remote address. A connection the peer closed moves to
/// `closing` for [`TCP_LINGER`]: responses still owed to requests it carried
/// go out on it (section 18.2.2), while new requests open a new connection.
#[derive(Debug, Default)]
pub(crate) struct ConnectionTable {
    open: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
    closing: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
    /// WebSocket flows by remote address (see [`crate::ws`]).
    pub(crate) ws: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
}

impl ConnectionTable {
    /// Forgets `queue` under `addr` in both maps, unless another connection
    /// took the address meanwhile.
    fn remove(&mut self, addr: SocketAddr, queue: &mpsc::Sender<Bytes>) {
        for map in [&mut self.open, &mut self.closing] {
            if map.get(&addr).is_some_and(|q| q.same_channel(queue)) {
                map.remove(&addr);
            }
        }
    }
}

pub(crate) type Connections = Arc<Mutex<ConnectionTable>>;

/// The bound sockets. Cheap to clone; all clones send through the same sockets.
#[derive(Debug, Clone)]
pub struct Network {
    udp: Vec<Arc<UdpSocket>>,
    tcp_local: Vec<SocketAddr>,
    pub(crate) connections: Connections,
    pub(crate) events: mpsc::Sender<NetEvent>,
    pub(crate) limits: Limits,
}

impl Network {
    /// Binds every listen address and starts the receiving tasks, which deliver
    /// into `events`. Must be called inside a tokio runtime.
    pub async fn bind(
        udp: &[SocketAddr],
        tcp: &[SocketAddr],
        limits: Limits,
        events: mpsc::Sender<NetEvent>,
    ) -> io::Result<Network> {
        let mut sockets = Vec::new();
        for addr in udp {
            let socket = Arc::new(bind_udp(*addr, limits.socket_buffer)?);
            for _ in 0..UDP_RECEIVERS {
                tokio::spawn(udp_receive(socket.clone(), limits, events.clone()));
            }
            sockets.push(socket);
        }
        let connections: Connections = Arc::default();
        let mut tcp_local = Vec::new();
        for addr in tcp {
            let listener = TcpListener::bind(addr).await?;
            tcp_local.push(listener.local_addr()?);
            tokio::spawn(tcp_accept(listener, limits, events.clone(), connections.clone()));
        }
        Ok(Network {
            udp: sockets,
            tcp_local,
            connections,
            events,
            limits,
        })
    }

    /// The local address of the first socket of a transport, for Via and Contact.
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        match transport {
            Transport::Udp => self.udp.first().and_then(|s| s.local_addr().ok()),
            Transport::Tcp => self.tcp_local.first().copied(),
            // WebSocket flows arrive on the HTTP server; they have no SIP socket.
            Transport::Ws => None,
        }
    }

    /// Sends without waiting. UDP goes out of the first socket; TCP reuses the
    /// peer's connection or opens one.
    pub fn send(&self, transmit: Transmit) {
        let Transmit { destination, payload } = transmit;
        match destination.transport {
            Transport::Udp => {
                let Some(socket) = self.udp.first() else { return };
                match socket.try_send_to(&payload, destination.addr) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        let socket = socket.clone();
                        tokio::spawn(async move {
                            if let Err(e) = socket.send_to(&payload, destination.addr).await {
                                tracing::debug!(%e, to = %destination.addr, "udp send failed");
                            }
                        });
                    }
                    Err(e) => tracing::debug!(%e, to = %destination.addr, "udp send failed"),
                }
            }
            Transport::Tcp => self.send_tcp(destination.addr, payload),
            Transport::Ws => self.send_ws(destination.addr, payload),
        }
    }

    fn send_tcp(&self, addr: SocketAddr, payload: Bytes) {
        let mut connections = self.connections.lock().unwrap_or_else(PoisonError::into_inner);
        let is_response = payload.starts_with(b"SIP/2.0 ");
        let existing = connections
            .open
            .get(&addr)
            .or(is_response.then(|| connections.closing.get(&addr)).flatten());
        if let Some(queue) = existing {
            // Closed or full (a peer that stopped reading): the message is
            // lost like a datagram, and the transaction layer retries or times out.
            if queue.try_send(payload).is_err() {
                tracing::debug!(%addr, "tcp connection gone or full");
                let queue = queue.clone();
                connections.remove(addr, &queue);
            }
            return;
        }
        let (queue, rx) = mpsc::channel(TCP_QUEUE);
        let _ = queue.try_send(payload);
        connections.open.insert(addr, queue.clone());
        drop(connections);
        let (limits, events, connections) = (self.limits, self.events.clone(), self.connections.clone());
        tokio::spawn(async move {
            match TcpStream::connect(addr).await {
                Ok(stream) => tcp_connection(stream, addr, queue, rx, limits, events, connections).await,
                Err(e) => {
                    tracing::debug!(%e, %addr, "tcp connect failed");
                    connections
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(addr, &queue);
                }
            }
        });
    }
}

/// A UDP socket with large kernel buffers: at thousands of requests a
/// second the default (about 200 KB, a few milliseconds of traffic) overflows
/// during any pause of the core and drops datagrams the peer must then
/// retransmit. The kernel caps the size at `net.core.rmem_max`/`wmem_max`.
fn bind_udp(addr: SocketAddr, buffer: usize) -> io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    for (set, name) in [
        (socket.set_recv_buffer_size(buffer), "receive"),
        (socket.set_send_buffer_size(buffer), "send"),
    ] {
        if let Err(e) = set {
            tracing::warn!(%e, buffer, "cannot set the UDP {name} buffer");
        }
    }
    if let Ok(got) = socket.recv_buffer_size() {
        // Linux reports twice the size granted (it counts its bookkeeping).
        if got < buffer {
            tracing::warn!(asked = buffer, got, "UDP receive buffer capped by net.core.rmem_max");
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

async fn udp_receive(socket: Arc<UdpSocket>, limits: Limits, events: mpsc::Sender<NetEvent>) {
    // One byte more than the limit tells an oversize datagram from a full one.
    let mut buf = vec![0u8; limits.max_message_size + 1];
    loop {
        let (len, from) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            // ICMP port unreachable surfaces here on some systems: not fatal.
            Err(e) => {
                tracing::trace!(%e, "udp recv error");
                continue;
            }
        };
        let source = Peer::udp(from);
        let event = match message::parse_datagram(&buf[..len], &limits) {
            Ok(Some(message)) => NetEvent::Message { message, source },
            Ok(None) => continue,
            Err(error) => NetEvent::Malformed {
                bytes: Bytes::copy_from_slice(&buf[..len]),
                error,
                source,
            },
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

async fn tcp_accept(listener: TcpListener, limits: Limits, events: mpsc::Sender<NetEvent>, connections: Connections) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%e, "tcp accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let (queue, rx) = mpsc::channel(TCP_QUEUE);
        connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open
            .insert(addr, queue.clone());
        tokio::spawn(tcp_connection(
            stream,
            addr,
            queue,
            rx,
            limits,
            events.clone(),
            connections.clone(),
        ));
    }
}

async fn tcp_connection(
    stream: TcpStream,
    addr: SocketAddr,
    queue: mpsc::Sender<Bytes>,
    mut outgoing: mpsc::Receiver<Bytes>,
    limits: Limits,
    events: mpsc::Sender<NetEvent>,
    connections: Connections,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let source = Peer::tcp(addr);
    let (pong_tx, mut pong_rx) = mpsc::channel::<()>(4);
    let write = async move {
        loop {
            tokio::select! {
                Some(bytes) = outgoing.recv() => {
                    if writer.write_all(&bytes).await.is_err() { return; }
                }
                Some(()) = pong_rx.recv() => {
                    if writer.write_all(b"\r\n").await.is_err() { return; }
                }
                else => return,
            }
        }
    };
    let read = async move {
        let mut framer = message::StreamFramer::new(limits);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(0) => {
                    // The peer closed: what is left is a message cut short.
                    if framer.buffered() > 0 {
                        let bytes = Bytes::from(framer.take_buffered());
                        let _ = events
                            .send(NetEvent::Malformed {
                                bytes,
                                error: MessageError::Truncated,
                                source,
                            })
                            .await;
                    }
                    return true;
                }
                Err(_) => return false,
                Ok(n) => n,
            };
            framer.push(&buf[..n]);
            loop {
                let event = match framer.next_message() {
                    Ok(None) => break,
                    Ok(Some(Framed::KeepAlive)) => {
                        let _ = pong_tx.try_send(());
                        continue;
                    }
                    Ok(Some(Framed::Message(message))) => NetEvent::Message { message, source },
                    Ok(Some(Framed::Malformed(bytes, error))) => NetEvent::Malformed {
                        bytes: Bytes::from(bytes),
                        error,
                        source,
                    },
                    Err(error) => {
                        // The stream is out of step: report it (a 400 may still
                        // go out in the grace period) and stop reading.
                        let bytes = Bytes::from(framer.take_buffered());
                        let _ = events.send(NetEvent::Malformed { bytes, error, source }).await;
                        return true;
                    }
                };
                if events.send(event).await.is_err() {
                    return false;
                }
            }
        }
    };
    tokio::pin!(write);
    let graceful = tokio::select! {
        graceful = read => graceful,
        _ = &mut write => false,
    };
    if graceful {
        // Half-closed or out of step: the answers to what was read are still
        // owed, so the writer stays up a moment before the connection goes;
        // new requests to this address open a new connection meanwhile.
        {
            let mut table = connections.lock().unwrap_or_else(PoisonError::into_inner);
            if table.open.get(&addr).is_some_and(|q| q.same_channel(&queue)) {
                table.open.remove(&addr);
                table.closing.insert(addr, queue.clone());
            }
        }
        let _ = tokio::time::timeout(TCP_LINGER, &mut write).await;
    }
    connections
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(addr, &queue);
}
