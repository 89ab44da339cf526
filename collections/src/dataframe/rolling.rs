//! Rolling windows over a column, across partition boundaries, as pandas'
//! `df[column].rolling(window)`: each row's value aggregates the `window` rows ending at it.
//!
//! Each partition reads the last `window - 1` values of the partitions before it (the
//! summaries [`super::cumulative`] makes) and slides one window over them and its own rows, in
//! time linear in its rows whatever the window: running sums and Welford's moments for `sum`,
//! `mean`, `var` and `std`, a monotonic queue for `min` and `max`.
//!
//! As in pandas, nulls and NaN are missing values: a window with fewer than `min_periods`
//! values (by default the whole window) gives no value, and the result is `float64`. Where
//! pandas writes NaN, the result holds a null.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, SchemaRef};
use partita_runtime::{downcast, value, Kernel, TaskContext, Value};
use serde::{Deserialize, Serialize};

use super::cumulative::{replace_column, Carry};
use super::expr::{arrow_error, dtype_name};
use super::groupby::fail;
use super::DataFrame;
use crate::error::{Error, Result};
use crate::layer::{register_op, Op};

/// What a window gives.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum WindowAgg {
    Sum,
    Mean,
    Min,
    Max,
    /// The values in the window; `min_periods` counts rows, not values, as in pandas.
    Count,
    Var {
        ddof: f64,
    },
    Std {
        ddof: f64,
    },
}

/// A rolling window over one column of a frame, made by [`DataFrame::rolling`]; each of its
/// methods gives the frame with the column replaced by the windows' values.
#[derive(Clone, Debug)]
pub struct Rolling {
    frame: DataFrame,
    column: String,
    window: usize,
    min_periods: Option<usize>,
}

/// One partition with its column replaced by its windows, given the last values of the
/// partitions before it (inputs: the partition, then those summaries in order).
#[derive(Serialize, Deserialize)]
struct RollingApply {
    column: String,
    window: usize,
    min_periods: usize,
    agg: WindowAgg,
    #[serde(with = "super::codec::schema")]
    schema: SchemaRef,
}

impl Op for RollingApply {
    const NAME: &'static str = "frame.rolling.apply";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let (column, schema) = (self.column.clone(), self.schema.clone());
        let (window, min_periods, agg) = (self.window, self.min_periods, self.agg);
        let (keys, out) = (cx.deps.to_vec(), cx.key.clone());
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let batches = inputs
                .iter()
                .zip(&keys)
                .map(|(v, k)| downcast::<RecordBatch>(v, k))
                .collect::<partita_runtime::Result<Vec<_>>>()?;
            let (batch, before) = batches.split_first().expect("a partition");
            windows(batch, before, &column, window, min_periods, agg)
                .and_then(|c| replace_column(batch, &column, c, &schema))
                .map(value)
                .map_err(|e| fail(&out, e))
        }))
    }
}
register_op!(RollingApply);

/// The values of `column` in the partitions `before` (their last rows) and in `batch`, in
/// order, as `f64` with nulls and NaN as `None`.
fn values(batch: &RecordBatch, before: &[&RecordBatch], column: &str) -> Result<Vec<Option<f64>>> {
    let c = batch.column_by_name(column).ok_or_else(|| Error::Schema {
        message: format!("no column {column:?}"),
    })?;
    let mut out = Vec::new();
    for a in before.iter().map(|b| b.column(0)).chain([c]) {
        let f = arrow::compute::cast(a, &DataType::Float64).map_err(arrow_error)?;
        out.extend(
            f.as_primitive::<Float64Type>()
                .iter()
                .map(|x| x.filter(|x| !x.is_nan())),
        );
    }
    Ok(out)
}

/// The windows of `window` rows ending at each row of `batch`'s `column`.
fn windows(
    batch: &RecordBatch,
    before: &[&RecordBatch],
    column: &str,
    window: usize,
    min_periods: usize,
    agg: WindowAgg,
) -> Result<ArrayRef> {
    let xs = values(batch, before, column)?;
    let start = xs.len() - batch.num_rows();
    let all = slide(&xs, window, min_periods, agg);
    Ok(Arc::new(Float64Array::from(all[start..].to_vec())))
}

/// Welford's moments of the values in a window, with values both added and removed.
#[derive(Default)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
    /// A compensated sum, for `sum` and `mean` (Kahan–Babuška).
    sum: f64,
    carry: f64,
    /// The last value added, and how many values in a row (counting it) were equal to it: when
    /// the window holds only those, its variance is exactly 0, as pandas makes it, whatever
    /// the rounding of removals left in `m2`.
    last: f64,
    same: usize,
}

impl Moments {
    fn add_sum(&mut self, x: f64) {
        let t = self.sum + x;
        self.carry += if self.sum.abs() >= x.abs() {
            (self.sum - t) + x
        } else {
            (x - t) + self.sum
        };
        self.sum = t;
    }

    fn add(&mut self, x: f64) {
        self.same = if self.same > 0 && self.last == x {
            self.same + 1
        } else {
            1
        };
        self.last = x;
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
        self.add_sum(x);
    }

    fn remove(&mut self, x: f64) {
        self.n -= 1.0;
        if self.n == 0.0 {
            let (last, same) = (self.last, self.same);
            *self = Moments {
                last,
                same,
                ..Moments::default()
            };
            return;
        }
        let d = x - self.mean;
        self.mean -= d / self.n;
        self.m2 -= d * (x - self.mean);
        self.add_sum(-x);
    }

    fn total(&self) -> f64 {
        self.sum + self.carry
    }

    fn var(&self, ddof: f64) -> Option<f64> {
        let constant = self.same as f64 >= self.n;
        let m2 = if constant { 0.0 } else { self.m2.max(0.0) };
        (self.n - ddof > 0.0).then(|| m2 / (self.n - ddof))
    }
}

/// Every window of `xs`: the value of `agg` over `xs[i + 1 - window..=i]` for each `i`, or
/// `None` where the window holds fewer than `min_periods` values.
fn slide(
    xs: &[Option<f64>],
    window: usize,
    min_periods: usize,
    agg: WindowAgg,
) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(xs.len());
    let mut m = Moments::default();
    // Positions of candidate extremes, their values monotonic from the front.
    let mut queue: VecDeque<usize> = VecDeque::new();
    let is_max = matches!(agg, WindowAgg::Max);
    for (i, &x) in xs.iter().enumerate() {
        if let Some(x) = x {
            m.add(x);
            while let Some(&j) = queue.back() {
                let y = xs[j].expect("only values are queued");
                if (is_max && y <= x) || (!is_max && y >= x) {
                    queue.pop_back();
                } else {
                    break;
                }
            }
            queue.push_back(i);
        }
        if i >= window {
            if let Some(y) = xs[i - window] {
                m.remove(y);
            }
            while queue.front().is_some_and(|&j| j + window <= i) {
                queue.pop_front();
            }
        }
        let rows = (i + 1).min(window);
        let enough = match agg {
            WindowAgg::Count => rows >= min_periods,
            _ => m.n as usize >= min_periods,
        };
        // With `min_periods(0)`, a window of no values sums to 0 and has no mean, as in pandas.
        let v = enough.then(|| match agg {
            WindowAgg::Sum => Some(m.total()),
            WindowAgg::Mean => (m.n > 0.0).then(|| m.total() / m.n),
            WindowAgg::Count => Some(m.n),
            WindowAgg::Min | WindowAgg::Max => queue.front().and_then(|&j| xs[j]),
            WindowAgg::Var { ddof } => m.var(ddof),
            WindowAgg::Std { ddof } => m.var(ddof).map(f64::sqrt),
        });
        out.push(v.flatten());
    }
    out
}

impl DataFrame {
    /// A rolling window of `window` rows over `column`, as pandas' `df[column].rolling(window)`;
    /// its methods ([`Rolling::sum`], [`Rolling::mean`], ...) give the frame with the column
    /// replaced by each row's window, in `float64`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Float64Array, RecordBatch};
    /// use partita_collections::DataFrame;
    /// let x = Float64Array::from(vec![Some(1.0), Some(2.0), None, Some(4.0), Some(5.0), Some(6.0)]);
    /// let df = DataFrame::from_arrow(RecordBatch::try_from_iter([("x", Arc::new(x) as _)])?, 2)?;
    /// let sums = df.rolling("x", 2)?.sum()?.column("x")?.to_vec::<f64>()?;
    /// assert_eq!(sums, [None, Some(3.0), None, None, Some(9.0), Some(11.0)]);
    /// let loose = df.rolling("x", 2)?.min_periods(1).sum()?.column("x")?.to_vec::<f64>()?;
    /// assert_eq!(loose, [Some(1.0), Some(3.0), Some(2.0), Some(4.0), Some(9.0), Some(11.0)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown or non-numeric column, or a window of no rows.
    pub fn rolling(&self, column: &str, window: usize) -> Result<Rolling> {
        let field = self.field_of(column)?;
        let t = field.data_type();
        if !(t.is_integer() || t.is_floating()) {
            return Err(Error::Schema {
                message: format!("rolling windows of {column:?}, a {} column", dtype_name(t)),
            });
        }
        if window == 0 {
            return Err(Error::Schema {
                message: format!("a rolling window over {column:?} must hold at least one row"),
            });
        }
        Ok(Rolling {
            frame: self.clone(),
            column: column.to_string(),
            window,
            min_periods: None,
        })
    }
}

impl Rolling {
    /// How many values a window needs to give one (pandas' `min_periods`; by default the
    /// window's length). For [`count`](Self::count) it counts rows, as in pandas.
    pub fn min_periods(mut self, n: usize) -> Rolling {
        self.min_periods = Some(n);
        self
    }

    fn apply(&self, agg: WindowAgg, name: &str) -> Result<DataFrame> {
        let (column, window) = (self.column.as_str(), self.window);
        let min_periods = self.min_periods.unwrap_or(window);
        let carry = Carry::Tail(window - 1);
        self.frame
            .along_with(column, carry, DataType::Float64, name, |schema| {
                RollingApply {
                    column: column.to_string(),
                    window,
                    min_periods,
                    agg,
                    schema,
                }
            })
    }

    /// The sum of each window.
    ///
    /// # Errors
    /// None yet: the column was checked when the window was made.
    pub fn sum(&self) -> Result<DataFrame> {
        self.apply(WindowAgg::Sum, "rolling-sum")
    }

    /// The mean of each window.
    ///
    /// # Errors
    /// As [`sum`](Self::sum).
    pub fn mean(&self) -> Result<DataFrame> {
        self.apply(WindowAgg::Mean, "rolling-mean")
    }

    /// The smallest value of each window.
    ///
    /// # Errors
    /// As [`sum`](Self::sum).
    pub fn min(&self) -> Result<DataFrame> {
        self.apply(WindowAgg::Min, "rolling-min")
    }

    /// The largest value of each window.
    ///
    /// # Errors
    /// As [`sum`](Self::sum).
    pub fn max(&self) -> Result<DataFrame> {
        self.apply(WindowAgg::Max, "rolling-max")
    }

    /// How many values (not nulls, not NaN) each window holds.
    ///
    /// # Errors
    /// As [`sum`](Self::sum).
    pub fn count(&self) -> Result<DataFrame> {
        self.apply(WindowAgg::Count, "rolling-count")
    }

    /// The variance of each window with `ddof` delta degrees of freedom (pandas' default is 1),
    /// null where `ddof` leaves none.
    ///
    /// # Errors
    /// As [`sum`](Self::sum).
    pub fn var(&self, ddof: usize) -> Result<DataFrame> {
        self.apply(WindowAgg::Var { ddof: ddof as f64 }, "rolling-var")
    }

    /// The standard deviation of each window with `ddof` delta degrees of freedom (pandas'
    /// default is 1).
    ///
    /// # Errors
    /// As [`sum`](Self::sum).
    pub fn std(&self, ddof: usize) -> Result<DataFrame> {
        self.apply(WindowAgg::Std { ddof: ddof as f64 }, "rolling-std")
    }
}
