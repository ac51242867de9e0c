//! The UAC side: answering a challenge from a trunk or an upstream proxy.

use super::params::{parse_digest, quote, ParamsError};
use super::{compute_response, DigestAlgorithm};

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The scheme is not Digest.
    #[error("challenge scheme is not Digest")]
    NotDigest,
    /// The challenge is not a well-formed Digest parameter list, or lacks realm
    /// or nonce.
    #[error("malformed Digest challenge: {0}")]
    Malformed(&'static str),
    /// The algorithm is neither MD5 nor SHA-256.
    #[error("challenge algorithm {0:?} is not supported")]
    UnsupportedAlgorithm(String),
    /// The challenge offers qop values but not `auth`.
    #[error("challenge qop {0:?} does not offer auth")]
    UnsupportedQop(String),
}

/// The value of an Authorization (or Proxy-Authorization) header answering
/// `challenge`, a WWW-Authenticate (or Proxy-Authenticate) header value.
///
/// When the challenge offers `qop="auth"` (alone or in a list such as
/// `"auth,auth-int"`), the answer uses qop=auth with `nc` (printed as 8 hex digits)
/// and `cnonce`; without qop it is RFC 2069 style and `nc`/`cnonce` are unused.
/// The challenge's `opaque` is echoed. `cnonce` should be fresh and random per
/// nonce; `nc` counts requests sent with the same nonce, starting at 1.
///
/// This deliberately returns a `Result`: the challenge comes from the network.
#[allow(clippy::too_many_arguments)]
pub fn client_response(
    challenge: &str,
    username: &str,
    password: &str,
    method: &str,
    uri: &str,
    nc: u32,
    cnonce: &str,
) -> Result<String, ChallengeError> {
    let p = parse_digest(challenge).map_err(|e| match e {
        ParamsError::NotDigest => ChallengeError::NotDigest,
        ParamsError::Malformed(why) => ChallengeError::Malformed(why),
    })?;
    let realm = p.get("realm").ok_or(ChallengeError::Malformed("missing realm"))?;
    let nonce = p.get("nonce").ok_or(ChallengeError::Malformed("missing nonce"))?;
    let alg_token = p.get("algorithm").unwrap_or("MD5");
    let algorithm = DigestAlgorithm::from_token(alg_token)
        .ok_or_else(|| ChallengeError::UnsupportedAlgorithm(alg_token.to_string()))?;
    let use_qop = match p.get("qop") {
        None => false,
        Some(list) => {
            if !list.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth")) {
                return Err(ChallengeError::UnsupportedQop(list.to_string()));
            }
            true
        }
    };
    let nc_text = format!("{nc:08x}");
    let response = compute_response(
        algorithm,
        username,
        realm,
        password,
        method,
        uri,
        nonce,
        use_qop.then_some((nc_text.as_str(), cnonce)),
    );
    let mut out = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response=\"{response}\", algorithm={}",
        quote(username),
        quote(realm),
        quote(nonce),
        quote(uri),
        algorithm.token()
    );
    if use_qop {
        out.push_str(&format!(", cnonce={}, qop=auth, nc={nc_text}", quote(cnonce)));
    }
    if let Some(opaque) = p.get("opaque") {
        out.push_str(&format!(", opaque={}", quote(opaque)));
    }
    Ok(out)
}
