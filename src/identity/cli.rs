//! `ringnova user …` and `ringnova token rotate-key`: manage the identity tables and the
//! token key ring of the configured data directory, also while the server runs (SQLite WAL;
//! the server's reload thread picks up revocations and new keys within a second).
//!
//! Runs on the binary's main thread and prints plain text to stdout. It must never print a
//! password it did not generate, nor any token or key. Changing a password, revoking a role
//! or deleting a user revokes that user's existing tokens, as Keystone does.

use std::io::BufRead as _;

use clap::{Args, Subcommand};

use super::{keys, password, store, IdentityError};
use crate::{config::Config, db::Db};

/// How a command gets a password.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// The password (visible to other local users in the process list; prefer
    /// --password-stdin).
    #[arg(long, value_name = "PASSWORD", conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

impl PasswordArgs {
    /// The password given, or a generated one (and whether it was generated).
    fn resolve(&self) -> Result<(String, bool), IdentityError> {
        if let Some(pw) = &self.password {
            return Ok((pw.clone(), false));
        }
        if self.password_stdin {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|source| IdentityError::Io {
                    path: "<stdin>".into(),
                    source,
                })?;
            let pw = line.trim_end_matches(['\r', '\n']).to_owned();
            if pw.is_empty() {
                return Err(IdentityError::InvalidName("<empty password>".into()));
            }
            return Ok((pw, false));
        }
        Ok((password::generate(), true))
    }
}

/// `ringnova user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (a random password is generated and printed unless one is given).
    Add {
        /// User name.
        name: String,
        /// How the password is given.
        #[command(flatten)]
        password: PasswordArgs,
        /// Grant a role on this project (created if missing).
        #[arg(long, value_name = "PROJECT")]
        project: Option<String>,
        /// The role granted with --project.
        #[arg(
            long,
            value_name = "ROLE",
            default_value = "member",
            requires = "project"
        )]
        role: String,
    },
    /// List users and their role assignments.
    List,
    /// Set a user's password (revokes the user's tokens).
    Passwd {
        /// User name.
        name: String,
        /// How the password is given.
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Grant a role on a project (the project is created if missing).
    Grant {
        /// User name.
        name: String,
        /// Role name (admin implies member, member implies reader).
        role: String,
        /// Project name.
        #[arg(long, value_name = "PROJECT")]
        project: String,
    },
    /// Revoke a role on a project (revokes the user's tokens).
    Revoke {
        /// User name.
        name: String,
        /// Role name.
        role: String,
        /// Project name.
        #[arg(long, value_name = "PROJECT")]
        project: String,
    },
    /// Delete a user and its assignments (revokes the user's tokens).
    Delete {
        /// User name.
        name: String,
    },
}

/// `ringnova token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Add a new signing key; the previous ones keep verifying until max_active_keys newer
    /// keys push them out.
    RotateKey,
}

fn user(db: &Db, name: &str) -> Result<store::User, IdentityError> {
    store::user_by_name(db.conn(), name)?
        .ok_or_else(|| IdentityError::NotFound(format!("user {name}")))
}

fn project(db: &Db, name: &str) -> Result<store::Project, IdentityError> {
    store::project_by_name(db.conn(), name)?
        .ok_or_else(|| IdentityError::NotFound(format!("project {name}")))
}

fn revocation_expiry(config: &Config) -> u64 {
    super::now_ms() + config.identity.token_expiration.as_millis() as u64
}

/// Runs a `user` command on the configured database (migrations must have run).
pub fn run_user(command: &UserCommand, config: &Config) -> Result<(), IdentityError> {
    let db = Db::open(&config.database)?;
    match command {
        UserCommand::Add {
            name,
            password: pw,
            project,
            role,
        } => {
            let (secret, generated) = pw.resolve()?;
            let hash = password::hash(&secret)?;
            let row = store::create_user(&db, name, &hash)?;
            println!("created user {name} (id {})", row.id);
            if generated {
                println!("password: {secret}");
            }
            if let Some(project) = project {
                let (p, created) = store::ensure_project(&db, project, "")?;
                if created {
                    println!("created project {project} (id {})", p.id);
                }
                store::grant(&db, &row.id, &p.id, role)?;
                println!("granted {role} on {project} to {name}");
            }
        }
        UserCommand::List => {
            let assignments = store::assignments(db.conn())?;
            println!("{:<32}  {:<24}  {:<7}  roles", "id", "name", "enabled");
            for u in store::users(db.conn())? {
                let roles: Vec<String> = assignments
                    .iter()
                    .filter(|(user, _, _)| *user == u.name)
                    .map(|(_, project, role)| format!("{role}@{project}"))
                    .collect();
                println!(
                    "{:<32}  {:<24}  {:<7}  {}",
                    u.id,
                    u.name,
                    u.enabled,
                    roles.join(", ")
                );
            }
        }
        UserCommand::Passwd { name, password: pw } => {
            let row = user(&db, name)?;
            let (secret, generated) = pw.resolve()?;
            store::set_password(
                &db,
                &row.id,
                &password::hash(&secret)?,
                revocation_expiry(config),
            )?;
            println!("password of {name} changed; its tokens are revoked");
            if generated {
                println!("password: {secret}");
            }
        }
        UserCommand::Grant {
            name,
            role,
            project,
        } => {
            let row = user(&db, name)?;
            let (p, created) = store::ensure_project(&db, project, "")?;
            if created {
                println!("created project {project} (id {})", p.id);
            }
            if store::grant(&db, &row.id, &p.id, role)? {
                println!("granted {role} on {project} to {name}");
            } else {
                println!("{name} already has {role} on {project}");
            }
        }
        UserCommand::Revoke {
            name,
            role,
            project: project_name,
        } => {
            let row = user(&db, name)?;
            let p = project(&db, project_name)?;
            if store::revoke_grant(&db, &row.id, &p.id, role, revocation_expiry(config))? {
                println!("revoked {role} on {project_name} from {name}; its tokens are revoked");
            } else {
                return Err(IdentityError::NotFound(format!(
                    "assignment of {role} on {project_name} to {name}"
                )));
            }
        }
        UserCommand::Delete { name } => {
            let row = user(&db, name)?;
            store::delete_user(&db, &row.id, revocation_expiry(config))?;
            println!("deleted user {name}; its tokens are revoked");
        }
    }
    Ok(())
}

/// Runs a `token` command.
pub fn run_token(command: &TokenCommand, config: &Config) -> Result<(), IdentityError> {
    match command {
        TokenCommand::RotateKey => {
            let path = &config.identity.key_file;
            let (id, dropped) = keys::rotate(path, config.identity.max_active_keys)?;
            println!("{}: key {id} now signs new tokens", path.display());
            if !dropped.is_empty() {
                println!("dropped key(s) {dropped:?}: tokens they signed are no longer valid");
            }
        }
    }
    Ok(())
}
