//! G.711 μ-law (PCMU) and A-law (PCMA), exact to ITU-T G.711 as implemented by the
//! ITU-T G.191 Software Tool Library (`g711.c`).
//!
//! 16-bit linear samples are taken as G.191 does: μ-law uses the top 14 bits, A-law the
//! top 13; decoding gives the 16-bit value at the centre of the quantisation interval.
//! Decoding is one table look-up (tables built at compile time from the G.191 expansion
//! algorithm); encoding computes the segment with one `leading_zeros`, no loop and no
//! 64 KiB table.
//!
//! μ-law has two codes for zero: 0xFF (+0) and 0x7F (-0). Both decode to 0 and 0
//! encodes to 0xFF, so 0x7F is the one code that does not survive `encode(decode(c))`.

/// μ-law code to linear sample, for all 256 codes.
pub const ULAW_TO_LINEAR: [i16; 256] = build_ulaw_table();
/// A-law code to linear sample, for all 256 codes.
pub const ALAW_TO_LINEAR: [i16; 256] = build_alaw_table();

/// Encodes one linear sample to μ-law.
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    let lin = i32::from(sample);
    // One's complement of negatives, as G.191: -1 and 0 land in the same interval.
    let magnitude = if lin < 0 { !lin } else { lin };
    let absno = ((magnitude >> 2) + 33).min(0x1FFF);
    // Segment 1..=8: one more than the bit length of absno >> 6.
    let segno = 33 - (absno >> 6).leading_zeros() as i32;
    let low_nibble = 0x0F - ((absno >> segno) & 0x0F);
    let high_nibble = 0x08 - segno;
    let code = (high_nibble << 4) | low_nibble;
    let sign = if lin >= 0 { 0x80 } else { 0 };
    (code | sign) as u8
}

/// Decodes one μ-law code.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Encodes one linear sample to A-law.
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    let lin = i32::from(sample);
    let magnitude = if lin < 0 { !lin } else { lin };
    let ix = magnitude >> 4; // 0..=2047
    let code = if ix > 15 {
        // Segment 1..=7: the bit length of ix >> 4.
        let exp = 32 - (ix >> 4).leading_zeros() as i32;
        ((ix >> (exp - 1)) & 0x0F) | (exp << 4)
    } else {
        ix
    };
    let sign = if lin >= 0 { 0x80 } else { 0 };
    ((code | sign) ^ 0x55) as u8
}

/// Decodes one A-law code.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// Encodes a frame to μ-law, appending one byte per sample to `out`.
pub fn ulaw_encode_frame(pcm: &[i16], out: &mut Vec<u8>) {
    out.extend(pcm.iter().map(|&s| ulaw_encode(s)));
}

/// Decodes a μ-law payload, appending one sample per byte to `out`.
pub fn ulaw_decode_frame(payload: &[u8], out: &mut Vec<i16>) {
    out.extend(payload.iter().map(|&c| ulaw_decode(c)));
}

/// Encodes a frame to A-law, appending one byte per sample to `out`.
pub fn alaw_encode_frame(pcm: &[i16], out: &mut Vec<u8>) {
    out.extend(pcm.iter().map(|&s| alaw_encode(s)));
}

/// Decodes an A-law payload, appending one sample per byte to `out`.
pub fn alaw_decode_frame(payload: &[u8], out: &mut Vec<i16>) {
    out.extend(payload.iter().map(|&c| alaw_decode(c)));
}

/// Converts μ-law to A-law through the linear value.
#[inline]
pub fn ulaw_to_alaw(code: u8) -> u8 {
    alaw_encode(ulaw_decode(code))
}

/// Converts A-law to μ-law through the linear value.
#[inline]
pub fn alaw_to_ulaw(code: u8) -> u8 {
    ulaw_encode(alaw_decode(code))
}

/// G.191 `ulaw_expand` for every code.
const fn build_ulaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        let sign: i32 = if code < 0x80 { -1 } else { 1 };
        let complement = !(code as i32);
        let exponent = (complement >> 4) & 0x07;
        let segment = exponent + 1;
        let mantissa = complement & 0x0F;
        let step = 4 << segment;
        table[code] = (sign * ((0x80 << exponent) + step * mantissa + step / 2 - 4 * 33)) as i16;
        code += 1;
    }
    table
}

/// G.191 `alaw_expand` for every code.
const fn build_alaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        let ix = ((code as i32) ^ 0x55) & 0x7F;
        let exponent = ix >> 4;
        let mut mantissa = ix & 0x0F;
        if exponent > 0 {
            mantissa += 16;
        }
        mantissa = (mantissa << 4) + 0x08;
        if exponent > 1 {
            mantissa <<= exponent - 1;
        }
        table[code] = if code > 127 { mantissa as i16 } else { -mantissa as i16 };
        code += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ITU-T G.191 STL `ulaw_compress`, line by line (loop form), for one sample.
    fn g191_ulaw_compress(lin: i16) -> u8 {
        let lin = i32::from(lin);
        let mut absno = if lin < 0 { ((!lin) >> 2) + 33 } else { (lin >> 2) + 33 };
        if absno > 0x1FFF {
            absno = 0x1FFF;
        }
        let mut i = absno >> 6;
        let mut segno = 1;
        while i != 0 {
            segno += 1;
            i >>= 1;
        }
        let high_nibble = 0x0008 - segno;
        let mut low_nibble = (absno >> segno) & 0x000F;
        low_nibble = 0x000F - low_nibble;
        let mut logbuf = (high_nibble << 4) | low_nibble;
        if lin >= 0 {
            logbuf |= 0x0080;
        }
        logbuf as u8
    }

    /// ITU-T G.191 STL `alaw_compress`, line by line, for one sample.
    fn g191_alaw_compress(lin: i16) -> u8 {
        let lin = i32::from(lin);
        let mut ix = if lin < 0 { (!lin) >> 4 } else { lin >> 4 };
        if ix > 15 {
            let mut iexp = 1;
            while ix > 16 + 15 {
                ix >>= 1;
                iexp += 1;
            }
            ix -= 16;
            ix += iexp << 4;
        }
        if lin >= 0 {
            ix |= 0x0080;
        }
        (ix ^ 0x0055) as u8
    }

    /// The classic Sun Microsystems `ulaw2linear` (public-domain G.711 code), an
    /// independent formulation of the same expansion.
    fn sun_ulaw2linear(u: u8) -> i16 {
        let u = !u;
        let mut t = (i32::from(u & 0x0F) << 3) + 0x84;
        t <<= (u & 0x70) >> 4;
        (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
    }

    /// The classic Sun Microsystems `alaw2linear`.
    fn sun_alaw2linear(a: u8) -> i16 {
        let a = a ^ 0x55;
        let mut t = i32::from(a & 0x0F) << 4;
        let seg = (a & 0x70) >> 4;
        match seg {
            0 => t += 8,
            1 => t += 0x108,
            _ => {
                t += 0x108;
                t <<= seg - 1;
            }
        }
        (if a & 0x80 != 0 { t } else { -t }) as i16
    }

    #[test]
    fn ulaw_known_values() {
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0xFE), 8);
        assert_eq!(ulaw_decode(0x7E), -8);
        assert_eq!(ulaw_decode(0xF0), 120);
        assert_eq!(ulaw_decode(0xEF), 132);
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        // 0x80 ^ 0x55 = 0xD5: sign bit set (positive), segment 5, mantissa 5.
        assert_eq!(alaw_decode(0x80), 5504);
        assert_eq!(alaw_decode(0x00), -5504);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn decode_tables_match_independent_formulation() {
        for code in 0..=255u8 {
            assert_eq!(ulaw_decode(code), sun_ulaw2linear(code), "μ-law {code:#04x}");
            assert_eq!(alaw_decode(code), sun_alaw2linear(code), "A-law {code:#04x}");
        }
    }

    #[test]
    fn encoders_match_g191_for_every_sample() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(ulaw_encode(s), g191_ulaw_compress(s), "μ-law {s}");
            assert_eq!(alaw_encode(s), g191_alaw_compress(s), "A-law {s}");
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        for code in 0..=255u8 {
            if code != 0x7F {
                assert_eq!(ulaw_encode(ulaw_decode(code)), code, "μ-law {code:#04x}");
            }
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
        }
        assert_eq!(ulaw_encode(ulaw_decode(0x7F)), 0xFF);
    }

    #[test]
    fn monotonic() {
        // Decoded values rise strictly with the code's magnitude in each half.
        let ulaw_pos: Vec<i16> = (0x80..=0xFFu8).rev().map(ulaw_decode).collect();
        assert!(ulaw_pos.windows(2).all(|w| w[0] < w[1]));
        let ulaw_neg: Vec<i16> = (0x00..=0x7Fu8).map(ulaw_decode).collect();
        assert!(ulaw_neg.windows(2).all(|w| w[0] < w[1]));
        let alaw_pos: Vec<i16> = (0..128u8).map(|m| alaw_decode((m | 0x80) ^ 0x55)).collect();
        assert!(alaw_pos.windows(2).all(|w| w[0] < w[1]));
        // Encoding never goes backwards as the sample rises.
        let mut last_u = ulaw_decode(ulaw_encode(i16::MIN));
        let mut last_a = alaw_decode(alaw_encode(i16::MIN));
        for s in i16::MIN..=i16::MAX {
            let (u, a) = (ulaw_decode(ulaw_encode(s)), alaw_decode(alaw_encode(s)));
            assert!(u >= last_u && a >= last_a, "at {s}");
            (last_u, last_a) = (u, a);
        }
    }

    #[test]
    fn quantisation_error_is_bounded() {
        // At most half the largest step (2048 for both laws), clipping at the extremes included.
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let eu = (i32::from(ulaw_decode(ulaw_encode(s))) - i32::from(s)).abs();
            let ea = (i32::from(alaw_decode(alaw_encode(s))) - i32::from(s)).abs();
            assert!(eu <= 1024, "μ-law {s}: {eu}");
            assert!(ea <= 1024, "A-law {s}: {ea}");
        }
    }

    #[test]
    fn frame_helpers_and_cross_conversion() {
        let pcm: Vec<i16> = (0..160).map(|n| ((n * 409) % 65536 - 32768) as i16).collect();
        let (mut u, mut a, mut back) = (Vec::new(), Vec::new(), Vec::new());
        ulaw_encode_frame(&pcm, &mut u);
        alaw_encode_frame(&pcm, &mut a);
        assert_eq!((u.len(), a.len()), (160, 160));
        ulaw_decode_frame(&u, &mut back);
        alaw_decode_frame(&a, &mut back);
        assert_eq!(back.len(), 320);
        for code in 0..=255u8 {
            // Every A-law value is within one step of its conversion to μ-law and back.
            let round = alaw_decode(ulaw_to_alaw(alaw_to_ulaw(code)));
            let diff = (i32::from(round) - i32::from(alaw_decode(code))).abs();
            assert!(diff <= 1024, "{code:#04x}: {diff}");
        }
    }
}
