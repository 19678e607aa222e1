//! `/healthcheck`, as oslo.middleware's Healthcheck app: 200 `OK` (text/plain), 204 on HEAD,
//! `{"detailed": false, "reasons": ["OK"]}` when JSON is asked for.
//!
//! Core worker; answers from memory, touches nothing shared.
//!
//! It must never touch the database or any other shared state: a health probe must stay cheap
//! and cannot fail for reasons other than the process itself.

use super::context::Request;
use crate::http::{response::SharedBody, Response};

/// Answers a health check.
pub fn call(req: &Request<'_>, resp: &mut Response) {
    if req.is_head() {
        resp.status = 204;
        resp.content_type = "text/plain; charset=UTF-8";
        return;
    }
    resp.status = 200;
    let wants_json = req.header("accept").is_some_and(|accept| {
        accept
            .windows(16)
            .any(|w| w.eq_ignore_ascii_case(b"application/json"))
    });
    if wants_json {
        resp.content_type = "application/json";
        resp.shared_body = Some(SharedBody::Static(
            br#"{"detailed": false, "reasons": ["OK"]}"#,
        ));
    } else {
        resp.content_type = "text/plain; charset=UTF-8";
        resp.shared_body = Some(SharedBody::Static(b"OK"));
    }
}
