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
        let slot = &mut self.decoders[t.channel.index()];
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
        let at = self.since_start(t.at);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Encoder;

    /// Copies of 20 ms packets of a `freq` tone in `codec`, from `start`.
    fn tone(codec: Codec, channel: Channel, freq: f64, start: Instant, seconds: u32) -> Vec<Tapped> {
        let mut encoder = Encoder::new(codec).unwrap();
        let rate = encoder.sample_rate();
        let frame = encoder.frame_samples();
        let step = codec.clock_rate() / 50;
        (0..seconds * 50)
            .map(|k| {
                let pcm: Vec<i16> = (0..frame)
                    .map(|i| {
                        let n = (k as usize * frame + i) as f64;
                        (8000.0 * (2.0 * std::f64::consts::PI * freq * n / f64::from(rate)).sin()) as i16
                    })
                    .collect();
                let mut payload = Vec::new();
                encoder.encode(&pcm, &mut payload).unwrap();
                Tapped {
                    recording: 1,
                    channel,
                    at: start + Duration::from_millis(u64::from(k) * 20),
                    ssrc: 7,
                    timestamp: k * step,
                    codec,
                    payload,
                }
            })
            .collect()
    }

    /// Goertzel power of `freq` in `x` at `rate`, normalised by length.
    fn power(x: &[i16], freq: f64, rate: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq / rate;
        let (mut s1, mut s2) = (0.0, 0.0);
        for &v in x {
            let s = f64::from(v) + 2.0 * w.cos() * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2) / (x.len() as f64).powi(2)
    }

    /// A G.711 caller and an Opus agent recorded at the rate the codec
    /// carries: the caller's narrowband audio is upsampled, the agent's
    /// decoded at the file's rate, each tone on its side.
    #[test]
    fn an_opus_leg_is_recorded_wideband_beside_a_g711_leg() {
        let dir = tempfile::tempdir().unwrap();
        let wav = dir.path().join("call.wav");
        let spec = CallRecordingSpec {
            spec: recordings::RecorderSpec {
                wav: wav.clone(),
                mono_mix: None,
                sample_rate: 0,
                layout: ChannelLayout::CallerLeftAgentRight,
            },
            sidecar: Sidecar::new("call", 0),
        };
        let start = Instant::now();
        let mut writer = CallWriter::open(&spec, start, [Some(Codec::Pcmu), Some(Codec::Opus)], false).unwrap();
        let mut packets = tone(Codec::Pcmu, Channel::Left, 400.0, start, 2);
        packets.extend(tone(Codec::Opus, Channel::Right, 3000.0, start, 2));
        packets.sort_by_key(|t| t.at);
        for t in &packets {
            writer.packet(t);
        }
        let sidecar = writer.finish(start + Duration::from_secs(2), [0; 2]).unwrap();
        assert_eq!(sidecar.sample_rate, 16_000);
        assert_eq!(sidecar.quality.right.codecs, ["opus"]);
        let mut reader = hound::WavReader::open(&wav).unwrap();
        assert_eq!((reader.spec().channels, reader.spec().sample_rate), (2, 16_000));
        let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(samples.len(), 2 * 32_000);
        // The middle second, clear of the codec's start-up.
        let side = |c: usize| -> Vec<i16> {
            samples
                .iter()
                .skip(c)
                .step_by(2)
                .skip(8000)
                .take(16_000)
                .copied()
                .collect()
        };
        let (left, right) = (side(0), side(1));
        let rate = 16_000.0;
        assert!(
            power(&left, 400.0, rate) > 100.0 * power(&left, 3000.0, rate),
            "caller's tone on the left"
        );
        // 3 kHz is above what G.711 carries: only a wideband file holds it.
        assert!(
            power(&right, 3000.0, rate) > 100.0 * power(&right, 400.0, rate),
            "agent's tone on the right"
        );
        assert!(power(&right, 3000.0, rate) > 1000.0, "the 3 kHz tone is there");
    }
}
