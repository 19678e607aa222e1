//! Who is asking: the policy view of a request's token (oslo's `creds` dict).
//!
//! [`Credentials`] borrows everything from the request context except roles whose
//! spelling has capitals, which are lower-cased once here so that every `role:` check
//! after that is a plain comparison. Building one allocates nothing for up to
//! [`INLINE_ROLES`] roles that are already lower-case.
//!
//! It must never copy role names that are already lower case, and never treat an empty scope
//! field as set.

use std::{borrow::Cow, fmt};

use smallvec::SmallVec;

/// Roles kept inline before [`Credentials`] spills them to the heap. Keystone tokens for
/// Nova usually carry `reader`, `member` and sometimes `admin` or `manager`.
pub const INLINE_ROLES: usize = 4;

/// The credentials a rule is checked against: oslo's `RequestContext.to_policy_values()`
/// plus Nova's `is_admin`.
///
/// A generic check `kind:match` reads the field named by `kind`: `user_id`, `project_id`,
/// `domain_id`, `user_domain_id`, `project_domain_id`, `system_scope` (also as `system`),
/// `is_admin` and `roles`. Any other name, and dotted paths (`a.b.c`), are looked up in
/// [`extra`](Credentials::extra). An absent `Option` field reads as Python's `None` (its
/// `str()` is `None`), as in oslo, where these keys are always present.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Credentials<'a> {
    /// The user's id.
    pub user_id: Option<&'a str>,
    /// The project the token is scoped to.
    pub project_id: Option<&'a str>,
    /// Nova's `is_admin`: what Nova's `is_admin:True` check reads.
    pub is_admin: bool,
    /// `all` for a system-scoped token.
    pub system_scope: Option<&'a str>,
    /// The domain a domain-scoped token is scoped to.
    pub domain_id: Option<&'a str>,
    /// The user's domain.
    pub user_domain_id: Option<&'a str>,
    /// The project's domain.
    pub project_domain_id: Option<&'a str>,
    /// Further credential values, for generic checks on other names.
    pub extra: &'a [(&'a str, Value<'a>)],
    /// Lower-cased at construction, for `role:` checks.
    roles: SmallVec<[Cow<'a, str>; INLINE_ROLES]>,
    /// As given, for generic `roles:` checks (which oslo compares case-sensitively).
    raw_roles: SmallVec<[&'a str; INLINE_ROLES]>,
}

/// A token's scope, as oslo derives it from the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Scoped to a project (neither of the others).
    Project,
    /// Scoped to a domain (`domain_id` set).
    Domain,
    /// Scoped to the system (`system_scope` set).
    System,
}

/// A value in [`Credentials::extra`], shaped like the Python values oslo compares with
/// `str()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(&'a str),
    /// A list: a path that reaches it matches when any element matches.
    List(&'a [Value<'a>]),
    /// A dict: the next segment of a dotted path indexes it.
    Map(&'a [(&'a str, Value<'a>)]),
}

impl<'a> Credentials<'a> {
    /// Credentials with no ids, no roles, not admin. Same as `Default`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the user id.
    pub fn with_user_id(mut self, user_id: &'a str) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// Sets the project id.
    pub fn with_project_id(mut self, project_id: &'a str) -> Self {
        self.project_id = Some(project_id);
        self
    }

    /// Sets Nova's `is_admin`.
    pub fn with_is_admin(mut self, is_admin: bool) -> Self {
        self.is_admin = is_admin;
        self
    }

    /// Sets the system scope (`all`), making this a system-scoped token.
    pub fn with_system_scope(mut self, system_scope: &'a str) -> Self {
        self.system_scope = Some(system_scope);
        self
    }

    /// Sets the domain id, making this a domain-scoped token.
    pub fn with_domain_id(mut self, domain_id: &'a str) -> Self {
        self.domain_id = Some(domain_id);
        self
    }

    /// Sets the user's domain id.
    pub fn with_user_domain_id(mut self, user_domain_id: &'a str) -> Self {
        self.user_domain_id = Some(user_domain_id);
        self
    }

    /// Sets the project's domain id.
    pub fn with_project_domain_id(mut self, project_domain_id: &'a str) -> Self {
        self.project_domain_id = Some(project_domain_id);
        self
    }

    /// Sets the extra values.
    pub fn with_extra(mut self, extra: &'a [(&'a str, Value<'a>)]) -> Self {
        self.extra = extra;
        self
    }

    /// Adds roles, lower-casing them. Only a role with upper-case letters is copied.
    pub fn with_roles<I>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = &'a str>,
    {
        for role in roles {
            let lowered = if role.chars().all(is_own_lowercase) {
                Cow::Borrowed(role)
            } else {
                Cow::Owned(role.to_lowercase())
            };
            self.roles.push(lowered);
            self.raw_roles.push(role);
        }
        self
    }

    /// The roles, lower-cased.
    pub fn roles(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.roles.iter().map(|role| &**role)
    }

    /// Whether the token has `role` (compared case-insensitively).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles
            .iter()
            .any(|own| own.chars().eq(role.chars().flat_map(char::to_lowercase)))
    }

    /// The token's scope: system if `system_scope` is set, else domain if `domain_id` is,
    /// else project. Empty strings count as unset, as Python's truthiness has it.
    pub fn scope(&self) -> Scope {
        if self.system_scope.is_some_and(|s| !s.is_empty()) {
            Scope::System
        } else if self.domain_id.is_some_and(|d| !d.is_empty()) {
            Scope::Domain
        } else {
            Scope::Project
        }
    }

    /// The credential called `name`, for a generic check. `None` when there is none.
    pub(crate) fn field(&self, name: &str) -> Option<Field<'_, 'a>> {
        let text = |value: Option<&'a str>| Field::Value(value.map_or(Value::None, Value::Str));
        Some(match name {
            "user_id" => text(self.user_id),
            "project_id" => text(self.project_id),
            "system_scope" | "system" => text(self.system_scope),
            "domain_id" => text(self.domain_id),
            "user_domain_id" => text(self.user_domain_id),
            "project_domain_id" => text(self.project_domain_id),
            "is_admin" => Field::Value(Value::Bool(self.is_admin)),
            "roles" => Field::Roles(&self.raw_roles),
            _ => Field::Value(lookup(self.extra, name)?),
        })
    }
}

/// A credential found by name: a value, or the (lower-cased) role list.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field<'c, 'a> {
    Value(Value<'a>),
    Roles(&'c [&'a str]),
}

/// The value under `key` in a dict-like slice.
pub(crate) fn lookup<'a>(entries: &[(&'a str, Value<'a>)], key: &str) -> Option<Value<'a>> {
    entries.iter().find(|(k, _)| *k == key).map(|&(_, v)| v)
}

/// True when `c` is its own lower-case form.
fn is_own_lowercase(c: char) -> bool {
    let mut lower = c.to_lowercase();
    lower.next() == Some(c) && lower.next().is_none()
}

/// Python's `str()` of the value: `None`, `True`, `42`, `text`, `['a', 1]`, `{'k': 'v'}`.
impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Str(s) => f.write_str(s),
            other => write_repr(f, other),
        }
    }
}

/// Python's `repr()` of the value (strings quoted), as used inside lists and dicts.
fn write_repr(f: &mut fmt::Formatter<'_>, value: Value<'_>) -> fmt::Result {
    match value {
        Value::None => f.write_str("None"),
        Value::Bool(true) => f.write_str("True"),
        Value::Bool(false) => f.write_str("False"),
        Value::Int(n) => write!(f, "{n}"),
        Value::Str(s) => write_str_repr(f, s),
        Value::List(items) => {
            f.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_repr(f, *item)?;
            }
            f.write_str("]")
        }
        Value::Map(entries) => {
            f.write_str("{")?;
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_str_repr(f, key)?;
                f.write_str(": ")?;
                write_repr(f, *item)?;
            }
            f.write_str("}")
        }
    }
}

/// Python's `repr()` of a string: single quotes unless the text has `'` and no `"`;
/// backslash escapes for the quote, `\`, `\t`, `\n`, `\r` and unprintable characters.
/// Unicode printability is approximated: control and non-space whitespace characters are
/// escaped, every other character is printed.
fn write_str_repr(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    use fmt::Write as _;
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    f.write_char(quote)?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\t' => f.write_str("\\t")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            c if c == quote => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            ' ' => f.write_char(' ')?,
            c if c.is_control() || c.is_whitespace() => {
                let code = u32::from(c);
                if code <= 0xff {
                    write!(f, "\\x{code:02x}")?;
                } else if code <= 0xffff {
                    write!(f, "\\u{code:04x}")?;
                } else {
                    write!(f, "\\U{code:08x}")?;
                }
            }
            c => f.write_char(c)?,
        }
    }
    f.write_char(quote)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_lowercased_and_borrowed_when_possible() {
        let creds = Credentials::new().with_roles(["Admin", "member", "RÉADER"]);
        assert_eq!(
            creds.roles().collect::<Vec<_>>(),
            ["admin", "member", "réader"]
        );
        assert!(matches!(creds.roles[0], Cow::Owned(_)));
        assert!(matches!(creds.roles[1], Cow::Borrowed(_)));
        assert!(creds.has_role("ADMIN"));
        assert!(creds.has_role("Réader"));
        assert!(!creds.has_role("manager"));
    }

    #[test]
    fn scope_follows_oslo() {
        let cases = [
            (Credentials::new().with_project_id("p"), Scope::Project),
            (Credentials::new().with_system_scope("all"), Scope::System),
            (Credentials::new().with_system_scope(""), Scope::Project),
            (Credentials::new().with_domain_id("d"), Scope::Domain),
            (
                Credentials::new()
                    .with_domain_id("d")
                    .with_system_scope("all"),
                Scope::System,
            ),
        ];
        for (creds, scope) in cases {
            assert_eq!(creds.scope(), scope, "{creds:?}");
        }
    }

    #[test]
    fn value_str_is_python_str() {
        let list = [
            Value::Str("a"),
            Value::Int(-1),
            Value::None,
            Value::Bool(true),
        ];
        let map = [("k", Value::Str("it's")), ("n", Value::List(&[]))];
        let cases: &[(Value<'_>, &str)] = &[
            (Value::None, "None"),
            (Value::Bool(true), "True"),
            (Value::Bool(false), "False"),
            (Value::Int(42), "42"),
            (Value::Int(-7), "-7"),
            (Value::Str("it's"), "it's"),
            (Value::List(&list), "['a', -1, None, True]"),
            (Value::Map(&map), "{'k': \"it's\", 'n': []}"),
            (
                Value::List(&[Value::Str("a\\b\n\u{7}\u{a0}é")]),
                "['a\\\\b\\n\\x07\\xa0é']",
            ),
            (Value::List(&[Value::Str("'\"")]), "['\\'\"']"),
        ];
        for (value, expected) in cases {
            assert_eq!(value.to_string(), *expected);
        }
    }

    #[test]
    fn fields_by_name() {
        let extra = [("is_admin_project", Value::Bool(true))];
        let creds = Credentials::new()
            .with_user_id("u")
            .with_system_scope("all")
            .with_extra(&extra);
        let value = |name: &str| match creds.field(name) {
            Some(Field::Value(value)) => Some(value.to_string()),
            Some(Field::Roles(_)) => Some("<roles>".to_owned()),
            None => None,
        };
        assert_eq!(value("user_id").as_deref(), Some("u"));
        assert_eq!(value("project_id").as_deref(), Some("None"));
        assert_eq!(value("system").as_deref(), Some("all"));
        assert_eq!(value("is_admin").as_deref(), Some("False"));
        assert_eq!(value("roles").as_deref(), Some("<roles>"));
        assert_eq!(value("is_admin_project").as_deref(), Some("True"));
        assert_eq!(value("missing"), None);
    }
}
