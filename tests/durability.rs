//! `[database] synchronous = full` end to end: acknowledged writes survive a kill -9, and
//! answers wait for the group flush without holding up other requests.

mod common;

use common::{Options, Server};
use serde_json::json;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHB0iJbMHpTPbDzBXf3XEbvlnMS0eFqO/sV3TY5mODRn t";

fn start(driver: &str, db: &std::path::Path) -> Server {
    let conf = format!(
        "[database]\nconnection = {}\nsynchronous = full\n",
        db.display()
    );
    Server::with(Options {
        driver,
        workers: 2,
        conf: &conf,
        ..Options::default()
    })
}

per_driver!(acknowledged_writes_survive_a_kill, |driver| {
    let dir = common::scratch_dir("durable");
    let db = dir.join("shared.sqlite");
    let mut server = start(driver, &db);
    for i in 0..20 {
        let body = json!({"keypair": {"name": format!("k{i}"), "public_key": KEY}});
        let resp = server.api("POST", "/v2.1/os-keypairs", "u1:p1", None, Some(&body));
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    // Reads on the same workers are answered while writes are in flight.
    let listed = server.api("GET", "/v2.1/os-keypairs", "u1:p1", None, None);
    assert_eq!(listed.json()["keypairs"].as_array().unwrap().len(), 20);
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let again = start(driver, &db);
    let listed = again.api("GET", "/v2.1/os-keypairs", "u1:p1", None, None);
    let names: Vec<String> = listed.json()["keypairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keypair"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 20, "{names:?}");
});
