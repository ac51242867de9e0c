//! The adaptive jitter buffer for legs whose audio is decoded (IVR, recording,
//! transcoding). Relayed legs do not use it: their packets pass through.
//!
//! A [`JitterBuffer`] is a sans-IO state machine: [`JitterBuffer::insert`]
//! takes each RTP packet with its arrival time, [`JitterBuffer::pop`] is called
//! once per frame tick (every [`JitterConfig::frame`], 20 ms by default) and
//! returns the next [`Frame`]: audio, a lost frame to conceal, or nothing.
//! Packets are expected to carry one frame each (ptime = frame).
//!
//! # Algorithm
//!
//! *Delay estimate.* Each packet gives a relative delay sample
//! r = arrival − timestamp (both in µs, from the first packet). The last
//! [`DELAY_WINDOW`] samples are kept; the packet that arrived fastest (min r)
//! marks the network's base delay, and the spread max r − min r is the delay
//! a packet must wait so that every packet of the window would have arrived in
//! time. The **target delay** is that spread, clamped to
//! [`JitterConfig::min_delay`]..=[`JitterConfig::max_delay`]. Late packets
//! count in the window too, so a jitter spike raises the target at once;
//! when the spike leaves the window (2 s at 20 ms) the target falls back.
//!
//! *Playout.* A packet's current delay is d = now − (its timestamp + base
//! delay). Playback of a talkspurt starts when the first packet's d reaches
//! the target; from then on each tick plays the next sequence number. When
//! that packet is missing but later ones are buffered, the tick returns
//! [`Frame::Lost`] (the caller conceals, see [`conceal`]) and the packet,
//! should it come later, is dropped as late. When the buffer runs dry, ticks
//! return [`Frame::Empty`] and playback restarts with the same rule, so an
//! underrun raises the delay. While playing, a packet whose d exceeds the
//! target by a frame or more is skipped when the next one is
//! buffered: the delay comes down one frame per tick after the jitter calms.
//! Conversely, when the target grew while playing, a tick whose packet is not
//! yet due by the new target returns [`Frame::Lost`] without dropping anything
//! (a stretch, counted apart from loss), raising the delay one frame a tick.
//!
//! *Talkspurts.* A packet with the marker bit, or whose timestamp leaves a gap
//! after the previous one (silence suppression), starts a new talkspurt: the
//! silence plays as [`Frame::Empty`] and the talkspurt waits for the target
//! delay, which adapts the delay at the natural place. Sequence numbers run
//! on across silence, so gaps there are not counted as loss.
//!
//! *Resets.* A new SSRC, a jump of more than [`MAX_SEQ_JUMP`] sequence
//! numbers, or a timestamp that moves more than [`MAX_TS_JUMP`] away from
//! the arrival clock flushes the buffer and starts over with the packet.
//!
//! *Bounds.* At most [`JitterConfig::max_packets`] packets are held (when
//! full, the oldest is dropped) and payloads above
//! [`JitterConfig::max_payload`] bytes are refused. Payload buffers are
//! recycled, so a running buffer allocates nothing per packet.

mod conceal;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use conceal::conceal;

/// Delay samples kept for the target delay (2 s of 20 ms packets).
pub const DELAY_WINDOW: usize = 100;
/// A sequence-number jump beyond this (either way) resets the buffer.
pub const MAX_SEQ_JUMP: i64 = 1000;
/// A timestamp that moves this far from the arrival clock resets the buffer.
pub const MAX_TS_JUMP: Duration = Duration::from_secs(2);

/// Settings of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// The RTP clock rate of the stream, in Hz.
    pub clock_rate: u32,
    /// Duration of one frame: the tick of [`JitterBuffer::pop`] and the
    /// duration of each packet.
    pub frame: Duration,
    /// The least playout delay.
    pub min_delay: Duration,
    /// The most playout delay.
    pub max_delay: Duration,
    /// Most packets held.
    pub max_packets: usize,
    /// Largest payload accepted, in bytes.
    pub max_payload: usize,
}

impl JitterConfig {
    /// 20 ms frames at `clock_rate`, a delay between 20 and 200 ms, at most
    /// 50 packets of at most 1500 bytes.
    pub fn new(clock_rate: u32) -> Self {
        JitterConfig {
            clock_rate,
            frame: Duration::from_millis(20),
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            max_packets: 50,
            max_payload: 1500,
        }
    }
}

/// What one tick plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// The payload of the next packet, to decode.
    Audio(&'a [u8]),
    /// No packet for this tick in the middle of a talkspurt: conceal it.
    /// Either the packet due now was lost (counted in [`JitterStats::lost`])
    /// or the buffer holds playout one tick to raise its delay
    /// ([`JitterStats::stretched`]).
    Lost,
    /// Nothing to play: before a talkspurt, in a silence, or after an underrun.
    Empty,
}

/// What [`JitterBuffer::insert`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Buffered for playout.
    Buffered,
    /// Buffered, after the buffer was reset for a new SSRC or a jump.
    Reset,
    /// Dropped: its playout time has passed.
    Late,
    /// Dropped: the same sequence number is buffered or was played.
    Duplicate,
    /// Dropped: the buffer is full and the packet is older than all it holds.
    Overflow,
    /// Dropped: the payload is larger than [`JitterConfig::max_payload`].
    TooLarge,
}

/// Counters of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterStats {
    /// Packets buffered.
    pub inserted: u64,
    /// Frames played as audio.
    pub played: u64,
    /// Packets never received by their playout time.
    pub lost: u64,
    /// Packets dropped for arriving after their playout time.
    pub late: u64,
    /// Duplicated packets dropped.
    pub duplicates: u64,
    /// Packets dropped because the buffer was full.
    pub overflow: u64,
    /// Packets skipped to bring the delay down to the target.
    pub discarded: u64,
    /// Ticks concealed, not lost, to raise the delay to a grown target.
    pub stretched: u64,
    /// Packets refused for their size.
    pub too_large: u64,
    /// Resets for a new SSRC or a sequence or timestamp jump.
    pub resets: u64,
}

#[derive(Debug)]
struct Slot {
    seq: i64,
    ts: i64,
    marker: bool,
    payload: Vec<u8>,
}

/// The adaptive jitter buffer (see the module docs for the algorithm).
#[derive(Debug)]
pub struct JitterBuffer {
    config: JitterConfig,
    frame_ts: i64,
    slots: VecDeque<Slot>,
    free: Vec<Vec<u8>>,
    current: Vec<u8>,
    stats: JitterStats,
    ssrc: Option<u32>,
    /// Arrival time of the first packet since the last reset.
    epoch: Option<Instant>,
    /// Highest sequence number and its timestamp, raw and extended.
    reference: Option<(u16, i64, u32, i64)>,
    window: [i64; DELAY_WINDOW],
    window_len: usize,
    window_pos: usize,
    /// Base delay (min r) and target, in µs.
    base_us: i64,
    target_us: i64,
    /// Next sequence number and timestamp to play, once playback started.
    next: Option<(i64, i64)>,
    playing: bool,
    /// Bit i: sequence number `next - 1 - i` was played.
    played: u64,
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(config: JitterConfig) -> Self {
        let clock_rate = i64::from(config.clock_rate.max(1));
        let frame_ts = (config.frame.as_micros() as i64 * clock_rate / 1_000_000).max(1);
        JitterBuffer {
            config,
            frame_ts,
            slots: VecDeque::with_capacity(config.max_packets),
            free: Vec::new(),
            current: Vec::new(),
            stats: JitterStats::default(),
            ssrc: None,
            epoch: None,
            reference: None,
            window: [0; DELAY_WINDOW],
            window_len: 0,
            window_pos: 0,
            base_us: 0,
            target_us: config.min_delay.as_micros() as i64,
            next: None,
            playing: false,
            played: 0,
        }
    }

    /// The counters.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Packets held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when no packet is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The current target playout delay.
    pub fn target_delay(&self) -> Duration {
        Duration::from_micros(self.target_us.max(0) as u64)
    }

    /// The delay the next buffered packet would be played with at `now`.
    pub fn current_delay(&self, now: Instant) -> Option<Duration> {
        let head = self.slots.front()?;
        Some(Duration::from_micros(self.delay_us(now, head.ts).max(0) as u64))
    }

    fn ts_us(&self, ts: i64) -> i64 {
        ts * 1_000_000 / i64::from(self.config.clock_rate.max(1))
    }

    fn since_epoch_us(&self, now: Instant) -> i64 {
        self.epoch
            .map_or(0, |e| now.saturating_duration_since(e).as_micros() as i64)
    }

    fn delay_us(&self, now: Instant, ts: i64) -> i64 {
        self.since_epoch_us(now) - self.ts_us(ts) - self.base_us
    }

    fn reset(&mut self) {
        while let Some(slot) = self.slots.pop_front() {
            self.free.push(slot.payload);
        }
        self.epoch = None;
        self.reference = None;
        self.window_len = 0;
        self.window_pos = 0;
        self.base_us = 0;
        self.target_us = self.config.min_delay.as_micros() as i64;
        self.next = None;
        self.playing = false;
        self.played = 0;
    }

    /// Extends `seq` and `ts` against the highest packet so far; `None` when
    /// the packet jumps too far.
    fn extend(&self, now: Instant, seq: u16, ts: u32) -> Option<(i64, i64)> {
        let Some((ref_seq, ref_ext_seq, ref_ts, ref_ext_ts)) = self.reference else {
            return Some((i64::from(seq), i64::from(ts)));
        };
        let ext_seq = ref_ext_seq + i64::from(seq.wrapping_sub(ref_seq) as i16);
        let ext_ts = ref_ext_ts + i64::from(ts.wrapping_sub(ref_ts) as i32);
        if (ext_seq - ref_ext_seq).abs() > MAX_SEQ_JUMP {
            return None;
        }
        let r = self.since_epoch_us(now) - self.ts_us(ext_ts);
        if (r - self.base_us).abs() > MAX_TS_JUMP.as_micros() as i64 {
            return None;
        }
        Some((ext_seq, ext_ts))
    }

    fn add_delay_sample(&mut self, r: i64) {
        self.window[self.window_pos] = r;
        self.window_pos = (self.window_pos + 1) % DELAY_WINDOW;
        self.window_len = (self.window_len + 1).min(DELAY_WINDOW);
        let samples = &self.window[..self.window_len];
        let min = samples.iter().copied().min().unwrap_or(r);
        let max = samples.iter().copied().max().unwrap_or(r);
        self.base_us = min;
        let lo = self.config.min_delay.as_micros() as i64;
        let hi = (self.config.max_delay.as_micros() as i64).max(lo);
        self.target_us = (max - min).clamp(lo, hi);
    }

    /// A packet of the stream `ssrc` arrived at `now`.
    pub fn insert(&mut self, now: Instant, ssrc: u32, seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Inserted {
        if payload.len() > self.config.max_payload {
            self.stats.too_large += 1;
            return Inserted::TooLarge;
        }
        let mut outcome = Inserted::Buffered;
        if self.ssrc.is_some_and(|s| s != ssrc) {
            self.reset();
            self.stats.resets += 1;
            outcome = Inserted::Reset;
        }
        self.ssrc = Some(ssrc);
        let (ext_seq, ext_ts) = match self.extend(now, seq, ts) {
            Some(ext) => ext,
            None => {
                self.reset();
                self.stats.resets += 1;
                outcome = Inserted::Reset;
                (i64::from(seq), i64::from(ts))
            }
        };
        let epoch = *self.epoch.get_or_insert(now);
        if self.reference.is_none_or(|(_, ref_ext, _, _)| ext_seq > ref_ext) {
            self.reference = Some((seq, ext_seq, ts, ext_ts));
        }
        let arrival_us = now.saturating_duration_since(epoch).as_micros() as i64;

        let duplicate_of_played = |next: i64, played: u64| {
            let behind = next - 1 - ext_seq;
            (0..64).contains(&behind) && played & (1u64 << behind) != 0
        };
        if let Some((next_seq, _)) = self.next {
            if ext_seq < next_seq {
                if duplicate_of_played(next_seq, self.played) {
                    self.stats.duplicates += 1;
                    return Inserted::Duplicate;
                }
                self.add_delay_sample(arrival_us - self.ts_us(ext_ts));
                self.stats.late += 1;
                return Inserted::Late;
            }
        }
        let at = match self.slots.binary_search_by_key(&ext_seq, |s| s.seq) {
            Ok(_) => {
                self.stats.duplicates += 1;
                return Inserted::Duplicate;
            }
            Err(at) => at,
        };
        self.add_delay_sample(arrival_us - self.ts_us(ext_ts));
        let mut at = at;
        if self.slots.len() >= self.config.max_packets.max(1) {
            if at == 0 {
                self.stats.overflow += 1;
                return Inserted::Overflow;
            }
            if let Some(oldest) = self.slots.pop_front() {
                self.stats.overflow += 1;
                self.skip_to(oldest.seq + 1, oldest.ts + self.frame_ts, false);
                self.free.push(oldest.payload);
                at -= 1;
            }
        }
        let mut buf = self.free.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(payload);
        self.slots.insert(
            at,
            Slot {
                seq: ext_seq,
                ts: ext_ts,
                marker,
                payload: buf,
            },
        );
        self.stats.inserted += 1;
        outcome
    }

    /// Moves the playout point forward to `seq`, counting the sequence
    /// numbers passed over as lost unless `played` (one packet played).
    fn skip_to(&mut self, seq: i64, ts: i64, played: bool) {
        match self.next {
            Some((next_seq, _)) if seq <= next_seq => {}
            Some((next_seq, _)) => {
                let gap = seq - next_seq;
                let missed = if played { gap - 1 } else { gap };
                self.stats.lost += missed.max(0) as u64;
                self.played = if gap >= 64 { 0 } else { self.played << gap };
                if played {
                    self.played |= 1;
                }
                self.next = Some((seq, ts));
            }
            None => {
                self.played = u64::from(played);
                self.next = Some((seq, ts));
            }
        }
    }

    /// Takes the head packet for playing and returns its payload.
    fn play_head(&mut self) -> Frame<'_> {
        let Some(slot) = self.slots.pop_front() else {
            return Frame::Empty;
        };
        self.skip_to(slot.seq + 1, slot.ts + self.frame_ts, true);
        self.playing = true;
        self.stats.played += 1;
        let old = std::mem::replace(&mut self.current, slot.payload);
        self.free.push(old);
        Frame::Audio(&self.current)
    }

    /// The frame to play at this tick, `now`.
    pub fn pop(&mut self, now: Instant) -> Frame<'_> {
        let frame_us = self.config.frame.as_micros() as i64;
        let Some(head) = self.slots.front() else {
            // Mid-talkspurt and the next packet is not due yet by the target:
            // stretch. Otherwise it is lost or the talkspurt ended: wait.
            if let (true, Some((_, next_ts))) = (self.playing, self.next) {
                if self.delay_us(now, next_ts) < self.target_us - frame_us / 2 {
                    self.stats.stretched += 1;
                    return Frame::Lost;
                }
            }
            self.playing = false;
            return Frame::Empty;
        };
        let (head_seq, head_ts, head_marker) = (head.seq, head.ts, head.marker);
        let ready = self.delay_us(now, head_ts) >= self.target_us;
        let Some((next_seq, next_ts)) = self.next else {
            return if ready { self.play_head() } else { Frame::Empty };
        };
        // A new talkspurt: marker bit, or a timestamp gap (silence).
        let gap_ts = head_ts - (next_ts + (head_seq - next_seq) * self.frame_ts);
        if head_marker || gap_ts >= self.frame_ts {
            self.playing = false;
            if head_seq > next_seq {
                self.skip_to(head_seq, head_ts, false);
            }
            return if ready { self.play_head() } else { Frame::Empty };
        }
        let next_due = self.delay_us(now, next_ts);
        if !self.playing {
            // Resuming after an underrun: the head when its time comes, and
            // the missing packets before it as lost once theirs has passed.
            if ready {
                return self.play_head();
            }
            if head_seq > next_seq && next_due >= self.target_us {
                self.skip_to(next_seq + 1, next_ts + self.frame_ts, false);
                return Frame::Lost;
            }
            return Frame::Empty;
        }
        if next_due < self.target_us - frame_us / 2 {
            // The target grew: hold this tick to raise the delay.
            self.stats.stretched += 1;
            return Frame::Lost;
        }
        if head_seq > next_seq {
            self.skip_to(next_seq + 1, next_ts + self.frame_ts, false);
            return Frame::Lost;
        }
        // Too much delay: skip the head when its successor is here.
        let excess = next_due - self.target_us;
        let successor = self.slots.get(1).is_some_and(|s| s.seq == head_seq + 1 && !s.marker);
        if excess >= frame_us && successor {
            if let Some(slot) = self.slots.pop_front() {
                self.stats.discarded += 1;
                self.skip_to(slot.seq + 1, slot.ts + self.frame_ts, true);
                self.free.push(slot.payload);
            }
        }
        self.play_head()
    }
}

#[cfg(test)]
mod tests;
