//! Fuzz target: the policy language and policy files — `policy::Rule::parse` on arbitrary
//! rule text, and `policy::files::parse_rules` plus an enforcer built from what it read.
//!
//! Checks that a rule that parses cleanly prints (oslo's `str()`) to text that parses back to
//! the same rule, that `not (rule)` evaluates to the opposite answer, and that every rule a
//! policy file defines is compiled from exactly its text and evaluates without running away
//! (rule loops, deep nesting).
#![no_main]

use std::{path::Path, sync::OnceLock};

use libfuzzer_sys::fuzz_target;
use ringnova::policy::{files::parse_rules, Credentials, Enforcer, Rule, Target};

/// Nova's defaults, for `rule:` references in the fuzzed rules.
fn defaults() -> &'static Enforcer {
    static ENFORCER: OnceLock<Enforcer> = OnceLock::new();
    ENFORCER.get_or_init(Enforcer::new)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let admin = Credentials::new()
        .with_user_id("u1")
        .with_project_id("p1")
        .with_is_admin(true)
        .with_roles(["admin", "Member", "reader"]);
    let other = Credentials::new()
        .with_user_id("u2")
        .with_project_id("p2")
        .with_system_scope("all")
        .with_roles(["reader"]);
    let target = Target::from_pairs(&[("project_id", "p1"), ("user_id", "u1"), ("a.b", "c")]);
    if mode % 2 == 0 {
        rule_text(&text, &[&admin, &other], &target);
    } else {
        policy_file(&text, &[&admin, &other], &target);
    }
});

fn rule_text(text: &str, creds: &[&Credentials<'_>], target: &Target<'_>) {
    let parsed = Rule::parse(text);
    if !parsed.warnings.is_empty() {
        return;
    }
    let printed = parsed.rule.to_string();
    let again = Rule::parse(&printed);
    assert_eq!(again.warnings, [], "{text:?} printed as {printed:?}");
    assert_eq!(again.rule, parsed.rule, "{text:?} printed as {printed:?}");
    assert_eq!(again.rule.to_string(), printed);

    let enforcer = defaults();
    let rule = enforcer.compile_expression(text);
    let negated = enforcer.compile_expression(&format!("not ({printed})"));
    if !negated.warnings.is_empty() || !rule.warnings.is_empty() {
        return;
    }
    for creds in creds {
        let answer = enforcer.check(&rule.rule, creds, target);
        let opposite = enforcer.check(&negated.rule, creds, target);
        assert_eq!(answer.map(|allowed| !allowed), opposite, "{text:?}");
    }
}

fn policy_file(text: &str, creds: &[&Credentials<'_>], target: &Target<'_>) {
    let Ok(rules) = parse_rules(text, Path::new("fuzz.yaml")) else {
        return;
    };
    let default_rule = rules.first().map_or("default", |(name, _)| name.as_str());
    let enforcer = Enforcer::builder()
        .with_registered_defaults(false)
        .with_default_rule(default_rule)
        .with_overrides(rules.iter().map(|(n, c)| (n, c)))
        .build();
    for (name, check) in rules.iter().take(32) {
        assert_eq!(enforcer.check_str(name), Some(check.as_str()));
        for creds in creds {
            // Not registered: evaluated through an expression naming it, loops included.
            let rule = enforcer.compile_expression(&format!("rule:{name}"));
            let _ = enforcer.check(&rule.rule, creds, target);
        }
    }
}
