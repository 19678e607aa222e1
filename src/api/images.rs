//! Placeholder: this resource's controller is being written.

use super::Route;

/// The routes of this resource.
pub const ROUTES: &[Route] = &[];
