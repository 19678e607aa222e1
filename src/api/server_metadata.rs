//! `/servers/{server_id}/metadata` (SPEC §4.8, Nova's `compute/server_metadata.py`): list,
//! show, merge (`POST`), replace (`PUT` on the collection), set one item and delete one item.
//!
//! Core worker, innermost layer. Same behaviour at every microversion served (2.1–2.60; the
//! only later change, 2.102's strict query, is not reached). The server is fetched first
//! (another project's server is 404 "Instance <id> could not be found.", as Nova), then the
//! policy is checked against its project. Writes check, in one database transaction, the
//! lock (409 "Instance <id> is locked" for non-admins), the state (vm_state active, paused,
//! suspended or stopped, task_state none, launched: else 409 "Cannot 'update metadata'
//! instance …"), and the `metadata_items` quota of the result (403 "Maximum number of
//! metadata items exceeds <n>"). This module must never change anything of a server but
//! its metadata (and `updated_at`).

use std::borrow::Cow;

use simd_json::prelude::*;

use super::{
    context::{Request, RequestContext},
    error::ApiError,
    json, json_body, validate,
    validation::{parameter_types::METADATA, Keyword, Pattern, Schema, Type},
    Route,
};
use crate::{
    db::{
        queries::instances::{self, MetadataGuard, MetadataMode, MetadataRefusal},
        quotas, DbError,
    },
    http::Response,
    policy::Target,
    router::{Method, Params},
};

/// The routes of `ServerMetadataController`.
pub const ROUTES: &[Route] = &[
    crate::route!(Method::Get, "/servers/{server_id}/metadata", index),
    crate::route!(Method::Post, "/servers/{server_id}/metadata", create),
    crate::route!(Method::Put, "/servers/{server_id}/metadata", update_all),
    crate::route!(Method::Get, "/servers/{server_id}/metadata/{id}", show),
    crate::route!(Method::Put, "/servers/{server_id}/metadata/{id}", update),
    crate::route!(Method::Delete, "/servers/{server_id}/metadata/{id}", delete),
];

const POLICY_INDEX: &str = "os_compute_api:server-metadata:index";
const POLICY_SHOW: &str = "os_compute_api:server-metadata:show";
const POLICY_CREATE: &str = "os_compute_api:server-metadata:create";
const POLICY_UPDATE: &str = "os_compute_api:server-metadata:update";
const POLICY_UPDATE_ALL: &str = "os_compute_api:server-metadata:update_all";
const POLICY_DELETE: &str = "os_compute_api:server-metadata:delete";

/// `create` and `update_all`: `{"metadata": {...}}`.
pub(crate) const CREATE: Schema = Schema::new(&[
    Keyword::Type(&[Type::Object]),
    Keyword::Properties(&[("metadata", METADATA)]),
    Keyword::Required(&["metadata"]),
    Keyword::AdditionalProperties(false),
]);

/// `update`: `{"meta": {<one key>: <value>}}`.
pub(crate) const UPDATE: Schema = Schema::new(&[
    Keyword::Type(&[Type::Object]),
    Keyword::Properties(&[(
        "meta",
        Schema::new(&[
            Keyword::Type(&[Type::Object]),
            Keyword::PatternProperties(&[(
                Pattern::METADATA_KEY,
                Schema::new(&[Keyword::Type(&[Type::String]), Keyword::MaxLength(255)]),
            )]),
            Keyword::AdditionalProperties(false),
            Keyword::MinProperties(1),
            Keyword::MaxProperties(1),
        ]),
    )]),
    Keyword::Required(&["meta"]),
    Keyword::AdditionalProperties(false),
]);

const QUOTA_RESOURCE: &str = "metadata_items";

fn not_found(uuid: &str) -> ApiError {
    ApiError::NotFound(Cow::Owned(format!("Instance {uuid} could not be found.")))
}

fn item_not_found() -> ApiError {
    ApiError::NotFound(Cow::Borrowed("Metadata item was not found"))
}

/// `common.get_instance` then `context.can(rule, {project_id: owner})`; returns the project
/// restriction for later reads (`None` for admins).
fn authorized<'a>(
    ctx: &RequestContext<'a>,
    uuid: &str,
    rule: &'static str,
) -> Result<Option<&'a str>, ApiError> {
    let (_, project) = ctx.identity()?;
    let visible = (!ctx.is_admin).then_some(project);
    let services = ctx.services()?;
    let owner = instances::with_instance(&services.db, uuid, visible, |inst| {
        Ok(inst.project_id.to_owned())
    })
    .map_err(|err| match err {
        DbError::NotFound => not_found(uuid),
        other => other.into(),
    })?;
    let mut target = Target::new();
    target.insert("project_id", &owner);
    ctx.authorize(rule, &target)?;
    Ok(visible)
}

/// Appends `{"<key>": "<value>", …}` of the stored metadata.
fn push_all(out: &mut Vec<u8>, ctx: &RequestContext<'_>, uuid: &str) -> Result<(), ApiError> {
    out.push(b'{');
    let mut first = true;
    instances::each_metadata(&ctx.services()?.db, uuid, |k, v| {
        if !first {
            out.extend_from_slice(b", ");
        }
        first = false;
        json::push_str(out, k);
        out.extend_from_slice(b": ");
        json::push_str(out, v);
    })?;
    out.push(b'}');
    Ok(())
}

/// `GET …/metadata`.
fn index<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let uuid = params.get("server_id").unwrap_or_default();
    authorized(ctx, uuid, POLICY_INDEX)?;
    resp.body.extend_from_slice(b"{\"metadata\": ");
    push_all(&mut resp.body, ctx, uuid)?;
    resp.body.push(b'}');
    resp.content_type = "application/json";
    Ok(())
}

/// `GET …/metadata/{key}`.
fn show<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let uuid = params.get("server_id").unwrap_or_default();
    let key = params.get("id").unwrap_or_default();
    authorized(ctx, uuid, POLICY_SHOW)?;
    let value =
        instances::metadata_item(&ctx.services()?.db, uuid, key)?.ok_or_else(item_not_found)?;
    let out = &mut resp.body;
    out.extend_from_slice(b"{\"meta\": {");
    json::push_str(out, key);
    out.extend_from_slice(b": ");
    json::push_str(out, &value);
    out.extend_from_slice(b"}}");
    resp.content_type = "application/json";
    Ok(())
}

/// Why a write was refused by the instance check.
#[derive(Debug)]
enum Refusal {
    Locked,
    State { attr: &'static str, state: String },
    NotLaunched,
}

/// `check_instance_lock` + `check_instance_state(vm_state=[active, paused, suspended,
/// stopped], task_state=None)` (launched required).
fn check(is_admin: bool) -> impl FnOnce(&MetadataGuard) -> Result<(), Refusal> {
    move |guard| {
        if guard.locked && !is_admin {
            return Err(Refusal::Locked);
        }
        if !matches!(
            guard.vm_state.as_str(),
            "active" | "paused" | "suspended" | "stopped"
        ) {
            return Err(Refusal::State {
                attr: "vm_state",
                state: guard.vm_state.clone(),
            });
        }
        if let Some(task) = &guard.task_state {
            return Err(Refusal::State {
                attr: "task_state",
                state: task.clone(),
            });
        }
        if !guard.launched {
            return Err(Refusal::NotLaunched);
        }
        Ok(())
    }
}

fn refusal_error(refusal: MetadataRefusal<Refusal>, uuid: &str, action: &str) -> ApiError {
    match refusal {
        MetadataRefusal::Refused(Refusal::Locked) => {
            ApiError::Conflict(Cow::Owned(format!("Instance {uuid} is locked")))
        }
        MetadataRefusal::Refused(Refusal::State { attr, state }) => ApiError::Conflict(Cow::Owned(
            format!("Cannot '{action}' instance {uuid} while it is in {attr} {state}"),
        )),
        MetadataRefusal::Refused(Refusal::NotLaunched) => ApiError::Conflict(Cow::Owned(format!(
            "Instance {uuid} is in an invalid state for '{action}'"
        ))),
        MetadataRefusal::OverQuota(limit) => ApiError::OverQuota(Cow::Owned(format!(
            "Maximum number of metadata items exceeds {limit}"
        ))),
        MetadataRefusal::Db(DbError::NotFound) => not_found(uuid),
        MetadataRefusal::Db(err) => err.into(),
    }
}

/// The `metadata_items` limit of the caller's project (and user).
fn quota_limit(ctx: &RequestContext<'_>) -> Result<i64, ApiError> {
    let (user, project) = ctx.identity()?;
    let services = ctx.services()?;
    Ok(
        quotas::limit_for(&services.db, project, Some(user), QUOTA_RESOURCE)?
            .unwrap_or_else(|| services.quota_defaults.get(QUOTA_RESOURCE)),
    )
}

/// The string members of a validated metadata object, in body order.
fn items<'v>(value: Option<&'v simd_json::BorrowedValue<'_>>) -> Vec<(&'v str, &'v str)> {
    value
        .and_then(|v| v.as_object())
        .map(|object| {
            object
                .iter()
                .map(|(k, v)| (k.as_ref(), v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default()
}

/// `create` (merge) and `update_all` (replace).
fn write_all<'a>(
    req: &Request<'a>,
    ctx: &RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
    rule: &'static str,
    mode: MetadataMode,
) -> Result<(), ApiError> {
    let uuid = params.get("server_id").unwrap_or_default();
    let body = json_body(req)?;
    validate(ctx, &CREATE, body.as_ref())?;
    let visible = authorized(ctx, uuid, rule)?;
    let items = items(body.as_ref().and_then(|b| b.get("metadata")));
    let limit = quota_limit(ctx)?;
    instances::write_metadata(
        &ctx.services()?.db,
        uuid,
        visible,
        mode,
        &items,
        limit,
        check(ctx.is_admin),
    )
    .map_err(|r| refusal_error(r, uuid, "update metadata"))?;
    resp.body.extend_from_slice(b"{\"metadata\": ");
    push_all(&mut resp.body, ctx, uuid)?;
    resp.body.push(b'}');
    resp.content_type = "application/json";
    Ok(())
}

/// `POST …/metadata`.
fn create<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    write_all(req, ctx, params, resp, POLICY_CREATE, MetadataMode::Merge)
}

/// `PUT …/metadata`.
fn update_all<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    write_all(
        req,
        ctx,
        params,
        resp,
        POLICY_UPDATE_ALL,
        MetadataMode::Replace,
    )
}

/// `PUT …/metadata/{key}`.
fn update<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let uuid = params.get("server_id").unwrap_or_default();
    let key = params.get("id").unwrap_or_default();
    let body = json_body(req)?;
    validate(ctx, &UPDATE, body.as_ref())?;
    let visible = authorized(ctx, uuid, POLICY_UPDATE)?;
    let items = items(body.as_ref().and_then(|b| b.get("meta")));
    if !items.iter().any(|(k, _)| *k == key) {
        return Err(ApiError::Invalid(Cow::Borrowed(
            "Request body and URI mismatch",
        )));
    }
    let limit = quota_limit(ctx)?;
    instances::write_metadata(
        &ctx.services()?.db,
        uuid,
        visible,
        MetadataMode::Merge,
        &items,
        limit,
        check(ctx.is_admin),
    )
    .map_err(|r| refusal_error(r, uuid, "update metadata"))?;
    let out = &mut resp.body;
    out.extend_from_slice(b"{\"meta\": {");
    for (i, (k, v)) in items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        json::push_str(out, k);
        out.extend_from_slice(b": ");
        json::push_str(out, v);
    }
    out.extend_from_slice(b"}}");
    resp.content_type = "application/json";
    Ok(())
}

/// `DELETE …/metadata/{key}`: 204.
fn delete<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let uuid = params.get("server_id").unwrap_or_default();
    let key = params.get("id").unwrap_or_default();
    let visible = authorized(ctx, uuid, POLICY_DELETE)?;
    let db = &ctx.services()?.db;
    if instances::metadata_item(db, uuid, key)?.is_none() {
        return Err(item_not_found());
    }
    instances::write_metadata(
        db,
        uuid,
        visible,
        MetadataMode::Delete,
        &[(key, "")],
        -1,
        check(ctx.is_admin),
    )
    .map_err(|r| match r {
        MetadataRefusal::Db(DbError::NotFound) => item_not_found(),
        other => refusal_error(other, uuid, "delete metadata"),
    })?;
    resp.status = 204;
    Ok(())
}
