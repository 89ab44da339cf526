//! Counting strings fast: the per-partition table behind `frequencies` on a bag of `String`s and
//! behind `str_frequencies`.
//!
//! Word counts spend their time looking words up in a table of a hundred thousand keys, most of
//! them rare, so most lookups of a rare word miss the cache. A general hash map of `String` keys
//! touches three places per lookup (control bytes, the bucket, the key's heap bytes). This table
//! keeps the hash, the length, the count and the bytes of a short key in one 32-byte slot, two to
//! a cache line, so a lookup usually touches one line and compares a key in two word loads. Keys
//! longer than the inline space live in a side vector.
//!
//! Short keys are counted in batches of [`BATCH`]: when a batch fills, its home slots are all
//! read, and it is counted only when the next batch fills, so the processor waits for their
//! cache misses in parallel, and behind other work, instead of one after another.

use std::hash::BuildHasher;

use partita_runtime::{decode_params, encode_params, Error, Result, Value};

use crate::filled::filled;
use crate::short_key::{key_words, short_hash, INLINE};

/// The length byte of a key stored in `long`.
const LONG: u64 = 0xFF;

/// Keys counted together.
const BATCH: usize = 16;

/// A key ready to be looked up: its `meta` word and, for a short key, its bytes zero-padded.
#[derive(Clone, Copy, Default)]
struct Probe {
    /// The key's hash in the upper 56 bits (the top one always set, so 0 marks an empty slot)
    /// and its length, or [`LONG`], in the low byte.
    meta: u64,
    key: [u64; 2],
}

#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct Slot {
    /// The inline key, or for a long key the index into `long` in the first word.
    key: [u64; 2],
    meta: u64,
    count: u64,
}

impl Slot {
    fn long_index(&self) -> usize {
        self.key[0] as usize
    }

    fn inline_bytes(&self) -> [u8; INLINE] {
        let mut bytes = [0; INLINE];
        bytes[..8].copy_from_slice(&self.key[0].to_le_bytes());
        bytes[8..].copy_from_slice(&self.key[1].to_le_bytes());
        bytes
    }
}

/// A string → count table with open addressing and linear probing.
#[derive(Clone)]
pub(crate) struct StrCounts {
    slots: Vec<Slot>,
    len: usize,
    long: Vec<String>,
    hasher: foldhash::fast::FixedState,
    /// Short keys waiting for a batch to fill.
    queued: [Probe; BATCH],
    nqueued: usize,
    /// The previous batch, whose home slots are on their way into the cache: it is counted
    /// when the next batch is full, so the wait for its misses overlaps with other work.
    touched: [Probe; BATCH],
    ntouched: usize,
}

/// Slot vectors of dropped tables, for reuse: a table that grows to a few megabytes per
/// partition would otherwise fault in fresh zeroed pages for every partition.
static SPARE: std::sync::Mutex<Vec<Vec<Slot>>> = std::sync::Mutex::new(Vec::new());

/// Tables at least this many slots long give their slots back when dropped.
const SPARE_MIN: usize = 1 << 14;

/// Spare slot vectors kept: about one per worker, at two sizes.
const SPARE_MAX: usize = 4;

fn spare() -> std::sync::MutexGuard<'static, Vec<Vec<Slot>>> {
    SPARE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `n` empty slots, in a spare vector of that length if there is one.
fn empty_slots(n: usize) -> Vec<Slot> {
    let reused = if n >= SPARE_MIN {
        let mut spare = spare();
        let at = spare.iter().position(|v| v.len() == n);
        at.map(|i| spare.swap_remove(i))
    } else {
        None
    };
    match reused {
        Some(mut slots) => {
            slots.fill(Slot::default());
            slots
        }
        None => filled(n, Slot::default()),
    }
}

impl Drop for StrCounts {
    fn drop(&mut self) {
        if self.slots.len() >= SPARE_MIN {
            let mut spare = spare();
            if spare.len() == SPARE_MAX {
                spare.remove(0);
            }
            spare.push(std::mem::take(&mut self.slots));
        }
    }
}

impl Default for StrCounts {
    fn default() -> Self {
        StrCounts {
            slots: filled(1024, Slot::default()),
            len: 0,
            long: Vec::new(),
            hasher: foldhash::fast::FixedState::with_seed(0x0070_6172_7469_7461),
            queued: [Probe::default(); BATCH],
            nqueued: 0,
            touched: [Probe::default(); BATCH],
            ntouched: 0,
        }
    }
}

impl StrCounts {
    #[inline]
    fn probe(&self, key: &str) -> Probe {
        let n = key.len();
        let (words, hash, len) = if n <= INLINE {
            let words = key_words(key.as_bytes());
            (words, short_hash(words, n), n as u64)
        } else {
            ([0, 0], self.hasher.hash_one(key), LONG)
        };
        Probe {
            meta: (hash | 1 << 63) & !0xFF | len,
            key: words,
        }
    }

    fn home(&self, meta: u64) -> usize {
        (meta >> 8) as usize & (self.slots.len() - 1)
    }

    /// Reads the home slot of every probe, so that their cache misses overlap.
    fn touch<'p>(&self, probes: impl Iterator<Item = &'p Probe>) {
        let mut touched = 0;
        for p in probes {
            touched ^= self.slots[self.home(p.meta)].meta;
        }
        std::hint::black_box(touched);
    }

    /// Counts one occurrence of `key`. A short key joins the next batch; a long one is counted
    /// now, since a batch keeps no key bytes beyond [`INLINE`].
    #[inline]
    pub(crate) fn count(&mut self, key: &str) {
        let probe = self.probe(key);
        if probe.meta & 0xFF == LONG {
            self.add_probe(&probe, key, 1);
            return;
        }
        self.queued[self.nqueued] = probe;
        self.nqueued += 1;
        if self.nqueued == BATCH {
            self.touch(self.queued.iter());
            self.count_touched();
            self.touched = self.queued;
            self.ntouched = BATCH;
            self.nqueued = 0;
        }
    }

    fn count_touched(&mut self) {
        for i in 0..self.ntouched {
            let probe = self.touched[i];
            self.add_probe(&probe, "", 1);
        }
        self.ntouched = 0;
    }

    /// Counts every key still in a batch.
    pub(crate) fn flush(&mut self) {
        self.count_touched();
        self.touched = self.queued;
        self.ntouched = std::mem::take(&mut self.nqueued);
        self.count_touched();
    }

    /// Adds `n` to the count of `key`.
    pub(crate) fn add(&mut self, key: &str, n: u64) {
        let probe = self.probe(key);
        self.add_probe(&probe, key, n);
    }

    /// Adds `n` to the count of the key that `probe` was made from; `key` is read only when it
    /// is longer than [`INLINE`].
    #[inline]
    fn add_probe(&mut self, probe: &Probe, key: &str, n: u64) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(probe.meta);
        loop {
            let slot = &mut self.slots[i];
            if slot.meta == probe.meta
                && if probe.meta & 0xFF == LONG {
                    self.long[slot.long_index()] == key
                } else {
                    slot.key == probe.key
                }
            {
                slot.count += n;
                return;
            }
            if slot.meta == 0 {
                return self.insert(i, probe, key, n);
            }
            i = (i + 1) & mask;
        }
    }

    /// Puts a new key in the empty slot `i`.
    #[cold]
    #[inline(never)]
    fn insert(&mut self, i: usize, probe: &Probe, key: &str, n: u64) {
        let mut slot = Slot {
            key: probe.key,
            meta: probe.meta,
            count: n,
        };
        if probe.meta & 0xFF == LONG {
            slot.key = [self.long.len() as u64, 0];
            self.long.push(key.to_string());
        }
        self.slots[i] = slot;
        self.len += 1;
        // Grown at three quarters full: linear probing still finds most keys in their home
        // line, and a smaller table keeps more of itself in cache.
        if self.len * 4 > self.slots.len() * 3 {
            self.grow();
        }
    }

    fn grow(&mut self) {
        let doubled = empty_slots(self.slots.len() * 2);
        let old = std::mem::replace(&mut self.slots, doubled);
        let mask = self.slots.len() - 1;
        for slot in old.into_iter().filter(|s| s.meta != 0) {
            let mut i = self.home(slot.meta);
            while self.slots[i].meta != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }

    /// Adds every count of `other`.
    pub(crate) fn merge(&mut self, mut other: StrCounts) {
        self.flush();
        other.flush();
        for slot in other.slots.iter().filter(|s| s.meta != 0) {
            let probe = Probe {
                meta: slot.meta,
                key: if slot.meta & 0xFF == LONG {
                    [0, 0]
                } else {
                    slot.key
                },
            };
            let long = match slot.meta & 0xFF {
                LONG => other.long[slot.long_index()].as_str(),
                // Only long keys are read from the key argument.
                _ => "",
            };
            self.add_probe(&probe, long, slot.count);
        }
    }

    fn key_of(&self, slot: &Slot) -> String {
        match slot.meta & 0xFF {
            LONG => self.long[slot.long_index()].clone(),
            len => {
                let bytes = slot.inline_bytes();
                // Every key was a `&str` when it went in.
                String::from_utf8_lossy(&bytes[..len as usize]).into_owned()
            }
        }
    }

    /// The keys and counts, in no particular order. Call [`flush`](Self::flush) first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        debug_assert!(
            self.nqueued + self.ntouched == 0,
            "iterating with keys still pending"
        );
        self.slots
            .iter()
            .filter(|s| s.meta != 0)
            .map(|s| (self.key_of(s), s.count))
    }
}

/// A table's bytes: its `(key, count)` pairs in bincode, keys still in a batch counted first.
fn encode(v: &Value) -> Result<Vec<u8>> {
    let table = v.downcast_ref::<StrCounts>().ok_or_else(|| Error::Codec {
        what: "a string-count table".into(),
        message: "the value is of another type".into(),
    })?;
    let pairs: Vec<(String, u64)> = if table.nqueued + table.ntouched > 0 {
        let mut flushed = table.clone();
        flushed.flush();
        flushed.iter().collect()
    } else {
        table.iter().collect()
    };
    encode_params("a string-count table", &pairs)
}

/// A table from its bytes; a key that occurs twice is refused.
fn decode(bytes: &[u8]) -> Result<Value> {
    let pairs: Vec<(String, u64)> = decode_params("a string-count table", bytes)?;
    let mut seen = rustc_hash::FxHashSet::default();
    let mut table = StrCounts::default();
    for (key, n) in &pairs {
        if !seen.insert(key.as_str()) {
            return Err(Error::Codec {
                what: "a string-count table".into(),
                message: format!("the key {key:?} occurs twice"),
            });
        }
        table.add(key, *n);
    }
    Ok(std::sync::Arc::new(table))
}

partita_runtime::register_codec!(StrCounts, "bag.StrCounts", encode, decode);

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
                _ if i % 3 == 0 => "a\0".repeat((i % 9) as usize),
                _ => String::new(),
            };
            if i % 5 == 0 {
                let words = format!("{key}|{key}|x");
                words.split('|').for_each(|w| table.count(w));
                *reference.entry(key.clone()).or_insert(0) += 2;
                *reference.entry("x".to_string()).or_insert(0) += 1;
            } else if i % 2 == 0 {
                table.add(&key, i % 3 + 1);
                *reference.entry(key).or_insert(0) += i % 3 + 1;
            } else {
                *reference.entry(key.clone()).or_insert(0) += 1;
                table.count(&key);
            }
        }
        table.flush();
        let got: HashMap<String, u64> = table.iter().collect();
        assert_eq!(got, reference);
        let mut doubled = table.clone();
        doubled.merge(table.clone());
        for (k, n) in doubled.iter() {
            assert_eq!(n, 2 * reference[&k]);
        }
    }

    #[test]
    fn a_table_round_trips_through_its_codec_and_bad_bytes_are_refused() {
        let mut table = StrCounts::default();
        for i in 0..5_000_u64 {
            table.count(&format!("key {}", i % 301));
            if i % 7 == 0 {
                table.count("a key much longer than the sixteen inline bytes");
            }
        }
        // Keys still in a batch are written too.
        let bytes = encode(&partita_runtime::value(table.clone())).unwrap();
        let back = decode(&bytes).unwrap();
        let back = back.downcast_ref::<StrCounts>().unwrap();
        table.flush();
        let want: HashMap<String, u64> = table.iter().collect();
        let got: HashMap<String, u64> = back.iter().collect();
        assert_eq!(got, want);
        for n in 0..bytes.len().min(64) {
            assert!(decode(&bytes[..n]).is_err(), "truncated to {n}");
        }
        let twice = encode_params("t", &vec![("a".to_string(), 1_u64), ("a".to_string(), 2)]);
        assert!(decode(&twice.unwrap()).is_err());
        assert!(encode(&partita_runtime::value(1_u8)).is_err());
    }
}
