//! One compute: a task actor per task, realised as message flows.
//!
//! Each task of the plan is a small actor with a fixed-slot mailbox: one slot per input. A
//! finished task sends `PartitionReady` to each dependent by writing its outcome into the
//! dependent's slot and counting down the dependent's pending inputs. The message that fills the
//! last slot makes the actor runnable: the `threads` scheduler queues it on the work-stealing pool
//! (the first one that becomes ready is run next on the same worker, so a chain never touches a
//! deque), and the `sync` scheduler runs actors in topological order on the calling thread.
//!
//! An actor that runs takes its inputs out of its mailbox, so a value is released as soon as its
//! last dependent has consumed it; only requested outputs are kept, in result cells. Persisted
//! inputs are read from the values their [`PartitionRef`](crate::PartitionRef)s hold (read back
//! from disk if they spilled) and delivered to the mailbox the same way.
//!
//! Sources are withheld: the `threads` scheduler queues root tasks (tasks without inputs:
//! sources, and reads of persisted partitions), in the order the graph lists them, as the
//! pool's background work, which a worker takes only when it finds nothing else to run. So the
//! work a source made ready runs before the next source is read, and a pipeline over many
//! partitions holds a few partitions at a time instead of reading every source first.
//!
//! What a finished task sends on is *held* by the runtime's [`Memory`]: a large value is
//! counted against the memory limit and may spill to disk until a dependent takes it; a
//! value that cannot fit fails its task with `MemoryLimit`. A source task waits while memory
//! is past the pause fraction.
//!
//! A runtime that round-trips values (a testing aid) encodes each kernel's value with its
//! codec and sends the decoded copy on instead, as a cluster would move it.
//!
//! Cancellation: a cancelled compute ends at once for its waiters, with `Cancelled`. Its
//! actors that have not run fail with `Cancelled` instead of running their kernels, so the rest
//! of the graph drains without work, and the pool workers running its kernels are retired (see
//! `pool/mod.rs`), so a kernel that never returns costs the pool no thread.
//!
//! Failure: an actor with a failed input does not run its kernel; it fails with
//! `DependencyFailed`, naming the root cause of the first failed input in dependency order. It
//! still sends `PartitionReady` (carrying the error) to its dependents, so nothing waits forever
//! and every scheduler reports the same error for the same graph.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::completion::Completion;
use crate::error::{Error, Result};
use crate::events::{ComputeId, EventBus, EventKind};
use crate::graph::TaskKind;
use crate::memory::{Held, Memory};
use crate::plan::{Plan, NOT_OUTPUT};
use crate::pool::{Job, Registry, Runnable};
use crate::remote::round_trip;
use crate::value::{run_kernel, Outcome, Value};

/// What a mailbox slot or a result cell holds: a held value, or the failure in its place.
type Delivery = std::result::Result<Held, Arc<Error>>;

pub(crate) struct Execution {
    id: ComputeId,
    plan: Plan,
    /// Inputs still missing, per task.
    pending: Box<[AtomicU32]>,
    /// The mailboxes: one slot per input edge.
    slots: Box<[Mutex<Option<Delivery>>]>,
    results: Box<[Mutex<Option<Delivery>>]>,
    remaining: AtomicUsize,
    done: Completion<()>,
    /// `None` for the sync scheduler.
    pool: Option<Arc<Registry>>,
    events: Arc<EventBus>,
    memory: Arc<Memory>,
    /// Whether each task's value is encoded and decoded before its dependents see it.
    round_trip: bool,
    cancelled: AtomicBool,
}

impl Execution {
    pub(crate) fn new(
        id: ComputeId,
        plan: Plan,
        pool: Option<Arc<Registry>>,
        events: Arc<EventBus>,
        memory: Arc<Memory>,
        round_trip: bool,
    ) -> Arc<Self> {
        let n = plan.len();
        let pending = (0..n as u32)
            .map(|t| AtomicU32::new(plan.slots(t).len() as u32))
            .collect();
        let slots = (0..plan.dependents.len())
            .map(|_| Mutex::new(None))
            .collect();
        let results = (0..plan.n_results).map(|_| Mutex::new(None)).collect();
        Arc::new(Execution {
            id,
            pending,
            slots,
            results,
            remaining: AtomicUsize::new(n),
            done: Completion::new(),
            pool,
            events,
            memory,
            round_trip,
            plan,
            cancelled: AtomicBool::new(false),
        })
    }

    /// Starts the compute on the pool: fetches persisted inputs and queues every root.
    pub(crate) fn start_threads(self: &Arc<Self>) {
        self.events.compute(
            self.id,
            EventKind::ComputeStarted {
                tasks: self.plan.len(),
            },
        );
        if self.plan.len() == 0 {
            self.finish();
            return;
        }
        let pool = self.pool.clone().expect("threads execution has a pool");
        for &t in &self.plan.roots {
            self.queued(t);
        }
        let me: Arc<dyn Runnable> = self.clone();
        pool.spawn_background(self.plan.roots.iter().map(|&t| Job::Indexed(me.clone(), t)));
    }

    /// Runs the whole compute on the calling thread, in topological order.
    pub(crate) fn run_sync(self: &Arc<Self>) {
        self.events.compute(
            self.id,
            EventKind::ComputeStarted {
                tasks: self.plan.len(),
            },
        );
        if self.plan.len() == 0 {
            self.finish();
            return;
        }
        for i in 0..self.plan.topo.len() {
            let t = self.plan.topo[i];
            match &self.plan.kinds[t as usize] {
                TaskKind::Stored(partition) => {
                    self.queued(t);
                    let delivery = partition.read().map(Held::Value).map_err(Arc::new);
                    self.deliver(t, delivery);
                }
                TaskKind::Compute(_) => {
                    self.queued(t);
                    self.run_task(t);
                }
            }
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.is_done()
    }

    /// Cancels the compute: its waiters see `Cancelled` now, its tasks that have not run never
    /// will, and the workers running its kernels are replaced. Returns `false` if it had
    /// already ended.
    pub(crate) fn cancel(&self) -> bool {
        if self.done.is_done() || self.cancelled.swap(true, Ordering::AcqRel) {
            return false;
        }
        if let Some(pool) = &self.pool {
            pool.retire_compute(self.id.0);
        }
        self.done.complete(())
    }

    pub(crate) fn wait(&self) {
        self.done.wait(self.pool.as_ref());
    }

    pub(crate) fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.done.poll(cx)
    }

    /// The requested values, in request order, once done. The result cells are emptied, so
    /// that the caller holds the only reference to each value (and a persisted value is
    /// counted once).
    pub(crate) fn outputs(&self) -> Result<Vec<Value>> {
        self.outputs_held()?
            .into_iter()
            .map(Held::into_value)
            .collect()
    }

    /// The requested values as they are held, in request order, once done: a spilled value
    /// stays on disk. The result cells are emptied.
    pub(crate) fn outputs_held(&self) -> Result<Vec<Held>> {
        if self.cancelled.load(Ordering::Acquire) {
            let first = self.plan.requested.first().and_then(|&r| {
                let t = self.plan.result_of.iter().position(|&x| x == r)?;
                Some(self.plan.keys[t].clone())
            });
            let key = first.unwrap_or_else(|| crate::graph::TaskKey::new("compute", self.id.0));
            return Err(Error::Cancelled { key });
        }
        let mut taken: Vec<Option<Held>> = vec![None; self.results.len()];
        self.plan
            .requested
            .iter()
            .map(|&r| {
                if let Some(held) = &taken[r as usize] {
                    return Ok(held.clone());
                }
                let held = match self.results[r as usize].lock().take() {
                    Some(Ok(held)) => Ok(held),
                    Some(Err(e)) => Err((*e).clone()),
                    None => Err(Error::Shutdown),
                }?;
                taken[r as usize] = Some(held.clone());
                Ok(held)
            })
            .collect()
    }

    fn queued(&self, t: u32) {
        self.events.task(
            self.id,
            EventKind::TaskQueued,
            &self.plan.keys[t as usize],
            Duration::ZERO,
        );
    }

    /// Runs task `t`'s actor: takes its inputs, runs its kernel, sends its outcome on. Returns a
    /// dependent that became ready, for the caller to run next.
    fn run_task(self: &Arc<Self>, t: u32) -> Option<u32> {
        let key = &self.plan.keys[t as usize];
        let kernel = match &self.plan.kinds[t as usize] {
            TaskKind::Compute(kernel) => kernel,
            TaskKind::Stored(partition) => {
                // A persisted partition is read here, on the pool, when a worker takes it as
                // it takes a source: a spilled one is read back from disk only as its readers
                // are about to run. It is counted by the partition that persists it.
                self.memory.wait_unpaused();
                let delivery = partition.read().map(Held::Value).map_err(Arc::new);
                return self.deliver(t, delivery);
            }
        };
        let slots = self.plan.slots(t);
        if slots.is_empty() && self.pool.is_some() {
            self.memory.wait_unpaused();
        }
        let mut inputs = Vec::with_capacity(slots.len());
        let mut failed = None;
        for slot in slots {
            let delivery = self.slots[slot].lock().take();
            match delivery.map(|d| d.and_then(|held| held.into_value().map_err(Arc::new))) {
                Some(Ok(v)) => inputs.push(v),
                Some(Err(e)) => {
                    failed.get_or_insert(e);
                }
                None => {
                    failed.get_or_insert_with(|| {
                        Arc::new(Error::failed(
                            key.clone(),
                            "an input arrived twice or never",
                        ))
                    });
                }
            }
        }
        let outcome = match failed {
            Some(e) => Err(Arc::new(e.for_dependent(key))),
            None if self.cancelled.load(Ordering::Relaxed) => {
                Err(Arc::new(Error::Cancelled { key: key.clone() }))
            }
            None => {
                if self.pool.is_some() {
                    crate::pool::note_compute(self.id.0);
                }
                let timed = self.events.is_active();
                if timed {
                    self.events
                        .task(self.id, EventKind::TaskStarted, key, Duration::ZERO);
                }
                let started = timed.then(Instant::now);
                let mut result = run_kernel(key, kernel, inputs);
                if self.round_trip {
                    result = result.and_then(|v| round_trip(key, &v));
                }
                if let Some(started) = started {
                    let kind = match &result {
                        Ok(_) => EventKind::TaskFinished,
                        Err(e) => EventKind::TaskFailed {
                            error: Arc::new(e.clone()),
                        },
                    };
                    self.events.task(self.id, kind, key, started.elapsed());
                }
                result.map_err(Arc::new)
            }
        };
        if let Err(e) = &outcome {
            if matches!(**e, Error::DependencyFailed { .. }) {
                self.events.task(
                    self.id,
                    EventKind::TaskFailed { error: e.clone() },
                    key,
                    Duration::ZERO,
                );
            }
        }
        self.complete(t, outcome)
    }

    /// Holds task `t`'s value for its readers (its dependents and the caller), and sends it on.
    fn complete(self: &Arc<Self>, t: u32, outcome: Outcome) -> Option<u32> {
        let read =
            !self.plan.dependents(t).is_empty() || self.plan.result_of[t as usize] != NOT_OUTPUT;
        let delivery = match outcome {
            Ok(v) if read => {
                let key = &self.plan.keys[t as usize];
                self.memory.hold_in(self.id, key, v).map_err(|e| {
                    let e = Arc::new(e);
                    self.events.task(
                        self.id,
                        EventKind::TaskFailed { error: e.clone() },
                        key,
                        Duration::ZERO,
                    );
                    e
                })
            }
            Ok(v) => Ok(Held::Value(v)),
            Err(e) => Err(e),
        };
        self.deliver(t, delivery)
    }

    /// Sends task `t`'s held value, or its failure, to its dependents (`PartitionReady`) and to
    /// its result cell. Queues dependents that became ready, except the first, which it
    /// returns.
    fn deliver(self: &Arc<Self>, t: u32, delivery: Delivery) -> Option<u32> {
        let mut next = None;
        for &(d, slot) in self.plan.dependents(t) {
            *self.slots[slot as usize].lock() = Some(delivery.clone());
            if self.pending[d as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                if let Some(pool) = &self.pool {
                    self.queued(d);
                    if next.is_none() {
                        next = Some(d);
                    } else {
                        pool.spawn(Job::Indexed(self.clone(), d));
                    }
                }
            }
        }
        let r = self.plan.result_of[t as usize];
        if r != NOT_OUTPUT {
            *self.results[r as usize].lock() = Some(delivery);
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.finish();
        }
        next
    }

    fn finish(&self) {
        self.memory.relieve();
        self.events.compute(self.id, EventKind::ComputeFinished);
        self.done.complete(());
    }
}

impl Runnable for Execution {
    fn run(self: Arc<Self>, t: u32) {
        let mut next = Some(t);
        while let Some(t) = next {
            next = self.run_task(t);
        }
    }
}
