//! RFC 3264 offer/answer as a media-anchoring B2BUA does it.

use std::net::{IpAddr, SocketAddr};

use super::tests_parse::{parse, BARESIP, CHROME, LINPHONE, SIPP};
use super::*;

const LOCAL: [u8; 4] = [203, 0, 113, 5];

fn local_ip() -> IpAddr {
    LOCAL.into()
}

fn sock(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

/// An offer from 192.0.2.10 port 4000 with the given `m=` format list and extra media lines.
fn offer_with(formats: &str, extra: &str) -> Session {
    parse(&format!(
        "v=0\no=peer 1 1 IN IP4 192.0.2.10\ns=-\nc=IN IP4 192.0.2.10\nt=0 0\nm=audio 4000 RTP/AVP {formats}\n{extra}"
    ))
}

fn answer_ok(offer: &Session) -> (Session, Negotiated) {
    answer_caps(offer, &LocalCapabilities::default())
}

fn answer_caps(offer: &Session, caps: &LocalCapabilities) -> (Session, Negotiated) {
    match answer(offer, caps, local_ip(), 30000, &LocalOrigin::new(42)) {
        Ok(a) => a,
        Err(e) => panic!("no answer: {e}"),
    }
}

#[test]
fn pcmu_only_offer_from_sipp() {
    let (sdp, n) = answer_ok(&parse(SIPP));
    assert_eq!(n.codec.encoding, "PCMU");
    assert_eq!(
        (n.codec.payload_type, n.codec.clock_rate, n.codec.channels),
        (0, 8000, 1)
    );
    assert_eq!(n.telephone_event_pt, None);
    assert_eq!(n.remote_rtp, sock([127, 0, 0, 1], 6000));
    assert_eq!(n.remote_rtcp, Some(sock([127, 0, 0, 1], 6001)));
    assert_eq!((n.direction, n.ptime_ms, n.rtcp_mux), (Direction::SendRecv, 20, false));
    let text = sdp.to_string();
    assert_eq!(
        text,
        "v=0\r\no=switchboard 42 42 IN IP4 203.0.113.5\r\ns=switchboard\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n\
         m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    );
}

#[test]
fn offerer_order_wins_pcma_before_pcmu() {
    let offer = offer_with("8 0", "");
    let (sdp, n) = answer_ok(&offer);
    assert_eq!((n.codec.encoding.as_str(), n.codec.payload_type), ("PCMA", 8));
    assert_eq!(sdp.media[0].formats, ["8"]);

    let caps = LocalCapabilities {
        single_codec: false,
        ..LocalCapabilities::default()
    };
    let (sdp, n) = answer_caps(&offer, &caps);
    assert_eq!(n.codec.payload_type, 8);
    assert_eq!(sdp.media[0].formats, ["8", "0"]);
}

#[test]
fn dynamic_payload_types_of_the_offer_are_kept() {
    let offer = offer_with(
        "111 0 101",
        "a=rtpmap:111 opus/48000/2\na=fmtp:111 stereo=0;maxaveragebitrate=24000\n\
         a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n",
    );
    let (sdp, n) = answer_ok(&offer);
    assert_eq!(
        (n.codec.encoding.as_str(), n.codec.payload_type, n.codec.clock_rate),
        ("opus", 111, 48000)
    );
    assert_eq!(n.codec.channels, 2);
    assert_eq!(n.codec.fmtp.as_deref(), Some("stereo=0;maxaveragebitrate=24000"));
    assert_eq!(n.telephone_event_pt, Some(101));
    let m = &sdp.media[0];
    assert_eq!(m.formats, ["111", "101"]);
    assert!(m.rtpmap(111).is_some_and(|r| r.is("opus", 48000, 2)));
    assert_eq!(m.fmtp(111), Some("minptime=10;useinbandfec=1"));
    // Events both sides know: theirs 0-15, ours 0-16.
    assert_eq!(m.fmtp(101), Some("0-15"));

    // Other numbers for the same codecs are kept too.
    let offer = offer_with(
        "96 100",
        "a=rtpmap:96 OPUS/48000/2\na=rtpmap:100 telephone-event/8000\n",
    );
    let (sdp, n) = answer_ok(&offer);
    assert_eq!((n.codec.payload_type, n.telephone_event_pt), (96, Some(100)));
    assert_eq!(sdp.media[0].formats, ["96", "100"]);
    // No fmtp in the offer means events 0-15 (RFC 4733 §2.4.1).
    assert_eq!(sdp.media[0].fmtp(100), Some("0-15"));
}

#[test]
fn telephone_event_at_the_audio_clock_rate_is_preferred() {
    let offer = offer_with(
        "0 101 100",
        "a=rtpmap:101 telephone-event/16000\na=rtpmap:100 telephone-event/8000\na=fmtp:100 0-11,16\n",
    );
    let (sdp, n) = answer_ok(&offer);
    assert_eq!(n.telephone_event_pt, Some(100));
    assert_eq!(sdp.media[0].fmtp(100), Some("0-11,16"));
    // Events we do not know: no telephone-event in the answer.
    let (_, n) = answer_ok(&offer_with(
        "0 100",
        "a=rtpmap:100 telephone-event/8000\na=fmtp:100 32-40\n",
    ));
    assert_eq!(n.telephone_event_pt, None);
}

#[test]
fn no_common_codec_is_an_error_for_488() {
    let offer = offer_with("18 97", "a=rtpmap:97 speex/16000\n");
    let err = answer(
        &offer,
        &LocalCapabilities::default(),
        local_ip(),
        30000,
        &LocalOrigin::new(1),
    );
    assert_eq!(err, Err(SdpError::NoCommonCodec));
    // telephone-event alone is no codec.
    let offer = offer_with("101", "a=rtpmap:101 telephone-event/8000\n");
    let err = answer(
        &offer,
        &LocalCapabilities::default(),
        local_ip(),
        30000,
        &LocalOrigin::new(1),
    );
    assert_eq!(err, Err(SdpError::NoCommonCodec));
    // WebRTC's secure profile is not plain RTP: no audio stream we can take.
    let err = answer(
        &parse(CHROME),
        &LocalCapabilities::default(),
        local_ip(),
        30000,
        &LocalOrigin::new(1),
    );
    assert_eq!(err, Err(SdpError::NoAudio));
}

#[test]
fn video_is_refused_with_port_zero_keeping_the_lines() {
    let (sdp, n) = answer_ok(&parse(LINPHONE));
    assert_eq!(sdp.media.len(), 2);
    assert_eq!((sdp.media[1].kind.as_str(), sdp.media[1].port), ("video", 0));
    assert_eq!(sdp.media[1].formats, ["96", "97"]);
    assert!(sdp.media[1].attributes.is_empty());
    assert_eq!(
        (n.media_index, n.codec.encoding.as_str(), n.codec.payload_type),
        (0, "opus", 96)
    );
    // Linphone offers telephone-event at 48, 16 and 8 kHz; we have 8 kHz.
    assert_eq!(n.telephone_event_pt, Some(100));

    // Video first: the audio stream is the second line, video still refused in place.
    let offer = parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=video 5000 RTP/AVP 96\na=rtpmap:96 VP8/90000\nm=audio 5002 RTP/AVP 0\nm=audio 5004 RTP/AVP 8\n",
    );
    let (sdp, n) = answer_ok(&offer);
    assert_eq!(sdp.media.iter().map(|m| m.port).collect::<Vec<_>>(), [0, 30000, 0]);
    assert_eq!((n.media_index, n.remote_rtp), (1, sock([192, 0, 2, 1], 5002)));
    assert_eq!(parse(&sdp.to_string()), sdp);
}

#[test]
fn directions_are_mirrored() {
    let cases = [
        ("a=sendrecv\n", Direction::SendRecv),
        ("a=sendonly\n", Direction::RecvOnly),
        ("a=recvonly\n", Direction::SendOnly),
        ("a=inactive\n", Direction::Inactive),
    ];
    for (attr, want) in cases {
        let (sdp, n) = answer_ok(&offer_with("0", attr));
        assert_eq!(n.direction, want, "{attr}");
        assert_eq!(sdp.media[0].direction_attr(), Some(want));
    }
    // We hold the peer: our answer to sendrecv is sendonly, to sendonly inactive.
    for (attr, want) in [("", Direction::SendOnly), ("a=sendonly\n", Direction::Inactive)] {
        let offer = offer_with("0", attr);
        let origin = LocalOrigin::new(1);
        let (_, n) = answer_with_direction(
            &offer,
            &LocalCapabilities::default(),
            local_ip(),
            1,
            &origin,
            Direction::SendOnly,
        )
        .expect("answer");
        assert_eq!(n.direction, want);
    }
}

#[test]
fn legacy_hold_with_zero_address_is_sendonly() {
    let offer = parse("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 0.0.0.0\nt=0 0\nm=audio 4000 RTP/AVP 0\n");
    let (sdp, n) = answer_ok(&offer);
    assert_eq!(n.direction, Direction::RecvOnly);
    assert_eq!(sdp.media[0].direction_attr(), Some(Direction::RecvOnly));
    assert!(!n.direction.sends());
    assert_eq!(n.remote_rtp, sock([0, 0, 0, 0], 4000));
    // recvonly plus 0.0.0.0 leaves nothing.
    let offer =
        parse("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\nc=IN IP4 0.0.0.0\na=recvonly\n");
    assert_eq!(answer_ok(&offer).1.direction, Direction::Inactive);
}

#[test]
fn ptime_is_answered_and_reported() {
    let (sdp, n) = answer_ok(&offer_with("0", "a=ptime:30\n"));
    assert_eq!(n.ptime_ms, 30);
    assert_eq!(sdp.media[0].ptime(), Some(20));
    let caps = LocalCapabilities {
        ptime: 40,
        ..LocalCapabilities::default()
    };
    let (sdp, n) = answer_caps(&offer_with("0", ""), &caps);
    assert_eq!((n.ptime_ms, sdp.media[0].ptime()), (40, Some(40)));
}

#[test]
fn rtcp_address_and_mux() {
    let (sdp, n) = answer_ok(&offer_with("0", "a=rtcp:53020 IN IP4 198.51.100.4\n"));
    assert_eq!(n.remote_rtcp, Some(sock([198, 51, 100, 4], 53020)));
    assert!(!sdp.media[0].rtcp_mux());
    let (_, n) = answer_ok(&offer_with("0", "a=rtcp:53020\n"));
    assert_eq!(n.remote_rtcp, Some(sock([192, 0, 2, 10], 53020)));

    let (sdp, n) = answer_ok(&offer_with("0", "a=rtcp-mux\na=rtcp:4001\n"));
    assert!(n.rtcp_mux && sdp.media[0].rtcp_mux());
    assert_eq!(n.remote_rtcp, Some(n.remote_rtp));
    let caps = LocalCapabilities {
        rtcp_mux: false,
        ..LocalCapabilities::default()
    };
    let (sdp, n) = answer_caps(&offer_with("0", "a=rtcp-mux\n"), &caps);
    assert!(!n.rtcp_mux && !sdp.media[0].rtcp_mux());
    assert_eq!(n.remote_rtcp, Some(sock([192, 0, 2, 10], 4001)));
}

#[test]
fn media_connection_beats_session_connection() {
    let (_, n) = answer_ok(&offer_with("0", "c=IN IP4 198.51.100.7\n"));
    assert_eq!(n.remote_rtp, sock([198, 51, 100, 7], 4000));
    let offer = parse("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n");
    assert_eq!(
        answer(
            &offer,
            &LocalCapabilities::default(),
            local_ip(),
            1,
            &LocalOrigin::new(1)
        ),
        Err(SdpError::NoConnection { index: 0 })
    );
    let offer = parse("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 pbx.example.com\nt=0 0\nm=audio 4000 RTP/AVP 0\n");
    assert!(matches!(
        answer(
            &offer,
            &LocalCapabilities::default(),
            local_ip(),
            1,
            &LocalOrigin::new(1)
        ),
        Err(SdpError::UnresolvedAddress { index: 0, .. })
    ));
}

#[test]
fn baresip_offer_gets_opus_with_its_numbers() {
    let (sdp, n) = answer_ok(&parse(BARESIP));
    assert_eq!(
        (n.codec.encoding.as_str(), n.codec.payload_type, n.telephone_event_pt),
        ("opus", 96, Some(101))
    );
    assert_eq!(n.remote_rtp, sock([192, 168, 1, 23], 10312));
    assert_eq!(sdp.media[0].formats, ["96", "101"]);
}

fn our_offer() -> Session {
    offer(
        &LocalCapabilities::default(),
        local_ip(),
        30000,
        Direction::SendRecv,
        &LocalOrigin::new(77),
    )
}

#[test]
fn our_offer_lists_every_codec() {
    let sdp = our_offer();
    let text = sdp.to_string();
    assert_eq!(
        text,
        "v=0\r\no=switchboard 77 77 IN IP4 203.0.113.5\r\ns=switchboard\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n\
         m=audio 30000 RTP/AVP 0 8 111 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=rtcp-mux\r\na=sendrecv\r\n"
    );
    assert_eq!(parse(&text), sdp);
    let mut origin = LocalOrigin::new(77);
    assert_eq!(origin.bump(), 78);
    let again = offer(
        &LocalCapabilities::default(),
        local_ip(),
        30000,
        Direction::SendRecv,
        &origin,
    );
    assert_eq!(again.origin.session_version, 78);
    assert_eq!(again.origin.session_id, "77");
}

#[test]
fn hold_and_resume_reoffers_bump_the_version() {
    let first = our_offer();
    let held = hold(&first, Direction::SendRecv);
    assert_eq!(held.origin.session_version, first.origin.session_version + 1);
    assert_eq!(held.origin.session_id, first.origin.session_id);
    assert_eq!(held.direction(0), Direction::SendOnly);
    assert_eq!(held.media[0].formats, first.media[0].formats);
    // Already held by the peer: hold makes it inactive.
    assert_eq!(hold(&first, Direction::RecvOnly).direction(0), Direction::Inactive);
    let resumed = resume(&held);
    assert_eq!(resumed.origin.session_version, first.origin.session_version + 2);
    assert_eq!(resumed.direction(0), Direction::SendRecv);
    assert_eq!(reoffer(&resumed, Direction::Inactive).direction(0), Direction::Inactive);
}

#[test]
fn process_answer_accepts_a_subset_and_uses_the_answerers_numbers() {
    let ours = our_offer();
    // The agent's phone answers opus with its own numbers and telephone-event.
    let theirs = parse(
        "v=0\no=agent 5 5 IN IP4 192.0.2.50\ns=-\nc=IN IP4 192.0.2.50\nt=0 0\n\
         m=audio 7078 RTP/AVP 96 100\na=rtpmap:96 opus/48000/2\na=fmtp:96 useinbandfec=1\n\
         a=rtpmap:100 telephone-event/8000\na=ptime:20\na=rtcp-mux\n",
    );
    let n = process_answer(&ours, &theirs).expect("answer accepted");
    assert_eq!((n.codec.encoding.as_str(), n.codec.payload_type), ("opus", 96));
    assert_eq!(n.codec.fmtp.as_deref(), Some("useinbandfec=1"));
    assert_eq!(n.telephone_event_pt, Some(100));
    assert_eq!(n.remote_rtp, sock([192, 0, 2, 50], 7078));
    assert!(n.rtcp_mux);
    assert_eq!(n.direction, Direction::SendRecv);

    // Our own answerer, as a peer, agrees with itself.
    let (ans, from_answerer) = answer_ok(&ours);
    let from_offerer = process_answer(&ours, &ans).expect("own answer");
    assert_eq!(from_offerer.codec.payload_type, from_answerer.codec.payload_type);
    assert_eq!(from_offerer.remote_rtp, sock(LOCAL, 30000));
}

#[test]
fn process_answer_rejects_what_we_did_not_offer() {
    let ours = our_offer();
    let foreign = parse("v=0\no=- 5 5 IN IP4 192.0.2.50\ns=-\nc=IN IP4 192.0.2.50\nt=0 0\nm=audio 7078 RTP/AVP 18\n");
    assert_eq!(
        process_answer(&ours, &foreign),
        Err(SdpError::AnswerNotSubset { pt: 18 })
    );
    let two_lines = parse(
        "v=0\no=- 5 5 IN IP4 192.0.2.50\ns=-\nc=IN IP4 192.0.2.50\nt=0 0\nm=audio 7078 RTP/AVP 0\nm=audio 0 RTP/AVP 0\n",
    );
    assert_eq!(process_answer(&ours, &two_lines), Err(SdpError::AnswerMismatch));
    let refused = parse("v=0\no=- 5 5 IN IP4 192.0.2.50\ns=-\nc=IN IP4 192.0.2.50\nt=0 0\nm=audio 0 RTP/AVP 0\n");
    assert_eq!(process_answer(&ours, &refused), Err(SdpError::NoCommonCodec));
}

#[test]
fn process_answer_direction_for_our_hold() {
    let held = hold(&our_offer(), Direction::SendRecv);
    let theirs =
        parse("v=0\no=- 5 6 IN IP4 192.0.2.50\ns=-\nc=IN IP4 192.0.2.50\nt=0 0\nm=audio 7078 RTP/AVP 0\na=recvonly\n");
    let n = process_answer(&held, &theirs).expect("hold answered");
    assert_eq!(n.direction, Direction::SendOnly);
    // An answer that says sendrecv to our sendonly still leaves us sending only.
    let sloppy = parse("v=0\no=- 5 6 IN IP4 192.0.2.50\ns=-\nc=IN IP4 192.0.2.50\nt=0 0\nm=audio 7078 RTP/AVP 0\n");
    assert_eq!(
        process_answer(&held, &sloppy).map(|n| n.direction),
        Ok(Direction::SendOnly)
    );
}
