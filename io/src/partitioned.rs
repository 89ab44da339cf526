//! What the readers and writers of partitioned files share: fresh layer names, errors inside
//! tasks, and writing one file per partition.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use partita_collections::{blockwise, register_op, DataFrame, Op};
use partita_runtime::{downcast, value, Kernel, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::error::{Error, Result};

/// Readers and writers name their layers with the collections' one generator.
pub(crate) use partita_collections::layer_name;

/// An IO error inside a task, naming the file.
pub(crate) fn task_io_error(path: &Path, e: std::io::Error) -> partita_runtime::Error {
    partita_runtime::Error::Io {
        path: path.display().to_string(),
        source: partita_runtime::SharedError::new(e),
    }
}

/// Records the first file's schema in `first`; for a later file whose columns differ, the
/// message that says so.
pub(crate) fn check_same_schema(first: &mut Option<SchemaRef>, this: &SchemaRef) -> Option<String> {
    match first {
        None => {
            *first = Some(this.clone());
            None
        }
        Some(s) if s.fields() != this.fields() => Some(format!(
            "its schema {this:?} differs from the first file's {s:?}"
        )),
        Some(_) => None,
    }
}

/// The file formats a frame is written in, one file per partition.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) enum FileFormat {
    Csv,
    Parquet,
    Ipc,
}

impl FileFormat {
    fn ext(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Parquet => "parquet",
            FileFormat::Ipc => "arrow",
        }
    }

    fn write(self, w: &mut BufWriter<File>, batch: &RecordBatch) -> std::io::Result<()> {
        match self {
            FileFormat::Csv => crate::csv::write_csv(w, batch),
            FileFormat::Parquet => crate::parquet::write_parquet(w, batch),
            FileFormat::Ipc => crate::ipc::write_ipc(w, batch),
        }
    }
}

/// Writes partition `i` (the task's index, its one input) to `dir/part-NNNNN.{ext}`,
/// atomically; its value is a one-row batch of the path.
#[derive(Serialize, Deserialize)]
struct WritePartition {
    dir: PathBuf,
    format: FileFormat,
}

impl Op for WritePartition {
    const NAME: &'static str = "io.write_partition";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let [input] = <[TaskKey; 1]>::try_from(cx.deps.to_vec()).map_err(|deps| {
            partita_runtime::Error::failed(
                cx.key.clone(),
                format!("a partition write reads 1 input, not {}", deps.len()),
            )
        })?;
        let (i, format, key) = (cx.key.index(), self.format, cx.key.clone());
        let path = self.dir.join(format!("part-{i:05}.{}", format.ext()));
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let batch = downcast::<RecordBatch>(&inputs[0], &input)?;
            let fail = |e: Error| partita_runtime::Error::failed_by(key.clone(), e);
            write_atomic(&path, |w| format.write(w, batch)).map_err(fail)?;
            let name = StringArray::from(vec![path.display().to_string()]);
            RecordBatch::try_new(path_schema(), vec![Arc::new(name)])
                .map(value)
                .map_err(|e| fail(partita_collections::Error::from(e).into()))
        }))
    }
}
register_op!(WritePartition);

fn path_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("path", DataType::Utf8, false)]))
}

/// Writes each partition of `frame` in `format` to `dir/part-NNNNN.{ext}`, atomically, in
/// parallel on the current runtime, and returns the paths in partition order.
pub(crate) fn write_partitions(
    frame: &DataFrame,
    dir: &Path,
    format: FileFormat,
) -> Result<Vec<PathBuf>> {
    let dir = dir.to_path_buf();
    crate::commit::begin(&dir, format.ext())?;
    let mut graph = frame.graph();
    let name = layer_name("write-partitions");
    let op = WritePartition {
        dir: dir.clone(),
        format,
    };
    let keys = blockwise(
        &mut graph,
        &name,
        &op,
        frame.keys().into_iter().map(|k| vec![k]),
    );
    let written = DataFrame::from_partitions(graph, name, keys.len(), path_schema());
    let parts = written.compute_partitions()?;
    let files: Vec<PathBuf> = parts
        .iter()
        .filter_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .map(|s| PathBuf::from(s.value(0)))
        })
        .collect();
    crate::commit::finish(&dir, &files)?;
    Ok(files)
}
