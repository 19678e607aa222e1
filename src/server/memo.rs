//! A per-connection memo of the last pure response: a request whose head is, byte for byte,
//! the head of the last memoized request is answered by copying that request's response,
//! without parsing it or running it through the pipeline.
//!
//! Core worker, one per connection (in the connection's answering side).
//!
//! What gets memoized: the response to a request without a body, answered by a chain that is
//! pure under the configuration ([`crate::middleware::Chain::is_pure`]: the versions
//! documents or the healthcheck, with no active filter that has per-request inputs or effects
//! — no request id, cors, proxy headers, access log, authentication or rate limit), that did
//! not panic and that keeps the connection open. Such a response is a function of the head's
//! bytes, the configuration and the `Date`, so the key is the whole head (request line, every
//! header, the blank line) and the `Date` second it was written in.
//!
//! A hit needs: the unread bytes start with exactly the key, the same `Date` second, and no
//! shutdown begun (shutdown turns keep-alive off, which changes the response). Because the
//! head is identical, its framing is too: no body follows, and the next request starts right
//! after it.
//!
//! The memo must never: answer a head that differs from the key in any byte (method, target,
//! version, `Host`, `Accept`, `Connection`, any other header or its order); answer in another
//! `Date` second; hold a response that closes the connection or comes from a chain with
//! per-request inputs or effects; grow past `MAX_HEAD + MAX_RESPONSE` bytes.

use crate::{http::date::DATE_LEN, metrics::Counted};

/// Longest head that is memoized.
const MAX_HEAD: usize = 2048;
/// Longest response that is memoized.
const MAX_RESPONSE: usize = 8192;

/// The last pure response of a connection and the head that asked for it.
#[derive(Debug, Default)]
pub struct Memo {
    /// The request head's bytes; empty while nothing is memoized.
    head: Vec<u8>,
    /// The complete response bytes.
    response: Vec<u8>,
    /// The `Date` value inside `response`.
    date: [u8; DATE_LEN],
    /// Where the memoized request was counted (`None` with metrics off): a replayed answer
    /// counts there too.
    counted: Option<Counted>,
    /// Memo answers given (tests check that the memo path was taken).
    #[cfg(test)]
    pub hits: usize,
}

impl Memo {
    /// If `unread` starts with the memoized head and `date` is the memoized one, appends the
    /// memoized response to `out` and returns the head's length.
    #[inline]
    pub fn answer(
        &mut self,
        unread: &[u8],
        date: &[u8; DATE_LEN],
        out: &mut Vec<u8>,
    ) -> Option<usize> {
        let len = self.head.len();
        if len == 0 || unread.len() < len || unread[..len] != self.head[..] || self.date != *date {
            return None;
        }
        out.extend_from_slice(&self.response);
        #[cfg(test)]
        {
            self.hits += 1;
        }
        Some(len)
    }

    /// Where the memoized request was counted.
    #[inline]
    pub fn counted(&self) -> Option<Counted> {
        self.counted
    }

    /// Remembers `response`, written in `date`, as the answer to `head` (counted at
    /// `counted`). The caller has checked that it is pure (see the module documentation).
    pub fn remember(
        &mut self,
        head: &[u8],
        response: &[u8],
        date: &[u8; DATE_LEN],
        counted: Option<Counted>,
    ) {
        if head.len() > MAX_HEAD || response.len() > MAX_RESPONSE {
            return;
        }
        self.head.clear();
        self.head.extend_from_slice(head);
        self.response.clear();
        self.response.extend_from_slice(response);
        self.date = *date;
        self.counted = counted;
    }
}
