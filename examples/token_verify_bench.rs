//! Micro-benchmark of what the `token` strategy adds to every compute request: the auth
//! filter's token check (`Identity::verify`: shape, key lookup, HMAC-SHA256, expiry,
//! revocation) plus the `context_is_admin` policy check that sets `is_admin`.
//!
//! Measurement only: it creates a throw-away data directory under the system temp dir and
//! must never touch a real one. Run: `cargo run --release --example token_verify_bench`.

use std::time::Instant;

use ringnova::{
    config::{Config, Overrides},
    identity::Identity,
    policy::{Credentials, Enforcer, Target},
};

fn main() {
    let dir = std::env::temp_dir().join(format!("ringnova-token-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let overrides = Overrides {
        data_dir: Some(dir.clone()),
        ..Overrides::default()
    };
    let config = Config::from_text("", None, &overrides).expect("config");
    ringnova::db::migrate(&config.database).expect("migrate");
    let identity = Identity::new(&config.identity);
    identity.start(&config).expect("start");
    let roles = ["admin".to_owned(), "member".to_owned(), "reader".to_owned()];
    let user = "0123456789abcdef0123456789abcdef";
    let project = "fedcba9876543210fedcba9876543210";
    let token = identity
        .issue(user, Some(project), &roles, None, None)
        .expect("a key")
        .token;
    let policy = Enforcer::new();
    println!("token: {} bytes", token.len());
    const N: u32 = 1_000_000;
    for round in 0..3 {
        let start = Instant::now();
        let mut ok = 0u32;
        for _ in 0..N {
            let claims = identity
                .verify(std::hint::black_box(&token))
                .expect("valid");
            ok += u32::from(claims.project_id.is_some());
        }
        let verify = start.elapsed().as_nanos() as f64 / f64::from(N);
        let start = Instant::now();
        for _ in 0..N {
            let claims = identity
                .verify(std::hint::black_box(&token))
                .expect("valid");
            let creds = Credentials::new()
                .with_roles(claims.role_names())
                .with_user_id(claims.user_id)
                .with_project_id(claims.project_id.unwrap_or_default());
            ok += u32::from(policy.enforce("context_is_admin", &creds, &Target::new()));
        }
        let filter = start.elapsed().as_nanos() as f64 / f64::from(N);
        println!(
            "round {round}: verify {verify:.0} ns/token, verify + is_admin policy {filter:.0} ns/request ({ok})"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
