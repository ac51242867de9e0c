//! RTP `telephone-event` payloads (RFC 4733 §2.3): the receiver and the sender.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     event     |E|R| volume    |          duration             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! # Receiving
//!
//! A [`Receiver`] is fed each packet's RTP timestamp, marker bit, sequence number
//! and payload. All packets of one event carry the RTP timestamp of the event's
//! start (§2.5.1.1), so **the timestamp identifies the event**: the first packet
//! with a new timestamp reports [`DtmfEvent::Pressed`] at once, whether or not it
//! has the marker bit (the first packet may be lost), and later packets with that
//! timestamp only update the duration. The first end packet (E bit) reports
//! [`DtmfEvent::Released`] with the duration; its retransmissions, and any late
//! packet of an event already ended, are dropped as duplicates. An event whose end
//! packets are all lost is closed, with the last duration heard, by whichever comes
//! first: a packet of a newer event, [`ReceiverConfig::end_timeout`] of wall time
//! without a packet for it ([`Receiver::handle_timeout`]), or an audio packet
//! whose timestamp is `end_timeout` past the event's last reported end
//! ([`Receiver::handle_audio`]).
//!
//! Long events (§2.5.1.3) arrive as segments: a segment that starts exactly where
//! the open one ends, with the same event code and no marker, continues the press.
//!
//! # Sending
//!
//! [`event_packets`] lays out the packets for one key press, to be wrapped in RTP
//! by the engine: the first with the marker bit, one update per packet interval
//! with the growing duration, and three end packets with the final duration,
//! all with the event's start timestamp.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{Digit, DigitEvent, DigitSource, DtmfEvent};

/// The clock rate of `telephone-event` unless SDP negotiates another (RFC 4733 §7.1.1).
pub const DEFAULT_CLOCK_RATE: u32 = 8000;

/// Why a `telephone-event` payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The payload is shorter than the 4 bytes of one event.
    #[error("telephone-event payload of {len} bytes, need 4")]
    TooShort {
        /// The length received.
        len: usize,
    },
}

/// One `telephone-event` block, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventPayload {
    /// The event code: 0-15 for DTMF keys, 16 for flash, others for tones.
    pub event: u8,
    /// The E bit: this packet reports the end of the event.
    pub end: bool,
    /// Power level of the tone, in -dBm0 (0-63); informative for DTMF.
    pub volume: u8,
    /// Duration of the event so far, in RTP timestamp units.
    pub duration: u16,
}

impl EventPayload {
    /// Length of one event block on the wire.
    pub const LEN: usize = 4;

    /// Reads the first event block of a payload. Extra bytes (a second block,
    /// padding) are ignored; the R bit is ignored as the RFC asks.
    pub fn parse(bytes: &[u8]) -> Result<Self, PayloadError> {
        match bytes {
            [event, flags, d0, d1, ..] => Ok(EventPayload {
                event: *event,
                end: flags & 0x80 != 0,
                volume: flags & 0x3f,
                duration: u16::from_be_bytes([*d0, *d1]),
            }),
            _ => Err(PayloadError::TooShort { len: bytes.len() }),
        }
    }

    /// The 4 bytes on the wire (R bit zero, volume masked to 6 bits).
    pub fn to_bytes(&self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        [self.event, (u8::from(self.end) << 7) | (self.volume & 0x3f), d0, d1]
    }
}

/// One received RTP packet of the `telephone-event` payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket<'a> {
    /// The RTP timestamp: the start of the event (or of its segment).
    pub timestamp: u32,
    /// The RTP marker bit: set on the first packet of an event.
    pub marker: bool,
    /// The RTP sequence number.
    pub sequence: u16,
    /// The RTP payload.
    pub payload: &'a [u8],
}

/// What the receiver made of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first packet heard of a new press; a `Pressed` event is queued
    /// (and a `Released` too if it was already an end packet).
    NewEvent,
    /// A further packet of the open event; its duration was taken.
    Update,
    /// The first end packet of the open event; a `Released` event is queued.
    End,
    /// A retransmission or a late packet of an event already reported.
    Duplicate,
    /// A packet older than the newest event, for an event never heard: dropped
    /// rather than reported out of order.
    Stale,
    /// A valid event that is not a DTMF key or flash (a tone, fax signal...).
    NotDtmf,
}

/// Settings of a [`Receiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// The negotiated `telephone-event` clock rate (Hz).
    pub clock_rate: u32,
    /// How long an event may go without a packet before it is closed as ended.
    ///
    /// Senders refresh an event every 50 ms or faster (§2.5.1.2 suggests 50 ms),
    /// so 250 ms is five lost updates in a row. Closing early never duplicates a
    /// digit (later packets of a closed event are recognised by their timestamp),
    /// it only shortens the reported duration.
    pub end_timeout: Duration,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            clock_rate: DEFAULT_CLOCK_RATE,
            end_timeout: Duration::from_millis(250),
        }
    }
}

/// The event being received.
#[derive(Debug, Clone, Copy)]
struct OpenEvent {
    digit: Digit,
    /// RTP timestamp of the current segment.
    timestamp: u32,
    /// Longest duration heard for the current segment.
    duration: u16,
    /// Durations of the earlier segments of a long event.
    earlier: u64,
    last_packet: Instant,
    last_sequence: u16,
}

/// How many ended events are remembered to drop their late packets.
const REMEMBERED: usize = 4;
/// Bound of the event queue.
const QUEUE: usize = 8;
/// How far back (in seconds of timestamp) a packet counts as stale rather than
/// as a jump of the stream's timestamps.
const STALE_WINDOW_SECS: u64 = 60;

/// Decodes `telephone-event` packets into digits: see the [module docs](self).
#[derive(Debug)]
pub struct Receiver {
    config: ReceiverConfig,
    open: Option<OpenEvent>,
    /// (timestamp, event code) of recently ended events, newest at `next_slot - 1`.
    ended: [Option<(u32, u8)>; REMEMBERED],
    next_slot: usize,
    /// Start timestamp of the newest event heard, for dropping stale packets.
    newest: Option<u32>,
    events: VecDeque<DtmfEvent>,
}

impl Receiver {
    /// A receiver with the given settings.
    pub fn new(config: ReceiverConfig) -> Self {
        Receiver {
            config,
            open: None,
            ended: [None; REMEMBERED],
            next_slot: 0,
            newest: None,
            events: VecDeque::with_capacity(QUEUE),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ReceiverConfig {
        &self.config
    }

    /// The digit currently held down, if an event is open.
    pub fn active_digit(&self) -> Option<Digit> {
        self.open.map(|o| o.digit)
    }

    /// Takes one packet received at `now`. Events it causes are read with
    /// [`poll_event`](Self::poll_event); an unreadable payload changes nothing.
    pub fn handle_packet(&mut self, now: Instant, packet: EventPacket<'_>) -> Result<Verdict, PayloadError> {
        let payload = EventPayload::parse(packet.payload)?;
        let Some(digit) = Digit::from_event_code(payload.event) else {
            return Ok(Verdict::NotDtmf);
        };
        let ts = packet.timestamp;
        if let Some(open) = &mut self.open {
            if open.timestamp == ts && open.digit == digit {
                if open.last_sequence == packet.sequence && open.duration >= payload.duration && !payload.end {
                    return Ok(Verdict::Duplicate);
                }
                open.duration = open.duration.max(payload.duration);
                open.last_packet = now;
                open.last_sequence = packet.sequence;
                if payload.end {
                    self.close();
                    return Ok(Verdict::End);
                }
                return Ok(Verdict::Update);
            }
            let continues = open.digit == digit
                && !packet.marker
                && open.duration > 0
                && ts == open.timestamp.wrapping_add(u32::from(open.duration));
            if continues {
                open.earlier += u64::from(open.duration);
                open.timestamp = ts;
                open.duration = payload.duration;
                open.last_packet = now;
                open.last_sequence = packet.sequence;
                self.newest = Some(ts);
                if payload.end {
                    self.close();
                    return Ok(Verdict::End);
                }
                return Ok(Verdict::Update);
            }
        }
        if self.ended.iter().flatten().any(|&(t, e)| t == ts && e == payload.event) {
            return Ok(Verdict::Duplicate);
        }
        if let Some(newest) = self.newest {
            // Serial-number arithmetic: a timestamp a little behind is older.
            let behind = newest.wrapping_sub(ts);
            if behind != 0 && u64::from(behind) <= u64::from(self.config.clock_rate) * STALE_WINDOW_SECS {
                return Ok(Verdict::Stale);
            }
        }
        // A new event: whatever was open lost its end packets.
        self.close();
        self.newest = Some(ts);
        self.push(DtmfEvent::Pressed(DigitEvent {
            digit,
            source: DigitSource::Rfc4733,
            duration: None,
        }));
        self.open = Some(OpenEvent {
            digit,
            timestamp: ts,
            duration: payload.duration,
            earlier: 0,
            last_packet: now,
            last_sequence: packet.sequence,
        });
        if payload.end {
            self.close();
        }
        Ok(Verdict::NewEvent)
    }

    /// Takes the RTP timestamp of an audio packet of the same stream, received at
    /// `now`: audio `end_timeout` past the open event's end closes it.
    pub fn handle_audio(&mut self, now: Instant, timestamp: u32) {
        let Some(open) = self.open else { return };
        let limit = u64::from(open.duration) + self.timeout_units();
        let ahead = timestamp.wrapping_sub(open.timestamp) as i32;
        if ahead > 0 && ahead as u64 >= limit {
            self.close();
        } else {
            self.handle_timeout(now);
        }
    }

    /// Closes the open event if its deadline ([`poll_timeout`](Self::poll_timeout)) has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|deadline| now >= deadline) {
            self.close();
        }
    }

    /// When the open event will be closed for want of packets, if one is open.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.open.map(|o| o.last_packet + self.config.end_timeout)
    }

    /// The next digit event, oldest first.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        self.events.pop_front()
    }

    /// Forgets everything heard, as for a new RTP stream (a new SSRC).
    pub fn reset(&mut self) {
        *self = Receiver::new(self.config);
    }

    fn timeout_units(&self) -> u64 {
        (u128::from(self.config.clock_rate) * self.config.end_timeout.as_millis() / 1000) as u64
    }

    fn push(&mut self, event: DtmfEvent) {
        // One input queues at most three events (a release, a press and its
        // release); a caller that never polls loses the oldest, not memory.
        if self.events.len() == QUEUE {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Ends the open event, if any, and queues its release.
    fn close(&mut self) {
        let Some(open) = self.open.take() else { return };
        self.ended[self.next_slot] = Some((open.timestamp, open.digit.to_event_code()));
        self.next_slot = (self.next_slot + 1) % REMEMBERED;
        let units = open.earlier + u64::from(open.duration);
        let rate = u64::from(self.config.clock_rate.max(1));
        let duration = Duration::from_micros(units * 1_000_000 / rate);
        self.push(DtmfEvent::Released(DigitEvent {
            digit: open.digit,
            source: DigitSource::Rfc4733,
            duration: Some(duration),
        }));
    }
}

impl Default for Receiver {
    fn default() -> Self {
        Receiver::new(ReceiverConfig::default())
    }
}

/// Settings for [`event_packets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    /// The negotiated `telephone-event` clock rate (Hz).
    pub clock_rate: u32,
    /// Time between updates: the stream's packet interval; 50 ms by default (§2.5.1.2).
    pub packet_interval: Duration,
    /// Volume field, in -dBm0 (0-63); 10 is the usual keypad level.
    pub volume: u8,
    /// How many end packets to send (§2.5.1.4 asks for three).
    pub end_packets: u8,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            clock_rate: DEFAULT_CLOCK_RATE,
            packet_interval: Duration::from_millis(50),
            volume: 10,
            end_packets: 3,
        }
    }
}

/// One packet to send, for the engine to wrap in RTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderPacket {
    /// The RTP marker bit.
    pub marker: bool,
    /// RTP timestamp relative to the event's start timestamp (non-zero only for
    /// the later segments of an event longer than 65535 units).
    pub timestamp_offset: u32,
    /// When to send it, relative to the start of the key press.
    pub send_offset: Duration,
    /// The payload.
    pub payload: [u8; 4],
}

/// The packets for one key press of `duration` (at least one packet interval is sent).
///
/// The first packet goes out one packet interval after the press starts (the tone
/// has lasted that long) with the marker bit; one update follows per interval
/// with the duration so far; the last update carries the E bit and the final
/// duration and is repeated `end_packets` times in total, one interval apart,
/// all with the same timestamp. Durations are in units of `clock_rate`.
pub fn event_packets(digit: Digit, duration: Duration, config: &SenderConfig) -> Vec<SenderPacket> {
    let rate = u128::from(config.clock_rate.max(1));
    let interval = ((rate * config.packet_interval.as_micros() / 1_000_000) as u64).max(1);
    let total = ((rate * duration.as_micros() / 1_000_000) as u64).max(interval);
    let to_time = |units: u64| Duration::from_micros((u128::from(units) * 1_000_000 / rate) as u64);
    let packet = |marker: bool, segment: u64, units: u64, end: bool, at: u64| SenderPacket {
        marker,
        timestamp_offset: segment as u32,
        send_offset: to_time(at),
        payload: EventPayload {
            event: digit.to_event_code(),
            end,
            volume: config.volume,
            duration: units.min(u64::from(u16::MAX)) as u16,
        }
        .to_bytes(),
    };
    let max = u64::from(u16::MAX);
    let mut out = Vec::new();
    let mut segment = 0u64;
    let mut elapsed = 0u64;
    while elapsed < total {
        elapsed = (elapsed + interval).min(total);
        if elapsed - segment > max {
            // Close this segment at the maximum and open the next (§2.5.1.3).
            out.push(packet(false, segment, max, false, elapsed));
            segment += max;
        }
        let end = elapsed == total;
        out.push(packet(out.is_empty(), segment, elapsed - segment, end, elapsed));
    }
    for i in 1..u64::from(config.end_packets.max(1)) {
        out.push(packet(false, segment, total - segment, true, total + i * interval));
    }
    out
}

#[cfg(test)]
mod tests;
