//! [`Sharded`]: a map from ids to shared values, split in shards, so that the next snapshot
//! of a registry copies only the shards a reload changed instead of every entry: a reload
//! of one file in a large directory costs what that file touches, and readers of the old
//! snapshot keep theirs untouched.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use super::snapshot::IdHash;

/// How many shards: a reload that changes one id copies about `len / SHARDS` entries.
const SHARDS: usize = 64;

/// Which shard an id is in: a hash seeded apart from the shards' own, so that the ids of one
/// shard still spread over all of its buckets.
fn shard_of(id: &str) -> usize {
    const SEED: u64 = 0x9e37_79b9_7f4a_7c15;
    let hash = foldhash::fast::FixedState::with_seed(SEED).hash_one(id);
    // The top bits: `SHARDS` is a power of two, so this is the hash modulo `SHARDS`.
    (hash >> (64 - SHARDS.trailing_zeros())) as usize
}

/// A map from ids to values, cheap to clone (one reference per shard) and to change (the
/// changed shard is copied only while another snapshot still shares it).
#[derive(Debug, Clone)]
pub(crate) struct Sharded<K, V> {
    shards: Vec<Arc<HashMap<K, V, IdHash>>>,
    len: usize,
}

impl<K, V> Default for Sharded<K, V> {
    fn default() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| Arc::new(HashMap::default())).collect(),
            len: 0,
        }
    }
}

impl<K, V> Sharded<K, V>
where
    K: Borrow<str> + Hash + Eq + Clone,
    V: Clone,
{
    /// The value of `id`.
    pub(crate) fn get(&self, id: &str) -> Option<&V> {
        self.shards[shard_of(id)].get(id)
    }

    /// Sets the value of `id`, returning the one it replaces.
    pub(crate) fn insert(&mut self, id: K, value: V) -> Option<V> {
        let shard = Arc::make_mut(&mut self.shards[shard_of(id.borrow())]);
        let old = shard.insert(id, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes `id`, returning its value.
    pub(crate) fn remove(&mut self, id: &str) -> Option<V> {
        let slot = &mut self.shards[shard_of(id)];
        if !slot.contains_key(id) {
            return None;
        }
        let old = Arc::make_mut(slot).remove(id);
        self.len -= usize::from(old.is_some());
        old
    }

    /// How many ids the map holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the map is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every id, in no order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.shards.iter().flat_map(|s| s.keys())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_keeps_its_values_when_the_original_changes() {
        let mut a: Sharded<String, u32> = Sharded::default();
        for i in 0..1000 {
            assert_eq!(a.insert(format!("id-{i}"), i), None);
        }
        let b = a.clone();
        assert_eq!(a.insert("id-7".into(), 70), Some(7));
        assert_eq!(a.remove("id-8"), Some(8));
        assert_eq!(a.remove("id-8"), None);
        assert_eq!(a.insert("new".into(), 1), None);
        assert_eq!((a.len(), b.len()), (1000, 1000));
        assert_eq!((a.get("id-7"), b.get("id-7")), (Some(&70), Some(&7)));
        assert_eq!((a.get("id-8"), b.get("id-8")), (None, Some(&8)));
        assert_eq!((a.get("new"), b.get("new")), (Some(&1), None));
        assert_eq!(a.keys().count(), 1000);
        // Only the changed shards were copied: the others are still shared.
        let shared = a
            .shards
            .iter()
            .zip(&b.shards)
            .filter(|(x, y)| Arc::ptr_eq(x, y))
            .count();
        assert!(shared >= SHARDS - 3, "{shared} of {SHARDS} shards shared");
    }

    #[test]
    fn ids_spread_over_the_shards() {
        let mut used = [0usize; SHARDS];
        for i in 0..10_000 {
            used[shard_of(&format!("persona-{i:05}"))] += 1;
        }
        let (min, max) = (used.iter().min(), used.iter().max());
        assert!(
            min.is_some_and(|&m| m > 100) && max.is_some_and(|&m| m < 220),
            "{used:?}"
        );
    }
}
