//! A leg recorded by a running engine ends up as a playable WAV file.
#![allow(clippy::unwrap_used)]

use std::net::UdpSocket;
use std::time::Duration;

use media::engine::{Direction, EngineConfig, LegConfig, MediaEngine, MediaEvent};

#[test]
fn a_recording_is_a_wav_of_what_the_phone_sent() {
    // A free port picked by the kernel starts the engine's range; the engine
    // skips a port of the range that turns out to be taken.
    let first = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port() & !1;
    let config = EngineConfig {
        bind: [127, 0, 0, 1].into(),
        port_first: first,
        port_last: first.saturating_add(40),
        workers: 1,
        inactivity: Duration::from_secs(30),
    };
    let (engine, mut events) = MediaEngine::start(&config).unwrap();
    let leg = engine.allocate(7).unwrap();
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    engine.configure(
        leg.id,
        LegConfig {
            remote_rtp: Some(phone.local_addr().unwrap()),
            remote_rtcp: None,
            rtcp_mux: false,
            payload_type: 0,
            clock_rate: 8000,
            codec: "PCMU".into(),
            telephone_event: None,
            direction: Direction::SENDRECV,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("box/message.wav");
    engine.record(leg.id, path.clone(), Duration::from_millis(400));
    std::thread::sleep(Duration::from_millis(50));
    for i in 0..10u16 {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        p[2..4].copy_from_slice(&i.to_be_bytes());
        p[4..8].copy_from_slice(&(u32::from(i) * 160).to_be_bytes());
        p.extend_from_slice(&[0x80; 160]);
        phone.send_to(&p, leg.local).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let finished = (0..50).find_map(|_| match events.try_recv() {
        Ok(MediaEvent::RecordingFinished { leg: l }) if l == leg.id => Some(()),
        _ => {
            std::thread::sleep(Duration::from_millis(20));
            None
        }
    });
    assert!(finished.is_some(), "the recording ends after its length");
    engine.release(leg.id);
    drop(engine); // joins the workers; the writer finishes the file
    std::thread::sleep(Duration::from_millis(100));
    let reader = hound::WavReader::open(&path).unwrap();
    assert_eq!((reader.spec().sample_rate, reader.spec().channels), (8000, 1));
    let samples: Vec<i16> = reader.into_samples::<i16>().map(Result::unwrap).collect();
    assert!(samples.len() >= 1600, "ten 20 ms frames: {}", samples.len());
    assert!(samples.iter().filter(|s| s.unsigned_abs() > 30_000).count() >= 1600);
}
