//! Parquet: `read_parquet` with one partition per row group and column projection, and
//! `to_parquet`, one file per partition.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use partita_collections::{layer, register_op, ColumnSource, DataFrame, Expr, Op};
use serde::{Deserialize, Serialize};

use self::prune::may_match;
use partita_runtime::{value, Graph, Kernel, Message, TaskContext, TaskKey};

use crate::error::{guard, Cause, Error, Result};
use crate::partitioned::{check_same_schema, layer_name, write_partitions, FileFormat};
use crate::paths::Source;

mod prune;

/// Options for [`read_parquet`].
#[derive(Clone, Debug, Default)]
pub struct ParquetOptions {
    /// Read only these columns, in the file's order (decoding nothing else); `None` reads
    /// them all.
    pub columns: Option<Vec<String>>,
}

fn parquet_error(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Parquet {
        path: path.to_path_buf(),
        source: Cause::new_dyn(e),
    }
}

/// The Parquet files `source` names, as a DataFrame with one partition per row group.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Int64Array, RecordBatch};
/// use arrow::datatypes::{DataType, Field, Schema};
/// use partita_io::{read_parquet, to_parquet, ParquetOptions};
///
/// let dir = tempfile::tempdir().unwrap();
/// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
/// let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2, 3]))]).unwrap();
/// let df = partita_collections::DataFrame::from_arrow(batch, 2)?;
/// let files = to_parquet(&df, dir.path())?;
/// let back = read_parquet(format!("{}/*.parquet", dir.path().display()).as_str(), ParquetOptions::default())?;
/// assert_eq!(back.npartitions(), files.len());
/// assert_eq!(back.len()?, 3);
/// # Ok::<(), partita_io::Error>(())
/// ```
///
/// # Errors
/// A pattern matching no file, an unreadable file or footer, files whose schemas differ, or an
/// unknown column in `options.columns`, each naming the file.
pub fn read_parquet(source: impl Into<Source>, options: ParquetOptions) -> Result<DataFrame> {
    let files = source.into().files()?;
    let frame = plan_parquet(&files, &options, &[])?;
    Ok(frame.with_column_source(Arc::new(ParquetColumns { files, options })))
}

/// Re-plans a Parquet read with fewer columns (projection pushdown).
struct ParquetColumns {
    files: Vec<PathBuf>,
    options: ParquetOptions,
}

impl ColumnSource for ParquetColumns {
    fn read(&self, columns: &[String], filters: &[Expr]) -> partita_collections::Result<DataFrame> {
        let mut options = self.options.clone();
        options.columns = Some(columns.to_vec());
        plan_parquet(&self.files, &options, filters).map_err(partita_collections::Error::reader)
    }
}

/// The partitions of a Parquet read; row groups whose statistics exclude `filters` become
/// empty partitions that read nothing.
fn plan_parquet(
    files: &[PathBuf],
    options: &ParquetOptions,
    filters: &[Expr],
) -> Result<DataFrame> {
    let files = files.to_vec();
    let name: Arc<str> = layer_name("read-parquet");
    let mut tasks = Vec::new();
    let mut schema: Option<SchemaRef> = None;
    for path in files {
        let builder = open(&path)?;
        let file_schema = builder.schema().clone();
        let indices: Option<Vec<usize>> = match &options.columns {
            None => None,
            Some(cols) => Some(
                cols.iter()
                    .map(|c| {
                        file_schema.index_of(c).map_err(|_| {
                            parquet_error(&path, Message(format!("no column {c:?} in the file")))
                        })
                    })
                    .collect::<Result<Vec<usize>>>()
                    .map(|mut ix| {
                        ix.sort_unstable();
                        ix.dedup();
                        ix
                    })?,
            ),
        };
        let projected: SchemaRef = match &indices {
            None => file_schema.clone(),
            Some(ix) => Arc::new(
                file_schema
                    .project(ix)
                    .map_err(|e| parquet_error(&path, e))?,
            ),
        };
        if let Some(message) = check_same_schema(&mut schema, &projected) {
            return Err(parquet_error(&path, Message(message)));
        }
        let groups = builder.metadata().num_row_groups();
        let skip: Vec<bool> = (0..groups)
            .map(|g| !may_match(builder.metadata().row_group(g), filters))
            .collect();
        let path = Arc::new(path);
        for group in 0..groups.max(1) {
            let read = ReadRowGroup {
                path: path.clone(),
                group,
                groups,
                indices: indices.clone(),
                schema: projected.clone(),
                skipped: skip.get(group).copied().unwrap_or(false),
            };
            tasks.push((TaskKey::new(name.clone(), tasks.len() as u64), vec![], read));
        }
    }
    let schema = schema.unwrap_or_else(|| Arc::new(Schema::empty()));
    let n = tasks.len();
    let mut graph = Graph::new();
    layer(&mut graph, &name, tasks);
    Ok(DataFrame::from_partitions(graph, name, n, schema))
}

/// One partition of a Parquet read: row group `group` of the file's `groups`, its columns
/// `indices`, or an empty partition when its statistics excluded the filters.
#[derive(Serialize, Deserialize)]
struct ReadRowGroup {
    path: Arc<PathBuf>,
    group: usize,
    groups: usize,
    indices: Option<Vec<usize>>,
    /// The projected schema.
    #[serde(with = "partita_collections::serde_schema")]
    schema: SchemaRef,
    skipped: bool,
}

impl Op for ReadRowGroup {
    const NAME: &'static str = "io.parquet.read";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let (path, group, groups) = (self.path.clone(), self.group, self.groups);
        let (indices, projected, skipped) =
            (self.indices.clone(), self.schema.clone(), self.skipped);
        let k = cx.key.clone();
        Ok(Arc::new(move |_| {
            if skipped {
                return Ok(value(RecordBatch::new_empty(projected.clone())));
            }
            read_row_group(&path, group, groups, indices.as_deref(), &projected)
                .map(value)
                .map_err(|e| partita_runtime::Error::failed_by(k.clone(), e))
        }))
    }
}
register_op!(ReadRowGroup);

/// One row group, projected.
fn read_row_group(
    path: &Path,
    group: usize,
    groups: usize,
    indices: Option<&[usize]>,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let builder = open(path)?;
    if groups == 0 {
        return Ok(RecordBatch::new_empty(schema.clone()));
    }
    // The whole row group in one batch when it is not huge: no concatenation (a second copy).
    let rows = builder.metadata().row_group(group).num_rows().max(1) as usize;
    let mut builder = builder.with_batch_size(rows.min(ONE_BATCH_MAX_ROWS));
    builder = builder.with_row_groups(vec![group]);
    if let Some(ix) = indices {
        let mask = ProjectionMask::roots(builder.parquet_schema(), ix.iter().copied());
        builder = builder.with_projection(mask);
    }
    let batches = guard(
        path,
        || format!("row group {group}"),
        || {
            builder
                .build()
                .map_err(|e| parquet_error(path, e))?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| parquet_error(path, e))
        },
    )?;
    match <[RecordBatch; 1]>::try_from(batches) {
        Ok([batch]) => Ok(batch),
        Err(batches) => {
            arrow::compute::concat_batches(schema, &batches).map_err(|e| parquet_error(path, e))
        }
    }
}

/// The reader of the Parquet file at `path`, its footer read.
fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    guard(
        path,
        || "the footer".into(),
        || ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_error(path, e)),
    )
}

/// Row groups up to this many rows are decoded as one batch.
const ONE_BATCH_MAX_ROWS: usize = 1 << 22;

/// Writes each partition of `frame` to `dir/part-NNNNN.parquet`, each written to a temporary
/// name and renamed when complete, then the folder's `_SUCCESS` marker (see
/// [`Source::committed`](crate::Source::committed)), computing on the current runtime
/// ([`Runtime::current`](partita_runtime::Runtime::current)). Returns the paths in partition
/// order.
///
/// # Errors
/// [`Error::Io`] if `dir` cannot be created; a failed write fails the compute, naming the file.
pub fn to_parquet(frame: &DataFrame, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    write_partitions(frame, dir.as_ref(), FileFormat::Parquet)
}

/// One partition as a Parquet file.
pub(crate) fn write_parquet(
    w: &mut std::io::BufWriter<File>,
    batch: &RecordBatch,
) -> std::io::Result<()> {
    let mut writer =
        ArrowWriter::try_new(w, batch.schema(), None).map_err(std::io::Error::other)?;
    writer.write(batch).map_err(std::io::Error::other)?;
    writer.close().map(|_| ()).map_err(std::io::Error::other)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_failed_re_plan_keeps_the_readers_error() {
        let dir = tempfile::tempdir().unwrap();
        let batch = RecordBatch::try_from_iter([(
            "x",
            Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let frame = DataFrame::from_arrow(batch, 1).unwrap();
        let files = to_parquet(&frame, dir.path()).unwrap();
        let source = ParquetColumns {
            files: files.clone(),
            options: ParquetOptions::default(),
        };
        std::fs::remove_file(&files[0]).unwrap();
        let err = source.read(&["x".to_string()], &[]).unwrap_err();
        assert!(
            matches!(err, partita_collections::Error::Reader { .. }),
            "{err}"
        );
        let cause = std::error::Error::source(&err).expect("the reader's error");
        let io = cause.downcast_ref::<Error>().expect("partita_io's error");
        assert!(
            matches!(io, Error::Io { .. } | Error::Parquet { .. }),
            "{io}"
        );
        assert!(err.to_string().contains("part-00000.parquet"), "{err}");
    }
}
