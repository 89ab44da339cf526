//! Short byte strings as two machine words, for hash tables that compare keys without `memcmp`.

/// The longest key that [`key_words`] holds.
pub(crate) const INLINE: usize = 16;

/// The bytes of a key of at most [`INLINE`] bytes as two little-endian words, zero-padded,
/// with overlapping fixed-size loads instead of a copy of variable length.
pub(crate) fn key_words(b: &[u8]) -> [u64; 2] {
    let n = b.len();
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default());
    let half = |at: usize| {
        u64::from(u32::from_le_bytes(
            b[at..at + 4].try_into().unwrap_or_default(),
        ))
    };
    match n {
        0 => [0, 0],
        1..=3 => {
            let byte = |at: usize| u64::from(b[at]) << (8 * at);
            [byte(0) | byte(n / 2) | byte(n - 1), 0]
        }
        4..=8 => [half(0) | half(n - 4) << (8 * (n - 4)), 0],
        _ => [word(0), word(n - 8) >> (8 * (16 - n))],
    }
}

/// The upper 64 bits of the product folded onto the lower: foldhash's mixing step.
fn folded_multiply(x: u64, y: u64) -> u64 {
    let full = u128::from(x) * u128::from(y);
    (full as u64) ^ ((full >> 64) as u64)
}

/// Arbitrary odd constants (digits of pi) that seed the short-key hash.
const SEEDS: [u64; 3] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7345,
    0xa409_3822_299f_31d1,
];

/// A hash of a short key from its [`key_words`] and length: two multiplications.
#[inline]
pub(crate) fn short_hash(words: [u64; 2], len: usize) -> u64 {
    let mixed = folded_multiply(words[0] ^ SEEDS[0], words[1] ^ SEEDS[1]);
    folded_multiply(mixed ^ len as u64, SEEDS[2])
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn key_words_pad_every_short_length() {
        let bytes: Vec<u8> = (1..=16).collect();
        for n in 0..=INLINE {
            let mut padded = [0u8; INLINE];
            padded[..n].copy_from_slice(&bytes[..n]);
            let want = [
                u64::from_le_bytes(padded[..8].try_into().unwrap()),
                u64::from_le_bytes(padded[8..].try_into().unwrap()),
            ];
            assert_eq!(key_words(&bytes[..n]), want, "length {n}");
        }
    }
}
