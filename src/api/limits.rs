//! Placeholder: routes of this resource are being written.

use super::Route;

/// The routes of this resource.
pub const ROUTES: &[Route] = &[];
