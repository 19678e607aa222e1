//! `cors` (oslo.middleware with Nova's defaults): only active when `[cors] allowed_origin` is
//! set. Answers preflight `OPTIONS` requests itself and decorates actual responses for
//! allowed origins. Requests from other origins pass through undecorated.
//!
//! Core worker; the settings are compiled at start-up and shared read-only.
//!
//! It must never add CORS headers for an origin that is not configured, and never answer a
//! preflight when CORS is off.

use crate::{api::context::Request, config, http::Response, router::Method};

/// Compiled CORS settings.
#[derive(Debug, Clone)]
pub struct Cors {
    settings: config::Cors,
    allow_methods: String,
    max_age: String,
}

impl Cors {
    /// Compiles the `[cors]` section.
    pub fn new(settings: &config::Cors) -> Cors {
        Cors {
            allow_methods: settings.allow_methods.join(","),
            max_age: settings.max_age.to_string(),
            settings: settings.clone(),
        }
    }

    /// Whether the filter does anything: without `allowed_origin` it neither answers
    /// preflights nor decorates responses.
    #[inline]
    pub fn is_active(&self) -> bool {
        !self.settings.allowed_origin.is_empty()
    }

    fn allowed_origin<'a>(&self, req: &Request<'a>) -> Option<&'a [u8]> {
        if self.settings.allowed_origin.is_empty() {
            return None;
        }
        let origin = req.header("origin")?;
        let allowed = self
            .settings
            .allowed_origin
            .iter()
            .any(|o| o == "*" || o.as_bytes() == origin);
        allowed.then_some(origin)
    }

    /// Handles a preflight request; returns true when the response is complete.
    pub fn preflight(&self, req: &Request<'_>, resp: &mut Response) -> bool {
        if req.method != Some(Method::Options) {
            return false;
        }
        let Some(requested) = req.header("access-control-request-method") else {
            return false;
        };
        let Some(origin) = self.allowed_origin(req) else {
            return false;
        };
        resp.status = 200;
        let method_ok = self
            .settings
            .allow_methods
            .iter()
            .any(|m| m.as_bytes() == requested);
        let headers_ok = req
            .header_str("access-control-request-headers")
            .is_none_or(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .all(|h| {
                        self.settings
                            .allow_headers
                            .iter()
                            .any(|a| a.eq_ignore_ascii_case(h))
                    })
            });
        if !(method_ok && headers_ok) {
            return true;
        }
        resp.header("Access-Control-Allow-Origin", origin);
        resp.header("Vary", b"Origin");
        if self.settings.allow_credentials {
            resp.header("Access-Control-Allow-Credentials", b"true");
        }
        resp.header(
            "Access-Control-Allow-Methods",
            self.allow_methods.as_bytes(),
        );
        if let Some(list) = req.header("access-control-request-headers") {
            resp.header("Access-Control-Allow-Headers", list);
        }
        resp.header("Access-Control-Max-Age", self.max_age.as_bytes());
        true
    }

    /// Decorates an actual response for an allowed origin.
    pub fn on_response(&self, req: &Request<'_>, resp: &mut Response) {
        let Some(origin) = self.allowed_origin(req) else {
            return;
        };
        resp.header("Access-Control-Allow-Origin", origin);
        resp.header("Vary", b"Origin");
        if self.settings.allow_credentials {
            resp.header("Access-Control-Allow-Credentials", b"true");
        }
        if !self.settings.expose_headers.is_empty() {
            resp.header(
                "Access-Control-Expose-Headers",
                self.settings.expose_headers.as_bytes(),
            );
        }
    }
}
