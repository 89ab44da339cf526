//! The schedulers, behind one enum.
//!
//! Both in-process schedulers execute the same compiled plan with the same task actors (see
//! [`execution`](self::execution)); they differ only in who runs a ready actor:
//! - `Sync` runs every task on the calling thread in topological order. It is the reference
//!   semantics and the one to debug with.
//! - `Threads` runs ready tasks on the work-stealing pool, as their inputs arrive.

mod execution;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub(crate) use self::execution::Execution;
use crate::error::Result;
use crate::value::Value;

/// Which scheduler a runtime uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scheduler {
    /// One thread, topological order: the reference semantics, for debugging.
    Sync,
    /// Task actors on the work-stealing pool: the embedded default.
    #[default]
    Threads,
}

/// A compute in flight. Wait for it with [`wait`](Self::wait) or `.await`.
///
/// It keeps its runtime alive until the compute ends.
pub struct ComputeHandle {
    state: HandleState,
}

enum HandleState {
    Running {
        execution: Arc<Execution>,
        _runtime: crate::runtime::Runtime,
    },
    Failed(Option<crate::error::Error>),
    /// A compute on a cluster: the client completes it when the values (or the failure) come back.
    Remote {
        done: Arc<crate::completion::Completion<Result<Vec<Value>>>>,
        _runtime: crate::runtime::Runtime,
    },
}

impl std::fmt::Debug for ComputeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputeHandle")
            .field("done", &self.is_done())
            .finish()
    }
}

impl ComputeHandle {
    pub(crate) fn running(execution: Arc<Execution>, runtime: crate::runtime::Runtime) -> Self {
        ComputeHandle {
            state: HandleState::Running {
                execution,
                _runtime: runtime,
            },
        }
    }

    pub(crate) fn remote(
        done: Arc<crate::completion::Completion<Result<Vec<Value>>>>,
        runtime: crate::runtime::Runtime,
    ) -> Self {
        ComputeHandle {
            state: HandleState::Remote {
                done,
                _runtime: runtime,
            },
        }
    }

    pub(crate) fn failed(error: crate::error::Error) -> Self {
        ComputeHandle {
            state: HandleState::Failed(Some(error)),
        }
    }

    /// Cancels the compute. Its waiters get [`Error::Cancelled`](crate::Error::Cancelled) at
    /// once; its tasks that have not started never run, and the pool threads running its
    /// kernels are replaced by fresh ones, so a kernel that blocks forever does not hold up
    /// later computes. (A running kernel cannot be interrupted: it runs on, on its own thread,
    /// and its result is dropped.) On a cluster, the client stops waiting and closes the
    /// compute's stream, so the scheduler assigns none of its tasks any more and releases its
    /// values (within half a second); tasks already running on workers finish, and their
    /// results are dropped. Dropping a handle before its compute ends cancels it too. Returns `false` if the
    /// compute had already ended.
    ///
    /// ```
    /// use partita_runtime::{Error, Graph, Runtime, Task, TaskKey, value};
    /// let rt = Runtime::builder().threads(1).build()?;
    /// let mut g = Graph::new();
    /// let stuck = TaskKey::new("stuck", 0);
    /// g.add_layer("stuck", vec![Task::new(stuck.clone(), vec![], std::sync::Arc::new(|_| {
    ///     std::thread::sleep(std::time::Duration::from_secs(3600));
    ///     Ok(value(0_u8))
    /// }))]);
    /// let handle = rt.compute_async(&g, &[stuck]);
    /// # std::thread::sleep(std::time::Duration::from_millis(50));
    /// assert!(handle.cancel());
    /// assert!(matches!(handle.wait(), Err(Error::Cancelled { .. })));
    /// // The one pool thread was replaced: the next compute runs.
    /// let mut g = Graph::new();
    /// let k = TaskKey::new("next", 0);
    /// g.add_layer("next", vec![Task::new(k.clone(), vec![], std::sync::Arc::new(|_| Ok(value(7_u8))))]);
    /// assert_eq!(*rt.compute(&g, &[k])?[0].downcast_ref::<u8>().unwrap(), 7);
    /// # Ok::<(), partita_runtime::Error>(())
    /// ```
    pub fn cancel(&self) -> bool {
        match &self.state {
            HandleState::Running { execution, .. } => execution.cancel(),
            HandleState::Failed(_) => false,
            HandleState::Remote { done, .. } => {
                done.complete(Err(crate::error::Error::Cancelled {
                    key: crate::graph::TaskKey::new("compute", 0),
                }))
            }
        }
    }

    /// Whether the compute has ended.
    pub fn is_done(&self) -> bool {
        match &self.state {
            HandleState::Running { execution, .. } => execution.is_done(),
            HandleState::Failed(_) => true,
            HandleState::Remote { done, .. } => done.is_done(),
        }
    }

    /// Blocks until the compute ends and returns the requested values, in the order requested.
    ///
    /// # Errors
    /// The error of the first requested key that failed.
    pub fn wait(mut self) -> Result<Vec<Value>> {
        match &mut self.state {
            HandleState::Running { execution, .. } => {
                execution.wait();
                execution.outputs()
            }
            HandleState::Failed(e) => Err(e.take().unwrap_or(crate::error::Error::Shutdown)),
            HandleState::Remote { done, _runtime } => done.wait(_runtime.registry()),
        }
    }

    /// Like [`wait`](Self::wait), but the values as the runtime holds them, so that a spilled
    /// value stays on disk; values from a cluster are held through `memory` under `keys`.
    pub(crate) fn wait_held(
        mut self,
        memory: &Arc<crate::memory::Memory>,
        keys: &[crate::graph::TaskKey],
    ) -> Result<Vec<crate::memory::Held>> {
        match &mut self.state {
            HandleState::Running { execution, .. } => {
                execution.wait();
                execution.outputs_held()
            }
            HandleState::Failed(e) => Err(e.take().unwrap_or(crate::error::Error::Shutdown)),
            HandleState::Remote { done, _runtime } => {
                let values = done.wait(_runtime.registry())?;
                keys.iter()
                    .zip(values)
                    .map(|(k, v)| memory.hold(k, v))
                    .collect()
            }
        }
    }
}

impl Drop for ComputeHandle {
    fn drop(&mut self) {
        // Nobody can take the values any more.
        if !self.is_done() {
            self.cancel();
        }
    }
}

impl std::future::Future for ComputeHandle {
    type Output = Result<Vec<Value>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            HandleState::Running { execution, .. } => match execution.poll_done(cx) {
                Poll::Ready(()) => Poll::Ready(execution.outputs()),
                Poll::Pending => Poll::Pending,
            },
            HandleState::Failed(e) => {
                Poll::Ready(Err(e.take().unwrap_or(crate::error::Error::Shutdown)))
            }
            HandleState::Remote { done, .. } => done.poll(cx),
        }
    }
}
