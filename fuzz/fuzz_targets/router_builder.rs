//! Fuzz target: `router::Builder` with random route sets (patterns built from a vocabulary of
//! static, `{param}`, `{param:hex}` and malformed segments), then lookups of random paths.
//!
//! Checks each insert against the pattern rules and the conflict rule, and each lookup against
//! a brute-force matcher: of all routes whose shape fits the path, the one for the method
//! whose segment kinds come first (static, then hex, then any, left to right) wins; a path
//! fitting only other methods' routes is "method not allowed". A match's `url()` is the path.
#![no_main]

use std::{cell::RefCell, collections::HashSet};

use libfuzzer_sys::{arbitrary::Unstructured, fuzz_target};
use ringnova::router::{Builder, InsertError, MatchError, Method, RouteId};

/// A pattern segment of the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Static,
    Hex,
    Any,
    Malformed,
}

const SEGMENTS: &[(&str, Kind)] = &[
    ("servers", Kind::Static),
    ("detail", Kind::Static),
    ("0a", Kind::Static),
    ("a:b", Kind::Static),
    ("x.json", Kind::Static),
    ("{id}", Kind::Any),
    ("{name}", Kind::Any),
    ("{id:hex}", Kind::Hex),
    ("{p_2:hex}", Kind::Hex),
    ("", Kind::Malformed),
    ("{", Kind::Malformed),
    ("a}", Kind::Malformed),
    ("{id:num}", Kind::Malformed),
    ("{}", Kind::Malformed),
    ("x{id}", Kind::Malformed),
    ("{a b}", Kind::Malformed),
];

/// Path segments to look up: the static texts, hex and non-hex values, and edge cases.
const PATH_SEGMENTS: &[&str] = &[
    "servers", "detail", "0a", "a:b", "x.json", "ff-00", "-", "abc", "ABC", "é", "", "{id}",
];

thread_local! {
    /// Every pattern text built so far: patterns are `&'static str`, so each distinct one is
    /// leaked once. The vocabulary bounds how many there can be.
    static PATTERNS: RefCell<HashSet<&'static str>> = RefCell::new(HashSet::new());
}

fn intern(text: String) -> &'static str {
    PATTERNS.with(|set| {
        let mut set = set.borrow_mut();
        match set.get(text.as_str()) {
            Some(&interned) => interned,
            None => {
                let leaked: &'static str = Box::leak(text.into_boxed_str());
                set.insert(leaked);
                leaked
            }
        }
    })
}

/// A declared route as the reference sees it.
struct Declared {
    id: RouteId,
    method: Method,
    /// (text, kind) of each segment.
    segments: Vec<(&'static str, Kind)>,
}

fn param_name(text: &str) -> &str {
    let inner = &text[1..text.len() - 1];
    inner.split(':').next().unwrap_or(inner)
}

fn fits(kind: Kind, pattern_text: &str, segment: &str) -> bool {
    match kind {
        Kind::Static => pattern_text == segment,
        Kind::Hex => {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b'-'))
        }
        Kind::Any => !segment.is_empty(),
        Kind::Malformed => false,
    }
}

/// Same method and same shape conflict: static texts equal, parameters of the same kind.
fn shape(segments: &[(&'static str, Kind)]) -> Vec<(Kind, &'static str)> {
    segments
        .iter()
        .map(|&(text, kind)| (kind, if kind == Kind::Static { text } else { "" }))
        .collect()
}

fn rank(kind: Kind) -> u8 {
    match kind {
        Kind::Static => 0,
        Kind::Hex => 1,
        Kind::Any | Kind::Malformed => 2,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut builder = Builder::new();
    let mut declared: Vec<Declared> = Vec::new();
    let count = u.int_in_range(0u8..=24).unwrap_or(0);
    for _ in 0..count {
        let Ok(method) = u.choose(&Method::ALL).copied() else {
            break;
        };
        let depth = u.int_in_range(0usize..=4).unwrap_or(0);
        let mut segments = Vec::new();
        for _ in 0..depth {
            segments.push(*u.choose(SEGMENTS).unwrap_or(&SEGMENTS[0]));
        }
        // One empty segment is the root pattern, `/`.
        if segments == [("", Kind::Malformed)] {
            segments.clear();
        }
        let slashless = depth > 0 && u.ratio(1u8, 32).unwrap_or(false);
        let mut text = if segments.is_empty() {
            "/".to_owned()
        } else {
            segments.iter().map(|(s, _)| format!("/{s}")).collect()
        };
        if slashless {
            // No leading `/` (removing the first one would not do: an empty first segment
            // would leave one).
            text.insert(0, 's');
        }
        let pattern = intern(text);
        let names: Vec<&str> = segments
            .iter()
            .filter(|(_, k)| matches!(k, Kind::Hex | Kind::Any))
            .map(|(s, _)| param_name(s))
            .collect();
        let unique = names.iter().collect::<HashSet<_>>().len() == names.len();
        let well_formed =
            !slashless && unique && segments.iter().all(|(_, k)| *k != Kind::Malformed);
        let conflict = declared
            .iter()
            .find(|d| d.method == method && shape(&d.segments) == shape(&segments));
        match (builder.insert(method, pattern, ()), well_formed, conflict) {
            (Err(InsertError::Pattern(p)), false, _) => assert_eq!(p, pattern),
            (Err(InsertError::Conflict { pattern: p, .. }), true, Some(_)) => {
                assert_eq!(p, pattern)
            }
            (Ok(id), true, None) => {
                assert_eq!(id.0 as usize, declared.len(), "ids are dense");
                declared.push(Declared {
                    id,
                    method,
                    segments,
                });
            }
            (got, well_formed, conflict) => panic!(
                "insert {method:?} {pattern:?}: {got:?} (well formed: {well_formed}, \
                 conflict: {})",
                conflict.is_some()
            ),
        }
    }
    let router = builder.build();
    assert_eq!(router.len(), declared.len());

    for _ in 0..8 {
        let Ok(method) = u.choose(&Method::ALL).copied() else {
            break;
        };
        let depth = u.int_in_range(0usize..=5).unwrap_or(0);
        let mut path = String::new();
        for _ in 0..depth {
            path.push('/');
            path.push_str(u.choose(PATH_SEGMENTS).unwrap_or(&""));
        }
        if depth == 0 && u.arbitrary::<bool>().unwrap_or(false) {
            path.push('/');
        }
        let parts: Vec<&str> = match path.as_str() {
            "" | "/" => Vec::new(),
            _ => path[1..].split('/').collect(),
        };
        let fitting: Vec<&Declared> = declared
            .iter()
            .filter(|d| {
                d.segments.len() == parts.len()
                    && d.segments
                        .iter()
                        .zip(&parts)
                        .all(|(&(text, kind), part)| fits(kind, text, part))
            })
            .collect();
        let want = fitting
            .iter()
            .filter(|d| d.method == method)
            .min_by_key(|d| d.segments.iter().map(|(_, k)| rank(*k)).collect::<Vec<_>>());
        match (router.at(method, &path), want) {
            (Ok(found), Some(want)) => {
                assert_eq!(found.id, want.id, "{method:?} {path:?}");
                let values: Vec<&str> = found.params.iter().map(|(_, v)| v).collect();
                let mut url = Vec::new();
                router.url(found.id, &values, &mut url).expect("url");
                let expect = if path.is_empty() { "/" } else { path.as_str() };
                assert_eq!(url, expect.as_bytes());
            }
            (Err(MatchError::MethodNotAllowed), None) => assert!(!fitting.is_empty()),
            (Err(MatchError::NotFound), None) => assert!(fitting.is_empty()),
            (got, want) => panic!(
                "{method:?} {path:?}: {:?}, want {:?}",
                got.map(|f| router.pattern(f.id)),
                want.map(|w| router.pattern(w.id))
            ),
        };
    }
});
