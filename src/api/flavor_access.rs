//! Flavor access (SPEC §4.2): Nova's `FlavorAccessController` (`GET
//! /flavors/{flavor_id}/os-flavor-access`) and the `addTenantAccess` / `removeTenantAccess`
//! actions of `POST /flavors/{id}/action`.
//!
//! Core worker, innermost layer. Order of checks, as in Nova: the action body's schema,
//! policy (`os_compute_api:os-flavor-access[:add_tenant_access|:remove_tenant_access]`),
//! the flavor lookup (404), then the access rules. From 2.7 adding access to a public flavor
//! is a 409; before 2.7 (and under `/v2`) it is recorded like any other. Conflict and
//! not-found texts name the flavor's internal id, as Nova's do. The project named in the body
//! is not checked against Keystone (there is none).
//!
//! It must never show or change the access list of a flavor the requester cannot see, and
//! never answer with anything but Nova's fault texts. No `unsafe`.

use std::borrow::Cow;

use simd_json::{prelude::ValueAsScalar, value::borrowed::Object, BorrowedValue};

use super::{
    context::{Request, RequestContext},
    dispatch_action,
    error::ApiError,
    flavors::{empty_target, get_flavor, JSON},
    json, query_pairs, validate,
    validation::{Keyword, Schema, Type},
    Route,
};
use crate::{
    db::{flavors as db_flavors, Conflict, DbError},
    http::Response,
    route,
    router::{Method, Params},
};

/// The routes of the flavor access controllers.
pub const ROUTES: &[Route] = &[
    route!(Method::Post, "/flavors/{id}/action", action),
    route!(Method::Get, "/flavors/{flavor_id}/os-flavor-access", index),
];

const INDEX_RULE: &str = "os_compute_api:os-flavor-access";
const ADD_RULE: &str = "os_compute_api:os-flavor-access:add_tenant_access";
const REMOVE_RULE: &str = "os_compute_api:os-flavor-access:remove_tenant_access";

/// Nova's schema of one action body: `{<action>: {"tenant": <1-255 characters>}}`.
macro_rules! tenant_action {
    ($name:literal) => {
        Schema::new(&[
            Keyword::Type(&[Type::Object]),
            Keyword::Properties(&[(
                $name,
                Schema::new(&[
                    Keyword::Type(&[Type::Object]),
                    Keyword::Properties(&[(
                        "tenant",
                        Schema::new(&[
                            Keyword::Type(&[Type::String]),
                            Keyword::MinLength(1),
                            Keyword::MaxLength(255),
                        ]),
                    )]),
                    Keyword::Required(&["tenant"]),
                    Keyword::AdditionalProperties(false),
                ]),
            )]),
            Keyword::Required(&[$name]),
            Keyword::AdditionalProperties(false),
        ])
    };
}

pub(crate) const ADD_TENANT_ACCESS: Schema = tenant_action!("addTenantAccess");
pub(crate) const REMOVE_TENANT_ACCESS: Schema = tenant_action!("removeTenantAccess");

/// Writes `{"flavor_access": [{"flavor_id": …, "tenant_id": …}, …]}`.
fn write_access_list(
    ctx: &RequestContext<'_>,
    resp: &mut Response,
    flavor_id: i64,
    flavorid: &str,
) -> Result<(), ApiError> {
    let services = ctx.services()?;
    let projects = db_flavors::access_list(&services.db, flavor_id)?;
    resp.content_type = JSON;
    let out = &mut resp.body;
    out.extend_from_slice(b"{\"flavor_access\": [");
    for (i, project) in projects.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(b"{\"flavor_id\": ");
        json::push_str(out, flavorid);
        out.extend_from_slice(b", \"tenant_id\": ");
        json::push_str(out, project);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Ok(())
}

/// `GET /flavors/{flavor_id}/os-flavor-access`: the projects of a private flavor.
fn index(
    req: &Request<'_>,
    ctx: &mut RequestContext<'_>,
    params: &Params<'_, '_>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    query_pairs(req)?;
    ctx.authorize_own(INDEX_RULE)?;
    let flavorid = params.get("flavor_id").unwrap_or_default();
    let flavor = get_flavor(ctx, flavorid)?;
    if flavor.is_public {
        return Err(ApiError::NotFound(Cow::Borrowed(
            "Access list not available for public flavors.",
        )));
    }
    write_access_list(ctx, resp, flavor.id, &flavor.flavorid)
}

/// `POST /flavors/{id}/action`.
fn action<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    dispatch_action(
        req,
        ctx,
        params,
        resp,
        &[
            ("addTenantAccess", add_tenant_access),
            ("removeTenantAccess", remove_tenant_access),
        ],
    )
}

/// Validates the whole action body `{<name>: <argument>}` (so messages name the same fields
/// as Nova's) and returns the `tenant`.
fn tenant<'v>(
    ctx: &RequestContext<'_>,
    schema: &Schema,
    name: &'static str,
    argument: &'v BorrowedValue<'_>,
) -> Result<&'v str, ApiError> {
    let mut body = Object::with_capacity(1);
    body.insert(Cow::Borrowed(name), argument.clone());
    validate(ctx, schema, Some(&BorrowedValue::Object(Box::new(body))))?;
    Ok(super::flavors::member(argument, "tenant")
        .and_then(|value| value.as_str())
        .unwrap_or_default())
}

/// `addTenantAccess`: shares a private flavor with a project.
fn add_tenant_access<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    argument: &BorrowedValue<'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let tenant = tenant(ctx, &ADD_TENANT_ACCESS, "addTenantAccess", argument)?;
    ctx.authorize(ADD_RULE, &empty_target())?;
    let flavor = get_flavor(ctx, params.get("id").unwrap_or_default())?;
    if ctx.at_least(7) && flavor.is_public {
        return Err(ApiError::Conflict(Cow::Borrowed(
            "Can not add access to a public flavor.",
        )));
    }
    let services = ctx.services()?;
    db_flavors::add_access(&services.db, flavor.id, tenant).map_err(|err| match err {
        DbError::Conflict(Conflict::FlavorAccess) => ApiError::Conflict(Cow::Owned(format!(
            "Flavor access already exists for flavor {} and project {tenant} combination.",
            flavor.id
        ))),
        other => ApiError::from_db(other),
    })?;
    write_access_list(ctx, resp, flavor.id, &flavor.flavorid)
}

/// `removeTenantAccess`: stops sharing a flavor with a project.
fn remove_tenant_access<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    argument: &BorrowedValue<'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let tenant = tenant(ctx, &REMOVE_TENANT_ACCESS, "removeTenantAccess", argument)?;
    ctx.authorize(REMOVE_RULE, &empty_target())?;
    let flavor = get_flavor(ctx, params.get("id").unwrap_or_default())?;
    let services = ctx.services()?;
    db_flavors::remove_access(&services.db, flavor.id, tenant).map_err(|err| match err {
        DbError::NotFound => ApiError::NotFound(Cow::Owned(format!(
            "Flavor access not found for {} / {tenant} combination.",
            flavor.id
        ))),
        other => ApiError::from_db(other),
    })?;
    write_access_list(ctx, resp, flavor.id, &flavor.flavorid)
}
