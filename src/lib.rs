//! ringnova: an OpenStack-Compute-compatible API appliance, thread-per-core on io_uring.
//!
//! The request path, and the order of the modules below (a module only uses the ones after
//! it, never the ones before):
//!
//! ```text
//! server   pinned core workers, SO_REUSEPORT sockets, the connection loop
//!   └─ http        our HTTP/1.1 framing over httparse (offsets, not copies)
//!   └─ middleware  the paste pipeline compiled to a static filter chain
//!        └─ api    Nova's Resource machinery, faults, microversions, apps
//!             └─ router   the compiled radix router
//! ratelimit  per-user request rates, one state shared by every worker (used by middleware, api)
//! metrics  per-worker request counters summed at scrape time, and the /metrics app (used by
//!          server, middleware; reads api's route table, db and orchestrator counters)
//! config   start-up only: oslo.config INI, CLI overrides, validation
//! logging  the process logger and the access-log thread
//! launch   the start-up sequence as a library call, for programs that embed ringnova with
//!          API extensions of their own (see docs/extensions.md)
//! ```
//!
//! Threads: one worker per core (`server::worker`, `!Send` state), the access-log thread
//! (`logging`), and the main thread, which only starts and stops the rest.

pub mod api;
pub mod cli;
pub mod config;
pub mod db;
pub mod http;
pub mod identity;
pub mod launch;
pub mod logging;
pub mod metrics;
pub mod middleware;
pub mod orchestrator;
pub mod policy;
pub mod ratelimit;
pub mod router;
pub mod server;
