//! Placeholder: this resource's controller is being written.

use super::Route;

/// The routes of this resource.
pub const ROUTES: &[Route] = &[];

/// Writes `{"server": <the show view of server `uuid` at the request's microversion>}` as the
/// whole response body (used by show, update and the rebuild action). The servers read side
/// owns the view; until it lands every server is "not found".
pub fn write_server<'a>(
    req: &super::context::Request<'a>,
    ctx: &super::context::RequestContext<'a>,
    uuid: &str,
    resp: &mut crate::http::Response,
) -> Result<(), super::error::ApiError> {
    let _ = (req, ctx, resp);
    Err(super::error::ApiError::NotFound(std::borrow::Cow::Owned(
        format!("Instance {uuid} could not be found."),
    )))
}
