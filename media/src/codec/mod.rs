//! Codecs: G.711, Opus, resampling and transcoding.
//!
//! Everything here is pure computation on sample buffers: no clock, no I/O.
//! - [`resample`]: band-limited sample-rate conversion (windowed-sinc polyphase FIR),
//!   one-shot for prompts and streaming for call legs.

pub mod resample;

/// Errors from the codec layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// A sample rate outside what the resampler or codec supports.
    #[error("unsupported sample rate {0} Hz")]
    UnsupportedRate(u32),
}
