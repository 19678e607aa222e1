//! `noauth2` (Nova ≤ 2025.x `NoAuthMiddleware`): trusts `X-Auth-Token: user[:project]`.
//!
//! Without a token it answers 204 with a token and the management URL, as Nova did, so
//! clients can "log in". With one, it fills the context: user, project (defaults to the
//! user), and admin when the user is `admin`. For development and edge boxes behind their
//! own authentication only.

use crate::{
    api::context::{Request, RequestContext},
    http::Response,
};

/// Returns true when the response is complete (the token handshake).
pub fn on_request<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    resp: &mut Response,
) -> bool {
    let Some(token) = req.header_str("x-auth-token") else {
        let user = req.header_str("x-auth-user").unwrap_or("admin");
        let project = req.header_str("x-auth-project-id").unwrap_or("admin");
        resp.status = 204;
        resp.content_type = "text/plain; charset=UTF-8";
        let mut token = Vec::with_capacity(user.len() + project.len() + 1);
        token.extend_from_slice(user.as_bytes());
        token.push(b':');
        token.extend_from_slice(project.as_bytes());
        resp.header("X-Auth-Token", &token);
        let mut url = Vec::with_capacity(128);
        ctx.push_application_url(&mut url);
        url.extend_from_slice(ctx.path_info.as_bytes());
        while url.last() == Some(&b'/') {
            url.pop();
        }
        url.push(b'/');
        url.extend_from_slice(project.as_bytes());
        resp.header("X-Server-Management-Url", &url);
        return true;
    };
    let (user, project) = match token.split_once(':') {
        Some((user, project)) if !project.is_empty() => (user, project),
        Some((user, _)) => (user, user),
        None => (token, token),
    };
    ctx.user_id = Some(user);
    ctx.project_id = Some(project);
    ctx.is_admin = user == "admin";
    false
}
