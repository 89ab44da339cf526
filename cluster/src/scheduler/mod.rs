//! The scheduler: task states, placement, recovery, and the control plane's service.
//!
//! It runs no user code. A client's graph arrives as `encode_graph` wrote it; the scheduler
//! reads only its structure ([`graph_shape`]), keeps each task's state (waiting, queued,
//! processing, in memory, erred; released once nothing needs it) and hands ready tasks to
//! workers in batches on each worker's one stream.
//!
//! - **Withholding.** A ready root task (a source) waits in the scheduler's queue until some
//!   worker has room (fewer than twice its threads, plus a small slack for the round trip, in
//!   flight), so sources are never over-produced. Tasks that read others, which free memory, go
//!   first and more eagerly.
//! - **Placement.** Among the workers with room: the one that would fetch the fewest inputs from
//!   other workers (counted in bytes where workers report them), then the least occupied, then
//!   the one holding the fewest bytes (so that one compute after another spreads its values).
//! - **Release.** A value is forgotten on its worker once every task that reads it is done and it
//!   is no output; outputs are forgotten when the client releases its compute, or when the
//!   client goes away.
//! - **A lost worker** (its stream broke, or it sent nothing for the worker timeout) costs no
//!   compute: what it held is recomputed from lineage and what it ran runs elsewhere (see
//!   `recovery.rs`). A task that was running on `allowed_failures` workers as they died fails
//!   its compute as `KilledWorker`.

mod options;
mod persisted;
mod recovery;

pub use self::options::SchedulerOptions;

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::Stream;
use parking_lot::Mutex;
use partita_runtime::{graph_shape, BuildId, Error as RuntimeError, GraphShape, TaskKey};
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::proto::{
    Assign, Completed, ComputeEvent, ComputeRequest, Dep, Erred, ForgetRequest, GraphOps,
    InfoReply, InfoRequest, Key, Location, OpDef, Release, ReleaseReply, ReleaseRequest,
    SchedulerMessage, SchedulerService, SessionRequest, WireError, WorkerInfo, WorkerMessage,
};

/// Root tasks (sources) a worker may have in flight: this many per thread, plus [`ROOT_SLACK`]
/// to cover the round trip to the scheduler, before the scheduler withholds more.
const SATURATION: u32 = 2;
/// Root tasks in flight per worker beyond its threads' share: enough to hide the round trip of
/// tiny tasks, few enough to keep the sources' output bounded.
const ROOT_SLACK: u32 = 64;
/// Tasks in flight per worker in all: tasks that read others free memory, so they go eagerly.
const WINDOW: u32 = 1024;

type Outbox<T> = UnboundedSender<Result<T, Status>>;

/// What the scheduler knows of one worker.
struct Worker {
    name: String,
    pid: u32,
    flight: String,
    threads: u32,
    processing: u32,
    memory: u64,
    spilled: u64,
    tasks_done: u64,
    bytes_received: u64,
    /// Graphs whose operations it has been sent.
    graphs: FxHashSet<u64>,
    /// When its last message arrived.
    last_seen: Instant,
    tx: Outbox<SchedulerMessage>,
}

impl Worker {
    fn has_room(&self, root: bool) -> bool {
        if root {
            self.processing < self.threads.max(1) * SATURATION + ROOT_SLACK
        } else {
            self.processing < WINDOW
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TaskState {
    Waiting,
    Queued,
    Processing(u64),
    Memory(u64),
    Released,
}

/// One compute in flight.
struct GraphState {
    ops: Vec<OpDef>,
    keys: Vec<TaskKey>,
    /// Each task's operation, an index into `ops`.
    op_of: Vec<u32>,
    deps: Vec<Vec<u32>>,
    dependents: Vec<Vec<u32>>,
    /// Inputs not yet in memory.
    waiting: Vec<u32>,
    /// Readers not yet done, plus one for an output.
    refs: Vec<u32>,
    state: Vec<TaskState>,
    nbytes: Vec<u64>,
    outputs: Vec<u32>,
    finished: u64,
    /// Set once the client has its answer (or the compute failed): nothing more is sent.
    ended: bool,
    client: Outbox<ComputeEvent>,
    /// The workers (name and address) that died while each task was assigned to them.
    deaths: FxHashMap<u32, Vec<String>>,
    /// How often each task has failed to fetch an input from its holder.
    refetches: FxHashMap<u32, u32>,
    /// Above 0: the outputs are kept as persisted partitions with this many copies.
    replicas: u32,
    /// The tasks that are persisted partitions, and their ids: in memory from the start, never
    /// computed, released or recomputed here.
    stored: FxHashMap<u32, u64>,
    /// The client's session.
    session: u64,
    /// Whether the client wants task events, and those not yet sent.
    task_events: bool,
    finished_tasks: Vec<crate::proto::TaskDone>,
}

/// What a client asks of a compute besides its graph.
#[derive(Clone, Copy, Debug, Default)]
struct Asked {
    /// Above 0: keep the outputs as persisted partitions with this many copies.
    replicas: u32,
    /// The client's session.
    session: u64,
    /// Whether the client wants an event per finished task.
    task_events: bool,
}

#[derive(Default)]
struct State {
    options: SchedulerOptions,
    persisted: FxHashMap<u64, persisted::Persisted>,
    next_persisted: u64,
    /// The clients' sessions, open while each client lives.
    sessions: FxHashMap<u64, Outbox<crate::proto::SessionEvent>>,
    next_session: u64,
    build: Option<BuildId>,
    workers: BTreeMap<u64, Worker>,
    next_worker: u64,
    graphs: FxHashMap<u64, GraphState>,
    next_graph: u64,
    /// Ready tasks that read other tasks.
    ready: VecDeque<(u64, u32)>,
    /// Ready tasks that read none (sources), withheld more tightly.
    roots: VecDeque<(u64, u32)>,
}

/// The scheduler's state, shared by its service's connections.
#[derive(Clone)]
pub(crate) struct Scheduler {
    state: Arc<Mutex<State>>,
}

impl Scheduler {
    fn new(options: SchedulerOptions) -> Scheduler {
        Scheduler {
            state: Arc::new(Mutex::new(State {
                options,
                ..State::default()
            })),
        }
    }

    /// Every half second: counts silent workers as lost, and forgets the computes and the
    /// persisted partitions of clients that have gone, until the scheduler is dropped.
    async fn watch(state: std::sync::Weak<Mutex<State>>) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let Some(state) = state.upgrade() else {
                return;
            };
            let mut s = state.lock();
            let mut out = Outgoing::default();
            for w in s.silent_workers() {
                s.lost(w, &mut out);
            }
            for g in s.abandoned_graphs() {
                s.release_graph(g, &mut out);
            }
            let ended: Vec<u64> = s
                .sessions
                .iter()
                .filter(|(_, tx)| tx.is_closed())
                .map(|(&id, _)| id)
                .collect();
            for session in ended {
                s.sessions.remove(&session);
                s.session_ended(session, &mut out);
            }
            s.schedule(&mut out);
            out.send(&s);
        }
    }
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("Scheduler")
            .field("workers", &s.workers.len())
            .field("graphs", &s.graphs.len())
            .finish()
    }
}

/// The messages a scheduling round sends, per worker.
#[derive(Default)]
struct Outgoing(BTreeMap<u64, SchedulerMessage>);

impl Outgoing {
    fn to(&mut self, worker: u64) -> &mut SchedulerMessage {
        self.0.entry(worker).or_default()
    }

    fn send(self, state: &State) {
        for (w, msg) in self.0 {
            if let Some(worker) = state.workers.get(&w) {
                let _ = worker.tx.send(Ok(msg));
            }
        }
    }
}

impl State {
    /// Adds a client's graph and queues its root tasks; with `replicas > 0` its outputs are
    /// kept as persisted partitions. Returns the compute's id.
    fn submit(
        &mut self,
        shape: GraphShape,
        asked: Asked,
        client: Outbox<ComputeEvent>,
        out: &mut Outgoing,
    ) -> Result<u64, RuntimeError> {
        match self.build {
            Some(b) if b != shape.build => {
                return Err(RuntimeError::BuildMismatch {
                    ours: b.to_string(),
                    theirs: shape.build.to_string(),
                })
            }
            Some(_) => {}
            None => self.build = Some(shape.build),
        }
        let n = shape.tasks.len();
        let index: FxHashMap<&TaskKey, u32> = shape
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (&t.key, i as u32))
            .collect();
        let deps: Vec<Vec<u32>> = shape
            .tasks
            .iter()
            .map(|t| t.deps.iter().map(|d| index[d]).collect())
            .collect();
        let outputs: Vec<u32> = shape.outputs.iter().map(|k| index[k]).collect();
        drop(index);
        let mut dependents = vec![Vec::new(); n];
        for (i, ds) in deps.iter().enumerate() {
            for &d in ds {
                dependents[d as usize].push(i as u32);
            }
        }
        let mut refs: Vec<u32> = dependents.iter().map(|d| d.len() as u32).collect();
        for &o in &outputs {
            refs[o as usize] += 1;
        }
        check_acyclic(
            &deps,
            &shape.tasks.iter().map(|t| &t.key).collect::<Vec<_>>(),
        )?;
        // Persisted partitions are in memory already, where their copies are.
        let mut stored: FxHashMap<u32, u64> = FxHashMap::default();
        let mut state = vec![TaskState::Waiting; n];
        let mut nbytes = vec![0; n];
        for (i, t) in shape.tasks.iter().enumerate() {
            let (name, params) = &shape.ops[t.op as usize];
            if name != partita_runtime::PERSISTED {
                continue;
            }
            let pid: u64 = partita_runtime::decode_params(name, params)?;
            let Some(p) = self.persisted.get(&pid) else {
                return Err(RuntimeError::Cluster {
                    message: format!(
                        "persisted partition {} is no longer on the cluster; persist it again",
                        t.key
                    ),
                });
            };
            let Some(&holder) = p.holders.first() else {
                return Err(every_copy_lost(&t.key));
            };
            stored.insert(i as u32, pid);
            state[i] = TaskState::Memory(holder);
            nbytes[i] = p.nbytes;
        }
        let id = self.next_graph;
        self.next_graph += 1;
        let waiting: Vec<u32> = deps
            .iter()
            .map(|d| d.iter().filter(|&&x| !stored.contains_key(&x)).count() as u32)
            .collect();
        for (i, w) in waiting.iter().enumerate() {
            if *w == 0 && !stored.contains_key(&(i as u32)) {
                state[i] = TaskState::Queued;
                if deps[i].is_empty() {
                    self.roots.push_back((id, i as u32));
                } else {
                    self.ready.push_back((id, i as u32));
                }
            }
        }
        let _ = client.send(Ok(ComputeEvent {
            graph: id,
            total: n as u64,
            ..Default::default()
        }));
        self.graphs.insert(
            id,
            GraphState {
                ops: shape
                    .ops
                    .into_iter()
                    .map(|(name, params)| OpDef { name, params })
                    .collect(),
                op_of: shape.tasks.iter().map(|t| t.op).collect(),
                keys: shape.tasks.into_iter().map(|t| t.key).collect(),
                deps,
                dependents,
                waiting,
                refs,
                state,
                nbytes,
                outputs,
                finished: stored.len() as u64,
                ended: false,
                client,
                deaths: FxHashMap::default(),
                refetches: FxHashMap::default(),
                replicas: asked.replicas,
                stored,
                session: asked.session,
                task_events: asked.task_events,
                finished_tasks: Vec::new(),
            },
        );
        if self.graphs[&id].finished == n as u64 {
            self.finish(id, out);
        }
        Ok(id)
    }

    fn queue(&mut self, roots: bool) -> &mut VecDeque<(u64, u32)> {
        if roots {
            &mut self.roots
        } else {
            &mut self.ready
        }
    }

    /// Adds a worker, unless it runs another build than the cluster's. Returns its id.
    fn join(
        &mut self,
        name: &str,
        flight: &str,
        threads: u32,
        build: BuildId,
        tx: Outbox<SchedulerMessage>,
    ) -> Result<u64, String> {
        match self.build {
            Some(b) if b != build => {
                return Err(format!(
                    "worker {name} runs build {build}, but the cluster runs {b}: start the same \
                     executable everywhere"
                ))
            }
            Some(_) => {}
            None => self.build = Some(build),
        }
        let id = self.next_worker;
        self.next_worker += 1;
        let _ = tx.send(Ok(SchedulerMessage {
            worker_id: id,
            ..Default::default()
        }));
        self.workers.insert(
            id,
            Worker {
                name: name.to_string(),
                pid: 0,
                flight: flight.to_string(),
                threads: threads.max(1),
                processing: 0,
                memory: 0,
                spilled: 0,
                tasks_done: 0,
                bytes_received: 0,
                graphs: FxHashSet::default(),
                last_seen: Instant::now(),
                tx,
            },
        );
        Ok(id)
    }

    /// Hands queued tasks to workers with room, by locality then occupancy.
    /// Tasks that read others go first (they free memory), then roots.
    fn schedule(&mut self, out: &mut Outgoing) {
        self.drain(false, out);
        self.drain(true, out);
    }

    /// Places the tasks of one queue, in order, until no worker has room for the next.
    fn drain(&mut self, roots: bool, out: &mut Outgoing) {
        loop {
            let queue = if roots { &self.roots } else { &self.ready };
            let Some(&(g, t)) = queue.front() else {
                return;
            };
            let Some(graph) = self.graphs.get(&g) else {
                self.queue(roots).pop_front();
                continue;
            };
            if graph.ended || graph.state[t as usize] != TaskState::Queued {
                self.queue(roots).pop_front();
                continue;
            }
            // (bytes to move, occupancy‰, bytes held, worker)
            let mut best: Option<(u64, u64, u64, u64)> = None;
            for (&w, worker) in &self.workers {
                if !worker.has_room(roots) {
                    continue;
                }
                let here = |d: u32| match graph.stored.get(&d) {
                    Some(pid) => self
                        .persisted
                        .get(pid)
                        .is_some_and(|p| p.holders.contains(&w)),
                    None => graph.state[d as usize] == TaskState::Memory(w),
                };
                let moved: u64 = graph.deps[t as usize]
                    .iter()
                    .filter(|&&d| !here(d))
                    .map(|&d| graph.nbytes[d as usize].max(1))
                    .sum();
                let occupancy =
                    u64::from(worker.processing) * 1000 / u64::from(worker.threads.max(1));
                let score = (moved, occupancy, worker.memory, w);
                if best.is_none_or(|b| score < b) {
                    best = Some(score);
                }
            }
            let Some((_, _, _, w)) = best else {
                return; // every worker is full: the rest waits here
            };
            self.queue(roots).pop_front();
            self.graphs.get_mut(&g).expect("looked up above").state[t as usize] =
                TaskState::Processing(w);
            let graph = &self.graphs[&g];
            let deps = graph.deps[t as usize]
                .iter()
                .map(|&d| {
                    let persisted = graph.stored.get(&d).copied().unwrap_or(0);
                    let holder = match graph.state[d as usize] {
                        // A persisted partition: this worker's copy, or the least busy one.
                        TaskState::Memory(_) if persisted != 0 => {
                            self.holder_for(persisted, w).unwrap_or(u64::MAX)
                        }
                        TaskState::Memory(h) => h,
                        _ => unreachable!("a queued task's inputs are in memory"),
                    };
                    Dep {
                        task: d,
                        key: Some(Key::from(&graph.keys[d as usize])),
                        flight: if holder == w {
                            String::new()
                        } else {
                            self.workers
                                .get(&holder)
                                .map_or_else(String::new, |h| h.flight.clone())
                        },
                        persisted,
                    }
                })
                .collect();
            let worker = self.workers.get_mut(&w).expect("chosen above");
            worker.processing += 1;
            let msg = out.to(w);
            if worker.graphs.insert(g) {
                msg.graphs.push(GraphOps {
                    graph: g,
                    ops: graph.ops.clone(),
                });
            }
            msg.assign.push(Assign {
                graph: g,
                task: t,
                key: Some(Key::from(&graph.keys[t as usize])),
                op: graph.op_of[t as usize],
                deps,
            });
        }
    }

    fn completed(&mut self, w: u64, c: &Completed, out: &mut Outgoing) {
        if let Some(worker) = self.workers.get_mut(&w) {
            worker.processing = worker.processing.saturating_sub(1);
            worker.tasks_done += u64::from(!c.skipped);
        }
        if c.skipped {
            // Not run, as its compute was released: there is no value to release.
            return;
        }
        let Some(graph) = self.graphs.get_mut(&c.graph) else {
            out.to(w).release.push(Release {
                graph: c.graph,
                tasks: vec![c.task],
            });
            return;
        };
        let t = c.task as usize;
        if graph.ended || t >= graph.state.len() || graph.state[t] != TaskState::Processing(w) {
            out.to(w).release.push(Release {
                graph: c.graph,
                tasks: vec![c.task],
            });
            return;
        }
        graph.state[t] = TaskState::Memory(w);
        graph.nbytes[t] = c.nbytes;
        graph.finished += 1;
        if graph.task_events {
            graph.finished_tasks.push(crate::proto::TaskDone {
                key: Some(Key::from(&graph.keys[t])),
                worker: w,
                micros: c.micros,
            });
        }
        if graph.refs[t] == 0 {
            // Computed again after a loss, and meanwhile nothing needs it any more.
            graph.state[t] = TaskState::Released;
            out.to(w).release.push(Release {
                graph: c.graph,
                tasks: vec![c.task],
            });
        }
        for i in 0..graph.dependents[t].len() {
            let d = graph.dependents[t][i] as usize;
            // Only a task still waiting counts its inputs: after a loss, a reader may have
            // finished with an earlier copy of this value.
            if graph.state[d] != TaskState::Waiting {
                continue;
            }
            graph.waiting[d] -= 1;
            if graph.waiting[d] == 0 {
                graph.state[d] = TaskState::Queued;
                self.ready.push_back((c.graph, d as u32));
            }
        }
        for i in 0..graph.deps[t].len() {
            let d = graph.deps[t][i] as usize;
            graph.refs[d] = graph.refs[d].saturating_sub(1);
            if graph.refs[d] == 0 && graph.stored.contains_key(&(d as u32)) {
                // A persisted partition stays until its clients forget it.
                graph.state[d] = TaskState::Released;
            } else if graph.refs[d] == 0 {
                if let TaskState::Memory(h) = graph.state[d] {
                    graph.state[d] = TaskState::Released;
                    out.to(h).release.push(Release {
                        graph: c.graph,
                        tasks: vec![d as u32],
                    });
                }
            }
        }
        if graph.finished == graph.keys.len() as u64 {
            self.finish(c.graph, out);
        }
    }

    /// The failure of task `t` as the first requested output that needed it reports it, as
    /// the local schedulers do: that output's `DependencyFailed`, with `t`'s failure as its cause.
    fn as_seen_by_output(&self, g: u64, t: u32, error: WireError) -> WireError {
        let Some(graph) = self.graphs.get(&g) else {
            return error;
        };
        if t as usize >= graph.keys.len() || graph.outputs.contains(&t) {
            return error;
        }
        // Every task that (transitively) reads t.
        let mut needs = vec![false; graph.keys.len()];
        let mut stack = vec![t];
        while let Some(i) = stack.pop() {
            for &d in &graph.dependents[i as usize] {
                if !needs[d as usize] {
                    needs[d as usize] = true;
                    stack.push(d);
                }
            }
        }
        match graph.outputs.iter().find(|&&o| needs[o as usize]) {
            Some(&o) => WireError::of(&RuntimeError::DependencyFailed {
                key: graph.keys[o as usize].clone(),
                cause: Arc::new(error.into_error()),
            }),
            None => error,
        }
    }

    /// Tells the client where its outputs are; for a persist, first keeps each as a persisted
    /// partition.
    fn finish(&mut self, g: u64, out: &mut Outgoing) {
        let Some(graph) = self.graphs.get_mut(&g) else {
            return;
        };
        graph.ended = true;
        let (replicas, outputs) = (graph.replicas, graph.outputs.clone());
        let mut located = Vec::with_capacity(outputs.len());
        for o in outputs {
            let graph = &self.graphs[&g];
            let (state, nbytes) = (graph.state[o as usize], graph.nbytes[o as usize]);
            let key = Some(Key::from(&graph.keys[o as usize]));
            let mut persisted = graph.stored.get(&o).copied().unwrap_or(0);
            let holder = match state {
                TaskState::Memory(_) if persisted != 0 => self.holder_for(persisted, u64::MAX),
                TaskState::Memory(w) => Some(w),
                _ => None,
            };
            if replicas > 0 {
                match (persisted, holder) {
                    (0, Some(w)) => persisted = self.keep(g, o, w, replicas, out),
                    (id, _) => {
                        let session = self.graphs[&g].session;
                        if let Some(p) = self.persisted.get_mut(&id) {
                            p.owners.push(session);
                        }
                    }
                }
            }
            let flight = holder
                .and_then(|w| self.workers.get(&w))
                .map_or_else(String::new, |w| w.flight.clone());
            located.push(Location {
                task: o,
                key,
                flight,
                persisted,
                nbytes,
            });
        }
        self.send_task_events(g);
        let graph = self.graphs.get_mut(&g).expect("looked up above");
        let outputs = located;
        let _ = graph.client.send(Ok(ComputeEvent {
            graph: g,
            finished: graph.finished,
            total: graph.keys.len() as u64,
            outputs,
            error: None,
            done: true,
            ..Default::default()
        }));
    }

    /// Sends compute `g`'s client the tasks finished since the last time, if it wants them.
    fn send_task_events(&mut self, g: u64) {
        let Some(graph) = self.graphs.get_mut(&g) else {
            return;
        };
        if graph.finished_tasks.is_empty() {
            return;
        }
        let tasks = std::mem::take(&mut graph.finished_tasks);
        let _ = graph.client.send(Ok(ComputeEvent {
            graph: g,
            finished: graph.finished,
            total: graph.keys.len() as u64,
            tasks,
            ..Default::default()
        }));
    }

    /// Fails compute `g` with `error` and forgets everything it holds.
    fn fail(&mut self, g: u64, error: WireError, out: &mut Outgoing) {
        if let Some(graph) = self.graphs.get_mut(&g) {
            if !graph.ended {
                graph.ended = true;
                let _ = graph.client.send(Ok(ComputeEvent {
                    graph: g,
                    finished: graph.finished,
                    total: graph.keys.len() as u64,
                    outputs: Vec::new(),
                    error: Some(error),
                    done: true,
                    ..Default::default()
                }));
            }
        }
        self.release_graph(g, out);
    }

    /// Forgets compute `g` on the scheduler and on every worker that saw it.
    fn release_graph(&mut self, g: u64, out: &mut Outgoing) {
        if self.graphs.remove(&g).is_none() {
            return;
        }
        for (&w, worker) in &mut self.workers {
            if worker.graphs.remove(&g) {
                out.to(w).release.push(Release {
                    graph: g,
                    tasks: Vec::new(),
                });
            }
        }
    }
}

/// The error of a compute that reads a persisted partition whose every copy is lost.
fn every_copy_lost(key: &TaskKey) -> RuntimeError {
    RuntimeError::Cluster {
        message: format!(
            "every copy of persisted partition {key} was lost with its workers; persist it \
             again, with more replicas (Runtime::builder().replicas(k)) to survive that"
        ),
    }
}

/// Refuses a graph with a cycle, naming a task on it.
fn check_acyclic(deps: &[Vec<u32>], keys: &[&TaskKey]) -> Result<(), RuntimeError> {
    let n = deps.len();
    let mut indegree: Vec<u32> = vec![0; n];
    let mut dependents: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        indegree[i] = ds.len() as u32;
        for &d in ds {
            dependents[d as usize].push(i as u32);
        }
    }
    let mut stack: Vec<u32> = (0..n as u32)
        .filter(|&i| indegree[i as usize] == 0)
        .collect();
    let mut seen = 0;
    while let Some(i) = stack.pop() {
        seen += 1;
        for &d in &dependents[i as usize] {
            indegree[d as usize] -= 1;
            if indegree[d as usize] == 0 {
                stack.push(d);
            }
        }
    }
    if seen == n {
        return Ok(());
    }
    let on_cycle = (0..n).find(|&i| indegree[i] > 0).expect("a task left");
    Err(RuntimeError::Cycle {
        key: keys[on_cycle].clone(),
    })
}

#[cfg(test)]
mod simulation;
#[cfg(test)]
mod test;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl SchedulerService for Scheduler {
    type WorkStream = BoxStream<SchedulerMessage>;
    type ComputeStream = BoxStream<ComputeEvent>;
    type SessionStream = BoxStream<crate::proto::SessionEvent>;

    async fn work(
        &self,
        request: Request<Streaming<WorkerMessage>>,
    ) -> Result<Response<Self::WorkStream>, Status> {
        let peer = request.remote_addr();
        let mut inbound = request.into_inner();
        let first = inbound
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("a worker's stream must start with hello"))?;
        let hello = first
            .hello
            .ok_or_else(|| Status::invalid_argument("a worker's stream must start with hello"))?;
        let build: [u8; 16] = hello
            .build
            .as_slice()
            .try_into()
            .map_err(|_| Status::invalid_argument("a build id is 16 bytes"))?;
        let build = BuildId(build);
        let (tx, rx) = unbounded_channel();
        let id = {
            let mut s = self.state.lock();
            let id = s
                .join(&hello.name, &hello.flight, hello.threads, build, tx)
                .inspect(|id| {
                    if let Some(w) = s.workers.get_mut(id) {
                        w.pid = hello.pid;
                    }
                })
                .map_err(|message| {
                    let peer = peer.map_or_else(String::new, |p| p.to_string());
                    eprintln!("partita scheduler: refused worker at {peer}: {message}");
                    Status::failed_precondition(message)
                })?;
            let mut out = Outgoing::default();
            // A new worker takes copies that persisted partitions lack.
            s.replicate_all(&mut out);
            s.schedule(&mut out);
            out.send(&s);
            id
        };
        tracing::info!(worker = %hello.name, flight = %hello.flight, "worker joined");
        let state = self.state.clone();
        tokio::spawn(async move {
            loop {
                let msg = match inbound.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) | Err(_) => break,
                };
                let mut s = state.lock();
                let mut out = Outgoing::default();
                let Some(worker) = s.workers.get_mut(&id) else {
                    // Counted as lost (it was silent too long): what it says now is stale.
                    break;
                };
                worker.memory = msg.memory;
                worker.spilled = msg.spilled;
                worker.bytes_received = msg.received;
                worker.last_seen = Instant::now();
                for c in &msg.done {
                    s.completed(id, c, &mut out);
                }
                let touched: FxHashSet<u64> = msg.done.iter().map(|c| c.graph).collect();
                for g in touched {
                    s.send_task_events(g);
                }
                for p in msg.replicated {
                    s.replicated(id, p, &mut out);
                }
                for p in msg.replicate_failed {
                    s.replicate_failed(id, p, &mut out);
                }
                for Erred {
                    graph,
                    task,
                    error,
                    missing,
                } in msg.erred
                {
                    if let Some(worker) = s.workers.get_mut(&id) {
                        worker.processing = worker.processing.saturating_sub(1);
                    }
                    let error = error.unwrap_or_else(|| WireError {
                        kind: "Cluster".into(),
                        message: format!("task {task} failed without a report"),
                        keys: Vec::new(),
                    });
                    if missing.is_empty() {
                        let error = s.as_seen_by_output(graph, task, error);
                        s.fail(graph, error, &mut out);
                    } else {
                        s.refetch(id, graph, task, &missing, error, &mut out);
                    }
                }
                s.schedule(&mut out);
                out.send(&s);
            }
            let mut s = state.lock();
            let mut out = Outgoing::default();
            s.lost(id, &mut out);
            s.schedule(&mut out);
            out.send(&s);
            tracing::info!(worker = id, "worker left");
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    async fn compute(
        &self,
        request: Request<ComputeRequest>,
    ) -> Result<Response<Self::ComputeStream>, Status> {
        let (tx, rx) = unbounded_channel();
        let ComputeRequest {
            graph: bytes,
            replicas,
            session,
            task_events,
        } = request.into_inner();
        let failed = |e: &RuntimeError| {
            Ok(ComputeEvent {
                error: Some(WireError::of(e)),
                ..Default::default()
            })
        };
        match graph_shape(&bytes) {
            Err(e) => {
                let _ = tx.send(failed(&e));
            }
            Ok(shape) => {
                let mut s = self.state.lock();
                let mut out = Outgoing::default();
                let asked = Asked {
                    replicas,
                    session,
                    task_events,
                };
                match s.submit(shape, asked, tx.clone(), &mut out) {
                    Err(e) => {
                        let _ = tx.send(failed(&e));
                    }
                    Ok(_) => {
                        s.schedule(&mut out);
                        out.send(&s);
                    }
                }
            }
        }
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    async fn release(
        &self,
        request: Request<ReleaseRequest>,
    ) -> Result<Response<ReleaseReply>, Status> {
        let g = request.into_inner().graph;
        let mut s = self.state.lock();
        let mut out = Outgoing::default();
        s.release_graph(g, &mut out);
        out.send(&s);
        Ok(Response::new(ReleaseReply {}))
    }

    async fn session(
        &self,
        _: Request<SessionRequest>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let (tx, rx) = unbounded_channel();
        let mut s = self.state.lock();
        s.next_session += 1;
        let session = s.next_session;
        let _ = tx.send(Ok(crate::proto::SessionEvent { session }));
        s.sessions.insert(session, tx);
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    async fn forget(
        &self,
        request: Request<ForgetRequest>,
    ) -> Result<Response<ReleaseReply>, Status> {
        let ForgetRequest { ids, session } = request.into_inner();
        let mut s = self.state.lock();
        let mut out = Outgoing::default();
        s.forget(session, &ids, &mut out);
        out.send(&s);
        Ok(Response::new(ReleaseReply {}))
    }

    async fn info(&self, _: Request<InfoRequest>) -> Result<Response<InfoReply>, Status> {
        let s = self.state.lock();
        let mut held: FxHashMap<u64, u64> = FxHashMap::default();
        for graph in s.graphs.values().filter(|g| !g.ended) {
            for state in &graph.state {
                if let TaskState::Memory(w) = state {
                    *held.entry(*w).or_default() += 1;
                }
            }
        }
        Ok(Response::new(InfoReply {
            build: s.build.map(|b| b.0.to_vec()).unwrap_or_default(),
            workers: s
                .workers
                .iter()
                .map(|(&id, w)| WorkerInfo {
                    id,
                    name: w.name.clone(),
                    flight: w.flight.clone(),
                    processing: u64::from(w.processing),
                    memory: w.memory,
                    tasks_done: w.tasks_done,
                    bytes_received: w.bytes_received,
                    pid: w.pid,
                    spilled: w.spilled,
                    held: held.get(&id).copied().unwrap_or(0),
                })
                .collect(),
            persisted: s.persisted_info(),
        }))
    }
}

/// Serves the scheduler on `listener` until `shutdown` resolves, with the failure settings
/// `options`. Every request must carry `secret`.
pub(crate) async fn serve_scheduler(
    listener: tokio::net::TcpListener,
    secret: crate::Secret,
    options: SchedulerOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> crate::Result<()> {
    let scheduler = Scheduler::new(options);
    tokio::spawn(Scheduler::watch(Arc::downgrade(&scheduler.state)));
    let service = crate::proto::SchedulerServer::new(scheduler)
        .max_decoding_message_size(crate::worker::MAX_MESSAGE)
        .max_encoding_message_size(crate::worker::MAX_MESSAGE);
    let service = tonic::service::interceptor::InterceptedService::new(
        service,
        crate::secret::CheckSecret {
            secret,
            plane: "scheduler",
        },
    );
    crate::worker::server()
        .add_service(service)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await
        .map_err(|source| crate::Error::Transport {
            what: "the scheduler".into(),
            source,
        })
}
