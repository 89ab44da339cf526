//! The IO crate's one error type.

use std::path::PathBuf;
use std::sync::Arc;

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
    /// A CSV file could not be read.
    #[error("{}: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line where known.
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
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }
}

/// `Result` with the IO crate's [`Error`] as its default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
