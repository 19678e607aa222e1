//! Loads `api-paste.ini` (paste-deploy syntax) and compiles it into a [`Pipeline`].
//!
//! Start-up only. The entry point is `[composite:osapi_compute]`, a URL map (Nova's
//! `urlmap_factory`). Its targets are `[pipeline:…]` sections, `[composite:…]` sections using
//! Nova's `pipeline_factory_v21` (one pipeline per `[api] auth_strategy` key), or `[app:…]`
//! sections. Filters and apps are recognised by their factory (the same strings Nova's file
//! uses), so operators can rename sections. Anything unknown, or a pipeline that does not end
//! in an app, is an error naming the file and line.
//!
//! It must never silently ignore an unknown factory, section or key: each is a start-up error
//! naming the file and line.

use std::{
    cell::RefCell,
    collections::HashMap,
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
};

use super::{cors::Cors, App, Chain, Filter, MapEntry, Pipeline};
use crate::{
    api::{extensions::Extensions, ApiRouter},
    config::{
        ini::{Ini, Section},
        Config,
    },
    identity::Identity,
    metrics::Registry,
    ratelimit::{LimitError, RateLimiter},
};

/// The paste file shipped in `config/`, compiled in for running without a config file.
pub const EMBEDDED: &str = include_str!("../../config/api-paste.ini");

/// The URL-map composite ringnova serves.
pub const ENTRY_POINT: &str = "osapi_compute";

/// A paste file error, with the file and line it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasteError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the problem is the whole file).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for PasteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
    }
}

impl std::error::Error for PasteError {}

const URLMAP_FACTORIES: &[&str] = &[
    "call:nova.api.openstack.urlmap:urlmap_factory",
    "egg:Paste#urlmap",
];
const PIPELINE_FACTORY: &str = "call:nova.api.auth:pipeline_factory_v21";

#[derive(Debug, Clone, Copy)]
enum FilterKind {
    Cors,
    HttpProxyToWsgi,
    ComputeReqId,
    FaultWrap,
    RequestLog,
    SizeLimit,
    Osprofiler,
    NoAuth2,
    LegacyV2Compatible,
    RateLimit,
    AuthToken,
}

const FILTER_FACTORIES: &[(&str, FilterKind)] = &[
    ("oslo_middleware.cors:filter_factory", FilterKind::Cors),
    (
        "oslo_middleware.http_proxy_to_wsgi:HTTPProxyToWSGI.factory",
        FilterKind::HttpProxyToWsgi,
    ),
    (
        "oslo_middleware:HTTPProxyToWSGI.factory",
        FilterKind::HttpProxyToWsgi,
    ),
    (
        "nova.api.compute_req_id:ComputeReqIdMiddleware.factory",
        FilterKind::ComputeReqId,
    ),
    (
        "nova.api.openstack:FaultWrapper.factory",
        FilterKind::FaultWrap,
    ),
    (
        "nova.api.openstack.requestlog:RequestLog.factory",
        FilterKind::RequestLog,
    ),
    (
        "oslo_middleware:RequestBodySizeLimiter.factory",
        FilterKind::SizeLimit,
    ),
    (
        "oslo_middleware.sizelimit:RequestBodySizeLimiter.factory",
        FilterKind::SizeLimit,
    ),
    (
        "nova.profiler:WsgiMiddleware.factory",
        FilterKind::Osprofiler,
    ),
    (
        "nova.api.openstack.auth:NoAuthMiddleware.factory",
        FilterKind::NoAuth2,
    ),
    (
        "nova.api.openstack:LegacyV2CompatibleWrapper.factory",
        FilterKind::LegacyV2Compatible,
    ),
    (
        "nova.api.openstack.compute.limits:RateLimitingMiddleware.factory",
        FilterKind::RateLimit,
    ),
    ("ringnova:ratelimit", FilterKind::RateLimit),
    ("ringnova.identity:AuthToken.factory", FilterKind::AuthToken),
];

#[derive(Debug, Clone, Copy)]
enum AppKind {
    Versions,
    VersionsV2,
    Api,
    Healthcheck,
    Identity,
    Metrics,
}

const APP_FACTORIES: &[(&str, AppKind)] = &[
    (
        "nova.api.openstack.compute.versions:Versions.factory",
        AppKind::Versions,
    ),
    (
        "nova.api.openstack.compute.versions:VersionsV2.factory",
        AppKind::VersionsV2,
    ),
    (
        "nova.api.openstack.compute:APIRouterV21.factory",
        AppKind::Api,
    ),
    (
        "oslo_middleware:Healthcheck.app_factory",
        AppKind::Healthcheck,
    ),
    (
        "oslo_middleware.healthcheck:Healthcheck.app_factory",
        AppKind::Healthcheck,
    ),
    ("ringnova.identity:IdentityApp.factory", AppKind::Identity),
    ("ringnova.metrics:Metrics.app_factory", AppKind::Metrics),
];

/// Loads the paste file the configuration names (or the embedded one) and compiles it, with
/// the compiled-in extensions that `osapi_compute_extension` selects.
pub fn load(config: &Config) -> Result<Pipeline, PasteError> {
    let loaded =
        crate::api::extensions::compiled(&config.extensions).map_err(|err| PasteError {
            file: PathBuf::from("<extensions>"),
            line: 0,
            reason: err.to_string(),
        })?;
    load_with(config, loaded)
}

/// [`load`] with extensions the caller loaded (an embedding program's own among them).
pub fn load_with(config: &Config, extensions: &'static Extensions) -> Result<Pipeline, PasteError> {
    match &config.api_paste_config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|err| PasteError {
                file: path.clone(),
                line: 0,
                reason: format!("cannot read the paste file: {err}"),
            })?;
            compile_with(&text, path, config, extensions)
        }
        None => compile_with(
            EMBEDDED,
            Path::new("<embedded api-paste.ini>"),
            config,
            extensions,
        ),
    }
}

struct Compiler<'a> {
    file: &'a Path,
    config: &'a Config,
    sections: HashMap<&'a str, (&'a str, &'a Section)>,
    chains: Vec<Chain>,
    built: HashMap<&'a str, usize>,
    api: Option<Arc<ApiRouter>>,
    extensions: &'static Extensions,
    /// One limiter per ratelimit section, shared by every pipeline that lists it.
    limiters: RefCell<HashMap<String, &'static RateLimiter>>,
    identity: Option<Arc<Identity>>,
    /// The metrics registry, made once the URL map's entries are known.
    metrics: Option<Arc<Registry>>,
}

impl<'a> Compiler<'a> {
    fn error(&self, line: usize, reason: String) -> PasteError {
        PasteError {
            file: self.file.to_path_buf(),
            line,
            reason,
        }
    }

    fn find(&self, name: &str, line: usize) -> Result<(&'a str, &'a Section), PasteError> {
        self.sections
            .get(name)
            .copied()
            .ok_or_else(|| self.error(line, format!("unknown filter or app {name:?}")))
    }

    /// Compiles the URL-map target `name` (referenced at `line`) into a chain index.
    fn target(&mut self, name: &'a str, line: usize) -> Result<usize, PasteError> {
        if let Some(&index) = self.built.get(name) {
            return Ok(index);
        }
        let (kind, section) = self.find(name, line)?;
        let chain = match kind {
            "pipeline" => {
                let entry = section.entry("pipeline").ok_or_else(|| {
                    self.error(
                        section.line,
                        format!("[pipeline:{name}] has no 'pipeline' key"),
                    )
                })?;
                self.pipeline(name, &entry.value, entry.line)?
            }
            "composite" => {
                let uses = section.get("use").unwrap_or_default();
                if uses != PIPELINE_FACTORY {
                    return Err(self.error(
                        section.line,
                        format!("[composite:{name}] must use {PIPELINE_FACTORY} (found {uses:?})"),
                    ));
                }
                let strategy = self.config.auth_strategy.as_str();
                let entry = section.entry(strategy).ok_or_else(|| {
                    self.error(
                        section.line,
                        format!(
                            "[composite:{name}] has no pipeline for auth_strategy {strategy:?}"
                        ),
                    )
                })?;
                self.pipeline(name, &entry.value, entry.line)?
            }
            "app" => Chain::new(name.to_owned(), Vec::new(), self.app(name, line)?),
            _ => {
                return Err(self.error(
                    line,
                    format!("{name:?} is a filter, not an app or pipeline"),
                ))
            }
        };
        self.chains.push(chain);
        self.built.insert(name, self.chains.len() - 1);
        Ok(self.chains.len() - 1)
    }

    fn pipeline(&mut self, name: &str, list: &'a str, line: usize) -> Result<Chain, PasteError> {
        let names: Vec<&'a str> = list.split_whitespace().collect();
        let Some((&last, filters)) = names.split_last() else {
            return Err(self.error(line, format!("pipeline {name:?} is empty")));
        };
        let (kind, _) = self.find(last, line)?;
        if kind != "app" {
            return Err(self.error(
                line,
                format!("pipeline {name:?} does not end in an app ({last:?} is a {kind})"),
            ));
        }
        let filters = filters
            .iter()
            .map(|filter| self.filter(filter, line))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Chain::new(name.to_owned(), filters, self.app(last, line)?))
    }

    /// The one identity service the filter and the app share.
    fn identity(&mut self) -> Arc<Identity> {
        let config = self.config;
        Arc::clone(
            self.identity
                .get_or_insert_with(|| Arc::new(Identity::new(&config.identity))),
        )
    }

    fn filter(&mut self, name: &str, line: usize) -> Result<Filter, PasteError> {
        let (kind, section) = self.find(name, line)?;
        if kind != "filter" {
            return Err(self.error(line, format!("{name:?} in a pipeline is not a filter")));
        }
        let entry = section.entry("paste.filter_factory").ok_or_else(|| {
            self.error(
                section.line,
                format!("[filter:{name}] has no paste.filter_factory"),
            )
        })?;
        let Some(&(_, kind)) = FILTER_FACTORIES.iter().find(|(f, _)| *f == entry.value) else {
            return Err(self.error(
                entry.line,
                format!("unknown filter factory {:?}", entry.value),
            ));
        };
        let config = self.config;
        Ok(match kind {
            FilterKind::Cors => Filter::Cors(Box::new(Cors::new(&config.cors))),
            FilterKind::HttpProxyToWsgi => Filter::HttpProxyToWsgi {
                enabled: config.enable_proxy_headers_parsing,
            },
            FilterKind::ComputeReqId => Filter::ComputeReqId,
            FilterKind::FaultWrap => Filter::FaultWrap,
            FilterKind::RequestLog => Filter::RequestLog {
                enabled: config.access_log,
            },
            FilterKind::SizeLimit => Filter::SizeLimit {
                max: config.max_request_body_size,
            },
            FilterKind::Osprofiler => Filter::Osprofiler,
            FilterKind::NoAuth2 => Filter::NoAuth2,
            FilterKind::LegacyV2Compatible => Filter::LegacyV2Compatible,
            FilterKind::RateLimit => Filter::RateLimit(self.rate_limiter(name, section)?),
            FilterKind::AuthToken => Filter::AuthToken(self.identity()),
        })
    }

    /// The limiter of `[filter:name]` (built on first use): `limits` and `max_users` keys.
    fn rate_limiter(
        &self,
        name: &str,
        section: &Section,
    ) -> Result<&'static RateLimiter, PasteError> {
        if let Some(limiter) = self.limiters.borrow().get(name) {
            return Ok(limiter);
        }
        for entry in &section.entries {
            if !matches!(
                entry.key.as_str(),
                "paste.filter_factory" | "limits" | "max_users"
            ) {
                return Err(self.error(
                    entry.line,
                    format!("[filter:{name}] has unknown key {:?}", entry.key),
                ));
            }
        }
        let line = |key| section.entry(key).map_or(section.line, |e| e.line);
        let limits = section.get("limits");
        let max_users = section.get("max_users");
        let limiter = RateLimiter::from_settings(limits, max_users).map_err(|err| {
            let key = match err {
                LimitError::MaxUsers(_) => "max_users",
                _ => "limits",
            };
            self.error(line(key), format!("[filter:{name}] {key}: {err}"))
        })?;
        // Start-up only: one limiter per section lives as long as the process, and every
        // worker's chain points at it.
        let limiter: &'static RateLimiter = Box::leak(Box::new(limiter));
        self.limiters.borrow_mut().insert(name.to_owned(), limiter);
        Ok(limiter)
    }

    fn app(&mut self, name: &str, line: usize) -> Result<App, PasteError> {
        let (kind, section) = self.find(name, line)?;
        if kind != "app" {
            return Err(self.error(line, format!("{name:?} is not an app")));
        }
        let entry = section.entry("paste.app_factory").ok_or_else(|| {
            self.error(
                section.line,
                format!("[app:{name}] has no paste.app_factory"),
            )
        })?;
        let Some(&(_, kind)) = APP_FACTORIES.iter().find(|(f, _)| *f == entry.value) else {
            return Err(self.error(entry.line, format!("unknown app factory {:?}", entry.value)));
        };
        Ok(match kind {
            AppKind::Versions => App::Versions,
            AppKind::VersionsV2 => App::VersionsV2,
            AppKind::Healthcheck => App::Healthcheck,
            AppKind::Identity => App::Identity(self.identity()),
            AppKind::Metrics => App::Metrics(Arc::clone(
                self.metrics
                    .as_ref()
                    .expect("the registry is made before any app"),
            )),
            AppKind::Api => App::Api(Arc::clone(
                self.api
                    .as_ref()
                    .expect("the compute API is built before any app"),
            )),
        })
    }
}

/// Compiles paste-file text with the compiled-in extensions the configuration selects; `file` is used in error messages.
pub fn compile(text: &str, file: &Path, config: &Config) -> Result<Pipeline, PasteError> {
    let loaded =
        crate::api::extensions::compiled(&config.extensions).map_err(|err| PasteError {
            file: file.to_path_buf(),
            line: 0,
            reason: err.to_string(),
        })?;
    compile_with(text, file, config, loaded)
}

/// Compiles paste-file text with these extensions; `file` is used in error messages.
pub fn compile_with(
    text: &str,
    file: &Path,
    config: &Config,
    extensions: &'static Extensions,
) -> Result<Pipeline, PasteError> {
    let ini = Ini::parse(text).map_err(|err| PasteError {
        file: file.to_path_buf(),
        line: err.line,
        reason: err.reason.to_owned(),
    })?;
    let mut compiler = Compiler {
        file,
        config,
        sections: HashMap::new(),
        chains: Vec::new(),
        built: HashMap::new(),
        api: None,
        extensions,
        limiters: RefCell::default(),
        identity: None,
        metrics: None,
    };
    for section in &ini.sections {
        if section.name == "DEFAULT" {
            continue;
        }
        let Some((kind, name)) = section.name.split_once(':') else {
            return Err(compiler.error(section.line, format!("unknown section [{}]", section.name)));
        };
        let (kind, name) = (kind.trim(), name.trim());
        if !matches!(kind, "composite" | "pipeline" | "filter" | "app") {
            return Err(compiler.error(section.line, format!("unknown section kind {kind:?}")));
        }
        if compiler.sections.insert(name, (kind, section)).is_some() {
            return Err(compiler.error(section.line, format!("{name:?} is defined twice")));
        }
    }
    let Some(&(kind, root)) = compiler.sections.get(ENTRY_POINT) else {
        return Err(compiler.error(0, format!("no [composite:{ENTRY_POINT}] section")));
    };
    let uses = root.get("use").unwrap_or_default();
    if kind != "composite" || !URLMAP_FACTORIES.contains(&uses) {
        return Err(compiler.error(
            root.line,
            format!(
                "[{kind}:{ENTRY_POINT}] must be a composite using {}",
                URLMAP_FACTORIES[0]
            ),
        ));
    }
    // Start-up only: the route labels of the URL map's entries live as long as the process.
    let mounts: Vec<&'static str> = root
        .entries
        .iter()
        .filter(|entry| entry.key != "use")
        .map(|entry| match entry.key.trim_end_matches('/') {
            "" => "/",
            key => &*Box::leak(key.to_owned().into_boxed_str()),
        })
        .collect();
    // The compute API's router is built once, here: its route table labels the metrics.
    let api = ApiRouter::with_extensions(compiler.extensions)
        .map_err(|err| compiler.error(root.line, err.to_string()))?;
    let api_routes = api.route_paths();
    compiler.api = Some(Arc::new(api));
    compiler.metrics = Some(Arc::new(Registry::new(
        config.workers,
        config.metrics_enabled,
        &mounts,
        &api_routes,
    )));
    let mut entries = Vec::new();
    for entry in root.entries.iter().filter(|entry| entry.key != "use") {
        if !entry.key.starts_with('/') {
            return Err(compiler.error(
                entry.line,
                format!("URL map key {:?} must start with '/'", entry.key),
            ));
        }
        let (prefix, plus) = match entry.key.strip_suffix("/+") {
            Some(prefix) => (prefix, true),
            None => (entry.key.trim_end_matches('/'), false),
        };
        let chain = compiler.target(entry.value.trim(), entry.line)?;
        // Start-up only: a handful of short prefixes live as long as the process.
        let prefix: &'static str = Box::leak(prefix.to_owned().into_boxed_str());
        entries.push(MapEntry {
            prefix,
            plus,
            chain,
            mount: u16::try_from(entries.len()).unwrap_or(u16::MAX),
        });
    }
    entries.sort_by(|a, b| {
        b.prefix
            .len()
            .cmp(&a.prefix.len())
            .then(b.plus.cmp(&a.plus))
    });
    Ok(Pipeline {
        entries,
        chains: compiler.chains,
        metrics: compiler.metrics.expect("made above"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn config() -> Config {
        Config::from_text("", None, &Overrides::default()).unwrap()
    }

    fn compile_text(text: &str) -> Result<Pipeline, PasteError> {
        compile(text, Path::new("paste.ini"), &config())
    }

    #[test]
    fn embedded_file_compiles_and_maps_like_nova() {
        let pipeline = compile_text(EMBEDDED).unwrap();
        let select = |path| {
            pipeline
                .select(path)
                .map(|(c, s, p)| (c.name.as_str(), s, p))
        };
        assert_eq!(select("/"), Some(("oscomputeversions", "", "/")));
        assert_eq!(
            select("/images/1"),
            Some(("oscomputeversions", "", "/images/1"))
        );
        assert_eq!(select("/v2.1"), Some(("oscomputeversion_v2", "/v2.1", "")));
        assert_eq!(
            select("/v2.1/"),
            Some(("oscomputeversion_v2", "/v2.1", "/"))
        );
        assert_eq!(
            select("/v2.1/servers"),
            Some(("openstack_compute_api_v21", "/v2.1", "/servers"))
        );
        assert_eq!(
            select("/v2"),
            Some(("oscomputeversion_legacy_v2", "/v2", ""))
        );
        assert_eq!(
            select("/v2/abc/servers"),
            Some((
                "openstack_compute_api_v21_legacy_v2_compatible",
                "/v2",
                "/abc/servers"
            ))
        );
        assert_eq!(select("/v21"), Some(("oscomputeversions", "", "/v21")));
        assert_eq!(
            select("/healthcheck"),
            Some(("healthcheck", "/healthcheck", ""))
        );
    }

    #[test]
    fn auth_strategy_picks_the_pipeline() {
        let pipeline = compile_text(EMBEDDED).unwrap();
        let (chain, _, _) = pipeline.select("/v2.1/servers").unwrap();
        assert!(chain.filters.iter().any(|f| matches!(f, Filter::NoAuth2)));
        let mut cfg = config();
        cfg.auth_strategy = "keystone-nope".into();
        let err = compile(EMBEDDED, Path::new("paste.ini"), &cfg).unwrap_err();
        assert!(err.reason.contains("auth_strategy"), "{err}");
    }

    const BASE: &str = "[composite:osapi_compute]\nuse = egg:Paste#urlmap\n/: main\n\
                        [app:versions]\npaste.app_factory = nova.api.openstack.compute.versions:Versions.factory\n\
                        [filter:faultwrap]\npaste.filter_factory = nova.api.openstack:FaultWrapper.factory\n";

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            ("[pipeline:main]\npipeline = faultwrap nosuch versions\n", 9, "unknown filter or app \"nosuch\""),
            ("[pipeline:main]\npipeline = versions faultwrap\n", 9, "does not end in an app"),
            ("[pipeline:main]\npipeline = faultwrap\n", 9, "does not end in an app"),
            ("[pipeline:main]\npipeline = faultwrap bad versions\n[filter:bad]\npaste.filter_factory = x.y:Z.factory\n", 11, "unknown filter factory"),
            ("[pipeline:main]\npipeline = faultwrap odd\n[app:odd]\npaste.app_factory = x.y:Z.factory\n", 11, "unknown app factory"),
            ("[pipeline:main]\npipeline =\n", 9, "is empty"),
            ("[weird:main]\nx = 1\n", 8, "unknown section kind"),
        ];
        for (extra, line, reason) in cases {
            let err = compile_text(&format!("{BASE}{extra}")).unwrap_err();
            assert_eq!(err.line, line, "{err}");
            assert!(err.reason.contains(reason), "{err}");
            assert!(
                err.to_string().starts_with(&format!("paste.ini:{line}: ")),
                "{err}"
            );
        }
    }

    #[test]
    fn missing_entry_point_is_an_error() {
        let err =
            compile_text("[app:x]\npaste.app_factory = oslo_middleware:Healthcheck.app_factory\n")
                .unwrap_err();
        assert!(err.reason.contains("osapi_compute"));
    }

    /// The embedded file with `ratelimit` after `noauth2` in both API pipelines.
    fn with_ratelimit(limits: &str) -> String {
        let text = EMBEDDED.replace(" noauth2 ", " noauth2 ratelimit ");
        match limits {
            "" => text,
            limits => text
                .lines()
                .map(|l| match l.starts_with("limits = ") {
                    true => format!("{limits}\n"),
                    false => format!("{l}\n"),
                })
                .collect(),
        }
    }

    #[test]
    fn ratelimit_is_one_limiter_for_every_pipeline() {
        let pipeline = compile_text(&with_ratelimit("")).unwrap();
        let limiter = |path| {
            let (chain, _, _) = pipeline.select(path).unwrap();
            let found = chain.filters.iter().find_map(|f| match f {
                Filter::RateLimit(limiter) => Some(*limiter),
                _ => None,
            });
            found.expect("the chain has the filter")
        };
        let v21 = limiter("/v2.1/servers");
        assert!(std::ptr::eq(v21, limiter("/v2/p/servers")));
        // The shipped section spells out Folsom's defaults.
        let defaults = crate::ratelimit::default_limits();
        assert_eq!(v21.limits().len(), defaults.len());
        for (a, b) in v21.limits().iter().zip(&defaults) {
            assert_eq!(
                (&a.verb, &a.uri, &a.regex, a.value),
                (&b.verb, &b.uri, &b.regex, b.value)
            );
        }
        // The factory alias, and no limits meaning Folsom's defaults.
        let text = with_ratelimit("")
            .replace(
                "nova.api.openstack.compute.limits:RateLimitingMiddleware.factory",
                "ringnova:ratelimit",
            )
            .replace("max_users = 100000\n", "");
        let text: String = text
            .lines()
            .filter(|l| !l.starts_with("limits = "))
            .map(|l| format!("{l}\n"))
            .collect();
        let pipeline = compile_text(&text).unwrap();
        let (chain, _, _) = pipeline.select("/v2.1/servers").unwrap();
        assert!(chain
            .filters
            .iter()
            .any(|f| matches!(f, Filter::RateLimit(l) if l.limits().len() == 5)));
    }

    #[test]
    fn ratelimit_errors_name_the_line() {
        let line_of =
            |text: &str, key: &str| 1 + text.lines().position(|l| l.starts_with(key)).unwrap();
        for (limits, reason) in [
            ("limits = (POST, *, .*, 10, FORTNIGHT)", "invalid unit"),
            ("limits = (POST, *, (, 10, MINUTE)", "invalid regex"),
            ("limits = POST", "parentheses"),
            ("max_users = 0", "max_users"),
            ("limiter = x.y", "unknown key"),
        ] {
            let text = match limits.strip_prefix("max_users = ") {
                Some(value) => with_ratelimit("")
                    .replace("max_users = 100000", &format!("max_users = {value}")),
                None => with_ratelimit(limits),
            };
            let err = compile_text(&text).unwrap_err();
            let key = limits.split(' ').next().unwrap();
            assert_eq!(err.line, line_of(&text, key), "{err}");
            assert!(err.reason.contains(reason), "{err}");
        }
    }

    #[test]
    fn unused_sections_are_not_compiled() {
        let text = format!("{BASE}[pipeline:main]\npipeline = faultwrap versions\n[filter:authtoken]\npaste.filter_factory = keystonemiddleware.auth_token:filter_factory\n");
        assert!(compile_text(&text).is_ok());
    }
}
