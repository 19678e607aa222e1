//! The bootstrap file: projects, users and role assignments created when the server starts
//! with `[api] auth_strategy = token`.
//!
//! Start-up only (main thread, after the migrations, before the workers). Applying it is
//! idempotent and additive: what exists is left alone — in particular a user's password is
//! only set when the user is created, so `ringnova user passwd` survives restarts — and
//! nothing is ever deleted. It must never print or log a password from the file.
//!
//! Format (INI, `#` comments):
//!
//! ```ini
//! [project:admin]
//! description = Administrators
//!
//! [user:admin]
//! password = change-me
//! # <role> = <project>[, <project>…]: the role on each project (created if missing)
//! admin = admin
//! ```
//!
//! With no bootstrap file and no users at all, user `admin` is created in project `admin`
//! with role `admin` and a random password, which the caller prints once.

use std::path::Path;

use super::{password, store, IdentityError};
use crate::{config::ini::Ini, db::Db};

/// A parsed bootstrap file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Bootstrap {
    /// `(name, description)`.
    pub projects: Vec<(String, String)>,
    /// Users in file order.
    pub users: Vec<BootstrapUser>,
}

/// One `[user:NAME]` section.
#[derive(PartialEq, Eq)]
pub struct BootstrapUser {
    /// The name.
    pub name: String,
    /// The initial password.
    pub password: String,
    /// `(role, project)` pairs.
    pub grants: Vec<(String, String)>,
}

impl std::fmt::Debug for BootstrapUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapUser")
            .field("name", &self.name)
            .field("grants", &self.grants)
            .finish_non_exhaustive()
    }
}

/// What applying the bootstrap did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Users created.
    pub users_created: Vec<String>,
    /// The generated password of the default `admin` user, when it was just created.
    pub generated_admin_password: Option<String>,
}

impl Bootstrap {
    /// Parses bootstrap text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Bootstrap, IdentityError> {
        let err = |line: usize, reason: String| IdentityError::Bootstrap {
            path: file.to_path_buf(),
            line,
            reason,
        };
        let ini = Ini::parse(text).map_err(|e| err(e.line, e.reason.to_owned()))?;
        let mut out = Bootstrap::default();
        for section in &ini.sections {
            let Some((kind, name)) = section.name.split_once(':') else {
                if section.name == "DEFAULT" && section.entries.is_empty() {
                    continue;
                }
                return Err(err(
                    section.line,
                    format!(
                        "unknown section [{}]; expected [project:NAME] or [user:NAME]",
                        section.name
                    ),
                ));
            };
            let name = name.trim();
            if !store::valid_name(name) {
                return Err(err(section.line, format!("invalid name {name:?}")));
            }
            match kind.trim() {
                "project" => {
                    if let Some(entry) = section.entries.iter().find(|e| e.key != "description") {
                        return Err(err(entry.line, format!("unknown key {:?}", entry.key)));
                    }
                    out.projects.push((
                        name.to_owned(),
                        section.get("description").unwrap_or_default().to_owned(),
                    ));
                }
                "user" => {
                    let password = section
                        .get("password")
                        .filter(|p| !p.is_empty())
                        .ok_or_else(|| err(section.line, format!("user {name} has no password")))?;
                    let mut grants = Vec::new();
                    for entry in section.entries.iter().filter(|e| e.key != "password") {
                        if !store::valid_role_name(&entry.key) {
                            return Err(err(
                                entry.line,
                                format!("invalid role name {:?}", entry.key),
                            ));
                        }
                        for project in entry
                            .value
                            .split(',')
                            .map(str::trim)
                            .filter(|p| !p.is_empty())
                        {
                            if !store::valid_name(project) {
                                return Err(err(
                                    entry.line,
                                    format!("invalid project name {project:?}"),
                                ));
                            }
                            grants.push((entry.key.clone(), project.to_owned()));
                        }
                    }
                    out.users.push(BootstrapUser {
                        name: name.to_owned(),
                        password: password.to_owned(),
                        grants,
                    });
                }
                other => {
                    return Err(err(section.line, format!("unknown section kind {other:?}")));
                }
            }
        }
        Ok(out)
    }

    /// Reads and parses a bootstrap file.
    pub fn load(path: &Path) -> Result<Bootstrap, IdentityError> {
        let text = std::fs::read_to_string(path).map_err(|source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Bootstrap::parse(&text, path)
    }

    /// The default: `admin` in project `admin` with role admin and a random password.
    pub fn default_admin() -> Bootstrap {
        Bootstrap {
            projects: vec![(
                "admin".into(),
                "Bootstrap project for the admin user".into(),
            )],
            users: vec![BootstrapUser {
                name: "admin".into(),
                password: password::generate(),
                grants: vec![("admin".into(), "admin".into())],
            }],
        }
    }

    /// Creates what is missing.
    pub fn apply(&self, db: &Db) -> Result<Applied, IdentityError> {
        let mut applied = Applied::default();
        for (name, description) in &self.projects {
            store::ensure_project(db, name, description)?;
        }
        for user in &self.users {
            let existing = store::user_by_name(db.conn(), &user.name)?;
            let row = match existing {
                Some(row) => row,
                None => {
                    let hash = password::hash(&user.password)?;
                    applied.users_created.push(user.name.clone());
                    store::create_user(db, &user.name, &hash)?
                }
            };
            for (role, project) in &user.grants {
                let (project, _) = store::ensure_project(db, project, "")?;
                store::grant(db, &row.id, &project.id, role)?;
            }
        }
        Ok(applied)
    }
}

/// Applies the configured bootstrap file, or the default admin when there is none and the
/// database has no users.
pub fn run(file: Option<&Path>, db: &Db) -> Result<Applied, IdentityError> {
    match file {
        Some(path) => Bootstrap::load(path)?.apply(db),
        None => {
            if !store::users(db.conn())?.is_empty() {
                return Ok(Applied::default());
            }
            let bootstrap = Bootstrap::default_admin();
            let mut applied = bootstrap.apply(db)?;
            applied.generated_admin_password = Some(bootstrap.users[0].password.clone());
            Ok(applied)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_projects_users_and_grants() {
        let text = "[project:demo]\ndescription = Demo\n[user:alice]\npassword = pw\nmember = demo, other\nadmin = admin\n";
        let b = Bootstrap::parse(text, Path::new("b.ini")).unwrap();
        assert_eq!(b.projects, [("demo".to_owned(), "Demo".to_owned())]);
        assert_eq!(b.users[0].password, "pw");
        assert_eq!(
            b.users[0].grants,
            [
                ("member".to_owned(), "demo".to_owned()),
                ("member".to_owned(), "other".to_owned()),
                ("admin".to_owned(), "admin".to_owned())
            ]
        );
        assert!(!format!("{b:?}").contains("pw"));
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("[user:bob]\nmember = x\n", 1),
            ("[project:p]\nbogus = 1\n", 2),
            ("[group:g]\n", 1),
            ("[user:bob]\npassword = x\nbad.role = p\n", 3),
        ] {
            match Bootstrap::parse(text, Path::new("b.ini")) {
                Err(IdentityError::Bootstrap { line: got, .. }) => assert_eq!(got, line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
