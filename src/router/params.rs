//! Route parameters: names from the route, values borrowed from the path, stored inline.

use smallvec::SmallVec;

/// Parameters inline before spilling to the heap (Nova routes have at most three).
pub const INLINE_PARAMS: usize = 4;

/// The `{name}` values of a matched route, in pattern order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params<'r, 'p> {
    items: SmallVec<[(&'r str, &'p str); INLINE_PARAMS]>,
}

impl<'r, 'p> Params<'r, 'p> {
    pub(crate) fn from_parts(names: &'r [&'static str], values: &[&'p str]) -> Self {
        Params {
            items: names.iter().copied().zip(values.iter().copied()).collect(),
        }
    }

    /// The value of the parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&'p str> {
        self.items.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// (name, value) pairs in pattern order.
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

    /// Whether the values are still stored inline (no heap allocation was needed).
    pub fn is_inline(&self) -> bool {
        !self.items.spilled()
    }
}
