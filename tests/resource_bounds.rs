//! Resource bounds under both drivers: descriptor exhaustion (EMFILE) does not make the
//! accept loop spin and the server recovers when descriptors free up; idle keep-alive
//! connections that park (give their buffers back) wake up without losing a byte and still
//! close at the keep-alive timeout; the parked ones are counted and the worker then trims its
//! heap (gives the allocator's free pages back); a flood of connections past `max_connections`
//! is refused with at most `MAX_REFUSING` answers in progress per worker, the rest closed at once.
//!
//! Issue 6, part 7. The memory figures (per idle connection, under abuse) come from
//! `scripts/abuse.sh`, not from here: no test asserts a timing or a memory figure.
//!
//! Unsafe: `limit_fds` calls `prlimit(2)` through libc to lower the running server's
//! descriptor limit; those two calls are the only unsafe code here.
#![allow(unsafe_code)]

mod common;

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    thread,
    time::{Duration, Instant},
};

use common::{metric, read_response, Options, Server};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
const GET_CLOSE: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

/// Open descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// utime + stime of process `pid`, in clock ticks (USER_HZ, 100 per second).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit_once(") ").unwrap().1;
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    fields[11] + fields[12]
}

/// Sets the soft RLIMIT_NOFILE of process `pid`, keeping its hard limit.
fn limit_fds(pid: u32, soft: u64) {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reading another process's limit into a valid, writable rlimit; no new limit.
    let got = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            std::ptr::null(),
            &mut old,
        )
    };
    assert_eq!(got, 0, "prlimit read: {}", std::io::Error::last_os_error());
    let new = libc::rlimit {
        rlim_cur: soft,
        rlim_max: old.rlim_max,
    };
    // SAFETY: `new` is a valid rlimit that lives across the call; the old value is not asked for.
    let set = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &new,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(set, 0, "prlimit set: {}", std::io::Error::last_os_error());
}

/// Connects and sends `request`; the stream reads with `timeout`.
fn send(server: &Server, request: &[u8], timeout: Duration) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.write_all(request).unwrap();
    stream
}

/// True when a response starts arriving within the stream's read timeout.
fn answered(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(n) => n > 0,
        Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(err) => panic!("read: {err}"),
    }
}

per_driver!(emfile_backs_off_and_recovers, |driver| {
    let server = Server::with(Options {
        driver,
        ..Options::default()
    });
    let pid = server.pid();
    // Warm up: the first request opens whatever the server opens lazily.
    assert_eq!(server.get("/", "").status, 200);
    thread::sleep(Duration::from_millis(200));
    limit_fds(pid, open_fds(pid) as u64 + 3);

    // Keep-alive connections take the last descriptors; then accepts fail.
    let mut held = Vec::new();
    let stuck = loop {
        assert!(held.len() < 16, "the descriptor limit never bit");
        let mut stream = send(&server, GET, Duration::from_millis(700));
        if !answered(&mut stream) {
            break stream;
        }
        let mut rest = [0u8; 4096];
        let _ = stream.read(&mut rest);
        held.push(stream);
    };
    assert!(!held.is_empty(), "no connection was served under the limit");

    // Connections keep arriving while descriptors are exhausted: the server must wait, not
    // spin (a busy accept loop burns a whole core: 100 ticks a second).
    let before = cpu_ticks(pid);
    let started = Instant::now();
    let mut waiting = vec![stuck];
    for _ in 0..10 {
        waiting.push(send(&server, GET_CLOSE, Duration::from_secs(10)));
        thread::sleep(Duration::from_millis(120));
    }
    let ticks = cpu_ticks(pid) - before;
    let window = started.elapsed();
    eprintln!("{driver}: {ticks} CPU ticks in {window:?} while accepts failed");
    assert!(
        ticks <= 30,
        "{driver}: server used {ticks} CPU ticks in {window:?} while accepts failed"
    );

    // Descriptors free up: every queued connection is accepted and answered, in turn.
    drop(held);
    for (i, stream) in waiting.iter_mut().enumerate() {
        let response = read_response(stream);
        assert_eq!(
            response.map(|r| r.status),
            Some(200),
            "{driver}: queued connection {i} not answered after recovery"
        );
        if i == 0 {
            // The first one asked for keep-alive; close it so its descriptor frees too.
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
    drop(waiting);
    limit_fds(pid, 1024);
    thread::sleep(Duration::from_millis(300));
    assert_eq!(server.get("/", "").status, 200);

    // One warning per episode of failures, not one per failed accept.
    let (_, stderr) = server.wait_exit(Duration::from_secs(5));
    let warnings = stderr.matches("accept failed").count();
    assert!(
        warnings >= 1,
        "{driver}: the failure was not logged: {stderr}"
    );
    assert!(
        warnings <= 12,
        "{driver}: {warnings} accept warnings: the log is flooded"
    );
});

per_driver!(parked_connection_wakes_without_losing_bytes, |driver| {
    let server = Server::start(driver);
    let mut stream = server.connect();
    for round in 0..3 {
        // Long enough idle for the connection to park (PARK_AFTER plus two sweeper ticks).
        thread::sleep(Duration::from_millis(600));
        // Two pipelined requests, the second split across a pause.
        stream.write_all(GET).unwrap();
        stream.write_all(&GET[..10]).unwrap();
        thread::sleep(Duration::from_millis(50));
        stream.write_all(&GET[10..]).unwrap();
        for i in 0..2 {
            let response = read_response(&mut stream)
                .unwrap_or_else(|| panic!("{driver}: round {round}, response {i} missing"));
            assert_eq!(response.status, 200);
        }
    }
});

per_driver!(parked_connection_closes_at_keepalive_timeout, |driver| {
    let server = Server::with_conf(driver, "[ringnova]\nkeepalive_timeout = 1\n");
    let mut stream = server.connect();
    stream.write_all(GET).unwrap();
    assert_eq!(read_response(&mut stream).map(|r| r.status), Some(200));
    let started = Instant::now();
    assert!(
        common::is_closed_by_peer(&mut stream),
        "{driver}: still open"
    );
    // Parked after PARK_AFTER, closed at the keep-alive timeout: not at the park.
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{driver}: closed after {:?}, before the keep-alive timeout",
        started.elapsed()
    );
});

per_driver!(connection_flood_refusals_are_bounded, |driver| {
    // Well past the refusals a worker answers at once (`MAX_REFUSING`, 32).
    const FLOOD: u64 = 200;
    let server = Server::with_conf(driver, "[ringnova]\nmax_connections = 1\n");
    let mut held = send(&server, GET, Duration::from_secs(5));
    assert!(
        answered(&mut held),
        "the connection under the cap is served"
    );
    // Connections past the cap that neither send nor close: each answered one keeps its
    // refusal in progress while it lingers, so a quick flood outruns the bound.
    let flood: Vec<TcpStream> = (0..FLOOD)
        .map(|_| {
            let stream = TcpStream::connect(server.addr).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            stream
        })
        .collect();
    let mut seen_503 = 0;
    for mut stream in flood {
        // Each is answered 503 or closed without a byte; none is served or left hanging.
        if let Some(resp) = read_response(&mut stream) {
            resp.assert_fault(503, "serviceUnavailable");
            seen_503 += 1;
        }
    }
    drop(held);
    // Once the refusals are over, the worker serves again and counts them all.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let mut stream = send(
            &server,
            b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        );
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        if text.starts_with("HTTP/1.1 200")
            && metric(&text, "ringnova_http_connections_refusing{worker=\"0\"}") == 0
        {
            break text;
        }
        assert!(Instant::now() < deadline, "refusals never ended: {text}");
        thread::sleep(Duration::from_millis(50));
    };
    let counted = |answer: &str| {
        metric(
            &text,
            &format!("ringnova_http_connections_refused_total{{worker=\"0\",answer=\"{answer}\"}}"),
        )
    };
    let (answered_503, closed) = (counted("503"), counted("none"));
    // The metrics scrapes refused while the held connection was closing add to the count.
    assert!(answered_503 + closed >= FLOOD, "{answered_503} + {closed}");
    assert!(answered_503 >= seen_503, "{answered_503} < {seen_503}");
    assert!(seen_503 >= 1, "the first ones over the cap are answered");
    // Refusals linger for a while, so a flood this quick meets the bound: the rest are
    // closed at once instead of each holding a task, a socket and a buffer.
    assert!(
        closed >= 1,
        "no refusal was cut off: {answered_503} answered"
    );
});

/// The value of per-worker series `name` for worker 0 in a `/metrics` scrape.
fn worker_metric(server: &Server, name: &str) -> u64 {
    metric(
        &server.get("/metrics", "").text(),
        &format!("{name}{{worker=\"0\"}}"),
    )
}

/// Waits (polling, up to a generous bound) until `done` holds.
fn eventually(what: &str, done: impl FnMut() -> bool) {
    common::eventually(what, Duration::from_secs(20), done);
}

per_driver!(idle_connections_park_and_the_heap_is_trimmed, |driver| {
    let server = Server::start(driver);
    assert_eq!(worker_metric(&server, "ringnova_heap_trims_total"), 0);
    // More than the trim threshold (32 connections that gave memory back), all kept open.
    let mut held: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut stream = server.connect();
            stream.write_all(GET).unwrap();
            assert_eq!(read_response(&mut stream).map(|r| r.status), Some(200));
            stream
        })
        .collect();
    // Each idle connection parks (gives its buffers back); the worker then trims its heap.
    eventually("40 connections parked", || {
        worker_metric(&server, "ringnova_http_connections_parked") == 40
    });
    eventually("a heap trim", || {
        worker_metric(&server, "ringnova_heap_trims_total") >= 1
    });
    // A parked connection is still served, and leaves the parked count when it wakes.
    for stream in &mut held {
        stream.write_all(GET).unwrap();
        assert_eq!(read_response(stream).map(|r| r.status), Some(200));
    }
    drop(held);
    eventually("no connection parked once they closed", || {
        worker_metric(&server, "ringnova_http_connections_parked") == 0
    });
});
