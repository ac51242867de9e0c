//! Recordings a stopped switch left open: at start, each index row still
//! `recording` gets its WAV header fixed from the data written (the
//! `recordings` crate's `recover`, or `repair` for a file without a sidecar),
//! its sidecar, and the state `interrupted`; the call record keeps pointing
//! to it.

use std::path::Path;

use crate::store::recordings;

/// Repairs every recording left `recording` in the database at `db`;
/// returns how many.
pub(crate) fn recover(db: &Path) -> Result<usize, crate::store::StoreError> {
    let conn = recordings::open(db)?;
    let left = recordings::left_recording(&conn)?;
    for (id, wav) in &left {
        let sidecar_path = super::sidecar_path(wav);
        let (duration, error) = match ::recordings::recover(wav) {
            // The engine's recorder left a sidecar saying `recording`: the
            // file is repaired and the sidecar says `interrupted`.
            Ok(Some(sidecar)) => (Some(sidecar.duration_ms), None),
            // The sidecar says the recording ended: only the index missed it.
            Ok(None) => (
                ::recordings::Sidecar::read(&sidecar_path).ok().map(|s| s.duration_ms),
                None,
            ),
            // No sidecar (the engine never started, or a message): repair
            // the file alone, and write a sidecar from the index.
            Err(_) => match ::recordings::repair(wav) {
                Ok(r) => (Some(u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX)), None),
                Err(e) => {
                    tracing::error!(%e, recording = %id, path = %wav.display(), "an interrupted recording cannot be repaired");
                    (None, Some(format!("not repaired: {e}")))
                }
            },
        };
        let duration = duration.map(|d| i64::try_from(d).unwrap_or(i64::MAX));
        recordings::mark_interrupted(&conn, id, duration, error.as_deref())?;
        if !sidecar_path.exists() {
            if let Some(row) = recordings::get(&conn, id)? {
                write_sidecar_from_index(&row, wav, &sidecar_path);
            }
        }
    }
    Ok(left.len())
}

/// A sidecar for a recording the engine left none for, from its index row.
fn write_sidecar_from_index(row: &recordings::RecordingRow, wav: &Path, path: &Path) {
    let started = u64::try_from(row.started_ms).unwrap_or(0);
    let mut sidecar = ::recordings::Sidecar::new(&row.call_id, started);
    sidecar.queue.clone_from(&row.queue);
    sidecar.agent.clone_from(&row.agent);
    sidecar.caller = Some(row.caller.clone());
    sidecar.duration_ms = row.duration_ms.and_then(|d| u64::try_from(d).ok()).unwrap_or(0);
    sidecar.ended_unix_ms = Some(started + sidecar.duration_ms);
    sidecar.sample_rate = row.sample_rate;
    if row.kind != "call" {
        sidecar.layout = ::recordings::ChannelLayout::Mono;
    }
    sidecar.file = wav
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    sidecar.state = ::recordings::State::Interrupted {
        reason: row
            .error
            .clone()
            .unwrap_or_else(|| "the switch stopped before the recording ended".into()),
    };
    if let Err(e) = sidecar.write(path) {
        tracing::error!(%e, recording = %row.id, "sidecar of an interrupted recording not written");
    }
}
