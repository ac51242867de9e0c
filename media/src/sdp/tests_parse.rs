//! Parsing and writing: real-world descriptions round-trip, garbage never panics.

use proptest::prelude::*;

use super::*;

pub(crate) const SIPP: &str = include_str!("fixtures/sipp_uac.sdp");
pub(crate) const BARESIP: &str = include_str!("fixtures/baresip.sdp");
pub(crate) const LINPHONE: &str = include_str!("fixtures/linphone.sdp");
pub(crate) const CHROME: &str = include_str!("fixtures/chrome_webrtc.sdp");

/// A fixture as it travels: CRLF line ends.
pub(crate) fn crlf(fixture: &str) -> String {
    fixture.replace('\n', "\r\n")
}

pub(crate) fn parse(text: &str) -> Session {
    match Session::parse(text) {
        Ok(s) => s,
        Err(e) => panic!("fixture does not parse: {e}\n{text}"),
    }
}

#[test]
fn fixtures_round_trip_byte_for_byte() {
    for fixture in [SIPP, BARESIP, LINPHONE, CHROME] {
        let wire = crlf(fixture);
        let session = parse(&wire);
        assert_eq!(session.to_string(), wire);
        // LF-only input reads the same.
        assert_eq!(parse(fixture), session);
    }
}

#[test]
fn sipp_fields() {
    let s = parse(SIPP);
    assert_eq!(s.origin.username, "user1");
    assert_eq!(s.origin.session_id, "53655765");
    assert_eq!(s.origin.session_version, 2353687637);
    assert_eq!(
        s.connection.as_ref().and_then(Connection::ip),
        Some([127, 0, 0, 1].into())
    );
    assert_eq!(s.media.len(), 1);
    let m = &s.media[0];
    assert_eq!((m.kind.as_str(), m.port, m.proto.as_str()), ("audio", 6000, "RTP/AVP"));
    assert_eq!(m.payload_types().collect::<Vec<_>>(), vec![0]);
    assert_eq!(s.direction(0), Direction::SendRecv);
}

#[test]
fn baresip_typed_and_verbatim_attributes() {
    let s = parse(BARESIP);
    let m = &s.media[0];
    let opus = m.rtpmap(96).expect("rtpmap 96");
    assert!(opus.is("OPUS", 48000, 2));
    assert_eq!(m.fmtp(96), Some("stereo=1;sprop-stereo=1"));
    assert_eq!(m.fmtp(101), Some("0-15"));
    assert_eq!(m.ptime(), Some(20));
    assert_eq!(m.direction_attr(), Some(Direction::SendRecv));
    assert!(m.attributes.iter().any(|a| a.other_value("label") == Some("1")));
    assert_eq!(
        m.other_lines,
        vec![Line {
            kind: 'b',
            value: "AS:128".into()
        }]
    );
    assert!(s
        .attributes
        .iter()
        .any(|a| a.other_value("tool") == Some("baresip 1.0.0")));
}

#[test]
fn static_payload_types_need_no_rtpmap() {
    let s = parse("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 8 18\n");
    let m = &s.media[0];
    assert!(m.rtpmap(8).is_some_and(|r| r.is("PCMA", 8000, 1)));
    assert!(m.rtpmap(18).is_some_and(|r| r.is("G729", 8000, 1)));
    assert_eq!(m.rtpmap(96), None);
}

#[test]
fn chrome_webrtc_attributes_pass_through() {
    let s = parse(CHROME);
    let m = &s.media[0];
    assert_eq!(m.proto, "UDP/TLS/RTP/SAVPF");
    assert_eq!(s.connection, None);
    assert!(m.connection.as_ref().is_some_and(Connection::is_unspecified));
    for name in [
        "ice-ufrag",
        "ice-pwd",
        "fingerprint",
        "setup",
        "mid",
        "candidate",
        "ssrc",
        "extmap",
    ] {
        assert!(m.attributes.iter().any(|a| a.name() == name), "{name} kept");
    }
    assert!(m.rtcp_mux());
    let rtcp = m.rtcp().expect("a=rtcp");
    assert_eq!(rtcp.port, 9);
    assert_eq!(rtcp.connection.as_ref().map(|c| c.address.as_str()), Some("0.0.0.0"));
    assert!(s.attributes.iter().any(|a| a.other_value("group") == Some("BUNDLE 0")));
}

#[test]
fn linphone_two_streams_and_session_attributes() {
    let s = parse(LINPHONE);
    assert_eq!(s.name, "Talk");
    assert_eq!(
        s.media.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(),
        ["audio", "video"]
    );
    assert_eq!(s.media[0].formats.len(), 9);
    assert!(s.media[0]
        .rtpmap(101)
        .is_some_and(|r| r.is("telephone-event", 48000, 1)));
    assert_eq!(s.media[0].fmtp(18), Some("annexb=yes"));
}

#[test]
fn odd_but_readable_lines_are_tolerated() {
    // No s= or t=, a bad ptime, an unknown line type, an rtcp with address, a port count.
    let text = "v=0\r\no=- 7 8 IN IP6 ::1\r\nx=whatever\r\nm=audio 5004/2 RTP/AVP 0\r\nc=IN IP6 ::1\r\n\
                a=ptime:abc\r\na=rtcp:5007 IN IP6 ::2\r\na=maxptime:40\r\na=inactive\r\n\r\n";
    let s = parse(text);
    assert_eq!(s.name, "-");
    assert_eq!(s.timing, (0, 0));
    assert_eq!(
        s.other_lines,
        vec![Line {
            kind: 'x',
            value: "whatever".into()
        }]
    );
    let m = &s.media[0];
    assert_eq!((m.port, m.port_count), (5004, Some(2)));
    assert_eq!(m.ptime(), None);
    assert!(m.attributes.contains(&Attribute::Other {
        name: "ptime".into(),
        value: Some("abc".into())
    }));
    assert_eq!(m.maxptime(), Some(40));
    assert_eq!(m.rtcp().map(|r| r.port), Some(5007));
    assert_eq!(s.direction(0), Direction::Inactive);
    assert_eq!(parse(&s.to_string()), s);
}

#[test]
fn session_level_direction_applies_to_media_without_their_own() {
    let text = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 0.0.0.0\nt=0 0\na=recvonly\n\
                m=audio 4000 RTP/AVP 0\nm=audio 4002 RTP/AVP 0\na=sendrecv\n";
    let s = parse(text);
    assert_eq!(s.direction(0), Direction::RecvOnly);
    assert_eq!(s.direction(1), Direction::SendRecv);
    // c=0.0.0.0: the peer receives nothing.
    assert_eq!(s.effective_direction(0), Direction::Inactive);
    assert_eq!(s.effective_direction(1), Direction::SendOnly);
}

#[test]
fn broken_required_lines_are_typed_errors() {
    let cases: &[(&str, SdpError)] = &[
        ("", SdpError::Missing('v')),
        ("o=- 1 1 IN IP4 1.2.3.4\n", SdpError::Missing('v')),
        (
            "v=1\n",
            SdpError::Malformed {
                line: 1,
                reason: "unsupported SDP version",
            },
        ),
        ("v=0\ns=x\n", SdpError::Missing('o')),
        (
            "v=0\no=- 1 x IN IP4 1.2.3.4\n",
            SdpError::Malformed {
                line: 2,
                reason: "bad o= line",
            },
        ),
        (
            "v=0\no=- 1 1 IN IP4 1.2.3.4\nc=IN IP4\n",
            SdpError::Malformed {
                line: 3,
                reason: "bad c= line",
            },
        ),
        (
            "v=0\no=- 1 1 IN IP4 1.2.3.4\nm=audio 70000 RTP/AVP 0\n",
            SdpError::Malformed {
                line: 3,
                reason: "bad m= line",
            },
        ),
        (
            "v=0\nhello\n",
            SdpError::Malformed {
                line: 2,
                reason: "not a <type>=<value> line",
            },
        ),
        (
            "v=0\nA=b\n",
            SdpError::Malformed {
                line: 2,
                reason: "line type is not a lower-case letter",
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(Session::parse(text).as_ref(), Err(want), "{text:?}");
    }
    assert_eq!(Session::from_bytes(b"v=0\n\xff\xfe"), Err(SdpError::NotUtf8));
}

/// Lines that are mostly SDP-shaped, to reach deep into the parser.
fn sdp_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[vosctmabikzeurp]=[ -~]{0,40}",
        "a=(rtpmap|fmtp|ptime|maxptime|rtcp|rtcp-mux|sendonly|recvonly|inactive|sendrecv)(:[ -~]{0,30})?",
        "m=(audio|video) [0-9]{1,6}(/[0-9])? [A-Z/]{3,12}( [0-9]{1,3}){0,4}",
        "c=IN IP[46] [0-9.:/a-f]{0,20}",
        "[ -~]{0,20}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = Session::parse(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Session::from_bytes(&bytes);
    }

    #[test]
    fn sdp_shaped_text_round_trips(lines in proptest::collection::vec(sdp_line(), 0..25), crlf in any::<bool>()) {
        let body = lines.join(if crlf { "\r\n" } else { "\n" });
        let text = format!("v=0\no=- 1 2 IN IP4 192.0.2.1\n{body}");
        if let Ok(session) = Session::parse(&text) {
            let again = Session::parse(&session.to_string());
            prop_assert_eq!(again, Ok(session.clone()));
            let caps = LocalCapabilities::default();
            let origin = LocalOrigin::new(1);
            let _ = answer(&session, &caps, [192, 0, 2, 9].into(), 30000, &origin);
            let _ = process_answer(&session, &session);
        }
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..4,
        cuts in proptest::collection::vec((any::<prop::sample::Index>(), sdp_line()), 0..6),
    ) {
        let fixture = [SIPP, BARESIP, LINPHONE, CHROME][which];
        let mut lines: Vec<String> = fixture.lines().map(str::to_owned).collect();
        for (at, replacement) in cuts {
            let i = at.index(lines.len());
            lines[i] = replacement;
        }
        if let Ok(session) = Session::parse(&lines.join("\r\n")) {
            prop_assert_eq!(Session::parse(&session.to_string()), Ok(session.clone()));
            let _ = answer(&session, &LocalCapabilities::default(), [10, 0, 0, 1].into(), 4000, &LocalOrigin::new(9));
        }
    }
}
