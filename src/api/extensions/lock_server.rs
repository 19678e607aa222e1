//! `os-lock-server` (Nova's `compute/lock_server.py`, before 2.73): the `lock` and `unlock`
//! actions of `POST /servers/{id}/action`, added to the core servers controller by a
//! controller extension. The standard example of extending an existing resource.
//!
//! Core worker, per request, as extension actions of the servers' action route (see
//! [`super::hooks`]). A locked server changes what the core answers: non-admin callers get
//! 409 "Instance <id> is locked" from its actions, metadata writes and delete, and its view
//! shows `"locked": true` from 2.9. Both actions answer 202 with no body.
//!
//! - lock: policy `os_compute_api:os-lock-server:lock` on the server's owner; `locked_by` is
//!   `owner` when the caller is of the server's project, else `admin`.
//! - unlock: policy `…:unlock`, and also `…:unlock:unlock_override` when the lock was not set
//!   by the caller's side (an admin's lock, for the owner).
//!
//! Non-admin callers see only their project's servers (404 otherwise). It must never change
//! anything of the server but its lock.

use std::borrow::Cow;

use simd_json::BorrowedValue;

use super::{ControllerExtension, Extension, PolicyRule};
use crate::{
    api::{
        context::{Request, RequestContext},
        error::ApiError,
    },
    db::{queries::instances, DbError},
    http::Response,
    policy::Target,
    router::Params,
};

const POLICY_LOCK: &str = "os_compute_api:os-lock-server:lock";
const POLICY_UNLOCK: &str = "os_compute_api:os-lock-server:unlock";
const POLICY_UNLOCK_OVERRIDE: &str = "os_compute_api:os-lock-server:unlock:unlock_override";

/// Nova's rules and defaults (Nova registers them too; its registration wins).
const RULES: &[PolicyRule] = &[
    PolicyRule {
        name: POLICY_LOCK,
        check_str: "rule:project_member_or_admin",
    },
    PolicyRule {
        name: POLICY_UNLOCK,
        check_str: "rule:project_member_or_admin",
    },
    PolicyRule {
        name: POLICY_UNLOCK_OVERRIDE,
        check_str: "rule:context_is_admin",
    },
];

/// The descriptor.
#[derive(Debug, Clone, Copy)]
pub struct LockServer;

impl Extension for LockServer {
    fn name(&self) -> &'static str {
        "LockServer"
    }
    fn alias(&self) -> &'static str {
        "os-lock-server"
    }
    fn namespace(&self) -> &'static str {
        "http://docs.openstack.org/compute/ext/fake_xml"
    }
    fn updated(&self) -> &'static str {
        "2014-12-03T00:00:00Z"
    }
    fn description(&self) -> &'static str {
        "Enable lock/unlock server actions."
    }

    fn controller_extensions(&self) -> Vec<ControllerExtension> {
        vec![ControllerExtension::new("servers")
            .with_action("lock", lock)
            .with_action("unlock", unlock)]
    }

    fn policy_rules(&self) -> &'static [PolicyRule] {
        RULES
    }
}

/// The server as the actions need it: owner and current lock.
struct Server {
    user_id: String,
    project_id: String,
    locked_by: Option<String>,
}

/// The live server `uuid` as the caller may see it (any project for an admin).
fn find(ctx: &RequestContext<'_>, uuid: &str) -> Result<(Server, Option<String>), ApiError> {
    let (_, caller_project) = ctx.identity()?;
    let visible = (!ctx.is_admin).then_some(caller_project);
    let server = instances::with_instance(&ctx.services()?.db, uuid, visible, |inst| {
        Ok(Server {
            user_id: inst.user_id.to_owned(),
            project_id: inst.project_id.to_owned(),
            locked_by: inst.locked_by.map(str::to_owned),
        })
    })
    .map_err(|err| match err {
        DbError::NotFound => {
            ApiError::NotFound(Cow::Owned(format!("Instance {uuid} could not be found.")))
        }
        other => ApiError::from_db(other),
    })?;
    Ok((server, visible.map(str::to_owned)))
}

fn authorize(
    ctx: &RequestContext<'_>,
    rule: &'static str,
    server: &Server,
) -> Result<(), ApiError> {
    let mut target = Target::new();
    target.insert("user_id", &server.user_id);
    target.insert("project_id", &server.project_id);
    ctx.authorize(rule, &target)
}

/// Who a lock set by this caller is recorded as (Nova's `owner` / `admin`).
fn side(ctx: &RequestContext<'_>, server: &Server) -> &'static str {
    if ctx.project_id == Some(server.project_id.as_str()) {
        "owner"
    } else {
        "admin"
    }
}

fn write_lock(
    ctx: &RequestContext<'_>,
    uuid: &str,
    visible: Option<&str>,
    locked_by: Option<&str>,
) -> Result<(), ApiError> {
    instances::set_lock(&ctx.services()?.db, uuid, visible, locked_by).map_err(|err| match err {
        DbError::NotFound => {
            ApiError::NotFound(Cow::Owned(format!("Instance {uuid} could not be found.")))
        }
        other => ApiError::from_db(other),
    })
}

/// `{"lock": null}`.
fn lock<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    _argument: &BorrowedValue<'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let uuid = params.get("id").unwrap_or_default();
    let (server, visible) = find(ctx, uuid)?;
    authorize(ctx, POLICY_LOCK, &server)?;
    write_lock(ctx, uuid, visible.as_deref(), Some(side(ctx, &server)))?;
    resp.status = 202;
    Ok(())
}

/// `{"unlock": null}`.
fn unlock<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    _argument: &BorrowedValue<'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let uuid = params.get("id").unwrap_or_default();
    let (server, visible) = find(ctx, uuid)?;
    authorize(ctx, POLICY_UNLOCK, &server)?;
    // `is_expected_locked_by`: a lock from the other side needs the override rule.
    if server
        .locked_by
        .as_deref()
        .is_some_and(|by| by != side(ctx, &server))
    {
        authorize(ctx, POLICY_UNLOCK_OVERRIDE, &server)?;
    }
    write_lock(ctx, uuid, visible.as_deref(), None)?;
    resp.status = 202;
    Ok(())
}
