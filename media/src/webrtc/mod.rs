//! WebRTC media for browser legs: ICE-lite, DTLS-SRTP and RTCP feedback in
//! front of a plain RTP leg of the engine.
//!
//! A browser leg is two sockets and a [`Session`]: the browser-facing socket
//! (on the media bind address; its address is the only ICE candidate, or
//! the configured public address in its place behind a 1:1 NAT) and a
//! loopback socket that exchanges plain RTP with an ordinary engine leg. The
//! engine leg is configured with the negotiated codec as for any phone, so
//! the engine does what it does for SIP phones: Opus <-> G.711 transcoding
//! when the other leg is a G.711 phone, RFC 4733 digits, recording and
//! quality stats. This gateway only secures and unsecures.
//!
//! Why a gateway beside the engine and not inside its workers: the str0m
//! state machine is sans-IO like the engine core, but keeping it apart keeps
//! the engine's hot relay path free of WebRTC and lets either change without
//! the other. The price is one loopback hop per packet each way (measured in
//! docs/performance.md).
//!
//! Being ICE-lite, the server answers at once: there is nothing to gather,
//! the browser's checks reach a known address, and DTLS starts on the first
//! check that succeeds.
//!
//! The gateway is one thread with a `mio` poll, like an engine worker.

mod client;
mod session;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};

pub use client::{BrowserClient, ReceivedRtp, Reception};
pub use session::{negotiated, Negotiated, Session, SessionEvent, SessionOutput};
/// A media direction, for [`BrowserClient::reoffer`].
pub use str0m::media::Direction as MediaDirection;

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
    Io(#[from] io::Error),
    /// The gateway thread is gone.
    #[error("the WebRTC gateway is not running")]
    Stopped,
}

/// Gateway settings.
#[derive(Debug, Clone)]
pub struct WebRtcConfig {
    /// Address the browser-facing sockets bind to (the host candidate).
    pub bind: IpAddr,
    /// The address browsers reach us at when it is not `bind` (a 1:1 NAT):
    /// offered as the host candidate instead of the bound address.
    pub public: Option<IpAddr>,
}

/// Names a browser leg.
pub type SessionId = u64;

/// What the call hears from the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebRtcEvent {
    /// The browser leg.
    pub session: SessionId,
    /// What happened.
    pub event: SessionEvent,
    /// When (for set-up times).
    pub at: Instant,
}

/// A browser leg ready for its engine leg.
#[derive(Debug, Clone)]
pub struct BrowserLeg {
    /// The SDP to send to the browser (our offer or our answer).
    pub sdp: String,
    /// Where the engine leg must send plain RTP (its remote address).
    pub engine_side: SocketAddr,
    /// The browser-facing address.
    pub browser_side: SocketAddr,
}

enum Command {
    Add {
        id: SessionId,
        session: Box<Session>,
        browser: StdUdpSocket,
        engine: StdUdpSocket,
        engine_leg: SocketAddr,
    },
    Answer {
        id: SessionId,
        sdp: String,
    },
    Reoffer {
        id: SessionId,
        sdp: String,
        reply: Sender<Result<String, WebRtcError>>,
    },
    Close {
        id: SessionId,
    },
    Shutdown,
}

const WAKER: Token = Token(usize::MAX);

/// The gateway handle. See the module docs.
pub struct WebRtcGateway {
    commands: Sender<Command>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
    config: WebRtcConfig,
    crypto: Arc<str0m::crypto::CryptoProvider>,
}

impl std::fmt::Debug for WebRtcGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcGateway").field("config", &self.config).finish()
    }
}

impl WebRtcGateway {
    /// Starts the gateway thread; events arrive on the returned receiver.
    pub fn start(
        config: WebRtcConfig,
    ) -> io::Result<(WebRtcGateway, tokio::sync::mpsc::UnboundedReceiver<WebRtcEvent>)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (commands, receiver) = std::sync::mpsc::channel();
        let (events_tx, events) = tokio::sync::mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("webrtc".into())
            .spawn(move || run(poll, receiver, events_tx))?;
        let gateway = WebRtcGateway {
            commands,
            waker,
            thread: Some(thread),
            config,
            crypto: Arc::new(str0m::crypto::from_feature_flags()),
        };
        Ok((gateway, events))
    }

    fn sockets(&self) -> Result<(StdUdpSocket, StdUdpSocket, SocketAddr, Option<SocketAddr>), WebRtcError> {
        let browser = StdUdpSocket::bind((self.config.bind, 0))?;
        let engine = StdUdpSocket::bind((IpAddr::from([127, 0, 0, 1]), 0))?;
        browser.set_nonblocking(true)?;
        engine.set_nonblocking(true)?;
        let local = browser.local_addr()?;
        let public = self.config.public.map(|ip| SocketAddr::new(ip, local.port()));
        Ok((browser, engine, local, public))
    }

    fn add(
        &self,
        id: SessionId,
        session: Session,
        browser: StdUdpSocket,
        engine: StdUdpSocket,
        engine_leg: SocketAddr,
    ) -> Result<(), WebRtcError> {
        self.commands
            .send(Command::Add {
                id,
                session: Box::new(session),
                browser,
                engine,
                engine_leg,
            })
            .map_err(|_| WebRtcError::Stopped)?;
        let _ = self.waker.wake();
        Ok(())
    }

    /// A browser leg that offers audio to the browser; `engine_leg` is the
    /// engine leg's RTP address. The browser's answer goes to
    /// [`WebRtcGateway::accept_answer`].
    pub fn offer(&self, id: SessionId, engine_leg: SocketAddr) -> Result<BrowserLeg, WebRtcError> {
        let (browser, engine, local, public) = self.sockets()?;
        let engine_side = engine.local_addr()?;
        let (session, sdp) = Session::offer(session::rtc_config(&self.crypto), Instant::now(), local, public)?;
        self.add(id, session, browser, engine, engine_leg)?;
        Ok(BrowserLeg {
            sdp,
            engine_side,
            browser_side: local,
        })
    }

    /// A browser leg answering the browser's offer.
    pub fn answer(
        &self,
        id: SessionId,
        engine_leg: SocketAddr,
        offer: &str,
    ) -> Result<(BrowserLeg, Negotiated), WebRtcError> {
        let (browser, engine, local, public) = self.sockets()?;
        let engine_side = engine.local_addr()?;
        let (session, sdp, negotiated) =
            Session::answer(session::rtc_config(&self.crypto), Instant::now(), local, public, offer)?;
        self.add(id, session, browser, engine, engine_leg)?;
        Ok((
            BrowserLeg {
                sdp,
                engine_side,
                browser_side: local,
            },
            negotiated,
        ))
    }

    /// Applies the browser's answer. The codec is read here (the call needs
    /// it at once to configure the engine leg); the session takes the answer
    /// on its thread.
    pub fn accept_answer(&self, id: SessionId, sdp: &str) -> Result<Negotiated, WebRtcError> {
        let negotiated = negotiated(sdp)?;
        self.commands
            .send(Command::Answer {
                id,
                sdp: sdp.to_owned(),
            })
            .map_err(|_| WebRtcError::Stopped)?;
        let _ = self.waker.wake();
        Ok(negotiated)
    }

    /// A new offer from the browser on a leg that is up (hold, resume):
    /// the same session answers it, ICE and DTLS go on. Waits for the
    /// gateway thread's answer (it only runs the SDP through str0m).
    pub fn reoffer(&self, id: SessionId, sdp: &str) -> Result<String, WebRtcError> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.commands
            .send(Command::Reoffer {
                id,
                sdp: sdp.to_owned(),
                reply,
            })
            .map_err(|_| WebRtcError::Stopped)?;
        let _ = self.waker.wake();
        answer
            .recv_timeout(Duration::from_secs(2))
            .map_err(|_| WebRtcError::Stopped)?
    }

    /// Ends a browser leg.
    pub fn close(&self, id: SessionId) {
        if self.commands.send(Command::Close { id }).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

impl Drop for WebRtcGateway {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Slot {
    id: SessionId,
    session: Box<Session>,
    browser: UdpSocket,
    engine: UdpSocket,
    engine_leg: SocketAddr,
    deadline: Option<Instant>,
}

fn run(mut poll: Poll, commands: Receiver<Command>, events: tokio::sync::mpsc::UnboundedSender<WebRtcEvent>) {
    let mut slots: Vec<Option<Slot>> = Vec::new();
    let mut by_id: HashMap<SessionId, usize> = HashMap::new();
    let mut free: Vec<usize> = Vec::new();
    // Sessions' deadlines, earliest first; an entry is stale when its slot
    // has since moved its deadline (checked against `Slot::deadline`), so
    // finding the next one costs no walk over every session.
    let mut timers: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let mut ready = Events::with_capacity(1024);
    let mut buf = vec![0u8; 2048];
    loop {
        let next = loop {
            let Some(&Reverse((at, index))) = timers.peek() else {
                break None;
            };
            if slots.get(index).and_then(Option::as_ref).and_then(|s| s.deadline) == Some(at) {
                break Some(at);
            }
            timers.pop();
        };
        let timeout = next.map(|t| {
            t.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        });
        if let Err(e) = poll.poll(&mut ready, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!(%e, "webrtc gateway poll failed");
            return;
        }
        let now = Instant::now();
        let mut touched: Vec<usize> = Vec::new();
        for event in ready.iter() {
            if event.token() == WAKER {
                continue;
            }
            let (index, from_engine) = (event.token().0 / 2, event.token().0 % 2 == 1);
            let Some(Some(slot)) = slots.get_mut(index) else {
                continue;
            };
            loop {
                let socket = if from_engine { &slot.engine } else { &slot.browser };
                let (len, from) = match socket.recv_from(&mut buf) {
                    Ok(r) => r,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => continue,
                };
                let datagram = buf.get(..len).unwrap_or_default();
                if from_engine {
                    if from == slot.engine_leg {
                        slot.session.handle_engine(now, datagram);
                    }
                } else {
                    slot.session.handle_browser(now, from, datagram);
                }
            }
            touched.push(index);
        }
        loop {
            match commands.try_recv() {
                Ok(Command::Add {
                    id,
                    session,
                    browser,
                    engine,
                    engine_leg,
                }) => {
                    let index = free.pop().unwrap_or_else(|| {
                        slots.push(None);
                        slots.len() - 1
                    });
                    let mut browser = UdpSocket::from_std(browser);
                    let mut engine = UdpSocket::from_std(engine);
                    let registry = poll.registry();
                    if registry
                        .register(&mut browser, Token(index * 2), Interest::READABLE)
                        .and_then(|()| registry.register(&mut engine, Token(index * 2 + 1), Interest::READABLE))
                        .is_err()
                    {
                        free.push(index);
                        continue;
                    }
                    if let Some(slot) = slots.get_mut(index) {
                        *slot = Some(Slot {
                            id,
                            session,
                            browser,
                            engine,
                            engine_leg,
                            deadline: Some(now),
                        });
                        timers.push(Reverse((now, index)));
                        by_id.insert(id, index);
                        touched.push(index);
                    }
                }
                Ok(Command::Answer { id, sdp }) => {
                    // The call read the codec from the answer already
                    // (`accept_answer`); here the session takes it.
                    let Some(&index) = by_id.get(&id) else { continue };
                    if let Some(Some(slot)) = slots.get_mut(index) {
                        if let Err(e) = slot.session.accept_answer(&sdp) {
                            tracing::info!(%e, session = id, "browser answer refused");
                        }
                        touched.push(index);
                    }
                }
                Ok(Command::Reoffer { id, sdp, reply }) => {
                    let Some(Some(slot)) = by_id.get(&id).and_then(|&i| slots.get_mut(i)) else {
                        let _ = reply.send(Err(WebRtcError::Sdp("no such session".into())));
                        continue;
                    };
                    let result = slot.session.accept_reoffer(&sdp);
                    if let Err(e) = &result {
                        tracing::info!(%e, session = id, "browser re-offer refused");
                    }
                    let _ = reply.send(result);
                    if let Some(&index) = by_id.get(&id) {
                        touched.push(index);
                    }
                }
                Ok(Command::Close { id }) => {
                    if let Some(index) = by_id.remove(&id) {
                        if let Some(mut slot) = slots.get_mut(index).and_then(Option::take) {
                            let _ = poll.registry().deregister(&mut slot.browser);
                            let _ = poll.registry().deregister(&mut slot.engine);
                            free.push(index);
                        }
                    }
                }
                Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => break,
            }
        }
        while let Some(&Reverse((at, index))) = timers.peek() {
            if at > now {
                break;
            }
            timers.pop();
            let Some(Some(slot)) = slots.get_mut(index) else {
                continue;
            };
            if slot.deadline == Some(at) {
                // Consumed: the drain below sets and queues the next one.
                slot.deadline = None;
                slot.session.handle_timeout(now);
                touched.push(index);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for index in touched {
            let Some(Some(slot)) = slots.get_mut(index) else {
                continue;
            };
            let before = slot.deadline;
            drain(slot, now, &events);
            if let Some(at) = slot.deadline.filter(|_| slot.deadline != before) {
                timers.push(Reverse((at, index)));
            }
        }
    }
}

/// Carries out a session's output until it asks for a timeout.
fn drain(slot: &mut Slot, now: Instant, events: &tokio::sync::mpsc::UnboundedSender<WebRtcEvent>) {
    loop {
        match slot.session.poll() {
            SessionOutput::ToBrowser { to, payload } => {
                let _ = slot.browser.send_to(&payload, to);
            }
            SessionOutput::ToEngine(packet) => {
                let _ = slot.engine.send_to(&packet, slot.engine_leg);
            }
            SessionOutput::Event(event) => {
                let _ = events.send(WebRtcEvent {
                    session: slot.id,
                    event,
                    at: now,
                });
            }
            SessionOutput::Timeout(at) => {
                slot.deadline = Some(at);
                return;
            }
        }
    }
}
