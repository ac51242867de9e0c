//! Dialogs, RFC 3261 section 12: identification, route set, CSeq and remote
//! target, and the construction of requests inside a dialog.
//!
//! Only loose routing (RFC 3261 route sets with `;lr`) is supported; a strict
//! router in a route set is used as if it were loose.

use rsip::headers::{self as h, Header, UntypedHeader};
use rsip::{Method, Request, Response, Version};

use crate::headers::{self, HeaderError};
use crate::transport::Peer;

/// The three values that identify a dialog (section 12), from our side.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog a request received by us belongs to (we are the UAS of the
    /// request: our tag is in To). `None` outside a dialog (no To tag).
    pub fn of_incoming_request(request: &Request) -> Option<DialogId> {
        Some(DialogId {
            call_id: headers::call_id(&request.headers).ok()?.to_owned(),
            local_tag: headers::to_tag(&request.headers)?.to_owned(),
            remote_tag: headers::from_tag(&request.headers)?.to_owned(),
        })
    }

    /// The dialog a response to our request belongs to (our tag is in From).
    pub fn of_incoming_response(response: &Response) -> Option<DialogId> {
        Some(DialogId {
            call_id: headers::call_id(&response.headers).ok()?.to_owned(),
            local_tag: headers::from_tag(&response.headers)?.to_owned(),
            remote_tag: headers::to_tag(&response.headers)?.to_owned(),
        })
    }
}

/// Why a dialog could not be built or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// A header the dialog needs is missing or malformed.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The remote target or a route is not a URI rsip can use.
    #[error("bad URI {0}")]
    BadUri(String),
}

/// One dialog's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Dialog {
    /// Identification.
    pub id: DialogId,
    /// Our URI as in our From (UAC) or To (UAS), without tag.
    pub local_uri: String,
    /// The peer's URI, without tag.
    pub remote_uri: String,
    /// CSeq of the last request we sent in the dialog.
    pub local_seq: u32,
    /// CSeq of the last request the peer sent, if any.
    pub remote_seq: Option<u32>,
    /// Where requests go: the peer's Contact URI.
    pub remote_target: String,
    /// Route set, in the order requests carry it.
    pub route_set: Vec<String>,
    /// Where requests are sent on the wire. Symmetric signaling: the address
    /// the peer's messages came from, so peers behind NAT are reached.
    pub peer: Peer,
}

fn strip_tag(value: &str) -> String {
    let uri_end = value.rfind('>').map_or(0, |e| e + 1);
    let (addr, params) = value.split_at(uri_end);
    let kept: Vec<&str> = params
        .split(';')
        .filter(|p| !p.trim().is_empty() && !p.trim().to_ascii_lowercase().starts_with("tag="))
        .collect();
    let mut out = addr.trim().to_owned();
    if uri_end == 0 {
        return value.split(";tag=").next().unwrap_or(value).trim().to_owned();
    }
    for p in kept {
        out.push(';');
        out.push_str(p.trim());
    }
    out
}

fn record_routes(headers: &rsip::Headers) -> Vec<String> {
    headers
        .iter()
        .filter_map(|h| match h {
            Header::RecordRoute(r) => Some(r.value().to_owned()),
            _ => None,
        })
        .flat_map(|v| headers::split_list(&v).map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

fn contact_uri(headers: &rsip::Headers) -> Result<String, HeaderError> {
    let value = headers
        .iter()
        .find_map(|h| match h {
            Header::Contact(c) => Some(c.value()),
            _ => None,
        })
        .ok_or(HeaderError::Missing("Contact"))?;
    Ok(headers::uri_of(headers::first_list_value(value)).to_owned())
}

impl Dialog {
    /// The UAS side of a dialog created by our 2xx or 101-199 with a To tag
    /// (section 12.1.1): route set from Record-Route in order, remote target
    /// from the request's Contact.
    pub fn as_uas(request: &Request, local_tag: &str, source: Peer) -> Result<Dialog, DialogError> {
        let hs = &request.headers;
        let remote_tag = headers::from_tag(hs).ok_or(HeaderError::Malformed("From"))?.to_owned();
        Ok(Dialog {
            id: DialogId {
                call_id: headers::call_id(hs)?.to_owned(),
                local_tag: local_tag.to_owned(),
                remote_tag,
            },
            local_uri: strip_tag(headers::to_value(hs)?),
            remote_uri: strip_tag(headers::from_value(hs)?),
            local_seq: 0,
            remote_seq: Some(headers::cseq(hs)?.0),
            remote_target: contact_uri(hs)?,
            route_set: record_routes(hs),
            peer: source,
        })
    }

    /// The UAC side of a dialog created by a response with a To tag to our
    /// request (section 12.1.2): route set from Record-Route reversed.
    pub fn as_uac(request: &Request, response: &Response, peer: Peer) -> Result<Dialog, DialogError> {
        let (req, resp) = (&request.headers, &response.headers);
        let remote_tag = headers::to_tag(resp).ok_or(HeaderError::Malformed("To"))?.to_owned();
        let local_tag = headers::from_tag(req).ok_or(HeaderError::Malformed("From"))?.to_owned();
        let mut route_set = record_routes(resp);
        route_set.reverse();
        Ok(Dialog {
            id: DialogId {
                call_id: headers::call_id(req)?.to_owned(),
                local_tag,
                remote_tag,
            },
            local_uri: strip_tag(headers::from_value(req)?),
            remote_uri: strip_tag(headers::to_value(req)?),
            local_seq: headers::cseq(req)?.0,
            remote_seq: None,
            remote_target: contact_uri(resp).unwrap_or_else(|_| request.uri.to_string()),
            route_set,
            peer,
        })
    }

    /// Checks and records the CSeq of a request from the peer (section
    /// 12.2.2). False means it is out of order: answer 500.
    pub fn accept_remote_cseq(&mut self, request: &Request) -> bool {
        let Ok((seq, method)) = headers::cseq(&request.headers) else {
            return false;
        };
        if matches!(method, Method::Ack | Method::Cancel) {
            return true;
        }
        if self.remote_seq.is_some_and(|last| seq <= last) {
            return false;
        }
        self.remote_seq = Some(seq);
        true
    }

    /// Takes a new remote target from a target-refresh request or its 2xx.
    pub fn refresh_target(&mut self, headers: &rsip::Headers) {
        if let Ok(uri) = contact_uri(headers) {
            self.remote_target = uri;
        }
    }

    /// A request inside the dialog (section 12.2.1.1). `via` is our Via value
    /// with a fresh branch. ACK takes the CSeq number of its INVITE (`ack_of`)
    /// and CANCEL is never built here.
    pub fn request(
        &mut self,
        method: Method,
        via: &str,
        contact: &str,
        ack_of: Option<u32>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Request, DialogError> {
        let seq = match (method, ack_of) {
            (Method::Ack, Some(n)) => n,
            _ => {
                self.local_seq += 1;
                self.local_seq
            }
        };
        let uri = rsip::Uri::try_from(self.remote_target.as_str())
            .map_err(|_| DialogError::BadUri(self.remote_target.clone()))?;
        let mut hs = rsip::Headers::default();
        hs.push(Header::Via(h::Via::new(via)));
        hs.push(Header::MaxForwards(h::MaxForwards::new("70")));
        for route in &self.route_set {
            hs.push(Header::Route(h::Route::new(route.clone())));
        }
        hs.push(Header::From(h::From::new(format!(
            "{};tag={}",
            self.local_uri, self.id.local_tag
        ))));
        hs.push(Header::To(h::To::new(format!(
            "{};tag={}",
            self.remote_uri, self.id.remote_tag
        ))));
        hs.push(Header::CallId(h::CallId::new(self.id.call_id.clone())));
        hs.push(Header::CSeq(h::CSeq::new(format!("{seq} {method}"))));
        if !matches!(method, Method::Ack | Method::Bye) {
            hs.push(Header::Contact(h::Contact::new(contact)));
        }
        let body = match body {
            Some((content_type, bytes)) => {
                hs.push(Header::ContentType(h::ContentType::new(content_type)));
                bytes
            }
            None => Vec::new(),
        };
        hs.push(Header::ContentLength(h::ContentLength::new(body.len().to_string())));
        Ok(Request {
            method,
            uri,
            version: Version::V2,
            headers: hs,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsip::SipMessage;

    fn invite() -> Request {
        let text = "INVITE sip:1001@127.0.0.1 SIP/2.0\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
            Record-Route: <sip:p1;lr>\r\nRecord-Route: <sip:p2;lr>\r\n\
            From: \"Caller\" <sip:caller@127.0.0.1>;tag=abc\r\n\
            To: <sip:1001@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\n\
            Contact: <sip:caller@127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n";
        match SipMessage::try_from(text) {
            Ok(SipMessage::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn uas_dialog_builds_requests_back_to_the_caller() {
        let peer = Peer::udp("127.0.0.1:5070".parse().unwrap());
        let mut d = Dialog::as_uas(&invite(), "me", peer).unwrap();
        assert_eq!(
            d.id,
            DialogId {
                call_id: "c1".into(),
                local_tag: "me".into(),
                remote_tag: "abc".into()
            }
        );
        assert_eq!(d.route_set, ["<sip:p1;lr>", "<sip:p2;lr>"]);
        assert_eq!(d.remote_uri, "\"Caller\" <sip:caller@127.0.0.1>");
        let bye = d.request(
            Method::Bye,
            "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx",
            "<sip:sb@h>",
            None,
            None,
        );
        let bye = bye.unwrap().to_string();
        assert!(bye.starts_with("BYE sip:caller@127.0.0.1:5070 SIP/2.0\r\n"), "{bye}");
        assert!(bye.contains("Route: <sip:p1;lr>\r\nRoute: <sip:p2;lr>\r\n"));
        assert!(bye.contains("To: \"Caller\" <sip:caller@127.0.0.1>;tag=abc\r\n"));
        assert!(bye.contains("CSeq: 1 BYE\r\n"));
    }

    #[test]
    fn remote_cseq_must_increase() {
        let peer = Peer::udp("127.0.0.1:5070".parse().unwrap());
        let mut d = Dialog::as_uas(&invite(), "me", peer).unwrap();
        let mut req = invite();
        assert!(!d.accept_remote_cseq(&req), "same CSeq again");
        req.headers.retain(|h| !matches!(h, Header::CSeq(_)));
        req.headers.push(Header::CSeq(h::CSeq::new("8 INVITE")));
        assert!(d.accept_remote_cseq(&req));
        assert_eq!(d.remote_seq, Some(8));
    }

    #[test]
    fn tags_are_stripped_but_other_params_kept() {
        assert_eq!(strip_tag("<sip:a@b>;tag=1;x=y"), "<sip:a@b>;x=y");
        assert_eq!(strip_tag("sip:a@b;tag=1"), "sip:a@b");
    }
}
