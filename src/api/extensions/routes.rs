//! The route table after loading: the core routes plus every loaded extension's, with the
//! routes controller extensions wrap marked as extended (Nova's `APIRouter._setup_ext_routes`
//! and `_setup_extensions`).
//!
//! Start-up only. [`assemble`] builds the table the API router compiles into its one radix
//! tree. Paths made here from collection names are leaked once per table (they live as long
//! as the router). A controller extension of a collection no route serves is skipped with a
//! warning, as Nova does; it must never change a route it does not name.

use std::sync::OnceLock;

use super::{
    compiled, hooks::ExtendedRoute, info, ControllerExtension, Extensions, LoadError, MethodName,
    ResourceExtension,
};
use crate::{
    api::{dispatch_action, ActionHandler, Handler, Route},
    config::ExtensionSelection,
    router::Method,
};

/// Where a route of the table comes from and how it runs.
#[derive(Debug, Clone, Copy)]
pub struct TableRoute {
    /// Method and paths; `project_path` is empty for a route without the project form.
    pub route: Route,
    /// The alias of the extension that added it (`"extensions"` for `/extensions` itself);
    /// `None` for a core route.
    pub origin: Option<&'static str>,
    /// Index into [`Assembled::extended`] when the route runs through hooks or extension
    /// actions; `None` for a plain handler call.
    pub extended: Option<usize>,
}

/// The assembled table.
#[derive(Debug, Default)]
pub struct Assembled {
    /// Every route, core routes first in table order, then the extensions' in alias order.
    pub routes: Vec<TableRoute>,
    /// The extended routes' hooks and actions.
    pub extended: Vec<ExtendedRoute>,
    /// Controller extensions that named something no route serves.
    pub warnings: Vec<String>,
}

/// What a custom-routes hook adds routes to.
#[derive(Debug, Default)]
pub struct CustomRoutes {
    added: Vec<(Method, &'static str, bool, Handler)>,
}

impl CustomRoutes {
    /// Adds `path` (relative to the API root) with and without the `{project_id}` segment.
    pub fn add(&mut self, method: Method, path: &'static str, handler: Handler) {
        self.added.push((method, path, true, handler));
    }

    /// Adds `path` only as given: no `{project_id}` form.
    pub fn add_without_project(&mut self, method: Method, path: &'static str, handler: Handler) {
        self.added.push((method, path, false, handler));
    }
}

/// Start-up only: a path built from names, kept for the life of the router.
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn route(method: Method, path: &'static str, with_project: bool, handler: Handler) -> Route {
    Route {
        method,
        path,
        project_path: if with_project {
            leak(format!("/{{project_id:hex}}{path}"))
        } else {
            ""
        },
        handler,
    }
}

/// Builds the table: `core` as given, then `GET /extensions[/{id}]`, then every loaded
/// extension's resources, then its controller extensions applied to the whole table.
pub fn assemble(
    core: impl Iterator<Item = &'static Route>,
    extensions: &Extensions,
) -> Result<Assembled, LoadError> {
    let mut table = Assembled {
        routes: core
            .map(|route| TableRoute {
                route: *route,
                origin: None,
                extended: None,
            })
            .collect(),
        ..Assembled::default()
    };
    add_resource(&mut table, "extensions", &info::resource())?;
    for ext in extensions.iter() {
        for resource in ext.resources() {
            add_resource(&mut table, ext.alias(), &resource)?;
        }
    }
    for ext in extensions.iter() {
        for controller in ext.controller_extensions() {
            extend(&mut table, ext.alias(), &controller);
        }
    }
    Ok(table)
}

/// The routes of one resource extension.
fn add_resource(
    table: &mut Assembled,
    alias: &'static str,
    resource: &ResourceExtension,
) -> Result<(), LoadError> {
    let prefix = match resource.parent {
        Some(parent) => format!(
            "/{}/{{{}_id}}/{}",
            parent.collection_name, parent.member_name, resource.collection
        ),
        None => format!("/{}", resource.collection),
    };
    let mut routes: Vec<Route> = Vec::new();
    let controller = &resource.controller;
    let standard = [
        ("index", Method::Get, ""),
        ("create", Method::Post, ""),
        ("show", Method::Get, "/{id}"),
        ("update", Method::Put, "/{id}"),
        ("delete", Method::Delete, "/{id}"),
    ];
    for (name, method, suffix) in standard {
        if let Some(handler) = controller.method(name) {
            routes.push(route(
                method,
                leak(format!("{prefix}{suffix}")),
                true,
                handler,
            ));
        }
    }
    let actions = resource
        .collection_actions
        .iter()
        .map(|action| (action, ""))
        .chain(
            resource
                .member_actions
                .iter()
                .map(|action| (action, "/{id}")),
        );
    for (&(name, method), member) in actions {
        let handler = controller.method(name).ok_or_else(|| LoadError::Resource {
            extension: alias,
            reason: format!("action {name:?} of {:?} has no controller method", prefix),
        })?;
        routes.push(route(
            method,
            leak(format!("{prefix}{member}/{name}")),
            true,
            handler,
        ));
    }
    if let Some(hook) = resource.custom_routes {
        let mut custom = CustomRoutes::default();
        hook(&mut custom);
        for (method, path, with_project, handler) in custom.added {
            routes.push(route(method, path, with_project, handler));
        }
    }
    for route in routes {
        let clash = table.routes.iter().any(|known| {
            known.route.method == route.method && same_shape(known.route.path, route.path)
        });
        if clash {
            return Err(LoadError::Resource {
                extension: alias,
                reason: format!("{} {} is already routed", route.method.as_str(), route.path),
            });
        }
        table
            .extended
            .push(ExtendedRoute::default_for(route.handler));
        table.routes.push(TableRoute {
            route,
            origin: Some(alias),
            extended: Some(table.extended.len() - 1),
        });
    }
    Ok(())
}

/// Whether two templates match the same paths (parameter names aside).
fn same_shape(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x == y || (x.starts_with('{') && y.starts_with('{')))
}

/// Which controller method of which collection a route is, by its shape.
enum Role<'p> {
    Method(&'p str, MethodName),
    Action(&'p str),
}

fn role(method: Method, path: &str) -> Option<Role<'_>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let param = |s: &str| s.starts_with('{');
    match (segments.as_slice(), method) {
        ([.., c, last], Method::Get) if *last == "detail" && !param(c) => {
            Some(Role::Method(c, MethodName::Detail))
        }
        ([.., c], Method::Get) if !param(c) => Some(Role::Method(c, MethodName::Index)),
        ([.., c], Method::Post) if !param(c) && *c != "action" => {
            Some(Role::Method(c, MethodName::Create))
        }
        ([.., c, id], m) if param(id) && !param(c) => match m {
            Method::Get => Some(Role::Method(c, MethodName::Show)),
            Method::Put => Some(Role::Method(c, MethodName::Update)),
            Method::Delete => Some(Role::Method(c, MethodName::Delete)),
            _ => None,
        },
        ([.., c, id, last], Method::Post) if *last == "action" && param(id) && !param(c) => {
            Some(Role::Action(c))
        }
        _ => None,
    }
}

/// The table index of `route`'s extended entry, converting a plain route on first use.
fn extended_slot(table: &mut Assembled, index: usize) -> usize {
    if let Some(slot) = table.routes[index].extended {
        return slot;
    }
    let handler = table.routes[index].route.handler;
    table.extended.push(ExtendedRoute::default_for(handler));
    let slot = table.extended.len() - 1;
    table.routes[index].extended = Some(slot);
    slot
}

/// Applies one controller extension to the routes of its collection.
fn extend(table: &mut Assembled, alias: &'static str, controller: &ControllerExtension) {
    let collection = controller.collection;
    let mut touched = false;
    for index in 0..table.routes.len() {
        let TableRoute { route, .. } = table.routes[index];
        match role(route.method, route.path) {
            Some(Role::Method(c, name)) if c == collection => {
                touched = true;
                let before: Vec<_> = hooks_for(&controller.before, name);
                let after: Vec<_> = hooks_for(&controller.after, name);
                if before.is_empty() && after.is_empty() {
                    continue;
                }
                let slot = extended_slot(table, index);
                table.extended[slot].before.extend(before);
                table.extended[slot].after.extend(after);
            }
            Some(Role::Action(c)) if c == collection => {
                touched = true;
                if !controller.actions.is_empty() {
                    let slot = extended_slot(table, index);
                    table.extended[slot]
                        .actions
                        .extend(controller.actions.iter().copied());
                }
            }
            _ => {}
        }
    }
    let has_action_route = table.routes.iter().any(
        |t| matches!(role(t.route.method, t.route.path), Some(Role::Action(c)) if c == collection),
    );
    if !controller.actions.is_empty() && !has_action_route {
        // The collection has members but no `…/action` yet: the extension's actions make one.
        let member = table
            .routes
            .iter()
            .find_map(|t| match role(t.route.method, t.route.path) {
                Some(Role::Method(c, MethodName::Show)) if c == collection => Some(t.route),
                _ => None,
            });
        match member {
            Some(show) => {
                let path = leak(format!("{}/action", show.path));
                let with_project = !show.project_path.is_empty();
                table.extended.push(ExtendedRoute {
                    actions: controller.actions.clone(),
                    ..ExtendedRoute::default_for(no_such_action)
                });
                table.routes.push(TableRoute {
                    route: route(Method::Post, path, with_project, no_such_action),
                    origin: Some(alias),
                    extended: Some(table.extended.len() - 1),
                });
            }
            None => table.warnings.push(format!(
                "extension {alias}: {collection} has no members to add actions to; skipped"
            )),
        }
    }
    if !touched {
        table.warnings.push(format!(
            "extension {alias}: no resource {collection:?} to extend; skipped"
        ));
    }
}

fn hooks_for<H: Copy>(hooks: &[(MethodName, H)], name: MethodName) -> Vec<H> {
    hooks
        .iter()
        .filter(|(method, _)| *method == name)
        .map(|&(_, hook)| hook)
        .collect()
}

/// The method of an `…/action` route made only of extension actions: a body naming none of
/// them is answered as Nova does (400 "There is no such action", or "Malformed request body").
fn no_such_action<'a>(
    req: &crate::api::context::Request<'a>,
    ctx: &mut crate::api::context::RequestContext<'a>,
    params: &crate::router::Params<'_, 'a>,
    resp: &mut crate::http::Response,
) -> Result<(), crate::api::error::ApiError> {
    const NONE: &[(&str, ActionHandler)] = &[];
    dispatch_action(req, ctx, params, resp, NONE)
}

/// The routes the standard extensions add when all of them are loaded (`/extensions`
/// included), for tools and tests that must cover every served route. Built on first use.
pub fn standard_routes() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let loaded = compiled(&ExtensionSelection::Standard).expect("the standard extensions load");
        assemble(std::iter::empty(), loaded)
            .expect("the standard extensions' routes assemble")
            .routes
            .into_iter()
            .filter(|t| t.origin.is_some())
            .map(|t| t.route)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classified_by_shape() {
        let name = |m, p| match role(m, p) {
            Some(Role::Method(c, n)) => format!("{c} {n:?}"),
            Some(Role::Action(c)) => format!("{c} action"),
            None => "-".into(),
        };
        assert_eq!(name(Method::Get, "/flavors"), "flavors Index");
        assert_eq!(name(Method::Get, "/flavors/detail"), "flavors Detail");
        assert_eq!(name(Method::Get, "/flavors/{id}"), "flavors Show");
        assert_eq!(name(Method::Post, "/flavors"), "flavors Create");
        assert_eq!(name(Method::Put, "/flavors/{id}"), "flavors Update");
        assert_eq!(name(Method::Delete, "/flavors/{id}"), "flavors Delete");
        assert_eq!(name(Method::Post, "/servers/{id}/action"), "servers action");
        assert_eq!(
            name(Method::Get, "/servers/{server_id}/metadata/{id}"),
            "metadata Show"
        );
        assert_eq!(name(Method::Patch, "/flavors/{id}"), "-");
    }

    #[test]
    fn same_shape_ignores_parameter_names() {
        assert!(same_shape("/a/{x}", "/a/{id}"));
        assert!(!same_shape("/a/{x}", "/a/b"));
        assert!(!same_shape("/a", "/a/{x}"));
    }
}
