//! Opus (RFC 6716) for call legs: mono, 20 ms frames, VoIP application.
//!
//! Wraps the pure-Rust `ropus` crate (a fixed-point port of libopus, bit-exact against
//! the reference) behind types of our own, so the implementation can be swapped without
//! touching callers. Why `ropus`, and the numbers behind the choice, are in
//! `docs/media-codecs.md`.
//!
//! The RTP clock of Opus is always 48 kHz (RFC 7587), but the codec can produce or take
//! PCM at 8, 12, 16, 24 or 48 kHz directly, which saves a resampler when the other leg is
//! narrowband.

use super::CodecError;
use ropus::{Application, Bitrate, Channels, DecodeMode, InbandFec};

/// Sample rates Opus encodes from and decodes to directly.
pub const OPUS_RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];
/// The largest packet we emit (RFC 6716 caps one frame at 1275 bytes).
const MAX_PACKET: usize = 1276;
/// Milliseconds in one frame we encode.
const FRAME_MS: u32 = 20;
/// Milliseconds in the longest packet a peer may send (RFC 6716: 120 ms).
const MAX_PACKET_MS: u32 = 120;

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusConfig {
    /// PCM rate of the frames given to [`OpusEncoder::encode`]: one of [`OPUS_RATES`].
    pub sample_rate: u32,
    /// Target bitrate in bit/s (6000..=510000); 24 kbit/s is wideband speech.
    pub bitrate: u32,
    /// 0 (cheapest) to 10 (best); 5 costs less for speech at little loss.
    pub complexity: u8,
    /// Add in-band forward error correction (LBRR) so the next packet can rebuild a lost one.
    pub inband_fec: bool,
    /// Expected packet loss in percent, which sizes the FEC data (0..=100).
    pub packet_loss_percent: u8,
    /// Discontinuous transmission: send almost nothing during silence.
    pub dtx: bool,
}

impl Default for OpusConfig {
    fn default() -> Self {
        OpusConfig {
            sample_rate: 48000,
            bitrate: 24000,
            complexity: 5,
            inband_fec: false,
            packet_loss_percent: 0,
            dtx: false,
        }
    }
}

/// An Opus encoder for one direction of one call leg.
pub struct OpusEncoder {
    inner: ropus::Encoder,
    frame: usize,
    scratch: [u8; MAX_PACKET],
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("frame", &self.frame)
            .finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// An encoder with `config`.
    pub fn new(config: OpusConfig) -> Result<OpusEncoder, CodecError> {
        if !OPUS_RATES.contains(&config.sample_rate) {
            return Err(CodecError::UnsupportedRate(config.sample_rate));
        }
        let bitrate = bitrate_setting(config.bitrate)?;
        if config.complexity > 10 {
            return Err(CodecError::InvalidSetting("complexity"));
        }
        if config.packet_loss_percent > 100 {
            return Err(CodecError::InvalidSetting("packet_loss_percent"));
        }
        let fec = if config.inband_fec {
            InbandFec::Enabled
        } else {
            InbandFec::Disabled
        };
        let inner = ropus::Encoder::builder(config.sample_rate, Channels::Mono, Application::Voip)
            .bitrate(bitrate)
            .complexity(config.complexity)
            .inband_fec(fec)
            .packet_loss_perc(config.packet_loss_percent)
            .dtx(config.dtx)
            .build()
            .map_err(|_| CodecError::Opus("encoder initialisation failed"))?;
        let frame = (config.sample_rate * FRAME_MS / 1000) as usize;
        Ok(OpusEncoder {
            inner,
            frame,
            scratch: [0; MAX_PACKET],
        })
    }

    /// Samples per 20 ms frame at the configured rate.
    pub fn frame_samples(&self) -> usize {
        self.frame
    }

    /// Encodes one 20 ms frame and appends the packet to `out`; returns its length.
    ///
    /// With DTX on, a silent frame may give a packet of 1 or 2 bytes, which a sender
    /// may choose not to transmit.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<usize, CodecError> {
        if pcm.len() != self.frame {
            return Err(CodecError::FrameSize {
                expected: self.frame,
                got: pcm.len(),
            });
        }
        let n = self
            .inner
            .encode(pcm, &mut self.scratch)
            .map_err(|_| CodecError::Opus("encode failed"))?;
        let packet = self
            .scratch
            .get(..n)
            .ok_or(CodecError::Opus("encoder overran its buffer"))?;
        out.extend_from_slice(packet);
        Ok(n)
    }

    /// Changes the target bitrate (bit/s) from the next frame on.
    pub fn set_bitrate(&mut self, bitrate: u32) -> Result<(), CodecError> {
        let bitrate = bitrate_setting(bitrate)?;
        self.inner
            .set_bitrate(bitrate)
            .map_err(|_| CodecError::InvalidSetting("bitrate"))
    }

    /// Updates the expected loss (percent), e.g. from RTCP receiver reports, to size FEC.
    pub fn set_packet_loss_percent(&mut self, percent: u8) -> Result<(), CodecError> {
        self.inner
            .set_packet_loss_perc(percent.min(100))
            .map_err(|_| CodecError::InvalidSetting("packet_loss_percent"))
    }
}

/// An Opus decoder for one direction of one call leg.
pub struct OpusDecoder {
    inner: ropus::Decoder,
    /// Samples in 20 ms at the output rate.
    frame: usize,
    /// Room for the longest packet a peer may send.
    scratch: Vec<i16>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("frame", &self.frame)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A decoder giving PCM at `sample_rate`, one of [`OPUS_RATES`].
    pub fn new(sample_rate: u32) -> Result<OpusDecoder, CodecError> {
        if !OPUS_RATES.contains(&sample_rate) {
            return Err(CodecError::UnsupportedRate(sample_rate));
        }
        let inner = ropus::Decoder::new(sample_rate, Channels::Mono)
            .map_err(|_| CodecError::Opus("decoder initialisation failed"))?;
        let frame = (sample_rate * FRAME_MS / 1000) as usize;
        let scratch = vec![0; (sample_rate * MAX_PACKET_MS / 1000) as usize];
        Ok(OpusDecoder { inner, frame, scratch })
    }

    /// Samples in 20 ms at the output rate.
    pub fn frame_samples(&self) -> usize {
        self.frame
    }

    /// Decodes one packet (any legal duration up to 120 ms) and appends the PCM to
    /// `out`; returns the number of samples. A malformed packet is an error and leaves
    /// `out` untouched; call [`OpusDecoder::conceal`] in its place.
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<i16>) -> Result<usize, CodecError> {
        if packet.is_empty() {
            return self.conceal(out);
        }
        let n = self
            .inner
            .decode(packet, &mut self.scratch, DecodeMode::Normal)
            .map_err(decode_error)?;
        self.append(n, out)
    }

    /// Packet-loss concealment: appends 20 ms extrapolated from the previous packets.
    pub fn conceal(&mut self, out: &mut Vec<i16>) -> Result<usize, CodecError> {
        let frame = self.frame;
        let buf = self
            .scratch
            .get_mut(..frame)
            .ok_or(CodecError::Opus("concealment buffer"))?;
        let n = self.inner.decode(&[], buf, DecodeMode::Normal).map_err(decode_error)?;
        self.append(n, out)
    }

    /// Rebuilds a lost 20 ms frame from the in-band FEC data of the packet that followed
    /// it (`next`), appending it to `out`; if `next` carries no FEC this conceals instead.
    /// Decode `next` itself afterwards with [`OpusDecoder::decode`].
    pub fn decode_fec(&mut self, next: &[u8], out: &mut Vec<i16>) -> Result<usize, CodecError> {
        if next.is_empty() {
            return self.conceal(out);
        }
        let frame = self.frame;
        let buf = self.scratch.get_mut(..frame).ok_or(CodecError::Opus("FEC buffer"))?;
        let n = self.inner.decode(next, buf, DecodeMode::Fec).map_err(decode_error)?;
        self.append(n, out)
    }

    fn append(&self, n: usize, out: &mut Vec<i16>) -> Result<usize, CodecError> {
        let pcm = self
            .scratch
            .get(..n)
            .ok_or(CodecError::Opus("decoder overran its buffer"))?;
        out.extend_from_slice(pcm);
        Ok(n)
    }
}

/// Opus bitrates run from 6 to 510 kbit/s (RFC 6716 section 2.1.1).
fn bitrate_setting(bits: u32) -> Result<Bitrate, CodecError> {
    if !(6000..=510_000).contains(&bits) {
        return Err(CodecError::InvalidSetting("bitrate"));
    }
    Bitrate::try_bits(bits).map_err(|_| CodecError::InvalidSetting("bitrate"))
}

fn decode_error(e: ropus::DecodeError) -> CodecError {
    match e {
        ropus::DecodeError::InvalidPacket | ropus::DecodeError::BadArg => CodecError::InvalidPayload,
        _ => CodecError::Opus("decode failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testutil::{best_correlation, sine};

    fn round_trip(rate: u32, config: OpusConfig) -> (Vec<i16>, Vec<i16>, usize) {
        let mut enc = OpusEncoder::new(OpusConfig {
            sample_rate: rate,
            ..config
        })
        .expect("valid config");
        let mut dec = OpusDecoder::new(rate).expect("valid rate");
        let input = sine(1000.0, rate, rate as usize, 10_000.0);
        let (mut packet, mut output, mut bytes) = (Vec::new(), Vec::new(), 0);
        for frame in input.chunks_exact(enc.frame_samples()) {
            packet.clear();
            bytes += enc.encode(frame, &mut packet).expect("encode");
            assert_eq!(dec.decode(&packet, &mut output).expect("decode"), dec.frame_samples());
        }
        (input, output, bytes)
    }

    #[test]
    fn tone_survives_round_trip_at_each_rate() {
        for rate in [8000, 16000, 48000] {
            let (input, output, bytes) = round_trip(rate, OpusConfig::default());
            assert_eq!(output.len(), input.len());
            let (corr, _lag) = best_correlation(&input, &output, rate);
            assert!(corr > 0.98, "{rate} Hz: correlation {corr}");
            // One second at 24 kbit/s is about 3000 bytes.
            assert!((1500..4500).contains(&bytes), "{rate} Hz: {bytes} bytes");
        }
    }

    #[test]
    fn bitrate_is_honoured() {
        let (_, _, low) = round_trip(
            48000,
            OpusConfig {
                bitrate: 12000,
                ..OpusConfig::default()
            },
        );
        let (_, _, high) = round_trip(
            48000,
            OpusConfig {
                bitrate: 64000,
                ..OpusConfig::default()
            },
        );
        assert!(low < 2000 && high > 5000, "12k: {low} bytes, 64k: {high} bytes");
    }

    #[test]
    fn concealment_and_fec_fill_a_gap() {
        let config = OpusConfig {
            inband_fec: true,
            packet_loss_percent: 20,
            bitrate: 32000,
            ..OpusConfig::default()
        };
        let mut enc = OpusEncoder::new(config).expect("valid config");
        let mut dec = OpusDecoder::new(48000).expect("valid rate");
        let input = sine(440.0, 48000, 48000, 8000.0);
        let packets: Vec<Vec<u8>> = input
            .chunks_exact(960)
            .map(|f| {
                let mut p = Vec::new();
                enc.encode(f, &mut p).expect("encode");
                p
            })
            .collect();
        let mut out = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            match i {
                20 => assert_eq!(dec.conceal(&mut out).expect("plc"), 960),
                30 => assert_eq!(dec.decode_fec(&packets[31], &mut out).expect("fec"), 960),
                _ => assert_eq!(dec.decode(p, &mut out).expect("decode"), 960),
            }
        }
        assert_eq!(out.len(), input.len());
        // Concealed and recovered frames still carry the tone.
        for lost in [20, 30] {
            let range = lost * 960..(lost + 1) * 960;
            let (corr, _) = best_correlation(&input[range.clone()], &out[range.start..range.end + 480], 48000);
            assert!(corr > 0.5, "frame {lost}: correlation {corr}");
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(OpusDecoder::new(44100).err(), Some(CodecError::UnsupportedRate(44100)));
        let bad_rate = OpusConfig {
            sample_rate: 11025,
            ..OpusConfig::default()
        };
        assert_eq!(
            OpusEncoder::new(bad_rate).err(),
            Some(CodecError::UnsupportedRate(11025))
        );
        let bad_bitrate = OpusConfig {
            bitrate: 1,
            ..OpusConfig::default()
        };
        assert_eq!(
            OpusEncoder::new(bad_bitrate).err(),
            Some(CodecError::InvalidSetting("bitrate"))
        );
        let mut enc = OpusEncoder::new(OpusConfig::default()).expect("valid config");
        let mut p = Vec::new();
        assert_eq!(
            enc.encode(&[0; 100], &mut p),
            Err(CodecError::FrameSize {
                expected: 960,
                got: 100
            })
        );
        let mut dec = OpusDecoder::new(48000).expect("valid rate");
        let mut out = Vec::new();
        // Code 3 packet claiming 63 frames of 20 ms: longer than 120 ms.
        assert!(dec.decode(&[0x0B, 0x3F, 1, 2, 3], &mut out).is_err());
        // Arbitrary bytes must never panic.
        let mut seed = 7u32;
        for len in 1..200 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 24) as u8
                })
                .collect();
            let _ = dec.decode(&junk, &mut out);
        }
    }
}
