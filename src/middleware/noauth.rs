//! `noauth2`: trusts `X-Auth-Token: user[:project]` without asking an identity service.
//!
//! With a token it fills the context: user, project (defaults to the user), admin when the
//! user is `admin`, and roles — `admin`, `member`, `reader` for the admin user, `member` and
//! `reader` for anyone else (Keystone's implied roles, as a real token would carry them).
//! Without a token it answers 401 with an `unauthorized` fault. For development, tests and
//! edge boxes behind their own authentication only; it must never be the default of a
//! pipeline that faces untrusted clients.

use crate::{
    api::{
        context::{Request, RequestContext, Roles},
        fault::Fault,
    },
    http::Response,
};

/// Roles of the `admin` user.
pub const ADMIN_ROLES: &[&str] = &["admin", "member", "reader"];
/// Roles of every other user.
pub const MEMBER_ROLES: &[&str] = &["member", "reader"];

/// Keystone's text for a request without credentials.
pub const UNAUTHORIZED_MESSAGE: &str = "The request you have made requires authentication.";

/// Returns true when the response is complete (401: no token).
pub fn on_request<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    resp: &mut Response,
) -> bool {
    let Some(token) = req.header_str("x-auth-token").filter(|t| !t.is_empty()) else {
        Fault::new(401, UNAUTHORIZED_MESSAGE).write(resp);
        return true;
    };
    let (user, project) = user_and_project(token);
    ctx.user_id = Some(user);
    ctx.project_id = Some(project);
    ctx.is_admin = user == "admin";
    ctx.roles = Roles::Static(if ctx.is_admin {
        ADMIN_ROLES
    } else {
        MEMBER_ROLES
    });
    false
}

/// `user[:project]`: the project defaults to the user; everything after the first `:` is
/// the project.
fn user_and_project(token: &str) -> (&str, &str) {
    // A byte loop rather than `split_once`: tokens are short (`:` is ASCII, so its index is
    // a char boundary).
    match token.bytes().position(|b| b == b':') {
        Some(colon) if colon + 1 < token.len() => (&token[..colon], &token[colon + 1..]),
        Some(colon) => (&token[..colon], &token[..colon]),
        None => (token, token),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_follows_the_first_colon_and_defaults_to_the_user() {
        for (token, expected) in [
            ("alice:p1", ("alice", "p1")),
            ("alice", ("alice", "alice")),
            ("alice:", ("alice", "alice")),
            ("alice:p1:x", ("alice", "p1:x")),
            (":p1", ("", "p1")),
            (":", ("", "")),
            ("é:ü", ("é", "ü")),
        ] {
            assert_eq!(user_and_project(token), expected, "{token:?}");
        }
    }
}
