//! Shuffle: moving pieces of every input partition straight to the output partitions that own
//! them, in O(inputs + outputs) tasks and edges.
//!
//! A shuffle adds four small layers to a graph:
//!
//! - `open`: one task that creates this computation's exchange, a receiving actor per output
//!   partition. Each compute of the graph opens a fresh exchange, so computing twice, or
//!   failing half-way, never mixes pieces.
//! - `split`: one task per input partition. It cuts its partition into pieces by output
//!   partition (a hash, a range: the collection decides) and sends each piece as a message to
//!   the receiver of that output, as soon as it is cut.
//! - `barrier`: one task that waits for every split.
//! - `assemble`: one task per output partition that finishes its receiver's state into the
//!   partition's value.
//!
//! A receiver folds the pieces it gets into its state as they arrive ([`ShuffleSpec::fold`]:
//! appending a piece, merging partial aggregates, ...). Its mailbox is bounded: a sender that
//! finds it full folds the waiting pieces itself before it sends more, so the pieces in flight
//! are bounded by `mailbox` per receiver whatever the speed of senders and receivers
//! (backpressure by work-sharing rather than blocking, so a pool of two workers can never
//! deadlock). The folded state is the output partition being built; that is where spilling to
//! disk will hook in.
//!
//! The mechanism knows nothing of what partitions hold: the DataFrame shuffle sends Arrow
//! record batches through it and the Bag shuffle sends vectors of items.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::graph::{Graph, Task, TaskKey};
use crate::value::{downcast, value, Value};

/// Cuts one input partition into pieces and sends each with `send(output, piece)`.
pub type SplitFn = Arc<
    dyn Fn(Value, &TaskKey, &mut dyn FnMut(usize, Value) -> Result<()>) -> Result<()> + Send + Sync,
>;

/// Folds pieces into an output's state: `(output, state so far, [(input, piece)])`, the pieces
/// in arrival order, each tagged with the input partition it came from.
pub type FoldFn =
    Arc<dyn Fn(usize, Option<Value>, Vec<(usize, Value)>) -> Result<Value> + Send + Sync>;

/// Turns an output's final state (`None` when it received nothing) into its partition.
pub type FinishFn = Arc<dyn Fn(usize, Option<Value>) -> Result<Value> + Send + Sync>;

/// What a shuffle does: how many outputs, how inputs split, how outputs assemble.
#[derive(Clone)]
pub struct ShuffleSpec {
    /// The prefix of the shuffle's layer names; the outputs are the keys `(name, 0..outputs)`.
    pub name: Arc<str>,
    /// The number of output partitions.
    pub outputs: usize,
    /// Cuts an input partition.
    pub split: SplitFn,
    /// Folds received pieces into an output's state.
    pub fold: FoldFn,
    /// Finishes an output's state into its partition.
    pub finish: FinishFn,
    /// Pieces a receiver's mailbox holds before senders fold them (at least 1).
    pub mailbox: usize,
}

impl std::fmt::Debug for ShuffleSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShuffleSpec")
            .field("name", &self.name)
            .field("outputs", &self.outputs)
            .field("mailbox", &self.mailbox)
            .finish()
    }
}

/// One output partition's receiving actor: a bounded mailbox and the state folded so far.
struct Receiver {
    mailbox: Mutex<Vec<(usize, Value)>>,
    state: Mutex<Option<Value>>,
}

/// One computation's receivers.
struct Exchange {
    receivers: Vec<Receiver>,
}

impl Exchange {
    fn new(outputs: usize) -> Exchange {
        Exchange {
            receivers: (0..outputs)
                .map(|_| Receiver {
                    mailbox: Mutex::new(Vec::new()),
                    state: Mutex::new(None),
                })
                .collect(),
        }
    }

    /// Delivers `piece` from input `from` to output `to`; when the mailbox is full, folds it
    /// into the state first.
    fn send(&self, spec: &ShuffleSpec, to: usize, from: usize, piece: Value) -> Result<()> {
        let r = self.receivers.get(to).ok_or_else(|| Error::TaskFailed {
            key: TaskKey::new(spec.name.clone(), to as u64),
            message: format!(
                "a split sent a piece to output {to} of a shuffle with {} outputs",
                spec.outputs
            ),
        })?;
        let full = {
            let mut mailbox = r.mailbox.lock();
            mailbox.push((from, piece));
            mailbox.len() >= spec.mailbox.max(1)
        };
        if full {
            self.drain(spec, to)?;
        }
        Ok(())
    }

    /// Folds output `to`'s waiting pieces into its state.
    fn drain(&self, spec: &ShuffleSpec, to: usize) -> Result<()> {
        let r = &self.receivers[to];
        // The state lock orders folds; pieces are taken under it so none is folded twice.
        let mut state = r.state.lock();
        let pieces = std::mem::take(&mut *r.mailbox.lock());
        if !pieces.is_empty() {
            *state = Some((spec.fold)(to, state.take(), pieces)?);
        }
        Ok(())
    }
}

/// Adds a shuffle of the partitions `inputs` to `graph` and returns the keys of its output
/// partitions, `(spec.name, 0..spec.outputs)`.
///
/// ```
/// use std::sync::Arc;
/// use partita_runtime::{add_shuffle, downcast, value, Graph, Runtime, ShuffleSpec, Task, TaskKey};
///
/// // Three partitions of numbers, moved so that output `k` holds the numbers `n % 2 == k`.
/// let mut g = Graph::new();
/// let inputs: Vec<TaskKey> = (0..3).map(|i| TaskKey::new("nums", i)).collect();
/// g.add_layer("nums", inputs.iter().map(|k| {
///     let part: Vec<u64> = (k.index() * 10..k.index() * 10 + 10).collect();
///     Task::new(k.clone(), vec![], Arc::new(move |_| Ok(value(part.clone()))))
/// }).collect());
/// let spec = ShuffleSpec {
///     name: "parity".into(),
///     outputs: 2,
///     split: Arc::new(|v, key, send| {
///         let nums = downcast::<Vec<u64>>(&v, key)?;
///         for k in 0..2 {
///             send(k, value(nums.iter().copied().filter(|n| n % 2 == k as u64).collect::<Vec<_>>()))?;
///         }
///         Ok(())
///     }),
///     fold: Arc::new(|_, state, pieces| {
///         let mut all: Vec<(usize, Vec<u64>)> = state
///             .map(|s| s.downcast_ref::<Vec<(usize, Vec<u64>)>>().unwrap().clone())
///             .unwrap_or_default();
///         for (from, p) in pieces {
///             all.push((from, p.downcast_ref::<Vec<u64>>().unwrap().clone()));
///         }
///         Ok(value(all))
///     }),
///     finish: Arc::new(|_, state| {
///         let mut all = state
///             .map(|s| s.downcast_ref::<Vec<(usize, Vec<u64>)>>().unwrap().clone())
///             .unwrap_or_default();
///         all.sort_by_key(|(from, _)| *from);
///         Ok(value(all.into_iter().flat_map(|(_, p)| p).collect::<Vec<u64>>()))
///     }),
///     mailbox: 4,
/// };
/// let outs = add_shuffle(&mut g, &inputs, &spec);
/// let got = Runtime::builder().threads(2).build()?.compute(&g, &outs)?;
/// let even = got[0].downcast_ref::<Vec<u64>>().unwrap();
/// assert_eq!(even, &(0..30).filter(|n| n % 2 == 0).collect::<Vec<u64>>());
/// # Ok::<(), partita_runtime::Error>(())
/// ```
pub fn add_shuffle(graph: &mut Graph, inputs: &[TaskKey], spec: &ShuffleSpec) -> Vec<TaskKey> {
    let name = &spec.name;
    let open = TaskKey::new(format!("{name}-open"), 0);
    let outputs = spec.outputs;
    graph.add_layer(
        open.name().to_string(),
        vec![Task::new(
            open.clone(),
            vec![],
            Arc::new(move |_| Ok(value(Arc::new(Exchange::new(outputs))))),
        )],
    );
    let split_name: Arc<str> = format!("{name}-split").into();
    let splits: Vec<Task> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let (spec, key, open_key) = (spec.clone(), input.clone(), open.clone());
            Task::new(
                TaskKey::new(split_name.clone(), i as u64),
                vec![input.clone(), open.clone()],
                Arc::new(move |mut vals: Vec<Value>| {
                    let exchange = downcast::<Arc<Exchange>>(&vals[1], &open_key)?.clone();
                    let part = vals.swap_remove(0);
                    (spec.split)(part, &key, &mut |to, piece| {
                        exchange.send(&spec, to, i, piece)
                    })?;
                    Ok(value(()))
                }),
            )
        })
        .collect();
    let split_keys: Vec<TaskKey> = splits.iter().map(|t| t.key().clone()).collect();
    graph.add_layer(split_name, splits);
    let barrier = TaskKey::new(format!("{name}-barrier"), 0);
    let mut deps = vec![open.clone()];
    deps.extend(split_keys);
    graph.add_layer(
        barrier.name().to_string(),
        vec![Task::new(
            barrier.clone(),
            deps,
            Arc::new(|mut vals: Vec<Value>| Ok(vals.swap_remove(0))),
        )],
    );
    let tasks = (0..outputs)
        .map(|j| {
            let (spec, b) = (spec.clone(), barrier.clone());
            Task::new(
                TaskKey::new(name.clone(), j as u64),
                vec![barrier.clone()],
                Arc::new(move |vals: Vec<Value>| {
                    let exchange = downcast::<Arc<Exchange>>(&vals[0], &b)?;
                    exchange.drain(&spec, j)?;
                    let state = exchange.receivers[j].state.lock().take();
                    (spec.finish)(j, state)
                }),
            )
        })
        .collect();
    graph.add_layer(name.to_string(), tasks);
    (0..outputs as u64)
        .map(|j| TaskKey::new(name.clone(), j))
        .collect()
}
