//! Listening sockets: one per worker, all bound to the same address with SO_REUSEPORT.
//!
//! Start-up only, on the main thread, so that a bad address or a port in use is reported
//! before any worker starts. Port 0 is resolved by the first socket and reused by the rest,
//! so every worker listens on the same ephemeral port. The kernel spreads new connections
//! across the group.
//!
//! Every socket has SO_REUSEPORT, so a newer process (same effective user) can bind the same
//! address while this one still listens: the zero-downtime upgrade (`server::handover`).
//!
//! It must never bind sockets on a worker thread: binding happens once, before any worker
//! starts, so an address error stops start-up.

use std::{io, net::SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

/// Binds `count` non-blocking listeners to `addr` with SO_REUSEPORT.
pub fn bind_group(
    addr: SocketAddr,
    count: usize,
    backlog: u32,
) -> io::Result<Vec<std::net::TcpListener>> {
    let mut listeners = Vec::with_capacity(count);
    let mut addr = addr;
    for _ in 0..count {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        if addr.is_ipv6() {
            socket.set_only_v6(false).ok();
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(backlog.min(i32::MAX as u32) as i32)?;
        let listener: std::net::TcpListener = socket.into();
        if addr.port() == 0 {
            addr = listener.local_addr()?;
        }
        listeners.push(listener);
    }
    Ok(listeners)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_shares_one_port() {
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 3, 16).unwrap();
        let port = group[0].local_addr().unwrap().port();
        assert_ne!(port, 0);
        assert!(group.iter().all(|l| l.local_addr().unwrap().port() == port));
    }

    #[test]
    fn a_second_group_joins_the_same_port() {
        // What a zero-downtime upgrade relies on: the next process binds the port while the
        // running one still listens on it.
        let running = bind_group("127.0.0.1:0".parse().unwrap(), 2, 16).unwrap();
        let addr = running[0].local_addr().unwrap();
        let next = bind_group(addr, 2, 16).unwrap();
        assert!(next.iter().all(|l| l.local_addr().unwrap() == addr));
        // A plain socket without SO_REUSEPORT is still refused.
        let plain = std::net::TcpListener::bind(addr).unwrap_err();
        assert_eq!(plain.kind(), io::ErrorKind::AddrInUse);
    }
}
