//! `nlargest` and `nsmallest`: the `n` rows with the largest or smallest values of a column,
//! as a tree reduction.
//!
//! Each partition keeps its own top `n` rows; groups of `SPLIT_EVERY` partial results are
//! concatenated in partition order and cut to the top `n` again, level by level, until one
//! partition remains. Every cut sorts by the value, then by position, so that among equal
//! values the earlier row wins (pandas' `keep="first"`): the partial results keep their rows in
//! the frame's order among equal values, and concatenating them in partition order keeps it
//! too, so positions in a concatenation order rows as the frame does. (Arrow's own sorts are
//! unstable; the position column makes the order total.)
//!
//! Nulls, and NaN in floating-point columns, are never among the top rows: pandas drops them
//! before it ranks. `-0.0` and `0.0` are equal values, as in pandas.

use std::sync::Arc;

use arrow::array::{
    make_comparator, new_empty_array, Array, ArrayRef, AsArray, PrimitiveArray, RecordBatch,
    UInt32Array,
};
use arrow::compute::kernels::sort::{lexsort_to_indices, SortColumn, SortOptions};
use arrow::compute::{concat_batches, take, take_record_batch};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float16Type, Float32Type, Float64Type, SchemaRef, UInt32Type,
};
use num_traits::Float;
use partita_runtime::{value, Graph, Kernel, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::dedupe::canonical;
use super::expr::arrow_error;
use super::shuffle::task_error;
use super::DataFrame;
use crate::dataframe::batches;
use crate::error::{Error, Result};
use crate::layer::{blockwise, register_op, Op};
use crate::names::unique;

/// How many partial results one combine task reads.
const SPLIT_EVERY: usize = 8;

/// Which rows of a float column are NaN (nulls count as not NaN).
fn nan_rows<T>(a: &PrimitiveArray<T>) -> Vec<bool>
where
    T: ArrowPrimitiveType,
    T::Native: Float,
{
    a.values().iter().map(|v| v.is_nan()).collect()
}

/// The positions of the rows of `c` that can rank: not null, not NaN. `None` when all can.
fn ranked_rows(c: &ArrayRef) -> Option<UInt32Array> {
    let nan = match c.data_type() {
        DataType::Float16 => Some(nan_rows(c.as_primitive::<Float16Type>())),
        DataType::Float32 => Some(nan_rows(c.as_primitive::<Float32Type>())),
        DataType::Float64 => Some(nan_rows(c.as_primitive::<Float64Type>())),
        _ => None,
    };
    let has_nan = nan.as_ref().is_some_and(|n| n.contains(&true));
    if c.null_count() == 0 && !has_nan {
        return None;
    }
    let rows = (0..c.len())
        .filter(|&i| c.is_valid(i) && !nan.as_ref().is_some_and(|n| n[i]))
        .map(|i| i as u32);
    Some(UInt32Array::from_iter_values(rows))
}

/// The `n` rows of `batch` with the largest (`descending`) or smallest values of `column`,
/// ordered by value, equal values in row order.
fn top(batch: &RecordBatch, column: &str, n: usize, descending: bool) -> Result<RecordBatch> {
    let c = batch.column_by_name(column).ok_or_else(|| Error::Schema {
        message: format!("no column {column:?}"),
    })?;
    let (values, positions) = match ranked_rows(c) {
        None => (
            c.clone(),
            UInt32Array::from_iter_values(0..batch.num_rows() as u32),
        ),
        Some(rows) => (take(c, &rows, None).map_err(arrow_error)?, rows),
    };
    // `-0.0` ties with `0.0`, as in pandas (arrow orders floats by their total order).
    let values = canonical(&values);
    let order = [
        SortColumn {
            values,
            options: Some(SortOptions {
                descending,
                nulls_first: false,
            }),
        },
        SortColumn {
            values: Arc::new(positions.clone()),
            options: Some(SortOptions::default()),
        },
    ];
    let best = lexsort_to_indices(&order, Some(n)).map_err(arrow_error)?;
    let rows = take(&positions, &best, None).map_err(arrow_error)?;
    take_record_batch(batch, rows.as_primitive::<UInt32Type>()).map_err(arrow_error)
}

impl DataFrame {
    /// The `n` rows with the largest values of `column`, largest first, in one partition, as
    /// pandas' `nlargest(n, column)`: among equal values the first row in the frame's order
    /// wins (`keep="first"`), and rows whose value is null or NaN are never among them.
    ///
    /// Computed as a tree: each partition's top `n`, then the top `n` of groups of 8 of those,
    /// until one remains, so no combining task holds more than `8 n` rows.
    ///
    /// # Errors
    /// [`Error::Schema`] naming `column` if the frame lacks it or its values cannot be ordered.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Float64Array, Int64Array, RecordBatch};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use partita_collections::DataFrame;
    ///
    /// let schema = Arc::new(Schema::new(vec![
    ///     Field::new("id", DataType::Int64, false),
    ///     Field::new("score", DataType::Float64, true),
    /// ]));
    /// let batch = RecordBatch::try_new(schema, vec![
    ///     Arc::new(Int64Array::from(vec![0, 1, 2, 3, 4, 5])),
    ///     Arc::new(Float64Array::from(vec![Some(3.0), None, Some(9.0), Some(f64::NAN), Some(3.0), Some(1.0)])),
    /// ]).unwrap();
    /// let df = DataFrame::from_arrow(batch, 3)?;
    /// let top = df.nlargest(3, "score")?;
    /// assert_eq!(top.npartitions(), 1);
    /// let out = &top.compute_partitions()?[0];
    /// let ids = out.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
    /// // 9.0, then the first 3.0 and the second; the null and the NaN never rank.
    /// assert_eq!(ids.values().to_vec(), vec![2, 0, 4]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn nlargest(&self, n: usize, column: &str) -> Result<DataFrame> {
        self.top_n(n, column, true)
    }

    /// The `n` rows with the smallest values of `column`, smallest first, in one partition, as
    /// pandas' `nsmallest(n, column)`: among equal values the first row in the frame's order
    /// wins, and rows whose value is null or NaN are never among them. A tree, as
    /// [`nlargest`](Self::nlargest).
    ///
    /// # Errors
    /// [`Error::Schema`] naming `column` if the frame lacks it or its values cannot be ordered.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch, StringArray};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use partita_collections::DataFrame;
    ///
    /// let schema = Arc::new(Schema::new(vec![
    ///     Field::new("name", DataType::Utf8, false),
    ///     Field::new("age", DataType::Int64, false),
    /// ]));
    /// let batch = RecordBatch::try_new(schema, vec![
    ///     Arc::new(StringArray::from(vec!["Ann", "Bob", "Cid", "Dee"])),
    ///     Arc::new(Int64Array::from(vec![31, 17, 45, 17])),
    /// ]).unwrap();
    /// let youngest = DataFrame::from_arrow(batch, 2)?.nsmallest(2, "age")?;
    /// let out = &youngest.compute_partitions()?[0];
    /// let names = out.column(0).as_any().downcast_ref::<StringArray>().unwrap();
    /// assert_eq!(names.iter().flatten().collect::<Vec<_>>(), vec!["Bob", "Dee"]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn nsmallest(&self, n: usize, column: &str) -> Result<DataFrame> {
        self.top_n(n, column, false)
    }

    fn top_n(&self, n: usize, column: &str, descending: bool) -> Result<DataFrame> {
        let op = if descending { "nlargest" } else { "nsmallest" };
        let field = self
            .schema
            .field_with_name(column)
            .map_err(|_| Error::Schema {
                message: format!("{op}: no column {column:?} in {:?}", self.columns()),
            })?;
        let probe = new_empty_array(field.data_type());
        if make_comparator(&probe, &probe, SortOptions::default()).is_err() {
            return Err(Error::Schema {
                message: format!(
                    "{op}: column {column:?} of type {} cannot be ordered",
                    field.data_type()
                ),
            });
        }
        let m = self.materialize();
        let cut = Cut {
            schema: m.schema.clone(),
            column: column.into(),
            n,
            descending,
        };
        let mut graph = m.graph.clone();
        let mut level = m.keys();
        if level.is_empty() {
            // No partition: the top of nothing is an empty partition.
            let name = unique(&format!("{op}-empty"));
            let empty = Empty {
                schema: m.schema.clone(),
            };
            level = blockwise(&mut graph, &name, &empty, [vec![]]);
        }
        let mut name;
        (name, level) = cut.layer(&mut graph, &level, &format!("{op}-partial"), 1);
        while level.len() > 1 {
            (name, level) = cut.layer(&mut graph, &level, &format!("{op}-combine"), SPLIT_EVERY);
        }
        Ok(DataFrame::from_partitions(graph, name, 1, m.schema.clone()))
    }
}

/// What a top-`n` task keeps: the top `n` rows of the concatenation of its inputs.
#[derive(Clone, Serialize, Deserialize)]
struct Cut {
    #[serde(with = "super::codec::schema")]
    schema: SchemaRef,
    column: Arc<str>,
    n: usize,
    descending: bool,
}

impl Cut {
    /// A layer of one task per `group` keys of `level`. Returns the layer's name and keys.
    fn layer(
        &self,
        graph: &mut Graph,
        level: &[TaskKey],
        op: &str,
        group: usize,
    ) -> (Arc<str>, Vec<TaskKey>) {
        let name = unique(op);
        let deps: Vec<Vec<TaskKey>> = level.chunks(group).map(<[_]>::to_vec).collect();
        let keys = blockwise(graph, &name, self, deps);
        (name, keys)
    }
}

impl Op for Cut {
    const NAME: &'static str = "frame.top_n";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let (cut, inputs, k) = (self.clone(), cx.deps.to_vec(), cx.key.clone());
        Ok(Arc::new(move |vals: Vec<Value>| {
            let batches = batches(&vals, &inputs)?;
            let all = match batches.as_slice() {
                [one] => (*one).clone(),
                _ => concat_batches(&cut.schema, batches)
                    .map_err(|e| task_error(&k, arrow_error(e)))?,
            };
            let best =
                top(&all, &cut.column, cut.n, cut.descending).map_err(|e| task_error(&k, e))?;
            Ok(value(best))
        }))
    }
}
register_op!(Cut);

/// An empty partition of `schema`.
#[derive(Serialize, Deserialize)]
struct Empty {
    #[serde(with = "super::codec::schema")]
    schema: SchemaRef,
}

impl Op for Empty {
    const NAME: &'static str = "frame.empty";

    fn kernel(&self, _: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let empty = value(RecordBatch::new_empty(self.schema.clone()));
        Ok(Arc::new(move |_| Ok(empty.clone())))
    }
}
register_op!(Empty);
