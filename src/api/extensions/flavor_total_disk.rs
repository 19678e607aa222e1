//! `OS-FLV-TOTAL-DISK`, the after-hook example: every flavor the flavors resource answers
//! with (show, detail, create, update) gains `OS-FLV-TOTAL-DISK:total_disk_gb`, its root disk
//! plus its ephemeral disk in GiB.
//!
//! Optional (see [`super::optional_extensions`]): it changes bodies Nova's API samples show,
//! so it is loaded only when `osapi_compute_ext_list` names it.
//!
//! Core worker, as after hooks of the core flavors controller (see [`super::hooks`]): it
//! reads the response body the core method wrote and adds one member to each flavor object.
//! It adds no routes and no policy rule, and it must never change any other member.

use simd_json::{prelude::*, OwnedValue};

use super::{AfterHook, ControllerExtension, Extension, MethodName, ResponseObject};
use crate::{
    api::{
        context::{Request, RequestContext},
        error::ApiError,
    },
    router::Params,
};

/// The member the extension adds.
pub const ATTRIBUTE: &str = "OS-FLV-TOTAL-DISK:total_disk_gb";

/// The descriptor.
#[derive(Debug, Clone, Copy)]
pub struct FlavorTotalDisk;

impl Extension for FlavorTotalDisk {
    fn name(&self) -> &'static str {
        "FlavorTotalDisk"
    }
    fn alias(&self) -> &'static str {
        "OS-FLV-TOTAL-DISK"
    }
    fn namespace(&self) -> &'static str {
        "http://docs.openstack.org/compute/ext/flavor_total_disk/api/v1.1"
    }
    fn updated(&self) -> &'static str {
        "2026-11-30T00:00:00Z"
    }
    fn description(&self) -> &'static str {
        "Adds the total disk (root plus ephemeral, GiB) to flavor views."
    }

    fn controller_extensions(&self) -> Vec<ControllerExtension> {
        let hook: AfterHook = add_total_disk;
        vec![ControllerExtension::new("flavors")
            .after(MethodName::Show, hook)
            .after(MethodName::Detail, hook)
            .after(MethodName::Create, hook)
            .after(MethodName::Update, hook)]
    }
}

/// Adds the member to `{"flavor": {…}}` or to each of `{"flavors": […]}`.
fn add_total_disk<'a>(
    _req: &Request<'a>,
    _ctx: &RequestContext<'a>,
    _params: &Params<'_, 'a>,
    resp: &mut ResponseObject,
) -> Result<(), ApiError> {
    annotate_body(&mut resp.body);
    Ok(())
}

fn annotate_body(body: &mut OwnedValue) {
    let Some(body) = body.as_object_mut() else {
        return;
    };
    if let Some(flavor) = body.get_mut("flavor") {
        annotate(flavor);
    }
    if let Some(OwnedValue::Array(flavors)) = body.get_mut("flavors") {
        flavors.iter_mut().for_each(annotate);
    }
}

fn annotate(flavor: &mut OwnedValue) {
    let Some(object) = flavor.as_object_mut() else {
        return;
    };
    let gib = |key: &str| object.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
    let total = gib("disk") + gib("OS-FLV-EXT-DATA:ephemeral");
    object.insert(ATTRIBUTE.into(), OwnedValue::from(total));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_root_plus_ephemeral_to_one_or_many_flavors() {
        let mut one = simd_json::to_owned_value(
            &mut br#"{"flavor": {"disk": 20, "OS-FLV-EXT-DATA:ephemeral": 5}}"#.to_vec(),
        )
        .unwrap();
        annotate_body(&mut one);
        assert_eq!(one["flavor"][ATTRIBUTE].as_u64(), Some(25));
        let mut many = simd_json::to_owned_value(
            &mut br#"{"flavors": [{"disk": 1}, {"disk": 2, "OS-FLV-EXT-DATA:ephemeral": 3}]}"#
                .to_vec(),
        )
        .unwrap();
        annotate_body(&mut many);
        assert_eq!(many["flavors"][0][ATTRIBUTE].as_u64(), Some(1));
        assert_eq!(many["flavors"][1][ATTRIBUTE].as_u64(), Some(5));
    }
}
