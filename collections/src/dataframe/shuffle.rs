//! Moving rows between partitions: by a hash of key columns, or by ranges of one sort key. Both
//! run on the runtime's shuffle ([`add_shuffle`]), whose messages here are Arrow record
//! batches: each input partition is cut into one batch per output with `take`, and each output
//! concatenates what it receives in input order, so the result does not depend on timing.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use partita_runtime::{
    add_shuffle, downcast, downcast_owned, value, Held, Runtime, ShuffleFns, TaskKey, Value,
};
use serde::{Deserialize, Serialize};

use super::expr::arrow_error;
use super::DataFrame;
use crate::error::{Error, Result};
use crate::names::unique;
use crate::shuffle_op::{described_shuffle, register_shuffle_op, ShuffleOp};

/// Pieces a receiver holds before a sender folds them into its state.
const MAILBOX: usize = 8;

/// A fixed mixing hash (the same in every process, unlike a random-state hasher), so that both
/// sides of a join send equal keys to the same partition.
#[inline]
pub(crate) fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    let x = (x ^ (x >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The output (of `n`) that a row with hash `h` goes to: the hash scaled to `0..n` by a
/// multiplication, not a division (Lemire's fast range).
#[inline]
pub(crate) fn bucket(h: u64, n: usize) -> u32 {
    ((u128::from(h) * n as u128) >> 64) as u32
}

/// FNV-1a over bytes, then mixed.
fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    for &c in b {
        h = (h ^ c as u64).wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// Calls `f(row, value)` for each row of an integer column, its value as `i64` (`u64` values
/// wrap), nulls as `None`; `false` when the column is not of an integer type.
pub(crate) fn for_each_int(c: &ArrayRef, mut f: impl FnMut(usize, Option<i64>)) -> bool {
    use arrow::datatypes::*;
    macro_rules! ints {
        ($t:ty) => {{
            let a = c.as_primitive::<$t>();
            for (row, v) in a.values().iter().enumerate() {
                f(row, (!a.is_null(row)).then_some(*v as i64));
            }
            true
        }};
    }
    match c.data_type() {
        DataType::Int8 => ints!(Int8Type),
        DataType::Int16 => ints!(Int16Type),
        DataType::Int32 => ints!(Int32Type),
        DataType::Int64 => ints!(Int64Type),
        DataType::UInt8 => ints!(UInt8Type),
        DataType::UInt16 => ints!(UInt16Type),
        DataType::UInt32 => ints!(UInt32Type),
        DataType::UInt64 => ints!(UInt64Type),
        _ => false,
    }
}

/// A converter of `columns` into arrow-row byte strings, in ascending order: equal keys, equal
/// bytes.
pub(crate) fn row_converter(columns: &[ArrayRef]) -> Result<RowConverter> {
    let fields = columns
        .iter()
        .map(|c| SortField::new(c.data_type().clone()))
        .collect();
    RowConverter::new(fields).map_err(arrow_error)
}

/// One hash per row over `columns`. Integers hash by value (so `int32` and `int64` keys agree);
/// other types through their arrow-row encoding. Nulls hash alike.
pub(crate) fn hash_rows(columns: &[ArrayRef]) -> Result<Vec<u64>> {
    let n = columns.first().map_or(0, |c| c.len());
    // The first column's hashes are pushed, not folded into zeros: reading fresh zeroed memory
    // before writing it faults every page twice (the shared zero page, then a copy on write
    // that interrupts every other core to flush its TLB).
    let mut hashes: Vec<u64> = Vec::with_capacity(n);
    for (i, c) in columns.iter().enumerate() {
        let seed = mix(i as u64 + 1);
        let fold = |hashes: &mut Vec<u64>, row: usize, h: u64| {
            if i == 0 {
                hashes.push(mix(seed ^ h));
            } else {
                hashes[row] = mix(hashes[row] ^ seed ^ h);
            }
        };
        let is_int = for_each_int(c, |row, v| {
            fold(&mut hashes, row, mix(v.map_or(u64::MAX, |v| v as u64)));
        });
        if !is_int {
            // Other types hash their arrow-row encoding.
            let rows = row_converter(std::slice::from_ref(c))?
                .convert_columns(std::slice::from_ref(c))
                .map_err(arrow_error)?;
            for (row, r) in rows.iter().enumerate() {
                fold(&mut hashes, row, hash_bytes(r.as_ref()));
            }
        }
    }
    Ok(hashes)
}

/// Cuts `batch` into one batch per output, by each row's output number.
pub(crate) fn split_by(
    batch: &RecordBatch,
    ids: &[u32],
    outputs: usize,
) -> Result<Vec<RecordBatch>> {
    let mut counts = vec![0_usize; outputs];
    for &p in ids {
        counts[p as usize] += 1;
    }
    let mut lists: Vec<Vec<u32>> = counts.iter().map(|&c| Vec::with_capacity(c)).collect();
    for (row, &p) in ids.iter().enumerate() {
        lists[p as usize].push(row as u32);
    }
    lists
        .into_iter()
        .map(|rows| {
            if rows.len() == batch.num_rows() {
                return Ok(batch.clone());
            }
            // A run of neighbouring rows (a range of sorted data) is a slice, not a copy.
            if let (Some(&first), Some(&last)) = (rows.first(), rows.last()) {
                if (last - first) as usize + 1 == rows.len() {
                    return Ok(batch.slice(first as usize, rows.len()));
                }
            }
            take_record_batch(batch, &UInt32Array::from(rows)).map_err(arrow_error)
        })
        .collect()
}

/// Pieces received by one output, tagged with their input partition.
/// The pieces an output has received, with the input each came from. Each is held by the
/// runtime's memory ledger, so a receiver's buffer is counted and spills like any value.
type Received = Vec<(usize, Held)>;

fn take_received(state: Option<Value>) -> Received {
    match state.map(|s| s.downcast::<Received>()) {
        Some(Ok(arc)) => Arc::try_unwrap(arc).unwrap_or_else(|shared| (*shared).clone()),
        _ => Vec::new(),
    }
}

/// Sends piece `to` of `pieces` to output `to`, skipping the empty ones.
pub(crate) fn send_pieces(
    pieces: Vec<RecordBatch>,
    send: &mut dyn FnMut(usize, Value) -> partita_runtime::Result<()>,
) -> partita_runtime::Result<()> {
    for (to, piece) in pieces.into_iter().enumerate() {
        if piece.num_rows() > 0 {
            send(to, value(piece))?;
        }
    }
    Ok(())
}

/// A [`ShuffleSpec`] fold that files record-batch pieces with their input partition, to be
/// assembled once, in input order, by [`in_input_order`].
pub(crate) fn file_pieces(
    to: usize,
    state: Option<Value>,
    pieces: Vec<(usize, Value)>,
) -> partita_runtime::Result<Value> {
    let key = TaskKey::new("shuffle-piece", to as u64);
    let memory = Runtime::current().ledger();
    let mut all = take_received(state);
    for (from, p) in pieces {
        downcast::<RecordBatch>(&p, &key)?;
        all.push((from, memory.hold(&key, p)?));
    }
    Ok(value(all))
}

/// The pieces [`file_pieces`] filed for one output, in input order: so the output does not
/// depend on timing. Spilled pieces are read back.
///
/// # Errors
/// A spilled piece that cannot be read back.
pub(crate) fn in_input_order(state: Option<Value>) -> partita_runtime::Result<Vec<RecordBatch>> {
    let key = TaskKey::new("shuffle-piece", 0);
    let mut all = take_received(state);
    all.sort_by_key(|(from, _)| *from);
    all.into_iter()
        .map(|(_, held)| downcast_owned::<RecordBatch>(held.into_value()?, &key))
        .collect()
}

/// How a frame shuffle sends each row to its output: as data, so that the shuffle can leave the
/// process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Route {
    /// By a hash of the columns `on` (their floats made canonical first, as pandas compares
    /// them, when `canonical`).
    Hash { on: Vec<String>, canonical: bool },
    /// By the range of `key` among `bounds` (the divisions without their ends) into `parts`
    /// parts; nulls go to the last part.
    Range {
        key: String,
        #[serde(with = "super::codec::array")]
        bounds: ArrayRef,
        parts: usize,
        descending: bool,
    },
}

impl Route {
    /// Each row's output, of `outputs`.
    fn ids(
        &self,
        batch: &RecordBatch,
        key: &TaskKey,
        outputs: usize,
    ) -> partita_runtime::Result<Vec<u32>> {
        match self {
            Route::Hash { on, canonical } => {
                let mut cols = key_columns(batch, on).map_err(|e| task_error(key, e))?;
                if *canonical {
                    cols = cols.iter().map(super::dedupe::canonical).collect();
                }
                let hashes = hash_rows(&cols).map_err(|e| task_error(key, e))?;
                Ok(hashes.iter().map(|&h| bucket(h, outputs)).collect())
            }
            Route::Range {
                key: column,
                bounds,
                parts,
                descending,
            } => {
                let col = batch.column_by_name(column).cloned().ok_or_else(|| {
                    task_error(
                        key,
                        Error::Schema {
                            message: format!("no column {column:?}"),
                        },
                    )
                })?;
                super::sort::route(&col, bounds, *parts, *descending)
                    .map_err(|e| task_error(key, e))
            }
        }
    }
}

/// How an output of a frame shuffle is made from its pieces (in input order).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Assemble {
    /// Concatenated.
    Concat,
    /// Stably sorted by `by`, descending where asked.
    Sort {
        by: Vec<String>,
        descending: Vec<bool>,
    },
}

impl Assemble {
    fn batch(&self, schema: &SchemaRef, pieces: Vec<RecordBatch>) -> Result<RecordBatch> {
        match self {
            Assemble::Concat => concat_batches(schema, &pieces).map_err(arrow_error),
            Assemble::Sort { by, descending } => {
                super::sort::sort_pieces(schema, pieces, by, descending)
            }
        }
    }
}

/// A shuffle of record batches: `route` cuts, `assemble` makes the outputs.
#[derive(Serialize, Deserialize)]
struct FrameShuffle {
    name: String,
    outputs: usize,
    #[serde(with = "super::codec::schema")]
    schema: SchemaRef,
    route: Route,
    assemble: Assemble,
}

impl ShuffleOp for FrameShuffle {
    const NAME: &'static str = "frame.shuffle";

    fn fns(&self) -> ShuffleFns {
        let (outputs, route) = (self.outputs, self.route.clone());
        let (schema, assemble) = (self.schema.clone(), self.assemble.clone());
        let name: Arc<str> = self.name.as_str().into();
        ShuffleFns {
            split: Arc::new(move |v: Value, key: &TaskKey, send| {
                let batch = downcast::<RecordBatch>(&v, key)?;
                let ids = route.ids(batch, key, outputs)?;
                let pieces = split_by(batch, &ids, outputs).map_err(|e| task_error(key, e))?;
                send_pieces(pieces, send)
            }),
            fold: Arc::new(file_pieces),
            finish: Arc::new(move |to, state| {
                let out = assemble
                    .batch(&schema, in_input_order(state)?)
                    .map_err(|e| task_error(&TaskKey::new(name.clone(), to as u64), e))?;
                Ok(value(out))
            }),
        }
    }
}
register_shuffle_op!(FrameShuffle);

/// Adds a shuffle of `frame`'s partitions to its graph: `route` gives each row of a partition
/// its output number, `assemble` makes each output from its pieces in input order. Returns a
/// frame of `outputs` partitions.
pub(crate) fn shuffle_frame(
    frame: &DataFrame,
    outputs: usize,
    op: &str,
    route: Route,
    assemble: Assemble,
) -> DataFrame {
    let m = frame.materialize();
    let schema: SchemaRef = m.schema.clone();
    let name = unique(op);
    let shuffle = FrameShuffle {
        name: name.to_string(),
        outputs,
        schema: schema.clone(),
        route,
        assemble,
    };
    let spec = described_shuffle(name.clone(), outputs, MAILBOX, &shuffle);
    let mut graph = m.graph.clone();
    add_shuffle(&mut graph, &m.keys(), &spec);
    DataFrame::from_partitions(graph, name, outputs, schema)
}

pub(crate) fn task_error(key: &TaskKey, e: Error) -> partita_runtime::Error {
    partita_runtime::Error::failed_by(key.clone(), e)
}

/// The columns `names` of `batch`.
pub(crate) fn key_columns(batch: &RecordBatch, names: &[String]) -> Result<Vec<ArrayRef>> {
    names
        .iter()
        .map(|n| {
            batch
                .column_by_name(n)
                .cloned()
                .ok_or_else(|| Error::Schema {
                    message: format!("no column {n:?}"),
                })
        })
        .collect()
}

impl DataFrame {
    /// The rows moved so that all rows with equal values in `on` are in the same one of
    /// `npartitions` partitions (a hash partitioning). Each partition keeps its rows in the
    /// order of the input partitions they came from.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use partita_collections::DataFrame;
    ///
    /// let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
    /// let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2, 1, 3, 2, 1]))]).unwrap();
    /// let df = DataFrame::from_arrow(batch, 3)?.shuffle(&["k"], 2)?;
    /// let parts = df.compute_partitions()?;
    /// // Every key lives in exactly one partition.
    /// let holds = |p: &RecordBatch, k: i64| p.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().contains(&k);
    /// for k in [1, 2, 3] {
    ///     assert_eq!(parts.iter().filter(|p| holds(p, k)).count(), 1);
    /// }
    /// assert_eq!(parts.iter().map(|p| p.num_rows()).sum::<usize>(), 6);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Schema`] naming a column the frame lacks.
    pub fn shuffle(&self, on: &[&str], npartitions: usize) -> Result<DataFrame> {
        let on: Vec<String> = on.iter().map(|s| s.to_string()).collect();
        for c in &on {
            if self.schema.field_with_name(c).is_err() {
                return Err(Error::Schema {
                    message: format!("shuffle: no column {c:?} in {:?}", self.columns()),
                });
            }
        }
        let n = npartitions.max(1);
        let route = Route::Hash {
            on,
            canonical: false,
        };
        Ok(shuffle_frame(self, n, "shuffle", route, Assemble::Concat))
    }
}
