//! Digest authentication for a registrar and a UAS: RFC 3261 section 22 with
//! RFC 7616 / RFC 8760 (SHA-256 and MD5, qop=auth), expiring nonces answered
//! with `stale=true`, and nonce-count replay rejection. Clock-free: every call
//! takes `now`.
//!
//! # Nonces
//! A nonce is `hex(issue ms since the authenticator's epoch) || hex(sequence) ||
//! hex(tag)`, where the tag is the first 16 bytes of SHA-256 over a random
//! per-authenticator secret, the issue time and the sequence. So any nonce can be
//! checked without state: one we did not issue (a forged one, or one from before a
//! restart) fails the tag, an old one fails the age check. The sequence keeps
//! nonces unique when many phones are challenged in the same millisecond.
//!
//! Following RFC 7616 section 3.3 ("stale ... the server should only set stale to
//! true if it receives a request for which the nonce is invalid but with a valid
//! digest for that nonce"), the digest is checked first: a correct digest over an
//! expired, forged or forgotten nonce is [`AuthOutcome::Stale`] (the client knows
//! the password and may retry at once with a fresh nonce); a wrong digest is always
//! [`AuthRejection::WrongPassword`].
//!
//! # Replay
//! State is kept per issued nonce (highest nonce-count seen, 0 when challenged),
//! bounded by [`MAX_TRACKED_NONCES`]; beyond it the oldest nonce is forgotten and a
//! later use of it is answered `Stale`, never accepted. With qop=auth a nonce-count
//! that does not strictly increase is [`AuthRejection::Replay`].
//!
//! # Choices
//! - RFC 2069 credentials (no qop, no nc/cnonce) are accepted, as RFC 3261 section
//!   22.4 asks for backward compatibility; they have no replay protection beyond
//!   the nonce lifetime. `auth-int` and the `-sess` algorithms are not supported.
//! - No `opaque` is issued; `userhash` (RFC 7616 section 3.4.4) is refused.
//! - The `uri` parameter is hashed but not compared with the Request-URI here; the
//!   caller has the request and may check it. The digest binds the URI, so an
//!   altered one fails as a wrong password.
//! - Unknown user and wrong password are distinct rejections for logging; answer
//!   both with the same fresh challenge so the wire does not reveal which one.

mod client;
mod params;
#[cfg(test)]
mod tests;

pub use client::{client_response, ChallengeError};

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use md5::Md5;
use sha2::{Digest, Sha256};

use params::{parse_digest, quote, ParamsError};

/// At most this many issued nonces are tracked for nonce-count replay checks.
pub const MAX_TRACKED_NONCES: usize = 65_536;

/// A digest hash algorithm (RFC 7616 section 3.2, RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `MD5`: the default when a header names no algorithm; every SIP UA has it.
    Md5,
    /// `SHA-256` (RFC 8760), offered first by default.
    Sha256,
}

impl DigestAlgorithm {
    /// The token used in the `algorithm` parameter.
    pub fn token(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses an `algorithm` token, case-insensitively; `None` for the `-sess`
    /// variants and anything else unsupported.
    pub fn from_token(token: &str) -> Option<Self> {
        if token.eq_ignore_ascii_case("MD5") {
            Some(DigestAlgorithm::Md5)
        } else if token.eq_ignore_ascii_case("SHA-256") {
            Some(DigestAlgorithm::Sha256)
        } else {
            None
        }
    }

    /// Lower-case hex of the hash of `data`.
    pub(crate) fn hex(self, data: &str) -> String {
        match self {
            DigestAlgorithm::Md5 => hex::encode(Md5::digest(data.as_bytes())),
            DigestAlgorithm::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

/// Digest computation inputs that depend on qop: `(nc, cnonce)` for qop=auth,
/// `None` for RFC 2069.
pub(crate) type QopAuth<'a> = Option<(&'a str, &'a str)>;

/// The `response` value: H(H(user:realm:pass):nonce[:nc:cnonce:auth]:H(method:uri)).
#[allow(clippy::too_many_arguments)]
pub(crate) fn compute_response(
    algorithm: DigestAlgorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: QopAuth<'_>,
) -> String {
    let ha1 = algorithm.hex(&format!("{username}:{realm}:{password}"));
    let ha2 = algorithm.hex(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => algorithm.hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => algorithm.hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// Settings of a [`DigestAuthenticator`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestConfig {
    /// The protection realm, usually the SIP domain.
    pub realm: String,
    /// Algorithms offered, one challenge each, in this order. RFC 8760 asks for
    /// SHA-256 before MD5. An empty list rejects everything.
    pub algorithms: Vec<DigestAlgorithm>,
    /// How long a nonce is accepted after it was issued.
    pub nonce_lifetime: Duration,
}

impl DigestConfig {
    /// `realm` with SHA-256 then MD5 and a 5-minute nonce lifetime.
    pub fn new(realm: impl Into<String>) -> Self {
        DigestConfig {
            realm: realm.into(),
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            nonce_lifetime: Duration::from_secs(300),
        }
    }
}

/// The result of [`DigestAuthenticator::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The credentials are good, the nonce is fresh and not replayed.
    Authenticated {
        /// The authenticated user name (check it against the AOR or caller).
        username: String,
    },
    /// The digest is right but the nonce is expired or unknown: challenge again
    /// with `stale=true`.
    Stale,
    /// Not authenticated: answer with a fresh challenge (`stale=false`).
    Rejected(AuthRejection),
}

/// Why credentials were rejected. For logs and metrics; on the wire every
/// rejection is the same fresh challenge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthRejection {
    /// The header is not a well-formed Digest credentials value.
    #[error("malformed Digest credentials: {0}")]
    BadHeader(&'static str),
    /// The scheme is not Digest (e.g. Basic).
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// The realm is not ours.
    #[error("realm {0:?} is not ours")]
    WrongRealm(String),
    /// The algorithm is unknown or not enabled.
    #[error("algorithm {0:?} is not supported")]
    UnsupportedAlgorithm(String),
    /// A qop other than `auth` (e.g. `auth-int`).
    #[error("qop {0:?} is not supported")]
    UnsupportedQop(String),
    /// No password is known for the user.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// The digest does not match: wrong password, or altered method, URI or nonce.
    #[error("wrong password for user {0:?}")]
    WrongPassword(String),
    /// The nonce-count did not increase: a replayed request.
    #[error("nonce-count replay for user {0:?}")]
    Replay(String),
}

/// Issues challenges and verifies credentials. See the module docs.
#[derive(Debug)]
pub struct DigestAuthenticator {
    config: DigestConfig,
    epoch: Instant,
    secret: [u8; 32],
    next_seq: u64,
    /// Sequence number -> highest nonce-count seen.
    counts: HashMap<u64, u32>,
    /// (sequence, issue ms) in issue order, for purging and eviction.
    issued: VecDeque<(u64, u64)>,
}

/// A nonce whose tag is genuine.
struct NonceInfo {
    seq: u64,
}

impl DigestAuthenticator {
    /// A new authenticator with a fresh random secret; `now` is its epoch.
    pub fn new(config: DigestConfig, now: Instant) -> Self {
        DigestAuthenticator {
            config,
            epoch: now,
            secret: rand::random(),
            next_seq: 0,
            counts: HashMap::new(),
            issued: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DigestConfig {
        &self.config
    }

    /// Number of nonces currently tracked for replay checks.
    pub fn tracked_nonces(&self) -> usize {
        self.counts.len()
    }

    /// The values of WWW-Authenticate (or Proxy-Authenticate) headers: one per
    /// configured algorithm, in order, all with one new nonce, e.g.
    /// `Digest realm="example.com", nonce="...", algorithm=SHA-256, qop="auth"`,
    /// with `, stale=true` appended when `stale`.
    pub fn challenge(&mut self, now: Instant, stale: bool) -> Vec<String> {
        let nonce = self.issue_nonce(now);
        let realm = quote(&self.config.realm);
        self.config
            .algorithms
            .iter()
            .map(|alg| {
                let mut value = format!(
                    "Digest realm={realm}, nonce=\"{nonce}\", algorithm={}, qop=\"auth\"",
                    alg.token()
                );
                if stale {
                    value.push_str(", stale=true");
                }
                value
            })
            .collect()
    }

    /// Verifies an Authorization (or Proxy-Authorization) header value for a
    /// request with `method`. `password_for` maps a user name to its password.
    pub fn verify(
        &mut self,
        now: Instant,
        method: &str,
        authorization_value: &str,
        password_for: impl Fn(&str) -> Option<String>,
    ) -> AuthOutcome {
        match self.check(now, method, authorization_value, password_for) {
            Ok(outcome) => outcome,
            Err(rejection) => AuthOutcome::Rejected(rejection),
        }
    }

    fn check(
        &mut self,
        now: Instant,
        method: &str,
        value: &str,
        password_for: impl Fn(&str) -> Option<String>,
    ) -> Result<AuthOutcome, AuthRejection> {
        let p = parse_digest(value).map_err(|e| match e {
            ParamsError::NotDigest => AuthRejection::NotDigest,
            ParamsError::Malformed(why) => AuthRejection::BadHeader(why),
        })?;
        let need = |name: &'static str, why: &'static str| p.get(name).ok_or(AuthRejection::BadHeader(why));
        let username = need("username", "missing username")?;
        let realm = need("realm", "missing realm")?;
        let nonce = need("nonce", "missing nonce")?;
        let uri = need("uri", "missing uri")?;
        let response = need("response", "missing response")?;
        if p.get("userhash").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Err(AuthRejection::BadHeader("userhash is not supported"));
        }
        if realm != self.config.realm {
            return Err(AuthRejection::WrongRealm(realm.to_string()));
        }
        let alg_token = p.get("algorithm").unwrap_or("MD5");
        let algorithm = DigestAlgorithm::from_token(alg_token)
            .filter(|a| self.config.algorithms.contains(a))
            .ok_or_else(|| AuthRejection::UnsupportedAlgorithm(alg_token.to_string()))?;
        let qop = match p.get("qop") {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc = need("nc", "qop=auth without nc")?;
                let cnonce = need("cnonce", "qop=auth without cnonce")?;
                let count = parse_nc(nc).ok_or(AuthRejection::BadHeader("nc is not 8 hex digits"))?;
                Some((nc, cnonce, count))
            }
            Some(other) => return Err(AuthRejection::UnsupportedQop(other.to_string())),
        };
        let password = password_for(username).ok_or_else(|| AuthRejection::UnknownUser(username.to_string()))?;
        let expected = compute_response(
            algorithm,
            username,
            realm,
            &password,
            method,
            uri,
            nonce,
            qop.map(|(nc, cnonce, _)| (nc, cnonce)),
        );
        if !constant_time_eq(expected.as_bytes(), response.to_ascii_lowercase().as_bytes()) {
            return Err(AuthRejection::WrongPassword(username.to_string()));
        }
        // The client knows the password; from here on a bad nonce is only stale.
        let Some(info) = self.check_nonce(nonce, now) else {
            return Ok(AuthOutcome::Stale);
        };
        let Some(highest) = self.counts.get_mut(&info.seq) else {
            // Evicted or purged: cannot tell a replay, so ask for a new nonce.
            return Ok(AuthOutcome::Stale);
        };
        if let Some((_, _, count)) = qop {
            if count <= *highest {
                return Err(AuthRejection::Replay(username.to_string()));
            }
            *highest = count;
        }
        Ok(AuthOutcome::Authenticated {
            username: username.to_string(),
        })
    }

    /// Forgets the nonces that have expired; their later use is answered `Stale`.
    pub fn purge(&mut self, now: Instant) {
        while let Some(&(seq, issued_ms)) = self.issued.front() {
            if self.expires_at(issued_ms) > now {
                break;
            }
            self.issued.pop_front();
            self.counts.remove(&seq);
        }
    }

    /// When the oldest tracked nonce expires: the next useful [`Self::purge`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.issued.front().map(|&(_, ms)| self.expires_at(ms))
    }

    fn expires_at(&self, issued_ms: u64) -> Instant {
        self.epoch + Duration::from_millis(issued_ms) + self.config.nonce_lifetime
    }

    fn tag(&self, issued_ms: u64, seq: u64) -> [u8; 16] {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(issued_ms.to_be_bytes());
        h.update(seq.to_be_bytes());
        let full = h.finalize();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&full[..16]);
        tag
    }

    fn issue_nonce(&mut self, now: Instant) -> String {
        self.purge(now);
        let issued_ms = u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX);
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        while self.issued.len() >= MAX_TRACKED_NONCES {
            if let Some((old, _)) = self.issued.pop_front() {
                self.counts.remove(&old);
            }
        }
        self.issued.push_back((seq, issued_ms));
        self.counts.insert(seq, 0);
        format!("{issued_ms:016x}{seq:016x}{}", hex::encode(self.tag(issued_ms, seq)))
    }

    /// The nonce's issue data if we issued it and it has not expired.
    fn check_nonce(&self, nonce: &str, now: Instant) -> Option<NonceInfo> {
        if nonce.len() != 64 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let issued_ms = u64::from_str_radix(nonce.get(..16)?, 16).ok()?;
        let seq = u64::from_str_radix(nonce.get(16..32)?, 16).ok()?;
        let tag = hex::decode(nonce.get(32..)?).ok()?;
        if !constant_time_eq(&tag, &self.tag(issued_ms, seq)) {
            return None;
        }
        let issued_at = self.epoch.checked_add(Duration::from_millis(issued_ms))?;
        let expires = issued_at.checked_add(self.config.nonce_lifetime)?;
        (issued_at <= now && now < expires).then_some(NonceInfo { seq })
    }
}

/// `nc`: exactly 8 hex digits (RFC 7616 section 3.4).
fn parse_nc(nc: &str) -> Option<u32> {
    if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(nc, 16).ok()
}

/// Equality whose time depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
