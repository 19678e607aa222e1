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

/// A fresh `req-` + UUID version 4.
pub fn generate() -> RequestId {
    let mut id = [0u8; 40];
    id[..4].copy_from_slice(b"req-");
    let mut bits = fastrand::u128(..);
    // Version 4, variant 10xx.
    bits = (bits & !(0xf << 76)) | (0x4 << 76);
    bits = (bits & !(0x3 << 62)) | (0x2 << 62);
    let mut pos = 4;
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            id[pos] = b'-';
            pos += 1;
        }
        let nibble = (bits >> (124 - 4 * i)) & 0xf;
        id[pos] = HEX[nibble as usize];
        pos += 1;
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
