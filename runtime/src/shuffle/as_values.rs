//! A described shuffle rewritten so that its pieces travel as values, for graphs whose tasks
//! run in different processes (a cluster) or that must prove they could (a runtime that
//! round-trips values).
//!
//! The in-process shuffle hands pieces to receivers of a shared exchange, which no other process
//! can reach. [`pieces_as_values`] replaces the four layers of each described shuffle with three
//! whose values are plain data:
//!
//! - `{name}-split` (`partita.shuffle.cut`, one task per input): cuts its partition with the
//!   spec's split into a [`Pieces`] value, the pieces for each output in the order they were cut;
//! - `{name}-pieces` (`partita.shuffle.pick`, `inputs × outputs` tasks, task `i * outputs + j`
//!   reading split `i`): the pieces of split `i` for output `j`. A pick reads only its split, so a
//!   cluster places it where the split is, and only output `j`'s pieces travel to output `j`;
//! - `{name}` (`partita.shuffle.gather`, one task per output, the same keys as before): folds
//!   every input's pieces for its output, tagged by input, with the spec's fold, and finishes
//!   them as the assemble task does.
//!
//! The `open` and `barrier` tasks go. Pieces are written with their own codecs, so a shuffle of
//! frames moves Arrow IPC, a bag shuffle its items' bincode. A shuffle without a description is
//! left as it is: it cannot leave the process anyway.

use std::sync::Arc;

use rustc_hash::FxHashSet;

use super::{arity, WireSpec, ASSEMBLE, OPEN, SPLIT};
use crate::error::{Error, Result};
use crate::graph::{Graph, Task, TaskKey};
use crate::remote::{
    decode_params, decode_value, encode_params, encode_value, Operation, TaskContext,
};
use crate::value::{downcast, value, Kernel, Value};

/// The operator of a split that cuts its partition into a [`Pieces`] value.
const CUT: &str = "partita.shuffle.cut";
/// The operator that takes one output's pieces out of a split's.
const PICK: &str = "partita.shuffle.pick";
/// The operator that folds and finishes one output from every split's pieces for it.
const GATHER: &str = "partita.shuffle.gather";

/// Pieces of one input partition, by output: a cut's value has one list per output, a pick's
/// the one list of its output.
#[derive(Debug)]
pub(crate) struct Pieces(Vec<Vec<Value>>);

/// `graph` with each described shuffle's pieces moved as values; see the module doc.
///
/// # Errors
/// [`Error::Wire`] if a shuffle's description cannot be read back.
pub(crate) fn pieces_as_values(graph: &Graph) -> Result<Graph> {
    let shuffles: FxHashSet<&str> = graph
        .layers()
        .iter()
        .filter(|l| {
            l.tasks()
                .first()
                .and_then(Task::op)
                .is_some_and(|op| op.name() == OPEN)
        })
        .filter_map(|l| l.name().strip_suffix("-open"))
        .collect();
    if shuffles.is_empty() {
        return Ok(graph.clone());
    }
    let mut out = Graph::new();
    // The split keys of each shuffle, by its name.
    let mut splits: rustc_hash::FxHashMap<&str, Vec<TaskKey>> = Default::default();
    for layer in graph.layers() {
        let name = layer.name();
        let of_shuffle = |suffix: &str| name.strip_suffix(suffix).filter(|s| shuffles.contains(s));
        if of_shuffle("-open").is_some() || of_shuffle("-barrier").is_some() {
            continue;
        }
        if let Some(shuffle) = of_shuffle("-split") {
            let Some(wire) = wire_of(layer.tasks(), SPLIT)? else {
                out.add_layer(name, layer.tasks().to_vec());
                continue;
            };
            let spec = Arc::new(wire.spec()?);
            let cut_op = Operation::new(CUT, &wire);
            let mut keys = Vec::with_capacity(layer.tasks().len());
            let tasks = layer
                .tasks()
                .iter()
                .map(|t| {
                    let input = t.deps().first().cloned().ok_or_else(|| {
                        Error::wire(format!("shuffle split {} has no input", t.key()))
                    })?;
                    keys.push(t.key().clone());
                    Ok(Task::new(
                        t.key().clone(),
                        vec![input.clone()],
                        cut_kernel(spec.clone(), input),
                    )
                    .with_op(cut_op.clone()))
                })
                .collect::<Result<Vec<Task>>>()?;
            out.add_layer(name, tasks);
            let outputs = wire.outputs;
            let pick_name: Arc<str> = format!("{shuffle}-pieces").into();
            let pick_op = Operation::new(PICK, &outputs);
            let picks = keys
                .iter()
                .enumerate()
                .flat_map(|(i, split)| {
                    let (pick_name, pick_op) = (pick_name.clone(), pick_op.clone());
                    (0..outputs).map(move |j| {
                        Task::new(
                            TaskKey::new(pick_name.clone(), (i * outputs + j) as u64),
                            vec![split.clone()],
                            pick_kernel(j, split.clone()),
                        )
                        .with_op(pick_op.clone())
                    })
                })
                .collect();
            out.add_layer(pick_name, picks);
            splits.insert(shuffle, keys);
            continue;
        }
        if let (true, Some(wire)) = (shuffles.contains(name), wire_of(layer.tasks(), ASSEMBLE)?) {
            let n = splits.get(name).map_or(0, Vec::len);
            let spec = Arc::new(wire.spec()?);
            let gather_op = Operation::new(GATHER, &wire);
            let tasks = layer
                .tasks()
                .iter()
                .map(|t| {
                    let j = t.key().index() as usize;
                    let picks: Vec<TaskKey> = (0..n)
                        .map(|i| {
                            TaskKey::new(format!("{name}-pieces"), (i * wire.outputs + j) as u64)
                        })
                        .collect();
                    Task::new(
                        t.key().clone(),
                        picks.clone(),
                        gather_kernel(spec.clone(), j, picks),
                    )
                    .with_op(gather_op.clone())
                })
                .collect();
            out.add_layer(name, tasks);
            continue;
        }
        out.add_layer(name, layer.tasks().to_vec());
    }
    Ok(out)
}

/// The shuffle description the tasks' operation `op` carries, if they carry one.
fn wire_of(tasks: &[Task], op: &str) -> Result<Option<WireSpec>> {
    match tasks.first().and_then(Task::op) {
        Some(o) if o.name() == op => Ok(Some(decode_params(op, &o.params()?)?)),
        _ => Ok(None),
    }
}

fn cut_kernel(spec: Arc<super::ShuffleSpec>, input: TaskKey) -> Kernel {
    Arc::new(move |mut vals: Vec<Value>| {
        let part = vals.swap_remove(0);
        let mut by_output: Vec<Vec<Value>> = vec![Vec::new(); spec.outputs];
        (spec.split)(part, &input, &mut |to, piece| {
            let list = by_output.get_mut(to).ok_or_else(|| {
                Error::failed(
                    TaskKey::new(spec.name.clone(), to as u64),
                    format!(
                        "a split sent a piece to output {to} of a shuffle with {} outputs",
                        spec.outputs
                    ),
                )
            })?;
            list.push(piece);
            Ok(())
        })?;
        Ok(value(Pieces(by_output)))
    })
}

fn pick_kernel(j: usize, split: TaskKey) -> Kernel {
    Arc::new(move |vals: Vec<Value>| {
        let pieces = downcast::<Pieces>(&vals[0], &split)?;
        let mine = pieces.0.get(j).cloned().ok_or_else(|| {
            Error::failed(
                split.clone(),
                format!("no pieces for output {j} of {}", pieces.0.len()),
            )
        })?;
        Ok(value(Pieces(vec![mine])))
    })
}

fn gather_kernel(spec: Arc<super::ShuffleSpec>, j: usize, picks: Vec<TaskKey>) -> Kernel {
    Arc::new(move |vals: Vec<Value>| {
        let mut tagged = Vec::new();
        for (from, (v, key)) in vals.iter().zip(&picks).enumerate() {
            for list in &downcast::<Pieces>(v, key)?.0 {
                tagged.extend(list.iter().map(|p| (from, p.clone())));
            }
        }
        let state = if tagged.is_empty() {
            None
        } else {
            Some((spec.fold)(j, None, tagged)?)
        };
        (spec.finish)(j, state)
    })
}

fn build_cut(cx: TaskContext<'_>, params: &[u8]) -> Result<Kernel> {
    let wire: WireSpec = decode_params(CUT, params)?;
    arity(cx, 1, CUT)?;
    Ok(cut_kernel(Arc::new(wire.spec()?), cx.deps[0].clone()))
}

fn build_pick(cx: TaskContext<'_>, params: &[u8]) -> Result<Kernel> {
    let outputs: usize = decode_params(PICK, params)?;
    arity(cx, 1, PICK)?;
    if outputs == 0 {
        return Err(Error::wire(format!("{PICK} task {} of no outputs", cx.key)));
    }
    let j = (cx.key.index() % outputs as u64) as usize;
    Ok(pick_kernel(j, cx.deps[0].clone()))
}

fn build_gather(cx: TaskContext<'_>, params: &[u8]) -> Result<Kernel> {
    let wire: WireSpec = decode_params(GATHER, params)?;
    let j = cx.key.index() as usize;
    if j >= wire.outputs {
        return Err(Error::wire(format!(
            "{GATHER} task {} of a shuffle with {} outputs",
            cx.key, wire.outputs
        )));
    }
    Ok(gather_kernel(Arc::new(wire.spec()?), j, cx.deps.to_vec()))
}

crate::register_operator!(CUT, build_cut);
crate::register_operator!(PICK, build_pick);
crate::register_operator!(GATHER, build_gather);

/// Each piece as its codec's `(name, bytes)`, by output.
fn encode_pieces(v: &Value) -> Result<Vec<u8>> {
    let pieces = v.downcast_ref::<Pieces>().ok_or_else(|| Error::Codec {
        what: "shuffle pieces".into(),
        message: "the value is of another type".into(),
    })?;
    let lists = pieces
        .0
        .iter()
        .enumerate()
        .map(|(j, list)| {
            list.iter()
                .map(|p| {
                    let (codec, bytes) = encode_value(&format!("a piece for output {j}"), p)?;
                    Ok((codec.to_string(), bytes))
                })
                .collect::<Result<Vec<(String, Vec<u8>)>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    encode_params("shuffle pieces", &lists)
}

fn decode_pieces(bytes: &[u8]) -> Result<Value> {
    let lists: Vec<Vec<(String, Vec<u8>)>> = decode_params("shuffle pieces", bytes)?;
    let pieces = lists
        .into_iter()
        .enumerate()
        .map(|(j, list)| {
            list.into_iter()
                .map(|(codec, b)| decode_value(&format!("a piece for output {j}"), &codec, &b))
                .collect::<Result<Vec<Value>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(value(Pieces(pieces)))
}

crate::register_codec!(
    Pieces,
    "partita.shuffle.pieces",
    encode_pieces,
    decode_pieces
);
