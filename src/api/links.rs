//! Resource links as Nova's `ViewBuilder` writes them (SPEC §1.6): `self`, `bookmark`, and the
//! `next` link of a full page.
//!
//! Core worker, per response; everything is appended to the body being written. Lists render
//! the constant part of their items' links once per response ([`Links::for_collection`]).
//! - self: `scheme://host[proxy prefix]/v2.1[/project]/collection/id`
//! - bookmark: the same without the version segment
//! - `[/project]` appears only when the request URL itself carried the project id
//! - next: `…/collection?<request's query, sorted, marker replaced by the last id>`, written
//!   only when the page is full (`min(limit, max_limit)` items were returned)
//!
//! It must never allocate per item of a list beyond the output, and never write request text
//! into JSON without escaping it.

use super::{
    context::{Request, RequestContext},
    json, query,
};

/// Link builder for one request.
#[derive(Debug, Clone, Copy)]
pub struct Links<'c, 'a> {
    ctx: &'c RequestContext<'a>,
    project: Option<&'a str>,
}

impl<'c, 'a> Links<'c, 'a> {
    /// Links for `req`; the project segment is kept when the request URL contains it.
    pub fn new(req: &Request<'a>, ctx: &'c RequestContext<'a>) -> Self {
        let target = req.target();
        let project = ctx
            .project_id
            .filter(|p| !p.is_empty() && target.windows(p.len()).any(|w| w == p.as_bytes()));
        Links { ctx, project }
    }

    fn push_base(&self, out: &mut Vec<u8>, versioned: bool) {
        json::push_escaped(out, self.ctx.scheme);
        out.extend_from_slice(b"://");
        json::push_escaped_bytes(out, self.ctx.host);
        json::push_escaped(out, self.ctx.proxy_prefix);
        if versioned {
            out.extend_from_slice(self.ctx.script_name.as_bytes());
        }
        if let Some(project) = self.project {
            out.push(b'/');
            json::push_escaped(out, project);
        }
    }

    fn push_href(&self, out: &mut Vec<u8>, versioned: bool, collection: &str, id: &str) {
        out.push(b'"');
        self.push_base(out, versioned);
        out.push(b'/');
        json::push_escaped(out, collection);
        out.push(b'/');
        json::push_escaped(out, id);
        out.push(b'"');
    }

    /// Appends `[{"href": <self>, "rel": "self"}, {"href": <bookmark>, "rel": "bookmark"}]`.
    pub fn push_links(&self, out: &mut Vec<u8>, collection: &str, id: &str) {
        out.extend_from_slice(b"[{\"href\": ");
        self.push_href(out, true, collection, id);
        out.extend_from_slice(b", \"rel\": \"self\"}, {\"href\": ");
        self.push_href(out, false, collection, id);
        out.extend_from_slice(b", \"rel\": \"bookmark\"}]");
    }

    /// The links of every item of `collection`, with everything but the item's id written
    /// once (for lists, where the request's scheme, host and prefixes are the same for
    /// every item).
    pub fn for_collection(&self, collection: &str) -> ItemLinks {
        let mut text = Vec::with_capacity(160);
        text.extend_from_slice(b"[{\"href\": ");
        self.push_href_prefix(&mut text, true, collection);
        let bookmark = text.len();
        text.extend_from_slice(b", \"rel\": \"self\"}, {\"href\": ");
        self.push_href_prefix(&mut text, false, collection);
        ItemLinks { text, bookmark }
    }

    /// `"<base>/<collection>/`: an href up to the id.
    fn push_href_prefix(&self, out: &mut Vec<u8>, versioned: bool, collection: &str) {
        out.push(b'"');
        self.push_base(out, versioned);
        out.push(b'/');
        json::push_escaped(out, collection);
        out.push(b'/');
    }

    /// Appends `[{"href": <bookmark>, "rel": "bookmark"}]` (a server's image and flavor).
    pub fn push_bookmark(&self, out: &mut Vec<u8>, collection: &str, id: &str) {
        out.extend_from_slice(b"[{\"href\": ");
        self.push_href(out, false, collection, id);
        out.extend_from_slice(b", \"rel\": \"bookmark\"}]");
    }

    /// Appends `, "<name>_links": [{"href": …, "rel": "next"}]` when the page is full.
    /// `collection` is the path of the list (`flavors/detail`), `last_id` the last item's id.
    pub fn push_next(
        &self,
        out: &mut Vec<u8>,
        name: &str,
        collection: &str,
        req: &Request<'_>,
        last_id: &str,
    ) {
        out.extend_from_slice(b", \"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"_links\": [{\"href\": \"");
        self.push_base(out, true);
        out.push(b'/');
        json::push_escaped(out, collection);
        out.push(b'?');
        let mut params: Vec<(String, String)> = query::pairs(req.query)
            .filter_map(Result::ok)
            .filter(|(k, _)| k != "marker")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        params.push(("marker".to_owned(), last_id.to_owned()));
        params.sort();
        let mut encoded = Vec::with_capacity(64);
        for (i, (k, v)) in params.iter().enumerate() {
            if i > 0 {
                encoded.push(b'&');
            }
            query::push_encoded(&mut encoded, k);
            encoded.push(b'=');
            query::push_encoded(&mut encoded, v);
        }
        // Percent-encoded text is ASCII without quotes or backslashes: JSON-safe as is.
        out.extend_from_slice(&encoded);
        out.extend_from_slice(b"\", \"rel\": \"next\"}]");
    }
}

/// [`Links::push_links`] for the items of one collection, the constant text rendered once.
#[derive(Debug, Clone)]
pub struct ItemLinks {
    /// `[{"href": "<self base>/<collection>/` then `", "rel": "self"}, {"href": "<bookmark
    /// base>/<collection>/`; the second part starts at `bookmark`.
    text: Vec<u8>,
    bookmark: usize,
}

impl ItemLinks {
    /// Appends what [`Links::push_links`] appends for the item `id` of the collection.
    pub fn push(&self, out: &mut Vec<u8>, id: &str) {
        let (to_self, to_bookmark) = self.text.split_at(self.bookmark);
        out.extend_from_slice(to_self);
        json::push_escaped(out, id);
        out.push(b'"');
        out.extend_from_slice(to_bookmark);
        json::push_escaped(out, id);
        out.extend_from_slice(b"\", \"rel\": \"bookmark\"}]");
    }
}

/// Whether a page of `returned` items is full, so that a `next` link is due
/// (`min(limit or max_limit, max_limit) == returned`).
pub fn page_is_full(limit: Option<usize>, max_limit: usize, returned: usize) -> bool {
    let max_items = limit.unwrap_or(max_limit).min(max_limit);
    returned > 0 && max_items == returned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Head, Span};

    fn with_request(target: &str, query: &str, f: impl FnOnce(&Request<'_>)) {
        let head = Head {
            target: Span {
                start: 0,
                end: target.len() as u32,
            },
            ..Head::default()
        };
        let req = Request {
            buf: target.as_bytes(),
            head: &head,
            body: std::cell::Cell::new(None),
            body_len: 0,
            method: None,
            path: "",
            query,
            peer: "127.0.0.1:1".parse().unwrap(),
        };
        f(&req);
    }

    fn ctx<'a>(req: &Request<'a>, project: &'a str) -> RequestContext<'a> {
        let mut ctx = RequestContext::new(req, "/v2.1", "/flavors");
        ctx.host = b"h:8774";
        ctx.project_id = Some(project);
        ctx
    }

    #[test]
    fn self_and_bookmark() {
        with_request("/v2.1/flavors/1", "", |req| {
            let ctx = ctx(req, "6f70656e");
            let mut out = Vec::new();
            Links::new(req, &ctx).push_links(&mut out, "flavors", "1");
            let mut prerendered = Vec::new();
            let links = Links::new(req, &ctx).for_collection("flavors");
            links.push(&mut prerendered, "1");
            assert_eq!(prerendered, out);
            prerendered.clear();
            links.push(&mut prerendered, "a\"b");
            out.clear();
            Links::new(req, &ctx).push_links(&mut out, "flavors", "a\"b");
            assert_eq!(prerendered, out);
            out.clear();
            Links::new(req, &ctx).push_links(&mut out, "flavors", "1");
            assert_eq!(
                String::from_utf8(out).unwrap(),
                r#"[{"href": "http://h:8774/v2.1/flavors/1", "rel": "self"}, {"href": "http://h:8774/flavors/1", "rel": "bookmark"}]"#
            );
        });
        with_request("/v2.1/6f70656e/flavors/1", "", |req| {
            let ctx = ctx(req, "6f70656e");
            let mut out = Vec::new();
            Links::new(req, &ctx).push_links(&mut out, "flavors", "1");
            let text = String::from_utf8(out).unwrap();
            let mut prerendered = Vec::new();
            Links::new(req, &ctx)
                .for_collection("flavors")
                .push(&mut prerendered, "1");
            assert_eq!(String::from_utf8(prerendered).unwrap(), text);
            assert!(
                text.contains("http://h:8774/v2.1/6f70656e/flavors/1"),
                "{text}"
            );
            assert!(text.contains("http://h:8774/6f70656e/flavors/1"), "{text}");
        });
    }

    #[test]
    fn next_link_sorts_and_replaces_the_marker() {
        with_request(
            "/v2.1/flavors/detail?limit=1&marker=old&minRam=5",
            "limit=1&marker=old&minRam=5",
            |req| {
                let ctx = ctx(req, "p");
                let mut out = Vec::new();
                Links::new(req, &ctx).push_next(&mut out, "flavors", "flavors/detail", req, "a b");
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    r#", "flavors_links": [{"href": "http://h:8774/v2.1/flavors/detail?limit=1&marker=a+b&minRam=5", "rel": "next"}]"#
                );
            },
        );
    }

    #[test]
    fn full_pages() {
        assert!(page_is_full(Some(2), 1000, 2));
        assert!(!page_is_full(Some(3), 1000, 2));
        assert!(page_is_full(None, 3, 3));
        assert!(page_is_full(Some(5000), 1000, 1000));
        assert!(!page_is_full(Some(0), 1000, 0));
    }
}
