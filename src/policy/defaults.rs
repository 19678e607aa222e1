//! Nova's registered policy rules and their defaults, from `defaults.tsv` (embedded).
//!
//! The table has one row per rule Nova registers (`nova/policies/*.py`): the base rules
//! (`context_is_admin`, `project_member_api`, `project_member_or_admin`, …, the
//! deprecated `admin_or_owner` and `admin_api`) and every API rule. Columns, tab
//! separated: policy module, rule name, default check string, `scope_types` (`None` or a
//! Python list such as `['project']`), and the operations the rule guards, ending with
//! `[deprecated: <check>]` when the rule has a deprecated check string that
//! `enforce_new_defaults = False` OR's back in. Nova registers no rule named `default`.
//!
//! It must never drift from Nova's registered defaults: the table is embedded data, not
//! hand-edited code.

use super::Scope;

/// The embedded table.
const TABLE: &str = include_str!("defaults.tsv");

/// Where `[deprecated: …]` starts in the operations column.
const DEPRECATED_MARK: &str = "[deprecated: ";

/// One registered rule and its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleDefault {
    /// Nova's policy module (`servers`, `base`, …).
    pub module: &'static str,
    /// The rule's name, e.g. `os_compute_api:servers:create`.
    pub name: &'static str,
    /// The default check string.
    pub check_str: &'static str,
    /// The token scopes the rule accepts; empty means any.
    pub scope_types: ScopeTypes,
    /// The API operations the rule guards, as documented (`POST /servers | …`).
    pub operations: &'static str,
    /// The deprecated check string, if the rule has one.
    pub deprecated: Option<&'static str>,
}

/// A set of [`Scope`]s (oslo's `scope_types`). Empty means the rule has none, and any
/// token scope may use it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ScopeTypes(u8);

impl ScopeTypes {
    /// No scope types: every scope passes.
    pub const ANY: ScopeTypes = ScopeTypes(0);
    /// `['project']`, what every Nova API rule has.
    pub const PROJECT: ScopeTypes = ScopeTypes(Self::bit(Scope::Project));

    const fn bit(scope: Scope) -> u8 {
        match scope {
            Scope::Project => 1,
            Scope::Domain => 2,
            Scope::System => 4,
        }
    }

    /// These scope types plus `scope`.
    pub const fn with(self, scope: Scope) -> ScopeTypes {
        ScopeTypes(self.0 | Self::bit(scope))
    }

    /// True when no scope types are set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when a token of `scope` may use the rule: the set is empty or holds `scope`.
    pub const fn allows(self, scope: Scope) -> bool {
        self.is_empty() || self.0 & Self::bit(scope) != 0
    }

    /// Reads the table's column: `None`, or a Python list of scope names.
    fn parse(text: &str) -> Option<ScopeTypes> {
        if text == "None" {
            return Some(ScopeTypes::ANY);
        }
        let inner = text.strip_prefix('[')?.strip_suffix(']')?;
        let mut types = ScopeTypes::ANY;
        for name in inner
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            let scope = match name.trim_matches(['\'', '"']) {
                "project" => Scope::Project,
                "domain" => Scope::Domain,
                "system" => Scope::System,
                _ => return None,
            };
            types = types.with(scope);
        }
        Some(types)
    }
}

/// Every registered rule, in table order.
///
/// ```
/// let create = ringnova::policy::defaults()
///     .find(|rule| rule.name == "os_compute_api:servers:create")
///     .unwrap();
/// assert_eq!(create.check_str, "rule:project_member_or_admin");
/// ```
pub fn defaults() -> impl Iterator<Item = RuleDefault> {
    rows().filter_map(|(_, row)| row)
}

/// The table's data rows with their line numbers; `None` for a malformed row.
fn rows() -> impl Iterator<Item = (usize, Option<RuleDefault>)> {
    TABLE
        .lines()
        .enumerate()
        .skip(1) // the header
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| (index + 1, parse_row(line)))
}

fn parse_row(line: &'static str) -> Option<RuleDefault> {
    let mut fields = line.split('\t');
    let module = fields.next()?;
    let name = fields.next()?;
    let check_str = fields.next()?;
    let scope_types = ScopeTypes::parse(fields.next()?)?;
    let last = fields.next().unwrap_or("");
    if fields.next().is_some() || name.is_empty() {
        return None;
    }
    let (operations, deprecated) = match last.find(DEPRECATED_MARK) {
        Some(at) => {
            let check = last[at + DEPRECATED_MARK.len()..].strip_suffix(']')?;
            (last[..at].trim(), Some(check))
        }
        None => (last.trim(), None),
    };
    Some(RuleDefault {
        module,
        name,
        check_str,
        scope_types,
        operations,
        deprecated,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::policy::{Rule, Warning};

    /// The number of rules Nova registers (base rules included).
    const REGISTERED: usize = 214;

    #[test]
    fn every_row_is_well_formed() {
        let bad: Vec<usize> = rows()
            .filter(|(_, row)| row.is_none())
            .map(|(n, _)| n)
            .collect();
        assert!(bad.is_empty(), "malformed rows at lines {bad:?}");
        assert_eq!(defaults().count(), REGISTERED);
    }

    #[test]
    fn names_are_unique() {
        let mut seen = HashSet::new();
        for rule in defaults() {
            assert!(seen.insert(rule.name), "{} twice", rule.name);
        }
    }

    #[test]
    fn every_default_parses_without_warnings() {
        for rule in defaults() {
            let parsed = Rule::parse(rule.check_str);
            assert_eq!(parsed.warnings, Vec::<Warning>::new(), "{}", rule.name);
            assert!(
                !parsed.rule.is_always_false() || rule.check_str == "!",
                "{} denies everything",
                rule.name
            );
            if let Some(deprecated) = rule.deprecated {
                let parsed = Rule::parse(deprecated);
                assert!(parsed.warnings.is_empty(), "{} (deprecated)", rule.name);
            }
        }
    }

    #[test]
    fn base_rules_are_registered() {
        let base: Vec<&str> = defaults()
            .filter(|rule| rule.module == "base")
            .map(|rule| rule.name)
            .collect();
        for name in [
            "context_is_admin",
            "admin_or_owner",
            "admin_api",
            "project_manager_api",
            "project_member_api",
            "project_reader_api",
            "service_api",
            "project_manager_or_admin",
            "project_member_or_admin",
            "project_reader_or_admin",
            "service_or_admin",
        ] {
            assert!(base.contains(&name), "{name} missing");
        }
        assert!(!defaults().any(|rule| rule.name == "default"));
    }

    #[test]
    fn scopes_and_deprecations() {
        for rule in defaults() {
            if rule.module == "base" {
                assert_eq!(rule.scope_types, ScopeTypes::ANY, "{}", rule.name);
            } else {
                assert_eq!(rule.scope_types, ScopeTypes::PROJECT, "{}", rule.name);
            }
            assert!(!rule.operations.contains("deprecated"), "{}", rule.name);
        }
        let find = |name: &str| defaults().find(|rule| rule.name == name);
        let member = find("project_member_api").unwrap();
        assert_eq!(
            member.check_str,
            "role:member and project_id:%(project_id)s"
        );
        assert_eq!(
            member.deprecated,
            Some("is_admin:True or project_id:%(project_id)s")
        );
        assert_eq!(member.operations, "");
        let list = find("os_compute_api:os-attach-interfaces:list").unwrap();
        assert_eq!(list.deprecated, Some("rule:admin_or_owner"));
        assert_eq!(list.operations, "GET /servers/{server_id}/os-interface");
        assert_eq!(find("admin_api").unwrap().deprecated, None);
    }

    #[test]
    fn scope_types_column() {
        let cases = [
            ("None", Some(ScopeTypes::ANY)),
            ("['project']", Some(ScopeTypes::PROJECT)),
            (
                "['system', 'project']",
                Some(ScopeTypes::PROJECT.with(Scope::System)),
            ),
            ("[]", Some(ScopeTypes::ANY)),
            ("['galaxy']", None),
            ("project", None),
        ];
        for (text, expected) in cases {
            assert_eq!(ScopeTypes::parse(text), expected, "{text:?}");
        }
        assert!(ScopeTypes::ANY.allows(Scope::System));
        assert!(ScopeTypes::PROJECT.allows(Scope::Project));
        assert!(!ScopeTypes::PROJECT.allows(Scope::System));
        assert!(!ScopeTypes::PROJECT.allows(Scope::Domain));
    }
}
