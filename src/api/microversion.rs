//! Microversion negotiation (SPEC §2.2): request headers in, response headers out.
//!
//! Runs on the core worker for every request handled by a versioned app. Accepts
//! `OpenStack-API-Version: compute X.Y` (comma lists, scanned right to left) and, only when
//! that yields nothing, the legacy `X-OpenStack-Nova-API-Version`; `latest` means the
//! maximum. A malformed version is 400, one outside `[MIN, MAX]` is 406.
//!
//! It must never accept a version outside `[MIN, MAX]` and never advertise a maximum whose
//! changes are not all implemented.

use std::{fmt, sync::OnceLock};

use super::{context::Request, fault::Fault};
use crate::http::{HeaderBlock, Response};

/// A `major.minor` API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    /// Major number.
    pub major: u16,
    /// Minor number.
    pub minor: u16,
}

impl ApiVersion {
    /// Builds a version.
    pub const fn new(major: u16, minor: u16) -> Self {
        ApiVersion { major, minor }
    }

    /// Parses `X.Y` with Nova's rule `^([1-9]\d*)\.([1-9]\d*|0)$`. `None` also for a
    /// well-formed version whose numbers do not fit (see [`well_formed`]).
    pub fn parse(text: &str) -> Option<ApiVersion> {
        let (major, minor) = text.split_once('.')?;
        let number = |s: &str, zero_ok: bool| -> Option<u16> {
            digits(s, zero_ok).then(|| s.parse().ok()).flatten()
        };
        Some(ApiVersion {
            major: number(major, false)?,
            minor: number(minor, true)?,
        })
    }
}

/// Whether `text` matches Nova's version rule, however large its numbers: Nova reads them
/// with Python's unbounded `int`, so `2.99999999999999999999` is a version (one it does not
/// serve, 406), not a malformed string (400).
pub fn well_formed(text: &str) -> bool {
    text.split_once('.')
        .is_some_and(|(major, minor)| digits(major, false) && digits(minor, true))
}

/// `[1-9]\d*`, or also `0` when `zero_ok`.
fn digits(s: &str, zero_ok: bool) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && (!s.starts_with('0') || (zero_ok && s == "0"))
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The oldest microversion served.
pub const MIN_API_VERSION: ApiVersion = ApiVersion::new(2, 1);

/// The newest microversion served, as text (for version documents): the highest version
/// every change of which is implemented for every resource served so far (see
/// MICROVERSIONS.md). The one place to raise it; [`MAX_API_VERSION`] is read from it.
pub const MAX_API_VERSION_STR: &str = "2.60";

/// [`MAX_API_VERSION_STR`] as a version, read at compile time.
pub const MAX_API_VERSION: ApiVersion = version_const(MAX_API_VERSION_STR);

/// Reads `X.Y` (decimal numbers) in a constant; malformed text fails the build.
const fn version_const(text: &str) -> ApiVersion {
    let bytes = text.as_bytes();
    let mut numbers = [0u16; 2];
    let mut part = 0;
    let mut digits = 0;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'.' {
            assert!(part == 0 && digits > 0, "a version is X.Y");
            part = 1;
            digits = 0;
        } else {
            assert!(byte.is_ascii_digit(), "a version is X.Y");
            numbers[part] = numbers[part] * 10 + (byte - b'0') as u16;
            digits += 1;
        }
        i += 1;
    }
    assert!(part == 1 && digits > 0, "a version is X.Y");
    ApiVersion::new(numbers[0], numbers[1])
}

/// Picks the requested version out of the headers; `None` when none was asked for.
fn requested<'a>(req: &Request<'a>) -> Option<&'a str> {
    if let Some(value) = req.header_str("openstack-api-version") {
        for item in value.rsplit(',') {
            let mut words = item.split_whitespace();
            if let (Some(service), Some(version)) = (words.next(), words.next()) {
                if service.eq_ignore_ascii_case("compute") {
                    return Some(version);
                }
            }
        }
    }
    req.header_str("x-openstack-nova-api-version")
        .and_then(|value| value.rsplit(',').next())
        .map(str::trim)
}

/// Negotiates the version of a request. On a 406 the returned fault comes with the
/// requested version so that the response can still carry it in its headers.
pub fn negotiate(req: &Request<'_>) -> Result<ApiVersion, (Fault, Option<ApiVersion>)> {
    let Some(text) = requested(req) else {
        return Ok(MIN_API_VERSION);
    };
    if text == "latest" {
        return Ok(MAX_API_VERSION);
    }
    let Some(version) = ApiVersion::parse(text) else {
        if well_formed(text) {
            // Past what the types hold, so past the maximum. The version headers cannot
            // echo it (they carry a parsed version); the fault names it as Nova does.
            return Err((
                Fault::with_message(
                    406,
                    format!(
                        "Version {text} is not supported by the API. Minimum is {MIN_API_VERSION} and maximum is {MAX_API_VERSION}."
                    ),
                ),
                None,
            ));
        }
        return Err((
            Fault::with_message(
                400,
                format!("API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum."),
            ),
            None,
        ));
    };
    if version < MIN_API_VERSION || version > MAX_API_VERSION {
        return Err((
            Fault::with_message(
                406,
                format!(
                    "Version {version} is not supported by the API. Minimum is {MIN_API_VERSION} and maximum is {MAX_API_VERSION}."
                ),
            ),
            Some(version),
        ));
    }
    Ok(version)
}

/// Adds the response headers for `version` (both names and both `Vary` lines).
pub fn write_headers(resp: &mut Response, version: ApiVersion) {
    // The versions this server serves have their lines made once; others (only ever named
    // in a 406 fault) are made for the response.
    let served = version.major == MIN_API_VERSION.major
        && (MIN_API_VERSION.minor..=MAX_API_VERSION.minor).contains(&version.minor);
    if served {
        let blocks = SERVED_HEADERS.get_or_init(|| {
            (MIN_API_VERSION.minor..=MAX_API_VERSION.minor)
                .map(|minor| header_block(ApiVersion::new(MIN_API_VERSION.major, minor)))
                .collect()
        });
        let index = usize::from(version.minor - MIN_API_VERSION.minor);
        if let Some(block) = blocks.get(index) {
            resp.header_block(block);
            return;
        }
    }
    resp.header_block(&header_block(version));
}

/// The version headers of each served version, by minor number from the minimum's.
static SERVED_HEADERS: OnceLock<Box<[HeaderBlock]>> = OnceLock::new();

/// The version header lines for `version`.
fn header_block(version: ApiVersion) -> HeaderBlock {
    let text = version.to_string();
    let compute = format!("compute {text}");
    HeaderBlock::new(&[
        ("OpenStack-API-Version", compute.as_bytes()),
        ("X-OpenStack-Nova-API-Version", text.as_bytes()),
        ("Vary", b"OpenStack-API-Version"),
        ("Vary", b"X-OpenStack-Nova-API-Version"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_follows_novas_regex() {
        assert_eq!(ApiVersion::parse("2.1"), Some(ApiVersion::new(2, 1)));
        assert_eq!(ApiVersion::parse("2.0"), Some(ApiVersion::new(2, 0)));
        assert_eq!(ApiVersion::parse("2.104"), Some(ApiVersion::new(2, 104)));
        for bad in [
            "", "2", "2.", ".1", "02.1", "2.01", "a.b", "2.1.1", " 2.1", "0.1", "2.-1",
        ] {
            assert_eq!(ApiVersion::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn huge_versions_are_well_formed_but_not_parsed() {
        // Issue 6 (bad input on every route): these were 400 "invalid format", Nova's 406.
        for huge in [
            "2.99999999999999999999",
            "99999999999999999999.1",
            "2.65536",
        ] {
            assert_eq!(ApiVersion::parse(huge), None, "{huge}");
            assert!(well_formed(huge), "{huge}");
        }
        for bad in ["2.", "02.1", "2.01", "2.-1", "a.1", "2.1.1", ""] {
            assert!(!well_formed(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_maximum_is_one_version_in_both_forms() {
        assert_eq!(
            ApiVersion::parse(MAX_API_VERSION_STR),
            Some(MAX_API_VERSION)
        );
        assert_eq!(MAX_API_VERSION.to_string(), MAX_API_VERSION_STR);
        assert_eq!(version_const("2.104"), ApiVersion::new(2, 104));
        assert_eq!(version_const("10.0"), ApiVersion::new(10, 0));
        assert!(MAX_API_VERSION >= MIN_API_VERSION);
    }

    #[test]
    fn headers_name_the_version_twice_and_vary_on_both_names() {
        for (version, text) in [
            (ApiVersion::new(2, 1), "2.1"),
            (ApiVersion::new(2, 60), "2.60"),
            (ApiVersion::new(2, 61), "2.61"),
            (ApiVersion::new(2, 0), "2.0"),
            (ApiVersion::new(65535, 65535), "65535.65535"),
        ] {
            let mut resp = Response::new();
            write_headers(&mut resp, version);
            assert_eq!(
                std::str::from_utf8(resp.header_lines()).unwrap(),
                format!(
                    "OpenStack-API-Version: compute {text}\r\nX-OpenStack-Nova-API-Version: {text}\r\n\
                     Vary: OpenStack-API-Version\r\nVary: X-OpenStack-Nova-API-Version\r\n"
                )
            );
        }
    }

    #[test]
    fn ordering() {
        assert!(ApiVersion::new(2, 10) > ApiVersion::new(2, 9));
        assert!(ApiVersion::new(3, 0) > ApiVersion::new(2, 104));
    }
}
