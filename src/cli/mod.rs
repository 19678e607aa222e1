//! The binary's subcommands other than serving (`ringnova policy …`, `ringnova config …`,
//! `ringnova openapi`).
//!
//! Each subcommand lives in its own module and is run from `main.rs` before any server
//! start-up happens. Subcommands are tools for operators: they must never open the
//! server's sockets or database, and they report errors in plain words with a non-zero
//! exit status.

pub mod config;
pub mod openapi;
pub mod policy;
