//! Black-box tests of the per-worker cache of flavor and key pair reads
//! (`src/api/read_cache.rs`): a committed write — through the same worker, the other worker or
//! another process — is visible on the very next read, and a cached body is only ever served
//! to a request that would render the same bytes (same caller, project, microversion, link
//! base, query).
//!
//! A connection stays on the worker that accepted it, so the two-worker tests keep many
//! connections open (both workers hold some of them unless the kernel put all sixteen on one)
//! and read through every one of them after each write.

mod common;

use std::{io::Write, net::TcpStream, time::Duration};

use common::{read_response, Options, Response, Server};
use serde_json::{json, Value};

const ADMIN: &str = "admin:admin";
/// A project that appears in URLs (hex), and an admin and a member of it.
const PROJECT: &str = "6f70656e737461636b20342065766572";
const PROJECT_ADMIN: &str = "admin:6f70656e737461636b20342065766572";
const MEMBER_A: &str = "alice:projecta";
const MEMBER_B: &str = "bob:projectb";
const SAMPLE_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDx8nkQv/zgGgB4rMYmIf+6A4l6Rr+o/6lHBQdW5aYd44bd8JttDCE/F/pNRr0lRE+PiqSPO8nDPHw0010JeMH9gYgnnFlyY3/OcJ02RhIPyyxYpv9FhY+2YiUkpwFOcLImyrxEsYXpD/0d3ac30bNH6Sw9JD9UZHYcpSxsIbECHw== Generated-by-Nova";

/// Connections kept open against a two-worker server.
const CONNECTIONS: usize = 16;

/// One kept-alive connection.
struct Client {
    stream: TcpStream,
    host: String,
}

impl Client {
    fn new(server: &Server) -> Client {
        Client {
            stream: server.connect(),
            host: server.addr.to_string(),
        }
    }

    /// One request on this connection; `extra` holds further header lines.
    fn call(
        &mut self,
        method: &str,
        path: &str,
        token: &str,
        version: Option<&str>,
        extra: &str,
        body: Option<&Value>,
    ) -> Response {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: {token}\r\n{extra}",
            self.host
        );
        if let Some(version) = version {
            raw.push_str(&format!("OpenStack-API-Version: compute {version}\r\n"));
        }
        if !body.is_empty() {
            raw.push_str("Content-Type: application/json\r\n");
        }
        raw.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        self.stream.write_all(raw.as_bytes()).unwrap();
        read_response(&mut self.stream).expect("a response")
    }

    fn get(&mut self, path: &str, token: &str, version: Option<&str>) -> Response {
        self.call("GET", path, token, version, "", None)
    }
}

fn ok(resp: &Response, status: u16) -> Value {
    assert_eq!(resp.status, status, "{}", resp.text());
    resp.json()
}

/// The ids of a flavor list.
fn flavor_ids(list: &Value) -> Vec<String> {
    list["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

fn keypair_names(list: &Value) -> Vec<String> {
    list["keypairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keypair"]["name"].as_str().unwrap().to_owned())
        .collect()
}

fn two_workers(driver: &str) -> (Server, Vec<Client>) {
    let server = Server::with(Options {
        driver,
        workers: 2,
        ..Options::default()
    });
    let clients = (0..CONNECTIONS).map(|_| Client::new(&server)).collect();
    (server, clients)
}

/// Reads `path` twice on every connection (the second read is a hit where the first filled
/// the cache) and checks each body.
fn on_every_connection(
    clients: &mut [Client],
    path: &str,
    token: &str,
    version: Option<&str>,
    check: impl Fn(&Response),
) {
    for (i, client) in clients.iter_mut().enumerate() {
        for _ in 0..2 {
            let resp = client.get(path, token, version);
            assert!(
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&resp))).is_ok(),
                "connection {i}: GET {path} as {token}: {} {}",
                resp.status,
                resp.text()
            );
        }
    }
}

per_driver!(
    writes_through_either_worker_are_read_next_everywhere,
    |driver| {
        let (_server, mut clients) = two_workers(driver);
        let detail = "/v2.1/flavors/detail";
        on_every_connection(&mut clients, detail, ADMIN, None, |r| {
            assert_eq!(flavor_ids(&ok(r, 200)).len(), 6);
        });
        on_every_connection(&mut clients, "/v2.1/flavors/c1", ADMIN, None, |r| {
            assert_eq!(r.status, 404);
        });

        // A flavor created through one connection.
        let created = clients[0].call(
        "POST",
        "/v2.1/flavors",
        ADMIN,
        None,
        "",
        Some(&json!({"flavor": {"name": "cached", "ram": 64, "vcpus": 1, "disk": 0, "id": "c1"}})),
    );
        ok(&created, 200);
        on_every_connection(&mut clients, detail, ADMIN, None, |r| {
            assert!(flavor_ids(&ok(r, 200)).contains(&"c1".to_owned()));
        });
        on_every_connection(&mut clients, "/v2.1/flavors", ADMIN, None, |r| {
            assert!(flavor_ids(&ok(r, 200)).contains(&"c1".to_owned()));
        });
        on_every_connection(&mut clients, "/v2.1/flavors/c1", ADMIN, Some("2.55"), |r| {
            assert_eq!(ok(r, 200)["flavor"]["description"], Value::Null);
        });

        // Its description, updated through another.
        let updated = clients[7].call(
            "PUT",
            "/v2.1/flavors/c1",
            ADMIN,
            Some("2.55"),
            "",
            Some(&json!({"flavor": {"description": "now described"}})),
        );
        ok(&updated, 200);
        on_every_connection(&mut clients, "/v2.1/flavors/c1", ADMIN, Some("2.55"), |r| {
            assert_eq!(ok(r, 200)["flavor"]["description"], "now described");
        });
        on_every_connection(&mut clients, detail, ADMIN, Some("2.55"), |r| {
            let list = ok(r, 200);
            let c1 = list["flavors"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["id"] == "c1")
                .unwrap()
                .clone();
            assert_eq!(c1["description"], "now described");
        });

        // Flavor access: a private flavor shared with a project, then unshared.
        let private = clients[3].call(
            "POST",
            "/v2.1/flavors",
            ADMIN,
            None,
            "",
            Some(
                &json!({"flavor": {"name": "private", "ram": 64, "vcpus": 1, "disk": 0,
            "id": "p1", "os-flavor-access:is_public": false}}),
            ),
        );
        ok(&private, 200);
        on_every_connection(&mut clients, detail, MEMBER_A, None, |r| {
            assert!(!flavor_ids(&ok(r, 200)).contains(&"p1".to_owned()));
        });
        let access = |tenant_action: &str| json!({ tenant_action: {"tenant": "projecta"} });
        let shared = clients[9].call(
            "POST",
            "/v2.1/flavors/p1/action",
            ADMIN,
            None,
            "",
            Some(&access("addTenantAccess")),
        );
        ok(&shared, 200);
        on_every_connection(&mut clients, detail, MEMBER_A, None, |r| {
            assert!(flavor_ids(&ok(r, 200)).contains(&"p1".to_owned()));
        });
        on_every_connection(&mut clients, "/v2.1/flavors/p1", MEMBER_A, None, |r| {
            ok(r, 200);
        });
        let unshared = clients[2].call(
            "POST",
            "/v2.1/flavors/p1/action",
            ADMIN,
            None,
            "",
            Some(&access("removeTenantAccess")),
        );
        ok(&unshared, 200);
        on_every_connection(&mut clients, detail, MEMBER_A, None, |r| {
            assert!(!flavor_ids(&ok(r, 200)).contains(&"p1".to_owned()));
        });
        on_every_connection(&mut clients, "/v2.1/flavors/p1", MEMBER_A, None, |r| {
            assert_eq!(r.status, 404);
        });

        // Deleted through a third.
        let deleted = clients[11].call("DELETE", "/v2.1/flavors/c1", ADMIN, None, "", None);
        assert_eq!(deleted.status, 202, "{}", deleted.text());
        on_every_connection(&mut clients, "/v2.1/flavors/c1", ADMIN, None, |r| {
            assert_eq!(r.status, 404);
        });
        on_every_connection(&mut clients, detail, ADMIN, None, |r| {
            assert_eq!(flavor_ids(&ok(r, 200)).len(), 6);
        });

        // A key pair imported through one connection.
        on_every_connection(&mut clients, "/v2.1/os-keypairs", MEMBER_A, None, |r| {
            assert!(keypair_names(&ok(r, 200)).is_empty());
        });
        let imported = clients[5].call(
            "POST",
            "/v2.1/os-keypairs",
            MEMBER_A,
            None,
            "",
            Some(&json!({"keypair": {"name": "k1", "public_key": SAMPLE_KEY}})),
        );
        ok(&imported, 200);
        on_every_connection(&mut clients, "/v2.1/os-keypairs", MEMBER_A, None, |r| {
            assert_eq!(keypair_names(&ok(r, 200)), ["k1"]);
        });
        // Another user's list is not the cached one.
        on_every_connection(&mut clients, "/v2.1/os-keypairs", MEMBER_B, None, |r| {
            assert!(keypair_names(&ok(r, 200)).is_empty());
        });
        let removed = clients[13].call("DELETE", "/v2.1/os-keypairs/k1", MEMBER_A, None, "", None);
        assert_eq!(removed.status, 202, "{}", removed.text());
        on_every_connection(&mut clients, "/v2.1/os-keypairs", MEMBER_A, None, |r| {
            assert!(keypair_names(&ok(r, 200)).is_empty());
        });
    }
);

#[test]
fn writes_by_another_process_are_read_next() {
    let (server, mut clients) = two_workers("legacy");
    on_every_connection(&mut clients, "/v2.1/flavors/detail", ADMIN, None, |r| {
        assert!(flavor_ids(&ok(r, 200)).contains(&"1".to_owned()));
    });
    on_every_connection(&mut clients, "/v2.1/flavors/1", ADMIN, None, |r| {
        assert_eq!(ok(r, 200)["flavor"]["name"], "m1.tiny");
    });
    let imported = clients[0].call(
        "POST",
        "/v2.1/os-keypairs",
        MEMBER_A,
        None,
        "",
        Some(&json!({"keypair": {"name": "k1", "public_key": SAMPLE_KEY}})),
    );
    ok(&imported, 200);
    on_every_connection(&mut clients, "/v2.1/os-keypairs", MEMBER_A, None, |r| {
        assert_eq!(keypair_names(&ok(r, 200)), ["k1"]);
    });

    let db_path = server
        .dir
        .join("data")
        .join(ringnova::db::DEFAULT_FILE_NAME);
    let conn = rusqlite::Connection::open(&db_path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute(
        "UPDATE flavors SET name = 'm1.renamed' WHERE flavorid = '1'",
        [],
    )
    .unwrap();
    on_every_connection(&mut clients, "/v2.1/flavors/1", ADMIN, None, |r| {
        assert_eq!(ok(r, 200)["flavor"]["name"], "m1.renamed");
    });
    on_every_connection(&mut clients, "/v2.1/flavors/detail", ADMIN, None, |r| {
        let list = ok(r, 200);
        assert_eq!(list["flavors"][0]["name"], "m1.renamed");
    });
    conn.execute("DELETE FROM key_pairs WHERE name = 'k1'", [])
        .unwrap();
    on_every_connection(&mut clients, "/v2.1/os-keypairs", MEMBER_A, None, |r| {
        assert!(keypair_names(&ok(r, 200)).is_empty());
    });
}

#[test]
fn private_flavors_never_leak_through_the_cache() {
    let server = Server::start("legacy");
    let mut client = Client::new(&server);
    let created = client.call(
        "POST",
        "/v2.1/flavors",
        ADMIN,
        None,
        "",
        Some(
            &json!({"flavor": {"name": "private", "ram": 64, "vcpus": 1, "disk": 0,
            "id": "p1", "os-flavor-access:is_public": false}}),
        ),
    );
    ok(&created, 200);
    let shared = client.call(
        "POST",
        "/v2.1/flavors/p1/action",
        ADMIN,
        None,
        "",
        Some(&json!({"addTenantAccess": {"tenant": "projecta"}})),
    );
    ok(&shared, 200);
    // The same requests but for the token, alternating, each served more than once.
    for _ in 0..3 {
        for path in ["/v2.1/flavors/detail", "/v2.1/flavors"] {
            let a = flavor_ids(&ok(&client.get(path, MEMBER_A, None), 200));
            assert!(a.contains(&"p1".to_owned()), "{path} as A: {a:?}");
            let b = flavor_ids(&ok(&client.get(path, MEMBER_B, None), 200));
            assert!(!b.contains(&"p1".to_owned()), "{path} as B: {b:?}");
            // Another user of project A shares its view; the admin's default list leaves
            // out a private flavor not shared with the admin's project.
            let a2 = flavor_ids(&ok(&client.get(path, "carol:projecta", None), 200));
            assert!(a2.contains(&"p1".to_owned()));
            let admin = flavor_ids(&ok(&client.get(path, ADMIN, None), 200));
            assert!(!admin.contains(&"p1".to_owned()));
        }
        assert_eq!(client.get("/v2.1/flavors/p1", MEMBER_A, None).status, 200);
        assert_eq!(client.get("/v2.1/flavors/p1", MEMBER_B, None).status, 404);
        assert_eq!(client.get("/v2.1/flavors/p1", ADMIN, None).status, 200);
    }
    // An admin listing everything sees it; a member asking for the same query does not.
    for _ in 0..2 {
        let all = "/v2.1/flavors?is_public=none";
        assert!(flavor_ids(&ok(&client.get(all, ADMIN, None), 200)).contains(&"p1".to_owned()));
        assert!(!flavor_ids(&ok(&client.get(all, MEMBER_B, None), 200)).contains(&"p1".to_owned()));
    }
}

#[test]
fn every_input_of_the_renderer_selects_its_own_body() {
    let server = Server::start("legacy");
    let mut client = Client::new(&server);
    let mut first: std::collections::HashMap<String, Vec<u8>> = Default::default();
    // (label, path, token, version, extra headers)
    let cases: &[(&str, String, &str, Option<&str>, &str)] = &[
        ("plain", "/v2.1/flavors/detail".into(), ADMIN, None, ""),
        (
            "2.55",
            "/v2.1/flavors/detail".into(),
            ADMIN,
            Some("2.55"),
            "",
        ),
        ("2.1", "/v2.1/flavors/detail".into(), ADMIN, Some("2.1"), ""),
        (
            "host",
            "/v2.1/flavors/detail".into(),
            ADMIN,
            None,
            "Host: a.example\r\n",
        ),
        (
            "host2",
            "/v2.1/flavors/detail".into(),
            ADMIN,
            None,
            "Host: b.example:8774\r\n",
        ),
        (
            "limit",
            "/v2.1/flavors/detail?limit=2".into(),
            ADMIN,
            None,
            "",
        ),
        (
            "minram",
            "/v2.1/flavors/detail?minRam=4096".into(),
            ADMIN,
            None,
            "",
        ),
        ("index", "/v2.1/flavors".into(), ADMIN, None, ""),
        ("legacy", "/v2/flavors/detail".into(), ADMIN, None, ""),
        (
            "project",
            format!("/v2.1/{PROJECT}/flavors/detail"),
            PROJECT_ADMIN,
            None,
            "",
        ),
        (
            "project-less",
            "/v2.1/flavors/detail".into(),
            PROJECT_ADMIN,
            None,
            "",
        ),
        ("show", "/v2.1/flavors/2".into(), ADMIN, None, ""),
        (
            "show-2.55",
            "/v2.1/flavors/2".into(),
            ADMIN,
            Some("2.55"),
            "",
        ),
    ];
    for round in 0..3 {
        for (label, path, token, version, extra) in cases {
            // A second Host header is not sent: the case's Host replaces the default one.
            let resp = if extra.starts_with("Host:") {
                let host = extra.trim_start_matches("Host: ").trim_end();
                let mut other = Client {
                    stream: client.stream.try_clone().unwrap(),
                    host: host.to_owned(),
                };
                other.get(path, token, *version)
            } else {
                client.call("GET", path, token, *version, extra, None)
            };
            assert_eq!(resp.status, 200, "{label}: {}", resp.text());
            match first.get(*label) {
                None => {
                    assert_eq!(round, 0);
                    first.insert((*label).to_owned(), resp.body.clone());
                }
                // Served from the cache, or rendered again: the same bytes.
                Some(body) => assert_eq!(&resp.body, body, "{label} in round {round}"),
            }
        }
    }
    let body = |label: &str| -> Value { serde_json::from_slice(&first[label]).unwrap() };
    // And each differs the way its input says.
    assert!(body("2.55")["flavors"][0].get("description").is_some());
    assert!(body("2.1")["flavors"][0].get("description").is_none());
    let href = |label: &str| body(label)["flavors"][0]["links"][0]["href"].clone();
    assert!(href("host")
        .as_str()
        .unwrap()
        .starts_with("http://a.example/v2.1/"));
    assert!(href("host2")
        .as_str()
        .unwrap()
        .starts_with("http://b.example:8774/v2.1/"));
    assert!(href("legacy").as_str().unwrap().contains("/v2/flavors/"));
    assert!(href("project").as_str().unwrap().contains(PROJECT));
    assert!(!href("project-less").as_str().unwrap().contains(PROJECT));
    assert_eq!(body("limit")["flavors"].as_array().unwrap().len(), 2);
    assert!(body("limit").get("flavors_links").is_some());
    assert!(body("minram")["flavors"].as_array().unwrap().len() < 6);
    assert!(body("index")["flavors"][0].get("ram").is_none());
    assert!(body("show-2.55")["flavor"].get("description").is_some());
}
