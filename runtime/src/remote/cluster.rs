//! The seam to a distributed scheduler: what [`Runtime::connect`](crate::Runtime::connect) and
//! [`Builder::local_cluster`](crate::Builder::local_cluster) select.
//!
//! The runtime stays free of any network code. A cluster implementation (the `partita-cluster`
//! crate) registers a [`Connector`] at link time; a runtime built with a cluster asks it for a
//! [`ClusterClient`] and hands it every graph it computes. Every collection, `persist` and
//! pipeline task therefore runs on the cluster unchanged.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::events::{ComputeId, EventBus, EventKind};
use crate::graph::{Graph, TaskKey};
use crate::value::Value;

/// Where a runtime's graphs run when it has a cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterSpec {
    /// A running scheduler at this address (`host:port`).
    Connect(String),
    /// A scheduler and worker processes of the current executable, on loopback.
    Local {
        /// How many workers.
        workers: usize,
        /// Each worker's memory limit; by default the machine's share of each.
        memory_limit: Option<u64>,
    },
}

/// What a runtime's compute calls back with: the requested values, in order, or the failure.
pub type ComputeDone = Box<dyn FnOnce(Result<Vec<Value>>) + Send>;

/// Where a cluster reports what happens to one compute: into its runtime's event stream, so
/// that the runtime's subscribers (the progress bar, the profiler) see it. It also says when
/// the client's side has ended the compute ([`ended`](Self::ended)).
#[derive(Clone)]
pub struct ComputeEvents {
    bus: Arc<EventBus>,
    compute: ComputeId,
    ended: Arc<crate::completion::Completion<()>>,
}

impl std::fmt::Debug for ComputeEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputeEvents")
            .field("compute", &self.compute)
            .field("ended", &self.ended.is_done())
            .finish()
    }
}

/// The future of [`ComputeEvents::ended`].
struct Ended(Arc<crate::completion::Completion<()>>);

impl std::future::Future for Ended {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.0.poll(cx)
    }
}

impl ComputeEvents {
    pub(crate) fn new(bus: Arc<EventBus>, compute: ComputeId) -> ComputeEvents {
        ComputeEvents {
            bus,
            compute,
            ended: Arc::new(crate::completion::Completion::new()),
        }
    }

    /// Marks the compute ended on the client's side.
    pub(crate) fn end(&self) {
        self.ended.complete(());
    }

    /// Resolves once the runtime's side of the compute has ended: answered, failed, or
    /// cancelled ([`ComputeHandle::cancel`](crate::ComputeHandle::cancel), or a handle dropped
    /// before the end). A cluster client stops waiting for a cancelled compute when this
    /// resolves first, so that the cluster stops scheduling its tasks.
    pub fn ended(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        Ended(self.ended.clone())
    }

    /// The compute this reports on.
    pub fn id(&self) -> ComputeId {
        self.compute
    }

    /// Whether anybody listens: a cluster sends task events only then.
    pub fn wanted(&self) -> bool {
        self.bus.is_active()
    }

    /// Task `key` finished on worker number `worker` after its kernel ran for `duration`: a
    /// `TaskFinished` event whose `thread` is the worker's number.
    pub fn task_finished(&self, key: TaskKey, worker: usize, duration: std::time::Duration) {
        self.bus.finished_on(self.compute, key, worker, duration);
    }

    /// The compute started on the cluster with this many tasks.
    pub fn started(&self, tasks: usize) {
        self.bus
            .remote(self.compute, EventKind::ComputeStarted { tasks }, None);
    }

    /// The compute ended, with its answer or its failure.
    pub fn finished(&self) {
        self.bus
            .remote(self.compute, EventKind::ComputeFinished, None);
    }

    /// `worker` (its name and address) was lost while it held values of the compute or ran
    /// its tasks.
    pub fn worker_lost(&self, worker: &str) {
        let worker = worker.to_string();
        self.bus
            .remote(self.compute, EventKind::WorkerLost { worker }, None);
    }

    /// Task `key` had finished, lost its value with a worker, and is computed again.
    pub fn recomputed(&self, key: TaskKey) {
        self.bus
            .remote(self.compute, EventKind::TaskRecomputed, Some(key));
    }
}

/// A connection to a distributed scheduler, made by a [`Connector`].
pub trait ClusterClient: Send + Sync + std::fmt::Debug {
    /// Starts computing `outputs` of `graph` on the cluster and returns at once; `done` is
    /// called once, from another thread, with the values or the failure. What happens on the
    /// way (lost workers, recomputed tasks) goes to `events`.
    fn compute(&self, graph: &Graph, outputs: &[TaskKey], events: ComputeEvents, done: ComputeDone);

    /// Starts computing `outputs` of `graph` and keeping each on the workers, `replicas`
    /// copies on distinct workers (as many as there are, if fewer); `done` is called once with
    /// each output's persisted id and size, in order, or the failure.
    fn persist(
        &self,
        graph: &Graph,
        outputs: &[TaskKey],
        replicas: usize,
        events: ComputeEvents,
        done: PersistDone,
    );

    /// Reads persisted partition `id` (whose key is `key`) from a worker that holds a copy,
    /// blocking the calling thread.
    ///
    /// # Errors
    /// No worker holding a copy can be reached, or the cluster has forgotten `id`.
    fn read_persisted(&self, id: u64, key: &TaskKey) -> Result<Value>;

    /// Forgets persisted partitions `ids` on every worker that holds a copy, without waiting.
    fn forget_persisted(&self, ids: &[u64]);

    /// Every partition persisted on the cluster now, with the workers that hold its copies.
    fn persisted(&self) -> Vec<PersistedPartition>;

    /// The scheduler's address.
    fn address(&self) -> String;

    /// The workers connected now, as the scheduler sees them.
    fn workers(&self) -> Vec<ClusterWorker>;
}

/// What a persist on a cluster calls back with: each output's place, in order, or the failure.
pub type PersistDone = Box<dyn FnOnce(Result<Vec<PersistedPartition>>) + Send>;

/// A partition persisted on a cluster's workers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PersistedPartition {
    /// Its task's key.
    pub key: TaskKey,
    /// Its id on the cluster.
    pub id: u64,
    /// Its size, as its codec counts it.
    pub nbytes: u64,
    /// The names of the workers that hold a copy.
    pub holders: Vec<String>,
    /// The copies asked for.
    pub replicas: usize,
}

impl PersistedPartition {
    /// A partition's entry.
    pub fn new(
        key: TaskKey,
        id: u64,
        nbytes: u64,
        holders: Vec<String>,
        replicas: usize,
    ) -> PersistedPartition {
        PersistedPartition {
            key,
            id,
            nbytes,
            holders,
            replicas,
        }
    }
}

/// One worker of a cluster, as its scheduler sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterWorker {
    /// Its name.
    pub name: String,
    /// Where its data plane listens.
    pub address: String,
    /// Tasks it runs now.
    pub processing: u64,
    /// Tasks it has finished.
    pub tasks_done: u64,
    /// Its process id on its host.
    pub pid: u32,
    /// Bytes of values it holds in memory, as its memory ledger counts them.
    pub memory: u64,
    /// Bytes it has written to disk by spilling values since it started.
    pub spilled: u64,
    /// Task values of running computes it holds, as the scheduler counts them.
    pub held: u64,
    /// Bytes it has fetched from other workers since it started.
    pub received: u64,
}

impl ClusterWorker {
    /// A worker's entry.
    pub fn new(
        name: String,
        address: String,
        processing: u64,
        tasks_done: u64,
        pid: u32,
    ) -> ClusterWorker {
        ClusterWorker {
            name,
            address,
            processing,
            tasks_done,
            pid,
            memory: 0,
            spilled: 0,
            held: 0,
            received: 0,
        }
    }

    /// The entry with what the worker holds, `memory` bytes in memory, and the bytes it has
    /// `spilled` to disk since it started.
    pub fn with_memory(mut self, memory: u64, spilled: u64) -> ClusterWorker {
        self.memory = memory;
        self.spilled = spilled;
        self
    }

    /// The entry with the bytes the worker has fetched from other workers since it started.
    pub fn with_received(mut self, bytes: u64) -> ClusterWorker {
        self.received = bytes;
        self
    }

    /// The entry with the number of task values of running computes the worker holds.
    pub fn with_held(mut self, held: u64) -> ClusterWorker {
        self.held = held;
        self
    }
}

/// A cluster implementation, registered at link time in [`CONNECTORS`].
#[derive(Debug)]
pub struct Connector {
    /// The implementation's name.
    pub name: &'static str,
    /// Connects to (or starts) the cluster of `spec`.
    pub connect: fn(&ClusterSpec) -> Result<Arc<dyn ClusterClient>>,
}

/// Every cluster implementation linked into this executable.
// The slice lives in a link section that linkme declares; no unsafe code is written here.
#[allow(unsafe_code)]
#[linkme::distributed_slice]
pub static CONNECTORS: [Connector];

/// Connects to the cluster of `spec` through the first linked implementation.
pub(crate) fn connect(spec: &ClusterSpec) -> Result<Arc<dyn ClusterClient>> {
    let connector = CONNECTORS.first().ok_or_else(|| Error::Cluster {
        message:
            "this executable has no cluster implementation linked: depend on the `partita` \
                  crate (or `partita-cluster`) and call `partita::worker_main()` at the top of main"
                .into(),
    })?;
    (connector.connect)(spec)
}
