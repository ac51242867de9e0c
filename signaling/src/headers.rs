//! Typed access to the headers the core needs, and the RFC 3261 / RFC 3581 rules
//! that use them.
//!
//! rsip keeps header values as text and types them on demand; these helpers read
//! only what routing needs (top Via, tags, CSeq) with small parsers of their own,
//! so a value rsip cannot type (an exotic display name, say) does not stop a
//! message that is otherwise fine.

use std::net::{IpAddr, SocketAddr};

use rand::Rng;
use rsip::headers::{Header, UntypedHeader};
use rsip::{Headers, Method};

use crate::transport::{Peer, Transport};

/// The RFC 3261 branch prefix (section 8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// A required header is missing or unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The header is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// The header is present but its value cannot be read.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// The parts of a Via header value that routing and matching use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViaInfo {
    /// Transport token, upper case (`UDP`, `TCP`, `WS`...).
    pub transport: String,
    /// sent-by host (an IP literal or a name).
    pub host: String,
    /// sent-by port, if given.
    pub port: Option<u16>,
    /// `branch` parameter.
    pub branch: Option<String>,
    /// `received` parameter.
    pub received: Option<String>,
    /// `rport` parameter: `Some(None)` when present without a value.
    pub rport: Option<Option<u16>>,
}

impl ViaInfo {
    /// Parses one Via value, e.g. `SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport`.
    pub fn parse(value: &str) -> Result<ViaInfo, HeaderError> {
        let bad = HeaderError::Malformed("Via");
        let value = value.trim();
        let (protocol, rest) = value.split_once(|c: char| c.is_ascii_whitespace()).ok_or(bad.clone())?;
        let mut proto_parts = protocol.split('/').map(str::trim);
        let (name, version, transport) = (proto_parts.next(), proto_parts.next(), proto_parts.next());
        if !name.is_some_and(|n| n.eq_ignore_ascii_case("SIP")) || version != Some("2.0") {
            return Err(bad);
        }
        let transport = transport
            .filter(|t| !t.is_empty())
            .ok_or(bad.clone())?
            .to_ascii_uppercase();
        let mut parts = rest.split(';');
        let sent_by = parts
            .next()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(bad.clone())?;
        let (host, port) = split_host_port(sent_by).ok_or(bad)?;
        let mut via = ViaInfo {
            transport,
            host,
            port,
            branch: None,
            received: None,
            rport: None,
        };
        for param in parts {
            let (name, value) = match param.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (param.trim(), None),
            };
            if name.eq_ignore_ascii_case("branch") {
                via.branch = value.map(str::to_owned);
            } else if name.eq_ignore_ascii_case("received") {
                via.received = value.map(str::to_owned);
            } else if name.eq_ignore_ascii_case("rport") {
                via.rport = Some(value.and_then(|v| v.parse().ok()));
            }
        }
        Ok(via)
    }

    /// The branch if it carries the RFC 3261 magic cookie.
    pub fn rfc3261_branch(&self) -> Option<&str> {
        self.branch.as_deref().filter(|b| b.starts_with(MAGIC_COOKIE))
    }

    /// `host:port` as written (port 5060 implied when absent), for transaction matching.
    pub fn sent_by(&self) -> String {
        format!("{}:{}", self.host.to_ascii_lowercase(), self.port.unwrap_or(5060))
    }
}

/// Splits `host[:port]`, with IPv6 references in brackets.
fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.trim().parse().ok()?),
            None if after.trim().is_empty() => None,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((host, port)) => Some((host.trim().to_owned(), Some(port.trim().parse().ok()?))),
        None => Some((s.trim().to_owned(), None)),
    }
}

/// The top Via value (the first Via header, first comma-separated value).
pub fn top_via_value(headers: &Headers) -> Option<&str> {
    headers.iter().find_map(|h| match h {
        Header::Via(v) => Some(first_list_value(v.value())),
        _ => None,
    })
}

/// The parsed top Via.
pub fn top_via(headers: &Headers) -> Result<ViaInfo, HeaderError> {
    ViaInfo::parse(top_via_value(headers).ok_or(HeaderError::Missing("Via"))?)
}

/// The first element of a comma-separated header value, commas inside quotes
/// or angle brackets excepted.
pub fn first_list_value(value: &str) -> &str {
    split_list(value).next().unwrap_or(value)
}

/// Splits a comma-separated header value, leaving commas inside quotes and
/// angle brackets alone.
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut in_quotes, mut in_angle, mut escaped, mut start) = (false, false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '<' if !in_quotes => in_angle = true,
            '>' if !in_quotes => in_angle = false,
            ',' if !in_quotes && !in_angle => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.into_iter().filter(|p| !p.is_empty())
}

/// Stamps `received` and `rport` on the top Via of a request that arrived from
/// `source` (RFC 3261 section 18.2.1, RFC 3581 section 4): `received` when the
/// sent-by host is not the source address or `rport` was asked for, and the
/// source port into an empty `rport`.
pub fn stamp_received(headers: &mut Headers, source: Peer) {
    let Some(Header::Via(via)) = headers.iter_mut().find(|h| matches!(h, Header::Via(_))) else {
        return;
    };
    let value = via.value().to_owned();
    let first = first_list_value(&value).to_owned();
    let Ok(info) = ViaInfo::parse(&first) else {
        return;
    };
    let ip = source.addr.ip().to_string();
    let wants_rport = info.rport == Some(None);
    if !wants_rport && info.host.eq_ignore_ascii_case(&ip) {
        return;
    }
    let mut stamped = String::with_capacity(first.len() + 40);
    for (i, param) in first.split(';').enumerate() {
        if i > 0 {
            stamped.push(';');
        }
        let name = param.split('=').next().unwrap_or("").trim();
        if wants_rport && name.eq_ignore_ascii_case("rport") {
            stamped.push_str(&format!("rport={}", source.addr.port()));
        } else if name.eq_ignore_ascii_case("received") {
            stamped.push_str(&format!("received={ip}"));
        } else {
            stamped.push_str(param);
        }
    }
    if info.received.is_none() {
        stamped.push_str(&format!(";received={ip}"));
    }
    let rest = &value[value.find(first.as_str()).map_or(value.len(), |at| at + first.len())..];
    *via = rsip::headers::Via::new(format!("{stamped}{rest}"));
}

/// Where responses to a request from `source` go (RFC 3261 section 18.2.2 with
/// RFC 3581): over a reliable transport back on the same connection; over UDP to
/// the source address when `rport` was used, else to the source address and the
/// sent-by port. The source address is always what `received` would say.
pub fn response_destination(headers: &Headers, source: Peer) -> Peer {
    if source.transport.is_reliable() {
        return source;
    }
    match top_via(headers) {
        Ok(via) if via.rport.is_none() => Peer {
            transport: Transport::Udp,
            addr: SocketAddr::new(source.addr.ip(), via.port.unwrap_or(5060)),
        },
        _ => source,
    }
}

/// Call-ID value.
pub fn call_id(headers: &Headers) -> Result<&str, HeaderError> {
    headers
        .iter()
        .find_map(|h| match h {
            Header::CallId(v) => Some(v.value().trim()),
            _ => None,
        })
        .ok_or(HeaderError::Missing("Call-ID"))
}

/// CSeq number and method.
pub fn cseq(headers: &Headers) -> Result<(u32, Method), HeaderError> {
    let value = headers
        .iter()
        .find_map(|h| match h {
            Header::CSeq(v) => Some(v.value()),
            _ => None,
        })
        .ok_or(HeaderError::Missing("CSeq"))?;
    let mut parts = value.split_ascii_whitespace();
    let seq = parts
        .next()
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or(HeaderError::Malformed("CSeq"))?;
    let method = parts
        .next()
        .and_then(|m| m.parse::<Method>().ok())
        .ok_or(HeaderError::Malformed("CSeq"))?;
    if parts.next().is_some() {
        return Err(HeaderError::Malformed("CSeq"));
    }
    Ok((seq, method))
}

/// The `tag` parameter of a From or To value, outside its angle brackets.
pub fn tag_of(value: &str) -> Option<&str> {
    let params = match value.rfind('>') {
        Some(end) => &value[end + 1..],
        None => value.split_once(';').map_or("", |(_, p)| p),
    };
    params.split(';').find_map(|p| {
        let (name, v) = p.split_once('=')?;
        name.trim().eq_ignore_ascii_case("tag").then(|| v.trim())
    })
}

/// The From value.
pub fn from_value(headers: &Headers) -> Result<&str, HeaderError> {
    headers
        .iter()
        .find_map(|h| match h {
            Header::From(v) => Some(v.value()),
            _ => None,
        })
        .ok_or(HeaderError::Missing("From"))
}

/// The To value.
pub fn to_value(headers: &Headers) -> Result<&str, HeaderError> {
    headers
        .iter()
        .find_map(|h| match h {
            Header::To(v) => Some(v.value()),
            _ => None,
        })
        .ok_or(HeaderError::Missing("To"))
}

/// The From tag.
pub fn from_tag(headers: &Headers) -> Option<&str> {
    from_value(headers).ok().and_then(tag_of)
}

/// The To tag.
pub fn to_tag(headers: &Headers) -> Option<&str> {
    to_value(headers).ok().and_then(tag_of)
}

/// The URI inside a name-addr (`"Bob" <sip:bob@x>;tag=1` gives `sip:bob@x`) or
/// an addr-spec without brackets (parameters after `;` are header parameters).
pub fn uri_of(value: &str) -> &str {
    match (value.find('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => value[start + 1..end].trim(),
        _ => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// The user part of a SIP URI (`sip:1001@host` gives `1001`), without parameters.
pub fn user_of(uri: &str) -> Option<&str> {
    let rest = uri.split_once(':').map(|(_, r)| r)?;
    let (user, _) = rest.split_once('@')?;
    let user = user.split(';').next().unwrap_or(user);
    let user = user.split(':').next().unwrap_or(user);
    (!user.is_empty()).then_some(user)
}

/// The host and port of a SIP URI as a socket address, when the host is an IP literal.
pub fn socket_addr_of(uri: &str) -> Option<SocketAddr> {
    let rest = uri.split_once(':').map(|(_, r)| r)?;
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host_port = host_port.split([';', '?']).next()?;
    let (host, port) = split_host_port(host_port)?;
    let ip: IpAddr = host.parse().ok()?;
    Some(SocketAddr::new(ip, port.unwrap_or(5060)))
}

/// The `transport` parameter of a URI, if any.
pub fn transport_of(uri: &str) -> Option<Transport> {
    uri.split(';').skip(1).find_map(|p| {
        let (name, value) = p.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("transport") {
            return None;
        }
        match value.trim().to_ascii_lowercase().as_str() {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            "ws" | "wss" => Some(Transport::Ws),
            _ => None,
        }
    })
}

/// A fresh RFC 3261 branch: the magic cookie and 64 random bits.
pub fn new_branch() -> String {
    format!("{MAGIC_COOKIE}{:016x}", rand::thread_rng().gen::<u64>())
}

/// A fresh tag for From or To (64 random bits; section 19.3 asks for 32 at least).
pub fn new_tag() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

/// A fresh Call-ID.
pub fn new_call_id(host: &str) -> String {
    let mut rng = rand::thread_rng();
    format!("{:016x}{:016x}@{host}", rng.gen::<u64>(), rng.gen::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[Header]) -> Headers {
        let mut h = Headers::default();
        for l in lines {
            h.push(l.clone());
        }
        h
    }

    #[test]
    fn via_parses_sent_by_branch_and_rport() {
        let via = ViaInfo::parse("SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKabc;rport").unwrap();
        assert_eq!(via.transport, "UDP");
        assert_eq!(via.host, "10.0.0.1");
        assert_eq!(via.port, Some(5070));
        assert_eq!(via.rfc3261_branch(), Some("z9hG4bKabc"));
        assert_eq!(via.rport, Some(None));
        let v6 = ViaInfo::parse("SIP/2.0/TCP [::1]:5060;branch=1").unwrap();
        assert_eq!(
            (v6.host.as_str(), v6.port, v6.rfc3261_branch()),
            ("::1", Some(5060), None)
        );
        for bad in ["", "SIP/2.0/UDP", "HTTP/1.1/UDP a", "SIP/2.0/ a", "SIP/2.0/UDP a:99999"] {
            assert!(ViaInfo::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rport_is_filled_and_received_added() {
        let source = Peer::udp("192.0.2.7:40000".parse().unwrap());
        let mut h = headers(&[Header::Via(rsip::headers::Via::new(
            "SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2",
        ))]);
        stamp_received(&mut h, source);
        assert_eq!(
            top_via_value(&h).unwrap(),
            "SIP/2.0/UDP 10.0.0.1:5060;rport=40000;branch=z9hG4bK1;received=192.0.2.7"
        );
        assert_eq!(response_destination(&h, source), source);
    }

    #[test]
    fn without_rport_responses_go_to_the_sent_by_port() {
        let source = Peer::udp("192.0.2.7:40000".parse().unwrap());
        let mut h = headers(&[Header::Via(rsip::headers::Via::new(
            "SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK1",
        ))]);
        stamp_received(&mut h, source);
        assert_eq!(top_via_value(&h).unwrap(), "SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK1");
        assert_eq!(response_destination(&h, source).addr, "192.0.2.7:5062".parse().unwrap());
        let tcp = Peer::tcp("192.0.2.7:40000".parse().unwrap());
        assert_eq!(response_destination(&h, tcp), tcp);
    }

    #[test]
    fn tags_uris_and_lists() {
        assert_eq!(tag_of("\"A;tag=x\" <sip:a@b;tag=no>;tag=yes"), Some("yes"));
        assert_eq!(tag_of("sip:a@b;tag=1"), Some("1"));
        assert_eq!(tag_of("<sip:a@b>"), None);
        assert_eq!(
            uri_of("\"Bob\" <sip:bob@x:5070;transport=tcp>;tag=1"),
            "sip:bob@x:5070;transport=tcp"
        );
        assert_eq!(user_of("sip:1001@127.0.0.1:5060"), Some("1001"));
        assert_eq!(user_of("sip:127.0.0.1"), None);
        assert_eq!(
            socket_addr_of("sip:1001@127.0.0.1:5070;transport=tcp"),
            Some("127.0.0.1:5070".parse().unwrap())
        );
        assert_eq!(
            transport_of("sip:1001@127.0.0.1:5070;transport=TCP"),
            Some(Transport::Tcp)
        );
        let list: Vec<_> = split_list("<sip:a@b;x=1,2>, \"c,d\" <sip:c@d>,sip:e@f").collect();
        assert_eq!(list, ["<sip:a@b;x=1,2>", "\"c,d\" <sip:c@d>", "sip:e@f"]);
    }

    #[test]
    fn cseq_is_strict() {
        let h = headers(&[Header::CSeq(rsip::headers::CSeq::new("12 INVITE"))]);
        assert_eq!(cseq(&h), Ok((12, Method::Invite)));
        let h = headers(&[Header::CSeq(rsip::headers::CSeq::new("-1 INVITE"))]);
        assert!(cseq(&h).is_err());
        assert_eq!(cseq(&Headers::default()), Err(HeaderError::Missing("CSeq")));
    }
}
