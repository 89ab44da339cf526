//! Streaming sinks that write rolling files: text lines, or Arrow batches as CSV or Parquet.
//!
//! The sink keeps one file open, writes records into it, and when the [`Roll`] policy says so
//! completes it and opens the next, `dir/part-NNNNN.<ext>`. A file is written under a hidden
//! temporary name and renamed only when complete, so a reader of `dir` never sees a half
//! file; if a write fails, the temporary file is removed and the pipeline fails naming it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use partita_collections::{Stream, Topology};

use crate::atomic::temporary_name;
use crate::error::{Error, Result};

/// When a rolling sink completes its file and starts the next one. Unset limits do not apply;
/// the last file completes when the stream ends.
#[derive(Clone, Debug, Default)]
pub struct Roll {
    /// Records (lines, or rows of batches) per file.
    pub max_records: Option<u64>,
    /// Bytes per file (a file may pass it by one record or batch).
    pub max_bytes: Option<u64>,
    /// How long a file stays open (checked as records arrive).
    pub max_age: Option<Duration>,
}

/// How one kind of file is written.
trait Format<T>: Send + 'static {
    type Writer: Send;
    fn extension(&self) -> &'static str;
    /// Starts a file whose first item is `first`.
    fn open(&self, file: File, first: &T) -> std::io::Result<Self::Writer>;
    /// Writes one item; returns the records and (about) the bytes it added.
    fn write(&self, w: &mut Self::Writer, item: T) -> std::io::Result<(u64, u64)>;
    /// Finishes the file and hands it back for syncing.
    fn finish(&self, w: Self::Writer) -> std::io::Result<File>;
}

struct Lines;

impl<T: AsRef<str> + Send + 'static> Format<T> for Lines {
    type Writer = BufWriter<File>;
    fn extension(&self) -> &'static str {
        "txt"
    }
    fn open(&self, file: File, _first: &T) -> std::io::Result<Self::Writer> {
        Ok(BufWriter::new(file))
    }
    fn write(&self, w: &mut Self::Writer, item: T) -> std::io::Result<(u64, u64)> {
        let line = item.as_ref().as_bytes();
        w.write_all(line)?;
        w.write_all(b"\n")?;
        Ok((1, line.len() as u64 + 1))
    }
    fn finish(&self, w: Self::Writer) -> std::io::Result<File> {
        w.into_inner().map_err(|e| e.into_error())
    }
}

struct Csv;

impl Format<RecordBatch> for Csv {
    type Writer = arrow::csv::Writer<BufWriter<File>>;
    fn extension(&self) -> &'static str {
        "csv"
    }
    fn open(&self, file: File, _first: &RecordBatch) -> std::io::Result<Self::Writer> {
        Ok(arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(BufWriter::new(file)))
    }
    fn write(&self, w: &mut Self::Writer, batch: RecordBatch) -> std::io::Result<(u64, u64)> {
        w.write(&batch).map_err(std::io::Error::other)?;
        Ok((
            batch.num_rows() as u64,
            batch.get_array_memory_size() as u64,
        ))
    }
    fn finish(&self, w: Self::Writer) -> std::io::Result<File> {
        w.into_inner().into_inner().map_err(|e| e.into_error())
    }
}

struct Parquet;

impl Format<RecordBatch> for Parquet {
    type Writer = parquet::arrow::ArrowWriter<File>;
    fn extension(&self) -> &'static str {
        "parquet"
    }
    fn open(&self, file: File, first: &RecordBatch) -> std::io::Result<Self::Writer> {
        parquet::arrow::ArrowWriter::try_new(file, first.schema(), None)
            .map_err(std::io::Error::other)
    }
    fn write(&self, w: &mut Self::Writer, batch: RecordBatch) -> std::io::Result<(u64, u64)> {
        w.write(&batch).map_err(std::io::Error::other)?;
        Ok((
            batch.num_rows() as u64,
            batch.get_array_memory_size() as u64,
        ))
    }
    fn finish(&self, w: Self::Writer) -> std::io::Result<File> {
        w.into_inner().map_err(std::io::Error::other)
    }
}

struct Open<W> {
    writer: W,
    temporary: PathBuf,
    path: PathBuf,
    records: u64,
    bytes: u64,
    opened: Instant,
}

struct Rolling<T, F: Format<T>> {
    format: F,
    dir: PathBuf,
    roll: Roll,
    next: usize,
    open: Option<Open<F::Writer>>,
    written: Vec<PathBuf>,
    _items: std::marker::PhantomData<fn(T)>,
}

impl<T, F: Format<T>> Rolling<T, F> {
    fn full(&self) -> bool {
        self.open.as_ref().is_some_and(|o| {
            self.roll.max_records.is_some_and(|m| o.records >= m)
                || self.roll.max_bytes.is_some_and(|m| o.bytes >= m)
                || self.roll.max_age.is_some_and(|m| o.opened.elapsed() >= m)
        })
    }

    fn open_next(&mut self, first: &T) -> std::io::Result<()> {
        let path = self
            .dir
            .join(format!("part-{:05}.{}", self.next, self.format.extension()));
        self.next += 1;
        let temporary = temporary_name(&path);
        let writer = self.format.open(File::create(&temporary)?, first)?;
        self.open = Some(Open {
            writer,
            temporary,
            path,
            records: 0,
            bytes: 0,
            opened: Instant::now(),
        });
        Ok(())
    }

    fn close(&mut self) -> std::io::Result<()> {
        if let Some(open) = self.open.take() {
            let file = self.format.finish(open.writer)?;
            file.sync_all()?;
            std::fs::rename(&open.temporary, &open.path)?;
            self.written.push(open.path);
        }
        Ok(())
    }

    fn abandon(&mut self) -> PathBuf {
        match self.open.take() {
            Some(o) => {
                let _ = std::fs::remove_file(&o.temporary);
                o.path
            }
            None => self.dir.clone(),
        }
    }
}

fn rolling_sink<T, F>(
    stream: Stream<T>,
    dir: &Path,
    roll: Roll,
    format: F,
) -> Result<Topology<Vec<PathBuf>>>
where
    T: Send + 'static,
    F: Format<T> + Send + 'static,
    F::Writer: Send + 'static,
{
    let dir = dir.to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let state = Rolling {
        format,
        dir,
        roll,
        next: 0,
        open: None,
        written: Vec::new(),
        _items: std::marker::PhantomData,
    };
    Ok(stream.sink_batches(
        "rolling_files",
        state,
        move |s: &mut Rolling<T, F>, items: Vec<T>| {
            let result = (|| {
                for item in items {
                    if s.open.is_none() {
                        s.open_next(&item)?;
                    }
                    if let Some(open) = s.open.as_mut() {
                        let (records, bytes) = s.format.write(&mut open.writer, item)?;
                        open.records += records;
                        open.bytes += bytes;
                    }
                    if s.full() {
                        s.close()?;
                    }
                }
                Ok::<(), std::io::Error>(())
            })();
            result.map_err(|e| Error::io(s.abandon(), e))
        },
        |mut s: Rolling<T, F>| match s.close() {
            Ok(()) => Ok(s.written),
            Err(e) => Err(Error::io(s.abandon(), e)),
        },
    ))
}

/// A sink that writes each record of `stream` as a line into rolling text files
/// `dir/part-NNNNN.txt`. The pipeline's result is the list of files written.
///
/// ```
/// use partita_collections::Stream;
/// use partita_io::{to_rolling_textfiles, Roll};
/// let dir = tempfile::tempdir().unwrap();
/// let roll = Roll { max_records: Some(4), ..Roll::default() };
/// let lines = Stream::iter((0..10).map(|i| format!("line {i}")));
/// let files = to_rolling_textfiles(lines, dir.path(), roll)?.start().wait()?;
/// assert_eq!(files.len(), 3);
/// assert_eq!(std::fs::read_to_string(&files[2]).unwrap(), "line 8\nline 9\n");
/// # Ok::<(), partita_io::Error>(())
/// ```
///
/// # Errors
/// [`Error::Io`] if `dir` cannot be created.
pub fn to_rolling_textfiles<T>(
    stream: Stream<T>,
    dir: impl AsRef<Path>,
    roll: Roll,
) -> Result<Topology<Vec<PathBuf>>>
where
    T: AsRef<str> + Send + 'static,
{
    rolling_sink(stream, dir.as_ref(), roll, Lines)
}

/// A sink that writes a stream of Arrow batches into rolling CSV files `dir/part-NNNNN.csv`,
/// each with a header. A batch is never split across files.
///
/// # Errors
/// [`Error::Io`] if `dir` cannot be created.
pub fn to_rolling_csv(
    stream: Stream<RecordBatch>,
    dir: impl AsRef<Path>,
    roll: Roll,
) -> Result<Topology<Vec<PathBuf>>> {
    rolling_sink(stream, dir.as_ref(), roll, Csv)
}

/// A sink that writes a stream of Arrow batches into rolling Parquet files
/// `dir/part-NNNNN.parquet`. A batch is never split across files.
///
/// # Errors
/// [`Error::Io`] if `dir` cannot be created.
pub fn to_rolling_parquet(
    stream: Stream<RecordBatch>,
    dir: impl AsRef<Path>,
    roll: Roll,
) -> Result<Topology<Vec<PathBuf>>> {
    rolling_sink(stream, dir.as_ref(), roll, Parquet)
}
