//! The compiled radix router: route declarations in, `(route, params)` out.
//!
//! Built once at start-up (like the Routes mapper Nova uses) and then immutable; every core
//! worker shares one [`Router`] read-only. Patterns are `/`-separated segments, each static
//! text, `{name}` (any non-empty segment) or `{name:hex}` (`[0-9a-f-]+`, Nova's project id).
//! Lookup walks one tree node per segment, static children first and parameter children
//! after, backtracking when a branch fails deeper down; it never allocates (parameter values
//! are collected in an inline array). A path that exists for another method is told apart
//! from one that does not exist at all. The router also writes URLs back from a route and its
//! parameters, for `links`. It knows nothing about Nova. No `unsafe`.
//!
//! ```
//! use ringnova::router::{Builder, Method};
//! let mut builder = Builder::new();
//! builder.insert(Method::Get, "/servers/detail", "detail").unwrap();
//! let show = builder.insert(Method::Get, "/servers/{server_id}", "show").unwrap();
//! let router = builder.build();
//! let found = router.at(Method::Get, "/servers/abc").unwrap();
//! assert_eq!((*found.value, found.params.get("server_id")), ("show", Some("abc")));
//! assert_eq!(*router.at(Method::Get, "/servers/detail").unwrap().value, "detail");
//! let mut url = Vec::new();
//! router.url(show, &["x1"], &mut url).unwrap();
//! assert_eq!(url, b"/servers/x1");
//! ```

mod method;
mod params;
mod tree;

use std::fmt;

use smallvec::SmallVec;

pub use method::Method;
pub use params::{Params, INLINE_PARAMS};
use tree::{Node, ParamKind, Segment};

/// Identifies a route: dense, in insertion order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteId(pub u32);

/// Why a route could not be inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertError {
    /// The pattern is malformed.
    Pattern(&'static str),
    /// Another route has the same method and shape.
    Conflict {
        /// The pattern being inserted.
        pattern: &'static str,
        /// The route already there.
        existing: &'static str,
    },
}

impl fmt::Display for InsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::Pattern(pattern) => write!(f, "malformed route pattern {pattern:?}"),
            InsertError::Conflict { pattern, existing } => {
                write!(f, "route {pattern:?} conflicts with {existing:?}")
            }
        }
    }
}

impl std::error::Error for InsertError {}

/// Why a lookup found nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchError {
    /// No route has this path.
    NotFound,
    /// Routes have this path, but not for this method.
    MethodNotAllowed,
}

impl fmt::Display for MatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchError::NotFound => "no route for this path",
            MatchError::MethodNotAllowed => "no route for this method",
        })
    }
}

impl std::error::Error for MatchError {}

/// Why a URL could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// The route has `expected` parameters but `got` were given.
    ParamCount {
        /// Parameters in the pattern.
        expected: usize,
        /// Values given.
        got: usize,
    },
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::ParamCount { expected, got } => {
                write!(f, "route takes {expected} parameters, {got} given")
            }
        }
    }
}

impl std::error::Error for UrlError {}

#[derive(Debug)]
struct Route<T> {
    pattern: &'static str,
    method: Method,
    segments: Vec<Segment>,
    names: Vec<&'static str>,
    value: T,
}

/// A successful lookup.
#[derive(Debug)]
pub struct Match<'r, 'p, T> {
    /// The route.
    pub id: RouteId,
    /// The value stored with it.
    pub value: &'r T,
    /// Its parameters.
    pub params: Params<'r, 'p>,
}

/// Collects routes; [`Builder::build`] compiles them.
#[derive(Debug)]
pub struct Builder<T> {
    root: Node,
    routes: Vec<Route<T>>,
}

impl<T> Default for Builder<T> {
    fn default() -> Self {
        Builder {
            root: Node::new(),
            routes: Vec::new(),
        }
    }
}

fn parse_pattern(pattern: &'static str) -> Result<Vec<Segment>, InsertError> {
    let bad = InsertError::Pattern(pattern);
    let body = pattern.strip_prefix('/').ok_or(bad)?;
    if body.is_empty() {
        return Ok(Vec::new());
    }
    body.split('/')
        .map(|segment| {
            if segment.is_empty() {
                return Err(bad);
            }
            match segment.strip_prefix('{') {
                Some(inner) => {
                    let inner = inner.strip_suffix('}').ok_or(bad)?;
                    let (name, kind) = match inner.split_once(':') {
                        Some((name, "hex")) => (name, ParamKind::Hex),
                        Some(_) => return Err(bad),
                        None => (inner, ParamKind::Any),
                    };
                    let valid = !name.is_empty()
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    valid.then_some(Segment::Param(name, kind)).ok_or(bad)
                }
                None if segment.contains(['{', '}']) => Err(bad),
                None => Ok(Segment::Static(segment)),
            }
        })
        .collect()
}

impl<T> Builder<T> {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route; see the module doc for the pattern syntax.
    pub fn insert(
        &mut self,
        method: Method,
        pattern: &'static str,
        value: T,
    ) -> Result<RouteId, InsertError> {
        let segments = parse_pattern(pattern)?;
        let id = self.routes.len() as u32;
        let node = self.root.descend(&segments);
        if let Some(existing) = node.routes[method.slot()] {
            return Err(InsertError::Conflict {
                pattern,
                existing: self.routes[existing as usize].pattern,
            });
        }
        node.routes[method.slot()] = Some(id);
        let names = segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(name, _) => Some(*name),
                Segment::Static(_) => None,
            })
            .collect();
        self.routes.push(Route {
            pattern,
            method,
            segments,
            names,
            value,
        });
        Ok(RouteId(id))
    }

    /// Compiles the routes into an immutable router.
    pub fn build(mut self) -> Router<T> {
        self.root.freeze();
        Router {
            root: self.root,
            routes: self.routes,
        }
    }
}

/// The compiled, immutable router.
#[derive(Debug)]
pub struct Router<T> {
    root: Node,
    routes: Vec<Route<T>>,
}

impl<T> Router<T> {
    /// Looks up a percent-decoded path. Never allocates for routes with up to
    /// [`INLINE_PARAMS`] parameters.
    pub fn at<'r, 'p>(
        &'r self,
        method: Method,
        path: &'p str,
    ) -> Result<Match<'r, 'p, T>, MatchError> {
        let rest = if path == "/" { "" } else { path };
        if !rest.is_empty() && !rest.starts_with('/') {
            return Err(MatchError::NotFound);
        }
        let mut values: SmallVec<[&'p str; INLINE_PARAMS]> = SmallVec::new();
        let mut seen = false;
        match self.root.lookup(method, rest, &mut values, &mut seen) {
            Some(id) => {
                let route = &self.routes[id as usize];
                Ok(Match {
                    id: RouteId(id),
                    value: &route.value,
                    params: Params::from_parts(&route.names, &values),
                })
            }
            None if seen => Err(MatchError::MethodNotAllowed),
            None => Err(MatchError::NotFound),
        }
    }

    /// Writes the route's path with `params` substituted in order (no escaping).
    pub fn url(&self, id: RouteId, params: &[&str], out: &mut Vec<u8>) -> Result<(), UrlError> {
        let route = &self.routes[id.0 as usize];
        if route.names.len() != params.len() {
            return Err(UrlError::ParamCount {
                expected: route.names.len(),
                got: params.len(),
            });
        }
        if route.segments.is_empty() {
            out.push(b'/');
            return Ok(());
        }
        let mut values = params.iter();
        for segment in &route.segments {
            out.push(b'/');
            match segment {
                Segment::Static(text) => out.extend_from_slice(text.as_bytes()),
                Segment::Param(..) => {
                    out.extend_from_slice(values.next().unwrap_or(&"").as_bytes())
                }
            }
        }
        Ok(())
    }

    /// The pattern a route was declared with.
    pub fn pattern(&self, id: RouteId) -> &'static str {
        self.routes[id.0 as usize].pattern
    }

    /// The method a route was declared with.
    pub fn method(&self, id: RouteId) -> Method {
        self.routes[id.0 as usize].method
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when there are no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(Method, &'static str)]) -> Router<&'static str> {
        let mut builder = Builder::new();
        for &(method, pattern) in routes {
            builder.insert(method, pattern, pattern).unwrap();
        }
        builder.build()
    }

    /// (method, path, expected pattern or error, expected params)
    type Case = (
        Method,
        &'static str,
        Result<&'static str, MatchError>,
        &'static [(&'static str, &'static str)],
    );

    fn check(router: &Router<&'static str>, cases: &[Case]) {
        for &(method, path, want, params) in cases {
            let got = router.at(method, path);
            match (got, want) {
                (Ok(found), Ok(pattern)) => {
                    assert_eq!(*found.value, pattern, "{method} {path}");
                    let got: Vec<_> = found.params.iter().collect();
                    assert_eq!(got, params, "{method} {path}");
                }
                (Err(err), Err(want)) => assert_eq!(err, want, "{method} {path}"),
                (got, want) => panic!(
                    "{method} {path}: got {:?}, want {want:?}",
                    got.map(|m| *m.value)
                ),
            }
        }
    }

    #[test]
    fn static_beats_param_and_backtracks() {
        use Method::*;
        let r = router(&[
            (Get, "/servers/detail"),
            (Get, "/servers/{id}"),
            (Get, "/{project_id:hex}/servers"),
            (Get, "/servers/{server_id}/metadata/{key}"),
            (Get, "/servers/detail/extra"),
            (Delete, "/servers/{id}"),
        ]);
        check(
            &r,
            &[
                (Get, "/servers/detail", Ok("/servers/detail"), &[]),
                (Get, "/servers/abc", Ok("/servers/{id}"), &[("id", "abc")]),
                (
                    Get,
                    "/0123abcd/servers",
                    Ok("/{project_id:hex}/servers"),
                    &[("project_id", "0123abcd")],
                ),
                (
                    Get,
                    "/servers/detail/metadata/k",
                    Ok("/servers/{server_id}/metadata/{key}"),
                    &[("server_id", "detail"), ("key", "k")],
                ),
                (
                    Delete,
                    "/servers/detail",
                    Ok("/servers/{id}"),
                    &[("id", "detail")],
                ),
                (
                    Get,
                    "/servers/detail/extra",
                    Ok("/servers/detail/extra"),
                    &[],
                ),
            ],
        );
    }

    #[test]
    fn hex_constraint() {
        use Method::*;
        let r = router(&[(Get, "/{project_id:hex}/flavors"), (Get, "/flavors")]);
        check(
            &r,
            &[
                (
                    Get,
                    "/abc-123/flavors",
                    Ok("/{project_id:hex}/flavors"),
                    &[("project_id", "abc-123")],
                ),
                (Get, "/ABC/flavors", Err(MatchError::NotFound), &[]),
                (Get, "/xyz/flavors", Err(MatchError::NotFound), &[]),
                (Get, "/flavors", Ok("/flavors"), &[]),
            ],
        );
    }

    #[test]
    fn root_trailing_slash_and_empty_segments() {
        use Method::*;
        let r = router(&[(Get, "/"), (Get, "/servers"), (Get, "/servers/{id}")]);
        check(
            &r,
            &[
                (Get, "/", Ok("/"), &[]),
                (Get, "", Ok("/"), &[]),
                (Get, "/servers", Ok("/servers"), &[]),
                (Get, "/servers/", Err(MatchError::NotFound), &[]),
                (Get, "//servers", Err(MatchError::NotFound), &[]),
                (Get, "/servers//", Err(MatchError::NotFound), &[]),
                (Get, "servers", Err(MatchError::NotFound), &[]),
                (Get, "/servers/a/b", Err(MatchError::NotFound), &[]),
            ],
        );
    }

    #[test]
    fn method_not_allowed_is_told_apart() {
        use Method::*;
        let r = router(&[
            (Get, "/servers"),
            (Post, "/servers"),
            (Get, "/servers/{id}"),
        ]);
        check(
            &r,
            &[
                (Put, "/servers", Err(MatchError::MethodNotAllowed), &[]),
                (Delete, "/servers/x", Err(MatchError::MethodNotAllowed), &[]),
                (Delete, "/nothing", Err(MatchError::NotFound), &[]),
                (Post, "/servers", Ok("/servers"), &[]),
            ],
        );
    }

    #[test]
    fn insert_errors() {
        let mut b = Builder::new();
        b.insert(Method::Get, "/servers/{id}", ()).unwrap();
        assert_eq!(
            b.insert(Method::Get, "/servers/{server_id}", ()),
            Err(InsertError::Conflict {
                pattern: "/servers/{server_id}",
                existing: "/servers/{id}"
            })
        );
        assert!(b.insert(Method::Delete, "/servers/{server_id}", ()).is_ok());
        for bad in [
            "servers",
            "/a//b",
            "/{}",
            "/{id",
            "/a{b}",
            "/{id:num}",
            "/{i d}",
            "/x/",
        ] {
            assert_eq!(
                b.insert(Method::Get, bad, ()),
                Err(InsertError::Pattern(bad)),
                "{bad}"
            );
        }
    }

    #[test]
    fn reverse_urls() {
        let mut b = Builder::new();
        let root = b.insert(Method::Get, "/", ()).unwrap();
        let list = b.insert(Method::Get, "/flavors", ()).unwrap();
        let spec = b
            .insert(
                Method::Get,
                "/{project_id:hex}/flavors/{flavor_id}/os-extra_specs/{id}",
                (),
            )
            .unwrap();
        let r = b.build();
        let mut out = Vec::new();
        r.url(root, &[], &mut out).unwrap();
        assert_eq!(out, b"/");
        out.clear();
        r.url(list, &[], &mut out).unwrap();
        assert_eq!(out, b"/flavors");
        out.clear();
        r.url(spec, &["ab", "1", "hw:cpu"], &mut out).unwrap();
        assert_eq!(out, b"/ab/flavors/1/os-extra_specs/hw:cpu");
        assert_eq!(
            r.url(spec, &["ab"], &mut out),
            Err(UrlError::ParamCount {
                expected: 3,
                got: 1
            })
        );
        assert_eq!(r.pattern(list), "/flavors");
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn many_params_spill_correctly() {
        let mut b = Builder::new();
        b.insert(Method::Get, "/{a}/{b}/{c}/{d}/{e}/{f}", ())
            .unwrap();
        b.insert(Method::Get, "/x/{a}/{b}", ()).unwrap();
        let r = b.build();
        let found = r.at(Method::Get, "/1/2/3/4/5/6").unwrap();
        let values: Vec<_> = found.params.iter().map(|(_, v)| v).collect();
        assert_eq!(values, ["1", "2", "3", "4", "5", "6"]);
        assert_eq!(found.params.get("f"), Some("6"));
        assert!(!found.params.is_inline());
        let small = r.at(Method::Get, "/x/1/2").unwrap();
        assert!(
            small.params.is_inline(),
            "up to four parameters stay inline"
        );
    }

    #[test]
    fn nova_like_table_of_100_routes() {
        use Method::*;
        const BASE: &[(Method, &str, &str)] = &[
            (Get, "/servers", "/{project_id:hex}/servers"),
            (Post, "/servers", "/{project_id:hex}/servers"),
            (Get, "/servers/detail", "/{project_id:hex}/servers/detail"),
            (Get, "/servers/{id}", "/{project_id:hex}/servers/{id}"),
            (Put, "/servers/{id}", "/{project_id:hex}/servers/{id}"),
            (Delete, "/servers/{id}", "/{project_id:hex}/servers/{id}"),
            (
                Post,
                "/servers/{server_id}/action",
                "/{project_id:hex}/servers/{server_id}/action",
            ),
            (
                Get,
                "/servers/{server_id}/metadata",
                "/{project_id:hex}/servers/{server_id}/metadata",
            ),
            (
                Put,
                "/servers/{server_id}/metadata",
                "/{project_id:hex}/servers/{server_id}/metadata",
            ),
            (
                Post,
                "/servers/{server_id}/metadata",
                "/{project_id:hex}/servers/{server_id}/metadata",
            ),
            (
                Get,
                "/servers/{server_id}/metadata/{id}",
                "/{project_id:hex}/servers/{server_id}/metadata/{id}",
            ),
            (
                Put,
                "/servers/{server_id}/metadata/{id}",
                "/{project_id:hex}/servers/{server_id}/metadata/{id}",
            ),
            (
                Delete,
                "/servers/{server_id}/metadata/{id}",
                "/{project_id:hex}/servers/{server_id}/metadata/{id}",
            ),
            (Get, "/flavors", "/{project_id:hex}/flavors"),
            (Post, "/flavors", "/{project_id:hex}/flavors"),
            (Get, "/flavors/detail", "/{project_id:hex}/flavors/detail"),
            (Get, "/flavors/{id}", "/{project_id:hex}/flavors/{id}"),
            (Delete, "/flavors/{id}", "/{project_id:hex}/flavors/{id}"),
            (
                Get,
                "/flavors/{flavor_id}/os-extra_specs",
                "/{project_id:hex}/flavors/{flavor_id}/os-extra_specs",
            ),
            (
                Post,
                "/flavors/{flavor_id}/os-extra_specs",
                "/{project_id:hex}/flavors/{flavor_id}/os-extra_specs",
            ),
            (
                Get,
                "/flavors/{flavor_id}/os-extra_specs/{id}",
                "/{project_id:hex}/flavors/{flavor_id}/os-extra_specs/{id}",
            ),
            (
                Put,
                "/flavors/{flavor_id}/os-extra_specs/{id}",
                "/{project_id:hex}/flavors/{flavor_id}/os-extra_specs/{id}",
            ),
            (
                Delete,
                "/flavors/{flavor_id}/os-extra_specs/{id}",
                "/{project_id:hex}/flavors/{flavor_id}/os-extra_specs/{id}",
            ),
            (Get, "/os-keypairs", "/{project_id:hex}/os-keypairs"),
            (Post, "/os-keypairs", "/{project_id:hex}/os-keypairs"),
            (
                Get,
                "/os-keypairs/{id}",
                "/{project_id:hex}/os-keypairs/{id}",
            ),
            (
                Delete,
                "/os-keypairs/{id}",
                "/{project_id:hex}/os-keypairs/{id}",
            ),
            (Get, "/limits", "/{project_id:hex}/limits"),
            (
                Get,
                "/os-quota-sets/{id}",
                "/{project_id:hex}/os-quota-sets/{id}",
            ),
            (
                Put,
                "/os-quota-sets/{id}",
                "/{project_id:hex}/os-quota-sets/{id}",
            ),
            (
                Delete,
                "/os-quota-sets/{id}",
                "/{project_id:hex}/os-quota-sets/{id}",
            ),
            (
                Get,
                "/os-quota-sets/{id}/defaults",
                "/{project_id:hex}/os-quota-sets/{id}/defaults",
            ),
            (
                Get,
                "/os-quota-sets/{id}/detail",
                "/{project_id:hex}/os-quota-sets/{id}/detail",
            ),
            (Get, "/images", "/{project_id:hex}/images"),
            (Get, "/images/detail", "/{project_id:hex}/images/detail"),
            (Get, "/images/{id}", "/{project_id:hex}/images/{id}"),
            (Delete, "/images/{id}", "/{project_id:hex}/images/{id}"),
            (Get, "/extensions", "/{project_id:hex}/extensions"),
            (Get, "/extensions/{id}", "/{project_id:hex}/extensions/{id}"),
            (Get, "/os-documents", "/{project_id:hex}/os-documents"),
            (Post, "/os-documents", "/{project_id:hex}/os-documents"),
            (
                Get,
                "/os-documents/{id}",
                "/{project_id:hex}/os-documents/{id}",
            ),
            (
                Put,
                "/os-documents/{id}",
                "/{project_id:hex}/os-documents/{id}",
            ),
            (
                Delete,
                "/os-documents/{id}",
                "/{project_id:hex}/os-documents/{id}",
            ),
            (Get, "/versions/{id}", "/{project_id:hex}/versions/{id}"),
            (
                Get,
                "/os-availability-zone",
                "/{project_id:hex}/os-availability-zone",
            ),
            (
                Get,
                "/os-availability-zone/detail",
                "/{project_id:hex}/os-availability-zone/detail",
            ),
            (Get, "/os-hypervisors", "/{project_id:hex}/os-hypervisors"),
            (Get, "/os-services", "/{project_id:hex}/os-services"),
            (
                Get,
                "/os-simple-tenant-usage",
                "/{project_id:hex}/os-simple-tenant-usage",
            ),
        ];
        let mut b = Builder::new();
        let mut ids = Vec::new();
        for &(method, plain, with_project) in BASE {
            ids.push((method, plain, b.insert(method, plain, plain).unwrap()));
            ids.push((
                method,
                with_project,
                b.insert(method, with_project, with_project).unwrap(),
            ));
        }
        let r = b.build();
        assert_eq!(r.len(), 100);
        // Every route is found from a URL generated from it, with its own params.
        for (method, pattern, id) in ids {
            let names: Vec<&str> = pattern.split('/').filter(|s| s.starts_with('{')).collect();
            let values: Vec<String> = (0..names.len())
                .map(|i| format!("{:x}a{i}", 0xbeef + i))
                .collect();
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let mut url = Vec::new();
            r.url(id, &refs, &mut url).unwrap();
            let path = String::from_utf8(url).unwrap();
            let found = r
                .at(method, &path)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            assert_eq!(
                found.id,
                id,
                "{method} {path} matched {}",
                r.pattern(found.id)
            );
            let got: Vec<&str> = found.params.iter().map(|(_, v)| v).collect();
            assert_eq!(got, refs, "{method} {path}");
        }
        check(
            &r,
            &[
                (Method::Get, "/servers/detail", Ok("/servers/detail"), &[]),
                (
                    Method::Get,
                    "/abcdef/servers/detail",
                    Ok("/{project_id:hex}/servers/detail"),
                    &[("project_id", "abcdef")],
                ),
                (
                    Method::Patch,
                    "/servers",
                    Err(MatchError::MethodNotAllowed),
                    &[],
                ),
                (Method::Get, "/nothing/here", Err(MatchError::NotFound), &[]),
            ],
        );
    }
}
