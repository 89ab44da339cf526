//! Merging the partial aggregates of a groupby into one partition: by one task, or through a
//! shuffle to several, chosen while the graph runs.
//!
//! A `count` task waits for every partial table and adds up their groups. Under the threshold
//! every partial goes to one receiver, which merges them all at once (few groups: one merge is
//! cheap). From the threshold on, the partials are hash-shuffled on their keys to one receiver
//! per partition (at most `MERGERS_MAX`), each merging its share of the groups, so that all
//! workers merge at once. A last task concatenates the receivers' merged tables, puts the
//! groups back in order of first appearance by the `__order` column that the partials carry
//! (each group's first row as `partition << 32 | row`, merged by minimum), and turns states
//! into results.
//!
//! The graph is the same either way: the decision travels as a message (the `count` task's
//! value) to the splits.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{concat_batches, sort_to_indices, take_record_batch};
use arrow::datatypes::Int64Type;
use partita_runtime::{
    add_shuffle, downcast, value, Graph, Kernel, ShuffleFns, TaskContext, TaskKey, Value,
};
use serde::{Deserialize, Serialize};

use super::expr::arrow_error;
use super::groupby::{fail, finish, merge, Plan};
use super::inputs;
use super::shuffle::{
    bucket, file_pieces, hash_rows, in_input_order, key_columns, send_pieces, split_by,
};
use crate::dataframe::batches;
use crate::error::{Error, Result};
use crate::layer::{blockwise, register_op, Op};
use crate::names::unique;
use crate::shuffle_op::{described_shuffle, register_shuffle_op, ShuffleOp};

/// Pieces a receiver's mailbox holds before a sender files them.
const MAILBOX: usize = 8;

/// The most receivers that merge: with more partitions than this, each partial still goes out
/// in at most this many pieces, so the pieces grow as partitions times this, not squared.
const MERGERS_MAX: usize = 32;

/// A partial table with the number of outputs its shuffle splits it into.
struct Routed {
    partial: RecordBatch,
    outputs: usize,
}

/// A routed table's bytes: the number of outputs, then the table as an IPC stream.
fn encode_routed(v: &Value) -> partita_runtime::Result<Vec<u8>> {
    let r = v
        .downcast_ref::<Routed>()
        .ok_or_else(|| partita_runtime::Error::Codec {
            what: "a routed partial table".into(),
            message: "the value is of another type".into(),
        })?;
    let table = super::codec::batch_to_ipc(&r.partial)?;
    partita_runtime::encode_params("a routed partial table", &(r.outputs, table))
}

fn decode_routed(bytes: &[u8]) -> partita_runtime::Result<Value> {
    let (outputs, table): (usize, Vec<u8>) =
        partita_runtime::decode_params("a routed partial table", bytes)?;
    let partial = super::codec::batch_from_ipc(&table)?;
    Ok(value(Routed { partial, outputs }))
}

partita_runtime::register_codec!(Routed, "frame.groupby.Routed", encode_routed, decode_routed);

/// Adds the merge of the partial tables `partials` (at least two) to `graph`; returns the graph
/// and the layer name of the one result partition.
pub(super) fn merge_partials(
    mut graph: Graph,
    partials: Vec<TaskKey>,
    plan: Arc<Plan>,
    shuffle_above: usize,
) -> (Graph, Arc<str>) {
    let n = partials.len().min(MERGERS_MAX);
    // The decision: how many receivers merge, from the number of partial groups.
    let count_name = unique("groupby-count");
    let decide = Decide {
        mergers: n,
        shuffle_above,
    };
    let count = blockwise(&mut graph, &count_name, &decide, [partials.clone()]);
    // Each partial with the decision.
    let routed_name = unique("groupby-route");
    let deps = partials.iter().map(|p| vec![p.clone(), count[0].clone()]);
    let routed_keys = blockwise(&mut graph, &routed_name, &Route, deps);

    let name = unique("groupby-merge");
    let shuffle = MergeShuffle {
        name: name.to_string(),
        plan: plan.clone(),
    };
    let spec = described_shuffle(name.clone(), n, MAILBOX, &shuffle);
    let merged = add_shuffle(&mut graph, &routed_keys, &spec);

    // The receivers' tables, in order of first appearance, as results.
    let out = unique("groupby-agg");
    blockwise(&mut graph, &out, &InOrder { plan }, [merged]);
    (graph, out)
}

/// How many receivers merge: `mergers` when the partial tables (the inputs) hold at least
/// `shuffle_above` groups, else one.
#[derive(Serialize, Deserialize)]
struct Decide {
    mergers: usize,
    shuffle_above: usize,
}

impl Op for Decide {
    const NAME: &'static str = "frame.groupby.decide";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let keys = cx.deps.to_vec();
        let (n, shuffle_above) = (self.mergers, self.shuffle_above);
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let mut groups = 0;
            for (v, k) in inputs.iter().zip(&keys) {
                groups += downcast::<RecordBatch>(v, k)?.num_rows();
            }
            Ok(value(if groups >= shuffle_above { n } else { 1 }))
        }))
    }
}
register_op!(Decide);

/// A partial table (the first input) with the decision (the second).
#[derive(Serialize, Deserialize)]
struct Route;

impl Op for Route {
    const NAME: &'static str = "frame.groupby.route";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let [p, c] = inputs::<2>(cx)?;
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let partial = downcast::<RecordBatch>(&inputs[0], &p)?.clone();
            let outputs = *downcast::<usize>(&inputs[1], &c)?;
            Ok(value(Routed { partial, outputs }))
        }))
    }
}
register_op!(Route);

/// The shuffle of routed partials to the receivers that merge them.
#[derive(Serialize, Deserialize)]
struct MergeShuffle {
    name: String,
    plan: Arc<Plan>,
}

impl ShuffleOp for MergeShuffle {
    const NAME: &'static str = "frame.groupby.merge_shuffle";

    fn fns(&self) -> ShuffleFns {
        let plan = self.plan.clone();
        let (finish_plan, name): (_, Arc<str>) = (self.plan.clone(), self.name.as_str().into());
        ShuffleFns {
            split: Arc::new(move |v: Value, key: &TaskKey, send| {
                let r = downcast::<Routed>(&v, key)?;
                if r.outputs <= 1 {
                    return send(0, value(r.partial.clone()));
                }
                let pieces = hash_split(&plan, &r.partial, r.outputs).map_err(|e| fail(key, e))?;
                send_pieces(pieces, send)
            }),
            // Pieces merge once, in input order (first and last values depend on it).
            fold: Arc::new(file_pieces),
            finish: Arc::new(move |to, state| {
                let key = TaskKey::new(name.clone(), to as u64);
                let tables = in_input_order(state)?;
                merge(&finish_plan, &tables)
                    .map(value)
                    .map_err(|e| fail(&key, e))
            }),
        }
    }
}
register_shuffle_op!(MergeShuffle);

/// The receivers' merged tables, in order of first appearance, as results.
#[derive(Serialize, Deserialize)]
struct InOrder {
    plan: Arc<Plan>,
}

impl Op for InOrder {
    const NAME: &'static str = "frame.groupby.in_order";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let (plan, keys, o) = (self.plan.clone(), cx.deps.to_vec(), cx.key.clone());
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let tables: Vec<RecordBatch> = batches(&inputs, &keys)?.into_iter().cloned().collect();
            in_order(&plan, &tables).map(value).map_err(|e| fail(&o, e))
        }))
    }
}
register_op!(InOrder);

/// Cuts a partial table into `outputs` pieces by a hash of its keys.
fn hash_split(plan: &Plan, partial: &RecordBatch, outputs: usize) -> Result<Vec<RecordBatch>> {
    let hashes = hash_rows(&key_columns(partial, &plan.keys)?)?;
    let ids: Vec<u32> = hashes.iter().map(|&h| bucket(h, outputs)).collect();
    split_by(partial, &ids, outputs)
}

/// Merged tables (each group in one) concatenated, sorted by first appearance, finished.
fn in_order(plan: &Plan, tables: &[RecordBatch]) -> Result<RecordBatch> {
    let all = concat_batches(&plan.partial_schema, tables).map_err(arrow_error)?;
    let order = all.column(all.num_columns() - 1);
    if order.data_type() != &arrow::datatypes::DataType::Int64 || !plan.ordered {
        return Err(Error::Schema {
            message: "partial aggregates without their order column".into(),
        });
    }
    let sorted = if order.as_primitive::<Int64Type>().values().is_sorted() {
        all
    } else {
        let indices = sort_to_indices(order, None, None).map_err(arrow_error)?;
        take_record_batch(&all, &indices).map_err(arrow_error)?
    };
    finish(plan, &sorted)
}
