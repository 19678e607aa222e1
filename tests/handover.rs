//! SIGQUIT hands the port over to a newer process on the same SO_REUSEPORT port: under a load
//! of new connections (one per request) and keep-alive ones, no request fails while the old
//! process stops accepting, serves what its listeners had queued, and exits. Keep-alive
//! connections to it end cleanly: `Connection: close` on their next response, or a plain
//! close (no reset) when idle.

mod common;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use common::{read_response, Server};

const REQUEST: &str = "GET /v2.1/ HTTP/1.1\r\nHost: h\r\n";

/// Starts a second process on `server`'s port, with its configuration and data; returns it
/// once it reports ready.
fn start_next(server: &Server, driver: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringnova"))
        .arg("--config-file")
        .arg(server.dir.join("ringnova.conf"))
        .arg("--listen")
        .arg(server.addr.to_string())
        .args(["--workers", "2", "--cpus", "off", "--driver", driver])
        .arg("--data-dir")
        .arg(server.dir.join("data"))
        .current_dir(&server.dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the next ringnova");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    if !line.contains("ringnova ready") {
        let _ = child.kill();
        panic!("the next process did not become ready: {line:?}");
    }
    child
}

/// Counts of one client's requests.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    failed: AtomicUsize,
}

/// One request per new connection until `stop`.
fn new_connection_client(addr: SocketAddr, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    while !stop.load(Ordering::Relaxed) {
        let outcome = TcpStream::connect(addr).and_then(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(format!("{REQUEST}Connection: close\r\n\r\n").as_bytes())?;
            Ok(read_response(&mut stream))
        });
        match outcome {
            Ok(Some(resp)) if resp.status == 200 => tally.ok.fetch_add(1, Ordering::Relaxed),
            _ => tally.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// Requests on a keep-alive connection, reconnecting only when a response says
/// `Connection: close`, until `stop`.
fn keep_alive_client(addr: SocketAddr, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut stream: Option<TcpStream> = None;
    while !stop.load(Ordering::Relaxed) {
        let conn = match stream.as_mut() {
            Some(conn) => conn,
            None => match TcpStream::connect(addr) {
                Ok(conn) => {
                    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    stream.insert(conn)
                }
                Err(_) => {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            },
        };
        let sent = conn.write_all(format!("{REQUEST}\r\n").as_bytes());
        // A reset or an early EOF here is what the handover must never cause.
        let resp = sent
            .ok()
            .and_then(|()| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_response(conn))).ok()
            })
            .flatten();
        match resp {
            Some(resp) if resp.status == 200 => {
                tally.ok.fetch_add(1, Ordering::Relaxed);
                if resp.closes() {
                    stream = None;
                }
            }
            _ => {
                tally.failed.fetch_add(1, Ordering::Relaxed);
                stream = None;
            }
        }
    }
}

per_driver!(sigquit_hands_over_without_failing_a_request, |driver| {
    let old = Server::with(common::Options {
        driver,
        workers: 2,
        conf: "[ringnova]\nlog_level = info\naccess_log = false\n",
        ..common::Options::default()
    });
    let addr = old.addr;
    // Connected before the next process exists, so it belongs to the old one.
    let mut idle = old.connect();
    idle.write_all(format!("{REQUEST}\r\n").as_bytes()).unwrap();
    assert_eq!(read_response(&mut idle).unwrap().status, 200);

    let stop = Arc::new(AtomicBool::new(false));
    let fresh = Arc::new(Tally::default());
    let kept = Arc::new(Tally::default());
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (stop, fresh) = (Arc::clone(&stop), Arc::clone(&fresh));
        clients.push(thread::spawn(move || {
            new_connection_client(addr, stop, fresh)
        }));
    }
    for _ in 0..2 {
        let (stop, kept) = (Arc::clone(&stop), Arc::clone(&kept));
        clients.push(thread::spawn(move || keep_alive_client(addr, stop, kept)));
    }
    thread::sleep(Duration::from_millis(300));
    let mut next = start_next(&old, driver);
    thread::sleep(Duration::from_millis(200));
    old.signal("QUIT");
    let started = Instant::now();
    let before_exit = fresh.ok.load(Ordering::Relaxed);
    let (status, stderr) = old.wait_exit(Duration::from_secs(15));
    assert!(status.is_some_and(|s| s.success()), "{status:?}: {stderr}");
    assert!(
        stderr.contains("handover: every listener is closed"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the handover waited {:?}",
        started.elapsed()
    );
    // The idle keep-alive connection was closed cleanly: EOF, not a reset.
    let mut byte = [0u8; 1];
    assert_eq!(idle.read(&mut byte).expect("a clean close, not a reset"), 0);
    // The load goes on against the next process alone.
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let _ = next.kill();
    let _ = next.wait();
    let (fresh_ok, kept_ok) = (
        fresh.ok.load(Ordering::Relaxed),
        kept.ok.load(Ordering::Relaxed),
    );
    assert_eq!(
        (
            fresh.failed.load(Ordering::Relaxed),
            kept.failed.load(Ordering::Relaxed)
        ),
        (0, 0),
        "failed requests (new-connection, keep-alive) with {fresh_ok} and {kept_ok} served"
    );
    assert!(
        fresh_ok > before_exit,
        "no request served after the handover"
    );
    assert!(kept_ok > 0);
});

per_driver!(
    tasks_started_during_the_handover_are_driven_by_the_next_process,
    |driver| {
        let old = Server::with(common::Options {
            driver,
            conf: "[fake_driver]\nbuild_time = 3\n",
            ..common::Options::default()
        });
        // Opened before the next process exists: the build is started by the old one.
        let mut conn = old.connect();
        let mut next = start_next(&old, driver);
        let body = serde_json::json!({"server": {"name": "handover", "flavorRef": "1",
        "imageRef": "70a599e0-31e7-49b7-b260-868f441e862b", "networks": "auto"}})
        .to_string();
        let request = format!(
            "POST /v2.1/servers HTTP/1.1\r\nHost: h\r\nX-Auth-Token: demo:demo\r\n\
         OpenStack-API-Version: compute 2.37\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(request.as_bytes()).unwrap();
        let created = read_response(&mut conn).expect("the create is answered");
        assert_eq!(created.status, 202, "{}", created.text());
        let id = created.json()["server"]["id"].as_str().unwrap().to_owned();
        // The old process exits in the middle of the build (it waits for connections, not
        // for tasks); the next one, which started before the build, must take it over.
        old.signal("QUIT");
        let addr = old.addr;
        let (status, stderr) = old.wait_exit(Duration::from_secs(15));
        assert!(status.is_some_and(|s| s.success()), "{status:?}: {stderr}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            stream
                .write_all(
                    format!(
                        "GET /v2.1/servers/{id} HTTP/1.1\r\nHost: h\r\nX-Auth-Token: demo:demo\r\n\
                     Connection: close\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .unwrap();
            let resp = read_response(&mut stream).unwrap();
            assert_eq!(resp.status, 200, "{}", resp.text());
            let state = resp.json()["server"]["status"].as_str().unwrap().to_owned();
            if state == "ACTIVE" {
                break;
            }
            assert_eq!(state, "BUILD");
            assert!(
                Instant::now() < deadline,
                "the build started before the handover never finished"
            );
            thread::sleep(Duration::from_millis(100));
        }
        let _ = next.kill();
        let _ = next.wait();
    }
);
