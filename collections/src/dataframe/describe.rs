//! `describe`: summary statistics of the numeric columns, as pandas' `describe()`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use partita_runtime::{downcast, value, Kernel, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::expr::arrow_error;
use super::groupby::{count, max, mean, min, std};
use super::shuffle::task_error;
use super::DataFrame;
use crate::error::{Error, Result};
use crate::layer::{layer, register_op, Op};
use crate::names::unique;

/// The statistics, in pandas' order.
const STATS: [&str; 8] = ["count", "mean", "std", "min", "25%", "50%", "75%", "max"];

/// pandas' default quantile: linear interpolation between the two nearest ranks.
pub(super) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

/// The quartiles of one numeric column over every partition (the inputs).
#[derive(Serialize, Deserialize)]
struct Quartiles {
    column: String,
}

impl Op for Quartiles {
    const NAME: &'static str = "frame.describe.quartiles";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let (c, ks, o) = (self.column.clone(), cx.deps.to_vec(), cx.key.clone());
        Ok(Arc::new(move |vals: Vec<Value>| {
            let mut xs: Vec<f64> = Vec::new();
            for (v, k) in vals.iter().zip(&ks) {
                let b = downcast::<RecordBatch>(v, k)?;
                let col = b.column_by_name(&c).ok_or_else(|| {
                    task_error(
                        &o,
                        Error::Schema {
                            message: format!("describe: no column {c:?}"),
                        },
                    )
                })?;
                let f =
                    cast(col, &DataType::Float64).map_err(|e| task_error(&o, arrow_error(e)))?;
                xs.extend(f.as_primitive::<Float64Type>().iter().flatten());
            }
            xs.sort_unstable_by(f64::total_cmp);
            let q: Vec<Option<f64>> = [0.25, 0.5, 0.75]
                .iter()
                .map(|&q| quantile(&xs, q))
                .collect();
            Ok(value(q))
        }))
    }
}
register_op!(Quartiles);
partita_runtime::register_value!(Vec<Option<f64>>, "Vec<Option<f64>>");

impl DataFrame {
    /// count, mean, std (ddof 1), min, 25%, 50%, 75% and max of every numeric column, as
    /// pandas' `describe()`: one row per statistic (named in the `statistic` column), one
    /// `float64` column per numeric column. Nulls are left out. Count, mean, std, min and max are
    /// a tree of partial aggregates; the quartiles are exact, from each column's sorted values
    /// (one column at a time in one task, so the column must fit in memory; Dask approximates
    /// them instead).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Float64Array, Int64Array, RecordBatch};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use partita_collections::DataFrame;
    ///
    /// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    /// let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2, 3, 4]))]).unwrap();
    /// let d = DataFrame::from_arrow(batch, 2)?.describe()?;
    /// let x = d.column_by_name("x").unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
    /// // count, mean, std, min, 25%, 50%, 75%, max (pandas gives the same)
    /// assert_eq!(x.values(), &[4.0, 2.5, 1.2909944487358056, 1.0, 1.75, 2.5, 3.25, 4.0]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Schema`] when the frame has no numeric column; the first failed partition's
    /// error.
    pub fn describe(&self) -> Result<RecordBatch> {
        let runtime = partita_runtime::Runtime::current();
        let numeric: Vec<String> = self
            .schema
            .fields()
            .iter()
            .filter(|f| f.data_type().is_numeric() && Some(f.name().as_str()) != self.index_name())
            .map(|f| f.name().clone())
            .collect();
        if numeric.is_empty() {
            return Err(Error::Schema {
                message: format!("describe: no numeric column in {:?}", self.columns()),
            });
        }
        let aggs = numeric.iter().flat_map(|c| {
            [
                count(c).alias(&format!("{c}:count")),
                mean(c).alias(&format!("{c}:mean")),
                std(c).alias(&format!("{c}:std")),
                min(c).alias(&format!("{c}:min")),
                max(c).alias(&format!("{c}:max")),
            ]
        });
        let summary = self.agg(aggs)?.compute_partitions()?;
        let summary = arrow::compute::concat_batches(
            summary.first().map_or(&self.schema, |b| b.schema_ref()),
            &summary,
        )
        .map_err(arrow_error)?;
        // The quartiles: one task per column gathers its sorted non-null values.
        let m = self.materialize();
        let mut graph = m.graph.clone();
        let name = unique("describe-quartiles");
        let keys = m.keys();
        let deps = numeric.iter().map(|_| keys.clone());
        let qkeys = layer(
            &mut graph,
            &name,
            numeric.iter().zip(deps).enumerate().map(|(i, (c, deps))| {
                let op = Quartiles { column: c.clone() };
                (TaskKey::new(name.clone(), i as u64), deps, op)
            }),
        );
        let quartiles = runtime.compute(&graph, &qkeys)?;
        let value_at = |col: &str| -> Option<f64> {
            let c = summary.column_by_name(col)?;
            if c.is_empty() || c.is_null(0) {
                return None;
            }
            let f = cast(c, &DataType::Float64).ok()?;
            Some(f.as_primitive::<Float64Type>().value(0))
        };
        let mut fields = vec![Field::new("statistic", DataType::Utf8, false)];
        let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(STATS.to_vec()))];
        for (c, (q, k)) in numeric.iter().zip(quartiles.iter().zip(&qkeys)) {
            let q = downcast::<Vec<Option<f64>>>(q, k)?;
            let count = value_at(&format!("{c}:count")).or(Some(0.0));
            let stats = [
                count,
                value_at(&format!("{c}:mean")),
                value_at(&format!("{c}:std")),
                value_at(&format!("{c}:min")),
                q[0],
                q[1],
                q[2],
                value_at(&format!("{c}:max")),
            ];
            fields.push(Field::new(c, DataType::Float64, true));
            columns.push(Arc::new(Float64Array::from(stats.to_vec())));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow_error)
    }
}
