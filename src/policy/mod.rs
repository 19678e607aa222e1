//! The oslo.policy rule engine: Nova's policy rules compiled once at start-up into a
//! read-only [`Enforcer`] that answers "may these credentials do this to that target?".
//!
//! # Where it runs
//!
//! The enforcer is built on the main thread at start-up: the defaults Nova registers
//! (embedded from `defaults.tsv`, see [`defaults`]) plus any overrides are parsed into
//! [`Rule`] trees, and every `rule:` reference is linked to the rule it names. After that
//! nothing changes: `Enforcer` is `Send + Sync`, and every core worker shares it read-only
//! (no lock, no copy) and calls [`Enforcer::authorize`] from the API layer, after the
//! resource has been fetched, with the request's [`Credentials`] and a [`Target`]. The
//! module uses nothing else in the crate.
//!
//! An enforcer is never modified. Operators' policy files ([`files`]) are compiled into a
//! new one, at start-up and again whenever they change; [`live`] publishes it and each
//! worker swaps its `Arc` on its next check, without locking per request. [`sample`]
//! prints the defaults as a commented `policy.yaml`.
//!
//! # What it must never do
//!
//! * **Allocate per check.** Evaluation compares borrowed text with compiled pieces; a
//!   `%(key)s` match is compared piece by piece, never formatted into a `String` (see
//!   `eval.rs`). `Credentials` and `Target` keep their usual contents inline.
//! * **Panic on bad input.** Any rule text compiles: what does not parse denies and is
//!   reported in [`Enforcer::warnings`]. Nesting is capped at [`MAX_NESTING`] when a rule
//!   is parsed and `rule:` chains at [`MAX_RULE_DEPTH`] when one is evaluated, so a rule
//!   loop or a pathological rule denies instead of overflowing the stack.
//! * **Fail open.** Unparseable rules, unknown `rule:` names without a default rule,
//!   checks this engine cannot evaluate (remote `http:` checks), rule loops and tokens of
//!   the wrong scope all deny. No `unsafe`.
//!
//! # Semantics
//!
//! The rule language is oslo.policy's, quirks included (see `parse.rs`). The enforcer
//! follows `oslo_policy.policy.Enforcer`:
//!
//! * overrides replace registered defaults by name, and may add rules (usable through
//!   `rule:`) that are not registered;
//! * with `enforce_new_defaults = false`, a registered rule with a deprecated check string
//!   that is not overridden is `(new) or (deprecated)`;
//! * a `rule:` name that does not exist falls back to the default rule (`default`,
//!   oslo's `policy_default_rule`) when that exists, else is false;
//! * [`Enforcer::authorize`] requires a registered name ([`AuthorizeError::NotRegistered`],
//!   a 500 in Nova), checks the token's [`Scope`] against the rule's `scope_types` (every
//!   Nova API rule is `['project']`, so system- and domain-scoped tokens are refused), then
//!   evaluates.
//!
//! Role implication (`admin` ⊃ `member` ⊃ `reader`) is Keystone's: the credentials must
//! carry every role the token has, implied ones included.
//!
//! # Example
//!
//! ```
//! use ringnova::policy::{AuthorizeError, Credentials, Enforcer, Target};
//!
//! let enforcer = Enforcer::new();
//! let member = Credentials::new()
//!     .with_user_id("u1")
//!     .with_project_id("p1")
//!     .with_roles(["member", "reader"]);
//! let own = Target::from_pairs(&[("project_id", "p1")]);
//! let other = Target::from_pairs(&[("project_id", "p2")]);
//!
//! assert!(enforcer.authorize("os_compute_api:servers:create", &member, &own).is_ok());
//! let denied = enforcer
//!     .authorize("os_compute_api:servers:create", &member, &other)
//!     .unwrap_err();
//! assert_eq!(
//!     denied.to_string(),
//!     "Policy doesn't allow os_compute_api:servers:create to be performed."
//! );
//! assert_eq!(denied.status(), 403);
//! assert!(matches!(
//!     enforcer.authorize("no-such-rule", &member, &own),
//!     Err(AuthorizeError::NotRegistered { .. })
//! ));
//!
//! // An operator override, and the pre-Wallaby defaults.
//! let legacy = Enforcer::builder()
//!     .with_enforce_new_defaults(false)
//!     .with_overrides([("os_compute_api:servers:delete", "rule:context_is_admin")])
//!     .build();
//! assert!(legacy.warnings().is_empty());
//! assert!(legacy.authorize("os_compute_api:servers:delete", &member, &own).is_err());
//! ```

mod credentials;
mod defaults;
mod eval;
pub mod files;
pub mod live;
mod parse;
mod rule;
pub mod sample;
mod target;

use std::fmt;

use ahash::AHashMap;

pub use credentials::{Credentials, Scope, Value, INLINE_ROLES};
pub use defaults::{defaults, RuleDefault, ScopeTypes};
pub use eval::MAX_RULE_DEPTH;
pub use files::{PolicyFileError, PolicyFiles};
pub use live::{LivePolicy, WorkerPolicy};
pub use parse::{Parsed, Warning};
pub use rule::{Rule, MAX_NESTING};
pub use target::{Target, INLINE_TARGET};

use eval::{eval, Abort, Env};
use rule::{Node, Test};

/// The default rule's name unless [`Builder::with_default_rule`] says otherwise (oslo's
/// `[oslo_policy] policy_default_rule`).
pub const DEFAULT_RULE: &str = "default";

/// The compiled rule set. Built once (see [`Builder`]), then only read.
#[derive(Debug, Clone)]
pub struct Enforcer {
    /// Every rule, registered defaults first (table order), then added overrides. A
    /// `rule:` check's slot indexes this.
    rules: Vec<Rule>,
    /// Parallel to `rules`.
    entries: Vec<Entry>,
    by_name: AHashMap<Box<str>, u32>,
    /// The slot of the rule unknown `rule:` names fall back to, if it exists.
    default_slot: Option<usize>,
    enforce_new_defaults: bool,
    warnings: Vec<(Box<str>, Warning)>,
}

/// What the enforcer knows about a rule besides its tree.
#[derive(Debug, Clone)]
struct Entry {
    name: Box<str>,
    /// The check string the rule was compiled from (`(new) or (deprecated)` when the
    /// deprecated default is OR'd back in).
    check_str: Box<str>,
    scope_types: ScopeTypes,
    /// Registered by Nova (else added by an override).
    registered: bool,
}

/// Builds an [`Enforcer`]: start from [`Enforcer::builder`], set options with `with_*`,
/// finish with [`build`](Builder::build).
#[derive(Debug, Clone)]
pub struct Builder {
    enforce_new_defaults: bool,
    registered_defaults: bool,
    default_rule: Box<str>,
    overrides: Vec<(Box<str>, Box<str>)>,
    extra_defaults: Vec<(Box<str>, Box<str>)>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            enforce_new_defaults: true,
            registered_defaults: true,
            default_rule: DEFAULT_RULE.into(),
            overrides: Vec::new(),
            extra_defaults: Vec::new(),
        }
    }
}

impl Builder {
    /// oslo's defaults: `enforce_new_defaults = true`, default rule `default`, no
    /// overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// `[oslo_policy] enforce_new_defaults`. When false, registered rules with a
    /// deprecated check string that are not overridden evaluate `(new) or (deprecated)`.
    pub fn with_enforce_new_defaults(mut self, enforce_new_defaults: bool) -> Self {
        self.enforce_new_defaults = enforce_new_defaults;
        self
    }

    /// Whether Nova's registered defaults are included (the default). Without them the
    /// enforcer holds only the overrides, none of them registered, as a bare
    /// `oslo_policy.policy.Enforcer` with rules set from a file does; used by the
    /// `ringnova policy` tools.
    pub fn with_registered_defaults(mut self, registered_defaults: bool) -> Self {
        self.registered_defaults = registered_defaults;
        self
    }

    /// `[oslo_policy] policy_default_rule`: the rule an unknown `rule:` name falls back
    /// to. An empty name means no fallback.
    pub fn with_default_rule(mut self, name: &str) -> Self {
        self.default_rule = name.into();
        self
    }

    /// Rules that replace registered defaults by name, or add new ones, as a policy file's
    /// `{name: check_str}` does. A later entry for the same name wins. Can be called more
    /// than once.
    pub fn with_overrides<I, N, C>(mut self, overrides: I) -> Self
    where
        I: IntoIterator<Item = (N, C)>,
        N: AsRef<str>,
        C: AsRef<str>,
    {
        self.overrides.extend(
            overrides
                .into_iter()
                .map(|(name, check)| (name.as_ref().into(), check.as_ref().into())),
        );
        self
    }

    /// Registers more rules with their defaults (`['project']` scope), after Nova's: the
    /// rules API extensions declare. A name Nova already registers keeps Nova's default;
    /// overrides apply to these rules as to Nova's.
    pub fn with_extra_defaults<I, N, C>(mut self, defaults: I) -> Self
    where
        I: IntoIterator<Item = (N, C)>,
        N: AsRef<str>,
        C: AsRef<str>,
    {
        self.extra_defaults.extend(
            defaults
                .into_iter()
                .map(|(name, check)| (name.as_ref().into(), check.as_ref().into())),
        );
        self
    }

    /// Compiles every rule and links `rule:` references. Never fails; problems are in
    /// [`Enforcer::warnings`].
    pub fn build(self) -> Enforcer {
        let mut overrides: AHashMap<&str, &str> = AHashMap::new();
        let mut added: Vec<&str> = Vec::new();
        for (name, check) in &self.overrides {
            if overrides.insert(name, check).is_none() {
                added.push(name);
            }
        }
        let mut enforcer = Enforcer {
            rules: Vec::new(),
            entries: Vec::new(),
            by_name: AHashMap::new(),
            default_slot: None,
            enforce_new_defaults: self.enforce_new_defaults,
            warnings: Vec::new(),
        };
        let registered = self.registered_defaults;
        for default in defaults().filter(|_| registered) {
            let (root, text) = match overrides.get(default.name) {
                Some(check) => (enforcer.compile(default.name, check), (*check).into()),
                None => {
                    let new = enforcer.compile(default.name, default.check_str);
                    match default.deprecated {
                        Some(old) if !self.enforce_new_defaults && old != default.check_str => (
                            Node::Or(vec![new, enforcer.compile(default.name, old)]),
                            format!("({}) or ({old})", default.check_str).into(),
                        ),
                        _ => (new, default.check_str.into()),
                    }
                }
            };
            enforcer.add(default.name, root, text, default.scope_types, true);
        }
        for (name, default) in self.extra_defaults.iter().filter(|_| registered) {
            if enforcer.by_name.contains_key(name) {
                continue;
            }
            let check: &str = overrides.get(&**name).copied().unwrap_or(default);
            let root = enforcer.compile(name, check);
            enforcer.add(name, root, check.into(), ScopeTypes::PROJECT, true);
        }
        for name in added {
            if enforcer.by_name.contains_key(name) {
                continue;
            }
            let check = overrides.get(name).copied().unwrap_or("!");
            let root = enforcer.compile(name, check);
            enforcer.add(name, root, check.into(), ScopeTypes::ANY, false);
        }
        enforcer.link(&self.default_rule);
        enforcer
    }
}

impl Default for Enforcer {
    fn default() -> Self {
        Builder::new().build()
    }
}

impl Enforcer {
    /// Nova's registered defaults, new defaults enforced, no overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// A [`Builder`] for other options.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Nova's registered defaults with `overrides` applied (see
    /// [`Builder::with_overrides`]), new defaults enforced.
    pub fn with_overrides<I, N, C>(overrides: I) -> Self
    where
        I: IntoIterator<Item = (N, C)>,
        N: AsRef<str>,
        C: AsRef<str>,
    {
        Builder::new().with_overrides(overrides).build()
    }

    /// Nova's `context.can(rule, target)`: `Ok` when the credentials may perform `rule`
    /// on `target`.
    ///
    /// The rule must be registered ([`AuthorizeError::NotRegistered`] otherwise, even if
    /// an override defined it). A token whose scope the rule does not accept, a rule that
    /// evaluates false, a rule loop and a check that cannot be evaluated all give
    /// [`AuthorizeError::Denied`]. Does not allocate.
    pub fn authorize<'r>(
        &self,
        rule: &'r str,
        creds: &Credentials<'_>,
        target: &Target<'_>,
    ) -> Result<(), AuthorizeError<'r>> {
        let Some((slot, entry)) = self.entry(rule).filter(|(_, entry)| entry.registered) else {
            return Err(AuthorizeError::NotRegistered { rule });
        };
        let denied = |denial| AuthorizeError::Denied { rule, denial };
        if !entry.scope_types.allows(creds.scope()) {
            return Err(denied(Denial::Scope));
        }
        match self.evaluate(slot, creds, target) {
            Ok(true) => Ok(()),
            Ok(false) => Err(denied(Denial::Rule)),
            Err(Abort::TooDeep) => Err(denied(Denial::TooDeep)),
            Err(Abort::Unevaluable | Abort::MissingKey) => Err(denied(Denial::Unevaluable)),
        }
    }

    /// oslo's `enforce()`: like [`authorize`](Self::authorize) but as a boolean, and an
    /// unknown name falls back to the default rule (or is `false`) instead of being an
    /// error. The scope is checked for registered rules only.
    pub fn enforce(&self, rule: &str, creds: &Credentials<'_>, target: &Target<'_>) -> bool {
        self.enforce_detailed(rule, creds, target) == Ok(true)
    }

    /// [`enforce`](Self::enforce) saying why it denies: `Ok(false)` when the rule
    /// evaluated false (or names nothing and there is no default rule), `Err` for a token
    /// of the wrong scope, a rule loop or a check that cannot be evaluated.
    pub fn enforce_detailed(
        &self,
        rule: &str,
        creds: &Credentials<'_>,
        target: &Target<'_>,
    ) -> Result<bool, Denial> {
        let slot = match self.entry(rule) {
            Some((slot, entry)) => {
                if !entry.scope_types.allows(creds.scope()) {
                    return Err(Denial::Scope);
                }
                slot
            }
            None => match self.default_slot {
                Some(slot) => slot,
                None => return Ok(false),
            },
        };
        self.evaluate(slot, creds, target)
            .map_err(|abort| match abort {
                Abort::TooDeep => Denial::TooDeep,
                Abort::Unevaluable | Abort::MissingKey => Denial::Unevaluable,
            })
    }

    /// True when Nova registers `rule` (overrides do not register).
    pub fn is_registered(&self, rule: &str) -> bool {
        self.entry(rule).is_some_and(|(_, entry)| entry.registered)
    }

    /// The compiled rule called `name` (registered or added by an override).
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.entry(name).and_then(|(slot, _)| self.rules.get(slot))
    }

    /// Every rule name, registered defaults first.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.entries.iter().map(|entry| &*entry.name)
    }

    /// `[oslo_policy] enforce_new_defaults` as built.
    pub fn enforces_new_defaults(&self) -> bool {
        self.enforce_new_defaults
    }

    /// Problems found while compiling, each with the name of the rule it was found in.
    /// Empty for Nova's defaults.
    pub fn warnings(&self) -> &[(Box<str>, Warning)] {
        &self.warnings
    }

    fn entry(&self, name: &str) -> Option<(usize, &Entry)> {
        let slot = *self.by_name.get(name)? as usize;
        Some((slot, self.entries.get(slot)?))
    }

    fn evaluate(
        &self,
        slot: usize,
        creds: &Credentials<'_>,
        target: &Target<'_>,
    ) -> Result<bool, Abort> {
        let Some(rule) = self.rules.get(slot) else {
            return Ok(false);
        };
        let env = Env {
            rules: &self.rules,
            creds,
            target,
        };
        eval(&rule.root, &env, 0)
    }

    /// Parses `text` for the rule `name`, keeping its warnings.
    fn compile(&mut self, name: &str, text: &str) -> Node {
        let parsed = Rule::parse(text);
        self.warnings.extend(
            parsed
                .warnings
                .into_iter()
                .map(|warning| (Box::from(name), warning)),
        );
        parsed.rule.root
    }

    fn add(
        &mut self,
        name: &str,
        root: Node,
        check_str: Box<str>,
        scope_types: ScopeTypes,
        registered: bool,
    ) {
        let slot = u32::try_from(self.rules.len()).unwrap_or(u32::MAX);
        self.by_name.insert(name.into(), slot);
        self.rules.push(Rule { root });
        self.entries.push(Entry {
            name: name.into(),
            check_str,
            scope_types,
            registered,
        });
    }

    /// Points every `rule:` check at the rule it names, or at the default rule.
    fn link(&mut self, default_rule: &str) {
        let default_slot = match default_rule {
            "" => None,
            name => self.by_name.get(name).copied(),
        };
        self.default_slot = default_slot.map(|slot| slot as usize);
        let by_name = &self.by_name;
        let mut unknown = Vec::new();
        for (rule, entry) in self.rules.iter_mut().zip(&self.entries) {
            link_node(&mut rule.root, by_name, default_slot, &mut |warning| {
                unknown.push((entry.name.clone(), warning));
            });
        }
        self.warnings.extend(unknown);
    }

    /// Compiles `text` as a rule evaluated among this enforcer's rules: its `rule:`
    /// checks name them (an unknown name falls back to the default rule, as in
    /// [`enforce`](Self::enforce)). Evaluate it with [`check`](Self::check). This is
    /// oslo's `enforce(parse_rule(text), target, creds)`, what `oslopolicy-checker` and
    /// `ringnova policy check --expression` do.
    pub fn compile_expression(&self, text: &str) -> Parsed {
        let mut parsed = Rule::parse(text);
        let default_slot = self.default_slot.and_then(|slot| u32::try_from(slot).ok());
        let warnings = &mut parsed.warnings;
        link_node(
            &mut parsed.rule.root,
            &self.by_name,
            default_slot,
            &mut |w| warnings.push(w),
        );
        parsed
    }

    /// Evaluates `rule` (from [`compile_expression`](Self::compile_expression) on this
    /// enforcer) without any scope check: `Ok(allowed)`, or `Err` with
    /// [`Denial::TooDeep`] (a rule loop) or [`Denial::Unevaluable`] (a check that cannot
    /// be evaluated, where oslo raises an exception). Does not allocate.
    pub fn check(
        &self,
        rule: &Rule,
        creds: &Credentials<'_>,
        target: &Target<'_>,
    ) -> Result<bool, Denial> {
        let env = Env {
            rules: &self.rules,
            creds,
            target,
        };
        eval(&rule.root, &env, 0).map_err(|abort| match abort {
            Abort::TooDeep => Denial::TooDeep,
            Abort::Unevaluable | Abort::MissingKey => Denial::Unevaluable,
        })
    }

    /// The check string the rule called `name` was compiled from.
    pub fn check_str(&self, name: &str) -> Option<&str> {
        self.entry(name).map(|(_, entry)| &*entry.check_str)
    }
}

/// Points every `rule:` check under `node` at the rule it names in `by_name`, or at
/// `default_slot`; reports names that resolve to nothing.
fn link_node(
    node: &mut Node,
    by_name: &AHashMap<Box<str>, u32>,
    default_slot: Option<u32>,
    report: &mut impl FnMut(Warning),
) {
    node.for_each_check_mut(&mut |check| {
        if let Test::Rule { name, slot } = &mut check.test {
            *slot = by_name.get(&**name).copied().or(default_slot);
            if slot.is_none() {
                report(Warning::UnknownRule(name.clone()));
            }
        }
    });
}

/// Why [`Enforcer::authorize`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizeError<'r> {
    /// The credentials may not perform `rule` on the target (Nova's `PolicyNotAuthorized`,
    /// 403).
    Denied {
        /// The rule asked for.
        rule: &'r str,
        /// Which check refused, for logs. Never shown to the client.
        denial: Denial,
    },
    /// `rule` is not a registered rule (oslo's `PolicyNotRegistered`, 500 in Nova): a
    /// programming error, not a client's.
    NotRegistered {
        /// The rule asked for.
        rule: &'r str,
    },
}

/// What made an authorization deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The rule evaluated false.
    Rule,
    /// The token's scope is not one of the rule's `scope_types`.
    Scope,
    /// `rule:` references chained deeper than [`MAX_RULE_DEPTH`]: a rule loop.
    TooDeep,
    /// A check that cannot be evaluated was reached (a remote check, an unsupported
    /// format, a dotted path through a non-dict value).
    Unevaluable,
}

impl AuthorizeError<'_> {
    /// The HTTP status Nova answers with: 403 for a denial, 500 for an unregistered rule.
    pub fn status(&self) -> u16 {
        match self {
            AuthorizeError::Denied { .. } => 403,
            AuthorizeError::NotRegistered { .. } => 500,
        }
    }
}

impl fmt::Display for AuthorizeError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthorizeError::Denied { rule, .. } => {
                write!(f, "Policy doesn't allow {rule} to be performed.")
            }
            AuthorizeError::NotRegistered { rule } => {
                write!(f, "Policy {rule} has not been registered")
            }
        }
    }
}

impl std::error::Error for AuthorizeError<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE: &str = "os_compute_api:servers:create";
    const SHOW: &str = "os_compute_api:servers:show";
    const RESET: &str = "os_compute_api:os-admin-actions:reset_state";

    fn target(project: &str) -> Target<'_> {
        Target::from_pairs(&[("project_id", project)])
    }

    fn creds<'a>(project: &'a str, roles: &[&'a str]) -> Credentials<'a> {
        Credentials::new()
            .with_user_id("u1")
            .with_project_id(project)
            .with_roles(roles.iter().copied())
    }

    fn denial(result: Result<(), AuthorizeError<'_>>) -> Option<Denial> {
        match result {
            Ok(()) => None,
            Err(AuthorizeError::Denied { denial, .. }) => Some(denial),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn enforcer_is_shareable() {
        fn shared<T: Send + Sync>() {}
        shared::<Enforcer>();
    }

    #[test]
    fn registers_every_default_without_warnings() {
        for enforce_new_defaults in [true, false] {
            let enforcer = Enforcer::builder()
                .with_enforce_new_defaults(enforce_new_defaults)
                .build();
            assert_eq!(enforcer.warnings(), &[]);
            assert_eq!(enforcer.names().len(), 214);
            assert!(enforcer.names().all(|name| enforcer.is_registered(name)));
            assert_eq!(enforcer.enforces_new_defaults(), enforce_new_defaults);
        }
        let enforcer = Enforcer::new();
        assert!(enforcer.is_registered("context_is_admin"));
        assert!(enforcer.is_registered(CREATE));
        assert!(!enforcer.is_registered("default"));
        assert_eq!(
            enforcer
                .rule("project_member_or_admin")
                .map(Rule::to_string)
                .as_deref(),
            Some("(rule:project_member_api or rule:context_is_admin)")
        );
    }

    #[test]
    fn base_rule_semantics() {
        let enforcer = Enforcer::new();
        let admin = creds("p1", &["admin", "member", "reader"]);
        let manager = creds("p1", &["manager", "member", "reader"]);
        let member = creds("p1", &["member", "reader"]);
        let reader = creds("p1", &["reader"]);
        let service = creds("svc", &["service"]);
        let nobody = creds("p1", &[]);
        let (own, other) = (target("p1"), target("p2"));
        // (rule, creds, target, allowed)
        let cases: &[(&str, &Credentials<'_>, &Target<'_>, bool)] = &[
            ("context_is_admin", &admin, &own, true),
            ("context_is_admin", &member, &own, false),
            ("project_member_or_admin", &member, &own, true),
            ("project_member_or_admin", &member, &other, false),
            ("project_member_or_admin", &admin, &other, true),
            ("project_member_or_admin", &reader, &own, false),
            ("project_reader_or_admin", &reader, &own, true),
            ("project_reader_or_admin", &reader, &other, false),
            ("project_reader_or_admin", &member, &own, true),
            ("project_manager_or_admin", &manager, &own, true),
            ("project_manager_or_admin", &member, &own, false),
            ("project_manager_or_admin", &manager, &other, false),
            ("service_or_admin", &service, &own, true),
            ("service_or_admin", &member, &own, false),
            ("project_member_api", &admin, &other, false),
            ("admin_api", &admin, &own, false),
            ("admin_or_owner", &nobody, &own, true),
            ("admin_or_owner", &nobody, &other, false),
            (CREATE, &member, &own, true),
            (CREATE, &member, &other, false),
            (CREATE, &reader, &own, false),
            (CREATE, &nobody, &own, false),
            (CREATE, &admin, &other, true),
            (SHOW, &reader, &own, true),
            (SHOW, &reader, &other, false),
            (RESET, &member, &own, false),
            (RESET, &admin, &other, true),
            ("os_compute_api:limits", &nobody, &own, true),
            ("compute:servers:resize:cross_cell", &admin, &own, false),
        ];
        for &(rule, creds, target, allowed) in cases {
            let result = enforcer.authorize(rule, creds, target);
            assert_eq!(result.is_ok(), allowed, "{rule} {creds:?} {target:?}");
            if !allowed {
                assert_eq!(denial(result), Some(Denial::Rule));
            }
            assert_eq!(enforcer.enforce(rule, creds, target), allowed, "{rule}");
        }
        // No project in the target: `%(project_id)s` is a missing key.
        assert!(enforcer.authorize(CREATE, &member, &Target::new()).is_err());
        assert!(enforcer.authorize(CREATE, &admin, &Target::new()).is_ok());
    }

    #[test]
    fn keypairs_use_the_user_id() {
        let enforcer = Enforcer::new();
        let rule = "os_compute_api:os-keypairs:index";
        let member = creds("p1", &["member"]);
        assert!(enforcer
            .authorize(rule, &member, &Target::for_credentials(&member))
            .is_ok());
        let theirs = Target::from_pairs(&[("user_id", "u2")]);
        assert!(enforcer.authorize(rule, &member, &theirs).is_err());
        let admin = creds("p1", &["admin"]);
        assert!(enforcer.authorize(rule, &admin, &theirs).is_ok());
    }

    #[test]
    fn scope_types_refuse_system_and_domain_tokens() {
        let enforcer = Enforcer::new();
        let own = target("p1");
        let system_admin = creds("p1", &["admin"]).with_system_scope("all");
        let domain_admin = creds("p1", &["admin"]).with_domain_id("d1");
        for creds in [&system_admin, &domain_admin] {
            let result = enforcer.authorize(CREATE, creds, &own);
            assert_eq!(denial(result), Some(Denial::Scope));
            assert!(enforcer
                .authorize("os_compute_api:limits", creds, &own)
                .is_err());
            assert!(!enforcer.enforce(CREATE, creds, &own));
            // Base rules have no scope_types.
            assert!(enforcer.authorize("context_is_admin", creds, &own).is_ok());
        }
    }

    #[test]
    fn errors_say_what_nova_says() {
        let enforcer = Enforcer::new();
        let member = creds("p1", &["member"]);
        let denied = enforcer
            .authorize(RESET, &member, &target("p1"))
            .unwrap_err();
        assert_eq!(
            denied.to_string(),
            "Policy doesn't allow os_compute_api:os-admin-actions:reset_state to be performed."
        );
        assert_eq!(denied.status(), 403);
        let missing = enforcer
            .authorize("compute:nope", &member, &target("p1"))
            .unwrap_err();
        assert_eq!(
            missing,
            AuthorizeError::NotRegistered {
                rule: "compute:nope"
            }
        );
        assert_eq!(
            missing.to_string(),
            "Policy compute:nope has not been registered"
        );
        assert_eq!(missing.status(), 500);
    }

    #[test]
    fn deprecated_defaults_are_ored_when_new_defaults_are_not_enforced() {
        let new = Enforcer::new();
        let legacy = Enforcer::builder().with_enforce_new_defaults(false).build();
        let owner = creds("p1", &[]);
        let flagged_admin = Credentials::new().with_project_id("p9").with_is_admin(true);
        let (own, other) = (target("p1"), target("p2"));
        let cases: &[(&str, &Credentials<'_>, &Target<'_>, bool, bool)] = &[
            // rule, creds, target, allowed with new defaults, allowed with legacy ones
            (CREATE, &owner, &own, false, true),
            (CREATE, &owner, &other, false, false),
            (SHOW, &owner, &own, false, true),
            (
                "os_compute_api:os-attach-interfaces:list",
                &owner,
                &own,
                false,
                true,
            ),
            ("context_is_admin", &flagged_admin, &own, false, true),
            (RESET, &flagged_admin, &other, false, true),
            (
                "os_compute_api:limits:other_project",
                &flagged_admin,
                &own,
                false,
                true,
            ),
            (RESET, &owner, &own, false, false),
        ];
        for &(rule, creds, target, with_new, with_legacy) in cases {
            assert_eq!(
                new.authorize(rule, creds, target).is_ok(),
                with_new,
                "{rule} new"
            );
            assert_eq!(
                legacy.authorize(rule, creds, target).is_ok(),
                with_legacy,
                "{rule} legacy"
            );
        }
        assert_eq!(
            legacy
                .rule("os_compute_api:os-attach-interfaces:list")
                .map(Rule::to_string),
            Some("(rule:project_reader_or_admin or rule:admin_or_owner)".to_owned())
        );
        // An overridden rule does not get its deprecated check back.
        let overridden = Enforcer::builder()
            .with_enforce_new_defaults(false)
            .with_overrides([(CREATE, "rule:project_member_api")])
            .build();
        assert_eq!(
            overridden.rule(CREATE).map(Rule::to_string).as_deref(),
            Some("rule:project_member_api")
        );
        // …but the base rule it names still does.
        assert!(overridden.authorize(CREATE, &owner, &own).is_ok());
    }

    #[test]
    fn overrides_replace_and_add() {
        let member = creds("p1", &["member"]);
        let own = target("p1");
        let enforcer = Enforcer::with_overrides([
            (CREATE, "@"),
            (RESET, "rule:ops"),
            ("ops", "role:member"),
            (SHOW, "!"),
            (SHOW, "role:member"),
        ]);
        assert_eq!(enforcer.warnings(), &[]);
        assert!(enforcer.authorize(CREATE, &creds("p2", &[]), &own).is_ok());
        assert!(enforcer.authorize(RESET, &member, &own).is_ok());
        // The last override for a name wins.
        assert!(enforcer.authorize(SHOW, &member, &own).is_ok());
        // An added rule works through `rule:` and enforce(), but is not registered.
        assert!(!enforcer.is_registered("ops"));
        assert!(enforcer.rule("ops").is_some());
        assert!(enforcer.enforce("ops", &member, &own));
        assert_eq!(
            enforcer.authorize("ops", &member, &own),
            Err(AuthorizeError::NotRegistered { rule: "ops" })
        );
        assert_eq!(enforcer.names().len(), 215);
        // Overriding a base rule changes every rule built on it.
        let stricter = Enforcer::with_overrides([(
            "project_member_api",
            "role:member and project_id:%(project_id)s and user_id:%(user_id)s",
        )]);
        assert!(stricter.authorize(CREATE, &member, &own).is_err());
        let own_user = Target::from_pairs(&[("project_id", "p1"), ("user_id", "u1")]);
        assert!(stricter.authorize(CREATE, &member, &own_user).is_ok());
    }

    #[test]
    fn bad_overrides_deny_and_warn() {
        let admin = creds("p1", &["admin"]);
        let own = target("p1");
        let enforcer = Enforcer::with_overrides([
            (CREATE, "role:admin or"),
            (SHOW, "role:admin or http://policy.example/%(project_id)s"),
            (RESET, "not https://policy.example"),
            ("os_compute_api:limits", "rule:nowhere"),
        ]);
        let warnings: Vec<(&str, &Warning)> = enforcer
            .warnings()
            .iter()
            .map(|(name, warning)| (&**name, warning))
            .collect();
        assert_eq!(
            warnings,
            [
                (RESET, &Warning::Remote("https://policy.example".into())),
                (
                    SHOW,
                    &Warning::Remote("http://policy.example/%(project_id)s".into())
                ),
                (CREATE, &Warning::Syntax),
                (
                    "os_compute_api:limits",
                    &Warning::UnknownRule("nowhere".into())
                ),
            ]
        );
        assert_eq!(
            denial(enforcer.authorize(CREATE, &admin, &own)),
            Some(Denial::Rule)
        );
        // Short-circuit: the admin never reaches the remote check.
        assert!(enforcer.authorize(SHOW, &admin, &own).is_ok());
        let member = creds("p1", &["member"]);
        assert_eq!(
            denial(enforcer.authorize(SHOW, &member, &own)),
            Some(Denial::Unevaluable)
        );
        // `not <remote>` still denies.
        assert_eq!(
            denial(enforcer.authorize(RESET, &admin, &own)),
            Some(Denial::Unevaluable)
        );
        assert_eq!(
            denial(enforcer.authorize("os_compute_api:limits", &admin, &own)),
            Some(Denial::Rule)
        );
    }

    #[test]
    fn unknown_rule_names_fall_back_to_the_default_rule() {
        let member = creds("p1", &["member"]);
        let own = target("p1");
        let with_default =
            Enforcer::with_overrides([("default", "role:member"), (CREATE, "rule:nowhere")]);
        assert_eq!(with_default.warnings(), &[]);
        assert!(with_default.authorize(CREATE, &member, &own).is_ok());
        assert!(with_default.enforce("never-defined", &member, &own));
        assert!(!with_default.enforce("never-defined", &creds("p1", &[]), &own));
        // Another default rule name, or none at all.
        let renamed = Enforcer::builder()
            .with_default_rule("fallback")
            .with_overrides([("fallback", "@"), (CREATE, "rule:nowhere")])
            .build();
        assert!(renamed.authorize(CREATE, &creds("p1", &[]), &own).is_ok());
        let without = Enforcer::builder()
            .with_default_rule("")
            .with_overrides([("default", "@"), (CREATE, "rule:nowhere")])
            .build();
        assert!(without.authorize(CREATE, &member, &own).is_err());
        assert!(!without.enforce("never-defined", &member, &own));
        assert!(!Enforcer::new().enforce("never-defined", &member, &own));
    }

    #[test]
    fn extra_defaults_are_registered_and_can_be_overridden() {
        const DOC: &str = "ext:documents:index";
        let member = creds("p1", &["member"]);
        let reader = creds("p1", &["reader"]);
        let own = target("p1");
        let extra = [(DOC, "rule:project_member_or_admin"), (CREATE, "!")];
        let enforcer = Enforcer::builder().with_extra_defaults(extra).build();
        assert!(enforcer.is_registered(DOC));
        assert!(enforcer.authorize(DOC, &member, &own).is_ok());
        assert!(enforcer.authorize(DOC, &reader, &own).is_err());
        assert!(enforcer.authorize(DOC, &member, &target("p2")).is_err());
        // A name Nova registers keeps Nova's default.
        assert!(enforcer.authorize(CREATE, &member, &own).is_ok());
        let overridden = Enforcer::builder()
            .with_extra_defaults(extra)
            .with_overrides([(DOC, "role:reader")])
            .build();
        assert!(overridden.authorize(DOC, &reader, &own).is_ok());
        assert!(overridden.authorize(DOC, &member, &own).is_err());
        assert!(Enforcer::new().authorize(DOC, &member, &own).is_err());
    }

    #[test]
    fn rule_loops_deny_without_overflowing() {
        let admin = creds("p1", &["admin"]);
        let own = target("p1");
        let cases: &[&[(&str, &str)]] = &[
            &[(CREATE, "rule:a"), ("a", "rule:b"), ("b", "rule:a")],
            &[(CREATE, "not rule:a"), ("a", "rule:a")],
            &[(CREATE, "rule:a or @"), ("a", "rule:a")],
            &[(CREATE, "rule:nowhere"), ("default", "rule:elsewhere")],
            &[(CREATE, "rule:a"), ("a", "rule:a and rule:a or rule:a")],
            &[(CREATE, &*format!("rule:{CREATE}"))],
        ];
        for overrides in cases {
            let enforcer = Enforcer::with_overrides(overrides.iter().copied());
            assert_eq!(
                denial(enforcer.authorize(CREATE, &admin, &own)),
                Some(Denial::TooDeep),
                "{overrides:?}"
            );
            assert!(!enforcer.enforce(CREATE, &admin, &own));
        }
    }

    #[test]
    fn long_rule_chains_are_capped() {
        let admin = creds("p1", &["admin"]);
        let own = target("p1");
        let chain = |links: usize| {
            let mut overrides = vec![(CREATE.to_owned(), "rule:r0".to_owned())];
            for i in 0..links {
                overrides.push((format!("r{i}"), format!("rule:r{}", i + 1)));
            }
            overrides.push((format!("r{links}"), "role:admin".to_owned()));
            Enforcer::with_overrides(overrides)
        };
        // CREATE → r0 → … → r(links): links + 1 hops.
        assert!(chain(MAX_RULE_DEPTH - 1)
            .authorize(CREATE, &admin, &own)
            .is_ok());
        assert_eq!(
            denial(chain(MAX_RULE_DEPTH).authorize(CREATE, &admin, &own)),
            Some(Denial::TooDeep)
        );
    }

    // -----------------------------------------------------------------------------------
    // Property-style tests over generated rules.

    /// A tiny xorshift64 generator: deterministic, seeded per test.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())]
        }

        fn chance(&mut self, percent: u64) -> bool {
            self.next() % 100 < percent
        }
    }

    /// Leaf checks that parse without warnings.
    const ATOMS: &[&str] = &[
        "@",
        "!",
        "role:a",
        "role:B",
        "ROLE:a",
        "role:%(r)s",
        "project_id:%(project_id)s",
        "user_id:%(user_id)s",
        "project_id:%(missing)s",
        "is_admin:True",
        "is_admin:False",
        "True:%(flag)s",
        "'x':%(k)s",
        "20:%(n)s",
        "roles:a",
        "rule:nowhere",
        "nocolon",
    ];

    /// Arbitrary token soup, glued to parens at random.
    const SOUP: &[&str] = &[
        "role:a",
        "@",
        "!",
        "and",
        "or",
        "not",
        "AND",
        "Or",
        "NOT",
        "(",
        ")",
        "((",
        "))",
        "'x'",
        "\"y\"",
        "'",
        "http://x",
        "a:%(k)d",
        "%",
        "%(",
        ":",
        "::",
        "x:",
        ":x",
        "1j:x",
        "0x1f:x",
        "rule:default",
        "role:",
        "is_admin:",
        "\u{a0}",
        "\t",
        "é:é",
        "[",
        "{}:{}",
        "-1:%(n)s",
    ];

    fn random_soup(rng: &mut XorShift) -> String {
        let mut text = String::new();
        for _ in 0..rng.below(12) {
            let token = rng.pick(SOUP);
            let quoted = token.starts_with(['\'', '"']);
            if !quoted && rng.chance(20) {
                text.push('(');
            }
            text.push_str(token);
            if !quoted && rng.chance(20) {
                text.push(')');
            }
            text.push_str(if rng.chance(90) { " " } else { "" });
        }
        text
    }

    #[test]
    fn parse_and_evaluate_never_panic_on_soup() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let target = Target::from_pairs(&[("k", "x"), ("n", "-1"), ("project_id", "p1")]);
        let subject = creds("p1", &["a"]);
        for _ in 0..20_000 {
            let text = random_soup(&mut rng);
            let parsed = Rule::parse(&text);
            let _ = parsed.rule.evaluate(&subject, &target);
            // Printing and parsing again gives the same tree.
            let printed = parsed.rule.to_string();
            assert_eq!(
                Rule::parse(&printed).rule,
                parsed.rule,
                "{text:?} → {printed:?}"
            );
        }
        // The same soup as overrides, linked together.
        let overrides: Vec<(String, String)> = (0..200)
            .map(|i| {
                let name = if i % 3 == 0 {
                    CREATE.to_owned()
                } else {
                    format!("r{i}")
                };
                (
                    name,
                    random_soup(&mut rng).replace("rule:default", &format!("rule:r{}", i + 1)),
                )
            })
            .collect();
        let enforcer = Enforcer::with_overrides(overrides);
        let _ = enforcer.authorize(CREATE, &subject, &target);
    }

    /// A well-formed expression.
    enum Expr {
        Atom(&'static str),
        Not(Box<Expr>),
        And(Vec<Expr>),
        Or(Vec<Expr>),
    }

    fn random_expr(rng: &mut XorShift, depth: usize) -> Expr {
        if depth == 0 || rng.chance(30) {
            return Expr::Atom(rng.pick(ATOMS));
        }
        match rng.below(3) {
            0 => Expr::Not(Box::new(random_expr(rng, depth - 1))),
            kind => {
                let operands = (0..2 + rng.below(3)).map(|_| random_expr(rng, depth - 1));
                if kind == 1 {
                    Expr::And(operands.collect())
                } else {
                    Expr::Or(operands.collect())
                }
            }
        }
    }

    /// Prints `expr` with as few parentheses as the usual precedence needs (plus some
    /// redundant ones, and operators in random case).
    fn print(expr: &Expr, rng: &mut XorShift, needed: u8) -> String {
        let (own, text) = match expr {
            Expr::Atom(atom) => (4, (*atom).to_owned()),
            Expr::Not(inner) => {
                let not = rng.pick(&["not", "NOT", "Not"]);
                (3, format!("{not} {}", print(inner, rng, 3)))
            }
            Expr::And(operands) => {
                let parts: Vec<String> = operands.iter().map(|e| print(e, rng, 3)).collect();
                (2, parts.join(&format!(" {} ", rng.pick(&["and", "AND"]))))
            }
            Expr::Or(operands) => {
                let parts: Vec<String> = operands.iter().map(|e| print(e, rng, 2)).collect();
                (1, parts.join(&format!(" {} ", rng.pick(&["or", "OR"]))))
            }
        };
        if own < needed || rng.chance(10) {
            if rng.chance(50) {
                format!("({text})")
            } else {
                format!("( {text} )")
            }
        } else {
            text
        }
    }

    /// What `expr` means under the usual precedence, from its atoms' values.
    fn reference(expr: &Expr, creds: &Credentials<'_>, target: &Target<'_>) -> bool {
        match expr {
            Expr::Atom(atom) => Rule::parse(atom).rule.evaluate(creds, target),
            Expr::Not(inner) => !reference(inner, creds, target),
            Expr::And(operands) => operands.iter().all(|e| reference(e, creds, target)),
            Expr::Or(operands) => operands.iter().any(|e| reference(e, creds, target)),
        }
    }

    fn random_world(rng: &mut XorShift) -> (Credentials<'static>, Target<'static>) {
        let roles: Vec<&'static str> = ["a", "b", "c"]
            .into_iter()
            .filter(|_| rng.chance(50))
            .collect();
        let creds = Credentials::new()
            .with_project_id(rng.pick(&["p1", "p2"]))
            .with_user_id(rng.pick(&["u1", "u2"]))
            .with_is_admin(rng.chance(30))
            .with_roles(roles);
        let mut target = Target::new();
        for (key, values) in [
            ("project_id", &["p1", "p2"][..]),
            ("user_id", &["u1", "u2"]),
            ("r", &["A", "b", "z"]),
            ("flag", &["True", "False"]),
            ("k", &["x", "y"]),
            ("n", &["20", "21"]),
        ] {
            if rng.chance(85) {
                target.insert(key, rng.pick(values));
            }
        }
        (creds, target)
    }

    #[test]
    fn generated_rules_follow_the_usual_precedence() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for _ in 0..3_000 {
            let expr = random_expr(&mut rng, 4);
            let text = print(&expr, &mut rng, 0);
            let parsed = Rule::parse(&text);
            assert!(
                parsed
                    .warnings
                    .iter()
                    .all(|w| matches!(w, Warning::NoColon(_))),
                "{text:?}: {:?}",
                parsed.warnings
            );
            let printed = parsed.rule.to_string();
            assert_eq!(Rule::parse(&printed).rule, parsed.rule, "{text:?}");
            for _ in 0..4 {
                let (creds, target) = random_world(&mut rng);
                let expected = reference(&expr, &creds, &target);
                assert_eq!(parsed.rule.evaluate(&creds, &target), expected, "{text:?}");
            }
        }
    }

    /// A law's name, the rule stating it, and the value it must have given X's and Y's.
    type Law = (&'static str, Rule, fn(bool, bool) -> bool);

    #[test]
    fn generated_rules_obey_boolean_laws() {
        let mut rng = XorShift(0xd1b5_4a32_d192_ed03);
        let compile = |text: String| {
            let parsed = Rule::parse(&text);
            assert!(!parsed.warnings.contains(&Warning::Syntax), "{text:?}");
            parsed.rule
        };
        for _ in 0..1_000 {
            let x = print(&random_expr(&mut rng, 3), &mut rng, 4);
            let y = print(&random_expr(&mut rng, 3), &mut rng, 4);
            let (rule_x, rule_y) = (compile(x.clone()), compile(y.clone()));
            // (law, rule, how it must relate to X's and Y's values)
            let laws: [Law; 8] = [
                ("not not X", compile(format!("not not {x}")), |x, _| x),
                ("(X)", compile(format!("({x})")), |x, _| x),
                ("X or not X", compile(format!("{x} or not {x}")), |_, _| {
                    true
                }),
                (
                    "X and not X",
                    compile(format!("{x} and not {x}")),
                    |_, _| false,
                ),
                (
                    "not (X or Y)",
                    compile(format!("not ({x} or {y})")),
                    |x, y| !(x || y),
                ),
                (
                    "not X and not Y",
                    compile(format!("not {x} and not {y}")),
                    |x, y| !x && !y,
                ),
                (
                    "X or Y and !",
                    compile(format!("{x} or {y} and !")),
                    |x, _| x,
                ),
                (
                    "Y and X or X",
                    compile(format!("{y} and {x} or {x}")),
                    |x, _| x,
                ),
            ];
            for _ in 0..4 {
                let (creds, target) = random_world(&mut rng);
                let (vx, vy) = (
                    rule_x.evaluate(&creds, &target),
                    rule_y.evaluate(&creds, &target),
                );
                for (law, rule, expected) in &laws {
                    assert_eq!(
                        rule.evaluate(&creds, &target),
                        expected(vx, vy),
                        "{law} with X = {x:?}, Y = {y:?}"
                    );
                }
            }
        }
    }
}
