//! DataFrame: a lazy table in partitions of Arrow data, as `dask.dataframe` gives.
//!
//! Each partition is an Arrow `RecordBatch`. The structure (partition count, column names and
//! types) is known before anything runs, and every operation checks its columns against it.
//! Row-wise operations (`select`, `filter`, `with_column`, `rename`, `drop`) are kept as data
//! and fused: however many there are, each partition runs them in one task.
//!
//! Without an index, each partition's row labels restart at 0, as in Dask: `compute()` of a
//! 10-row table in two partitions labels its rows 0–4, 0–4. `reset_index()` numbers them
//! 0..n across the whole table.

mod codec;
mod conditional;
mod cumulative;
mod datetime;
mod dedupe;
mod describe;
mod expr;
mod group_ids;
mod groupby;
mod join;
mod merge_partials;
mod numeric_fns;
mod ops;
mod projection;
mod rank;
mod repartition;
mod resample;
mod reshape;
mod rolling;
mod series;
mod shuffle;
mod sort;
mod str_ids;
mod strings;
#[cfg(test)]
mod test;
mod topn;

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use partita_runtime::{
    downcast, user_fn_op, value, Graph, Kernel, Operation, Runtime, Task, TaskContext, TaskKey,
    Usage, Value, FIRST_INPUT,
};
use serde::{Deserialize, Serialize};

pub use self::codec::{serde_array, serde_schema};
pub use self::conditional::{coalesce, when, Then, When};
pub use self::datetime::{parse_times, DtExpr, DtField, DtOp, DtUnit};
use self::expr::arrow_error;
pub use self::expr::{col, dtype_name, lit, BinaryOp, ColumnType, Expr, Literal};
pub use self::groupby::{
    count, first, last, max, mean, min, size, std, sum, var, Agg, AggFunc, GroupBy, SHUFFLE_ABOVE,
};
pub use self::join::{How, Merge};
pub use self::numeric_fns::NumOp;
use self::ops::RowOp;
use self::projection::names;
pub use self::projection::ColumnSource;
pub use self::rank::RankMethod;
pub use self::resample::{Every, Resample};
pub use self::rolling::Rolling;
pub use self::series::{FromColumn, Series};
pub use self::strings::{Side, StrExpr, StrOp};
use crate::error::{Error, Result};
use crate::layer::{blockwise, register_op, Op};
use crate::names::unique;

/// A lazy, partitioned table of Arrow data.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Int64Array, RecordBatch, StringArray};
/// use arrow::datatypes::{DataType, Field, Schema};
/// use partita_collections::{col, lit, DataFrame};
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("name", DataType::Utf8, false),
///     Field::new("age", DataType::Int64, false),
/// ]));
/// let batch = RecordBatch::try_new(schema, vec![
///     Arc::new(StringArray::from(vec!["Ann", "Bob", "Cid", "Dee"])),
///     Arc::new(Int64Array::from(vec![31, 17, 45, 12])),
/// ]).unwrap();
/// let df = DataFrame::from_arrow(batch, 2)?;
/// let adults = df.filter(col("age").gt_eq(lit(18)))?;
/// let out = adults.compute()?;
/// assert_eq!(out.num_rows(), 2);
/// assert_eq!(out.schema().field(0).name(), "index");
/// # Ok::<(), partita_collections::Error>(())
/// ```
#[derive(Clone)]
pub struct DataFrame {
    graph: Graph,
    /// The layer whose tasks yield the input partitions.
    input: Arc<str>,
    npartitions: usize,
    /// Row-wise operations still to apply, in order.
    ops: Arc<Vec<RowOp>>,
    /// The schema after `ops`.
    schema: SchemaRef,
    /// The name of the layer that materialises this frame (stable across clones).
    name: Arc<str>,
    /// A reader that can read fewer columns, with the schema of its full input.
    source: Option<(Arc<dyn ColumnSource>, SchemaRef)>,
    /// The frame re-planned to read only the columns its result needs (computed once, shared
    /// by clones, so every clone names the same partitions).
    pruned: Arc<std::sync::OnceLock<Option<DataFrame>>>,
    /// An estimate of the frame's size in bytes, where known (for choosing broadcast joins).
    bytes: Option<usize>,
    /// The column that is the index (after `set_index`), and its divisions when known.
    index: Option<Arc<IndexInfo>>,
}

/// A frame's index: which column it is, and the partitions' bounds along it.
#[derive(Debug)]
pub(crate) struct IndexInfo {
    pub(crate) column: String,
    /// `npartitions + 1` sorted values: partition `i` holds index values in
    /// `[divisions[i], divisions[i + 1])`, the last one closed.
    pub(crate) divisions: Option<ArrayRef>,
}

impl fmt::Debug for DataFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataFrame")
            .field("npartitions", &self.npartitions)
            .field("columns", &self.columns())
            .field("pending_ops", &self.ops.len())
            .finish()
    }
}

impl DataFrame {
    /// A frame whose partitions are the `RecordBatch` values of tasks `(input, 0..npartitions)`
    /// of `graph`, all of schema `schema`. Readers use this.
    pub fn from_partitions(
        graph: Graph,
        input: Arc<str>,
        npartitions: usize,
        schema: SchemaRef,
    ) -> DataFrame {
        DataFrame {
            graph,
            name: input.clone(),
            input,
            npartitions,
            ops: Arc::new(Vec::new()),
            schema,
            source: None,
            pruned: Arc::default(),
            bytes: None,
            index: None,
        }
    }

    /// One partition per batch.
    ///
    /// # Errors
    /// [`Error::Schema`] if there is no batch or the batches' schemas differ.
    pub fn from_batches(batches: Vec<RecordBatch>) -> Result<DataFrame> {
        let schema = batches
            .first()
            .map(RecordBatch::schema)
            .ok_or_else(|| Error::Schema {
                message: "from_batches needs at least one batch".into(),
            })?;
        if let Some((i, b)) = batches
            .iter()
            .enumerate()
            .find(|(_, b)| b.schema() != schema)
        {
            return Err(Error::Schema {
                message: format!(
                    "batch {i} has schema {:?}, batch 0 has {:?}",
                    b.schema(),
                    schema
                ),
            });
        }
        let name = unique("from-batches");
        let n = batches.len();
        let bytes = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        let tasks = batches
            .into_iter()
            .enumerate()
            .map(|(i, b)| {
                let v = value(b);
                // A literal: encoded only if the graph leaves the process.
                let op = Operation::literal_value(v.clone());
                Task::new(
                    TaskKey::new(name.clone(), i as u64),
                    vec![],
                    Arc::new(move |_| Ok(v.clone())),
                )
                .with_op_opt(op)
            })
            .collect();
        let mut graph = Graph::new();
        graph.add_layer(name.clone(), tasks);
        Ok(DataFrame::from_partitions(graph, name, n, schema).with_size_hint(Some(bytes)))
    }

    /// The same frame with an estimate of its size in bytes (readers that know their data's
    /// size set one; `merge` broadcasts a side whose estimate is small).
    pub fn with_size_hint(mut self, bytes: Option<usize>) -> DataFrame {
        self.bytes = bytes;
        self
    }

    /// The estimated size in bytes, where known: exact for frames made from batches or
    /// persisted, an upper bound after row-wise operations that drop rows or columns.
    pub fn size_hint(&self) -> Option<usize> {
        self.bytes
    }

    /// `batch` cut into `npartitions` contiguous partitions of near-equal size (zero-copy
    /// slices).
    ///
    /// # Errors
    /// Never for a valid batch; the `Result` matches the other constructors.
    pub fn from_arrow(batch: RecordBatch, npartitions: usize) -> Result<DataFrame> {
        let n = npartitions.max(1);
        let rows = batch.num_rows();
        let parts = (0..n)
            .map(|i| {
                let (lo, hi) = (i * rows / n, (i + 1) * rows / n);
                batch.slice(lo, hi - lo)
            })
            .collect();
        DataFrame::from_batches(parts)
    }

    /// The number of partitions.
    pub fn npartitions(&self) -> usize {
        self.npartitions
    }

    /// The schema of the result.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The column names.
    pub fn columns(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| Some(n.as_str()) != self.index_name())
            .collect()
    }

    /// Each column's name and pandas type name (`int64`, `float64`, `string`, ...).
    pub fn dtypes(&self) -> Vec<(String, String)> {
        self.schema
            .fields()
            .iter()
            .filter(|f| Some(f.name().as_str()) != self.index_name())
            .map(|f| (f.name().clone(), dtype_name(f.data_type())))
            .collect()
    }

    /// The divisions: `npartitions + 1` sorted index values, partition `i` holding the index
    /// values in `[divisions[i], divisions[i + 1])` (the last one closed). Unknown (`None`)
    /// until [`set_index`](Self::set_index).
    pub fn divisions(&self) -> Option<ArrayRef> {
        self.index.as_ref()?.divisions.clone()
    }

    /// The name of the index column, after [`set_index`](Self::set_index).
    pub fn index_name(&self) -> Option<&str> {
        self.index.as_ref().map(|i| i.column.as_str())
    }

    pub(crate) fn with_index(mut self, index: Option<Arc<IndexInfo>>) -> DataFrame {
        self.index = index.filter(|i| schema_has(&self.schema, &i.column));
        self
    }

    fn with_op(&self, op: RowOp) -> Result<DataFrame> {
        let schema = op.schema(&self.schema)?;
        let mut ops = (*self.ops).clone();
        ops.push(op);
        Ok(DataFrame {
            graph: self.graph.clone(),
            input: self.input.clone(),
            npartitions: self.npartitions,
            ops: Arc::new(ops),
            name: unique("dataframe"),
            source: self.source.clone(),
            pruned: Arc::default(),
            bytes: self.bytes,
            // The index survives row-wise operations that keep its column.
            index: self
                .index
                .clone()
                .filter(|i| schema_has(&schema, &i.column)),
            schema,
        })
    }

    /// The given expressions as columns, in order.
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column or mistyped expression.
    pub fn select(&self, exprs: impl IntoIterator<Item = Expr>) -> Result<DataFrame> {
        let mut exprs: Vec<Expr> = exprs.into_iter().collect();
        if let Some(i) = &self.index {
            // The index is not a column to select: it stays.
            let named = exprs.iter().any(|e| e.name() == i.column);
            if !named {
                exprs.insert(0, col(&i.column));
            }
        }
        self.with_op(RowOp::Select(exprs))
    }

    /// The rows where `predicate` is true (null counts as false).
    ///
    /// # Errors
    /// [`Error::Schema`] if `predicate` is not boolean or names an unknown column.
    pub fn filter(&self, predicate: Expr) -> Result<DataFrame> {
        self.with_op(RowOp::Filter(predicate))
    }

    /// Adds (or replaces) column `name` with the values of `expr`.
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column or mistyped expression.
    pub fn with_column(&self, name: &str, expr: Expr) -> Result<DataFrame> {
        self.with_op(RowOp::WithColumn(name.to_string(), expr))
    }

    /// [`with_column`](Self::with_column) for several columns, as pandas' `assign`.
    ///
    /// # Errors
    /// As [`with_column`](Self::with_column).
    pub fn assign(&self, columns: impl IntoIterator<Item = (String, Expr)>) -> Result<DataFrame> {
        let mut df = self.clone();
        for (name, expr) in columns {
            df = df.with_column(&name, expr)?;
        }
        Ok(df)
    }

    /// Renames columns, `(old, new)`.
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column.
    pub fn rename(&self, renames: &[(&str, &str)]) -> Result<DataFrame> {
        self.with_op(RowOp::Rename(
            renames
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        ))
    }

    /// Drops columns.
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column.
    pub fn drop(&self, columns: &[&str]) -> Result<DataFrame> {
        self.with_op(RowOp::Drop(columns.iter().map(|c| c.to_string()).collect()))
    }

    /// Nulls replaced by `value` in every column it fits (a number in numeric columns, a string
    /// in string columns, a boolean in boolean columns), as pandas' `fillna`.
    ///
    /// # Errors
    /// Never at build time; the `Result` matches the other operations.
    pub fn fillna(&self, value: impl Into<Literal>) -> Result<DataFrame> {
        self.with_op(RowOp::FillNull(value.into()))
    }

    /// The rows without a null in any of `subset` (every column when `subset` is empty), as
    /// pandas' `dropna`.
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column.
    pub fn dropna(&self, subset: &[&str]) -> Result<DataFrame> {
        self.with_op(RowOp::DropNull(
            subset.iter().map(|c| c.to_string()).collect(),
        ))
    }

    /// Columns converted to other types; a value that does not convert fails its task.
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column.
    pub fn astype(&self, types: &[(&str, ColumnType)]) -> Result<DataFrame> {
        let mut df = self.clone();
        for (c, t) in types {
            df = df.with_column(c, col(c).cast(*t))?;
        }
        Ok(df)
    }

    /// The partitions of several frames with the same columns, one after the other.
    ///
    /// # Errors
    /// [`Error::Schema`] if there is no frame or their columns differ.
    pub fn concat(frames: &[DataFrame]) -> Result<DataFrame> {
        let first = frames.first().ok_or_else(|| Error::Schema {
            message: "concat needs at least one frame".into(),
        })?;
        let mut graph = Graph::new();
        let name = unique("concat");
        let pass = Operation::new(FIRST_INPUT, &());
        let mut tasks = Vec::new();
        for f in frames {
            if f.schema.fields() != first.schema.fields() {
                return Err(Error::Schema {
                    message: format!(
                        "concat: columns {:?} differ from {:?}",
                        f.dtypes(),
                        first.dtypes()
                    ),
                });
            }
            let m = f.materialize();
            graph.merge(&m.graph);
            for input in m.keys() {
                let key = TaskKey::new(name.clone(), tasks.len() as u64);
                let kernel = pass.build(&key, std::slice::from_ref(&input))?;
                tasks.push(Task::new(key, vec![input], kernel).with_op(pass.clone()));
            }
        }
        let n = tasks.len();
        graph.add_layer(name.clone(), tasks);
        Ok(DataFrame::from_partitions(
            graph,
            name,
            n,
            first.schema.clone(),
        ))
    }

    /// Aggregates over the whole frame: one row, one column per aggregate (`sum("v")` is
    /// named `v_sum`), as pandas' `df.agg`. Tree-reduced like a groupby. A frame with no row
    /// gives a result with no row.
    ///
    /// # Errors
    /// As [`GroupBy::agg`].
    pub fn agg(&self, aggs: impl IntoIterator<Item = Agg>) -> Result<DataFrame> {
        self.groupby(&[])?.agg(aggs)
    }

    /// The same frame with its row-wise operations applied in a layer of their own, one fused
    /// task per partition; unchanged when there is nothing to apply.
    pub fn materialize(&self) -> DataFrame {
        // Read only the columns the result needs, when the reader can.
        let pruned = self
            .pruned
            .get_or_init(|| self.pruned_for(names(&self.schema)));
        if let Some(p) = pruned {
            return p.materialize();
        }
        if self.ops.is_empty() {
            return self.clone();
        }
        let mut graph = self.graph.clone();
        let op = ApplyRowOps {
            ops: self.ops.clone(),
        };
        let inputs =
            (0..self.npartitions as u64).map(|i| vec![TaskKey::new(self.input.clone(), i)]);
        blockwise(&mut graph, &self.name, &op, inputs);
        DataFrame::from_partitions(
            graph,
            self.name.clone(),
            self.npartitions,
            self.schema.clone(),
        )
        .with_size_hint(self.bytes)
        .with_index(self.index.clone())
    }

    /// The task graph that computes the partitions.
    pub fn graph(&self) -> Graph {
        self.materialize().graph
    }

    /// The keys of the partitions in [`graph`](Self::graph).
    pub fn keys(&self) -> Vec<TaskKey> {
        let m = self.materialize();
        (0..m.npartitions as u64)
            .map(|i| TaskKey::new(m.input.clone(), i))
            .collect()
    }

    /// A new frame whose partitions are `f(partition)`; `schema` is what `f` returns (Dask's
    /// `meta`). An error from `f` fails that partition's task, as its typed source (a `String`
    /// or `&str` keeps its text).
    pub fn map_partitions<E, F>(&self, schema: SchemaRef, f: F) -> DataFrame
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        F: Fn(RecordBatch) -> std::result::Result<RecordBatch, E> + Send + Sync + 'static,
    {
        let op = user_fn_op::<F>(Usage::TryOwned1);
        self.partitions_layer(schema, op, move |_, b| f(b))
    }

    /// [`map_partitions`](Self::map_partitions) where `f` also gets the partition's number.
    /// Sinks use it to name one file per partition.
    pub fn map_partitions_indexed<E, F>(&self, schema: SchemaRef, f: F) -> DataFrame
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        F: Fn(usize, RecordBatch) -> std::result::Result<RecordBatch, E> + Send + Sync + 'static,
    {
        self.partitions_layer(schema, None, f)
    }

    /// The layer of [`map_partitions_indexed`](Self::map_partitions_indexed), its tasks
    /// described by `op` when `f` is a registered function.
    fn partitions_layer<E, F>(&self, schema: SchemaRef, op: Option<Operation>, f: F) -> DataFrame
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        F: Fn(usize, RecordBatch) -> std::result::Result<RecordBatch, E> + Send + Sync + 'static,
    {
        let m = self.materialize();
        let mut graph = m.graph.clone();
        let name = unique("map-partitions");
        let f = Arc::new(f);
        let tasks = (0..m.npartitions as u64)
            .map(|i| {
                let input = TaskKey::new(m.input.clone(), i);
                let output = TaskKey::new(name.clone(), i);
                let (f, key, out) = (f.clone(), input.clone(), output.clone());
                let declared = schema.clone();
                let kernel: Kernel = Arc::new(move |inputs: Vec<Value>| {
                    let batch = downcast::<RecordBatch>(&inputs[0], &key)?.clone();
                    let got = f(i as usize, batch)
                        .map_err(|e| partita_runtime::Error::failed_by(out.clone(), e))?;
                    check_declared(&declared, &got, &out)?;
                    Ok(value(got))
                });
                Task::new(output, vec![input], kernel).with_op_opt(op.clone())
            })
            .collect();
        graph.add_layer(name.clone(), tasks);
        DataFrame::from_partitions(graph, name, m.npartitions, schema)
    }

    /// A new frame whose partitions are `op`'s kernel applied to each partition (one input per
    /// task): [`map_partitions`](Self::map_partitions) for built-in operations, which can leave
    /// the process.
    pub(crate) fn map_op<P: Op>(&self, schema: SchemaRef, name: &str, op: &P) -> DataFrame {
        let m = self.materialize();
        let mut graph = m.graph.clone();
        let name = unique(name);
        let inputs = m.keys().into_iter().map(|k| vec![k]);
        blockwise(&mut graph, &name, op, inputs);
        DataFrame::from_partitions(graph, name, m.npartitions, schema)
    }

    /// Every partition, computed on the current runtime ([`Runtime::current`]), without the
    /// index.
    ///
    /// ```
    /// use partita_collections::DataFrame;
    /// use arrow::array::{ArrayRef, Int64Array, RecordBatch};
    /// let t = RecordBatch::try_from_iter([("x", std::sync::Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef)])?;
    /// let parts = DataFrame::from_arrow(t, 2)?.compute_partitions()?;
    /// assert_eq!(parts.iter().map(|p| p.num_rows()).collect::<Vec<_>>(), vec![1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The first failed partition's error.
    pub fn compute_partitions(&self) -> Result<Vec<RecordBatch>> {
        let m = self.materialize();
        let keys = m.keys();
        let parts = Runtime::current().compute(&m.graph, &keys)?;
        Ok(batches(&parts, &keys)?.into_iter().cloned().collect())
    }

    /// Computes the partitions on the current runtime ([`Runtime::current`]) and keeps them in
    /// partition actors; the returned frame reads them, so later queries do not recompute (or
    /// re-read) them.
    ///
    /// # Errors
    /// The first failed partition's error.
    pub fn persist(&self) -> Result<DataFrame> {
        let runtime = Runtime::current();
        let m = self.materialize();
        let keys = m.keys();
        let refs = runtime.persist(&m.graph, &keys)?;
        // The persisted partitions' sizes, as the runtime counted them: reading the partitions
        // to size them would read back every one that has spilled.
        let bytes = refs.iter().map(|r| r.nbytes() as usize).sum();
        let mut graph = Graph::new();
        graph.add_layer(
            m.input.clone(),
            refs.into_iter().map(Task::stored).collect(),
        );
        Ok(
            DataFrame::from_partitions(graph, m.input.clone(), m.npartitions, m.schema.clone())
                .with_size_hint(Some(bytes)),
        )
    }

    /// The whole table on the current runtime ([`Runtime::current`]), with its index as the
    /// first column (`index`, or `level_0` if the frame has a column named `index`, as pandas
    /// names it).
    ///
    /// # Errors
    /// The first failed partition's error.
    pub fn compute(&self) -> Result<RecordBatch> {
        let parts = self.compute_partitions()?;
        self.labelled(&parts)
    }

    /// Starts computing the whole table on the current runtime ([`Runtime::current`], chosen
    /// now, not when the future is polled) and returns a future of it, as
    /// [`compute`](Self::compute) gives it. The runtime's threads do the work, so awaiting it
    /// never blocks an async executor's threads; dropping the future cancels the compute.
    ///
    /// ```
    /// use arrow::array::{Int64Array, RecordBatch};
    /// let rt = partita_runtime::Runtime::builder().threads(2).build()?;
    /// let batch = RecordBatch::try_from_iter([(
    ///     "x",
    ///     std::sync::Arc::new(Int64Array::from(vec![1, 2, 3])) as _,
    /// )])?;
    /// let df = partita_collections::DataFrame::from_arrow(batch, 2)?;
    /// let table = rt.install(|| df.compute_async());
    /// let got = block_on(table)?;
    /// assert_eq!(got.num_rows(), 3);
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     struct W(std::thread::Thread);
    /// #     impl std::task::Wake for W { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
    /// #     let waker = std::task::Waker::from(std::sync::Arc::new(W(std::thread::current())));
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v } std::thread::park() }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compute_async(
        &self,
    ) -> impl std::future::Future<Output = Result<RecordBatch>> + Send + 'static {
        let m = self.materialize();
        let keys = m.keys();
        let handle = Runtime::current().compute_async(&m.graph, &keys);
        let frame = self.clone();
        async move {
            let parts = handle.await?;
            let parts: Vec<RecordBatch> = batches(&parts, &keys)?.into_iter().cloned().collect();
            frame.labelled(&parts)
        }
    }

    /// The first `n` rows, computing only the partitions it needs, with their labels (on the
    /// current runtime, [`Runtime::current`]).
    ///
    /// # Errors
    /// The error of a partition it had to compute.
    pub fn head(&self, n: usize) -> Result<RecordBatch> {
        let runtime = Runtime::current();
        let m = self.materialize();
        let mut parts = Vec::new();
        let mut rows = 0;
        for key in m.keys() {
            if rows >= n {
                break;
            }
            let v = runtime
                .compute(&m.graph, std::slice::from_ref(&key))?
                .pop()
                .ok_or_else(|| partita_runtime::Error::MissingKey { key: key.clone() })?;
            let batch = downcast::<RecordBatch>(&v, &key)?;
            let take = batch.num_rows().min(n - rows);
            parts.push(batch.slice(0, take));
            rows += take;
        }
        self.labelled(&parts)
    }

    /// The number of rows, on the current runtime ([`Runtime::current`]).
    ///
    /// # Errors
    /// The first failed partition's error.
    pub fn len(&self) -> Result<usize> {
        Ok(self
            .compute_partitions()?
            .iter()
            .map(RecordBatch::num_rows)
            .sum())
    }

    /// Whether the table has no row (computes it).
    ///
    /// # Errors
    /// As [`len`](Self::len).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The whole table with the index numbered 0..n across all partitions, on the current
    /// runtime ([`Runtime::current`]).
    ///
    /// # Errors
    /// The first failed partition's error.
    pub fn reset_index(&self) -> Result<RecordBatch> {
        let parts = self.compute_partitions()?;
        let all = concat(&self.schema, &parts)?;
        prepend_index(&all, (0..all.num_rows() as u64).collect())
    }
}

/// The row-wise operations of a frame, applied in order to each partition: one fused task.
#[derive(Serialize, Deserialize)]
struct ApplyRowOps {
    ops: Arc<Vec<RowOp>>,
}

impl Op for ApplyRowOps {
    const NAME: &'static str = "frame.row_ops";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let [key] = inputs::<1>(cx)?;
        let (ops, out) = (self.ops.clone(), cx.key.clone());
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let mut batch = downcast::<RecordBatch>(&inputs[0], &key)?.clone();
            for op in ops.iter() {
                batch = op.apply(&batch).map_err(|e| task_error(&out, e))?;
            }
            Ok(value(batch))
        }))
    }
}
register_op!(ApplyRowOps);

/// The `N` input keys of a task whose kernel takes exactly `N` inputs.
pub(crate) fn inputs<const N: usize>(cx: TaskContext<'_>) -> partita_runtime::Result<[TaskKey; N]> {
    <[TaskKey; N]>::try_from(cx.deps.to_vec()).map_err(|deps| {
        partita_runtime::Error::failed(
            cx.key.clone(),
            format!(
                "the task has {} inputs, its operation takes {N}",
                deps.len()
            ),
        )
    })
}

fn task_error(key: &TaskKey, e: Error) -> partita_runtime::Error {
    match e {
        Error::Runtime(e) => e,
        other => partita_runtime::Error::failed_by(key.clone(), other),
    }
}

fn concat(schema: &SchemaRef, parts: &[RecordBatch]) -> Result<RecordBatch> {
    arrow::compute::concat_batches(schema, parts).map_err(arrow_error)
}

impl DataFrame {
    /// The partitions concatenated with their row labels first: the index column, or labels
    /// restarting at 0 in each partition when there is no index.
    fn labelled(&self, parts: &[RecordBatch]) -> Result<RecordBatch> {
        let Some(name) = self.index_name() else {
            return with_restarting_index(&self.schema, parts);
        };
        let all = concat(&self.schema, parts)?;
        let at = self.schema.index_of(name).map_err(arrow_error)?;
        let mut order = vec![at];
        order.extend((0..all.num_columns()).filter(|&c| c != at));
        all.project(&order).map_err(arrow_error)
    }
}

fn schema_has(schema: &SchemaRef, column: &str) -> bool {
    schema.field_with_name(column).is_ok()
}

/// The partitions concatenated, each numbered from 0 again.
fn with_restarting_index(schema: &SchemaRef, parts: &[RecordBatch]) -> Result<RecordBatch> {
    let labels = parts.iter().flat_map(|p| 0..p.num_rows() as u64).collect();
    prepend_index(&concat(schema, parts)?, labels)
}

fn prepend_index(batch: &RecordBatch, labels: Vec<u64>) -> Result<RecordBatch> {
    let schema = batch.schema();
    let name = if schema.field_with_name("index").is_ok() {
        "level_0"
    } else {
        "index"
    };
    let mut fields = vec![Arc::new(Field::new(name, DataType::UInt64, false))];
    fields.extend(schema.fields().iter().cloned());
    let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from(labels))];
    columns.extend(batch.columns().iter().cloned());
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow_error)
}

impl fmt::Display for DataFrame {
    /// The structure, without computing anything, as Dask's "DataFrame Structure" shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.columns();
        let types: Vec<String> = self.dtypes().into_iter().map(|(_, t)| t).collect();
        let widths: Vec<usize> = names
            .iter()
            .zip(&types)
            .map(|(n, t)| n.len().max(t.len()).max(3))
            .collect();
        let row = |cells: &mut dyn Iterator<Item = String>| {
            cells
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        let lead = format!("npartitions={}", self.npartitions);
        let pad = lead.len();
        writeln!(f, "partita DataFrame structure:")?;
        writeln!(f, "{:pad$}  {}", "", row(&mut names.iter().cloned()))?;
        writeln!(f, "{lead}")?;
        writeln!(f, "{:pad$}  {}", "", row(&mut types.iter().cloned()))?;
        writeln!(
            f,
            "{:pad$}  {}",
            "",
            row(&mut widths.iter().map(|_| "...".to_string()))
        )?;
        let tasks = self.graph().len();
        write!(f, "{tasks} tasks")
    }
}

/// Column `column` of `batch`, or an error naming it.
pub(crate) fn column_of<'a>(batch: &'a RecordBatch, column: &str) -> Result<&'a ArrayRef> {
    batch.column_by_name(column).ok_or_else(|| Error::Schema {
        message: format!("no column {column:?}"),
    })
}

/// Every input as a record batch, each downcast error naming its key.
pub(crate) fn batches<'a>(
    values: &'a [Value],
    keys: &[TaskKey],
) -> partita_runtime::Result<Vec<&'a RecordBatch>> {
    values
        .iter()
        .zip(keys)
        .map(|(v, k)| downcast::<RecordBatch>(v, k))
        .collect()
}

/// Fails `key` when a partition's columns (names and types) are not the ones its frame
/// declares: a later operation would read them wrongly or fail far from the cause.
fn check_declared(
    declared: &SchemaRef,
    got: &RecordBatch,
    key: &TaskKey,
) -> partita_runtime::Result<()> {
    let columns = |s: &arrow::datatypes::Schema| -> Vec<(String, String)> {
        s.fields()
            .iter()
            .map(|f| (f.name().clone(), dtype_name(f.data_type())))
            .collect()
    };
    let (want, have) = (columns(declared), columns(&got.schema()));
    if want == have {
        return Ok(());
    }
    Err(partita_runtime::Error::failed(
        key.clone(),
        format!(
            "map_partitions (layer {}): the function returned the columns {have:?}, but the \
             schema passed to map_partitions declares {want:?}: pass the schema the function \
             returns",
            key.name()
        ),
    ))
}
