//! `drop_duplicates`: the first row of each distinct combination of values in some columns.
//!
//! Three layers, one task per partition each (plus the shuffle's own few tasks):
//!
//! 1. each input partition drops the rows that repeat an earlier row of the same partition,
//!    so fewer rows move;
//! 2. a hash shuffle on the compared columns sends equal rows to the same output partition,
//!    which receives them in the order of the input partitions they came from;
//! 3. each output partition drops the rows that repeat an earlier row of it.
//!
//! A row survives both steps exactly when no earlier row of the frame (in partition order, then
//! row order) has the same values, so the kept row of each combination is its first, as pandas'
//! `keep="first"`.
//!
//! Rows compare by the arrow-row encoding of their compared columns, in which a null equals a
//! null (as in pandas). Floating-point columns are first made canonical, `-0.0` as `0.0` and
//! every NaN as one NaN, so that `0.0` and `-0.0` are duplicates and so are two NaNs, as in
//! pandas (floats inside nested types are compared bit for bit).

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{ArrowPrimitiveType, DataType, Float16Type, Float32Type, Float64Type};
use arrow::row::{RowConverter, SortField};
use foldhash::fast::FixedState;
use num_traits::{Float, Zero};

use super::expr::arrow_error;
use partita_runtime::{downcast, value, Kernel, TaskContext, Value};
use serde::{Deserialize, Serialize};

use super::shuffle::{key_columns, row_converter, shuffle_frame, task_error, Assemble, Route};
use super::{inputs, DataFrame};
use crate::error::{Error, Result};
use crate::layer::{register_op, Op};

/// `-0.0` as `0.0` and every NaN as the same NaN; nulls stay nulls.
fn canonical_floats<T>(a: &PrimitiveArray<T>) -> ArrayRef
where
    T: ArrowPrimitiveType,
    T::Native: Float,
{
    Arc::new(a.unary::<_, T>(|v| {
        if v.is_nan() {
            T::Native::nan()
        } else if v == T::Native::zero() {
            T::Native::zero()
        } else {
            v
        }
    }))
}

/// The column as pandas compares its values: floating-point values made canonical (`-0.0` as
/// `0.0`, one NaN), others unchanged.
pub(super) fn canonical(c: &ArrayRef) -> ArrayRef {
    match c.data_type() {
        DataType::Float16 => canonical_floats(c.as_primitive::<Float16Type>()),
        DataType::Float32 => canonical_floats(c.as_primitive::<Float32Type>()),
        DataType::Float64 => canonical_floats(c.as_primitive::<Float64Type>()),
        _ => c.clone(),
    }
}

/// The compared columns `subset` of `batch`, made canonical.
fn compared(batch: &RecordBatch, subset: &[String]) -> Result<Vec<ArrayRef>> {
    Ok(key_columns(batch, subset)?.iter().map(canonical).collect())
}

/// The rows of `batch` whose values in `subset` differ from every earlier row's.
pub(crate) fn first_occurrences(batch: &RecordBatch, subset: &[String]) -> Result<RecordBatch> {
    let n = batch.num_rows();
    if n < 2 {
        return Ok(batch.clone());
    }
    let cols = compared(batch, subset)?;
    let rows = row_converter(&cols)?
        .convert_columns(&cols)
        .map_err(arrow_error)?;
    let mut seen = HashSet::with_capacity_and_hasher(n, FixedState::default());
    let keep: Vec<u32> = (0..n)
        .filter(|&i| seen.insert(rows.row(i)))
        .map(|i| i as u32)
        .collect();
    if keep.len() == n {
        return Ok(batch.clone());
    }
    take_record_batch(batch, &UInt32Array::from(keep)).map_err(arrow_error)
}

/// The first occurrences of each partition's rows, by `subset`.
#[derive(Serialize, Deserialize)]
struct FirstOccurrences {
    subset: Vec<String>,
}

impl Op for FirstOccurrences {
    const NAME: &'static str = "frame.first_occurrences";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let [input] = inputs::<1>(cx)?;
        let (subset, out) = (self.subset.clone(), cx.key.clone());
        Ok(Arc::new(move |vals: Vec<Value>| {
            let batch = downcast::<RecordBatch>(&vals[0], &input)?;
            first_occurrences(batch, &subset)
                .map(value)
                .map_err(|e| task_error(&out, e))
        }))
    }
}
register_op!(FirstOccurrences);

impl DataFrame {
    /// The rows whose values in `subset` (every column when `None`) differ from every earlier
    /// row's, as pandas' `drop_duplicates(subset, keep="first")`: of each combination of values,
    /// the first row in the frame's order (partition order, then row order) is kept. Nulls
    /// equal nulls, `0.0` equals `-0.0` and NaN equals NaN, as in pandas.
    ///
    /// The rows are hash-shuffled on `subset` into as many partitions as the frame has, so the
    /// result's rows are grouped by hash, not in the frame's order; each partition keeps its
    /// rows in the frame's order. (pandas keeps the frame's order; Dask's
    /// `drop_duplicates(split_out=...)` also returns hash-partitioned rows.) A one-partition
    /// frame is deduplicated in place, without a shuffle.
    ///
    /// # Errors
    /// [`Error::Schema`] naming a column of `subset` the frame lacks, or one whose type cannot
    /// be compared, or for an empty `subset`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch, StringArray};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use partita_collections::DataFrame;
    ///
    /// let schema = Arc::new(Schema::new(vec![
    ///     Field::new("k", DataType::Utf8, true),
    ///     Field::new("v", DataType::Int64, false),
    /// ]));
    /// let batch = RecordBatch::try_new(schema, vec![
    ///     Arc::new(StringArray::from(vec![Some("a"), Some("b"), Some("a"), None, None])),
    ///     Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])),
    /// ]).unwrap();
    /// let df = DataFrame::from_arrow(batch, 2)?;
    /// let parts = df.drop_duplicates(Some(&["k"]))?.compute_partitions()?;
    /// let mut kept: Vec<i64> = parts.iter().flat_map(|p| {
    ///     p.column(1).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec()
    /// }).collect();
    /// kept.sort();
    /// // The first "a", the "b", and the first null.
    /// assert_eq!(kept, vec![1, 2, 4]);
    /// // Every column: no two rows are equal, so every row stays.
    /// assert_eq!(df.drop_duplicates(None)?.len()?, 5);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn drop_duplicates(&self, subset: Option<&[&str]>) -> Result<DataFrame> {
        let subset: Vec<String> = match subset {
            None => self.columns(),
            Some(s) => s.iter().map(|c| c.to_string()).collect(),
        };
        if subset.is_empty() {
            return Err(Error::Schema {
                message: "drop_duplicates: the subset of columns to compare is empty".into(),
            });
        }
        for c in &subset {
            let field = self.schema.field_with_name(c).map_err(|_| Error::Schema {
                message: format!("drop_duplicates: no column {c:?} in {:?}", self.columns()),
            })?;
            if !RowConverter::supports_fields(&[SortField::new(field.data_type().clone())]) {
                return Err(Error::Schema {
                    message: format!(
                        "drop_duplicates: column {c:?} of type {} cannot be compared",
                        field.data_type()
                    ),
                });
            }
        }
        let schema = self.schema.clone();
        let local = FirstOccurrences {
            subset: subset.clone(),
        };
        let within = self.map_op(schema.clone(), "drop-duplicates-local", &local);
        if self.npartitions <= 1 {
            return Ok(within);
        }
        let n = self.npartitions;
        let route = Route::Hash {
            on: subset.clone(),
            canonical: true,
        };
        let shuffled = shuffle_frame(&within, n, "drop-duplicates", route, Assemble::Concat);
        Ok(shuffled.map_op(schema, "drop-duplicates-local", &local))
    }
}
