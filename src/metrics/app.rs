//! `/metrics`: the scrape endpoint, mounted in the paste URL map like `/healthcheck`.
//!
//! Core worker: whichever worker accepts the scrape renders every worker's counters (reads
//! only). No authentication: it is meant for a management network, like the health check;
//! switch it off with `[metrics] enabled = false` (then it answers 404) or leave it out of the
//! URL map. Serving it on a separate listening address is not supported.
//!
//! It must never write to any worker's counters, and never answer another method than GET
//! or HEAD with the exposition.

use super::{exposition, Registry};
use crate::{
    api::{context::Request, fault::Fault},
    http::Response,
    router::Method,
};

/// Answers a scrape.
pub fn call(registry: &Registry, req: &Request<'_>, resp: &mut Response) {
    if !registry.is_enabled() {
        Fault::not_found().write(resp);
        return;
    }
    if !matches!(req.method, Some(Method::Get | Method::Head)) {
        Fault::new(405, "The method is not allowed for the requested URL.").write(resp);
        resp.header("Allow", b"GET, HEAD");
        return;
    }
    let mut text = String::with_capacity(16 * 1024);
    exposition::render(registry, &mut text);
    resp.status = 200;
    resp.content_type = exposition::CONTENT_TYPE;
    resp.body.extend_from_slice(text.as_bytes());
}
