//! Message builders for the B2BUA: the agent-leg INVITE, the INVITE of a call
//! the switch places, CANCEL, and responses carrying a body.

use rsip::headers::{self as h, Header, UntypedHeader};
use rsip::{Method, Request, Response, Version};
use signaling::headers;
use signaling::response::response_for;
use signaling::transport::{Peer, Transport};

/// Methods we answer or relay, for Allow headers.
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, MESSAGE, NOTIFY";

/// Our own addresses, for Via and Contact.
#[derive(Debug, Clone)]
pub(crate) struct Local {
    /// UDP listen address, if any.
    pub(crate) udp: Option<std::net::SocketAddr>,
    /// TCP listen address, if any.
    pub(crate) tcp: Option<std::net::SocketAddr>,
    /// The SIP domain.
    pub(crate) domain: String,
}

impl Local {
    fn host_port(&self, transport: Transport) -> String {
        let addr = match transport {
            Transport::Udp => self.udp.or(self.tcp),
            Transport::Tcp | Transport::Ws => self.tcp.or(self.udp),
        };
        match addr {
            Some(a) if !a.ip().is_unspecified() => a.to_string(),
            Some(a) => format!("{}:{}", self.domain, a.port()),
            None => self.domain.clone(),
        }
    }

    /// A Via value with a fresh branch for a request sent over `transport`.
    pub(crate) fn via(&self, transport: Transport) -> String {
        format!(
            "SIP/2.0/{} {};branch={};rport",
            transport.via_token(),
            self.host_port(transport),
            headers::new_branch()
        )
    }

    /// Our Contact for a dialog over `transport`.
    pub(crate) fn contact(&self, transport: Transport) -> String {
        let param = match transport {
            Transport::Tcp => ";transport=tcp",
            Transport::Ws => ";transport=ws",
            Transport::Udp => "",
        };
        format!("<sip:switchboard@{}{param}>", self.host_port(transport))
    }
}

/// The body of a message with its Content-Type, if it has one.
pub(crate) fn body_of(headers: &rsip::Headers, body: &[u8]) -> Option<(String, Vec<u8>)> {
    if body.is_empty() {
        return None;
    }
    let content_type = headers.iter().find_map(|x| match x {
        Header::ContentType(c) => Some(c.value().to_owned()),
        _ => None,
    })?;
    Some((content_type, body.to_vec()))
}

/// A response to `request` with our To tag, optionally a Contact and a body.
pub(crate) fn response(
    request: &Request,
    code: u16,
    to_tag: Option<&str>,
    contact: Option<&str>,
    body: Option<(String, Vec<u8>)>,
) -> Response {
    let mut response = response_for(request, signaling::response::status(code), to_tag);
    if let Some(contact) = contact {
        response.headers.push(Header::Contact(h::Contact::new(contact)));
    }
    if code / 100 == 2 && request.method == Method::Invite {
        response.headers.push(Header::Allow(h::Allow::new(ALLOW)));
    }
    if let Some((content_type, bytes)) = body {
        set_body(&mut response.headers, &mut response.body, &content_type, bytes);
    }
    response
}

/// Replaces the body and its Content-Type and Content-Length.
pub(crate) fn set_body(headers: &mut rsip::Headers, body: &mut Vec<u8>, content_type: &str, bytes: Vec<u8>) {
    headers.retain(|x| !matches!(x, Header::ContentType(_) | Header::ContentLength(_)));
    headers.push(Header::ContentType(h::ContentType::new(content_type)));
    headers.push(Header::ContentLength(h::ContentLength::new(bytes.len().to_string())));
    *body = bytes;
}

/// Max-Forwards of a request (70 when absent or unreadable).
pub(crate) fn max_forwards(request: &Request) -> u32 {
    request
        .headers
        .iter()
        .find_map(|x| match x {
            Header::MaxForwards(m) => m.value().trim().parse().ok(),
            _ => None,
        })
        .unwrap_or(70)
}

/// The INVITE towards the agent: a new dialog with the caller's identity in
/// From, the agent's address of record in To, and our SDP offer.
pub(crate) struct AgentInvite<'a> {
    /// The caller's INVITE.
    pub(crate) incoming: &'a Request,
    /// The identity the agent sees in From (without a tag); `None`: the
    /// From of the caller's INVITE. A call the switch placed shows the
    /// customer it dialled, not the switch.
    pub(crate) from: Option<&'a str>,
    /// The agent's registered contact: the Request-URI.
    pub(crate) contact: &'a str,
    /// The agent's address of record.
    pub(crate) aor: String,
    /// Where the contact is reached.
    pub(crate) destination: Peer,
    /// Our addresses.
    pub(crate) local: &'a Local,
    /// Our SDP offer for the agent's leg.
    pub(crate) sdp: Vec<u8>,
}

impl AgentInvite<'_> {
    /// Builds the request; `None` when the contact is not a URI rsip can use.
    pub(crate) fn build(&self) -> Option<Request> {
        let uri = rsip::Uri::try_from(self.contact).ok()?;
        let caller = match self.from {
            Some(from) => from,
            None => headers::from_value(&self.incoming.headers).ok()?,
        };
        let caller = caller.split(";tag=").next().unwrap_or(caller).trim_end_matches(';');
        let hops = max_forwards(self.incoming).saturating_sub(1);
        Some(new_invite(NewInvite {
            uri,
            from: caller,
            to: &format!("<{}>", self.aor),
            hops,
            local: self.local,
            transport: self.destination.transport,
            sdp: self.sdp.clone(),
        }))
    }
}

/// The INVITE of a call the switch places itself (a call-back): From
/// `from_user` at our domain, To the dialled URI, our SDP offer. `None` when
/// `uri` is not a URI rsip can use.
pub(crate) fn outbound_invite(
    uri: &str,
    from_user: &str,
    local: &Local,
    transport: Transport,
    sdp: Vec<u8>,
) -> Option<Request> {
    let parsed = rsip::Uri::try_from(uri).ok()?;
    Some(new_invite(NewInvite {
        uri: parsed,
        from: &format!("<sip:{from_user}@{}>", local.domain),
        to: &format!("<{uri}>"),
        hops: 70,
        local,
        transport,
        sdp,
    }))
}

/// What a new INVITE (the first request of a dialog of ours) is made of.
struct NewInvite<'a> {
    uri: rsip::Uri,
    /// From without its tag (a fresh one is added).
    from: &'a str,
    to: &'a str,
    hops: u32,
    local: &'a Local,
    transport: Transport,
    sdp: Vec<u8>,
}

fn new_invite(n: NewInvite<'_>) -> Request {
    let mut hs = rsip::Headers::default();
    hs.push(Header::Via(h::Via::new(n.local.via(n.transport))));
    hs.push(Header::MaxForwards(h::MaxForwards::new(n.hops.to_string())));
    hs.push(Header::From(h::From::new(format!(
        "{};tag={}",
        n.from,
        headers::new_tag()
    ))));
    hs.push(Header::To(h::To::new(n.to)));
    hs.push(Header::CallId(h::CallId::new(headers::new_call_id(&n.local.domain))));
    hs.push(Header::CSeq(h::CSeq::new("1 INVITE")));
    hs.push(Header::Contact(h::Contact::new(n.local.contact(n.transport))));
    hs.push(Header::Allow(h::Allow::new(ALLOW)));
    let mut request = Request {
        method: Method::Invite,
        uri: n.uri,
        version: Version::V2,
        headers: hs,
        body: Vec::new(),
    };
    set_body(&mut request.headers, &mut request.body, "application/sdp", n.sdp);
    request
}

/// The CANCEL for an INVITE we sent (section 9.1): same Request-URI, Call-ID,
/// From, To, CSeq number and top Via.
pub(crate) fn cancel(invite: &Request) -> Request {
    let mut hs = rsip::Headers::default();
    for header in invite.headers.iter() {
        match header {
            Header::Via(_) if !hs.iter().any(|x| matches!(x, Header::Via(_))) => hs.push(header.clone()),
            Header::From(_) | Header::To(_) | Header::CallId(_) | Header::Route(_) | Header::MaxForwards(_) => {
                hs.push(header.clone())
            }
            _ => {}
        }
    }
    let seq = headers::cseq(&invite.headers).map(|(n, _)| n).unwrap_or(1);
    hs.push(Header::CSeq(h::CSeq::new(format!("{seq} CANCEL"))));
    hs.push(Header::ContentLength(h::ContentLength::new("0")));
    Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        version: Version::V2,
        headers: hs,
        body: Vec::new(),
    }
}
