//! Configuration: the oslo.config-style `ringnova.conf`, CLI overrides, and validation.
//!
//! Start-up only, on the main thread, before any socket opens — and again on SIGHUP
//! ([`reload`], published through [`live`]). Every value is checked here and a bad one is
//! reported with its option, file and line; workers receive immutable [`Config`]s and never
//! parse configuration themselves.
//!
//! ```
//! use ringnova::config::{Config, Overrides};
//! let cfg = Config::from_text("[ringnova]\nmax_headers = 50\n", None, &Overrides::default()).unwrap();
//! assert_eq!(cfg.limits.max_headers, 50);
//! assert_eq!(cfg.max_request_body_size, 114_688);
//! ```

mod extensions;
mod identity;
pub mod ini;
pub mod live;
pub mod options;
pub mod orchestrator;
pub mod reload;

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use crate::db::{DbConfig, Synchronous};
pub use crate::http::Limits;
pub use extensions::ExtensionSelection;
pub use identity::IdentityConfig;
use ini::Ini;
pub use orchestrator::{FakeDriverConfig, OrchestratorConfig};

/// The default configuration file, read from the working directory when present.
pub const DEFAULT_CONFIG_FILE: &str = "config/ringnova.conf";

use crate::http::parse::MAX_HEADERS_CEILING;

/// Which I/O driver the workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverChoice {
    /// io_uring when the kernel allows it, else epoll.
    Auto,
    /// io_uring only; start-up fails without it.
    Uring,
    /// epoll (monoio's legacy driver).
    Legacy,
}

/// How workers are pinned to CPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuPinning {
    /// Worker i goes to the i-th CPU of the process's allowed set.
    Auto,
    /// Worker i goes to `list[i % list.len()]`.
    List(Vec<usize>),
    /// No pinning.
    Off,
}

/// `[cors]` settings (oslo.middleware's cors filter with Nova's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// Allowed origins; empty disables CORS.
    pub allowed_origin: Vec<String>,
    /// Whether to send `Access-Control-Allow-Credentials: true`.
    pub allow_credentials: bool,
    /// `Access-Control-Expose-Headers` value.
    pub expose_headers: String,
    /// `Access-Control-Max-Age` value, seconds.
    pub max_age: u64,
    /// Allowed methods, upper case.
    pub allow_methods: Vec<String>,
    /// Allowed request headers, lower case.
    pub allow_headers: Vec<String>,
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file read, if any.
    pub config_file: Option<PathBuf>,
    /// Listening address.
    pub listen: SocketAddr,
    /// Worker threads.
    pub workers: usize,
    /// I/O driver.
    pub driver: DriverChoice,
    /// CPU pinning.
    pub cpus: CpuPinning,
    /// listen(2) backlog.
    pub backlog: u32,
    /// Connection cap per worker.
    pub max_connections: usize,
    /// Framing limits and timeouts.
    pub limits: Limits,
    /// `[oslo_middleware] max_request_body_size`.
    pub max_request_body_size: usize,
    /// `[oslo_middleware] enable_proxy_headers_parsing`.
    pub enable_proxy_headers_parsing: bool,
    /// `[api] auth_strategy`.
    pub auth_strategy: String,
    /// Paste file; `None` means the embedded copy.
    pub api_paste_config: Option<PathBuf>,
    /// `[cors]`.
    pub cors: Cors,
    /// Drain deadline after SIGTERM/SIGINT/SIGQUIT.
    pub shutdown_timeout: Duration,
    /// Whether the request_log filter writes lines.
    pub access_log: bool,
    /// Least severe level logged.
    pub log_level: log::LevelFilter,
    /// `[ringnova] log_format`: how log and access-log lines are written.
    pub log_format: crate::logging::LogFormat,
    /// `[metrics] enabled`: count requests and serve `/metrics`.
    pub metrics_enabled: bool,
    /// Directory for the database and other state.
    pub data_dir: PathBuf,
    /// `[database]`: the database file and connection settings.
    pub database: DbConfig,
    /// `[api] max_limit`: the page size cap of every list.
    pub max_limit: usize,
    /// `[quota]`: default limits, by Nova's resource name (`-1` is unlimited).
    pub quota_defaults: QuotaDefaults,
    /// `[oslo_policy]`: the policy files and how to compile them.
    pub policy: crate::policy::PolicyFiles,
    /// `[identity]`: the built-in identity endpoint and token verification.
    pub identity: IdentityConfig,
    /// `[orchestrator]` and `[fake_driver]`: the orchestration thread and its compute driver.
    pub orchestrator: OrchestratorConfig,
    /// `osapi_compute_extension` and `osapi_compute_ext_list`: the API extensions to load.
    pub extensions: ExtensionSelection,
    /// Things worth a warning at start-up (unknown options).
    pub warnings: Vec<String>,
}

/// `[quota]`: the default limit of each quota resource (SPEC §6), used where no per-project or
/// per-user limit is stored. `-1` is unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaDefaults {
    /// `(resource, limit)` in Nova's resource order, with Nova's resource names
    /// (`injected_file_path_bytes` is set by the `injected_file_path_length` option).
    pub limits: [(&'static str, i64); 11],
}

/// The `[quota]` options and the resource each one sets.
const QUOTA_OPTIONS: [(&str, &str); 11] = [
    ("instances", "instances"),
    ("cores", "cores"),
    ("ram", "ram"),
    ("metadata_items", "metadata_items"),
    ("injected_files", "injected_files"),
    ("injected_file_content_bytes", "injected_file_content_bytes"),
    ("injected_file_path_length", "injected_file_path_bytes"),
    ("key_pairs", "key_pairs"),
    ("server_groups", "server_groups"),
    ("server_group_members", "server_group_members"),
    ("documents", "documents"),
];

impl QuotaDefaults {
    fn from_reader(r: &Reader<'_>) -> Result<QuotaDefaults, ConfigError> {
        let mut limits = [("", 0); 11];
        for (slot, (option, resource)) in limits.iter_mut().zip(QUOTA_OPTIONS) {
            let limit = r.parse("quota", option, |t| match t.parse::<i64>() {
                Ok(n) if (-1..=i64::from(i32::MAX)).contains(&n) => Ok(n),
                _ => Err(format!("expected -1 (unlimited) or 0 to {}", i32::MAX)),
            })?;
            *slot = (resource, limit);
        }
        Ok(QuotaDefaults { limits })
    }

    /// The default limit of `resource`; the legacy network resources (and any other name)
    /// are unlimited.
    pub fn get(&self, resource: &str) -> i64 {
        self.limits
            .iter()
            .find(|(name, _)| *name == resource)
            .map_or(-1, |&(_, limit)| limit)
    }
}

/// Values given on the command line; they win over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen HOST:PORT`.
    pub listen: Option<String>,
    /// `--workers N`.
    pub workers: Option<usize>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--driver auto|uring|legacy`.
    pub driver: Option<String>,
    /// `--cpus LIST`.
    pub cpus: Option<String>,
}

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of the config file.
    File(PathBuf, usize),
    /// The command line.
    Cli(&'static str),
    /// The built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path, line) => write!(f, "{}:{line}", path.display()),
            Origin::Cli(flag) => write!(f, "command line {flag}"),
            Origin::Default => f.write_str("built-in default"),
        }
    }
}

/// A configuration error; its message names the option and where the value came from.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Read(PathBuf, std::io::Error),
    /// The file is not valid INI.
    Syntax(PathBuf, ini::SyntaxError),
    /// A value does not parse or is out of range.
    Value {
        /// `[section] name`.
        option: String,
        /// The offending text.
        value: String,
        /// Where it came from.
        origin: Origin,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read(path, err) => write!(f, "cannot read {}: {err}", path.display()),
            ConfigError::Syntax(path, err) => write!(f, "{}: {err}", path.display()),
            ConfigError::Value {
                option,
                value,
                origin,
                reason,
            } => {
                write!(
                    f,
                    "invalid value {value:?} for option {option} ({origin}): {reason}"
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads options out of the parsed file, falling back to the table's defaults.
struct Reader<'a> {
    ini: &'a Ini,
    path: Option<&'a Path>,
}

impl Reader<'_> {
    fn raw(&self, section: &'static str, name: &'static str) -> (String, Origin) {
        let spec = options::find(section, name).expect("option is in the table");
        match (self.ini.entry(section, name), self.path) {
            (Some(entry), Some(path)) => {
                (entry.value.clone(), Origin::File(path.into(), entry.line))
            }
            (Some(entry), None) => (
                entry.value.clone(),
                Origin::File("<text>".into(), entry.line),
            ),
            _ => (spec.default.to_owned(), Origin::Default),
        }
    }

    fn parse<T>(
        &self,
        section: &'static str,
        name: &'static str,
        convert: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let (value, origin) = self.raw(section, name);
        convert(value.trim()).map_err(|reason| ConfigError::Value {
            option: format!("[{section}] {name}"),
            value,
            origin,
            reason,
        })
    }
}

fn cli_error(flag: &'static str, option: &str, value: &str, reason: String) -> ConfigError {
    ConfigError::Value {
        option: option.to_owned(),
        value: value.to_owned(),
        origin: Origin::Cli(flag),
        reason,
    }
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn parse_count(min: usize, max: usize) -> impl Fn(&str) -> Result<usize, String> {
    move |text| {
        let n: usize = text
            .parse()
            .map_err(|_| "expected a whole number".to_string())?;
        if n < min || n > max {
            return Err(format!("must be between {min} and {max}"));
        }
        Ok(n)
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| "expected a number of seconds".to_string())?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err("must be more than 0 and at most 86400 seconds".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_driver(text: &str) -> Result<DriverChoice, String> {
    match text {
        "auto" => Ok(DriverChoice::Auto),
        "uring" | "io_uring" => Ok(DriverChoice::Uring),
        "legacy" | "epoll" => Ok(DriverChoice::Legacy),
        _ => Err("expected auto, uring or legacy".into()),
    }
}

/// Parses a CPU list such as `0-3,6`.
pub fn parse_cpus(text: &str) -> Result<CpuPinning, String> {
    match text {
        "" => return Ok(CpuPinning::Auto),
        "off" | "none" => return Ok(CpuPinning::Off),
        _ => {}
    }
    let mut cpus = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let bad = || format!("{part:?} is not a CPU number or range");
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo.trim(), hi.trim()),
            None => (part, part),
        };
        let lo: usize = lo.parse().map_err(|_| bad())?;
        let hi: usize = hi.parse().map_err(|_| bad())?;
        if lo > hi || hi >= 4096 {
            return Err(bad());
        }
        cpus.extend(lo..=hi);
    }
    Ok(CpuPinning::List(cpus))
}

fn parse_list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_level(text: &str) -> Result<log::LevelFilter, String> {
    match text.to_ascii_lowercase().as_str() {
        "error" => Ok(log::LevelFilter::Error),
        "warn" | "warning" => Ok(log::LevelFilter::Warn),
        "info" => Ok(log::LevelFilter::Info),
        "debug" => Ok(log::LevelFilter::Debug),
        "trace" => Ok(log::LevelFilter::Trace),
        _ => Err("expected error, warn, info or debug".into()),
    }
}

fn parse_synchronous(text: &str) -> Result<Synchronous, String> {
    match text.to_ascii_lowercase().as_str() {
        "normal" => Ok(Synchronous::Normal),
        "full" => Ok(Synchronous::Full),
        "off" => Err(
            "off is refused: a power failure or OS crash could corrupt the database; \
             use normal or full"
                .into(),
        ),
        _ => Err("expected normal or full".into()),
    }
}

fn parse_busy_timeout(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| "expected a number of seconds".to_string())?;
    if !(0.001..=60.0).contains(&secs) {
        return Err("must be at least 0.001 and at most 60 seconds".into());
    }
    Ok(Duration::from_millis((secs * 1000.0).round() as u64))
}

/// Parses `[database] connection`: empty (the default file in the data directory), an
/// SQLAlchemy SQLite URL (`sqlite:///relative/path`, `sqlite:////absolute/path`, also with a
/// `+driver` suffix), or a plain path.
fn parse_connection(text: &str) -> Result<Option<PathBuf>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Ok(Some(PathBuf::from(text)));
    };
    let dialect = scheme.split('+').next().unwrap_or(scheme);
    if !dialect.eq_ignore_ascii_case("sqlite") {
        return Err(format!(
            "ringnova keeps its data in SQLite; {scheme}:// is not supported (write \
             sqlite:///relative/path, sqlite:////absolute/path or a plain file path)"
        ));
    }
    if rest.is_empty() {
        return Err(
            "sqlite:// without a path is an in-memory database, which loses everything at \
             exit; give a file path"
                .into(),
        );
    }
    let Some(path) = rest.strip_prefix('/') else {
        return Err(
            "an SQLite URL has no host: write sqlite:///relative/path or \
             sqlite:////absolute/path"
                .into(),
        );
    };
    if path.is_empty() {
        return Err("the URL names no file".into());
    }
    if path.contains('?') {
        return Err("URL query parameters are not supported; use the [database] options".into());
    }
    Ok(Some(PathBuf::from(path)))
}

/// `text` with the password of a `scheme://user:password@host/…` URL masked, for messages.
fn redact_url(text: &str) -> String {
    if let Some((scheme, rest)) = text.split_once("://") {
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        if let Some(at) = authority.rfind('@') {
            if let Some((user, _password)) = authority[..at].split_once(':') {
                return format!("{scheme}://{user}:***{}", &rest[at..]);
            }
        }
    }
    text.to_owned()
}

fn parse_listen(text: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let host = text.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, port))
        .map_err(|_| "expected an IP address (or IP:PORT)".into())
}

/// `[oslo_policy]`: paths are resolved against the config file's directory (the working
/// directory when there is no file), as oslo.config finds them.
fn policy_files(
    r: &Reader<'_>,
    path: Option<&Path>,
) -> Result<crate::policy::PolicyFiles, ConfigError> {
    let base = path.and_then(Path::parent).unwrap_or_else(|| Path::new(""));
    let policy_file = r.parse("oslo_policy", "policy_file", |t| {
        if t.is_empty() {
            Err("must not be empty".to_string())
        } else {
            Ok(base.join(t))
        }
    })?;
    let policy_dirs = r.parse("oslo_policy", "policy_dirs", |t| {
        Ok(parse_list(t).into_iter().map(|d| base.join(d)).collect())
    })?;
    Ok(crate::policy::PolicyFiles {
        policy_file,
        policy_dirs,
        enforce_new_defaults: r.parse("oslo_policy", "enforce_new_defaults", parse_bool)?,
        default_rule: r.parse("oslo_policy", "policy_default_rule", |t| Ok(t.to_owned()))?,
        extra_defaults: Vec::new(),
    })
}

impl Config {
    /// Loads the configuration: `--config-file` if given, else `config/ringnova.conf` in the
    /// working directory if present, else built-in defaults; then applies the CLI overrides.
    pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let path = match config_file {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        let Some(path) = path else {
            return Config::from_ini(&Ini::default(), None, overrides);
        };
        let text =
            std::fs::read_to_string(&path).map_err(|err| ConfigError::Read(path.clone(), err))?;
        let ini = Ini::parse(&text).map_err(|err| ConfigError::Syntax(path.clone(), err))?;
        Config::from_ini(&ini, Some(&path), overrides)
    }

    /// Builds a configuration from INI text (used by tests and `--check-config`).
    pub fn from_text(
        text: &str,
        path: Option<&Path>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let name = path.map_or_else(|| PathBuf::from("<text>"), Path::to_path_buf);
        let ini = Ini::parse(text).map_err(|err| ConfigError::Syntax(name, err))?;
        Config::from_ini(&ini, path, overrides)
    }

    /// Options found in the file that ringnova does not know, as `file:line [section] name`.
    pub fn unknown_options(ini: &Ini) -> Vec<String> {
        let mut unknown = Vec::new();
        for section in &ini.sections {
            for entry in &section.entries {
                if options::find(&section.name, &entry.key).is_none() {
                    unknown.push(format!(
                        "line {} [{}] {}",
                        entry.line, section.name, entry.key
                    ));
                }
            }
        }
        unknown
    }

    fn from_ini(
        ini: &Ini,
        path: Option<&Path>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let r = Reader { ini, path };
        let port = r.parse("DEFAULT", "osapi_compute_listen_port", |t| {
            t.parse::<u16>()
                .map_err(|_| "expected a port number 0-65535".to_string())
        })?;
        let mut listen = r.parse("DEFAULT", "osapi_compute_listen", |t| parse_listen(t, port))?;
        if let Some(text) = &overrides.listen {
            listen = text.parse().map_err(|_| {
                cli_error(
                    "--listen",
                    "--listen",
                    text,
                    "expected HOST:PORT, e.g. 127.0.0.1:8774".into(),
                )
            })?;
        }
        let online = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut workers = r.parse("DEFAULT", "osapi_compute_workers", |t| {
            if t.is_empty() {
                Ok(online)
            } else {
                parse_count(1, 1024)(t)
            }
        })?;
        if let Some(n) = overrides.workers {
            if n == 0 || n > 1024 {
                return Err(cli_error(
                    "--workers",
                    "--workers",
                    &n.to_string(),
                    "must be between 1 and 1024".into(),
                ));
            }
            workers = n;
        }
        let mut driver = r.parse("ringnova", "driver", parse_driver)?;
        if let Some(text) = &overrides.driver {
            driver = parse_driver(text)
                .map_err(|reason| cli_error("--driver", "--driver", text, reason))?;
        }
        let mut cpus = r.parse("ringnova", "cpus", parse_cpus)?;
        if let Some(text) = &overrides.cpus {
            cpus =
                parse_cpus(text).map_err(|reason| cli_error("--cpus", "--cpus", text, reason))?;
        }
        if let CpuPinning::List(list) = &cpus {
            if list.is_empty() {
                return Err(ConfigError::Value {
                    option: "[ringnova] cpus".into(),
                    value: String::new(),
                    origin: Origin::Default,
                    reason: "empty CPU list".into(),
                });
            }
        }
        let max_request_body_size = r.parse(
            "oslo_middleware",
            "max_request_body_size",
            parse_count(0, 1 << 30),
        )?;
        let limits = Limits {
            max_request_line: r.parse("ringnova", "max_request_line", parse_count(64, 1 << 20))?,
            max_header_size: r.parse("ringnova", "max_header_size", parse_count(256, 1 << 21))?,
            max_headers: r.parse(
                "ringnova",
                "max_headers",
                parse_count(1, MAX_HEADERS_CEILING),
            )?,
            max_body: max_request_body_size,
            header_timeout: r.parse("ringnova", "header_timeout", parse_seconds)?,
            body_timeout: r.parse("ringnova", "body_timeout", parse_seconds)?,
            body_deadline: r.parse("ringnova", "body_deadline", parse_seconds)?,
            keepalive_timeout: r.parse("ringnova", "keepalive_timeout", parse_seconds)?,
            send_timeout: r.parse("ringnova", "send_timeout", parse_seconds)?,
        };
        let api_paste_config = match (ini.entry("wsgi", "api_paste_config"), path) {
            (Some(entry), Some(file)) => {
                let base = file.parent().unwrap_or_else(|| Path::new("."));
                Some(base.join(&entry.value))
            }
            (Some(entry), None) => Some(PathBuf::from(&entry.value)),
            (None, Some(file)) => {
                let candidate = file
                    .parent()
                    .unwrap_or_else(|| Path::new("."))
                    .join("api-paste.ini");
                Some(candidate).filter(|p| p.is_file())
            }
            (None, None) => None,
        };
        let mut data_dir = r.parse("ringnova", "data_dir", |t| {
            if t.is_empty() {
                Err("must not be empty".to_string())
            } else {
                Ok(PathBuf::from(t))
            }
        })?;
        if let Some(dir) = &overrides.data_dir {
            data_dir = dir.clone();
        }
        let (connection, origin) = r.raw("database", "connection");
        let db_path = match parse_connection(connection.trim()) {
            Ok(Some(path)) => path,
            Ok(None) => data_dir.join(crate::db::DEFAULT_FILE_NAME),
            Err(reason) => {
                return Err(ConfigError::Value {
                    option: "[database] connection".into(),
                    value: redact_url(&connection),
                    origin,
                    reason,
                })
            }
        };
        let database = DbConfig {
            path: db_path,
            synchronous: r.parse("database", "synchronous", parse_synchronous)?,
            busy_timeout: r.parse("database", "busy_timeout", parse_busy_timeout)?,
        };
        let identity = IdentityConfig::from_reader(&r, &data_dir)?;
        Ok(Config {
            config_file: path.map(Path::to_path_buf),
            listen,
            workers,
            driver,
            cpus,
            backlog: r.parse("ringnova", "backlog", parse_count(1, 1 << 20))? as u32,
            max_connections: r.parse("ringnova", "max_connections", parse_count(1, 1 << 20))?,
            limits,
            max_request_body_size,
            enable_proxy_headers_parsing: r.parse(
                "oslo_middleware",
                "enable_proxy_headers_parsing",
                parse_bool,
            )?,
            auth_strategy: r.parse("api", "auth_strategy", |t| {
                if t.is_empty() {
                    Err("must not be empty".to_string())
                } else {
                    Ok(t.to_owned())
                }
            })?,
            api_paste_config,
            cors: Cors {
                allowed_origin: r.parse("cors", "allowed_origin", |t| Ok(parse_list(t)))?,
                allow_credentials: r.parse("cors", "allow_credentials", parse_bool)?,
                expose_headers: r
                    .parse("cors", "expose_headers", |t| Ok(parse_list(t).join(",")))?,
                max_age: r.parse("cors", "max_age", |t| {
                    t.parse::<u64>()
                        .map_err(|_| "expected a whole number".to_string())
                })?,
                allow_methods: r.parse("cors", "allow_methods", |t| {
                    Ok(parse_list(t)
                        .into_iter()
                        .map(|m| m.to_ascii_uppercase())
                        .collect())
                })?,
                allow_headers: r.parse("cors", "allow_headers", |t| {
                    Ok(parse_list(t)
                        .into_iter()
                        .map(|h| h.to_ascii_lowercase())
                        .collect())
                })?,
            },
            shutdown_timeout: r.parse("ringnova", "shutdown_timeout", parse_seconds)?,
            access_log: r.parse("ringnova", "access_log", parse_bool)?,
            log_level: r.parse("ringnova", "log_level", parse_level)?,
            log_format: r.parse("ringnova", "log_format", |t| t.parse())?,
            metrics_enabled: r.parse("metrics", "enabled", parse_bool)?,
            data_dir,
            database,
            max_limit: r.parse("api", "max_limit", parse_count(1, 1 << 20))?,
            quota_defaults: QuotaDefaults::from_reader(&r)?,
            policy: policy_files(&r, path)?,
            identity,
            orchestrator: OrchestratorConfig::from_reader(&r)?,
            extensions: ExtensionSelection::from_reader(&r)?,
            warnings: Config::unknown_options(ini)
                .into_iter()
                .map(|option| match path {
                    Some(file) => format!("{}: unknown option ignored: {option}", file.display()),
                    None => format!("unknown option ignored: {option}"),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_text(
            text,
            Some(Path::new("/etc/ringnova/ringnova.conf")),
            &Overrides::default(),
        )
    }

    #[test]
    fn defaults_match_the_table() {
        let cfg = Config::from_text("", None, &Overrides::default()).unwrap();
        assert_eq!(cfg.listen, "0.0.0.0:8774".parse().unwrap());
        assert_eq!(cfg.max_request_body_size, 114_688);
        assert_eq!(cfg.limits.max_headers, 100);
        assert_eq!(cfg.auth_strategy, "noauth2");
        assert_eq!(cfg.driver, DriverChoice::Auto);
        assert_eq!(cfg.cpus, CpuPinning::Auto);
        assert!(cfg.api_paste_config.is_none());
        assert!(cfg.cors.allowed_origin.is_empty());
        assert!(cfg.workers >= 1);
        assert_eq!(
            cfg.database,
            DbConfig::at(PathBuf::from("data").join("ringnova.sqlite"))
        );
    }

    #[test]
    fn database_options() {
        let cases = [
            ("", "data/ringnova.sqlite"),
            (
                "sqlite:////var/lib/ringnova/nova.sqlite",
                "/var/lib/ringnova/nova.sqlite",
            ),
            ("sqlite:///state/nova.sqlite", "state/nova.sqlite"),
            ("sqlite+pysqlite:///nova.sqlite", "nova.sqlite"),
            ("/srv/nova.sqlite", "/srv/nova.sqlite"),
            ("relative/nova.db", "relative/nova.db"),
        ];
        for (connection, path) in cases {
            let cfg = load(&format!("[database]\nconnection = {connection}\n")).unwrap();
            assert_eq!(cfg.database.path, PathBuf::from(path), "{connection}");
        }
        let cfg = load("[database]\nsynchronous = FULL\nbusy_timeout = 0.25\n").unwrap();
        assert_eq!(cfg.database.synchronous, Synchronous::Full);
        assert_eq!(cfg.database.busy_timeout, Duration::from_millis(250));
        // The default file follows --data-dir; an explicit connection does not.
        let overrides = Overrides {
            data_dir: Some("/tmp/rn".into()),
            ..Overrides::default()
        };
        let cfg = Config::from_text("", None, &overrides).unwrap();
        assert_eq!(cfg.database.path, PathBuf::from("/tmp/rn/ringnova.sqlite"));
        let cfg = Config::from_text("[database]\nconnection = /x.db\n", None, &overrides).unwrap();
        assert_eq!(cfg.database.path, PathBuf::from("/x.db"));
    }

    #[test]
    fn other_databases_are_refused_without_showing_the_password() {
        let err = load("[database]\nconnection = mysql+pymysql://nova:s3cret@db/nova\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("[database] connection"), "{err}");
        assert!(err.contains("ringnova.conf:2"), "{err}");
        assert!(err.contains("nova:***@db/nova"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn file_values_and_paths() {
        let cfg = load(
            "[DEFAULT]\nosapi_compute_listen = 127.0.0.1\nosapi_compute_listen_port = 9000\n\
             osapi_compute_workers = 3\n[wsgi]\napi_paste_config = paste.ini\n\
             [ringnova]\ncpus = 0-1,3\nheader_timeout = 0.5\n",
        )
        .unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(cfg.workers, 3);
        assert_eq!(cfg.cpus, CpuPinning::List(vec![0, 1, 3]));
        assert_eq!(cfg.limits.header_timeout, Duration::from_millis(500));
        assert_eq!(
            cfg.api_paste_config.unwrap(),
            PathBuf::from("/etc/ringnova/paste.ini")
        );
    }

    #[test]
    fn ipv6_listen() {
        let cfg = load("[DEFAULT]\nosapi_compute_listen = ::1\n").unwrap();
        assert_eq!(cfg.listen, "[::1]:8774".parse().unwrap());
    }

    #[test]
    fn overrides_win() {
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".into()),
            workers: Some(2),
            driver: Some("legacy".into()),
            cpus: Some("off".into()),
            data_dir: Some("/tmp/x".into()),
        };
        let cfg =
            Config::from_text("[DEFAULT]\nosapi_compute_workers = 7\n", None, &overrides).unwrap();
        assert_eq!(cfg.listen.port(), 0);
        assert_eq!(cfg.workers, 2);
        assert_eq!(cfg.driver, DriverChoice::Legacy);
        assert_eq!(cfg.cpus, CpuPinning::Off);
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn bad_values_name_option_file_and_line() {
        let cases = [
            (
                "[ringnova]\n\nmax_headers = lots\n",
                "[ringnova] max_headers",
                3,
            ),
            (
                "[ringnova]\nmax_headers = 100000\n",
                "[ringnova] max_headers",
                2,
            ),
            (
                "[DEFAULT]\nosapi_compute_listen_port = 70000\n",
                "[DEFAULT] osapi_compute_listen_port",
                2,
            ),
            ("[ringnova]\ndriver = fast\n", "[ringnova] driver", 2),
            ("[ringnova]\ncpus = 3-1\n", "[ringnova] cpus", 2),
            (
                "[ringnova]\nheader_timeout = 0\n",
                "[ringnova] header_timeout",
                2,
            ),
            (
                "[oslo_middleware]\nenable_proxy_headers_parsing = maybe\n",
                "[oslo_middleware] enable_proxy_headers_parsing",
                2,
            ),
            (
                "[DEFAULT]\nosapi_compute_workers = 0\n",
                "[DEFAULT] osapi_compute_workers",
                2,
            ),
            (
                "[database]\nconnection = postgresql://db/nova\n",
                "[database] connection",
                2,
            ),
            (
                "[database]\nconnection = sqlite://\n",
                "[database] connection",
                2,
            ),
            (
                "[database]\nconnection = sqlite://host/nova.db\n",
                "[database] connection",
                2,
            ),
            (
                "[database]\nconnection = sqlite:///nova.db?timeout=5\n",
                "[database] connection",
                2,
            ),
            (
                "[database]\nsynchronous = off\n",
                "[database] synchronous",
                2,
            ),
            (
                "[database]\nsynchronous = extra\n",
                "[database] synchronous",
                2,
            ),
            (
                "[database]\nbusy_timeout = 0\n",
                "[database] busy_timeout",
                2,
            ),
            (
                "[database]\nbusy_timeout = 61\n",
                "[database] busy_timeout",
                2,
            ),
            (
                "[database]\n\nbusy_timeout = soon\n",
                "[database] busy_timeout",
                3,
            ),
        ];
        for (text, option, line) in cases {
            let err = load(text).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(option), "{message}");
            assert!(
                message.contains(&format!("ringnova.conf:{line}")),
                "{message}"
            );
        }
    }

    #[test]
    fn bad_cli_values_are_errors() {
        let overrides = Overrides {
            listen: Some("nowhere".into()),
            ..Overrides::default()
        };
        let err = Config::from_text("", None, &overrides).unwrap_err();
        assert!(err.to_string().contains("--listen"));
        let overrides = Overrides {
            workers: Some(0),
            ..Overrides::default()
        };
        assert!(Config::from_text("", None, &overrides).is_err());
    }

    #[test]
    fn unknown_options_are_listed() {
        let ini = Ini::parse("[ringnova]\nmax_headers = 1\nfoo = 2\n").unwrap();
        assert_eq!(
            Config::unknown_options(&ini),
            vec!["line 3 [ringnova] foo".to_string()]
        );
    }
}
