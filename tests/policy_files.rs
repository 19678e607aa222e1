//! Policy files against the real binary: rules loaded at start-up, reloaded within seconds
//! of a change without a restart, a broken file at reload keeping the last good rules (and
//! saying why in the log), a broken file at start-up refusing to start, and the
//! `ringnova policy` tools.

mod common;

use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use common::{Options, Server};

const DEMO: &str = "demo:demo";
const INDEX: &str = "os_compute_api:os-keypairs:index";

fn driver() -> String {
    common::drivers().into_iter().next().unwrap()
}

fn keypairs_status(server: &Server) -> u16 {
    server
        .api("GET", "/v2.1/os-keypairs", DEMO, None, None)
        .status
}

/// Polls until every one of a few requests (spread over the workers) answers `status`.
fn wait_for_status(server: &Server, status: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if (0..6).all(|_| keypairs_status(server) == status) {
            return true;
        }
        thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Writes `text` to `path` through a temporary file and a rename, as editors and config
/// management do, so the server never reads half a file.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn policy_file_is_loaded_and_reloaded_without_restart() {
    let dir = common::scratch_dir("policy-reload");
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, "# nothing overridden yet\n").unwrap();
    let conf = format!(
        "[oslo_policy]\npolicy_file = {}\npolicy_dirs = {}\n",
        policy.display(),
        dir.join("policy.d").display()
    );
    let server = Server::with(Options {
        driver: &driver(),
        workers: 2,
        conf: &conf,
        ..Options::default()
    });
    assert_eq!(keypairs_status(&server), 200);

    // Deny the member: picked up within a couple of seconds by every worker.
    replace(&policy, &format!("\"{INDEX}\": \"!\"\n"));
    assert!(
        wait_for_status(&server, 403, Duration::from_secs(5)),
        "the new rule was not applied"
    );
    let denied = server.api("GET", "/v2.1/os-keypairs", DEMO, None, None);
    denied.assert_fault(403, "forbidden");
    // Other rules keep their defaults.
    assert_eq!(
        server.api("GET", "/v2.1/flavors", DEMO, None, None).status,
        200
    );

    // A broken file: the previous rules stay in force.
    replace(&policy, &format!("\"{INDEX}\": [unclosed\n"));
    thread::sleep(Duration::from_millis(2500));
    assert!(
        (0..6).all(|_| keypairs_status(&server) == 403),
        "a broken file replaced the rules"
    );

    // A policy.d file over a repaired main file: allowed again, by role.
    std::fs::create_dir_all(dir.join("policy.d")).unwrap();
    replace(&policy, &format!("\"{INDEX}\": \"!\"\n"));
    replace(
        &dir.join("policy.d").join("50-keypairs.yaml"),
        &format!("\"{INDEX}\": \"role:member\"\n"),
    );
    assert!(
        wait_for_status(&server, 200, Duration::from_secs(5)),
        "the policy.d file was not applied over policy.yaml"
    );

    server.signal("TERM");
    let (status, log) = server.wait_exit(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}: {log}");
    assert!(
        log.contains("policy not reloaded, the previous rules stay in force")
            && log.contains("policy.yaml:"),
        "the log does not say why the reload was refused: {log}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn broken_policy_file_refuses_to_start() {
    let dir = common::scratch_dir("policy-broken");
    std::fs::write(dir.join("policy.yaml"), "a: '@'\nb: true\n").unwrap();
    std::fs::write(dir.join("ringnova.conf"), "[ringnova]\nlog_level = warn\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ringnova"))
        .arg("--config-file")
        .arg(dir.join("ringnova.conf"))
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--workers")
        .arg("1")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("policy.yaml:2:4") && stderr.contains("expected a check string"),
        "{stderr}"
    );
    // --check-config reports it too.
    let output = Command::new(env!("CARGO_BIN_EXE_ringnova"))
        .arg("--config-file")
        .arg(dir.join("ringnova.conf"))
        .arg("--check-config")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("policy.yaml:2:4"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_options_resolve_against_the_config_directory() {
    use ringnova::config::{Config, Overrides};
    let cfg = Config::from_text(
        "[oslo_policy]\npolicy_file = nova-policy.json\npolicy_dirs = a.d, /abs/b.d\n\
         enforce_new_defaults = false\npolicy_default_rule = fallback\n",
        Some(Path::new("/etc/ringnova/ringnova.conf")),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(
        cfg.policy.policy_file,
        Path::new("/etc/ringnova/nova-policy.json")
    );
    assert_eq!(
        cfg.policy.policy_dirs,
        [Path::new("/etc/ringnova/a.d"), Path::new("/abs/b.d")]
    );
    assert!(!cfg.policy.enforce_new_defaults);
    assert_eq!(cfg.policy.default_rule, "fallback");
    let defaults = Config::from_text("", None, &Overrides::default()).unwrap();
    assert_eq!(defaults.policy, ringnova::policy::PolicyFiles::default());
    let err = Config::from_text(
        "[oslo_policy]\nenforce_new_defaults = maybe\n",
        None,
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(err
        .to_string()
        .contains("[oslo_policy] enforce_new_defaults"));
}

fn tool(args: &[&str], stdin: Option<&str>) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringnova"))
        .arg("policy")
        .args(args)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn policy_tools_check_list_and_sample() {
    let dir = common::scratch_dir("policy-tools");
    let file = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let policy = file(
        "policy.yaml",
        &format!("\"{INDEX}\": \"role:special\"\nhelper: \"role:x\"\n"),
    );
    let member = file(
        "member.json",
        r#"{"user_id": "u1", "project_id": "p1", "roles": ["member", "reader"], "is_admin": false}"#,
    );
    let target = file("target.json", r#"{"user_id": "u1", "project_id": "p1"}"#);
    let other = file("other.json", r#"{"user_id": "u2", "project_id": "p2"}"#);

    let check = |rule: &[&str], target: &str, policy: Option<&str>| {
        let mut args = vec!["check", "--creds", &member, "--target", target];
        args.extend_from_slice(rule);
        if let Some(policy) = policy {
            args.extend_from_slice(&["--policy", policy]);
        }
        tool(&args, None)
    };
    let ok = |out: &str| (Some(0), out.to_owned());
    let answer = |(code, out, _): (Option<i32>, String, String)| (code, out);
    assert_eq!(
        answer(check(&["--rule", INDEX], &target, None)),
        ok("allowed\n")
    );
    assert_eq!(
        answer(check(&["--rule", INDEX], &other, None)),
        ok("denied\n")
    );
    assert_eq!(
        answer(check(&["--rule", INDEX], &target, Some(&policy))),
        ok("denied\n")
    );
    assert_eq!(
        answer(check(
            &["--expression", "role:MEMBER and project_id:%(project_id)s"],
            &target,
            None
        )),
        ok("allowed\n")
    );
    // Usage and file errors are not answers.
    let (code, _, err) = check(
        &["--rule", INDEX],
        &target,
        Some("/nonexistent/policy.yaml"),
    );
    assert_eq!(code, Some(2));
    assert!(
        err.contains("no policy file at /nonexistent/policy.yaml"),
        "{err}"
    );
    let (code, _, _) = tool(&["check", "--rule", INDEX], None);
    assert_eq!(code, Some(2));
    let broken = file("broken.yaml", "a: [\n");
    let (code, _, err) = check(&["--rule", INDEX], &target, Some(&broken));
    assert_eq!(code, Some(2));
    assert!(err.contains("broken.yaml:"), "{err}");

    // Batch: one answer per line, errors in place, status 1 at the end.
    let lines = [
        r#"{"rule": "role:member", "creds": {"roles": ["Member"], "is_admin": false}}"#,
        r#"{"rule": "rule:a", "rules": {"a": "rule:b", "b": "@"}, "creds": {}}"#,
        r#"{"rule": "rule:nowhere", "rules": {"default": "@"}, "creds": {}}"#,
        r#"{"rule": "rule:nowhere", "rules": {"default": "@"}, "default_rule": null, "creds": {}}"#,
        r#"{"rule": "rule:a", "rules": {"a": "rule:a"}, "creds": {}}"#,
        r#"{"rule": "a.b:%(x)s", "creds": {"a": {"b": [1, 2]}}, "target": {"x": 2}}"#,
        r#"{"rule": "a.b.c:1", "creds": {"a": {"b": "text"}}}"#,
        "not json",
        r#"{"name": "os_compute_api:os-keypairs:index", "creds": {"user_id": "u1", "roles": ["member"]}, "target": {"user_id": "u1"}}"#,
    ];
    let (code, out, _) = tool(&["check", "--batch", "--explain"], Some(&lines.join("\n")));
    assert_eq!(code, Some(1));
    let answers: Vec<&str> = out.lines().collect();
    assert_eq!(answers.len(), lines.len(), "{out}");
    assert_eq!(
        &answers[..7],
        [
            "allowed",
            "allowed",
            "allowed",
            "denied",
            "denied (rule loop)",
            "allowed",
            "denied (check cannot be evaluated)",
        ]
    );
    assert!(answers[7].starts_with("error: line 8: not JSON"), "{out}");
    assert_eq!(answers[8], "allowed");

    // list: the effective rules, sorted, the file's included.
    let (code, out, err) = tool(&["list", "--policy", &policy], None);
    assert_eq!(code, Some(0));
    assert!(out.contains(&format!("\n{INDEX}: role:special\n")), "{out}");
    assert!(out.contains("\nhelper: role:x\n"));
    assert!(
        err.contains("helper"),
        "unregistered names are reported: {err}"
    );
    let names: Vec<&str> = out.lines().map(|l| l.split(": ").next().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    // Nova's 215 registered rules plus the five os-documents rules the standard extensions
    // register (os-lock-server's rules are Nova's own).
    assert_eq!(names.len(), 215 + 5);
    assert!(out.contains("\nos_compute_api:os-documents:create: rule:project_member_or_admin\n"));

    // sample: every default, commented out, the compiled-in extensions' rules included (the
    // five of os-documents; os-lock-server's are Nova's own and appear once).
    let (code, out, _) = tool(&["sample"], None);
    assert_eq!(code, Some(0));
    assert_eq!(
        out.lines().filter(|l| l.starts_with("#\"")).count(),
        214 + 5
    );
    assert_eq!(
        out.matches("#\"os_compute_api:os-lock-server:lock\"")
            .count(),
        1
    );
    assert!(
        out.contains("#\"os_compute_api:os-documents:create\": \"rule:project_member_or_admin\"\n")
    );
    assert!(out.contains(
        "# GET  /os-keypairs\n# Intended scope(s): project\n\
         #\"os_compute_api:os-keypairs:index\": \"(rule:context_is_admin) or user_id:%(user_id)s\"\n"
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
