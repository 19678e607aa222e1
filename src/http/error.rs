//! Framing errors: each maps to exactly one status and a fixed message, and closes the connection.

use std::fmt;

/// Why a request could not be framed. `Copy`, never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The request line is longer than `max_request_line` (414).
    RequestLineTooLong,
    /// The head is larger than `max_header_size` (431).
    HeadTooLarge,
    /// More header fields than `max_headers` (431).
    TooManyHeaders,
    /// The bytes are not an HTTP/1.x request (400).
    Malformed,
    /// The request target is not origin-form or absolute-form (400).
    Target,
    /// Content-Length and Transfer-Encoding together (400).
    LengthAndChunked,
    /// Content-Length repeated (400).
    DuplicateLength,
    /// Content-Length not 1*DIGIT or too large for u64 (400).
    InvalidLength,
    /// Transfer-Encoding repeated, or its last coding is not chunked (400).
    TransferEncoding,
    /// Transfer-Encoding in an HTTP/1.0 request (400).
    TransferEncodingHttp10,
    /// A transfer coding other than chunked (501).
    UnsupportedCoding,
    /// HTTP/1.1 without Host, more than one Host, or a Host value that is not uri-host[:port] (400).
    Host,
    /// An `Expect` value other than 100-continue (417).
    Expectation,
    /// An HTTP version other than 1.0 and 1.1 (505).
    Version,
    /// The body is larger than `max_body` (413).
    BodyTooLarge(u64),
    /// A malformed chunk-size line, chunk terminator or trailer (400).
    Chunk,
    /// A chunk size that overflows (400).
    ChunkSizeOverflow,
    /// Chunk extensions beyond their cap (400).
    ChunkMetadataTooLarge,
    /// A trailer section beyond its cap: fields too large (431).
    TrailersTooLarge,
}

impl FrameError {
    /// The HTTP status this error is answered with.
    pub fn status(self) -> u16 {
        match self {
            FrameError::RequestLineTooLong => 414,
            FrameError::HeadTooLarge
            | FrameError::TooManyHeaders
            | FrameError::TrailersTooLarge => 431,
            FrameError::UnsupportedCoding => 501,
            FrameError::Expectation => 417,
            FrameError::Version => 505,
            FrameError::BodyTooLarge(_) => 413,
            _ => 400,
        }
    }

    /// The message put in the fault body.
    pub fn message(self) -> &'static str {
        match self {
            FrameError::RequestLineTooLong => "Request line is too long.",
            FrameError::HeadTooLarge => "Request header fields are too large.",
            FrameError::TooManyHeaders => "Too many request header fields.",
            FrameError::Malformed => "Malformed HTTP request.",
            FrameError::Target => "Malformed request target.",
            FrameError::LengthAndChunked => {
                "Content-Length and Transfer-Encoding must not be sent together."
            }
            FrameError::DuplicateLength => "Duplicate Content-Length header.",
            FrameError::InvalidLength => "Invalid Content-Length header.",
            FrameError::TransferEncoding => {
                "Transfer-Encoding must end with chunked and appear once."
            }
            FrameError::TransferEncodingHttp10 => {
                "Transfer-Encoding is not allowed in HTTP/1.0 requests."
            }
            FrameError::UnsupportedCoding => "Only the chunked transfer coding is supported.",
            FrameError::Host => "Requests must carry exactly one valid Host header.",
            FrameError::Expectation => "Only the 100-continue expectation is supported.",
            FrameError::Version => "HTTP version not supported.",
            FrameError::BodyTooLarge(_) => "Request is too large.",
            FrameError::Chunk => "Malformed chunked request body.",
            FrameError::ChunkSizeOverflow => "Chunk size is too large.",
            FrameError::ChunkMetadataTooLarge => "Chunk extensions are too large.",
            FrameError::TrailersTooLarge => "Request trailer fields are too large.",
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status(), self.message())
    }
}

impl std::error::Error for FrameError {}
