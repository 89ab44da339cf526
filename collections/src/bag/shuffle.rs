//! `groupby` and `distinct` on the runtime's hash shuffle ([`add_shuffle`]).
//!
//! Each input partition runs the bag's fused element-wise chain and sends every item, by the
//! hash of its key, to output `hash(key) % npartitions`. Before sending, it already groups (or
//! deduplicates) its items by key, one piece per output, so a piece holds each of its keys once.
//! Each output sorts the pieces it received by input partition and merges them in that order,
//! so the result does not depend on which piece arrived first: within an output, keys come in
//! order of first appearance in the bag, and a group's items in their order in the bag.
//!
//! Equal keys meet in one output, so each output holds only its own keys' groups, and the
//! graph has O(inputs + outputs) tasks. The hash is fixed (foldhash's `FixedState`), so a key
//! goes to the same output on every run.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use foldhash::fast::FixedState;
use partita_runtime::{
    add_shuffle, downcast_owned, value, FinishFn, FoldFn, ShuffleSpec, SplitFn, TaskKey, Value,
};

use super::reduce::Ordered;
use super::Bag;
use crate::names::unique;

/// Pieces a receiver holds before a sender folds them into its state.
const MAILBOX: usize = 8;

/// The output partition of `key` among `outputs`.
fn route<K: Hash>(key: &K, outputs: usize) -> usize {
    (FixedState::default().hash_one(key) % outputs as u64) as usize
}

/// The pieces one output received so far, each tagged with its input partition.
type Received<K, V> = Vec<(usize, Ordered<K, V>)>;

impl<T: Clone + Send + Sync + 'static> Bag<T> {
    /// A hash shuffle into as many partitions as the bag has, by key: `entry` turns an item into
    /// its key and value, `merge` merges a later value of a key into the earlier one, and
    /// `finish` turns each `(key, merged value)` of an output into an item of the result.
    fn shuffle_by_key<K, V, U>(
        &self,
        op: &str,
        entry: impl Fn(T) -> (K, V) + Send + Sync + 'static,
        merge: impl Fn(&mut V, V) + Send + Sync + 'static,
        finish: impl Fn(K, V) -> U + Send + Sync + 'static,
    ) -> Bag<U>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        U: Clone + Send + Sync + 'static,
    {
        let outputs = self.npartitions;
        let name = unique(op);
        let merge = Arc::new(merge);
        let split: SplitFn = {
            let (reader, merge) = (self.reader.clone(), merge.clone());
            Arc::new(
                move |v: Value,
                      key: &TaskKey,
                      send: &mut dyn FnMut(usize, Value) -> partita_runtime::Result<()>| {
                    let mut pieces: Vec<Ordered<K, V>> =
                        (0..outputs).map(|_| Ordered::default()).collect();
                    reader(v, key, &mut |t| {
                        let (k, v) = entry(t);
                        let piece = &mut pieces[route(&k, outputs)];
                        match piece.get_mut(&k) {
                            Some(old) => merge(old, v),
                            None => piece.insert_new(k, v),
                        }
                    })?;
                    for (to, piece) in pieces.into_iter().enumerate() {
                        if !piece.is_empty() {
                            send(to, value(piece))?;
                        }
                    }
                    Ok(())
                },
            )
        };
        let fold: FoldFn = {
            let name = name.clone();
            Arc::new(
                move |to: usize, state: Option<Value>, pieces: Vec<(usize, Value)>| {
                    let key = TaskKey::new(name.clone(), to as u64);
                    let mut all: Received<K, V> = match state {
                        Some(s) => downcast_owned(s, &key)?,
                        None => Vec::new(),
                    };
                    for (from, p) in pieces {
                        all.push((from, downcast_owned(p, &key)?));
                    }
                    Ok(value(all))
                },
            )
        };
        let finish: FinishFn = {
            let name = name.clone();
            Arc::new(move |to: usize, state: Option<Value>| {
                let key = TaskKey::new(name.clone(), to as u64);
                let mut all: Received<K, V> = match state {
                    Some(s) => downcast_owned(s, &key)?,
                    None => Vec::new(),
                };
                all.sort_by_key(|(from, _)| *from);
                let merged = Ordered::concat(all.into_iter().map(|(_, p)| p).collect(), |a, b| {
                    merge(a, b)
                });
                let items: Vec<U> = merged.into_pairs().map(|(k, v)| finish(k, v)).collect();
                Ok(value(items))
            })
        };
        let spec = ShuffleSpec {
            name: name.clone(),
            outputs,
            split,
            fold,
            finish,
            mailbox: MAILBOX,
            op: None,
        };
        let mut graph = self.graph.clone();
        let inputs: Vec<TaskKey> = (0..self.npartitions as u64)
            .map(|i| TaskKey::new(self.input.clone(), i))
            .collect();
        add_shuffle(&mut graph, &inputs, &spec);
        Bag::materialized(graph, name, outputs)
    }

    /// Each distinct item once, in as many partitions as the bag has: a hash shuffle sends
    /// every item to partition `hash(item) % npartitions`, which keeps the first occurrence of
    /// each item, in order of first appearance in the bag.
    ///
    /// ```
    /// let b = partita_collections::Bag::from_sequence(vec![3, 1, 3, 2, 1], 2);
    /// let d = b.distinct();
    /// assert_eq!(d.npartitions(), 2);
    /// let mut items = d.compute()?;
    /// items.sort();
    /// assert_eq!(items, vec![1, 2, 3]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn distinct(&self) -> Bag<T>
    where
        T: Hash + Eq,
    {
        self.shuffle_by_key("distinct", |t| (t, ()), |_, ()| {}, |t, ()| t)
    }

    /// The items grouped by `key`: one `(key, items)` pair per key, the items in their order in
    /// the bag. Runs on a hash shuffle into as many partitions as the bag has: the group of `k`
    /// is whole in partition `hash(k) % npartitions`, and within a partition keys come in order
    /// of first appearance. A partition holds only its own keys' groups, never the whole bag.
    ///
    /// ```
    /// let b = partita_collections::Bag::from_sequence(vec!["apple", "avocado", "banana"], 2);
    /// let g = b.groupby(|w| w.chars().next().unwrap());
    /// assert_eq!(g.npartitions(), 2);
    /// let mut groups = g.compute()?;
    /// groups.sort();
    /// assert_eq!(groups, vec![('a', vec!["apple", "avocado"]), ('b', vec!["banana"])]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn groupby<K, KF>(&self, key: KF) -> Bag<(K, Vec<T>)>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        KF: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.shuffle_by_key(
            "groupby",
            move |t| (key(&t), vec![t]),
            |items: &mut Vec<T>, more| items.extend(more),
            |k, items| (k, items),
        )
    }
}
