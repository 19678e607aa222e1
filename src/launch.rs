//! The start-up sequence as a library call, for programs that embed ringnova and bring API
//! extensions of their own: load the extensions (the compiled-in ones plus the program's),
//! register their policy rules, compile the paste pipeline, migrate the database, start the
//! identity service, and serve.
//!
//! Main thread, start-up only. The `ringnova` binary runs the same steps itself (it also has
//! `--check-config` and the admin subcommands between them). This module must never serve
//! before every step has succeeded, and never print: errors are returned as [`LaunchError`]
//! for the program to report.
//!
//! ```no_run
//! # use std::sync::{atomic::AtomicBool, Arc};
//! # use ringnova::{config::{Config, Overrides}, launch};
//! let config = Config::load(None, &Overrides::default()).unwrap();
//! let shutdown = Arc::new(AtomicBool::new(false));
//! launch::serve(config, Vec::new(), shutdown, ringnova::server::print_ready).unwrap();
//! ```

use std::{
    fmt,
    sync::{atomic::AtomicBool, Arc},
};

use crate::{
    api::extensions::{self, Extension, Extensions, LoadError},
    config::Config,
    db,
    middleware::{paste, Pipeline},
    server,
};

/// Why ringnova could not start (or stopped with an error).
#[derive(Debug)]
pub enum LaunchError {
    /// A descriptor is invalid, an alias is duplicated, or the selection names an unknown one.
    Extensions(LoadError),
    /// The paste pipeline does not compile.
    Paste(paste::PasteError),
    /// The data directory cannot be created.
    DataDir(std::io::Error),
    /// The database cannot be migrated or seeded.
    Database(db::DbError),
    /// The identity service did not start.
    Identity(String),
    /// The server failed.
    Server(server::ServerError),
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LaunchError::Extensions(err) => write!(f, "extension error: {err}"),
            LaunchError::Paste(err) => write!(f, "paste pipeline error: {err}"),
            LaunchError::DataDir(err) => write!(f, "cannot create the data directory: {err}"),
            LaunchError::Database(err) => write!(f, "cannot prepare the database: {err}"),
            LaunchError::Identity(err) => write!(f, "identity start-up failed: {err}"),
            LaunchError::Server(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for LaunchError {}

/// Loads the compiled-in extensions plus `extra` as the configuration selects, and registers
/// their policy rules in `config` (before the policy files are read).
pub fn load_extensions(
    config: &mut Config,
    extra: Vec<Box<dyn Extension>>,
) -> Result<&'static Extensions, LoadError> {
    let mut standard = extensions::standard_extensions();
    standard.extend(extra);
    let loaded = extensions::load_from(
        &config.extensions,
        standard,
        extensions::optional_extensions(),
    )?;
    config.policy.extra_defaults = loaded.policy_defaults();
    Ok(loaded)
}

/// Every start-up step up to (not including) serving: extensions, pipeline, database.
pub fn prepare(
    config: &mut Config,
    extra: Vec<Box<dyn Extension>>,
) -> Result<Pipeline, LaunchError> {
    let loaded = load_extensions(config, extra).map_err(LaunchError::Extensions)?;
    let pipeline = paste::load_with(config, loaded).map_err(LaunchError::Paste)?;
    std::fs::create_dir_all(&config.data_dir).map_err(LaunchError::DataDir)?;
    db::migrate(&config.database).map_err(LaunchError::Database)?;
    db::queries::images::seed_defaults(&config.database).map_err(LaunchError::Database)?;
    Ok(pipeline)
}

/// Prepares and serves until SIGTERM/SIGINT or until `shutdown` is set; `on_ready` gets the
/// ready line once every worker serves.
pub fn serve(
    mut config: Config,
    extra: Vec<Box<dyn Extension>>,
    shutdown: Arc<AtomicBool>,
    on_ready: impl FnOnce(&str),
) -> Result<(), LaunchError> {
    let pipeline = prepare(&mut config, extra)?;
    let created = crate::identity::start_for(&pipeline, &config)
        .map_err(|err| LaunchError::Identity(err.to_string()))?;
    if let Some(password) = created {
        // Shown once, as the binary does on stderr.
        log::warn!(
            "created identity user 'admin' (project 'admin', role admin) with password: {password}"
        );
    }
    server::run(config, pipeline, shutdown, on_ready).map_err(LaunchError::Server)
}
