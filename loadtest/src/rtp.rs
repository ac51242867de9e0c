//! One phone's audio: RTP from a WAV file every 20 ms, RFC 4733 key presses,
//! and what is measured on the stream received.
//!
//! Every packet sent carries a stamp in the first bytes of its G.711 payload:
//! `S B <role> 0` and the microseconds since the run's epoch (big endian),
//! written over the audio. A platform that relays the payload (as an
//! anchoring B2BUA does between legs of the same codec) delivers the stamp to
//! the other party: the one-way latency is the arrival time minus the stamp,
//! on one clock since both parties live in this process, and the first
//! packet bearing the agent's role is the moment the caller hears the agent.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::dtmf::rfc4733::{event_packets, SenderConfig, SenderPacket};
use media::dtmf::Digit;
use media::rtp::{ReceiveStats, RtpHeader, RtpPacket};
use tokio::net::UdpSocket;

use crate::queue_start::{QueueSignature, QueueWatch};
use crate::sipmsg::TELEPHONE_EVENT_PT;

/// The caller's stamp role.
pub(crate) const CALLER: u8 = b'C';
/// The agent's stamp role.
pub(crate) const AGENT: u8 = b'A';
const STAMP_LEN: usize = 12;
/// 20 ms of 8 kHz audio.
pub(crate) const FRAME: Duration = Duration::from_millis(20);
pub(crate) const FRAME_SAMPLES: usize = 160;

/// A WAV file encoded once into 20 ms G.711 frames, shared by every call.
#[derive(Debug)]
pub struct Audio {
    pub(crate) frames: Vec<[u8; FRAME_SAMPLES]>,
    /// The payload type of the frames (0 PCMU, 8 PCMA).
    pub payload_type: u8,
}

impl Audio {
    /// Loads and encodes `path`.
    pub fn load(path: &Path, payload_type: u8) -> Result<Arc<Audio>, String> {
        let prompt = media::player::Prompt::load(path, 8000).map_err(|e| e.to_string())?;
        let samples = prompt.samples();
        if samples.len() < FRAME_SAMPLES {
            return Err("shorter than 20 ms".into());
        }
        let mut frames = Vec::with_capacity(samples.len() / FRAME_SAMPLES);
        let mut out = Vec::with_capacity(FRAME_SAMPLES);
        for chunk in samples.chunks_exact(FRAME_SAMPLES) {
            out.clear();
            if payload_type == 8 {
                media::codec::g711::alaw_encode_frame(chunk, &mut out);
            } else {
                media::codec::g711::ulaw_encode_frame(chunk, &mut out);
            }
            let mut frame = [0u8; FRAME_SAMPLES];
            frame.copy_from_slice(&out[..FRAME_SAMPLES]);
            frames.push(frame);
        }
        Ok(Arc::new(Audio { frames, payload_type }))
    }
}

/// What a received stream showed over a call.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Received {
    /// Packets expected (RFC 3550 A.3) over every SSRC heard.
    pub(crate) expected: u64,
    /// Packets lost.
    pub(crate) lost: i64,
    /// Interarrival jitter at the end of the last stream (RFC 3550 A.8).
    pub(crate) jitter: Duration,
    /// Packets bearing the other party's stamp.
    pub(crate) stamped: u64,
    /// Packets this phone sent (audio and key events).
    pub(crate) sent: u64,
    /// Packets it should have sent: one per 20 ms from its first to the
    /// stream's end. Fewer sent means the tester fell behind (CPU).
    pub(crate) scheduled: u64,
}

/// One phone's RTP socket and its send and receive state.
pub(crate) struct Stream {
    pub(crate) socket: UdpSocket,
    dest: Option<SocketAddr>,
    audio: Arc<Audio>,
    position: usize,
    role: u8,
    peer_role: u8,
    epoch: Instant,
    ssrc: u32,
    seq: u16,
    ts: u32,
    digits: VecDeque<(Instant, SenderPacket)>,
    event_ts: u32,
    /// When the first packet of the last key press went out.
    pub(crate) last_digit_onset: Option<Instant>,
    stats: Option<ReceiveStats>,
    totals: Received,
    /// When the first packet with the other party's stamp arrived.
    pub(crate) first_peer_audio: Option<Instant>,
    /// When the first packet went out.
    first_sent: Option<Instant>,
    /// Watching for the queue's audio (armed with the last key).
    queue_watch: Option<QueueWatch>,
    /// Watching for the agent's tone (browser agents, whose audio the
    /// platform transcodes, stamp and all).
    agent_watch: Option<QueueWatch>,
    agent_watched: bool,
    /// When the queue's audio started, less its lead: the IVR's end.
    pub(crate) queue_heard: Option<Instant>,
    /// One-way latencies (µs) not yet handed to the collector.
    pub(crate) latencies: Vec<u64>,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Stream {
    /// Binds a socket on `ip`, any port.
    pub(crate) async fn bind(
        ip: std::net::IpAddr,
        audio: Arc<Audio>,
        role: u8,
        epoch: Instant,
    ) -> std::io::Result<Stream> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let ssrc = rand::random();
        Ok(Stream {
            socket,
            dest: None,
            position: rand::random::<usize>() % audio.frames.len().max(1),
            audio,
            role,
            peer_role: if role == CALLER { AGENT } else { CALLER },
            epoch,
            ssrc,
            seq: rand::random(),
            ts: rand::random(),
            digits: VecDeque::new(),
            event_ts: 0,
            last_digit_onset: None,
            stats: None,
            totals: Received::default(),
            first_peer_audio: None,
            first_sent: None,
            queue_watch: None,
            agent_watch: None,
            agent_watched: false,
            queue_heard: None,
            latencies: Vec::new(),
            buf: vec![0u8; 2048],
            out: Vec::with_capacity(12 + FRAME_SAMPLES),
        })
    }

    pub(crate) fn local(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Where to send, from the peer's SDP.
    pub(crate) fn set_destination(&mut self, dest: SocketAddr) {
        self.dest = Some(dest);
    }

    /// Queues the packets of `digits`, one after another, from `now`.
    pub(crate) fn press(&mut self, now: Instant, digits: &str, hold: Duration, gap: Duration) {
        let config = SenderConfig {
            packet_interval: FRAME,
            ..SenderConfig::default()
        };
        let mut start = self.digits.back().map_or(now, |(at, _)| *at + gap);
        for c in digits.chars() {
            let Some(digit) = Digit::from_char(c) else { continue };
            let packets = event_packets(digit, hold, &config);
            let mut last = start;
            for p in packets {
                last = start + p.send_offset;
                self.digits.push_back((last, p));
            }
            start = last + gap;
        }
    }

    /// From now on, the first packet carrying `signature`'s frame marks the
    /// queue's start (`queue_heard`).
    pub(crate) fn watch_queue(&mut self, signature: QueueSignature) {
        if self.queue_heard.is_none() {
            self.queue_watch = Some(QueueWatch::new(signature));
        }
    }

    /// From now on (once), the agent's answer may also be heard as
    /// `signature` (a tone): `first_peer_audio` is then its first packet.
    pub(crate) fn watch_agent(&mut self, signature: &QueueSignature) {
        if !self.agent_watched {
            self.agent_watched = true;
            self.agent_watch = Some(QueueWatch::new(signature.clone()));
        }
    }

    /// Whether key presses are still queued.
    pub(crate) fn pressing(&self) -> bool {
        !self.digits.is_empty()
    }

    /// The 20 ms tick: the due event packets, or else one audio frame.
    pub(crate) fn tick(&mut self, now: Instant) {
        let Some(dest) = self.dest else { return };
        self.first_sent.get_or_insert(now);
        // One packet per tick, audio or key event: the count the schedule is held to.
        self.totals.sent += 1;
        let mut sent_event = false;
        while let Some((at, _)) = self.digits.front() {
            if *at > now + Duration::from_millis(2) {
                break;
            }
            let Some((_, p)) = self.digits.pop_front() else { break };
            if p.marker {
                self.event_ts = self.ts;
                self.last_digit_onset = Some(now);
            }
            self.seq = self.seq.wrapping_add(1);
            let header = RtpHeader {
                pt: TELEPHONE_EVENT_PT,
                marker: p.marker,
                seq: self.seq,
                ts: self.event_ts.wrapping_add(p.timestamp_offset),
                ssrc: self.ssrc,
            };
            self.out.clear();
            header.emit(&p.payload, &mut self.out);
            let _ = self.socket.try_send_to(&self.out, dest);
            sent_event = true;
        }
        self.ts = self.ts.wrapping_add(FRAME_SAMPLES as u32);
        if sent_event {
            return; // no audio while a key is held
        }
        let Some(frame) = self.audio.frames.get(self.position) else {
            self.position = 0;
            return;
        };
        self.position = (self.position + 1) % self.audio.frames.len();
        self.seq = self.seq.wrapping_add(1);
        let header = RtpHeader {
            pt: self.audio.payload_type,
            marker: false,
            seq: self.seq,
            ts: self.ts,
            ssrc: self.ssrc,
        };
        let micros = now.saturating_duration_since(self.epoch).as_micros() as u64;
        let mut payload = *frame;
        payload[..4].copy_from_slice(&[b'S', b'B', self.role, 0]);
        payload[4..STAMP_LEN].copy_from_slice(&micros.to_be_bytes());
        self.out.clear();
        header.emit(&payload, &mut self.out);
        let _ = self.socket.try_send_to(&self.out, dest);
    }

    /// Reads every datagram waiting on the socket.
    pub(crate) fn receive_ready(&mut self) {
        loop {
            let n = match self.socket.try_recv_from(&mut self.buf) {
                Ok((n, _)) => n,
                Err(_) => return,
            };
            let now = Instant::now();
            let Ok(packet) = RtpPacket::new_checked(&self.buf[..n]) else {
                continue;
            };
            if packet.payload_type() == TELEPHONE_EVENT_PT {
                continue;
            }
            let ssrc = packet.ssrc();
            if self.stats.as_ref().is_some_and(|s| s.ssrc() != ssrc) {
                if let Some(s) = self.stats.take() {
                    Self::add_totals(&mut self.totals, &s);
                }
            }
            let stats = self.stats.get_or_insert_with(|| ReceiveStats::new(ssrc, 8000));
            stats.on_packet(now, packet.sequence(), packet.timestamp());
            let payload = packet.payload();
            if let (Some(w), None) = (self.agent_watch.as_mut(), self.first_peer_audio) {
                if let Some(start) = w.on_packet(now, packet.sequence(), payload) {
                    self.first_peer_audio = Some(start);
                    self.agent_watch = None;
                }
            }
            if let Some(w) = self.queue_watch.as_mut() {
                if let Some(start) = w.on_packet(now, packet.sequence(), payload) {
                    self.queue_heard = Some(start);
                    self.queue_watch = None;
                }
            }
            if payload.len() >= STAMP_LEN && payload[..2] == *b"SB" && payload[2] == self.peer_role {
                let mut micros = [0u8; 8];
                micros.copy_from_slice(&payload[4..STAMP_LEN]);
                let sent = self.epoch + Duration::from_micros(u64::from_be_bytes(micros));
                self.latencies
                    .push(now.saturating_duration_since(sent).as_micros() as u64);
                self.totals.stamped += 1;
                if self.first_peer_audio.is_none() {
                    self.first_peer_audio = Some(now);
                }
            }
        }
    }

    fn add_totals(totals: &mut Received, s: &ReceiveStats) {
        totals.expected += s.expected();
        totals.lost += s.lost();
        totals.jitter = s.jitter_duration();
    }

    fn close_stats(&mut self) {
        if let Some(s) = self.stats.take() {
            Self::add_totals(&mut self.totals, &s);
        }
    }

    /// The stream's totals; the stream is closed for receiving.
    pub(crate) fn finish(&mut self) -> Received {
        self.close_stats();
        if let Some(first) = self.first_sent {
            self.totals.scheduled = (first.elapsed().as_micros() / FRAME.as_micros()) as u64 + 1;
        }
        self.totals
    }
}
