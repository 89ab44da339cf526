//! Counting strings fast: the per-partition table behind `frequencies` on a bag of `String`s.
//!
//! Word counts spend their time looking words up in a table of a hundred thousand keys, most of
//! them rare, so most lookups of a rare word miss the cache. A general hash map of `String` keys
//! touches three places per lookup (control bytes, the bucket, the key's heap bytes). This table
//! keeps the full hash, the count and the bytes of a short key in one 48-byte slot, so a lookup
//! usually touches one cache line. Keys longer than the inline space live in a side vector.
//!
//! Keys added one by one with [`StrCounts::push`] are hashed into a small batch first; the
//! batch's slots are all read before any is updated, so the processor waits for their cache
//! misses in parallel instead of one after another.

use std::hash::BuildHasher;

/// Bytes of a key stored in the slot itself.
const INLINE: usize = 24;

#[derive(Clone, Copy)]
struct Slot {
    /// The key's hash with the lowest bit set; 0 marks an empty slot.
    hash: u64,
    count: u64,
    len: u32,
    /// Index into `long` for keys longer than `INLINE`.
    long: u32,
    inline: [u8; INLINE],
}

const EMPTY: Slot = Slot {
    hash: 0,
    count: 0,
    len: 0,
    long: 0,
    inline: [0; INLINE],
};

/// Keys waiting in a batch.
const BATCH: usize = 16;

/// A string → count table with open addressing and linear probing.
#[derive(Clone)]
pub(crate) struct StrCounts {
    slots: Vec<Slot>,
    len: usize,
    long: Vec<String>,
    hasher: foldhash::fast::FixedState,
    /// Keys pushed but not yet counted, with their hashes.
    pending: Vec<(u64, String)>,
}

impl Default for StrCounts {
    fn default() -> Self {
        StrCounts {
            slots: vec![EMPTY; 1024],
            len: 0,
            long: Vec::new(),
            hasher: foldhash::fast::FixedState::with_seed(0x0070_6172_7469_7461),
            pending: Vec::with_capacity(BATCH),
        }
    }
}

impl StrCounts {
    /// Counts one occurrence of `key`, in the next batch.
    pub(crate) fn push(&mut self, key: String) {
        let hash = self.hasher.hash_one(key.as_str()) | 1;
        self.pending.push((hash, key));
        if self.pending.len() == BATCH {
            self.flush();
        }
    }

    /// Counts every pushed key.
    pub(crate) fn flush(&mut self) {
        let mask = self.slots.len() - 1;
        // Touch every home slot first: independent loads whose misses overlap.
        let mut touched = 0;
        for (hash, _) in &self.pending {
            touched ^= self.slots[(*hash >> 7) as usize & mask].hash;
        }
        std::hint::black_box(touched);
        let pending = std::mem::take(&mut self.pending);
        for (hash, key) in &pending {
            self.add_hashed(*hash, key, 1);
        }
        self.pending = pending;
        self.pending.clear();
    }

    /// Adds `n` to the count of `key`.
    pub(crate) fn add(&mut self, key: &str, n: u64) {
        let hash = self.hasher.hash_one(key) | 1;
        self.add_hashed(hash, key, n);
    }

    fn add_hashed(&mut self, hash: u64, key: &str, n: u64) {
        let mask = self.slots.len() - 1;
        let mut i = (hash >> 7) as usize & mask;
        loop {
            let slot = &self.slots[i];
            if slot.hash == 0 {
                break;
            }
            if slot.hash == hash && slot.len as usize == key.len() {
                let stored: &[u8] = if key.len() <= INLINE {
                    &slot.inline[..key.len()]
                } else {
                    self.long[slot.long as usize].as_bytes()
                };
                if stored == key.as_bytes() {
                    self.slots[i].count += n;
                    return;
                }
            }
            i = (i + 1) & mask;
        }
        let mut slot = Slot {
            hash,
            count: n,
            len: key.len() as u32,
            ..EMPTY
        };
        if key.len() <= INLINE {
            slot.inline[..key.len()].copy_from_slice(key.as_bytes());
        } else {
            slot.long = self.long.len() as u32;
            self.long.push(key.to_string());
        }
        self.slots[i] = slot;
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            self.grow();
        }
    }

    fn grow(&mut self) {
        let doubled = vec![EMPTY; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        let mask = self.slots.len() - 1;
        for slot in old.into_iter().filter(|s| s.hash != 0) {
            let mut i = (slot.hash >> 7) as usize & mask;
            while self.slots[i].hash != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }

    /// Adds every count of `other`.
    pub(crate) fn merge(&mut self, mut other: StrCounts) {
        self.flush();
        other.flush();
        for (key, n) in other.iter() {
            self.add(key, n);
        }
    }

    /// The keys and counts, in no particular order. Call [`flush`](Self::flush) first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        debug_assert!(self.pending.is_empty(), "iterating with keys still pending");
        self.slots.iter().filter(|s| s.hash != 0).map(|s| {
            let bytes: &[u8] = if s.len as usize <= INLINE {
                &s.inline[..s.len as usize]
            } else {
                self.long[s.long as usize].as_bytes()
            };
            // Every key was a `&str` when it went in.
            (std::str::from_utf8(bytes).unwrap_or_default(), s.count)
        })
    }
}

#[cfg(test)]
mod test {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn counts_like_a_hash_map_for_short_and_long_keys() {
        let mut table = StrCounts::default();
        let mut reference: HashMap<String, u64> = HashMap::new();
        for i in 0..50_000_u64 {
            let key = match i % 4 {
                0 => format!("{}", i % 1000),
                1 => "x".repeat((i % 40) as usize),
                2 => format!("a much longer key that does not fit inline {}", i % 77),
                _ => String::new(),
            };
            if i % 2 == 0 {
                table.add(&key, i % 3 + 1);
                *reference.entry(key).or_insert(0) += i % 3 + 1;
            } else {
                *reference.entry(key.clone()).or_insert(0) += 1;
                table.push(key);
            }
        }
        table.flush();
        let got: HashMap<String, u64> = table.iter().map(|(k, n)| (k.to_string(), n)).collect();
        assert_eq!(got, reference);
        let mut doubled = table.clone();
        doubled.merge(table.clone());
        for (k, n) in doubled.iter() {
            assert_eq!(n, 2 * reference[k]);
        }
    }
}
