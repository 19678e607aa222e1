//! The sample policy file: every rule Nova registers with its default, commented out, as
//! `oslopolicy-sample-generator --namespace nova` writes it, then the rules the compiled-in
//! API extensions add.
//!
//! Used by `ringnova policy sample`. It only formats the embedded defaults table and the
//! extension rules it is handed; it must never read files or depend on configuration.

use std::fmt::Write as _;

use super::{defaults, RuleDefault};

/// One compiled-in API extension's policy rules, for the sample.
#[derive(Debug, Clone)]
pub struct ExtensionRules {
    /// The extension's alias.
    pub alias: &'static str,
    /// Loaded unless a selective list leaves it out (standard), or only when one names it.
    pub standard: bool,
    /// Its rules as `(name, default check string)`.
    pub rules: Vec<(&'static str, &'static str)>,
}

/// The sample file's text. Every rule is a commented-out `"name": "check"` line, preceded
/// by the operations it guards, its intended scopes and any deprecated default, so that
/// uncommenting a line gives a valid override. Nova's rules come first, then those of
/// `extensions` that Nova does not register itself, each under its extension's alias.
pub fn sample_yaml(extensions: &[ExtensionRules]) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str(
        "# Nova's policy defaults, as ringnova registers them.\n\
         # Uncomment a rule and change its check string to override it; rules left\n\
         # commented keep their defaults.\n\n",
    );
    let mut nova = Vec::new();
    for rule in defaults() {
        push_rule(&mut out, &rule);
        nova.push(rule.name);
    }
    for ext in extensions {
        let loaded = if ext.standard {
            "standard: loaded unless a selective osapi_compute_ext_list leaves it out"
        } else {
            "optional: loaded only when osapi_compute_ext_list names it"
        };
        for (name, check) in ext.rules.iter().filter(|(name, _)| !nova.contains(name)) {
            let _ = writeln!(out, "# Extension {} ({loaded})", ext.alias);
            let _ = writeln!(out, "#{}: {}\n", quote(name), quote(check));
        }
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
        let sample = sample_yaml(&[]);
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

    #[test]
    fn extension_rules_follow_novas_once() {
        let ext = |alias, standard, rules| ExtensionRules {
            alias,
            standard,
            rules,
        };
        let sample = sample_yaml(&[
            ext(
                "os-things",
                true,
                vec![
                    (
                        "os_compute_api:os-things:index",
                        "rule:project_reader_or_admin",
                    ),
                    // Nova registers this one: it is not repeated.
                    (
                        "os_compute_api:os-keypairs:create",
                        "rule:project_member_or_admin",
                    ),
                ],
            ),
            ext(
                "OS-X",
                false,
                vec![("os_compute_api:os-x", "rule:context_is_admin")],
            ),
        ]);
        assert!(sample.contains(
            "# Extension os-things (standard: loaded unless a selective \
             osapi_compute_ext_list leaves it out)\n\
             #\"os_compute_api:os-things:index\": \"rule:project_reader_or_admin\"\n"
        ));
        assert!(sample.contains(
            "# Extension OS-X (optional: loaded only when osapi_compute_ext_list names it)\n\
             #\"os_compute_api:os-x\": \"rule:context_is_admin\"\n"
        ));
        assert_eq!(
            sample
                .matches("\"os_compute_api:os-keypairs:create\"")
                .count(),
            1
        );
        let rules = parse_rules(
            &sample
                .lines()
                .filter_map(|line| line.strip_prefix('#'))
                .filter(|line| line.starts_with('"'))
                .map(|line| format!("{line}\n"))
                .collect::<String>(),
            std::path::Path::new("sample.yaml"),
        )
        .unwrap();
        assert_eq!(rules.len(), 216);
    }
}
