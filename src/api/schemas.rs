//! Every request schema the controllers validate against, by name: one list for the tests and
//! fuzz targets that must cover them all.
//!
//! Read-only, used by no request path. It must never declare a schema of its own: each entry
//! is the controller's own constant, so the list cannot drift from what is served.

use super::{
    flavor_access, flavor_extra_specs, flavors, keypairs, limits, quota_sets, server_actions,
    server_create, server_metadata, servers, validation::Schema,
};

/// The body schemas, as `("<controller>.<schema>", schema)`.
pub static BODY: &[(&str, &Schema)] = &[
    (
        "flavor_access.add_tenant_access",
        &flavor_access::ADD_TENANT_ACCESS,
    ),
    (
        "flavor_access.remove_tenant_access",
        &flavor_access::REMOVE_TENANT_ACCESS,
    ),
    ("flavor_extra_specs.create", &flavor_extra_specs::CREATE),
    ("flavor_extra_specs.update", &flavor_extra_specs::UPDATE),
    ("flavors.create", &flavors::CREATE),
    ("flavors.create_v20", &flavors::CREATE_V20),
    ("flavors.create_v255", &flavors::CREATE_V255),
    ("flavors.update", &flavors::UPDATE),
    ("keypairs.create_v20", &keypairs::CREATE_V20),
    ("keypairs.create_v21", &keypairs::CREATE_V21),
    ("keypairs.create_v22", &keypairs::CREATE_V22),
    ("keypairs.create_v210", &keypairs::CREATE_V210),
    ("quota_sets.update_v21", &quota_sets::UPDATE_V21),
    ("quota_sets.update_v236", &quota_sets::UPDATE_V236),
    ("quota_sets.update_v257", &quota_sets::UPDATE_V257),
    ("server_actions.reboot", &server_actions::REBOOT_SCHEMA),
    ("server_actions.resize", &server_actions::RESIZE_SCHEMA),
    (
        "server_actions.create_image",
        &server_actions::CREATE_IMAGE_SCHEMA,
    ),
    ("server_actions.rebuild_v21", &server_actions::REBUILD_V21),
    ("server_actions.rebuild_v219", &server_actions::REBUILD_V219),
    ("server_actions.rebuild_v254", &server_actions::REBUILD_V254),
    ("server_actions.rebuild_v257", &server_actions::REBUILD_V257),
    ("server_create.create_v21", &server_create::CREATE_V21),
    ("server_create.create_v219", &server_create::CREATE_V219),
    ("server_create.create_v232", &server_create::CREATE_V232),
    ("server_create.create_v237", &server_create::CREATE_V237),
    ("server_create.create_v242", &server_create::CREATE_V242),
    ("server_create.create_v252", &server_create::CREATE_V252),
    ("server_create.create_v257", &server_create::CREATE_V257),
    ("server_metadata.create", &server_metadata::CREATE),
    ("server_metadata.update", &server_metadata::UPDATE),
    ("servers.update_v20", &servers::UPDATE_V20),
    ("servers.update_v21", &servers::UPDATE_V21),
    ("servers.update_v219", &servers::UPDATE_V219),
];

/// The query-string schemas, as `("<controller>.<schema>", schema)`.
pub static QUERY: &[(&str, &Schema)] = &[
    ("flavors.index_query", &flavors::INDEX_QUERY),
    ("keypairs.query_v20", &keypairs::QUERY_V20),
    ("keypairs.query_v210", &keypairs::QUERY_V210),
    ("keypairs.index_v235", &keypairs::INDEX_V235),
    ("limits.query", &limits::QUERY),
    ("quota_sets.query", &quota_sets::QUERY),
    ("servers.query", &servers::QUERY_SCHEMA),
];

#[cfg(test)]
mod tests {
    use super::*;

    use crate::api::validation::{validate_body, validate_query};

    #[test]
    fn names_are_unique_and_every_schema_answers() {
        let mut names: Vec<&str> = BODY.iter().chain(QUERY).map(|(name, _)| *name).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
        // Every body schema wants an object: a bare number is refused with a 400.
        let number = simd_json::BorrowedValue::from(1u64);
        for (name, schema) in BODY {
            let fault = validate_body(schema, &number, false).expect_err(name);
            assert_eq!(fault.status, 400, "{name}");
        }
        // No query parameters at all is always valid.
        for (name, schema) in QUERY {
            assert!(
                validate_query::<&str, &str>(schema, &[], false).is_ok(),
                "{name}"
            );
        }
    }
}
