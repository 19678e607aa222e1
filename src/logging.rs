//! Logging: the process logger and the access-log thread.
//!
//! Workers never format or write access-log lines: the `request_log` filter copies a few
//! fixed-size fields into an [`AccessRecord`] and `try_send`s it over a bounded channel to the
//! `ringnova-log` thread, which formats the line (`[ringnova] log_format`: text, json or
//! logfmt, see [`format`]) and writes it to stderr in batches. When the channel is full the
//! record is dropped and counted, so a slow terminal can never stall a core. Other log lines
//! (start-up, errors) go through the `log` facade: the calling thread renders only the
//! message, into a fixed-size [`InlineText`], and queues it with its level, logger, time and
//! request id on the same channel (so log and access lines keep their order); a message too
//! long to copy, a full queue, or no logging thread yet, and the line is written where it was
//! logged, so no error line is lost.
//!
//! The request id of the request a worker is answering is kept in a thread-local slot
//! ([`RequestScope`], entered by the `compute_req_id` filter), so every line logged while a
//! request is answered carries it.
//!
//! Both the level ([`set_level`]) and the access-log switch ([`set_access_enabled`]) change
//! at run time (SIGHUP); reading them is one relaxed atomic load.

pub mod format;

use std::{
    cell::Cell,
    io::Write,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering},
        OnceLock,
    },
    thread,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crossbeam_channel::{bounded, Receiver, Sender};

pub use format::LogFormat;

use crate::api::microversion::ApiVersion;

/// Records the access-log channel holds before new ones are dropped.
pub const ACCESS_QUEUE: usize = 16 * 1024;

/// Up to `N` bytes of text stored inline; longer text is cut.
#[derive(Clone, Copy)]
pub struct InlineText<const N: usize> {
    len: u16,
    bytes: [u8; N],
}

impl<const N: usize> InlineText<N> {
    /// Copies at most `N` bytes of `text`.
    pub fn new(text: &[u8]) -> Self {
        let len = text.len().min(N);
        let mut bytes = [0u8; N];
        bytes[..len].copy_from_slice(&text[..len]);
        InlineText {
            len: len as u16,
            bytes,
        }
    }

    /// The stored bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl<const N: usize> std::fmt::Write for InlineText<N> {
    /// Appends `text` whole, or fails (appending nothing) when it does not fit.
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let len = self.len as usize;
        let end = len + text.len();
        if end > N {
            return Err(std::fmt::Error);
        }
        self.bytes[len..end].copy_from_slice(text.as_bytes());
        self.len = end as u16;
        Ok(())
    }
}

impl<const N: usize> std::fmt::Debug for InlineText<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// One access-log entry, copied by value into the channel (no heap).
#[derive(Debug, Clone, Copy)]
pub struct AccessRecord {
    /// Client address (or the proxy-given one).
    pub remote: InlineText<64>,
    /// Method token.
    pub method: InlineText<16>,
    /// Request target.
    pub uri: InlineText<512>,
    /// Response status.
    pub status: u16,
    /// Response body length.
    pub len: u64,
    /// Negotiated microversion.
    pub microversion: Option<ApiVersion>,
    /// Time spent, in microseconds.
    pub micros: u64,
    /// The request id, if assigned.
    pub request_id: Option<[u8; 40]>,
    /// The global request id the client sent, if accepted.
    pub global_request_id: Option<[u8; 40]>,
}

/// Longest log message queued to the logging thread; longer ones are written where they
/// were logged.
pub const MESSAGE_MAX: usize = 512;

/// One log line as the logging thread receives it: the message already rendered.
#[derive(Debug, Clone, Copy)]
struct LogRecord {
    time: SystemTime,
    level: log::Level,
    target: InlineText<64>,
    request_id: Option<[u8; 40]>,
    message: InlineText<MESSAGE_MAX>,
}

// Records travel by value: a boxed record would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Message {
    Access(AccessRecord),
    Log(LogRecord),
    Flush(Sender<()>),
}

static ACCESS: OnceLock<Sender<Message>> = OnceLock::new();
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// `[ringnova] access_log` as last (re)loaded.
static ACCESS_ENABLED: AtomicBool = AtomicBool::new(true);

/// Switches access-log lines on or off (the `request_log` filter must be in the pipeline
/// for lines to be written at all).
pub fn set_access_enabled(enabled: bool) {
    ACCESS_ENABLED.store(enabled, Ordering::Relaxed);
}

/// Whether access-log lines are written.
#[inline]
pub fn access_enabled() -> bool {
    ACCESS_ENABLED.load(Ordering::Relaxed)
}

/// Changes the least severe level logged.
pub fn set_level(level: log::LevelFilter) {
    log::set_max_level(level);
}

/// The [`LogFormat`] lines are written in, as its index.
static FORMAT: AtomicU8 = AtomicU8::new(0);

const FORMATS: [LogFormat; 3] = [LogFormat::Text, LogFormat::Json, LogFormat::Logfmt];

/// Sets the line format (`[ringnova] log_format`); takes effect from the next line.
pub fn set_format(format: LogFormat) {
    let index = FORMATS.iter().position(|f| *f == format).unwrap_or(0);
    FORMAT.store(index as u8, Ordering::Relaxed);
}

/// The line format in force.
pub fn current_format() -> LogFormat {
    FORMATS[usize::from(FORMAT.load(Ordering::Relaxed)) % FORMATS.len()]
}

thread_local! {
    /// The request id of the request this thread is answering.
    static REQUEST_ID: Cell<Option<[u8; 40]>> = const { Cell::new(None) };
}

/// While alive, lines logged on this thread carry `request_id`; the previous one is back
/// when it is dropped (also on unwinding).
#[derive(Debug)]
pub struct RequestScope {
    previous: Option<[u8; 40]>,
}

impl RequestScope {
    /// Enters the scope of a request (or of none).
    #[inline]
    pub fn enter(request_id: Option<&[u8; 40]>) -> RequestScope {
        RequestScope {
            previous: REQUEST_ID.replace(request_id.copied()),
        }
    }
}

impl Drop for RequestScope {
    #[inline]
    fn drop(&mut self) {
        REQUEST_ID.set(self.previous);
    }
}

/// The request id of the request this thread is answering, if any.
pub fn current_request_id() -> Option<[u8; 40]> {
    REQUEST_ID.get()
}

/// Hands a record to the logging thread; drops it (and counts) if the queue is full.
pub fn access(record: AccessRecord) {
    if let Some(sender) = ACCESS.get() {
        if sender.try_send(Message::Access(record)).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Access records dropped because the queue was full.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Waits (up to `timeout`) until every queued access record has been written.
pub fn flush(timeout: Duration) {
    if let Some(sender) = ACCESS.get() {
        let (done, wait) = bounded(1);
        if sender.send_timeout(Message::Flush(done), timeout).is_ok() {
            let _ = wait.recv_timeout(timeout);
        }
    }
}

/// Writes to stderr whatever passes `log::max_level()` (which [`set_level`] changes).
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut queued = LogRecord {
            time: SystemTime::now(),
            level: record.level(),
            target: InlineText::new(record.target().as_bytes()),
            request_id: current_request_id(),
            message: InlineText::new(b""),
        };
        let fits = std::fmt::write(&mut queued.message, *record.args()).is_ok();
        if fits {
            if let Some(sender) = ACCESS.get() {
                if sender.try_send(Message::Log(queued)).is_ok() {
                    return;
                }
            }
        }
        let message = record.args().to_string();
        let mut line = Vec::with_capacity(message.len() + 128);
        format::log_line(
            &mut line,
            current_format(),
            &format::LogLine {
                time: queued.time,
                level: queued.level,
                target: record.target(),
                request_id: queued.request_id.as_ref(),
                message: &message,
            },
        );
        let _ = std::io::stderr().lock().write_all(&line);
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Installs the logger and starts the access-log thread. Call once, at start-up.
pub fn init(level: log::LevelFilter) {
    static LOGGER: StderrLogger = StderrLogger;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
    if ACCESS.get().is_some() {
        return;
    }
    let (sender, receiver) = bounded(ACCESS_QUEUE);
    if ACCESS.set(sender).is_ok() {
        let spawned = thread::Builder::new()
            .name("ringnova-log".into())
            .spawn(move || write_access_lines(&receiver));
        if let Err(err) = spawned {
            log::error!("cannot start the access-log thread: {err}");
        }
    }
}

fn write_access_lines(receiver: &Receiver<Message>) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
    let mut line = Vec::with_capacity(512);
    while let Ok(message) = receiver.recv() {
        let mut next = Some(message);
        while let Some(message) = next {
            match message {
                Message::Access(record) => {
                    line.clear();
                    format::access_line(&mut line, current_format(), &record, SystemTime::now());
                    let _ = out.write_all(&line);
                }
                Message::Log(record) => {
                    line.clear();
                    let target = String::from_utf8_lossy(record.target.as_bytes());
                    let message = String::from_utf8_lossy(record.message.as_bytes());
                    format::log_line(
                        &mut line,
                        current_format(),
                        &format::LogLine {
                            time: record.time,
                            level: record.level,
                            target: &target,
                            request_id: record.request_id.as_ref(),
                            message: &message,
                        },
                    );
                    let _ = out.write_all(&line);
                }
                Message::Flush(done) => {
                    let _ = out.flush();
                    let _ = done.send(());
                }
            }
            next = receiver.try_recv().ok();
        }
        let _ = out.flush();
    }
}

/// Formats Nova's request_log line.
pub fn format_access(line: &mut String, r: &AccessRecord, now: SystemTime) {
    use std::fmt::Write as _;
    let version = r
        .microversion
        .map_or_else(|| "-".to_string(), |v| v.to_string());
    let request_id = r
        .request_id
        .as_ref()
        .map_or("-", |id| std::str::from_utf8(id).unwrap_or("-"));
    let _ = writeln!(
        line,
        "{} INFO ringnova.access: [{}] {} \"{} {}\" status: {} len: {} microversion: {} time: {:.6}",
        timestamp(now),
        request_id,
        String::from_utf8_lossy(r.remote.as_bytes()),
        String::from_utf8_lossy(r.method.as_bytes()),
        String::from_utf8_lossy(r.uri.as_bytes()),
        r.status,
        r.len,
        version,
        r.micros as f64 / 1e6,
    );
}

/// RFC 3339 UTC timestamp with milliseconds.
pub fn timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The text form of a socket address, inline.
pub fn remote_text(peer: SocketAddr) -> InlineText<64> {
    let mut buf = [0u8; 64];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cursor, "{}", peer.ip());
    let len = cursor.position() as usize;
    InlineText::new(&buf[..len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        assert_eq!(timestamp(t), "2026-11-18T11:06:40.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&timestamp(leap)[..10], "2000-02-29");
    }

    #[test]
    fn access_line_has_novas_fields() {
        let record = AccessRecord {
            remote: remote_text("10.0.0.1:5000".parse().unwrap()),
            method: InlineText::new(b"GET"),
            uri: InlineText::new(b"/v2.1/servers?limit=1"),
            status: 200,
            len: 42,
            microversion: Some(ApiVersion::new(2, 1)),
            micros: 1500,
            request_id: None,
            global_request_id: None,
        };
        let mut line = String::new();
        format_access(&mut line, &record, UNIX_EPOCH);
        assert!(
            line.ends_with(
                "10.0.0.1 \"GET /v2.1/servers?limit=1\" status: 200 len: 42 microversion: 2.1 time: 0.001500\n"
            ),
            "{line}"
        );
    }

    #[test]
    fn inline_text_truncates() {
        let text = InlineText::<4>::new(b"abcdef");
        assert_eq!(text.as_bytes(), b"abcd");
    }

    #[test]
    fn inline_text_takes_formatted_text_that_fits() {
        use std::fmt::Write as _;
        let mut text = InlineText::<8>::new(b"");
        let (number, long) = (12, "toolong");
        assert!(write!(text, "{number}-ab").is_ok());
        assert_eq!(text.as_bytes(), b"12-ab");
        assert!(write!(text, "{long}").is_err());
        assert_eq!(
            text.as_bytes(),
            b"12-ab",
            "nothing of a piece that does not fit"
        );
    }

    #[test]
    fn request_scopes_nest_and_restore() {
        let a = *b"req-aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
        let b = *b"req-bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
        assert_eq!(current_request_id(), None);
        {
            let _outer = RequestScope::enter(Some(&a));
            assert_eq!(current_request_id(), Some(a));
            {
                let _inner = RequestScope::enter(Some(&b));
                assert_eq!(current_request_id(), Some(b));
            }
            assert_eq!(current_request_id(), Some(a));
            let unwound = std::panic::catch_unwind(|| {
                let _scope = RequestScope::enter(Some(&b));
                panic!("handler panicked");
            });
            assert!(unwound.is_err());
            assert_eq!(current_request_id(), Some(a), "restored while unwinding");
        }
        assert_eq!(current_request_id(), None);
    }
}
