//! One direction of a call leg from one codec to another, frame by frame.
//!
//! Decode, convert the rate, re-frame into 20 ms, encode. The [`Transcoder`] keeps the
//! codec and filter state between frames, so it must see every packet of the stream in
//! order (feed [`Transcoder::push_lost`] for a gap).
//!
//! Rates: when one side is Opus, its PCM rate is by default that of the other side
//! (Opus decodes straight to 8 kHz, and encodes from 8 kHz), which costs less than
//! decoding at 48 kHz and resampling and adds no filter delay; with
//! [`TranscodeOptions::opus_native_rate`] off, Opus runs at 48 kHz and the band-limited
//! [`Resampler`] converts. G.711 to G.711 maps code to code through a 256-entry table.

use super::{g711, Codec, CodecError, Decoder, Encoder, OpusConfig, Resampler};

/// How a [`Transcoder`] is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TranscodeOptions {
    /// Encoder settings when the output is Opus (its `sample_rate` is chosen by the transcoder).
    pub opus: OpusConfig,
    /// Run the Opus side at the other side's rate instead of 48 kHz plus a resampler.
    pub opus_native_rate: bool,
}

/// Opus encoder complexity when the source is G.711 (8 kHz narrowband):
/// at complexity 5 SILK spends more than half its encoding time on warped
/// noise shaping and delayed-decision quantisation, which buy little on
/// audio that G.711 already band-limited and quantised; 0 drops a few more
/// analysis steps (LPC order is 10 for narrowband at any complexity). The
/// encoder's cost is most of a browser call's CPU (docs/performance.md,
/// browser agents; `cargo bench -p media --bench codec`).
pub const NARROWBAND_COMPLEXITY: u8 = 0;

/// Opus bitrate when the source is G.711: SILK narrowband is good speech
/// from 12 kbit/s on, and a narrowband source has no more to give at 24;
/// the encoder costs less as the bitrate drops.
pub const NARROWBAND_BITRATE: u32 = 16_000;

impl Default for TranscodeOptions {
    fn default() -> Self {
        TranscodeOptions {
            opus: OpusConfig {
                complexity: NARROWBAND_COMPLEXITY,
                bitrate: NARROWBAND_BITRATE,
                ..OpusConfig::default()
            },
            opus_native_rate: true,
        }
    }
}

/// Converts RTP payloads of one codec into 20 ms payloads of another.
#[derive(Debug)]
pub struct Transcoder {
    from: Codec,
    to: Codec,
    path: Path,
}

#[derive(Debug)]
enum Path {
    /// G.711 to G.711: map each code; `pending` holds codes not yet framed.
    Map { table: Box<[u8; 256]>, pending: Vec<u8> },
    /// Through PCM: `pending` holds samples at the encoder's rate not yet encoded.
    Pcm {
        decoder: Decoder,
        resampler: Option<Resampler>,
        encoder: Encoder,
        decoded: Vec<i16>,
        pending: Vec<i16>,
    },
}

impl Transcoder {
    /// A transcoder from `from` to `to` with default options.
    pub fn new(from: Codec, to: Codec) -> Result<Transcoder, CodecError> {
        Transcoder::with_options(from, to, TranscodeOptions::default())
    }

    /// A transcoder from `from` to `to`.
    pub fn with_options(from: Codec, to: Codec, options: TranscodeOptions) -> Result<Transcoder, CodecError> {
        for codec in [from, to] {
            if !codec.is_audio() {
                return Err(CodecError::NotAudio(codec));
            }
        }
        let path = match (from, to) {
            (Codec::Pcmu | Codec::Pcma, Codec::Pcmu | Codec::Pcma) => {
                let mut table = Box::new([0u8; 256]);
                for (code, slot) in table.iter_mut().enumerate() {
                    let code = code as u8;
                    *slot = match (from, to) {
                        (Codec::Pcmu, Codec::Pcma) => g711::ulaw_to_alaw(code),
                        (Codec::Pcma, Codec::Pcmu) => g711::alaw_to_ulaw(code),
                        _ => code,
                    };
                }
                Path::Map {
                    table,
                    pending: Vec::new(),
                }
            }
            _ => {
                let native = options.opus_native_rate;
                let decoder = match from {
                    Codec::Opus if native => Decoder::opus(to.clock_rate())?,
                    _ => Decoder::new(from)?,
                };
                let encoder = match to {
                    Codec::Opus => {
                        let rate = if native { from.clock_rate() } else { to.clock_rate() };
                        Encoder::opus(OpusConfig {
                            sample_rate: rate,
                            ..options.opus
                        })?
                    }
                    _ => Encoder::new(to)?,
                };
                let resampler = if decoder.sample_rate() == encoder.sample_rate() {
                    None
                } else {
                    Some(Resampler::new(decoder.sample_rate(), encoder.sample_rate())?)
                };
                Path::Pcm {
                    decoder,
                    resampler,
                    encoder,
                    decoded: Vec::new(),
                    pending: Vec::new(),
                }
            }
        };
        Ok(Transcoder { from, to, path })
    }

    /// The input codec.
    pub fn from_codec(&self) -> Codec {
        self.from
    }

    /// The output codec.
    pub fn to_codec(&self) -> Codec {
        self.to
    }

    /// Takes one received payload. Drain the output with [`Transcoder::poll_payload`].
    pub fn push(&mut self, payload: &[u8]) -> Result<(), CodecError> {
        match &mut self.path {
            Path::Map { table, pending } => {
                pending.extend(payload.iter().map(|&c| table[usize::from(c)]));
                Ok(())
            }
            Path::Pcm {
                decoder,
                resampler,
                decoded,
                pending,
                ..
            } => {
                decoded.clear();
                decoder.decode(payload, decoded)?;
                convert(resampler, decoded, pending);
                Ok(())
            }
        }
    }

    /// Stands in for one lost 20 ms packet (the decoder's concealment).
    pub fn push_lost(&mut self) -> Result<(), CodecError> {
        match &mut self.path {
            Path::Map { table, pending } => {
                // μ-law and A-law silence, mapped like any other code.
                let silence = if self.from == Codec::Pcmu { 0xFF } else { 0xD5 };
                let code = table[silence];
                pending.extend(std::iter::repeat_n(code, Codec::Pcmu.frame_samples()));
                Ok(())
            }
            Path::Pcm {
                decoder,
                resampler,
                decoded,
                pending,
                ..
            } => {
                decoded.clear();
                decoder.conceal(decoded)?;
                convert(resampler, decoded, pending);
                Ok(())
            }
        }
    }

    /// Appends the next 20 ms output payload to `out` and returns its length, or `None`
    /// when less than a frame is pending. Call until `None` after each push.
    pub fn poll_payload(&mut self, out: &mut Vec<u8>) -> Result<Option<usize>, CodecError> {
        match &mut self.path {
            Path::Map { pending, .. } => {
                let frame = Codec::Pcmu.frame_samples();
                if pending.len() < frame {
                    return Ok(None);
                }
                out.extend(pending.drain(..frame));
                Ok(Some(frame))
            }
            Path::Pcm { encoder, pending, .. } => {
                let frame = encoder.frame_samples();
                if pending.len() < frame {
                    return Ok(None);
                }
                let n = encoder.encode(&pending[..frame], out)?;
                pending.drain(..frame);
                Ok(Some(n))
            }
        }
    }
}

fn convert(resampler: &mut Option<Resampler>, decoded: &[i16], pending: &mut Vec<i16>) {
    match resampler {
        Some(r) => r.process(decoded, pending),
        None => pending.extend_from_slice(decoded),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testutil::{best_correlation, dominant_frequency, sine};

    /// Encodes `pcm` with `from`, transcodes to `to`, decodes; returns the output PCM.
    fn through(from: Codec, to: Codec, options: TranscodeOptions, pcm: &[i16]) -> Vec<i16> {
        let mut enc = Encoder::new(from).expect("audio codec");
        let mut t = Transcoder::with_options(from, to, options).expect("audio codecs");
        let mut dec = Decoder::new(to).expect("audio codec");
        let (mut payload, mut converted, mut out) = (Vec::new(), Vec::new(), Vec::new());
        for frame in pcm.chunks_exact(from.frame_samples()) {
            payload.clear();
            enc.encode(frame, &mut payload).expect("encode");
            t.push(&payload).expect("transcode");
            converted.clear();
            while let Some(n) = t.poll_payload(&mut converted).expect("poll") {
                dec.decode(&converted[converted.len() - n..], &mut out).expect("decode");
            }
        }
        out
    }

    #[test]
    fn pcmu_pcma_both_ways_keep_the_signal() {
        let pcm = sine(1000.0, 8000, 8000, 12_000.0);
        for (from, to) in [(Codec::Pcmu, Codec::Pcma), (Codec::Pcma, Codec::Pcmu)] {
            let out = through(from, to, TranscodeOptions::default(), &pcm);
            assert_eq!(out.len(), pcm.len());
            // Code mapping adds no delay; error stays within G.711 steps.
            for (a, b) in pcm.iter().zip(&out) {
                assert!((i32::from(*a) - i32::from(*b)).abs() < 700, "{a} vs {b}");
            }
        }
        let mut t = Transcoder::new(Codec::Pcmu, Codec::Pcma).expect("audio codecs");
        t.push(&[0xFF; 80]).expect("push");
        let mut out = Vec::new();
        assert_eq!(t.poll_payload(&mut out), Ok(None));
        t.push(&[0x80; 80]).expect("push");
        assert_eq!(t.poll_payload(&mut out), Ok(Some(160)));
        assert_eq!(out[0], 0xD5);
        assert_eq!(out[80], g711::alaw_encode(32124));
    }

    #[test]
    fn pcmu_opus_round_trips_keep_the_tone() {
        for native in [true, false] {
            let options = TranscodeOptions {
                opus_native_rate: native,
                ..TranscodeOptions::default()
            };
            // PCMU (8k) -> Opus (48k clock): the tone comes out at 1 kHz at 48 kHz.
            let pcm8 = sine(1000.0, 8000, 8000, 10_000.0);
            let out48 = through(Codec::Pcmu, Codec::Opus, options, &pcm8);
            assert_eq!(out48.len(), 48000);
            let f = dominant_frequency(&out48[9600..], 48000);
            assert!((f - 1000.0).abs() <= 10.0, "native {native}: PCMU->Opus tone at {f} Hz");
            // Opus -> PCMU.
            let pcm48 = sine(1000.0, 48000, 48000, 10_000.0);
            let out8 = through(Codec::Opus, Codec::Pcmu, options, &pcm48);
            assert_eq!(out8.len(), 8000);
            let f = dominant_frequency(&out8[1600..], 8000);
            assert!((f - 1000.0).abs() <= 10.0, "native {native}: Opus->PCMU tone at {f} Hz");
            let reference = sine(1000.0, 8000, 8000, 10_000.0);
            let (corr, _) = best_correlation(&reference[1600..7000], &out8[1600..], 8000);
            assert!(corr > 0.9, "native {native}: correlation {corr}");
        }
    }

    #[test]
    fn loss_is_concealed_and_framing_holds() {
        let mut t = Transcoder::new(Codec::Opus, Codec::Pcmu).expect("audio codecs");
        let mut enc = Encoder::new(Codec::Opus).expect("audio codec");
        let pcm = sine(700.0, 48000, 9600, 8000.0);
        let mut out = Vec::new();
        for (i, frame) in pcm.chunks_exact(960).enumerate() {
            if i == 5 {
                t.push_lost().expect("conceal");
            } else {
                let mut p = Vec::new();
                enc.encode(frame, &mut p).expect("encode");
                t.push(&p).expect("push");
            }
            assert_eq!(t.poll_payload(&mut out), Ok(Some(160)));
            assert_eq!(t.poll_payload(&mut out), Ok(None));
        }
        assert_eq!(out.len(), 1600);
        assert!(t.push(&[0x0B, 0x3F, 1]).is_err());
        let err = Transcoder::new(Codec::TelephoneEvent, Codec::Pcmu).err();
        assert_eq!(err, Some(CodecError::NotAudio(Codec::TelephoneEvent)));
    }
}
