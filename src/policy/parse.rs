//! The oslo.policy rule language: tokenizer, shift-reduce parser and leaf-check compiler.
//!
//! It follows oslo.policy's `_parser.py` step for step, quirks included, so a rule means
//! here what it means to Nova:
//!
//! * **Tokens.** The text is split on runs of (Python) whitespace. Leading `(`s and
//!   trailing `)`s of each piece become paren tokens; `and`, `or`, `not` in any case are
//!   operators; a piece that starts and ends with the same quote (`'x'`, `"x"`) is a string
//!   token, which no reduction accepts, so any rule holding one fails; anything else is a
//!   check. The quote test looks at the piece before its trailing `)`s are removed, as
//!   oslo's does.
//! * **Reductions**, tried after every shifted token, greedily: `( check|and_expr|or_expr )`
//!   → check; `check and check` → and_expr; `or_expr and check` → the or's last operand X
//!   becomes `X and check` (extended in place when X is already an and); `and_expr and
//!   check` → extend; `check|and_expr or check` → or_expr; `or_expr or check` → extend;
//!   `not check` → check. The result is the usual precedence `()` > `not` > `and` > `or`.
//! * **Failure closes.** Unless the tokens reduce to exactly one check or expression, the
//!   whole rule is `!` (oslo returns `FalseCheck`, or for a lone operator, paren or string
//!   token, a value that raises at enforcement). The empty string is `@`; a rule of only
//!   whitespace has no tokens and so is `!`, as in oslo.
//! * **Leaf checks** (`_parse_check`): `!`, `@`, else split at the first `:` (no colon:
//!   `!`). Kinds: `http`/`https` (remote checks; not supported here), `rule`, `role`,
//!   Nova's `is_admin`, else the generic check, whose kind is a Python literal or a dotted
//!   credential path.
//!
//! Parsing allocates freely: it runs at start-up. Nothing in it panics on any input; the
//! parser keeps an explicit stack, and the tree it builds is at most
//! [`MAX_NESTING`](super::MAX_NESTING) deep.

use std::fmt;

use super::rule::{Check, Node, Piece, Rule, Template, Test, MAX_NESTING};

/// The result of [`Rule::parse`]: the compiled rule and anything worth telling the
/// operator about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The compiled rule. When the text could not be parsed this is `!` (deny).
    pub rule: Rule,
    /// Problems found, in the order met. Empty for every one of Nova's defaults.
    pub warnings: Vec<Warning>,
}

/// Something in a rule's text that makes (part of) it deny.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The tokens do not form one expression (`role:a and`, `(role:a`, `or`, `role:a
    /// role:b`, a quoted string, only whitespace). The whole rule denies.
    Syntax,
    /// The rule nests `not`/`and`/`or` deeper than [`MAX_NESTING`](super::MAX_NESTING).
    /// The whole rule denies.
    TooDeep,
    /// A check with no `:` (oslo reads it as `!`).
    NoColon(Box<str>),
    /// An `http:`/`https:` remote check. Remote checks are not supported; the check
    /// denies the whole authorization when it is reached.
    Remote(Box<str>),
    /// A `%` in the match other than `%(key)s` or `%%`. The check denies the whole
    /// authorization when it is reached.
    Format(Box<str>),
    /// A kind that reads as a Python literal this engine does not evaluate (a complex or
    /// malformed number, an escaped or prefixed string, a container). The check denies
    /// the whole authorization when it is reached.
    Literal(Box<str>),
    /// A `rule:` check names a rule that does not exist, and there is no default rule to
    /// fall back on, so the check is false. Reported by the enforcer, not by the parser.
    UnknownRule(Box<str>),
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Syntax => f.write_str("rule does not parse; it denies everything"),
            Warning::TooDeep => write!(
                f,
                "rule nests deeper than {MAX_NESTING} levels; it denies everything"
            ),
            Warning::NoColon(check) => write!(f, "check {check:?} has no ':'; it is false"),
            Warning::Remote(check) => {
                write!(f, "remote check {check:?} is not supported; it denies")
            }
            Warning::Format(check) => write!(
                f,
                "check {check:?} uses a '%' format other than %(key)s; it denies"
            ),
            Warning::Literal(check) => {
                write!(
                    f,
                    "check {check:?} has a kind that is not understood; it denies"
                )
            }
            Warning::UnknownRule(name) => {
                write!(
                    f,
                    "rule:{name} names no rule and there is no default; it is false"
                )
            }
        }
    }
}

impl Rule {
    /// Compiles one rule written in the oslo.policy language. Never fails: what cannot be
    /// parsed denies, and [`Parsed::warnings`] says why.
    ///
    /// ```
    /// use ringnova::policy::{Rule, Warning};
    ///
    /// let parsed = Rule::parse("role:admin or (role:member and project_id:%(project_id)s)");
    /// assert!(parsed.warnings.is_empty());
    /// assert_eq!(
    ///     parsed.rule.to_string(),
    ///     "(role:admin or (role:member and project_id:%(project_id)s))"
    /// );
    ///
    /// let broken = Rule::parse("role:admin and");
    /// assert!(broken.rule.is_always_false());
    /// assert_eq!(broken.warnings, [Warning::Syntax]);
    /// ```
    pub fn parse(text: &str) -> Parsed {
        let mut warnings = Vec::new();
        let root = parse_text(text, &mut warnings);
        Parsed {
            rule: Rule { root },
            warnings,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tokenizer

/// One token of the rule language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token<'s> {
    Open,
    Close,
    And,
    Or,
    Not,
    /// A quoted string (quotes removed). No reduction accepts it.
    Str(&'s str),
    /// A check's text, e.g. `role:admin`.
    Check(&'s str),
}

/// Python's `\s` for `str` patterns: `str.isspace()`, which is Unicode `White_Space` plus
/// the four information separators U+001C..U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Splits a rule into tokens (`_parse_tokenize`).
pub(crate) fn tokenize(text: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    for piece in text
        .split(is_python_space)
        .filter(|piece| !piece.is_empty())
    {
        let after_open = piece.trim_start_matches('(');
        // `(` is one byte, so the byte difference is the count.
        tokens.extend((0..piece.len() - after_open.len()).map(|_| Token::Open));
        if after_open.is_empty() {
            continue;
        }
        let clean = after_open.trim_end_matches(')');
        let trail = after_open.len() - clean.len();
        if clean.eq_ignore_ascii_case("and") {
            tokens.push(Token::And);
        } else if clean.eq_ignore_ascii_case("or") {
            tokens.push(Token::Or);
        } else if clean.eq_ignore_ascii_case("not") {
            tokens.push(Token::Not);
        } else if !clean.is_empty() {
            // Oslo tests the quotes on the piece *with* its trailing parens, so `'x')` is
            // a check, not a string. Quotes are one byte, so byte indexing is safe here.
            let bytes = after_open.as_bytes();
            let quoted = bytes.len() >= 2
                && matches!(bytes[0], b'\'' | b'"')
                && bytes[bytes.len() - 1] == bytes[0];
            if quoted {
                tokens.push(Token::Str(&after_open[1..after_open.len() - 1]));
            } else {
                tokens.push(Token::Check(clean));
            }
        }
        tokens.extend((0..trail).map(|_| Token::Close));
    }
    tokens
}

// ---------------------------------------------------------------------------------------
// Shift-reduce parser

/// A parse-stack entry: a token, or a reduced expression with its nesting depth.
#[derive(Debug)]
enum Item {
    Open,
    Close,
    And,
    Or,
    Not,
    Str,
    /// A single check (a leaf, a `not`, or a parenthesised group) and its depth.
    Check(Node, usize),
    /// An unfinished `and` chain and the depth of its deepest operand.
    AndExpr(Vec<Node>, usize),
    /// An unfinished `or` chain, each operand with its depth.
    OrExpr(Vec<(Node, usize)>),
}

/// The nesting was about to exceed [`MAX_NESTING`].
struct TooDeep;

fn parse_text(text: &str, warnings: &mut Vec<Warning>) -> Node {
    if text.is_empty() {
        return Node::True;
    }
    let mut stack: Vec<Item> = Vec::new();
    for token in tokenize(text) {
        let item = match token {
            Token::Open => Item::Open,
            Token::Close => Item::Close,
            Token::And => Item::And,
            Token::Or => Item::Or,
            Token::Not => Item::Not,
            Token::Str(_) => Item::Str,
            Token::Check(check) => Item::Check(parse_check(check, warnings), 1),
        };
        stack.push(item);
        if reduce(&mut stack).is_err() {
            warnings.push(Warning::TooDeep);
            return Node::False;
        }
    }
    let result = match stack.pop() {
        Some(item) if stack.is_empty() => into_node(item),
        _ => None,
    };
    result.unwrap_or_else(|| {
        warnings.push(Warning::Syntax);
        Node::False
    })
}

/// The depth an and-chain gets once closed, given its deepest operand.
fn closed(depth: usize) -> Result<usize, TooDeep> {
    if depth >= MAX_NESTING {
        Err(TooDeep)
    } else {
        Ok(depth + 1)
    }
}

/// Turns a finished expression into a node; tokens are not expressions.
fn into_node(item: Item) -> Option<Node> {
    match item {
        Item::Check(node, _) => Some(node),
        Item::AndExpr(nodes, _) => Some(Node::And(nodes)),
        Item::OrExpr(nodes) => Some(Node::Or(nodes.into_iter().map(|(n, _)| n).collect())),
        _ => None,
    }
}

/// Applies reductions to the top of the stack until none matches (`ParseState.reduce`).
fn reduce(stack: &mut Vec<Item>) -> Result<(), TooDeep> {
    while reduce_once(stack)? {}
    Ok(())
}

/// Applies the one reduction matching the top of the stack, if any. At most one pattern
/// can match a given stack top, so the order of the arms does not matter.
fn reduce_once(stack: &mut Vec<Item>) -> Result<bool, TooDeep> {
    let n = stack.len();
    // `( X )`
    if n >= 3
        && matches!(stack[n - 3], Item::Open)
        && matches!(stack[n - 1], Item::Close)
        && matches!(
            stack[n - 2],
            Item::Check(..) | Item::AndExpr(..) | Item::OrExpr(..)
        )
    {
        stack.pop();
        let inner = stack.pop();
        stack.pop();
        let item = match inner {
            Some(Item::Check(node, depth)) => Item::Check(node, depth),
            Some(Item::AndExpr(nodes, depth)) => Item::Check(Node::And(nodes), closed(depth)?),
            Some(Item::OrExpr(nodes)) => {
                let depth = closed(nodes.iter().map(|&(_, d)| d).max().unwrap_or(0))?;
                Item::Check(Node::Or(nodes.into_iter().map(|(n, _)| n).collect()), depth)
            }
            _ => return Ok(false),
        };
        stack.push(item);
        return Ok(true);
    }
    // `not check`
    if n >= 2 && matches!(stack[n - 2], Item::Not) && matches!(stack[n - 1], Item::Check(..)) {
        let Some(Item::Check(node, depth)) = stack.pop() else {
            return Ok(false);
        };
        stack.pop();
        stack.push(Item::Check(Node::Not(Box::new(node)), closed(depth)?));
        return Ok(true);
    }
    // `X and check` / `X or check`
    if n >= 3
        && matches!(stack[n - 1], Item::Check(..))
        && matches!(stack[n - 2], Item::And | Item::Or)
        && matches!(
            stack[n - 3],
            Item::Check(..) | Item::AndExpr(..) | Item::OrExpr(..)
        )
    {
        let Some(Item::Check(right, right_depth)) = stack.pop() else {
            return Ok(false);
        };
        let is_and = matches!(stack.pop(), Some(Item::And));
        let Some(left) = stack.pop() else {
            return Ok(false);
        };
        let item = if is_and {
            and_reduce(left, right, right_depth)?
        } else {
            or_reduce(left, right, right_depth)?
        };
        stack.push(item);
        return Ok(true);
    }
    Ok(false)
}

/// `check and check`, `and_expr and check`, `or_expr and check`.
fn and_reduce(left: Item, right: Node, right_depth: usize) -> Result<Item, TooDeep> {
    Ok(match left {
        Item::Check(node, depth) => {
            let deepest = depth.max(right_depth);
            closed(deepest)?;
            Item::AndExpr(vec![node, right], deepest)
        }
        Item::AndExpr(mut nodes, depth) => {
            let deepest = depth.max(right_depth);
            closed(deepest)?;
            nodes.push(right);
            Item::AndExpr(nodes, deepest)
        }
        // Oslo's `_mix_or_and_expr`: `A or B and C` takes B back out of the or and
        // replaces it with `B and C`; when B is already an and (a parenthesised one, or
        // one built by an earlier step), C joins it.
        Item::OrExpr(mut nodes) => {
            let (last, last_depth) = nodes.pop().unwrap_or((Node::True, 1));
            let joined = match last {
                Node::And(mut operands) => {
                    let depth = last_depth.max(closed(right_depth)?);
                    operands.push(right);
                    (Node::And(operands), depth)
                }
                other => (
                    Node::And(vec![other, right]),
                    closed(last_depth.max(right_depth))?,
                ),
            };
            closed(joined.1)?;
            nodes.push(joined);
            Item::OrExpr(nodes)
        }
        other => other,
    })
}

/// `check or check`, `and_expr or check`, `or_expr or check`.
fn or_reduce(left: Item, right: Node, right_depth: usize) -> Result<Item, TooDeep> {
    closed(right_depth)?;
    Ok(match left {
        Item::Check(node, depth) => {
            closed(depth)?;
            Item::OrExpr(vec![(node, depth), (right, right_depth)])
        }
        Item::AndExpr(nodes, depth) => {
            let depth = closed(depth)?;
            closed(depth)?;
            Item::OrExpr(vec![(Node::And(nodes), depth), (right, right_depth)])
        }
        Item::OrExpr(mut nodes) => {
            nodes.push((right, right_depth));
            Item::OrExpr(nodes)
        }
        other => other,
    })
}

// ---------------------------------------------------------------------------------------
// Leaf checks

/// Compiles one check token (`_parse_check`).
fn parse_check(text: &str, warnings: &mut Vec<Warning>) -> Node {
    match text {
        "!" => return Node::False,
        "@" => return Node::True,
        _ => {}
    }
    let Some((kind, matched)) = text.split_once(':') else {
        warnings.push(Warning::NoColon(text.into()));
        return Node::False;
    };
    let test = match kind {
        "http" | "https" => {
            warnings.push(Warning::Remote(text.into()));
            Test::Remote(parse_template(matched))
        }
        "rule" => Test::Rule {
            name: matched.into(),
            slot: None,
        },
        "role" => {
            let template = parse_template(matched);
            if !template.is_valid() {
                warnings.push(Warning::Format(text.into()));
            }
            Test::Role(lowercase_text(template))
        }
        "is_admin" => Test::IsAdmin(matched.to_lowercase() == "true"),
        _ => generic(kind, matched, text, warnings),
    };
    Node::Check(Check {
        text: text.into(),
        test,
    })
}

/// The generic `kind:match` check: a literal kind or a credential path.
fn generic(kind: &str, matched: &str, text: &str, warnings: &mut Vec<Warning>) -> Test {
    let template = parse_template(matched);
    if !template.is_valid() {
        warnings.push(Warning::Format(text.into()));
    }
    match classify_kind(kind) {
        Kind::Literal(value) => Test::Literal {
            value: value.into(),
            template,
        },
        Kind::Path => Test::Creds {
            path: kind.split('.').map(Box::from).collect(),
            template,
        },
        Kind::Unknown => {
            warnings.push(Warning::Literal(text.into()));
            Test::Raises(template)
        }
    }
}

/// Splits a match string into text and `%(key)s` pieces, as Python's `match % target`
/// reads it, left to right. `%%` is a literal `%`. Any other use of `%` (`%s`, `%(k)d`,
/// `%(k)-5s`, `%(k`, a `%` at the end) ends the template with [`Piece::Invalid`]: Python
/// raises there (or, for the rare forms it accepts, such as `%(k)r` or a width, formats
/// something this engine does not reproduce), after looking up any key before it.
pub(crate) fn parse_template(text: &str) -> Template {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    let flush = |literal: &mut String, pieces: &mut Vec<Piece>| {
        if !literal.is_empty() {
            pieces.push(Piece::Text(std::mem::take(literal).into()));
        }
    };
    while let Some(at) = rest.find('%') {
        literal.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('%') {
            literal.push('%');
            rest = after;
            continue;
        }
        flush(&mut literal, &mut pieces);
        let Some(after_open) = rest.strip_prefix('(') else {
            pieces.push(Piece::Invalid);
            return Template {
                pieces: pieces.into(),
            };
        };
        // Python counts nested parentheses inside the key.
        let mut depth = 1usize;
        let mut end = None;
        for (i, c) in after_open.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else {
            pieces.push(Piece::Invalid);
            return Template {
                pieces: pieces.into(),
            };
        };
        pieces.push(Piece::Key(after_open[..end].into()));
        match after_open[end + 1..].strip_prefix('s') {
            Some(after) => rest = after,
            None => {
                pieces.push(Piece::Invalid);
                return Template {
                    pieces: pieces.into(),
                };
            }
        }
    }
    literal.push_str(rest);
    flush(&mut literal, &mut pieces);
    Template {
        pieces: pieces.into(),
    }
}

/// Lower-cases a role template's literal text (its keys' values are lower-cased when
/// compared), so that `role:Admin` compares as `admin`.
fn lowercase_text(template: Template) -> Template {
    let pieces = template
        .pieces
        .into_vec()
        .into_iter()
        .map(|piece| match piece {
            Piece::Text(text) => Piece::Text(text.to_lowercase().into()),
            key => key,
        })
        .collect();
    Template { pieces }
}

/// How a generic check's kind is read (`ast.literal_eval(kind)`, else a dotted path).
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// A literal, with Python's `str()` of its value.
    Literal(String),
    /// Not a literal: a dotted path into the credentials.
    Path,
    /// Looks like a literal (or a syntax error) that this engine does not evaluate.
    Unknown,
}

fn classify_kind(kind: &str) -> Kind {
    match kind {
        "True" | "False" | "None" => return Kind::Literal(kind.to_owned()),
        "" => return Kind::Unknown,
        _ => {}
    }
    let bytes = kind.as_bytes();
    if kind.contains(['\'', '"']) {
        return quoted(kind).map_or(Kind::Unknown, |s| Kind::Literal(s.to_owned()));
    }
    if matches!(bytes[0], b'[' | b'{') {
        return Kind::Unknown;
    }
    let (negative, body) = match bytes[0] {
        b'-' => (true, &kind[1..]),
        b'+' => (false, &kind[1..]),
        _ => (false, kind),
    };
    let starts_number = matches!(body.as_bytes(), [b'0'..=b'9', ..] | [b'.', b'0'..=b'9', ..]);
    if !starts_number {
        // A name, an attribute chain, `-x`, `--1`: `literal_eval` raises ValueError
        // and oslo reads the kind as a credential path. Anything else (`)`, `a.`,
        // `a.True`, `$x`) is a Python syntax error, which oslo raises.
        return if is_path_expression(kind) {
            Kind::Path
        } else {
            Kind::Unknown
        };
    }
    number(body, negative).map_or(Kind::Unknown, Kind::Literal)
}

/// Python keywords: a name that is one is a syntax error (`True`, `False` and `None` are
/// literals, handled before).
const KEYWORDS: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
    "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
    "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "True",
    "False", "None",
];

/// True for the kinds `ast.literal_eval` rejects with `ValueError` (a valid expression
/// that is not a literal) in the shapes oslo's generic check uses: optional unary signs
/// (`-`, `+`, `~`) before a number or a dotted chain of names. Other valid non-literal
/// expressions (`a-b`, `a[0]`, `f()`) are not recognised and read as syntax errors: the
/// check is false when a target key is missing, and otherwise denies (oslo would look
/// them up in the credentials, where no such key exists in practice).
fn is_path_expression(kind: &str) -> bool {
    let body = kind.trim_start_matches(['-', '+', '~']);
    if body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        // `--1`, `~1`: a valid expression, not a literal.
        return number(body, false).is_some();
    }
    !body.is_empty()
        && body.split('.').all(|name| {
            let mut chars = name.chars();
            chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
                && chars.all(|c| c == '_' || c.is_alphanumeric())
                && !KEYWORDS.contains(&name)
        })
}

/// A plain quoted string literal, optionally with a `u`/`U` prefix, without escapes or
/// implicit concatenation: its contents.
fn quoted(kind: &str) -> Option<&str> {
    let body = kind.strip_prefix(['u', 'U']).unwrap_or(kind);
    let quote = body.chars().next()?;
    if !matches!(quote, '\'' | '"') {
        return None;
    }
    let inner = body.strip_prefix(quote)?.strip_suffix(quote)?;
    if inner.contains([quote, '\\', '\n', '\r']) {
        return None;
    }
    Some(inner)
}

/// Python's `str()` of a number literal (`body` has no sign), or `None` when `body` is not
/// one we evaluate.
fn number(body: &str, negative: bool) -> Option<String> {
    let lower = body.to_ascii_lowercase();
    let based = [("0x", 16u32), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find_map(|(prefix, radix)| lower.strip_prefix(prefix).map(|digits| (digits, radix)));
    let magnitude = if let Some((digits, radix)) = based {
        // `0x_1f` is allowed: an underscore may follow the prefix.
        let digits = digits.strip_prefix('_').unwrap_or(digits);
        based_to_decimal(&underscored_digits(digits, radix)?, radix)?
    } else if body.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        let digits = underscored_digits(body, 10)?;
        let trimmed = digits.trim_start_matches('0');
        if trimmed.is_empty() {
            "0".to_owned()
        } else if trimmed.len() != digits.len() {
            // `0123` is a syntax error in Python 3.
            return None;
        } else {
            trimmed.to_owned()
        }
    } else {
        return float(body, negative);
    };
    Some(if negative && magnitude != "0" {
        format!("-{magnitude}")
    } else {
        magnitude
    })
}

/// Removes Python's digit-separating underscores (one at a time, only between digits)
/// and checks every digit is valid in `radix`.
fn underscored_digits(text: &str, radix: u32) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut previous_digit = false;
    for c in text.chars() {
        if c == '_' {
            if !previous_digit {
                return None;
            }
            previous_digit = false;
        } else if c.is_digit(radix) {
            out.push(c);
            previous_digit = true;
        } else {
            return None;
        }
    }
    (previous_digit && !out.is_empty()).then_some(out)
}

/// An arbitrarily long number in base 2, 8 or 16, written in decimal.
fn based_to_decimal(digits: &str, radix: u32) -> Option<String> {
    const LIMB: u64 = 1_000_000_000;
    // Little-endian base-1e9 limbs.
    let mut limbs: Vec<u64> = vec![0];
    for c in digits.chars() {
        let mut carry = u64::from(c.to_digit(radix)?);
        for limb in &mut limbs {
            let value = *limb * u64::from(radix) + carry;
            *limb = value % LIMB;
            carry = value / LIMB;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    let mut out = String::new();
    let mut iter = limbs.iter().rev();
    out.push_str(&iter.next()?.to_string());
    for limb in iter {
        out.push_str(&format!("{limb:09}"));
    }
    Some(out)
}

/// Python's `repr()` of a float literal (`body` has no sign).
fn float(body: &str, negative: bool) -> Option<String> {
    // Python's grammar: digits with single underscores, an optional `.` part, an optional
    // exponent; at least one digit before the exponent; `.` or an exponent present.
    let lower = body.to_ascii_lowercase();
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    if frac_part.is_none() && exponent.is_none() {
        return None;
    }
    let int_digits = if int_part.is_empty() {
        String::new()
    } else {
        underscored_digits(int_part, 10)?
    };
    let frac_digits = match frac_part {
        Some("") | None => String::new(),
        Some(f) => underscored_digits(f, 10)?,
    };
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let exp_digits = match exponent {
        None => String::new(),
        Some(e) => {
            let (sign, digits) = match e.as_bytes().first() {
                Some(b'-') => ("-", &e[1..]),
                Some(b'+') => ("", &e[1..]),
                _ => ("", e),
            };
            format!("e{sign}{}", underscored_digits(digits, 10)?)
        }
    };
    let plain = format!("0{int_digits}.{frac_digits}0{exp_digits}");
    let value: f64 = plain.parse().ok()?;
    Some(python_float_repr(if negative { -value } else { value }))
}

/// `repr(x)` for a Python float: the shortest digits that round-trip, in fixed notation
/// when `1e-4 <= |x| < 1e16` (with at least one decimal), else `d.ddde±XX`.
pub(crate) fn python_float_repr(value: f64) -> String {
    let sign = if value.is_sign_negative() { "-" } else { "" };
    if value.is_infinite() {
        return format!("{sign}inf");
    }
    if value.is_nan() {
        return "nan".to_owned();
    }
    // Rust's `{:e}` prints the shortest round-trip digits: `1.5e-5`, `1e16`, `0e0`.
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exp) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // value = 0.d1d2… × 10^point
    let point = exp + 1;
    if !(-4 < point && point <= 16) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{exp_sign}{:02}", exp.abs());
    }
    let count = digits.len() as i64;
    if point <= 0 {
        let zeros = "0".repeat(point.unsigned_abs() as usize);
        format!("{sign}0.{zeros}{digits}")
    } else if point < count {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{sign}{whole}.{fraction}")
    } else {
        let zeros = "0".repeat((point - count) as usize);
        format!("{sign}{digits}{zeros}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(text: &str) -> Vec<Token<'_>> {
        tokenize(text)
    }

    #[test]
    fn tokenizer_cases() {
        use Token::*;
        let cases: &[(&str, &[Token<'_>])] = &[
            ("", &[]),
            ("   \t\n ", &[]),
            ("role:a", &[Check("role:a")]),
            ("  role:a   ", &[Check("role:a")]),
            (
                "role:a and role:b",
                &[Check("role:a"), And, Check("role:b")],
            ),
            ("AND Or nOt", &[And, Or, Not]),
            ("(role:a)", &[Open, Check("role:a"), Close]),
            ("((role:a))", &[Open, Open, Check("role:a"), Close, Close]),
            ("( role:a )", &[Open, Check("role:a"), Close]),
            ("(((", &[Open, Open, Open]),
            (")))", &[Close, Close, Close]),
            ("()", &[Open, Close]),
            ("(and)", &[Open, And, Close]),
            ("(not", &[Open, Not]),
            ("'x'", &[Str("x")]),
            ("\"x y\"", &[Check("\"x"), Check("y\"")]),
            ("\"\"", &[Str("")]),
            ("'", &[Check("'")]),
            // The quote test sees the trailing paren, so this is a check.
            ("'x')", &[Check("'x'"), Close]),
            ("('x'", &[Open, Str("x")]),
            ("'x':%(k)s", &[Check("'x':%(k)s")]),
            ("a:%(b)s)", &[Check("a:%(b)s"), Close]),
            (
                "role:a\u{a0}or\u{2003}role:b",
                &[Check("role:a"), Or, Check("role:b")],
            ),
            ("role:a\u{1f}role:b", &[Check("role:a"), Check("role:b")]),
            ("role:a(b)", &[Check("role:a(b"), Close]),
            ("role:a(b)c", &[Check("role:a(b)c")]),
            ("andy", &[Check("andy")]),
            ("@ !", &[Check("@"), Check("!")]),
        ];
        for &(text, expected) in cases {
            assert_eq!(tok(text), expected, "{text:?}");
        }
    }

    fn printed(text: &str) -> String {
        Rule::parse(text).rule.to_string()
    }

    #[test]
    fn precedence() {
        let cases = [
            ("a:1 or b:1 and c:1", "(a:1 or (b:1 and c:1))"),
            ("a:1 and b:1 or c:1", "((a:1 and b:1) or c:1)"),
            ("not a:1 and b:1", "(not a:1 and b:1)"),
            ("not a:1 or b:1", "(not a:1 or b:1)"),
            ("a:1 and not b:1", "(a:1 and not b:1)"),
            ("not not a:1", "not not a:1"),
            ("not (a:1 or b:1)", "not (a:1 or b:1)"),
            ("(a:1 or b:1) and c:1", "((a:1 or b:1) and c:1)"),
            ("a:1 or b:1 or c:1", "(a:1 or b:1 or c:1)"),
            ("a:1 and b:1 and c:1", "(a:1 and b:1 and c:1)"),
            (
                "a:1 or b:1 and c:1 and d:1",
                "(a:1 or (b:1 and c:1 and d:1))",
            ),
            ("a:1 or b:1 and c:1 or d:1", "(a:1 or (b:1 and c:1) or d:1)"),
            (
                "a:1 and b:1 or c:1 and d:1",
                "((a:1 and b:1) or (c:1 and d:1))",
            ),
            ("a:1 or not b:1 and c:1", "(a:1 or (not b:1 and c:1))"),
            ("(a:1 and b:1) and c:1", "((a:1 and b:1) and c:1)"),
            (
                "a:1 and (b:1 or c:1) and d:1",
                "(a:1 and (b:1 or c:1) and d:1)",
            ),
            ("((a:1 or b:1))", "(a:1 or b:1)"),
            ("not ((a:1))", "not a:1"),
        ];
        for (text, expected) in cases {
            assert_eq!(printed(text), expected, "{text:?}");
        }
    }

    #[test]
    fn or_and_mix_extends_a_parenthesised_and() {
        // Oslo's `_mix_or_and_expr`: the or's last operand is an AndCheck (from the
        // parentheses), so `d` joins it instead of wrapping it.
        assert_eq!(
            printed("a:1 or (b:1 and c:1) and d:1"),
            "(a:1 or (b:1 and c:1 and d:1))"
        );
        // …but a parenthesised or is wrapped.
        assert_eq!(
            printed("a:1 or (b:1 or c:1) and d:1"),
            "(a:1 or ((b:1 or c:1) and d:1))"
        );
    }

    #[test]
    fn broken_syntax_denies_whole_rule() {
        let cases = [
            "role:a and",
            "and role:a",
            "(role:a",
            "role:a)",
            "or",
            "and",
            "not",
            "(",
            ")",
            "()",
            "role:a role:b",
            "role:a or or role:b",
            "role:a and and role:b",
            "not role:a not",
            "role:a not role:b",
            "(role:a or role:b",
            "role:a or role:b)",
            "'x'",
            "role:a or 'x'",
            "role:a or (role:b",
            ") role:a (",
            "   ",
            "@ @",
        ];
        for text in cases {
            let parsed = Rule::parse(text);
            assert!(parsed.rule.is_always_false(), "{text:?} → {}", parsed.rule);
            assert_eq!(parsed.warnings, [Warning::Syntax], "{text:?}");
        }
    }

    #[test]
    fn leaf_checks() {
        let cases: &[(&str, Test)] = &[
            ("is_admin:True", Test::IsAdmin(true)),
            ("is_admin:TRUE", Test::IsAdmin(true)),
            ("is_admin:False", Test::IsAdmin(false)),
            ("is_admin:yes", Test::IsAdmin(false)),
            (
                "rule:a:b",
                Test::Rule {
                    name: "a:b".into(),
                    slot: None,
                },
            ),
            (
                "rule:%(x)s",
                Test::Rule {
                    name: "%(x)s".into(),
                    slot: None,
                },
            ),
        ];
        for (text, test) in cases {
            let parsed = Rule::parse(text);
            assert!(parsed.warnings.is_empty(), "{text:?}");
            let Node::Check(check) = parsed.rule.root else {
                panic!("{text:?} is not a check");
            };
            assert_eq!(&check.test, test, "{text:?}");
            assert_eq!(&*check.text, *text);
        }
        assert_eq!(Rule::parse("@").rule.root, Node::True);
        assert_eq!(Rule::parse("!").rule.root, Node::False);
        assert_eq!(Rule::parse("(@)").rule.root, Node::True);
    }

    #[test]
    fn check_warnings() {
        let cases: &[(&str, Warning)] = &[
            ("foo", Warning::NoColon("foo".into())),
            (
                "http://example.com/%(x)s",
                Warning::Remote("http://example.com/%(x)s".into()),
            ),
            ("https://policy", Warning::Remote("https://policy".into())),
            ("role:%s", Warning::Format("role:%s".into())),
            ("a:%(k)d", Warning::Format("a:%(k)d".into())),
            ("a:%(k)-5s", Warning::Format("a:%(k)-5s".into())),
            ("a:100%", Warning::Format("a:100%".into())),
            ("a:%(k", Warning::Format("a:%(k".into())),
            ("1j:x", Warning::Literal("1j:x".into())),
            ("0123:x", Warning::Literal("0123:x".into())),
            ("1abc:x", Warning::Literal("1abc:x".into())),
            ("'a\\'b':x", Warning::Literal("'a\\'b':x".into())),
            ("b'x':x", Warning::Literal("b'x':x".into())),
            ("[1]:x", Warning::Literal("[1]:x".into())),
            (":x", Warning::Literal(":x".into())),
        ];
        for (text, warning) in cases {
            assert_eq!(
                Rule::parse(text).warnings,
                std::slice::from_ref(warning),
                "{text:?}"
            );
        }
        // Warnings of several checks accumulate, the rule still parses.
        let parsed = Rule::parse("foo or http://x or role:a");
        assert_eq!(parsed.warnings.len(), 2);
        assert_eq!(parsed.rule.to_string(), "(! or http://x or role:a)");
    }

    #[test]
    fn templates() {
        let text = |s: &str| Piece::Text(s.into());
        let key = |s: &str| Piece::Key(s.into());
        let cases: &[(&str, Option<Vec<Piece>>)] = &[
            ("", Some(vec![])),
            ("abc", Some(vec![text("abc")])),
            ("%(project_id)s", Some(vec![key("project_id")])),
            ("a%(k)sb", Some(vec![text("a"), key("k"), text("b")])),
            ("%(a)s%(b)s", Some(vec![key("a"), key("b")])),
            ("100%%", Some(vec![text("100%")])),
            ("%%(k)s", Some(vec![text("%(k)s")])),
            ("%(a(b)c)s", Some(vec![key("a(b)c")])),
            ("%(a.b)s", Some(vec![key("a.b")])),
            ("%()s", Some(vec![key("")])),
            ("%", Some(vec![Piece::Invalid])),
            ("%s", Some(vec![Piece::Invalid])),
            ("%(k)", Some(vec![key("k"), Piece::Invalid])),
            ("%(k)r", Some(vec![key("k"), Piece::Invalid])),
            ("a%(j)s%(k", Some(vec![text("a"), key("j"), Piece::Invalid])),
            ("x%(k)dyz", Some(vec![text("x"), key("k"), Piece::Invalid])),
        ];
        for (input, expected) in cases {
            let got = Some(parse_template(input).pieces.into_vec());
            assert_eq!(&got, expected, "{input:?}");
        }
    }

    #[test]
    fn literal_kinds() {
        let lit = |s: &str| Kind::Literal(s.to_owned());
        let cases = [
            ("True", lit("True")),
            ("False", lit("False")),
            ("None", lit("None")),
            ("true", Kind::Path),
            ("'x'", lit("x")),
            ("\"x\"", lit("x")),
            ("u'x'", lit("x")),
            ("''", lit("")),
            ("'a\"b'", lit("a\"b")),
            ("20", lit("20")),
            ("-20", lit("-20")),
            ("+20", lit("20")),
            ("-0", lit("0")),
            ("0", lit("0")),
            ("000", lit("0")),
            ("1_000", lit("1000")),
            ("1__0", Kind::Unknown),
            ("1_", Kind::Unknown),
            ("0x1F", lit("31")),
            ("0x_1f", lit("31")),
            ("0o17", lit("15")),
            ("0b101", lit("5")),
            (
                "0xffffffffffffffffffffffffffffffff",
                lit("340282366920938463463374607431768211455"),
            ),
            (
                "123456789012345678901234567890",
                lit("123456789012345678901234567890"),
            ),
            ("1.5", lit("1.5")),
            ("1.", lit("1.0")),
            (".5", lit("0.5")),
            ("-.5", lit("-0.5")),
            ("1e3", lit("1000.0")),
            ("1E-5", lit("1e-05")),
            ("1e16", lit("1e+16")),
            ("1.5e16", lit("1.5e+16")),
            ("1e15", lit("1000000000000000.0")),
            ("0.0001", lit("0.0001")),
            ("0.1", lit("0.1")),
            ("-0.0", lit("-0.0")),
            ("1e999", lit("inf")),
            ("-1e999", lit("-inf")),
            ("1_0.0_1", lit("10.01")),
            ("123.456e2", lit("12345.6")),
            ("1e", Kind::Unknown),
            ("1.2.3", Kind::Unknown),
            ("1j", Kind::Unknown),
            ("0777", Kind::Unknown),
            ("project_id", Kind::Path),
            ("a.b", Kind::Path),
            ("-x", Kind::Path),
            ("--1", Kind::Path),
            ("inf", Kind::Path),
            ("'x", Kind::Unknown),
            ("'x'y'", Kind::Unknown),
        ];
        for (kind, expected) in cases {
            assert_eq!(classify_kind(kind), expected, "{kind:?}");
        }
    }

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (0.0, "0.0"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (123456789.0, "123456789.0"),
            (1e-4, "0.0001"),
            (1.5e-5, "1.5e-05"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e16, "1e+16"),
            (1e100, "1e+100"),
            (2.5e-300, "2.5e-300"),
            (-2.0, "-2.0"),
        ];
        for (value, expected) in cases {
            assert_eq!(python_float_repr(value), expected, "{value}");
        }
    }

    #[test]
    fn nesting_is_capped() {
        let ok = format!("{}role:a", "not ".repeat(MAX_NESTING - 1));
        let parsed = Rule::parse(&ok);
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let deep = format!("{}role:a", "not ".repeat(MAX_NESTING));
        let parsed = Rule::parse(&deep);
        assert!(parsed.rule.is_always_false());
        assert_eq!(parsed.warnings, [Warning::TooDeep]);
        // Huge inputs are refused without blowing the stack.
        let huge = format!("{}role:a", "not ".repeat(200_000));
        assert!(Rule::parse(&huge).rule.is_always_false());
        let parens = format!("{}role:a{}", "(".repeat(100_000), ")".repeat(100_000));
        assert_eq!(Rule::parse(&parens).rule.to_string(), "role:a");
        let nested = format!(
            "{}role:a{}",
            "(role:b and ".repeat(100_000),
            ")".repeat(100_000)
        );
        assert!(Rule::parse(&nested).rule.is_always_false());
        // Long flat chains are fine.
        let chain = vec!["role:a"; 10_000].join(" or ");
        assert!(Rule::parse(&chain).warnings.is_empty());
        let mixed = vec!["role:a"; 10_000].join(" or role:b and ");
        assert!(Rule::parse(&mixed).warnings.is_empty());
    }

    #[test]
    fn nesting_of_and_inside_or_is_counted() {
        // Build `x or y and (…)` at exactly the limit and one beyond it.
        let mut text = String::from("role:a");
        for _ in 0..(MAX_NESTING - 1) {
            text = format!("(role:b and {text})");
        }
        assert!(Rule::parse(&text).warnings.is_empty());
        let over = format!("role:c or role:d and {text}");
        assert_eq!(Rule::parse(&over).warnings, [Warning::TooDeep]);
    }
}
