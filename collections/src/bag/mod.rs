//! Bag: a lazy, partitioned collection of arbitrary items, as `dask.bag` gives.
//!
//! A bag is a graph whose last layer holds its input partitions, plus a *reader*: the fused chain
//! of element-wise operations (`map`, `filter`, `flat_map`, ...) still to apply to each input
//! partition. Element-wise operations only extend the reader, so a chain of them costs one task
//! per partition, and items flow through the whole chain one at a time without intermediate
//! vectors. Operations that need whole partitions (`map_partitions`, `zip`, `repartition`,
//! reductions, `compute`) add a layer that runs the reader; the hash shuffles behind `groupby`
//! and `distinct` run it inside their split tasks.

mod codec;
mod fold;
mod plan;
mod portable;
mod reduce;
mod shuffle;
mod strcount;
#[doc(hidden)]
pub use self::fold::{
    aggregate_step, fold_step, per_partition, AggregateFn, FoldFn, FoldInput, NoAcc, NoSame,
    ViaAcc, ViaSame,
};
pub use self::plan::{ItemSource, ITEM_SOURCES};
pub use self::reduce::AsF64;
pub(crate) use self::reduce::{merge_counts, Counts};
pub(crate) use self::shuffle::distinct_fns;
#[doc(hidden)]
pub use self::shuffle::{groupby_step, GroupByFn, NoHashKey, ShuffleInput, ViaHashKey};
#[cfg(test)]
mod test;

use std::sync::Arc;

use partita_runtime::{
    downcast, encode_params, value, Graph, Kernel, Operation, Runtime, Task, TaskContext, TaskKey,
    Value, FIRST_INPUT,
};
use serde::{Deserialize, Serialize};

use self::plan::{Collect, MapPartitions, ReadPlan, SourceSpec};
use crate::delayed::Delayed;
use crate::error::Result;
use crate::item_fn::{is_item_type, item_fn_name, type_key, ItemUse, RepartitionInput};
use crate::layer::{blockwise, layer, register_op, Op};
use crate::names::unique;
use crate::partition_plan::{even_ranges, sources, Source};

/// Pushes the items of one input partition, through the fused element-wise chain, into `emit`.
pub type Reader<T> =
    Arc<dyn Fn(Value, &TaskKey, &mut dyn FnMut(T)) -> partita_runtime::Result<()> + Send + Sync>;

/// A lazy, partitioned collection of items.
///
/// ```
/// use partita_collections::Bag;
/// let b = Bag::from_sequence(1..=10_u64, 3);
/// let evens = b.filter(|x| x % 2 == 0).map(|x| x * 10);
/// assert_eq!(evens.compute()?, vec![20, 40, 60, 80, 100]);
/// assert_eq!(evens.sum().compute()?, 300);
/// # Ok::<(), partita_collections::Error>(())
/// ```
pub struct Bag<T> {
    graph: Graph,
    input: Arc<str>,
    npartitions: usize,
    reader: Reader<T>,
    /// The reader passes `Vec<T>` partitions through unchanged.
    materialized: bool,
    /// The name of the layer that materialises this bag, so that every clone of it names the
    /// same partitions.
    name: Arc<str>,
    /// The chain as data, when its source and every step can be rebuilt elsewhere.
    plan: Option<Arc<ReadPlan>>,
}

impl<T> Clone for Bag<T> {
    fn clone(&self) -> Self {
        Bag {
            graph: self.graph.clone(),
            input: self.input.clone(),
            npartitions: self.npartitions,
            reader: self.reader.clone(),
            materialized: self.materialized,
            name: self.name.clone(),
            plan: self.plan.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Bag<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bag")
            .field("type", &std::any::type_name::<T>())
            .field("npartitions", &self.npartitions)
            .field("input", &self.input)
            .field("layers", &self.graph.layers().len())
            .finish()
    }
}

/// The reader of a materialized partition (`Vec<T>`): moves the items out when nobody else
/// holds the partition, clones them otherwise.
pub(crate) fn vec_reader<T: Clone + Send + Sync + 'static>() -> Reader<T> {
    Arc::new(|v: Value, key: &TaskKey, emit: &mut dyn FnMut(T)| {
        downcast::<Vec<T>>(&v, key)?;
        match v.downcast::<Vec<T>>() {
            Ok(arc) => match Arc::try_unwrap(arc) {
                Ok(items) => items.into_iter().for_each(emit),
                Err(shared) => shared.iter().cloned().for_each(emit),
            },
            Err(_) => unreachable!("checked above"),
        }
        Ok(())
    })
}

impl<T: Clone + Send + Sync + 'static> Bag<T> {
    /// A bag over the partitions of layer `input` in `graph`, read by `reader`. Sources (such as
    /// text files) use this: their partitions can be any value the reader understands.
    pub fn from_partitions(
        graph: Graph,
        input: Arc<str>,
        npartitions: usize,
        reader: Reader<T>,
    ) -> Bag<T> {
        Bag {
            graph,
            input,
            npartitions,
            reader,
            materialized: false,
            name: unique("bag"),
            plan: None,
        }
    }

    /// The same bag, with its input partitions described as read by the registered item source
    /// `source` with `params` (see [`ItemSource`]), so that its layers can leave the process.
    /// Sources such as `read_text` use this; `source` must read exactly what the bag's reader
    /// reads.
    #[doc(hidden)]
    pub fn with_item_source(mut self, source: &str, params: &impl Serialize) -> Bag<T> {
        self.plan = encode_params(source, params).ok().map(|params| {
            Arc::new(ReadPlan {
                source: SourceSpec::Named {
                    name: source.to_string(),
                    params,
                },
                steps: Vec::new(),
            })
        });
        self
    }

    /// A bag whose partitions (`Vec<T>` values) are the tasks `(input, 0..npartitions)` of `graph`.
    fn materialized(graph: Graph, input: Arc<str>, npartitions: usize) -> Bag<T> {
        Bag {
            graph,
            name: input.clone(),
            input,
            npartitions,
            reader: vec_reader(),
            materialized: true,
            plan: Some(Arc::new(ReadPlan {
                source: SourceSpec::Vec,
                steps: Vec::new(),
            })),
        }
    }

    /// A bag of `items` in `npartitions` contiguous partitions of near-equal size.
    ///
    /// ```
    /// let b = partita_collections::Bag::from_sequence(vec!["a", "b", "c"], 2);
    /// assert_eq!(b.npartitions(), 2);
    /// assert_eq!(b.compute()?, vec!["a", "b", "c"]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn from_sequence(items: impl IntoIterator<Item = T>, npartitions: usize) -> Bag<T> {
        let items: Vec<T> = items.into_iter().collect();
        let name = unique("from-sequence");
        let tasks = even_ranges(items.len(), npartitions)
            .enumerate()
            .map(|(i, r)| {
                let part = value(items[r].to_vec());
                let op = Operation::literal_value(part.clone());
                Task::new(
                    TaskKey::new(name.clone(), i as u64),
                    vec![],
                    Arc::new(move |_| Ok(part.clone())),
                )
                .with_op_opt(op)
            })
            .collect();
        let mut graph = Graph::new();
        graph.add_layer(name.clone(), tasks);
        Bag::materialized(graph, name, npartitions.max(1))
    }

    /// A bag whose partitions are computed by delayed values, one partition each.
    ///
    /// ```
    /// use partita_collections::{delayed, Bag};
    /// let parts = vec![delayed(|| vec![1, 2]), delayed(|| vec![3])];
    /// assert_eq!(Bag::from_delayed(&parts).compute()?, vec![1, 2, 3]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn from_delayed(parts: &[Delayed<Vec<T>>]) -> Bag<T> {
        let mut graph = crate::delayed::graph_all(parts);
        let name = unique("from-delayed");
        let tasks = parts
            .iter()
            .enumerate()
            .map(|(i, d)| {
                Task::new(
                    TaskKey::new(name.clone(), i as u64),
                    vec![d.key().clone()],
                    Arc::new(|mut inputs: Vec<Value>| Ok(inputs.swap_remove(0))),
                )
                .with_op(Operation::new(FIRST_INPUT, &()))
            })
            .collect();
        graph.add_layer(name.clone(), tasks);
        Bag::materialized(graph, name, parts.len())
    }

    /// The number of partitions.
    pub fn npartitions(&self) -> usize {
        self.npartitions
    }

    /// The keys of the input partitions that the fused chain reads.
    fn input_keys(&self) -> impl Iterator<Item = TaskKey> + '_ {
        (0..self.npartitions as u64).map(|i| TaskKey::new(self.input.clone(), i))
    }

    /// The chain as data, when every part of it can leave the process.
    pub(crate) fn plan(&self) -> Option<&ReadPlan> {
        self.plan.as_deref()
    }

    /// Extends the fused element-wise chain with `stage`, which is the registered function
    /// `step` used as described when `F` is one.
    fn then<U: Clone + Send + Sync + 'static, F: 'static>(
        &self,
        usage: ItemUse,
        stage: impl Fn(T, &mut dyn FnMut(U)) + Send + Sync + 'static,
    ) -> Bag<U> {
        let prev = self.reader.clone();
        let plan = match (&self.plan, item_fn_name::<F>()) {
            (Some(plan), Some(name)) => {
                let mut plan = ReadPlan::clone(plan);
                plan.steps.push((usage, name.to_string()));
                Some(Arc::new(plan))
            }
            _ => None,
        };
        Bag {
            graph: self.graph.clone(),
            input: self.input.clone(),
            npartitions: self.npartitions,
            reader: Arc::new(move |v, key, emit| prev(v, key, &mut |t| stage(t, emit))),
            materialized: false,
            name: unique("bag"),
            plan,
        }
    }

    /// `f` applied to every item.
    pub fn map<U, F>(&self, f: F) -> Bag<U>
    where
        U: Clone + Send + Sync + 'static,
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        self.then::<U, F>(ItemUse::Map, move |t, emit| emit(f(t)))
    }

    /// The items for which `keep` is true.
    pub fn filter<F>(&self, keep: F) -> Bag<T>
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        self.then::<T, F>(ItemUse::Filter, move |t, emit| {
            if keep(&t) {
                emit(t)
            }
        })
    }

    /// Every item of every `f(item)`, in order.
    ///
    /// ```
    /// let lines = partita_collections::Bag::from_sequence(vec!["a b".to_string(), "c".into()], 2);
    /// let words = lines.flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>());
    /// assert_eq!(words.compute()?, vec!["a", "b", "c"]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn flat_map<U, I, F>(&self, f: F) -> Bag<U>
    where
        U: Clone + Send + Sync + 'static,
        I: IntoIterator<Item = U>,
        F: Fn(T) -> I + Send + Sync + 'static,
    {
        self.then::<U, F>(ItemUse::FlatMap, move |t, emit| {
            f(t).into_iter().for_each(&mut *emit)
        })
    }

    /// The items of every item, for a bag of collections.
    pub fn flatten<U>(&self) -> Bag<U>
    where
        T: IntoIterator<Item = U>,
        U: Clone + Send + Sync + 'static,
    {
        self.flat_map(|t| t)
    }

    /// One field of every item, through a key function: `pluck(|p| p.name.clone())` for a
    /// struct, `pluck(|t| t.1)` for a tuple.
    pub fn pluck<U, F>(&self, field: F) -> Bag<U>
    where
        U: Clone + Send + Sync + 'static,
        F: Fn(&T) -> U + Send + Sync + 'static,
    {
        self.then::<U, F>(ItemUse::Pluck, move |t, emit| emit(field(&t)))
    }

    /// A layer with one task per partition, each running `per_partition(output key, items)` over
    /// its input partition's items. Returns the layer's name.
    fn partition_layer<U: Send + Sync + 'static>(
        &self,
        graph: &mut Graph,
        name: Arc<str>,
        per_partition: impl Fn(&TaskKey, Vec<T>) -> partita_runtime::Result<U> + Send + Sync + 'static,
        op: Option<Operation>,
    ) -> Arc<str> {
        let reader = self.reader.clone();
        let per_partition = Arc::new(per_partition);
        let tasks = (0..self.npartitions)
            .map(|i| {
                let input = TaskKey::new(self.input.clone(), i as u64);
                let output = TaskKey::new(name.clone(), i as u64);
                let (reader, f, key, out) = (
                    reader.clone(),
                    per_partition.clone(),
                    input.clone(),
                    output.clone(),
                );
                let kernel: Kernel = Arc::new(move |mut inputs: Vec<Value>| {
                    let mut items = Vec::new();
                    reader(inputs.swap_remove(0), &key, &mut |t| items.push(t))?;
                    Ok(value(f(&out, items)?))
                });
                Task::new(output, vec![input], kernel).with_op_opt(op.clone())
            })
            .collect();
        graph.add_layer(name.clone(), tasks);
        name
    }

    /// The same bag with its partitions as plain `Vec<T>` values: runs the fused chain in a layer
    /// of its own, unless there is nothing to run.
    pub fn materialize(&self) -> Bag<T> {
        if self.materialized {
            return self.clone();
        }
        let mut graph = self.graph.clone();
        let name = match &self.plan {
            Some(plan)
                if !plan.steps.is_empty() || matches!(plan.source, SourceSpec::Named { .. }) =>
            {
                let op = Collect {
                    plan: ReadPlan::clone(plan),
                };
                blockwise(
                    &mut graph,
                    &self.name,
                    &op,
                    self.input_keys().map(|k| vec![k]),
                );
                self.name.clone()
            }
            _ => self.partition_layer(&mut graph, self.name.clone(), |_, items| Ok(items), None),
        };
        Bag::materialized(graph, name, self.npartitions)
    }

    /// `f` applied to each whole partition.
    ///
    /// ```
    /// let b = partita_collections::Bag::from_sequence(1..=6, 2);
    /// let sums = b.map_partitions(|part| vec![part.iter().sum::<i32>()]);
    /// assert_eq!(sums.compute()?, vec![6, 15]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn map_partitions<U, F>(&self, f: F) -> Bag<U>
    where
        U: Clone + Send + Sync + 'static,
        F: Fn(Vec<T>) -> Vec<U> + Send + Sync + 'static,
    {
        let mut graph = self.graph.clone();
        if let (Some(plan), Some(name)) = (&self.plan, item_fn_name::<F>()) {
            let op = MapPartitions {
                plan: ReadPlan::clone(plan),
                f: name.to_string(),
            };
            let layer = unique("map-partitions");
            blockwise(&mut graph, &layer, &op, self.input_keys().map(|k| vec![k]));
            return Bag::materialized(graph, layer, self.npartitions);
        }
        self.partitions_with(f, None)
    }

    /// `f` applied to each whole partition by a closure, its layer described by `op` when it
    /// can leave the process.
    fn partitions_with<U: Clone + Send + Sync + 'static>(
        &self,
        f: impl Fn(Vec<T>) -> Vec<U> + Send + Sync + 'static,
        op: Option<Operation>,
    ) -> Bag<U> {
        let mut graph = self.graph.clone();
        let name = self.partition_layer(
            &mut graph,
            unique("map-partitions"),
            move |_, items| Ok(f(items)),
            op,
        );
        Bag::materialized(graph, name, self.npartitions)
    }

    /// `f(index, items)` on each whole partition, where an error fails that partition's task
    /// with [`TaskFailed`](partita_runtime::Error::TaskFailed): an error type stays its typed
    /// source, a `String` or `&str` keeps its text. Sinks use this to write one file per
    /// partition.
    ///
    /// ```
    /// let b = partita_collections::Bag::from_sequence(vec!["1", "2", "x"], 3);
    /// let parsed = b.try_map_partitions(|i, part| {
    ///     part.iter().map(|s| s.parse::<i32>().map_err(|e| format!("partition {i}: {e}"))).collect()
    /// });
    /// let err = parsed.compute().unwrap_err().to_string();
    /// assert!(err.ends_with("failed: partition 2: invalid digit found in string"), "{err}");
    /// ```
    pub fn try_map_partitions<U, E, F>(&self, f: F) -> Bag<U>
    where
        U: Clone + Send + Sync + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        F: Fn(usize, Vec<T>) -> std::result::Result<Vec<U>, E> + Send + Sync + 'static,
    {
        let mut graph = self.graph.clone();
        let layer = self.partition_layer(
            &mut graph,
            unique("try-map-partitions"),
            move |key, items| {
                f(key.index() as usize, items)
                    .map_err(|e| partita_runtime::Error::failed_by(key.clone(), e))
            },
            None,
        );
        Bag::materialized(graph, layer, self.npartitions)
    }

    /// Pairs the items of two bags with the same partitioning, partition by partition.
    ///
    /// # Errors
    /// Computing fails with [`TaskFailed`](partita_runtime::Error::TaskFailed), naming the
    /// partition, if two partitions differ in length, and at once if the bags differ in
    /// partition count.
    pub fn zip<U: Clone + Send + Sync + 'static>(&self, other: &Bag<U>) -> Result<Bag<(T, U)>> {
        if self.npartitions != other.npartitions {
            return Err(partita_runtime::Error::failed(
                TaskKey::new(self.input.clone(), 0),
                format!(
                    "cannot zip bags with {} and {} partitions",
                    self.npartitions, other.npartitions
                ),
            )
            .into());
        }
        let (a, b) = (self.materialize(), other.materialize());
        let mut graph = a.graph.clone();
        graph.merge(&b.graph);
        let name = unique("zip");
        let tasks = (0..self.npartitions as u64)
            .map(|i| {
                let ka = TaskKey::new(a.input.clone(), i);
                let kb = TaskKey::new(b.input.clone(), i);
                let key = TaskKey::new(name.clone(), i);
                let (ra, rb, k) = (a.reader.clone(), b.reader.clone(), key.clone());
                let (ka2, kb2) = (ka.clone(), kb.clone());
                let kernel: Kernel = Arc::new(move |mut inputs: Vec<Value>| {
                    let (vb, va) = (inputs.pop(), inputs.pop());
                    let (mut xs, mut ys) = (Vec::new(), Vec::new());
                    if let (Some(va), Some(vb)) = (va, vb) {
                        ra(va, &ka2, &mut |t| xs.push(t))?;
                        rb(vb, &kb2, &mut |u| ys.push(u))?;
                    }
                    if xs.len() != ys.len() {
                        return Err(partita_runtime::Error::failed(
                            k.clone(),
                            format!(
                                "zip: partition {i} has {} items on the left and {} on the right",
                                xs.len(),
                                ys.len()
                            ),
                        ));
                    }
                    Ok(value(xs.into_iter().zip(ys).collect::<Vec<(T, U)>>()))
                });
                Task::new(key, vec![ka, kb], kernel)
            })
            .collect();
        graph.add_layer(name.clone(), tasks);
        Ok(Bag::materialized(graph, name, self.npartitions))
    }

    /// The same items in `n` partitions: neighbouring partitions are concatenated when `n` is
    /// smaller, and partitions are split evenly when it is larger. Order is kept.
    ///
    /// ```
    /// let b = partita_collections::Bag::from_sequence(0..10, 3).repartition(5);
    /// assert_eq!(b.npartitions(), 5);
    /// assert_eq!(b.compute()?, (0..10).collect::<Vec<_>>());
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn repartition(&self, n: usize) -> Bag<T> {
        let n = n.max(1);
        let src = self.materialize();
        let mut graph = src.graph.clone();
        let name = unique("repartition");
        let op = is_item_type::<T>().then(|| {
            let op = Repartition {
                item: type_key(std::any::TypeId::of::<T>()),
                from: src.npartitions,
                to: n,
            };
            Operation::new(Repartition::NAME, &op)
        });
        let tasks = sources(src.npartitions, n)
            .into_iter()
            .enumerate()
            .map(|(j, source)| {
                let deps: Vec<TaskKey> = source
                    .inputs
                    .clone()
                    .map(|i| TaskKey::new(src.input.clone(), i as u64))
                    .collect();
                let kernel = repartition_part(src.reader.clone(), deps.clone(), source);
                Task::new(TaskKey::new(name.clone(), j as u64), deps, kernel)
                    .with_op_opt(op.clone())
            })
            .collect();
        graph.add_layer(name.clone(), tasks);
        Bag::materialized(graph, name, n)
    }

    /// The task graph that computes the bag's partitions.
    pub fn graph(&self) -> Graph {
        self.materialize().graph
    }

    /// The keys of the bag's partitions in [`graph`](Self::graph). Every clone of a bag has the
    /// same keys.
    pub fn keys(&self) -> Vec<TaskKey> {
        let m = self.materialize();
        (0..m.npartitions as u64)
            .map(|i| TaskKey::new(m.input.clone(), i))
            .collect()
    }

    /// The task graph in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        self.graph().to_dot()
    }

    /// One delayed value per partition.
    pub fn to_delayed(&self) -> Vec<Delayed<Vec<T>>> {
        let m = self.materialize();
        let graph = Arc::new(m.graph.clone());
        (0..m.npartitions as u64)
            .map(|i| Delayed::from_graph(graph.clone(), TaskKey::new(m.input.clone(), i)))
            .collect()
    }

    /// Every item, in partition order, computed on the current runtime ([`Runtime::current`]).
    ///
    /// # Errors
    /// The first failed partition's error.
    pub fn compute(&self) -> Result<Vec<T>> {
        let m = self.materialize();
        let keys = m.keys();
        let parts = Runtime::current().compute(&m.graph, &keys)?;
        let mut out = Vec::new();
        for (v, k) in parts.into_iter().zip(&keys) {
            (m.reader)(v, k, &mut |t| out.push(t))?;
        }
        Ok(out)
    }

    /// Starts computing on the current runtime ([`Runtime::current`], chosen now, not when the
    /// future is polled) and returns a future of every item. The runtime's threads do the work,
    /// so awaiting it never blocks an async executor's threads.
    ///
    /// ```
    /// let rt = partita_runtime::Runtime::builder().threads(2).build()?;
    /// let items = rt.install(|| partita_collections::Bag::range(4, 2).compute_async());
    /// let got = tokio_free_block_on(items);
    /// # fn tokio_free_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     struct W(std::thread::Thread);
    /// #     impl std::task::Wake for W { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
    /// #     let waker = std::task::Waker::from(std::sync::Arc::new(W(std::thread::current())));
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v } std::thread::park() }
    /// # }
    /// assert_eq!(got?, vec![0, 1, 2, 3]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn compute_async(
        &self,
    ) -> impl std::future::Future<Output = Result<Vec<T>>> + Send + 'static {
        let m = self.materialize();
        let keys = m.keys();
        let handle = Runtime::current().compute_async(&m.graph, &keys);
        let reader = m.reader.clone();
        async move {
            let parts = handle.await?;
            let mut out = Vec::new();
            for (v, k) in parts.into_iter().zip(&keys) {
                reader(v, k, &mut |t| out.push(t))?;
            }
            Ok(out)
        }
    }

    /// The first `n` items, computing only the partitions needed to find them (on the current
    /// runtime, [`Runtime::current`]).
    ///
    /// # Errors
    /// The error of a partition it had to compute.
    pub fn take(&self, n: usize) -> Result<Vec<T>> {
        let runtime = Runtime::current();
        let m = self.materialize();
        let mut out = Vec::with_capacity(n);
        for key in m.keys() {
            if out.len() >= n {
                break;
            }
            let v = runtime
                .compute(&m.graph, std::slice::from_ref(&key))?
                .pop()
                .ok_or_else(|| partita_runtime::Error::MissingKey { key: key.clone() })?;
            (m.reader)(v, &key, &mut |t| {
                if out.len() < n {
                    out.push(t)
                }
            })?;
        }
        Ok(out)
    }

    /// Computes the partitions on the current runtime ([`Runtime::current`]) and keeps them in
    /// partition actors. The returned bag reads them; later operations do not recompute them.
    ///
    /// # Errors
    /// The first failed partition's error.
    pub fn persist(&self) -> Result<Bag<T>> {
        let m = self.materialize();
        let refs = Runtime::current().persist(&m.graph, &m.keys())?;
        let mut graph = Graph::new();
        graph.add_layer(
            m.input.clone(),
            refs.into_iter().map(Task::stored).collect(),
        );
        Ok(Bag::materialized(graph, m.input.clone(), m.npartitions))
    }
}

impl Bag<u64> {
    /// The integers `0..n` in `npartitions` partitions, generated inside the tasks.
    ///
    /// ```
    /// let b = partita_collections::Bag::range(5, 2);
    /// assert_eq!(b.compute()?, vec![0, 1, 2, 3, 4]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn range(n: u64, npartitions: usize) -> Bag<u64> {
        let name = unique("range");
        let mut graph = Graph::new();
        let tasks = even_ranges(n as usize, npartitions)
            .enumerate()
            .map(|(i, r)| {
                let op = Range {
                    start: r.start as u64,
                    end: r.end as u64,
                };
                (TaskKey::new(name.clone(), i as u64), vec![], op)
            });
        layer(&mut graph, &name, tasks);
        Bag::materialized(graph, name, npartitions.max(1))
    }
}

/// One output of `repartition`: the items of the inputs `keys`, sliced to the output's piece
/// when it is one of several cut from one input.
fn repartition_part<T: Send + Sync + 'static>(
    reader: Reader<T>,
    keys: Vec<TaskKey>,
    source: Source,
) -> Kernel {
    Arc::new(move |inputs: Vec<Value>| {
        let mut items = Vec::new();
        for (v, k) in inputs.into_iter().zip(&keys) {
            reader(v, k, &mut |t| items.push(t))?;
        }
        if source.pieces > 1 {
            items = items.drain(source.slice(items.len())).collect();
        }
        Ok(value(items))
    })
}

/// `repartition`'s kernel of one output, for items of type `T` (the far side's).
pub(crate) fn repartition_kernel<T: Clone + Send + Sync + 'static>(
    input: RepartitionInput,
) -> partita_runtime::Result<Kernel> {
    let source = sources(input.from, input.to)
        .into_iter()
        .nth(input.output)
        .filter(|s| s.inputs.len() == input.deps.len())
        .ok_or_else(|| {
            crate::item_fn::wire(format!(
                "output {} of a repartition from {} into {} partitions does not read {} inputs",
                input.output,
                input.from,
                input.to,
                input.deps.len()
            ))
        })?;
    Ok(repartition_part(vec_reader::<T>(), input.deps, source))
}

/// `repartition(to)` of a bag of `from` partitions of the registered item type numbered `item`.
#[derive(Serialize, Deserialize)]
struct Repartition {
    item: u64,
    from: usize,
    to: usize,
}

impl Op for Repartition {
    const NAME: &'static str = "bag.repartition";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let input = RepartitionInput {
            from: self.from,
            to: self.to,
            output: cx.key.index() as usize,
            deps: cx.deps.to_vec(),
        };
        (crate::item_fn::item_type(self.item)?.repartition)(input)
    }
}

register_op!(Repartition);

/// The partition of `Bag::range` holding `start..end`.
#[derive(Serialize, Deserialize)]
struct Range {
    start: u64,
    end: u64,
}

impl Op for Range {
    const NAME: &'static str = "bag.range";

    fn kernel(&self, _: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let (lo, hi) = (self.start, self.end);
        Ok(Arc::new(move |_| Ok(value((lo..hi).collect::<Vec<u64>>()))))
    }
}

register_op!(Range);
