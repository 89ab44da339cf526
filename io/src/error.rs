//! The IO crate's one error type.

use std::path::{Path, PathBuf};

use partita_collections::DType;
use partita_runtime::SharedError;

/// The cause of a Parquet, IPC, HDF5 or pattern error: a `ParquetError`, an `ArrowError`, an
/// `hdf5_metno::Error`, a `std::io::Error`, a `glob::PatternError` or `regex::Error`, or a
/// [`Message`](partita_runtime::Message) when the check was partita's own.
pub type Cause = SharedError<dyn std::error::Error + Send + Sync>;

/// What can go wrong reading or writing data.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: SharedError<std::io::Error>,
    },
    /// A glob pattern matched no file.
    #[error("no files match {pattern}")]
    NoFiles {
        /// The pattern.
        pattern: String,
    },
    /// A folder read as a committed write has no `_SUCCESS` marker: the write that made it
    /// never finished, or did not commit.
    #[error(
        "{} has no _SUCCESS marker: the write that made it did not finish (write it again, or \
         read its files by a pattern to take them as they are)",
        dir.display()
    )]
    Uncommitted {
        /// The folder.
        dir: PathBuf,
    },
    /// A glob pattern, or the regular expression made of a CSV read's null values, is
    /// malformed.
    #[error("bad pattern {pattern}: {source}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it: `glob::PatternError` or `regex::Error`.
        source: Cause,
    },
    /// A CSV file could not be read. Shown as `file:line: message`, or `file: message` when
    /// no line is known.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The line (counted from 1 over the whole file), when known.
        line: Option<u64>,
        /// What is wrong, with arrow's message when arrow reported it.
        message: String,
        /// Arrow's error, when arrow reported it (a value that does not parse, say).
        source: Option<SharedError<arrow::error::ArrowError>>,
    },
    /// A Parquet file could not be read or written.
    #[error("{}: {source}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: Cause,
    },
    /// A decoder panicked on malformed data in one part of a file: the file is corrupt (or
    /// the decoder has a bug). Named by the file and the part (a row group, a record batch).
    #[error("{}: {part}: the decoder failed on malformed data: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The part being decoded.
        part: String,
        /// The decoder's panic message.
        message: String,
    },
    /// An Arrow IPC file could not be read.
    #[error("{}: {source}", path.display())]
    Ipc {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: Cause,
    },
    /// An HDF5 file or dataset could not be read or written: the file or the dataset is
    /// missing, its type has no [`DType`], or the HDF5 library reported an error.
    #[error(
        "{}, dataset {dataset:?}: {message}{}",
        path.display(),
        source.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
    )]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// The dataset's path inside the file.
        dataset: String,
        /// What went wrong.
        message: String,
        /// The error behind it, when there is one: the HDF5 library's (`hdf5_metno::Error`)
        /// or the file system's (`std::io::Error`).
        source: Option<Cause>,
    },
    /// An HDF5 dataset holds another element type than the one asked for.
    #[error(
        "{}, dataset {dataset:?}: the dataset holds {stored}, not {asked}; \
         read it with read_hdf5 and convert it with astype",
        path.display()
    )]
    Hdf5DType {
        /// The file.
        path: PathBuf,
        /// The dataset's path inside the file.
        dataset: String,
        /// The dtype the dataset holds.
        stored: DType,
        /// The dtype asked for.
        asked: DType,
    },
    /// A collection error.
    #[error(transparent)]
    Collections(#[from] partita_collections::Error),
}

impl From<partita_runtime::Error> for Error {
    fn from(e: partita_runtime::Error) -> Self {
        Error::Collections(e.into())
    }
}

/// Runs `decode` on `part` of `path`, turning a panic inside the decoder (arrow and parquet
/// assert on some malformed input) into [`Error::Corrupt`] naming the file and the part.
pub(crate) fn guard<T>(
    path: &Path,
    part: impl FnOnce() -> String,
    decode: impl FnOnce() -> Result<T>,
) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|payload| {
        Err(Error::Corrupt {
            path: path.to_path_buf(),
            part: part(),
            message: partita_runtime::panic_message(payload.as_ref()),
        })
    })
}

impl Error {
    pub(crate) fn hdf5(path: &Path, dataset: &str, message: impl std::fmt::Display) -> Self {
        Error::Hdf5 {
            path: path.to_path_buf(),
            dataset: dataset.to_string(),
            message: message.to_string(),
            source: None,
        }
    }

    /// [`Error::Hdf5`] caused by `source` (an HDF5 or IO error); `what` says what was being done.
    pub(crate) fn hdf5_by(
        path: &Path,
        dataset: &str,
        what: impl std::fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Hdf5 {
            path: path.to_path_buf(),
            dataset: dataset.to_string(),
            message: what.to_string(),
            source: Some(Cause::new_dyn(source)),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source: SharedError::new(source),
        }
    }

    /// [`Error::Csv`] with no line, caused by an arrow error.
    pub(crate) fn csv_arrow(path: impl Into<PathBuf>, source: arrow::error::ArrowError) -> Self {
        Error::Csv {
            path: path.into(),
            line: None,
            message: source.to_string(),
            source: Some(SharedError::new(source)),
        }
    }

    /// [`Error::Csv`] with no line and no arrow error behind it.
    pub(crate) fn csv(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Csv {
            path: path.into(),
            line: None,
            message: message.into(),
            source: None,
        }
    }
}

/// `Result` with the IO crate's [`Error`] as its default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
