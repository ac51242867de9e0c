//! Tests of the media core with virtual time.
use super::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn config(pt: u8, event: Option<u8>, remote: &str) -> LegConfig {
    LegConfig {
        remote_rtp: Some(addr(remote)),
        remote_rtcp: None,
        rtcp_mux: false,
        payload_type: pt,
        clock_rate: 8000,
        codec: "PCMU".into(),
        telephone_event: event,
        direction: Direction::SENDRECV,
    }
}

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&ts.to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xff; 160]);
    p
}

fn fields(p: &[u8]) -> (u8, u16, u32, u32) {
    let v = RtpPacket::new_checked(p).unwrap();
    (v.payload_type(), v.sequence(), v.timestamp(), v.ssrc())
}

fn bridged() -> (MediaCore, Instant) {
    let now = Instant::now();
    let mut core = MediaCore::new(Duration::from_secs(30), (now, NtpTimestamp(0)));
    core.add_leg(now, 1);
    core.add_leg(now, 2);
    core.configure(now, 1, config(0, Some(101), "10.0.0.1:4000"));
    core.configure(now, 2, config(0, Some(96), "10.0.0.2:5000"));
    core.bridge(now, 1, 2);
    (core, now)
}

#[test]
fn same_codec_relays_in_place_with_a_continuous_outgoing_stream() {
    let (mut core, now) = bridged();
    let mut first = packet(0, 100, 8000, 0xaaaa);
    let fwd = core.handle_rtp(now, 1, addr("192.0.2.1:4000"), &mut first).unwrap();
    assert_eq!(
        fwd,
        Forward {
            leg: 2,
            to: addr("10.0.0.2:5000")
        }
    );
    let (pt, seq0, ts0, ssrc) = fields(&first);
    assert_eq!(pt, 0);
    assert_ne!(ssrc, 0xaaaa, "our SSRC on the outgoing leg");
    assert_eq!(&first[12..], &[0xff; 160][..], "payload untouched");
    let mut next = packet(0, 101, 8160, 0xaaaa);
    core.handle_rtp(now + Duration::from_millis(20), 1, addr("192.0.2.1:4000"), &mut next)
        .unwrap();
    let (_, seq1, ts1, ssrc1) = fields(&next);
    assert_eq!((seq1, ts1.wrapping_sub(ts0), ssrc1), (seq0.wrapping_add(1), 160, ssrc));
    // A new source on the same leg (e.g. the caller's phone restarts its
    // stream) continues the outgoing sequence.
    let mut other = packet(0, 7, 123, 0xbbbb);
    core.handle_rtp(now + Duration::from_millis(40), 1, addr("192.0.2.1:4000"), &mut other)
        .unwrap();
    let (_, seq2, ts2, ssrc2) = fields(&other);
    assert_eq!((seq2, ssrc2), (seq1.wrapping_add(1), ssrc));
    assert_eq!(ts2.wrapping_sub(ts1), 160, "timestamp advanced by the 20 ms elapsed");
}

#[test]
fn telephone_events_are_mapped_to_the_peer_payload_type() {
    let (mut core, now) = bridged();
    let mut event = packet(101, 1, 0, 9);
    core.handle_rtp(now, 1, addr("192.0.2.1:4000"), &mut event).unwrap();
    assert_eq!(fields(&event).0, 96);
}

#[test]
fn bad_packets_are_counted_never_relayed() {
    let (mut core, now) = bridged();
    let from = addr("192.0.2.1:4000");
    assert!(core.handle_rtp(now, 1, from, &mut [0u8; 5]).is_none());
    assert!(
        core.handle_rtp(now, 1, from, &mut packet(18, 1, 0, 9)).is_none(),
        "G.729 not negotiated"
    );
    assert!(core.handle_rtp(now, 1, from, &mut packet(0, 1, 0, 9)).is_some());
    assert!(
        core.handle_rtp(now, 1, addr("203.0.113.66:1"), &mut packet(0, 900, 0, 66))
            .is_none(),
        "hijack"
    );
    assert!(
        core.handle_rtp(now, 99, from, &mut packet(0, 1, 0, 9)).is_none(),
        "unknown leg"
    );
    core.remove_leg(1);
    assert_eq!(
        core.poll_event(),
        Some(MediaEvent::FirstAudio { leg: 1 }),
        "the first good packet of a bridged leg is reported once"
    );
    let Some(MediaEvent::Closed { stats, .. }) = core.poll_event() else {
        panic!()
    };
    assert_eq!(
        (
            stats.received,
            stats.malformed,
            stats.unknown_payload_type,
            stats.rejected_source
        ),
        (1, 1, 1, 1)
    );
}

#[test]
fn the_latched_source_receives_the_peer_media() {
    let (mut core, now) = bridged();
    // Leg 2's phone is behind NAT: its SDP says 10.0.0.2:5000, packets come from elsewhere.
    core.handle_rtp(now, 2, addr("198.51.100.7:31000"), &mut packet(0, 1, 0, 5))
        .unwrap();
    let fwd = core
        .handle_rtp(now, 1, addr("192.0.2.1:4000"), &mut packet(0, 1, 0, 9))
        .unwrap();
    assert_eq!(fwd.to, addr("198.51.100.7:31000"));
}

#[test]
fn hold_stops_the_relay_and_the_inactivity_timer() {
    let (mut core, now) = bridged();
    let mut held = config(0, None, "10.0.0.2:5000");
    held.direction = Direction {
        send: false,
        receive: false,
    };
    core.configure(now, 2, held);
    assert!(core
        .handle_rtp(now, 1, addr("192.0.2.1:4000"), &mut packet(0, 1, 0, 9))
        .is_none());
    core.handle_timeout(now + Duration::from_secs(31));
    while core.poll_transmit().is_some() {} // the RTCP reports due meanwhile
    let events: Vec<_> = std::iter::from_fn(|| core.poll_event()).collect();
    assert_eq!(
        events,
        [MediaEvent::FirstAudio { leg: 1 }, MediaEvent::Inactive { leg: 1 }],
        "leg 2 is on hold, leg 1 went silent"
    );
}

#[test]
fn telephone_events_become_digits_once() {
    let (mut core, now) = bridged();
    let from = addr("192.0.2.1:4000");
    // RFC 4733: digit 5, marker on the first packet, three end packets.
    let event = |seq: u16, end: bool, duration: u16, marker: bool| {
        let mut p = packet(101, seq, 8000, 9);
        p.truncate(12);
        p[1] |= if marker { 0x80 } else { 0 };
        p.extend_from_slice(&[5, if end { 0x80 | 10 } else { 10 }]);
        p.extend_from_slice(&duration.to_be_bytes());
        p
    };
    for (seq, end, duration, marker) in [(1, false, 160, true), (2, false, 320, false), (3, true, 480, false)] {
        core.handle_rtp(now, 1, from, &mut event(seq, end, duration, marker));
    }
    for _ in 0..2 {
        core.handle_rtp(now, 1, from, &mut event(3, true, 480, false));
    }
    let digits: Vec<_> = std::iter::from_fn(|| core.poll_event()).collect();
    assert_eq!(digits, [MediaEvent::Digit { leg: 1, digit: '5' }]);
}

#[test]
fn each_leg_reports_and_reads_rtcp() {
    let (mut core, now) = bridged();
    core.handle_rtp(now, 1, addr("192.0.2.1:4000"), &mut packet(0, 1, 0, 9))
        .unwrap();
    core.handle_timeout(now + Duration::from_secs(8));
    let reports: Vec<_> = std::iter::from_fn(|| core.poll_transmit()).collect();
    let to_caller = reports.iter().find(|t| t.leg == 1).expect("leg 1 reports");
    assert_eq!(to_caller.to, addr("192.0.2.1:4001"), "RTP source port + 1");
    assert!(to_caller.rtcp);
    assert_eq!(to_caller.payload[1], 201, "a receiver report: leg 1 has sent nothing");
    let to_agent = reports.iter().find(|t| t.leg == 2).expect("leg 2 reports");
    assert_eq!(to_agent.payload[1], 200, "a sender report: leg 2 relayed a packet");
    // A report from the agent's phone about our stream gives the RTT.
    let sr = &to_agent.payload;
    let our_ssrc = u32::from_be_bytes([sr[4], sr[5], sr[6], sr[7]]);
    let lsr = (u64::from_be_bytes(sr[8..16].try_into().unwrap()) >> 16) as u32;
    let block = crate::rtp::rtcp::ReportBlock {
        ssrc: our_ssrc,
        fraction_lost: 0,
        cumulative_lost: 0,
        highest_seq: 1,
        jitter: 0,
        lsr,
        dlsr: 65536 / 10, // held 100 ms
    };
    let mut rr = Vec::new();
    crate::rtp::rtcp::emit_receiver_report(77, &[block], &mut rr).unwrap();
    let sent_at = now + Duration::from_secs(8);
    core.handle_rtcp(sent_at + Duration::from_millis(150), 2, addr("10.0.0.2:5001"), &rr);
    core.remove_leg(2);
    let closed = std::iter::from_fn(|| core.poll_event()).find_map(|e| match e {
        MediaEvent::Closed { leg: 2, quality, .. } => Some(quality),
        _ => None,
    });
    let rtt = closed.unwrap().rtt_ms.expect("RTT measured");
    assert!(
        (49.0..=51.0).contains(&rtt),
        "150 ms after the SR less 100 ms held: {rtt}"
    );
}

#[test]
fn legs_with_different_codecs_are_transcoded_on_the_tick() {
    let (mut core, now) = bridged();
    let mut alaw = config(8, Some(96), "10.0.0.2:5000");
    alaw.codec = "PCMA".into();
    core.configure(now, 2, alaw);
    let from = addr("192.0.2.1:4000");
    let mut sent = Vec::new();
    for i in 0..20u16 {
        let at = now + FRAME * u32::from(i);
        let mut p = packet(0, 100 + i, 8000 + 160 * u32::from(i), 9);
        assert!(core.handle_rtp(at, 1, from, &mut p).is_none(), "decoded, not relayed");
        core.handle_timeout(at);
        sent.extend(std::iter::from_fn(|| core.poll_transmit()).filter(|t| !t.rtcp && t.leg == 2));
    }
    core.handle_timeout(now + Duration::from_millis(600));
    sent.extend(std::iter::from_fn(|| core.poll_transmit()).filter(|t| !t.rtcp && t.leg == 2));
    assert!(sent.len() >= 10, "transcoded frames go out every 20 ms: {}", sent.len());
    let first = RtpPacket::new_checked(&sent[0].payload).unwrap();
    assert_eq!((first.payload_type(), first.payload().len()), (8, 160), "PCMA, 20 ms");
    // μ-law 0xff (silence) is A-law 0xd5.
    assert!(first.payload().iter().all(|&b| b == 0xd5));
    let seqs: Vec<u16> = sent
        .iter()
        .map(|t| RtpPacket::new_checked(&t.payload).unwrap().sequence())
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
}

#[test]
fn a_playlist_plays_to_the_phone_and_a_digit_stops_it() {
    use crate::player::{Item, Playlist, ToneKind, TonePlan};
    let (mut core, now) = bridged();
    let ringback = TonePlan::Europe.tone(ToneKind::Ringback);
    let playlist = Playlist::new(8000)
        .unwrap()
        .with(Item::tone(ringback, Some(10_000)).interruptible(true));
    core.play(now, 1, playlist.unwrap()).unwrap();
    for i in 1..=5 {
        core.handle_timeout(now + FRAME * i);
    }
    let frames: Vec<_> = std::iter::from_fn(|| core.poll_transmit())
        .filter(|t| !t.rtcp)
        .collect();
    assert_eq!(frames.len(), 5);
    assert!(frames.iter().all(|t| t.leg == 1 && t.to == addr("10.0.0.1:4000")));
    // While the prompt plays, the agent's audio does not reach the caller.
    let mut from_agent = packet(0, 1, 0, 5);
    assert!(core
        .handle_rtp(now, 2, addr("10.0.0.2:5000"), &mut from_agent)
        .is_none());
    // Barge-in: the caller presses 3.
    let mut digit = packet(101, 7, 800, 9);
    digit.truncate(12);
    digit.extend_from_slice(&[3, 10, 0, 160]);
    core.handle_rtp(now + FRAME * 5, 1, addr("192.0.2.1:4000"), &mut digit);
    core.handle_timeout(now + FRAME * 6);
    let events: Vec<_> = std::iter::from_fn(|| core.poll_event()).collect();
    assert_eq!(
        events,
        [
            MediaEvent::FirstAudio { leg: 2 },
            MediaEvent::Digit { leg: 1, digit: '3' },
            MediaEvent::PlaybackFinished {
                leg: 1,
                interrupted: true
            }
        ]
    );
}

#[test]
fn digits_are_sent_as_rfc4733_events_on_the_leg_stream() {
    let (mut core, now) = bridged();
    // Leg 2's stream carries relayed audio first.
    core.handle_rtp(now, 1, addr("192.0.2.1:4000"), &mut packet(0, 1, 0, 9))
        .unwrap();
    assert!(core.send_digit(now, 2, '7', Duration::from_millis(100)));
    let mut sent = Vec::new();
    for i in 0..20 {
        core.handle_timeout(now + FRAME * i);
        sent.extend(std::iter::from_fn(|| core.poll_transmit()).filter(|t| !t.rtcp));
    }
    assert!(sent.iter().all(|t| t.leg == 2 && t.to == addr("10.0.0.2:5000")));
    let views: Vec<_> = sent
        .iter()
        .map(|t| RtpPacket::new_checked(&t.payload).unwrap())
        .collect();
    assert!(
        views.iter().all(|p| p.payload_type() == 96),
        "leg 2's telephone-event type"
    );
    assert!(views[0].marker() && views[1..].iter().all(|p| !p.marker()));
    assert!(
        views.iter().all(|p| p.timestamp() == views[0].timestamp()),
        "one event, one timestamp"
    );
    assert!(views.iter().all(|p| p.payload()[0] == 7));
    let ends = views.iter().filter(|p| p.payload()[1] & 0x80 != 0).count();
    assert_eq!(ends, 3, "three end packets");
    let seqs: Vec<u16> = views.iter().map(|p| p.sequence()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "continuing the stream: {seqs:?}"
    );
    assert!(!core.send_digit(now, 99, '1', Duration::from_millis(100)));
}

#[test]
fn a_recorded_leg_yields_its_decoded_audio_until_its_length_runs_out() {
    let (mut core, now) = bridged();
    assert!(core.record(now, 1, Duration::from_secs(1)));
    let mut p = packet(0, 1, 0, 9);
    p[12..].fill(0x80); // μ-law 0x80: a loud sample
    core.handle_rtp(now, 1, addr("192.0.2.1:4000"), &mut p);
    let (leg, pcm) = core.poll_recorded().expect("a frame");
    assert_eq!((leg, pcm.len()), (1, 160));
    assert!(pcm.iter().all(|&s| s.unsigned_abs() > 30_000));
    core.handle_timeout(now + Duration::from_secs(1));
    let events: Vec<_> = std::iter::from_fn(|| core.poll_event()).collect();
    assert!(events.contains(&MediaEvent::RecordingFinished { leg: 1 }), "{events:?}");
    core.handle_rtp(
        now + Duration::from_secs(2),
        1,
        addr("192.0.2.1:4000"),
        &mut packet(0, 2, 160, 9),
    );
    assert!(core.poll_recorded().is_none(), "no audio after the end");
}

/// A menu's prompt cut short by a key, then the next prompt (the welcome the
/// key chose) asked for before the old 20 ms tick came due: the next prompt
/// plays at one packet per 20 ms and ends when its length has played, not at
/// twice the pace (the barge-in's early tick must not leave the old tick
/// running beside the new one).
#[test]
fn the_prompt_after_a_barge_in_plays_in_real_time() {
    use crate::player::{Item, Playlist, ToneKind, TonePlan};
    let (mut core, start) = bridged();
    let tone = TonePlan::Europe.tone(ToneKind::Ringback);
    let menu = Playlist::new(8000)
        .unwrap()
        .with(Item::tone(tone.clone(), Some(10_000)).interruptible(true))
        .unwrap();
    core.play(start, 1, menu).unwrap();
    for i in 1..=5 {
        core.handle_timeout(start + FRAME * i);
    }
    // The key arrives between two ticks: the next one was due at 120 ms.
    let pressed = start + Duration::from_millis(110);
    let mut digit = packet(101, 7, 800, 9);
    digit.truncate(12);
    digit.extend_from_slice(&[1, 10, 0, 160]);
    core.handle_rtp(pressed, 1, addr("192.0.2.1:4000"), &mut digit);
    core.handle_timeout(pressed);
    let events: Vec<_> = std::iter::from_fn(|| core.poll_event()).collect();
    assert_eq!(
        events,
        [
            MediaEvent::Digit { leg: 1, digit: '1' },
            MediaEvent::PlaybackFinished {
                leg: 1,
                interrupted: true
            }
        ]
    );
    // The flow answers the key with a one-second welcome, 2 ms later.
    let asked = pressed + Duration::from_millis(2);
    let welcome = Playlist::new(8000)
        .unwrap()
        .with(Item::tone(tone, Some(1_000)))
        .unwrap();
    core.play(asked, 1, welcome).unwrap();
    while core.poll_transmit().is_some() {}
    let mut sent = Vec::new();
    let mut finished = None;
    let mut now = asked;
    while now < asked + Duration::from_secs(2) {
        if let Some(at) = core.poll_timeout().filter(|at| *at <= asked + Duration::from_secs(2)) {
            now = now.max(at);
            core.handle_timeout(now);
        } else {
            break;
        }
        while let Some(t) = core.poll_transmit() {
            if t.leg == 1 && !t.rtcp {
                sent.push(now - asked);
            }
        }
        while let Some(event) = core.poll_event() {
            if let MediaEvent::PlaybackFinished { leg: 1, interrupted } = event {
                assert!(!interrupted);
                finished = Some(now - asked);
            }
        }
    }
    assert_eq!(sent.len(), 50, "one second in 20 ms packets: {sent:?}");
    let gaps: Vec<_> = sent.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g == FRAME), "one packet per 20 ms: {sent:?}");
    let finished = finished.expect("the welcome ended");
    assert!(
        finished >= Duration::from_millis(1_000),
        "the welcome's end is reported after it played: {finished:?}"
    );
}

#[test]
fn transcoded_frames_keep_their_rate_when_the_worker_wakes_late() {
    let (mut core, now) = bridged();
    let mut alaw = config(8, Some(96), "10.0.0.2:5000");
    alaw.codec = "PCMA".into();
    core.configure(now, 2, alaw);
    let from = addr("192.0.2.1:4000");
    let end = now + Duration::from_secs(2);
    let (mut next_packet, mut sent) = (0u16, 0);
    let mut t = now;
    while t < end {
        // The worker wakes only for its timers, 1 ms after each (poll
        // timeouts are whole milliseconds), and reads what the phone sent
        // on time meanwhile. The stream must not slow down by those delays.
        while now + FRAME * u32::from(next_packet) <= t {
            let mut p = packet(0, next_packet, 160 * u32::from(next_packet), 9);
            let _ = core.handle_rtp(t, 1, from, &mut p);
            next_packet += 1;
        }
        core.handle_timeout(t);
        sent += std::iter::from_fn(|| core.poll_transmit())
            .filter(|x| !x.rtcp && x.leg == 2)
            .count();
        t = core.poll_timeout().unwrap_or(t + FRAME).max(t) + Duration::from_millis(1);
    }
    // 100 frames came in; a few stay in the jitter buffer, none are lost to
    // a slow clock (ticks set from when they ran gave 95).
    assert!(sent >= 97, "{sent} frames in 2 s");
}

#[test]
fn a_transcoded_stream_stamps_its_frames_when_they_play_across_a_pause() {
    let (mut core, now) = bridged();
    let mut alaw = config(8, Some(96), "10.0.0.2:5000");
    alaw.codec = "PCMA".into();
    core.configure(now, 2, alaw);
    let from = addr("192.0.2.1:4000");
    let mut sent = Vec::new();
    // One second of packets, a second of silence (the phone sends nothing:
    // DTX, or its packets stopped), then a new talkspurt with a timestamp
    // that has moved on by the silence.
    for i in 0..150u32 {
        let at = now + FRAME * i;
        let talking = !(50..100).contains(&i);
        if talking {
            let mut p = packet(0, 100 + i as u16, 8000 + 160 * i, 9);
            if i == 100 {
                p[1] |= 0x80;
            }
            let _ = core.handle_rtp(at, 1, from, &mut p);
        }
        core.handle_timeout(at);
        for t in std::iter::from_fn(|| core.poll_transmit()).filter(|t| !t.rtcp && t.leg == 2) {
            let rtp = RtpPacket::new_checked(&t.payload).unwrap();
            sent.push((at, rtp.timestamp(), rtp.marker()));
        }
    }
    // Every frame's timestamp is where its send time puts it (within the
    // jitter buffer's settling): the pause did not delay what followed.
    let (t0, ts0, _) = sent[0];
    for &(at, ts, _) in &sent {
        let played = (at - t0).as_millis() as i64 * 8;
        let stamped = i64::from(ts.wrapping_sub(ts0));
        assert!(
            (played - stamped).abs() <= 160,
            "sent at +{played} units, stamped +{stamped}"
        );
    }
    let resumed = sent.iter().position(|&(at, _, _)| at >= now + FRAME * 100).unwrap();
    let marked: Vec<bool> = sent.iter().map(|&(_, _, m)| m).collect();
    assert!(marked[0], "the first frame starts a talkspurt");
    assert!(
        marked[resumed..].iter().take(5).any(|&m| m),
        "the first frame after the pause is marked"
    );
    assert_eq!(marked.iter().filter(|&&m| m).count(), 2, "{marked:?}");
}
