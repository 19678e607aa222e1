//! The `Date` header value, formatted at most once a second per thread.
//!
//! Each core worker keeps its own copy in a thread-local, so no lock or atomic is touched on
//! the hot path; a response batch calls [`http_date`] once.
//!
//! It must never format the date per request: the text is cached per second.

use std::{
    cell::Cell,
    time::{SystemTime, UNIX_EPOCH},
};

/// Length of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub const DATE_LEN: usize = 29;

thread_local! {
    static CACHE: Cell<(u64, [u8; DATE_LEN])> = const { Cell::new((u64::MAX, [b' '; DATE_LEN])) };
}

/// The current time as an IMF-fixdate, refreshed when the second changes.
pub fn http_date() -> [u8; DATE_LEN] {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|cache| {
        let (cached_second, value) = cache.get();
        if cached_second == second {
            return value;
        }
        let text = httpdate::fmt_http_date(now);
        let mut fresh = [b' '; DATE_LEN];
        let n = text.len().min(DATE_LEN);
        fresh[..n].copy_from_slice(&text.as_bytes()[..n]);
        cache.set((second, fresh));
        fresh
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_an_imf_fixdate() {
        let date = http_date();
        let text = std::str::from_utf8(&date).unwrap();
        assert!(text.ends_with(" GMT"), "{text}");
        assert!(httpdate::parse_http_date(text).is_ok());
    }
}
