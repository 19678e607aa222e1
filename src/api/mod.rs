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
//!         └ "/v2/+", "/v2.1/+" → ApiRouter::call  (router → microversion → handler, or
//!                                                  an extended route: see extensions)
//! ```

pub mod body;
pub mod context;
pub mod error;
pub mod extensions;
pub mod fault;
pub mod flavor_access;
pub mod flavor_extra_specs;
pub mod flavors;
pub mod healthcheck;
pub mod images;
pub mod json;
pub mod keypairs;
pub mod limits;
pub mod links;
pub mod microversion;
pub mod openapi;
pub mod query;
pub mod quota_sets;
pub mod read_cache;
pub mod schemas;
pub mod server_actions;
pub mod server_create;
pub mod server_metadata;
pub mod server_view;
pub mod servers;
pub mod services;
pub mod sshkey;
pub mod validation;
pub mod versions;

use std::borrow::Cow;

use context::{Request, RequestContext};
use error::ApiError;
use fault::Fault;
use simd_json::BorrowedValue;

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
) -> Result<(), ApiError>;

/// One `@wsgi.action` handler of a `POST …/action` route: gets the action's argument (the
/// value under the body's single key).
pub type ActionHandler = for<'a, 'r, 'v> fn(
    &Request<'a>,
    &mut RequestContext<'a>,
    &Params<'r, 'a>,
    &'v BorrowedValue<'a>,
    &mut Response,
) -> Result<(), ApiError>;

/// One route: method, path relative to the API root (`/flavors/{id}`), handler. Every route
/// is registered twice, with and without the `{project_id}` segment, as Nova's
/// `ProjectMapper` does; build routes with [`route!`](crate::route).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path template, without the project segment.
    pub path: &'static str,
    /// The same path under `/{project_id:hex}`.
    pub project_path: &'static str,
    /// The controller method.
    pub handler: Handler,
}

/// `route!(Method::Get, "/flavors/{id}", show)`: a [`Route`] with both path forms.
#[macro_export]
macro_rules! route {
    ($method:expr, $path:literal, $handler:expr) => {
        $crate::api::Route {
            method: $method,
            path: $path,
            project_path: concat!("/{project_id:hex}", $path),
            handler: $handler,
        }
    };
}

/// The compiled compute API (`osapi_compute_app_v21`).
#[derive(Debug)]
pub struct ApiRouter {
    /// Each route's endpoint and its index in the assembled table (both path forms share it;
    /// the metrics registry labels requests by the same index, see [`ApiRouter::route_paths`]).
    router: Router<(Endpoint, u16)>,
    table: Vec<extensions::routes::TableRoute>,
    extended: Vec<extensions::hooks::ExtendedRoute>,
    extensions: &'static extensions::Extensions,
}

fn show_version(
    _req: &Request<'_>,
    ctx: &mut RequestContext<'_>,
    params: &Params<'_, '_>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    versions::show(ctx, params.get("id").unwrap_or_default(), resp)
}

/// The version routes of the API root.
const VERSION_ROUTES: &[Route] = &[crate::route!(Method::Get, "/versions/{id}", show_version)];

/// Every resource's routes, in Nova's `ROUTE_LIST` order.
const ROUTE_TABLES: &[&[Route]] = &[
    VERSION_ROUTES,
    flavors::ROUTES,
    flavor_access::ROUTES,
    flavor_extra_specs::ROUTES,
    keypairs::ROUTES,
    limits::ROUTES,
    quota_sets::ROUTES,
    servers::ROUTES,
    server_create::ROUTES,
    server_actions::ROUTES,
    server_metadata::ROUTES,
    images::ROUTES,
];

/// The core resources' routes, in table order.
pub fn core_routes() -> impl Iterator<Item = &'static Route> {
    ROUTE_TABLES.iter().flat_map(|table| table.iter())
}

/// Every served route with every standard extension loaded (each also under
/// `/{project_id}` unless its `project_path` is empty), core routes first: what
/// [`ApiRouter::new`] registers, for tests that must cover the whole API.
pub fn routes() -> impl Iterator<Item = &'static Route> {
    core_routes().chain(extensions::routes::standard_routes())
}

/// What the router finds for a path: a core handler, called directly, or an extended route
/// (added or wrapped by an extension), run through [`extensions::hooks`].
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Core(Handler),
    Extended(usize),
}

/// Why the compute API's router could not be built.
#[derive(Debug)]
pub enum RouterError {
    /// Loading or assembling the extensions failed.
    Extensions(extensions::LoadError),
    /// Two routes clash, or a template is malformed.
    Insert(InsertError),
}

impl std::fmt::Display for RouterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouterError::Extensions(err) => write!(f, "extensions: {err}"),
            RouterError::Insert(err) => write!(f, "route table: {err}"),
        }
    }
}

impl std::error::Error for RouterError {}

impl ApiRouter {
    /// Compiles the core routes and every standard extension.
    pub fn new() -> Result<ApiRouter, RouterError> {
        let loaded = extensions::compiled(&crate::config::ExtensionSelection::Standard)
            .map_err(RouterError::Extensions)?;
        ApiRouter::with_extensions(loaded)
    }

    /// Compiles the core routes and the loaded extensions' into one router.
    pub fn with_extensions(loaded: &'static extensions::Extensions) -> Result<Self, RouterError> {
        let table =
            extensions::routes::assemble(core_routes(), loaded).map_err(RouterError::Extensions)?;
        for warning in &table.warnings {
            log::warn!("{warning}");
        }
        let mut builder = Builder::new();
        for (index, entry) in table.routes.iter().enumerate() {
            let index = u16::try_from(index).expect("fewer than 65536 routes");
            let route = &entry.route;
            let endpoint = match entry.extended {
                Some(index) => Endpoint::Extended(index),
                None => Endpoint::Core(route.handler),
            };
            builder
                .insert(route.method, route.path, (endpoint, index))
                .map_err(RouterError::Insert)?;
            if !route.project_path.is_empty() {
                builder
                    .insert(route.method, route.project_path, (endpoint, index))
                    .map_err(RouterError::Insert)?;
            }
        }
        Ok(ApiRouter {
            router: builder.build(),
            table: table.routes,
            extended: table.extended,
            extensions: loaded,
        })
    }

    /// The route table after loading: every route, where it came from, whether it is
    /// extended.
    pub fn table(&self) -> &[extensions::routes::TableRoute] {
        &self.table
    }

    /// The path template of every route in the table, indexed as the router records matches
    /// (`RequestContext::route`): the metrics labels.
    pub fn route_paths(&self) -> Vec<&'static str> {
        self.table.iter().map(|entry| entry.route.path).collect()
    }

    /// The loaded extensions.
    pub fn extensions(&self) -> &'static extensions::Extensions {
        self.extensions
    }

    /// Every compiled route as `(method, pattern)`, the `/{project_id:hex}` forms included, in
    /// registration order: what the router really serves, for tests and the OpenAPI document.
    pub fn compiled_routes(&self) -> impl Iterator<Item = (Method, &'static str)> + '_ {
        (0..self.router.len()).map(|index| {
            let id = crate::router::RouteId(u32::try_from(index).unwrap_or(u32::MAX));
            (self.router.method(id), self.router.pattern(id))
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
        let (endpoint, index) = *found.value;
        ctx.route = Some(index);
        resource(req, ctx, resp, |ctx, resp| {
            check_project(ctx, &found.params)?;
            match endpoint {
                Endpoint::Core(handler) => handler(req, ctx, &found.params, resp),
                Endpoint::Extended(index) => {
                    self.extended[index].call(self.extensions, req, ctx, &found.params, resp)
                }
            }
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
    handler: impl FnOnce(&mut RequestContext<'a>, &mut Response) -> Result<(), ApiError>,
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
    let outcome = body::check_content_type(req)
        .map_err(|_| ApiError::UnsupportedMediaType)
        .and_then(|()| handler(ctx, resp));
    if let Err(err) = outcome {
        if let ApiError::Internal(text) = &err {
            log::error!(
                "{} {}: {text}",
                String::from_utf8_lossy(req.method_bytes()),
                req.path
            );
        }
        resp.clear_headers();
        resp.shared_body = None;
        err.fault().write(resp);
    }
    if let Some(version) = ctx.api_version {
        microversion::write_headers(resp, version);
    }
}

/// A `{project_id}` in the URL must be the context's project (SPEC §1.5 step 5).
fn check_project(ctx: &RequestContext<'_>, params: &Params<'_, '_>) -> Result<(), ApiError> {
    match (params.get("project_id"), ctx.project_id) {
        (Some(url), Some(context)) if url != context => Err(ApiError::ProjectMismatch {
            url: url.to_owned(),
            context: context.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// The request body as JSON, parsed in place; `None` for an empty body. Not JSON → 400
/// "Malformed request body".
pub fn json_body<'a>(req: &Request<'a>) -> Result<Option<BorrowedValue<'a>>, ApiError> {
    body::parse(req).map_err(|_| ApiError::MalformedBody)
}

/// Validates a body (or `null` for none) against a schema, in `/v2`'s relaxed mode when the
/// request came through the legacy wrapper.
pub fn validate(
    ctx: &RequestContext<'_>,
    schema: &validation::Schema,
    value: Option<&BorrowedValue<'_>>,
) -> Result<(), ApiError> {
    let null = BorrowedValue::Static(simd_json::StaticNode::Null);
    validation::validate_body(schema, value.unwrap_or(&null), ctx.legacy_v2)
        .map_err(ApiError::from_validation)
}

/// Decoded query parameters, in request order.
pub type QueryPairs<'q> = Vec<(Cow<'q, str>, Cow<'q, str>)>;

/// The decoded query pairs, in request order. A query that does not decode → 400.
pub fn query_pairs<'q>(req: &Request<'q>) -> Result<QueryPairs<'q>, ApiError> {
    query::pairs(req.query)
        .collect::<Result<Vec<_>, ()>>()
        .map_err(|()| ApiError::Invalid(Cow::Borrowed("Query string is not UTF-8 encoded")))
}

/// Validates query pairs against a query schema (relaxed under `/v2`).
pub fn validate_query(
    ctx: &RequestContext<'_>,
    schema: &validation::Schema,
    pairs: &[(Cow<'_, str>, Cow<'_, str>)],
) -> Result<(), ApiError> {
    validation::validate_query(schema, pairs, ctx.legacy_v2).map_err(ApiError::from_validation)
}

/// `POST …/action`: parses the body, requires exactly one key (400 "Malformed request
/// body"), and runs the action of that name (400 "There is no such action: <name>").
pub fn dispatch_action<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
    actions: &[(&str, ActionHandler)],
) -> Result<(), ApiError> {
    let body = json_body(req)?;
    let (name, argument) = body::action(body.as_ref()).map_err(|_| ApiError::MalformedBody)?;
    let Some(&(_, handler)) = actions.iter().find(|(known, _)| *known == name) else {
        return Err(ApiError::NoSuchAction(name.to_owned()));
    };
    handler(req, ctx, params, argument, resp)
}
