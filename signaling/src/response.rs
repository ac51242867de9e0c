//! Building a response from the request it answers (RFC 3261 section 8.2.6.2).
//!
//! A UAS response copies every Via (in order), From, To, Call-ID and CSeq from the
//! request, and adds a tag to To unless the request already carried one. Compact
//! header forms (`v`, `f`, `t`, `i`) are recognised and copied in their full form.

use rsip::headers::{self, UntypedHeader};
use rsip::param::Tag;
use rsip::{Header, Headers, Request, Response, StatusCode, Version};

/// A response to `request` with `status`: all Via headers in order, From, To,
/// Call-ID, CSeq and `Content-Length: 0`.
///
/// `to_tag` is added to To when the request's To has no tag yet; an existing tag
/// (a request inside a dialog) is always kept. A To header that cannot be parsed is
/// copied unchanged. Headers missing from the request are simply absent from the
/// response; the message layer rejects such requests before they get here.
pub fn response_for(request: &Request, status: StatusCode, to_tag: Option<&str>) -> Response {
    let mut out: Vec<Header> = Vec::new();
    // Via first, all of them, in order; then the rest in a fixed order.
    for header in request.headers.iter() {
        if let Some(via) = as_via(header) {
            out.push(Header::Via(via));
        }
    }
    if let Some(from) = request.headers.iter().find_map(as_from) {
        out.push(Header::From(from));
    }
    if let Some(to) = request.headers.iter().find_map(as_to) {
        out.push(Header::To(with_tag(to, to_tag)));
    }
    if let Some(call_id) = request.headers.iter().find_map(as_call_id) {
        out.push(Header::CallId(call_id));
    }
    if let Some(cseq) = request.headers.iter().find_map(|h| match h {
        Header::CSeq(c) => Some(c.clone()),
        _ => None,
    }) {
        out.push(Header::CSeq(cseq));
    }
    out.push(Header::ContentLength(headers::ContentLength::from(0u32)));
    Response {
        status_code: match status {
            StatusCode::Other(..) => status,
            named => self::status(named.code()),
        },
        version: Version::V2,
        headers: Headers::from(out),
        body: Vec::new(),
    }
}

/// Adds `tag` to a To header that has none; keeps an existing tag.
fn with_tag(to: headers::To, tag: Option<&str>) -> headers::To {
    let Some(tag) = tag else { return to };
    match to.tag() {
        Ok(Some(_)) | Err(_) => to,
        Ok(None) => {
            let original = to.clone();
            original.with_tag(Tag::new(tag)).unwrap_or(to)
        }
    }
}

fn is_named(name: &str, full: &str, compact: &str) -> bool {
    name.eq_ignore_ascii_case(full) || name.eq_ignore_ascii_case(compact)
}

fn as_via(header: &Header) -> Option<headers::Via> {
    match header {
        Header::Via(v) => Some(v.clone()),
        Header::Other(name, value) if is_named(name, "Via", "v") => Some(headers::Via::new(value.clone())),
        _ => None,
    }
}

fn as_from(header: &Header) -> Option<headers::From> {
    match header {
        Header::From(v) => Some(v.clone()),
        Header::Other(name, value) if is_named(name, "From", "f") => Some(headers::From::new(value.clone())),
        _ => None,
    }
}

fn as_to(header: &Header) -> Option<headers::To> {
    match header {
        Header::To(v) => Some(v.clone()),
        Header::Other(name, value) if is_named(name, "To", "t") => Some(headers::To::new(value.clone())),
        _ => None,
    }
}

fn as_call_id(header: &Header) -> Option<headers::CallId> {
    match header {
        Header::CallId(v) => Some(v.clone()),
        Header::Other(name, value) if is_named(name, "Call-ID", "i") => Some(headers::CallId::new(value.clone())),
        _ => None,
    }
}

/// A status code with its RFC 3261 reason phrase. rsip prints its own named
/// codes as Rust identifiers ("NotFound"), so every response we build takes
/// its status from here.
pub fn status(code: u16) -> StatusCode {
    StatusCode::Other(code, reason_phrase(code).to_owned())
}

/// The reason phrase RFC 3261 (and its extensions) give a status code.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => match code / 100 {
            1 => "Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Request Failure",
            5 => "Server Failure",
            _ => "Global Failure",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsip::prelude::HeadersExt;

    fn request(to: &str) -> Request {
        let text = format!(
            "REGISTER sip:example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n\
             Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK2\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:1001@example.com>;tag=abc\r\n\
             To: {to}\r\n\
             Call-ID: c1@10.0.0.1\r\n\
             CSeq: 7 REGISTER\r\n\
             Contact: <sip:1001@10.0.0.1>\r\n\
             Content-Length: 0\r\n\r\n"
        );
        Request::try_from(text.as_str()).expect("test request parses")
    }

    #[test]
    fn copies_mandatory_headers_and_adds_tag() {
        let req = request("<sip:1001@example.com>");
        let resp = response_for(&req, StatusCode::OK, Some("xyz"));
        assert_eq!(resp.status_code.code(), 200);
        assert!(resp.to_string().starts_with("SIP/2.0 200 OK\r\n"), "RFC reason phrase");
        let vias: Vec<String> = resp
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::Via(v) => Some(v.value().to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(vias.len(), 2);
        assert!(vias[0].contains("z9hG4bK1") && vias[1].contains("z9hG4bK2"));
        assert_eq!(
            resp.to_header().expect("to").tag().expect("parse"),
            Some(Tag::new("xyz"))
        );
        assert_eq!(
            resp.from_header().expect("from").value(),
            "<sip:1001@example.com>;tag=abc"
        );
        assert_eq!(resp.call_id_header().expect("call-id").value(), "c1@10.0.0.1");
        assert_eq!(resp.cseq_header().expect("cseq").value(), "7 REGISTER");
        assert!(!resp.headers.iter().any(|h| matches!(h, Header::Contact(_))));
        assert!(resp
            .headers
            .iter()
            .any(|h| matches!(h, Header::ContentLength(l) if l.value() == "0")));
    }

    #[test]
    fn keeps_existing_to_tag() {
        let req = request("<sip:1001@example.com>;tag=old");
        let resp = response_for(&req, StatusCode::OK, Some("new"));
        assert_eq!(
            resp.to_header().expect("to").tag().expect("parse"),
            Some(Tag::new("old"))
        );
    }

    #[test]
    fn no_tag_requested_leaves_to_alone() {
        let req = request("<sip:1001@example.com>");
        let resp = response_for(&req, StatusCode::Trying, None);
        assert_eq!(resp.to_header().expect("to").value(), "<sip:1001@example.com>");
    }

    #[test]
    fn compact_forms_are_copied() {
        let mut req = request("<sip:1001@example.com>");
        req.headers.retain(|h| !matches!(h, Header::CallId(_)));
        req.headers.push(Header::Other("i".into(), "compact@host".into()));
        let resp = response_for(&req, StatusCode::OK, None);
        assert_eq!(resp.call_id_header().expect("call-id").value(), "compact@host");
    }
}
