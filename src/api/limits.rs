//! `GET /limits` (SPEC §4.5, Nova's `compute/limits.py` and `views/limits.py`): a project's
//! absolute limits and what it uses of them, and under `rate` the caller's standing against the
//! ratelimit filter's limits (empty without that filter).
//!
//! Core worker, innermost layer. The limits are the project's quotas as
//! [`super::quota_sets::project_limits`] resolves them (stored overrides, else `[quota]`
//! defaults); usage counts the project's live servers (instances, cores, RAM; server groups stay 0) (key pairs are per user and
//! never part of it). Per microversion: from 2.36 the network limits and usages are gone, from
//! 2.39 `maxImageMeta`, from 2.57 the personality limits. `?tenant_id=` (its last value, even
//! empty) reads another project and needs `os_compute_api:limits:other_project`. The body is
//! written straight into the response; this module never writes anything to the database and
//! never charges a rate limit.

use super::{
    context::{Request, RequestContext},
    error::ApiError,
    query_pairs,
    quota_sets::{project_limits, resource_index},
    validate_query,
    validation::{parameter_types::COMMON_QUERY_PARAM, Keyword, Schema, Type},
    Route,
};
use crate::{
    http::Response,
    policy::Target,
    ratelimit::{push_isotime, RateLimiter},
    router::{Method, Params},
};

/// The routes of `limits`.
pub const ROUTES: &[Route] = &[crate::route!(Method::Get, "/limits", index)];

const POLICY: &str = "os_compute_api:limits";
const POLICY_OTHER_PROJECT: &str = "os_compute_api:limits:other_project";

/// `limits_query_schema`: `tenant_id` strings, anything else ignored.
pub(crate) const QUERY: Schema = Schema::new(&[
    Keyword::Type(&[Type::Object]),
    Keyword::Properties(&[("tenant_id", COMMON_QUERY_PARAM)]),
    Keyword::AdditionalProperties(true),
]);

/// Until which microversion (exclusive) an absolute entry is shown.
#[derive(Clone, Copy)]
enum Until {
    Always,
    /// Below 2.36.
    V236,
    /// Below 2.39.
    V239,
    /// Below 2.57.
    V257,
}

/// What an absolute entry reports.
#[derive(Clone, Copy)]
enum Value {
    /// The limit of a quota resource.
    Limit(&'static str),
    /// Usage: nothing is counted yet.
    Used,
}

/// The absolute entries, in the order of Nova's API sample.
const ABSOLUTE: [(&str, Value, Until); 19] = [
    ("maxImageMeta", Value::Limit("metadata_items"), Until::V239),
    (
        "maxPersonality",
        Value::Limit("injected_files"),
        Until::V257,
    ),
    (
        "maxPersonalitySize",
        Value::Limit("injected_file_content_bytes"),
        Until::V257,
    ),
    (
        "maxSecurityGroupRules",
        Value::Limit("security_group_rules"),
        Until::V236,
    ),
    (
        "maxSecurityGroups",
        Value::Limit("security_groups"),
        Until::V236,
    ),
    (
        "maxServerMeta",
        Value::Limit("metadata_items"),
        Until::Always,
    ),
    ("maxTotalCores", Value::Limit("cores"), Until::Always),
    (
        "maxTotalFloatingIps",
        Value::Limit("floating_ips"),
        Until::V236,
    ),
    (
        "maxTotalInstances",
        Value::Limit("instances"),
        Until::Always,
    ),
    ("maxTotalKeypairs", Value::Limit("key_pairs"), Until::Always),
    ("maxTotalRAMSize", Value::Limit("ram"), Until::Always),
    (
        "maxServerGroups",
        Value::Limit("server_groups"),
        Until::Always,
    ),
    (
        "maxServerGroupMembers",
        Value::Limit("server_group_members"),
        Until::Always,
    ),
    ("totalCoresUsed", Value::Used, Until::Always),
    ("totalInstancesUsed", Value::Used, Until::Always),
    ("totalRAMUsed", Value::Used, Until::Always),
    ("totalSecurityGroupsUsed", Value::Used, Until::V236),
    ("totalFloatingIpsUsed", Value::Used, Until::V236),
    ("totalServerGroupsUsed", Value::Used, Until::Always),
];

/// `GET /limits[?tenant_id=]`.
fn index<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let pairs = query_pairs(req)?;
    validate_query(ctx, &QUERY, &pairs)?;
    ctx.authorize(POLICY, &Target::new())?;
    let (_, own) = ctx.identity()?;
    // webob's `req.GET.get('tenant_id')`: the last value.
    let project = match pairs.iter().rev().find(|(k, _)| k == "tenant_id") {
        Some((_, tenant)) => {
            ctx.authorize_own(POLICY_OTHER_PROJECT)?;
            tenant.as_ref()
        }
        None => own,
    };
    let limits = project_limits(ctx.services()?, project)?;
    let usage = crate::db::queries::orchestration::usage(&ctx.services()?.db, project)?;

    let out = &mut resp.body;
    out.extend_from_slice(b"{\"limits\": {\"absolute\": {");
    let mut digits = itoa::Buffer::new();
    let mut first = true;
    for (name, value, until) in ABSOLUTE {
        let shown = match until {
            Until::Always => true,
            Until::V236 => !ctx.at_least(36),
            Until::V239 => !ctx.at_least(39),
            Until::V257 => !ctx.at_least(57),
        };
        if !shown {
            continue;
        }
        if !first {
            out.extend_from_slice(b", ");
        }
        first = false;
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\": ");
        let number = match value {
            Value::Limit(resource) => resource_index(resource).map_or(-1, |i| limits[i]),
            Value::Used => match name {
                "totalInstancesUsed" => usage.instances,
                "totalCoresUsed" => usage.cores,
                "totalRAMUsed" => usage.ram,
                _ => 0,
            },
        };
        out.extend_from_slice(digits.format(number).as_bytes());
    }
    out.extend_from_slice(b"}, \"rate\": [");
    if let Some(limiter) = ctx.rate_limiter {
        push_rate(out, limiter, ctx.user_id);
    }
    out.extend_from_slice(b"]}}");
    resp.content_type = "application/json";
    Ok(())
}

/// Folsom's `rate` view: one entry per URI and regex, each with its limits and the caller's
/// remaining requests and next-available time.
fn push_rate(out: &mut Vec<u8>, limiter: &RateLimiter, user: Option<&str>) {
    let statuses = limiter.snapshot(user);
    let mut digits = itoa::Buffer::new();
    for (g, group) in limiter.groups().iter().enumerate() {
        if g > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(b"{\"uri\": ");
        super::json::push_str(out, &group.uri);
        out.extend_from_slice(b", \"regex\": ");
        super::json::push_str(out, &group.regex);
        out.extend_from_slice(b", \"limit\": [");
        for (m, &index) in group.members.iter().enumerate() {
            let (Some(limit), Some(status)) = (limiter.limits().get(index), statuses.get(index))
            else {
                continue;
            };
            if m > 0 {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(b"{\"verb\": ");
            super::json::push_str(out, &limit.verb);
            out.extend_from_slice(b", \"value\": ");
            out.extend_from_slice(digits.format(limit.value).as_bytes());
            out.extend_from_slice(b", \"remaining\": ");
            out.extend_from_slice(digits.format(status.remaining).as_bytes());
            out.extend_from_slice(b", \"unit\": \"");
            out.extend_from_slice(limit.unit.name().as_bytes());
            out.extend_from_slice(b"\", \"next-available\": \"");
            push_isotime(out, status.next_available);
            out.extend_from_slice(b"\"}");
        }
        out.extend_from_slice(b"]}");
    }
}
