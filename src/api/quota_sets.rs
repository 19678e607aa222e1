//! `os-quota-sets` (SPEC §4.6 and §6, Nova's `compute/quota_sets.py` over `DbQuotaDriver`):
//! show (`?user_id=`), detail, defaults, update and delete a project's quota limits.
//!
//! Core worker, innermost layer. Only overrides are stored (`db::quotas`); a resource without
//! one uses the `[quota]` default. Per microversion the key set shrinks: from 2.36 the
//! network resources (`fixed_ips`, `floating_ips`, `security_groups`,
//! `security_group_rules`) are neither written nor accepted by update (400 as unexpected
//! members), from 2.57 neither are the `injected_*` ones. Usage (`in_use`) counts the project's live
//! servers (instances, cores, ram) and is 0 for the rest: there are no server groups, and Nova itself never counts
//! `key_pairs` (a per-user resource) for this API. `reserved` is always 0, as in Nova.
//!
//! Update follows Nova's two passes: every value is checked first (unless `force`), then all
//! are stored in one transaction. A project's limit may not drop below what its users' limits
//! already take; a user's limit may not exceed what the project has left plus the user's own.
//! The [`project_limits`] resolution is shared with [`super::limits`]. This module must never
//! store a value its schema refused, and never answer with a project's limits to a caller
//! the policy denies.

use std::borrow::Cow;

use simd_json::{prelude::*, BorrowedValue};

use super::{
    context::{Request, RequestContext},
    error::ApiError,
    json_body, query_pairs, validate, validate_query,
    validation::{
        parameter_types::{multi_params, BOOLEAN, MAX_INT, STRING},
        Keyword, Limit, Pattern, Schema, Type,
    },
    QueryPairs, Route,
};
use crate::{
    api::services::Services,
    db::quotas,
    http::Response,
    policy::Target,
    router::{Method, Params},
};

/// The routes of `os-quota-sets`.
pub const ROUTES: &[Route] = &[
    crate::route!(Method::Get, "/os-quota-sets/{id}", show),
    crate::route!(Method::Put, "/os-quota-sets/{id}", update),
    crate::route!(Method::Delete, "/os-quota-sets/{id}", delete),
    crate::route!(Method::Get, "/os-quota-sets/{id}/detail", detail),
    crate::route!(Method::Get, "/os-quota-sets/{id}/defaults", defaults),
];

const POLICY_SHOW: &str = "os_compute_api:os-quota-sets:show";
const POLICY_DETAIL: &str = "os_compute_api:os-quota-sets:detail";
const POLICY_DEFAULTS: &str = "os_compute_api:os-quota-sets:defaults";
const POLICY_UPDATE: &str = "os_compute_api:os-quota-sets:update";
const POLICY_DELETE: &str = "os_compute_api:os-quota-sets:delete";

/// Which microversions still show a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Era {
    /// Every version.
    Always,
    /// Below 2.36 (nova-network resources).
    Network,
    /// Below 2.57 (personality files).
    Personality,
}

impl Era {
    /// Whether the resource is part of the API at this request's version.
    pub(crate) fn shown(self, ctx: &RequestContext<'_>) -> bool {
        match self {
            Era::Always => true,
            Era::Network => !ctx.at_least(36),
            Era::Personality => !ctx.at_least(57),
        }
    }
}

/// Nova's quota resources (`nova/quota.py: QUOTAS`), in the order responses list them.
pub(crate) const RESOURCES: [(&str, Era); 14] = [
    ("cores", Era::Always),
    ("fixed_ips", Era::Network),
    ("floating_ips", Era::Network),
    ("injected_file_content_bytes", Era::Personality),
    ("injected_file_path_bytes", Era::Personality),
    ("injected_files", Era::Personality),
    ("instances", Era::Always),
    ("key_pairs", Era::Always),
    ("metadata_items", Era::Always),
    ("ram", Era::Always),
    ("security_group_rules", Era::Network),
    ("security_groups", Era::Network),
    ("server_group_members", Era::Always),
    ("server_groups", Era::Always),
];

/// Index of a resource in [`RESOURCES`].
pub(crate) fn resource_index(name: &str) -> Option<usize> {
    RESOURCES.iter().position(|(known, _)| *known == name)
}

/// One limit per [`RESOURCES`] entry.
pub(crate) type Limits = [i64; RESOURCES.len()];

/// The `[quota]` defaults (the legacy network resources are unlimited).
pub(crate) fn default_limits(services: &Services) -> Limits {
    RESOURCES.map(|(name, _)| services.quota_defaults.get(name))
}

/// Stored rows over `limits`.
fn overlay(limits: &mut Limits, rows: &[quotas::QuotaRow]) {
    for row in rows {
        if let Some(index) = resource_index(&row.resource) {
            limits[index] = row.hard_limit;
        }
    }
}

/// The limits in force for a project: its stored limits, else the defaults.
pub(crate) fn project_limits(services: &Services, project_id: &str) -> Result<Limits, ApiError> {
    let mut limits = default_limits(services);
    overlay(&mut limits, &quotas::get_project(&services.db, project_id)?);
    Ok(limits)
}

/// The limits in force for a user: the user's stored limits, else the project's.
fn user_limits(services: &Services, project_id: &str, user_id: &str) -> Result<Limits, ApiError> {
    let mut limits = project_limits(services, project_id)?;
    overlay(
        &mut limits,
        &quotas::get_user(&services.db, project_id, user_id)?,
    );
    Ok(limits)
}

// ---------------------------------------------------------------------------------------------
// Schemas (Nova's schemas/quota_sets.py)
// ---------------------------------------------------------------------------------------------

/// `common_quota`: an integer or signed digit string in -1..=MAX_INT.
const COMMON_QUOTA: Schema = Schema::new(&[
    Keyword::Type(&[Type::Integer, Type::String]),
    Keyword::Pattern(Pattern::SIGNED_DIGITS),
    Keyword::Minimum(Limit::Int(-1)),
    Keyword::Maximum(Limit::Int(MAX_INT)),
]);

/// `{"quota_set": {<members>}}`. Nova's `quota_set` schema has no `type`, so a non-object
/// passes validation (and then fails in the handler, as in Nova).
macro_rules! update_schema {
    ($($name:literal),* $(,)?) => {
        Schema::new(&[
            Keyword::Type(&[Type::Object]),
            Keyword::Properties(&[(
                "quota_set",
                Schema::new(&[
                    Keyword::Properties(&[$(($name, COMMON_QUOTA),)* ("force", BOOLEAN)]),
                    Keyword::AdditionalProperties(false),
                ]),
            )]),
            Keyword::Required(&["quota_set"]),
            Keyword::AdditionalProperties(false),
        ])
    };
}

/// `update` (2.1–2.35).
pub(crate) const UPDATE_V21: Schema = update_schema!(
    "instances",
    "cores",
    "ram",
    "floating_ips",
    "fixed_ips",
    "metadata_items",
    "key_pairs",
    "security_groups",
    "security_group_rules",
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_bytes",
    "server_groups",
    "server_group_members",
    "networks",
);

/// `update_v236` (2.36–2.56).
pub(crate) const UPDATE_V236: Schema = update_schema!(
    "instances",
    "cores",
    "ram",
    "metadata_items",
    "key_pairs",
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_bytes",
    "server_groups",
    "server_group_members",
);

/// `update_v257` (2.57–).
pub(crate) const UPDATE_V257: Schema = update_schema!(
    "instances",
    "cores",
    "ram",
    "metadata_items",
    "key_pairs",
    "server_groups",
    "server_group_members",
);

/// `query_schema`: `user_id` strings, anything else ignored.
pub(crate) const QUERY: Schema = Schema::new(&[
    Keyword::Type(&[Type::Object]),
    Keyword::Properties(&[("user_id", Schema::new(&multi_params(STRING)))]),
    Keyword::AdditionalProperties(true),
]);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `parse_qs(...)['user_id'][0]`: the first non-empty `user_id` (blank values are dropped).
fn query_user<'p>(pairs: &'p QueryPairs<'_>) -> Option<&'p str> {
    pairs
        .as_slice()
        .iter()
        .find(|(k, v)| k == "user_id" && !v.is_empty())
        .map(|(_, v)| v.as_ref())
}

/// `context.can(rule, {'project_id': id})`.
fn authorize(ctx: &RequestContext<'_>, rule: &'static str, id: &str) -> Result<(), ApiError> {
    let mut target = Target::new();
    target.insert("project_id", id);
    ctx.authorize(rule, &target)
}

/// Writes `{"quota_set": {["id": …, ]<resource>: <limit>, …}}`.
fn write_quota_set(out: &mut Vec<u8>, ctx: &RequestContext<'_>, id: Option<&str>, limits: &Limits) {
    out.extend_from_slice(b"{\"quota_set\": {");
    let mut first = true;
    if let Some(id) = id {
        out.extend_from_slice(b"\"id\": ");
        super::json::push_str(out, id);
        first = false;
    }
    let mut digits = itoa::Buffer::new();
    for ((name, era), limit) in RESOURCES.iter().zip(limits) {
        if !era.shown(ctx) {
            continue;
        }
        if !first {
            out.extend_from_slice(b", ");
        }
        first = false;
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\": ");
        out.extend_from_slice(digits.format(*limit).as_bytes());
    }
    out.extend_from_slice(b"}}");
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// `GET /os-quota-sets/{id}[?user_id=]`.
fn show<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let pairs = query_pairs(req)?;
    validate_query(ctx, &QUERY, &pairs)?;
    let id = params.get("id").unwrap_or_default();
    authorize(ctx, POLICY_SHOW, id)?;
    let services = ctx.services()?;
    let limits = match query_user(&pairs) {
        Some(user) => user_limits(services, id, user)?,
        None => project_limits(services, id)?,
    };
    write_quota_set(&mut resp.body, ctx, Some(id), &limits);
    resp.content_type = "application/json";
    Ok(())
}

/// `GET /os-quota-sets/{id}/detail[?user_id=]`: each limit with its usage.
fn detail<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let pairs = query_pairs(req)?;
    validate_query(ctx, &QUERY, &pairs)?;
    let id = params.get("id").unwrap_or_default();
    authorize(ctx, POLICY_DETAIL, id)?;
    let services = ctx.services()?;
    let user = query_user(&pairs);
    let limits = match user {
        Some(user) => user_limits(services, id, user)?,
        None => project_limits(services, id)?,
    };
    let usage = match user {
        Some(user) => crate::db::queries::orchestration::user_usage(&services.db, id, user)?,
        None => crate::db::queries::orchestration::usage(&services.db, id)?,
    };
    let out = &mut resp.body;
    out.extend_from_slice(b"{\"quota_set\": {\"id\": ");
    super::json::push_str(out, id);
    let mut digits = itoa::Buffer::new();
    for ((name, era), limit) in RESOURCES.iter().zip(&limits) {
        if !era.shown(ctx) {
            continue;
        }
        out.extend_from_slice(b", \"");
        out.extend_from_slice(name.as_bytes());
        // Servers are counted per project, or per user with `user_id` (instances, cores,
        // ram); server groups do not
        // exist; key pairs never are counted here.
        let in_use = match *name {
            "instances" => usage.instances,
            "cores" => usage.cores,
            "ram" => usage.ram,
            _ => 0,
        };
        out.extend_from_slice(b"\": {\"in_use\": ");
        out.extend_from_slice(digits.format(in_use).as_bytes());
        out.extend_from_slice(b", \"limit\": ");
        out.extend_from_slice(digits.format(*limit).as_bytes());
        out.extend_from_slice(b", \"reserved\": 0}");
    }
    out.extend_from_slice(b"}}");
    resp.content_type = "application/json";
    Ok(())
}

/// `GET /os-quota-sets/{id}/defaults`.
fn defaults<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let id = params.get("id").unwrap_or_default();
    authorize(ctx, POLICY_DEFAULTS, id)?;
    let limits = default_limits(ctx.services()?);
    write_quota_set(&mut resp.body, ctx, Some(id), &limits);
    resp.content_type = "application/json";
    Ok(())
}

/// `DELETE /os-quota-sets/{id}[?user_id=]`: back to the defaults (or, for a user, to the
/// project's limits). Always 202.
fn delete<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let pairs = query_pairs(req)?;
    validate_query(ctx, &QUERY, &pairs)?;
    let id = params.get("id").unwrap_or_default();
    authorize(ctx, POLICY_DELETE, id)?;
    let db = &ctx.services()?.db;
    match query_user(&pairs) {
        Some(user) => quotas::delete_user(db, id, user)?,
        None => quotas::delete_project(db, id)?,
    }
    resp.status = 202;
    Ok(())
}

/// oslo's `strutils.bool_from_string` (not strict): true for `1`, `t`, `true`, `on`, `y`,
/// `yes` in any case, and for JSON `true`.
fn bool_from_value(value: &BorrowedValue<'_>) -> bool {
    if let Some(flag) = value.as_bool() {
        return flag;
    }
    value.as_str().is_some_and(|text| {
        let text = text.trim().to_ascii_lowercase();
        matches!(text.as_str(), "1" | "t" | "true" | "on" | "y" | "yes")
    })
}

/// Python's `int(value)` of a value the schema admitted (an integer, an integral float or a
/// signed digit string within -1..=MAX_INT).
fn int_value(value: &BorrowedValue<'_>) -> Option<i64> {
    if let Some(n) = value.as_i64() {
        return Some(n);
    }
    if let Some(f) = value.as_f64() {
        return Some(f as i64);
    }
    value.as_str().and_then(|t| t.trim().parse().ok())
}

/// `-1` (unlimited) as infinity, for the range checks.
fn conv_inf(value: i64) -> f64 {
    if value == -1 {
        f64::INFINITY
    } else {
        value as f64
    }
}

/// `DbQuotaDriver._sum_quota_values` / `_sub_quota_values`: unlimited wins.
fn sum_quota(a: i64, b: i64) -> i64 {
    if a <= -1 || b <= -1 {
        -1
    } else {
        a + b
    }
}

fn sub_quota(a: i64, b: i64) -> i64 {
    if a <= -1 || b <= -1 {
        -1
    } else {
        a - b
    }
}

/// `PUT /os-quota-sets/{id}[?user_id=]`.
fn update<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let body = json_body(req)?;
    let schema = if ctx.at_least(57) {
        &UPDATE_V257
    } else if ctx.at_least(36) {
        &UPDATE_V236
    } else {
        &UPDATE_V21
    };
    validate(ctx, schema, body.as_ref())?;
    let pairs = query_pairs(req)?;
    validate_query(ctx, &QUERY, &pairs)?;
    let id = params.get("id").unwrap_or_default();
    authorize(ctx, POLICY_UPDATE, id)?;
    let user = query_user(&pairs);
    let Some(quota_set) = body
        .as_ref()
        .and_then(|b| b.get("quota_set"))
        .and_then(|q| q.as_object())
    else {
        // Nova's schema lets a non-object through and its controller then fails with a 500;
        // a client error deserves a 400.
        return Err(ApiError::Invalid(Cow::Borrowed(
            "Invalid input for field/attribute quota_set: it must be an object.",
        )));
    };
    if quota_set.contains_key("networks") {
        return Err(ApiError::Invalid(Cow::Borrowed(
            "The networks quota is disabled",
        )));
    }
    let force = quota_set.get("force").is_some_and(bool_from_value);
    let services = ctx.services()?;

    // `get_settable_quotas`: usage is 0 everywhere, so the bounds come from the limits alone.
    let project = project_limits(services, id)?;
    let mut remains = project;
    for row in quotas::user_limit_sums(&services.db, id)? {
        if let Some(index) = resource_index(&row.resource) {
            remains[index] -= row.hard_limit;
        }
    }
    let user_rows = match user {
        Some(user) => quotas::get_user(&services.db, id, user)?,
        None => Vec::new(),
    };

    let mut valid: Vec<(&str, i64)> = Vec::with_capacity(quota_set.len());
    for (key, value) in quota_set.iter() {
        let key: &str = key;
        if key == "force" {
            continue;
        }
        let Some(index) = resource_index(key) else {
            continue;
        };
        let Some(limit) = int_value(value) else {
            return Err(ApiError::Invalid(Cow::Owned(format!(
                "Invalid input for field/attribute {key}: it must be an integer."
            ))));
        };
        if !force {
            let (minimum, maximum) = if user.is_some() {
                let own = user_rows
                    .iter()
                    .find(|row| row.resource == key)
                    .map_or(0, |row| row.hard_limit);
                (0, sum_quota(remains[index], own))
            } else {
                (sub_quota(project[index], remains[index]).max(0), -1)
            };
            if conv_inf(limit) < conv_inf(minimum) {
                return Err(ApiError::Invalid(Cow::Owned(format!(
                    "Quota limit {limit} for {key} must be greater than or equal to already \
                     used and reserved {minimum}."
                ))));
            }
            if conv_inf(limit) > conv_inf(maximum) {
                return Err(ApiError::Invalid(Cow::Owned(format!(
                    "Quota limit {limit} for {key} must be less than or equal to {maximum}."
                ))));
            }
        }
        valid.push((RESOURCES[index].0, limit));
    }
    match user {
        Some(user) => quotas::set_user(&services.db, id, user, &valid)?,
        None => quotas::set_project(&services.db, id, &valid)?,
    }
    let limits = match user {
        Some(user) => user_limits(services, id, user)?,
        None => project_limits(services, id)?,
    };
    write_quota_set(&mut resp.body, ctx, None, &limits);
    resp.content_type = "application/json";
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_arithmetic_follows_nova() {
        assert_eq!(sum_quota(5, 3), 8);
        assert_eq!(sum_quota(-1, 3), -1);
        assert_eq!(sum_quota(-6, 5), -1);
        assert_eq!(sub_quota(10, 4), 6);
        assert_eq!(sub_quota(10, -1), -1);
        assert!(conv_inf(-1) > conv_inf(i64::from(i32::MAX)));
    }

    #[test]
    fn resources_are_sorted_and_unique() {
        let names: Vec<&str> = RESOURCES.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        assert_eq!(resource_index("key_pairs"), Some(7));
        assert_eq!(resource_index("networks"), None);
    }
}
