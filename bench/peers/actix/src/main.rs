//! actix-peer: a typical-framework comparison point for ringnova's benchmark.
//!
//! actix-web 4 with one worker, serving the same two endpoints with the same
//! bodies and headers as the other peers:
//!
//! * `GET /`            -> the bytes of `--body-file`, `application/json`
//! * `GET /healthcheck` -> `OK`, `text/plain`
//!
//! actix-web adds `Content-Length` and its own once-per-second cached `Date`.
//! The process is pinned by the benchmark runner (`taskset`), not here;
//! `--cpu` and `--driver` are accepted so every peer takes the same flags,
//! and ignored.
//!
//! Usage: `actix-peer --listen 127.0.0.1:8083 --body-file root.json [--cpu N]`

use std::io;
use std::net::{SocketAddr, TcpListener};

use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};
use socket2::{Domain, Protocol, Socket, Type};

struct Args {
    listen: SocketAddr,
    body_file: String,
}

fn usage() -> String {
    "usage: actix-peer --listen ADDR --body-file PATH [--cpu N] [--driver X]".to_owned()
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut body_file = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg, None),
        };
        if flag == "-h" || flag == "--help" {
            return Err(usage());
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?,
        };
        match flag.as_str() {
            "--listen" => {
                listen = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--listen {value}: {e}"))?,
                )
            }
            "--body-file" => body_file = Some(value),
            // Pinning is the runner's job (taskset); there is one driver.
            "--cpu" | "--driver" => {}
            other => return Err(format!("unknown flag {other}\n{}", usage())),
        }
    }
    Ok(Args {
        listen: listen.ok_or_else(|| format!("--listen is required\n{}", usage()))?,
        body_file: body_file.ok_or_else(|| format!("--body-file is required\n{}", usage()))?,
    })
}

/// An SO_REUSEPORT listener, set up the same way as the other peers'.
fn reuseport_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_port(true)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

async fn root(body: web::Data<Bytes>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.get_ref().clone())
}

async fn healthcheck() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain")
        .body(Bytes::from_static(b"OK"))
}

#[actix_web::main]
async fn main() -> io::Result<()> {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    let body = match std::fs::read(&args.body_file) {
        Ok(b) => web::Data::new(Bytes::from(b)),
        Err(e) => {
            eprintln!("--body-file {}: {e}", args.body_file);
            std::process::exit(2);
        }
    };
    let listener = reuseport_listener(args.listen)?;

    let server = HttpServer::new(move || {
        App::new()
            .app_data(body.clone())
            .route("/", web::get().to(root))
            .route("/healthcheck", web::get().to(healthcheck))
    })
    .workers(1)
    .backlog(4096)
    .tcp_nodelay(true)
    .shutdown_timeout(1)
    .listen(listener)?;

    for addr in server.addrs() {
        println!("ready {addr}");
    }
    server.run().await
}
