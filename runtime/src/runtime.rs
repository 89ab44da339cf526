//! The runtime: a pool, an actor system, an event bus, and a scheduler choice.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use crate::actor::{ActorSystem, PartitionRef};
use crate::error::{Error, Result};
use crate::events::{ComputeId, EventBus, Subscription};
use crate::graph::{Graph, TaskKey};
use crate::memory::{Memory, MemoryConfig, MemoryStats};
use crate::plan::Plan;
use crate::pool::{Pool, Registry};
use crate::remote::{ClusterClient, ClusterSpec};
use crate::scheduler::{ComputeHandle, Execution, Scheduler};
use crate::stage::StageRegistry;
use crate::value::Value;

thread_local! {
    /// The runtimes installed on this thread, innermost last. They are held weakly, so that the
    /// threads a runtime owns (its pool workers and stages run inside its install for their
    /// whole life) do not keep it alive; one that has shut down is skipped.
    static INSTALLED: std::cell::RefCell<Vec<Weak<Inner>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A weak handle on a runtime, for the threads it owns: they run inside its
/// [`install`](Runtime::install) scope without keeping it alive.
#[derive(Clone)]
pub(crate) struct RuntimeRef(Weak<Inner>);

impl RuntimeRef {
    /// A handle on no runtime, for a pool started on its own in tests.
    #[cfg(test)]
    pub(crate) fn detached() -> RuntimeRef {
        RuntimeRef(Weak::new())
    }

    /// Runs `f` with this runtime as [`Runtime::current`] on this thread, while it is alive.
    pub(crate) fn install<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Uninstall;
        impl Drop for Uninstall {
            fn drop(&mut self) {
                INSTALLED.with(|stack| stack.borrow_mut().pop());
            }
        }
        INSTALLED.with(|stack| stack.borrow_mut().push(self.0.clone()));
        let _uninstall = Uninstall;
        f()
    }
}

/// An executor for task graphs and futures.
///
/// Cloning is cheap and shares the runtime. When the last clone (and the last handle of work in
/// flight) is dropped, the runtime shuts down: it aborts and joins the stages of pipelines still
/// running on it, finishes queued work, stops its actors, and joins all of its threads.
///
/// ```
/// use partita_runtime::Runtime;
/// let rt = Runtime::builder().threads(2).build()?;
/// let f = rt.submit(|| 6 * 7);
/// assert_eq!(f.result()?, 42);
/// # Ok::<(), partita_runtime::Error>(())
/// ```
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    // Dropped first: stops and joins the stage threads of pipelines still running.
    stages: StageRegistry,
    name: String,
    scheduler: Scheduler,
    fuse: bool,
    /// Whether every task's value goes through its codec (a testing aid).
    round_trip: bool,
    // Dropped in this order: the pool drains and joins first, then the actors stop.
    pool: Option<Pool>,
    actors: ActorSystem,
    events: Arc<EventBus>,
    next_id: AtomicU64,
    /// The cluster every compute goes to, if the runtime has one.
    cluster: Option<Arc<dyn ClusterClient>>,
    /// The copies of each partition that `persist` keeps on a cluster.
    replicas: usize,
    /// The ledger of held values, and the spill store.
    memory: Arc<Memory>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("scheduler", &self.inner.scheduler)
            .field("threads", &self.threads())
            .field("fuse", &self.inner.fuse)
            .field("round_trip_values", &self.inner.round_trip)
            .field("cluster", &self.inner.cluster.as_ref().map(|c| c.address()))
            .finish()
    }
}

/// Configures and starts a [`Runtime`].
///
/// ```
/// use partita_runtime::{Runtime, Scheduler};
/// let rt = Runtime::builder().scheduler(Scheduler::Sync).build()?;
/// assert_eq!(rt.scheduler(), Scheduler::Sync);
/// # Ok::<(), partita_runtime::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    threads: Option<usize>,
    scheduler: Scheduler,
    fuse: bool,
    round_trip: bool,
    name: String,
    cluster: Option<ClusterSpec>,
    replicas: usize,
    memory: MemoryConfig,
    memory_limit_set: bool,
    task_timeout: Option<Duration>,
}

impl Builder {
    /// Computes on the cluster whose scheduler listens at `addr` (`host:port`): every graph
    /// goes there, and the local pool runs only what stays here (futures, pipelines). The
    /// cluster's secret is read from `PARTITA_SECRET` or the file named by
    /// `PARTITA_SECRET_FILE`.
    pub fn connect(mut self, addr: impl Into<String>) -> Self {
        self.cluster = Some(ClusterSpec::Connect(addr.into()));
        self
    }

    /// Computes on a cluster of its own: a scheduler and `n` worker processes of the current
    /// executable, on loopback, with a fresh secret. The workers stop when the runtime is
    /// dropped. The executable's `main` must start with `partita::worker_main()`, which is
    /// where the workers begin. With [`memory_limit`](Self::memory_limit), each worker gets
    /// that limit (as Dask's `LocalCluster(memory_limit=...)`); otherwise each gets its share
    /// of 80% of the machine's memory.
    pub fn local_cluster(mut self, n: usize) -> Self {
        self.cluster = Some(ClusterSpec::Local {
            workers: n.max(1),
            memory_limit: None,
        });
        self
    }

    /// The number of pool threads. Defaults to the number of CPUs.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n.max(1));
        self
    }

    /// The scheduler. Defaults to [`Scheduler::Threads`].
    pub fn scheduler(mut self, scheduler: Scheduler) -> Self {
        self.scheduler = scheduler;
        self
    }

    /// Whether compute fuses linear chains of tasks into one task. Defaults to `true`.
    pub fn fuse(mut self, fuse: bool) -> Self {
        self.fuse = fuse;
        self
    }

    /// A testing aid that proves a graph's values can move between workers, without starting
    /// any process: after each task runs, its value is encoded with its registered codec
    /// ([`register_value!`](crate::register_value), [`register_codec!`](crate::register_codec))
    /// and decoded back, and the decoded copy is what its dependents and the caller get. A
    /// value whose type has no codec, or whose codec fails, fails its task with
    /// [`Error::TaskFailed`](crate::Error::TaskFailed) naming the task and, where it can, the
    /// value's Rust type. As on a cluster, tasks are not fused and shuffles move their pieces
    /// as values. Defaults to `false`; off, the runtime pays nothing for it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use partita_runtime::{value, Graph, Runtime, Task, TaskKey};
    ///
    /// struct NoCodec;
    /// let rt = Runtime::builder().round_trip_values(true).build()?;
    /// let mut g = Graph::new();
    /// let (a, b) = (TaskKey::new("a", 0), TaskKey::new("b", 0));
    /// g.add_layer("a", vec![Task::new(a.clone(), vec![], Arc::new(|_| Ok(value(41_i64))))]);
    /// g.add_layer("b", vec![Task::new(b.clone(), vec![], Arc::new(|_| Ok(value(NoCodec))))]);
    /// assert_eq!(*rt.compute(&g, &[a])?[0].downcast_ref::<i64>().unwrap(), 41);
    /// let err = rt.compute(&g, &[b]).unwrap_err().to_string();
    /// assert!(err.contains("task (b, 0)") && err.contains("NoCodec"), "{err}");
    /// # Ok::<(), partita_runtime::Error>(())
    /// ```
    pub fn round_trip_values(mut self, on: bool) -> Self {
        self.round_trip = on;
        self
    }

    /// The most bytes of task values the runtime holds in memory at once. Past the target
    /// fraction of it ([`memory_target`](Self::memory_target)) the least recently used values
    /// spill to disk through their codecs; past the pause fraction
    /// ([`memory_pause`](Self::memory_pause)) source tasks wait; a value that cannot fit fails
    /// its task with [`Error::MemoryLimit`](crate::Error::MemoryLimit). Only values of at least
    /// 16 KiB whose codec sizes them (frames, array chunks, serde values) are counted.
    /// Defaults to 80% of the machine's memory, or of the cgroup's limit
    /// ([`system_memory`](crate::system_memory)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use partita_runtime::{value, Graph, Runtime, Task, TaskKey};
    ///
    /// let rt = Runtime::builder().memory_limit(1 << 20).build()?;
    /// let mut g = Graph::new();
    /// let key = TaskKey::new("big", 0);
    /// g.add_layer("big", vec![Task::new(key.clone(), vec![], Arc::new(|_| Ok(value(vec![0_u64; 1 << 18]))))]);
    /// let err = rt.compute(&g, &[key]).unwrap_err().to_string();
    /// assert!(err.contains("(big, 0)") && err.contains("memory limit of 1048576 bytes"), "{err}");
    /// assert_eq!(rt.memory().limit, 1 << 20);
    /// # Ok::<(), partita_runtime::Error>(())
    /// ```
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory.limit = bytes.max(1);
        self.memory_limit_set = true;
        self
    }

    /// The fraction of the memory limit past which values spill. Defaults to 0.6.
    pub fn memory_target(mut self, fraction: f64) -> Self {
        self.memory.target = fraction;
        self
    }

    /// The fraction of the memory limit past which source tasks wait for memory to fall.
    /// Defaults to 0.8.
    pub fn memory_pause(mut self, fraction: f64) -> Self {
        self.memory.pause = fraction;
        self
    }

    /// The directory spilled values go to; the runtime makes a directory of its own inside it
    /// on the first spill and removes it at shutdown. Defaults to the system's temporary
    /// directory.
    pub fn spill_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.memory.spill_dir = Some(dir.into());
        self
    }

    /// Reports a task (a kernel or a submitted function) that runs longer than `timeout`, with
    /// [`EventKind::TaskStuck`](crate::EventKind::TaskStuck) and a warning, and gives the pool
    /// a fresh thread in place of the one it holds, so that code that blocks forever never
    /// starves the pool. The task is not interrupted: it runs on, on its own thread, and its
    /// result is used if it comes. Off by default.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = partita_runtime::Runtime::builder()
    ///     .threads(1)
    ///     .task_timeout(Duration::from_millis(100))
    ///     .build()?;
    /// let stuck = rt.submit(|| std::thread::sleep(Duration::from_secs(3600)));
    /// // The only thread is busy for an hour, but the watchdog replaces it.
    /// assert_eq!(rt.submit(|| 42).result()?, 42);
    /// # drop(stuck);
    /// # Ok::<(), partita_runtime::Error>(())
    /// ```
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = Some(timeout);
        self
    }

    /// On a cluster, how many copies of each partition `persist` keeps, each on a different
    /// worker (as many as there are workers, if fewer). When a worker holding a copy is lost,
    /// the cluster makes a new one from a surviving copy, without recomputing. Defaults to 1;
    /// a runtime without a cluster keeps one copy whatever this says.
    ///
    /// ```
    /// let rt = partita_runtime::Runtime::builder().replicas(3).build()?;
    /// assert_eq!(rt.replicas(), 3);
    /// # Ok::<(), partita_runtime::Error>(())
    /// ```
    pub fn replicas(mut self, k: usize) -> Self {
        self.replicas = k.max(1);
        self
    }

    /// The prefix of the runtime's thread names. Defaults to `partita`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Starts the runtime.
    ///
    /// # Errors
    /// [`Error::Spawn`](crate::Error::Spawn) if a thread cannot be started.
    pub fn build(self) -> Result<Runtime> {
        if self.round_trip {
            crate::value::type_names::start();
        }
        let actors = ActorSystem::start(&self.name)?;
        let cluster = match &self.cluster {
            Some(ClusterSpec::Local { workers, .. }) if self.memory_limit_set => {
                Some(crate::remote::connect(&ClusterSpec::Local {
                    workers: *workers,
                    memory_limit: Some(self.memory.limit),
                })?)
            }
            Some(spec) => Some(crate::remote::connect(spec)?),
            None => None,
        };
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        // The pool's workers run inside the runtime's install scope, so they need its address
        // before it exists: the runtime is built around a weak handle on itself.
        let mut failed = None;
        let events = Arc::new(EventBus::default());
        let memory = Memory::new(&self.memory, &self.name, events.clone());
        let inner = Arc::new_cyclic(|me| {
            let pool = match self.scheduler {
                Scheduler::Threads => Pool::start(threads, &self.name, RuntimeRef(me.clone()))
                    .map_err(|e| failed = Some(e))
                    .ok(),
                Scheduler::Sync => None,
            };
            Inner {
                stages: StageRegistry::default(),
                name: self.name,
                scheduler: self.scheduler,
                fuse: self.fuse,
                round_trip: self.round_trip,
                pool,
                actors,
                events,
                next_id: AtomicU64::new(1),
                cluster,
                replicas: self.replicas,
                memory,
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        if let (Some(timeout), Some(pool)) = (self.task_timeout, &inner.pool) {
            crate::pool::start_watchdog(
                pool.registry().clone(),
                inner.events.clone(),
                timeout,
                &inner.name,
            )
            .map_err(|e| Error::Spawn {
                thread: format!("{}-watchdog", inner.name),
                source: Arc::new(e),
            })?;
        }
        Ok(Runtime { inner })
    }
}

impl Runtime {
    /// A builder with the defaults: the threads scheduler, one thread per CPU, fusion on.
    pub fn builder() -> Builder {
        Builder {
            threads: None,
            scheduler: Scheduler::Threads,
            fuse: true,
            round_trip: false,
            name: "partita".into(),
            cluster: None,
            replicas: 1,
            memory: MemoryConfig::default(),
            memory_limit_set: false,
            task_timeout: None,
        }
    }

    /// A runtime on the cluster whose scheduler listens at `addr`: `builder().connect(addr)`.
    ///
    /// # Errors
    /// [`Error::Cluster`](crate::Error::Cluster) if the scheduler cannot be reached or refuses
    /// this client (a wrong secret, another build).
    pub fn connect(addr: impl Into<String>) -> Result<Runtime> {
        Runtime::builder().connect(addr).build()
    }

    /// The cluster this runtime computes on, if any.
    pub fn cluster(&self) -> Option<&Arc<dyn ClusterClient>> {
        self.inner.cluster.as_ref()
    }

    /// How many copies of each partition `persist` keeps on a cluster
    /// ([`Builder::replicas`]).
    pub fn replicas(&self) -> usize {
        self.inner.replicas
    }

    /// The process-wide default runtime, started on first use with the default settings. This is
    /// what `compute()` uses when no runtime is named.
    ///
    /// # Panics
    /// If its threads cannot be started.
    pub fn global() -> &'static Runtime {
        static GLOBAL: OnceLock<Runtime> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            Runtime::builder()
                .build()
                .unwrap_or_else(|e| panic!("cannot start the default partita runtime: {e}"))
        })
    }

    /// The runtime that `compute()` uses on this thread: the innermost one
    /// [`install`](Self::install)ed, or the process-wide [`global`](Self::global) one. A task
    /// or a stream stage runs inside its runtime's install, so in one this is that runtime.
    ///
    /// ```
    /// use partita_runtime::{Runtime, Scheduler};
    /// let rt = Runtime::builder().scheduler(Scheduler::Sync).build()?;
    /// assert_eq!(Runtime::current().scheduler(), Scheduler::Threads);
    /// rt.install(|| assert_eq!(Runtime::current().scheduler(), Scheduler::Sync));
    /// assert_eq!(Runtime::current().scheduler(), Scheduler::Threads);
    /// # Ok::<(), partita_runtime::Error>(())
    /// ```
    pub fn current() -> Runtime {
        INSTALLED
            .with(|stack| stack.borrow().iter().rev().find_map(Weak::upgrade))
            .map_or_else(|| Runtime::global().clone(), |inner| Runtime { inner })
    }

    /// Runs `f` with this runtime as [`current`](Self::current) on this thread, as rayon's
    /// `ThreadPool::install` does: every `compute()`, `persist()` and writer called inside uses
    /// it. Installs nest; the previous runtime is current again when `f` returns or panics.
    ///
    /// The runtime is chosen when a compute starts: a handle from
    /// `rt.install(|| x.compute_async())` runs on `rt` wherever it is awaited.
    pub fn install<R>(&self, f: impl FnOnce() -> R) -> R {
        self.downgrade().install(f)
    }

    /// A weak handle on this runtime, for the threads it owns.
    pub(crate) fn downgrade(&self) -> RuntimeRef {
        RuntimeRef(Arc::downgrade(&self.inner))
    }

    /// The scheduler this runtime uses.
    pub fn scheduler(&self) -> Scheduler {
        self.inner.scheduler
    }

    /// The number of pool threads (1 for the sync scheduler).
    pub fn threads(&self) -> usize {
        self.inner.pool.as_ref().map_or(1, Pool::threads)
    }

    /// Whether compute fuses linear chains.
    pub fn fuses(&self) -> bool {
        self.inner.fuse
    }

    /// Whether every task's value goes through its codec
    /// ([`Builder::round_trip_values`]).
    pub fn round_trips_values(&self) -> bool {
        self.inner.round_trip
    }

    /// The graph compute would run for `keys`: culled, and fused if fusion is on. A runtime
    /// that round-trips values runs it as a cluster would: unfused, its shuffles moving their
    /// pieces as values.
    ///
    /// # Errors
    /// Missing or duplicate keys.
    pub fn optimize(&self, graph: &Graph, keys: &[TaskKey]) -> Result<Graph> {
        let culled = graph.cull(keys)?;
        if self.inner.round_trip {
            crate::shuffle::pieces_as_values(&culled)
        } else if self.inner.fuse {
            culled.fuse(keys)
        } else {
            Ok(culled)
        }
    }

    /// Computes the values of `keys` and blocks until they are ready. Called from a task on this
    /// runtime's pool, the calling worker runs other tasks while it waits.
    ///
    /// # Errors
    /// A malformed graph (missing keys, a cycle), or the error of the first requested key that
    /// failed.
    pub fn compute(&self, graph: &Graph, keys: &[TaskKey]) -> Result<Vec<Value>> {
        self.compute_async(graph, keys).wait()
    }

    /// Starts computing `keys` and returns at once. Await the handle, or call `wait`.
    pub fn compute_async(&self, graph: &Graph, keys: &[TaskKey]) -> ComputeHandle {
        if let Some(cluster) = &self.inner.cluster {
            // Tasks stay unfused: a fused chain has no operation to ship. A shuffle's pieces
            // travel as values between workers.
            let graph = match graph
                .cull(keys)
                .and_then(|g| crate::shuffle::pieces_as_values(&g))
            {
                Ok(g) => g,
                Err(e) => return ComputeHandle::failed(e),
            };
            let done = Arc::new(crate::completion::Completion::new());
            let slot = done.clone();
            let id = ComputeId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
            let events = crate::remote::ComputeEvents::new(self.inner.events.clone(), id);
            let ended = events.clone();
            done.on_complete(Box::new(move || ended.end()));
            cluster.compute(
                &graph,
                keys,
                events,
                Box::new(move |result| {
                    slot.complete(result);
                }),
            );
            return ComputeHandle::remote(done, self.clone());
        }
        let plan = if self.inner.fuse || self.inner.round_trip {
            self.optimize(graph, keys)
                .and_then(|g| Plan::build(&g, keys))
        } else {
            Plan::build(graph, keys)
        };
        let plan = match plan {
            Ok(plan) => plan,
            Err(e) => return ComputeHandle::failed(e),
        };
        let id = ComputeId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let execution = Execution::new(
            id,
            plan,
            self.registry().cloned(),
            self.inner.events.clone(),
            self.inner.memory.clone(),
            self.inner.round_trip,
        );
        match self.inner.scheduler {
            Scheduler::Threads => execution.start_threads(),
            // The calling thread runs the tasks, inside this runtime's install as a pool
            // worker would be.
            Scheduler::Sync => self.install(|| execution.run_sync()),
        }
        ComputeHandle::running(execution, self.clone())
    }

    /// Computes `keys` and hands each value to a partition actor that keeps it. Later graphs
    /// read it through [`Task::stored`](crate::Task::stored). On a cluster the workers that
    /// compute the values keep them instead, [`replicas`](Builder::replicas) copies of each on
    /// distinct workers, and later graphs name them by id; the returned references work the
    /// same either way, and dropping the last one forgets the partition.
    ///
    /// # Errors
    /// As [`compute`](Self::compute).
    pub fn persist(&self, graph: &Graph, keys: &[TaskKey]) -> Result<Vec<PartitionRef>> {
        if let Some(cluster) = &self.inner.cluster {
            return self.persist_on(cluster, graph, keys);
        }
        // The results stay as the compute held them: a spilled one stays on disk.
        let held = self
            .compute_async(graph, keys)
            .wait_held(&self.inner.memory, keys)?;
        let refs = keys
            .iter()
            .zip(held)
            .map(|(k, held)| PartitionRef::spawn(self.inner.actors.arbiter(), k.clone(), held))
            .collect();
        self.inner.memory.relieve();
        Ok(refs)
    }

    /// [`persist`](Self::persist) on a cluster: the workers that compute the partitions keep
    /// them, with [`replicas`](Self::replicas) copies each.
    fn persist_on(
        &self,
        cluster: &Arc<dyn ClusterClient>,
        graph: &Graph,
        keys: &[TaskKey],
    ) -> Result<Vec<PartitionRef>> {
        let graph = graph
            .cull(keys)
            .and_then(|g| crate::shuffle::pieces_as_values(&g))?;
        let done = Arc::new(crate::completion::Completion::new());
        let slot = done.clone();
        let id = ComputeId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let events = crate::remote::ComputeEvents::new(self.inner.events.clone(), id);
        cluster.persist(
            &graph,
            keys,
            self.inner.replicas,
            events,
            Box::new(move |result| {
                slot.complete(result);
            }),
        );
        let parts: Vec<crate::remote::PersistedPartition> = done.wait(None)?;
        Ok(keys
            .iter()
            .zip(parts)
            .map(|(k, p)| PartitionRef::remote(k.clone(), p.id, p.nbytes, cluster.clone()))
            .collect())
    }

    /// What the runtime holds now: its memory limit, the managed bytes in memory, and what
    /// has spilled.
    ///
    /// ```
    /// let rt = partita_runtime::Runtime::builder().memory_limit(1 << 30).build()?;
    /// let m = rt.memory();
    /// assert_eq!((m.limit, m.managed, m.spilled), (1 << 30, 0, 0));
    /// # Ok::<(), partita_runtime::Error>(())
    /// ```
    pub fn memory(&self) -> MemoryStats {
        self.inner.memory.stats()
    }

    /// The runtime's memory ledger, for a kernel that keeps values of its own across calls
    /// (a shuffle receiver's pieces): what it [`hold`](Memory::hold)s is counted against the
    /// limit and spills with the runtime's other values.
    pub fn ledger(&self) -> Arc<Memory> {
        self.inner.memory.clone()
    }

    /// Subscribes to this runtime's events.
    pub fn subscribe(&self) -> Subscription {
        self.inner.events.subscribe()
    }

    pub(crate) fn events(&self) -> &Arc<EventBus> {
        &self.inner.events
    }

    pub(crate) fn stages(&self) -> &StageRegistry {
        &self.inner.stages
    }

    /// The prefix of this runtime's thread names.
    pub(crate) fn name(&self) -> &str {
        &self.inner.name
    }

    pub(crate) fn registry(&self) -> Option<&Arc<Registry>> {
        self.inner.pool.as_ref().map(Pool::registry)
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// Reports `message` as an [`EventKind::Notice`](crate::EventKind::Notice) on the current
/// runtime ([`Runtime::current`]), and as a `tracing` warning: for a kernel to say something
/// that is not a failure, such as the rows a reader skipped.
///
/// ```
/// use partita_runtime::{notice, EventKind, Runtime};
/// let rt = Runtime::builder().threads(1).build()?;
/// let events = rt.subscribe();
/// rt.install(|| notice("skipped 2 rows of data.csv"));
/// let got = events.receiver().try_iter().find_map(|e| match e.kind {
///     EventKind::Notice { message } => Some(message),
///     _ => None,
/// });
/// assert_eq!(got.as_deref(), Some("skipped 2 rows of data.csv"));
/// # Ok::<(), partita_runtime::Error>(())
/// ```
pub fn notice(message: impl Into<String>) {
    let message = message.into();
    tracing::warn!(%message, "notice");
    let rt = Runtime::current();
    let compute = rt
        .registry()
        .and_then(|pool| crate::pool::current_worker_index().and_then(|w| pool.compute_of(w)))
        .unwrap_or(u64::MAX);
    rt.inner.events.compute(
        crate::events::ComputeId(compute),
        crate::events::EventKind::Notice { message },
    );
}
