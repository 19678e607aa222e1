//! Abusive-client load against a running ringnova, with a normal client measuring latency
//! meanwhile and the server's memory and CPU sampled from `/proc/<pid>`.
//!
//! Two modes:
//! - `abuse`: slowloris connections (one header byte every few seconds), slow bodies (one body
//!   byte every few seconds), clients that pipeline large responses and never read them, and
//!   then a flood of connections past `max_connections`. A normal client sends one request
//!   every few milliseconds on a fresh connection and on a keep-alive one and records
//!   p50/p99/max and errors, per phase. Exits 1 when a bound given on the command line fails.
//! - `idle`: opens N keep-alive connections, each after one answered request, and reports the
//!   server's resident memory per connection: (RSS with − RSS without) / N.
//!
//! Loopback measurement tool only: it must never be pointed at anything but a local test
//! server it can read `/proc/<pid>` of. Driven by `scripts/abuse.sh`; run by hand:
//! `cargo run --release --example abuse -- --addr 127.0.0.1:8774 --pid PID --mode abuse`.

use std::{
    collections::HashMap,
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream},
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex,
    },
    thread,
    time::{Duration, Instant},
};

/// Command-line settings (`--name value`).
struct Args(HashMap<String, String>);

impl Args {
    fn parse() -> Args {
        let mut map = HashMap::new();
        let mut args = std::env::args().skip(1);
        while let Some(key) = args.next() {
            let key = key.trim_start_matches("--").to_owned();
            let value = args.next().unwrap_or_else(|| usage(&key));
            map.insert(key, value);
        }
        Args(map)
    }

    fn text(&self, key: &str, default: &str) -> String {
        self.0
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    }

    fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> T {
        match self.0.get(key) {
            Some(value) => value.parse().unwrap_or_else(|_| usage(key)),
            None => default,
        }
    }

    fn secs(&self, key: &str, default: f64) -> Duration {
        Duration::from_secs_f64(self.num(key, default))
    }
}

fn usage(key: &str) -> ! {
    eprintln!(
        "abuse: bad or missing value for --{key}\n\
         usage: abuse --addr HOST:PORT --pid PID [--mode abuse|idle]\n\
         abuse: [--seconds 30] [--flood-seconds 10] [--slowloris 1000] [--slow-body 100]\n\
                [--no-read 50] [--flood 3000] [--byte-interval 3] [--interval-ms 5]\n\
                [--path /v2.1/flavors] [--max-p99-ms N] [--max-rss-mib N] [--max-rss-after-mib N]\n\
         idle:  [--idle 10000] [--open-rate 0 (per second; 0: as fast as answered)]\n\
                [--settle 3] [--max-per-conn-kib N] [--max-marginal-kib N]"
    );
    std::process::exit(2)
}

/// What `/proc/<pid>` says about the server.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    rss_kib: u64,
    hwm_kib: u64,
    /// utime + stime, in clock ticks.
    cpu_ticks: u64,
}

fn sample(pid: u32) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state, field 3;
    // utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Sample {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        cpu_ticks: tick(11) + tick(12),
    }
}

/// Clock ticks per second in `/proc/<pid>/stat`: Linux reports them in USER_HZ, which the
/// kernel ABI fixes at 100 whatever the internal tick rate.
const USER_HZ: f64 = 100.0;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Samples the server every 200 ms while the run lasts; keeps the largest RSS seen.
struct Sampler {
    pid: u32,
    peak_rss_kib: AtomicU64,
}

impl Sampler {
    fn run(&self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            let now = sample(self.pid);
            self.peak_rss_kib.fetch_max(now.rss_kib, Ordering::Relaxed);
            thread::sleep(Duration::from_millis(200));
        }
    }
}

/// How a connection closed (or reset) before any byte of a response begins its error.
const UNANSWERED: &str = "closed before a response";

/// Reads one HTTP/1.1 response (Content-Length framed) and returns its status.
fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<u16, String> {
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    let (head_end, length) = loop {
        let n = match stream.read(&mut chunk) {
            Err(err) if buf.is_empty() && err.kind() == ErrorKind::ConnectionReset => {
                return Err(format!("{UNANSWERED} (reset)"))
            }
            read => read.map_err(|err| format!("read: {err}"))?,
        };
        if n == 0 {
            return Err(UNANSWERED.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..at]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (at + 4, length);
        }
        if buf.len() > 64 * 1024 {
            return Err("head too long".into());
        }
    };
    while buf.len() < head_end + length {
        let n = stream
            .read(&mut chunk)
            .map_err(|err| format!("read: {err}"))?;
        if n == 0 {
            return Err("closed inside a body".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let status = buf
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    Ok(status)
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The run's phases, as the normal client labels its samples.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Phase {
    /// Slowloris, slow bodies and never-reading clients are connected.
    Abuse,
    /// A connection flood past the cap is on top of the abuse.
    Flood,
}

/// The normal client's results for one kind of connection in one phase.
#[derive(Default)]
struct Latencies {
    micros: Vec<u64>,
    errors: Vec<String>,
    /// 503 answers on fresh connections while the flood holds the cap (expected).
    refused: usize,
    /// Fresh connections closed unanswered while the flood holds the cap (expected: past
    /// the refusals a worker has in progress, it closes new connections at once).
    cut: usize,
    /// The slowest answer and when it was sent, in seconds from the start of the run.
    slowest: (u64, f64),
}

impl Latencies {
    fn report(&mut self, label: &str) -> Option<f64> {
        self.micros.sort_unstable();
        let pct = |p: f64| {
            let i = ((self.micros.len() as f64 * p).ceil() as usize).clamp(1, self.micros.len());
            self.micros[i - 1] as f64 / 1000.0
        };
        if self.micros.is_empty() {
            println!(
                "  {label:<22} no answers, errors {}, refused {}, closed unanswered {}",
                self.errors.len(),
                self.refused,
                self.cut
            );
            return None;
        }
        println!(
            "  {label:<22} n {:>6}  p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>8.3} ms (at {:.1} s)  errors {}  refused(503) {}  closed unanswered {}",
            self.micros.len(),
            pct(0.50),
            pct(0.99),
            *self.micros.last().unwrap_or(&0) as f64 / 1000.0,
            self.slowest.1,
            self.errors.len(),
            self.refused,
            self.cut,
        );
        for err in self.errors.iter().take(5) {
            println!("    error: {err}");
        }
        Some(pct(0.99))
    }
}

type Results = Mutex<HashMap<(Phase, bool), Latencies>>;

/// The normal client: alternately a request on a fresh connection and one on a long-lived
/// keep-alive connection, one every `interval`.
fn normal_client(
    addr: SocketAddr,
    request: &[u8],
    interval: Duration,
    phase: &Mutex<Phase>,
    stop: &AtomicBool,
    results: &Results,
    origin: Instant,
) {
    let mut keep: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut fresh = false;
    while !stop.load(Ordering::Relaxed) {
        fresh = !fresh;
        let now_phase = *phase.lock().unwrap();
        let started = Instant::now();
        let outcome = if fresh {
            connect(addr).and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                s.write_all(request)?;
                Ok(s)
            })
        } else {
            match keep.take() {
                Some(s) => Ok(s),
                None => connect(addr).and_then(|s| {
                    s.set_read_timeout(Some(Duration::from_secs(2)))?;
                    Ok(s)
                }),
            }
            .and_then(|mut s| {
                s.write_all(request)?;
                Ok(s)
            })
        };
        let result = outcome
            .map_err(|err| format!("connect/write: {err}"))
            .and_then(|mut s| read_response(&mut s, &mut buf).map(|status| (status, s)));
        let elapsed = started.elapsed().as_micros() as u64;
        let mut all = results.lock().unwrap();
        let entry = all.entry((now_phase, fresh)).or_default();
        match result {
            Ok((status, stream)) if (200..300).contains(&status) => {
                entry.micros.push(elapsed);
                if elapsed > entry.slowest.0 {
                    entry.slowest = (elapsed, (started - origin).as_secs_f64());
                }
                if !fresh {
                    keep = Some(stream);
                }
            }
            Ok((503, _)) if fresh && now_phase == Phase::Flood => entry.refused += 1,
            Err(err) if fresh && now_phase == Phase::Flood && err.starts_with(UNANSWERED) => {
                entry.cut += 1
            }
            Ok((status, _)) => entry.errors.push(format!("status {status}")),
            Err(err) => entry.errors.push(err),
        }
        drop(all);
        thread::sleep(interval.saturating_sub(started.elapsed()));
    }
}

/// Connections that send a prefix at once and then one more byte every `interval`, never
/// finishing their request. A connection the server closes is counted and replaced.
struct Trickle {
    name: &'static str,
    prefix: Vec<u8>,
    filler: u8,
    count: usize,
    interval: Duration,
}

#[derive(Default)]
struct TrickleStats {
    open: usize,
    bytes: u64,
    closed_by_server: usize,
    statuses: HashMap<u16, usize>,
    connect_errors: usize,
}

impl Trickle {
    fn open(&self, addr: SocketAddr) -> Option<TcpStream> {
        let mut stream = connect(addr).ok()?;
        stream.write_all(&self.prefix).ok()?;
        stream.set_nonblocking(true).ok()?;
        Some(stream)
    }

    fn run(&self, addr: SocketAddr, stop: &AtomicBool) -> TrickleStats {
        let mut stats = TrickleStats::default();
        let mut conns: Vec<Option<TcpStream>> = (0..self.count).map(|_| None).collect();
        let mut scratch = [0u8; 512];
        while !stop.load(Ordering::Relaxed) {
            let round = Instant::now();
            // One byte on every connection, spread over the interval.
            let pause = self.interval / (self.count.max(1) as u32 / 50 + 1);
            for (i, slot) in conns.iter_mut().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match slot {
                    None => match self.open(addr) {
                        Some(stream) => *slot = Some(stream),
                        None => stats.connect_errors += 1,
                    },
                    Some(stream) => {
                        let mut gone = match stream.read(&mut scratch) {
                            Ok(0) => true,
                            Ok(n) => {
                                if let Some(status) = std::str::from_utf8(&scratch[..n.min(12)])
                                    .ok()
                                    .and_then(|s| s.get(9..12))
                                    .and_then(|s| s.parse().ok())
                                {
                                    *stats.statuses.entry(status).or_default() += 1;
                                }
                                true
                            }
                            Err(err) => err.kind() != ErrorKind::WouldBlock,
                        };
                        if !gone {
                            match stream.write(&[self.filler]) {
                                Ok(n) => stats.bytes += n as u64,
                                Err(err) => gone = err.kind() != ErrorKind::WouldBlock,
                            }
                        }
                        if gone {
                            stats.closed_by_server += 1;
                            *slot = None;
                        }
                    }
                }
                if i % 50 == 49 {
                    thread::sleep(pause);
                }
            }
            thread::sleep(self.interval.saturating_sub(round.elapsed()));
        }
        stats.open = conns.iter().flatten().count();
        stats
    }
}

/// Clients that pipeline requests with large responses as fast as the server takes them and
/// never read a byte.
fn never_read(
    addr: SocketAddr,
    request: &[u8],
    count: usize,
    stop: &AtomicBool,
) -> (u64, usize, usize) {
    let mut conns: Vec<Option<TcpStream>> = (0..count).map(|_| None).collect();
    let burst = request.repeat(64);
    let (mut requests, mut closed, mut open) = (0u64, 0usize, 0usize);
    while !stop.load(Ordering::Relaxed) {
        for slot in conns.iter_mut() {
            if slot.is_none() {
                *slot = connect(addr)
                    .and_then(|s| s.set_nonblocking(true).map(|()| s))
                    .ok();
            }
            let Some(stream) = slot else { continue };
            // Push until the socket takes no more; whole requests are counted.
            for _ in 0..16 {
                match stream.write(&burst) {
                    Ok(n) => requests += (n / request.len()) as u64,
                    Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed += 1;
                        *slot = None;
                        break;
                    }
                }
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    open += conns.iter().flatten().count();
    (requests, closed, open)
}

/// Opens connections past the cap as fast as it can, holds them until stopped, and counts
/// what the server answered.
fn flood(addr: SocketAddr, count: usize, stop: &AtomicBool) -> (usize, usize, usize, usize) {
    let mut conns = Vec::with_capacity(count);
    let mut connect_errors = 0;
    while conns.len() < count && !stop.load(Ordering::Relaxed) {
        match connect(addr).and_then(|s| s.set_nonblocking(true).map(|()| s)) {
            Ok(stream) => conns.push(stream),
            Err(_) => connect_errors += 1,
        }
    }
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(50));
    }
    let (mut refused, mut closed) = (0, 0);
    let mut scratch = [0u8; 1024];
    for stream in &mut conns {
        match stream.read(&mut scratch) {
            Ok(n) if n >= 12 && &scratch[9..12] == b"503" => refused += 1,
            Ok(_) => closed += 1,
            Err(_) => {}
        }
    }
    (conns.len(), refused, closed, connect_errors)
}

fn abuse(args: &Args, addr: SocketAddr, pid: u32) -> bool {
    let host = addr.to_string();
    let path = args.text("path", "/v2.1/flavors");
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Auth-Token: admin:admin\r\n\r\n")
            .into_bytes();
    let seconds = args.secs("seconds", 30.0);
    let flood_seconds = args.secs("flood-seconds", 10.0);
    let byte_interval = args.secs("byte-interval", 3.0);
    let interval = Duration::from_millis(args.num("interval-ms", 5));

    // Warm up (pools, statements, caches), then the baseline.
    let results: Results = Mutex::new(HashMap::new());
    let stop_normal = AtomicBool::new(false);
    let phase = Mutex::new(Phase::Abuse);
    let warm = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            normal_client(
                addr,
                &request,
                Duration::from_millis(1),
                &phase,
                &warm,
                &results,
                Instant::now(),
            )
        });
        thread::sleep(Duration::from_millis(500));
        warm.store(true, Ordering::Relaxed);
    });
    results.lock().unwrap().clear();
    let before = sample(pid);

    let sampler = Sampler {
        pid,
        peak_rss_kib: AtomicU64::new(before.rss_kib),
    };
    let stop_abuse = AtomicBool::new(false);
    let stop_flood = AtomicBool::new(false);
    let stop_sampler = AtomicBool::new(false);
    let slowloris = Trickle {
        name: "slowloris",
        prefix: format!("GET / HTTP/1.1\r\nHost: {host}\r\nX-Slow: ").into_bytes(),
        filler: b'a',
        count: args.num("slowloris", 1000),
        interval: byte_interval,
    };
    let slow_body = Trickle {
        name: "slow body",
        prefix: format!(
            "POST /v2.1/os-keypairs HTTP/1.1\r\nHost: {host}\r\nX-Auth-Token: admin:admin\r\n\
             Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        )
        .into_bytes(),
        filler: b' ',
        count: args.num("slow-body", 100),
        interval: byte_interval,
    };
    let no_read_request = format!(
        "GET /v2.1/flavors/detail HTTP/1.1\r\nHost: {host}\r\nX-Auth-Token: admin:admin\r\n\r\n"
    )
    .into_bytes();
    let no_read_count = args.num("no-read", 50);
    let flood_count = args.num("flood", 3000);
    let during = Mutex::new(Sample::default());
    let end_of_load = Mutex::new(Sample::default());
    let mut failed = false;

    let started = Instant::now();
    let (trickles, no_read, flooded) = thread::scope(|s| {
        s.spawn(|| sampler.run(&stop_sampler));
        s.spawn(|| {
            normal_client(
                addr,
                &request,
                interval,
                &phase,
                &stop_normal,
                &results,
                started,
            )
        });
        let loris = s.spawn(|| slowloris.run(addr, &stop_abuse));
        let body = s.spawn(|| slow_body.run(addr, &stop_abuse));
        let no_read = s.spawn(|| never_read(addr, &no_read_request, no_read_count, &stop_abuse));
        thread::sleep(seconds);
        *during.lock().unwrap() = sample(pid);
        *phase.lock().unwrap() = Phase::Flood;
        let flooded = s.spawn(|| flood(addr, flood_count, &stop_flood));
        thread::sleep(flood_seconds);
        stop_flood.store(true, Ordering::Relaxed);
        let flooded = flooded.join().unwrap();
        stop_normal.store(true, Ordering::Relaxed);
        stop_abuse.store(true, Ordering::Relaxed);
        let trickles = [loris.join().unwrap(), body.join().unwrap()];
        let no_read = no_read.join().unwrap();
        *end_of_load.lock().unwrap() = sample(pid);
        // Let the server close what the clients dropped, and its allocator give memory back.
        thread::sleep(args.secs("settle", 3.0));
        stop_sampler.store(true, Ordering::Relaxed);
        (trickles, no_read, flooded)
    });
    let end_of_load = *end_of_load.lock().unwrap();
    let after = sample(pid);
    let during = *during.lock().unwrap();
    let load_secs = started.elapsed().as_secs_f64();

    println!(
        "abuse run: {:.1} s abuse + {:.1} s flood against {addr} (pid {pid}), normal client: GET {path} every {} ms",
        seconds.as_secs_f64(),
        flood_seconds.as_secs_f64(),
        interval.as_millis()
    );
    for (trickle, stats) in [&slowloris, &slow_body].iter().zip(&trickles) {
        println!(
            "  {:<10} {} conns, one byte per {:.1} s: {} bytes sent, {} closed by server (statuses {:?}), {} open at the end, {} connect errors",
            trickle.name,
            trickle.count,
            trickle.interval.as_secs_f64(),
            stats.bytes,
            stats.closed_by_server,
            stats.statuses,
            stats.open,
            stats.connect_errors
        );
    }
    println!(
        "  never-read {} conns: {} pipelined requests written, {} closed by server, {} open at the end",
        no_read_count, no_read.0, no_read.1, no_read.2
    );
    println!(
        "  flood      {} conns held {:.1} s: {} answered 503, {} closed, {} connect errors",
        flooded.0,
        flood_seconds.as_secs_f64(),
        flooded.1,
        flooded.2,
        flooded.3
    );
    println!("normal client:");
    let max_p99 = args
        .0
        .get("max-p99-ms")
        .map(|_| args.num("max-p99-ms", 0.0));
    let mut all = results.lock().unwrap();
    for (phase, fresh) in [
        (Phase::Abuse, true),
        (Phase::Abuse, false),
        (Phase::Flood, true),
        (Phase::Flood, false),
    ] {
        let label = format!(
            "{} {}",
            if phase == Phase::Abuse {
                "abuse"
            } else {
                "flood"
            },
            if fresh { "fresh conn" } else { "keep-alive" }
        );
        let entry = all.entry((phase, fresh)).or_default();
        let p99 = entry.report(&label);
        if !entry.errors.is_empty() {
            println!("FAIL: {label}: {} errors", entry.errors.len());
            failed = true;
        }
        // During the flood the cap is full by design: fresh connections may all be refused.
        let must_answer = !(phase == Phase::Flood && fresh);
        match (p99, max_p99) {
            (None, _) if must_answer => {
                println!("FAIL: {label}: no answers");
                failed = true;
            }
            (Some(p99), Some(bound)) if must_answer && p99 > bound => {
                println!("FAIL: {label}: p99 {p99:.3} ms over {bound} ms");
                failed = true;
            }
            _ => {}
        }
    }
    let peak = sampler.peak_rss_kib.load(Ordering::Relaxed);
    println!(
        "server memory: RSS before {:.1} MiB, during {:.1} MiB, peak {:.1} MiB, end of load {:.1} MiB, after {:.1} MiB (VmHWM {:.1} MiB)",
        mib(before.rss_kib),
        mib(during.rss_kib),
        mib(peak),
        mib(end_of_load.rss_kib),
        mib(after.rss_kib),
        mib(after.hwm_kib)
    );
    println!(
        "server CPU: {:.2} s over {:.1} s of load ({:.0}% of one core)",
        (end_of_load.cpu_ticks - before.cpu_ticks) as f64 / USER_HZ,
        load_secs,
        100.0 * (end_of_load.cpu_ticks - before.cpu_ticks) as f64 / USER_HZ / load_secs
    );
    if let Some(bound) = args
        .0
        .get("max-rss-mib")
        .map(|_| args.num("max-rss-mib", 0.0))
    {
        if mib(peak) > bound {
            println!("FAIL: peak RSS {:.1} MiB over {bound} MiB", mib(peak));
            failed = true;
        }
    }
    if let Some(bound) = args
        .0
        .get("max-rss-after-mib")
        .map(|_| args.num("max-rss-after-mib", 0.0))
    {
        if mib(after.rss_kib) > bound {
            println!(
                "FAIL: RSS after the load {:.1} MiB over {bound} MiB",
                mib(after.rss_kib)
            );
            failed = true;
        }
    }
    !failed
}

fn idle(args: &Args, addr: SocketAddr, pid: u32) -> bool {
    let count: usize = args.num("idle", 10_000);
    let settle = args.secs("settle", 3.0);
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    let mut buf = Vec::with_capacity(16 * 1024);
    // Warm up the server's pools on a few connections first, then close them.
    {
        let mut warm: Vec<TcpStream> = Vec::new();
        for _ in 0..64 {
            if let Ok(mut s) = connect(addr) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = s.write_all(&request);
                let _ = read_response(&mut s, &mut buf);
                warm.push(s);
            }
        }
    }
    thread::sleep(settle);
    let without = sample(pid);
    // Connections per second; 0 opens them as fast as the server answers.
    let rate: f64 = args.num("open-rate", 0.0);
    let opened = Instant::now();
    let mut conns = Vec::with_capacity(count);
    let mut errors = 0usize;
    let mut half = None;
    for i in 0..count {
        if i == count / 2 {
            // The second half's cost is the marginal one: no pool or table growth in it.
            thread::sleep(settle);
            half = Some((conns.len(), sample(pid)));
        }
        if rate > 0.0 {
            let due = Duration::from_secs_f64(i as f64 / rate);
            thread::sleep(due.saturating_sub(opened.elapsed()));
        }
        let answered = connect(addr).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(&request)?;
            match read_response(&mut s, &mut buf) {
                Ok(200) => Ok(s),
                Ok(status) => Err(std::io::Error::other(format!("status {status}"))),
                Err(err) => Err(std::io::Error::other(err)),
            }
        });
        match answered {
            Ok(s) => conns.push(s),
            Err(_) => errors += 1,
        }
    }
    let open_secs = opened.elapsed().as_secs_f64();
    thread::sleep(settle);
    let with = sample(pid);
    // Every connection must still be open and served: one more request on a sample of them.
    let mut still_served = 0;
    let step = (conns.len() / 100).max(1);
    for s in conns.iter_mut().step_by(step) {
        if s.write_all(&request).is_ok() && read_response(s, &mut buf) == Ok(200) {
            still_served += 1;
        }
    }
    let checked = conns.len().div_ceil(step);
    let held = conns.len();
    drop(conns);
    thread::sleep(settle);
    let after = sample(pid);
    let per_conn = (with.rss_kib as f64 - without.rss_kib as f64) * 1024.0 / held.max(1) as f64;
    let (half_held, half_sample) = half.unwrap_or((0, without));
    let marginal = (with.rss_kib as f64 - half_sample.rss_kib as f64) * 1024.0
        / (held - half_held).max(1) as f64;
    println!(
        "idle keep-alive: {held} connections open (each after one answered request, opened in {open_secs:.1} s), {errors} failed"
    );
    println!(
        "  RSS without {:.1} MiB, with {:.1} MiB, after closing {:.1} MiB: {:.0} bytes ({:.2} KiB) per connection; {still_served}/{checked} sampled connections still served",
        mib(without.rss_kib),
        mib(with.rss_kib),
        mib(after.rss_kib),
        per_conn,
        per_conn / 1024.0
    );
    println!(
        "  marginal: RSS at {half_held} connections {:.1} MiB, at {held} {:.1} MiB: {:.0} bytes ({:.2} KiB) per added connection",
        mib(half_sample.rss_kib),
        mib(with.rss_kib),
        marginal,
        marginal / 1024.0
    );
    let mut ok = true;
    if errors > 0 || still_served != checked {
        println!("FAIL: idle keep-alive connections were refused or dropped");
        ok = false;
    }
    if let Some(bound) = args
        .0
        .get("max-per-conn-kib")
        .map(|_| args.num("max-per-conn-kib", 0.0))
    {
        if per_conn / 1024.0 > bound {
            println!(
                "FAIL: {:.2} KiB per connection over {bound} KiB",
                per_conn / 1024.0
            );
            ok = false;
        }
    }
    if let Some(bound) = args
        .0
        .get("max-marginal-kib")
        .map(|_| args.num("max-marginal-kib", 0.0))
    {
        if marginal / 1024.0 > bound {
            println!(
                "FAIL: {:.2} KiB per added connection over {bound} KiB",
                marginal / 1024.0
            );
            ok = false;
        }
    }
    ok
}

fn main() -> ExitCode {
    let args = Args::parse();
    let addr: SocketAddr = args
        .text("addr", "")
        .parse()
        .unwrap_or_else(|_| usage("addr"));
    if !addr.ip().is_loopback() {
        eprintln!("abuse: loopback addresses only");
        return ExitCode::from(2);
    }
    let pid: u32 = args.num("pid", 0);
    if pid == 0 {
        usage("pid");
    }
    let ok = match args.text("mode", "abuse").as_str() {
        "abuse" => abuse(&args, addr, pid),
        "idle" => idle(&args, addr, pid),
        _ => usage("mode"),
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
