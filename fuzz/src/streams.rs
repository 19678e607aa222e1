//! Byte streams of pipelined requests built from fuzz input: well-formed requests whose
//! framing is known in advance, mixed with mutated requests and raw bytes.
//!
//! The expected decisions are derived from what was generated, never by framing the bytes.

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use ringnova::http::Version;

use crate::connection::Decision;

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "BREW",
];
const TARGETS: &[&str] = &[
    "/",
    "/v2.1",
    "/v2.1/servers/detail?limit=1&marker=x",
    "/v2.1/0123abcd/flavors/1/os-extra_specs/hw%3Acpu",
    "/v2/servers/6f70656e-7374-6163-6b20-70726f6a6563/action",
    "http://example.com:8774/v2.1/os-keypairs",
    "/healthcheck",
    "*",
];
const EXTRA_HEADERS: &[&str] = &[
    "Accept: application/json",
    "X-Auth-Token: admin:admin",
    "OpenStack-API-Version: compute 2.79",
    "User-Agent: fuzz",
    "Content-Type: application/json",
    "X-Empty:",
];

/// A stream and, when every part of it is well formed, the decisions it must frame to
/// under the default limits.
#[derive(Debug)]
pub struct Stream {
    /// The bytes sent.
    pub bytes: Vec<u8>,
    /// `None` once a mutated request or raw bytes went in.
    pub expected: Option<Vec<Decision>>,
}

/// Builds a stream of up to eight parts.
pub fn stream(u: &mut Unstructured<'_>) -> Result<Stream> {
    let mut bytes = Vec::new();
    let mut expected = Some(Vec::new());
    let parts = u.int_in_range(1u8..=8)?;
    for _ in 0..parts {
        match u.int_in_range(0u8..=9)? {
            0..=6 => {
                let (request, decision) = request(u)?;
                bytes.extend_from_slice(&request);
                if let Some(decisions) = expected.as_mut() {
                    decisions.push(decision);
                }
            }
            7 | 8 => {
                let (mut request, _) = request(u)?;
                for _ in 0..u.int_in_range(1u8..=3)? {
                    let at = u.choose_index(request.len())?;
                    match u.int_in_range(0u8..=2)? {
                        0 => request[at] = u.arbitrary()?,
                        1 => {
                            request.remove(at);
                        }
                        _ => request.insert(at, u.arbitrary()?),
                    }
                }
                bytes.extend_from_slice(&request);
                expected = None;
            }
            _ => {
                let len = u.int_in_range(0usize..=48)?;
                bytes.extend_from_slice(u.bytes(len.min(u.len()))?);
                expected = None;
            }
        }
    }
    // Decisions stop at the first request that closes the connection.
    if let Some(decisions) = expected.as_mut() {
        if let Some(last) = decisions.iter().position(|d| {
            matches!(
                d,
                Decision::Request {
                    keep_alive: false,
                    ..
                }
            )
        }) {
            decisions.truncate(last + 1);
        }
    }
    Ok(Stream { bytes, expected })
}

/// One well-formed request (within the default limits) and its decision.
fn request(u: &mut Unstructured<'_>) -> Result<(Vec<u8>, Decision)> {
    let method = *u.choose(METHODS)?;
    let target = *u.choose(TARGETS)?;
    let version = if u.ratio(1u8, 5)? {
        Version::Http10
    } else {
        Version::Http11
    };
    let mut out = Vec::new();
    if u.ratio(1u8, 16)? {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(match version {
        Version::Http10 => b" HTTP/1.0\r\n",
        Version::Http11 => b" HTTP/1.1\r\n",
    });
    let mut header = |name: &str, value: &str| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    if version == Version::Http11 || u.ratio(1u8, 2)? {
        header(
            if u.ratio(1u8, 2)? { "Host" } else { "hOsT" },
            "ringnova:8774",
        );
    }
    for _ in 0..u.int_in_range(0u8..=3)? {
        let line = *u.choose(EXTRA_HEADERS)?;
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        header(name, value.trim());
    }
    let mut keep_alive = version == Version::Http11;
    match u.int_in_range(0u8..=3)? {
        1 => {
            header("Connection", "close");
            keep_alive = false;
        }
        2 => {
            header("Connection", "keep-alive");
            keep_alive = true;
        }
        _ => {}
    }
    let body_len = u.int_in_range(0usize..=64)?;
    let body = u.bytes(body_len.min(u.len()))?.to_vec();
    let chunked = version == Version::Http11 && u.ratio(1u8, 3)?;
    let expect = version == Version::Http11 && !body.is_empty() && u.ratio(1u8, 4)?;
    if expect {
        header("Expect", "100-continue");
    }
    if chunked {
        header("Transfer-Encoding", "chunked");
        out.extend_from_slice(b"\r\n");
        let mut rest = &body[..];
        while !rest.is_empty() {
            let n = u.int_in_range(1..=rest.len())?;
            out.extend_from_slice(format!("{n:x}").as_bytes());
            if u.ratio(1u8, 4)? {
                out.extend_from_slice(b";name=\"value\"");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        out.extend_from_slice(b"0\r\n");
        if u.ratio(1u8, 4)? {
            out.extend_from_slice(b"Trailer-Field: x\r\n");
        }
        out.extend_from_slice(b"\r\n");
    } else {
        if !body.is_empty() || u.ratio(1u8, 4)? {
            header("Content-Length", &body.len().to_string());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
    }
    let decision = Decision::Request {
        method: method.as_bytes().to_vec(),
        target: target.as_bytes().to_vec(),
        version,
        keep_alive,
        expect_continue: expect,
        body,
    };
    Ok((out, decision))
}
