//! The extension framework end to end inside one process: descriptors loaded, their routes
//! compiled into the API router with the core routes, requests dispatched through hooks and
//! extension actions. Handlers here need no database, so requests are made in memory.

use simd_json::{prelude::*, OwnedValue};

use super::{
    flavor_total_disk::FlavorTotalDisk, load, Controller, ControllerExtension, CustomRoutes,
    Extension, MethodName, Parent, ResourceExtension, ResponseObject,
};
use crate::{
    api::{
        context::{Request, RequestContext},
        error::ApiError,
        ApiRouter,
    },
    config::ExtensionSelection,
    http::{Head, Response},
    router::{Method, Params},
};

/// Declares a descriptor type with fixed identity fields.
macro_rules! descriptor {
    ($ty:ident, $alias:literal, resources: $res:expr, controllers: $ctl:expr) => {
        struct $ty;
        impl Extension for $ty {
            fn name(&self) -> &'static str {
                stringify!($ty)
            }
            fn alias(&self) -> &'static str {
                $alias
            }
            fn namespace(&self) -> &'static str {
                "http://example.com/ext"
            }
            fn updated(&self) -> &'static str {
                "2026-11-30T00:00:00Z"
            }
            fn description(&self) -> &'static str {
                "A test extension."
            }
            fn resources(&self) -> Vec<ResourceExtension> {
                $res
            }
            fn controller_extensions(&self) -> Vec<ControllerExtension> {
                $ctl
            }
        }
    };
}

/// Writes `{"<what>": "<path id or ->", "body": "<request body>"}`.
fn echo<'a>(
    what: &'static str,
    req: &Request<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let body = req
        .take_body()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let id = params.get("id").unwrap_or("-");
    let text = OwnedValue::from(vec![
        OwnedValue::from(what),
        OwnedValue::from(id),
        OwnedValue::from(body),
    ]);
    let mut object = simd_json::owned::Object::default();
    object.insert("echo".into(), text);
    object.insert("trace".into(), OwnedValue::from(Vec::<OwnedValue>::new()));
    super::hooks::write_value(&mut resp.body, &OwnedValue::from(object));
    resp.content_type = "application/json";
    Ok(())
}

macro_rules! echo_handler {
    ($name:ident, $what:literal) => {
        fn $name<'a>(
            req: &Request<'a>,
            _ctx: &mut RequestContext<'a>,
            params: &Params<'_, 'a>,
            resp: &mut Response,
        ) -> Result<(), ApiError> {
            echo($what, req, params, resp)
        }
    };
}

echo_handler!(gadget_index, "index");
echo_handler!(gadget_show, "show");
echo_handler!(gadget_create, "create");
echo_handler!(widget_index, "widget-index");
echo_handler!(widget_spin, "spin");
echo_handler!(widget_count, "count");
echo_handler!(rooted, "rooted");

fn polish<'a>(
    _req: &Request<'a>,
    _ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    _argument: &simd_json::BorrowedValue<'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    resp.status = 202;
    resp.body.extend_from_slice(
        format!("{{\"polished\": \"{}\"}}", params.get("id").unwrap_or("")).as_bytes(),
    );
    resp.content_type = "application/json";
    Ok(())
}

/// Refuses `/gadgets/deny`; upper-cases the request body in place.
fn before_guard<'a>(
    req: &Request<'a>,
    _ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
) -> Result<(), ApiError> {
    if params.get("id") == Some("deny") {
        return Err(ApiError::Forbidden("denied by a hook".into()));
    }
    if let Some(body) = req.take_body() {
        body.make_ascii_uppercase();
        req.body.set(Some(body));
    }
    Ok(())
}

fn push_trace(resp: &mut ResponseObject, mark: &str) {
    if let Some(OwnedValue::Array(trace)) = resp.body.get_mut("trace") {
        trace.push(OwnedValue::from(mark));
    }
}

fn after_b<'a>(
    _req: &Request<'a>,
    _ctx: &RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut ResponseObject,
) -> Result<(), ApiError> {
    if params.get("id") == Some("fail-after") {
        return Err(ApiError::Conflict("refused after".into()));
    }
    push_trace(resp, "b1");
    Ok(())
}

fn after_b2<'a>(
    _req: &Request<'a>,
    _ctx: &RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut ResponseObject,
) -> Result<(), ApiError> {
    push_trace(resp, "b2");
    resp.status = 203;
    Ok(())
}

fn after_c<'a>(
    _req: &Request<'a>,
    _ctx: &RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut ResponseObject,
) -> Result<(), ApiError> {
    push_trace(resp, "c");
    Ok(())
}

fn custom(routes: &mut CustomRoutes) {
    routes.add_without_project(Method::Get, "/widget-root", rooted);
}

descriptor!(Gadgets, "a-gadgets",
    resources: vec![ResourceExtension::new(
        "gadgets",
        Controller::new()
            .with("index", gadget_index)
            .with("show", gadget_show)
            .with("create", gadget_create),
    )],
    controllers: Vec::new());

descriptor!(Widgets, "a-widgets",
    resources: vec![ResourceExtension::new(
        "widgets",
        Controller::new()
            .with("index", widget_index)
            .with("spin", widget_spin)
            .with("count", widget_count),
    )
    .with_parent(Parent { member_name: "server", collection_name: "servers" })
    .with_member_action("spin", Method::Post)
    .with_collection_action("count", Method::Get)
    .with_custom_routes(custom)],
    controllers: Vec::new());

descriptor!(HooksB, "b-hooks",
    resources: Vec::new(),
    controllers: vec![ControllerExtension::new("gadgets")
        .before(MethodName::Show, before_guard)
        .before(MethodName::Create, before_guard)
        .after(MethodName::Show, after_b)
        .after(MethodName::Show, after_b2)
        .with_action("polish", polish)]);

descriptor!(HooksC, "c-hooks",
    resources: Vec::new(),
    controllers: vec![ControllerExtension::new("gadgets").after(MethodName::Show, after_c)]);

descriptor!(Nowhere, "d-nowhere",
    resources: Vec::new(),
    controllers: vec![ControllerExtension::new("no-such-collection").after(MethodName::Show, after_c)]);

descriptor!(VersionStamp, "e-stamp",
    resources: Vec::new(),
    controllers: vec![ControllerExtension::new("versions").after(MethodName::Show, stamp)]);

/// Adds `"stamped": true` to the version document.
fn stamp<'a>(
    _req: &Request<'a>,
    _ctx: &RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut ResponseObject,
) -> Result<(), ApiError> {
    if let Some(version) = resp.body.get_mut("version").and_then(|v| v.as_object_mut()) {
        version.insert("stamped".into(), OwnedValue::from(true));
    }
    Ok(())
}

fn all() -> Vec<Box<dyn Extension>> {
    vec![
        Box::new(HooksC),
        Box::new(Gadgets),
        Box::new(HooksB),
        Box::new(Widgets),
        Box::new(Nowhere),
        Box::new(FlavorTotalDisk),
        Box::new(VersionStamp),
    ]
}

fn router(selection: &ExtensionSelection) -> ApiRouter {
    ApiRouter::with_extensions(load(selection, all()).unwrap()).unwrap()
}

/// Sends one request through the router; returns status and body.
fn call(router: &ApiRouter, method: Method, path: &str, body: Option<&str>) -> (u16, OwnedValue) {
    let head = Head::default();
    let mut bytes = body.unwrap_or_default().as_bytes().to_vec();
    let req = Request {
        buf: b"",
        head: &head,
        body: std::cell::Cell::new(body.map(|_| bytes.as_mut_slice())),
        body_len: body.map_or(0, str::len),
        method: Some(method),
        path,
        query: "",
        peer: "127.0.0.1:1".parse().unwrap(),
    };
    let mut ctx = RequestContext::new(&req, "/v2.1", path);
    let mut resp = Response::new();
    router.call(&req, &mut ctx, &mut resp);
    let mut out = resp.body_bytes().to_vec();
    let value = if out.is_empty() {
        OwnedValue::null()
    } else {
        simd_json::to_owned_value(&mut out).unwrap()
    };
    (resp.status, value)
}

fn has_route(router: &ApiRouter, method: Method, path: &str) -> bool {
    router
        .table()
        .iter()
        .any(|t| t.route.method == method && t.route.path == path)
}

#[test]
fn the_route_table_holds_core_and_loaded_extension_routes() {
    let standard = router(&ExtensionSelection::Standard);
    for (method, path) in [
        (Method::Get, "/extensions"),
        (Method::Get, "/extensions/{id}"),
        (Method::Get, "/gadgets"),
        (Method::Get, "/gadgets/{id}"),
        (Method::Post, "/gadgets"),
        (Method::Post, "/gadgets/{id}/action"),
        (Method::Get, "/servers/{server_id}/widgets"),
        (Method::Post, "/servers/{server_id}/widgets/{id}/spin"),
        (Method::Get, "/servers/{server_id}/widgets/count"),
        (Method::Get, "/widget-root"),
        (Method::Get, "/flavors/{id}"),
    ] {
        assert!(has_route(&standard, method, path), "{path}");
    }
    // Methods the controller lacks get no route.
    assert!(!has_route(&standard, Method::Put, "/gadgets/{id}"));
    // A core route nobody extends is called directly; one a hook wraps is extended.
    let entry = |path: &str, method| {
        standard
            .table()
            .iter()
            .find(|t| t.route.path == path && t.route.method == method)
            .copied()
            .unwrap()
    };
    assert!(entry("/flavors", Method::Get).extended.is_none());
    assert!(entry("/flavors", Method::Get).origin.is_none());
    assert!(entry("/flavors/{id}", Method::Get).extended.is_some());
    assert!(entry("/os-keypairs", Method::Get).extended.is_none());
    assert_eq!(entry("/gadgets", Method::Get).origin, Some("a-gadgets"));
    // The custom route has no project form; the others have one.
    assert_eq!(entry("/widget-root", Method::Get).route.project_path, "");
    assert_eq!(
        entry("/gadgets/{id}", Method::Get).route.project_path,
        "/{project_id:hex}/gadgets/{id}"
    );

    let selective = router(&ExtensionSelection::Selective(vec!["a-widgets".into()]));
    assert!(has_route(
        &selective,
        Method::Get,
        "/servers/{server_id}/widgets"
    ));
    assert!(has_route(&selective, Method::Get, "/extensions"));
    assert!(!has_route(&selective, Method::Get, "/gadgets"));
    let flavor_show = selective
        .table()
        .iter()
        .find(|t| t.route.path == "/flavors/{id}" && t.route.method == Method::Get)
        .unwrap();
    assert!(flavor_show.extended.is_none());
}

#[test]
fn extension_routes_dispatch_with_and_without_the_project_segment() {
    let router = router(&ExtensionSelection::Standard);
    let (status, body) = call(&router, Method::Get, "/servers/s1/widgets/count", None);
    assert_eq!((status, body["echo"][0].as_str()), (200, Some("count")));
    let (status, body) = call(
        &router,
        Method::Post,
        "/abcd/servers/s1/widgets/w9/spin",
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(body["echo"][0].as_str(), Some("spin"));
    assert_eq!(body["echo"][1].as_str(), Some("w9"));
    assert_eq!(call(&router, Method::Get, "/widget-root", None).0, 200);
    assert_eq!(call(&router, Method::Get, "/abcd/widget-root", None).0, 404);
    assert_eq!(call(&router, Method::Put, "/gadgets/g1", Some("{}")).0, 404);
}

#[test]
fn after_hooks_run_in_reverse_registration_order_and_may_change_the_status() {
    let router = router(&ExtensionSelection::Standard);
    let (status, body) = call(&router, Method::Get, "/gadgets/g1", None);
    // Registered b1, b2 (b-hooks), then c (c-hooks): run c, b2, b1.
    assert_eq!(status, 203);
    let trace: Vec<_> = body["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(trace, ["c", "b2", "b1"]);
    // Index has no hooks: untouched.
    let (status, body) = call(&router, Method::Get, "/gadgets", None);
    assert_eq!((status, body["trace"].as_array().unwrap().len()), (200, 0));
}

#[test]
fn hook_errors_short_circuit() {
    let router = router(&ExtensionSelection::Standard);
    let (status, body) = call(&router, Method::Get, "/gadgets/deny", None);
    assert_eq!(status, 403);
    assert_eq!(
        body["forbidden"]["message"].as_str(),
        Some("denied by a hook")
    );
    assert!(body.get("echo").is_none());
    let (status, body) = call(&router, Method::Get, "/gadgets/fail-after", None);
    assert_eq!(status, 409);
    assert_eq!(body["conflictingRequest"]["code"].as_u64(), Some(409));
}

#[test]
fn before_hooks_may_change_the_request_body() {
    let router = router(&ExtensionSelection::Standard);
    let (status, body) = call(
        &router,
        Method::Post,
        "/gadgets",
        Some(r#"{"gadget": "x"}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(body["echo"][2].as_str(), Some(r#"{"GADGET": "X"}"#));
}

#[test]
fn extension_actions_get_their_own_action_route() {
    let router = router(&ExtensionSelection::Standard);
    let (status, body) = call(
        &router,
        Method::Post,
        "/gadgets/g7/action",
        Some(r#"{"polish": null}"#),
    );
    assert_eq!((status, body["polished"].as_str()), (202, Some("g7")));
    let (status, body) = call(
        &router,
        Method::Post,
        "/gadgets/g7/action",
        Some(r#"{"rust": 1}"#),
    );
    assert_eq!(status, 400);
    assert_eq!(
        body["badRequest"]["message"].as_str(),
        Some("There is no such action: rust")
    );
    let without = router_without_b();
    assert_eq!(
        call(
            &without,
            Method::Post,
            "/gadgets/g7/action",
            Some(r#"{"polish": null}"#)
        )
        .0,
        404
    );
}

fn router_without_b() -> ApiRouter {
    router(&ExtensionSelection::Selective(vec!["a-gadgets".into()]))
}

#[test]
fn an_extension_of_an_unknown_collection_is_skipped() {
    let loaded = load(&ExtensionSelection::Standard, all()).unwrap();
    let table = super::routes::assemble(crate::api::core_routes(), loaded).unwrap();
    assert!(table
        .warnings
        .iter()
        .any(|w| w.contains("d-nowhere") && w.contains("no-such-collection")));
}

#[test]
fn a_resource_clashing_with_a_core_route_is_an_error() {
    descriptor!(Clash, "clash",
        resources: vec![ResourceExtension::new("flavors", Controller::new().with("index", gadget_index))],
        controllers: Vec::new());
    let loaded = load(&ExtensionSelection::Standard, vec![Box::new(Clash)]).unwrap();
    assert!(matches!(
        ApiRouter::with_extensions(loaded),
        Err(crate::api::RouterError::Extensions(
            super::LoadError::Resource {
                extension: "clash",
                ..
            }
        ))
    ));
}

#[test]
fn after_hooks_see_shared_pre_rendered_bodies() {
    // The version document comes from the worker's cache as a shared body: twice, so that
    // the second answer is a cache hit.
    let router = router(&ExtensionSelection::Standard);
    for _ in 0..2 {
        let (status, body) = call(&router, Method::Get, "/versions/v2.1", None);
        assert_eq!(status, 200);
        assert_eq!(body["version"]["id"].as_str(), Some("v2.1"));
        assert_eq!(body["version"]["stamped"].as_bool(), Some(true), "{body:?}");
    }
    let plain = router_without_b();
    let (_, body) = call(&plain, Method::Get, "/versions/v2.1", None);
    assert!(body["version"].get("stamped").is_none());
}
