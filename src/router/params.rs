//! Route parameters: names from the route, values borrowed from the path, stored inline.
//!
//! During a lookup the tree pushes each accepted `{param}` segment as a value with a blank
//! name, pops it again when it backtracks, and once a route is found the router writes the
//! route's names over the blanks in place. Nothing is copied out of the path, and up to
//! [`INLINE_PARAMS`] pairs live inside the [`Params`] value itself.
//!
//! It must never allocate per lookup: parameters borrow from the path.

use smallvec::SmallVec;

/// Parameters kept inline before [`Params`] spills to the heap. Nova's routes have at most
/// three (`project_id`, a resource id, a sub-resource key).
pub const INLINE_PARAMS: usize = 4;

/// The `{name}` values of a matched route, in pattern order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params<'r, 'p> {
    items: SmallVec<[(&'r str, &'p str); INLINE_PARAMS]>,
}

impl<'r, 'p> Params<'r, 'p> {
    /// No parameters. Does not allocate.
    pub(super) fn new() -> Self {
        Params {
            items: SmallVec::new(),
        }
    }

    /// Appends a value whose name is not known yet.
    pub(super) fn push_value(&mut self, value: &'p str) {
        self.items.push(("", value));
    }

    /// Drops the last value (the lookup backtracked past its segment).
    pub(super) fn pop_value(&mut self) {
        self.items.pop();
    }

    /// Writes the matched route's parameter names over the blanks, in order.
    pub(super) fn set_names(&mut self, names: &'r [&'static str]) {
        debug_assert_eq!(names.len(), self.items.len());
        for ((slot, _), &name) in self.items.iter_mut().zip(names) {
            *slot = name;
        }
    }

    /// The value of the parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&'p str> {
        self.items
            .iter()
            .find(|&&(n, _)| n == name)
            .map(|&(_, value)| value)
    }

    /// `(name, value)` pairs in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&'r str, &'p str)> + '_ {
        self.items.iter().copied()
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the route has no parameters.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// True while the pairs are stored inline, i.e. no heap allocation was needed (always,
    /// for routes with at most [`INLINE_PARAMS`] parameters).
    pub fn is_inline(&self) -> bool {
        !self.items.spilled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills `Params` the way a lookup does: push every value, backtrack `pop` times, push
    /// `more`, then name them.
    fn fill<'p>(
        values: &[&'p str],
        pop: usize,
        more: &[&'p str],
        names: &'static [&'static str],
    ) -> Params<'static, 'p> {
        let mut params = Params::new();
        values.iter().for_each(|v| params.push_value(v));
        (0..pop).for_each(|_| params.pop_value());
        more.iter().for_each(|v| params.push_value(v));
        params.set_names(names);
        params
    }

    struct Case {
        values: &'static [&'static str],
        pop: usize,
        more: &'static [&'static str],
        names: &'static [&'static str],
        inline: bool,
        lookups: &'static [(&'static str, Option<&'static str>)],
    }

    #[rustfmt::skip]
    const CASES: &[Case] = &[
        Case { values: &[], pop: 0, more: &[], names: &[], inline: true, lookups: &[("id", None), ("", None)] },
        Case { values: &["abc"], pop: 0, more: &[], names: &["id"], inline: true, lookups: &[("id", Some("abc")), ("ID", None), ("", None)] },
        Case { values: &["p", "s", "k"], pop: 0, more: &[], names: &["project_id", "server_id", "key"], inline: true, lookups: &[("project_id", Some("p")), ("server_id", Some("s")), ("key", Some("k"))] },
        Case { values: &["a", "b", "c"], pop: 2, more: &["x"], names: &["first", "second"], inline: true, lookups: &[("first", Some("a")), ("second", Some("x"))] },
        Case { values: &["1", "2", "3", "4"], pop: 0, more: &[], names: &["a", "b", "c", "d"], inline: true, lookups: &[("a", Some("1")), ("d", Some("4"))] },
        Case { values: &["1", "2", "3", "4", "5"], pop: 0, more: &[], names: &["a", "b", "c", "d", "e"], inline: false, lookups: &[("a", Some("1")), ("e", Some("5")), ("f", None)] },
        Case { values: &["1", "2", "3", "4", "5", "6"], pop: 3, more: &["x"], names: &["a", "b", "c", "d"], inline: false, lookups: &[("c", Some("3")), ("d", Some("x"))] },
    ];

    #[test]
    fn names_values_and_order() {
        for (i, case) in CASES.iter().enumerate() {
            let params = fill(case.values, case.pop, case.more, case.names);
            assert_eq!(params.len(), case.names.len(), "case {i}");
            assert_eq!(params.is_empty(), case.names.is_empty(), "case {i}");
            assert_eq!(params.is_inline(), case.inline, "case {i}");
            let got_names: Vec<&str> = params.iter().map(|(n, _)| n).collect();
            assert_eq!(got_names, case.names, "case {i}");
            let kept = &case.values[..case.values.len() - case.pop];
            let want_values: Vec<&str> = kept.iter().chain(case.more).copied().collect();
            let got_values: Vec<&str> = params.iter().map(|(_, v)| v).collect();
            assert_eq!(got_values, want_values, "case {i}");
            for &(name, want) in case.lookups {
                assert_eq!(params.get(name), want, "case {i}: {name}");
            }
        }
    }

    #[test]
    fn empty_params_do_not_allocate() {
        assert!(Params::new().is_inline());
        assert_eq!(Params::new(), Params::default());
        assert_eq!(
            std::mem::size_of::<Params<'_, '_>>(),
            std::mem::size_of::<[(&str, &str); INLINE_PARAMS]>() + std::mem::size_of::<usize>()
        );
    }
}
