//! The images proxy (Nova's `compute/images.py` and `views/images.py`): list, detail, show
//! and delete of the image catalogue, as Nova proxies Glance.
//!
//! Core worker, innermost layer. Per microversion: served from 2.1 (and `/v2`) up to 2.35;
//! from 2.36 every route answers 404 (`MAX_PROXY_API_SUPPORT_VERSION`). Nova checks no
//! policy here; Glance's ownership rule for delete is kept as "admins only" (the catalogue's
//! images are public images without an owner): others get 403 "You are not allowed to delete
//! the image.". A snapshot made by createImage is private to its server's project, as in
//! Glance: other projects' non-admin callers neither list nor find it (404). Filters are Nova's `SUPPORTED_FILTERS` (`name`, `status`, `changes-since`,
//! `server`, `type`, `minRam`, `minDisk`) plus `property-<name>`, with Glance v2 semantics
//! (exact matches, `changes-since` = updated at or after); `limit`/`marker` page newest
//! first. Rows stream into the body. This module must never touch servers.

use std::borrow::Cow;

use super::{
    context::{Request, RequestContext},
    error::ApiError,
    json,
    links::{page_is_full, Links},
    query_pairs,
    server_view::{self, push_isotime},
    QueryPairs, Route,
};
use crate::{
    db::{
        queries::images::{self, ImageFilter, ImageRef},
        DbError,
    },
    http::Response,
    router::{Method, Params},
};

/// The routes of the images proxy.
pub const ROUTES: &[Route] = &[
    crate::route!(Method::Get, "/images", index),
    crate::route!(Method::Get, "/images/detail", detail),
    crate::route!(Method::Get, "/images/{id}", show),
    crate::route!(Method::Delete, "/images/{id}", delete),
];

/// The last microversion that serves the proxy.
const MAX_PROXY_MINOR: u16 = 35;

fn served(ctx: &RequestContext<'_>) -> Result<(), ApiError> {
    if ctx.at_least(MAX_PROXY_MINOR + 1) {
        return Err(ApiError::VersionNotFound);
    }
    Ok(())
}

/// The project whose images a caller sees: its own for non-admins, `None` (all) for admins.
fn visible_project<'a>(ctx: &RequestContext<'a>) -> Result<Option<&'a str>, ApiError> {
    let (_, project) = ctx.identity()?;
    Ok((!ctx.is_admin).then_some(project))
}

fn not_found() -> ApiError {
    ApiError::NotFound(Cow::Borrowed("Image not found."))
}

/// Glance's default API endpoint for a request: the request host on port 9292.
fn push_glance_href(out: &mut Vec<u8>, ctx: &RequestContext<'_>, id: &str) {
    json::push_escaped(out, ctx.scheme);
    out.extend_from_slice(b"://");
    let host = ctx.host;
    // Strip a port (but not from a bracketed IPv6 literal without one).
    let end = match host.iter().rposition(|&b| b == b':') {
        Some(colon) if !host[colon..].contains(&b']') => colon,
        _ => host.len(),
    };
    json::push_escaped_bytes(out, &host[..end]);
    out.extend_from_slice(b":9292/images/");
    json::push_escaped(out, id);
}

/// Appends the three links: self, bookmark and Glance's alternate.
fn push_links(out: &mut Vec<u8>, links: &Links<'_, '_>, ctx: &RequestContext<'_>, id: &str) {
    links.push_links(out, "images", id);
    out.pop(); // the closing `]`
    out.extend_from_slice(b", {\"href\": \"");
    push_glance_href(out, ctx, id);
    out.extend_from_slice(
        b"\", \"rel\": \"alternate\", \"type\": \"application/vnd.openstack.image\"}]",
    );
}

fn push_basic(
    out: &mut Vec<u8>,
    links: &Links<'_, '_>,
    ctx: &RequestContext<'_>,
    image: &ImageRef<'_>,
) {
    out.extend_from_slice(b"{\"id\": ");
    json::push_str(out, image.id);
    out.extend_from_slice(b", \"name\": ");
    json::push_str(out, image.name);
    out.extend_from_slice(b", \"links\": ");
    push_links(out, links, ctx, image.id);
    out.push(b'}');
}

/// The image view's `status` and `progress` of a Glance status.
fn status_and_progress(status: &str) -> (&'static str, i64) {
    match status.to_ascii_lowercase().as_str() {
        "active" => ("ACTIVE", 100),
        "queued" => ("SAVING", 25),
        "saving" => ("SAVING", 50),
        "deleted" | "pending_delete" => ("DELETED", 0),
        "killed" => ("ERROR", 0),
        _ => ("UNKNOWN", 0),
    }
}

fn push_show(
    out: &mut Vec<u8>,
    links: &Links<'_, '_>,
    ctx: &RequestContext<'_>,
    image: &ImageRef<'_>,
    scratch: &mut Vec<u8>,
) {
    use simd_json::prelude::*;
    let (status, progress) = status_and_progress(image.status);
    out.extend_from_slice(b"{\"id\": ");
    json::push_str(out, image.id);
    out.extend_from_slice(b", \"name\": ");
    json::push_str(out, image.name);
    out.extend_from_slice(b", \"minRam\": ");
    out.extend_from_slice(itoa::Buffer::new().format(image.min_ram).as_bytes());
    out.extend_from_slice(b", \"minDisk\": ");
    out.extend_from_slice(itoa::Buffer::new().format(image.min_disk).as_bytes());
    out.extend_from_slice(b", \"metadata\": ");
    scratch.clear();
    scratch.extend_from_slice(image.metadata.as_bytes());
    let parsed = simd_json::to_borrowed_value(scratch).ok();
    let properties = parsed.as_ref().and_then(|v| v.as_object());
    out.push(b'{');
    let mut instance_uuid = image.server_uuid;
    let mut disk_config = None;
    if let Some(properties) = properties {
        let mut sorted: Vec<_> = properties.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        for (i, (k, v)) in sorted.into_iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            json::push_str(out, k);
            out.extend_from_slice(b": ");
            match v.as_str() {
                Some(text) => json::push_str(out, text),
                None => {
                    let _ = v.write(out);
                }
            }
            if k.as_ref() == "instance_uuid" && instance_uuid.is_none() {
                instance_uuid = v.as_str();
            }
            if k.as_ref() == "auto_disk_config" {
                disk_config = v.as_str().map(|s| {
                    matches!(
                        s.trim().to_ascii_lowercase().as_str(),
                        "1" | "t" | "true" | "on" | "y" | "yes"
                    )
                });
            }
        }
    }
    out.push(b'}');
    out.extend_from_slice(b", \"created\": ");
    push_isotime(out, image.created_at);
    out.extend_from_slice(b", \"updated\": ");
    push_isotime(out, image.updated_at);
    out.extend_from_slice(b", \"status\": ");
    json::push_str(out, status);
    out.extend_from_slice(b", \"progress\": ");
    out.extend_from_slice(itoa::Buffer::new().format(progress).as_bytes());
    out.extend_from_slice(b", \"OS-EXT-IMG-SIZE:size\": ");
    out.extend_from_slice(itoa::Buffer::new().format(image.size).as_bytes());
    out.extend_from_slice(b", \"links\": ");
    push_links(out, links, ctx, image.id);
    if let Some(server) = instance_uuid {
        out.extend_from_slice(b", \"server\": {\"id\": ");
        json::push_str(out, server);
        out.extend_from_slice(b", \"links\": ");
        links.push_links(out, "servers", server);
        out.push(b'}');
    }
    if let Some(auto) = disk_config {
        out.extend_from_slice(b", \"OS-DCF:diskConfig\": ");
        json::push_str(out, if auto { "AUTO" } else { "MANUAL" });
    }
    out.push(b'}');
}

fn last<'p>(pairs: &'p QueryPairs<'_>, name: &str) -> Option<&'p str> {
    pairs
        .as_slice()
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_ref())
}

/// `common.get_pagination_params`: `limit` and `page_size` must be non-negative integers.
fn int_param(pairs: &QueryPairs<'_>, name: &str) -> Result<Option<i64>, ApiError> {
    let Some(text) = last(pairs, name) else {
        return Ok(None);
    };
    // Python's `int()` has no bound: an integer past i64 is still an integer (a huge limit
    // just means "everything"), so an overflow saturates instead of failing.
    let value: i64 = match text.trim().parse::<i64>() {
        Ok(value) => value,
        Err(err) if *err.kind() == std::num::IntErrorKind::PosOverflow => i64::MAX,
        Err(err) if *err.kind() == std::num::IntErrorKind::NegOverflow => i64::MIN,
        Err(_) => {
            return Err(ApiError::Invalid(Cow::Owned(format!(
                "{name} param must be an integer"
            ))))
        }
    };
    if value < 0 {
        return Err(ApiError::Invalid(Cow::Owned(format!(
            "{name} param must be positive"
        ))));
    }
    Ok(Some(value))
}

fn list<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    resp: &mut Response,
    detail: bool,
) -> Result<(), ApiError> {
    served(ctx)?;
    let project = visible_project(ctx)?;
    let pairs = query_pairs(req)?;
    let requested = int_param(&pairs, "limit")?;
    int_param(&pairs, "page_size")?;
    let mut filter = ImageFilter {
        project,
        name: last(&pairs, "name"),
        server: last(&pairs, "server").map(|s| s.rsplit('/').next().unwrap_or(s)),
        image_type: last(&pairs, "type"),
        marker: last(&pairs, "marker"),
        limit: requested.map(|l| u32::try_from(l).unwrap_or(u32::MAX)),
        ..ImageFilter::default()
    };
    let status = last(&pairs, "status").map(str::to_ascii_lowercase);
    filter.status = status.as_deref();
    if let Some(since) = last(&pairs, "changes-since") {
        filter.changes_since = Some(server_view::parse_isotime(since).ok_or_else(|| {
            ApiError::Invalid(Cow::Owned(format!(
                "Invalid input received: Invalid changes-since value: {since}"
            )))
        })?);
    }
    let number = |name: &str| -> Result<Option<i64>, ApiError> {
        last(&pairs, name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    ApiError::Invalid(Cow::Owned(format!(
                        "Invalid input received: Invalid {name} value: {v}"
                    )))
                })
            })
            .transpose()
    };
    filter.min_ram = number("minRam")?;
    filter.min_disk = number("minDisk")?;
    for (k, v) in pairs.as_slice() {
        if let Some(name) = k.strip_prefix("property-") {
            if name == "instance_uuid" {
                filter.server = Some(v.rsplit('/').next().unwrap_or(v));
            } else if !filter.properties.iter().any(|(n, _)| *n == name) {
                filter.properties.push((name, last(&pairs, k).unwrap_or(v)));
            }
        }
    }
    let services = ctx.services()?;
    let links = Links::new(req, ctx);
    let out = &mut resp.body;
    out.extend_from_slice(b"{\"images\": [");
    let mut last_id = String::new();
    let mut scratch = Vec::new();
    let mut first = true;
    let returned = images::list_each(&services.db, &filter, |image| {
        if !first {
            out.extend_from_slice(b", ");
        }
        first = false;
        if detail {
            push_show(out, &links, ctx, image, &mut scratch);
        } else {
            push_basic(out, &links, ctx, image);
        }
        last_id.clear();
        last_id.push_str(image.id);
    })
    .map_err(|err| match err {
        DbError::MarkerNotFound => {
            ApiError::MarkerNotFound(filter.marker.unwrap_or_default().to_owned())
        }
        other => other.into(),
    })?;
    out.push(b']');
    let requested = requested.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    if page_is_full(requested, services.max_limit, returned) {
        let collection = if detail { "images/detail" } else { "images" };
        links.push_next(out, "images", collection, req, &last_id);
    }
    out.push(b'}');
    resp.content_type = "application/json";
    Ok(())
}

/// `GET /images`.
fn index<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    list(req, ctx, resp, false)
}

/// `GET /images/detail`.
fn detail<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    list(req, ctx, resp, true)
}

/// `GET /images/{id}`.
fn show<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    served(ctx)?;
    let project = visible_project(ctx)?;
    let id = params.get("id").unwrap_or_default();
    let services = ctx.services()?;
    let links = Links::new(req, ctx);
    let out = &mut resp.body;
    let mut scratch = Vec::new();
    images::with_image(&services.db, id, project, |image| {
        out.extend_from_slice(b"{\"image\": ");
        push_show(out, &links, ctx, image, &mut scratch);
        out.push(b'}');
    })
    .map_err(|err| match err {
        DbError::NotFound => not_found(),
        other => other.into(),
    })?;
    resp.content_type = "application/json";
    Ok(())
}

/// `DELETE /images/{id}`: 204.
fn delete<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    served(ctx)?;
    let project = visible_project(ctx)?;
    let id = params.get("id").unwrap_or_default();
    let services = ctx.services()?;
    images::with_image(&services.db, id, project, |_| ()).map_err(|err| match err {
        DbError::NotFound => not_found(),
        other => other.into(),
    })?;
    if !ctx.is_admin {
        // Glance's HTTPForbidden, answered by Nova as a 403 "forbidden" fault.
        return Err(ApiError::Forbidden(Cow::Borrowed(
            "You are not allowed to delete the image.",
        )));
    }
    images::delete(&services.db, id).map_err(|err| match err {
        DbError::NotFound => not_found(),
        other => other.into(),
    })?;
    resp.status = 204;
    Ok(())
}
