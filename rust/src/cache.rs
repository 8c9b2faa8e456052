//! `TtlLru`: a least-recently-used cache whose entries also expire `ttl_ms` after they were set.
//!
//! Used for quotes (5 s, 500 entries) and preflight results (2 s, 1,000 entries). Removed values are handed
//! back to the caller instead of dropped here, so that a caller holding a lock can drop them after releasing
//! it (a Python value's destructor may run arbitrary code, including code that uses this cache).

use std::hash::Hash;
use std::num::NonZeroUsize;

use lru::LruCache;

use crate::error::{CoreError, CoreResult};

/// The outcome of a lookup.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a, V> {
    Hit(&'a V),
    Miss,
    /// The entry had expired and was removed; here is its value to drop.
    Expired(V),
}

/// A bounded LRU map with a TTL per entry. Times are caller-supplied milliseconds of a monotonic clock.
pub struct TtlLru<K: Hash + Eq, V> {
    entries: LruCache<K, (V, u64), foldhash::fast::RandomState>,
    ttl_ms: u64,
}

impl<K: Hash + Eq, V> TtlLru<K, V> {
    pub fn new(capacity: usize, ttl_ms: u64) -> CoreResult<Self> {
        let cap = NonZeroUsize::new(capacity).filter(|_| ttl_ms > 0).ok_or_else(|| {
            CoreError::InvalidInput(format!(
                "TtlLru needs capacity > 0 and ttl_ms > 0, got capacity={capacity} ttl_ms={ttl_ms}"
            ))
        })?;
        Ok(Self { entries: LruCache::with_hasher(cap, foldhash::fast::RandomState::default()), ttl_ms })
    }

    pub fn capacity(&self) -> usize {
        self.entries.cap().get()
    }

    pub fn ttl_ms(&self) -> u64 {
        self.ttl_ms
    }

    /// Entries held, including expired ones not yet looked up or purged.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The live value of `key`, made most recently used; an expired entry is removed.
    pub fn get(&mut self, key: &K, now_ms: u64) -> Lookup<'_, V> {
        match self.entries.peek(key) {
            None => Lookup::Miss,
            Some((_, until)) if *until <= now_ms => match self.entries.pop(key) {
                Some((value, _)) => Lookup::Expired(value),
                None => Lookup::Miss,
            },
            Some(_) => self.entries.get(key).map_or(Lookup::Miss, |(v, _)| Lookup::Hit(v)),
        }
    }

    /// Whether `key` holds a live value (does not change recency).
    pub fn contains(&self, key: &K, now_ms: u64) -> bool {
        self.entries.peek(key).is_some_and(|(_, until)| *until > now_ms)
    }

    /// Sets `key` (fresh TTL, most recently used). Returns the value it displaced: the key's old value, or
    /// the least recently used entry's when the cache was full.
    pub fn insert(&mut self, key: K, value: V, now_ms: u64) -> Option<V> {
        let until = now_ms.saturating_add(self.ttl_ms);
        self.entries.push(key, (value, until)).map(|(_, (old, _))| old)
    }

    /// Removes `key`; returns its value if it was live, and in any case what to drop.
    pub fn remove(&mut self, key: &K, now_ms: u64) -> Option<(V, bool)> {
        self.entries.pop(key).map(|(v, until)| (v, until > now_ms))
    }

    /// Removes every expired entry and returns their values.
    ///
    /// Expiry order differs from recency order (a read refreshes recency, not the TTL), so this rebuilds
    /// the cache from every live entry, least recent first, keeping their order: O(len).
    pub fn purge_expired(&mut self, now_ms: u64) -> Vec<V> {
        let mut out = Vec::new();
        let mut live = LruCache::with_hasher(self.entries.cap(), foldhash::fast::RandomState::default());
        while let Some((k, (v, until))) = self.entries.pop_lru() {
            if until > now_ms {
                live.push(k, (v, until));
            } else {
                out.push(v);
            }
        }
        self.entries = live;
        out
    }

    /// Removes everything and returns the values.
    pub fn clear(&mut self) -> Vec<V> {
        let mut out = Vec::with_capacity(self.entries.len());
        while let Some((_, (v, _))) = self.entries.pop_lru() {
            out.push(v);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn hit_miss_and_expiry() {
        let mut c = TtlLru::new(2, 100).unwrap();
        assert_eq!(c.insert("a", 1, 0), None);
        assert_eq!(c.get(&"a", 99), Lookup::Hit(&1));
        assert_eq!(c.get(&"b", 99), Lookup::Miss);
        assert_eq!(c.get(&"a", 100), Lookup::Expired(1));
        assert!(c.is_empty());
    }

    #[test]
    fn least_recently_used_is_evicted() {
        let mut c = TtlLru::new(2, 100).unwrap();
        c.insert("a", 1, 0);
        c.insert("b", 2, 0);
        assert_eq!(c.get(&"a", 1), Lookup::Hit(&1));
        assert_eq!(c.insert("c", 3, 1), Some(2));
        assert!(c.contains(&"a", 1) && c.contains(&"c", 1) && !c.contains(&"b", 1));
        assert_eq!(c.insert("a", 9, 2), Some(1));
    }

    #[test]
    fn purge_drops_only_expired() {
        let mut c = TtlLru::new(4, 10).unwrap();
        c.insert("old", 1, 0);
        c.insert("new", 2, 5);
        let _ = c.get(&"old", 6);
        let mut purged = c.purge_expired(12);
        purged.sort_unstable();
        assert_eq!(purged, vec![1]);
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(&"new", 12), Lookup::Hit(&2));
        assert_eq!(c.clear(), vec![2]);
    }

    #[test]
    fn zero_bounds_are_refused() {
        assert!(TtlLru::<u8, u8>::new(0, 1).is_err());
        assert!(TtlLru::<u8, u8>::new(1, 0).is_err());
    }

    proptest! {
        /// Against a plain map: never more than `capacity` entries, never an expired value, and a hit is
        /// always the value last set.
        #[test]
        fn bounds_hold(
            ops in proptest::collection::vec((0u8..12, any::<bool>(), 0u64..40), 1..200),
            cap in 1usize..8,
            ttl in 1u64..100,
        ) {
            let mut c = TtlLru::new(cap, ttl).unwrap();
            let mut model: HashMap<u8, (u32, u64)> = HashMap::new();
            let mut now = 0;
            for (i, (key, set, dt)) in ops.into_iter().enumerate() {
                now += dt;
                if set {
                    c.insert(key, i as u32, now);
                    model.insert(key, (i as u32, now));
                } else if let Lookup::Hit(v) = c.get(&key, now) {
                    let (want, at) = model[&key];
                    prop_assert_eq!(*v, want);
                    prop_assert!(at + ttl > now);
                }
                prop_assert!(c.len() <= cap);
            }
        }
    }
}
