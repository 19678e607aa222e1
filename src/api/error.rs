//! [`ApiError`]: every way a compute API handler can fail, each mapping to exactly one Nova
//! fault (status, fault key, message).
//!
//! Core worker, per request. Handlers return `Result<(), ApiError>`; the Resource wrapper
//! turns the error into its fault with [`ApiError::fault`]. The variants follow Nova's
//! exception classes (SPEC §3.2): the message a client sees is fixed text or built from
//! request data, never from internals — database and other internal errors are logged and
//! answered with the generic 500 text.

use std::{borrow::Cow, fmt};

use super::fault::{Fault, NOT_FOUND_MESSAGE};
use crate::db::DbError;

/// An error a compute API handler answers with.
#[derive(Debug)]
pub enum ApiError {
    /// 400, Nova's `ValidationError`: a request body or query failed its schema (the message
    /// is the validator's, see [`crate::api::validation`]).
    Validation(Cow<'static, str>),
    /// 400, Nova's `Invalid` family: a request that passed its schema but is still wrong
    /// (a bad filter value, a body that does not match the URI, …).
    Invalid(Cow<'static, str>),
    /// 400 "Malformed request body": not JSON, or an action body without exactly one key.
    MalformedBody,
    /// 400 "There is no such action: <name>".
    NoSuchAction(String),
    /// 400: the `{project_id}` in the URL is not the caller's project.
    ProjectMismatch {
        /// The URL's project id.
        url: String,
        /// The context's project id.
        context: String,
    },
    /// 400 "marker [<m>] not found".
    MarkerNotFound(String),
    /// 401: no credentials.
    Unauthorized,
    /// 403 "Policy doesn't allow <rule> to be performed.".
    PolicyNotAuthorized(&'static str),
    /// 403: over quota (the resource's own message, SPEC §6).
    OverQuota(Cow<'static, str>),
    /// 403 with a controller's own text (Nova's `HTTPForbidden`, e.g. "Only administrators
    /// may list deleted instances").
    Forbidden(Cow<'static, str>),
    /// 404 with a resource-specific message ("Flavor x could not be found.").
    NotFound(Cow<'static, str>),
    /// 404 with webob's default text (no such controller method for this version).
    VersionNotFound,
    /// 409 with a resource-specific message ("Key pair 'k' already exists.").
    Conflict(Cow<'static, str>),
    /// 415 "Unsupported Content-Type".
    UnsupportedMediaType,
    /// 503 with its own message (the orchestration queue is full).
    ServiceUnavailable(Cow<'static, str>),
    /// 503: the database stayed locked by another writer past `[database] busy_timeout`.
    Busy,
    /// 500: anything unexpected. The text is logged, never sent.
    Internal(String),
}

impl ApiError {
    /// The fault this error is answered with.
    pub fn fault(&self) -> Fault {
        match self {
            ApiError::Validation(message) | ApiError::Invalid(message) => {
                Fault::with_message(400, message.to_string())
            }
            ApiError::MalformedBody => Fault::new(400, super::body::MALFORMED),
            ApiError::NoSuchAction(name) => {
                Fault::with_message(400, format!("There is no such action: {name}"))
            }
            ApiError::ProjectMismatch { url, context } => Fault::with_message(
                400,
                format!(
                    "Malformed request URL: URL's project_id '{url}' doesn't match Context's project_id '{context}'"
                ),
            ),
            ApiError::MarkerNotFound(marker) => {
                Fault::with_message(400, format!("marker [{marker}] not found"))
            }
            ApiError::Unauthorized => Fault::new(401, "Unauthorized"),
            ApiError::PolicyNotAuthorized(rule) => Fault::with_message(
                403,
                format!("Policy doesn't allow {rule} to be performed."),
            ),
            ApiError::OverQuota(message) | ApiError::Forbidden(message) => {
                Fault::with_message(403, message.to_string())
            }
            ApiError::NotFound(message) => Fault::with_message(404, message.to_string()),
            ApiError::VersionNotFound => Fault::new(404, NOT_FOUND_MESSAGE),
            ApiError::Conflict(message) => Fault::with_message(409, message.to_string()),
            ApiError::UnsupportedMediaType => Fault::new(415, "Unsupported Content-Type"),
            ApiError::ServiceUnavailable(message) => Fault::with_message(503, message.to_string()),
            ApiError::Busy => Fault::new(
                503,
                "The database is busy with other writes; try again shortly.",
            ),
            ApiError::Internal(_) => Fault::internal(),
        }
    }

    /// The HTTP status of the fault.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Validation(_)
            | ApiError::Invalid(_)
            | ApiError::MalformedBody
            | ApiError::NoSuchAction(_)
            | ApiError::ProjectMismatch { .. }
            | ApiError::MarkerNotFound(_) => 400,
            ApiError::Unauthorized => 401,
            ApiError::PolicyNotAuthorized(_) | ApiError::OverQuota(_) | ApiError::Forbidden(_) => {
                403
            }
            ApiError::NotFound(_) | ApiError::VersionNotFound => 404,
            ApiError::Conflict(_) => 409,
            ApiError::UnsupportedMediaType => 415,
            ApiError::Busy | ApiError::ServiceUnavailable(_) => 503,
            ApiError::Internal(_) => 500,
        }
    }

    /// Wraps a validator's 400 (from [`crate::api::validation`]) as a typed error.
    pub fn from_validation(fault: Fault) -> ApiError {
        ApiError::Validation(fault.message)
    }

    /// Maps a data-layer error that the handler did not give its own meaning: busy → 503,
    /// anything else → 500 (logged). Handlers translate `NotFound`, `Conflict`, `OverQuota`
    /// and `MarkerNotFound` themselves, since their messages name the resource.
    pub fn from_db(err: DbError) -> ApiError {
        match err {
            DbError::Busy => ApiError::Busy,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Internal(text) => write!(f, "internal error: {text}"),
            other => f.write_str(&other.fault().message),
        }
    }
}

impl std::error::Error for ApiError {}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> ApiError {
        ApiError::from_db(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_one_fault_and_its_status() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::MalformedBody, 400, "Malformed request body"),
            (
                ApiError::NoSuchAction("frob".into()),
                400,
                "There is no such action: frob",
            ),
            (
                ApiError::MarkerNotFound("m1".into()),
                400,
                "marker [m1] not found",
            ),
            (
                ApiError::PolicyNotAuthorized("os_compute_api:os-flavor-manage:create"),
                403,
                "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed.",
            ),
            (
                ApiError::ProjectMismatch {
                    url: "a".into(),
                    context: "b".into(),
                },
                400,
                "Malformed request URL: URL's project_id 'a' doesn't match Context's project_id 'b'",
            ),
            (
                ApiError::UnsupportedMediaType,
                415,
                "Unsupported Content-Type",
            ),
            (ApiError::VersionNotFound, 404, NOT_FOUND_MESSAGE),
            (
                ApiError::Forbidden(Cow::Borrowed("Only administrators may list deleted instances")),
                403,
                "Only administrators may list deleted instances",
            ),
            (
                ApiError::Internal("disk on fire".into()),
                500,
                super::super::fault::INTERNAL_ERROR_MESSAGE,
            ),
        ];
        for (err, status, message) in cases {
            let fault = err.fault();
            assert_eq!((fault.status, fault.message.as_ref()), (status, message));
            assert_eq!(err.status(), status);
        }
    }

    #[test]
    fn database_errors_never_leak_their_text() {
        let err = ApiError::from(DbError::JournalMode("delete".into()));
        assert_eq!(err.status(), 500);
        assert!(!err.fault().message.contains("delete"));
        assert_eq!(ApiError::from(DbError::Busy).status(), 503);
    }
}
