//! A radix-tree router. It is compiled once at start-up from route declarations and
//! only read after that.
//!
//! It does the job of the Routes mapper that Nova uses. [`Builder::insert`] declares a
//! `(method, pattern, value)` route, [`Builder::build`] compiles the routes into a
//! [`Router`], and [`Router::at`] maps a request's method and percent-decoded path to the
//! route's value and its `{param}` values. [`Router::url`] writes a path back from a route
//! and its parameter values (for `links`).
//!
//! # Where it sits
//!
//! The server builds one `Router` at start-up. Every core worker thread shares it read-only.
//! `Router<T>` is `Send + Sync` whenever `T` is, so the workers need no lock and no copy of
//! their own. The module uses no other module of the crate and knows nothing about Nova,
//! so it could become a crate of its own.
//!
//! # What it must never do
//!
//! * **Change after build.** A `Router` has no `&mut self` method. The tree is sorted
//!   once in [`Builder::build`] and only read after that.
//! * **Allocate on lookup.** [`Router::at`] returns slices of the path and references
//!   into the router. The only container it fills is the match's [`Params`], which keeps up
//!   to [`INLINE_PARAMS`] pairs inline. The walk holds at most one value per `{param}` on
//!   the branch it is trying, and no route has more than [`Router::max_params`] of those.
//!   So when `max_params() <= INLINE_PARAMS` (true for every Nova route), a lookup never
//!   touches the heap. The server can check this once at start-up.
//!
//! # Patterns
//!
//! A pattern starts with `/` and is made of `/`-separated segments. Each segment is one of:
//!
//! * static text, matched exactly (no `{` or `}`);
//! * `{name}`, which matches any one non-empty segment;
//! * `{name:hex}`, which matches one or more of `[0-9a-f-]` (Nova's
//!   `{project_id:[0-9a-f-]+}`).
//!
//! A parameter is always a whole segment. Names are `[A-Za-z0-9_]+`, and a name may appear
//! only once in a pattern. `/` alone is the root. Empty segments (`//`, or a trailing `/`)
//! are malformed. Two routes conflict when they have the same method and the same shape.
//! Parameters with different names at the same place count as the same shape. A `{name}`
//! and a `{name:hex}` at the same place do not conflict.
//!
//! # Matching
//!
//! The path is walked one segment per tree node. At each node the static child is tried
//! first, then the `{name:hex}` child, then the `{name}` child. If a branch fails further
//! down, the walk comes back and tries the next branch. So with routes `/servers/detail`
//! and `/servers/{id}`, `/servers/detail` finds the static route. With routes
//! `/{project_id:hex}/servers` and `/servers/{id}`, `/0123abcd/servers` finds the first.
//!
//! The path must match exactly. `/servers/` is not `/servers`, and an empty segment never
//! matches a parameter. The one exception is the root: `/`, or an empty path (WSGI's empty
//! `PATH_INFO` under a script name), finds the `/` route. A path that has routes, but
//! none for the request's method, gives [`MatchError::MethodNotAllowed`]. Any other failed
//! path gives [`MatchError::NotFound`].
//!
//! # Example
//!
//! ```
//! use ringnova::router::{Builder, MatchError, Method};
//!
//! let mut builder = Builder::new();
//! builder.insert(Method::Get, "/servers/detail", "detail").unwrap();
//! let show = builder.insert(Method::Get, "/servers/{id}", "show").unwrap();
//! builder.insert(Method::Get, "/{project_id:hex}/servers", "index").unwrap();
//! let router = builder.build();
//!
//! let found = router.at(Method::Get, "/servers/abc").unwrap();
//! assert_eq!((*found.value, found.params.get("id")), ("show", Some("abc")));
//! assert_eq!(*router.at(Method::Get, "/servers/detail").unwrap().value, "detail");
//! let found = router.at(Method::Get, "/0123abcd/servers").unwrap();
//! assert_eq!(found.params.get("project_id"), Some("0123abcd"));
//! assert_eq!(router.at(Method::Delete, "/servers/abc").unwrap_err(), MatchError::MethodNotAllowed);
//! assert_eq!(router.at(Method::Get, "/servers/").unwrap_err(), MatchError::NotFound);
//!
//! let mut url = Vec::new();
//! router.url(show, &["x1"], &mut url).unwrap();
//! assert_eq!(url, b"/servers/x1");
//! ```

mod method;
mod params;
mod tree;

use std::fmt;

pub use method::Method;
pub use params::{Params, INLINE_PARAMS};
use tree::{Node, Segment};

/// Identifies a route. Ids are dense, in insertion order, starting at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteId(pub u32);

/// Why [`Builder::insert`] refused a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertError {
    /// The pattern is malformed (see the module doc for the syntax).
    Pattern(&'static str),
    /// Another route already has the same method and shape.
    Conflict {
        /// The pattern being inserted.
        pattern: &'static str,
        /// The pattern of the route already there.
        existing: &'static str,
    },
}

impl fmt::Display for InsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::Pattern(pattern) => write!(f, "malformed route pattern {pattern:?}"),
            InsertError::Conflict { pattern, existing } => write!(
                f,
                "route pattern {pattern:?} conflicts with {existing:?} for the same method"
            ),
        }
    }
}

impl std::error::Error for InsertError {}

/// Why [`Router::at`] found no route. (The server answers 404 to both, as Nova does.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchError {
    /// No route has this path.
    NotFound,
    /// Routes have this path, but none for this method.
    MethodNotAllowed,
}

impl fmt::Display for MatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchError::NotFound => "no route matches the path",
            MatchError::MethodNotAllowed => "no route matches the path for this method",
        })
    }
}

impl std::error::Error for MatchError {}

/// Why [`Router::url`] wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// The route has `expected` parameters but `got` values were given.
    ParamCount {
        /// Parameters in the route's pattern.
        expected: usize,
        /// Values given.
        got: usize,
    },
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::ParamCount { expected, got } => {
                write!(f, "route takes {expected} parameter values, {got} given")
            }
        }
    }
}

impl std::error::Error for UrlError {}

/// One declared route.
#[derive(Debug)]
struct Route<T> {
    pattern: &'static str,
    method: Method,
    segments: Vec<Segment>,
    /// Parameter names in pattern order; [`Params`] borrows them.
    names: Vec<&'static str>,
    value: T,
}

/// A successful lookup.
#[derive(Debug)]
pub struct Match<'r, 'p, T> {
    /// The matched route.
    pub id: RouteId,
    /// The value the route was declared with.
    pub value: &'r T,
    /// The route's parameters: names from the pattern, values borrowed from the path.
    pub params: Params<'r, 'p>,
}

/// Collects routes at start-up. [`Builder::build`] compiles them into a [`Router`].
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

impl<T> Builder<T> {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a route for `method` at `pattern`. The pattern starts with `/`, and its
    /// segments are static text, `{name}` or `{name:hex}` (`[0-9a-f-]+`); a parameter is
    /// a whole segment. `/` alone is the root. Returns the route's id: ids are dense and
    /// in insertion order, and a refused route takes no id.
    ///
    /// # Errors
    ///
    /// [`InsertError::Pattern`] for a malformed pattern: no leading `/`, an empty segment,
    /// an empty or unclosed `{}`, a bad or repeated name, an unknown constraint, or a brace
    /// in a static segment. [`InsertError::Conflict`] when a route with the same method and
    /// shape exists.
    pub fn insert(
        &mut self,
        method: Method,
        pattern: &'static str,
        value: T,
    ) -> Result<RouteId, InsertError> {
        let segments = tree::parse(pattern).ok_or(InsertError::Pattern(pattern))?;
        let id = u32::try_from(self.routes.len()).expect("fewer than 2^32 routes");
        let slot = self.root.slot(&segments, method);
        if let Some(existing) = *slot {
            return Err(InsertError::Conflict {
                pattern,
                existing: self.routes[existing as usize].pattern,
            });
        }
        *slot = Some(id);
        let names = segments
            .iter()
            .filter_map(|segment| match *segment {
                Segment::Param(name, _) => Some(name),
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

    /// Compiles the routes into the immutable router.
    pub fn build(mut self) -> Router<T> {
        self.root.freeze();
        let max_params = self.routes.iter().map(|r| r.names.len()).max();
        Router {
            root: self.root,
            routes: self.routes,
            max_params: max_params.unwrap_or(0),
        }
    }
}

/// The compiled router. It is immutable, and the core workers share it read-only.
#[derive(Debug)]
pub struct Router<T> {
    root: Node,
    routes: Vec<Route<T>>,
    max_params: usize,
}

impl<T> Router<T> {
    /// Looks up a percent-decoded path for `method`. `/` and the empty path find the root
    /// route. Any other path must start with `/` and match a pattern exactly.
    ///
    /// Never allocates when [`Router::max_params`] is at most [`INLINE_PARAMS`]. The
    /// returned [`Match`] holds only references and the inline [`Params`] (see the module
    /// doc).
    ///
    /// # Errors
    ///
    /// [`MatchError::MethodNotAllowed`] when the path has routes but none for `method`,
    /// otherwise [`MatchError::NotFound`].
    pub fn at<'r, 'p>(
        &'r self,
        method: Method,
        path: &'p str,
    ) -> Result<Match<'r, 'p, T>, MatchError> {
        let rest = if path == "/" { "" } else { path };
        // Everything the lookup uses: `params` (inline up to INLINE_PARAMS pairs) and `seen`.
        let mut params = Params::new();
        let mut seen = false;
        match self.root.lookup(method, rest, &mut params, &mut seen) {
            Some(id) => {
                let route = &self.routes[id as usize];
                params.set_names(&route.names);
                Ok(Match {
                    id: RouteId(id),
                    value: &route.value,
                    params,
                })
            }
            None if seen => Err(MatchError::MethodNotAllowed),
            None => Err(MatchError::NotFound),
        }
    }

    /// Appends the route's path to `out`. The path is the pattern with each `{param}`
    /// replaced by the next of `params`, in order, with no escaping: the caller passes safe
    /// values.
    ///
    /// # Errors
    ///
    /// [`UrlError::ParamCount`] (with `out` untouched) when `params` does not have one value
    /// per parameter.
    ///
    /// # Panics
    ///
    /// If `id` is not a route of this router.
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
            let text = match *segment {
                Segment::Static(text) => text,
                Segment::Param(..) => values.next().copied().unwrap_or_default(),
            };
            out.push(b'/');
            out.extend_from_slice(text.as_bytes());
        }
        Ok(())
    }

    /// The pattern the route was declared with.
    ///
    /// # Panics
    ///
    /// If `id` is not a route of this router.
    pub fn pattern(&self, id: RouteId) -> &'static str {
        self.routes[id.0 as usize].pattern
    }

    /// The method the route was declared for.
    ///
    /// # Panics
    ///
    /// If `id` is not a route of this router.
    pub fn method(&self, id: RouteId) -> Method {
        self.routes[id.0 as usize].method
    }

    /// The largest number of parameters in any route. When this is at most
    /// [`INLINE_PARAMS`], [`Router::at`] never allocates.
    pub fn max_params(&self) -> usize {
        self.max_params
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
    use MatchError::{MethodNotAllowed, NotFound};

    /// One lookup: a route's value is its own pattern, so `want` names the route.
    struct Case {
        method: Method,
        path: &'static str,
        params: &'static [(&'static str, &'static str)],
        want: Result<&'static str, MatchError>,
    }

    /// `Method "path" [name = "value", ...] => Ok("pattern") | Err(error);`, one per line.
    macro_rules! cases {
        ($($method:ident $path:literal $([$($name:ident = $value:literal),* $(,)?])? => $want:expr;)*) => {
            &[$(Case {
                method: Method::$method,
                path: $path,
                params: &[$($((stringify!($name), $value)),*)?],
                want: $want,
            }),*]
        };
    }

    /// A router whose values are the routes' patterns.
    fn router(routes: &[(Method, &'static str)]) -> Router<&'static str> {
        let mut builder = Builder::new();
        for &(method, pattern) in routes {
            builder.insert(method, pattern, pattern).unwrap();
        }
        builder.build()
    }

    fn check(router: &Router<&'static str>, cases: &[Case]) {
        for case in cases {
            let (method, path) = (case.method, case.path);
            match (router.at(method, path), case.want) {
                (Ok(found), Ok(pattern)) => {
                    assert_eq!(*found.value, pattern, "{method} {path:?}");
                    assert_eq!(router.pattern(found.id), pattern, "{method} {path:?}");
                    assert_eq!(router.method(found.id), method, "{method} {path:?}");
                    let got: Vec<_> = found.params.iter().collect();
                    assert_eq!(got, case.params, "{method} {path:?}");
                    for &(name, value) in case.params {
                        assert_eq!(found.params.get(name), Some(value), "{method} {path:?}");
                    }
                }
                (Err(err), Err(want)) => assert_eq!(err, want, "{method} {path:?}"),
                (got, want) => panic!(
                    "{method} {path:?}: got {:?}, want {want:?}",
                    got.map(|m| *m.value)
                ),
            }
        }
    }

    #[test]
    fn static_beats_param() {
        use Method::*;
        let r = router(&[
            (Get, "/{project_id:hex}/servers"),
            (Get, "/servers/{id}"),
            (Get, "/servers/detail"),
            (Get, "/{project_id:hex}/servers/detail"),
            (Get, "/{project_id:hex}/servers/{id}"),
            (Get, "/{id}"),
            (Get, "/limits"),
        ]);
        check(
            &r,
            cases! {
                Get "/servers/abc" [id = "abc"] => Ok("/servers/{id}");
                Get "/servers/detail" => Ok("/servers/detail");
                Get "/servers/details" [id = "details"] => Ok("/servers/{id}");
                Get "/0123abcd/servers" [project_id = "0123abcd"] => Ok("/{project_id:hex}/servers");
                Get "/0123abcd/servers/detail" [project_id = "0123abcd"] => Ok("/{project_id:hex}/servers/detail");
                Get "/0123abcd/servers/ab" [project_id = "0123abcd", id = "ab"] => Ok("/{project_id:hex}/servers/{id}");
                Get "/limits" => Ok("/limits");
                Get "/limit" [id = "limit"] => Ok("/{id}");
                Get "/servers" [id = "servers"] => Ok("/{id}");
            },
        );
    }

    #[test]
    fn backtracking() {
        use Method::*;
        let r = router(&[
            (Get, "/servers/detail"),
            (Get, "/servers/detail/extra"),
            (Post, "/servers/{server_id}/action"),
            (Get, "/servers/{server_id}/metadata/{key}"),
            (Get, "/{project_id:hex}/flavors"),
            (Get, "/abc/images"),
            (Get, "/{a:hex}/{b}/x"),
            (Get, "/{c}/{d}/y"),
            (Delete, "/servers/{id}"),
        ]);
        check(
            &r,
            cases! {
                Get "/servers/detail/extra" => Ok("/servers/detail/extra");
                Post "/servers/detail/action" [server_id = "detail"] => Ok("/servers/{server_id}/action");
                Get "/servers/detail/metadata/k" [server_id = "detail", key = "k"] => Ok("/servers/{server_id}/metadata/{key}");
                Get "/abc/images" => Ok("/abc/images");
                Get "/abc/flavors" [project_id = "abc"] => Ok("/{project_id:hex}/flavors");
                Get "/ab/cd/x" [a = "ab", b = "cd"] => Ok("/{a:hex}/{b}/x");
                Get "/ab/cd/y" [c = "ab", d = "cd"] => Ok("/{c}/{d}/y");
                Get "/zz/cd/y" [c = "zz", d = "cd"] => Ok("/{c}/{d}/y");
                Get "/zz/cd/x" => Err(NotFound);
                Delete "/servers/detail" [id = "detail"] => Ok("/servers/{id}");
                Post "/servers/detail" => Err(MethodNotAllowed);
                Get "/servers/detail/extra/more" => Err(NotFound);
            },
        );
    }

    #[test]
    fn hex_constraint() {
        use Method::*;
        let r = router(&[
            (Get, "/{project_id:hex}/flavors"),
            (Get, "/flavors"),
            (Get, "/servers/{id:hex}"),
        ]);
        check(
            &r,
            cases! {
                Get "/abc-123/flavors" [project_id = "abc-123"] => Ok("/{project_id:hex}/flavors");
                Get "/6f70656e-7374-6163-6b20-70726f6a6563/flavors" [project_id = "6f70656e-7374-6163-6b20-70726f6a6563"] => Ok("/{project_id:hex}/flavors");
                Get "/0/flavors" [project_id = "0"] => Ok("/{project_id:hex}/flavors");
                Get "/-/flavors" [project_id = "-"] => Ok("/{project_id:hex}/flavors");
                Get "/ABC/flavors" => Err(NotFound);
                Get "/abg/flavors" => Err(NotFound);
                Get "/a_b/flavors" => Err(NotFound);
                Get "//flavors" => Err(NotFound);
                Get "/flavors" => Ok("/flavors");
                Get "/servers/deadbeef" [id = "deadbeef"] => Ok("/servers/{id:hex}");
                Get "/servers/detail" => Err(NotFound);
            },
        );
    }

    #[test]
    fn root_trailing_slash_and_empty_segments() {
        use Method::*;
        let r = router(&[
            (Get, "/"),
            (Get, "/servers"),
            (Get, "/servers/{id}"),
            (Get, "/{a}/{b}"),
        ]);
        check(
            &r,
            cases! {
                Get "/" => Ok("/");
                Get "" => Ok("/");
                Get "//" => Err(NotFound);
                Get "/servers" => Ok("/servers");
                Get "/servers/" => Err(NotFound);
                Get "/servers//" => Err(NotFound);
                Get "//servers" => Err(NotFound);
                Get "/servers/x" [id = "x"] => Ok("/servers/{id}");
                Get "/servers/x/" => Err(NotFound);
                Get "/servers/a/b" => Err(NotFound);
                Get "/x/y" [a = "x", b = "y"] => Ok("/{a}/{b}");
                Get "/x//y" => Err(NotFound);
                Get "/x/" => Err(NotFound);
                Get "servers" => Err(NotFound);
                Get "servers/x" => Err(NotFound);
                Get "?" => Err(NotFound);
            },
        );
        let no_root = router(&[(Get, "/servers")]);
        check(
            &no_root,
            cases! {
                Get "/" => Err(NotFound);
                Get "" => Err(NotFound);
            },
        );
    }

    #[test]
    fn method_not_allowed_vs_not_found() {
        use Method::*;
        let r = router(&[
            (Get, "/"),
            (Get, "/servers"),
            (Post, "/servers"),
            (Get, "/servers/{id}"),
            (Post, "/servers/{server_id}/action"),
        ]);
        check(
            &r,
            cases! {
                Put "/servers" => Err(MethodNotAllowed);
                Head "/servers" => Err(MethodNotAllowed);
                Post "/servers" => Ok("/servers");
                Delete "/servers/x" => Err(MethodNotAllowed);
                Get "/servers/x/action" => Err(MethodNotAllowed);
                Options "/" => Err(MethodNotAllowed);
                Delete "" => Err(MethodNotAllowed);
                Delete "/nothing/here" => Err(NotFound);
                Delete "/servers/x/reboot" => Err(NotFound);
                Delete "/servers/" => Err(NotFound);
                Get "/servers/x/" => Err(NotFound);
            },
        );
    }

    #[test]
    fn conflicts_are_rejected_and_ids_stay_dense() {
        use Method::*;
        let mut b = Builder::new();
        // (method, pattern, expected: Ok(id) or Err(existing pattern))
        #[rustfmt::skip]
        let table: &[(Method, &'static str, Result<u32, &'static str>)] = &[
            (Get, "/servers/{id}", Ok(0)),
            (Get, "/servers/{server_id}", Err("/servers/{id}")),
            (Get, "/servers/{id}", Err("/servers/{id}")),
            (Delete, "/servers/{server_id}", Ok(1)),
            (Delete, "/servers/{id}", Err("/servers/{server_id}")),
            (Get, "/servers/{id:hex}", Ok(2)),
            (Get, "/servers/{uuid:hex}", Err("/servers/{id:hex}")),
            (Get, "/servers/detail", Ok(3)),
            (Get, "/servers", Ok(4)),
            (Get, "/{project_id:hex}/servers", Ok(5)),
            (Get, "/{tenant_id:hex}/servers", Err("/{project_id:hex}/servers")),
            (Get, "/{tenant_id}/servers", Ok(6)),
            (Get, "/", Ok(7)),
            (Get, "/", Err("/")),
            (Head, "/", Ok(8)),
        ];
        for (i, &(method, pattern, want)) in table.iter().enumerate() {
            let got = b.insert(method, pattern, i);
            let want = match want {
                Ok(id) => Ok(RouteId(id)),
                Err(existing) => Err(InsertError::Conflict { pattern, existing }),
            };
            assert_eq!(got, want, "{method} {pattern}");
        }
        let r = b.build();
        assert_eq!(r.len(), 9);
        // Refused routes left the table as it was.
        assert_eq!(*r.at(Get, "/servers/x").unwrap().value, 0);
        assert_eq!(*r.at(Delete, "/servers/x").unwrap().value, 3);
        assert_eq!(*r.at(Get, "/").unwrap().value, 12);
    }

    #[test]
    fn malformed_patterns_are_rejected() {
        let mut b = Builder::new();
        #[rustfmt::skip]
        let bad = [
            "", "servers", "*", "//", "/a//b", "/servers/", "/{}", "/{:hex}", "/{id", "/id}",
            "/{id}x", "/x{id}", "/se{rv}ers", "/{id:num}", "/{id:}", "/{id:HEX}",
            "/{id:[0-9a-f-]+}", "/{i d}", "/{id}/x/{id}", "/{a{b}}",
        ];
        for pattern in bad {
            assert_eq!(
                b.insert(Method::Get, pattern, ()),
                Err(InsertError::Pattern(pattern)),
                "{pattern:?}"
            );
        }
        assert_eq!(b.insert(Method::Get, "/ok", ()), Ok(RouteId(0)));
        assert_eq!(b.build().len(), 1);
    }

    #[test]
    fn params_in_order_with_names() {
        use Method::*;
        let r = router(&[
            (Get, "/{project_id:hex}/servers/{server_id}/metadata/{key}"),
            (Get, "/flavors/{flavor_id}/os-extra_specs/{id}"),
            (Get, "/{z}/{a}/{m}"),
        ]);
        check(
            &r,
            cases! {
                Get "/ab/servers/s1/metadata/k1" [project_id = "ab", server_id = "s1", key = "k1"] => Ok("/{project_id:hex}/servers/{server_id}/metadata/{key}");
                Get "/flavors/1/os-extra_specs/hw:cpu_policy" [flavor_id = "1", id = "hw:cpu_policy"] => Ok("/flavors/{flavor_id}/os-extra_specs/{id}");
                Get "/3/1/2" [z = "3", a = "1", m = "2"] => Ok("/{z}/{a}/{m}");
                Get "/x y/%2F/é" [z = "x y", a = "%2F", m = "é"] => Ok("/{z}/{a}/{m}");
            },
        );
        let found = r.at(Get, "/3/1/2").unwrap();
        assert_eq!(found.params.len(), 3);
        assert!(!found.params.is_empty());
        assert_eq!(found.params.get("missing"), None);
        let single = router(&[(Get, "/x")]);
        let found = single.at(Get, "/x").unwrap().params;
        assert!(found.is_empty() && found.is_inline());
    }

    #[test]
    fn reverse_urls() {
        let mut b = Builder::new();
        #[rustfmt::skip]
        let table: &[(&'static str, &[&str], Result<&str, UrlError>)] = &[
            ("/", &[], Ok("/")),
            ("/", &["x"], Err(UrlError::ParamCount { expected: 0, got: 1 })),
            ("/flavors", &[], Ok("/flavors")),
            ("/flavors/detail", &[], Ok("/flavors/detail")),
            ("/servers/{id}", &["abc"], Ok("/servers/abc")),
            ("/servers/{id}", &[], Err(UrlError::ParamCount { expected: 1, got: 0 })),
            ("/{project_id:hex}/servers/{server_id}/metadata/{key}", &["ab", "s", "k"], Ok("/ab/servers/s/metadata/k")),
            ("/{project_id:hex}/flavors/{flavor_id}/os-extra_specs/{id}", &["ab", "1", "hw:cpu"], Ok("/ab/flavors/1/os-extra_specs/hw:cpu")),
            ("/{project_id:hex}/flavors/{flavor_id}/os-extra_specs/{id}", &["ab"], Err(UrlError::ParamCount { expected: 3, got: 1 })),
            ("/{project_id:hex}/flavors/{flavor_id}/os-extra_specs/{id}", &["a", "b", "c", "d"], Err(UrlError::ParamCount { expected: 3, got: 4 })),
            ("/{a}/{b}/{c}/{d}/{e}", &["1", "2", "3", "4", "5"], Ok("/1/2/3/4/5")),
            ("/raw/{x}", &["a b/c?d"], Ok("/raw/a b/c?d")),
        ];
        let ids: Vec<_> = table
            .iter()
            .map(|&(pattern, _, _)| {
                // A pattern repeated in the table is declared again for the next method.
                Method::ALL
                    .into_iter()
                    .find_map(|method| b.insert(method, pattern, ()).ok())
                    .unwrap()
            })
            .collect();
        let r = b.build();
        for (&(pattern, params, want), id) in table.iter().zip(ids) {
            assert_eq!(r.pattern(id), pattern);
            let mut out = b"prefix".to_vec();
            let got = r.url(id, params, &mut out);
            match want {
                Ok(url) => {
                    assert_eq!(got, Ok(()), "{pattern} {params:?}");
                    assert_eq!(&out[6..], url.as_bytes(), "{pattern} {params:?}");
                    assert_eq!(&out[..6], b"prefix", "appends");
                }
                Err(err) => {
                    assert_eq!(got, Err(err), "{pattern} {params:?}");
                    assert_eq!(out, b"prefix", "untouched on error");
                }
            }
        }
    }

    #[test]
    fn more_than_inline_params_spill_correctly() {
        use Method::*;
        let r = router(&[
            (Get, "/{a}/{b}/{c}/{d}/{e}/{f}"),
            (Get, "/{p:hex}/{q}/{r}/{s}/{t}/y"),
            (Get, "/{a}/{b}/{c}/{d}/{e}/x"),
            (Get, "/few/{a}/{b}/{c}/{d}"),
        ]);
        assert_eq!(r.max_params(), 6);
        check(
            &r,
            cases! {
                Get "/1/2/3/4/5/6" [a = "1", b = "2", c = "3", d = "4", e = "5", f = "6"] => Ok("/{a}/{b}/{c}/{d}/{e}/{f}");
                Get "/ab/2/3/4/5/y" [p = "ab", q = "2", r = "3", s = "4", t = "5"] => Ok("/{p:hex}/{q}/{r}/{s}/{t}/y");
                Get "/ab/2/3/4/5/x" [a = "ab", b = "2", c = "3", d = "4", e = "5"] => Ok("/{a}/{b}/{c}/{d}/{e}/x");
                Get "/few/1/2/3/4" [a = "1", b = "2", c = "3", d = "4"] => Ok("/few/{a}/{b}/{c}/{d}");
                Get "/1/2/3/4/5/6/7" => Err(NotFound);
            },
        );
        // Backtracking out of a spilled hex branch leaves exactly the other branch's values.
        let spilled = r.at(Get, "/ab/2/3/4/5/x").unwrap().params;
        assert!(!spilled.is_inline());
        assert_eq!(spilled.len(), 5);
        assert!(r.at(Get, "/few/1/2/3/4").unwrap().params.is_inline());
    }

    #[test]
    fn errors_display() {
        #[rustfmt::skip]
        let table: &[(&dyn std::error::Error, &str)] = &[
            (&InsertError::Pattern("/{x"), "malformed route pattern \"/{x\""),
            (&InsertError::Conflict { pattern: "/a/{b}", existing: "/a/{c}" }, "route pattern \"/a/{b}\" conflicts with \"/a/{c}\" for the same method"),
            (&MatchError::NotFound, "no route matches the path"),
            (&MatchError::MethodNotAllowed, "no route matches the path for this method"),
            (&UrlError::ParamCount { expected: 2, got: 1 }, "route takes 2 parameter values, 1 given"),
        ];
        for &(err, want) in table {
            assert_eq!(err.to_string(), want);
        }
    }

    #[test]
    fn router_is_shareable_between_workers() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Router<fn()>>();
        send_sync::<Builder<&'static str>>();
        send_sync::<Match<'static, 'static, u8>>();
        let r = router(&[(Method::Get, "/servers/{id}")]);
        std::thread::scope(|s| {
            for worker in ["a", "b", "c"] {
                let r = &r;
                s.spawn(move || {
                    let path = format!("/servers/{worker}");
                    let found = r.at(Method::Get, &path).unwrap();
                    assert_eq!(found.params.get("id"), Some(worker));
                });
            }
        });
    }

    /// Each Nova route declared twice, plain and under `/{project_id:hex}`, as Nova's
    /// `ProjectMapper` does.
    macro_rules! with_project {
        ($($method:ident $path:literal;)*) => {
            &[$(
                (Method::$method, $path),
                (Method::$method, concat!("/{project_id:hex}", $path)),
            )*]
        };
    }

    const NOVA: &[(Method, &str)] = with_project! {
        Get "/servers";
        Post "/servers";
        Get "/servers/detail";
        Get "/servers/{id}";
        Put "/servers/{id}";
        Delete "/servers/{id}";
        Post "/servers/{server_id}/action";
        Get "/servers/{server_id}/metadata";
        Put "/servers/{server_id}/metadata";
        Post "/servers/{server_id}/metadata";
        Get "/servers/{server_id}/metadata/{key}";
        Put "/servers/{server_id}/metadata/{key}";
        Delete "/servers/{server_id}/metadata/{key}";
        Get "/servers/{server_id}/ips";
        Get "/servers/{server_id}/ips/{id}";
        Get "/flavors";
        Post "/flavors";
        Get "/flavors/detail";
        Get "/flavors/{id}";
        Delete "/flavors/{id}";
        Get "/flavors/{flavor_id}/os-extra_specs";
        Post "/flavors/{flavor_id}/os-extra_specs";
        Get "/flavors/{flavor_id}/os-extra_specs/{id}";
        Put "/flavors/{flavor_id}/os-extra_specs/{id}";
        Delete "/flavors/{flavor_id}/os-extra_specs/{id}";
        Get "/os-keypairs";
        Post "/os-keypairs";
        Get "/os-keypairs/{id}";
        Delete "/os-keypairs/{id}";
        Get "/limits";
        Get "/os-quota-sets/{id}";
        Put "/os-quota-sets/{id}";
        Delete "/os-quota-sets/{id}";
        Get "/os-quota-sets/{id}/defaults";
        Get "/os-quota-sets/{id}/detail";
        Get "/images";
        Get "/images/detail";
        Get "/images/{id}";
        Delete "/images/{id}";
        Get "/extensions";
        Get "/extensions/{id}";
        Get "/os-availability-zone";
        Get "/os-availability-zone/detail";
        Get "/os-hypervisors";
        Get "/os-hypervisors/detail";
        Get "/os-hypervisors/{id}";
        Get "/os-services";
        Put "/os-services/{id}";
        Delete "/os-services/{id}";
        Get "/os-simple-tenant-usage";
    };

    #[test]
    fn nova_like_table_of_100_routes() {
        let mut b = Builder::new();
        let ids: Vec<RouteId> = NOVA
            .iter()
            .map(|&(method, pattern)| b.insert(method, pattern, pattern).unwrap())
            .collect();
        let r = b.build();
        assert_eq!(r.len(), 100);
        assert!(r.max_params() <= INLINE_PARAMS, "Nova lookups stay inline");
        // Every route is found again from a URL written from it, with UUID-like (so
        // hex-accepting) values for every parameter, and its own names.
        for (&(method, pattern), id) in NOVA.iter().zip(ids) {
            assert_eq!(id.0 as usize, ids_index(pattern, method), "ids are dense");
            let names: Vec<&str> = pattern
                .split('/')
                .filter_map(|s| s.strip_prefix('{'))
                .map(|s| s.trim_end_matches('}').trim_end_matches(":hex"))
                .collect();
            let values: Vec<String> = (0..names.len())
                .map(|i| format!("{:08x}-7374-6163-6b20-{:012x}", id.0, i))
                .collect();
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            let mut url = Vec::new();
            r.url(id, &values, &mut url).unwrap();
            let path = String::from_utf8(url).unwrap();
            let found = r
                .at(method, &path)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            assert_eq!(found.id, id, "{method} {path} matched {}", found.value);
            let want: Vec<(&str, &str)> = names.into_iter().zip(values).collect();
            assert_eq!(found.params.iter().collect::<Vec<_>>(), want);
            assert!(found.params.is_inline());
        }
        check(
            &r,
            cases! {
                Get "/servers" => Ok("/servers");
                Get "/servers/detail" => Ok("/servers/detail");
                Get "/servers/d1" [id = "d1"] => Ok("/servers/{id}");
                Get "/abcdef/servers/detail" [project_id = "abcdef"] => Ok("/{project_id:hex}/servers/detail");
                Post "/servers/detail/action" [server_id = "detail"] => Ok("/servers/{server_id}/action");
                Post "/ab/servers/s1/action" [project_id = "ab", server_id = "s1"] => Ok("/{project_id:hex}/servers/{server_id}/action");
                Delete "/ab/servers/s1/metadata/k" [project_id = "ab", server_id = "s1", key = "k"] => Ok("/{project_id:hex}/servers/{server_id}/metadata/{key}");
                Get "/flavors/1/os-extra_specs/hw:mem_page_size" [flavor_id = "1", id = "hw:mem_page_size"] => Ok("/flavors/{flavor_id}/os-extra_specs/{id}");
                Get "/os-keypairs/my key" [id = "my key"] => Ok("/os-keypairs/{id}");
                Get "/ab/os-keypairs/k" [project_id = "ab", id = "k"] => Ok("/{project_id:hex}/os-keypairs/{id}");
                Get "/os-quota-sets/p/detail" [id = "p"] => Ok("/os-quota-sets/{id}/detail");
                Patch "/servers" => Err(MethodNotAllowed);
                Delete "/servers/detail" [id = "detail"] => Ok("/servers/{id}");
                Post "/servers/detail" => Err(MethodNotAllowed);
                Get "/servers/s1/action" => Err(MethodNotAllowed);
                Get "/AB/servers" => Err(NotFound);
                Get "/xyz/servers" => Err(NotFound);
                Get "/servers/" => Err(NotFound);
                Get "/servers/s1/metadata/k/extra" => Err(NotFound);
                Get "/nothing/here" => Err(NotFound);
                Get "/" => Err(NotFound);
            },
        );
    }

    /// Where a route sits in [`NOVA`]: its id.
    fn ids_index(pattern: &str, method: Method) -> usize {
        NOVA.iter()
            .position(|&(m, p)| (m, p) == (method, pattern))
            .unwrap()
    }
}
