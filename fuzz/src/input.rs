//! Decoding fuzz input into the knobs the targets turn: framing limits and read sizes.
//!
//! Never fails: a short input gives the defaults.

use libfuzzer_sys::arbitrary::Unstructured;
use ringnova::http::Limits;

/// Framing limits: the shipped defaults half of the time, otherwise small ones, so that
/// short inputs reach every limit.
pub fn limits(u: &mut Unstructured<'_>) -> Limits {
    if u.arbitrary::<bool>().unwrap_or(false) {
        return Limits::default();
    }
    let small = |u: &mut Unstructured<'_>, low: usize, high: usize| {
        u.int_in_range(low..=high).unwrap_or(high)
    };
    Limits {
        max_request_line: small(u, 1, 96),
        max_header_size: small(u, 1, 512),
        max_headers: small(u, 1, 24),
        max_body: small(u, 0, 256),
        ..Limits::default()
    }
}

/// Read sizes, each at least 1, cycled by the connection model; `[usize::MAX]` (one read)
/// when the input has none left.
pub fn read_sizes(u: &mut Unstructured<'_>) -> Vec<usize> {
    let mut sizes = Vec::new();
    while sizes.len() < 32 {
        match u.int_in_range(0u8..=64) {
            Ok(0) | Err(_) => break,
            Ok(size) => sizes.push(usize::from(size)),
        }
    }
    if sizes.is_empty() {
        sizes.push(usize::MAX);
    }
    sizes
}
