//! `[api] auth_strategy = token` over real sockets: the identity endpoint's discovery,
//! token issue / validate / revoke, the compute pipeline's token check (on two workers),
//! expiry, scoping, role implication, key rotation and the `ringnova user` commands run
//! against a live server.

mod common;

use std::{io::Write as _, path::PathBuf, process::Command, thread, time::Duration};

use common::{Options, Response, Server};
use serde_json::{json, Value};

const BOOTSTRAP: &str = "\
[project:admin]
[project:demo]
description = Demo project
[user:admin]
password = admin-pw
admin = admin
[user:alice]
password = alice-pw
member = demo
[user:bob]
password = bob-pw
reader = demo
";

fn start(workers: usize, extra: &str) -> Server {
    start_with(workers, extra, "legacy")
}

fn start_with(workers: usize, extra: &str, driver: &str) -> Server {
    let dir = common::scratch_dir("bootstrap");
    let file = dir.join("bootstrap.ini");
    std::fs::write(&file, BOOTSTRAP).unwrap();
    let conf = format!(
        "[api]\nauth_strategy = token\n[identity]\nbootstrap_file = {}\n{extra}\n",
        file.display()
    );
    Server::with(Options {
        driver,
        workers,
        conf: &conf,
        ..Options::default()
    })
}

fn request(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Response {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        server.addr
    );
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        raw.push_str("Content-Type: application/json\r\n");
    }
    raw.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let mut stream = server.connect();
    stream.write_all(raw.as_bytes()).unwrap();
    common::read_response_to(&mut stream, method == "HEAD").expect("a response")
}

fn password_auth(user: Value, project: Option<Value>) -> Value {
    let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": user}}});
    if let Some(project) = project {
        auth["scope"] = json!({"project": project});
    }
    json!({ "auth": auth })
}

fn by_name(user: &str, password: &str) -> Value {
    json!({"name": user, "domain": {"name": "Default"}, "password": password})
}

fn project(name: &str) -> Option<Value> {
    Some(json!({"name": name, "domain": {"id": "default"}}))
}

fn issue(server: &Server, body: &Value) -> Response {
    request(server, "POST", "/identity/v3/auth/tokens", &[], Some(body))
}

/// A project-scoped token for `user`.
fn token(server: &Server, user: &str, password: &str, project_name: &str) -> String {
    let resp = issue(
        server,
        &password_auth(by_name(user, password), project(project_name)),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    resp.header("x-subject-token").unwrap().to_owned()
}

fn compute(server: &Server, token: &str, path: &str) -> Response {
    request(server, "GET", path, &[("X-Auth-Token", token)], None)
}

fn assert_keystone_error(resp: &Response, code: u16) {
    assert_eq!(resp.status, code, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let body = resp.json();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["title"].is_string() && body["error"]["message"].is_string());
}

fn role_names(token: &Value) -> Vec<String> {
    let mut names: Vec<String> = token["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(r["id"].as_str().is_some_and(|id| id.len() == 32), "{r}");
            r["name"].as_str().unwrap().to_owned()
        })
        .collect();
    names.sort();
    names
}

fn cli(server: &Server, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringnova"));
    cmd.arg("--config-file")
        .arg(server.dir.join("ringnova.conf"))
        .arg("--data-dir")
        .arg(server.dir.join("data"))
        .args(args)
        .current_dir(&server.dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Polls until `check` holds (the server's reload thread runs every second).
fn eventually(what: &str, check: impl FnMut() -> bool) {
    common::eventually(what, Duration::from_secs(5), check);
}

fn key_file(server: &Server) -> PathBuf {
    server.dir.join("data").join("token_keys")
}

#[test]
fn discovery_documents_are_keystones() {
    let server = start(1, "");
    let root = server.get("/identity", "");
    assert_eq!(root.status, 300, "{}", root.text());
    let body = root.json();
    let v3 = &body["versions"]["values"][0];
    assert_eq!(v3["status"], "stable");
    assert!(v3["id"].as_str().unwrap().starts_with("v3."));
    assert_eq!(v3["links"][0]["rel"], "self");
    assert_eq!(
        v3["links"][0]["href"],
        format!("http://{}/identity/v3/", server.addr)
    );
    assert_eq!(
        v3["media-types"][0]["type"],
        "application/vnd.openstack.identity-v3+json"
    );
    for path in ["/identity/v3", "/identity/v3/"] {
        let doc = server.get(path, "");
        assert_eq!(doc.status, 200, "{path}");
        assert_eq!(doc.json()["version"], *v3, "{path}");
    }
    assert_keystone_error(&server.get("/identity/v3/nothing", ""), 404);
    // The compute root still answers, and the compute API wants a token.
    assert_eq!(server.get("/", "").status, 200);
    assert_keystone_error(&server.get("/v2.1/flavors", ""), 401);
}

per_driver!(issued_token_opens_the_compute_api, |driver| {
    let server = start_with(1, "", driver);
    let resp = issue(
        &server,
        &password_auth(by_name("admin", "admin-pw"), project("admin")),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    let text = resp.header("x-subject-token").unwrap().to_owned();
    assert!(text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_~.".contains(&b)));
    let token = &resp.json()["token"];
    assert_eq!(token["methods"], json!(["password"]));
    assert_eq!(token["user"]["name"], "admin");
    assert_eq!(
        token["user"]["domain"],
        json!({"id": "default", "name": "Default"})
    );
    assert_eq!(token["project"]["name"], "admin");
    assert_eq!(role_names(token), ["admin", "member", "reader"]);
    assert_eq!(token["audit_ids"].as_array().unwrap().len(), 1);
    let issued = token["issued_at"].as_str().unwrap();
    let expires = token["expires_at"].as_str().unwrap();
    assert!(
        issued.ends_with('Z') && expires.len() == issued.len(),
        "{issued} {expires}"
    );
    assert!(expires > issued);
    let catalog = token["catalog"].as_array().unwrap();
    let nova = catalog.iter().find(|s| s["type"] == "compute").unwrap();
    let mut interfaces: Vec<&str> = nova["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["region_id"], "RegionOne");
            assert_eq!(e["url"], format!("http://{}/v2.1", server.addr));
            e["interface"].as_str().unwrap()
        })
        .collect();
    interfaces.sort_unstable();
    assert_eq!(interfaces, ["admin", "internal", "public"]);
    let identity = catalog.iter().find(|s| s["type"] == "identity").unwrap();
    assert_eq!(
        identity["endpoints"][0]["url"],
        format!("http://{}/identity", server.addr)
    );

    let flavors = compute(&server, &text, "/v2.1/flavors/detail");
    assert_eq!(flavors.status, 200, "{}", flavors.text());
    assert!(flavors.header("x-openstack-request-id").is_some());
    // The legacy /v2 pipeline checks tokens the same way.
    let legacy = format!("/v2/{}/flavors", token["project"]["id"].as_str().unwrap());
    assert_eq!(compute(&server, &text, &legacy).status, 200);

    for bad in [
        "",
        "admin:admin",
        &text[..text.len() - 1],
        &format!("{text}x"),
    ] {
        let resp = compute(&server, bad, "/v2.1/flavors");
        assert_keystone_error(&resp, 401);
        assert_eq!(
            resp.json()["error"]["message"],
            "The request you have made requires authentication."
        );
        assert_eq!(
            resp.header("www-authenticate"),
            Some(format!("Keystone uri=\"http://{}/identity\"", server.addr).as_str()),
            "{bad}"
        );
    }
});

#[test]
fn validate_and_revoke_reach_every_worker() {
    let server = start(2, "");
    let admin = token(&server, "admin", "admin-pw", "admin");
    let victim = token(&server, "admin", "admin-pw", "admin");
    let alice = token(&server, "alice", "alice-pw", "demo");

    let check = request(
        &server,
        "GET",
        "/identity/v3/auth/tokens",
        &[("X-Auth-Token", &admin), ("X-Subject-Token", &alice)],
        None,
    );
    assert_eq!(check.status, 200, "{}", check.text());
    assert_eq!(check.header("x-subject-token"), Some(alice.as_str()));
    let body = check.json();
    assert_eq!(body["token"]["user"]["name"], "alice");
    assert_eq!(body["token"]["project"]["name"], "demo");
    assert_eq!(role_names(&body["token"]), ["member", "reader"]);
    let head = request(
        &server,
        "HEAD",
        "/identity/v3/auth/tokens",
        &[("X-Auth-Token", &alice), ("X-Subject-Token", &alice)],
        None,
    );
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    // Alice may not look at (or revoke) the admin's token; nobody without a token may.
    let peek = request(
        &server,
        "GET",
        "/identity/v3/auth/tokens",
        &[("X-Auth-Token", &alice), ("X-Subject-Token", &victim)],
        None,
    );
    assert_keystone_error(&peek, 403);
    let anonymous = request(
        &server,
        "GET",
        "/identity/v3/auth/tokens",
        &[("X-Subject-Token", &victim)],
        None,
    );
    assert_keystone_error(&anonymous, 401);
    let denied = request(
        &server,
        "DELETE",
        "/identity/v3/auth/tokens",
        &[("X-Auth-Token", &alice), ("X-Subject-Token", &victim)],
        None,
    );
    assert_keystone_error(&denied, 403);

    // Warm both workers with the token, then revoke it on one of them.
    for _ in 0..8 {
        assert_eq!(compute(&server, &victim, "/v2.1/flavors").status, 200);
    }
    let revoked = request(
        &server,
        "DELETE",
        "/identity/v3/auth/tokens",
        &[("X-Auth-Token", &admin), ("X-Subject-Token", &victim)],
        None,
    );
    assert_eq!(revoked.status, 204, "{}", revoked.text());
    assert!(revoked.body.is_empty());
    for _ in 0..16 {
        assert_keystone_error(&compute(&server, &victim, "/v2.1/flavors"), 401);
        assert_eq!(compute(&server, &admin, "/v2.1/flavors").status, 200);
    }
    let gone = request(
        &server,
        "GET",
        "/identity/v3/auth/tokens",
        &[("X-Auth-Token", &admin), ("X-Subject-Token", &victim)],
        None,
    );
    assert_keystone_error(&gone, 404);
    let again = request(
        &server,
        "DELETE",
        "/identity/v3/auth/tokens",
        &[("X-Auth-Token", &admin), ("X-Subject-Token", &victim)],
        None,
    );
    assert_keystone_error(&again, 404);
}

#[test]
fn revocation_survives_a_restart_of_the_server() {
    let server = start(1, "");
    let admin = token(&server, "admin", "admin-pw", "admin");
    let victim = token(&server, "alice", "alice-pw", "demo");
    let resp = request(
        &server,
        "DELETE",
        "/identity/v3/auth/tokens",
        &[("X-Auth-Token", &admin), ("X-Subject-Token", &victim)],
        None,
    );
    assert_eq!(resp.status, 204);
    // A second server on the same data directory and database.
    let conf = std::fs::read_to_string(server.dir.join("ringnova.conf")).unwrap();
    let extra = conf
        .split_once("[api]")
        .map(|(_, rest)| format!("[api]{rest}"))
        .unwrap();
    let data = server.dir.join("data");
    let second = Server::with(Options {
        conf: &format!(
            "{extra}\n[database]\nconnection = {}\n",
            data.join("ringnova.sqlite").display()
        ),
        ..Options::default()
    });
    std::fs::copy(
        data.join("token_keys"),
        second.dir.join("data").join("token_keys"),
    )
    .unwrap();
    // The second server made its own key file before the copy: it reloads the copied one.
    eventually("the second server reloads the copied keys", || {
        compute(&second, &admin, "/v2.1/flavors").status == 200
    });
    assert_keystone_error(&compute(&second, &victim, "/v2.1/flavors"), 401);
}

#[test]
fn bad_credentials_are_401() {
    let server = start(1, "");
    let cases = [
        password_auth(by_name("admin", "wrong"), project("admin")),
        password_auth(by_name("nobody", "admin-pw"), project("admin")),
        password_auth(
            json!({"name": "admin", "domain": {"name": "Other"}, "password": "admin-pw"}),
            project("admin"),
        ),
        password_auth(
            json!({"id": "0123456789abcdef0123456789abcdef", "password": "admin-pw"}),
            None,
        ),
        json!({"auth": {"identity": {"methods": ["totp"], "totp": {}}}}),
    ];
    for body in &cases {
        let resp = issue(&server, body);
        assert_keystone_error(&resp, 401);
        assert!(resp.header("x-subject-token").is_none());
        assert!(resp
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Keystone uri=")));
    }
    for body in [
        json!({}),
        json!({"auth": {}}),
        json!({"auth": {"identity": {"methods": ["password"]}}}),
    ] {
        assert_keystone_error(&issue(&server, &body), 400);
    }
    let raw = request(&server, "PUT", "/identity/v3/auth/tokens", &[], None);
    assert_keystone_error(&raw, 405);
}

#[test]
fn scoping_and_role_implication() {
    let server = start(1, "");
    // alice has member on demo only.
    assert_keystone_error(
        &issue(
            &server,
            &password_auth(by_name("alice", "alice-pw"), project("admin")),
        ),
        401,
    );
    assert_keystone_error(
        &issue(
            &server,
            &password_auth(by_name("alice", "alice-pw"), project("nosuch")),
        ),
        401,
    );
    // Unscoped: no project, roles or catalog; not accepted by the compute API.
    let unscoped = issue(&server, &password_auth(by_name("alice", "alice-pw"), None));
    assert_eq!(unscoped.status, 201);
    let body = unscoped.json();
    assert!(body["token"].get("project").is_none() && body["token"].get("catalog").is_none());
    let unscoped = unscoped.header("x-subject-token").unwrap().to_owned();
    assert_keystone_error(&compute(&server, &unscoped, "/v2.1/flavors"), 401);
    // Rescope with the token method, to the project by id (the user found by id too).
    let user_id = body["token"]["user"]["id"].as_str().unwrap().to_owned();
    let scoped = issue(
        &server,
        &password_auth(
            json!({"id": user_id, "password": "alice-pw"}),
            project("demo"),
        ),
    );
    let project_id = scoped.json()["token"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rescope = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}}, "scope": {"project": {"id": project_id}}}});
    let resp = issue(&server, &rescope);
    assert_eq!(resp.status, 201, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["token"]["methods"], json!(["token"]));
    assert_eq!(body["token"]["project"]["name"], "demo");
    assert_eq!(role_names(&body["token"]), ["member", "reader"]);
    let alice = resp.header("x-subject-token").unwrap().to_owned();
    // bob is a reader only.
    let bob = issue(
        &server,
        &password_auth(by_name("bob", "bob-pw"), project("demo")),
    );
    assert_eq!(role_names(&bob.json()["token"]), ["reader"]);
    // Roles reach the policy engine: only the admin may read another project's quotas.
    let admin = token(&server, "admin", "admin-pw", "admin");
    let other = format!("/v2.1/os-quota-sets/{}", "0".repeat(32));
    assert_eq!(compute(&server, &admin, &other).status, 200);
    assert_eq!(compute(&server, &alice, &other).status, 403);
    let own = compute(
        &server,
        &alice,
        &format!("/v2.1/os-quota-sets/{project_id}"),
    );
    assert_eq!(own.status, 200, "{}", own.text());
    // Project lookups clients make.
    let lookup = request(
        &server,
        "GET",
        &format!("/identity/v3/projects/{project_id}"),
        &[("X-Auth-Token", &alice)],
        None,
    );
    assert_eq!(lookup.status, 200);
    assert_eq!(lookup.json()["project"]["name"], "demo");
    let mine = request(
        &server,
        "GET",
        "/identity/v3/auth/projects",
        &[("X-Auth-Token", &alice)],
        None,
    );
    assert_eq!(mine.json()["projects"].as_array().unwrap().len(), 1);
}

#[test]
fn tokens_expire() {
    let server = start(1, "token_expiration = 1");
    let resp = issue(
        &server,
        &password_auth(by_name("alice", "alice-pw"), project("demo")),
    );
    let token = resp.header("x-subject-token").unwrap().to_owned();
    let body = resp.json();
    let (issued, expires) = (
        body["token"]["issued_at"].as_str().unwrap(),
        body["token"]["expires_at"].as_str().unwrap(),
    );
    assert!(expires > issued, "{issued} {expires}");
    assert_eq!(compute(&server, &token, "/v2.1/flavors").status, 200);
    thread::sleep(Duration::from_millis(1100));
    assert_keystone_error(&compute(&server, &token, "/v2.1/flavors"), 401);
    let admin = token_after(&server);
    let check = request(
        &server,
        "GET",
        "/identity/v3/auth/tokens",
        &[("X-Auth-Token", &admin), ("X-Subject-Token", &token)],
        None,
    );
    assert_keystone_error(&check, 404);
}

fn token_after(server: &Server) -> String {
    token(server, "admin", "admin-pw", "admin")
}

#[test]
fn key_rotation_keeps_recent_keys_valid() {
    let server = start(1, "max_active_keys = 3");
    let first = token(&server, "alice", "alice-pw", "demo");
    assert!(first.starts_with("r1.1."));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(key_file(&server)).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let (ok, out) = cli(&server, &["token", "rotate-key"], None);
    assert!(ok, "{out}");
    assert!(out.contains("key 2 now signs"), "{out}");
    eventually("new tokens are signed with key 2", || {
        token(&server, "alice", "alice-pw", "demo").starts_with("r1.2.")
    });
    assert_eq!(compute(&server, &first, "/v2.1/flavors").status, 200);
    for _ in 0..2 {
        assert!(cli(&server, &["token", "rotate-key"], None).0);
    }
    let text = std::fs::read_to_string(key_file(&server)).unwrap();
    assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 3);
    eventually("key 1 is dropped", || {
        compute(&server, &first, "/v2.1/flavors").status == 401
    });
    let latest = token(&server, "alice", "alice-pw", "demo");
    assert!(latest.starts_with("r1.4."), "{latest}");
    assert_eq!(compute(&server, &latest, "/v2.1/flavors").status, 200);
}

#[test]
fn user_commands_work_on_a_running_server() {
    let server = start(2, "");
    let (ok, out) = cli(
        &server,
        &[
            "user",
            "add",
            "carol",
            "--password-stdin",
            "--project",
            "team",
            "--role",
            "admin",
        ],
        Some("carol-pw\n"),
    );
    assert!(ok, "{out}");
    assert!(out.contains("created project team"), "{out}");
    assert!(!out.contains("carol-pw"));
    let carol = token(&server, "carol", "carol-pw", "team");
    let body = request(
        &server,
        "GET",
        "/identity/v3/auth/tokens",
        &[("X-Auth-Token", &carol), ("X-Subject-Token", &carol)],
        None,
    )
    .json();
    assert_eq!(role_names(&body["token"]), ["admin", "member", "reader"]);
    let (ok, out) = cli(&server, &["user", "list"], None);
    assert!(
        ok && out.contains("carol") && out.contains("admin@team") && out.contains("member@demo"),
        "{out}"
    );
    assert!(!out.contains("argon2"), "{out}");
    let (ok, out) = cli(&server, &["user", "add", "carol", "--password", "x"], None);
    assert!(!ok && out.contains("already exists"), "{out}");

    // A password change revokes the user's tokens on every worker.
    let (ok, out) = cli(
        &server,
        &["user", "passwd", "carol", "--password", "new-pw"],
        None,
    );
    assert!(ok, "{out}");
    eventually("carol's old token is revoked", || {
        (0..4).all(|_| compute(&server, &carol, "/v2.1/flavors").status == 401)
    });
    assert_keystone_error(
        &issue(
            &server,
            &password_auth(by_name("carol", "carol-pw"), project("team")),
        ),
        401,
    );
    let carol = token(&server, "carol", "new-pw", "team");
    assert_eq!(compute(&server, &carol, "/v2.1/flavors").status, 200);

    let (ok, out) = cli(
        &server,
        &["user", "grant", "carol", "reader", "--project", "demo"],
        None,
    );
    assert!(ok, "{out}");
    let demo = token(&server, "carol", "new-pw", "demo");
    let (ok, out) = cli(
        &server,
        &["user", "revoke", "carol", "reader", "--project", "demo"],
        None,
    );
    assert!(ok, "{out}");
    assert_keystone_error(
        &issue(
            &server,
            &password_auth(by_name("carol", "new-pw"), project("demo")),
        ),
        401,
    );
    eventually("carol's tokens are revoked with the role", || {
        compute(&server, &demo, "/v2.1/flavors").status == 401
    });

    let carol = token(&server, "carol", "new-pw", "team");
    let (ok, out) = cli(&server, &["user", "delete", "carol"], None);
    assert!(ok, "{out}");
    eventually("a deleted user's token is revoked", || {
        compute(&server, &carol, "/v2.1/flavors").status == 401
    });
    assert_keystone_error(
        &issue(
            &server,
            &password_auth(by_name("carol", "new-pw"), project("team")),
        ),
        401,
    );
    let (ok, out) = cli(&server, &["user", "delete", "carol"], None);
    assert!(!ok && out.contains("no such user"), "{out}");
}

#[test]
fn default_admin_gets_a_generated_password_once() {
    let server = Server::with(Options {
        conf: "[api]\nauth_strategy = token\n",
        ..Options::default()
    });
    server.signal("TERM");
    let (_, stderr) = server.wait_exit(Duration::from_secs(10));
    let password = stderr
        .split("with password: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no password in {stderr:?}"))
        .to_owned();
    assert_eq!(password.len(), 20);
}

#[test]
fn noauth2_servers_do_not_serve_tokens() {
    let server = Server::start("legacy");
    let resp = issue(
        &server,
        &password_auth(by_name("admin", "admin-pw"), project("admin")),
    );
    assert_keystone_error(&resp, 404);
    assert!(!server.dir.join("data").join("token_keys").exists());
    assert_eq!(
        server
            .api("GET", "/v2.1/flavors", "admin:admin", None, None)
            .status,
        200
    );
}
