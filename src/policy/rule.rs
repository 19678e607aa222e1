//! The compiled form of a policy rule: a small tree of checks, built once by
//! [`Rule::parse`](super::Rule::parse) and only read after that.
//!
//! The tree mirrors oslo.policy's check objects: `TrueCheck` (`@`), `FalseCheck` (`!`),
//! `NotCheck`, n-ary `AndCheck` and `OrCheck`, and the leaf checks `rule:`, `role:`,
//! Nova's `is_admin:`, and the generic `kind:match` check. Everything a check needs at
//! evaluation time is prepared here: `%(key)s` templates are split into pieces, literal
//! kinds are already turned into Python's `str()` of the literal, and dotted credential
//! paths are already split. Evaluation (in `eval.rs`) only compares.
//!
//! Nesting is capped at [`MAX_NESTING`] levels when the tree is built, so walking it
//! recursively (evaluation, printing, dropping) stays shallow whatever the input was.
//!
//! A compiled rule must never be mutated after the enforcer is built, and never nest deeper
//! than `MAX_NESTING`.

use std::fmt;

/// Deepest nesting of `not`, `and` and `or` a rule may have. A rule nested deeper is
/// refused when it is parsed and denies everything. Parentheses alone do not count, only
/// the operators they group.
pub const MAX_NESTING: usize = 32;

/// A compiled policy rule.
///
/// Build one with [`Rule::parse`]. Printing a rule (`Display`) gives oslo.policy's
/// canonical form, fully parenthesised (`(role:a or (role:b and role:c))`), and parsing
/// that text again gives the same rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub(crate) root: Node,
}

/// One node of the rule tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// `@`, and the empty rule: always true.
    True,
    /// `!`, a check with no `:`, and any rule that does not parse: always false.
    False,
    /// `not X`.
    Not(Box<Node>),
    /// `X and Y and …`, true when every operand is (evaluated left to right, stopping early).
    And(Vec<Node>),
    /// `X or Y or …`, true when any operand is (evaluated left to right, stopping early).
    Or(Vec<Node>),
    /// A `kind:match` leaf.
    Check(Check),
}

/// A `kind:match` leaf: its source text (for printing) and what it tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    /// The check exactly as written, e.g. `project_id:%(project_id)s`.
    pub(crate) text: Box<str>,
    pub(crate) test: Test,
}

/// What a leaf check tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Test {
    /// `rule:<name>`: the named rule. `slot` is filled in when an enforcer links its rules:
    /// the index of the named rule, or of the default rule when the name is unknown, or
    /// `None` (the check is false).
    Rule { name: Box<str>, slot: Option<u32> },
    /// `role:<template>`: the filled-in template, lower-cased, is one of the roles.
    Role(Template),
    /// Nova's `is_admin:<x>`: `creds.is_admin == (x.lower() == "true")`.
    IsAdmin(bool),
    /// A generic check whose kind is a Python literal: the filled-in template equals
    /// `value`, which is Python's `str()` of the literal (`True`, `x` for `'x'`, `20`).
    Literal { value: Box<str>, template: Template },
    /// A generic check whose kind is a credential path (`project_id`, `a.b.c`): the
    /// filled-in template equals `str()` of the value found there (any element, for lists).
    Creds {
        path: Box<[Box<str>]>,
        template: Template,
    },
    /// A generic check whose kind is neither a name nor a literal this engine understands
    /// (oslo's `ast.literal_eval` raises on it). The match is formatted first, as in
    /// oslo: a missing target key makes the check false; otherwise it aborts like
    /// [`Test::Remote`].
    Raises(Template),
    /// An `http:`/`https:` remote check, which this engine does not make. Its URL is
    /// formatted first, as in oslo: a missing target key raises a `KeyError` there (which
    /// an enclosing `rule:` check turns into false, as oslo's `RuleCheck` does);
    /// otherwise the whole authorization aborts and denies, even under `not`.
    Remote(Template),
}

/// A check's match string with its `%(key)s` references split out, so it can be compared
/// against a value piece by piece without building the substituted string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pub(crate) pieces: Box<[Piece]>,
}

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Literal text (with `%%` already turned into `%`).
    Text(Box<str>),
    /// `%(key)s`: the target's value for `key`.
    Key(Box<str>),
    /// Where Python's `match % target` raises (a `%` other than `%(key)s` or `%%`): a
    /// missing key before it still makes the check false, as the `KeyError` comes first;
    /// reaching it aborts the evaluation. Always the last piece.
    Invalid,
}

impl Template {
    /// False when formatting it raises in Python (it holds [`Piece::Invalid`]).
    pub(crate) fn is_valid(&self) -> bool {
        !self.pieces.contains(&Piece::Invalid)
    }
}

impl Node {
    /// Calls `visit` on every leaf check, mutably (used to link `rule:` checks).
    pub(crate) fn for_each_check_mut(&mut self, visit: &mut impl FnMut(&mut Check)) {
        match self {
            Node::True | Node::False => {}
            Node::Not(inner) => inner.for_each_check_mut(visit),
            Node::And(nodes) | Node::Or(nodes) => {
                for node in nodes {
                    node.for_each_check_mut(visit);
                }
            }
            Node::Check(check) => visit(check),
        }
    }
}

impl Rule {
    /// True when the rule is the constant `@` (also what an empty rule compiles to).
    pub fn is_always_true(&self) -> bool {
        self.root == Node::True
    }

    /// True when the rule is the constant `!` (also what an unparseable rule compiles to).
    pub fn is_always_false(&self) -> bool {
        self.root == Node::False
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.fmt(f)
    }
}

/// Oslo's `__str__`: `@`, `!`, `not X`, `(X and Y)`, `(X or Y)`, `kind:match`.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::True => f.write_str("@"),
            Node::False => f.write_str("!"),
            Node::Not(inner) => write!(f, "not {inner}"),
            Node::And(nodes) => write_joined(f, nodes, " and "),
            Node::Or(nodes) => write_joined(f, nodes, " or "),
            Node::Check(check) => f.write_str(&check.text),
        }
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, nodes: &[Node], operator: &str) -> fmt::Result {
    f.write_str("(")?;
    for (i, node) in nodes.iter().enumerate() {
        if i > 0 {
            f.write_str(operator)?;
        }
        write!(f, "{node}")?;
    }
    f.write_str(")")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_oslo_str() {
        let cases = [
            ("@", "@"),
            ("!", "!"),
            ("", "@"),
            ("role:a", "role:a"),
            (
                "role:a or role:b and role:c",
                "(role:a or (role:b and role:c))",
            ),
            ("not role:a and role:b", "(not role:a and role:b)"),
            ("not (role:a or role:b)", "not (role:a or role:b)"),
            ("nocolon", "!"),
            ("(((role:a)))", "role:a"),
        ];
        for (text, printed) in cases {
            assert_eq!(Rule::parse(text).rule.to_string(), printed, "{text:?}");
        }
    }

    #[test]
    fn constant_rules() {
        assert!(Rule::parse("").rule.is_always_true());
        assert!(Rule::parse("@").rule.is_always_true());
        assert!(Rule::parse("!").rule.is_always_false());
        assert!(Rule::parse("role:a and").rule.is_always_false());
        assert!(!Rule::parse("role:a").rule.is_always_false());
    }

    #[test]
    fn template_keys() {
        let rule = Rule::parse("x:%(a)s-%(b)s%%").rule;
        let Node::Check(Check {
            test: Test::Creds { template, .. },
            ..
        }) = &rule.root
        else {
            panic!("not a creds check: {rule:?}");
        };
        assert_eq!(
            &*template.pieces,
            [
                Piece::Key("a".into()),
                Piece::Text("-".into()),
                Piece::Key("b".into()),
                Piece::Text("%".into())
            ]
        );
        assert!(template.is_valid());
    }
}
