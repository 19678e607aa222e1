//! `request_log`: one access-log line per request, Nova's format, formatted off the hot path.
//!
//! Core worker side only copies fixed-size fields into an [`AccessRecord`] and hands it to
//! the logging thread (`crate::logging`); it never formats or writes.

use std::time::Instant;

use crate::{
    api::context::{Request, RequestContext},
    http::Response,
    logging::{self, AccessRecord, InlineText},
};

/// After the inner layers: queue the record (`started` is when the filter was entered).
pub fn on_response(req: &Request<'_>, ctx: &RequestContext<'_>, resp: &Response, started: Instant) {
    // `access_log` switched off by a reload.
    if !logging::access_enabled() {
        return;
    }
    let remote = match ctx.remote_addr {
        Some(addr) => InlineText::new(addr.as_bytes()),
        None => logging::remote_text(req.peer),
    };
    logging::access(AccessRecord {
        remote,
        method: InlineText::new(req.method_bytes()),
        uri: InlineText::new(req.target()),
        status: resp.status,
        len: resp.body_bytes().len() as u64,
        microversion: ctx.api_version,
        micros: started.elapsed().as_micros() as u64,
        request_id: ctx.request_id,
        global_request_id: ctx
            .global_request_id
            .and_then(|id| id.as_bytes().try_into().ok()),
    });
}
