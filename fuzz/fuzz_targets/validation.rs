//! Fuzz target: the request validators, `api::validation::validate_body` and
//! `validate_query`, with every schema the controllers use (`api::schemas`) on arbitrary
//! JSON bodies and query strings, in strict and in `/v2` relaxed mode.
//!
//! Checks that validation is deterministic, that a refusal is a 400 with a message, and that
//! relaxed mode accepts everything strict mode accepts.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use ringnova::api::{
    query,
    schemas::{BODY, QUERY},
    validation::{validate_body, validate_query},
};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let pick = usize::from(pick);
    if pick < 192 {
        let (name, schema) = BODY[pick % BODY.len()];
        let mut json = rest.to_vec();
        let Ok(value) = simd_json::to_borrowed_value(&mut json) else {
            return;
        };
        let strict = validate_body(schema, &value, false);
        assert_eq!(strict, validate_body(schema, &value, false), "{name}");
        let relaxed = validate_body(schema, &value, true);
        for fault in [&strict, &relaxed]
            .into_iter()
            .filter_map(|r| r.as_ref().err())
        {
            assert_eq!(fault.status, 400, "{name}");
            assert!(!fault.message.is_empty(), "{name}");
        }
        assert!(strict.is_err() || relaxed.is_ok(), "{name}: {relaxed:?}");
    } else {
        let (name, schema) = QUERY[pick % QUERY.len()];
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let Ok(pairs) =
            query::pairs(text).collect::<Result<Vec<(Cow<'_, str>, Cow<'_, str>)>, ()>>()
        else {
            return;
        };
        let strict = validate_query(schema, &pairs, false);
        assert_eq!(strict, validate_query(schema, &pairs, false), "{name}");
        let relaxed = validate_query(schema, &pairs, true);
        for fault in [&strict, &relaxed]
            .into_iter()
            .filter_map(|r| r.as_ref().err())
        {
            assert_eq!(fault.status, 400, "{name}");
            assert!(!fault.message.is_empty(), "{name}");
        }
        assert!(strict.is_err() || relaxed.is_ok(), "{name}: {relaxed:?}");
    }
});
