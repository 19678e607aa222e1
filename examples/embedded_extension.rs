//! An appliance built on ringnova as a library, with one API extension of its own:
//! `os-greetings`, a read-only resource (`GET /os-greetings`, `GET /os-greetings/{id}`), a
//! custom route without the project segment (`GET /greetings-ping`), its own policy rule, and
//! a controller extension that adds the `greet` action to `POST /flavors/{id}/action`.
//! docs/extensions.md walks through writing such an extension.
//!
//! Run: `cargo run --example embedded_extension -- [--config-file PATH]` serves until
//! Ctrl-C with the compiled-in extensions plus this one; `-- --self-test` starts it on a
//! loopback port with a throw-away data directory, checks the extension's routes over HTTP
//! and stops (exit status 0 when every check passed).

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::ExitCode,
    sync::{atomic::AtomicBool, atomic::Ordering, mpsc, Arc},
    time::Duration,
};

use ringnova::{
    api::{
        context::{Request, RequestContext},
        error::ApiError,
        extensions::{
            Controller, ControllerExtension, CustomRoutes, Extension, PolicyRule, ResourceExtension,
        },
        json,
    },
    config::{Config, Overrides},
    http::Response,
    launch,
    router::{Method, Params},
};
use simd_json::BorrowedValue;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The greetings the resource serves: (id, text).
const GREETINGS: &[(&str, &str)] = &[("hello", "Hello"), ("hi", "Hi there")];

const POLICY_READ: &str = "example:os-greetings:read";

/// The descriptor.
struct Greetings;

impl Extension for Greetings {
    fn name(&self) -> &'static str {
        "Greetings"
    }
    fn alias(&self) -> &'static str {
        "os-greetings"
    }
    fn namespace(&self) -> &'static str {
        "http://example.com/compute/ext/greetings/api/v1"
    }
    fn updated(&self) -> &'static str {
        "2026-11-30T00:00:00Z"
    }
    fn description(&self) -> &'static str {
        "Greets the caller."
    }

    fn resources(&self) -> Vec<ResourceExtension> {
        vec![ResourceExtension::new(
            "os-greetings",
            Controller::new().with("index", index).with("show", show),
        )
        .with_custom_routes(ping_route)]
    }

    fn controller_extensions(&self) -> Vec<ControllerExtension> {
        vec![ControllerExtension::new("flavors").with_action("greet", greet)]
    }

    fn policy_rules(&self) -> &'static [PolicyRule] {
        &[PolicyRule {
            name: POLICY_READ,
            check_str: "rule:project_reader_or_admin",
        }]
    }
}

fn ping_route(routes: &mut CustomRoutes) {
    routes.add_without_project(Method::Get, "/greetings-ping", ping);
}

/// `{"id": …, "text": "<text>, <user>"}`.
fn push_greeting(out: &mut Vec<u8>, id: &str, text: &str, user: &str) {
    out.extend_from_slice(b"{\"id\": ");
    json::push_str(out, id);
    out.extend_from_slice(b", \"text\": ");
    json::push_str(out, &format!("{text}, {user}"));
    out.push(b'}');
}

fn index<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let (user, _) = ctx.identity()?;
    ctx.authorize_own(POLICY_READ)?;
    resp.body.extend_from_slice(b"{\"greetings\": [");
    for (i, (id, text)) in GREETINGS.iter().enumerate() {
        if i > 0 {
            resp.body.extend_from_slice(b", ");
        }
        push_greeting(&mut resp.body, id, text, user);
    }
    resp.body.extend_from_slice(b"]}");
    resp.content_type = "application/json";
    Ok(())
}

fn show<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let (user, _) = ctx.identity()?;
    ctx.authorize_own(POLICY_READ)?;
    let id = params.get("id").unwrap_or_default();
    let Some((id, text)) = GREETINGS.iter().find(|(known, _)| *known == id) else {
        return Err(ApiError::NotFound(
            format!("Greeting {id} could not be found.").into(),
        ));
    };
    resp.body.extend_from_slice(b"{\"greeting\": ");
    push_greeting(&mut resp.body, id, text, user);
    resp.body.push(b'}');
    resp.content_type = "application/json";
    Ok(())
}

fn ping<'a>(
    _req: &Request<'a>,
    _ctx: &mut RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    resp.body.extend_from_slice(b"{\"pong\": true}");
    resp.content_type = "application/json";
    Ok(())
}

/// `POST /flavors/{id}/action {"greet": null}`: 202 with a greeting for the flavor.
fn greet<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    _argument: &BorrowedValue<'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    ctx.authorize_own(POLICY_READ)?;
    let flavor = params.get("id").unwrap_or_default();
    resp.body.extend_from_slice(b"{\"greeting\": ");
    push_greeting(&mut resp.body, flavor, "Hello", "flavor");
    resp.body.push(b'}');
    resp.status = 202;
    resp.content_type = "application/json";
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--self-test") {
        return match self_test() {
            Ok(()) => {
                println!("embedded_extension: self-test passed");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("embedded_extension: self-test failed: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let config_file = args
        .iter()
        .position(|a| a == "--config-file")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let config = match Config::load(config_file.as_deref(), &Overrides::default()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("embedded_extension: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    ringnova::logging::init(config.log_level);
    let shutdown = Arc::new(AtomicBool::new(false));
    let result = launch::serve(
        config,
        vec![Box::new(Greetings)],
        shutdown,
        ringnova::server::print_ready,
    );
    ringnova::logging::flush(Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("embedded_extension: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Serves on a loopback port with a throw-away data directory and checks the extension.
fn self_test() -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("ringnova-embedded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".into()),
        workers: Some(1),
        data_dir: Some(dir.clone()),
        cpus: Some("off".into()),
        ..Overrides::default()
    };
    let config = Config::from_text("", None, &overrides).map_err(|e| e.to_string())?;
    let shutdown = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let server = {
        let shutdown = Arc::clone(&shutdown);
        std::thread::spawn(move || {
            launch::serve(config, vec![Box::new(Greetings)], shutdown, |line| {
                let _ = ready_tx.send(line.to_owned());
            })
            .map_err(|err| err.to_string())
        })
    };
    let checks = ready_rx
        .recv_timeout(Duration::from_secs(20))
        .map_err(|_| "the server did not become ready".to_owned())
        .and_then(|line| {
            let addr = line
                .split("http://")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .ok_or_else(|| format!("no address in {line:?}"))?
                .to_owned();
            run_checks(&addr)
        });
    shutdown.store(true, Ordering::SeqCst);
    let served = server
        .join()
        .map_err(|_| "the server panicked".to_owned())?;
    let _ = std::fs::remove_dir_all(&dir);
    checks.and(served)
}

/// One request; returns status and body.
fn call(addr: &str, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: alice:0a0b\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad response {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

fn expect(
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
    status: u16,
    needle: &str,
) -> Result<(), String> {
    let (got, text) = call(addr, method, path, body)?;
    if got != status || !text.contains(needle) {
        return Err(format!(
            "{method} {path}: {got} {text:?}, expected {status} with {needle:?}"
        ));
    }
    Ok(())
}

fn run_checks(addr: &str) -> Result<(), String> {
    expect(addr, "GET", "/v2.1/os-greetings", "", 200, "Hello, alice")?;
    expect(
        addr,
        "GET",
        "/v2.1/0a0b/os-greetings/hi",
        "",
        200,
        "Hi there, alice",
    )?;
    expect(
        addr,
        "GET",
        "/v2.1/os-greetings/nope",
        "",
        404,
        "Greeting nope",
    )?;
    expect(addr, "GET", "/v2.1/greetings-ping", "", 200, "pong")?;
    expect(
        addr,
        "GET",
        "/v2.1/0a0b/greetings-ping",
        "",
        404,
        "itemNotFound",
    )?;
    expect(
        addr,
        "POST",
        "/v2.1/flavors/1/action",
        r#"{"greet": null}"#,
        202,
        "Hello, flavor",
    )?;
    // The core actions of the same route still work.
    expect(
        addr,
        "POST",
        "/v2.1/flavors/1/action",
        r#"{"nope": null}"#,
        400,
        "There is no such action: nope",
    )?;
    expect(
        addr,
        "GET",
        "/v2.1/extensions/os-greetings",
        "",
        200,
        "Greets the caller.",
    )?;
    expect(addr, "GET", "/v2.1/extensions", "", 200, "os-documents")?;
    Ok(())
}
