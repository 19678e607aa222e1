//! systemd's readiness protocol (`sd_notify`): one datagram of `KEY=value` lines sent to the
//! unix socket named by `$NOTIFY_SOCKET`, so a `Type=notify` unit is reported started only
//! once every worker serves, and stopping as soon as the drain begins.
//!
//! std only: a path socket, or an abstract one when the name starts with `@`. Without
//! `$NOTIFY_SOCKET` nothing is sent. It must never block the caller (datagram send, never a
//! connect-and-wait), never fail the server because the supervisor is gone (errors are
//! returned to be logged), and never send anything but the states listed in its callers.

use std::{fmt, io, os::unix::net::UnixDatagram};

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Why a notification could not be sent.
#[derive(Debug)]
pub enum NotifyError {
    /// `$NOTIFY_SOCKET` is neither an absolute path nor an `@` abstract name.
    BadAddress(String),
    /// Creating the socket or sending the datagram failed.
    Send(String, io::Error),
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::BadAddress(addr) => {
                write!(f, "{NOTIFY_SOCKET}={addr:?} is not a unix socket address")
            }
            NotifyError::Send(addr, err) => write!(f, "cannot notify {addr}: {err}"),
        }
    }
}

impl std::error::Error for NotifyError {}

/// Sends `state` (newline-separated `KEY=value` assignments, e.g. `READY=1`) to the socket
/// named by `$NOTIFY_SOCKET`. Returns `Ok(false)` when the variable is unset or empty (not
/// run under a notify-aware supervisor), `Ok(true)` once the datagram is sent.
pub fn notify(state: &str) -> Result<bool, NotifyError> {
    match std::env::var_os(NOTIFY_SOCKET) {
        Some(addr) if !addr.is_empty() => {
            send_to(&addr.to_string_lossy(), state)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Sends `state` to the notify socket `addr` (a path, or `@name` for the abstract
/// namespace).
pub fn send_to(addr: &str, state: &str) -> Result<(), NotifyError> {
    let socket = UnixDatagram::unbound().map_err(|err| NotifyError::Send(addr.into(), err))?;
    let sent = if let Some(name) = addr.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let target = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .map_err(|err| NotifyError::Send(addr.into(), err))?;
        socket.send_to_addr(state.as_bytes(), &target)
    } else if addr.starts_with('/') {
        socket.send_to(state.as_bytes(), addr)
    } else {
        return Err(NotifyError::BadAddress(addr.into()));
    };
    match sent {
        Ok(n) if n == state.len() => Ok(()),
        Ok(n) => Err(NotifyError::Send(
            addr.into(),
            io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {n} of {} bytes", state.len()),
            ),
        )),
        Err(err) => Err(NotifyError::Send(addr.into(), err)),
    }
}

/// `READY=1` with the ready line as the unit's status text.
pub fn ready_message(line: &str) -> String {
    format!("READY=1\nSTATUS={}", status_text(line))
}

/// `STOPPING=1` with a status text saying the server drains.
pub fn stopping_message() -> String {
    "STOPPING=1\nSTATUS=draining in-flight requests".to_string()
}

/// A status value on one line (a newline would start another assignment).
fn status_text(line: &str) -> String {
    line.trim().replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receive(socket: &UnixDatagram) -> String {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn sends_to_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("ringnova-notify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        send_to(
            path.to_str().unwrap(),
            &ready_message("ringnova ready: x\n"),
        )
        .unwrap();
        assert_eq!(receive(&listener), "READY=1\nSTATUS=ringnova ready: x");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("ringnova-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        send_to(&format!("@{name}"), &stopping_message()).unwrap();
        assert!(receive(&listener).starts_with("STOPPING=1\n"));
    }

    #[test]
    fn refuses_a_relative_address_and_reports_a_missing_socket() {
        assert!(matches!(
            send_to("notify.sock", "READY=1"),
            Err(NotifyError::BadAddress(_))
        ));
        assert!(matches!(
            send_to("/nonexistent/ringnova/notify.sock", "READY=1"),
            Err(NotifyError::Send(..))
        ));
    }
}
