//! Framing and validation of SIP messages before rsip sees them.
//!
//! rsip parses a message it is given whole: it knows neither compact header
//! forms (RFC 3261 section 7.3.3) nor Content-Length framing, and takes
//! everything after the blank line as the body. This module finds message
//! boundaries (a datagram, or a TCP stream by Content-Length), enforces the size
//! limits, unfolds and expands headers, splits comma-joined Via/Route lists
//! into one header each, and checks what section 8.2 asks of a request before
//! it reaches a transaction. Every failure is a [`MessageError`], never a panic.

use bytes::{Buf, BytesMut};
use rsip::SipMessage;

use crate::headers::{self, HeaderError};

/// Size limits for incoming messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted, headers and body together.
    pub max_message_size: usize,
    /// Most header lines accepted in one message.
    pub max_headers: usize,
    /// Kernel buffer asked for each UDP socket, receive and send, in bytes.
    pub socket_buffer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 65_535,
            max_headers: 256,
            socket_buffer: 4 << 20,
        }
    }
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Larger than [`Limits::max_message_size`].
    #[error("message too large")]
    TooLarge,
    /// No blank line ends the header section.
    #[error("no end of headers")]
    Truncated,
    /// The start line is neither a request nor a status line.
    #[error("bad start line")]
    BadStartLine,
    /// A header line is not `name: value`.
    #[error("bad header line")]
    BadHeaderLine,
    /// More header lines than [`Limits::max_headers`].
    #[error("too many headers")]
    TooManyHeaders,
    /// Headers that are not UTF-8.
    #[error("headers are not UTF-8")]
    NotUtf8,
    /// Content-Length is not a non-negative integer, or exceeds the limit.
    #[error("bad Content-Length")]
    BadContentLength,
    /// Content-Length appears more than once.
    #[error("duplicate Content-Length")]
    DuplicateContentLength,
    /// The body is shorter than Content-Length says.
    #[error("body shorter than Content-Length")]
    ShortBody,
    /// A required header is missing or malformed.
    #[error("{0}")]
    Header(#[from] HeaderError),
    /// The CSeq method is not the request method.
    #[error("CSeq method does not match the request")]
    CSeqMismatch,
    /// rsip refused the normalised message.
    #[error("unparseable message")]
    Unparseable,
}

/// Compact header forms (RFC 3261 section 7.3.3 and the IANA registry).
fn expand_compact(name: &str) -> &str {
    if name.len() != 1 {
        return name;
    }
    match name.as_bytes()[0].to_ascii_lowercase() {
        b'i' => "Call-ID",
        b'm' => "Contact",
        b'e' => "Content-Encoding",
        b'l' => "Content-Length",
        b'c' => "Content-Type",
        b'f' => "From",
        b's' => "Subject",
        b'k' => "Supported",
        b't' => "To",
        b'v' => "Via",
        b'o' => "Event",
        b'r' => "Refer-To",
        b'b' => "Referred-By",
        b'u' => "Allow-Events",
        b'x' => "Session-Expires",
        b'a' => "Accept-Contact",
        b'j' => "Reject-Contact",
        b'd' => "Request-Disposition",
        b'y' => "Identity",
        b'n' => "Identity-Info",
        _ => name,
    }
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Offset of the first byte after the blank line ending the headers.
fn header_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Content-Length of a header block, with duplicates and bad values refused.
fn content_length(head: &str, limits: &Limits) -> Result<Option<usize>, MessageError> {
    let mut found = None;
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if !(name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("l")) {
            continue;
        }
        if found.is_some() {
            return Err(MessageError::DuplicateContentLength);
        }
        let value = value.trim();
        if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MessageError::BadContentLength);
        }
        let n: usize = value.parse().map_err(|_| MessageError::BadContentLength)?;
        if n > limits.max_message_size {
            return Err(MessageError::BadContentLength);
        }
        found = Some(n);
    }
    Ok(found)
}

/// Leading CRLFs are keep-alives (RFC 5626 section 3.5.1) or noise; section 7.5
/// says to ignore them before a start line.
fn skip_leading_crlf(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// Parses one UDP datagram. An empty or all-CRLF datagram is a keep-alive and
/// yields `Ok(None)`.
pub fn parse_datagram(bytes: &[u8], limits: &Limits) -> Result<Option<SipMessage>, MessageError> {
    if bytes.len() > limits.max_message_size {
        return Err(MessageError::TooLarge);
    }
    let bytes = skip_leading_crlf(bytes);
    if bytes.is_empty() {
        return Ok(None);
    }
    let end = header_end(bytes).ok_or(MessageError::Truncated)?;
    let head = std::str::from_utf8(&bytes[..end - 4]).map_err(|_| MessageError::NotUtf8)?;
    let rest = &bytes[end..];
    // Section 18.3: over UDP a missing Content-Length means the rest of the
    // datagram; a larger one is an error, extra bytes are dropped.
    let body = match content_length(head, limits)? {
        Some(n) if n > rest.len() => return Err(MessageError::ShortBody),
        Some(n) => &rest[..n],
        None => rest,
    };
    normalise(head, body, limits).map(Some)
}

/// Rebuilds a message with full header names, one Via/Route/Record-Route value
/// per line and an exact Content-Length, then hands it to rsip.
fn normalise(head: &str, body: &[u8], limits: &Limits) -> Result<SipMessage, MessageError> {
    let mut lines = head.split("\r\n");
    let start = lines.next().ok_or(MessageError::BadStartLine)?;
    check_start_line(start)?;
    let mut out = String::with_capacity(head.len() + 64);
    out.push_str(start);
    out.push_str("\r\n");
    let mut count = 0;
    let mut pending: Option<String> = None;
    let mut flush = |line: String, out: &mut String| -> Result<(), MessageError> {
        count += 1;
        if count > limits.max_headers {
            return Err(MessageError::TooManyHeaders);
        }
        let (name, value) = line.split_once(':').ok_or(MessageError::BadHeaderLine)?;
        let name = name.trim_end();
        if name.is_empty() || !name.bytes().all(is_token_char) {
            return Err(MessageError::BadHeaderLine);
        }
        let name = expand_compact(name);
        if name.eq_ignore_ascii_case("Content-Length") {
            return Ok(());
        }
        let value = value.trim();
        // Section 25.1: header text is UTF-8 without control characters
        // (horizontal tab aside); a NUL would cut the value short downstream.
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(MessageError::BadHeaderLine);
        }
        let splittable = ["Via", "Route", "Record-Route"]
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name));
        if splittable {
            for part in headers::split_list(value) {
                out.push_str(name);
                out.push_str(": ");
                out.push_str(part);
                out.push_str("\r\n");
            }
        } else {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        Ok(())
    };
    for line in lines {
        if line.starts_with([' ', '\t']) {
            // Folded continuation (section 7.3.1): joins the previous line.
            let prev = pending.as_mut().ok_or(MessageError::BadHeaderLine)?;
            prev.push(' ');
            prev.push_str(line.trim());
            continue;
        }
        if let Some(prev) = pending.take() {
            flush(prev, &mut out)?;
        }
        pending = Some(line.to_owned());
    }
    if let Some(prev) = pending.take() {
        flush(prev, &mut out)?;
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    SipMessage::try_from(bytes.as_slice()).map_err(|_| MessageError::Unparseable)
}

fn check_start_line(start: &str) -> Result<(), MessageError> {
    let mut parts = start.splitn(3, ' ');
    let (a, b, c) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let ok = if a == "SIP/2.0" {
        b.len() == 3 && b.bytes().all(|d| d.is_ascii_digit()) && !b.starts_with('0')
    } else {
        !a.is_empty()
            && a.bytes().all(is_token_char)
            && !b.is_empty()
            && !b.contains(char::is_whitespace)
            && c == "SIP/2.0"
    };
    if ok {
        Ok(())
    } else {
        Err(MessageError::BadStartLine)
    }
}

/// Checks a parsed request as section 8.2 and 16.3 ask before any transaction
/// sees it: Via, From, To, Call-ID and CSeq present and readable, and the CSeq
/// method equal to the request method.
pub fn validate_request(request: &rsip::Request) -> Result<(), MessageError> {
    let h = &request.headers;
    headers::top_via(h)?;
    headers::from_value(h)?;
    headers::to_value(h)?;
    headers::call_id(h)?;
    let (_, method) = headers::cseq(h)?;
    if method != request.method {
        return Err(MessageError::CSeqMismatch);
    }
    Ok(())
}

/// Checks a parsed response: the same headers as a request must be readable,
/// or the response cannot be matched and is dropped.
pub fn validate_response(response: &rsip::Response) -> Result<(), MessageError> {
    let h = &response.headers;
    headers::top_via(h)?;
    headers::from_value(h)?;
    headers::to_value(h)?;
    headers::call_id(h)?;
    headers::cseq(h)?;
    Ok(())
}

/// Builds a `400 Bad Request` (reason phrase naming the fault) for bytes that
/// could not become a valid request, from whatever header lines can still be
/// read. `None` when not even Via, From, To, Call-ID and CSeq can be found, or
/// the bytes are a response: then the message is only dropped and counted.
pub fn bad_request(bytes: &[u8], error: &MessageError) -> Option<Vec<u8>> {
    let bytes = skip_leading_crlf(bytes);
    let head_len = header_end(bytes).map_or(bytes.len(), |e| e - 4);
    let head = String::from_utf8_lossy(&bytes[..head_len.min(8192)]);
    let mut lines = head.split("\r\n");
    let start = lines.next()?;
    if start.starts_with("SIP/") || !start.ends_with("SIP/2.0") {
        return None;
    }
    let wanted = ["Via", "From", "To", "Call-ID", "CSeq"];
    let mut found: Vec<(&str, String)> = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = expand_compact(name.trim());
        if let Some(w) = wanted.iter().find(|w| w.eq_ignore_ascii_case(name)) {
            if value.contains(['\r', '\n']) || value.chars().any(|c| c == '\u{fffd}') {
                return None;
            }
            found.push((w, value.trim().to_owned()));
        }
    }
    for w in wanted {
        if !found.iter().any(|(n, _)| *n == w) {
            return None;
        }
    }
    let reason: String = error
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .collect();
    let mut out = format!("SIP/2.0 400 {reason}\r\n");
    for (name, value) in found {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(&value);
        if name == "To" && headers::tag_of(&value).is_none() {
            out.push_str(";tag=");
            out.push_str(&headers::new_tag());
        }
        out.push_str("\r\n");
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    Some(out.into_bytes())
}

/// Splits a TCP byte stream into messages by Content-Length (section 18.3).
#[derive(Debug, Default)]
pub struct StreamFramer {
    buffer: BytesMut,
    limits: Limits,
}

/// One item out of a [`StreamFramer`].
#[derive(Debug)]
pub enum Framed {
    /// A complete message.
    Message(SipMessage),
    /// A CRLF keep-alive ping (RFC 5626 section 3.5.1); answer with one CRLF.
    KeepAlive,
    /// A message whose boundaries were found but whose content is bad; the
    /// stream stays in step. Carries the raw bytes for a 400.
    Malformed(Vec<u8>, MessageError),
}

impl StreamFramer {
    /// A framer with the given limits.
    pub fn new(limits: Limits) -> Self {
        StreamFramer {
            buffer: BytesMut::new(),
            limits,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete item, `Ok(None)` when more bytes are needed, or an
    /// error when the stream cannot be framed any more and must be closed.
    pub fn next_message(&mut self) -> Result<Option<Framed>, MessageError> {
        let crlfs = self.buffer.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
        if crlfs > 0 {
            if crlfs == self.buffer.len() && crlfs < 4 && self.buffer.ends_with(b"\r") {
                return Ok(None);
            }
            let pings = self.buffer[..crlfs].windows(4).any(|w| w == b"\r\n\r\n");
            self.buffer.advance(crlfs);
            if pings {
                return Ok(Some(Framed::KeepAlive));
            }
        }
        if self.buffer.is_empty() {
            return Ok(None);
        }
        let Some(end) = header_end(&self.buffer) else {
            if self.buffer.len() > self.limits.max_message_size {
                return Err(MessageError::TooLarge);
            }
            return Ok(None);
        };
        let head = std::str::from_utf8(&self.buffer[..end - 4]).map_err(|_| MessageError::NotUtf8)?;
        // Section 18.3: Content-Length is mandatory on streams; without it we
        // take an empty body, which keeps well-behaved peers working.
        let body_len = content_length(head, &self.limits)?.unwrap_or(0);
        let total = end + body_len;
        if total > self.limits.max_message_size {
            return Err(MessageError::TooLarge);
        }
        if self.buffer.len() < total {
            return Ok(None);
        }
        let raw = self.buffer.split_to(total);
        let head = std::str::from_utf8(&raw[..end - 4]).map_err(|_| MessageError::NotUtf8)?;
        Ok(Some(match normalise(head, &raw[end..], &self.limits) {
            Ok(message) => Framed::Message(message),
            Err(e) => Framed::Malformed(raw.to_vec(), e),
        }))
    }

    /// Bytes buffered and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Takes the bytes buffered and not yet framed: what is left of a stream
    /// that ended or failed mid-message, for a 400 or a count.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        self.buffer.split().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsip::headers::UntypedHeader;

    const OPTIONS: &str = "OPTIONS sip:127.0.0.1 SIP/2.0\r\n\
        v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n\
        f: <sip:a@127.0.0.1>;tag=1\r\n\
        t: <sip:b@127.0.0.1>\r\n\
        i: abc\r\n\
        CSeq: 1 OPTIONS\r\n\
        Subject: folded\r\n  line\r\n\
        l: 4\r\n\r\nbodyEXTRA";

    #[test]
    fn compact_forms_folding_and_via_lists_are_normalised() {
        let limits = Limits::default();
        let Some(SipMessage::Request(req)) = parse_datagram(OPTIONS.as_bytes(), &limits).unwrap() else {
            panic!("not a request")
        };
        validate_request(&req).unwrap();
        assert_eq!(headers::call_id(&req.headers).unwrap(), "abc");
        let vias: Vec<_> = req
            .headers
            .iter()
            .filter_map(|h| match h {
                rsip::Header::Via(v) => Some(v.value().to_owned()),
                _ => None,
            })
            .collect();
        assert_eq!(vias.len(), 2);
        assert_eq!(req.body, b"body");
        assert!(req.to_string().contains("Subject: folded line\r\n"));
    }

    #[test]
    fn content_length_faults() {
        let limits = Limits::default();
        let base = "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n";
        for (cl, err) in [
            ("Content-Length: -1\r\n", MessageError::BadContentLength),
            ("Content-Length: 99999999999\r\n", MessageError::BadContentLength),
            ("Content-Length: 1\r\nl: 1\r\n", MessageError::DuplicateContentLength),
            ("Content-Length: 10\r\n", MessageError::ShortBody),
        ] {
            let msg = format!("{base}{cl}\r\nx");
            assert_eq!(parse_datagram(msg.as_bytes(), &limits), Err(err), "{cl}");
        }
        let big = vec![b'a'; limits.max_message_size + 1];
        assert_eq!(parse_datagram(&big, &limits), Err(MessageError::TooLarge));
        assert_eq!(parse_datagram(b"\r\n\r\n", &limits), Ok(None));
        assert_eq!(parse_datagram(b"garbage", &limits), Err(MessageError::Truncated));
        assert_eq!(parse_datagram(b"\xff\xfe\r\n\r\n", &limits), Err(MessageError::NotUtf8));
        assert_eq!(
            parse_datagram(b"HELLO\r\n\r\n", &limits),
            Err(MessageError::BadStartLine)
        );
    }

    #[test]
    fn missing_headers_are_named_and_answered_400() {
        let limits = Limits::default();
        let msg = "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let Some(SipMessage::Request(req)) = parse_datagram(msg.as_bytes(), &limits).unwrap() else {
            panic!()
        };
        let err = validate_request(&req).unwrap_err();
        assert_eq!(err.to_string(), "missing Call-ID");
        assert!(
            bad_request(msg.as_bytes(), &err).is_none(),
            "cannot answer without Call-ID"
        );
        let msg = msg.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE\r\nCall-ID: z");
        let Some(SipMessage::Request(req)) = parse_datagram(msg.as_bytes(), &limits).unwrap() else {
            panic!()
        };
        let err = validate_request(&req).unwrap_err();
        assert_eq!(err, MessageError::CSeqMismatch);
        let answer = String::from_utf8(bad_request(msg.as_bytes(), &err).unwrap()).unwrap();
        assert!(answer.starts_with("SIP/2.0 400 CSeq method does not match the request\r\n"));
        assert!(answer.contains("To: <sip:b@h>;tag="));
        let reparsed = parse_datagram(answer.as_bytes(), &limits).unwrap();
        assert!(matches!(reparsed, Some(SipMessage::Response(_))));
    }

    #[test]
    fn stream_framer_splits_by_content_length_and_answers_pings() {
        let mut framer = StreamFramer::new(Limits::default());
        let one = "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 3\r\n\r\nabc";
        let stream = format!("\r\n\r\n{one}{one}");
        let (a, b) = stream.as_bytes().split_at(30);
        framer.push(a);
        assert!(matches!(framer.next_message(), Ok(Some(Framed::KeepAlive))));
        assert!(matches!(framer.next_message(), Ok(None)));
        framer.push(b);
        for _ in 0..2 {
            match framer.next_message() {
                Ok(Some(Framed::Message(SipMessage::Request(r)))) => assert_eq!(r.body, b"abc"),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(framer.next_message(), Ok(None)));
        assert_eq!(framer.buffered(), 0);
        framer.push(b"X sip:x SIP/2.0\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n");
        let nul = "OPTIONS sip:x SIP/2.0\r\nSubject: a\0b\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            parse_datagram(nul.as_bytes(), &Limits::default()).err(),
            Some(MessageError::BadHeaderLine)
        );
        assert_eq!(framer.next_message().err(), Some(MessageError::DuplicateContentLength));
    }

    #[test]
    fn oversize_stream_is_refused() {
        let limits = Limits {
            max_message_size: 100,
            ..Limits::default()
        };
        let mut framer = StreamFramer::new(limits);
        framer.push(&[b'a'; 101]);
        assert_eq!(framer.next_message().err(), Some(MessageError::TooLarge));
    }
}
