//! A recorder process killed with SIGKILL mid-call leaves a WAV that hound
//! and sox both read once `recover` (what the switch runs at its next start)
//! has fixed its header, with a sidecar marked interrupted.
//!
//! The recorder is this test binary run again as a child (see
//! `child_records_until_killed`), writing a call in real time.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use recordings::{recover, CallRecorder, Channel, ChannelLayout, Frame, RecorderSpec, Sidecar, State};

const CHILD_DIR: &str = "RECORDINGS_TEST_CHILD_DIR";

fn spec(dir: &Path) -> RecorderSpec {
    RecorderSpec {
        wav: dir.join("2025-01-01/support/killed.wav"),
        mono_mix: Some(dir.join("2025-01-01/support/killed.mix.wav")),
        sample_rate: 16_000,
        layout: ChannelLayout::CallerLeftAgentRight,
    }
}

/// sox, which the test script installs; missing, the test fails saying so.
fn sox() -> PathBuf {
    let found = Command::new("sox").arg("--version").output();
    if !found.is_ok_and(|o| o.status.success()) {
        panic!("sox is missing: install the Debian package `sox` (scripts/test.sh does)");
    }
    PathBuf::from("sox")
}

/// Records a call in real time for `frames` packet times and hands back the
/// recorder unfinished.
fn record(dir: &Path, frames: u32) -> CallRecorder {
    let mut r = CallRecorder::create(&spec(dir), Sidecar::new("killed", 1_700_000_000_000)).unwrap();
    let pcm: Vec<i16> = (0..320).map(|i| ((f64::from(i) * 0.3).sin() * 9000.0) as i16).collect();
    let start = Instant::now();
    for k in 0..frames {
        let due = start + Duration::from_millis(u64::from(k) * 20);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        for channel in [Channel::Left, Channel::Right] {
            let frame = Frame {
                channel,
                ssrc: 5,
                timestamp: k * 160,
                clock_rate: 8000,
                pcm: &pcm,
            };
            r.push(frame, start.elapsed());
        }
        r.advance(start.elapsed()).unwrap();
        if k == 50 {
            println!("recording");
        }
    }
    r
}

/// Run by the test below as the child it kills (with the variable set);
/// run on its own, the same recorder is abandoned in-process without being
/// finished, as a panic or an abort would leave it, and must be recovered.
#[test]
fn child_records_until_killed() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        drop(record(Path::new(&dir), 1000));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Never finished: what its buffers held is lost, as in a crash.
    std::mem::forget(record(dir.path(), 80));
    let wav = spec(dir.path()).wav;
    let recovered = recover(&wav).unwrap().expect("the sidecar said recording");
    assert!(
        matches!(recovered.state, State::Interrupted { .. }),
        "{:?}",
        recovered.state
    );
    assert!(recovered.duration_ms >= 1000, "{}", recovered.duration_ms);
    let reader = hound::WavReader::open(&wav).unwrap();
    assert_eq!(u64::from(reader.duration()) * 1000 / 16_000, recovered.duration_ms);
}

#[test]
fn a_recorder_killed_mid_way_leaves_a_file_hound_and_sox_read_after_recover() {
    let sox = sox();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_records_until_killed",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("recording") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended before recording"
        );
    }
    // About 2.5 s in: two header updates behind it, half a second since.
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let spec = spec(dir.path());
    let sidecar = Sidecar::read(&Sidecar::path_for(&spec.wav)).unwrap();
    assert_eq!(sidecar.state, State::Recording, "the child had no chance to finish");
    // Playable as it is (the header counts what was there at the last update).
    let before = hound::WavReader::open(&spec.wav).unwrap().duration();
    assert!(before >= 16_000, "at least a second counted: {before}");

    let recovered = recover(&spec.wav).unwrap().expect("the sidecar said recording");
    assert!(
        matches!(recovered.state, State::Interrupted { .. }),
        "{:?}",
        recovered.state
    );
    assert!(recovered.duration_ms >= 2000, "{}", recovered.duration_ms);
    let reader = hound::WavReader::open(&spec.wav).unwrap();
    assert_eq!(u64::from(reader.duration()) * 1000 / 16_000, recovered.duration_ms);
    let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
    assert!(samples[samples.len() / 2..].iter().any(|s| s.unsigned_abs() > 8000));
    let mix = hound::WavReader::open(spec.mono_mix.as_ref().unwrap()).unwrap();
    assert_eq!(mix.spec().channels, 1);

    for wav in [&spec.wav, spec.mono_mix.as_ref().unwrap()] {
        let stat = Command::new(&sox).arg(wav).args(["-n", "stat"]).output().unwrap();
        let text = String::from_utf8_lossy(&stat.stderr);
        assert!(stat.status.success(), "sox reads {}: {text}", wav.display());
        let length: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("Length (seconds):"))
            .and_then(|v| v.trim().parse().ok())
            .expect("sox gives the length");
        assert!(
            (length * 1000.0 - recovered.duration_ms as f64).abs() < 2.0,
            "sox says {length} s"
        );
    }
    assert_eq!(Sidecar::read(&Sidecar::path_for(&spec.wav)).unwrap(), recovered);
}
