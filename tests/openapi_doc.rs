//! The OpenAPI document: `docs/openapi.json` is what the code builds, `GET /openapi.json`
//! serves it without a token under both drivers, and `ringnova openapi` prints it.

mod common;

use std::process::Command;

use common::Server;

fn committed() -> Vec<u8> {
    std::fs::read(common::repo_root().join("docs/openapi.json")).expect("docs/openapi.json")
}

#[test]
fn committed_document_is_current() {
    let built = ringnova::api::openapi::document_bytes().expect("the document builds");
    assert!(
        committed() == built,
        "docs/openapi.json is stale: regenerate it with \
         `cargo run -- openapi --output docs/openapi.json`"
    );
}

#[test]
fn the_cli_prints_the_document() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringnova"))
        .arg("openapi")
        .output()
        .expect("run ringnova openapi");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == committed(),
        "ringnova openapi differs from docs/openapi.json"
    );
}

per_driver!(served_without_a_token, |driver| {
    let server = Server::start(driver);
    let resp = server.get("/openapi.json", "");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert!(resp.body == committed(), "served document differs");
    let doc = resp.json();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/v2.1/servers/{id}/action"]["post"].is_object());
    // Only on the root: under the API it is an unknown route, and other methods get the
    // root app's answer.
    let under_api = server.get("/v2.1/openapi.json", "X-Auth-Token: admin:admin\r\n");
    under_api.assert_fault(404, "itemNotFound");
    let post = server.roundtrip(&format!(
        "POST /openapi.json HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        server.addr
    ));
    assert_ne!(post.status, 200);
});
