//! systemd readiness (`Type=notify`): the real binary, started with `$NOTIFY_SOCKET` naming a
//! unix datagram socket the test owns, must send `READY=1` only once it answers requests, and
//! `STOPPING=1` when SIGTERM starts the drain — for a path socket and an abstract (`@`) one.

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    os::unix::net::UnixDatagram,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{drivers, repo_root, scratch_dir};

fn receive(socket: &UnixDatagram, timeout: Duration) -> String {
    socket.set_read_timeout(Some(timeout)).unwrap();
    let mut buf = [0u8; 1024];
    let n = socket
        .recv(&mut buf)
        .expect("a notification before the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Port of the listening socket, from the status text of the READY=1 message.
fn port_from_status(message: &str) -> u16 {
    message
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address in {message:?}"))
}

fn healthcheck(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}

/// Starts ringnova with `NOTIFY_SOCKET=notify_addr`, reads READY=1 from `socket`, checks the
/// server answers, sends SIGTERM, reads STOPPING=1, and checks a clean exit.
fn ready_then_stopping(driver: &str, socket: &UnixDatagram, notify_addr: &str) {
    let dir = scratch_dir("notify");
    let conf = dir.join("ringnova.conf");
    std::fs::write(
        &conf,
        format!(
            "[wsgi]\napi_paste_config = {}\n[ringnova]\nlog_level = warn\n",
            repo_root().join("config/api-paste.ini").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringnova"))
        .arg("--config-file")
        .arg(&conf)
        .args(["--listen", "127.0.0.1:0", "--workers", "2", "--cpus", "off"])
        .args(["--driver", driver])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("NOTIFY_SOCKET", notify_addr)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = receive(socket, Duration::from_secs(30));
    assert!(ready.starts_with("READY=1\n"), "{ready:?}");
    assert!(ready.contains("\nSTATUS=ringnova ready: listening on http://127.0.0.1:"));
    assert!(ready.contains("with 2 workers"), "{ready:?}");
    // Ready means serving: the first request after READY=1 is answered.
    let answer = healthcheck(port_from_status(&ready));
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let stopping = receive(socket, Duration::from_secs(10));
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "ringnova did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    // Exactly two notifications: nothing else is sent.
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    assert!(
        socket.recv(&mut buf).is_err(),
        "an unexpected third message"
    );
}

#[test]
fn path_socket_gets_ready_and_stopping() {
    for driver in drivers() {
        let dir = scratch_dir("notify-sock");
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        ready_then_stopping(&driver, &socket, path.to_str().unwrap());
    }
}

#[test]
fn abstract_socket_gets_ready_and_stopping() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("ringnova-sd-notify-it-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let socket = UnixDatagram::bind_addr(&addr).unwrap();
    let driver = drivers()
        .into_iter()
        .next()
        .unwrap_or_else(|| "legacy".into());
    ready_then_stopping(&driver, &socket, &format!("@{name}"));
}

#[test]
fn without_a_supervisor_nothing_is_required() {
    // A notify socket that does not exist is logged, not fatal: the server still serves.
    let dir = scratch_dir("notify-missing");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringnova"))
        .args(["--listen", "127.0.0.1:0", "--workers", "1", "--cpus", "off"])
        .args(["--driver", "legacy"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .current_dir(&dir)
        .env("NOTIFY_SOCKET", dir.join("absent.sock"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).is_ok_and(|n| n == 1) && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let port = port_from_status(&line);
    assert!(healthcheck(port).starts_with("HTTP/1.1 200 "));
    let _ = child.kill();
    let _ = child.wait();
}
