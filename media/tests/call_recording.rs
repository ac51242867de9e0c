//! A bridged call recorded by a running engine over loopback UDP: two RTP
//! phones send a known tone each (400 Hz PCMU in 20 ms packets from the
//! caller, 1000 Hz PCMA in 30 ms packets from the agent), with packets lost
//! and reordered. The stereo WAV read back with hound has each tone on its
//! side, starting when it was sent (within 20 ms), and silence where the
//! recording was paused.
#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use media::codec::g711;
use media::engine::{
    CallRecordingEvent, CallRecordingSpec, Direction, EngineConfig, LegConfig, MediaEngine, MediaEvent,
};
use recordings::{ChannelLayout, RecorderSpec, Sidecar, State};

const RATE: f64 = 8000.0;

/// A phone's stream: codec, packet length, tone and when it starts.
#[derive(Clone, Copy)]
struct Stream {
    alaw: bool,
    ptime_ms: u32,
    freq: f64,
    onset: Duration,
    /// Packets never sent.
    lost: [u32; 2],
    /// This packet goes out after the next one.
    swapped: u32,
    ssrc: u32,
    first_ts: u32,
}

fn sample(s: &Stream, n: u64) -> i16 {
    let onset = (s.onset.as_secs_f64() * RATE) as u64;
    if n < onset {
        return 0;
    }
    (8000.0 * (2.0 * std::f64::consts::PI * s.freq * n as f64 / RATE).sin()) as i16
}

fn packet(s: &Stream, k: u32) -> Vec<u8> {
    let samples = s.ptime_ms * 8;
    let ts = s.first_ts.wrapping_add(k * samples);
    let mut p = vec![0x80, if s.alaw { 8 } else { 0 }];
    p.extend_from_slice(&(k as u16).to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&s.ssrc.to_be_bytes());
    let pcm: Vec<i16> = (0..samples).map(|i| sample(s, u64::from(k * samples + i))).collect();
    if s.alaw {
        g711::alaw_encode_frame(&pcm, &mut p);
    } else {
        g711::ulaw_encode_frame(&pcm, &mut p);
    }
    p
}

/// Sends the stream from `socket` to `to` in real time from `t0` for `length`.
fn play(socket: UdpSocket, to: SocketAddr, s: Stream, t0: Instant, length: Duration) {
    let count = (length.as_millis() as u32) / s.ptime_ms;
    let mut held = None;
    for k in 0..count {
        let due = t0 + Duration::from_millis(u64::from(k * s.ptime_ms));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        if s.lost.contains(&k) {
            continue;
        }
        if k == s.swapped {
            held = Some(packet(&s, k));
            continue;
        }
        socket.send_to(&packet(&s, k), to).unwrap();
        if let Some(p) = held.take() {
            socket.send_to(&p, to).unwrap();
        }
    }
}

/// Goertzel power of `freq` in `x`, normalised by length.
fn power(x: &[i16], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / RATE;
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = f64::from(v) + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2) / (x.len() as f64).powi(2)
}

/// First sample louder than half the tone, in ms.
fn onset_ms(x: &[i16]) -> f64 {
    let i = x
        .iter()
        .position(|s| s.unsigned_abs() > 4000)
        .expect("the tone is there");
    i as f64 / 8.0
}

fn config(phone: SocketAddr, alaw: bool) -> LegConfig {
    LegConfig {
        remote_rtp: Some(phone),
        remote_rtcp: None,
        rtcp_mux: false,
        payload_type: if alaw { 8 } else { 0 },
        clock_rate: 8000,
        codec: if alaw { "PCMA" } else { "PCMU" }.into(),
        telephone_event: Some(101),
        direction: Direction::SENDRECV,
    }
}

fn wait_for(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<MediaEvent>,
    what: impl Fn(&CallRecordingEvent) -> bool,
) -> CallRecordingEvent {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match events.try_recv() {
            Ok(MediaEvent::CallRecording(e)) if what(&e) => return e,
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    panic!("no such call recording event within 5 s");
}

struct Run {
    left: Vec<i16>,
    right: Vec<i16>,
    sidecar: Sidecar,
    /// Where, in the file, the caller's and the agent's onsets were sent.
    caller_onset_ms: f64,
    agent_onset_ms: f64,
}

fn record_a_call(dir: &Path, caller_left: bool) -> Run {
    let first = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port() & !1;
    let engine_config = EngineConfig {
        bind: [127, 0, 0, 1].into(),
        port_first: first,
        port_last: first.saturating_add(40),
        workers: 1,
        inactivity: Duration::from_secs(30),
    };
    let (engine, mut events) = MediaEngine::start(&engine_config).unwrap();
    let a = engine.allocate(3).unwrap();
    let b = engine.allocate(3).unwrap();
    let caller_phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    let agent_phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    engine.configure(a.id, config(caller_phone.local_addr().unwrap(), false));
    engine.configure(b.id, config(agent_phone.local_addr().unwrap(), true));
    engine.bridge(a.id, b.id);
    let wav = dir.join("2025-01-01/support/call-1.wav");
    let spec = CallRecordingSpec {
        spec: RecorderSpec {
            wav: wav.clone(),
            mono_mix: Some(dir.join("2025-01-01/support/call-1.mix.wav")),
            sample_rate: 0,
            layout: if caller_left {
                ChannelLayout::CallerLeftAgentRight
            } else {
                ChannelLayout::AgentLeftCallerRight
            },
        },
        sidecar: Sidecar::new("call-1", 1_700_000_000_000),
    };
    let recording_asked = Instant::now();
    engine.record_call(a.id, Some(b.id), spec);
    let started = wait_for(&mut events, |e| matches!(e, CallRecordingEvent::Started { .. }));
    assert_eq!(
        started,
        CallRecordingEvent::Started {
            leg: a.id,
            path: wav.clone()
        }
    );

    let caller = Stream {
        alaw: false,
        ptime_ms: 20,
        freq: 400.0,
        onset: Duration::from_millis(600),
        lost: [10, 62],
        swapped: 40,
        ssrc: 0x1111,
        first_ts: u32::MAX - 4000,
    };
    let agent = Stream {
        alaw: true,
        ptime_ms: 30,
        freq: 1000.0,
        onset: Duration::from_millis(1000),
        lost: [7, 45],
        swapped: 20,
        ssrc: 0x2222,
        first_ts: 123_456,
    };
    let length = Duration::from_millis(3000);
    let t0 = Instant::now() + Duration::from_millis(100);
    let (to_a, to_b) = (a.local, b.local);
    let phones = [
        std::thread::spawn(move || play(caller_phone, to_a, caller, t0, length)),
        std::thread::spawn(move || play(agent_phone, to_b, agent, t0, length)),
    ];
    std::thread::sleep((t0 + Duration::from_millis(1800)).saturating_duration_since(Instant::now()));
    engine.pause_call_recording(a.id);
    std::thread::sleep((t0 + Duration::from_millis(2300)).saturating_duration_since(Instant::now()));
    engine.resume_call_recording(a.id);
    for p in phones {
        p.join().unwrap();
    }
    engine.stop_call_recording(a.id);
    let stopped = wait_for(&mut events, |e| matches!(e, CallRecordingEvent::Stopped { .. }));
    let CallRecordingEvent::Stopped { leg, path, sidecar } = stopped else {
        unreachable!()
    };
    assert_eq!((leg, path), (a.id, wav.clone()));
    engine.release(a.id);
    engine.release(b.id);
    drop(engine);

    let reader = hound::WavReader::open(&wav).unwrap();
    assert_eq!((reader.spec().channels, reader.spec().sample_rate), (2, 8000));
    let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
    let mix = hound::WavReader::open(dir.join("2025-01-01/support/call-1.mix.wav")).unwrap();
    assert_eq!(mix.duration() as usize, samples.len() / 2);
    let since = |t: Instant| t.duration_since(recording_asked).as_secs_f64() * 1000.0;
    Run {
        left: samples.iter().step_by(2).copied().collect(),
        right: samples.iter().skip(1).step_by(2).copied().collect(),
        sidecar: *sidecar,
        caller_onset_ms: since(t0 + caller.onset),
        agent_onset_ms: since(t0 + agent.onset),
    }
}

fn check(run: &Run, caller: &[i16], agent: &[i16]) {
    // The onsets land where they were sent, within 20 ms.
    let (c, a) = (onset_ms(caller), onset_ms(agent));
    eprintln!(
        "onsets: caller {:+.2} ms, agent {:+.2} ms from when they were sent",
        c - run.caller_onset_ms,
        a - run.agent_onset_ms
    );
    assert!(
        (c - run.caller_onset_ms).abs() < 20.0,
        "caller onset at {c} ms, sent at {}",
        run.caller_onset_ms
    );
    assert!(
        (a - run.agent_onset_ms).abs() < 20.0,
        "agent onset at {a} ms, sent at {}",
        run.agent_onset_ms
    );
    // Each side carries its own tone, not the other's.
    let window = |x: &[i16], from: f64| {
        let at = (from * 8.0) as usize;
        x[at..at + 2400].to_vec()
    };
    let talk = run.agent_onset_ms + 100.0;
    let (cw, aw) = (window(caller, talk), window(agent, talk));
    assert!(power(&cw, 400.0) > 100.0 * power(&cw, 1000.0), "caller side is 400 Hz");
    assert!(power(&aw, 1000.0) > 100.0 * power(&aw, 400.0), "agent side is 1000 Hz");
    assert!(power(&cw, 400.0) > 1e6);
    // The pause is silence on both sides, and both talk again after it.
    assert_eq!(run.sidecar.pauses.len(), 1);
    let pause = run.sidecar.pauses[0];
    let (from, to) = (pause.start_ms as usize * 8, pause.end_ms.unwrap() as usize * 8);
    assert!(to - from > 8 * 450, "paused about half a second: {pause:?}");
    assert!(caller[from + 8..to - 8].iter().all(|&s| s == 0));
    assert!(agent[from + 8..to - 8].iter().all(|&s| s == 0));
    let after = pause.end_ms.unwrap() as f64 + 50.0;
    assert!(power(&window(caller, after), 400.0) > 1e6);
    assert!(power(&window(agent, after), 1000.0) > 1e6);
    assert!(caller[from - 400..from - 8].iter().any(|&s| s.unsigned_abs() > 4000));
}

#[test]
fn a_recorded_call_has_each_tone_on_its_side_at_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let run = record_a_call(dir.path(), true);
    check(&run, &run.left, &run.right);
    let s = &run.sidecar;
    assert_eq!(s.state, State::Complete);
    assert_eq!((s.sample_rate, s.layout), (8000, ChannelLayout::CallerLeftAgentRight));
    assert_eq!(
        (s.quality.left.codecs.as_slice(), s.quality.right.codecs.as_slice()),
        (&["PCMU".to_string()][..], &["PCMA".to_string()][..])
    );
    assert_eq!(s.quality.left.party, "caller");
    // 150 caller packets less 2 lost and about 25 while paused (not even
    // copied); 100 agent packets less 2 lost and about 17 paused.
    let (left, right) = (s.quality.left.frames, s.quality.right.frames);
    assert!(
        (118..=126).contains(&left) && (77..=85).contains(&right),
        "{left} {right}"
    );
    assert_eq!(s.dropped_frames, 0);
    assert_eq!(s.bytes, run.left.len() as u64 * 4);
    assert_eq!(
        Sidecar::read(&Sidecar::path_for(&dir.path().join("2025-01-01/support/call-1.wav"))).unwrap(),
        *s
    );
}

#[test]
fn swapped_channels_put_the_caller_on_the_right() {
    let dir = tempfile::tempdir().unwrap();
    let run = record_a_call(dir.path(), false);
    check(&run, &run.right, &run.left);
    assert_eq!(run.sidecar.quality.right.party, "caller");
    assert_eq!(run.sidecar.layout, ChannelLayout::AgentLeftCallerRight);
}

/// A recording that cannot be written (every write fails with ENOSPC, as on
/// a full disk) fails with an event; the call's audio still flows.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_fails_the_recording_and_the_call_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let first = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port() & !1;
    let engine_config = EngineConfig {
        bind: [127, 0, 0, 1].into(),
        port_first: first,
        port_last: first.saturating_add(40),
        workers: 1,
        inactivity: Duration::from_secs(30),
    };
    let (engine, mut events) = MediaEngine::start(&engine_config).unwrap();
    let a = engine.allocate(4).unwrap();
    let b = engine.allocate(4).unwrap();
    let caller_phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    let agent_phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    agent_phone.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    engine.configure(a.id, config(caller_phone.local_addr().unwrap(), false));
    engine.configure(b.id, config(agent_phone.local_addr().unwrap(), false));
    engine.bridge(a.id, b.id);
    let wav = dir.path().join("full.wav");
    std::os::unix::fs::symlink("/dev/full", &wav).unwrap();
    let spec = CallRecordingSpec {
        spec: RecorderSpec {
            wav: wav.clone(),
            mono_mix: None,
            sample_rate: 8000,
            layout: ChannelLayout::CallerLeftAgentRight,
        },
        sidecar: Sidecar::new("full", 0),
    };
    engine.record_call(a.id, Some(b.id), spec);
    let failed = wait_for(&mut events, |e| matches!(e, CallRecordingEvent::Failed { .. }));
    let CallRecordingEvent::Failed { leg, reason, .. } = failed else {
        unreachable!()
    };
    assert_eq!(leg, a.id);
    assert!(reason.contains("No space left"), "{reason}");
    // The caller's audio still reaches the agent.
    let caller = Stream {
        alaw: false,
        ptime_ms: 20,
        freq: 400.0,
        onset: Duration::ZERO,
        lost: [u32::MAX; 2],
        swapped: u32::MAX,
        ssrc: 9,
        first_ts: 0,
    };
    for k in 0..5 {
        caller_phone.send_to(&packet(&caller, k), a.local).unwrap();
    }
    let mut buf = [0u8; 2048];
    let (len, _) = agent_phone.recv_from(&mut buf).unwrap();
    assert_eq!(len, 12 + 160);
}
