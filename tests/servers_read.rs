//! The servers read side over real sockets: show, list and detail bodies against Nova's API
//! samples per microversion (2.1, 2.3, 2.9, 2.16, 2.19, 2.26, 2.47), policy-gated keys,
//! faults, tenant isolation, the list filters, sorting and paging over 1,000 servers, and
//! PUT /servers/{id}. Instances are inserted straight into the server's database.

mod common;

use common::{Response, Server};
use rusqlite::{types::Value as Sql, Connection};
use serde_json::{json, Value};
use sha2::{Digest, Sha224};

const PROJECT: &str = "6f70656e737461636b20342065766572";
const OTHER: &str = "0be70be70be70be70be70be70be70be7";
const ADMIN: &str = "admin:6f70656e737461636b20342065766572";
const DEMO: &str = "demo:6f70656e737461636b20342065766572";
const OTHER_USER: &str = "eve:0be70be70be70be70be70be70be70be7";
const IMAGE: &str = "70a599e0-31e7-49b7-b260-868f441e862b";

/// A sample with what this build never has: attached volumes (no volume service) and a
/// root device name (not stored: always null).
fn without_volumes(mut server: Value) -> Value {
    if let Some(volumes) = server.get_mut("os-extended-volumes:volumes_attached") {
        *volumes = json!([]);
    }
    if let Some(name) = server.get_mut("OS-EXT-SRV-ATTR:root_device_name") {
        *name = Value::Null;
    }
    server
}

fn db(server: &Server) -> Connection {
    let conn = Connection::open(server.dir.join("data").join("ringnova.sqlite")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn
}

const NETWORK_INFO: &str = r#"{"private": [{"addr": "192.168.1.30", "version": 4, "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": "00:0c:29:0d:11:74"}]}"#;
const FLAVOR: &str = r#"{"flavorid": "6", "name": "m1.tiny.specs", "vcpus": 1, "memory_mb": 512, "root_gb": 1, "ephemeral_gb": 0, "swap": 0, "extra_specs": {"hw:numa_nodes": "1"}}"#;

/// Inserts one instance: the sample server's values, overridden by `columns`.
fn insert(conn: &Connection, uuid: &str, columns: &[(&str, Sql)]) {
    let mut values: Vec<(&str, Sql)> = vec![
        ("uuid", Sql::Text(uuid.into())),
        ("project_id", Sql::Text(PROJECT.into())),
        ("user_id", Sql::Text("admin".into())),
        ("display_name", Sql::Text("new-server-test".into())),
        ("hostname", Sql::Text("new-server-test".into())),
        ("image_ref", Sql::Text(IMAGE.into())),
        ("instance_type_id", Sql::Integer(6)),
        ("flavor", Sql::Text(FLAVOR.into())),
        ("vcpus", Sql::Integer(1)),
        ("memory_mb", Sql::Integer(512)),
        ("root_gb", Sql::Integer(1)),
        ("vm_state", Sql::Text("active".into())),
        ("power_state", Sql::Integer(1)),
        ("host", Sql::Text("compute".into())),
        ("node", Sql::Text("fake-mini".into())),
        ("availability_zone", Sql::Text("us-west".into())),
        ("auto_disk_config", Sql::Integer(1)),
        ("access_ip_v4", Sql::Text("1.2.3.4".into())),
        ("access_ip_v6", Sql::Text("80fe::".into())),
        (
            "user_data",
            Sql::Text("IyEvYmluL2Jhc2gKL2Jpbi9zdQplY2hvICJJIGFtIGluIHlvdSEiCg==".into()),
        ),
        ("network_info", Sql::Text(NETWORK_INFO.into())),
        (
            "security_groups",
            Sql::Text(r#"[{"name": "default"}]"#.into()),
        ),
        ("reservation_id", Sql::Text("r-ov3q80zj".into())),
        ("created_at", Sql::Text("2017-02-14T19:23:58.000000".into())),
        ("updated_at", Sql::Text("2017-02-14T19:24:00.000000".into())),
        (
            "launched_at",
            Sql::Text("2017-02-14T19:23:59.895661".into()),
        ),
    ];
    for (name, value) in columns {
        match values.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.clone(),
            None => values.push((name, value.clone())),
        }
    }
    let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
    let marks: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT INTO instances ({}) VALUES ({})",
        names.join(", "),
        marks.join(", ")
    );
    conn.execute(
        &sql,
        rusqlite::params_from_iter(values.iter().map(|(_, v)| v.clone())),
    )
    .unwrap();
}

fn add_metadata(conn: &Connection, uuid: &str, key: &str, value: &str) {
    conn.execute(
        "INSERT INTO instance_metadata (instance_uuid, key, value) VALUES (?1, ?2, ?3)",
        [uuid, key, value],
    )
    .unwrap();
}

fn get(server: &Server, path: &str, token: &str, version: Option<&str>) -> Response {
    server.api("GET", path, token, version, None)
}

const SAMPLE_ID: &str = "9168b536-cd40-4630-b43f-b259807c6e87";

fn sample_server(conn: &Connection) {
    insert(
        conn,
        SAMPLE_ID,
        &[(
            "display_description",
            Sql::Text("new-server-description".into()),
        )],
    );
    add_metadata(conn, SAMPLE_ID, "My Server Name", "Apache1");
}

fn host_id(project: &str, host: &str) -> String {
    let digest = Sha224::digest(format!("{project}{host}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn fixture(name: &str) -> Value {
    common::fixture("servers", name)
}

/// Sample shapes, where a sample's `null` also admits a string.
fn assert_shape(actual: &Value, sample: &Value, path: &str) {
    common::assert_shape_with(actual, sample, path, true);
}

per_driver!(
    show_list_and_detail_match_the_samples_per_version,
    |driver| {
        let server = Server::start(driver);
        let conn = db(&server);
        sample_server(&conn);
        conn.execute(
            "INSERT INTO instance_tags (instance_uuid, tag) VALUES (?1, 'red'), (?1, 'blue')",
            [SAMPLE_ID],
        )
        .unwrap();
        let cases: &[(Option<&str>, &str)] = &[
            (None, ""),
            (Some("2.3"), "v2.3/"),
            (Some("2.9"), "v2.9/"),
            (Some("2.16"), "v2.16/"),
            (Some("2.19"), "v2.19/"),
            (Some("2.47"), "v2.47/"),
        ];
        for (version, dir) in cases {
            let show = get(
                &server,
                &format!("/v2.1/{PROJECT}/servers/{SAMPLE_ID}"),
                ADMIN,
                *version,
            );
            assert_eq!(show.status, 200, "{version:?}: {}", show.text());
            let body = show.json();
            let mut sample =
                without_volumes(fixture(&format!("{dir}server-get-resp.json"))["server"].clone());
            if version.is_some_and(|v| v == "2.47") {
                // 2.47 is also past 2.26: the sample (generated at 2.47) already has tags.
                assert!(sample.get("tags").is_some());
            }
            assert_shape(&body["server"], &sample, &format!("{version:?} show"));

            let detail = get(
                &server,
                &format!("/v2.1/{PROJECT}/servers/detail"),
                ADMIN,
                *version,
            )
            .json();
            let sample_detail = fixture(&format!("{dir}servers-details-resp.json"));
            sample = without_volumes(sample_detail["servers"][0].clone());
            assert_shape(
                &detail["servers"][0],
                &sample,
                &format!("{version:?} detail"),
            );
            assert_eq!(detail["servers"].as_array().unwrap().len(), 1);

            let index = get(
                &server,
                &format!("/v2.1/{PROJECT}/servers"),
                ADMIN,
                *version,
            )
            .json();
            let sample_index = fixture(&format!("{dir}servers-list-resp.json"));
            assert_shape(&index["servers"][0], &sample_index["servers"][0], "index");
            assert!(index.get("servers_links").is_none());
        }

        // Values, not only shapes.
        let body = get(
            &server,
            &format!("/v2.1/{PROJECT}/servers/{SAMPLE_ID}"),
            ADMIN,
            Some("2.47"),
        )
        .json();
        let s = &body["server"];
        let base = format!("http://{}", server.addr);
        assert_eq!(s["hostId"], host_id(PROJECT, "compute"));
        assert_eq!(s["status"], "ACTIVE");
        assert_eq!(s["progress"], 0);
        assert_eq!(s["created"], "2017-02-14T19:23:58Z");
        assert_eq!(s["updated"], "2017-02-14T19:24:00Z");
        assert_eq!(s["OS-SRV-USG:launched_at"], "2017-02-14T19:23:59.895661");
        assert_eq!(s["OS-DCF:diskConfig"], "AUTO");
        assert_eq!(s["OS-EXT-SRV-ATTR:reservation_id"], "r-ov3q80zj");
        assert_eq!(s["OS-EXT-SRV-ATTR:hypervisor_hostname"], "fake-mini");
        assert_eq!(s["OS-EXT-SRV-ATTR:instance_name"], "instance-00000001");
        assert_eq!(s["host_status"], "UP");
        assert_eq!(s["locked"], false);
        assert_eq!(s["description"], "new-server-description");
        assert_eq!(s["tags"], json!(["blue", "red"]));
        assert_eq!(s["metadata"], json!({"My Server Name": "Apache1"}));
        assert_eq!(s["security_groups"], json!([{"name": "default"}]));
        assert_eq!(
            s["flavor"],
            json!({"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
               "original_name": "m1.tiny.specs", "extra_specs": {"hw:numa_nodes": "1"}})
        );
        assert_eq!(
            s["image"]["links"][0]["href"],
            format!("{base}/{PROJECT}/images/{IMAGE}")
        );
        assert_eq!(
            s["links"][0]["href"],
            format!("{base}/v2.1/{PROJECT}/servers/{SAMPLE_ID}")
        );
        assert_eq!(
            s["addresses"]["private"][0]["OS-EXT-IPS-MAC:mac_addr"],
            "00:0c:29:0d:11:74"
        );
        // 2.1: the flavor is a link, tags, locked, description and host_status are absent.
        let body = get(&server, &format!("/v2.1/servers/{SAMPLE_ID}"), ADMIN, None).json();
        let s = &body["server"];
        assert_eq!(s["flavor"]["id"], "6");
        assert_eq!(s["flavor"]["links"][0]["href"], format!("{base}/flavors/6"));
        for absent in [
            "tags",
            "locked",
            "description",
            "host_status",
            "OS-EXT-SRV-ATTR:reservation_id",
        ] {
            assert!(s.get(absent).is_none(), "{absent}");
        }
        assert_eq!(
            s["links"][0]["href"],
            format!("{base}/v2.1/servers/{SAMPLE_ID}")
        );
        // 2.26 has tags but still links the flavor.
        let body = get(
            &server,
            &format!("/v2.1/servers/{SAMPLE_ID}"),
            ADMIN,
            Some("2.26"),
        )
        .json();
        assert_eq!(body["server"]["tags"], json!(["blue", "red"]));
        assert!(body["server"]["flavor"].get("links").is_some());
        assert!(get(
            &server,
            &format!("/v2.1/servers/{SAMPLE_ID}"),
            ADMIN,
            Some("2.25")
        )
        .json()["server"]
            .get("tags")
            .is_none());
    }
);

per_driver!(
    non_admins_see_no_admin_keys_and_no_foreign_servers,
    |driver| {
        let server = Server::start(driver);
        let conn = db(&server);
        sample_server(&conn);
        insert(
            &conn,
            "11111111-2222-3333-4444-555555555555",
            &[("project_id", Sql::Text(OTHER.into()))],
        );
        let body = get(
            &server,
            &format!("/v2.1/servers/{SAMPLE_ID}"),
            DEMO,
            Some("2.47"),
        )
        .json();
        let s = &body["server"];
        assert!(
            s.as_object()
                .unwrap()
                .keys()
                .all(|k| !k.starts_with("OS-EXT-SRV-ATTR")),
            "{s}"
        );
        assert!(s.get("host_status").is_none());
        // Readers pass show:flavor-extra-specs.
        assert_eq!(s["flavor"]["extra_specs"], json!({"hw:numa_nodes": "1"}));

        // Another project's server is not found, in show, list and detail.
        let resp = get(
            &server,
            "/v2.1/servers/11111111-2222-3333-4444-555555555555",
            DEMO,
            None,
        );
        resp.assert_fault(404, "itemNotFound");
        assert_eq!(
            resp.json()["itemNotFound"]["message"],
            "Instance 11111111-2222-3333-4444-555555555555 could not be found."
        );
        get(
            &server,
            &format!("/v2.1/servers/{SAMPLE_ID}"),
            OTHER_USER,
            None,
        )
        .assert_fault(404, "itemNotFound");
        let list = get(&server, "/v2.1/servers", OTHER_USER, None).json();
        assert_eq!(list["servers"].as_array().unwrap().len(), 1);
        assert_eq!(
            list["servers"][0]["id"],
            "11111111-2222-3333-4444-555555555555"
        );
        // all_tenants: admins only (index and detail policies).
        get(&server, "/v2.1/servers?all_tenants=1", DEMO, None).assert_fault(403, "forbidden");
        get(&server, "/v2.1/servers/detail?all_tenants", DEMO, None).assert_fault(403, "forbidden");
        let all = get(&server, "/v2.1/servers?all_tenants=1", ADMIN, None).json();
        assert_eq!(all["servers"].as_array().unwrap().len(), 2);
        let own = get(&server, "/v2.1/servers?all_tenants=0", ADMIN, None).json();
        assert_eq!(own["servers"].as_array().unwrap().len(), 1);
        let by_project = get(
            &server,
            &format!("/v2.1/servers?all_tenants=1&project_id={OTHER}"),
            ADMIN,
            None,
        )
        .json();
        assert_eq!(by_project["servers"].as_array().unwrap().len(), 1);
        get(&server, "/v2.1/servers?all_tenants=maybe", ADMIN, None)
            .assert_fault(400, "badRequest");
        get(&server, "/v2.1/servers/does-not-exist", ADMIN, None).assert_fault(404, "itemNotFound");
    }
);

per_driver!(status_progress_fault_and_building_addresses, |driver| {
    let server = Server::start(driver);
    let conn = db(&server);
    let build = "00000000-0000-0000-0000-00000000000b";
    let error = "00000000-0000-0000-0000-00000000000e";
    let stopped = "00000000-0000-0000-0000-00000000000f";
    insert(
        &conn,
        build,
        &[
            ("vm_state", Sql::Text("building".into())),
            ("task_state", Sql::Text("scheduling".into())),
            ("host", Sql::Null),
            ("updated_at", Sql::Null),
        ],
    );
    insert(&conn, error, &[("vm_state", Sql::Text("error".into()))]);
    insert(
        &conn,
        stopped,
        &[
            ("vm_state", Sql::Text("stopped".into())),
            ("power_state", Sql::Integer(4)),
        ],
    );
    conn.execute(
        "INSERT INTO instance_faults (instance_uuid, code, message, details, created_at) VALUES \
         (?1, 500, 'old', 'x', '2017-01-01T00:00:00.000000'), (?1, 500, 'No valid host', 'Traceback…', '2017-02-14T19:24:01.000000')",
        [error],
    )
    .unwrap();
    let show = |uuid: &str, token: &str| {
        get(&server, &format!("/v2.1/servers/{uuid}"), token, None).json()["server"].clone()
    };
    let b = show(build, ADMIN);
    assert_eq!(
        (b["status"].as_str(), b["progress"].as_i64()),
        (Some("BUILD"), Some(0))
    );
    assert_eq!(b["addresses"], json!({}));
    assert_eq!(b["hostId"], "");
    assert_eq!(b["OS-EXT-STS:task_state"], "scheduling");
    assert_eq!(b["OS-EXT-AZ:availability_zone"], "us-west");
    assert!(b["updated"].as_str().unwrap().ends_with('Z'));
    let e = show(error, ADMIN);
    assert_eq!(e["status"], "ERROR");
    assert!(e.get("progress").is_none());
    assert_eq!(
        e["fault"],
        json!({"code": 500, "created": "2017-02-14T19:24:01Z", "message": "No valid host", "details": "Traceback…"})
    );
    let e = show(error, DEMO);
    assert!(e["fault"].get("details").is_none());
    assert_eq!(e["fault"]["message"], "No valid host");
    let s = show(stopped, DEMO);
    assert_eq!(s["status"], "SHUTOFF");
    assert!(s.get("progress").is_none());
    assert!(s.get("fault").is_none());
    assert_eq!(s["OS-EXT-STS:power_state"], 4);
});

/// 1,000 servers of PROJECT (and 10 of OTHER) in one transaction; created_at ascending with
/// the index, names `vm-0000` … `vm-0999`.
fn thousand(conn: &mut Connection) {
    let tx = conn.transaction().unwrap();
    for i in 0..1000 {
        let uuid = format!("00000000-0000-0000-0000-{i:012}");
        let state = match i % 4 {
            0 => "active",
            1 => "stopped",
            2 => "paused",
            _ => "error",
        };
        insert(
            &tx,
            &uuid,
            &[
                ("display_name", Sql::Text(format!("vm-{i:04}"))),
                ("vm_state", Sql::Text(state.into())),
                (
                    "created_at",
                    Sql::Text(format!("2020-01-01T00:{:02}:{:02}.000000", i / 60, i % 60)),
                ),
                (
                    "updated_at",
                    Sql::Text(format!("2020-01-02T00:{:02}:{:02}.000000", i / 60, i % 60)),
                ),
                (
                    "instance_type_id",
                    Sql::Integer(if i % 2 == 0 { 1 } else { 2 }),
                ),
                (
                    "image_ref",
                    Sql::Text(if i % 5 == 0 {
                        String::new()
                    } else {
                        IMAGE.into()
                    }),
                ),
                ("reservation_id", Sql::Text(format!("r-{:04}", i / 10))),
            ],
        );
        if i % 100 == 0 {
            tx.execute(
                "INSERT INTO instance_tags (instance_uuid, tag) VALUES (?1, 'a'), (?1, 'b')",
                [&uuid],
            )
            .unwrap();
        } else if i % 100 == 1 {
            tx.execute(
                "INSERT INTO instance_tags (instance_uuid, tag) VALUES (?1, 'a')",
                [&uuid],
            )
            .unwrap();
        }
    }
    for i in 0..10 {
        insert(
            &tx,
            &format!("99999999-0000-0000-0000-{i:012}"),
            &[("project_id", Sql::Text(OTHER.into()))],
        );
    }
    tx.commit().unwrap();
}

fn ids(body: &Value) -> Vec<String> {
    body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

fn count(server: &Server, query: &str, token: &str, version: Option<&str>) -> usize {
    let resp = get(server, &format!("/v2.1/servers?{query}"), token, version);
    assert_eq!(resp.status, 200, "{query}: {}", resp.text());
    resp.json()["servers"].as_array().unwrap().len()
}

per_driver!(
    filters_sorting_and_paging_over_a_thousand_servers,
    |driver| {
        let server = Server::start(driver);
        let mut conn = db(&server);
        thousand(&mut conn);

        // Paging newest first with limit/marker; next links until the end.
        let mut seen = Vec::new();
        let mut path = "/v2.1/servers?limit=300".to_owned();
        let mut pages = 0;
        loop {
            let body = get(&server, &path, DEMO, None).json();
            seen.extend(ids(&body));
            pages += 1;
            match body.get("servers_links") {
                Some(links) => {
                    let href = links[0]["href"].as_str().unwrap();
                    assert_eq!(links[0]["rel"], "next");
                    path = href[href.find("/v2.1").unwrap()..].to_owned();
                }
                None => break,
            }
        }
        assert_eq!(pages, 4);
        assert_eq!(seen.len(), 1000);
        assert_eq!(seen[0], "00000000-0000-0000-0000-000000000999");
        assert_eq!(seen[999], "00000000-0000-0000-0000-000000000000");
        // Without a limit: max_limit (1000) items, so a full page with a next link.
        let body = get(&server, "/v2.1/servers/detail", DEMO, None).json();
        assert_eq!(ids(&body).len(), 1000);
        assert!(body["servers_links"][0]["href"]
            .as_str()
            .unwrap()
            .contains("/servers/detail?marker=00000000-0000-0000-0000-000000000000"));
        // Unknown marker.
        let resp = get(&server, "/v2.1/servers?marker=nope", DEMO, None);
        resp.assert_fault(400, "badRequest");
        assert_eq!(
            resp.json()["badRequest"]["message"],
            "marker [nope] not found"
        );

        // Sorting.
        let body = get(
            &server,
            "/v2.1/servers?sort_key=display_name&sort_dir=asc&limit=3",
            DEMO,
            None,
        )
        .json();
        assert_eq!(
            ids(&body),
            [
                "00000000-0000-0000-0000-000000000000",
                "00000000-0000-0000-0000-000000000001",
                "00000000-0000-0000-0000-000000000002"
            ]
        );
        let body = get(&server, "/v2.1/servers?sort_key=vm_state&sort_dir=asc&sort_key=display_name&sort_dir=desc&limit=2", DEMO, None).json();
        assert_eq!(
            ids(&body),
            [
                "00000000-0000-0000-0000-000000000996",
                "00000000-0000-0000-0000-000000000992"
            ]
        );
        let next = get(&server, "/v2.1/servers?sort_key=vm_state&sort_dir=asc&sort_key=display_name&sort_dir=desc&limit=2&marker=00000000-0000-0000-0000-000000000992", DEMO, None).json();
        assert_eq!(
            ids(&next),
            [
                "00000000-0000-0000-0000-000000000988",
                "00000000-0000-0000-0000-000000000984"
            ]
        );
        get(&server, "/v2.1/servers?sort_key=host", DEMO, None).assert_fault(403, "forbidden");
        assert_eq!(count(&server, "sort_key=host&limit=5", ADMIN, None), 5);
        get(&server, "/v2.1/servers?sort_key=bogus", DEMO, None).assert_fault(400, "badRequest");
        get(&server, "/v2.1/servers?sort_dir=up", DEMO, None).assert_fault(400, "badRequest");
        // An ignored key (`id`) falls back to the default order.
        let body = get(&server, "/v2.1/servers?sort_key=id&limit=1", DEMO, None).json();
        assert_eq!(ids(&body), ["00000000-0000-0000-0000-000000000999"]);

        // Filters.
        assert_eq!(count(&server, "status=ACTIVE", DEMO, None), 250);
        assert_eq!(
            count(&server, "status=shutoff&status=PAUSED", DEMO, None),
            500
        );
        assert_eq!(count(&server, "status=bogus", DEMO, Some("2.37")), 0);
        let resp = get(&server, "/v2.1/servers?status=bogus", DEMO, Some("2.38"));
        resp.assert_fault(400, "badRequest");
        assert_eq!(resp.json()["badRequest"]["message"], "Invalid status value");
        get(&server, "/v2.1/servers?status=deleted", DEMO, None).assert_fault(403, "forbidden");
        assert_eq!(count(&server, "status=deleted", ADMIN, None), 0);
        assert_eq!(count(&server, "name=vm-00[0-4]", DEMO, None), 50);
        assert_eq!(count(&server, "name=^vm-099", DEMO, None), 10);
        assert_eq!(count(&server, "reservation_id=r-0001", DEMO, None), 10);
        assert_eq!(count(&server, &format!("image={IMAGE}"), DEMO, None), 800);
        assert_eq!(count(&server, "flavor=1", DEMO, None), 500);
        assert_eq!(count(&server, "flavor=nope", DEMO, None), 0);
        assert_eq!(count(&server, "ip=192.168", DEMO, None), 1000);
        assert_eq!(count(&server, "ip=10.", DEMO, None), 0);
        // ip6 is a filter from 2.5 (dropped before).
        assert_eq!(count(&server, "ip6=fe80", DEMO, Some("2.4")), 1000);
        assert_eq!(count(&server, "ip6=fe80", DEMO, Some("2.5")), 0);
        // Tags from 2.26 (dropped before).
        assert_eq!(count(&server, "tags=a,b", DEMO, Some("2.26")), 10);
        assert_eq!(count(&server, "tags=a,b", DEMO, Some("2.25")), 1000);
        assert_eq!(count(&server, "tags-any=a,b", DEMO, Some("2.26")), 20);
        assert_eq!(count(&server, "not-tags=a,b", DEMO, Some("2.26")), 990);
        assert_eq!(count(&server, "not-tags-any=a,b", DEMO, Some("2.26")), 980);
        // Name regex with a limit: the limit counts matches.
        let body = get(&server, "/v2.1/servers?name=vm-00&limit=5", DEMO, None).json();
        assert_eq!(ids(&body).len(), 5);
        assert!(body.get("servers_links").is_some());
        // Admin-only filters: dropped for others, honoured for admins.
        assert_eq!(count(&server, "vm_state=error", DEMO, None), 1000);
        assert_eq!(count(&server, "vm_state=error", ADMIN, None), 250);
        get(&server, "/v2.1/servers?metadata=x", ADMIN, None).assert_fault(400, "badRequest");
        assert_eq!(
            get(&server, "/v2.1/servers?metadata=x", ADMIN, None).json()["badRequest"]["message"],
            "Invalid filter field: metadata."
        );
        assert_eq!(count(&server, "metadata=x&limit=1", DEMO, None), 1);
        get(&server, "/v2.1/servers?name=(", DEMO, None).assert_fault(400, "badRequest");
        get(&server, "/v2.1/servers?changes-since=yesterday", DEMO, None)
            .assert_fault(400, "badRequest");

        // changes-since also returns deleted servers.
        conn.execute("UPDATE instances SET deleted = id, vm_state = 'deleted', updated_at = '2021-01-01T00:00:00.000000' WHERE uuid = '00000000-0000-0000-0000-000000000005'", []).unwrap();
        assert_eq!(
            count(&server, "changes-since=2020-12-31T00:00:00Z", DEMO, None),
            1
        );
        let body = get(
            &server,
            "/v2.1/servers/detail?changes-since=2020-12-31T00:00:00Z",
            DEMO,
            None,
        )
        .json();
        assert_eq!(body["servers"][0]["status"], "DELETED");
        assert_eq!(count(&server, "limit=1000", DEMO, None), 999);
        assert_eq!(count(&server, "status=deleted", ADMIN, None), 1);
    }
);

per_driver!(
    update_changes_fields_and_answers_the_reduced_view,
    |driver| {
        let server = Server::start(driver);
        let conn = db(&server);
        sample_server(&conn);
        // The update sample's flavor has no extra specs.
        conn.execute(
            "UPDATE instances SET flavor = replace(flavor, '\"hw:numa_nodes\": \"1\"', '')",
            [],
        )
        .unwrap();
        let path = format!("/v2.1/{PROJECT}/servers/{SAMPLE_ID}");
        let resp = server.api("PUT", &path, DEMO, None, Some(&json!({"server": {"name": "renamed", "accessIPv4": "4.3.2.1", "OS-DCF:diskConfig": "MANUAL"}})));
        assert_eq!(resp.status, 200, "{}", resp.text());
        let body = resp.json();
        let sample = fixture("server-update-resp.json");
        assert_shape(&body["server"], &sample["server"], "update 2.1");
        assert_eq!(body["server"]["name"], "renamed");
        assert_eq!(body["server"]["accessIPv4"], "4.3.2.1");
        assert_eq!(body["server"]["OS-DCF:diskConfig"], "MANUAL");
        // 2.19: description.
        let resp = server.api(
            "PUT",
            &path,
            DEMO,
            Some("2.19"),
            Some(&json!({"server": {"description": "hello"}})),
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_shape(
            &resp.json()["server"],
            &fixture("v2.19/server-put-resp.json")["server"],
            "update 2.19",
        );
        assert_eq!(resp.json()["server"]["description"], "hello");
        let resp = server.api(
            "PUT",
            &path,
            DEMO,
            Some("2.47"),
            Some(&json!({"server": {"description": "d"}})),
        );
        assert_shape(
            &resp.json()["server"],
            &fixture("v2.47/server-update-resp.json")["server"],
            "update 2.47",
        );
        let resp = server.api(
            "PUT",
            &path,
            DEMO,
            Some("2.47"),
            Some(&json!({"server": {"description": null}})),
        );
        assert_eq!(resp.json()["server"]["description"], Value::Null);
        let shown = get(&server, &path, DEMO, Some("2.19")).json();
        assert_eq!(shown["server"]["name"], "renamed");
        // Errors.
        server
            .api(
                "PUT",
                &path,
                DEMO,
                Some("2.18"),
                Some(&json!({"server": {"description": "x"}})),
            )
            .assert_fault(400, "badRequest");
        server
            .api(
                "PUT",
                &path,
                DEMO,
                None,
                Some(&json!({"server": {"accessIPv4": "nope"}})),
            )
            .assert_fault(400, "badRequest");
        server
            .api(
                "PUT",
                &path,
                DEMO,
                None,
                Some(&json!({"server": {"name": " padded "}})),
            )
            .assert_fault(400, "badRequest");
        server
            .api("PUT", &path, DEMO, None, Some(&json!({"nothing": {}})))
            .assert_fault(400, "badRequest");
        server
            .api(
                "PUT",
                &format!("/v2.1/servers/{SAMPLE_ID}"),
                OTHER_USER,
                None,
                Some(&json!({"server": {"name": "x"}})),
            )
            .assert_fault(404, "itemNotFound");
        // The legacy /v2 wrapper trims names.
        let resp = server.api(
            "PUT",
            &format!("/v2/servers/{SAMPLE_ID}"),
            DEMO,
            None,
            Some(&json!({"server": {"name": "  spaced  "}})),
        );
        assert_eq!(resp.json()["server"]["name"], "spaced");
    }
);
