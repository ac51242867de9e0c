//! Source descriptions (RFC 3550 §6.5) and goodbyes (§6.6).
//!
//! ```text
//! SDES: header(count = chunks) | chunk...
//!   chunk: SSRC/CSRC | item... | 0 | padding to 32 bits
//!   item:  type (1 = CNAME) | length | text
//! BYE:  header(count = sources) | SSRC... | [length | reason | padding]
//! ```

use super::{push_header, RtcpPacket, PT_BYE, PT_SDES};
use crate::rtp::RtpError;

/// SDES item type of the canonical name.
pub const SDES_CNAME: u8 = 1;

/// A checked view over a source description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sdes<'a> {
    packet: RtcpPacket<'a>,
}

/// One SDES chunk: a source and its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    /// The source described.
    pub ssrc: u32,
    /// The raw items, up to and excluding the terminating null item.
    items: &'a [u8],
}

/// Splits one chunk off `rest`: returns the chunk and what follows it, or
/// `None` when the chunk does not fit.
fn split_chunk(rest: &[u8]) -> Option<(SdesChunk<'_>, &[u8])> {
    let ssrc = rest.get(..4)?;
    let ssrc = u32::from_be_bytes([ssrc[0], ssrc[1], ssrc[2], ssrc[3]]);
    let mut at = 4;
    loop {
        let kind = *rest.get(at)?;
        if kind == 0 {
            let items = rest.get(4..at)?;
            // The null item, then padding to the next 32-bit boundary.
            let end = (at + 1).div_ceil(4) * 4;
            let after = rest.get(end..)?;
            return Some((SdesChunk { ssrc, items }, after));
        }
        let len = usize::from(*rest.get(at + 1)?);
        at += 2 + len;
        if at > rest.len() {
            return None;
        }
    }
}

impl<'a> Sdes<'a> {
    /// Checks that `packet` is a SDES whose chunks, as many as its count,
    /// are well formed.
    pub fn new_checked(packet: RtcpPacket<'a>) -> Result<Self, RtpError> {
        if packet.packet_type() != PT_SDES {
            return Err(RtpError::WrongType(packet.packet_type()));
        }
        let mut rest = packet.body();
        for _ in 0..packet.count() {
            let (_, after) = split_chunk(rest).ok_or(RtpError::BadCount)?;
            rest = after;
        }
        Ok(Sdes { packet })
    }

    /// The chunks.
    pub fn chunks(&self) -> impl Iterator<Item = SdesChunk<'a>> + 'a {
        let mut rest = self.packet.body();
        let mut left = self.packet.count();
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let (chunk, after) = split_chunk(rest)?;
            rest = after;
            Some(chunk)
        })
    }

    /// The generic packet view.
    pub fn packet(&self) -> RtcpPacket<'a> {
        self.packet
    }
}

impl<'a> SdesChunk<'a> {
    /// The items as (type, text) pairs.
    pub fn items(&self) -> impl Iterator<Item = (u8, &'a [u8])> + 'a {
        let mut rest = self.items;
        std::iter::from_fn(move || {
            let kind = *rest.first()?;
            let len = usize::from(*rest.get(1)?);
            let text = rest.get(2..2 + len)?;
            rest = rest.get(2 + len..).unwrap_or(&[]);
            Some((kind, text))
        })
    }

    /// The CNAME item, if any.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items().find(|(kind, _)| *kind == SDES_CNAME).map(|(_, text)| text)
    }
}

/// Appends a SDES with one chunk: `ssrc` and its CNAME (at most 255 bytes).
pub fn emit_sdes_cname(ssrc: u32, cname: &str, out: &mut Vec<u8>) -> Result<(), RtpError> {
    let len = u8::try_from(cname.len()).map_err(|_| RtpError::TooLarge)?;
    // SSRC, item header, text, null item, padding to 32 bits.
    let chunk = (4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    out.reserve(4 + chunk);
    push_header(out, 1, PT_SDES, chunk)?;
    let start = out.len();
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.push(SDES_CNAME);
    out.push(len);
    out.extend_from_slice(cname.as_bytes());
    out.resize(start + chunk, 0);
    Ok(())
}

/// A checked view over a goodbye.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bye<'a> {
    packet: RtcpPacket<'a>,
}

impl<'a> Bye<'a> {
    /// Checks that `packet` is a BYE with room for its sources and, when
    /// present, its reason.
    pub fn new_checked(packet: RtcpPacket<'a>) -> Result<Self, RtpError> {
        if packet.packet_type() != PT_BYE {
            return Err(RtpError::WrongType(packet.packet_type()));
        }
        let body = packet.body();
        let list = 4 * usize::from(packet.count());
        if body.len() < list {
            return Err(RtpError::BadCount);
        }
        if let Some(&len) = body.get(list) {
            if body.len() < list + 1 + usize::from(len) {
                return Err(RtpError::BadLength);
            }
        }
        Ok(Bye { packet })
    }

    /// The sources leaving.
    pub fn ssrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        let list = self
            .packet
            .body()
            .get(..4 * usize::from(self.packet.count()))
            .unwrap_or(&[]);
        list.chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The reason for leaving, if given (UTF-8 by the RFC, but unchecked).
    pub fn reason(&self) -> Option<&'a [u8]> {
        let body = self.packet.body();
        let at = 4 * usize::from(self.packet.count());
        let len = usize::from(*body.get(at)?);
        body.get(at + 1..at + 1 + len)
    }

    /// The generic packet view.
    pub fn packet(&self) -> RtcpPacket<'a> {
        self.packet
    }
}

/// Appends a BYE for up to 31 `ssrcs`, with an optional reason (at most 255
/// bytes).
pub fn emit_bye(ssrcs: &[u32], reason: Option<&str>, out: &mut Vec<u8>) -> Result<(), RtpError> {
    if ssrcs.len() > 31 {
        return Err(RtpError::TooLarge);
    }
    let reason_len = match reason {
        Some(r) => Some(u8::try_from(r.len()).map_err(|_| RtpError::TooLarge)?),
        None => None,
    };
    let body = 4 * ssrcs.len() + reason.map_or(0, |r| (1 + r.len()).div_ceil(4) * 4);
    out.reserve(4 + body);
    push_header(out, ssrcs.len() as u8, PT_BYE, body)?;
    let start = out.len();
    for s in ssrcs {
        out.extend_from_slice(&s.to_be_bytes());
    }
    if let (Some(r), Some(len)) = (reason, reason_len) {
        out.push(len);
        out.extend_from_slice(r.as_bytes());
    }
    out.resize(start + body, 0);
    Ok(())
}
