//! The work-stealing compute pool.
//!
//! Each worker thread owns a LIFO deque; a shared injector takes work from outside the pool. A job
//! spawned by a running job goes to the spawning worker's own deque (depth-first, hot in cache),
//! and idle workers steal from the injector first, then from each other. See `README.md` beside
//! this file for the sleep protocol and for how a job that waits helps instead of blocking.
//!
//! A worker whose job will not return (user code that blocks, in a cancelled compute or future,
//! or past the runtime's task timeout) is *retired*: a new worker takes its place at once, in a
//! slot of its own, and the retired thread exits when its job returns, after handing its deque
//! to the injector. So the pool never shrinks to zero.

#[cfg(test)]
mod test;
mod watchdog;

pub(crate) use self::watchdog::start as start_watchdog;

use std::cell::OnceCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::runtime::RuntimeRef;

/// Work that runs on the pool with an index: a task of an execution, say. One `Arc` can stand
/// for many jobs, so spawning a task allocates nothing.
pub(crate) trait Runnable: Send + Sync + 'static {
    /// Runs job `index`.
    fn run(self: Arc<Self>, index: u32);
}

/// A unit of work on the pool.
pub(crate) enum Job {
    /// Job `index` of a shared runnable.
    Indexed(Arc<dyn Runnable>, u32),
    /// A one-off closure.
    Boxed(Box<dyn FnOnce() + Send>),
}

impl Job {
    fn run(self) {
        match self {
            Job::Indexed(r, i) => r.run(i),
            Job::Boxed(f) => f(),
        }
    }
}

/// Replacement workers a pool can start over its life, beyond its first ones.
const SPARE_SLOTS: usize = 256;

/// One worker's place in the registry, on cache lines of its own: its counters change with
/// every job.
#[derive(Default)]
#[repr(align(128))]
struct Slot {
    /// Set when its worker starts; it stays, so that a retired worker's deque can be emptied.
    stealer: OnceLock<Stealer<Job>>,
    /// Its worker is to exit once its job returns; another took its place.
    retired: AtomicBool,
    /// Jobs its worker started and finished: it is busy while they differ.
    started: AtomicU64,
    finished: AtomicU64,
    /// The compute whose task its worker runs or ran last (`u64::MAX`: none).
    compute: AtomicU64,
}

/// The shared state of a pool.
pub(crate) struct Registry {
    injector: Injector<Job>,
    /// Jobs that start only when a worker has nothing else to do: a compute's sources, so that
    /// the work they make ready runs before more sources are read.
    background: Injector<Job>,
    /// Room for every worker the pool may start; the first `spawned` are in use.
    slots: Box<[Slot]>,
    spawned: AtomicUsize,
    /// The number of workers that run jobs at any time.
    threads: usize,
    sleep: Sleep,
    terminating: AtomicBool,
    /// What a replacement worker needs: its runtime and its thread's name.
    runtime: RuntimeRef,
    name: String,
    /// The threads of the workers not retired, by slot, for the pool's drop to join.
    handles: Mutex<Vec<(usize, JoinHandle<()>)>>,
}

/// Idle workers park here. See `README.md`.
struct Sleep {
    lock: Mutex<()>,
    cond: Condvar,
    sleepers: AtomicUsize,
}

/// What a pool thread knows about itself.
struct WorkerContext {
    registry: Arc<Registry>,
    local: Worker<Job>,
    index: usize,
}

thread_local! {
    static WORKER: OnceCell<Rc<WorkerContext>> = const { OnceCell::new() };
}

/// The current thread's worker context, if it is a worker of `registry`.
fn worker_of(registry: &Arc<Registry>) -> Option<Rc<WorkerContext>> {
    WORKER.with(|w| {
        w.get()
            .filter(|c| Arc::ptr_eq(&c.registry, registry))
            .cloned()
    })
}

/// The index of the current pool worker, if this thread is one.
pub(crate) fn current_worker_index() -> Option<usize> {
    WORKER.with(|w| w.get().map(|c| c.index))
}

/// A running pool. Dropping it stops and joins its threads (not the retired ones, whose jobs
/// may never return).
pub(crate) struct Pool {
    registry: Arc<Registry>,
}

impl Pool {
    /// Starts `n` worker threads named `{name}-{i}`, each inside `runtime`'s install scope for
    /// its whole life, so a task that computes uses the runtime that runs it.
    pub(crate) fn start(n: usize, name: &str, runtime: RuntimeRef) -> Result<Pool> {
        let n = n.max(1);
        let registry = Arc::new(Registry {
            injector: Injector::new(),
            background: Injector::new(),
            slots: (0..n + SPARE_SLOTS).map(|_| Slot::default()).collect(),
            spawned: AtomicUsize::new(0),
            threads: n,
            sleep: Sleep {
                lock: Mutex::new(()),
                cond: Condvar::new(),
                sleepers: AtomicUsize::new(0),
            },
            terminating: AtomicBool::new(false),
            runtime,
            name: name.to_string(),
            handles: Mutex::new(Vec::with_capacity(n)),
        });
        let pool = Pool {
            registry: registry.clone(),
        };
        for _ in 0..n {
            registry.start_worker()?;
        }
        Ok(pool)
    }

    /// The pool's shared state.
    pub(crate) fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The number of worker threads.
    pub(crate) fn threads(&self) -> usize {
        self.registry.threads
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.registry.terminating.store(true, Ordering::SeqCst);
        self.registry.sleep.wake_all();
        let me = std::thread::current().id();
        let handles = std::mem::take(&mut *self.registry.handles.lock());
        for (_, handle) in handles {
            // A pool dropped from one of its own jobs cannot join itself; that thread exits on
            // its own once the job returns.
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
    }
}

impl Registry {
    /// Starts a worker in the next free slot.
    fn start_worker(self: &Arc<Self>) -> Result<usize> {
        let mut handles = self.handles.lock();
        let index = self.spawned.load(Ordering::Acquire);
        let slot = self.slots.get(index).ok_or_else(|| Error::Spawn {
            thread: format!("{}-{index}", self.name),
            source: Arc::new(std::io::Error::other(format!(
                "the pool has replaced {SPARE_SLOTS} workers already"
            ))),
        })?;
        let local = Worker::new_lifo();
        let _ = slot.stealer.set(local.stealer());
        slot.compute.store(u64::MAX, Ordering::Relaxed);
        // Published only once its stealer is set, for the workers that steal.
        self.spawned.store(index + 1, Ordering::Release);
        let (registry, runtime) = (self.clone(), self.runtime.clone());
        let thread = format!("{}-{index}", self.name);
        let handle = std::thread::Builder::new()
            .name(thread.clone())
            .spawn(move || runtime.install(|| worker_main(registry, local, index)))
            .map_err(|e| Error::Spawn {
                thread,
                source: Arc::new(e),
            })?;
        handles.push((index, handle));
        Ok(index)
    }

    /// Retires the worker in slot `index` and starts another in its place, so that a job that
    /// does not return costs the pool no thread. Returns whether it was retired now.
    pub(crate) fn retire(self: &Arc<Self>, index: usize) -> bool {
        let Some(slot) = self.slots.get(index) else {
            return false;
        };
        if self.terminating.load(Ordering::SeqCst) || slot.retired.swap(true, Ordering::AcqRel) {
            return false;
        }
        // Its thread is not joined: the job it runs may never return.
        self.handles.lock().retain(|(i, _)| *i != index);
        match self.start_worker() {
            Ok(new) => {
                tracing::warn!(
                    retired = index,
                    replacement = new,
                    "a pool worker's job does not return; another worker takes its place"
                );
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "a pool worker could not be replaced");
                true
            }
        }
    }

    /// Retires every busy worker whose current task belongs to compute `id`.
    pub(crate) fn retire_compute(self: &Arc<Self>, id: u64) {
        for index in 0..self.spawned.load(Ordering::Acquire) {
            let slot = &self.slots[index];
            let busy =
                slot.started.load(Ordering::Acquire) != slot.finished.load(Ordering::Acquire);
            if busy && slot.compute.load(Ordering::Acquire) == id {
                self.retire(index);
            }
        }
    }

    /// Each worker's job count and whether it is busy, for a watchdog: `(slot, started, busy)`
    /// for the workers not retired.
    pub(crate) fn activity(&self) -> Vec<(usize, u64, bool)> {
        (0..self.spawned.load(Ordering::Acquire))
            .filter(|&i| !self.slots[i].retired.load(Ordering::Acquire))
            .map(|i| {
                let slot = &self.slots[i];
                let started = slot.started.load(Ordering::Acquire);
                (i, started, started != slot.finished.load(Ordering::Acquire))
            })
            .collect()
    }

    /// The compute whose task the worker in slot `index` runs or ran last.
    pub(crate) fn compute_of(&self, index: usize) -> Option<u64> {
        let id = self.slots.get(index)?.compute.load(Ordering::Acquire);
        (id != u64::MAX).then_some(id)
    }

    /// Whether the pool is stopping.
    pub(crate) fn is_terminating(&self) -> bool {
        self.terminating.load(Ordering::SeqCst)
    }

    /// Queues a job: on this worker's own deque when called from a worker of this pool, on the
    /// injector otherwise. Wakes a sleeping worker if there is one.
    pub(crate) fn spawn(self: &Arc<Self>, job: Job) {
        match worker_of(self) {
            Some(ctx) => ctx.local.push(job),
            None => self.injector.push(job),
        }
        self.sleep.notify_one();
    }

    /// Queues jobs that workers take, in order and one at a time, only when they find no other
    /// work (their own deque, the injector and the other workers' deques are empty).
    pub(crate) fn spawn_background(self: &Arc<Self>, jobs: impl Iterator<Item = Job>) {
        jobs.for_each(|j| self.background.push(j));
        self.sleep.wake_all();
    }

    /// If the current thread is a worker of this pool and there is work, runs one job and returns
    /// `true`. This is how a job that waits for another job helps instead of blocking a thread.
    pub(crate) fn help_once(self: &Arc<Self>) -> bool {
        match worker_of(self) {
            Some(ctx) => match find_work(&ctx) {
                Some(job) => {
                    run_job(&ctx, job);
                    true
                }
                None => false,
            },
            None => false,
        }
    }

    /// Whether the current thread is a worker of this pool.
    pub(crate) fn is_worker_thread(self: &Arc<Self>) -> bool {
        worker_of(self).is_some()
    }

    fn has_work(&self) -> bool {
        !self.injector.is_empty()
            || !self.background.is_empty()
            || self.slots[..self.spawned.load(Ordering::Acquire)]
                .iter()
                .any(|s| s.stealer.get().is_some_and(|s| !s.is_empty()))
    }
}

impl Sleep {
    /// Parks the calling worker unless there is work or the pool is stopping.
    fn sleep(&self, registry: &Registry) {
        let mut guard = self.lock.lock();
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !registry.has_work() && !registry.terminating.load(Ordering::SeqCst) {
            // The timeout is a safety net only; every push wakes a sleeper.
            self.cond.wait_for(&mut guard, Duration::from_millis(100));
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    fn notify_one(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.cond.notify_one();
        }
    }

    fn wake_all(&self) {
        fence(Ordering::SeqCst);
        let _guard = self.lock.lock();
        self.cond.notify_all();
    }
}

/// Records, on the current pool worker's slot, the compute whose task it is about to run.
pub(crate) fn note_compute(id: u64) {
    WORKER.with(|w| {
        if let Some(c) = w.get() {
            c.registry.slots[c.index]
                .compute
                .store(id, Ordering::Relaxed);
        }
    });
}

fn worker_main(registry: Arc<Registry>, local: Worker<Job>, index: usize) {
    let ctx = Rc::new(WorkerContext {
        registry: registry.clone(),
        local,
        index,
    });
    WORKER.with(|w| {
        let _ = w.set(ctx.clone());
    });
    let slot = &registry.slots[index];
    const SPINS: u32 = 32;
    let mut idle = 0;
    loop {
        if let Some(job) = find_work(&ctx) {
            idle = 0;
            run_job(&ctx, job);
            if slot.retired.load(Ordering::Acquire) {
                // Another worker took this one's place: hand the deque on and exit.
                while let Some(job) = ctx.local.pop() {
                    registry.injector.push(job);
                }
                registry.sleep.wake_all();
                break;
            }
            continue;
        }
        if registry.terminating.load(Ordering::SeqCst) {
            break;
        }
        if idle < SPINS {
            idle += 1;
            std::thread::yield_now();
            continue;
        }
        registry.sleep.sleep(&registry);
    }
}

/// Own deque first, then a batch from the injector, then other workers, then one background
/// job.
fn find_work(ctx: &WorkerContext) -> Option<Job> {
    if let Some(job) = ctx.local.pop() {
        return Some(job);
    }
    let registry = &ctx.registry;
    loop {
        let mut retry = false;
        match registry.injector.steal_batch_and_pop(&ctx.local) {
            Steal::Success(job) => return Some(job),
            Steal::Retry => retry = true,
            Steal::Empty => {}
        }
        let n = registry.spawned.load(Ordering::Acquire);
        for offset in 1..n {
            let Some(stealer) = registry.slots[(ctx.index + offset) % n].stealer.get() else {
                continue;
            };
            match stealer.steal() {
                Steal::Success(job) => return Some(job),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
        }
        if !retry {
            break;
        }
    }
    loop {
        match registry.background.steal() {
            Steal::Success(job) => return Some(job),
            Steal::Retry => continue,
            Steal::Empty => return None,
        }
    }
}

/// Runs a job on worker `ctx`, counting it on the worker's slot for the watchdog.
fn run_job(ctx: &WorkerContext, job: Job) {
    let slot = &ctx.registry.slots[ctx.index];
    // Only this worker writes its counters, so a plain store does (no locked add per job).
    let started = slot.started.load(Ordering::Relaxed) + 1;
    slot.started.store(started, Ordering::Release);
    // Jobs catch their own panics; this is the last line of defence for the worker thread.
    let outcome = catch_unwind(AssertUnwindSafe(|| job.run()));
    let finished = slot.finished.load(Ordering::Relaxed) + 1;
    slot.finished.store(finished, Ordering::Release);
    if let Err(payload) = outcome {
        tracing::error!(
            message = %crate::value::panic_message(payload.as_ref()),
            "a pool job panicked outside its task boundary"
        );
    }
}
