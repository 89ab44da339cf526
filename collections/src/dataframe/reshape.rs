//! Wide to long and long to wide, as pandas' `melt` and `pivot_table`.
//!
//! `melt` is lazy and partition-wise: each output partition is one value column of one input
//! partition, in pandas' order (every row of the first value column, then of the second, ...).
//! `pivot_table` reads the distinct values of its `columns` column first (a small compute, as
//! Dask asks for known categories), since they name the output's columns; the rest is a lazy
//! groupby whose aggregates each take the rows of one of those values.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use partita_runtime::{downcast, value, Kernel, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::conditional::when;
use super::expr::{arrow_error, col, dtype_name, lit, Literal};
use super::groupby::{fail, Agg, AggFunc};
use super::DataFrame;
use crate::error::{Error, Result};
use crate::layer::{layer, register_op, Op};
use crate::names::unique;

/// One value column of one partition, melted: the id columns, the column's name, its values.
#[derive(Serialize, Deserialize)]
struct MeltOp {
    id_vars: Vec<String>,
    value_var: String,
    #[serde(with = "super::codec::schema")]
    schema: SchemaRef,
}

impl Op for MeltOp {
    const NAME: &'static str = "frame.melt";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let (ids, var, schema) = (
            self.id_vars.clone(),
            self.value_var.clone(),
            self.schema.clone(),
        );
        let (input, out) = (cx.deps.first().cloned(), cx.key.clone());
        let input = input.ok_or_else(|| partita_runtime::Error::failed(out.clone(), "no input"))?;
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let batch = downcast::<RecordBatch>(&inputs[0], &input)?;
            melt_one(batch, &ids, &var, &schema)
                .map(value)
                .map_err(|e| fail(&out, e))
        }))
    }
}
register_op!(MeltOp);

fn melt_one(
    batch: &RecordBatch,
    ids: &[String],
    var: &str,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let column = |name: &str| {
        batch.column_by_name(name).ok_or_else(|| Error::Schema {
            message: format!("no column {name:?}"),
        })
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(ids.len() + 2);
    for id in ids {
        columns.push(column(id)?.clone());
    }
    let n = batch.num_rows();
    columns.push(Arc::new(StringArray::from_iter_values(
        std::iter::repeat_n(var, n),
    )));
    let value_type = schema.field(ids.len() + 1).data_type();
    columns.push(arrow::compute::cast(column(var)?, value_type).map_err(arrow_error)?);
    RecordBatch::try_new(schema.clone(), columns).map_err(arrow_error)
}

/// The type every one of `types` casts to for a melted value column: their own when they
/// agree, `int64` for integers, `float64` for numbers, `string` otherwise.
fn common_type(types: &[&DataType]) -> DataType {
    match types {
        [] => DataType::Utf8,
        [first, rest @ ..] if rest.iter().all(|t| t == first) => (*first).clone(),
        _ if types.iter().all(|t| t.is_integer()) => DataType::Int64,
        _ if types.iter().all(|t| t.is_integer() || t.is_floating()) => DataType::Float64,
        _ => DataType::Utf8,
    }
}

impl DataFrame {
    /// Wide to long, as pandas' `melt(id_vars, value_vars, var_name, value_name)`: one row for
    /// each row and each of `value_vars` (every column not in `id_vars` when empty), holding the
    /// `id_vars` columns, the value column's name under `var_name` and its value under
    /// `value_name`; all rows of the first value column come first. Value columns of different
    /// types are cast to one: `int64` for integers, `float64` for numbers, `string` otherwise.
    /// The index is dropped, as pandas resets it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch, StringArray};
    /// use partita_collections::DataFrame;
    /// let batch = RecordBatch::try_from_iter([
    ///     ("id", Arc::new(StringArray::from(vec!["a", "b"])) as _),
    ///     ("x", Arc::new(Int64Array::from(vec![1, 2])) as _),
    ///     ("y", Arc::new(Int64Array::from(vec![3, 4])) as _),
    /// ])?;
    /// let long = DataFrame::from_arrow(batch, 1)?.melt(&["id"], &[], "variable", "value")?;
    /// assert_eq!(long.column("variable")?.to_vec::<String>()?.len(), 4);
    /// assert_eq!(long.column("value")?.to_vec::<i64>()?, [Some(1), Some(2), Some(3), Some(4)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column, or a `var_name` or `value_name` that is also an
    /// id column.
    pub fn melt(
        &self,
        id_vars: &[&str],
        value_vars: &[&str],
        var_name: &str,
        value_name: &str,
    ) -> Result<DataFrame> {
        let mut fields = Vec::with_capacity(id_vars.len() + 2);
        for id in id_vars {
            fields.push(self.field_of(id)?.clone());
        }
        let values: Vec<String> = if value_vars.is_empty() {
            self.columns()
                .into_iter()
                .filter(|c| !id_vars.contains(&c.as_str()))
                .collect()
        } else {
            value_vars.iter().map(|v| v.to_string()).collect()
        };
        let mut types = Vec::with_capacity(values.len());
        for v in &values {
            types.push(self.field_of(v)?.data_type());
        }
        for name in [var_name, value_name] {
            if id_vars.contains(&name) {
                return Err(Error::Schema {
                    message: format!("melt: {name:?} is an id column, so it cannot name another"),
                });
            }
        }
        fields.push(Field::new(var_name, DataType::Utf8, false));
        fields.push(Field::new(value_name, common_type(&types), true));
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let m = self.materialize();
        let parts = m.keys();
        let mut graph = m.graph.clone();
        let name = unique("melt");
        let ids: Vec<String> = id_vars.iter().map(|s| s.to_string()).collect();
        let tasks = values.iter().flat_map(|v| {
            parts.iter().map(|p| {
                let op = MeltOp {
                    id_vars: ids.clone(),
                    value_var: v.clone(),
                    schema: schema.clone(),
                };
                (p.clone(), op)
            })
        });
        let tasks: Vec<_> = tasks
            .enumerate()
            .map(|(i, (p, op))| (TaskKey::new(name.clone(), i as u64), vec![p], op))
            .collect();
        let n = tasks.len();
        layer(&mut graph, &name, tasks);
        Ok(DataFrame::from_partitions(graph, name, n, schema))
    }

    /// Long to wide, as pandas' `pivot_table(values=values, index=index, columns=columns,
    /// aggfunc=func)`: one row per distinct `index` key, sorted, and one column per distinct
    /// non-null value of `columns`, sorted and named by it, holding `func` of `values` over the
    /// rows with that key and that value (null where there are no such rows, as pandas' NaN).
    ///
    /// The distinct values of `columns` are computed first, on the current runtime, since they
    /// name the output's columns; the rest is lazy.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch, StringArray};
    /// use partita_collections::{AggFunc, DataFrame};
    /// let batch = RecordBatch::try_from_iter([
    ///     ("day", Arc::new(StringArray::from(vec!["mon", "mon", "tue", "mon"])) as _),
    ///     ("shop", Arc::new(StringArray::from(vec!["a", "b", "a", "a"])) as _),
    ///     ("sold", Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as _),
    /// ])?;
    /// let wide = DataFrame::from_arrow(batch, 2)?.pivot_table(&["day"], "shop", "sold", AggFunc::Sum)?;
    /// assert_eq!(wide.column("a")?.to_vec::<i64>()?, [Some(5), Some(3)]);
    /// assert_eq!(wide.column("b")?.to_vec::<i64>()?, [Some(2), None]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column, a `columns` column of a type other than
    /// strings, integers or booleans, or a `func` other than sum, mean, count, min and max;
    /// the compute's error reading the distinct values.
    pub fn pivot_table(
        &self,
        index: &[&str],
        columns: &str,
        values: &str,
        func: AggFunc,
    ) -> Result<DataFrame> {
        if !matches!(
            func,
            AggFunc::Sum | AggFunc::Mean | AggFunc::Count | AggFunc::Min | AggFunc::Max
        ) {
            return Err(Error::Schema {
                message: format!(
                    "pivot_table aggregates with sum, mean, count, min or max, not {}",
                    func.name()
                ),
            });
        }
        self.field_of(values)?;
        let t = self.field_of(columns)?.data_type().clone();
        let distinct = self
            .select([col(columns)])?
            .drop_duplicates(None)?
            .column(columns)?
            .to_arrow()?;
        let mut names: Vec<(String, Literal)> = literals(&distinct, &t, columns)?;
        names.sort_by(|a, b| match (&a.1, &b.1) {
            (Literal::Int(x), Literal::Int(y)) => x.cmp(y),
            _ => a.0.cmp(&b.0),
        });
        for (name, _) in &names {
            if index.contains(&name.as_str()) {
                return Err(Error::Schema {
                    message: format!(
                        "pivot_table: the value {name:?} of {columns:?} would name a column as \
                         the index column does"
                    ),
                });
            }
        }
        // Each value's aggregate, and how many rows it saw: as in pandas, a key and value with
        // no row give null, and with rows but only null values the aggregate of none (a sum
        // of 0, a count of 0, no mean).
        let mut aggs = Vec::with_capacity(2 * names.len());
        for (i, (name, v)) in names.iter().enumerate() {
            let taken = |e| {
                when(col(columns).eq(lit(v.clone())))
                    .then(e)
                    .otherwise(lit(Literal::Null))
            };
            aggs.push(Agg::of(taken(col(values)), func).alias(name));
            let rows = Agg::of(taken(lit(1)), AggFunc::Count);
            aggs.push(rows.alias(&format!("__rows_{i}")));
        }
        let by: Vec<(&str, bool)> = index.iter().map(|k| (*k, true)).collect();
        let n = self.npartitions;
        let mut wide = self.groupby(index)?.agg(aggs)?;
        let mut counts = Vec::with_capacity(names.len());
        for (i, (name, _)) in names.iter().enumerate() {
            let rows = format!("__rows_{i}");
            let kept = when(col(&rows).gt(lit(0)))
                .then(col(name))
                .otherwise(lit(Literal::Null));
            wide = wide.with_column(name, kept)?;
            counts.push(rows);
        }
        let counts: Vec<&str> = counts.iter().map(String::as_str).collect();
        wide.drop(&counts)?.sort_values_by(&by, n)
    }
}

/// The distinct non-null values in `a` (of type `t`, from column `column`), each with the name
/// of the column it becomes.
fn literals(a: &ArrayRef, t: &DataType, column: &str) -> Result<Vec<(String, Literal)>> {
    use arrow::array::AsArray;
    let mut out = Vec::new();
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Dictionary(..) => {
            let s = arrow::compute::cast(a, &DataType::Utf8).map_err(arrow_error)?;
            for v in s.as_string::<i32>().iter().flatten() {
                out.push((v.to_string(), Literal::Str(v.to_string())));
            }
        }
        DataType::Boolean => {
            for v in a.as_boolean().iter().flatten() {
                out.push((v.to_string(), Literal::Bool(v)));
            }
        }
        t if t.is_integer() => {
            let s = arrow::compute::cast(a, &DataType::Int64).map_err(arrow_error)?;
            let s = s.as_primitive::<arrow::datatypes::Int64Type>();
            for v in s.iter().flatten() {
                out.push((v.to_string(), Literal::Int(v)));
            }
        }
        other => {
            return Err(Error::Schema {
                message: format!(
                    "pivot_table: the columns come from {column:?}, a {} column; use strings, \
                     integers or booleans",
                    dtype_name(other)
                ),
            })
        }
    }
    debug_assert!(out.len() <= a.len());
    Ok(out)
}
