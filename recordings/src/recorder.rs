//! One call's recording: the aligner, the stereo WAV, an optional mono mix
//! and the sidecar, driven by whoever owns the thread (the media engine's
//! writer). Blocking file I/O happens in [`CallRecorder::advance`] and
//! [`CallRecorder::finish`] only; [`CallRecorder::push`] is memory work.
//!
//! [`recover`] and [`recover_tree`] are for the next start after a crash:
//! a sidecar still in state `recording` gets its WAV repaired and becomes
//! `interrupted`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::align::{AlignConfig, Aligner, Channel, ChannelStats, Frame};
use crate::sidecar::{ChannelLayout, ChannelQuality, PauseSpan, Sidecar, State};
use crate::wav::{repair, WavError, WavWriter};

/// Why a recording could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordingError {
    /// Writing a WAV file failed (disk full, I/O error, too long).
    #[error(transparent)]
    Wav(#[from] WavError),
    /// Writing or reading a sidecar or making a directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> RecordingError + '_ {
    move |source| RecordingError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How to record a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderSpec {
    /// The WAV file (its directory is created); the sidecar goes beside it.
    pub wav: PathBuf,
    /// A mono mix of both channels, written too when set.
    pub mono_mix: Option<PathBuf>,
    /// Sample rate in Hz (8000 for G.711 calls, 16000 or 48000 for wideband).
    pub sample_rate: u32,
    /// Who goes on which channel; `Mono` writes the left channel alone.
    pub layout: ChannelLayout,
}

/// A recording in progress. See the module docs.
#[derive(Debug)]
pub struct CallRecorder {
    aligner: Aligner,
    wav: WavWriter,
    mono: Option<WavWriter>,
    sidecar: Sidecar,
    sidecar_path: PathBuf,
    layout: ChannelLayout,
    /// Interleaved output of the aligner, reused.
    out: Vec<i16>,
    /// One channel (mono layout or mix), reused.
    single: Vec<i16>,
    /// Frames the engine dropped before they reached us, per channel.
    dropped: [u64; 2],
}

impl CallRecorder {
    /// Creates the directory, the sidecar (state `recording`) and the files.
    /// `sidecar` carries the call's details; the rest is filled in here.
    pub fn create(spec: &RecorderSpec, mut sidecar: Sidecar) -> Result<CallRecorder, RecordingError> {
        if let Some(dir) = spec.wav.parent() {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
        sidecar.sample_rate = spec.sample_rate;
        sidecar.layout = spec.layout;
        sidecar.file = name(&spec.wav).unwrap_or_default();
        sidecar.mono_mix = spec
            .mono_mix
            .as_deref()
            .filter(|_| spec.layout != ChannelLayout::Mono)
            .and_then(name);
        sidecar.state = State::Recording;
        let (left, right) = match spec.layout {
            ChannelLayout::CallerLeftAgentRight => ("caller", "agent"),
            ChannelLayout::AgentLeftCallerRight => ("agent", "caller"),
            ChannelLayout::Mono => ("caller", ""),
        };
        sidecar.quality.left.party = left.into();
        sidecar.quality.right.party = right.into();
        // The sidecar first: a crash from here on leaves a sidecar that
        // says what to repair.
        let sidecar_path = Sidecar::path_for(&spec.wav);
        sidecar.write(&sidecar_path).map_err(io_error(&sidecar_path))?;
        let channels = if spec.layout == ChannelLayout::Mono { 1 } else { 2 };
        let files = WavWriter::create(&spec.wav, channels, spec.sample_rate).and_then(|wav| {
            let mono = match &spec.mono_mix {
                Some(p) if spec.layout != ChannelLayout::Mono => Some(WavWriter::create(p, 1, spec.sample_rate)?),
                _ => None,
            };
            Ok((wav, mono))
        });
        let (wav, mono) = match files {
            Ok(files) => files,
            Err(e) => {
                // Say so beside the file (best effort: the disk may be full).
                sidecar.state = State::Failed { reason: e.to_string() };
                let _ = sidecar.write(&sidecar_path);
                return Err(e.into());
            }
        };
        Ok(CallRecorder {
            aligner: Aligner::new(AlignConfig::new(spec.sample_rate)),
            wav,
            mono,
            sidecar,
            sidecar_path,
            layout: spec.layout,
            out: Vec::new(),
            single: Vec::new(),
            dropped: [0; 2],
        })
    }

    /// The sidecar as it stands (the call's details, state `recording`).
    pub fn sidecar(&self) -> &Sidecar {
        &self.sidecar
    }

    /// The sample rate frames must be decoded to.
    pub fn sample_rate(&self) -> u32 {
        self.aligner.config().sample_rate
    }

    /// Places a decoded frame that arrived at `now` (since the start).
    pub fn push(&mut self, frame: Frame<'_>, now: Duration) {
        self.aligner.push(frame, now);
    }

    /// Notes the codec a channel's audio comes in (kept once per change).
    pub fn note_codec(&mut self, channel: Channel, codec: &str) {
        let q = self.quality_mut(channel);
        if q.codecs.last().map(String::as_str) != Some(codec) {
            q.codecs.push(codec.to_string());
        }
    }

    /// Counts frames of a channel dropped before they reached the recorder.
    pub fn count_dropped(&mut self, channel: Channel, frames: u64) {
        self.dropped[channel.index()] += frames;
    }

    /// Pauses at `now`: silence until [`CallRecorder::resume`].
    pub fn pause(&mut self, now: Duration) {
        self.aligner.pause(now);
    }

    /// Resumes at `now`.
    pub fn resume(&mut self, now: Duration) {
        self.aligner.resume(now);
    }

    /// Writes the audio that is final at `now`.
    pub fn advance(&mut self, now: Duration) -> Result<(), RecordingError> {
        self.out.clear();
        if self.aligner.advance(now, &mut self.out) > 0 {
            self.write_out()?;
        }
        Ok(())
    }

    fn write_out(&mut self) -> Result<(), RecordingError> {
        if self.layout == ChannelLayout::Mono {
            self.single.clear();
            self.single.extend(self.out.iter().step_by(2));
            self.wav.write(&self.single)?;
            return Ok(());
        }
        self.wav.write(&self.out)?;
        if let Some(mono) = self.mono.as_mut() {
            self.single.clear();
            self.single.extend(
                self.out
                    .chunks_exact(2)
                    .map(|p| ((i32::from(p[0]) + i32::from(p[1])) / 2) as i16),
            );
            mono.write(&self.single)?;
        }
        Ok(())
    }

    /// Ends the recording at `now`: the rest of the audio, final headers,
    /// and the sidecar (state `complete`), which is returned.
    pub fn finish(mut self, now: Duration) -> Result<Sidecar, RecordingError> {
        self.out.clear();
        self.aligner.finish(now, &mut self.out);
        self.write_out()?;
        self.fill_sidecar(self.wav.data_bytes());
        if let Some(mono) = self.mono.take() {
            mono.finish()?;
        }
        self.wav.finish()?;
        self.sidecar.state = State::Complete;
        self.sidecar
            .write(&self.sidecar_path)
            .map_err(io_error(&self.sidecar_path))?;
        Ok(self.sidecar)
    }

    /// Gives up after a write error: keeps what the files hold (best
    /// effort) and marks the sidecar `failed` with `reason`.
    pub fn fail(mut self, now: Duration, reason: String) -> Sidecar {
        self.out.clear();
        self.aligner.finish(now, &mut self.out);
        let _ = self.wav.checkpoint();
        if let Some(mono) = self.mono.as_mut() {
            let _ = mono.checkpoint();
        }
        // What reached the file, as far as its header says.
        let bytes = std::fs::metadata(self.wav.path())
            .map(|m| m.len().saturating_sub(crate::wav::HEADER_LEN))
            .unwrap_or(0)
            .min(self.wav.data_bytes());
        self.fill_sidecar(bytes);
        self.sidecar.state = State::Failed { reason };
        // On a full disk this may fail too; the next start's recover() then
        // finds `recording` and repairs.
        let _ = self.sidecar.write(&self.sidecar_path);
        self.sidecar
    }

    fn fill_sidecar(&mut self, bytes: u64) {
        let rate = u64::from(self.aligner.config().sample_rate.max(1));
        let channels = if self.layout == ChannelLayout::Mono { 1 } else { 2 };
        let duration_ms = bytes / 2 / channels * 1000 / rate;
        let s = &mut self.sidecar;
        s.bytes = bytes;
        s.duration_ms = duration_ms;
        s.ended_unix_ms = Some(s.started_unix_ms + duration_ms);
        s.pauses = self
            .aligner
            .pauses()
            .into_iter()
            .map(|(start, end)| PauseSpan {
                start_ms: start.as_millis() as u64,
                end_ms: end.map(|e| e.as_millis() as u64),
            })
            .collect();
        let mut dropped = 0;
        for channel in [Channel::Left, Channel::Right] {
            let stats: ChannelStats = self.aligner.stats(channel).clone();
            let engine_dropped = self.dropped[channel.index()];
            dropped += stats.late + engine_dropped;
            let q = self.quality_mut(channel);
            q.frames = stats.frames;
            q.late_frames = stats.late;
            q.dropped_frames = engine_dropped;
            q.silence_ms = stats.silence_samples * 1000 / rate;
            q.restarts = stats.new_streams + stats.resyncs;
        }
        self.sidecar.dropped_frames = dropped;
    }

    fn quality_mut(&mut self, channel: Channel) -> &mut ChannelQuality {
        match channel {
            Channel::Left => &mut self.sidecar.quality.left,
            Channel::Right => &mut self.sidecar.quality.right,
        }
    }
}

/// For the start after a crash: if the sidecar of `wav` still says
/// `recording`, repairs the WAV (and the mono mix), marks the sidecar
/// `interrupted` with the length found, writes it and returns it. `None`
/// when there was nothing to do.
pub fn recover(wav: &Path) -> Result<Option<Sidecar>, RecordingError> {
    let path = Sidecar::path_for(wav);
    let mut sidecar = Sidecar::read(&path).map_err(io_error(&path))?;
    if sidecar.state != State::Recording {
        return Ok(None);
    }
    match repair(wav) {
        Ok(r) => {
            sidecar.bytes = r.data_bytes;
            sidecar.duration_ms = r.duration.as_millis() as u64;
            // The sidecar is read from disk: a damaged start time must not
            // overflow.
            sidecar.ended_unix_ms = Some(sidecar.started_unix_ms.saturating_add(sidecar.duration_ms));
            sidecar.state = State::Interrupted {
                reason: "the switch stopped before the recording ended".into(),
            };
        }
        Err(e) => {
            sidecar.state = State::Failed { reason: e.to_string() };
        }
    }
    // Only a plain file name beside the WAV (as `create` writes it): a
    // damaged sidecar must not point the repair at a file elsewhere.
    let beside = |m: &str| Path::new(m).file_name().is_some_and(|n| n == m);
    if let Some(mix) = sidecar
        .mono_mix
        .as_deref()
        .filter(|m| beside(m))
        .and_then(|m| Some(wav.parent()?.join(m)))
    {
        // The stereo file is the record; a mix that cannot be repaired stays as it is.
        let _ = repair(&mix);
    }
    sidecar.write(&path).map_err(io_error(&path))?;
    Ok(Some(sidecar))
}

/// [`recover`] for every sidecar under `root` (any depth); returns the WAV
/// paths dealt with and what came of each.
pub fn recover_tree(root: &Path) -> Vec<(PathBuf, Result<Sidecar, RecordingError>)> {
    let mut done = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let wav = path.with_extension("wav");
                match recover(&wav) {
                    Ok(None) => {}
                    Ok(Some(s)) => done.push((wav, Ok(s))),
                    Err(e) => done.push((wav, Err(e))),
                }
            }
        }
    }
    done
}

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;
