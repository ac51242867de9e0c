//! Call recording, the core's part: a recorded leg's incoming audio packets
//! are copied out, with their RTP timestamp and arrival time, for the
//! worker's writer thread, which decodes, aligns and writes them
//! ([`super::recorder`]). The copy is all the media loop pays: no decoding
//! (Opus would cost real time here), no file, no lock. Telephone-events are
//! not audio and stay out; a paused recording copies nothing.
//!
//! A recording is known by its first leg (the caller's); its legs carry a
//! [`Tap`] naming it and their channel. Removing either leg ends it.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Instant;

use super::core::{LegId, MediaCore};
use crate::codec::Codec;

pub use recordings::Channel;

/// How the engine records a call (see [`super::MediaEngine::record_call`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecordingSpec {
    /// The files, rate and layout. A `sample_rate` of 0 picks 8000 for a
    /// G.711 call and 16000 when a leg speaks Opus; other rates are taken
    /// up to 8000, 16000 or 48000. Without an agent leg the layout is mono.
    pub spec: recordings::RecorderSpec,
    /// The call's details for the sidecar (call id, queue or flow, agent,
    /// caller, start time); the engine fills in the rest.
    pub sidecar: recordings::Sidecar,
}

impl CallRecordingSpec {
    /// Whether the caller goes on the left channel.
    pub fn caller_left(&self) -> bool {
        self.spec.layout != recordings::ChannelLayout::AgentLeftCallerRight
    }
}

/// What became of a call recording.
#[derive(Debug, Clone, PartialEq)]
pub enum CallRecordingEvent {
    /// The files are open and audio is being written.
    Started {
        /// The recording (its caller leg).
        leg: LegId,
        /// The WAV file.
        path: PathBuf,
    },
    /// The recording ended and its files are whole.
    Stopped {
        /// The recording (its caller leg).
        leg: LegId,
        /// The WAV file.
        path: PathBuf,
        /// The final sidecar (as written beside the file).
        sidecar: Box<recordings::Sidecar>,
    },
    /// Writing failed (disk full, an I/O error) or the legs were gone: the
    /// recording stopped, the call goes on.
    Failed {
        /// The recording (its caller leg).
        leg: LegId,
        /// The WAV file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
        /// The sidecar as written (state `failed`), if the files were opened.
        sidecar: Option<Box<recordings::Sidecar>>,
    },
}

/// A recorded leg's part in its recording.
#[derive(Debug, Clone)]
pub(crate) struct Tap {
    /// The recording: its caller leg.
    pub(crate) recording: LegId,
    /// The other recorded leg, if any.
    pub(crate) partner: Option<LegId>,
    pub(crate) channel: Channel,
    pub(crate) paused: bool,
    /// The leg's audio codec now (refreshed on every configure).
    pub(crate) codec: Option<Codec>,
}

impl Tap {
    /// A copy of an audio packet for the writer; none while paused or
    /// without an audio codec.
    pub(crate) fn copy(&self, at: Instant, ssrc: u32, timestamp: u32, payload: &[u8]) -> Option<Tapped> {
        let (false, Some(codec)) = (self.paused, self.codec) else {
            return None;
        };
        Some(Tapped {
            recording: self.recording,
            channel: self.channel,
            at,
            ssrc,
            timestamp,
            codec,
            payload: payload.to_vec(),
        })
    }
}

/// An audio packet copied for a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tapped {
    /// The recording (its caller leg).
    pub recording: LegId,
    /// Which side of the file.
    pub channel: Channel,
    /// When the packet arrived.
    pub at: Instant,
    /// Its RTP stream.
    pub ssrc: u32,
    /// Its RTP timestamp.
    pub timestamp: u32,
    /// Its codec.
    pub codec: Codec,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Recordings ended by the core (stopped, or a leg removed).
#[derive(Debug, Default)]
pub(crate) struct Taps {
    pub(crate) packets: VecDeque<Tapped>,
    pub(crate) ended: VecDeque<LegId>,
}

impl MediaCore {
    /// Starts copying the audio of `caller` (and `agent`) for a recording
    /// known by `caller`; each leg's channel as given. A leg already in a
    /// recording leaves it. False when the caller leg is not here.
    pub fn record_call(&mut self, caller: LegId, agent: Option<LegId>, caller_left: bool) -> bool {
        if !self.legs.contains_key(&caller) || agent.is_some_and(|a| !self.legs.contains_key(&a) || a == caller) {
            return false;
        }
        let (caller_channel, agent_channel) = if caller_left {
            (Channel::Left, Channel::Right)
        } else {
            (Channel::Right, Channel::Left)
        };
        let legs = [(caller, agent, caller_channel)]
            .into_iter()
            .chain(agent.map(|a| (a, Some(caller), agent_channel)));
        for (leg, partner, channel) in legs {
            self.stop_call_recording(leg);
            let Some(l) = self.legs.get_mut(&leg) else { continue };
            l.tap = Some(Tap {
                recording: caller,
                partner,
                channel,
                paused: false,
                codec: l.audio_codec(),
            });
        }
        true
    }

    /// The audio codec of a leg now, if it has one.
    pub fn leg_codec(&self, leg: LegId) -> Option<Codec> {
        self.legs.get(&leg)?.audio_codec()
    }

    /// Pauses or resumes copying for the recording `leg` is in.
    pub fn pause_call_recording(&mut self, leg: LegId, paused: bool) {
        let (recording, partner) = match self.legs.get(&leg).and_then(|l| l.tap.as_ref()) {
            Some(t) => (t.recording, t.partner),
            None => return,
        };
        for l in [Some(recording), partner].into_iter().flatten() {
            if let Some(tap) = self.legs.get_mut(&l).and_then(|l| l.tap.as_mut()) {
                tap.paused = paused;
            }
        }
    }

    /// Ends the recording `leg` is in (both its legs stop being copied);
    /// [`MediaCore::poll_recording_ended`] names it.
    pub fn stop_call_recording(&mut self, leg: LegId) {
        let Some(tap) = self.legs.get_mut(&leg).and_then(|l| l.tap.take()) else {
            return;
        };
        for other in [Some(tap.recording), tap.partner].into_iter().flatten() {
            if let Some(l) = self.legs.get_mut(&other) {
                if l.tap.as_ref().is_some_and(|t| t.recording == tap.recording) {
                    l.tap = None;
                }
            }
        }
        self.taps.ended.push_back(tap.recording);
    }

    /// The next audio packet copied for a recording.
    pub fn poll_tapped(&mut self) -> Option<Tapped> {
        self.taps.packets.pop_front()
    }

    /// The next recording that ended (by its caller leg).
    pub fn poll_recording_ended(&mut self) -> Option<LegId> {
        self.taps.ended.pop_front()
    }
}
