//! Audio the core makes itself on a leg's outgoing stream: playlists,
//! transcoded frames on the 20 ms tick, and RFC 4733 digits.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use super::core::{Deadline, LegId, MediaCore, MediaEvent, MediaTransmit, FRAME};
use super::decoded::{Playback, Tick, PLAYER_SOURCE, TRANSCODED_SOURCE};
use crate::codec::CodecError;
use crate::player::Playlist;
use crate::rtp::packet::RtpHeader;

/// How far behind its schedule a leg's 20 ms tick may fall and still
/// catch up (see [`MediaCore::tick`]).
const CATCH_UP: std::time::Duration = std::time::Duration::from_millis(100);

impl MediaCore {
    pub(super) fn arm_tick(&mut self, now: Instant, leg: LegId) {
        if let Some(l) = self.legs.get_mut(&leg) {
            if l.next_tick.is_none() {
                l.next_tick = Some(now + FRAME);
                self.timers.push(Reverse((now + FRAME, leg, Deadline::Tick)));
            }
        }
    }

    /// Plays `playlist` to the leg's phone (its rate must be the leg codec's
    /// PCM rate, or it ends at once with `PlaybackFinished`); while it plays,
    /// the peer's audio does not reach the phone.
    pub fn play(&mut self, now: Instant, leg: LegId, playlist: Playlist) -> Result<(), CodecError> {
        let Some(l) = self.legs.get_mut(&leg) else {
            return Ok(());
        };
        let codec = l.audio_codec().unwrap_or(crate::codec::Codec::Pcmu);
        match Playback::new(playlist, codec) {
            Ok(playback) => l.playback = Some(playback),
            Err(e) => {
                // The call waits for the end of what plays: tell it at once.
                self.events.push_back(MediaEvent::PlaybackFinished {
                    leg,
                    interrupted: false,
                });
                return Err(e);
            }
        }
        self.arm_tick(now, leg);
        Ok(())
    }

    /// Sends a key press to the leg's phone as RFC 4733 events (the
    /// telephone-event payload type must be negotiated): `false` if not.
    pub fn send_digit(&mut self, now: Instant, leg: LegId, digit: char, duration: Duration) -> bool {
        use crate::dtmf::rfc4733::{event_packets, SenderConfig};
        let Some(l) = self.legs.get_mut(&leg) else { return false };
        let (Some(config), Some(digit)) = (l.config.as_ref(), crate::dtmf::Digit::from_char(digit)) else {
            return false;
        };
        if config.telephone_event.is_none() {
            return false;
        }
        let sender = SenderConfig {
            clock_rate: 8000,
            packet_interval: FRAME,
            ..SenderConfig::default()
        };
        // Events follow one another: a digit starts after those queued.
        let start = l.digits_out.back().map_or(now, |(at, _)| *at + FRAME * 2);
        for packet in event_packets(digit, duration, &sender) {
            l.digits_out.push_back((start + packet.send_offset, packet));
        }
        if let Some((first, _)) = l.digits_out.front() {
            self.timers.push(Reverse((*first, leg, Deadline::Digit)));
        }
        true
    }

    /// Sends the digit packets due on `leg`.
    pub(super) fn send_due_digits(&mut self, now: Instant, leg: LegId) {
        loop {
            let Some(l) = self.legs.get_mut(&leg) else { return };
            let Some(te) = l.config.as_ref().and_then(|c| c.telephone_event) else {
                l.digits_out.clear();
                return;
            };
            match l.digits_out.front() {
                Some((at, _)) if *at <= now => {}
                Some((at, _)) => {
                    let at = *at;
                    self.timers.push(Reverse((at, leg, Deadline::Digit)));
                    return;
                }
                None => return,
            }
            let Some((_, packet)) = l.digits_out.pop_front() else {
                return;
            };
            let Some(dest) = l.latch.destination() else { continue };
            if packet.marker {
                l.event_ts = l.outgoing.timestamp_now(now, 8000);
            }
            let ts = l.event_ts.wrapping_add(packet.timestamp_offset);
            let seq = l.outgoing.own_packet(now);
            let header = RtpHeader {
                pt: te,
                marker: packet.marker,
                seq,
                ts,
                ssrc: l.outgoing.ssrc,
            };
            let mut bytes = Vec::with_capacity(16);
            header.emit(&packet.payload, &mut bytes);
            l.sent.on_sent(4);
            l.counters.sent += 1;
            self.transmits.push_back(MediaTransmit {
                leg,
                to: dest,
                rtcp: false,
                payload: bytes,
            });
        }
    }

    /// Stops what plays on the leg, without an event.
    pub fn stop(&mut self, leg: LegId) {
        if let Some(l) = self.legs.get_mut(&leg) {
            l.playback = None;
        }
    }

    /// 20 ms of generated audio on `leg`: its transcoded audio to the peer
    /// and its playlist to its own phone.
    /// `due` is when this tick was meant to run: the next one is a frame
    /// after it, not after `now`, so that the worker's wake-up delays do not
    /// add up (a stream 3% slow starves the peer's jitter buffer and fills
    /// ours); a worker that fell behind catches up, unless it is more than
    /// [`CATCH_UP`] behind (a stall: the stream starts again from now).
    pub(super) fn tick(&mut self, now: Instant, due: Instant, leg: LegId) {
        let mut payloads = Vec::new();
        let (peer, playback_tick) = {
            let Some(l) = self.legs.get_mut(&leg) else { return };
            if let Some(t) = l.transcoding.as_mut() {
                t.tick(now, &mut payloads);
            }
            (l.peer, l.playback.as_mut().map(Playback::tick))
        };
        if let (Some(peer), false) = (peer, payloads.is_empty()) {
            let units = self
                .legs
                .get(&leg)
                .and_then(|l| l.transcoding.as_ref())
                .map_or(160, |t| t.units);
            for payload in payloads {
                let seq_ts = self
                    .legs
                    .get_mut(&leg)
                    .and_then(|l| l.transcoding.as_mut())
                    .map(|t| t.clock.tick(units));
                if let Some((seq, ts, marker)) = seq_ts {
                    self.send_generated(now, peer, TRANSCODED_SOURCE, (seq, ts, marker), &payload);
                }
            }
        }
        match playback_tick {
            Some(Tick::Payload(payload)) => {
                let seq_ts = self.legs.get_mut(&leg).and_then(|l| l.playback.as_mut()).map(|p| {
                    let units = p.units;
                    p.clock.tick(units)
                });
                if let Some((seq, ts, marker)) = seq_ts {
                    self.send_generated(now, leg, PLAYER_SOURCE, (seq, ts, marker), &payload);
                }
            }
            Some(Tick::Done { interrupted }) => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.playback = None;
                }
                self.events.push_back(MediaEvent::PlaybackFinished { leg, interrupted });
            }
            None => {}
        }
        let active = self
            .legs
            .get(&leg)
            .is_some_and(|l| l.transcoding.is_some() || l.playback.is_some());
        if active {
            let base = if due + CATCH_UP > now { due } else { now };
            self.arm_tick(base, leg);
        }
    }

    /// Wraps a generated payload in RTP on `to`'s outgoing stream.
    fn send_generated(&mut self, now: Instant, to: LegId, source: u32, stamp: (u16, u32, bool), payload: &[u8]) {
        let (seq, ts, marker) = stamp;
        let Some(l) = self.legs.get_mut(&to) else { return };
        let Some(config) = l.config.as_ref().filter(|c| c.direction.send) else {
            return;
        };
        let Some(dest) = l.latch.destination() else { return };
        let (pt, clock_rate) = (config.payload_type, config.clock_rate);
        let (seq, ts) = l.outgoing.translate(now, source, seq, ts, clock_rate);
        let header = RtpHeader {
            pt,
            marker,
            seq,
            ts,
            ssrc: l.outgoing.ssrc,
        };
        let mut packet = Vec::with_capacity(12 + payload.len());
        header.emit(payload, &mut packet);
        l.sent.on_sent(payload.len());
        l.counters.sent += 1;
        self.transmits.push_back(MediaTransmit {
            leg: to,
            to: dest,
            rtcp: false,
            payload: packet,
        });
    }

    /// Records the audio the leg's phone sends (G.711 legs), for at most
    /// `max`; the decoded frames come out of [`MediaCore::poll_recorded`] and
    /// `RecordingFinished` tells the end. False when the leg cannot be recorded.
    pub fn record(&mut self, now: Instant, leg: LegId, max: Duration) -> bool {
        let Some(l) = self.legs.get_mut(&leg) else { return false };
        let codec = l.audio_codec();
        let Some(decoder) = codec.and_then(|c| crate::codec::Decoder::new(c).ok()) else {
            return false;
        };
        if decoder.sample_rate() != 8000 {
            return false;
        }
        l.recording = Some((decoder, now + max));
        self.timers.push(Reverse((now + max, leg, Deadline::RecordEnd)));
        true
    }

    /// Ends a recording (if one runs) and reports it.
    pub fn stop_recording(&mut self, leg: LegId) {
        if let Some(l) = self.legs.get_mut(&leg) {
            if l.recording.take().is_some() {
                self.events.push_back(MediaEvent::RecordingFinished { leg });
            }
        }
    }

    /// The next decoded frame of a recorded leg (8 kHz, mono).
    pub fn poll_recorded(&mut self) -> Option<(LegId, Vec<i16>)> {
        self.recorded.pop_front()
    }
}
