//! `os-quota-sets` and `limits` over real sockets: bodies equal to Nova's API samples (2.1,
//! 2.36, 2.39, 2.57) with the default `[quota]` settings, update rules and their messages,
//! and policy.

mod common;

use common::{assert_message, Server};
use serde_json::{json, Value};

const ADMIN: &str = "admin:admin";
const DEMO: &str = "demo:demo";

fn fixture(dir: &str, name: &str) -> Value {
    common::fixture(dir, name)
}

/// A quota-set sample with its `id` set to the project used.
fn quota_sample(version_dir: &str, name: &str, project: &str) -> Value {
    let mut sample = fixture(&format!("quota_sets/{version_dir}"), name);
    if sample["quota_set"].get("id").is_some() {
        sample["quota_set"]["id"] = json!(project);
    }
    sample
}

/// (microversion, sample directory) for each version that changes quota sets.
const QUOTA_VERSIONS: [(&str, &str); 3] = [("2.1", ""), ("2.36", "v2.36"), ("2.57", "v2.57")];

per_driver!(show_detail_defaults_match_the_samples, |driver| {
    let server = Server::start(driver);
    for (version, dir) in QUOTA_VERSIONS {
        let show = server.api("GET", "/v2.1/os-quota-sets/p1", ADMIN, Some(version), None);
        assert_eq!(show.status, 200, "{}", show.text());
        assert_eq!(
            show.json(),
            quota_sample(dir, "quotas-show-get-resp.json", "p1"),
            "{version}"
        );
        let user = server.api(
            "GET",
            "/v2.1/os-quota-sets/p1?user_id=u1",
            ADMIN,
            Some(version),
            None,
        );
        assert_eq!(
            user.json(),
            quota_sample(dir, "user-quotas-show-get-resp.json", "p1"),
            "{version}"
        );
        let detail = server.api(
            "GET",
            "/v2.1/os-quota-sets/p1/detail",
            ADMIN,
            Some(version),
            None,
        );
        assert_eq!(
            detail.json(),
            quota_sample(dir, "quotas-show-detail-get-resp.json", "p1"),
            "{version}"
        );
        let defaults = server.api(
            "GET",
            "/v2.1/os-quota-sets/p1/defaults",
            DEMO,
            Some(version),
            None,
        );
        assert_eq!(
            defaults.json(),
            quota_sample(dir, "quotas-show-defaults-get-resp.json", "p1"),
            "{version}"
        );
    }
});

per_driver!(updates_match_the_samples, |driver| {
    let server = Server::start(driver);
    for (version, dir) in QUOTA_VERSIONS {
        for (req, resp_name, user) in [
            (
                "quotas-update-post-req.json",
                "quotas-update-post-resp.json",
                None,
            ),
            (
                "quotas-update-force-post-req.json",
                "quotas-update-force-post-resp.json",
                None,
            ),
            (
                "user-quotas-update-post-req.json",
                "user-quotas-update-post-resp.json",
                Some("u1"),
            ),
        ] {
            // A fresh project per sample: each sample starts from the defaults.
            let project = format!("p-{}-{}", version.replace('.', ""), resp_name.len());
            let path = match user {
                Some(user) => format!("/v2.1/os-quota-sets/{project}?user_id={user}"),
                None => format!("/v2.1/os-quota-sets/{project}"),
            };
            let body = fixture(&format!("quota_sets/{dir}"), req);
            let resp = server.api("PUT", &path, ADMIN, Some(version), Some(&body));
            assert_eq!(resp.status, 200, "{version} {req}: {}", resp.text());
            assert_eq!(
                resp.json(),
                quota_sample(dir, resp_name, &project),
                "{version} {req}"
            );
            // And it stuck.
            let show = server.api("GET", &path, ADMIN, Some(version), None);
            let mut expected = quota_sample(dir, resp_name, &project);
            expected["quota_set"]["id"] = json!(project);
            assert_eq!(show.json(), expected, "{version} {req}");
        }
    }
    // A user's limits fall back to the project's, per resource.
    let resp = server.api(
        "PUT",
        "/v2.1/os-quota-sets/pu",
        ADMIN,
        Some("2.57"),
        Some(&json!({"quota_set": {"cores": 30, "ram": "-1"}})),
    );
    assert_eq!(resp.status, 200);
    let resp = server.api(
        "PUT",
        "/v2.1/os-quota-sets/pu?user_id=u",
        ADMIN,
        Some("2.57"),
        Some(&json!({"quota_set": {"cores": "5"}})),
    );
    assert_eq!(resp.json()["quota_set"]["cores"], 5);
    assert_eq!(resp.json()["quota_set"]["ram"], -1);
    let resp = server.api(
        "GET",
        "/v2.1/os-quota-sets/pu?user_id=other",
        ADMIN,
        Some("2.57"),
        None,
    );
    assert_eq!(resp.json()["quota_set"]["cores"], 30);

    // Delete: 202, back to the defaults (users' limits too).
    let resp = server.api(
        "DELETE",
        "/v2.1/os-quota-sets/pu",
        ADMIN,
        Some("2.57"),
        None,
    );
    assert_eq!(resp.status, 202);
    assert!(resp.body.is_empty());
    for path in ["/v2.1/os-quota-sets/pu", "/v2.1/os-quota-sets/pu?user_id=u"] {
        let resp = server.api("GET", path, ADMIN, Some("2.57"), None);
        assert_eq!(
            resp.json(),
            quota_sample("v2.57", "quotas-show-get-resp.json", "pu")
        );
    }
    // Deleting one user's limits leaves the project's.
    server.api(
        "PUT",
        "/v2.1/os-quota-sets/pv",
        ADMIN,
        Some("2.57"),
        Some(&json!({"quota_set": {"instances": 7}})),
    );
    server.api(
        "PUT",
        "/v2.1/os-quota-sets/pv?user_id=u",
        ADMIN,
        Some("2.57"),
        Some(&json!({"quota_set": {"instances": 3}})),
    );
    let resp = server.api(
        "DELETE",
        "/v2.1/os-quota-sets/pv?user_id=u",
        ADMIN,
        Some("2.57"),
        None,
    );
    assert_eq!(resp.status, 202);
    let resp = server.api(
        "GET",
        "/v2.1/os-quota-sets/pv?user_id=u",
        ADMIN,
        Some("2.57"),
        None,
    );
    assert_eq!(resp.json()["quota_set"]["instances"], 7);
});

per_driver!(update_errors, |driver| {
    let server = Server::start(driver);
    let put = |path: &str, version: &str, body: Value| {
        server.api("PUT", path, ADMIN, Some(version), Some(&body))
    };
    // A quota_set that is not an object: a client error, not a 500.
    for bad in [json!(5), json!("x"), json!([1])] {
        let resp = put("/v2.1/os-quota-sets/e", "2.60", json!({ "quota_set": bad }));
        assert_message(
            &resp,
            400,
            "badRequest",
            "Invalid input for field/attribute quota_set: it must be an object.",
        );
    }
    // Schema: range, pattern, removed keys per version, unknown keys.
    let resp = put(
        "/v2.1/os-quota-sets/e",
        "2.1",
        json!({"quota_set": {"cores": -2}}),
    );
    assert_message(
        &resp,
        400,
        "badRequest",
        "Invalid input for field/attribute cores. Value: -2. -2 is less than the minimum of -1",
    );
    let resp = put(
        "/v2.1/os-quota-sets/e",
        "2.1",
        json!({"quota_set": {"ram": "lots"}}),
    );
    assert_message(
        &resp,
        400,
        "badRequest",
        "Invalid input for field/attribute ram. Value: lots. 'lots' does not match '^-?[0-9]+$'",
    );
    let resp = put(
        "/v2.1/os-quota-sets/e",
        "2.1",
        json!({"quota_set": {"cores": 2147483648u64}}),
    );
    assert_message(
        &resp,
        400,
        "badRequest",
        "Invalid input for field/attribute cores. Value: 2147483648. 2147483648 is greater than the maximum of 2147483647",
    );
    for (version, key) in [
        ("2.36", "floating_ips"),
        ("2.36", "security_groups"),
        ("2.57", "injected_files"),
        ("2.57", "injected_file_path_bytes"),
        ("2.1", "bogus"),
    ] {
        let resp = put(
            "/v2.1/os-quota-sets/e",
            version,
            json!({"quota_set": {key: 1}}),
        );
        resp.assert_fault(400, "badRequest");
        let message = resp.json()["badRequest"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            message.ends_with(&format!(
                "Additional properties are not allowed ('{key}' was unexpected)"
            )),
            "{version} {key}: {message}"
        );
    }
    // The same keys are fine before their version removes them.
    let resp = put(
        "/v2.1/os-quota-sets/e",
        "2.35",
        json!({"quota_set": {"floating_ips": 5}}),
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["quota_set"]["floating_ips"], 5);
    let resp = put(
        "/v2.1/os-quota-sets/e",
        "2.1",
        json!({"quota_set": {"networks": 5}}),
    );
    assert_message(&resp, 400, "badRequest", "The networks quota is disabled");
    let resp = put("/v2.1/os-quota-sets/e", "2.1", json!({"quota": {}}));
    assert_message(
        &resp,
        400,
        "badRequest",
        "'quota_set' is a required property",
    );

    // A user's limit may not exceed what the project has left plus the user's own.
    let resp = put(
        "/v2.1/os-quota-sets/q",
        "2.57",
        json!({"quota_set": {"key_pairs": 10}}),
    );
    assert_eq!(resp.status, 200);
    let resp = put(
        "/v2.1/os-quota-sets/q?user_id=a",
        "2.57",
        json!({"quota_set": {"key_pairs": 20}}),
    );
    assert_message(
        &resp,
        400,
        "badRequest",
        "Quota limit 20 for key_pairs must be less than or equal to 10.",
    );
    let resp = put(
        "/v2.1/os-quota-sets/q?user_id=a",
        "2.57",
        json!({"quota_set": {"key_pairs": 6}}),
    );
    assert_eq!(resp.status, 200);
    let resp = put(
        "/v2.1/os-quota-sets/q?user_id=b",
        "2.57",
        json!({"quota_set": {"key_pairs": 5}}),
    );
    assert_message(
        &resp,
        400,
        "badRequest",
        "Quota limit 5 for key_pairs must be less than or equal to 4.",
    );
    // The user's own current limit counts toward its maximum.
    let resp = put(
        "/v2.1/os-quota-sets/q?user_id=a",
        "2.57",
        json!({"quota_set": {"key_pairs": 10}}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    // A project's limit may not drop below what its users' limits take.
    let resp = put(
        "/v2.1/os-quota-sets/q",
        "2.57",
        json!({"quota_set": {"key_pairs": 9}}),
    );
    assert_message(
        &resp,
        400,
        "badRequest",
        "Quota limit 9 for key_pairs must be greater than or equal to already used and reserved 10.",
    );
    // force skips both checks.
    let resp = put(
        "/v2.1/os-quota-sets/q",
        "2.57",
        json!({"quota_set": {"key_pairs": 9, "force": "True"}}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["quota_set"]["key_pairs"], 9);
    assert!(resp.json()["quota_set"].get("id").is_none());
    let resp = put(
        "/v2.1/os-quota-sets/q",
        "2.57",
        json!({"quota_set": {"force": "maybe"}}),
    );
    resp.assert_fault(400, "badRequest");
});

per_driver!(quota_policy, |driver| {
    let server = Server::start(driver);
    let denied = |method: &str, path: &str, rule: &str, body: Option<&Value>| {
        let resp = server.api(method, path, DEMO, Some("2.57"), body);
        assert_message(
            &resp,
            403,
            "forbidden",
            &format!("Policy doesn't allow os_compute_api:os-quota-sets:{rule} to be performed."),
        );
    };
    let body = json!({"quota_set": {"cores": 1}});
    denied("PUT", "/v2.1/os-quota-sets/demo", "update", Some(&body));
    denied("DELETE", "/v2.1/os-quota-sets/demo", "delete", None);
    denied("GET", "/v2.1/os-quota-sets/other", "show", None);
    denied("GET", "/v2.1/os-quota-sets/other/detail", "detail", None);
    // Readers see their own project's quotas; anyone sees the defaults.
    for path in [
        "/v2.1/os-quota-sets/demo",
        "/v2.1/os-quota-sets/demo/detail",
        "/v2.1/os-quota-sets/other/defaults",
    ] {
        let resp = server.api("GET", path, DEMO, Some("2.57"), None);
        assert_eq!(resp.status, 200, "{path}: {}", resp.text());
    }
});

/// (microversion, sample directory) for each version that changes limits.
const LIMIT_VERSIONS: [(&str, &str); 5] = [
    ("2.1", ""),
    ("2.35", ""),
    ("2.36", "v2.36"),
    ("2.39", "v2.39"),
    ("2.57", "v2.57"),
];

per_driver!(limits_match_the_samples, |driver| {
    let server = Server::start(driver);
    for (version, dir) in LIMIT_VERSIONS {
        let resp = server.api("GET", "/v2.1/limits", DEMO, Some(version), None);
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(
            resp.json(),
            fixture(&format!("limits/{dir}"), "limit-get-resp.json"),
            "{version}"
        );
    }
    let resp = server.api("GET", "/v2/limits", DEMO, None, None);
    assert_eq!(resp.json(), fixture("limits", "limit-get-resp.json"));

    // The project's stored limits show; key pairs of users are not usage.
    let resp = server.api(
        "PUT",
        "/v2.1/os-quota-sets/demo",
        ADMIN,
        Some("2.57"),
        Some(&json!({"quota_set": {"key_pairs": 3, "metadata_items": 7}})),
    );
    assert_eq!(resp.status, 200);
    server.api(
        "POST",
        "/v2.1/os-keypairs",
        DEMO,
        Some("2.57"),
        Some(&json!({"keypair": {"name": "k"}})),
    );
    let resp = server.api("GET", "/v2.1/limits", DEMO, Some("2.38"), None);
    let absolute = &resp.json()["limits"]["absolute"];
    assert_eq!(absolute["maxTotalKeypairs"], 3);
    assert_eq!(absolute["maxServerMeta"], 7);
    assert_eq!(absolute["maxImageMeta"], 7);
    assert_eq!(absolute["totalInstancesUsed"], 0);

    // Another project's limits: admins only.
    let resp = server.api(
        "GET",
        "/v2.1/limits?tenant_id=admin",
        DEMO,
        Some("2.57"),
        None,
    );
    assert_message(
        &resp,
        403,
        "forbidden",
        "Policy doesn't allow os_compute_api:limits:other_project to be performed.",
    );
    let resp = server.api(
        "GET",
        "/v2.1/limits?tenant_id=demo",
        ADMIN,
        Some("2.57"),
        None,
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["limits"]["absolute"]["maxTotalKeypairs"], 3);
    let resp = server.api("GET", "/v2.1/limits", ADMIN, Some("2.57"), None);
    assert_eq!(resp.json()["limits"]["absolute"]["maxTotalKeypairs"], 100);
});
