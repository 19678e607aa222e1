//! minimal-monoio: the floor that ringnova's benchmark compares against.
//!
//! One monoio thread pinned to one CPU, an SO_REUSEPORT listener, keep-alive
//! and pipelining. Every complete request in the read buffer is parsed with
//! httparse, its canned response is appended to one output buffer, and the
//! batch is written with a single write. Only two routes exist:
//!
//! * `GET /`            -> the bytes of `--body-file`, `application/json`
//! * `GET /healthcheck` -> `OK`, `text/plain`
//! * `GET /db`          -> with `--db PATH` only: one SQLite point read per request
//!   (TechEmpower's "single query" test): a random row of the 10,000-row `world`
//!   table, created on first use, as `{"id": N, "randomNumber": M}`. The statement
//!   is prepared once and cached; the response is built per request.
//!
//! Anything else gets a 404; a request that cannot be parsed gets a 400 and
//! the connection is closed. The responses are built once at start-up; the
//! only per-second work is patching the cached `Date` value into them.
//!
//! Usage:
//! `minimal-monoio --listen 127.0.0.1:8081 --cpu 0 --body-file root.json --driver uring|legacy [--db world.sqlite]`

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{ListenerOpts, TcpListener, TcpStream};
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

/// Initial size of a connection's read buffer; plenty for 16 pipelined GETs.
const READ_BUF: usize = 16 * 1024;
/// A request head (plus body) larger than this closes the connection.
const MAX_READ_BUF: usize = 64 * 1024;
/// Initial size of a connection's output buffer.
const WRITE_BUF: usize = 16 * 1024;
/// Header slots handed to httparse per request.
const MAX_HEADERS: usize = 32;
/// Length of an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
const DATE_LEN: usize = 29;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Driver {
    Uring,
    Legacy,
}

struct Args {
    listen: SocketAddr,
    cpu: usize,
    body_file: String,
    driver: Driver,
    db: Option<String>,
}

fn usage() -> String {
    "usage: minimal-monoio --listen ADDR --cpu N --body-file PATH --driver uring|legacy [--db PATH]"
        .to_owned()
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut cpu = None;
    let mut body_file = None;
    let mut driver = Driver::Uring;
    let mut db = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg, None),
        };
        if flag == "-h" || flag == "--help" {
            return Err(usage());
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?,
        };
        match flag.as_str() {
            "--listen" => {
                listen = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--listen {value}: {e}"))?,
                )
            }
            "--cpu" => cpu = Some(value.parse().map_err(|e| format!("--cpu {value}: {e}"))?),
            "--body-file" => body_file = Some(value),
            "--db" => db = Some(value),
            "--driver" => {
                driver = match value.as_str() {
                    "uring" | "iouring" | "io_uring" => Driver::Uring,
                    "legacy" | "epoll" => Driver::Legacy,
                    other => return Err(format!("--driver {other}: expected uring or legacy")),
                }
            }
            other => return Err(format!("unknown flag {other}\n{}", usage())),
        }
    }
    Ok(Args {
        listen: listen.ok_or_else(|| format!("--listen is required\n{}", usage()))?,
        cpu: cpu.ok_or_else(|| format!("--cpu is required\n{}", usage()))?,
        body_file: body_file.ok_or_else(|| format!("--body-file is required\n{}", usage()))?,
        driver,
        db,
    })
}

/// Rows of the `world` table.
const WORLD_ROWS: u32 = 10_000;

/// Opens (creating and filling on first use) the `world` table of the `/db` route.
fn open_world(path: &str) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE IF NOT EXISTS world (id INTEGER PRIMARY KEY, randomnumber INTEGER NOT NULL);",
    )?;
    let rows: u32 = conn.query_row("SELECT count(*) FROM world", [], |r| r.get(0))?;
    if rows < WORLD_ROWS {
        let tx = conn.unchecked_transaction()?;
        {
            let mut insert =
                tx.prepare("INSERT OR REPLACE INTO world (id, randomnumber) VALUES (?1, ?2)")?;
            let mut seed = 0x9E37_79B9_u32;
            for id in 1..=WORLD_ROWS {
                seed = xorshift(seed);
                insert.execute([id, seed % WORLD_ROWS + 1])?;
            }
        }
        tx.commit()?;
    }
    Ok(conn)
}

/// One step of a 32-bit xorshift generator (never returns 0 for a non-zero input).
fn xorshift(mut x: u32) -> u32 {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    x
}

/// Pins the calling thread (the only one) to `cpu`.
fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data for which all-zeroes is the empty set;
    // CPU_SET bounds-checks the index; sched_setaffinity reads `set` only for
    // the duration of the call and pid 0 names the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A complete response whose `Date` value sits at `date_at`.
struct Canned {
    bytes: Vec<u8>,
    date_at: usize,
}

impl Canned {
    fn new(status: &str, content_type: &str, extra: &str, body: &[u8]) -> Self {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Date: ",
            body.len()
        );
        let date_at = head.len();
        let mut bytes = Vec::with_capacity(head.len() + DATE_LEN + 4 + body.len());
        bytes.extend_from_slice(head.as_bytes());
        bytes.extend_from_slice(&[b' '; DATE_LEN]);
        bytes.extend_from_slice(b"\r\n\r\n");
        bytes.extend_from_slice(body);
        Self { bytes, date_at }
    }

    fn set_date(&mut self, date: &[u8]) {
        self.bytes[self.date_at..self.date_at + DATE_LEN].copy_from_slice(date);
    }
}

struct Responses {
    root: Canned,
    health: Canned,
    not_found: Canned,
    bad_request: Canned,
}

/// State shared by every connection of the (single) thread.
struct Shared {
    responses: RefCell<Responses>,
    /// Unix second the cached `Date` was formatted for.
    date_second: Cell<u64>,
    /// The cached `Date` value, for responses built per request.
    date: Cell<[u8; DATE_LEN]>,
    /// The `/db` route's connection, when `--db` was given.
    db: Option<rusqlite::Connection>,
    /// State of the `/db` route's random ids.
    seed: Cell<u32>,
}

impl Shared {
    fn new(root_body: &[u8], db: Option<rusqlite::Connection>) -> Self {
        let shared = Self {
            responses: RefCell::new(Responses {
                root: Canned::new("200 OK", "application/json", "", root_body),
                health: Canned::new("200 OK", "text/plain", "", b"OK"),
                not_found: Canned::new("404 Not Found", "text/plain", "", b"Not Found"),
                bad_request: Canned::new(
                    "400 Bad Request",
                    "text/plain",
                    "Connection: close\r\n",
                    b"Bad Request",
                ),
            }),
            date_second: Cell::new(u64::MAX),
            date: Cell::new([b' '; DATE_LEN]),
            db,
            seed: Cell::new(0x2545_F491),
        };
        shared.refresh_date();
        shared
    }

    /// Re-formats the `Date` value at most once per wall-clock second.
    fn refresh_date(&self) {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second == self.date_second.get() {
            return;
        }
        self.date_second.set(second);
        let date = httpdate::fmt_http_date(now);
        let date = date.as_bytes();
        debug_assert_eq!(date.len(), DATE_LEN);
        let mut cached = [b' '; DATE_LEN];
        cached.copy_from_slice(&date[..DATE_LEN]);
        self.date.set(cached);
        let mut r = self.responses.borrow_mut();
        r.root.set_date(date);
        r.health.set_date(date);
        r.not_found.set_date(date);
        r.bad_request.set_date(date);
    }

    /// Answers every complete request at the front of `input`, appending the
    /// responses to `out`. Returns how many input bytes were consumed and
    /// whether the connection must be closed once `out` is written.
    fn answer(&self, input: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
        self.refresh_date();
        let r = self.responses.borrow();
        let mut pos = 0;
        while pos < input.len() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            let head_len = match req.parse(&input[pos..]) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => break,
                Err(_) => {
                    out.extend_from_slice(&r.bad_request.bytes);
                    return (input.len(), true);
                }
            };
            // HTTP/1.0 closes after each response; HTTP/1.1 keeps alive.
            let mut close = req.version == Some(0);
            let mut body_len = 0usize;
            for h in req.headers.iter() {
                if h.name.eq_ignore_ascii_case("content-length") {
                    match std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse().ok())
                    {
                        Some(n) => body_len = n,
                        None => {
                            out.extend_from_slice(&r.bad_request.bytes);
                            return (input.len(), true);
                        }
                    }
                } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                    // No route takes a body; a chunked one is refused.
                    out.extend_from_slice(&r.bad_request.bytes);
                    return (input.len(), true);
                } else if h.name.eq_ignore_ascii_case("connection")
                    && h.value.trim_ascii().eq_ignore_ascii_case(b"close")
                {
                    close = true;
                }
            }
            let total = head_len.saturating_add(body_len);
            if input.len() - pos < total {
                // The body has not fully arrived; answer once it has.
                break;
            }
            let resp = match (req.method, req.path, &self.db) {
                (Some("GET"), Some("/"), _) => &r.root,
                (Some("GET"), Some("/healthcheck"), _) => &r.health,
                (Some("GET"), Some("/db"), Some(db)) => match self.world_row(db, out) {
                    Ok(()) => {
                        pos += total;
                        continue;
                    }
                    Err(_) => &r.bad_request,
                },
                _ => &r.not_found,
            };
            out.extend_from_slice(&resp.bytes);
            pos += total;
            if close {
                return (pos, true);
            }
        }
        (pos, false)
    }
}

impl Shared {
    /// `GET /db`: reads one random `world` row and appends the whole response to `out`.
    fn world_row(&self, db: &rusqlite::Connection, out: &mut Vec<u8>) -> rusqlite::Result<()> {
        let seed = xorshift(self.seed.get());
        self.seed.set(seed);
        let id = seed % WORLD_ROWS + 1;
        let mut stmt = db.prepare_cached("SELECT id, randomnumber FROM world WHERE id = ?1")?;
        let (id, number): (u32, u32) = stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let mut body = [0u8; 64];
        let mut cursor = io::Cursor::new(&mut body[..]);
        io::Write::write_fmt(
            &mut cursor,
            format_args!("{{\"id\": {id}, \"randomNumber\": {number}}}"),
        )
        .map_err(|_| rusqlite::Error::InvalidQuery)?;
        let len = cursor.position() as usize;
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ");
        let mut digits = [0u8; 10];
        let mut n = len;
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(&digits[at..]);
        out.extend_from_slice(b"\r\nDate: ");
        out.extend_from_slice(&self.date.get());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&body[..len]);
        Ok(())
    }
}

async fn serve_conn(mut stream: TcpStream, shared: Rc<Shared>) {
    let mut rbuf: Vec<u8> = Vec::with_capacity(READ_BUF);
    let mut wbuf: Vec<u8> = Vec::with_capacity(WRITE_BUF);
    loop {
        let filled = rbuf.len();
        if filled == rbuf.capacity() {
            if filled >= MAX_READ_BUF {
                return;
            }
            rbuf.reserve(filled);
        }
        let (res, slice) = stream.read(rbuf.slice_mut(filled..)).await;
        rbuf = slice.into_inner();
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }

        let (consumed, close) = shared.answer(&rbuf, &mut wbuf);
        if consumed == rbuf.len() {
            rbuf.clear();
        } else if consumed > 0 {
            rbuf.copy_within(consumed.., 0);
            rbuf.truncate(rbuf.len() - consumed);
        }

        if !wbuf.is_empty() {
            let (res, buf) = stream.write_all(wbuf).await;
            wbuf = buf;
            wbuf.clear();
            if res.is_err() {
                return;
            }
        }
        if close {
            return;
        }
    }
}

async fn serve(listen: SocketAddr, shared: Rc<Shared>) -> io::Result<()> {
    let opts = ListenerOpts::new()
        .reuse_port(true)
        .reuse_addr(true)
        .backlog(4096);
    let listener = TcpListener::bind_with_config(listen, &opts)?;
    println!("ready {}", listener.local_addr()?);
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                monoio::spawn(serve_conn(stream, shared.clone()));
            }
            // Out of descriptors or a connection reset before accept: keep serving.
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

/// The io_uring runtime. The ring is only ever used by this one thread, so it
/// is set up with COOP_TASKRUN (completions are posted when the thread next
/// enters the kernel, with no inter-processor interrupt) and SINGLE_ISSUER.
/// Kernels older than 6.0 reject those flags; a plain ring is used there.
fn build_uring_runtime() -> io::Result<monoio::Runtime<IoUringDriver>> {
    let mut tuned = io_uring::IoUring::builder();
    tuned.setup_coop_taskrun().setup_single_issuer();
    match RuntimeBuilder::<IoUringDriver>::new()
        .uring_builder(tuned)
        .build()
    {
        Ok(rt) => {
            eprintln!("io_uring: coop_taskrun, single_issuer");
            Ok(rt)
        }
        Err(e) => {
            eprintln!("io_uring: tuned setup refused ({e}); plain ring");
            RuntimeBuilder::<IoUringDriver>::new().build()
        }
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let body = match std::fs::read(&args.body_file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("--body-file {}: {e}", args.body_file);
            return ExitCode::from(2);
        }
    };
    if let Err(e) = pin_to_cpu(args.cpu) {
        eprintln!("--cpu {}: {e}", args.cpu);
        return ExitCode::from(2);
    }

    let db = match args.db.as_deref().map(open_world).transpose() {
        Ok(db) => db,
        Err(e) => {
            eprintln!("--db: {e}");
            return ExitCode::from(2);
        }
    };
    let shared = Rc::new(Shared::new(&body, db));
    let result = match args.driver {
        Driver::Uring => {
            build_uring_runtime().and_then(|mut rt| rt.block_on(serve(args.listen, shared)))
        }
        Driver::Legacy => RuntimeBuilder::<LegacyDriver>::new()
            .build()
            .and_then(|mut rt| rt.block_on(serve(args.listen, shared))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("minimal-monoio: {e}");
            ExitCode::FAILURE
        }
    }
}
