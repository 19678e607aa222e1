//! The compute API: Nova's `APIRouterV21` and `wsgi.Resource`, plus the version and health
//! apps that the paste pipeline names.
//!
//! Core worker, innermost layer of the filter chain. An app gets the framed [`Request`], the
//! [`RequestContext`] the filters filled in and the connection's reusable [`Response`]; it
//! writes the body and status and returns `Err(Fault)` for errors Nova answers with a fault.
//! Apps never see raw sockets and never block on anything but the per-core database.
//!
//! ```text
//! urlmap ── "/"            → versions::root      (200 versions, 300 choices)
//!         ├ "/v2", "/v2.1" → versions::v2        (one version document)
//!         ├ "/healthcheck" → healthcheck::call
//!         └ "/v2/+", "/v2.1/+" → ApiRouter::call  (router → microversion → handler)
//! ```

pub mod body;
pub mod context;
pub mod fault;
pub mod healthcheck;
pub mod json;
pub mod links;
pub mod microversion;
pub mod query;
pub mod validation;
pub mod versions;

use context::{Request, RequestContext};
use fault::Fault;

use crate::{
    http::Response,
    router::{Builder, InsertError, Method, Params, Router},
};

/// A route handler: reads the request and context, writes the response.
pub type Handler = for<'a, 'r> fn(
    &Request<'a>,
    &mut RequestContext<'a>,
    &Params<'r, 'a>,
    &mut Response,
) -> Result<(), Fault>;

/// The compiled compute API (`osapi_compute_app_v21`).
#[derive(Debug)]
pub struct ApiRouter {
    router: Router<Handler>,
}

fn show_version(
    _req: &Request<'_>,
    ctx: &mut RequestContext<'_>,
    params: &Params<'_, '_>,
    resp: &mut Response,
) -> Result<(), Fault> {
    versions::show(ctx, params.get("id").unwrap_or_default(), resp)
}

/// Every route as (method, path relative to the API root, handler). Each is registered
/// twice, with and without the `{project_id}` segment, as Nova's `ProjectMapper` does.
const ROUTES: &[(Method, &str, &str, Handler)] = &[(
    Method::Get,
    "/versions/{id}",
    "/{project_id:hex}/versions/{id}",
    show_version,
)];

impl ApiRouter {
    /// Compiles the route table.
    pub fn new() -> Result<ApiRouter, InsertError> {
        let mut builder = Builder::new();
        for &(method, plain, with_project, handler) in ROUTES {
            builder.insert(method, plain, handler)?;
            builder.insert(method, with_project, handler)?;
        }
        Ok(ApiRouter {
            router: builder.build(),
        })
    }

    /// Routes and dispatches one request, answering every error with a fault.
    pub fn call<'a>(&self, req: &Request<'a>, ctx: &mut RequestContext<'a>, resp: &mut Response) {
        let Some(found) = req
            .method
            .and_then(|m| self.router.at(m, ctx.path_info).ok())
        else {
            Fault::not_found().write(resp);
            return;
        };
        resource(req, ctx, resp, |ctx, resp| {
            check_project(ctx, &found.params)?;
            (found.value)(req, ctx, &found.params, resp)
        });
    }
}

/// Nova's `wsgi.Resource` around one handler: negotiates the microversion (not under the
/// legacy `/v2` wrapper), checks the Content-Type (415), turns an error into its fault, and
/// adds the version headers to every outcome, faults included.
pub fn resource<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    resp: &mut Response,
    handler: impl FnOnce(&mut RequestContext<'a>, &mut Response) -> Result<(), Fault>,
) {
    if !ctx.legacy_v2 {
        match microversion::negotiate(req) {
            Ok(version) => ctx.api_version = Some(version),
            Err((fault, requested)) => {
                fault.write(resp);
                if let Some(version) = requested {
                    microversion::write_headers(resp, version);
                }
                return;
            }
        }
    }
    if let Err(fault) = body::check_content_type(req).and_then(|()| handler(ctx, resp)) {
        resp.headers.clear();
        fault.write(resp);
    }
    if let Some(version) = ctx.api_version {
        microversion::write_headers(resp, version);
    }
}

/// A `{project_id}` in the URL must be the context's project (SPEC §1.5 step 5).
fn check_project(ctx: &RequestContext<'_>, params: &Params<'_, '_>) -> Result<(), Fault> {
    match (params.get("project_id"), ctx.project_id) {
        (Some(url), Some(context)) if url != context => Err(Fault::with_message(
            400,
            format!(
                "Malformed request URL: URL's project_id '{url}' doesn't match Context's project_id '{context}'"
            ),
        )),
        _ => Ok(()),
    }
}
