//! The IO crate's one error type.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use partita_collections::DType;

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
        source: Arc<std::io::Error>,
    },
    /// A glob pattern matched no file.
    #[error("no files match {pattern}")]
    NoFiles {
        /// The pattern.
        pattern: String,
    },
    /// A glob pattern is malformed.
    #[error("bad file pattern {pattern}: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A CSV file could not be read. Shown as `file:line: message`, or `file: message` when
    /// no line is known.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The line (counted from 1 over the whole file), when known.
        line: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// A Parquet file could not be read or written.
    #[error("{}: {message}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An Arrow IPC file could not be read.
    #[error("{}: {message}", path.display())]
    Ipc {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An HDF5 file or dataset could not be read or written: the file or the dataset is
    /// missing, its type has no [`DType`], or the HDF5 library reported an error.
    #[error("{}, dataset {dataset:?}: {message}", path.display())]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// The dataset's path inside the file.
        dataset: String,
        /// What went wrong.
        message: String,
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

impl Error {
    pub(crate) fn hdf5(path: &Path, dataset: &str, message: impl std::fmt::Display) -> Self {
        Error::Hdf5 {
            path: path.to_path_buf(),
            dataset: dataset.to_string(),
            message: message.to_string(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }
}

/// `Result` with the IO crate's [`Error`] as its default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
