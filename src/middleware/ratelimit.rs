//! `ratelimit`: Nova's `RateLimitingMiddleware` (Folsom's `limits.py`), per user, enforced
//! across every worker.
//!
//! Core worker, after the auth filter (it needs the user). Each request is checked against
//! the process-wide [`RateLimiter`] with its method and its path below the API root — without
//! the `/{project_id}` segment, so Folsom's `^/servers` means what it says — followed by
//! `?query` when there is one. Over a limit it answers 429 `overLimit` as Nova's
//! `RateLimitFault` does (`message`, `details`, `retryAfter`, and a `Retry-After` header);
//! otherwise it records the limiter in the context so that `GET /limits` can show the
//! caller's standing under `rate`. It never allocates for an accepted request.
//!
//! Paste section (Folsom's keys, plus one of ringnova's):
//!
//! ```ini
//! [filter:ratelimit]
//! paste.filter_factory = nova.api.openstack.compute.limits:RateLimitingMiddleware.factory
//! # Folsom's syntax; Folsom's defaults when absent or empty.
//! limits = (POST, "*", .*, 10, MINUTE);(POST, "*/servers", ^/servers, 50, DAY)
//! # Users whose state is kept at once (least recently seen ones are forgotten past it).
//! max_users = 100000
//! ```

use crate::{
    api::{
        context::{Request, RequestContext},
        fault::FAULT_CONTENT_TYPE,
        json,
    },
    http::{response::push_u64, Response},
    ratelimit::{RateLimiter, Verdict},
};

/// Nova's message of a rate-limited request.
pub const MESSAGE: &str = "This request was rate-limited.";

/// Returns true when the response is complete (429: over a limit).
pub fn on_request<'a>(
    limiter: &'static RateLimiter,
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    resp: &mut Response,
) -> bool {
    ctx.rate_limiter = Some(limiter);
    let path = without_project(ctx.path_info, ctx.project_id);
    match limiter.check(ctx.user_id, req.method_bytes(), path, req.query) {
        Verdict::Allowed => false,
        Verdict::Limited { limit, delay } => {
            // Nova: `int(math.ceil(retry_time - time.time()))`.
            let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
            let details = limiter.limits().get(limit).map_or("", |l| &l.message);
            write_fault(resp, details, seconds);
            true
        }
    }
}

/// `path_info` without a leading `/{project}` segment.
fn without_project<'a>(path_info: &'a str, project: Option<&str>) -> &'a str {
    let Some(project) = project.filter(|p| !p.is_empty()) else {
        return path_info;
    };
    match path_info
        .strip_prefix('/')
        .and_then(|rest| rest.strip_prefix(project))
    {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path_info,
    }
}

/// `{"overLimit": {"code": 429, "message", "details", "retryAfter"}}` and `Retry-After`.
fn write_fault(resp: &mut Response, details: &str, retry_after: u64) {
    resp.status = 429;
    resp.content_type = FAULT_CONTENT_TYPE;
    resp.shared_body = None;
    let body = &mut resp.body;
    body.clear();
    body.extend_from_slice(b"{\"overLimit\": {\"code\": 429, \"message\": ");
    json::push_str(body, MESSAGE);
    body.extend_from_slice(b", \"details\": ");
    json::push_str(body, details);
    body.extend_from_slice(b", \"retryAfter\": \"");
    push_u64(body, retry_after);
    body.extend_from_slice(b"\"}}");
    let mut digits = itoa::Buffer::new();
    resp.header("Retry-After", digits.format(retry_after).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_segment_is_dropped() {
        let cases = [
            ("/servers", Some("p1"), "/servers"),
            ("/p1/servers", Some("p1"), "/servers"),
            ("/p1", Some("p1"), "/"),
            ("/p10/servers", Some("p1"), "/p10/servers"),
            ("/p1/servers", None, "/p1/servers"),
            ("/servers", Some(""), "/servers"),
        ];
        for (path, project, expected) in cases {
            assert_eq!(without_project(path, project), expected, "{path}");
        }
    }

    #[test]
    fn fault_body_and_header() {
        let mut resp = Response::new();
        resp.body.extend_from_slice(b"old");
        write_fault(
            &mut resp,
            "Only 1 POST request(s) can be made to * every hour.",
            7,
        );
        assert_eq!(resp.status, 429);
        assert_eq!(
            std::str::from_utf8(&resp.body).unwrap(),
            "{\"overLimit\": {\"code\": 429, \"message\": \"This request was rate-limited.\", \
             \"details\": \"Only 1 POST request(s) can be made to * every hour.\", \
             \"retryAfter\": \"7\"}}"
        );
        assert!(resp.has_header("Retry-After"));
    }
}
