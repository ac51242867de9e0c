//! The RTP packet (RFC 3550 §5.1) as a checked view over bytes.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           timestamp                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           synchronization source (SSRC) identifier            |
//! +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//! |            contributing source (CSRC) identifiers             |
//! |                             ....                              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   defined by profile (X=1)    |   extension length (words)    |
//! |                        extension data                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     payload ...               | padding (P=1) ...   | count   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`RtpPacket::new_checked`] validates the whole layout once; the accessors
//! then read fixed offsets of a `&[u8; 12]` or sub-slices whose bounds were
//! checked, so none of them can panic. [`RtpPacketMut`] is the same check over
//! a mutable buffer, with setters for the fields a relay translates.

use super::RtpError;

/// Length of the fixed RTP header.
pub const HEADER_LEN: usize = 12;

/// A checked, read-only view over one RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    fixed: &'a [u8; HEADER_LEN],
    buf: &'a [u8],
    /// Offset of the payload: fixed header, CSRCs and extension.
    payload_start: usize,
    /// End of the payload: the buffer length less the padding.
    payload_end: usize,
}

/// Header extension of an RTP packet (RFC 3550 §5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpExtension<'a> {
    /// The 16-bit profile-defined field: `0xBEDE` for RFC 8285 one-byte
    /// headers, `0x100x` for two-byte headers.
    pub profile: u16,
    /// The extension data, a multiple of four bytes.
    pub data: &'a [u8],
}

/// Where the parts of a packet lie; shared by the read and write views.
#[derive(Debug, Clone, Copy)]
struct Layout {
    payload_start: usize,
    payload_end: usize,
}

fn check(buf: &[u8]) -> Result<Layout, RtpError> {
    let Some(fixed) = buf.first_chunk::<HEADER_LEN>() else {
        return Err(RtpError::Truncated {
            needed: HEADER_LEN,
            got: buf.len(),
        });
    };
    let version = fixed[0] >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion(version));
    }
    let csrc_count = usize::from(fixed[0] & 0x0f);
    let mut start = HEADER_LEN + 4 * csrc_count;
    if buf.len() < start {
        return Err(RtpError::Truncated {
            needed: start,
            got: buf.len(),
        });
    }
    if fixed[0] & 0x10 != 0 {
        let needed = start + 4;
        let Some(ext) = buf.get(start..needed) else {
            return Err(RtpError::Truncated { needed, got: buf.len() });
        };
        let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        start = needed + 4 * words;
        if buf.len() < start {
            return Err(RtpError::Truncated {
                needed: start,
                got: buf.len(),
            });
        }
    }
    let mut end = buf.len();
    if fixed[0] & 0x20 != 0 {
        let count = buf.last().copied().unwrap_or(0);
        if count == 0 || usize::from(count) > end - start {
            return Err(RtpError::BadPadding(count));
        }
        end -= usize::from(count);
    }
    Ok(Layout {
        payload_start: start,
        payload_end: end,
    })
}

fn fixed_of(buf: &[u8]) -> Option<&[u8; HEADER_LEN]> {
    buf.first_chunk::<HEADER_LEN>()
}

impl<'a> RtpPacket<'a> {
    /// Checks `buf` as an RTP packet: version 2, room for the CSRC list, the
    /// extension header and its data, and a padding count between one and the
    /// bytes after the header.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, RtpError> {
        let layout = check(buf)?;
        let fixed = fixed_of(buf).ok_or(RtpError::Truncated {
            needed: HEADER_LEN,
            got: buf.len(),
        })?;
        Ok(RtpPacket {
            fixed,
            buf,
            payload_start: layout.payload_start,
            payload_end: layout.payload_end,
        })
    }

    /// The whole packet.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The version field (always 2 once checked).
    pub fn version(&self) -> u8 {
        self.fixed[0] >> 6
    }

    /// The P bit: the packet ends with padding.
    pub fn has_padding(&self) -> bool {
        self.fixed[0] & 0x20 != 0
    }

    /// The X bit: a header extension follows the CSRC list.
    pub fn has_extension(&self) -> bool {
        self.fixed[0] & 0x10 != 0
    }

    /// The CC field: how many CSRC identifiers follow the fixed header.
    pub fn csrc_count(&self) -> u8 {
        self.fixed[0] & 0x0f
    }

    /// The M bit (for audio: the first packet of a talkspurt).
    pub fn marker(&self) -> bool {
        self.fixed[1] & 0x80 != 0
    }

    /// The payload type, 7 bits.
    pub fn payload_type(&self) -> u8 {
        self.fixed[1] & 0x7f
    }

    /// The sequence number.
    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes([self.fixed[2], self.fixed[3]])
    }

    /// The RTP timestamp.
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.fixed[4], self.fixed[5], self.fixed[6], self.fixed[7]])
    }

    /// The synchronization source.
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.fixed[8], self.fixed[9], self.fixed[10], self.fixed[11]])
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        let end = HEADER_LEN + 4 * usize::from(self.csrc_count());
        let list = self.buf.get(HEADER_LEN..end).unwrap_or(&[]);
        list.chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The header extension, when the X bit is set.
    pub fn extension(&self) -> Option<RtpExtension<'a>> {
        if !self.has_extension() {
            return None;
        }
        let at = HEADER_LEN + 4 * usize::from(self.csrc_count());
        let head = self.buf.get(at..at + 4)?;
        let data = self.buf.get(at + 4..self.payload_start)?;
        Some(RtpExtension {
            profile: u16::from_be_bytes([head[0], head[1]]),
            data,
        })
    }

    /// Length of everything before the payload: fixed header, CSRCs, extension.
    pub fn header_len(&self) -> usize {
        self.payload_start
    }

    /// The payload, without header and padding.
    pub fn payload(&self) -> &'a [u8] {
        self.buf.get(self.payload_start..self.payload_end).unwrap_or(&[])
    }

    /// Bytes of padding at the end (zero without the P bit).
    pub fn padding_len(&self) -> usize {
        self.buf.len() - self.payload_end
    }

    /// The fixed-header fields as a [`RtpHeader`].
    pub fn header(&self) -> RtpHeader {
        RtpHeader {
            pt: self.payload_type(),
            marker: self.marker(),
            seq: self.sequence(),
            ts: self.timestamp(),
            ssrc: self.ssrc(),
        }
    }
}

/// A checked view over a mutable RTP packet buffer, to translate a relayed
/// packet in place: payload type, marker, sequence number, timestamp and SSRC
/// are overwritten, the rest (CSRCs, extension, payload, padding) is kept.
#[derive(Debug)]
pub struct RtpPacketMut<'a> {
    buf: &'a mut [u8],
    layout: Layout,
}

impl<'a> RtpPacketMut<'a> {
    /// Checks `buf` as [`RtpPacket::new_checked`] does.
    pub fn new_checked(buf: &'a mut [u8]) -> Result<Self, RtpError> {
        let layout = check(buf)?;
        Ok(RtpPacketMut { buf, layout })
    }

    /// A read-only view of the packet as it is now.
    pub fn as_packet(&self) -> RtpPacket<'_> {
        match fixed_of(self.buf) {
            Some(fixed) => RtpPacket {
                fixed,
                buf: self.buf,
                payload_start: self.layout.payload_start,
                payload_end: self.layout.payload_end,
            },
            // Unreachable: the buffer was checked to hold the fixed header.
            None => RtpPacket {
                fixed: &[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                buf: &[],
                payload_start: 0,
                payload_end: 0,
            },
        }
    }

    fn fixed(&mut self) -> Option<&mut [u8; HEADER_LEN]> {
        self.buf.first_chunk_mut::<HEADER_LEN>()
    }

    /// Sets the payload type (the low 7 bits of `pt`), keeping the marker.
    pub fn set_payload_type(&mut self, pt: u8) {
        if let Some(f) = self.fixed() {
            f[1] = (f[1] & 0x80) | (pt & 0x7f);
        }
    }

    /// Sets or clears the marker bit.
    pub fn set_marker(&mut self, marker: bool) {
        if let Some(f) = self.fixed() {
            f[1] = (f[1] & 0x7f) | if marker { 0x80 } else { 0 };
        }
    }

    /// Sets the sequence number.
    pub fn set_sequence(&mut self, seq: u16) {
        if let Some(f) = self.fixed() {
            f[2..4].copy_from_slice(&seq.to_be_bytes());
        }
    }

    /// Sets the timestamp.
    pub fn set_timestamp(&mut self, ts: u32) {
        if let Some(f) = self.fixed() {
            f[4..8].copy_from_slice(&ts.to_be_bytes());
        }
    }

    /// Sets the SSRC.
    pub fn set_ssrc(&mut self, ssrc: u32) {
        if let Some(f) = self.fixed() {
            f[8..12].copy_from_slice(&ssrc.to_be_bytes());
        }
    }

    /// Rewrites payload type, sequence number, timestamp and SSRC at once,
    /// keeping the marker bit: the usual relay translation.
    pub fn translate(&mut self, pt: u8, seq: u16, ts: u32, ssrc: u32) {
        if let Some(f) = self.fixed() {
            f[1] = (f[1] & 0x80) | (pt & 0x7f);
            f[2..4].copy_from_slice(&seq.to_be_bytes());
            f[4..8].copy_from_slice(&ts.to_be_bytes());
            f[8..12].copy_from_slice(&ssrc.to_be_bytes());
        }
    }

    /// The payload, writable in place (for example to transcode G.711 law).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let Layout {
            payload_start,
            payload_end,
        } = self.layout;
        self.buf.get_mut(payload_start..payload_end).unwrap_or(&mut [])
    }
}

/// The fixed RTP header fields a sender chooses, without CSRCs, extension or
/// padding: what the engine and the players emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader {
    /// Payload type, 7 bits.
    pub pt: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub ts: u32,
    /// Synchronization source.
    pub ssrc: u32,
}

impl RtpHeader {
    /// Writes the 12-byte header at the start of `buf`, returning
    /// [`HEADER_LEN`]; refuses a shorter buffer.
    pub fn write_to(&self, buf: &mut [u8]) -> Result<usize, RtpError> {
        let got = buf.len();
        let Some(out) = buf.first_chunk_mut::<HEADER_LEN>() else {
            return Err(RtpError::BufferTooSmall {
                needed: HEADER_LEN,
                got,
            });
        };
        *out = self.to_bytes();
        Ok(HEADER_LEN)
    }

    /// The 12 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = 0x80;
        b[1] = (self.pt & 0x7f) | if self.marker { 0x80 } else { 0 };
        b[2..4].copy_from_slice(&self.seq.to_be_bytes());
        b[4..8].copy_from_slice(&self.ts.to_be_bytes());
        b[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        b
    }

    /// Appends the header and `payload` to `out`.
    pub fn emit(&self, payload: &[u8], out: &mut Vec<u8>) {
        out.reserve(HEADER_LEN + payload.len());
        out.extend_from_slice(&self.to_bytes());
        out.extend_from_slice(payload);
    }
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
