//! Fuzz target: the router compiled from the compute API's real route table
//! (`api::routes()`, each route with and without its project segment, as the API registers
//! them), looked up with arbitrary methods and paths.
//!
//! Checks that a match's parameters are its pattern's, in order, that `url()` with the
//! matched values writes the path back exactly, and that a path written by `url()` from any
//! route and arbitrary valid values is found again.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::{arbitrary::Unstructured, fuzz_target};
use ringnova::router::{Builder, Method, RouteId, Router};

/// The routes as the API registers them, valued by pattern.
fn router() -> &'static Router<&'static str> {
    static ROUTER: OnceLock<Router<&'static str>> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let mut builder = Builder::new();
        for route in ringnova::api::routes() {
            for pattern in [route.path, route.project_path] {
                builder
                    .insert(route.method, pattern, pattern)
                    .expect("the API's routes are valid");
            }
        }
        builder.build()
    })
}

/// Parameter names of a pattern, in order.
fn names(pattern: &str) -> Vec<&str> {
    pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|inner| inner.split(':').next().unwrap_or(inner))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let router = router();
    let mut u = Unstructured::new(data);
    let Ok(method) = u.choose(&Method::ALL).copied() else {
        return;
    };
    if u.arbitrary::<bool>().unwrap_or(false) {
        // A path written from a route with fuzz-chosen values.
        let Ok(index) = u.choose_index(router.len()) else {
            return;
        };
        let id = RouteId(index as u32);
        let pattern = router.pattern(id);
        let mut values = Vec::new();
        for name in names(pattern) {
            let hex = pattern.contains(&format!("{{{name}:hex}}"));
            let value = segment(&mut u, hex);
            values.push(value);
        }
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let mut url = Vec::new();
        router
            .url(id, &refs, &mut url)
            .expect("one value per parameter");
        let path = String::from_utf8(url).expect("UTF-8 in, UTF-8 out");
        let found = router
            .at(router.method(id), &path)
            .unwrap_or_else(|err| panic!("{path:?} from {pattern:?}: {err}"));
        round_trip(
            router,
            &path,
            &found.params.iter().map(|(_, v)| v).collect::<Vec<_>>(),
            found.id,
        );
    } else {
        let path = String::from_utf8_lossy(u.take_rest()).into_owned();
        let lookup = router.at(method, &path);
        if let Ok(found) = lookup {
            assert_eq!(router.method(found.id), method);
            let pattern = router.pattern(found.id);
            let got: Vec<&str> = found.params.iter().map(|(name, _)| name).collect();
            assert_eq!(got, names(pattern), "{path:?} matched {pattern:?}");
            assert!(found.params.is_inline());
            let values: Vec<&str> = found.params.iter().map(|(_, v)| v).collect();
            round_trip(router, &path, &values, found.id);
        }
    }
});

/// `url()` of the matched route and values is the path (`/` for the root's empty path).
fn round_trip(router: &Router<&'static str>, path: &str, values: &[&str], id: RouteId) {
    let mut url = Vec::new();
    router
        .url(id, values, &mut url)
        .expect("one value per parameter");
    let want = if path.is_empty() { "/" } else { path };
    assert_eq!(url, want.as_bytes(), "{:?}", router.pattern(id));
}

/// A non-empty segment without `/`; only `[0-9a-f-]` when `hex`.
fn segment(u: &mut Unstructured<'_>, hex: bool) -> String {
    let len = u.int_in_range(1usize..=12).unwrap_or(1);
    let mut out = String::new();
    for _ in 0..len {
        let c = if hex {
            *u.choose(b"0123456789abcdef-").unwrap_or(&b'0') as char
        } else {
            match u.arbitrary::<char>().unwrap_or('x') {
                '/' => '_',
                c => c,
            }
        };
        out.push(c);
    }
    out
}
