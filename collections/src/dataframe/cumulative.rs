//! Order-dependent column operations across partition boundaries: running sums, minima and
//! maxima (`cumsum`, `cummin`, `cummax`), `shift` and `diff` (either way). Each partition reads
//! a small summary of every partition before it (its total, or its last rows), or after it (its
//! first rows), besides its own rows, as Dask's overlapping partitions do, so no partition
//! waits for another to be read again. Rolling windows ([`super::rolling`]) read the same
//! summaries.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use partita_runtime::{downcast, value, Kernel, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::expr::{arrow_error, dtype_name};
use super::groupby::fail;
use super::DataFrame;
use crate::error::{Error, Result};
use crate::layer::{layer, register_op, Op};
use crate::names::unique;

/// A running aggregate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Running {
    Sum,
    Min,
    Max,
}

/// What a partition hands on to the partitions after it (or, for `Head`, before it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Carry {
    /// Its running aggregate's total (one row, null without a value).
    Total(Running),
    /// Its last `n` values, for the partitions after it.
    Tail(usize),
    /// Its first `n` values, for the partitions before it.
    Head(usize),
}

/// One partition's summary for the partitions after it, as a one-column batch.
#[derive(Serialize, Deserialize)]
struct Summary {
    column: String,
    carry: Carry,
}

/// The column of a partition, as the running operations read it: integers as `int64`,
/// floats as `float64`, NaN as missing (as pandas skips it).
fn numbers(batch: &RecordBatch, column: &str) -> Result<ArrayRef> {
    let c = super::column_of(batch, column)?;
    let t = if c.data_type().is_floating() {
        DataType::Float64
    } else {
        DataType::Int64
    };
    arrow::compute::cast(c, &t).map_err(arrow_error)
}

/// `a` (`float64` or `int64`) folded with `op` into one value, nulls and NaN left out.
fn total(a: &ArrayRef, op: Running) -> ArrayRef {
    match a.data_type() {
        DataType::Float64 => {
            let xs = a
                .as_primitive::<Float64Type>()
                .iter()
                .flatten()
                .filter(|x| !x.is_nan());
            let t = match op {
                Running::Sum => xs.reduce(|s, x| s + x),
                Running::Min => xs.reduce(f64::min),
                Running::Max => xs.reduce(f64::max),
            };
            Arc::new(Float64Array::from(vec![t]))
        }
        _ => {
            let xs = a.as_primitive::<Int64Type>().iter().flatten();
            let t = match op {
                Running::Sum => xs.reduce(i64::wrapping_add),
                Running::Min => xs.reduce(i64::min),
                Running::Max => xs.reduce(i64::max),
            };
            Arc::new(Int64Array::from(vec![t]))
        }
    }
}

fn one_column(name: &str, a: ArrayRef) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        name,
        a.data_type().clone(),
        true,
    )]));
    RecordBatch::try_new(schema, vec![a]).map_err(arrow_error)
}

impl Op for Summary {
    const NAME: &'static str = "frame.cumulative.summary";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let (column, carry) = (self.column.clone(), self.carry);
        let (k, out) = (cx.deps.first().cloned(), cx.key.clone());
        let k = k.ok_or_else(|| partita_runtime::Error::failed(out.clone(), "no input"))?;
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let batch = downcast::<RecordBatch>(&inputs[0], &k)?;
            let summary = match carry {
                Carry::Total(op) => {
                    numbers(batch, &column).and_then(|a| one_column(&column, total(&a, op)))
                }
                Carry::Tail(n) => super::column_of(batch, &column).and_then(|c| {
                    let from = c.len().saturating_sub(n);
                    one_column(&column, c.slice(from, c.len() - from))
                }),
                Carry::Head(n) => super::column_of(batch, &column)
                    .and_then(|c| one_column(&column, c.slice(0, n.min(c.len())))),
            };
            summary.map(value).map_err(|e| fail(&out, e))
        }))
    }
}
register_op!(Summary);

/// One partition with its column replaced, given the summaries of the partitions before it
/// (inputs: the partition, then those summaries in order), or for `Carry::Head` after it.
#[derive(Serialize, Deserialize)]
struct Apply {
    column: String,
    carry: Carry,
    /// For `Carry::Tail`: the difference from the shifted values instead of them.
    diff: bool,
    #[serde(with = "super::codec::schema")]
    schema: SchemaRef,
}

impl Op for Apply {
    const NAME: &'static str = "frame.cumulative.apply";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let (column, carry, diff, schema) = (
            self.column.clone(),
            self.carry,
            self.diff,
            self.schema.clone(),
        );
        let (keys, out) = (cx.deps.to_vec(), cx.key.clone());
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let batches = super::batches(&inputs, &keys)?;
            let (batch, others) = batches.split_first().expect("a partition");
            let replaced = match carry {
                Carry::Total(op) => running(batch, others, &column, op),
                Carry::Tail(n) | Carry::Head(n) if diff => super::column_of(batch, &column)
                    .and_then(|c| differences(c, others, n, matches!(carry, Carry::Head(_)))),
                Carry::Tail(n) => shifted(batch, others, &column, n),
                Carry::Head(n) => shifted_up(batch, others, &column, n),
            };
            replaced
                .and_then(|c| replace_column(batch, &column, c, &schema))
                .map(value)
                .map_err(|e| fail(&out, e))
        }))
    }
}
register_op!(Apply);

/// `batch` with `column` replaced by `c`, under `schema`.
pub(super) fn replace_column(
    batch: &RecordBatch,
    column: &str,
    c: ArrayRef,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let at = batch.schema().index_of(column).map_err(arrow_error)?;
    let mut columns = batch.columns().to_vec();
    columns[at] = c;
    RecordBatch::try_new(schema.clone(), columns).map_err(arrow_error)
}

/// The running `op` of `column` over `batch`, starting from the totals `before`.
fn running(
    batch: &RecordBatch,
    before: &[&RecordBatch],
    column: &str,
    op: Running,
) -> Result<ArrayRef> {
    let a = numbers(batch, column)?;
    let step_f = |s: f64, x: f64| match op {
        Running::Sum => s + x,
        Running::Min => s.min(x),
        Running::Max => s.max(x),
    };
    let step_i = |s: i64, x: i64| match op {
        Running::Sum => s.wrapping_add(x),
        Running::Min => s.min(x),
        Running::Max => s.max(x),
    };
    if a.data_type() == &DataType::Float64 {
        let mut acc: Option<f64> = None;
        for b in before {
            let t = b.column(0).as_primitive::<Float64Type>();
            if let Some(t) = t.iter().flatten().next() {
                acc = Some(acc.map_or(t, |s| step_f(s, t)));
            }
        }
        let out: Float64Array = a
            .as_primitive::<Float64Type>()
            .iter()
            .map(|x| match x {
                // NaN and null stay where they are, and the run goes on past them.
                Some(x) if !x.is_nan() => {
                    let s = acc.map_or(x, |s| step_f(s, x));
                    acc = Some(s);
                    Some(s)
                }
                other => other,
            })
            .collect();
        return Ok(Arc::new(out));
    }
    let mut acc: Option<i64> = None;
    for b in before {
        let t = b.column(0).as_primitive::<Int64Type>();
        if let Some(t) = t.iter().flatten().next() {
            acc = Some(acc.map_or(t, |s| step_i(s, t)));
        }
    }
    let out: Int64Array = a
        .as_primitive::<Int64Type>()
        .iter()
        .map(|x| {
            let x = x?;
            let s = acc.map_or(x, |s| step_i(s, x));
            acc = Some(s);
            Some(s)
        })
        .collect();
    Ok(Arc::new(out))
}

/// `column` of `batch` shifted down by `n` rows, the first ones taken from the last values of
/// the partitions `before` (nulls before the first row).
fn shifted(
    batch: &RecordBatch,
    before: &[&RecordBatch],
    column: &str,
    n: usize,
) -> Result<ArrayRef> {
    let c = super::column_of(batch, column)?;
    let mut pieces: Vec<ArrayRef> = before.iter().map(|b| b.column(0).clone()).collect();
    pieces.push(c.clone());
    let refs: Vec<&dyn Array> = pieces.iter().map(AsRef::as_ref).collect();
    let all = arrow::compute::concat(&refs).map_err(arrow_error)?;
    // The values n rows up from each of this partition's rows, nulls where there are none.
    let start = all.len() - c.len();
    let shifted = if start >= n {
        all.slice(start - n, c.len())
    } else {
        let missing = n - start;
        let nulls = arrow::array::new_null_array(c.data_type(), missing.min(c.len()));
        let taken = c.len() - nulls.len();
        let rest = all.slice(0, taken);
        arrow::compute::concat(&[nulls.as_ref(), rest.as_ref()]).map_err(arrow_error)?
    };
    Ok(shifted)
}

/// The column `c` minus its values `n` rows before (or, `up`, after), as `float64`, in one
/// pass; `edge` are the summaries across the partition boundary (the last rows of the
/// partitions before, or the first rows of those after, in order). Null where either is.
fn differences(c: &ArrayRef, edge: &[&RecordBatch], n: usize, up: bool) -> Result<ArrayRef> {
    let f = |a: &ArrayRef| arrow::compute::cast(a, &DataType::Float64).map_err(arrow_error);
    let pieces: Vec<ArrayRef> = edge.iter().map(|b| f(b.column(0))).collect::<Result<_>>()?;
    let refs: Vec<&dyn Array> = pieces.iter().map(AsRef::as_ref).collect();
    let edge = match refs.is_empty() {
        true => Arc::new(Float64Array::from(Vec::<f64>::new())) as ArrayRef,
        false => arrow::compute::concat(&refs).map_err(arrow_error)?,
    };
    let c = f(c)?;
    let (c, e) = (
        c.as_primitive::<Float64Type>(),
        edge.as_primitive::<Float64Type>(),
    );
    let (len, elen) = (c.len(), e.len());
    let at = |a: &Float64Array, j: usize| a.is_valid(j).then(|| a.value(j));
    let other = |i: usize| -> Option<f64> {
        if up {
            let j = i + n;
            match j < len {
                true => at(c, j),
                false => (j - len < elen).then(|| at(e, j - len)).flatten(),
            }
        } else if i >= n {
            at(c, i - n)
        } else {
            let back = n - i;
            (back <= elen).then(|| at(e, elen - back)).flatten()
        }
    };
    let out: Float64Array = (0..len).map(|i| Some(at(c, i)? - other(i)?)).collect();
    Ok(Arc::new(out))
}

/// `column` of `batch` shifted up by `n` rows, the last ones taken from the first values of
/// the partitions `after` (nulls past the last row).
fn shifted_up(
    batch: &RecordBatch,
    after: &[&RecordBatch],
    column: &str,
    n: usize,
) -> Result<ArrayRef> {
    let c = super::column_of(batch, column)?;
    let mut pieces: Vec<ArrayRef> = vec![c.clone()];
    pieces.extend(after.iter().map(|b| b.column(0).clone()));
    let refs: Vec<&dyn Array> = pieces.iter().map(AsRef::as_ref).collect();
    let all = arrow::compute::concat(&refs).map_err(arrow_error)?;
    // The values n rows down from each of this partition's rows, nulls where there are none.
    let have = all.len().saturating_sub(n).min(c.len());
    let taken = all.slice(n.min(all.len()), have);
    let nulls = arrow::array::new_null_array(c.data_type(), c.len() - have);
    arrow::compute::concat(&[taken.as_ref(), nulls.as_ref()]).map_err(arrow_error)
}

impl DataFrame {
    /// The field of `column`, or an error naming the columns there are.
    pub(super) fn field_of(&self, column: &str) -> Result<&Field> {
        self.schema
            .field_with_name(column)
            .map_err(|_| Error::Schema {
                message: format!("no column {column:?}; the columns are {:?}", self.columns()),
            })
    }

    /// The frame's schema with `column` of type `t` (and nullable).
    pub(super) fn retyped(&self, column: &str, t: &DataType) -> SchemaRef {
        let fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| match f.name() == column {
                true => Field::new(column, t.clone(), true),
                false => f.as_ref().clone(),
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    fn along(&self, column: &str, carry: Carry, diff: bool, name: &str) -> Result<DataFrame> {
        let field = self.field_of(column)?;
        let numeric = field.data_type().is_integer() || field.data_type().is_floating();
        let t = match carry {
            Carry::Tail(_) | Carry::Head(_) if !diff => field.data_type().clone(),
            _ if !numeric => {
                return Err(Error::Schema {
                    message: format!(
                        "{name} of {column:?}, a {} column",
                        dtype_name(field.data_type())
                    ),
                })
            }
            Carry::Tail(_) | Carry::Head(_) => DataType::Float64,
            _ if field.data_type().is_floating() => DataType::Float64,
            _ => DataType::Int64,
        };
        self.along_with(column, carry, t, name, |schema| Apply {
            column: column.to_string(),
            carry,
            diff,
            schema,
        })
    }

    /// The frame with `column` replaced, as type `t`, by the op `apply` makes for the output
    /// schema, run on each partition with the `carry` summaries of the partitions before it
    /// (after it, for `Carry::Head`).
    pub(super) fn along_with<P: Op>(
        &self,
        column: &str,
        carry: Carry,
        t: DataType,
        name: &str,
        apply: impl Fn(SchemaRef) -> P,
    ) -> Result<DataFrame> {
        let schema = self.retyped(column, &t);
        let m = self.materialize();
        let parts = m.keys();
        let mut graph = m.graph.clone();
        let summaries_name = unique(&format!("{name}-carry"));
        let summaries = layer(
            &mut graph,
            &summaries_name,
            parts.iter().enumerate().map(|(i, k)| {
                let op = Summary {
                    column: column.to_string(),
                    carry,
                };
                (
                    TaskKey::new(summaries_name.clone(), i as u64),
                    vec![k.clone()],
                    op,
                )
            }),
        );
        let out = unique(name);
        layer(
            &mut graph,
            &out,
            parts.iter().enumerate().map(|(i, k)| {
                let mut deps = vec![k.clone()];
                match carry {
                    Carry::Head(_) => deps.extend(summaries[i + 1..].iter().cloned()),
                    _ => deps.extend(summaries[..i].iter().cloned()),
                }
                (
                    TaskKey::new(out.clone(), i as u64),
                    deps,
                    apply(schema.clone()),
                )
            }),
        );
        Ok(
            DataFrame::from_partitions(graph, out, m.npartitions, schema)
                .with_index(self.index.clone()),
        )
    }

    /// The frame with `column` replaced by its running sum, across partitions in order, as
    /// pandas' `cumsum`: nulls (and NaN) stay where they are and the sum goes on past them.
    /// Integers sum as `int64`, floats as `float64`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch};
    /// use partita_collections::DataFrame;
    /// let batch = RecordBatch::try_from_iter([(
    ///     "x",
    ///     Arc::new(Int64Array::from(vec![Some(1), Some(2), None, Some(4), Some(5)])) as _,
    /// )])?;
    /// let df = DataFrame::from_arrow(batch, 3)?;
    /// let sums = df.cumsum("x")?.column("x")?.to_vec::<i64>()?;
    /// assert_eq!(sums, [Some(1), Some(3), None, Some(7), Some(12)]);
    /// let before = df.shift("x", 1)?.column("x")?.to_vec::<i64>()?;
    /// assert_eq!(before, [None, Some(1), Some(2), None, Some(4)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown or non-numeric column.
    pub fn cumsum(&self, column: &str) -> Result<DataFrame> {
        self.along(column, Carry::Total(Running::Sum), false, "cumsum")
    }

    /// As [`cumsum`](Self::cumsum), with the running minimum (pandas' `cummin`).
    ///
    /// # Errors
    /// As [`cumsum`](Self::cumsum).
    pub fn cummin(&self, column: &str) -> Result<DataFrame> {
        self.along(column, Carry::Total(Running::Min), false, "cummin")
    }

    /// As [`cumsum`](Self::cumsum), with the running maximum (pandas' `cummax`).
    ///
    /// # Errors
    /// As [`cumsum`](Self::cumsum).
    pub fn cummax(&self, column: &str) -> Result<DataFrame> {
        self.along(column, Carry::Total(Running::Max), false, "cummax")
    }

    /// The frame with `column` shifted down `periods` rows, across partitions, as pandas'
    /// `shift(periods)`: each row holds the value `periods` rows before it, the first rows
    /// null. A negative `periods` shifts up: each row holds the value that many rows after it,
    /// the last rows null. Any column type.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch};
    /// use partita_collections::DataFrame;
    /// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])) as _)])?;
    /// let df = DataFrame::from_arrow(batch, 2)?;
    /// let after = df.shift("x", -2)?.column("x")?.to_vec::<i64>()?;
    /// assert_eq!(after, [Some(3), Some(4), Some(5), None, None]);
    /// let change = df.diff("x", -1)?.column("x")?.to_vec::<f64>()?;
    /// assert_eq!(change, [Some(-1.0), Some(-1.0), Some(-1.0), Some(-1.0), None]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column.
    pub fn shift(&self, column: &str, periods: isize) -> Result<DataFrame> {
        self.along(column, shift_carry(periods), false, "shift")
    }

    /// The frame with `column` replaced by its difference from the value `periods` rows
    /// before (after, for a negative `periods`), as pandas' `diff(periods)` (`float64`, null
    /// where there is no such row).
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown or non-numeric column.
    pub fn diff(&self, column: &str, periods: isize) -> Result<DataFrame> {
        self.along(column, shift_carry(periods), true, "diff")
    }
}

/// The summaries a shift by `periods` rows reads.
fn shift_carry(periods: isize) -> Carry {
    if periods >= 0 {
        Carry::Tail(periods as usize)
    } else {
        Carry::Head(periods.unsigned_abs())
    }
}
