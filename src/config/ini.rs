//! A line-tracking INI reader for oslo.config and paste-deploy files.
//!
//! Start-up only (never on a worker's request path). It keeps the line number of every
//! section and entry so that a bad value can be reported as `file:line`. Syntax accepted is
//! what Python's `configparser` accepts for these files: `[section]` headers, `key = value` or
//! `key: value` (split at the first `=` or `:`), `#` and `;` comment lines, and indented
//! continuation lines that extend the previous value.
//!
//! ```
//! let ini = ringnova::config::ini::Ini::parse("[api]\nauth_strategy = noauth2\n").unwrap();
//! assert_eq!(ini.sections[0].get("auth_strategy"), Some("noauth2"));
//! ```

use std::fmt;

/// One `key = value` line (with its continuation lines folded in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, trimmed.
    pub key: String,
    /// The value, trimmed; continuation lines are joined with `\n`.
    pub value: String,
    /// 1-based line number of the key.
    pub line: usize,
}

/// One `[name]` section and its entries in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The text between the brackets, trimmed.
    pub name: String,
    /// 1-based line number of the header.
    pub line: usize,
    /// Entries in file order.
    pub entries: Vec<Entry>,
}

impl Section {
    /// The value of the last entry named `key` (later entries win, as in oslo.config).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|entry| entry.value.as_str())
    }

    /// The last entry named `key`.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|entry| entry.key == key)
    }
}

/// A parsed INI document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ini {
    /// Sections in file order; a repeated header yields a second `Section`.
    pub sections: Vec<Section>,
}

/// A syntax error, with the 1-based line it was found on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: &'static str,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for SyntaxError {}

impl Ini {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Ini, SyntaxError> {
        let mut ini = Ini::default();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            let indented = raw.starts_with(' ') || raw.starts_with('\t');
            if indented {
                let Some(entry) = ini.sections.last_mut().and_then(|s| s.entries.last_mut()) else {
                    return Err(SyntaxError {
                        line,
                        reason: "continuation line without a key",
                    });
                };
                if !entry.value.is_empty() {
                    entry.value.push('\n');
                }
                entry.value.push_str(trimmed);
                continue;
            }
            if let Some(rest) = trimmed.strip_prefix('[') {
                let Some(name) = rest.strip_suffix(']') else {
                    return Err(SyntaxError {
                        line,
                        reason: "section header without a closing ']'",
                    });
                };
                let name = name.trim();
                if name.is_empty() {
                    return Err(SyntaxError {
                        line,
                        reason: "empty section name",
                    });
                }
                ini.sections.push(Section {
                    name: name.to_owned(),
                    line,
                    entries: Vec::new(),
                });
                continue;
            }
            let Some(split) = trimmed.find(['=', ':']) else {
                return Err(SyntaxError {
                    line,
                    reason: "expected 'key = value'",
                });
            };
            let key = trimmed[..split].trim();
            if key.is_empty() {
                return Err(SyntaxError {
                    line,
                    reason: "empty key",
                });
            }
            let Some(section) = ini.sections.last_mut() else {
                return Err(SyntaxError {
                    line,
                    reason: "entry before any [section] header",
                });
            };
            section.entries.push(Entry {
                key: key.to_owned(),
                value: trimmed[split + 1..].trim().to_owned(),
                line,
            });
        }
        Ok(ini)
    }

    /// All sections with this exact name, in file order.
    pub fn sections_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections.iter().filter(move |s| s.name == name)
    }

    /// The last entry `key` across every section named `section` (later wins).
    pub fn entry(&self, section: &str, key: &str) -> Option<&Entry> {
        self.sections
            .iter()
            .rev()
            .filter(|s| s.name == section)
            .find_map(|s| s.entry(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_entries_and_lines() {
        let ini = Ini::parse("# c\n[a]\nx = 1\n; c\ny: two words \n\n[b]\n/v2.1/+: app\n").unwrap();
        assert_eq!(ini.sections.len(), 2);
        assert_eq!(ini.sections[0].get("x"), Some("1"));
        assert_eq!(ini.sections[0].get("y"), Some("two words"));
        assert_eq!(ini.sections[0].entry("y").unwrap().line, 5);
        assert_eq!(ini.sections[1].get("/v2.1/+"), Some("app"));
        assert_eq!(ini.sections[1].line, 7);
    }

    #[test]
    fn equals_before_colon_wins() {
        let ini = Ini::parse("[c]\nuse = call:a.b:c\n").unwrap();
        assert_eq!(ini.sections[0].get("use"), Some("call:a.b:c"));
    }

    #[test]
    fn continuation_lines_join() {
        let ini = Ini::parse("[p]\npipeline = a b\n  c d\n").unwrap();
        assert_eq!(ini.sections[0].get("pipeline"), Some("a b\nc d"));
    }

    #[test]
    fn later_entries_win() {
        let ini = Ini::parse("[a]\nx = 1\n[a]\nx = 2\n").unwrap();
        assert_eq!(ini.entry("a", "x").unwrap().value, "2");
        assert_eq!(ini.entry("a", "x").unwrap().line, 4);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(Ini::parse("x = 1\n").unwrap_err().line, 1);
        assert_eq!(Ini::parse("[a]\n[b\n").unwrap_err().line, 2);
        assert_eq!(Ini::parse("[a]\njunk\n").unwrap_err().line, 2);
        assert_eq!(Ini::parse("[]\n").unwrap_err().line, 1);
        assert_eq!(Ini::parse("  x\n").unwrap_err().line, 1);
    }
}
