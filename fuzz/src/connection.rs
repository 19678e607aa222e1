//! A model of the connection loop's read side (`server::conn::serve`): bytes arrive in reads
//! of given sizes, every complete request in the buffer is framed with the library's
//! [`Framer`], answered requests are released, and the loop stops at the first framing
//! error or at a request that closes the connection.
//!
//! It records the framing decisions and checks the buffer bound the connection loop
//! promises; it must never frame anything itself.

use ringnova::http::{framer::release, BodyStep, FrameError, Framer, HeadStep, Limits, Version};

/// One framing decision: a request as the pipeline would see it, or the error that closes
/// the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A complete request.
    Request {
        /// Method token.
        method: Vec<u8>,
        /// Request target as sent.
        target: Vec<u8>,
        /// Protocol version.
        version: Version,
        /// Whether the connection stays open after it.
        keep_alive: bool,
        /// Whether it asked for `100 Continue`.
        expect_continue: bool,
        /// The body, decoded.
        body: Vec<u8>,
    },
    /// The framing error answered before closing.
    Error(FrameError),
}

/// Frames `stream` arriving in reads of `sizes` (cycled; a size is at least 1).
///
/// # Panics
///
/// When the buffer holds more than a head and a body between reads.
pub fn frame_reads(stream: &[u8], sizes: &[usize], limits: &Limits) -> Vec<Decision> {
    let mut framer = Framer::new();
    let (mut buf, mut start, mut fed) = (Vec::new(), 0usize, 0usize);
    let mut decisions = Vec::new();
    for &size in sizes.iter().cycle() {
        if fed == stream.len() {
            break;
        }
        let next = fed.saturating_add(size.max(1)).min(stream.len());
        buf.extend_from_slice(&stream[fed..next]);
        fed = next;
        while start < buf.len() {
            let step = if framer.in_body() {
                framer.frame_body(&mut buf, start).map(|step| match step {
                    BodyStep::NeedMore => None,
                    BodyStep::Ready { body_end, consumed } => Some((body_end, consumed)),
                })
            } else {
                match framer.frame_head(&buf[start..], limits) {
                    Ok(HeadStep::NeedMore) => Ok(None),
                    Ok(HeadStep::Complete { target }) => {
                        assert_eq!(framer.head.target_str(&buf[start..]), Some(target));
                        Ok(Some((framer.head.len, framer.head.len)))
                    }
                    Ok(HeadStep::Body) => continue,
                    Err(err) => Err(err),
                }
            };
            let (body_end, consumed) = match step {
                Ok(Some(ends)) => ends,
                Ok(None) => break,
                Err(err) => {
                    decisions.push(Decision::Error(err));
                    return decisions;
                }
            };
            let head = &framer.head;
            let bytes = &buf[start..];
            assert!(head.len <= body_end && body_end <= consumed && consumed <= bytes.len());
            assert!(body_end - head.len <= limits.max_body);
            decisions.push(Decision::Request {
                method: head.method.of(bytes).to_vec(),
                target: head.target.of(bytes).to_vec(),
                version: head.version,
                keep_alive: head.keep_alive,
                expect_continue: head.expect_continue,
                body: bytes[head.len..body_end].to_vec(),
            });
            start += consumed;
            if !head.keep_alive {
                return decisions;
            }
        }
        release(&mut buf, &mut start);
        // Between reads the buffer holds at most the current request's head and body.
        assert!(
            buf.len() <= limits.max_header_size + limits.max_body,
            "{} bytes buffered between reads",
            buf.len()
        );
    }
    decisions
}
