//! Arrow IPC files: `read_ipc` with one partition per record batch, and `to_ipc`, one file per
//! partition.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use partita_collections::{layer, register_op, DataFrame, Op};
use partita_runtime::{value, Graph, Kernel, Message, TaskContext, TaskKey};
use serde::{Deserialize, Serialize};

use crate::error::{guard, Cause, Error, Result};
use crate::partitioned::{check_same_schema, layer_name, write_partitions, FileFormat};
use crate::paths::Source;

fn ipc_error(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Ipc {
        path: path.to_path_buf(),
        source: Cause::new_dyn(e),
    }
}

/// The Arrow IPC files `source` names, as a DataFrame with one partition per record batch.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Int64Array, RecordBatch};
/// use arrow::datatypes::{DataType, Field, Schema};
/// use partita_io::{read_ipc, to_ipc};
///
/// let dir = tempfile::tempdir().unwrap();
/// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
/// let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2, 3]))]).unwrap();
/// let df = partita_collections::DataFrame::from_arrow(batch, 3)?;
/// to_ipc(&df, dir.path())?;
/// let back = read_ipc(format!("{}/*.arrow", dir.path().display()).as_str())?;
/// assert_eq!(back.npartitions(), 3);
/// assert_eq!(back.len()?, 3);
/// # Ok::<(), partita_io::Error>(())
/// ```
///
/// # Errors
/// A pattern matching no file, a file that is not Arrow IPC, or files whose schemas differ, each
/// naming the file.
pub fn read_ipc(source: impl Into<Source>) -> Result<DataFrame> {
    let files = source.into().files()?;
    let name = layer_name("read-ipc");
    let mut schema: Option<SchemaRef> = None;
    let mut tasks = Vec::new();
    for path in files {
        let reader = open(&path)?;
        let file_schema = reader.schema();
        if let Some(message) = check_same_schema(&mut schema, &file_schema) {
            return Err(ipc_error(&path, Message(message)));
        }
        let batches = reader.num_batches();
        let path = Arc::new(path);
        for i in 0..batches.max(1) {
            let read = ReadIpcBatch {
                path: path.clone(),
                batch: i,
                batches,
                schema: file_schema.clone(),
            };
            tasks.push((TaskKey::new(name.clone(), tasks.len() as u64), vec![], read));
        }
    }
    let schema = schema.unwrap_or_else(|| Arc::new(arrow::datatypes::Schema::empty()));
    let n = tasks.len();
    let mut graph = Graph::new();
    layer(&mut graph, &name, tasks);
    Ok(DataFrame::from_partitions(graph, name, n, schema))
}

/// One partition of an IPC read: record batch `batch` of the file's `batches`.
#[derive(Serialize, Deserialize)]
struct ReadIpcBatch {
    path: Arc<PathBuf>,
    batch: usize,
    batches: usize,
    #[serde(with = "partita_collections::serde_schema")]
    schema: SchemaRef,
}

impl Op for ReadIpcBatch {
    const NAME: &'static str = "io.ipc.read";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let (path, i, batches) = (self.path.clone(), self.batch, self.batches);
        let (file_schema, k) = (self.schema.clone(), cx.key.clone());
        Ok(Arc::new(move |_| {
            read_batch(&path, i, batches, &file_schema)
                .map(value)
                .map_err(|e| partita_runtime::Error::failed_by(k.clone(), e))
        }))
    }
}
register_op!(ReadIpcBatch);

fn read_batch(path: &Path, i: usize, batches: usize, schema: &SchemaRef) -> Result<RecordBatch> {
    if batches == 0 {
        return Ok(RecordBatch::new_empty(schema.clone()));
    }
    let mut reader = open(path)?;
    guard(
        path,
        || format!("record batch {i}"),
        || {
            reader.set_index(i).map_err(|e| ipc_error(path, e))?;
            reader
                .next()
                .ok_or_else(|| ipc_error(path, Message(format!("record batch {i} is missing"))))?
                .map_err(|e| ipc_error(path, e))
        },
    )
}

/// The IPC file at `path`, its footer and schema read.
fn open(path: &Path) -> Result<FileReader<File>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    if file.metadata().map_err(|e| Error::io(path, e))?.len() == 0 {
        return Err(ipc_error(
            path,
            Message(
                "the file is empty, but an Arrow IPC file holds at least its magic bytes, \
                 schema and footer"
                    .into(),
            ),
        ));
    }
    guard(
        path,
        || "the schema and footer".into(),
        || FileReader::try_new(file, None).map_err(|e| ipc_error(path, e)),
    )
}

/// Writes each partition of `frame` to `dir/part-NNNNN.arrow` (Arrow IPC file format), each
/// written to a temporary name and renamed when complete, then the folder's `_SUCCESS` marker
/// (see [`Source::committed`](crate::Source::committed)), computing on the current runtime
/// ([`Runtime::current`](partita_runtime::Runtime::current)). Returns the paths in partition
/// order.
///
/// # Errors
/// [`Error::Io`] if `dir` cannot be created; a failed write fails the compute, naming the file.
pub fn to_ipc(frame: &DataFrame, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    write_partitions(frame, dir.as_ref(), FileFormat::Ipc)
}

/// One partition as an Arrow IPC file.
pub(crate) fn write_ipc(
    w: &mut std::io::BufWriter<File>,
    batch: &RecordBatch,
) -> std::io::Result<()> {
    let mut writer =
        FileWriter::try_new(w, batch.schema().as_ref()).map_err(std::io::Error::other)?;
    writer.write(batch).map_err(std::io::Error::other)?;
    writer.finish().map_err(std::io::Error::other)
}
