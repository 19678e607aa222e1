//! The tenant isolation matrix: every served compute route × every kind of caller, under
//! `[api] auth_strategy = token`, against the real binary.
//!
//! Callers: project A's `a_admin` (admin), `a_member` (member), `a_reader` (reader), project
//! B's `b_member` (member), and five that must never get past the auth filter — no token, a
//! garbage token, a_member's token with one signature character changed, a_member's token
//! re-scoped to project B by editing its text, and a correctly signed a_admin token that
//! expired an hour ago. Project A owns the objects the routes need: a private flavor shared
//! with A (with extra specs), a key pair of a_member, quota overrides, ACTIVE servers of
//! a_member (one with metadata), a snapshot image of one of them and os-documents documents.
//!
//! [`matrix`] is the data: one row per request (route, method, path, microversion, body) with
//! the status Nova's default policies give each user; every unauthenticated caller gets
//! keystonemiddleware's 401 on every row. Each row runs with and without the `/{project_id}`
//! segment (the caller's own project) and, for each user, with the other project's id in the
//! URL (Nova's 400). A row that mutates works on an object its fixture makes again before
//! every cell that follows a cell whose request went through (a refused request changes
//! nothing, which is checked for servers), so no cell sees another's side effects.
//! `every_route_has_a_row` fails when a route of `ringnova::api::routes()` has no row.
//!
//! The fake driver takes no time and quotas on instances, cores and RAM are unlimited, so a
//! fixture server is ACTIVE within milliseconds and the quota rows use `server_groups`.

mod common;

use std::{
    cell::Cell,
    collections::BTreeSet,
    io::Write as _,
    time::{Duration, Instant},
};

use common::{Options, Response, Server};
use ringnova::{
    identity::{
        keys::KeyRing,
        token::{self, Claims},
    },
    router::Method,
};
use serde_json::{json, Value};

const BOOTSTRAP: &str = "\
[project:iso-a]
[project:iso-b]
[user:a_admin]
password = a-admin-pw
admin = iso-a
[user:a_member]
password = a-member-pw
member = iso-a
[user:a_reader]
password = a-reader-pw
reader = iso-a
[user:b_member]
password = b-member-pw
member = iso-b
";

/// An RSA public key (Nova's API sample).
const PUBLIC_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDx8nkQv/zgGgB4rMYmIf+6A4l6Rr+o/6lHBQdW5aYd44bd8JttDCE/F/pNRr0lRE+PiqSPO8nDPHw0010JeMH9gYgnnFlyY3/OcJ02RhIPyyxYpv9FhY+2YiUkpwFOcLImyrxEsYXpD/0d3ac30bNH6Sw9JD9UZHYcpSxsIbECHw== Generated-by-Nova";

/// The callers, in column order: the four users first (whose statuses a row lists), then the
/// unauthenticated ones (401 everywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    AAdmin,
    AMember,
    AReader,
    BMember,
    NoToken,
    Garbage,
    FlippedSignature,
    ForgedProject,
    Expired,
}

const USERS: [Who; 4] = [Who::AAdmin, Who::AMember, Who::AReader, Who::BMember];
const UNAUTHENTICATED: [Who; 5] = [
    Who::NoToken,
    Who::Garbage,
    Who::FlippedSignature,
    Who::ForgedProject,
    Who::Expired,
];

/// What a mutating row needs fresh before each cell; its id or name is `{fresh}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fixture {
    /// Nothing: the row only reads (or its effect does not matter to any other cell).
    None,
    /// A new private flavor shared with project A, with extra spec `k1 = v1`.
    Flavor,
    /// A new key pair of a_member.
    Keypair,
    /// Project A's quota override `server_groups = 7`, stored again.
    Quota,
    /// A new ACTIVE server of project A, made by a_member (its id).
    Server,
    /// The metadata of project A's metadata server set back to `k1 = v1` (the server's id).
    MetaItem,
    /// A new public image without an owner in the catalogue (its id).
    Image,
    /// A new os-documents document of project A, made by a_member (its id).
    Document,
}

/// One request of the matrix. Placeholders in `path` and `body`: `{private}`, `{public}` (the
/// shared flavors), `{fresh}` (the fixture's object), `{unique}` (new in every cell),
/// `{project_a}`, `{project_b}`, `{a_member}` (user id), `{public_key}`, `{server}` (project
/// A's ACTIVE server, never changed), `{image}` (the seeded sample image), `{snapshot}` (an
/// image made by createImage of `{server}`).
#[derive(Debug, Clone)]
struct Row {
    method: Method,
    /// The route-table template this request exercises (without the project segment).
    route: &'static str,
    path: &'static str,
    version: &'static str,
    body: Option<&'static str>,
    fixture: Fixture,
    /// The policy rule named by this row's 403s.
    rule: Option<&'static str>,
    /// The exact message of this row's 403s that name no policy rule.
    denied: Option<&'static str>,
    /// The exact message of this row's 404s, if checked.
    missing: Option<&'static str>,
    /// Statuses of a_admin, a_member, a_reader, b_member.
    expect: [u16; 4],
}

fn row(method: Method, route: &'static str, path: &'static str) -> Row {
    Row {
        method,
        route,
        path,
        version: "2.1",
        body: None,
        fixture: Fixture::None,
        rule: None,
        denied: None,
        missing: None,
        expect: [0; 4],
    }
}

impl Row {
    fn at(mut self, version: &'static str) -> Row {
        self.version = version;
        self
    }
    fn body(mut self, body: &'static str) -> Row {
        self.body = Some(body);
        self
    }
    fn fixture(mut self, fixture: Fixture) -> Row {
        self.fixture = fixture;
        self
    }
    fn rule(mut self, rule: &'static str) -> Row {
        self.rule = Some(rule);
        self
    }
    fn denied(mut self, message: &'static str) -> Row {
        self.denied = Some(message);
        self
    }
    fn missing(mut self, message: &'static str) -> Row {
        self.missing = Some(message);
        self
    }
    fn expect(mut self, expect: [u16; 4]) -> Row {
        self.expect = expect;
        self
    }
}

const FLAVOR_CREATE: &str = "os_compute_api:os-flavor-manage:create";
const FLAVOR_UPDATE: &str = "os_compute_api:os-flavor-manage:update";
const FLAVOR_DELETE: &str = "os_compute_api:os-flavor-manage:delete";
const ACCESS_INDEX: &str = "os_compute_api:os-flavor-access";
const ACCESS_ADD: &str = "os_compute_api:os-flavor-access:add_tenant_access";
const ACCESS_REMOVE: &str = "os_compute_api:os-flavor-access:remove_tenant_access";
const SPECS_CREATE: &str = "os_compute_api:os-flavor-extra-specs:create";
const SPECS_UPDATE: &str = "os_compute_api:os-flavor-extra-specs:update";
const SPECS_DELETE: &str = "os_compute_api:os-flavor-extra-specs:delete";
const KEYPAIRS_INDEX: &str = "os_compute_api:os-keypairs:index";
const KEYPAIRS_CREATE: &str = "os_compute_api:os-keypairs:create";
const KEYPAIRS_SHOW: &str = "os_compute_api:os-keypairs:show";
const KEYPAIRS_DELETE: &str = "os_compute_api:os-keypairs:delete";
const LIMITS_OTHER: &str = "os_compute_api:limits:other_project";
const QUOTA_SHOW: &str = "os_compute_api:os-quota-sets:show";
const QUOTA_DETAIL: &str = "os_compute_api:os-quota-sets:detail";
const QUOTA_UPDATE: &str = "os_compute_api:os-quota-sets:update";
const QUOTA_DELETE: &str = "os_compute_api:os-quota-sets:delete";
const SERVERS_INDEX_ALL: &str = "os_compute_api:servers:index:get_all_tenants";
const SERVERS_DETAIL_ALL: &str = "os_compute_api:servers:detail:get_all_tenants";
const SERVERS_CREATE: &str = "os_compute_api:servers:create";
const SERVERS_UPDATE: &str = "os_compute_api:servers:update";
const SERVERS_DELETE: &str = "os_compute_api:servers:delete";
const SERVERS_REBOOT: &str = "os_compute_api:servers:reboot";
const SERVERS_START: &str = "os_compute_api:servers:start";
const SERVERS_STOP: &str = "os_compute_api:servers:stop";
const SERVERS_PAUSE: &str = "os_compute_api:os-pause-server:pause";
const SERVERS_LOCK: &str = "os_compute_api:os-lock-server:lock";
const SERVERS_UNLOCK: &str = "os_compute_api:os-lock-server:unlock";
const SERVERS_UNPAUSE: &str = "os_compute_api:os-pause-server:unpause";
const SERVERS_SUSPEND: &str = "os_compute_api:os-suspend-server:suspend";
const SERVERS_RESUME: &str = "os_compute_api:os-suspend-server:resume";
const SERVERS_RESIZE: &str = "os_compute_api:servers:resize";
const SERVERS_CONFIRM_RESIZE: &str = "os_compute_api:servers:confirm_resize";
const SERVERS_REVERT_RESIZE: &str = "os_compute_api:servers:revert_resize";
const SERVERS_CREATE_IMAGE: &str = "os_compute_api:servers:create_image";
const SERVERS_REBUILD: &str = "os_compute_api:servers:rebuild";
const METADATA_CREATE: &str = "os_compute_api:server-metadata:create";
const METADATA_UPDATE_ALL: &str = "os_compute_api:server-metadata:update_all";
const METADATA_UPDATE: &str = "os_compute_api:server-metadata:update";
const METADATA_DELETE: &str = "os_compute_api:server-metadata:delete";
const DOCUMENTS_CREATE: &str = "os_compute_api:os-documents:create";
const DOCUMENTS_UPDATE: &str = "os_compute_api:os-documents:update";
const DOCUMENTS_DELETE: &str = "os_compute_api:os-documents:delete";

/// The sample image seeded at start-up.
const IMAGE: &str = "70a599e0-31e7-49b7-b260-868f441e862b";

/// The matrix. Columns: a_admin, a_member, a_reader, b_member.
fn matrix() -> Vec<Row> {
    use Method::{Delete as DELETE, Get as GET, Post as POST, Put as PUT};
    const NEW_FLAVOR: &str =
        r#"{"flavor": {"name": "iso-new-{unique}", "ram": 64, "vcpus": 1, "disk": 0}}"#;
    const NEW_KEYPAIR: &str =
        r#"{"keypair": {"name": "iso-{unique}", "public_key": "{public_key}"}}"#;
    const NEW_KEYPAIR_FOR_A_MEMBER: &str = r#"{"keypair": {"name": "iso-{unique}", "public_key": "{public_key}", "user_id": "{a_member}"}}"#;
    const QUOTA: &str = r#"{"quota_set": {"server_groups": 7}}"#;
    const ANOTHER_QUOTA: &str = r#"{"quota_set": {"server_groups": 9}}"#;
    const PRIVATE_MISSING: &str = "Flavor {private} could not be found.";
    const SERVER_MISSING: &str = "Instance {server} could not be found.";
    const IMAGE_MISSING: &str = "Image not found.";
    const NEW_SERVER: &str =
        r#"{"server": {"name": "iso-new-{unique}", "imageRef": "{image}", "flavorRef": "1"}}"#;
    const NEW_SERVER_AUTO_NETWORK: &str = r#"{"server": {"name": "iso-new-{unique}", "imageRef": "{image}", "flavorRef": "1", "networks": "auto"}}"#;
    vec![
        // Versions: no policy.
        row(GET, "/versions/{id}", "/versions/v2.1").expect([200; 4]),
        row(GET, "/versions/{id}", "/versions/v2.0").expect([404; 4]),
        // Flavors: lists show only what the caller may see; a private flavor is another
        // project's secret (404, not 403).
        row(GET, "/flavors", "/flavors").expect([200; 4]),
        row(GET, "/flavors/detail", "/flavors/detail").expect([200; 4]),
        row(GET, "/flavors/{id}", "/flavors/{private}")
            .missing(PRIVATE_MISSING)
            .expect([200, 200, 200, 404]),
        row(GET, "/flavors/{id}", "/flavors/{public}").expect([200; 4]),
        row(POST, "/flavors", "/flavors")
            .body(NEW_FLAVOR)
            .rule(FLAVOR_CREATE)
            .expect([200, 403, 403, 403]),
        row(POST, "/flavors", "/flavors")
            .at("2.60")
            .body(NEW_FLAVOR)
            .rule(FLAVOR_CREATE)
            .expect([200, 403, 403, 403]),
        // Update exists from 2.55 only: below, 404 before any policy.
        row(PUT, "/flavors/{id}", "/flavors/{fresh}")
            .at("2.54")
            .body(r#"{"flavor": {"description": "d"}}"#)
            .fixture(Fixture::Flavor)
            .expect([404; 4]),
        row(PUT, "/flavors/{id}", "/flavors/{fresh}")
            .at("2.55")
            .body(r#"{"flavor": {"description": "d"}}"#)
            .fixture(Fixture::Flavor)
            .rule(FLAVOR_UPDATE)
            .expect([200, 403, 403, 403]),
        row(DELETE, "/flavors/{id}", "/flavors/{fresh}")
            .fixture(Fixture::Flavor)
            .rule(FLAVOR_DELETE)
            .expect([202, 403, 403, 403]),
        row(DELETE, "/flavors/{id}", "/flavors/{fresh}")
            .at("2.60")
            .fixture(Fixture::Flavor)
            .rule(FLAVOR_DELETE)
            .expect([202, 403, 403, 403]),
        // Flavor access: admin only; policy before the lookup.
        row(
            GET,
            "/flavors/{flavor_id}/os-flavor-access",
            "/flavors/{private}/os-flavor-access",
        )
        .rule(ACCESS_INDEX)
        .expect([200, 403, 403, 403]),
        row(
            GET,
            "/flavors/{flavor_id}/os-flavor-access",
            "/flavors/{public}/os-flavor-access",
        )
        .rule(ACCESS_INDEX)
        .missing("Access list not available for public flavors.")
        .expect([404, 403, 403, 403]),
        row(POST, "/flavors/{id}/action", "/flavors/{fresh}/action")
            .at("2.60")
            .body(r#"{"addTenantAccess": {"tenant": "t{unique}"}}"#)
            .fixture(Fixture::Flavor)
            .rule(ACCESS_ADD)
            .expect([200, 403, 403, 403]),
        row(POST, "/flavors/{id}/action", "/flavors/{public}/action")
            .at("2.7")
            .body(r#"{"addTenantAccess": {"tenant": "{project_b}"}}"#)
            .rule(ACCESS_ADD)
            .expect([409, 403, 403, 403]),
        row(POST, "/flavors/{id}/action", "/flavors/{fresh}/action")
            .body(r#"{"removeTenantAccess": {"tenant": "{project_a}"}}"#)
            .fixture(Fixture::Flavor)
            .rule(ACCESS_REMOVE)
            .expect([200, 403, 403, 403]),
        row(POST, "/flavors/{id}/action", "/flavors/{fresh}/action")
            .body(r#"{"lockTheFlavor": null}"#)
            .fixture(Fixture::Flavor)
            .expect([400; 4]),
        // Extra specs: readers of a project that sees the flavor read them; writing is admin.
        row(
            GET,
            "/flavors/{flavor_id}/os-extra_specs",
            "/flavors/{private}/os-extra_specs",
        )
        .missing(PRIVATE_MISSING)
        .expect([200, 200, 200, 404]),
        row(
            GET,
            "/flavors/{flavor_id}/os-extra_specs",
            "/flavors/{public}/os-extra_specs",
        )
        .expect([200; 4]),
        row(
            POST,
            "/flavors/{flavor_id}/os-extra_specs",
            "/flavors/{fresh}/os-extra_specs",
        )
        .body(r#"{"extra_specs": {"k2": "v2"}}"#)
        .fixture(Fixture::Flavor)
        .rule(SPECS_CREATE)
        .expect([200, 403, 403, 403]),
        row(
            GET,
            "/flavors/{flavor_id}/os-extra_specs/{id}",
            "/flavors/{private}/os-extra_specs/k1",
        )
        .missing(PRIVATE_MISSING)
        .expect([200, 200, 200, 404]),
        row(
            GET,
            "/flavors/{flavor_id}/os-extra_specs/{id}",
            "/flavors/{public}/os-extra_specs/k1",
        )
        .expect([404; 4]),
        row(
            PUT,
            "/flavors/{flavor_id}/os-extra_specs/{id}",
            "/flavors/{fresh}/os-extra_specs/k1",
        )
        .body(r#"{"k1": "v9"}"#)
        .fixture(Fixture::Flavor)
        .rule(SPECS_UPDATE)
        .expect([200, 403, 403, 403]),
        row(
            DELETE,
            "/flavors/{flavor_id}/os-extra_specs/{id}",
            "/flavors/{fresh}/os-extra_specs/k1",
        )
        .fixture(Fixture::Flavor)
        .rule(SPECS_DELETE)
        .expect([200, 403, 403, 403]),
        // Key pairs belong to a user: without `user_id` everyone works in their own
        // namespace (a_member's key pair is "not found" for the others); naming a_member
        // (2.10) is for a_member and admins only.
        row(GET, "/os-keypairs", "/os-keypairs").expect([200; 4]),
        row(GET, "/os-keypairs", "/os-keypairs?user_id={a_member}")
            .at("2.10")
            .rule(KEYPAIRS_INDEX)
            .expect([200, 200, 403, 403]),
        row(POST, "/os-keypairs", "/os-keypairs")
            .body(NEW_KEYPAIR)
            .expect([200; 4]),
        row(POST, "/os-keypairs", "/os-keypairs")
            .at("2.2")
            .body(NEW_KEYPAIR)
            .expect([201; 4]),
        row(POST, "/os-keypairs", "/os-keypairs")
            .at("2.10")
            .body(NEW_KEYPAIR_FOR_A_MEMBER)
            .rule(KEYPAIRS_CREATE)
            .expect([201, 201, 403, 403]),
        row(GET, "/os-keypairs/{id}", "/os-keypairs/kp-a").expect([404, 200, 404, 404]),
        row(
            GET,
            "/os-keypairs/{id}",
            "/os-keypairs/kp-a?user_id={a_member}",
        )
        .at("2.10")
        .rule(KEYPAIRS_SHOW)
        .expect([200, 200, 403, 403]),
        row(DELETE, "/os-keypairs/{id}", "/os-keypairs/{fresh}")
            .fixture(Fixture::Keypair)
            .expect([404, 202, 404, 404]),
        row(DELETE, "/os-keypairs/{id}", "/os-keypairs/{fresh}")
            .at("2.2")
            .fixture(Fixture::Keypair)
            .expect([404, 204, 404, 404]),
        row(
            DELETE,
            "/os-keypairs/{id}",
            "/os-keypairs/{fresh}?user_id={a_member}",
        )
        .at("2.10")
        .fixture(Fixture::Keypair)
        .rule(KEYPAIRS_DELETE)
        .expect([204, 204, 403, 403]),
        // Limits: anyone's own; another project's (even naming one's own) is admin only.
        row(GET, "/limits", "/limits").expect([200; 4]),
        row(GET, "/limits", "/limits").at("2.60").expect([200; 4]),
        row(GET, "/limits", "/limits?tenant_id={project_a}")
            .rule(LIMITS_OTHER)
            .expect([200, 403, 403, 403]),
        row(GET, "/limits", "/limits?tenant_id={project_b}")
            .rule(LIMITS_OTHER)
            .expect([200, 403, 403, 403]),
        // Quota sets: a project's readers read its quotas, other projects get 403; defaults
        // are public; writing is admin only.
        row(GET, "/os-quota-sets/{id}", "/os-quota-sets/{project_a}")
            .rule(QUOTA_SHOW)
            .expect([200, 200, 200, 403]),
        row(GET, "/os-quota-sets/{id}", "/os-quota-sets/{project_b}")
            .rule(QUOTA_SHOW)
            .expect([200, 403, 403, 200]),
        row(
            GET,
            "/os-quota-sets/{id}",
            "/os-quota-sets/{project_a}?user_id={a_member}",
        )
        .rule(QUOTA_SHOW)
        .expect([200, 200, 200, 403]),
        row(
            GET,
            "/os-quota-sets/{id}/detail",
            "/os-quota-sets/{project_a}/detail",
        )
        .rule(QUOTA_DETAIL)
        .expect([200, 200, 200, 403]),
        row(
            GET,
            "/os-quota-sets/{id}/detail",
            "/os-quota-sets/{project_b}/detail",
        )
        .rule(QUOTA_DETAIL)
        .expect([200, 403, 403, 200]),
        row(
            GET,
            "/os-quota-sets/{id}/defaults",
            "/os-quota-sets/{project_a}/defaults",
        )
        .expect([200; 4]),
        row(
            GET,
            "/os-quota-sets/{id}/defaults",
            "/os-quota-sets/{project_b}/defaults",
        )
        .expect([200; 4]),
        row(PUT, "/os-quota-sets/{id}", "/os-quota-sets/{project_a}")
            .body(QUOTA)
            .fixture(Fixture::Quota)
            .rule(QUOTA_UPDATE)
            .expect([200, 403, 403, 403]),
        row(PUT, "/os-quota-sets/{id}", "/os-quota-sets/{project_b}")
            .at("2.60")
            .body(ANOTHER_QUOTA)
            .rule(QUOTA_UPDATE)
            .expect([200, 403, 403, 403]),
        row(DELETE, "/os-quota-sets/{id}", "/os-quota-sets/{project_a}")
            .fixture(Fixture::Quota)
            .rule(QUOTA_DELETE)
            .expect([202, 403, 403, 403]),
        row(DELETE, "/os-quota-sets/{id}", "/os-quota-sets/{project_b}")
            .rule(QUOTA_DELETE)
            .expect([202, 403, 403, 403]),
        // Servers: a project's readers read its servers, members and admins change them;
        // another project's server does not exist for the caller (404 before any policy).
        // Lists show the caller's project only; all projects' is admin only.
        row(GET, "/servers", "/servers").expect([200; 4]),
        row(GET, "/servers", "/servers?all_tenants=1")
            .rule(SERVERS_INDEX_ALL)
            .expect([200, 403, 403, 403]),
        row(GET, "/servers/detail", "/servers/detail").expect([200; 4]),
        row(GET, "/servers/detail", "/servers/detail?all_tenants=1")
            .rule(SERVERS_DETAIL_ALL)
            .expect([200, 403, 403, 403]),
        row(GET, "/servers/{id}", "/servers/{server}")
            .missing(SERVER_MISSING)
            .expect([200, 200, 200, 404]),
        row(GET, "/servers/{id}", "/servers/{server}")
            .at("2.47")
            .missing(SERVER_MISSING)
            .expect([200, 200, 200, 404]),
        // Creating is for members in their own project: b_member's server is project B's.
        row(POST, "/servers", "/servers")
            .body(NEW_SERVER)
            .rule(SERVERS_CREATE)
            .expect([202, 202, 403, 202]),
        row(POST, "/servers", "/servers")
            .at("2.37")
            .body(NEW_SERVER_AUTO_NETWORK)
            .rule(SERVERS_CREATE)
            .expect([202, 202, 403, 202]),
        row(PUT, "/servers/{id}", "/servers/{fresh}")
            .body(r#"{"server": {"name": "renamed-{unique}"}}"#)
            .fixture(Fixture::Server)
            .rule(SERVERS_UPDATE)
            .missing(FRESH_SERVER_MISSING)
            .expect([200, 200, 403, 404]),
        row(DELETE, "/servers/{id}", "/servers/{fresh}")
            .fixture(Fixture::Server)
            .rule(SERVERS_DELETE)
            .missing(FRESH_SERVER_MISSING)
            .expect([204, 204, 403, 404]),
        // Actions on an ACTIVE server: those it allows are accepted, the others are 409 for
        // whoever may ask (the policy comes before the state).
        server_action(r#"{"reboot": {"type": "SOFT"}}"#, SERVERS_REBOOT, 202),
        server_action(r#"{"reboot": {"type": "HARD"}}"#, SERVERS_REBOOT, 202),
        server_action(r#"{"os-start": null}"#, SERVERS_START, 409),
        server_action(r#"{"os-stop": null}"#, SERVERS_STOP, 202),
        server_action(r#"{"pause": null}"#, SERVERS_PAUSE, 202),
        // os-lock-server (a standard extension's actions on the same route).
        server_action(r#"{"lock": null}"#, SERVERS_LOCK, 202),
        server_action(r#"{"unlock": null}"#, SERVERS_UNLOCK, 202),
        server_action(r#"{"unpause": null}"#, SERVERS_UNPAUSE, 409),
        server_action(r#"{"suspend": null}"#, SERVERS_SUSPEND, 202),
        server_action(r#"{"resume": null}"#, SERVERS_RESUME, 409),
        server_action(r#"{"resize": {"flavorRef": "2"}}"#, SERVERS_RESIZE, 202),
        server_action(r#"{"confirmResize": null}"#, SERVERS_CONFIRM_RESIZE, 409),
        server_action(r#"{"revertResize": null}"#, SERVERS_REVERT_RESIZE, 409),
        server_action(
            r#"{"createImage": {"name": "iso-snap-{unique}"}}"#,
            SERVERS_CREATE_IMAGE,
            202,
        ),
        server_action(
            r#"{"createImage": {"name": "iso-snap-{unique}"}}"#,
            SERVERS_CREATE_IMAGE,
            202,
        )
        .at("2.45"),
        server_action(
            r#"{"rebuild": {"imageRef": "{image}"}}"#,
            SERVERS_REBUILD,
            202,
        ),
        row(POST, "/servers/{id}/action", "/servers/{server}/action")
            .body(r#"{"lockTheServer": null}"#)
            .expect([400; 4]),
        // Server metadata: readers read, members write.
        row(
            GET,
            "/servers/{server_id}/metadata",
            "/servers/{server}/metadata",
        )
        .missing(SERVER_MISSING)
        .expect([200, 200, 200, 404]),
        row(
            GET,
            "/servers/{server_id}/metadata/{id}",
            "/servers/{server}/metadata/k1",
        )
        .missing(SERVER_MISSING)
        .expect([200, 200, 200, 404]),
        row(
            POST,
            "/servers/{server_id}/metadata",
            "/servers/{fresh}/metadata",
        )
        .body(r#"{"metadata": {"k2": "v2"}}"#)
        .fixture(Fixture::MetaItem)
        .rule(METADATA_CREATE)
        .missing(FRESH_SERVER_MISSING)
        .expect([200, 200, 403, 404]),
        row(
            PUT,
            "/servers/{server_id}/metadata",
            "/servers/{fresh}/metadata",
        )
        .body(r#"{"metadata": {"k3": "v3"}}"#)
        .fixture(Fixture::MetaItem)
        .rule(METADATA_UPDATE_ALL)
        .missing(FRESH_SERVER_MISSING)
        .expect([200, 200, 403, 404]),
        row(
            PUT,
            "/servers/{server_id}/metadata/{id}",
            "/servers/{fresh}/metadata/k1",
        )
        .body(r#"{"meta": {"k1": "v9"}}"#)
        .fixture(Fixture::MetaItem)
        .rule(METADATA_UPDATE)
        .missing(FRESH_SERVER_MISSING)
        .expect([200, 200, 403, 404]),
        row(
            DELETE,
            "/servers/{server_id}/metadata/{id}",
            "/servers/{fresh}/metadata/k1",
        )
        .fixture(Fixture::MetaItem)
        .rule(METADATA_DELETE)
        .missing(FRESH_SERVER_MISSING)
        .expect([204, 204, 403, 404]),
        // The images proxy: no policy, gone from 2.36. The catalogue's public images are
        // everyone's to read; a snapshot is its server's project's; deleting is for admins.
        row(GET, "/images", "/images").expect([200; 4]),
        row(GET, "/images", "/images").at("2.35").expect([200; 4]),
        row(GET, "/images", "/images").at("2.36").expect([404; 4]),
        row(GET, "/images/detail", "/images/detail").expect([200; 4]),
        row(GET, "/images/detail", "/images/detail")
            .at("2.36")
            .expect([404; 4]),
        row(GET, "/images/{id}", "/images/{image}").expect([200; 4]),
        row(GET, "/images/{id}", "/images/{image}")
            .at("2.36")
            .expect([404; 4]),
        row(GET, "/images/{id}", "/images/{snapshot}")
            .missing(IMAGE_MISSING)
            .expect([200, 200, 200, 404]),
        row(DELETE, "/images/{id}", "/images/{fresh}")
            .fixture(Fixture::Image)
            .denied("You are not allowed to delete the image.")
            .expect([204, 403, 403, 403]),
        row(DELETE, "/images/{id}", "/images/{fresh}")
            .at("2.36")
            .fixture(Fixture::Image)
            .expect([404; 4]),
        // Extensions (policy `@`) and os-documents: readers read, members write, and another
        // project's document is a 404 (policy first, on the caller's own project).
        row(GET, "/extensions", "/extensions").expect([200; 4]),
        row(GET, "/extensions/{id}", "/extensions/os-documents").expect([200; 4]),
        row(GET, "/extensions/{id}", "/extensions/os-nothing").expect([404; 4]),
        row(GET, "/os-documents", "/os-documents").expect([200; 4]),
        row(POST, "/os-documents", "/os-documents")
            .body(r#"{"document": {"name": "iso-{unique}", "content": "text"}}"#)
            .rule(DOCUMENTS_CREATE)
            .expect([200, 200, 403, 200]),
        row(GET, "/os-documents/{id}", "/os-documents/{fresh}")
            .fixture(Fixture::Document)
            .missing(DOCUMENT_MISSING)
            .expect([200, 200, 200, 404]),
        row(PUT, "/os-documents/{id}", "/os-documents/{fresh}")
            .body(r#"{"document": {"name": "renamed-{unique}"}}"#)
            .fixture(Fixture::Document)
            .rule(DOCUMENTS_UPDATE)
            .missing(DOCUMENT_MISSING)
            .expect([200, 200, 403, 404]),
        row(DELETE, "/os-documents/{id}", "/os-documents/{fresh}")
            .fixture(Fixture::Document)
            .rule(DOCUMENTS_DELETE)
            .missing(DOCUMENT_MISSING)
            .expect([204, 204, 403, 404]),
    ]
}

/// The 404 message for the fixture's document.
const DOCUMENT_MISSING: &str = "Document {fresh} could not be found.";

/// An action on a fresh ACTIVE server of a_member: `allowed` for a_admin and a_member, 403
/// for a_reader, 404 for b_member.
fn server_action(body: &'static str, rule: &'static str, allowed: u16) -> Row {
    row(
        Method::Post,
        "/servers/{id}/action",
        "/servers/{fresh}/action",
    )
    .body(body)
    .fixture(Fixture::Server)
    .rule(rule)
    .missing(FRESH_SERVER_MISSING)
    .expect([allowed, allowed, 403, 404])
}

/// The 404 message for the fixture's server.
const FRESH_SERVER_MISSING: &str = "Instance {fresh} could not be found.";

/// Whether `path` (query dropped) has the shape of the route template `route`.
fn matches_template(route: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or_default();
    let (route, path): (Vec<&str>, Vec<&str>) =
        (route.split('/').collect(), path.split('/').collect());
    route.len() == path.len()
        && route.iter().zip(&path).all(|(r, p)| {
            if r.starts_with('{') {
                !p.is_empty()
            } else {
                r == p
            }
        })
}

#[test]
fn every_route_has_a_row() {
    let rows = matrix();
    let served: BTreeSet<(&str, &str)> = ringnova::api::routes()
        .map(|route| (route.method.as_str(), route.path))
        .collect();
    assert!(served.len() >= 20, "{served:?}");
    let covered: BTreeSet<(&str, &str)> = rows
        .iter()
        .map(|row| (row.method.as_str(), row.route))
        .collect();
    let missing: Vec<_> = served.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the isolation matrix: {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&served).collect();
    assert!(stale.is_empty(), "rows for routes not served: {stale:?}");
    for row in &rows {
        assert!(
            matches_template(row.route, row.path),
            "{} does not fit {}",
            row.path,
            row.route
        );
        assert!(row.expect.iter().all(|s| (200..600).contains(s)), "{row:?}");
        if row.expect.contains(&403) {
            assert!(
                row.rule.is_some() != row.denied.is_some(),
                "a 403 without its rule or message: {row:?}"
            );
        }
    }
}

/// The running server, the callers' tokens and the shared objects.
struct World {
    server: Server,
    tokens: [Option<String>; 9],
    project_a: String,
    project_b: String,
    a_member: String,
    private: String,
    public: String,
    /// Project A's ACTIVE server with metadata `k1 = v1`, never changed.
    active_server: String,
    /// Project A's ACTIVE server whose metadata the metadata rows change.
    meta_server: String,
    /// An image made by createImage of `server`.
    snapshot: String,
    counter: Cell<u32>,
}

/// One raw request; `token` `None` sends no `X-Auth-Token`.
fn send(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    version: Option<&str>,
    body: Option<&str>,
) -> Response {
    let body = body.unwrap_or_default();
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        server.addr
    );
    if let Some(token) = token {
        raw.push_str(&format!("X-Auth-Token: {token}\r\n"));
    }
    if let Some(version) = version {
        raw.push_str(&format!("OpenStack-API-Version: compute {version}\r\n"));
    }
    if !body.is_empty() {
        raw.push_str("Content-Type: application/json\r\n");
    }
    raw.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let mut stream = server.connect();
    stream.write_all(raw.as_bytes()).unwrap();
    common::read_response(&mut stream).expect("a response")
}

/// Issues a project-scoped token; returns it with the token body.
fn issue(server: &Server, user: &str, password: &str, project: &str) -> (String, Value) {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}
    }});
    let resp = send(
        server,
        "POST",
        "/identity/v3/auth/tokens",
        None,
        None,
        Some(&body.to_string()),
    );
    assert_eq!(resp.status, 201, "{user}: {}", resp.text());
    let token = resp.header("x-subject-token").unwrap().to_owned();
    (token, resp.json())
}

/// `token` with the first character of its signature changed.
fn flip_signature(token: &str) -> String {
    let (signed, mac) = token.rsplit_once('.').unwrap();
    let first = if mac.starts_with('A') { 'B' } else { 'A' };
    format!("{signed}.{first}{}", &mac[1..])
}

/// `token` with its project field replaced (the signature left as it was).
fn forge_project(token: &str, project: &str) -> String {
    let mut fields: Vec<&str> = token.split('.').collect();
    assert_eq!(fields.len(), 9, "{token}");
    fields[6] = project;
    fields.join(".")
}

/// `token`'s claims signed again with the server's key, expiring at `expires_ms`.
fn resign(server: &Server, token: &str, expires_ms: u64) -> String {
    let ring = KeyRing::load(&server.dir.join("data").join("token_keys")).unwrap();
    let (claims, _, _) = token::parse(token).unwrap();
    let claims = Claims {
        issued_ms: expires_ms - 3_600_000,
        expires_ms,
        ..claims
    };
    token::sign(ring.primary().unwrap(), &claims)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

impl World {
    fn start(driver: &str) -> World {
        let dir = common::scratch_dir("isolation");
        let file = dir.join("bootstrap.ini");
        std::fs::write(&file, BOOTSTRAP).unwrap();
        let conf = format!(
            // Fixtures make many key pairs and servers for a_member: no quota in the way,
            // and servers that build (and change state) at once.
            "[api]\nauth_strategy = token\n[identity]\nbootstrap_file = {}\n\
             [quota]\nkey_pairs = -1\ninstances = -1\ncores = -1\nram = -1\n\
             [fake_driver]\nbuild_time = 0\nreboot_time = 0\npower_time = 0\npause_time = 0\n\
             suspend_time = 0\nresize_time = 0\nsnapshot_time = 0\nrebuild_time = 0\n\
             delete_time = 0\n",
            file.display()
        );
        let server = Server::with(Options {
            driver,
            workers: 2,
            conf: &conf,
            ..Options::default()
        });
        let (a_admin, body) = issue(&server, "a_admin", "a-admin-pw", "iso-a");
        let project_a = body["token"]["project"]["id"].as_str().unwrap().to_owned();
        let (a_member, body) = issue(&server, "a_member", "a-member-pw", "iso-a");
        let a_member_id = body["token"]["user"]["id"].as_str().unwrap().to_owned();
        let (a_reader, _) = issue(&server, "a_reader", "a-reader-pw", "iso-a");
        let (b_member, body) = issue(&server, "b_member", "b-member-pw", "iso-b");
        let project_b = body["token"]["project"]["id"].as_str().unwrap().to_owned();
        assert_ne!(project_a, project_b);

        // The doctored tokens are refused for what was done to them, not by accident: the
        // same claims signed properly (and not yet expired) pass.
        let valid_again = resign(&server, &a_admin, now_ms() + 600_000);
        let expired = resign(&server, &a_admin, now_ms() - 3_600_000);
        let check = send(
            &server,
            "GET",
            "/v2.1/limits",
            Some(&valid_again),
            None,
            None,
        );
        assert_eq!(check.status, 200, "{}", check.text());
        let flipped = flip_signature(&a_member);
        let forged = forge_project(&a_member, &project_b);
        assert_ne!(flipped, a_member);
        assert_ne!(forged, a_member);

        let tokens = [
            Some(a_admin),
            Some(a_member),
            Some(a_reader),
            Some(b_member),
            None,
            Some("gAAAAABnot-a-token-at-all".to_owned()),
            Some(flipped),
            Some(forged),
            Some(expired),
        ];
        let mut world = World {
            server,
            tokens,
            project_a,
            project_b,
            a_member: a_member_id,
            private: String::new(),
            public: String::new(),
            active_server: String::new(),
            meta_server: String::new(),
            snapshot: String::new(),
            counter: Cell::new(0),
        };
        world.create_shared_objects();
        world
    }

    fn token(&self, who: Who) -> Option<&str> {
        self.tokens[who as usize].as_deref()
    }

    /// The project a caller's `/{project_id}` URLs name: its own (A for the impostors).
    fn own_project(&self, who: Who) -> &str {
        if who == Who::BMember {
            &self.project_b
        } else {
            &self.project_a
        }
    }

    fn unique(&self) -> String {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        n.to_string()
    }

    fn call(
        &self,
        who: Who,
        method: &str,
        path: &str,
        version: &str,
        body: Option<&str>,
    ) -> Response {
        send(
            &self.server,
            method,
            &format!("/v2.1{path}"),
            self.token(who),
            Some(version),
            body,
        )
    }

    /// Like [`call`](Self::call), asserting the status.
    fn must(&self, who: Who, method: &str, path: &str, body: &str, status: u16) -> Response {
        let resp = self.call(
            who,
            method,
            path,
            "2.2",
            Some(body).filter(|b| !b.is_empty()),
        );
        assert_eq!(
            resp.status,
            status,
            "{who:?} {method} {path}: {}",
            resp.text()
        );
        resp
    }

    /// Project A's objects, made by A's users.
    fn create_shared_objects(&mut self) {
        self.private = self.new_private_flavor("iso-private");
        let public = self.must(
            Who::AAdmin,
            "POST",
            "/flavors",
            r#"{"flavor": {"name": "iso-public", "ram": 128, "vcpus": 1, "disk": 1}}"#,
            200,
        );
        self.public = public.json()["flavor"]["id"].as_str().unwrap().to_owned();
        self.must(
            Who::AMember,
            "POST",
            "/os-keypairs",
            &json!({"keypair": {"name": "kp-a", "public_key": PUBLIC_KEY}}).to_string(),
            201,
        );
        self.recreate(Fixture::Quota);
        self.active_server = self.new_server();
        self.meta_server = self.new_server();
        let snapshot = self.must(
            Who::AMember,
            "POST",
            &format!("/servers/{}/action", self.active_server),
            r#"{"createImage": {"name": "iso-snapshot"}}"#,
            202,
        );
        let location = snapshot.header("location").unwrap();
        self.snapshot = location.rsplit('/').next().unwrap().to_owned();
        self.wait_active(&self.active_server);
    }

    /// A new server of project A made by a_member, with metadata `k1 = v1`, once ACTIVE;
    /// returns its id.
    fn new_server(&self) -> String {
        let body = json!({"server": {"name": format!("iso-server-{}", self.unique()),
            "imageRef": IMAGE, "flavorRef": "1", "metadata": {"k1": "v1"}}});
        let resp = self.must(Who::AMember, "POST", "/servers", &body.to_string(), 202);
        let id = resp.json()["server"]["id"].as_str().unwrap().to_owned();
        self.wait_active(&id);
        id
    }

    /// `(status, task_state)` of a server, as a_admin sees it.
    fn server_state(&self, id: &str) -> (String, Value) {
        let resp = self.call(Who::AAdmin, "GET", &format!("/servers/{id}"), "2.1", None);
        assert_eq!(resp.status, 200, "{id}: {}", resp.text());
        let body = resp.json();
        let status = body["server"]["status"].as_str().unwrap().to_owned();
        (status, body["server"]["OS-EXT-STS:task_state"].clone())
    }

    /// Polls until the server is ACTIVE without a task.
    fn wait_active(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, task) = self.server_state(id);
            if status == "ACTIVE" && task.is_null() {
                return;
            }
            assert!(Instant::now() < deadline, "{id}: still {status} {task}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// A private flavor shared with project A, with extra spec `k1 = v1`; returns its id.
    fn new_private_flavor(&self, name: &str) -> String {
        let body = json!({"flavor": {"name": name, "ram": 64, "vcpus": 1, "disk": 0,
            "os-flavor-access:is_public": false}});
        let resp = self.must(Who::AAdmin, "POST", "/flavors", &body.to_string(), 200);
        let id = resp.json()["flavor"]["id"].as_str().unwrap().to_owned();
        let share = json!({"addTenantAccess": {"tenant": self.project_a}});
        let action = format!("/flavors/{id}/action");
        self.must(Who::AAdmin, "POST", &action, &share.to_string(), 200);
        let specs = format!("/flavors/{id}/os-extra_specs");
        let spec = r#"{"extra_specs": {"k1": "v1"}}"#;
        self.must(Who::AAdmin, "POST", &specs, spec, 200);
        id
    }

    /// Makes the fixture's object again; returns its id or name.
    fn recreate(&self, fixture: Fixture) -> String {
        match fixture {
            Fixture::None => String::new(),
            Fixture::Flavor => self.new_private_flavor(&format!("iso-fresh-{}", self.unique())),
            Fixture::Keypair => {
                let name = format!("iso-fresh-{}", self.unique());
                let body = json!({"keypair": {"name": name, "public_key": PUBLIC_KEY}});
                self.must(Who::AMember, "POST", "/os-keypairs", &body.to_string(), 201);
                name
            }
            Fixture::Quota => {
                let path = format!("/os-quota-sets/{}", self.project_a);
                self.must(
                    Who::AAdmin,
                    "PUT",
                    &path,
                    r#"{"quota_set": {"server_groups": 7}}"#,
                    200,
                );
                String::new()
            }
            Fixture::Server => self.new_server(),
            Fixture::MetaItem => {
                let path = format!("/servers/{}/metadata", self.meta_server);
                let body = r#"{"metadata": {"k1": "v1"}}"#;
                self.must(Who::AMember, "PUT", &path, body, 200);
                self.meta_server.clone()
            }
            Fixture::Image => {
                let n: u64 = self.unique().parse().unwrap();
                let id = format!("15060000-0000-4000-8000-{n:012}");
                let db = rusqlite::Connection::open(
                    self.server.dir.join("data").join("ringnova.sqlite"),
                )
                .unwrap();
                db.busy_timeout(Duration::from_secs(5)).unwrap();
                db.execute(
                    "INSERT INTO images (id, name, status, created_at, updated_at) VALUES \
                     (?1, 'iso-image', 'active', '2024-01-01T00:00:00.000000', \
                     '2024-01-01T00:00:00.000000')",
                    [&id],
                )
                .unwrap();
                id
            }
            Fixture::Document => {
                let body = format!(
                    r#"{{"document": {{"name": "iso-fresh-{}", "content": "c"}}}}"#,
                    self.unique()
                );
                let resp = self.must(Who::AMember, "POST", "/os-documents", &body, 200);
                resp.json()["document"]["id"].as_str().unwrap().to_owned()
            }
        }
    }

    /// Whether a fixture made before is still as it was made: a refused request must not
    /// have changed it.
    fn unchanged(&self, fixture: Fixture, fresh: &str) -> Option<String> {
        if fixture != Fixture::Server {
            return None;
        }
        let (status, task) = self.server_state(fresh);
        (status != "ACTIVE" || !task.is_null())
            .then(|| format!("a refused request left server {fresh} {status} {task}"))
    }

    fn fill(&self, text: &str, fresh: &str, unique: &str) -> String {
        text.replace("{private}", &self.private)
            .replace("{public}", &self.public)
            .replace("{fresh}", fresh)
            .replace("{unique}", unique)
            .replace("{project_a}", &self.project_a)
            .replace("{project_b}", &self.project_b)
            .replace("{a_member}", &self.a_member)
            .replace("{public_key}", PUBLIC_KEY)
            .replace("{server}", &self.active_server)
            .replace("{snapshot}", &self.snapshot)
            .replace("{image}", IMAGE)
    }

    /// Runs one cell: `row` as `who`, with `project` as the URL's project segment (if any),
    /// on the fixture's object `fresh`; returns the status and a description of what went
    /// wrong.
    fn cell(
        &self,
        row: &Row,
        who: Who,
        project: Option<&str>,
        expected: u16,
        fresh: &str,
    ) -> (u16, Option<String>) {
        let unique = self.unique();
        let path = self.fill(row.path, fresh, &unique);
        let path = match project {
            Some(project) => format!("/{project}{path}"),
            None => path,
        };
        let body = row.body.map(|b| self.fill(b, fresh, &unique));
        let resp = self.call(
            who,
            row.method.as_str(),
            &path,
            row.version,
            body.as_deref(),
        );
        let label = format!(
            "{who:?} {} /v2.1{path} @{}: {} {}",
            row.method,
            row.version,
            resp.status,
            resp.text()
        );
        if resp.status != expected {
            return (resp.status, Some(format!("expected {expected}: {label}")));
        }
        let problem = self.check_body(row, who, project, fresh, &resp);
        (resp.status, problem.map(|p| format!("{p}: {label}")))
    }

    /// The error bodies: keystonemiddleware's 401, Nova's faults with their messages.
    fn check_body(
        &self,
        row: &Row,
        who: Who,
        project: Option<&str>,
        fresh: &str,
        resp: &Response,
    ) -> Option<String> {
        if resp.status < 400 {
            return None;
        }
        let Ok(json) = serde_json::from_slice::<Value>(&resp.body) else {
            return Some("error body is not JSON".into());
        };
        let fault = |key: &str, message: Option<String>| -> Option<String> {
            let inner = &json[key];
            if inner["code"] != resp.status {
                return Some(format!("no {key} fault"));
            }
            match (message, inner["message"].as_str()) {
                (_, None) => Some("fault without message".into()),
                (Some(want), Some(got)) if want != got => Some(format!("message is not {want:?}")),
                _ => None,
            }
        };
        match resp.status {
            401 => {
                let want = json!({"error": {"code": 401, "title": "Unauthorized",
                    "message": "The request you have made requires authentication."}});
                let www = format!("Keystone uri=\"http://{}/identity\"", self.server.addr);
                if json != want {
                    Some("not keystonemiddleware's 401 body".into())
                } else if resp.header("www-authenticate") != Some(www.as_str()) {
                    Some(format!("WWW-Authenticate is not {www}"))
                } else {
                    None
                }
            }
            // A request that is malformed in itself (an unknown action) is a 400 in Nova
            // before the URL's project is compared, with its own message; ringnova compares
            // the project first. Same status; the message is checked where both agree.
            400 if project.is_some_and(|p| p != self.own_project(who))
                && !row.expect.contains(&400) =>
            {
                fault(
                    "badRequest",
                    Some(format!(
                        "Malformed request URL: URL's project_id '{}' doesn't match Context's \
                     project_id '{}'",
                        project.unwrap_or_default(),
                        self.own_project(who)
                    )),
                )
            }
            400 => fault("badRequest", None),
            403 => fault(
                "forbidden",
                row.rule
                    .map(|rule| format!("Policy doesn't allow {rule} to be performed."))
                    .or(row.denied.map(str::to_owned)),
            ),
            404 => fault("itemNotFound", row.missing.map(|m| self.fill(m, fresh, ""))),
            409 => fault("conflictingRequest", None),
            _ => None,
        }
    }
}

/// The whole matrix on one server; returns the number of cells run.
fn run_matrix(driver: &str) -> usize {
    let world = World::start(driver);
    let rows = matrix();
    let mut failures = Vec::new();
    let mut cells = 0;
    for row in &rows {
        let mut cells_of_row = Vec::new();
        for (column, &who) in USERS.iter().chain(&UNAUTHENTICATED).enumerate() {
            let expected = row.expect.get(column).copied().unwrap_or(401);
            let own = world.own_project(who).to_owned();
            for project in [None, Some(own)] {
                cells_of_row.push((who, project, expected));
            }
        }
        // Another project's id in the URL: Nova's 400 for every user on every route.
        for who in USERS {
            let other = if who == Who::BMember {
                &world.project_a
            } else {
                &world.project_b
            };
            cells_of_row.push((who, Some(other.clone()), 400));
        }
        // The fixture's object, made again after a cell whose request went through.
        let mut fresh: Option<String> = None;
        for (who, project, expected) in cells_of_row {
            let object = match fresh.take() {
                Some(object) => match world.unchanged(row.fixture, &object) {
                    None => object,
                    Some(problem) => {
                        failures.push(problem);
                        world.recreate(row.fixture)
                    }
                },
                None => world.recreate(row.fixture),
            };
            let (status, problem) = world.cell(row, who, project.as_deref(), expected, &object);
            failures.extend(problem);
            if status >= 400 {
                fresh = Some(object);
            }
            cells += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    check_shared_objects(&world);
    cells
}

/// After the whole matrix, project A's objects are as they were made, and the lists show
/// project B nothing of them.
fn check_shared_objects(world: &World) {
    let get = |who: Who, path: &str, version: &str| {
        let resp = world.call(who, "GET", path, version, None);
        assert_eq!(resp.status, 200, "{who:?} {path}: {}", resp.text());
        resp.json()
    };
    let ids = |body: &Value| -> Vec<String> {
        body["flavors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let private = &world.private;
    assert!(ids(&get(Who::AMember, "/flavors", "2.1")).contains(private));
    assert!(ids(&get(Who::AReader, "/flavors/detail", "2.1")).contains(private));
    for path in ["/flavors", "/flavors/detail", "/flavors?is_public=none"] {
        let seen = ids(&get(Who::BMember, path, "2.1"));
        assert!(!seen.contains(private), "b_member sees {private} in {path}");
        assert!(seen.contains(&world.public), "{path}");
    }
    let access = get(
        Who::AAdmin,
        &format!("/flavors/{private}/os-flavor-access"),
        "2.1",
    );
    assert_eq!(
        access["flavor_access"],
        json!([{"flavor_id": private, "tenant_id": world.project_a}])
    );
    let specs = get(
        Who::AReader,
        &format!("/flavors/{private}/os-extra_specs"),
        "2.1",
    );
    assert_eq!(specs, json!({"extra_specs": {"k1": "v1"}}));
    let quota = get(
        Who::AReader,
        &format!("/os-quota-sets/{}", world.project_a),
        "2.1",
    );
    assert_eq!(quota["quota_set"]["server_groups"], 7);
    let limits = get(Who::AMember, "/limits", "2.1");
    assert_eq!(limits["limits"]["absolute"]["maxServerGroups"], 7);
    let limits = get(Who::BMember, "/limits", "2.1");
    assert_eq!(limits["limits"]["absolute"]["maxServerGroups"], 10);
    let names = |who: Who| -> Vec<String> {
        get(who, "/os-keypairs", "2.1")["keypairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["keypair"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(names(Who::AMember).contains(&"kp-a".to_owned()));
    for who in [Who::AAdmin, Who::AReader, Who::BMember] {
        assert!(!names(who).contains(&"kp-a".to_owned()), "{who:?}");
    }
    // Servers: project A's are A's alone, whatever filter project B's member sends.
    let servers = |who: Who, path: &str| -> Vec<(String, String)> {
        get(who, path, "2.1")["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let project = s["tenant_id"].as_str().unwrap_or_default().to_owned();
                (s["id"].as_str().unwrap().to_owned(), project)
            })
            .collect()
    };
    let shared = [&world.active_server, &world.meta_server];
    for who in [Who::AAdmin, Who::AMember, Who::AReader] {
        let seen = servers(who, "/servers/detail");
        for id in shared {
            assert!(seen.iter().any(|(s, _)| s == id), "{who:?} misses {id}");
        }
        let ours = servers(who, "/servers/detail");
        assert!(ours.iter().all(|(_, p)| *p == world.project_a), "{who:?}");
    }
    let filters = [
        "/servers".to_owned(),
        "/servers/detail".to_owned(),
        format!("/servers/detail?project_id={}", world.project_a),
        format!("/servers/detail?tenant_id={}", world.project_a),
        "/servers/detail?all_tenants=0".to_owned(),
        "/servers/detail?name=iso&changes-since=2000-01-01T00:00:00Z".to_owned(),
    ];
    for path in &filters {
        let seen = servers(Who::BMember, path);
        assert!(!seen.is_empty(), "b_member's own servers in {path}");
        for (id, project) in &seen {
            assert!(!shared.contains(&id), "b_member sees {id} in {path}");
            assert!(project.is_empty() || *project == world.project_b, "{path}");
        }
    }
    let all = servers(Who::AAdmin, "/servers/detail?all_tenants=1");
    assert!(all.iter().any(|(_, p)| *p == world.project_b));
    let meta = get(
        Who::AReader,
        &format!("/servers/{}/metadata", world.active_server),
        "2.1",
    );
    assert_eq!(meta, json!({"metadata": {"k1": "v1"}}));
    // Images: the catalogue is everyone's; a snapshot is its project's.
    let images = |who: Who| -> Vec<String> {
        get(who, "/images/detail", "2.1")["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for who in USERS {
        assert!(images(who).contains(&IMAGE.to_owned()), "{who:?}");
    }
    assert!(images(Who::AReader).contains(&world.snapshot));
    assert!(!images(Who::BMember).contains(&world.snapshot));
}

per_driver!(matrix_statuses, |driver| {
    let cells = run_matrix(driver);
    assert_eq!(
        cells,
        matrix().len() * (USERS.len() * 3 + UNAUTHENTICATED.len() * 2)
    );
});
