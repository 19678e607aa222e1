//! The `ringnova` binary: parse the command line, load and check the configuration, compile
//! the paste pipeline, migrate the database, and run the server. Errors are reported here in
//! plain words.
//!
//! It must never serve before the configuration, the paste pipeline, the database migrations
//! and the policy files have all been checked.

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{atomic::AtomicBool, Arc},
};

use clap::Parser;
use ringnova::{
    config::{Config, Overrides},
    db,
    middleware::paste,
    server,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An OpenStack-Compute-compatible API appliance.
#[derive(Debug, Parser)]
#[command(name = "ringnova", version, about)]
struct Cli {
    /// Configuration file (default: config/ringnova.conf in the working directory, if present).
    #[arg(long, value_name = "PATH", global = true)]
    config_file: Option<PathBuf>,
    /// Address to listen on, overriding the file.
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Number of worker threads (one per core).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Directory for the database and other state.
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// I/O driver: auto, uring or legacy.
    #[arg(long, value_name = "DRIVER")]
    driver: Option<String>,
    /// CPUs to pin workers to, e.g. 0-3 or off.
    #[arg(long, value_name = "LIST")]
    cpus: Option<String>,
    /// Check the configuration and the paste pipeline, then exit.
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Commands run instead of the server; without one, ringnova serves.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// The configuration reference (Markdown) or a sample ringnova.conf, from the option table.
    Config(ringnova::cli::config::ConfigArgs),
    /// Policy tools: check a rule, list the effective rules, print a sample file.
    Policy(ringnova::cli::policy::PolicyArgs),
    /// Print the OpenAPI document of the compute API (what GET /openapi.json serves).
    Openapi(ringnova::cli::openapi::OpenApiArgs),
    /// Manage the built-in identity endpoint's users (auth_strategy = token).
    #[command(subcommand)]
    User(ringnova::identity::cli::UserCommand),
    /// Manage token signing keys (auth_strategy = token).
    #[command(subcommand)]
    Token(ringnova::identity::cli::TokenCommand),
}

fn main() -> ExitCode {
    // Before the heap grows: resident memory should follow what the server uses, not the
    // 2 MiB huge pages mimalloc asks for (see `server::memory`), unless they are asked for.
    if !server::memory::huge_pages_requested(std::env::var("MIMALLOC_ALLOW_THP").ok().as_deref()) {
        if let Err(err) = server::memory::disable_huge_pages() {
            eprintln!("ringnova: cannot turn transparent huge pages off ({err}); continuing");
        }
    }
    let mut cli = Cli::parse();
    // The policy tools need no server configuration beyond the policy files.
    if let Some(Command::Policy(args)) = cli.command.take_if(|c| matches!(c, Command::Policy(_))) {
        return ringnova::cli::policy::run(args, cli.config_file.as_deref());
    }
    // The document depends on the route table alone.
    if let Some(Command::Openapi(args)) = &cli.command {
        return ringnova::cli::openapi::run(args);
    }
    // The configuration reference depends on the binary alone.
    if let Some(Command::Config(args)) = &cli.command {
        return ringnova::cli::config::run(args);
    }
    let overrides = Overrides {
        listen: cli.listen,
        workers: cli.workers,
        data_dir: cli.data_dir,
        driver: cli.driver,
        cpus: cli.cpus,
    };
    let mut config = match Config::load(cli.config_file.as_deref(), &overrides) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("ringnova: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    ringnova::logging::set_format(config.log_format);
    ringnova::logging::init(config.log_level);
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    // The compiled-in extensions the configuration selects; their policy rules are registered
    // before the policy files are read.
    let extensions = match ringnova::launch::load_extensions(&mut config, Vec::new()) {
        Ok(extensions) => extensions,
        Err(err) => {
            eprintln!("ringnova: extension error: {err}");
            return ExitCode::from(2);
        }
    };
    let pipeline = match paste::load_with(&config, extensions) {
        Ok(pipeline) => pipeline,
        Err(err) => {
            eprintln!("ringnova: paste pipeline error: {err}");
            return ExitCode::from(2);
        }
    };
    if cli.check_config {
        if let Err(err) = config.policy.load() {
            eprintln!("ringnova: {err}");
            return ExitCode::from(2);
        }
        let source = config.config_file.as_ref().map_or_else(
            || "built-in defaults".to_string(),
            |p| p.display().to_string(),
        );
        println!(
            "ringnova: configuration OK ({source}; {} pipelines)",
            pipeline.chains().len()
        );
        return ExitCode::SUCCESS;
    }
    std::panic::set_hook(Box::new(|info| log::error!("panic: {info}")));
    if let Err(err) = std::fs::create_dir_all(&config.data_dir) {
        eprintln!(
            "ringnova: cannot create data directory {}: {err}",
            config.data_dir.display()
        );
        return ExitCode::from(1);
    }
    // Schema migrations run once, here, before any worker opens its connection.
    if let Err(err) = db::migrate(&config.database) {
        eprintln!(
            "ringnova: cannot prepare the database {}: {err}",
            config.database.path.display()
        );
        return ExitCode::from(1);
    }
    // The images proxy's catalogue: the shipped images, inserted once (idempotent).
    if let Err(err) = db::queries::images::seed_defaults(&config.database) {
        eprintln!("ringnova: cannot seed the default images: {err}");
        return ExitCode::from(1);
    }
    if let Some(command) = cli.command {
        return run_command(command, &config);
    }
    match ringnova::identity::start_for(&pipeline, &config) {
        Ok(Some(password)) => eprintln!(
            "ringnova: created identity user 'admin' (project 'admin', role admin) with password: {password}\n\
             ringnova: this is shown once; change it with 'ringnova user passwd admin'"
        ),
        Ok(None) => {}
        Err(err) => {
            eprintln!("ringnova: identity start-up failed: {err}");
            return ExitCode::from(1);
        }
    }
    let shutdown = Arc::new(AtomicBool::new(false));
    let result = server::run_reloadable(config, overrides, pipeline, shutdown, server::print_ready);
    ringnova::logging::flush(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ringnova: {err}");
            ExitCode::from(1)
        }
    }
}

/// Runs an administrative subcommand on the configured data directory.
fn run_command(command: Command, config: &Config) -> ExitCode {
    let result = match command {
        Command::Policy(args) => {
            return ringnova::cli::policy::run(args, config.config_file.as_deref())
        }
        Command::Config(args) => return ringnova::cli::config::run(&args),
        Command::User(user) => ringnova::identity::cli::run_user(&user, config),
        Command::Token(token) => ringnova::identity::cli::run_token(&token, config),
        Command::Openapi(args) => return ringnova::cli::openapi::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ringnova: {err}");
            ExitCode::from(1)
        }
    }
}
