//! CSV: `read_csv` into a DataFrame of byte-range partitions, `to_csv` out, one file per
//! partition.
//!
//! Reading plans partitions by size when the graph is built: `ceil(size / blocksize)` blocks per
//! file. At compute time one task per file finds where those blocks' first records really start
//! (one pass that tracks quoting, see `split.rs`), so a field holding `"\n"` is never cut, and
//! one task per block parses its records with arrow's CSV reader. The schema is inferred from a
//! sample of the first file when the frame is built, and an integer column that samples spread
//! through the files show holding non-integers is read as float64 (see `widen.rs`). A later
//! value that does not fit fails the compute with the file, line and column, and names the
//! override that would read it.

mod split;
mod widen;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use partita_collections::{
    dtype_name, layer, register_op, ColumnSource, ColumnType, DataFrame, Op,
};
use partita_runtime::{downcast, value, Graph, Kernel, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use self::split::{
    drop_ragged, first_record_width, line_of_record, record_starts, Dialect, SplitError, Start,
};
use crate::error::{guard, Cause, Error, Result};
use crate::partitioned::{layer_name, task_io_error, write_partitions, FileFormat};
use crate::paths::Source;

/// How to read CSV files.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CsvOptions {
    /// Split files into partitions of about this many bytes; `None`: one partition per file.
    pub blocksize: Option<u64>,
    /// Whether the first row names the columns. Without a header, columns are `column_1`, ...
    pub has_header: bool,
    /// The field delimiter.
    pub delimiter: u8,
    /// The quote character.
    pub quote: u8,
    /// Values that read as null (besides empty fields of non-string columns).
    pub null_values: Vec<String>,
    /// Rows to infer the schema from, at the start of the first file. `usize::MAX` reads
    /// every row of every file once when the frame is built, so that no later value can fail
    /// to fit its column's type.
    pub sample_rows: usize,
    /// Takes the types from the first `sample_rows` rows alone. By default an int64 column
    /// that samples spread through the files show holding non-integers is read as float64
    /// in every partition (reported in an
    /// [`EventKind::Notice`](partita_runtime::EventKind::Notice)), as pandas reads a column
    /// that turns float after its first rows. Strict, such a value fails the compute with its
    /// file and line and the type that would read it.
    pub strict_types: bool,
    /// Column types that override inference, by name.
    pub dtypes: Vec<(String, ColumnType)>,
    /// Columns read as times (`timestamp[ns]`), by name, each with a strptime-style format
    /// (`"%m/%d/%Y"`, as `pd.read_csv(parse_dates=..., date_format=...)`) or `None` for ISO
    /// 8601; see [`Expr::to_datetime`](partita_collections::Expr::to_datetime). A value that
    /// does not parse fails the read, naming the file, the value and the format.
    pub parse_dates: Vec<(String, Option<String>)>,
    /// Drops rows whose number of fields is wrong instead of failing. Each block that drops
    /// rows reports how many, with the file and their lines, as an
    /// [`EventKind::Notice`](partita_runtime::EventKind::Notice) (and a `tracing` warning);
    /// [`skipped`](Self::skipped) counts them too.
    pub skip_bad_lines: bool,
    /// Where the rows that `skip_bad_lines` drops are counted, when set
    /// ([`count_skipped`](Self::count_skipped)). Counted by the reads in this process.
    #[serde(skip)]
    pub skipped: Option<SkippedRows>,
    /// Matches the columns of files whose headers list the same columns in another order by
    /// name, as `dd.read_csv` users do with files written by different tools. Off by default:
    /// files whose headers differ are an error naming both.
    pub align_columns: bool,
    /// Read only these columns, in the file's order (the others are not decoded). Queries set
    /// this themselves when they need fewer columns.
    pub columns: Option<Vec<String>>,
    /// Adds a column of this name holding each row's source file (dictionary-encoded, so it
    /// costs one small key per row), as Dask's `include_path_column`.
    pub include_path_column: Option<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            blocksize: Some(64 << 20),
            has_header: true,
            delimiter: b',',
            quote: b'"',
            null_values: Vec::new(),
            sample_rows: 1000,
            strict_types: false,
            dtypes: Vec::new(),
            parse_dates: Vec::new(),
            skip_bad_lines: false,
            skipped: None,
            align_columns: false,
            columns: None,
            include_path_column: None,
        }
    }
}

/// The rows a CSV read with `skip_bad_lines` dropped, counted as its blocks are read. Clones
/// share one count.
///
/// ```
/// use partita_io::{read_csv, CsvOptions, SkippedRows};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("ragged.csv");
/// std::fs::write(&path, "a,b\n1,2\n3,4,5\n6,7\n8\n").unwrap();
/// let skipped = SkippedRows::default();
/// let options = CsvOptions { skip_bad_lines: true, ..CsvOptions::default() };
/// let df = read_csv(path.as_path(), options.count_skipped(&skipped))?;
/// assert_eq!(df.compute()?.num_rows(), 2);
/// assert_eq!(skipped.count(), 2);
/// assert_eq!(skipped.rows(), [(path.clone(), 3), (path, 5)]);
/// # Ok::<(), partita_io::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct SkippedRows {
    inner: Arc<parking_lot::Mutex<Skipped>>,
}

#[derive(Debug, Default)]
struct Skipped {
    count: u64,
    rows: Vec<(PathBuf, u64)>,
}

/// The most skipped rows whose file and line are kept; the count goes on.
const SKIPPED_ROWS_KEPT: usize = 10_000;

impl SkippedRows {
    /// How many rows were skipped.
    pub fn count(&self) -> u64 {
        self.inner.lock().count
    }

    /// The file and line of each skipped row (the first 10,000), in file and line order.
    pub fn rows(&self) -> Vec<(PathBuf, u64)> {
        let mut rows = self.inner.lock().rows.clone();
        rows.sort();
        rows
    }

    fn add(&self, path: &Path, lines: &[u64]) {
        let mut s = self.inner.lock();
        s.count += lines.len() as u64;
        let room = SKIPPED_ROWS_KEPT.saturating_sub(s.rows.len());
        s.rows
            .extend(lines.iter().take(room).map(|&l| (path.to_path_buf(), l)));
    }
}

impl CsvOptions {
    /// Counts the rows that `skip_bad_lines` drops in `skipped`.
    pub fn count_skipped(mut self, skipped: &SkippedRows) -> Self {
        self.skipped = Some(skipped.clone());
        self
    }

    /// Reads column `name` as times, parsed with the strptime-style `format`, or as ISO 8601
    /// when it is `None` ([`parse_dates`](Self::parse_dates)).
    ///
    /// ```
    /// use partita_io::{read_csv, CsvOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("tickets.csv");
    /// std::fs::write(&path, "id,issued\n1,06/14/2017\n2,07/01/2017\n").unwrap();
    /// let df = read_csv(path.as_path(), CsvOptions::default().parse_date("issued", Some("%m/%d/%Y")))?;
    /// assert_eq!(df.dtypes()[1].1, "timestamp(ns)");
    /// # Ok::<(), partita_io::Error>(())
    /// ```
    pub fn parse_date(mut self, name: &str, format: Option<&str>) -> Self {
        self.parse_dates
            .push((name.to_string(), format.map(str::to_string)));
        self
    }

    /// Reads column `name` as `dtype`, whatever inference says.
    pub fn dtype(mut self, name: &str, dtype: ColumnType) -> Self {
        self.dtypes.push((name.to_string(), dtype));
        self
    }

    /// Partitions of about `bytes` bytes (`None`: one per file).
    pub fn blocksize(mut self, bytes: impl Into<Option<u64>>) -> Self {
        self.blocksize = bytes.into();
        self
    }

    /// The delimiter and quote, as the splitter and the parser both read them.
    fn dialect(&self) -> Dialect {
        Dialect {
            delimiter: self.delimiter,
            quote: self.quote,
        }
    }

    fn null_regex(&self) -> Result<Option<regex::Regex>> {
        if self.null_values.is_empty() {
            return Ok(None);
        }
        // The empty field stays null too, as it is without a list.
        let alternatives: Vec<String> = std::iter::once(String::new())
            .chain(self.null_values.iter().map(|v| regex::escape(v)))
            .collect();
        regex::Regex::new(&format!("^({})$", alternatives.join("|")))
            .map(Some)
            .map_err(|e| Error::Pattern {
                pattern: format!("{:?}", self.null_values),
                source: Cause::new_dyn(e),
            })
    }

    fn format(&self) -> Result<Format> {
        let mut f = Format::default()
            .with_header(self.has_header)
            .with_delimiter(self.delimiter)
            .with_quote(self.quote);
        if let Some(r) = self.null_regex()? {
            f = f.with_null_regex(r);
        }
        Ok(f)
    }
}

/// One planned partition: block `index` of `count` in a file.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Block {
    path: Arc<PathBuf>,
    index: usize,
}

/// Where the records of a file's `count` blocks (of `blocksize` bytes) really start.
#[derive(Serialize, Deserialize)]
struct SplitCsv {
    path: Arc<PathBuf>,
    count: usize,
    blocksize: Option<u64>,
    dialect: Dialect,
}

impl Op for SplitCsv {
    const NAME: &'static str = "io.csv.split";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let (p, count, bs, dialect) = (self.path.clone(), self.count, self.blocksize, self.dialect);
        let key = cx.key.clone();
        Ok(Arc::new(move |_| {
            let nominal: Vec<u64> = (0..=count as u64)
                .map(|k| bs.map_or(if k == 0 { 0 } else { u64::MAX }, |bs| k * bs.max(1)))
                .collect();
            let file = File::open(&*p).map_err(|e| task_io_error(&p, e))?;
            let starts = record_starts(file, &nominal, dialect).map_err(|e| match e {
                SplitError::Io(e) => task_io_error(&p, e),
                SplitError::Unterminated { line } => partita_runtime::Error::failed_by(
                    key.clone(),
                    Error::Csv {
                        path: p.to_path_buf(),
                        line: Some(line),
                        message: "a quoted field opens on this line and is never closed: \
                                  the rest of the file would read as one field"
                            .to_string(),
                        source: None,
                    },
                ),
            })?;
            Ok(value(starts))
        }))
    }
}
register_op!(SplitCsv);

/// Parses one block's records, given where the file's blocks start (the one input).
#[derive(Serialize, Deserialize)]
struct ReadCsvBlock {
    block: Block,
    /// The file's full schema.
    #[serde(with = "partita_collections::serde_schema")]
    schema: SchemaRef,
    projection: Option<Vec<usize>>,
    /// For a file whose header lists the frame's columns in another order: where each of the
    /// frame's (projected) columns is among the parsed ones.
    order: Option<Vec<usize>>,
    /// The columns read as float64 because samples showed non-integers among integers.
    widened: Arc<[String]>,
    options: Arc<CsvOptions>,
}

impl Op for ReadCsvBlock {
    const NAME: &'static str = "io.csv.read";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let [sk] = <[TaskKey; 1]>::try_from(cx.deps.to_vec()).map_err(|deps| {
            partita_runtime::Error::failed(
                cx.key.clone(),
                format!("a CSV block reads 1 input, not {}", deps.len()),
            )
        })?;
        let (block, schema) = (self.block.clone(), self.schema.clone());
        let (projection, order, widened, options, k) = (
            self.projection.clone(),
            self.order.clone(),
            self.widened.clone(),
            self.options.clone(),
            cx.key.clone(),
        );
        Ok(Arc::new(move |inputs: Vec<Value>| {
            let starts = downcast::<Vec<Start>>(&inputs[0], &sk)?;
            if block.index + 1 >= starts.len() {
                return Err(partita_runtime::Error::failed(
                    k.clone(),
                    format!(
                        "{}: block {} of {}",
                        block.path.display(),
                        block.index,
                        starts.len().saturating_sub(1)
                    ),
                ));
            }
            let (from, to) = (starts[block.index].offset, starts[block.index + 1].offset);
            guard(
                &block.path,
                || format!("bytes {from}..{to}"),
                || {
                    let columns = Columns {
                        projection: projection.as_deref(),
                        order: order.as_deref(),
                        widened: &widened,
                    };
                    read_block(&block, starts, &schema, columns, &options)
                },
            )
            .map(value)
            .map_err(|e| partita_runtime::Error::failed_by(k.clone(), e))
        }))
    }
}
register_op!(ReadCsvBlock);

/// The CSV files `source` names, as a DataFrame.
///
/// ```
/// use partita_io::{read_csv, CsvOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("people.csv");
/// std::fs::write(&path, "name,age\nAnn,31\n\"Bob\nJr\",17\n").unwrap();
/// let df = read_csv(path.as_path(), CsvOptions::default().blocksize(10))?;
/// assert_eq!(df.columns(), ["name", "age"]);
/// assert_eq!(df.dtypes()[1].1, "int64");
/// assert_eq!(df.len()?, 2);
/// # Ok::<(), partita_io::Error>(())
/// ```
///
/// # Errors
/// A pattern matching no file, an unreadable or empty first file, or a malformed sample.
pub fn read_csv(source: impl Into<Source>, options: CsvOptions) -> Result<DataFrame> {
    let files = source.into().files()?;
    let headers = check_headers(&files, &options)?;
    let full = infer_schema(&files, &headers, &options)?;
    let frame = plan_csv(&files, &headers, &options, &full)?;
    Ok(frame.with_column_source(Arc::new(CsvColumns {
        files,
        headers,
        options,
        full,
    })))
}

/// Re-plans a CSV read with fewer columns decoded (projection pushdown).
struct CsvColumns {
    files: Vec<PathBuf>,
    headers: Vec<Option<Vec<String>>>,
    options: CsvOptions,
    full: Inferred,
}

/// The files' schema, and the columns widened to float64 (see `widen.rs`).
#[derive(Clone)]
struct Inferred {
    schema: SchemaRef,
    widened: Arc<[String]>,
}

impl ColumnSource for CsvColumns {
    fn read(
        &self,
        columns: &[String],
        _filters: &[partita_collections::Expr],
    ) -> partita_collections::Result<DataFrame> {
        let mut options = self.options.clone();
        // The path column is added after reading, not read from the file.
        let path = options.include_path_column.clone();
        let keep = |c: &&String| Some(*c) != path.as_ref();
        options.columns = Some(columns.iter().filter(keep).cloned().collect());
        if !columns.iter().any(|c| Some(c) == path.as_ref()) {
            options.include_path_column = None;
        }
        plan_csv(&self.files, &self.headers, &options, &self.full)
            .map_err(partita_collections::Error::reader)
    }
}

/// The partitions of a CSV read, given the files' full schema and, for files whose columns
/// are matched by name, their headers.
fn plan_csv(
    files: &[PathBuf],
    headers: &[Option<Vec<String>>],
    options: &CsvOptions,
    inferred: &Inferred,
) -> Result<DataFrame> {
    let full = &inferred.schema;
    let projection: Option<Vec<usize>> = match &options.columns {
        None => None,
        Some(cols) => {
            let mut ix = cols
                .iter()
                .map(|c| {
                    full.index_of(c).map_err(|_| {
                        Error::csv(
                            files.first().cloned().unwrap_or_default(),
                            format!("no column {c:?} to read"),
                        )
                    })
                })
                .collect::<Result<Vec<usize>>>()?;
            ix.sort_unstable();
            ix.dedup();
            Some(ix)
        }
    };
    let parsed: SchemaRef = match &projection {
        None => full.clone(),
        Some(ix) => Arc::new(
            full.project(ix)
                .map_err(|e| Error::csv_arrow(files.first().cloned().unwrap_or_default(), e))?,
        ),
    };
    let schema = with_path_column(parsed.clone(), options);
    let options = options.clone();
    let boundaries: Arc<str> = layer_name("csv-split");
    let name: Arc<str> = layer_name("read-csv");
    let options = Arc::new(options);
    let mut split_tasks = Vec::new();
    let mut read_tasks = Vec::new();
    for (f, path) in files.iter().enumerate() {
        let size = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        let count = match options.blocksize {
            Some(bs) if size > 0 => size.div_ceil(bs.max(1)) as usize,
            _ => 1,
        };
        let path = Arc::new(path.clone());
        let split_key = TaskKey::new(boundaries.clone(), f as u64);
        let split = SplitCsv {
            path: path.clone(),
            count,
            blocksize: options.blocksize,
            dialect: options.dialect(),
        };
        split_tasks.push((split_key.clone(), vec![], split));
        let header = headers.get(f).and_then(Option::as_ref);
        let (file_schema, file_projection, order) =
            file_columns(&path, header, full, projection.as_deref())?;
        for index in 0..count {
            let read = ReadCsvBlock {
                block: Block {
                    path: path.clone(),
                    index,
                },
                schema: file_schema.clone(),
                projection: file_projection.clone(),
                order: order.clone(),
                widened: inferred.widened.clone(),
                options: options.clone(),
            };
            let key = TaskKey::new(name.clone(), read_tasks.len() as u64);
            read_tasks.push((key, vec![split_key.clone()], read));
        }
    }
    let n = read_tasks.len();
    let mut graph = Graph::new();
    layer(&mut graph, &boundaries, split_tasks);
    layer(&mut graph, &name, read_tasks);
    Ok(DataFrame::from_partitions(graph, name, n, schema))
}

/// What a file parses and in which order its columns come out, when its header lists the
/// frame's columns in another order (`align_columns`): its own schema (its order, the frame's
/// types), the projection in its order, and the order that gives the frame's. Otherwise the
/// frame's schema and projection.
type FileColumns = (SchemaRef, Option<Vec<usize>>, Option<Vec<usize>>);

fn file_columns(
    path: &Path,
    header: Option<&Vec<String>>,
    full: &SchemaRef,
    projection: Option<&[usize]>,
) -> Result<FileColumns> {
    let same = |names: &Vec<String>| names.iter().eq(full.fields().iter().map(|f| f.name()));
    let Some(names) = header.filter(|names| !same(names)) else {
        return Ok((full.clone(), projection.map(<[usize]>::to_vec), None));
    };
    let in_file = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| Error::csv(path, format!("its header has no column {name:?}")))
    };
    let fields = names
        .iter()
        .map(|n| {
            full.field_with_name(n)
                .cloned()
                .map_err(|_| Error::csv(path, format!("column {n:?} is not in the first file")))
        })
        .collect::<Result<Vec<Field>>>()?;
    let wanted: Vec<usize> =
        projection.map_or_else(|| (0..full.fields().len()).collect(), <[usize]>::to_vec);
    let positions = wanted
        .iter()
        .map(|&i| in_file(full.field(i).name()))
        .collect::<Result<Vec<usize>>>()?;
    let mut parsed = positions.clone();
    parsed.sort_unstable();
    let order = positions
        .iter()
        .map(|p| parsed.binary_search(p).unwrap_or_default())
        .collect();
    Ok((Arc::new(Schema::new(fields)), Some(parsed), Some(order)))
}

/// Refuses files of one read whose headers differ: their rows would be read under the first
/// file's column names without a word. With `align_columns`, headers that list the same
/// columns in another order are accepted. Returns each file's header (`None` for an empty
/// file, or when there is nothing to match). Empty files have no header and are left out.
fn check_headers(files: &[PathBuf], options: &CsvOptions) -> Result<Vec<Option<Vec<String>>>> {
    let mut headers = vec![None; files.len()];
    if !options.has_header || files.len() < 2 {
        return Ok(headers);
    }
    let header = |path: &PathBuf| -> Result<Option<Vec<String>>> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        if file.metadata().map_err(|e| Error::io(path, e))?.len() == 0 {
            return Ok(None);
        }
        let (schema, _) = options
            .format()?
            .infer_schema(std::io::BufReader::new(file), Some(0))
            .map_err(|e| Error::csv_arrow(path, e))?;
        Ok(Some(
            schema.fields().iter().map(|f| f.name().clone()).collect(),
        ))
    };
    let sorted = |names: &[String]| {
        let mut v = names.to_vec();
        v.sort_unstable();
        v
    };
    let mut first: Option<(&PathBuf, Vec<String>)> = None;
    for (i, path) in files.iter().enumerate() {
        let Some(names) = header(path)? else {
            continue;
        };
        match &first {
            None => first = Some((path, names.clone())),
            Some((p, expected)) if *expected != names => {
                let unique = sorted(&names).windows(2).all(|w| w[0] != w[1]);
                let aligned = options.align_columns && unique && sorted(expected) == sorted(&names);
                if !aligned {
                    let hint = if options.align_columns {
                        "align_columns matches columns by name, but these files hold different \
                         columns (or one names a column twice)"
                    } else {
                        "the files of one read must have the same columns in the same order \
                         (set align_columns to match the same columns in another order by \
                         name, read them separately and concat, or rename their columns to \
                         agree)"
                    };
                    return Err(Error::Csv {
                        path: path.clone(),
                        line: Some(1),
                        message: format!(
                            "its header is {names:?}, but {} has {expected:?}: {hint}",
                            p.display()
                        ),
                        source: None,
                    });
                }
            }
            Some(_) => {}
        }
        headers[i] = Some(names);
    }
    Ok(headers)
}

/// The schema from a sample of the first non-empty file, widened by samples spread through
/// every file (or by every row), with the overrides applied. `headers` are the files' own
/// headers, from [`check_headers`].
fn infer_schema(
    files: &[PathBuf],
    headers: &[Option<Vec<String>>],
    options: &CsvOptions,
) -> Result<Inferred> {
    let first = files
        .iter()
        .find(|f| std::fs::metadata(f).map(|m| m.len() > 0).unwrap_or(false))
        .ok_or_else(|| {
            Error::csv(
                files.first().cloned().unwrap_or_default(),
                "every file is empty: there is no header or row to take a schema from",
            )
        })?;
    let mut file = File::open(first).map_err(|e| Error::io(first, e))?;
    let sample: Box<dyn Read> = if options.skip_bad_lines {
        // Infer from the first few MiB with the ragged rows taken out.
        let mut head = Vec::new();
        (&mut file)
            .take(8 << 20)
            .read_to_end(&mut head)
            .map_err(|e| Error::io(first, e))?;
        let width = first_record_width(&head, options.dialect());
        Box::new(std::io::Cursor::new(
            drop_ragged(&head, options.dialect(), width).0,
        ))
    } else {
        Box::new(file)
    };
    // Reading every row, the head only names the columns and gives their first types.
    let rows = Some(match options.sample_rows {
        usize::MAX => 1000,
        n => n,
    });
    let (inferred, _) = options.format()?.infer_schema(sample, rows).map_err(|e| {
        let message = e.to_string();
        // The csv parser counts lines from 1 over the whole file.
        let line = message
            .rsplit_once("at line ")
            .and_then(|(_, n)| n.trim().parse::<u64>().ok());
        Error::Csv {
            path: first.clone(),
            line,
            message: without_arrow_line(&message),
            source: Some(e.into()),
        }
    })?;
    let mut fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut widened = if options.sample_rows == usize::MAX {
        let (types, widened) = widen::every_row(files, headers, &fields, options)?;
        for (f, t) in fields.iter_mut().zip(types) {
            *f = Field::new(f.name(), t, true);
        }
        widened
    } else if options.strict_types {
        Vec::new()
    } else {
        let names = |f: &Field| f.name().clone();
        let first: Vec<String> = fields.iter().map(names).collect();
        let same_order: Vec<bool> = headers
            .iter()
            .map(|h| h.as_ref().is_none_or(|h| *h == first))
            .collect();
        let same_order = match same_order.len() {
            0 => vec![true; files.len()],
            _ => same_order,
        };
        let widened = widen::spread(files, &same_order, &fields, options)?;
        for w in &widened {
            if let Some(f) = fields.iter_mut().find(|f| f.name() == &w.column) {
                *f = Field::new(f.name(), DataType::Float64, true);
            }
        }
        widened
    };
    // An override is the user's choice: it is neither widened nor checked.
    widened.retain(|w| !options.dtypes.iter().any(|(name, _)| *name == w.column));
    for w in &widened {
        partita_runtime::notice(format!(
            "{}: column {:?} holds non-integers (in the rows from byte {}), though the first \
             rows hold integers: it is read as float64 in every partition",
            w.path.display(),
            w.column,
            w.offset
        ));
    }
    // The overrides, then the columns read as times.
    let dtypes = options
        .dtypes
        .iter()
        .map(|(n, t)| (n, t.to_arrow(), "an override"));
    let times = options
        .parse_dates
        .iter()
        .map(|(n, _)| (n, time_type(), "parse_dates"));
    for (name, dtype, what) in dtypes.chain(times) {
        let field = fields
            .iter_mut()
            .find(|f| f.name() == name)
            .ok_or_else(|| {
                Error::csv(
                    first.clone(),
                    format!("{what} names {name:?}, which is not a column"),
                )
            })?;
        *field = Field::new(name, dtype, true);
    }
    widened.retain(|w| {
        !options
            .parse_dates
            .iter()
            .any(|(name, _)| *name == w.column)
    });
    // A column with no value in the sample reads as strings.
    for f in &mut fields {
        if f.data_type() == &DataType::Null {
            *f = Field::new(f.name(), DataType::Utf8, true);
        }
    }
    Ok(Inferred {
        schema: Arc::new(Schema::new(fields)),
        widened: widened.into_iter().map(|w| w.column).collect(),
    })
}

/// The type of the columns `parse_dates` names.
fn time_type() -> DataType {
    DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, None)
}

/// `schema` with the columns `parse_dates` names as strings: how the parser reads them,
/// before they are parsed as times.
fn as_read(schema: &SchemaRef, options: &CsvOptions) -> SchemaRef {
    if options.parse_dates.is_empty() {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(
            |f| match options.parse_dates.iter().any(|(n, _)| n == f.name()) {
                true => Field::new(f.name(), DataType::Utf8, true),
                false => f.as_ref().clone(),
            },
        )
        .collect();
    Arc::new(Schema::new(fields))
}

/// The columns of `batch` that `parse_dates` names, parsed as times.
fn parse_dates(batch: RecordBatch, path: &Path, options: &CsvOptions) -> Result<RecordBatch> {
    if options.parse_dates.is_empty() {
        return Ok(batch);
    }
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    for (name, format) in &options.parse_dates {
        let Ok(i) = schema.index_of(name) else {
            continue;
        };
        columns[i] = partita_collections::parse_times(&columns[i], format.as_deref())
            .map_err(|e| Error::csv(path, format!("column {name:?}: {e}")))?;
        fields[i] = Field::new(name, time_type(), true);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| Error::csv_arrow(path, e))
}

/// The schema with the path column, if asked for.
fn with_path_column(schema: SchemaRef, options: &CsvOptions) -> SchemaRef {
    match &options.include_path_column {
        None => schema,
        Some(name) => {
            let mut fields: Vec<Field> =
                schema.fields().iter().map(|f| f.as_ref().clone()).collect();
            fields.push(Field::new(name, path_type(), false));
            Arc::new(Schema::new(fields))
        }
    }
}

fn path_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// Parses one block's records.
/// Which of a block's columns are parsed (in the file's order), and the order that gives the
/// frame's.
#[derive(Clone, Copy)]
struct Columns<'a> {
    projection: Option<&'a [usize]>,
    order: Option<&'a [usize]>,
    widened: &'a [String],
}

fn read_block(
    block: &Block,
    starts: &[Start],
    schema: &SchemaRef,
    columns: Columns<'_>,
    options: &CsvOptions,
) -> Result<RecordBatch> {
    let Columns {
        projection,
        order,
        widened,
    } = columns;
    let path = &*block.path;
    let at = |e: arrow::error::ArrowError| Error::csv_arrow(path, e);
    let (from, to) = (starts[block.index], starts[block.index + 1]);
    let mut bytes = vec![0; (to.offset - from.offset) as usize];
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    file.seek(SeekFrom::Start(from.offset))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| Error::io(path, e))?;
    if options.skip_bad_lines {
        let (kept, dropped) = drop_ragged(&bytes, options.dialect(), schema.fields().len());
        if !dropped.is_empty() {
            let lines: Vec<u64> = dropped.iter().map(|l| from.line + l).collect();
            let shown: Vec<String> = lines.iter().take(10).map(u64::to_string).collect();
            let more = if lines.len() > 10 { ", ..." } else { "" };
            partita_runtime::notice(format!(
                "{}: skipped {} rows with the wrong number of fields (lines {}{more})",
                path.display(),
                lines.len(),
                shown.join(", ")
            ));
            if let Some(skipped) = &options.skipped {
                skipped.add(path, &lines);
            }
        }
        bytes = kept;
    }
    let header = options.has_header && block.index == 0;
    let schema = &as_read(schema, options);
    let out_schema: SchemaRef = match projection {
        None => schema.clone(),
        Some(ix) => Arc::new(schema.project(ix).map_err(at)?),
    };
    let mut builder = arrow::csv::ReaderBuilder::new(schema.clone())
        .with_header(header)
        .with_delimiter(options.delimiter)
        .with_quote(options.quote)
        .with_batch_size(64 * 1024);
    if let Some(r) = options.null_regex()? {
        builder = builder.with_null_regex(r);
    }
    if let Some(ix) = projection {
        builder = builder.with_projection(ix.to_vec());
    }
    let reader = builder.build(bytes.as_slice()).map_err(at)?;
    let mut batches = Vec::new();
    for batch in reader {
        match batch {
            Ok(b) => batches.push(b),
            Err(e) => return Err(describe(e, path, &bytes, from, schema, options)),
        }
    }
    if !widened.is_empty() {
        let mut row = u64::from(header);
        for batch in &batches {
            if let Some((r, column, _)) = widen::exact(batch, widened) {
                let line = from.line + line_of_record(&bytes, row + r as u64, options.dialect());
                return Err(Error::Csv {
                    path: path.to_path_buf(),
                    line: Some(line),
                    message: format!(
                        "column {column:?} is read as float64, as it holds non-integers \
                         elsewhere, but this integer is 2^53 or beyond, where float64 does \
                         not hold every integer exactly: read it with CsvOptions::default().dtype({column:?}, \
                         ColumnType::String), or as ColumnType::Float64 to accept the rounding"
                    ),
                    source: None,
                });
            }
            row += batch.num_rows() as u64;
        }
    }
    // The text is parsed: give it back before the batches are joined into one.
    drop(bytes);
    let batch = arrow::compute::concat_batches(&out_schema, &batches).map_err(at)?;
    drop(batches);
    let batch = match order {
        Some(order) => batch.project(order).map_err(at)?,
        None => batch,
    };
    let batch = parse_dates(batch, path, options)?;
    match &options.include_path_column {
        None => Ok(batch),
        Some(_) => {
            let rows = batch.num_rows();
            let keys = arrow::array::Int32Array::from(vec![0; rows]);
            let values = arrow::array::StringArray::from(vec![path.display().to_string()]);
            let paths =
                arrow::array::DictionaryArray::try_new(keys, Arc::new(values)).map_err(at)?;
            let mut columns = batch.columns().to_vec();
            columns.push(Arc::new(paths));
            RecordBatch::try_new(with_path_column(batch.schema(), options), columns).map_err(at)
        }
    }
}

/// An arrow CSV message without arrow's own line number (`at line 7`, `for line 7`), which
/// counts within a block or a sample: the error gives the line in the file instead.
fn without_arrow_line(message: &str) -> String {
    static LINE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = LINE.get_or_init(|| {
        regex::Regex::new(r" (?:at|for) line \d+").unwrap_or_else(|e| unreachable!("{e}"))
    });
    re.replace_all(message, "").into_owned()
}

/// An arrow CSV error, with the file, the line and the column, and the override that would
/// read the value; arrow's error stays as the source.
fn describe(
    e: arrow::error::ArrowError,
    path: &Path,
    bytes: &[u8],
    from: Start,
    schema: &Schema,
    options: &CsvOptions,
) -> Error {
    let message = e.to_string();
    let message = message.as_str();
    let number = |after: &str| -> Option<u64> {
        let i = message.find(after)? + after.len();
        message[i..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    // arrow numbers a value error by the record's index in this block (the header is record
    // 0 when there is one), and a field-count error by the record's number counted from 1.
    let record = number("at line ").or_else(|| number("for line ").map(|n| n.saturating_sub(1)));
    let line = record.map(|r| from.line + line_of_record(bytes, r, options.dialect()));
    let column = number("for column ").and_then(|c| schema.fields().get(c as usize));
    let mut out = match line {
        Some(_) => without_arrow_line(message),
        None => message.to_string(),
    };
    // arrow counts columns from 0: name the column instead.
    if let (Some(f), Some(c)) = (column, number("for column ")) {
        out = out.replacen(
            &format!("for column {c}"),
            &format!("for column {:?}", f.name()),
            1,
        );
    }
    if let Some(f) = column {
        // A number where integers were inferred fits float64.
        let value = message
            .split_once("value '")
            .and_then(|(_, rest)| rest.split_once("' as type"))
            .map(|(v, _)| v);
        let float = f.data_type().is_integer() && value.is_some_and(|v| v.parse::<f64>().is_ok());
        let fits = if float { "Float64" } else { "String" };
        out.push_str(&format!(
            " (column {:?} was inferred as {} from the first {} rows; read it with \
             CsvOptions::default().dtype({:?}, ColumnType::{fits}), or infer from every row \
             with sample_rows: usize::MAX)",
            f.name(),
            dtype_name(f.data_type()),
            options.sample_rows,
            f.name()
        ));
    }
    Error::Csv {
        path: path.to_path_buf(),
        line,
        message: out,
        source: Some(e.into()),
    }
}

/// Writes each partition of `frame` to `dir/part-NNNNN.csv` with a header, each file written to
/// a temporary name and renamed when complete, then the folder's `_SUCCESS` marker (see
/// [`Source::committed`](crate::Source::committed)), computing on the current runtime
/// ([`Runtime::current`](partita_runtime::Runtime::current)). Returns the paths in partition order.
///
/// # Errors
/// [`Error::Io`] if `dir` cannot be created; a failed write fails the compute, naming the file.
pub fn to_csv(frame: &DataFrame, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    write_partitions(frame, dir.as_ref(), FileFormat::Csv)
}

/// One partition as CSV with a header.
pub(crate) fn write_csv(
    w: &mut std::io::BufWriter<File>,
    batch: &RecordBatch,
) -> std::io::Result<()> {
    arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(w)
        .write(batch)
        .map_err(std::io::Error::other)
}
