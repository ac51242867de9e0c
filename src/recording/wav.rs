//! Recordings a stopped switch left open: at start, each row still
//! `recording` has its WAV header fixed from the data written, gets a
//! sidecar, and is marked `interrupted`; the call record keeps pointing to it.

use std::path::Path;

use crate::store::recordings;

/// What the file held once repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Repaired {
    /// Length of the audio, ms.
    pub(crate) duration_ms: i64,
}

/// Fixes the RIFF and data sizes of a WAV file cut short (the writer
/// streams chunks and only writes the sizes when it finishes), from the
/// file's length; a torn last frame is cut off.
pub(crate) fn repair(path: &Path) -> std::io::Result<Repaired> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned());
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    let mut header = [0u8; 12];
    file.read_exact(&mut header)?;
    if &header[0..4] != b"RIFF" || &header[8..12] != b"WAVE" {
        return Err(bad("not a RIFF/WAVE file"));
    }
    // Walk the chunks to `fmt ` and `data`.
    let mut at = 12u64;
    let mut block_align = 0u64;
    let mut byte_rate = 0u64;
    loop {
        let mut chunk = [0u8; 8];
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut chunk)?;
        let size = u64::from(u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]));
        if &chunk[0..4] == b"fmt " {
            let mut fmt = [0u8; 16];
            file.read_exact(&mut fmt)?;
            byte_rate = u64::from(u32::from_le_bytes([fmt[8], fmt[9], fmt[10], fmt[11]]));
            block_align = u64::from(u16::from_le_bytes([fmt[12], fmt[13]]));
        } else if &chunk[0..4] == b"data" {
            if block_align == 0 || byte_rate == 0 {
                return Err(bad("data before a usable fmt chunk"));
            }
            let start = at + 8;
            let data = (len.saturating_sub(start) / block_align) * block_align;
            let data32 = u32::try_from(data).map_err(|_| bad("too long for WAV"))?;
            file.set_len(start + data)?;
            file.seek(SeekFrom::Start(at + 4))?;
            file.write_all(&data32.to_le_bytes())?;
            let riff = u32::try_from(start + data - 8).map_err(|_| bad("too long for WAV"))?;
            file.seek(SeekFrom::Start(4))?;
            file.write_all(&riff.to_le_bytes())?;
            file.sync_all()?;
            let duration_ms = i64::try_from(data * 1000 / byte_rate).unwrap_or(i64::MAX);
            return Ok(Repaired { duration_ms });
        }
        at += 8 + size + (size & 1);
        if at >= len {
            return Err(bad("no data chunk"));
        }
    }
}

/// Repairs every recording left `recording` in the database at `db`;
/// returns how many.
pub(crate) fn recover(db: &Path) -> Result<usize, crate::store::StoreError> {
    let conn = recordings::open(db)?;
    let left = recordings::left_recording(&conn)?;
    for (id, path) in &left {
        let (duration, error) = match repair(path) {
            Ok(r) => (Some(r.duration_ms), None),
            Err(e) => {
                tracing::error!(%e, recording = %id, path = %path.display(), "an interrupted recording cannot be repaired");
                (None, Some(format!("not repaired: {e}")))
            }
        };
        recordings::mark_interrupted(&conn, id, duration, error.as_deref())?;
        if let Some(row) = recordings::get(&conn, id)? {
            let sidecar = serde_json::json!({
                "id": row.id,
                "call_id": row.call_id,
                "kind": row.kind,
                "queue": row.queue,
                "agent": row.agent,
                "caller": row.caller,
                "started_ms": row.started_ms,
                "ended_ms": row.ended_ms,
                "duration_ms": row.duration_ms,
                "pauses": row.pauses,
                "codec": row.codec,
                "sample_rate": row.sample_rate,
                "state": row.state,
                "error": row.error,
                "file": path.file_name().map(|f| f.to_string_lossy().into_owned()),
            });
            let text = serde_json::to_vec_pretty(&sidecar).unwrap_or_default();
            if let Err(e) = std::fs::write(super::sidecar_path(path), text) {
                tracing::error!(%e, recording = %id, "sidecar of an interrupted recording not written");
            }
        }
    }
    Ok(left.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_cut_short_is_fixed_from_the_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..16_000 {
            w.write_sample((i % 100) as i16).unwrap();
        }
        w.flush().unwrap();
        // A crash: the sizes in the header are whatever flush left, and a
        // torn frame follows.
        std::mem::forget(w);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[4..8].copy_from_slice(&0u32.to_le_bytes());
        bytes[40..44].copy_from_slice(&0u32.to_le_bytes());
        bytes.push(7);
        std::fs::write(&path, &bytes).unwrap();
        let r = repair(&path).unwrap();
        assert_eq!(r.duration_ms, 1000);
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.len(), 16_000);
    }
}
