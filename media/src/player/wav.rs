//! WAV prompts: decoded, mixed down and resampled once at load, then shared.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::{check_rate, PlayerError};
use crate::codec::resample::resample_once;

/// The longest prompt accepted, in seconds (music on hold included): bounds the memory
/// one file can take.
pub const MAX_PROMPT_SECONDS: u32 = 1800;

/// A prompt ready to play: mono 16-bit PCM at one rate, shared (cloning is cheap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    samples: Arc<[i16]>,
    rate: u32,
}

impl Prompt {
    /// A prompt from samples already at `rate` (synthesised speech, tests).
    pub fn from_samples(samples: impl Into<Arc<[i16]>>, rate: u32) -> Result<Prompt, PlayerError> {
        check_rate(rate)?;
        Ok(Prompt {
            samples: samples.into(),
            rate,
        })
    }

    /// Reads a WAV file and converts it for playback at `rate` Hz.
    ///
    /// Accepts any channel count (mixed down to mono by averaging), integer samples of
    /// 8 to 32 bits and 32-bit float. Use a [`PromptCache`] to load each file once.
    pub fn load(path: &Path, rate: u32) -> Result<Prompt, PlayerError> {
        check_rate(rate)?;
        let file = std::fs::File::open(path).map_err(|e| io_error(path, &e))?;
        Prompt::decode(std::io::BufReader::new(file), rate).map_err(|e| match e {
            PlayerError::BadFormat { reason, .. } => PlayerError::BadFormat {
                path: path.to_owned(),
                reason,
            },
            PlayerError::TooLong { .. } => PlayerError::TooLong { path: path.to_owned() },
            PlayerError::Io { kind, .. } => PlayerError::Io {
                path: path.to_owned(),
                kind,
            },
            other => other,
        })
    }

    /// Decodes WAV bytes from any reader and converts them for playback at `rate` Hz.
    /// Errors carry an empty path.
    pub fn decode(reader: impl Read, rate: u32) -> Result<Prompt, PlayerError> {
        check_rate(rate)?;
        let (mono, source_rate) = decode_mono(reader)?;
        let samples = if source_rate == rate {
            mono
        } else {
            resample_once(&mono, source_rate, rate)
        };
        Ok(Prompt {
            samples: samples.into(),
            rate,
        })
    }

    /// The samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// The shared sample buffer (to check sharing, or hand to another owner).
    pub fn shared(&self) -> &Arc<[i16]> {
        &self.samples
    }

    /// The playback rate in Hz.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Duration in milliseconds (rounded down).
    pub fn duration_ms(&self) -> u64 {
        u64::try_from(self.samples.len())
            .unwrap_or(u64::MAX)
            .saturating_mul(1000)
            / u64::from(self.rate)
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> PlayerError {
    if e.kind() == std::io::ErrorKind::NotFound {
        PlayerError::NotFound { path: path.to_owned() }
    } else {
        PlayerError::Io {
            path: path.to_owned(),
            kind: e.kind(),
        }
    }
}

fn bad(reason: &'static str) -> PlayerError {
    PlayerError::BadFormat {
        path: PathBuf::new(),
        reason,
    }
}

fn hound_error(e: hound::Error) -> PlayerError {
    match e {
        // hound reports a short read as `Other` ("Failed to read enough bytes").
        hound::Error::IoError(io)
            if matches!(io.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::Other) =>
        {
            bad("file cut short")
        }
        hound::Error::IoError(io) => PlayerError::Io {
            path: PathBuf::new(),
            kind: io.kind(),
        },
        hound::Error::FormatError(reason) => bad(reason),
        hound::Error::TooWide => bad("samples wider than 32 bits"),
        hound::Error::UnfinishedSample => bad("data ends inside a sample frame"),
        hound::Error::Unsupported => bad("unsupported WAV encoding"),
        hound::Error::InvalidSampleFormat => bad("sample format does not match its bit depth"),
    }
}

/// Decodes to mono 16-bit at the file's own rate.
fn decode_mono(reader: impl Read) -> Result<(Vec<i16>, u32), PlayerError> {
    let mut wav = hound::WavReader::new(reader).map_err(hound_error)?;
    let spec = wav.spec();
    if !(1000..=384_000).contains(&spec.sample_rate) {
        return Err(bad("sample rate outside 1-384 kHz"));
    }
    if spec.channels == 0 {
        return Err(bad("no channels"));
    }
    if u64::from(wav.duration()) > u64::from(MAX_PROMPT_SECONDS) * u64::from(spec.sample_rate) {
        return Err(PlayerError::TooLong { path: PathBuf::new() });
    }
    let channels = usize::from(spec.channels);
    // Capacity from the header, capped: the header may lie about a truncated file.
    let mut mono = Vec::with_capacity(usize::try_from(wav.duration()).unwrap_or(0).min(1 << 22));
    let mut frame = Vec::with_capacity(channels);
    let mut push = |sample: i32, frame: &mut Vec<i32>| {
        frame.push(sample);
        if frame.len() == channels {
            let sum: i64 = frame.iter().map(|s| i64::from(*s)).sum();
            let avg = sum / i64::try_from(channels).unwrap_or(1);
            mono.push(i16::try_from(avg.clamp(i64::from(i16::MIN), i64::from(i16::MAX))).unwrap_or(0));
            frame.clear();
        }
    };
    match spec.sample_format {
        hound::SampleFormat::Int => {
            let bits = u32::from(spec.bits_per_sample);
            if !(1..=32).contains(&bits) {
                return Err(bad("integer samples must have 1 to 32 bits"));
            }
            for s in wav.samples::<i32>() {
                let s = s.map_err(hound_error)?;
                let s16 = if bits > 16 { s >> (bits - 16) } else { s << (16 - bits) };
                push(s16, &mut frame);
            }
        }
        hound::SampleFormat::Float => {
            if spec.bits_per_sample != 32 {
                return Err(bad("only 32-bit float samples are supported"));
            }
            for s in wav.samples::<f32>() {
                let s = s.map_err(hound_error)?;
                let scaled = if s.is_finite() {
                    (s * 32768.0).clamp(-32768.0, 32767.0)
                } else {
                    0.0
                };
                // In range after the clamp: the cast is exact up to rounding toward zero.
                push(scaled as i32, &mut frame);
            }
        }
    }
    Ok((mono, spec.sample_rate))
}

/// Converted samples by (path, playback rate).
type Entries = HashMap<(PathBuf, u32), Arc<[i16]>>;

/// Prompts by (path, rate), loaded once and shared by every call (`Arc<[i16]>`).
///
/// Shared by reference between call tasks (`Arc<PromptCache>`); the lock is held only to
/// look up and insert, never while a file is read, so one slow disk read does not stall
/// other calls' lookups. Loading does blocking file I/O: call it from a blocking task.
/// Paths are keys as given (not canonicalised).
#[derive(Debug, Default)]
pub struct PromptCache {
    prompts: Mutex<Entries>,
}

impl PromptCache {
    /// An empty cache.
    pub fn new() -> PromptCache {
        PromptCache::default()
    }

    /// The prompt for `path` at `rate`, loading and converting it on first use.
    pub fn load(&self, path: impl AsRef<Path>, rate: u32) -> Result<Prompt, PlayerError> {
        let path = path.as_ref();
        if let Some(prompt) = self.get(path, rate) {
            return Ok(prompt);
        }
        let loaded = Prompt::load(path, rate)?;
        let mut map = self.prompts.lock().unwrap_or_else(PoisonError::into_inner);
        // Another call may have loaded it meanwhile: keep the first, so all share one buffer.
        let samples = map
            .entry((path.to_owned(), rate))
            .or_insert_with(|| loaded.samples.clone())
            .clone();
        Ok(Prompt { samples, rate })
    }

    /// The prompt if it is loaded already.
    pub fn get(&self, path: impl AsRef<Path>, rate: u32) -> Option<Prompt> {
        let map = self.prompts.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&(path.as_ref().to_owned(), rate)).map(|samples| Prompt {
            samples: samples.clone(),
            rate,
        })
    }

    /// Forgets every rate of one file (after it changed on disk); playing calls keep their copy.
    pub fn evict(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        self.prompts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(p, _), _| p != path);
    }

    /// Number of (path, rate) entries.
    pub fn len(&self) -> usize {
        self.prompts.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
