use super::*;

fn tone(n: usize) -> Vec<i16> {
    (0..n).map(|i| ((i as f64 * 0.3).sin() * 10_000.0) as i16).collect()
}

#[test]
fn a_finished_file_reads_back_with_hound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.wav");
    let mut w = WavWriter::create(&path, 2, 8000).unwrap();
    let samples = tone(2 * 8000 * 3 + 10);
    for chunk in samples.chunks(320) {
        w.write(chunk).unwrap();
    }
    assert_eq!(w.finish().unwrap(), samples.len() as u64 * 2);
    let r = hound::WavReader::open(&path).unwrap();
    assert_eq!(
        (r.spec().channels, r.spec().sample_rate, r.spec().bits_per_sample),
        (2, 8000, 16)
    );
    let back: Vec<i16> = r.into_samples().map(Result::unwrap).collect();
    assert_eq!(back, samples);
}

#[test]
fn a_writer_dropped_mid_way_leaves_a_readable_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.wav");
    let mut w = WavWriter::create(&path, 2, 16000).unwrap();
    let samples = tone(2 * 16000 * 5 / 2);
    for chunk in samples.chunks(640) {
        w.write(chunk).unwrap();
    }
    // Dropped without finish: the way a killed process leaves it.
    drop(w);
    let r = hound::WavReader::open(&path).unwrap();
    // The header counts what was checkpointed (two whole seconds).
    assert_eq!(r.duration(), 2 * 16000);
    drop(r);
    // The buffer was lost with the process; the checkpointed part is intact.
    let fixed = repair(&path).unwrap();
    assert!(!fixed.changed);
    assert_eq!(fixed.duration, Duration::from_secs(2));
}

#[test]
fn repair_counts_data_past_a_stale_header_and_cuts_a_partial_frame() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.wav");
    let mut w = WavWriter::create(&path, 2, 8000).unwrap();
    let samples = tone(2 * 8000);
    w.write(&samples).unwrap();
    drop(w);
    // Data written after the last header update, ending mid sample frame
    // (a crash between writes).
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&[1, 2, 3, 4, 5, 6, 7]).unwrap();
    drop(f);
    let fixed = repair(&path).unwrap();
    assert!(fixed.changed);
    assert_eq!(fixed.data_bytes, 2 * 2 * 8000 + 4);
    let r = hound::WavReader::open(&path).unwrap();
    assert_eq!(r.duration(), 8001);
    let back: Vec<i16> = r.into_samples().map(Result::unwrap).collect();
    assert_eq!(&back[..samples.len()], &samples[..]);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), HEADER_LEN + 2 * 2 * 8000 + 4);
}

#[test]
fn repair_of_a_header_with_zero_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zero.wav");
    let mut bytes = header(1, 8000, 0).to_vec();
    bytes.extend(tone(800).iter().flat_map(|s| s.to_le_bytes()));
    std::fs::write(&path, &bytes).unwrap();
    let fixed = repair(&path).unwrap();
    assert_eq!(fixed.duration, Duration::from_millis(100));
    assert_eq!(hound::WavReader::open(&path).unwrap().duration(), 800);
}

#[test]
fn repair_refuses_what_is_not_wav() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.wav");
    for bytes in [
        &b""[..],
        b"RIFF\0\0\0\0WAVE",
        b"hello world, this is text",
        &header(2, 8000, 0)[..30],
    ] {
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(repair(&path), Err(WavError::NotWav { .. })), "{bytes:?}");
    }
    assert!(matches!(repair(&dir.path().join("none.wav")), Err(WavError::Io { .. })));
}

#[test]
fn repair_finds_data_after_other_chunks() {
    // A file from another tool: a LIST chunk before data.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list.wav");
    let h = header(1, 8000, 0);
    let mut bytes = h[..36].to_vec();
    bytes.extend_from_slice(b"LIST");
    bytes.extend_from_slice(&6u32.to_le_bytes());
    bytes.extend_from_slice(b"abcdef");
    bytes.extend_from_slice(b"data\0\0\0\0");
    bytes.extend(tone(80).iter().flat_map(|s| s.to_le_bytes()));
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(repair(&path).unwrap().data_bytes, 160);
    assert_eq!(hound::WavReader::open(&path).unwrap().duration(), 80);
}
