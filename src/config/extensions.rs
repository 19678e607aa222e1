//! `[DEFAULT] osapi_compute_extension` and `osapi_compute_ext_list`: which of the compiled-in
//! API extensions are loaded.
//!
//! Start-up only: read once by `Config::load` through the option table. It only names aliases;
//! it must never know the extensions themselves (the API's extension registry checks the
//! names against what is compiled in, and refuses an unknown one).

use super::{parse_list, ConfigError, Reader};

/// Nova's class path of the loader that loads every extension.
const NOVA_STANDARD: &str = "nova.api.openstack.compute.contrib.standard_extensions";
/// Nova's class path of the loader that loads only the listed extensions.
const NOVA_SELECT: &str = "nova.api.openstack.compute.contrib.select_extensions";

/// Which extensions to load.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ExtensionSelection {
    /// `standard`: every standard extension compiled in, and those an embedding program adds.
    #[default]
    Standard,
    /// `selective`: only the aliases of `osapi_compute_ext_list` (standard or optional).
    Selective(Vec<String>),
}

impl ExtensionSelection {
    pub(super) fn from_reader(r: &Reader<'_>) -> Result<ExtensionSelection, ConfigError> {
        let selective = r.parse("DEFAULT", "osapi_compute_extension", |t| match t {
            "standard" | NOVA_STANDARD => Ok(false),
            "selective" | NOVA_SELECT => Ok(true),
            _ => Err("expected standard or selective".to_string()),
        })?;
        let list = r.parse("DEFAULT", "osapi_compute_ext_list", |t| Ok(parse_list(t)))?;
        Ok(if selective {
            ExtensionSelection::Selective(list)
        } else {
            ExtensionSelection::Standard
        })
    }
}
