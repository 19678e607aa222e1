//! Micro-benchmark of policy checks as the served API makes them: Nova's default rules
//! for key pairs, flavor management and quota sets, with noauth2-shaped credentials.
//!
//! Run: `cargo bench --bench policy -- --quick`. It measures `Enforcer::authorize` (what
//! `ctx.authorize` calls, credentials and target built per check as a request does) and
//! must never touch the network or files.

use criterion::{criterion_group, criterion_main, Criterion};
use ringnova::policy::{Credentials, Enforcer, Target};
use std::hint::black_box;

/// A benchmark's name, the rule, the caller's roles and is_admin, the target's project,
/// and whether the check allows.
type Case<'a> = (&'a str, &'a str, &'a [&'a str], bool, &'a str, bool);

fn checks(c: &mut Criterion) {
    let enforcer = Enforcer::new();
    let admin_roles = ["admin", "member", "reader"];
    let member_roles = ["member", "reader"];
    let reader_roles = ["reader"];
    // (name, rule, roles, is_admin, target project, expected)
    let cases: &[Case<'_>] = &[
        (
            "keypairs_index_member",
            "os_compute_api:os-keypairs:index",
            &member_roles,
            false,
            "demo",
            true,
        ),
        (
            "flavor_create_admin",
            "os_compute_api:os-flavor-manage:create",
            &admin_roles,
            true,
            "demo",
            true,
        ),
        (
            "flavor_create_member_denied",
            "os_compute_api:os-flavor-manage:create",
            &member_roles,
            false,
            "demo",
            false,
        ),
        (
            "quota_show_reader_same_project",
            "os_compute_api:os-quota-sets:show",
            &reader_roles,
            false,
            "demo",
            true,
        ),
        (
            "quota_show_reader_other_project_denied",
            "os_compute_api:os-quota-sets:show",
            &reader_roles,
            false,
            "other",
            false,
        ),
    ];
    let mut group = c.benchmark_group("policy");
    for &(name, rule, roles, is_admin, project, expected) in cases {
        let check = || {
            let creds = Credentials::new()
                .with_user_id(black_box("demo"))
                .with_project_id(black_box("demo"))
                .with_is_admin(is_admin)
                .with_roles(roles.iter().copied());
            let target =
                Target::from_pairs(&[("project_id", black_box(project)), ("user_id", "demo")]);
            enforcer.authorize(black_box(rule), &creds, &target).is_ok()
        };
        assert_eq!(check(), expected, "{name}");
        group.bench_function(name, |b| b.iter(check));
    }
    group.finish();
}

criterion_group!(benches, checks);
criterion_main!(benches);
