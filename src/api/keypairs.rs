//! `os-keypairs` (SPEC §4.4, Nova's `compute/keypairs.py`): list, create or import, show and
//! delete a user's key pairs.
//!
//! Core worker, innermost layer. Per microversion:
//! - 2.1 (and legacy `/v2`): create answers 200, delete 202; no `type`.
//! - ≥ 2.2: `type` (`ssh`|`x509`) in the create body and in every key pair written; create
//!   201, delete 204.
//! - ≥ 2.10: `user_id` in the create body and `?user_id=` on list, show and delete; the policy
//!   target is that user, so only admins reach other users' key pairs.
//! - ≥ 2.35: the list pages by name (`limit`, `marker`) and writes `keypairs_links`.
//! - Up to 2.91 (so at every version served) a create without `public_key` generates a key
//!   pair (see [`super::sshkey`]) and answers with its `private_key`, the only time it is sent.
//!
//! Every policy check uses the target `{user_id: <the key pairs' owner>, project_id: <the
//! caller's project>}`, as Nova does. The quota check and the insert are one database
//! transaction (`keypairs::create_within_quota`), so two workers racing for a user's last
//! slot cannot both win. Bodies are written straight into the response; the list reads rows
//! without copying them; the list's body is kept per worker until the next commit to the
//! database ([`super::read_cache`]). This module must never send a private key anywhere but in the create
//! response, and never log key material.

use std::borrow::Cow;

use simd_json::{prelude::*, BorrowedValue};

use super::{
    context::{Request, RequestContext},
    error::ApiError,
    json, json_body,
    links::{page_is_full, Links},
    query_pairs,
    read_cache::{self, Resource},
    sshkey, validate, validate_query,
    validation::{
        parameter_types::{
            multi_params, KEYPAIR_NAME_SPECIAL_CHARS, LIMIT, MARKER,
            NAME_WITH_LEADING_TRAILING_SPACES, STRING,
        },
        Keyword, Literal, Schema, Type,
    },
    QueryPairs, Route,
};
use crate::{
    db::{
        keypairs::{self, KeyType, KeypairItem, KeypairRow, NewKeypair, QUOTA_RESOURCE},
        DbError,
    },
    http::Response,
    policy::Target,
    router::{Method, Params},
};

/// The routes of `os-keypairs`.
pub const ROUTES: &[Route] = &[
    crate::route!(Method::Get, "/os-keypairs", index),
    crate::route!(Method::Post, "/os-keypairs", create),
    crate::route!(Method::Get, "/os-keypairs/{id}", show),
    crate::route!(Method::Delete, "/os-keypairs/{id}", delete),
];

const POLICY_INDEX: &str = "os_compute_api:os-keypairs:index";
const POLICY_CREATE: &str = "os_compute_api:os-keypairs:create";
const POLICY_SHOW: &str = "os_compute_api:os-keypairs:show";
const POLICY_DELETE: &str = "os_compute_api:os-keypairs:delete";

// ---------------------------------------------------------------------------------------------
// Schemas (Nova's schemas/keypairs.py)
// ---------------------------------------------------------------------------------------------

const PUBLIC_KEY: Schema = STRING;
const KEY_TYPE: Schema = Schema::new(&[
    Keyword::Type(&[Type::String]),
    Keyword::Enum(&[Literal::Str("ssh"), Literal::Str("x509")]),
]);

/// `create_v20` (legacy `/v2`): names may carry leading and trailing spaces.
pub(crate) const CREATE_V20: Schema = crate::wrapped_schema!(
    "keypair",
    required: ["name"],
    ("name", NAME_WITH_LEADING_TRAILING_SPACES),
    ("public_key", PUBLIC_KEY),
);

/// `create` (2.1).
pub(crate) const CREATE_V21: Schema = crate::wrapped_schema!(
    "keypair",
    required: ["name"],
    ("name", KEYPAIR_NAME_SPECIAL_CHARS),
    ("public_key", PUBLIC_KEY),
);

/// `create_v22` (2.2–2.9): adds `type`.
pub(crate) const CREATE_V22: Schema = crate::wrapped_schema!(
    "keypair",
    required: ["name"],
    ("name", KEYPAIR_NAME_SPECIAL_CHARS),
    ("type", KEY_TYPE),
    ("public_key", PUBLIC_KEY),
);

/// `create_v210` (2.10–2.91): adds `user_id`.
pub(crate) const CREATE_V210: Schema = crate::wrapped_schema!(
    "keypair",
    required: ["name"],
    ("name", KEYPAIR_NAME_SPECIAL_CHARS),
    ("type", KEY_TYPE),
    ("public_key", PUBLIC_KEY),
    ("user_id", STRING),
);

/// `index_query_schema_v20` (also show and delete before 2.10): anything goes.
pub(crate) const QUERY_V20: Schema = Schema::new(&[
    Keyword::Type(&[Type::Object]),
    Keyword::AdditionalProperties(true),
]);

/// `index_query_schema_v210` (also show and delete from 2.10).
pub(crate) const QUERY_V210: Schema = Schema::new(&[
    Keyword::Type(&[Type::Object]),
    Keyword::Properties(&[("user_id", Schema::new(&multi_params(STRING)))]),
    Keyword::AdditionalProperties(true),
]);

/// `index_query_schema_v235`: adds the paging parameters.
pub(crate) const INDEX_V235: Schema = Schema::new(&[
    Keyword::Type(&[Type::Object]),
    Keyword::Properties(&[
        ("user_id", Schema::new(&multi_params(STRING))),
        ("limit", LIMIT),
        ("marker", MARKER),
    ]),
    Keyword::AdditionalProperties(true),
]);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The query schema of show and delete at this version.
fn member_query_schema(ctx: &RequestContext<'_>) -> &'static Schema {
    if ctx.at_least(10) {
        &QUERY_V210
    } else {
        &QUERY_V20
    }
}

/// `_get_user_id`: the first `user_id` of the query (≥ 2.10), else the caller; an empty
/// value counts as none (`user_id or context.user_id`).
fn target_user<'q>(ctx: &RequestContext<'q>, pairs: &'q QueryPairs<'q>, own: &'q str) -> &'q str {
    if !ctx.at_least(10) {
        return own;
    }
    pairs
        .as_slice()
        .iter()
        .find(|(k, _)| k == "user_id")
        .map(|(_, v)| v.as_ref())
        .filter(|v| !v.is_empty())
        .unwrap_or(own)
}

/// Nova's policy target for key pairs: the owner and the caller's project.
fn authorize(
    ctx: &RequestContext<'_>,
    rule: &'static str,
    user_id: &str,
    project_id: &str,
) -> Result<(), ApiError> {
    let mut target = Target::new();
    target.insert("user_id", user_id);
    target.insert("project_id", project_id);
    ctx.authorize(rule, &target)
}

/// The last value of a query parameter (webob's `request.GET[name]`).
fn last<'p>(pairs: &'p QueryPairs<'_>, name: &str) -> Option<&'p str> {
    pairs
        .as_slice()
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_ref())
}

fn not_found(name: &str, user_id: &str) -> ApiError {
    ApiError::NotFound(Cow::Owned(format!(
        "Keypair {name} not found for user {user_id}"
    )))
}

fn invalid_keypair(reason: &str) -> ApiError {
    ApiError::Invalid(Cow::Owned(format!("Keypair data is invalid: {reason}")))
}

const OVER_QUOTA: &str = "Quota exceeded, too many key pairs.";

/// Appends `"<key>": "<escaped value>"`.
fn push_field(out: &mut Vec<u8>, key: &str, value: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\": ");
    json::push_str(out, value);
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// `GET /os-keypairs`.
fn index<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let pairs = query_pairs(req)?;
    let paged = ctx.at_least(35);
    let schema = if paged {
        &INDEX_V235
    } else {
        member_query_schema(ctx)
    };
    validate_query(ctx, schema, &pairs)?;
    let (own, project) = ctx.identity()?;
    let user = target_user(ctx, &pairs, own);
    authorize(ctx, POLICY_INDEX, user, project)?;
    let ctx: &RequestContext<'a> = ctx;
    // After the policy check, which must run every time: the list itself may come from the
    // worker's cache (the target user, query and caller are part of its key).
    read_cache::serve(Resource::KeypairIndex, req, ctx, resp, |resp| {
        let services = ctx.services()?;

        // `common.get_limit_and_marker`: the limit never exceeds `[api] max_limit`.
        let (requested, marker) = if paged {
            let requested = last(&pairs, "limit").map(|text| {
                // The schema admitted digits only (a final newline aside); huge means "all".
                text.trim_end_matches('\n')
                    .parse::<usize>()
                    .unwrap_or(usize::MAX)
            });
            (requested, last(&pairs, "marker"))
        } else {
            (None, None)
        };
        let limit = paged.then(|| {
            let limit = requested.map_or(services.max_limit, |r| r.min(services.max_limit));
            u32::try_from(limit).unwrap_or(u32::MAX)
        });
        let with_type = ctx.at_least(2);

        let out = &mut resp.body;
        out.extend_from_slice(b"{\"keypairs\": [");
        let mut last_name = String::new();
        let mut first = true;
        let returned = keypairs::list_each(&services.db, user, limit, marker, |item| {
            if !first {
                out.extend_from_slice(b", ");
            }
            first = false;
            push_item(out, &item, with_type);
            if paged {
                last_name.clear();
                last_name.push_str(item.name);
            }
        })
        .map_err(|err| match err {
            DbError::MarkerNotFound => ApiError::Invalid(Cow::Owned(format!(
                "Marker {} could not be found.",
                marker.unwrap_or_default()
            ))),
            other => ApiError::from_db(other),
        })?;
        out.push(b']');
        if paged && page_is_full(requested, services.max_limit, returned) {
            Links::new(req, ctx).push_next(out, "keypairs", "os-keypairs", req, &last_name);
        }
        out.push(b'}');
        resp.content_type = "application/json";
        Ok(())
    })
}

/// One list entry: `{"keypair": {name, public_key, fingerprint[, type]}}`.
fn push_item(out: &mut Vec<u8>, item: &KeypairItem<'_>, with_type: bool) {
    out.extend_from_slice(b"{\"keypair\": {");
    push_field(out, "name", item.name);
    out.extend_from_slice(b", ");
    push_field(out, "public_key", item.public_key);
    out.extend_from_slice(b", ");
    push_field(out, "fingerprint", item.fingerprint);
    if with_type {
        out.extend_from_slice(b", ");
        push_field(out, "type", item.key_type.as_str());
    }
    out.extend_from_slice(b"}}");
}

/// `GET /os-keypairs/{name}`.
fn show<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let pairs = query_pairs(req)?;
    validate_query(ctx, member_query_schema(ctx), &pairs)?;
    let (own, project) = ctx.identity()?;
    let user = target_user(ctx, &pairs, own);
    authorize(ctx, POLICY_SHOW, user, project)?;
    let name = params.get("id").unwrap_or_default();
    let row = keypairs::get(&ctx.services()?.db, user, name).map_err(|err| match err {
        DbError::NotFound => not_found(name, user),
        other => ApiError::from_db(other),
    })?;
    write_show(&mut resp.body, &row, ctx.at_least(2));
    resp.content_type = "application/json";
    Ok(())
}

/// The show body: every stored field plus Nova's soft-delete columns.
fn write_show(out: &mut Vec<u8>, row: &KeypairRow, with_type: bool) {
    out.extend_from_slice(b"{\"keypair\": {");
    push_field(out, "name", &row.name);
    out.extend_from_slice(b", ");
    push_field(out, "public_key", &row.public_key);
    out.extend_from_slice(b", ");
    push_field(out, "fingerprint", &row.fingerprint);
    out.extend_from_slice(b", ");
    push_field(out, "user_id", &row.user_id);
    if with_type {
        out.extend_from_slice(b", ");
        push_field(out, "type", row.key_type.as_str());
    }
    out.extend_from_slice(b", ");
    push_field(out, "created_at", &row.created_at);
    out.extend_from_slice(b", \"updated_at\": ");
    match &row.updated_at {
        Some(at) => json::push_str(out, at),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b", \"deleted\": false, \"deleted_at\": null, \"id\": ");
    out.extend_from_slice(itoa::Buffer::new().format(row.id).as_bytes());
    out.extend_from_slice(b"}}");
}

/// `DELETE /os-keypairs/{name}`: 202 at 2.1, 204 from 2.2.
fn delete<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let pairs = query_pairs(req)?;
    validate_query(ctx, member_query_schema(ctx), &pairs)?;
    let (own, project) = ctx.identity()?;
    let user = target_user(ctx, &pairs, own);
    authorize(ctx, POLICY_DELETE, user, project)?;
    let name = params.get("id").unwrap_or_default();
    keypairs::delete(&ctx.services()?.db, user, name).map_err(|err| match err {
        DbError::NotFound => not_found(name, user),
        other => ApiError::from_db(other),
    })?;
    resp.status = if ctx.at_least(2) { 204 } else { 202 };
    Ok(())
}

/// The characters `_validate_new_key_pair` allows in a name.
fn is_safe_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ')
}

/// `POST /os-keypairs`: import (`public_key` given) or generate.
fn create<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let body = json_body(req)?;
    let schema = if ctx.legacy_v2 {
        &CREATE_V20
    } else if ctx.at_least(10) {
        &CREATE_V210
    } else if ctx.at_least(2) {
        &CREATE_V22
    } else {
        &CREATE_V21
    };
    validate(ctx, schema, body.as_ref())?;
    let null = BorrowedValue::Static(simd_json::StaticNode::Null);
    let keypair = body
        .as_ref()
        .and_then(|b| b.get("keypair"))
        .unwrap_or(&null);
    let text = |key: &str| keypair.get(key).and_then(|v| v.as_str());
    // `common.normalize_name`: legacy `/v2` names lose their surrounding whitespace.
    let raw_name = text("name").unwrap_or_default();
    let name = if ctx.legacy_v2 {
        raw_name.trim()
    } else {
        raw_name
    };
    // Members a version does not know were refused (or, under `/v2`, ignored) by the schema.
    let key_type = if ctx.at_least(2) {
        text("type").and_then(KeyType::parse).unwrap_or_default()
    } else {
        KeyType::Ssh
    };
    let (own, project) = ctx.identity()?;
    let user = if ctx.at_least(10) {
        text("user_id").filter(|u| !u.is_empty()).unwrap_or(own)
    } else {
        own
    };
    authorize(ctx, POLICY_CREATE, user, project)?;

    // `_validate_new_key_pair`: only a `/v2` name can still fail these.
    if !name.chars().all(is_safe_name_char) {
        return Err(invalid_keypair("Keypair name contains unsafe characters"));
    }
    if !(1..=255).contains(&name.chars().count()) {
        return Err(invalid_keypair(
            "Keypair name must be string and between 1 and 255 characters long",
        ));
    }

    let services = ctx.services()?;
    let default_limit = services.quota_defaults.get(QUOTA_RESOURCE);
    let (public_key, fingerprint, private_key) = match text("public_key") {
        Some(public_key) => {
            let fingerprint = match key_type {
                KeyType::Ssh => sshkey::ssh_fingerprint(public_key).map_err(str::to_owned),
                KeyType::X509 => sshkey::x509_fingerprint(public_key),
            };
            match fingerprint {
                Ok(fingerprint) => (Cow::Borrowed(public_key), fingerprint, None),
                // Nova counts the quota before it fingerprints the key.
                Err(reason) => {
                    if keypairs::quota_full(&services.db, project, default_limit, user)? {
                        return Err(ApiError::OverQuota(Cow::Borrowed(OVER_QUOTA)));
                    }
                    return Err(invalid_keypair(&reason));
                }
            }
        }
        None => {
            let generated = match key_type {
                KeyType::Ssh => sshkey::generate_ssh(),
                KeyType::X509 => sshkey::generate_x509(user),
            }
            .map_err(ApiError::Internal)?;
            (
                Cow::Owned(generated.public_key),
                generated.fingerprint,
                Some(generated.private_key),
            )
        }
    };
    let new = NewKeypair {
        user_id: user,
        name,
        fingerprint: &fingerprint,
        public_key: &public_key,
        key_type,
    };
    keypairs::create_within_quota(&services.db, project, default_limit, &new).map_err(|err| {
        match err {
            DbError::OverQuota { .. } => ApiError::OverQuota(Cow::Borrowed(OVER_QUOTA)),
            DbError::Conflict(_) => {
                ApiError::Conflict(Cow::Owned(format!("Key pair '{name}' already exists.")))
            }
            other => ApiError::from_db(other),
        }
    })?;

    let out = &mut resp.body;
    out.extend_from_slice(b"{\"keypair\": {");
    push_field(out, "name", name);
    out.extend_from_slice(b", ");
    push_field(out, "public_key", &public_key);
    out.extend_from_slice(b", ");
    push_field(out, "fingerprint", &fingerprint);
    out.extend_from_slice(b", ");
    push_field(out, "user_id", user);
    if ctx.at_least(2) {
        out.extend_from_slice(b", ");
        push_field(out, "type", key_type.as_str());
    }
    if let Some(private_key) = &private_key {
        out.extend_from_slice(b", ");
        push_field(out, "private_key", private_key);
    }
    out.extend_from_slice(b"}}");
    resp.status = if ctx.at_least(2) { 201 } else { 200 };
    resp.content_type = "application/json";
    Ok(())
}
