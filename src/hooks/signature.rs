//! Signing of hook deliveries, as payment and code-hosting platforms do it:
//!
//! ```text
//! Switchboard-Signature: t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//! ```
//!
//! `v1` is the lower-case hex HMAC-SHA256, keyed with the subscription's
//! secret, of the Unix time `t`, a full stop, and the exact bytes of the
//! body. The time is signed with the body so that a captured delivery cannot
//! be replayed later: a receiver rejects a signature whose `t` is further
//! than its replay window (five minutes is usual) from its own clock, and
//! uses the event's `id` to drop a delivery it has already taken (deliveries
//! are at least once). Compare signatures in constant time, as
//! [`verify`] does.
//!
//! This file depends on nothing of the switch, so that receivers written in
//! Rust (and the switch's own tests) can take it as it is.

// Public items on purpose: the file is also compiled into receivers.
#![allow(unreachable_pub, dead_code)]

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const HEADER: &str = "Switchboard-Signature";

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The header is not `t=<unix>,v1=<hex>`.
    Malformed,
    /// `t` is outside the replay window.
    TooOld,
    /// No `v1` matches the body and the secret.
    Mismatch,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VerifyError::Malformed => "the signature header is not t=<unix>,v1=<hex>",
            VerifyError::TooOld => "the signature's time is outside the replay window",
            VerifyError::Mismatch => "the signature does not match the body",
        })
    }
}

impl std::error::Error for VerifyError {}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` signed with `secret` at Unix time `t`.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let tag = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(tag))
}

/// Checks a header value against `body` and `secret`, at Unix time `now`,
/// accepting times at most `window_secs` away. Several `v1` entries are
/// allowed (a secret being rotated): one match is enough.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, window_secs: i64) -> Result<(), VerifyError> {
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| VerifyError::Malformed)?),
            Some(("v1", v)) => candidates.push(hex::decode(v).map_err(|_| VerifyError::Malformed)?),
            Some(_) => {}
            None => return Err(VerifyError::Malformed),
        }
    }
    let t = t.ok_or(VerifyError::Malformed)?;
    if candidates.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if (now - t).abs() > window_secs {
        return Err(VerifyError::TooOld);
    }
    let expected = mac(secret, t, body);
    if candidates.iter().any(|c| expected.clone().verify_slice(c).is_ok()) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_within_the_window_only() {
        let header = sign(b"whsec", 1_700_000_000, b"{\"a\":1}");
        assert_eq!(verify(b"whsec", &header, b"{\"a\":1}", 1_700_000_100, 300), Ok(()));
        assert_eq!(
            verify(b"whsec", &header, b"{\"a\":1}", 1_700_000_301, 300),
            Err(VerifyError::TooOld)
        );
        assert_eq!(
            verify(b"other", &header, b"{\"a\":1}", 1_700_000_000, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"whsec", &header, b"{\"a\":2}", 1_700_000_000, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(verify(b"whsec", "v1=zz", b"", 0, 300), Err(VerifyError::Malformed));
    }

    #[test]
    fn a_known_answer() {
        // HMAC-SHA256(key "key", message "0.") from another implementation.
        assert_eq!(
            sign(b"key", 0, b""),
            "t=0,v1=85841b4efc3cd7776c3c8f9b7cca9e281c550e5d19889d78e9e669c6337f000d"
        );
    }
}
