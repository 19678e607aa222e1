//! Under `auth_strategy = noauth2` the identity endpoint answers only the project lookups the
//! openstack CLI makes before a compute call (`openstack quota show PROJECT`), noauth2's way:
//! every project exists and its id is its name; a token is still required; the rest of the
//! endpoint (token issue, validation) stays 404.

mod common;

use common::{drivers, Server};

#[test]
fn project_lookups_follow_noauth2() {
    let driver = drivers()
        .into_iter()
        .next()
        .unwrap_or_else(|| "legacy".into());
    let server = Server::start(&driver);

    let by_id = server.api(
        "GET",
        "/identity/v3/projects/demo",
        "admin:admin",
        None,
        None,
    );
    assert_eq!(by_id.status, 200);
    let project = &by_id.json()["project"];
    assert_eq!(project["id"], "demo");
    assert_eq!(project["name"], "demo");
    assert_eq!(project["domain_id"], "default");

    let by_name = server.api("GET", "/identity/v3/projects?name=other", "u:p", None, None);
    assert_eq!(by_name.status, 200);
    let list = by_name.json()["projects"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], "other");

    // Without a name: the token's own project (the user's name when it names none).
    let own = server.api("GET", "/identity/v3/auth/projects", "alice", None, None);
    assert_eq!(own.status, 200);
    assert_eq!(own.json()["projects"][0]["id"], "alice");
    let own = server.api("GET", "/identity/v3/projects", "alice:team", None, None);
    assert_eq!(own.json()["projects"][0]["id"], "team");

    // No token: 401; other methods: 405; the rest of the endpoint is not served.
    let anonymous = server.get("/identity/v3/projects/demo", "");
    assert_eq!(anonymous.status, 401);
    let post = server.api("POST", "/identity/v3/projects", "admin:admin", None, None);
    assert_eq!(post.status, 405);
    let tokens = server.api("GET", "/identity/v3/auth/tokens", "admin:admin", None, None);
    assert_eq!(tokens.status, 404);
    let nested = server.api(
        "GET",
        "/identity/v3/projects/a/b",
        "admin:admin",
        None,
        None,
    );
    assert_eq!(nested.status, 404);
}
