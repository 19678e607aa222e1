//! Query strings: `application/x-www-form-urlencoded` pairs decoded on demand, and the
//! encoder Nova's `next` links use (Python's `urlencode`, i.e. `quote_plus`).
//!
//! Core worker, per request. Decoding borrows when a value has nothing to decode and copies
//! only when it contains `%` or `+`.
//!
//! It must never panic on malformed percent-escapes or invalid UTF-8; such a query is an error,
//! not a guess.

use std::borrow::Cow;

/// Decodes one query component (`+` is a space, `%XX` a byte). `None` when the result is not
/// UTF-8 or an escape is malformed (Nova: 400 "Query string is not UTF-8 encoded").
pub fn decode(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        return Some(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                let hi = bytes.get(i + 1).and_then(|&b| hex(b))?;
                let lo = bytes.get(i + 2).and_then(|&b| hex(b))?;
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Iterates `(name, value)` pairs of a raw query string, decoded. Empty pieces are skipped; a
/// piece without `=` has an empty value. Yields `Err(())` for a piece that does not decode.
pub fn pairs(query: &str) -> impl Iterator<Item = Result<(Cow<'_, str>, Cow<'_, str>), ()>> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            match (decode(name), decode(value)) {
                (Some(name), Some(value)) => Ok((name, value)),
                _ => Err(()),
            }
        })
}

/// Appends `text` encoded like Python's `quote_plus` (letters, digits and `_.-~` kept,
/// space as `+`, everything else `%XX`).
pub fn push_encoded(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => {
                out.push(b'%');
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(decode("abc").unwrap(), "abc");
        assert!(matches!(decode("abc").unwrap(), Cow::Borrowed(_)));
        assert_eq!(decode("a+b%20c%2Fd").unwrap(), "a b c/d");
        assert_eq!(decode("%C3%A9").unwrap(), "é");
        assert!(decode("%ff").is_none());
        assert!(decode("%4").is_none());
        assert!(decode("%zz").is_none());
    }

    #[test]
    fn pairs_split_and_decode() {
        let got: Vec<_> = pairs("limit=2&&marker=a%20b&flag&x=")
            .map(Result::unwrap)
            .collect();
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
        assert_eq!(
            got,
            [("limit", "2"), ("marker", "a b"), ("flag", ""), ("x", "")]
        );
        assert!(pairs("a=%ff").next().unwrap().is_err());
    }

    #[test]
    fn encoding_matches_quote_plus() {
        let mut out = Vec::new();
        push_encoded(&mut out, "a b/c~d_e.f-g:é");
        assert_eq!(out, b"a+b%2Fc~d_e.f-g%3A%C3%A9");
    }
}
