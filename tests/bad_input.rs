//! Bad input on every served route: malformed JSON, wrong types, huge numbers, deep nesting,
//! invalid UTF-8, unknown and repeated members, empty and non-object bodies, wrong and missing
//! Content-Type, bodies where none is expected, bad query strings, bad path segments, bad
//! microversions and methods a route does not take, each against the real binary under both
//! I/O drivers, under `/v2.1` and under the legacy `/v2` wrapper.
//!
//! The routes are the compiled router's own table ([`ringnova::api::ApiRouter::table`]), the
//! `/{project_id}` forms included, so a route added later is covered without touching this
//! file; a pattern parameter this file has no value for fails the run (see [`substitute`]).
//! Every `{param}` gets an object that exists (a private flavor with an extra spec, a key
//! pair, an ACTIVE server with metadata, an image, the caller's project), so a request gets
//! past the lookups and reaches validation.
//!
//! Every answer must be below 500 and, from 400 up, a Nova fault whose key matches the status
//! (`{"badRequest": {"code": 400, "message": "…"}}`); where Nova defines the status (400 for a
//! body that is not JSON or fails its schema, 415 for a media type it does not take, 413 for
//! an oversized body) that status exactly. Where Nova ignores the input (a body on GET, an
//! unknown query parameter) the answer must be what the same request gets without it. The
//! server must answer a plain request after every route. A body route with a known valid
//! sample also runs the sample itself first (it must succeed, so each mutation of it fails
//! for the mutation alone) and then the sample with each field given the wrong type, a huge
//! number, an invalid string, or an unknown or repeated member beside it (under `/v2.1`
//! only: the samples are written for its newest microversion).

mod common;

use std::{cell::Cell, io::Write as _, time::Duration};

use common::{Options, Response, Server};
use ringnova::{api::ApiRouter, router::Method};
use serde_json::{json, Value};

/// An admin caller under noauth2, in a project whose id is hex (so the `/{project_id:hex}`
/// route forms match it).
const PROJECT: &str = "6f70656e737461636b20342065766572";
const TOKEN: &str = "admin:6f70656e737461636b20342065766572";
/// Requests ask for the newest microversion, so every schema is in force, except on the
/// routes Nova retired before it (see [`version_for`]).
const VERSION: &str = "2.60";
/// The sample image, seeded into the database at start.
const IMAGE: &str = "70a599e0-31e7-49b7-b260-868f441e862b";
/// An RSA public key (Nova's API sample).
const PUBLIC_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDx8nkQv/zgGgB4rMYmIf+6A4l6Rr+o/6lHBQdW5aYd44bd8JttDCE/F/pNRr0lRE+PiqSPO8nDPHw0010JeMH9gYgnnFlyY3/OcJ02RhIPyyxYpv9FhY+2YiUkpwFOcLImyrxEsYXpD/0d3ac30bNH6Sw9JD9UZHYcpSxsIbECHw== Generated-by-Nova";

/// No build, action or delete takes time under the fake driver; quotas never get in the way.
const CONF: &str = "[quota]\nkey_pairs = -1\ninstances = -1\ncores = -1\nram = -1\n\
                    [fake_driver]\nbuild_time = 0\nreboot_time = 0\npower_time = 0\n\
                    pause_time = 0\nsuspend_time = 0\nresize_time = 0\nsnapshot_time = 0\n\
                    rebuild_time = 0\ndelete_time = 0\n";

/// What a bad request must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Exactly this status (a Nova fault).
    Status(u16),
    /// Some 4xx Nova fault.
    Rejected,
    /// Success (any 2xx): a valid sample.
    Success,
    /// What the same request gets without the bad part (Nova ignores it).
    Baseline(u16),
    /// Anything but a server error (a 4xx must still be a fault). Used where Nova itself
    /// may accept the input.
    NoServerError,
}

/// One request of a cell.
struct Probe {
    /// What is bad about it, for the failure report.
    kind: String,
    target: Vec<u8>,
    content_type: Option<Vec<u8>>,
    body: Vec<u8>,
    expect: Expect,
}

/// The objects the route parameters name, remade when a request changes them.
struct World {
    server: Server,
    flavor: String,
    keypair: String,
    instance: String,
    image: String,
    document: String,
    counter: Cell<u32>,
}

impl World {
    fn start(driver: &str) -> World {
        let server = Server::with(Options {
            driver,
            workers: 2,
            conf: CONF,
            ..Options::default()
        });
        let db = rusqlite::Connection::open(server.dir.join("data").join("ringnova.sqlite"))
            .expect("database");
        db.busy_timeout(Duration::from_secs(5)).unwrap();
        db.execute(
            "INSERT OR IGNORE INTO images (id, name, status, created_at, updated_at) VALUES \
             (?1, 'cirros', 'active', '2024-01-01T00:00:00.000000', '2024-01-01T00:00:00.000000')",
            [IMAGE],
        )
        .unwrap();
        let mut world = World {
            server,
            flavor: String::new(),
            keypair: String::new(),
            instance: String::new(),
            image: String::new(),
            document: String::new(),
            counter: Cell::new(0),
        };
        world.flavor = world.new_flavor();
        world.keypair = world.new_keypair();
        world.instance = world.new_instance();
        world.image = world.new_image();
        world.document = world.new_document();
        world
    }

    fn unique(&self) -> u32 {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        n
    }

    /// Sends one request on a fresh connection and reads the answer.
    fn send(
        &self,
        version: &[u8],
        method: &str,
        target: &[u8],
        content_type: Option<&[u8]>,
        body: &[u8],
    ) -> Response {
        let mut raw = Vec::with_capacity(256 + body.len());
        raw.extend_from_slice(method.as_bytes());
        raw.push(b' ');
        raw.extend_from_slice(target);
        raw.extend_from_slice(
            format!(
                " HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: {TOKEN}\r\nConnection: close\r\n\
                 OpenStack-API-Version: compute ",
                self.server.addr
            )
            .as_bytes(),
        );
        raw.extend_from_slice(version);
        raw.extend_from_slice(b"\r\n");
        if let Some(content_type) = content_type {
            raw.extend_from_slice(b"Content-Type: ");
            raw.extend_from_slice(content_type);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        raw.extend_from_slice(body);
        let mut stream = self.server.connect();
        stream.write_all(&raw).expect("send the request");
        common::read_response(&mut stream)
            .unwrap_or_else(|| panic!("no answer to {method} {}", String::from_utf8_lossy(target)))
    }

    /// A JSON request that must get `status`.
    fn must(&self, method: &str, path: &str, body: Option<&Value>, status: u16) -> Value {
        let body = body.map(Value::to_string).unwrap_or_default();
        let content_type = (!body.is_empty()).then_some(&b"application/json"[..]);
        let resp = self.send(
            VERSION.as_bytes(),
            method,
            format!("/v2.1{path}").as_bytes(),
            content_type,
            body.as_bytes(),
        );
        assert_eq!(
            resp.status,
            status,
            "setup {method} {path}: {}",
            resp.text()
        );
        if resp.body.is_empty() {
            Value::Null
        } else {
            resp.json()
        }
    }

    /// A private flavor the caller's project may use, with extra spec `k1 = v1`.
    fn new_flavor(&self) -> String {
        let n = self.unique();
        let body = json!({"flavor": {"name": format!("bad-input-{n}"), "ram": 64, "vcpus": 1,
            "disk": 0, "os-flavor-access:is_public": false}});
        let flavor = self.must("POST", "/flavors", Some(&body), 200);
        let id = flavor["flavor"]["id"].as_str().unwrap().to_owned();
        let share = json!({"addTenantAccess": {"tenant": PROJECT}});
        self.must("POST", &format!("/flavors/{id}/action"), Some(&share), 200);
        let spec = json!({"extra_specs": {"k1": "v1"}});
        self.must(
            "POST",
            &format!("/flavors/{id}/os-extra_specs"),
            Some(&spec),
            200,
        );
        id
    }

    fn new_keypair(&self) -> String {
        let name = format!("bad-input-{}", self.unique());
        let body = json!({"keypair": {"name": name, "public_key": PUBLIC_KEY}});
        self.must("POST", "/os-keypairs", Some(&body), 201);
        name
    }

    /// A document of the os-documents extension.
    fn new_document(&self) -> String {
        let body = json!({"document": {"name": format!("bad-input-{}", self.unique()),
            "content": "text", "metadata": {"k1": "v1"}}});
        let made = self.must("POST", "/os-documents", Some(&body), 200);
        made["document"]["id"].as_str().unwrap().to_owned()
    }

    /// An ACTIVE server with metadata `k1 = v1`.
    fn new_instance(&self) -> String {
        let body = json!({"server": {"name": format!("bad-input-{}", self.unique()),
            "imageRef": IMAGE, "flavorRef": "1", "networks": "none",
            "metadata": {"k1": "v1"}}});
        let created = self.must("POST", "/servers", Some(&body), 202);
        let id = created["server"]["id"].as_str().unwrap().to_owned();
        for _ in 0..500 {
            let shown = self.must("GET", &format!("/servers/{id}"), None, 200);
            if shown["server"]["status"] == "ACTIVE"
                && shown["server"]["OS-EXT-STS:task_state"].is_null()
            {
                return id;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("server {id} never became ACTIVE");
    }

    /// A snapshot image of the current server.
    fn new_image(&self) -> String {
        let body = json!({"createImage": {"name": format!("bad-input-{}", self.unique())}});
        let made = self.must(
            "POST",
            &format!("/servers/{}/action", self.instance),
            Some(&body),
            202,
        );
        let id = made["image_id"].as_str().unwrap().to_owned();
        for _ in 0..500 {
            let shown = self.must("GET", &format!("/servers/{}", self.instance), None, 200);
            if shown["server"]["OS-EXT-STS:task_state"].is_null() {
                return id;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("snapshot {id} never finished");
    }

    /// Makes the objects of `pattern`'s collection again after a request changed them.
    fn refresh(&mut self, pattern: &str) {
        match collection(pattern) {
            "flavors" => self.flavor = self.new_flavor(),
            "os-keypairs" => self.keypair = self.new_keypair(),
            "servers" => self.instance = self.new_instance(),
            "images" => self.image = self.new_image(),
            "os-documents" => self.document = self.new_document(),
            _ => {}
        }
    }
}

/// The microversion a route is probed at: the newest, or for the image proxy (gone from
/// 2.36 on) the last one that has it.
fn version_for(pattern: &str) -> &'static str {
    match collection(pattern) {
        "images" => "2.35",
        _ => VERSION,
    }
}

/// The first static segment of a pattern, after the project segment.
fn collection(pattern: &str) -> &str {
    pattern
        .split('/')
        .find(|s| !s.is_empty() && !s.starts_with('{'))
        .unwrap_or_default()
}

/// The values the route parameters take: `(segment before the parameter, name)` → value.
struct Ids<'a> {
    flavor: &'a str,
    keypair: &'a str,
    instance: &'a str,
    image: &'a str,
    document: &'a str,
}

/// `pattern` with every `{param}` replaced by an existing object's id; an error names a
/// parameter this test does not know how to fill.
fn substitute(pattern: &str, ids: &Ids<'_>) -> Result<String, String> {
    let mut path = String::new();
    let mut previous = "";
    for segment in pattern.split('/').filter(|s| !s.is_empty()) {
        path.push('/');
        let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
            path.push_str(segment);
            previous = segment;
            continue;
        };
        let name = param.split(':').next().unwrap_or_default();
        let value = match (previous, name) {
            (_, "project_id") => PROJECT,
            ("flavors", "id" | "flavor_id") => ids.flavor,
            ("os-extra_specs", "id") => "k1",
            ("os-keypairs", "id") => ids.keypair,
            ("os-quota-sets", "id") => PROJECT,
            ("servers", "id" | "server_id") => ids.instance,
            ("metadata", "id") => "k1",
            ("images", "id") => ids.image,
            ("versions", "id") => "v2.1",
            ("extensions", "id") => "os-documents",
            ("os-documents", "id") => ids.document,
            _ => {
                return Err(format!(
                    "{pattern}: no value for {{{name}}} after /{previous}; teach \
                     tests/bad_input.rs which object it names"
                ))
            }
        };
        path.push_str(value);
    }
    Ok(if path.is_empty() { "/".into() } else { path })
}

/// Valid bodies for a body route (`{unique}` is replaced by a fresh number, `{project}` by
/// the caller's project): each must succeed as it is. Routes not listed get the generic
/// bad bodies only. `open` marks bodies whose inner object is a free-form map (an unknown
/// member there is just another key).
fn samples(method: Method, pattern: &str) -> Vec<(Value, bool)> {
    let route = pattern.strip_prefix("/{project_id:hex}").unwrap_or(pattern);
    match (method, route) {
        (Method::Post, "/flavors") => vec![(
            json!({"flavor": {"name": "bi-{unique}", "ram": 64, "vcpus": 1, "disk": 0,
                "swap": 0, "rxtx_factor": 1.5, "os-flavor-access:is_public": false,
                "description": "d"}}),
            false,
        )],
        (Method::Put, "/flavors/{id}") => vec![(json!({"flavor": {"description": "d"}}), false)],
        (Method::Post, "/flavors/{id}/action") => vec![
            (json!({"addTenantAccess": {"tenant": "t{unique}"}}), false),
            (
                json!({"removeTenantAccess": {"tenant": "{project}"}}),
                false,
            ),
        ],
        (Method::Post, "/flavors/{flavor_id}/os-extra_specs") => {
            vec![(json!({"extra_specs": {"k{unique}": "v"}}), true)]
        }
        (Method::Put, "/flavors/{flavor_id}/os-extra_specs/{id}") => {
            vec![(json!({"k1": "v9"}), false)]
        }
        (Method::Post, "/os-keypairs") => vec![(
            json!({"keypair": {"name": "bi-{unique}", "public_key": PUBLIC_KEY, "type": "ssh"}}),
            false,
        )],
        (Method::Put, "/os-quota-sets/{id}") => vec![(
            json!({"quota_set": {"server_groups": 7, "metadata_items": 128, "force": true}}),
            false,
        )],
        (Method::Post, "/servers") => vec![(
            json!({"server": {"name": "bi-{unique}", "imageRef": IMAGE, "flavorRef": "1",
                "networks": "none", "metadata": {"k": "v"}}}),
            false,
        )],
        (Method::Put, "/servers/{id}") => vec![(
            json!({"server": {"name": "bi-{unique}", "description": "d"}}),
            false,
        )],
        (Method::Post, "/servers/{id}/action") => vec![
            (json!({"reboot": {"type": "SOFT"}}), false),
            (json!({"resize": {"flavorRef": "2"}}), false),
            (
                json!({"createImage": {"name": "bi-{unique}", "metadata": {"k": "v"}}}),
                false,
            ),
            (
                json!({"rebuild": {"imageRef": IMAGE, "name": "bi-{unique}"}}),
                false,
            ),
        ],
        (Method::Post | Method::Put, "/servers/{server_id}/metadata") => {
            vec![(json!({"metadata": {"k{unique}": "v"}}), true)]
        }
        (Method::Put, "/servers/{server_id}/metadata/{id}") => {
            vec![(json!({"meta": {"k1": "v9"}}), false)]
        }
        (Method::Post, "/os-documents") => vec![(
            json!({"document": {"name": "bi-{unique}", "content": "c", "metadata": {"a": "b"}}}),
            false,
        )],
        (Method::Put, "/os-documents/{id}") => vec![(
            json!({"document": {"name": "n", "content": "c", "metadata": {"a": "b"}}}),
            false,
        )],
        _ => Vec::new(),
    }
}

/// The same value with the wrong JSON type: scalars become objects, objects lists, lists
/// strings.
fn wrong_type(value: &Value) -> Value {
    match value {
        Value::Object(_) => json!([1, 2]),
        Value::Array(_) => json!("wrong"),
        _ => json!({"wrong": [1]}),
    }
}

/// Every node of `value` down to depth 3, as JSON pointers (the root excluded).
fn pointers(value: &Value, at: &str, depth: usize, out: &mut Vec<String>) {
    if depth == 3 {
        return;
    }
    if let Value::Object(members) = value {
        for (key, inner) in members {
            let pointer = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
            out.push(pointer.clone());
            pointers(inner, &pointer, depth + 1, out);
        }
    }
}

/// Huge numbers as JSON text, and whether Nova rejects each for a bounded field: `1e-400`
/// reads as `0.0`, which an `integer` field with a lower bound of 0 accepts.
const HUGE: &[(&str, bool)] = &[
    ("1e400", true),
    ("18446744073709551616", true),
    ("-9223372036854775809", true),
    ("1e-400", false),
];

/// A body with `pointer`'s value replaced by raw bytes (not necessarily JSON or UTF-8).
fn with_raw(sample: &Value, pointer: &str, raw: &[u8]) -> Vec<u8> {
    const MARK: &str = "\"bad-input-mark-5f0c\"";
    let mut body = sample.clone();
    *body.pointer_mut(pointer).unwrap() = json!(MARK.trim_matches('"'));
    let text = body.to_string();
    let (before, after) = text.split_once(MARK).unwrap();
    [before.as_bytes(), raw, after.as_bytes()].concat()
}

/// The list routes whose query parameters Nova validates: `(route, sorts, pages under the
/// legacy /v2 wrapper)` (key pairs page from 2.35 only).
const LISTS: &[(&str, bool, bool)] = &[
    ("/flavors", true, true),
    ("/flavors/detail", true, true),
    ("/servers", true, true),
    ("/servers/detail", true, true),
    ("/os-keypairs", false, false),
    ("/images", false, true),
    ("/images/detail", false, true),
    ("/os-documents", false, true),
];

/// Five hundred query parameters, each repeated.
fn many_params() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        (0..500)
            .map(|i| format!("p{i}={i}&p{i}=x"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// Bad query strings: what a list route of [`LISTS`] must answer, and whether every other
/// read must answer as without it (it takes no such parameter; the broken escapes may be
/// refused by any route that reads its query).
fn query_probes(method: Method, route: &str, legacy: bool) -> Vec<(&'static str, Expect, bool)> {
    let list = LISTS
        .iter()
        .find(|(r, _, in_legacy)| *r == route && (*in_legacy || !legacy))
        .filter(|_| method == Method::Get);
    let for_lists = |status| match list {
        Some(_) => Expect::Status(status),
        None => Expect::NoServerError,
    };
    let for_sorting = |status| match list {
        Some((_, true, _)) => Expect::Status(status),
        _ => Expect::NoServerError,
    };
    vec![
        ("limit=-1", for_lists(400), true),
        ("limit=abc", for_lists(400), true),
        ("limit=", for_lists(400), true),
        ("limit=99999999999999999999", Expect::NoServerError, true),
        ("limit=1&limit=2", Expect::NoServerError, true),
        (
            "marker=unknown-marker",
            if list.is_some() {
                Expect::Rejected
            } else {
                Expect::NoServerError
            },
            true,
        ),
        ("sort_key=bogus", for_sorting(400), true),
        ("sort_dir=sideways", for_sorting(400), true),
        ("a[b]=1&a[b]=2", Expect::NoServerError, true),
        (many_params(), Expect::NoServerError, true),
        ("limit=%zz", Expect::NoServerError, false),
        ("limit=%", Expect::NoServerError, false),
        ("name=%ff%fe", Expect::NoServerError, false),
        ("=&&=&name", Expect::NoServerError, false),
        ("%00=%00", Expect::NoServerError, false),
    ]
}

/// Bodies that are not JSON, or not a JSON object: 400 on every body route.
fn malformed_bodies() -> Vec<(&'static str, Vec<u8>)> {
    // All under `max_request_body_size` (112 KiB), so the parser sees them.
    let unbalanced = "[".repeat(100_000).into_bytes();
    let mut deep_array = "[".repeat(50_000).into_bytes();
    deep_array.extend("]".repeat(50_000).into_bytes());
    let mut deep_object = "{\"a\":".repeat(15_000).into_bytes();
    deep_object.extend(b"1");
    deep_object.extend("}".repeat(15_000).into_bytes());
    let mut nested = b"{\"x\": ".to_vec();
    nested.extend("[".repeat(1000).into_bytes());
    nested.extend("]".repeat(1000).into_bytes());
    nested.push(b'}');
    vec![
        ("truncated", b"{\"a\": ".to_vec()),
        ("truncated string", b"{\"a\": \"b".to_vec()),
        ("trailing garbage", b"{\"a\": 1} x".to_vec()),
        ("two documents", b"{} {}".to_vec()),
        ("NaN", b"{\"a\": NaN}".to_vec()),
        ("Infinity", b"{\"a\": -Infinity}".to_vec()),
        ("single quotes", b"{'a': 1}".to_vec()),
        ("trailing comma", b"{\"a\": 1,}".to_vec()),
        ("bare word", b"nul".to_vec()),
        ("invalid UTF-8", b"\xff\xfe{}".to_vec()),
        (
            "invalid UTF-8 in a string",
            b"{\"a\": \"\xff\xc0\"}".to_vec(),
        ),
        ("invalid UTF-8 in a key", b"{\"\xed\xa0\x80\": 1}".to_vec()),
        ("NUL byte", b"{\"a\": 1}\0".to_vec()),
        ("100000 open brackets", unbalanced),
        ("50000 nested lists", deep_array),
        ("15000 nested objects", deep_object),
        ("1000 nested lists in a member", nested),
        ("null", b"null".to_vec()),
        ("list", b"[]".to_vec()),
        ("string", b"\"x\"".to_vec()),
        ("number", b"1".to_vec()),
        ("boolean", b"true".to_vec()),
        ("empty object", b"{}".to_vec()),
        ("whitespace", b"  \r\n\t ".to_vec()),
    ]
}

/// `OpenStack-API-Version: compute <version>` values Nova refuses: a malformed version is
/// 400, a well-formed one outside the served range 406 (however many digits it has).
const BAD_VERSIONS: &[(&[u8], Expect)] = &[
    (b"abc", Expect::Status(400)),
    (b"2.", Expect::Status(400)),
    (b"2.-1", Expect::Status(400)),
    (b"2.1.1", Expect::Status(400)),
    (b"2.0x10", Expect::Status(400)),
    (b"3.0", Expect::Status(406)),
    (b"2.61", Expect::Status(406)),
    (b"2.99999999999999999999", Expect::Status(406)),
    (b"99999999999999999999.1", Expect::Status(406)),
    (b"2.4294967297", Expect::Status(406)),
];

/// Media types Nova refuses with 415.
const BAD_MEDIA_TYPES: &[&[u8]] = &[
    b"application/xml",
    b"text/html",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=x",
    b"json",
    b"application/json-patch+json",
    b"\xff\xfe/\xff",
];

/// Every probe of one route.
fn probes(method: Method, pattern: &str, target: &str, baseline: u16, legacy: bool) -> Vec<Probe> {
    let route = pattern.strip_prefix("/{project_id:hex}").unwrap_or(pattern);
    let target = target.to_owned();
    let has_body = matches!(method, Method::Post | Method::Put);
    let json_type = Some(b"application/json".to_vec());
    let mut out = Vec::new();
    let probe = |kind: String, target: &str, content_type: Option<Vec<u8>>, body, expect| Probe {
        kind,
        target: target.as_bytes().to_vec(),
        content_type,
        body,
        expect,
    };
    // Media types.
    for media in BAD_MEDIA_TYPES {
        out.push(Probe {
            kind: format!("Content-Type {}", String::from_utf8_lossy(media)),
            target: target.clone().into_bytes(),
            content_type: Some(media.to_vec()),
            body: b"{}".to_vec(),
            expect: Expect::Status(415),
        });
    }
    // Query strings.
    for (query, expect, ignored) in query_probes(method, route, legacy) {
        let expect = match expect {
            // Without its body a body route is a 400 whatever the query says.
            _ if has_body => Expect::Status(400),
            Expect::NoServerError if method == Method::Get && ignored => Expect::Baseline(baseline),
            expect => expect,
        };
        out.push(probe(
            format!("query {query}"),
            &format!("{target}?{query}"),
            None,
            Vec::new(),
            expect,
        ));
    }
    let mut raw_query = format!("{target}?name=").into_bytes();
    raw_query.extend(b"\xff\xfe");
    out.push(Probe {
        kind: "raw invalid UTF-8 in the query".into(),
        target: raw_query,
        content_type: None,
        body: Vec::new(),
        expect: if has_body {
            Expect::Status(400)
        } else {
            Expect::NoServerError
        },
    });
    // Path segments: the last segment spelled with bytes that are not UTF-8, or broken
    // escapes.
    let (head, _) = target.rsplit_once('/').unwrap();
    for (kind, segment) in [
        ("percent-encoded invalid UTF-8", &b"%ff%fe"[..]),
        ("broken percent escape", b"%zz"),
        ("truncated percent escape", b"ab%f"),
        ("raw invalid UTF-8", b"\xff\xfe"),
        ("encoded slash", b"a%2Fb"),
    ] {
        let mut bad = head.as_bytes().to_vec();
        bad.push(b'/');
        bad.extend_from_slice(segment);
        out.push(Probe {
            kind: format!("path with {kind}"),
            target: bad,
            content_type: None,
            body: Vec::new(),
            expect: Expect::Rejected,
        });
    }
    if !has_body {
        // Nova reads no body on GET and DELETE: the answer is the plain request's.
        for (kind, body) in [
            ("JSON body", &b"{\"x\": 1}"[..]),
            ("malformed body", b"{{{"),
            ("invalid UTF-8 body", b"\xff\xfe"),
        ] {
            out.push(probe(
                format!("{kind} on {method}"),
                &target,
                json_type.clone(),
                body.to_vec(),
                if method == Method::Get {
                    Expect::Baseline(baseline)
                } else {
                    Expect::NoServerError
                },
            ));
        }
        return out;
    }
    // Bodies that are not a valid JSON object.
    for (kind, body) in malformed_bodies() {
        out.push(probe(
            kind.into(),
            &target,
            json_type.clone(),
            body,
            Expect::Status(400),
        ));
    }
    out.push(probe(
        "empty body".into(),
        &target,
        json_type.clone(),
        Vec::new(),
        Expect::Status(400),
    ));
    out.push(probe(
        "empty body, no Content-Type".into(),
        &target,
        None,
        Vec::new(),
        Expect::Status(400),
    ));
    out.push(probe(
        "malformed body, no Content-Type".into(),
        &target,
        None,
        b"{'a'".to_vec(),
        Expect::Status(400),
    ));
    out.push(probe(
        "malformed body as text/plain".into(),
        &target,
        Some(b"text/plain".to_vec()),
        b"{'a'".to_vec(),
        Expect::Status(400),
    ));
    let mut oversized = b"{\"a\": \"".to_vec();
    oversized.extend(vec![b'x'; 200_000]);
    oversized.extend(b"\"}");
    out.push(probe(
        "200 kB body".into(),
        &target,
        json_type,
        oversized,
        Expect::Status(413),
    ));
    out
}

/// The probes made from a valid sample body; the first is the sample itself (`expect` is the
/// success it must get, any 2xx).
fn sample_probes(target: &str, sample: &Value, open: bool) -> Vec<Probe> {
    let json_type = Some(b"application/json".to_vec());
    let probe = |kind: String, body: Vec<u8>, expect| Probe {
        kind,
        target: target.as_bytes().to_vec(),
        content_type: json_type.clone(),
        body,
        expect,
    };
    let mut out = vec![probe(
        "valid sample".into(),
        sample.to_string().into_bytes(),
        Expect::Success,
    )];
    out.push(Probe {
        kind: "valid sample without Content-Type".into(),
        target: target.as_bytes().to_vec(),
        content_type: None,
        body: sample.to_string().into_bytes(),
        expect: Expect::Success,
    });
    // An unknown member at the top and inside the wrapped object.
    let mut extra = sample.clone();
    extra["bogus_field"] = json!("x");
    out.push(probe(
        "unknown top-level member".into(),
        extra.to_string().into_bytes(),
        Expect::Status(400),
    ));
    if let Some((key, inner)) = sample.as_object().and_then(|o| o.iter().next()) {
        if inner.is_object() {
            let mut extra = sample.clone();
            extra[key]["bogus_field"] = json!({"x": 1});
            out.push(probe(
                format!("unknown member in {key}"),
                extra.to_string().into_bytes(),
                if open {
                    Expect::NoServerError
                } else {
                    Expect::Status(400)
                },
            ));
        }
    }
    let mut all = Vec::new();
    pointers(sample, "", 0, &mut all);
    for pointer in &all {
        let value = sample.pointer(pointer).unwrap();
        let mut wrong = sample.clone();
        *wrong.pointer_mut(pointer).unwrap() = wrong_type(value);
        out.push(probe(
            format!("wrong type at {pointer}"),
            wrong.to_string().into_bytes(),
            Expect::Status(400),
        ));
        if value.is_number() {
            for (huge, rejected) in HUGE {
                out.push(probe(
                    format!("{huge} at {pointer}"),
                    with_raw(sample, pointer, huge.as_bytes()),
                    if *rejected {
                        Expect::Status(400)
                    } else {
                        Expect::NoServerError
                    },
                ));
            }
        }
        if value.is_string() {
            out.push(probe(
                format!("invalid UTF-8 at {pointer}"),
                with_raw(sample, pointer, b"\"a\xff\xc0b\""),
                Expect::Status(400),
            ));
            out.push(probe(
                format!("lone surrogate escape at {pointer}"),
                with_raw(sample, pointer, br#""a\ud800b""#),
                Expect::Status(400),
            ));
        }
        if value.is_number() {
            // Spellings of small numbers: Nova reads some as integers and refuses others;
            // none may fail the server.
            for spelling in ["-0", "1.0", "1E2", "0.5", "-1", "1e-7"] {
                out.push(probe(
                    format!("{spelling} at {pointer}"),
                    with_raw(sample, pointer, spelling.as_bytes()),
                    Expect::NoServerError,
                ));
            }
        }
    }
    // The body's member repeated: Python's json keeps the last one, so a wrong type after
    // the valid value is a 400.
    if let Some((key, value)) = sample.as_object().and_then(|o| o.iter().next()) {
        let key = serde_json::to_string(key).unwrap();
        let wrong = wrong_type(value);
        out.push(probe(
            "repeated member, wrong type last".into(),
            format!("{{{key}: {value}, {key}: {wrong}}}").into_bytes(),
            Expect::Status(400),
        ));
        out.push(probe(
            "repeated member, wrong type first".into(),
            format!("{{{key}: {wrong}, {key}: {value}}}").into_bytes(),
            Expect::NoServerError,
        ));
        // Past simd-json's small-object size, where members are hashed.
        let members = vec![format!("{key}: {value}"); 100].join(", ");
        out.push(probe(
            "member repeated 100 times".into(),
            format!("{{{members}}}").into_bytes(),
            Expect::NoServerError,
        ));
        if let Some(inner) = value.as_object().and_then(|o| o.iter().next()) {
            let (name, inner) = (serde_json::to_string(inner.0).unwrap(), inner.1);
            let members = vec![format!("{name}: {inner}"); 100].join(", ");
            out.push(probe(
                "inner member repeated 100 times".into(),
                format!("{{{key}: {{{members}}}}}").into_bytes(),
                Expect::NoServerError,
            ));
        }
    }
    out
}

/// `body` with every `{unique}` replaced, byte for byte (bodies need not be UTF-8).
fn fill_unique(body: &[u8], unique: &str) -> Vec<u8> {
    const PLACEHOLDER: &[u8] = b"{unique}";
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest
        .windows(PLACEHOLDER.len())
        .position(|w| w == PLACEHOLDER)
    {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(unique.as_bytes());
        rest = &rest[at + PLACEHOLDER.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Checks one answer; returns what is wrong with it.
fn check(resp: &Response, expect: Expect) -> Option<String> {
    if resp.status >= 500 {
        return Some(format!("server error {}", resp.status));
    }
    let wrong_status = match expect {
        Expect::Status(status) => resp.status != status,
        Expect::Rejected => !(400..500).contains(&resp.status),
        Expect::Success => !(200..300).contains(&resp.status),
        Expect::Baseline(status) => resp.status != status,
        Expect::NoServerError => false,
    };
    if wrong_status {
        return Some(format!("expected {expect:?}, got {}", resp.status));
    }
    if resp.status < 400 {
        return None;
    }
    let content_type = resp.header("content-type").unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return Some(format!("fault with Content-Type {content_type:?}"));
    }
    let Ok(Value::Object(fault)) = serde_json::from_slice::<Value>(&resp.body) else {
        return Some("fault body is not a JSON object".into());
    };
    let key = ringnova::api::fault::fault_name(resp.status);
    let inner = &fault.get(key);
    let well_formed = fault.len() == 1
        && inner.is_some_and(|inner| {
            inner["code"] == resp.status && inner["message"].as_str().is_some_and(|m| !m.is_empty())
        });
    (!well_formed).then(|| format!("not a {key} fault"))
}

/// Runs every probe of every route; returns the number of requests checked.
fn probe_every_route(driver: &str) -> usize {
    let mut world = World::start(driver);
    let api = ApiRouter::new().expect("the route table compiles");
    let table: Vec<(Method, &'static str)> = api.compiled_routes().collect();
    assert!(table.len() >= 80, "only {} routes", table.len());
    let mut failures = Vec::new();
    let mut checked = 0;
    // `/v2.1`, then the legacy `/v2` wrapper (microversion 2.0, relaxed validation): there
    // the generic probes only, any 4xx standing for 400 (a route absent from 2.0 is a 404
    // before its body is read).
    for (root, legacy) in [("/v2.1", false), ("/v2", true)] {
        for &(method, pattern) in &table {
            checked += probe_route(&mut world, root, legacy, method, pattern, &mut failures);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} requests failed under {driver}:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}

/// Every probe of one route under `root`; returns the number of requests checked.
fn probe_route(
    world: &mut World,
    root: &str,
    legacy: bool,
    method: Method,
    pattern: &'static str,
    failures: &mut Vec<String>,
) -> usize {
    let mut checked = 0;
    let ids = Ids {
        flavor: &world.flavor,
        keypair: &world.keypair,
        instance: &world.instance,
        image: &world.image,
        document: &world.document,
    };
    let path = substitute(pattern, &ids).unwrap_or_else(|err| panic!("{err}"));
    let target = format!("{root}{path}");
    let name = method.as_str();
    let version = version_for(pattern);
    // The plain request: a read must succeed, so the ids reach the handlers.
    let baseline = if method == Method::Get {
        let resp = world.send(version.as_bytes(), name, target.as_bytes(), None, b"");
        if !(200..300).contains(&resp.status) {
            failures.push(format!(
                "{name} {target}: plain request got {}: {}",
                resp.status,
                resp.text()
            ));
        }
        resp.status
    } else {
        0
    };
    let route = pattern.strip_prefix("/{project_id:hex}").unwrap_or(pattern);
    let mut all = Vec::new();
    if !legacy {
        for (sample, open) in samples(method, pattern) {
            let text = sample.to_string().replace("{project}", PROJECT);
            let sample: Value = serde_json::from_str(&text).unwrap();
            all.extend(sample_probes(&target, &sample, open));
        }
    }
    all.extend(probes(method, pattern, &target, baseline, legacy));
    all.push(Probe {
        kind: "method the route does not take".into(),
        target: target.clone().into_bytes(),
        content_type: None,
        body: Vec::new(),
        expect: Expect::Rejected,
    });
    for mut probe in all {
        if legacy && probe.expect == Expect::Status(400) {
            probe.expect = Expect::Rejected;
        }
        let method_name = if probe.kind == "method the route does not take" {
            "PATCH"
        } else {
            name
        };
        // The ids change when a request went through; rebuild the target.
        let ids = Ids {
            flavor: &world.flavor,
            keypair: &world.keypair,
            instance: &world.instance,
            image: &world.image,
            document: &world.document,
        };
        let current = format!("{root}{}", substitute(pattern, &ids).unwrap());
        let probe_target = if probe.target.starts_with(target.as_bytes()) {
            let mut t = current.into_bytes();
            t.extend_from_slice(&probe.target[target.len()..]);
            t
        } else {
            probe.target.clone()
        };
        let body = fill_unique(&probe.body, &world.unique().to_string());
        let resp = world.send(
            version.as_bytes(),
            method_name,
            &probe_target,
            probe.content_type.as_deref(),
            &body,
        );
        checked += 1;
        if let Some(problem) = check(&resp, probe.expect) {
            let shown: String = String::from_utf8_lossy(&body).chars().take(160).collect();
            failures.push(format!(
                "{method_name} {} [{}]: {problem}: {} (body sent: {shown})",
                String::from_utf8_lossy(&probe_target),
                probe.kind,
                resp.text().chars().take(300).collect::<String>()
            ));
        }
        if method != Method::Get && resp.status < 300 {
            world.refresh(route);
        }
    }
    // Microversions that are not versions, or not served: 400 and 406 before the handler
    // runs, whatever the method (the legacy wrapper takes no microversion).
    for (requested, expect) in BAD_VERSIONS.iter().filter(|_| !legacy) {
        let resp = world.send(requested, name, target.as_bytes(), None, b"");
        checked += 1;
        if let Some(problem) = check(&resp, *expect) {
            failures.push(format!(
                "{name} {target} [version {}]: {problem}: {}",
                String::from_utf8_lossy(requested),
                resp.text()
            ));
        }
        if method != Method::Get && resp.status < 300 {
            world.refresh(route);
        }
    }
    // Still serving after every route.
    let alive = world.send(VERSION.as_bytes(), "GET", b"/v2.1/flavors", None, b"");
    assert_eq!(alive.status, 200, "after {name} {target}: {}", alive.text());
    checked
}

per_driver!(every_route_answers_bad_input_with_a_fault, |driver| {
    let checked = probe_every_route(driver);
    assert!(checked > 2000, "only {checked} requests");
});

/// Every parameter of every served pattern has a value here, so every route is probed.
#[test]
fn every_route_parameter_has_a_value() {
    let api = ApiRouter::new().unwrap();
    let ids = Ids {
        flavor: "f",
        keypair: "k",
        instance: "s",
        image: "i",
        document: "d",
    };
    for (method, pattern) in api.compiled_routes() {
        let path = substitute(pattern, &ids).unwrap_or_else(|err| panic!("{method} {err}"));
        assert!(!path.contains('{'), "{pattern} → {path}");
    }
    assert!(substitute("/widgets/{id}", &ids).is_err());
}
