//! SIGHUP: re-read the configuration file and the policy files, and publish what may change
//! in a running server.
//!
//! Main thread only (it polls the SIGHUP flag while it waits for the workers), never on a
//! core worker. The file is read and validated whole first (`Config::reload`); a file that
//! does not validate is logged with the reason and the configuration in force stays.
//! Restart-only options that the file changed are named in one warning with both values and
//! keep their running value. Then, in this order: the log level and access-log switch change,
//! the new configuration is published to the workers (`config::live`), and the policy files
//! are re-read at once (their own all-or-nothing rule applies). Connections are never
//! touched: each worker takes the new configuration up between requests.
//!
//! It must never publish a configuration that failed validation, nor stop or restart
//! anything that serves.

use crate::{
    config::{Config, Overrides},
    policy::live::Reload,
};

use super::worker::Shared;

/// What one SIGHUP did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Published as this generation.
    Published(u64),
    /// The file did not validate; nothing changed.
    Refused,
}

/// Reloads after a SIGHUP; see the module doc.
pub fn on_hangup(shared: &Shared, overrides: &Overrides) -> Outcome {
    let source = shared.config.config_file.as_ref().map_or_else(
        || "the built-in defaults (no configuration file)".to_string(),
        |path| path.display().to_string(),
    );
    log::info!("SIGHUP: reloading {source}");
    let (_, running) = shared.live.current();
    let reconciled = match Config::reload(&shared.config, &running, overrides) {
        Ok(reconciled) => reconciled,
        Err(err) => {
            log::error!("configuration not reloaded, the one in force stays: {err}");
            return Outcome::Refused;
        }
    };
    for warning in &reconciled.config.warnings {
        log::warn!("{warning}");
    }
    if !reconciled.kept.is_empty() {
        let kept: Vec<String> = reconciled
            .kept
            .iter()
            .map(|k| format!("{} (in force {}, file {})", k.option, k.in_force, k.wanted))
            .collect();
        log::warn!(
            "configuration reload: these options need a restart and keep their running \
             value: {}",
            kept.join("; ")
        );
    }
    let level = reconciled.config.log_level;
    let access_log = reconciled.config.access_log;
    let log_format = reconciled.config.log_format;
    let changed = reconciled.changed;
    // Logging first: a request that sees the new configuration also logs by it.
    crate::logging::set_level(level);
    crate::logging::set_access_enabled(access_log);
    crate::logging::set_format(log_format);
    let generation = shared.live.publish(reconciled.config);
    log::info!(
        "configuration reloaded (generation {generation}); changed: {}",
        if changed.is_empty() {
            "nothing".to_string()
        } else {
            changed.join(", ")
        }
    );
    if let Reload::Refused(why) = shared.policy.reload_now() {
        log::error!("policy files not reloaded, the rules in force stay: {why}");
    }
    Outcome::Published(generation)
}
