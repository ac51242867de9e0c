use super::*;
use proptest::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
    EventPayload {
        event,
        end,
        volume: 10,
        duration,
    }
    .to_bytes()
}

/// Feeds a packet and returns the verdict.
fn feed(rx: &mut Receiver, now: Instant, ts: u32, marker: bool, seq: u16, bytes: &[u8]) -> Verdict {
    rx.handle_packet(
        now,
        EventPacket {
            timestamp: ts,
            marker,
            sequence: seq,
            payload: bytes,
        },
    )
    .unwrap()
}

fn drain(rx: &mut Receiver) -> Vec<DtmfEvent> {
    std::iter::from_fn(|| rx.poll_event()).collect()
}

fn pressed(digit: Digit) -> DtmfEvent {
    DtmfEvent::Pressed(DigitEvent {
        digit,
        source: DigitSource::Rfc4733,
        duration: None,
    })
}

fn released(digit: Digit, millis: u64) -> DtmfEvent {
    DtmfEvent::Released(DigitEvent {
        digit,
        source: DigitSource::Rfc4733,
        duration: Some(ms(millis)),
    })
}

#[test]
fn dtmf_payload_wire_format() {
    // Digit 9, E bit, volume 10, duration 1600 (200 ms at 8 kHz).
    let bytes = [0x09, 0x8a, 0x06, 0x40];
    let p = EventPayload::parse(&bytes).unwrap();
    assert_eq!(
        p,
        EventPayload {
            event: 9,
            end: true,
            volume: 10,
            duration: 1600
        }
    );
    assert_eq!(p.to_bytes(), bytes);
    // The R bit is ignored, trailing bytes too.
    let p = EventPayload::parse(&[0x01, 0x4a, 0x00, 0xa0, 0xff]).unwrap();
    assert_eq!(
        p,
        EventPayload {
            event: 1,
            end: false,
            volume: 10,
            duration: 160
        }
    );
    assert_eq!(EventPayload::parse(&[1, 2, 3]), Err(PayloadError::TooShort { len: 3 }));
    assert!(Receiver::default()
        .handle_packet(
            Instant::now(),
            EventPacket {
                timestamp: 0,
                marker: true,
                sequence: 0,
                payload: &[]
            }
        )
        .is_err());
}

/// The pattern of RFC 4733's example of a DTMF digit (§5): an event started at
/// timestamp T, updated every 50 ms (400 units at 8 kHz), ending after 200 ms with
/// the final packet sent three times.
#[test]
fn dtmf_rfc4733_example_digit_reported_once_at_start() {
    let t0 = Instant::now();
    let mut rx = Receiver::default();
    let ts = 0x1234_5678;
    assert_eq!(
        feed(&mut rx, t0, ts, true, 10, &payload(9, false, 400)),
        Verdict::NewEvent
    );
    assert_eq!(drain(&mut rx), vec![pressed(Digit::D9)]);
    assert_eq!(rx.active_digit(), Some(Digit::D9));
    for (i, d) in [800u16, 1200].into_iter().enumerate() {
        let v = feed(
            &mut rx,
            t0 + ms(50 * (i as u64 + 1)),
            ts,
            false,
            11 + i as u16,
            &payload(9, false, d),
        );
        assert_eq!(v, Verdict::Update);
    }
    assert_eq!(
        feed(&mut rx, t0 + ms(150), ts, false, 13, &payload(9, true, 1600)),
        Verdict::End
    );
    assert_eq!(
        feed(&mut rx, t0 + ms(170), ts, false, 14, &payload(9, true, 1600)),
        Verdict::Duplicate
    );
    assert_eq!(
        feed(&mut rx, t0 + ms(190), ts, false, 15, &payload(9, true, 1600)),
        Verdict::Duplicate
    );
    assert_eq!(drain(&mut rx), vec![released(Digit::D9, 200)]);
    assert_eq!(rx.poll_timeout(), None);
}

/// SIPp's `dtmf_2833_1.pcap` pattern: each digit sent with the marker on its
/// first packet, an update every 20 ms (160 units), then three end packets.
fn sipp_like_stream(digits: &[Digit]) -> Vec<(Duration, u32, bool, u16, [u8; 4])> {
    let mut out = Vec::new();
    let (mut seq, mut ts, mut at) = (1000u16, 8000u32, ms(0));
    for &d in digits {
        for k in 1..=5u16 {
            out.push((at, ts, k == 1, seq, payload(d.to_event_code(), false, 160 * k)));
            seq = seq.wrapping_add(1);
            at += ms(20);
        }
        for _ in 0..3 {
            out.push((at, ts, false, seq, payload(d.to_event_code(), true, 960)));
            seq = seq.wrapping_add(1);
            at += ms(20);
        }
        ts = ts.wrapping_add(960 + 800); // 120 ms tone, 100 ms of audio between digits
        at += ms(100);
    }
    out
}

#[test]
fn dtmf_sipp_stream_each_digit_once_in_order() {
    let t0 = Instant::now();
    let digits = Digit::ALL;
    let mut rx = Receiver::default();
    let mut events = Vec::new();
    for (at, ts, marker, seq, bytes) in sipp_like_stream(&digits) {
        feed(&mut rx, t0 + at, ts, marker, seq, &bytes);
        events.extend(drain(&mut rx));
    }
    let expected: Vec<DtmfEvent> = digits.iter().flat_map(|&d| [pressed(d), released(d, 120)]).collect();
    assert_eq!(events, expected);
}

#[test]
fn dtmf_sipp_stream_survives_loss_of_first_and_end_packets() {
    let t0 = Instant::now();
    let digits = [Digit::D1, Digit::D1, Digit::D2, Digit::Pound];
    let stream = sipp_like_stream(&digits);
    let mut rx = Receiver::default();
    let mut presses = Vec::new();
    for (i, (at, ts, marker, seq, bytes)) in stream.into_iter().enumerate() {
        // Drop the first packet of digit 0, all end packets of digit 1 (the second "1"),
        // and every other packet of the rest.
        let lost = i == 0 || (13..16).contains(&i) || (i >= 16 && i % 2 == 1);
        if lost {
            continue;
        }
        rx.handle_timeout(t0 + at);
        feed(&mut rx, t0 + at, ts, marker, seq, &bytes);
        presses.extend(drain(&mut rx).into_iter().filter_map(|e| e.pressed()));
    }
    assert_eq!(presses, digits);
}

#[test]
fn dtmf_lost_end_packets_closed_by_timeout() {
    let t0 = Instant::now();
    let mut rx = Receiver::default();
    feed(&mut rx, t0, 100, true, 1, &payload(5, false, 160));
    feed(&mut rx, t0 + ms(20), 100, false, 2, &payload(5, false, 320));
    assert_eq!(drain(&mut rx), vec![pressed(Digit::D5)]);
    assert_eq!(rx.poll_timeout(), Some(t0 + ms(270)));
    rx.handle_timeout(t0 + ms(269));
    assert_eq!(rx.poll_event(), None);
    rx.handle_timeout(t0 + ms(270));
    assert_eq!(drain(&mut rx), vec![released(Digit::D5, 40)]);
    // A late end packet of the closed event is not a new digit.
    assert_eq!(
        feed(&mut rx, t0 + ms(300), 100, false, 3, &payload(5, true, 640)),
        Verdict::Duplicate
    );
    assert_eq!(rx.poll_event(), None);
}

#[test]
fn dtmf_lost_end_packets_closed_by_next_event_or_audio() {
    let t0 = Instant::now();
    let mut rx = Receiver::default();
    feed(&mut rx, t0, 100, true, 1, &payload(3, false, 400));
    // The next event arrives before any end packet of the first.
    feed(&mut rx, t0 + ms(80), 2000, true, 2, &payload(3, false, 400));
    assert_eq!(
        drain(&mut rx),
        vec![pressed(Digit::D3), released(Digit::D3, 50), pressed(Digit::D3)]
    );
    // Audio 250 ms of timestamp past the event's last duration closes it; earlier audio does not.
    rx.handle_audio(t0 + ms(100), 2000 + 400 + 1999);
    assert_eq!(rx.poll_event(), None);
    rx.handle_audio(t0 + ms(120), 2000 + 400 + 2000);
    assert_eq!(drain(&mut rx), vec![released(Digit::D3, 50)]);
}

#[test]
fn dtmf_end_only_event_reported_and_released() {
    let t0 = Instant::now();
    let mut rx = Receiver::default();
    feed(&mut rx, t0, 100, true, 1, &payload(7, false, 400));
    // Everything of the next event but its last end packet is lost.
    assert_eq!(
        feed(&mut rx, t0 + ms(300), 5000, false, 9, &payload(16, true, 800)),
        Verdict::NewEvent
    );
    assert_eq!(
        drain(&mut rx),
        vec![
            pressed(Digit::D7),
            released(Digit::D7, 50),
            pressed(Digit::Flash),
            released(Digit::Flash, 100)
        ]
    );
}

#[test]
fn dtmf_stale_and_non_dtmf_packets_ignored() {
    let t0 = Instant::now();
    let mut rx = Receiver::default();
    assert_eq!(
        feed(&mut rx, t0, 100, true, 1, &payload(32, false, 400)),
        Verdict::NotDtmf
    );
    feed(&mut rx, t0, 10_000, true, 5, &payload(1, true, 400));
    drain(&mut rx);
    // A late packet of an older event never heard: not reported out of order.
    assert_eq!(
        feed(&mut rx, t0 + ms(10), 9_000, true, 3, &payload(2, false, 400)),
        Verdict::Stale
    );
    // A timestamp jump far back (new stream) is a new event, not stale.
    assert_eq!(
        feed(
            &mut rx,
            t0 + ms(20),
            10_000u32.wrapping_sub(3_000_000),
            true,
            9,
            &payload(2, false, 160)
        ),
        Verdict::NewEvent
    );
    assert_eq!(drain(&mut rx), vec![pressed(Digit::D2)]);
    rx.reset();
    assert_eq!(rx.active_digit(), None);
}

#[test]
fn dtmf_reordered_update_after_end_is_duplicate() {
    let t0 = Instant::now();
    let mut rx = Receiver::default();
    feed(&mut rx, t0, 0, true, 1, &payload(4, false, 160));
    feed(&mut rx, t0 + ms(40), 0, false, 3, &payload(4, true, 480));
    assert_eq!(
        feed(&mut rx, t0 + ms(41), 0, false, 2, &payload(4, false, 320)),
        Verdict::Duplicate
    );
    assert_eq!(drain(&mut rx), vec![pressed(Digit::D4), released(Digit::D4, 60)]);
}

#[test]
fn dtmf_sender_layout_50ms() {
    let packets = event_packets(Digit::D9, ms(200), &SenderConfig::default());
    let summary: Vec<(bool, u32, u64, EventPayload)> = packets
        .iter()
        .map(|p| {
            (
                p.marker,
                p.timestamp_offset,
                p.send_offset.as_millis() as u64,
                EventPayload::parse(&p.payload).unwrap(),
            )
        })
        .collect();
    let ev = |end, duration| EventPayload {
        event: 9,
        end,
        volume: 10,
        duration,
    };
    assert_eq!(
        summary,
        vec![
            (true, 0, 50, ev(false, 400)),
            (false, 0, 100, ev(false, 800)),
            (false, 0, 150, ev(false, 1200)),
            (false, 0, 200, ev(true, 1600)),
            (false, 0, 250, ev(true, 1600)),
            (false, 0, 300, ev(true, 1600)),
        ]
    );
}

#[test]
fn dtmf_sender_20ms_at_16khz_and_short_press() {
    let config = SenderConfig {
        clock_rate: 16_000,
        packet_interval: ms(20),
        ..SenderConfig::default()
    };
    let packets = event_packets(Digit::Star, ms(100), &config);
    assert_eq!(packets.len(), 5 + 2);
    let durations: Vec<u16> = packets
        .iter()
        .map(|p| EventPayload::parse(&p.payload).unwrap().duration)
        .collect();
    assert_eq!(durations, [320, 640, 960, 1280, 1600, 1600, 1600]);
    // A press shorter than one interval still sends one interval, marker and E together.
    let packets = event_packets(Digit::A, ms(5), &config);
    assert_eq!(packets.len(), 3);
    assert!(packets[0].marker);
    assert!(packets.iter().all(|p| EventPayload::parse(&p.payload).unwrap().end));
}

#[test]
fn dtmf_sender_to_receiver_round_trip_including_long_event() {
    for (digit, millis) in Digit::ALL.iter().map(|&d| (d, 100)).chain([(Digit::D0, 20_000)]) {
        let t0 = Instant::now();
        let mut rx = Receiver::default();
        let packets = event_packets(digit, ms(millis), &SenderConfig::default());
        if millis > 8191 {
            assert!(packets.iter().any(|p| p.timestamp_offset == 65535));
        }
        for (i, p) in packets.iter().enumerate() {
            let ts = 4_294_960_000u32.wrapping_add(p.timestamp_offset); // wraps mid-event
            feed(&mut rx, t0 + p.send_offset, ts, p.marker, i as u16, &p.payload);
        }
        assert_eq!(
            drain(&mut rx),
            vec![pressed(digit), released(digit, millis)],
            "digit {digit}"
        );
    }
}

proptest! {
    #[test]
    fn dtmf_receiver_never_panics_and_never_invents_digits(
        packets in proptest::collection::vec((0u32..20, any::<bool>(), any::<u16>(), proptest::collection::vec(any::<u8>(), 0..8), 0u64..400), 0..60)
    ) {
        let t0 = Instant::now();
        let mut rx = Receiver::default();
        let (mut new_events, mut presses) = (0usize, 0usize);
        let mut at = t0;
        for (ts, marker, seq, bytes, gap) in packets {
            at += ms(gap);
            rx.handle_timeout(at);
            let packet = EventPacket { timestamp: ts * 400, marker, sequence: seq, payload: &bytes };
            new_events += usize::from(rx.handle_packet(at, packet) == Ok(Verdict::NewEvent));
            // The same packet again, duplicated by the network, is never a new digit.
            prop_assert_ne!(rx.handle_packet(at, packet), Ok(Verdict::NewEvent));
            while let Some(e) = rx.poll_event() {
                presses += usize::from(e.pressed().is_some());
            }
        }
        prop_assert_eq!(presses, new_events);
        let _ = rx.poll_timeout();
    }
}
