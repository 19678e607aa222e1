//! The extension framework (SPEC §8, Nova's Folsom `ExtensionDescriptor`): the compute API
//! grows by extensions, each declared by one descriptor ([`Extension`]) and loaded by
//! configuration (`osapi_compute_extension`, `osapi_compute_ext_list`).
//!
//! Start-up only, main thread. [`standard_extensions`] and [`optional_extensions`] are the
//! plain registry of the extensions compiled in (optional ones change bodies of Nova's own
//! resources and load only when selected by alias); an embedding program appends its own
//! descriptors to the standard list before calling [`load_from`], which checks every
//! descriptor (no empty field, no duplicate alias or policy rule), keeps the selected ones and
//! returns the loaded set. The API router
//! then compiles their routes into the same radix router as the core routes
//! ([`routes::assemble`]); after that nothing here changes.
//!
//! A descriptor brings:
//! - resource extensions ([`ResourceExtension`]): a new collection with its controller, an
//!   optional parent (`/servers/{server_id}/<collection>`), `{name: method}` collection and
//!   member actions, and a custom-routes hook for any other path (with or without the
//!   `{project_id}` segment);
//! - controller extensions ([`ControllerExtension`]) of an existing collection: extra
//!   `POST …/action` actions and hooks before and after a controller method (see [`hooks`]);
//! - its policy rules with their defaults ([`PolicyRule`]), registered beside Nova's.
//!
//! Requests to core routes nobody extends never touch this module: the router maps them
//! straight to their handler. This module must never register anything behind the caller's
//! back (no life-before-main registration) and never change the router after start-up.

pub mod documents;
pub mod flavor_total_disk;
pub mod hooks;
pub mod info;
pub mod lock_server;
pub mod routes;

#[cfg(test)]
mod router_tests;

use std::fmt;

pub use hooks::{AfterHook, BeforeHook, ResponseObject};
pub use routes::{Assembled, CustomRoutes};

use super::{ActionHandler, Handler};
use crate::{config::ExtensionSelection, router::Method};

/// One extension's descriptor: what it is (the fields `GET /extensions` shows) and what it
/// adds. Only the five identity methods are required.
pub trait Extension: Send + Sync {
    /// Human name (`"Documents"`).
    fn name(&self) -> &'static str;
    /// Unique short name (`"os-documents"`); `osapi_compute_ext_list` selects by it.
    fn alias(&self) -> &'static str;
    /// XML namespace URL, as Folsom lists it.
    fn namespace(&self) -> &'static str;
    /// Last change, ISO 8601 (`"2026-11-30T00:00:00Z"`).
    fn updated(&self) -> &'static str;
    /// One sentence (Folsom's class docstring).
    fn description(&self) -> &'static str;

    /// New resources (Nova's `get_resources`).
    fn resources(&self) -> Vec<ResourceExtension> {
        Vec::new()
    }

    /// Extensions of existing resources (Nova's `get_controller_extensions`).
    fn controller_extensions(&self) -> Vec<ControllerExtension> {
        Vec::new()
    }

    /// The policy rules this extension's handlers check, with their defaults.
    fn policy_rules(&self) -> &'static [PolicyRule] {
        &[]
    }
}

/// One policy rule an extension declares: its name and default check string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyRule {
    /// `os_compute_api:os-documents:index`.
    pub name: &'static str,
    /// The default, in oslo.policy's language (`rule:project_reader_or_admin`).
    pub check_str: &'static str,
}

/// The parent of a nested resource (Nova's `parent=dict(member_name=…, collection_name=…)`):
/// routes become `/<collection_name>/{<member_name>_id}/<collection>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    /// `server`.
    pub member_name: &'static str,
    /// `servers`.
    pub collection_name: &'static str,
}

/// A controller: its methods by name. `index`, `create`, `show`, `update` and `delete` get
/// the standard routes; any other name is reached only through a collection or member action
/// (or a custom route).
#[derive(Debug, Clone, Default)]
pub struct Controller {
    methods: Vec<(&'static str, Handler)>,
}

impl Controller {
    /// A controller without methods.
    pub fn new() -> Controller {
        Controller::default()
    }

    /// Adds the method `name`.
    pub fn with(mut self, name: &'static str, handler: Handler) -> Controller {
        self.methods.push((name, handler));
        self
    }

    /// The method called `name`.
    pub fn method(&self, name: &str) -> Option<Handler> {
        self.methods
            .iter()
            .find(|(known, _)| *known == name)
            .map(|&(_, handler)| handler)
    }
}

/// A new resource (Nova's `ResourceExtension`). Routes, each also under `/{project_id}`:
///
/// ```text
/// GET    /<collection>                 index      POST /<collection>          create
/// GET    /<collection>/{id}            show       PUT  /<collection>/{id}     update
/// DELETE /<collection>/{id}            delete
/// <m>    /<collection>/<name>          collection action <name>: <m>
/// <m>    /<collection>/{id}/<name>     member action <name>: <m>
/// ```
///
/// prefixed by `/<parent collection>/{<parent member>_id}` when there is a parent, plus what
/// the custom-routes hook adds.
#[derive(Debug, Clone)]
pub struct ResourceExtension {
    /// The collection's path segment (`os-documents`).
    pub collection: &'static str,
    /// Its controller.
    pub controller: Controller,
    /// The parent resource, for nested routes.
    pub parent: Option<Parent>,
    /// `{name: method}` routes on the collection; each name must be a controller method.
    pub collection_actions: Vec<(&'static str, Method)>,
    /// `{name: method}` routes on a member; each name must be a controller method.
    pub member_actions: Vec<(&'static str, Method)>,
    /// Adds arbitrary routes (Nova's `custom_routes_fn`).
    pub custom_routes: Option<fn(&mut CustomRoutes)>,
}

impl ResourceExtension {
    /// A top-level collection with no actions and no custom routes.
    pub fn new(collection: &'static str, controller: Controller) -> ResourceExtension {
        ResourceExtension {
            collection,
            controller,
            parent: None,
            collection_actions: Vec::new(),
            member_actions: Vec::new(),
            custom_routes: None,
        }
    }

    /// Nests the collection under a parent resource.
    pub fn with_parent(mut self, parent: Parent) -> ResourceExtension {
        self.parent = Some(parent);
        self
    }

    /// Adds a collection action (`<method> /<collection>/<name>`).
    pub fn with_collection_action(mut self, name: &'static str, method: Method) -> Self {
        self.collection_actions.push((name, method));
        self
    }

    /// Adds a member action (`<method> /<collection>/{id}/<name>`).
    pub fn with_member_action(mut self, name: &'static str, method: Method) -> Self {
        self.member_actions.push((name, method));
        self
    }

    /// Sets the custom-routes hook.
    pub fn with_custom_routes(mut self, hook: fn(&mut CustomRoutes)) -> Self {
        self.custom_routes = Some(hook);
        self
    }
}

/// The controller methods a hook can wrap, by Nova's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodName {
    /// `GET /<collection>`.
    Index,
    /// `GET /<collection>/detail`.
    Detail,
    /// `GET /<collection>/{id}`.
    Show,
    /// `POST /<collection>`.
    Create,
    /// `PUT /<collection>/{id}`.
    Update,
    /// `DELETE /<collection>/{id}`.
    Delete,
}

/// An extension of an existing resource (Nova's `ControllerExtension`): extra actions of its
/// `POST /<collection>/{id}/action` and hooks around its methods.
#[derive(Debug, Clone)]
pub struct ControllerExtension {
    /// The extended collection (`flavors`, `servers`, or another extension's collection).
    pub collection: &'static str,
    /// Extra `@wsgi.action` handlers, by action name.
    pub actions: Vec<(&'static str, ActionHandler)>,
    /// Pre-processing hooks, in registration order.
    pub before: Vec<(MethodName, BeforeHook)>,
    /// Post-processing hooks, in registration order (they run in reverse).
    pub after: Vec<(MethodName, AfterHook)>,
}

impl ControllerExtension {
    /// An extension of `collection` that adds nothing yet.
    pub fn new(collection: &'static str) -> ControllerExtension {
        ControllerExtension {
            collection,
            actions: Vec::new(),
            before: Vec::new(),
            after: Vec::new(),
        }
    }

    /// Adds the action `name` to `POST /<collection>/{id}/action`.
    pub fn with_action(mut self, name: &'static str, handler: ActionHandler) -> Self {
        self.actions.push((name, handler));
        self
    }

    /// Runs `hook` before `method`.
    pub fn before(mut self, method: MethodName, hook: BeforeHook) -> Self {
        self.before.push((method, hook));
        self
    }

    /// Runs `hook` after `method` succeeded.
    pub fn after(mut self, method: MethodName, hook: AfterHook) -> Self {
        self.after.push((method, hook));
        self
    }
}

/// Why the extensions could not be loaded (a start-up error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// A descriptor has an empty identity field.
    MissingField {
        /// The descriptor's alias (or name, when the alias is the missing field).
        extension: String,
        /// `name`, `alias`, `namespace`, `updated` or `description`.
        field: &'static str,
    },
    /// Two descriptors share an alias (Nova's "Found duplicate extension").
    DuplicateAlias(String),
    /// `osapi_compute_ext_list` names an alias no descriptor has.
    UnknownAlias(String),
    /// Two loaded extensions declare the same policy rule, or a rule is empty.
    PolicyRule {
        /// The extension.
        extension: &'static str,
        /// The rule.
        rule: &'static str,
    },
    /// A resource extension is malformed (an action without a controller method, a route
    /// that clashes with another).
    Resource {
        /// The extension.
        extension: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::MissingField { extension, field } => {
                write!(f, "extension {extension:?} has no {field}")
            }
            LoadError::DuplicateAlias(alias) => write!(f, "Found duplicate extension: {alias}"),
            LoadError::UnknownAlias(alias) => write!(
                f,
                "osapi_compute_ext_list names {alias:?}, which is not a known extension"
            ),
            LoadError::PolicyRule { extension, rule } => write!(
                f,
                "extension {extension:?} declares policy rule {rule:?} that is empty or \
                 declared by another extension"
            ),
            LoadError::Resource { extension, reason } => {
                write!(f, "extension {extension:?}: {reason}")
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// The standard extensions compiled into ringnova, in no particular order (`GET /extensions`
/// sorts by alias): what `osapi_compute_extension = standard` loads. They add to Nova's API
/// without changing any body Nova's API samples show. A new extension is added here (or to
/// [`optional_extensions`]), and nowhere else.
pub fn standard_extensions() -> Vec<Box<dyn Extension>> {
    vec![
        Box::new(documents::Documents),
        Box::new(lock_server::LockServer),
    ]
}

/// Extensions compiled in but loaded only when `osapi_compute_ext_list` names them (with
/// `osapi_compute_extension = selective`): they change bodies of Nova's own resources.
pub fn optional_extensions() -> Vec<Box<dyn Extension>> {
    vec![Box::new(flavor_total_disk::FlavorTotalDisk)]
}

/// [`load_from`] with every compiled-in extension: the standard ones, and the optional ones
/// for a selective list.
pub fn compiled(selection: &ExtensionSelection) -> Result<&'static Extensions, LoadError> {
    load_from(selection, standard_extensions(), optional_extensions())
}

/// The loaded extensions, sorted by alias. Built once at start-up by [`load`] and shared,
/// read-only, by every worker.
pub struct Extensions {
    loaded: Vec<Box<dyn Extension>>,
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.loaded.iter().map(|ext| ext.alias()))
            .finish()
    }
}

impl Extensions {
    /// Every loaded extension, sorted by alias.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &dyn Extension> {
        self.loaded.iter().map(|ext| &**ext)
    }

    /// The loaded extension with this alias.
    pub fn find(&self, alias: &str) -> Option<&dyn Extension> {
        self.loaded
            .binary_search_by(|ext| ext.alias().cmp(alias))
            .ok()
            .map(|at| &*self.loaded[at])
    }

    /// Every loaded extension's policy rules as `(name, default)`, for
    /// [`PolicyFiles::extra_defaults`](crate::policy::PolicyFiles::extra_defaults).
    pub fn policy_defaults(&self) -> Vec<(String, String)> {
        self.iter()
            .flat_map(|ext| ext.policy_rules())
            .map(|rule| (rule.name.to_owned(), rule.check_str.to_owned()))
            .collect()
    }
}

/// [`load_from`] without optional extensions.
pub fn load(
    selection: &ExtensionSelection,
    standard: Vec<Box<dyn Extension>>,
) -> Result<&'static Extensions, LoadError> {
    load_from(selection, standard, Vec::new())
}

/// Checks every descriptor of `standard` and `optional` and keeps the ones `selection` names:
/// every standard one (`standard`), or the listed aliases among both (`selective`). The result
/// lives as long as the process (start-up only; the routers of every worker point into it).
pub fn load_from(
    selection: &ExtensionSelection,
    standard: Vec<Box<dyn Extension>>,
    optional: Vec<Box<dyn Extension>>,
) -> Result<&'static Extensions, LoadError> {
    let optional_aliases: Vec<&'static str> = optional.iter().map(|ext| ext.alias()).collect();
    let mut available = standard;
    available.extend(optional);
    for ext in &available {
        check_fields(&**ext)?;
    }
    let mut loaded = available;
    loaded.sort_by(|a, b| a.alias().cmp(b.alias()));
    if let Some(pair) = loaded.windows(2).find(|w| w[0].alias() == w[1].alias()) {
        return Err(LoadError::DuplicateAlias(pair[0].alias().to_owned()));
    }
    if let ExtensionSelection::Selective(list) = selection {
        if let Some(unknown) = list
            .iter()
            .find(|alias| loaded.iter().all(|ext| ext.alias() != alias.as_str()))
        {
            return Err(LoadError::UnknownAlias(unknown.clone()));
        }
        loaded.retain(|ext| list.iter().any(|alias| alias == ext.alias()));
    } else {
        loaded.retain(|ext| !optional_aliases.contains(&ext.alias()));
    }
    let mut rules: Vec<&'static str> = Vec::new();
    for ext in &loaded {
        for rule in ext.policy_rules() {
            if rule.name.is_empty() || rule.check_str.is_empty() || rules.contains(&rule.name) {
                return Err(LoadError::PolicyRule {
                    extension: ext.alias(),
                    rule: rule.name,
                });
            }
            rules.push(rule.name);
        }
    }
    // Start-up only: one loaded set per router build, kept for the life of the process.
    Ok(Box::leak(Box::new(Extensions { loaded })))
}

/// Nova's `ExtensionManager._check_extension`: every identity field must be there.
fn check_fields(ext: &dyn Extension) -> Result<(), LoadError> {
    let fields = [
        ("name", ext.name()),
        ("alias", ext.alias()),
        ("namespace", ext.namespace()),
        ("updated", ext.updated()),
        ("description", ext.description()),
    ];
    match fields.iter().find(|(_, value)| value.trim().is_empty()) {
        Some(&(field, _)) => Err(LoadError::MissingField {
            extension: if ext.alias().is_empty() {
                ext.name().to_owned()
            } else {
                ext.alias().to_owned()
            },
            field,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A descriptor whose fields a test chooses.
    struct Fake {
        alias: &'static str,
        namespace: &'static str,
        rules: &'static [PolicyRule],
    }

    impl Extension for Fake {
        fn name(&self) -> &'static str {
            "Fake"
        }
        fn alias(&self) -> &'static str {
            self.alias
        }
        fn namespace(&self) -> &'static str {
            self.namespace
        }
        fn updated(&self) -> &'static str {
            "2026-11-30T00:00:00Z"
        }
        fn description(&self) -> &'static str {
            "A fake."
        }
        fn policy_rules(&self) -> &'static [PolicyRule] {
            self.rules
        }
    }

    fn fake(alias: &'static str) -> Box<dyn Extension> {
        Box::new(Fake {
            alias,
            namespace: "http://example.com/ext",
            rules: &[],
        })
    }

    fn aliases(set: &Extensions) -> Vec<&'static str> {
        set.iter().map(|ext| ext.alias()).collect()
    }

    #[test]
    fn standard_loads_every_extension_sorted_by_alias() {
        let set = load(
            &ExtensionSelection::Standard,
            vec![fake("b"), fake("a"), fake("c")],
        )
        .unwrap();
        assert_eq!(aliases(set), ["a", "b", "c"]);
        assert_eq!(set.find("b").map(|e| e.alias()), Some("b"));
        assert!(set.find("d").is_none());
    }

    #[test]
    fn selective_loads_only_the_listed_aliases() {
        let list = ExtensionSelection::Selective(vec!["c".into(), "a".into()]);
        let set = load(&list, vec![fake("b"), fake("a"), fake("c")]).unwrap();
        assert_eq!(aliases(set), ["a", "c"]);
        let none = load(&ExtensionSelection::Selective(Vec::new()), vec![fake("a")]).unwrap();
        assert_eq!(none.iter().len(), 0);
    }

    #[test]
    fn an_unknown_selected_alias_is_an_error() {
        let list = ExtensionSelection::Selective(vec!["zz".into()]);
        assert_eq!(
            load(&list, vec![fake("a")]).unwrap_err(),
            LoadError::UnknownAlias("zz".into())
        );
    }

    #[test]
    fn a_duplicate_alias_is_an_error_even_when_not_selected() {
        let err = load(
            &ExtensionSelection::Standard,
            vec![fake("a"), fake("dup"), fake("dup")],
        )
        .unwrap_err();
        assert_eq!(err, LoadError::DuplicateAlias("dup".into()));
        assert_eq!(err.to_string(), "Found duplicate extension: dup");
        let list = ExtensionSelection::Selective(vec!["a".into()]);
        assert!(load(&list, vec![fake("a"), fake("dup"), fake("dup")]).is_err());
    }

    #[test]
    fn a_missing_field_is_an_error() {
        let no_namespace: Box<dyn Extension> = Box::new(Fake {
            alias: "x",
            namespace: " ",
            rules: &[],
        });
        assert_eq!(
            load(&ExtensionSelection::Standard, vec![fake("a"), no_namespace]).unwrap_err(),
            LoadError::MissingField {
                extension: "x".into(),
                field: "namespace"
            }
        );
        assert_eq!(
            load(&ExtensionSelection::Standard, vec![fake("")]).unwrap_err(),
            LoadError::MissingField {
                extension: "Fake".into(),
                field: "alias"
            }
        );
    }

    #[test]
    fn policy_rules_are_collected_and_must_be_unique() {
        const RULES: &[PolicyRule] = &[PolicyRule {
            name: "fake:rule",
            check_str: "@",
        }];
        let one: Box<dyn Extension> = Box::new(Fake {
            alias: "one",
            namespace: "n",
            rules: RULES,
        });
        let set = load(&ExtensionSelection::Standard, vec![one]).unwrap();
        assert_eq!(
            set.policy_defaults(),
            [("fake:rule".to_string(), "@".to_string())]
        );
        let both: Vec<Box<dyn Extension>> = ["one", "two"]
            .into_iter()
            .map(|alias| {
                Box::new(Fake {
                    alias,
                    namespace: "n",
                    rules: RULES,
                }) as Box<dyn Extension>
            })
            .collect();
        assert!(matches!(
            load(&ExtensionSelection::Standard, both),
            Err(LoadError::PolicyRule {
                rule: "fake:rule",
                ..
            })
        ));
    }

    #[test]
    fn the_compiled_registry_is_valid_and_optional_extensions_need_selecting() {
        let set = compiled(&ExtensionSelection::Standard).unwrap();
        assert_eq!(aliases(set), ["os-documents", "os-lock-server"]);
        let list = ExtensionSelection::Selective(vec!["OS-FLV-TOTAL-DISK".into()]);
        assert_eq!(aliases(compiled(&list).unwrap()), ["OS-FLV-TOTAL-DISK"]);
        // A duplicate between the standard and the optional lists is found too.
        assert_eq!(
            load_from(
                &ExtensionSelection::Standard,
                vec![fake("x")],
                vec![fake("x")]
            )
            .unwrap_err(),
            LoadError::DuplicateAlias("x".into())
        );
    }
}
