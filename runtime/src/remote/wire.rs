//! Graphs, results and errors as bytes.
//!
//! A shipped graph is `b"PTGR"`, a little-endian `u16` format version, then the bincode of its
//! body: the sender's [`BuildId`], the distinct operations (name and parameters), the layers with
//! each task's key, inputs and operation index, and the requested output keys. A persisted
//! partition travels as a literal of its value. An [`Outcome`](encode_outcome) carries either
//! every requested value as `(codec, bytes)` or the failure as kind, message and key chain.
//!
//! Decoding checks everything it reads: the magic, the version, the build id, every index, every
//! operator and codec name. Bytes from outside give an error, never a panic.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::graph::{Graph, Task, TaskKey, TaskKind};
use crate::remote::build_id::BuildId;
use crate::remote::operation::{
    config, decode_params, operator, Operation, TaskContext, PERSISTED,
};
use crate::remote::value_codec::{decode_value, encode_value};
use crate::runtime::Runtime;
use crate::value::Value;

const GRAPH_MAGIC: [u8; 4] = *b"PTGR";
const OUTCOME_MAGIC: [u8; 4] = *b"PTOC";

/// The format version written into every shipped graph and outcome.
pub const WIRE_VERSION: u16 = 1;

#[derive(Serialize, Deserialize)]
struct WireGraph {
    build: BuildId,
    ops: Vec<(String, Vec<u8>)>,
    layers: Vec<WireLayer>,
    outputs: Vec<TaskKey>,
}

#[derive(Serialize, Deserialize)]
struct WireLayer {
    name: String,
    tasks: Vec<WireTask>,
}

#[derive(Serialize, Deserialize)]
struct WireTask {
    key: TaskKey,
    deps: Vec<TaskKey>,
    op: u32,
}

/// A failure as it crosses a process boundary.
#[derive(Serialize, Deserialize)]
struct WireError {
    kind: String,
    message: String,
    keys: Vec<TaskKey>,
}

#[derive(Serialize, Deserialize)]
enum WireOutcome {
    Values(Vec<(TaskKey, String, Vec<u8>)>),
    Failed(WireError),
}

const FIX: &str = "register the function with partita::remote_fn! and pass it by name, \
                   or build the layer from built-in operations";

/// The graph `graph`, with `outputs` as the keys to compute, as bytes another process of the
/// same executable can run.
///
/// # Errors
/// [`Error::NotTransportable`] naming the layer and task of the first task that cannot leave the
/// process (a plain closure, or a literal whose type has no codec), before anything is written.
///
/// ```
/// use partita_runtime::{decode_graph, encode_graph, Graph, Operation, Runtime, Task, TaskKey};
/// use std::sync::Arc;
///
/// let key = TaskKey::new("x", 0);
/// let op = Operation::literal(&7_u64).unwrap();
/// let mut g = Graph::new();
/// g.add_layer("x", vec![Task::new(key.clone(), vec![], op.build(&key, &[])?).with_op(op)]);
/// let bytes = encode_graph(&g, &[key.clone()])?;
/// let (back, outputs) = decode_graph(&bytes)?;
/// let rt = Runtime::builder().threads(1).build()?;
/// assert_eq!(*rt.compute(&back, &outputs)?[0].downcast_ref::<u64>().unwrap(), 7);
/// # Ok::<(), partita_runtime::Error>(())
/// ```
pub fn encode_graph(graph: &Graph, outputs: &[TaskKey]) -> Result<Vec<u8>> {
    let mut ops: Vec<(String, Vec<u8>)> = Vec::new();
    let mut seen: FxHashMap<*const (), u32> = FxHashMap::default();
    let mut layers = Vec::with_capacity(graph.layers().len());
    for layer in graph.layers() {
        let mut tasks = Vec::with_capacity(layer.tasks().len());
        for task in layer.tasks() {
            let not_transportable = |reason: String| Error::NotTransportable {
                layer: layer.name().to_string(),
                key: task.key().clone(),
                reason,
                fix: FIX.to_string(),
            };
            let stored;
            let op = match (task.op(), task.kind()) {
                (Some(op), _) => op,
                // A partition the cluster holds travels as its id there.
                (None, TaskKind::Stored(partition)) => {
                    stored = match partition.persisted_id() {
                        Some(id) => Operation::new(PERSISTED, &id),
                        None => Operation::literal_value(partition.get()?).ok_or_else(|| {
                            not_transportable(
                                "its persisted value's type has no registered codec".into(),
                            )
                        })?,
                    };
                    &stored
                }
                (None, TaskKind::Compute(_)) => {
                    return Err(not_transportable(
                        "its work is a plain closure, which cannot leave this process".into(),
                    ))
                }
            };
            let index = match seen.get(&op.identity()) {
                Some(&i) => i,
                None => {
                    let params = op.params().map_err(|e| not_transportable(e.to_string()))?;
                    let i = u32::try_from(ops.len())
                        .map_err(|_| Error::wire("more than 2^32 operations in one graph"))?;
                    ops.push((op.name().to_string(), params));
                    // A literal made here for a stored task dies with this loop; keep its index
                    // out of the map, whose key could be reused by the next allocation.
                    if task.op().is_some() {
                        seen.insert(op.identity(), i);
                    }
                    i
                }
            };
            tasks.push(WireTask {
                key: task.key().clone(),
                deps: task.deps().to_vec(),
                op: index,
            });
        }
        layers.push(WireLayer {
            name: layer.name().to_string(),
            tasks,
        });
    }
    let body = WireGraph {
        build: BuildId::current()?,
        ops,
        layers,
        outputs: outputs.to_vec(),
    };
    framed(GRAPH_MAGIC, &body)
}

fn framed(magic: [u8; 4], body: &impl Serialize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1 << 12);
    out.extend_from_slice(&magic);
    out.extend_from_slice(&WIRE_VERSION.to_le_bytes());
    bincode::serde::encode_into_std_write(body, &mut out, config())
        .map_err(|e| Error::wire(format!("encoding: {e}")))?;
    Ok(out)
}

fn unframed<'a>(magic: [u8; 4], what: &str, bytes: &'a [u8]) -> Result<&'a [u8]> {
    if bytes.len() < 6 || bytes[..4] != magic {
        return Err(Error::wire(format!("not a partita {what}")));
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != WIRE_VERSION {
        return Err(Error::wire(format!(
            "{what} format version {version}; this build reads version {WIRE_VERSION}"
        )));
    }
    Ok(&bytes[6..])
}

/// A graph written by [`encode_graph`], and the keys it asks for.
///
/// # Errors
/// [`Error::BuildMismatch`] if another executable wrote it, [`Error::Wire`] for malformed bytes
/// or an operator this executable lacks; never a panic.
pub fn decode_graph(bytes: &[u8]) -> Result<(Graph, Vec<TaskKey>)> {
    let body: WireGraph = decode_params("graph", unframed(GRAPH_MAGIC, "graph", bytes)?)?;
    let ours = BuildId::current()?;
    if body.build != ours {
        return Err(Error::BuildMismatch {
            ours: ours.to_string(),
            theirs: body.build.to_string(),
        });
    }
    let operators = body
        .ops
        .iter()
        .map(|(name, _)| operator(name))
        .collect::<Result<Vec<_>>>()?;
    let mut graph = Graph::new();
    for layer in body.layers {
        let mut tasks = Vec::with_capacity(layer.tasks.len());
        for t in layer.tasks {
            let i = t.op as usize;
            let (Some(op), Some((_, params))) = (operators.get(i), body.ops.get(i)) else {
                return Err(Error::wire(format!(
                    "task {} names operation {i} of {}",
                    t.key,
                    body.ops.len()
                )));
            };
            let kernel = (op.build)(
                TaskContext {
                    key: &t.key,
                    deps: &t.deps,
                },
                params,
            )?;
            tasks.push(Task::new(t.key, t.deps, kernel));
        }
        if graph.has_layer(&layer.name) {
            return Err(Error::wire(format!("layer {} appears twice", layer.name)));
        }
        graph.add_layer(layer.name, tasks);
    }
    Ok((graph, body.outputs))
}

/// One task of a [`GraphShape`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeTask {
    /// The task's key.
    pub key: TaskKey,
    /// Its inputs' keys.
    pub deps: Vec<TaskKey>,
    /// The index of its operation in [`GraphShape::ops`].
    pub op: u32,
}

/// A shipped graph's structure, read without building any kernel: what a scheduler that runs
/// no user code needs to place its tasks.
#[derive(Clone, Debug)]
pub struct GraphShape {
    /// The executable that wrote it.
    pub build: BuildId,
    /// The distinct operations: each operator's name and parameters.
    pub ops: Vec<(String, Vec<u8>)>,
    /// Every task, layer by layer.
    pub tasks: Vec<ShapeTask>,
    /// The keys asked for.
    pub outputs: Vec<TaskKey>,
}

/// The structure of a graph written by [`encode_graph`], without its kernels: no operator is
/// looked up, so any executable can read it.
///
/// # Errors
/// [`Error::Wire`] for malformed bytes, an operation index out of range, a key that appears
/// twice, an input or an output that is no task of the graph; never a panic.
///
/// ```
/// use partita_runtime::{encode_graph, graph_shape, Graph, Operation, Task, TaskKey};
/// let key = TaskKey::new("x", 0);
/// let op = Operation::literal(&7_u64).unwrap();
/// let mut g = Graph::new();
/// g.add_layer("x", vec![Task::new(key.clone(), vec![], op.build(&key, &[])?).with_op(op)]);
/// let shape = graph_shape(&encode_graph(&g, &[key.clone()])?)?;
/// assert_eq!(shape.tasks.len(), 1);
/// assert_eq!(shape.outputs, vec![key]);
/// # Ok::<(), partita_runtime::Error>(())
/// ```
pub fn graph_shape(bytes: &[u8]) -> Result<GraphShape> {
    let body: WireGraph = decode_params("graph", unframed(GRAPH_MAGIC, "graph", bytes)?)?;
    let mut keys: rustc_hash::FxHashSet<&TaskKey> = Default::default();
    for t in body.layers.iter().flat_map(|l| &l.tasks) {
        if t.op as usize >= body.ops.len() {
            return Err(Error::wire(format!(
                "task {} names operation {} of {}",
                t.key,
                t.op,
                body.ops.len()
            )));
        }
        if !keys.insert(&t.key) {
            return Err(Error::wire(format!("task {} appears twice", t.key)));
        }
    }
    for t in body.layers.iter().flat_map(|l| &l.tasks) {
        if let Some(d) = t.deps.iter().find(|d| !keys.contains(d)) {
            return Err(Error::wire(format!(
                "task {} reads {d}, which is no task of the graph",
                t.key
            )));
        }
    }
    if let Some(k) = body.outputs.iter().find(|k| !keys.contains(k)) {
        return Err(Error::wire(format!("output {k} is no task of the graph")));
    }
    drop(keys);
    let tasks = body
        .layers
        .into_iter()
        .flat_map(|l| l.tasks)
        .map(|t| ShapeTask {
            key: t.key,
            deps: t.deps,
            op: t.op,
        })
        .collect();
    Ok(GraphShape {
        build: body.build,
        ops: body.ops,
        tasks,
        outputs: body.outputs,
    })
}

/// The result of computing a shipped graph, as bytes: every value through its codec, or the
/// failure. Never fails itself: a value that cannot be encoded becomes the failure.
pub fn encode_outcome(keys: &[TaskKey], result: &Result<Vec<Value>>) -> Vec<u8> {
    let outcome = match result {
        Ok(values) => keys
            .iter()
            .zip(values)
            .map(|(k, v)| {
                encode_value(&k.to_string(), v).map(|(c, b)| (k.clone(), c.to_string(), b))
            })
            .collect::<Result<Vec<_>>>()
            .map(WireOutcome::Values)
            .unwrap_or_else(|e| WireOutcome::Failed(to_wire(&e))),
        Err(e) => WireOutcome::Failed(to_wire(e)),
    };
    framed(OUTCOME_MAGIC, &outcome).unwrap_or_else(|e| {
        framed(OUTCOME_MAGIC, &WireOutcome::Failed(to_wire(&e))).unwrap_or_default()
    })
}

/// The values, or the failure, of an outcome written by [`encode_outcome`]. A failure on the far
/// side comes back as [`Error::Remote`] with its kind, message and keys.
///
/// # Errors
/// The far side's failure, or [`Error::Wire`]/[`Error::Codec`] for malformed bytes.
pub fn decode_outcome(bytes: &[u8]) -> Result<Vec<(TaskKey, Value)>> {
    let outcome: WireOutcome =
        decode_params("outcome", unframed(OUTCOME_MAGIC, "outcome", bytes)?)?;
    match outcome {
        WireOutcome::Values(values) => values
            .into_iter()
            .map(|(k, codec, b)| {
                let v = decode_value(&k.to_string(), &codec, &b)?;
                Ok((k, v))
            })
            .collect(),
        WireOutcome::Failed(e) => Err(Error::Remote {
            kind: e.kind,
            message: e.message,
            keys: e.keys,
        }),
    }
}

fn to_wire(e: &Error) -> WireError {
    WireError {
        kind: e.kind().to_string(),
        message: e.to_string(),
        keys: e.key_chain(),
    }
}

/// Decodes a shipped graph, computes it on `runtime`, and encodes the outcome: what a worker
/// does with a graph it is sent. Never fails: a malformed graph or a failed task is the outcome.
pub fn serve_graph(runtime: &Runtime, bytes: &[u8]) -> Vec<u8> {
    match decode_graph(bytes) {
        Ok((graph, outputs)) => {
            let result = runtime.compute(&graph, &outputs);
            encode_outcome(&outputs, &result)
        }
        Err(e) => encode_outcome(&[], &Err(e)),
    }
}
