//! Shared pieces of ringnova's fuzz targets: input decoding, the connection-loop model that
//! drives the framer, and reference implementations the targets compare the library with.
//!
//! Only the fuzz targets use this crate. It must never re-implement what it checks by calling
//! the code under test: a reference here is written independently, from the rules in the
//! module docs of the code it checks.

pub mod chunked_reference;
pub mod connection;
pub mod input;
pub mod streams;
