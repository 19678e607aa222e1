//! SIGHUP: the configuration and policy files are reloaded without dropping a connection.
//! A keep-alive connection opened before the reload keeps working after it, a request whose
//! body is still arriving when the signal lands completes, changed options take effect
//! (`[api] max_limit`, `[quota]` defaults, the log level, the access log), restart-only ones
//! are reported and stay, and a broken file changes nothing.

mod common;

use std::{
    io::Write,
    net::TcpStream,
    thread,
    time::{Duration, Instant},
};

use common::{read_response, Server};

const TOKEN: &str = "u1:p1";

/// The whole configuration file the server reads (it is rewritten before each SIGHUP).
fn write_conf(server: &Server, extra: &str) {
    let paste = common::repo_root().join("config").join("api-paste.ini");
    let text = format!("[wsgi]\napi_paste_config = {}\n{extra}\n", paste.display());
    std::fs::write(server.dir.join("ringnova.conf"), text).unwrap();
}

fn keep_alive_get(stream: &mut TcpStream, server: &Server, path: &str) -> common::Response {
    let raw = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: {TOKEN}\r\n\r\n",
        server.addr
    );
    stream.write_all(raw.as_bytes()).unwrap();
    let resp = read_response(stream).expect("a response on the kept-alive connection");
    assert!(
        !resp.closes(),
        "the server closed the keep-alive connection"
    );
    resp
}

fn flavor_count(stream: &mut TcpStream, server: &Server) -> usize {
    let resp = keep_alive_get(stream, server, "/v2.1/flavors");
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()["flavors"].as_array().unwrap().len()
}

fn default_instances(stream: &mut TcpStream, server: &Server) -> i64 {
    let resp = keep_alive_get(stream, server, "/v2.1/os-quota-sets/p1/defaults");
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()["quota_set"]["instances"].as_i64().unwrap()
}

/// Polls `probe` until it returns `want` (the reload is picked up within the main thread's
/// SIGHUP poll); panics after a few seconds.
fn eventually<T: PartialEq + std::fmt::Debug>(want: T, mut probe: impl FnMut() -> T) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = probe();
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "still {got:?}, wanted {want:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

per_driver!(sighup_reloads_without_dropping_connections, |driver| {
    let server = Server::with(common::Options {
        driver,
        workers: 2,
        ..common::Options::default()
    });
    write_conf(&server, "[ringnova]\nlog_level = warn\n");
    let mut kept = server.connect();
    let before = flavor_count(&mut kept, &server);
    assert!(before > 2, "the shipped flavors: {before}");
    assert_eq!(default_instances(&mut kept, &server), 10);

    // A request in flight: its head and half its body are in before the signal.
    let mut in_flight = server.connect();
    let body = r#"{"keypair": {"name": "during-reload"}}"#;
    let head = format!(
        "POST /v2.1/os-keypairs HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        body.len()
    );
    in_flight.write_all(head.as_bytes()).unwrap();
    in_flight.write_all(&body.as_bytes()[..10]).unwrap();

    write_conf(
        &server,
        "[ringnova]\nlog_level = debug\nbacklog = 77\n[api]\nmax_limit = 2\n\
         [quota]\ninstances = 3\n",
    );
    server.signal("HUP");
    eventually(2, || flavor_count(&mut kept, &server));
    assert_eq!(default_instances(&mut kept, &server), 3);
    // Fresh connections (on either worker) see the same.
    for _ in 0..4 {
        let resp = server.api("GET", "/v2.1/flavors", TOKEN, None, None);
        assert_eq!(resp.json()["flavors"].as_array().unwrap().len(), 2);
    }

    in_flight.write_all(&body.as_bytes()[10..]).unwrap();
    let created = read_response(&mut in_flight).expect("the in-flight request is answered");
    assert_eq!(created.status, 200, "{}", created.text());
    assert_eq!(created.json()["keypair"]["name"], "during-reload");

    // A broken file: refused, and the configuration in force stays.
    write_conf(
        &server,
        "[ringnova]\nlog_level = debug\n[api]\nmax_limit = lots\n",
    );
    server.signal("HUP");
    thread::sleep(Duration::from_millis(500));
    assert_eq!(flavor_count(&mut kept, &server), 2);
    assert_eq!(default_instances(&mut kept, &server), 3);

    // The same keep-alive connection, through all of it; the access log switched off.
    assert_eq!(
        keep_alive_get(&mut kept, &server, "/v2.1/flavors?phase=logged").status,
        200
    );
    write_conf(
        &server,
        "[ringnova]\nlog_level = debug\naccess_log = false\n",
    );
    server.signal("HUP");
    eventually(before, || flavor_count(&mut kept, &server));
    assert_eq!(
        keep_alive_get(&mut kept, &server, "/v2.1/flavors?phase=unlogged").status,
        200
    );

    server.signal("TERM");
    let (status, stderr) = server.wait_exit(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{status:?}: {stderr}");
    assert!(
        stderr.contains("configuration reloaded (generation 1)")
            && stderr.contains("[api] max_limit")
            && stderr.contains("[quota]"),
        "{stderr}"
    );
    // Restart-only: named with both values, and the running value stays.
    assert!(
        stderr.contains("[ringnova] backlog (in force 1024, file 77)"),
        "{stderr}"
    );
    // Only the changed restart-only option is named: the policy rules the loaded extensions
    // register at start-up are not mistaken for a change of [oslo_policy].
    assert!(!stderr.contains("[oslo_policy]"), "{stderr}");
    assert!(
        stderr.contains("configuration not reloaded") && stderr.contains("[api] max_limit"),
        "{stderr}"
    );
    // The log level went from warn to debug: debug lines appear only after the reload.
    let reloaded_at = stderr.find("configuration reloaded").unwrap();
    assert!(!stderr[..reloaded_at].contains(" DEBUG "), "{stderr}");
    assert!(stderr[reloaded_at..].contains(" DEBUG "), "{stderr}");
    assert!(
        stderr.contains("configuration reloaded (generation 2)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("GET /v2.1/flavors?phase=logged"),
        "{stderr}"
    );
    assert!(!stderr.contains("phase=unlogged"), "{stderr}");
});

per_driver!(sighup_rereads_policy_files_at_once, |driver| {
    const DENY: &str = "\"os_compute_api:os-keypairs:index\": \"!\"\n";
    const ALLOW: &str = "\"os_compute_api:os-keypairs:index\": \"@\"\n";
    let server = Server::start(driver);
    let policy = server.dir.join("policy.yaml");
    std::fs::write(&policy, DENY).unwrap();
    // The watcher notices the new file by itself.
    eventually(403, || keypairs_status(&server));
    // Rewritten in place with the same size and modification time: invisible to the
    // watcher, so only SIGHUP's forced re-read can pick it up.
    let stamp = std::fs::metadata(&policy).unwrap().modified().unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&policy)
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, ALLOW.as_bytes(), 0).unwrap();
    file.set_modified(stamp).unwrap();
    drop(file);
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(keypairs_status(&server), 403, "the watcher saw the rewrite");
    server.signal("HUP");
    eventually(200, || keypairs_status(&server));
    server.signal("TERM");
    let (status, stderr) = server.wait_exit(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{status:?}: {stderr}");
});

fn keypairs_status(server: &Server) -> u16 {
    server
        .api("GET", "/v2.1/os-keypairs", TOKEN, None, None)
        .status
}
