//! Process-level behaviour: ready line, worker pinning and sockets, configuration and paste
//! errors before any socket opens, and graceful shutdown on SIGTERM/SIGINT.

mod common;

use std::{
    io::Write,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use common::{read_response, Options, Server};

fn ringnova(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ringnova"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn check_config_accepts_the_shipped_files() {
    let out = ringnova(&["--check-config"], &common::repo_root());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("configuration OK (config/ringnova.conf"),
        "{stdout}"
    );
    // Without a config directory the embedded defaults are used.
    let dir = common::scratch_dir("nocfg");
    let out = ringnova(&["--check-config"], &dir);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("built-in defaults"));
}

#[test]
fn bad_configuration_is_reported_before_listening() {
    let dir = common::scratch_dir("badcfg");
    std::fs::write(dir.join("bad.conf"), "[ringnova]\ndriver = turbo\n").unwrap();
    let out = ringnova(
        &["--config-file", "bad.conf", "--listen", "127.0.0.1:0"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[ringnova] driver") && err.contains("bad.conf:2"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing may be served");

    let out = ringnova(&["--workers", "0", "--check-config"], &dir);
    assert_eq!(out.status.code(), Some(2));
    let out = ringnova(&["--config-file", "missing.conf"], &dir);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unknown_paste_names_are_rejected_with_file_and_line() {
    let dir = common::scratch_dir("badpaste");
    let shipped =
        std::fs::read_to_string(common::repo_root().join("config/api-paste.ini")).unwrap();
    let cases = [
        (
            shipped.replace(
                "compute_req_id faultwrap request_log http_proxy_to_wsgi oscomputeversionapp_v2",
                "compute_req_id bogus oscomputeversionapp_v2",
            ),
            "unknown filter or app \"bogus\"",
        ),
        (
            shipped.replace(
                "nova.api.openstack:FaultWrapper.factory",
                "nova.api.openstack:Nope.factory",
            ),
            "unknown filter factory",
        ),
        (
            shipped.replace(
                "pipeline = cors faultwrap request_log http_proxy_to_wsgi oscomputeversionapp",
                "pipeline = cors faultwrap",
            ),
            "does not end in an app",
        ),
    ];
    for (text, reason) in cases {
        std::fs::write(dir.join("api-paste.ini"), &text).unwrap();
        std::fs::write(
            dir.join("ringnova.conf"),
            "[wsgi]\napi_paste_config = api-paste.ini\n",
        )
        .unwrap();
        let out = ringnova(
            &["--config-file", "ringnova.conf", "--listen", "127.0.0.1:0"],
            &dir,
        );
        assert_eq!(out.status.code(), Some(2), "{reason}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(reason), "{err}");
        let line: usize = err
            .split("api-paste.ini:")
            .nth(1)
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no file:line in {err}"));
        assert!(line > 0, "{err}");
    }
}

fn tasks(pid: u32) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let path = entry.unwrap().path();
        let comm = std::fs::read_to_string(path.join("comm"))
            .unwrap()
            .trim()
            .to_owned();
        let status = std::fs::read_to_string(path.join("status")).unwrap();
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_owned();
        out.push((comm, cpus));
    }
    out
}

fn listening_sockets(port: u16) -> usize {
    let mut count = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields[1].rsplit(':').next().unwrap();
            if u16::from_str_radix(local_port, 16).unwrap() == port && fields[3] == "0A" {
                count += 1;
            }
        }
    }
    count
}

fn online_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        cpus.extend(lo.parse::<usize>().unwrap()..=hi.parse::<usize>().unwrap());
    }
    cpus
}

per_driver!(each_worker_is_pinned_and_has_its_own_socket, |driver| {
    let cpus = online_cpus();
    let pick: Vec<usize> = (0..2).map(|i| cpus[i % cpus.len()]).collect();
    let list = format!("{},{}", pick[0], pick[1]);
    let server = Server::with(Options {
        driver,
        workers: 2,
        cpus: Some(&list),
        ..Options::default()
    });
    assert!(
        server.ready_line.contains("with 2 workers"),
        "{}",
        server.ready_line
    );
    let expected_driver = if driver == "uring" {
        "driver io_uring"
    } else {
        "driver epoll"
    };
    assert!(
        server.ready_line.contains(expected_driver),
        "{}",
        server.ready_line
    );
    let tasks = tasks(server.pid());
    for (i, cpu) in pick.iter().enumerate() {
        let name = format!("ringnova-w{i}");
        let (_, allowed) = tasks
            .iter()
            .find(|(comm, _)| *comm == name)
            .unwrap_or_else(|| panic!("no {name} in {tasks:?}"));
        assert_eq!(
            allowed,
            &cpu.to_string(),
            "{name} must be pinned to CPU {cpu}"
        );
    }
    assert_eq!(
        listening_sockets(server.addr.port()),
        2,
        "one SO_REUSEPORT socket per worker"
    );
    // Both workers answer: many fresh connections spread over the group.
    for _ in 0..20 {
        assert_eq!(server.get("/healthcheck", "").status, 200);
    }
});

per_driver!(sigterm_drains_an_in_flight_request, |driver| {
    let server = Server::with_conf(driver, "[ringnova]\nshutdown_timeout = 10\n");
    // An idle keep-alive connection must not hold shutdown up.
    let mut idle = server.connect();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut idle).unwrap().status, 200);
    // A request whose body is still arriving when the signal comes.
    let mut busy = server.connect();
    busy.write_all(
        b"POST /v2.1/x HTTP/1.1\r\nHost: h\r\nX-Auth-Token: a\r\nContent-Length: 10\r\n\r\n01234",
    )
    .unwrap();
    thread::sleep(Duration::from_millis(200));
    server.signal("TERM");
    thread::sleep(Duration::from_millis(400));
    // New connections are no longer accepted once the listeners are closed.
    assert!(
        std::net::TcpStream::connect(server.addr).is_err(),
        "still accepting after SIGTERM"
    );
    busy.write_all(b"56789").unwrap();
    let resp = read_response(&mut busy).expect("the in-flight request is answered");
    resp.assert_fault(404, "itemNotFound");
    assert!(
        resp.closes(),
        "responses during shutdown close the connection"
    );
    let started = Instant::now();
    let (status, _stderr) = server.wait_exit(Duration::from_secs(10));
    let status = status.expect("the server exits after draining");
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drain waited for idle connections"
    );
});

per_driver!(sigint_with_nothing_in_flight_exits_promptly, |driver| {
    let server = Server::start(driver);
    assert_eq!(server.get("/", "").status, 200);
    server.signal("INT");
    let (status, _) = server.wait_exit(Duration::from_secs(5));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
});
