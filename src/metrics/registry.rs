//! The registry: every worker's counter block, the route labels, and the other things a
//! scrape reads (the orchestrator's queue and outcomes, the access log's drops).
//!
//! Built once at start-up, when the paste pipeline is compiled (it knows the URL map, and so
//! the route labels), before any worker starts; shared read-only by every worker after that.
//! Workers write only their own block, through the [`Recorder`] handed to each once.
//!
//! It must never hand out a block's recorder twice.

use std::sync::{Arc, OnceLock};

use super::{
    key::METHOD_SLOTS,
    recorder::{Recorder, WorkerBlock},
};
use crate::orchestrator::OrchestratorMetrics;

/// Every worker's counters and the labels to render them with.
#[derive(Debug)]
pub struct Registry {
    enabled: bool,
    /// One block per worker, by worker index.
    pub(super) blocks: Box<[Arc<WorkerBlock>]>,
    /// Route labels by route slot: `unmatched`, the mounts, the compute API's routes.
    pub(super) routes: Box<[&'static str]>,
    mounts: u16,
    pub(super) orchestrator: OnceLock<OrchestratorMetrics>,
}

impl Registry {
    /// A registry for `workers` workers; `mounts` are the URL-map prefixes in file order (as
    /// labels: `/`, `/healthcheck`), `api_routes` the compute API's route templates in
    /// `ApiRouter::route_paths` order. With `enabled` false nothing is recorded and the endpoint
    /// answers 404.
    pub fn new(
        workers: usize,
        enabled: bool,
        mounts: &[&'static str],
        api_routes: &[&'static str],
    ) -> Registry {
        let routes: Box<[&'static str]> = std::iter::once(super::key::UNMATCHED)
            .chain(mounts.iter().copied())
            .chain(api_routes.iter().copied())
            .collect();
        let slots = if enabled { routes.len() } else { 0 };
        Registry {
            enabled,
            blocks: (0..workers)
                .map(|_| Arc::new(WorkerBlock::new(slots)))
                .collect(),
            mounts: u16::try_from(mounts.len()).unwrap_or(u16::MAX),
            routes,
            orchestrator: OnceLock::new(),
        }
    }

    /// Whether metrics are collected and served (`[metrics] enabled`).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The recorder of worker `worker`'s block. A worker index without a block, or whose
    /// recorder was already handed out, gets a detached block that no scrape reads (and a
    /// warning): two writers on one block would lose counts.
    pub fn recorder(&self, worker: usize) -> Recorder {
        match self.blocks.get(worker) {
            Some(block) if block.take() => {
                Recorder::new(Arc::clone(block), self.enabled, self.mounts)
            }
            _ => {
                if self.enabled {
                    log::warn!("metrics: worker {worker} has no block of its own; not scraped");
                }
                let slots = if self.enabled { self.routes.len() } else { 0 };
                Recorder::new(Arc::new(WorkerBlock::new(slots)), self.enabled, self.mounts)
            }
        }
    }

    /// Makes the orchestrator's queue depth and task outcomes part of the scrape.
    pub fn attach_orchestrator(&self, metrics: OrchestratorMetrics) {
        let _ = self.orchestrator.set(metrics);
    }

    /// Number of route-and-method keys per block.
    pub(super) fn keys(&self) -> usize {
        if self.enabled {
            self.routes.len() * METHOD_SLOTS
        } else {
            0
        }
    }
}
