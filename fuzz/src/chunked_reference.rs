//! A reference decoder for the chunked transfer coding, written from the rules in
//! `ringnova::http::body`'s module doc: whole-buffer, one rule after the other, no state
//! machine and no in-place copying.
//!
//! It must stay independent of the library's decoder; it exists to be compared with it.

use ringnova::http::FrameError;

/// Bytes of chunk extensions accepted on one chunk-size line (the library's cap).
pub const MAX_EXTENSION: usize = 4096;
/// Bytes of trailer section accepted (the library's cap; each line's LF counts, its CR not).
pub const MAX_TRAILER: usize = 16 * 1024;

/// What decoding a whole buffer gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The message ends at `consumed`; `body` is its decoded content.
    Done {
        /// The decoded body.
        body: Vec<u8>,
        /// Length of the encoded message.
        consumed: usize,
    },
    /// Every byte is acceptable but the message is not complete.
    NeedMore,
    /// The first unacceptable byte (or size) makes this error.
    Error(FrameError),
}

/// A cursor that says [`Outcome::NeedMore`] when it runs out.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Result<u8, Outcome> {
        self.bytes.get(self.at).copied().ok_or(Outcome::NeedMore)
    }

    fn next(&mut self) -> Result<u8, Outcome> {
        let byte = self.peek()?;
        self.at += 1;
        Ok(byte)
    }

    /// The next byte must be `want`.
    fn expect(&mut self, want: u8) -> Result<(), Outcome> {
        if self.next()? == want {
            Ok(())
        } else {
            Err(Outcome::Error(FrameError::Chunk))
        }
    }
}

/// Decodes `encoded` as a chunked body of at most `max_body` decoded bytes.
pub fn decode(encoded: &[u8], max_body: u64) -> Outcome {
    let mut cursor = Cursor {
        bytes: encoded,
        at: 0,
    };
    match decode_from(&mut cursor, max_body) {
        Ok(body) => Outcome::Done {
            body,
            consumed: cursor.at,
        },
        Err(outcome) => outcome,
    }
}

fn decode_from(cursor: &mut Cursor<'_>, max_body: u64) -> Result<Vec<u8>, Outcome> {
    let mut body = Vec::new();
    loop {
        let size = size_line(cursor)?;
        if size == 0 {
            trailers(cursor)?;
            return Ok(body);
        }
        let total = body.len() as u64;
        if total.saturating_add(size) > max_body {
            return Err(Outcome::Error(FrameError::BodyTooLarge(
                total.saturating_add(size),
            )));
        }
        let size = size as usize;
        let data = cursor
            .bytes
            .get(cursor.at..cursor.at + size)
            .ok_or(Outcome::NeedMore)?;
        body.extend_from_slice(data);
        cursor.at += size;
        cursor.expect(b'\r')?;
        cursor.expect(b'\n')?;
    }
}

/// `1*HEXDIG *( SP / HTAB ) [ ";" *ext-byte ] CRLF` (whitespace only before a `;`);
/// returns the size.
fn size_line(cursor: &mut Cursor<'_>) -> Result<u64, Outcome> {
    let mut size: u64 = 0;
    let mut digits = 0;
    while let Some(digit) = (cursor.peek()? as char).to_digit(16) {
        cursor.at += 1;
        digits += 1;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(digit)))
            .ok_or(Outcome::Error(FrameError::ChunkSizeOverflow))?;
    }
    if digits == 0 {
        return Err(Outcome::Error(FrameError::Chunk));
    }
    // Every byte after the size and before the CR counts towards the extension cap.
    let mut metadata = 0;
    let mut count = || {
        metadata += 1;
        if metadata > MAX_EXTENSION {
            Err(Outcome::Error(FrameError::ChunkMetadataTooLarge))
        } else {
            Ok(())
        }
    };
    let mut in_extension = false;
    while !in_extension && matches!(cursor.peek()?, b' ' | b'\t' | b';') {
        in_extension = cursor.next()? == b';';
        count()?;
    }
    if !in_extension && cursor.at > 0 && matches!(cursor.bytes[cursor.at - 1], b' ' | b'\t') {
        // Whitespace must lead to a `;`.
        return Err(Outcome::Error(FrameError::Chunk));
    }
    if in_extension {
        loop {
            match cursor.peek()? {
                b'\r' => break,
                b'\t' => {}
                byte if byte < 0x20 || byte == 0x7f => {
                    return Err(Outcome::Error(FrameError::Chunk))
                }
                _ => {}
            }
            cursor.at += 1;
            count()?;
        }
    }
    cursor.expect(b'\r')?;
    cursor.expect(b'\n')?;
    Ok(size)
}

/// A field-name byte (RFC 9110 token).
fn is_token(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// `*( field-name ":" field-value CRLF ) CRLF`, with the trailer cap (every byte but a CR
/// counts).
fn trailers(cursor: &mut Cursor<'_>) -> Result<(), Outcome> {
    let mut counted = 0;
    let mut count = || {
        counted += 1;
        if counted > MAX_TRAILER {
            Err(Outcome::Error(FrameError::TrailersTooLarge))
        } else {
            Ok(())
        }
    };
    loop {
        if cursor.peek()? == b'\r' {
            cursor.at += 1;
            return cursor.expect(b'\n');
        }
        // The name: one token byte or more, then the colon.
        let mut name = 0;
        loop {
            let byte = cursor.next()?;
            if byte == b':' && name > 0 {
                count()?;
                break;
            }
            if !is_token(byte) {
                return Err(Outcome::Error(FrameError::Chunk));
            }
            name += 1;
            count()?;
        }
        // The value: no control byte but a tab, up to the CR.
        loop {
            match cursor.next()? {
                b'\r' => break,
                b'\t' => count()?,
                byte if byte < 0x20 || byte == 0x7f => {
                    return Err(Outcome::Error(FrameError::Chunk))
                }
                _ => count()?,
            }
        }
        cursor.expect(b'\n')?;
        count()?;
    }
}
