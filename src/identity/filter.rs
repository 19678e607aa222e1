//! `ringnova_authtoken`: the compute pipeline's auth filter under `[api] auth_strategy =
//! token` — keystonemiddleware's `authtoken` and Nova's `keystonecontext` in one step.
//!
//! Core worker, every compute request. It verifies `X-Auth-Token` (signature, expiry,
//! revocation) through [`Identity::verify`] and fills the request context from the token:
//! user, project, roles (borrowed from the header, no copy) and `is_admin` from the policy
//! rule `context_is_admin`. A missing, malformed, expired, revoked or unscoped token gets
//! keystonemiddleware's 401: its JSON error body and `WWW-Authenticate: Keystone
//! uri="<identity endpoint>"`. It must never read the database, allocate on success, or
//! log a token.

use super::{token::TokenError, Identity, DEFAULT_PREFIX};
use crate::{
    api::context::{Request, RequestContext, Roles},
    http::Response,
    middleware::noauth::UNAUTHORIZED_MESSAGE,
    policy::{Credentials, Target},
};

/// The policy rule deciding `is_admin`, as in Nova's `RequestContext`.
pub const ADMIN_RULE: &str = "context_is_admin";

/// Returns true when the response is complete (401).
#[inline]
pub fn on_request<'a>(
    identity: &Identity,
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    resp: &mut Response,
) -> bool {
    let token = req
        .header_str("x-auth-token")
        .or_else(|| req.header_str("x-storage-token"))
        .filter(|t| !t.is_empty());
    let claims = match token.map(|t| identity.verify(t)) {
        Some(Ok(claims)) if claims.project_id.is_some() => claims,
        outcome => {
            if let Some(Err(err)) = outcome {
                log::debug!("authtoken: {err}");
            }
            unauthorized(identity, ctx, resp, outcome.and_then(Result::err));
            return true;
        }
    };
    ctx.user_id = Some(claims.user_id);
    ctx.project_id = claims.project_id;
    ctx.roles = Roles::Joined(claims.roles);
    ctx.is_admin = match ctx.services {
        Some(services) => {
            let creds = Credentials::new()
                .with_roles(ctx.roles.iter())
                .with_user_id(claims.user_id)
                .with_project_id(claims.project_id.unwrap_or_default());
            services.policy.enforce(ADMIN_RULE, &creds, &Target::new())
        }
        None => ctx.roles.contains("admin"),
    };
    false
}

/// Writes keystonemiddleware's 401.
pub fn unauthorized(
    identity: &Identity,
    ctx: &RequestContext<'_>,
    resp: &mut Response,
    _why: Option<TokenError>,
) {
    let mut uri = Vec::with_capacity(64);
    push_identity_url(identity, ctx, &mut uri);
    let mut value = Vec::with_capacity(uri.len() + 16);
    value.extend_from_slice(b"Keystone uri=\"");
    value.extend(uri.iter().filter(|&&b| b != b'"'));
    value.push(b'"');
    resp.header("WWW-Authenticate", &value);
    super::api::write_error(resp, 401, UNAUTHORIZED_MESSAGE);
}

/// Appends the identity endpoint's public URL: `[identity] public_endpoint`, or the
/// request's scheme, Host and proxy prefix plus `/identity`.
pub fn push_identity_url(identity: &Identity, ctx: &RequestContext<'_>, out: &mut Vec<u8>) {
    match &identity.config.public_endpoint {
        Some(url) => out.extend_from_slice(url.as_bytes()),
        None => {
            ctx.push_host_url(out);
            out.extend_from_slice(DEFAULT_PREFIX.as_bytes());
        }
    }
}
