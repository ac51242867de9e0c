//! Codecs: G.711, Opus, resampling and transcoding.
//!
//! Everything here is pure computation on sample buffers: no clock, no I/O, no
//! allocation per frame once the output vectors have grown.
//! - [`g711`]: μ-law and A-law, exact to ITU-T G.711 / G.191;
//! - [`opus`]: Opus behind our own [`OpusEncoder`]/[`OpusDecoder`] types;
//! - [`resample`]: band-limited sample-rate conversion, one-shot and streaming;
//! - [`transcode`]: one direction of a call leg from one codec to another.
//!
//! [`Codec`] names what SDP negotiates; [`Encoder`] and [`Decoder`] turn 20 ms frames of
//! 16-bit PCM at the codec's rate into RTP payloads and back (enum dispatch: no boxing
//! per packet, and the set of codecs is closed).

pub mod g711;
pub mod opus;
pub mod resample;
pub mod transcode;

#[cfg(test)]
pub(crate) mod testutil;

pub use opus::{OpusConfig, OpusDecoder, OpusEncoder};
pub use resample::{resample_once, Resampler};
pub use transcode::{TranscodeOptions, Transcoder};

/// Frame duration used on every leg, in milliseconds.
pub const FRAME_MS: u32 = 20;

/// Errors from the codec layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// A sample rate outside what the resampler or codec supports.
    #[error("unsupported sample rate {0} Hz")]
    UnsupportedRate(u32),
    /// A PCM frame of the wrong length for the encoder.
    #[error("frame of {got} samples where {expected} were expected")]
    FrameSize {
        /// Samples the encoder takes (20 ms at its rate).
        expected: usize,
        /// Samples given.
        got: usize,
    },
    /// A setting out of range (names the setting).
    #[error("invalid codec setting: {0}")]
    InvalidSetting(&'static str),
    /// A payload the decoder cannot parse (e.g. a malformed Opus packet).
    #[error("malformed payload")]
    InvalidPayload,
    /// The codec cannot carry audio (telephone-event).
    #[error("{0:?} is not an audio codec")]
    NotAudio(Codec),
    /// The Opus implementation failed (says which step).
    #[error("opus: {0}")]
    Opus(&'static str),
}

/// A codec as negotiated in SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 μ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// Opus (RFC 7587), dynamic payload type, RTP clock 48 kHz, mono here.
    Opus,
    /// RFC 4733 DTMF events: not audio, carried beside an audio codec.
    TelephoneEvent,
}

impl Codec {
    /// The RTP clock rate (the rate in `a=rtpmap`).
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::TelephoneEvent => 8000,
            Codec::Opus => 48000,
        }
    }

    /// The payload type used when the peer does not choose one: the static type for
    /// G.711, and the values most softphones and browsers use for the dynamic ones.
    pub fn default_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
            Codec::Opus => 111,
            Codec::TelephoneEvent => 101,
        }
    }

    /// Whether the payload type is static (fixed by RFC 3551) rather than negotiated.
    pub fn has_static_payload_type(self) -> bool {
        matches!(self, Codec::Pcmu | Codec::Pcma)
    }

    /// The encoding name of `a=rtpmap`, as usually written.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::Opus => "opus",
            Codec::TelephoneEvent => "telephone-event",
        }
    }

    /// The codec with this encoding name (case-insensitive, as SDP requires).
    pub fn from_encoding_name(name: &str) -> Option<Codec> {
        [Codec::Pcmu, Codec::Pcma, Codec::Opus, Codec::TelephoneEvent]
            .into_iter()
            .find(|c| c.encoding_name().eq_ignore_ascii_case(name))
    }

    /// Whether the codec carries audio.
    pub fn is_audio(self) -> bool {
        !matches!(self, Codec::TelephoneEvent)
    }

    /// RTP timestamp units in one 20 ms frame.
    pub fn frame_timestamp_units(self) -> u32 {
        self.clock_rate() * FRAME_MS / 1000
    }

    /// PCM samples in one 20 ms frame at [`Codec::clock_rate`]: 160 for G.711,
    /// 960 for Opus, 0 for telephone-event.
    pub fn frame_samples(self) -> usize {
        if self.is_audio() {
            self.frame_timestamp_units() as usize
        } else {
            0
        }
    }
}

/// Turns 20 ms frames of PCM at the codec's clock rate into RTP payloads.
#[derive(Debug)]
pub enum Encoder {
    /// G.711 μ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// Opus.
    Opus(Box<OpusEncoder>),
}

impl Encoder {
    /// An encoder with default settings (Opus: [`OpusConfig::default`], 48 kHz PCM).
    pub fn new(codec: Codec) -> Result<Encoder, CodecError> {
        match codec {
            Codec::Pcmu => Ok(Encoder::Pcmu),
            Codec::Pcma => Ok(Encoder::Pcma),
            Codec::Opus => Encoder::opus(OpusConfig::default()),
            Codec::TelephoneEvent => Err(CodecError::NotAudio(codec)),
        }
    }

    /// An Opus encoder with `config`. Its PCM rate (`config.sample_rate`) may be below
    /// the 48 kHz RTP clock, e.g. 8 kHz when the audio comes from a G.711 leg.
    pub fn opus(config: OpusConfig) -> Result<Encoder, CodecError> {
        Ok(Encoder::Opus(Box::new(OpusEncoder::new(config)?)))
    }

    /// The codec encoded to.
    pub fn codec(&self) -> Codec {
        match self {
            Encoder::Pcmu => Codec::Pcmu,
            Encoder::Pcma => Codec::Pcma,
            Encoder::Opus(_) => Codec::Opus,
        }
    }

    /// Samples per frame this encoder takes.
    pub fn frame_samples(&self) -> usize {
        match self {
            Encoder::Opus(enc) => enc.frame_samples(),
            _ => self.codec().frame_samples(),
        }
    }

    /// The PCM rate this encoder takes, in Hz.
    pub fn sample_rate(&self) -> u32 {
        (self.frame_samples() as u32) * 1000 / FRAME_MS
    }

    /// Encodes one 20 ms frame, appending the payload to `out`; returns its length.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<usize, CodecError> {
        let expected = self.frame_samples();
        if pcm.len() != expected {
            return Err(CodecError::FrameSize {
                expected,
                got: pcm.len(),
            });
        }
        match self {
            Encoder::Pcmu => g711::ulaw_encode_frame(pcm, out),
            Encoder::Pcma => g711::alaw_encode_frame(pcm, out),
            Encoder::Opus(enc) => return enc.encode(pcm, out),
        }
        Ok(pcm.len())
    }
}

/// Turns RTP payloads into PCM (at the codec's clock rate unless made with
/// [`Decoder::opus`]), and conceals lost packets.
#[derive(Debug)]
pub enum Decoder {
    /// G.711 μ-law.
    Pcmu(G711Plc),
    /// G.711 A-law.
    Pcma(G711Plc),
    /// Opus.
    Opus(Box<OpusDecoder>),
}

impl Decoder {
    /// A decoder for `codec`.
    pub fn new(codec: Codec) -> Result<Decoder, CodecError> {
        match codec {
            Codec::Pcmu => Ok(Decoder::Pcmu(G711Plc::default())),
            Codec::Pcma => Ok(Decoder::Pcma(G711Plc::default())),
            Codec::Opus => Decoder::opus(Codec::Opus.clock_rate()),
            Codec::TelephoneEvent => Err(CodecError::NotAudio(codec)),
        }
    }

    /// An Opus decoder giving PCM at `sample_rate` (one of [`opus::OPUS_RATES`]).
    pub fn opus(sample_rate: u32) -> Result<Decoder, CodecError> {
        Ok(Decoder::Opus(Box::new(OpusDecoder::new(sample_rate)?)))
    }

    /// The codec decoded from.
    pub fn codec(&self) -> Codec {
        match self {
            Decoder::Pcmu(_) => Codec::Pcmu,
            Decoder::Pcma(_) => Codec::Pcma,
            Decoder::Opus(_) => Codec::Opus,
        }
    }

    /// The PCM rate this decoder gives, in Hz.
    pub fn sample_rate(&self) -> u32 {
        match self {
            Decoder::Opus(dec) => (dec.frame_samples() as u32) * 1000 / FRAME_MS,
            _ => self.codec().clock_rate(),
        }
    }

    /// Decodes one payload, appending PCM to `out`; returns the number of samples.
    /// G.711 payloads of any length are accepted (one sample per byte).
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<usize, CodecError> {
        let start = out.len();
        match self {
            Decoder::Pcmu(plc) => {
                g711::ulaw_decode_frame(payload, out);
                plc.remember(&out[start..]);
            }
            Decoder::Pcma(plc) => {
                g711::alaw_decode_frame(payload, out);
                plc.remember(&out[start..]);
            }
            Decoder::Opus(dec) => return dec.decode(payload, out),
        }
        Ok(out.len() - start)
    }

    /// Conceals one lost 20 ms frame, appending the substitute to `out`.
    pub fn conceal(&mut self, out: &mut Vec<i16>) -> Result<usize, CodecError> {
        match self {
            Decoder::Pcmu(plc) | Decoder::Pcma(plc) => Ok(plc.conceal(Codec::Pcmu.frame_samples(), out)),
            Decoder::Opus(dec) => dec.conceal(out),
        }
    }
}

/// A simple G.711 loss concealment: repeat the last 10 ms of signal with a gain fading
/// to zero, and fall silent after 60 ms of consecutive loss. (ITU-T G.711 Appendix I
/// does better with pitch detection; a jitter buffer may use its own concealment.)
#[derive(Debug, Clone, Default)]
pub struct G711Plc {
    /// The last 10 ms received.
    history: Vec<i16>,
    /// Frames concealed in a row.
    lost: u32,
    /// Read position in `history` while repeating.
    cursor: usize,
}

impl G711Plc {
    const HISTORY: usize = 80;
    const SILENT_AFTER: u32 = 3;

    fn remember(&mut self, pcm: &[i16]) {
        self.lost = 0;
        self.cursor = 0;
        let keep = pcm.len().min(Self::HISTORY);
        let excess = (self.history.len() + keep).saturating_sub(Self::HISTORY);
        self.history.drain(..excess);
        self.history.extend_from_slice(&pcm[pcm.len() - keep..]);
    }

    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) -> usize {
        self.lost += 1;
        if self.history.is_empty() || self.lost > Self::SILENT_AFTER {
            out.extend(std::iter::repeat_n(0, samples));
            return samples;
        }
        // Gain falls linearly from 1 to 0 over the concealed span.
        let total = (Self::SILENT_AFTER as usize * samples) as f32;
        let done = ((self.lost - 1) as usize * samples) as f32;
        for i in 0..samples {
            let gain = 1.0 - (done + i as f32) / total;
            let s = self.history[self.cursor];
            self.cursor = (self.cursor + 1) % self.history.len();
            out.push((f32::from(s) * gain) as i16);
        }
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_facts() {
        assert_eq!(
            (Codec::Pcmu.clock_rate(), Codec::Pcmu.default_payload_type()),
            (8000, 0)
        );
        assert_eq!(
            (Codec::Pcma.clock_rate(), Codec::Pcma.default_payload_type()),
            (8000, 8)
        );
        assert_eq!(Codec::Opus.clock_rate(), 48000);
        assert_eq!((Codec::Pcmu.frame_samples(), Codec::Opus.frame_samples()), (160, 960));
        assert_eq!(Codec::TelephoneEvent.frame_samples(), 0);
        assert_eq!(Codec::from_encoding_name("OPUS"), Some(Codec::Opus));
        assert_eq!(Codec::from_encoding_name("pcmu"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_encoding_name("G729"), None);
        assert!(!Codec::TelephoneEvent.is_audio());
        assert_eq!(
            Encoder::new(Codec::TelephoneEvent).err(),
            Some(CodecError::NotAudio(Codec::TelephoneEvent))
        );
        assert!(Decoder::new(Codec::TelephoneEvent).is_err());
    }

    #[test]
    fn g711_encoder_decoder_pair() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut enc = Encoder::new(codec).expect("audio codec");
            let mut dec = Decoder::new(codec).expect("audio codec");
            let pcm = testutil::sine(1000.0, 8000, 160, 8000.0);
            let mut payload = Vec::new();
            assert_eq!(enc.encode(&pcm, &mut payload), Ok(160));
            assert_eq!(
                enc.encode(&pcm[..100], &mut payload),
                Err(CodecError::FrameSize {
                    expected: 160,
                    got: 100
                })
            );
            let mut out = Vec::new();
            assert_eq!(dec.decode(&payload, &mut out), Ok(160));
            for (a, b) in pcm.iter().zip(&out) {
                assert!((i32::from(*a) - i32::from(*b)).abs() < 300);
            }
        }
    }

    #[test]
    fn g711_concealment_fades_then_goes_silent() {
        let mut dec = Decoder::new(Codec::Pcmu).expect("audio codec");
        let mut out = Vec::new();
        let tone = testutil::sine(400.0, 8000, 160, 8000.0);
        let mut payload = Vec::new();
        g711::ulaw_encode_frame(&tone, &mut payload);
        dec.decode(&payload, &mut out).expect("decode");
        for _ in 0..4 {
            assert_eq!(dec.conceal(&mut out), Ok(160));
        }
        let energy = |s: &[i16]| s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
        let first = energy(&out[160..320]);
        let third = energy(&out[480..640]);
        assert!(first > 0.3 * energy(&out[..160]) && third < first / 4.0 && third > 0.0);
        assert!(out[640..].iter().all(|&s| s == 0));
    }
}
