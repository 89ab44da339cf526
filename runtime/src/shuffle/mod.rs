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
//!
//! **Shuffles as data.** The split, fold and finish are closures, which no other process can
//! run. A shuffle that may leave the process is therefore also *described*:
//! [`ShuffleSpec::op`] is an [`Operation`] naming a [`ShuffleKind`], an entry of the link-time
//! registry [`SHUFFLE_KINDS`] (added with [`register_shuffle!`](crate::register_shuffle)) that
//! builds the three functions from the operation's parameters. With a description, the four
//! layers carry operations of their own:
//!
//! - `open` is `partita.shuffle.open`, its parameter the number of outputs;
//! - `split` and `assemble` are `partita.shuffle.split` and `partita.shuffle.assemble`, whose
//!   parameters are the spec's name, outputs and mailbox with the kind's name and parameters
//!   (each task's input or output number is its key's index);
//! - `barrier` passes its first input on ([`FIRST_INPUT`](crate::FIRST_INPUT)).
//!
//! The far side rebuilds the spec through the kind and the same kernels around it. A spec
//! without a description still runs locally; shipping its graph fails naming its layers.
//!
//! **Across processes.** The exchange lives in one process. A graph whose tasks run on several
//! (a cluster), or that proves it could (a runtime that round-trips values), has its described
//! shuffles rewritten so that their pieces travel as values ([`as_values`]).

mod as_values;

use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::graph::{Graph, Task, TaskKey};
use crate::remote::{decode_params, NameIndex, Operation, TaskContext, FIRST_INPUT};
use crate::value::{downcast, value, Kernel, Value};

pub(crate) use self::as_values::pieces_as_values;

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
    /// What `split`, `fold` and `finish` do, as data: an operation naming a registered
    /// [`ShuffleKind`] that builds the same three functions from its parameters. `None` keeps
    /// the shuffle local to this process.
    pub op: Option<Operation>,
}

/// The three functions of a shuffle, as a [`ShuffleKind`] builds them.
#[derive(Clone)]
pub struct ShuffleFns {
    /// Cuts an input partition.
    pub split: SplitFn,
    /// Folds received pieces into an output's state.
    pub fold: FoldFn,
    /// Finishes an output's state into its partition.
    pub finish: FinishFn,
}

impl std::fmt::Debug for ShuffleFns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShuffleFns")
    }
}

/// A registered kind of shuffle: a stable name, and how to build its functions from the
/// parameters a graph carries. Register one with [`register_shuffle!`](crate::register_shuffle).
#[derive(Debug)]
pub struct ShuffleKind {
    /// The stable name, unique in the executable.
    pub name: &'static str,
    /// Builds the split, fold and finish from the parameters.
    ///
    /// # Errors
    /// Malformed parameters; never a panic.
    pub build: fn(&[u8]) -> Result<ShuffleFns>,
}

/// Every shuffle kind linked into the executable.
// The slice lives in a link section that linkme declares; no unsafe code is written here.
#[allow(unsafe_code)]
#[linkme::distributed_slice]
pub static SHUFFLE_KINDS: [ShuffleKind];

/// The shuffle kind registered as `name`.
///
/// # Errors
/// [`Error::Wire`] if no kind, or more than one, has that name.
pub fn shuffle_kind(name: &str) -> Result<&'static ShuffleKind> {
    static BY_NAME: std::sync::OnceLock<NameIndex<ShuffleKind>> = std::sync::OnceLock::new();
    BY_NAME
        .get_or_init(|| NameIndex::new(&SHUFFLE_KINDS, |k| k.name))
        .get("shuffle kind", name)
}

/// Registers a kind of shuffle under a stable name, at link time: `build` is a
/// `fn(&[u8]) -> Result<ShuffleFns>` that decodes the parameters (with
/// [`decode_params`](crate::decode_params)) and returns the split, fold and finish.
///
/// ```
/// use std::sync::Arc;
/// use partita_runtime::{
///     add_shuffle, decode_graph, encode_graph, register_shuffle, shuffle_kind, value, Graph,
///     Operation, Result, ShuffleFns, ShuffleSpec,
/// };
///
/// // Every input's one value goes to output `value % outputs`; outputs count what they get.
/// fn build(params: &[u8]) -> Result<ShuffleFns> {
///     let outputs: u64 = partita_runtime::decode_params("doc.count", params)?;
///     Ok(ShuffleFns {
///         split: Arc::new(move |v, key, send| {
///             send((*partita_runtime::downcast::<u64>(&v, key)? % outputs) as usize, v.clone())
///         }),
///         fold: Arc::new(|_, state, pieces| {
///             let before = state.map_or(0, |s| *s.downcast_ref::<u64>().unwrap_or(&0));
///             Ok(value(before + pieces.len() as u64))
///         }),
///         finish: Arc::new(|_, state| Ok(state.unwrap_or_else(|| value(0_u64)))),
///     })
/// }
/// register_shuffle!("doc.count", build);
///
/// let op = Operation::new("doc.count", &2_u64);
/// let fns = (shuffle_kind("doc.count")?.build)(&op.params()?)?;
/// let spec = ShuffleSpec {
///     name: "counted".into(),
///     outputs: 2,
///     split: fns.split,
///     fold: fns.fold,
///     finish: fns.finish,
///     mailbox: 4,
///     op: Some(op),
/// };
/// let mut g = Graph::new();
/// let inputs = (0..3).map(|i| {
///     let key = partita_runtime::TaskKey::new("n", i);
///     let lit = Operation::literal(&i).unwrap();
///     (key.clone(), lit)
/// }).collect::<Vec<_>>();
/// g.add_layer("n", inputs.iter().map(|(k, lit)| {
///     partita_runtime::Task::new(k.clone(), vec![], lit.build(k, &[]).unwrap()).with_op(lit.clone())
/// }).collect());
/// let keys: Vec<_> = inputs.into_iter().map(|(k, _)| k).collect();
/// let outs = add_shuffle(&mut g, &keys, &spec);
/// // The graph, shuffle included, leaves the process.
/// let (back, outputs) = decode_graph(&encode_graph(&g, &outs)?)?;
/// let rt = partita_runtime::Runtime::builder().threads(2).build()?;
/// let got = rt.compute(&back, &outputs)?;
/// assert_eq!(*got[0].downcast_ref::<u64>().unwrap(), 2); // 0 and 2
/// assert_eq!(*got[1].downcast_ref::<u64>().unwrap(), 1); // 1
/// # Ok::<(), partita_runtime::Error>(())
/// ```
#[macro_export]
macro_rules! register_shuffle {
    ($name:expr, $build:expr) => {
        // A link-time entry of the slice (linkme places it in the slice's link section).
        #[allow(unsafe_code)]
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::SHUFFLE_KINDS)]
            #[linkme(crate = $crate::__private::linkme)]
            static SHUFFLE_KIND: $crate::ShuffleKind = $crate::ShuffleKind {
                name: $name,
                build: $build,
            };
        };
    };
}

/// The operator of a described shuffle's `open` task.
const OPEN: &str = "partita.shuffle.open";
/// The operator of a described shuffle's `split` tasks.
const SPLIT: &str = "partita.shuffle.split";
/// The operator of a described shuffle's `assemble` tasks.
const ASSEMBLE: &str = "partita.shuffle.assemble";

/// A described spec as its split and assemble tasks carry it.
#[derive(Serialize, Deserialize)]
struct WireSpec {
    name: String,
    outputs: usize,
    mailbox: usize,
    kind: String,
    params: Vec<u8>,
}

impl WireSpec {
    /// The description of `spec`, if it has one that can be encoded.
    fn of(spec: &ShuffleSpec) -> Option<WireSpec> {
        let op = spec.op.as_ref()?;
        Some(WireSpec {
            name: spec.name.to_string(),
            outputs: spec.outputs,
            mailbox: spec.mailbox,
            kind: op.name().to_string(),
            params: op.params().ok()?,
        })
    }

    /// The spec again, its functions built by its kind.
    fn spec(&self) -> Result<ShuffleSpec> {
        let fns = (shuffle_kind(&self.kind)?.build)(&self.params)?;
        Ok(ShuffleSpec {
            name: self.name.as_str().into(),
            outputs: self.outputs,
            split: fns.split,
            fold: fns.fold,
            finish: fns.finish,
            mailbox: self.mailbox,
            op: None,
        })
    }
}

fn arity(cx: TaskContext<'_>, n: usize, what: &str) -> Result<()> {
    if cx.deps.len() == n {
        Ok(())
    } else {
        Err(Error::wire(format!(
            "{what} task {} has {} inputs, not {n}",
            cx.key,
            cx.deps.len()
        )))
    }
}

fn build_open(cx: TaskContext<'_>, params: &[u8]) -> Result<Kernel> {
    let outputs: usize = decode_params(OPEN, params)?;
    arity(cx, 0, OPEN)?;
    Ok(open_kernel(outputs))
}

fn build_split(cx: TaskContext<'_>, params: &[u8]) -> Result<Kernel> {
    let wire: WireSpec = decode_params(SPLIT, params)?;
    arity(cx, 2, SPLIT)?;
    Ok(split_kernel(
        Arc::new(wire.spec()?),
        cx.key.index() as usize,
        cx.deps[0].clone(),
        cx.deps[1].clone(),
    ))
}

fn build_assemble(cx: TaskContext<'_>, params: &[u8]) -> Result<Kernel> {
    let wire: WireSpec = decode_params(ASSEMBLE, params)?;
    arity(cx, 1, ASSEMBLE)?;
    let j = cx.key.index() as usize;
    if j >= wire.outputs {
        return Err(Error::wire(format!(
            "{ASSEMBLE} task {} of a shuffle with {} outputs",
            cx.key, wire.outputs
        )));
    }
    Ok(assemble_kernel(
        Arc::new(wire.spec()?),
        j,
        cx.deps[0].clone(),
    ))
}

crate::register_operator!(OPEN, build_open);
crate::register_operator!(SPLIT, build_split);
crate::register_operator!(ASSEMBLE, build_assemble);

/// The kernel that opens a fresh exchange of `outputs` receivers.
fn open_kernel(outputs: usize) -> Kernel {
    Arc::new(move |_| Ok(value(Arc::new(Exchange::new(outputs)))))
}

/// The kernel of split task `i`: cuts input `input` and sends its pieces to the exchange
/// opened by `open`.
fn split_kernel(spec: Arc<ShuffleSpec>, i: usize, input: TaskKey, open: TaskKey) -> Kernel {
    Arc::new(move |mut vals: Vec<Value>| {
        let exchange = downcast::<Arc<Exchange>>(&vals[1], &open)?.clone();
        let part = vals.swap_remove(0);
        (spec.split)(part, &input, &mut |to, piece| {
            exchange.send(&spec, to, i, piece)
        })?;
        Ok(value(()))
    })
}

/// The kernel of assemble task `j`: finishes output `j`'s state, once `barrier` has passed.
fn assemble_kernel(spec: Arc<ShuffleSpec>, j: usize, barrier: TaskKey) -> Kernel {
    Arc::new(move |vals: Vec<Value>| {
        let exchange = downcast::<Arc<Exchange>>(&vals[0], &barrier)?;
        exchange.drain(&spec, j)?;
        let state = exchange.receivers[j].state.lock().take();
        (spec.finish)(j, state)
    })
}

impl std::fmt::Debug for ShuffleSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShuffleSpec")
            .field("name", &self.name)
            .field("outputs", &self.outputs)
            .field("mailbox", &self.mailbox)
            .field("op", &self.op)
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
        let r = self.receivers.get(to).ok_or_else(|| {
            Error::failed(
                TaskKey::new(spec.name.clone(), to as u64),
                format!(
                    "a split sent a piece to output {to} of a shuffle with {} outputs",
                    spec.outputs
                ),
            )
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
///     op: None,
/// };
/// let outs = add_shuffle(&mut g, &inputs, &spec);
/// let got = Runtime::builder().threads(2).build()?.compute(&g, &outs)?;
/// let even = got[0].downcast_ref::<Vec<u64>>().unwrap();
/// assert_eq!(even, &(0..30).filter(|n| n % 2 == 0).collect::<Vec<u64>>());
/// # Ok::<(), partita_runtime::Error>(())
/// ```
pub fn add_shuffle(graph: &mut Graph, inputs: &[TaskKey], spec: &ShuffleSpec) -> Vec<TaskKey> {
    let name = &spec.name;
    let wire = WireSpec::of(spec);
    let described = |name: &'static str| wire.as_ref().map(|w| Operation::new(name, w));
    let (split_op, assemble_op) = (described(SPLIT), described(ASSEMBLE));
    let has_op = wire.is_some();
    let open = TaskKey::new(format!("{name}-open"), 0);
    let outputs = spec.outputs;
    graph.add_layer(
        open.name().to_string(),
        vec![Task::new(open.clone(), vec![], open_kernel(outputs))
            .with_op_opt(has_op.then(|| Operation::new(OPEN, &outputs)))],
    );
    let shared = Arc::new(spec.clone());
    let split_name: Arc<str> = format!("{name}-split").into();
    let splits: Vec<Task> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let kernel = split_kernel(shared.clone(), i, input.clone(), open.clone());
            Task::new(
                TaskKey::new(split_name.clone(), i as u64),
                vec![input.clone(), open.clone()],
                kernel,
            )
            .with_op_opt(split_op.clone())
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
        )
        .with_op_opt(has_op.then(|| Operation::new(FIRST_INPUT, &())))],
    );
    let tasks = (0..outputs)
        .map(|j| {
            Task::new(
                TaskKey::new(name.clone(), j as u64),
                vec![barrier.clone()],
                assemble_kernel(shared.clone(), j, barrier.clone()),
            )
            .with_op_opt(assemble_op.clone())
        })
        .collect();
    graph.add_layer(name.to_string(), tasks);
    (0..outputs as u64)
        .map(|j| TaskKey::new(name.clone(), j))
        .collect()
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::remote::{decode_outcome, encode_graph, serve_graph};
    use crate::runtime::Runtime;

    /// Output `k` of `outputs` gets the numbers `n % outputs == k`, in input order.
    fn modulo(params: &[u8]) -> Result<ShuffleFns> {
        let outputs: usize = decode_params("test.modulo", params)?;
        Ok(ShuffleFns {
            split: Arc::new(move |v, key, send| {
                let nums = downcast::<Vec<u64>>(&v, key)?;
                for k in 0..outputs {
                    let piece: Vec<u64> = nums
                        .iter()
                        .copied()
                        .filter(|n| *n as usize % outputs == k)
                        .collect();
                    send(k, value(piece))?;
                }
                Ok(())
            }),
            fold: Arc::new(|to, state, pieces| {
                let key = TaskKey::new("test.modulo", to as u64);
                let mut all: Vec<(usize, Vec<u64>)> = match state {
                    Some(s) => downcast::<Vec<(usize, Vec<u64>)>>(&s, &key)?.clone(),
                    None => Vec::new(),
                };
                for (from, p) in pieces {
                    all.push((from, downcast::<Vec<u64>>(&p, &key)?.clone()));
                }
                Ok(value(all))
            }),
            finish: Arc::new(|to, state| {
                let key = TaskKey::new("test.modulo", to as u64);
                let mut all: Vec<(usize, Vec<u64>)> = match state {
                    Some(s) => downcast::<Vec<(usize, Vec<u64>)>>(&s, &key)?.clone(),
                    None => Vec::new(),
                };
                all.sort_by_key(|(from, _)| *from);
                Ok(value(
                    all.into_iter().flat_map(|(_, p)| p).collect::<Vec<u64>>(),
                ))
            }),
        })
    }
    crate::register_shuffle!("test.modulo", modulo);

    /// Four partitions of numbers, shuffled by `n % 3`, described or not.
    fn graph(described: bool) -> (Graph, Vec<TaskKey>) {
        let mut g = Graph::new();
        let inputs: Vec<TaskKey> = (0..4).map(|i| TaskKey::new("nums", i)).collect();
        let tasks = inputs
            .iter()
            .map(|k| {
                let part: Vec<u64> = (k.index() * 25..k.index() * 25 + 25).collect();
                let op = Operation::literal(&part).expect("Vec<u64> has a codec");
                Task::new(k.clone(), vec![], op.build(k, &[]).expect("builds")).with_op(op)
            })
            .collect();
        g.add_layer("nums", tasks);
        let op = Operation::new("test.modulo", &3_usize);
        let fns = modulo(&op.params().expect("params")).expect("builds");
        let spec = ShuffleSpec {
            name: "mod3".into(),
            outputs: 3,
            split: fns.split,
            fold: fns.fold,
            finish: fns.finish,
            mailbox: 2,
            op: described.then_some(op),
        };
        let outs = add_shuffle(&mut g, &inputs, &spec);
        (g, outs)
    }

    #[test]
    fn a_described_shuffle_round_trips() {
        let (g, outs) = graph(true);
        let rt = Runtime::builder().threads(2).build().expect("runtime");
        let local = rt.compute(&g, &outs).expect("computes");
        let reply = serve_graph(&rt, &encode_graph(&g, &outs).expect("encodes"));
        let remote = decode_outcome(&reply).expect("computes remotely");
        assert_eq!(remote.len(), 3);
        for (k, ((key, v), l)) in remote.iter().zip(&local).enumerate() {
            assert_eq!(key, &outs[k]);
            let want: Vec<u64> = (0..100).filter(|n| n % 3 == k as u64).collect();
            assert_eq!(v.downcast_ref::<Vec<u64>>(), Some(&want));
            assert_eq!(l.downcast_ref::<Vec<u64>>(), Some(&want));
        }
    }

    #[test]
    fn an_undescribed_shuffle_is_refused_naming_its_layer() {
        let (g, outs) = graph(false);
        match encode_graph(&g, &outs) {
            Err(Error::NotTransportable { layer, .. }) => assert_eq!(layer, "mod3-open"),
            other => panic!("expected NotTransportable, got {other:?}"),
        }
    }

    #[test]
    fn malformed_shuffle_parameters_are_refused() {
        let key = TaskKey::new("mod3-split", 0);
        let deps = [TaskKey::new("nums", 0), TaskKey::new("mod3-open", 0)];
        assert!(Operation::new(SPLIT, &7_u8).build(&key, &deps).is_err());
        let wire = WireSpec {
            name: "mod3".into(),
            outputs: 3,
            mailbox: 2,
            kind: "no.such.kind".into(),
            params: vec![],
        };
        assert!(Operation::new(SPLIT, &wire).build(&key, &deps).is_err());
        let key = TaskKey::new("mod3", 5);
        let wire = WireSpec {
            kind: "test.modulo".into(),
            params: Operation::new("x", &3_usize).params().expect("params"),
            ..wire
        };
        let barrier = [TaskKey::new("mod3-barrier", 0)];
        assert!(Operation::new(ASSEMBLE, &wire)
            .build(&key, &barrier)
            .is_err());
    }
}
