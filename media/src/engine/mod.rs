//! The media engine: RTP legs on sockets from a port pool, spread over one
//! worker thread per core, each running a sans-IO [`core::MediaCore`].
//!
//! The handle ([`MediaEngine`]) is what call control uses: it allocates a
//! leg (binding its RTP and RTCP sockets at once, so a port that cannot be
//! bound is known before the SDP names it), then configures, bridges and
//! removes legs by sending commands to the leg's worker. Events (a dead leg,
//! a closed leg's counters) come back on one channel.

pub(crate) mod browser;
mod call_writer;
pub mod core;
mod decoded;
mod generate;
pub mod latch;
pub mod lateness;
mod leg;
pub mod port_pool;
mod recorder;
mod tap;
mod worker;

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use mio::{Poll, Waker};

pub use self::core::{Direction, LegConfig, LegId, LegStats, MediaEvent, MediaTransmit};
use port_pool::PortPool;
pub use port_pool::PortsExhausted;
pub use tap::{CallRecordingEvent, CallRecordingSpec, Channel, Tapped};
use worker::{Command, Worker};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Address RTP sockets bind to and SDP advertises.
    pub bind: IpAddr,
    /// First port of the RTP range.
    pub port_first: u16,
    /// Last port of the RTP range.
    pub port_last: u16,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// A leg without RTP this long is reported inactive.
    pub inactivity: Duration,
}

/// Why a leg could not be allocated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AllocateError {
    /// Every port of the range is in use.
    #[error(transparent)]
    Exhausted(#[from] PortsExhausted),
    /// Binding failed for every port tried.
    #[error("cannot bind RTP sockets: {0}")]
    Bind(io::Error),
}

/// A leg ready for SDP: its id and local RTP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    /// The leg.
    pub id: LegId,
    /// Local RTP address (RTCP on port + 1).
    pub local: SocketAddr,
}

struct WorkerHandle {
    commands: Sender<Command>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
    tick_lateness: Arc<lateness::TickLateness>,
}

/// The engine handle. See the module docs.
pub struct MediaEngine {
    workers: Vec<WorkerHandle>,
    pool: Arc<Mutex<PortPool>>,
    bind: IpAddr,
    next_leg: AtomicU64,
}

impl std::fmt::Debug for MediaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaEngine")
            .field("workers", &self.workers.len())
            .field("bind", &self.bind)
            .finish()
    }
}

impl MediaEngine {
    /// Starts the workers. Events arrive on the returned receiver.
    pub fn start(config: &EngineConfig) -> io::Result<(MediaEngine, tokio::sync::mpsc::UnboundedReceiver<MediaEvent>)> {
        let pool = PortPool::new(config.port_first, config.port_last)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let pool = Arc::new(Mutex::new(pool));
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let count = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut workers = Vec::with_capacity(count);
        for i in 0..count {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), worker::WAKER)?);
            let (commands, receiver) = std::sync::mpsc::channel();
            let core = core::MediaCore::new(config.inactivity, wall_clock_epoch());
            let tick_lateness = core.tick_lateness();
            let worker = Worker {
                poll,
                commands: receiver,
                events: events_tx.clone(),
                pool: pool.clone(),
                core,
                writer: recorder::Writer::start(format!("media-{i}-wav"), events_tx.clone())?,
                browsers: browser::Browsers::default(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("media-{i}"))
                .spawn(move || worker.run())?;
            workers.push(WorkerHandle {
                commands,
                waker,
                thread: Some(thread),
                tick_lateness,
            });
        }
        let engine = MediaEngine {
            workers,
            pool,
            bind: config.bind,
            next_leg: AtomicU64::new(1),
        };
        Ok((engine, events_rx))
    }

    fn send(&self, leg: LegId, command: Command) {
        let w = &self.workers[self.worker_of(leg)];
        if w.commands.send(command).is_ok() {
            worker::wake(&w.waker);
        }
    }

    fn worker_of(&self, leg: LegId) -> usize {
        // The call's group is in the high bits, so both legs share a worker.
        ((leg >> 8) % self.workers.len() as u64) as usize
    }

    /// A leg id in `group` (the call): legs of one group share a worker.
    fn new_leg_id(&self, group: u64) -> LegId {
        let n = self.next_leg.fetch_add(1, Ordering::Relaxed) & 0xff;
        (group << 8) | n
    }

    /// Takes a port pair and binds it.
    pub fn allocate(&self, group: u64) -> Result<Leg, AllocateError> {
        let mut last_error = None;
        for _ in 0..8 {
            let port = self.pool.lock().unwrap_or_else(PoisonError::into_inner).allocate()?;
            let bound = UdpSocket::bind((self.bind, port))
                .and_then(|rtp| UdpSocket::bind((self.bind, port + 1)).map(|rtcp| (rtp, rtcp)));
            match bound.and_then(|(rtp, rtcp)| {
                rtp.set_nonblocking(true)?;
                rtcp.set_nonblocking(true)?;
                Ok((rtp, rtcp))
            }) {
                Ok((rtp, rtcp)) => {
                    let id = self.new_leg_id(group);
                    self.send(
                        id,
                        Command::Add {
                            leg: id,
                            port,
                            rtp,
                            rtcp,
                        },
                    );
                    return Ok(Leg {
                        id,
                        local: SocketAddr::new(self.bind, port),
                    });
                }
                Err(e) => {
                    // Taken by another program: keep it out of rotation.
                    self.pool
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .quarantine(port);
                    last_error = Some(e);
                }
            }
        }
        Err(AllocateError::Bind(
            last_error.unwrap_or_else(|| io::Error::other("no port could be bound")),
        ))
    }

    /// Applies negotiated parameters to a leg.
    pub fn configure(&self, leg: LegId, config: LegConfig) {
        self.send(leg, Command::Configure { leg, config });
    }

    /// Bridges two legs of one group.
    pub fn bridge(&self, a: LegId, b: LegId) {
        self.send(a, Command::Bridge { a, b });
    }

    /// Plays a playlist to the leg's phone (prompts, tones, music on hold);
    /// [`MediaEvent::PlaybackFinished`] tells when it ends.
    pub fn play(&self, leg: LegId, playlist: crate::player::Playlist) {
        self.send(
            leg,
            Command::Play {
                leg,
                playlist: Box::new(playlist),
            },
        );
    }

    /// Sends a key press to the leg's phone as RFC 4733 events.
    pub fn send_digit(&self, leg: LegId, digit: char, duration: Duration) {
        self.send(leg, Command::SendDigit { leg, digit, duration });
    }

    /// Records what the leg's phone says into a WAV file (8 kHz mono) for at
    /// most `max`; [`MediaEvent::RecordingFinished`] tells when the file is done.
    pub fn record(&self, leg: LegId, path: std::path::PathBuf, max: Duration) {
        self.send(leg, Command::Record { leg, path, max });
    }

    /// Ends a recording early (a terminator key).
    pub fn stop_recording(&self, leg: LegId) {
        self.send(leg, Command::StopRecording { leg });
    }

    /// Records a call: what `caller` and `agent` send, aligned by RTP
    /// timestamp into a stereo WAV (the caller alone, in mono, without an
    /// agent), written by the worker's writer thread.
    /// [`MediaEvent::CallRecording`] tells when it started, stopped or failed;
    /// the recording is known by `caller` from here on. Both legs must be
    /// on one worker (one call's group).
    pub fn record_call(&self, caller: LegId, agent: Option<LegId>, spec: CallRecordingSpec) {
        self.send(
            caller,
            Command::RecordCall {
                caller,
                agent,
                spec: Box::new(spec),
            },
        );
    }

    /// Pauses a call recording: silence is written from now until it resumes.
    pub fn pause_call_recording(&self, caller: LegId) {
        self.send(caller, Command::PauseCallRecording { caller, paused: true });
    }

    /// Resumes a paused call recording.
    pub fn resume_call_recording(&self, caller: LegId) {
        self.send(caller, Command::PauseCallRecording { caller, paused: false });
    }

    /// Ends a call recording; the files are finished and
    /// [`CallRecordingEvent::Stopped`] follows. Releasing a recorded leg
    /// ends its recording too.
    pub fn stop_call_recording(&self, caller: LegId) {
        self.send(caller, Command::StopCallRecording { caller });
    }

    /// Stops what plays on the leg.
    pub fn stop(&self, leg: LegId) {
        self.send(leg, Command::Stop { leg });
    }

    /// Undoes a bridge.
    pub fn unbridge(&self, leg: LegId) {
        self.send(leg, Command::Unbridge { leg });
    }

    /// Removes a leg; its port returns to the pool and its counters come back
    /// as [`MediaEvent::Closed`].
    pub fn release(&self, leg: LegId) {
        self.send(leg, Command::Remove { leg });
    }

    /// Puts a WebRTC session in front of `leg` (see [`crate::webrtc`]).
    pub(crate) fn attach_browser(&self, leg: LegId, side: browser::BrowserSide) {
        self.send(
            leg,
            Command::AttachBrowser {
                leg,
                side: Box::new(side),
            },
        );
    }

    /// The browser's answer to the offer of `leg`'s session.
    pub(crate) fn browser_answer(&self, leg: LegId, sdp: String) {
        self.send(leg, Command::BrowserAnswer { leg, sdp });
    }

    /// A browser's new offer on `leg`; the session's answer arrives on `reply`.
    pub(crate) fn browser_reoffer(
        &self,
        leg: LegId,
        sdp: String,
        reply: std::sync::mpsc::Sender<Result<String, crate::webrtc::WebRtcError>>,
    ) {
        self.send(leg, Command::BrowserReoffer { leg, sdp, reply });
    }

    /// How late the workers' 20 ms ticks have run so far (all workers).
    pub fn tick_lateness(&self) -> lateness::Lateness {
        let mut total = lateness::Lateness::default();
        for w in &self.workers {
            total.add(&w.tick_lateness.snapshot());
        }
        total
    }

    /// Ports free now.
    pub fn ports_available(&self) -> usize {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner).available()
    }
}

/// The wall clock now as an NTP timestamp, paired with the monotonic instant,
/// so the cores can put NTP time in their reports without reading a clock.
fn wall_clock_epoch() -> (std::time::Instant, crate::rtp::stats::NtpTimestamp) {
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (
        std::time::Instant::now(),
        crate::rtp::stats::NtpTimestamp::from_unix(since_unix),
    )
}

impl Drop for MediaEngine {
    fn drop(&mut self) {
        for w in &self.workers {
            let _ = w.commands.send(Command::Shutdown);
            worker::wake(&w.waker);
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}
