//! Fuzz target: the whole framing state machine (`http::Framer` driven the way the
//! connection loop drives it) on streams of pipelined requests, well formed, mutated or raw,
//! arriving in reads of arbitrary sizes.
//!
//! Checks that how the bytes are split into reads never changes the framing decisions
//! (requests with their method, target and decoded body, then the error or the close), that a
//! stream of well-formed requests frames to exactly the requests sent, and that the buffer
//! never holds more than one head and body between reads.
#![no_main]

use libfuzzer_sys::{arbitrary::Unstructured, fuzz_target};
use ringnova::http::Limits;
use ringnova_fuzz::{connection::frame_reads, input, streams};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let limits = input::limits(&mut u);
    let Ok(stream) = streams::stream(&mut u) else {
        return;
    };
    let sizes = input::read_sizes(&mut u);
    let whole = frame_reads(&stream.bytes, &[usize::MAX], &limits);
    let split = frame_reads(&stream.bytes, &sizes, &limits);
    assert_eq!(whole, split, "reads of {sizes:?}");
    let bytewise = frame_reads(&stream.bytes, &[1], &limits);
    assert_eq!(whole, bytewise, "reads of one byte");
    if let Some(expected) = stream.expected {
        if limits == Limits::default() {
            assert_eq!(whole, expected);
        }
    }
});
