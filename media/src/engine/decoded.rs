//! Audio the engine makes instead of relaying: a leg whose peer uses another
//! codec is transcoded (jitter buffer, decode, resample, encode), and a leg
//! can play a playlist (prompts, tones, music on hold). Both run on a 20 ms
//! tick and hand out payloads; the core wraps them in RTP on the outgoing
//! stream of the leg they are sent to.

use std::time::Instant;

use crate::codec::{Codec, CodecError, Encoder, Transcoder};
use crate::jitter::{Frame, JitterBuffer, JitterConfig};
use crate::player::{Played, Playlist};

/// The codec of a leg from its configuration's encoding name.
pub(crate) fn codec_of(name: &str) -> Option<Codec> {
    Codec::from_encoding_name(name).filter(|c| c.is_audio())
}

/// Source keys for [`super::leg::Outgoing::translate`]: generated streams
/// never collide with a real SSRC's translation state.
pub(crate) const TRANSCODED_SOURCE: u32 = 0x5b00_0001;
pub(crate) const PLAYER_SOURCE: u32 = 0x5b00_0002;

/// A generated stream's own sequence and timestamp counters, mapped onto the
/// leg's outgoing stream like any source.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    seq: u16,
    ts: u32,
    /// Nothing sent yet, or ticks passed without a packet since the last.
    silent: bool,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            seq: 0,
            ts: 0,
            silent: true,
        }
    }
}

impl Clock {
    /// The next (sequence number, timestamp, marker), advancing time by
    /// `units`. The marker starts a talkspurt: the first packet after
    /// ticks that sent nothing (RFC 3551 section 4.1).
    pub(crate) fn tick(&mut self, units: u32) -> (u16, u32, bool) {
        let now = (self.seq, self.ts, std::mem::take(&mut self.silent));
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(units);
        now
    }

    /// A tick that sends nothing: time goes on (the timestamp advances, the
    /// sequence number does not), so what follows is stamped when it is
    /// played and a receiver does not take the pause for delay.
    pub(crate) fn skip(&mut self, units: u32) {
        self.ts = self.ts.wrapping_add(units);
        self.silent = true;
    }
}

/// One direction of a transcoded bridge: packets received on a leg, played
/// out of its jitter buffer into the peer's codec.
pub(crate) struct Transcoding {
    jitter: JitterBuffer,
    transcoder: Transcoder,
    pub(crate) clock: Clock,
    /// Timestamp units per 20 ms frame of the peer's codec.
    pub(crate) units: u32,
}

impl std::fmt::Debug for Transcoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcoding").field("units", &self.units).finish()
    }
}

impl Transcoding {
    pub(crate) fn new(from: Codec, to: Codec) -> Result<Transcoding, CodecError> {
        Ok(Transcoding {
            jitter: JitterBuffer::new(JitterConfig::new(from.clock_rate())),
            transcoder: Transcoder::new(from, to)?,
            clock: Clock::default(),
            units: to.frame_timestamp_units(),
        })
    }

    pub(crate) fn insert(&mut self, now: Instant, ssrc: u32, seq: u16, ts: u32, marker: bool, payload: &[u8]) {
        self.jitter.insert(now, ssrc, seq, ts, marker, payload);
    }

    /// Plays one tick: the payloads to send to the peer (usually one).
    pub(crate) fn tick(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        let pushed = match self.jitter.pop(now) {
            Frame::Audio(payload) => self.transcoder.push(payload),
            Frame::Lost => self.transcoder.push_lost(),
            Frame::Empty => {
                // Silence, or the input ran dry: nothing to send this tick.
                self.clock.skip(self.units);
                return;
            }
        };
        if pushed.is_err() {
            return;
        }
        let mut payload = Vec::with_capacity(160);
        while let Ok(Some(_)) = self.transcoder.poll_payload(&mut payload) {
            out.push(std::mem::take(&mut payload));
        }
    }
}

/// A playlist playing on a leg, encoded in the leg's codec.
pub(crate) struct Playback {
    playlist: Playlist,
    encoder: Encoder,
    pcm: Vec<i16>,
    pub(crate) clock: Clock,
    pub(crate) units: u32,
}

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playback").field("rate", &self.playlist.rate()).finish()
    }
}

/// What a playback tick produced.
pub(crate) enum Tick {
    /// A payload to send.
    Payload(Vec<u8>),
    /// The playlist ended (`interrupted`: by a digit).
    Done { interrupted: bool },
}

impl Playback {
    /// Plays `playlist` on a leg using `codec`; the playlist's rate must be
    /// the codec's PCM rate (8 kHz for G.711, 48 kHz for Opus).
    pub(crate) fn new(playlist: Playlist, codec: Codec) -> Result<Playback, CodecError> {
        let encoder = Encoder::new(codec)?;
        if encoder.sample_rate() != playlist.rate() {
            return Err(CodecError::UnsupportedRate(playlist.rate()));
        }
        Ok(Playback {
            pcm: vec![0; playlist.frame_samples()],
            playlist,
            encoder,
            clock: Clock::default(),
            units: codec.frame_timestamp_units(),
        })
    }

    /// Barge-in: stops the playlist if the playing item allows it.
    pub(crate) fn interrupt(&mut self) -> bool {
        self.playlist.interrupt()
    }

    pub(crate) fn tick(&mut self) -> Tick {
        match self.playlist.next_frame(&mut self.pcm) {
            Played::Frame => {
                let mut payload = Vec::with_capacity(160);
                match self.encoder.encode(&self.pcm, &mut payload) {
                    Ok(_) => Tick::Payload(payload),
                    Err(_) => Tick::Done { interrupted: false },
                }
            }
            Played::Finished => Tick::Done { interrupted: false },
            Played::Interrupted => Tick::Done { interrupted: true },
        }
    }
}
