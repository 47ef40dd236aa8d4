//! Remembers which `X-Webhook-Id`s were processed, so that a repeated delivery is
//! answered without processing the event twice. Bounded in entries and in time.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A bounded, time-limited set of delivery ids. Ids are stored as keyed 64-bit hashes,
/// so an entry's size does not depend on what the sender put in the header.
pub struct Dedupe {
    ttl: Duration,
    capacity: usize,
    hasher: RandomState,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// Keys are already keyed hashes: they are not hashed again.
    seen: HashMap<u64, Instant, BuildHasherDefault<KeyedHash>>,
    order: VecDeque<(u64, Instant)>,
}

impl Dedupe {
    /// A cache of at most `capacity` ids, each kept for `ttl`; capacity 0 disables it.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            ttl,
            capacity,
            hasher: RandomState::new(),
            entries: Mutex::default(),
        }
    }

    /// Whether `id` was processed successfully within the last `ttl`.
    pub fn contains(&self, id: &str, now: Instant) -> bool {
        let key = self.hasher.hash_one(id);
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries
            .seen
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < self.ttl)
    }

    /// Records that `id` was processed, evicting the oldest ids beyond the bounds.
    pub fn insert(&self, id: &str, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        let key = self.hasher.hash_one(id);
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.evict(now, self.ttl, self.capacity - 1);
        entries.seen.insert(key, now);
        entries.order.push_back((key, now));
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .map(|e| e.seen.len())
            .unwrap_or_default()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Passes a keyed 64-bit hash through as the table's hash.
#[derive(Default)]
struct KeyedHash(u64);

impl Hasher for KeyedHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys reach this table; fold anything else in all the same.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

impl Entries {
    /// Drops expired ids, then the oldest until at most `keep` remain.
    fn evict(&mut self, now: Instant, ttl: Duration, keep: usize) {
        while let Some(&(key, at)) = self.order.front() {
            if now.duration_since(at) < ttl && self.order.len() <= keep {
                break;
            }
            self.order.pop_front();
            // A newer insert of the same id has its own place in `order`.
            if self.seen.get(&key) == Some(&at) {
                self.seen.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_an_id_for_its_time_to_live_only() {
        let cache = Dedupe::new(10, Duration::from_secs(60));
        let start = Instant::now();
        assert!(!cache.contains("a", start));
        cache.insert("a", start);
        assert!(cache.contains("a", start + Duration::from_secs(59)));
        assert!(!cache.contains("a", start + Duration::from_secs(60)));
        assert!(!cache.contains("b", start));
    }

    #[test]
    fn evicts_the_oldest_id_when_full() {
        let cache = Dedupe::new(3, Duration::from_secs(60));
        let now = Instant::now();
        for id in ["a", "b", "c", "d"] {
            cache.insert(id, now);
        }
        assert_eq!(cache.len(), 3);
        assert!(!cache.contains("a", now));
        assert!(cache.contains("d", now));
    }

    #[test]
    fn stays_bounded_under_many_distinct_ids() {
        let cache = Dedupe::new(1000, Duration::from_secs(600));
        let now = Instant::now();
        for i in 0..50_000 {
            cache.insert(&format!("id-{i}"), now);
        }
        assert_eq!(cache.len(), 1000);
        let entries = cache.entries.lock().expect("lock");
        assert_eq!(entries.order.len(), 1000);
    }

    #[test]
    fn remembers_nothing_with_capacity_zero() {
        let cache = Dedupe::new(0, Duration::from_secs(60));
        cache.insert("a", Instant::now());
        assert!(cache.is_empty());
    }
}
