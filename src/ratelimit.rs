//! Per-user request rate limits: Folsom's `Limit` and `Limiter`
//! (`nova/api/openstack/compute/limits.py`), one state for the whole process.
//!
//! Built once at start-up by the paste compiler from a `ratelimit` filter's `limits` string
//! (see [`parse_limits`]; Folsom's [`default_limits`] when there is none) and shared by every
//! core worker: the state is one sharded table behind mutexes, never a per-worker copy, so a
//! user spread over all workers gets exactly the configured rate. The filter
//! (`middleware::ratelimit`) asks [`RateLimiter::check`] on every request; `GET /limits` reads
//! [`RateLimiter::snapshot`].
//!
//! The algorithm is Folsom's leaky bucket: each limit of each user has a `water_level` that
//! every matching request raises by `unit / value` seconds and that leaks one second per
//! second; a request that would lift it over `unit` seconds is refused with the time until it
//! fits. Here the level is kept in integer nanoseconds scaled by `value`, so that `value`
//! requests in a burst fit exactly and the next one does not (no floating-point drift).
//! Two deliberate differences from Folsom: a request refused by one limit consumes nothing
//! from the others (all limits are checked, then all are charged), and the delay reported is
//! the longest, after which the request would pass every limit.
//!
//! Memory is bounded: a user whose buckets have all drained is indistinguishable from a new
//! one and is swept away when its shard grows; past `max_users` the least recently seen users
//! of a shard are forgotten (they start afresh). This module never allocates on a request
//! that no limit watches, allocates only a user's first entry otherwise, and never blocks
//! beyond one short shard lock. No `unsafe`.

use std::{
    fmt,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use regex::bytes::{Regex, RegexBuilder};
use smallvec::SmallVec;

/// Folsom's default limits, in its `limits` syntax.
pub const DEFAULT_LIMITS: &str = "(POST, \"*\", .*, 10, MINUTE);\
     (POST, \"*/servers\", ^/servers, 50, DAY);\
     (PUT, \"*\", .*, 10, MINUTE);\
     (GET, \"*changes-since*\", .*changes-since.*, 3, MINUTE);\
     (DELETE, \"*\", .*, 100, MINUTE)";

/// Default of `max_users`: users whose state is kept at once.
pub const DEFAULT_MAX_USERS: usize = 100_000;

/// The most limits one limiter holds (a request's matches are a 64-bit mask).
pub const MAX_LIMITS: usize = 64;

/// The largest `value` of a limit (keeps the scaled level of a DAY limit inside a `u64`).
pub const MAX_VALUE: u32 = 100_000;

/// Number of independently locked shards of the user table.
const SHARDS: usize = 64;

/// A shard is swept for drained users once it holds at least this many.
const SWEEP_MIN: usize = 64;

/// Longest regex source accepted, in bytes.
const MAX_REGEX_LEN: usize = 1024;

/// Compiled size limit of one regex, in bytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Bytes of the matched URL kept on the stack before spilling to the heap.
const URL_INLINE: usize = 256;

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// The unit of a limit's `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Per second.
    Second,
    /// Per minute.
    Minute,
    /// Per hour.
    Hour,
    /// Per day.
    Day,
}

impl Unit {
    /// Parses Folsom's unit names (any case).
    pub fn parse(text: &str) -> Option<Unit> {
        match text.to_ascii_uppercase().as_str() {
            "SECOND" => Some(Unit::Second),
            "MINUTE" => Some(Unit::Minute),
            "HOUR" => Some(Unit::Hour),
            "DAY" => Some(Unit::Day),
            _ => None,
        }
    }

    /// Seconds in one unit.
    pub const fn seconds(self) -> u64 {
        match self {
            Unit::Second => 1,
            Unit::Minute => 60,
            Unit::Hour => 3600,
            Unit::Day => 86_400,
        }
    }

    /// Folsom's display name (`MINUTE`).
    pub const fn name(self) -> &'static str {
        match self {
            Unit::Second => "SECOND",
            Unit::Minute => "MINUTE",
            Unit::Hour => "HOUR",
            Unit::Day => "DAY",
        }
    }

    const fn nanos(self) -> u64 {
        self.seconds() * NANOS_PER_SECOND
    }
}

/// What is wrong with a `limits` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitError {
    /// A group is not surrounded by parentheses.
    Parentheses(String),
    /// A group does not have exactly five comma-separated arguments.
    Arguments(String),
    /// The value is not a whole number from 1 to [`MAX_VALUE`].
    Value(String),
    /// The unit is not SECOND, MINUTE, HOUR or DAY.
    Unit(String),
    /// The verb is empty or not an HTTP token.
    Verb(String),
    /// The regex does not compile (or is too long).
    Regex {
        /// The regex as written.
        regex: String,
        /// Why.
        reason: String,
    },
    /// More than [`MAX_LIMITS`] limits.
    TooMany,
    /// `max_users` is not a whole number of at least 1.
    MaxUsers(String),
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::Parentheses(group) => {
                write!(
                    f,
                    "limit rules must be surrounded by parentheses: {group:?}"
                )
            }
            LimitError::Arguments(group) => write!(
                f,
                "limit rules must contain the following arguments: verb, uri, regex, value, \
                 unit: {group:?}"
            ),
            LimitError::Value(value) => write!(
                f,
                "limit value must be a whole number from 1 to {MAX_VALUE}: {value:?}"
            ),
            LimitError::Unit(unit) => write!(
                f,
                "invalid unit {unit:?} (expected SECOND, MINUTE, HOUR or DAY)"
            ),
            LimitError::Verb(verb) => write!(f, "invalid HTTP verb {verb:?}"),
            LimitError::Regex { regex, reason } => write!(f, "invalid regex {regex:?}: {reason}"),
            LimitError::TooMany => write!(f, "more than {MAX_LIMITS} limits"),
            LimitError::MaxUsers(text) => {
                write!(
                    f,
                    "max_users must be a whole number of at least 1: {text:?}"
                )
            }
        }
    }
}

impl std::error::Error for LimitError {}

/// One limit: at most `value` requests with `verb` to URLs matching `regex` per `unit`.
#[derive(Debug, Clone)]
pub struct Limit {
    /// The HTTP verb, upper case (compared exactly with the request's method).
    pub verb: Box<str>,
    /// The human-readable URI shown by `GET /limits`.
    pub uri: Box<str>,
    /// The regex as written; matched from the start of the URL, as Python's `re.match`.
    pub regex: Box<str>,
    /// Requests allowed per unit.
    pub value: u32,
    /// The unit.
    pub unit: Unit,
    /// Folsom's `error_message`, the `details` of a 429.
    pub message: Box<str>,
    matcher: Regex,
}

impl Limit {
    /// A limit; the regex is anchored at the start of the URL.
    pub fn new(
        verb: &str,
        uri: &str,
        regex: &str,
        value: u32,
        unit: Unit,
    ) -> Result<Limit, LimitError> {
        let verb = verb.to_ascii_uppercase();
        if verb.is_empty()
            || !verb
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(LimitError::Verb(verb));
        }
        if !(1..=MAX_VALUE).contains(&value) {
            return Err(LimitError::Value(value.to_string()));
        }
        let bad_regex = |reason: String| LimitError::Regex {
            regex: regex.to_owned(),
            reason,
        };
        if regex.len() > MAX_REGEX_LEN {
            return Err(bad_regex(format!("longer than {MAX_REGEX_LEN} bytes")));
        }
        let matcher = RegexBuilder::new(&format!("^(?:{regex})"))
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|err| bad_regex(err.to_string()))?;
        let message = format!(
            "Only {value} {verb} request(s) can be made to {uri} every {}.",
            unit.name().to_ascii_lowercase()
        );
        Ok(Limit {
            verb: verb.into(),
            uri: uri.into(),
            regex: regex.into(),
            value,
            unit,
            message: message.into(),
            matcher,
        })
    }

    /// Whether a request with this verb and URL counts against the limit.
    pub fn applies(&self, verb: &[u8], url: &[u8]) -> bool {
        self.verb.as_bytes() == verb && self.matcher.is_match(url)
    }

    /// The bucket's capacity: `unit` in nanoseconds, scaled by `value`.
    fn capacity(&self) -> u64 {
        self.unit.nanos() * u64::from(self.value)
    }

    /// What one request adds to the scaled level.
    fn cost(&self) -> u64 {
        self.unit.nanos()
    }

    /// The scaled level after leaking for `elapsed` nanoseconds.
    fn leaked(&self, bucket: Bucket, now: u64) -> u64 {
        let elapsed = now.saturating_sub(bucket.last);
        bucket
            .water
            .saturating_sub(elapsed.saturating_mul(u64::from(self.value)))
    }
}

/// Parses Folsom's `limits` syntax: `(VERB, "URI", REGEX, VALUE, UNIT);…`. Surrounding double
/// quotes of the URI are dropped; commas cannot appear inside an argument (as in Folsom).
/// An empty string gives no limits.
///
/// ```
/// use ringnova::ratelimit::{parse_limits, Unit};
/// let limits = parse_limits("(POST, \"*\", .*, 10, MINUTE); (get, \"*/flavors\", ^/flavors, 3, hour)").unwrap();
/// assert_eq!(limits.len(), 2);
/// assert_eq!((&*limits[1].verb, &*limits[1].uri, limits[1].value, limits[1].unit), ("GET", "*/flavors", 3, Unit::Hour));
/// assert!(limits[1].applies(b"GET", b"/flavors/detail"));
/// assert!(!limits[1].applies(b"GET", b"/os-keypairs"));
/// ```
pub fn parse_limits(text: &str) -> Result<Vec<Limit>, LimitError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut limits = Vec::new();
    for group in text.split(';') {
        let group = group.trim();
        let Some(inner) = group.strip_prefix('(').and_then(|g| g.strip_suffix(')')) else {
            return Err(LimitError::Parentheses(group.to_owned()));
        };
        let args: Vec<&str> = inner.split(',').map(str::trim).collect();
        let [verb, uri, regex, value, unit] = args[..] else {
            return Err(LimitError::Arguments(group.to_owned()));
        };
        let uri = uri
            .strip_prefix('"')
            .and_then(|u| u.strip_suffix('"'))
            .unwrap_or(uri);
        let value = value
            .parse::<u32>()
            .map_err(|_| LimitError::Value(value.to_owned()))?;
        let unit = Unit::parse(unit).ok_or_else(|| LimitError::Unit(unit.to_owned()))?;
        limits.push(Limit::new(verb, uri, regex, value, unit)?);
        if limits.len() > MAX_LIMITS {
            return Err(LimitError::TooMany);
        }
    }
    Ok(limits)
}

/// Folsom's `DEFAULT_LIMITS`.
pub fn default_limits() -> Vec<Limit> {
    parse_limits(DEFAULT_LIMITS).expect("the default limits parse")
}

/// Limits that share a URI and regex, shown together by `GET /limits`.
#[derive(Debug, Clone)]
pub struct Group {
    /// The human-readable URI.
    pub uri: Box<str>,
    /// The regex as written.
    pub regex: Box<str>,
    /// Indexes into [`RateLimiter::limits`], in configuration order.
    pub members: Box<[usize]>,
}

/// One limit's level: scaled water and when it was last charged (nanoseconds since the
/// limiter's epoch).
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    water: u64,
    last: u64,
}

#[derive(Debug)]
struct UserState {
    buckets: SmallVec<[Bucket; 5]>,
    /// Last request that touched the state (nanoseconds since the epoch).
    seen: u64,
}

#[derive(Debug)]
struct Shard {
    users: std::collections::HashMap<Box<str>, UserState, ahash::RandomState>,
    /// Size at which the shard is next swept.
    next_sweep: usize,
}

/// A shard on its own cache line, so that workers locking neighbouring shards do not
/// contend on one line.
#[repr(align(64))]
#[derive(Debug)]
struct PaddedShard(Mutex<Shard>);

/// What [`RateLimiter::check`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The request passes (and was charged to every limit it matches).
    Allowed,
    /// The request is over `limit` (an index into [`RateLimiter::limits`]); it would pass
    /// after `delay`.
    Limited {
        /// The limit with the longest wait.
        limit: usize,
        /// Time until the request would pass every limit it matches.
        delay: Duration,
    },
}

/// A user's standing against one limit, as `GET /limits` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Requests that would pass now.
    pub remaining: u32,
    /// When the next request would pass, in whole Unix seconds (rounded up).
    pub next_available: u64,
}

/// The process-wide limiter: the limits and every user's levels.
pub struct RateLimiter {
    limits: Box<[Limit]>,
    groups: Box<[Group]>,
    shards: Box<[PaddedShard]>,
    hasher: ahash::RandomState,
    per_shard: usize,
    epoch: Instant,
    wall_epoch: SystemTime,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limits", &self.limits)
            .field("max_users", &(self.per_shard * SHARDS))
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter over `limits` (Folsom's defaults when empty) keeping at most about
    /// `max_users` users' state (at least one per shard).
    pub fn new(limits: Vec<Limit>, max_users: usize) -> Result<RateLimiter, LimitError> {
        let limits = if limits.is_empty() {
            default_limits()
        } else {
            limits
        };
        if limits.len() > MAX_LIMITS {
            return Err(LimitError::TooMany);
        }
        if max_users == 0 {
            return Err(LimitError::MaxUsers("0".into()));
        }
        let mut groups: Vec<Group> = Vec::new();
        for (index, limit) in limits.iter().enumerate() {
            match groups
                .iter_mut()
                .find(|g| g.uri == limit.uri && g.regex == limit.regex)
            {
                Some(group) => {
                    let mut members = group.members.to_vec();
                    members.push(index);
                    group.members = members.into();
                }
                None => groups.push(Group {
                    uri: limit.uri.clone(),
                    regex: limit.regex.clone(),
                    members: Box::new([index]),
                }),
            }
        }
        let hasher = ahash::RandomState::new();
        let shards = (0..SHARDS)
            .map(|_| {
                PaddedShard(Mutex::new(Shard {
                    users: std::collections::HashMap::with_hasher(hasher.clone()),
                    next_sweep: SWEEP_MIN,
                }))
            })
            .collect();
        Ok(RateLimiter {
            limits: limits.into(),
            groups: groups.into(),
            shards,
            hasher,
            per_shard: (max_users / SHARDS).max(1),
            epoch: Instant::now(),
            wall_epoch: SystemTime::now(),
        })
    }

    /// Builds a limiter from a paste section's `limits` and `max_users` values.
    pub fn from_settings(
        limits: Option<&str>,
        max_users: Option<&str>,
    ) -> Result<RateLimiter, LimitError> {
        let limits = limits.map(parse_limits).transpose()?.unwrap_or_default();
        let max_users = match max_users {
            None => DEFAULT_MAX_USERS,
            Some(text) => text
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| LimitError::MaxUsers(text.to_owned()))?,
        };
        RateLimiter::new(limits, max_users)
    }

    /// The limits, in configuration order.
    pub fn limits(&self) -> &[Limit] {
        &self.limits
    }

    /// The limits grouped by URI and regex, for the limits view.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Nanoseconds since the limiter's epoch.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn shard(&self, user: &str) -> &Mutex<Shard> {
        let index = self.hasher.hash_one(user) as usize % SHARDS;
        &self.shards[index].0
    }

    /// Checks (and on success charges) one request of `user` (`None`: unauthenticated, all
    /// such requests share one state) with `verb` to `path` (below the API root) and `query`.
    /// Limits are matched against `path`, or `path?query` when there is a query.
    pub fn check(&self, user: Option<&str>, verb: &[u8], path: &str, query: &str) -> Verdict {
        self.check_with(user, verb, path, query, None)
    }

    /// [`check`](Self::check) at a given time (nanoseconds since the epoch), for tests.
    fn check_with(
        &self,
        user: Option<&str>,
        verb: &[u8],
        path: &str,
        query: &str,
        at: Option<u64>,
    ) -> Verdict {
        let mask = self.matching(verb, path, query);
        if mask == 0 {
            return Verdict::Allowed;
        }
        let user = user.unwrap_or("");
        let mut shard = self
            .shard(user)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Read the clock under the lock: charges to one user are then in time order.
        let now = at.unwrap_or_else(|| self.now());
        if !shard.users.contains_key(user) {
            self.make_room(&mut shard, now);
            let buckets = self.limits.iter().map(|_| Bucket::default()).collect();
            shard
                .users
                .insert(user.into(), UserState { buckets, seen: now });
        }
        let Some(state) = shard.users.get_mut(user) else {
            // Inserted just above, under the same lock.
            return Verdict::Allowed;
        };
        state.seen = now;
        let mut over: Option<(usize, u64)> = None;
        for (index, limit) in self.limits.iter().enumerate() {
            if mask & (1 << index) == 0 {
                continue;
            }
            let level = limit.leaked(state.buckets[index], now) + limit.cost();
            let capacity = limit.capacity();
            if level > capacity {
                let wait = (level - capacity).div_ceil(u64::from(limit.value));
                if over.is_none_or(|(_, longest)| wait > longest) {
                    over = Some((index, wait));
                }
            }
        }
        if let Some((limit, wait)) = over {
            return Verdict::Limited {
                limit,
                delay: Duration::from_nanos(wait),
            };
        }
        for (index, limit) in self.limits.iter().enumerate() {
            if mask & (1 << index) != 0 {
                let bucket = &mut state.buckets[index];
                bucket.water = limit.leaked(*bucket, now) + limit.cost();
                bucket.last = now;
            }
        }
        Verdict::Allowed
    }

    /// The limits a request matches, as a bit mask; the URL is assembled (on the stack for
    /// ordinary lengths) only when some limit has the request's verb.
    fn matching(&self, verb: &[u8], path: &str, query: &str) -> u64 {
        let mut url: Option<SmallVec<[u8; URL_INLINE]>> = None;
        let mut mask = 0u64;
        for (index, limit) in self.limits.iter().enumerate() {
            if limit.verb.as_bytes() != verb {
                continue;
            }
            let url = url.get_or_insert_with(|| {
                let mut url = SmallVec::new();
                url.extend_from_slice(path.as_bytes());
                if !query.is_empty() {
                    url.push(b'?');
                    url.extend_from_slice(query.as_bytes());
                }
                url
            });
            if limit.matcher.is_match(url) {
                mask |= 1 << index;
            }
        }
        mask
    }

    /// Frees room in a shard before a new user is added: drained users go when the shard
    /// reaches its sweep size; at the cap the least recently seen quarter goes too.
    fn make_room(&self, shard: &mut Shard, now: u64) {
        if shard.users.len() < shard.next_sweep.min(self.per_shard) {
            return;
        }
        let limits = &self.limits;
        shard.users.retain(|_, state| {
            limits
                .iter()
                .zip(&state.buckets)
                .any(|(limit, bucket)| limit.leaked(*bucket, now) > 0)
        });
        if shard.users.len() >= self.per_shard {
            // Rare (a flood of distinct users): one scan and one small allocation evict a
            // quarter of the shard, so the next eviction is a quarter of the cap away.
            let mut seen: Vec<u64> = shard.users.values().map(|s| s.seen).collect();
            let nth = seen.len() / 4;
            let (_, cutoff, _) = seen.select_nth_unstable(nth);
            let cutoff = *cutoff;
            shard.users.retain(|_, state| state.seen > cutoff);
        }
        shard.next_sweep = (shard.users.len() * 2).max(SWEEP_MIN);
    }

    /// The user's standing against every limit (in [`limits`](Self::limits) order), without
    /// charging anything.
    pub fn snapshot(&self, user: Option<&str>) -> SmallVec<[Status; 8]> {
        self.snapshot_with(user, None)
    }

    fn snapshot_with(&self, user: Option<&str>, at: Option<u64>) -> SmallVec<[Status; 8]> {
        let user = user.unwrap_or("");
        let (buckets, now) = {
            let shard = self
                .shard(user)
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = at.unwrap_or_else(|| self.now());
            let buckets: SmallVec<[Bucket; 8]> = match shard.users.get(user) {
                Some(state) => state.buckets.iter().copied().collect(),
                None => self.limits.iter().map(|_| Bucket::default()).collect(),
            };
            (buckets, now)
        };
        let wall_now = self.wall_epoch + Duration::from_nanos(now);
        self.limits
            .iter()
            .zip(buckets)
            .map(|(limit, bucket)| {
                let level = limit.leaked(bucket, now);
                let capacity = limit.capacity();
                let remaining = ((capacity - level.min(capacity)) / limit.cost()) as u32;
                let wait = (level + limit.cost())
                    .saturating_sub(capacity)
                    .div_ceil(u64::from(limit.value));
                let at = wall_now + Duration::from_nanos(wait);
                let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
                let next_available = since.as_secs() + u64::from(since.subsec_nanos() > 0);
                Status {
                    remaining,
                    next_available,
                }
            })
            .collect()
    }

    /// Users whose state is kept now (locks every shard in turn; for tests and diagnostics).
    pub fn tracked_users(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.0.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .users
                    .len()
            })
            .sum()
    }
}

/// Appends `unix` seconds as Nova's `isotime`: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn push_isotime(out: &mut Vec<u8>, unix: u64) {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    let (year, month, day) = civil_from_days(days);
    let year = year.min(9999);
    for divisor in [1000, 100, 10, 1] {
        out.push(b'0' + (year / divisor % 10) as u8);
    }
    for (n, before) in [
        (month, b'-'),
        (day, b'-'),
        (secs / 3600, b'T'),
        (secs / 60 % 60, b':'),
        (secs % 60, b':'),
    ] {
        out.push(before);
        out.push(b'0' + (n / 10) as u8);
        out.push(b'0' + (n % 10) as u8);
    }
    out.push(b'Z');
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// algorithm, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = NANOS_PER_SECOND;

    fn limiter(limits: &str) -> RateLimiter {
        RateLimiter::new(parse_limits(limits).unwrap(), DEFAULT_MAX_USERS).unwrap()
    }

    fn post(l: &RateLimiter, user: &str, path: &str, at: u64) -> Verdict {
        l.check_with(Some(user), b"POST", path, "", Some(at))
    }

    #[test]
    fn parses_folsom_syntax() {
        let limits = default_limits();
        let shown: Vec<_> = limits
            .iter()
            .map(|l| (&*l.verb, &*l.uri, &*l.regex, l.value, l.unit))
            .collect();
        assert_eq!(
            shown,
            [
                ("POST", "*", ".*", 10, Unit::Minute),
                ("POST", "*/servers", "^/servers", 50, Unit::Day),
                ("PUT", "*", ".*", 10, Unit::Minute),
                (
                    "GET",
                    "*changes-since*",
                    ".*changes-since.*",
                    3,
                    Unit::Minute
                ),
                ("DELETE", "*", ".*", 100, Unit::Minute),
            ]
        );
        assert_eq!(
            &*limits[0].message,
            "Only 10 POST request(s) can be made to * every minute."
        );
        assert!(parse_limits("  ").unwrap().is_empty());
        let multi = parse_limits("(POST, \"*\", .*, 1, second);\n  (put, *, .*, 2, Day)").unwrap();
        assert_eq!(multi[1].verb.as_ref(), "PUT");
        assert_eq!(multi[1].uri.as_ref(), "*");
    }

    #[test]
    fn rejects_bad_limits() {
        let kind = |err: &LimitError| match err {
            LimitError::Parentheses(_) => "parentheses",
            LimitError::Arguments(_) => "arguments",
            LimitError::Value(_) => "value",
            LimitError::Unit(_) => "unit",
            LimitError::Verb(_) => "verb",
            LimitError::Regex { .. } => "regex",
            LimitError::TooMany => "too many",
            LimitError::MaxUsers(_) => "max users",
        };
        let cases = [
            ("POST, *, .*, 1, MINUTE", "parentheses"),
            ("(POST, *, .*, 1)", "arguments"),
            ("(POST, *, .*, ten, MINUTE)", "value"),
            ("(POST, *, .*, 0, MINUTE)", "value"),
            ("(POST, *, .*, -3, MINUTE)", "value"),
            ("(POST, *, .*, 100001, MINUTE)", "value"),
            ("(POST, *, .*, 1, WEEK)", "unit"),
            ("(PO ST, *, .*, 1, DAY)", "verb"),
            ("(POST, *, (, 1, DAY)", "regex"),
            ("(POST, *, (?=x), 1, DAY)", "regex"),
            ("(POST, *, .*, 1, DAY);", "parentheses"),
        ];
        for (text, expected) in cases {
            let err = parse_limits(text).unwrap_err();
            assert_eq!(kind(&err), expected, "{text}: {err}");
        }
        let many = vec!["(GET, *, .*, 1, DAY)"; MAX_LIMITS + 1].join(";");
        assert_eq!(parse_limits(&many).unwrap_err(), LimitError::TooMany);
        assert!(RateLimiter::from_settings(None, Some("0")).is_err());
        assert!(RateLimiter::from_settings(None, Some("lots")).is_err());
    }

    #[test]
    fn regex_matches_from_the_start_of_the_url() {
        let l = limiter("(POST, */servers, ^/servers, 5, DAY); (GET, *cs*, .*changes-since.*, 3, MINUTE); (POST, *, /os-keypairs, 2, HOUR)");
        assert_eq!(l.matching(b"POST", "/servers", ""), 0b001);
        assert_eq!(l.matching(b"POST", "/servers/1/action", ""), 0b001);
        assert_eq!(l.matching(b"POST", "/flavors", ""), 0);
        assert_eq!(l.matching(b"POST", "/os-keypairs", ""), 0b100);
        // re.match: anchored at the start only.
        assert_eq!(l.matching(b"POST", "/x/os-keypairs", ""), 0);
        assert_eq!(l.matching(b"GET", "/servers", "changes-since=2012"), 0b010);
        assert_eq!(l.matching(b"GET", "/servers", ""), 0);
        // Verbs are compared exactly.
        assert_eq!(l.matching(b"post", "/servers", ""), 0);
    }

    #[test]
    fn exactly_value_requests_pass_in_a_burst() {
        for value in [1u32, 3, 7, 10, 60, 1000] {
            let l = limiter(&format!("(POST, *, .*, {value}, MINUTE)"));
            let start = 5 * SECOND;
            for i in 0..value {
                assert_eq!(
                    post(&l, "u", "/x", start),
                    Verdict::Allowed,
                    "{value}: request {i}"
                );
            }
            let Verdict::Limited { limit, delay } = post(&l, "u", "/x", start) else {
                panic!("{value}: request over the limit passed");
            };
            assert_eq!(limit, 0);
            // One request's worth must leak away: unit / value (rounded up to a nanosecond).
            assert_eq!(
                u64::try_from(delay.as_nanos()).unwrap(),
                (60 * SECOND).div_ceil(u64::from(value))
            );
            // Just before that it is still refused; then exactly one more passes.
            let one = delay.as_nanos() as u64;
            assert!(matches!(
                post(&l, "u", "/x", start + one - 1),
                Verdict::Limited { .. }
            ));
            assert_eq!(post(&l, "u", "/x", start + one), Verdict::Allowed);
            assert!(matches!(
                post(&l, "u", "/x", start + one),
                Verdict::Limited { .. }
            ));
        }
    }

    #[test]
    fn levels_leak_and_refill() {
        let l = limiter("(POST, *, .*, 6, MINUTE)");
        for i in 0..6 {
            assert_eq!(post(&l, "u", "/x", i), Verdict::Allowed);
        }
        assert!(matches!(
            post(&l, "u", "/x", 9 * SECOND),
            Verdict::Limited { .. }
        ));
        // One request leaks out every 10 s (the first was charged at 0).
        assert_eq!(post(&l, "u", "/x", 10 * SECOND), Verdict::Allowed);
        assert!(matches!(
            post(&l, "u", "/x", 10 * SECOND + 6),
            Verdict::Limited { .. }
        ));
        // After a whole minute the bucket is empty again.
        for i in 0..6 {
            assert_eq!(post(&l, "u", "/x", 200 * SECOND + i), Verdict::Allowed);
        }
        assert!(matches!(
            post(&l, "u", "/x", 200 * SECOND + 6),
            Verdict::Limited { .. }
        ));
    }

    #[test]
    fn retry_after_is_the_longest_wait_and_refusals_charge_nothing() {
        let l = limiter("(POST, *, .*, 2, MINUTE); (POST, *, .*, 3, HOUR)");
        assert_eq!(post(&l, "u", "/x", 0), Verdict::Allowed);
        assert_eq!(post(&l, "u", "/x", 0), Verdict::Allowed);
        // Over the minute limit only: wait 30 s.
        assert_eq!(
            post(&l, "u", "/x", 0),
            Verdict::Limited {
                limit: 0,
                delay: Duration::from_secs(30)
            }
        );
        // The refused request did not count against the hour limit.
        assert_eq!(post(&l, "u", "/x", 60 * SECOND), Verdict::Allowed);
        // Now over both: the hour limit's wait (20 min from its first charge) is reported.
        assert_eq!(
            post(&l, "u", "/x", 60 * SECOND),
            Verdict::Limited {
                limit: 1,
                delay: Duration::from_secs(20 * 60 - 60)
            }
        );
    }

    #[test]
    fn users_are_independent_and_unmatched_requests_are_free() {
        let l = limiter("(POST, *, .*, 1, HOUR)");
        assert_eq!(post(&l, "a", "/x", 0), Verdict::Allowed);
        assert!(matches!(post(&l, "a", "/x", 1), Verdict::Limited { .. }));
        assert_eq!(post(&l, "b", "/x", 1), Verdict::Allowed);
        assert_eq!(
            l.check_with(Some("a"), b"GET", "/x", "", Some(2)),
            Verdict::Allowed
        );
        // Unauthenticated requests share one state.
        assert_eq!(
            l.check_with(None, b"POST", "/x", "", Some(3)),
            Verdict::Allowed
        );
        assert!(matches!(
            l.check_with(None, b"POST", "/y", "", Some(4)),
            Verdict::Limited { .. }
        ));
        assert_eq!(l.tracked_users(), 3);
    }

    #[test]
    fn snapshot_shows_remaining_and_next_available() {
        let l = limiter("(POST, *, .*, 4, MINUTE); (DELETE, *, .*, 2, HOUR)");
        let wall = |at: u64| {
            let t = (l.wall_epoch + Duration::from_nanos(at))
                .duration_since(UNIX_EPOCH)
                .unwrap();
            t.as_secs() + u64::from(t.subsec_nanos() > 0)
        };
        let fresh = l.snapshot_with(Some("u"), Some(SECOND));
        assert_eq!(fresh[0].remaining, 4);
        assert_eq!(fresh[1].remaining, 2);
        assert_eq!(fresh[0].next_available, wall(SECOND));
        for _ in 0..4 {
            assert_eq!(post(&l, "u", "/x", SECOND), Verdict::Allowed);
        }
        let full = l.snapshot_with(Some("u"), Some(SECOND));
        assert_eq!(full[0].remaining, 0);
        assert_eq!(full[1].remaining, 2);
        assert_eq!(full[0].next_available, wall(16 * SECOND));
        // 15 s later one request has leaked out.
        let later = l.snapshot_with(Some("u"), Some(16 * SECOND));
        assert_eq!(later[0].remaining, 1);
        assert_eq!(later[0].next_available, wall(16 * SECOND));
        // Nothing was charged by looking.
        assert_eq!(post(&l, "u", "/x", 16 * SECOND), Verdict::Allowed);
    }

    #[test]
    fn a_flood_of_users_stays_bounded() {
        let max = SHARDS * 4;
        let l = RateLimiter::new(parse_limits("(POST, *, .*, 1, DAY)").unwrap(), max).unwrap();
        for i in 0..5_000u64 {
            let user = format!("user-{i}");
            assert_eq!(post(&l, &user, "/x", i), Verdict::Allowed);
            assert!(l.tracked_users() <= max, "after {i}");
        }
        // The most recent users are still limited.
        assert!(matches!(
            post(&l, "user-4999", "/x", 5_000),
            Verdict::Limited { .. }
        ));
    }

    #[test]
    fn drained_users_are_swept() {
        let l = limiter("(POST, *, .*, 10, SECOND)");
        for i in 0..10_000u64 {
            assert_eq!(post(&l, &format!("u{i}"), "/x", i), Verdict::Allowed);
        }
        assert_eq!(l.tracked_users(), 10_000);
        // Two seconds later every bucket has drained: new users sweep the old ones away.
        for i in 0..20_000u64 {
            assert_eq!(
                post(&l, &format!("v{i}"), "/x", 2 * SECOND + i),
                Verdict::Allowed
            );
        }
        assert_eq!(l.tracked_users(), 20_000);
    }

    #[test]
    fn isotime() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_354_036_938, "2012-11-27T17:22:18Z"),
            (4_102_444_799, "2099-12-31T23:59:59Z"),
        ];
        for (unix, text) in cases {
            let mut out = Vec::new();
            push_isotime(&mut out, unix);
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
    }

    #[test]
    fn groups_share_uri_and_regex() {
        let l = limiter(DEFAULT_LIMITS);
        let groups: Vec<_> = l
            .groups()
            .iter()
            .map(|g| (&*g.uri, &*g.regex, g.members.to_vec()))
            .collect();
        assert_eq!(
            groups,
            [
                ("*", ".*", vec![0, 2, 4]),
                ("*/servers", "^/servers", vec![1]),
                ("*changes-since*", ".*changes-since.*", vec![3]),
            ]
        );
    }

    #[test]
    fn shared_across_threads() {
        let l = std::sync::Arc::new(limiter("(POST, *, .*, 100, HOUR)"));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let l = std::sync::Arc::clone(&l);
                std::thread::spawn(move || {
                    (0..100)
                        .filter(|_| l.check(Some("u"), b"POST", "/x", "") == Verdict::Allowed)
                        .count()
                })
            })
            .collect();
        let passed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(passed, 100);
    }
}
