//! The runtime's one error type.

use std::sync::Arc;

use crate::graph::TaskKey;

/// Everything that can go wrong while building or executing a task graph.
///
/// Errors are cheap to clone: a failed task's error is handed to every dependent, and a dependent
/// reports the *root* failure as its `cause`, so the message that reaches the user always names the
/// task that actually went wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A task's kernel panicked. The panic was caught at the task boundary and the runtime is
    /// still healthy.
    #[error("task {key} panicked: {message}")]
    TaskPanicked {
        /// The task whose kernel panicked.
        key: TaskKey,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// A task's kernel returned an error.
    #[error("task {key} failed: {message}")]
    TaskFailed {
        /// The task that failed.
        key: TaskKey,
        /// What the kernel reported.
        message: String,
    },
    /// A task did not run because one of its inputs failed. `cause` is the root failure, never
    /// another `DependencyFailed`.
    #[error("task {key} did not run because a dependency failed: {cause}")]
    DependencyFailed {
        /// The task that could not run.
        key: TaskKey,
        /// The failure that started the chain.
        cause: Arc<Error>,
    },
    /// The task was cancelled before it produced a value.
    #[error("task {key} was cancelled")]
    Cancelled {
        /// The cancelled task.
        key: TaskKey,
    },
    /// A value did not have the type its consumer expected.
    #[error("task {key} produced a value that is not a {expected}")]
    TypeMismatch {
        /// The task whose value was read.
        key: TaskKey,
        /// The Rust type the consumer asked for.
        expected: &'static str,
    },
    /// A task names a dependency that is not in the graph.
    #[error("task {needed_by} depends on {key}, which is not in the graph")]
    MissingDependency {
        /// The key that could not be found.
        key: TaskKey,
        /// The task that needs it.
        needed_by: TaskKey,
    },
    /// A key was requested that is not in the graph.
    #[error("no task {key} in the graph")]
    MissingKey {
        /// The requested key.
        key: TaskKey,
    },
    /// The same key appears twice in one graph.
    #[error("task {key} appears twice in the graph")]
    DuplicateKey {
        /// The repeated key.
        key: TaskKey,
    },
    /// The graph is not a DAG.
    #[error("the graph has a cycle through task {key}")]
    Cycle {
        /// A task on the cycle.
        key: TaskKey,
    },
    /// A persisted partition's owning actor is gone.
    #[error("partition {key} was released and can no longer be read")]
    PartitionReleased {
        /// The partition's key.
        key: TaskKey,
    },
    /// Encoding or decoding a value failed.
    #[error("codec error for {what}: {message}")]
    Codec {
        /// What was being encoded or decoded.
        what: String,
        /// What went wrong.
        message: String,
    },
    /// The runtime could not start a thread.
    #[error("failed to start runtime thread {thread}: {source}")]
    Spawn {
        /// The thread's name.
        thread: String,
        /// The OS error.
        source: Arc<std::io::Error>,
    },
    /// The runtime was shut down while work was pending.
    #[error("the runtime has shut down")]
    Shutdown,
    /// An IO error, with the path it concerns.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The OS error.
        source: Arc<std::io::Error>,
    },
}

/// `Result` with the runtime's [`Error`] as its default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
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
