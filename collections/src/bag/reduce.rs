//! Bag aggregations: tree reductions over per-partition partial results.
//!
//! Each partition folds its items (straight from the fused element-wise chain, never as a
//! vector) into a partial result; partials are combined `SPLIT_EVERY` at a time, level by level,
//! until one remains. `frequencies` and `foldby` gather their per-key results the same way, into
//! one partition: one value per key, not the items. (`groupby` and `distinct`, which keep
//! items, run on the hash shuffle instead; see `shuffle.rs`.)

use std::any::Any;
use std::collections::hash_map::Entry;
use std::hash::Hash;
use std::sync::Arc;

use partita_runtime::{
    downcast_owned, value, Graph, Kernel, Operation, Task, TaskContext, TaskKey, Value,
};
use serde::{Deserialize, Serialize};

use super::fold::{
    aggregate_parts, fold_into, foldby_merge, foldby_pairs, foldby_step, keep_last, merge_folds,
    some_kernel, Fold, FoldBy, PerPartition, Reduce,
};
use super::plan::{Aggregate, ReadPlan, StrCountsPartial, TopK};
use super::portable::{maybe_reader, store, Entries, Maybe, Portable, Store};
use super::strcount::StrCounts;
use super::Bag;
use super::Reader;
use crate::delayed::Delayed;
use crate::item_fn::{
    add_to_mean, can_aggregate, fold_extreme, item_fn_name, keep_top, merge_extremes, merge_means,
    type_key, AggKind, AggStep,
};
use crate::layer::{blockwise, register_op, Op};
use crate::names::unique;

/// Hash maps over user items: foldhash spreads short keys (such as words) well, where FxHash
/// collides heavily.
type ItemMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// `frequencies()`' partial tables.
pub(crate) type Counts<T> = ItemMap<T, u64>;

/// `frequencies()`' merge of partial tables.
pub(crate) fn merge_counts<T: Hash + Eq>(parts: Vec<Counts<T>>) -> Counts<T> {
    parts
        .into_iter()
        .reduce(|a, b| merge_maps(a, b, |x, y| *x += y))
        .unwrap_or_default()
}

crate::remote_fn! {
    /// The whole item as its one key: `frequencies()` of strings, through `str_frequencies`.
    fn whole_string(s: &String, count: &mut dyn FnMut(&str)) {
        count(s)
    }
}

/// How many partial results one combine task reads.
const SPLIT_EVERY: usize = 8;

/// Numbers that `mean` can average.
pub trait AsF64 {
    /// The value as an `f64` (rounded for integers beyond 2^53).
    fn as_f64(&self) -> f64;
}

macro_rules! as_f64 {
    ($($t:ty),*) => {$(
        impl AsF64 for $t {
            #[allow(clippy::cast_lossless, clippy::cast_precision_loss)]
            fn as_f64(&self) -> f64 { *self as f64 }
        }
    )*};
}
as_f64!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64);

/// The kernel of a tree's partial: folds the items of partition `input`, read by `reader`, into
/// `init()` with `step`. The local tree and the far side of a shipped one both build it here.
pub(super) fn partial_kernel<T, A, I, S>(
    reader: Reader<T>,
    input: TaskKey,
    init: Arc<I>,
    step: Arc<S>,
    store: Store<A>,
) -> Kernel
where
    T: 'static,
    A: Send + Sync + 'static,
    I: Fn() -> A + Send + Sync + ?Sized + 'static,
    S: Fn(&mut A, T) + Send + Sync + ?Sized + 'static,
{
    Arc::new(move |mut inputs: Vec<Value>| {
        let mut acc = init();
        reader(inputs.swap_remove(0), &input, &mut |t| step(&mut acc, t))?;
        Ok((store.put)(acc))
    })
}

/// The kernel of a tree's empty partial (a bag with no partition): `init()`.
pub(super) fn empty_kernel<A, I>(init: Arc<I>, store: Store<A>) -> Kernel
where
    A: Send + Sync + 'static,
    I: Fn() -> A + Send + Sync + ?Sized + 'static,
{
    Arc::new(move |_| Ok((store.put)(init())))
}

/// The kernel of a tree's combine: `combine` of the partials of `keys`.
pub(super) fn combine_kernel<A, C>(keys: Vec<TaskKey>, combine: Arc<C>, store: Store<A>) -> Kernel
where
    A: Clone + Send + Sync + 'static,
    C: Fn(Vec<A>) -> A + Send + Sync + ?Sized + 'static,
{
    Arc::new(move |inputs: Vec<Value>| {
        let parts = inputs
            .into_iter()
            .zip(&keys)
            .map(|(v, k)| (store.take)(v, k))
            .collect::<partita_runtime::Result<Vec<A>>>()?;
        Ok((store.put)(combine(parts)))
    })
}

/// The kernel turning the tree's final value (task `root`) into a result with `finish`.
pub(super) fn finish_kernel<A, U, F>(root: TaskKey, finish: Arc<F>, store: Store<A>) -> Kernel
where
    A: Clone + Send + Sync + 'static,
    U: Send + Sync + 'static,
    F: Fn(A) -> U + Send + Sync + ?Sized + 'static,
{
    Arc::new(move |mut inputs: Vec<Value>| {
        Ok(value(finish((store.take)(inputs.swap_remove(0), &root)?)))
    })
}

/// The operation of each step of a tree, for a tree whose tasks can leave the process.
pub(super) type TreeOps<'a> = &'a dyn Fn(AggStep) -> Operation;

impl<T: Clone + Send + Sync + 'static> Bag<T> {
    /// A tree reduction: each partition folds its items into `init()` with `step`, then groups
    /// of up to `SPLIT_EVERY` partials are merged with `combine`, level by level. The root is
    /// always a `combine`, even over a single partial. With `ops`, each task also carries the
    /// operation of its step (its kernel stays the closures given here). Returns the graph and
    /// the final key.
    fn tree<A>(
        &self,
        op: &str,
        init: impl Fn() -> A + Send + Sync + 'static,
        step: impl Fn(&mut A, T) + Send + Sync + 'static,
        combine: impl Fn(Vec<A>) -> A + Send + Sync + 'static,
        store: Store<A>,
        ops: Option<TreeOps<'_>>,
    ) -> (Graph, TaskKey)
    where
        A: Clone + Send + Sync + 'static,
    {
        let mut graph = self.graph.clone();
        let (init, step, combine) = (Arc::new(init), Arc::new(step), Arc::new(combine));
        let op_of = |s: AggStep| ops.map(|ops| ops(s));
        let name = unique(&format!("{op}-partial"));
        let partial = op_of(AggStep::Partial);
        let tasks: Vec<Task> = (0..self.npartitions as u64)
            .map(|i| {
                let input = TaskKey::new(self.input.clone(), i);
                let kernel = partial_kernel(
                    self.reader.clone(),
                    input.clone(),
                    init.clone(),
                    step.clone(),
                    store,
                );
                Task::new(TaskKey::new(name.clone(), i), vec![input], kernel)
                    .with_op_opt(partial.clone())
            })
            .collect();
        let mut level: Vec<TaskKey> = tasks.iter().map(|t| t.key().clone()).collect();
        graph.add_layer(name, tasks);
        if level.is_empty() {
            let name = unique(&format!("{op}-empty"));
            let key = TaskKey::new(name.clone(), 0);
            let task = Task::new(key.clone(), vec![], empty_kernel(init.clone(), store))
                .with_op_opt(op_of(AggStep::Empty));
            graph.add_layer(name, vec![task]);
            level.push(key);
        }
        let merge = op_of(AggStep::Combine);
        let mut levels = 0;
        while level.len() > 1 || levels == 0 {
            levels += 1;
            let name = unique(&format!("{op}-combine"));
            let tasks: Vec<Task> = level
                .chunks(SPLIT_EVERY)
                .enumerate()
                .map(|(j, deps)| {
                    let kernel = combine_kernel(deps.to_vec(), combine.clone(), store);
                    Task::new(TaskKey::new(name.clone(), j as u64), deps.to_vec(), kernel)
                        .with_op_opt(merge.clone())
                })
                .collect();
            level = tasks.iter().map(|t| t.key().clone()).collect();
            graph.add_layer(name, tasks);
        }
        (graph, level.swap_remove(0))
    }
}

/// The tree's final value `root` turned into the one partition of a new bag.
fn single<A, U>(
    graph: Graph,
    root: TaskKey,
    op: &str,
    finish: impl Fn(A) -> Vec<U> + Send + Sync + 'static,
    store: Store<A>,
    data: Option<Operation>,
) -> Bag<U>
where
    A: Clone + Send + Sync + 'static,
    U: Clone + Send + Sync + 'static,
{
    let mut graph = graph;
    let name = unique(op);
    let kernel = finish_kernel(root.clone(), Arc::new(finish), store);
    let task = Task::new(TaskKey::new(name.clone(), 0), vec![root], kernel).with_op_opt(data);
    graph.add_layer(name.clone(), vec![task]);
    Bag::materialized(graph, name, 1)
}

impl<T: Clone + Send + Sync + 'static> Bag<T> {
    /// Folds every item into `initial` with `step`, partition by partition, then merges the
    /// partitions' results with `combine`, as a tree. `combine` must be associative, and
    /// `initial` neutral for it.
    ///
    /// When `step` (`fn(A, T) -> A`) and `combine` (`fn(A, A) -> A`) are written inside
    /// [`remote_fn!`](crate::remote_fn), the bag's chain is data and `A` has a registered value
    /// codec, the fold's graph can leave the process; with a plain closure it runs here only.
    ///
    /// ```
    /// use partita_collections::{remote_fn, Bag};
    /// use partita_runtime::encode_graph;
    ///
    /// let b = Bag::from_sequence(1..=5_u64, 2);
    /// let product = b.fold(1_u64, |acc, x| acc * x, |a, b| a * b);
    /// assert_eq!(product.compute()?, 120);
    ///
    /// remote_fn! {
    ///     fn times(acc: u64, x: u64) -> u64 { acc * x }
    /// }
    /// let shipped = b.fold(1_u64, times, times);
    /// assert!(encode_graph(&shipped.graph(), &[shipped.key().clone()]).is_ok());
    /// assert_eq!(shipped.compute()?, 120);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn fold<A, S, C>(&self, initial: A, step: S, combine: C) -> Delayed<A>
    where
        A: Clone + Send + Sync + 'static,
        S: Fn(A, T) -> A + Send + Sync + 'static,
        C: Fn(A, A) -> A + Send + Sync + 'static,
    {
        let described = Fold::describe::<S, C, A>(self.plan(), &initial);
        let ops = described.as_ref().map(|f| move |s| f.at(s));
        let (mut graph, root) = self.tree(
            "fold",
            move || Some(initial.clone()),
            move |acc: &mut Option<A>, t| fold_into(acc, t, &step),
            move |parts| merge_folds(parts, &combine),
            store::<Maybe<A>>(),
            ops.as_ref().map(|f| f as TreeOps<'_>),
        );
        let name = unique("fold");
        let key = TaskKey::new(name.clone(), 0);
        let kernel = some_kernel::<A>(root.clone(), key.clone());
        let data = described.map(|f| f.at(AggStep::Finish));
        graph.add_layer(
            name,
            vec![Task::new(key.clone(), vec![root], kernel).with_op_opt(data)],
        );
        Delayed::from_graph(Arc::new(graph), key)
    }

    /// `perpartition` on each whole partition, then `aggregate` over the partials, as a tree:
    /// `aggregate` also merges its own results, so it must accept them as input.
    ///
    /// With `perpartition` (`fn(Vec<T>) -> A`) and `aggregate` (`fn(Vec<A>) -> A`) written
    /// inside [`remote_fn!`](crate::remote_fn) and the bag's chain data, the graph can leave the
    /// process.
    ///
    /// ```
    /// use partita_collections::{remote_fn, Bag};
    /// use partita_runtime::encode_graph;
    ///
    /// let b = Bag::from_sequence(vec![3, 9, 4, 1], 3);
    /// let longest = b.reduction(|p| p.into_iter().max(), |ps| ps.into_iter().flatten().max());
    /// assert_eq!(longest.compute()?, Some(9));
    ///
    /// remote_fn! {
    ///     fn largest(part: Vec<i32>) -> i32 { part.into_iter().max().unwrap_or(i32::MIN) }
    /// }
    /// let shipped = b.reduction(largest, largest);
    /// assert!(encode_graph(&shipped.graph(), &[shipped.key().clone()]).is_ok());
    /// assert_eq!(shipped.compute()?, 9);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn reduction<A, P, G>(&self, perpartition: P, aggregate: G) -> Delayed<A>
    where
        A: Clone + Send + Sync + 'static,
        P: Fn(Vec<T>) -> A + Send + Sync + 'static,
        G: Fn(Vec<A>) -> A + Send + Sync + 'static,
    {
        let first = self.plan().zip(item_fn_name::<P>()).map(|(plan, f)| {
            let op = PerPartition {
                plan: plan.clone(),
                f: f.to_string(),
            };
            Operation::new(PerPartition::NAME, &op)
        });
        // Each partition's result is the tree's input, one `Some(perpartition(items))` per
        // partition, written as an `A` (a `Vec<A>` could have no codec).
        let mut graph = self.graph.clone();
        let parts = self.partition_layer(
            &mut graph,
            unique("map-partitions"),
            move |_, items| Ok(Portable::new::<Maybe<A>>(Some(perpartition(items)))),
            first,
        );
        let partials = Bag::from_partitions(graph, parts, self.npartitions, maybe_reader::<A>());
        let step = item_fn_name::<G>().map(|g| {
            move |step| {
                let op = Reduce {
                    aggregate_fn: g.to_string(),
                    step,
                };
                Operation::new(Reduce::NAME, &op)
            }
        });
        let (mut graph, root) = partials.tree(
            "reduction",
            || None,
            keep_last,
            move |parts| aggregate_parts(parts, &aggregate),
            store::<Maybe<A>>(),
            step.as_ref().map(|f| f as TreeOps<'_>),
        );
        let name = unique("reduction");
        let key = TaskKey::new(name.clone(), 0);
        let kernel = some_kernel::<A>(root.clone(), key.clone());
        let data = step.map(|f| f(AggStep::Finish));
        graph.add_layer(
            name,
            vec![Task::new(key.clone(), vec![root], kernel).with_op_opt(data)],
        );
        Delayed::from_graph(Arc::new(graph), key)
    }

    /// The number of items.
    pub fn count(&self) -> Delayed<u64> {
        if let Some((graph, root)) = self.described_tree("count", AggKind::Count) {
            return Delayed::from_graph(Arc::new(graph), root);
        }
        let (graph, root) = self.tree(
            "count",
            || 0_u64,
            |n, _| *n += 1,
            |ns| ns.iter().sum(),
            Store::plain(),
            None,
        );
        Delayed::from_graph(Arc::new(graph), root)
    }

    /// The sum of the items (`T::default()` for an empty bag).
    pub fn sum(&self) -> Delayed<T>
    where
        T: std::ops::Add<Output = T> + Default,
    {
        if let Some((graph, root)) = self.described_tree("sum", AggKind::Sum) {
            return Delayed::from_graph(Arc::new(graph), root);
        }
        let (graph, root) = self.tree(
            "sum",
            T::default,
            |acc: &mut T, t| *acc = std::mem::take(acc) + t,
            |parts| parts.into_iter().fold(T::default(), |a, b| a + b),
            Store::plain(),
            None,
        );
        Delayed::from_graph(Arc::new(graph), root)
    }

    /// The smallest item, or `None` for an empty bag.
    pub fn min(&self) -> Delayed<Option<T>>
    where
        T: Ord,
    {
        if let Some((graph, root)) = self.described_tree("min", AggKind::Min) {
            return Delayed::from_graph(Arc::new(graph), root);
        }
        self.extreme("min", |new, old| new < old)
    }

    /// The largest item, or `None` for an empty bag.
    pub fn max(&self) -> Delayed<Option<T>>
    where
        T: Ord,
    {
        if let Some((graph, root)) = self.described_tree("max", AggKind::Max) {
            return Delayed::from_graph(Arc::new(graph), root);
        }
        self.extreme("max", |new, old| new > old)
    }

    fn extreme(
        &self,
        op: &str,
        better: impl Fn(&T, &T) -> bool + Send + Sync + Copy + 'static,
    ) -> Delayed<Option<T>> {
        let (graph, root) = self.tree(
            op,
            || None,
            move |acc: &mut Option<T>, t| fold_extreme(acc, t, better),
            move |parts| merge_extremes(parts, better),
            Store::plain(),
            None,
        );
        Delayed::from_graph(Arc::new(graph), root)
    }

    /// The arithmetic mean, or `None` for an empty bag.
    ///
    /// ```
    /// let b = partita_collections::Bag::from_sequence(vec![1_u32, 2, 3, 4], 3);
    /// assert_eq!(b.mean().compute()?, Some(2.5));
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn mean(&self) -> Delayed<Option<f64>>
    where
        T: AsF64,
    {
        if let Some((mut graph, root)) = self.described_tree("mean", AggKind::Mean) {
            let name = unique("mean");
            let key = blockwise(&mut graph, &name, &MeanOf, [vec![root]]).swap_remove(0);
            return Delayed::from_graph(Arc::new(graph), key);
        }
        let (graph, root) = self.tree(
            "mean",
            || (0.0_f64, 0_u64),
            add_to_mean,
            merge_means,
            Store::plain(),
            None,
        );
        Delayed::<(f64, u64)>::from_graph(Arc::new(graph), root).map(mean_of_sum)
    }

    /// Each distinct item with the number of times it occurs, in one partition (in no particular
    /// order).
    ///
    /// ```
    /// let b = partita_collections::Bag::from_sequence(vec!["a", "b", "a"], 2);
    /// let mut f = b.frequencies().compute()?;
    /// f.sort();
    /// assert_eq!(f, vec![("a", 2), ("b", 1)]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn frequencies(&self) -> Bag<(T, u64)>
    where
        T: Hash + Eq,
    {
        // Bags of strings (word counts) get a table built for them; see `strcount.rs`.
        if let Some(strings) = (self as &dyn Any).downcast_ref::<Bag<String>>() {
            let counted: Box<dyn Any> = Box::new(strings.str_frequencies(whole_string));
            if let Ok(bag) = counted.downcast::<Bag<(T, u64)>>() {
                return *bag;
            }
        }
        if let Some((mut graph, root)) = self.described_tree("frequencies", AggKind::Frequencies) {
            let finish = Aggregate {
                kind: AggKind::Frequencies,
                step: AggStep::Finish,
                item: type_key(std::any::TypeId::of::<T>()),
                plan: None,
            };
            let name = unique("frequencies");
            blockwise(&mut graph, &name, &finish, [vec![root]]);
            return Bag::materialized(graph, name, 1);
        }
        let (graph, root) = self.tree(
            "frequencies",
            Counts::<T>::default,
            |counts, t| *counts.entry(t).or_insert(0) += 1,
            merge_counts,
            Store::plain(),
            None,
        );
        single(
            graph,
            root,
            "frequencies",
            |m: ItemMap<T, u64>| m.into_iter().collect(),
            Store::plain(),
            None,
        )
    }

    /// Counts the strings that `keys` finds in each item, borrowed from the item: each distinct
    /// string with the number of times it was found, in one partition (in no particular order).
    ///
    /// This is `flat_map(..).frequencies()` without making an owned item of every key: `keys`
    /// calls `count` with each key as a `&str` slice of the item, and only a key not seen before
    /// in a partition is copied. Word counts spend most of their time allocating the words
    /// otherwise.
    ///
    /// ```
    /// let lines = partita_collections::Bag::from_sequence(vec!["a b a", "", "b  c"], 2);
    /// let mut f = lines
    ///     .str_frequencies(|line, count| line.split_whitespace().for_each(count))
    ///     .compute()?;
    /// f.sort();
    /// assert_eq!(f, vec![("a".to_string(), 2), ("b".to_string(), 2), ("c".to_string(), 1)]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn str_frequencies<F>(&self, keys: F) -> Bag<(String, u64)>
    where
        F: Fn(&T, &mut dyn FnMut(&str)) + Send + Sync + 'static,
    {
        if let (Some(plan), Some(name)) = (self.plan(), item_fn_name::<F>()) {
            let partial = StrCountsPartial {
                plan: plan.clone(),
                keys: name.to_string(),
            };
            return self.described_str_frequencies(&partial);
        }
        let (graph, root) = self.tree(
            "frequencies",
            StrCounts::default,
            move |counts, item: T| keys(&item, &mut |key| counts.count(key)),
            merge_str_counts,
            Store::plain(),
            None,
        );
        single(
            graph,
            root,
            "frequencies",
            str_counts_items,
            Store::plain(),
            None,
        )
    }

    /// The `k` items with the largest `key`, largest first, in one partition. Among items with
    /// equal keys, which ones make the cut is unspecified.
    ///
    /// ```
    /// let b = partita_collections::Bag::from_sequence(vec![5, 1, 9, 3, 7], 2);
    /// assert_eq!(b.topk(2, |x| *x).compute()?, vec![9, 7]);
    /// assert_eq!(b.topk(2, |x| -x).compute()?, vec![1, 3]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn topk<K, F>(&self, k: usize, key: F) -> Bag<T>
    where
        K: Ord,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        if let (Some(plan), Some(name)) = (self.plan(), item_fn_name::<F>()) {
            return self.described_topk(plan.clone(), name, k);
        }
        let key = Arc::new(key);
        let (k1, k2, k3) = (key.clone(), key.clone(), key);
        let (graph, root) = self.tree(
            "topk",
            Vec::new,
            move |best: &mut Vec<T>, t| {
                best.push(t);
                if best.len() >= 2 * k.max(1) {
                    keep_top(best, k, &*k1);
                }
            },
            move |parts| {
                let mut all: Vec<T> = parts.into_iter().flatten().collect();
                keep_top(&mut all, k, &*k2);
                all
            },
            Store::plain(),
            None,
        );
        let finish = move |mut best: Vec<T>| {
            best.sort_by_key(|t| std::cmp::Reverse(k3(t)));
            best.truncate(k);
            best
        };
        single(graph, root, "topk", finish, Store::plain(), None)
    }

    /// Folds the items of each key separately: `binop` folds an item into its key's
    /// accumulator (starting from `initial`), and `combine` merges two accumulators of the same
    /// key. One partition of `(key, accumulator)` pairs, keys in order of first appearance.
    ///
    /// The graph can leave the process when `key` (`fn(&T) -> K`), `binop` (`fn(A, T) -> A`)
    /// and `combine` (`fn(A, A) -> A`) are written inside [`remote_fn!`](crate::remote_fn), the
    /// bag's chain is data, `A` has a registered value codec, and `K` is a built-in key type:
    /// `bool`, `char`, an integer up to 64 bits, `usize` or `String`. (The far side needs `K`
    /// and `A` together, and no one function names both, so the step's registry entry carries
    /// the kernels of each built-in key type.)
    ///
    /// ```
    /// use partita_collections::{remote_fn, Bag};
    /// use partita_runtime::encode_graph;
    ///
    /// let b = Bag::from_sequence(1..=10_u32, 3);
    /// let by_parity = b.foldby(|x| x % 2, |acc, x| acc + x, 0, |a, b| a + b);
    /// assert_eq!(by_parity.compute()?, vec![(1, 25), (0, 30)]);
    ///
    /// remote_fn! {
    ///     fn parity(x: &u32) -> u32 { x % 2 }
    /// }
    /// remote_fn! {
    ///     fn plus(acc: u32, x: u32) -> u32 { acc + x }
    /// }
    /// let shipped = b.foldby(parity, plus, 0, plus);
    /// assert!(encode_graph(&shipped.graph(), &shipped.keys()).is_ok());
    /// assert_eq!(shipped.compute()?, vec![(1, 25), (0, 30)]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn foldby<K, A, KF, B, C>(&self, key: KF, binop: B, initial: A, combine: C) -> Bag<(K, A)>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        A: Clone + Send + Sync + 'static,
        KF: Fn(&T) -> K + Send + Sync + 'static,
        B: Fn(A, T) -> A + Send + Sync + 'static,
        C: Fn(A, A) -> A + Send + Sync + 'static,
    {
        let described = FoldBy::describe::<KF, B, C, K, A>(self.plan(), &initial);
        let ops = described.as_ref().map(|f| move |s| f.at(s));
        let (graph, root) = self.tree(
            "foldby",
            Ordered::<K, A>::default,
            move |groups, t| foldby_step(groups, t, &key, &binop, &initial),
            move |parts| foldby_merge(parts, &combine),
            store::<Entries<K, A>>(),
            ops.as_ref().map(|f| f as TreeOps<'_>),
        );
        let data = described.map(|f| f.at(AggStep::Finish));
        single(
            graph,
            root,
            "foldby",
            foldby_pairs,
            store::<Entries<K, A>>(),
            data,
        )
    }
}

impl<T: Clone + Send + Sync + 'static> Bag<T> {
    /// The levels of [`tree`](Bag::tree) from operators: `partial` over each input partition
    /// (`empty` once when there is none), merged by `combine` `SPLIT_EVERY` at a time until one
    /// task remains, at least once. Returns the root's key.
    fn described_levels<P: Op, E: Op, C: Op>(
        &self,
        graph: &mut Graph,
        op: &str,
        partial: &P,
        empty: &E,
        combine: &C,
    ) -> TaskKey {
        let name = unique(&format!("{op}-partial"));
        let mut level = blockwise(graph, &name, partial, self.input_keys().map(|k| vec![k]));
        if level.is_empty() {
            let name = unique(&format!("{op}-empty"));
            level = blockwise(graph, &name, empty, [vec![]]);
        }
        let mut levels = 0;
        while level.len() > 1 || levels == 0 {
            levels += 1;
            let name = unique(&format!("{op}-combine"));
            level = blockwise(
                graph,
                &name,
                combine,
                level.chunks(SPLIT_EVERY).map(<[TaskKey]>::to_vec),
            );
        }
        level.swap_remove(0)
    }

    /// The tree of [`tree`](Bag::tree) from [`Aggregate`] operators, when the chain is data and
    /// the item type is registered for `kind`: the same partials, merges and root, so the same
    /// answer.
    fn described_tree(&self, op: &str, kind: AggKind) -> Option<(Graph, TaskKey)> {
        let plan = self.plan()?;
        if !can_aggregate::<T>(kind) {
            return None;
        }
        let item = type_key(std::any::TypeId::of::<T>());
        let step = |step, plan: Option<ReadPlan>| Aggregate {
            kind,
            step,
            item,
            plan,
        };
        let mut graph = self.graph.clone();
        let root = self.described_levels(
            &mut graph,
            op,
            &step(AggStep::Partial, Some(plan.clone())),
            &step(AggStep::Empty, None),
            &step(AggStep::Combine, None),
        );
        Some((graph, root))
    }

    /// `topk` from [`TopK`] operators: the tree of [`topk`](Bag::topk), then its finish.
    fn described_topk(&self, plan: ReadPlan, key: &str, k: usize) -> Bag<T> {
        let step = |step, plan| TopK {
            key: key.to_string(),
            k,
            step,
            plan,
        };
        let mut graph = self.graph.clone();
        let root = self.described_levels(
            &mut graph,
            "topk",
            &step(AggStep::Partial, Some(plan)),
            &step(AggStep::Empty, None),
            &step(AggStep::Combine, None),
        );
        let name = unique("topk");
        blockwise(
            &mut graph,
            &name,
            &step(AggStep::Finish, None),
            [vec![root]],
        );
        Bag::materialized(graph, name, 1)
    }

    /// `str_frequencies` from operators: the tree of partial string tables, then their items.
    fn described_str_frequencies(&self, partial: &StrCountsPartial) -> Bag<(String, u64)> {
        let mut graph = self.graph.clone();
        let root = self.described_levels(
            &mut graph,
            "frequencies",
            partial,
            &StrCountsMerge,
            &StrCountsMerge,
        );
        let name = unique("frequencies");
        blockwise(&mut graph, &name, &StrCountsItems, [vec![root]]);
        Bag::materialized(graph, name, 1)
    }
}

/// The mean from `mean()`'s `(sum, count)`.
fn mean_of_sum(&(sum, n): &(f64, u64)) -> Option<f64> {
    (n > 0).then(|| sum / n as f64)
}

/// `mean()`'s last step: the mean from the root's `(sum, count)`.
#[derive(Serialize, Deserialize)]
struct MeanOf;

impl Op for MeanOf {
    const NAME: &'static str = "bag.mean";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let [input] = cx.deps else {
            return Err(partita_runtime::Error::Wire {
                message: format!("{} reads one (sum, count), not {}", cx.key, cx.deps.len()),
            });
        };
        let input = input.clone();
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let acc = partita_runtime::downcast::<(f64, u64)>(&inputs[0], &input)?;
            Ok(value(mean_of_sum(acc)))
        }))
    }
}

register_op!(MeanOf);

/// Merges string-count tables (none: an empty table).
#[derive(Serialize, Deserialize)]
struct StrCountsMerge;

impl Op for StrCountsMerge {
    const NAME: &'static str = "bag.str_counts_merge";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let keys = cx.deps.to_vec();
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let parts = inputs
                .into_iter()
                .zip(&keys)
                .map(|(v, k)| downcast_owned::<StrCounts>(v, k))
                .collect::<partita_runtime::Result<Vec<StrCounts>>>()?;
            Ok(value(merge_str_counts(parts)))
        }))
    }
}

register_op!(StrCountsMerge);

/// A finished string-count table as `(key, count)` items.
#[derive(Serialize, Deserialize)]
struct StrCountsItems;

impl Op for StrCountsItems {
    const NAME: &'static str = "bag.str_counts_items";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let [input] = cx.deps else {
            return Err(partita_runtime::Error::Wire {
                message: format!("{} reads one table, not {}", cx.key, cx.deps.len()),
            });
        };
        let input = input.clone();
        Ok(Arc::new(move |mut inputs: Vec<Value>| {
            let counts = downcast_owned::<StrCounts>(inputs.swap_remove(0), &input)?;
            Ok(value(str_counts_items(counts)))
        }))
    }
}

register_op!(StrCountsItems);

/// The combine step of string counts: every table added into the first.
fn merge_str_counts(parts: Vec<StrCounts>) -> StrCounts {
    let mut parts = parts.into_iter();
    let mut total = parts.next().unwrap_or_default();
    total.flush();
    parts.for_each(|p| total.merge(p));
    total
}

/// The keys and counts of a finished table, as bag items.
fn str_counts_items(counts: StrCounts) -> Vec<(String, u64)> {
    counts.iter().collect()
}

/// Merges `b` into `a`, the smaller map into the larger.
fn merge_maps<K: Hash + Eq, V>(
    mut a: ItemMap<K, V>,
    mut b: ItemMap<K, V>,
    add: impl Fn(&mut V, V),
) -> ItemMap<K, V> {
    if a.len() < b.len() {
        std::mem::swap(&mut a, &mut b);
    }
    for (k, v) in b {
        match a.entry(k) {
            Entry::Occupied(mut e) => add(e.get_mut(), v),
            Entry::Vacant(e) => {
                e.insert(v);
            }
        }
    }
    a
}

/// A hash map that remembers the order keys first arrived in.
#[derive(Clone, Debug)]
pub(super) struct Ordered<K, V> {
    index: ItemMap<K, usize>,
    entries: Vec<(K, V)>,
}

impl<K, V> Default for Ordered<K, V> {
    fn default() -> Self {
        Ordered {
            index: ItemMap::default(),
            entries: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, V> Ordered<K, V> {
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(super) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let i = *self.index.get(k)?;
        Some(&mut self.entries[i].1)
    }

    /// Inserts a key that is not present yet.
    pub(super) fn insert_new(&mut self, k: K, v: V) {
        self.index.insert(k.clone(), self.entries.len());
        self.entries.push((k, v));
    }

    /// Appends `other`'s entries after this map's (merging values of shared keys with `merge`).
    fn absorb(&mut self, other: Ordered<K, V>, mut merge: impl FnMut(&mut V, V)) {
        for (k, v) in other.entries {
            match self.get_mut(&k) {
                Some(old) => merge(old, v),
                None => self.insert_new(k, v),
            }
        }
    }

    /// The entries of every map in turn, merging shared keys' values with `merge`.
    pub(super) fn concat(parts: Vec<Ordered<K, V>>, mut merge: impl FnMut(&mut V, V)) -> Self {
        let mut parts = parts.into_iter();
        let mut acc = parts.next().unwrap_or_default();
        for part in parts {
            acc.absorb(part, &mut merge);
        }
        acc
    }

    pub(super) fn into_pairs(self) -> impl Iterator<Item = (K, V)> {
        self.entries.into_iter()
    }

    /// The entries, in the order their keys first arrived.
    pub(super) fn entries(&self) -> &[(K, V)] {
        &self.entries
    }

    /// The table of `entries`, or `None` if a key comes twice.
    pub(super) fn from_entries(entries: Vec<(K, V)>) -> Option<Self> {
        let mut index = ItemMap::default();
        index.reserve(entries.len());
        for (i, (k, _)) in entries.iter().enumerate() {
            if index.insert(k.clone(), i).is_some() {
                return None;
            }
        }
        Some(Ordered { index, entries })
    }
}
