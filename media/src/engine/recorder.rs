//! Writes recorded legs to WAV files (8 kHz, mono, 16-bit) on a thread of
//! its own, so a worker never waits for the disk: frames go through a
//! bounded channel, and when it is full they are dropped and counted rather
//! than stalling the media loop.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

use super::core::LegId;

/// Frames that may wait for the disk (about 40 s of one call).
const QUEUE: usize = 2048;

enum Message {
    Open(LegId, PathBuf),
    Samples(LegId, Vec<i16>),
    Close(LegId),
}

/// The worker's handle on its writer thread.
pub(crate) struct Writer {
    queue: SyncSender<Message>,
    dropped: u64,
}

impl Writer {
    /// Starts the writer thread.
    pub(crate) fn start(name: String) -> std::io::Result<Writer> {
        let (queue, rx) = sync_channel(QUEUE);
        std::thread::Builder::new().name(name).spawn(move || write_loop(rx))?;
        Ok(Writer { queue, dropped: 0 })
    }

    pub(crate) fn open(&mut self, leg: LegId, path: PathBuf) {
        // Opening and closing must not be lost: they wait for room.
        let _ = self.queue.send(Message::Open(leg, path));
    }

    pub(crate) fn samples(&mut self, leg: LegId, pcm: Vec<i16>) {
        if let Err(TrySendError::Full(_)) = self.queue.try_send(Message::Samples(leg, pcm)) {
            self.dropped += 1;
            tracing::warn!(leg, dropped = self.dropped, "recording writer behind: frame dropped");
        }
    }

    pub(crate) fn close(&mut self, leg: LegId) {
        let _ = self.queue.send(Message::Close(leg));
    }
}

fn write_loop(rx: Receiver<Message>) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut files: HashMap<LegId, hound::WavWriter<BufWriter<File>>> = HashMap::new();
    while let Ok(message) = rx.recv() {
        match message {
            Message::Open(leg, path) => {
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                match hound::WavWriter::create(&path, spec) {
                    Ok(w) => {
                        files.insert(leg, w);
                    }
                    Err(e) => tracing::error!(%e, path = %path.display(), "cannot create recording"),
                }
            }
            Message::Samples(leg, pcm) => {
                if let Some(w) = files.get_mut(&leg) {
                    for s in pcm {
                        if w.write_sample(s).is_err() {
                            tracing::error!(leg, "recording write failed: stopped");
                            files.remove(&leg);
                            break;
                        }
                    }
                }
            }
            Message::Close(leg) => {
                if let Some(w) = files.remove(&leg) {
                    if let Err(e) = w.finalize() {
                        tracing::error!(%e, leg, "recording not finalised");
                    }
                }
            }
        }
    }
}
