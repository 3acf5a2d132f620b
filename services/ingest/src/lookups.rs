//! What `POST /events` reads on every request, kept in memory so the hot path does not pay a
//! database round trip for each: API keys and quotas for at most `FRESH` (a change made
//! through another replica takes effect here within that; one made through this replica, at
//! once), and event types for as long as the process runs (a type, once registered, never
//! changes), with its JSON Schema compiled once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use herald_domain::QuotaLimits;
use uuid::Uuid;

/// How long a key or a tenant's quotas are trusted.
pub const FRESH: Duration = Duration::from_secs(1);
/// A cache past this many entries starts over, so a flood of distinct keys cannot grow it.
const MAX_ENTRIES: usize = 50_000;

/// Entries that expire `FRESH` after they were read.
pub struct Expiring<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Hash + Eq, V: Clone> Default for Expiring<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
        }
    }
}

impl<K: Hash + Eq, V: Clone> Expiring<K, V> {
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.lock();
        let (value, read_at) = entries.get(key)?;
        (read_at.elapsed() < FRESH).then(|| value.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, read_at)| read_at.elapsed() < FRESH);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (value, Instant::now()));
    }

    pub fn forget(&self, key: &K) {
        self.lock().remove(key);
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, (V, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A registered event type, with its schema compiled.
pub struct KnownType {
    pub name: String,
    pub validator: Option<jsonschema::Validator>,
}

/// Registered event types by tenant and name. Only found types are kept: a type registered
/// a moment ago is read from the database on its first use.
#[derive(Default)]
pub struct EventTypes {
    known: Mutex<HashMap<(Uuid, String), Arc<KnownType>>>,
}

impl EventTypes {
    pub fn get(&self, tenant: Uuid, name: &str) -> Option<Arc<KnownType>> {
        self.lock().get(&(tenant, name.to_owned())).cloned()
    }

    pub fn put(&self, tenant: Uuid, known: Arc<KnownType>) {
        let mut known_types = self.lock();
        if known_types.len() >= MAX_ENTRIES {
            known_types.clear();
        }
        known_types.insert((tenant, known.name.clone()), known);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(Uuid, String), Arc<KnownType>>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Every cache of the hot path.
#[derive(Default)]
pub struct Lookups {
    /// API key hash to the tenant it authenticates (`None`: no live key).
    pub api_keys: Expiring<String, Option<crate::auth::KeyOwner>>,
    pub quotas: Expiring<Uuid, QuotaLimits>,
    pub event_types: EventTypes,
}

impl Lookups {
    /// Drops what this replica knows of keys and tenants after an admin change, so the change
    /// holds here at once.
    pub fn forget_keys(&self) {
        self.api_keys.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let cache: Expiring<u8, &str> = Expiring::default();
        cache.put(1, "one");
        cache.put(2, "two");
        assert_eq!(cache.get(&1), Some("one"));
        cache.forget(&1);
        assert_eq!(cache.get(&1), None);
        {
            let mut entries = cache.lock();
            let (_, read_at) = entries.get_mut(&2).unwrap();
            *read_at = Instant::now() - FRESH;
        }
        assert_eq!(cache.get(&2), None, "older than FRESH");
    }

    #[test]
    fn a_full_cache_starts_over_instead_of_growing() {
        let cache: Expiring<usize, usize> = Expiring::default();
        for n in 0..MAX_ENTRIES + 10 {
            cache.put(n, n);
        }
        assert!(cache.lock().len() <= MAX_ENTRIES);
        assert_eq!(cache.get(&(MAX_ENTRIES + 9)), Some(MAX_ENTRIES + 9));
    }
}
