//! Prompts, tones, music on hold: sources of 16-bit PCM in 20 ms frames.
//!
//! Everything a caller hears that is not another person comes from here:
//! - [`Prompt`]: a WAV file decoded, mixed down to mono and resampled once, at load, to
//!   the leg's rate (8 kHz for G.711 legs, 48 kHz for Opus legs), and shared through
//!   a [`PromptCache`] by every call that plays it;
//! - [`ToneSpec`]: call progress tones from a [`TonePlan`] (ITU-T E.180 and national
//!   plans) made by a phase-continuous oscillator;
//! - [`Playlist`]: prompts, tones and silences in order, optionally looped (music on
//!   hold), with barge-in ([`Playlist::interrupt`]).
//!
//! Players are pure: no clock, no I/O after loading. The media engine calls
//! [`Playlist::next_frame`] once per 20 ms tick of the leg.

use std::path::PathBuf;

mod playlist;
mod tone;
mod wav;

pub use playlist::{Item, Playlist};
pub use tone::{ToneGenerator, ToneKind, TonePlan, ToneSpec, ToneStep};
pub use wav::{Prompt, PromptCache, MAX_PROMPT_SECONDS};

#[cfg(test)]
mod tests;

/// Frame duration of every player, in milliseconds.
pub const FRAME_MS: u32 = 20;

/// Samples in one 20 ms frame at `rate` Hz.
pub fn frame_samples(rate: u32) -> usize {
    usize::try_from(rate / (1000 / FRAME_MS)).unwrap_or(0)
}

/// Whether a playback rate can be used: 1 to 384 kHz and a whole number of samples per frame.
pub(crate) fn check_rate(rate: u32) -> Result<(), PlayerError> {
    if (1000..=384_000).contains(&rate) && rate % (1000 / FRAME_MS) == 0 {
        Ok(())
    } else {
        Err(PlayerError::UnsupportedRate(rate))
    }
}

/// What one call to [`Playlist::next_frame`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Played {
    /// The frame holds audio (possibly ending in silence where the playlist ended).
    Frame,
    /// Nothing more to play; the frame is silence.
    Finished,
    /// Reported once after [`Playlist::interrupt`] stopped the playlist; the frame is silence.
    Interrupted,
}

/// Errors from loading prompts and building playlists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlayerError {
    /// The prompt file does not exist.
    #[error("prompt {path:?} not found")]
    NotFound {
        /// The path asked for.
        path: PathBuf,
    },
    /// The prompt file could not be read.
    #[error("cannot read prompt {path:?}: {kind}")]
    Io {
        /// The path asked for.
        path: PathBuf,
        /// What the operating system said.
        kind: std::io::ErrorKind,
    },
    /// The file is not a WAV file we can decode.
    #[error("prompt {path:?} is not a usable WAV file: {reason}")]
    BadFormat {
        /// The path asked for (empty for in-memory data).
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The prompt is longer than [`MAX_PROMPT_SECONDS`].
    #[error("prompt {path:?} is longer than {MAX_PROMPT_SECONDS} s")]
    TooLong {
        /// The path asked for.
        path: PathBuf,
    },
    /// A playback rate that is not a whole number of samples per 20 ms frame, or out of range.
    #[error("unsupported playback rate {0} Hz")]
    UnsupportedRate(u32),
    /// A tone that cannot be generated (says why).
    #[error("invalid tone: {0}")]
    InvalidTone(&'static str),
    /// A prompt converted for one rate put in a playlist of another.
    #[error("prompt at {prompt} Hz in a playlist at {playlist} Hz")]
    RateMismatch {
        /// The prompt's rate.
        prompt: u32,
        /// The playlist's rate.
        playlist: u32,
    },
}
