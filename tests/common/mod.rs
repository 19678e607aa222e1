//! Test harness: starts the real `ringnova` binary on an ephemeral loopback port and talks
//! raw HTTP/1.1 to it over real sockets.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    thread,
    time::{Duration, Instant},
};

/// Drivers the suite runs under; `RINGNOVA_TEST_DRIVERS=legacy` narrows it.
pub fn drivers() -> Vec<String> {
    std::env::var("RINGNOVA_TEST_DRIVERS")
        .unwrap_or_else(|_| "uring legacy".into())
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Generates one test per driver: `mod name { fn uring(); fn legacy(); }`.
#[macro_export]
macro_rules! per_driver {
    ($name:ident, |$driver:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn run($driver: &str) $body
            #[test]
            fn uring() {
                if $crate::common::drivers().iter().any(|d| d == "uring") {
                    run("uring")
                }
            }
            #[test]
            fn legacy() {
                if $crate::common::drivers().iter().any(|d| d == "legacy") {
                    run("legacy")
                }
            }
        }
    };
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh scratch directory under the target dir.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let dir = repo_root()
        .join("target")
        .join("test-scratch")
        .join(format!(
            "{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running server.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub ready_line: String,
    stderr: Option<thread::JoinHandle<String>>,
}

/// How to start a server.
pub struct Options<'a> {
    pub driver: &'a str,
    pub workers: usize,
    /// Extra INI text appended to the generated config file.
    pub conf: &'a str,
    pub cpus: Option<&'a str>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            driver: "legacy",
            workers: 1,
            conf: "",
            cpus: Some("off"),
        }
    }
}

impl Server {
    pub fn start(driver: &str) -> Server {
        Server::with(Options {
            driver,
            ..Options::default()
        })
    }

    pub fn with_conf(driver: &str, conf: &str) -> Server {
        Server::with(Options {
            driver,
            conf,
            ..Options::default()
        })
    }

    pub fn with(opts: Options<'_>) -> Server {
        let dir = scratch_dir("srv");
        let paste = repo_root().join("config").join("api-paste.ini");
        let conf = format!(
            "[wsgi]\napi_paste_config = {}\n[ringnova]\nlog_level = warn\n{}\n",
            paste.display(),
            opts.conf
        );
        let conf_path = dir.join("ringnova.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringnova"));
        cmd.arg("--config-file")
            .arg(&conf_path)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--workers")
            .arg(opts.workers.to_string())
            .arg("--driver")
            .arg(opts.driver)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(cpus) = opts.cpus {
            cmd.arg("--cpus").arg(cpus);
        }
        let mut child = cmd.spawn().expect("start ringnova");
        let stderr = child.stderr.take().unwrap();
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            text
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            let mut rest = String::new();
            let _ = reader.read_to_string(&mut rest);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let Some(addr) = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
        else {
            let _ = child.kill();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "ringnova did not become ready (driver {}): stdout {line:?}, stderr {err}",
                opts.driver
            );
        };
        Server {
            child,
            addr,
            dir,
            ready_line: line,
            stderr: Some(stderr),
        }
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    /// Sends `raw` on a fresh connection and reads one response.
    pub fn roundtrip(&self, raw: &str) -> Response {
        let mut stream = self.connect();
        stream.write_all(raw.as_bytes()).unwrap();
        read_response(&mut stream).expect("a response")
    }

    /// `GET path` with a Host header and optional extra header lines.
    pub fn get(&self, path: &str, extra: &str) -> Response {
        self.roundtrip(&format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\n{extra}Connection: close\r\n\r\n",
            self.addr
        ))
    }

    /// An API call as `token` (`user:project`, as noauth2 takes it) at microversion
    /// `version` (`None` sends no version header), with a JSON body when given.
    pub fn api(
        &self,
        method: &str,
        path: &str,
        token: &str,
        version: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Response {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: {token}\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(version) = version {
            raw.push_str(&format!("OpenStack-API-Version: compute {version}\r\n"));
        }
        if !body.is_empty() {
            raw.push_str("Content-Type: application/json\r\n");
        }
        raw.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        self.roundtrip(&raw)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its status and stderr.
    pub fn wait_exit(mut self, timeout: Duration) -> (Option<ExitStatus>, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                break None;
            }
            thread::sleep(Duration::from_millis(20));
        };
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let err = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        (status, err)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.text()))
    }

    /// Asserts a Nova fault body with this status and fault key.
    pub fn assert_fault(&self, status: u16, key: &str) {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert!(self
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"));
        let json = self.json();
        assert_eq!(json[key]["code"], status, "{json}");
        assert!(
            json[key]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{json}"
        );
    }

    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Reads exactly one response; `None` on EOF before a status line.
pub fn read_response(stream: &mut TcpStream) -> Option<Response> {
    read_response_to(stream, false)
}

/// Like [`read_response`]; `head_request` means no body follows even with Content-Length.
pub fn read_response_to(stream: &mut TcpStream, head_request: bool) -> Option<Response> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => return None,
            Ok(_) => buf.push(byte[0]),
            Err(err) if buf.is_empty() && is_closed(&err) => return None,
            Err(err) => panic!("read failed after {} bytes: {err}", buf.len()),
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    parsed.parse(&buf).expect("valid response head");
    let status = parsed.code.unwrap();
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let length = resp
        .header("content-length")
        .map(|v| v.parse::<usize>().unwrap());
    if !head_request && status >= 200 && status != 204 && status != 304 {
        if let Some(n) = length {
            resp.body = vec![0; n];
            stream.read_exact(&mut resp.body).expect("body");
        }
    }
    Some(resp)
}

fn is_closed(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
    )
}

/// True when the peer closes the connection (EOF or reset) within the read timeout.
pub fn is_closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(err) => is_closed(&err),
    }
}

/// Writes `data` in pieces of `step` bytes with a pause between them, so the server sees
/// many separate reads.
pub fn write_in_pieces(stream: &mut TcpStream, data: &[u8], step: usize) {
    for piece in data.chunks(step) {
        stream.write_all(piece).unwrap();
        stream.flush().unwrap();
        thread::sleep(Duration::from_millis(2));
    }
}

pub fn path_exists(path: &Path) -> bool {
    path.exists()
}

/// A JSON fixture: `tests/fixtures/<dir>/<name>`.
pub fn fixture(dir: &str, name: &str) -> serde_json::Value {
    let path = repo_root().join("tests/fixtures").join(dir).join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path:?}: {err}"));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{path:?}: {err}"))
}

/// The JSON type of a value, telling integers from floats.
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int",
        Value::Number(_) => "float",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A body against an api sample: the same keys at every level and the same JSON type for
/// every value (every item of a list against the sample's first item).
pub fn assert_shape(actual: &serde_json::Value, sample: &serde_json::Value, path: &str) {
    assert_shape_with(actual, sample, path, false);
}

/// [`assert_shape`], where `null_admits_string` lets a sample's `null` (Nova's samples show
/// unset optional values as null) stand for a string too.
pub fn assert_shape_with(
    actual: &serde_json::Value,
    sample: &serde_json::Value,
    path: &str,
    null_admits_string: bool,
) {
    use serde_json::Value;
    if !(null_admits_string && sample.is_null() && actual.is_string()) {
        assert_eq!(
            json_kind(actual),
            json_kind(sample),
            "{path}: {actual} vs {sample}"
        );
    }
    match (actual, sample) {
        (Value::Object(a), Value::Object(s)) => {
            let mut ak: Vec<&String> = a.keys().collect();
            let mut sk: Vec<&String> = s.keys().collect();
            ak.sort();
            sk.sort();
            assert_eq!(ak, sk, "{path}: keys");
            for (key, value) in s {
                assert_shape_with(&a[key], value, &format!("{path}.{key}"), null_admits_string);
            }
        }
        (Value::Array(a), Value::Array(s)) => {
            if let Some(first) = s.first() {
                assert!(!a.is_empty(), "{path}: empty list");
                for (i, item) in a.iter().enumerate() {
                    assert_shape_with(item, first, &format!("{path}[{i}]"), null_admits_string);
                }
            }
        }
        _ => {}
    }
}

/// A Nova fault with this status, key and exact message.
pub fn assert_message(resp: &Response, status: u16, key: &str, message: &str) {
    resp.assert_fault(status, key);
    assert_eq!(resp.json()[key]["message"], message, "{}", resp.text());
}

/// Polls `check` every 50 ms until it holds; fails the test with `what` after `within` (a
/// bound for a slow machine, not a timing that is asserted).
pub fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// The value of the one sample named `series` (name and labels, exactly as exposed) in a
/// `/metrics` scrape; fails the test when the scrape has no such sample.
pub fn metric(scrape: &str, series: &str) -> u64 {
    scrape
        .lines()
        .find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no sample {series} in the scrape:\n{scrape}"))
}
