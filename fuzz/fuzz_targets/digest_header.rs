//! Digest credentials parsing and checking.
//!
//! 1. The input, as text, is an Authorization value given to
//!    `DigestAuthenticator::verify` (for a known and an unknown user): it must
//!    not panic.
//! 2. The input, split at newlines, supplies user name, password, URI, cnonce
//!    and method for `client_response` against a real challenge; what the client
//!    computes must authenticate, a second use with the same nonce-count must be
//!    a replay, and after the nonce lifetime the same credentials are stale.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use signaling::auth::{client_response, AuthOutcome, AuthRejection, DigestAlgorithm, DigestAuthenticator, DigestConfig};

static BASE: OnceLock<Instant> = OnceLock::new();

fn authenticator(now: Instant, algorithms: Vec<DigestAlgorithm>) -> DigestAuthenticator {
    let mut config = DigestConfig::new("example.com");
    config.algorithms = algorithms;
    DigestAuthenticator::new(config, now)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let now = *BASE.get_or_init(Instant::now);

    // 1. Raw header value.
    let mut auth = authenticator(now, vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5]);
    let _ = auth.challenge(now, false);
    let _ = auth.verify(now, "REGISTER", text, |user| (user == "alice").then(|| "secret".to_owned()));
    let _ = auth.verify(now, "INVITE", text, |_| Some(String::new()));

    // 2. Client/server round trip with fuzzed fields.
    let mut fields = text.split('\n');
    let username = fields.next().unwrap_or("alice");
    let password = fields.next().unwrap_or("secret");
    let uri = fields.next().unwrap_or("sip:example.com");
    let cnonce = fields.next().unwrap_or("c0ffee");
    let method = fields.next().filter(|m| !m.is_empty()).unwrap_or("REGISTER");
    for algorithm in [DigestAlgorithm::Md5, DigestAlgorithm::Sha256] {
        let mut auth = authenticator(now, vec![algorithm]);
        let challenge = auth.challenge(now, false).remove(0);
        let password_for = |user: &str| (user == username).then(|| password.to_owned());
        let Ok(credentials) = client_response(&challenge, username, password, method, uri, 1, cnonce) else {
            panic!("client_response refused our own challenge {challenge:?}");
        };
        assert_eq!(
            auth.verify(now, method, &credentials, password_for),
            AuthOutcome::Authenticated {
                username: username.to_owned()
            },
            "{credentials:?}"
        );
        assert_eq!(
            auth.verify(now, method, &credentials, password_for),
            AuthOutcome::Rejected(AuthRejection::Replay(username.to_owned())),
            "{credentials:?}"
        );
        let Ok(next) = client_response(&challenge, username, password, method, uri, 2, cnonce) else {
            panic!("client_response refused our own challenge {challenge:?}");
        };
        let later = now + Duration::from_secs(301);
        assert_eq!(auth.verify(later, method, &next, password_for), AuthOutcome::Stale, "{next:?}");
        let wrong = |user: &str| (user == username).then(|| format!("{password}x"));
        assert!(
            matches!(auth.verify(now, method, &next, wrong), AuthOutcome::Rejected(AuthRejection::WrongPassword(_))),
            "{next:?}"
        );
    }
});
