//! Flavor extra specs (SPEC §4.2): Nova's `FlavorExtraSpecsController` under
//! `/flavors/{flavor_id}/os-extra_specs[/{id}]`.
//!
//! Core worker, innermost layer. Order of checks, as in Nova: body schema, policy
//! (`os_compute_api:os-flavor-extra-specs:*`), the value-length check for numbers, the
//! body/URI match (update), then the flavor lookup with the requester's visibility (404).
//! Values may be strings or numbers; numbers are stored as Python's `str()` of them, and
//! create/update echo the request body as sent (numbers stay numbers), as Nova does.
//!
//! Up to 2.60 no extra-spec validation beyond the schema applies (the validator registry is
//! 2.86). It must never change specs of a flavor the requester cannot see, and never send
//! anything but Nova's fault texts. No `unsafe`.

use std::borrow::Cow;

use simd_json::{
    prelude::{ValueAsObject, ValueAsScalar},
    BorrowedValue, StaticNode,
};

use super::{
    context::{Request, RequestContext},
    error::ApiError,
    flavors::{
        empty_target, get_flavor, project_target, push_int, push_py_float, py_number_text,
        EMPTY_BODY_TYPE, JSON,
    },
    json, json_body, query_pairs, validate,
    validation::{Keyword, Pattern, Schema, Type},
    Route,
};
use crate::{
    db::{flavors as db_flavors, DbError},
    http::Response,
    route,
    router::{Method, Params},
};

/// The routes of `FlavorExtraSpecsController`.
pub const ROUTES: &[Route] = &[
    route!(Method::Get, "/flavors/{flavor_id}/os-extra_specs", index),
    route!(Method::Post, "/flavors/{flavor_id}/os-extra_specs", create),
    route!(
        Method::Get,
        "/flavors/{flavor_id}/os-extra_specs/{id}",
        show
    ),
    route!(
        Method::Put,
        "/flavors/{flavor_id}/os-extra_specs/{id}",
        update
    ),
    route!(
        Method::Delete,
        "/flavors/{flavor_id}/os-extra_specs/{id}",
        delete
    ),
];

const INDEX_RULE: &str = "os_compute_api:os-flavor-extra-specs:index";
const SHOW_RULE: &str = "os_compute_api:os-flavor-extra-specs:show";
const CREATE_RULE: &str = "os_compute_api:os-flavor-extra-specs:create";
const UPDATE_RULE: &str = "os_compute_api:os-flavor-extra-specs:update";
const DELETE_RULE: &str = "os_compute_api:os-flavor-extra-specs:delete";

/// The longest value, also for the text of a number.
const MAX_VALUE_LENGTH: usize = 255;

/// One spec: a key of `[a-zA-Z0-9-_:. ]{1,255}` and a string (≤ 255) or number value.
const SPEC: (Pattern, Schema) = (
    Pattern::METADATA_KEY,
    Schema::new(&[
        Keyword::Type(&[Type::String, Type::Number]),
        Keyword::MaxLength(MAX_VALUE_LENGTH),
    ]),
);

/// `create`: `{"extra_specs": {<key>: <value>, …}}`.
pub(crate) const CREATE: Schema = Schema::new(&[
    Keyword::Type(&[Type::Object]),
    Keyword::Properties(&[(
        "extra_specs",
        Schema::new(&[
            Keyword::Type(&[Type::Object]),
            Keyword::PatternProperties(&[SPEC]),
            Keyword::AdditionalProperties(false),
        ]),
    )]),
    Keyword::Required(&["extra_specs"]),
    Keyword::AdditionalProperties(false),
]);

/// `update`: exactly one spec, `{<key>: <value>}`.
pub(crate) const UPDATE: Schema = Schema::new(&[
    Keyword::Type(&[Type::Object]),
    Keyword::PatternProperties(&[SPEC]),
    Keyword::AdditionalProperties(false),
    Keyword::MinProperties(1),
    Keyword::MaxProperties(1),
]);

/// Nova's 404 for a key the flavor does not have.
fn no_such_key(flavor_id: &str, key: &str) -> ApiError {
    ApiError::NotFound(Cow::Owned(format!(
        "Flavor {flavor_id} has no extra specs with key {key}."
    )))
}

/// The specs of an object body in Python's dict order: each key once, at its first place,
/// with its last value.
fn specs<'v, 'a>(object: &'v BorrowedValue<'a>) -> Vec<(&'v str, &'v BorrowedValue<'a>)> {
    let mut out: Vec<(&str, &BorrowedValue<'a>)> = Vec::new();
    if let Some(members) = object.as_object() {
        for (key, value) in members.iter() {
            match out.iter_mut().find(|(known, _)| *known == key.as_ref()) {
                Some(entry) => entry.1 = value,
                None => out.push((key.as_ref(), value)),
            }
        }
    }
    out
}

/// The text a value is stored as: the string itself, or Python's `str()` of a number.
fn stored_text<'v>(value: &'v BorrowedValue<'_>) -> Cow<'v, str> {
    match value.as_str() {
        Some(text) => Cow::Borrowed(text),
        None => Cow::Owned(py_number_text(value).unwrap_or_default()),
    }
}

/// `_check_extra_specs_value`: the text of a number may not exceed 255 characters.
fn check_values(specs: &[(&str, &BorrowedValue<'_>)]) -> Result<(), ApiError> {
    for (_, value) in specs {
        if value.as_str().is_none() {
            let length = stored_text(value).chars().count();
            if length > MAX_VALUE_LENGTH {
                return Err(ApiError::Invalid(Cow::Owned(format!(
                    "extra_specs value has {length} characters, more than {MAX_VALUE_LENGTH}."
                ))));
            }
        }
    }
    Ok(())
}

/// Appends `{<key>: <value>, …}` as Nova echoes a body: strings as strings, numbers as
/// Python's `json` writes them.
fn push_echo(out: &mut Vec<u8>, specs: &[(&str, &BorrowedValue<'_>)]) {
    out.push(b'{');
    for (i, (key, value)) in specs.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        json::push_str(out, key);
        out.extend_from_slice(b": ");
        match value {
            BorrowedValue::String(text) => json::push_str(out, text),
            BorrowedValue::Static(StaticNode::I64(n)) => push_int(out, *n),
            BorrowedValue::Static(StaticNode::U64(n)) => {
                out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes())
            }
            BorrowedValue::Static(StaticNode::F64(f)) => push_py_float(out, *f, true),
            // The schema admits strings and numbers only.
            _ => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
}

/// Stores `specs` on the flavor (merged into what it has).
fn store(
    ctx: &RequestContext<'_>,
    flavor_id: &str,
    specs: &[(&str, &BorrowedValue<'_>)],
) -> Result<(), ApiError> {
    let flavor = get_flavor(ctx, flavor_id)?;
    let texts: Vec<Cow<'_, str>> = specs.iter().map(|(_, value)| stored_text(value)).collect();
    let pairs: Vec<(&str, &str)> = specs
        .iter()
        .zip(&texts)
        .map(|((key, _), text)| (*key, text.as_ref()))
        .collect();
    let services = ctx.services()?;
    db_flavors::set_extra_specs(&services.db, flavor.id, &pairs).map_err(ApiError::from_db)
}

/// `GET /flavors/{flavor_id}/os-extra_specs`.
fn index(
    req: &Request<'_>,
    ctx: &mut RequestContext<'_>,
    params: &Params<'_, '_>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    query_pairs(req)?;
    ctx.authorize(INDEX_RULE, &project_target(ctx))?;
    let flavor_id = params.get("flavor_id").unwrap_or_default();
    let flavor = get_flavor(ctx, flavor_id)?;
    let services = ctx.services()?;
    resp.content_type = JSON;
    let out = &mut resp.body;
    out.extend_from_slice(b"{\"extra_specs\": {");
    let mut first = true;
    db_flavors::each_extra_spec(&services.db, flavor.id, |key, value| {
        if !first {
            out.extend_from_slice(b", ");
        }
        first = false;
        json::push_str(out, key);
        out.extend_from_slice(b": ");
        json::push_str(out, value);
    })?;
    out.extend_from_slice(b"}}");
    Ok(())
}

/// `POST /flavors/{flavor_id}/os-extra_specs`: merges the specs, echoes the body.
fn create(
    req: &Request<'_>,
    ctx: &mut RequestContext<'_>,
    params: &Params<'_, '_>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let body = json_body(req)?;
    validate(ctx, &CREATE, body.as_ref())?;
    ctx.authorize(CREATE_RULE, &empty_target())?;
    let extra_specs = body
        .as_ref()
        .and_then(|body| super::flavors::member(body, "extra_specs"))
        .ok_or(ApiError::MalformedBody)?;
    let specs = specs(extra_specs);
    check_values(&specs)?;
    store(ctx, params.get("flavor_id").unwrap_or_default(), &specs)?;
    resp.content_type = JSON;
    resp.body.extend_from_slice(b"{\"extra_specs\": ");
    push_echo(&mut resp.body, &specs);
    resp.body.push(b'}');
    Ok(())
}

/// `GET /flavors/{flavor_id}/os-extra_specs/{id}`: `{<key>: <value>}`.
fn show(
    req: &Request<'_>,
    ctx: &mut RequestContext<'_>,
    params: &Params<'_, '_>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    query_pairs(req)?;
    ctx.authorize(SHOW_RULE, &project_target(ctx))?;
    let flavor_id = params.get("flavor_id").unwrap_or_default();
    let key = params.get("id").unwrap_or_default();
    let flavor = get_flavor(ctx, flavor_id)?;
    let services = ctx.services()?;
    let value = db_flavors::extra_spec(&services.db, flavor.id, key).map_err(|err| match err {
        DbError::NotFound => no_such_key(flavor_id, key),
        other => ApiError::from_db(other),
    })?;
    resp.content_type = JSON;
    resp.body.push(b'{');
    json::push_str(&mut resp.body, key);
    resp.body.extend_from_slice(b": ");
    json::push_str(&mut resp.body, &value);
    resp.body.push(b'}');
    Ok(())
}

/// `PUT /flavors/{flavor_id}/os-extra_specs/{id}`: sets one spec, echoes the body.
fn update(
    req: &Request<'_>,
    ctx: &mut RequestContext<'_>,
    params: &Params<'_, '_>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let body = json_body(req)?;
    validate(ctx, &UPDATE, body.as_ref())?;
    ctx.authorize(UPDATE_RULE, &empty_target())?;
    let body = body.ok_or(ApiError::MalformedBody)?;
    let specs = specs(&body);
    check_values(&specs)?;
    let key = params.get("id").unwrap_or_default();
    if !specs.iter().any(|(name, _)| *name == key) {
        return Err(ApiError::Invalid(Cow::Borrowed(
            "Request body and URI mismatch",
        )));
    }
    store(ctx, params.get("flavor_id").unwrap_or_default(), &specs)?;
    resp.content_type = JSON;
    push_echo(&mut resp.body, &specs);
    Ok(())
}

/// `DELETE /flavors/{flavor_id}/os-extra_specs/{id}`: 200, no body.
fn delete(
    _req: &Request<'_>,
    ctx: &mut RequestContext<'_>,
    params: &Params<'_, '_>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    ctx.authorize(DELETE_RULE, &empty_target())?;
    let flavor_id = params.get("flavor_id").unwrap_or_default();
    let key = params.get("id").unwrap_or_default();
    let flavor = get_flavor(ctx, flavor_id)?;
    let services = ctx.services()?;
    db_flavors::delete_extra_spec(&services.db, flavor.id, key).map_err(|err| match err {
        DbError::NotFound => no_such_key(flavor_id, key),
        other => ApiError::from_db(other),
    })?;
    resp.content_type = EMPTY_BODY_TYPE;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> BorrowedValue<'static> {
        let bytes: &'static mut [u8] = Box::leak(text.as_bytes().to_vec().into_boxed_slice());
        simd_json::to_borrowed_value(bytes).unwrap()
    }

    #[test]
    fn echo_keeps_numbers_and_python_dict_order() {
        let body = parse(r#"{"b": 1, "a": "x", "b": 2.50, "c": 1e3, "d": -4}"#);
        let specs = specs(&body);
        let mut out = Vec::new();
        push_echo(&mut out, &specs);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"b": 2.5, "a": "x", "c": 1000.0, "d": -4}"#
        );
        let stored: Vec<_> = specs.iter().map(|(_, v)| stored_text(v)).collect();
        assert_eq!(stored, ["2.5", "x", "1000.0", "-4"]);
        assert!(check_values(&specs).is_ok());
    }

    #[test]
    fn schemas_follow_nova() {
        let check = |schema: &Schema, text: &str| {
            super::super::validation::validate_body(schema, &parse(text), false)
                .err()
                .map(|fault| fault.message.into_owned())
        };
        assert_eq!(
            check(
                &CREATE,
                r#"{"extra_specs": {"hw:cpu_policy": "shared", "n": 1.5}}"#
            ),
            None
        );
        assert_eq!(
            check(&CREATE, r#"{"extra_specs": {"a": true}}"#).as_deref(),
            Some("Invalid input for field/attribute a. Value: True. True is not of type 'string', 'number'")
        );
        assert_eq!(
            check(&CREATE, r#"{"extra_specs": {"bad/key": "1"}}"#).as_deref(),
            Some("Invalid input for field/attribute extra_specs. Value: {'bad/key': '1'}. 'bad/key' does not match any of the regexes: '^[a-zA-Z0-9-_:. ]{1,255}$'")
        );
        assert_eq!(
            check(&CREATE, r#"{}"#).as_deref(),
            Some("'extra_specs' is a required property")
        );
        assert_eq!(
            check(&UPDATE, r#"{"a": "1", "b": "2"}"#).as_deref(),
            Some("{'a': '1', 'b': '2'} has too many properties")
        );
        assert_eq!(
            check(&UPDATE, r#"{}"#).as_deref(),
            Some("{} should be non-empty")
        );
    }
}
