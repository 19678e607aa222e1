//! Flavors (SPEC §4.2): Nova's `FlavorsController` — list, detail, show, create, update
//! (≥ 2.55) and delete — and the flavor view the sibling flavor resources share.
//!
//! Core worker, innermost layer: a handler validates the request the way Nova's schemas do,
//! checks policy, runs one query on the worker's database and writes the body straight into
//! the response buffer. Lists and show borrow every row from SQLite while writing it; nothing
//! is copied per flavor except the last id of a full page (for the `next` link). Index,
//! detail and show bodies are kept per worker and served again until the next commit to the
//! database ([`read_cache`]).
//!
//! Behaviour per microversion (advertised maximum 2.60):
//! - 2.1: the 2.1 views (`swap` is `""` when 0, `rxtx_factor` is `""` when 0).
//! - 2.55: `description` in every view (index included), accepted on create; `PUT
//!   /flavors/{id}` exists (404 with webob's text below 2.55).
//! - legacy `/v2`: 2.1 views, the `create_v20` body schema (names may carry spaces, which are
//!   stripped), relaxed validation.
//!
//! Visibility follows Nova: a requester who is not an admin lists public flavors and the
//! private ones shared with their project, never disabled ones, and gets 404 for any other
//! flavor. It must never answer with anything but Nova's fault texts, never leak a private
//! flavor to another project, and never emit `extra_specs` (2.61) or `swap: 0` (2.75).
//! No `unsafe`.

use std::{borrow::Cow, fmt::Write as _};

use simd_json::{
    prelude::{ValueAsObject, ValueAsScalar},
    BorrowedValue, StaticNode,
};

use super::{
    context::{Request, RequestContext},
    error::ApiError,
    json, json_body,
    links::{self, ItemLinks, Links},
    query_pairs,
    read_cache::{self, Resource},
    validate, validate_query,
    validation::{parameter_types as pt, Keyword, Limit, Literal, Pattern, Schema, Type},
    Route,
};
use crate::{
    db::{
        flavors::{
            self as db_flavors, Filter, FlavorItem, FlavorRef, FlavorRow, ItemShape, NewFlavor,
            Sort, SortDir, SortKey,
        },
        Conflict, DbError,
    },
    http::Response,
    policy::Target,
    route,
    router::{Method, Params},
};

/// The routes of `FlavorsController`.
pub const ROUTES: &[Route] = &[
    route!(Method::Get, "/flavors", index),
    route!(Method::Get, "/flavors/detail", detail),
    route!(Method::Get, "/flavors/{id}", show),
    route!(Method::Post, "/flavors", create),
    route!(Method::Put, "/flavors/{id}", update),
    route!(Method::Delete, "/flavors/{id}", delete),
];

/// Policy of `POST /flavors`.
const CREATE_RULE: &str = "os_compute_api:os-flavor-manage:create";
/// Policy of `PUT /flavors/{id}`.
const UPDATE_RULE: &str = "os_compute_api:os-flavor-manage:update";
/// Policy of `DELETE /flavors/{id}`.
const DELETE_RULE: &str = "os_compute_api:os-flavor-manage:delete";

/// The JSON content type of every body written here.
pub(crate) const JSON: &str = "application/json";

/// What webob sends with an empty body (Nova's 202 on delete, 200 on extra-spec delete).
pub(crate) const EMPTY_BODY_TYPE: &str = "text/html; charset=UTF-8";

/// `db.SQL_SP_FLOAT_MAX`: the largest `rxtx_factor`.
const SQL_SP_FLOAT_MAX: f64 = 3.40282e+38;

// ---------------------------------------------------------------------------------------------
// Schemas (nova/api/openstack/compute/schemas/flavors.py)
// ---------------------------------------------------------------------------------------------

/// The create body's `id`: a string of `[a-zA-Z0-9. _-]` without edge spaces, a number or null.
const FLAVOR_ID: Schema = Schema::new(&[
    Keyword::Type(&[Type::String, Type::Number, Type::Null]),
    Keyword::MinLength(1),
    Keyword::MaxLength(255),
    Keyword::Pattern(Pattern::FLAVOR_ID),
]);

/// `rxtx_factor`: a positive number (or decimal string) up to `SQL_SP_FLOAT_MAX`.
pub(crate) const RXTX_FACTOR: Schema = Schema::new(&[
    Keyword::Type(&[Type::Number, Type::String]),
    Keyword::Pattern(Pattern::DECIMAL),
    Keyword::ExclusiveMinimum(Limit::Int(0)),
    Keyword::Maximum(Limit::Float(SQL_SP_FLOAT_MAX)),
]);

/// `_flavor_description` (2.55): up to 65535 printable characters, or null.
const FLAVOR_DESCRIPTION: Schema = Schema::new(&[
    Keyword::Type(&[Type::String, Type::Null]),
    Keyword::MinLength(0),
    Keyword::MaxLength(65535),
    Keyword::Pattern(Pattern::PRINTABLE),
]);

/// Nova's flavor `create` schema with the `name` schema and extra members given.
macro_rules! flavor_create {
    ($name:expr $(, $extra:expr)*) => {
        Schema::new(&[
            Keyword::Type(&[Type::Object]),
            Keyword::Properties(&[(
                "flavor",
                Schema::new(&[
                    Keyword::Type(&[Type::Object]),
                    Keyword::Properties(&[
                        ("name", $name),
                        ("id", FLAVOR_ID),
                        ("ram", pt::FLAVOR_PARAM_POSITIVE),
                        ("vcpus", pt::FLAVOR_PARAM_POSITIVE),
                        ("disk", pt::FLAVOR_PARAM_NON_NEGATIVE),
                        ("OS-FLV-EXT-DATA:ephemeral", pt::FLAVOR_PARAM_NON_NEGATIVE),
                        ("swap", pt::FLAVOR_PARAM_NON_NEGATIVE),
                        ("rxtx_factor", RXTX_FACTOR),
                        ("os-flavor-access:is_public", pt::BOOLEAN),
                        $($extra,)*
                    ]),
                    Keyword::Required(&["name", "ram", "vcpus", "disk"]),
                    Keyword::AdditionalProperties(false),
                ]),
            )]),
            Keyword::Required(&["flavor"]),
            Keyword::AdditionalProperties(false),
        ])
    };
}

/// `create` (2.1-2.54).
pub(crate) const CREATE: Schema = flavor_create!(pt::NAME);
/// `create_v20` (legacy `/v2`).
pub(crate) const CREATE_V20: Schema = flavor_create!(pt::NAME_WITH_LEADING_TRAILING_SPACES);
/// `create_v255` (2.55 and later).
pub(crate) const CREATE_V255: Schema =
    flavor_create!(pt::NAME, ("description", FLAVOR_DESCRIPTION));

/// `update` (2.55 and later): `{"flavor": {"description": …}}`, nothing else.
pub(crate) const UPDATE: Schema = Schema::new(&[
    Keyword::Type(&[Type::Object]),
    Keyword::Properties(&[(
        "flavor",
        Schema::new(&[
            Keyword::Type(&[Type::Object]),
            Keyword::Properties(&[("description", FLAVOR_DESCRIPTION)]),
            Keyword::Required(&["description"]),
            Keyword::AdditionalProperties(false),
        ]),
    )]),
    Keyword::Required(&["flavor"]),
    Keyword::AdditionalProperties(false),
]);

/// `VALID_SORT_KEYS`.
const SORT_KEYS: &[Literal] = &[
    Literal::Str("created_at"),
    Literal::Str("description"),
    Literal::Str("disabled"),
    Literal::Str("ephemeral_gb"),
    Literal::Str("flavorid"),
    Literal::Str("id"),
    Literal::Str("is_public"),
    Literal::Str("memory_mb"),
    Literal::Str("name"),
    Literal::Str("root_gb"),
    Literal::Str("rxtx_factor"),
    Literal::Str("swap"),
    Literal::Str("updated_at"),
    Literal::Str("vcpu_weight"),
    Literal::Str("vcpus"),
];

/// `index_query` (2.0-2.74): unknown parameters are ignored.
pub(crate) const INDEX_QUERY: Schema = Schema::new(&[
    Keyword::Type(&[Type::Object]),
    Keyword::Properties(&[
        ("limit", pt::LIMIT),
        ("marker", pt::MARKER),
        ("is_public", pt::COMMON_QUERY_PARAM),
        ("minRam", pt::COMMON_QUERY_PARAM),
        ("minDisk", pt::COMMON_QUERY_PARAM),
        (
            "sort_key",
            Schema::new(&pt::multi_params(Schema::new(&[
                Keyword::Type(&[Type::String]),
                Keyword::Enum(SORT_KEYS),
            ]))),
        ),
        (
            "sort_dir",
            Schema::new(&pt::multi_params(Schema::new(&[
                Keyword::Type(&[Type::String]),
                Keyword::Enum(&[Literal::Str("asc"), Literal::Str("desc")]),
            ]))),
        ),
    ]),
    Keyword::AdditionalProperties(true),
]);

// ---------------------------------------------------------------------------------------------
// Shared with the flavor access and extra-spec resources
// ---------------------------------------------------------------------------------------------

/// Nova's `FlavorNotFound`: 404 "Flavor <id> could not be found.".
pub(crate) fn not_found(flavorid: &str) -> ApiError {
    ApiError::NotFound(Cow::Owned(format!("Flavor {flavorid} could not be found.")))
}

/// The project whose flavors a requester sees: `None` for an admin (everything), the
/// requester's project otherwise (Nova's `_flavor_get_query_from_db`).
fn visible_to<'a>(ctx: &RequestContext<'a>) -> Option<&'a str> {
    if ctx.is_admin {
        None
    } else {
        Some(ctx.project_id.unwrap_or_default())
    }
}

/// Nova's `common.get_flavor`: the live flavor with this API id as the requester may see
/// it; 404 `FlavorNotFound` otherwise.
pub(crate) fn get_flavor(ctx: &RequestContext<'_>, flavorid: &str) -> Result<FlavorRow, ApiError> {
    let services = ctx.services()?;
    db_flavors::get_by_flavorid(&services.db, flavorid, visible_to(ctx)).map_err(|err| match err {
        DbError::NotFound => not_found(flavorid),
        other => ApiError::from_db(other),
    })
}

/// A policy target with nothing in it (`target={}` in Nova's controllers).
pub(crate) fn empty_target() -> Target<'static> {
    Target::new()
}

/// The `{project_id}`-only target Nova passes to the extra-spec read rules.
pub(crate) fn project_target<'a>(ctx: &RequestContext<'a>) -> Target<'a> {
    let mut target = Target::new();
    target.insert("project_id", ctx.project_id.unwrap_or("None"));
    target
}

/// Appends an integer.
pub(crate) fn push_int(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// A small stack buffer for `write!`, so formatting a float allocates nothing.
struct StackText {
    bytes: [u8; 48],
    len: usize,
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let end = self.len + text.len();
        let room = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        room.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends a finite float the way Python's `repr` (and so `str` and `json.dumps`) writes
/// it: the shortest digits that read back as the same value, `.0` on integral values, and
/// exponent form (`1e+16`, `1e-05`) outside `1e-4 <= |x| < 1e16`. Infinities and NaN are
/// written as `json.dumps` writes them when `json` is set, else as `str()` does (`inf`).
pub(crate) fn push_py_float(out: &mut Vec<u8>, value: f64, json: bool) {
    if !value.is_finite() {
        let text: &[u8] = match (value.is_nan(), value > 0.0, json) {
            (true, _, true) => b"NaN",
            (true, _, false) => b"nan",
            (false, true, true) => b"Infinity",
            (false, true, false) => b"inf",
            (false, false, true) => b"-Infinity",
            (false, false, false) => b"-inf",
        };
        out.extend_from_slice(text);
        return;
    }
    if value.is_sign_negative() {
        out.push(b'-');
    }
    let magnitude = value.abs();
    if magnitude.fract() == 0.0 && magnitude < 1e16 {
        // Integral and below 2^63: exact as an integer.
        push_int(out, magnitude as i64);
        out.extend_from_slice(b".0");
        return;
    }
    let mut text = StackText {
        bytes: [0; 48],
        len: 0,
    };
    // `{:e}` writes the shortest round-trip digits: `d[.ddd]e<exp>`; 48 bytes always fit.
    if write!(text, "{magnitude:e}").is_err() {
        return;
    }
    let written = &text.bytes[..text.len];
    let Some(e) = written.iter().position(|&b| b == b'e') else {
        return;
    };
    let (mantissa, exponent) = (&written[..e], &written[e + 1..]);
    let exponent: i32 = std::str::from_utf8(exponent)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    let mut digits = [0u8; 24];
    let mut count = 0;
    for &b in mantissa
        .iter()
        .filter(|b| b.is_ascii_digit())
        .take(digits.len())
    {
        digits[count] = b;
        count += 1;
    }
    let digits = &digits[..count];
    if (-4..16).contains(&exponent) {
        if exponent >= 0 {
            let whole = exponent as usize + 1;
            if digits.len() <= whole {
                out.extend_from_slice(digits);
                out.resize(out.len() + whole - digits.len(), b'0');
                out.extend_from_slice(b".0");
            } else {
                out.extend_from_slice(&digits[..whole]);
                out.push(b'.');
                out.extend_from_slice(&digits[whole..]);
            }
        } else {
            out.extend_from_slice(b"0.");
            out.resize(out.len() + (-exponent - 1) as usize, b'0');
            out.extend_from_slice(digits);
        }
    } else {
        out.push(digits.first().copied().unwrap_or(b'0'));
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exponent < 0 { b'-' } else { b'+' });
        let abs = exponent.unsigned_abs();
        if abs < 10 {
            out.push(b'0');
        }
        push_int(out, i64::from(abs));
    }
}

/// Python's `str()` of a JSON number as simd-json parsed it (`None` for anything else).
pub(crate) fn py_number_text(value: &BorrowedValue<'_>) -> Option<String> {
    let mut out = Vec::new();
    match value {
        BorrowedValue::Static(StaticNode::I64(n)) => push_int(&mut out, *n),
        BorrowedValue::Static(StaticNode::U64(n)) => {
            out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes())
        }
        BorrowedValue::Static(StaticNode::F64(f)) => push_py_float(&mut out, *f, false),
        _ => return None,
    }
    String::from_utf8(out).ok()
}

/// Characters Python's `str.strip()` removes (`str.isspace`).
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `int(text)` for ASCII text: surrounding whitespace, an optional sign, digits
/// with single `_` between them. Saturates at the `i64` range. `None` where Python raises.
pub(crate) fn py_int(text: &str) -> Option<i64> {
    let text = text.trim_matches(py_space);
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let bytes = digits.as_bytes();
    if bytes.is_empty() || bytes[0] == b'_' || bytes[bytes.len() - 1] == b'_' {
        return None;
    }
    let mut value: i64 = 0;
    let mut previous_underscore = false;
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                let digit = i64::from(b - b'0');
                value =
                    value
                        .saturating_mul(10)
                        .saturating_add(if negative { -digit } else { digit });
                previous_underscore = false;
            }
            b'_' if !previous_underscore => previous_underscore = true,
            _ => return None,
        }
    }
    Some(value)
}

/// `oslo_utils.strutils.bool_from_string(text, strict=True)`; `None` for anything else.
pub(crate) fn strict_bool(text: &str) -> Option<bool> {
    let text = text.trim_matches(py_space);
    let is = |options: &[&str]| options.iter().any(|o| text.eq_ignore_ascii_case(o));
    if is(&["1", "t", "true", "on", "y", "yes"]) {
        Some(true)
    } else if is(&["0", "f", "false", "off", "n", "no"]) {
        Some(false)
    } else {
        None
    }
}

/// The last member named `name` of an object (Python's `json` keeps the last duplicate).
pub(crate) fn member<'v, 'a>(
    value: &'v BorrowedValue<'a>,
    name: &str,
) -> Option<&'v BorrowedValue<'a>> {
    value
        .as_object()?
        .iter()
        .filter(|(key, _)| key.as_ref() == name)
        .last()
        .map(|(_, value)| value)
}

// ---------------------------------------------------------------------------------------------
// Views (nova/api/openstack/compute/views/flavors.py)
// ---------------------------------------------------------------------------------------------

/// Appends the `basic` view (index items): id, name, links (+ description ≥ 2.55).
fn push_basic(out: &mut Vec<u8>, links: &ItemLinks, flavor: &FlavorItem<'_>, description: bool) {
    out.extend_from_slice(b"{\"id\": ");
    json::push_str(out, flavor.flavorid);
    out.extend_from_slice(b", \"name\": ");
    json::push_str(out, flavor.name);
    out.extend_from_slice(b", \"links\": ");
    links.push(out, flavor.flavorid);
    if description {
        push_description(out, flavor.description);
    }
    out.push(b'}');
}

fn push_description(out: &mut Vec<u8>, description: Option<&str>) {
    out.extend_from_slice(b", \"description\": ");
    match description {
        Some(text) => json::push_str(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends the `show` view (detail items, show, create, update).
fn push_full(out: &mut Vec<u8>, links: &ItemLinks, flavor: &FlavorItem<'_>, description: bool) {
    out.extend_from_slice(b"{\"id\": ");
    json::push_str(out, flavor.flavorid);
    out.extend_from_slice(b", \"name\": ");
    json::push_str(out, flavor.name);
    out.extend_from_slice(b", \"ram\": ");
    push_int(out, flavor.memory_mb);
    out.extend_from_slice(b", \"disk\": ");
    push_int(out, flavor.root_gb);
    out.extend_from_slice(b", \"swap\": ");
    // `flavor["swap"] or ""` (before 2.75).
    if flavor.swap == 0 {
        out.extend_from_slice(b"\"\"");
    } else {
        push_int(out, flavor.swap);
    }
    out.extend_from_slice(b", \"OS-FLV-EXT-DATA:ephemeral\": ");
    push_int(out, flavor.ephemeral_gb);
    out.extend_from_slice(b", \"OS-FLV-DISABLED:disabled\": ");
    out.extend_from_slice(if flavor.disabled { b"true" } else { b"false" });
    out.extend_from_slice(b", \"vcpus\": ");
    push_int(out, flavor.vcpus);
    out.extend_from_slice(b", \"os-flavor-access:is_public\": ");
    out.extend_from_slice(if flavor.is_public { b"true" } else { b"false" });
    out.extend_from_slice(b", \"rxtx_factor\": ");
    // `flavor['rxtx_factor'] or ""`.
    if flavor.rxtx_factor == 0.0 {
        out.extend_from_slice(b"\"\"");
    } else {
        push_py_float(out, flavor.rxtx_factor, true);
    }
    out.extend_from_slice(b", \"links\": ");
    links.push(out, flavor.flavorid);
    if description {
        push_description(out, flavor.description);
    }
    out.push(b'}');
}

/// Writes `{"flavor": <show view>}` as the whole response.
fn write_show<'a>(
    req: &Request<'a>,
    ctx: &RequestContext<'a>,
    resp: &mut Response,
    flavor: &FlavorRef<'_>,
    description: bool,
) {
    let links = Links::new(req, ctx).for_collection("flavors");
    resp.content_type = JSON;
    resp.body.extend_from_slice(b"{\"flavor\": ");
    push_full(&mut resp.body, &links, &flavor.item(), description);
    resp.body.push(b'}');
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

fn index<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    _params: &Params<'_, '_>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    read_cache::serve(Resource::FlavorIndex, req, ctx, resp, |resp| {
        list(req, ctx, resp, false)
    })
}

fn detail<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    _params: &Params<'_, '_>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    read_cache::serve(Resource::FlavorDetail, req, ctx, resp, |resp| {
        list(req, ctx, resp, true)
    })
}

/// The admin `is_public` filter: absent → public (plus shared with the caller), `none` →
/// everything, else a strict boolean (Nova's `_parse_is_public`).
fn parse_is_public(value: Option<&str>) -> Result<Option<bool>, ApiError> {
    match value {
        None => Ok(Some(true)),
        Some(text) if text.eq_ignore_ascii_case("none") => Ok(None),
        Some(text) => strict_bool(text).map(Some).ok_or_else(|| {
            ApiError::Invalid(Cow::Owned(format!("Invalid is_public filter [{text}]")))
        }),
    }
}

/// `int(value)` of a `minRam`/`minDisk` filter, else 400 "Invalid <name> filter [<value>]".
fn parse_min(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|text| {
            py_int(text).ok_or_else(|| {
                ApiError::Invalid(Cow::Owned(format!("Invalid {name} filter [{text}]")))
            })
        })
        .transpose()
}

/// `GET /flavors` and `GET /flavors/detail` (Nova's `_get_flavors` and `_list_view`).
fn list<'a>(
    req: &Request<'a>,
    ctx: &RequestContext<'a>,
    resp: &mut Response,
    detail: bool,
) -> Result<(), ApiError> {
    let pairs = query_pairs(req)?;
    validate_query(ctx, &INDEX_QUERY, &pairs)?;
    let services = ctx.services()?;
    // webob's `params.get` reads the last value of a repeated parameter.
    let last = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_ref())
    };
    let sort = Sort {
        key: last("sort_key")
            .and_then(SortKey::parse)
            .unwrap_or_default(),
        dir: last("sort_dir")
            .and_then(SortDir::parse)
            .unwrap_or_default(),
    };
    let max_limit = services.max_limit;
    // The schema admits only digit strings; more digits than fit mean "as many as allowed".
    let requested = last("limit")
        .map(|text| py_int(text).map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX)));
    let limit = requested.map_or(max_limit, |n| n.min(max_limit));
    let marker = last("marker");

    let mut filter = Filter {
        project_id: ctx.project_id,
        ..Filter::default()
    };
    if ctx.is_admin {
        filter.is_public = parse_is_public(last("is_public"))?;
    } else {
        filter.visible_to = visible_to(ctx);
        filter.is_public = Some(true);
        filter.disabled = Some(false);
    }
    filter.min_memory_mb = parse_min("minRam", last("minRam"))?;
    filter.min_root_gb = parse_min("minDisk", last("minDisk"))?;

    let links = Links::new(req, ctx);
    let item_links = links.for_collection("flavors");
    let description = ctx.at_least(55);
    resp.content_type = JSON;
    let out = &mut resp.body;
    out.extend_from_slice(b"{\"flavors\": [");
    let mut count = 0usize;
    let mut last_id: Option<String> = None;
    let db_limit = u32::try_from(limit).unwrap_or(u32::MAX);
    let shape = ItemShape {
        full: detail,
        description,
    };
    db_flavors::each_item(
        &services.db,
        &filter,
        sort,
        Some(db_limit),
        marker,
        shape,
        |flavor| {
            if count > 0 {
                out.extend_from_slice(b", ");
            }
            if detail {
                push_full(out, &item_links, &flavor, description);
            } else {
                push_basic(out, &item_links, &flavor, description);
            }
            count += 1;
            // Only the last item of a full page is ever a marker.
            if count == limit {
                last_id = Some(flavor.flavorid.to_owned());
            }
            Ok(())
        },
    )
    .map_err(|err| match err {
        DbError::MarkerNotFound => ApiError::MarkerNotFound(marker.unwrap_or_default().to_owned()),
        other => ApiError::from_db(other),
    })?;
    out.push(b']');
    if let (Some(last_id), true) = (last_id, links::page_is_full(requested, max_limit, count)) {
        let collection = if detail { "flavors/detail" } else { "flavors" };
        links.push_next(out, "flavors", collection, req, &last_id);
    }
    out.push(b'}');
    Ok(())
}

/// `GET /flavors/{id}`.
fn show<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, '_>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    // `show_query` accepts anything, but the query must still decode.
    query_pairs(req)?;
    let services = ctx.services()?;
    let id = params.get("id").unwrap_or_default();
    let description = ctx.at_least(55);
    let ctx: &RequestContext<'a> = ctx;
    read_cache::serve(Resource::FlavorShow, req, ctx, resp, |resp| {
        db_flavors::with_flavorid(&services.db, id, visible_to(ctx), |flavor| {
            write_show(req, ctx, resp, &flavor, description)
        })
        .map_err(|err| match err {
            DbError::NotFound => not_found(id),
            other => ApiError::from_db(other),
        })
    })
}

/// A flavor size from the create body, as `utils.validate_integer(value, name, min,
/// MAX_INT)` takes it: `int(str(value))`, so a JSON float such as `512.0` is refused.
fn size(value: Option<&BorrowedValue<'_>>, name: &str, min: i64) -> Result<i64, ApiError> {
    let invalid =
        |reason: String| ApiError::Invalid(Cow::Owned(format!("Invalid input received: {reason}")));
    let number = match value {
        Some(BorrowedValue::Static(StaticNode::I64(n))) => Some(*n),
        Some(BorrowedValue::Static(StaticNode::U64(n))) => {
            Some(i64::try_from(*n).unwrap_or(i64::MAX))
        }
        Some(BorrowedValue::String(text)) => py_int(text),
        _ => None,
    };
    let number = number.ok_or_else(|| invalid(format!("{name} must be an integer")))?;
    if number < min {
        return Err(invalid(format!("{name} must be >= {min}")));
    }
    if number > pt::MAX_INT {
        return Err(invalid(format!("{name} must be <= {}", pt::MAX_INT)));
    }
    Ok(number)
}

/// `float(rxtx_factor)` in `(0, SQL_SP_FLOAT_MAX]`, else Nova's `InvalidInput`.
fn rxtx_factor(value: &BorrowedValue<'_>) -> Result<f64, ApiError> {
    let number = match value {
        BorrowedValue::Static(StaticNode::I64(n)) => Some(*n as f64),
        BorrowedValue::Static(StaticNode::U64(n)) => Some(*n as f64),
        BorrowedValue::Static(StaticNode::F64(f)) => Some(*f),
        BorrowedValue::String(text) => text.trim_matches(py_space).parse::<f64>().ok(),
        _ => None,
    };
    match number {
        Some(f) if f > 0.0 && f <= SQL_SP_FLOAT_MAX => Ok(f),
        _ => Err(ApiError::Invalid(Cow::Borrowed(
            "Invalid input received: 'rxtx_factor' argument must be a float between 0 and \
             3.40282e+38",
        ))),
    }
}

/// A fresh UUID version 4 in its canonical text form.
fn uuid4() -> String {
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

/// The new flavor's API id: `str(id)`, or a UUID when the id is absent, null or falsy.
fn new_flavorid<'a>(value: Option<&BorrowedValue<'a>>) -> Cow<'a, str> {
    match value {
        Some(BorrowedValue::String(text)) if !text.is_empty() => Cow::Owned(text.to_string()),
        Some(BorrowedValue::Static(StaticNode::I64(0) | StaticNode::U64(0))) => Cow::Owned(uuid4()),
        Some(BorrowedValue::Static(StaticNode::F64(f))) if *f == 0.0 => Cow::Owned(uuid4()),
        Some(
            number @ BorrowedValue::Static(
                StaticNode::I64(_) | StaticNode::U64(_) | StaticNode::F64(_),
            ),
        ) => py_number_text(number).map_or_else(|| Cow::Owned(uuid4()), Cow::Owned),
        _ => Cow::Owned(uuid4()),
    }
}

/// `POST /flavors` (Nova's flavor-manage `create` and `flavors.create`).
fn create<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    _params: &Params<'_, '_>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let body = json_body(req)?;
    let with_description = ctx.at_least(55);
    let schema = if ctx.legacy_v2 {
        &CREATE_V20
    } else if with_description {
        &CREATE_V255
    } else {
        &CREATE
    };
    validate(ctx, schema, body.as_ref())?;
    ctx.authorize(CREATE_RULE, &empty_target())?;
    let flavor = body
        .as_ref()
        .and_then(|body| member(body, "flavor"))
        .ok_or(ApiError::MalformedBody)?;
    let get = |name: &str| member(flavor, name);

    let name = get("name")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .trim_matches(py_space);
    let flavorid = new_flavorid(get("id"));
    // In the order of Nova's `flavor_attributes`.
    let memory_mb = size(get("ram"), "ram", 1)?;
    let vcpus = size(get("vcpus"), "vcpus", 1)?;
    let root_gb = size(get("disk"), "disk", 0)?;
    let zero = BorrowedValue::Static(StaticNode::I64(0));
    let ephemeral_gb = size(
        Some(get("OS-FLV-EXT-DATA:ephemeral").unwrap_or(&zero)),
        "ephemeral",
        0,
    )?;
    let swap = size(Some(get("swap").unwrap_or(&zero)), "swap", 0)?;
    let rxtx_factor = get("rxtx_factor").map_or(Ok(1.0), rxtx_factor)?;
    let is_public = match get("os-flavor-access:is_public") {
        None => true,
        Some(BorrowedValue::Static(StaticNode::Bool(b))) => *b,
        Some(value) => value
            .as_str()
            .and_then(strict_bool)
            .ok_or(ApiError::Invalid(Cow::Borrowed(
                "Invalid input received: is_public must be a boolean",
            )))?,
    };
    let description = if with_description {
        get("description").and_then(|v| v.as_str())
    } else {
        None
    };

    let services = ctx.services()?;
    let created = db_flavors::create(
        &services.db,
        &NewFlavor {
            flavorid: &flavorid,
            name,
            memory_mb,
            vcpus,
            root_gb,
            ephemeral_gb,
            swap,
            rxtx_factor,
            is_public,
            description,
        },
    )
    .map_err(|err| match err {
        DbError::Conflict(Conflict::FlavorId) => ApiError::Conflict(Cow::Owned(format!(
            "Flavor with ID {flavorid} already exists."
        ))),
        DbError::Conflict(Conflict::FlavorName) => ApiError::Conflict(Cow::Owned(format!(
            "Flavor with name {name} already exists."
        ))),
        other => ApiError::from_db(other),
    })?;
    // Nova does not share a new private flavor with the creating project (bug 1209101).
    write_show(req, ctx, resp, &created.view(), with_description);
    Ok(())
}

/// `PUT /flavors/{id}` (2.55): sets the description.
fn update<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, '_>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    if !ctx.at_least(55) {
        return Err(ApiError::VersionNotFound);
    }
    let body = json_body(req)?;
    validate(ctx, &UPDATE, body.as_ref())?;
    ctx.authorize(UPDATE_RULE, &empty_target())?;
    let id = params.get("id").unwrap_or_default();
    let description = body
        .as_ref()
        .and_then(|body| member(body, "flavor"))
        .and_then(|flavor| member(flavor, "description"))
        .and_then(|value| value.as_str());
    get_flavor(ctx, id)?;
    let services = ctx.services()?;
    let updated =
        db_flavors::update_description(&services.db, id, description).map_err(|err| match err {
            DbError::NotFound => not_found(id),
            other => ApiError::from_db(other),
        })?;
    write_show(req, ctx, resp, &updated.view(), true);
    Ok(())
}

/// `DELETE /flavors/{id}`: 202, no body.
fn delete(
    _req: &Request<'_>,
    ctx: &mut RequestContext<'_>,
    params: &Params<'_, '_>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    ctx.authorize(DELETE_RULE, &empty_target())?;
    let id = params.get("id").unwrap_or_default();
    let services = ctx.services()?;
    db_flavors::delete(&services.db, id).map_err(|err| match err {
        DbError::NotFound => not_found(id),
        other => ApiError::from_db(other),
    })?;
    resp.status = 202;
    resp.content_type = EMPTY_BODY_TYPE;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(value: f64, json: bool) -> String {
        let mut out = Vec::new();
        push_py_float(&mut out, value, json);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_print_like_python_repr() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (2.5, "2.5"),
            (0.1, "0.1"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (-3.0, "-3.0"),
            (123456.789, "123456.789"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.25e-7, "1.25e-07"),
            (3.40282e38, "3.40282e+38"),
            (1e100, "1e+100"),
            (1.0 / 3.0, "0.3333333333333333"),
            (12.5e3, "12500.0"),
        ];
        for (value, expected) in cases {
            assert_eq!(float(*value, true), *expected, "{value:e}");
        }
        assert_eq!(float(f64::INFINITY, true), "Infinity");
        assert_eq!(float(f64::INFINITY, false), "inf");
        assert_eq!(float(f64::NEG_INFINITY, false), "-inf");
        assert_eq!(float(f64::NAN, true), "NaN");
    }

    #[test]
    fn python_int_parsing() {
        for (text, expected) in [
            ("12", Some(12)),
            (" 12\n", Some(12)),
            ("-5", Some(-5)),
            ("+5", Some(5)),
            ("1_000", Some(1000)),
            ("1__0", None),
            ("_1", None),
            ("1_", None),
            ("", None),
            ("-", None),
            ("1.5", None),
            ("abc", None),
            ("99999999999999999999999", Some(i64::MAX)),
            ("-99999999999999999999999", Some(i64::MIN)),
        ] {
            assert_eq!(py_int(text), expected, "{text:?}");
        }
    }

    #[test]
    fn strict_booleans() {
        for text in ["1", "t", "TRUE", "on", "Y", " yes "] {
            assert_eq!(strict_bool(text), Some(true), "{text}");
        }
        for text in ["0", "f", "False", "OFF", "n", "no"] {
            assert_eq!(strict_bool(text), Some(false), "{text}");
        }
        for text in ["", "2", "none", "truee"] {
            assert_eq!(strict_bool(text), None, "{text}");
        }
        assert_eq!(parse_is_public(None).unwrap(), Some(true));
        assert_eq!(parse_is_public(Some("NoNe")).unwrap(), None);
        assert_eq!(parse_is_public(Some("false")).unwrap(), Some(false));
        assert_eq!(
            parse_is_public(Some("maybe")).unwrap_err().fault().message,
            "Invalid is_public filter [maybe]"
        );
    }

    #[test]
    fn generated_ids_are_uuid4() {
        let id = uuid4();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid4(), id);
    }

    #[test]
    fn new_ids_follow_python_str() {
        let parse = |text: &str| {
            let mut bytes = text.as_bytes().to_vec();
            let value = simd_json::to_owned_value(&mut bytes).unwrap();
            let mut bytes = simd_json::to_vec(&value).unwrap();
            let borrowed = simd_json::to_borrowed_value(&mut bytes).unwrap();
            new_flavorid(Some(&borrowed)).into_owned()
        };
        assert_eq!(parse("\"10\""), "10");
        assert_eq!(parse("1234"), "1234");
        assert_eq!(parse("-7"), "-7");
        assert_eq!(parse("1.5"), "1.5");
        assert_eq!(parse("2.0"), "2.0");
        assert_eq!(parse("0").len(), 36);
        assert_eq!(parse("0.0").len(), 36);
        assert_eq!(new_flavorid(None).len(), 36);
    }
}
