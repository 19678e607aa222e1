//! The chunked-body decoder: incremental, in place, overflow-checked.
//!
//! Decoded bytes are moved towards the front of the same buffer (decoded data is never longer
//! than its encoding), so a chunked body ends up contiguous right after the head, exactly
//! like a Content-Length body, and no second buffer is needed. The decoder keeps its state
//! between reads: call [`ChunkedDecoder::decode`] again after more bytes arrive.
//!
//! Enforced: chunk sizes are hex with at least one digit and checked for overflow; the
//! decoded total stays within `max_body` (checked as soon as a chunk size is known);
//! whitespace after a chunk size is allowed only before a `;` (the BWS of RFC 9112 §7.1.1);
//! extensions are skipped but capped at [`MAX_CHUNK_EXTENSION`] bytes per line; trailer
//! lines must be field lines (`token ":" value`, no control bytes) and are read and
//! discarded, never merged into the head, capped at [`MAX_TRAILER_SIZE`]; every line ends in
//! CRLF (a bare LF or CR inside chunk framing is an error).

use super::{
    error::FrameError,
    limits::{MAX_CHUNK_EXTENSION, MAX_TRAILER_SIZE},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    /// Whitespace after the size: only more of it or `;` may follow.
    SizeWs,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerLineStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerLine,
    TrailerLineLf,
    EndLf,
    Done,
}

/// Where decoding stands after a call to [`ChunkedDecoder::decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedProgress {
    /// The body is not complete; read more bytes and call again.
    NeedMore,
    /// The body is complete: decoded bytes are `body_start..body_end`, and the encoded
    /// message ends at `consumed` (the next pipelined request starts there).
    Done {
        /// End of the decoded body.
        body_end: usize,
        /// End of the encoded message.
        consumed: usize,
    },
}

/// Incremental in-place chunked decoder over one request's buffer.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// Next encoded byte to look at.
    read: usize,
    /// End of the decoded data.
    write: usize,
    /// Bytes left in the current chunk, or the size being parsed.
    size: u64,
    digits: usize,
    meta: usize,
    trailer: usize,
    total: u64,
    max_body: u64,
}

impl ChunkedDecoder {
    /// A decoder for a body whose encoding starts at `body_start` of the buffer.
    pub fn new(body_start: usize, max_body: u64) -> Self {
        ChunkedDecoder {
            state: State::Size,
            read: body_start,
            write: body_start,
            size: 0,
            digits: 0,
            meta: 0,
            trailer: 0,
            total: 0,
            max_body,
        }
    }

    /// Body bytes announced by the chunk sizes read so far: those already decoded plus
    /// what is left of the current chunk. Equals the body's length once decoding is done.
    pub fn decoded_len(&self) -> u64 {
        self.total
    }

    /// Drops the already-consumed chunk framing between the decoded bytes and the unread
    /// ones, so that the buffer holds only body and not-yet-decoded input. `base` is where
    /// the request (the buffer `decode` saw) starts inside `buf`.
    pub fn compact(&mut self, buf: &mut Vec<u8>, base: usize) {
        if self.read > self.write {
            buf.drain(base + self.write..base + self.read);
            self.read = self.write;
        }
    }

    /// Decodes what `buf` holds (the whole request buffer, filled part only).
    pub fn decode(&mut self, buf: &mut [u8]) -> Result<ChunkedProgress, FrameError> {
        while self.read < buf.len() {
            if self.state == State::Data {
                let available = (buf.len() - self.read) as u64;
                let n = available.min(self.size) as usize;
                buf.copy_within(self.read..self.read + n, self.write);
                self.read += n;
                self.write += n;
                self.size -= n as u64;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            let byte = buf[self.read];
            self.read += 1;
            self.state = match self.state {
                State::Size => match byte {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let digit = (byte as char).to_digit(16).unwrap_or(0) as u64;
                        self.size = self
                            .size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(digit))
                            .ok_or(FrameError::ChunkSizeOverflow)?;
                        self.digits += 1;
                        State::Size
                    }
                    b';' if self.digits > 0 => {
                        self.meta = 1;
                        State::Extension
                    }
                    b' ' | b'\t' if self.digits > 0 => {
                        self.meta = 1;
                        State::SizeWs
                    }
                    b'\r' if self.digits > 0 => State::SizeLf,
                    _ => return Err(FrameError::Chunk),
                },
                State::SizeWs => match byte {
                    b' ' | b'\t' | b';' => {
                        self.meta += 1;
                        if self.meta > MAX_CHUNK_EXTENSION {
                            return Err(FrameError::ChunkMetadataTooLarge);
                        }
                        if byte == b';' {
                            State::Extension
                        } else {
                            State::SizeWs
                        }
                    }
                    _ => return Err(FrameError::Chunk),
                },
                State::Extension => match byte {
                    b'\r' => State::SizeLf,
                    b'\n' => return Err(FrameError::Chunk),
                    b if b < 0x20 && b != b'\t' || b == 0x7f => return Err(FrameError::Chunk),
                    _ => {
                        self.meta += 1;
                        if self.meta > MAX_CHUNK_EXTENSION {
                            return Err(FrameError::ChunkMetadataTooLarge);
                        }
                        State::Extension
                    }
                },
                State::SizeLf => {
                    if byte != b'\n' {
                        return Err(FrameError::Chunk);
                    }
                    self.digits = 0;
                    if self.size == 0 {
                        State::TrailerLineStart
                    } else {
                        self.total = self
                            .total
                            .checked_add(self.size)
                            .filter(|&t| t <= self.max_body)
                            .ok_or(FrameError::BodyTooLarge(
                                self.total.saturating_add(self.size),
                            ))?;
                        State::Data
                    }
                }
                State::Data => unreachable!("handled above"),
                State::DataCr if byte == b'\r' => State::DataLf,
                State::DataLf if byte == b'\n' => State::Size,
                State::DataCr | State::DataLf => return Err(FrameError::Chunk),
                State::TrailerLineStart => match byte {
                    b'\r' => State::EndLf,
                    b if is_tchar(b) => self.count_trailer(State::TrailerName)?,
                    _ => return Err(FrameError::Chunk),
                },
                State::TrailerName => match byte {
                    b':' => self.count_trailer(State::TrailerLine)?,
                    b if is_tchar(b) => self.count_trailer(State::TrailerName)?,
                    _ => return Err(FrameError::Chunk),
                },
                State::TrailerLine => match byte {
                    b'\r' => State::TrailerLineLf,
                    b if b < 0x20 && b != b'\t' || b == 0x7f => return Err(FrameError::Chunk),
                    _ => self.count_trailer(State::TrailerLine)?,
                },
                State::TrailerLineLf if byte == b'\n' => {
                    self.count_trailer(State::TrailerLineStart)?
                }
                State::TrailerLineLf => return Err(FrameError::Chunk),
                State::EndLf if byte == b'\n' => {
                    self.state = State::Done;
                    break;
                }
                State::EndLf => return Err(FrameError::Chunk),
                State::Done => break,
            };
        }
        if self.state == State::Done {
            Ok(ChunkedProgress::Done {
                body_end: self.write,
                consumed: self.read,
            })
        } else {
            Ok(ChunkedProgress::NeedMore)
        }
    }

    fn count_trailer(&mut self, next: State) -> Result<State, FrameError> {
        self.trailer += 1;
        if self.trailer > MAX_TRAILER_SIZE {
            return Err(FrameError::TrailersTooLarge);
        }
        Ok(next)
    }
}

/// A token character (RFC 9110 §5.6.2), as a field name is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `encoded` (prefixed by a 4-byte fake head), feeding it in pieces of `step`.
    fn decode_in_steps(
        encoded: &[u8],
        step: usize,
        max: u64,
    ) -> Result<(Vec<u8>, usize), FrameError> {
        let mut buf = b"HEAD".to_vec();
        let mut decoder = ChunkedDecoder::new(4, max);
        let mut fed = 0;
        loop {
            let next = (fed + step).min(encoded.len());
            buf.extend_from_slice(&encoded[fed..next]);
            fed = next;
            match decoder.decode(&mut buf)? {
                ChunkedProgress::Done { body_end, consumed } => {
                    return Ok((buf[4..body_end].to_vec(), consumed - 4))
                }
                ChunkedProgress::NeedMore if fed == encoded.len() => {
                    return Err(FrameError::Malformed)
                }
                ChunkedProgress::NeedMore => {}
            }
        }
    }

    #[test]
    fn decodes_whole_and_split() {
        let encoded =
            b"5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, 100] {
            let (body, consumed) = decode_in_steps(encoded, step, 1000).unwrap();
            assert_eq!(body, b"hello 0123456789", "step {step}");
            assert_eq!(&encoded[consumed..], b"NEXT", "step {step}");
        }
    }

    #[test]
    fn extension_whitespace_and_trailer_fields() {
        let encoded = b"5 \t;a=\"b c\"\r\nhello\r\n0\r\nX-T: 1\r\nContent-Length: 9\r\nY:\r\n\r\nN";
        for step in [1, 4, 100] {
            let (body, consumed) = decode_in_steps(encoded, step, 1000).unwrap();
            assert_eq!(body, b"hello", "step {step}");
            assert_eq!(&encoded[consumed..], b"N", "step {step}");
        }
        let spaces = format!("1{};\r\na\r\n0\r\n\r\n", " ".repeat(MAX_CHUNK_EXTENSION));
        assert_eq!(
            decode_in_steps(spaces.as_bytes(), 512, 100).unwrap_err(),
            FrameError::ChunkMetadataTooLarge
        );
    }

    #[test]
    fn empty_body() {
        let (body, consumed) = decode_in_steps(b"0\r\n\r\n", 1, 10).unwrap();
        assert!(body.is_empty());
        assert_eq!(consumed, 5);
    }

    #[test]
    fn rejects_bad_framing() {
        let cases: &[(&[u8], FrameError)] = &[
            (b"x\r\n", FrameError::Chunk),
            (b"\r\n", FrameError::Chunk),
            (b"5\nhello\r\n0\r\n\r\n", FrameError::Chunk),
            (b"5\r\nhelloX\r\n0\r\n\r\n", FrameError::Chunk),
            (b"5\r\nhello\n0\r\n\r\n", FrameError::Chunk),
            (b"0\r\n\n", FrameError::Chunk),
            (b"0\r\nA: b\n\r\n", FrameError::Chunk),
            (b"-1\r\n", FrameError::Chunk),
            (b"0x5\r\n", FrameError::Chunk),
            (b"1;a\nb\r\n", FrameError::Chunk),
            (b"1;a\x00\r\n", FrameError::Chunk),
            (b"fffffffffffffffff\r\n", FrameError::ChunkSizeOverflow),
            // Whitespace after the size only as BWS before an extension.
            (b"5 \r\nhello\r\n0\r\n\r\n", FrameError::Chunk),
            (b"5 x\r\nhello\r\n0\r\n\r\n", FrameError::Chunk),
            (b" 5\r\nhello\r\n0\r\n\r\n", FrameError::Chunk),
            // Trailer lines are field lines.
            (b"0\r\nGET / HTTP/1.1\r\n\r\n", FrameError::Chunk),
            (b"0\r\nNoColon\r\n\r\n", FrameError::Chunk),
            (b"0\r\nX : y\r\n\r\n", FrameError::Chunk),
            (b"0\r\n y\r\n\r\n", FrameError::Chunk),
            (b"0\r\n: y\r\n\r\n", FrameError::Chunk),
            (b"0\r\nX: a\x00b\r\n\r\n", FrameError::Chunk),
            (b"0\r\nX: a\rb\r\n\r\n", FrameError::Chunk),
        ];
        for (encoded, want) in cases {
            assert_eq!(
                decode_in_steps(encoded, 1, 1 << 20).unwrap_err(),
                *want,
                "{encoded:?}"
            );
        }
    }

    #[test]
    fn body_limit_is_checked_when_the_size_is_known() {
        assert_eq!(
            decode_in_steps(b"b\r\n", 100, 10).unwrap_err(),
            FrameError::BodyTooLarge(11)
        );
        assert_eq!(
            decode_in_steps(b"6\r\nabcdef\r\n6\r\n", 100, 10).unwrap_err(),
            FrameError::BodyTooLarge(12)
        );
        assert!(decode_in_steps(b"a\r\n0123456789\r\n0\r\n\r\n", 3, 10).is_ok());
    }

    #[test]
    fn extension_and_trailer_caps() {
        let long_ext = format!(
            "1;{}\r\na\r\n0\r\n\r\n",
            "e".repeat(MAX_CHUNK_EXTENSION + 1)
        );
        assert_eq!(
            decode_in_steps(long_ext.as_bytes(), 512, 100).unwrap_err(),
            FrameError::ChunkMetadataTooLarge
        );
        let long_trailer = format!("0\r\nX: {}\r\n\r\n", "t".repeat(MAX_TRAILER_SIZE));
        assert_eq!(
            decode_in_steps(long_trailer.as_bytes(), 512, 100).unwrap_err(),
            FrameError::TrailersTooLarge
        );
    }
}
