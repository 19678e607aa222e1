//! The segment radix tree: one node per path segment; at each node static children are
//! tried before the `{name:hex}` child, and that before the `{name}` child.
//!
//! Built mutably by the [`Builder`](super::Builder), sorted once by [`Node::freeze`], then
//! only read. A lookup borrows segments out of the path and pushes parameter values into
//! the caller's [`Params`]; it creates nothing else.

use super::method::{Method, METHOD_COUNT};
use super::params::Params;

/// Up to this many static children are scanned linearly; above it they are binary-searched
/// (they are sorted by [`Node::freeze`] either way).
const LINEAR_MAX: usize = 8;

/// What a `{param}` segment accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ParamKind {
    /// `{name:hex}`: one or more of `[0-9a-f-]` (Nova's `{project_id:[0-9a-f-]+}`).
    Hex,
    /// `{name}`: any non-empty segment.
    Any,
}

impl ParamKind {
    /// Whether a path segment (never containing `/`) fits this parameter.
    fn accepts(self, segment: &str) -> bool {
        !segment.is_empty()
            && match self {
                ParamKind::Any => true,
                ParamKind::Hex => segment
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b'-')),
            }
    }
}

/// One segment of a route pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Segment {
    /// Literal text, matched exactly.
    Static(&'static str),
    /// `{name}` or `{name:hex}`.
    Param(&'static str, ParamKind),
}

/// Splits a pattern into segments, or `None` when it is malformed: no leading `/`, an empty
/// segment (`//`, or a trailing `/` other than the root pattern `/`), an empty or unclosed
/// `{}`, a name other than `[A-Za-z0-9_]+`, a name used twice, an unknown constraint, or a
/// brace inside a static segment.
pub(super) fn parse(pattern: &'static str) -> Option<Vec<Segment>> {
    let body = pattern.strip_prefix('/')?;
    if body.is_empty() {
        return Some(Vec::new());
    }
    let mut segments = Vec::new();
    for text in body.split('/') {
        let segment = match text.strip_prefix('{') {
            None if text.is_empty() || text.contains(['{', '}']) => return None,
            None => Segment::Static(text),
            Some(inner) => {
                let inner = inner.strip_suffix('}')?;
                let (name, kind) = match inner.split_once(':') {
                    None => (inner, ParamKind::Any),
                    Some((name, "hex")) => (name, ParamKind::Hex),
                    Some(_) => return None,
                };
                let valid = !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                let taken = segments
                    .iter()
                    .any(|s| matches!(s, Segment::Param(other, _) if *other == name));
                if !valid || taken {
                    return None;
                }
                Segment::Param(name, kind)
            }
        };
        segments.push(segment);
    }
    Some(segments)
}

/// A tree node: the routes ending here (one slot per method) and the children.
#[derive(Debug)]
pub(super) struct Node {
    /// Route ids ending at this node, indexed by [`Method::slot`].
    routes: [Option<u32>; METHOD_COUNT],
    /// Static children keyed by their whole segment text; sorted after [`Node::freeze`].
    statics: Vec<(&'static str, Node)>,
    /// The `{name:hex}` child, tried after the static children.
    hex: Option<Box<Node>>,
    /// The `{name}` child, tried last.
    any: Option<Box<Node>>,
}

impl Node {
    /// An empty node.
    pub(super) fn new() -> Node {
        Node {
            routes: [None; METHOD_COUNT],
            statics: Vec::new(),
            hex: None,
            any: None,
        }
    }

    /// The route slot for `method` of the node reached by `segments`, creating nodes as
    /// needed. Parameter names play no part: `{id}` and `{server_id}` at the same place lead
    /// to the same node.
    pub(super) fn slot(&mut self, segments: &[Segment], method: Method) -> &mut Option<u32> {
        let mut node = self;
        for segment in segments {
            node = match *segment {
                Segment::Static(text) => {
                    let index = match node.statics.iter().position(|(t, _)| *t == text) {
                        Some(index) => index,
                        None => {
                            node.statics.push((text, Node::new()));
                            node.statics.len() - 1
                        }
                    };
                    &mut node.statics[index].1
                }
                Segment::Param(_, ParamKind::Hex) => node.hex.get_or_insert_with(Box::default),
                Segment::Param(_, ParamKind::Any) => node.any.get_or_insert_with(Box::default),
            };
        }
        &mut node.routes[method.slot()]
    }

    /// Sorts every node's static children by text; called once the tree is complete.
    pub(super) fn freeze(&mut self) {
        self.statics.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (_, child) in &mut self.statics {
            child.freeze();
        }
        for child in [&mut self.hex, &mut self.any].into_iter().flatten() {
            child.freeze();
        }
    }

    /// The static child for `segment`, if any.
    fn static_child(&self, segment: &str) -> Option<&Node> {
        if self.statics.len() <= LINEAR_MAX {
            self.statics
                .iter()
                .find(|(text, _)| *text == segment)
                .map(|(_, child)| child)
        } else {
            self.statics
                .binary_search_by(|(text, _)| (*text).cmp(segment))
                .ok()
                .map(|index| &self.statics[index].1)
        }
    }

    /// Finds the route for `method` at `rest`, the part of the path below this node: empty
    /// (the path ends here) or `/segment...`.
    ///
    /// Static child first, then the hex child, then the any child; when a branch fails
    /// deeper down the next one is tried, and the values it pushed have been popped again,
    /// so on success `params` holds exactly the matched route's values in pattern order. At
    /// most one value per `{param}` on the current branch is held at a time. `seen` is set
    /// when the path ends at a node that has routes, but none for `method`.
    pub(super) fn lookup<'p>(
        &self,
        method: Method,
        rest: &'p str,
        params: &mut Params<'_, 'p>,
        seen: &mut bool,
    ) -> Option<u32> {
        if rest.is_empty() {
            let id = self.routes[method.slot()];
            if id.is_none() {
                *seen |= self.routes.iter().any(Option::is_some);
            }
            return id;
        }
        let body = rest.strip_prefix('/')?;
        // A plain byte loop: segments are a few bytes, shorter than a `str::find` set-up
        // (`/` is ASCII, so its index is a char boundary).
        let (segment, tail) = match body.bytes().position(|b| b == b'/') {
            Some(end) => body.split_at(end),
            None => (body, ""),
        };
        if let Some(id) = self
            .static_child(segment)
            .and_then(|child| child.lookup(method, tail, params, seen))
        {
            return Some(id);
        }
        for (kind, child) in [(ParamKind::Hex, &self.hex), (ParamKind::Any, &self.any)] {
            let Some(child) = child else { continue };
            if kind.accepts(segment) {
                params.push_value(segment);
                if let Some(id) = child.lookup(method, tail, params, seen) {
                    return Some(id);
                }
                params.pop_value();
            }
        }
        None
    }
}

impl Default for Node {
    fn default() -> Self {
        Node::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Segment::{Param, Static};

    #[test]
    fn patterns_parse_or_are_rejected() {
        use ParamKind::{Any, Hex};
        #[rustfmt::skip]
        let table: &[(&'static str, Option<&[Segment]>)] = &[
            ("/", Some(&[])),
            ("/servers", Some(&[Static("servers")])),
            ("/servers/detail", Some(&[Static("servers"), Static("detail")])),
            ("/servers/{id}", Some(&[Static("servers"), Param("id", Any)])),
            ("/{project_id:hex}/servers", Some(&[Param("project_id", Hex), Static("servers")])),
            ("/flavors/{flavor_id}/os-extra_specs/{id}", Some(&[Static("flavors"), Param("flavor_id", Any), Static("os-extra_specs"), Param("id", Any)])),
            ("/a:b/c.json", Some(&[Static("a:b"), Static("c.json")])),
            ("", None),
            ("servers", None),
            ("//", None),
            ("/a//b", None),
            ("/servers/", None),
            ("/{}", None),
            ("/{:hex}", None),
            ("/{id", None),
            ("/{id}x", None),
            ("/x{id}", None),
            ("/a{b", None),
            ("/a}b", None),
            ("/{a{b}}", None),
            ("/{id:num}", None),
            ("/{id:}", None),
            ("/{id:[0-9a-f-]+}", None),
            ("/{i d}", None),
            ("/{id}/x/{id}", None),
            ("/{id:hex}/{id}", None),
        ];
        for &(pattern, want) in table {
            assert_eq!(parse(pattern).as_deref(), want, "{pattern:?}");
        }
    }

    #[test]
    fn hex_and_any_accept() {
        // (segment, hex, any)
        #[rustfmt::skip]
        let table = [
            ("0123456789abcdef", true, true),
            ("6f70656e-7374-6163-6b20-70726f6a6563", true, true),
            ("-", true, true),
            ("", false, false),
            ("ABC", false, true),
            ("abcg", false, true),
            ("servers", false, true),
            ("ab_cd", false, true),
            ("ab cd", false, true),
            ("é", false, true),
        ];
        for (segment, hex, any) in table {
            assert_eq!(ParamKind::Hex.accepts(segment), hex, "{segment:?}");
            assert_eq!(ParamKind::Any.accepts(segment), any, "{segment:?}");
        }
    }

    /// A frozen tree of `(method, pattern)` routes, ids in order.
    fn tree(routes: &[(Method, &'static str)]) -> Node {
        let mut root = Node::new();
        for (id, &(method, pattern)) in routes.iter().enumerate() {
            let slot = root.slot(&parse(pattern).unwrap(), method);
            assert!(slot.is_none(), "{pattern}");
            *slot = Some(id as u32);
        }
        root.freeze();
        root
    }

    /// A lookup's outcome: (route id, `seen`, parameter values).
    fn find<'p>(root: &Node, method: Method, rest: &'p str) -> (Option<u32>, bool, Vec<&'p str>) {
        let mut params = Params::new();
        let mut seen = false;
        let id = root.lookup(method, rest, &mut params, &mut seen);
        (id, seen, params.iter().map(|(_, v)| v).collect())
    }

    /// (method, rest, route id, `seen`, parameter values)
    type Walk = (
        Method,
        &'static str,
        Option<u32>,
        bool,
        &'static [&'static str],
    );

    #[test]
    fn walk_prefers_static_then_hex_then_any() {
        use Method::{Delete, Get};
        let root = tree(&[
            (Get, "/abc/x"),         // 0
            (Get, "/{p:hex}/x"),     // 1
            (Get, "/{p:hex}/y"),     // 2
            (Get, "/{n}/y"),         // 3
            (Get, "/{n}/z"),         // 4
            (Get, "/{a:hex}/{b}/q"), // 5
            (Get, "/{c}/{d}/r"),     // 6
            (Delete, "/abc/w"),      // 7
            (Get, "/"),              // 8: the root
        ]);
        #[rustfmt::skip]
        let table: &[Walk] = &[
            (Get, "/abc/x", Some(0), false, &[]),
            (Get, "/abd/x", Some(1), false, &["abd"]),
            (Get, "/abc/y", Some(2), false, &["abc"]),
            (Get, "/xyz/y", Some(3), false, &["xyz"]),
            (Get, "/abc/z", Some(4), false, &["abc"]),
            (Get, "/ab/cd/q", Some(5), false, &["ab", "cd"]),
            (Get, "/ab/cd/r", Some(6), false, &["ab", "cd"]),
            (Get, "/abc/w", None, true, &[]),
            (Get, "/abc/v", None, false, &[]),
            (Get, "", Some(8), false, &[]),
            (Delete, "", None, true, &[]),
            (Get, "/", None, false, &[]),
            (Get, "//x", None, false, &[]),
            (Get, "/abc/x/", None, false, &[]),
            (Get, "abc/x", None, false, &[]),
        ];
        for &(method, rest, id, seen, values) in table {
            assert_eq!(
                find(&root, method, rest),
                (id, seen, values.to_vec()),
                "{method} {rest:?}"
            );
        }
    }

    #[test]
    fn many_static_children_are_binary_searched() {
        const NAMES: [&str; 20] = [
            "t", "s", "r", "q", "p", "o", "n", "m", "l", "k", "j", "i", "h", "g", "f", "e", "d",
            "c", "b", "a",
        ];
        for count in [1, LINEAR_MAX, LINEAR_MAX + 1, NAMES.len()] {
            let mut root = Node::new();
            for (id, name) in NAMES[..count].iter().enumerate() {
                *root.slot(&[Static(name), Static("leaf")], Method::Get) = Some(id as u32);
            }
            root.freeze();
            assert!(root.statics.windows(2).all(|w| w[0].0 < w[1].0));
            for (id, name) in NAMES[..count].iter().enumerate() {
                let path = format!("/{name}/leaf");
                assert_eq!(
                    find(&root, Method::Get, &path).0,
                    Some(id as u32),
                    "{count}: {path}"
                );
            }
            for missing in ["/zz/leaf", "/0/leaf", "/aa/leaf", "/leaf"] {
                assert_eq!(
                    find(&root, Method::Get, missing).0,
                    None,
                    "{count}: {missing}"
                );
            }
        }
    }
}
