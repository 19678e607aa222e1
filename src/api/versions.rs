//! The version documents (SPEC §2.1): `GET /`, `/v2.1`, `/v2/`, and 300 choices elsewhere.
//!
//! Core worker, behind the root or version pipelines. Bodies are written straight into the
//! response buffer; hrefs are built from the request's scheme, host and proxy prefix.
//! The root document carries no microversion headers; the `/v2.1` document does.
//!
//! It must never write request data (Host, prefixes) into a document without escaping it, and
//! never serve a cached document for a different scheme, host or prefix.

use std::{cell::RefCell, rc::Rc};

use super::{
    context::{Request, RequestContext},
    error::ApiError,
    json,
    microversion::{MAX_API_VERSION_STR, MIN_API_VERSION},
};
use crate::http::Response;

/// The JSON content type of the version documents.
pub const JSON: &str = "application/json";

struct VersionInfo {
    id: &'static str,
    path: &'static str,
    status: &'static str,
    version: &'static str,
    min_version: &'static str,
    updated: &'static str,
    media_type: &'static str,
}

const V2_0: VersionInfo = VersionInfo {
    id: "v2.0",
    path: "v2",
    status: "DEPRECATED",
    version: "",
    min_version: "",
    updated: "2025-07-04T12:00:00Z",
    media_type: "application/vnd.openstack.compute+json;version=2",
};

const V2_1: VersionInfo = VersionInfo {
    id: "v2.1",
    path: "v2.1",
    status: "CURRENT",
    version: MAX_API_VERSION_STR,
    min_version: "2.1",
    updated: "2013-07-23T11:33:21Z",
    media_type: "application/vnd.openstack.compute+json;version=2.1",
};

const _: () = assert!(MIN_API_VERSION.major == 2 && MIN_API_VERSION.minor == 1);

/// Writes `"<scheme>://<host><prefix>/<path><rest>"` (a JSON string) into `out`.
fn push_href(out: &mut Vec<u8>, ctx: &RequestContext<'_>, path: &str, rest: &str) {
    out.push(b'"');
    json::push_escaped(out, ctx.scheme);
    out.extend_from_slice(b"://");
    json::push_escaped_bytes(out, ctx.host);
    json::push_escaped(out, ctx.proxy_prefix);
    out.push(b'/');
    out.extend_from_slice(path.as_bytes());
    json::push_escaped(out, rest);
    out.push(b'"');
}

fn push_summary(out: &mut Vec<u8>, ctx: &RequestContext<'_>, v: &VersionInfo) {
    out.extend_from_slice(b"{\"id\": \"");
    out.extend_from_slice(v.id.as_bytes());
    out.extend_from_slice(b"\", \"links\": [{\"href\": ");
    push_href(out, ctx, v.path, "/");
    out.extend_from_slice(b", \"rel\": \"self\"}], \"status\": \"");
    push_tail(out, v);
}

fn push_tail(out: &mut Vec<u8>, v: &VersionInfo) {
    out.extend_from_slice(v.status.as_bytes());
    out.extend_from_slice(b"\", \"version\": \"");
    out.extend_from_slice(v.version.as_bytes());
    out.extend_from_slice(b"\", \"min_version\": \"");
    out.extend_from_slice(v.min_version.as_bytes());
    out.extend_from_slice(b"\", \"updated\": \"");
    out.extend_from_slice(v.updated.as_bytes());
    out.extend_from_slice(b"\"}");
}

fn push_media_types(out: &mut Vec<u8>, v: &VersionInfo) {
    out.extend_from_slice(b"[{\"base\": \"application/json\", \"type\": \"");
    out.extend_from_slice(v.media_type.as_bytes());
    out.extend_from_slice(b"\"}]");
}

/// Which cached document.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Doc {
    Root,
    V2_0,
    V2_1,
}

/// The last rendering of each document on this worker, keyed by the link base (scheme,
/// host, proxy prefix). Clients keep asking with the same Host, so a document is rendered
/// once and then copied; a different base simply renders it again.
struct Rendered {
    doc: Doc,
    https: bool,
    host: Vec<u8>,
    prefix: Vec<u8>,
    body: Rc<[u8]>,
}

impl Rendered {
    /// Cheap checks first: a hit costs one comparison of the host bytes.
    fn matches(&self, doc: Doc, ctx: &RequestContext<'_>) -> bool {
        self.doc == doc
            && self.https == (ctx.scheme.len() == 5)
            && self.host.len() == ctx.host.len()
            && self.prefix.len() == ctx.proxy_prefix.len()
            && self.host == ctx.host
            && (self.prefix.is_empty() || self.prefix == ctx.proxy_prefix.as_bytes())
    }
}

thread_local! {
    static RENDERED: RefCell<Vec<Rendered>> = const { RefCell::new(Vec::new()) };
}

/// Sets document `doc` as the response body, from this worker's cache when the link base
/// matches (the cached bytes are shared, not copied, until the response is written).
fn cached(
    ctx: &RequestContext<'_>,
    doc: Doc,
    resp: &mut Response,
    render: impl FnOnce(&mut Vec<u8>),
) {
    RENDERED.with(|cell| {
        let mut entries = cell.borrow_mut();
        if let Some(hit) = entries.iter().find(|e| e.matches(doc, ctx)) {
            resp.shared_body = Some(Rc::clone(&hit.body).into());
            return;
        }
        let mut body = Vec::with_capacity(512);
        render(&mut body);
        let body: Rc<[u8]> = body.into();
        resp.shared_body = Some(Rc::clone(&body).into());
        let entry = Rendered {
            doc,
            https: ctx.scheme.len() == 5,
            host: ctx.host.to_vec(),
            prefix: ctx.proxy_prefix.as_bytes().to_vec(),
            body,
        };
        match entries.iter_mut().find(|e| e.doc == doc) {
            Some(slot) => *slot = entry,
            None => entries.push(entry),
        }
    });
}

/// The root app (`oscomputeversionapp`): `/` lists versions, any other path gets 300 choices.
pub fn root(_req: &Request<'_>, ctx: &RequestContext<'_>, resp: &mut Response) {
    resp.content_type = JSON;
    if ctx.path_info == "/" || ctx.path_info.is_empty() {
        resp.status = 200;
        cached(ctx, Doc::Root, resp, |out| {
            out.extend_from_slice(b"{\"versions\": [");
            push_summary(out, ctx, &V2_0);
            out.extend_from_slice(b", ");
            push_summary(out, ctx, &V2_1);
            out.extend_from_slice(b"]}");
        });
        return;
    }
    resp.status = 300;
    let out = &mut resp.body;
    let rest = ctx.path_info.trim_start_matches('/');
    out.extend_from_slice(b"{\"choices\": [");
    for (i, v) in [&V2_0, &V2_1].into_iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(b"{\"id\": \"");
        out.extend_from_slice(v.id.as_bytes());
        out.extend_from_slice(b"\", \"status\": \"");
        out.extend_from_slice(v.status.as_bytes());
        out.extend_from_slice(b"\", \"links\": [{\"rel\": \"self\", \"href\": ");
        out.push(b'"');
        json::push_escaped(out, ctx.scheme);
        out.extend_from_slice(b"://");
        json::push_escaped_bytes(out, ctx.host);
        json::push_escaped(out, ctx.proxy_prefix);
        out.push(b'/');
        out.extend_from_slice(v.path.as_bytes());
        out.push(b'/');
        json::push_escaped(out, rest);
        out.extend_from_slice(b"\"}], \"media-types\": ");
        push_media_types(out, v);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

/// Writes the full document of one version (`{"version": {...}}`).
fn version_document(ctx: &RequestContext<'_>, resp: &mut Response, legacy: bool) {
    let (v, doc) = if legacy {
        (&V2_0, Doc::V2_0)
    } else {
        (&V2_1, Doc::V2_1)
    };
    resp.status = 200;
    resp.content_type = JSON;
    cached(ctx, doc, resp, |out| render_version(ctx, v, out));
}

fn render_version(ctx: &RequestContext<'_>, v: &VersionInfo, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"version\": {\"id\": \"");
    out.extend_from_slice(v.id.as_bytes());
    out.extend_from_slice(b"\", \"links\": [{\"href\": ");
    push_href(out, ctx, v.path, "/");
    out.extend_from_slice(
        b", \"rel\": \"self\"}, {\"href\": \"http://docs.openstack.org/\", \"rel\": \"describedby\", \"type\": \"text/html\"}], \"media-types\": ",
    );
    push_media_types(out, v);
    out.extend_from_slice(b", \"status\": \"");
    push_tail(out, v);
    out.push(b'}');
}

/// The `/v2` and `/v2.1` app (`oscomputeversionapp_v2`): the document of the version the
/// URL names (v2.0 under the legacy wrapper).
pub fn v2(
    _req: &Request<'_>,
    ctx: &RequestContext<'_>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    if !(ctx.path_info.is_empty() || ctx.path_info == "/") {
        return Err(ApiError::VersionNotFound);
    }
    version_document(ctx, resp, ctx.legacy_v2);
    Ok(())
}

/// `GET /v2.1/versions/{id}` inside the API: the v2.1 document, 404 for any other id.
pub fn show(ctx: &RequestContext<'_>, id: &str, resp: &mut Response) -> Result<(), ApiError> {
    if id != "v2.1" {
        return Err(ApiError::VersionNotFound);
    }
    version_document(ctx, resp, false);
    Ok(())
}
