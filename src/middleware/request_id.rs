//! `compute_req_id` (SPEC §1.4): a `req-<uuid4>` per request, both response headers, and the
//! global request id accepted from `X-Openstack-Request-Id` when well formed.
//!
//! Core worker. The id is generated from a per-thread PRNG into a stack array; nothing is
//! allocated.
//!
//! It must never echo an inbound request id, and never accept one that does not match Nova's
//! pattern as the global id.

use crate::{
    api::context::{Request, RequestContext, RequestId},
    http::Response,
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Where each of the UUID's 16 bytes goes (as two hex digits) in `req-xxxxxxxx-xxxx-…`.
const DIGIT_AT: [usize; 16] = [4, 6, 8, 10, 13, 15, 18, 20, 23, 25, 28, 30, 32, 34, 36, 38];

/// A fresh `req-` + UUID version 4.
pub fn generate() -> RequestId {
    let mut id = *b"req-00000000-0000-0000-0000-000000000000";
    let mut bits = fastrand::u128(..);
    // Version 4, variant 10xx.
    bits = (bits & !(0xf << 76)) | (0x4 << 76);
    bits = (bits & !(0x3 << 62)) | (0x2 << 62);
    // A byte at a time into fixed places (the dashes are already there): unrolled, no
    // branches.
    for (byte, at) in bits.to_be_bytes().into_iter().zip(DIGIT_AT) {
        id[at] = HEX[usize::from(byte >> 4)];
        id[at + 1] = HEX[usize::from(byte & 0xf)];
    }
    id
}

/// Whether `value` matches `^req-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$`.
pub fn is_valid(value: &[u8]) -> bool {
    if value.len() != 40 || &value[..4] != b"req-" {
        return false;
    }
    value[4..].iter().enumerate().all(|(i, &b)| match i {
        8 | 13 | 18 | 23 => b == b'-',
        _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
    })
}

/// Before the inner layers: assign the ids.
pub fn on_request<'a>(req: &Request<'a>, ctx: &mut RequestContext<'a>) {
    ctx.request_id = Some(generate());
    if let Some(inbound) = req.header("x-openstack-request-id") {
        if is_valid(inbound) {
            ctx.global_request_id = std::str::from_utf8(inbound).ok();
        }
    }
}

/// After the inner layers: both headers, unless already present.
pub fn on_response(ctx: &RequestContext<'_>, resp: &mut Response) {
    let Some(id) = &ctx.request_id else { return };
    if !resp.has_header("x-openstack-request-id") {
        resp.header("x-openstack-request-id", id);
    }
    if !resp.has_header("x-compute-request-id") {
        resp.header("x-compute-request-id", id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_uuid4() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(is_valid(&a), "{}", String::from_utf8_lossy(&a));
        assert_eq!(a[18], b'4');
        assert!(matches!(a[23], b'8' | b'9' | b'a' | b'b'));
    }

    #[test]
    fn generated_ids_spell_the_random_bits_in_order() {
        // The same seed gives the same bits: the id is their hex, version and variant set.
        fastrand::seed(7);
        let bits = fastrand::u128(..);
        fastrand::seed(7);
        let id = generate();
        let hex: String = format!("{bits:032x}");
        let mut expected = format!(
            "req-{}-{}-4{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[13..16],
            &hex[16..20],
            &hex[20..]
        );
        let variant = u8::from_str_radix(&hex[16..17], 16).unwrap() & 0x3 | 0x8;
        expected.replace_range(23..24, &format!("{variant:x}"));
        assert_eq!(std::str::from_utf8(&id).unwrap(), expected);
    }

    #[test]
    fn validation_follows_the_regex() {
        assert!(is_valid(b"req-01234567-89ab-cdef-0123-456789abcdef"));
        for bad in [
            &b"req-01234567-89ab-cdef-0123-456789abcdeF"[..],
            b"req-01234567-89ab-cdef-0123-456789abcde",
            b"req-01234567-89ab-cdef-0123456789abcdef0",
            b"xxx-01234567-89ab-cdef-0123-456789abcdef",
            b"req-01234567_89ab-cdef-0123-456789abcdef",
            b"",
        ] {
            assert!(!is_valid(bad), "{}", String::from_utf8_lossy(bad));
        }
    }
}
