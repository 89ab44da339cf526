//! Time bins, as pandas' `df.resample(rule, on=column).agg(...)`: each row falls in the bin its
//! time floors to, the bins are aggregated as groups and sorted, and the bins between the first
//! and the last that no row falls in are there too, as in pandas (their sums and counts 0,
//! every other aggregate null).
//!
//! The empty bins are filled per partition of the sorted result: each partition reads the last
//! bin of the partitions before it (the summaries [`super::cumulative`] makes) and adds the
//! bins missing between it and its own first, and between its own rows.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, TimestampNanosecondArray};
use arrow::datatypes::{DataType, SchemaRef};
use chrono::{Datelike, Months};
use partita_runtime::{value, Kernel, TaskContext, Value};
use serde::{Deserialize, Serialize};

use super::cumulative::Carry;
use super::datetime::{back_to, from_nanos, is_time, nanos, to_nanos, DtUnit};
use super::expr::{arrow_error, col, dtype_name};
use super::groupby::{fail, Agg, AggFunc};
use super::DataFrame;
use crate::error::{Error, Result};
use crate::layer::{register_op, Op};

/// The width of the bins of a [`DataFrame::resample`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Every {
    /// A fixed width, in nanoseconds, the bins starting at multiples of it since the epoch
    /// (pandas' `"15min"`, `"1h"`, `"1D"`): `Every::from(Duration::from_secs(900))`.
    Nanos(i64),
    /// Calendar months, each bin starting on the 1st (pandas' `"MS"`).
    Month,
    /// Calendar years, each bin starting on the 1st of January (pandas' `"YS"`).
    Year,
}

impl From<std::time::Duration> for Every {
    fn from(d: std::time::Duration) -> Every {
        Every::Nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

impl From<DtUnit> for Every {
    fn from(u: DtUnit) -> Every {
        const S: i64 = 1_000_000_000;
        match u {
            DtUnit::Second => Every::Nanos(S),
            DtUnit::Minute => Every::Nanos(60 * S),
            DtUnit::Hour => Every::Nanos(3600 * S),
            DtUnit::Day => Every::Nanos(86_400 * S),
            DtUnit::Month => Every::Month,
            DtUnit::Year => Every::Year,
        }
    }
}

impl Every {
    /// The start of the bin after the one starting at `ns`, or `None` past the range of times.
    fn next(self, ns: i64) -> Option<i64> {
        match self {
            Every::Nanos(w) => ns.checked_add(w),
            Every::Month | Every::Year => {
                let t = from_nanos(ns)?;
                let months = if self == Every::Month { 1 } else { 12 };
                let next = t.checked_add_months(Months::new(months))?;
                debug_assert_eq!(next.day(), 1);
                to_nanos(next)
            }
        }
    }
}

/// Time bins over a frame, made by [`DataFrame::resample`]; [`agg`](Resample::agg) gives one
/// row per bin.
#[derive(Clone, Debug)]
pub struct Resample {
    frame: DataFrame,
    on: String,
    every: Every,
}

/// One partition of the sorted bins with the missing bins added (inputs: the partition, then
/// the last bin of every partition before it).
#[derive(Serialize, Deserialize)]
struct FillBins {
    on: String,
    every: Every,
    /// For each column: whether a missing bin holds 0 there (a sum or a count) or null.
    zero: Vec<bool>,
    #[serde(with = "super::codec::schema")]
    schema: SchemaRef,
}

impl Op for FillBins {
    const NAME: &'static str = "frame.resample.fill";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let (on, every, zero, schema) = (
            self.on.clone(),
            self.every,
            self.zero.clone(),
            self.schema.clone(),
        );
        let (keys, out) = (cx.deps.to_vec(), cx.key.clone());
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let batches = super::batches(&inputs, &keys)?;
            let (batch, before) = batches.split_first().expect("a partition");
            fill(batch, before, &on, every, &zero, &schema)
                .map(value)
                .map_err(|e| fail(&out, e))
        }))
    }
}
register_op!(FillBins);

/// `batch` (sorted bins) with the bins missing before and between its rows added.
fn fill(
    batch: &RecordBatch,
    before: &[&RecordBatch],
    on: &str,
    every: Every,
    zero: &[bool],
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let at = schema.index_of(on).map_err(arrow_error)?;
    let bins = nanos(batch.column(at))?;
    // The last bin before this partition.
    let mut last: Option<i64> = None;
    for b in before {
        let t = nanos(b.column(0))?;
        if let Some(v) = t.iter().flatten().last() {
            last = Some(v);
        }
    }
    // Each output row: a row of the batch, or a missing bin's start.
    let mut rows: Vec<Result<usize, i64>> = Vec::with_capacity(batch.num_rows());
    for (i, bin) in bins.iter().enumerate() {
        if let (Some(mut prev), Some(bin)) = (last, bin) {
            while let Some(next) = every.next(prev).filter(|&n| n < bin) {
                rows.push(Err(next));
                prev = next;
            }
        }
        rows.push(Ok(i));
        last = bin.or(last);
    }
    if rows.len() == batch.num_rows() {
        // Under the frame's schema, as every filled partition is.
        return RecordBatch::try_new(schema.clone(), batch.columns().to_vec()).map_err(arrow_error);
    }
    let indices = arrow::array::UInt32Array::from(
        rows.iter()
            .map(|r| r.as_ref().ok().map(|&i| i as u32))
            .collect::<Vec<_>>(),
    );
    let missing = BooleanArray::from(rows.iter().map(Result::is_err).collect::<Vec<_>>());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (c, column) in batch.columns().iter().enumerate() {
        let taken = arrow::compute::take(column.as_ref(), &indices, None).map_err(arrow_error)?;
        let filled: ArrayRef = if c == at {
            let times: TimestampNanosecondArray = rows
                .iter()
                .map(|r| match *r {
                    Ok(i) => bins.is_valid(i).then(|| bins.value(i)),
                    Err(start) => Some(start),
                })
                .collect();
            back_to(Arc::new(times), column.data_type())?
        } else if zero[c] {
            let zeros = arrow::array::new_null_array(column.data_type(), 1);
            let zeros = arrow::compute::cast(
                &(Arc::new(arrow::array::Int64Array::from(vec![0])) as ArrayRef),
                column.data_type(),
            )
            .unwrap_or(zeros);
            let zeros = arrow::array::Scalar::new(zeros);
            arrow::compute::kernels::zip::zip(&missing, &zeros, &taken).map_err(arrow_error)?
        } else {
            taken
        };
        columns.push(filled);
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(arrow_error)
}

impl DataFrame {
    /// Time bins of `every` over the date or time column `on`, as pandas'
    /// `df.resample(rule, on=on)`; [`Resample::agg`] aggregates each bin.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use arrow::array::{Int64Array, RecordBatch, StringArray};
    /// use partita_collections::{col, sum, DataFrame};
    /// let batch = RecordBatch::try_from_iter([
    ///     ("t", Arc::new(StringArray::from(vec!["2024-01-01T00:10:00", "2024-01-01T00:20:00", "2024-01-01T02:05:00"])) as _),
    ///     ("x", Arc::new(Int64Array::from(vec![1, 2, 3])) as _),
    /// ])?;
    /// let df = DataFrame::from_arrow(batch, 2)?.with_column("t", col("t").to_datetime(None))?;
    /// let hourly = df.resample("t", Duration::from_secs(3600))?.agg([sum("x")])?;
    /// // 00:00 holds two rows, 01:00 none, 02:00 one.
    /// assert_eq!(hourly.column("x_sum")?.to_vec::<i64>()?, [Some(3), Some(0), Some(3)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column, one that holds no dates or times, or bins of no
    /// width.
    pub fn resample(&self, on: &str, every: impl Into<Every>) -> Result<Resample> {
        let t = self.field_of(on)?.data_type();
        if !is_time(t) {
            return Err(Error::Schema {
                message: format!(
                    "resample on {on:?}, a {} column, not dates or times",
                    dtype_name(t)
                ),
            });
        }
        let every = every.into();
        if matches!(every, Every::Nanos(w) if w <= 0) {
            return Err(Error::Schema {
                message: format!("resample on {on:?}: the bins must have a positive width"),
            });
        }
        Ok(Resample {
            frame: self.clone(),
            on: on.to_string(),
            every,
        })
    }
}

impl Resample {
    /// One row per bin from the first to the last that holds a row, sorted: the bin's start
    /// in the `on` column, then each aggregate of the bin's rows (as
    /// [`GroupBy::agg`](super::GroupBy::agg) names them). A bin no row falls in holds 0 for a
    /// sum, a count or a size, and null for any other aggregate, as in pandas. Rows whose time
    /// is null fall in no bin.
    ///
    /// # Errors
    /// As [`GroupBy::agg`](super::GroupBy::agg).
    pub fn agg(&self, aggs: impl IntoIterator<Item = Agg>) -> Result<DataFrame> {
        let aggs: Vec<Agg> = aggs.into_iter().collect();
        let on = self.on.as_str();
        let bin = match self.every {
            Every::Nanos(w) => col(on)
                .dt()
                .floor_every(std::time::Duration::from_nanos(w as u64)),
            Every::Month => col(on).dt().floor(DtUnit::Month),
            Every::Year => col(on).dt().floor(DtUnit::Year),
        };
        let zero_of: Vec<(String, bool)> = aggs
            .iter()
            .map(|a| {
                let z = matches!(a.func(), AggFunc::Sum | AggFunc::Count | AggFunc::Size);
                (a.output_name(), z)
            })
            .collect();
        let n = self.frame.npartitions;
        let binned = self.frame.with_column(on, bin)?;
        let sorted = binned
            .groupby(&[on])?
            .agg(aggs)?
            .sort_values_by(&[(on, true)], n)?;
        let zero: Vec<bool> = sorted
            .columns()
            .iter()
            .map(|c| zero_of.iter().any(|(name, z)| name == c && *z))
            .collect();
        let t: DataType = sorted.field_of(on)?.data_type().clone();
        let every = self.every;
        sorted.along_with(on, Carry::Tail(1), t, "resample", |schema| FillBins {
            on: on.to_string(),
            every,
            zero: zero.clone(),
            schema,
        })
    }
}
