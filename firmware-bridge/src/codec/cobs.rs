//! Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999): rewrites a byte string so that it
//! contains no `0x00`, which then marks the end of each frame on the wire.
//!
//! The encoded data is a sequence of blocks. Each block starts with a code byte `n` (1..=255) and is
//! followed by `n - 1` non-zero data bytes; a block with `n < 255` stands for its data followed by one
//! `0x00`, except the last block, whose implicit zero is dropped. `n = 255` means 254 data bytes and
//! no zero (a long run without zeros). Overhead: one byte, plus one per 254 bytes.
//!
//! This is the usual encoding (the one on Wikipedia and in most C implementations): a run of 254
//! non-zero bytes that ends the input is followed by a final `0x01` block, which decodes to nothing.

use thiserror::Error;

/// Why a COBS block sequence is not valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum CobsError {
    /// A `0x00` inside the encoded data (the delimiter is never part of a frame).
    #[error("zero byte at offset {0}")]
    Zero(usize),
    /// A code byte announces more data bytes than the frame has.
    #[error("block at offset {0} runs past the end of the frame")]
    Truncated(usize),
    /// The decoded data does not fit the output buffer.
    #[error("decoded data longer than {0} bytes")]
    TooLong(usize),
}

/// The most bytes [`encode_into`] writes for `len` input bytes.
pub const fn max_encoded_len(len: usize) -> usize {
    len + len / 254 + 1
}

/// Appends the COBS encoding of `data` to `out` (no delimiter).
pub fn encode_into(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(max_encoded_len(data.len()));
    let mut code_at = out.len();
    out.push(0);
    let mut code: u8 = 1;
    for &b in data {
        if b == 0 {
            out[code_at] = code;
            code_at = out.len();
            out.push(0);
            code = 1;
        } else {
            out.push(b);
            code += 1;
            if code == 0xFF {
                out[code_at] = code;
                code_at = out.len();
                out.push(0);
                code = 1;
            }
        }
    }
    out[code_at] = code;
}

/// The COBS encoding of `data` (no delimiter).
pub fn encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(max_encoded_len(data.len()));
    encode_into(data, &mut out);
    out
}

/// Decodes `encoded` (one frame, without its delimiter) into `out`, returning the decoded length.
/// Never writes past `out`: data that would not fit is [`CobsError::TooLong`].
pub fn decode_into(encoded: &[u8], out: &mut [u8]) -> Result<usize, CobsError> {
    let cap = out.len();
    let mut len = 0;
    let mut i = 0;
    while i < encoded.len() {
        let code = encoded[i];
        if code == 0 {
            return Err(CobsError::Zero(i));
        }
        let start = i + 1;
        let end = i + usize::from(code);
        if end > encoded.len() {
            return Err(CobsError::Truncated(i));
        }
        let data = &encoded[start..end];
        if let Some(z) = data.iter().position(|&b| b == 0) {
            return Err(CobsError::Zero(start + z));
        }
        let dst = out
            .get_mut(len..len + data.len())
            .ok_or(CobsError::TooLong(cap))?;
        dst.copy_from_slice(data);
        len += data.len();
        i = end;
        if code != 0xFF && i < encoded.len() {
            *out.get_mut(len).ok_or(CobsError::TooLong(cap))? = 0;
            len += 1;
        }
    }
    Ok(len)
}

/// Decodes `encoded` (one frame, without its delimiter).
pub fn decode(encoded: &[u8]) -> Result<Vec<u8>, CobsError> {
    let mut out = vec![0; encoded.len()];
    let len = decode_into(encoded, &mut out)?;
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    /// The examples from the COBS article on Wikipedia.
    #[test]
    fn known_vectors() {
        let cases: &[(&[u8], &[u8])] = &[
            (&[], &[0x01]),
            (&[0x00], &[0x01, 0x01]),
            (&[0x00, 0x00], &[0x01, 0x01, 0x01]),
            (&[0x00, 0x11, 0x00], &[0x01, 0x02, 0x11, 0x01]),
            (&[0x11, 0x22, 0x00, 0x33], &[0x03, 0x11, 0x22, 0x02, 0x33]),
            (&[0x11, 0x22, 0x33, 0x44], &[0x05, 0x11, 0x22, 0x33, 0x44]),
            (&[0x11, 0x00, 0x00, 0x00], &[0x02, 0x11, 0x01, 0x01, 0x01]),
        ];
        for &(raw, enc) in cases {
            assert_eq!(encode(raw), enc, "{raw:02x?}");
            assert_eq!(decode(enc).unwrap(), raw, "{enc:02x?}");
        }
    }

    #[test]
    fn long_runs() {
        // 01..=FE (254 non-zero bytes): FF block, then a final empty 01 block.
        let raw: Vec<u8> = (1..=254).collect();
        let enc = encode(&raw);
        assert_eq!(enc.len(), 256);
        assert_eq!((enc[0], enc[255]), (0xFF, 0x01));
        assert_eq!(decode(&enc).unwrap(), raw);
        // 00..=FE: a 01 block for the zero, then FF + 254 bytes and a final 01.
        let raw: Vec<u8> = (0..=254).collect();
        let enc = encode(&raw);
        assert_eq!(&enc[..2], &[0x01, 0xFF]);
        assert_eq!(decode(&enc).unwrap(), raw);
        // 01..=FF: FF + 254 bytes, then 02 FF.
        let raw: Vec<u8> = (1..=255).collect();
        let enc = encode(&raw);
        assert_eq!(&enc[255..], &[0x02, 0xFF]);
        assert_eq!(decode(&enc).unwrap(), raw);
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(decode(&[0x03, 0x11]), Err(CobsError::Truncated(0)));
        assert_eq!(decode(&[0x02, 0x11, 0x05]), Err(CobsError::Truncated(2)));
        assert_eq!(decode(&[0x03, 0x11, 0x00]), Err(CobsError::Zero(2)));
        assert_eq!(decode(&[0x00]), Err(CobsError::Zero(0)));
        let mut small = [0u8; 2];
        assert_eq!(
            decode_into(&[0x04, 1, 2, 3], &mut small),
            Err(CobsError::TooLong(2))
        );
        assert_eq!(
            decode_into(&[0x03, 1, 2, 0x01], &mut small),
            Err(CobsError::TooLong(2))
        );
        assert_eq!(decode_into(&[0x03, 1, 2], &mut small), Ok(2));
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let enc = encode(&data);
            prop_assert!(!enc.contains(&0));
            prop_assert!(enc.len() <= max_encoded_len(data.len()));
            prop_assert_eq!(decode(&enc).unwrap(), data);
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600), cap in 0usize..600) {
            let mut out = vec![0; cap];
            let _ = decode_into(&data, &mut out);
        }
    }
}
