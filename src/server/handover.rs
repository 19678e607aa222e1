//! Zero-downtime handover (SIGQUIT): how a process being replaced by a newer one on the same
//! SO_REUSEPORT port stops taking connections without resetting any that the kernel has
//! already queued on its listening sockets.
//!
//! Closing a listener resets every connection still in its accept queue (and every handshake
//! in flight on it), and the kernel keeps spreading new connections over every socket of the
//! reuseport group until the moment it closes. Each core worker of the old process therefore,
//! after the new process is serving:
//!
//! 1. stops its normal accept loop (the pending accept is cancelled *and awaited*, so a
//!    connection handed over as the cancel went in is served, not leaked);
//! 2. if the kernel migrates queued connections on close (`net.ipv4.tcp_migrate_req = 1`,
//!    Linux 5.14+), accepts what is queued and closes: anything arriving after the last
//!    accept moves to a live listener of the group;
//! 3. otherwise attaches a socket filter that drops bare SYNs ([`refuse_new_connections`]):
//!    clients whose SYN hashes to this socket retransmit it (after 1 s) and by then reach a
//!    listener of the new process. Handshakes already under way still complete. For
//!    [`SETTLE`] it keeps accepting whatever completes, then accepts until the queue is empty
//!    and closes.
//!
//! The listening socket is only ever touched through a duplicate descriptor on the worker's
//! own thread. The server then sets the shutdown flag (see `server::worker`): each keep-alive
//! connection gets `Connection: close` on its next response, idle ones are closed after
//! [`IDLE_GRACE`], and the process exits. This module must never close a listener before
//! its queue has been accepted, and never runs on the request path. No `unsafe`.

use std::{
    io,
    net::TcpListener,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

/// How long a worker without kernel migration keeps accepting after it stops taking SYNs:
/// enough for handshakes in flight to complete, well under the 1 s SYN retransmission after
/// which refused clients come back.
pub const SETTLE: Duration = Duration::from_millis(250);

/// How long keep-alive connections idle at the handover are left open for a last request
/// (answered with `Connection: close`) before they are closed.
pub const IDLE_GRACE: Duration = Duration::from_secs(1);

/// The sysctl that makes the kernel move a closing listener's queue to its reuseport peers.
const MIGRATE_SYSCTL: &str = "/proc/sys/net/ipv4/tcp_migrate_req";

/// Whether the kernel migrates a closing listener's queued connections (`tcp_migrate_req`).
pub fn kernel_migrates() -> bool {
    std::fs::read_to_string(MIGRATE_SYSCTL).is_ok_and(|text| text.trim() == "1")
}

/// Classic BPF: drop a segment whose flags are SYN without ACK (a new connection), keep
/// everything else (the ACK that completes a handshake, data of accepted connections).
/// Offsets are from the TCP header, where the kernel runs socket filters for TCP.
const DROP_BARE_SYN: [libc::sock_filter; 5] = [
    // A = the TCP flags byte.
    bpf(libc::BPF_LD | libc::BPF_B | libc::BPF_ABS, 0, 0, 13),
    // A &= SYN | ACK.
    bpf(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, 0, 0, 0x12),
    // A == SYN: fall through to drop; otherwise skip to keep.
    bpf(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 0, 1, 0x02),
    bpf(libc::BPF_RET | libc::BPF_K, 0, 0, 0),
    bpf(libc::BPF_RET | libc::BPF_K, 0, 0, u32::MAX),
];

const fn bpf(code: u32, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// Makes `listener` drop new connection attempts (bare SYNs) while it still completes the
/// handshakes under way and keeps its queue; see the module doc.
pub fn refuse_new_connections(listener: &TcpListener) -> io::Result<()> {
    socket2::SockRef::from(listener).attach_filter(&DROP_BARE_SYN)
}

/// The handover's shared state: requested by SIGQUIT, complete once every worker has closed
/// its listener.
#[derive(Debug, Default)]
pub struct Handover {
    /// Set by SIGQUIT.
    pub requested: Arc<AtomicBool>,
    /// Workers whose listener is closed.
    closed: AtomicUsize,
}

impl Handover {
    /// Whether SIGQUIT asked for a handover.
    #[inline]
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// Records that one more worker closed its listener; true for the last of `workers`.
    pub fn listener_closed(&self, workers: usize) -> bool {
        self.closed.fetch_add(1, Ordering::AcqRel) + 1 == workers
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        net::{SocketAddr, TcpStream},
    };

    use super::*;

    fn listener() -> (TcpListener, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        (listener, addr)
    }

    #[test]
    fn new_connections_are_dropped_and_established_ones_keep_working() {
        let (listener, addr) = listener();
        let mut before = TcpStream::connect(addr).unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        refuse_new_connections(&listener).unwrap();
        // The SYN is dropped, so the attempt times out instead of completing (or being
        // refused, which would mean a reset).
        let err = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        // The connection accepted before keeps exchanging data both ways.
        before.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        accepted.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        accepted.write_all(b"pong").unwrap();
        before.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
    }

    #[test]
    fn queued_connections_stay_acceptable() {
        let (listener, addr) = listener();
        let mut queued = TcpStream::connect(addr).unwrap();
        queued.write_all(b"hello").unwrap();
        refuse_new_connections(&listener).unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        let mut buf = [0u8; 5];
        accepted.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
    }

    #[test]
    fn the_last_worker_completes_the_handover() {
        let handover = Handover::default();
        assert!(!handover.requested());
        assert!(!handover.listener_closed(2));
        assert!(handover.listener_closed(2));
    }
}
