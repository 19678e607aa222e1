//! The committed generated documents match what the binary generates: docs/configuration.md
//! (`ringnova config reference`), docs/policy.yaml.sample (`ringnova policy sample`), and the
//! shipped config/ringnova.conf lists every option of the table, commented-out ones at their
//! default. On failure, regenerate with the command the message names.

mod common;

use std::process::Command;

use common::repo_root;

fn generated(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ringnova"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "ringnova {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn assert_current(file: &str, args: &[&str]) {
    let committed = std::fs::read_to_string(repo_root().join(file)).unwrap_or_default();
    let fresh = generated(args);
    assert!(
        committed == fresh,
        "{file} is stale: regenerate it with `cargo run -- {} > {file}`",
        args.join(" ")
    );
}

#[test]
fn configuration_reference_is_current() {
    assert_current("docs/configuration.md", &["config", "reference"]);
}

#[test]
fn policy_sample_is_current() {
    assert_current("docs/policy.yaml.sample", &["policy", "sample"]);
}

/// `(section, name, value, commented)` for every assignment line of an INI text.
fn assignments(ini: &str) -> Vec<(String, String, String, bool)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in ini.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (commented, body) = match line.strip_prefix('#') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        if let Some((name, value)) = body.split_once('=') {
            let name = name.trim();
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                out.push((section.clone(), name.into(), value.trim().into(), commented));
            }
        }
    }
    out
}

#[test]
fn shipped_config_lists_every_option() {
    let shipped = std::fs::read_to_string(repo_root().join("config/ringnova.conf")).unwrap();
    let shipped = assignments(&shipped);
    let sample = assignments(&generated(&["config", "sample"]));
    assert!(sample.len() > 50, "the sample lists the option table");
    for (section, name, default, _) in &sample {
        let found = shipped
            .iter()
            .find(|(s, n, _, _)| s == section && n == name)
            .unwrap_or_else(|| panic!("config/ringnova.conf lacks [{section}] {name}"));
        if found.3 {
            assert_eq!(
                &found.2, default,
                "[{section}] {name} commented at another value"
            );
        }
    }
}
