//! One event stream for diagnostics: task and compute events, fanned out to subscribers.
//!
//! Every view (the progress bar, the profiler, later the dashboard) is a subscriber. When nobody
//! subscribes, emitting costs one relaxed load per task, and no clock is read.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::RwLock;

use crate::error::Error;
use crate::graph::TaskKey;

/// Identifies one call to compute, so that subscribers can tell concurrent computes apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ComputeId(pub u64);

/// What happened.
#[derive(Clone, Debug)]
pub enum EventKind {
    /// A compute started with this many tasks.
    ComputeStarted {
        /// The number of tasks after optimisation.
        tasks: usize,
    },
    /// A compute ended (successfully or not).
    ComputeFinished,
    /// A task's inputs are all there and it is queued to run.
    TaskQueued,
    /// A task's kernel started.
    TaskStarted,
    /// A task's kernel returned a value.
    TaskFinished,
    /// A task failed, or did not run because an input failed.
    TaskFailed {
        /// Why.
        error: Arc<Error>,
    },
    /// A task's value went to disk to keep the runtime under its memory target.
    Spilled {
        /// The bytes written.
        bytes: u64,
        /// The managed bytes still in memory after it.
        managed: u64,
    },
    /// A cluster worker that held values of this compute or ran its tasks was lost; what it
    /// held is recomputed from lineage and what it ran runs elsewhere.
    WorkerLost {
        /// The worker's name and address.
        worker: String,
    },
    /// A task that had finished is computed again, because its value was lost with a worker
    /// and something still needs it. `key` names the task.
    TaskRecomputed,
    /// Something a task reports that is not a failure: rows a reader skipped, say. Sent by
    /// [`notice`](crate::notice) from inside a kernel; `compute` is the compute whose task sent
    /// it, when the task ran on the pool.
    Notice {
        /// What happened, naming what it concerns (a file, a column).
        message: String,
    },
    /// A pool thread ran one task past the runtime's
    /// [`task_timeout`](crate::Builder::task_timeout); a fresh thread took its place, and the
    /// task runs on, on its own thread. `compute` is the compute the task belongs to
    /// (`ComputeId(0)` for a future).
    TaskStuck {
        /// The pool thread's number.
        thread: usize,
        /// How long the task had run when it was seen.
        running: std::time::Duration,
    },
}

/// One event. `key` is set for task events.
#[derive(Clone, Debug)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The compute it belongs to.
    pub compute: ComputeId,
    /// The task, for task events.
    pub key: Option<TaskKey>,
    /// The pool worker it happened on, or `None` for a thread outside the pool; for a task on a
    /// cluster, the number of the worker it ran on.
    pub thread: Option<usize>,
    /// When it happened.
    pub at: Instant,
    /// For `TaskFinished` and `TaskFailed`, how long the kernel ran.
    pub duration: Duration,
}

/// Fans events out to subscribers.
#[derive(Debug, Default)]
pub(crate) struct EventBus {
    active: AtomicBool,
    next_id: AtomicU64,
    subscribers: RwLock<Vec<(u64, Sender<Event>)>>,
}

/// A subscription to a runtime's events. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    bus: Arc<EventBus>,
    id: u64,
    receiver: Receiver<Event>,
}

impl Subscription {
    /// The channel the events arrive on.
    pub fn receiver(&self) -> &Receiver<Event> {
        &self.receiver
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.bus.unsubscribe(self.id);
    }
}

impl EventBus {
    /// Whether anybody listens; check before building an event.
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    pub(crate) fn subscribe(self: &Arc<Self>) -> Subscription {
        let (tx, rx) = crossbeam_channel::unbounded();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut subs = self.subscribers.write();
        subs.push((id, tx));
        self.active.store(true, Ordering::Relaxed);
        Subscription {
            bus: self.clone(),
            id,
            receiver: rx,
        }
    }

    fn unsubscribe(&self, id: u64) {
        let mut subs = self.subscribers.write();
        subs.retain(|(i, _)| *i != id);
        self.active.store(!subs.is_empty(), Ordering::Relaxed);
    }

    pub(crate) fn emit(&self, event: Event) {
        let subs = self.subscribers.read();
        if let Some(((_, last), rest)) = subs.split_last() {
            for (_, tx) in rest {
                let _ = tx.send(event.clone());
            }
            let _ = last.send(event);
        }
    }

    /// Emits a task event if anybody listens.
    #[inline]
    pub(crate) fn task(
        &self,
        compute: ComputeId,
        kind: EventKind,
        key: &TaskKey,
        duration: Duration,
    ) {
        if self.is_active() {
            self.emit(Event {
                kind,
                compute,
                key: Some(key.clone()),
                thread: crate::pool::current_worker_index(),
                at: Instant::now(),
                duration,
            });
        }
    }

    /// Emits `TaskFinished` for a task that ran elsewhere (on a cluster's worker `worker`).
    pub(crate) fn finished_on(
        &self,
        compute: ComputeId,
        key: TaskKey,
        worker: usize,
        duration: Duration,
    ) {
        if self.is_active() {
            self.emit(Event {
                kind: EventKind::TaskFinished,
                compute,
                key: Some(key),
                thread: Some(worker),
                at: Instant::now(),
                duration,
            });
        }
    }

    /// Emits a compute-level event for `key` (or none) if anybody listens, from outside the pool.
    pub(crate) fn remote(&self, compute: ComputeId, kind: EventKind, key: Option<TaskKey>) {
        if self.is_active() {
            self.emit(Event {
                kind,
                compute,
                key,
                thread: None,
                at: Instant::now(),
                duration: Duration::ZERO,
            });
        }
    }

    /// Emits a compute-level event if anybody listens.
    pub(crate) fn compute(&self, compute: ComputeId, kind: EventKind) {
        if self.is_active() {
            self.emit(Event {
                kind,
                compute,
                key: None,
                thread: crate::pool::current_worker_index(),
                at: Instant::now(),
                duration: Duration::ZERO,
            });
        }
    }
}
