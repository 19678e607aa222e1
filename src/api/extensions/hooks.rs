//! Running one extended route: a route an extension added, or a core route some controller
//! extension wraps (Nova's `Resource._process_stack` with its pre- and post-processing).
//!
//! Core worker, per request, only for routes the router marked as extended. The order:
//!
//! ```text
//! before hooks, in registration order ── an Err answers with its fault, nothing else runs
//!   └─ an extension action named by the body's key, else the controller method
//!        └─ after hooks, in reverse registration order, on the parsed response body
//!             (skipped when the method failed; an Err answers with its fault)
//! ```
//!
//! A before hook reads the request and may change the context and the body bytes in place; an
//! after hook reads the request and changes the response's status and JSON body, which is
//! parsed once before the first after hook and written once after the last. It must never
//! be reached by a core route that no extension touches.

use simd_json::{prelude::*, OwnedValue, StaticNode};

use super::Extensions;
use crate::{
    api::{
        context::{Request, RequestContext},
        dispatch_action,
        error::ApiError,
        json, ActionHandler, Handler,
    },
    http::Response,
    router::Params,
};

/// Runs before a controller method; an `Err` short-circuits with its fault.
pub type BeforeHook =
    for<'a, 'r> fn(&Request<'a>, &mut RequestContext<'a>, &Params<'r, 'a>) -> Result<(), ApiError>;

/// Runs after a controller method succeeded, on its response; an `Err` short-circuits with
/// its fault.
pub type AfterHook = for<'a, 'r> fn(
    &Request<'a>,
    &RequestContext<'a>,
    &Params<'r, 'a>,
    &mut ResponseObject,
) -> Result<(), ApiError>;

/// A response as after hooks see it (Nova's `ResponseObject`): status and parsed body.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseObject {
    /// The status the method answered with.
    pub status: u16,
    /// The JSON body (`null` when the method wrote none).
    pub body: OwnedValue,
}

/// What the router runs for an extended route.
#[derive(Debug, Clone)]
pub struct ExtendedRoute {
    /// The controller method (for an `…/action` route made only of extension actions, one
    /// that answers "There is no such action").
    pub handler: Handler,
    /// Extension actions of an `…/action` route.
    pub actions: Vec<(&'static str, ActionHandler)>,
    /// Pre-processing, in registration order.
    pub before: Vec<BeforeHook>,
    /// Post-processing, in registration order (run in reverse).
    pub after: Vec<AfterHook>,
}

impl ExtendedRoute {
    /// An extended route around `handler`, with no hooks or actions yet.
    pub fn default_for(handler: Handler) -> ExtendedRoute {
        ExtendedRoute {
            handler,
            actions: Vec::new(),
            before: Vec::new(),
            after: Vec::new(),
        }
    }

    /// Runs the route: hooks, action or method. `extensions` is made visible to the handler
    /// through [`RequestContext::extensions`].
    pub fn call<'a>(
        &self,
        extensions: &'static Extensions,
        req: &Request<'a>,
        ctx: &mut RequestContext<'a>,
        params: &Params<'_, 'a>,
        resp: &mut Response,
    ) -> Result<(), ApiError> {
        ctx.extensions = Some(extensions);
        for hook in self.before.as_slice() {
            hook(req, ctx, params)?;
        }
        let extension_action =
            !self.actions.is_empty() && action_name(req).is_some_and(|name| self.has_action(&name));
        if extension_action {
            dispatch_action(req, ctx, params, resp, &self.actions)?;
        } else {
            (self.handler)(req, ctx, params, resp)?;
        }
        if self.after.is_empty() {
            return Ok(());
        }
        let mut object = ResponseObject {
            status: resp.status,
            body: parse_body(resp)?,
        };
        for hook in self.after.as_slice().iter().rev() {
            hook(req, ctx, params, &mut object)?;
        }
        resp.status = object.status;
        resp.body.clear();
        if !object.body.is_null() {
            write_value(&mut resp.body, &object.body);
            resp.content_type = "application/json";
        }
        Ok(())
    }

    fn has_action(&self, name: &str) -> bool {
        self.actions.iter().any(|(known, _)| *known == name)
    }
}

/// The single key of an action body, read from a copy so that the body stays intact for the
/// handler that parses it; `None` when the body is not a one-key JSON object.
fn action_name(req: &Request<'_>) -> Option<String> {
    let body = req.body.take()?;
    let mut copy = body.to_vec();
    req.body.set(Some(body));
    let value = simd_json::to_borrowed_value(&mut copy).ok()?;
    let object = value.as_object()?;
    let mut keys = object.keys();
    match (keys.next(), keys.next()) {
        (Some(key), None) => Some(key.to_string()),
        _ => None,
    }
}

/// Takes the response body (a shared, pre-rendered one included) as JSON (`null` when empty).
/// A body that is not JSON cannot be given to after hooks: a 500.
fn parse_body(resp: &mut Response) -> Result<OwnedValue, ApiError> {
    let mut bytes = match resp.shared_body.take() {
        Some(shared) => shared.bytes().to_vec(),
        None => std::mem::take(&mut resp.body),
    };
    if bytes.is_empty() {
        return Ok(OwnedValue::null());
    }
    simd_json::to_owned_value(&mut bytes)
        .map_err(|err| ApiError::Internal(format!("after hook on a non-JSON body: {err}")))
}

/// Writes `value` in Nova's `json.dumps` layout (`", "` and `": "` separators).
pub fn write_value(out: &mut Vec<u8>, value: &OwnedValue) {
    match value {
        OwnedValue::Static(node) => match node {
            StaticNode::Null => out.extend_from_slice(b"null"),
            StaticNode::Bool(true) => out.extend_from_slice(b"true"),
            StaticNode::Bool(false) => out.extend_from_slice(b"false"),
            StaticNode::I64(n) => out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
            StaticNode::U64(n) => out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
            // `{:?}` keeps the fraction of a whole float (`1.0`), as Python's json does.
            StaticNode::F64(f) if f.is_finite() => {
                out.extend_from_slice(format!("{f:?}").as_bytes())
            }
            StaticNode::F64(_) => out.extend_from_slice(b"null"),
        },
        OwnedValue::String(text) => json::push_str(out, text),
        OwnedValue::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        OwnedValue::Object(members) => {
            out.push(b'{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                json::push_str(out, key);
                out.extend_from_slice(b": ");
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_as_nova_does() {
        let mut text = br#"{"a": [1, 2.5, true, null], "b": {"c": "d\"e"}}"#.to_vec();
        let value = simd_json::to_owned_value(&mut text).unwrap();
        let mut out = Vec::new();
        write_value(&mut out, &value);
        let mut again = out.clone();
        assert_eq!(simd_json::to_owned_value(&mut again).unwrap(), value);
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("\"b\": {\"c\": \"d\\\"e\"}"));
    }
}
