//! `[identity]`: the settings of the built-in identity endpoint and of token verification
//! (`[api] auth_strategy = token`).
//!
//! Start-up only: read once by `Config::load` through the option table. It must never read
//! the bootstrap file or the key ring itself; the identity module does that when the server
//! (or a `ringnova user` command) starts.

use std::{path::PathBuf, time::Duration};

use super::{ConfigError, Reader};

/// `[identity]` options, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityConfig {
    /// `bootstrap_file`: users, projects and role assignments to create on start-up; `None`
    /// means "create `admin` with a random password printed once when there are no users".
    pub bootstrap_file: Option<PathBuf>,
    /// `token_expiration`: lifetime of an issued token.
    pub token_expiration: Duration,
    /// `compute_endpoint`: the compute URL listed in the catalog; `None` builds it from the
    /// request's scheme and Host plus `/v2.1`.
    pub compute_endpoint: Option<String>,
    /// `public_endpoint`: the identity URL listed in the catalog and in `WWW-Authenticate`;
    /// `None` builds it from the request plus `/identity`.
    pub public_endpoint: Option<String>,
    /// `region_name`: the catalog's region.
    pub region_name: String,
    /// `max_active_keys`: signing keys kept by `ringnova token rotate-key` (the newest signs,
    /// all verify).
    pub max_active_keys: usize,
    /// The key ring file (`token_keys` in the data directory).
    pub key_file: PathBuf,
}

impl IdentityConfig {
    pub(super) fn from_reader(
        r: &Reader<'_>,
        data_dir: &std::path::Path,
    ) -> Result<IdentityConfig, ConfigError> {
        let optional = |t: &str| Ok(Some(t.to_owned()).filter(|t| !t.is_empty()));
        let bootstrap_file = r
            .parse("identity", "bootstrap_file", optional)?
            .map(|file| match (r.path, PathBuf::from(&file)) {
                (Some(conf), path) if path.is_relative() => conf
                    .parent()
                    .unwrap_or_else(|| std::path::Path::new("."))
                    .join(path),
                (_, path) => path,
            });
        let url = |t: &str| {
            if t.is_empty() {
                Ok(None)
            } else if t.starts_with("http://") || t.starts_with("https://") {
                Ok(Some(t.trim_end_matches('/').to_owned()))
            } else {
                Err("expected an http:// or https:// URL".to_string())
            }
        };
        Ok(IdentityConfig {
            bootstrap_file,
            token_expiration: r.parse("identity", "token_expiration", |t| {
                match t.parse::<u64>() {
                    Ok(n) if (1..=30 * 86_400).contains(&n) => Ok(Duration::from_secs(n)),
                    _ => Err("expected whole seconds from 1 to 2592000 (30 days)".to_string()),
                }
            })?,
            compute_endpoint: r.parse("identity", "compute_endpoint", url)?,
            public_endpoint: r.parse("identity", "public_endpoint", url)?,
            region_name: r.parse("identity", "region_name", |t| {
                if t.is_empty() || t.bytes().any(|b| b.is_ascii_control() || b == b'"') {
                    Err("expected a non-empty name".to_string())
                } else {
                    Ok(t.to_owned())
                }
            })?,
            max_active_keys: r.parse("identity", "max_active_keys", |t| {
                match t.parse::<usize>() {
                    Ok(n) if (2..=32).contains(&n) => Ok(n),
                    _ => Err("expected a whole number from 2 to 32".to_string()),
                }
            })?,
            key_file: data_dir.join(crate::identity::keys::KEY_FILE_NAME),
        })
    }
}
