//! Disabled clients and users, as every request checks them (issue 15
//! point 1): a disabled client or user loses access at once, on every
//! instance.
//!
//! The set is held in memory and read on every request (a hash lookup
//! under a read lock: well under a microsecond). It is replaced from the
//! store every [`REFRESH`] by each instance, so a client or user disabled
//! through another instance is refused here within that time. A disable
//! made through this instance is added at once, and kept beside the
//! store's set for a while, so a refresh that read the store just before
//! the disable was committed cannot drop it again. When the set has not
//! been refreshed for [`STALE_AFTER`] (the store is unreachable), callers
//! look the client and user up themselves instead of trusting an old set.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

/// How often each instance reads the disabled clients and users.
pub const REFRESH: Duration = Duration::from_millis(500);

/// A set older than this is not trusted.
pub const STALE_AFTER: Duration = Duration::from_secs(2);

/// Local disables are kept beside the store's set this long.
const LOCAL_KEEP: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Sets {
    clients: HashSet<String>,
    users: HashSet<String>,
    /// Disabled through this instance: what, its id, when.
    local: Vec<(Disabled, String, Instant)>,
    refreshed: Option<Instant>,
}

/// Why a caller is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disabled {
    /// The client the token was issued to.
    Client,
    /// The staff user it speaks for.
    User,
}

/// The disabled clients and users this instance knows of.
#[derive(Default)]
pub struct Revocations {
    sets: RwLock<Sets>,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations").finish_non_exhaustive()
    }
}

impl Revocations {
    /// Replaces the set with the store's (disabled client ids, user ids).
    pub fn replace(&self, clients: Vec<String>, users: Vec<String>, now: Instant) {
        let mut s = self.sets.write();
        let mut clients: HashSet<String> = clients.into_iter().collect();
        let mut users: HashSet<String> = users.into_iter().collect();
        s.local
            .retain(|(_, _, at)| now.saturating_duration_since(*at) < LOCAL_KEEP);
        for (what, id, _) in &s.local {
            match what {
                Disabled::Client => clients.insert(id.clone()),
                Disabled::User => users.insert(id.clone()),
            };
        }
        s.clients = clients;
        s.users = users;
        s.refreshed = Some(now);
    }

    /// A client disabled through this instance: refused from now on.
    pub fn disable_client(&self, id: &str, now: Instant) {
        let mut s = self.sets.write();
        s.clients.insert(id.to_string());
        s.local.push((Disabled::Client, id.to_string(), now));
    }

    /// A user disabled through this instance: refused from now on.
    pub fn disable_user(&self, id: &str, now: Instant) {
        let mut s = self.sets.write();
        s.users.insert(id.to_string());
        s.local.push((Disabled::User, id.to_string(), now));
    }

    /// True when the set was refreshed within [`STALE_AFTER`] of `now`.
    pub fn fresh(&self, now: Instant) -> bool {
        self.sets
            .read()
            .refreshed
            .is_some_and(|at| now.saturating_duration_since(at) < STALE_AFTER)
    }

    /// Whether the client `client_id` or the staff user of `subject`
    /// (`user:ID`) is disabled.
    pub fn check(&self, client_id: &str, subject: &str) -> Option<Disabled> {
        let s = self.sets.read();
        if s.clients.contains(client_id) {
            return Some(Disabled::Client);
        }
        let user = subject.strip_prefix("user:")?;
        s.users.contains(user).then_some(Disabled::User)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_disable_survives_a_refresh_that_missed_it() {
        let r = Revocations::default();
        let t0 = Instant::now();
        assert!(!r.fresh(t0));
        r.replace(vec![], vec![], t0);
        assert!(r.fresh(t0));
        assert_eq!(r.check("c1", "c1"), None);
        r.disable_client("c1", t0);
        r.disable_user("u1", t0);
        // A refresh that read the store before the disable was committed.
        r.replace(vec![], vec![], t0 + Duration::from_millis(1));
        assert_eq!(r.check("c1", "c1"), Some(Disabled::Client));
        assert_eq!(r.check("console", "user:u1"), Some(Disabled::User));
        assert_eq!(r.check("console", "user:u2"), None);
        // Later refreshes carry it from the store.
        let later = t0 + Duration::from_secs(11);
        r.replace(vec!["c1".into()], vec![], later);
        assert_eq!(r.check("c1", "c1"), Some(Disabled::Client));
        assert_eq!(r.check("console", "user:u1"), None);
        assert!(!r.fresh(later + STALE_AFTER));
    }
}
