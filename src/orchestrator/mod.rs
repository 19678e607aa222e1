//! The orchestration thread: drives every long server operation (build, reboot, stop/start,
//! pause, suspend, resize, snapshot, rebuild, delete) through a [`ComputeDriver`], writing
//! each task_state transition back to the database as Nova's compute manager would.
//!
//! One dedicated OS thread (never a worker core's event loop) with its own [`Db`]. Requests
//! write the state change and a `tasks` row in one transaction, then hand the task id over a
//! bounded crossbeam channel ([`OrchestratorHandle::submit`]). Back-pressure is decided
//! *before* anything is written: a request first reserves slots
//! ([`OrchestratorHandle::reserve`]); `[orchestrator] queue_size` bounds the tasks admitted
//! and not yet finished, so a full orchestrator answers 503 with nothing written, and a
//! reservation whose transaction fails is released. Since admitted tasks never exceed the
//! channel's capacity, a committed task's send cannot fail for lack of room; should the thread
//! be gone, the committed task stays `queued` and is resumed at the next start.
//!
//! Many tasks run at once on one ordered queue of due steps (a binary heap of deadlines), not
//! a sleep per task. Each step is a conditional write: the instance must still be in the
//! task_state the step expects, so a delete overtaking a build stops the build cleanly (a
//! snapshot stopped that way, or found so at start-up, marks its unfinished image deleted, as
//! Nova's compute manager does, so no image stays `SAVING` for ever). Every write of one
//! wake-up (the tasks received, each marked `running`, and every step due) goes into one
//! transaction, and while tasks are in flight the thread wakes at most once per `TICK`
//! (10 ms), so one commit carries many servers' steps; each task_state is still written, each
//! with its task's bookkeeping. Should a batch's transaction fail, its items are
//! written one transaction each, so a failing step is retried alone. At start-up every
//! `queued` or `running` task is resumed from its instance's current task_state (in one
//! transaction) before the workers serve, so nothing stays transitional after a crash. One
//! process at a time drives a database's tasks ([`lease`]). This module must never block a
//! worker, never hold a transaction across a wait, and never write
//! a transition without its task bookkeeping.

pub mod driver;
pub mod lease;
pub mod stats;

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    fmt,
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Arc,
    },
    thread,
    time::{Duration, Instant},
};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
pub use driver::{ComputeDriver, FakeDriver};
use rusqlite::Connection;
pub use stats::{OrchestratorMetrics, Outcome, TaskStats};

use crate::{
    config::OrchestratorConfig,
    db::{
        queries::orchestration::{
            self as q, Step, TaskKind, TaskRow, SQL_BUILD_FAILED, SQL_BUILT, SQL_DELETED,
            SQL_NETWORKED, SQL_NEXT, SQL_PLACED, SQL_REBUILT, SQL_RESIZED, SQL_REVERTED,
            SQL_SETTLE, SQL_SNAPSHOTTED,
        },
        Db, DbConfig, DbError,
    },
};

/// A worker's way to the orchestration thread (one clone per worker).
#[derive(Debug, Clone)]
pub struct OrchestratorHandle {
    tx: Sender<i64>,
    in_flight: Arc<AtomicUsize>,
    capacity: usize,
    tasks: Arc<TaskStats>,
}

/// Slots reserved for tasks about to be written; released on drop unless submitted.
#[derive(Debug)]
pub struct Reservation<'h> {
    handle: &'h OrchestratorHandle,
    slots: usize,
}

impl OrchestratorHandle {
    /// A handle and the receiving end of its channel, without a thread (unit tests).
    #[cfg(test)]
    fn unattached(capacity: usize) -> (OrchestratorHandle, Receiver<i64>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        let handle = OrchestratorHandle {
            tx,
            in_flight: Arc::default(),
            capacity,
            tasks: Arc::default(),
        };
        (handle, rx)
    }

    /// Reserves `slots` task slots, or `None` when the orchestrator is full.
    pub fn reserve(&self, slots: usize) -> Option<Reservation<'_>> {
        let mut current = self.in_flight.load(Ordering::Relaxed);
        loop {
            if current + slots > self.capacity {
                return None;
            }
            match self.in_flight.compare_exchange_weak(
                current,
                current + slots,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(Reservation {
                        handle: self,
                        slots,
                    })
                }
                Err(seen) => current = seen,
            }
        }
    }

    /// Tells the thread that these tasks were closed by a request (a local delete), so their
    /// slots are freed now rather than at their next step. Best effort: on a full channel
    /// the slots are freed when the steps come due.
    pub fn cancel(&self, tasks: &[i64]) {
        for &task in tasks {
            let _ = self.tx.try_send(-task);
        }
    }

    /// Tasks admitted and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The queue depth and task outcomes, for the metrics scrape.
    pub fn metrics(&self) -> OrchestratorMetrics {
        OrchestratorMetrics {
            in_flight: Arc::clone(&self.in_flight),
            capacity: self.capacity,
            tasks: Arc::clone(&self.tasks),
        }
    }
}

impl Reservation<'_> {
    /// Hands committed tasks to the thread; unused slots are released.
    pub fn submit(mut self, tasks: &[i64]) {
        for &task in tasks.iter().take(self.slots) {
            match self.handle.tx.try_send(task) {
                Ok(()) => self.slots -= 1,
                Err(TrySendError::Full(_)) => {
                    // Cannot happen (admissions never exceed the capacity); the row is
                    // committed and will be resumed at the next start.
                    log::error!("orchestrator channel full; task {task} stays queued");
                }
                Err(TrySendError::Disconnected(_)) => {
                    log::error!("orchestration thread is gone; task {task} stays queued");
                }
            }
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.slots > 0 {
            self.handle
                .in_flight
                .fetch_sub(self.slots, Ordering::AcqRel);
        }
    }
}

/// Why the thread could not start.
#[derive(Debug)]
pub enum StartError {
    /// Opening its database connection or reading the unfinished tasks failed.
    Db(DbError),
    /// The thread could not be spawned.
    Spawn(std::io::Error),
    /// The task lease file could not be opened or locked.
    Lease(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Db(err) => write!(f, "orchestrator database: {err}"),
            StartError::Spawn(err) => write!(f, "cannot start the orchestration thread: {err}"),
            StartError::Lease(err) => write!(f, "orchestrator task lease: {err}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Starts the orchestration thread (after migrations, before the workers): it opens its
/// connection, resumes every unfinished task, then reports ready. The thread ends when every
/// handle is dropped.
///
/// When another process holds the database's task lease ([`lease`]; a zero-downtime upgrade
/// in progress) it reports ready at once and drives nothing until that process exits; then
/// it resumes every unfinished task and runs as usual.
pub fn start(
    config: &OrchestratorConfig,
    db: &DbConfig,
    driver: Box<dyn ComputeDriver>,
) -> Result<OrchestratorHandle, StartError> {
    let lease = lease::Lease::open(&db.path).map_err(StartError::Lease)?;
    let leased = lease.try_take().map_err(StartError::Lease)?;
    let (tx, rx) = crossbeam_channel::bounded(config.queue_size);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (ready_tx, ready_rx) = mpsc::channel();
    let db_config = db.clone();
    let counter = Arc::clone(&in_flight);
    let tasks = Arc::new(TaskStats::default());
    let outcomes = Arc::clone(&tasks);
    thread::Builder::new()
        .name("ringnova-orch".into())
        .spawn(move || {
            let db = match Db::open(&db_config) {
                Ok(db) => db,
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                    return;
                }
            };
            let mut engine = Engine {
                db,
                driver,
                queue: BinaryHeap::new(),
                runs: HashMap::new(),
                seq: 0,
                in_flight: counter,
                tasks: outcomes,
            };
            if !leased {
                log::warn!(
                    "orchestrator: another process drives the tasks of this database (an \
                     upgrade in progress?); new tasks wait until it exits"
                );
                let _ = ready_tx.send(Ok(()));
                if let Err(err) = lease.take() {
                    log::error!("orchestrator: cannot wait for the task lease: {err}");
                    return;
                }
                log::info!("orchestrator: took the task lease over");
            }
            match engine.resume() {
                Ok(n) => {
                    if n > 0 {
                        log::info!("orchestrator: resumed {n} unfinished tasks");
                    }
                    let _ = ready_tx.send(Ok(()));
                }
                Err(err) => {
                    if !leased {
                        log::error!("orchestrator: cannot resume the unfinished tasks: {err}");
                    }
                    let _ = ready_tx.send(Err(err));
                    return;
                }
            }
            // Held for the thread's life; the kernel releases it at exit in any case.
            let _lease = lease;
            engine.run(&rx);
        })
        .map_err(StartError::Spawn)?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(OrchestratorHandle {
            tx,
            in_flight,
            capacity: config.queue_size,
            tasks,
        }),
        Ok(Err(err)) => Err(StartError::Db(err)),
        Err(_) => Err(StartError::Db(DbError::NotFound)),
    }
}

/// One phase of a task: the task_state the instance is in, and its share of the duration.
type Phase = (&'static str, f64);

/// The phases of each kind, in order (the API sets the first).
fn phases(kind: TaskKind) -> &'static [Phase] {
    match kind {
        TaskKind::Build => &[("scheduling", 0.2), ("networking", 0.2), ("spawning", 0.6)],
        TaskKind::Reboot => &[("rebooting", 1.0)],
        TaskKind::RebootHard => &[("rebooting_hard", 1.0)],
        TaskKind::Stop => &[("powering-off", 1.0)],
        TaskKind::Start => &[("powering-on", 1.0)],
        TaskKind::Pause => &[("pausing", 1.0)],
        TaskKind::Unpause => &[("unpausing", 1.0)],
        TaskKind::Suspend => &[("suspending", 1.0)],
        TaskKind::Resume => &[("resuming", 1.0)],
        TaskKind::Resize => &[
            ("resize_prep", 0.1),
            ("resize_migrating", 0.4),
            ("resize_migrated", 0.1),
            ("resize_finish", 0.4),
        ],
        TaskKind::RevertResize => &[("resize_reverting", 1.0)],
        TaskKind::Snapshot => &[
            ("image_snapshot", 0.2),
            ("image_pending_upload", 0.2),
            ("image_uploading", 0.6),
        ],
        TaskKind::Rebuild => &[
            ("rebuilding", 0.3),
            ("rebuild_block_device_mapping", 0.2),
            ("rebuild_spawning", 0.5),
        ],
        TaskKind::Delete => &[("deleting", 1.0)],
    }
}

/// A task being driven.
#[derive(Debug)]
struct Run {
    uuid: String,
    kind: TaskKind,
    /// Index into [`phases`] of the phase the instance is in.
    phase: usize,
    params: String,
    name: String,
}

/// The thread's state.
struct Engine {
    db: Db,
    driver: Box<dyn ComputeDriver>,
    /// Due steps: (deadline, sequence, task id), earliest first.
    queue: BinaryHeap<Reverse<(Instant, u64, i64)>>,
    runs: HashMap<i64, Run>,
    seq: u64,
    in_flight: Arc<AtomicUsize>,
    /// Finished tasks by kind and outcome (written by this thread only).
    tasks: Arc<TaskStats>,
}

/// How long to wait before retrying a step whose write failed (a busy database).
const RETRY: Duration = Duration::from_millis(200);

/// Least time from one batch to the next while tasks are in flight: what arrives or comes
/// due meanwhile shares the next batch's transaction (a step is at most this late). Each
/// commit of this thread rewrites the hot pages it shares with the creates (the newest
/// instance rows, the right edges of the indexes) and makes the workers' next read start
/// from an empty page cache; at 10 ms rather than 2 ms a create cost about 3 % less server CPU
/// (bench/RESULTS.md), and phases last seconds.
const TICK: Duration = Duration::from_millis(10);

/// One write of a batch.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// Begin a task a worker submitted.
    Receive(i64),
    /// End the current phase of a task being driven.
    Step(i64),
}

/// What an item wrote, applied to the engine once its transaction has committed.
#[derive(Debug)]
enum Effect {
    /// The task is now `running`: drive it from its instance's current phase.
    Began(i64, Run),
    /// A received task has nothing to drive (no longer queued, closed, or unloadable): its
    /// slot is freed; it counts as finished with this outcome.
    Closed(Option<TaskKind>, Outcome),
    /// A step was written: `None` when the task moved on to its next phase, its outcome when
    /// it is finished (or was overtaken).
    Stepped(i64, Option<Outcome>),
    /// Nothing (a step of a task no longer driven).
    Nothing,
}

impl Engine {
    /// Loads every unfinished task and schedules it from its instance's current state, in
    /// one transaction.
    fn resume(&mut self) -> Result<usize, DbError> {
        let tasks = q::unfinished_tasks(&self.db)?;
        self.in_flight.fetch_add(tasks.len(), Ordering::AcqRel);
        let effects = self.db.write(|conn| {
            tasks
                .into_iter()
                .map(|task| begin(conn, task))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let mut resumed = 0;
        for effect in effects {
            resumed += usize::from(matches!(effect, Effect::Began(..)));
            self.apply(effect);
        }
        Ok(resumed)
    }

    fn run(&mut self, rx: &Receiver<i64>) {
        let mut received = Vec::new();
        let mut due = Vec::new();
        loop {
            let next = self.queue.peek().map(|Reverse((at, _, _))| *at);
            let first = match next {
                Some(at) => rx.recv_deadline(at),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match first {
                Ok(id) => received.push(id),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    log::debug!("orchestrator: every handle dropped; stopping");
                    return;
                }
            }
            let started = Instant::now();
            received.extend(rx.try_iter());
            while let Some(Reverse((at, _, id))) = self.queue.peek().copied() {
                if at > started {
                    break;
                }
                self.queue.pop();
                due.push(id);
            }
            self.batch(&mut received, &mut due);
            // While tasks are in flight, let submissions and due steps gather for a moment
            // (a worker's submit does not wake a sleeping thread), so that one commit
            // carries many of them.
            if !self.runs.is_empty() {
                if let Some(pause) = (started + TICK).checked_duration_since(Instant::now()) {
                    thread::sleep(pause);
                }
            }
        }
    }

    /// Writes everything received and due in one transaction, then applies the outcome.
    fn batch(&mut self, received: &mut Vec<i64>, due: &mut Vec<i64>) {
        let mut items = Vec::with_capacity(received.len() + due.len());
        for id in received.drain(..) {
            if id < 0 {
                // A task closed by a request (a local delete).
                if let Some(run) = self.runs.remove(&-id) {
                    self.in_flight.fetch_sub(1, Ordering::AcqRel);
                    self.tasks.finished(Some(run.kind), Outcome::Cancelled);
                }
            } else if self.runs.contains_key(&id) {
                // Already driven (resumed at start, then submitted): one slot too many.
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
            } else {
                items.push(Item::Receive(id));
            }
        }
        due.sort_unstable();
        due.dedup();
        items.extend(
            due.drain(..)
                .filter(|id| self.runs.contains_key(id))
                .map(Item::Step),
        );
        if !items.is_empty() {
            self.write(&items);
        }
    }

    /// Writes `items` in one transaction and applies what they did; when that transaction
    /// fails, each item is written in a transaction of its own, so one failing write holds
    /// back no other.
    fn write(&mut self, items: &[Item]) {
        let Engine {
            db, driver, runs, ..
        } = self;
        let outcome = db.write(|conn| {
            items
                .iter()
                .map(|item| match *item {
                    Item::Receive(id) => receive(conn, id),
                    Item::Step(id) => match runs.get(&id) {
                        Some(run) => step(conn, driver.as_mut(), id, run),
                        None => Ok(Effect::Nothing),
                    },
                })
                .collect::<Result<Vec<_>, _>>()
        });
        match (outcome, items) {
            (Ok(effects), _) => {
                for effect in effects {
                    self.apply(effect);
                }
            }
            (Err(err), [Item::Receive(id)]) => {
                // Stays queued; the next start resumes it.
                log::error!("orchestrator: cannot load task {id}: {err}");
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
            }
            (Err(err), [Item::Step(id)]) => {
                log::warn!("orchestrator: task {id} step failed, retrying: {err}");
                self.schedule(*id, RETRY);
            }
            (Err(err), _) => {
                log::warn!(
                    "orchestrator: a batch of {} writes failed, writing them one by one: {err}",
                    items.len()
                );
                for item in items {
                    self.write(std::slice::from_ref(item));
                }
            }
        }
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Began(id, run) => {
                let delay = self.phase_time(&run);
                self.runs.insert(id, run);
                self.schedule(id, delay);
            }
            Effect::Closed(kind, outcome) => {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                self.tasks.finished(kind, outcome);
            }
            Effect::Stepped(id, None) => {
                let Some(run) = self.runs.get_mut(&id) else {
                    return;
                };
                run.phase += 1;
                let delay = self
                    .runs
                    .get(&id)
                    .map_or(Duration::ZERO, |run| self.phase_time(run));
                self.schedule(id, delay);
            }
            Effect::Stepped(id, Some(outcome)) => {
                if let Some(run) = self.runs.remove(&id) {
                    self.in_flight.fetch_sub(1, Ordering::AcqRel);
                    self.tasks.finished(Some(run.kind), outcome);
                }
            }
            Effect::Nothing => {}
        }
    }

    fn phase_time(&self, run: &Run) -> Duration {
        let share = phases(run.kind)[run.phase].1;
        self.driver.duration(run.kind).mul_f64(share)
    }

    fn schedule(&mut self, id: i64, delay: Duration) {
        self.seq += 1;
        self.queue
            .push(Reverse((Instant::now() + delay, self.seq, id)));
    }
}

/// A task id a worker submitted (its slot is already counted): begins it if it is still
/// queued; a task no longer there has finished (its row is deleted then).
fn receive(conn: &Connection, id: i64) -> Result<Effect, DbError> {
    match q::get_task(conn, id) {
        Ok(task) if task.state == "queued" => begin(conn, task),
        Ok(task) => Ok(Effect::Closed(task.kind, Outcome::Skipped)),
        Err(DbError::NotFound) => {
            // Finished before it got here (a local delete closes a queued task, and a
            // finished task's row is deleted): nothing to drive.
            log::debug!("orchestrator: task {id} finished before it was received");
            Ok(Effect::Closed(None, Outcome::Skipped))
        }
        Err(err) => Err(err),
    }
}

/// Marks a task `running` from its instance's current phase, or closes it when there is
/// nothing to drive.
fn begin(conn: &Connection, task: TaskRow) -> Result<Effect, DbError> {
    let Some(kind) = task.kind else {
        q::fail_task(conn, task.id)?;
        return Ok(Effect::Closed(None, Outcome::Skipped));
    };
    let current = q::task_state_of(conn, &task.instance_uuid)?;
    let phase = current.as_ref().and_then(|(_, task_state, _)| {
        let state = task_state.as_deref()?;
        phases(kind).iter().position(|(name, _)| *name == state)
    });
    let (Some(phase), Some((_, _, name))) = (phase, current) else {
        // Deleted, or already past this task: nothing transitional is left. A snapshot that
        // cannot finish any more takes its image with it (a delete overtook it before a
        // crash, and the restart finds the instance deleting or gone).
        if kind == TaskKind::Snapshot {
            discard_snapshot_image(conn, &task.params)?;
        }
        q::finish_task(conn, task.id)?;
        return Ok(Effect::Closed(Some(kind), Outcome::Superseded));
    };
    q::set_task_state(conn, task.id, "running")?;
    Ok(Effect::Began(
        task.id,
        Run {
            uuid: task.instance_uuid,
            kind,
            phase,
            params: task.params,
            name,
        },
    ))
}

/// Ends the current phase of task `id`.
fn step(
    conn: &Connection,
    driver: &mut dyn ComputeDriver,
    id: i64,
    run: &Run,
) -> Result<Effect, DbError> {
    let list = phases(run.kind);
    let from = list[run.phase].0;
    let last = run.phase + 1 == list.len();
    let network: String;
    let mut failure = String::new();
    let mut step = Step {
        sql: SQL_NEXT,
        text: [None; 3],
        fault: None,
        image_done: None,
    };
    if !last {
        step.text[0] = Some(list[run.phase + 1].0);
        if run.kind == TaskKind::Build && from == "scheduling" {
            step.sql = SQL_PLACED;
            step.text[1] = Some(driver.host());
            step.text[2] = Some(driver.node());
        } else if run.kind == TaskKind::Build && from == "networking" {
            let (attach, fixed_ip) = build_network(&run.params);
            network = driver.plug_vifs(&run.uuid, attach, fixed_ip.as_deref());
            step.sql = SQL_NETWORKED;
            step.text[1] = Some(&network);
        }
    } else {
        match run.kind {
            TaskKind::Build => {
                // The driver is asked once per attempt; `spawn` has no side effects.
                match driver.spawn(&run.uuid, &run.name) {
                    Ok(()) => step.sql = SQL_BUILT,
                    Err(reason) => {
                        failure = format!("Build of instance {} aborted: {reason}", run.uuid);
                        step.sql = SQL_BUILD_FAILED;
                    }
                }
            }
            TaskKind::Reboot
            | TaskKind::RebootHard
            | TaskKind::Start
            | TaskKind::Unpause
            | TaskKind::Resume => {
                step.sql = SQL_SETTLE;
                step.text = [Some("active"), Some("1"), None];
            }
            TaskKind::Stop => {
                step.sql = SQL_SETTLE;
                step.text = [Some("stopped"), Some("4"), None];
            }
            TaskKind::Pause => {
                step.sql = SQL_SETTLE;
                step.text = [Some("paused"), Some("3"), None];
            }
            TaskKind::Suspend => {
                step.sql = SQL_SETTLE;
                step.text = [Some("suspended"), Some("7"), None];
            }
            TaskKind::Resize => {
                step.sql = SQL_RESIZED;
                step.text[0] = Some(&run.params);
            }
            TaskKind::RevertResize => {
                step.sql = SQL_REVERTED;
                step.text[0] = Some(&run.params);
            }
            TaskKind::Snapshot => {
                step.sql = SQL_SNAPSHOTTED;
            }
            TaskKind::Rebuild => step.sql = SQL_REBUILT,
            TaskKind::Delete => step.sql = SQL_DELETED,
        }
    }
    let image = (last && run.kind == TaskKind::Snapshot)
        .then(|| json_text_field(&run.params, "image_id"))
        .flatten();
    step.image_done = image.as_deref();
    if !failure.is_empty() {
        step.fault = Some((500, &failure));
    }
    let still = q::advance(conn, id, &run.uuid, from, &step, last)?;
    if !still && run.kind == TaskKind::Snapshot {
        // Overtaken (a delete): the image will never be uploaded.
        discard_snapshot_image(conn, &run.params)?;
    }
    let outcome = match (still, last) {
        (false, _) => Some(Outcome::Superseded),
        (true, false) => None,
        (true, true) if failure.is_empty() => Some(Outcome::Succeeded),
        (true, true) => Some(Outcome::Failed),
    };
    Ok(Effect::Stepped(id, outcome))
}

/// Deletes the not yet ACTIVE image of a snapshot task that stops unfinished, so that no
/// image stays `SAVING` for ever.
fn discard_snapshot_image(conn: &Connection, params: &str) -> Result<(), DbError> {
    if let Some(image) = json_text_field(params, "image_id") {
        q::discard_snapshot(conn, &image)?;
    }
    Ok(())
}

/// A build's params: whether to attach the `private` network, and a requested fixed IP.
fn build_network(params: &str) -> (bool, Option<String>) {
    let attach = !params.contains("\"network\": false");
    (attach, json_text_field(params, "fixed_ip"))
}

/// The string value of `"key": "<value>"` in the flat params JSON this module's callers
/// write (values never contain quotes or escapes: UUIDs and IP addresses).
fn json_text_field(params: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\": \"");
    let start = params.find(&needle)? + needle.len();
    let end = params[start..].find('"')? + start;
    Some(params[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_read() {
        assert_eq!(build_network("{\"network\": false}"), (false, None));
        assert_eq!(
            build_network("{\"network\": true, \"fixed_ip\": \"10.0.0.4\"}"),
            (true, Some("10.0.0.4".into()))
        );
        assert_eq!(
            json_text_field("{\"image_id\": \"abc\"}", "image_id").as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn every_kind_has_phases_summing_to_one() {
        for kind in TaskKind::ALL {
            let total: f64 = phases(kind).iter().map(|(_, share)| share).sum();
            assert!((total - 1.0).abs() < 1e-9, "{kind:?}");
        }
    }

    #[test]
    fn reservations_are_bounded_and_released() {
        let (handle, rx) = OrchestratorHandle::unattached(3);
        let a = handle.reserve(2).unwrap();
        assert!(handle.reserve(2).is_none());
        let b = handle.reserve(1).unwrap();
        assert_eq!(handle.in_flight(), 3);
        drop(a);
        assert_eq!(handle.in_flight(), 1);
        b.submit(&[7]);
        // Submitted slots stay counted until the thread finishes the task.
        assert_eq!(handle.in_flight(), 1);
        assert_eq!(rx.try_recv(), Ok(7));
    }
}
