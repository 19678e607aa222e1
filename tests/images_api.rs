//! The images proxy over real sockets: the seeded sample image, Nova's image view, filters
//! and paging, delete, and 404 from microversion 2.36.

mod common;

use common::Server;
use rusqlite::Connection;
use serde_json::{json, Value};

const PROJECT: &str = "6f70656e737461636b20342065766572";
const ADMIN: &str = "admin:6f70656e737461636b20342065766572";
const DEMO: &str = "demo:6f70656e737461636b20342065766572";
const IMAGE: &str = "70a599e0-31e7-49b7-b260-868f441e862b";

fn db(server: &Server) -> Connection {
    let conn = Connection::open(server.dir.join("data").join("ringnova.sqlite")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn
}

fn ids(body: &Value) -> Vec<String> {
    body["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

per_driver!(views_filters_paging_and_versions, |driver| {
    let server = Server::start(driver);
    let base = format!("http://{}", server.addr);
    let host = server.addr.ip().to_string();

    // The seeded image, in Nova's image view.
    let resp = server.api(
        "GET",
        &format!("/v2.1/{PROJECT}/images/{IMAGE}"),
        DEMO,
        None,
        None,
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let image = resp.json()["image"].clone();
    assert_eq!(image["name"], "cirros-0.3.5-x86_64-uec");
    assert_eq!(image["status"], "ACTIVE");
    assert_eq!(image["progress"], 100);
    assert_eq!(image["minDisk"], 0);
    assert_eq!(image["minRam"], 0);
    assert_eq!(image["OS-EXT-IMG-SIZE:size"], 25_165_824);
    assert_eq!(image["created"], "2011-01-01T01:02:03Z");
    assert_eq!(image["updated"], "2011-01-01T01:02:03Z");
    assert_eq!(image["OS-DCF:diskConfig"], "AUTO");
    assert_eq!(image["metadata"]["kernel_id"], "nokernel");
    assert_eq!(
        image["links"],
        json!([
            {"href": format!("{base}/v2.1/{PROJECT}/images/{IMAGE}"), "rel": "self"},
            {"href": format!("{base}/{PROJECT}/images/{IMAGE}"), "rel": "bookmark"},
            {"href": format!("http://{host}:9292/images/{IMAGE}"), "rel": "alternate", "type": "application/vnd.openstack.image"}
        ])
    );
    assert!(image.get("server").is_none());
    let mut keys: Vec<&String> = image.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "OS-DCF:diskConfig",
            "OS-EXT-IMG-SIZE:size",
            "created",
            "id",
            "links",
            "metadata",
            "minDisk",
            "minRam",
            "name",
            "progress",
            "status",
            "updated"
        ]
    );

    // A snapshot of a server and a queued image.
    let conn = db(&server);
    conn.execute(
        "INSERT INTO images (id, name, status, min_disk, min_ram, size, metadata, server_uuid, created_at, updated_at) VALUES \
         ('11111111-0000-0000-0000-000000000001', 'snap', 'queued', 1, 512, 0, '{\"image_type\": \"snapshot\"}', 'aaaaaaaa-0000-0000-0000-000000000001', '2012-01-01T00:00:00.000000', '2012-01-02T00:00:00.000000'), \
         ('11111111-0000-0000-0000-000000000002', 'other', 'active', 0, 0, 5, '{}', NULL, '2013-01-01T00:00:00.000000', '2013-01-02T00:00:00.000000')",
        [],
    )
    .unwrap();
    let list = server.api("GET", "/v2.1/images", DEMO, None, None).json();
    assert_eq!(
        ids(&list),
        [
            "11111111-0000-0000-0000-000000000002",
            "11111111-0000-0000-0000-000000000001",
            IMAGE
        ]
    );
    let first = &list["images"][0];
    assert_eq!(first.as_object().unwrap().len(), 3);
    assert_eq!(first["name"], "other");
    let detail = server
        .api(
            "GET",
            "/v2.1/images/detail?server=aaaaaaaa-0000-0000-0000-000000000001",
            DEMO,
            None,
            None,
        )
        .json();
    assert_eq!(ids(&detail), ["11111111-0000-0000-0000-000000000001"]);
    let snap = &detail["images"][0];
    assert_eq!(
        (snap["status"].as_str(), snap["progress"].as_i64()),
        (Some("SAVING"), Some(25))
    );
    assert_eq!(snap["server"]["id"], "aaaaaaaa-0000-0000-0000-000000000001");
    assert_eq!(snap["server"]["links"][1]["rel"], "bookmark");
    // Filters.
    let count = |q: &str| {
        ids(&server
            .api("GET", &format!("/v2.1/images?{q}"), DEMO, None, None)
            .json())
        .len()
    };
    assert_eq!(count("name=snap"), 1);
    assert_eq!(count("status=ACTIVE"), 2);
    assert_eq!(count("type=snapshot"), 1);
    assert_eq!(count("minRam=512"), 1);
    assert_eq!(count("changes-since=2012-06-01T00:00:00Z"), 1);
    assert_eq!(count("property-image_type=snapshot"), 1);
    // Paging.
    let page = server
        .api("GET", "/v2.1/images?limit=2", DEMO, None, None)
        .json();
    assert_eq!(ids(&page).len(), 2);
    let href = page["images_links"][0]["href"].as_str().unwrap();
    assert!(
        href.ends_with("/v2.1/images?limit=2&marker=11111111-0000-0000-0000-000000000001"),
        "{href}"
    );
    let rest = server
        .api(
            "GET",
            "/v2.1/images?limit=2&marker=11111111-0000-0000-0000-000000000001",
            DEMO,
            None,
            None,
        )
        .json();
    assert_eq!(ids(&rest), [IMAGE]);
    assert!(rest.get("images_links").is_none());
    server
        .api("GET", "/v2.1/images?marker=nope", DEMO, None, None)
        .assert_fault(400, "badRequest");
    server
        .api("GET", "/v2.1/images?limit=-1", DEMO, None, None)
        .assert_fault(400, "badRequest");
    server
        .api("GET", "/v2.1/images/nope", DEMO, None, None)
        .assert_fault(404, "itemNotFound");

    // Versions: served up to 2.35, 404 from 2.36; /v2 serves it too.
    assert_eq!(
        server
            .api("GET", "/v2.1/images", DEMO, Some("2.35"), None)
            .status,
        200
    );
    server
        .api("GET", "/v2.1/images", DEMO, Some("2.36"), None)
        .assert_fault(404, "itemNotFound");
    server
        .api(
            "GET",
            &format!("/v2.1/images/{IMAGE}"),
            DEMO,
            Some("2.60"),
            None,
        )
        .assert_fault(404, "itemNotFound");
    server
        .api(
            "DELETE",
            &format!("/v2.1/images/{IMAGE}"),
            ADMIN,
            Some("2.36"),
            None,
        )
        .assert_fault(404, "itemNotFound");
    assert_eq!(
        server
            .api("GET", &format!("/v2/images/{IMAGE}"), DEMO, None, None)
            .status,
        200
    );

    // Delete: admins only; then gone.
    let denied = server.api("DELETE", &format!("/v2.1/images/{IMAGE}"), DEMO, None, None);
    denied.assert_fault(403, "forbidden");
    assert_eq!(
        denied.json()["forbidden"]["message"],
        "You are not allowed to delete the image."
    );
    assert_eq!(
        server
            .api(
                "DELETE",
                &format!("/v2.1/images/{IMAGE}"),
                ADMIN,
                None,
                None
            )
            .status,
        204
    );
    server
        .api("GET", &format!("/v2.1/images/{IMAGE}"), DEMO, None, None)
        .assert_fault(404, "itemNotFound");
    server
        .api(
            "DELETE",
            &format!("/v2.1/images/{IMAGE}"),
            ADMIN,
            None,
            None,
        )
        .assert_fault(404, "itemNotFound");
    assert_eq!(count(""), 2);
});
