//! The first API: version documents field by field against Nova's samples, 300 choices,
//! healthcheck, request-id and microversion headers, noauth2 handshake.

mod common;

use common::Server;
use serde_json::Value;

/// Nova's sample with its example host swapped for ours and the maximum microversion for
/// the one ringnova advertises.
fn sample(name: &str, host: &str) -> Value {
    let path = common::repo_root()
        .join("tests/fixtures/versions")
        .join(name);
    let text = std::fs::read_to_string(path).unwrap();
    let text = text
        .replace("http://openstack.example.com", &format!("http://{host}"))
        .replace("\"2.104\"", "\"2.60\"");
    serde_json::from_str(&text).unwrap()
}

per_driver!(root_versions_document_matches_the_sample, |driver| {
    let server = Server::start(driver);
    let resp = server.get("/", "");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(
        resp.json(),
        sample("versions-get-resp.json", &server.addr.to_string())
    );
    // The root pipeline has neither request ids nor microversion headers.
    for name in [
        "x-openstack-request-id",
        "x-compute-request-id",
        "openstack-api-version",
        "vary",
    ] {
        assert!(resp.header(name).is_none(), "unexpected {name}");
    }
});

per_driver!(v21_document_matches_the_sample, |driver| {
    let server = Server::start(driver);
    for path in ["/v2.1", "/v2.1/"] {
        let resp = server.get(path, "");
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(
            resp.json(),
            sample("v21-version-get-resp.json", &server.addr.to_string())
        );
        assert_eq!(resp.header("openstack-api-version"), Some("compute 2.1"));
        assert_eq!(resp.header("x-openstack-nova-api-version"), Some("2.1"));
        assert_eq!(
            resp.headers_named("vary"),
            ["OpenStack-API-Version", "X-OpenStack-Nova-API-Version"]
        );
        let id = resp.header("x-openstack-request-id").unwrap();
        assert_eq!(resp.header("x-compute-request-id"), Some(id));
        assert!(id.starts_with("req-") && id.len() == 40, "{id}");
    }
});

per_driver!(v2_document_is_the_legacy_one, |driver| {
    let server = Server::start(driver);
    for path in ["/v2", "/v2/"] {
        let resp = server.get(path, "OpenStack-API-Version: compute 2.1\r\n");
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.json(),
            sample("v2-version-get-resp.json", &server.addr.to_string())
        );
        assert!(
            resp.header("openstack-api-version").is_none(),
            "legacy v2 has no microversions"
        );
        assert!(resp.header("vary").is_none());
        assert!(resp.header("x-compute-request-id").is_some());
    }
});

per_driver!(other_paths_get_300_choices, |driver| {
    let server = Server::start(driver);
    let resp = server.get("/images/1", "");
    assert_eq!(resp.status, 300);
    let host = server.addr.to_string();
    let choices = resp.json()["choices"].clone();
    assert_eq!(choices.as_array().unwrap().len(), 2);
    assert_eq!(choices[0]["id"], "v2.0");
    assert_eq!(choices[0]["status"], "DEPRECATED");
    assert_eq!(
        choices[0]["links"][0]["href"],
        format!("http://{host}/v2/images/1")
    );
    assert_eq!(
        choices[0]["media-types"][0]["type"],
        "application/vnd.openstack.compute+json;version=2"
    );
    assert_eq!(choices[1]["id"], "v2.1");
    assert_eq!(choices[1]["links"][0]["rel"], "self");
    assert_eq!(
        choices[1]["links"][0]["href"],
        format!("http://{host}/v2.1/images/1")
    );
    assert_eq!(choices[1]["media-types"][0]["base"], "application/json");
});

per_driver!(hrefs_follow_the_host_header, |driver| {
    let server = Server::start(driver);
    let resp = server.roundtrip("GET / HTTP/1.1\r\nHost: api.example.net:8774\r\n\r\n");
    assert_eq!(
        resp.json()["versions"][1]["links"][0]["href"],
        "http://api.example.net:8774/v2.1/"
    );
    // Proxy headers are ignored unless enabled.
    let resp = server.get(
        "/",
        "X-Forwarded-Proto: https\r\nX-Forwarded-Host: edge\r\n",
    );
    assert!(resp.json()["versions"][0]["links"][0]["href"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1"));
});

per_driver!(proxy_headers_when_enabled, |driver| {
    let server = Server::with_conf(
        driver,
        "[oslo_middleware]\nenable_proxy_headers_parsing = true\n",
    );
    let resp = server.get("/", "X-Forwarded-Proto: https\r\nX-Forwarded-Host: edge:443\r\nX-Forwarded-Prefix: /compute\r\n");
    assert_eq!(
        resp.json()["versions"][1]["links"][0]["href"],
        "https://edge:443/compute/v2.1/"
    );
    let resp = server.get(
        "/v2.1/",
        "Forwarded: for=1.2.3.4;proto=https;host=fwd.example\r\n",
    );
    assert_eq!(
        resp.json()["version"]["links"][0]["href"],
        "https://fwd.example/v2.1/"
    );
});

per_driver!(healthcheck_like_oslo, |driver| {
    let server = Server::start(driver);
    let resp = server.get("/healthcheck", "");
    assert_eq!((resp.status, resp.text().as_str()), (200, "OK"));
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    let resp = server.get("/healthcheck", "Accept: application/json\r\n");
    assert_eq!(
        resp.json(),
        serde_json::json!({"detailed": false, "reasons": ["OK"]})
    );
    let mut stream = server.connect();
    std::io::Write::write_all(
        &mut stream,
        b"HEAD /healthcheck HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    .unwrap();
    assert_eq!(
        common::read_response_to(&mut stream, true).unwrap().status,
        204
    );
});

per_driver!(global_request_id_is_not_echoed, |driver| {
    let server = Server::start(driver);
    let inbound = "req-01234567-89ab-cdef-0123-456789abcdef";
    let resp = server.get("/v2.1/", &format!("X-Openstack-Request-Id: {inbound}\r\n"));
    let id = resp.header("x-openstack-request-id").unwrap();
    assert_ne!(id, inbound);
    let other = server
        .get("/v2.1/", "")
        .header("x-openstack-request-id")
        .unwrap()
        .to_owned();
    assert_ne!(id, other, "every request gets a fresh id");
});

per_driver!(microversion_negotiation, |driver| {
    let server = Server::start(driver);
    let ok = server.get("/v2.1/", "OpenStack-API-Version: compute latest\r\n");
    assert_eq!(ok.header("openstack-api-version"), Some("compute 2.60"));
    let ok = server.get(
        "/v2.1/",
        "OpenStack-API-Version: volume 3.0, compute 2.1\r\n",
    );
    assert_eq!(ok.status, 200);
    let legacy = server.get("/v2.1/", "X-OpenStack-Nova-API-Version: 2.1\r\n");
    assert_eq!(legacy.status, 200);

    let bad = server.get("/v2.1/", "OpenStack-API-Version: compute 2.a\r\n");
    bad.assert_fault(400, "badRequest");
    assert_eq!(
        bad.json()["badRequest"]["message"],
        "API Version String 2.a is of invalid format. Must be of format MajorNum.MinorNum."
    );
    assert!(bad.header("x-compute-request-id").is_some());

    let high = server.get("/v2.1/", "OpenStack-API-Version: compute 2.999\r\n");
    high.assert_fault(406, "computeFault");
    assert_eq!(
        high.json()["computeFault"]["message"],
        "Version 2.999 is not supported by the API. Minimum is 2.1 and maximum is 2.60."
    );
    assert_eq!(high.header("openstack-api-version"), Some("compute 2.999"));
    let low = server.get("/v2.1/", "X-OpenStack-Nova-API-Version: 2.0\r\n");
    low.assert_fault(406, "computeFault");
});

per_driver!(noauth2_requires_a_token_and_routes_the_api, |driver| {
    let server = Server::start(driver);
    let resp = server.get(
        "/v2.1/flavors",
        "X-Auth-User: alice\r\nX-Auth-Project-Id: 0123abcd\r\n",
    );
    resp.assert_fault(401, "unauthorized");
    assert_eq!(
        resp.json()["unauthorized"]["message"],
        "The request you have made requires authentication."
    );
    assert!(resp.header("x-openstack-request-id").is_some());
    server
        .get("/v2.1/flavors", "X-Auth-Token: \r\n")
        .assert_fault(401, "unauthorized");
    let auth = "X-Auth-Token: alice:0123abcd\r\n";
    let show = server.get("/v2.1/versions/v2.1", auth);
    assert_eq!(show.status, 200);
    assert_eq!(show.json()["version"]["id"], "v2.1");
    assert_eq!(server.get("/v2.1/0123abcd/versions/v2.1", auth).status, 200);
    server
        .get("/v2.1/versions/v9", auth)
        .assert_fault(404, "itemNotFound");
    server
        .get("/v2.1/no-such-thing", auth)
        .assert_fault(404, "itemNotFound");
    let mismatch = server.get("/v2.1/0000ffff/versions/v2.1", auth);
    mismatch.assert_fault(400, "badRequest");
    assert!(mismatch.json()["badRequest"]["message"]
        .as_str()
        .unwrap()
        .contains("doesn't match Context's project_id"));
    // A wrong method is a 404 too, as in Nova.
    let wrong = server.roundtrip(&format!(
        "DELETE /v2.1/versions/v2.1 HTTP/1.1\r\nHost: h\r\n{auth}Connection: close\r\n\r\n"
    ));
    wrong.assert_fault(404, "itemNotFound");
});

per_driver!(cors_when_configured, |driver| {
    let server = Server::with_conf(driver, "[cors]\nallowed_origin = https://dash.example\n");
    let resp = server.get("/", "Origin: https://dash.example\r\n");
    assert_eq!(
        resp.header("access-control-allow-origin"),
        Some("https://dash.example")
    );
    assert!(resp
        .header("access-control-expose-headers")
        .unwrap()
        .contains("X-Openstack-Request-Id"));
    let other = server.get("/", "Origin: https://evil.example\r\n");
    assert!(other.header("access-control-allow-origin").is_none());
    let preflight = server.roundtrip(
        "OPTIONS /v2.1/servers HTTP/1.1\r\nHost: h\r\nOrigin: https://dash.example\r\n\
         Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: X-Auth-Token\r\n\r\n",
    );
    assert_eq!(preflight.status, 200);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://dash.example")
    );
    assert!(preflight
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
});

per_driver!(unsupported_content_type_is_415, |driver| {
    let server = Server::start(driver);
    let auth = "X-Auth-Token: a:b\r\n";
    let resp = server.get(
        "/v2.1/versions/v2.1",
        &format!("{auth}Content-Type: application/xml\r\n"),
    );
    resp.assert_fault(415, "badMediaType");
    assert_eq!(
        resp.json()["badMediaType"]["message"],
        "Unsupported Content-Type"
    );
    assert_eq!(resp.header("openstack-api-version"), Some("compute 2.1"));
    for ok in [
        "application/json",
        "application/json; charset=UTF-8",
        "text/plain",
        "application/vnd.openstack.compute+json",
    ] {
        let resp = server.get(
            "/v2.1/versions/v2.1",
            &format!("{auth}Content-Type: {ok}\r\n"),
        );
        assert_eq!(resp.status, 200, "{ok}");
    }
});
