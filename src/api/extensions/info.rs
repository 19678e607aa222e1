//! `GET /extensions` and `GET /extensions/{alias}` (SPEC §4.7 and §8, Folsom's
//! `ExtensionsResource`): the loaded extensions with Folsom's fields, sorted by alias.
//!
//! Core worker, per request. The framework adds this resource itself, whatever is loaded
//! (Nova's `get_resources` always prepends it); it reads the loaded set through
//! [`RequestContext::extensions`] and never lists an extension that is not loaded.

use super::{Controller, Extension, ResourceExtension};
use crate::{
    api::{
        context::{Request, RequestContext},
        error::ApiError,
        json,
    },
    http::Response,
    router::Params,
};

/// Nova's rule for both routes (default `@`).
const POLICY: &str = "os_compute_api:extensions";

/// The `/extensions` resource.
pub fn resource() -> ResourceExtension {
    ResourceExtension::new(
        "extensions",
        Controller::new().with("index", index).with("show", show),
    )
}

/// One extension's object: `alias`, `description`, `links`, `name`, `namespace`, `updated`.
fn push_extension(out: &mut Vec<u8>, ext: &dyn Extension) {
    out.extend_from_slice(b"{\"alias\": ");
    json::push_str(out, ext.alias());
    out.extend_from_slice(b", \"description\": ");
    json::push_str(out, ext.description());
    out.extend_from_slice(b", \"links\": [], \"name\": ");
    json::push_str(out, ext.name());
    out.extend_from_slice(b", \"namespace\": ");
    json::push_str(out, ext.namespace());
    out.extend_from_slice(b", \"updated\": ");
    json::push_str(out, ext.updated());
    out.push(b'}');
}

fn loaded<'a>(ctx: &RequestContext<'a>) -> Result<&'static super::Extensions, ApiError> {
    ctx.extensions
        .ok_or_else(|| ApiError::Internal("no extensions in this context".into()))
}

/// `GET /extensions`.
fn index<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    ctx.authorize_own(POLICY)?;
    let out = &mut resp.body;
    out.extend_from_slice(b"{\"extensions\": [");
    for (i, ext) in loaded(ctx)?.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        push_extension(out, ext);
    }
    out.extend_from_slice(b"]}");
    resp.content_type = "application/json";
    Ok(())
}

/// `GET /extensions/{alias}`: 404 when no loaded extension has the alias.
fn show<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    ctx.authorize_own(POLICY)?;
    let alias = params.get("id").unwrap_or_default();
    let ext = loaded(ctx)?.find(alias).ok_or(ApiError::VersionNotFound)?;
    resp.body.extend_from_slice(b"{\"extension\": ");
    push_extension(&mut resp.body, ext);
    resp.body.push(b'}');
    resp.content_type = "application/json";
    Ok(())
}
