//! Evaluation of a compiled rule against [`Credentials`] and a [`Target`].
//!
//! It runs on the core workers, once or a few times per request, over rules shared
//! read-only by all of them. It never allocates and never panics:
//!
//! * **No substituted strings.** A `%(key)s` match is never formatted into a `String`.
//!   The template's pieces (literal text, or the target's value for a key) are compared
//!   against the other side one after the other: against a `&str` by stripping each piece
//!   as a prefix; against a number, bool or list (Python's `str()` of a credential value)
//!   by running the value's `Display` into a `fmt::Write` sink that checks each written
//!   chunk against the pieces instead of storing it; and against a role by lower-casing
//!   the target's text char by char as it is compared (`role:` matches are
//!   case-insensitive; the template's own text was lower-cased when it was compiled).
//!   A key missing from the target makes the check false before anything is compared, as
//!   oslo's `KeyError` does.
//! * **Bounded recursion.** The tree is at most [`MAX_NESTING`](super::MAX_NESTING) deep,
//!   and `rule:` references are followed at most [`MAX_RULE_DEPTH`] deep along one path.
//!   Past that (a rule loop), evaluation aborts and the authorization denies.
//! * **Fail closed.** Where oslo would raise (indexing a string with a dotted path, a
//!   remote `http:` check, an unsupported format), evaluation aborts, and the whole
//!   authorization denies, even when the check sits under a `not`.

use std::fmt::{self, Write as _};

use super::{
    credentials::{lookup, Field},
    rule::{Node, Piece, Rule, Template, Test},
    Credentials, Target, Value,
};

/// How many `rule:` references one evaluation may follow in a chain. Nova's own chains
/// are three deep (`os_compute_api:…` → `project_member_or_admin` →
/// `project_member_api`); a chain longer than this is a loop and denies.
pub const MAX_RULE_DEPTH: usize = 32;

/// Why an evaluation stopped without an answer. The authorization then denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Abort {
    /// More than [`MAX_RULE_DEPTH`] `rule:` references in a chain: a rule loop.
    TooDeep,
    /// A check this engine cannot evaluate, or one that raises in oslo.
    Unevaluable,
    /// A remote check's URL names a target key that is missing: oslo raises `KeyError`,
    /// which the nearest enclosing `rule:` check turns into false (oslo's `RuleCheck`
    /// catches `KeyError` around the rule it evaluates); at the top it denies.
    MissingKey,
}

/// Everything an evaluation reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Env<'e, 'c, 't> {
    /// The enforcer's rules, indexed by the slots `rule:` checks were linked to.
    pub(crate) rules: &'e [Rule],
    pub(crate) creds: &'e Credentials<'c>,
    pub(crate) target: &'e Target<'t>,
}

/// Evaluates `node`, having already followed `hops` `rule:` references.
pub(crate) fn eval(node: &Node, env: &Env<'_, '_, '_>, hops: usize) -> Result<bool, Abort> {
    match node {
        Node::True => Ok(true),
        Node::False => Ok(false),
        Node::Not(inner) => Ok(!eval(inner, env, hops)?),
        Node::And(nodes) => {
            for node in nodes {
                if !eval(node, env, hops)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Node::Or(nodes) => {
            for node in nodes {
                if eval(node, env, hops)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Node::Check(check) => eval_check(&check.test, env, hops),
    }
}

fn eval_check(test: &Test, env: &Env<'_, '_, '_>, hops: usize) -> Result<bool, Abort> {
    match test {
        Test::Rule { slot, .. } => {
            let Some(rule) = slot.and_then(|slot| env.rules.get(slot as usize)) else {
                return Ok(false);
            };
            if hops >= MAX_RULE_DEPTH {
                return Err(Abort::TooDeep);
            }
            match eval(&rule.root, env, hops + 1) {
                Err(Abort::MissingKey) => Ok(false),
                other => other,
            }
        }
        Test::Role(template) => Ok(Filled::new(template, env.target)?
            .is_some_and(|filled| env.creds.roles().any(|role| filled.eq_lowercase(role)))),
        Test::IsAdmin(expected) => Ok(env.creds.is_admin == *expected),
        Test::Literal { value, template } => {
            Ok(Filled::new(template, env.target)?.is_some_and(|filled| filled.eq_str(value)))
        }
        Test::Creds { path, template } => match Filled::new(template, env.target)? {
            Some(filled) => creds_path(env.creds, path, &filled),
            None => Ok(false),
        },
        Test::Raises(template) => match Filled::new(template, env.target)? {
            Some(_) => Err(Abort::Unevaluable),
            None => Ok(false),
        },
        Test::Remote(template) => match Filled::new(template, env.target)? {
            Some(_) => Err(Abort::Unevaluable),
            None => Err(Abort::MissingKey),
        },
    }
}

/// Oslo's `GenericCheck._find_in_dict` from the top of the credentials.
fn creds_path(
    creds: &Credentials<'_>,
    path: &[Box<str>],
    filled: &Filled<'_, '_>,
) -> Result<bool, Abort> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(false);
    };
    match creds.field(first) {
        None => Ok(false),
        Some(Field::Value(value)) => descend(value, rest, filled),
        Some(Field::Roles(roles)) => match rest {
            [] => Ok(roles.iter().any(|role| filled.eq_str(role))),
            // Indexing a role (a string) with a key raises in oslo.
            _ if roles.is_empty() => Ok(false),
            _ => Err(Abort::Unevaluable),
        },
    }
}

/// A value just reached by a key: a list is searched element by element.
fn descend(value: Value<'_>, rest: &[Box<str>], filled: &Filled<'_, '_>) -> Result<bool, Abort> {
    if let Value::List(items) = value {
        for item in items {
            if find(*item, rest, filled)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    find(value, rest, filled)
}

fn find(value: Value<'_>, rest: &[Box<str>], filled: &Filled<'_, '_>) -> Result<bool, Abort> {
    let Some((key, rest)) = rest.split_first() else {
        return Ok(filled.eq_display(&value));
    };
    match value {
        Value::Map(entries) => match lookup(entries, key) {
            Some(value) => descend(value, rest, filled),
            None => Ok(false),
        },
        // Indexing anything but a dict with a key raises in oslo.
        _ => Err(Abort::Unevaluable),
    }
}

/// A template whose keys are all present in the target: `match % target` without the
/// string.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Filled<'s, 't> {
    template: &'s Template,
    target: &'s Target<'t>,
}

impl<'s, 't: 's> Filled<'s, 't> {
    /// Formats `template` with `target` as Python's `%` does, left to right: `Ok(None)`
    /// when a key is missing (oslo's `KeyError`: the check is false), `Err` when a
    /// [`Piece::Invalid`] is reached first (Python raises).
    pub(crate) fn new(
        template: &'s Template,
        target: &'s Target<'t>,
    ) -> Result<Option<Self>, Abort> {
        for piece in &*template.pieces {
            match piece {
                Piece::Key(key) if target.get(key).is_none() => return Ok(None),
                Piece::Invalid => return Err(Abort::Unevaluable),
                Piece::Key(_) | Piece::Text(_) => {}
            }
        }
        Ok(Some(Filled { template, target }))
    }

    fn pieces(&self) -> Pieces<'s, 't> {
        Pieces {
            pieces: self.template.pieces.iter(),
            target: self.target,
        }
    }

    /// `match % target == value`.
    pub(crate) fn eq_str(&self, value: &str) -> bool {
        let mut rest = value.as_bytes();
        for piece in self.pieces() {
            match rest.strip_prefix(piece.as_bytes()) {
                Some(after) => rest = after,
                None => return false,
            }
        }
        rest.is_empty()
    }

    /// `match % target == str(value)`, where `value`'s `Display` is Python's `str()`.
    pub(crate) fn eq_display(&self, value: &dyn fmt::Display) -> bool {
        let mut sink = Expect {
            pieces: self.pieces(),
            current: &[],
        };
        write!(sink, "{value}").is_ok() && sink.finished()
    }

    /// `(match % target).lower() == lowered`. Literal text was lower-cased when the
    /// template was compiled; the target's values are lower-cased here, one char at a
    /// time. (Python's `str.lower` also turns a word-final `Σ` into `ς`; char by char it
    /// becomes `σ`. No Nova role or id has a capital sigma.)
    pub(crate) fn eq_lowercase(&self, lowered: &str) -> bool {
        let mut rest = lowered;
        for piece in &*self.template.pieces {
            match piece {
                Piece::Text(text) => match rest.strip_prefix(&**text) {
                    Some(after) => rest = after,
                    None => return false,
                },
                Piece::Invalid => return false,
                Piece::Key(key) => {
                    let value = self.target.get(key).unwrap_or_default();
                    for c in value.chars().flat_map(char::to_lowercase) {
                        match rest.strip_prefix(c) {
                            Some(after) => rest = after,
                            None => return false,
                        }
                    }
                }
            }
        }
        rest.is_empty()
    }
}

/// The text of a filled template, piece by piece.
#[derive(Debug)]
struct Pieces<'s, 't> {
    pieces: std::slice::Iter<'s, Piece>,
    target: &'s Target<'t>,
}

impl<'s, 't: 's> Iterator for Pieces<'s, 't> {
    type Item = &'s str;

    fn next(&mut self) -> Option<&'s str> {
        Some(match self.pieces.next()? {
            Piece::Text(text) => text,
            // `Filled::new` checked every key is present.
            Piece::Key(key) => self.target.get(key).unwrap_or_default(),
            // `Filled::new` refused templates holding it.
            Piece::Invalid => "",
        })
    }
}

/// A `fmt::Write` sink that compares what is written against a filled template instead
/// of storing it. A mismatch is reported as a write error, which stops the formatting.
#[derive(Debug)]
struct Expect<'s, 't> {
    pieces: Pieces<'s, 't>,
    /// What is left of the piece being compared.
    current: &'s [u8],
}

impl Expect<'_, '_> {
    /// True when every piece has been matched completely.
    fn finished(mut self) -> bool {
        self.current.is_empty() && self.pieces.all(str::is_empty)
    }
}

impl fmt::Write for Expect<'_, '_> {
    fn write_str(&mut self, written: &str) -> fmt::Result {
        let mut written = written.as_bytes();
        while !written.is_empty() {
            while self.current.is_empty() {
                self.current = self.pieces.next().ok_or(fmt::Error)?.as_bytes();
            }
            let n = written.len().min(self.current.len());
            if written[..n] != self.current[..n] {
                return Err(fmt::Error);
            }
            written = &written[n..];
            self.current = &self.current[n..];
        }
        Ok(())
    }
}

impl Rule {
    /// Evaluates this rule on its own, outside an [`Enforcer`](super::Enforcer): `rule:`
    /// checks are false (there are no other rules) and no scope is checked. A check that
    /// cannot be evaluated, or a rule loop, gives `false`.
    ///
    /// ```
    /// use ringnova::policy::{Credentials, Rule, Target};
    ///
    /// let rule = Rule::parse("role:member and project_id:%(project_id)s").rule;
    /// let creds = Credentials::new().with_project_id("p1").with_roles(["Member"]);
    /// assert!(rule.evaluate(&creds, &Target::from_pairs(&[("project_id", "p1")])));
    /// assert!(!rule.evaluate(&creds, &Target::from_pairs(&[("project_id", "p2")])));
    /// assert!(!rule.evaluate(&creds, &Target::new()));
    /// ```
    pub fn evaluate(&self, creds: &Credentials<'_>, target: &Target<'_>) -> bool {
        let env = Env {
            rules: &[],
            creds,
            target,
        };
        eval(&self.root, &env, 0).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Warning;

    /// Parses `text` (which must parse without warnings other than `NoColon`) and evaluates it.
    fn check(text: &str, creds: &Credentials<'_>, target: &Target<'_>) -> Result<bool, Abort> {
        let parsed = Rule::parse(text);
        assert!(
            parsed
                .warnings
                .iter()
                .all(|w| matches!(w, Warning::NoColon(_))),
            "{text:?}: {:?}",
            parsed.warnings
        );
        let env = Env {
            rules: &[],
            creds,
            target,
        };
        eval(&parsed.rule.root, &env, 0)
    }

    struct Case {
        rule: &'static str,
        expected: Result<bool, Abort>,
    }

    fn run(cases: &[Case], creds: &Credentials<'_>, target: &Target<'_>) {
        for case in cases {
            assert_eq!(
                check(case.rule, creds, target),
                case.expected,
                "{:?}",
                case.rule
            );
        }
    }

    const fn allow(rule: &'static str) -> Case {
        Case {
            rule,
            expected: Ok(true),
        }
    }

    const fn deny(rule: &'static str) -> Case {
        Case {
            rule,
            expected: Ok(false),
        }
    }

    const fn abort(rule: &'static str) -> Case {
        Case {
            rule,
            expected: Err(Abort::Unevaluable),
        }
    }

    #[test]
    fn constants_and_operators() {
        let creds = Credentials::new().with_roles(["a"]);
        let target = Target::new();
        run(
            &[
                allow(""),
                allow("@"),
                deny("!"),
                allow("not !"),
                deny("not @"),
                allow("@ or !"),
                deny("@ and !"),
                allow("role:a"),
                deny("role:b"),
                allow("role:b or role:a"),
                deny("role:a and role:b"),
                allow("not role:b and role:a"),
                deny("not (role:b or role:a)"),
                allow("role:b or role:a and @"),
                deny("(role:b or role:a) and !"),
                allow("role:b and ! or role:a"),
                deny("nocolon"),
                allow("not nocolon"),
            ],
            &creds,
            &target,
        );
    }

    #[test]
    fn roles_are_case_insensitive() {
        let creds = Credentials::new().with_roles(["Admin", "member"]);
        let target = Target::from_pairs(&[("r", "MEMBER"), ("x", "Adm")]);
        run(
            &[
                allow("role:admin"),
                allow("role:ADMIN"),
                allow("role:Member"),
                allow("ROLE:x or role:admin"),
                allow("role:%(r)s"),
                allow("role:%(x)sIN"),
                deny("role:%(missing)s"),
                deny("not role:admin"),
                deny("role:reader"),
                deny("role:admi"),
                deny("role:adminx"),
                // `Role:` is not the role check: it is a generic check on a credential
                // called `Role`, which does not exist.
                deny("Role:admin"),
            ],
            &creds,
            &target,
        );
    }

    #[test]
    fn target_substitution() {
        let creds = Credentials::new()
            .with_project_id("p1")
            .with_user_id("u1")
            .with_roles(["member"]);
        let target = Target::from_pairs(&[
            ("project_id", "p1"),
            ("user_id", "u2"),
            ("prefix", "p"),
            ("empty", ""),
        ]);
        run(
            &[
                allow("project_id:%(project_id)s"),
                deny("user_id:%(user_id)s"),
                deny("project_id:%(missing)s"),
                // A missing key is false even under `not`-free alternatives…
                allow("project_id:%(missing)s or project_id:%(project_id)s"),
                // …and `not` of it is true, as in oslo.
                allow("not project_id:%(missing)s"),
                allow("project_id:%(prefix)s1"),
                allow("project_id:%(empty)sp1%(empty)s"),
                deny("project_id:%(prefix)s"),
                deny("project_id:%(project_id)s%(project_id)s"),
                allow("project_id:p1"),
                deny("project_id:P1"),
                allow("user_id:u1"),
                allow("user_id:%(prefix)s%%:%(prefix)s or user_id:u1"),
            ],
            &creds,
            &target,
        );
    }

    #[test]
    fn literal_kinds() {
        let creds = Credentials::new();
        let target = Target::from_pairs(&[
            ("flag", "True"),
            ("off", "False"),
            ("k", "x"),
            ("n", "20"),
            ("f", "1.5"),
            ("none", "None"),
        ]);
        run(
            &[
                allow("True:%(flag)s"),
                deny("True:%(off)s"),
                allow("False:%(off)s"),
                allow("True:True"),
                deny("True:true"),
                allow("'x':%(k)s"),
                allow("\"x\":%(k)s"),
                deny("'y':%(k)s"),
                allow("20:%(n)s"),
                allow("+20:%(n)s"),
                allow("0x14:%(n)s"),
                allow("2_0:%(n)s"),
                deny("21:%(n)s"),
                allow("1.50:%(f)s"),
                allow("15e-1:%(f)s"),
                allow("None:%(none)s"),
                deny("True:%(missing)s"),
            ],
            &creds,
            &target,
        );
    }

    #[test]
    fn credential_fields() {
        let creds = Credentials::new()
            .with_user_id("u1")
            .with_project_id("p1")
            .with_is_admin(true)
            .with_user_domain_id("default")
            .with_roles(["reader", "Member"]);
        let target = Target::from_pairs(&[("none", "None")]);
        run(
            &[
                allow("user_id:u1"),
                allow("project_id:p1"),
                allow("user_domain_id:default"),
                // Absent ids read as Python's None.
                allow("domain_id:None"),
                allow("domain_id:%(none)s"),
                allow("system_scope:None"),
                allow("system:None"),
                deny("project_domain_id:default"),
                // Nova's is_admin check, not the generic one.
                allow("is_admin:True"),
                allow("is_admin:true"),
                deny("is_admin:False"),
                // The generic check on the role list: any element, exact text as the
                // token spells it (oslo compares `creds['roles']` as given; only `role:`
                // ignores case).
                allow("roles:reader"),
                deny("roles:member"),
                allow("roles:Member"),
                deny("roles:admin"),
                deny("missing:x"),
                abort("user_id.x:u1"),
                abort("project_id.x:p1"),
                abort("roles.name:reader"),
            ],
            &creds,
            &target,
        );
        let not_admin = Credentials::new();
        run(
            &[
                deny("is_admin:True"),
                allow("is_admin:False"),
                allow("is_admin:no"),
                deny("roles:reader"),
                deny("roles.name:reader"),
                allow("user_id:None"),
            ],
            &not_admin,
            &target,
        );
    }

    #[test]
    fn dotted_paths_into_extra() {
        let groups = [Value::Str("g1"), Value::Str("g2")];
        let alice = [
            ("name", Value::Str("alice")),
            ("groups", Value::List(&groups)),
        ];
        let bob = [("name", Value::Str("bob")), ("level", Value::Int(3))];
        let people = [Value::Map(&alice), Value::Map(&bob)];
        let token = [
            ("people", Value::List(&people)),
            ("user", Value::Map(&alice)),
            ("enabled", Value::Bool(true)),
            ("count", Value::Int(-2)),
            ("nothing", Value::None),
            ("nested", Value::List(&[Value::List(&[Value::Str("g1")])])),
        ];
        let creds = Credentials::new().with_extra(&token);
        let target = Target::from_pairs(&[("name", "bob"), ("level", "3")]);
        run(
            &[
                allow("user.name:alice"),
                deny("user.name:bob"),
                allow("user.groups:g2"),
                allow("people.name:%(name)s"),
                allow("people.level:%(level)s"),
                deny("people.level:4"),
                deny("user.missing:x"),
                deny("missing.name:x"),
                allow("enabled:True"),
                allow("True:%(missing)s or enabled:True"),
                allow("count:-2"),
                allow("nothing:None"),
                allow("nested:['g1']"),
                deny("nested:g1"),
                deny("user:alice"),
                abort("enabled.x:True"),
                abort("user.name.first:alice"),
                abort("nothing.x:y"),
            ],
            &creds,
            &target,
        );
    }

    #[test]
    fn unevaluable_checks_abort_even_under_not() {
        let creds = Credentials::new().with_roles(["a"]);
        let target = Target::new();
        for text in [
            "http://x",
            "not http://x",
            "role:b or https://x",
            "1j:x",
            "a:%s",
        ] {
            let rule = Rule::parse(text).rule;
            let env = Env {
                rules: &[],
                creds: &creds,
                target: &target,
            };
            assert_eq!(
                eval(&rule.root, &env, 0),
                Err(Abort::Unevaluable),
                "{text:?}"
            );
            assert!(!rule.evaluate(&creds, &target));
        }
        // Short-circuiting stops before the unsupported check, as in oslo.
        assert!(Rule::parse("role:a or http://x")
            .rule
            .evaluate(&creds, &target));
        assert!(!Rule::parse("role:b and http://x")
            .rule
            .evaluate(&creds, &target));
    }

    #[test]
    fn standalone_rule_references_are_false() {
        let creds = Credentials::new().with_roles(["a"]);
        let target = Target::new();
        assert!(!Rule::parse("rule:anything").rule.evaluate(&creds, &target));
        assert!(Rule::parse("not rule:anything")
            .rule
            .evaluate(&creds, &target));
    }

    #[test]
    fn filled_comparisons() {
        let template = crate::policy::parse::parse_template("a%(k)sc%%");
        let target = Target::from_pairs(&[("k", "B")]);
        let filled = Filled::new(&template, &target).unwrap().unwrap();
        assert!(filled.eq_str("aBc%"));
        assert!(!filled.eq_str("aBc"));
        assert!(!filled.eq_str("aBc%%"));
        assert!(!filled.eq_str("abc%"));
        assert!(filled.eq_display(&"aBc%"));
        assert!(!filled.eq_display(&"aBc"));
        assert!(!filled.eq_display(&"aBc%x"));
        assert!(filled.eq_display(&format_args!("a{}c%", "B")));
        assert_eq!(
            Filled::new(&template, &Target::new()).map(|f| f.is_none()),
            Ok(true)
        );
        let number = crate::policy::parse::parse_template("-%(n)s");
        let target = Target::from_pairs(&[("n", "42")]);
        let filled = Filled::new(&number, &target).unwrap().unwrap();
        assert!(filled.eq_display(&Value::Int(-42)));
        assert!(!filled.eq_display(&Value::Int(-4)));
        assert!(!filled.eq_display(&Value::Int(-420)));
        // Python formats left to right: a missing key before a bad format is a
        // `KeyError` (false), the bad format first raises.
        let bad = crate::policy::parse::parse_template("%(k)s-%(n)d");
        assert_eq!(
            Filled::new(&bad, &Target::new()).map(|f| f.is_none()),
            Ok(true)
        );
        assert_eq!(
            Filled::new(&bad, &Target::from_pairs(&[("k", "x")])).map(|f| f.is_none()),
            Ok(true)
        );
        assert!(Filled::new(&bad, &Target::from_pairs(&[("k", "x"), ("n", "1")])).is_err());
    }
}
