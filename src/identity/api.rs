//! The identity endpoint: a Keystone v3 subset for standard clients (keystoneauth,
//! openstacksdk, python-openstackclient) — version discovery, `POST/GET/HEAD/DELETE
//! /v3/auth/tokens` (password and token methods, project scope or unscoped), and read-only
//! `GET /v3/projects[/{id}]` and `/v3/auth/projects` for client-side project lookups. Under
//! `noauth2` only those lookups are answered, noauth2's way (a project's id is its name).
//!
//! Core worker, behind the unauthenticated `identity` pipeline (the URL map's `/identity`
//! prefix). Issuing a token reads the database and runs argon2 (tens of milliseconds of this
//! worker's core); validating one reads only the rows its body names. Errors use Keystone's
//! shape `{"error": {"code", "title", "message"}}`. It must never log a password or a token.

use std::{borrow::Cow, sync::OnceLock};

use simd_json::{prelude::*, BorrowedValue, OwnedValue};

use super::{
    filter::push_identity_url,
    password,
    store::{self, DOMAIN_ID, DOMAIN_NAME},
    token::Claims,
    Identity, Issued,
};
use crate::{
    api::{
        body,
        context::{Request, RequestContext},
        query,
    },
    db::Db,
    http::{reason_phrase, Response},
    middleware::noauth::UNAUTHORIZED_MESSAGE,
    router::Method,
};

/// The identity API version reported by discovery.
pub const VERSION_ID: &str = "v3.14";
/// Its media type.
pub const MEDIA_TYPE: &str = "application/vnd.openstack.identity-v3+json";
const JSON: &str = "application/json";

/// Writes Keystone's error body.
pub fn write_error(resp: &mut Response, code: u16, message: &str) {
    resp.status = code;
    resp.content_type = JSON;
    resp.shared_body = None;
    resp.body.clear();
    let body = simd_json::json!({
        "error": {"code": code, "title": reason_phrase(code), "message": message}
    });
    let _ = body.write(&mut resp.body);
}

fn write_json(resp: &mut Response, status: u16, value: &OwnedValue) {
    resp.status = status;
    resp.content_type = JSON;
    resp.body.clear();
    let _ = value.write(&mut resp.body);
}

/// An error answer.
#[derive(Debug)]
struct Error(u16, Cow<'static, str>);

impl Error {
    fn unauthorized() -> Error {
        Error(401, UNAUTHORIZED_MESSAGE.into())
    }
    fn bad(message: impl Into<Cow<'static, str>>) -> Error {
        Error(400, message.into())
    }
    fn internal(err: impl std::fmt::Display) -> Error {
        log::error!("identity: {err}");
        Error(
            500,
            "An unexpected error prevented the server from fulfilling your request.".into(),
        )
    }
}

/// The identity app.
pub fn call<'a>(
    identity: &Identity,
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    resp: &mut Response,
) {
    if let Err(Error(code, message)) = route(identity, req, ctx, resp) {
        if code == 401 {
            super::filter::unauthorized(identity, ctx, resp, None);
            if message != UNAUTHORIZED_MESSAGE {
                write_error(resp, 401, &message);
            }
        } else {
            write_error(resp, code, &message);
        }
    }
}

fn route<'a>(
    identity: &Identity,
    req: &Request<'a>,
    ctx: &RequestContext<'a>,
    resp: &mut Response,
) -> Result<(), Error> {
    let path = ctx.path_info.trim_end_matches('/');
    let method = req.method;
    let only = |allowed: &[Method]| {
        if method.is_some_and(|m| allowed.contains(&m)) {
            Ok(())
        } else {
            Err(Error(
                405,
                "The method is not allowed for the requested URL.".into(),
            ))
        }
    };
    if path.is_empty() {
        only(&[Method::Get, Method::Head])?;
        let doc = simd_json::json!({"versions": {"values": [version(identity, ctx)]}});
        write_json(resp, 300, &doc);
        return Ok(());
    }
    if path == "/v3" {
        only(&[Method::Get, Method::Head])?;
        write_json(
            resp,
            200,
            &simd_json::json!({"version": version(identity, ctx)}),
        );
        return Ok(());
    }
    if !identity.is_started() {
        return noauth_projects(identity, path, only, req, ctx, resp);
    }
    let db = &ctx.services().map_err(Error::internal)?.db;
    match path {
        "/v3/auth/tokens" => {
            only(&[Method::Post, Method::Get, Method::Head, Method::Delete])?;
            match method {
                Some(Method::Post) => issue(identity, db, req, ctx, resp),
                Some(Method::Delete) => revoke(identity, db, req, resp),
                _ => validate(identity, db, req, ctx, resp),
            }?;
        }
        "/v3/auth/projects" | "/v3/projects" => {
            only(&[Method::Get, Method::Head])?;
            let caller = caller(identity, req)?;
            let name = query_param(req.query, "name");
            let list = if path == "/v3/projects" && is_admin(&caller) {
                store::projects(db.conn()).map_err(Error::internal)?
            } else {
                store::projects_of_user(db.conn(), caller.user_id).map_err(Error::internal)?
            };
            let list: Vec<OwnedValue> = list
                .iter()
                .filter(|p| name.as_deref().is_none_or(|n| n == p.name))
                .map(|p| project_json(identity, ctx, p))
                .collect();
            write_json(
                resp,
                200,
                &simd_json::json!({"projects": list, "links": {"self": null, "next": null, "previous": null}}),
            );
        }
        _ => {
            let Some(id) = path
                .strip_prefix("/v3/projects/")
                .filter(|id| !id.contains('/'))
            else {
                return Err(Error(404, "The resource could not be found.".into()));
            };
            only(&[Method::Get, Method::Head])?;
            let caller = caller(identity, req)?;
            if !is_admin(&caller) && caller.project_id != Some(id) {
                return Err(Error(
                    403,
                    "You are not authorized to perform the requested action: identity:get_project."
                        .into(),
                ));
            }
            let project = store::project_by_id(db.conn(), id)
                .map_err(Error::internal)?
                .ok_or_else(|| Error(404, format!("Could not find project: {id}.").into()))?;
            write_json(
                resp,
                200,
                &simd_json::json!({"project": project_json(identity, ctx, &project)}),
            );
        }
    }
    Ok(())
}

/// Under `noauth2` the identity endpoint only answers the project lookups clients make
/// before a compute call (`openstack quota show PROJECT`): as noauth2 has it, every project
/// exists and its id is its name. A request still needs an `X-Auth-Token` (401 without, as
/// the compute pipeline's noauth2); anything else is 404.
fn noauth_projects(
    identity: &Identity,
    path: &str,
    only: impl Fn(&[Method]) -> Result<(), Error>,
    req: &Request<'_>,
    ctx: &RequestContext<'_>,
    resp: &mut Response,
) -> Result<(), Error> {
    let not_served = || {
        Error(
            404,
            "The identity endpoint is served only with [api] auth_strategy = token.".into(),
        )
    };
    let lookup = path == "/v3/projects"
        || path == "/v3/auth/projects"
        || path
            .strip_prefix("/v3/projects/")
            .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    if !lookup {
        return Err(not_served());
    }
    only(&[Method::Get, Method::Head])?;
    let token = req
        .header_str("x-auth-token")
        .filter(|t| !t.is_empty())
        .ok_or_else(Error::unauthorized)?;
    let (user, project) = token.split_once(':').unwrap_or((token, token));
    let own = if project.is_empty() { user } else { project };
    let named = |name: &str| store::Project {
        id: name.to_string(),
        name: name.to_string(),
        description: String::new(),
        enabled: true,
    };
    if let Some(id) = path.strip_prefix("/v3/projects/") {
        write_json(
            resp,
            200,
            &simd_json::json!({"project": project_json(identity, ctx, &named(id))}),
        );
        return Ok(());
    }
    let name = query_param(req.query, "name").unwrap_or_else(|| own.to_string());
    let list = vec![project_json(identity, ctx, &named(&name))];
    write_json(
        resp,
        200,
        &simd_json::json!({"projects": list, "links": {"self": null, "next": null, "previous": null}}),
    );
    Ok(())
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query::pairs(query)
        .filter_map(Result::ok)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn identity_url(
    identity: &Identity,
    ctx: &RequestContext<'_>,
    on_identity_pipeline: bool,
) -> String {
    let mut out = Vec::with_capacity(64);
    if on_identity_pipeline && identity.config.public_endpoint.is_none() {
        ctx.push_application_url(&mut out);
    } else {
        push_identity_url(identity, ctx, &mut out);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn version(identity: &Identity, ctx: &RequestContext<'_>) -> OwnedValue {
    let href = format!("{}/v3/", identity_url(identity, ctx, true));
    simd_json::json!({
        "id": VERSION_ID,
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": href}],
        "media-types": [{"base": JSON, "type": MEDIA_TYPE}]
    })
}

fn project_json(identity: &Identity, ctx: &RequestContext<'_>, p: &store::Project) -> OwnedValue {
    let href = format!("{}/v3/projects/{}", identity_url(identity, ctx, true), p.id);
    simd_json::json!({
        "id": p.id.as_str(), "name": p.name.as_str(), "description": p.description.as_str(),
        "enabled": p.enabled, "domain_id": DOMAIN_ID, "parent_id": DOMAIN_ID,
        "is_domain": false, "tags": [], "options": {}, "links": {"self": href}
    })
}

fn is_admin(claims: &Claims<'_>) -> bool {
    claims.role_names().any(|r| r == "admin")
}

/// The caller's own token (`X-Auth-Token`); 401 unless valid.
fn caller<'a>(identity: &Identity, req: &Request<'a>) -> Result<Claims<'a>, Error> {
    req.header_str("x-auth-token")
        .and_then(|t| identity.verify(t).ok())
        .ok_or_else(Error::unauthorized)
}

/// The `X-Subject-Token`, checked; 404 as Keystone when it is not valid.
fn subject<'a>(identity: &Identity, req: &Request<'a>) -> Result<(&'a str, Claims<'a>), Error> {
    let text = req
        .header_str("x-subject-token")
        .ok_or_else(|| Error::bad("X-Subject-Token is required."))?;
    let claims = identity
        .verify(text)
        .map_err(|_| Error(404, "Failed to validate token".into()))?;
    Ok((text, claims))
}

fn may_see(caller: &Claims<'_>, subject: &Claims<'_>, rule: &str) -> Result<(), Error> {
    if caller.user_id == subject.user_id || is_admin(caller) {
        Ok(())
    } else {
        Err(Error(
            403,
            format!("You are not authorized to perform the requested action: {rule}.").into(),
        ))
    }
}

fn str_at<'v>(value: Option<&'v BorrowedValue<'_>>, key: &str) -> Option<&'v str> {
    value.and_then(|v| v.get(key)).and_then(|v| v.as_str())
}

/// Whether a `domain` object names the default domain (absent counts as default only when
/// `required` is false).
fn default_domain(domain: Option<&BorrowedValue<'_>>, required: bool) -> bool {
    match domain {
        None => !required,
        Some(d) => {
            str_at(Some(d), "id").is_some_and(|id| id == DOMAIN_ID)
                || str_at(Some(d), "name").is_some_and(|n| n.eq_ignore_ascii_case(DOMAIN_NAME))
        }
    }
}

/// A hash to verify against when the user does not exist, so that an unknown user costs as
/// much time as a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| password::hash(&password::generate()).unwrap_or_default())
}

fn issue<'a>(
    identity: &Identity,
    db: &Db,
    req: &Request<'a>,
    ctx: &RequestContext<'a>,
    resp: &mut Response,
) -> Result<(), Error> {
    let body = body::parse(req)
        .map_err(|_| Error::bad("Malformed request body."))?
        .ok_or_else(|| Error::bad("Expecting to find auth in request body."))?;
    let auth = body
        .get("auth")
        .filter(|a| a.is_object())
        .ok_or_else(|| Error::bad("Expecting to find auth in request body."))?;
    let ident = auth
        .get("identity")
        .ok_or_else(|| Error::bad("Expecting to find identity in auth."))?;
    let methods: Vec<&str> = ident
        .get("methods")
        .and_then(|m| m.as_array())
        .ok_or_else(|| Error::bad("Expecting to find methods in identity."))?
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    let conn = db.conn();
    // Who: by password or by an existing token.
    let (user, cap_expiry, audit) = if methods.contains(&"password") {
        let user = ident
            .get("password")
            .and_then(|p| p.get("user"))
            .ok_or_else(|| Error::bad("Expecting to find user in password."))?;
        let secret = str_at(Some(user), "password").ok_or_else(Error::unauthorized)?;
        let found = match (str_at(Some(user), "id"), str_at(Some(user), "name")) {
            (Some(id), _) => store::user_by_id(conn, id).map_err(Error::internal)?,
            (None, Some(name)) => {
                if !default_domain(user.get("domain"), true) {
                    None
                } else {
                    store::user_by_name(conn, name).map_err(Error::internal)?
                }
            }
            (None, None) => return Err(Error::bad("Expecting to find id or name in user.")),
        };
        match found {
            Some(user) if password::verify(secret, &user.password_hash) && user.enabled => {
                (user, None, None)
            }
            Some(_) => return Err(Error::unauthorized()),
            None => {
                let _ = password::verify(secret, dummy_hash());
                return Err(Error::unauthorized());
            }
        }
    } else if methods.contains(&"token") {
        let text = str_at(ident.get("token"), "id").ok_or_else(Error::unauthorized)?;
        let claims = identity
            .verify(text)
            .map_err(|_| Error(404, "Failed to validate token".into()))?;
        let user = store::user_by_id(conn, claims.user_id)
            .map_err(Error::internal)?
            .filter(|u| u.enabled)
            .ok_or_else(Error::unauthorized)?;
        (
            user,
            Some(claims.expires_ms),
            Some(claims.audit_id.to_owned()),
        )
    } else {
        return Err(Error::unauthorized());
    };
    // Scope.
    let scope = auth.get("scope");
    let project = match scope {
        None => None,
        Some(s) if s.as_str() == Some("unscoped") => None,
        Some(s) => {
            let Some(p) = s.get("project") else {
                return Err(Error(
                    401,
                    "ringnova's identity endpoint scopes tokens to projects only.".into(),
                ));
            };
            let found = match (str_at(Some(p), "id"), str_at(Some(p), "name")) {
                (Some(id), _) => store::project_by_id(conn, id).map_err(Error::internal)?,
                (None, Some(name)) if default_domain(p.get("domain"), true) => {
                    store::project_by_name(conn, name).map_err(Error::internal)?
                }
                (None, Some(_)) => None,
                (None, None) => return Err(Error::bad("Expecting to find id or name in project.")),
            };
            let project = found
                .filter(|p| p.enabled)
                .ok_or_else(|| Error(401, "Could not find the requested project.".into()))?;
            Some(project)
        }
    };
    let roles = match &project {
        Some(project) => {
            let assigned =
                store::assigned_roles(conn, &user.id, &project.id).map_err(Error::internal)?;
            if assigned.is_empty() {
                return Err(Error(
                    401,
                    format!("User {} has no access to project {}", user.id, project.id).into(),
                ));
            }
            store::expand_roles(&assigned)
        }
        None => Vec::new(),
    };
    let issued = identity
        .issue(
            &user.id,
            project.as_ref().map(|p| p.id.as_str()),
            &roles,
            cap_expiry,
            audit.as_deref(),
        )
        .ok_or_else(|| Error(503, "No token signing key is loaded.".into()))?;
    let methods: Vec<&str> = if audit.is_some() {
        vec!["token"]
    } else {
        vec!["password"]
    };
    let body = token_body(
        identity,
        db,
        ctx,
        req,
        &TokenView {
            methods: &methods,
            user: &user,
            project: project.as_ref(),
            roles: roles.iter().map(String::as_str).collect(),
            issued: &issued,
        },
    )?;
    resp.header("X-Subject-Token", issued.token.as_bytes());
    write_json(resp, 201, &body);
    Ok(())
}

struct TokenView<'v> {
    methods: &'v [&'v str],
    user: &'v store::User,
    project: Option<&'v store::Project>,
    roles: Vec<&'v str>,
    issued: &'v Issued,
}

fn token_body(
    identity: &Identity,
    db: &Db,
    ctx: &RequestContext<'_>,
    req: &Request<'_>,
    view: &TokenView<'_>,
) -> Result<OwnedValue, Error> {
    let domain = || simd_json::json!({"id": DOMAIN_ID, "name": DOMAIN_NAME});
    let mut token = simd_json::json!({
        "methods": view.methods.to_vec(),
        "user": {"domain": domain(), "id": view.user.id.as_str(), "name": view.user.name.as_str(), "password_expires_at": null},
        "audit_ids": [view.issued.audit_id.as_str()],
        "expires_at": timestamp(view.issued.expires_ms),
        "issued_at": timestamp(view.issued.issued_ms),
    });
    if let Some(project) = view.project {
        let all = store::roles(db.conn()).map_err(Error::internal)?;
        let roles: Vec<OwnedValue> = view
            .roles
            .iter()
            .map(|name| {
                let id = all
                    .iter()
                    .find(|r| r.name == *name)
                    .map_or("", |r| r.id.as_str());
                simd_json::json!({"id": id, "name": *name})
            })
            .collect();
        let object = token.as_object_mut().expect("an object");
        object.insert(
            "project".into(),
            simd_json::json!({"domain": domain(), "id": project.id.as_str(), "name": project.name.as_str()}),
        );
        object.insert("is_domain".into(), false.into());
        object.insert("roles".into(), roles.into());
        if query_param(req.query, "nocatalog").is_none() {
            object.insert("catalog".into(), catalog(identity, ctx));
        }
    }
    Ok(simd_json::json!({"token": token}))
}

fn catalog(identity: &Identity, ctx: &RequestContext<'_>) -> OwnedValue {
    let compute = match &identity.config.compute_endpoint {
        Some(url) => url.clone(),
        None => {
            let mut out = Vec::with_capacity(64);
            ctx.push_host_url(&mut out);
            out.extend_from_slice(b"/v2.1");
            String::from_utf8_lossy(&out).into_owned()
        }
    };
    let keystone = identity_url(identity, ctx, true);
    let region = identity.config.region_name.as_str();
    let endpoints = |service: &str, url: &str| -> Vec<OwnedValue> {
        ["public", "internal", "admin"]
            .iter()
            .map(|interface| {
                simd_json::json!({
                    "id": format!("{service}-{interface}"),
                    "interface": *interface,
                    "region_id": region,
                    "region": region,
                    "url": url,
                })
            })
            .collect()
    };
    simd_json::json!([
        {"endpoints": endpoints("compute", &compute), "id": "compute", "type": "compute", "name": "nova"},
        {"endpoints": endpoints("identity", &keystone), "id": "identity", "type": "identity", "name": "keystone"}
    ])
}

fn validate<'a>(
    identity: &Identity,
    db: &Db,
    req: &Request<'a>,
    ctx: &RequestContext<'a>,
    resp: &mut Response,
) -> Result<(), Error> {
    let caller = caller(identity, req)?;
    let (text, claims) = subject(identity, req)?;
    may_see(&caller, &claims, "identity:validate_token")?;
    let conn = db.conn();
    let not_found = || Error(404, "Failed to validate token".into());
    let user = store::user_by_id(conn, claims.user_id)
        .map_err(Error::internal)?
        .ok_or_else(not_found)?;
    let project = match claims.project_id {
        Some(id) => Some(
            store::project_by_id(conn, id)
                .map_err(Error::internal)?
                .ok_or_else(not_found)?,
        ),
        None => None,
    };
    let issued = Issued {
        token: String::new(),
        issued_ms: claims.issued_ms,
        expires_ms: claims.expires_ms,
        audit_id: claims.audit_id.to_owned(),
    };
    let body = token_body(
        identity,
        db,
        ctx,
        req,
        &TokenView {
            methods: &["password"],
            user: &user,
            project: project.as_ref(),
            roles: claims.role_names().collect(),
            issued: &issued,
        },
    )?;
    resp.header("X-Subject-Token", text.as_bytes());
    write_json(resp, 200, &body);
    Ok(())
}

fn revoke(
    identity: &Identity,
    db: &Db,
    req: &Request<'_>,
    resp: &mut Response,
) -> Result<(), Error> {
    let caller = caller(identity, req)?;
    let (_, claims) = subject(identity, req)?;
    may_see(&caller, &claims, "identity:revoke_token")?;
    identity.revoke(db, &claims).map_err(Error::internal)?;
    resp.status = 204;
    resp.content_type = "";
    resp.body.clear();
    Ok(())
}

/// Keystone's timestamp: `2015-11-06T15:32:17.893000Z` (UTC, microseconds).
pub fn timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}000Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_keystones() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(timestamp(1_446_823_937_893), "2015-11-06T15:32:17.893000Z");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29T00:00:00.000000Z");
    }
}
