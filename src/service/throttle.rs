//! Throttles of what anyone can repeat: failed logins, registrations, message sends.
//!
//! - Failed logins are counted per account and per client address. Past the allowance of each,
//!   every further attempt must wait a delay that doubles with each failure (up to 15 minutes).
//!   The account's count does not apply from addresses that have signed in to (or registered)
//!   the account before, so an attacker guessing from elsewhere cannot lock its owner out at
//!   home. A count is forgotten after an hour without failures.
//! - Registrations are counted per address, in windows of an hour.
//! - Message sends, edits and deletes share one token bucket per user, over all their sessions
//!   and HTTP alike.
//!
//! IPv6 addresses count by /64 (what one host, or one home, is usually given). Every function
//! takes the current instant, so the rules are tested at chosen instants; the state is in memory,
//! per node, and bounded: idle entries are dropped once a map grows past [`MAX_ENTRIES`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::ratelimit::TokenBucket;
use crate::protocol::UserId;

/// The longest delay a failed login can earn.
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// How long a count of failures is kept without a new failure, and a registration window.
const HOUR: Duration = Duration::from_secs(3600);
/// Entries per map before idle ones are swept out.
const MAX_ENTRIES: usize = 50_000;

/// The limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleRules {
    /// Failures an account may have before delays start.
    pub failures_per_account: u32,
    /// Failures an address may have before delays start.
    pub failures_per_address: u32,
    /// The first delay; it doubles with each further failure.
    pub first_delay: Duration,
    /// Registrations per address per hour.
    pub registrations_per_hour: u32,
    /// Sends a user may burst.
    pub send_burst: u32,
    /// Sends per second a user may sustain.
    pub send_rate: u32,
}

/// Failures of one account or address.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    /// No attempt before this.
    until: Instant,
    last: Instant,
}

impl Failures {
    fn wait(&self, now: Instant) -> Option<Duration> {
        (now < self.until).then(|| self.until - now)
    }

    fn add(&mut self, free: u32, first_delay: Duration, now: Instant) {
        self.count = self.count.saturating_add(1);
        self.last = now;
        if self.count >= free {
            let doublings = (self.count - free).min(20);
            let delay = first_delay.saturating_mul(1 << doublings).min(MAX_DELAY);
            self.until = now + delay;
        }
    }
}

#[derive(Default)]
struct State {
    accounts: HashMap<String, Failures>,
    addresses: HashMap<IpAddr, Failures>,
    /// (account, address) pairs that signed in: the account's count does not apply to them.
    known: HashMap<(String, IpAddr), Instant>,
    /// Per address: when its window started and how many registrations it holds.
    registrations: HashMap<IpAddr, (Instant, u32)>,
    sends: HashMap<UserId, TokenBucket>,
}

/// The throttles of one node.
pub struct Throttles {
    rules: ThrottleRules,
    state: Mutex<State>,
}

/// The address a client's attempts count under: IPv4 as is, IPv6 by its /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }
}

/// Drops the entries of `map` idle for an hour, once it is large.
fn sweep<K: std::hash::Hash + Eq, V>(
    map: &mut HashMap<K, V>,
    now: Instant,
    last: impl Fn(&V) -> Instant,
) {
    if map.len() > MAX_ENTRIES {
        map.retain(|_, v| now.saturating_duration_since(last(v)) < HOUR);
    }
}

impl Throttles {
    /// Throttles with these limits and nothing counted yet.
    pub fn new(rules: ThrottleRules) -> Throttles {
        Throttles {
            rules,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update is a few map operations: a panic cannot leave them half done.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// May `from` try to sign in to `account` now? Otherwise, how long to wait.
    pub fn check_login(&self, account: &str, from: IpAddr, now: Instant) -> Result<(), Duration> {
        let from = address_key(from);
        let mut state = self.state();
        if let Some(wait) = state.addresses.get(&from).and_then(|f| f.wait(now)) {
            return Err(wait);
        }
        let known = state.known.contains_key(&(account.to_owned(), from));
        if !known && let Some(wait) = state.accounts.get(account).and_then(|f| f.wait(now)) {
            return Err(wait);
        }
        // Forget counts that went quiet.
        if state
            .accounts
            .get(account)
            .is_some_and(|f| now.saturating_duration_since(f.last) >= HOUR)
        {
            state.accounts.remove(account);
        }
        if state
            .addresses
            .get(&from)
            .is_some_and(|f| now.saturating_duration_since(f.last) >= HOUR)
        {
            state.addresses.remove(&from);
        }
        Ok(())
    }

    /// A login to `account` from `from` failed.
    pub fn login_failed(&self, account: &str, from: IpAddr, now: Instant) {
        let from = address_key(from);
        let rules = self.rules;
        let mut state = self.state();
        let fresh = Failures {
            count: 0,
            until: now,
            last: now,
        };
        let known = state.known.contains_key(&(account.to_owned(), from));
        if !known {
            state
                .accounts
                .entry(account.to_owned())
                .or_insert(fresh)
                .add(rules.failures_per_account, rules.first_delay, now);
        }
        state.addresses.entry(from).or_insert(fresh).add(
            rules.failures_per_address,
            rules.first_delay,
            now,
        );
        sweep(&mut state.accounts, now, |f| f.last);
        sweep(&mut state.addresses, now, |f| f.last);
    }

    /// `from` signed in to (or registered) `account`: from now on the account's failures do not
    /// hold it back.
    pub fn signed_in(&self, account: &str, from: IpAddr, now: Instant) {
        let mut state = self.state();
        state
            .known
            .insert((account.to_owned(), address_key(from)), now);
        sweep(&mut state.known, now, |at| *at);
    }

    /// May `from` register an account now? Counts the attempt.
    pub fn register(&self, from: IpAddr, now: Instant) -> Result<(), Duration> {
        let limit = self.rules.registrations_per_hour;
        let mut state = self.state();
        let window = state
            .registrations
            .entry(address_key(from))
            .or_insert((now, 0));
        if now.saturating_duration_since(window.0) >= HOUR {
            *window = (now, 0);
        }
        if window.1 >= limit {
            return Err(window.0 + HOUR - now);
        }
        window.1 += 1;
        sweep(&mut state.registrations, now, |w| w.0);
        Ok(())
    }

    /// May `user` send (or edit, or delete) a message now?
    pub fn send(&self, user: UserId, now: Instant) -> Result<(), Duration> {
        let rules = self.rules;
        let mut state = self.state();
        let result = state
            .sends
            .entry(user)
            .or_insert_with(|| TokenBucket::new(rules.send_burst, rules.send_rate, now))
            .take(now);
        if state.sends.len() > MAX_ENTRIES {
            state.sends.retain(|_, b| !b.is_full(now));
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttles() -> Throttles {
        Throttles::new(ThrottleRules {
            failures_per_account: 3,
            failures_per_address: 10,
            first_delay: Duration::from_secs(1),
            registrations_per_hour: 2,
            send_burst: 2,
            send_rate: 1,
        })
    }

    #[test]
    fn delays_double_past_the_allowance_and_spare_known_addresses() {
        let t = throttles();
        let t0 = Instant::now();
        let (attacker, home): (IpAddr, IpAddr) = (
            "203.0.113.1".parse().unwrap(),
            "198.51.100.7".parse().unwrap(),
        );
        t.signed_in("ana", home, t0);
        for _ in 0..3 {
            assert!(t.check_login("ana", attacker, t0).is_ok());
            t.login_failed("ana", attacker, t0);
        }
        assert_eq!(
            t.check_login("ana", attacker, t0),
            Err(Duration::from_secs(1))
        );
        assert!(t.check_login("ana", home, t0).is_ok(), "the owner at home");
        let t1 = t0 + Duration::from_secs(1);
        assert!(t.check_login("ana", attacker, t1).is_ok());
        t.login_failed("ana", attacker, t1);
        assert_eq!(
            t.check_login("ana", attacker, t1),
            Err(Duration::from_secs(2))
        );
        // An hour of quiet forgets it all.
        let later = t1 + HOUR + Duration::from_secs(2);
        assert!(t.check_login("ana", attacker, later).is_ok());
        t.login_failed("ana", attacker, later);
        assert!(t.check_login("ana", attacker, later).is_ok());
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_ne!(address_key(a), address_key(c));
    }

    #[test]
    fn registrations_reopen_after_the_hour() {
        let t = throttles();
        let t0 = Instant::now();
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        assert!(t.register(ip, t0).is_ok());
        assert!(t.register(ip, t0).is_ok());
        assert_eq!(
            t.register(ip, t0 + Duration::from_secs(600)),
            Err(Duration::from_secs(3000))
        );
        assert!(t.register(ip, t0 + HOUR).is_ok());
    }
}
