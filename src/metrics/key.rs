//! The label set a request is counted under — route, method, status — as small indexes into
//! fixed tables, so that recording is array indexing and the number of series is fixed when
//! the paste pipeline is compiled.
//!
//! Core worker (computing a [`Key`]) and the scraping worker (turning indexes back into label
//! text). A route is one of: a compute API route (its template, as registered in the router:
//! `/servers/{id}/action`), the URL-map mount of another app (`/`, `/healthcheck`,
//! `/identity`, `/metrics`), or `unmatched` (no mount or no API route matched, and requests
//! refused before routing). The method is one of the seven the router knows or `other`.
//! The status is one of [`STATUSES`] or `other`.
//!
//! A key must never be built from request text: only from indexes into these tables, so a
//! client cannot create series.

use crate::router::Method;

/// Method labels, in [`Method::ALL`] order, then the label of every other method.
pub const METHOD_LABELS: [&str; METHOD_SLOTS] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
];

/// Methods per route: the router's seven and `other`.
pub const METHOD_SLOTS: usize = 8;

/// The status codes ringnova answers with (every code with a reason phrase in
/// `http::response`), sorted. Anything else is counted as `other`.
pub const STATUSES: [u16; 30] = [
    200, 201, 202, 204, 300, 302, 304, 400, 401, 403, 404, 405, 406, 408, 409, 410, 411, 413, 414,
    415, 417, 422, 429, 431, 500, 501, 502, 503, 504, 505,
];

/// Status slots per key: [`STATUSES`] and `other`.
pub const STATUS_SLOTS: usize = STATUSES.len() + 1;

/// The label of status slot `slot`.
pub fn status_label(slot: usize, buf: &mut itoa::Buffer) -> &str {
    match STATUSES.get(slot) {
        Some(&status) => buf.format(status),
        None => "other",
    }
}

/// The slot of every code below 600 (one load per request instead of a search).
const STATUS_SLOT_OF: [u8; 600] = {
    let mut table = [STATUSES.len() as u8; 600];
    let mut slot = 0;
    while slot < STATUSES.len() {
        table[STATUSES[slot] as usize] = slot as u8;
        slot += 1;
    }
    table
};

/// The slot of `status` (the last slot for a code not in [`STATUSES`]).
#[inline]
pub fn status_slot(status: u16) -> usize {
    STATUS_SLOT_OF
        .get(usize::from(status))
        .map_or(STATUSES.len(), |&slot| usize::from(slot))
}

/// The route label of requests no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Route slot of [`UNMATCHED`]; mounts follow it, then the compute API's routes.
const UNMATCHED_SLOT: usize = 0;

/// Where a request was counted: a route slot and a method slot, packed.
///
/// Route slots: 0 is `unmatched`, `1..=mounts` the URL-map mounts in file order, then the
/// compute API's routes in `ApiRouter::route_paths` order. The registry that turns slots back into
/// labels knows how many mounts there are; a key knows only its indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Key {
    route: u16,
    method: u8,
}

fn method_slot(method: Option<Method>) -> u8 {
    method.map_or(METHOD_SLOTS as u8 - 1, |m| m as u8)
}

impl Key {
    /// A request no route matched, or one refused before routing.
    #[inline]
    pub fn unmatched(method: Option<Method>) -> Key {
        Key {
            route: UNMATCHED_SLOT as u16,
            method: method_slot(method),
        }
    }

    /// A request answered by the app mounted at URL-map entry `mount` (file order).
    #[inline]
    pub fn mount(mount: u16, method: Option<Method>) -> Key {
        Key {
            route: mount.saturating_add(1),
            method: method_slot(method),
        }
    }

    /// A request matched by compute API route `route` (its index in `ApiRouter::route_paths`); the
    /// registry places it after `mounts` mount slots.
    #[inline]
    pub fn api(route: u16, mounts: u16, method: Option<Method>) -> Key {
        Key {
            route: route.saturating_add(mounts).saturating_add(1),
            method: method_slot(method),
        }
    }

    /// The route slot.
    #[inline]
    pub fn route(self) -> usize {
        usize::from(self.route)
    }

    /// The method slot (an index into [`METHOD_LABELS`]).
    #[inline]
    pub fn method(self) -> usize {
        usize::from(self.method)
    }

    /// The key's index among `routes` route slots, `None` when out of range.
    #[inline]
    pub fn index(self, routes: usize) -> Option<usize> {
        (self.route() < routes).then(|| self.route() * METHOD_SLOTS + self.method())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_sorted_and_every_other_code_is_other() {
        assert!(STATUSES.windows(2).all(|w| w[0] < w[1]));
        for (slot, &status) in STATUSES.iter().enumerate() {
            assert_eq!(status_slot(status), slot);
            assert_eq!(
                status_label(slot, &mut itoa::Buffer::new()),
                status.to_string()
            );
        }
        for status in [0, 100, 199, 203, 418, 599, 600, 999, u16::MAX] {
            assert_eq!(status_slot(status), STATUSES.len(), "{status}");
        }
        assert_eq!(
            status_label(STATUSES.len(), &mut itoa::Buffer::new()),
            "other"
        );
    }

    #[test]
    fn every_status_with_a_reason_phrase_has_its_own_slot() {
        for status in 200..600u16 {
            let known = crate::http::response::reason_phrase(status) != "Unknown";
            assert_eq!(known, STATUSES.contains(&status), "{status}");
        }
    }

    #[test]
    fn keys_pack_route_and_method() {
        assert_eq!(METHOD_LABELS[..7], Method::ALL.map(Method::as_str));
        let unmatched = Key::unmatched(None);
        assert_eq!((unmatched.route(), unmatched.method()), (0, 7));
        assert_eq!(unmatched.index(1), Some(7));
        let mount = Key::mount(2, Some(Method::Head));
        assert_eq!((mount.route(), mount.method()), (3, 1));
        let api = Key::api(0, 4, Some(Method::Delete));
        assert_eq!((api.route(), api.method()), (5, 5));
        assert_eq!(api.index(6), Some(5 * METHOD_SLOTS + 5));
        assert_eq!(api.index(5), None);
    }
}
