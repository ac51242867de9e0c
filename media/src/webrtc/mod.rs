//! WebRTC media for browser legs: ICE-lite, DTLS-SRTP and RTCP feedback on
//! an engine leg's own socket.
//!
//! A browser leg is an ordinary engine leg with a [`Session`] in front of
//! it, run by the leg's worker: the leg's socket (on the media address; its
//! address is the only ICE candidate, or the configured public address in
//! its place behind a 1:1 NAT) carries STUN, DTLS and SRTP, and the session
//! turns them into the plain RTP the core handles. The engine leg is
//! configured with the negotiated codec as for any phone, so the engine does
//! what it does for SIP phones: Opus <-> G.711 transcoding when the other leg
//! is a G.711 phone, RFC 4733 digits, recording and quality stats.
//!
//! Why in the worker and not on a thread of its own: str0m is sans-IO like
//! the engine core, and a gateway beside the engine cost each packet a
//! loopback hop (a send, a receive and a thread wake-up each way), which was
//! a third of a browser call's CPU (docs/performance.md).
//!
//! Being ICE-lite, the server answers at once: there is nothing to gather,
//! the browser's checks reach a known address, and DTLS starts on the first
//! check that succeeds.

mod client;
mod session;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use client::{BrowserClient, ReceivedRtp, Reception};
pub use session::{negotiated, Negotiated, OpusBandwidth, Session, SessionEvent, SessionOutput};
/// A media direction, for [`BrowserClient::reoffer`].
pub use str0m::media::Direction as MediaDirection;

use crate::engine::{Direction, Leg, LegConfig, LegId, MediaEngine};

/// Why a browser leg could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebRtcError {
    /// The SDP could not be read or agreed on.
    #[error("WebRTC SDP: {0}")]
    Sdp(String),
    /// An ICE candidate could not be made from the address.
    #[error("ICE candidate: {0}")]
    Candidate(String),
    /// A socket could not be bound.
    #[error("WebRTC socket: {0}")]
    Io(#[from] std::io::Error),
    /// The leg's media worker did not answer (the engine is stopping).
    #[error("the media engine did not answer")]
    Stopped,
}

/// Gateway settings.
#[derive(Debug, Clone, Default)]
pub struct WebRtcConfig {
    /// The address browsers reach the media address at when it is not the
    /// same (a 1:1 NAT): offered as the host candidate instead.
    pub public: Option<IpAddr>,
}

/// Names a browser leg: its engine leg.
pub type SessionId = LegId;

/// What the call hears from a browser leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebRtcEvent {
    /// The browser leg.
    pub session: SessionId,
    /// What happened.
    pub event: SessionEvent,
    /// When (for set-up times).
    pub at: Instant,
}

/// A browser leg's SDP and address.
#[derive(Debug, Clone)]
pub struct BrowserLeg {
    /// The SDP to send to the browser (our offer or our answer).
    pub sdp: String,
    /// The browser-facing address (the leg's socket).
    pub browser_side: SocketAddr,
}

/// Puts WebRTC sessions in front of engine legs. See the module docs.
pub struct WebRtcGateway {
    engine: Arc<MediaEngine>,
    config: WebRtcConfig,
    crypto: Arc<str0m::crypto::CryptoProvider>,
    events: tokio::sync::mpsc::UnboundedSender<WebRtcEvent>,
}

impl std::fmt::Debug for WebRtcGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcGateway").field("config", &self.config).finish()
    }
}

/// The engine leg's settings for a browser leg that negotiated `n`. The
/// remote address is only what the core sees the session's RTP come from
/// (the worker hands the leg's packets to the session, not to an address).
pub fn engine_leg_config(n: &Negotiated, leg: &Leg) -> LegConfig {
    LegConfig {
        remote_rtp: Some(leg.local),
        remote_rtcp: Some(leg.local),
        rtcp_mux: true,
        payload_type: n.payload_type,
        clock_rate: n.clock_rate,
        codec: n.codec.to_ascii_uppercase(),
        telephone_event: n.telephone_event,
        direction: Direction::SENDRECV,
    }
}

impl WebRtcGateway {
    /// A gateway for `engine`'s legs; the sessions' events arrive on the
    /// returned receiver.
    pub fn new(
        config: WebRtcConfig,
        engine: Arc<MediaEngine>,
    ) -> (WebRtcGateway, tokio::sync::mpsc::UnboundedReceiver<WebRtcEvent>) {
        let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
        let gateway = WebRtcGateway {
            engine,
            config,
            crypto: Arc::new(str0m::crypto::from_feature_flags()),
            events,
        };
        (gateway, receiver)
    }

    fn public(&self, leg: &Leg) -> Option<SocketAddr> {
        self.config.public.map(|ip| SocketAddr::new(ip, leg.local.port()))
    }

    fn attach(&self, leg: &Leg, session: Session) {
        let side = crate::engine::browser::BrowserSide {
            session: Box::new(session),
            events: self.events.clone(),
            engine_peer: leg.local,
        };
        self.engine.attach_browser(leg.id, side);
    }

    /// Offers `leg` to a browser; its answer goes to
    /// [`WebRtcGateway::accept_answer`]. `bandwidth` is what the leg's
    /// audio is worth (narrow when the other end is G.711).
    pub fn offer(&self, leg: &Leg, bandwidth: OpusBandwidth) -> Result<BrowserLeg, WebRtcError> {
        let (session, sdp) = Session::offer(
            session::rtc_config(&self.crypto),
            Instant::now(),
            leg.local,
            self.public(leg),
            bandwidth,
        )?;
        self.attach(leg, session);
        Ok(BrowserLeg {
            sdp,
            browser_side: leg.local,
        })
    }

    /// Answers a browser's offer on `leg`.
    pub fn answer(&self, leg: &Leg, offer: &str) -> Result<(BrowserLeg, Negotiated), WebRtcError> {
        let (session, sdp, negotiated) = Session::answer(
            session::rtc_config(&self.crypto),
            Instant::now(),
            leg.local,
            self.public(leg),
            offer,
        )?;
        self.attach(leg, session);
        Ok((
            BrowserLeg {
                sdp,
                browser_side: leg.local,
            },
            negotiated,
        ))
    }

    /// Applies the browser's answer. The codec is read here (the call needs
    /// it at once to configure the engine leg); the session takes the answer
    /// on its worker.
    pub fn accept_answer(&self, leg: LegId, sdp: &str) -> Result<Negotiated, WebRtcError> {
        let negotiated = negotiated(sdp)?;
        self.engine.browser_answer(leg, sdp.to_owned());
        Ok(negotiated)
    }

    /// A new offer from the browser on a leg that is up (hold, resume):
    /// the same session answers it, ICE and DTLS go on. Waits for the
    /// worker's answer (it only runs the SDP through str0m).
    pub fn reoffer(&self, leg: LegId, sdp: &str) -> Result<String, WebRtcError> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.engine.browser_reoffer(leg, sdp.to_owned(), reply);
        answer
            .recv_timeout(Duration::from_secs(2))
            .map_err(|_| WebRtcError::Stopped)?
    }
}
