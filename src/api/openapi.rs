//! The OpenAPI 3.0 document of the served compute API, served at `GET /openapi.json` on the
//! root app (no token, outside `/v2.1`) and written by `ringnova openapi`.
//!
//! Nova has no such endpoint; this one is ringnova's, for clients and fuzzers (the bounded
//! schemathesis run of `scripts/schemathesis.sh`). The paths are the compiled router's own
//! table ([`ApiRouter::table`]), so a new route appears without an edit here. Request bodies
//! and query parameters are translated from the very [`Schema`] values the handlers validate
//! with, as each handler applies them at [`MAX_API_VERSION`]; only the choice of which value a
//! route applies is listed here ([`validated`]). Every 4xx is declared with the Nova fault
//! body.
//!
//! Built once, off the request path: the first request renders it into a process-wide
//! constant that every later one shares. It must never copy a validation schema by hand and
//! never describe a route the router does not serve.
//!
//! # Example
//! ```
//! use ringnova::api::{openapi::json_schema, validation::parameter_types::VOLUME_SIZE};
//!
//! let schema = json_schema(&VOLUME_SIZE);
//! assert_eq!(schema["pattern"], "^[0-9]+$");
//! assert_eq!(schema["minimum"], 1);
//! assert_eq!(schema["anyOf"][0]["type"], "integer");
//! ```

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use super::{
    extensions, flavor_access, flavor_extra_specs, flavors, keypairs, limits,
    microversion::{MAX_API_VERSION, MIN_API_VERSION},
    quota_sets, server_actions, server_create, server_metadata, servers,
    validation::{Format, Keyword, Limit, Literal, Schema, Type},
    ActionHandler, ApiRouter,
};
use crate::{
    http::{response::SharedBody, Response},
    router::Method,
};

/// The path the root app serves the document at.
pub const PATH: &str = "/openapi.json";

/// The prefix every compute route is served under.
const API_ROOT: &str = "/v2.1";

/// Why the document could not be built.
#[derive(Debug)]
pub enum OpenApiError {
    /// The route table does not compile (a bug the server would refuse to start with too).
    Routes(super::RouterError),
    /// The document did not serialize.
    Json(serde_json::Error),
}

impl std::fmt::Display for OpenApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenApiError::Routes(err) => write!(f, "the route table does not compile: {err}"),
            OpenApiError::Json(err) => write!(f, "the document does not serialize: {err}"),
        }
    }
}

impl std::error::Error for OpenApiError {}

impl From<serde_json::Error> for OpenApiError {
    fn from(err: serde_json::Error) -> OpenApiError {
        OpenApiError::Json(err)
    }
}

/// What a route validates at [`MAX_API_VERSION`]: its body (one schema, or one per action
/// of an action route) and its query.
#[derive(Debug, Default)]
struct Validated {
    body: Option<Body>,
    query: Option<&'static Schema>,
}

/// A request body's schema.
#[derive(Debug)]
enum Body {
    /// One schema for the whole body.
    One(&'static Schema),
    /// `POST …/action`: a body of exactly one member naming an action; the actions with a
    /// schema of their own validate `{"<name>": <argument>}` with it, the others take any
    /// argument.
    Actions(
        &'static [(&'static str, ActionHandler)],
        fn(&str) -> Option<&'static Schema>,
    ),
}

/// The schema of each server action that has one, at [`MAX_API_VERSION`].
fn server_action_schema(name: &str) -> Option<&'static Schema> {
    match name {
        "reboot" => Some(&server_actions::REBOOT_SCHEMA),
        "resize" => Some(&server_actions::RESIZE_SCHEMA),
        "createImage" => Some(&server_actions::CREATE_IMAGE_SCHEMA),
        "rebuild" => Some(&server_actions::REBUILD_V257),
        _ => None,
    }
}

/// The schema of each flavor action.
fn flavor_action_schema(name: &str) -> Option<&'static Schema> {
    match name {
        "addTenantAccess" => Some(&flavor_access::ADD_TENANT_ACCESS),
        "removeTenantAccess" => Some(&flavor_access::REMOVE_TENANT_ACCESS),
        _ => None,
    }
}

/// The schemas a route's handler validates with at [`MAX_API_VERSION`] (the route as
/// declared, without the project segment). Routes not listed validate nothing by schema.
fn validated(method: Method, route: &str) -> Validated {
    let body = |schema| Validated {
        body: Some(Body::One(schema)),
        query: None,
    };
    let query = |schema| Validated {
        body: None,
        query: Some(schema),
    };
    match (method, route) {
        (Method::Get, "/flavors" | "/flavors/detail") => query(&flavors::INDEX_QUERY),
        (Method::Post, "/flavors") => body(&flavors::CREATE_V255),
        (Method::Put, "/flavors/{id}") => body(&flavors::UPDATE),
        (Method::Post, "/flavors/{id}/action") => Validated {
            body: Some(Body::Actions(flavor_access::ACTIONS, flavor_action_schema)),
            query: None,
        },
        (Method::Post, "/flavors/{flavor_id}/os-extra_specs") => body(&flavor_extra_specs::CREATE),
        (Method::Put, "/flavors/{flavor_id}/os-extra_specs/{id}") => {
            body(&flavor_extra_specs::UPDATE)
        }
        (Method::Get, "/os-keypairs") => query(&keypairs::INDEX_V235),
        (Method::Get | Method::Delete, "/os-keypairs/{id}") => query(&keypairs::QUERY_V210),
        (Method::Post, "/os-keypairs") => body(&keypairs::CREATE_V210),
        (Method::Get, "/limits") => query(&limits::QUERY),
        (Method::Get | Method::Delete, "/os-quota-sets/{id}" | "/os-quota-sets/{id}/detail") => {
            query(&quota_sets::QUERY)
        }
        (Method::Put, "/os-quota-sets/{id}") => Validated {
            body: Some(Body::One(&quota_sets::UPDATE_V257)),
            query: Some(&quota_sets::QUERY),
        },
        (Method::Get, "/servers" | "/servers/detail") => query(&servers::QUERY_SCHEMA),
        (Method::Get, "/os-documents") => query(&extensions::documents::INDEX_QUERY),
        (Method::Post, "/os-documents") => body(&extensions::documents::CREATE),
        (Method::Put, "/os-documents/{id}") => body(&extensions::documents::UPDATE),
        (Method::Post, "/servers") => body(&server_create::CREATE_V257),
        (Method::Put, "/servers/{id}") => body(&servers::UPDATE_V219),
        (Method::Post, "/servers/{id}/action") => Validated {
            body: Some(Body::Actions(server_actions::ACTIONS, server_action_schema)),
            query: None,
        },
        (Method::Post | Method::Put, "/servers/{server_id}/metadata") => {
            body(&server_metadata::CREATE)
        }
        (Method::Put, "/servers/{server_id}/metadata/{id}") => body(&server_metadata::UPDATE),
        _ => Validated::default(),
    }
}

/// The document, rendered once per process.
pub fn document_bytes() -> Result<&'static [u8], &'static OpenApiError> {
    static DOCUMENT: OnceLock<Result<Vec<u8>, OpenApiError>> = OnceLock::new();
    DOCUMENT
        .get_or_init(|| {
            let router = ApiRouter::new().map_err(OpenApiError::Routes)?;
            let mut text = serde_json::to_vec_pretty(&document(&router))?;
            text.push(b'\n');
            Ok(text)
        })
        .as_ref()
        .map(Vec::as_slice)
}

/// `GET /openapi.json` on the root app: the document, or a 500 fault if it cannot be built.
pub fn serve(resp: &mut Response) {
    match document_bytes() {
        Ok(bytes) => {
            resp.status = 200;
            resp.content_type = "application/json";
            resp.shared_body = Some(SharedBody::Static(bytes));
        }
        Err(err) => {
            log::error!("GET {PATH}: {err}");
            super::fault::Fault::internal().write(resp);
        }
    }
}

/// The document for the routes `router` serves.
pub fn document(router: &ApiRouter) -> Value {
    let mut paths = Map::new();
    for (method, pattern) in router.compiled_routes() {
        let path = format!("{API_ROOT}{}", openapi_path(pattern));
        let entry = paths
            .entry(path)
            .or_insert_with(|| json!({"parameters": path_parameters(pattern)}));
        let route = pattern.strip_prefix("/{project_id:hex}").unwrap_or(pattern);
        entry[method.as_str().to_ascii_lowercase()] = operation(method, pattern, route);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "ringnova compute API",
            "version": format!("{MAX_API_VERSION}"),
            "description": format!(
                "The OpenStack Compute (Nova) API as ringnova serves it, microversions \
                 {MIN_API_VERSION} to {MAX_API_VERSION}. Request schemas are those of \
                 microversion {MAX_API_VERSION}; ask for it with `OpenStack-API-Version: \
                 compute {MAX_API_VERSION}`. Every route is also served under \
                 `/v2.1/{{project_id}}`. This document is ringnova's own: Nova serves none."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"token": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Auth-Token",
                    "description": "A Keystone token, or `user:project` under noauth2.",
                },
            },
            "parameters": {
                "microversion": {
                    "name": "OpenStack-API-Version",
                    "in": "header",
                    "required": false,
                    "description": format!(
                        "`compute X.Y` ({MIN_API_VERSION} to {MAX_API_VERSION}) or `compute \
                         latest`; without it, {MIN_API_VERSION}."
                    ),
                    "schema": {
                        "type": "string",
                        "pattern": "^compute (latest|[1-9][0-9]*\\.(0|[1-9][0-9]*))$",
                    },
                    "example": format!("compute {MAX_API_VERSION}"),
                },
            },
            "schemas": {"Fault": fault_schema()},
            "responses": {
                "Fault": {
                    "description": "A Nova fault: one member named for the status \
                                    (`badRequest`, `itemNotFound`, …).",
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Fault"},
                    }},
                },
            },
        },
    })
}

/// `{"<faultName>": {"code": N, "message": "..."}}`.
fn fault_schema() -> Value {
    json!({
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "integer", "minimum": 400, "maximum": 599},
                "message": {"type": "string"},
                "retryAfter": {"type": "string"},
            },
        },
    })
}

/// A router pattern as an OpenAPI path: `{project_id:hex}` → `{project_id}`.
fn openapi_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| match segment.split_once(':') {
            Some((name, _)) if segment.starts_with('{') => format!("{name}}}"),
            _ => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The `{param}`s of a pattern as path parameters.
fn path_parameters(pattern: &str) -> Value {
    let params: Vec<Value> = pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|param| {
            let (name, kind) = param.split_once(':').unwrap_or((param, ""));
            let schema = if kind == "hex" {
                json!({"type": "string", "pattern": "^[0-9a-f-]+$"})
            } else {
                json!({"type": "string", "minLength": 1})
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect();
    Value::Array(params)
}

/// One operation.
fn operation(method: Method, pattern: &str, route: &str) -> Value {
    let validated = validated(method, route);
    let mut parameters = vec![json!({"$ref": "#/components/parameters/microversion"})];
    if let Some(query) = validated.query {
        parameters.extend(query_parameters(query));
    }
    let id: String = format!("{}{}", method.as_str().to_ascii_lowercase(), pattern)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut op = json!({
        "operationId": id,
        "parameters": parameters,
        "responses": {
            "2XX": {"description": "Success."},
            "4XX": {"$ref": "#/components/responses/Fault"},
        },
    });
    if let Some(body) = validated.body {
        let schema = match body {
            Body::One(schema) => json_schema(schema),
            Body::Actions(actions, schema_of) => json!({
                "oneOf": actions
                    .iter()
                    .map(|(name, _)| match schema_of(name) {
                        Some(schema) => json_schema(schema),
                        None => json!({
                            "type": "object",
                            "properties": {*name: {"nullable": true}},
                            "required": [name],
                            "additionalProperties": false,
                        }),
                    })
                    .collect::<Vec<_>>(),
            }),
        };
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": schema}},
        });
    }
    op
}

/// A query schema (an object of `multi_params` arrays) as query parameters.
fn query_parameters(schema: &Schema) -> Vec<Value> {
    let mut required: &[&str] = &[];
    let mut out = Vec::new();
    for keyword in schema.keywords() {
        match keyword {
            Keyword::Required(names) => required = names,
            Keyword::Properties(members) => {
                for (name, member) in *members {
                    out.push(json!({
                        "name": name,
                        "in": "query",
                        "style": "form",
                        "explode": true,
                        "schema": json_schema(member),
                    }));
                }
            }
            _ => {}
        }
    }
    for param in &mut out {
        let name = param["name"].as_str().unwrap_or_default();
        param["required"] = Value::Bool(required.contains(&name));
    }
    out
}

/// A validation schema as an OpenAPI 3.0 Schema Object. Keywords run in order in the
/// validator; here they are members of one object, and a keyword whose member is already
/// taken (two bounds of one kind) goes into an `allOf` beside it.
pub fn json_schema(schema: &Schema) -> Value {
    let mut out = Map::new();
    let mut all_of = Vec::new();
    let patterns = schema
        .keywords()
        .iter()
        .any(|k| matches!(k, Keyword::PatternProperties(_)));
    for keyword in schema.keywords() {
        // Beside `patternProperties` (written as `additionalProperties`, see
        // `keyword_members`), `additionalProperties: false` is already said; `true` opens it.
        if patterns {
            if let Keyword::AdditionalProperties(allowed) = keyword {
                if *allowed {
                    out.insert("additionalProperties".into(), json!(true));
                }
                continue;
            }
        }
        let members = keyword_members(keyword);
        // A keyword's members stay together: `exclusiveMinimum: true` belongs to its own
        // `minimum`.
        if members.iter().any(|(key, _)| out.contains_key(*key)) {
            let group: Map<String, Value> = members
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect();
            all_of.push(Value::Object(group));
        } else {
            for (key, value) in members {
                out.insert(key.to_owned(), value);
            }
        }
    }
    if !all_of.is_empty() {
        let mut existing = match out.remove("allOf") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        existing.extend(all_of);
        out.insert("allOf".into(), Value::Array(existing));
    }
    Value::Object(out)
}

/// The Schema Object members one keyword becomes.
fn keyword_members(keyword: &Keyword) -> Vec<(&'static str, Value)> {
    match keyword {
        Keyword::Type(types) => type_members(types),
        Keyword::Enum(literals) => vec![("enum", literals.iter().map(literal).collect())],
        Keyword::Properties(members) => {
            let properties: Map<String, Value> = members
                .iter()
                .map(|(name, schema)| ((*name).to_owned(), json_schema(schema)))
                .collect();
            vec![("properties", Value::Object(properties))]
        }
        // OpenAPI 3.0 has no `patternProperties`: members under a pattern are described as
        // `additionalProperties` with the key patterns alongside as an extension.
        Keyword::PatternProperties(patterns) => {
            let values: Vec<Value> = patterns.iter().map(|(_, s)| json_schema(s)).collect();
            let keys: Vec<Value> = patterns.iter().map(|(p, _)| json!(p.regex())).collect();
            let value = match <[Value; 1]>::try_from(values) {
                Ok([one]) => one,
                Err(many) => json!({"anyOf": many}),
            };
            vec![
                ("additionalProperties", value),
                ("x-key-patterns", Value::Array(keys)),
            ]
        }
        Keyword::Required([]) => Vec::new(),
        Keyword::Required(names) => vec![("required", json!(names))],
        Keyword::AdditionalProperties(allowed) => vec![("additionalProperties", json!(allowed))],
        Keyword::MinProperties(n) => vec![("minProperties", json!(n))],
        Keyword::MaxProperties(n) => vec![("maxProperties", json!(n))],
        Keyword::Items(schema) => vec![("items", json_schema(schema))],
        Keyword::MinItems(n) => vec![("minItems", json!(n))],
        Keyword::MaxItems(n) => vec![("maxItems", json!(n))],
        Keyword::MinLength(n) => vec![("minLength", json!(n))],
        Keyword::MaxLength(n) => vec![("maxLength", json!(n))],
        Keyword::Pattern(pattern) => vec![("pattern", json!(pattern.regex()))],
        Keyword::Format(Format::Uuid) => vec![("format", json!("uuid"))],
        // Nova's own formats: no OpenAPI tool knows them, so they stay an extension.
        Keyword::Format(Format::Name) => vec![("x-nova-format", json!("name"))],
        Keyword::Format(Format::NameWithLeadingTrailingSpaces) => {
            vec![("x-nova-format", json!("name_with_leading_trailing_spaces"))]
        }
        Keyword::Minimum(limit) => vec![("minimum", number(*limit))],
        Keyword::Maximum(limit) => vec![("maximum", number(*limit))],
        Keyword::ExclusiveMinimum(limit) => vec![
            ("minimum", number(*limit)),
            ("exclusiveMinimum", json!(true)),
        ],
        Keyword::ExclusiveMaximum(limit) => vec![
            ("maximum", number(*limit)),
            ("exclusiveMaximum", json!(true)),
        ],
        Keyword::AllOf(schemas) => vec![("allOf", schemas.iter().map(json_schema).collect())],
    }
}

/// `type`: OpenAPI 3.0 takes one type; `null` is `nullable`, and several types are an
/// `anyOf` of one each.
fn type_members(types: &[Type]) -> Vec<(&'static str, Value)> {
    let nullable = types.contains(&Type::Null);
    let named: Vec<&str> = types
        .iter()
        .filter(|t| **t != Type::Null)
        .map(|t| t.name())
        .collect();
    let mut out = match named.as_slice() {
        [] => vec![("enum", json!([null]))],
        [one] => vec![("type", json!(one))],
        many => vec![(
            "anyOf",
            many.iter().map(|t| json!({"type": t})).collect::<Value>(),
        )],
    };
    if nullable && !named.is_empty() {
        out.push(("nullable", json!(true)));
    }
    out
}

fn literal(value: &Literal) -> Value {
    match value {
        Literal::Str(text) => json!(text),
        Literal::Bool(b) => json!(b),
        Literal::Int(n) => json!(n),
        Literal::Null => Value::Null,
    }
}

fn number(limit: Limit) -> Value {
    match limit {
        Limit::Int(n) => json!(n),
        Limit::Float(x) => json!(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::validation::parameter_types;

    #[test]
    fn the_schema_table_is_for_the_served_maximum() {
        // `validated` names the schemas each handler applies at 2.60; a new maximum must
        // revisit it.
        assert_eq!(MAX_API_VERSION.to_string(), "2.60");
    }

    #[test]
    fn translates_keywords() {
        assert_eq!(
            json_schema(&parameter_types::DESCRIPTION)["nullable"],
            json!(true)
        );
        let size = json_schema(&parameter_types::VOLUME_SIZE);
        assert_eq!(
            size["anyOf"],
            json!([{"type": "integer"}, {"type": "string"}])
        );
        assert_eq!(size["pattern"], "^[0-9]+$");
        assert_eq!(size["maximum"], 2_147_483_647);
        let metadata = json_schema(&parameter_types::METADATA);
        assert_eq!(metadata["additionalProperties"]["maxLength"], 255);
        assert_eq!(
            metadata["x-key-patterns"],
            json!(["^[a-zA-Z0-9-_:. ]{1,255}$"])
        );
        let rxtx = json_schema(&flavors::RXTX_FACTOR);
        assert_eq!(rxtx["exclusiveMinimum"], true);
        let boolean = json_schema(&parameter_types::BOOLEAN);
        assert_eq!(boolean["enum"].as_array().map(Vec::len), Some(22));
    }

    #[test]
    fn paths_come_from_the_router() {
        let router = ApiRouter::new().unwrap();
        let doc = document(&router);
        let paths = doc["paths"].as_object().unwrap();
        let mut operations = 0;
        for (method, pattern) in router.compiled_routes() {
            let path = format!("{API_ROOT}{}", openapi_path(pattern));
            let op = &paths[&path][method.as_str().to_ascii_lowercase()];
            assert!(op.is_object(), "{method} {path}");
            operations += 1;
        }
        let documented: usize = paths
            .values()
            .map(|p| p.as_object().unwrap().len() - 1)
            .sum();
        assert_eq!(documented, operations);
        let create = &paths["/v2.1/{project_id}/flavors"]["post"];
        assert_eq!(
            create["requestBody"]["content"]["application/json"]["schema"],
            json_schema(&flavors::CREATE_V255)
        );
        let actions = &paths["/v2.1/servers/{id}/action"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"]["oneOf"];
        assert_eq!(
            actions.as_array().map(Vec::len),
            Some(server_actions::ACTIONS.len())
        );
        assert_eq!(
            paths["/v2.1/{project_id}/servers"]["parameters"][0]["schema"]["pattern"],
            "^[0-9a-f-]+$"
        );
    }

    #[test]
    fn renders_once() {
        let first = document_bytes().unwrap();
        let again = document_bytes().unwrap();
        assert!(std::ptr::eq(first, again));
        let value: Value = serde_json::from_slice(first).unwrap();
        assert_eq!(value["openapi"], "3.0.3");
    }
}
