//! Tiny JSON writing helpers for hand-built response bodies (faults, version documents, the
//! resource views).
//!
//! Bodies on the hot path are written straight into the response buffer; these helpers only
//! append bytes and never allocate on their own. String escaping checks eight bytes at a time
//! (plain safe code, no `unsafe`) and copies clean text in one piece.

/// Appends `text` as a JSON string literal (quotes included).
pub fn push_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    push_escaped(out, text);
    out.push(b'"');
}

/// `0x0101…01`: one in every byte of a word.
const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
/// `0x8080…80`: the high bit of every byte of a word.
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Whether any byte of the eight in `word` is a control character, `"` or `\\` (SWAR: a
/// byte below `0x20`, or one equal to `0x22` or `0x5c`; the answer is exact, only which
/// byte it was would not be).
fn word_needs_escape(word: u64) -> bool {
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below_space | quote | backslash) & HIGHS != 0
}

/// Whether one byte must be escaped inside a JSON string literal.
fn byte_needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The length of the prefix of `bytes` that needs no escaping (eight bytes at a time).
fn clean_prefix(bytes: &[u8]) -> usize {
    let mut i = 0;
    for chunk in bytes.chunks_exact(8) {
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        if word_needs_escape(word) {
            break;
        }
        i += 8;
    }
    while i < bytes.len() && !byte_needs_escape(bytes[i]) {
        i += 1;
    }
    i
}

/// Appends `text` escaped for the inside of a JSON string literal (no quotes).
pub fn push_escaped(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    // Almost every string needs no escaping: find that out eight bytes at a time.
    let clean = clean_prefix(bytes);
    out.extend_from_slice(&bytes[..clean]);
    if clean == bytes.len() {
        return;
    }
    let bytes = &bytes[clean..];
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends header bytes escaped for the inside of a JSON string literal. Printable ASCII is
/// copied; any other byte (header values may carry obs-text) is written as `\u00XX`, so the
/// output is valid JSON whatever the input.
pub fn push_escaped_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.extend_from_slice(bytes);
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x20..=0x7e => out.push(b),
            _ => {
                out.extend_from_slice(b"\\u00");
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
    fn escapes_like_json() {
        let mut out = Vec::new();
        push_str(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"b\\c\nd\u0001é""#);
    }

    #[test]
    fn fast_path_matches_the_byte_loop() {
        // Every byte value at every position of strings around the 8-byte word size.
        let reference = |text: &str| {
            let mut out = String::new();
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out
        };
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 24] {
            for pos in 0..len {
                for b in 0u8..0x80 {
                    let mut bytes = vec![b'a'; len];
                    bytes[pos] = b;
                    let text = std::str::from_utf8(&bytes).unwrap();
                    let mut out = Vec::new();
                    push_escaped(&mut out, text);
                    assert_eq!(String::from_utf8(out).unwrap(), reference(text), "{text:?}");
                }
            }
        }
        let mut out = Vec::new();
        push_escaped(&mut out, "ééééé\u{7f}ssh-ed25519 AAAA/+== x\"");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ééééé\u{7f}ssh-ed25519 AAAA/+== x\\\""
        );
    }

    #[test]
    fn escapes_header_bytes() {
        let mut out = Vec::new();
        push_escaped_bytes(&mut out, b"h:80");
        assert_eq!(out, b"h:80");
        out.clear();
        push_escaped_bytes(&mut out, b"a\"\\\xe9");
        assert_eq!(String::from_utf8(out).unwrap(), r#"a\"\\\u00e9"#);
    }
}
