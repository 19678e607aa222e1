//! What a core worker gives the compute API besides the request: its own database
//! connection, the shared policy enforcer and the API settings.
//!
//! One [`Services`] per core worker, built on that worker's thread when it starts and kept
//! for its life; handlers reach it through [`RequestContext::services`]. It holds the
//! worker's `!Send` [`Db`], so it never leaves the thread. It must never hold anything that
//! changes per request, except the read cache, whose every use is checked against the
//! database first ([`super::read_cache`]); the settings change only by [`Services::apply`]
//! when the worker takes up a reloaded configuration, between requests.
//!
//! [`RequestContext::services`]: super::context::RequestContext::services

use std::{cell::RefCell, sync::Arc};

use crate::{
    config::{Config, QuotaDefaults},
    db::{Db, DbError},
    policy::{LivePolicy, WorkerPolicy},
};

/// Per-worker services of the compute API.
#[derive(Debug)]
pub struct Services {
    /// This worker's connection to the database.
    pub db: Db,
    /// This worker's view of the policy rules: checked without locking, and up to date
    /// within a second of a policy file change.
    pub policy: WorkerPolicy,
    /// `[api] max_limit`.
    pub max_limit: usize,
    /// `[quota]` defaults.
    pub quota_defaults: QuotaDefaults,
    /// This worker's handle on the orchestration thread (`None` outside a server: tasks
    /// cannot be started and such requests answer 503).
    pub orchestrator: Option<crate::orchestrator::OrchestratorHandle>,
    /// `[orchestrator]`, `[fake_driver]` and the admin password settings.
    pub orchestrator_config: crate::config::OrchestratorConfig,
    /// Rendered flavor and key pair reads, checked against `db` on every request.
    pub read_cache: RefCell<super::read_cache::ReadCache>,
}

impl Services {
    /// Opens this worker's connection (migrations must have run) and takes the settings.
    pub fn open(config: &Config, policy: Arc<LivePolicy>) -> Result<Services, DbError> {
        Ok(Services {
            db: Db::open_for_worker(&config.database)?,
            policy: WorkerPolicy::new(policy),
            max_limit: config.max_limit,
            quota_defaults: config.quota_defaults.clone(),
            orchestrator: None,
            orchestrator_config: config.orchestrator.clone(),
            read_cache: RefCell::default(),
        })
    }

    /// Takes the settings of a reloaded configuration (the database and the policy view
    /// stay; the policy follows its own reloads).
    pub fn apply(&mut self, config: &Config) {
        self.max_limit = config.max_limit;
        self.quota_defaults = config.quota_defaults.clone();
        self.orchestrator_config = config.orchestrator.clone();
    }
}
