//! Where a message comes from or goes to, independent of sockets.

use std::fmt;
use std::net::SocketAddr;

/// A SIP transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, so transactions retransmit (timers A, E, G).
    Udp,
    /// TCP: reliable, messages framed by Content-Length.
    Tcp,
    /// WebSocket (RFC 7118): reliable, one message per WebSocket message. The
    /// connection is always the browser's, so requests to it reuse it.
    Ws,
}

impl Transport {
    /// Reliable transports need no retransmissions and no waiting for stray ones.
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Ws)
    }

    /// The token used in a Via header.
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Ws => "WS",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.via_token())
    }
}

/// The far end of a message: a transport and a socket address. Over TCP the
/// address names the connection the message arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Transport protocol.
    pub transport: Transport,
    /// Remote address (after NAT, as seen by our socket).
    pub addr: SocketAddr,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Self {
        Peer {
            transport: Transport::Udp,
            addr,
        }
    }

    /// A TCP peer.
    pub fn tcp(addr: SocketAddr) -> Self {
        Peer {
            transport: Transport::Tcp,
            addr,
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

impl Peer {
    /// A WebSocket peer, named by the remote address of its connection.
    pub fn ws(addr: SocketAddr) -> Self {
        Peer {
            transport: Transport::Ws,
            addr,
        }
    }
}

/// Bytes to send to a peer: the output of the sans-IO layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send.
    pub destination: Peer,
    /// The serialized message. Shared, so retransmissions cost no copy.
    pub payload: bytes::Bytes,
}
