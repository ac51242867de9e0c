//! Two channels of a call on one sample clock.
//!
//! Audio from the two legs arrives in arrival order, decoded to the
//! recording's rate, each frame with its RTP timestamp and clock rate. A
//! channel's stream (one SSRC at one clock rate) is anchored where its first
//! packet arrived, counted from the recording's start; every later frame of
//! the stream is placed by its timestamp from that anchor, never by arrival,
//! so loss leaves silence of the right length, silence suppression (a
//! timestamp jump) leaves the pause the talker made, and a packet that
//! arrives out of order still lands in its place.
//!
//! Output lags the present by a reorder window: samples older than that are
//! final and go out as interleaved stereo in fixed chunks; a frame arriving
//! after its place went out is dropped and counted. A new SSRC or clock rate
//! (a re-INVITE, a codec change, a phone that restarted its stream) anchors
//! again at its arrival. A stream whose timestamps stop fitting arrival (a
//! jump forward beyond `max_ahead`, or half a second of frames all too late,
//! which is what a timestamp jump backwards or a slow sender clock looks
//! like) is anchored again too, and counted as a resync.
//!
//! A pause covers every sample from the moment of pausing to the moment of
//! resuming with silence, whatever arrives for that span, late or not.
//!
//! Time is explicit: `now` is the time since the recording started.

use std::time::Duration;

/// One side of the stereo file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The first sample of each pair.
    Left,
    /// The second sample of each pair.
    Right,
}

impl Channel {
    /// The channel's place in a per-channel pair: 0 for left, 1 for right.
    pub fn index(self) -> usize {
        match self {
            Channel::Left => 0,
            Channel::Right => 1,
        }
    }
}

/// Settings of an [`Aligner`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlignConfig {
    /// Output sample rate in Hz; frames come decoded to this rate.
    pub sample_rate: u32,
    /// Samples per channel in one output chunk.
    pub chunk: usize,
    /// How long output waits for late packets.
    pub reorder_window: Duration,
    /// How far ahead of its arrival a frame's timestamp may place it before
    /// the stream is anchored again.
    pub max_ahead: Duration,
}

impl AlignConfig {
    /// 20 ms chunks, a 200 ms reorder window and 1 s ahead at `sample_rate`.
    pub fn new(sample_rate: u32) -> AlignConfig {
        AlignConfig {
            sample_rate,
            chunk: (sample_rate / 50).max(1) as usize,
            reorder_window: Duration::from_millis(200),
            max_ahead: Duration::from_secs(1),
        }
    }
}

/// A decoded frame of one channel.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Which side it goes to.
    pub channel: Channel,
    /// The RTP stream it came in.
    pub ssrc: u32,
    /// Its RTP timestamp.
    pub timestamp: u32,
    /// The RTP clock rate of its codec (8000 for G.711, 48000 for Opus).
    pub clock_rate: u32,
    /// PCM at the aligner's sample rate.
    pub pcm: &'a [i16],
}

/// What happened to one channel's audio.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Frames placed (at least in part).
    pub frames: u64,
    /// Frames whose place had already gone out: dropped.
    pub late: u64,
    /// Samples of frames that came partly too late, cut.
    pub trimmed_samples: u64,
    /// Samples that another frame had already filled (duplicates).
    pub overlapping_samples: u64,
    /// Samples written as silence because no audio came for them.
    pub silence_samples: u64,
    /// Streams started after the first (new SSRC or clock rate).
    pub new_streams: u64,
    /// Times the stream was anchored again because its timestamps stopped
    /// fitting arrival.
    pub resyncs: u64,
    /// Frames ignored: empty, a clock rate of 0, or after the end.
    pub ignored: u64,
}

/// A stream being placed: where its anchor packet went.
#[derive(Debug, Clone)]
struct Stream {
    ssrc: u32,
    clock_rate: u32,
    /// Extended (unwrapped) timestamp of the anchor.
    anchor_ts: i64,
    /// Output sample position of the anchor.
    anchor_pos: i64,
    /// Highest extended timestamp seen, the reference for unwrapping.
    highest_ts: i64,
    /// Samples of frames in a row that came too late.
    late_run: u64,
}

impl Stream {
    fn new(frame: &Frame<'_>, arrival: u64) -> Stream {
        Stream {
            ssrc: frame.ssrc,
            clock_rate: frame.clock_rate,
            anchor_ts: i64::from(frame.timestamp),
            anchor_pos: arrival as i64,
            highest_ts: i64::from(frame.timestamp),
            late_run: 0,
        }
    }

    /// The frame's timestamp, unwrapped near the highest seen.
    fn extend(&mut self, ts: u32) -> i64 {
        let delta = i64::from(ts.wrapping_sub(self.highest_ts as u32) as i32);
        let ext = self.highest_ts + delta;
        self.highest_ts = self.highest_ts.max(ext);
        ext
    }

    fn position(&self, ext: i64, rate: u32) -> i64 {
        let units = i128::from(ext - self.anchor_ts);
        let samples = units * i128::from(rate) / i128::from(self.clock_rate);
        self.anchor_pos + samples as i64
    }

    fn reanchor(&mut self, ext: i64, arrival: u64) {
        self.anchor_ts = ext;
        self.anchor_pos = arrival as i64;
        self.highest_ts = ext;
        self.late_run = 0;
    }
}

/// One channel: audio placed but not yet out, from the aligner's `flushed`.
#[derive(Debug, Clone, Default)]
struct Lane {
    /// Samples from `flushed` on; 0 where nothing was placed.
    samples: Vec<i16>,
    filled: Vec<bool>,
    stream: Option<Stream>,
    stats: ChannelStats,
}

/// A paused span, in output samples; `end` is open while paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pause {
    start: u64,
    end: Option<u64>,
}

/// The alignment state machine. See the module docs.
#[derive(Debug, Clone)]
pub struct Aligner {
    config: AlignConfig,
    /// Samples per channel handed out so far: the position of the lanes' front.
    flushed: u64,
    lanes: [Lane; 2],
    pauses: Vec<Pause>,
    finished: bool,
}

impl Aligner {
    /// An aligner at the start of a recording.
    pub fn new(mut config: AlignConfig) -> Aligner {
        config.sample_rate = config.sample_rate.max(1);
        config.chunk = config.chunk.max(1);
        Aligner {
            config,
            flushed: 0,
            lanes: [Lane::default(), Lane::default()],
            pauses: Vec::new(),
            finished: false,
        }
    }

    /// The settings.
    pub fn config(&self) -> &AlignConfig {
        &self.config
    }

    /// The output position of `now`, in samples per channel.
    fn position_of(&self, now: Duration) -> u64 {
        (now.as_nanos() * u128::from(self.config.sample_rate) / 1_000_000_000) as u64
    }

    fn samples_of(&self, d: Duration) -> u64 {
        self.position_of(d)
    }

    /// Places a frame that arrived at `now`.
    pub fn push(&mut self, frame: Frame<'_>, now: Duration) {
        let arrival = self.position_of(now);
        let rate = self.config.sample_rate;
        let max_ahead = self.samples_of(self.config.max_ahead) as i64;
        let resync_after = u64::from(rate / 2);
        let limit = arrival as i64 + max_ahead + self.config.chunk as i64;
        let flushed = self.flushed;
        let lane = &mut self.lanes[frame.channel.index()];
        if self.finished || frame.pcm.is_empty() || frame.clock_rate == 0 {
            lane.stats.ignored += 1;
            return;
        }
        let len = frame.pcm.len() as i64;
        let same_stream = lane
            .stream
            .as_ref()
            .is_some_and(|s| s.ssrc == frame.ssrc && s.clock_rate == frame.clock_rate);
        let pos = if let (true, Some(stream)) = (same_stream, lane.stream.as_mut()) {
            let ext = stream.extend(frame.timestamp);
            let mut pos = stream.position(ext, rate);
            let too_late = pos + len <= flushed as i64;
            if too_late {
                stream.late_run += frame.pcm.len() as u64;
            }
            if pos > arrival as i64 + max_ahead || (too_late && stream.late_run >= resync_after) {
                stream.reanchor(ext, arrival);
                lane.stats.resyncs += 1;
                pos = arrival as i64;
            } else if !too_late {
                stream.late_run = 0;
            }
            pos
        } else {
            if lane.stream.is_some() {
                lane.stats.new_streams += 1;
            }
            lane.stream = Some(Stream::new(&frame, arrival));
            arrival as i64
        };
        let start = pos.max(flushed as i64);
        let skip = (start - pos) as usize;
        if skip >= frame.pcm.len() {
            lane.stats.late += 1;
            return;
        }
        lane.stats.frames += 1;
        lane.stats.trimmed_samples += skip as u64;
        // A frame reaching past what a lane may hold (`max_ahead` beyond
        // its arrival) is cut there, so memory stays bounded.
        let room = (limit - start).max(0) as usize;
        let pcm = &frame.pcm[skip..];
        let pcm = &pcm[..pcm.len().min(room)];
        let at = (start - flushed as i64) as usize;
        if lane.samples.len() < at + pcm.len() {
            lane.samples.resize(at + pcm.len(), 0);
            lane.filled.resize(at + pcm.len(), false);
        }
        let filled = &mut lane.filled[at..at + pcm.len()];
        if !filled.contains(&true) {
            // The usual case: a place nothing has filled yet.
            lane.samples[at..at + pcm.len()].copy_from_slice(pcm);
            filled.fill(true);
        } else {
            for (i, &s) in pcm.iter().enumerate() {
                if lane.filled[at + i] {
                    lane.stats.overlapping_samples += 1;
                } else {
                    lane.samples[at + i] = s;
                    lane.filled[at + i] = true;
                }
            }
        }
    }

    /// Starts a pause at `now`: silence from here until [`Aligner::resume`].
    pub fn pause(&mut self, now: Duration) {
        if self.is_paused() || self.finished {
            return;
        }
        let start = self.position_of(now).max(self.flushed);
        self.pauses.push(Pause { start, end: None });
    }

    /// Ends the pause at `now`.
    pub fn resume(&mut self, now: Duration) {
        let at = self.position_of(now);
        if let Some(p) = self.pauses.last_mut().filter(|p| p.end.is_none()) {
            p.end = Some(at.max(p.start));
        }
    }

    /// Whether a pause is open.
    pub fn is_paused(&self) -> bool {
        self.pauses.last().is_some_and(|p| p.end.is_none())
    }

    /// The paused spans as (start, end) offsets from the recording's start;
    /// `end` is `None` while the pause is open.
    pub fn pauses(&self) -> Vec<(Duration, Option<Duration>)> {
        let rate = u64::from(self.config.sample_rate);
        let d = |s: u64| Duration::from_nanos((u128::from(s) * 1_000_000_000 / u128::from(rate)) as u64);
        self.pauses.iter().map(|p| (d(p.start), p.end.map(d))).collect()
    }

    /// Appends to `out` the interleaved chunks final at `now` (older than
    /// the reorder window); returns the samples per channel appended.
    pub fn advance(&mut self, now: Duration, out: &mut Vec<i16>) -> usize {
        if self.finished {
            return 0;
        }
        let ready = self
            .position_of(now)
            .saturating_sub(self.samples_of(self.config.reorder_window));
        let chunk = self.config.chunk as u64;
        let mut emitted = 0;
        while self.flushed + chunk <= ready {
            self.emit(chunk as usize, out);
            emitted += chunk as usize;
        }
        emitted
    }

    /// Ends the recording at `now`: appends everything up to `now` (the last
    /// chunk may be short) and ignores what comes after. The total output is
    /// exactly `now` long.
    pub fn finish(&mut self, now: Duration, out: &mut Vec<i16>) -> usize {
        if self.finished {
            return 0;
        }
        let end = self.position_of(now);
        let chunk = self.config.chunk as u64;
        let mut emitted = 0;
        while self.flushed < end {
            let n = chunk.min(end - self.flushed) as usize;
            self.emit(n, out);
            emitted += n;
        }
        self.resume(now);
        self.finished = true;
        for lane in &mut self.lanes {
            lane.samples.clear();
            lane.filled.clear();
        }
        emitted
    }

    /// Samples per channel handed out so far.
    pub fn flushed(&self) -> u64 {
        self.flushed
    }

    /// What happened to a channel's audio.
    pub fn stats(&self, channel: Channel) -> &ChannelStats {
        &self.lanes[channel.index()].stats
    }

    /// Hands out the next `n` samples per channel, interleaved.
    fn emit(&mut self, n: usize, out: &mut Vec<i16>) {
        let start = self.flushed;
        let base = out.len();
        for lane in &mut self.lanes {
            if lane.samples.len() < n {
                lane.samples.resize(n, 0);
                lane.filled.resize(n, false);
            }
            let unfilled = lane.filled[..n].iter().filter(|&&f| !f).count();
            lane.stats.silence_samples += unfilled as u64;
        }
        let [left, right] = &self.lanes;
        // Unfilled places hold 0, so the samples go out as they are.
        out.extend(
            left.samples[..n]
                .iter()
                .zip(&right.samples[..n])
                .flat_map(|(&l, &r)| [l, r]),
        );
        let end = start + n as u64;
        for p in &self.pauses {
            let (from, to) = (p.start.max(start), p.end.unwrap_or(u64::MAX).min(end));
            if from < to {
                let (from, to) = ((from - start) as usize, (to - start) as usize);
                out[base + 2 * from..base + 2 * to].fill(0);
            }
        }
        for lane in &mut self.lanes {
            lane.samples.drain(..n);
            lane.filled.drain(..n);
        }
        self.flushed = end;
    }
}

#[cfg(test)]
#[path = "align_tests.rs"]
mod tests;
