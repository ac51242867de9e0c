//! The few SIP messages the tester writes itself: INVITE, REGISTER and the
//! responses of an answering phone, plus the SDP of a G.711 phone with
//! RFC 4733 events. Written as text and parsed by rsip, like a phone's
//! templates: only standard SIP, so any platform can be tested.

use std::net::SocketAddr;

use rsip::headers::{self as h, Header, UntypedHeader};
use rsip::{Request, Response, SipMessage};

/// The payload type the tester offers for RFC 4733 events.
pub(crate) const TELEPHONE_EVENT_PT: u8 = 101;

fn parse_request(text: &str) -> Option<Request> {
    match SipMessage::try_from(text) {
        Ok(SipMessage::Request(r)) => Some(r),
        _ => None,
    }
}

/// An SDP offer or answer for one audio stream on `rtp`: the codec's static
/// payload type and telephone-event.
pub(crate) fn sdp(rtp: SocketAddr, session_id: u64, codec_pt: u8) -> String {
    let ip = rtp.ip();
    let name = if codec_pt == 8 { "PCMA" } else { "PCMU" };
    format!(
        "v=0\r\no=- {session_id} 1 IN IP4 {ip}\r\ns=switchboard-loadtest\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {codec_pt} {TELEPHONE_EVENT_PT}\r\na=rtpmap:{codec_pt} {name}/8000\r\n\
         a=rtpmap:{TELEPHONE_EVENT_PT} telephone-event/8000\r\na=fmtp:{TELEPHONE_EVENT_PT} 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
        port = rtp.port()
    )
}

/// Where the peer wants RTP, read from its SDP.
pub(crate) fn rtp_destination(body: &[u8]) -> Option<SocketAddr> {
    let session = media::sdp::Session::from_bytes(body).ok()?;
    let m = session.media.iter().position(|m| m.kind == "audio" && m.port != 0)?;
    let ip = session.media_connection(m)?.ip()?;
    Some(SocketAddr::new(ip, session.media.get(m)?.port))
}

/// A caller's INVITE with an SDP offer.
pub(crate) struct Invite<'a> {
    pub(crate) via: &'a str,
    pub(crate) local: SocketAddr,
    pub(crate) from_user: &'a str,
    pub(crate) to_user: &'a str,
    pub(crate) domain: &'a str,
    pub(crate) call_id: &'a str,
    pub(crate) from_tag: &'a str,
    pub(crate) sdp: &'a str,
}

impl Invite<'_> {
    pub(crate) fn build(&self) -> Option<Request> {
        let text = format!(
            "INVITE sip:{to}@{domain} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
             From: <sip:{from}@{domain}>;tag={tag}\r\nTo: <sip:{to}@{domain}>\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\nContact: <sip:{from}@{local}>\r\nUser-Agent: switchboard-loadtest\r\n\
             Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            to = self.to_user,
            domain = self.domain,
            via = self.via,
            from = self.from_user,
            tag = self.from_tag,
            call_id = self.call_id,
            local = self.local,
            len = self.sdp.len(),
            sdp = self.sdp,
        );
        parse_request(&text)
    }
}

/// A REGISTER for `user`; `authorization` answers the previous challenge.
#[allow(clippy::too_many_arguments)]
pub(crate) fn register(
    via: &str,
    local: SocketAddr,
    user: &str,
    domain: &str,
    call_id: &str,
    tag: &str,
    cseq: u32,
    expires: u32,
    authorization: Option<&str>,
) -> Option<Request> {
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let text = format!(
        "REGISTER sip:{domain} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
         From: <sip:{user}@{domain}>;tag={tag}\r\nTo: <sip:{user}@{domain}>\r\nCall-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{local}>\r\nExpires: {expires}\r\n{auth}\
         User-Agent: switchboard-loadtest\r\nContent-Length: 0\r\n\r\n"
    );
    parse_request(&text)
}

/// A response to `request` with our To tag, our Contact and an optional SDP body.
pub(crate) fn response(
    request: &Request,
    code: u16,
    to_tag: &str,
    contact: Option<&str>,
    sdp: Option<&str>,
) -> Response {
    let mut r = signaling::response::response_for(request, signaling::response::status(code), Some(to_tag));
    if let Some(contact) = contact {
        r.headers.push(Header::Contact(h::Contact::new(contact)));
    }
    if let Some(sdp) = sdp {
        r.headers.retain(|h| !matches!(h, Header::ContentLength(_)));
        r.headers
            .push(Header::ContentType(h::ContentType::new("application/sdp")));
        r.headers
            .push(Header::ContentLength(h::ContentLength::new(sdp.len().to_string())));
        r.body = sdp.as_bytes().to_vec();
    }
    r
}

/// The status code of a response.
pub(crate) fn code(response: &Response) -> u16 {
    response.status_code.code()
}

/// The CSeq method of a response.
pub(crate) fn cseq_method(response: &Response) -> Option<rsip::Method> {
    signaling::headers::cseq(&response.headers).ok().map(|(_, m)| m)
}

/// The first header value named `name` (case-insensitive), for headers rsip
/// keeps untyped (WWW-Authenticate among them when it does not parse).
pub(crate) fn header_value(response: &Response, name: &str) -> Option<String> {
    response.headers.iter().find_map(|header| {
        let text = header.to_string();
        let (key, value) = text.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_string())
    })
}
