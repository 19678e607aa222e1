//! The read side of `servers` (SPEC §4.3, Nova's `compute/servers.py`): list, detail, show
//! and update, plus [`write_rebuilt_server`], the view the write side answers rebuild with.
//!
//! Core worker, innermost layer. Rows stream from SQLite straight into the response body
//! through [`super::server_view`]. Per microversion:
//! - 2.1 (and `/v2` = 2.0): non-admin filters `reservation_id, name, status, image, flavor,
//!   ip, changes-since, all_tenants`; anything else is dropped unless
//!   `servers:allow_all_filters` passes (admins), whose extra filters are Nova's admin list.
//! - ≥ 2.5 `ip6` for everyone; ≥ 2.26 `tags`, `tags-any`, `not-tags`, `not-tags-any`.
//! - ≥ 2.38 an unknown `status` is 400 "Invalid status value" (below: an empty list).
//! - ≥ 2.19 `description` in the update body; the update response is the show view without
//!   the AZ, config drive, key name, usage, security groups, extended status, volumes,
//!   extended attributes and extended addresses (all versions served, < 2.75); the rebuild
//!   response is the same reduced view plus `key_name` from 2.54 and `user_data` from 2.57.
//! - View changes (2.3, 2.9, 2.16, 2.19, 2.26, 2.47): see [`super::server_view`].
//!
//! Non-admin callers see only their project's servers: another project's server is 404, as
//! in Nova. This module must never create, delete or change the state of a server (the
//! write side owns that); its only write is the update of name, description, access IPs
//! and disk config.

use std::borrow::Cow;

use regex::Regex;
use simd_json::prelude::*;

use super::{
    context::{Request, RequestContext},
    error::ApiError,
    json_body,
    links::{page_is_full, Links},
    query_pairs,
    server_view::{self, ViewFlags},
    validate, validate_query,
    validation::{
        parameter_types::{
            multi_params, COMMON_QUERY_PARAM, DESCRIPTION, DISK_CONFIG, LIMIT, NAME,
            NAME_WITH_LEADING_TRAILING_SPACES, STRING,
        },
        Keyword, Literal, Schema, Type,
    },
    QueryPairs, Route,
};
use crate::{
    db::{
        flavors,
        queries::instances::{self, InstanceRef, InstanceUpdate, ListQuery, SortColumn},
        DbError,
    },
    http::Response,
    policy::Target,
    router::{Method, Params},
};

/// The routes of the servers read side.
pub const ROUTES: &[Route] = &[
    crate::route!(Method::Get, "/servers", index),
    crate::route!(Method::Get, "/servers/detail", detail),
    crate::route!(Method::Get, "/servers/{id}", show),
    crate::route!(Method::Put, "/servers/{id}", update),
];

const POLICY_INDEX: &str = "os_compute_api:servers:index";
const POLICY_DETAIL: &str = "os_compute_api:servers:detail";
const POLICY_INDEX_ALL: &str = "os_compute_api:servers:index:get_all_tenants";
const POLICY_DETAIL_ALL: &str = "os_compute_api:servers:detail:get_all_tenants";
const POLICY_SHOW: &str = "os_compute_api:servers:show";
const POLICY_UPDATE: &str = "os_compute_api:servers:update";
const POLICY_ALL_FILTERS: &str = "os_compute_api:servers:allow_all_filters";
const POLICY_EXTRA_SPECS: &str = "os_compute_api:servers:show:flavor-extra-specs";
const POLICY_HOST_STATUS: &str = "os_compute_api:servers:show:host_status";
const POLICY_EXTENDED_ATTR: &str = "os_compute_api:os-extended-server-attributes";

// ---------------------------------------------------------------------------------------------
// Schemas (Nova's schemas/servers.py)
// ---------------------------------------------------------------------------------------------

/// `VALID_SORT_KEYS` (with `SERVER_LIST_IGNORE_SORT_KEY`).
const SORT_KEYS: &[Literal] = &[
    Literal::Str("access_ip_v4"),
    Literal::Str("access_ip_v6"),
    Literal::Str("auto_disk_config"),
    Literal::Str("availability_zone"),
    Literal::Str("config_drive"),
    Literal::Str("created_at"),
    Literal::Str("display_description"),
    Literal::Str("display_name"),
    Literal::Str("host"),
    Literal::Str("hostname"),
    Literal::Str("image_ref"),
    Literal::Str("instance_type_id"),
    Literal::Str("kernel_id"),
    Literal::Str("key_name"),
    Literal::Str("launch_index"),
    Literal::Str("launched_at"),
    Literal::Str("locked_by"),
    Literal::Str("node"),
    Literal::Str("power_state"),
    Literal::Str("progress"),
    Literal::Str("project_id"),
    Literal::Str("ramdisk_id"),
    Literal::Str("root_device_name"),
    Literal::Str("task_state"),
    Literal::Str("terminated_at"),
    Literal::Str("updated_at"),
    Literal::Str("user_id"),
    Literal::Str("uuid"),
    Literal::Str("vm_state"),
    Literal::Str("architecture"),
    Literal::Str("cell_name"),
    Literal::Str("cleaned"),
    Literal::Str("default_ephemeral_device"),
    Literal::Str("default_swap_device"),
    Literal::Str("deleted"),
    Literal::Str("deleted_at"),
    Literal::Str("disable_terminate"),
    Literal::Str("ephemeral_gb"),
    Literal::Str("ephemeral_key_uuid"),
    Literal::Str("id"),
    Literal::Str("key_data"),
    Literal::Str("launched_on"),
    Literal::Str("locked"),
    Literal::Str("memory_mb"),
    Literal::Str("os_type"),
    Literal::Str("reservation_id"),
    Literal::Str("root_gb"),
    Literal::Str("shutdown_terminate"),
    Literal::Str("user_data"),
    Literal::Str("vcpus"),
    Literal::Str("vm_mode"),
];

const SORT_KEY: Schema = Schema::new(&multi_params(Schema::new(&[
    Keyword::Type(&[Type::String]),
    Keyword::Enum(SORT_KEYS),
])));

/// The string parameters of `query_params_v21` (the admin filter list, the joined-table
/// names Nova rejects, paging and sorting aside).
const QUERY_PARAMS_V21: &[&str] = &[
    "user_id",
    "project_id",
    "tenant_id",
    "launch_index",
    "image_ref",
    "image",
    "kernel_id",
    "ramdisk_id",
    "hostname",
    "key_name",
    "power_state",
    "vm_state",
    "task_state",
    "host",
    "node",
    "flavor",
    "reservation_id",
    "launched_at",
    "terminated_at",
    "availability_zone",
    "name",
    "display_name",
    "description",
    "display_description",
    "locked_by",
    "uuid",
    "root_device_name",
    "config_drive",
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "progress",
    "sort_dir",
    "all_tenants",
    "soft_deleted",
    "deleted",
    "status",
    "changes-since",
    "ip",
    "ip6",
    "created_at",
    "block_device_mapping",
    "services",
    "metadata",
    "system_metadata",
    "info_cache",
    "security_groups",
    "pci_devices",
];

/// The tag filters of `query_params_v226`.
const TAG_FILTERS: &[&str] = &["tags", "tags-any", "not-tags", "not-tags-any"];

/// Parameters whose schema has `format: regex`.
const REGEX_PARAMS: &[&str] = &[
    "kernel_id",
    "ramdisk_id",
    "hostname",
    "key_name",
    "power_state",
    "node",
    "flavor",
    "reservation_id",
    "launched_at",
    "terminated_at",
    "availability_zone",
    "name",
    "display_name",
    "description",
    "display_description",
    "locked_by",
    "root_device_name",
    "config_drive",
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "progress",
    "ip",
    "ip6",
    "created_at",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
];

/// Joined tables: 400 "Invalid filter field" when they survive the filter stripping.
const JOINED_TABLES: &[&str] = &[
    "block_device_mapping",
    "services",
    "metadata",
    "system_metadata",
    "info_cache",
    "security_groups",
    "pci_devices",
];

/// The query schema (everything is a repeatable string, `limit` and `sort_key` aside; the
/// `regex` and `date-time` formats are checked by [`check_formats`]).
pub(crate) const QUERY_SCHEMA: Schema = Schema::new(&[
    Keyword::Type(&[Type::Object]),
    Keyword::Properties(&[
        ("limit", LIMIT),
        ("marker", COMMON_QUERY_PARAM),
        ("sort_key", SORT_KEY),
    ]),
    Keyword::AdditionalProperties(true),
]);

/// Non-admin filters (`_get_server_search_options`).
fn non_admin_options(ctx: &RequestContext<'_>, name: &str) -> bool {
    matches!(
        name,
        "reservation_id"
            | "name"
            | "status"
            | "image"
            | "flavor"
            | "ip"
            | "changes-since"
            | "all_tenants"
    ) || (name == "ip6" && ctx.at_least(5))
        || (ctx.at_least(26) && TAG_FILTERS.contains(&name))
}

/// Whether the schema of this version lists the parameter (unlisted ones are stripped).
fn listed(ctx: &RequestContext<'_>, name: &str) -> bool {
    QUERY_PARAMS_V21.contains(&name)
        || matches!(name, "limit" | "marker" | "sort_key")
        || name.starts_with('_')
        || (ctx.at_least(26) && TAG_FILTERS.contains(&name))
}

const IPV4_OR_STRING: Schema = STRING;

pub(crate) const UPDATE_V20: Schema = crate::wrapped_schema!(
    "server",
    ("name", NAME_WITH_LEADING_TRAILING_SPACES),
    ("OS-DCF:diskConfig", DISK_CONFIG),
    ("accessIPv4", IPV4_OR_STRING),
    ("accessIPv6", IPV4_OR_STRING),
);

pub(crate) const UPDATE_V21: Schema = crate::wrapped_schema!(
    "server",
    ("name", NAME),
    ("OS-DCF:diskConfig", DISK_CONFIG),
    ("accessIPv4", IPV4_OR_STRING),
    ("accessIPv6", IPV4_OR_STRING),
);

pub(crate) const UPDATE_V219: Schema = crate::wrapped_schema!(
    "server",
    ("name", NAME),
    ("OS-DCF:diskConfig", DISK_CONFIG),
    ("accessIPv4", IPV4_OR_STRING),
    ("accessIPv6", IPV4_OR_STRING),
    ("description", DESCRIPTION),
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `context.can(rule, target, fatal=False)`.
fn can(
    ctx: &RequestContext<'_>,
    rule: &'static str,
    project: Option<&str>,
) -> Result<bool, ApiError> {
    let outcome = match project {
        Some(project) => {
            let mut target = Target::new();
            target.insert("project_id", project);
            ctx.authorize(rule, &target)
        }
        None => ctx.authorize_own(rule),
    };
    match outcome {
        Ok(()) => Ok(true),
        Err(ApiError::PolicyNotAuthorized(_)) => Ok(false),
        Err(other) => Err(other),
    }
}

/// The project a non-admin caller is restricted to (`None` for admin contexts).
fn visible_project<'a>(ctx: &RequestContext<'a>) -> Result<Option<&'a str>, ApiError> {
    let (_, project) = ctx.identity()?;
    Ok((!ctx.is_admin).then_some(project))
}

fn not_found(uuid: &str) -> ApiError {
    ApiError::NotFound(Cow::Owned(format!("Instance {uuid} could not be found.")))
}

fn last<'p>(pairs: &'p QueryPairs<'_>, name: &str) -> Option<&'p str> {
    pairs
        .as_slice()
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_ref())
}

/// `strutils.bool_from_string(value, strict)`.
fn bool_from_string(value: &str, strict: bool) -> Result<bool, ApiError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Ok(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Ok(false),
        other if strict => Err(ApiError::Invalid(Cow::Owned(format!(
            "Invalid input received: Unrecognized value '{other}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
        )))),
        _ => Ok(false),
    }
}

fn format_error(name: &str, value: &str, format: &str) -> ApiError {
    ApiError::Validation(Cow::Owned(format!(
        "Invalid input for query parameters {name}. Value: {value}. '{value}' is not a '{format}'"
    )))
}

/// The `regex` and `date-time` formats of the query schema, for every value given.
fn check_formats(ctx: &RequestContext<'_>, pairs: &QueryPairs<'_>) -> Result<(), ApiError> {
    for (name, value) in pairs.as_slice().iter() {
        if !listed(ctx, name) {
            continue;
        }
        if REGEX_PARAMS.contains(&name.as_ref()) && Regex::new(value).is_err() {
            return Err(format_error(name, value, "regex"));
        }
        if name == "changes-since" && server_view::parse_isotime(value).is_none() {
            return Err(format_error(name, value, "date-time"));
        }
    }
    Ok(())
}

/// Columns the Rust-side regex filters read (Nova's `REGEXP` filters, `re.search`).
#[derive(Debug, Clone, Copy)]
enum RegexField {
    DisplayName,
    Description,
    ReservationId,
    KeyName,
    Hostname,
    Node,
    AvailabilityZone,
    LaunchedAt,
    TerminatedAt,
    CreatedAt,
    LockedBy,
    ConfigDrive,
    AccessIpV4,
    AccessIpV6,
    AutoDiskConfig,
    Progress,
    PowerState,
    LaunchIndex,
    KernelOrRamdisk,
    RootDeviceName,
}

impl RegexField {
    fn of(name: &str) -> Option<RegexField> {
        Some(match name {
            "name" | "display_name" => RegexField::DisplayName,
            "description" | "display_description" => RegexField::Description,
            "reservation_id" => RegexField::ReservationId,
            "key_name" => RegexField::KeyName,
            "hostname" => RegexField::Hostname,
            "node" => RegexField::Node,
            "availability_zone" => RegexField::AvailabilityZone,
            "launched_at" => RegexField::LaunchedAt,
            "terminated_at" => RegexField::TerminatedAt,
            "created_at" => RegexField::CreatedAt,
            "locked_by" => RegexField::LockedBy,
            "config_drive" => RegexField::ConfigDrive,
            "access_ip_v4" => RegexField::AccessIpV4,
            "access_ip_v6" => RegexField::AccessIpV6,
            "auto_disk_config" => RegexField::AutoDiskConfig,
            "progress" => RegexField::Progress,
            "power_state" => RegexField::PowerState,
            "launch_index" => RegexField::LaunchIndex,
            "kernel_id" | "ramdisk_id" => RegexField::KernelOrRamdisk,
            "root_device_name" => RegexField::RootDeviceName,
            _ => return None,
        })
    }

    /// Whether the row's column matches (`NULL` never does).
    fn matches(self, inst: &InstanceRef<'_>, pattern: &Regex) -> bool {
        let number = |n: i64| pattern.is_match(itoa::Buffer::new().format(n));
        let text = |t: Option<&str>| t.is_some_and(|t| pattern.is_match(t));
        match self {
            RegexField::DisplayName => pattern.is_match(inst.display_name),
            RegexField::Description => text(inst.display_description),
            RegexField::ReservationId => pattern.is_match(inst.reservation_id),
            RegexField::KeyName => text(inst.key_name),
            RegexField::Hostname => text(inst.hostname),
            RegexField::Node => text(inst.node),
            RegexField::AvailabilityZone => text(inst.availability_zone),
            RegexField::LaunchedAt => text(inst.launched_at),
            RegexField::TerminatedAt => text(inst.terminated_at),
            RegexField::CreatedAt => pattern.is_match(inst.created_at),
            RegexField::LockedBy => text(inst.locked_by),
            RegexField::ConfigDrive => pattern.is_match(inst.config_drive),
            RegexField::AccessIpV4 => text(inst.access_ip_v4),
            RegexField::AccessIpV6 => text(inst.access_ip_v6),
            RegexField::AutoDiskConfig => number(i64::from(inst.auto_disk_config)),
            RegexField::Progress => number(inst.progress),
            RegexField::PowerState => number(inst.power_state),
            RegexField::LaunchIndex => number(inst.launch_index),
            RegexField::KernelOrRamdisk => pattern.is_match(""),
            RegexField::RootDeviceName => false,
        }
    }
}

/// The filters applied while streaming rows.
#[derive(Debug, Default)]
struct RowFilters {
    regexes: Vec<(RegexField, Regex)>,
    ip: Option<Regex>,
    ip6: Option<Regex>,
}

impl RowFilters {
    fn is_empty(&self) -> bool {
        self.regexes.is_empty() && self.ip.is_none() && self.ip6.is_none()
    }

    fn matches(&self, inst: &InstanceRef<'_>, scratch: &mut Vec<u8>) -> bool {
        if !self
            .regexes
            .iter()
            .all(|(field, re)| field.matches(inst, re))
        {
            return false;
        }
        if self.ip.is_some() || self.ip6.is_some() {
            let v4 = self
                .ip
                .as_ref()
                .is_some_and(|re| server_view::ip_matches(inst, 4, re, scratch));
            let v6 = self
                .ip6
                .as_ref()
                .is_some_and(|re| server_view::ip_matches(inst, 6, re, scratch));
            return v4 || v6;
        }
        true
    }
}

// ---------------------------------------------------------------------------------------------
// List
// ---------------------------------------------------------------------------------------------

/// `GET /servers`.
fn index<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    list(req, ctx, resp, false)
}

/// `GET /servers/detail`.
fn detail<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    list(req, ctx, resp, true)
}

/// What `_get_servers` decides before it reads: either an empty answer or a query.
enum Plan<'q> {
    Empty,
    Query(Box<ListQuery<'q>>, RowFilters, Option<usize>),
}

/// `_get_servers` up to the database call.
fn plan<'q>(
    ctx: &RequestContext<'_>,
    pairs: &'q QueryPairs<'q>,
    detail: bool,
    own_project: &'q str,
) -> Result<Plan<'q>, ApiError> {
    let services = ctx.services()?;
    let all_filters = can(ctx, POLICY_ALL_FILTERS, None)?;
    // The search options: the last value of each listed parameter the caller may use.
    let mut opts: Vec<(&'q str, &'q str)> = Vec::new();
    for (name, value) in pairs.as_slice().iter() {
        let name = name.as_ref();
        if !listed(ctx, name) || matches!(name, "sort_key" | "sort_dir" | "limit" | "marker") {
            continue;
        }
        if !all_filters && !non_admin_options(ctx, name) {
            continue;
        }
        match opts.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value.as_ref(),
            None => opts.push((name, value.as_ref())),
        }
    }
    if let Some((name, _)) = opts
        .iter()
        .find(|(n, _)| JOINED_TABLES.contains(n) || n.starts_with('_'))
    {
        return Err(ApiError::Invalid(Cow::Owned(format!(
            "Invalid filter field: {name}."
        ))));
    }
    let opt = |name: &str| opts.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let mut query = ListQuery::default();

    if opt("status").is_some() {
        let statuses = pairs
            .as_slice()
            .iter()
            .filter(|(k, _)| k == "status")
            .map(|(_, v)| v.as_ref());
        let (vm_states, task_states) = server_view::states_for_statuses(statuses);
        if vm_states.is_empty() && task_states.is_empty() {
            if ctx.at_least(38) {
                return Err(ApiError::Invalid(Cow::Borrowed("Invalid status value")));
            }
            return Ok(Plan::Empty);
        }
        // When a status is a vm_state's default, any task_state goes.
        if !task_states.contains(&"default") {
            query.task_states = task_states;
        }
        query.vm_states = vm_states;
    } else {
        // Admin filters (exact).
        query.vm_states = opt("vm_state").into_iter().collect();
        query.task_states = opt("task_state").into_iter().collect();
    }
    if let Some(since) = opt("changes-since") {
        query.changes_since = server_view::parse_isotime(since);
    }
    query.deleted = match opt("deleted") {
        Some(value) => Some(bool_from_string(value, false)?),
        None if opt("changes-since").is_none() => Some(false),
        None => None,
    };
    if opt("status").is_some() && query.vm_states == ["deleted"] {
        if !ctx.is_admin {
            // Nova's HTTPForbidden: a 403 "forbidden" fault with this text.
            return Err(ApiError::Forbidden(Cow::Borrowed(
                "Only administrators may list deleted instances",
            )));
        }
        query.deleted = Some(true);
    }
    if let Some(soft) = opt("soft_deleted") {
        query.soft_deleted = Some(bool_from_string(soft, false)?);
    }
    if ctx.at_least(26) {
        let split = |name: &str| -> Vec<&'q str> {
            opt(name)
                .map(|v| v.split(',').collect())
                .unwrap_or_default()
        };
        query.tags = split("tags");
        query.tags_any = split("tags-any");
        query.not_tags = split("not-tags");
        query.not_tags_any = split("not-tags-any");
    }

    // all_tenants (`common.is_all_tenants`): present and empty, or a true value.
    let all_tenants = match opts.iter().find(|(n, _)| *n == "all_tenants") {
        Some((_, "")) => true,
        Some((_, value)) => bool_from_string(value, true)?,
        None => false,
    };
    if all_tenants {
        let rule = if detail {
            POLICY_DETAIL_ALL
        } else {
            POLICY_INDEX_ALL
        };
        ctx.authorize_own(rule)?;
        query.project_id = opt("project_id").or(opt("tenant_id"));
    } else {
        query.project_id = Some(own_project);
    }
    query.user_id = opt("user_id");
    query.image_ref = opt("image").or(opt("image_ref"));
    query.uuid = opt("uuid");
    query.host = opt("host");
    if let Some(flavorid) = opt("flavor") {
        let visible = (!ctx.is_admin).then_some(own_project);
        match flavors::with_flavorid(&services.db, flavorid, visible, |f| f.id) {
            Ok(id) => query.instance_type_id = Some(id),
            Err(DbError::NotFound) => return Ok(Plan::Empty),
            Err(err) => return Err(err.into()),
        }
    }

    let mut filters = RowFilters::default();
    for (name, value) in &opts {
        if let Some(field) = RegexField::of(name) {
            let re = Regex::new(value).map_err(|_| format_error(name, value, "regex"))?;
            filters.regexes.push((field, re));
        }
    }
    if let Some(ip) = opt("ip") {
        filters.ip = Some(Regex::new(ip).map_err(|_| format_error("ip", ip, "regex"))?);
    }
    if let Some(ip6) = opt("ip6") {
        filters.ip6 = Some(Regex::new(ip6).map_err(|_| format_error("ip6", ip6, "regex"))?);
    }

    // Paging (`common.get_limit_and_marker`) and sorting (`get_sort_params`).
    let requested = last(pairs, "limit").map(|text| {
        text.trim_end_matches('\n')
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });
    let limit = requested
        .unwrap_or(services.max_limit)
        .min(services.max_limit);
    query.marker = last(pairs, "marker");
    let mut keys: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "sort_key")
        .map(|(_, v)| v.trim())
        .collect();
    let mut dirs: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "sort_dir")
        .map(|(_, v)| v.trim())
        .collect();
    if keys.is_empty() {
        keys.push("created_at");
    }
    if dirs.is_empty() {
        dirs.push("desc");
    }
    // remove_invalid_sort_keys: ignored keys go with their direction; host/node admin-only.
    let mut i = 0;
    while i < keys.len() {
        let key = keys[i];
        if SortColumn::parse(key).is_none() {
            if dirs.len() > i {
                dirs.remove(i);
            }
            keys.remove(i);
            continue;
        }
        if matches!(key, "host" | "node") && !ctx.is_admin {
            // Nova's HTTPForbidden: a 403 "forbidden" fault with this text.
            return Err(ApiError::Forbidden(Cow::Owned(format!(
                "Only administrators can sort servers by {key}"
            ))));
        }
        i += 1;
    }
    for dir in &dirs {
        if !matches!(*dir, "asc" | "desc") {
            return Err(ApiError::Invalid(Cow::Borrowed(
                "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'",
            )));
        }
    }
    if dirs.len() > keys.len() {
        return Err(ApiError::Invalid(Cow::Borrowed(
            "Invalid input received: Sort direction size exceeds sort key size",
        )));
    }
    let default_desc = dirs.first().is_none_or(|d| *d == "desc");
    query.sort = keys
        .iter()
        .enumerate()
        .filter_map(|(n, key)| {
            let desc = dirs.get(n).map_or(default_desc, |d| *d == "desc");
            SortColumn::parse(key).map(|c| (c, desc))
        })
        .collect();
    if filters.is_empty() {
        query.limit = Some(u32::try_from(limit).unwrap_or(u32::MAX));
    }
    Ok(Plan::Query(Box::new(query), filters, requested))
}

fn list<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    resp: &mut Response,
    detail: bool,
) -> Result<(), ApiError> {
    let pairs = query_pairs(req)?;
    validate_query(ctx, &QUERY_SCHEMA, &pairs)?;
    check_formats(ctx, &pairs)?;
    ctx.authorize_own(if detail { POLICY_DETAIL } else { POLICY_INDEX })?;
    let (_, own_project) = ctx.identity()?;
    let services = ctx.services()?;
    let plan = plan(ctx, &pairs, detail, own_project)?;
    let flags = if detail {
        ViewFlags {
            extended_attr: can(ctx, POLICY_EXTENDED_ATTR, None)?,
            extra_specs: ctx.at_least(47) && can(ctx, POLICY_EXTRA_SPECS, None)?,
            host_status: ctx.at_least(16) && can(ctx, POLICY_HOST_STATUS, None)?,
            full: true,
            key_name: true,
            user_data: false,
        }
    } else {
        ViewFlags::default()
    };
    let links = Links::new(req, ctx);
    let out = &mut resp.body;
    out.extend_from_slice(b"{\"servers\": [");
    resp.content_type = "application/json";
    let Plan::Query(query, filters, requested) = plan else {
        out.extend_from_slice(b"]}");
        return Ok(());
    };
    let limit = requested
        .unwrap_or(services.max_limit)
        .min(services.max_limit);
    let mut returned = 0usize;
    let mut last_uuid = String::new();
    let mut scratch = Vec::new();
    let mut ip_scratch = Vec::new();
    let outcome = instances::list_each(&services.db, &query, |inst| {
        if returned >= limit {
            return Ok(false);
        }
        if !filters.matches(inst, &mut ip_scratch) {
            return Ok(true);
        }
        if returned > 0 {
            out.extend_from_slice(b", ");
        }
        if detail {
            server_view::push_server(out, ctx, &links, &services.db, inst, flags, &mut scratch)?;
        } else {
            server_view::push_basic(out, &links, inst);
        }
        returned += 1;
        last_uuid.clear();
        last_uuid.push_str(inst.uuid);
        Ok(returned < limit)
    });
    match outcome {
        Ok(()) => {}
        Err(DbError::MarkerNotFound) => {
            return Err(ApiError::MarkerNotFound(
                query.marker.unwrap_or_default().to_owned(),
            ))
        }
        Err(err) => return Err(err.into()),
    }
    out.push(b']');
    if page_is_full(requested, services.max_limit, returned) {
        let collection = if detail { "servers/detail" } else { "servers" };
        links.push_next(out, "servers", collection, req, &last_uuid);
    }
    out.push(b'}');
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Show and update
// ---------------------------------------------------------------------------------------------

/// The show flags for one server: policies checked against its project.
fn show_flags(ctx: &RequestContext<'_>, project: &str) -> Result<ViewFlags, ApiError> {
    Ok(ViewFlags {
        extended_attr: can(ctx, POLICY_EXTENDED_ATTR, Some(project))?,
        extra_specs: ctx.at_least(47) && can(ctx, POLICY_EXTRA_SPECS, Some(project))?,
        host_status: ctx.at_least(16) && can(ctx, POLICY_HOST_STATUS, Some(project))?,
        full: true,
        key_name: true,
        user_data: false,
    })
}

/// The rebuild response's flags for one server (Nova's `_action_rebuild`): below 2.75 the
/// reduced view (no OS-EXT-* keys even for admins, no host_status) with `key_name` from 2.54
/// and `user_data` from 2.57; from 2.75 the show view plus `user_data`.
fn rebuild_flags(ctx: &RequestContext<'_>, project: &str) -> Result<ViewFlags, ApiError> {
    let full = ctx.at_least(75);
    Ok(ViewFlags {
        extended_attr: full && can(ctx, POLICY_EXTENDED_ATTR, Some(project))?,
        extra_specs: ctx.at_least(47) && can(ctx, POLICY_EXTRA_SPECS, Some(project))?,
        host_status: full && can(ctx, POLICY_HOST_STATUS, Some(project))?,
        full,
        key_name: full || ctx.at_least(54),
        user_data: ctx.at_least(57),
    })
}

/// Writes `{"server": <view>}` for a server the caller can see, after `authorize` passed for
/// it; `flags` turns the instance's project into the view flags.
fn write_view<'a>(
    req: &Request<'a>,
    ctx: &RequestContext<'a>,
    uuid: &str,
    resp: &mut Response,
    authorize: impl FnOnce(&InstanceRef<'_>) -> Result<(), ApiError>,
    flags: impl FnOnce(&InstanceRef<'_>) -> Result<ViewFlags, ApiError>,
) -> Result<(), ApiError> {
    let services = ctx.services()?;
    let project = visible_project(ctx)?;
    let links = Links::new(req, ctx);
    let out = &mut resp.body;
    let start = out.len();
    let mut scratch = Vec::new();
    let outcome = instances::with_instance(&services.db, uuid, project, |inst| {
        let written = authorize(inst)
            .and_then(|()| flags(inst))
            .and_then(|flags| {
                out.extend_from_slice(b"{\"server\": ");
                server_view::push_server(out, ctx, &links, &services.db, inst, flags, &mut scratch)
                    .map_err(ApiError::from)
            });
        if let Err(err) = written {
            return Ok(Err(err));
        }
        out.push(b'}');
        Ok(Ok(()))
    });
    let result = match outcome {
        Ok(inner) => inner,
        Err(DbError::NotFound) => Err(not_found(uuid)),
        Err(err) => Err(err.into()),
    };
    if result.is_err() {
        out.truncate(start);
    }
    resp.content_type = "application/json";
    result
}

/// `GET /servers/{id}`.
fn show<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let uuid = params.get("id").unwrap_or_default();
    write_server(req, ctx, uuid, resp)
}

/// Writes `{"server": <the show view of server `uuid` at the request's microversion>}` as the
/// whole response body: 404 "Instance <id> could not be found." for a server the caller
/// cannot see, 403 when `servers:show` denies.
fn write_server<'a>(
    req: &Request<'a>,
    ctx: &RequestContext<'a>,
    uuid: &str,
    resp: &mut Response,
) -> Result<(), ApiError> {
    write_view(
        req,
        ctx,
        uuid,
        resp,
        |inst| {
            let mut target = Target::new();
            target.insert("project_id", inst.project_id);
            ctx.authorize(POLICY_SHOW, &target)
        },
        |inst| show_flags(ctx, inst.project_id),
    )
}

/// Writes `{"server": <the rebuild response view of server `uuid`>}` (without `adminPass`,
/// which the action adds) as the whole response body. The caller has already passed the
/// rebuild policy for the server; `servers:show` is not checked again, as in Nova.
pub fn write_rebuilt_server<'a>(
    req: &Request<'a>,
    ctx: &RequestContext<'a>,
    uuid: &str,
    resp: &mut Response,
) -> Result<(), ApiError> {
    write_view(
        req,
        ctx,
        uuid,
        resp,
        |_| Ok(()),
        |inst| rebuild_flags(ctx, inst.project_id),
    )
}

/// `PUT /servers/{id}`.
fn update<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let uuid = params.get("id").unwrap_or_default();
    let body = json_body(req)?;
    let schema = if ctx.legacy_v2 {
        &UPDATE_V20
    } else if ctx.at_least(19) {
        &UPDATE_V219
    } else {
        &UPDATE_V21
    };
    validate(ctx, schema, body.as_ref())?;
    let server = body.as_ref().and_then(|b| b.get("server"));
    let field = |name: &str| server.and_then(|s| s.get(name));
    for (name, v6) in [("accessIPv4", false), ("accessIPv6", true)] {
        if let Some(value) = field(name).and_then(|v| v.as_str()) {
            let ok = if v6 {
                value.parse::<std::net::Ipv6Addr>().is_ok()
            } else {
                value.parse::<std::net::Ipv4Addr>().is_ok()
            };
            if !ok {
                return Err(ApiError::Validation(Cow::Owned(format!(
                    "Invalid input for field/attribute {name}. Value: {value}. '{value}' is not a '{}'",
                    if v6 { "ipv6" } else { "ipv4" }
                ))));
            }
        }
    }
    let services = ctx.services()?;
    let project = visible_project(ctx)?;
    // Fetch, then authorize against the server's owner (404 before 403, as Nova).
    let owner = instances::with_instance(&services.db, uuid, project, |inst| {
        Ok((inst.user_id.to_owned(), inst.project_id.to_owned()))
    })
    .map_err(|err| match err {
        DbError::NotFound => not_found(uuid),
        other => other.into(),
    })?;
    let mut target = Target::new();
    target.insert("user_id", &owner.0);
    target.insert("project_id", &owner.1);
    ctx.authorize(POLICY_UPDATE, &target)?;

    let name = field("name").and_then(|v| v.as_str());
    let change = InstanceUpdate {
        // common.normalize_name: `/v2` names lose their surrounding whitespace.
        display_name: name.map(|n| if ctx.legacy_v2 { n.trim() } else { n }),
        display_description: field("description").map(|v| v.as_str()),
        access_ip_v4: field("accessIPv4").and_then(|v| v.as_str()),
        access_ip_v6: field("accessIPv6").and_then(|v| v.as_str()),
        auto_disk_config: field("OS-DCF:diskConfig")
            .and_then(|v| v.as_str())
            .map(|v| v == "AUTO"),
    };
    instances::update(&services.db, uuid, project, &change).map_err(|err| match err {
        DbError::NotFound => ApiError::NotFound(Cow::Borrowed("Instance could not be found")),
        other => other.into(),
    })?;
    let project_for_flags = owner.1.clone();
    write_view(
        req,
        ctx,
        uuid,
        resp,
        |_| Ok(()),
        |_| {
            Ok(ViewFlags {
                extended_attr: false,
                extra_specs: ctx.at_least(47)
                    && can(ctx, POLICY_EXTRA_SPECS, Some(&project_for_flags))?,
                host_status: false,
                full: false,
                key_name: false,
                user_data: false,
            })
        },
    )
}
