//! A streaming 16-bit PCM WAV writer that a crash cannot spoil, and the
//! repair of a file it left unfinished.
//!
//! The file starts with the canonical 44-byte header (RIFF, a 16-byte `fmt `
//! chunk, then `data`), sizes zero. Samples go through a buffer of about one
//! second of audio; each time the buffer is written, the two sizes in the
//! header are rewritten to match. A process killed at any point thus leaves
//! a file whose header is at most about a second short of its data: every
//! player reads it (the tail is ignored), and [`repair`] makes the header
//! match the data exactly. Nothing is synced to disk before [`WavWriter::finish`]:
//! a killed process's writes survive in the page cache; a power cut is what
//! [`repair`] at the next start is for.
//!
//! hound writes WAV too, but only finalises the header when it is dropped
//! or finalised; a killed writer leaves sizes of zero, which hound itself
//! then reads as an empty file.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bytes before the samples in the files this module writes.
pub const HEADER_LEN: u64 = 44;

/// Why a WAV file could not be written or repaired.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WavError {
    /// The file system refused (disk full, permissions, gone).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The file is not a 16-bit PCM WAV this module can repair.
    #[error("{path}: not a PCM WAV file ({what})")]
    NotWav {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },
    /// The data reached the 4 GiB a WAV header can count.
    #[error("{path}: longer than a WAV file can hold")]
    TooLong {
        /// The file.
        path: PathBuf,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> WavError + '_ {
    move |source| WavError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The canonical header for 16-bit PCM with `data_len` bytes of samples.
fn header(channels: u16, sample_rate: u32, data_len: u32) -> [u8; HEADER_LEN as usize] {
    let block_align = channels * 2;
    let byte_rate = sample_rate * u32::from(block_align);
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&sample_rate.to_le_bytes());
    h[28..32].copy_from_slice(&byte_rate.to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

/// A WAV file being written. See the module docs.
#[derive(Debug)]
pub struct WavWriter {
    path: PathBuf,
    file: File,
    channels: u16,
    sample_rate: u32,
    buffer: Vec<u8>,
    /// Buffered bytes that make the file write and the header update.
    flush_at: usize,
    /// Sample bytes in the file (not counting the buffer).
    written: u64,
}

impl WavWriter {
    /// Creates (or truncates) `path` with a header for 16-bit PCM.
    pub fn create(path: &Path, channels: u16, sample_rate: u32) -> Result<WavWriter, WavError> {
        let mut file = File::create(path).map_err(io_error(path))?;
        let channels = channels.max(1);
        file.write_all(&header(channels, sample_rate, 0))
            .map_err(io_error(path))?;
        let flush_at = (sample_rate as usize * usize::from(channels) * 2).max(2);
        Ok(WavWriter {
            path: path.to_path_buf(),
            file,
            channels,
            sample_rate,
            buffer: Vec::with_capacity(flush_at + 4096),
            flush_at,
            written: 0,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends interleaved samples; about once a second of audio they reach
    /// the file and the header is brought up to date.
    pub fn write(&mut self, samples: &[i16]) -> Result<(), WavError> {
        let at = self.buffer.len();
        self.buffer.resize(at + samples.len() * 2, 0);
        for (bytes, s) in self.buffer[at..].chunks_exact_mut(2).zip(samples) {
            bytes.copy_from_slice(&s.to_le_bytes());
        }
        if self.buffer.len() >= self.flush_at {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Writes the buffer and makes the header count it.
    pub fn checkpoint(&mut self) -> Result<(), WavError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let total = self.written + self.buffer.len() as u64;
        if total > u64::from(u32::MAX - 36) {
            return Err(WavError::TooLong {
                path: self.path.clone(),
            });
        }
        self.file.write_all(&self.buffer).map_err(io_error(&self.path))?;
        self.written = total;
        self.buffer.clear();
        let h = header(self.channels, self.sample_rate, total as u32);
        let path = &self.path;
        self.file.seek(SeekFrom::Start(4)).map_err(io_error(path))?;
        self.file.write_all(&h[4..8]).map_err(io_error(path))?;
        self.file.seek(SeekFrom::Start(40)).map_err(io_error(path))?;
        self.file.write_all(&h[40..44]).map_err(io_error(path))?;
        self.file.seek(SeekFrom::End(0)).map_err(io_error(path))?;
        Ok(())
    }

    /// Sample bytes written so far, buffered ones included.
    pub fn data_bytes(&self) -> u64 {
        self.written + self.buffer.len() as u64
    }

    /// Length of the audio written so far.
    pub fn duration(&self) -> Duration {
        duration_of(self.data_bytes(), self.channels, self.sample_rate)
    }

    /// Writes what is buffered, the final header, and syncs the file to
    /// disk; returns the sample bytes in the file.
    pub fn finish(mut self) -> Result<u64, WavError> {
        self.checkpoint()?;
        self.file.sync_data().map_err(io_error(&self.path))?;
        Ok(self.written)
    }
}

fn duration_of(bytes: u64, channels: u16, rate: u32) -> Duration {
    let frames = bytes / (u64::from(channels.max(1)) * 2);
    Duration::from_nanos((u128::from(frames) * 1_000_000_000 / u128::from(rate.max(1))) as u64)
}

/// What [`repair`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// Sample bytes in the file now.
    pub data_bytes: u64,
    /// Channels.
    pub channels: u16,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// The audio's length.
    pub duration: Duration,
    /// Whether the header had to change (false: it was already right).
    pub changed: bool,
}

/// Makes a WAV file's header match its data: the `data` chunk is taken to
/// run to the end of the file (cut to whole sample frames), and the RIFF and
/// data sizes are rewritten. For files left unfinished by a crash.
pub fn repair(path: &Path) -> Result<Repaired, WavError> {
    let not_wav = |what| WavError::NotWav {
        path: path.to_path_buf(),
        what,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_error(path))?;
    let len = file.metadata().map_err(io_error(path))?.len();
    let mut riff = [0u8; 12];
    file.read_exact(&mut riff)
        .map_err(|_| not_wav("shorter than a header"))?;
    if &riff[0..4] != b"RIFF" || &riff[8..12] != b"WAVE" {
        return Err(not_wav("no RIFF/WAVE signature"));
    }
    // Walk the chunks up to `data`; `fmt ` must come before it.
    let mut at = 12u64;
    let mut format = None;
    let data_start = loop {
        let mut chunk = [0u8; 8];
        file.seek(SeekFrom::Start(at)).map_err(io_error(path))?;
        file.read_exact(&mut chunk).map_err(|_| not_wav("no data chunk"))?;
        let size = u64::from(u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]));
        match &chunk[0..4] {
            b"fmt " => {
                let mut fmt = [0u8; 16];
                file.read_exact(&mut fmt).map_err(|_| not_wav("short fmt chunk"))?;
                let tag = u16::from_le_bytes([fmt[0], fmt[1]]);
                let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
                let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
                let bits = u16::from_le_bytes([fmt[14], fmt[15]]);
                if tag != 1 || bits != 16 || channels == 0 || rate == 0 {
                    return Err(not_wav("not 16-bit PCM"));
                }
                format = Some((channels, rate));
            }
            b"data" => break at + 8,
            _ => {}
        }
        // Chunks are padded to an even length.
        at += 8 + size + (size & 1);
    };
    let (channels, sample_rate) = format.ok_or_else(|| not_wav("data before fmt"))?;
    let frame = u64::from(channels) * 2;
    let data = len.saturating_sub(data_start);
    let data = (data / frame * frame).min(u64::from(u32::MAX - 36) / frame * frame);
    let riff_size = (data_start + data - 8) as u32;
    let mut old = [0u8; 4];
    file.seek(SeekFrom::Start(data_start - 4)).map_err(io_error(path))?;
    file.read_exact(&mut old).map_err(io_error(path))?;
    let mut old_riff = [0u8; 4];
    old_riff.copy_from_slice(&riff[4..8]);
    let changed =
        u32::from_le_bytes(old) != data as u32 || u32::from_le_bytes(old_riff) != riff_size || len != data_start + data;
    if changed {
        file.set_len(data_start + data).map_err(io_error(path))?;
        file.seek(SeekFrom::Start(4)).map_err(io_error(path))?;
        file.write_all(&riff_size.to_le_bytes()).map_err(io_error(path))?;
        file.seek(SeekFrom::Start(data_start - 4)).map_err(io_error(path))?;
        file.write_all(&(data as u32).to_le_bytes()).map_err(io_error(path))?;
        file.sync_data().map_err(io_error(path))?;
    }
    Ok(Repaired {
        data_bytes: data,
        channels,
        sample_rate,
        duration: duration_of(data, channels, sample_rate),
        changed,
    })
}

#[cfg(test)]
#[path = "wav_tests.rs"]
mod tests;
