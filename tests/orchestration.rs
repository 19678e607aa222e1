//! The orchestration thread under load and failure: builds reach ACTIVE within the configured
//! time, concurrent creates (and resizes, for cores) across two workers respect the quota
//! exactly, a full queue answers 503 without writing (to creates and actions), and a kill -9
//! in the middle of builds leaves nothing transitional once the binary restarts on the same
//! database.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::{Arc, Barrier},
    thread,
    time::{Duration, Instant},
};

use common::{Options, Server};
use rusqlite::Connection;
use serde_json::json;

const DEMO: &str = "demo:demo";
const IMAGE: &str = "70a599e0-31e7-49b7-b260-868f441e862b";

fn db_path(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("data").join("ringnova.sqlite")
}

fn db(server: &Server) -> Connection {
    let conn = Connection::open(db_path(&server.dir)).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

fn seed_image(server: &Server) {
    db(server)
        .execute(
            "INSERT OR IGNORE INTO images (id, name, created_at, updated_at) \
             VALUES (?1, 'cirros', '2024-01-01T00:00:00.000000', '2024-01-01T00:00:00.000000')",
            [IMAGE],
        )
        .unwrap();
}

fn create(server: &Server, name: &str) -> common::Response {
    let body = json!({"server": {"name": name, "imageRef": IMAGE, "flavorRef": "1",
        "networks": "auto"}});
    server.api("POST", "/v2.1/servers", DEMO, Some("2.37"), Some(&body))
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn builds_reach_active_within_the_configured_time() {
    let server = Server::with(Options {
        conf: "[fake_driver]\nbuild_time = 0.3\n",
        ..Options::default()
    });
    seed_image(&server);
    let started = Instant::now();
    let ids: Vec<String> = (0..5)
        .map(|i| {
            let resp = create(&server, &format!("b{i}"));
            assert_eq!(resp.status, 202, "{}", resp.text());
            resp.json()["server"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let conn = db(&server);
    // Right after the 202: building / scheduling.
    let (vm, task): (String, Option<String>) = conn
        .query_row(
            "SELECT vm_state, task_state FROM instances WHERE uuid = ?1",
            [&ids[4]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(vm, "building");
    assert!(
        matches!(task.as_deref(), Some("scheduling" | "networking")),
        "{task:?}"
    );
    let deadline = started + Duration::from_secs(5);
    loop {
        let active = count(
            &conn,
            "SELECT count(*) FROM instances WHERE vm_state = 'active' AND task_state IS NULL",
        );
        if active == 5 {
            break;
        }
        assert!(Instant::now() < deadline, "{active} of 5 active");
        thread::sleep(Duration::from_millis(20));
    }
    // Concurrent, not one after another: five builds of 0.3 s took well under 1.5 s.
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    // Each build's last step deleted its task: the table is the queue of unfinished tasks.
    assert_eq!(count(&conn, "SELECT count(*) FROM tasks"), 0);
}

#[test]
fn concurrent_creates_across_two_workers_respect_the_quota() {
    let server = Server::with(Options {
        workers: 2,
        conf: "[quota]\ninstances = 3\n[fake_driver]\nbuild_time = 0.2\n",
        ..Options::default()
    });
    seed_image(&server);
    let server = Arc::new(server);
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let server = Arc::clone(&server);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                create(&server, &format!("race{i}"))
            })
        })
        .collect();
    let responses: Vec<common::Response> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let created = responses.iter().filter(|r| r.status == 202).count();
    let refused: Vec<_> = responses.iter().filter(|r| r.status == 403).collect();
    assert_eq!(
        created,
        3,
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(refused.len(), 5);
    for resp in refused {
        resp.assert_fault(403, "forbidden");
        assert_eq!(
            resp.json()["forbidden"]["message"],
            "Quota exceeded for instances: Requested 1, but already used 3 of 3 instances"
        );
    }
    assert_eq!(
        count(
            &db(&server),
            "SELECT count(*) FROM instances WHERE deleted = 0"
        ),
        3
    );
}

/// Polls until every server of `ids` has no task and is in `vm_state`.
fn wait_all(conn: &Connection, ids: &[String], vm_state: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for id in ids {
        loop {
            let settled: bool = conn
                .query_row(
                    "SELECT vm_state = ?2 AND task_state IS NULL FROM instances WHERE uuid = ?1",
                    [id.as_str(), vm_state],
                    |r| r.get(0),
                )
                .unwrap();
            if settled {
                break;
            }
            assert!(Instant::now() < deadline, "{id} never became {vm_state}");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Resizes and creates racing for the last cores across two workers: the cores quota
/// (checked and reserved in the same transaction as the state change) admits exactly as many
/// as it has room for, whichever worker or request kind they come through; the rest get
/// Nova's 403 and leave nothing behind.
#[test]
fn concurrent_resizes_and_creates_across_two_workers_respect_the_cores_quota() {
    let server = Server::with(Options {
        workers: 2,
        conf: "[quota]\ncores = 8\n[fake_driver]\nbuild_time = 0.1\nresize_time = 0.1\n",
        ..Options::default()
    });
    seed_image(&server);
    // Six m1.tiny servers (1 vCPU each): 2 cores left.
    let ids: Vec<String> = (0..6)
        .map(|i| {
            let resp = create(&server, &format!("base{i}"));
            assert_eq!(resp.status, 202, "{}", resp.text());
            resp.json()["server"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let conn = db(&server);
    wait_all(&conn, &ids, "active");
    // Six resizes to m1.medium (+1 core each) and two creates (+1 core each) at once.
    let server = Arc::new(server);
    let barrier = Arc::new(Barrier::new(8));
    let mut handles = Vec::new();
    for id in &ids {
        let (server, barrier, id) = (Arc::clone(&server), Arc::clone(&barrier), id.clone());
        handles.push(thread::spawn(move || {
            barrier.wait();
            let resp = server.api(
                "POST",
                &format!("/v2.1/servers/{id}/action"),
                DEMO,
                Some("2.1"),
                Some(&json!({"resize": {"flavorRef": "3"}})),
            );
            ("resize", resp)
        }));
    }
    for i in 0..2 {
        let (server, barrier) = (Arc::clone(&server), Arc::clone(&barrier));
        handles.push(thread::spawn(move || {
            barrier.wait();
            ("create", create(&server, &format!("late{i}")))
        }));
    }
    let responses: Vec<(&str, common::Response)> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    let statuses: Vec<(&str, u16)> = responses.iter().map(|(k, r)| (*k, r.status)).collect();
    let accepted = responses.iter().filter(|(_, r)| r.status == 202).count();
    assert_eq!(accepted, 2, "{statuses:?}");
    for (_, resp) in responses.iter().filter(|(_, r)| r.status != 202) {
        common::assert_message(
            resp,
            403,
            "forbidden",
            "Quota exceeded for cores: Requested 1, but already used 8 of 8 cores",
        );
    }
    // What is counted is exactly the limit: refused resizes left their server untouched,
    // refused creates wrote no instance.
    let created = responses
        .iter()
        .filter(|(kind, r)| *kind == "create" && r.status == 202)
        .count() as i64;
    assert_eq!(
        count(&conn, "SELECT count(*) FROM instances WHERE deleted = 0"),
        6 + created
    );
    assert_eq!(
        count(
            &conn,
            "SELECT coalesce(sum(vcpus), 0) FROM instances WHERE deleted = 0"
        ),
        8
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM instances WHERE deleted = 0 AND task_state IS NULL \
             AND vm_state = 'active' AND vcpus = 1 AND display_name LIKE 'base%'"
        ),
        6 - (2 - created)
    );
    let limits = server.api("GET", "/v2.1/limits", DEMO, None, None).json();
    assert_eq!(limits["limits"]["absolute"]["totalCoresUsed"], 8);
}

#[test]
fn a_full_orchestrator_answers_503_and_writes_nothing() {
    let server = Server::with(Options {
        conf: "[orchestrator]\nqueue_size = 2\n[fake_driver]\nbuild_time = 30\n",
        ..Options::default()
    });
    seed_image(&server);
    assert_eq!(create(&server, "s1").status, 202);
    assert_eq!(create(&server, "s2").status, 202);
    let started = Instant::now();
    let resp = create(&server, "s3");
    resp.assert_fault(503, "serviceUnavailable");
    assert!(started.elapsed() < Duration::from_secs(1));
    let conn = db(&server);
    assert_eq!(count(&conn, "SELECT count(*) FROM instances"), 2);
    assert_eq!(count(&conn, "SELECT count(*) FROM tasks"), 2);
    // Deleting an unscheduled server needs no slot (local delete) and frees one.
    let id: String = conn
        .query_row(
            "SELECT uuid FROM instances WHERE display_name = 's1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let resp = server.api("DELETE", &format!("/v2.1/servers/{id}"), DEMO, None, None);
    assert_eq!(resp.status, 204);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let resp = create(&server, "s4");
        if resp.status == 202 {
            break;
        }
        resp.assert_fault(503, "serviceUnavailable");
        assert!(Instant::now() < deadline, "the slot was never freed");
        thread::sleep(Duration::from_millis(50));
    }
}

/// An action, not only a create, is refused quickly when the orchestrator is full: with
/// two long reboots holding both slots, a reboot of a third server through either worker
/// answers 503 with Nova's fault and records nothing (no task_state, no task row).
#[test]
fn a_full_orchestrator_answers_503_to_an_action_and_records_nothing() {
    let server = Server::with(Options {
        workers: 2,
        conf: "[orchestrator]\nqueue_size = 2\n[fake_driver]\nbuild_time = 0.1\n\
               reboot_time = 60\n",
        ..Options::default()
    });
    seed_image(&server);
    let ids: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|name| {
            let resp = create(&server, name);
            assert_eq!(resp.status, 202, "{}", resp.text());
            let id = resp.json()["server"]["id"].as_str().unwrap().to_owned();
            // One build at a time: a slot is always free for the next create.
            wait_all(&db(&server), std::slice::from_ref(&id), "active");
            id
        })
        .collect();
    let reboot = |id: &str| {
        server.api(
            "POST",
            &format!("/v2.1/servers/{id}/action"),
            DEMO,
            Some("2.1"),
            Some(&json!({"reboot": {"type": "SOFT"}})),
        )
    };
    for id in &ids[..2] {
        // The last build's slot is released just after its final write: retry until free.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let resp = reboot(id);
            if resp.status == 202 {
                break;
            }
            resp.assert_fault(503, "serviceUnavailable");
            assert!(
                Instant::now() < deadline,
                "the build's slot was never freed"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
    let conn = db(&server);
    let tasks = |id: &str| -> i64 {
        conn.query_row(
            "SELECT count(*) FROM tasks WHERE instance_uuid = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    };
    let tasks_before = tasks(&ids[2]);
    // Several tries, so both workers answer (each on a new connection).
    for _ in 0..6 {
        let resp = reboot(&ids[2]);
        resp.assert_fault(503, "serviceUnavailable");
        assert_eq!(resp.json()["serviceUnavailable"]["code"], 503);
    }
    let (vm, task): (String, Option<String>) = conn
        .query_row(
            "SELECT vm_state, task_state FROM instances WHERE uuid = ?1",
            [&ids[2]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((vm.as_str(), task), ("active", None));
    assert_eq!(
        tasks(&ids[2]),
        tasks_before,
        "no task row for the refused reboot"
    );
    // The two admitted reboots are still the only unfinished tasks.
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM tasks WHERE state IN ('queued', 'running')"
        ),
        2
    );
}

/// Starts the binary on an existing directory (its config and data) and waits for ready.
fn restart(dir: &std::path::Path) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringnova"))
        .arg("--config-file")
        .arg(dir.join("ringnova.conf"))
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--workers")
        .arg("1")
        .arg("--driver")
        .arg("legacy")
        .arg("--cpus")
        .arg("off")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("ready"), "{line}");
    child
}

#[test]
fn a_kill_in_the_middle_of_builds_resumes_them_at_restart() {
    let server = Server::with(Options {
        conf: "[fake_driver]\nbuild_time = 1.5\npower_time = 1.5\n",
        ..Options::default()
    });
    seed_image(&server);
    let ids: Vec<String> = (0..4)
        .map(|i| {
            let resp = create(&server, &format!("k{i}"));
            assert_eq!(resp.status, 202);
            resp.json()["server"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let conn = db(&server);
    // Wait until the builds are under way (placed on a host), then kill -9.
    let deadline = Instant::now() + Duration::from_secs(5);
    while count(
        &conn,
        "SELECT count(*) FROM instances WHERE task_state IN ('networking', 'spawning')",
    ) < 4
    {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(10));
    }
    server.signal("KILL");
    thread::sleep(Duration::from_millis(100));
    assert!(
        count(
            &conn,
            "SELECT count(*) FROM tasks WHERE state IN ('queued', 'running')"
        ) == 4,
        "the builds were interrupted"
    );
    let mut child = restart(&server.dir);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let settled = count(
            &conn,
            "SELECT count(*) FROM instances WHERE vm_state = 'active' AND task_state IS NULL \
             AND host IS NOT NULL AND network_info LIKE '%10.0.%'",
        );
        if settled == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{settled} of 4 resumed builds finished"
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM tasks WHERE state IN ('queued', 'running')"
        ),
        0
    );
    assert_eq!(ids.len(), 4);
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits until every task has finished and returns the status of image `id`.
fn image_status_once_settled(conn: &Connection, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(
        conn,
        "SELECT count(*) FROM tasks WHERE state IN ('queued', 'running')",
    ) > 0
    {
        assert!(Instant::now() < deadline, "tasks never finished");
        thread::sleep(Duration::from_millis(20));
    }
    conn.query_row("SELECT status FROM images WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .unwrap()
}

/// Builds one server and starts its snapshot; returns (server id, image id).
fn snapshotting_server(server: &Server) -> (String, String) {
    let resp = create(server, "snap");
    assert_eq!(resp.status, 202, "{}", resp.text());
    let id = resp.json()["server"]["id"].as_str().unwrap().to_owned();
    let conn = db(server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(
        &conn,
        "SELECT count(*) FROM instances WHERE vm_state = 'active' AND task_state IS NULL",
    ) < 1
    {
        assert!(Instant::now() < deadline, "the build never finished");
        thread::sleep(Duration::from_millis(20));
    }
    let resp = server.api(
        "POST",
        &format!("/v2.1/servers/{id}/action"),
        DEMO,
        Some("2.45"),
        Some(&json!({"createImage": {"name": "snap"}})),
    );
    assert_eq!(resp.status, 202, "{}", resp.text());
    let image = resp.json()["image_id"].as_str().unwrap().to_owned();
    (id, image)
}

#[test]
fn a_delete_overtaking_a_snapshot_deletes_its_image() {
    let server = Server::with(Options {
        conf: "[fake_driver]\nbuild_time = 0.2\nsnapshot_time = 3\ndelete_time = 0.2\n",
        ..Options::default()
    });
    let (id, image) = snapshotting_server(&server);
    let resp = server.api("DELETE", &format!("/v2.1/servers/{id}"), DEMO, None, None);
    assert_eq!(resp.status, 204, "{}", resp.text());
    let conn = db(&server);
    // The snapshot's next step finds the server deleting: it stops, and its image with it.
    assert_eq!(image_status_once_settled(&conn, &image), "deleted");
    let resp = server.api("GET", &format!("/v2.1/images/{image}"), DEMO, None, None);
    resp.assert_fault(404, "itemNotFound");
}

#[test]
fn a_snapshot_overtaken_before_a_kill_deletes_its_image_at_restart() {
    let server = Server::with(Options {
        conf: "[fake_driver]\nbuild_time = 0.2\nsnapshot_time = 30\ndelete_time = 2\n",
        ..Options::default()
    });
    let (id, image) = snapshotting_server(&server);
    // The snapshot must have begun before the delete arrives (a snapshot that has not begun
    // when its server is already deleting is closed at once, and nothing is left to resume).
    let conn = db(&server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&conn, "SELECT count(*) FROM tasks WHERE state = 'running'") < 1 {
        assert!(Instant::now() < deadline, "the snapshot never began");
        thread::sleep(Duration::from_millis(10));
    }
    drop(conn);
    let resp = server.api("DELETE", &format!("/v2.1/servers/{id}"), DEMO, None, None);
    assert_eq!(resp.status, 204, "{}", resp.text());
    // Killed before either task steps: both are unfinished in the file.
    server.signal("KILL");
    thread::sleep(Duration::from_millis(100));
    let conn = db(&server);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM tasks WHERE state IN ('queued', 'running')"
        ),
        2
    );
    let mut child = restart(&server.dir);
    // At start-up the snapshot finds its server deleting: closed, its image deleted; the
    // delete finishes.
    assert_eq!(image_status_once_settled(&conn, &image), "deleted");
    assert_eq!(
        count(&conn, "SELECT count(*) FROM instances WHERE deleted = 0"),
        0
    );
    let _ = child.kill();
    let _ = child.wait();
}
