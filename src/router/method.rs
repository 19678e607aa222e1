//! HTTP methods the router knows. A request with any other method cannot match a route; the
//! caller answers it before routing.
//!
//! It must never map an unknown method to a known one.

use std::fmt;

/// A request method that routes can be declared for. Each tree node keeps one route slot
/// per method (see [`Method::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
}

/// Number of methods, and so of route slots per tree node.
pub(crate) const METHOD_COUNT: usize = 7;

impl Method {
    /// Every method, in slot order.
    pub const ALL: [Method; METHOD_COUNT] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
    ];

    /// Parses a method token exactly as sent (case-sensitive, as RFC 9110 says): `b"GET"` is
    /// [`Method::Get`], `b"get"` is `None`.
    pub fn from_bytes(token: &[u8]) -> Option<Method> {
        // Byte patterns (not byte-string literals) compile to a length switch and a few
        // compares instead of calls to memcmp.
        Some(match *token {
            [b'G', b'E', b'T'] => Method::Get,
            [b'H', b'E', b'A', b'D'] => Method::Head,
            [b'P', b'O', b'S', b'T'] => Method::Post,
            [b'P', b'U', b'T'] => Method::Put,
            [b'P', b'A', b'T', b'C', b'H'] => Method::Patch,
            [b'D', b'E', b'L', b'E', b'T', b'E'] => Method::Delete,
            [b'O', b'P', b'T', b'I', b'O', b'N', b'S'] => Method::Options,
            _ => return None,
        })
    }

    /// The method token, e.g. `"GET"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }

    /// The index of this method's route slot in a tree node.
    pub(crate) fn slot(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_exact() {
        // (token, parsed)
        let table: &[(&[u8], Option<Method>)] = &[
            (b"GET", Some(Method::Get)),
            (b"HEAD", Some(Method::Head)),
            (b"POST", Some(Method::Post)),
            (b"PUT", Some(Method::Put)),
            (b"PATCH", Some(Method::Patch)),
            (b"DELETE", Some(Method::Delete)),
            (b"OPTIONS", Some(Method::Options)),
            (b"get", None),
            (b"Get", None),
            (b"GET ", None),
            (b" GET", None),
            (b"", None),
            (b"CONNECT", None),
            (b"TRACE", None),
            (b"BREW", None),
        ];
        for &(token, want) in table {
            assert_eq!(
                Method::from_bytes(token),
                want,
                "{}",
                String::from_utf8_lossy(token)
            );
            if let Some(method) = want {
                assert_eq!(method.as_str().as_bytes(), token);
                assert_eq!(method.to_string().as_bytes(), token);
            }
        }
    }

    #[test]
    fn slots_are_dense_and_in_order() {
        for (i, method) in Method::ALL.into_iter().enumerate() {
            assert_eq!(method.slot(), i, "{method}");
        }
    }
}
