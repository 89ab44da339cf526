//! The work-stealing compute pool.
//!
//! Each worker thread owns a LIFO deque; a shared injector takes work from outside the pool. A job
//! spawned by a running job goes to the spawning worker's own deque (depth-first, hot in cache),
//! and idle workers steal from the injector first, then from each other. See `README.md` beside
//! this file for the sleep protocol and for how a job that waits helps instead of blocking.

#[cfg(test)]
mod test;

use std::cell::OnceCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
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

/// The shared state of a pool.
pub(crate) struct Registry {
    injector: Injector<Job>,
    /// Jobs that start only when a worker has nothing else to do: a compute's sources, so that
    /// the work they make ready runs before more sources are read.
    background: Injector<Job>,
    stealers: Vec<Stealer<Job>>,
    sleep: Sleep,
    terminating: AtomicBool,
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

/// A running pool. Dropping it stops and joins its threads.
pub(crate) struct Pool {
    registry: Arc<Registry>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `n` worker threads named `{name}-{i}`, each inside `runtime`'s install scope for
    /// its whole life, so a task that computes uses the runtime that runs it.
    pub(crate) fn start(n: usize, name: &str, runtime: RuntimeRef) -> Result<Pool> {
        let n = n.max(1);
        let locals: Vec<Worker<Job>> = (0..n).map(|_| Worker::new_lifo()).collect();
        let registry = Arc::new(Registry {
            injector: Injector::new(),
            background: Injector::new(),
            stealers: locals.iter().map(Worker::stealer).collect(),
            sleep: Sleep {
                lock: Mutex::new(()),
                cond: Condvar::new(),
                sleepers: AtomicUsize::new(0),
            },
            terminating: AtomicBool::new(false),
        });
        let mut pool = Pool {
            registry: registry.clone(),
            threads: Vec::with_capacity(n),
        };
        for (index, local) in locals.into_iter().enumerate() {
            let registry = registry.clone();
            let runtime = runtime.clone();
            let thread = format!("{name}-{index}");
            let handle = std::thread::Builder::new()
                .name(thread.clone())
                .spawn(move || runtime.install(|| worker_main(registry, local, index)))
                .map_err(|e| Error::Spawn {
                    thread,
                    source: Arc::new(e),
                })?;
            pool.threads.push(handle);
        }
        Ok(pool)
    }

    /// The pool's shared state.
    pub(crate) fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The number of worker threads.
    pub(crate) fn threads(&self) -> usize {
        self.registry.stealers.len()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.registry.terminating.store(true, Ordering::SeqCst);
        self.registry.sleep.wake_all();
        let me = std::thread::current().id();
        for handle in self.threads.drain(..) {
            // A pool dropped from one of its own jobs cannot join itself; that thread exits on
            // its own once the job returns.
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
    }
}

impl Registry {
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
                    run_job(job);
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
            || self.stealers.iter().any(|s| !s.is_empty())
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

fn worker_main(registry: Arc<Registry>, local: Worker<Job>, index: usize) {
    let ctx = Rc::new(WorkerContext {
        registry: registry.clone(),
        local,
        index,
    });
    WORKER.with(|w| {
        let _ = w.set(ctx.clone());
    });
    const SPINS: u32 = 32;
    let mut idle = 0;
    loop {
        if let Some(job) = find_work(&ctx) {
            idle = 0;
            run_job(job);
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
        let n = registry.stealers.len();
        for offset in 1..n {
            match registry.stealers[(ctx.index + offset) % n].steal() {
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

fn run_job(job: Job) {
    // Jobs catch their own panics; this is the last line of defence for the worker thread.
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| job.run())) {
        tracing::error!(
            message = %crate::value::panic_message(payload.as_ref()),
            "a pool job panicked outside its task boundary"
        );
    }
}
