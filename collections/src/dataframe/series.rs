//! `Series`: one column of a frame, whose reductions answer in plain Rust values (`f64`,
//! `Vec<T>`, pairs), as pandas' `df["col"].sum()` does, so that nobody downcasts Arrow arrays
//! to read an answer.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int32Type, Int64Type, UInt32Type, UInt64Type,
};

use super::expr::{arrow_error, col, dtype_name};
use super::groupby::{count, max, mean, min, size, sum};
use super::DataFrame;
use crate::error::{Error, Result};

/// A Rust type a column's values can be read as: the column is cast to its Arrow type first
/// (an `int32` column reads as `i64`, a number as `String`), and a value that does not cast
/// is an error.
pub trait FromColumn: Sized {
    /// The Arrow type values are cast to.
    fn data_type() -> DataType;
    /// The values of `a`, already of [`data_type`](Self::data_type).
    fn read(a: &ArrayRef) -> Vec<Option<Self>>;
}

macro_rules! primitive {
    ($($t:ty => $arrow:ident, $dt:expr);* $(;)?) => {$(
        impl FromColumn for $t {
            fn data_type() -> DataType {
                $dt
            }
            fn read(a: &ArrayRef) -> Vec<Option<Self>> {
                a.as_primitive::<$arrow>().iter().collect()
            }
        }
    )*};
}

primitive!(
    i64 => Int64Type, DataType::Int64;
    i32 => Int32Type, DataType::Int32;
    u64 => UInt64Type, DataType::UInt64;
    u32 => UInt32Type, DataType::UInt32;
    f64 => Float64Type, DataType::Float64;
    f32 => Float32Type, DataType::Float32;
);

impl FromColumn for bool {
    fn data_type() -> DataType {
        DataType::Boolean
    }
    fn read(a: &ArrayRef) -> Vec<Option<Self>> {
        a.as_boolean().iter().collect()
    }
}

impl FromColumn for String {
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn read(a: &ArrayRef) -> Vec<Option<Self>> {
        a.as_string::<i32>()
            .iter()
            .map(|s| s.map(str::to_string))
            .collect()
    }
}

/// The values of `a` as `T`, casting strictly (a value that does not convert is an error).
fn values<T: FromColumn>(a: &ArrayRef, name: &str) -> Result<Vec<Option<T>>> {
    let strict = arrow::compute::CastOptions {
        safe: false,
        ..Default::default()
    };
    let cast = arrow::compute::cast_with_options(a, &T::data_type(), &strict).map_err(|e| {
        Error::Schema {
            message: format!(
                "column {name:?} ({}) does not read as {}: {e}",
                dtype_name(a.data_type()),
                dtype_name(&T::data_type())
            ),
        }
    })?;
    Ok(T::read(&cast))
}

/// One column of a frame, lazily: made by [`DataFrame::column`]. Its reductions compute on
/// the current runtime ([`Runtime::current`](partita_runtime::Runtime::current)) and return
/// plain values.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Int64Array, RecordBatch, StringArray};
/// use partita_collections::DataFrame;
/// let batch = RecordBatch::try_from_iter([
///     ("city", Arc::new(StringArray::from(vec!["Oslo", "Rome", "Oslo", "Lima"])) as _),
///     ("visits", Arc::new(Int64Array::from(vec![Some(3), None, Some(5), Some(1)])) as _),
/// ])?;
/// let df = DataFrame::from_arrow(batch, 2)?;
/// let visits = df.column("visits")?;
/// assert_eq!(visits.sum::<i64>()?, Some(9));
/// assert_eq!(visits.mean()?, Some(3.0));
/// assert_eq!(visits.max::<i64>()?, Some(5));
/// assert_eq!(visits.count()?, 3);
/// let cities = df.column("city")?;
/// assert_eq!(cities.nunique()?, 3);
/// assert_eq!(cities.value_counts::<String>()?[0], (Some("Oslo".to_string()), 2));
/// assert_eq!(cities.to_vec::<String>()?[3].as_deref(), Some("Lima"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Series {
    frame: DataFrame,
    name: String,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("name", &self.name)
            .field("npartitions", &self.frame.npartitions())
            .finish()
    }
}

impl DataFrame {
    /// Column `name` as a [`Series`]: pandas' `df["name"]`. Only that column is read where the
    /// source can leave the others out.
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column.
    pub fn column(&self, name: &str) -> Result<Series> {
        Ok(Series {
            frame: self.select([col(name)])?,
            name: name.to_string(),
        })
    }
}

impl Series {
    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column's type, by pandas' name (`int64`, `string`, ...).
    pub fn dtype(&self) -> String {
        self.frame.dtypes()[0].1.clone()
    }

    /// The series as a one-column frame.
    pub fn to_frame(&self) -> DataFrame {
        self.frame.clone()
    }

    /// Every value, as one Arrow array.
    ///
    /// # Errors
    /// The first failed partition's error.
    pub fn to_arrow(&self) -> Result<ArrayRef> {
        let parts = self.frame.compute_partitions()?;
        let columns: Vec<&dyn Array> = parts
            .iter()
            .filter_map(|p| p.column_by_name(&self.name).map(AsRef::as_ref))
            .collect();
        match columns.is_empty() {
            true => Ok(arrow::array::new_empty_array(
                &self.frame.schema().fields()[0].data_type().clone(),
            )),
            false => arrow::compute::concat(&columns).map_err(arrow_error),
        }
    }

    /// Every value, in order, as `T` (`None` for a null).
    ///
    /// # Errors
    /// A value that does not read as `T`; the first failed partition's error.
    pub fn to_vec<T: FromColumn>(&self) -> Result<Vec<Option<T>>> {
        values(&self.to_arrow()?, &self.name)
    }

    /// The one value of a whole-frame aggregate of the column.
    fn one<T: FromColumn>(&self, agg: super::groupby::Agg) -> Result<Option<T>> {
        let out = self.frame.agg([agg.alias("value")])?.compute_partitions()?;
        let Some(part) = out.iter().find(|p| p.num_rows() > 0) else {
            return Ok(None);
        };
        let column = part.column_by_name("value").ok_or_else(|| Error::Schema {
            message: "an aggregate lost its column".into(),
        })?;
        Ok(values::<T>(column, &self.name)?
            .into_iter()
            .next()
            .flatten())
    }

    /// The sum of the non-null values, as `T` (`i64` for an integer column sums as integers;
    /// `f64` reads any numeric sum). `None` only for a frame without rows.
    ///
    /// # Errors
    /// [`Error::Schema`] for a column that is not numeric; as [`to_vec`](Self::to_vec).
    pub fn sum<T: FromColumn>(&self) -> Result<Option<T>> {
        self.one(sum(&self.name))
    }

    /// The mean of the non-null values (of integers, their exact sum divided once); `None`
    /// without any.
    ///
    /// # Errors
    /// As [`sum`](Self::sum).
    pub fn mean(&self) -> Result<Option<f64>> {
        self.one(mean(&self.name))
    }

    /// The least non-null value, as `T`; `None` without any.
    ///
    /// # Errors
    /// As [`to_vec`](Self::to_vec).
    pub fn min<T: FromColumn>(&self) -> Result<Option<T>> {
        self.one(min(&self.name))
    }

    /// The greatest non-null value, as `T`; `None` without any.
    ///
    /// # Errors
    /// As [`to_vec`](Self::to_vec).
    pub fn max<T: FromColumn>(&self) -> Result<Option<T>> {
        self.one(max(&self.name))
    }

    /// How many values are not null.
    ///
    /// # Errors
    /// The first failed partition's error.
    pub fn count(&self) -> Result<u64> {
        Ok(self.one::<u64>(count(&self.name))?.unwrap_or(0))
    }

    /// The distinct values in order of first appearance, a null among them if there is one
    /// (pandas' `unique`).
    ///
    /// # Errors
    /// As [`to_vec`](Self::to_vec).
    pub fn unique<T: FromColumn>(&self) -> Result<Vec<Option<T>>> {
        let groups = self
            .frame
            .groupby(&[&self.name])?
            .dropna(false)
            .agg([size().alias("__n")])?
            .reset_index()?;
        let keys = groups
            .column_by_name(&self.name)
            .ok_or_else(|| Error::Schema {
                message: format!("unique lost column {:?}", self.name),
            })?;
        values(keys, &self.name)
    }

    /// How many distinct non-null values there are (pandas' `nunique`).
    ///
    /// # Errors
    /// The first failed partition's error.
    pub fn nunique(&self) -> Result<u64> {
        let valid = self.frame.dropna(&[&self.name])?;
        let groups = valid.groupby(&[&self.name])?.agg([size().alias("__n")])?;
        Ok(groups.len()? as u64)
    }

    /// Each distinct value with how many rows hold it, most frequent first (ties in order
    /// of first appearance), as pandas' `value_counts` (nulls dropped, as by default there).
    ///
    /// # Errors
    /// As [`to_vec`](Self::to_vec).
    pub fn value_counts<T: FromColumn>(&self) -> Result<Vec<(Option<T>, u64)>> {
        let valid = self.frame.dropna(&[&self.name])?;
        let counts = valid.value_counts(&self.name)?.reset_index()?;
        let lost = || Error::Schema {
            message: format!("value_counts lost column {:?}", self.name),
        };
        let keys = counts.column_by_name(&self.name).ok_or_else(lost)?;
        let n = counts.column_by_name("count").ok_or_else(lost)?;
        let keys = values::<T>(keys, &self.name)?;
        let n = values::<u64>(n, "count")?;
        Ok(keys
            .into_iter()
            .zip(n)
            .map(|(k, n)| (k, n.unwrap_or(0)))
            .collect())
    }

    /// The `q` quantile of the non-null values (`0.5`: the median), exactly, with pandas'
    /// default linear interpolation between the nearest ranks; `None` without any value. The
    /// column's values are gathered in this process to sort them.
    ///
    /// # Errors
    /// [`Error::Schema`] for `q` outside `0..=1` or a column that is not numeric; the first
    /// failed partition's error.
    pub fn quantile(&self, q: f64) -> Result<Option<f64>> {
        if !(0.0..=1.0).contains(&q) {
            return Err(Error::Schema {
                message: format!("quantile {q} is not between 0 and 1"),
            });
        }
        let t = self.frame.schema().fields()[0].data_type().clone();
        if !t.is_numeric() {
            return Err(Error::Schema {
                message: format!("quantile of {:?}, a {} column", self.name, dtype_name(&t)),
            });
        }
        let mut xs: Vec<f64> = self.to_vec::<f64>()?.into_iter().flatten().collect();
        xs.sort_unstable_by(f64::total_cmp);
        Ok(super::describe::quantile(&xs, q))
    }
}
