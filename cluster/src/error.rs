//! The cluster crate's one error type.

/// What can go wrong starting, joining or talking to a cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing or wrong: no secret, an address that does not parse.
    #[error("{message}")]
    Config {
        /// What is wrong and how to set it.
        message: String,
    },
    /// A connection could not be made or served.
    #[error("{what}: {source}")]
    Transport {
        /// The address or service involved.
        what: String,
        /// tonic's error.
        source: tonic::transport::Error,
    },
    /// The other side answered with a gRPC error (a refused secret, a lost peer).
    #[error("{what}: {}", source.message())]
    Status {
        /// The call and address involved.
        what: String,
        /// The status it returned.
        source: tonic::Status,
    },
    /// An IO error, with the path or address it concerns.
    #[error("{path}: {source}")]
    Io {
        /// The file or address involved.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The runtime reported a failure (a graph that cannot ship, a codec, a task).
    #[error(transparent)]
    Runtime(#[from] partita_runtime::Error),
}

/// `Result` with the cluster's [`Error`] as its default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn status(what: impl Into<String>, source: tonic::Status) -> Error {
        Error::Status {
            what: what.into(),
            source,
        }
    }

    /// The error as the runtime reports it: runtime errors as they are, the rest as
    /// [`partita_runtime::Error::Cluster`].
    pub fn into_runtime(self) -> partita_runtime::Error {
        match self {
            Error::Runtime(e) => e,
            other => partita_runtime::Error::Cluster {
                message: other.to_string(),
            },
        }
    }
}
