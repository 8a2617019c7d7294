//! Keyed deadlines with cheap "earliest" and "due" queries: the binding
//! cache's expiries and the home agent's DAD waits, which a home agent with
//! ten thousand mobile nodes asks about at every event. A key has at most one
//! deadline; setting it again moves it.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// Deadlines by key: O(log n) set, remove and earliest.
#[derive(Debug, Clone)]
pub struct Deadlines<K, T = Instant> {
    at: HashMap<K, T>,
    order: BTreeSet<(T, K)>,
}

impl<K, T> Default for Deadlines<K, T> {
    fn default() -> Self {
        Deadlines {
            at: HashMap::new(),
            order: BTreeSet::new(),
        }
    }
}

impl<K: Copy + Ord + Hash, T: Copy + Ord> Deadlines<K, T> {
    /// No deadlines.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or moves) the deadline of `key`.
    pub fn set(&mut self, key: K, at: T) {
        if let Some(old) = self.at.insert(key, at) {
            self.order.remove(&(old, key));
        }
        self.order.insert((at, key));
    }

    /// Drops the deadline of `key`; returns it.
    pub fn remove(&mut self, key: &K) -> Option<T> {
        let at = self.at.remove(key)?;
        self.order.remove(&(at, *key));
        Some(at)
    }

    /// The deadline of `key`.
    pub fn get(&self, key: &K) -> Option<T> {
        self.at.get(key).copied()
    }

    /// The earliest deadline.
    pub fn earliest(&self) -> Option<T> {
        self.order.first().map(|(at, _)| *at)
    }

    /// Removes and returns the keys whose deadline is at or before `now`,
    /// earliest first.
    pub fn pop_due(&mut self, now: T) -> Vec<K> {
        let mut due = Vec::new();
        while let Some(&(at, key)) = self.order.first() {
            if at > now {
                break;
            }
            self.order.pop_first();
            self.at.remove(&key);
            due.push(key);
        }
        due
    }

    /// Number of keys with a deadline.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// True if there is none.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_follows_set_move_and_remove() {
        let mut d: Deadlines<u32, u64> = Deadlines::new();
        assert_eq!(d.earliest(), None);
        d.set(1, 30);
        d.set(2, 10);
        d.set(3, 20);
        assert_eq!(d.earliest(), Some(10));
        d.set(2, 40);
        assert_eq!(d.earliest(), Some(20));
        assert_eq!(d.remove(&3), Some(20));
        assert_eq!(d.earliest(), Some(30));
        assert_eq!(d.len(), 2);
        assert_eq!(d.get(&2), Some(40));
    }

    #[test]
    fn pop_due_takes_only_what_is_due_in_order() {
        let mut d: Deadlines<u32, u64> = Deadlines::new();
        for (k, t) in [(1, 5), (2, 1), (3, 9), (4, 5)] {
            d.set(k, t);
        }
        assert_eq!(d.pop_due(5), vec![2, 1, 4]);
        assert_eq!(d.pop_due(8), Vec::<u32>::new());
        assert_eq!(d.pop_due(9), vec![3]);
        assert!(d.is_empty());
    }
}
