//! What the readers and writers of partitioned files share: fresh layer names, errors inside
//! tasks, and writing one file per partition.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use partita_collections::DataFrame;
use partita_runtime::Runtime;

use crate::atomic::write_atomic;
use crate::error::{Error, Result};

/// A fresh layer name for a reader: `{op}-{n}`.
pub(crate) fn layer_name(op: &str) -> Arc<str> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    Arc::from(format!("{op}-{}", NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// An IO error inside a task, naming the file.
pub(crate) fn task_io_error(path: &Path, e: std::io::Error) -> partita_runtime::Error {
    partita_runtime::Error::Io {
        path: path.display().to_string(),
        source: Arc::new(e),
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

/// Writes each partition of `frame` with `write` to `dir/part-NNNNN.{ext}`, atomically, in
/// parallel on `runtime`, and returns the paths in partition order.
pub(crate) fn write_partitions<W>(
    frame: &DataFrame,
    dir: &Path,
    ext: &'static str,
    runtime: &Runtime,
    write: W,
) -> Result<Vec<PathBuf>>
where
    W: Fn(&mut BufWriter<File>, &RecordBatch) -> std::io::Result<()> + Send + Sync + 'static,
{
    let dir = dir.to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let schema = Arc::new(Schema::new(vec![Field::new("path", DataType::Utf8, false)]));
    let out = schema.clone();
    let written = frame.map_partitions_indexed(schema, move |i, batch| {
        let path = dir.join(format!("part-{i:05}.{ext}"));
        write_atomic(&path, |w| write(w, &batch)).map_err(|e| e.to_string())?;
        let name = StringArray::from(vec![path.display().to_string()]);
        RecordBatch::try_new(out.clone(), vec![Arc::new(name)]).map_err(|e| e.to_string())
    });
    let parts = written.compute_partitions_on(runtime)?;
    Ok(parts
        .iter()
        .filter_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .map(|s| PathBuf::from(s.value(0)))
        })
        .collect())
}
