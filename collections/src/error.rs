//! The collections' one error type.

use partita_runtime::SharedError;

/// What can go wrong building or computing a collection.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The runtime reported a failure: a task panicked or failed, a dependency failed, the graph
    /// was malformed, or work was cancelled.
    #[error(transparent)]
    Runtime(#[from] partita_runtime::Error),
    /// A query does not fit the data's schema: an unknown column, or operands of the wrong type.
    #[error("{message}")]
    Schema {
        /// What does not fit, naming the column.
        message: String,
    },
    /// Array shapes or chunks that do not fit together: operands that cannot be broadcast, an
    /// axis out of range, chunks that do not cut the shape.
    #[error("{message}")]
    Shape {
        /// What does not fit, with the shapes involved.
        message: String,
    },
    /// An element type that does not fit: a cast that cannot be safe, or data of another dtype
    /// than the one asked for.
    #[error("{message}")]
    DType {
        /// What does not fit, naming both dtypes.
        message: String,
    },
    /// An arrow kernel failed (a cast that cannot be done, say).
    #[error("arrow: {source}")]
    Arrow {
        /// Arrow's error.
        source: SharedError<arrow::error::ArrowError>,
    },
    /// A reader failed to re-plan itself for a query's columns and filters (a
    /// [`ColumnSource`](crate::ColumnSource)): its own error, kept as the source.
    #[error("{source}")]
    Reader {
        /// The reader's error (`partita_io::Error` for the built-in readers).
        source: SharedError<dyn std::error::Error + Send + Sync>,
    },
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::Arrow {
            source: SharedError::new(e),
        }
    }
}

impl Error {
    /// [`Error::Reader`] holding `source`.
    pub fn reader(source: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Reader {
            source: SharedError::new_dyn(source),
        }
    }

    pub(crate) fn shape(message: impl Into<String>) -> Error {
        Error::Shape {
            message: message.into(),
        }
    }

    pub(crate) fn dtype(message: impl Into<String>) -> Error {
        Error::DType {
            message: message.into(),
        }
    }

    /// The runtime error inside, if this is one.
    pub fn as_runtime(&self) -> Option<&partita_runtime::Error> {
        match self {
            Error::Runtime(e) => Some(e),
            _ => None,
        }
    }
}

/// `Result` with the collections' [`Error`] as its default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
