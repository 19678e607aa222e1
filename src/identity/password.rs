//! Password hashing: argon2id (RustCrypto's `argon2` crate) in PHC string form.
//!
//! Used when a token is requested with the password method and by `ringnova user`. Hashing
//! costs tens of milliseconds of one core by design (OWASP's argon2id minimum: 19 MiB, two
//! passes); it must never run in the auth filter, and passwords must never be logged, stored
//! or echoed.

use argon2::{
    password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString},
    Argon2,
};

use super::IdentityError;

/// Hashes a password with a fresh random salt.
pub fn hash(password: &str) -> Result<String, IdentityError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random source works");
    let salt = SaltString::encode_b64(&salt).map_err(|e| IdentityError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| IdentityError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC hash (false for an unreadable hash).
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A random password: 20 characters of unpadded URL-safe base64 (120 bits).
pub fn generate() -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    let mut bytes = [0u8; 15];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash("s3cret").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert!(!a.contains("s3cret"));
        assert!(verify("s3cret", &a));
        assert!(!verify("s3creT", &a));
        assert!(!verify("s3cret", "garbage"));
        assert_ne!(a, hash("s3cret").unwrap());
        assert_eq!(generate().len(), 20);
    }
}
