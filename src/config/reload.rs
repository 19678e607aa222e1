//! What a SIGHUP reload may change: the new file is read and validated whole, then every
//! option that cannot change in a running process is put back to the value in force.
//!
//! Main thread only, off the request path. [`Config::reload`] reads the file the server
//! started with (with the same command-line overrides) and [`reconcile`]s it with the
//! configuration in force:
//!
//! * **Live** options take effect: `log_level`, `access_log` (see below), `[api] max_limit`,
//!   `[quota]` defaults, `max_connections`, `shutdown_timeout`, the framing limits and
//!   timeouts (`max_request_line`, `max_header_size`, `max_headers`, `header_timeout`,
//!   `body_timeout`, `body_deadline`, `keepalive_timeout`, `send_timeout`; connections opened
//!   after the reload use them), `[api] enable_instance_password`, `[DEFAULT] password_length` and the
//!   `[fake_driver]` timings and failure rule.
//! * **Restart-only** options keep their running value and are reported in [`Kept`]: the
//!   listening address and port, workers, CPUs, I/O driver, backlog, data directory,
//!   `[database]`, everything compiled into the paste pipeline (`[wsgi] api_paste_config`,
//!   `[api] auth_strategy`, `[cors]`, proxy-header parsing, `max_request_body_size`,
//!   `[identity]`), the `[oslo_policy]` locations and flags (the policy *files* are re-read
//!   on every reload), and `[orchestrator]`.
//! * `access_log` can be switched off and on again, but not on when the server started with
//!   it off: the pipeline was then compiled without the access-log filter.
//!
//! It must never return a half-applied configuration: either a complete [`Reconciled`] or
//! the error that refused the file.

use std::fmt::Debug;

use super::{Config, ConfigError, Overrides};

/// A restart-only option whose value in the file differs from the one in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The option (or group of options), as an operator writes it.
    pub option: &'static str,
    /// The value that stays in force.
    pub in_force: String,
    /// The value the file asks for.
    pub wanted: String,
}

/// The outcome of a reload that validated.
#[derive(Debug)]
pub struct Reconciled {
    /// What to publish: the file's live options, the running restart-only ones.
    pub config: Config,
    /// Restart-only options the file changed (and which did not change).
    pub kept: Vec<Kept>,
    /// Live options whose value changes with this reload.
    pub changed: Vec<&'static str>,
}

fn differ<T: Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") != format!("{b:?}")
}

/// Restart-only fields: each differing one is reported and put back to the value in force.
macro_rules! keep {
    ($kept:ident, $startup:ident, $new:ident; $($($field:ident).+ => $option:literal,)*) => {
        $(
            if differ(&$startup.$($field).+, &$new.$($field).+) {
                $kept.push(Kept {
                    option: $option,
                    in_force: format!("{:?}", $startup.$($field).+),
                    wanted: format!("{:?}", $new.$($field).+),
                });
                $new.$($field).+ = $startup.$($field).+.clone();
            }
        )*
    };
}

/// Live fields: each one that differs from the running configuration is listed.
macro_rules! changed {
    ($changed:ident, $running:ident, $new:ident; $($($field:ident).+ => $option:literal,)*) => {
        $(
            if differ(&$running.$($field).+, &$new.$($field).+) {
                $changed.push($option);
            }
        )*
    };
}

/// Reconciles a freshly validated file with the configuration the server started with
/// (`startup`, the source of every restart-only value) and the one in force (`running`,
/// to list what changes).
pub fn reconcile(startup: &Config, running: &Config, mut new: Config) -> Reconciled {
    // Extension rules are registered at start-up, not read from the file.
    new.policy.extra_defaults = startup.policy.extra_defaults.clone();
    let mut kept = Vec::new();
    keep! { kept, startup, new;
        listen => "[DEFAULT] osapi_compute_listen / osapi_compute_listen_port",
        workers => "[DEFAULT] osapi_compute_workers",
        driver => "[ringnova] driver",
        cpus => "[ringnova] cpus",
        backlog => "[ringnova] backlog",
        data_dir => "[ringnova] data_dir",
        database => "[database]",
        api_paste_config => "[wsgi] api_paste_config",
        auth_strategy => "[api] auth_strategy",
        cors => "[cors]",
        enable_proxy_headers_parsing => "[oslo_middleware] enable_proxy_headers_parsing",
        max_request_body_size => "[oslo_middleware] max_request_body_size",
        limits.max_body => "[oslo_middleware] max_request_body_size",
        identity => "[identity]",
        policy => "[oslo_policy]",
        orchestrator.queue_size => "[orchestrator] queue_size",
        orchestrator.driver => "[orchestrator] compute_driver",
        extensions => "[DEFAULT] osapi_compute_extension / osapi_compute_ext_list",
        metrics_enabled => "[metrics] enabled",
        config_file => "--config-file",
    }
    if !startup.access_log && new.access_log {
        kept.push(Kept {
            option: "[ringnova] access_log (started off: the pipeline has no access-log filter)",
            in_force: "false".into(),
            wanted: "true".into(),
        });
        new.access_log = false;
    }
    // The same problem reported twice reads as two problems.
    kept.dedup_by(|a, b| a.option == b.option);
    let mut changed = Vec::new();
    changed! { changed, running, new;
        log_level => "[ringnova] log_level",
        access_log => "[ringnova] access_log",
        log_format => "[ringnova] log_format",
        max_limit => "[api] max_limit",
        quota_defaults => "[quota]",
        max_connections => "[ringnova] max_connections",
        shutdown_timeout => "[ringnova] shutdown_timeout",
        limits.max_request_line => "[ringnova] max_request_line",
        limits.max_header_size => "[ringnova] max_header_size",
        limits.max_headers => "[ringnova] max_headers",
        limits.header_timeout => "[ringnova] header_timeout",
        limits.body_timeout => "[ringnova] body_timeout",
        limits.body_deadline => "[ringnova] body_deadline",
        limits.keepalive_timeout => "[ringnova] keepalive_timeout",
        limits.send_timeout => "[ringnova] send_timeout",
        orchestrator.enable_instance_password => "[api] enable_instance_password",
        orchestrator.password_length => "[DEFAULT] password_length",
        orchestrator.fake => "[fake_driver]",
    }
    Reconciled {
        config: new,
        kept,
        changed,
    }
}

impl Config {
    /// Re-reads the file `startup` was read from, with the same command-line `overrides`,
    /// validates all of it, and reconciles it (see the module doc). A file that does not
    /// validate is an error and changes nothing.
    pub fn reload(
        startup: &Config,
        running: &Config,
        overrides: &Overrides,
    ) -> Result<Reconciled, ConfigError> {
        let new = match &startup.config_file {
            Some(path) => Config::load(Some(path), overrides)?,
            // Started without a file: there is nothing to re-read but the defaults.
            None => Config::from_text("", None, overrides)?,
        };
        Ok(reconcile(startup, running, new))
    }
}

#[cfg(test)]
mod tests {
    use std::{path::Path, time::Duration};

    use super::*;

    fn config(text: &str) -> Config {
        Config::from_text(
            text,
            Some(Path::new("/etc/ringnova/ringnova.conf")),
            &Overrides::default(),
        )
        .unwrap()
    }

    #[test]
    fn live_options_change_and_are_listed() {
        let startup = config("[api]\nmax_limit = 100\n");
        let new = config(
            "[api]\nmax_limit = 5\n[quota]\ninstances = 3\n[ringnova]\nlog_level = debug\n\
             keepalive_timeout = 2\n[fake_driver]\nbuild_time = 0.1\n",
        );
        let out = reconcile(&startup, &startup, new);
        assert!(out.kept.is_empty(), "{:?}", out.kept);
        assert_eq!(out.config.max_limit, 5);
        assert_eq!(out.config.quota_defaults.get("instances"), 3);
        assert_eq!(out.config.log_level, log::LevelFilter::Debug);
        assert_eq!(out.config.limits.keepalive_timeout, Duration::from_secs(2));
        assert_eq!(
            out.config.orchestrator.fake.build_time,
            Duration::from_millis(100)
        );
        for option in [
            "[api] max_limit",
            "[quota]",
            "[ringnova] log_level",
            "[ringnova] keepalive_timeout",
            "[fake_driver]",
        ] {
            assert!(out.changed.contains(&option), "{option}: {:?}", out.changed);
        }
        assert_eq!(out.changed.len(), 5, "{:?}", out.changed);
    }

    #[test]
    fn restart_only_options_keep_their_value_and_are_named() {
        let startup = config("[DEFAULT]\nosapi_compute_listen_port = 9000\n");
        let new = config(
            "[DEFAULT]\nosapi_compute_listen_port = 9001\nosapi_compute_workers = 7\n\
             [database]\nconnection = /elsewhere.db\n[ringnova]\ndata_dir = /srv\ndriver = legacy\n\
             [api]\nmax_limit = 7\nauth_strategy = token\n",
        );
        let out = reconcile(&startup, &startup, new);
        let options: Vec<_> = out.kept.iter().map(|k| k.option).collect();
        for option in [
            "[DEFAULT] osapi_compute_listen / osapi_compute_listen_port",
            "[DEFAULT] osapi_compute_workers",
            "[database]",
            "[ringnova] data_dir",
            "[ringnova] driver",
            "[api] auth_strategy",
        ] {
            assert!(options.contains(&option), "{option}: {options:?}");
        }
        assert_eq!(out.config.listen, startup.listen);
        assert_eq!(out.config.workers, startup.workers);
        assert_eq!(out.config.database, startup.database);
        assert_eq!(out.config.data_dir, startup.data_dir);
        assert_eq!(out.config.driver, startup.driver);
        assert_eq!(out.config.auth_strategy, "noauth2");
        let port = out
            .kept
            .iter()
            .find(|k| k.option.contains("listen"))
            .unwrap();
        assert!(port.in_force.contains("9000") && port.wanted.contains("9001"));
        // The live option in the same file still applies.
        assert_eq!(out.config.max_limit, 7);
        assert_eq!(out.changed, vec!["[api] max_limit"]);
    }

    #[test]
    fn body_size_is_restart_only_and_reported_once() {
        let startup = config("");
        let out = reconcile(
            &startup,
            &startup,
            config("[oslo_middleware]\nmax_request_body_size = 10\n"),
        );
        assert_eq!(out.kept.len(), 1, "{:?}", out.kept);
        assert_eq!(out.config.max_request_body_size, 114_688);
        assert_eq!(out.config.limits.max_body, 114_688);
    }

    #[test]
    fn access_log_cannot_be_switched_on_when_it_started_off() {
        let off = config("[ringnova]\naccess_log = false\n");
        let on = config("[ringnova]\naccess_log = true\n");
        let out = reconcile(&off, &off, on.clone());
        assert!(!out.config.access_log);
        assert_eq!(out.kept.len(), 1);
        // Started on, switched off by a reload, switched on again: fine.
        let out = reconcile(&on, &off, on.clone());
        assert!(out.config.access_log);
        assert!(out.kept.is_empty());
        assert_eq!(out.changed, vec!["[ringnova] access_log"]);
    }

    #[test]
    fn a_broken_file_is_an_error() {
        let dir = std::env::temp_dir().join(format!("ringnova-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ringnova.conf");
        std::fs::write(&path, "[api]\nmax_limit = 3\n").unwrap();
        let startup = Config::load(Some(&path), &Overrides::default()).unwrap();
        std::fs::write(&path, "[api]\nmax_limit = 4\n[quota]\ncores = many\n").unwrap();
        let err = Config::reload(&startup, &startup, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("[quota] cores"), "{err}");
        std::fs::write(&path, "[api]\nmax_limit = 4\n").unwrap();
        let out = Config::reload(&startup, &startup, &Overrides::default()).unwrap();
        assert_eq!(out.config.max_limit, 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
