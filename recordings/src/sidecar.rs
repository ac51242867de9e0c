//! The JSON file next to each recording (`<call id>.json` beside
//! `<call id>.wav`): who, when, how, and whether the file is whole.
//!
//! It is written when the recording starts (state `recording`) and again
//! when it ends; a sidecar still saying `recording` at the next start means
//! the process died, and [`crate::recover`] repairs the WAV and marks it
//! `interrupted`. Writes go to a temporary file renamed over the old one,
//! so a crash never leaves half a sidecar.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The version of this format, in every sidecar.
pub const FORMAT_VERSION: u32 = 1;

/// Where a recording stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Being written.
    Recording,
    /// Ended normally; the file is whole.
    Complete,
    /// The process ended before the recording did; the file was repaired
    /// and holds everything up to about the crash.
    Interrupted {
        /// Why.
        reason: String,
    },
    /// Writing failed (disk full, an I/O error); the file holds what was
    /// written before.
    Failed {
        /// The error.
        reason: String,
    },
}

/// Who is on which side of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelLayout {
    /// Stereo: the caller on the left, the agent on the right.
    #[default]
    CallerLeftAgentRight,
    /// Stereo: the agent on the left, the caller on the right.
    AgentLeftCallerRight,
    /// One channel (an IVR-only recording or a voicemail).
    Mono,
}

/// A paused span, as offsets from the recording's start in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseSpan {
    /// When the pause began.
    pub start_ms: u64,
    /// When it ended (`None`: paused until the end).
    pub end_ms: Option<u64>,
}

/// What happened to one channel's audio on its way into the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelQuality {
    /// Who this channel carries (`caller`, `agent`).
    pub party: String,
    /// The codec(s) its audio came in, in order of appearance.
    pub codecs: Vec<String>,
    /// Audio frames placed in the file.
    pub frames: u64,
    /// Frames that came after their place was written: left out.
    pub late_frames: u64,
    /// Frames the engine dropped because the writer was behind.
    pub dropped_frames: u64,
    /// Milliseconds filled with silence for lack of audio (loss, silence
    /// suppression, before the first packet, while paused).
    pub silence_ms: u64,
    /// Times the audio was placed afresh: a new RTP stream or codec, or
    /// timestamps that stopped matching time.
    pub restarts: u64,
}

/// Quality of the recording itself (the live legs' quality is in the call record).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quality {
    /// The left channel.
    pub left: ChannelQuality,
    /// The right channel.
    pub right: ChannelQuality,
}

/// The metadata of one recording. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// The call's id (as in the call record).
    pub call_id: String,
    /// The queue the call was recorded for, if any.
    pub queue: Option<String>,
    /// The IVR flow the call was recorded for, if any.
    pub flow: Option<String>,
    /// The agent who answered, if any.
    pub agent: Option<String>,
    /// The caller's number.
    pub caller: Option<String>,
    /// When the recording started (Unix milliseconds).
    pub started_unix_ms: u64,
    /// When it ended (Unix milliseconds): start plus the audio's length.
    pub ended_unix_ms: Option<u64>,
    /// The audio's length in milliseconds.
    pub duration_ms: u64,
    /// Paused spans (silence in the file).
    pub pauses: Vec<PauseSpan>,
    /// Sample rate of the file in Hz.
    pub sample_rate: u32,
    /// Who is on which channel.
    pub layout: ChannelLayout,
    /// The WAV's file name (in the same directory).
    pub file: String,
    /// The mono mix's file name, if one is written.
    pub mono_mix: Option<String>,
    /// Bytes of audio in the WAV (its header not counted).
    pub bytes: u64,
    /// Frames lost on the way into the file (dropped by the engine, or late).
    pub dropped_frames: u64,
    /// Per-channel details.
    pub quality: Quality,
    /// Where the recording stands.
    #[serde(flatten)]
    pub state: State,
}

impl Sidecar {
    /// A sidecar for a recording starting now, state `recording`.
    pub fn new(call_id: &str, started_unix_ms: u64) -> Sidecar {
        Sidecar {
            version: FORMAT_VERSION,
            call_id: call_id.to_string(),
            queue: None,
            flow: None,
            agent: None,
            caller: None,
            started_unix_ms,
            ended_unix_ms: None,
            duration_ms: 0,
            pauses: Vec::new(),
            sample_rate: 8000,
            layout: ChannelLayout::default(),
            file: String::new(),
            mono_mix: None,
            bytes: 0,
            dropped_frames: 0,
            quality: Quality::default(),
            state: State::Recording,
        }
    }

    /// Where the sidecar of `wav` lives: the same name, `.json`.
    pub fn path_for(wav: &Path) -> PathBuf {
        wav.with_extension("json")
    }

    /// Reads a sidecar.
    pub fn read(path: &Path) -> std::io::Result<Sidecar> {
        let bytes = std::fs::read(path)?;
        serde_json::from_slice(&bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    /// Writes the sidecar atomically (a temporary file renamed over `path`).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_data()?;
        drop(f);
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_state_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c1.json");
        let mut s = Sidecar::new("c1", 1_700_000_000_000);
        s.queue = Some("support".into());
        s.pauses.push(PauseSpan {
            start_ms: 1000,
            end_ms: Some(4000),
        });
        s.state = State::Failed {
            reason: "No space left on device".into(),
        };
        s.write(&path).unwrap();
        assert_eq!(Sidecar::read(&path).unwrap(), s);
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(json["state"], "failed");
        assert_eq!(json["reason"], "No space left on device");
        assert_eq!(json["layout"], "caller_left_agent_right");
        assert!(!dir.path().join("c1.json.tmp").exists());
    }
}
