//! Deterministic pseudo-random bytes for the decoders' never-panic sweeps (xorshift64: no
//! RNG crate needed, the same bytes on every run).

/// `len` bytes from the xorshift state `state`, which advances.
pub fn pseudo_random(state: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            *state as u8
        })
        .collect()
}
