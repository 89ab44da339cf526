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
//!
//! **As data.** When the bag's chain is data, a `groupby` by a
//! [`remote_fn!`](crate::remote_fn) key is described as the shuffle kind `bag.groupby` (the
//! chain and the key's name; the key's entry knows the item and key types and builds the
//! functions), and a `distinct` of a registered item type as `bag.distinct` (the chain and the
//! type's number). Both sides build their functions with the same `by_key_fns`.
//!
//! A piece is a table of the split's keys, which a shuffle moved across processes writes as the
//! result's items (a `groupby`'s `Vec<(K, Vec<T>)>`, a `distinct`'s `Vec<T>`), so the codec the
//! result needs is the only one its pieces need (see `portable.rs`).

use std::any::TypeId;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use foldhash::fast::FixedState;
use partita_runtime::{
    add_shuffle, decode_params, downcast_owned, value, FinishFn, FoldFn, Operation, ShuffleFns,
    ShuffleSpec, SplitFn, TaskKey, Value,
};
use serde::{Deserialize, Serialize};

use super::plan::ReadPlan;
use super::portable::{put, take, Entries, Form, Keys};
use super::reduce::Ordered;
use super::{Bag, Reader};
use crate::item_fn::{
    apply, can_distinct, item_fn_name, item_type, reader_of, type_key, wire, AnyBox, ItemUse, Probe,
};
use crate::names::unique;

/// Pieces a receiver holds before a sender folds them into its state.
const MAILBOX: usize = 8;

/// The output partition of `key` among `outputs`.
fn route<K: Hash>(key: &K, outputs: usize) -> usize {
    (FixedState::default().hash_one(key) % outputs as u64) as usize
}

/// The pieces one output received so far, each tagged with its input partition.
type Received<K, V> = Vec<(usize, Ordered<K, V>)>;

/// The split, fold and finish of the hash shuffle `name` into `outputs` partitions by key, its
/// inputs read by `reader`: `entry` turns an item into its key and value, `merge` merges a later
/// value of a key into the earlier one, and `finish` turns each `(key, merged value)` of an
/// output into an item of the result. The local shuffle and the far side of a shipped one both
/// build their functions here. Pieces travel as [`Portable`](super::portable::Portable)s of form
/// `F`, so that they can leave the process.
pub(super) fn by_key_fns<T, K, V, U, F>(
    reader: Reader<T>,
    name: Arc<str>,
    outputs: usize,
    entry: impl Fn(T) -> (K, V) + Send + Sync + 'static,
    merge: impl Fn(&mut V, V) + Send + Sync + 'static,
    finish: impl Fn(K, V) -> U + Send + Sync + 'static,
) -> ShuffleFns
where
    T: 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    U: Clone + Send + Sync + 'static,
    F: Form<X = Ordered<K, V>>,
{
    let merge = Arc::new(merge);
    let split: SplitFn = {
        let merge = merge.clone();
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
                        send(to, put::<F>(piece))?;
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
                    all.push((from, take::<F>(p, &key)?));
                }
                Ok(value(all))
            },
        )
    };
    let finish: FinishFn = Arc::new(move |to: usize, state: Option<Value>| {
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
    });
    ShuffleFns {
        split,
        fold,
        finish,
    }
}

/// `groupby`'s entry of an item: its key and a group of it alone.
fn group_entry<T, K>(key: &impl Fn(&T) -> K, t: T) -> (K, Vec<T>) {
    (key(&t), vec![t])
}

/// `groupby`'s merge: the later items after the earlier ones.
fn extend_group<T>(items: &mut Vec<T>, more: Vec<T>) {
    items.extend(more)
}

/// The split, fold and finish of `groupby(key)`, for both sides.
pub(crate) fn groupby_fns<T, K>(
    reader: Reader<T>,
    name: Arc<str>,
    outputs: usize,
    key: impl Fn(&T) -> K + Send + Sync + 'static,
) -> ShuffleFns
where
    T: Clone + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    by_key_fns::<_, _, _, _, Entries<K, Vec<T>>>(
        reader,
        name,
        outputs,
        move |t| group_entry(&key, t),
        extend_group,
        |k, items| (k, items),
    )
}

/// The split, fold and finish of `distinct()`, for both sides.
pub(crate) fn distinct_fns<T>(reader: Reader<T>, name: Arc<str>, outputs: usize) -> ShuffleFns
where
    T: Hash + Eq + Clone + Send + Sync + 'static,
{
    by_key_fns::<_, _, _, _, Keys<T>>(reader, name, outputs, |t| (t, ()), |_, ()| {}, |t, ()| t)
}

/// What a shuffle's registered entry is handed to build its functions: the chain's reader and
/// the shuffle's name and outputs.
#[doc(hidden)]
pub struct ShuffleInput {
    /// The chain's reader (`None`: `Vec` partitions).
    pub reader: Option<AnyBox>,
    /// The shuffle's name.
    pub name: Arc<str>,
    /// Its number of outputs.
    pub outputs: usize,
}

impl std::fmt::Debug for ShuffleInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShuffleInput")
            .field("name", &self.name)
            .field("outputs", &self.outputs)
            .finish()
    }
}

/// `groupby`'s functions for items `A` keyed by `f`.
#[doc(hidden)]
pub type GroupByFn<A, K> = fn(fn(&A) -> K, ShuffleInput) -> partita_runtime::Result<ShuffleFns>;

fn groupby_of<A, K>(key: fn(&A) -> K, input: ShuffleInput) -> partita_runtime::Result<ShuffleFns>
where
    A: Clone + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    let reader = reader_of::<A>(input.reader)?;
    Ok(groupby_fns(reader, input.name, input.outputs, key))
}

/// `groupby` by a key function whose key can be hashed.
#[doc(hidden)]
pub trait ViaHashKey<A, K> {
    /// `groupby`'s functions.
    fn groupby_fn(&self) -> Option<GroupByFn<A, K>>;
}
impl<A, K> ViaHashKey<A, K> for Probe<K>
where
    A: Clone + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    fn groupby_fn(&self) -> Option<GroupByFn<A, K>> {
        Some(groupby_of::<A, K>)
    }
}
/// No `groupby` by a key that cannot be hashed.
#[doc(hidden)]
pub trait NoHashKey<A, K> {
    /// None.
    fn groupby_fn(&self) -> Option<GroupByFn<A, K>> {
        None
    }
}
impl<A, K> NoHashKey<A, K> for &Probe<K> {}

/// Builds `groupby`'s functions for key function `key` (named `name`) on the [`ShuffleInput`]
/// in `prev`.
#[doc(hidden)]
pub fn groupby_step<A, K>(
    f: Option<GroupByFn<A, K>>,
    key: fn(&A) -> K,
    name: &str,
    prev: Option<AnyBox>,
) -> partita_runtime::Result<AnyBox> {
    let f = f.ok_or_else(|| wire(format!("{name}'s key cannot be hashed, so it cannot group")))?;
    let input = prev
        .ok_or_else(|| wire("a groupby key was given no input".into()))?
        .downcast::<ShuffleInput>()
        .map_err(|_| wire("a groupby key was given something else than its input".into()))?;
    Ok(Box::new(f(key, *input)?))
}

/// `groupby(key)` as data: the chain and the registered key function.
#[derive(Serialize, Deserialize)]
struct GroupByShuffle {
    name: String,
    outputs: usize,
    plan: ReadPlan,
    key: String,
}

const GROUPBY: &str = "bag.groupby";

fn build_groupby(params: &[u8]) -> partita_runtime::Result<ShuffleFns> {
    let p: GroupByShuffle = decode_params(GROUPBY, params)?;
    let input = ShuffleInput {
        reader: p.plan.reader()?,
        name: p.name.as_str().into(),
        outputs: p.outputs,
    };
    apply(&p.key, ItemUse::GroupBy, Some(Box::new(input)))?
        .downcast::<ShuffleFns>()
        .map(|f| *f)
        .map_err(|_| wire(format!("{} did not give a shuffle", p.key)))
}

partita_runtime::register_shuffle!(GROUPBY, build_groupby);

/// `distinct()` as data: the chain and the registered item type numbered `item`.
#[derive(Serialize, Deserialize)]
struct DistinctShuffle {
    name: String,
    outputs: usize,
    plan: ReadPlan,
    item: u64,
}

const DISTINCT: &str = "bag.distinct";

fn build_distinct(params: &[u8]) -> partita_runtime::Result<ShuffleFns> {
    let p: DistinctShuffle = decode_params(DISTINCT, params)?;
    let input = ShuffleInput {
        reader: p.plan.reader()?,
        name: p.name.as_str().into(),
        outputs: p.outputs,
    };
    let distinct = (item_type(p.item)?.distinct)()
        .ok_or_else(|| wire("the item type cannot be hashed, so no distinct".into()))?;
    distinct(input)
}

partita_runtime::register_shuffle!(DISTINCT, build_distinct);

impl<T: Clone + Send + Sync + 'static> Bag<T> {
    /// The hash shuffle `name` with functions `fns` into as many partitions as the bag has,
    /// described by `op` when it can leave the process.
    fn shuffle_with<U: Clone + Send + Sync + 'static>(
        &self,
        name: Arc<str>,
        fns: ShuffleFns,
        op: Option<Operation>,
    ) -> Bag<U> {
        let outputs = self.npartitions;
        let spec = ShuffleSpec {
            name: name.clone(),
            outputs,
            split: fns.split,
            fold: fns.fold,
            finish: fns.finish,
            mailbox: MAILBOX,
            op,
        };
        let mut graph = self.graph.clone();
        let inputs: Vec<TaskKey> = self.input_keys().collect();
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
        let name = unique("distinct");
        let outputs = self.npartitions;
        let op = self.plan().filter(|_| can_distinct::<T>()).map(|plan| {
            let params = DistinctShuffle {
                name: name.to_string(),
                outputs,
                plan: plan.clone(),
                item: type_key(TypeId::of::<T>()),
            };
            Operation::new(DISTINCT, &params)
        });
        let fns = distinct_fns(self.reader.clone(), name.clone(), outputs);
        self.shuffle_with(name, fns, op)
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
    ///
    /// With a key written inside [`remote_fn!`](crate::remote_fn) (whose key type can be
    /// hashed) and the bag's chain data, the shuffle can leave the process:
    ///
    /// ```
    /// use partita_collections::{remote_fn, Bag};
    /// use partita_runtime::encode_graph;
    ///
    /// remote_fn! {
    ///     fn tens(x: &u64) -> u64 { x / 10 }
    /// }
    /// let g = Bag::range(30, 3).groupby(tens);
    /// assert!(encode_graph(&g.graph(), &g.keys()).is_ok());
    /// let mut groups = g.compute()?;
    /// groups.sort();
    /// assert_eq!(groups[2], (2, (20..30).collect::<Vec<u64>>()));
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn groupby<K, KF>(&self, key: KF) -> Bag<(K, Vec<T>)>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        KF: Fn(&T) -> K + Send + Sync + 'static,
    {
        let name = unique("groupby");
        let outputs = self.npartitions;
        let op = self.plan().zip(item_fn_name::<KF>()).map(|(plan, key)| {
            let params = GroupByShuffle {
                name: name.to_string(),
                outputs,
                plan: plan.clone(),
                key: key.to_string(),
            };
            Operation::new(GROUPBY, &params)
        });
        let fns = groupby_fns(self.reader.clone(), name.clone(), outputs, key);
        self.shuffle_with(name, fns, op)
    }
}
