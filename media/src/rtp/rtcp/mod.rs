//! RTCP (RFC 3550 §6): the common header, compound packets and the packet
//! types a softswitch needs: sender and receiver reports ([`report`]), source
//! descriptions and goodbyes ([`sdes`]).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|   count |      PT       |  length (32-bit words - 1)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Reading: [`RtcpCompound::new_checked`] applies the validity checks of
//! RFC 3550 Appendix A.2 to a whole datagram (version 2 everywhere, first
//! packet a SR or RR, padding only on the last packet, lengths adding up to
//! the datagram) and then iterates its packets infallibly. [`RtcpIter`] walks
//! packets without the compound rules (for reduced-size RTCP, RFC 5506) and
//! yields an error where a packet does not fit. [`RtcpPacket::parse`] gives
//! the typed view of one packet. All views are checked once; no accessor
//! panics.
//!
//! Writing: the `emit_*` functions append one packet each to a `Vec<u8>`; a
//! compound is made by calling them in turn (SR or RR first, then SDES with a
//! CNAME, RFC 3550 §6.1).

pub mod report;
pub mod sdes;

pub use report::{emit_receiver_report, emit_sender_report, ReceiverReport, ReportBlock, SenderInfo, SenderReport};
pub use sdes::{emit_bye, emit_sdes_cname, Bye, Sdes, SdesChunk};

use super::RtpError;

/// Packet type of a sender report.
pub const PT_SR: u8 = 200;
/// Packet type of a receiver report.
pub const PT_RR: u8 = 201;
/// Packet type of a source description.
pub const PT_SDES: u8 = 202;
/// Packet type of a goodbye.
pub const PT_BYE: u8 = 203;
/// Packet type of an application-defined packet.
pub const PT_APP: u8 = 204;

/// Length of the common RTCP header.
pub const RTCP_HEADER_LEN: usize = 4;

/// A checked view over one RTCP packet: the common header and a body whose
/// length the header's length field gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpPacket<'a> {
    /// Exactly this packet, padding included.
    buf: &'a [u8],
    /// Bytes of padding at the end.
    padding: usize,
}

impl<'a> RtcpPacket<'a> {
    /// Checks the first RTCP packet in `buf`: version 2, a length that fits,
    /// and a padding count between one and the body length when the P bit is
    /// set. The view covers only that packet; bytes after it are ignored.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, RtpError> {
        let Some(head) = buf.first_chunk::<RTCP_HEADER_LEN>() else {
            return Err(RtpError::Truncated {
                needed: RTCP_HEADER_LEN,
                got: buf.len(),
            });
        };
        let version = head[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let total = (usize::from(u16::from_be_bytes([head[2], head[3]])) + 1) * 4;
        let Some(buf) = buf.get(..total) else {
            return Err(RtpError::Truncated {
                needed: total,
                got: buf.len(),
            });
        };
        let mut padding = 0;
        if head[0] & 0x20 != 0 {
            let count = buf.last().copied().unwrap_or(0);
            if count == 0 || usize::from(count) > total - RTCP_HEADER_LEN {
                return Err(RtpError::BadPadding(count));
            }
            padding = usize::from(count);
        }
        Ok(RtcpPacket { buf, padding })
    }

    /// The whole packet, header and padding included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    fn first_byte(&self) -> u8 {
        self.buf.first().copied().unwrap_or(0)
    }

    /// The P bit.
    pub fn has_padding(&self) -> bool {
        self.first_byte() & 0x20 != 0
    }

    /// The 5-bit count field (report blocks, SDES chunks, BYE sources...).
    pub fn count(&self) -> u8 {
        self.first_byte() & 0x1f
    }

    /// The packet type.
    pub fn packet_type(&self) -> u8 {
        self.buf.get(1).copied().unwrap_or(0)
    }

    /// The length of the packet in bytes (the length field, converted).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Never true for a checked packet: the header alone is four bytes.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The body after the common header, without padding.
    pub fn body(&self) -> &'a [u8] {
        self.buf
            .get(RTCP_HEADER_LEN..self.buf.len() - self.padding)
            .unwrap_or(&[])
    }

    /// The typed view of this packet, checked against its type's layout.
    pub fn parse(&self) -> Result<Rtcp<'a>, RtpError> {
        Ok(match self.packet_type() {
            PT_SR => Rtcp::SenderReport(SenderReport::new_checked(*self)?),
            PT_RR => Rtcp::ReceiverReport(ReceiverReport::new_checked(*self)?),
            PT_SDES => Rtcp::Sdes(Sdes::new_checked(*self)?),
            PT_BYE => Rtcp::Bye(Bye::new_checked(*self)?),
            _ => Rtcp::Other(*self),
        })
    }
}

/// One RTCP packet by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rtcp<'a> {
    /// A sender report (PT 200).
    SenderReport(SenderReport<'a>),
    /// A receiver report (PT 201).
    ReceiverReport(ReceiverReport<'a>),
    /// A source description (PT 202).
    Sdes(Sdes<'a>),
    /// A goodbye (PT 203).
    Bye(Bye<'a>),
    /// Any other type (APP, feedback, XR...), left as the generic view.
    Other(RtcpPacket<'a>),
}

/// Iterates the RTCP packets of a datagram one after the other, without the
/// compound rules. After the first error it yields nothing more.
#[derive(Debug, Clone)]
pub struct RtcpIter<'a> {
    rest: &'a [u8],
}

impl<'a> RtcpIter<'a> {
    /// Packets of `buf`, from its start.
    pub fn new(buf: &'a [u8]) -> Self {
        RtcpIter { rest: buf }
    }
}

impl<'a> Iterator for RtcpIter<'a> {
    type Item = Result<RtcpPacket<'a>, RtpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match RtcpPacket::new_checked(self.rest) {
            Ok(p) => {
                self.rest = self.rest.get(p.len()..).unwrap_or(&[]);
                Some(Ok(p))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// A compound RTCP packet that passed the RFC 3550 A.2 validity checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpCompound<'a> {
    buf: &'a [u8],
}

impl<'a> RtcpCompound<'a> {
    /// Checks `buf` as a compound RTCP packet (RFC 3550 A.2): at least one
    /// packet; every packet version 2 and fitting; the first a SR or RR; no
    /// padding but on the last; the packets' lengths adding up to `buf`.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, RtpError> {
        if buf.is_empty() {
            return Err(RtpError::Truncated {
                needed: RTCP_HEADER_LEN,
                got: 0,
            });
        }
        let mut offset = 0;
        for (i, packet) in RtcpIter::new(buf).enumerate() {
            let packet = packet.map_err(|e| match e {
                // A short remainder after whole packets: lengths do not add up.
                RtpError::Truncated { .. } if i > 0 => RtpError::BadLength,
                e => e,
            })?;
            if i == 0 && !matches!(packet.packet_type(), PT_SR | PT_RR) {
                return Err(RtpError::BadFirstPacket(packet.packet_type()));
            }
            offset += packet.len();
            if packet.has_padding() && offset != buf.len() {
                return Err(RtpError::PaddingNotLast);
            }
        }
        if offset != buf.len() {
            return Err(RtpError::BadLength);
        }
        Ok(RtcpCompound { buf })
    }

    /// The whole datagram.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The packets, in order.
    pub fn packets(&self) -> impl Iterator<Item = RtcpPacket<'a>> + 'a {
        RtcpIter::new(self.buf).map_while(Result::ok)
    }
}

/// Appends a common header with a length field for `body_len` bytes of body
/// (a multiple of four).
pub(crate) fn push_header(out: &mut Vec<u8>, count: u8, pt: u8, body_len: usize) -> Result<(), RtpError> {
    let words = u16::try_from(body_len / 4).map_err(|_| RtpError::TooLarge)?;
    out.push(0x80 | (count & 0x1f));
    out.push(pt);
    out.extend_from_slice(&words.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests;
