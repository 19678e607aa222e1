//! The filter chain: Nova's paste pipeline, compiled into a static chain of known filters.
//!
//! Built once at start-up from `api-paste.ini` (see [`paste`]) and shared read-only by every
//! core worker. Each pipeline is a [`Chain`]: a fixed slice of [`Filter`] values (a closed
//! enum, dispatched with `match`, nothing boxed or allocated per request) around one [`App`].
//! A filter wraps everything after it, as WSGI middleware does:
//!
//! ```text
//!  request ─► cors ─► http_proxy_to_wsgi ─► compute_req_id ─► faultwrap ─► request_log ─► sizelimit ─► noauth2 ─► app
//!  response ◄─ cors ◄──────────────────────── compute_req_id ◄─ (panic→500) ◄─ request_log ◄──────────────────────── app
//! ```
//!
//! Filters that do nothing with the configuration (cors without allowed origins, proxy
//! headers or the access log switched off, osprofiler) stay listed in the chain but are left
//! out of what a request runs through.
//!
//! A filter may answer by itself (cors preflight, sizelimit's 413, noauth2's token
//! handshake); the layers outside it still see that response.
//!
//! The chain must never allocate or box per request, and a filter must never see a request
//! another filter has already answered.

pub mod cors;
pub mod faultwrap;
pub mod noauth;
pub mod paste;
pub mod proxy_headers;
pub mod ratelimit;
pub mod request_id;
pub mod request_log;

use std::sync::Arc;

use crate::{
    api::{
        context::{Request, RequestContext},
        fault::Fault,
        healthcheck, openapi, resource, versions, ApiRouter,
    },
    http::Response,
};

/// One filter of a pipeline, with its compiled settings.
#[derive(Debug, Clone)]
pub enum Filter {
    /// oslo.middleware cors (active only with `[cors] allowed_origin`).
    Cors(Box<cors::Cors>),
    /// oslo.middleware http_proxy_to_wsgi (active only when enabled).
    HttpProxyToWsgi {
        /// `[oslo_middleware] enable_proxy_headers_parsing`.
        enabled: bool,
    },
    /// Nova's compute_req_id.
    ComputeReqId,
    /// Nova's FaultWrapper.
    FaultWrap,
    /// Nova's RequestLog.
    RequestLog {
        /// `[ringnova] access_log`.
        enabled: bool,
    },
    /// oslo.middleware sizelimit.
    SizeLimit {
        /// `[oslo_middleware] max_request_body_size`.
        max: usize,
    },
    /// osprofiler's hook: profiling is not supported, so it passes requests through.
    Osprofiler,
    /// Nova's NoAuthMiddleware.
    NoAuth2,
    /// Nova's LegacyV2CompatibleWrapper.
    LegacyV2Compatible,
    /// Nova's RateLimitingMiddleware, with the process-wide limiter.
    RateLimit(&'static crate::ratelimit::RateLimiter),
    /// ringnova's token verifier (keystonemiddleware authtoken + Nova's keystonecontext).
    AuthToken(Arc<crate::identity::Identity>),
}

/// The app at the end of a pipeline.
#[derive(Debug, Clone)]
pub enum App {
    /// `oscomputeversionapp`: the root versions document (and `GET /openapi.json`).
    Versions,
    /// `oscomputeversionapp_v2`: one version's document.
    VersionsV2,
    /// `osapi_compute_app_v21`: the compute API.
    Api(Arc<ApiRouter>),
    /// oslo.middleware Healthcheck.
    Healthcheck,
    /// ringnova's Keystone-v3-compatible identity endpoint.
    Identity(Arc<crate::identity::Identity>),
    /// ringnova's Prometheus scrape endpoint.
    Metrics(Arc<crate::metrics::Registry>),
}

impl App {
    fn call<'a>(&self, req: &Request<'a>, ctx: &mut RequestContext<'a>, resp: &mut Response) {
        match self {
            // ringnova's own document of the API (Nova has none), beside the versions.
            App::Versions
                if ctx.path_info == openapi::PATH
                    && req.method == Some(crate::router::Method::Get) =>
            {
                openapi::serve(resp)
            }
            App::Versions => versions::root(req, ctx, resp),
            App::VersionsV2 => resource(req, ctx, resp, |ctx, resp| versions::v2(req, ctx, resp)),
            App::Api(router) => router.call(req, ctx, resp),
            App::Healthcheck => healthcheck::call(req, resp),
            App::Identity(identity) => crate::identity::api::call(identity, req, ctx, resp),
            App::Metrics(registry) => crate::metrics::app::call(registry, req, resp),
        }
    }
}

/// A compiled pipeline: filters in request order, then the app.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The paste section name it was built from.
    pub name: String,
    /// Filters, outermost first.
    pub filters: Box<[Filter]>,
    /// The app.
    pub app: App,
    /// `filters` without those that do nothing with this configuration (cors without
    /// allowed origins, proxy-header parsing or the access log switched off, osprofiler):
    /// what a request actually runs through.
    active: Box<[Filter]>,
    /// See [`Chain::is_pure`].
    pure: bool,
}

impl Filter {
    /// Whether the filter does nothing at all with its settings.
    fn is_noop(&self) -> bool {
        match self {
            Filter::Cors(cors) => !cors.is_active(),
            Filter::HttpProxyToWsgi { enabled } | Filter::RequestLog { enabled } => !enabled,
            Filter::Osprofiler => true,
            _ => false,
        }
    }

    /// Whether the filter, as it runs, neither reads anything but the request head nor
    /// leaves anything behind: a response through it depends on the head's bytes alone.
    fn is_pure(&self) -> bool {
        match self {
            Filter::FaultWrap
            | Filter::SizeLimit { .. }
            | Filter::Osprofiler
            | Filter::LegacyV2Compatible => true,
            Filter::Cors(cors) => !cors.is_active(),
            Filter::HttpProxyToWsgi { enabled } | Filter::RequestLog { enabled } => !enabled,
            // A fresh request id per response; identity, token and rate-limit state.
            Filter::ComputeReqId
            | Filter::NoAuth2
            | Filter::RateLimit(_)
            | Filter::AuthToken(_) => false,
        }
    }
}

impl Chain {
    /// A chain of `filters` (outermost first) around `app`.
    pub fn new(name: String, filters: Vec<Filter>, app: App) -> Chain {
        let active: Box<[Filter]> = filters.iter().filter(|f| !f.is_noop()).cloned().collect();
        let pure = matches!(app, App::Versions | App::VersionsV2 | App::Healthcheck)
            && active.iter().all(Filter::is_pure);
        Chain {
            name,
            filters: filters.into(),
            app,
            active,
            pure,
        }
    }

    /// Whether a response of this chain to a request without a body depends only on the
    /// request head's bytes (and the configuration and `Date`): an app that answers from the
    /// request alone (the versions documents, the healthcheck) and no active filter with
    /// per-request inputs or effects (request id, cors, proxy headers, access log, auth, rate
    /// limit). Such responses may be memoized per connection (`server::memo`).
    pub fn is_pure(&self) -> bool {
        self.pure
    }

    /// Runs the request through every filter and the app; always leaves a response.
    pub fn call<'a>(&self, req: &Request<'a>, ctx: &mut RequestContext<'a>, resp: &mut Response) {
        self.call_from(0, req, ctx, resp);
    }

    /// Runs the active filters from `index` on, then the app. Filters with nothing to do
    /// after the inner layers are stepped over in a loop; only those that act on the
    /// response on the way out recurse, so a pass-through filter costs a `match` arm rather
    /// than a call.
    fn call_from<'a>(
        &self,
        mut index: usize,
        req: &Request<'a>,
        ctx: &mut RequestContext<'a>,
        resp: &mut Response,
    ) {
        loop {
            let Some(filter) = self.active.get(index) else {
                self.app.call(req, ctx, resp);
                return;
            };
            index += 1;
            match filter {
                Filter::Cors(cors) => {
                    if !cors.is_active() {
                        continue;
                    }
                    if cors.preflight(req, resp) {
                        return;
                    }
                    self.call_from(index, req, ctx, resp);
                    cors.on_response(req, resp);
                    return;
                }
                Filter::HttpProxyToWsgi { enabled } => {
                    if *enabled {
                        proxy_headers::on_request(req, ctx);
                    }
                }
                Filter::ComputeReqId => {
                    request_id::on_request(req, ctx);
                    // Lines logged while the inner layers run carry the id.
                    let _scope = crate::logging::RequestScope::enter(ctx.request_id.as_ref());
                    self.call_from(index, req, ctx, resp);
                    request_id::on_response(ctx, resp);
                    return;
                }
                Filter::FaultWrap => {
                    faultwrap::call(resp, |resp| self.call_from(index, req, ctx, resp));
                    return;
                }
                Filter::RequestLog { enabled } => {
                    if !*enabled {
                        continue;
                    }
                    let started = std::time::Instant::now();
                    self.call_from(index, req, ctx, resp);
                    request_log::on_response(req, ctx, resp, started);
                    return;
                }
                Filter::SizeLimit { max } => {
                    if req.body_len > *max {
                        Fault::with_message(
                            413,
                            format!(
                                "Request is too large. Larger than max_request_body_size ({max})."
                            ),
                        )
                        .write(resp);
                        return;
                    }
                }
                Filter::Osprofiler => {}
                Filter::NoAuth2 => {
                    if noauth::on_request(req, ctx, resp) {
                        return;
                    }
                }
                Filter::LegacyV2Compatible => ctx.legacy_v2 = true,
                Filter::RateLimit(limiter) => {
                    if ratelimit::on_request(limiter, req, ctx, resp) {
                        return;
                    }
                }
                Filter::AuthToken(identity) => {
                    if crate::identity::filter::on_request(identity, req, ctx, resp) {
                        return;
                    }
                }
            }
        }
    }
}

/// One URL-map entry: a path prefix and the chain it selects.
#[derive(Debug, Clone)]
struct MapEntry {
    /// Prefix without a trailing `/` or `/+` (`""` for the root).
    prefix: &'static str,
    /// A `/+` entry: the path must continue with `/` and at least one more character.
    plus: bool,
    chain: usize,
    /// The entry's place in the file's URL map: its metrics route slot.
    mount: u16,
}

/// The compiled `[composite:osapi_compute]` URL map and its chains.
#[derive(Debug, Clone)]
pub struct Pipeline {
    entries: Vec<MapEntry>,
    chains: Vec<Chain>,
    metrics: Arc<crate::metrics::Registry>,
}

/// What the URL map selected for a path.
#[derive(Debug, Clone, Copy)]
pub struct Selected<'s, 'p> {
    /// The chain.
    pub chain: &'s Chain,
    /// The matched prefix.
    pub script_name: &'static str,
    /// The rest of the path.
    pub path_info: &'p str,
    /// The URL-map entry's index in the file (its metrics route slot).
    pub mount: u16,
}

impl Pipeline {
    /// Selects the chain for `path`: returns it with the script name (matched prefix) and
    /// the rest of the path. Longer prefixes win; `/+` entries win over plain ones of the
    /// same prefix.
    pub fn select<'p>(&self, path: &'p str) -> Option<(&Chain, &'static str, &'p str)> {
        self.select_entry(path)
            .map(|s| (s.chain, s.script_name, s.path_info))
    }

    /// [`select`](Self::select), with the URL-map entry that matched.
    #[inline]
    pub fn select_entry<'p>(&self, path: &'p str) -> Option<Selected<'_, 'p>> {
        for entry in &self.entries {
            // Prefixes start with `/`: comparing the next byte first rejects most entries
            // without a full comparison.
            if entry.prefix.len() > 1 && path.as_bytes().get(1) != entry.prefix.as_bytes().get(1) {
                continue;
            }
            let Some(rest) = path.strip_prefix(entry.prefix) else {
                continue;
            };
            let matched = if entry.plus {
                rest.len() >= 2 && rest.starts_with('/')
            } else {
                rest.is_empty() || rest.starts_with('/')
            };
            if matched {
                return Some(Selected {
                    chain: &self.chains[entry.chain],
                    script_name: entry.prefix,
                    path_info: rest,
                    mount: entry.mount,
                });
            }
        }
        None
    }

    /// The compiled chains, in URL-map order.
    pub fn chains(&self) -> &[Chain] {
        &self.chains
    }

    /// The metrics registry: the workers' counters and the route labels of this URL map.
    pub fn metrics(&self) -> &Arc<crate::metrics::Registry> {
        &self.metrics
    }
}
