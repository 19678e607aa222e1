//! The line formats of the log: `text` (Nova-like lines, the default), `json` (one JSON
//! object per line) and `logfmt` (`key=value` pairs), for log lines and access lines alike.
//!
//! Runs on the `ringnova-log` thread (and, for a line that could not be queued, on the thread
//! that logged it). Every line carries the request id when there is one: `[req-…]` in text,
//! `request_id` in JSON (null when there is none) and logfmt (left out when there is none).
//!
//! A line must never span two lines: every value is escaped (JSON strings) or quoted
//! (logfmt values with spaces, quotes, `=` or control characters).

use std::{io::Write as _, str::FromStr, time::SystemTime};

use super::{format_access, timestamp, AccessRecord};
use crate::api::json::push_str as json_string;

/// `[ringnova] log_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `2026-01-01T00:00:00.000Z INFO target: [req-…] message`, Nova's access line.
    #[default]
    Text,
    /// `{"timestamp": …, "level": …, "logger": …, "request_id": …, "message": …}`.
    Json,
    /// `timestamp=… level=info logger=… request_id=… message="…"`.
    Logfmt,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<LogFormat, String> {
        match text.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            "logfmt" => Ok(LogFormat::Logfmt),
            _ => Err("expected text, json or logfmt".into()),
        }
    }
}

/// One log line's fields, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct LogLine<'a> {
    /// When it was logged.
    pub time: SystemTime,
    /// Its level.
    pub level: log::Level,
    /// The logger (the `log` target, a module path).
    pub target: &'a str,
    /// The request being answered when it was logged, if any.
    pub request_id: Option<&'a [u8; 40]>,
    /// The message.
    pub message: &'a str,
}

/// A value of a line, as JSON and logfmt write it.
enum Value<'a> {
    Text(&'a str),
    Int(u64),
    Seconds(u64),
    Null,
}

/// Writes `fields` as one JSON object or one logfmt line, with its newline.
fn structured(out: &mut Vec<u8>, format: LogFormat, fields: &[(&str, Value<'_>)]) {
    if format == LogFormat::Json {
        out.push(b'{');
    }
    let mut first = true;
    for (key, value) in fields {
        if format == LogFormat::Logfmt && matches!(value, Value::Null) {
            continue;
        }
        if !first {
            out.extend_from_slice(if format == LogFormat::Json {
                b", "
            } else {
                b" "
            });
        }
        first = false;
        if format == LogFormat::Json {
            json_string(out, key);
            out.extend_from_slice(b": ");
        } else {
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
        }
        match value {
            Value::Text(text) if format == LogFormat::Json => json_string(out, text),
            Value::Text(text) => logfmt_value(out, text),
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Seconds(micros) => {
                let _ = write!(out, "{}.{:06}", micros / 1_000_000, micros % 1_000_000);
            }
            Value::Null => out.extend_from_slice(b"null"),
        }
    }
    if format == LogFormat::Json {
        out.push(b'}');
    }
    out.push(b'\n');
}

/// A logfmt value: bare when it can be, else quoted and escaped as a JSON string is.
fn logfmt_value(out: &mut Vec<u8>, text: &str) {
    let bare = !text.is_empty()
        && text
            .bytes()
            .all(|b| b > b' ' && b != b'"' && b != b'=' && b != b'\\' && b != 0x7f);
    if bare {
        out.extend_from_slice(text.as_bytes());
    } else {
        json_string(out, text);
    }
}

fn request_id_text(id: Option<&[u8; 40]>) -> Option<&str> {
    id.and_then(|id| std::str::from_utf8(id).ok())
}

/// Appends one log line in `format`.
pub fn log_line(out: &mut Vec<u8>, format: LogFormat, line: &LogLine<'_>) {
    let request_id = request_id_text(line.request_id);
    if format == LogFormat::Text {
        let _ = write!(
            out,
            "{} {} {}: ",
            timestamp(line.time),
            line.level,
            line.target
        );
        if let Some(id) = request_id {
            let _ = write!(out, "[{id}] ");
        }
        // A message is one line: embedded newlines would split it.
        for &b in line.message.as_bytes() {
            match b {
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b => out.push(b),
            }
        }
        out.push(b'\n');
        return;
    }
    let time = timestamp(line.time);
    let level = line.level.as_str();
    let level = if format == LogFormat::Logfmt {
        level.to_ascii_lowercase()
    } else {
        level.to_owned()
    };
    structured(
        out,
        format,
        &[
            ("timestamp", Value::Text(&time)),
            ("level", Value::Text(&level)),
            ("logger", Value::Text(line.target)),
            ("request_id", request_id.map_or(Value::Null, Value::Text)),
            ("message", Value::Text(line.message)),
        ],
    );
}

/// Appends one access line in `format` (`now` is its timestamp).
pub fn access_line(out: &mut Vec<u8>, format: LogFormat, r: &AccessRecord, now: SystemTime) {
    if format == LogFormat::Text {
        let mut line = String::with_capacity(256);
        format_access(&mut line, r, now);
        out.extend_from_slice(line.as_bytes());
        return;
    }
    let time = timestamp(now);
    let remote = String::from_utf8_lossy(r.remote.as_bytes());
    let method = String::from_utf8_lossy(r.method.as_bytes());
    let uri = String::from_utf8_lossy(r.uri.as_bytes());
    let version = r.microversion.map(|v| v.to_string());
    let level = if format == LogFormat::Logfmt {
        "info"
    } else {
        "INFO"
    };
    structured(
        out,
        format,
        &[
            ("timestamp", Value::Text(&time)),
            ("level", Value::Text(level)),
            ("logger", Value::Text("ringnova.access")),
            (
                "request_id",
                request_id_text(r.request_id.as_ref()).map_or(Value::Null, Value::Text),
            ),
            (
                "global_request_id",
                request_id_text(r.global_request_id.as_ref()).map_or(Value::Null, Value::Text),
            ),
            ("remote_addr", Value::Text(&remote)),
            ("method", Value::Text(&method)),
            ("uri", Value::Text(&uri)),
            ("status", Value::Int(u64::from(r.status))),
            ("len", Value::Int(r.len)),
            (
                "microversion",
                version.as_deref().map_or(Value::Null, Value::Text),
            ),
            ("time", Value::Seconds(r.micros)),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        api::microversion::ApiVersion,
        logging::{remote_text, InlineText},
    };
    use std::time::{Duration, UNIX_EPOCH};

    fn text(line: &[u8]) -> &str {
        std::str::from_utf8(line).unwrap()
    }

    const ID: &[u8; 40] = b"req-01234567-89ab-4def-8123-456789abcdef";

    fn record(request_id: Option<[u8; 40]>) -> AccessRecord {
        AccessRecord {
            remote: remote_text("10.0.0.1:5000".parse().unwrap()),
            method: InlineText::new(b"GET"),
            uri: InlineText::new(b"/v2.1/servers?name=a b\"c"),
            status: 200,
            len: 42,
            microversion: Some(ApiVersion::new(2, 1)),
            micros: 1_500,
            request_id,
            global_request_id: None,
        }
    }

    fn log<'a>(message: &'a str, request_id: Option<&'a [u8; 40]>) -> LogLine<'a> {
        LogLine {
            time: UNIX_EPOCH + Duration::from_millis(1_500),
            level: log::Level::Warn,
            target: "ringnova::api",
            request_id,
            message,
        }
    }

    #[test]
    fn formats_parse() {
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert_eq!("LOGFMT".parse(), Ok(LogFormat::Logfmt));
        assert_eq!("text".parse(), Ok(LogFormat::Text));
        assert!("xml".parse::<LogFormat>().is_err());
    }

    #[test]
    fn json_access_lines_are_one_object_with_every_field() {
        let mut line = Vec::new();
        access_line(&mut line, LogFormat::Json, &record(Some(*ID)), UNIX_EPOCH);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["request_id"], std::str::from_utf8(ID).unwrap());
        assert_eq!(value["global_request_id"], serde_json::Value::Null);
        assert_eq!(value["uri"], "/v2.1/servers?name=a b\"c");
        assert_eq!(value["status"], 200);
        assert_eq!(value["len"], 42);
        assert_eq!(value["microversion"], "2.1");
        assert_eq!(value["time"], 0.0015);
        assert_eq!(value["logger"], "ringnova.access");
        assert_eq!(value["timestamp"], "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn logfmt_quotes_what_needs_it_and_leaves_out_what_is_missing() {
        let mut line = Vec::new();
        access_line(&mut line, LogFormat::Logfmt, &record(None), UNIX_EPOCH);
        assert_eq!(
            text(&line),
            "timestamp=1970-01-01T00:00:00.000Z level=info logger=ringnova.access \
             remote_addr=10.0.0.1 method=GET uri=\"/v2.1/servers?name=a b\\\"c\" status=200 \
             len=42 microversion=2.1 time=0.001500\n"
        );
    }

    #[test]
    fn log_lines_carry_the_request_id() {
        let mut line = Vec::new();
        log_line(&mut line, LogFormat::Text, &log("two\nlines", Some(ID)));
        assert_eq!(
            text(&line),
            "1970-01-01T00:00:01.500Z WARN ringnova::api: \
             [req-01234567-89ab-4def-8123-456789abcdef] two\\nlines\n"
        );
        line.clear();
        log_line(&mut line, LogFormat::Text, &log("plain", None));
        assert_eq!(
            text(&line),
            "1970-01-01T00:00:01.500Z WARN ringnova::api: plain\n"
        );
        line.clear();
        log_line(&mut line, LogFormat::Json, &log("a \"b\"\n\u{1}", Some(ID)));
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["message"], "a \"b\"\n\u{1}");
        assert_eq!(value["level"], "WARN");
        assert_eq!(value["request_id"], std::str::from_utf8(ID).unwrap());
        line.clear();
        log_line(&mut line, LogFormat::Logfmt, &log("", None));
        assert_eq!(
            text(&line),
            "timestamp=1970-01-01T00:00:01.500Z level=warn logger=ringnova::api message=\"\"\n"
        );
    }
}
