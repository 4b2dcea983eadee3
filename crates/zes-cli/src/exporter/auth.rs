//! Basic authentication and the request rate limit of the exporter.
//!
//! bcrypt is slow on purpose, which makes it a lever for whoever sends bad credentials. So:
//! - an unknown user costs exactly what a known one costs: the decoy hash checked for unknown
//!   users has the highest cost among the configured hashes, and the user is picked by a
//!   constant-time scan over all of them;
//! - credentials that verified once are remembered (a keyed SHA-256 of user and password, with
//!   a key drawn at start-up; at most [`CACHE_CAPACITY`] entries, oldest dropped first), so a
//!   scraper with the right password runs bcrypt once, not on every scrape;
//! - each peer (an IPv4 address, or an IPv6 /64) runs at most one bcrypt at a time and may fail
//!   [`FAILURE_BURST`] times, then one more per [`FAILURE_FORGIVEN_EVERY`]; beyond that it is
//!   answered 429 without any bcrypt work, and bcrypt runs on at most
//!   [`bcrypt_slots`] threads in all. Remembered credentials are accepted even then, so a
//!   peer that shares an address with an attacker keeps scraping.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use ring::hmac;
use subtle::{ConditionallySelectable, ConstantTimeEq};
use tokio::sync::Semaphore;

/// Verified credentials remembered at most.
pub const CACHE_CAPACITY: usize = 256;
/// Failed attempts a peer may make before it has to wait.
pub const FAILURE_BURST: f64 = 5.0;
/// After the burst, one more failed attempt is allowed per this time.
pub const FAILURE_FORGIVEN_EVERY: Duration = Duration::from_secs(10);
/// Peers tracked at most; when full, peers with nothing against them are forgotten first.
const MAX_PEERS: usize = 4096;
/// How long a request waits for a bcrypt thread before it is answered 429.
const BCRYPT_WAIT: Duration = Duration::from_secs(10);
/// The longest `Authorization` header looked at.
const MAX_HEADER: usize = 1024;

/// How many bcrypt checks run at once: half the cores, at least one, so that scrapes and the
/// samplers keep the rest.
pub fn bcrypt_slots() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// The answer to a request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// 401.
    Denied,
    /// 429: this peer has to wait this long (or the server is saturated).
    Throttled(Duration),
}

struct User {
    /// Keyed hash of the name, compared in constant time.
    name_tag: [u8; 32],
    hash: String,
}

/// `basic_auth_users`, ready to check requests.
pub struct BasicAuth {
    users: Vec<User>,
    decoy: String,
    key: hmac::Key,
    verified: Mutex<VerifiedCache>,
    peers: Mutex<HashMap<IpAddr, Peer>>,
    bcrypt: Arc<Semaphore>,
}

impl BasicAuth {
    /// Checks that every hash is a bcrypt hash and prepares the decoy.
    pub fn new(users: BTreeMap<String, String>) -> Result<Self, String> {
        let mut cost = 4;
        for (name, hash) in &users {
            let parts: bcrypt::HashParts =
                hash.parse().map_err(|_| format!("basic_auth_users.{name} is not a bcrypt hash"))?;
            cost = cost.max(parts.get_cost());
        }
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .map_err(|_| "no random numbers for the credential cache key".to_string())?;
        let decoy_password = hmac::sign(&key, b"decoy password");
        let decoy = bcrypt::hash(decoy_password.as_ref(), cost).map_err(|e| format!("decoy hash: {e}"))?;
        let users = users
            .into_iter()
            .map(|(name, hash)| User { name_tag: tag(&key, &[name.as_bytes()]), hash })
            .collect();
        Ok(Self {
            users,
            decoy,
            key,
            verified: Mutex::new(VerifiedCache::default()),
            peers: Mutex::new(HashMap::new()),
            bcrypt: Arc::new(Semaphore::new(bcrypt_slots())),
        })
    }

    /// The bcrypt cost of the decoy checked for unknown users.
    #[cfg(test)]
    fn decoy_cost(&self) -> u32 {
        self.decoy.parse::<bcrypt::HashParts>().map_or(0, |p| p.get_cost())
    }

    /// Checks the `Authorization` header of a request from `peer`.
    pub async fn check(self: &Arc<Self>, peer: IpAddr, header: Option<&str>) -> Verdict {
        let Some((user, password)) = header.and_then(credentials) else { return Verdict::Denied };
        let token = tag(&self.key, &[user.as_bytes(), password.as_bytes()]);
        if lock(&self.verified).contains(&token) {
            return Verdict::Allowed;
        }
        let peer = peer_key(peer);
        if let Err(wait) = self.begin(peer) {
            return Verdict::Throttled(wait);
        }
        let mut turn = PeerTurn { auth: self.clone(), peer, failed: false };
        let permit = match tokio::time::timeout(BCRYPT_WAIT, self.bcrypt.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => return Verdict::Throttled(Duration::from_secs(1)),
        };
        // From here on an abandoned request counts as a failure.
        turn.failed = true;
        // The same work whether the user exists or not: every name is compared, and the
        // decoy has the highest configured cost.
        let name_tag = tag(&self.key, &[user.as_bytes()]);
        let mut index = u32::MAX;
        for (i, u) in self.users.iter().enumerate() {
            index.conditional_assign(&(i as u32), u.name_tag.ct_eq(&name_tag));
        }
        let known = self.users.get(index as usize);
        let hash = known.map_or(&self.decoy, |u| &u.hash).clone();
        let is_known = known.is_some();
        let verified = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false)
            && is_known;
        turn.failed = !verified;
        drop(turn);
        if verified {
            lock(&self.verified).insert(token);
            Verdict::Allowed
        } else {
            Verdict::Denied
        }
    }

    /// Takes the peer's single bcrypt turn, unless it is in use or the peer failed too often.
    fn begin(&self, peer: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let mut peers = lock(&self.peers);
        if !peers.contains_key(&peer) && peers.len() >= MAX_PEERS {
            peers.retain(|_, p| p.in_flight || p.failures_at(now) > 0.0);
            if peers.len() >= MAX_PEERS {
                return Err(FAILURE_FORGIVEN_EVERY);
            }
        }
        let p = peers.entry(peer).or_insert(Peer { failures: 0.0, at: now, in_flight: false });
        p.failures = p.failures_at(now);
        p.at = now;
        if p.in_flight {
            return Err(Duration::from_secs(1));
        }
        // One more failure must fit in the burst.
        if p.failures + 1.0 > FAILURE_BURST {
            return Err(FAILURE_FORGIVEN_EVERY.mul_f64(p.failures + 1.0 - FAILURE_BURST));
        }
        p.in_flight = true;
        Ok(())
    }
}

/// A peer's bcrypt turn; ends (counting a failure unless told otherwise) when dropped, also when
/// the request is abandoned half-way.
struct PeerTurn {
    auth: Arc<BasicAuth>,
    peer: IpAddr,
    failed: bool,
}

impl Drop for PeerTurn {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut peers = lock(&self.auth.peers);
        if let Some(p) = peers.get_mut(&self.peer) {
            p.in_flight = false;
            if self.failed {
                p.failures = p.failures_at(now) + 1.0;
                p.at = now;
            }
        }
    }
}

struct Peer {
    failures: f64,
    at: Instant,
    in_flight: bool,
}

impl Peer {
    /// Failures still held against the peer at `now` (one forgiven per period).
    fn failures_at(&self, now: Instant) -> f64 {
        let forgiven =
            now.saturating_duration_since(self.at).as_secs_f64() / FAILURE_FORGIVEN_EVERY.as_secs_f64();
        (self.failures - forgiven).max(0.0)
    }
}

/// Tokens of credentials that verified, oldest dropped first beyond [`CACHE_CAPACITY`].
#[derive(Default)]
struct VerifiedCache {
    set: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

impl VerifiedCache {
    fn contains(&self, token: &[u8; 32]) -> bool {
        self.set.contains(token)
    }
    fn insert(&mut self, token: [u8; 32]) {
        if self.set.insert(token) {
            self.order.push_back(token);
            while self.order.len() > CACHE_CAPACITY {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

/// HMAC-SHA-256 of length-prefixed parts (so that `("ab", "c")` and `("a", "bc")` differ).
fn tag(key: &hmac::Key, parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = hmac::Context::with_key(key);
    for part in parts {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// User and password of a `Basic` authorization header.
fn credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || encoded.len() > MAX_HEADER {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Peers are counted by address; IPv6 by /64, the block a single host usually gets.
pub fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(s.into())
            }
        },
        v4 => v4,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `rate_limit` of the web config: a token bucket of `burst` requests refilled one per
/// `interval` (Go's `rate.NewLimiter(rate.Every(interval), burst)`).
pub struct RateLimit {
    burst: f64,
    interval: Duration,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    pub fn new(burst: u32, interval: Duration) -> Self {
        Self { burst: burst.into(), interval, state: Mutex::new((burst.into(), Instant::now())) }
    }

    /// Takes a token, or says how long until the next one.
    pub fn take(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let mut state = lock(&self.state);
        let refill = now.saturating_duration_since(state.1).as_secs_f64() / self.interval.as_secs_f64();
        let tokens = (state.0 + refill).min(self.burst);
        *state = (tokens, now);
        if tokens >= 1.0 {
            state.0 -= 1.0;
            Ok(())
        } else {
            Err(self.interval.mul_f64(1.0 - tokens))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    /// Issue 8 case 12: the decoy checked for unknown users had bcrypt's default cost (12)
    /// while the configured hashes had another (here 5), so an unknown user answered in a
    /// different time than a known one with a wrong password. The decoy now has the highest
    /// configured cost: the same bcrypt work either way.
    #[test]
    fn the_decoy_has_the_configured_cost() {
        for costs in [vec![5], vec![4, 6]] {
            let users: BTreeMap<String, String> = costs
                .iter()
                .enumerate()
                .map(|(i, &c)| (format!("user{i}"), bcrypt::hash("pw", c).unwrap()))
                .collect();
            let auth = BasicAuth::new(users).unwrap();
            assert_eq!(auth.decoy_cost(), *costs.iter().max().unwrap(), "{costs:?}");
        }
    }

    #[test]
    fn credentials_are_checked_and_remembered() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = Arc::new(BasicAuth::new(BTreeMap::from([("prom".to_string(), hash)])).unwrap());
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        let rt = runtime();
        let check = |h: &str| rt.block_on(auth.check(peer, Some(h)));
        assert_eq!(check(&basic("prom", "s3cret")), Verdict::Allowed);
        assert!(lock(&auth.verified).contains(&tag(&auth.key, &[b"prom", b"s3cret"])));
        // Parts are length-prefixed: the same bytes split differently are other credentials.
        assert!(!lock(&auth.verified).contains(&tag(&auth.key, &[b"pro", b"ms3cret"])));
        assert_eq!(check(&basic("prom", "wrong")), Verdict::Denied);
        assert_eq!(check(&basic("nobody", "s3cret")), Verdict::Denied);
        assert_eq!(check("Basic !!!"), Verdict::Denied);
        assert_eq!(check("Bearer abc"), Verdict::Denied);
        assert_eq!(check(&format!("Basic {}", "A".repeat(2000))), Verdict::Denied);
        // Failures are not remembered.
        assert_eq!(lock(&auth.verified).set.len(), 1);
    }

    /// Issue 8 case 14 (the unit part): a peer that keeps failing is stopped after the burst
    /// without bcrypt work, while remembered credentials from the same address still pass and
    /// other peers are not affected.
    #[test]
    fn failing_peers_are_throttled_and_good_credentials_still_pass() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = Arc::new(BasicAuth::new(BTreeMap::from([("prom".to_string(), hash)])).unwrap());
        let attacker: IpAddr = "192.0.2.7".parse().unwrap();
        let rt = runtime();
        assert_eq!(rt.block_on(auth.check(attacker, Some(&basic("prom", "s3cret")))), Verdict::Allowed);
        let mut verdicts = Vec::new();
        for i in 0..8 {
            verdicts.push(rt.block_on(auth.check(attacker, Some(&basic("prom", &format!("guess{i}"))))));
        }
        assert_eq!(&verdicts[..5], &[Verdict::Denied; 5]);
        for v in &verdicts[5..] {
            assert!(matches!(v, Verdict::Throttled(w) if *w >= Duration::from_secs(9)), "{verdicts:?}");
        }
        assert_eq!(rt.block_on(auth.check(attacker, Some(&basic("prom", "s3cret")))), Verdict::Allowed);
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert_eq!(rt.block_on(auth.check(other, Some(&basic("prom", "nope")))), Verdict::Denied);
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut cache = VerifiedCache::default();
        for i in 0..(CACHE_CAPACITY as u32 + 10) {
            let mut token = [0u8; 32];
            token[..4].copy_from_slice(&i.to_le_bytes());
            cache.insert(token);
        }
        assert_eq!(cache.set.len(), CACHE_CAPACITY);
        assert_eq!(cache.order.len(), CACHE_CAPACITY);
        assert!(!cache.contains(&[0u8; 32]));
    }

    #[test]
    fn peers_are_addresses_or_ipv6_blocks() {
        let key = |s: &str| peer_key(s.parse().unwrap()).to_string();
        assert_eq!(key("203.0.113.9"), "203.0.113.9");
        assert_eq!(key("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::");
    }

    #[test]
    fn rate_limit_is_a_token_bucket() {
        let limit = RateLimit::new(3, Duration::from_secs(3600));
        assert!(limit.take().is_ok() && limit.take().is_ok() && limit.take().is_ok());
        let wait = limit.take().unwrap_err();
        assert!(wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3600), "{wait:?}");
    }
}
