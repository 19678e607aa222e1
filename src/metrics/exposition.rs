//! The Prometheus text exposition format (version 0.0.4): every family the registry holds,
//! summed over the workers' blocks.
//!
//! Runs on the worker that answers a scrape, on a scrape only. Request series appear once
//! they have a count (a route never asked for has no series); the small fixed families
//! (orchestrator outcomes, database waits) are always present. Names follow Prometheus's
//! conventions: a `ringnova_` prefix, base units (seconds), `_total` on counters.
//!
//! It must never write a label value unescaped, nor a family without its `# HELP` and
//! `# TYPE` lines.

use std::fmt::{Display, Write as _};

use super::{
    key::{status_label, METHOD_LABELS, METHOD_SLOTS, STATUS_SLOTS},
    recorder::{WorkerBlock, BUCKET_LABELS, BUCKET_SLOTS},
    Registry,
};
use crate::orchestrator::Outcome;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes `# HELP` and `# TYPE` of a family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes one sample: `name{labels} value`.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, text)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape(out, text);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Nanoseconds as seconds.
fn seconds(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

/// Renders the whole exposition into `out`.
pub fn render(registry: &Registry, out: &mut String) {
    build_info(registry, out);
    requests(registry, out);
    gauges(registry, out);
    refusals(registry, out);
    orchestrator(registry, out);
    database(registry, out);
    family(
        out,
        "ringnova_access_log_dropped_total",
        "counter",
        "Access-log records dropped because the logging thread's queue was full.",
    );
    sample(
        out,
        "ringnova_access_log_dropped_total",
        &[],
        crate::logging::dropped(),
    );
}

fn build_info(registry: &Registry, out: &mut String) {
    let mut drivers: Vec<&str> = registry
        .blocks
        .iter()
        .filter_map(|block| block.driver.get().copied())
        .collect();
    drivers.sort_unstable();
    drivers.dedup();
    let drivers = drivers.join(",");
    let workers = registry.blocks.len().to_string();
    family(
        out,
        "ringnova_build_info",
        "gauge",
        "Always 1: the version, the I/O driver the workers run (io_uring, epoll) and the worker count.",
    );
    sample(
        out,
        "ringnova_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("driver", &drivers),
            ("workers", &workers),
        ],
        1,
    );
}

fn requests(registry: &Registry, out: &mut String) {
    let keys = registry.keys();
    let blocks = &registry.blocks;
    let labels = |key: usize| {
        (
            registry.routes[key / METHOD_SLOTS],
            METHOD_LABELS[key % METHOD_SLOTS],
        )
    };
    let name = "ringnova_http_requests_total";
    family(
        out,
        name,
        "counter",
        "HTTP requests answered, by route template, method and status.",
    );
    let mut status_text = itoa::Buffer::new();
    for key in 0..keys {
        let (route, method) = labels(key);
        for status in 0..STATUS_SLOTS {
            let count: u64 = blocks.iter().map(|b| b.requests(key, status)).sum();
            if count > 0 {
                let status = status_label(status, &mut status_text);
                let labels = [("route", route), ("method", method), ("status", status)];
                sample(out, name, &labels, count);
            }
        }
    }
    let name = "ringnova_http_request_duration_seconds";
    family(
        out,
        name,
        "histogram",
        "Time from a request's dispatch to its response being ready, by route template and method.",
    );
    let bucket_name = format!("{name}_bucket");
    let sum_name = format!("{name}_sum");
    let count_name = format!("{name}_count");
    let mut buckets = [0u64; BUCKET_SLOTS];
    for key in 0..keys {
        for (slot, bucket) in buckets.iter_mut().enumerate() {
            *bucket = blocks.iter().map(|b| b.bucket(key, slot)).sum();
        }
        let count: u64 = buckets.iter().sum();
        if count == 0 {
            continue;
        }
        let (route, method) = labels(key);
        let mut cumulative = 0;
        for (slot, bucket) in buckets.iter().enumerate() {
            cumulative += bucket;
            let le = BUCKET_LABELS.get(slot).copied().unwrap_or("+Inf");
            let labels = [("route", route), ("method", method), ("le", le)];
            sample(out, &bucket_name, &labels, cumulative);
        }
        let sum: u64 = blocks.iter().map(|b| b.sum_ns(key)).sum();
        let labels = [("route", route), ("method", method)];
        sample(out, &sum_name, &labels, seconds(sum));
        sample(out, &count_name, &labels, count);
    }
}

/// A per-worker value: its name, type, help text and how to read it from a block.
type WorkerGauge = (
    &'static str,
    &'static str,
    &'static str,
    fn(&WorkerBlock) -> u64,
);

fn gauges(registry: &Registry, out: &mut String) {
    let families: [WorkerGauge; 5] = [
        (
            "ringnova_http_requests_in_flight",
            "gauge",
            "Connections in the middle of a request (reading it, answering it, or writing the answer), by worker.",
            |block| block.in_flight.get(),
        ),
        (
            "ringnova_http_connections_open",
            "gauge",
            "Open client connections, by worker.",
            |block| block.connections.get(),
        ),
        (
            "ringnova_http_connections_refusing",
            "gauge",
            "Connections over max_connections being answered 503 and closed, by worker (a bounded number at once).",
            |block| block.refusing.get(),
        ),
        (
            "ringnova_http_connections_parked",
            "gauge",
            "Idle keep-alive connections parked: waiting for the client with no buffer held, by worker.",
            |block| block.parked.get(),
        ),
        (
            "ringnova_heap_trims_total",
            "counter",
            "Times the worker had the allocator return its free pages after connections parked or closed, by worker.",
            |block| block.heap_trims.get(),
        ),
    ];
    let mut worker_text = itoa::Buffer::new();
    for (name, kind, help, read) in families {
        family(out, name, kind, help);
        for (worker, block) in registry.blocks.iter().enumerate() {
            let labels = [("worker", worker_text.format(worker))];
            sample(out, name, &labels, read(block));
        }
    }
}

fn refusals(registry: &Registry, out: &mut String) {
    let name = "ringnova_http_connections_refused_total";
    family(
        out,
        name,
        "counter",
        "Connections over max_connections, by worker and answer: 503, or none (closed at once while the worker was already answering its most refusals).",
    );
    let mut worker_text = itoa::Buffer::new();
    for (worker, block) in registry.blocks.iter().enumerate() {
        let worker = worker_text.format(worker);
        for (answer, count) in ["none", "503"].into_iter().zip(&block.refused) {
            sample(
                out,
                name,
                &[("worker", worker), ("answer", answer)],
                count.get(),
            );
        }
    }
}

fn orchestrator(registry: &Registry, out: &mut String) {
    let Some(orchestrator) = registry.orchestrator.get() else {
        return;
    };
    let name = "ringnova_orchestrator_tasks_in_flight";
    family(
        out,
        name,
        "gauge",
        "Orchestration tasks admitted and not yet finished (the queue depth).",
    );
    sample(out, name, &[], orchestrator.in_flight());
    let name = "ringnova_orchestrator_queue_capacity";
    family(
        out,
        name,
        "gauge",
        "Most tasks admitted at once ([orchestrator] queue_size); beyond it requests answer 503.",
    );
    sample(out, name, &[], orchestrator.capacity());
    let name = "ringnova_orchestrator_tasks_total";
    family(
        out,
        name,
        "counter",
        "Orchestration tasks finished, by kind and outcome.",
    );
    let tasks = orchestrator.tasks();
    for slot in 0..tasks.kinds() {
        let kind = crate::orchestrator::stats::kind_label(slot);
        for outcome in Outcome::ALL {
            let labels = [("kind", kind), ("outcome", outcome.as_str())];
            sample(out, name, &labels, tasks.count(slot, outcome));
        }
    }
}

fn database(registry: &Registry, out: &mut String) {
    let stats: Vec<_> = registry
        .blocks
        .iter()
        .filter_map(|block| block.db.get())
        .collect();
    let total = |read: fn(&crate::db::WaitStats) -> u64| stats.iter().map(|s| read(s)).sum::<u64>();
    let counters: [(&str, &str, u64, bool); 5] = [
        (
            "ringnova_db_write_queue_waits_total",
            "Writes that waited for another worker's write to the database.",
            total(crate::db::WaitStats::queue_waits),
            false,
        ),
        (
            "ringnova_db_write_queue_wait_seconds_total",
            "Time writes spent waiting for other workers' writes.",
            total(crate::db::WaitStats::queue_wait_ns),
            true,
        ),
        (
            "ringnova_db_busy_waits_total",
            "Statements that found the database file locked by another process or a checkpoint (SQLITE_BUSY) and waited.",
            total(crate::db::WaitStats::busy_waits),
            false,
        ),
        (
            "ringnova_db_busy_wait_seconds_total",
            "Time spent waiting in the busy handler.",
            total(crate::db::WaitStats::busy_wait_ns),
            true,
        ),
        (
            "ringnova_db_busy_timeouts_total",
            "Busy waits that reached [database] busy_timeout (the request failed with 503).",
            total(crate::db::WaitStats::busy_timeouts),
            false,
        ),
    ];
    for (name, help, value, in_seconds) in counters {
        family(out, name, "counter", help);
        if in_seconds {
            sample(out, name, &[], seconds(value));
        } else {
            sample(out, name, &[], value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        sample(&mut out, "m", &[("a", "x\"y\\z\nw"), ("b", "{id}")], 2);
        assert_eq!(out, "m{a=\"x\\\"y\\\\z\\nw\",b=\"{id}\"} 2\n");
        out.clear();
        sample(&mut out, "m", &[], 0.5);
        assert_eq!(out, "m 0.5\n");
    }
}
