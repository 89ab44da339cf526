//! The runtime's one error type.

use std::sync::Arc;

use crate::graph::TaskKey;

/// Everything that can go wrong while building or executing a task graph.
///
/// Errors are cheap to clone: a failed task's error is handed to every dependent, and a dependent
/// reports the *root* failure as its `cause`, so the message that reaches the user always names the
/// task that actually went wrong.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// A task's kernel panicked. The panic was caught at the task boundary and the runtime is
    /// still healthy.
    TaskPanicked {
        /// The task whose kernel panicked.
        key: TaskKey,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// A task's kernel returned an error. `source` is that error, typed (an Arrow, Parquet,
    /// HDF5 or IO error, a user's own error type), or a [`Message`] when the kernel had only a
    /// text to give; [`root_cause`](Error::root_cause) walks down to the innermost one.
    TaskFailed {
        /// The task that failed.
        key: TaskKey,
        /// What the kernel reported.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// A task did not run because one of its inputs failed. `cause` is the root failure, never
    /// another `DependencyFailed`, and it is the error's [`source`](std::error::Error::source),
    /// so a walk down the source chain goes through it to what the failed kernel reported.
    DependencyFailed {
        /// The task that could not run.
        key: TaskKey,
        /// The failure that started the chain.
        cause: Arc<Error>,
    },
    /// The task was cancelled before it produced a value.
    Cancelled {
        /// The cancelled task.
        key: TaskKey,
    },
    /// A value did not have the type its consumer expected.
    TypeMismatch {
        /// The task whose value was read.
        key: TaskKey,
        /// The Rust type the consumer asked for.
        expected: &'static str,
    },
    /// A task names a dependency that is not in the graph.
    MissingDependency {
        /// The key that could not be found.
        key: TaskKey,
        /// The task that needs it.
        needed_by: TaskKey,
    },
    /// A key was requested that is not in the graph.
    MissingKey {
        /// The requested key.
        key: TaskKey,
    },
    /// The same key appears twice in one graph.
    DuplicateKey {
        /// The repeated key.
        key: TaskKey,
    },
    /// The graph is not a DAG.
    Cycle {
        /// A task on the cycle.
        key: TaskKey,
    },
    /// A persisted partition's owning actor is gone.
    PartitionReleased {
        /// The partition's key.
        key: TaskKey,
    },
    /// Encoding or decoding a value failed.
    Codec {
        /// What was being encoded or decoded.
        what: String,
        /// What went wrong.
        message: String,
    },
    /// The runtime could not start a thread.
    Spawn {
        /// The thread's name.
        thread: String,
        /// The OS error.
        source: Arc<std::io::Error>,
    },
    /// The runtime was shut down while work was pending.
    Shutdown,
    /// A task cannot leave the process: its work is a plain closure, or a literal whose type has
    /// no codec. Raised before anything is sent.
    NotTransportable {
        /// The layer that holds the task.
        layer: String,
        /// The task.
        key: TaskKey,
        /// Why it cannot be shipped.
        reason: String,
        /// What to change.
        fix: String,
    },
    /// A graph was written by another executable, whose operators and functions may differ.
    BuildMismatch {
        /// This process's build id.
        ours: String,
        /// The sender's build id.
        theirs: String,
    },
    /// Bytes from another process are malformed, of another format version, or name an operator
    /// or codec this executable lacks.
    Wire {
        /// What is wrong.
        message: String,
    },
    /// A failure in another process, as it was reported there.
    Remote {
        /// The kind of the original error (`TaskPanicked`, `TaskFailed`, ...).
        kind: String,
        /// Its message.
        message: String,
        /// The keys it concerns: the failed task first, then the root failure's.
        keys: Vec<TaskKey>,
    },
    /// An IO error, with the path it concerns.
    Io {
        /// The file involved.
        path: String,
        /// The OS error.
        source: SharedError<std::io::Error>,
    },
    /// The cluster could not be reached, refused this client, or lost what a compute needed: a
    /// worker, a connection, the scheduler.
    Cluster {
        /// What went wrong, naming the address or worker involved.
        message: String,
    },
    /// A task was running on every one of these workers when it died: it is taken to kill its
    /// worker, and is not tried again.
    KilledWorker {
        /// The task.
        key: TaskKey,
        /// The workers that died while it ran, in order.
        workers: Vec<String>,
    },
    /// A task's value is larger than the runtime's memory limit.
    MemoryLimit {
        /// The task whose value did not fit.
        key: TaskKey,
        /// The value's size, in bytes.
        bytes: u64,
        /// The runtime's limit, in bytes.
        limit: u64,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::TaskPanicked { key, message } => write!(f, "task {key} panicked: {message}"),
            Error::TaskFailed { key, source } => write!(f, "task {key} failed: {source}"),
            Error::DependencyFailed { key, cause } => write!(
                f,
                "task {key} did not run because a dependency failed: {cause}"
            ),
            Error::Cancelled { key } => write!(f, "task {key} was cancelled"),
            Error::TypeMismatch { key, expected } => {
                write!(f, "task {key} produced a value that is not a {expected}")
            }
            Error::MissingDependency { key, needed_by } => {
                write!(
                    f,
                    "task {needed_by} depends on {key}, which is not in the graph"
                )
            }
            Error::MissingKey { key } => write!(f, "no task {key} in the graph"),
            Error::DuplicateKey { key } => write!(f, "task {key} appears twice in the graph"),
            Error::Cycle { key } => write!(f, "the graph has a cycle through task {key}"),
            Error::PartitionReleased { key } => {
                write!(f, "partition {key} was released and can no longer be read")
            }
            Error::Codec { what, message } => write!(f, "codec error for {what}: {message}"),
            Error::Spawn { thread, source } => {
                write!(f, "failed to start runtime thread {thread}: {source}")
            }
            Error::Shutdown => write!(f, "the runtime has shut down"),
            Error::NotTransportable {
                layer,
                key,
                reason,
                fix,
            } => write!(
                f,
                "layer {layer}, task {key}, cannot leave this process: {reason}. Fix: {fix}"
            ),
            Error::BuildMismatch { ours, theirs } => write!(
                f,
                "the graph was built by executable {theirs}, but this process runs {ours}; \
                 run the same build on both sides"
            ),
            Error::Wire { message } => write!(f, "wire format: {message}"),
            Error::Remote { message, .. } => write!(f, "{message}"),
            Error::Io { path, source } => write!(f, "{path}: {source}"),
            Error::Cluster { message } => write!(f, "cluster: {message}"),
            Error::KilledWorker { key, workers } => write!(
                f,
                "task {key} was running on {} workers when they died ({}): it is taken to kill \
                 its worker and is not tried again; raise the scheduler's allowed failures \
                 (PARTITA_ALLOWED_FAILURES) if the deaths had another cause",
                workers.len(),
                workers.join(", ")
            ),
            Error::MemoryLimit { key, bytes, limit } => write!(
                f,
                "task {key} made a value of {bytes} bytes, which does not fit in the memory \
                 limit of {limit} bytes; raise the limit with \
                 Runtime::builder().memory_limit(bytes), or split the work into more, smaller \
                 partitions"
            ),
        }
    }
}

/// Written out rather than derived: a derived `source` of an `Arc<dyn Error>` field is the
/// `Arc`, which downcasts to nothing; this one is the error inside, so a walk down the chain
/// (`anyhow`'s, or a plain loop over `source`) can downcast to the kernel's own error type.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::TaskFailed { source, .. } => Some(&**source),
            Error::DependencyFailed { cause, .. } => Some(&**cause),
            Error::Spawn { source, .. } => Some(&**source),
            Error::Io { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

/// `Result` with the runtime's [`Error`] as its default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error shared by the clones of the error that holds it, so that an error enum can keep a
/// typed cause and stay `Clone`.
///
/// Unlike an `Arc<E>` field, a `#[source] SharedError<E>` field in a `thiserror` enum gives `E`
/// itself as the enum's [`source`](std::error::Error::source), so a walk down the source chain
/// can downcast to `E`: an `Arc<E>` is an error of its own type and downcasts to nothing.
///
/// ```
/// use partita_runtime::SharedError;
/// #[derive(Debug, Clone, thiserror::Error)]
/// #[error("reading data: {source}")]
/// struct ReadFailed {
///     source: SharedError<std::io::Error>,
/// }
/// let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
/// let e = ReadFailed { source: SharedError::new(io) };
/// let copy = e.clone();
/// let cause = std::error::Error::source(&copy).unwrap();
/// assert!(cause.downcast_ref::<std::io::Error>().is_some());
/// ```
#[derive(Debug)]
pub struct SharedError<E: ?Sized>(Arc<E>);

impl<E> SharedError<E> {
    /// Shares `error`.
    pub fn new(error: E) -> Self {
        SharedError(Arc::new(error))
    }
}

impl SharedError<dyn std::error::Error + Send + Sync> {
    /// Shares `error` as a `dyn Error`, for a cause that may be one of several types.
    pub fn new_dyn(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        SharedError(Arc::new(error))
    }
}

impl<E: ?Sized> Clone for SharedError<E> {
    fn clone(&self) -> Self {
        SharedError(self.0.clone())
    }
}

impl<E: ?Sized> std::ops::Deref for SharedError<E> {
    type Target = E;
    fn deref(&self) -> &E {
        &self.0
    }
}

impl<E: ?Sized + std::fmt::Display> std::fmt::Display for SharedError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E> From<E> for SharedError<E> {
    fn from(error: E) -> Self {
        SharedError::new(error)
    }
}

/// An error that is only a message: what a kernel reports when it has no error value to give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Message(pub String);

impl Error {
    /// [`Error::TaskFailed`] for `key`, with `source` kept as it is: any error type, typed,
    /// or a `String` or `&str`, which keeps its text (what `?` converts into a
    /// `Box<dyn Error + Send + Sync>`).
    ///
    /// ```
    /// use partita_runtime::{Error, TaskKey};
    /// let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
    /// let e = Error::failed_by(TaskKey::new("read", 3), io);
    /// assert_eq!(e.to_string(), "task (read, 3) failed: no such file");
    /// assert!(e.root_cause().downcast_ref::<std::io::Error>().is_some());
    /// let e = Error::failed_by(TaskKey::new("parse", 0), format!("row {} is malformed", 17));
    /// assert_eq!(e.root_cause().to_string(), "row 17 is malformed");
    /// ```
    pub fn failed_by(
        key: TaskKey,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::TaskFailed {
            key,
            source: Arc::from(source.into()),
        }
    }

    /// [`Error::TaskFailed`] for `key` with the error a user function returned as its source,
    /// as `Runtime::try_submit` reports it.
    pub(crate) fn failed_from(
        key: &TaskKey,
        e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::TaskFailed {
            key: key.clone(),
            source: Arc::from(e.into()),
        }
    }

    /// [`Error::TaskFailed`] for `key` with a message ([`Message`]) as its source.
    pub fn failed(key: TaskKey, message: impl Into<String>) -> Error {
        Error::failed_by(key, Message(message.into()))
    }

    /// The innermost error under this one, down the [`source`](std::error::Error::source)
    /// chain: through `DependencyFailed` to the failed task, then down what its kernel reported.
    ///
    /// ```
    /// use partita_runtime::{Error, TaskKey};
    /// let e = Error::failed(TaskKey::new("parse", 0), "row 17 is malformed");
    /// assert_eq!(e.root_cause().to_string(), "row 17 is malformed");
    /// ```
    pub fn root_cause(&self) -> &(dyn std::error::Error + 'static) {
        let mut cur: &(dyn std::error::Error + 'static) = self;
        while let Some(next) = cur.source() {
            cur = next;
        }
        cur
    }

    pub(crate) fn wire(message: impl Into<String>) -> Error {
        Error::Wire {
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source: SharedError::new(source),
        }
    }

    /// The name of the error's kind, as it is reported across processes.
    pub fn kind(&self) -> &str {
        match self {
            Error::TaskPanicked { .. } => "TaskPanicked",
            Error::TaskFailed { .. } => "TaskFailed",
            Error::DependencyFailed { .. } => "DependencyFailed",
            Error::Cancelled { .. } => "Cancelled",
            Error::TypeMismatch { .. } => "TypeMismatch",
            Error::MissingDependency { .. } => "MissingDependency",
            Error::MissingKey { .. } => "MissingKey",
            Error::DuplicateKey { .. } => "DuplicateKey",
            Error::Cycle { .. } => "Cycle",
            Error::PartitionReleased { .. } => "PartitionReleased",
            Error::Codec { .. } => "Codec",
            Error::Spawn { .. } => "Spawn",
            Error::Shutdown => "Shutdown",
            Error::NotTransportable { .. } => "NotTransportable",
            Error::BuildMismatch { .. } => "BuildMismatch",
            Error::Wire { .. } => "Wire",
            Error::Remote { kind, .. } => kind,
            Error::Io { .. } => "Io",
            Error::Cluster { .. } => "Cluster",
            Error::MemoryLimit { .. } => "MemoryLimit",
            Error::KilledWorker { .. } => "KilledWorker",
        }
    }

    /// The task this error concerns, if any.
    pub fn key(&self) -> Option<&TaskKey> {
        match self {
            Error::TaskPanicked { key, .. }
            | Error::TaskFailed { key, .. }
            | Error::DependencyFailed { key, .. }
            | Error::Cancelled { key }
            | Error::TypeMismatch { key, .. }
            | Error::MissingKey { key }
            | Error::DuplicateKey { key }
            | Error::Cycle { key }
            | Error::PartitionReleased { key }
            | Error::MemoryLimit { key, .. }
            | Error::KilledWorker { key, .. }
            | Error::NotTransportable { key, .. } => Some(key),
            Error::MissingDependency { needed_by, .. } => Some(needed_by),
            Error::Remote { keys, .. } => keys.first(),
            _ => None,
        }
    }

    /// The keys from this error down to its root failure: the task that reports it first.
    pub fn key_chain(&self) -> Vec<TaskKey> {
        let mut keys: Vec<TaskKey> = Vec::new();
        if let Error::Remote { keys, .. } = self {
            return keys.clone();
        }
        keys.extend(self.key().cloned());
        if let Error::DependencyFailed { cause, .. } = self {
            keys.extend(cause.key_chain());
        }
        keys
    }

    /// The failure at the root of a chain of `DependencyFailed` errors.
    pub fn root(&self) -> &Error {
        match self {
            Error::DependencyFailed { cause, .. } => cause,
            other => other,
        }
    }

    /// The error a task sees when its input failed with `self`.
    pub(crate) fn for_dependent(self: &Arc<Self>, key: &TaskKey) -> Error {
        let cause = match &**self {
            Error::DependencyFailed { cause, .. } => cause.clone(),
            _ => self.clone(),
        };
        Error::DependencyFailed {
            key: key.clone(),
            cause,
        }
    }
}
