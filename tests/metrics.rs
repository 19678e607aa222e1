//! `GET /metrics` against the real binary under both drivers: request counters move by
//! exactly the requests made (summed over two workers), by route template, method and
//! status; histograms are cumulative and agree with their counts; memo answers, framing
//! errors, API misses and the endpoint's own 405 are counted where they belong; gauges,
//! build info, database waits and orchestrator outcomes are there; `[metrics] enabled =
//! false` answers 404.

mod common;

use std::{
    collections::HashMap,
    io::Write,
    time::{Duration, Instant},
};

use common::{read_response, Options, Server};
use serde_json::json;

/// One scrape: every sample, by its name and sorted labels.
#[derive(Debug)]
struct Scrape {
    samples: HashMap<String, f64>,
    types: HashMap<String, String>,
}

/// `name{a="x",b="y"}` with the labels sorted, as the key of a sample.
fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels = labels.to_vec();
    labels.sort_unstable();
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

/// Parses the text format (label values here have no escaped quotes or commas).
fn parse(text: &str) -> Scrape {
    let mut samples = HashMap::new();
    let mut types = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (left, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        let (name, labels) = match left.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').unwrap()),
            None => (left, ""),
        };
        let labels: Vec<(&str, &str)> = labels
            .split("\",")
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once("=\"").unwrap();
                (k, v.trim_end_matches('"'))
            })
            .collect();
        let key = series(name, &labels);
        assert!(
            samples.insert(key.clone(), value).is_none(),
            "duplicate {key}"
        );
    }
    Scrape { samples, types }
}

impl Scrape {
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .get(&series(name, labels))
            .copied()
            .unwrap_or(0.0)
    }

    fn requests(&self, route: &str, method: &str, status: &str) -> f64 {
        self.get(
            "ringnova_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    }

    fn sum_of(&self, name: &str) -> f64 {
        self.samples
            .iter()
            .filter(|(key, _)| key.starts_with(&format!("{name}{{")))
            .map(|(_, v)| v)
            .sum()
    }
}

fn scrape(server: &Server) -> Scrape {
    let resp = server.get("/metrics", "");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse(&resp.text())
}

/// The histogram of `route`/`method`: its buckets must be cumulative and end in `_count`.
fn histogram_count(scrape: &Scrape, route: &str, method: &str) -> f64 {
    let name = "ringnova_http_request_duration_seconds";
    let mut buckets: Vec<(f64, f64)> = scrape
        .samples
        .iter()
        .filter(|(key, _)| {
            key.starts_with(&format!("{name}_bucket{{"))
                && key.contains(&format!("route=\"{route}\""))
                && key.contains(&format!("method=\"{method}\""))
        })
        .map(|(key, v)| {
            let le = key
                .split("le=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            (le, *v)
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let labels = [("route", route), ("method", method)];
    let count = scrape.get(&format!("{name}_count"), &labels);
    if count == 0.0 {
        assert!(buckets.is_empty());
        return 0.0;
    }
    assert_eq!(buckets.len(), 19, "{route} {method}");
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
    assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, count));
    assert!(scrape.get(&format!("{name}_sum"), &labels) >= 0.0);
    count
}

per_driver!(requests_are_counted_exactly, |driver| {
    let server = Server::with(Options {
        driver,
        workers: 2,
        conf: "[fake_driver]\nbuild_time = 0.05\n",
        ..Options::default()
    });
    let before = scrape(&server);
    assert_eq!(before.types["ringnova_http_requests_total"], "counter");
    assert_eq!(
        before.types["ringnova_http_request_duration_seconds"],
        "histogram"
    );
    let want_driver = if driver == "uring" {
        "io_uring"
    } else {
        "epoll"
    };
    let info = [
        ("version", env!("CARGO_PKG_VERSION")),
        ("driver", want_driver),
        ("workers", "2"),
    ];
    assert_eq!(before.get("ringnova_build_info", &info), 1.0);

    // Three flavor lists (separate connections, so both workers may take some).
    for _ in 0..3 {
        let resp = server.api("GET", "/v2.1/flavors/detail", "demo:demo", None, None);
        assert_eq!(resp.status, 200);
    }
    // The same route with the project id in the path counts under the same template.
    let resp = server.api(
        "GET",
        "/v2.1/abcdef12/flavors/detail",
        "demo:abcdef12",
        None,
        None,
    );
    assert_eq!(resp.status, 200);
    // An extension's route (os-documents) is labelled with its own template.
    let resp = server.api("GET", "/v2.1/os-documents", "demo:demo", None, None);
    assert_eq!(resp.status, 200);
    // No API route: unmatched, 404.
    let resp = server.api("GET", "/v2.1/nothing-here", "demo:demo", None, None);
    assert_eq!(resp.status, 404);
    // A framing error: unmatched, method other, 400.
    let resp = server.roundtrip("GET /\u{1} HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(resp.status, 400);
    // The endpoint refuses other methods, counted under its mount.
    let resp = server.api("POST", "/metrics", "demo:demo", None, None);
    assert_eq!(resp.status, 405);
    assert_eq!(resp.header("allow"), Some("GET, HEAD"));
    // Three identical pipelined heads: the last ones are memo answers, counted all the same.
    let mut stream = server.connect();
    let head = format!("GET /healthcheck HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    stream.write_all(head.repeat(3).as_bytes()).unwrap();
    for _ in 0..3 {
        assert_eq!(read_response(&mut stream).unwrap().status, 200);
    }
    drop(stream);

    let after = scrape(&server);
    let delta = |route: &str, method: &str, status: &str| {
        after.requests(route, method, status) - before.requests(route, method, status)
    };
    assert_eq!(delta("/flavors/detail", "GET", "200"), 4.0);
    assert_eq!(delta("/os-documents", "GET", "200"), 1.0);
    assert_eq!(delta("unmatched", "GET", "404"), 1.0);
    assert_eq!(delta("unmatched", "other", "400"), 1.0);
    assert_eq!(delta("/metrics", "POST", "405"), 1.0);
    assert_eq!(delta("/healthcheck", "GET", "200"), 3.0);
    // The scrape before this one was counted once it was answered.
    assert_eq!(delta("/metrics", "GET", "200"), 1.0);
    // Nothing else moved.
    let total = |s: &Scrape| s.sum_of("ringnova_http_requests_total");
    assert_eq!(total(&after) - total(&before), 12.0);

    let count = |s: &Scrape, route, method| histogram_count(s, route, method);
    assert_eq!(
        count(&after, "/flavors/detail", "GET") - count(&before, "/flavors/detail", "GET"),
        4.0
    );
    assert_eq!(
        count(&after, "/healthcheck", "GET") - count(&before, "/healthcheck", "GET"),
        3.0
    );
    // Framing errors have no latency.
    assert_eq!(count(&after, "unmatched", "other"), 0.0);

    // Gauges: once the closed connections are gone, the scrape's own connection is the one
    // open and in flight, on one of two workers.
    let deadline = Instant::now() + Duration::from_secs(10);
    let gauges = loop {
        let now = scrape(&server);
        if now.sum_of("ringnova_http_connections_open") == 1.0 {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "connections stayed open: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    for gauge in [
        "ringnova_http_connections_open",
        "ringnova_http_requests_in_flight",
    ] {
        assert_eq!(gauges.types[gauge], "gauge");
        assert_eq!(gauges.sum_of(gauge), 1.0, "{gauge}");
        for worker in ["0", "1"] {
            assert!(gauges
                .samples
                .contains_key(&series(gauge, &[("worker", worker)])));
        }
    }
    for counter in [
        "ringnova_db_write_queue_waits_total",
        "ringnova_db_busy_waits_total",
        "ringnova_db_busy_timeouts_total",
    ] {
        assert_eq!(after.types[counter], "counter");
        assert_eq!(after.get(counter, &[]), 0.0, "{counter}");
    }

    // A build: in flight, then one succeeded build task.
    let capacity = after.get("ringnova_orchestrator_queue_capacity", &[]);
    assert_eq!(capacity, 1024.0);
    let body = json!({"server": {"name": "m1", "imageRef": "70a599e0-31e7-49b7-b260-868f441e862b",
        "flavorRef": "1", "networks": "none"}});
    let resp = server.api(
        "POST",
        "/v2.1/servers",
        "demo:demo",
        Some("2.37"),
        Some(&body),
    );
    assert_eq!(resp.status, 202, "{}", resp.text());
    let built = [("kind", "build"), ("outcome", "succeeded")];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = scrape(&server);
        if now.get("ringnova_orchestrator_tasks_total", &built) == 1.0 {
            assert_eq!(now.get("ringnova_orchestrator_tasks_in_flight", &[]), 0.0);
            assert_eq!(
                now.sum_of("ringnova_orchestrator_tasks_total"),
                1.0,
                "one task, one outcome"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the build never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
});

per_driver!(disabled_metrics_answer_404, |driver| {
    let server = Server::with_conf(driver, "[metrics]\nenabled = false\n");
    let resp = server.get("/metrics", "");
    resp.assert_fault(404, "itemNotFound");
    assert_eq!(server.get("/healthcheck", "").status, 200);
});
