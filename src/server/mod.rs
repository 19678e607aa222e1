//! The server: N pinned core workers, each with its own SO_REUSEPORT socket and monoio
//! runtime, started and stopped from the main thread.
//!
//! Start-up order: bind every listening socket (errors surface here, before any worker
//! runs), start the workers (each pins itself, builds its runtime with the chosen driver and
//! reports back), print the ready line, then wait. Signals (docs/operations-signals.md):
//!
//! * SIGTERM/SIGINT set the shutdown flag: workers stop accepting, let in-flight requests
//!   finish up to `shutdown_timeout`, and return; a second signal exits at once.
//! * SIGQUIT hands the port over to a newer process already serving it with SO_REUSEPORT:
//!   each worker accepts and serves what is queued on its listener before closing it
//!   ([`handover`]), then every connection finishes as on SIGTERM; a second SIGQUIT exits
//!   at once.
//! * SIGHUP reloads the configuration file and the policy files on this (the main) thread
//!   ([`reload`]): all or nothing, without touching a connection.
//!
//! Under systemd (`Type=notify`) `READY=1` is sent after the ready line and `STOPPING=1` as
//! soon as a drain begins (SIGTERM/SIGINT or SIGQUIT; [`notify`]).
//!
//! It must never report ready before every worker serves, and on the first SIGTERM/SIGINT
//! never exit before in-flight requests have drained or the shutdown timeout has passed (a
//! second signal exits at once, by design).

pub mod conn;
pub mod cpus;
pub mod deadline;
pub mod handover;
pub mod listener;
pub mod memo;
pub mod memory;
pub mod notify;
pub mod reload;
pub mod worker;

use std::{
    fmt,
    io::Write,
    net::SocketAddr,
    rc::Rc,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    thread,
    time::Duration,
};

use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};
use worker::{Shared, Worker};

use crate::api::services::Services;

use crate::{
    config::{live::LiveConfig, Config, DriverChoice, Overrides},
    middleware::Pipeline,
};

/// The I/O driver a worker ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// io_uring.
    Uring,
    /// epoll (monoio's legacy driver).
    Legacy,
}

impl Driver {
    /// Its name in logs and in `ringnova_build_info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Uring => "io_uring",
            Driver::Legacy => "epoll",
        }
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the server could not start.
#[derive(Debug)]
pub enum ServerError {
    /// Binding the listening sockets failed.
    Bind(SocketAddr, std::io::Error),
    /// A worker could not start (runtime, pinning, thread).
    Worker(usize, String),
    /// Installing the signal handlers failed.
    Signals(std::io::Error),
    /// The policy files could not be loaded, or their watcher could not start.
    Policy(String),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Bind(addr, err) => write!(f, "cannot listen on {addr}: {err}"),
            ServerError::Worker(id, why) => write!(f, "worker {id} failed to start: {why}"),
            ServerError::Signals(err) => write!(f, "cannot install signal handlers: {err}"),
            ServerError::Policy(why) => write!(f, "policy: {why}"),
        }
    }
}

impl std::error::Error for ServerError {}

/// How often the main thread looks for SIGHUP.
const RELOAD_POLL: Duration = Duration::from_millis(50);

/// What a worker reports once it is ready (or why it is not).
type Ready = Result<(usize, Driver, Option<usize>), ServerError>;

fn start_runtime(
    choice: DriverChoice,
    id: usize,
    worker: Rc<Worker>,
    listener: std::net::TcpListener,
    cpu: Option<usize>,
    ready: &mpsc::Sender<Ready>,
) {
    let uring = match choice {
        DriverChoice::Legacy => None,
        DriverChoice::Uring | DriverChoice::Auto => match build_uring() {
            Ok(rt) => Some(rt),
            Err(err) if choice == DriverChoice::Auto => {
                log::info!("worker {id}: io_uring unavailable ({err}); using epoll");
                None
            }
            Err(err) => {
                let _ = ready.send(Err(ServerError::Worker(id, format!("io_uring: {err}"))));
                return;
            }
        },
    };
    let outcome = if let Some(mut rt) = uring {
        worker.metrics.set_driver(Driver::Uring.as_str());
        let _ = ready.send(Ok((id, Driver::Uring, cpu)));
        rt.block_on(worker::run(worker, listener))
    } else {
        match RuntimeBuilder::<LegacyDriver>::new().enable_timer().build() {
            Ok(mut rt) => {
                worker.metrics.set_driver(Driver::Legacy.as_str());
                let _ = ready.send(Ok((id, Driver::Legacy, cpu)));
                rt.block_on(worker::run(worker, listener))
            }
            Err(err) => {
                let _ = ready.send(Err(ServerError::Worker(id, format!("epoll: {err}"))));
                return;
            }
        }
    };
    if let Err(err) = outcome {
        log::error!("worker {id} stopped: {err}");
    }
}

/// Builds an io_uring runtime for this thread. Each ring is used only by the thread that
/// created it and completions are reaped when the thread returns to the loop, so it asks for
/// `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN` (fewer interrupts and no
/// cross-thread locking); kernels without them (before 6.0) get a plain ring.
fn build_uring() -> std::io::Result<monoio::Runtime<monoio::time::TimeDriver<IoUringDriver>>> {
    let mut tuned = io_uring::IoUring::builder();
    tuned.setup_coop_taskrun().setup_single_issuer();
    match RuntimeBuilder::<IoUringDriver>::new()
        .uring_builder(tuned)
        .enable_timer()
        .build()
    {
        Ok(rt) => Ok(rt),
        Err(err) => {
            log::debug!(
                "io_uring with COOP_TASKRUN|SINGLE_ISSUER refused ({err}); trying a plain ring"
            );
            RuntimeBuilder::<IoUringDriver>::new()
                .enable_timer()
                .build()
        }
    }
}

/// Runs the server until SIGTERM/SIGINT/SIGQUIT (or until `shutdown` is set by the caller).
///
/// `on_ready` receives the ready line once every worker serves. A SIGHUP reload re-reads the
/// file without command-line overrides; see [`run_reloadable`].
pub fn run(
    config: Config,
    pipeline: Pipeline,
    shutdown: Arc<AtomicBool>,
    on_ready: impl FnOnce(&str),
) -> Result<(), ServerError> {
    run_reloadable(config, Overrides::default(), pipeline, shutdown, on_ready)
}

/// [`run`], with the command-line `overrides` the configuration was loaded with, which a
/// SIGHUP reload applies again.
pub fn run_reloadable(
    config: Config,
    overrides: Overrides,
    pipeline: Pipeline,
    shutdown: Arc<AtomicBool>,
    on_ready: impl FnOnce(&str),
) -> Result<(), ServerError> {
    let listeners = listener::bind_group(config.listen, config.workers, config.backlog)
        .map_err(|err| ServerError::Bind(config.listen, err))?;
    let local = listeners[0]
        .local_addr()
        .map_err(|err| ServerError::Bind(config.listen, err))?;
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // A second signal while draining exits immediately.
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&shutdown))
            .map_err(ServerError::Signals)?;
        signal_hook::flag::register(signal, Arc::clone(&shutdown)).map_err(ServerError::Signals)?;
    }
    let handover = handover::Handover::default();
    // A second SIGQUIT while handing over exits immediately.
    signal_hook::flag::register_conditional_shutdown(
        signal_hook::consts::SIGQUIT,
        1,
        Arc::clone(&handover.requested),
    )
    .map_err(ServerError::Signals)?;
    signal_hook::flag::register(
        signal_hook::consts::SIGQUIT,
        Arc::clone(&handover.requested),
    )
    .map_err(ServerError::Signals)?;
    let hangup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hangup))
        .map_err(ServerError::Signals)?;
    let plan = cpus::plan(&config.cpus, config.workers);
    let choice = config.driver;
    let workers = config.workers;
    // Read before any socket serves; a broken file refuses the start. The watcher thread
    // re-reads the files when they change and stops with the last reference.
    let policy = crate::policy::LivePolicy::load(config.policy.clone())
        .map_err(|err| ServerError::Policy(err.to_string()))?;
    policy
        .watch(crate::policy::live::CHECK_INTERVAL)
        .map_err(|err| ServerError::Policy(format!("cannot start the policy watcher: {err}")))?;
    // What workers and the orchestration thread read, republished by SIGHUP.
    let live = LiveConfig::new(config.clone());
    // Resumes unfinished tasks before any worker serves; ends with the last handle.
    let orchestrator = crate::orchestrator::start(
        &config.orchestrator,
        &config.database,
        Box::new(crate::orchestrator::FakeDriver::following(Arc::clone(
            &live,
        ))),
    )
    .map_err(|err| ServerError::Worker(0, err.to_string()))?;
    crate::logging::set_access_enabled(config.access_log);
    pipeline
        .metrics()
        .attach_orchestrator(orchestrator.metrics());
    let shared = Arc::new(Shared {
        live,
        handover,
        config,
        pipeline,
        policy,
        shutdown: Arc::clone(&shutdown),
    });
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut handles = Vec::with_capacity(workers);
    for (id, (listener, cpu)) in listeners.into_iter().zip(plan).enumerate() {
        let shared = Arc::clone(&shared);
        let ready = ready_tx.clone();
        let orchestrator = orchestrator.clone();
        let spawned = thread::Builder::new()
            .name(format!("ringnova-w{id}"))
            .spawn(move || {
                if let Some(cpu) = cpu {
                    if let Err(err) = monoio::utils::bind_to_cpu_set([cpu]) {
                        let _ = ready.send(Err(ServerError::Worker(
                            id,
                            format!("cannot pin to CPU {cpu}: {err}"),
                        )));
                        return;
                    }
                }
                let services =
                    match Services::open(&shared.live.current().1, Arc::clone(&shared.policy)) {
                        Ok(mut services) => {
                            services.orchestrator = Some(orchestrator);
                            services
                        }
                        Err(err) => {
                            let _ = ready.send(Err(ServerError::Worker(
                                id,
                                format!("cannot open the database: {err}"),
                            )));
                            return;
                        }
                    };
                let worker = Rc::new(Worker::new(id, shared, services));
                start_runtime(choice, id, worker, listener, cpu, &ready);
            });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(err) => {
                shutdown.store(true, std::sync::atomic::Ordering::Relaxed);
                return Err(ServerError::Worker(id, err.to_string()));
            }
        }
    }
    drop(ready_tx);
    drop(orchestrator);
    let mut drivers = Vec::with_capacity(workers);
    let mut pinned = Vec::with_capacity(workers);
    let mut failure = None;
    for report in ready_rx.iter().take(workers) {
        match report {
            Ok((_, driver, cpu)) => {
                drivers.push(driver);
                pinned.extend(cpu);
            }
            Err(err) => {
                failure.get_or_insert(err);
            }
        }
    }
    if failure.is_none() && drivers.len() < workers {
        failure = Some(ServerError::Worker(
            drivers.len(),
            "exited before it was ready".into(),
        ));
    }
    if let Some(err) = failure {
        shutdown.store(true, std::sync::atomic::Ordering::Relaxed);
        for handle in handles {
            let _ = handle.join();
        }
        return Err(err);
    }
    let driver = if drivers.iter().all(|d| *d == Driver::Uring) {
        "io_uring".to_string()
    } else if drivers.iter().all(|d| *d == Driver::Legacy) {
        "epoll".to_string()
    } else {
        "mixed io_uring/epoll".to_string()
    };
    pinned.sort_unstable();
    let cpus = if pinned.is_empty() {
        "unpinned".to_string()
    } else {
        format!(
            "cpus {}",
            pinned
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let line = format!("ringnova ready: listening on http://{local} with {workers} workers ({cpus}), driver {driver}");
    on_ready(&line);
    log::info!("{line}");
    report_to_supervisor(&notify::ready_message(&line));
    // The main thread now waits for the workers, answers SIGHUP, and tells a supervisor as
    // soon as a drain starts.
    let mut stopping_sent = false;
    while !handles.iter().all(|handle| handle.is_finished()) {
        if hangup.swap(false, Ordering::Relaxed) {
            reload::on_hangup(&shared, &overrides);
        }
        let draining =
            shutdown.load(Ordering::Relaxed) || shared.handover.requested.load(Ordering::Relaxed);
        if !stopping_sent && draining {
            report_to_supervisor(&notify::stopping_message());
            stopping_sent = true;
        }
        thread::sleep(RELOAD_POLL);
    }
    if !stopping_sent {
        report_to_supervisor(&notify::stopping_message());
    }
    for handle in handles {
        let _ = handle.join();
    }
    log::info!("ringnova stopped");
    Ok(())
}

/// Sends a state to systemd when run as a `Type=notify` service; a failure is logged, never
/// fatal (the server keeps serving without its supervisor).
fn report_to_supervisor(state: &str) {
    match notify::notify(state) {
        Ok(_) => {}
        Err(err) => log::warn!("sd_notify: {err}"),
    }
}

/// Prints the ready line on stdout and flushes it (scripts wait for it).
pub fn print_ready(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}
