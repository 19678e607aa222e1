//! `/servers/{id}/metadata` over real sockets: bodies against Nova's API samples, merge and
//! replace semantics, the metadata_items quota, lock and state conflicts, policy, and tenant
//! isolation (another project's server is 404).

mod common;

use common::Server;
use rusqlite::Connection;
use serde_json::{json, Value};

const PROJECT: &str = "6f70656e737461636b20342065766572";
const OTHER: &str = "0be70be70be70be70be70be70be70be7";
const ADMIN: &str = "admin:6f70656e737461636b20342065766572";
const DEMO: &str = "demo:6f70656e737461636b20342065766572";
const EVE: &str = "eve:0be70be70be70be70be70be70be70be7";
const ID: &str = "9168b536-cd40-4630-b43f-b259807c6e87";

fn db(server: &Server) -> Connection {
    let conn = Connection::open(server.dir.join("data").join("ringnova.sqlite")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn
}

fn insert(conn: &Connection, uuid: &str, project: &str) {
    conn.execute(
        "INSERT INTO instances (uuid, project_id, user_id, display_name, instance_type_id, flavor, \
         vcpus, memory_mb, root_gb, vm_state, reservation_id, created_at, launched_at) \
         VALUES (?1, ?2, 'demo', 'vm', 1, '{}', 1, 512, 1, 'active', 'r-1', \
         '2020-01-01T00:00:00.000000', '2020-01-01T00:00:01.000000')",
        [uuid, project],
    )
    .unwrap();
}

fn path(suffix: &str) -> String {
    format!("/v2.1/{PROJECT}/servers/{ID}/metadata{suffix}")
}

fn fixture(name: &str) -> Value {
    common::fixture("server-metadata", name)
}

per_driver!(samples_and_semantics, |driver| {
    let server = Server::start(driver);
    let conn = db(&server);
    insert(&conn, ID, PROJECT);

    // POST merges and answers the whole set (sample: server-metadata-all-*).
    let req = fixture("server-metadata-all-req.json");
    let resp = server.api("POST", &path(""), DEMO, None, Some(&req));
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json(), fixture("server-metadata-all-resp.json"));
    let resp = server.api(
        "POST",
        &path(""),
        DEMO,
        None,
        Some(&json!({"metadata": {"bar": "1"}})),
    );
    assert_eq!(
        resp.json(),
        json!({"metadata": {"foo": "Foo Value", "bar": "1"}})
    );
    // GET lists, GET item shows.
    let all = server.api("GET", &path(""), DEMO, None, None);
    assert_eq!(
        all.json(),
        json!({"metadata": {"foo": "Foo Value", "bar": "1"}})
    );
    let one = server.api("GET", &path("/foo"), DEMO, None, None);
    assert_eq!(one.json(), fixture("server-metadata-resp.json"));
    server
        .api("GET", &path("/nope"), DEMO, None, None)
        .assert_fault(404, "itemNotFound");
    // PUT item (sample server-metadata-req/resp).
    let resp = server.api(
        "PUT",
        &path("/foo"),
        DEMO,
        None,
        Some(&fixture("server-metadata-req.json")),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json(), fixture("server-metadata-req.json"));
    let resp = server.api(
        "PUT",
        &path("/other"),
        DEMO,
        None,
        Some(&json!({"meta": {"foo": "x"}})),
    );
    resp.assert_fault(400, "badRequest");
    assert_eq!(
        resp.json()["badRequest"]["message"],
        "Request body and URI mismatch"
    );
    server
        .api(
            "PUT",
            &path("/foo"),
            DEMO,
            None,
            Some(&json!({"meta": {"foo": "x", "bar": "y"}})),
        )
        .assert_fault(400, "badRequest");
    // PUT collection replaces.
    let resp = server.api(
        "PUT",
        &path(""),
        DEMO,
        None,
        Some(&json!({"metadata": {"only": "me"}})),
    );
    assert_eq!(resp.json(), json!({"metadata": {"only": "me"}}));
    // DELETE: 204, then 404.
    let resp = server.api("DELETE", &path("/only"), DEMO, None, None);
    assert_eq!(resp.status, 204);
    assert!(resp.text().is_empty());
    server
        .api("DELETE", &path("/only"), DEMO, None, None)
        .assert_fault(404, "itemNotFound");
    assert_eq!(
        server.api("GET", &path(""), DEMO, None, None).json(),
        json!({"metadata": {}})
    );
    // Validation.
    server
        .api(
            "POST",
            &path(""),
            DEMO,
            None,
            Some(&json!({"metadata": {"bad/key": "v"}})),
        )
        .assert_fault(400, "badRequest");
    server
        .api("POST", &path(""), DEMO, None, Some(&json!({"meta": {}})))
        .assert_fault(400, "badRequest");
});

per_driver!(quota_lock_state_and_isolation, |driver| {
    let server = Server::with_conf(driver, "[quota]\nmetadata_items = 2\n");
    let conn = db(&server);
    insert(&conn, ID, PROJECT);
    let foreign = "11111111-2222-3333-4444-555555555555";
    insert(&conn, foreign, OTHER);

    let ok = server.api(
        "POST",
        &path(""),
        DEMO,
        None,
        Some(&json!({"metadata": {"a": "1", "b": "2"}})),
    );
    assert_eq!(ok.status, 200);
    let over = server.api(
        "POST",
        &path(""),
        DEMO,
        None,
        Some(&json!({"metadata": {"c": "3"}})),
    );
    over.assert_fault(403, "forbidden");
    assert_eq!(
        over.json()["forbidden"]["message"],
        "Maximum number of metadata items exceeds 2"
    );
    // Overwriting an existing key stays within the quota; replacing counts the new set.
    assert_eq!(
        server
            .api(
                "PUT",
                &path("/a"),
                DEMO,
                None,
                Some(&json!({"meta": {"a": "9"}}))
            )
            .status,
        200
    );
    server
        .api(
            "PUT",
            &path(""),
            DEMO,
            None,
            Some(&json!({"metadata": {"x": "1", "y": "2", "z": "3"}})),
        )
        .assert_fault(403, "forbidden");
    // A project quota overrides the default.
    let set = server.api(
        "PUT",
        &format!("/v2.1/os-quota-sets/{PROJECT}"),
        ADMIN,
        None,
        Some(&json!({"quota_set": {"metadata_items": 3}})),
    );
    assert_eq!(set.status, 200, "{}", set.text());
    assert_eq!(
        server
            .api(
                "POST",
                &path(""),
                DEMO,
                None,
                Some(&json!({"metadata": {"c": "3"}}))
            )
            .status,
        200
    );

    // Locked: 409 for the owner, allowed for admins.
    conn.execute(
        "UPDATE instances SET locked = 1, locked_by = 'admin' WHERE uuid = ?1",
        [ID],
    )
    .unwrap();
    let locked = server.api(
        "POST",
        &path(""),
        DEMO,
        None,
        Some(&json!({"metadata": {"a": "2"}})),
    );
    locked.assert_fault(409, "conflictingRequest");
    assert_eq!(
        locked.json()["conflictingRequest"]["message"],
        format!("Instance {ID} is locked")
    );
    server
        .api("DELETE", &path("/a"), DEMO, None, None)
        .assert_fault(409, "conflictingRequest");
    assert_eq!(
        server
            .api(
                "POST",
                &path(""),
                ADMIN,
                None,
                Some(&json!({"metadata": {"a": "2"}}))
            )
            .status,
        200
    );
    conn.execute(
        "UPDATE instances SET locked = 0, locked_by = NULL WHERE uuid = ?1",
        [ID],
    )
    .unwrap();
    // State: building (vm_state) and a task in progress (task_state).
    conn.execute(
        "UPDATE instances SET vm_state = 'building' WHERE uuid = ?1",
        [ID],
    )
    .unwrap();
    let busy = server.api(
        "POST",
        &path(""),
        DEMO,
        None,
        Some(&json!({"metadata": {"a": "3"}})),
    );
    busy.assert_fault(409, "conflictingRequest");
    assert_eq!(
        busy.json()["conflictingRequest"]["message"],
        format!("Cannot 'update metadata' instance {ID} while it is in vm_state building")
    );
    conn.execute(
        "UPDATE instances SET vm_state = 'stopped', task_state = 'powering-on' WHERE uuid = ?1",
        [ID],
    )
    .unwrap();
    let busy = server.api("DELETE", &path("/a"), DEMO, None, None);
    assert_eq!(
        busy.json()["conflictingRequest"]["message"],
        format!("Cannot 'delete metadata' instance {ID} while it is in task_state powering-on")
    );
    // Reads are allowed in any state.
    assert_eq!(server.api("GET", &path(""), DEMO, None, None).status, 200);

    // Another project's server: 404 for reads and writes, from either side.
    let foreign_path = format!("/v2.1/servers/{foreign}/metadata");
    let resp = server.api("GET", &foreign_path, DEMO, None, None);
    resp.assert_fault(404, "itemNotFound");
    assert_eq!(
        resp.json()["itemNotFound"]["message"],
        format!("Instance {foreign} could not be found.")
    );
    server
        .api(
            "POST",
            &foreign_path,
            DEMO,
            None,
            Some(&json!({"metadata": {"a": "1"}})),
        )
        .assert_fault(404, "itemNotFound");
    server
        .api(
            "GET",
            &format!("/v2.1/servers/{ID}/metadata/a"),
            EVE,
            None,
            None,
        )
        .assert_fault(404, "itemNotFound");
    server
        .api(
            "DELETE",
            &format!("/v2.1/servers/{ID}/metadata/a"),
            EVE,
            None,
            None,
        )
        .assert_fault(404, "itemNotFound");
    // Admins reach any project's server.
    assert_eq!(
        server.api("GET", &foreign_path, ADMIN, None, None).status,
        200
    );
});
