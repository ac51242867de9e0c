use super::*;

const MS: Duration = Duration::from_millis(1);

fn spec(dir: &Path, mono_mix: bool) -> RecorderSpec {
    RecorderSpec {
        wav: dir.join("2025-01-01/support/c1.wav"),
        mono_mix: mono_mix.then(|| dir.join("2025-01-01/support/c1.mix.wav")),
        sample_rate: 8000,
        layout: ChannelLayout::CallerLeftAgentRight,
    }
}

/// One second of each side talking: left 1000, right -1000, 20 ms frames.
fn talk(r: &mut CallRecorder, seconds: u32) {
    let left = [1000i16; 160];
    let right = [-1000i16; 160];
    for i in 0..seconds * 50 {
        let now = MS * 20 * i;
        for (channel, pcm) in [(Channel::Left, &left), (Channel::Right, &right)] {
            let frame = Frame {
                channel,
                ssrc: 1,
                timestamp: i * 160,
                clock_rate: 8000,
                pcm,
            };
            r.push(frame, now);
        }
        r.advance(now).unwrap();
    }
}

#[test]
fn a_recording_ends_complete_with_its_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), true);
    let mut sidecar = Sidecar::new("c1", 1_000_000);
    sidecar.queue = Some("support".into());
    let mut r = CallRecorder::create(&spec, sidecar).unwrap();
    assert_eq!(
        Sidecar::read(&Sidecar::path_for(&spec.wav)).unwrap().state,
        State::Recording
    );
    r.note_codec(Channel::Left, "PCMU");
    r.note_codec(Channel::Right, "PCMA");
    r.pause(Duration::from_millis(500));
    talk(&mut r, 2);
    let done = r.finish(Duration::from_secs(2)).unwrap();
    assert_eq!(done.state, State::Complete);
    assert_eq!(done.duration_ms, 2000);
    assert_eq!(done.ended_unix_ms, Some(1_002_000));
    assert_eq!(done.bytes, 2 * 2 * 16_000);
    assert_eq!(
        done.pauses,
        [PauseSpan {
            start_ms: 500,
            end_ms: Some(2000)
        }]
    );
    assert_eq!(done.quality.left.codecs, ["PCMU"]);
    assert_eq!(Sidecar::read(&Sidecar::path_for(&spec.wav)).unwrap(), done);
    let samples: Vec<i16> = hound::WavReader::open(&spec.wav)
        .unwrap()
        .into_samples()
        .map(Result::unwrap)
        .collect();
    assert_eq!(samples.len(), 32_000);
    assert!(samples[..8000].chunks(2).all(|p| p == [1000, -1000]));
    assert!(samples[8000..].iter().all(|&s| s == 0));
    let mix = hound::WavReader::open(spec.mono_mix.as_ref().unwrap()).unwrap();
    assert_eq!((mix.spec().channels, mix.duration()), (1, 16_000));
}

#[test]
fn a_recorder_dropped_mid_way_is_recovered_as_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), true);
    let mut r = CallRecorder::create(&spec, Sidecar::new("c1", 5_000)).unwrap();
    talk(&mut r, 3);
    drop(r); // the process died here
    let found = recover_tree(dir.path());
    assert_eq!(found.len(), 1);
    let (wav, sidecar) = &found[0];
    assert_eq!(wav, &spec.wav);
    let sidecar = sidecar.as_ref().unwrap();
    assert!(matches!(sidecar.state, State::Interrupted { .. }));
    // Output lags by the reorder window and is written once a second.
    assert_eq!(sidecar.duration_ms, 2000);
    let r = hound::WavReader::open(&spec.wav).unwrap();
    assert_eq!(r.duration(), 16_000);
    assert_eq!(
        hound::WavReader::open(spec.mono_mix.as_ref().unwrap())
            .unwrap()
            .duration(),
        16_000
    );
    // Recovered once: a second start has nothing to do.
    assert!(recover_tree(dir.path()).is_empty());
}

#[test]
fn a_mono_recording_has_one_channel() {
    let dir = tempfile::tempdir().unwrap();
    let spec = RecorderSpec {
        layout: ChannelLayout::Mono,
        ..spec(dir.path(), true)
    };
    let mut r = CallRecorder::create(&spec, Sidecar::new("c1", 0)).unwrap();
    talk(&mut r, 1);
    let done = r.finish(Duration::from_secs(1)).unwrap();
    assert_eq!((done.bytes, done.duration_ms, done.mono_mix), (16_000, 1000, None));
    let samples: Vec<i16> = hound::WavReader::open(&spec.wav)
        .unwrap()
        .into_samples()
        .map(Result::unwrap)
        .collect();
    assert!(samples.iter().all(|&s| s == 1000));
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_at_the_start_fails_and_says_so_in_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), false);
    std::fs::create_dir_all(spec.wav.parent().unwrap()).unwrap();
    // Every write to /dev/full fails with ENOSPC, as on a full disk.
    std::os::unix::fs::symlink("/dev/full", &spec.wav).unwrap();
    let err = CallRecorder::create(&spec, Sidecar::new("c1", 0)).unwrap_err();
    assert!(err.to_string().contains("No space left"), "{err}");
    let sidecar = Sidecar::read(&Sidecar::path_for(&spec.wav)).unwrap();
    assert!(matches!(sidecar.state, State::Failed { ref reason } if reason.contains("No space left")));
}

/// A recording cut short by a crash: a WAV header and one second of stereo.
fn crashed(dir: &Path, sidecar: Sidecar) -> PathBuf {
    let wav = dir.join("c1.wav");
    let mut w = crate::wav::WavWriter::create(&wav, 2, 8000).unwrap();
    w.write(&[7i16; 16_000]).unwrap();
    drop(w);
    sidecar.write(&Sidecar::path_for(&wav)).unwrap();
    wav
}

#[test]
fn a_damaged_start_time_in_a_sidecar_does_not_overflow_on_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let wav = crashed(dir.path(), Sidecar::new("c1", u64::MAX - 5));
    let sidecar = recover(&wav).unwrap().unwrap();
    assert!(matches!(sidecar.state, State::Interrupted { .. }));
    assert_eq!(sidecar.ended_unix_ms, Some(u64::MAX));
}

#[test]
fn recovery_repairs_no_mono_mix_outside_the_recording_directory() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("day");
    std::fs::create_dir_all(&inner).unwrap();
    // A file elsewhere that looks like an unfinished WAV: it must stay as it is.
    let outside = dir.path().join("other.wav");
    let mut w = crate::wav::WavWriter::create(&outside, 1, 8000).unwrap();
    w.write(&[1i16; 100]).unwrap();
    drop(w);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&outside)
        .unwrap()
        .write_all(&[0, 0, 0])
        .unwrap();
    let before = std::fs::read(&outside).unwrap();
    let mut sidecar = Sidecar::new("c1", 0);
    sidecar.mono_mix = Some("../other.wav".into());
    let wav = crashed(&inner, sidecar.clone());
    recover(&wav).unwrap().unwrap();
    sidecar.mono_mix = Some(outside.to_string_lossy().into_owned());
    sidecar.write(&Sidecar::path_for(&wav)).unwrap();
    recover(&wav).unwrap().unwrap();
    assert_eq!(std::fs::read(&outside).unwrap(), before);
}
