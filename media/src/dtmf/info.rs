//! DTMF in SIP INFO bodies.
//!
//! Two bodies are in use (neither has an RFC of its own; these are what phones
//! and gateways send):
//! - `application/dtmf-relay` (Cisco and most PBXes): lines `Signal=5` and
//!   `Duration=160` (milliseconds), in any order and case, separated by CRLF, LF
//!   or CR, with optional spaces around `=`;
//! - `application/dtmf`: the digit alone, e.g. `5`.
//!
//! A signal may be the key itself (`0`-`9`, `*`, `#`, `A`-`D`, any case, `!` for
//! flash) or its RFC 4733 event code (`10` for `*`, `11` for `#`, `16` for flash),
//! as some senders write. A missing or unreadable `Duration` leaves the duration
//! unknown rather than losing the digit. The parsers take raw bytes and never
//! panic, whatever the body.

use std::time::Duration;

use super::{Digit, DigitEvent, DigitSource};

/// The longest duration taken from a body; larger values are clamped (a key
/// held for more than a minute is a broken sender, not a caller).
pub const MAX_DURATION: Duration = Duration::from_secs(60);

/// Why an INFO body gave no digit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InfoError {
    /// The Content-Type is not one of the DTMF bodies.
    #[error("unsupported content type for DTMF")]
    UnsupportedContentType,
    /// A `dtmf-relay` body without a `Signal` line, or an empty `dtmf` body.
    #[error("no DTMF signal in the body")]
    MissingSignal,
    /// The signal is not a DTMF key or event code.
    #[error("invalid DTMF signal")]
    InvalidSignal,
}

/// The DTMF bodies this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/dtmf-relay`.
    DtmfRelay,
    /// `application/dtmf`.
    Dtmf,
}

impl BodyKind {
    /// The kind for a Content-Type header value (case-insensitive, parameters
    /// ignored), or `None` if it is not a DTMF body.
    pub fn from_content_type(content_type: &str) -> Option<BodyKind> {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if media_type.eq_ignore_ascii_case("application/dtmf-relay") {
            Some(BodyKind::DtmfRelay)
        } else if media_type.eq_ignore_ascii_case("application/dtmf") {
            Some(BodyKind::Dtmf)
        } else {
            None
        }
    }
}

/// Reads the digit of an INFO request from its Content-Type and body.
///
/// The event's `duration` is the signalled one, `None` if the body has none.
pub fn parse(content_type: &str, body: &[u8]) -> Result<DigitEvent, InfoError> {
    let (digit, duration) = match BodyKind::from_content_type(content_type) {
        Some(BodyKind::DtmfRelay) => parse_dtmf_relay(body)?,
        Some(BodyKind::Dtmf) => (parse_dtmf(body)?, None),
        None => return Err(InfoError::UnsupportedContentType),
    };
    Ok(DigitEvent {
        digit,
        source: DigitSource::SipInfo,
        duration,
    })
}

/// Reads an `application/dtmf-relay` body: the digit and the duration if given.
/// The first `Signal` and the first `Duration` line count; other lines are ignored.
pub fn parse_dtmf_relay(body: &[u8]) -> Result<(Digit, Option<Duration>), InfoError> {
    let mut signal = None;
    let mut duration = None;
    for line in body.split(|&b| b == b'\n' || b == b'\r') {
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (key, value) = (trim(&line[..eq]), trim(&line[eq + 1..]));
        if key.eq_ignore_ascii_case(b"signal") && signal.is_none() {
            signal = Some(value);
        } else if key.eq_ignore_ascii_case(b"duration") && duration.is_none() {
            duration = Some(value);
        }
    }
    let digit = parse_signal(signal.ok_or(InfoError::MissingSignal)?)?;
    Ok((digit, duration.and_then(parse_millis)))
}

/// Reads an `application/dtmf` body: the digit alone, surrounding whitespace allowed.
pub fn parse_dtmf(body: &[u8]) -> Result<Digit, InfoError> {
    parse_signal(trim(body))
}

/// Formats an `application/dtmf-relay` body, for sending digits by INFO.
pub fn format_dtmf_relay(digit: Digit, duration: Duration) -> String {
    format!(
        "Signal={}\r\nDuration={}\r\n",
        digit,
        duration.min(MAX_DURATION).as_millis()
    )
}

fn parse_signal(value: &[u8]) -> Result<Digit, InfoError> {
    match value {
        [] => Err(InfoError::MissingSignal),
        [c] => Digit::from_char(char::from(*c)).ok_or(InfoError::InvalidSignal),
        _ if value.iter().all(u8::is_ascii_digit) && value.len() <= 3 => {
            let code = value.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
            u8::try_from(code)
                .ok()
                .and_then(Digit::from_event_code)
                .ok_or(InfoError::InvalidSignal)
        }
        _ => Err(InfoError::InvalidSignal),
    }
}

fn parse_millis(value: &[u8]) -> Option<Duration> {
    if value.is_empty() || value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let millis = value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some(Duration::from_millis(millis).min(MAX_DURATION))
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    #[test]
    fn dtmf_info_relay_bodies() {
        assert_eq!(
            parse_dtmf_relay(b"Signal=5\r\nDuration=160\r\n"),
            Ok((Digit::D5, ms(160)))
        );
        assert_eq!(parse_dtmf_relay(b"Signal=5\r\nDuration=160"), Ok((Digit::D5, ms(160))));
        assert_eq!(
            parse_dtmf_relay(b"duration = 250\nsignal = #\n"),
            Ok((Digit::Pound, ms(250)))
        );
        assert_eq!(
            parse_dtmf_relay(b"Signal= *\rDuration=100\r"),
            Ok((Digit::Star, ms(100)))
        );
        assert_eq!(parse_dtmf_relay(b"Signal=d\r\n"), Ok((Digit::D, None)));
        assert_eq!(parse_dtmf_relay(b"Signal=10\r\nDuration=x"), Ok((Digit::Star, None)));
        assert_eq!(parse_dtmf_relay(b"Signal=11"), Ok((Digit::Pound, None)));
        assert_eq!(
            parse_dtmf_relay(b"Signal=16\r\nDuration=2000"),
            Ok((Digit::Flash, ms(2000)))
        );
        assert_eq!(parse_dtmf_relay(b"Signal=!"), Ok((Digit::Flash, None)));
        assert_eq!(
            parse_dtmf_relay(b"Signal=1\r\nDuration=99999999"),
            Ok((Digit::D1, Some(MAX_DURATION)))
        );
        assert_eq!(parse_dtmf_relay(b"Signal=1\r\nSignal=2"), Ok((Digit::D1, None)));
        assert_eq!(parse_dtmf_relay(b"Duration=160"), Err(InfoError::MissingSignal));
        assert_eq!(parse_dtmf_relay(b"Signal=\r\n"), Err(InfoError::MissingSignal));
        assert_eq!(parse_dtmf_relay(b"Signal=17"), Err(InfoError::InvalidSignal));
        assert_eq!(parse_dtmf_relay(b"Signal=999"), Err(InfoError::InvalidSignal));
        assert_eq!(parse_dtmf_relay(b"Signal=E"), Err(InfoError::InvalidSignal));
        assert_eq!(parse_dtmf_relay(b"Signal=12a"), Err(InfoError::InvalidSignal));
        assert_eq!(
            parse_dtmf_relay("Signal=\u{e9}".as_bytes()),
            Err(InfoError::InvalidSignal)
        );
        assert_eq!(parse_dtmf_relay(b""), Err(InfoError::MissingSignal));
    }

    #[test]
    fn dtmf_info_plain_bodies_and_content_types() {
        assert_eq!(parse_dtmf(b"5"), Ok(Digit::D5));
        assert_eq!(parse_dtmf(b" #\r\n"), Ok(Digit::Pound));
        assert_eq!(parse_dtmf(b"11"), Ok(Digit::Pound));
        assert_eq!(parse_dtmf(b""), Err(InfoError::MissingSignal));
        assert_eq!(parse_dtmf(b"55x"), Err(InfoError::InvalidSignal));
        let event = parse("Application/DTMF-Relay; charset=utf-8", b"Signal=9\r\nDuration=160\r\n").unwrap();
        assert_eq!(
            event,
            DigitEvent {
                digit: Digit::D9,
                source: DigitSource::SipInfo,
                duration: ms(160)
            }
        );
        assert_eq!(parse("application/dtmf", b"0").unwrap().digit, Digit::D0);
        assert_eq!(
            parse("application/sdp", b"Signal=1"),
            Err(InfoError::UnsupportedContentType)
        );
        assert_eq!(parse("", b"1"), Err(InfoError::UnsupportedContentType));
    }

    proptest! {
        #[test]
        fn dtmf_info_garbage_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200), ct in ".{0,40}") {
            let _ = parse_dtmf_relay(&body);
            let _ = parse_dtmf(&body);
            let _ = parse(&ct, &body);
            let _ = parse("application/dtmf-relay", &body);
        }

        #[test]
        fn dtmf_info_relay_round_trip(code in 0u8..17, millis in 0u64..60_000, noise in "[ \t]{0,3}") {
            let digit = Digit::from_event_code(code).unwrap();
            let body = format_dtmf_relay(digit, Duration::from_millis(millis)).replace('=', &format!("{noise}={noise}"));
            prop_assert_eq!(parse_dtmf_relay(body.as_bytes()), Ok((digit, ms(millis))));
        }
    }
}
