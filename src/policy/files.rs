//! Policy files: oslo.policy's `policy.yaml` and `policy.d/` read into overrides and
//! compiled into an [`Enforcer`].
//!
//! Runs on the main thread at start-up and on the policy watcher thread (see
//! [`live`](super::live)) when the files change; never on a request's path. It must never
//! panic on a file's contents and never return a half-read rule set: a file that cannot
//! be read or parsed is an error for the whole load, and the caller keeps what it had.
//!
//! # The files (as oslo.policy reads them)
//!
//! * `[oslo_policy] policy_file` (default `policy.yaml`), then every regular file of each
//!   directory in `policy_dirs` (default `policy.d`), in sorted name order, dot-files
//!   skipped. Later files replace earlier ones rule by rule. Registered defaults fill in
//!   every rule no file names.
//! * Each file is YAML whose top level maps rule names to check strings. JSON is accepted
//!   (it is read by the same parser, as oslo does with `yaml.safe_load`). An empty file
//!   (or one holding only comments) has no rules.
//! * A missing `policy_file` or policy directory is not an error: the defaults apply.
//! * A file that is not a mapping of names to strings is an error naming the file and,
//!   where the parser knows it, the line and column. A rule with no value (`name:` or
//!   `name: null`), which oslo would read as "always allow", is refused too: write `""`
//!   to mean that. Rule *texts* that do not parse are not file errors: as in oslo, such a
//!   rule denies and is reported among the [`Loaded::notes`].
//!
//! Parsing uses `serde_norway`, the maintained fork of `serde_yaml` (libyaml-based, YAML
//! 1.1 like PyYAML, errors with line and column).

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    time::SystemTime,
};

use super::{Enforcer, Warning};

/// Where the policy files are and how to compile them (`[oslo_policy]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFiles {
    /// `policy_file`, already resolved against the configuration file's directory.
    pub policy_file: PathBuf,
    /// `policy_dirs`, resolved the same way.
    pub policy_dirs: Vec<PathBuf>,
    /// `enforce_new_defaults`.
    pub enforce_new_defaults: bool,
    /// `policy_default_rule`.
    pub default_rule: String,
    /// Rules registered besides Nova's, with their default check strings: those of the
    /// loaded API extensions (see `api::extensions`).
    pub extra_defaults: Vec<(String, String)>,
}

impl Default for PolicyFiles {
    /// oslo's defaults, relative to the working directory.
    fn default() -> Self {
        PolicyFiles {
            policy_file: PathBuf::from("policy.yaml"),
            policy_dirs: vec![PathBuf::from("policy.d")],
            enforce_new_defaults: true,
            default_rule: super::DEFAULT_RULE.to_owned(),
            extra_defaults: Vec::new(),
        }
    }
}

/// A policy file that could not be used.
#[derive(Debug)]
pub enum PolicyFileError {
    /// The file or directory exists but could not be read.
    Read(PathBuf, std::io::Error),
    /// The file is not a YAML/JSON mapping of rule names to check strings.
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line and column, when the parser knows them.
        at: Option<(usize, usize)>,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for PolicyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyFileError::Read(path, err) => {
                write!(f, "cannot read policy file {}: {err}", path.display())
            }
            PolicyFileError::Parse { path, at, reason } => {
                write!(f, "policy file {}", path.display())?;
                if let Some((line, column)) = at {
                    write!(f, ":{line}:{column}")?;
                }
                write!(f, ": {reason}")
            }
        }
    }
}

impl std::error::Error for PolicyFileError {}

/// A compiled rule set and what loading it found.
#[derive(Debug)]
pub struct Loaded {
    /// The rules: registered defaults with every file's overrides.
    pub enforcer: Enforcer,
    /// The files read, in the order they were applied.
    pub sources: Vec<PathBuf>,
    /// Things an operator should hear about, one line each: rules that deny because of
    /// their text (syntax, remote `http:` checks, unknown `rule:` names), and rule names
    /// Nova does not register (kept, usable through `rule:`).
    pub notes: Vec<String>,
}

/// What the files looked like, to notice a change: every file that would be read, with
/// its size, modification time and inode, plus each directory's own modification time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Vec<(PathBuf, u64, Option<SystemTime>, u64)>);

impl PolicyFiles {
    /// The files that would be read now, in order: `policy_file` if it exists, then each
    /// directory's regular files, sorted by name, dot-files skipped.
    pub fn paths(&self) -> Result<Vec<PathBuf>, PolicyFileError> {
        let mut paths = Vec::new();
        if self.policy_file.is_file() {
            paths.push(self.policy_file.clone());
        }
        for dir in &self.policy_dirs {
            let entries = match std::fs::read_dir(dir) {
                Ok(entries) => entries,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) if err.kind() == std::io::ErrorKind::NotADirectory => continue,
                Err(err) => return Err(PolicyFileError::Read(dir.clone(), err)),
            };
            let mut files = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|err| PolicyFileError::Read(dir.clone(), err))?;
                let name = entry.file_name();
                if name.to_string_lossy().starts_with('.') {
                    continue;
                }
                let path = entry.path();
                if path.is_file() {
                    files.push(path);
                }
            }
            files.sort();
            paths.extend(files);
        }
        Ok(paths)
    }

    /// A cheap summary of the files (one `stat` each) that changes when any of them is
    /// written, created, removed or replaced.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut seen = Vec::new();
        let stat = |path: &Path, seen: &mut Vec<_>| {
            if let Ok(meta) = std::fs::metadata(path) {
                use std::os::unix::fs::MetadataExt;
                seen.push((
                    path.to_path_buf(),
                    meta.len(),
                    meta.modified().ok(),
                    meta.ino(),
                ));
            }
        };
        stat(&self.policy_file, &mut seen);
        for dir in &self.policy_dirs {
            stat(dir, &mut seen);
        }
        if let Ok(paths) = self.paths() {
            for path in paths.iter().filter(|p| **p != self.policy_file) {
                stat(path, &mut seen);
            }
        }
        Fingerprint(seen)
    }

    /// Reads every file and compiles the rules. Any file that cannot be read or parsed
    /// fails the whole load.
    pub fn load(&self) -> Result<Loaded, PolicyFileError> {
        let sources = self.paths()?;
        let mut overrides: Vec<(String, String)> = Vec::new();
        for path in &sources {
            let text = std::fs::read_to_string(path)
                .map_err(|err| PolicyFileError::Read(path.clone(), err))?;
            overrides.extend(parse_rules(&text, path)?);
        }
        let enforcer = Enforcer::builder()
            .with_enforce_new_defaults(self.enforce_new_defaults)
            .with_default_rule(&self.default_rule)
            .with_overrides(overrides.iter().map(|(n, c)| (n.as_str(), c.as_str())))
            .with_extra_defaults(
                self.extra_defaults
                    .iter()
                    .map(|(n, c)| (n.as_str(), c.as_str())),
            )
            .build();
        let notes = notes(&enforcer);
        Ok(Loaded {
            enforcer,
            sources,
            notes,
        })
    }
}

/// What an operator should hear about a compiled rule set (see [`Loaded::notes`]).
pub fn notes(enforcer: &Enforcer) -> Vec<String> {
    let mut notes: Vec<String> = enforcer
        .warnings()
        .iter()
        .filter(|(_, warning)| !matches!(warning, Warning::NoColon(_)))
        .map(|(rule, warning)| format!("policy rule {rule}: {warning}"))
        .collect();
    let unregistered: Vec<&str> = enforcer
        .names()
        .filter(|name| !enforcer.is_registered(name))
        .collect();
    if !unregistered.is_empty() {
        notes.push(format!(
            "policy rules Nova does not register (kept, usable through rule:): {}",
            unregistered.join(", ")
        ));
    }
    notes
}

/// Parses one policy file's text into `(name, check_str)` pairs, sorted by name (a name
/// appears once per file).
pub fn parse_rules(text: &str, path: &Path) -> Result<Vec<(String, String)>, PolicyFileError> {
    let error = |at, reason: String| PolicyFileError::Parse {
        path: path.to_path_buf(),
        at,
        reason,
    };
    let parsed: Option<BTreeMap<String, CheckStr>> =
        serde_norway::from_str(text).map_err(|err| {
            let at = err.location().map(|l| (l.line(), l.column()));
            error(at, plain_reason(&err.to_string()))
        })?;
    let mut rules = Vec::new();
    for (name, check) in parsed.unwrap_or_default() {
        let CheckStr(Some(check)) = check else {
            return Err(error(
                find_line(text, &name),
                format!(
                    "rule {name:?} has no check string (oslo would read that as always \
                     allowed); write \"\" to allow everyone or \"!\" to allow no one"
                ),
            ));
        };
        rules.push((name, check));
    }
    Ok(rules)
}

/// A rule's value in a policy file: a string, or nothing (`name:` / `name: null`, refused
/// with its own message). Booleans, numbers, lists and maps are refused by the parser
/// with their line and column (YAML would otherwise turn `true` into the text `true`).
struct CheckStr(Option<String>);

impl<'de> serde::Deserialize<'de> for CheckStr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = CheckStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a check string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<CheckStr, E> {
                Ok(CheckStr(Some(text.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<CheckStr, E> {
                Ok(CheckStr(Some(text)))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<CheckStr, E> {
                Ok(CheckStr(None))
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<CheckStr, E> {
                Ok(CheckStr(None))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The error text without serde's trailing location (the caller prints its own), and
/// with serde's type words in terms of a policy file.
fn plain_reason(text: &str) -> String {
    let text = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => text,
    };
    if text.contains("expected a map") {
        format!("{text} (the file must map rule names to check strings)")
    } else {
        text.to_owned()
    }
}

/// The first line (1-based, column 1) that starts with `name` as a key, for errors found
/// after parsing.
fn find_line(text: &str, name: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let line = line.trim_start();
        let key = line
            .strip_prefix(['"', '\''])
            .unwrap_or(line)
            .strip_prefix(name)?;
        key.trim_start_matches(['"', '\''])
            .trim_start()
            .starts_with(':')
            .then_some((i + 1, 1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
        parse_rules(text, Path::new("/etc/nova/policy.yaml")).map_err(|e| e.to_string())
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, c)| (n.to_string(), c.to_string()))
            .collect()
    }

    #[test]
    fn yaml_and_json_files_parse() {
        assert_eq!(
            parse("# comment\n\"os_compute_api:os-keypairs:index\": \"!\"\nb: role:admin or role:x\nc: ''\n"),
            Ok(pairs(&[
                ("b", "role:admin or role:x"),
                ("c", ""),
                ("os_compute_api:os-keypairs:index", "!")
            ]))
        );
        assert_eq!(
            parse("{\"a\": \"@\", \"b\": \"rule:a\"}"),
            Ok(pairs(&[("a", "@"), ("b", "rule:a")]))
        );
        assert_eq!(parse(""), Ok(vec![]));
        assert_eq!(parse("# only comments\n"), Ok(vec![]));
        assert_eq!(parse("{}"), Ok(vec![]));
    }

    #[test]
    fn broken_files_say_where() {
        let err = parse("a: '@'\nb: [unclosed\n").unwrap_err();
        assert!(
            err.starts_with("policy file /etc/nova/policy.yaml:"),
            "{err}"
        );
        assert!(err.contains(":3:") || err.contains(":2:"), "{err}");
        let err = parse("a: '@'\nb: true\n").unwrap_err();
        assert!(err.contains("policy.yaml:2:4"), "{err}");
        assert!(err.contains("expected a check string"), "{err}");
        let err = parse("- a\n- b\n").unwrap_err();
        assert!(err.contains("rule names to check strings"), "{err}");
        let err = parse("a: '@'\n\"b\":\n").unwrap_err();
        assert!(err.contains("policy.yaml:2:1"), "{err}");
        assert!(err.contains("\"b\" has no check string"), "{err}");
        let err = parse("a: {x: y}\n").unwrap_err();
        assert!(err.contains("policy.yaml:1:"), "{err}");
    }

    #[test]
    fn files_merge_in_order_and_missing_files_are_defaults() {
        let dir =
            std::env::temp_dir().join(format!("ringnova-policy-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("policy.d")).unwrap();
        let files = PolicyFiles {
            policy_file: dir.join("policy.yaml"),
            policy_dirs: vec![dir.join("policy.d"), dir.join("absent.d")],
            ..PolicyFiles::default()
        };
        let loaded = files.load().unwrap();
        assert!(loaded.sources.is_empty());
        assert_eq!(loaded.notes, Vec::<String>::new());
        let before = files.fingerprint();
        std::fs::write(
            dir.join("policy.yaml"),
            "os_compute_api:limits: '!'\nhelper: role:a\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("policy.d/20-b.yaml"),
            "os_compute_api:limits: role:b\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("policy.d/10-a.json"),
            "{\"os_compute_api:limits\": \"role:a\", \"x\": \"http://remote\"}",
        )
        .unwrap();
        std::fs::write(dir.join("policy.d/.hidden"), "not: [valid").unwrap();
        assert_ne!(files.fingerprint(), before);
        let loaded = files.load().unwrap();
        assert_eq!(
            loaded.sources,
            [
                dir.join("policy.yaml"),
                dir.join("policy.d/10-a.json"),
                dir.join("policy.d/20-b.yaml")
            ]
        );
        assert_eq!(
            loaded.enforcer.check_str("os_compute_api:limits"),
            Some("role:b")
        );
        assert_eq!(loaded.enforcer.check_str("helper"), Some("role:a"));
        assert!(
            loaded
                .notes
                .iter()
                .any(|n| n.starts_with("policy rule x: remote check")),
            "{:?}",
            loaded.notes
        );
        assert!(loaded
            .notes
            .iter()
            .any(|n| n.ends_with("(kept, usable through rule:): helper, x")));
        // A fingerprint is stable while nothing changes.
        assert_eq!(files.fingerprint(), files.fingerprint());
        std::fs::write(dir.join("policy.d/20-b.yaml"), "os_compute_api:limits: [").unwrap();
        let err = files.load().unwrap_err().to_string();
        assert!(err.contains("20-b.yaml:"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
