//! Fuzz target: the in-place chunked decoder (`http::ChunkedDecoder`), fed arbitrary bytes
//! in reads of arbitrary sizes behind a head of arbitrary length, compacted between reads
//! as the framer does.
//!
//! Checks that the outcome (decoded body and where the message ends, incomplete, or which
//! error) equals the reference decoder's on the whole input, and that the bytes after the
//! message are left untouched for the next request.
#![no_main]

use libfuzzer_sys::{arbitrary::Unstructured, fuzz_target};
use ringnova::http::{ChunkedDecoder, ChunkedProgress};
use ringnova_fuzz::{
    chunked_reference::{self, Outcome},
    input,
};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(head_len) = u.int_in_range(0usize..=16) else {
        return;
    };
    let max_body = if u.arbitrary::<bool>().unwrap_or(false) {
        114_688
    } else {
        u.int_in_range(0u64..=64).unwrap_or(0)
    };
    let sizes = input::read_sizes(&mut u);
    let encoded = u.take_rest();
    let want = chunked_reference::decode(encoded, max_body);

    let mut buf = vec![b'H'; head_len];
    let mut decoder = ChunkedDecoder::new(head_len, max_body);
    // Bytes the decoder's compaction removed: stream offsets are buffer offsets plus this.
    let mut dropped = 0;
    let mut fed = 0;
    let mut got = Outcome::NeedMore;
    for &size in sizes.iter().cycle() {
        if fed == encoded.len() {
            break;
        }
        let next = fed.saturating_add(size).min(encoded.len());
        buf.extend_from_slice(&encoded[fed..next]);
        fed = next;
        match decoder.decode(&mut buf) {
            Ok(ChunkedProgress::Done { body_end, consumed }) => {
                assert_eq!(decoder.decoded_len() as usize, body_end - head_len);
                // What follows the message is still there, byte for byte.
                let after = &buf[consumed..];
                assert_eq!(after, &encoded[consumed + dropped - head_len..fed]);
                got = Outcome::Done {
                    body: buf[head_len..body_end].to_vec(),
                    consumed: consumed + dropped - head_len,
                };
                break;
            }
            Ok(ChunkedProgress::NeedMore) => {
                let before = buf.len();
                decoder.compact(&mut buf, 0);
                dropped += before - buf.len();
                // Only the head and the decoded body stay buffered.
                assert!(buf.len() <= head_len + decoder.decoded_len() as usize);
            }
            Err(err) => {
                got = Outcome::Error(err);
                break;
            }
        }
    }
    assert_eq!(got, want);
});
