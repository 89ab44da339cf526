//! `merge`: joins of two frames on key columns, as pandas' and Dask's `merge`.
//!
//! When one side is small (one partition, or an estimated size under the broadcast threshold)
//! its partitions are concatenated once into a hash table that every partition of the other side
//! probes: a broadcast join, with no shuffle. Otherwise both sides are hash-shuffled on their
//! keys into the same number of partitions, and partition `i` of one joins partition `i` of the
//! other.
//!
//! The hash table of a single integer key whose values span a small range (up to 16 slots per
//! row) is a direct-indexed array; when the keys are unique and fill their range, the built
//! side is reordered by key once and a probe computes each partner's row from its key, with no
//! table at all. A sparser integer key is hashed by value; any other key by its arrow-row
//! encoding. Null keys never match, as in SQL: a row with a null key gets no partner, and
//! appears only in the outer side of a left, right or outer join.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::kernels::zip::zip;
use arrow::compute::{concat_batches, is_not_null, take, take_record_batch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::row::RowConverter;
use partita_runtime::{downcast, value, Graph, Kernel, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::expr::arrow_error;
use super::shuffle::{for_each_int, key_columns, row_converter, task_error};
use super::{inputs, DataFrame};
use crate::error::{Error, Result};
use crate::layer::{blockwise, register_op, Op};
use crate::names::unique;

/// Which rows a join keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum How {
    /// Rows whose key is on both sides.
    Inner,
    /// Every left row, with the right's columns null where it has no partner.
    Left,
    /// Every right row, with the left's columns null where it has no partner.
    Right,
    /// Every row of both sides.
    Outer,
}

/// How to join: keys, kind, suffixes, and the broadcast choice.
///
/// ```
/// use partita_collections::{How, Merge};
/// let m = Merge::on(&["id"]).how(How::Left).suffixes("_l", "_r").broadcast(false);
/// assert_eq!(m.kind(), How::Left);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Merge {
    left_on: Vec<String>,
    right_on: Vec<String>,
    how: How,
    suffixes: (String, String),
    broadcast: Option<bool>,
    threshold: usize,
    npartitions: Option<usize>,
}

impl Merge {
    /// Join on columns that have the same names on both sides (kept once in the result).
    pub fn on(columns: &[&str]) -> Merge {
        let c: Vec<String> = columns.iter().map(|s| s.to_string()).collect();
        Merge {
            left_on: c.clone(),
            right_on: c,
            how: How::Inner,
            suffixes: ("_x".into(), "_y".into()),
            broadcast: None,
            threshold: 32 << 20,
            npartitions: None,
        }
    }

    /// Join `left_on` of the left with `right_on` of the right (both kept in the result).
    pub fn left_right(left_on: &[&str], right_on: &[&str]) -> Merge {
        let mut m = Merge::on(left_on);
        m.right_on = right_on.iter().map(|s| s.to_string()).collect();
        m
    }

    /// Which rows to keep (default [`How::Inner`]).
    pub fn how(mut self, how: How) -> Merge {
        self.how = how;
        self
    }

    /// The kind of join.
    pub fn kind(&self) -> How {
        self.how
    }

    /// Suffixes for non-key columns that both sides have (default `_x`, `_y`, as pandas).
    pub fn suffixes(mut self, left: &str, right: &str) -> Merge {
        self.suffixes = (left.into(), right.into());
        self
    }

    /// Force (`true`) or forbid (`false`) broadcasting the smaller side; by default a side is
    /// broadcast when it has one partition or its estimated size is under the threshold.
    pub fn broadcast(mut self, broadcast: bool) -> Merge {
        self.broadcast = Some(broadcast);
        self
    }

    /// The estimated size in bytes under which a side is broadcast (default 32 MiB).
    pub fn broadcast_threshold(mut self, bytes: usize) -> Merge {
        self.threshold = bytes;
        self
    }

    /// The number of partitions of a shuffle join (default: the larger side's).
    pub fn npartitions(mut self, n: usize) -> Merge {
        self.npartitions = Some(n);
        self
    }
}

/// The build side of a join: row numbers by key.
enum Table {
    /// `slots[key - min]` is the first row with that key (`u32::MAX`: none).
    Dense { min: i64, slots: Vec<u32> },
    /// The built batch is in key order and holds each key of `min..min + len` once: the row of
    /// key `k` is `k - min`, found without a lookup (a perfect hash).
    Ordered { min: i64, len: usize },
    /// First row by the value of a single integer key.
    Ints {
        firsts: HashMap<i64, u32, foldhash::fast::FixedState>,
    },
    /// First row by the arrow-row encoding of the key.
    Hashed {
        firsts: HashMap<Box<[u8]>, u32, foldhash::fast::FixedState>,
        converter: RowConverter,
    },
}

/// A built side: its table, and for each row the next row with the same key.
struct Built {
    /// No key repeats: every chain has one row.
    unique: bool,
    table: Table,
    next: Vec<u32>,
}

const NONE: u32 = u32::MAX;

/// A single integer key as `i64`s (nulls as `None`), if it is one (`uint64` keys, which may not
/// fit, are hashed instead).
fn int_key(cols: &[ArrayRef]) -> Option<Vec<Option<i64>>> {
    let mut out = Vec::with_capacity(cols.first().map_or(0, |c| c.len()));
    for_each_int_key(cols, |_, v| out.push(v)).then_some(out)
}

/// [`int_key`] without collecting: calls `f(row, key)` for each row; `false` (and no call)
/// when the keys are not one integer column.
fn for_each_int_key(cols: &[ArrayRef], f: impl FnMut(usize, Option<i64>)) -> bool {
    let [c] = cols else { return false };
    c.data_type() != &arrow::datatypes::DataType::UInt64 && for_each_int(c, f)
}

/// Which rows have a null in any key column.
fn null_rows(cols: &[ArrayRef], n: usize) -> Vec<bool> {
    (0..n).map(|i| cols.iter().any(|c| c.is_null(i))).collect()
}

fn build(batch: &RecordBatch, on: &[String]) -> Result<Built> {
    let cols = key_columns(batch, on)?;
    let n = batch.num_rows();
    let mut next = vec![NONE; n];
    if let Some(keys) = int_key(&cols) {
        let (lo, hi) = keys
            .iter()
            .flatten()
            .fold((i64::MAX, i64::MIN), |(a, b), &k| (a.min(k), b.max(k)));
        let span = (hi as i128 - lo as i128 + 1).max(0) as u128;
        if n == 0 || span <= (16 * n as u128 + 1024) {
            let mut slots = vec![NONE; if n == 0 { 0 } else { span as usize }];
            // Backwards, so each chain lists rows in ascending order.
            for (row, k) in keys.iter().enumerate().rev() {
                if let Some(k) = k {
                    let s = &mut slots[(k - lo) as usize];
                    next[row] = *s;
                    *s = row as u32;
                }
            }
            return Ok(Built {
                unique: next.iter().all(|&x| x == NONE),
                table: Table::Dense { min: lo, slots },
                next,
            });
        }
        let mut firsts: HashMap<i64, u32, _> =
            HashMap::with_capacity_and_hasher(n, foldhash::fast::FixedState::default());
        for (row, k) in keys.iter().enumerate().rev() {
            if let Some(k) = k {
                let s = firsts.entry(*k).or_insert(NONE);
                next[row] = *s;
                *s = row as u32;
            }
        }
        return Ok(Built {
            unique: next.iter().all(|&x| x == NONE),
            table: Table::Ints { firsts },
            next,
        });
    }
    let converter = row_converter(&cols)?;
    let rows = converter.convert_columns(&cols).map_err(arrow_error)?;
    let nulls = null_rows(&cols, n);
    let mut firsts: HashMap<Box<[u8]>, u32, foldhash::fast::FixedState> = HashMap::default();
    for row in (0..n).rev() {
        if nulls[row] {
            continue;
        }
        let slot = firsts.entry(rows.row(row).as_ref().into()).or_insert(NONE);
        next[row] = *slot;
        *slot = row as u32;
    }
    Ok(Built {
        unique: next.iter().all(|&x| x == NONE),
        table: Table::Hashed { firsts, converter },
        next,
    })
}

/// The pairs `(probe row, built row)` with equal keys, in probe-row order; with `keep_probe`,
/// a probe row without partner pairs with [`NONE`]. Marks the built rows that matched, when
/// asked to. The probe rows are `None` when they are every row once, in order (the built side's
/// keys are unique and every row found its partner, or was kept without one).
fn probe(
    built: &Built,
    batch: &RecordBatch,
    on: &[String],
    keep_probe: bool,
    mut matched: Option<&mut [bool]>,
) -> Result<(Option<Vec<u32>>, Vec<u32>)> {
    let cols = key_columns(batch, on)?;
    let n = batch.num_rows();
    // One pair per probe row so far: the probe rows are implied until a row has none.
    let single = built.unique && matched.is_none();
    let mut l: Option<Vec<u32>> = (!single).then(|| Vec::with_capacity(n));
    let mut r = Vec::with_capacity(n);
    let mut emit = |row: usize, first: u32| {
        if first == NONE {
            if keep_probe {
                if let Some(l) = l.as_mut() {
                    l.push(row as u32);
                }
                r.push(NONE);
            } else if l.is_none() {
                // The first row without partner: rows 0..row each had one.
                let mut rows = Vec::with_capacity(n);
                rows.extend(0..row as u32);
                l = Some(rows);
            }
            return;
        }
        if single {
            if let Some(l) = l.as_mut() {
                l.push(row as u32);
            }
            r.push(first);
            return;
        }
        let l = l.get_or_insert_with(Vec::new);
        let mut b = first;
        while b != NONE {
            l.push(row as u32);
            r.push(b);
            if let Some(m) = matched.as_deref_mut() {
                m[b as usize] = true;
            }
            b = built.next[b as usize];
        }
    };
    // Integer tables need integer keys on the probe side too.
    let ints = match &built.table {
        Table::Ordered { min, len } => match (&cols[..], single) {
            // One key column without nulls, one partner or none per row: a loop the compiler
            // vectorises, misses taken out after.
            ([c], true) if c.data_type() == &DataType::Int64 && c.null_count() == 0 => {
                let keys = c.as_primitive::<Int64Type>().values();
                r.extend(keys.iter().map(|&k| {
                    let i = k.wrapping_sub(*min) as u64;
                    if i < *len as u64 {
                        i as u32
                    } else {
                        NONE
                    }
                }));
                if !keep_probe && r.contains(&NONE) {
                    let pairs = r.iter().enumerate().filter(|(_, &b)| b != NONE);
                    let (lv, rv) = pairs.map(|(row, &b)| (row as u32, b)).unzip();
                    return Ok((Some(lv), rv));
                }
                true
            }
            _ => for_each_int_key(&cols, |row, k| {
                let i = k.map_or(u64::MAX, |k| k.wrapping_sub(*min) as u64);
                emit(row, if i < *len as u64 { i as u32 } else { NONE });
            }),
        },
        Table::Dense { min, slots } => for_each_int_key(&cols, |row, k| {
            let i = k.map_or(u64::MAX, |k| k.wrapping_sub(*min) as u64);
            emit(row, slots.get(i as usize).copied().unwrap_or(NONE));
        }),
        Table::Ints { firsts } => for_each_int_key(&cols, |row, k| {
            emit(row, k.and_then(|k| firsts.get(&k).copied()).unwrap_or(NONE));
        }),
        Table::Hashed { firsts, converter } => {
            let rows = converter.convert_columns(&cols).map_err(arrow_error)?;
            let nulls = null_rows(&cols, n);
            for (row, &null) in nulls.iter().enumerate() {
                let first = if null {
                    NONE
                } else {
                    firsts.get(rows.row(row).as_ref()).copied().unwrap_or(NONE)
                };
                emit(row, first);
            }
            true
        }
    };
    if !ints {
        return Err(Error::Schema {
            message: format!("join keys {on:?} are not integers on both sides"),
        });
    }
    Ok((l, r))
}

/// Row numbers as take indices, [`NONE`] as null; `None` (every row once, in order) stays so.
fn indices(rows: Option<Vec<u32>>) -> Option<UInt32Array> {
    let rows = rows?;
    Some(if rows.contains(&NONE) {
        rows.into_iter().map(|r| (r != NONE).then_some(r)).collect()
    } else {
        UInt32Array::from(rows)
    })
}

/// How the result's columns are made: the output schema and, per column, its side and source
/// column, plus which key columns coalesce (outer joins on shared names).
#[derive(Clone, Serialize, Deserialize)]
struct Layout {
    #[serde(with = "super::codec::schema")]
    schema: SchemaRef,
    /// (from the left?, column index there, coalesce with this right column)
    columns: Vec<(bool, usize, Option<usize>)>,
}

fn layout(left: &Schema, right: &Schema, m: &Merge) -> Result<Layout> {
    let shared_keys = m.left_on == m.right_on;
    for (side, schema, on) in [("left", left, &m.left_on), ("right", right, &m.right_on)] {
        for c in on {
            if schema.field_with_name(c).is_err() {
                return Err(Error::Schema {
                    message: format!("merge: the {side} frame has no key column {c:?}"),
                });
            }
        }
    }
    if m.left_on.len() != m.right_on.len() || m.left_on.is_empty() {
        return Err(Error::Schema {
            message: format!(
                "merge: left_on {:?} and right_on {:?} must name the same number (at least one) of columns",
                m.left_on, m.right_on
            ),
        });
    }
    for (l, r) in m.left_on.iter().zip(&m.right_on) {
        let (lt, rt) = (
            left.field_with_name(l).map_err(arrow_error)?.data_type(),
            right.field_with_name(r).map_err(arrow_error)?.data_type(),
        );
        let ints = lt.is_integer() && rt.is_integer();
        if lt != rt && !ints {
            return Err(Error::Schema {
                message: format!(
                    "merge: key {l:?} is {lt} on the left but {r:?} is {rt} on the right"
                ),
            });
        }
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    let nullable_left = matches!(m.how, How::Right | How::Outer);
    let nullable_right = matches!(m.how, How::Left | How::Outer);
    for (i, f) in left.fields().iter().enumerate() {
        let name = f.name();
        if shared_keys && m.left_on.contains(name) {
            // A shared key appears once: the left's, the right's for a right join, and
            // either for an outer join.
            let j = right.index_of(name).map_err(arrow_error)?;
            let (from_left, at, coalesce) = match m.how {
                How::Right => (false, j, None),
                How::Outer => (true, i, Some(j)),
                How::Inner | How::Left => (true, i, None),
            };
            let nullable = f.is_nullable() || right.field(j).is_nullable();
            fields.push(Field::new(name, f.data_type().clone(), nullable));
            columns.push((from_left, at, coalesce));
            continue;
        }
        let clash = right.field_with_name(name).is_ok();
        let name = if clash {
            format!("{name}{}", m.suffixes.0)
        } else {
            name.clone()
        };
        fields.push(Field::new(
            name,
            f.data_type().clone(),
            f.is_nullable() || nullable_left,
        ));
        columns.push((true, i, None));
    }
    for (j, f) in right.fields().iter().enumerate() {
        let name = f.name();
        if shared_keys && m.right_on.contains(name) {
            continue;
        }
        let clash = left.field_with_name(name).is_ok();
        let name = if clash {
            format!("{name}{}", m.suffixes.1)
        } else {
            name.clone()
        };
        fields.push(Field::new(
            name,
            f.data_type().clone(),
            f.is_nullable() || nullable_right,
        ));
        columns.push((false, j, None));
    }
    Ok(Layout {
        schema: Arc::new(Schema::new(fields)),
        columns,
    })
}

/// The joined batch from index pairs (`None`: every row of that side once, in order).
fn assemble(
    layout: &Layout,
    left: &RecordBatch,
    right: &RecordBatch,
    li: Option<&UInt32Array>,
    ri: Option<&UInt32Array>,
) -> Result<RecordBatch> {
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(layout.columns.len());
    // Indices 0..n over all of a side take nothing: use its columns as they are.
    let identity = |idx: Option<&UInt32Array>, n: usize| {
        idx.is_none_or(|idx| {
            idx.len() == n
                && idx.null_count() == 0
                && idx
                    .values()
                    .iter()
                    .enumerate()
                    .all(|(i, &v)| v as usize == i)
        })
    };
    let (left_same, right_same) = (
        identity(li, left.num_rows()),
        identity(ri, right.num_rows()),
    );
    // Column `c` of `side` at the rows `idx` (all of them, as they are, when `same`).
    let pick = |side: &RecordBatch, c: usize, idx: Option<&UInt32Array>, same: bool| match idx {
        Some(idx) if !same => take(side.column(c), idx, None).map_err(arrow_error),
        _ => Ok(side.column(c).clone()),
    };
    for &(from_left, c, coalesce) in &layout.columns {
        let col = if from_left {
            pick(left, c, li, left_same)?
        } else {
            pick(right, c, ri, right_same)?
        };
        let col = match coalesce {
            Some(j) => {
                let other = pick(right, j, ri, right_same)?;
                let mask: BooleanArray = is_not_null(&col).map_err(arrow_error)?;
                zip(&mask, &col, &other).map_err(arrow_error)?
            }
            None => col,
        };
        cols.push(col);
    }
    RecordBatch::try_new(layout.schema.clone(), cols).map_err(arrow_error)
}

/// The side a join builds its table on: the right, except for right joins.
fn builds_left(m: &Merge) -> bool {
    m.how == How::Right
}

/// A built side with its batch.
struct BuiltSide {
    batch: RecordBatch,
    built: Built,
    /// The join it was built for: what its codec needs to build it again from the batch.
    merge: Merge,
}

fn build_side(batch: RecordBatch, m: &Merge) -> Result<BuiltSide> {
    let on = if builds_left(m) {
        &m.left_on
    } else {
        &m.right_on
    };
    let mut built = build(&batch, on)?;
    // A unique key filling its range: reorder the rows by key once, so that probes compute
    // each partner's row instead of looking it up. Not for outer joins, whose unmatched built
    // rows keep their order.
    let perfect = match &mut built.table {
        Table::Dense { min, slots }
            if built.unique && m.how != How::Outer && !slots.contains(&NONE) =>
        {
            Some((*min, std::mem::take(slots)))
        }
        _ => None,
    };
    if let Some((min, order)) = perfect {
        let len = order.len();
        let batch = take_record_batch(&batch, &UInt32Array::from(order)).map_err(arrow_error)?;
        built.table = Table::Ordered { min, len };
        return Ok(BuiltSide {
            batch,
            built,
            merge: m.clone(),
        });
    }
    Ok(BuiltSide {
        batch,
        built,
        merge: m.clone(),
    })
}

/// A built side's bytes: its join and its batch, from which the table is built again (the
/// table is a function of the two, and cheaper to build than to check when read from outside).
fn encode_side(v: &Value) -> partita_runtime::Result<Vec<u8>> {
    let side = v
        .downcast_ref::<Arc<BuiltSide>>()
        .ok_or_else(|| partita_runtime::Error::Codec {
            what: "a built join side".into(),
            message: "the value is of another type".into(),
        })?;
    let batch = super::codec::batch_to_ipc(&side.batch)?;
    partita_runtime::encode_params("a built join side", &(&side.merge, batch))
}

fn decode_side(bytes: &[u8]) -> partita_runtime::Result<Value> {
    let (m, batch): (Merge, Vec<u8>) = partita_runtime::decode_params("a built join side", bytes)?;
    let batch = super::codec::batch_from_ipc(&batch)?;
    let side = build_side(batch, &m).map_err(|e| partita_runtime::Error::Codec {
        what: "a built join side".into(),
        message: e.to_string(),
    })?;
    Ok(value(Arc::new(side)))
}

partita_runtime::register_codec!(
    Arc<BuiltSide>,
    "frame.join.BuiltSide",
    encode_side,
    decode_side
);

/// Joins a built side with a batch of the other side.
fn join_built(
    layout: &Layout,
    m: &Merge,
    side: &BuiltSide,
    other: &RecordBatch,
) -> Result<RecordBatch> {
    if builds_left(m) {
        let (r, l) = probe(&side.built, other, &m.right_on, true, None)?;
        let (l, r) = (indices(Some(l)), indices(r));
        return assemble(layout, &side.batch, other, l.as_ref(), r.as_ref());
    }
    let keep = m.how != How::Inner;
    let mut matched = (m.how == How::Outer).then(|| vec![false; side.batch.num_rows()]);
    let (mut l, mut r) = probe(&side.built, other, &m.left_on, keep, matched.as_deref_mut())?;
    if let Some(matched) = matched {
        let l = l.get_or_insert_with(|| (0..other.num_rows() as u32).collect());
        for (row, hit) in matched.iter().enumerate() {
            if !hit {
                l.push(NONE);
                r.push(row as u32);
            }
        }
    }
    let (l, r) = (indices(l), indices(Some(r)));
    assemble(layout, other, &side.batch, l.as_ref(), r.as_ref())
}

/// Joins one left batch with one right batch.
fn join_pair(
    layout: &Layout,
    m: &Merge,
    left: &RecordBatch,
    right: &RecordBatch,
) -> Result<RecordBatch> {
    if builds_left(m) {
        join_built(layout, m, &build_side(left.clone(), m)?, right)
    } else {
        join_built(layout, m, &build_side(right.clone(), m)?, left)
    }
}

/// Concatenates a frame's partitions into one batch and builds its join table, in one task.
fn gather(frame: &DataFrame, graph: &mut Graph, op: &str, m: &Merge) -> TaskKey {
    let fm = frame.materialize();
    graph.merge(&fm.graph);
    let name = unique(op);
    let build = BuildTable {
        schema: fm.schema.clone(),
        merge: m.clone(),
    };
    blockwise(graph, &name, &build, [fm.keys()]).remove(0)
}

/// The inputs concatenated, and the join table built on them.
#[derive(Serialize, Deserialize)]
struct BuildTable {
    #[serde(with = "super::codec::schema")]
    schema: SchemaRef,
    merge: Merge,
}

impl Op for BuildTable {
    const NAME: &'static str = "frame.join.build";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let (schema, ks, o, m) = (
            self.schema.clone(),
            cx.deps.to_vec(),
            cx.key.clone(),
            self.merge.clone(),
        );
        Ok(Arc::new(move |vals: Vec<Value>| {
            let mut batches = Vec::with_capacity(vals.len());
            for (v, k) in vals.iter().zip(&ks) {
                batches.push(downcast::<RecordBatch>(v, k)?.clone());
            }
            let b =
                concat_batches(&schema, &batches).map_err(|e| task_error(&o, arrow_error(e)))?;
            let side = build_side(b, &m).map_err(|e| task_error(&o, e))?;
            Ok(value(Arc::new(side)))
        }))
    }
}
register_op!(BuildTable);

/// A partition (the first input) joined with a built table (the second).
#[derive(Serialize, Deserialize)]
struct Probe {
    layout: Layout,
    merge: Merge,
}

impl Op for Probe {
    const NAME: &'static str = "frame.join.probe";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let [kk, tk] = inputs::<2>(cx)?;
        let (layout, m, o) = (self.layout.clone(), self.merge.clone(), cx.key.clone());
        Ok(Arc::new(move |vals: Vec<Value>| {
            let part = downcast::<RecordBatch>(&vals[0], &kk)?;
            let side = downcast::<Arc<BuiltSide>>(&vals[1], &tk)?;
            join_built(&layout, &m, side, part)
                .map(value)
                .map_err(|e| task_error(&o, e))
        }))
    }
}
register_op!(Probe);

/// A left partition (the first input) joined with a right one (the second).
#[derive(Serialize, Deserialize)]
struct JoinPair {
    layout: Layout,
    merge: Merge,
}

impl Op for JoinPair {
    const NAME: &'static str = "frame.join.pair";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let [a, b] = inputs::<2>(cx)?;
        let (layout, m, o) = (self.layout.clone(), self.merge.clone(), cx.key.clone());
        Ok(Arc::new(move |vals: Vec<Value>| {
            let l = downcast::<RecordBatch>(&vals[0], &a)?;
            let r = downcast::<RecordBatch>(&vals[1], &b)?;
            join_pair(&layout, &m, l, r)
                .map(value)
                .map_err(|e| task_error(&o, e))
        }))
    }
}
register_op!(JoinPair);

impl DataFrame {
    /// For a join on one key that is a side's index with known divisions: both sides cut by
    /// those divisions (a side already cut by them is used as it is), so that partition `i` of
    /// one meets partition `i` of the other without a hash shuffle. `None` otherwise.
    fn index_join(
        &self,
        other: &DataFrame,
        m: &Merge,
    ) -> Result<Option<(DataFrame, DataFrame, usize)>> {
        let ([l], [r]) = (&m.left_on[..], &m.right_on[..]) else {
            return Ok(None);
        };
        let indexed = |f: &DataFrame, key: &str| {
            (f.index_name() == Some(key))
                .then(|| f.divisions())
                .flatten()
        };
        let (ld, rd) = (indexed(self, l), indexed(other, r));
        let Some(divisions) = ld.clone().or_else(|| rd.clone()) else {
            return Ok(None);
        };
        let same = |d: &Option<ArrayRef>| {
            d.as_ref().is_some_and(|d| {
                arrow::compute::cast(d, divisions.data_type())
                    .is_ok_and(|d| d.to_data() == divisions.to_data())
            })
        };
        let left = if same(&ld) {
            self.clone()
        } else {
            self.partition_by_divisions(l, &divisions)?
        };
        let right = if same(&rd) {
            other.clone()
        } else {
            other.partition_by_divisions(r, &divisions)?
        };
        let n = divisions.len().saturating_sub(1).max(1);
        if left.npartitions != n || right.npartitions != n {
            return Ok(None);
        }
        Ok(Some((left, right, n)))
    }

    /// This frame joined with `other` as `how` says: pandas' and Dask's `merge`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch, StringArray};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use partita_collections::{DataFrame, How, Merge};
    ///
    /// let people = RecordBatch::try_new(
    ///     Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("name", DataType::Utf8, false)])),
    ///     vec![Arc::new(Int64Array::from(vec![1, 2, 3])), Arc::new(StringArray::from(vec!["Ann", "Bob", "Cid"]))],
    /// ).unwrap();
    /// let cities = RecordBatch::try_new(
    ///     Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("city", DataType::Utf8, false)])),
    ///     vec![Arc::new(Int64Array::from(vec![3, 1])), Arc::new(StringArray::from(vec!["Oslo", "Rome"]))],
    /// ).unwrap();
    /// let left = DataFrame::from_arrow(people, 2)?;
    /// let right = DataFrame::from_arrow(cities, 1)?;
    /// let inner = left.merge(&right, Merge::on(&["id"]))?.compute()?;
    /// assert_eq!(inner.num_rows(), 2);
    /// let all = left.merge(&right, Merge::on(&["id"]).how(How::Left))?.compute()?;
    /// assert_eq!(all.num_rows(), 3);
    /// assert_eq!(all.column(3).null_count(), 1); // Bob has no city
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Schema`] when a key column is missing, or the keys' types differ.
    pub fn merge(&self, other: &DataFrame, m: Merge) -> Result<DataFrame> {
        let layout = layout(&self.schema, &other.schema, &m)?;
        let (ls, rs) = (self.size_hint(), other.size_hint());
        let small = |hint: Option<usize>, parts: usize| {
            parts == 1 || hint.is_some_and(|b| b <= m.threshold)
        };
        // Broadcast the right side into every left partition (or the left into every right
        // partition for a right join); never for outer joins.
        let broadcast_right = match (m.broadcast, m.how) {
            (_, How::Outer) => false,
            (Some(b), How::Inner | How::Left) => b,
            (None, How::Inner | How::Left) => small(rs, other.npartitions),
            (_, How::Right) => false,
        };
        let broadcast_left = match (m.broadcast, m.how) {
            (Some(b), How::Right) => b,
            (None, How::Right) => small(ls, self.npartitions),
            _ => false,
        };
        let name = unique("merge");
        let schema = layout.schema.clone();
        if broadcast_right || broadcast_left {
            let (big, small_side) = if broadcast_right {
                (self, other)
            } else {
                (other, self)
            };
            let bm = big.materialize();
            let mut graph = bm.graph.clone();
            let table = gather(small_side, &mut graph, "merge-broadcast", &m);
            let probe = Probe {
                layout,
                merge: m.clone(),
            };
            let deps = bm.keys().into_iter().map(|k| vec![k, table.clone()]);
            blockwise(&mut graph, &name, &probe, deps);
            return Ok(DataFrame::from_partitions(
                graph,
                name,
                bm.npartitions,
                schema,
            ));
        }
        let (left, right, n) = match self.index_join(other, &m)? {
            Some(aligned) => aligned,
            None => {
                let n = m
                    .npartitions
                    .unwrap_or(self.npartitions.max(other.npartitions))
                    .max(1);
                let left =
                    self.shuffle(&m.left_on.iter().map(String::as_str).collect::<Vec<_>>(), n)?;
                let right = other.shuffle(
                    &m.right_on.iter().map(String::as_str).collect::<Vec<_>>(),
                    n,
                )?;
                (left, right, n)
            }
        };
        let (lk, rk) = (left.keys(), right.keys());
        let mut graph = left.graph();
        graph.merge(&right.graph());
        let pair = JoinPair { layout, merge: m };
        let deps = (0..n).map(|i| vec![lk[i].clone(), rk[i].clone()]);
        blockwise(&mut graph, &name, &pair, deps);
        Ok(DataFrame::from_partitions(graph, name, n, schema))
    }
}
