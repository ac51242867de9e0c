//! One media worker: a thread with its own `mio` poll, the sockets of its
//! legs and a [`MediaCore`]. Both legs of a call live on the same worker, so
//! relaying never crosses threads. There is no thread per call and no task
//! per packet: a wake-up drains every ready socket, the core decides, and the
//! packet goes out of the peer leg's socket from the same buffer.
//!
//! Batched syscalls (recvmmsg/sendmmsg) pay off when one socket holds many
//! packets; an RTP leg's socket holds one packet per 20 ms, so the batching
//! that matters here is the poll: under load one `epoll_wait` returns many
//! ready legs.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};

use super::browser::{BrowserSide, Browsers, Output};
use super::core::{LegConfig, LegId, MediaCore, MediaEvent};
use super::port_pool::PortPool;
use crate::webrtc::WebRtcError;

/// Largest datagram read; RTP packets are far smaller.
const MAX_DATAGRAM: usize = 2048;
pub(crate) const WAKER: Token = Token(usize::MAX);
/// How soon the worker looks again when recording control waits for room.
const PENDING_RETRY: Duration = Duration::from_millis(5);

/// Instructions from the engine handle.
#[derive(Debug)]
pub(crate) enum Command {
    Add {
        leg: LegId,
        port: u16,
        rtp: StdUdpSocket,
        rtcp: StdUdpSocket,
    },
    Configure {
        leg: LegId,
        config: LegConfig,
    },
    Bridge {
        a: LegId,
        b: LegId,
    },
    Unbridge {
        leg: LegId,
    },
    Play {
        leg: LegId,
        playlist: Box<crate::player::Playlist>,
    },
    Stop {
        leg: LegId,
    },
    SendDigit {
        leg: LegId,
        digit: char,
        duration: std::time::Duration,
    },
    Record {
        leg: LegId,
        path: std::path::PathBuf,
        max: Duration,
    },
    StopRecording {
        leg: LegId,
    },
    RecordCall {
        caller: LegId,
        agent: Option<LegId>,
        spec: Box<super::tap::CallRecordingSpec>,
    },
    PauseCallRecording {
        caller: LegId,
        paused: bool,
    },
    StopCallRecording {
        caller: LegId,
    },
    Remove {
        leg: LegId,
    },
    /// The leg becomes a browser leg: its socket faces the browser through
    /// the session.
    AttachBrowser {
        leg: LegId,
        side: Box<BrowserSide>,
    },
    /// The browser's answer to the session's offer.
    BrowserAnswer {
        leg: LegId,
        sdp: String,
    },
    /// A new offer from the browser (hold, resume); the answer goes back.
    BrowserReoffer {
        leg: LegId,
        sdp: String,
        reply: std::sync::mpsc::Sender<Result<String, WebRtcError>>,
    },
    Shutdown,
}

struct LegSockets {
    leg: LegId,
    port: u16,
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

/// The worker's legs' sockets by slot (a slot's two poll tokens are
/// `2 * slot` and `2 * slot + 1`), and each leg's slot.
#[derive(Default)]
struct LegTable {
    slots: Vec<Option<LegSockets>>,
    free: Vec<usize>,
    by_leg: HashMap<LegId, usize>,
}

impl LegTable {
    /// Sends a packet the core made or relays for `leg`: onto the wire from
    /// the leg's socket, or into its session when the leg is a browser's.
    fn send(&self, browsers: &mut Browsers, now: Instant, leg: LegId, rtcp: bool, packet: &[u8], to: SocketAddr) {
        let Some(&slot) = self.by_leg.get(&leg) else { return };
        if browsers.is_browser(slot) {
            browsers.send_to_browser(now, slot, packet);
            return;
        }
        if let Some(Some(sockets)) = self.slots.get(slot) {
            let socket = if rtcp { &sockets.rtcp } else { &sockets.rtp };
            let _ = socket.send_to(packet, to);
        }
    }
}

pub(crate) struct Worker {
    pub(crate) poll: Poll,
    pub(crate) commands: Receiver<Command>,
    pub(crate) events: tokio::sync::mpsc::UnboundedSender<MediaEvent>,
    pub(crate) pool: Arc<Mutex<PortPool>>,
    pub(crate) core: MediaCore,
    pub(crate) writer: super::recorder::Writer,
    pub(crate) browsers: Browsers,
}

impl Worker {
    pub(crate) fn run(mut self) {
        let mut legs = LegTable::default();
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut browser_output = Vec::new();
        loop {
            let next = match (self.core.poll_timeout(), self.browsers.next_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mut timeout = next.map(|t| t.saturating_duration_since(Instant::now()));
            if self.writer.has_pending() {
                // Recording control waits for room in the writer's queue.
                timeout = Some(timeout.map_or(PENDING_RETRY, |t| t.min(PENDING_RETRY)));
            }
            if let Err(e) = self
                .poll
                .poll(&mut events, timeout.map(|t| t.max(Duration::from_millis(1))))
            {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(%e, "media worker poll failed");
                return;
            }
            let now = Instant::now();
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                let slot = event.token().0 / 2;
                let is_rtcp = event.token().0 % 2 == 1;
                let Some(Some(sockets)) = legs.slots.get(slot) else {
                    continue;
                };
                let leg = sockets.leg;
                let socket = if is_rtcp { &sockets.rtcp } else { &sockets.rtp };
                if self.browsers.is_browser(slot) {
                    // SRTP, DTLS and STUN from the browser (RTCP is muxed).
                    while let Ok((len, from)) = socket.recv_from(&mut buf) {
                        if !is_rtcp {
                            self.browsers.receive_from_browser(now, slot, from, &buf[..len]);
                        }
                    }
                    continue;
                }
                loop {
                    let (len, from) = match socket.recv_from(&mut buf) {
                        Ok(r) => r,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    };
                    if len == buf.len() {
                        // Larger than any RTP packet: the read cut it short.
                        self.core.count_oversize(leg);
                        continue;
                    }
                    if is_rtcp {
                        self.core.handle_rtcp(now, leg, from, &buf[..len]);
                        continue;
                    }
                    if let Some(fwd) = self.core.handle_rtp(now, leg, from, &mut buf[..len]) {
                        legs.send(&mut self.browsers, now, fwd.leg, false, &buf[..len], fwd.to);
                    }
                }
            }
            let mut shutting_down = false;
            loop {
                match self.commands.try_recv() {
                    Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => {
                        shutting_down = true;
                        break;
                    }
                    Ok(command) => self.command(now, command, &mut legs),
                    Err(TryRecvError::Empty) => break,
                }
            }
            self.browsers.handle_timeouts(now);
            if self.core.poll_timeout().is_some_and(|t| t <= now) {
                self.core.handle_timeout(now);
            }
            loop {
                while let Some(t) = self.core.poll_transmit() {
                    legs.send(&mut self.browsers, now, t.leg, t.rtcp, &t.payload, t.to);
                }
                if !self.browsers.has_touched() {
                    break;
                }
                // Sessions' output: datagrams for browsers, and RTP for the
                // core, which may relay it at once or send later.
                self.browsers.drain(now, &mut browser_output);
                for output in browser_output.drain(..) {
                    match output {
                        Output::ToBrowser { slot, to, payload } => {
                            if let Some(Some(sockets)) = legs.slots.get(slot) {
                                let _ = sockets.rtp.send_to(&payload, to);
                            }
                        }
                        Output::ToCore { leg, from, mut packet } => {
                            if let Some(fwd) = self.core.handle_rtp(now, leg, from, &mut packet) {
                                legs.send(&mut self.browsers, now, fwd.leg, false, &packet, fwd.to);
                            }
                        }
                    }
                }
            }
            while let Some((leg, pcm)) = self.core.poll_recorded() {
                self.writer.samples(leg, pcm);
            }
            while let Some(packet) = self.core.poll_tapped() {
                self.writer.packet(packet);
            }
            while let Some(recording) = self.core.poll_recording_ended() {
                self.writer.close_call(recording, now);
            }
            self.writer.pump();
            while let Some(event) = self.core.poll_event() {
                if let MediaEvent::RecordingFinished { leg } = event {
                    self.writer.close(leg);
                }
                let _ = self.events.send(event);
            }
            if shutting_down {
                // After the events, so the counters of legs released just
                // before the engine was dropped still reach the call.
                return;
            }
        }
    }

    fn command(&mut self, now: Instant, command: Command, legs: &mut LegTable) {
        match command {
            Command::Add { leg, port, rtp, rtcp } => {
                let slot = legs.free.pop().unwrap_or_else(|| {
                    legs.slots.push(None);
                    legs.slots.len() - 1
                });
                let mut rtp = UdpSocket::from_std(rtp);
                let mut rtcp = UdpSocket::from_std(rtcp);
                let registry = self.poll.registry();
                if registry
                    .register(&mut rtp, Token(slot * 2), Interest::READABLE)
                    .is_err()
                    || registry
                        .register(&mut rtcp, Token(slot * 2 + 1), Interest::READABLE)
                        .is_err()
                {
                    legs.free.push(slot);
                    self.pool.lock().unwrap_or_else(PoisonError::into_inner).release(port);
                    return;
                }
                legs.slots[slot] = Some(LegSockets { leg, port, rtp, rtcp });
                legs.by_leg.insert(leg, slot);
                self.core.add_leg(now, leg);
            }
            Command::Configure { leg, config } => self.core.configure(now, leg, config),
            Command::Bridge { a, b } => self.core.bridge(now, a, b),
            Command::Play { leg, playlist } => {
                if let Err(e) = self.core.play(now, leg, *playlist) {
                    tracing::warn!(%e, leg, "cannot play on leg");
                }
            }
            Command::Stop { leg } => self.core.stop(leg),
            Command::Record { leg, path, max } => {
                if self.core.record(now, leg, max) {
                    self.writer.open(leg, path);
                } else {
                    tracing::warn!(leg, "leg cannot be recorded (not G.711, or gone)");
                    self.core.stop_recording(leg);
                    let _ = self.events.send(MediaEvent::RecordingFinished { leg });
                }
            }
            Command::StopRecording { leg } => self.core.stop_recording(leg),
            Command::RecordCall { caller, agent, spec } => self.record_call(now, caller, agent, spec),
            Command::PauseCallRecording { caller, paused } => {
                self.core.pause_call_recording(caller, paused);
                self.writer.pause_call(caller, now, paused);
            }
            Command::StopCallRecording { caller } => self.core.stop_call_recording(caller),
            Command::SendDigit { leg, digit, duration } => {
                if !self.core.send_digit(now, leg, digit, duration) {
                    tracing::debug!(leg, %digit, "no telephone-event on the leg: digit not sent");
                }
            }
            Command::Unbridge { leg } => self.core.unbridge(leg),
            Command::AttachBrowser { leg, side } => match legs.by_leg.get(&leg) {
                Some(&slot) => self.browsers.attach(now, slot, leg, *side),
                None => tracing::debug!(leg, "browser session for a leg that is gone"),
            },
            Command::BrowserAnswer { leg, sdp } => {
                let session = legs.by_leg.get(&leg).and_then(|&slot| self.browsers.session(slot));
                if let Some(Err(e)) = session.map(|s| s.accept_answer(&sdp)) {
                    tracing::info!(%e, leg, "browser answer refused");
                }
            }
            Command::BrowserReoffer { leg, sdp, reply } => {
                let result = match legs.by_leg.get(&leg).and_then(|&slot| self.browsers.session(slot)) {
                    Some(session) => session.accept_reoffer(&sdp),
                    None => Err(WebRtcError::Sdp("no such browser leg".into())),
                };
                let _ = reply.send(result);
            }
            Command::Remove { leg } => {
                self.core.remove_leg(leg);
                if let Some(slot) = legs.by_leg.remove(&leg) {
                    self.browsers.remove(slot);
                    if let Some(mut sockets) = legs.slots[slot].take() {
                        let registry = self.poll.registry();
                        let _ = registry.deregister(&mut sockets.rtp);
                        let _ = registry.deregister(&mut sockets.rtcp);
                        self.pool
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .release(sockets.port);
                    }
                    legs.free.push(slot);
                }
            }
            Command::Shutdown => {}
        }
    }
}

impl Worker {
    fn record_call(
        &mut self,
        now: Instant,
        caller: LegId,
        agent: Option<LegId>,
        spec: Box<super::tap::CallRecordingSpec>,
    ) {
        let caller_left = spec.caller_left() || agent.is_none();
        if !self.core.record_call(caller, agent, caller_left) {
            tracing::warn!(caller, ?agent, "call recording: legs not found");
            let event = super::tap::CallRecordingEvent::Failed {
                leg: caller,
                path: spec.spec.wav.clone(),
                reason: "the call's media legs are gone".into(),
                sidecar: None,
            };
            let _ = self.events.send(MediaEvent::CallRecording(event));
            return;
        }
        // A recording these legs were in ends before the new one opens.
        while let Some(recording) = self.core.poll_recording_ended() {
            self.writer.close_call(recording, now);
        }
        let (caller_codec, agent_codec) = (self.core.leg_codec(caller), agent.and_then(|a| self.core.leg_codec(a)));
        let codecs = if caller_left {
            [caller_codec, agent_codec]
        } else {
            [agent_codec, caller_codec]
        };
        self.writer.open_call(caller, spec, now, codecs, agent.is_none());
    }
}

/// Wakes a worker after a command was queued.
pub(crate) fn wake(waker: &Waker) {
    if let Err(e) = waker.wake() {
        tracing::warn!(%e, "cannot wake media worker");
    }
}
