//! Mutated files for the readers' mutation tests: random edits of a good file, and the check
//! that a read of one either succeeds or fails with an error naming the file.

/// `good` with one to three random bytes changed: set at random, set to 0xff, or a bit flipped.
pub(crate) fn mutate(good: &[u8], rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut bytes = good.to_vec();
    for _ in 0..rng.usize(1..4) {
        let i = rng.usize(..bytes.len());
        bytes[i] = match rng.u8(..3) {
            0 => rng.u8(..),
            1 => 0xff,
            _ => bytes[i] ^ (1 << rng.u8(..8)),
        };
    }
    bytes
}

/// Checks a read's outcome (the error's own text, whether planning or the compute failed): an
/// error names the file `name` and is no bare panic. Returns whether the read failed.
pub(crate) fn failed_naming(outcome: Result<(), String>, name: &str, case: usize) -> bool {
    match outcome {
        Ok(()) => false,
        Err(text) => {
            assert!(text.contains(name), "case {case}: {text}");
            assert!(!text.contains("panicked"), "case {case}: {text}");
            true
        }
    }
}
