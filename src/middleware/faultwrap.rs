//! `faultwrap`: a panic anywhere inside it becomes a 500 `computeFault`, and the worker and
//! connection carry on.
//!
//! Core worker. `catch_unwind` costs nothing unless a panic happens; the release profile keeps
//! `panic = "unwind"` for this filter's sake.
//!
//! It must never let a panic take down the worker or leak internals into the response body.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::{api::fault::Fault, http::Response};

/// Runs `inner`; if it panics, replaces whatever it wrote with a 500 fault.
pub fn call(resp: &mut Response, inner: impl FnOnce(&mut Response)) {
    let outcome = catch_unwind(AssertUnwindSafe(|| inner(&mut *resp)));
    if outcome.is_err() {
        resp.reset();
        Fault::internal().write(resp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_500_fault() {
        let mut resp = Response::new();
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        call(&mut resp, |resp| {
            resp.body.extend_from_slice(b"half");
            panic!("handler bug");
        });
        std::panic::set_hook(hook);
        assert_eq!(resp.status, 500);
        assert!(std::str::from_utf8(&resp.body)
            .unwrap()
            .starts_with("{\"computeFault\": {\"code\": 500"));
    }

    #[test]
    fn no_panic_leaves_the_response_alone() {
        let mut resp = Response::new();
        call(&mut resp, |resp| resp.status = 201);
        assert_eq!(resp.status, 201);
    }
}
