//! `DedupCache`: the local TTL set of dedup keys, bounded in time and in memory.
//!
//! Every key lives `ttl_ms` from its first sighting. Since the TTL is the same for all keys, insertion order
//! is expiry order, so a FIFO queue beside the map expires in O(1) per key and evicts the oldest first when
//! the capacity is reached. (A key evicted early for capacity may be seen as new again: size the capacity
//! above the keys one TTL window brings.)

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use crate::error::{CoreError, CoreResult};

/// A dedup key (`hash::dedup_key`).
pub type Key = [u8; 32];

/// A key as the map holds it: dedup keys are Keccak outputs, already uniform, so hashing their first 8
/// bytes (through the seeded hasher, so crafted keys cannot collide on purpose) is enough and cheap.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Slot(Key);

impl Hash for Slot {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_ne_bytes(prefix));
    }
}

/// A TTL set of keys with a capacity bound. Times are caller-supplied milliseconds of a monotonic clock.
pub struct DedupCache {
    ttl_ms: u64,
    capacity: usize,
    /// key → expiry time.
    expiry: HashMap<Slot, u64, foldhash::fast::RandomState>,
    /// (key, expiry) in insertion order, in step with `expiry`.
    order: VecDeque<(Slot, u64)>,
}

impl DedupCache {
    pub fn new(ttl_ms: u64, capacity: usize) -> CoreResult<Self> {
        if ttl_ms == 0 || capacity == 0 {
            return Err(CoreError::InvalidInput(format!(
                "DedupCache needs ttl_ms > 0 and capacity > 0, got ttl_ms={ttl_ms} capacity={capacity}"
            )));
        }
        Ok(Self { ttl_ms, capacity, expiry: HashMap::default(), order: VecDeque::new() })
    }

    pub fn ttl_ms(&self) -> u64 {
        self.ttl_ms
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Live keys (as of the last call that had a time).
    pub fn len(&self) -> usize {
        self.expiry.len()
    }

    pub fn is_empty(&self) -> bool {
        self.expiry.is_empty()
    }

    /// Drops every key whose expiry is at or before `now_ms`.
    pub fn expire(&mut self, now_ms: u64) {
        while let Some(&(key, at)) = self.order.front() {
            if at > now_ms {
                break;
            }
            self.order.pop_front();
            self.expiry.remove(&key);
        }
    }

    /// For each key in order: `true` on its first sighting within the TTL (and remembers it), else `false`.
    /// A key repeated inside one batch is `true` once.
    pub fn check_and_insert(&mut self, keys: &[Key], now_ms: u64) -> Vec<bool> {
        self.expire(now_ms);
        let until = now_ms.saturating_add(self.ttl_ms);
        keys.iter()
            .map(|key| {
                let slot = Slot(*key);
                // One lookup per key: the entry API, then evict after inserting (the new key is at the
                // back of the queue, so the front is never the key just inserted).
                let Entry::Vacant(e) = self.expiry.entry(slot) else {
                    return false;
                };
                e.insert(until);
                self.order.push_back((slot, until));
                if self.expiry.len() > self.capacity {
                    if let Some((old, _)) = self.order.pop_front() {
                        self.expiry.remove(&old);
                    }
                }
                true
            })
            .collect()
    }

    /// Whether `key` is live at `now_ms`, without inserting it.
    pub fn contains(&self, key: &Key, now_ms: u64) -> bool {
        self.expiry.get(&Slot(*key)).is_some_and(|&at| at > now_ms)
    }

    pub fn clear(&mut self) {
        self.expiry.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    fn k(n: u8) -> Key {
        [n; 32]
    }

    #[test]
    fn first_sighting_is_true_once() {
        let mut c = DedupCache::new(1_000, 10).unwrap();
        assert_eq!(c.check_and_insert(&[k(1), k(2), k(1)], 0), vec![true, true, false]);
        assert_eq!(c.check_and_insert(&[k(2), k(3)], 999), vec![false, true]);
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn keys_expire_after_ttl() {
        let mut c = DedupCache::new(1_000, 10).unwrap();
        c.check_and_insert(&[k(1)], 0);
        assert!(c.contains(&k(1), 999));
        assert!(!c.contains(&k(1), 1_000));
        assert_eq!(c.check_and_insert(&[k(1)], 1_000), vec![true]);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn capacity_evicts_the_oldest() {
        let mut c = DedupCache::new(1_000, 2).unwrap();
        assert_eq!(c.check_and_insert(&[k(1), k(2), k(3)], 0), vec![true, true, true]);
        assert_eq!(c.len(), 2);
        assert_eq!(c.check_and_insert(&[k(3), k(2), k(1)], 1), vec![false, false, true]);
    }

    #[rstest]
    #[case(0, 1)]
    #[case(1, 0)]
    fn zero_bounds_are_refused(#[case] ttl: u64, #[case] cap: usize) {
        assert!(DedupCache::new(ttl, cap).is_err());
    }

    proptest! {
        /// Against a model that keeps every sighting: bounds hold, and a key is reported new exactly when
        /// it was not seen within the TTL (while the capacity is not exceeded).
        #[test]
        fn bounds_hold_and_agree_with_model(
            steps in proptest::collection::vec((proptest::collection::vec(0u8..20, 0..8), 0u64..50), 1..60),
            ttl in 1u64..200,
            cap in 1usize..30,
        ) {
            let mut c = DedupCache::new(ttl, cap).unwrap();
            let mut now = 0;
            let mut seen: HashMap<Key, u64> = HashMap::new();
            for (keys, dt) in steps {
                now += dt;
                let keys: Vec<Key> = keys.into_iter().map(k).collect();
                let out = c.check_and_insert(&keys, now);
                prop_assert!(c.len() <= cap);
                prop_assert_eq!(c.len(), c.order.len());
                for (key, new) in keys.iter().zip(out) {
                    let live = seen.get(key).is_some_and(|&at| at + ttl > now);
                    if live {
                        // A live key is never new unless the capacity evicted it.
                        prop_assert!(!new || cap < 20);
                    } else {
                        prop_assert!(new);
                        seen.insert(*key, now);
                    }
                    if new {
                        seen.insert(*key, now);
                    }
                }
                prop_assert!(c.order.iter().all(|&(_, at)| at > now));
            }
        }
    }
}
