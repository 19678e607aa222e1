//! Request bodies as Nova's `wsgi.Resource` reads them: the Content-Type rules (415) and
//! JSON parsed in place with simd-json.
//!
//! Core worker. The body bytes are parsed where they lie in the connection's read buffer
//! (strings are unescaped in place and borrowed by the resulting value); the parser's scratch
//! buffers are kept per worker thread and reused, so a parse allocates only the value tree.
//! Errors are Nova's: 415 `Unsupported Content-Type`, 400 `Malformed request body`. A repeated
//! member name keeps its last value, as in Nova (see [`parse_bytes`]).
//!
//! It must never copy a body to parse it, never accept a media type Nova refuses, and never
//! panic on malformed input.

use std::cell::RefCell;

use simd_json::{prelude::*, BorrowedValue, Buffers};
use smallvec::SmallVec;

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

/// Parses `bytes` as JSON, in place, with this thread's reusable buffers. An object that
/// repeats a member name keeps the last value, at the first one's place, as Python's `json`
/// (Nova) reads it.
pub fn parse_bytes(bytes: &mut [u8]) -> Result<BorrowedValue<'_>, Fault> {
    let mut value = BUFFERS.with(|buffers| {
        simd_json::to_borrowed_value_with_buffers(bytes, &mut buffers.borrow_mut())
            .map_err(|_| Fault::new(400, MALFORMED))
    })?;
    keep_last_members(&mut value);
    Ok(value)
}

/// simd-json keeps objects up to this many members as a list, repeated names included (larger
/// ones it hashes, and a repeated name then keeps its last value already).
const LISTED: usize = 32;

/// Makes every listed object in `value` keep only the last value of a repeated member name.
/// Walks with an explicit stack (no recursion on request data) that stays inline for
/// ordinary bodies; only an object with a repeated name is rebuilt.
fn keep_last_members(value: &mut BorrowedValue<'_>) {
    let mut stack: SmallVec<[&mut BorrowedValue<'_>; 16]> = SmallVec::new();
    stack.push(value);
    while let Some(value) = stack.pop() {
        match value {
            BorrowedValue::Array(items) => stack.extend(items.iter_mut()),
            BorrowedValue::Object(members) => {
                if members.len() <= LISTED && repeats_a_name(members) {
                    let listed = std::mem::take(&mut **members);
                    for (name, member) in listed {
                        members.insert(name, member);
                    }
                }
                stack.extend(members.values_mut());
            }
            BorrowedValue::Static(_) | BorrowedValue::String(_) => {}
        }
    }
}

/// Whether a listed object has a member name twice (pairwise: at most 32 names).
fn repeats_a_name(members: &simd_json::borrowed::Object<'_>) -> bool {
    let names: SmallVec<[&str; LISTED]> = members.keys().map(AsRef::as_ref).collect();
    names
        .iter()
        .enumerate()
        .any(|(i, name)| names[i + 1..].contains(name))
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
    fn escaped_surrogates_pair_up_or_are_malformed() {
        // A lone surrogate has no UTF-8 form: the body is refused, never decoded to bytes
        // that a `&str` must not hold.
        for lone in [
            &br#"{"a": "\ud800"}"#[..],
            br#"{"a": "\udc00"}"#,
            br#"{"a": "\ud800\u0041"}"#,
            br#"{"\ud800": 1}"#,
        ] {
            let mut bytes = lone.to_vec();
            let err = parse_bytes(&mut bytes).unwrap_err();
            assert_eq!((err.status, err.message.as_ref()), (400, MALFORMED));
        }
        let mut pair = br#"{"a": "x\ud83d\ude00y", "b": "\u0000"}"#.to_vec();
        let value = parse_bytes(&mut pair).unwrap();
        assert_eq!(value["a"].as_str(), Some("x\u{1f600}y"));
        assert_eq!(value["b"].as_str(), Some("\0"));
    }

    #[test]
    fn a_repeated_member_keeps_its_last_value_at_any_depth_and_size() {
        // Issue 6 (bad input on every route): `{"quota_set": {...}, "quota_set": [1, 2]}`
        // updated the quotas from the first member where Nova validates the last one (400).
        let many = |n: usize| {
            let members: Vec<String> = (0..n).map(|i| format!("\"k{i}\": {i}")).collect();
            members.join(", ")
        };
        let mut small = br#"{"a": 1, "b": {"c": 1, "d": 2, "c": [3]}, "a": 4}"#.to_vec();
        let value = parse_bytes(&mut small).unwrap();
        let names: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_ref())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(value["a"].as_u64(), Some(4));
        assert_eq!(value["b"].as_object().unwrap().len(), 2);
        assert_eq!(value["b"]["c"][0].as_u64(), Some(3));
        let mut nested = br#"[1, [{"x": 1}, {"y": 2, "y": "last"}]]"#.to_vec();
        let value = parse_bytes(&mut nested).unwrap();
        assert_eq!(value[1][1]["y"].as_str(), Some("last"));
        assert_eq!(value[1][1].as_object().unwrap().len(), 1);
        for (n, repeated) in [(31, "k5"), (32, "k7"), (200, "k150")] {
            let mut bytes = format!("{{{}, \"{repeated}\": \"last\"}}", many(n)).into_bytes();
            let value = parse_bytes(&mut bytes).unwrap();
            let object = value.as_object().unwrap();
            assert_eq!(object.len(), n, "{n}");
            assert_eq!(value[repeated].as_str(), Some("last"), "{n}");
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
