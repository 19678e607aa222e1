//! The token signing key ring: HMAC-SHA256 keys in a file of the data directory.
//!
//! Start-up, the reload thread and `ringnova token rotate-key` read and write the file;
//! workers only use the loaded [`KeyRing`]. The file is created with mode 0600 on first use
//! and replaced atomically (write a temporary file, rename) on rotation. The newest key (the
//! highest id) signs; every key in the file verifies, so tokens signed before a rotation stay
//! valid until `max_active_keys` further rotations drop their key. Key bytes must never be
//! logged or printed.
//!
//! File format, one key per line (`#` comments allowed):
//!
//! ```text
//! <id> <32 bytes in unpadded URL-safe base64>
//! ```

use std::{
    fs::{self, OpenOptions},
    io::Write as _,
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::Path,
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use super::IdentityError;

/// The key ring's file name inside the data directory.
pub const KEY_FILE_NAME: &str = "token_keys";

/// One signing key, kept as the HMAC state after absorbing the key (cloned per token, so the
/// key's two padding blocks are not hashed again for every request).
#[derive(Clone)]
pub struct Key {
    /// Its id, carried in the tokens it signs.
    pub id: u32,
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// A key from its id and bytes.
    pub fn new(id: u32, bytes: &[u8; 32]) -> Key {
        Key {
            id,
            mac: Hmac::<Sha256>::new_from_slice(bytes).expect("HMAC takes any key length"),
        }
    }

    /// A fresh MAC keyed with this key.
    #[inline]
    pub fn mac(&self) -> Hmac<Sha256> {
        self.mac.clone()
    }
}

/// The loaded keys, newest first.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: Vec<Key>,
}

impl KeyRing {
    /// A ring of `keys` (any order).
    pub fn from_keys(mut keys: Vec<Key>) -> KeyRing {
        keys.sort_by_key(|k| std::cmp::Reverse(k.id));
        KeyRing { keys }
    }

    /// The signing key: the newest.
    pub fn primary(&self) -> Option<&Key> {
        self.keys.first()
    }

    /// The key with this id.
    #[inline]
    pub fn get(&self, id: u32) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The key ids, newest first.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.iter().map(|k| k.id)
    }

    /// Reads the key file.
    pub fn load(path: &Path) -> Result<KeyRing, IdentityError> {
        let text = fs::read_to_string(path).map_err(|source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let entries = parse(&text).map_err(|(line, reason)| IdentityError::KeyFile {
            path: path.to_path_buf(),
            line,
            reason,
        })?;
        if entries.is_empty() {
            return Err(IdentityError::KeyFile {
                path: path.to_path_buf(),
                line: 0,
                reason: "no keys".into(),
            });
        }
        Ok(KeyRing::from_keys(
            entries
                .iter()
                .map(|(id, bytes)| Key::new(*id, bytes))
                .collect(),
        ))
    }

    /// Reads the key file, creating it (mode 0600, one new key) when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<KeyRing, IdentityError> {
        if !path.exists() {
            write_file(path, &[(1, random_key())], true)?;
            log::info!("created token signing key ring {}", path.display());
        }
        let mode = fs::metadata(path)
            .map_err(|source| IdentityError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            log::warn!(
                "token key file {} is readable by others (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            );
        }
        KeyRing::load(path)
    }
}

/// Adds a new newest key to the file (creating it if needed) and keeps the newest `keep`
/// keys; returns the new key's id and the ids dropped.
pub fn rotate(path: &Path, keep: usize) -> Result<(u32, Vec<u32>), IdentityError> {
    let mut entries = if path.exists() {
        let text = fs::read_to_string(path).map_err(|source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        parse(&text).map_err(|(line, reason)| IdentityError::KeyFile {
            path: path.to_path_buf(),
            line,
            reason,
        })?
    } else {
        Vec::new()
    };
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    let id = entries.first().map_or(1, |(id, _)| id + 1);
    entries.insert(0, (id, random_key()));
    let dropped = entries.split_off(keep.max(2).min(entries.len()));
    write_file(path, &entries, false)?;
    Ok((id, dropped.into_iter().map(|(id, _)| id).collect()))
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the OS random source works");
    key
}

/// Key file entries: `(id, key bytes)`.
type Entries = Vec<(u32, [u8; 32])>;

fn parse(text: &str) -> Result<Entries, (usize, String)> {
    let mut keys: Vec<(u32, [u8; 32])> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason: &str| (index + 1, reason.to_owned());
        let (id, key) = line
            .split_once(' ')
            .ok_or_else(|| bad("expected '<id> <key>'"))?;
        let id: u32 = id
            .parse()
            .ok()
            .filter(|&id| id > 0)
            .ok_or_else(|| bad("the key id is not a positive number"))?;
        let mut bytes = [0u8; 36];
        let len = URL_SAFE_NO_PAD
            .decode_slice(key.trim(), &mut bytes)
            .map_err(|_| bad("the key is not URL-safe base64"))?;
        if len != 32 {
            return Err(bad("a key must be 32 bytes"));
        }
        if keys.iter().any(|(other, _)| *other == id) {
            return Err(bad("duplicate key id"));
        }
        keys.push((id, bytes[..32].try_into().expect("32 bytes")));
    }
    Ok(keys)
}

fn write_file(
    path: &Path,
    keys: &[(u32, [u8; 32])],
    create_new: bool,
) -> Result<(), IdentityError> {
    let io = |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io)?;
    }
    let mut text = String::from(
        "# ringnova token signing keys: <id> <key>. The highest id signs; all verify.\n\
         # Secret: keep this file mode 0600. Rotate with 'ringnova token rotate-key'.\n",
    );
    for (id, key) in keys {
        text.push_str(&format!("{id} {}\n", URL_SAFE_NO_PAD.encode(key)));
    }
    let target = if create_new {
        path.to_path_buf()
    } else {
        path.with_extension(format!("tmp{}", std::process::id()))
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&target)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    if !create_new {
        fs::rename(&target, path).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_private_rotated_and_trimmed() {
        let dir = std::env::temp_dir().join(format!("ringnova-keys-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join(KEY_FILE_NAME);
        let ring = KeyRing::load_or_create(&path).unwrap();
        assert_eq!(ring.ids().collect::<Vec<_>>(), [1]);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(rotate(&path, 3).unwrap(), (2, vec![]));
        assert_eq!(rotate(&path, 3).unwrap(), (3, vec![]));
        assert_eq!(rotate(&path, 3).unwrap(), (4, vec![1]));
        let ring = KeyRing::load_or_create(&path).unwrap();
        assert_eq!(ring.ids().collect::<Vec<_>>(), [4, 3, 2]);
        assert_eq!(ring.primary().unwrap().id, 4);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::write(&path, "1 short\n").unwrap();
        let err = KeyRing::load(&path).unwrap_err().to_string();
        assert!(err.contains(":1:"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }
}
