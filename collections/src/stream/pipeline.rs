//! A running pipeline: its stages on the runtime, with the sink's result.

use std::sync::Arc;

use parking_lot::Mutex;
use partita_runtime::{StageGroup, StageMetrics};

use crate::error::Result;

/// A started pipeline. [`stop`](Self::stop) drains it, [`abort`](Self::abort) stops it at once,
/// [`wait`](Self::wait) waits for a finite stream to end.
///
/// Its stages run on the runtime it was started on, which owns their threads: shutting that
/// runtime down aborts and joins them, and `wait` then fails with
/// [`partita_runtime::Error::Shutdown`].
pub struct Pipeline<R> {
    group: StageGroup,
    result: Arc<Mutex<Option<R>>>,
}

impl<R> std::fmt::Debug for Pipeline<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("group", &self.group)
            .finish()
    }
}

impl<R> Pipeline<R> {
    pub(crate) fn new(group: StageGroup, result: Arc<Mutex<Option<R>>>) -> Self {
        Pipeline { group, result }
    }

    /// The metrics of every stage, source first.
    pub fn metrics(&self) -> Vec<StageMetrics> {
        self.group.metrics()
    }

    /// Whether every stage has finished.
    pub fn is_finished(&self) -> bool {
        self.group.is_finished()
    }

    /// Waits for the stream to end (a finite source ran out, or [`stop`](Self::stop) was called
    /// from another handle) and returns the sink's result.
    ///
    /// # Errors
    /// The first failure, under [`ErrorPolicy::Fail`](crate::ErrorPolicy::Fail); a stage that
    /// panicked, as [`partita_runtime::Error::TaskPanicked`] for the stage's key; or
    /// [`partita_runtime::Error::Shutdown`] when the runtime shut down before the sink finished.
    pub fn wait(self) -> Result<R> {
        self.group.wait()?;
        self.result
            .lock()
            .take()
            .ok_or_else(|| partita_runtime::Error::Shutdown.into())
    }

    /// Stops the sources and drains: every record a source has accepted goes through to the
    /// sink. Returns the sink's result.
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    pub fn stop(self) -> Result<R> {
        self.group.control().stop();
        self.wait()
    }

    /// Stops the sources and drains, as [`stop`](Self::stop) does, but for no longer than
    /// `timeout`; then aborts.
    ///
    /// # Errors
    /// As [`wait`](Self::wait), or a failure naming the first stage when the stream did not
    /// drain in time.
    pub fn stop_within(self, timeout: std::time::Duration) -> Result<R> {
        self.group.stop_within(timeout)?;
        self.result
            .lock()
            .take()
            .ok_or_else(|| partita_runtime::Error::Shutdown.into())
    }

    /// Stops every stage at once; records in flight are dropped. This is the stream's cancel:
    /// it returns within about half a second even when a stage is blocked in user code,
    /// leaving that stage to end on its own thread.
    pub fn abort(self) {
        self.group.abort();
    }
}
