//! `os-keypairs` over real sockets: bodies against Nova's API samples (2.1, 2.2, 2.10, 2.35),
//! every error the SPEC names, policy, and two workers racing for a user's last slot.

mod common;

use std::{
    sync::{Arc, Barrier},
    thread,
};

use common::{assert_message, assert_shape, Options, Response, Server};
use serde_json::{json, Value};

const ADMIN: &str = "admin:admin";
const DEMO: &str = "demo:demo";

/// The import sample's key and the fingerprint Nova gives it.
const SAMPLE_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDx8nkQv/zgGgB4rMYmIf+6A4l6Rr+o/6lHBQdW5aYd44bd8JttDCE/F/pNRr0lRE+PiqSPO8nDPHw0010JeMH9gYgnnFlyY3/OcJ02RhIPyyxYpv9FhY+2YiUkpwFOcLImyrxEsYXpD/0d3ac30bNH6Sw9JD9UZHYcpSxsIbECHw== Generated-by-Nova";
const SAMPLE_FINGERPRINT: &str = "1e:2c:9b:56:79:4b:45:77:f9:ca:7a:98:2c:b0:d5:3c";

fn create(server: &Server, token: &str, version: &str, body: Value) -> Response {
    server.api(
        "POST",
        "/v2.1/os-keypairs",
        token,
        Some(version),
        Some(&body),
    )
}

fn fixture(name: &str) -> Value {
    common::fixture("keypairs", name)
}

per_driver!(create_and_import_match_the_samples, |driver| {
    let server = Server::start(driver);
    // 2.1: generated, 200, no type.
    let resp = create(&server, DEMO, "2.1", json!({"keypair": {"name": "gen-21"}}));
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_shape(&body, &fixture("keypairs-post-resp.json"), "post 2.1");
    let key = &body["keypair"];
    assert_eq!(key["name"], "gen-21");
    assert_eq!(key["user_id"], "demo");
    assert!(key["private_key"]
        .as_str()
        .unwrap()
        .contains("PRIVATE KEY-----"));
    assert!(key["public_key"].as_str().unwrap().starts_with("ssh-"));
    assert_eq!(key["fingerprint"].as_str().unwrap().len(), 47);

    // 2.1 import: the sample key gets Nova's fingerprint.
    let resp = create(
        &server,
        DEMO,
        "2.1",
        json!({"keypair": {"name": "imp-21", "public_key": SAMPLE_KEY}}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_shape(
        &body,
        &fixture("keypairs-import-post-resp.json"),
        "import 2.1",
    );
    assert_eq!(body["keypair"]["fingerprint"], SAMPLE_FINGERPRINT);
    assert_eq!(body["keypair"]["public_key"], SAMPLE_KEY);

    // 2.2: 201 and type.
    for (version, dir) in [("2.2", "v2.2"), ("2.10", "v2.10"), ("2.35", "v2.35")] {
        let name = format!("gen-{}", version.replace('.', "-"));
        let resp = create(
            &server,
            DEMO,
            version,
            json!({"keypair": {"name": name, "type": "ssh"}}),
        );
        assert_eq!(resp.status, 201, "{}", resp.text());
        let body = resp.json();
        assert_shape(
            &body,
            &fixture(&format!("{dir}/keypairs-post-resp.json")),
            dir,
        );
        assert_eq!(body["keypair"]["type"], "ssh");
        if dir != "v2.35" {
            let name = format!("imp-{}", version.replace('.', "-"));
            let resp = create(
                &server,
                DEMO,
                version,
                json!({"keypair": {"name": name, "type": "ssh", "public_key": SAMPLE_KEY}}),
            );
            assert_eq!(resp.status, 201, "{}", resp.text());
            let body = resp.json();
            assert_shape(
                &body,
                &fixture(&format!("{dir}/keypairs-import-post-resp.json")),
                dir,
            );
            assert_eq!(body["keypair"]["fingerprint"], SAMPLE_FINGERPRINT);
        }
    }

    // 2.10: an admin creates for another user (the v2.10 request sample's shape).
    let resp = create(
        &server,
        ADMIN,
        "2.10",
        json!({"keypair": {"name": "for-fake", "type": "ssh", "user_id": "fake"}}),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(resp.json()["keypair"]["user_id"], "fake");
    let resp = server.api(
        "GET",
        "/v2.1/os-keypairs/for-fake?user_id=fake",
        ADMIN,
        Some("2.10"),
        None,
    );
    assert_eq!(resp.status, 200, "{}", resp.text());

    // x509: generated certificate, then imported again with the same fingerprint.
    let resp = create(
        &server,
        DEMO,
        "2.2",
        json!({"keypair": {"name": "cert", "type": "x509"}}),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    let cert = resp.json()["keypair"].clone();
    assert_eq!(cert["type"], "x509");
    let pem = cert["public_key"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(cert["fingerprint"].as_str().unwrap().len(), 59);
    let resp = create(
        &server,
        DEMO,
        "2.2",
        json!({"keypair": {"name": "cert2", "type": "x509", "public_key": pem}}),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(resp.json()["keypair"]["fingerprint"], cert["fingerprint"]);
    assert!(resp.json()["keypair"].get("private_key").is_none());
});

per_driver!(show_list_delete_match_the_samples, |driver| {
    let server = Server::start(driver);
    for name in ["kp-b", "kp-a", "kp-c"] {
        let resp = create(
            &server,
            DEMO,
            "2.1",
            json!({"keypair": {"name": name, "public_key": SAMPLE_KEY}}),
        );
        assert_eq!(resp.status, 200);
    }
    // Show.
    let resp = server.api("GET", "/v2.1/os-keypairs/kp-a", DEMO, Some("2.1"), None);
    assert_eq!(resp.status, 200);
    let body = resp.json();
    assert_shape(&body, &fixture("keypairs-get-resp.json"), "show 2.1");
    let key = &body["keypair"];
    assert_eq!(
        (&key["name"], &key["user_id"], &key["fingerprint"]),
        (&json!("kp-a"), &json!("demo"), &json!(SAMPLE_FINGERPRINT))
    );
    assert_eq!(key["deleted"], false);
    assert!(key["deleted_at"].is_null() && key["updated_at"].is_null());
    assert!(key["id"].as_i64().unwrap() >= 1);
    let created = key["created_at"].as_str().unwrap();
    assert_eq!(
        created.len(),
        "2014-05-07T12:06:13.681238".len(),
        "{created}"
    );
    for (version, dir) in [("2.2", "v2.2"), ("2.10", "v2.10")] {
        let resp = server.api("GET", "/v2.1/os-keypairs/kp-a", DEMO, Some(version), None);
        let body = resp.json();
        assert_shape(
            &body,
            &fixture(&format!("{dir}/keypairs-get-resp.json")),
            dir,
        );
        assert_eq!(body["keypair"]["type"], "ssh");
    }

    // List: inner wrapper, name order, type from 2.2.
    let resp = server.api("GET", "/v2.1/os-keypairs", DEMO, Some("2.1"), None);
    let body = resp.json();
    assert_shape(&body, &fixture("keypairs-list-resp.json"), "list 2.1");
    let names: Vec<&str> = body["keypairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keypair"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kp-a", "kp-b", "kp-c"]);
    for (version, dir) in [("2.2", "v2.2"), ("2.10", "v2.10")] {
        let resp = server.api("GET", "/v2.1/os-keypairs", DEMO, Some(version), None);
        assert_shape(
            &resp.json(),
            &fixture(&format!("{dir}/keypairs-list-resp.json")),
            dir,
        );
    }
    // 2.34 ignores paging; 2.35 pages by name with a next link.
    let resp = server.api("GET", "/v2.1/os-keypairs?limit=1", DEMO, Some("2.34"), None);
    assert_eq!(resp.json()["keypairs"].as_array().unwrap().len(), 3);
    let resp = server.api("GET", "/v2.1/os-keypairs?limit=1", DEMO, Some("2.35"), None);
    let body = resp.json();
    assert_shape(
        &body,
        &fixture("v2.35/keypairs-list-resp.json"),
        "list 2.35",
    );
    assert_eq!(
        body["keypairs_links"][0]["href"],
        format!(
            "http://{}/v2.1/os-keypairs?limit=1&marker=kp-a",
            server.addr
        )
    );
    let resp = server.api(
        "GET",
        "/v2.1/os-keypairs?limit=1&marker=kp-a",
        DEMO,
        Some("2.35"),
        None,
    );
    assert_eq!(resp.json()["keypairs"][0]["keypair"]["name"], "kp-b");
    // The last page (not full) has no link.
    let resp = server.api(
        "GET",
        "/v2.1/os-keypairs?marker=kp-a",
        DEMO,
        Some("2.35"),
        None,
    );
    let body = resp.json();
    assert_shape(
        &body,
        &fixture("v2.35/keypairs-list-user1-resp.json"),
        "user1",
    );
    assert_eq!(body["keypairs"].as_array().unwrap().len(), 2);
    // An admin lists another user's key pairs, and the link keeps the user.
    create(
        &server,
        ADMIN,
        "2.10",
        json!({"keypair": {"name": "u2-a", "user_id": "user2", "public_key": SAMPLE_KEY}}),
    );
    create(
        &server,
        ADMIN,
        "2.10",
        json!({"keypair": {"name": "u2-b", "user_id": "user2", "public_key": SAMPLE_KEY}}),
    );
    let resp = server.api(
        "GET",
        "/v2.1/os-keypairs?limit=1&user_id=user2",
        ADMIN,
        Some("2.35"),
        None,
    );
    let body = resp.json();
    assert_shape(
        &body,
        &fixture("v2.35/keypairs-list-user2-resp.json"),
        "user2",
    );
    assert_eq!(
        body["keypairs_links"][0]["href"],
        format!(
            "http://{}/v2.1/os-keypairs?limit=1&marker=u2-a&user_id=user2",
            server.addr
        )
    );

    // Delete: 202 at 2.1, 204 from 2.2; then 404.
    let resp = server.api("DELETE", "/v2.1/os-keypairs/kp-a", DEMO, Some("2.1"), None);
    assert_eq!(resp.status, 202);
    let resp = server.api("DELETE", "/v2.1/os-keypairs/kp-b", DEMO, Some("2.2"), None);
    assert_eq!(resp.status, 204);
    assert!(resp.body.is_empty());
    let resp = server.api("DELETE", "/v2.1/os-keypairs/kp-b", DEMO, Some("2.2"), None);
    assert_message(
        &resp,
        404,
        "itemNotFound",
        "Keypair kp-b not found for user demo",
    );
    let resp = server.api("GET", "/v2.1/os-keypairs/kp-a", DEMO, Some("2.1"), None);
    assert_message(
        &resp,
        404,
        "itemNotFound",
        "Keypair kp-a not found for user demo",
    );
    // Legacy /v2 behaves as 2.1.
    let resp = server.api("DELETE", "/v2/os-keypairs/kp-c", DEMO, None, None);
    assert_eq!(resp.status, 202);
});

per_driver!(errors, |driver| {
    let server = Server::start(driver);
    let resp = create(
        &server,
        DEMO,
        "2.2",
        json!({"keypair": {"name": "dup", "public_key": SAMPLE_KEY}}),
    );
    assert_eq!(resp.status, 201);
    let resp = create(&server, DEMO, "2.2", json!({"keypair": {"name": "dup"}}));
    assert_message(
        &resp,
        409,
        "conflictingRequest",
        "Key pair 'dup' already exists.",
    );

    for bad in [
        "ssh-rsa AAAA",
        "not a key",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDx",
    ] {
        let resp = create(
            &server,
            DEMO,
            "2.2",
            json!({"keypair": {"name": "bad", "public_key": bad}}),
        );
        assert_message(
            &resp,
            400,
            "badRequest",
            "Keypair data is invalid: failed to generate fingerprint",
        );
    }
    let resp = create(
        &server,
        DEMO,
        "2.2",
        json!({"keypair": {"name": "bad", "type": "x509", "public_key": "nope"}}),
    );
    resp.assert_fault(400, "badRequest");
    let message = resp.json()["badRequest"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.starts_with(
            "Keypair data is invalid: failed to generate X509 fingerprint. Error message: "
        ),
        "{message}"
    );

    // Schema: name characters, missing name, type before 2.2, user_id before 2.10.
    let resp = create(&server, DEMO, "2.1", json!({"keypair": {"name": "a.b"}}));
    assert_message(
        &resp,
        400,
        "badRequest",
        "Invalid input for field/attribute name. Value: a.b. 'a.b' does not match '^[_\\\\- a-zA-Z0-9]+$'",
    );
    let resp = create(&server, DEMO, "2.1", json!({"keypair": {}}));
    assert_message(
        &resp,
        400,
        "badRequest",
        "Invalid input for field/attribute keypair. Value: {}. 'name' is a required property",
    );
    let resp = create(
        &server,
        DEMO,
        "2.1",
        json!({"keypair": {"name": "x", "type": "ssh"}}),
    );
    resp.assert_fault(400, "badRequest");
    assert!(resp
        .text()
        .contains("Additional properties are not allowed ('type' was unexpected)"));
    let resp = create(
        &server,
        DEMO,
        "2.9",
        json!({"keypair": {"name": "x", "user_id": "u"}}),
    );
    resp.assert_fault(400, "badRequest");
    assert!(resp
        .text()
        .contains("Additional properties are not allowed ('user_id' was unexpected)"));
    let resp = create(
        &server,
        DEMO,
        "2.2",
        json!({"keypair": {"name": "x", "type": "rsa"}}),
    );
    assert_message(
        &resp,
        400,
        "badRequest",
        "Invalid input for field/attribute type. Value: rsa. 'rsa' is not one of ['ssh', 'x509']",
    );
    // Legacy /v2 strips the name, then refuses unsafe characters with Nova's reason.
    let resp = server.api(
        "POST",
        "/v2/os-keypairs",
        DEMO,
        None,
        Some(&json!({"keypair": {"name": "  spaced  ", "public_key": SAMPLE_KEY}})),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["keypair"]["name"], "spaced");
    let resp = server.api(
        "POST",
        "/v2/os-keypairs",
        DEMO,
        None,
        Some(&json!({"keypair": {"name": "a.b"}})),
    );
    assert_message(
        &resp,
        400,
        "badRequest",
        "Keypair data is invalid: Keypair name contains unsafe characters",
    );

    // Marker.
    let resp = server.api(
        "GET",
        "/v2.1/os-keypairs?marker=zz",
        DEMO,
        Some("2.35"),
        None,
    );
    assert_message(&resp, 400, "badRequest", "Marker zz could not be found.");
    let resp = server.api(
        "GET",
        "/v2.1/os-keypairs?limit=-1",
        DEMO,
        Some("2.35"),
        None,
    );
    resp.assert_fault(400, "badRequest");

    // Quota: the user's key_pairs limit set to what they have.
    let resp = server.api(
        "PUT",
        "/v2.1/os-quota-sets/demo?user_id=demo",
        ADMIN,
        Some("2.1"),
        Some(&json!({"quota_set": {"key_pairs": 2}})),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let resp = create(&server, DEMO, "2.2", json!({"keypair": {"name": "over"}}));
    assert_message(
        &resp,
        403,
        "forbidden",
        "Quota exceeded, too many key pairs.",
    );
    // Nova counts before it fingerprints: a bad key over quota is a quota failure.
    let resp = create(
        &server,
        DEMO,
        "2.2",
        json!({"keypair": {"name": "over", "public_key": "junk"}}),
    );
    assert_message(
        &resp,
        403,
        "forbidden",
        "Quota exceeded, too many key pairs.",
    );
});

per_driver!(policy, |driver| {
    let server = Server::start(driver);
    create(
        &server,
        ADMIN,
        "2.10",
        json!({"keypair": {"name": "secret", "user_id": "other", "public_key": SAMPLE_KEY}}),
    );
    let denied = |method: &str, path: &str, rule: &str, body: Option<&Value>| {
        let resp = server.api(method, path, DEMO, Some("2.10"), body);
        assert_message(
            &resp,
            403,
            "forbidden",
            &format!("Policy doesn't allow os_compute_api:os-keypairs:{rule} to be performed."),
        );
    };
    denied("GET", "/v2.1/os-keypairs?user_id=other", "index", None);
    denied(
        "GET",
        "/v2.1/os-keypairs/secret?user_id=other",
        "show",
        None,
    );
    denied(
        "DELETE",
        "/v2.1/os-keypairs/secret?user_id=other",
        "delete",
        None,
    );
    denied(
        "POST",
        "/v2.1/os-keypairs",
        "create",
        Some(&json!({"keypair": {"name": "x", "user_id": "other"}})),
    );
    // Before 2.10 the query is not read: the caller's own (empty) list.
    let resp = server.api(
        "GET",
        "/v2.1/os-keypairs?user_id=other",
        DEMO,
        Some("2.9"),
        None,
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), json!({"keypairs": []}));
    // The admin reaches it.
    let resp = server.api(
        "DELETE",
        "/v2.1/os-keypairs/secret?user_id=other",
        ADMIN,
        Some("2.10"),
        None,
    );
    assert_eq!(resp.status, 204);
});

/// Two workers, two connections, two threads: each round a fresh user with one key pair slot
/// left fires two creates at once. Exactly one wins.
#[test]
fn two_workers_race_for_the_last_slot() {
    const ROUNDS: usize = 20;
    let server = Arc::new(Server::with(Options {
        workers: 2,
        ..Options::default()
    }));
    for round in 0..ROUNDS {
        let project = format!("race{round}");
        let user = format!("racer{round}");
        let resp = server.api(
            "PUT",
            &format!("/v2.1/os-quota-sets/{project}?user_id={user}"),
            ADMIN,
            Some("2.2"),
            Some(&json!({"quota_set": {"key_pairs": 2}})),
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        let token = format!("{user}:{project}");
        let resp = create(
            &server,
            &token,
            "2.2",
            json!({"keypair": {"name": "first", "public_key": SAMPLE_KEY}}),
        );
        assert_eq!(resp.status, 201, "{}", resp.text());
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = ["left", "right"]
            .into_iter()
            .map(|side| {
                let server = Arc::clone(&server);
                let barrier = Arc::clone(&barrier);
                let token = token.clone();
                thread::spawn(move || {
                    let body =
                        json!({"keypair": {"name": side, "public_key": SAMPLE_KEY}}).to_string();
                    let raw = format!(
                        "POST /v2.1/os-keypairs HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: {token}\r\n\
                         OpenStack-API-Version: compute 2.2\r\nContent-Type: application/json\r\n\
                         Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
                        server.addr,
                        body.len()
                    );
                    let mut stream = server.connect();
                    barrier.wait();
                    std::io::Write::write_all(&mut stream, raw.as_bytes()).unwrap();
                    common::read_response(&mut stream).unwrap()
                })
            })
            .collect();
        let outcomes: Vec<Response> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let mut statuses: Vec<u16> = outcomes.iter().map(|r| r.status).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 403], "round {round}");
        let loser = outcomes.iter().find(|r| r.status == 403).unwrap();
        assert_message(
            loser,
            403,
            "forbidden",
            "Quota exceeded, too many key pairs.",
        );
        let resp = server.api("GET", "/v2.1/os-keypairs", &token, Some("2.2"), None);
        assert_eq!(resp.json()["keypairs"].as_array().unwrap().len(), 2);
    }
}
