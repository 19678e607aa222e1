//! `POST /servers/{id}/action` (SPEC §4.3 actions, §5.3; Nova's `servers.py`,
//! `pause_server.py`, `suspend_server.py`): reboot, os-start, os-stop, pause, unpause,
//! suspend, resume, resize, confirmResize, revertResize, createImage and rebuild.
//!
//! Core worker, innermost layer. Each action: finds the server (404 for unknown or other
//! projects' servers, as Nova hides them), checks its policy against the server's project,
//! checks Nova's allowed vm_state/task_state (409 "Cannot '<action>' instance <uuid> while it
//! is in <attr> <state>", or "Instance <uuid> is locked"), then writes the new task_state and
//! a task row in one transaction (which re-checks the state, so two racing actions cannot
//! both start) and hands the task to the orchestration thread. Answers 202 (confirmResize
//! 204) at once. Per microversion: createImage answers with `Location` below 2.45 and
//! `{"image_id"}` from 2.45, and checks the image metadata against `metadata_items` below
//! 2.39; rebuild takes `description` from 2.19, `key_name` from 2.54, `user_data` (and no
//! `personality`) from 2.57, and answers with the server body of
//! [`crate::api::servers::write_rebuilt_server`] (Nova's reduced rebuild view below 2.75).
//! This module must never change a server outside
//! those transactions, nor log admin passwords or user data.

use std::borrow::Cow;

use simd_json::{borrowed::Object, prelude::*, BorrowedValue};

use super::{
    context::{Request, RequestContext},
    dispatch_action,
    error::ApiError,
    json,
    server_create::{
        authorize_instance, check_formats, check_metadata_quota, check_personality_quota,
        counted_defaults, find_flavor, flavor_id_from_ref, flavor_snapshot, generate_password,
        member, metadata_items, project_limit, refusal_error, reserve, uuid4, visible_instance,
    },
    validate,
    validation::{
        parameter_types::{BOOLEAN, DESCRIPTION, DISK_CONFIG, FLAVOR_REF, METADATA, NAME, STRING},
        Keyword, Literal, Schema, Type,
    },
    Route,
};
use crate::{
    db::{
        keypairs,
        queries::orchestration::{self as q, Change, Guard, Refusal, Set, TaskKind},
        DbError,
    },
    http::Response,
    router::{Method, Params},
};

/// The routes of server actions.
pub const ROUTES: &[Route] = &[crate::route!(Method::Post, "/servers/{id}/action", action)];

/// `POST /servers/{id}/action`.
fn action<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    dispatch_action(req, ctx, params, resp, ACTIONS)
}

/// The server actions, by the body key that names them.
pub(crate) const ACTIONS: &[(&str, super::ActionHandler)] = &[
    ("reboot", reboot),
    ("os-start", start),
    ("os-stop", stop),
    ("pause", pause),
    ("unpause", unpause),
    ("suspend", suspend),
    ("resume", resume),
    ("resize", resize),
    ("confirmResize", confirm_resize),
    ("revertResize", revert_resize),
    ("createImage", create_image),
    ("rebuild", rebuild),
];

// ---------------------------------------------------------------------------------------------
// Guards (SPEC §5.3)
// ---------------------------------------------------------------------------------------------

const NO_TASK: &[Option<&str>] = &[None];

const fn guard(
    action: &'static str,
    vm_states: &'static [&'static str],
    task_states: &'static [Option<&'static str>],
    check_lock: bool,
) -> Guard {
    Guard {
        action,
        vm_states: Some(vm_states),
        task_states: Some(task_states),
        must_be_launched: true,
        check_lock,
    }
}

const REBOOT_SOFT: Guard = guard("reboot", &["active"], NO_TASK, true);
const REBOOT_HARD: Guard = guard(
    "reboot",
    &["active", "stopped", "paused", "suspended", "error"],
    &[
        None,
        Some("rebooting"),
        Some("reboot_pending"),
        Some("reboot_started"),
        Some("resuming"),
        Some("rebooting_hard"),
        Some("unpausing"),
        Some("pausing"),
        Some("suspending"),
    ],
    true,
);
const STOP: Guard = guard("stop", &["active", "error"], NO_TASK, true);
const START: Guard = guard("start", &["stopped"], NO_TASK, true);
const PAUSE: Guard = guard("pause", &["active"], NO_TASK, true);
const UNPAUSE: Guard = guard("unpause", &["paused"], NO_TASK, true);
const SUSPEND: Guard = guard("suspend", &["active"], NO_TASK, true);
const RESUME: Guard = guard("resume", &["suspended"], NO_TASK, true);
const RESIZE: Guard = guard("resize", &["active", "stopped"], NO_TASK, true);
const CONFIRM_RESIZE: Guard = guard("confirmResize", &["resized"], NO_TASK, true);
const REVERT_RESIZE: Guard = guard("revertResize", &["resized"], NO_TASK, true);
const CREATE_IMAGE: Guard = guard(
    "createImage",
    &["active", "stopped", "paused", "suspended"],
    NO_TASK,
    false,
);
const REBUILD: Guard = guard("rebuild", &["active", "stopped", "error"], NO_TASK, true);

// ---------------------------------------------------------------------------------------------
// Schemas (Nova's schemas/servers.py)
// ---------------------------------------------------------------------------------------------

/// Wraps an action's argument schema as `{"<name>": <argument>}`.
macro_rules! action_schema {
    ($name:literal, [$($prop:expr),* $(,)?], $required:expr) => {
        Schema::new(&[
            Keyword::Type(&[Type::Object]),
            Keyword::Properties(&[(
                $name,
                Schema::new(&[
                    Keyword::Type(&[Type::Object]),
                    Keyword::Properties(&[$($prop,)*]),
                    Keyword::Required($required),
                    Keyword::AdditionalProperties(false),
                ]),
            )]),
            Keyword::Required(&[$name]),
            Keyword::AdditionalProperties(false),
        ])
    };
}

pub(crate) const REBOOT_SCHEMA: Schema = action_schema!(
    "reboot",
    [(
        "type",
        Schema::new(&[
            Keyword::Type(&[Type::String]),
            Keyword::Enum(&[
                Literal::Str("HARD"),
                Literal::Str("Hard"),
                Literal::Str("hard"),
                Literal::Str("SOFT"),
                Literal::Str("Soft"),
                Literal::Str("soft"),
            ]),
        ])
    )],
    &["type"]
);

pub(crate) const RESIZE_SCHEMA: Schema = action_schema!(
    "resize",
    [
        ("flavorRef", FLAVOR_REF),
        ("OS-DCF:diskConfig", DISK_CONFIG)
    ],
    &["flavorRef"]
);

pub(crate) const CREATE_IMAGE_SCHEMA: Schema = action_schema!(
    "createImage",
    [("name", NAME), ("metadata", METADATA)],
    &["name"]
);

const PERSONALITY: Schema = Schema::new(&[
    Keyword::Type(&[Type::Array]),
    Keyword::Items(Schema::new(&[
        Keyword::Type(&[Type::Object]),
        Keyword::Properties(&[("path", STRING), ("contents", STRING)]),
        Keyword::AdditionalProperties(false),
    ])),
]);

/// 2.54 `key_name`: a name, or null to unset.
const NULLABLE_NAME: Schema = Schema::new(&[
    Keyword::Type(&[Type::String, Type::Null]),
    Keyword::MinLength(1),
    Keyword::MaxLength(255),
]);

const NULLABLE_USER_DATA: Schema = Schema::new(&[
    Keyword::Type(&[Type::String, Type::Null]),
    Keyword::MaxLength(65535),
]);

macro_rules! rebuild_schema {
    ($($extra:expr),* $(,)?) => {
        action_schema!(
            "rebuild",
            [
                ("name", NAME),
                ("imageRef", STRING),
                ("adminPass", STRING),
                ("metadata", METADATA),
                ("preserve_ephemeral", BOOLEAN),
                ("OS-DCF:diskConfig", DISK_CONFIG),
                ("accessIPv4", STRING),
                ("accessIPv6", STRING),
                $($extra,)*
            ],
            &["imageRef"]
        )
    };
}

pub(crate) const REBUILD_V21: Schema = rebuild_schema!(("personality", PERSONALITY));
pub(crate) const REBUILD_V219: Schema =
    rebuild_schema!(("personality", PERSONALITY), ("description", DESCRIPTION));
pub(crate) const REBUILD_V254: Schema = rebuild_schema!(
    ("personality", PERSONALITY),
    ("description", DESCRIPTION),
    ("key_name", NULLABLE_NAME)
);
pub(crate) const REBUILD_V257: Schema = rebuild_schema!(
    ("description", DESCRIPTION),
    ("key_name", NULLABLE_NAME),
    ("user_data", NULLABLE_USER_DATA)
);

/// Validates `{"<name>": <argument>}` against `schema`.
fn validate_action(
    ctx: &RequestContext<'_>,
    schema: &Schema,
    name: &'static str,
    argument: &BorrowedValue<'_>,
) -> Result<(), ApiError> {
    let mut body = Object::with_capacity(1);
    body.insert(Cow::Borrowed(name), argument.clone());
    validate(ctx, schema, Some(&BorrowedValue::Object(Box::new(body))))
}

// ---------------------------------------------------------------------------------------------
// The common path
// ---------------------------------------------------------------------------------------------

/// Finds the server (404), authorizes against its project (403) and checks the guard (409).
fn precheck(
    ctx: &RequestContext<'_>,
    uuid: &str,
    policy: &'static str,
    guard: &Guard,
) -> Result<q::InstanceState, ApiError> {
    let state = visible_instance(ctx, uuid)?;
    authorize_instance(ctx, policy, &state)?;
    guard
        .check(&state, ctx.is_admin)
        .map_err(|refusal| refusal_error(refusal, guard.action, uuid))?;
    Ok(state)
}

/// In one transaction: re-checks the guard, applies `change` plus what `extra` adds, and
/// queues the task, which is then handed to the orchestration thread (503 beforehand, with
/// nothing written, when it is full).
fn commit<'a>(
    ctx: &RequestContext<'_>,
    uuid: &str,
    guard: &Guard,
    change: Change<'a>,
    extra: impl FnOnce(
        &rusqlite::Connection,
        &q::InstanceState,
    ) -> Result<Result<Vec<Set<'a>>, Refusal>, DbError>,
) -> Result<(), ApiError> {
    let slots = if change.task.is_some() {
        Some(reserve(ctx, 1)?)
    } else {
        None
    };
    let db = &ctx.services()?.db;
    match q::start_task(db, uuid, ctx.is_admin, guard, change, extra)? {
        Ok(task) => {
            if let (Some(slots), Some(task)) = (slots, task) {
                slots.submit(&[task]);
            }
            Ok(())
        }
        Err(refusal) => Err(refusal_error(refusal, guard.action, uuid)),
    }
}

fn no_extra<'a>(
    _: &rusqlite::Connection,
    _: &q::InstanceState,
) -> Result<Result<Vec<Set<'a>>, Refusal>, DbError> {
    Ok(Ok(Vec::new()))
}

/// A power action: its policy, guard, task and first task_state.
struct Simple {
    policy: &'static str,
    guard: &'static Guard,
    kind: TaskKind,
    task_state: &'static str,
    /// Nova's `@check_instance_host`: 409 "is not ready" without a host.
    needs_host: bool,
}

/// Runs a [`Simple`] action.
fn simple(
    ctx: &RequestContext<'_>,
    params: &Params<'_, '_>,
    resp: &mut Response,
    action: &Simple,
) -> Result<(), ApiError> {
    let Simple {
        policy,
        guard,
        kind,
        task_state,
        needs_host,
    } = *action;
    let uuid = params.get("id").unwrap_or_default();
    let state = precheck(ctx, uuid, policy, guard)?;
    if needs_host && state.host.is_none() {
        return Err(ApiError::Conflict(Cow::Owned(format!(
            "Instance {uuid} is not ready"
        ))));
    }
    let change = Change {
        task: Some((kind, "{}")),
        task_state: Some(task_state),
        sets: Vec::new(),
    };
    commit(ctx, uuid, guard, change, no_extra)?;
    resp.status = 202;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

fn reboot<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    argument: &BorrowedValue<'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    validate_action(ctx, &REBOOT_SCHEMA, "reboot", argument)?;
    let hard = member(argument, "type")
        .and_then(|v| v.as_str())
        .is_some_and(|t| t.eq_ignore_ascii_case("hard"));
    let (guard, kind, task_state) = if hard {
        (&REBOOT_HARD, TaskKind::RebootHard, "rebooting_hard")
    } else {
        (&REBOOT_SOFT, TaskKind::Reboot, "rebooting")
    };
    simple(
        ctx,
        params,
        resp,
        &Simple {
            policy: "os_compute_api:servers:reboot",
            guard,
            kind,
            task_state,
            needs_host: false,
        },
    )
}

/// An action handler that only runs a [`Simple`] action.
macro_rules! simple_action {
    ($(#[$doc:meta])* $name:ident, $policy:literal, $guard:expr, $kind:expr, $task_state:literal, $needs_host:literal) => {
        $(#[$doc])*
        fn $name<'a>(
            _req: &Request<'a>,
            ctx: &mut RequestContext<'a>,
            params: &Params<'_, 'a>,
            _argument: &BorrowedValue<'a>,
            resp: &mut Response,
        ) -> Result<(), ApiError> {
            const ACTION: Simple = Simple {
                policy: $policy,
                guard: $guard,
                kind: $kind,
                task_state: $task_state,
                needs_host: $needs_host,
            };
            simple(ctx, params, resp, &ACTION)
        }
    };
}

simple_action!(
    /// `os-start`.
    start, "os_compute_api:servers:start", &START, TaskKind::Start, "powering-on", true
);
simple_action!(
    /// `os-stop`.
    stop, "os_compute_api:servers:stop", &STOP, TaskKind::Stop, "powering-off", true
);
simple_action!(
    /// `pause`.
    pause, "os_compute_api:os-pause-server:pause", &PAUSE, TaskKind::Pause, "pausing", false
);
simple_action!(
    /// `unpause`.
    unpause,
    "os_compute_api:os-pause-server:unpause",
    &UNPAUSE,
    TaskKind::Unpause,
    "unpausing",
    false
);
simple_action!(
    /// `suspend`.
    suspend,
    "os_compute_api:os-suspend-server:suspend",
    &SUSPEND,
    TaskKind::Suspend,
    "suspending",
    false
);
simple_action!(
    /// `resume`.
    resume,
    "os_compute_api:os-suspend-server:resume",
    &RESUME,
    TaskKind::Resume,
    "resuming",
    false
);

/// `resize`: to another flavor; the cores/RAM increase is checked against the quota in the
/// same transaction, and the counted resources become the larger of the two flavors' until
/// the resize finishes (then the new flavor's) or is reverted (the old one's).
fn resize<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    argument: &BorrowedValue<'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    validate_action(ctx, &RESIZE_SCHEMA, "resize", argument)?;
    let uuid = params.get("id").unwrap_or_default();
    let state = precheck(ctx, uuid, "os_compute_api:servers:resize", &RESIZE)?;
    let flavor_ref = member(argument, "flavorRef")
        .map(flavor_id_from_ref)
        .unwrap_or_default();
    let Some((flavor, specs)) = find_flavor(ctx, &flavor_ref)? else {
        return Err(ApiError::Invalid(Cow::Borrowed(
            "Unable to locate requested flavor.",
        )));
    };
    if flavor.id == state.instance_type_id {
        return Err(ApiError::Invalid(Cow::Borrowed(
            "When resizing, instances must change flavor!",
        )));
    }
    if flavor.root_gb < state.root_gb {
        return Err(ApiError::Invalid(Cow::Borrowed(
            "Resize error: Unable to resize disk down.",
        )));
    }
    let snapshot = flavor_snapshot(&flavor, &specs);
    let task_params = format!("{{\"instance_type_id\": {}}}", flavor.id);
    let defaults = counted_defaults(ctx)?;
    let auto_disk = member(argument, "OS-DCF:diskConfig").and_then(|v| v.as_str());
    let mut sets = vec![Set::Text("new_flavor", Some(&snapshot))];
    if let Some(disk) = auto_disk {
        sets.push(Set::Int("auto_disk_config", i64::from(disk == "AUTO")));
    }
    let change = Change {
        task: Some((TaskKind::Resize, &task_params)),
        task_state: Some("resize_prep"),
        sets,
    };
    let (vcpus, ram) = (flavor.vcpus, flavor.memory_mb);
    commit(ctx, uuid, &RESIZE, change, |conn, current| {
        let delta_cores = vcpus - current.vcpus;
        let delta_ram = ram - current.memory_mb;
        if let Err(over) = q::check_upsize(
            conn,
            &current.project_id,
            &current.user_id,
            defaults,
            delta_cores,
            delta_ram,
        )? {
            return Ok(Err(Refusal::OverQuota(over)));
        }
        Ok(Ok(vec![
            Set::Int("vcpus", vcpus.max(current.vcpus)),
            Set::Int("memory_mb", ram.max(current.memory_mb)),
        ]))
    })?;
    resp.status = 202;
    Ok(())
}

/// `confirmResize`: 204; the server settles in the vm_state its power state implies, in the
/// request's own transaction. Nova's API only marks the migration `confirming` and casts to
/// the compute host, which sets vm_state active (or stopped) with task_state None; the
/// instance's task_state never shows `resize_confirming` there, so none is written here.
fn confirm_resize<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    _argument: &BorrowedValue<'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let uuid = params.get("id").unwrap_or_default();
    let state = precheck(
        ctx,
        uuid,
        "os_compute_api:servers:confirm_resize",
        &CONFIRM_RESIZE,
    )?;
    let settled = if state.power_state == 4 {
        "stopped"
    } else {
        "active"
    };
    let change = Change {
        task: None,
        task_state: None,
        sets: vec![
            Set::Text("vm_state", Some(settled)),
            Set::Text("old_flavor", None),
            Set::Text("new_flavor", None),
        ],
    };
    commit(ctx, uuid, &CONFIRM_RESIZE, change, no_extra)?;
    resp.status = 204;
    Ok(())
}

/// `revertResize`: back to the old flavor (through `resize_reverting`).
fn revert_resize<'a>(
    _req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    _argument: &BorrowedValue<'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let uuid = params.get("id").unwrap_or_default();
    precheck(
        ctx,
        uuid,
        "os_compute_api:servers:revert_resize",
        &REVERT_RESIZE,
    )?;
    let Some(old_type) = q::old_instance_type_id(&ctx.services()?.db, uuid)? else {
        return Err(ApiError::Invalid(Cow::Borrowed(
            "Instance has not been resized.",
        )));
    };
    let task_params = format!("{{\"instance_type_id\": {old_type}}}");
    let change = Change {
        task: Some((TaskKind::RevertResize, &task_params)),
        task_state: Some("resize_reverting"),
        sets: Vec::new(),
    };
    commit(ctx, uuid, &REVERT_RESIZE, change, no_extra)?;
    resp.status = 202;
    Ok(())
}

/// `createImage`: a snapshot image row (SAVING until the task ends) and task_state
/// `image_snapshot`; `Location` below 2.45, `{"image_id"}` from 2.45.
fn create_image<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    argument: &BorrowedValue<'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    validate_action(ctx, &CREATE_IMAGE_SCHEMA, "createImage", argument)?;
    let uuid = params.get("id").unwrap_or_default();
    let (user, project) = ctx.identity()?;
    let state = visible_instance(ctx, uuid)?;
    authorize_instance(ctx, "os_compute_api:servers:create_image", &state)?;
    let name = member(argument, "name")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let metadata = metadata_items(member(argument, "metadata"));
    // Below 2.39 the image metadata quota comes before the state check, as in Nova.
    if !ctx.at_least(39) && !metadata.is_empty() {
        let limit = project_limit(ctx, project, "metadata_items")?;
        if limit >= 0 && metadata.len() as i64 > limit {
            return Err(ApiError::OverQuota(Cow::Borrowed(
                "Image metadata limit exceeded",
            )));
        }
    }
    CREATE_IMAGE
        .check(&state, ctx.is_admin)
        .map_err(|refusal| refusal_error(refusal, CREATE_IMAGE.action, uuid))?;
    let image_id = uuid4();
    let task_params = format!("{{\"image_id\": \"{image_id}\"}}");
    let mut properties = Vec::with_capacity(160);
    properties.push(b'{');
    for (key, value) in &metadata {
        json::push_str(&mut properties, key);
        properties.extend_from_slice(b": ");
        json::push_str(&mut properties, value);
        properties.extend_from_slice(b", ");
    }
    properties.extend_from_slice(b"\"image_type\": \"snapshot\", \"instance_uuid\": ");
    json::push_str(&mut properties, uuid);
    properties.extend_from_slice(b", \"user_id\": ");
    json::push_str(&mut properties, user);
    properties.extend_from_slice(b", \"base_image_ref\": ");
    json::push_str(&mut properties, &state.image_ref);
    properties.push(b'}');
    let properties = String::from_utf8(properties).unwrap_or_default();
    let change = Change {
        task: Some((TaskKind::Snapshot, &task_params)),
        task_state: Some("image_snapshot"),
        sets: vec![Set::Image {
            id: &image_id,
            name,
            metadata: &properties,
            min_disk: state.root_gb,
            min_ram: 0,
        }],
    };
    commit(ctx, uuid, &CREATE_IMAGE, change, no_extra)?;
    resp.status = 202;
    if ctx.at_least(45) {
        resp.content_type = "application/json";
        resp.body.extend_from_slice(b"{\"image_id\": ");
        json::push_str(&mut resp.body, &image_id);
        resp.body.push(b'}');
    } else {
        let mut location = Vec::with_capacity(128);
        ctx.push_application_url(&mut location);
        if let Some(project) = ctx
            .project_id
            .filter(|p| !p.is_empty() && req.target().windows(p.len()).any(|w| w == p.as_bytes()))
        {
            location.push(b'/');
            location.extend_from_slice(project.as_bytes());
        }
        location.extend_from_slice(b"/images/");
        location.extend_from_slice(image_id.as_bytes());
        resp.header("Location", &location);
    }
    Ok(())
}

/// `rebuild`: new image (and optionally name, metadata, password, …), task_state
/// `rebuilding`; answers 202 with the server body (and `adminPass`).
fn rebuild<'a>(
    req: &Request<'a>,
    ctx: &mut RequestContext<'a>,
    params: &Params<'_, 'a>,
    argument: &BorrowedValue<'a>,
    resp: &mut Response,
) -> Result<(), ApiError> {
    let schema = if ctx.at_least(57) {
        &REBUILD_V257
    } else if ctx.at_least(54) {
        &REBUILD_V254
    } else if ctx.at_least(19) {
        &REBUILD_V219
    } else {
        &REBUILD_V21
    };
    validate_action(ctx, schema, "rebuild", argument)?;
    check_formats(argument)?;
    let uuid = params.get("id").unwrap_or_default();
    let state = precheck(ctx, uuid, "os_compute_api:servers:rebuild", &REBUILD)?;
    let services = ctx.services()?;
    let image_ref = member(argument, "imageRef")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let image_id = image_ref.rsplit('/').next().unwrap_or(image_ref);
    match q::image_for_boot(&services.db, image_id)? {
        Some(image) if image.status.eq_ignore_ascii_case("active") => {}
        Some(_) => {
            return Err(ApiError::Invalid(Cow::Owned(format!(
                "Image {image_id} is not active."
            ))))
        }
        None => {
            return Err(ApiError::Invalid(Cow::Borrowed(
                "Cannot find image for rebuild",
            )))
        }
    }
    let metadata = member(argument, "metadata").map(|m| metadata_items(Some(m)));
    if let Some(items) = &metadata {
        check_metadata_quota(ctx, &state.project_id, items.len())?;
    }
    if !ctx.at_least(57) {
        check_personality_quota(ctx, &state.project_id, member(argument, "personality"))?;
    }
    let mut sets = vec![Set::Text("image_ref", Some(image_id))];
    if let Some(name) = member(argument, "name").and_then(|v| v.as_str()) {
        sets.push(Set::Text("display_name", Some(name)));
    }
    if ctx.at_least(19) {
        if let Some(description) = member(argument, "description") {
            sets.push(Set::Text("display_description", description.as_str()));
        }
    }
    for (field, column) in [
        ("accessIPv4", "access_ip_v4"),
        ("accessIPv6", "access_ip_v6"),
    ] {
        if let Some(text) = member(argument, field).and_then(|v| v.as_str()) {
            sets.push(Set::Text(column, Some(text)));
        }
    }
    if let Some(disk) = member(argument, "OS-DCF:diskConfig").and_then(|v| v.as_str()) {
        sets.push(Set::Int("auto_disk_config", i64::from(disk == "AUTO")));
    }
    let key_data;
    if ctx.at_least(54) {
        if let Some(key) = member(argument, "key_name") {
            match key.as_str() {
                Some(name) => {
                    let (user, _) = ctx.identity()?;
                    key_data = match keypairs::get(&services.db, user, name) {
                        Ok(row) => row.public_key,
                        Err(DbError::NotFound) => {
                            return Err(ApiError::Invalid(Cow::Borrowed(
                                "Invalid key_name provided.",
                            )))
                        }
                        Err(err) => return Err(err.into()),
                    };
                    sets.push(Set::Text("key_name", Some(name)));
                    sets.push(Set::Text("key_data", Some(&key_data)));
                }
                None => {
                    sets.push(Set::Text("key_name", None));
                    sets.push(Set::Text("key_data", None));
                }
            }
        }
    }
    if ctx.at_least(57) {
        if let Some(user_data) = member(argument, "user_data") {
            sets.push(Set::Text("user_data", user_data.as_str()));
        }
    }
    if let Some(items) = metadata {
        sets.push(Set::Metadata(items));
    }
    let change = Change {
        task: Some((TaskKind::Rebuild, "{}")),
        task_state: Some("rebuilding"),
        sets,
    };
    commit(ctx, uuid, &REBUILD, change, no_extra)?;
    let password = services
        .orchestrator_config
        .enable_instance_password
        .then(
            || match member(argument, "adminPass").and_then(|v| v.as_str()) {
                Some(given) => given.to_owned(),
                None => generate_password(services.orchestrator_config.password_length),
            },
        );
    crate::api::servers::write_rebuilt_server(req, ctx, uuid, resp)?;
    resp.status = 202;
    if let Some(password) = password {
        // `{"server": {…}}` → `{"server": {…, "adminPass": "…"}}`.
        if resp.body.ends_with(b"}}") {
            resp.body.truncate(resp.body.len() - 2);
            resp.body.extend_from_slice(b", \"adminPass\": ");
            json::push_str(&mut resp.body, &password);
            resp.body.extend_from_slice(b"}}");
        }
    }
    Ok(())
}
