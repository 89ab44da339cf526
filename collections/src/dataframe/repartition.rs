//! `repartition(npartitions)`: the same rows, in order, in another number of partitions,
//! without a shuffle and without computing anything first. `repartition_divisions`: an indexed
//! frame cut at new index values, through a range shuffle.
//!
//! The partitions' lengths are not known before they are computed, so, as Dask's
//! `repartition(npartitions=n)` does when it does not know them, the plan goes by partition
//! count alone (see `partition_plan.rs`): to fewer partitions, each output concatenates a run
//! of neighbouring inputs; to more, each input is cut into equal slices (zero-copy), the
//! inputs getting as many slices as they can evenly. One task per output, each reading only
//! the inputs it needs.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::util::display::array_value_to_string;
use partita_runtime::{value, Kernel, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::expr::arrow_error;
use super::shuffle::{row_converter, shuffle_frame, task_error, Assemble};
use super::sort::router;
use super::{DataFrame, IndexInfo};
use crate::dataframe::batches;
use crate::error::{Error, Result};
use crate::layer::{layer, register_op, Op};
use crate::names::unique;
use crate::partition_plan::{sources, Source};

/// One output of a repartition: its inputs concatenated, or piece `piece` of `pieces` equal
/// slices of its one input.
#[derive(Serialize, Deserialize)]
struct Repartition {
    #[serde(with = "super::codec::schema")]
    schema: SchemaRef,
    piece: usize,
    pieces: usize,
}

impl Op for Repartition {
    const NAME: &'static str = "frame.repartition";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let inputs = cx.deps.to_vec();
        let source = Source {
            inputs: 0..inputs.len(),
            piece: self.piece,
            pieces: self.pieces,
        };
        let (schema, k) = (self.schema.clone(), cx.key.clone());
        Ok(Arc::new(move |vals: Vec<Value>| {
            let batches = batches(&vals, &inputs)?;
            match batches.as_slice() {
                [one] if source.pieces > 1 => {
                    let r = source.slice(one.num_rows());
                    Ok(value(one.slice(r.start, r.len())))
                }
                [one] => Ok(value((*one).clone())),
                _ => concat_batches(&schema, batches)
                    .map(value)
                    .map_err(|e| task_error(&k, arrow_error(e))),
            }
        }))
    }
}
register_op!(Repartition);

impl DataFrame {
    /// The same rows in `npartitions` partitions (`0` counts as 1), in the same order:
    /// concatenating the new partitions gives the frame's rows in order.
    ///
    /// The plan goes by partition count, not by row count, since the lengths are unknown until
    /// computed (as Dask's `repartition(npartitions=...)` without known divisions). From `m`
    /// partitions to `n < m`, runs of about `m/n` neighbouring partitions are concatenated; to
    /// `n > m`, each partition is cut into equal slices (zero-copy), the `n` slices spread as
    /// evenly as possible over the `m` partitions (Dask gives all the leftover slices to the
    /// last partition). The same count returns the frame unchanged. So the new
    /// partitions have near-equal row counts when the old ones do; a frame of very uneven
    /// partitions stays uneven.
    ///
    /// # Errors
    /// Never at build time; the `Result` matches the other operations. A task fails if its
    /// inputs cannot be concatenated.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use partita_collections::DataFrame;
    ///
    /// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    /// let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..12))]).unwrap();
    /// let df = DataFrame::from_arrow(batch, 3)?;
    /// let more = df.repartition(6)?;
    /// assert_eq!(more.npartitions(), 6);
    /// let sizes: Vec<usize> = more.compute_partitions()?.iter().map(|p| p.num_rows()).collect();
    /// assert_eq!(sizes, vec![2; 6]);
    /// let fewer = more.repartition(2)?;
    /// let parts = fewer.compute_partitions()?;
    /// assert_eq!(parts.iter().map(|p| p.num_rows()).collect::<Vec<_>>(), vec![6, 6]);
    /// let xs = parts[1].column(0).as_any().downcast_ref::<Int64Array>().unwrap();
    /// assert_eq!(xs.values().to_vec(), (6..12).collect::<Vec<i64>>());
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn repartition(&self, npartitions: usize) -> Result<DataFrame> {
        let n = npartitions.max(1);
        if n == self.npartitions {
            return Ok(self.clone());
        }
        let m = self.materialize();
        let keys = m.keys();
        let schema = m.schema.clone();
        let name = unique("repartition");
        let tasks = sources(m.npartitions, n)
            .into_iter()
            .enumerate()
            .map(|(j, source)| {
                let op = Repartition {
                    schema: schema.clone(),
                    piece: source.piece,
                    pieces: source.pieces,
                };
                let deps = keys[source.inputs].to_vec();
                (TaskKey::new(name.clone(), j as u64), deps, op)
            });
        let mut graph = m.graph.clone();
        layer(&mut graph, &name, tasks);
        Ok(DataFrame::from_partitions(graph, name, n, schema).with_size_hint(m.bytes))
    }

    /// The same rows cut at new `divisions` of the index, as Dask's
    /// `repartition(divisions=...)`: partition `i` holds the rows whose index is in
    /// `[divisions[i], divisions[i + 1])`, the last one closed, so there are
    /// `divisions.len() - 1` partitions. Rows keep their order: a frame sorted by its index
    /// stays sorted. Each partition is cut into the new ranges and the pieces move through a
    /// range shuffle.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{ArrayRef, Int64Array, RecordBatch};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use partita_collections::DataFrame;
    ///
    /// let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
    /// let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values((0..20).rev()))]).unwrap();
    /// let df = DataFrame::from_arrow(batch, 3)?.set_index("k", 2)?;
    /// let cut = df.repartition_divisions(Arc::new(Int64Array::from(vec![0, 5, 10, 19])) as ArrayRef)?;
    /// assert_eq!(cut.npartitions(), 3);
    /// let parts = cut.compute_partitions()?;
    /// let ks = |p: &RecordBatch| p.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec();
    /// assert_eq!(ks(&parts[0]), (0..5).collect::<Vec<i64>>());
    /// assert_eq!(ks(&parts[2]), (10..20).collect::<Vec<i64>>());   // the last range is closed
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Schema`] when the frame has no index, or the divisions are fewer than two,
    /// hold a null, do not cast to the index's type, are not strictly increasing, or (when the
    /// frame's own divisions are known) do not cover them.
    pub fn repartition_divisions(&self, divisions: ArrayRef) -> Result<DataFrame> {
        let fail = |message: String| Error::Schema { message };
        let index = self.index.clone().ok_or_else(|| {
            fail("repartition by divisions needs an index: call set_index first".into())
        })?;
        if divisions.len() < 2 || divisions.null_count() > 0 {
            return Err(fail(format!(
                "divisions need at least two values and no null, got {} values ({} null)",
                divisions.len(),
                divisions.null_count()
            )));
        }
        let field = self
            .schema
            .field_with_name(&index.column)
            .map_err(arrow_error)?;
        let show = |a: &ArrayRef, i: usize| array_value_to_string(a, i).unwrap_or_default();
        let cast_error = |what: String| {
            fail(format!(
                "divisions do not cast to the index {:?} ({}): {what}",
                index.column,
                field.data_type()
            ))
        };
        let given = divisions;
        let divisions = arrow::compute::cast(&given, field.data_type())
            .map_err(|e| cast_error(e.to_string()))?;
        if let Some(i) = (0..divisions.len()).find(|&i| divisions.is_null(i)) {
            return Err(cast_error(format!("{} is not one", show(&given, i))));
        }
        let converter = row_converter(std::slice::from_ref(&divisions))?;
        let new = converter
            .convert_columns(std::slice::from_ref(&divisions))
            .map_err(arrow_error)?;
        for i in 1..new.num_rows() {
            if new.row(i) <= new.row(i - 1) {
                return Err(fail(format!(
                    "divisions must be strictly increasing: {} follows {}",
                    show(&divisions, i),
                    show(&divisions, i - 1)
                )));
            }
        }
        if let Some(old) = &index.divisions {
            let old_rows = converter
                .convert_columns(std::slice::from_ref(old))
                .map_err(arrow_error)?;
            let (first, last) = (new.num_rows() - 1, old_rows.num_rows() - 1);
            if new.row(0) > old_rows.row(0) || new.row(first) < old_rows.row(last) {
                return Err(fail(format!(
                    "divisions {}..={} do not cover the index's {}..={}",
                    show(&divisions, 0),
                    show(&divisions, first),
                    show(old, 0),
                    show(old, last)
                )));
            }
        }
        let (parts, route) = router(&divisions, index.column.clone(), false);
        let moved = shuffle_frame(
            self,
            parts,
            "repartition-divisions",
            route,
            Assemble::Concat,
        );
        Ok(moved.with_index(Some(Arc::new(IndexInfo {
            column: index.column.clone(),
            divisions: Some(divisions),
        }))))
    }
}
