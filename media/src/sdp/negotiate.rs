//! RFC 3264 offer/answer for a B2BUA that anchors media.
//!
//! Each leg is negotiated on its own against our own RTP port; transcoding between
//! legs is the media engine's business. Only the first usable audio stream is taken;
//! every other `m=` line is refused with port 0, keeping the count and order of the
//! offer (RFC 3264 §6). Secure profiles (`RTP/SAVP`, `UDP/TLS/RTP/SAVPF`) are refused
//! until DTLS-SRTP media exists.

use std::net::{IpAddr, SocketAddr};

use super::{Attribute, Connection, Direction, Media, RtpMap, SdpError, Session};

/// One codec we can use, with the payload type we offer it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecPref {
    /// Encoding name, as we write it (`PCMU`, `opus`, `telephone-event`).
    pub encoding: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Channels in `a=rtpmap` (Opus is always written `/2`, RFC 7587).
    pub channels: u8,
    /// Payload type in our offers; in answers the offerer's number is kept.
    pub payload_type: u8,
    /// `a=fmtp` we write: what we want to receive (for telephone-event, the events).
    pub fmtp: Option<String>,
}

impl CodecPref {
    /// G.711 μ-law, payload type 0.
    pub fn pcmu() -> CodecPref {
        CodecPref::new("PCMU", 8000, 1, 0, None)
    }

    /// G.711 A-law, payload type 8.
    pub fn pcma() -> CodecPref {
        CodecPref::new("PCMA", 8000, 1, 8, None)
    }

    /// Opus at 48 kHz with a dynamic payload type, asking for in-band FEC.
    pub fn opus(payload_type: u8) -> CodecPref {
        CodecPref::new("opus", 48000, 2, payload_type, Some("minptime=10;useinbandfec=1"))
    }

    /// RFC 4733 telephone-event at 8 kHz, events 0-16 (digits, `*#`, A-D, flash).
    pub fn telephone_event(payload_type: u8) -> CodecPref {
        CodecPref::new("telephone-event", 8000, 1, payload_type, Some("0-16"))
    }

    fn new(encoding: &str, clock_rate: u32, channels: u8, payload_type: u8, fmtp: Option<&str>) -> CodecPref {
        CodecPref {
            encoding: encoding.to_owned(),
            clock_rate,
            channels,
            payload_type,
            fmtp: fmtp.map(str::to_owned),
        }
    }

    /// Whether this is telephone-event rather than audio.
    pub fn is_telephone_event(&self) -> bool {
        self.encoding.eq_ignore_ascii_case("telephone-event")
    }

    fn matches(&self, map: &RtpMap) -> bool {
        map.is(&self.encoding, self.clock_rate, self.channels)
    }

    fn rtpmap(&self, payload_type: u8) -> RtpMap {
        RtpMap {
            payload_type,
            encoding: self.encoding.clone(),
            clock_rate: self.clock_rate,
            params: (self.channels != 1).then(|| self.channels.to_string()),
        }
    }
}

/// What we can do, in our order of preference (used for our own offers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCapabilities {
    /// Audio codecs and telephone-event.
    pub codecs: Vec<CodecPref>,
    /// Packet time we ask for, in milliseconds (`a=ptime`).
    pub ptime: u32,
    /// Whether we accept RTP and RTCP on one port (RFC 5761).
    pub rtcp_mux: bool,
    /// Answer with one audio codec only (the offerer's first common one) rather than all
    /// common ones. On by default: the engine decodes one codec per leg, and a peer given
    /// several may switch between them at any packet (RFC 3264 §6.1).
    pub single_codec: bool,
}

impl Default for LocalCapabilities {
    /// PCMU (0), PCMA (8), opus (111), telephone-event (101, events 0-16), 20 ms, rtcp-mux.
    fn default() -> LocalCapabilities {
        LocalCapabilities {
            codecs: vec![
                CodecPref::pcmu(),
                CodecPref::pcma(),
                CodecPref::opus(111),
                CodecPref::telephone_event(101),
            ],
            ptime: 20,
            rtcp_mux: true,
            single_codec: true,
        }
    }
}

/// Our side of the `o=` line of one leg: the session id stays, the version grows with
/// every changed description we send in the dialog (RFC 3264 §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOrigin {
    /// `o=` user name.
    pub username: String,
    /// Session id, fixed for the dialog.
    pub session_id: u64,
    /// Version of the next description we send.
    pub version: u64,
}

impl LocalOrigin {
    /// A new origin; the version starts equal to the session id, as RFC 8866 suggests
    /// (an NTP-style value), so the caller picks both.
    pub fn new(session_id: u64) -> LocalOrigin {
        LocalOrigin {
            username: "switchboard".to_owned(),
            session_id,
            version: session_id,
        }
    }

    /// Increments the version before a changed re-offer or answer; returns the new value.
    pub fn bump(&mut self) -> u64 {
        self.version = self.version.saturating_add(1);
        self.version
    }
}

/// The codec chosen for a leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedCodec {
    /// Encoding name in our spelling ([`CodecPref::encoding`] of the matching entry).
    pub encoding: String,
    /// Payload type to send and expect.
    pub payload_type: u8,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Channels from `a=rtpmap`.
    pub channels: u8,
    /// The peer's `a=fmtp` for it: how the peer wants to receive it.
    pub fmtp: Option<String>,
}

/// The result of offer/answer for one leg: what the media engine needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Index of the `m=` line in use.
    pub media_index: usize,
    /// The audio codec.
    pub codec: NegotiatedCodec,
    /// Payload type of telephone-event, when both sides have it.
    pub telephone_event_pt: Option<u8>,
    /// Packet time the peer asked for (its `a=ptime`), else ours.
    pub ptime_ms: u32,
    /// Our direction: whether we send to and receive from this peer.
    pub direction: Direction,
    /// Where to send RTP: media-level `c=` beats session-level, port from `m=`.
    pub remote_rtp: SocketAddr,
    /// Where to send RTCP: the RTP address with rtcp-mux, else `a=rtcp`, else port + 1.
    pub remote_rtcp: Option<SocketAddr>,
    /// RTP and RTCP share one port.
    pub rtcp_mux: bool,
}

fn is_plain_rtp(proto: &str) -> bool {
    proto == "RTP/AVP" || proto == "RTP/AVPF"
}

fn usable_audio(m: &Media) -> bool {
    m.port != 0 && m.kind == "audio" && is_plain_rtp(&m.proto)
}

/// Builds our offer: one audio stream with every codec of `caps`, in order.
///
/// For a re-offer in the same dialog, [`LocalOrigin::bump`] first (or use [`reoffer`]).
pub fn offer(
    caps: &LocalCapabilities,
    local_addr: IpAddr,
    local_port: u16,
    direction: Direction,
    origin: &LocalOrigin,
) -> Session {
    let mut media = audio_media(local_port, "RTP/AVP");
    for c in &caps.codecs {
        push_codec(&mut media, c.rtpmap(c.payload_type), c.fmtp.clone());
    }
    finish_media(&mut media, caps.ptime, caps.rtcp_mux, direction);
    session(origin, local_addr, (0, 0), vec![media])
}

/// A re-offer of a description we sent before, with a new direction on its active
/// streams and the version incremented (RFC 3264 §8).
pub fn reoffer(previous: &Session, direction: Direction) -> Session {
    let mut next = previous.clone();
    next.origin.session_version = next.origin.session_version.saturating_add(1);
    next.attributes.retain(|a| !matches!(a, Attribute::Direction(_)));
    for m in next.media.iter_mut().filter(|m| m.port != 0) {
        m.set_direction(direction);
    }
    next
}

/// The re-offer that puts the peer on hold (RFC 6337 §5.3): `sendonly`, or `inactive`
/// when the peer has us on hold already (`current` is our direction now).
pub fn hold(previous: &Session, current: Direction) -> Session {
    reoffer(previous, current.without_receive())
}

/// The re-offer that takes the peer off hold: `sendrecv`.
pub fn resume(previous: &Session) -> Session {
    reoffer(previous, Direction::SendRecv)
}

/// Answers an offer with our media at `local_addr:local_port`, willing to send and receive.
///
/// See [`answer_with_direction`].
pub fn answer(
    offer: &Session,
    caps: &LocalCapabilities,
    local_addr: IpAddr,
    local_port: u16,
    origin: &LocalOrigin,
) -> Result<(Session, Negotiated), SdpError> {
    answer_with_direction(offer, caps, local_addr, local_port, origin, Direction::SendRecv)
}

/// Answers an offer; `local` limits our direction (e.g. `sendonly` while we hold the peer).
///
/// Takes the first audio stream over `RTP/AVP(F)` that has a codec in common, chooses
/// codecs in the offerer's order keeping its payload type numbers, adds telephone-event
/// when offered, and mirrors the direction. Every other stream is refused with port 0.
/// Fails with [`SdpError::NoCommonCodec`] or [`SdpError::NoAudio`] (answer 488).
pub fn answer_with_direction(
    offer: &Session,
    caps: &LocalCapabilities,
    local_addr: IpAddr,
    local_port: u16,
    origin: &LocalOrigin,
    local: Direction,
) -> Result<(Session, Negotiated), SdpError> {
    let mut chosen = None;
    let mut error = SdpError::NoAudio;
    let mut media = Vec::with_capacity(offer.media.len());
    for (index, m) in offer.media.iter().enumerate() {
        if chosen.is_none() && usable_audio(m) {
            match answer_audio(offer, index, caps, local_port, local) {
                Ok((answered, negotiated)) => {
                    media.push(answered);
                    chosen = Some(negotiated);
                    continue;
                }
                Err(e) if error == SdpError::NoAudio => error = e,
                Err(_) => {}
            }
        }
        media.push(rejected(m));
    }
    let negotiated = chosen.ok_or(error)?;
    Ok((session(origin, local_addr, offer.timing, media), negotiated))
}

fn answer_audio(
    offer: &Session,
    index: usize,
    caps: &LocalCapabilities,
    local_port: u16,
    local: Direction,
) -> Result<(Media, Negotiated), SdpError> {
    let m = offer.media.get(index).ok_or(SdpError::NoAudio)?;
    let mut common: Vec<(RtpMap, &CodecPref)> = Vec::new();
    let mut events: Vec<(RtpMap, &CodecPref)> = Vec::new();
    for pt in m.payload_types() {
        let Some(map) = m.rtpmap(pt) else { continue };
        let Some(pref) = caps.codecs.iter().find(|c| c.matches(&map)) else {
            continue;
        };
        if pref.is_telephone_event() {
            events.push((map, pref));
        } else if !common.iter().any(|(c, _)| c.payload_type == pt) {
            common.push((map, pref));
        }
    }
    if caps.single_codec {
        common.truncate(1);
    }
    let (first_map, first_pref) = common.first().ok_or(SdpError::NoCommonCodec)?;
    let (remote_rtp, remote_rtcp, rtcp_mux) = remote_addresses(offer, index, caps.rtcp_mux)?;

    let mut answered = audio_media(local_port, &m.proto);
    for (map, pref) in &common {
        push_codec(&mut answered, pref.rtpmap(map.payload_type), pref.fmtp.clone());
    }
    // Prefer the telephone-event whose clock matches the audio codec (RFC 4733 §2.1).
    let event = events
        .iter()
        .find(|(map, _)| map.clock_rate == first_map.clock_rate)
        .or(events.first())
        .and_then(|(map, pref)| {
            let theirs = m.fmtp(map.payload_type).unwrap_or("0-15");
            let ours = pref.fmtp.as_deref().unwrap_or("0-15");
            common_events(theirs, ours).map(|list| (pref.rtpmap(map.payload_type), list))
        });
    let telephone_event_pt = event.as_ref().map(|(map, _)| map.payload_type);
    if let Some((map, list)) = event {
        push_codec(&mut answered, map, Some(list));
    }
    let direction = offer.effective_direction(index).reversed().intersect(local);
    finish_media(&mut answered, caps.ptime, rtcp_mux, direction);

    let negotiated = Negotiated {
        media_index: index,
        codec: NegotiatedCodec {
            encoding: first_pref.encoding.clone(),
            payload_type: first_map.payload_type,
            clock_rate: first_map.clock_rate,
            channels: first_map.channels(),
            fmtp: m.fmtp(first_map.payload_type).map(str::to_owned),
        },
        telephone_event_pt,
        ptime_ms: ptime(offer, index).unwrap_or(caps.ptime),
        direction,
        remote_rtp,
        remote_rtcp,
        rtcp_mux,
    };
    Ok((answered, negotiated))
}

/// Checks the answer to an offer we sent and says what was agreed.
///
/// The answer must have one `m=` line per offered one, of the same media type, and its
/// accepted audio stream may only use codecs we offered (matched by encoding, clock rate
/// and channels; the answerer's payload type numbers are the ones to send with).
pub fn process_answer(offer_we_sent: &Session, answer: &Session) -> Result<Negotiated, SdpError> {
    if offer_we_sent.media.len() != answer.media.len()
        || offer_we_sent
            .media
            .iter()
            .zip(&answer.media)
            .any(|(o, a)| o.kind != a.kind)
    {
        return Err(SdpError::AnswerMismatch);
    }
    let index = offer_we_sent
        .media
        .iter()
        .zip(&answer.media)
        .position(|(o, a)| usable_audio(o) && a.port != 0)
        .ok_or(SdpError::NoCommonCodec)?;
    let (ours, theirs) = match (offer_we_sent.media.get(index), answer.media.get(index)) {
        (Some(o), Some(a)) => (o, a),
        _ => return Err(SdpError::AnswerMismatch),
    };
    let mut codec = None;
    let mut telephone_event_pt = None;
    for pt in theirs.payload_types() {
        let offered = theirs.rtpmap(pt).or_else(|| ours.rtpmap(pt)).and_then(|map| {
            ours.payload_types()
                .filter_map(|p| ours.rtpmap(p))
                .find(|o| map.is(&o.encoding, o.clock_rate, o.channels()))
                .map(|o| (map, o))
        });
        let Some((map, offered)) = offered else {
            return Err(SdpError::AnswerNotSubset { pt });
        };
        if offered.encoding.eq_ignore_ascii_case("telephone-event") {
            telephone_event_pt = telephone_event_pt.or(Some(pt));
        } else if codec.is_none() {
            codec = Some(NegotiatedCodec {
                encoding: offered.encoding,
                payload_type: pt,
                clock_rate: map.clock_rate,
                channels: map.channels(),
                fmtp: theirs.fmtp(pt).map(str::to_owned),
            });
        }
    }
    let codec = codec.ok_or(SdpError::NoCommonCodec)?;
    let (remote_rtp, remote_rtcp, rtcp_mux) = remote_addresses(answer, index, ours.rtcp_mux())?;
    let direction = offer_we_sent
        .direction(index)
        .intersect(answer.effective_direction(index).reversed());
    Ok(Negotiated {
        media_index: index,
        codec,
        telephone_event_pt,
        ptime_ms: ptime(answer, index)
            .or_else(|| ptime(offer_we_sent, index))
            .unwrap_or(20),
        direction,
        remote_rtp,
        remote_rtcp,
        rtcp_mux,
    })
}

/// `a=ptime` of a stream, or of the session when a peer writes it there.
fn ptime(s: &Session, index: usize) -> Option<u32> {
    s.media.get(index).and_then(Media::ptime).or_else(|| {
        s.attributes.iter().find_map(|a| match a {
            Attribute::Ptime(p) => Some(*p),
            _ => None,
        })
    })
}

/// RTP and RTCP destinations of the peer's stream, and whether rtcp-mux is agreed.
fn remote_addresses(
    s: &Session,
    index: usize,
    mux_allowed: bool,
) -> Result<(SocketAddr, Option<SocketAddr>, bool), SdpError> {
    let m = s.media.get(index).ok_or(SdpError::NoAudio)?;
    let conn = s.media_connection(index).ok_or(SdpError::NoConnection { index })?;
    let ip = conn.ip().ok_or_else(|| SdpError::UnresolvedAddress {
        index,
        address: conn.address.clone(),
    })?;
    let rtp = SocketAddr::new(ip, m.port);
    let mux = mux_allowed && m.rtcp_mux();
    let rtcp = if mux {
        Some(rtp)
    } else if let Some(attr) = m.rtcp() {
        let rtcp_ip = attr.connection.as_ref().and_then(Connection::ip).unwrap_or(ip);
        Some(SocketAddr::new(rtcp_ip, attr.port))
    } else {
        m.port.checked_add(1).map(|p| SocketAddr::new(ip, p))
    };
    Ok((rtp, rtcp, mux))
}

/// The events both lists allow, written as ranges (`0-15`), or `None` if none.
fn common_events(theirs: &str, ours: &str) -> Option<String> {
    let a = event_set(theirs);
    let b = event_set(ours);
    let both: Vec<bool> = a.iter().zip(b.iter()).map(|(x, y)| *x && *y).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < both.len() {
        if both.get(i) == Some(&true) {
            let start = i;
            while both.get(i + 1) == Some(&true) {
                i += 1;
            }
            out.push(if start == i {
                start.to_string()
            } else {
                format!("{start}-{i}")
            });
        }
        i += 1;
    }
    (!out.is_empty()).then(|| out.join(","))
}

/// RFC 4733 §2.4.1 event list (`0-15,66,70`); unreadable items are skipped.
fn event_set(list: &str) -> [bool; 256] {
    let mut set = [false; 256];
    for item in list.split(',').map(str::trim) {
        let (lo, hi) = item.split_once('-').unwrap_or((item, item));
        if let (Ok(lo), Ok(hi)) = (lo.trim().parse::<u8>(), hi.trim().parse::<u8>()) {
            for e in lo..=hi {
                set[usize::from(e)] = true;
            }
        }
    }
    set
}

fn audio_media(port: u16, proto: &str) -> Media {
    Media {
        kind: "audio".to_owned(),
        port,
        port_count: None,
        proto: proto.to_owned(),
        formats: Vec::new(),
        connection: None,
        attributes: Vec::new(),
        other_lines: Vec::new(),
    }
}

fn push_codec(media: &mut Media, map: RtpMap, fmtp: Option<String>) {
    media.formats.push(map.payload_type.to_string());
    let pt = map.payload_type;
    media.attributes.push(Attribute::Rtpmap(map));
    if let Some(params) = fmtp {
        media.attributes.push(Attribute::Fmtp {
            format: pt.to_string(),
            params,
        });
    }
}

fn finish_media(media: &mut Media, ptime: u32, rtcp_mux: bool, direction: Direction) {
    media.attributes.push(Attribute::Ptime(ptime));
    if rtcp_mux {
        media.attributes.push(Attribute::RtcpMux);
    }
    media.attributes.push(Attribute::Direction(direction));
}

/// A refused stream: same type, protocol and formats, port 0, nothing else (RFC 3264 §6).
fn rejected(offered: &Media) -> Media {
    Media {
        kind: offered.kind.clone(),
        port: 0,
        port_count: None,
        proto: offered.proto.clone(),
        formats: offered.formats.clone(),
        connection: None,
        attributes: Vec::new(),
        other_lines: Vec::new(),
    }
}

fn session(origin: &LocalOrigin, addr: IpAddr, timing: (u64, u64), media: Vec<Media>) -> Session {
    Session {
        origin: super::Origin {
            username: origin.username.clone(),
            session_id: origin.session_id.to_string(),
            session_version: origin.version,
            address: Connection::from_ip(addr),
        },
        name: "switchboard".to_owned(),
        connection: Some(Connection::from_ip(addr)),
        timing,
        attributes: Vec::new(),
        other_lines: Vec::new(),
        media,
    }
}
