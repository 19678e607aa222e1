//! What is acted on: the policy target, a small map of string keys to string values that
//! `%(key)s` in a rule reads (oslo's `target` dict).
//!
//! Nova passes `{'project_id': instance.project_id}` or `{'project_id': …, 'user_id': …}`,
//! so up to [`INLINE_TARGET`] entries are kept inline and building a target does not
//! allocate.
//!
//! It must never allocate for the usual handful of keys (kept inline).

use smallvec::SmallVec;

use super::Credentials;

/// Entries kept inline before a [`Target`] spills to the heap.
pub const INLINE_TARGET: usize = 4;

/// The policy target: `key → value`, borrowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target<'a> {
    entries: SmallVec<[(&'a str, &'a str); INLINE_TARGET]>,
}

impl<'a> Target<'a> {
    /// An empty target. Every `%(key)s` check against it is false.
    pub fn new() -> Self {
        Self::default()
    }

    /// A target holding `entries` (a later duplicate key replaces an earlier one).
    pub fn from_pairs(entries: &[(&'a str, &'a str)]) -> Self {
        entries.iter().copied().collect()
    }

    /// Nova's `default_target(context)`: the caller's own `project_id` and `user_id`. An
    /// absent id reads as Python's `None`, so it is the text `None`, as `%s` formats it.
    pub fn for_credentials(creds: &Credentials<'a>) -> Self {
        Self::from_pairs(&[
            ("project_id", creds.project_id.unwrap_or("None")),
            ("user_id", creds.user_id.unwrap_or("None")),
        ])
    }

    /// Sets `key` to `value`, replacing any earlier value.
    pub fn insert(&mut self, key: &'a str, value: &'a str) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|&(_, value)| value)
    }

    /// `(key, value)` pairs in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a str)> + '_ {
        self.entries.iter().copied()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Target<'a> {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Self {
        let mut target = Target::new();
        for (key, value) in iter {
            target.insert(key, value);
        }
        target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces() {
        let mut target = Target::from_pairs(&[("project_id", "p1"), ("user_id", "u1")]);
        target.insert("project_id", "p2");
        assert_eq!(target.get("project_id"), Some("p2"));
        assert_eq!(target.get("user_id"), Some("u1"));
        assert_eq!(target.get("missing"), None);
        assert_eq!(target.len(), 2);
        assert!(!target.is_empty());
        assert!(Target::new().is_empty());
    }

    #[test]
    fn default_target_is_nova_s() {
        let creds = Credentials::new().with_project_id("p1");
        let target = Target::for_credentials(&creds);
        assert_eq!(
            target.iter().collect::<Vec<_>>(),
            [("project_id", "p1"), ("user_id", "None")]
        );
    }
}
