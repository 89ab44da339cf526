//! `repartition(npartitions)`: the same rows, in order, in another number of partitions,
//! without a shuffle and without computing anything first.
//!
//! The partitions' lengths are not known before they are computed, so, as Dask's
//! `repartition(npartitions=n)` does when it does not know them, the plan goes by partition
//! count alone (see `partition_plan.rs`): to fewer partitions, each output concatenates a run
//! of neighbouring inputs; to more, each input is cut into equal slices (zero-copy), the
//! inputs getting as many slices as they can evenly. One task per output, each reading only
//! the inputs it needs.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use partita_runtime::{downcast, value, Kernel, Task, TaskKey, Value};

use super::expr::arrow_error;
use super::shuffle::task_error;
use super::DataFrame;
use crate::error::Result;
use crate::names::unique;
use crate::partition_plan::sources;

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
    /// let rt = partita_runtime::Runtime::global();
    /// let more = df.repartition(6)?;
    /// assert_eq!(more.npartitions(), 6);
    /// let sizes: Vec<usize> = more.compute_partitions_on(rt)?.iter().map(|p| p.num_rows()).collect();
    /// assert_eq!(sizes, vec![2; 6]);
    /// let fewer = more.repartition(2)?;
    /// let parts = fewer.compute_partitions_on(rt)?;
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
                let out = TaskKey::new(name.clone(), j as u64);
                let deps: Vec<TaskKey> = keys[source.inputs.clone()].to_vec();
                let (inputs, schema, k) = (deps.clone(), schema.clone(), out.clone());
                let kernel: Kernel = Arc::new(move |vals: Vec<Value>| {
                    let batches = vals
                        .iter()
                        .zip(&inputs)
                        .map(|(v, key)| downcast::<RecordBatch>(v, key))
                        .collect::<partita_runtime::Result<Vec<&RecordBatch>>>()?;
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
                });
                Task::new(out, deps, kernel)
            })
            .collect();
        let mut graph = m.graph.clone();
        graph.add_layer(name.clone(), tasks);
        Ok(DataFrame::from_partitions(graph, name, n, schema).with_size_hint(m.bytes))
    }
}
