//! A per-worker cache of rendered list and show bodies (flavors, key pairs), validated
//! against the database on every request.
//!
//! Core worker, inside a handler, after the request has been validated and authorized. The
//! invariant: **a cached body is never served after a commit to the database file that
//! happened after it was rendered**, so it is always exactly what rendering it again would
//! write. Every request first asks SQLite whether anything was committed since the last
//! request on this worker ([`Db::change_stamp`]: the wal-index header every commit of any
//! connection or process publishes, read from SQLite's shared memory, with `PRAGMA
//! data_version` as the fallback while a header is being written; the connection's total
//! changes for its own writes); if anything was, the whole cache is dropped before the
//! lookup. A body rendered during a request is
//! stored under the stamp taken at that request's start: if a commit slipped in between the
//! stamp and the render, the next request's stamp differs and the body is dropped unserved.
//!
//! An entry's key holds everything the renderers read besides the database ([`Key`]): the
//! resource, the raw request target (path with project segment and id, and the query), the
//! URL-map prefix, the microversion and the legacy `/v2` flag, the link base (scheme, `Host`,
//! proxy prefix), the caller (user, project, admin-ness, roles) and `[api] max_limit`.
//!
//! One cache per worker, inside that worker's [`Services`](super::services::Services): no
//! sharing, no locks. Bounded by [`MAX_ENTRIES`] and [`MAX_BYTES`], evicting the oldest entry
//! first. It must never cache an error or a body that depends on anything outside its key,
//! and never serve a body without the stamp check of the same request.

use std::rc::Rc;

use super::{context::Request, context::RequestContext, context::Roles, error::ApiError};
use crate::{
    db::{ChangeStamp, Db},
    http::{Response, SharedBody},
};

/// Bodies kept per worker.
pub const MAX_ENTRIES: usize = 32;

/// Bytes of bodies (and keys) kept per worker.
pub const MAX_BYTES: usize = 512 * 1024;

/// A body larger than this is rendered every time.
pub const MAX_BODY: usize = 64 * 1024;

/// The cacheable reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Resource {
    /// `GET /flavors`.
    FlavorIndex = 1,
    /// `GET /flavors/detail`.
    FlavorDetail = 2,
    /// `GET /flavors/{id}`.
    FlavorShow = 3,
    /// `GET /os-keypairs`.
    KeypairIndex = 4,
}

/// One rendered body and what it was rendered for.
#[derive(Debug)]
struct Entry {
    key: Box<[u8]>,
    content_type: &'static str,
    body: Rc<[u8]>,
}

impl Entry {
    fn size(&self) -> usize {
        self.key.len() + self.body.len()
    }
}

/// The cache of one worker.
#[derive(Debug, Default)]
pub struct ReadCache {
    /// The stamp every entry is valid for.
    stamp: Option<ChangeStamp>,
    /// Oldest first.
    entries: Vec<Entry>,
    /// Sum of the entries' sizes.
    bytes: usize,
    /// The key of the request being served (kept to reuse its capacity).
    scratch: Vec<u8>,
    /// Requests answered from the cache (for tests and diagnostics).
    hits: u64,
}

impl ReadCache {
    /// Drops every entry unless `stamp` is the one they were stored under, then remembers it.
    pub fn validate(&mut self, stamp: ChangeStamp) {
        if self.stamp != Some(stamp) {
            self.entries.clear();
            self.bytes = 0;
            self.stamp = Some(stamp);
        }
    }

    /// The body stored under `key`, with its content type.
    pub fn get(&self, key: &[u8]) -> Option<(&'static str, &Rc<[u8]>)> {
        self.entries
            .iter()
            .find(|entry| *entry.key == *key)
            .map(|entry| (entry.content_type, &entry.body))
    }

    /// Stores `body` under `key` (replacing an entry with that key), evicting the oldest
    /// entries until it fits. Bodies over [`MAX_BODY`] are not kept.
    pub fn insert(&mut self, key: &[u8], content_type: &'static str, body: Rc<[u8]>) {
        if body.len() > MAX_BODY || self.stamp.is_none() {
            return;
        }
        if let Some(at) = self.entries.iter().position(|entry| *entry.key == *key) {
            let old = self.entries.remove(at);
            self.bytes -= old.size();
        }
        let entry = Entry {
            key: key.into(),
            content_type,
            body,
        };
        while !self.entries.is_empty()
            && (self.entries.len() >= MAX_ENTRIES || self.bytes + entry.size() > MAX_BYTES)
        {
            let oldest = self.entries.remove(0);
            self.bytes -= oldest.size();
        }
        self.bytes += entry.size();
        self.entries.push(entry);
    }

    /// Entries kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes kept (keys and bodies).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Requests answered from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits
    }
}

/// The key of a request: every input of the renderers besides the database, each field
/// length-prefixed so that no two different inputs give the same bytes.
#[derive(Debug)]
pub struct Key<'k> {
    out: &'k mut Vec<u8>,
}

impl Key<'_> {
    fn field(&mut self, bytes: &[u8]) {
        self.out
            .extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_le_bytes());
        self.out.extend_from_slice(bytes);
    }

    fn optional(&mut self, value: Option<&str>) {
        match value {
            Some(text) => {
                self.out.push(1);
                self.field(text.as_bytes());
            }
            None => self.out.push(0),
        }
    }

    /// Writes the key of `req` for `resource`.
    fn write(&mut self, resource: Resource, req: &Request<'_>, ctx: &RequestContext<'_>) {
        self.out.clear();
        self.out.push(resource as u8);
        self.field(req.target());
        self.field(ctx.script_name.as_bytes());
        match ctx.api_version {
            Some(version) => {
                self.out.push(1);
                self.out.extend_from_slice(&version.major.to_le_bytes());
                self.out.extend_from_slice(&version.minor.to_le_bytes());
            }
            None => self.out.push(0),
        }
        self.out.push(u8::from(ctx.legacy_v2));
        self.field(ctx.scheme.as_bytes());
        self.field(ctx.host);
        self.field(ctx.proxy_prefix.as_bytes());
        self.optional(ctx.user_id);
        self.optional(ctx.project_id);
        self.out.push(u8::from(ctx.is_admin));
        match ctx.roles {
            Roles::Static(names) => {
                self.out.push(0);
                self.out.extend_from_slice(
                    &u32::try_from(names.len()).unwrap_or(u32::MAX).to_le_bytes(),
                );
                for name in names {
                    self.field(name.as_bytes());
                }
            }
            Roles::Joined(joined) => {
                self.out.push(1);
                self.field(joined.as_bytes());
            }
        }
        let max_limit = ctx.services.map_or(0, |services| services.max_limit);
        self.out
            .extend_from_slice(&u64::try_from(max_limit).unwrap_or(u64::MAX).to_le_bytes());
    }
}

/// Answers a read from this worker's cache when nothing was committed since its body was
/// rendered, else runs `render` (which writes the whole response) and keeps its body if it
/// is a plain 200. Call it after validation and policy checks, which must run every time.
pub fn serve<'a>(
    resource: Resource,
    req: &Request<'a>,
    ctx: &RequestContext<'a>,
    resp: &mut Response,
    render: impl FnOnce(&mut Response) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let services = ctx.services()?;
    let Ok(mut cache) = services.read_cache.try_borrow_mut() else {
        // Never reentered in practice (handlers do not nest); render uncached if it were.
        return render(resp);
    };
    let stamp = stamp(&services.db)?;
    cache.validate(stamp);
    let mut key = std::mem::take(&mut cache.scratch);
    Key { out: &mut key }.write(resource, req, ctx);
    if let Some((content_type, body)) = cache.get(&key) {
        resp.content_type = content_type;
        resp.shared_body = Some(SharedBody::Rc(Rc::clone(body)));
        cache.hits += 1;
        cache.scratch = key;
        return Ok(());
    }
    drop(cache);
    let headers = resp.header_lines().len();
    let outcome = render(resp);
    let mut cache = services.read_cache.borrow_mut();
    if outcome.is_ok()
        && resp.status == 200
        && resp.header_lines().len() == headers
        && resp.shared_body.is_none()
        && !resp.close
        && resp.body.len() <= MAX_BODY
    {
        let body: Rc<[u8]> = Rc::from(resp.body.as_slice());
        cache.insert(&key, resp.content_type, Rc::clone(&body));
        // The response shares the kept bytes: a writer that copies whole responses from a
        // connection's cache recognises the same body on the next hit.
        resp.body.clear();
        resp.shared_body = Some(SharedBody::Rc(body));
    }
    cache.scratch = key;
    outcome
}

fn stamp(db: &Db) -> Result<ChangeStamp, ApiError> {
    db.change_stamp().map_err(ApiError::from_db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::temp::TempDb;

    fn body(text: &str) -> Rc<[u8]> {
        Rc::from(text.as_bytes())
    }

    #[test]
    fn a_new_stamp_drops_every_entry_and_the_same_stamp_keeps_them() {
        let temp = TempDb::new("read-cache");
        let db = temp.open();
        let other = temp.open();
        let mut cache = ReadCache::default();
        cache.validate(db.change_stamp().unwrap());
        cache.insert(b"a", "application/json", body("{\"a\": 1}"));
        cache.insert(b"b", "application/json", body("{\"b\": 2}"));
        cache.validate(db.change_stamp().unwrap());
        assert_eq!(cache.len(), 2);
        assert_eq!(&**cache.get(b"a").unwrap().1, b"{\"a\": 1}");
        assert!(cache.get(b"c").is_none());

        other
            .write_one(
                "UPDATE flavors SET description = 'x' WHERE flavorid = '1'",
                [],
            )
            .unwrap();
        cache.validate(db.change_stamp().unwrap());
        assert!(cache.is_empty());
        assert_eq!(cache.bytes(), 0);
        assert!(cache.get(b"a").is_none());

        cache.insert(b"a", "application/json", body("{\"a\": 3}"));
        db.write_one(
            "UPDATE flavors SET description = 'y' WHERE flavorid = '1'",
            [],
        )
        .unwrap();
        cache.validate(db.change_stamp().unwrap());
        assert!(cache.get(b"a").is_none(), "own writes invalidate too");
    }

    #[test]
    fn nothing_is_kept_before_a_stamp() {
        let mut cache = ReadCache::default();
        cache.insert(b"a", "application/json", body("{}"));
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_stays_within_its_bounds() {
        let temp = TempDb::new("read-cache-bounds");
        let db = temp.open();
        let mut cache = ReadCache::default();
        cache.validate(db.change_stamp().unwrap());
        for i in 0..MAX_ENTRIES + 5 {
            cache.insert(format!("k{i}").as_bytes(), "application/json", body("{}"));
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        // The oldest went first.
        assert!(cache.get(b"k0").is_none());
        assert!(cache
            .get(format!("k{}", MAX_ENTRIES + 4).as_bytes())
            .is_some());

        let big: Rc<[u8]> = vec![b' '; MAX_BODY].into();
        for i in 0..MAX_BYTES / MAX_BODY + 3 {
            cache.insert(
                format!("big{i}").as_bytes(),
                "application/json",
                Rc::clone(&big),
            );
            assert!(cache.bytes() <= MAX_BYTES);
        }
        let too_big: Rc<[u8]> = vec![b' '; MAX_BODY + 1].into();
        cache.insert(b"too big", "application/json", too_big);
        assert!(cache.get(b"too big").is_none());

        // Replacing a key keeps one entry for it.
        cache.insert(b"again", "application/json", body("1"));
        let (len, bytes) = (cache.len(), cache.bytes());
        cache.insert(b"again", "application/json", body("2"));
        assert_eq!((cache.len(), cache.bytes()), (len, bytes));
        assert_eq!(&**cache.get(b"again").unwrap().1, b"2");
    }
}
