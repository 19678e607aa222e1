//! The token text: what a ringnova token carries, and how it is signed and checked.
//!
//! Pure functions over strings and a [`KeyRing`]: no I/O, no clock, and verification allocates
//! nothing (the fields it returns borrow from the token text, so the auth filter can put them
//! straight into the request context). It must never accept a token whose signature it has
//! not checked in constant time, and never print a token or a key.
//!
//! A token is URL-safe ASCII (`A-Z a-z 0-9 - _ ~ .`), nine fields joined by `.`:
//!
//! ```text
//! r1.<key id>.<issued ms>.<expires ms>.<audit id>.<user id>.<project id>.<roles>.<mac>
//! ```
//!
//! Times are milliseconds since the Unix epoch; the project is empty in an unscoped token;
//! roles are joined by `~` (implied roles included); `mac` is HMAC-SHA256 over everything
//! before the last `.`, with the key named by `key id`, in unpadded URL-safe base64. Tokens
//! are signed, not encrypted: they show ids and role names, never a secret.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use hmac::Mac as _;

use super::keys::{Key, KeyRing};

/// The format tag of the first field.
pub const VERSION: &str = "r1";
/// Longest token accepted (a longer `X-Auth-Token` is refused without any work).
pub const MAX_LEN: usize = 1024;
/// The role separator inside the roles field.
pub const ROLE_SEPARATOR: char = '~';
/// Length of the base64 MAC field.
const MAC_TEXT_LEN: usize = 43;

/// What a token says, borrowed from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims<'a> {
    /// The signing key's id.
    pub key_id: u32,
    /// Issued at, ms since the epoch.
    pub issued_ms: u64,
    /// Expires at, ms since the epoch.
    pub expires_ms: u64,
    /// Keystone's audit id: 22 characters of URL-safe base64.
    pub audit_id: &'a str,
    /// The user's id.
    pub user_id: &'a str,
    /// The project's id; `None` for an unscoped token.
    pub project_id: Option<&'a str>,
    /// Role names joined by `~`; empty for an unscoped token.
    pub roles: &'a str,
}

impl<'a> Claims<'a> {
    /// The role names.
    pub fn role_names(&self) -> impl Iterator<Item = &'a str> {
        self.roles.split(ROLE_SEPARATOR).filter(|r| !r.is_empty())
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a ringnova token (bad shape, too long, bad characters).
    Malformed,
    /// Signed with a key that is not (or no longer) in the key ring.
    UnknownKey,
    /// The signature does not match.
    BadSignature,
    /// Past its expiry.
    Expired,
    /// Revoked (by `DELETE /v3/auth/tokens`, or the user's password, roles or account
    /// changed).
    Revoked,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenError::Malformed => "malformed token",
            TokenError::UnknownKey => "token signed with an unknown key",
            TokenError::BadSignature => "bad token signature",
            TokenError::Expired => "token expired",
            TokenError::Revoked => "token revoked",
        })
    }
}

impl std::error::Error for TokenError {}

/// Whether `text` may be an id, a role name or an audit id inside a token:
/// non-empty, at most 64 bytes of `A-Z a-z 0-9 - _`.
pub fn is_field(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn parse_ms(text: &str) -> Result<u64, TokenError> {
    if text.is_empty() || text.len() > 16 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TokenError::Malformed);
    }
    text.parse().map_err(|_| TokenError::Malformed)
}

/// Splits a token into its claims, the signed text and the MAC text, checking only its
/// shape.
pub fn parse(text: &str) -> Result<(Claims<'_>, &str, &str), TokenError> {
    if text.len() > MAX_LEN {
        return Err(TokenError::Malformed);
    }
    let (signed, mac) = text.rsplit_once('.').ok_or(TokenError::Malformed)?;
    if mac.len() != MAC_TEXT_LEN {
        return Err(TokenError::Malformed);
    }
    let mut fields = signed.split('.');
    let mut next = || fields.next().ok_or(TokenError::Malformed);
    if next()? != VERSION {
        return Err(TokenError::Malformed);
    }
    let key_id = next()?;
    if key_id.is_empty() || key_id.len() > 9 || !key_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TokenError::Malformed);
    }
    let key_id = key_id.parse().map_err(|_| TokenError::Malformed)?;
    let issued_ms = parse_ms(next()?)?;
    let expires_ms = parse_ms(next()?)?;
    let audit_id = next()?;
    let user_id = next()?;
    let project_id = next()?;
    let roles = next()?;
    if fields.next().is_some()
        || !is_field(audit_id)
        || !is_field(user_id)
        || !(project_id.is_empty() || is_field(project_id))
        || !roles
            .split(ROLE_SEPARATOR)
            .all(|r| r.is_empty() || is_field(r))
    {
        return Err(TokenError::Malformed);
    }
    let claims = Claims {
        key_id,
        issued_ms,
        expires_ms,
        audit_id,
        user_id,
        project_id: Some(project_id).filter(|p| !p.is_empty()),
        roles,
    };
    Ok((claims, signed, mac))
}

/// Signs `claims` with `key` (the claims' `key_id` is replaced by the key's id).
///
/// Panics if a field is not [`is_field`] text: callers build claims from stored ids and
/// validated role names.
pub fn sign(key: &Key, claims: &Claims<'_>) -> String {
    assert!(is_field(claims.audit_id) && is_field(claims.user_id));
    assert!(claims.project_id.is_none_or(is_field));
    assert!(claims
        .roles
        .split(ROLE_SEPARATOR)
        .all(|r| r.is_empty() || is_field(r)));
    let mut text = format!(
        "{VERSION}.{}.{}.{}.{}.{}.{}.{}",
        key.id,
        claims.issued_ms,
        claims.expires_ms,
        claims.audit_id,
        claims.user_id,
        claims.project_id.unwrap_or(""),
        claims.roles
    );
    let mut mac = key.mac();
    mac.update(text.as_bytes());
    let tag = mac.finalize().into_bytes();
    text.push('.');
    URL_SAFE_NO_PAD.encode_string(tag, &mut text);
    text
}

/// Checks a token's shape, key, signature and expiry at `now_ms`; returns its claims.
/// Revocation is the caller's business. Allocates nothing.
pub fn verify<'a>(ring: &KeyRing, text: &'a str, now_ms: u64) -> Result<Claims<'a>, TokenError> {
    let (claims, signed, mac_text) = parse(text)?;
    let key = ring.get(claims.key_id).ok_or(TokenError::UnknownKey)?;
    let mut tag = [0u8; 36];
    let len = URL_SAFE_NO_PAD
        .decode_slice(mac_text, &mut tag)
        .map_err(|_| TokenError::Malformed)?;
    let mut mac = key.mac();
    mac.update(signed.as_bytes());
    mac.verify_slice(&tag[..len])
        .map_err(|_| TokenError::BadSignature)?;
    if claims.expires_ms <= now_ms {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// A new audit id: 16 random bytes in unpadded URL-safe base64 (22 characters), as
/// Keystone's.
pub fn new_audit_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::from_keys(vec![Key::new(7, &[1; 32]), Key::new(6, &[2; 32])])
    }

    fn claims<'a>(audit: &'a str) -> Claims<'a> {
        Claims {
            key_id: 0,
            issued_ms: 1_000,
            expires_ms: 5_000,
            audit_id: audit,
            user_id: "u1",
            project_id: Some("p1"),
            roles: "admin~member~reader",
        }
    }

    #[test]
    fn signed_tokens_verify_and_carry_their_claims() {
        let ring = ring();
        let text = sign(ring.primary().unwrap(), &claims("aud"));
        assert!(text.starts_with("r1.7.1000.5000.aud.u1.p1.admin~member~reader."));
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_~.".contains(&b)));
        let got = verify(&ring, &text, 4_999).unwrap();
        assert_eq!(got.key_id, 7);
        assert_eq!(got.project_id, Some("p1"));
        assert_eq!(
            got.role_names().collect::<Vec<_>>(),
            ["admin", "member", "reader"]
        );
        assert_eq!(verify(&ring, &text, 5_000), Err(TokenError::Expired));
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let ring = ring();
        let text = sign(ring.primary().unwrap(), &claims("aud"));
        let forged = text.replace(".admin~member~reader.", ".admin~member~readex.");
        assert_eq!(verify(&ring, &forged, 0), Err(TokenError::BadSignature));
        let later = text.replace(".5000.", ".9000.");
        assert_eq!(verify(&ring, &later, 0), Err(TokenError::BadSignature));
        let mut flipped = text.into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(verify(&ring, &flipped, 0), Err(TokenError::BadSignature));
    }

    #[test]
    fn keys_are_looked_up_by_id() {
        let ring = ring();
        let old = sign(ring.get(6).unwrap(), &claims("aud"));
        assert_eq!(verify(&ring, &old, 0).unwrap().key_id, 6);
        let other = KeyRing::from_keys(vec![Key::new(7, &[9; 32])]);
        assert_eq!(verify(&other, &old, 0), Err(TokenError::UnknownKey));
        let same_id = sign(other.primary().unwrap(), &claims("aud"));
        assert_eq!(verify(&ring, &same_id, 0), Err(TokenError::BadSignature));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let ring = ring();
        let good = sign(ring.primary().unwrap(), &claims("aud"));
        for bad in [
            "",
            "admin:admin",
            "r1.7.1000.5000.aud.u1.p1.admin",
            &good.replacen("r1.", "r2.", 1),
            &good.replace(".u1.", ".u/1."),
            &good.replace(".u1.", ".u1.x."),
            &format!("{good}A"),
            &"a".repeat(MAX_LEN + 1),
        ] {
            assert_eq!(verify(&ring, bad, 0), Err(TokenError::Malformed), "{bad}");
        }
        let unscoped = Claims {
            project_id: None,
            roles: "",
            ..claims("aud")
        };
        let text = sign(ring.primary().unwrap(), &unscoped);
        assert_eq!(verify(&ring, &text, 0).unwrap().project_id, None);
    }

    #[test]
    fn audit_ids_look_like_keystones() {
        let a = new_audit_id();
        assert_eq!(a.len(), 22);
        assert!(is_field(&a));
        assert_ne!(a, new_audit_id());
    }
}
