//! The radix tree: one node per path segment, static children before parameter children.

use super::method::{Method, METHOD_COUNT};

/// What a `{param}` segment accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamKind {
    /// `{name:hex}`: one or more of `[0-9a-f-]` (Nova's `{project_id:[0-9a-f-]+}`).
    Hex,
    /// `{name}`: any non-empty segment.
    Any,
}

impl ParamKind {
    fn accepts(self, segment: &str) -> bool {
        !segment.is_empty()
            && match self {
                ParamKind::Any => true,
                ParamKind::Hex => segment
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-'),
            }
    }
}

/// One segment of a route pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment {
    Static(&'static str),
    Param(&'static str, ParamKind),
}

/// A tree node: the routes ending here (one slot per method) and the children.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) routes: [Option<u32>; METHOD_COUNT],
    statics: Vec<(&'static str, Node)>,
    /// Parameter children, `Hex` before `Any`.
    params: Vec<(ParamKind, Node)>,
}

impl Node {
    pub(crate) fn new() -> Node {
        Node {
            routes: [None; METHOD_COUNT],
            statics: Vec::new(),
            params: Vec::new(),
        }
    }

    /// The node reached by `segments`, created as needed.
    pub(crate) fn descend(&mut self, segments: &[Segment]) -> &mut Node {
        let Some((first, rest)) = segments.split_first() else {
            return self;
        };
        let child = match *first {
            Segment::Static(text) => {
                let index = match self.statics.iter().position(|(t, _)| *t == text) {
                    Some(index) => index,
                    None => {
                        self.statics.push((text, Node::new()));
                        self.statics.len() - 1
                    }
                };
                &mut self.statics[index].1
            }
            Segment::Param(_, kind) => {
                let index = match self.params.iter().position(|(k, _)| *k == kind) {
                    Some(index) => index,
                    None => {
                        self.params.push((kind, Node::new()));
                        self.params.sort_by_key(|(k, _)| *k == ParamKind::Any);
                        self.params
                            .iter()
                            .position(|(k, _)| *k == kind)
                            .unwrap_or(0)
                    }
                };
                &mut self.params[index].1
            }
        };
        child.descend(rest)
    }

    /// Sorts static children for binary search once the tree is complete.
    pub(crate) fn freeze(&mut self) {
        self.statics.sort_by(|a, b| a.0.cmp(b.0));
        for (_, child) in &mut self.statics {
            child.freeze();
        }
        for (_, child) in &mut self.params {
            child.freeze();
        }
    }

    /// Finds the route for `method` at `rest` (a path suffix that is empty or starts with
    /// `/`), pushing parameter values into `values`. Static children are tried before
    /// parameter children, backtracking when a branch fails deeper down. `seen` records that
    /// some node matched the path but not the method.
    pub(crate) fn lookup<'p, const N: usize>(
        &self,
        method: Method,
        rest: &'p str,
        values: &mut smallvec::SmallVec<[&'p str; N]>,
        seen: &mut bool,
    ) -> Option<u32> {
        let Some(body) = rest.strip_prefix('/') else {
            return match self.routes[method.slot()] {
                Some(id) => Some(id),
                None => {
                    *seen |= self.routes.iter().any(Option::is_some);
                    None
                }
            };
        };
        let (segment, tail) = match body.find('/') {
            Some(i) => (&body[..i], &body[i..]),
            None => (body, ""),
        };
        if let Ok(index) = self
            .statics
            .binary_search_by(|(text, _)| (*text).cmp(segment))
        {
            if let Some(id) = self.statics[index].1.lookup(method, tail, values, seen) {
                return Some(id);
            }
        }
        for (kind, child) in &self.params {
            if kind.accepts(segment) {
                values.push(segment);
                if let Some(id) = child.lookup(method, tail, values, seen) {
                    return Some(id);
                }
                values.pop();
            }
        }
        None
    }
}
