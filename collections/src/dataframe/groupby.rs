//! Grouped aggregation: partial aggregates per partition, merged.
//!
//! Each partition aggregates its rows by key into *partial states* (sums, counts, minima,
//! maxima; a mean is a sum and a count). The partial tables are merged into one partition by
//! one task when they hold few groups, or through a hash shuffle that spreads the merging over
//! the workers when they hold many (`merge_partials.rs`, decided while the graph runs); or,
//! with [`GroupBy::split_out`], shuffled into several partitions. A last step turns the
//! states into the results. Groups are numbered one key column at a time (`group_ids.rs`).
//! With no key, every row is in one group, folded without numbering rows, and the partials
//! merge in a tree of up to eight at a time ([`DataFrame::agg`]).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, Decimal128Array, Float64Array, Int64Array,
    PrimitiveArray, RecordBatch, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::datatypes::{Decimal128Type, Float64Type, Int64Type, UInt64Type};
use partita_runtime::{downcast, value, Kernel, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::expr::{arrow_error, dtype_name, Expr};
use super::group_ids::group_rows as group_rows_of;
use super::merge_partials::merge_partials;
use super::{inputs, DataFrame};
use crate::dataframe::batches;
use crate::error::{Error, Result};
use crate::filled::filled;
use crate::layer::{blockwise, register_op, Op};
use crate::names::unique;

/// How many partial tables one merge task reads.
const SPLIT_EVERY: usize = 8;

/// An aggregation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggFunc {
    /// The sum of the non-null values (`int64` for integers, `float64` for floats).
    Sum,
    /// The mean of the non-null values (`float64`; null for a group with none).
    Mean,
    /// The number of non-null values.
    Count,
    /// The number of rows.
    Size,
    /// The smallest non-null value (`int64` or `float64`).
    Min,
    /// The largest non-null value (`int64` or `float64`).
    Max,
    /// The sample variance (ddof 1, as pandas) of the non-null values (`float64`).
    Var,
    /// The sample standard deviation (ddof 1) of the non-null values (`float64`).
    Std,
    /// The first non-null value, in row order (the column's own type).
    First,
    /// The last non-null value, in row order (the column's own type).
    Last,
}

impl AggFunc {
    pub(super) fn name(self) -> &'static str {
        match self {
            AggFunc::Sum => "sum",
            AggFunc::Mean => "mean",
            AggFunc::Count => "count",
            AggFunc::Size => "size",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
            AggFunc::Var => "var",
            AggFunc::Std => "std",
            AggFunc::First => "first",
            AggFunc::Last => "last",
        }
    }
}

/// One aggregate of a grouped frame: a function of a column, named `{column}_{func}` (as the
/// h2o benchmark and pandas named aggregation name them) unless aliased.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agg {
    column: String,
    func: AggFunc,
    alias: Option<String>,
    /// Aggregate this expression rather than the column (`column` then names it).
    expr: Option<Expr>,
}

impl Agg {
    /// `func` of `column`.
    pub fn new(column: &str, func: AggFunc) -> Agg {
        Agg {
            column: column.to_string(),
            func,
            alias: None,
            expr: None,
        }
    }

    /// `func` of an expression over the columns, named after the expression (or aliased):
    /// `Agg::of(col("v1") * col("v2"), AggFunc::Sum).alias("v1v2")`.
    pub fn of(expr: Expr, func: AggFunc) -> Agg {
        Agg {
            column: expr.name(),
            func,
            alias: None,
            expr: Some(expr),
        }
    }

    /// The result column's name.
    pub fn alias(mut self, name: &str) -> Agg {
        self.alias = Some(name.to_string());
        self
    }

    /// What it computes.
    pub(super) fn func(&self) -> AggFunc {
        self.func
    }

    pub(super) fn output_name(&self) -> String {
        self.alias.clone().unwrap_or_else(|| match self.func {
            AggFunc::Size => "size".to_string(),
            f => format!("{}_{}", self.column, f.name()),
        })
    }
}

/// The sum of a column per group.
pub fn sum(column: &str) -> Agg {
    Agg::new(column, AggFunc::Sum)
}
/// The mean of a column per group.
pub fn mean(column: &str) -> Agg {
    Agg::new(column, AggFunc::Mean)
}
/// The non-null count of a column per group.
pub fn count(column: &str) -> Agg {
    Agg::new(column, AggFunc::Count)
}
/// The number of rows per group.
pub fn size() -> Agg {
    Agg::new("", AggFunc::Size)
}
/// The minimum of a column per group.
pub fn min(column: &str) -> Agg {
    Agg::new(column, AggFunc::Min)
}
/// The maximum of a column per group.
pub fn max(column: &str) -> Agg {
    Agg::new(column, AggFunc::Max)
}
/// The sample variance of a column per group.
pub fn var(column: &str) -> Agg {
    Agg::new(column, AggFunc::Var)
}
/// The sample standard deviation of a column per group.
pub fn std(column: &str) -> Agg {
    Agg::new(column, AggFunc::Std)
}
/// The first non-null value of a column per group.
pub fn first(column: &str) -> Agg {
    Agg::new(column, AggFunc::First)
}
/// The last non-null value of a column per group.
pub fn last(column: &str) -> Agg {
    Agg::new(column, AggFunc::Last)
}

/// How one state column is folded, per group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fold {
    SumInt,
    SumFloat,
    /// Sums integers exactly, in 128 bits (a `Decimal128(38, 0)` state), so that a mean of
    /// large integers is the exact sum rounded once, not a float sum that drops low digits.
    SumWide,
    /// Counts non-null input values (rows, for the `Size` input of all-valid ones).
    CountValid,
    MinInt,
    MinFloat,
    MaxInt,
    MaxFloat,
    /// Sums the squares of the input; for a variance, `center_variances` then makes it the sum
    /// of squared deviations from the group's mean, and merges it by Chan's formula.
    SumSquares,
    /// Keeps the first (or last) non-null input value, in row order.
    First,
    Last,
}

impl Fold {
    /// How partial states of this fold merge.
    fn merge(self) -> Fold {
        match self {
            Fold::CountValid => Fold::SumInt,
            Fold::SumSquares => Fold::SumFloat,
            other => other,
        }
    }

    /// The state column's type, for an input of type `input`.
    fn state_type(self, input: Option<&DataType>) -> DataType {
        match self {
            Fold::SumFloat | Fold::MinFloat | Fold::MaxFloat | Fold::SumSquares => {
                DataType::Float64
            }
            Fold::First | Fold::Last => input.cloned().unwrap_or(DataType::Null),
            Fold::SumWide => WIDE,
            _ => DataType::Int64,
        }
    }
}

/// The state type of [`Fold::SumWide`].
const WIDE: DataType = DataType::Decimal128(38, 0);

/// Exact sums of integers per group, as `Decimal128(38, 0)`: of `input`'s integers, or of
/// partial sums of that type. `group_of` gives each row's group; `None` puts every row in one.
fn wide_sums(input: &ArrayRef, group_of: Option<&[u32]>, groups: usize) -> Result<ArrayRef> {
    fn add_all<T: ArrowPrimitiveType>(
        a: &PrimitiveArray<T>,
        group_of: Option<&[u32]>,
        acc: &mut [i128],
        wide: impl Fn(T::Native) -> i128,
    ) {
        match (group_of, a.null_count()) {
            (None, 0) => {
                acc[0] = a
                    .values()
                    .iter()
                    .fold(acc[0], |s, &v| s.wrapping_add(wide(v)));
            }
            (Some(g), 0) => {
                for (&g, &v) in g.iter().zip(a.values().iter()) {
                    let s = &mut acc[g as usize];
                    *s = s.wrapping_add(wide(v));
                }
            }
            (g, _) => {
                for (r, v) in a.iter().enumerate() {
                    if let Some(v) = v {
                        let s = &mut acc[g.map_or(0, |g| g[r] as usize)];
                        *s = s.wrapping_add(wide(v));
                    }
                }
            }
        }
    }
    let mut acc = filled(groups, 0_i128);
    match input.data_type() {
        DataType::Decimal128(..) => {
            add_all(
                input.as_primitive::<Decimal128Type>(),
                group_of,
                &mut acc,
                |v| v,
            );
        }
        DataType::UInt64 => {
            add_all(
                input.as_primitive::<UInt64Type>(),
                group_of,
                &mut acc,
                i128::from,
            );
        }
        _ => {
            let a = arrow::compute::cast(input, &DataType::Int64).map_err(arrow_error)?;
            add_all(
                a.as_primitive::<Int64Type>(),
                group_of,
                &mut acc,
                i128::from,
            );
        }
    }
    let sums = Decimal128Array::from(acc)
        .with_precision_and_scale(38, 0)
        .map_err(arrow_error)?;
    Ok(Arc::new(sums))
}

/// A frame grouped by key columns. Made by [`DataFrame::groupby`].
#[derive(Clone, Debug)]
pub struct GroupBy {
    frame: DataFrame,
    keys: Vec<String>,
    /// Output partitions of a shuffle-based aggregation (1: one partition, merged by one task or
    /// through a shuffle, as the number of groups decides).
    split_out: usize,
    /// Partial groups (summed over the partitions) from which one output merges through a
    /// shuffle.
    shuffle_above: usize,
    /// Whether rows with a null key are left out (pandas' default, `dropna=True`).
    dropna: bool,
}

/// The default of [`GroupBy::shuffle_above`].
pub const SHUFFLE_ABOVE: usize = 100_000;

impl DataFrame {
    /// Groups the rows by the values of `keys` (no key: one group of every row, as
    /// [`DataFrame::agg`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use partita_collections::{mean, sum, DataFrame};
    ///
    /// let schema = Arc::new(Schema::new(vec![
    ///     Field::new("k", DataType::Utf8, false),
    ///     Field::new("v", DataType::Int64, false),
    /// ]));
    /// let batch = RecordBatch::try_new(schema, vec![
    ///     Arc::new(StringArray::from(vec!["a", "b", "a", "b", "a"])),
    ///     Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])),
    /// ]).unwrap();
    /// let df = DataFrame::from_arrow(batch, 2)?;
    /// let out = df.groupby(&["k"])?.agg([sum("v"), mean("v")])?.reset_index()?;
    /// let sums = out.column_by_name("v_sum").unwrap().as_any().downcast_ref::<Int64Array>().unwrap();
    /// let means = out.column_by_name("v_mean").unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
    /// assert_eq!(sums.values(), &[9, 6]);   // a, then b: keys in order of first appearance
    /// assert_eq!(means.values(), &[3.0, 3.0]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown key column.
    pub fn groupby(&self, keys: &[&str]) -> Result<GroupBy> {
        for k in keys {
            if self.schema.field_with_name(k).is_err() {
                return Err(Error::Schema {
                    message: format!("no key column {k:?}; the columns are {:?}", self.columns()),
                });
            }
        }
        Ok(GroupBy {
            frame: self.clone(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            split_out: 1,
            shuffle_above: SHUFFLE_ABOVE,
            dropna: true,
        })
    }

    /// The number of distinct non-null values of `column` in each group of `keys`, as pandas'
    /// `groupby(keys)[column].nunique()`: a groupby of the distinct `(keys, column)` pairs,
    /// counted per key. The result's column is `{column}_nunique`.
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column.
    pub fn nunique(&self, keys: &[&str], column: &str) -> Result<DataFrame> {
        let mut pair: Vec<&str> = keys.to_vec();
        pair.push(column);
        let valid = self.dropna(&[column])?;
        let distinct = valid.groupby(&pair)?.agg([size().alias("__n")])?;
        distinct
            .groupby(keys)?
            .agg([size().alias(&format!("{column}_nunique"))])
    }

    /// How many rows hold each non-null value of `column`, most frequent first (ties in order
    /// of first appearance), as pandas' `value_counts` (whose default drops nulls).
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column.
    pub fn value_counts(&self, column: &str) -> Result<DataFrame> {
        let counted = self.groupby(&[column])?.agg([size().alias("count")])?;
        let schema = counted.schema().clone();
        Ok(counted.map_op(schema, "value-counts", &ByCount))
    }
}

/// What a [`Plan`] is made from, and what it travels as: the plan itself is rebuilt from it.
#[derive(Clone, Serialize, Deserialize)]
struct PlanSpec {
    keys: Vec<String>,
    aggs: Vec<Agg>,
    /// The schema of the grouped frame.
    #[serde(with = "super::codec::schema")]
    schema: SchemaRef,
    ordered: bool,
    /// Rows with a null key are left out of the partial tables.
    #[serde(default)]
    dropna: bool,
}

/// What the partial tables hold: the key columns, then one state column per fold.
pub(super) struct Plan {
    spec: PlanSpec,
    pub(super) keys: Vec<String>,
    /// For each state column: its input column (`None` for row counts), fold and type.
    states: Vec<(Option<String>, Fold, DataType)>,
    /// For each output aggregate: its name, function and state columns.
    outputs: Vec<(String, AggFunc, Vec<usize>)>,
    pub(super) partial_schema: SchemaRef,
    pub(super) output_schema: SchemaRef,
    /// The partial tables end with an `__order` column: each group's first row as
    /// `partition << 32 | row`, merged by minimum, so that groups merged in any order can be
    /// put back in order of first appearance.
    pub(super) ordered: bool,
}

impl GroupBy {
    /// Aggregates into `n` partitions through a hash shuffle of the partial aggregates, instead
    /// of merging them in a tree into one partition: for many groups (the h2o questions with
    /// 100,000 groups, say), where one task merging every partial table would do all the work.
    /// Each group is in exactly one output partition; groups are ordered by partition, then by
    /// first appearance. As Dask's `split_out`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use partita_collections::{sum, DataFrame};
    ///
    /// let schema = Arc::new(Schema::new(vec![
    ///     Field::new("k", DataType::Int64, false),
    ///     Field::new("v", DataType::Int64, false),
    /// ]));
    /// let k: Vec<i64> = (0..1000).map(|i| i % 100).collect();
    /// let batch = RecordBatch::try_new(schema, vec![
    ///     Arc::new(Int64Array::from(k)),
    ///     Arc::new(Int64Array::from(vec![1; 1000])),
    /// ]).unwrap();
    /// let df = DataFrame::from_arrow(batch, 4)?;
    /// let out = df.groupby(&["k"])?.split_out(3).agg([sum("v")])?;
    /// assert_eq!(out.npartitions(), 3);
    /// let table = out.compute()?;
    /// assert_eq!(table.num_rows(), 100);
    /// let sums = table.column_by_name("v_sum").unwrap().as_any().downcast_ref::<Int64Array>().unwrap();
    /// assert!(sums.values().iter().all(|&s| s == 10));
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn split_out(mut self, n: usize) -> GroupBy {
        self.split_out = n.max(1);
        self
    }

    /// Merges the partial aggregates of one output partition through a hash shuffle when the
    /// partitions' partial tables hold at least `groups` groups in total (default
    /// [`SHUFFLE_ABOVE`], 100,000), and in one task otherwise. Both give the same table, groups
    /// in order of first appearance; the shuffle spreads the merging of many groups over the
    /// workers. The choice is made while the graph runs, once the partials are known.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use partita_collections::{sum, DataFrame};
    ///
    /// let schema = Arc::new(Schema::new(vec![
    ///     Field::new("k", DataType::Int64, false),
    ///     Field::new("v", DataType::Int64, false),
    /// ]));
    /// let k: Vec<i64> = (0..1000).map(|i| (i * 7) % 300).collect();
    /// let batch = RecordBatch::try_new(schema, vec![
    ///     Arc::new(Int64Array::from(k)),
    ///     Arc::new(Int64Array::from(vec![1; 1000])),
    /// ]).unwrap();
    /// let df = DataFrame::from_arrow(batch, 4)?;
    /// let tree = df.groupby(&["k"])?.shuffle_above(usize::MAX).agg([sum("v")])?.compute()?;
    /// let shuffled = df.groupby(&["k"])?.shuffle_above(0).agg([sum("v")])?.compute()?;
    /// assert_eq!(tree, shuffled);
    /// let keys = shuffled.column_by_name("k").unwrap().as_any().downcast_ref::<Int64Array>().unwrap();
    /// assert_eq!(&keys.values()[..3], &[0, 7, 14]);   // first appearance
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn shuffle_above(mut self, groups: usize) -> GroupBy {
        self.shuffle_above = groups;
        self
    }

    /// Whether rows whose key holds a null are left out: `true` by default, as pandas'
    /// `groupby(dropna=True)`; `false` makes the nulls of each key one group, as
    /// `dropna=False`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch};
    /// use partita_collections::{size, DataFrame};
    /// let batch = RecordBatch::try_from_iter([(
    ///     "k",
    ///     Arc::new(Int64Array::from(vec![Some(1), None, Some(1), None])) as _,
    /// )])?;
    /// let df = DataFrame::from_arrow(batch, 2)?;
    /// assert_eq!(df.groupby(&["k"])?.agg([size()])?.len()?, 1);
    /// assert_eq!(df.groupby(&["k"])?.dropna(false).agg([size()])?.len()?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dropna(mut self, drop: bool) -> GroupBy {
        self.dropna = drop;
        self
    }

    /// The aggregates per group, one row per group, keys first, in one partition (or in
    /// [`split_out`](Self::split_out) partitions).
    ///
    /// # Errors
    /// [`Error::Schema`] for an unknown column, or a sum, mean, min or max of a column that is
    /// not numeric.
    pub fn agg(&self, aggs: impl IntoIterator<Item = Agg>) -> Result<DataFrame> {
        let mut aggs: Vec<Agg> = aggs.into_iter().collect();
        // Aggregates of expressions read a computed column, added per partition (fused).
        if aggs.iter().any(|a| a.expr.is_some()) {
            let mut frame = self.frame.clone();
            for (i, a) in aggs.iter_mut().enumerate() {
                if let Some(e) = a.expr.take() {
                    let name = format!("__agg_{i}");
                    frame = frame.with_column(&name, e)?;
                    a.alias
                        .get_or_insert_with(|| format!("{}_{}", a.column, a.func.name()));
                    a.column = name;
                }
            }
            return GroupBy {
                frame,
                ..self.clone()
            }
            .agg(aggs);
        }
        // One output partition from several partials: merged by one task or through a shuffle,
        // as the number of groups turns out (`merge_partials.rs`); either way in order of first
        // appearance, which the shuffle restores from the partials' `__order`.
        let adaptive = self.split_out == 1 && !self.keys.is_empty() && self.frame.npartitions > 1;
        let plan = Arc::new(self.plan(&aggs, adaptive)?);
        // Read only the key and aggregated columns, when the reader can.
        let needed = self
            .keys
            .iter()
            .cloned()
            .chain(
                aggs.iter()
                    .filter(|a| a.func != AggFunc::Size)
                    .map(|a| a.column.clone()),
            )
            .collect();
        let frame = self
            .frame
            .pruned_for(needed)
            .unwrap_or_else(|| self.frame.clone());
        let m = frame.materialize();
        let mut graph = m.graph.clone();

        // Per-partition partial aggregates.
        let name = unique("groupby-partial");
        let inputs = (0..m.npartitions as u64).map(|i| vec![TaskKey::new(m.input.clone(), i)]);
        let partial = Partial { plan: plan.clone() };
        let mut level = blockwise(&mut graph, &name, &partial, inputs);
        if level.is_empty() {
            // No partition: aggregate an empty table.
            let name = unique("groupby-empty");
            let empty = EmptyPartial { plan: plan.clone() };
            level = blockwise(&mut graph, &name, &empty, [vec![]]);
        }
        if adaptive && level.len() > 1 {
            let (graph, name) = merge_partials(graph, level, plan.clone(), self.shuffle_above);
            return Ok(DataFrame::from_partitions(
                graph,
                name,
                1,
                plan.output_schema.clone(),
            ));
        }
        if self.split_out > 1 {
            // Move each group's partial rows to one of `split_out` partitions, merge them there.
            let partial = level[0].name().to_string();
            let partials = DataFrame::from_partitions(
                graph,
                partial.into(),
                level.len(),
                plan.partial_schema.clone(),
            );
            let keys: Vec<&str> = plan.keys.iter().map(String::as_str).collect();
            let moved = partials.shuffle(&keys, self.split_out)?;
            let op = MergeFinish { plan: plan.clone() };
            return Ok(moved.map_op(plan.output_schema.clone(), "groupby-merge", &op));
        }
        // Merge partial tables, SPLIT_EVERY at a time, until one is left.
        while level.len() > 1 {
            let name = unique("groupby-merge");
            let op = MergeStates { plan: plan.clone() };
            let deps: Vec<Vec<TaskKey>> = level.chunks(SPLIT_EVERY).map(<[_]>::to_vec).collect();
            level = blockwise(&mut graph, &name, &op, deps);
        }
        // The results from the merged states.
        let name = unique("groupby-agg");
        let op = Finish { plan: plan.clone() };
        blockwise(&mut graph, &name, &op, [level]);
        Ok(DataFrame::from_partitions(
            graph,
            name,
            1,
            plan.output_schema.clone(),
        ))
    }

    fn plan(&self, aggs: &[Agg], ordered: bool) -> Result<Plan> {
        let spec = PlanSpec {
            keys: self.keys.clone(),
            aggs: aggs.to_vec(),
            schema: self.frame.schema.clone(),
            ordered,
            dropna: self.dropna && !self.keys.is_empty(),
        };
        Plan::new(spec, &self.frame.columns())
    }
}

impl Plan {
    /// The plan of `spec`; `columns` are the frame's columns, for error messages.
    fn new(spec: PlanSpec, columns: &[String]) -> Result<Plan> {
        let (schema, aggs, ordered) = (&spec.schema, &spec.aggs, spec.ordered);
        let mut states: Vec<(Option<String>, Fold, DataType)> = Vec::new();
        let mut outputs = Vec::new();
        let mut out_fields: Vec<Field> = spec
            .keys
            .iter()
            .map(|k| {
                schema
                    .field_with_name(k)
                    .map(|f| f.clone().with_nullable(true))
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(arrow_error)?;
        for agg in aggs {
            let column_type = if agg.func == AggFunc::Size {
                None
            } else {
                Some(
                    schema
                        .field_with_name(&agg.column)
                        .map_err(|_| Error::Schema {
                            message: format!(
                                "no column {:?} to aggregate; the columns are {:?}",
                                agg.column, columns
                            ),
                        })?
                        .data_type()
                        .clone(),
                )
            };
            let numeric = |t: &Option<DataType>| -> Result<bool> {
                match t {
                    Some(t) if t.is_integer() => Ok(false),
                    Some(t) if t.is_floating() => Ok(true),
                    Some(t) => Err(Error::Schema {
                        message: format!(
                            "cannot take the {} of {:?}, a {} column",
                            agg.func.name(),
                            agg.column,
                            dtype_name(t)
                        ),
                    }),
                    None => Ok(false),
                }
            };
            let column = (agg.func != AggFunc::Size).then(|| agg.column.clone());
            let first = states.len();
            let (folds, out_type): (Vec<Fold>, DataType) = match agg.func {
                AggFunc::Sum => {
                    if numeric(&column_type)? {
                        (vec![Fold::SumFloat], DataType::Float64)
                    } else {
                        (vec![Fold::SumInt], DataType::Int64)
                    }
                }
                AggFunc::Mean => {
                    let sum = match numeric(&column_type)? {
                        true => Fold::SumFloat,
                        false => Fold::SumWide,
                    };
                    (vec![sum, Fold::CountValid], DataType::Float64)
                }
                AggFunc::Count | AggFunc::Size => (vec![Fold::CountValid], DataType::Int64),
                // Dates, times and durations: the least or greatest as integers, of their type.
                AggFunc::Min | AggFunc::Max
                    if column_type.as_ref().is_some_and(|t| {
                        super::datetime::is_time(t) || matches!(t, DataType::Duration(_))
                    }) =>
                {
                    let fold = match agg.func {
                        AggFunc::Min => Fold::MinInt,
                        _ => Fold::MaxInt,
                    };
                    (vec![fold], column_type.clone().unwrap_or(DataType::Null))
                }
                AggFunc::Min | AggFunc::Max => {
                    let float = numeric(&column_type)?;
                    let fold = match (agg.func, float) {
                        (AggFunc::Min, true) => Fold::MinFloat,
                        (AggFunc::Min, false) => Fold::MinInt,
                        (_, true) => Fold::MaxFloat,
                        _ => Fold::MaxInt,
                    };
                    let t = if float {
                        DataType::Float64
                    } else {
                        DataType::Int64
                    };
                    (vec![fold], t)
                }
                AggFunc::Var | AggFunc::Std => {
                    numeric(&column_type)?;
                    (
                        vec![Fold::SumFloat, Fold::SumSquares, Fold::CountValid],
                        DataType::Float64,
                    )
                }
                AggFunc::First | AggFunc::Last => {
                    let fold = if agg.func == AggFunc::First {
                        Fold::First
                    } else {
                        Fold::Last
                    };
                    (vec![fold], column_type.clone().unwrap_or(DataType::Null))
                }
            };
            for f in &folds {
                states.push((column.clone(), *f, f.state_type(column_type.as_ref())));
            }
            outputs.push((
                agg.output_name(),
                agg.func,
                (first..first + folds.len()).collect(),
            ));
            out_fields.push(Field::new(agg.output_name(), out_type, true));
        }
        let mut partial_fields: Vec<Field> = out_fields[..spec.keys.len()].to_vec();
        for (i, (_, _, t)) in states.iter().enumerate() {
            partial_fields.push(Field::new(format!("__state_{i}"), t.clone(), true));
        }
        if ordered {
            partial_fields.push(Field::new("__order", DataType::Int64, true));
        }
        Ok(Plan {
            keys: spec.keys.clone(),
            spec,
            states,
            outputs,
            partial_schema: Arc::new(Schema::new(partial_fields)),
            output_schema: Arc::new(Schema::new(out_fields)),
            ordered,
        })
    }
}

impl Serialize for Plan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.spec.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Plan {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Plan, D::Error> {
        let spec = PlanSpec::deserialize(d)?;
        let columns: Vec<String> = spec
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        Plan::new(spec, &columns).map_err(serde::de::Error::custom)
    }
}

impl Plan {
    /// The input column of each state, from a partition (`None` for row counts).
    fn input_columns(&self, batch: &RecordBatch) -> Vec<Option<ArrayRef>> {
        self.states
            .iter()
            .map(|(c, _, _)| c.as_ref().and_then(|c| batch.column_by_name(c).cloned()))
            .collect()
    }
}

/// One partition's partial aggregates (task `i` reads partition `i`).
#[derive(Serialize, Deserialize)]
struct Partial {
    plan: Arc<Plan>,
}

impl Op for Partial {
    const NAME: &'static str = "frame.groupby.partial";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let [k] = inputs::<1>(cx)?;
        let (plan, out, i) = (self.plan.clone(), cx.key.clone(), cx.key.index() as usize);
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let batch = downcast::<RecordBatch>(&inputs[0], &k)?;
            // Null keys form no group, as in pandas by default: their rows are left out here,
            // where a partition without nulls costs one look at each key's null count.
            let kept;
            let batch = match plan.spec.dropna {
                true => {
                    kept = without_null_keys(batch, &plan.keys).map_err(|e| fail(&out, e))?;
                    kept.as_ref().unwrap_or(batch)
                }
                false => batch,
            };
            let cols = plan.input_columns(batch);
            fold_states(&plan, batch, &cols, Rows::Partition(i))
                .map(value)
                .map_err(|e| fail(&out, e))
        }))
    }
}
register_op!(Partial);

/// The partial aggregates of no partition: an empty partial table.
#[derive(Serialize, Deserialize)]
struct EmptyPartial {
    plan: Arc<Plan>,
}

impl Op for EmptyPartial {
    const NAME: &'static str = "frame.groupby.empty";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let [] = inputs::<0>(cx)?;
        let schema = self.plan.partial_schema.clone();
        Ok(Arc::new(move |_| {
            Ok(value(RecordBatch::new_empty(schema.clone())))
        }))
    }
}
register_op!(EmptyPartial);

/// Partial tables merged into one.
#[derive(Serialize, Deserialize)]
struct MergeStates {
    plan: Arc<Plan>,
}

impl Op for MergeStates {
    const NAME: &'static str = "frame.groupby.merge";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let (plan, keys, out) = (self.plan.clone(), cx.deps.to_vec(), cx.key.clone());
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let parts: Vec<RecordBatch> = batches(&inputs, &keys)?.into_iter().cloned().collect();
            merge(&plan, &parts).map(value).map_err(|e| fail(&out, e))
        }))
    }
}
register_op!(MergeStates);

/// The results from one table of merged states.
#[derive(Serialize, Deserialize)]
struct Finish {
    plan: Arc<Plan>,
}

impl Op for Finish {
    const NAME: &'static str = "frame.groupby.finish";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let [root] = inputs::<1>(cx)?;
        let (p, out) = (self.plan.clone(), cx.key.clone());
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let states = downcast::<RecordBatch>(&inputs[0], &root)?;
            finish(&p, states).map(value).map_err(|e| fail(&out, e))
        }))
    }
}
register_op!(Finish);

/// The results from one partition of partial tables (a `split_out` output): merged, finished.
#[derive(Serialize, Deserialize)]
struct MergeFinish {
    plan: Arc<Plan>,
}

impl Op for MergeFinish {
    const NAME: &'static str = "frame.groupby.merge_finish";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let [input] = inputs::<1>(cx)?;
        let (p, out) = (self.plan.clone(), cx.key.clone());
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let b = downcast::<RecordBatch>(&inputs[0], &input)?;
            merge(&p, std::slice::from_ref(b))
                .and_then(|states| finish(&p, &states))
                .map(value)
                .map_err(|e| fail(&out, e))
        }))
    }
}
register_op!(MergeFinish);

/// A `value_counts` partition sorted by its `count` column, most frequent first (stable).
#[derive(Serialize, Deserialize)]
struct ByCount;

impl Op for ByCount {
    const NAME: &'static str = "frame.value_counts";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let [input] = inputs::<1>(cx)?;
        let out = cx.key.clone();
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let batch = downcast::<RecordBatch>(&inputs[0], &input)?;
            by_count(batch)
                .map(value)
                .map_err(|e| partita_runtime::Error::failed_by(out.clone(), e))
        }))
    }
}
register_op!(ByCount);

fn by_count(batch: &RecordBatch) -> Result<RecordBatch> {
    let counts = batch
        .column_by_name("count")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>().cloned())
        .ok_or_else(|| Error::Schema {
            message: "value_counts: no count column".into(),
        })?;
    let mut order: Vec<u32> = (0..batch.num_rows() as u32).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(counts.value(i as usize)));
    let indices = UInt32Array::from(order);
    let columns = batch
        .columns()
        .iter()
        .map(|c| arrow::compute::take(c, &indices, None))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// `batch` without its rows whose key holds a null, or `None` when no key holds one.
fn without_null_keys(batch: &RecordBatch, keys: &[String]) -> Result<Option<RecordBatch>> {
    let mut keep: Option<arrow::array::BooleanArray> = None;
    for k in keys {
        let Some(c) = batch.column_by_name(k).filter(|c| c.null_count() > 0) else {
            continue;
        };
        let valid = arrow::compute::is_not_null(c).map_err(arrow_error)?;
        keep = Some(match keep {
            None => valid,
            Some(k) => arrow::compute::and(&k, &valid).map_err(arrow_error)?,
        });
    }
    keep.map(|mask| arrow::compute::filter_record_batch(batch, &mask).map_err(arrow_error))
        .transpose()
}

pub(super) fn fail(key: &TaskKey, e: Error) -> partita_runtime::Error {
    partita_runtime::Error::failed_by(key.clone(), e)
}

/// Numbers the groups of `batch` by its key columns: each row's group, and each group's first
/// row, in order of first appearance.
fn group_rows(batch: &RecordBatch, keys: &[String]) -> Result<(Vec<u32>, Vec<u32>)> {
    let columns: Vec<ArrayRef> = keys
        .iter()
        .map(|k| {
            batch
                .column_by_name(k)
                .cloned()
                .ok_or_else(|| Error::Schema {
                    message: format!("no key column {k:?}"),
                })
        })
        .collect::<Result<_>>()?;
    let groups = group_rows_of(&columns)?;
    Ok((groups.of_row, groups.firsts))
}

/// What [`fold_states`] folds.
#[derive(Clone, Copy, Debug)]
enum Rows {
    /// The rows of partition `i`.
    Partition(usize),
    /// Partial tables (concatenated), whose states merge.
    Partials,
}

/// Folds the `inputs` (one per state) of each row into its group's state.
fn fold_states(
    plan: &Plan,
    batch: &RecordBatch,
    inputs: &[Option<ArrayRef>],
    rows: Rows,
) -> Result<RecordBatch> {
    let merging = matches!(rows, Rows::Partials);
    if plan.keys.is_empty() {
        // One group of every row (none for no row), folded without numbering rows.
        let mut columns = Vec::with_capacity(inputs.len());
        for ((_, fold, _), input) in plan.states.iter().zip(inputs) {
            let fold = if merging { fold.merge() } else { *fold };
            columns.push(fold_whole(fold, input.as_ref(), batch.num_rows())?);
        }
        let one_group = vec![0_u32; batch.num_rows()];
        let groups = usize::from(batch.num_rows() > 0);
        center_variances(plan, &mut columns, inputs, &one_group, groups, merging)?;
        let options = arrow::array::RecordBatchOptions::new()
            .with_row_count(Some(usize::from(batch.num_rows() > 0)));
        return RecordBatch::try_new_with_options(plan.partial_schema.clone(), columns, &options)
            .map_err(arrow_error);
    }
    let (group_of, firsts) = group_rows(batch, &plan.keys)?;
    let groups = firsts.len();
    let order: Option<ArrayRef> = match (plan.ordered, rows) {
        (false, _) => None,
        (true, Rows::Partition(i)) => {
            let base = (i as i64) << 32;
            let firsts = firsts.iter().map(|&r| base | r as i64);
            Some(Arc::new(Int64Array::from_iter_values(firsts)))
        }
        (true, Rows::Partials) => {
            let order = batch.column(batch.num_columns() - 1);
            Some(fold_one(Fold::MinInt, Some(order), &group_of, groups)?)
        }
    };
    let take = UInt32Array::from(firsts);
    let mut columns: Vec<ArrayRef> = plan
        .keys
        .iter()
        .map(|k| {
            let c = batch.column_by_name(k).ok_or_else(|| Error::Schema {
                message: format!("no key column {k:?}"),
            })?;
            arrow::compute::take(c, &take, None).map_err(arrow_error)
        })
        .collect::<Result<_>>()?;
    for ((_, fold, _), input) in plan.states.iter().zip(inputs) {
        let fold = if merging { fold.merge() } else { *fold };
        columns.push(fold_one(fold, input.as_ref(), &group_of, groups)?);
    }
    let keys = plan.keys.len();
    center_variances(
        plan,
        &mut columns[keys..],
        inputs,
        &group_of,
        groups,
        merging,
    )?;
    columns.extend(order);
    RecordBatch::try_new(plan.partial_schema.clone(), columns).map_err(arrow_error)
}

/// Makes the second state of each variance (`var`, `std`) the sum of squared deviations from
/// its group's mean (M2): from the rows of a partition in a second pass over them, or, when
/// partial states merge, by Chan's formula from each partial's (sum, M2, count). A sum of
/// squares less the squared sum over n, which `states` would otherwise hold, cancels
/// catastrophically for values far from zero (1e9 + {0, 1, 2, 3} has variance 1.43, not 0).
///
/// `states` are the folded state columns, already holding each group's sum and count;
/// `inputs` are what was folded: the rows' values, or the partials' states.
fn center_variances(
    plan: &Plan,
    states: &mut [ArrayRef],
    inputs: &[Option<ArrayRef>],
    group_of: &[u32],
    groups: usize,
    merging: bool,
) -> Result<()> {
    let wrong = || Error::Schema {
        message: "variance states have the wrong types".into(),
    };
    let floats = |a: &ArrayRef| -> Result<Float64Array> {
        let a = arrow::compute::cast(a, &DataType::Float64).map_err(arrow_error)?;
        a.as_any()
            .downcast_ref::<Float64Array>()
            .cloned()
            .ok_or_else(wrong)
    };
    for (_, func, idx) in &plan.outputs {
        if !matches!(func, AggFunc::Var | AggFunc::Std) {
            continue;
        }
        let (si, qi, ni) = (idx[0], idx[1], idx[2]);
        let sums = floats(&states[si])?;
        let counts = states[ni]
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(wrong)?;
        let mean: Vec<f64> = (0..groups)
            .map(|g| match counts.value(g) {
                0 => 0.0,
                n => sums.value(g) / n as f64,
            })
            .collect();
        let mut m2 = filled(groups, 0.0_f64);
        if merging {
            let input = |i: usize| inputs[i].as_ref().ok_or_else(wrong);
            let (ps, pq) = (floats(input(si)?)?, floats(input(qi)?)?);
            let pn = input(ni)?
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(wrong)?;
            for (r, &g) in group_of.iter().enumerate() {
                let n = pn.value(r);
                if n > 0 {
                    let d = ps.value(r) / n as f64 - mean[g as usize];
                    m2[g as usize] += pq.value(r) + n as f64 * d * d;
                }
            }
        } else if let Some(values) = &inputs[qi] {
            let x = floats(values)?;
            for (r, &g) in group_of.iter().enumerate() {
                if x.is_valid(r) {
                    let d = x.value(r) - mean[g as usize];
                    m2[g as usize] += d * d;
                }
            }
        }
        states[qi] = Arc::new(Float64Array::from(m2));
    }
    Ok(())
}

/// Folds the valid values of `a` per group with `combine`; a group with no value gets `empty`
/// (0 for sums) or null (for minima and maxima).
fn fold_primitive<T: ArrowPrimitiveType>(
    a: &PrimitiveArray<T>,
    group_of: &[u32],
    groups: usize,
    combine: impl Fn(T::Native, T::Native) -> T::Native,
    empty: Option<T::Native>,
) -> ArrayRef {
    if let (Some(zero), 0) = (empty, a.null_count()) {
        // Sums of columns without nulls: every group starts at zero, no validity to track.
        let mut acc = filled(groups, zero);
        for (&g, &v) in group_of.iter().zip(a.values().iter()) {
            let s = &mut acc[g as usize];
            *s = combine(*s, v);
        }
        return Arc::new(PrimitiveArray::<T>::from_iter_values(acc));
    }
    let mut acc: Vec<Option<T::Native>> = vec![None; groups];
    for (r, &g) in group_of.iter().enumerate() {
        if a.is_valid(r) {
            let v = a.value(r);
            let s = &mut acc[g as usize];
            *s = Some(match *s {
                None => v,
                Some(x) => combine(x, v),
            });
        }
    }
    let values = acc.into_iter().map(|s| s.or(empty));
    Arc::new(PrimitiveArray::<T>::from_iter(values))
}

/// [`fold_primitive`] of one group holding every row: the valid values of `a` folded in row
/// order with `combine` (the same order, so the same rounding, as the grouped fold).
fn fold_all<T: ArrowPrimitiveType>(
    a: &PrimitiveArray<T>,
    combine: impl Fn(T::Native, T::Native) -> T::Native,
    empty: Option<T::Native>,
) -> ArrayRef {
    let mut acc: Option<T::Native> = None;
    let mut add = |v: T::Native| {
        acc = Some(match acc {
            None => v,
            Some(x) => combine(x, v),
        })
    };
    if a.null_count() == 0 {
        a.values().iter().for_each(|&v| add(v));
    } else {
        a.iter().flatten().for_each(add);
    }
    Arc::new(PrimitiveArray::<T>::from_iter([acc.or(empty)]))
}

/// [`fold_one`] of one group holding all `n` rows (no group when `n` is 0).
fn fold_whole(fold: Fold, input: Option<&ArrayRef>, n: usize) -> Result<ArrayRef> {
    if n == 0 {
        return fold_one(fold, input, &[], 0);
    }
    let lost = || Error::Schema {
        message: "an aggregate lost its input column".into(),
    };
    let cast = |t: &DataType| -> Result<ArrayRef> {
        arrow::compute::cast(input.ok_or_else(lost)?, t).map_err(arrow_error)
    };
    Ok(match fold {
        Fold::First | Fold::Last => {
            let a = input.ok_or_else(lost)?;
            let mut valid = (0..n).filter(|&r| a.is_valid(r));
            let pick = if fold == Fold::First {
                valid.next()
            } else {
                valid.next_back()
            };
            let pick = UInt32Array::from(vec![pick.map(|r| r as u32)]);
            arrow::compute::take(a, &pick, None).map_err(arrow_error)?
        }
        Fold::SumSquares => {
            let a = cast(&DataType::Float64)?;
            let squares = arrow::compute::kernels::numeric::mul(&a, &a).map_err(arrow_error)?;
            fold_all(
                squares.as_primitive::<Float64Type>(),
                |x, y| x + y,
                Some(0.0),
            )
        }
        Fold::CountValid => {
            let valid = input.map_or(n, |a| n - a.null_count());
            Arc::new(Int64Array::from(vec![valid as i64]))
        }
        Fold::SumWide => wide_sums(input.ok_or_else(lost)?, None, 1)?,
        Fold::SumInt | Fold::MinInt | Fold::MaxInt => {
            let a = cast(&DataType::Int64)?;
            let a = a.as_primitive::<Int64Type>();
            match fold {
                Fold::SumInt => fold_all(a, i64::wrapping_add, Some(0)),
                Fold::MinInt => fold_all(a, i64::min, None),
                _ => fold_all(a, i64::max, None),
            }
        }
        Fold::SumFloat | Fold::MinFloat | Fold::MaxFloat => {
            let a = cast(&DataType::Float64)?;
            let a = a.as_primitive::<Float64Type>();
            match fold {
                Fold::SumFloat => fold_all(a, |x, y| x + y, Some(0.0)),
                Fold::MinFloat => fold_all(a, f64::min, None),
                _ => fold_all(a, f64::max, None),
            }
        }
    })
}

fn fold_one(
    fold: Fold,
    input: Option<&ArrayRef>,
    group_of: &[u32],
    groups: usize,
) -> Result<ArrayRef> {
    let cast = |t: &DataType| -> Result<ArrayRef> {
        let a = input.ok_or_else(|| Error::Schema {
            message: "an aggregate lost its input column".into(),
        })?;
        arrow::compute::cast(a, t).map_err(arrow_error)
    };
    Ok(match fold {
        Fold::First | Fold::Last => {
            let a = input.ok_or_else(|| Error::Schema {
                message: "an aggregate lost its input column".into(),
            })?;
            let mut pick: Vec<Option<u32>> = vec![None; groups];
            for (r, &g) in group_of.iter().enumerate() {
                if a.is_valid(r) {
                    let p = &mut pick[g as usize];
                    if fold == Fold::Last || p.is_none() {
                        *p = Some(r as u32);
                    }
                }
            }
            arrow::compute::take(a, &UInt32Array::from(pick), None).map_err(arrow_error)?
        }
        Fold::SumSquares => {
            let a = cast(&DataType::Float64)?;
            let a = a
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| Error::Schema {
                    message: "expected numbers".into(),
                })?;
            let mut acc = filled(groups, 0.0_f64);
            for (r, &g) in group_of.iter().enumerate() {
                if a.is_valid(r) {
                    acc[g as usize] += a.value(r) * a.value(r);
                }
            }
            Arc::new(Float64Array::from(acc))
        }
        Fold::CountValid => {
            let mut n = filled(groups, 0_i64);
            match input.filter(|a| a.null_count() > 0) {
                // Rows, or values of a column without nulls.
                None => group_of.iter().for_each(|&g| n[g as usize] += 1),
                Some(a) => {
                    for (r, &g) in group_of.iter().enumerate() {
                        if a.is_valid(r) {
                            n[g as usize] += 1;
                        }
                    }
                }
            }
            Arc::new(Int64Array::from(n))
        }
        Fold::SumWide => {
            let a = input.ok_or_else(|| Error::Schema {
                message: "an aggregate lost its input column".into(),
            })?;
            wide_sums(a, Some(group_of), groups)?
        }
        Fold::SumInt | Fold::MinInt | Fold::MaxInt => {
            let a = cast(&DataType::Int64)?;
            let a = a.as_primitive::<Int64Type>();
            match fold {
                Fold::SumInt => fold_primitive(a, group_of, groups, i64::wrapping_add, Some(0)),
                Fold::MinInt => fold_primitive(a, group_of, groups, i64::min, None),
                _ => fold_primitive(a, group_of, groups, i64::max, None),
            }
        }
        Fold::SumFloat | Fold::MinFloat | Fold::MaxFloat => {
            let a = cast(&DataType::Float64)?;
            let a = a.as_primitive::<Float64Type>();
            match fold {
                Fold::SumFloat => fold_primitive(a, group_of, groups, |x, y| x + y, Some(0.0)),
                Fold::MinFloat => fold_primitive(a, group_of, groups, f64::min, None),
                _ => fold_primitive(a, group_of, groups, f64::max, None),
            }
        }
    })
}

/// Several partial tables merged into one.
pub(super) fn merge(plan: &Plan, parts: &[RecordBatch]) -> Result<RecordBatch> {
    let all = arrow::compute::concat_batches(&plan.partial_schema, parts).map_err(arrow_error)?;
    let keys = plan.keys.len();
    let inputs: Vec<Option<ArrayRef>> = (0..plan.states.len())
        .map(|i| Some(all.column(keys + i).clone()))
        .collect();
    fold_states(plan, &all, &inputs, Rows::Partials)
}

/// The results from the merged states.
pub(super) fn finish(plan: &Plan, states: &RecordBatch) -> Result<RecordBatch> {
    let keys = plan.keys.len();
    let mut columns: Vec<ArrayRef> = states.columns()[..keys].to_vec();
    for (_, func, idx) in &plan.outputs {
        let state = |i: usize| states.column(keys + idx[i]).clone();
        columns.push(match func {
            AggFunc::Mean => {
                let sums = state(0);
                let counts = state(1);
                // Exact integer sums are rounded to float64 once, here.
                let sums: Option<Vec<f64>> = match sums.data_type() {
                    DataType::Decimal128(..) => sums
                        .as_any()
                        .downcast_ref::<Decimal128Array>()
                        .map(|s| s.values().iter().map(|&v| v as f64).collect()),
                    _ => sums
                        .as_any()
                        .downcast_ref::<Float64Array>()
                        .map(|s| s.values().to_vec()),
                };
                let counts = counts.as_any().downcast_ref::<Int64Array>();
                match (sums, counts) {
                    (Some(s), Some(c)) => Arc::new(Float64Array::from_iter(
                        s.iter()
                            .zip(c.values())
                            .map(|(s, &c)| (c > 0).then(|| s / c as f64)),
                    )),
                    _ => {
                        return Err(Error::Schema {
                            message: "mean states have the wrong types".into(),
                        })
                    }
                }
            }
            AggFunc::Var | AggFunc::Std => {
                // The second state is already centered (see `center_variances`).
                let (squares, counts) = (state(1), state(2));
                let squares = squares.as_any().downcast_ref::<Float64Array>();
                let counts = counts.as_any().downcast_ref::<Int64Array>();
                let (Some(q), Some(c)) = (squares, counts) else {
                    return Err(Error::Schema {
                        message: "variance states have the wrong types".into(),
                    });
                };
                let std = *func == AggFunc::Std;
                Arc::new(Float64Array::from_iter((0..q.len()).map(|i| {
                    let n = c.value(i) as f64;
                    (n > 1.0).then(|| {
                        let var = (q.value(i) / (n - 1.0)).max(0.0);
                        if std {
                            var.sqrt()
                        } else {
                            var
                        }
                    })
                })))
            }
            _ => state(0),
        });
    }
    // A date's or time's least or greatest was folded as an integer: back to its type.
    let columns = columns
        .into_iter()
        .zip(plan.output_schema.fields())
        .map(|(c, f)| match (c.data_type(), f.data_type()) {
            (a, b) if a == b => Ok(c),
            (_, DataType::Date32) => arrow::compute::cast(&c, &DataType::Int32)
                .and_then(|c| arrow::compute::cast(&c, &DataType::Date32))
                .map_err(arrow_error),
            (_, t) => arrow::compute::cast(&c, t).map_err(arrow_error),
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(plan.output_schema.clone(), columns).map_err(arrow_error)
}
