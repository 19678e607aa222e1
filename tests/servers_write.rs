//! The servers write side over real sockets: create bodies against Nova's API samples per
//! microversion, validation and lookup errors, delete, every action allowed or refused by
//! vm_state/task_state (table-driven), resize/createImage/rebuild effects, quota usage in
//! `/limits` and `os-quota-sets`, and policy/visibility (404 for other projects' servers).
//!
//! Server state is read from the database file (the servers read side is another module).

mod common;

use std::{
    thread,
    time::{Duration, Instant},
};

use common::{assert_message, assert_shape, Options, Response, Server};
use rusqlite::{Connection, OptionalExtension};
use serde_json::{json, Value};

const DEMO: &str = "demo:demo";
const OTHER: &str = "other:other";
const ADMIN: &str = "admin:admin";
const IMAGE: &str = "70a599e0-31e7-49b7-b260-868f441e862b";
const NETWORK: &str = "3cb9bc59-5699-4588-a4b1-b87f96708bc6";

fn fixture(name: &str) -> Value {
    common::fixture("servers/create", name)
}

fn db(server: &Server) -> Connection {
    let conn = Connection::open(server.dir.join("data").join("ringnova.sqlite")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

/// Seeds the sample image (the images module seeds it from configuration on the read side).
fn seed_image(server: &Server) {
    db(server)
        .execute(
            "INSERT OR IGNORE INTO images (id, name, created_at, updated_at) \
             VALUES (?1, 'cirros', '2024-01-01T00:00:00.000000', '2024-01-01T00:00:00.000000')",
            [IMAGE],
        )
        .unwrap();
}

/// `(vm_state, task_state, power_state)` of a server (`deleted` rows included).
fn state(server: &Server, uuid: &str) -> (String, Option<String>, i64) {
    db(server)
        .query_row(
            "SELECT vm_state, task_state, power_state FROM instances WHERE uuid = ?1",
            [uuid],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap()
}

/// Polls until the server has no task and is in `vm_state`.
fn wait_for(server: &Server, uuid: &str, vm_state: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let (vm, task, _) = state(server, uuid);
        if vm == vm_state && task.is_none() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{uuid}: still {vm}/{task:?}, expected {vm_state}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn create_body(name: &str) -> Value {
    json!({"server": {"name": name, "imageRef": IMAGE, "flavorRef": "1", "networks": "auto"}})
}

fn create(server: &Server, token: &str, version: &str, body: &Value) -> Response {
    server.api("POST", "/v2.1/servers", token, Some(version), Some(body))
}

fn action(server: &Server, token: &str, uuid: &str, version: &str, body: Value) -> Response {
    server.api(
        "POST",
        &format!("/v2.1/servers/{uuid}/action"),
        token,
        Some(version),
        Some(&body),
    )
}

/// Sends an accepted rebuild as DEMO: asserts the 202, waits until the server is ACTIVE again
/// and returns the response body.
fn accepted_rebuild(server: &Server, uuid: &str, version: &str, body: Value) -> Value {
    let resp = action(server, DEMO, uuid, version, body);
    assert_eq!(resp.status, 202, "{}", resp.text());
    wait_for(server, uuid, "active", Duration::from_secs(5));
    resp.json()
}

const FAST: &str = "[fake_driver]\nbuild_time = 0.2\nreboot_time = 0.1\npower_time = 0.1\n\
                    pause_time = 0.1\nsuspend_time = 0.1\nresize_time = 0.2\n\
                    snapshot_time = 0.1\nrebuild_time = 0.2\ndelete_time = 0.1\n";

fn fast_server() -> Server {
    let server = Server::with(Options {
        conf: FAST,
        ..Options::default()
    });
    seed_image(&server);
    server
}

fn boot(server: &Server, name: &str) -> String {
    let resp = create(server, DEMO, "2.37", &create_body(name));
    assert_eq!(resp.status, 202, "{}", resp.text());
    let uuid = resp.json()["server"]["id"].as_str().unwrap().to_owned();
    wait_for(server, &uuid, "active", Duration::from_secs(5));
    uuid
}

#[test]
fn create_bodies_match_the_samples() {
    let server = fast_server();
    let cases: [(&str, &str, Option<&str>); 5] = [
        ("2.1", "server-create-req.json", None),
        ("2.19", "v2.19/server-create-req.json", Some("v2.19")),
        ("2.37", "v2.37/server-create-req.json", Some("v2.37")),
        ("2.52", "v2.52/server-create-req.json", Some("v2.52")),
        ("2.57", "v2.57/server-create-req.json", Some("v2.57")),
    ];
    for (version, request, dir) in cases {
        let resp = create(&server, DEMO, version, &fixture(request));
        assert_eq!(resp.status, 202, "{version}: {}", resp.text());
        let body = resp.json();
        let sample = match dir {
            Some(dir) => fixture(&format!("{dir}/server-create-resp.json")),
            None => fixture("server-create-resp.json"),
        };
        assert_shape(&body, &sample, version);
        let server_body = &body["server"];
        let id = server_body["id"].as_str().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(server_body["adminPass"].as_str().unwrap().len(), 12);
        let self_href = server_body["links"][0]["href"].as_str().unwrap();
        assert_eq!(
            self_href,
            format!("http://{}/v2.1/servers/{id}", server.addr)
        );
        assert_eq!(resp.header("location"), Some(self_href));
        assert_eq!(
            server_body["links"][1]["href"],
            format!("http://{}/servers/{id}", server.addr)
        );
        // What Nova stores for the request.
        let conn = db(&server);
        let (vm, task, name, description, reservation): (
            String,
            Option<String>,
            String,
            Option<String>,
            String,
        ) = conn
            .query_row(
                "SELECT vm_state, task_state, display_name, display_description, \
                 reservation_id FROM instances WHERE uuid = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert!(
            vm == "building" || vm == "active",
            "{version}: {vm} {task:?}"
        );
        assert!(reservation.starts_with("r-"), "{reservation}");
        let sample_server = &fixture(request)["server"];
        assert_eq!(name, sample_server["name"].as_str().unwrap());
        if version == "2.1" {
            // Below 2.19 the description is the name.
            assert_eq!(description.as_deref(), Some(name.as_str()));
        }
        if version == "2.19" {
            assert_eq!(
                description.as_deref(),
                sample_server["description"].as_str()
            );
        }
        if version == "2.52" {
            let tags: i64 = conn
                .query_row(
                    "SELECT count(*) FROM instance_tags WHERE instance_uuid = ?1",
                    [id],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(tags, 2);
        }
        let meta: Option<String> = conn
            .query_row(
                "SELECT value FROM instance_metadata WHERE instance_uuid = ?1 AND key = \
                 'My Server Name'",
                [id],
                |r| r.get(0),
            )
            .optional()
            .unwrap();
        if sample_server.get("metadata").is_some() {
            assert_eq!(meta.as_deref(), Some("Apache1"), "{version}");
        }
    }
}

#[test]
fn create_with_project_in_url_links_and_location_carry_it() {
    let server = fast_server();
    let resp = server.api(
        "POST",
        "/v2.1/6f70656e737461636b/servers",
        "demo:6f70656e737461636b",
        Some("2.37"),
        Some(&create_body("p")),
    );
    assert_eq!(resp.status, 202, "{}", resp.text());
    let id = resp.json()["server"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        resp.header("location").unwrap(),
        format!(
            "http://{}/v2.1/6f70656e737461636b/servers/{id}",
            server.addr
        )
    );
}

#[test]
fn create_errors_are_novas() {
    let server = fast_server();
    let cases: Vec<(&str, Value, u16, &str, &str)> = vec![
        (
            "2.37",
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "1"}}),
            400,
            "badRequest",
            // (serde_json sends the members sorted by name.)
            "Invalid input for field/attribute server. Value: {'flavorRef': '1', 'imageRef': \
             '70a599e0-31e7-49b7-b260-868f441e862b', 'name': 'x'}. 'networks' is a required \
             property",
        ),
        (
            "2.36",
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "1", "tags": ["a"]}}),
            400,
            "badRequest",
            "",
        ),
        (
            "2.57",
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "1",
                "networks": "none", "personality": []}}),
            400,
            "badRequest",
            "",
        ),
        (
            "2.18",
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "1",
                "description": "d"}}),
            400,
            "badRequest",
            "",
        ),
        (
            "2.37",
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "1",
                "networks": "bogus"}}),
            400,
            "badRequest",
            "Invalid input for field/attribute networks. Value: bogus. 'bogus' is not valid \
             under any of the given schemas",
        ),
        (
            "2.1",
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "1",
                "accessIPv4": "1.2.3"}}),
            400,
            "badRequest",
            "Invalid input for field/attribute accessIPv4. Value: 1.2.3. '1.2.3' is not a 'ipv4'",
        ),
        (
            "2.1",
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "1",
                "key_name": "nokey"}}),
            400,
            "badRequest",
            "Invalid key_name provided.",
        ),
        (
            "2.1",
            json!({"server": {"name": "x", "imageRef": "c7f1d7b5-31c5-4f8d-9a8b-1d2b3c4d5e6f",
                "flavorRef": "1"}}),
            400,
            "badRequest",
            "Can not find requested image",
        ),
        (
            "2.1",
            json!({"server": {"name": "x", "flavorRef": "1"}}),
            400,
            "badRequest",
            "Missing imageRef attribute",
        ),
        (
            "2.1",
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "999"}}),
            400,
            "badRequest",
            "Invalid flavorRef provided.",
        ),
        (
            "2.1",
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "1",
                "min_count": 3, "max_count": 2}}),
            400,
            "badRequest",
            "min_count must be <= max_count",
        ),
        (
            "2.37",
            json!({"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "1",
                "networks": [{"uuid": "c7f1d7b5-31c5-4f8d-9a8b-1d2b3c4d5e6f"}]}}),
            400,
            "badRequest",
            "Network c7f1d7b5-31c5-4f8d-9a8b-1d2b3c4d5e6f could not be found.",
        ),
    ];
    for (version, body, status, key, message) in cases {
        let resp = create(&server, DEMO, version, &body);
        resp.assert_fault(status, key);
        if !message.is_empty() {
            assert_eq!(resp.json()[key]["message"], message, "{version}: {body}");
        }
    }
    let count: i64 = db(&server)
        .query_row("SELECT count(*) FROM instances", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 0, "a refused create wrote nothing");

    // The 2.32 tag on the sample network is accepted; the fake private network is known.
    let body = json!({"server": {"name": "t", "imageRef": IMAGE, "flavorRef": "1",
        "networks": [{"uuid": NETWORK, "tag": "nic1", "fixed_ip": "10.0.0.42"}]}});
    let resp = create(&server, DEMO, "2.32", &body);
    assert_eq!(resp.status, 202, "{}", resp.text());
    let resp = create(&server, DEMO, "2.37", &body);
    resp.assert_fault(400, "badRequest");
    let resp = create(&server, DEMO, "2.42", &body);
    assert_eq!(resp.status, 202, "{}", resp.text());
    let id = resp.json()["server"]["id"].as_str().unwrap().to_owned();
    wait_for(&server, &id, "active", Duration::from_secs(5));
    let network: String = db(&server)
        .query_row(
            "SELECT network_info FROM instances WHERE uuid = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    let network: Value = serde_json::from_str(&network).unwrap();
    assert_eq!(network["private"][0]["addr"], "10.0.0.42");
    assert_eq!(network["private"][0]["version"], 4);
}

#[test]
fn multi_create_names_reservation_and_metadata_quota() {
    let server = fast_server();
    let mut body = create_body("multi");
    body["server"]["min_count"] = json!(2);
    body["server"]["max_count"] = json!(3);
    body["server"]["return_reservation_id"] = json!(true);
    let resp = create(&server, DEMO, "2.37", &body);
    assert_eq!(resp.status, 202, "{}", resp.text());
    let reservation = resp.json()["reservation_id"].as_str().unwrap().to_owned();
    assert_eq!(resp.json().as_object().unwrap().len(), 1);
    let conn = db(&server);
    let mut stmt = conn
        .prepare(
            "SELECT display_name, launch_index FROM instances WHERE reservation_id = ?1 \
             ORDER BY launch_index",
        )
        .unwrap();
    let rows: Vec<(String, i64)> = stmt
        .query_map([&reservation], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        vec![
            ("multi-1".to_owned(), 0),
            ("multi-2".to_owned(), 1),
            ("multi-3".to_owned(), 2)
        ]
    );

    let mut metadata = serde_json::Map::new();
    for i in 0..129 {
        metadata.insert(format!("k{i}"), json!("v"));
    }
    let mut body = create_body("meta");
    body["server"]["metadata"] = Value::Object(metadata);
    assert_message(
        &create(&server, DEMO, "2.37", &body),
        403,
        "forbidden",
        "Maximum number of metadata items exceeds 128",
    );
}

#[test]
fn quota_usage_shows_in_limits_and_quota_sets_and_delete_frees_it() {
    let server = fast_server();
    let a = boot(&server, "a");
    let mut body = create_body("b");
    body["server"]["flavorRef"] = json!("2");
    let resp = create(&server, DEMO, "2.37", &body);
    assert_eq!(resp.status, 202);
    let b = resp.json()["server"]["id"].as_str().unwrap().to_owned();
    let limits = server.api("GET", "/v2.1/limits", DEMO, None, None).json();
    let absolute = &limits["limits"]["absolute"];
    assert_eq!(absolute["totalInstancesUsed"], 2);
    assert_eq!(absolute["totalCoresUsed"], 2);
    assert_eq!(absolute["totalRAMUsed"], 512 + 2048);
    let detail = server
        .api("GET", "/v2.1/os-quota-sets/demo/detail", ADMIN, None, None)
        .json();
    assert_eq!(detail["quota_set"]["instances"]["in_use"], 2);
    assert_eq!(detail["quota_set"]["cores"]["in_use"], 2);
    assert_eq!(detail["quota_set"]["ram"]["in_use"], 2560);

    // Other projects do not see (404) nor delete the servers.
    assert_message(
        &server.api("DELETE", &format!("/v2.1/servers/{a}"), OTHER, None, None),
        404,
        "itemNotFound",
        &format!("Instance {a} could not be found."),
    );
    let resp = server.api("DELETE", &format!("/v2.1/servers/{a}"), DEMO, None, None);
    assert_eq!(resp.status, 204);
    assert!(resp.body.is_empty());
    let resp = server.api("DELETE", &format!("/v2.1/servers/{b}"), DEMO, None, None);
    assert_eq!(resp.status, 204);
    wait_for(&server, &a, "deleted", Duration::from_secs(5));
    wait_for(&server, &b, "deleted", Duration::from_secs(5));
    let limits = server.api("GET", "/v2.1/limits", DEMO, None, None).json();
    assert_eq!(limits["limits"]["absolute"]["totalInstancesUsed"], 0);
    assert_eq!(limits["limits"]["absolute"]["totalRAMUsed"], 0);
    resp_404_after_delete(&server, &a);
}

/// Per-user quotas (`os-quota-sets/{project}?user_id=`): a user with an instances or cores
/// limit of their own is held to it at create and resize, checked with the project's quota in
/// the same transaction; another user of the same project is held only to the project's.
#[test]
fn per_user_quotas_are_checked_at_create_and_resize() {
    const ALICE: &str = "alice:demo";
    const BOB: &str = "bob:demo";
    let server = fast_server();
    let resp = server.api(
        "PUT",
        "/v2.1/os-quota-sets/demo?user_id=alice",
        ADMIN,
        None,
        Some(&json!({"quota_set": {"instances": 1, "cores": 1}})),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());

    let resp = create(&server, ALICE, "2.37", &create_body("a1"));
    assert_eq!(resp.status, 202, "{}", resp.text());
    let a1 = resp.json()["server"]["id"].as_str().unwrap().to_owned();
    assert_message(
        &create(&server, ALICE, "2.37", &create_body("a2")),
        403,
        "forbidden",
        "Quota exceeded for cores, instances: Requested 1, 1, but already used 1, 1 of 1, 1 \
         cores, instances",
    );
    // A multi-create gets what the user's quota leaves: nothing, so min_count 1 fails too.
    let mut multi = create_body("am");
    multi["server"]["min_count"] = json!(1);
    multi["server"]["max_count"] = json!(3);
    assert_eq!(create(&server, ALICE, "2.37", &multi).status, 403);
    // Bob is held to the project's limit (10) only.
    for name in ["b1", "b2", "b3"] {
        let resp = create(&server, BOB, "2.37", &create_body(name));
        assert_eq!(resp.status, 202, "{name}: {}", resp.text());
    }
    let detail = |user: &str| {
        server
            .api(
                "GET",
                &format!("/v2.1/os-quota-sets/demo/detail?user_id={user}"),
                ADMIN,
                None,
                None,
            )
            .json()
    };
    let alice = detail("alice");
    assert_eq!(alice["quota_set"]["instances"]["in_use"], 1);
    assert_eq!(alice["quota_set"]["instances"]["limit"], 1);
    assert_eq!(detail("bob")["quota_set"]["instances"]["in_use"], 3);
    let project = server
        .api("GET", "/v2.1/os-quota-sets/demo/detail", ADMIN, None, None)
        .json();
    assert_eq!(project["quota_set"]["instances"]["in_use"], 4);

    // Resize to m1.medium (2 vCPUs) needs one more core than Alice's limit of 1 allows.
    wait_for(&server, &a1, "active", Duration::from_secs(5));
    assert_message(
        &action(
            &server,
            ALICE,
            &a1,
            "2.1",
            json!({"resize": {"flavorRef": "3"}}),
        ),
        403,
        "forbidden",
        "Quota exceeded for cores: Requested 1, but already used 1 of 1 cores",
    );
    // The admin lifts Alice's limits: the resize and another create now pass.
    let resp = server.api(
        "DELETE",
        "/v2.1/os-quota-sets/demo?user_id=alice",
        ADMIN,
        None,
        None,
    );
    assert_eq!(resp.status, 202, "{}", resp.text());
    let resp = action(
        &server,
        ALICE,
        &a1,
        "2.1",
        json!({"resize": {"flavorRef": "3"}}),
    );
    assert_eq!(resp.status, 202, "{}", resp.text());
    assert_eq!(
        create(&server, ALICE, "2.37", &create_body("a3")).status,
        202
    );
}

fn resp_404_after_delete(server: &Server, uuid: &str) {
    server
        .api("DELETE", &format!("/v2.1/servers/{uuid}"), DEMO, None, None)
        .assert_fault(404, "itemNotFound");
}

#[test]
fn lifecycle_actions_move_through_novas_states() {
    let server = fast_server();
    let uuid = boot(&server, "life");
    let conn = db(&server);
    let (host, network): (Option<String>, String) = conn
        .query_row(
            "SELECT host, network_info FROM instances WHERE uuid = ?1",
            [&uuid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(host.as_deref(), Some("compute"));
    assert!(network.contains("\"addr\": \"10.0."), "{network}");
    let steps: [(Value, &str, i64); 8] = [
        (json!({"os-stop": null}), "stopped", 4),
        (json!({"os-start": null}), "active", 1),
        (json!({"pause": null}), "paused", 3),
        (json!({"unpause": null}), "active", 1),
        (json!({"suspend": null}), "suspended", 7),
        (json!({"resume": null}), "active", 1),
        (json!({"reboot": {"type": "SOFT"}}), "active", 1),
        (json!({"reboot": {"type": "hard"}}), "active", 1),
    ];
    for (body, vm_state, power) in steps {
        let resp = action(&server, DEMO, &uuid, "2.1", body.clone());
        assert_eq!(resp.status, 202, "{body}: {}", resp.text());
        assert!(resp.body.is_empty());
        let (_, task, _) = state(&server, &uuid);
        assert!(task.is_some(), "{body}: a task_state is set at once");
        wait_for(&server, &uuid, vm_state, Duration::from_secs(5));
        assert_eq!(state(&server, &uuid).2, power, "{body}");
    }

    // Resize: same flavor refused; to m1.small → VERIFY_RESIZE (resized) with the new
    // flavor counted; confirm → active.
    assert_message(
        &action(
            &server,
            DEMO,
            &uuid,
            "2.1",
            json!({"resize": {"flavorRef": "1"}}),
        ),
        400,
        "badRequest",
        "When resizing, instances must change flavor!",
    );
    assert_message(
        &action(
            &server,
            DEMO,
            &uuid,
            "2.1",
            json!({"resize": {"flavorRef": "77"}}),
        ),
        400,
        "badRequest",
        "Unable to locate requested flavor.",
    );
    let resp = action(
        &server,
        DEMO,
        &uuid,
        "2.1",
        json!({"resize": {"flavorRef": "http://x/flavors/2"}}),
    );
    assert_eq!(resp.status, 202, "{}", resp.text());
    wait_for(&server, &uuid, "resized", Duration::from_secs(5));
    let (ram, flavor): (i64, String) = conn
        .query_row(
            "SELECT memory_mb, flavor FROM instances WHERE uuid = ?1",
            [&uuid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(ram, 2048);
    assert!(flavor.contains("m1.small"), "{flavor}");
    let resp = action(&server, DEMO, &uuid, "2.1", json!({"revertResize": null}));
    assert_eq!(resp.status, 202, "{}", resp.text());
    wait_for(&server, &uuid, "active", Duration::from_secs(5));
    let ram: i64 = conn
        .query_row(
            "SELECT memory_mb FROM instances WHERE uuid = ?1",
            [&uuid],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ram, 512, "revert restores the old flavor");
    let resp = action(
        &server,
        DEMO,
        &uuid,
        "2.1",
        json!({"resize": {"flavorRef": "2"}}),
    );
    assert_eq!(resp.status, 202);
    wait_for(&server, &uuid, "resized", Duration::from_secs(5));
    let resp = action(&server, DEMO, &uuid, "2.1", json!({"confirmResize": null}));
    assert_eq!(resp.status, 204, "{}", resp.text());
    // Settled by the time the 204 is sent: no resize_confirming left to see.
    assert_eq!(state(&server, &uuid), ("active".to_owned(), None, 1));
    let old_flavor: Option<String> = db(&server)
        .query_row(
            "SELECT old_flavor FROM instances WHERE uuid = ?1",
            [&uuid],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old_flavor, None);

    // createImage: Location below 2.45, {"image_id"} from 2.45; the image becomes ACTIVE.
    let resp = action(
        &server,
        DEMO,
        &uuid,
        "2.44",
        json!({"createImage": {"name": "snap", "metadata": {"meta_var": "meta_val"}}}),
    );
    assert_eq!(resp.status, 202, "{}", resp.text());
    assert!(resp.body.is_empty());
    let location = resp.header("location").unwrap().to_owned();
    assert!(location.starts_with(&format!("http://{}/v2.1/images/", server.addr)));
    wait_for(&server, &uuid, "active", Duration::from_secs(5));
    let resp = action(
        &server,
        DEMO,
        &uuid,
        "2.45",
        json!({"createImage": {"name": "snap2"}}),
    );
    assert_eq!(resp.status, 202, "{}", resp.text());
    assert!(resp.header("location").is_none());
    let body = resp.json();
    assert_shape(
        &body,
        &fixture("v2.45/server-action-create-image-resp.json"),
        "2.45",
    );
    let image_id = body["image_id"].as_str().unwrap().to_owned();
    wait_for(&server, &uuid, "active", Duration::from_secs(5));
    let (status, name, meta): (String, String, String) = conn
        .query_row(
            "SELECT status, name, metadata FROM images WHERE id = ?1",
            [&image_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), name.as_str()), ("ACTIVE", "snap2"));
    assert!(meta.contains(&uuid), "{meta}");

    // Rebuild: the state change happens; the body is the rebuild view with a password.
    let resp = action(
        &server,
        DEMO,
        &uuid,
        "2.57",
        json!({"rebuild": {"imageRef": IMAGE, "name": "rebuilt", "user_data": null}}),
    );
    assert_eq!(resp.status, 202, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["server"]["id"], uuid.as_str());
    assert_eq!(body["server"]["name"], "rebuilt");
    assert_eq!(body["server"]["user_data"], Value::Null);
    assert_eq!(body["server"]["adminPass"].as_str().unwrap().len(), 12);
    wait_for(&server, &uuid, "active", Duration::from_secs(5));
    let name: String = conn
        .query_row(
            "SELECT display_name FROM instances WHERE uuid = ?1",
            [&uuid],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(name, "rebuilt");
    assert_message(
        &action(
            &server,
            DEMO,
            &uuid,
            "2.1",
            json!({"rebuild": {"imageRef": "c7f1d7b5-31c5-4f8d-9a8b-1d2b3c4d5e6f"}}),
        ),
        400,
        "badRequest",
        "Cannot find image for rebuild",
    );
    action(
        &server,
        DEMO,
        &uuid,
        "2.1",
        json!({"rebuild": {"imageRef": IMAGE, "user_data": "eA=="}}),
    )
    .assert_fault(400, "badRequest");
    assert_message(
        &action(&server, DEMO, &uuid, "2.1", json!({"frobnicate": null})),
        400,
        "badRequest",
        "There is no such action: frobnicate",
    );
    assert_message(
        &action(
            &server,
            DEMO,
            &uuid,
            "2.1",
            json!({"reboot": {"type": "NICE"}}),
        ),
        400,
        "badRequest",
        "Invalid input for field/attribute type. Value: NICE. 'NICE' is not one of ['HARD', \
         'Hard', 'hard', 'SOFT', 'Soft', 'soft']",
    );
    // Other projects: 404, not 403.
    action(&server, OTHER, &uuid, "2.1", json!({"pause": null})).assert_fault(404, "itemNotFound");
}

/// The rebuild response below 2.75 is Nova's reduced view, not the show view: against the
/// six rebuild samples (2.1, 2.19, 2.26, 2.47, 2.54, 2.57) key by key and type by type, for a
/// member and for an admin (who still gets no `OS-EXT-SRV-ATTR:*` nor `host_status`).
#[test]
fn rebuild_bodies_match_the_samples() {
    let server = fast_server();
    for token in [DEMO, ADMIN] {
        let resp = server.api(
            "POST",
            "/v2.1/os-keypairs",
            token,
            Some("2.1"),
            Some(&json!({"keypair": {"name": "new-key"}})),
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    let cases = [
        ("2.1", ""),
        ("2.19", "v2.19/"),
        ("2.26", "v2.26/"),
        ("2.47", "v2.47/"),
        ("2.54", "v2.54/"),
        ("2.57", "v2.57/"),
    ];
    for token in [DEMO, ADMIN] {
        for (version, dir) in cases {
            let uuid = boot(&server, "to-rebuild");
            db(&server)
                .execute(
                    "INSERT INTO instance_tags (instance_uuid, tag) VALUES (?1, 'tag1'), \
                     (?1, 'tag2')",
                    [&uuid],
                )
                .unwrap();
            let request = fixture(&format!("{dir}server-action-rebuild.json"));
            let resp = action(&server, token, &uuid, version, request.clone());
            assert_eq!(resp.status, 202, "{token} {version}: {}", resp.text());
            let body = resp.json();
            let sample = fixture(&format!("{dir}server-action-rebuild-resp.json"));
            assert_shape(&body, &sample, &format!("{token} {version}"));
            // The values come from the request (and the server).
            let (given, got) = (&request["rebuild"], &body["server"]);
            assert_eq!(got["id"], uuid.as_str());
            assert_eq!(got["name"], "foobar");
            assert_eq!(got["adminPass"], "seekr3t");
            assert_eq!(got["image"]["id"], IMAGE);
            assert_eq!(got["metadata"], json!({"meta_var": "meta_val"}));
            assert_eq!(got["accessIPv4"], "1.2.3.4");
            assert_eq!(got["accessIPv6"], "80fe::");
            if got.get("description").is_some() {
                assert_eq!(got["description"], given["description"], "{version}");
            }
            if got.get("key_name").is_some() {
                assert_eq!(got["key_name"], "new-key", "{version}");
            }
            if got.get("user_data").is_some() {
                assert_eq!(got["user_data"], given["user_data"], "{version}");
            }
            if got.get("tags").is_some() {
                assert_eq!(got["tags"], json!(["tag1", "tag2"]), "{version}");
            }
            wait_for(&server, &uuid, "active", Duration::from_secs(5));
            let resp = server.api("DELETE", &format!("/v2.1/servers/{uuid}"), DEMO, None, None);
            assert_eq!(resp.status, 204, "{}", resp.text());
            wait_for(&server, &uuid, "deleted", Duration::from_secs(5));
        }
    }
}

/// Rebuild answers with its view after its own policy only: a caller `servers:show` denies
/// still gets the 202 body (the rebuild already happened), as in Nova.
#[test]
fn rebuild_answers_its_view_without_the_show_policy() {
    let dir = common::scratch_dir("rebuild-policy");
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, "\"os_compute_api:servers:show\": \"!\"\n").unwrap();
    let conf = format!("{FAST}[oslo_policy]\npolicy_file = {}\n", policy.display());
    let server = Server::with(Options {
        conf: &conf,
        ..Options::default()
    });
    seed_image(&server);
    let uuid = boot(&server, "unshown");
    server
        .api("GET", &format!("/v2.1/servers/{uuid}"), DEMO, None, None)
        .assert_fault(403, "forbidden");
    let body = accepted_rebuild(
        &server,
        &uuid,
        "2.1",
        json!({"rebuild": {"imageRef": IMAGE}}),
    );
    assert_eq!(body["server"]["id"], uuid.as_str());
}

/// Below 2.39 createImage holds the image metadata to the `metadata_items` quota (403, before
/// the state check, as in Nova); from 2.39 it does not.
#[test]
fn create_image_checks_the_metadata_quota_below_2_39() {
    let conf = format!("{FAST}[quota]\nmetadata_items = 2\n");
    let server = Server::with(Options {
        conf: &conf,
        ..Options::default()
    });
    seed_image(&server);
    let uuid = boot(&server, "snap-quota");
    let conn = db(&server);
    let images = || -> i64 {
        conn.query_row("SELECT count(*) FROM images", [], |r| r.get(0))
            .unwrap()
    };
    let before = images();
    let three = json!({"createImage": {"name": "s", "metadata": {"a": "1", "b": "2", "c": "3"}}});
    assert_message(
        &action(&server, DEMO, &uuid, "2.38", three.clone()),
        403,
        "forbidden",
        "Image metadata limit exceeded",
    );
    assert_eq!(images(), before, "a refused snapshot wrote no image");
    assert_eq!(state(&server, &uuid), ("active".to_owned(), None, 1));
    // At the limit is fine.
    let resp = action(
        &server,
        DEMO,
        &uuid,
        "2.38",
        json!({"createImage": {"name": "s", "metadata": {"a": "1", "b": "2"}}}),
    );
    assert_eq!(resp.status, 202, "{}", resp.text());
    wait_for(&server, &uuid, "active", Duration::from_secs(5));
    // From 2.39 the quota is not checked.
    let resp = action(&server, DEMO, &uuid, "2.39", three.clone());
    assert_eq!(resp.status, 202, "{}", resp.text());
    let location = resp.header("location").unwrap().to_owned();
    let image_id = location.rsplit('/').next().unwrap().to_owned();
    let meta: String = conn
        .query_row(
            "SELECT metadata FROM images WHERE id = ?1",
            [&image_id],
            |r| r.get(0),
        )
        .unwrap();
    let meta: Value = serde_json::from_str(&meta).unwrap();
    for (key, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
        assert_eq!(meta[key], value, "{meta}");
    }
    wait_for(&server, &uuid, "active", Duration::from_secs(5));
    // The quota comes first: in a state createImage refuses, 2.38 is still 403, 2.39 is 409.
    conn.execute(
        "UPDATE instances SET vm_state = 'error' WHERE uuid = ?1",
        [&uuid],
    )
    .unwrap();
    assert_message(
        &action(&server, DEMO, &uuid, "2.38", three.clone()),
        403,
        "forbidden",
        "Image metadata limit exceeded",
    );
    assert_message(
        &action(&server, DEMO, &uuid, "2.39", three),
        409,
        "conflictingRequest",
        &format!("Cannot 'createImage' instance {uuid} while it is in vm_state error"),
    );
}

/// `description` on rebuild from 2.19 (400 below): set, kept when absent, unset by null, and
/// shown both in the rebuild response and by show.
#[test]
fn rebuild_description_from_2_19() {
    let server = fast_server();
    let uuid = boot(&server, "described");
    let description = || -> Option<String> {
        db(&server)
            .query_row(
                "SELECT display_description FROM instances WHERE uuid = ?1",
                [&uuid],
                |r| r.get(0),
            )
            .unwrap()
    };
    let show = |version: &str| {
        server
            .api(
                "GET",
                &format!("/v2.1/servers/{uuid}"),
                DEMO,
                Some(version),
                None,
            )
            .json()
    };
    action(
        &server,
        DEMO,
        &uuid,
        "2.18",
        json!({"rebuild": {"imageRef": IMAGE, "description": "d1"}}),
    )
    .assert_fault(400, "badRequest");
    assert_eq!(description(), None);
    assert_eq!(
        state(&server, &uuid).1,
        None,
        "a refused rebuild started nothing"
    );

    let rebuild = |body: Value| accepted_rebuild(&server, &uuid, "2.19", body);
    let body = rebuild(json!({"rebuild": {"imageRef": IMAGE, "description": "d1"}}));
    assert_eq!(body["server"]["description"], "d1");
    assert_eq!(description().as_deref(), Some("d1"));
    assert_eq!(show("2.19")["server"]["description"], "d1");
    assert!(show("2.18")["server"].get("description").is_none());

    let body = rebuild(json!({"rebuild": {"imageRef": IMAGE}}));
    assert_eq!(body["server"]["description"], "d1", "kept when absent");

    let body = rebuild(json!({"rebuild": {"imageRef": IMAGE, "description": null}}));
    assert_eq!(body["server"]["description"], Value::Null);
    assert_eq!(description(), None);
    assert_eq!(show("2.19")["server"]["description"], Value::Null);
}

/// `key_name` on rebuild from 2.54 (400 below): an unknown name (or another user's key) is
/// 400 "Invalid key_name provided." and changes nothing; a valid name sets the key name and
/// data; absent keeps them; null unsets both.
#[test]
fn rebuild_key_name_from_2_54() {
    let server = fast_server();
    let keypair = |token: &str, name: &str| -> String {
        let resp = server.api(
            "POST",
            "/v2.1/os-keypairs",
            token,
            Some("2.1"),
            Some(&json!({"keypair": {"name": name}})),
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        resp.json()["keypair"]["public_key"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let public_key = keypair(DEMO, "k1");
    keypair(OTHER, "theirs");
    let uuid = boot(&server, "keyed");
    let key = || -> (Option<String>, Option<String>) {
        db(&server)
            .query_row(
                "SELECT key_name, key_data FROM instances WHERE uuid = ?1",
                [&uuid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    };
    let request = |key_name: Option<Value>| {
        let mut body = json!({"rebuild": {"imageRef": IMAGE}});
        if let Some(key_name) = key_name {
            body["rebuild"]["key_name"] = key_name;
        }
        body
    };
    let rebuild = |version: &str, key_name: Option<Value>| {
        action(&server, DEMO, &uuid, version, request(key_name))
    };
    rebuild("2.53", Some(json!("k1"))).assert_fault(400, "badRequest");
    for unknown in ["nokey", "theirs"] {
        assert_message(
            &rebuild("2.54", Some(json!(unknown))),
            400,
            "badRequest",
            "Invalid key_name provided.",
        );
    }
    assert_eq!(key(), (None, None));
    assert_eq!(
        state(&server, &uuid).1,
        None,
        "a refused rebuild started nothing"
    );

    let accepted =
        |key_name: Option<Value>| accepted_rebuild(&server, &uuid, "2.54", request(key_name));
    let body = accepted(Some(json!("k1")));
    assert_eq!(body["server"]["key_name"], "k1");
    assert_eq!(key(), (Some("k1".to_owned()), Some(public_key.clone())));
    let shown = server
        .api("GET", &format!("/v2.1/servers/{uuid}"), DEMO, None, None)
        .json();
    assert_eq!(shown["server"]["key_name"], "k1");

    let body = accepted(None);
    assert_eq!(body["server"]["key_name"], "k1", "kept when absent");
    assert_eq!(key(), (Some("k1".to_owned()), Some(public_key)));

    let body = accepted(Some(Value::Null));
    assert_eq!(body["server"]["key_name"], Value::Null);
    assert_eq!(key(), (None, None));
}

/// Every action against every settled vm_state: allowed ones answer exactly Nova's success
/// status (202, confirmResize 204) and set their task_state; refused ones answer Nova's
/// exact 409.
#[test]
fn actions_are_allowed_or_refused_by_state() {
    let server = Server::with(Options {
        conf: "[fake_driver]\nbuild_time = 0.1\nreboot_time = 60\npower_time = 60\n\
               pause_time = 60\nsuspend_time = 60\nresize_time = 60\nsnapshot_time = 60\n\
               rebuild_time = 60\n",
        ..Options::default()
    });
    seed_image(&server);
    let uuid = boot(&server, "table");
    let conn = db(&server);
    let actions: [(&str, Value, &[&str], Option<&str>); 13] = [
        (
            "reboot",
            json!({"reboot": {"type": "SOFT"}}),
            &["active"],
            Some("rebooting"),
        ),
        (
            "reboot",
            json!({"reboot": {"type": "HARD"}}),
            &["active", "stopped", "paused", "suspended", "error"],
            Some("rebooting_hard"),
        ),
        (
            "stop",
            json!({"os-stop": null}),
            &["active", "error"],
            Some("powering-off"),
        ),
        (
            "start",
            json!({"os-start": null}),
            &["stopped"],
            Some("powering-on"),
        ),
        (
            "pause",
            json!({"pause": null}),
            &["active"],
            Some("pausing"),
        ),
        (
            "unpause",
            json!({"unpause": null}),
            &["paused"],
            Some("unpausing"),
        ),
        (
            "suspend",
            json!({"suspend": null}),
            &["active"],
            Some("suspending"),
        ),
        (
            "resume",
            json!({"resume": null}),
            &["suspended"],
            Some("resuming"),
        ),
        (
            "resize",
            json!({"resize": {"flavorRef": "2"}}),
            &["active", "stopped"],
            Some("resize_prep"),
        ),
        (
            "confirmResize",
            json!({"confirmResize": null}),
            &["resized"],
            None,
        ),
        (
            "revertResize",
            json!({"revertResize": null}),
            &["resized"],
            Some("resize_reverting"),
        ),
        (
            "createImage",
            json!({"createImage": {"name": "i"}}),
            &["active", "stopped", "paused", "suspended"],
            Some("image_snapshot"),
        ),
        (
            "rebuild",
            json!({"rebuild": {"imageRef": IMAGE}}),
            &["active", "stopped", "error"],
            Some("rebuilding"),
        ),
    ];
    let states = [
        "active",
        "stopped",
        "paused",
        "suspended",
        "error",
        "resized",
    ];
    let reset = |vm_state: &str| {
        conn.execute(
            "UPDATE instances SET vm_state = ?2, task_state = NULL, vcpus = 1, memory_mb = 512, \
             instance_type_id = 1, old_flavor = CASE ?2 WHEN 'resized' THEN flavor END, \
             new_flavor = NULL WHERE uuid = ?1",
            [uuid.as_str(), vm_state],
        )
        .unwrap();
    };
    for vm_state in states {
        for (name, body, allowed, task_state) in &actions {
            reset(vm_state);
            let resp = action(&server, DEMO, &uuid, "2.1", body.clone());
            if allowed.contains(&vm_state) {
                // Nova answers every action 202 but confirmResize, which is 204.
                let expected = if *name == "confirmResize" { 204 } else { 202 };
                assert_eq!(
                    resp.status,
                    expected,
                    "{name} in {vm_state}: {}",
                    resp.text()
                );
                // Only rebuild answers with a body (at 2.1 createImage gives a Location).
                if *name == "rebuild" {
                    assert_eq!(resp.json()["server"]["id"], uuid.as_str());
                } else {
                    assert!(resp.body.is_empty(), "{name}: {}", resp.text());
                }
                if *name == "createImage" {
                    assert!(resp.header("location").is_some(), "{name} in {vm_state}");
                }
                let (_, task, _) = state(&server, &uuid);
                assert_eq!(task.as_deref(), *task_state, "{name} in {vm_state}");
            } else {
                assert_message(
                    &resp,
                    409,
                    "conflictingRequest",
                    &format!("Cannot '{name}' instance {uuid} while it is in vm_state {vm_state}"),
                );
            }
        }
    }
    // A task in progress refuses everything but a hard reboot from its allowed list.
    reset("active");
    conn.execute(
        "UPDATE instances SET task_state = 'powering-off' WHERE uuid = ?1",
        [&uuid],
    )
    .unwrap();
    assert_message(
        &action(&server, DEMO, &uuid, "2.1", json!({"pause": null})),
        409,
        "conflictingRequest",
        &format!("Cannot 'pause' instance {uuid} while it is in task_state powering-off"),
    );
    // Locked servers refuse non-admins (the lock action is not served; set it directly).
    reset("active");
    conn.execute("UPDATE instances SET locked = 1 WHERE uuid = ?1", [&uuid])
        .unwrap();
    assert_message(
        &action(&server, DEMO, &uuid, "2.1", json!({"pause": null})),
        409,
        "conflictingRequest",
        &format!("Instance {uuid} is locked"),
    );
    assert_message(
        &server.api("DELETE", &format!("/v2.1/servers/{uuid}"), DEMO, None, None),
        409,
        "conflictingRequest",
        &format!("Instance {uuid} is locked"),
    );
    // createImage ignores the lock.
    let resp = action(
        &server,
        DEMO,
        &uuid,
        "2.1",
        json!({"createImage": {"name": "i"}}),
    );
    assert_eq!(resp.status, 202, "{}", resp.text());
}

#[test]
fn failed_builds_end_in_error_with_a_fault() {
    let server = Server::with(Options {
        conf: "[fake_driver]\nbuild_time = 0.2\nfail_build_names = ^doomed\n",
        ..Options::default()
    });
    seed_image(&server);
    let resp = create(&server, DEMO, "2.37", &create_body("doomed-1"));
    assert_eq!(resp.status, 202);
    let uuid = resp.json()["server"]["id"].as_str().unwrap().to_owned();
    wait_for(&server, &uuid, "error", Duration::from_secs(5));
    let (code, message): (i64, String) = db(&server)
        .query_row(
            "SELECT code, message FROM instance_faults WHERE instance_uuid = ?1",
            [&uuid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(code, 500);
    assert!(
        message.starts_with(&format!("Build of instance {uuid} aborted")),
        "{message}"
    );
    let fine = boot(&server, "fine");
    assert_eq!(state(&server, &fine).0, "active");
    // An errored server can be hard rebooted back to active.
    let resp = action(
        &server,
        DEMO,
        &uuid,
        "2.1",
        json!({"reboot": {"type": "HARD"}}),
    );
    resp.assert_fault(409, "conflictingRequest"); // never launched: launched_at None
    assert!(resp.text().contains("launched_at None"), "{}", resp.text());
}
