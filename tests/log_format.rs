//! `[ringnova] log_format` over the real binary: with `json` every stderr line is one JSON
//! object, with `logfmt` every line is `key=value` pairs, and in both (and in `text`) the
//! access line and a line logged while the request was answered carry the request id the
//! response announced; lines logged outside a request carry none.
//!
//! One driver (epoll): the log path does not depend on the I/O driver.

mod common;

use std::{collections::HashMap, time::Duration};

use common::{Options, Server};
use serde_json::Value;

const BOOTSTRAP: &str = "[project:demo]\n[user:alice]\npassword = alice-pw\nmember = demo\n";
const GLOBAL_ID: &str = "req-0badc0de-0000-4000-8000-000000000001";

/// Starts a server logging in `format` at debug level, sends one request with an invalid
/// token (the token filter logs why at debug level, inside the request), stops the server
/// and returns the response's request id and every stderr line.
fn run(format: &str) -> (String, Vec<String>) {
    let dir = common::scratch_dir("logfmt");
    let file = dir.join("bootstrap.ini");
    std::fs::write(&file, BOOTSTRAP).unwrap();
    let conf = format!(
        "[api]\nauth_strategy = token\n[identity]\nbootstrap_file = {}\n\
         [ringnova]\nlog_format = {format}\nlog_level = debug\naccess_log = true\n",
        file.display()
    );
    let server = Server::with(Options {
        conf: &conf,
        ..Options::default()
    });
    let resp = server.get(
        "/v2.1/flavors",
        &format!("X-Auth-Token: not-a-token\r\nX-Openstack-Request-Id: {GLOBAL_ID}\r\n"),
    );
    assert_eq!(resp.status, 401, "{}", resp.text());
    let id = resp
        .header("x-openstack-request-id")
        .expect("a request id")
        .to_owned();
    assert_ne!(id, GLOBAL_ID, "a fresh id, not the inbound one");
    server.signal("TERM");
    let (status, stderr) = server.wait_exit(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{status:?}: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);
    (id, stderr.lines().map(str::to_owned).collect())
}

#[test]
fn json_lines_are_objects_with_the_request_id() {
    let (id, lines) = run("json");
    let objects: Vec<Value> = lines
        .iter()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
        })
        .collect();
    for object in &objects {
        for key in ["timestamp", "level", "logger", "request_id"] {
            assert!(object.get(key).is_some(), "{key} missing: {object}");
        }
    }
    let access: Vec<&Value> = objects
        .iter()
        .filter(|o| o["logger"] == "ringnova.access")
        .collect();
    assert_eq!(access.len(), 1, "{objects:?}");
    let access = access[0];
    assert_eq!(access["request_id"], id.as_str());
    assert_eq!(access["global_request_id"], GLOBAL_ID);
    assert_eq!(access["status"], 401);
    assert_eq!(access["method"], "GET");
    assert_eq!(access["uri"], "/v2.1/flavors");
    assert_eq!(access["remote_addr"], "127.0.0.1");
    assert!(access["time"].as_f64().is_some_and(|t| t >= 0.0));
    let in_request: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            o["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("authtoken:"))
        })
        .collect();
    assert_eq!(in_request.len(), 1, "{objects:?}");
    assert_eq!(in_request[0]["request_id"], id.as_str());
    assert_eq!(in_request[0]["level"], "DEBUG");
    let ready = objects
        .iter()
        .find(|o| {
            o["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("ringnova ready"))
        })
        .expect("the ready line");
    assert_eq!(ready["request_id"], Value::Null, "no request at start-up");
    assert_eq!(ready["level"], "INFO");
}

/// Splits a logfmt line into its pairs; panics unless the whole line is pairs.
fn logfmt(line: &str) -> HashMap<String, String> {
    let mut pairs = HashMap::new();
    let mut rest = line;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .unwrap_or_else(|| panic!("no '=' in {rest:?}: {line}"));
        assert!(
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "key {key:?}: {line}"
        );
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => panic!("dangling escape: {line}"),
                    },
                    Some((i, '"')) => break i + 1,
                    Some((_, c)) => value.push(c),
                    None => panic!("unterminated quote: {line}"),
                }
            };
            (value, &quoted[end..])
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        assert!(
            pairs.insert(key.to_owned(), value).is_none(),
            "{key} twice: {line}"
        );
        rest = after.strip_prefix(' ').unwrap_or(after);
        assert!(!rest.starts_with(' '), "double space: {line}");
    }
    pairs
}

#[test]
fn logfmt_lines_are_pairs_with_the_request_id() {
    let (id, lines) = run("logfmt");
    let parsed: Vec<HashMap<String, String>> = lines.iter().map(|l| logfmt(l)).collect();
    for pairs in &parsed {
        for key in ["timestamp", "level", "logger"] {
            assert!(pairs.contains_key(key), "{key} missing: {pairs:?}");
        }
    }
    let access: Vec<_> = parsed
        .iter()
        .filter(|p| p["logger"] == "ringnova.access")
        .collect();
    assert_eq!(access.len(), 1, "{parsed:?}");
    assert_eq!(access[0]["request_id"], id);
    assert_eq!(access[0]["global_request_id"], GLOBAL_ID);
    assert_eq!(access[0]["status"], "401");
    assert_eq!(access[0]["uri"], "/v2.1/flavors");
    let in_request: Vec<_> = parsed
        .iter()
        .filter(|p| {
            p.get("message")
                .is_some_and(|m| m.starts_with("authtoken:"))
        })
        .collect();
    assert_eq!(in_request.len(), 1, "{parsed:?}");
    assert_eq!(in_request[0]["request_id"], id);
    assert_eq!(in_request[0]["level"], "debug");
    let ready = parsed
        .iter()
        .find(|p| {
            p.get("message")
                .is_some_and(|m| m.starts_with("ringnova ready"))
        })
        .expect("the ready line");
    assert!(!ready.contains_key("request_id"), "{ready:?}");
}

#[test]
fn text_lines_carry_the_request_id_in_brackets() {
    let (id, lines) = run("text");
    let tagged = format!("[{id}]");
    let access: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" INFO ringnova.access: "))
        .collect();
    assert_eq!(access.len(), 1, "{lines:?}");
    assert!(access[0].contains(&tagged), "{}", access[0]);
    assert!(access[0].contains("\"GET /v2.1/flavors\" status: 401"));
    let in_request: Vec<&String> = lines.iter().filter(|l| l.contains("authtoken:")).collect();
    assert_eq!(in_request.len(), 1, "{lines:?}");
    assert!(
        in_request[0].contains(&format!("{tagged} authtoken:")),
        "{}",
        in_request[0]
    );
}
