//! HTTP/1.1 framing, ours, over httparse.
//!
//! Runs on every core worker, inside the connection loop (`server::conn`). It turns bytes in a
//! connection's read buffer into [`Head`]s whose fields are offsets into that buffer (no copy
//! of the method, target or headers), decides how long the body is (Content-Length or
//! chunked, decoded in place), and writes responses with a cached `Date`.
//!
//! Invariants: every framing decision RFC 9112 asks a server to make is made here and only
//! here — CL+TE, duplicate or malformed Content-Length, Transfer-Encoding not ending in
//! chunked, missing, repeated or invalid Host, oversize request line, head, header count and
//! body; the rules and the reason for each answer are in docs/desync.md. A [`FrameError`] is
//! final for its connection: the caller answers it and closes. A decision never depends on
//! where the reads were cut. Nothing in this module knows about Nova. No `unsafe`.
//!
//! Nothing here may block, allocate per byte, or trust a length the client sent before it is
//! checked against the limits.

pub mod body;
pub mod date;
pub mod error;
pub mod framer;
pub mod limits;
pub mod parse;
pub mod request;
pub mod response;

pub use body::{ChunkedDecoder, ChunkedProgress};
pub use error::FrameError;
pub use framer::{BodyStep, Framer, HeadStep};
pub use limits::Limits;
pub use parse::parse_head;
pub use request::{BodyKind, Head, Span, Version};
pub use response::{reason_phrase, HeadCache, HeaderBlock, Response, SharedBody};
