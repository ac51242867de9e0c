//! The writer thread of a worker: voicemail (a leg's decoded audio, 8 kHz
//! mono) and call recordings (copied packets, decoded and aligned here, see
//! [`super::call_writer`]) go to disk on a thread of their own, so the
//! media loop never waits for the disk.
//!
//! Everything goes through one bounded channel. Audio that finds it full is
//! dropped and counted (the recording gets a gap of silence, counted in its
//! sidecar), never waited for. Opening, pausing and closing must not be lost
//! and must not wait either: when the channel is full they queue on the
//! worker's side, in order, and go at the next chance; audio behind them is
//! dropped until they have gone, so nothing overtakes them.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::call_writer::CallWriter;
use super::core::{LegId, MediaEvent};
use super::tap::{CallRecordingEvent, CallRecordingSpec, Tapped};
use crate::codec::Codec;

/// Messages that may wait for the disk: a message per worker wake-up (its
/// packets together) or voicemail frame; seconds of a busy worker.
const QUEUE: usize = 16_384;
/// How often call recordings write what has become final.
const TICK: Duration = Duration::from_millis(20);

type Events = tokio::sync::mpsc::UnboundedSender<MediaEvent>;

enum Message {
    Open(LegId, PathBuf),
    Samples(LegId, Vec<i16>),
    Close(LegId),
    OpenCall {
        recording: LegId,
        spec: Box<CallRecordingSpec>,
        at: Instant,
        codecs: [Option<Codec>; 2],
        mono: bool,
    },
    /// The packets of one worker wake-up, in one message.
    Packets(Vec<Tapped>),
    PauseCall {
        recording: LegId,
        at: Instant,
        paused: bool,
    },
    CloseCall {
        recording: LegId,
        at: Instant,
        dropped: [u64; 2],
    },
}

/// The worker's handle on its writer thread.
pub(crate) struct Writer {
    queue: Option<SyncSender<Message>>,
    /// Control messages waiting for room, oldest first.
    pending: VecDeque<Message>,
    /// Voicemail frames dropped.
    dropped: u64,
    /// Call recording packets dropped, per recording and channel.
    call_dropped: HashMap<LegId, [u64; 2]>,
    /// Packets copied since the last [`Writer::pump`], sent together.
    batch: Vec<Tapped>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread; call recording events go to `events`.
    pub(crate) fn start(name: String, events: Events) -> std::io::Result<Writer> {
        let (queue, rx) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || write_loop(rx, events))?;
        Ok(Writer {
            queue: Some(queue),
            pending: VecDeque::new(),
            dropped: 0,
            call_dropped: HashMap::new(),
            batch: Vec::new(),
            thread: Some(thread),
        })
    }

    /// Sends the packets of this wake-up in one message, then what waits
    /// for room. Called once per worker wake-up: one channel operation per
    /// wake-up rather than per packet.
    pub(crate) fn pump(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            if let Err(Message::Packets(lost)) = self.offer_audio(Message::Packets(batch)) {
                for t in lost {
                    if let Some(d) = self.call_dropped.get_mut(&t.recording) {
                        d[t.channel.index()] += 1;
                    }
                }
            }
        }
        self.pump_pending();
    }

    fn pump_pending(&mut self) {
        let Some(queue) = self.queue.as_ref() else { return };
        while let Some(m) = self.pending.pop_front() {
            match queue.try_send(m) {
                Ok(()) => {}
                Err(TrySendError::Full(m)) => {
                    self.pending.push_front(m);
                    return;
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.pending.clear();
                    return;
                }
            }
        }
    }

    /// Whether control messages wait for room (the worker then polls again soon).
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    fn control(&mut self, m: Message) {
        // Packets copied before a control message go before it.
        if !self.batch.is_empty() {
            self.pump();
        }
        self.pending.push_back(m);
        self.pump_pending();
    }

    /// Offers audio; gives it back when it was dropped.
    fn offer_audio(&mut self, m: Message) -> Result<(), Message> {
        self.pump_pending();
        if !self.pending.is_empty() {
            return Err(m);
        }
        match self.queue.as_ref() {
            Some(q) => q.try_send(m).map_err(|e| match e {
                TrySendError::Full(m) | TrySendError::Disconnected(m) => m,
            }),
            None => Err(m),
        }
    }

    pub(crate) fn open(&mut self, leg: LegId, path: PathBuf) {
        self.control(Message::Open(leg, path));
    }

    pub(crate) fn samples(&mut self, leg: LegId, pcm: Vec<i16>) {
        if self.offer_audio(Message::Samples(leg, pcm)).is_err() {
            self.dropped += 1;
            tracing::warn!(leg, dropped = self.dropped, "recording writer behind: frame dropped");
        }
    }

    pub(crate) fn close(&mut self, leg: LegId) {
        self.control(Message::Close(leg));
    }

    pub(crate) fn open_call(
        &mut self,
        recording: LegId,
        spec: Box<CallRecordingSpec>,
        at: Instant,
        codecs: [Option<Codec>; 2],
        mono: bool,
    ) {
        self.call_dropped.insert(recording, [0; 2]);
        self.control(Message::OpenCall {
            recording,
            spec,
            at,
            codecs,
            mono,
        });
    }

    pub(crate) fn packet(&mut self, t: Tapped) {
        self.batch.push(t);
    }

    pub(crate) fn pause_call(&mut self, recording: LegId, at: Instant, paused: bool) {
        if self.call_dropped.contains_key(&recording) {
            self.control(Message::PauseCall { recording, at, paused });
        }
    }

    pub(crate) fn close_call(&mut self, recording: LegId, at: Instant) {
        let dropped = self.call_dropped.remove(&recording).unwrap_or_default();
        self.control(Message::CloseCall { recording, at, dropped });
    }
}

impl Drop for Writer {
    /// At shutdown: what waits goes (waiting now is fine), then the thread
    /// finishes every file and is joined.
    fn drop(&mut self) {
        self.pump();
        if let Some(queue) = self.queue.take() {
            for m in self.pending.drain(..) {
                if queue.send(m).is_err() {
                    break;
                }
            }
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The writer thread's state.
struct Files {
    voicemail: HashMap<LegId, hound::WavWriter<BufWriter<File>>>,
    calls: HashMap<LegId, CallWriter>,
    events: Events,
}

fn write_loop(rx: Receiver<Message>, events: Events) {
    let mut files = Files {
        voicemail: HashMap::new(),
        calls: HashMap::new(),
        events,
    };
    // The thread wakes on its own tick and drains what came meanwhile, so
    // a worker's send never has to wake it (no system call per message).
    let mut next_tick = Instant::now() + TICK;
    'run: loop {
        std::thread::sleep(next_tick.saturating_duration_since(Instant::now()));
        loop {
            match rx.try_recv() {
                Ok(m) => files.handle(m),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => break 'run,
            }
        }
        let now = Instant::now();
        files.advance(now);
        next_tick = (next_tick + TICK).max(now);
    }
    // The engine is gone: every file is finished where it stands.
    let now = Instant::now();
    let recordings: Vec<LegId> = files.calls.keys().copied().collect();
    for recording in recordings {
        files.close_call(recording, now, [0; 2]);
    }
    for (leg, w) in files.voicemail.drain() {
        if let Err(e) = w.finalize() {
            tracing::error!(%e, leg, "recording not finalised");
        }
    }
}

impl Files {
    fn handle(&mut self, m: Message) {
        match m {
            Message::Samples(leg, pcm) => self.voicemail_samples(leg, &pcm),
            Message::Packets(packets) => {
                for t in &packets {
                    if let Some(c) = self.calls.get_mut(&t.recording) {
                        c.packet(t);
                    }
                }
            }
            Message::Open(leg, path) => self.open_voicemail(leg, path),
            Message::Close(leg) => {
                if let Some(w) = self.voicemail.remove(&leg) {
                    if let Err(e) = w.finalize() {
                        tracing::error!(%e, leg, "recording not finalised");
                    }
                }
            }
            Message::OpenCall {
                recording,
                spec,
                at,
                codecs,
                mono,
            } => match CallWriter::open(&spec, at, codecs, mono) {
                Ok(writer) => {
                    if let Some(old) = self.calls.insert(recording, writer) {
                        // Closed before, so this does not happen; never lose it.
                        let sidecar = old.fail(at, "replaced by a new recording".into());
                        tracing::warn!(recording, state = ?sidecar.state, "recording replaced");
                    }
                    self.event(CallRecordingEvent::Started {
                        leg: recording,
                        path: spec.spec.wav.clone(),
                    });
                }
                Err(e) => {
                    tracing::error!(%e, recording, "cannot start call recording");
                    self.event(CallRecordingEvent::Failed {
                        leg: recording,
                        path: spec.spec.wav.clone(),
                        reason: e.to_string(),
                        sidecar: None,
                    });
                }
            },
            Message::PauseCall { recording, at, paused } => {
                if let Some(c) = self.calls.get_mut(&recording) {
                    c.pause(at, paused);
                }
            }
            Message::CloseCall { recording, at, dropped } => self.close_call(recording, at, dropped),
        }
    }

    fn event(&self, e: CallRecordingEvent) {
        let _ = self.events.send(MediaEvent::CallRecording(e));
    }

    fn advance(&mut self, now: Instant) {
        let mut failed = Vec::new();
        for (&recording, c) in &mut self.calls {
            if let Err(e) = c.advance(now) {
                failed.push((recording, e.to_string()));
            }
        }
        for (recording, reason) in failed {
            let Some(c) = self.calls.remove(&recording) else {
                continue;
            };
            tracing::error!(recording, %reason, "call recording failed: stopped");
            let path = c.path().clone();
            let sidecar = c.fail(now, reason.clone());
            self.event(CallRecordingEvent::Failed {
                leg: recording,
                path,
                reason,
                sidecar: Some(Box::new(sidecar)),
            });
        }
    }

    fn close_call(&mut self, recording: LegId, at: Instant, dropped: [u64; 2]) {
        let Some(c) = self.calls.remove(&recording) else { return };
        let path = c.path().clone();
        match c.finish(at, dropped) {
            Ok(sidecar) => self.event(CallRecordingEvent::Stopped {
                leg: recording,
                path,
                sidecar: Box::new(sidecar),
            }),
            Err((reason, sidecar)) => {
                tracing::error!(%reason, recording, "call recording not finished");
                self.event(CallRecordingEvent::Failed {
                    leg: recording,
                    path,
                    reason,
                    sidecar: Some(sidecar),
                });
            }
        }
    }

    fn open_voicemail(&mut self, leg: LegId, path: PathBuf) {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match hound::WavWriter::create(&path, spec) {
            Ok(w) => {
                self.voicemail.insert(leg, w);
            }
            Err(e) => tracing::error!(%e, path = %path.display(), "cannot create recording"),
        }
    }

    fn voicemail_samples(&mut self, leg: LegId, pcm: &[i16]) {
        if let Some(w) = self.voicemail.get_mut(&leg) {
            for &s in pcm {
                if w.write_sample(s).is_err() {
                    tracing::error!(leg, "recording write failed: stopped");
                    self.voicemail.remove(&leg);
                    break;
                }
            }
        }
    }
}
