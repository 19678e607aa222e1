//! The `ratelimit` paste filter over real sockets, with two workers: one user's requests on
//! fresh connections (spread over both workers by SO_REUSEPORT) get exactly the configured
//! rate between them, the rest 429 `overLimit` with `Retry-After`; another user is not
//! affected; `GET /limits` shows the standing under `rate`. Limits are per HOUR so that
//! nothing refills while the test runs, whatever the load of the machine.

mod common;

use common::{repo_root, scratch_dir, Options, Server};
use serde_json::{json, Value};

/// Key pair creations allowed per user per hour in the test pipeline.
const CREATES: usize = 6;
/// Attempts made by the limited user.
const ATTEMPTS: usize = 24;

/// The shipped paste file with `ratelimit` after `noauth2` in both API pipelines and test
/// limits; returns the `[wsgi]` conf text pointing at it.
fn ratelimit_conf(tag: &str) -> String {
    let shipped =
        std::fs::read_to_string(repo_root().join("config").join("api-paste.ini")).unwrap();
    let mut pipelines = 0;
    let text: String = shipped
        .lines()
        .map(|line| {
            if line.starts_with("noauth2 = ") && line.contains(" noauth2 ") {
                pipelines += 1;
                line.replace(" noauth2 ", " noauth2 ratelimit ")
            } else if line.starts_with("limits = ") {
                format!(
                    "limits = (POST, \"*/os-keypairs\", ^/os-keypairs, {CREATES}, HOUR);\
                     (GET, \"*\", .*, 1000, HOUR)"
                )
            } else {
                line.to_owned()
            }
        })
        .map(|line| line + "\n")
        .collect();
    assert_eq!(pipelines, 2, "both API pipelines get the filter");
    assert!(text.contains("[filter:ratelimit]"));
    let path = scratch_dir(tag).join("api-paste.ini");
    std::fs::write(&path, text).unwrap();
    format!("[wsgi]\napi_paste_config = {}\n", path.display())
}

fn create(server: &Server, path: &str, token: &str, name: &str) -> common::Response {
    server.api(
        "POST",
        path,
        token,
        Some("2.2"),
        Some(&json!({"keypair": {"name": name, "type": "ssh"}})),
    )
}

/// The `limit` entries of the `*/os-keypairs` rate group.
fn keypair_rate(server: &Server, token: &str) -> Value {
    let resp = server.api("GET", "/v2.1/limits", token, Some("2.1"), None);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let rate = resp.json()["limits"]["rate"].clone();
    let groups = rate.as_array().expect("rate is a list");
    assert_eq!(groups.len(), 2, "{rate}");
    assert_eq!(groups[1]["uri"], "*", "{rate}");
    assert_eq!(groups[1]["regex"], ".*", "{rate}");
    let group = &groups[0];
    assert_eq!(group["uri"], "*/os-keypairs", "{rate}");
    assert_eq!(group["regex"], "^/os-keypairs", "{rate}");
    group["limit"][0].clone()
}

fn assert_isotime(text: &Value) {
    let text = text.as_str().expect("next-available is a string");
    let bytes = text.as_bytes();
    assert_eq!(bytes.len(), 20, "{text}");
    for (i, b) in bytes.iter().enumerate() {
        let expected_digit = !matches!(i, 4 | 7 | 10 | 13 | 16 | 19);
        assert_eq!(b.is_ascii_digit(), expected_digit, "{text}");
    }
    assert!(text.ends_with('Z') && &text[10..11] == "T", "{text}");
}

per_driver!(one_rate_across_workers, |driver| {
    let conf = ratelimit_conf("ratelimit");
    let server = Server::with(Options {
        driver,
        workers: 2,
        conf: &conf,
        ..Options::default()
    });

    // Fresh standing: nothing used yet.
    let fresh = keypair_rate(&server, "alice:proj");
    assert_eq!(fresh["verb"], "POST");
    assert_eq!(fresh["value"], CREATES);
    assert_eq!(fresh["remaining"], CREATES);
    assert_eq!(fresh["unit"], "HOUR");
    assert_isotime(&fresh["next-available"]);

    // Every request on its own connection (Connection: close), so both workers take some.
    let mut created = 0;
    let mut limited = 0;
    for i in 0..ATTEMPTS {
        let resp = create(&server, "/v2.1/os-keypairs", "alice:proj", &format!("k{i}"));
        match resp.status {
            201 => created += 1,
            429 => {
                limited += 1;
                resp.assert_fault(429, "overLimit");
                let body = resp.json();
                assert_eq!(
                    body["overLimit"]["message"], "This request was rate-limited.",
                    "{body}"
                );
                assert_eq!(
                    body["overLimit"]["details"],
                    format!(
                        "Only {CREATES} POST request(s) can be made to */os-keypairs every hour."
                    ),
                    "{body}"
                );
                let retry: u64 = resp
                    .header("retry-after")
                    .expect("Retry-After header")
                    .parse()
                    .unwrap();
                // One creation leaks out every 10 minutes.
                assert!((1..=600).contains(&retry), "{retry}");
                assert_eq!(body["overLimit"]["retryAfter"], retry.to_string());
                assert!(resp.header("x-compute-request-id").is_some());
            }
            status => panic!("unexpected {status}: {}", resp.text()),
        }
    }
    assert_eq!(created, CREATES);
    assert_eq!(limited, ATTEMPTS - CREATES);

    // The same budget with the project in the URL, and under the legacy /v2 pipeline.
    let resp = create(&server, "/v2.1/proj/os-keypairs", "alice:proj", "kp");
    resp.assert_fault(429, "overLimit");
    let resp = server.api(
        "POST",
        "/v2/proj/os-keypairs",
        "alice:proj",
        None,
        Some(&json!({"keypair": {"name": "kv2"}})),
    );
    resp.assert_fault(429, "overLimit");

    // Requests no limit of that verb watches are untouched; another user has a full budget.
    let resp = server.api("GET", "/v2.1/os-keypairs", "alice:proj", Some("2.2"), None);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json()["keypairs"].as_array().unwrap().len(),
        CREATES,
        "only the allowed creations happened"
    );
    let resp = create(&server, "/v2.1/os-keypairs", "bob:proj", "b0");
    assert_eq!(resp.status, 201, "{}", resp.text());

    // The limits view: alice has nothing left until a creation leaks out; bob used one.
    let alice = keypair_rate(&server, "alice:proj");
    assert_eq!(alice["remaining"], 0, "{alice}");
    assert_isotime(&alice["next-available"]);
    assert!(
        alice["next-available"].as_str() > fresh["next-available"].as_str(),
        "{alice} vs {fresh}"
    );
    let bob = keypair_rate(&server, "bob:proj");
    assert_eq!(bob["remaining"], CREATES - 1, "{bob}");
});

per_driver!(without_the_filter_rate_is_empty, |driver| {
    let server = Server::start(driver);
    for i in 0..12 {
        let resp = create(&server, "/v2.1/os-keypairs", "alice", &format!("k{i}"));
        assert_eq!(resp.status, 201, "{}", resp.text());
    }
    let resp = server.api("GET", "/v2.1/limits", "alice", None, None);
    assert_eq!(resp.json()["limits"]["rate"], json!([]));
});
