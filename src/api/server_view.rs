//! Nova's server view builder (`views/servers.py`): the status table (SPEC §5.2) both ways,
//! the index item and the show/detail representation per microversion, and Nova's timestamp
//! forms.
//!
//! Core worker, per row. Every representation is appended straight to the response body from
//! the borrowed database row; the flavor snapshot and (for the reduced update view) the
//! addresses are parsed in one reusable scratch buffer. Per microversion (show/detail):
//! - 2.1: the base keys, `OS-EXT-SRV-ATTR:{host, instance_name, hypervisor_hostname}` when
//!   `os_compute_api:os-extended-server-attributes` passes;
//! - ≥ 2.3: also `OS-EXT-SRV-ATTR:{reservation_id, launch_index, hostname, kernel_id,
//!   ramdisk_id, root_device_name, user_data}` under the same policy;
//! - ≥ 2.9 `locked`; ≥ 2.16 `host_status` (policy `servers:show:host_status`; `UP` with a
//!   host, `""` without); ≥ 2.19 `description`; ≥ 2.26 `tags`;
//! - ≥ 2.47 `flavor` is the embedded snapshot, with `extra_specs` only when
//!   `servers:show:flavor-extra-specs` passes.
//!
//! The update and rebuild responses below 2.75 are the same representation without the
//! show/detail set ([`ViewFlags::full`]); rebuild adds `key_name` from 2.54 and a top-level
//! `user_data` from 2.57.
//!
//! This module must never decide visibility (callers fetch only rows the caller may see)
//! and never write to the database.

use std::time::{SystemTime, UNIX_EPOCH};

use simd_json::{prelude::*, BorrowedValue};

use super::{context::RequestContext, json, links::Links};
use crate::db::{
    queries::instances::{self, InstanceRef},
    Db, DbError,
};

// ---------------------------------------------------------------------------------------------
// Status (SPEC §5.2, Nova's common._STATE_MAP)
// ---------------------------------------------------------------------------------------------

/// `(vm_state, [(task_state or "default", status)])`, in Nova's table order.
const STATE_MAP: &[(&str, &[(&str, &str)])] = &[
    (
        "active",
        &[
            ("default", "ACTIVE"),
            ("rebooting", "REBOOT"),
            ("reboot_pending", "REBOOT"),
            ("reboot_started", "REBOOT"),
            ("rebooting_hard", "HARD_REBOOT"),
            ("reboot_pending_hard", "HARD_REBOOT"),
            ("reboot_started_hard", "HARD_REBOOT"),
            ("updating_password", "PASSWORD"),
            ("rebuilding", "REBUILD"),
            ("rebuild_block_device_mapping", "REBUILD"),
            ("rebuild_spawning", "REBUILD"),
            ("migrating", "MIGRATING"),
            ("resize_prep", "RESIZE"),
            ("resize_migrating", "RESIZE"),
            ("resize_migrated", "RESIZE"),
            ("resize_finish", "RESIZE"),
        ],
    ),
    ("building", &[("default", "BUILD")]),
    (
        "stopped",
        &[
            ("default", "SHUTOFF"),
            ("resize_prep", "RESIZE"),
            ("resize_migrating", "RESIZE"),
            ("resize_migrated", "RESIZE"),
            ("resize_finish", "RESIZE"),
            ("rebuilding", "REBUILD"),
            ("rebuild_block_device_mapping", "REBUILD"),
            ("rebuild_spawning", "REBUILD"),
        ],
    ),
    (
        "resized",
        &[
            ("default", "VERIFY_RESIZE"),
            ("resize_reverting", "REVERT_RESIZE"),
        ],
    ),
    (
        "paused",
        &[("default", "PAUSED"), ("migrating", "MIGRATING")],
    ),
    ("suspended", &[("default", "SUSPENDED")]),
    ("rescued", &[("default", "RESCUE")]),
    (
        "error",
        &[
            ("default", "ERROR"),
            ("rebuilding", "REBUILD"),
            ("rebuild_block_device_mapping", "REBUILD"),
            ("rebuild_spawning", "REBUILD"),
        ],
    ),
    ("deleted", &[("default", "DELETED")]),
    ("soft-delete", &[("default", "SOFT_DELETED")]),
    ("shelved", &[("default", "SHELVED")]),
    ("shelved_offloaded", &[("default", "SHELVED_OFFLOADED")]),
];

/// `status_from_state`: the API status of a vm_state/task_state pair (`UNKNOWN` for a
/// vm_state outside the table). A deleted row is `DELETED` whatever its states.
pub fn status(vm_state: &str, task_state: Option<&str>, deleted: bool) -> &'static str {
    if deleted {
        return "DELETED";
    }
    let Some((_, tasks)) = STATE_MAP.iter().find(|(vm, _)| *vm == vm_state) else {
        return "UNKNOWN";
    };
    let task = task_state.unwrap_or("default");
    tasks
        .iter()
        .find(|(t, _)| *t == task)
        .or_else(|| tasks.iter().find(|(t, _)| *t == "default"))
        .map_or("UNKNOWN", |(_, s)| s)
}

/// `task_and_vm_state_from_status`: the vm_states and task_states (`"default"` included when
/// a status is a vm_state's default) whose status is one of `statuses` (case-insensitive),
/// each sorted and without duplicates.
pub fn states_for_statuses<'s>(
    statuses: impl Iterator<Item = &'s str> + Clone,
) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut vm_states = Vec::new();
    let mut task_states = Vec::new();
    for (vm, tasks) in STATE_MAP {
        for (task, mapped) in tasks.iter() {
            if statuses.clone().any(|s| s.eq_ignore_ascii_case(mapped)) {
                vm_states.push(*vm);
                task_states.push(*task);
            }
        }
    }
    vm_states.sort_unstable();
    vm_states.dedup();
    task_states.sort_unstable();
    task_states.dedup();
    (vm_states, task_states)
}

const PROGRESS_STATUSES: &[&str] = &[
    "ACTIVE",
    "BUILD",
    "REBUILD",
    "RESIZE",
    "VERIFY_RESIZE",
    "MIGRATING",
];

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

/// `utils.isotime` of a stored timestamp: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn push_isotime(out: &mut Vec<u8>, stored: &str) {
    out.push(b'"');
    json::push_escaped(out, stored.get(..19).unwrap_or(stored));
    out.extend_from_slice(b"Z\"");
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Nova's stored form of a UTC instant given in seconds and microseconds since the epoch.
fn stored_form(secs: i64, micros: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Now, in Nova's stored form.
pub fn now_stored() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    stored_form(
        i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
        i64::from(now.subsec_micros()),
    )
}

/// `timeutils.parse_isotime` + normalisation to UTC: an ISO 8601 date-time (`2013-09-03`,
/// `2013-09-03T04:01:32`, fractions, `Z` or `±hh[:mm]`) as Nova's stored text form; `None`
/// when it is not one.
pub fn parse_isotime(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&mo) {
        return None;
    }
    let month_days = [
        31,
        28 + i64::from(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)),
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d < 1 || d > month_days[usize::try_from(mo - 1).ok()?] {
        return None;
    }
    let mut pos = 10;
    let (mut h, mut mi, mut s, mut micros) = (0, 0, 0, 0);
    if matches!(b.get(pos), Some(b'T' | b't' | b' ')) {
        h = num(pos + 1..pos + 3)?;
        if b.get(pos + 3) != Some(&b':') {
            return None;
        }
        mi = num(pos + 4..pos + 6)?;
        pos += 6;
        if b.get(pos) == Some(&b':') {
            s = num(pos + 1..pos + 3)?;
            pos += 3;
            if matches!(b.get(pos), Some(b'.' | b',')) {
                let start = pos + 1;
                let mut end = start;
                while b.get(end).is_some_and(u8::is_ascii_digit) {
                    end += 1;
                }
                if end == start {
                    return None;
                }
                let digits = &text[start..end.min(start + 6)];
                micros = digits.parse::<i64>().ok()? * 10_i64.pow(6 - digits.len() as u32);
                pos = end;
            }
        }
        if h > 23 || mi > 59 || s > 60 {
            return None;
        }
    }
    let mut offset = 0;
    match b.get(pos) {
        None => {}
        Some(b'Z' | b'z') if pos + 1 == b.len() => {}
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(pos + 1..pos + 3)?;
            let rest = &b[pos + 3..];
            let om = match rest {
                [] => 0,
                [b':', ..] => num(pos + 4..pos + 6).filter(|_| rest.len() == 3)?,
                _ => num(pos + 3..pos + 5).filter(|_| rest.len() == 2)?,
            };
            offset = (oh * 60 + om) * 60 * if sign == b'+' { 1 } else { -1 };
        }
        _ => return None,
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset;
    Some(stored_form(secs, micros))
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

/// Which optional parts of the representation to write.
#[derive(Debug, Clone, Copy, Default)]
pub struct ViewFlags {
    /// `OS-EXT-SRV-ATTR:*` (policy `os-extended-server-attributes`).
    pub extended_attr: bool,
    /// 2.47 `flavor.extra_specs` (policy `servers:show:flavor-extra-specs`).
    pub extra_specs: bool,
    /// 2.16 `host_status` (policy `servers:show:host_status`).
    pub host_status: bool,
    /// The show/detail set: AZ, config_drive, OS-SRV-USG, security groups, OS-EXT-STS,
    /// volumes and extended addresses. `false` for the update and rebuild responses below
    /// 2.75, which have none of them.
    pub full: bool,
    /// `key_name`: with the show/detail set, and in the reduced rebuild response from 2.54.
    pub key_name: bool,
    /// A top-level `user_data` (the rebuild response from 2.57).
    pub user_data: bool,
}

/// Appends `"<key>": `.
fn key(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b", \"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\": ");
}

fn push_opt_str(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(v) => json::push_str(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

fn push_int(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// The index item: `{"id", "name", "links"}`.
pub fn push_basic(out: &mut Vec<u8>, links: &Links<'_, '_>, inst: &InstanceRef<'_>) {
    out.extend_from_slice(b"{\"id\": ");
    json::push_str(out, inst.uuid);
    out.extend_from_slice(b", \"name\": ");
    json::push_str(out, inst.display_name);
    out.extend_from_slice(b", \"links\": ");
    links.push_links(out, "servers", inst.uuid);
    out.push(b'}');
}

/// `sha224(project_id + host)` hex, or `""` without a host.
fn push_host_id(out: &mut Vec<u8>, project: &str, host: Option<&str>) {
    use sha2::{Digest, Sha224};
    out.push(b'"');
    if let Some(host) = host.filter(|h| !h.is_empty()) {
        let mut hasher = Sha224::new();
        hasher.update(project.as_bytes());
        hasher.update(host.as_bytes());
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for byte in hasher.finalize() {
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        }
    }
    out.push(b'"');
}

/// Reads `flavor` JSON into `scratch` and returns the parsed value.
fn parse_json<'s>(scratch: &'s mut Vec<u8>, text: &str) -> Option<BorrowedValue<'s>> {
    scratch.clear();
    scratch.extend_from_slice(text.as_bytes());
    simd_json::to_borrowed_value(scratch).ok()
}

fn push_flavor(
    out: &mut Vec<u8>,
    ctx: &RequestContext<'_>,
    links: &Links<'_, '_>,
    inst: &InstanceRef<'_>,
    flags: ViewFlags,
    scratch: &mut Vec<u8>,
) {
    let Some(flavor) = parse_json(scratch, inst.flavor) else {
        out.extend_from_slice(b"{}");
        return;
    };
    let int = |name: &str| flavor.get(name).and_then(|v| v.as_i64()).unwrap_or(0);
    let string = |name: &str| flavor.get(name).and_then(|v| v.as_str()).unwrap_or("");
    if !ctx.at_least(47) {
        let flavorid = match flavor.get("flavorid") {
            Some(v) if v.as_str().is_some() => v.as_str().unwrap_or("").to_owned(),
            Some(v) => v.as_i64().map(|n| n.to_string()).unwrap_or_default(),
            None => String::new(),
        };
        out.extend_from_slice(b"{\"id\": ");
        json::push_str(out, &flavorid);
        out.extend_from_slice(b", \"links\": ");
        links.push_bookmark(out, "flavors", &flavorid);
        out.push(b'}');
        return;
    }
    out.extend_from_slice(b"{\"vcpus\": ");
    push_int(out, int("vcpus"));
    out.extend_from_slice(b", \"ram\": ");
    push_int(out, int("memory_mb"));
    out.extend_from_slice(b", \"disk\": ");
    push_int(out, int("root_gb"));
    out.extend_from_slice(b", \"ephemeral\": ");
    push_int(out, int("ephemeral_gb"));
    out.extend_from_slice(b", \"swap\": ");
    push_int(out, int("swap"));
    out.extend_from_slice(b", \"original_name\": ");
    json::push_str(out, string("name"));
    if flags.extra_specs {
        out.extend_from_slice(b", \"extra_specs\": {");
        if let Some(specs) = flavor.get("extra_specs").and_then(|v| v.as_object()) {
            let mut sorted: Vec<_> = specs.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                json::push_str(out, k);
                out.extend_from_slice(b": ");
                json::push_str(out, v.as_str().unwrap_or(""));
            }
        }
        out.push(b'}');
    }
    out.push(b'}');
}

/// Addresses: `{}` while building; the stored address view when `extended`, else the same
/// without the `OS-EXT-IPS*` keys.
fn push_addresses(
    out: &mut Vec<u8>,
    inst: &InstanceRef<'_>,
    extended: bool,
    scratch: &mut Vec<u8>,
) {
    if inst.vm_state == "building" {
        out.extend_from_slice(b"{}");
        return;
    }
    let Some(value) = parse_json(scratch, inst.network_info) else {
        out.extend_from_slice(b"{}");
        return;
    };
    let Some(networks) = value.as_object() else {
        out.extend_from_slice(b"{}");
        return;
    };
    out.push(b'{');
    for (n, (label, ips)) in networks.iter().enumerate() {
        if n > 0 {
            out.extend_from_slice(b", ");
        }
        json::push_str(out, label);
        out.extend_from_slice(b": [");
        for (i, ip) in ips
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(b"{\"addr\": ");
            json::push_str(out, ip.get("addr").and_then(|v| v.as_str()).unwrap_or(""));
            out.extend_from_slice(b", \"version\": ");
            push_int(out, ip.get("version").and_then(|v| v.as_i64()).unwrap_or(4));
            if extended {
                out.extend_from_slice(b", \"OS-EXT-IPS:type\": ");
                json::push_str(
                    out,
                    ip.get("OS-EXT-IPS:type")
                        .and_then(|v| v.as_str())
                        .unwrap_or("fixed"),
                );
                out.extend_from_slice(b", \"OS-EXT-IPS-MAC:mac_addr\": ");
                push_opt_str(
                    out,
                    ip.get("OS-EXT-IPS-MAC:mac_addr").and_then(|v| v.as_str()),
                );
            }
            out.push(b'}');
        }
        out.push(b']');
    }
    out.push(b'}');
}

/// Whether an address of the instance with this IP `version` matches `pattern` at its start
/// (Nova's `_ip_filter`: fixed addresses, `re.match`).
pub fn ip_matches(
    inst: &InstanceRef<'_>,
    version: i64,
    pattern: &regex::Regex,
    scratch: &mut Vec<u8>,
) -> bool {
    let Some(value) = parse_json(scratch, inst.network_info) else {
        return false;
    };
    let Some(networks) = value.as_object() else {
        return false;
    };
    networks.values().any(|ips| {
        ips.as_array().is_some_and(|ips| {
            ips.iter().any(|ip| {
                ip.get("version").and_then(|v| v.as_i64()) == Some(version)
                    && ip
                        .get("OS-EXT-IPS:type")
                        .and_then(|v| v.as_str())
                        .unwrap_or("fixed")
                        == "fixed"
                    && ip
                        .get("addr")
                        .and_then(|v| v.as_str())
                        .is_some_and(|addr| pattern.find(addr).is_some_and(|m| m.start() == 0))
            })
        })
    })
}

/// The show/detail representation (without the `{"server": …}` wrapper).
#[allow(clippy::too_many_arguments)]
pub fn push_server(
    out: &mut Vec<u8>,
    ctx: &RequestContext<'_>,
    links: &Links<'_, '_>,
    db: &Db,
    inst: &InstanceRef<'_>,
    flags: ViewFlags,
    scratch: &mut Vec<u8>,
) -> Result<(), DbError> {
    let status = status(inst.vm_state, inst.task_state, inst.deleted);
    out.extend_from_slice(b"{\"id\": ");
    json::push_str(out, inst.uuid);
    key(out, "name");
    json::push_str(out, inst.display_name);
    key(out, "status");
    json::push_str(out, status);
    key(out, "tenant_id");
    json::push_str(out, inst.project_id);
    key(out, "user_id");
    json::push_str(out, inst.user_id);
    key(out, "metadata");
    out.push(b'{');
    let mut first = true;
    instances::each_metadata(db, inst.uuid, |k, v| {
        if !first {
            out.extend_from_slice(b", ");
        }
        first = false;
        json::push_str(out, k);
        out.extend_from_slice(b": ");
        json::push_str(out, v);
    })?;
    out.push(b'}');
    key(out, "hostId");
    push_host_id(out, inst.project_id, inst.host);
    key(out, "image");
    if inst.image_ref.is_empty() {
        out.extend_from_slice(b"\"\"");
    } else {
        let id = inst.image_ref.rsplit('/').next().unwrap_or(inst.image_ref);
        out.extend_from_slice(b"{\"id\": ");
        json::push_str(out, id);
        out.extend_from_slice(b", \"links\": ");
        links.push_bookmark(out, "images", id);
        out.push(b'}');
    }
    key(out, "flavor");
    push_flavor(out, ctx, links, inst, flags, scratch);
    key(out, "created");
    push_isotime(out, inst.created_at);
    key(out, "updated");
    match inst.updated_at {
        Some(updated) => push_isotime(out, updated),
        // utils.isotime(None) is "now".
        None => push_isotime(out, &now_stored()),
    }
    key(out, "addresses");
    push_addresses(out, inst, flags.full, scratch);
    key(out, "accessIPv4");
    json::push_str(out, inst.access_ip_v4.unwrap_or(""));
    key(out, "accessIPv6");
    json::push_str(out, inst.access_ip_v6.unwrap_or(""));
    key(out, "links");
    links.push_links(out, "servers", inst.uuid);
    key(out, "OS-DCF:diskConfig");
    json::push_str(
        out,
        if inst.auto_disk_config {
            "AUTO"
        } else {
            "MANUAL"
        },
    );
    if status == "ERROR" || status == "DELETED" {
        let mut fault_written = false;
        instances::latest_fault(db, inst.uuid, |fault| {
            fault_written = true;
            key(out, "fault");
            out.extend_from_slice(b"{\"code\": ");
            push_int(out, fault.code);
            out.extend_from_slice(b", \"created\": ");
            push_isotime(out, fault.created_at);
            out.extend_from_slice(b", \"message\": ");
            json::push_str(out, fault.message);
            if let Some(details) = fault.details.filter(|d| !d.is_empty()) {
                if ctx.is_admin || fault.code != 500 {
                    out.extend_from_slice(b", \"details\": ");
                    json::push_str(out, details);
                }
            }
            out.push(b'}');
        })?;
        let _ = fault_written;
    }
    if PROGRESS_STATUSES.contains(&status) {
        key(out, "progress");
        push_int(out, inst.progress);
    }
    if flags.full {
        key(out, "OS-EXT-AZ:availability_zone");
        let az = match (inst.host, inst.availability_zone) {
            (_, Some(az)) if !az.is_empty() => az,
            (Some(host), _) if !host.is_empty() => "nova",
            _ => "",
        };
        json::push_str(out, az);
        key(out, "config_drive");
        json::push_str(out, inst.config_drive);
    }
    if flags.key_name {
        key(out, "key_name");
        push_opt_str(out, inst.key_name);
    }
    if flags.full {
        key(out, "OS-SRV-USG:launched_at");
        push_opt_str(out, inst.launched_at);
        key(out, "OS-SRV-USG:terminated_at");
        push_opt_str(out, inst.terminated_at);
        let groups = inst.security_groups.trim();
        if !groups.is_empty() && groups != "[]" {
            if let Some(value) = parse_json(scratch, groups) {
                if let Some(list) = value.as_array().filter(|l| !l.is_empty()) {
                    key(out, "security_groups");
                    out.push(b'[');
                    for (i, group) in list.iter().enumerate() {
                        if i > 0 {
                            out.extend_from_slice(b", ");
                        }
                        out.extend_from_slice(b"{\"name\": ");
                        json::push_str(
                            out,
                            group.get("name").and_then(|v| v.as_str()).unwrap_or(""),
                        );
                        out.push(b'}');
                    }
                    out.push(b']');
                }
            }
        }
    }
    if flags.extended_attr {
        key(out, "OS-EXT-SRV-ATTR:host");
        push_opt_str(out, inst.host);
        key(out, "OS-EXT-SRV-ATTR:instance_name");
        json::push_str(out, &format!("instance-{:08x}", inst.id));
        key(out, "OS-EXT-SRV-ATTR:hypervisor_hostname");
        push_opt_str(out, inst.node);
        if ctx.at_least(3) {
            key(out, "OS-EXT-SRV-ATTR:reservation_id");
            json::push_str(out, inst.reservation_id);
            key(out, "OS-EXT-SRV-ATTR:launch_index");
            push_int(out, inst.launch_index);
            key(out, "OS-EXT-SRV-ATTR:hostname");
            push_opt_str(out, inst.hostname);
            key(out, "OS-EXT-SRV-ATTR:kernel_id");
            out.extend_from_slice(b"\"\"");
            key(out, "OS-EXT-SRV-ATTR:ramdisk_id");
            out.extend_from_slice(b"\"\"");
            key(out, "OS-EXT-SRV-ATTR:root_device_name");
            out.extend_from_slice(b"null");
            key(out, "OS-EXT-SRV-ATTR:user_data");
            push_opt_str(out, inst.user_data);
        }
    }
    if flags.full {
        key(out, "OS-EXT-STS:task_state");
        push_opt_str(out, inst.task_state);
        key(out, "OS-EXT-STS:vm_state");
        json::push_str(out, inst.vm_state);
        key(out, "OS-EXT-STS:power_state");
        push_int(out, inst.power_state);
        key(out, "os-extended-volumes:volumes_attached");
        out.extend_from_slice(b"[]");
    }
    if ctx.at_least(16) && flags.host_status {
        key(out, "host_status");
        json::push_str(
            out,
            if inst.host.is_some_and(|h| !h.is_empty()) {
                "UP"
            } else {
                ""
            },
        );
    }
    if ctx.at_least(9) {
        key(out, "locked");
        out.extend_from_slice(if inst.locked { b"true" } else { b"false" });
    }
    if ctx.at_least(19) {
        key(out, "description");
        push_opt_str(out, inst.display_description);
    }
    if flags.user_data {
        key(out, "user_data");
        push_opt_str(out, inst.user_data);
    }
    if ctx.at_least(26) {
        key(out, "tags");
        out.push(b'[');
        let mut first = true;
        instances::each_tag(db, inst.uuid, |tag| {
            if !first {
                out.extend_from_slice(b", ");
            }
            first = false;
            json::push_str(out, tag);
        })?;
        out.push(b']');
    }
    out.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        assert_eq!(status("active", None, false), "ACTIVE");
        assert_eq!(
            status("active", Some("rebooting_hard"), false),
            "HARD_REBOOT"
        );
        assert_eq!(status("active", Some("deleting"), false), "ACTIVE");
        assert_eq!(status("stopped", Some("resize_prep"), false), "RESIZE");
        assert_eq!(
            status("resized", Some("resize_reverting"), false),
            "REVERT_RESIZE"
        );
        assert_eq!(status("error", Some("rebuild_spawning"), false), "REBUILD");
        assert_eq!(status("bogus", None, false), "UNKNOWN");
        assert_eq!(status("active", None, true), "DELETED");
    }

    #[test]
    fn statuses_map_back() {
        let (vm, task) = states_for_statuses(["reboot"].into_iter());
        assert_eq!(vm, ["active"]);
        assert_eq!(task, ["reboot_pending", "reboot_started", "rebooting"]);
        let (vm, task) = states_for_statuses(["ACTIVE", "shutoff"].into_iter());
        assert_eq!(vm, ["active", "stopped"]);
        assert_eq!(task, ["default"]);
        let (vm, _) = states_for_statuses(["REBUILD"].into_iter());
        assert_eq!(vm, ["active", "error", "stopped"]);
        assert!(states_for_statuses(["nope"].into_iter()).0.is_empty());
    }

    #[test]
    fn iso_times() {
        assert_eq!(
            parse_isotime("2013-09-03T04:01:32Z").unwrap(),
            "2013-09-03T04:01:32.000000"
        );
        assert_eq!(
            parse_isotime("2013-09-03T04:01:32.5+02:00").unwrap(),
            "2013-09-03T02:01:32.500000"
        );
        assert_eq!(
            parse_isotime("2013-03-01T00:30-0100").unwrap(),
            "2013-03-01T01:30:00.000000"
        );
        assert_eq!(
            parse_isotime("2012-12-31").unwrap(),
            "2012-12-31T00:00:00.000000"
        );
        assert_eq!(
            parse_isotime("2013-01-01T00:00:00+01:00").unwrap(),
            "2012-12-31T23:00:00.000000"
        );
        for bad in [
            "",
            "yesterday",
            "2013-13-01",
            "2013-02-30",
            "2013-09-03T25:00",
            "2013-09-03Tx",
        ] {
            assert!(parse_isotime(bad).is_none(), "{bad}");
        }
        let mut out = Vec::new();
        push_isotime(&mut out, "2014-05-07T12:06:13.681000");
        assert_eq!(out, b"\"2014-05-07T12:06:13Z\"");
        assert_eq!(now_stored().len(), 26);
    }
}
