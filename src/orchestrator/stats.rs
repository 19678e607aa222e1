//! What the orchestration thread has done, for the metrics scrape: tasks finished by kind and
//! outcome, and the tasks admitted and not yet finished.
//!
//! The outcome counters are written only by the orchestration thread (a relaxed load and
//! store, exact with one writer) and read by whichever worker answers a scrape. The in-flight
//! count is the admission counter workers already share to bound the queue; the scrape only
//! reads it. Nothing here is touched on a request's path.
//!
//! It must never be written from a thread other than the orchestration thread.

use std::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering},
    Arc,
};

use crate::db::queries::orchestration::TaskKind;

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its last step was written.
    Succeeded,
    /// The driver failed it (a build that ended in the error state).
    Failed,
    /// Another change to the instance overtook it (the instance left the task's state), or
    /// it was found already past its task at start.
    Superseded,
    /// A request closed it (a local delete of a server with a task in flight).
    Cancelled,
    /// It had nothing to drive when it arrived (no longer queued, unknown kind, unloadable).
    Skipped,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Succeeded,
        Outcome::Failed,
        Outcome::Superseded,
        Outcome::Cancelled,
        Outcome::Skipped,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Superseded => "superseded",
            Outcome::Cancelled => "cancelled",
            Outcome::Skipped => "skipped",
        }
    }
}

/// Kind slots: every [`TaskKind`], then tasks whose kind is unknown.
const KIND_SLOTS: usize = TaskKind::ALL.len() + 1;

/// The label of kind slot `slot`.
pub fn kind_label(slot: usize) -> &'static str {
    TaskKind::ALL
        .get(slot)
        .map_or("unknown", |kind| kind.as_str())
}

fn kind_slot(kind: Option<TaskKind>) -> usize {
    kind.and_then(|kind| TaskKind::ALL.iter().position(|k| *k == kind))
        .unwrap_or(TaskKind::ALL.len())
}

/// Finished tasks by kind and outcome.
#[derive(Debug)]
pub struct TaskStats {
    finished: [AtomicU64; KIND_SLOTS * Outcome::ALL.len()],
}

impl Default for TaskStats {
    fn default() -> Self {
        TaskStats {
            finished: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl TaskStats {
    /// Counts a finished task (orchestration thread only).
    pub(crate) fn finished(&self, kind: Option<TaskKind>, outcome: Outcome) {
        let cell = &self.finished[kind_slot(kind) * Outcome::ALL.len() + outcome as usize];
        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Tasks of kind slot `slot` (see [`kind_label`]) that ended with `outcome`.
    pub fn count(&self, slot: usize, outcome: Outcome) -> u64 {
        self.finished
            .get(slot * Outcome::ALL.len() + outcome as usize)
            .map_or(0, |cell| cell.load(Ordering::Relaxed))
    }

    /// Number of kind slots.
    pub fn kinds(&self) -> usize {
        KIND_SLOTS
    }
}

/// The orchestrator as the metrics scrape sees it. Holding one does not keep the thread
/// alive (unlike an [`OrchestratorHandle`](super::OrchestratorHandle)).
#[derive(Debug, Clone)]
pub struct OrchestratorMetrics {
    pub(super) in_flight: Arc<AtomicUsize>,
    pub(super) capacity: usize,
    pub(super) tasks: Arc<TaskStats>,
}

impl OrchestratorMetrics {
    /// Tasks admitted and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// `[orchestrator] queue_size`.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Finished tasks.
    pub fn tasks(&self) -> &TaskStats {
        &self.tasks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_counted_by_kind() {
        let stats = TaskStats::default();
        stats.finished(Some(TaskKind::Build), Outcome::Succeeded);
        stats.finished(Some(TaskKind::Build), Outcome::Succeeded);
        stats.finished(Some(TaskKind::Delete), Outcome::Cancelled);
        stats.finished(None, Outcome::Skipped);
        let build = TaskKind::ALL
            .iter()
            .position(|k| *k == TaskKind::Build)
            .unwrap();
        let delete = TaskKind::ALL
            .iter()
            .position(|k| *k == TaskKind::Delete)
            .unwrap();
        assert_eq!(stats.count(build, Outcome::Succeeded), 2);
        assert_eq!(stats.count(build, Outcome::Failed), 0);
        assert_eq!(stats.count(delete, Outcome::Cancelled), 1);
        assert_eq!(stats.count(stats.kinds() - 1, Outcome::Skipped), 1);
        assert_eq!(kind_label(stats.kinds() - 1), "unknown");
        assert_eq!(kind_label(build), "build");
        for (i, outcome) in Outcome::ALL.iter().enumerate() {
            assert_eq!(*outcome as usize, i);
        }
    }
}
