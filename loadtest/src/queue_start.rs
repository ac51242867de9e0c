//! Where the IVR ends, heard by the caller: the first packet of the audio a
//! queue starts with (its music on hold or its entry announcement),
//! recognised by a WAV file's first distinctive frame or by a tone.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::rtp::{Audio, FRAME, FRAME_SAMPLES};

/// What marks the start of the audio a queue plays, in what a caller
/// receives.
#[derive(Debug, Clone)]
pub(crate) struct QueueSignature {
    kind: SignatureKind,
    lead: Duration,
}

#[derive(Debug, Clone)]
enum SignatureKind {
    /// The first distinctive 20 ms frame of a WAV file, at `index`.
    /// Platforms that play a WAV through G.711 send the same bytes the
    /// tester encodes from that WAV, so a byte-equal packet is frame `index`:
    /// the file started `index` packets earlier.
    Frame { frame: [u8; FRAME_SAMPLES], index: u16 },
    /// A tone: a packet whose energy is mostly at `hz` (Goertzel), twice in a
    /// row; the first of the two is the start.
    Tone { coefficient: f64, alaw: bool },
}

/// Share of a frame's energy at the tone's frequency that counts as the tone.
const TONE_SHARE: f64 = 0.7;

impl QueueSignature {
    /// The first frame of `audio` (within its first 5 s) that is not near
    /// silence: silence repeats all through a prompt and cannot mark a start.
    pub(crate) fn of_audio(audio: &Audio, lead: Duration) -> Option<QueueSignature> {
        audio
            .frames
            .iter()
            .take(250)
            .enumerate()
            .find(|(_, f)| {
                let mut seen = [false; 256];
                f.iter().for_each(|b| seen[usize::from(*b)] = true);
                seen.iter().filter(|s| **s).count() >= 24
            })
            .map(|(i, f)| QueueSignature {
                kind: SignatureKind::Frame {
                    frame: *f,
                    index: i as u16,
                },
                lead,
            })
    }

    /// A tone of `hz` in G.711 (`payload_type` 8: A-law).
    pub(crate) fn tone(hz: f64, payload_type: u8, lead: Duration) -> QueueSignature {
        QueueSignature {
            kind: SignatureKind::Tone {
                coefficient: 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos(),
                alaw: payload_type == 8,
            },
            lead,
        }
    }
}

/// The share of a G.711 frame's energy at the Goertzel `coefficient`'s
/// frequency (about 1 for a pure tone of it, 0 for silence).
fn tone_share(payload: &[u8], coefficient: f64, alaw: bool) -> f64 {
    let (mut s1, mut s2, mut energy) = (0.0f64, 0.0f64, 0.0f64);
    for b in payload {
        let x = f64::from(if alaw {
            media::codec::g711::alaw_decode(*b)
        } else {
            media::codec::g711::ulaw_decode(*b)
        });
        energy += x * x;
        let s0 = x + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let n = payload.len() as f64;
    // Below about -50 dBFS: silence, whatever its spectrum.
    if n == 0.0 || energy / n < 10.0 * 10.0 {
        return 0.0;
    }
    let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    2.0 * power / (n * energy)
}

/// Looks for the queue's audio in the packets received after the last key.
#[derive(Debug)]
pub(crate) struct QueueWatch {
    signature: QueueSignature,
    /// Arrival of the recent packets, by sequence number.
    recent: VecDeque<(u16, Instant)>,
    /// A tone: the arrival of the packet before, when it carried the tone.
    tone_since: Option<Instant>,
}

impl QueueWatch {
    pub(crate) fn new(signature: QueueSignature) -> QueueWatch {
        QueueWatch {
            signature,
            recent: VecDeque::with_capacity(256),
            tone_since: None,
        }
    }

    /// A packet received at `now`: the queue's start (less its lead) when
    /// it shows the signature.
    pub(crate) fn on_packet(&mut self, now: Instant, seq: u16, payload: &[u8]) -> Option<Instant> {
        if self.recent.len() == self.recent.capacity() {
            self.recent.pop_front();
        }
        self.recent.push_back((seq, now));
        let start = match &self.signature.kind {
            SignatureKind::Frame { frame, index } => {
                if payload != frame {
                    return None;
                }
                let first = seq.wrapping_sub(*index);
                // The file's first packet, if it arrived; else count back from this one.
                self.recent
                    .iter()
                    .find(|(s, _)| *s == first)
                    .map(|(_, at)| *at)
                    .unwrap_or_else(|| now.checked_sub(FRAME * u32::from(*index)).unwrap_or(now))
            }
            SignatureKind::Tone { coefficient, alaw } => {
                if tone_share(payload, *coefficient, *alaw) < TONE_SHARE {
                    self.tone_since = None;
                    return None;
                }
                match self.tone_since {
                    Some(first) => first,
                    None => {
                        self.tone_since = Some(now);
                        return None;
                    }
                }
            }
        };
        Some(start.checked_sub(self.signature.lead).unwrap_or(start))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ulaw_tone(hz: f64, level: f64, n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| {
                let x = level * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin();
                media::codec::g711::ulaw_encode(x as i16)
            })
            .collect()
    }

    #[test]
    fn a_tone_is_told_from_other_tones_and_silence() {
        let sig = QueueSignature::tone(523.3, 0, Duration::ZERO);
        let SignatureKind::Tone { coefficient, .. } = sig.kind else {
            panic!()
        };
        assert!(tone_share(&ulaw_tone(523.3, 2000.0, 160), coefficient, false) > 0.9);
        assert!(tone_share(&ulaw_tone(784.0, 2000.0, 160), coefficient, false) < 0.1);
        assert_eq!(tone_share(&[0xFF; 160], coefficient, false), 0.0);
    }

    #[test]
    fn a_tone_starts_at_the_first_of_two_tone_packets_less_the_lead() {
        let sig = QueueSignature::tone(523.3, 0, Duration::from_millis(20));
        let mut w = QueueWatch::new(sig);
        let t0 = Instant::now();
        let tone = ulaw_tone(523.3, 2000.0, 160);
        assert_eq!(w.on_packet(t0, 1, &[0xFF; 160]), None);
        assert_eq!(w.on_packet(t0 + FRAME, 2, &tone), None);
        assert_eq!(w.on_packet(t0 + FRAME * 2, 3, &tone), Some(t0));
    }

    #[test]
    fn a_file_starts_index_packets_before_its_signature_frame() {
        let mut frames = vec![[0xFFu8; FRAME_SAMPLES]; 3];
        let mut loud = [0u8; FRAME_SAMPLES];
        loud.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        frames.push(loud);
        let audio = Audio {
            frames,
            payload_type: 0,
        };
        let sig = QueueSignature::of_audio(&audio, Duration::ZERO).unwrap();
        let mut w = QueueWatch::new(sig);
        let t0 = Instant::now();
        for i in 0..3u16 {
            assert_eq!(w.on_packet(t0 + FRAME * u32::from(i), 100 + i, &[0xFF; 160]), None);
        }
        assert_eq!(w.on_packet(t0 + FRAME * 3, 103, &loud), Some(t0));
    }
}
