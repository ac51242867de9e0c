use super::*;
use proptest::prelude::*;

const RFC_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
const RFC_REALM: &str = "http-auth@example.org";

fn passwords(user: &str) -> Option<String> {
    match user {
        "1001" => Some("secret".to_string()),
        "1002" => Some("other".to_string()),
        _ => None,
    }
}

fn authenticator(t0: Instant) -> DigestAuthenticator {
    DigestAuthenticator::new(DigestConfig::new("example.com"), t0)
}

fn answer(challenge: &str, password: &str, nc: u32) -> String {
    client_response(
        challenge,
        "1001",
        password,
        "REGISTER",
        "sip:example.com",
        nc,
        "0a4f113b",
    )
    .expect("our own challenge is answerable")
}

fn authenticated() -> AuthOutcome {
    AuthOutcome::Authenticated {
        username: "1001".to_string(),
    }
}

#[test]
fn rfc7616_md5_and_sha256_vectors() {
    let md5 = compute_response(
        DigestAlgorithm::Md5,
        "Mufasa",
        RFC_REALM,
        "Circle of Life",
        "GET",
        "/dir/index.html",
        RFC_NONCE,
        Some(("00000001", RFC_CNONCE)),
    );
    assert_eq!(md5, "8ca523f5e9506fed4657c9700eebdbec");
    let sha = compute_response(
        DigestAlgorithm::Sha256,
        "Mufasa",
        RFC_REALM,
        "Circle of Life",
        "GET",
        "/dir/index.html",
        RFC_NONCE,
        Some(("00000001", RFC_CNONCE)),
    );
    assert_eq!(sha, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

#[test]
fn rfc2617_vector() {
    let r = compute_response(
        DigestAlgorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
        "GET",
        "/dir/index.html",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        Some(("00000001", "0a4f113b")),
    );
    assert_eq!(r, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn client_response_answers_the_rfc7616_challenge() {
    let challenge = format!(
        "Digest realm=\"{RFC_REALM}\", qop=\"auth, auth-int\", algorithm=SHA-256, \
         nonce=\"{RFC_NONCE}\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
    );
    let value = client_response(
        &challenge,
        "Mufasa",
        "Circle of Life",
        "GET",
        "/dir/index.html",
        1,
        RFC_CNONCE,
    )
    .expect("answerable");
    assert!(value.starts_with("Digest username=\"Mufasa\""));
    assert!(value.contains("response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""));
    assert!(value.contains("nc=00000001"));
    assert!(value.contains("qop=auth,") || value.ends_with("qop=auth"));
    assert!(value.contains("opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""));

    let md5 = challenge.replace("SHA-256", "MD5");
    let value = client_response(
        &md5,
        "Mufasa",
        "Circle of Life",
        "GET",
        "/dir/index.html",
        1,
        RFC_CNONCE,
    )
    .expect("answerable");
    assert!(value.contains("response=\"8ca523f5e9506fed4657c9700eebdbec\""));
}

#[test]
fn client_response_refuses_unanswerable_challenges() {
    let r = |c: &str| client_response(c, "u", "p", "INVITE", "sip:x", 1, "c");
    assert_eq!(r("Basic realm=\"x\""), Err(ChallengeError::NotDigest));
    assert!(matches!(r("Digest nonce=\"n\""), Err(ChallengeError::Malformed(_))));
    assert!(matches!(
        r("Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess"),
        Err(ChallengeError::UnsupportedAlgorithm(_))
    ));
    assert!(matches!(
        r("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""),
        Err(ChallengeError::UnsupportedQop(_))
    ));
    // No qop: RFC 2069 style answer without nc/cnonce.
    let legacy = r("Digest realm=\"r\", nonce=\"n\"").expect("answerable");
    assert!(!legacy.contains("nc=") && !legacy.contains("cnonce"));
}

#[test]
fn challenge_lists_sha256_first_then_md5() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let ch = auth.challenge(t0, false);
    assert_eq!(ch.len(), 2);
    assert!(ch[0].starts_with("Digest realm=\"example.com\", nonce=\""));
    assert!(ch[0].contains("algorithm=SHA-256") && ch[0].contains("qop=\"auth\""));
    assert!(ch[1].contains("algorithm=MD5"));
    assert!(!ch[0].contains("stale"));
    let stale = auth.challenge(t0, true);
    assert!(stale.iter().all(|c| c.ends_with(", stale=true")));
    assert_ne!(ch[0], stale[0], "every challenge has a new nonce");
}

#[test]
fn register_round_trip_with_each_algorithm() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    // The challenges of one 401 share a nonce: the client answers one of them.
    for i in 0..2 {
        let challenge = auth.challenge(t0, false).remove(i);
        let creds = answer(&challenge, "secret", 1);
        let now = t0 + Duration::from_secs(1);
        assert_eq!(auth.verify(now, "REGISTER", &creds, passwords), authenticated());
    }
}

#[test]
fn uppercase_hex_response_is_accepted() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let challenge = auth.challenge(t0, false).remove(0);
    let creds = answer(&challenge, "secret", 1);
    let (head, tail) = creds.split_once("response=\"").expect("has response");
    let (hash, rest) = tail.split_once('"').expect("quoted");
    let upper = format!("{head}response=\"{}\"{rest}", hash.to_ascii_uppercase());
    assert_eq!(auth.verify(t0, "REGISTER", &upper, passwords), authenticated());
}

#[test]
fn wrong_password_unknown_user_and_altered_method_are_rejected() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let challenge = auth.challenge(t0, false).remove(0);
    assert_eq!(
        auth.verify(t0, "REGISTER", &answer(&challenge, "guess", 1), passwords),
        AuthOutcome::Rejected(AuthRejection::WrongPassword("1001".into()))
    );
    let good = answer(&challenge, "secret", 2);
    assert_eq!(
        auth.verify(t0, "INVITE", &good, passwords),
        AuthOutcome::Rejected(AuthRejection::WrongPassword("1001".into()))
    );
    assert_eq!(
        auth.verify(t0, "REGISTER", &good, |_| None),
        AuthOutcome::Rejected(AuthRejection::UnknownUser("1001".into()))
    );
    // The failures did not consume the nonce-count: the genuine request works.
    assert_eq!(auth.verify(t0, "REGISTER", &good, passwords), authenticated());
}

#[test]
fn expired_nonce_is_stale_only_with_a_correct_digest() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let lifetime = auth.config().nonce_lifetime;
    let challenge = auth.challenge(t0, false).remove(0);
    let good = answer(&challenge, "secret", 1);
    let late = t0 + lifetime;
    assert_eq!(auth.verify(late, "REGISTER", &good, passwords), AuthOutcome::Stale);
    assert!(matches!(
        auth.verify(late, "REGISTER", &answer(&challenge, "guess", 1), passwords),
        AuthOutcome::Rejected(AuthRejection::WrongPassword(_))
    ));
    // Still stale after its state is purged: the nonce is self-describing.
    auth.purge(late);
    assert_eq!(auth.tracked_nonces(), 0);
    assert_eq!(auth.verify(late, "REGISTER", &good, passwords), AuthOutcome::Stale);
    // Just before expiry it was fine.
    let mut auth = authenticator(t0);
    let challenge = auth.challenge(t0, false).remove(0);
    let just_before = t0 + lifetime - Duration::from_millis(1);
    assert_eq!(
        auth.verify(just_before, "REGISTER", &answer(&challenge, "secret", 1), passwords),
        authenticated()
    );
}

#[test]
fn foreign_or_forged_nonce_with_correct_digest_is_stale() {
    let t0 = Instant::now();
    let mut before_restart = authenticator(t0);
    let mut after_restart = authenticator(t0);
    let challenge = before_restart.challenge(t0, false).remove(0);
    let creds = answer(&challenge, "secret", 1);
    assert_eq!(
        after_restart.verify(t0, "REGISTER", &creds, passwords),
        AuthOutcome::Stale
    );
    let forged = "Digest realm=\"example.com\", nonce=\"abc\"";
    let creds = answer(forged, "secret", 1);
    assert_eq!(
        after_restart.verify(t0, "REGISTER", &creds, passwords),
        AuthOutcome::Stale
    );
}

#[test]
fn nonce_count_must_strictly_increase() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let challenge = auth.challenge(t0, false).remove(0);
    let replay = AuthOutcome::Rejected(AuthRejection::Replay("1001".into()));
    let v =
        |auth: &mut DigestAuthenticator, nc| auth.verify(t0, "REGISTER", &answer(&challenge, "secret", nc), passwords);
    assert_eq!(v(&mut auth, 1), authenticated());
    assert_eq!(v(&mut auth, 1), replay);
    assert_eq!(v(&mut auth, 2), authenticated());
    assert_eq!(v(&mut auth, 1), replay);
    assert_eq!(v(&mut auth, 5), authenticated());
    assert_eq!(v(&mut auth, 5), replay);
    assert_eq!(v(&mut auth, 0), replay);
}

#[test]
fn rfc2069_credentials_without_qop_are_accepted() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let challenge = auth.challenge(t0, false).remove(1);
    let legacy = challenge.replace(", qop=\"auth\"", "");
    let creds = answer(&legacy, "secret", 1);
    assert!(!creds.contains("qop"));
    assert_eq!(auth.verify(t0, "REGISTER", &creds, passwords), authenticated());
}

#[test]
fn header_problems_are_named() {
    let t0 = Instant::now();
    let mut auth = DigestAuthenticator::new(
        DigestConfig {
            algorithms: vec![DigestAlgorithm::Sha256],
            ..DigestConfig::new("example.com")
        },
        t0,
    );
    let challenge = auth.challenge(t0, false).remove(0);
    let good = answer(&challenge, "secret", 1);
    let mut check = |value: &str| auth.verify(t0, "REGISTER", value, passwords);
    assert_eq!(
        check("Basic MTAwMTpzZWNyZXQ="),
        AuthOutcome::Rejected(AuthRejection::NotDigest)
    );
    assert!(matches!(
        check("Digest username=\"1001\""),
        AuthOutcome::Rejected(AuthRejection::BadHeader(_))
    ));
    assert!(matches!(
        check(&good.replace("realm=\"example.com\"", "realm=\"evil.com\"")),
        AuthOutcome::Rejected(AuthRejection::WrongRealm(_))
    ));
    assert!(matches!(
        check(&good.replace("algorithm=SHA-256", "algorithm=MD5")),
        AuthOutcome::Rejected(AuthRejection::UnsupportedAlgorithm(_))
    ));
    assert!(matches!(
        check(&good.replace("algorithm=SHA-256", "algorithm=SHA-256-sess")),
        AuthOutcome::Rejected(AuthRejection::UnsupportedAlgorithm(_))
    ));
    assert!(matches!(
        check(&good.replace("qop=auth", "qop=auth-int")),
        AuthOutcome::Rejected(AuthRejection::UnsupportedQop(_))
    ));
    assert!(matches!(
        check(&good.replace("nc=00000001", "nc=1")),
        AuthOutcome::Rejected(AuthRejection::BadHeader(_))
    ));
    assert!(matches!(
        check(&format!("{good}, userhash=true")),
        AuthOutcome::Rejected(AuthRejection::BadHeader(_))
    ));
    assert!(matches!(
        check(&format!("{good}, nc=00000002")),
        AuthOutcome::Rejected(AuthRejection::BadHeader(_))
    ));
    // None of that burnt the nonce.
    assert_eq!(check(&good), authenticated());
}

#[test]
fn purge_and_poll_timeout_follow_nonce_lifetimes() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let lifetime = auth.config().nonce_lifetime;
    assert_eq!(auth.poll_timeout(), None);
    auth.challenge(t0, false);
    auth.challenge(t0 + Duration::from_secs(10), false);
    assert_eq!(auth.tracked_nonces(), 2);
    assert_eq!(auth.poll_timeout(), Some(t0 + lifetime));
    auth.purge(t0 + lifetime - Duration::from_millis(1));
    assert_eq!(auth.tracked_nonces(), 2);
    auth.purge(t0 + lifetime);
    assert_eq!(auth.tracked_nonces(), 1);
    assert_eq!(auth.poll_timeout(), Some(t0 + Duration::from_secs(10) + lifetime));
    auth.purge(t0 + Duration::from_secs(10) + lifetime);
    assert_eq!(auth.poll_timeout(), None);
}

#[test]
fn tracked_nonces_are_bounded_and_evicted_ones_are_stale() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let first = auth.challenge(t0, false).remove(0);
    for _ in 0..MAX_TRACKED_NONCES {
        auth.challenge(t0, false);
    }
    assert_eq!(auth.tracked_nonces(), MAX_TRACKED_NONCES);
    let creds = answer(&first, "secret", 1);
    assert_eq!(auth.verify(t0, "REGISTER", &creds, passwords), AuthOutcome::Stale);
}

#[test]
fn garbage_never_panics() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    for garbage in [
        "",
        "Digest",
        "Digest ,,,,",
        "Digest \"",
        "Digest a=\"\\",
        "Digest username=\"é\", realm=\"example.com\", nonce=\"ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé\", uri=\"x\", response=\"\"",
        "\u{0}\u{ffff}",
    ] {
        assert!(matches!(
            auth.verify(t0, "REGISTER", garbage, passwords),
            AuthOutcome::Rejected(_) | AuthOutcome::Stale
        ));
    }
}

proptest! {
    #[test]
    fn random_headers_never_panic(s in "\\PC{0,200}") {
        let t0 = Instant::now();
        let mut auth = authenticator(t0);
        let _ = auth.verify(t0, "REGISTER", &s, passwords);
        let _ = client_response(&s, "u", "p", "INVITE", "sip:x", 1, "c");
    }

    #[test]
    fn random_digest_params_never_panic(s in "[a-z=\", \\\\é0-9]{0,120}") {
        let t0 = Instant::now();
        let mut auth = authenticator(t0);
        let value = format!("Digest username=\"1001\", {s}");
        let outcome = auth.verify(t0, "REGISTER", &value, passwords);
        let ok = matches!(outcome, AuthOutcome::Authenticated { .. });
        prop_assert!(!ok, "authenticated by garbage");
    }
}
