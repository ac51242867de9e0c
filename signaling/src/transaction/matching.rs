//! Matching messages to transactions.
//!
//! Server transactions (section 17.2.3) are keyed by the top Via branch, its
//! sent-by (host lowercased, port defaulted from the Via transport) and the
//! method, with ACK mapped to INVITE and CANCEL its own transaction. Requests
//! whose branch lacks the `z9hG4bK` magic cookie (RFC 2543 peers) get a
//! synthetic branch made of the Request-URI, the raw From and Call-ID values,
//! the CSeq number and the whole top Via. That is the RFC 2543 rule of section
//! 17.2.3 minus the To tag, which an ACK for a non-2xx carries but the INVITE
//! does not; leaving it out lets such an ACK find its INVITE and costs only the
//! detection of merged requests, which section 8.2.2.2 gives to the UAS core.
//!
//! Client transactions (section 17.1.3) are keyed by the top Via branch and the
//! CSeq method of the response.

use rsip::prelude::*;
use rsip::{Method, Request, Response};

use crate::headers::MAGIC_COOKIE;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    pub(crate) branch: String,
    pub(crate) method: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ServerKey {
    pub(crate) branch: String,
    pub(crate) sent_by: String,
    pub(crate) method: String,
}

/// The typed top Via of a message, if present and parseable.
pub(crate) fn top_via(message: &impl HeadersExt) -> Option<rsip::typed::Via> {
    message.via_header().ok()?.typed().ok()
}

fn sent_by(via: &rsip::typed::Via) -> String {
    let port = via
        .uri
        .port()
        .map_or_else(|| u16::from(via.transport.default_port()), |p| u16::from(*p));
    format!("{}:{}", via.uri.host().to_string().to_ascii_lowercase(), port)
}

pub(crate) fn server_key(request: &Request) -> Option<ServerKey> {
    let via = top_via(request)?;
    let branch = via
        .branch()
        .map(|b| b.to_string())
        .filter(|b| b.starts_with(MAGIC_COOKIE));
    let branch = match branch {
        Some(branch) => branch,
        None => rfc2543_branch(request)?,
    };
    let method = match request.method {
        Method::Ack => Method::Invite,
        other => other,
    };
    Some(ServerKey {
        branch,
        sent_by: sent_by(&via),
        method: method.to_string(),
    })
}

/// The synthetic branch for a request from an RFC 2543 peer (see the module docs).
fn rfc2543_branch(request: &Request) -> Option<String> {
    let via = request.via_header().ok()?;
    let cseq = request.cseq_header().ok()?.typed().ok()?;
    let from = request.from_header().map(|h| h.to_string()).unwrap_or_default();
    let call_id = request.call_id_header().map(|h| h.to_string()).unwrap_or_default();
    Some(format!(
        "rfc2543|{}|{}|{}|{}|{}",
        request.uri, from, call_id, cseq.seq, via
    ))
}

pub(crate) fn client_key(response: &Response) -> Option<ClientKey> {
    let branch = top_via(response)?.branch()?.to_string();
    let method = response.cseq_header().ok()?.typed().ok()?.method;
    Some(ClientKey {
        branch,
        method: method.to_string(),
    })
}

pub(crate) fn client_request_key(request: &Request) -> Option<ClientKey> {
    let branch = top_via(request)?.branch()?.to_string();
    // A CSeq is required so that responses can be matched.
    request.cseq_header().ok()?.typed().ok()?;
    Some(ClientKey {
        branch,
        method: request.method.to_string(),
    })
}
