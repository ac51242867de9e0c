//! SDP (RFC 8866, formerly RFC 4566) and the RFC 3264 offer/answer model.
//!
//! - [`Session`] is a parsed session description: [`Session::parse`] never panics,
//!   whatever the bytes, and [`Session`]'s `Display` writes it back with CRLF line
//!   ends. Attributes this module understands are typed ([`Attribute`]); every other
//!   attribute and line is kept verbatim, so an SDP can be relayed or inspected
//!   without losing what we do not model (ICE, DTLS fingerprints, `mid`, ...).
//! - [`answer`], [`offer`], [`process_answer`] and [`reoffer`] (hold and resume) are
//!   the offer/answer rules of a B2BUA that anchors media: every leg talks to our own
//!   RTP port, so each leg is negotiated on its own and the result is a
//!   [`Negotiated`] that tells the media engine what to send where.
//!
//! The rules are written down in `docs/media-sdp-and-players.md`.
//!
//! Parsing is lenient where it costs nothing (missing `s=` or `t=`, unknown line
//! types, attributes we cannot read, which are kept as [`Attribute::Other`]) and
//! strict where a wrong guess would misroute media (`v=`, `o=`, `c=`, `m=`).

use std::fmt;
use std::net::IpAddr;

mod attribute;
mod negotiate;
mod parse;

pub use attribute::{Attribute, Direction, RtcpAttr, RtpMap};
pub use negotiate::{
    answer, answer_with_direction, hold, offer, process_answer, reoffer, resume, CodecPref, LocalCapabilities,
    LocalOrigin, Negotiated, NegotiatedCodec,
};

#[cfg(test)]
mod tests_negotiate;
#[cfg(test)]
mod tests_parse;

/// Errors from parsing SDP and from offer/answer.
///
/// [`SdpError::NoCommonCodec`] and [`SdpError::NoAudio`] are what a UAS answers with
/// `488 Not Acceptable Here`; the others mean the SDP itself is unusable (a `400` for an
/// offer, a `BYE`/`ACK`-then-`BYE` for a bad answer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is not UTF-8.
    #[error("SDP is not valid UTF-8")]
    NotUtf8,
    /// A line that cannot be read (1-based line number and what was wrong).
    #[error("SDP line {line}: {reason}")]
    Malformed {
        /// 1-based line number in the body.
        line: usize,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A line the SDP must have is missing (`v` or `o`).
    #[error("SDP has no {0}= line")]
    Missing(char),
    /// The offer has no audio stream we can use over plain RTP.
    #[error("no audio stream over RTP/AVP or RTP/AVPF in the offer")]
    NoAudio,
    /// No audio codec is supported by both sides.
    #[error("no codec in common")]
    NoCommonCodec,
    /// A stream we would use has no connection address (`c=`) at either level.
    #[error("media {index} has no connection address")]
    NoConnection {
        /// 0-based index of the `m=` line.
        index: usize,
    },
    /// The connection address is not an IP address (SDP allows names; we do not resolve them).
    #[error("media {index} has connection address {address:?}, not an IP address")]
    UnresolvedAddress {
        /// 0-based index of the `m=` line.
        index: usize,
        /// The address as written.
        address: String,
    },
    /// The answer does not have one `m=` line per offered `m=` line, in order (RFC 3264 §6).
    #[error("answer does not match the offer's media lines")]
    AnswerMismatch,
    /// The answer accepted a codec we did not offer.
    #[error("answer chose a codec that was not offered (payload type {pt})")]
    AnswerNotSubset {
        /// The answer's payload type.
        pt: u8,
    },
}

/// A session description: the session-level lines and its media descriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `o=`: originator and session identifier.
    pub origin: Origin,
    /// `s=`: session name (`-` when absent).
    pub name: String,
    /// Session-level `c=`, the default for media without their own.
    pub connection: Option<Connection>,
    /// First `t=` line (start, stop); `0 0` when absent.
    pub timing: (u64, u64),
    /// Session-level attributes, in order.
    pub attributes: Vec<Attribute>,
    /// Other session-level lines (`i u e p b r z k`, further `t=`, unknown types), kept verbatim.
    pub other_lines: Vec<Line>,
    /// The `m=` sections, in order.
    pub media: Vec<Media>,
}

/// A line kept verbatim: its type letter and its value (what follows `x=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The type letter (`b`, `i`, `k`, ...).
    pub kind: char,
    /// Everything after the `=`.
    pub value: String,
}

/// The `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name (`-` when none).
    pub username: String,
    /// Session id, kept as written (a numeric string; some peers exceed 64 bits).
    pub session_id: String,
    /// Session version: must grow when the description changes (RFC 3264 §8).
    pub session_version: u64,
    /// The originator's address.
    pub address: Connection,
}

/// A connection address (`c=` and the address part of `o=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Network type, `IN` in practice.
    pub net_type: String,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// The address as written: an IP address, possibly with `/ttl` for multicast, or a name.
    pub address: String,
}

impl Connection {
    /// `IN IP4 a.b.c.d` or `IN IP6 ...` for an address.
    pub fn from_ip(ip: IpAddr) -> Connection {
        Connection {
            net_type: "IN".to_owned(),
            addr_type: if ip.is_ipv4() { "IP4" } else { "IP6" }.to_owned(),
            address: ip.to_string(),
        }
    }

    /// The IP address, if the address is one (any `/ttl` suffix is ignored).
    pub fn ip(&self) -> Option<IpAddr> {
        let bare = self.address.split('/').next().unwrap_or_default();
        bare.parse().ok()
    }

    /// Whether this is the legacy hold address `0.0.0.0` (RFC 2543; RFC 3264 §8.4).
    pub fn is_unspecified(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Media type: `audio`, `video`, `application`, ...
    pub kind: String,
    /// Transport port; 0 marks a rejected or disabled stream.
    pub port: u16,
    /// The `/<number of ports>` suffix, when written.
    pub port_count: Option<u16>,
    /// Transport protocol: `RTP/AVP`, `RTP/AVPF`, `UDP/TLS/RTP/SAVPF`, ...
    pub proto: String,
    /// Format list: payload type numbers for RTP.
    pub formats: Vec<String>,
    /// Media-level `c=`, which overrides the session-level one.
    pub connection: Option<Connection>,
    /// Media-level attributes, in order.
    pub attributes: Vec<Attribute>,
    /// Other media-level lines (`i b k`, unknown types), kept verbatim.
    pub other_lines: Vec<Line>,
}

impl Media {
    /// RTP payload types of the format list (formats that are not numbers 0-127 are skipped).
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter(|pt| *pt < 128)
    }

    /// The `a=rtpmap` of a payload type, or the RFC 3551 static assignment when there is
    /// none (0 PCMU, 3 GSM, 4 G723, 8 PCMA, 9 G722, 13 CN, 18 G729).
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap> {
        self.attributes
            .iter()
            .find_map(|a| match a {
                Attribute::Rtpmap(m) if m.payload_type == pt => Some(m.clone()),
                _ => None,
            })
            .or_else(|| RtpMap::static_payload(pt))
    }

    /// The `a=fmtp` parameters of a format.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Fmtp { format, params } if format.parse::<u8>().ok() == Some(pt) => Some(params.as_str()),
            _ => None,
        })
    }

    /// `a=ptime`, in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Ptime(p) => Some(*p),
            _ => None,
        })
    }

    /// `a=maxptime`, in milliseconds.
    pub fn maxptime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::MaxPtime(p) => Some(*p),
            _ => None,
        })
    }

    /// The media-level direction attribute, if any.
    pub fn direction_attr(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// `a=rtcp` (RFC 3605).
    pub fn rtcp(&self) -> Option<&RtcpAttr> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Rtcp(r) => Some(r),
            _ => None,
        })
    }

    /// Whether `a=rtcp-mux` (RFC 5761) is present.
    pub fn rtcp_mux(&self) -> bool {
        self.attributes.iter().any(|a| matches!(a, Attribute::RtcpMux))
    }

    /// Replaces the direction attribute (or adds one).
    pub fn set_direction(&mut self, direction: Direction) {
        self.attributes.retain(|a| !matches!(a, Attribute::Direction(_)));
        self.attributes.push(Attribute::Direction(direction));
    }
}

impl Session {
    /// Parses a session description from text (CRLF or LF line ends).
    pub fn parse(text: &str) -> Result<Session, SdpError> {
        parse::parse(text)
    }

    /// Parses a session description from a message body.
    pub fn from_bytes(body: &[u8]) -> Result<Session, SdpError> {
        std::str::from_utf8(body)
            .map_err(|_| SdpError::NotUtf8)
            .and_then(parse::parse)
    }

    /// The direction of a media section: its own attribute, else the session-level one,
    /// else `sendrecv` (RFC 3264 §5.1). The `c=0.0.0.0` hold convention is not applied
    /// here; see [`Session::effective_direction`].
    pub fn direction(&self, index: usize) -> Direction {
        self.media
            .get(index)
            .and_then(Media::direction_attr)
            .or_else(|| direction_of(&self.attributes))
            .unwrap_or(Direction::SendRecv)
    }

    /// The direction with the RFC 2543 hold convention applied: a connection address of
    /// `0.0.0.0` means the peer receives nothing, so `sendrecv` becomes `sendonly` and
    /// `recvonly` becomes `inactive`.
    pub fn effective_direction(&self, index: usize) -> Direction {
        let dir = self.direction(index);
        match self.media_connection(index) {
            Some(c) if c.is_unspecified() => dir.without_receive(),
            _ => dir,
        }
    }

    /// The connection that applies to a media section: its own `c=`, else the session's.
    pub fn media_connection(&self, index: usize) -> Option<&Connection> {
        self.media
            .get(index)
            .and_then(|m| m.connection.as_ref())
            .or(self.connection.as_ref())
    }

    /// The body as bytes, ready to put in a SIP message.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl std::str::FromStr for Session {
    type Err = SdpError;
    fn from_str(s: &str) -> Result<Session, SdpError> {
        parse::parse(s)
    }
}

fn direction_of(attributes: &[Attribute]) -> Option<Direction> {
    attributes.iter().find_map(|a| match a {
        Attribute::Direction(d) => Some(*d),
        _ => None,
    })
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

fn write_lines(f: &mut fmt::Formatter<'_>, lines: &[Line], kinds: &str) -> fmt::Result {
    for line in lines.iter().filter(|l| kinds.contains(l.kind)) {
        write!(f, "{}={}\r\n", line.kind, line.value)?;
    }
    Ok(())
}

/// Line types written in their RFC 8866 place; anything else goes after `k=`.
const SESSION_ORDERED: &str = "iuepbtrzk";

impl fmt::Display for Session {
    /// Writes the description in RFC 8866 order with CRLF line ends.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(
            f,
            "v=0\r\no={} {} {} {}\r\n",
            o.username, o.session_id, o.session_version, o.address
        )?;
        write!(f, "s={}\r\n", self.name)?;
        write_lines(f, &self.other_lines, "iuep")?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        write_lines(f, &self.other_lines, "b")?;
        write!(f, "t={} {}\r\n", self.timing.0, self.timing.1)?;
        write_lines(f, &self.other_lines, "trzk")?;
        for line in self.other_lines.iter().filter(|l| !SESSION_ORDERED.contains(l.kind)) {
            write!(f, "{}={}\r\n", line.kind, line.value)?;
        }
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        for m in &self.media {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Media {
    /// Writes the `m=` section (with its CRLF line ends).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.kind, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.proto)?;
        for fmt in &self.formats {
            write!(f, " {fmt}")?;
        }
        f.write_str("\r\n")?;
        write_lines(f, &self.other_lines, "i")?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        write_lines(f, &self.other_lines, "bk")?;
        for line in self.other_lines.iter().filter(|l| !"ibk".contains(l.kind)) {
            write!(f, "{}={}\r\n", line.kind, line.value)?;
        }
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        Ok(())
    }
}
