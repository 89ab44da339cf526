//! Rolling windows over a column, across partition boundaries, as pandas'
//! `df[column].rolling(window)`: each row's value aggregates the `window` rows ending at it.
//!
//! Each partition reads the last `window - 1` values of the partitions before it (the
//! summaries [`super::cumulative`] makes) and slides one window over them and its own rows, in
//! time linear in its rows whatever the window: compensated running sums for `sum` and
//! `mean`, Welford's moments for `var` and `std`, a monotonic queue for `min` and `max`, each
//! kernel specialised to its aggregate.
//!
//! As in pandas, nulls and NaN are missing values: a window with fewer than `min_periods`
//! values (by default the whole window) gives no value, and the result is `float64`. Where
//! pandas writes NaN, the result holds a null.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, SchemaRef};
use partita_runtime::{value, Kernel, TaskContext, Value};
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
            let batches = super::batches(&inputs, &keys)?;
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
/// order, as `f64` with nulls as NaN (NaN is a missing value too).
fn values(batch: &RecordBatch, before: &[&RecordBatch], column: &str) -> Result<Vec<f64>> {
    let c = super::column_of(batch, column)?;
    let mut out = Vec::new();
    for a in before.iter().map(|b| b.column(0)).chain([c]) {
        let f = arrow::compute::cast(a, &DataType::Float64).map_err(arrow_error)?;
        let f = f.as_primitive::<Float64Type>();
        match f.nulls() {
            None => out.extend_from_slice(f.values()),
            Some(_) => out.extend(f.iter().map(|x| x.unwrap_or(f64::NAN))),
        }
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
    let (values, valid) = match agg {
        WindowAgg::Sum => slide(&xs, start, window, min_periods, Summed::<false>::default()),
        WindowAgg::Mean => slide(&xs, start, window, min_periods, Summed::<true>::default()),
        WindowAgg::Count => slide(&xs, start, window, min_periods, Counted),
        WindowAgg::Min => slide(&xs, start, window, min_periods, Extreme::<false>::default()),
        WindowAgg::Max => slide(&xs, start, window, min_periods, Extreme::<true>::default()),
        WindowAgg::Var { ddof } => {
            slide(&xs, start, window, min_periods, Moments::new(ddof, false))
        }
        WindowAgg::Std { ddof } => slide(&xs, start, window, min_periods, Moments::new(ddof, true)),
    };
    let nulls = arrow::buffer::NullBuffer::from(valid);
    Ok(Arc::new(Float64Array::new(values.into(), Some(nulls))))
}

/// What a sliding window keeps of the values in it: each value enters once and leaves once,
/// in order (`i` is its position).
trait WindowState {
    /// Value `x` at `i` enters the window.
    fn add(&mut self, i: usize, x: f64, xs: &[f64]);
    /// Value `x` at `i`, the oldest in the window, leaves it.
    fn remove(&mut self, i: usize, x: f64);
    /// The window's value, with `n` values (and `rows` rows) in it and enough of them.
    fn value(&self, n: usize, rows: usize, xs: &[f64]) -> Option<f64>;
    /// The window holds no value any more: what is kept starts afresh, without the residue of
    /// rounding.
    fn emptied(&mut self) {}
    /// Whether `n` values in `rows` rows are enough, for `min_periods`.
    fn enough(&self, n: usize, rows: usize, min_periods: usize) -> bool {
        let _ = rows;
        n >= min_periods
    }
}

/// A compensated (Kahan–Babuška) running sum, for `sum` and (`MEAN`) `mean`. With
/// `min_periods(0)`, a window of no values sums to 0 and has no mean, as in pandas.
#[derive(Default)]
struct Summed<const MEAN: bool> {
    sum: f64,
    carry: f64,
}

impl<const MEAN: bool> Summed<MEAN> {
    #[inline]
    fn add_sum(&mut self, x: f64) {
        let t = self.sum + x;
        self.carry += if self.sum.abs() >= x.abs() {
            (self.sum - t) + x
        } else {
            (x - t) + self.sum
        };
        self.sum = t;
    }
}

impl<const MEAN: bool> WindowState for Summed<MEAN> {
    #[inline]
    fn add(&mut self, _: usize, x: f64, _: &[f64]) {
        self.add_sum(x);
    }
    #[inline]
    fn remove(&mut self, _: usize, x: f64) {
        self.add_sum(-x);
    }
    fn emptied(&mut self) {
        (self.sum, self.carry) = (0.0, 0.0);
    }
    #[inline]
    fn value(&self, n: usize, _: usize, _: &[f64]) -> Option<f64> {
        if n == 0 {
            return (!MEAN).then_some(0.0);
        }
        let total = self.sum + self.carry;
        Some(if MEAN { total / n as f64 } else { total })
    }
}

/// `count`: `min_periods` counts rows, not values, as in pandas.
struct Counted;

impl WindowState for Counted {
    #[inline]
    fn add(&mut self, _: usize, _: f64, _: &[f64]) {}
    #[inline]
    fn remove(&mut self, _: usize, _: f64) {}
    #[inline]
    fn value(&self, n: usize, _: usize, _: &[f64]) -> Option<f64> {
        Some(n as f64)
    }
    fn enough(&self, _: usize, rows: usize, min_periods: usize) -> bool {
        rows >= min_periods
    }
}

/// `min` (or, `MAX`, `max`): a queue of positions whose values are monotonic from the front.
#[derive(Default)]
struct Extreme<const MAX: bool> {
    queue: VecDeque<usize>,
}

impl<const MAX: bool> WindowState for Extreme<MAX> {
    #[inline]
    fn add(&mut self, i: usize, x: f64, xs: &[f64]) {
        while let Some(&j) = self.queue.back() {
            let y = xs[j];
            if (MAX && y <= x) || (!MAX && y >= x) {
                self.queue.pop_back();
            } else {
                break;
            }
        }
        self.queue.push_back(i);
    }
    #[inline]
    fn remove(&mut self, i: usize, _: f64) {
        if self.queue.front() == Some(&i) {
            self.queue.pop_front();
        }
    }
    #[inline]
    fn value(&self, _: usize, _: usize, xs: &[f64]) -> Option<f64> {
        self.queue.front().map(|&j| xs[j])
    }
}

/// Welford's moments of the values in a window, with values both added and removed, for `var`
/// and (`sqrt`) `std` with `ddof` delta degrees of freedom.
struct Moments {
    ddof: f64,
    sqrt: bool,
    n: f64,
    mean: f64,
    m2: f64,
    /// The last value added, and how many values in a row (counting it) were equal to it: when
    /// the window holds only those, its variance is exactly 0, as pandas makes it, whatever
    /// the rounding of removals left in `m2`.
    last: f64,
    same: usize,
}

impl Moments {
    fn new(ddof: f64, sqrt: bool) -> Moments {
        Moments {
            ddof,
            sqrt,
            n: 0.0,
            mean: 0.0,
            m2: 0.0,
            last: 0.0,
            same: 0,
        }
    }
}

impl WindowState for Moments {
    #[inline]
    fn add(&mut self, _: usize, x: f64, _: &[f64]) {
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
    }
    fn emptied(&mut self) {
        (self.n, self.mean, self.m2) = (0.0, 0.0, 0.0);
    }
    #[inline]
    fn remove(&mut self, _: usize, x: f64) {
        self.n -= 1.0;
        if self.n == 0.0 {
            return;
        }
        let d = x - self.mean;
        self.mean -= d / self.n;
        self.m2 -= d * (x - self.mean);
    }
    #[inline]
    fn value(&self, _: usize, _: usize, _: &[f64]) -> Option<f64> {
        let constant = self.same as f64 >= self.n;
        let m2 = if constant { 0.0 } else { self.m2.max(0.0) };
        let var = (self.n - self.ddof > 0.0).then(|| m2 / (self.n - self.ddof))?;
        Some(if self.sqrt { var.sqrt() } else { var })
    }
}

/// The windows of `xs` (NaN missing) ending at each position from `from` on: the value of
/// `state` over `xs[i + 1 - window..=i]`, and whether there is one (the window holds at least
/// `min_periods` values). The values before `from` only fill the first windows.
fn slide<S: WindowState>(
    xs: &[f64],
    from: usize,
    window: usize,
    min_periods: usize,
    mut state: S,
) -> (Vec<f64>, Vec<bool>) {
    let out_len = xs.len() - from;
    let (mut values, mut valid) = (Vec::with_capacity(out_len), Vec::with_capacity(out_len));
    let mut n = 0_usize;
    for (i, &x) in xs.iter().enumerate() {
        if !x.is_nan() {
            n += 1;
            state.add(i, x, xs);
        }
        if i >= window {
            let y = xs[i - window];
            if !y.is_nan() {
                n -= 1;
                state.remove(i - window, y);
                if n == 0 {
                    state.emptied();
                }
            }
        }
        if i < from {
            continue;
        }
        let rows = (i + 1).min(window);
        let v = state
            .enough(n, rows, min_periods)
            .then(|| state.value(n, rows, xs))
            .flatten();
        values.push(v.unwrap_or(0.0));
        valid.push(v.is_some());
    }
    (values, valid)
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
