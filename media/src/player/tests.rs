//! Players: WAV loading and conversion, the cache, tones, playlists, barge-in.

use std::path::PathBuf;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;

/// A fresh directory for one test's files.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-player-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn spec(channels: u16, sample_rate: u32, bits: u16, float: bool) -> hound::WavSpec {
    let sample_format = if float {
        hound::SampleFormat::Float
    } else {
        hound::SampleFormat::Int
    };
    hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: bits,
        sample_format,
    }
}

/// Writes integer samples (interleaved) to a WAV file.
fn write_int(path: &PathBuf, spec: hound::WavSpec, samples: impl IntoIterator<Item = i32>) {
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for s in samples {
        w.write_sample(s).expect("write sample");
    }
    w.finalize().expect("finalize wav");
}

fn sine(freq: f64, rate: u32, n: usize, amplitude: f64) -> impl Iterator<Item = f64> {
    (0..n).map(move |i| amplitude * (std::f64::consts::TAU * freq * i as f64 / f64::from(rate)).sin())
}

/// Relative power of `freq` in `x` (Goertzel), normalised by the signal's length.
fn goertzel(x: &[i16], freq: f64, rate: u32) -> f64 {
    let k = 2.0 * (std::f64::consts::TAU * freq / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for v in x {
        let s = f64::from(*v) + k * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - k * s1 * s2) / (x.len() as f64).powi(2)
}

fn zero_crossings(x: &[i16]) -> usize {
    x.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count()
}

/// Plays a playlist to its end (at most `limit` frames); returns the samples and frame count.
fn play_all(list: &mut Playlist, limit: usize) -> (Vec<i16>, usize) {
    let mut frame = vec![0i16; list.frame_samples()];
    let mut all = Vec::new();
    let mut frames = 0;
    while frames < limit && list.next_frame(&mut frame) == Played::Frame {
        all.extend_from_slice(&frame);
        frames += 1;
    }
    (all, frames)
}

#[test]
fn frames_are_20_ms() {
    assert_eq!(frame_samples(8000), 160);
    assert_eq!(frame_samples(16000), 320);
    assert_eq!(frame_samples(48000), 960);
    assert_eq!(Playlist::new(48000).map(|p| p.frame_samples()), Ok(960));
    assert_eq!(Playlist::new(8001).err(), Some(PlayerError::UnsupportedRate(8001)));
    assert_eq!(Playlist::new(0).err(), Some(PlayerError::UnsupportedRate(0)));
}

#[test]
fn cd_quality_stereo_is_mixed_down_and_resampled_once() {
    let dir = temp_dir("stereo");
    let path = dir.join("welcome.wav");
    // One second of 1 kHz on the left, silence on the right.
    let left: Vec<f64> = sine(1000.0, 44100, 44100, 16000.0).collect();
    write_int(
        &path,
        spec(2, 44100, 16, false),
        left.iter().flat_map(|l| [l.round() as i32, 0]),
    );

    for (rate, expected) in [(8000u32, 8000usize), (48000, 48000)] {
        let prompt = Prompt::load(&path, rate).expect("load");
        assert_eq!(prompt.rate(), rate);
        assert!(
            prompt.samples().len().abs_diff(expected) <= 1,
            "{} samples",
            prompt.samples().len()
        );
        assert_eq!(prompt.duration_ms(), 1000);
        let mid = &prompt.samples()[expected / 4..expected * 3 / 4];
        // Averaged with the silent channel: half the amplitude, same tone.
        let peak = mid.iter().map(|s| i32::from(*s).abs()).max().unwrap_or(0);
        assert!((7500..=8500).contains(&peak), "peak {peak}");
        assert!(goertzel(mid, 1000.0, rate) > 100.0 * goertzel(mid, 1500.0, rate));

        let mut list = Playlist::new(rate)
            .expect("rate")
            .with(Item::prompt(prompt))
            .expect("push");
        let (_, frames) = play_all(&mut list, 1000);
        assert!(frames.abs_diff(50) <= 1, "{frames} frames");
        let mut frame = vec![0i16; list.frame_samples()];
        assert_eq!(list.next_frame(&mut frame), Played::Finished);
        assert!(frame.iter().all(|s| *s == 0));
    }
}

#[test]
fn integer_depths_and_float_are_scaled_to_16_bits() {
    let dir = temp_dir("depths");
    let p24 = dir.join("mono24.wav");
    write_int(&p24, spec(1, 8000, 24, false), [0x12_3456, -0x40_0000, 0x7F_FFFF, 0]);
    let prompt = Prompt::load(&p24, 8000).expect("24-bit");
    assert_eq!(prompt.samples(), [0x1234, -0x4000, 0x7FFF, 0]);
    // The same file for an Opus leg: six times longer.
    assert_eq!(Prompt::load(&p24, 48000).expect("24-bit at 48 kHz").samples().len(), 24);

    let p8 = dir.join("mono8.wav");
    write_int(&p8, spec(1, 8000, 8, false), [64, -128, 127]);
    assert_eq!(
        Prompt::load(&p8, 8000).expect("8-bit").samples(),
        [16384, -32768, 32512]
    );

    let p32 = dir.join("mono32.wav");
    write_int(&p32, spec(1, 8000, 32, false), [0x4000_0000, i32::MIN]);
    assert_eq!(Prompt::load(&p32, 8000).expect("32-bit").samples(), [16384, -32768]);

    let pf = dir.join("float.wav");
    let mut w = hound::WavWriter::create(&pf, spec(1, 16000, 32, true)).expect("create");
    for s in [0.5f32, -1.0, 2.0, f32::NAN, 0.0] {
        w.write_sample(s).expect("write");
    }
    w.finalize().expect("finalize");
    assert_eq!(
        Prompt::load(&pf, 16000).expect("float").samples(),
        [16384, -32768, 32767, 0, 0]
    );
}

#[test]
fn loading_errors_are_typed() {
    let dir = temp_dir("errors");
    let missing = dir.join("nope.wav");
    assert_eq!(
        Prompt::load(&missing, 8000),
        Err(PlayerError::NotFound { path: missing.clone() })
    );

    let text = dir.join("notes.wav");
    std::fs::write(&text, b"this is not a wav file at all").expect("write");
    assert!(matches!(Prompt::load(&text, 8000), Err(PlayerError::BadFormat { path, .. }) if path == text));

    let good = dir.join("good.wav");
    write_int(&good, spec(1, 8000, 16, false), (0..800).map(|i| i * 10));
    let bytes = std::fs::read(&good).expect("read");
    let cut = dir.join("cut.wav");
    std::fs::write(&cut, &bytes[..bytes.len() - 101]).expect("write");
    assert!(matches!(Prompt::load(&cut, 8000), Err(PlayerError::BadFormat { .. })));
    assert_eq!(Prompt::load(&good, 8001), Err(PlayerError::UnsupportedRate(8001)));
    // A directory opens on Unix but cannot be read.
    assert!(matches!(
        Prompt::load(&dir, 8000),
        Err(PlayerError::Io { .. } | PlayerError::BadFormat { .. })
    ));
}

#[test]
fn cache_hits_share_one_buffer() {
    let dir = temp_dir("cache");
    let path = dir.join("moh.wav");
    write_int(&path, spec(1, 16000, 16, false), (0..1600).map(|i| (i % 100) * 100));
    let cache = PromptCache::new();
    assert!(cache.is_empty());
    let a = cache.load(&path, 8000).expect("first load");
    std::fs::remove_file(&path).expect("remove");
    // Served from the cache: the file is gone and the samples are the same allocation.
    let b = cache.load(&path, 8000).expect("cache hit");
    assert!(Arc::ptr_eq(a.shared(), b.shared()));
    assert_eq!(a.samples().len(), 800);
    assert_eq!(cache.len(), 1);
    // Another rate is another entry, loaded from disk.
    assert!(matches!(cache.load(&path, 48000), Err(PlayerError::NotFound { .. })));
    assert!(cache.get(&path, 8000).is_some());
    cache.evict(&path);
    assert!(cache.is_empty());
    assert_eq!(a.samples().len(), 800, "a playing call keeps its copy");
}

#[test]
fn european_ringback_is_425_hz_one_second_in_five() {
    let spec = TonePlan::Europe.tone(ToneKind::Ringback);
    let mut list = Playlist::new(8000)
        .expect("rate")
        .with(Item::tone(spec, Some(10_000)))
        .expect("tone");
    let (all, frames) = play_all(&mut list, 1000);
    assert_eq!(frames, 500);
    assert_eq!(all.len(), 80_000);
    let on = &all[..8000];
    // 425 Hz: 850 sign changes a second.
    assert!(
        zero_crossings(on).abs_diff(850) <= 3,
        "{} crossings",
        zero_crossings(on)
    );
    assert!(goertzel(on, 425.0, 8000) > 1000.0 * goertzel(on, 600.0, 8000));
    assert!(all[8000..40_000].iter().all(|s| *s == 0), "4 s of silence");
    assert!(all[40_000..48_000].iter().any(|s| *s != 0), "second burst");
    // Level: -13 dBm0 is about 5100 peak.
    let peak = on.iter().map(|s| i32::from(*s).abs()).max().unwrap_or(0);
    assert!((4900..=5300).contains(&peak), "peak {peak}");
}

#[test]
fn north_american_ringback_is_440_plus_480_two_on_four_off() {
    let spec = TonePlan::NorthAmerica.tone(ToneKind::Ringback);
    assert_eq!(spec.period_ms(), 6000);
    let mut g = ToneGenerator::new(&spec, 48000).expect("generator");
    let mut all = vec![0i16; 6 * 48000];
    for frame in all.chunks_mut(960) {
        assert_eq!(g.fill(frame), 960);
    }
    let on = &all[4800..91_200];
    let off_band = goertzel(on, 620.0, 48000);
    assert!(goertzel(on, 440.0, 48000) > 1000.0 * off_band);
    assert!(goertzel(on, 480.0, 48000) > 1000.0 * off_band);
    assert!(all[2 * 48000..].iter().all(|s| *s == 0));
    // Phase continuity: no jump at frame boundaries larger than inside frames.
    let step = |i: usize| (i32::from(all[i + 1]) - i32::from(all[i])).abs();
    let inside = (1..2 * 48000 - 1)
        .filter(|i| (i + 1) % 960 != 0)
        .map(step)
        .max()
        .unwrap_or(0);
    let across = (1..2 * 48000 / 960 - 1).map(|f| step(f * 960 - 1)).max().unwrap_or(0);
    assert!(across <= inside, "boundary step {across} > {inside}");
}

#[test]
fn tone_plans_cover_every_kind() {
    let kinds = [
        ToneKind::Dial,
        ToneKind::Ringback,
        ToneKind::Busy,
        ToneKind::Congestion,
        ToneKind::CallWaiting,
        ToneKind::RecordBeep,
    ];
    for plan in [TonePlan::Europe, TonePlan::NorthAmerica, TonePlan::UnitedKingdom] {
        for kind in kinds {
            assert!(ToneGenerator::new(&plan.tone(kind), 8000).is_ok(), "{plan:?} {kind:?}");
        }
    }
    assert_eq!(TonePlan::from_name("US"), Some(TonePlan::NorthAmerica));
    assert_eq!(TonePlan::from_name("gb"), Some(TonePlan::UnitedKingdom));
    assert_eq!(TonePlan::from_name("mars"), None);
    let busy = TonePlan::NorthAmerica.tone(ToneKind::Busy);
    let mut g = ToneGenerator::new(&busy, 8000).expect("busy");
    let mut second = vec![0i16; 8000];
    g.fill(&mut second);
    assert!(goertzel(&second[..4000], 620.0, 8000) > 1000.0 * goertzel(&second[4000..], 620.0, 8000) + 1.0);
    let bad = ToneSpec::continuous(&[5000.0], -13.0);
    assert!(matches!(
        ToneGenerator::new(&bad, 8000),
        Err(PlayerError::InvalidTone(_))
    ));
    assert!(ToneGenerator::new(&bad, 48000).is_ok());
}

#[test]
fn a_beep_played_once_ends() {
    let beep = TonePlan::Europe.tone(ToneKind::RecordBeep).once();
    let mut list = Playlist::new(8000)
        .expect("rate")
        .with(Item::tone(beep, None))
        .expect("beep");
    let (all, frames) = play_all(&mut list, 10_000);
    // 0.5 s on, 15 s off, then done.
    assert_eq!(frames, 775);
    assert!(goertzel(&all[..4000], 1400.0, 8000) > 1000.0 * goertzel(&all[..4000], 1000.0, 8000));
    assert!(list.is_finished());
}

fn ramp_prompt(n: usize, rate: u32) -> Prompt {
    let samples: Vec<i16> = (1..=n).map(|i| i as i16).collect();
    Prompt::from_samples(samples, rate).expect("prompt")
}

#[test]
fn items_play_in_order_with_exact_lengths() {
    let mut list = Playlist::new(8000)
        .expect("rate")
        .with(Item::prompt(ramp_prompt(250, 8000)))
        .and_then(|l| l.with(Item::silence(30)))
        .and_then(|l| l.with(Item::tone(TonePlan::Europe.tone(ToneKind::Dial), Some(55))))
        .expect("items");
    let (all, frames) = play_all(&mut list, 100);
    // 250 + 240 + 440 = 930 samples: 5 full frames and a part.
    assert_eq!(frames, 6);
    assert_eq!(&all[..250], &(1..=250).map(|i| i as i16).collect::<Vec<_>>()[..]);
    assert!(all[250..490].iter().all(|s| *s == 0));
    assert!(all[490..930].iter().any(|s| *s != 0));
    assert!(all[930..].iter().all(|s| *s == 0));
    assert!(list.is_finished());
    let wrong_rate = Prompt::from_samples(vec![1i16; 10], 48000).expect("prompt");
    assert_eq!(
        Playlist::new(8000).expect("rate").with(Item::prompt(wrong_rate)).err(),
        Some(PlayerError::RateMismatch {
            prompt: 48000,
            playlist: 8000
        })
    );
}

#[test]
fn music_on_hold_loops() {
    // 100 ms of music and 20 ms of silence: six frames per pass.
    let mut list = Playlist::new(8000)
        .expect("rate")
        .with(Item::prompt(ramp_prompt(800, 8000)))
        .and_then(|l| l.with(Item::silence(20)))
        .expect("items")
        .looping(true);
    let (all, frames) = play_all(&mut list, 60);
    assert_eq!(frames, 60);
    assert_eq!(&all[..960], &all[960..1920]);
    assert_eq!(&all[..960], &all[9 * 960..10 * 960]);
    assert!(!list.is_finished());

    // A loop of nothing ends rather than spinning.
    let mut empty = Playlist::new(8000)
        .expect("rate")
        .with(Item::silence(0))
        .and_then(|l| l.with(Item::prompt(ramp_prompt(0, 8000))))
        .expect("items")
        .looping(true);
    let mut frame = vec![1i16; 160];
    assert_eq!(empty.next_frame(&mut frame), Played::Finished);
    assert!(frame.iter().all(|s| *s == 0));
}

#[test]
fn barge_in_stops_an_interruptible_menu() {
    let notice = Item::prompt(ramp_prompt(320, 8000));
    let menu = Item::prompt(ramp_prompt(1600, 8000)).interruptible(true);
    let mut list = Playlist::new(8000)
        .expect("rate")
        .with(notice)
        .and_then(|l| l.with(menu))
        .expect("items");
    let mut frame = vec![0i16; 160];
    assert_eq!(list.next_frame(&mut frame), Played::Frame);
    // A digit during the notice: ignored, the notice goes on.
    assert!(!list.interrupt());
    assert_eq!(list.next_frame(&mut frame), Played::Frame);
    assert_eq!(frame[159], 320);
    assert_eq!(list.next_frame(&mut frame), Played::Frame);
    assert!(list.interrupt());
    assert!(!list.interrupt(), "reported once");
    assert_eq!(list.next_frame(&mut frame), Played::Interrupted);
    assert!(frame.iter().all(|s| *s == 0));
    assert_eq!(list.next_frame(&mut frame), Played::Finished);

    // Interruptible music on hold stops too.
    let mut moh = Playlist::new(8000)
        .expect("rate")
        .with(Item::tone(TonePlan::Europe.tone(ToneKind::Dial), None).interruptible(true))
        .expect("tone")
        .looping(true);
    assert_eq!(moh.next_frame(&mut frame), Played::Frame);
    assert!(moh.interrupt());
    assert_eq!(moh.next_frame(&mut frame), Played::Interrupted);
    // Nothing to interrupt once finished.
    assert!(!moh.interrupt());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn garbage_wav_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Prompt::decode(&bytes[..], 8000);
    }

    #[test]
    fn damaged_wav_files_never_panic(flips in proptest::collection::vec((0usize..140, any::<u8>()), 1..6), cut in 0usize..140) {
        let mut bytes = Vec::new();
        {
            let mut w = hound::WavWriter::new(std::io::Cursor::new(&mut bytes), spec(2, 22050, 24, false))
                .expect("writer");
            for i in 0..24 {
                w.write_sample(i * 1000).expect("write");
            }
            w.finalize().expect("finalize");
        }
        for (at, value) in flips {
            if let Some(b) = bytes.get_mut(at) {
                *b = value;
            }
        }
        bytes.truncate(cut.max(1));
        let _ = Prompt::decode(&bytes[..], 48000);
    }
}
