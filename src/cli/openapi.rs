//! `ringnova openapi`: prints the OpenAPI document of the served compute API (what
//! `GET /openapi.json` answers), or writes it to `--output FILE`.
//!
//! Runs in the short-lived tool process: it builds the document from the route table alone
//! and must never read the configuration, start a server or open the database.

use std::{path::PathBuf, process::ExitCode};

/// Arguments of `ringnova openapi`.
#[derive(Debug, clap::Args)]
pub struct OpenApiArgs {
    /// Write the document to this file instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// Prints or writes the document; 1 when it cannot be built or written.
pub fn run(args: &OpenApiArgs) -> ExitCode {
    let bytes = match crate::api::openapi::document_bytes() {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("ringnova openapi: {err}");
            return ExitCode::from(1);
        }
    };
    let written = match &args.output {
        Some(path) => std::fs::write(path, bytes)
            .map_err(|err| format!("cannot write {}: {err}", path.display())),
        None => {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(bytes)
                .map_err(|err| format!("cannot write to stdout: {err}"))
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ringnova openapi: {message}");
            ExitCode::from(1)
        }
    }
}
