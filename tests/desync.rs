//! The desync suite: every framing rule RFC 9112 asks of a server, as raw requests from one
//! table (`tests/desync_cases.json`), each with a follow-up request in the same write.
//!
//! Each case is checked twice: through the framing library (`parse_head`, `ChunkedDecoder`),
//! which must find exactly the requests (method, target, decoded body) and the error the
//! table lists; and over loopback under each I/O driver, where the answers must have the
//! listed statuses, a framing error must be a Nova fault with `Connection: close`, and the
//! connection must then be open (the next request is answered), closed (nothing more is
//! answered: a smuggled request never gets a response) or waiting (for the rest of a
//! request). Why each answer is the right one is written beside the case in the table and
//! in docs/desync.md; scripts/h11_compare.py runs the same table through h11.

mod common;

use std::{
    io::Write,
    net::{Shutdown, TcpStream},
};

use common::{is_closed_by_peer, read_response, repo_root, Server};
use ringnova::http::{parse_head, BodyKind, ChunkedDecoder, ChunkedProgress, Head, Limits};
use serde_json::Value;

/// Where a connection stands after a case's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// In sync: the next request is served.
    Open,
    /// Closed after the last answer.
    Close,
    /// Waiting for more bytes of a request.
    Wait,
}

/// A request the server must frame and answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Accepted {
    method: String,
    target: String,
    body: Vec<u8>,
    status: u16,
}

#[derive(Debug)]
struct Case {
    name: String,
    why: String,
    raw: Vec<u8>,
    accept: Vec<Accepted>,
    reject: Option<u16>,
    end: End,
}

/// The bytes of a table string: each character U+0000..U+00FF is one byte.
fn bytes_of(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or_else(|_| panic!("{c:?} is not a byte")))
        .collect()
}

/// A `raw` value: a string, or a list of strings and `{"repeat", "times"}` parts.
fn raw_of(value: &Value) -> Vec<u8> {
    match value {
        Value::String(text) => bytes_of(text),
        Value::Array(parts) => parts
            .iter()
            .flat_map(|part| match part {
                Value::String(text) => bytes_of(text),
                Value::Object(repeat) => {
                    let unit = bytes_of(repeat["repeat"].as_str().expect("repeat"));
                    let times = repeat["times"].as_u64().expect("times") as usize;
                    unit.repeat(times)
                }
                other => panic!("bad raw part {other}"),
            })
            .collect(),
        other => panic!("bad raw {other}"),
    }
}

fn accepted_of(value: &Value) -> Accepted {
    Accepted {
        method: value["method"].as_str().expect("method").to_owned(),
        target: value["target"].as_str().expect("target").to_owned(),
        body: bytes_of(value["body"].as_str().expect("body")),
        status: value["status"].as_u64().expect("status") as u16,
    }
}

fn corpus() -> Vec<Case> {
    let path = repo_root().join("tests/desync_cases.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path:?}: {err}"));
    let table: Value = serde_json::from_str(&text).expect("the corpus is JSON");
    let follow_up = &table["follow_up"];
    let follow_raw = bytes_of(follow_up["raw"].as_str().expect("follow_up.raw"));
    let cases: Vec<Case> = table["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|case| {
            let mut raw = raw_of(&case["raw"]);
            if case["follow_up"].as_bool() != Some(false) {
                raw.extend_from_slice(&follow_raw);
            }
            let accept = case["accept"]
                .as_array()
                .expect("accept")
                .iter()
                .map(|a| match a.as_str() {
                    Some("follow_up") => accepted_of(follow_up),
                    _ => accepted_of(a),
                })
                .collect();
            Case {
                name: case["name"].as_str().expect("name").to_owned(),
                why: case["why"].as_str().expect("why").to_owned(),
                raw,
                accept,
                reject: case["reject"].as_u64().map(|s| s as u16),
                end: match case["end"].as_str() {
                    Some("open") => End::Open,
                    Some("close") => End::Close,
                    Some("wait") => End::Wait,
                    other => panic!("bad end {other:?}"),
                },
            }
        })
        .collect();
    assert!(cases.len() > 100, "the corpus lost its cases");
    cases
}

/// A framed request: method, target, decoded body.
type Framed = (String, String, Vec<u8>);

/// What the framing library makes of `raw`, request after request, as the connection loop
/// drives it: the requests (method, target, body), the error status, and the end state.
fn frame(raw: &[u8], limits: &Limits) -> (Vec<Framed>, Option<u16>, End) {
    let mut requests = Vec::new();
    let mut head = Head::default();
    let mut at = 0;
    loop {
        if at == raw.len() {
            return (requests, None, End::Open);
        }
        let buf = &raw[at..];
        let target = match parse_head(buf, limits, &mut head) {
            Ok(Some(target)) => target.to_owned(),
            Ok(None) => return (requests, None, End::Wait),
            Err(err) => return (requests, Some(err.status()), End::Close),
        };
        let method = String::from_utf8_lossy(head.method.of(buf)).into_owned();
        let (body, consumed) = match head.body {
            BodyKind::None => (Vec::new(), head.len),
            BodyKind::Length(n) if n > limits.max_body as u64 => {
                return (requests, Some(413), End::Close)
            }
            BodyKind::Length(n) => {
                let end = head.len + n as usize;
                if buf.len() < end {
                    return (requests, None, End::Wait);
                }
                (buf[head.len..end].to_vec(), end)
            }
            BodyKind::Chunked => {
                let mut copy = buf.to_vec();
                let mut decoder = ChunkedDecoder::new(head.len, limits.max_body as u64);
                match decoder.decode(&mut copy) {
                    Ok(ChunkedProgress::Done { body_end, consumed }) => {
                        (copy[head.len..body_end].to_vec(), consumed)
                    }
                    Ok(ChunkedProgress::NeedMore) => return (requests, None, End::Wait),
                    Err(err) => return (requests, Some(err.status()), End::Close),
                }
            }
        };
        requests.push((method, target, body));
        if !head.keep_alive {
            return (requests, None, End::Close);
        }
        at += consumed;
    }
}

/// [`frame`], with the bytes arriving `step` at a time: the head is parsed again as it grows
/// and the chunked decoder keeps its state between arrivals, as in the connection loop.
fn frame_arriving(raw: &[u8], step: usize, limits: &Limits) -> (Vec<Framed>, Option<u16>, End) {
    let mut requests = Vec::new();
    let mut head = Head::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    // The current request: its method and target once its head is parsed, and its decoder.
    let mut current: Option<(String, String, Option<ChunkedDecoder>)> = None;
    loop {
        let done = match &mut current {
            None if buf.is_empty() && fed == raw.len() => return (requests, None, End::Open),
            None => match parse_head(&buf, limits, &mut head) {
                Ok(Some(target)) => {
                    let method = String::from_utf8_lossy(head.method.of(&buf)).into_owned();
                    let decoder = match head.body {
                        BodyKind::Length(n) if n > limits.max_body as u64 => {
                            return (requests, Some(413), End::Close)
                        }
                        BodyKind::Chunked => {
                            Some(ChunkedDecoder::new(head.len, limits.max_body as u64))
                        }
                        _ => None,
                    };
                    current = Some((method, target.to_owned(), decoder));
                    continue;
                }
                Ok(None) => None,
                Err(err) => return (requests, Some(err.status()), End::Close),
            },
            Some((_, _, Some(decoder))) => match decoder.decode(&mut buf) {
                Ok(ChunkedProgress::Done { body_end, consumed }) => Some((body_end, consumed)),
                Ok(ChunkedProgress::NeedMore) => {
                    decoder.compact(&mut buf, 0);
                    None
                }
                Err(err) => return (requests, Some(err.status()), End::Close),
            },
            Some((_, _, None)) => {
                let end = match head.body {
                    BodyKind::Length(n) => head.len + n as usize,
                    _ => head.len,
                };
                (buf.len() >= end).then_some((end, end))
            }
        };
        match done {
            Some((body_end, consumed)) => {
                let (method, target, _) = current.take().expect("a parsed head");
                requests.push((method, target, buf[head.len..body_end].to_vec()));
                if !head.keep_alive {
                    return (requests, None, End::Close);
                }
                buf.drain(..consumed);
            }
            None if fed == raw.len() => return (requests, None, End::Wait),
            None => {
                let next = (fed + step).min(raw.len());
                buf.extend_from_slice(&raw[fed..next]);
                fed = next;
            }
        }
    }
}

#[test]
fn the_framing_library_finds_the_tabled_requests() {
    let limits = Limits::default();
    let mut failures = Vec::new();
    for case in corpus() {
        let want: Vec<Framed> = case
            .accept
            .iter()
            .map(|a| (a.method.clone(), a.target.clone(), a.body.clone()))
            .collect();
        let got = frame(&case.raw, &limits);
        if got != (want.clone(), case.reject, case.end) {
            failures.push(format!(
                "{} ({}): want {:?}, got {:?}",
                case.name,
                case.why,
                (want, case.reject, case.end),
                got
            ));
        }
        // However the bytes are cut into reads, the decisions are the same.
        for step in [1, 2, 3, 7, 64, 1000] {
            if case.raw.len() / step > 4000 {
                continue;
            }
            let split = frame_arriving(&case.raw, step, &limits);
            if split != got {
                failures.push(format!(
                    "{}: arriving {step} bytes at a time gives {split:?}, at once {got:?}",
                    case.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The fault key Nova gives a status (framing errors are Nova faults too).
fn fault_key(status: u16) -> &'static str {
    match status {
        400 => "badRequest",
        413 => "overLimit",
        501 => "notImplemented",
        _ => "computeFault",
    }
}

/// Reads one final response (interim 100s are skipped).
fn next_response(stream: &mut TcpStream) -> Option<common::Response> {
    loop {
        match read_response(stream) {
            Some(resp) if resp.status == 100 => continue,
            other => return other,
        }
    }
}

/// Runs one case on a fresh connection; returns what differed from the table.
fn check_over_loopback(server: &Server, case: &Case) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut stream = server.connect();
    // A server that refuses early may close before all of a long case is written.
    let _ = stream.write_all(&case.raw);
    for (i, want) in case.accept.iter().enumerate() {
        let Some(resp) = next_response(&mut stream) else {
            wrong.push(format!(
                "no answer to request {i} ({} {})",
                want.method, want.target
            ));
            return wrong;
        };
        if resp.status != want.status {
            wrong.push(format!(
                "request {i} ({} {}): status {} instead of {}",
                want.method, want.target, resp.status, want.status
            ));
        }
        let last = i + 1 == case.accept.len();
        let should_close = last && case.end == End::Close && case.reject.is_none();
        if resp.closes() != should_close {
            wrong.push(format!(
                "request {i}: Connection: close is {} instead of {should_close}",
                resp.closes()
            ));
        }
    }
    if let Some(status) = case.reject {
        match next_response(&mut stream) {
            None => wrong.push(format!("no {status} for the framing error")),
            Some(resp) => {
                if resp.status != status {
                    wrong.push(format!(
                        "framing error answered {} instead of {status}: {}",
                        resp.status,
                        resp.text()
                    ));
                } else {
                    resp.assert_fault(status, fault_key(status));
                }
                if !resp.closes() {
                    wrong.push("the framing error did not say Connection: close".into());
                }
            }
        }
    }
    match case.end {
        End::Close => {
            if !is_closed_by_peer(&mut stream) {
                wrong.push("the connection was not closed (or more was answered)".into());
            }
        }
        End::Open => {
            let probe = b"GET /v2.1/ HTTP/1.1\r\nHost: h\r\n\r\n";
            let answered = stream.write_all(probe).is_ok()
                && next_response(&mut stream).is_some_and(|r| r.status == 200);
            if !answered {
                wrong.push("the connection is not in sync: a probe was not answered".into());
            }
        }
        End::Wait => {
            // The server waits for the rest; our end of the stream makes it close, silently.
            let _ = stream.shutdown(Shutdown::Write);
            if !is_closed_by_peer(&mut stream) {
                wrong.push("something was answered while a request was incomplete".into());
            }
        }
    }
    wrong
}

per_driver!(every_case_over_loopback, |driver| {
    let server = Server::start(driver);
    let mut failures = Vec::new();
    for case in corpus() {
        let wrong = check_over_loopback(&server, &case);
        if !wrong.is_empty() {
            failures.push(format!(
                "{} ({}): {}",
                case.name,
                case.why,
                wrong.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
});
