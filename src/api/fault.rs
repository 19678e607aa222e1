//! Nova fault bodies: `{"<faultName>": {"code": N, "message": "..."}}`.
//!
//! Every error the API answers with goes through [`Fault`]; the fault name is chosen by
//! status exactly as Nova's `wsgi.Fault` does (SPEC §3.1), and 413/429 may carry
//! `retryAfter`. Messages are fixed texts or built from request data, never from internals.

use std::borrow::Cow;

use super::json;
use crate::http::Response;

/// The `Content-Type` of fault bodies.
pub const FAULT_CONTENT_TYPE: &str = "application/json; charset=UTF-8";

/// webob's default explanation for a 500, used for unexpected errors and panics.
pub const INTERNAL_ERROR_MESSAGE: &str =
    "The server has either erred or is incapable of performing the requested operation.";

/// webob's default explanation for a 404.
pub const NOT_FOUND_MESSAGE: &str = "The resource could not be found.";

/// An error answered with a Nova fault body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// HTTP status.
    pub status: u16,
    /// The `message` field.
    pub message: Cow<'static, str>,
    /// `Retry-After` seconds for 413/429.
    pub retry_after: Option<u32>,
}

impl Fault {
    /// A fault with a fixed message.
    pub const fn new(status: u16, message: &'static str) -> Fault {
        Fault {
            status,
            message: Cow::Borrowed(message),
            retry_after: None,
        }
    }

    /// A fault with a built message.
    pub fn with_message(status: u16, message: String) -> Fault {
        Fault {
            status,
            message: Cow::Owned(message),
            retry_after: None,
        }
    }

    /// 404 with webob's default text.
    pub const fn not_found() -> Fault {
        Fault::new(404, NOT_FOUND_MESSAGE)
    }

    /// 500 with webob's default text.
    pub const fn internal() -> Fault {
        Fault::new(500, INTERNAL_ERROR_MESSAGE)
    }

    /// Writes this fault as the whole response body, replacing what was there.
    pub fn write(&self, resp: &mut Response) {
        write_fault(resp, self.status, &self.message, self.retry_after);
    }
}

/// The fault key Nova uses for a status.
pub fn fault_name(status: u16) -> &'static str {
    match status {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 | 429 => "overLimit",
        415 => "badMediaType",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    }
}

/// Replaces the response's status, content type and body with a fault.
pub fn write_fault(resp: &mut Response, status: u16, message: &str, retry_after: Option<u32>) {
    resp.status = status;
    resp.content_type = FAULT_CONTENT_TYPE;
    resp.shared_body = None;
    let body = &mut resp.body;
    body.clear();
    body.extend_from_slice(b"{\"");
    body.extend_from_slice(fault_name(status).as_bytes());
    body.extend_from_slice(b"\": {\"code\": ");
    crate::http::response::push_u64(body, u64::from(status));
    body.extend_from_slice(b", \"message\": ");
    json::push_str(body, message);
    if let (Some(seconds), 413 | 429) = (retry_after, status) {
        body.extend_from_slice(b", \"retryAfter\": \"");
        crate::http::response::push_u64(body, u64::from(seconds));
        body.push(b'"');
        let mut value = Vec::with_capacity(10);
        crate::http::response::push_u64(&mut value, u64::from(seconds));
        resp.header("Retry-After", &value);
    }
    resp.body.extend_from_slice(b"}}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(resp: &Response) -> &str {
        std::str::from_utf8(&resp.body).unwrap()
    }

    #[test]
    fn names_follow_nova() {
        let cases = [
            (400, "badRequest"),
            (401, "unauthorized"),
            (403, "forbidden"),
            (404, "itemNotFound"),
            (405, "badMethod"),
            (406, "computeFault"),
            (409, "conflictingRequest"),
            (413, "overLimit"),
            (415, "badMediaType"),
            (429, "overLimit"),
            (500, "computeFault"),
            (501, "notImplemented"),
            (503, "serviceUnavailable"),
            (505, "computeFault"),
        ];
        for (status, name) in cases {
            assert_eq!(fault_name(status), name, "{status}");
        }
    }

    #[test]
    fn writes_the_body() {
        let mut resp = Response::new();
        resp.body.extend_from_slice(b"old");
        Fault::new(404, "Instance \"x\" could not be found.").write(&mut resp);
        assert_eq!(resp.status, 404);
        assert_eq!(resp.content_type, FAULT_CONTENT_TYPE);
        assert_eq!(
            body(&resp),
            r#"{"itemNotFound": {"code": 404, "message": "Instance \"x\" could not be found."}}"#
        );
    }

    #[test]
    fn retry_after_only_on_413_and_429() {
        let mut resp = Response::new();
        Fault {
            retry_after: Some(7),
            ..Fault::new(429, "slow down")
        }
        .write(&mut resp);
        assert_eq!(
            body(&resp),
            r#"{"overLimit": {"code": 429, "message": "slow down", "retryAfter": "7"}}"#
        );
        assert!(resp.has_header("Retry-After"));
        let mut resp = Response::new();
        Fault {
            retry_after: Some(7),
            ..Fault::new(400, "bad")
        }
        .write(&mut resp);
        assert!(!body(&resp).contains("retryAfter"));
    }
}
