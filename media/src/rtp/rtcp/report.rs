//! Sender and receiver reports (RFC 3550 §6.4) and their report blocks.
//!
//! ```text
//! SR: header | SSRC of sender | NTP ts (64) | RTP ts | packet count | octet count | report blocks...
//! RR: header | SSRC of sender | report blocks...
//!
//! report block (24 bytes):
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 SSRC_n (source identifier)                    |
//! | fraction lost |       cumulative number of packets lost       |
//! |           extended highest sequence number received           |
//! |                      interarrival jitter                      |
//! |                         last SR (LSR)                         |
//! |                   delay since last SR (DLSR)                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{push_header, RtcpPacket, PT_RR, PT_SR};
use crate::rtp::{NtpTimestamp, RtpError};

/// Length of one report block.
pub const REPORT_BLOCK_LEN: usize = 24;
/// Length of the sender information of a SR.
pub const SENDER_INFO_LEN: usize = 20;
/// Most report blocks one SR or RR can carry (5-bit count).
pub const MAX_REPORT_BLOCKS: usize = 31;

/// One report block: reception statistics about one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source the block is about.
    pub ssrc: u32,
    /// Fraction of packets lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Packets lost since the start, a signed 24-bit value (negative when
    /// duplicates outnumber losses).
    pub cumulative_lost: i32,
    /// Highest sequence number received, extended with the wrap count.
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR from the source (0: none).
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

impl ReportBlock {
    /// Reads a block from its 24 bytes.
    pub fn from_bytes(b: &[u8; REPORT_BLOCK_LEN]) -> Self {
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        // Sign-extend the 24-bit cumulative count.
        let cumulative_lost = (i32::from_be_bytes([b[5], b[6], b[7], 0])) >> 8;
        ReportBlock {
            ssrc: word(0),
            fraction_lost: b[4],
            cumulative_lost,
            highest_seq: word(8),
            jitter: word(12),
            lsr: word(16),
            dlsr: word(20),
        }
    }

    /// The block's 24 bytes; the cumulative count is clamped to 24 bits.
    pub fn to_bytes(&self) -> [u8; REPORT_BLOCK_LEN] {
        let mut b = [0u8; REPORT_BLOCK_LEN];
        b[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        b[4] = self.fraction_lost;
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff).to_be_bytes();
        b[5..8].copy_from_slice(&lost[1..4]);
        b[8..12].copy_from_slice(&self.highest_seq.to_be_bytes());
        b[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        b[16..20].copy_from_slice(&self.lsr.to_be_bytes());
        b[20..24].copy_from_slice(&self.dlsr.to_be_bytes());
        b
    }

    /// The fraction lost as a share between 0 and 1.
    pub fn fraction_lost_ratio(&self) -> f64 {
        f64::from(self.fraction_lost) / 256.0
    }
}

fn blocks(list: &[u8]) -> impl ExactSizeIterator<Item = ReportBlock> + '_ {
    list.chunks_exact(REPORT_BLOCK_LEN)
        .map(|c| match c.first_chunk::<REPORT_BLOCK_LEN>() {
            Some(b) => ReportBlock::from_bytes(b),
            None => ReportBlock::default(),
        })
}

fn word(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(w) => u32::from_be_bytes([w[0], w[1], w[2], w[3]]),
        None => 0,
    }
}

/// The sender information of a SR: what the sender sent, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// Wall-clock time of the report.
    pub ntp: NtpTimestamp,
    /// The same instant on the stream's RTP clock.
    pub rtp_ts: u32,
    /// Packets sent since the start (wraps at 32 bits).
    pub packet_count: u32,
    /// Payload octets sent since the start (wraps at 32 bits).
    pub octet_count: u32,
}

/// A checked view over a sender report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport<'a> {
    packet: RtcpPacket<'a>,
}

impl<'a> SenderReport<'a> {
    /// Checks that `packet` is a SR with room for its sender information and
    /// as many report blocks as its count says.
    pub fn new_checked(packet: RtcpPacket<'a>) -> Result<Self, RtpError> {
        if packet.packet_type() != PT_SR {
            return Err(RtpError::WrongType(packet.packet_type()));
        }
        let needed = 4 + SENDER_INFO_LEN + REPORT_BLOCK_LEN * usize::from(packet.count());
        if packet.body().len() < needed {
            return Err(RtpError::BadCount);
        }
        Ok(SenderReport { packet })
    }

    /// The sender's SSRC.
    pub fn ssrc(&self) -> u32 {
        word(self.packet.body(), 0)
    }

    /// The sender information.
    pub fn sender_info(&self) -> SenderInfo {
        let b = self.packet.body();
        SenderInfo {
            ntp: NtpTimestamp((u64::from(word(b, 4)) << 32) | u64::from(word(b, 8))),
            rtp_ts: word(b, 12),
            packet_count: word(b, 16),
            octet_count: word(b, 20),
        }
    }

    /// The report blocks.
    pub fn report_blocks(&self) -> impl ExactSizeIterator<Item = ReportBlock> + 'a {
        let start = 4 + SENDER_INFO_LEN;
        let end = start + REPORT_BLOCK_LEN * usize::from(self.packet.count());
        blocks(self.packet.body().get(start..end).unwrap_or(&[]))
    }

    /// The generic packet view.
    pub fn packet(&self) -> RtcpPacket<'a> {
        self.packet
    }
}

/// A checked view over a receiver report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    packet: RtcpPacket<'a>,
}

impl<'a> ReceiverReport<'a> {
    /// Checks that `packet` is a RR with room for as many report blocks as its
    /// count says.
    pub fn new_checked(packet: RtcpPacket<'a>) -> Result<Self, RtpError> {
        if packet.packet_type() != PT_RR {
            return Err(RtpError::WrongType(packet.packet_type()));
        }
        if packet.body().len() < 4 + REPORT_BLOCK_LEN * usize::from(packet.count()) {
            return Err(RtpError::BadCount);
        }
        Ok(ReceiverReport { packet })
    }

    /// The reporter's SSRC.
    pub fn ssrc(&self) -> u32 {
        word(self.packet.body(), 0)
    }

    /// The report blocks.
    pub fn report_blocks(&self) -> impl ExactSizeIterator<Item = ReportBlock> + 'a {
        let end = 4 + REPORT_BLOCK_LEN * usize::from(self.packet.count());
        blocks(self.packet.body().get(4..end).unwrap_or(&[]))
    }

    /// The generic packet view.
    pub fn packet(&self) -> RtcpPacket<'a> {
        self.packet
    }
}

/// Appends a sender report from `ssrc` with `info` and up to 31 `blocks`.
pub fn emit_sender_report(
    ssrc: u32,
    info: &SenderInfo,
    blocks: &[ReportBlock],
    out: &mut Vec<u8>,
) -> Result<(), RtpError> {
    if blocks.len() > MAX_REPORT_BLOCKS {
        return Err(RtpError::TooLarge);
    }
    let body = 4 + SENDER_INFO_LEN + REPORT_BLOCK_LEN * blocks.len();
    out.reserve(4 + body);
    push_header(out, blocks.len() as u8, PT_SR, body)?;
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&info.ntp.0.to_be_bytes());
    out.extend_from_slice(&info.rtp_ts.to_be_bytes());
    out.extend_from_slice(&info.packet_count.to_be_bytes());
    out.extend_from_slice(&info.octet_count.to_be_bytes());
    for b in blocks {
        out.extend_from_slice(&b.to_bytes());
    }
    Ok(())
}

/// Appends a receiver report from `ssrc` with up to 31 `blocks` (none is
/// allowed: an empty RR heads a compound when there is nothing to report).
pub fn emit_receiver_report(ssrc: u32, blocks: &[ReportBlock], out: &mut Vec<u8>) -> Result<(), RtpError> {
    if blocks.len() > MAX_REPORT_BLOCKS {
        return Err(RtpError::TooLarge);
    }
    let body = 4 + REPORT_BLOCK_LEN * blocks.len();
    out.reserve(4 + body);
    push_header(out, blocks.len() as u8, PT_RR, body)?;
    out.extend_from_slice(&ssrc.to_be_bytes());
    for b in blocks {
        out.extend_from_slice(&b.to_bytes());
    }
    Ok(())
}
