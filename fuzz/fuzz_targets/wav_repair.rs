//! Files a crash leaves behind: arbitrary bytes as a WAV for
//! `recordings::repair`, and with a sidecar (arbitrary bytes, or a real
//! sidecar in state `recording` with fuzzed fields) for
//! `recordings::recover`.
//!
//! Checks: no panic; a repaired file repairs again to itself (`changed` is
//! false, same length), holds whole sample frames, and its header's sizes
//! match its length.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use recordings::{recover, repair, ChannelLayout, Sidecar, State};

#[derive(Debug, Arbitrary)]
enum SidecarInput {
    None,
    Raw(Vec<u8>),
    Fields {
        started_unix_ms: u64,
        duration_ms: u64,
        bytes: u64,
        sample_rate: u32,
        mono: bool,
        /// The mono mix's name: a plain name from a small set (the target
        /// must not repair files outside its directory).
        mix: Option<u8>,
        recording: bool,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// A real header (channels, sample rate) before the bytes, so the
    /// repair itself is reached and not only the header checks.
    header: Option<(u8, u32)>,
    wav: Vec<u8>,
    mix: Vec<u8>,
    sidecar: SidecarInput,
}

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("switchboard-fuzz-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        dir
    })
}

fn check_repaired(path: &std::path::Path) {
    let Ok(first) = repair(path) else { return };
    let len = std::fs::metadata(path).expect("file").len();
    let frame = u64::from(first.channels) * 2;
    assert_eq!(first.data_bytes % frame, 0, "whole sample frames");
    let again = repair(path).expect("a repaired file repairs again");
    assert!(!again.changed, "repair is idempotent");
    assert_eq!(again.data_bytes, first.data_bytes);
    assert_eq!(std::fs::metadata(path).expect("file").len(), len);
    let bytes = std::fs::read(path).expect("file");
    let riff = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    assert_eq!(u64::from(riff) + 8, len, "RIFF size matches the file");
}

fuzz_target!(|input: Input| {
    let wav = dir().join("call.wav");
    let json = Sidecar::path_for(&wav);
    let mix = dir().join("call-mix.wav");
    let _ = std::fs::remove_file(&json);
    let mut bytes = Vec::new();
    if let Some((channels, rate)) = input.header {
        let channels = u16::from(channels % 3 + 1);
        bytes.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0");
        bytes.extend_from_slice(&channels.to_le_bytes());
        bytes.extend_from_slice(&rate.to_le_bytes());
        bytes.extend_from_slice(&rate.wrapping_mul(2 * u32::from(channels)).to_le_bytes());
        bytes.extend_from_slice(&(2 * channels).to_le_bytes());
        bytes.extend_from_slice(b"\x10\0data\0\0\0\0");
    }
    bytes.extend_from_slice(&input.wav);
    std::fs::write(&wav, &bytes).expect("write");
    std::fs::write(&mix, &input.mix).expect("write");
    match input.sidecar {
        SidecarInput::None => check_repaired(&wav),
        SidecarInput::Raw(bytes) => {
            std::fs::write(&json, bytes).expect("write");
            let _ = recover(&wav);
        }
        SidecarInput::Fields {
            started_unix_ms,
            duration_ms,
            bytes,
            sample_rate,
            mono,
            mix: mix_name,
            recording,
        } => {
            let mut sidecar = Sidecar::new("fuzz", started_unix_ms);
            sidecar.duration_ms = duration_ms;
            sidecar.bytes = bytes;
            sidecar.sample_rate = sample_rate;
            sidecar.layout = if mono { ChannelLayout::Mono } else { ChannelLayout::CallerLeftAgentRight };
            sidecar.file = "call.wav".into();
            sidecar.mono_mix = mix_name.map(|n| ["call-mix.wav", "missing.wav", "call.wav", ""][usize::from(n) % 4].into());
            if !recording {
                sidecar.state = State::Complete;
            }
            sidecar.write(&json).expect("write sidecar");
            if let Ok(Some(after)) = recover(&wav) {
                assert!(!matches!(after.state, State::Recording), "a recovered sidecar is no longer recording");
                assert_eq!(Sidecar::read(&json).ok().as_ref(), Some(&after), "what recover returns is on disk");
            }
        }
    }
});
