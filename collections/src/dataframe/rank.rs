//! Ranks of a column's values over the whole frame, as pandas' `rank`.
//!
//! Each partition counts its distinct values, sorted; one task merges those counts into a
//! table of every distinct value with how many values lie below it; each partition then ranks
//! its rows by binary search in the table. The table holds one entry per distinct value, so its
//! size is the column's cardinality, not its length.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use partita_runtime::{value, Kernel, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::cumulative::replace_column;
use super::expr::{arrow_error, dtype_name};
use super::groupby::fail;
use super::{column_of, DataFrame};
use crate::error::{Error, Result};
use crate::layer::{layer, register_op, Op};
use crate::names::unique;

/// How tied values are ranked, as pandas' `method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RankMethod {
    /// The mean of the ranks the tied values span (pandas' default).
    Average,
    /// The lowest rank they span.
    Min,
    /// The highest rank they span.
    Max,
    /// Ranks of the distinct values, with no gaps (1, 2, 2, 3).
    Dense,
}

/// A column's values as the ranking compares them: integers exactly, floats (NaN missing).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum Keys {
    Int,
    Float,
}

impl Keys {
    fn of(t: &DataType) -> Option<Keys> {
        if t.is_integer() {
            Some(Keys::Int)
        } else if t.is_floating() {
            Some(Keys::Float)
        } else {
            None
        }
    }

    /// The values of `a` as keys, `None` for the missing ones (integers compare as `i64`, so
    /// they stay exact).
    fn values(self, a: &ArrayRef) -> Result<Vec<Option<Key>>> {
        Ok(match self {
            Keys::Int => {
                let a = arrow::compute::cast(a, &DataType::Int64).map_err(arrow_error)?;
                a.as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.map(Key::Int))
                    .collect()
            }
            Keys::Float => {
                let a = arrow::compute::cast(a, &DataType::Float64).map_err(arrow_error)?;
                a.as_primitive::<Float64Type>()
                    .iter()
                    .map(|v| v.filter(|x| !x.is_nan()).map(Key::Float))
                    .collect()
            }
        })
    }
}

/// One value as the ranking compares it.
#[derive(Clone, Copy, Debug)]
enum Key {
    Int(i64),
    Float(f64),
}

impl Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        match (self, other) {
            (Key::Int(a), Key::Int(b)) => a.cmp(b),
            (Key::Float(a), Key::Float(b)) => a.total_cmp(b),
            _ => std::cmp::Ordering::Equal,
        }
    }
}

/// The distinct values of `keys`, sorted (descending with `!ascending`), each with its count.
fn counted(mut keys: Vec<Key>, ascending: bool) -> Vec<(Key, u64)> {
    keys.sort_unstable_by(|a, b| {
        let o = a.cmp(b);
        if ascending {
            o
        } else {
            o.reverse()
        }
    });
    let mut out: Vec<(Key, u64)> = Vec::new();
    for k in keys {
        match out.last_mut() {
            Some((last, n)) if last.cmp(&k).is_eq() => *n += 1,
            _ => out.push((k, 1)),
        }
    }
    out
}

/// A table of distinct values and counts as a batch: `value` (int64 or float64), `count`.
fn table(counts: &[(Key, u64)], keys: Keys) -> Result<RecordBatch> {
    let values: ArrayRef = match keys {
        Keys::Int => Arc::new(arrow::array::Int64Array::from_iter_values(
            counts.iter().map(|(k, _)| match k {
                Key::Int(v) => *v,
                Key::Float(_) => 0,
            }),
        )),
        Keys::Float => Arc::new(Float64Array::from_iter_values(counts.iter().map(
            |(k, _)| match k {
                Key::Float(v) => *v,
                Key::Int(v) => *v as f64,
            },
        ))),
    };
    let n: ArrayRef = Arc::new(arrow::array::UInt64Array::from_iter_values(
        counts.iter().map(|(_, n)| *n),
    ));
    let t = values.data_type().clone();
    let schema = Arc::new(Schema::new(vec![
        Field::new("value", t, false),
        Field::new("count", DataType::UInt64, false),
    ]));
    RecordBatch::try_new(schema, vec![values, n]).map_err(arrow_error)
}

/// The table a batch made by [`table`] holds.
fn read_table(b: &RecordBatch, keys: Keys) -> Result<Vec<(Key, u64)>> {
    let values = keys.values(b.column(0))?;
    let counts = b.column(1).as_primitive::<arrow::datatypes::UInt64Type>();
    Ok(values
        .into_iter()
        .zip(counts.values().iter())
        .filter_map(|(k, &n)| Some((k?, n)))
        .collect())
}

/// One step of a rank: a partition's counts, the merged table, or a partition ranked.
#[derive(Serialize, Deserialize)]
enum RankStep {
    /// Input: a partition. Output: its distinct values and counts.
    Count,
    /// Inputs: every partition's counts. Output: the merged table.
    Merge,
    /// Inputs: a partition and the merged table. Output: the partition with `column` ranked.
    Apply {
        method: RankMethod,
        #[serde(with = "super::codec::schema")]
        schema: SchemaRef,
    },
}

#[derive(Serialize, Deserialize)]
struct RankOp {
    column: String,
    keys: Keys,
    ascending: bool,
    step: RankStep,
}

impl Op for RankOp {
    const NAME: &'static str = "frame.rank";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let (column, keys, ascending) = (self.column.clone(), self.keys, self.ascending);
        let step = match &self.step {
            RankStep::Count => RankStep::Count,
            RankStep::Merge => RankStep::Merge,
            RankStep::Apply { method, schema } => RankStep::Apply {
                method: *method,
                schema: schema.clone(),
            },
        };
        let (deps, out) = (cx.deps.to_vec(), cx.key.clone());
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let batches = super::batches(&inputs, &deps)?;
            let done = match &step {
                RankStep::Count => count_step(batches[0], &column, keys, ascending),
                RankStep::Merge => merge_step(&batches, keys, ascending),
                RankStep::Apply { method, schema } => apply_step(
                    batches[0], batches[1], &column, keys, ascending, *method, schema,
                ),
            };
            done.map(value).map_err(|e| fail(&out, e))
        }))
    }
}
register_op!(RankOp);

fn count_step(
    batch: &RecordBatch,
    column: &str,
    keys: Keys,
    ascending: bool,
) -> Result<RecordBatch> {
    let values = keys.values(column_of(batch, column)?)?;
    table(
        &counted(values.into_iter().flatten().collect(), ascending),
        keys,
    )
}

fn merge_step(parts: &[&RecordBatch], keys: Keys, ascending: bool) -> Result<RecordBatch> {
    let mut all: Vec<(Key, u64)> = Vec::new();
    for p in parts {
        all.extend(read_table(p, keys)?);
    }
    all.sort_by(|a, b| {
        let o = a.0.cmp(&b.0);
        if ascending {
            o
        } else {
            o.reverse()
        }
    });
    let mut merged: Vec<(Key, u64)> = Vec::with_capacity(all.len());
    for (k, n) in all {
        match merged.last_mut() {
            Some((last, m)) if last.cmp(&k).is_eq() => *m += n,
            _ => merged.push((k, n)),
        }
    }
    table(&merged, keys)
}

fn apply_step(
    batch: &RecordBatch,
    merged: &RecordBatch,
    column: &str,
    keys: Keys,
    ascending: bool,
    method: RankMethod,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let table = read_table(merged, keys)?;
    // How many values lie before each distinct value, in the table's order.
    let mut below = Vec::with_capacity(table.len());
    let mut total = 0_u64;
    for (_, n) in &table {
        below.push(total);
        total += n;
    }
    let values = keys.values(column_of(batch, column)?)?;
    let ranks: Float64Array = values
        .iter()
        .map(|k| {
            let k = (*k)?;
            let at = table
                .binary_search_by(|(t, _)| {
                    let o = t.cmp(&k);
                    if ascending {
                        o
                    } else {
                        o.reverse()
                    }
                })
                .ok()?;
            let (lo, n) = (below[at] as f64, table[at].1 as f64);
            Some(match method {
                RankMethod::Average => lo + (n + 1.0) / 2.0,
                RankMethod::Min => lo + 1.0,
                RankMethod::Max => lo + n,
                RankMethod::Dense => at as f64 + 1.0,
            })
        })
        .collect();
    replace_column(batch, column, Arc::new(ranks), schema)
}

impl DataFrame {
    /// The frame with `column` replaced by the ranks of its values over the whole frame
    /// (`float64`, from 1), as pandas' `rank(method=..., ascending=...)`: ties share a rank as
    /// `method` says, and nulls (and NaN) stay null.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch};
    /// use partita_collections::{DataFrame, RankMethod};
    /// let x = Int64Array::from(vec![Some(30), Some(10), None, Some(30), Some(20)]);
    /// let df = DataFrame::from_arrow(RecordBatch::try_from_iter([("x", Arc::new(x) as _)])?, 2)?;
    /// let ranks = df.rank("x", RankMethod::Average, true)?.column("x")?.to_vec::<f64>()?;
    /// assert_eq!(ranks, [Some(3.5), Some(1.0), None, Some(3.5), Some(2.0)]);
    /// let dense = df.rank("x", RankMethod::Dense, false)?.column("x")?.to_vec::<f64>()?;
    /// assert_eq!(dense, [Some(1.0), Some(3.0), None, Some(1.0), Some(2.0)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown or non-numeric column.
    pub fn rank(&self, column: &str, method: RankMethod, ascending: bool) -> Result<DataFrame> {
        let t = self.field_of(column)?.data_type();
        let keys = Keys::of(t).ok_or_else(|| Error::Schema {
            message: format!(
                "rank of {column:?}, a {} column; rank numbers",
                dtype_name(t)
            ),
        })?;
        let schema = self.retyped(column, &DataType::Float64);
        let m = self.materialize();
        let parts = m.keys();
        let mut graph = m.graph.clone();
        let op = |step| RankOp {
            column: column.to_string(),
            keys,
            ascending,
            step,
        };
        let counts_name = unique("rank-count");
        let counts = layer(
            &mut graph,
            &counts_name,
            parts.iter().enumerate().map(|(i, k)| {
                let key = TaskKey::new(counts_name.clone(), i as u64);
                (key, vec![k.clone()], op(RankStep::Count))
            }),
        );
        let merge_name = unique("rank-table");
        let merged = TaskKey::new(merge_name.clone(), 0);
        layer(
            &mut graph,
            &merge_name,
            [(merged.clone(), counts, op(RankStep::Merge))],
        );
        let out = unique("rank");
        layer(
            &mut graph,
            &out,
            parts.iter().enumerate().map(|(i, k)| {
                let step = RankStep::Apply {
                    method,
                    schema: schema.clone(),
                };
                let key = TaskKey::new(out.clone(), i as u64);
                (key, vec![k.clone(), merged.clone()], op(step))
            }),
        );
        Ok(
            DataFrame::from_partitions(graph, out, m.npartitions, schema)
                .with_index(self.index.clone()),
        )
    }
}
