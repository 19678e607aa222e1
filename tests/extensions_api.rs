//! The extension API over real sockets: `/extensions` bodies against Nova's samples, both
//! loading modes (and a refused selection), `os-documents` CRUD with every kind of bad body,
//! paging, per-project isolation, quota and policy, and the two controller extensions changing
//! real responses: `os-lock-server` (standard; server actions) and `OS-FLV-TOTAL-DISK`
//! (optional; after hooks on flavor views).

mod common;

use std::process::Command;

use common::{assert_message, assert_shape, Response, Server};
use serde_json::{json, Value};

/// Hex project ids, so that the `/v2/{tenant_id}` and `/v2.1/{project_id}` forms route.
const PROJECT_A: &str = "a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0";
const PROJECT_B: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
const ALICE: &str = "alice:a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0";
const BOB: &str = "bob:b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
const ADMIN: &str = "admin:admin";

const TOTAL_DISK: &str = "OS-FLV-TOTAL-DISK:total_disk_gb";
const WITH_TOTAL_DISK: &str = "[DEFAULT]\nosapi_compute_extension = selective\n\
                               osapi_compute_ext_list = os-documents, OS-FLV-TOTAL-DISK\n";

fn fixture(name: &str) -> Value {
    common::fixture("extension-info", name)
}

fn get(server: &Server, path: &str, token: &str) -> Response {
    server.api("GET", path, token, None, None)
}

fn create(server: &Server, token: &str, body: &Value) -> Response {
    server.api("POST", "/v2.1/os-documents", token, None, Some(body))
}

fn aliases(body: &Value) -> Vec<String> {
    body["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ext| ext["alias"].as_str().unwrap().to_owned())
        .collect()
}

/// Sends a raw body (not necessarily JSON) as `token`.
fn raw_body(server: &Server, method: &str, path: &str, token: &str, body: &str) -> Response {
    server.roundtrip(&format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: {token}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        server.addr,
        body.len()
    ))
}

per_driver!(extensions_list_and_show_match_the_samples, |driver| {
    let server = Server::start(driver);
    for path in [
        "/v2.1/extensions".to_owned(),
        format!("/v2.1/{PROJECT_A}/extensions"),
        format!("/v2/{PROJECT_A}/extensions"),
    ] {
        let resp = get(&server, &path, ALICE);
        assert_eq!(resp.status, 200, "{path}: {}", resp.text());
        let body = resp.json();
        assert_shape(&body, &fixture("extensions-list-resp.json"), &path);
        assert_shape(&body, &fixture("folsom-extensions-get-resp.json"), &path);
        assert_eq!(aliases(&body), ["os-documents", "os-lock-server"], "{path}");
        // os-lock-server is Nova's own: its entry is the v2.1 sample's, field for field.
        let nova = fixture("extensions-list-resp.json")["extensions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|ext| ext["alias"] == "os-lock-server")
            .cloned()
            .unwrap();
        assert_eq!(body["extensions"][1], nova, "{path}");
        let documents = &body["extensions"][0];
        assert_eq!(documents["name"], "Documents");
        assert_eq!(documents["links"], json!([]));
        assert!(documents["namespace"]
            .as_str()
            .unwrap()
            .starts_with("http://"));
    }
    let resp = get(&server, "/v2.1/extensions/os-documents", ALICE);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_shape(&body, &fixture("extensions-get-resp.json"), "show");
    assert_eq!(body["extension"]["alias"], "os-documents");
    let listed = get(&server, "/v2.1/extensions", ALICE).json();
    assert_eq!(body["extension"], listed["extensions"][0]);

    let resp = get(&server, "/v2.1/extensions/os-agents", ALICE);
    assert_message(
        &resp,
        404,
        "itemNotFound",
        "The resource could not be found.",
    );
    // Folsom: the collection is read-only.
    let resp = server.api("POST", "/v2.1/extensions", ALICE, None, Some(&json!({})));
    assert_eq!(resp.status, 404);
    let resp = server.api("DELETE", "/v2.1/extensions/os-documents", ALICE, None, None);
    assert_eq!(resp.status, 404);
});

per_driver!(selective_loads_only_the_listed_extensions, |driver| {
    let conf =
        "[DEFAULT]\nosapi_compute_extension = selective\nosapi_compute_ext_list = os-documents\n";
    let server = Server::with_conf(driver, conf);
    let body = get(&server, "/v2.1/extensions", ALICE).json();
    assert_eq!(aliases(&body), ["os-documents"]);
    assert_eq!(
        get(&server, "/v2.1/extensions/os-lock-server", ALICE).status,
        404
    );
    // os-lock-server is not loaded: its actions are unknown to the servers controller.
    let resp = server.api(
        "POST",
        "/v2.1/servers/5a5a5a5a-0000-4000-8000-000000000000/action",
        ALICE,
        None,
        Some(&json!({"lock": null})),
    );
    assert_message(&resp, 400, "badRequest", "There is no such action: lock");
    let resp = create(
        &server,
        ALICE,
        &json!({"document": {"name": "n", "content": "c"}}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());

    // Nova's class path, with an empty list: nothing but /extensions itself.
    let conf = "[DEFAULT]\nosapi_compute_extension = nova.api.openstack.compute.contrib.select_extensions\n";
    let none = Server::with_conf(driver, conf);
    assert_eq!(
        aliases(&get(&none, "/v2.1/extensions", ALICE).json()).len(),
        0
    );
    assert_eq!(get(&none, "/v2.1/os-documents", ALICE).status, 404);
    assert_eq!(get(&none, "/v2.1/flavors/1", ALICE).status, 200);
});

#[test]
fn an_unknown_selected_alias_refuses_to_start() {
    let dir = common::scratch_dir("ext-unknown");
    let conf = dir.join("ringnova.conf");
    std::fs::write(
        &conf,
        "[DEFAULT]\nosapi_compute_extension = selective\nosapi_compute_ext_list = os-documents, os-nothing\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ringnova"))
        .arg("--config-file")
        .arg(&conf)
        .arg("--check-config")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("os-nothing"), "{stderr}");
    // The same file with a known alias passes.
    std::fs::write(
        &conf,
        "[DEFAULT]\nosapi_compute_extension = selective\nosapi_compute_ext_list = os-documents\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ringnova"))
        .arg("--config-file")
        .arg(&conf)
        .arg("--check-config")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every member of a document, with the values the request set.
fn assert_document(doc: &Value, name: &str, content: &str, metadata: Value, project: &str) {
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "content",
            "created_at",
            "id",
            "links",
            "metadata",
            "name",
            "project_id",
            "updated_at",
            "user_id"
        ],
        "{doc}"
    );
    assert_eq!(doc["name"], name);
    assert_eq!(doc["content"], content);
    assert_eq!(doc["metadata"], metadata);
    assert_eq!(doc["project_id"], project);
    let id = doc["id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(id.as_bytes()[14], b'4', "uuid4: {id}");
    assert!(doc["created_at"].as_str().unwrap().contains('T'));
    let links = doc["links"].as_array().unwrap();
    assert_eq!(links[0]["rel"], "self");
    assert!(links[0]["href"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/os-documents/{id}")));
    assert_eq!(links[1]["rel"], "bookmark");
}

per_driver!(documents_crud, |driver| {
    let server = Server::start(driver);
    let resp = create(
        &server,
        ALICE,
        &json!({"document": {"name": "readme", "content": "hello\n\"world\"", "metadata": {"kind": "text"}}}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(resp.header("openstack-api-version").is_some());
    let created = resp.json()["document"].clone();
    assert_document(
        &created,
        "readme",
        "hello\n\"world\"",
        json!({"kind": "text"}),
        PROJECT_A,
    );
    assert_eq!(created["user_id"], "alice");
    assert!(created["updated_at"].is_null());
    let id = created["id"].as_str().unwrap().to_owned();

    let shown = get(&server, &format!("/v2.1/os-documents/{id}"), ALICE);
    assert_eq!(shown.status, 200);
    assert_eq!(shown.json()["document"], created);

    // Under /v2/{tenant_id}: the same document, links with the tenant segment.
    let legacy = get(
        &server,
        &format!("/v2/{PROJECT_A}/os-documents/{id}"),
        ALICE,
    );
    assert_eq!(legacy.status, 200, "{}", legacy.text());
    let href = legacy.json()["document"]["links"][0]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        href.contains(&format!("/v2/{PROJECT_A}/os-documents/{id}")),
        "{href}"
    );

    // Update: any subset; metadata replaced as a whole; the rest kept.
    let path = format!("/v2.1/os-documents/{id}");
    let resp = server.api(
        "PUT",
        &path,
        ALICE,
        None,
        Some(&json!({"document": {"name": "renamed"}})),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let updated = resp.json()["document"].clone();
    assert_document(
        &updated,
        "renamed",
        "hello\n\"world\"",
        json!({"kind": "text"}),
        PROJECT_A,
    );
    assert!(updated["updated_at"].is_string());
    let resp = server.api(
        "PUT",
        &path,
        ALICE,
        None,
        Some(&json!({"document": {"content": "", "metadata": {"a": "1", "b": "2"}}})),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_document(
        &resp.json()["document"],
        "renamed",
        "",
        json!({"a": "1", "b": "2"}),
        PROJECT_A,
    );

    // Delete: 204 with no body, then 404 everywhere.
    let resp = server.api("DELETE", &path, ALICE, None, None);
    assert_eq!(resp.status, 204);
    assert!(resp.body.is_empty());
    let missing = format!("Document {id} could not be found.");
    assert_message(&get(&server, &path, ALICE), 404, "itemNotFound", &missing);
    let resp = server.api("DELETE", &path, ALICE, None, None);
    assert_message(&resp, 404, "itemNotFound", &missing);
    let resp = server.api(
        "PUT",
        &path,
        ALICE,
        None,
        Some(&json!({"document": {"name": "x"}})),
    );
    assert_message(&resp, 404, "itemNotFound", &missing);
});

per_driver!(documents_list_pages_in_creation_order, |driver| {
    let server = Server::start(driver);
    let empty = get(&server, "/v2.1/os-documents", ALICE);
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json(), json!({"documents": []}));
    let mut ids = Vec::new();
    for n in 0..5 {
        let resp = create(
            &server,
            ALICE,
            &json!({"document": {"name": format!("d{n}"), "content": "c"}}),
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        ids.push(resp.json()["document"]["id"].as_str().unwrap().to_owned());
    }
    let list = get(&server, "/v2.1/os-documents", ALICE).json();
    let listed: Vec<&str> = list["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids);
    assert!(list.get("documents_links").is_none());
    assert_document(&list["documents"][0], "d0", "c", json!({}), PROJECT_A);

    let page = get(&server, "/v2.1/os-documents?limit=2", ALICE).json();
    assert_eq!(page["documents"].as_array().unwrap().len(), 2);
    let next = page["documents_links"][0]["href"].as_str().unwrap();
    assert_eq!(page["documents_links"][0]["rel"], "next");
    assert!(next.contains(&format!("marker={}", ids[1])), "{next}");
    let rest = get(
        &server,
        &format!("/v2.1/os-documents?limit=2&marker={}", ids[3]),
        ALICE,
    )
    .json();
    let rest: Vec<&str> = rest["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(rest, [ids[4].as_str()]);
    let resp = get(&server, "/v2.1/os-documents?marker=nope", ALICE);
    assert_message(&resp, 400, "badRequest", "marker [nope] not found");
    let resp = get(&server, "/v2.1/os-documents?limit=-1", ALICE);
    resp.assert_fault(400, "badRequest");
});

per_driver!(documents_refuse_bad_bodies, |driver| {
    let server = Server::start(driver);
    let long_name = "n".repeat(256);
    let at_limit = "c".repeat(65_535);
    let over_limit = "c".repeat(65_536);
    // 32,768 characters but 65,536 bytes: only the byte limit catches it.
    let wide = "é".repeat(32_768);
    let bad_creates = [
        json!({"document": {"content": "c"}}),
        json!({"document": {"name": "n"}}),
        json!({"document": {"name": "", "content": "c"}}),
        json!({"document": {"name": long_name, "content": "c"}}),
        json!({"document": {"name": "n", "content": over_limit}}),
        json!({"document": {"name": "n", "content": wide}}),
        json!({"document": {"name": 1, "content": "c"}}),
        json!({"document": {"name": "n", "content": ["c"]}}),
        json!({"document": {"name": "n", "content": null}}),
        json!({"document": {"name": "n", "content": "c", "metadata": "k=v"}}),
        json!({"document": {"name": "n", "content": "c", "metadata": {"k": 1}}}),
        json!({"document": {"name": "n", "content": "c", "metadata": {"bad/key": "v"}}}),
        json!({"document": {"name": "n", "content": "c", "owner": "me"}}),
        json!({"document": {"name": "n", "content": "c"}, "extra": 1}),
        json!({"doc": {"name": "n", "content": "c"}}),
        json!({"document": "n"}),
        json!([]),
    ];
    for body in &bad_creates {
        let resp = create(&server, ALICE, body);
        assert_eq!(resp.status, 400, "{body}: {}", resp.text());
        resp.assert_fault(400, "badRequest");
    }
    let resp = create(
        &server,
        ALICE,
        &json!({"document": {"name": "n", "content": "c", "owner": "me"}}),
    );
    assert!(resp.json()["badRequest"]["message"]
        .as_str()
        .unwrap()
        .contains("owner"));
    let resp = server.api("POST", "/v2.1/os-documents", ALICE, None, None);
    resp.assert_fault(400, "badRequest");
    let resp = raw_body(
        &server,
        "POST",
        "/v2.1/os-documents",
        ALICE,
        "{\"document\": ",
    );
    assert_message(&resp, 400, "badRequest", "Malformed request body");
    // None of them stored anything.
    assert_eq!(
        get(&server, "/v2.1/os-documents", ALICE).json(),
        json!({"documents": []})
    );
    // The limits themselves are accepted.
    let name = "n".repeat(255);
    let resp = create(
        &server,
        ALICE,
        &json!({"document": {"name": name, "content": at_limit}}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let id = resp.json()["document"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        resp.json()["document"]["content"].as_str().unwrap().len(),
        65_535
    );

    let path = format!("/v2.1/os-documents/{id}");
    for body in [
        json!({"document": {"owner": "me"}}),
        json!({"document": {"name": ""}}),
        json!({"document": {"content": 5}}),
        json!({"document": {"content": "é".repeat(32_768)}}),
        json!({"document": {"metadata": []}}),
        json!({"name": "x"}),
    ] {
        let resp = server.api("PUT", &path, ALICE, None, Some(&body));
        assert_eq!(resp.status, 400, "{body}: {}", resp.text());
    }
    // Unchanged by the refused updates.
    let shown = get(&server, &path, ALICE).json();
    assert_eq!(shown["document"]["name"].as_str().unwrap().len(), 255);
    assert!(shown["document"]["updated_at"].is_null());
});

per_driver!(documents_are_private_to_their_project, |driver| {
    let server = Server::start(driver);
    let resp = create(
        &server,
        ALICE,
        &json!({"document": {"name": "secret", "content": "s"}}),
    );
    let id = resp.json()["document"]["id"].as_str().unwrap().to_owned();
    let path = format!("/v2.1/os-documents/{id}");
    let missing = format!("Document {id} could not be found.");
    assert_message(&get(&server, &path, BOB), 404, "itemNotFound", &missing);
    let resp = server.api(
        "PUT",
        &path,
        BOB,
        None,
        Some(&json!({"document": {"content": "x"}})),
    );
    assert_message(&resp, 404, "itemNotFound", &missing);
    let resp = server.api("DELETE", &path, BOB, None, None);
    assert_message(&resp, 404, "itemNotFound", &missing);
    assert_eq!(
        get(&server, "/v2.1/os-documents", BOB).json(),
        json!({"documents": []})
    );
    // The marker of another project's document is unknown too.
    let resp = get(&server, &format!("/v2.1/os-documents?marker={id}"), BOB);
    resp.assert_fault(400, "badRequest");
    // Another project's id in the URL.
    let resp = get(
        &server,
        &format!("/v2.1/{PROJECT_A}/os-documents/{id}"),
        BOB,
    );
    resp.assert_fault(400, "badRequest");
    // Still there, unchanged, for its owner.
    let shown = get(&server, &path, ALICE).json();
    assert_eq!(shown["document"]["content"], "s");
    assert_eq!(
        get(&server, &format!("/v2/{PROJECT_B}/os-documents"), BOB).status,
        200
    );
});

per_driver!(documents_quota_and_policy, |driver| {
    let dir = common::scratch_dir("doc-policy");
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        "\"os_compute_api:os-documents:delete\": \"rule:context_is_admin\"\n",
    )
    .unwrap();
    let conf = format!(
        "[quota]\ndocuments = 2\n[oslo_policy]\npolicy_file = {}\n",
        policy.display()
    );
    let server = Server::with_conf(driver, &conf);
    let mut ids = Vec::new();
    for n in 0..2 {
        let resp = create(
            &server,
            ALICE,
            &json!({"document": {"name": format!("q{n}"), "content": "c"}}),
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        ids.push(resp.json()["document"]["id"].as_str().unwrap().to_owned());
    }
    let resp = create(
        &server,
        ALICE,
        &json!({"document": {"name": "q2", "content": "c"}}),
    );
    assert_message(
        &resp,
        403,
        "forbidden",
        "Quota exceeded, too many documents.",
    );
    // The quota is per project.
    let resp = create(
        &server,
        BOB,
        &json!({"document": {"name": "q0", "content": "c"}}),
    );
    assert_eq!(resp.status, 200);
    // The overridden rule: members may no longer delete.
    let path = format!("/v2.1/os-documents/{}", ids[0]);
    let resp = server.api("DELETE", &path, ALICE, None, None);
    assert_message(
        &resp,
        403,
        "forbidden",
        "Policy doesn't allow os_compute_api:os-documents:delete to be performed.",
    );
    let resp = server.api(
        "DELETE",
        &format!("/v2.1/{PROJECT_A}/os-documents/{}", ids[0]),
        ALICE,
        None,
        None,
    );
    assert_eq!(resp.status, 403);
});

/// A flavor body without its links (they name the server's address) and the extension's
/// member.
fn comparable(flavor: &Value) -> Value {
    let mut flavor = flavor.clone();
    let object = flavor.as_object_mut().unwrap();
    object.remove("links");
    object.remove(TOTAL_DISK);
    flavor
}

per_driver!(
    the_flavor_controller_extension_changes_real_responses,
    |driver| {
        // Optional: loaded only when selected; the standard set leaves Nova's flavor bodies
        // alone.
        let server = Server::with_conf(driver, WITH_TOTAL_DISK);
        let plain = Server::start(driver);
        let listed = aliases(&get(&server, "/v2.1/extensions", ALICE).json());
        assert_eq!(listed, ["OS-FLV-TOTAL-DISK", "os-documents"]);
        for version in ["2.1", "2.60"] {
            let extended = server.api("GET", "/v2.1/flavors/3", ALICE, Some(version), None);
            assert_eq!(extended.status, 200, "{}", extended.text());
            assert_eq!(
                extended.header("openstack-api-version"),
                Some(format!("compute {version}").as_str())
            );
            let flavor = &extended.json()["flavor"];
            let expected = flavor["disk"].as_u64().unwrap()
                + flavor["OS-FLV-EXT-DATA:ephemeral"].as_u64().unwrap();
            assert_eq!(flavor[TOTAL_DISK].as_u64(), Some(expected), "{flavor}");
            assert_eq!(expected, 40);
            // Nothing else changed.
            let without = plain.api("GET", "/v2.1/flavors/3", ALICE, Some(version), None);
            assert_eq!(comparable(flavor), comparable(&without.json()["flavor"]));
            assert!(without.json()["flavor"].get(TOTAL_DISK).is_none());
        }
        let detail = get(&server, "/v2.1/flavors/detail", ALICE).json();
        for flavor in detail["flavors"].as_array().unwrap() {
            let expected = flavor["disk"].as_u64().unwrap()
                + flavor["OS-FLV-EXT-DATA:ephemeral"].as_u64().unwrap();
            assert_eq!(flavor[TOTAL_DISK].as_u64(), Some(expected), "{flavor}");
        }
        let plain_detail = get(&plain, "/v2.1/flavors/detail", ALICE).json();
        let strip = |list: &Value| -> Vec<Value> {
            list["flavors"]
                .as_array()
                .unwrap()
                .iter()
                .map(comparable)
                .collect()
        };
        assert_eq!(strip(&detail), strip(&plain_detail));
        // The index (not hooked) is untouched.
        let index = get(&server, "/v2.1/flavors", ALICE).json();
        assert!(index["flavors"][0].get(TOTAL_DISK).is_none());
        // Create: the hook sees the new flavor; errors of the core method pass unchanged.
        let body = json!({"flavor": {"name": "ext-new", "ram": 64, "vcpus": 1, "disk": 10,
        "OS-FLV-EXT-DATA:ephemeral": 5}});
        let resp = server.api("POST", "/v2.1/flavors", ADMIN, None, Some(&body));
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.json()["flavor"][TOTAL_DISK], 15);
        let resp = server.api("POST", "/v2.1/flavors", ADMIN, None, Some(&body));
        resp.assert_fault(409, "conflictingRequest");
        let resp = server.api("GET", "/v2.1/flavors/nope", ALICE, None, None);
        resp.assert_fault(404, "itemNotFound");
    }
);

/// The seeded sample image.
const IMAGE: &str = "70a599e0-31e7-49b7-b260-868f441e862b";

/// Boots a server of `token`'s project and waits until it is ACTIVE.
fn boot(server: &Server, token: &str) -> String {
    let body = json!({"server": {"name": "lockable", "imageRef": IMAGE, "flavorRef": "1"}});
    let resp = server.api("POST", "/v2.1/servers", token, None, Some(&body));
    assert_eq!(resp.status, 202, "{}", resp.text());
    let uuid = resp.json()["server"]["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let show = get(server, &format!("/v2.1/servers/{uuid}"), token).json();
        if show["server"]["status"] == "ACTIVE" {
            return uuid;
        }
        assert!(std::time::Instant::now() < deadline, "{show}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn server_action(server: &Server, token: &str, uuid: &str, body: Value) -> Response {
    server.api(
        "POST",
        &format!("/v2.1/servers/{uuid}/action"),
        token,
        None,
        Some(&body),
    )
}

fn locked(server: &Server, uuid: &str) -> Value {
    server
        .api(
            "GET",
            &format!("/v2.1/servers/{uuid}"),
            ALICE,
            Some("2.9"),
            None,
        )
        .json()["server"]["locked"]
        .clone()
}

per_driver!(the_lock_server_extension_changes_real_responses, |driver| {
    let server = Server::with_conf(
        driver,
        "[fake_driver]\nbuild_time = 0\nreboot_time = 0\npower_time = 0\n",
    );
    let uuid = boot(&server, ALICE);
    assert_eq!(locked(&server, &uuid), false);
    let is_locked = format!("Instance {uuid} is locked");
    let metadata = format!("/v2.1/servers/{uuid}/metadata");

    let resp = server_action(&server, ALICE, &uuid, json!({"lock": null}));
    assert_eq!(resp.status, 202, "{}", resp.text());
    assert!(resp.body.is_empty());
    assert_eq!(locked(&server, &uuid), true);
    // The core controller now refuses the owner's changes.
    let resp = server.api(
        "POST",
        &metadata,
        ALICE,
        None,
        Some(&json!({"metadata": {"k": "v"}})),
    );
    assert_message(&resp, 409, "conflictingRequest", &is_locked);
    let resp = server_action(&server, ALICE, &uuid, json!({"os-stop": null}));
    assert_message(&resp, 409, "conflictingRequest", &is_locked);
    let resp = server.api(
        "DELETE",
        &format!("/v2.1/servers/{uuid}"),
        ALICE,
        None,
        None,
    );
    assert_message(&resp, 409, "conflictingRequest", &is_locked);
    // Core actions and their errors still answer on the same route.
    let resp = server_action(&server, ALICE, &uuid, json!({"levitate": null}));
    assert_message(
        &resp,
        400,
        "badRequest",
        "There is no such action: levitate",
    );
    // Another project does not see the server.
    let resp = server_action(&server, BOB, &uuid, json!({"unlock": null}));
    assert_message(
        &resp,
        404,
        "itemNotFound",
        &format!("Instance {uuid} could not be found."),
    );

    let resp = server_action(&server, ALICE, &uuid, json!({"unlock": null}));
    assert_eq!(resp.status, 202, "{}", resp.text());
    assert_eq!(locked(&server, &uuid), false);
    let resp = server.api(
        "POST",
        &metadata,
        ALICE,
        None,
        Some(&json!({"metadata": {"k": "v"}})),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let resp = server_action(&server, ALICE, &uuid, json!({"os-stop": null}));
    assert_eq!(resp.status, 202, "{}", resp.text());

    // An admin's lock (from another project) needs the override rule to be lifted.
    let resp = server_action(&server, ADMIN, &uuid, json!({"lock": null}));
    assert_eq!(resp.status, 202, "{}", resp.text());
    let resp = server_action(&server, ALICE, &uuid, json!({"unlock": null}));
    assert_message(
        &resp,
        403,
        "forbidden",
        "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed.",
    );
    assert_eq!(locked(&server, &uuid), true);
    let resp = server_action(&server, ADMIN, &uuid, json!({"unlock": null}));
    assert_eq!(resp.status, 202, "{}", resp.text());
    assert_eq!(locked(&server, &uuid), false);
});
