//! One call recording on the writer thread: the copied packets of each
//! channel are decoded here (not in the media loop), brought to the file's
//! rate, and handed to a [`recordings::CallRecorder`], which aligns them by
//! RTP timestamp and writes the WAV files and the sidecar.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use recordings::{CallRecorder, Channel, ChannelLayout, Frame, RecordingError, Sidecar};

use super::tap::{CallRecordingSpec, Tapped};
use crate::codec::{Codec, Decoder};

/// The file's rate for a spec: 8, 16 or 48 kHz; 0 picks 16 kHz when a leg
/// speaks Opus and 8 kHz otherwise.
pub(crate) fn file_rate(asked: u32, codecs: &[Option<Codec>]) -> u32 {
    match asked {
        0 if codecs.contains(&Some(Codec::Opus)) => 16_000,
        0..=8000 => 8000,
        8001..=16_000 => 16_000,
        _ => 48_000,
    }
}

/// Decodes one channel's packets at the file's rate.
#[derive(Debug)]
struct ChannelDecoder {
    codec: Codec,
    decoder: Decoder,
    /// Where the last frame ended (SSRC, timestamp), and its last sample,
    /// so upsampling runs on across contiguous frames.
    last: Option<(u32, u32, i16)>,
}

/// A call being recorded. See the module docs.
#[derive(Debug)]
pub(crate) struct CallWriter {
    recorder: CallRecorder,
    start: Instant,
    path: PathBuf,
    decoders: [Option<ChannelDecoder>; 2],
    pcm: Vec<i16>,
    upsampled: Vec<i16>,
}

fn index(channel: Channel) -> usize {
    match channel {
        Channel::Left => 0,
        Channel::Right => 1,
    }
}

impl CallWriter {
    /// Opens the files of a recording that starts at `start`; `codecs` are
    /// the left and right legs' codecs now (for the automatic rate).
    pub(crate) fn open(
        spec: &CallRecordingSpec,
        start: Instant,
        codecs: [Option<Codec>; 2],
        mono: bool,
    ) -> Result<CallWriter, RecordingError> {
        let mut recorder_spec = spec.spec.clone();
        recorder_spec.sample_rate = file_rate(spec.spec.sample_rate, &codecs);
        if mono {
            recorder_spec.layout = ChannelLayout::Mono;
        }
        let recorder = CallRecorder::create(&recorder_spec, spec.sidecar.clone())?;
        Ok(CallWriter {
            recorder,
            start,
            path: spec.spec.wav.clone(),
            decoders: [None, None],
            pcm: Vec::with_capacity(960),
            upsampled: Vec::with_capacity(960),
        })
    }

    /// The WAV file.
    pub(crate) fn path(&self) -> &PathBuf {
        &self.path
    }

    fn since_start(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }

    /// Decodes a copied packet and places it.
    pub(crate) fn packet(&mut self, t: &Tapped) {
        let rate = self.recorder.sample_rate();
        let slot = &mut self.decoders[index(t.channel)];
        if slot.as_ref().is_none_or(|d| d.codec != t.codec) {
            let decoder = match t.codec {
                Codec::Opus => Decoder::opus(rate),
                other => Decoder::new(other),
            };
            let Ok(decoder) = decoder else { return };
            *slot = Some(ChannelDecoder {
                codec: t.codec,
                decoder,
                last: None,
            });
            self.recorder.note_codec(t.channel, t.codec.encoding_name());
        }
        let Some(d) = slot.as_mut() else { return };
        self.pcm.clear();
        if d.decoder.decode(&t.payload, &mut self.pcm).is_err() || self.pcm.is_empty() {
            return;
        }
        let decoded_rate = d.decoder.sample_rate();
        let pcm = if decoded_rate < rate && decoded_rate > 0 {
            // G.711 into a wideband file: linear interpolation, running on
            // from the previous frame's last sample when this one follows it.
            let factor = (rate / decoded_rate) as usize;
            let continues = d.last.filter(|(ssrc, ts, _)| *ssrc == t.ssrc && *ts == t.timestamp);
            let mut prev = continues.map_or(self.pcm[0], |(_, _, s)| s);
            self.upsampled.clear();
            for &s in &self.pcm {
                for j in 1..=factor {
                    let v = i32::from(prev) + (i32::from(s) - i32::from(prev)) * j as i32 / factor as i32;
                    self.upsampled.push(v as i16);
                }
                prev = s;
            }
            &self.upsampled
        } else {
            &self.pcm
        };
        let samples_at_clock = pcm.len() as u64 * u64::from(t.codec.clock_rate()) / u64::from(rate);
        d.last = pcm
            .last()
            .map(|&s| (t.ssrc, t.timestamp.wrapping_add(samples_at_clock as u32), s));
        let frame = Frame {
            channel: t.channel,
            ssrc: t.ssrc,
            timestamp: t.timestamp,
            clock_rate: t.codec.clock_rate(),
            pcm,
        };
        let at = t.at.saturating_duration_since(self.start);
        self.recorder.push(frame, at);
    }

    /// Pauses or resumes at `at`.
    pub(crate) fn pause(&mut self, at: Instant, paused: bool) {
        let at = self.since_start(at);
        if paused {
            self.recorder.pause(at);
        } else {
            self.recorder.resume(at);
        }
    }

    /// Writes what is final at `now`.
    pub(crate) fn advance(&mut self, now: Instant) -> Result<(), RecordingError> {
        let at = self.since_start(now);
        self.recorder.advance(at)
    }

    /// Ends the recording at `at`; `dropped` counts the frames of each
    /// channel the engine could not queue.
    pub(crate) fn finish(mut self, at: Instant, dropped: [u64; 2]) -> Result<Sidecar, (String, Box<Sidecar>)> {
        let at = self.since_start(at);
        self.recorder.count_dropped(Channel::Left, dropped[0]);
        self.recorder.count_dropped(Channel::Right, dropped[1]);
        // finish() consumes the recorder; on failure the sidecar is
        // rebuilt from what the file holds.
        let details = self.recorder.sidecar().clone();
        self.recorder.finish(at).map_err(|e| {
            let mut s = details;
            s.state = recordings::State::Failed { reason: e.to_string() };
            (e.to_string(), Box::new(s))
        })
    }

    /// Gives up after an error at `at`.
    pub(crate) fn fail(self, at: Instant, reason: String) -> Sidecar {
        let at = self.since_start(at);
        self.recorder.fail(at, reason)
    }
}
