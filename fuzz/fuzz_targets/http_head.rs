//! Fuzz target: the request-head parser, `http::parse_head`, on arbitrary bytes under the
//! default or small limits.
//!
//! Checks that a complete head lies inside the bytes and within every limit, that it parses
//! the same without the bytes that follow it, and that every shorter prefix of it is
//! merely incomplete.
#![no_main]

use libfuzzer_sys::{arbitrary::Unstructured, fuzz_target};
use ringnova::http::{parse_head, BodyKind, Head, Limits, Version};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let limits = ringnova_fuzz::input::limits(&mut u);
    let buf = u.take_rest();
    let mut head = Head::default();
    let Ok(Some(target)) = parse_head(buf, &limits, &mut head) else {
        return;
    };
    check_complete(buf, &limits, &head, target);

    // The head alone parses to the same head.
    let mut alone = Head::default();
    let target_alone = parse_head(&buf[..head.len], &limits, &mut alone);
    assert_eq!(target_alone, Ok(Some(target)));
    assert_eq!(format!("{alone:?}"), format!("{head:?}"));

    // Every shorter prefix is incomplete, not refused: sample at most 64 of them.
    let step = (head.len / 64).max(1);
    for end in (0..head.len).step_by(step) {
        let mut partial = Head::default();
        assert_eq!(
            parse_head(&buf[..end], &limits, &mut partial),
            Ok(None),
            "prefix of {end} of {} bytes",
            head.len
        );
    }
});

fn check_complete(buf: &[u8], limits: &Limits, head: &Head, target: &str) {
    assert!(head.len <= buf.len() && head.len <= limits.max_header_size);
    assert!(head.headers.len() <= limits.max_headers.max(1));
    assert_eq!(head.target_str(buf), Some(target));
    for span in [head.method, head.target, head.path]
        .into_iter()
        .chain(head.query)
        .chain(head.host)
        .chain(
            head.headers
                .iter()
                .flat_map(|(name, value)| [*name, *value]),
        )
    {
        assert!(span.start <= span.end && span.end as usize <= head.len);
    }
    // The path and query are parts of the target.
    assert!(head.target.start <= head.path.start && head.path.end <= head.target.end);
    if let Some(query) = head.query {
        assert_eq!(buf[query.start as usize - 1], b'?');
        assert!(head.path.end < query.start && query.end == head.target.end);
    }
    assert_eq!(head.path_escaped, head.path.of(buf).contains(&b'%'));
    // Request line: method SP target SP HTTP/1.x.
    let line_start = head.method.start as usize;
    assert!(head.target.end as usize + 9 - line_start <= limits.max_request_line);
    match head.body {
        BodyKind::Chunked => assert_eq!(head.version, Version::Http11),
        BodyKind::Length(n) => assert!(n > 0),
        BodyKind::None => assert!(!head.expect_continue),
    }
    if head.version == Version::Http11 {
        assert!(head.host.is_some());
    }
}
