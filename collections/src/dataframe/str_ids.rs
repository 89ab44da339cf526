//! Group numbers of short strings: the table behind grouping by a string column.
//!
//! Grouping by a string key with a hundred thousand values spends its time waiting for the
//! cache: each row's lookup lands on a random entry of a table of megabytes. This table keeps a
//! key of up to [`INLINE`] bytes, its hash and length, and its group in one 32-byte slot (two to
//! a cache line), compares keys as two words, and looks rows up in batches of [`BATCH`]: the
//! home slots of a batch are all read first, so that their cache misses overlap, then the rows
//! are numbered in order.

use crate::filled::filled;
use crate::short_key::{key_words, short_hash, INLINE};

/// Rows looked up together.
pub(super) const BATCH: usize = 16;

#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct Slot {
    key: [u64; 2],
    /// The key's hash in the upper 56 bits (the top one always set, so 0 marks an empty slot)
    /// and its length in the low byte.
    meta: u64,
    group: u64,
}

/// A short key ready to be looked up.
#[derive(Clone, Copy, Default, Debug)]
pub(super) struct Probe {
    meta: u64,
    key: [u64; 2],
}

impl Probe {
    /// The probe of `bytes`, at most [`INLINE`] long.
    #[inline]
    pub(super) fn of(bytes: &[u8]) -> Probe {
        debug_assert!(bytes.len() <= INLINE);
        let key = key_words(bytes);
        let hash = short_hash(key, bytes.len());
        Probe {
            meta: (hash | 1 << 63) & !0xFF | bytes.len() as u64,
            key,
        }
    }
}

/// Short strings → group numbers, with open addressing and linear probing.
pub(super) struct StrIds {
    slots: Vec<Slot>,
    len: usize,
}

impl StrIds {
    /// An empty table.
    pub(super) fn new() -> StrIds {
        StrIds {
            slots: filled(1024, Slot::default()),
            len: 0,
        }
    }

    fn home(&self, meta: u64) -> usize {
        (meta >> 8) as usize & (self.slots.len() - 1)
    }

    /// Reads the home slot of every probe, so that their cache misses overlap.
    pub(super) fn touch(&self, probes: &[Probe]) {
        let mut touched = 0;
        for p in probes {
            touched ^= self.slots[self.home(p.meta)].meta;
        }
        std::hint::black_box(touched);
    }

    /// The group of the key of `p`; a key not seen yet gets `new_group()`.
    #[inline]
    pub(super) fn group(&mut self, p: &Probe, new_group: impl FnOnce() -> u32) -> u32 {
        let mask = self.slots.len() - 1;
        let mut i = self.home(p.meta);
        loop {
            let s = &self.slots[i];
            if s.meta == p.meta && s.key == p.key {
                return s.group as u32;
            }
            if s.meta == 0 {
                return self.insert(i, p, new_group());
            }
            i = (i + 1) & mask;
        }
    }

    #[cold]
    fn insert(&mut self, at: usize, p: &Probe, group: u32) -> u32 {
        self.slots[at] = Slot {
            key: p.key,
            meta: p.meta,
            group: u64::from(group),
        };
        self.len += 1;
        if self.len * 4 >= self.slots.len() * 3 {
            self.grow();
        }
        group
    }

    fn grow(&mut self) {
        let doubled = filled(self.slots.len() * 2, Slot::default());
        let old = std::mem::replace(&mut self.slots, doubled);
        let mask = self.slots.len() - 1;
        for s in old.into_iter().filter(|s| s.meta != 0) {
            let mut i = self.home(s.meta);
            while self.slots[i].meta != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }
}

#[cfg(test)]
mod test {
    use std::collections::HashMap;

    use super::*;

    /// Numbering through the table (growing it many times) equals numbering through a map.
    #[test]
    fn numbers_keys_as_a_map_does_across_growth() {
        let keys: Vec<String> = (0..60_000_u64)
            .map(|i| {
                let k = (i * 2_654_435_761) % 20_011;
                format!("{k:0width$}", width = (k % 17) as usize)
            })
            .collect();
        let mut table = StrIds::new();
        let mut map: HashMap<&str, u32> = HashMap::new();
        let mut next = 0;
        for chunk in keys.chunks(BATCH) {
            let probes: Vec<Probe> = chunk.iter().map(|k| Probe::of(k.as_bytes())).collect();
            table.touch(&probes);
            for (k, p) in chunk.iter().zip(&probes) {
                let n = map.len() as u32;
                let want = *map.entry(k).or_insert(n);
                let got = table.group(p, || {
                    next += 1;
                    next - 1
                });
                assert_eq!(got, want, "key {k:?}");
            }
        }
        assert_eq!(table.len, map.len());
        assert!(table.slots.len() > 1024, "the table grew");
    }
}
