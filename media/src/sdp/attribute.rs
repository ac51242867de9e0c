//! `a=` lines: the ones offer/answer needs are typed, the rest are kept verbatim.

use std::fmt;

/// One `a=` line.
///
/// A known attribute whose value cannot be read (`a=ptime:abc`) is kept as
/// [`Attribute::Other`], so one odd line never costs the whole description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `a=rtpmap:<pt> <encoding>/<clock rate>[/<params>]`.
    Rtpmap(RtpMap),
    /// `a=fmtp:<format> <parameters>`.
    Fmtp {
        /// The format (payload type number for RTP), as written.
        format: String,
        /// The format-specific parameters, verbatim (may be empty).
        params: String,
    },
    /// `a=ptime:<ms>`: packet time the sender of this SDP wants to receive.
    Ptime(u32),
    /// `a=maxptime:<ms>`.
    MaxPtime(u32),
    /// `a=sendrecv`, `a=sendonly`, `a=recvonly`, `a=inactive`.
    Direction(Direction),
    /// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605).
    Rtcp(RtcpAttr),
    /// `a=rtcp-mux` (RFC 5761).
    RtcpMux,
    /// Any other attribute (ICE, DTLS, `mid`, `ssrc`, ...), verbatim.
    Other {
        /// The name, before any `:`.
        name: String,
        /// The value after the first `:`, if there was a `:`.
        value: Option<String>,
    },
}

/// `a=rtpmap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// The payload type.
    pub payload_type: u8,
    /// Encoding name as written (`PCMU`, `opus`, `telephone-event`).
    pub encoding: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Encoding parameters: the channel count for audio (`2` in `opus/48000/2`).
    pub params: Option<String>,
}

impl RtpMap {
    /// The RFC 3551 static audio payload types a peer may use without `a=rtpmap`.
    pub fn static_payload(pt: u8) -> Option<RtpMap> {
        let encoding = match pt {
            0 => "PCMU",
            3 => "GSM",
            4 => "G723",
            8 => "PCMA",
            9 => "G722",
            13 => "CN",
            18 => "G729",
            _ => return None,
        };
        Some(RtpMap {
            payload_type: pt,
            encoding: encoding.to_owned(),
            clock_rate: 8000,
            params: None,
        })
    }

    /// Audio channels: the encoding parameter, 1 when absent (RFC 8866 §6.6).
    pub fn channels(&self) -> u8 {
        self.params.as_deref().and_then(|p| p.parse().ok()).unwrap_or(1)
    }

    /// Whether this maps the same codec as `encoding/clock_rate/channels`
    /// (encoding names compare case-insensitively).
    pub fn is(&self, encoding: &str, clock_rate: u32, channels: u8) -> bool {
        self.encoding.eq_ignore_ascii_case(encoding) && self.clock_rate == clock_rate && self.channels() == channels
    }

    fn parse(value: &str) -> Option<RtpMap> {
        let (pt, rest) = value.trim().split_once(' ')?;
        let payload_type: u8 = pt.parse().ok().filter(|pt| *pt < 128)?;
        let mut parts = rest.trim().splitn(3, '/');
        let encoding = parts
            .next()
            .filter(|e| !e.is_empty() && !e.contains(char::is_whitespace))?;
        let clock_rate = parts.next()?.parse().ok().filter(|r| *r > 0)?;
        let params = parts.next().map(str::to_owned);
        if params
            .as_deref()
            .is_some_and(|p| p.is_empty() || p.contains(char::is_whitespace))
        {
            return None;
        }
        Some(RtpMap {
            payload_type,
            encoding: encoding.to_owned(),
            clock_rate,
            params,
        })
    }
}

/// Media direction, as seen by the side that wrote the SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Send and receive (the default).
    SendRecv,
    /// Send only (puts the other side on hold).
    SendOnly,
    /// Receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction for an attribute name.
    pub fn from_name(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// Whether this side sends.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether this side receives.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The direction from its send and receive halves.
    pub fn from_parts(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// The same stream seen from the other side (`sendonly` <-> `recvonly`).
    pub fn reversed(self) -> Direction {
        Direction::from_parts(self.receives(), self.sends())
    }

    /// Both conditions at once: sends only if both send, receives only if both receive.
    pub fn intersect(self, other: Direction) -> Direction {
        Direction::from_parts(self.sends() && other.sends(), self.receives() && other.receives())
    }

    /// This direction with receiving removed.
    pub fn without_receive(self) -> Direction {
        Direction::from_parts(self.sends(), false)
    }
}

/// `a=rtcp` (RFC 3605): the RTCP port, and an address when it differs from the RTP one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpAttr {
    /// RTCP port.
    pub port: u16,
    /// `IN IP4 <address>` when given.
    pub connection: Option<super::Connection>,
}

impl Attribute {
    /// Reads an attribute from what follows `a=`.
    pub(crate) fn parse(text: &str) -> Attribute {
        let (name, value) = match text.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (text, None),
        };
        let typed = match (name, value) {
            ("rtpmap", Some(v)) => RtpMap::parse(v).map(Attribute::Rtpmap),
            ("fmtp", Some(v)) => parse_fmtp(v),
            ("ptime", Some(v)) => v.trim().parse().ok().map(Attribute::Ptime),
            ("maxptime", Some(v)) => v.trim().parse().ok().map(Attribute::MaxPtime),
            ("rtcp", Some(v)) => parse_rtcp(v).map(Attribute::Rtcp),
            ("rtcp-mux", None) => Some(Attribute::RtcpMux),
            (n, None) => Direction::from_name(n).map(Attribute::Direction),
            _ => None,
        };
        typed.unwrap_or_else(|| Attribute::Other {
            name: name.to_owned(),
            value: value.map(str::to_owned),
        })
    }

    /// The attribute name.
    pub fn name(&self) -> &str {
        match self {
            Attribute::Rtpmap(_) => "rtpmap",
            Attribute::Fmtp { .. } => "fmtp",
            Attribute::Ptime(_) => "ptime",
            Attribute::MaxPtime(_) => "maxptime",
            Attribute::Direction(d) => d.as_str(),
            Attribute::Rtcp(_) => "rtcp",
            Attribute::RtcpMux => "rtcp-mux",
            Attribute::Other { name, .. } => name,
        }
    }

    /// The value of an attribute kept verbatim (`a=<name>:<value>`), e.g. `ice-ufrag`.
    pub fn other_value(&self, wanted: &str) -> Option<&str> {
        match self {
            Attribute::Other { name, value } if name == wanted => value.as_deref(),
            _ => None,
        }
    }
}

fn parse_fmtp(v: &str) -> Option<Attribute> {
    let v = v.trim_start();
    let (format, params) = v.split_once(' ').unwrap_or((v, ""));
    if format.is_empty() {
        return None;
    }
    Some(Attribute::Fmtp {
        format: format.to_owned(),
        params: params.trim().to_owned(),
    })
}

fn parse_rtcp(v: &str) -> Option<RtcpAttr> {
    let mut parts = v.split_ascii_whitespace();
    let port = parts.next()?.parse().ok()?;
    let connection = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (None, ..) => None,
        (Some(n), Some(a), Some(addr), None) => Some(super::Connection {
            net_type: n.to_owned(),
            addr_type: a.to_owned(),
            address: addr.to_owned(),
        }),
        _ => return None,
    };
    Some(RtcpAttr { port, connection })
}

impl fmt::Display for Attribute {
    /// Writes what follows `a=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::Rtpmap(m) => {
                write!(f, "rtpmap:{} {}/{}", m.payload_type, m.encoding, m.clock_rate)?;
                if let Some(p) = &m.params {
                    write!(f, "/{p}")?;
                }
                Ok(())
            }
            Attribute::Fmtp { format, params } if params.is_empty() => write!(f, "fmtp:{format}"),
            Attribute::Fmtp { format, params } => write!(f, "fmtp:{format} {params}"),
            Attribute::Ptime(p) => write!(f, "ptime:{p}"),
            Attribute::MaxPtime(p) => write!(f, "maxptime:{p}"),
            Attribute::Direction(d) => f.write_str(d.as_str()),
            Attribute::Rtcp(r) => match &r.connection {
                Some(c) => write!(f, "rtcp:{} {c}", r.port),
                None => write!(f, "rtcp:{}", r.port),
            },
            Attribute::RtcpMux => f.write_str("rtcp-mux"),
            Attribute::Other { name, value: Some(v) } => write!(f, "{name}:{v}"),
            Attribute::Other { name, value: None } => f.write_str(name),
        }
    }
}
