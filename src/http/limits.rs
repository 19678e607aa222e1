//! Framing limits and timeouts for one connection; built from the configuration at start-up.
//!
//! These limits must never be unbounded: every value has a ceiling so a client cannot make a
//! worker buffer without end.

use std::time::Duration;

/// Bytes of chunk extensions accepted on one chunk-size line.
pub const MAX_CHUNK_EXTENSION: usize = 4096;
/// Bytes of trailer section accepted after the last chunk (trailers are read and ignored).
pub const MAX_TRAILER_SIZE: usize = 16 * 1024;

/// Framing limits and timeouts, enforced by each worker's connection loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Longest request line (→ 414).
    pub max_request_line: usize,
    /// Largest request head, request line included (→ 431).
    pub max_header_size: usize,
    /// Most header fields (→ 431).
    pub max_headers: usize,
    /// Largest body (→ 413).
    pub max_body: usize,
    /// Time to receive a whole head once its first byte arrived.
    pub header_timeout: Duration,
    /// Longest pause between two body reads.
    pub body_timeout: Duration,
    /// Time to receive a whole body once its head has arrived, however steadily it trickles.
    pub body_deadline: Duration,
    /// Idle time allowed between requests on a keep-alive connection.
    pub keepalive_timeout: Duration,
    /// Time allowed to write one batch of responses.
    pub send_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8192,
            max_header_size: 16384,
            max_headers: 100,
            max_body: 114_688,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            body_deadline: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(75),
            send_timeout: Duration::from_secs(60),
        }
    }
}
