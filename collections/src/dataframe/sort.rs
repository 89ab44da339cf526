//! Sorting across partitions: `set_index` and `sort_values`.
//!
//! Both sample the sort key of every partition (a strided sample plus the exact minimum and
//! maximum), choose `npartitions - 1` boundaries at the sample's quantiles, move every row to
//! the partition of its range with the runtime's shuffle, and sort each partition on its own.
//! Rows compare by their arrow-row encoding, so any orderable key type works; a sort is stable
//! (equal keys keep their order: input partition, then row). Nulls sort last.
//!
//! `set_index` keeps the boundaries as the frame's divisions, so [`DataFrame::loc`] reads only
//! the partition that can hold a key.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{concat, take, take_record_batch};
use arrow::datatypes::{DataType, Int64Type};
use arrow::row::{RowConverter, Rows, SortField};
use partita_runtime::{downcast, value, Graph, Kernel, Runtime, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::expr::{arrow_error, dtype_name, literal_array, literal_fits, literal_type, Literal};
use super::shuffle::{key_columns, shuffle_frame, task_error, Assemble, Route};
use super::{inputs, DataFrame, IndexInfo};
use crate::error::{Error, Result};
use crate::layer::{blockwise, register_op, Op};
use crate::names::unique;

/// Sampled keys per partition.
const SAMPLES: usize = 256;

/// Row encodings of `cols`, ordered as the columns sort (descending where asked).
fn encode(cols: &[ArrayRef], descending: &[bool]) -> Result<(RowConverter, Rows)> {
    let fields = cols
        .iter()
        .zip(descending)
        .map(|(c, &d)| {
            SortField::new_with_options(
                c.data_type().clone(),
                arrow::compute::SortOptions {
                    descending: d,
                    nulls_first: false,
                },
            )
        })
        .collect();
    let conv = RowConverter::new(fields).map_err(arrow_error)?;
    let rows = conv.convert_columns(cols).map_err(arrow_error)?;
    Ok((conv, rows))
}

/// A stable sort of `batch` by `by`.
fn sort_batch(batch: &RecordBatch, by: &[String], descending: &[bool]) -> Result<RecordBatch> {
    let n = batch.num_rows();
    if n < 2 {
        return Ok(batch.clone());
    }
    let cols = key_columns(batch, by)?;
    let order: Vec<u32> = match (&cols[..], descending) {
        // One non-null int64 key: sort (key, row) pairs directly.
        ([c], [d]) if c.data_type() == &DataType::Int64 && c.null_count() == 0 => {
            let keys = c.as_primitive::<Int64Type>().values();
            let mut pairs: Vec<(i64, u32)> = keys
                .iter()
                .enumerate()
                .map(|(i, &k)| (if *d { !k } else { k }, i as u32))
                .collect();
            pairs.sort_unstable();
            pairs.into_iter().map(|(_, i)| i).collect()
        }
        _ => {
            let (_, rows) = encode(&cols, descending)?;
            let mut idx: Vec<u32> = (0..n as u32).collect();
            idx.sort_by(|&a, &b| {
                rows.row(a as usize)
                    .cmp(&rows.row(b as usize))
                    .then(a.cmp(&b))
            });
            idx
        }
    };
    take_record_batch(batch, &UInt32Array::from(order)).map_err(arrow_error)
}

/// The rows of `pieces` (in order), stably sorted by `by`, without concatenating them first:
/// one key (a non-null int64) sorts `(key, piece, row)` triples and gathers the rows with
/// `interleave`; other keys concatenate and sort.
pub(super) fn sort_pieces(
    schema: &arrow::datatypes::SchemaRef,
    pieces: Vec<RecordBatch>,
    by: &[String],
    descending: &[bool],
) -> Result<RecordBatch> {
    let fast = by.len() == 1
        && pieces.iter().all(|p| {
            p.column_by_name(&by[0])
                .is_some_and(|c| c.data_type() == &DataType::Int64 && c.null_count() == 0)
        });
    if !fast || pieces.len() < 2 {
        let all = arrow::compute::concat_batches(schema, &pieces).map_err(arrow_error)?;
        return sort_batch(&all, by, descending);
    }
    let d = descending[0];
    let mut keys: Vec<(i64, u32, u32)> =
        Vec::with_capacity(pieces.iter().map(|p| p.num_rows()).sum());
    for (pi, p) in pieces.iter().enumerate() {
        let k = p
            .column_by_name(&by[0])
            .expect("checked")
            .as_primitive::<Int64Type>();
        keys.extend(
            k.values()
                .iter()
                .enumerate()
                .map(|(r, &v)| (if d { !v } else { v }, pi as u32, r as u32)),
        );
    }
    keys.sort_unstable();
    let order: Vec<(usize, usize)> = keys
        .iter()
        .map(|&(_, p, r)| (p as usize, r as usize))
        .collect();
    let columns = (0..schema.fields().len())
        .map(|c| {
            let cols: Vec<&dyn Array> = pieces.iter().map(|p| p.column(c).as_ref()).collect();
            arrow::compute::interleave(&cols, &order).map_err(arrow_error)
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(arrow_error)
}

/// A strided sample of `col`'s non-null values, with its minimum and maximum.
fn sample(col: &ArrayRef) -> Result<ArrayRef> {
    let n = col.len();
    let valid = n - col.null_count();
    if valid == 0 {
        return Ok(col.slice(0, 0));
    }
    let step = valid.div_ceil(SAMPLES).max(1);
    let mut picks: Vec<u32> = if col.null_count() == 0 {
        (0..n as u32).step_by(step).collect()
    } else {
        (0..n as u32)
            .filter(|&i| col.is_valid(i as usize))
            .step_by(step)
            .collect()
    };
    // The extremes, so the divisions cover every value.
    if col.data_type() == &DataType::Int64 && col.null_count() == 0 {
        let v = col.as_primitive::<Int64Type>().values();
        let (mut lo, mut hi) = (0, 0);
        for (i, &x) in v.iter().enumerate() {
            if x < v[lo] {
                lo = i;
            }
            if x > v[hi] {
                hi = i;
            }
        }
        picks.extend([lo as u32, hi as u32]);
    } else {
        let (_, rows) = encode(std::slice::from_ref(col), &[false])?;
        let valid = (0..n).filter(|&i| col.is_valid(i));
        let lo = valid.clone().min_by(|&a, &b| rows.row(a).cmp(&rows.row(b)));
        let hi = valid.max_by(|&a, &b| rows.row(a).cmp(&rows.row(b)));
        picks.extend(lo.map(|i| i as u32));
        picks.extend(hi.map(|i| i as u32));
    }
    take(col, &UInt32Array::from(picks), None).map_err(arrow_error)
}

/// The sorted sample's minimum, `n - 1` distinct quantile boundaries, and maximum.
fn choose_divisions(samples: &ArrayRef, n: usize, descending: bool) -> Result<ArrayRef> {
    if samples.is_empty() {
        return Ok(samples.clone());
    }
    let (_, rows) = encode(std::slice::from_ref(samples), &[descending])?;
    let mut idx: Vec<u32> = (0..samples.len() as u32).collect();
    idx.sort_by(|&a, &b| rows.row(a as usize).cmp(&rows.row(b as usize)));
    let len = idx.len();
    let mut picks = vec![idx[0]];
    for i in 1..n {
        let p = idx[(i * len / n).min(len - 1)];
        if rows.row(p as usize) != rows.row(*picks.last().expect("one pick") as usize) {
            picks.push(p);
        }
    }
    let last = idx[len - 1];
    if picks.len() == 1
        || rows.row(last as usize) != rows.row(*picks.last().expect("a pick") as usize)
    {
        picks.push(last);
    }
    take(samples, &UInt32Array::from(picks), None).map_err(arrow_error)
}

/// A sample of one column of a partition, for choosing divisions.
#[derive(Serialize, Deserialize)]
struct Sample {
    column: String,
}

impl Op for Sample {
    const NAME: &'static str = "frame.sample";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let [input] = inputs::<1>(cx)?;
        let (c, out) = (self.column.clone(), cx.key.clone());
        Ok(Arc::new(move |vals: Vec<Value>| {
            let b = downcast::<RecordBatch>(&vals[0], &input)?;
            let col = b.column_by_name(&c).cloned().ok_or_else(|| {
                task_error(
                    &out,
                    Error::Schema {
                        message: format!("no column {c:?} to sample"),
                    },
                )
            })?;
            sample(&col).map(value).map_err(|e| task_error(&out, e))
        }))
    }
}
register_op!(Sample);

impl DataFrame {
    /// Samples `column` in every partition (on `runtime`) and chooses divisions for `n` parts.
    fn divisions_for(
        &self,
        runtime: &Runtime,
        column: &str,
        n: usize,
        descending: bool,
    ) -> Result<ArrayRef> {
        if self.schema.field_with_name(column).is_err() {
            return Err(Error::Schema {
                message: format!("no column {column:?} to sort by in {:?}", self.columns()),
            });
        }
        let m = self.materialize();
        let mut graph = m.graph.clone();
        let name = unique("sample");
        let op = Sample {
            column: column.to_string(),
        };
        let sample_keys = blockwise(
            &mut graph,
            &name,
            &op,
            m.keys().into_iter().map(|k| vec![k]),
        );
        let parts = runtime.compute(&graph, &sample_keys)?;
        let arrays: Vec<ArrayRef> = parts
            .iter()
            .zip(&sample_keys)
            .map(|(v, k)| downcast::<ArrayRef>(v, k).cloned())
            .collect::<partita_runtime::Result<_>>()?;
        let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
        let all = concat(&refs).map_err(arrow_error)?;
        choose_divisions(&all, n, descending)
    }

    /// Shuffles rows into the ranges of `divisions` by `by[0]`, then sorts each part by `by`.
    fn range_sort(
        &self,
        divisions: &ArrayRef,
        by: Vec<String>,
        descending: Vec<bool>,
    ) -> DataFrame {
        let (parts, route) = router(divisions, by[0].clone(), descending[0]);
        let assemble = Assemble::Sort { by, descending };
        shuffle_frame(self, parts, "range-sort", route, assemble)
    }

    /// The rows moved into the ranges of `divisions` by `column` (unsorted within each part):
    /// how a frame meets another frame's index in a join. Nulls go to the last part.
    pub(crate) fn partition_by_divisions(
        &self,
        column: &str,
        divisions: &ArrayRef,
    ) -> Result<DataFrame> {
        let field = self.schema.field_with_name(column).map_err(arrow_error)?;
        let divisions = arrow::compute::cast(divisions, field.data_type()).map_err(arrow_error)?;
        let (parts, route) = router(&divisions, column.to_string(), false);
        Ok(shuffle_frame(
            self,
            parts,
            "division-shuffle",
            route,
            Assemble::Concat,
        ))
    }

    /// The frame indexed and sorted by `column`, in `npartitions` partitions whose ranges of
    /// `column` are its [`divisions`](Self::divisions), as Dask's `set_index`. The divisions
    /// come from a sample of every partition, computed now on the current runtime ([`Runtime::current`](partita_runtime::Runtime::current)). Rows with
    /// equal keys end up in the same partition, in their original order; nulls go last.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch, StringArray};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use partita_collections::DataFrame;
    ///
    /// let schema = Arc::new(Schema::new(vec![
    ///     Field::new("name", DataType::Utf8, false),
    ///     Field::new("n", DataType::Int64, false),
    /// ]));
    /// let batch = RecordBatch::try_new(schema, vec![
    ///     Arc::new(StringArray::from(vec!["Smith", "Jones", "Smith", "Brown", "Jones"])),
    ///     Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])),
    /// ]).unwrap();
    /// let df = DataFrame::from_arrow(batch, 2)?.set_index("name", 2)?;
    /// assert_eq!(df.index_name(), Some("name"));
    /// assert!(df.divisions().is_some());
    /// let out = df.compute()?;
    /// let names = out.column(0).as_any().downcast_ref::<StringArray>().unwrap();
    /// assert_eq!(names.iter().flatten().collect::<Vec<_>>(), ["Brown", "Jones", "Jones", "Smith", "Smith"]);
    /// assert_eq!(df.loc("Smith")?.num_rows(), 2);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column; the error of a partition it had to sample.
    pub fn set_index(&self, column: &str, npartitions: usize) -> Result<DataFrame> {
        let divisions =
            self.divisions_for(&Runtime::current(), column, npartitions.max(1), false)?;
        let sorted = self.range_sort(&divisions, vec![column.to_string()], vec![false]);
        let divisions = (!divisions.is_empty()).then_some(divisions);
        Ok(sorted.with_index(Some(Arc::new(IndexInfo {
            column: column.to_string(),
            divisions,
        }))))
    }

    /// The frame sorted by the columns `by` (the first one decides the partitions), ascending
    /// or not, in `npartitions` partitions; a stable sort, nulls last. The result has no index:
    /// its row labels restart in each partition.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use partita_collections::DataFrame;
    ///
    /// let schema = Arc::new(Schema::new(vec![
    ///     Field::new("a", DataType::Int64, false),
    ///     Field::new("b", DataType::Int64, false),
    /// ]));
    /// let batch = RecordBatch::try_new(schema, vec![
    ///     Arc::new(Int64Array::from(vec![2, 1, 2, 1])),
    ///     Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
    /// ]).unwrap();
    /// let df = DataFrame::from_arrow(batch, 2)?.sort_values(&["a", "b"], false, 2)?;
    /// let out = df.compute()?;
    /// let b = out.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
    /// assert_eq!(b.values(), &[3, 1, 4, 2]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column or no column; the error of a partition it had to
    /// sample.
    pub fn sort_values(
        &self,
        by: &[&str],
        ascending: bool,
        npartitions: usize,
    ) -> Result<DataFrame> {
        let by: Vec<(&str, bool)> = by.iter().map(|c| (*c, ascending)).collect();
        self.sort_values_by(&by, npartitions)
    }

    /// [`sort_values`](Self::sort_values) with a direction per column, as pandas'
    /// `sort_values(by=[...], ascending=[...])`: `(column, ascending)` pairs, the first deciding
    /// the partitions. A stable sort, nulls last in every column.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use partita_collections::DataFrame;
    ///
    /// let schema = Arc::new(Schema::new(vec![
    ///     Field::new("a", DataType::Int64, false),
    ///     Field::new("b", DataType::Int64, false),
    /// ]));
    /// let batch = RecordBatch::try_new(schema, vec![
    ///     Arc::new(Int64Array::from(vec![2, 1, 2, 1])),
    ///     Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
    /// ]).unwrap();
    /// let df = DataFrame::from_arrow(batch, 2)?.sort_values_by(&[("a", true), ("b", false)], 2)?;
    /// let out = df.compute()?;
    /// let b = out.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
    /// assert_eq!(b.values(), &[4, 2, 3, 1]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`sort_values`](Self::sort_values).
    pub fn sort_values_by(&self, by: &[(&str, bool)], npartitions: usize) -> Result<DataFrame> {
        let &(first, ascending) = by.first().ok_or_else(|| Error::Schema {
            message: "sort_values needs at least one column".into(),
        })?;
        for (c, _) in by {
            if self.schema.field_with_name(c).is_err() {
                return Err(Error::Schema {
                    message: format!("no column {c:?} to sort by in {:?}", self.columns()),
                });
            }
        }
        let divisions =
            self.divisions_for(&Runtime::current(), first, npartitions.max(1), !ascending)?;
        let desc = by.iter().map(|(_, asc)| !asc).collect();
        let by = by.iter().map(|(c, _)| c.to_string()).collect();
        Ok(self.range_sort(&divisions, by, desc).with_index(None))
    }

    /// The rows whose index equals `key`, reading only the partitions whose divisions can hold
    /// it (every partition when the divisions are unknown).
    ///
    /// # Errors
    /// [`Error::Schema`] when the frame has no index or `key` does not fit its type; the error
    /// of a partition it read.
    pub fn loc(&self, key: impl Into<Literal>) -> Result<RecordBatch> {
        let index = self.index.clone().ok_or_else(|| Error::Schema {
            message: "loc needs an index: call set_index first".into(),
        })?;
        let field = self
            .schema
            .field_with_name(&index.column)
            .map_err(arrow_error)?;
        let key = key.into();
        let (given, wanted) = (literal_type(&key), field.data_type());
        if !literal_fits(&key, wanted) {
            return Err(Error::Schema {
                message: format!(
                    "loc: the key {key:?} is {}, but the index {:?} is {}",
                    dtype_name(&given),
                    index.column,
                    dtype_name(wanted)
                ),
            });
        }
        let literal = literal_array(&key, 1);
        let strict = arrow::compute::CastOptions {
            safe: false,
            ..Default::default()
        };
        let key = arrow::compute::cast_with_options(&literal, wanted, &strict).map_err(|e| {
            Error::Schema {
                message: format!(
                    "loc: the key {key:?} does not fit the index {:?} ({}): {e}",
                    index.column,
                    dtype_name(wanted)
                ),
            }
        })?;
        // A key the index type cannot hold exactly (1.5 for an integer index) is in no row.
        let exact = arrow::compute::cast(&key, &given)
            .is_ok_and(|back| given == DataType::Utf8 || back.as_ref() == literal.as_ref());
        if !exact {
            let empty = RecordBatch::new_empty(self.schema.clone());
            return index_first(&empty, &index.column);
        }
        let m = self.materialize();
        let keys = m.keys();
        let wanted: Vec<usize> = match &index.divisions {
            Some(d) if d.len() == keys.len() + 1 => {
                let both = concat(&[d.as_ref(), key.as_ref()]).map_err(arrow_error)?;
                let (_, rows) = encode(&[both], &[false])?;
                let k = rows.row(d.len());
                (0..keys.len())
                    .filter(|&i| {
                        let last = i + 1 == keys.len();
                        rows.row(i) <= k && (k < rows.row(i + 1) || (last && k <= rows.row(i + 1)))
                    })
                    .collect()
            }
            _ => (0..keys.len()).collect(),
        };
        let mut graph = Graph::new();
        graph.merge(&m.graph);
        let picked: Vec<TaskKey> = wanted.iter().map(|&i| keys[i].clone()).collect();
        let mut out = Vec::new();
        for (v, k) in Runtime::current()
            .compute(&graph, &picked)?
            .iter()
            .zip(&picked)
        {
            let b = downcast::<RecordBatch>(v, k)?;
            let col = b.column_by_name(&index.column).expect("the index column");
            let eq = arrow::compute::kernels::cmp::eq(col, &arrow::array::Scalar::new(key.clone()))
                .map_err(arrow_error)?;
            out.push(arrow::compute::filter_record_batch(b, &eq).map_err(arrow_error)?);
        }
        let all = arrow::compute::concat_batches(&self.schema, &out).map_err(arrow_error)?;
        index_first(&all, &index.column)
    }
}

/// `batch` with the index column first.
fn index_first(batch: &RecordBatch, index: &str) -> Result<RecordBatch> {
    let at = batch.schema().index_of(index).map_err(arrow_error)?;
    let mut order = vec![at];
    order.extend((0..batch.num_columns()).filter(|&c| c != at));
    batch.project(&order).map_err(arrow_error)
}

/// The number of parts `divisions` make, and the route sending each row of a batch to the part
/// of its `key` value.
pub(super) fn router(divisions: &ArrayRef, key: String, descending: bool) -> (usize, Route) {
    let parts = divisions.len().saturating_sub(1).max(1);
    let bounds = if divisions.len() >= 2 {
        divisions.slice(1, divisions.len() - 2)
    } else {
        divisions.slice(0, 0)
    };
    let route = Route::Range {
        key,
        bounds,
        parts,
        descending,
    };
    (parts, route)
}

/// Each row's output partition: the number of boundaries at or below its key (reversed for a
/// descending sort); nulls go to the last partition.
pub(super) fn route(
    col: &ArrayRef,
    bounds: &ArrayRef,
    parts: usize,
    descending: bool,
) -> Result<Vec<u32>> {
    let n = col.len();
    if bounds.is_empty() {
        return Ok(vec![0; n]);
    }
    // Fast path: int64 keys and bounds.
    if col.data_type() == &DataType::Int64 && bounds.null_count() == 0 {
        let b = bounds.as_primitive::<Int64Type>().values();
        let c = col.as_primitive::<Int64Type>();
        return Ok((0..n)
            .map(|i| {
                if c.is_null(i) {
                    return (parts - 1) as u32;
                }
                let v = c.value(i);
                let p = if descending {
                    b.partition_point(|&x| x >= v)
                } else {
                    b.partition_point(|&x| x <= v)
                };
                p as u32
            })
            .collect());
    }
    let both = concat(&[bounds.as_ref(), col.as_ref()]).map_err(arrow_error)?;
    let (_, rows) = encode(&[both], &[descending])?;
    let nb = bounds.len();
    let bound_rows: Vec<_> = (0..nb).map(|i| rows.row(i)).collect();
    Ok((0..n)
        .map(|i| {
            if col.is_null(i) {
                return (parts - 1) as u32;
            }
            let r = rows.row(nb + i);
            bound_rows.partition_point(|b| *b <= r) as u32
        })
        .collect())
}
