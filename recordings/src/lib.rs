//! Call recordings for Switchboard, with no knowledge of SIP, queues or
//! threads: what a recorder does with audio once the media engine has it.
//!
//! - [`align`]: the pure state machine that puts two channels of decoded
//!   audio on one sample clock by RTP timestamp (loss, reordering, silence
//!   suppression, SSRC and codec changes, pause), and hands out interleaved
//!   stereo in fixed chunks;
//! - [`wav`]: a streaming 16-bit PCM WAV writer whose header is kept true
//!   about once a second, so a file cut short by a crash still plays, and
//!   [`wav::repair`], which fixes the header of such a file from its length;
//! - [`recorder`]: one call's recording: aligner, stereo file, optional mono
//!   mix and sidecar together, and [`recorder::recover`] for the next start;
//! - [`sidecar`]: the JSON metadata written next to each WAV;
//! - [`layout`]: where a recording lives (`<root>/<YYYY>/<MM>/<DD>/<queue>/<call>.wav`);
//! - [`retention`]: which recordings are due for deletion.
//!
//! The media engine depends on this crate (its writer thread runs a
//! [`recorder::CallRecorder`] per recorded call); this crate depends on
//! nothing of the workspace.

pub mod align;
pub mod layout;
pub mod recorder;
pub mod retention;
pub mod sidecar;
pub mod wav;

pub use align::{AlignConfig, Aligner, Channel, Frame};
pub use layout::{mono_mix_path, recording_path, sanitise, Date};
pub use recorder::{recover, CallRecorder, RecorderSpec, RecordingError};
pub use retention::{due_for_deletion, Listed, RetentionPolicy};
pub use sidecar::{ChannelLayout, PauseSpan, Quality, Sidecar, State};
pub use wav::{repair, Repaired, WavError, WavWriter};
