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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};

    fn selection(text: &str) -> Result<ExtensionSelection, String> {
        Config::from_text(text, None, &Overrides::default())
            .map(|config| config.extensions)
            .map_err(|err| err.to_string())
    }

    #[test]
    fn standard_by_default_and_by_either_name() {
        assert_eq!(selection(""), Ok(ExtensionSelection::Standard));
        let nova = format!("[DEFAULT]\nosapi_compute_extension = {NOVA_STANDARD}\n");
        assert_eq!(selection(&nova), Ok(ExtensionSelection::Standard));
        // The list is read only in selective mode.
        let ignored = "[DEFAULT]\nosapi_compute_ext_list = a\n";
        assert_eq!(selection(ignored), Ok(ExtensionSelection::Standard));
    }

    #[test]
    fn selective_takes_the_list() {
        let text = "[DEFAULT]\nosapi_compute_extension = selective\n\
                    osapi_compute_ext_list = os-documents, OS-FLV-TOTAL-DISK\n";
        assert_eq!(
            selection(text),
            Ok(ExtensionSelection::Selective(vec![
                "os-documents".into(),
                "OS-FLV-TOTAL-DISK".into()
            ]))
        );
        let nova = format!("[DEFAULT]\nosapi_compute_extension = {NOVA_SELECT}\n");
        assert_eq!(
            selection(&nova),
            Ok(ExtensionSelection::Selective(Vec::new()))
        );
    }

    #[test]
    fn anything_else_is_refused() {
        let err = selection("[DEFAULT]\nosapi_compute_extension = all\n").unwrap_err();
        assert!(err.contains("osapi_compute_extension"), "{err}");
    }
}
