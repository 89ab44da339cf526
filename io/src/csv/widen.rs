//! Type widening: a column that the first rows show as integers but that holds non-integers
//! further on is read as float64 in every partition, instead of failing the compute where the
//! first non-integer turns up.
//!
//! The frame's schema is fixed when the frame is built, so the evidence must be found then.
//! By default the read looks at samples spread evenly through the files besides their first
//! rows ([`spread`]); `sample_rows: usize::MAX` reads every row ([`every_row`]). Only int64 ever
//! widens, and only to float64, so a sample misread (one that starts inside a quoted field,
//! say) can cost a column its integer type but never a value: the blocks check that each value
//! of a widened column is an integer float64 holds exactly (`|v| < 2^53`: a parsed 2^53 may be 2^53 + 1 rounded), see [`exact`].

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use arrow::array::{Array, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field};

use super::split::{drop_ragged, first_record_width, record_starts, SplitError};
use super::CsvOptions;
use crate::error::{Error, Result};

/// How many places in the files, besides their first rows, the default inference samples.
const SPREAD_POINTS: u64 = 32;

/// The bytes read at each place.
const SPREAD_BYTES: u64 = 16 << 10;

/// 2^53: float64 holds every integer below it exactly, and rounds some from it on.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// A column read as float64 although the first rows showed integers, and where that was seen.
#[derive(Clone, Debug)]
pub(super) struct Widened {
    /// The column.
    pub(super) column: String,
    /// The file holding a non-integer.
    pub(super) path: PathBuf,
    /// Where in it: the byte at which the sample that showed it starts.
    pub(super) offset: u64,
}

/// Whether inference found a column holding integers and one that is wider, and which.
fn widens(seen: &DataType, found: &DataType) -> bool {
    seen == &DataType::Int64 && found == &DataType::Float64
}

/// The int64 columns of `fields` that samples spread through `files` show holding floats.
/// `same_order[i]` says whether file `i` lists the columns in the order of `fields` (files
/// matched by name are not sampled).
pub(super) fn spread(
    files: &[PathBuf],
    same_order: &[bool],
    fields: &[Field],
    options: &CsvOptions,
) -> Result<Vec<Widened>> {
    if !fields.iter().any(|f| f.data_type() == &DataType::Int64) {
        return Ok(Vec::new());
    }
    let mut sizes = Vec::with_capacity(files.len());
    for (path, same) in files.iter().zip(same_order) {
        let size = match same {
            true => std::fs::metadata(path)
                .map_err(|e| Error::io(path, e))?
                .len(),
            false => 0,
        };
        sizes.push(size);
    }
    let total: u64 = sizes.iter().sum();
    let mut out: Vec<Widened> = Vec::new();
    if total == 0 {
        return Ok(out);
    }
    // Points 1..=SPREAD_POINTS of the files laid end to end; the last one reads the end.
    let mut last: Option<(usize, u64)> = None;
    for k in 1..=SPREAD_POINTS {
        let at =
            (total.saturating_sub(SPREAD_BYTES) as u128 * k as u128 / SPREAD_POINTS as u128) as u64;
        let (mut file, mut offset) = (0, at);
        while file < sizes.len() && offset >= sizes[file] {
            offset -= sizes[file];
            file += 1;
        }
        if file == sizes.len() || last == Some((file, offset)) {
            continue;
        }
        last = Some((file, offset));
        let path = &files[file];
        let Some(types) = sample_types(path, offset, fields.len(), options)? else {
            continue;
        };
        for (field, found) in fields.iter().zip(&types) {
            let known = out.iter().any(|w| &w.column == field.name());
            if !known && widens(field.data_type(), found) {
                out.push(Widened {
                    column: field.name().clone(),
                    path: path.clone(),
                    offset,
                });
            }
        }
    }
    Ok(out)
}

/// The types of the whole records in `SPREAD_BYTES` of `path` from `offset`, or `None` when
/// they do not have `width` fields (the sample may start inside a quoted field).
fn sample_types(
    path: &Path,
    offset: u64,
    width: usize,
    options: &CsvOptions,
) -> Result<Option<Vec<DataType>>> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.take(SPREAD_BYTES).read_to_end(&mut bytes))
        .map_err(|e| Error::io(path, e))?;
    // From the first line start (the first line may be the header, or a record's tail) to the
    // end of the last whole line.
    let (Some(first), Some(end)) = (
        memchr::memchr(b'\n', &bytes),
        memchr::memrchr(b'\n', &bytes),
    ) else {
        return Ok(None);
    };
    let mut records = bytes[first + 1..=end].to_vec();
    if options.skip_bad_lines {
        records = drop_ragged(&records, options.dialect(), width).0;
    }
    let format = options.format()?.with_header(false);
    let Ok((schema, _)) = format.infer_schema(records.as_slice(), None) else {
        return Ok(None);
    };
    Ok((schema.fields().len() == width).then(|| {
        schema
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect()
    }))
}

/// The types of every row of `files` (`sample_rows: usize::MAX`), merged as arrow merges the
/// rows of one sample: int64 and float64 make float64, other differences make strings.
/// `names[i]` lists file `i`'s columns in its order, when it differs from the first file's.
/// Returns the merged types, in the first file's order, and the columns that widened.
pub(super) fn every_row(
    files: &[PathBuf],
    names: &[Option<Vec<String>>],
    fields: &[Field],
    options: &CsvOptions,
) -> Result<(Vec<DataType>, Vec<Widened>)> {
    let mut types: Vec<DataType> = fields.iter().map(|f| f.data_type().clone()).collect();
    let mut widened: Vec<Widened> = Vec::new();
    let dialect = options.dialect();
    let blocksize = options
        .blocksize
        .unwrap_or(64 << 20)
        .clamp(1 << 20, 256 << 20);
    for (f, path) in files.iter().enumerate() {
        let size = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        if size == 0 {
            continue;
        }
        // Where each field of this file goes among `fields`.
        let slot: Vec<Option<usize>> = match names.get(f).and_then(Option::as_ref) {
            Some(own) => own
                .iter()
                .map(|n| fields.iter().position(|x| x.name() == n))
                .collect(),
            None => (0..fields.len()).map(Some).collect(),
        };
        let nominal: Vec<u64> = (0..=size.div_ceil(blocksize))
            .map(|k| k * blocksize)
            .collect();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let starts = record_starts(file, &nominal, dialect).map_err(|e| match e {
            SplitError::Io(e) => Error::io(path, e),
            SplitError::Unterminated { line } => Error::Csv {
                path: path.clone(),
                line: Some(line),
                message: "a quoted field opens on this line and is never closed".to_string(),
                source: None,
            },
        })?;
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        for (i, pair) in starts.windows(2).enumerate() {
            let mut bytes = vec![0; (pair[1].offset - pair[0].offset) as usize];
            file.seek(SeekFrom::Start(pair[0].offset))
                .and_then(|_| file.read_exact(&mut bytes))
                .map_err(|e| Error::io(path, e))?;
            if options.skip_bad_lines {
                let width = first_record_width(&bytes, dialect).max(fields.len());
                bytes = drop_ragged(&bytes, dialect, width).0;
            }
            let header = options.has_header && i == 0;
            let (schema, _) = options
                .format()?
                .with_header(header)
                .infer_schema(bytes.as_slice(), None)
                .map_err(|e| Error::csv_arrow(path, e))?;
            for (field, s) in schema.fields().iter().zip(&slot) {
                let Some(s) = *s else { continue };
                let merged = merge(&types[s], field.data_type());
                if widens(&types[s], &merged)
                    && !widened
                        .iter()
                        .any(|w| w.column == fields[s].name().as_str())
                {
                    widened.push(Widened {
                        column: fields[s].name().clone(),
                        path: path.clone(),
                        offset: pair[0].offset,
                    });
                }
                types[s] = merged;
            }
        }
    }
    Ok((types, widened))
}

/// Two inferred types of one column as one: the same, the one that is not null, float64 for
/// int64 and float64, and strings otherwise.
fn merge(a: &DataType, b: &DataType) -> DataType {
    match (a, b) {
        (a, b) if a == b => a.clone(),
        (DataType::Null, x) | (x, DataType::Null) => x.clone(),
        (DataType::Int64, DataType::Float64) | (DataType::Float64, DataType::Int64) => {
            DataType::Float64
        }
        _ => DataType::Utf8,
    }
}

/// The first row of `batch` whose value in a widened column is an integer that float64 may
/// not hold exactly, with the column's name and the value.
pub(super) fn exact(batch: &RecordBatch, widened: &[String]) -> Option<(usize, String, f64)> {
    for name in widened {
        let Some(column) = batch.column_by_name(name) else {
            continue;
        };
        let Some(values) = column.as_any().downcast_ref::<Float64Array>() else {
            continue;
        };
        let bad = values
            .iter()
            .position(|v| v.is_some_and(|v| v.abs() >= EXACT && v.fract() == 0.0));
        if let Some(row) = bad {
            return Some((row, name.clone(), values.value(row)));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inferred_types_merge_as_in_one_sample() {
        assert_eq!(
            merge(&DataType::Int64, &DataType::Float64),
            DataType::Float64
        );
        assert_eq!(merge(&DataType::Null, &DataType::Int64), DataType::Int64);
        assert_eq!(merge(&DataType::Int64, &DataType::Int64), DataType::Int64);
        assert_eq!(merge(&DataType::Boolean, &DataType::Int64), DataType::Utf8);
    }

    #[test]
    fn integers_beyond_two_to_the_53_are_not_exact() {
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![Field::new(
            "x",
            DataType::Float64,
            true,
        )]));
        let values = Float64Array::from(vec![Some(1.5), None, Some(EXACT - 1.0), Some(EXACT)]);
        let batch = RecordBatch::try_new(schema, vec![std::sync::Arc::new(values)]).unwrap();
        let (row, name, value) = exact(&batch, &["x".to_string()]).unwrap();
        assert_eq!((row, name.as_str(), value), (3, "x", EXACT));
        assert!(exact(&batch.slice(0, 3), &["x".to_string()]).is_none());
    }
}
