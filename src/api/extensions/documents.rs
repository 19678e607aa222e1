//! `os-documents`, the worked example of a resource extension: a project's documents (name,
//! content, string metadata), created, listed, shown, updated and deleted under
//! `/v2.1/os-documents` and `/v2/{tenant_id}/os-documents`.
//!
//! Core worker, per request, through the extension router (see [`super::routes`]). Bodies:
//!
//! ```text
//! POST /os-documents         {"document": {"name", "content"[, "metadata"]}}   200 {"document": …}
//! GET  /os-documents         ?limit=&marker=                  200 {"documents": […][, "documents_links"]}
//! GET  /os-documents/{id}                                     200 {"document": …}
//! PUT  /os-documents/{id}    {"document": {any of name, content, metadata}}   200 {"document": …}
//! DELETE /os-documents/{id}                                   204
//! ```
//!
//! `name` is 1–255 characters, `content` at most 65,535 bytes, `metadata` Nova's metadata
//! (keys `^[a-zA-Z0-9-_:. ]{1,255}$`, string values up to 255 characters); anything else in
//! the body is a 400 (ignored under the legacy `/v2` wrapper, as Nova's relaxed validation
//! does). Policy rules `os_compute_api:os-documents:{index,create,show,update,delete}` on the
//! caller's own project; the `documents` count quota (`[quota] documents`, per project) is
//! checked in the inserting transaction. Every query is scoped to the caller's project, so
//! another project's document is a 404. It must never show or change a document of a
//! project other than the caller's.

use std::borrow::Cow;

use simd_json::{prelude::*, BorrowedValue};

use super::{Controller, Extension, PolicyRule, ResourceExtension};
use crate::{
    api::{
        context::{Request, RequestContext},
        error::ApiError,
        json, json_body,
        links::{page_is_full, Links},
        query_pairs,
        server_create::uuid4,
        validate, validate_query,
        validation::{
            parameter_types::{LIMIT, MARKER, METADATA},
            Keyword, Schema, Type,
        },
    },
    db::{
        queries::documents::{self, DocumentChanges, DocumentRow, NewDocument, QUOTA_RESOURCE},
        DbError,
    },
    http::Response,
    router::Params,
};

/// The collection's path segment.
const COLLECTION: &str = "os-documents";

const POLICY_INDEX: &str = "os_compute_api:os-documents:index";
const POLICY_CREATE: &str = "os_compute_api:os-documents:create";
const POLICY_SHOW: &str = "os_compute_api:os-documents:show";
const POLICY_UPDATE: &str = "os_compute_api:os-documents:update";
const POLICY_DELETE: &str = "os_compute_api:os-documents:delete";

/// Readers may list and show; members may write (as for server metadata).
const RULES: &[PolicyRule] = &[
    PolicyRule {
        name: POLICY_INDEX,
        check_str: "rule:project_reader_or_admin",
    },
    PolicyRule {
        name: POLICY_CREATE,
        check_str: "rule:project_member_or_admin",
    },
    PolicyRule {
        name: POLICY_SHOW,
        check_str: "rule:project_reader_or_admin",
    },
    PolicyRule {
        name: POLICY_UPDATE,
        check_str: "rule:project_member_or_admin",
    },
    PolicyRule {
        name: POLICY_DELETE,
        check_str: "rule:project_member_or_admin",
    },
];

/// The largest content, in bytes.
pub const MAX_CONTENT_BYTES: usize = 65_535;

/// The descriptor.
#[derive(Debug, Clone, Copy)]
pub struct Documents;

impl Extension for Documents {
    fn name(&self) -> &'static str {
        "Documents"
    }
    fn alias(&self) -> &'static str {
        "os-documents"
    }
    fn namespace(&self) -> &'static str {
        "http://docs.openstack.org/compute/ext/documents/api/v1.1"
    }
    fn updated(&self) -> &'static str {
        "2026-11-30T00:00:00Z"
    }
    fn description(&self) -> &'static str {
        "Documents: named texts with metadata, kept per project."
    }

    fn resources(&self) -> Vec<ResourceExtension> {
        vec![ResourceExtension::new(
            COLLECTION,
            Controller::new()
                .with("index", index)
                .with("create", create)
                .with("show", show)
                .with("update", update)
                .with("delete", delete),
        )]
    }

    fn policy_rules(&self) -> &'static [PolicyRule] {
        RULES
    }
}

// ---------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------

const NAME: Schema = Schema::new(&[
    Keyword::Type(&[Type::String]),
    Keyword::MinLength(1),
    Keyword::MaxLength(255),
]);

/// Code points first (cheap, and the message names the field); bytes are checked after.
const CONTENT: Schema = Schema::new(&[
    Keyword::Type(&[Type::String]),
    Keyword::MaxLength(MAX_CONTENT_BYTES),
]);

pub(crate) const CREATE: Schema = crate::wrapped_schema!(
    "document",
    required: ["name", "content"],
    ("name", NAME),
    ("content", CONTENT),
    ("metadata", METADATA),
);

pub(crate) const UPDATE: Schema = crate::wrapped_schema!(
    "document",
    ("name", NAME),
    ("content", CONTENT),
    ("metadata", METADATA),
);

pub(crate) const INDEX_QUERY: Schema = Schema::new(&[
    Keyword::Type(&[Type::Object]),
    Keyword::Properties(&[("limit", LIMIT), ("marker", MARKER)]),
    Keyword::AdditionalProperties(true),
]);

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

/// `"<key>": <string>`.
fn push_field(out: &mut Vec<u8>, key: &str, value: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\": ");
    json::push_str(out, value);
}

/// One document object; `links` writes its links.
fn push_document(out: &mut Vec<u8>, row: &DocumentRow<'_>, links: impl FnOnce(&mut Vec<u8>)) {
    out.push(b'{');
    push_field(out, "id", row.id);
    out.extend_from_slice(b", ");
    push_field(out, "name", row.name);
    out.extend_from_slice(b", ");
    push_field(out, "content", row.content);
    // Stored as the JSON object text this module wrote.
    out.extend_from_slice(b", \"metadata\": ");
    out.extend_from_slice(row.metadata.as_bytes());
    out.extend_from_slice(b", ");
    push_field(out, "project_id", row.project_id);
    out.extend_from_slice(b", ");
    push_field(out, "user_id", row.user_id);
    out.extend_from_slice(b", ");
    push_field(out, "created_at", row.created_at);
    out.extend_from_slice(b", \"updated_at\": ");
    match row.updated_at {
        Some(at) => json::push_str(out, at),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b", \"links\": ");
    links(out);
    out.push(b'}');
}

/// `{"document": …}` as the whole response body.
fn write_one<'a>(
    req: &Request<'a>,
    ctx: &RequestContext<'a>,
    resp: &mut Response,
    row: &DocumentRow<'_>,
) {
    let links = Links::new(req, ctx);
    resp.body.extend_from_slice(b"{\"document\": ");
    push_document(&mut resp.body, row, |out| {
        links.push_links(out, COLLECTION, row.id);
    });
    resp.body.push(b'}');
    resp.content_type = "application/json";
}

/// The metadata object as JSON text (keys and values are strings: the schema said so).
fn metadata_text(value: &BorrowedValue<'_>) -> String {
    let mut out = Vec::with_capacity(64);
    out.push(b'{');
    if let Some(object) = value.as_object() {
        for (i, (key, item)) in object.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            json::push_str(&mut out, key);
            out.extend_from_slice(b": ");
            json::push_str(&mut out, item.as_str().unwrap_or_default());
        }
    }
    out.push(b'}');
    // Only UTF-8 text and ASCII punctuation were appended.
    String::from_utf8(out).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(Cow::Owned(format!("Document {id} could not be found.")))
}

fn db_error(id: &str) -> impl FnOnce(DbError) -> ApiError + '_ {
    move |err| match err {
        DbError::NotFound => not_found(id),
        other => ApiError::from_db(other),
    }
}

/// The validated `{"document": {…}}` body's inner object, or `None` (relaxed `/v2` aside,
/// the schema guarantees it is there).
fn document<'v, 'a>(body: Option<&'v BorrowedValue<'a>>) -> Option<&'v BorrowedValue<'a>> {
    body.and_then(|b| b.get("document"))
}

/// The content's byte limit (the schema counted code points).
fn check_content(content: Option<&str>) -> Result<(), ApiError> {
    match content {
        Some(text) if text.len() > MAX_CONTENT_BYTES => {
            Err(ApiError::Validation(Cow::Owned(format!(
                "Invalid input for field/attribute content. Value: {} bytes. content is longer \
                 than {MAX_CONTENT_BYTES} bytes",
                text.len()
            ))))
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// `GET /os-documents`: the project's documents in creation order, paged by id.
fn index<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let pairs = query_pairs(req)?;
    validate_query(ctx, &INDEX_QUERY, &pairs)?;
    let (_, project) = ctx.identity()?;
    ctx.authorize_own(POLICY_INDEX)?;
    let services = ctx.services()?;
    let last = |name: &str| {
        pairs
            .as_slice()
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    };
    let requested = last("limit").map(|text| {
        text.trim_end_matches('\n')
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });
    let marker = last("marker");
    let limit = requested.map_or(services.max_limit, |r| r.min(services.max_limit));
    let links = Links::new(req, ctx);
    let item_links = links.for_collection(COLLECTION);
    let out = &mut resp.body;
    out.extend_from_slice(b"{\"documents\": [");
    let mut last_id = String::new();
    let returned = documents::list_each(
        &services.db,
        project,
        Some(u32::try_from(limit).unwrap_or(u32::MAX)),
        marker,
        |row| {
            if !last_id.is_empty() {
                out.extend_from_slice(b", ");
            }
            push_document(out, row, |out| item_links.push(out, row.id));
            last_id.clear();
            last_id.push_str(row.id);
        },
    )
    .map_err(|err| match err {
        DbError::MarkerNotFound => ApiError::MarkerNotFound(marker.unwrap_or_default().to_owned()),
        other => ApiError::from_db(other),
    })?;
    out.push(b']');
    if page_is_full(requested, services.max_limit, returned) {
        links.push_next(out, "documents", COLLECTION, req, &last_id);
    }
    out.push(b'}');
    resp.content_type = "application/json";
    Ok(())
}

/// `POST /os-documents`.
fn create<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let body = json_body(req)?;
    validate(ctx, &CREATE, body.as_ref())?;
    let (user, project) = ctx.identity()?;
    ctx.authorize_own(POLICY_CREATE)?;
    let fields = document(body.as_ref());
    let text = |key: &str| fields.and_then(|d| d.get(key)).and_then(|v| v.as_str());
    let (Some(name), Some(content)) = (text("name"), text("content")) else {
        // Only the relaxed `/v2` validation lets a body without them through.
        return Err(ApiError::Validation(Cow::Borrowed(
            "Invalid input for field/attribute document. 'name' and 'content' are required",
        )));
    };
    check_content(Some(content))?;
    let metadata = fields
        .and_then(|d| d.get("metadata"))
        .map_or_else(|| "{}".to_owned(), metadata_text);
    let services = ctx.services()?;
    let id = uuid4();
    let new = NewDocument {
        id: &id,
        project_id: project,
        user_id: user,
        name,
        content,
        metadata: &metadata,
    };
    let default_limit = services.quota_defaults.get(QUOTA_RESOURCE);
    documents::create_within_quota(&services.db, default_limit, &new, |row| {
        write_one(req, ctx, resp, row);
    })
    .map_err(|err| match err {
        DbError::OverQuota { .. } => {
            ApiError::OverQuota(Cow::Borrowed("Quota exceeded, too many documents."))
        }
        other => ApiError::from_db(other),
    })?;
    Ok(())
}

/// `GET /os-documents/{id}`.
fn show<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let (_, project) = ctx.identity()?;
    ctx.authorize_own(POLICY_SHOW)?;
    let id = params.get("id").unwrap_or_default();
    let db = &ctx.services()?.db;
    documents::get(db, project, id, |row| write_one(req, ctx, resp, row)).map_err(db_error(id))
}

/// `PUT /os-documents/{id}`: changes the fields given; metadata is replaced as a whole.
fn update<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let body = json_body(req)?;
    validate(ctx, &UPDATE, body.as_ref())?;
    let (_, project) = ctx.identity()?;
    ctx.authorize_own(POLICY_UPDATE)?;
    let fields = document(body.as_ref());
    let text = |key: &str| fields.and_then(|d| d.get(key)).and_then(|v| v.as_str());
    check_content(text("content"))?;
    let metadata = fields.and_then(|d| d.get("metadata")).map(metadata_text);
    let changes = DocumentChanges {
        name: text("name"),
        content: text("content"),
        metadata: metadata.as_deref(),
    };
    let id = params.get("id").unwrap_or_default();
    let db = &ctx.services()?.db;
    documents::update(db, project, id, &changes, |row| {
        write_one(req, ctx, resp, row);
    })
    .map_err(db_error(id))
}

/// `DELETE /os-documents/{id}`: 204.
fn delete<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let (_, project) = ctx.identity()?;
    ctx.authorize_own(POLICY_DELETE)?;
    let id = params.get("id").unwrap_or_default();
    documents::delete(&ctx.services()?.db, project, id).map_err(db_error(id))?;
    resp.status = 204;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_written_as_a_json_object() {
        let mut text = br#"{"a": "1", "q\"k": "v\\w"}"#.to_vec();
        let value = simd_json::to_borrowed_value(&mut text).unwrap();
        let mut written = metadata_text(&value).into_bytes();
        let again = simd_json::to_borrowed_value(&mut written).unwrap();
        assert_eq!(again["a"].as_str(), Some("1"));
        assert_eq!(again["q\"k"].as_str(), Some("v\\w"));
    }

    #[test]
    fn content_is_limited_in_bytes() {
        let at_limit = "é".repeat(MAX_CONTENT_BYTES / 2);
        assert!(check_content(Some(&at_limit)).is_ok());
        let over = "é".repeat(MAX_CONTENT_BYTES / 2 + 1);
        assert!(matches!(
            check_content(Some(&over)),
            Err(ApiError::Validation(_))
        ));
        assert!(check_content(None).is_ok());
    }
}
