//! Black-box tests of flavors, flavor extra specs and flavor access over real sockets: bodies
//! against Nova's API samples (copied into `tests/fixtures/flavors/`) at every microversion
//! that changes them up to 2.60, every error SPEC §4.2 names, policy, visibility and paging.

mod common;

use std::collections::HashSet;

use common::{repo_root, Response, Server};
use serde_json::{json, Value};

/// The project of the API samples (hex, so it may appear in URLs).
const PROJECT: &str = "6f70656e737461636b20342065766572";
const ADMIN: &str = "admin:6f70656e737461636b20342065766572";
const DEMO: &str = "demo:demo";
/// A member (not an admin) of the sample project.
const MEMBER: &str = "demo:6f70656e737461636b20342065766572";

/// A sample with its links pointing at this server (`/v2/<project>` becomes `/v2.1/<project>`).
fn sample(server: &Server, path: &str) -> Value {
    let file = repo_root().join("tests/fixtures/flavors").join(path);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|err| panic!("sample {}: {err}", file.display()));
    let host = format!("http://{}", server.addr);
    let text = text
        .replace("http://openstack.example.com/v2/", &format!("{host}/v2.1/"))
        .replace("http://openstack.example.com", &host);
    serde_json::from_str(&text).unwrap()
}

/// A path under `/v2.1/<project>`.
fn url(path: &str) -> String {
    format!("/v2.1/{PROJECT}{path}")
}

/// Asserts `actual` equals `expected` key by key and type by type (`1.0` is not `1`).
fn same(actual: &Value, expected: &Value, at: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let mut a_keys: Vec<_> = a.keys().collect();
            let mut e_keys: Vec<_> = e.keys().collect();
            a_keys.sort();
            e_keys.sort();
            assert_eq!(a_keys, e_keys, "keys at {at}");
            for (key, value) in e {
                same(&a[key], value, &format!("{at}.{key}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "length at {at}: {actual}");
            for (i, (x, y)) in a.iter().zip(e).enumerate() {
                same(x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            assert_eq!(a.is_f64(), e.is_f64(), "number type at {at}: {a} vs {e}");
            assert_eq!(a, e, "at {at}");
        }
        _ => assert_eq!(actual, expected, "at {at}"),
    }
}

/// The JSON body of a response with this status.
fn body(resp: &Response, status: u16) -> Value {
    assert_eq!(resp.status, status, "body: {}", resp.text());
    assert!(
        resp.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        resp.headers
    );
    resp.json()
}

/// Asserts a Nova fault with this status, key and message.
fn fault(resp: &Response, status: u16, key: &str, message: &str) {
    resp.assert_fault(status, key);
    assert_eq!(resp.json()[key]["message"], message, "{}", resp.text());
}

fn not_found_message(id: &str) -> String {
    format!("Flavor {id} could not be found.")
}

/// Creates a flavor as the admin at 2.1 and returns its body.
fn create(server: &Server, flavor: Value) -> Value {
    let resp = server.api(
        "POST",
        &url("/flavors"),
        ADMIN,
        None,
        Some(&json!({ "flavor": flavor })),
    );
    body(&resp, 200)["flavor"].clone()
}

fn ids(list: &Value) -> Vec<String> {
    list["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

per_driver!(seeded_flavors_match_the_samples_up_to_2_54, |driver| {
    let server = Server::start(driver);
    for version in [None, Some("2.1"), Some("2.7"), Some("2.54")] {
        let list = server.api("GET", &url("/flavors"), ADMIN, version, None);
        same(
            &body(&list, 200),
            &sample(&server, "flavors/flavors-list-resp.json"),
            "list",
        );
        let detail = server.api("GET", &url("/flavors/detail"), ADMIN, version, None);
        same(
            &body(&detail, 200),
            &sample(&server, "flavors/flavors-detail-resp.json"),
            "detail",
        );
        let show = server.api("GET", &url("/flavors/1"), ADMIN, version, None);
        same(
            &body(&show, 200),
            &sample(&server, "flavors/flavor-get-resp.json"),
            "show",
        );
        if let Some(version) = version {
            assert_eq!(
                show.header("openstack-api-version"),
                Some(format!("compute {version}").as_str())
            );
        }
    }
    // A non-admin sees the same public flavors.
    let list = server.api(
        "GET",
        &url("/flavors/detail"),
        "demo:6f70656e737461636b20342065766572",
        None,
        None,
    );
    same(
        &body(&list, 200),
        &sample(&server, "flavors/flavors-detail-resp.json"),
        "member detail",
    );
    // Legacy /v2: the same bodies, links under /v2.
    let legacy = server.api(
        "GET",
        &format!("/v2/{PROJECT}/flavors/detail"),
        ADMIN,
        None,
        None,
    );
    let expected = sample(&server, "flavors/flavors-detail-resp.json")
        .to_string()
        .replace("/v2.1/", "/v2/");
    same(
        &body(&legacy, 200),
        &serde_json::from_str(&expected).unwrap(),
        "legacy detail",
    );
    assert!(legacy.header("openstack-api-version").is_none());
    // Links without the project when the URL has none.
    let plain = body(
        &server.api("GET", "/v2.1/flavors/1", ADMIN, None, None),
        200,
    );
    assert_eq!(
        plain["flavor"]["links"][0]["href"],
        format!("http://{}/v2.1/flavors/1", server.addr)
    );
    assert_eq!(
        plain["flavor"]["links"][1]["href"],
        format!("http://{}/flavors/1", server.addr)
    );
});

per_driver!(description_from_2_55, |driver| {
    let server = Server::start(driver);
    let created = server.api(
        "POST",
        &url("/flavors"),
        ADMIN,
        Some("2.55"),
        Some(
            &json!({"flavor": {"name": "m1.small.description", "ram": 2048, "vcpus": 1,
            "disk": 20, "id": "7", "description": "test description"}}),
        ),
    );
    same(
        &body(&created, 200),
        &json!({"flavor": sample(&server, "flavors/v2.55/flavor-get-resp.json")["flavor"]}),
        "create",
    );
    for version in ["2.55", "2.60"] {
        let list = server.api("GET", &url("/flavors"), ADMIN, Some(version), None);
        same(
            &body(&list, 200),
            &sample(&server, "flavors/v2.55/flavors-list-resp.json"),
            "list",
        );
        let detail = server.api("GET", &url("/flavors/detail"), ADMIN, Some(version), None);
        same(
            &body(&detail, 200),
            &sample(&server, "flavors/v2.55/flavors-detail-resp.json"),
            "detail",
        );
        let show = server.api("GET", &url("/flavors/7"), ADMIN, Some(version), None);
        same(
            &body(&show, 200),
            &sample(&server, "flavors/v2.55/flavor-get-resp.json"),
            "show",
        );
    }
    // Below 2.55 the description is not shown.
    let show = body(
        &server.api("GET", &url("/flavors/7"), ADMIN, Some("2.54"), None),
        200,
    );
    assert!(show["flavor"].get("description").is_none());
    // 2.61 is beyond the advertised maximum: no extra_specs in any view.
    let too_new = server.api("GET", &url("/flavors/6"), ADMIN, Some("2.61"), None);
    assert_eq!(too_new.status, 406, "{}", too_new.text());
});

per_driver!(flavor_manage_samples_and_errors, |driver| {
    let server = Server::start(driver);
    // 2.1 create.
    let req = sample(&server, "flavor-manage/flavor-create-post-req.json");
    let resp = server.api("POST", &url("/flavors"), ADMIN, Some("2.1"), Some(&req));
    same(
        &body(&resp, 200),
        &sample(&server, "flavor-manage/flavor-create-post-resp.json"),
        "create 2.1",
    );
    // Duplicates.
    let again = server.api("POST", &url("/flavors"), ADMIN, Some("2.1"), Some(&req));
    fault(
        &again,
        409,
        "conflictingRequest",
        "Flavor with ID 10 already exists.",
    );
    let mut renamed = req;
    renamed["flavor"]["id"] = json!("11");
    renamed["flavor"]["name"] = json!("m1.tiny");
    let dup_name = server.api("POST", &url("/flavors"), ADMIN, None, Some(&renamed));
    fault(
        &dup_name,
        409,
        "conflictingRequest",
        "Flavor with name m1.tiny already exists.",
    );
    // Delete: 202 and no body, then 404.
    let deleted = server.api("DELETE", &url("/flavors/10"), ADMIN, None, None);
    assert_eq!(deleted.status, 202, "{}", deleted.text());
    assert!(deleted.body.is_empty());
    fault(
        &server.api("GET", &url("/flavors/10"), ADMIN, None, None),
        404,
        "itemNotFound",
        &not_found_message("10"),
    );
    fault(
        &server.api("DELETE", &url("/flavors/10"), ADMIN, None, None),
        404,
        "itemNotFound",
        &not_found_message("10"),
    );
    // 2.55 create with a description (the id and the name are free again).
    let req = sample(&server, "flavor-manage/v2.55/flavor-create-post-req.json");
    let resp = server.api("POST", &url("/flavors"), ADMIN, Some("2.55"), Some(&req));
    same(
        &body(&resp, 200),
        &sample(&server, "flavor-manage/v2.55/flavor-create-post-resp.json"),
        "create 2.55",
    );
    // A description below 2.55 is an unknown member. (serde_json sends members sorted by
    // name, so Nova's message lists them in that order.)
    let mut old = req;
    old["flavor"]["id"] = json!("12");
    old["flavor"]["name"] = json!("old");
    let refused = server.api("POST", &url("/flavors"), ADMIN, Some("2.54"), Some(&old));
    fault(
        &refused,
        400,
        "badRequest",
        "Invalid input for field/attribute flavor. Value: {'description': 'test description', 'disk': 10, 'id': '12', 'name': 'old', 'ram': 1024, 'rxtx_factor': 2.0, 'vcpus': 2}. Additional properties are not allowed ('description' was unexpected)",
    );
    // Update (2.55): the sample, then null.
    let update = sample(&server, "flavor-manage/v2.55/flavor-update-req.json");
    let resp = server.api(
        "PUT",
        &url("/flavors/1"),
        ADMIN,
        Some("2.55"),
        Some(&update),
    );
    same(
        &body(&resp, 200),
        &sample(&server, "flavor-manage/v2.55/flavor-update-resp.json"),
        "update",
    );
    let cleared = server.api(
        "PUT",
        &url("/flavors/1"),
        ADMIN,
        Some("2.60"),
        Some(&json!({"flavor": {"description": null}})),
    );
    assert_eq!(body(&cleared, 200)["flavor"]["description"], Value::Null);
    // Update errors: unknown flavor, bad body, and no such method below 2.55.
    fault(
        &server.api(
            "PUT",
            &url("/flavors/nope"),
            ADMIN,
            Some("2.55"),
            Some(&update),
        ),
        404,
        "itemNotFound",
        &not_found_message("nope"),
    );
    fault(
        &server.api(
            "PUT",
            &url("/flavors/1"),
            ADMIN,
            Some("2.55"),
            Some(&json!({"flavor": {}})),
        ),
        400,
        "badRequest",
        "Invalid input for field/attribute flavor. Value: {}. 'description' is a required property",
    );
    fault(
        &server.api(
            "PUT",
            &url("/flavors/1"),
            ADMIN,
            Some("2.54"),
            Some(&update),
        ),
        404,
        "itemNotFound",
        "The resource could not be found.",
    );
    fault(
        &server.api(
            "PUT",
            &format!("/v2/{PROJECT}/flavors/1"),
            ADMIN,
            None,
            Some(&update),
        ),
        404,
        "itemNotFound",
        "The resource could not be found.",
    );
});

per_driver!(create_body_rules, |driver| {
    let server = Server::start(driver);
    let post = |version: Option<&str>, flavor: Value| {
        server.api(
            "POST",
            &url("/flavors"),
            ADMIN,
            version,
            Some(&json!({ "flavor": flavor })),
        )
    };
    // Generated ids: absent, null and 0 give a UUID; numbers become their text.
    for (i, id) in [None, Some(json!(null)), Some(json!(0))]
        .into_iter()
        .enumerate()
    {
        let mut flavor = json!({"name": format!("gen{i}"), "ram": 64, "vcpus": 1, "disk": 0});
        if let Some(id) = id {
            flavor["id"] = id;
        }
        let created = body(&post(None, flavor), 200)["flavor"].clone();
        let id = created["id"].as_str().unwrap();
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(&id[14..15], "4", "{id}");
    }
    let numeric = body(
        &post(
            None,
            json!({"name": "num", "ram": 64, "vcpus": 1, "disk": 0, "id": 42}),
        ),
        200,
    );
    assert_eq!(numeric["flavor"]["id"], "42");
    // Defaults and the full view of the optional members.
    let full = body(
        &post(
            Some("2.55"),
            json!({"name": "full", "ram": "128", "vcpus": "2", "disk": "3", "id": "full",
                "OS-FLV-EXT-DATA:ephemeral": 4, "swap": 512, "rxtx_factor": "1.5",
                "os-flavor-access:is_public": "no"}),
        ),
        200,
    );
    same(
        &full["flavor"],
        &json!({"id": "full", "name": "full", "ram": 128, "disk": 3, "swap": 512,
            "OS-FLV-EXT-DATA:ephemeral": 4, "OS-FLV-DISABLED:disabled": false, "vcpus": 2,
            "os-flavor-access:is_public": false, "rxtx_factor": 1.5, "description": null,
            "links": full["flavor"]["links"].clone()}),
        "full",
    );
    // Nova's own checks after the schema.
    fault(
        &post(
            None,
            json!({"name": "f", "ram": 512.0, "vcpus": 1, "disk": 0}),
        ),
        400,
        "badRequest",
        "Invalid input received: ram must be an integer",
    );
    fault(
        &post(
            None,
            json!({"name": "f", "ram": 512, "vcpus": 1, "disk": 0, "swap": 1.0}),
        ),
        400,
        "badRequest",
        "Invalid input received: swap must be an integer",
    );
    fault(
        &post(
            None,
            json!({"name": "f", "ram": 512, "vcpus": 1, "disk": 0, "rxtx_factor": "0"}),
        ),
        400,
        "badRequest",
        "Invalid input received: 'rxtx_factor' argument must be a float between 0 and 3.40282e+38",
    );
    // Schema messages.
    fault(
        &post(None, json!({"name": "f", "ram": 0, "vcpus": 1, "disk": 0})),
        400,
        "badRequest",
        "Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1",
    );
    fault(
        &post(None, json!({"name": " f", "ram": 1, "vcpus": 1, "disk": 0})),
        400,
        "badRequest",
        "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.",
    );
    fault(
        &post(None, json!({"name": "f", "ram": 1, "vcpus": 1, "disk": 0, "id": "a/b"})),
        400,
        "badRequest",
        "Invalid input for field/attribute id. Value: a/b. 'a/b' does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'",
    );
    fault(
        &post(None, json!({"name": "f", "ram": 1, "vcpus": 1})),
        400,
        "badRequest",
        "Invalid input for field/attribute flavor. Value: {'name': 'f', 'ram': 1, 'vcpus': 1}. 'disk' is a required property",
    );
    fault(
        &server.api("POST", &url("/flavors"), ADMIN, None, None),
        400,
        "badRequest",
        "None is not of type 'object'",
    );
    fault(
        &server.roundtrip(&format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{{bad}}",
            url("/flavors"),
            server.addr
        )),
        400,
        "badRequest",
        "Malformed request body",
    );
    // Legacy /v2: spaces around the name are allowed and stripped.
    let legacy = server.api(
        "POST",
        &format!("/v2/{PROJECT}/flavors"),
        ADMIN,
        None,
        Some(
            &json!({"flavor": {"name": "  spaced  ", "ram": 1, "vcpus": 1, "disk": 0, "id": "sp"}}),
        ),
    );
    assert_eq!(body(&legacy, 200)["flavor"]["name"], "spaced");
});

per_driver!(list_queries, |driver| {
    let server = Server::start(driver);
    let get = |query: &str, token: &str| {
        server.api("GET", &url(&format!("/flavors{query}")), token, None, None)
    };
    // Paging with a limit: a next link with the query sorted and the marker replaced.
    let page = body(&get("?limit=2&minRam=1&marker=1", ADMIN), 200);
    assert_eq!(ids(&page), ["2", "3"]);
    same(
        &page["flavors_links"],
        &json!([{"href": format!("http://{}/v2.1/{PROJECT}/flavors?limit=2&marker=3&minRam=1", server.addr), "rel": "next"}]),
        "next",
    );
    let detail = body(
        &server.api("GET", &url("/flavors/detail?limit=6"), ADMIN, None, None),
        200,
    );
    assert_eq!(ids(&detail).len(), 6);
    assert_eq!(
        detail["flavors_links"][0]["href"],
        format!(
            "http://{}/v2.1/{PROJECT}/flavors/detail?limit=6&marker=6",
            server.addr
        )
    );
    let short = body(&get("?limit=7", ADMIN), 200);
    assert!(short.get("flavors_links").is_none());
    assert_eq!(
        ids(&body(&get("?limit=0", ADMIN), 200)),
        Vec::<String>::new()
    );
    // Filters.
    assert_eq!(
        ids(&body(&get("?minRam=4096", ADMIN), 200)),
        ["3", "4", "5"]
    );
    assert_eq!(ids(&body(&get("?minDisk=80", MEMBER), 200)), ["4", "5"]);
    assert_eq!(
        ids(&body(&get("?minRam=8192&minDisk=100", ADMIN), 200)),
        ["5"]
    );
    assert_eq!(ids(&body(&get("?minRam=+1_0", ADMIN), 200)).len(), 6);
    // Sorting.
    assert_eq!(
        ids(&body(&get("?sort_key=memory_mb&sort_dir=desc", ADMIN), 200)),
        ["5", "4", "3", "2", "6", "1"]
    );
    assert_eq!(
        ids(&body(&get("?sort_key=name", ADMIN), 200)),
        ["4", "3", "2", "1", "6", "5"]
    );
    // Unknown parameters are ignored before 2.75; a non-admin's is_public is ignored.
    assert_eq!(ids(&body(&get("?foo=bar", ADMIN), 200)).len(), 6);
    assert_eq!(ids(&body(&get("?is_public=maybe", MEMBER), 200)).len(), 6);
    // Errors.
    fault(
        &get("?marker=nope", ADMIN),
        400,
        "badRequest",
        "marker [nope] not found",
    );
    fault(
        &get("?minRam=abc", ADMIN),
        400,
        "badRequest",
        "Invalid minRam filter [abc]",
    );
    fault(
        &get("?minDisk=1.5", MEMBER),
        400,
        "badRequest",
        "Invalid minDisk filter [1.5]",
    );
    fault(
        &get("?minRam=", ADMIN),
        400,
        "badRequest",
        "Invalid minRam filter []",
    );
    fault(
        &get("?is_public=maybe", ADMIN),
        400,
        "badRequest",
        "Invalid is_public filter [maybe]",
    );
    fault(
        &get("?limit=-1", ADMIN),
        400,
        "badRequest",
        "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'",
    );
    fault(
        &get("?sort_dir=up", ADMIN),
        400,
        "badRequest",
        "Invalid input for query parameters sort_dir. Value: up. 'up' is not one of ['asc', 'desc']",
    );
    fault(
        &get("?sort_key=ram", ADMIN),
        400,
        "badRequest",
        "Invalid input for query parameters sort_key. Value: ram. 'ram' is not one of ['created_at', 'description', 'disabled', 'ephemeral_gb', 'flavorid', 'id', 'is_public', 'memory_mb', 'name', 'root_gb', 'rxtx_factor', 'swap', 'updated_at', 'vcpu_weight', 'vcpus']",
    );
    fault(
        &server.api("GET", &url("/flavors/nope"), MEMBER, None, None),
        404,
        "itemNotFound",
        &not_found_message("nope"),
    );
});

per_driver!(private_flavors_stay_private, |driver| {
    let server = Server::start(driver);
    create(
        &server,
        json!({"name": "secret", "ram": 64, "vcpus": 1, "disk": 0, "id": "p1",
            "os-flavor-access:is_public": false}),
    );
    let list = |token: &str, query: &str| {
        ids(&body(
            &server.api("GET", &format!("/v2.1/flavors{query}"), token, None, None),
            200,
        ))
    };
    // Nova does not share a new private flavor with the creating project: the admin's
    // default list (public, plus shared with the admin's project) leaves it out.
    assert!(!list(ADMIN, "").contains(&"p1".to_owned()));
    assert!(list(ADMIN, "?is_public=none").contains(&"p1".to_owned()));
    assert_eq!(list(ADMIN, "?is_public=false"), ["p1"]);
    assert_eq!(list(ADMIN, "?is_public=true").len(), 6);
    // Other projects: not listed, 404 on show, not a marker.
    assert!(!list(DEMO, "").contains(&"p1".to_owned()));
    fault(
        &server.api("GET", "/v2.1/flavors/p1", DEMO, None, None),
        404,
        "itemNotFound",
        &not_found_message("p1"),
    );
    fault(
        &server.api("GET", "/v2.1/flavors?marker=p1", DEMO, None, None),
        400,
        "badRequest",
        "marker [p1] not found",
    );
    fault(
        &server.api("GET", "/v2.1/flavors/p1/os-extra_specs", DEMO, None, None),
        404,
        "itemNotFound",
        &not_found_message("p1"),
    );
    // Shared with demo: demo sees it; another project still does not.
    let shared = server.api(
        "POST",
        "/v2.1/flavors/p1/action",
        ADMIN,
        None,
        Some(&json!({"addTenantAccess": {"tenant": "demo"}})),
    );
    same(
        &body(&shared, 200),
        &json!({"flavor_access": [{"flavor_id": "p1", "tenant_id": "demo"}]}),
        "shared",
    );
    assert!(list(DEMO, "").contains(&"p1".to_owned()));
    assert_eq!(
        body(
            &server.api("GET", "/v2.1/flavors/p1", DEMO, None, None),
            200
        )["flavor"]["id"],
        "p1"
    );
    fault(
        &server.api("GET", "/v2.1/flavors/p1", "other:other", None, None),
        404,
        "itemNotFound",
        &not_found_message("p1"),
    );
    assert!(!list("other:other", "/detail").contains(&"p1".to_owned()));
});

per_driver!(flavor_access_samples_and_errors, |driver| {
    let server = Server::start(driver);
    let create_req = sample(&server, "flavor-access/flavor-create-req.json");
    body(
        &server.api("POST", &url("/flavors"), ADMIN, None, Some(&create_req)),
        200,
    );
    let action = |version: Option<&str>, body: &Value| {
        server.api(
            "POST",
            &url("/flavors/10/action"),
            ADMIN,
            version,
            Some(body),
        )
    };
    let access = |token: &str| {
        server.api(
            "GET",
            &url("/flavors/10/os-flavor-access"),
            token,
            None,
            None,
        )
    };
    same(
        &body(&access(ADMIN), 200),
        &json!({"flavor_access": []}),
        "empty",
    );
    // The samples, with the sample project as the tenant.
    let add = json!({"addTenantAccess": {"tenant": PROJECT}});
    same(
        &body(&action(Some("2.7"), &add), 200),
        &sample(&server, "flavor-access/flavor-access-add-tenant-resp.json"),
        "add",
    );
    same(
        &body(&access(ADMIN), 200),
        &sample(&server, "flavor-access/flavor-access-list-resp.json"),
        "list",
    );
    // The seeded flavors take internal ids 1-6: this one is 7.
    fault(
        &action(None, &add),
        409,
        "conflictingRequest",
        &format!("Flavor access already exists for flavor 7 and project {PROJECT} combination."),
    );
    let remove = json!({"removeTenantAccess": {"tenant": PROJECT}});
    same(
        &body(&action(None, &remove), 200),
        &sample(
            &server,
            "flavor-access/flavor-access-remove-tenant-resp.json",
        ),
        "remove",
    );
    fault(
        &action(None, &remove),
        404,
        "itemNotFound",
        &format!("Flavor access not found for 7 / {PROJECT} combination."),
    );
    // Public flavors: no access list; adding is a 409 from 2.7, accepted before.
    fault(
        &server.api(
            "GET",
            &url("/flavors/1/os-flavor-access"),
            ADMIN,
            None,
            None,
        ),
        404,
        "itemNotFound",
        "Access list not available for public flavors.",
    );
    let public_req = sample(&server, "flavor-access/v2.7/flavor-create-req.json");
    let mut public_req = public_req;
    public_req["flavor"]["id"] = json!("20");
    public_req["flavor"]["name"] = json!("public_flavor");
    body(
        &server.api("POST", &url("/flavors"), ADMIN, None, Some(&public_req)),
        200,
    );
    let add_sample = sample(
        &server,
        "flavor-access/v2.7/flavor-access-add-tenant-req.json",
    );
    for version in ["2.7", "2.60"] {
        fault(
            &server.api(
                "POST",
                &url("/flavors/20/action"),
                ADMIN,
                Some(version),
                Some(&add_sample),
            ),
            409,
            "conflictingRequest",
            "Can not add access to a public flavor.",
        );
    }
    let old = server.api(
        "POST",
        &url("/flavors/20/action"),
        ADMIN,
        Some("2.6"),
        Some(&add_sample),
    );
    same(
        &body(&old, 200),
        &json!({"flavor_access": [{"flavor_id": "20", "tenant_id": "fake_tenant"}]}),
        "2.6 add on public",
    );
    // Unknown flavor, bad bodies, unknown action.
    fault(
        &server.api(
            "POST",
            &url("/flavors/nope/action"),
            ADMIN,
            None,
            Some(&add),
        ),
        404,
        "itemNotFound",
        &not_found_message("nope"),
    );
    fault(
        &server.api(
            "GET",
            &url("/flavors/nope/os-flavor-access"),
            ADMIN,
            None,
            None,
        ),
        404,
        "itemNotFound",
        &not_found_message("nope"),
    );
    fault(
        &action(None, &json!({"addTenantAccess": {"tenant": ""}})),
        400,
        "badRequest",
        "Invalid input for field/attribute tenant. Value: . '' should be non-empty",
    );
    fault(
        &action(None, &json!({"addTenantAccess": null})),
        400,
        "badRequest",
        "Invalid input for field/attribute addTenantAccess. Value: None. None is not of type 'object'",
    );
    fault(
        &action(None, &json!({"removeTenantAccess": {"tenant": "x", "extra": 1}})),
        400,
        "badRequest",
        "Invalid input for field/attribute removeTenantAccess. Value: {'extra': 1, 'tenant': 'x'}. Additional properties are not allowed ('extra' was unexpected)",
    );
    fault(
        &action(None, &json!({"frobnicate": {}})),
        400,
        "badRequest",
        "There is no such action: frobnicate",
    );
    fault(
        &action(None, &json!({"addTenantAccess": {"tenant": "a"}, "x": 1})),
        400,
        "badRequest",
        "Malformed request body",
    );
});

per_driver!(extra_specs_samples_and_errors, |driver| {
    let server = Server::start(driver);
    let specs = |path: &str| url(&format!("/flavors/1/os-extra_specs{path}"));
    let create_req = sample(
        &server,
        "flavor-extra-specs/flavor-extra-specs-create-req.json",
    );
    same(
        &body(
            &server.api("POST", &specs(""), ADMIN, None, Some(&create_req)),
            200,
        ),
        &sample(
            &server,
            "flavor-extra-specs/flavor-extra-specs-create-resp.json",
        ),
        "create",
    );
    same(
        &body(&server.api("GET", &specs(""), ADMIN, None, None), 200),
        &sample(
            &server,
            "flavor-extra-specs/flavor-extra-specs-list-resp.json",
        ),
        "list",
    );
    same(
        &body(
            &server.api("GET", &specs("/hw:numa_nodes"), MEMBER, None, None),
            200,
        ),
        &sample(
            &server,
            "flavor-extra-specs/flavor-extra-specs-get-resp.json",
        ),
        "show",
    );
    let update_req = sample(
        &server,
        "flavor-extra-specs/flavor-extra-specs-update-req.json",
    );
    same(
        &body(
            &server.api(
                "PUT",
                &specs("/hw:numa_nodes"),
                ADMIN,
                None,
                Some(&update_req),
            ),
            200,
        ),
        &sample(
            &server,
            "flavor-extra-specs/flavor-extra-specs-update-resp.json",
        ),
        "update",
    );
    // Numbers are echoed as sent and stored as text.
    let numbers = json!({"extra_specs": {"n:int": 4, "n:float": 2.5}});
    same(
        &body(
            &server.api("POST", &specs(""), ADMIN, None, Some(&numbers)),
            200,
        ),
        &numbers,
        "numbers",
    );
    same(
        &body(&server.api("GET", &specs(""), MEMBER, None, None), 200),
        &json!({"extra_specs": {"hw:cpu_policy": "shared", "hw:numa_nodes": "2",
            "n:float": "2.5", "n:int": "4"}}),
        "stored",
    );
    same(
        &body(
            &server.api(
                "PUT",
                &specs("/n:int"),
                ADMIN,
                None,
                Some(&json!({"n:int": 5})),
            ),
            200,
        ),
        &json!({"n:int": 5}),
        "update number",
    );
    // Delete: 200 without a body, then 404 for the key.
    let deleted = server.api("DELETE", &specs("/hw:numa_nodes"), ADMIN, None, None);
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert!(deleted.body.is_empty());
    let missing = "Flavor 1 has no extra specs with key hw:numa_nodes.";
    fault(
        &server.api("GET", &specs("/hw:numa_nodes"), ADMIN, None, None),
        404,
        "itemNotFound",
        missing,
    );
    fault(
        &server.api("DELETE", &specs("/hw:numa_nodes"), ADMIN, None, None),
        404,
        "itemNotFound",
        missing,
    );
    // The seeded m1.tiny.specs has its spec.
    same(
        &body(
            &server.api("GET", &url("/flavors/6/os-extra_specs"), MEMBER, None, None),
            200,
        ),
        &json!({"extra_specs": {"hw:numa_nodes": "1"}}),
        "seeded",
    );
    // Errors.
    fault(
        &server.api(
            "PUT",
            &specs("/hw:cpu_policy"),
            ADMIN,
            None,
            Some(&json!({"other": "x"})),
        ),
        400,
        "badRequest",
        "Request body and URI mismatch",
    );
    fault(
        &server.api(
            "PUT",
            &specs("/a"),
            ADMIN,
            None,
            Some(&json!({"a": "1", "b": "2"})),
        ),
        400,
        "badRequest",
        "{'a': '1', 'b': '2'} has too many properties",
    );
    fault(
        &server.api(
            "POST",
            &specs(""),
            ADMIN,
            None,
            Some(&json!({"extra_specs": {"k": "x".repeat(256)}})),
        ),
        400,
        "badRequest",
        &format!(
            "Invalid input for field/attribute k. Value: {0}. '{0}' is too long",
            "x".repeat(256)
        ),
    );
    fault(
        &server.api(
            "POST",
            &specs(""),
            ADMIN,
            None,
            Some(&json!({"extra_specs": {"k": true}})),
        ),
        400,
        "badRequest",
        "Invalid input for field/attribute k. Value: True. True is not of type 'string', 'number'",
    );
    for (method, path, payload) in [
        ("GET", "/flavors/nope/os-extra_specs", None),
        (
            "POST",
            "/flavors/nope/os-extra_specs",
            Some(json!({"extra_specs": {"a": "b"}})),
        ),
        ("GET", "/flavors/nope/os-extra_specs/a", None),
        (
            "PUT",
            "/flavors/nope/os-extra_specs/a",
            Some(json!({"a": "b"})),
        ),
        ("DELETE", "/flavors/nope/os-extra_specs/a", None),
    ] {
        fault(
            &server.api(method, &url(path), ADMIN, None, payload.as_ref()),
            404,
            "itemNotFound",
            &not_found_message("nope"),
        );
    }
});

per_driver!(admin_operations_are_denied_to_members, |driver| {
    let server = Server::start(driver);
    let denied = |resp: Response, rule: &str| {
        fault(
            &resp,
            403,
            "forbidden",
            &format!("Policy doesn't allow {rule} to be performed."),
        );
    };
    let flavor = json!({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0}});
    denied(
        server.api("POST", "/v2.1/flavors", DEMO, None, Some(&flavor)),
        "os_compute_api:os-flavor-manage:create",
    );
    // The body schema is checked before policy.
    fault(
        &server.api("POST", "/v2.1/flavors", DEMO, None, Some(&json!({}))),
        400,
        "badRequest",
        "'flavor' is a required property",
    );
    denied(
        server.api(
            "PUT",
            "/v2.1/flavors/1",
            DEMO,
            Some("2.55"),
            Some(&json!({"flavor": {"description": "x"}})),
        ),
        "os_compute_api:os-flavor-manage:update",
    );
    denied(
        server.api("DELETE", "/v2.1/flavors/1", DEMO, None, None),
        "os_compute_api:os-flavor-manage:delete",
    );
    denied(
        server.api(
            "POST",
            "/v2.1/flavors/1/os-extra_specs",
            DEMO,
            None,
            Some(&json!({"extra_specs": {"a": "b"}})),
        ),
        "os_compute_api:os-flavor-extra-specs:create",
    );
    denied(
        server.api(
            "PUT",
            "/v2.1/flavors/1/os-extra_specs/a",
            DEMO,
            None,
            Some(&json!({"a": "b"})),
        ),
        "os_compute_api:os-flavor-extra-specs:update",
    );
    denied(
        server.api(
            "DELETE",
            "/v2.1/flavors/6/os-extra_specs/hw:numa_nodes",
            DEMO,
            None,
            None,
        ),
        "os_compute_api:os-flavor-extra-specs:delete",
    );
    denied(
        server.api("GET", "/v2.1/flavors/1/os-flavor-access", DEMO, None, None),
        "os_compute_api:os-flavor-access",
    );
    denied(
        server.api(
            "POST",
            "/v2.1/flavors/1/action",
            DEMO,
            None,
            Some(&json!({"addTenantAccess": {"tenant": "demo"}})),
        ),
        "os_compute_api:os-flavor-access:add_tenant_access",
    );
    denied(
        server.api(
            "POST",
            "/v2.1/flavors/1/action",
            DEMO,
            None,
            Some(&json!({"removeTenantAccess": {"tenant": "demo"}})),
        ),
        "os_compute_api:os-flavor-access:remove_tenant_access",
    );
    // Nothing changed.
    let seeded = body(
        &server.api("GET", "/v2.1/flavors/6/os-extra_specs", DEMO, None, None),
        200,
    );
    assert_eq!(seeded, json!({"extra_specs": {"hw:numa_nodes": "1"}}));
    assert_eq!(
        ids(&body(
            &server.api("GET", "/v2.1/flavors", DEMO, None, None),
            200
        ))
        .len(),
        6
    );
});

per_driver!(disabled_flavors_are_hidden_from_members, |driver| {
    let server = Server::start(driver);
    let db_path = server
        .dir
        .join("data")
        .join(ringnova::db::DEFAULT_FILE_NAME);
    let conn = rusqlite::Connection::open(&db_path).unwrap();
    conn.execute("UPDATE flavors SET disabled = 1 WHERE flavorid = '3'", [])
        .unwrap();
    drop(conn);
    let list = |token: &str| {
        ids(&body(
            &server.api("GET", "/v2.1/flavors/detail", token, None, None),
            200,
        ))
    };
    assert_eq!(list(DEMO), ["1", "2", "4", "5", "6"]);
    assert_eq!(list(ADMIN).len(), 6);
    // Show still finds it, disabled.
    let show = body(&server.api("GET", "/v2.1/flavors/3", DEMO, None, None), 200);
    assert_eq!(show["flavor"]["OS-FLV-DISABLED:disabled"], true);
});

/// Follows `flavors_links` from `start` to the end; returns every id in order and the
/// number of pages.
fn follow(server: &Server, start: &str, token: &str) -> (Vec<String>, usize) {
    let mut all = Vec::new();
    let mut pages = 0;
    let mut next = Some(start.to_owned());
    let prefix = format!("http://{}", server.addr);
    while let Some(path) = next.take() {
        let page = body(&server.api("GET", &path, token, None, None), 200);
        pages += 1;
        all.extend(ids(&page));
        if let Some(href) = page["flavors_links"][0]["href"].as_str() {
            assert_eq!(page["flavors_links"][0]["rel"], "next");
            next = Some(
                href.strip_prefix(&prefix)
                    .expect("link to this server")
                    .to_owned(),
            );
        }
        assert!(pages < 100, "runaway paging");
    }
    (all, pages)
}

per_driver!(paging_through_2500_flavors, |driver| {
    let server = Server::start(driver);
    let started = std::time::Instant::now();
    {
        let config = ringnova::db::DbConfig::at(
            server
                .dir
                .join("data")
                .join(ringnova::db::DEFAULT_FILE_NAME),
        );
        let db = ringnova::db::Db::open(&config).unwrap();
        for i in 0..2500 {
            let flavorid = format!("bulk-{i:04}");
            let name = format!("bulk flavor {i}");
            ringnova::db::flavors::create(
                &db,
                &ringnova::db::flavors::NewFlavor {
                    flavorid: &flavorid,
                    name: &name,
                    memory_mb: 256 + i64::from(i % 7),
                    vcpus: 1,
                    root_gb: 1,
                    ephemeral_gb: 0,
                    swap: 0,
                    rxtx_factor: 1.0,
                    is_public: true,
                    description: None,
                },
            )
            .unwrap();
        }
    }
    let expected: HashSet<String> = (1..=6)
        .map(|i| i.to_string())
        .chain((0..2500).map(|i| format!("bulk-{i:04}")))
        .collect();
    let check = |(ids, pages): (Vec<String>, usize), expected_pages: usize, what: &str| {
        assert_eq!(ids.len(), expected.len(), "{what}: every flavor once");
        let unique: HashSet<String> = ids.iter().cloned().collect();
        assert_eq!(unique, expected, "{what}");
        assert_eq!(pages, expected_pages, "{what}");
    };
    // The default page is [api] max_limit (1000); a member sees the same public flavors.
    check(follow(&server, "/v2.1/flavors", DEMO), 3, "index");
    check(
        follow(&server, &url("/flavors/detail?limit=500"), ADMIN),
        6,
        "detail by 500",
    );
    // A limit above max_limit is capped at it.
    let (ids, pages) = follow(
        &server,
        "/v2.1/flavors?limit=5000&sort_key=memory_mb&sort_dir=desc",
        ADMIN,
    );
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 2506);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 2506);
    assert_eq!(ids[0], "5");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
});

per_driver!(max_limit_is_configurable, |driver| {
    let server = Server::with_conf(driver, "[api]\nmax_limit = 4\n");
    let first = body(&server.api("GET", "/v2.1/flavors", ADMIN, None, None), 200);
    assert_eq!(ids(&first), ["1", "2", "3", "4"]);
    assert_eq!(
        first["flavors_links"][0]["href"],
        format!("http://{}/v2.1/flavors?marker=4", server.addr)
    );
    let (all, pages) = follow(&server, "/v2.1/flavors/detail?limit=10", ADMIN);
    assert_eq!(all, ["1", "2", "3", "4", "5", "6"]);
    assert_eq!(pages, 2);
});
