//! Futures: submit work to a runtime now and collect the results later, as Dask's
//! `client.submit` gives.
//!
//! A [`Future`] is a handle to one running task. Every clone shares the same result. When every
//! handle to a future that has not finished is dropped, its work is cancelled: a task that has not
//! started never runs. A task may submit more tasks and wait for them: a worker that waits runs
//! other queued work meanwhile, so even a one-thread pool cannot deadlock.

mod as_completed;

use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub use self::as_completed::{as_completed, AsCompleted};
use crate::completion::Completion;
use crate::error::{Error, Result};
use crate::events::{ComputeId, EventBus, EventKind};
use crate::graph::TaskKey;
use crate::graph::{Graph, Task};
use crate::pool::{Job, Registry};
use crate::remote::{callable_op, Operation, Usage};
use crate::runtime::Runtime;
use crate::value::{downcast_owned, panic_message, value, Kernel, Outcome};

/// Futures' events carry this compute id.
const FUTURES: ComputeId = ComputeId(0);

pub(crate) struct FutureCore {
    key: TaskKey,
    result: Completion<Outcome>,
    /// The submitted function as data, when it is a registered one; asked only by
    /// [`Future::graph`], so submitting costs nothing for it.
    describe: Describe,
    /// The pool worker running the function now (`usize::MAX`: none).
    worker: AtomicUsize,
}

/// Describes a submitted function as an [`Operation`], or `None` for a plain closure.
type Describe = fn() -> Option<Operation>;

/// `F` called as `f()`, when it is a registered function.
fn call0_op<F: 'static>() -> Option<Operation> {
    callable_op::<F>(Usage::Call0)
}

/// `F` called as `f()` whose error fails the task, when it is a registered function.
fn try_call0_op<F: 'static>() -> Option<Operation> {
    callable_op::<F>(Usage::TryCall0)
}

impl FutureCore {
    /// Ends the future with `Cancelled`; a pool worker running its function is replaced, so a
    /// function that never returns costs the pool no thread.
    fn cancel(&self, pool: Option<&Arc<Registry>>) -> bool {
        let cancelled = self.result.complete(Err(Arc::new(Error::Cancelled {
            key: self.key.clone(),
        })));
        let worker = self.worker.load(Ordering::Acquire);
        if let (true, Some(pool), true) = (cancelled, pool, worker != usize::MAX) {
            pool.retire(worker);
        }
        cancelled
    }
}

/// Cancels the work when the last handle goes.
struct Handle {
    core: Arc<FutureCore>,
    runtime: Runtime,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.core.cancel(self.runtime.registry());
    }
}

/// A handle to a task submitted to a [`Runtime`].
///
/// ```
/// use partita_runtime::Runtime;
/// let rt = Runtime::builder().threads(2).build()?;
/// let a = rt.submit(|| 20);
/// let b = rt.submit(|| 22);
/// assert_eq!(a.result()? + b.result()?, 42);
/// # Ok::<(), partita_runtime::Error>(())
/// ```
pub struct Future<T> {
    handle: Arc<Handle>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            handle: self.handle.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Future")
            .field("key", &self.handle.core.key)
            .field("done", &self.done())
            .finish()
    }
}

impl<T> Future<T> {
    /// The task's key.
    pub fn key(&self) -> &TaskKey {
        &self.handle.core.key
    }

    /// Whether the task has finished, failed or been cancelled.
    pub fn done(&self) -> bool {
        self.handle.core.result.is_done()
    }

    /// Cancels the task. Returns `false` if it had already finished. A task that is running is
    /// not interrupted, but its result is discarded and waiters see [`Error::Cancelled`]; the
    /// pool thread it runs on is replaced by a fresh one, so a function that blocks forever
    /// does not hold up later work.
    pub fn cancel(&self) -> bool {
        self.handle.core.cancel(self.handle.runtime.registry())
    }

    /// Blocks until the task ends, without taking its result.
    pub fn wait(&self) {
        let _ = self.handle.core.result.wait(self.handle.runtime.registry());
    }

    /// The submitted task as a one-task graph: its output is the future's key, and its kernel
    /// waits for this future's result (the graph holds the future, so it is not cancelled
    /// meanwhile). When the submitted function was written with `remote_fn!`, the task also
    /// carries its operation, so [`encode_graph`](crate::encode_graph) accepts the graph and
    /// another process of this executable runs the function itself; for a plain closure,
    /// `encode_graph` fails with [`Error::NotTransportable`] naming the layer (the key's name).
    ///
    /// ```
    /// use partita_runtime::{decode_graph, encode_graph, register_fn, Runtime};
    ///
    /// register_fn! {
    ///     fn answer() -> u64 { 42 }
    /// }
    ///
    /// let rt = Runtime::builder().threads(2).build()?;
    /// let f = rt.submit(answer);
    /// let keys = [f.key().clone()];
    /// let bytes = encode_graph(&f.graph(), &keys)?;
    /// let (shipped, outputs) = decode_graph(&bytes)?;
    /// let far = Runtime::builder().threads(1).build()?;
    /// assert_eq!(*far.compute(&shipped, &outputs)?[0].downcast_ref::<u64>().unwrap(), 42);
    /// assert_eq!(*rt.compute(&f.graph(), &keys)?[0].downcast_ref::<u64>().unwrap(), 42);
    ///
    /// let g = rt.submit(|| 42_u64);
    /// assert!(encode_graph(&g.graph(), &[g.key().clone()]).is_err());
    /// assert_eq!(g.result()?, 42);
    /// # Ok::<(), partita_runtime::Error>(())
    /// ```
    pub fn graph(&self) -> Graph {
        let key = self.handle.core.key.clone();
        let handle = self.handle.clone();
        let kernel: Kernel = Arc::new(move |_| {
            let outcome = handle.core.result.wait(handle.runtime.registry());
            outcome.map_err(|e| (*e).clone())
        });
        let task =
            Task::new(key.clone(), vec![], kernel).with_op_opt((self.handle.core.describe)());
        let mut graph = Graph::new();
        graph.add_layer(key.name(), vec![task]);
        graph
    }

    pub(crate) fn core(&self) -> &Arc<FutureCore> {
        &self.handle.core
    }
}

impl<T: Clone + Send + Sync + 'static> Future<T> {
    /// Blocks until the task ends and returns its value. On a pool thread, runs other work while
    /// it waits.
    ///
    /// # Errors
    /// [`Error::TaskPanicked`], [`Error::TaskFailed`] or [`Error::Cancelled`].
    pub fn result(&self) -> Result<T> {
        let outcome = self.handle.core.result.wait(self.handle.runtime.registry());
        self.unpack(outcome)
    }

    fn unpack(&self, outcome: Outcome) -> Result<T> {
        match outcome {
            Ok(v) => downcast_owned(v, self.key()),
            Err(e) => Err((*e).clone()),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> std::future::Future for Future<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.handle.core.result.poll(cx) {
            Poll::Ready(outcome) => Poll::Ready(self.unpack(outcome)),
            Poll::Pending => Poll::Pending,
        }
    }
}

type Body = Box<dyn FnMut(&TaskKey) -> Result<crate::value::Value> + Send>;

/// Configures one task before it is submitted: its name and how often to retry it.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use partita_runtime::Runtime;
///
/// let rt = Runtime::builder().threads(1).build()?;
/// let tries = Arc::new(AtomicU32::new(0));
/// let t = tries.clone();
/// let f = rt.task(move || {
///     if t.fetch_add(1, Ordering::SeqCst) < 2 { panic!("flaky") }
///     "ok"
/// }).retries(2).name("flaky").submit();
/// assert_eq!(f.result()?, "ok");
/// assert_eq!(tries.load(Ordering::SeqCst), 3);
/// # Ok::<(), partita_runtime::Error>(())
/// ```
pub struct TaskBuilder<'rt, T> {
    runtime: &'rt Runtime,
    body: Body,
    describe: Describe,
    name: Option<String>,
    retries: u32,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for TaskBuilder<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("name", &self.name)
            .field("retries", &self.retries)
            .finish()
    }
}

impl<T: Send + Sync + 'static> TaskBuilder<'_, T> {
    /// Names the task (its key's name). Defaults to `submit`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Runs the task up to `n` more times if it panics or returns an error.
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// Submits the task.
    pub fn submit(self) -> Future<T> {
        let rt = self.runtime;
        let key = TaskKey::new(self.name.as_deref().unwrap_or("submit"), rt.next_id());
        let core = Arc::new(FutureCore {
            key: key.clone(),
            result: Completion::new(),
            describe: self.describe,
            worker: AtomicUsize::new(usize::MAX),
        });
        let job = run_future(core.clone(), self.body, self.retries, rt.events().clone());
        rt.events()
            .task(FUTURES, EventKind::TaskQueued, &key, Duration::ZERO);
        match rt.registry() {
            Some(pool) => pool.spawn(Job::Boxed(Box::new(job))),
            None => rt.install(job),
        }
        Future {
            handle: Arc::new(Handle {
                core,
                runtime: rt.clone(),
            }),
            _type: PhantomData,
        }
    }
}

/// The pool job for one future: skip it if cancelled, run with retries, publish the outcome.
/// It holds no `Runtime`, so the runtime is never dropped from one of its own jobs on our account.
fn run_future(
    core: Arc<FutureCore>,
    mut body: Body,
    retries: u32,
    events: Arc<EventBus>,
) -> impl FnOnce() + Send {
    move || {
        let mut attempt = 0;
        let outcome = loop {
            if core.result.is_done() {
                return; // cancelled before it ran
            }
            events.task(FUTURES, EventKind::TaskStarted, &core.key, Duration::ZERO);
            let started = Instant::now();
            if let Some(w) = crate::pool::current_worker_index() {
                core.worker.store(w, Ordering::Release);
            }
            let result =
                catch_unwind(AssertUnwindSafe(|| body(&core.key))).unwrap_or_else(|payload| {
                    Err(Error::TaskPanicked {
                        key: core.key.clone(),
                        message: panic_message(payload.as_ref()),
                    })
                });
            core.worker.store(usize::MAX, Ordering::Release);
            match result {
                Ok(v) => {
                    events.task(
                        FUTURES,
                        EventKind::TaskFinished,
                        &core.key,
                        started.elapsed(),
                    );
                    break Ok(v);
                }
                Err(e) => {
                    let e = Arc::new(e);
                    events.task(
                        FUTURES,
                        EventKind::TaskFailed { error: e.clone() },
                        &core.key,
                        started.elapsed(),
                    );
                    if attempt >= retries {
                        break Err(e);
                    }
                    attempt += 1;
                    tracing::debug!(key = %core.key, attempt, error = %e, "retrying task");
                }
            }
        };
        core.result.complete(outcome);
    }
}

impl Runtime {
    /// Runs `f` on the pool and returns a handle to its result. With the sync scheduler, `f`
    /// runs before `submit` returns.
    ///
    /// ```
    /// let rt = partita_runtime::Runtime::builder().threads(2).build()?;
    /// assert_eq!(rt.submit(|| 1 + 1).result()?, 2);
    /// # Ok::<(), partita_runtime::Error>(())
    /// ```
    pub fn submit<T, F>(&self, f: F) -> Future<T>
    where
        T: Send + Sync + 'static,
        F: FnMut() -> T + Send + 'static,
    {
        self.task(f).submit()
    }

    /// Like [`submit`](Self::submit) for a function that can fail. Its error becomes the
    /// typed source of [`Error::TaskFailed`] (a `String` or `&str` error keeps its text).
    ///
    /// ```
    /// let rt = partita_runtime::Runtime::builder().threads(1).build()?;
    /// let f = rt.try_submit(|| "x".parse::<i32>());
    /// let err = f.result().unwrap_err();
    /// assert!(matches!(err, partita_runtime::Error::TaskFailed { .. }));
    /// assert!(err.root_cause().downcast_ref::<std::num::ParseIntError>().is_some());
    /// # Ok::<(), partita_runtime::Error>(())
    /// ```
    pub fn try_submit<T, E, F>(&self, f: F) -> Future<T>
    where
        T: Send + Sync + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        F: FnMut() -> std::result::Result<T, E> + Send + 'static,
    {
        self.try_task(f).submit()
    }

    /// A [`TaskBuilder`] for `f`, to set its name or retries before submitting it.
    pub fn task<T, F>(&self, mut f: F) -> TaskBuilder<'_, T>
    where
        T: Send + Sync + 'static,
        F: FnMut() -> T + Send + 'static,
    {
        self.builder_for(Box::new(move |_| Ok(value(f()))), call0_op::<F>)
    }

    /// A [`TaskBuilder`] for a function that can fail.
    pub fn try_task<T, E, F>(&self, mut f: F) -> TaskBuilder<'_, T>
    where
        T: Send + Sync + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        F: FnMut() -> std::result::Result<T, E> + Send + 'static,
    {
        self.builder_for(
            Box::new(move |key| f().map(value).map_err(|e| Error::failed_from(key, e))),
            try_call0_op::<F>,
        )
    }

    fn builder_for<T>(&self, body: Body, describe: Describe) -> TaskBuilder<'_, T> {
        TaskBuilder {
            runtime: self,
            body,
            describe,
            name: None,
            retries: 0,
            _type: PhantomData,
        }
    }

    /// Submits `f(item)` for every item, as Dask's `client.map`.
    ///
    /// ```
    /// let rt = partita_runtime::Runtime::builder().threads(2).build()?;
    /// let squares = rt.map(|x: u64| x * x, 1..=4);
    /// assert_eq!(partita_runtime::gather(&squares)?, vec![1, 4, 9, 16]);
    /// # Ok::<(), partita_runtime::Error>(())
    /// ```
    pub fn map<I, T, F>(&self, f: F, items: impl IntoIterator<Item = I>) -> Vec<Future<T>>
    where
        I: Clone + Send + 'static,
        T: Send + Sync + 'static,
        F: Fn(I) -> T + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        items
            .into_iter()
            .map(|item| {
                let f = f.clone();
                self.task(move || f(item.clone())).name("map").submit()
            })
            .collect()
    }
}

/// Waits for every future and returns their values in order.
///
/// # Errors
/// The first failure, in order.
pub fn gather<T: Clone + Send + Sync + 'static>(futures: &[Future<T>]) -> Result<Vec<T>> {
    futures.iter().map(Future::result).collect()
}

/// Waits until every future has ended.
pub fn wait<T>(futures: &[Future<T>]) {
    futures.iter().for_each(Future::wait);
}
