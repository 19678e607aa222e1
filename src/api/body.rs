//! Request bodies as Nova's `wsgi.Resource` reads them: the Content-Type rules (415) and
//! JSON parsed in place with simd-json.
//!
//! Core worker. The body bytes are parsed where they lie in the connection's read buffer
//! (strings are unescaped in place and borrowed by the resulting value); the parser's scratch
//! buffers are kept per worker thread and reused, so a parse allocates only the value tree.
//! Errors are Nova's: 415 `Unsupported Content-Type`, 400 `Malformed request body`.
//!
//! It must never copy a body to parse it, never accept a media type Nova refuses, and never
//! panic on malformed input.

use std::cell::RefCell;

use simd_json::{prelude::*, BorrowedValue, Buffers};

use super::{context::Request, fault::Fault};

/// Nova's message for a body that is not JSON (or not one action).
pub const MALFORMED: &str = "Malformed request body";

/// Media types a compute request body may be declared as.
const SUPPORTED: &[&str] = &["application/json", "application/vnd.openstack.compute+json"];

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::new(4096));
}

/// Checks `Content-Type`: absent, empty or `text/plain` (treated as none) or a JSON type.
pub fn check_content_type(req: &Request<'_>) -> Result<(), Fault> {
    let Some(value) = req.header("content-type") else {
        return Ok(());
    };
    let media = value.split(|&b| b == b';').next().unwrap_or_default();
    let media = media.trim_ascii();
    if media.is_empty()
        || media.eq_ignore_ascii_case(b"text/plain")
        || SUPPORTED
            .iter()
            .any(|s| media.eq_ignore_ascii_case(s.as_bytes()))
    {
        Ok(())
    } else {
        Err(Fault::new(415, "Unsupported Content-Type"))
    }
}

/// Parses the request body as JSON, in place. `Ok(None)` for an empty body.
pub fn parse<'a>(req: &Request<'a>) -> Result<Option<BorrowedValue<'a>>, Fault> {
    let Some(body) = req.take_body() else {
        return Ok(None);
    };
    if body.is_empty() {
        return Ok(None);
    }
    parse_bytes(body).map(Some)
}

/// Parses `bytes` as JSON, in place, with this thread's reusable buffers.
pub fn parse_bytes(bytes: &mut [u8]) -> Result<BorrowedValue<'_>, Fault> {
    BUFFERS.with(|buffers| {
        simd_json::to_borrowed_value_with_buffers(bytes, &mut buffers.borrow_mut())
            .map_err(|_| Fault::new(400, MALFORMED))
    })
}

/// For `POST …/action`: the body must be an object with exactly one key, the action name.
pub fn action<'v, 'a>(
    body: Option<&'v BorrowedValue<'a>>,
) -> Result<(&'v str, &'v BorrowedValue<'a>), Fault> {
    let object = body
        .and_then(|b| b.as_object())
        .ok_or(Fault::new(400, MALFORMED))?;
    let mut entries = object.iter();
    match (entries.next(), entries.next()) {
        (Some((name, value)), None) => Ok((name.as_ref(), value)),
        _ => Err(Fault::new(400, MALFORMED)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_in_place_and_borrows() {
        let mut bytes = br#"{"flavor": {"name": "a\"b", "ram": 512}}"#.to_vec();
        let value = parse_bytes(&mut bytes).unwrap();
        assert_eq!(value["flavor"]["name"].as_str(), Some("a\"b"));
        assert_eq!(value["flavor"]["ram"].as_u64(), Some(512));
    }

    #[test]
    fn malformed_bodies_are_400() {
        for bad in [
            &b"{"[..],
            b"{\"a\": }",
            b"[1,]",
            b"nul",
            b"{\"a\": 1} x",
            b"\xff\xfe",
            b"{\"a\":\"\xff\"}",
            b"{\"a\":\"a\xff\xc0b\"}",
            b"{\"extra_specs\":{\"k134\":\"a\xff\xc0b\"}}",
            b"{\"a\":\"\xc0\"}",
            b"{\"a\":\"\xed\xa0\x80\"}",
        ] {
            let mut bytes = bad.to_vec();
            let err = parse_bytes(&mut bytes).unwrap_err();
            assert_eq!(
                (err.status, err.message.as_ref()),
                (400, MALFORMED),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_rejected_not_a_crash() {
        let mut bytes = "[".repeat(100_000).into_bytes();
        bytes.extend("]".repeat(100_000).into_bytes());
        assert_eq!(parse_bytes(&mut bytes).unwrap_err().status, 400);
    }

    #[test]
    fn action_needs_exactly_one_key() {
        let mut one = br#"{"reboot": {"type": "SOFT"}}"#.to_vec();
        let value = parse_bytes(&mut one).unwrap();
        let (name, args) = action(Some(&value)).unwrap();
        assert_eq!(name, "reboot");
        assert_eq!(args["type"].as_str(), Some("SOFT"));
        for bad in [&br#"{}"#[..], br#"{"a": 1, "b": 2}"#, br#"[1]"#, br#""x""#] {
            let mut bytes = bad.to_vec();
            let value = parse_bytes(&mut bytes).unwrap();
            assert_eq!(action(Some(&value)).unwrap_err().status, 400);
        }
        assert_eq!(action(None).unwrap_err().message, MALFORMED);
    }
}
