//! The sample policy file: every rule Nova registers with its default, commented out, as
//! `oslopolicy-sample-generator --namespace nova` writes it.
//!
//! Used by `ringnova policy sample`. It only formats the embedded defaults table; it must
//! never read files or depend on configuration.

use std::fmt::Write as _;

use super::{defaults, RuleDefault};

/// The sample file's text. Every rule is a commented-out `"name": "check"` line, preceded
/// by the operations it guards, its intended scopes and any deprecated default, so that
/// uncommenting a line gives a valid override.
pub fn sample_yaml() -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str(
        "# Nova's policy defaults, as ringnova registers them.\n\
         # Uncomment a rule and change its check string to override it; rules left\n\
         # commented keep their defaults.\n\n",
    );
    for rule in defaults() {
        push_rule(&mut out, &rule);
    }
    out
}

fn push_rule(out: &mut String, rule: &RuleDefault) {
    for operation in rule
        .operations
        .split('|')
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        match operation.split_once(' ') {
            Some((method, path)) => {
                let _ = writeln!(out, "# {method}  {path}");
            }
            None => {
                let _ = writeln!(out, "# {operation}");
            }
        }
    }
    if !rule.scope_types.is_empty() {
        let scopes: Vec<&str> = [
            (super::Scope::System, "system"),
            (super::Scope::Domain, "domain"),
            (super::Scope::Project, "project"),
        ]
        .into_iter()
        .filter(|(scope, _)| rule.scope_types.allows(*scope))
        .map(|(_, name)| name)
        .collect();
        let _ = writeln!(out, "# Intended scope(s): {}", scopes.join(", "));
    }
    let _ = writeln!(out, "#{}: {}", quote(rule.name), quote(rule.check_str));
    if let Some(old) = rule.deprecated {
        let _ = writeln!(
            out,
            "# DEPRECATED\n# {}: {} has been deprecated in favor of {}: {}.\n\
             # With [oslo_policy] enforce_new_defaults = false both are accepted.",
            quote(rule.name),
            quote(old),
            quote(rule.name),
            quote(rule.check_str),
        );
    }
    out.push('\n');
}

/// A YAML double-quoted scalar.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{files::parse_rules, Enforcer};

    #[test]
    fn uncommented_sample_is_the_defaults() {
        let sample = sample_yaml();
        let uncommented: String = sample
            .lines()
            .filter_map(|line| line.strip_prefix("#\""))
            .map(|line| format!("\"{line}\n"))
            .collect();
        let rules = parse_rules(&uncommented, std::path::Path::new("sample.yaml")).unwrap();
        assert_eq!(rules.len(), 214);
        let enforcer = Enforcer::new();
        for (name, check) in &rules {
            assert_eq!(enforcer.check_str(name), Some(check.as_str()), "{name}");
        }
        assert!(sample.contains(
            "# POST  /os-keypairs\n# Intended scope(s): project\n#\"os_compute_api:os-keypairs:create\""
        ));
        assert!(sample.contains("# DEPRECATED\n"));
        // The whole sample, comments and all, is a valid (empty) policy file.
        assert_eq!(
            parse_rules(&sample, std::path::Path::new("sample.yaml")).unwrap(),
            vec![]
        );
    }
}
