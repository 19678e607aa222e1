//! `POST /servers` (SPEC §4.3 create, §5.4, §6; Nova's `servers.py: create` and
//! `schemas/servers.py`): validates the request per microversion, resolves flavor, image, key
//! pair and networks, checks the metadata and personality limits, and creates 1..max_count
//! instances within the instances/cores/ram quota, each with a queued build task for the
//! orchestration thread. Also `DELETE /servers/{id}`, and the helpers the actions share.
//!
//! Core worker, innermost layer. Per microversion: 2.19 `description` (below it the
//! description is the name); 2.32 `networks[].tag` (and `block_device_mapping_v2[].tag`);
//! 2.33 the bdm tag refused again; 2.37 `networks` required, `"auto"`/`"none"` or a list whose
//! `uuid` is UUID-formatted, network tags refused again; 2.42 both tags back; 2.52 `tags`;
//! 2.57 `personality` refused; 2.60 nothing observable (no volumes). Networking is the fake
//! driver's single `private` network ([`NETWORK_ID`]): `auto`, an omitted `networks` (below
//! 2.37) or a list naming it attach the server to it; `none` boots without NICs; any other
//! network or a port → 400. Volumes are not served: a block device mapping other than the
//! image's own local root disk (which the openstack CLI sends with every boot) → 400.
//!
//! The quota check and the inserts are one transaction; the orchestrator's slots are
//! reserved before it, so a full orchestrator answers 503 with nothing written. This module
//! must never create an instance outside that transaction, nor log admin passwords or user
//! data.

use std::borrow::Cow;

use simd_json::{prelude::*, BorrowedValue};

use super::{
    context::{Request, RequestContext},
    error::ApiError,
    json, json_body,
    links::Links,
    quota_sets::{project_limits, resource_index},
    validate,
    validation::{
        parameter_types::{
            BOOLEAN, DESCRIPTION, DISK_CONFIG, FLAVOR_REF, METADATA, NAME, POSITIVE_INTEGER, STRING,
        },
        Format, Keyword, Pattern, Schema, Type,
    },
    Route,
};
use crate::{
    db::{
        flavors, keypairs,
        queries::orchestration::{self as q, CountedLimits, CreateSpec, NewInstance, Refusal},
        DbError,
    },
    http::Response,
    orchestrator::{driver::NETWORK_ID, OrchestratorHandle, Reservation},
    policy::Target,
    router::{Method, Params},
};

/// The routes of server create and delete.
pub const ROUTES: &[Route] = &[
    crate::route!(Method::Post, "/servers", create),
    crate::route!(Method::Delete, "/servers/{id}", delete),
];

const POLICY_CREATE: &str = "os_compute_api:servers:create";
const POLICY_ATTACH_NETWORK: &str = "os_compute_api:servers:create:attach_network";
const POLICY_DELETE: &str = "os_compute_api:servers:delete";

// ---------------------------------------------------------------------------------------------
// Schemas (Nova's schemas/servers.py)
// ---------------------------------------------------------------------------------------------

/// `server_tags.tag`.
const TAG: Schema = Schema::new(&[
    Keyword::Type(&[Type::String]),
    Keyword::Pattern(Pattern::new("^[^,/]*$", |s| !s.contains([',', '/']))),
    Keyword::MinLength(1),
    Keyword::MaxLength(60),
]);

/// `port`: a UUID or null.
const PORT: Schema = Schema::new(&[
    Keyword::Type(&[Type::String, Type::Null]),
    Keyword::Format(Format::Uuid),
]);

/// `ip_address` (the format is checked after the schema, see [`check_formats`]).
const IP_ADDRESS: Schema = STRING;

const UUID_STRING: Schema = Schema::new(&[
    Keyword::Type(&[Type::String]),
    Keyword::Format(Format::Uuid),
]);

macro_rules! network_item {
    ($uuid:expr $(, $tag:expr)?) => {
        Schema::new(&[
            Keyword::Type(&[Type::Object]),
            Keyword::Properties(&[
                ("fixed_ip", IP_ADDRESS),
                ("port", PORT),
                ("uuid", $uuid),
                $(("tag", $tag),)?
            ]),
            Keyword::AdditionalProperties(false),
        ])
    };
}

const NETWORKS_V21: Schema = Schema::new(&[
    Keyword::Type(&[Type::Array]),
    Keyword::Items(network_item!(STRING)),
]);
const NETWORKS_V232: Schema = Schema::new(&[
    Keyword::Type(&[Type::Array]),
    Keyword::Items(network_item!(STRING, TAG)),
]);
/// 2.37: a list or `"none"`/`"auto"` (the string is checked after the schema).
const NETWORKS_V237: Schema = Schema::new(&[
    Keyword::Type(&[Type::Array, Type::String]),
    Keyword::Items(network_item!(UUID_STRING)),
]);
const NETWORKS_V242: Schema = Schema::new(&[
    Keyword::Type(&[Type::Array, Type::String]),
    Keyword::Items(network_item!(UUID_STRING, TAG)),
]);

/// Block device mappings: objects (any entry is refused after validation; no volumes).
const BDM: Schema = Schema::new(&[
    Keyword::Type(&[Type::Array]),
    Keyword::Items(Schema::new(&[Keyword::Type(&[Type::Object])])),
]);

const PERSONALITY: Schema = Schema::new(&[
    Keyword::Type(&[Type::Array]),
    Keyword::Items(Schema::new(&[
        Keyword::Type(&[Type::Object]),
        Keyword::Properties(&[("path", STRING), ("contents", STRING)]),
        Keyword::AdditionalProperties(false),
    ])),
]);

const SECURITY_GROUPS: Schema = Schema::new(&[
    Keyword::Type(&[Type::Array]),
    Keyword::Items(Schema::new(&[
        Keyword::Type(&[Type::Object]),
        Keyword::Properties(&[("name", NAME)]),
        Keyword::AdditionalProperties(false),
    ])),
]);

const USER_DATA: Schema = Schema::new(&[Keyword::Type(&[Type::String]), Keyword::MaxLength(65535)]);

const TAGS: Schema = Schema::new(&[
    Keyword::Type(&[Type::Array]),
    Keyword::Items(TAG),
    Keyword::MaxItems(50),
]);

const HINTS: Schema = Schema::new(&[Keyword::Type(&[Type::Object])]);

macro_rules! create_schema {
    ($networks:expr, [$($extra:expr),* $(,)?], $required:expr) => {
        Schema::new(&[
            Keyword::Type(&[Type::Object]),
            Keyword::Properties(&[
                (
                    "server",
                    Schema::new(&[
                        Keyword::Type(&[Type::Object]),
                        Keyword::Properties(&[
                            ("name", NAME),
                            ("imageRef", STRING),
                            ("flavorRef", FLAVOR_REF),
                            ("adminPass", STRING),
                            ("metadata", METADATA),
                            ("networks", $networks),
                            ("OS-DCF:diskConfig", DISK_CONFIG),
                            ("accessIPv4", STRING),
                            ("accessIPv6", STRING),
                            ("availability_zone", NAME),
                            ("block_device_mapping", BDM),
                            ("block_device_mapping_v2", BDM),
                            ("config_drive", BOOLEAN),
                            ("key_name", NAME),
                            ("min_count", POSITIVE_INTEGER),
                            ("max_count", POSITIVE_INTEGER),
                            ("return_reservation_id", BOOLEAN),
                            ("security_groups", SECURITY_GROUPS),
                            ("user_data", USER_DATA),
                            $($extra,)*
                        ]),
                        Keyword::Required($required),
                        Keyword::AdditionalProperties(false),
                    ]),
                ),
                ("os:scheduler_hints", HINTS),
                ("OS-SCH-HNT:scheduler_hints", HINTS),
            ]),
            Keyword::Required(&["server"]),
            Keyword::AdditionalProperties(false),
        ])
    };
}

const REQUIRED: &[&str] = &["name", "flavorRef"];
const REQUIRED_V237: &[&str] = &["name", "flavorRef", "networks"];

pub(crate) const CREATE_V21: Schema =
    create_schema!(NETWORKS_V21, [("personality", PERSONALITY)], REQUIRED);
pub(crate) const CREATE_V219: Schema = create_schema!(
    NETWORKS_V21,
    [("personality", PERSONALITY), ("description", DESCRIPTION)],
    REQUIRED
);
pub(crate) const CREATE_V232: Schema = create_schema!(
    NETWORKS_V232,
    [("personality", PERSONALITY), ("description", DESCRIPTION)],
    REQUIRED
);
pub(crate) const CREATE_V237: Schema = create_schema!(
    NETWORKS_V237,
    [("personality", PERSONALITY), ("description", DESCRIPTION)],
    REQUIRED_V237
);
pub(crate) const CREATE_V242: Schema = create_schema!(
    NETWORKS_V242,
    [("personality", PERSONALITY), ("description", DESCRIPTION)],
    REQUIRED_V237
);
pub(crate) const CREATE_V252: Schema = create_schema!(
    NETWORKS_V242,
    [
        ("personality", PERSONALITY),
        ("description", DESCRIPTION),
        ("tags", TAGS)
    ],
    REQUIRED_V237
);
pub(crate) const CREATE_V257: Schema = create_schema!(
    NETWORKS_V242,
    [("description", DESCRIPTION), ("tags", TAGS)],
    REQUIRED_V237
);

/// The create schema of the request's microversion.
fn create_schema(ctx: &RequestContext<'_>) -> &'static Schema {
    if ctx.at_least(57) {
        &CREATE_V257
    } else if ctx.at_least(52) {
        &CREATE_V252
    } else if ctx.at_least(42) {
        &CREATE_V242
    } else if ctx.at_least(37) {
        &CREATE_V237
    } else if ctx.at_least(32) {
        // 2.33–2.36 refuse the bdm tag again; bdm entries are refused anyway (no volumes).
        &CREATE_V232
    } else if ctx.at_least(19) {
        &CREATE_V219
    } else {
        &CREATE_V21
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers (also used by the actions)
// ---------------------------------------------------------------------------------------------

/// The member `key` of an object value.
pub(crate) fn member<'v, 'a>(
    value: &'v BorrowedValue<'a>,
    key: &str,
) -> Option<&'v BorrowedValue<'a>> {
    value.as_object().and_then(|object| object.get(key))
}

/// Whether the block device mappings describe nothing but the image's own root disk: no
/// legacy `block_device_mapping`, and `block_device_mapping_v2` absent, empty, or the one
/// entry the openstack CLI sends with every image boot (`source_type` image, `destination_type`
/// local, `boot_index` 0, `uuid` the `imageRef`'s image). Anything else needs volumes.
fn only_image_root_disk(server: &BorrowedValue<'_>, image_ref: &str) -> bool {
    let listed = |key| {
        member(server, key)
            .and_then(|v| v.as_array())
            .map_or(&[][..], Vec::as_slice)
    };
    if !listed("block_device_mapping").is_empty() {
        return false;
    }
    match listed("block_device_mapping_v2") {
        [] => true,
        [entry] => {
            let text = |key| member(entry, key).and_then(|v| v.as_str());
            let boot_index = member(entry, "boot_index").and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            });
            let image_id = image_ref.rsplit('/').next().unwrap_or(image_ref);
            text("source_type") == Some("image")
                && text("destination_type").is_none_or(|d| d == "local")
                && boot_index == Some(0)
                && !image_id.is_empty()
                && text("uuid") == Some(image_id)
        }
        _ => false,
    }
}

/// A fresh UUID version 4 in its canonical text form.
pub(crate) fn uuid4() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bits = fastrand::u128(..);
    bits = (bits & !(0xf << 76)) | (0x4 << 76);
    bits = (bits & !(0x3 << 62)) | (0x2 << 62);
    let mut text = String::with_capacity(36);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            text.push('-');
        }
        text.push(char::from(HEX[((bits >> (124 - 4 * i)) & 0xf) as usize]));
    }
    text
}

/// Nova's `utils.generate_password`: one character of each symbol group, the rest from all
/// of them, shuffled; from the OS's random source.
pub(crate) fn generate_password(length: usize) -> String {
    const GROUPS: [&[u8]; 3] = [
        b"23456789",
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
    ];
    let mut random = vec![0u8; length * 2];
    if getrandom::fill(&mut random).is_err() {
        random.iter_mut().for_each(|b| *b = fastrand::u8(..));
    }
    let all: Vec<u8> = GROUPS.concat();
    let mut password: Vec<u8> = (0..length)
        .map(|i| {
            let group = if i < GROUPS.len() { GROUPS[i] } else { &all };
            group[usize::from(random[i]) % group.len()]
        })
        .collect();
    // Fisher–Yates with the second half of the random bytes.
    for i in (1..password.len()).rev() {
        let j = usize::from(random[length + i]) % (i + 1);
        password.swap(i, j);
    }
    String::from_utf8(password).unwrap_or_default()
}

/// `utils.generate_uid('r')`: `r-` and eight characters.
fn reservation_id() -> String {
    const CHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut id = String::with_capacity(10);
    id.push_str("r-");
    for _ in 0..8 {
        id.push(char::from(CHARS[fastrand::usize(..CHARS.len())]));
    }
    id
}

/// Nova's `InstanceNotFound`: 404 "Instance <id> could not be found.".
pub(crate) fn instance_not_found(uuid: &str) -> ApiError {
    ApiError::NotFound(Cow::Owned(format!("Instance {uuid} could not be found.")))
}

/// Loads a live instance the caller may see (its project's, or any for an admin): 404
/// otherwise, as Nova hides other projects' servers.
pub(crate) fn visible_instance(
    ctx: &RequestContext<'_>,
    uuid: &str,
) -> Result<q::InstanceState, ApiError> {
    let (_, project) = ctx.identity()?;
    match q::get_state(&ctx.services()?.db, uuid) {
        Ok(state) if ctx.is_admin || state.project_id == project => Ok(state),
        Ok(_) | Err(DbError::NotFound) => Err(instance_not_found(uuid)),
        Err(err) => Err(err.into()),
    }
}

/// `context.can(rule, {'project_id': instance.project_id, 'user_id': instance.user_id})`.
pub(crate) fn authorize_instance(
    ctx: &RequestContext<'_>,
    rule: &'static str,
    state: &q::InstanceState,
) -> Result<(), ApiError> {
    let mut target = Target::new();
    target.insert("project_id", &state.project_id);
    target.insert("user_id", &state.user_id);
    ctx.authorize(rule, &target)
}

/// A refused guarded change as Nova answers it.
pub(crate) fn refusal_error(refusal: Refusal, action: &str, uuid: &str) -> ApiError {
    match refusal {
        Refusal::NotFound => instance_not_found(uuid),
        Refusal::Locked => ApiError::Conflict(Cow::Owned(format!("Instance {uuid} is locked"))),
        Refusal::InvalidState(attr, value) => ApiError::Conflict(Cow::Owned(format!(
            "Cannot '{action}' instance {uuid} while it is in {attr} {value}"
        ))),
        Refusal::Invalid(message) => ApiError::Invalid(Cow::Owned(message)),
        Refusal::OverQuota(over) => ApiError::OverQuota(Cow::Owned(over.message())),
    }
}

/// The worker's orchestrator handle and a reservation of `slots`; 503 when it is full.
pub(crate) fn reserve<'s>(
    ctx: &RequestContext<'s>,
    slots: usize,
) -> Result<Reservation<'s>, ApiError> {
    let handle: &OrchestratorHandle =
        ctx.services()?
            .orchestrator
            .as_ref()
            .ok_or(ApiError::ServiceUnavailable(Cow::Borrowed(
                "The compute service is not running.",
            )))?;
    handle
        .reserve(slots)
        .ok_or(ApiError::ServiceUnavailable(Cow::Borrowed(
            "The compute service is busy with other tasks; try again shortly.",
        )))
}

/// The counted quota defaults (`[quota]`).
pub(crate) fn counted_defaults(ctx: &RequestContext<'_>) -> Result<CountedLimits, ApiError> {
    let defaults = &ctx.services()?.quota_defaults;
    Ok(CountedLimits {
        instances: defaults.get("instances"),
        cores: defaults.get("cores"),
        ram: defaults.get("ram"),
    })
}

/// A project's limit for `resource` (stored or default).
pub(crate) fn project_limit(
    ctx: &RequestContext<'_>,
    project: &str,
    resource: &str,
) -> Result<i64, ApiError> {
    let limits = project_limits(ctx.services()?, project)?;
    Ok(resource_index(resource).map_or(-1, |i| limits[i]))
}

/// Python's repr of a string value, for format messages.
fn py_repr(text: &str) -> String {
    if text.contains('\'') && !text.contains('"') {
        format!("\"{text}\"")
    } else {
        format!("'{}'", text.replace('\'', "\\'"))
    }
}

/// 400 for a value failing a JSON-schema `format` (`'x' is not a 'ipv4'`).
pub(crate) fn format_error(field: &str, text: &str, format: &str) -> ApiError {
    ApiError::Validation(Cow::Owned(format!(
        "Invalid input for field/attribute {field}. Value: {text}. {} is not a '{format}'",
        py_repr(text)
    )))
}

/// Python's `base64.decodebytes` acceptance: characters outside the alphabet are skipped,
/// the rest must decode with correct padding.
pub(crate) fn is_base64(text: &str) -> bool {
    use base64::Engine;
    let cleaned: Vec<u8> = text
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(&cleaned)
        .is_ok()
}

/// The formats Nova's schema checks that the validator leaves to the handler: `accessIPv4`
/// (ipv4), `accessIPv6` (ipv6), `user_data` and personality `contents` (base64), `imageRef`
/// (a UUID or empty), `fixed_ip` (an IP address).
pub(crate) fn check_formats(server: &BorrowedValue<'_>) -> Result<(), ApiError> {
    if let Some(text) = member(server, "accessIPv4").and_then(|v| v.as_str()) {
        if text.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(format_error("accessIPv4", text, "ipv4"));
        }
    }
    if let Some(text) = member(server, "accessIPv6").and_then(|v| v.as_str()) {
        if text.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format_error("accessIPv6", text, "ipv6"));
        }
    }
    if let Some(text) = member(server, "user_data").and_then(|v| v.as_str()) {
        if !is_base64(text) {
            return Err(format_error("user_data", text, "base64"));
        }
    }
    if let Some(files) = member(server, "personality").and_then(|v| v.as_array()) {
        for file in files {
            if let Some(text) = member(file, "contents").and_then(|v| v.as_str()) {
                if !is_base64(text) {
                    return Err(format_error("contents", text, "base64"));
                }
            }
        }
    }
    if let Some(text) = member(server, "imageRef").and_then(|v| v.as_str()) {
        if !text.is_empty() && !is_uuid_like(text) {
            return Err(ApiError::Validation(Cow::Owned(format!(
                "Invalid input for field/attribute imageRef. Value: {text}. {} is not valid \
                 under any of the given schemas",
                py_repr(text)
            ))));
        }
    }
    if let Some(networks) = member(server, "networks").and_then(|v| v.as_array()) {
        for network in networks {
            if let Some(text) = member(network, "fixed_ip").and_then(|v| v.as_str()) {
                if text.parse::<std::net::IpAddr>().is_err() {
                    return Err(ApiError::Validation(Cow::Owned(format!(
                        "Invalid input for field/attribute fixed_ip. Value: {text}. {} is not \
                         valid under any of the given schemas",
                        py_repr(text)
                    ))));
                }
            }
        }
    }
    Ok(())
}

/// `oslo_utils.uuidutils.is_uuid_like` (approximated): 32 hex digits once dashes, braces and
/// a `urn:uuid:` prefix are set aside.
pub(crate) fn is_uuid_like(text: &str) -> bool {
    let trimmed = text
        .trim_start_matches("urn:uuid:")
        .trim_start_matches('{')
        .trim_end_matches('}');
    let hex: Vec<u8> = trimmed.bytes().filter(|&b| b != b'-').collect();
    hex.len() == 32 && hex.iter().all(u8::is_ascii_hexdigit)
}

/// `flavorRef`: an id or an href (its last path segment).
pub(crate) fn flavor_id_from_ref(value: &BorrowedValue<'_>) -> String {
    match value.as_str() {
        Some(text) => text
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
        None => value.as_i64().map(|n| n.to_string()).unwrap_or_default(),
    }
}

/// The flavor as the instance keeps it (JSON: flavorid, name, vcpus, memory_mb, root_gb,
/// ephemeral_gb, swap, extra_specs).
pub(crate) fn flavor_snapshot(flavor: &flavors::FlavorRow, specs: &[(String, String)]) -> String {
    let mut out = Vec::with_capacity(200);
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"{\"flavorid\": ");
    json::push_str(&mut out, &flavor.flavorid);
    out.extend_from_slice(b", \"name\": ");
    json::push_str(&mut out, &flavor.name);
    for (key, value) in [
        ("vcpus", flavor.vcpus),
        ("memory_mb", flavor.memory_mb),
        ("root_gb", flavor.root_gb),
        ("ephemeral_gb", flavor.ephemeral_gb),
        ("swap", flavor.swap),
    ] {
        out.extend_from_slice(b", \"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\": ");
        out.extend_from_slice(n.format(value).as_bytes());
    }
    out.extend_from_slice(b", \"extra_specs\": {");
    for (i, (key, value)) in specs.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        json::push_str(&mut out, key);
        out.extend_from_slice(b": ");
        json::push_str(&mut out, value);
    }
    out.extend_from_slice(b"}}");
    String::from_utf8(out).unwrap_or_default()
}

/// A flavor row and its extra specs.
pub(crate) type FlavorWithSpecs = (flavors::FlavorRow, Vec<(String, String)>);

/// Looks a flavor up as the caller may see it; `None` when unknown.
pub(crate) fn find_flavor(
    ctx: &RequestContext<'_>,
    flavorid: &str,
) -> Result<Option<FlavorWithSpecs>, ApiError> {
    let db = &ctx.services()?.db;
    let visible_to = if ctx.is_admin { None } else { ctx.project_id };
    match flavors::get_by_flavorid(db, flavorid, visible_to) {
        Ok(flavor) => {
            let specs = flavors::extra_specs(db, flavor.id)?;
            Ok(Some((flavor, specs)))
        }
        Err(DbError::NotFound) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Metadata items as `(key, value)` (values are strings per the schema).
pub(crate) fn metadata_items<'v>(value: Option<&'v BorrowedValue<'_>>) -> Vec<(&'v str, &'v str)> {
    value
        .and_then(|v| v.as_object())
        .map(|object| {
            object
                .iter()
                .map(|(k, v)| (k.as_ref(), v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// Nova's `_check_metadata_properties_quota`: 403 past `metadata_items`. No items cannot
/// exceed any limit, so they cost no quota read (Nova returns early too).
pub(crate) fn check_metadata_quota(
    ctx: &RequestContext<'_>,
    project: &str,
    count: usize,
) -> Result<(), ApiError> {
    if count == 0 {
        return Ok(());
    }
    let limit = project_limit(ctx, project, "metadata_items")?;
    if limit >= 0 && count as i64 > limit {
        return Err(ApiError::OverQuota(Cow::Owned(format!(
            "Maximum number of metadata items exceeds {limit}"
        ))));
    }
    Ok(())
}

/// Nova's personality limits (below 2.57): file count, path length, content size.
pub(crate) fn check_personality_quota(
    ctx: &RequestContext<'_>,
    project: &str,
    files: Option<&BorrowedValue<'_>>,
) -> Result<(), ApiError> {
    let Some(files) = files.and_then(|v| v.as_array()) else {
        return Ok(());
    };
    let max_files = project_limit(ctx, project, "injected_files")?;
    if max_files >= 0 && files.len() as i64 > max_files {
        return Err(ApiError::OverQuota(Cow::Borrowed(
            "Personality file limit exceeded",
        )));
    }
    let max_path = project_limit(ctx, project, "injected_file_path_bytes")?;
    let max_content = project_limit(ctx, project, "injected_file_content_bytes")?;
    for file in files {
        let path = member(file, "path").and_then(|v| v.as_str()).unwrap_or("");
        if max_path >= 0 && path.len() as i64 > max_path {
            return Err(ApiError::OverQuota(Cow::Owned(format!(
                "Personality file path exceeds maximum {max_path}"
            ))));
        }
        let contents = member(file, "contents")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        // Decoded size: three bytes per four base64 characters.
        let size = contents
            .bytes()
            .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
            .count()
            * 3
            / 4;
        if max_content >= 0 && size as i64 > max_content {
            return Err(ApiError::OverQuota(Cow::Owned(format!(
                "Personality file content exceeds maximum {max_content}"
            ))));
        }
    }
    Ok(())
}

/// Appends the server's self href (`…/v2.1[/project]/servers/<id>`), unescaped, for the
/// `Location` header.
fn push_self_href(out: &mut Vec<u8>, req: &Request<'_>, ctx: &RequestContext<'_>, id: &str) {
    ctx.push_application_url(out);
    if let Some(project) = ctx
        .project_id
        .filter(|p| !p.is_empty() && req.target().windows(p.len()).any(|w| w == p.as_bytes()))
    {
        out.push(b'/');
        out.extend_from_slice(project.as_bytes());
    }
    out.extend_from_slice(b"/servers/");
    out.extend_from_slice(id.as_bytes());
}

/// Whether a value is one of Nova's true spellings.
fn truthy(value: Option<&BorrowedValue<'_>>) -> bool {
    match value {
        Some(v) => v.as_bool().unwrap_or_else(|| {
            v.as_str().is_some_and(|t| {
                matches!(t.to_ascii_lowercase().as_str(), "true" | "1" | "on" | "yes")
            })
        }),
        None => false,
    }
}

/// A positive integer the schema admitted (an integer or a digit string).
fn count_value(value: Option<&BorrowedValue<'_>>) -> Option<i64> {
    let value = value?;
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|t| t.parse().ok()))
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// The requested networks as the build task's params.
fn build_params(ctx: &RequestContext<'_>, server: &BorrowedValue<'_>) -> Result<String, ApiError> {
    let Some(networks) = member(server, "networks") else {
        // Below 2.37: the project's only network.
        return Ok("{\"network\": true}".to_owned());
    };
    if let Some(text) = networks.as_str() {
        return match text {
            "none" => Ok("{\"network\": false}".to_owned()),
            "auto" => Ok("{\"network\": true}".to_owned()),
            other => Err(ApiError::Validation(Cow::Owned(format!(
                "Invalid input for field/attribute networks. Value: {other}. {} is not valid \
                 under any of the given schemas",
                py_repr(other)
            )))),
        };
    }
    let list = networks.as_array().map(Vec::as_slice).unwrap_or_default();
    if list.is_empty() {
        return Ok("{\"network\": false}".to_owned());
    }
    ctx.authorize_own(POLICY_ATTACH_NETWORK)?;
    let mut fixed_ip = None;
    for network in list {
        if let Some(port) = member(network, "port").and_then(|v| v.as_str()) {
            return Err(ApiError::Invalid(Cow::Owned(format!(
                "Port {port} could not be found."
            ))));
        }
        let uuid = member(network, "uuid")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if uuid.is_empty() {
            return Err(ApiError::Invalid(Cow::Borrowed(
                "Bad networks format: network uuid is not in proper format ()",
            )));
        }
        if uuid != NETWORK_ID {
            return Err(ApiError::Invalid(Cow::Owned(format!(
                "Network {uuid} could not be found."
            ))));
        }
        if let Some(ip) = member(network, "fixed_ip").and_then(|v| v.as_str()) {
            fixed_ip = Some(ip);
        }
    }
    Ok(match fixed_ip {
        Some(ip) => format!("{{\"network\": true, \"fixed_ip\": \"{ip}\"}}"),
        None => "{\"network\": true}".to_owned(),
    })
}

/// `POST /servers`.
fn create<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let body = json_body(req)?;
    validate(ctx, create_schema(ctx), body.as_ref())?;
    let body = body.ok_or(ApiError::MalformedBody)?;
    let server = member(&body, "server").ok_or(ApiError::MalformedBody)?;
    check_formats(server)?;
    let (user, project) = ctx.identity()?;
    ctx.authorize_own(POLICY_CREATE)?;
    let services = ctx.services()?;

    let name = member(server, "name")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let description = if ctx.at_least(19) {
        member(server, "description").and_then(|v| v.as_str())
    } else {
        Some(name)
    };
    let min_count = count_value(member(server, "min_count")).unwrap_or(1);
    let max_count = count_value(member(server, "max_count")).unwrap_or(min_count);
    if min_count > max_count {
        return Err(ApiError::Invalid(Cow::Borrowed(
            "min_count must be <= max_count",
        )));
    }
    // Image.
    let image_ref = member(server, "imageRef")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if !only_image_root_disk(server, image_ref) {
        return Err(ApiError::Invalid(Cow::Borrowed(
            "Block Device Mapping is Invalid: volumes are not available in this cloud.",
        )));
    }
    if image_ref.is_empty() {
        return Err(ApiError::Invalid(Cow::Borrowed(
            "Missing imageRef attribute",
        )));
    }
    let image_id = image_ref.rsplit('/').next().unwrap_or(image_ref);
    // The image, flavor and key pair reads share one read transaction (ended before the
    // create's write transaction begins).
    let snapshot = services.db.snapshot()?;
    let Some(image) = q::image_for_boot(&services.db, image_id)? else {
        return Err(ApiError::Invalid(Cow::Borrowed(
            "Can not find requested image",
        )));
    };
    if !image.status.eq_ignore_ascii_case("active") {
        return Err(ApiError::Invalid(Cow::Owned(format!(
            "Image {image_id} is not active."
        ))));
    }

    // Flavor.
    let flavor_ref = member(server, "flavorRef")
        .map(flavor_id_from_ref)
        .unwrap_or_default();
    let Some((flavor, specs)) = find_flavor(ctx, &flavor_ref)? else {
        return Err(ApiError::Invalid(Cow::Borrowed(
            "Invalid flavorRef provided.",
        )));
    };
    if flavor.disabled {
        return Err(ApiError::Invalid(Cow::Borrowed("Flavor is disabled.")));
    }
    if image.min_ram > flavor.memory_mb {
        return Err(ApiError::Invalid(Cow::Borrowed(
            "Flavor's memory is too small for requested image.",
        )));
    }
    if flavor.root_gb > 0 && image.min_disk > flavor.root_gb {
        return Err(ApiError::Invalid(Cow::Owned(format!(
            "Flavor's disk is too small for requested image. Flavor disk is {} bytes, minimum \
             size is {} bytes.",
            flavor.root_gb << 30,
            image.min_disk << 30
        ))));
    }

    // Key pair.
    let key_name = member(server, "key_name").and_then(|v| v.as_str());
    let key_data = match key_name {
        Some(key) => match keypairs::get(&services.db, user, key) {
            Ok(row) => Some(row.public_key),
            Err(DbError::NotFound) => {
                return Err(ApiError::Invalid(Cow::Borrowed(
                    "Invalid key_name provided.",
                )))
            }
            Err(err) => return Err(err.into()),
        },
        None => None,
    };
    drop(snapshot);

    let metadata = metadata_items(member(server, "metadata"));
    check_metadata_quota(ctx, project, metadata.len())?;
    if !ctx.at_least(57) {
        check_personality_quota(ctx, project, member(server, "personality"))?;
    }
    let build = build_params(ctx, server)?;
    let security_groups = match member(server, "security_groups").and_then(|v| v.as_array()) {
        Some(groups) if !groups.is_empty() => {
            let mut out = Vec::with_capacity(32 * groups.len());
            out.push(b'[');
            for (i, group) in groups.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                out.extend_from_slice(b"{\"name\": ");
                let name = member(group, "name")
                    .and_then(|v| v.as_str())
                    .unwrap_or("default");
                json::push_str(&mut out, name);
                out.push(b'}');
            }
            out.push(b']');
            String::from_utf8(out).unwrap_or_default()
        }
        _ => "[{\"name\": \"default\"}]".to_owned(),
    };
    let tags: Vec<&str> = member(server, "tags")
        .and_then(|v| v.as_array())
        .map(|list| list.iter().filter_map(|t| t.as_str()).collect())
        .unwrap_or_default();
    let auto_disk = member(server, "OS-DCF:diskConfig").and_then(|v| v.as_str()) == Some("AUTO");
    let config_drive = if truthy(member(server, "config_drive")) {
        "True"
    } else {
        ""
    };
    let reservation = reservation_id();
    let flavor_json = flavor_snapshot(&flavor, &specs);
    let spec = CreateSpec {
        project_id: project,
        user_id: user,
        description,
        image_ref: image_id,
        instance_type_id: flavor.id,
        flavor_json: &flavor_json,
        vcpus: flavor.vcpus,
        memory_mb: flavor.memory_mb,
        root_gb: flavor.root_gb,
        ephemeral_gb: flavor.ephemeral_gb,
        availability_zone: member(server, "availability_zone").and_then(|v| v.as_str()),
        key_name,
        key_data: key_data.as_deref(),
        config_drive,
        auto_disk_config: auto_disk,
        access_ip_v4: member(server, "accessIPv4").and_then(|v| v.as_str()),
        access_ip_v6: member(server, "accessIPv6").and_then(|v| v.as_str()),
        user_data: member(server, "user_data").and_then(|v| v.as_str()),
        security_groups_json: &security_groups,
        reservation_id: &reservation,
        metadata,
        tags,
        build_params: &build,
    };
    let instances: Vec<NewInstance> = (0..max_count)
        .map(|i| NewInstance {
            uuid: uuid4(),
            display_name: if max_count > 1 {
                format!("{name}-{}", i + 1)
            } else {
                name.to_owned()
            },
            launch_index: i,
        })
        .collect();

    let slots = reserve(ctx, max_count as usize)?;
    let tasks = match q::create_instances(
        &services.db,
        &spec,
        counted_defaults(ctx)?,
        &instances,
        min_count as usize,
    )? {
        Ok(tasks) => tasks,
        Err(over) => return Err(ApiError::OverQuota(Cow::Owned(over.message()))),
    };
    slots.submit(&tasks);

    resp.status = 202;
    resp.content_type = "application/json";
    let out = &mut resp.body;
    if truthy(member(server, "return_reservation_id")) {
        out.extend_from_slice(b"{\"reservation_id\": ");
        json::push_str(out, &reservation);
        out.push(b'}');
        return Ok(());
    }
    let first = &instances[0].uuid;
    let password = if services.orchestrator_config.enable_instance_password {
        Some(match member(server, "adminPass").and_then(|v| v.as_str()) {
            Some(given) => given.to_owned(),
            None => generate_password(services.orchestrator_config.password_length),
        })
    } else {
        None
    };
    out.extend_from_slice(b"{\"server\": {\"OS-DCF:diskConfig\": ");
    out.extend_from_slice(if auto_disk {
        b"\"AUTO\""
    } else {
        b"\"MANUAL\""
    });
    if let Some(password) = &password {
        out.extend_from_slice(b", \"adminPass\": ");
        json::push_str(out, password);
    }
    out.extend_from_slice(b", \"id\": ");
    json::push_str(out, first);
    out.extend_from_slice(b", \"links\": ");
    Links::new(req, ctx).push_links(out, "servers", first);
    out.extend_from_slice(b", \"security_groups\": ");
    out.extend_from_slice(security_groups.as_bytes());
    out.extend_from_slice(b"}}");
    let mut location = Vec::with_capacity(128);
    push_self_href(&mut location, req, ctx, first);
    resp.header("Location", &location);
    Ok(())
}

/// The guard of delete: any state; locked refused.
const DELETE_GUARD: q::Guard = q::Guard {
    action: "delete",
    vm_states: None,
    task_states: None,
    must_be_launched: false,
    check_lock: true,
};

/// `DELETE /servers/{id}`: 204. A server that never reached a host is deleted at once (Nova's
/// local delete); otherwise the task_state becomes `deleting` and the orchestration thread
/// terminates it (the quota is freed when it is gone).
fn delete<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let uuid = params.get("id").unwrap_or_default();
    let state = visible_instance(ctx, uuid)?;
    authorize_instance(ctx, POLICY_DELETE, &state)?;
    if state.locked && !ctx.is_admin {
        return Err(refusal_error(Refusal::Locked, "delete", uuid));
    }
    let db = &ctx.services()?.db;
    if state.host.is_none() {
        if let Some(closed) = q::delete_unscheduled(db, uuid)? {
            if let Some(handle) = &ctx.services()?.orchestrator {
                handle.cancel(&closed);
            }
            resp.status = 204;
            return Ok(());
        }
    }
    if state.task_state.as_deref() == Some("deleting") {
        resp.status = 204;
        return Ok(());
    }
    let slots = reserve(ctx, 1)?;
    let change = q::Change {
        task: Some((q::TaskKind::Delete, "{}")),
        task_state: Some("deleting"),
        sets: Vec::new(),
    };
    match q::start_task(db, uuid, ctx.is_admin, &DELETE_GUARD, change, |_, _| {
        Ok(Ok(Vec::new()))
    })? {
        Ok(task) => slots.submit(&task.into_iter().collect::<Vec<_>>()),
        Err(refusal) => return Err(refusal_error(refusal, "delete", uuid)),
    }
    resp.status = 204;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_disk_ok(body: &str, image_ref: &str) -> bool {
        let mut bytes = body.as_bytes().to_vec();
        let value = simd_json::to_borrowed_value(&mut bytes).unwrap();
        only_image_root_disk(&value, image_ref)
    }

    #[test]
    fn only_the_images_local_root_disk_passes_as_a_block_device_mapping() {
        const IMG: &str = "70a599e0-31e7-49b7-b260-868f441e862b";
        let cli = format!(
            r#"{{"block_device_mapping_v2": [{{"uuid": "{IMG}", "boot_index": 0,
                "source_type": "image", "destination_type": "local",
                "delete_on_termination": true}}]}}"#
        );
        assert!(root_disk_ok(&cli, IMG));
        assert!(root_disk_ok(&cli, &format!("http://glance/images/{IMG}")));
        assert!(root_disk_ok("{}", IMG));
        assert!(root_disk_ok(r#"{"block_device_mapping_v2": []}"#, IMG));
        // Another image, a volume, a second entry, no boot index: volumes would be needed.
        assert!(!root_disk_ok(&cli, "11111111-2222-3333-4444-555555555555"));
        assert!(!root_disk_ok(&cli.replace("\"local\"", "\"volume\""), IMG));
        assert!(!root_disk_ok(
            &cli.replace("\"boot_index\": 0", "\"boot_index\": 1"),
            IMG
        ));
        assert!(!root_disk_ok(&cli.replace("\"boot_index\": 0,", ""), IMG));
        let two = cli.replace(
            "}]}",
            &format!(
                "}}, {{\"uuid\": \"{IMG}\", \"source_type\": \"image\", \"boot_index\": 0}}]}}"
            ),
        );
        assert!(!root_disk_ok(&two, IMG));
        assert!(!root_disk_ok(
            r#"{"block_device_mapping": [{"volume_id": "v", "device_name": "vda"}]}"#,
            IMG
        ));
        assert!(root_disk_ok(
            &cli.replace("\"boot_index\": 0", "\"boot_index\": \"0\""),
            IMG
        ));
    }

    #[test]
    fn passwords_have_each_group_and_the_length() {
        for _ in 0..50 {
            let password = generate_password(12);
            assert_eq!(password.len(), 12);
            assert!(password.bytes().any(|b| b.is_ascii_digit()), "{password}");
            assert!(
                password.bytes().any(|b| b.is_ascii_uppercase()),
                "{password}"
            );
            assert!(
                password.bytes().any(|b| b.is_ascii_lowercase()),
                "{password}"
            );
            assert!(!password.contains(['l', 'I', 'O', '0', '1']), "{password}");
        }
    }

    #[test]
    fn reservation_ids_and_uuids() {
        let id = reservation_id();
        assert!(id.starts_with("r-") && id.len() == 10, "{id}");
        assert!(is_uuid_like(&uuid4()));
        assert!(!is_uuid_like("not-a-uuid"));
    }

    #[test]
    fn base64_as_python_decodes_it() {
        assert!(is_base64("IyEvYmluL2Jhc2gK"));
        assert!(is_base64("ICAgICAgDQoiQSBj bG91"));
        assert!(!is_base64("abc"));
    }

    #[test]
    fn format_messages() {
        let err = format_error("accessIPv4", "1.2.3", "ipv4");
        assert_eq!(
            err.fault().message,
            "Invalid input for field/attribute accessIPv4. Value: 1.2.3. '1.2.3' is not a 'ipv4'"
        );
    }
}
