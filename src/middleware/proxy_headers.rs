//! `http_proxy_to_wsgi`: when `[oslo_middleware] enable_proxy_headers_parsing` is on, take
//! scheme, host, client address and path prefix from RFC 7239 `Forwarded` (first element) or
//! from `X-Forwarded-Proto/Host/For/Prefix`. Off, it does nothing.
//!
//! Core worker; values borrow from the request buffer.
//!
//! It must never honour forwarded headers unless `enable_proxy_headers_parsing` is on.

use crate::api::context::{Request, RequestContext};

/// Applies proxy headers to the context.
pub fn on_request<'a>(req: &Request<'a>, ctx: &mut RequestContext<'a>) {
    if let Some(forwarded) = req.header_str("forwarded") {
        let first = forwarded.split(',').next().unwrap_or_default();
        for pair in first.split(';') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "proto" if value == "http" || value == "https" => ctx.scheme = value,
                "host" if !value.is_empty() => ctx.host = value.as_bytes(),
                "for" if !value.is_empty() => ctx.remote_addr = Some(value),
                _ => {}
            }
        }
    } else {
        if let Some(proto) = req.header_str("x-forwarded-proto") {
            let proto = proto.split(',').next().unwrap_or_default().trim();
            if proto == "http" || proto == "https" {
                ctx.scheme = proto;
            }
        }
        if let Some(host) = req.header_str("x-forwarded-host") {
            let host = host.split(',').next().unwrap_or_default().trim();
            if !host.is_empty() {
                ctx.host = host.as_bytes();
            }
        }
        if let Some(client) = req.header_str("x-forwarded-for") {
            ctx.remote_addr = client.split(',').next().map(str::trim);
        }
    }
    if let Some(prefix) = req.header_str("x-forwarded-prefix") {
        let prefix = prefix.trim().trim_end_matches('/');
        if prefix.starts_with('/') {
            ctx.proxy_prefix = prefix;
        }
    }
}
