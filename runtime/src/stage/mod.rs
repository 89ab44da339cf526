//! Stages: the long-lived actors of streaming pipelines, each with a bounded mailbox.
//!
//! A pipeline is a set of stages started together on one [`Runtime`](crate::Runtime). A stage
//! pulls [`Msg`]s from its [`Inlet`] (a [`Mailbox`], the receiving end of a bounded channel,
//! possibly wrapped by operators) and pushes what it makes into the next stage's mailbox with
//! [`send`], which waits while that mailbox is full: a slow stage slows everything upstream of
//! it and memory stays flat. This module knows nothing of the records' types; the typed
//! operators live in `partita-collections`.
//!
//! **Threads.** A stage blocks for as long as its stream runs (on its mailbox, on a socket, on
//! a file that grows), so it gets a dedicated thread, named `{runtime}-stage-{stage}`. Running
//! it on a pool worker would take that worker from every compute for the life of the stream.
//! The thread runs its body inside the runtime's [`install`](crate::Runtime::install) scope, so
//! a stage that computes (a micro-batch handed to a Bag, say) uses the pipeline's runtime; the
//! scope holds the runtime weakly, so a running stage does not keep it from shutting down.
//! The threads belong to the runtime: its stage registry keeps every running [`StageGroup`],
//! and the group keeps the join handles. Each stage reports to the runtime's event stream as a
//! task of one compute (the group): `ComputeStarted` with the number of stages, then
//! `TaskQueued`, `TaskStarted` and `TaskFinished` or `TaskFailed` per stage, keyed by the
//! stage's name, then `ComputeFinished` when the last stage ends. A panic in a stage becomes
//! [`Error::TaskPanicked`] for the stage's key, through [`catch_panic`], as for a task.
//!
//! **Stop and shutdown.** [`StageControl::stop`] asks the sources to stop; each sends `End`
//! downstream, so every record already accepted drains to the sink. Aborting stops every stage
//! at its next mailbox poll (about every 20 ms) and drops what is in flight. Shutting the
//! runtime down, with pipelines still running:
//! 1. the last clone of the runtime is dropped, and its stage registry drops first, before the
//!    pool and the actors;
//! 2. the registry aborts every group still alive: each stage sees the abort at its next
//!    mailbox poll or send, or its next `stopping` check, and returns;
//! 3. the registry joins every stage thread; a stage that dropped the last clone of its own
//!    runtime joins the other groups but not its own, which its handle joins;
//! 4. the pool drains and joins its workers, then the actor system stops.
//!
//! A [`StageGroup`]'s handle stays valid after that: its `wait` reports the shutdown.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender};
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::events::{ComputeId, EventBus, EventKind};
use crate::graph::TaskKey;
use crate::runtime::Runtime;
use crate::value::catch_panic;

#[cfg(test)]
mod test;

/// How often a waiting stage checks for an abort.
const POLL: Duration = Duration::from_millis(20);

/// What flows through a mailbox.
#[derive(Debug)]
pub enum Msg<T> {
    /// Records, in order.
    Batch(Vec<T>),
    /// No record with an event time below this will follow (event-time streams only).
    Watermark(i64),
    /// The upstream has finished.
    End,
    /// Nothing arrived for a poll interval (about 20 ms): a chance to act on time.
    Idle,
}

/// The pulling end of a stage boundary, possibly with operators applied.
pub trait Inlet<T>: Send {
    /// The next message, or `None` when the run is aborted or upstream is gone.
    fn next(&mut self) -> Option<Msg<T>>;
}

/// A mailbox's receiving end, fed by one or more upstream stages.
#[derive(Debug)]
pub struct Mailbox<T> {
    rx: Receiver<Msg<T>>,
    control: Arc<StageControl>,
    /// `End`s still expected (one per upstream sender).
    ends: usize,
}

impl<T> Mailbox<T> {
    /// The receiving end `rx` of a bounded channel that `ends` upstream stages feed; it ends
    /// once each of them has sent `End`.
    ///
    /// ```
    /// use partita_runtime::{send, Inlet, Mailbox, Msg, StageControl, ErrorPolicy};
    /// let control = StageControl::new(ErrorPolicy::Fail);
    /// let (tx, rx) = crossbeam_channel::bounded(4);
    /// let mut mailbox = Mailbox::new(rx, control.clone(), 1);
    /// assert!(send(&tx, Msg::Batch(vec![1, 2]), &control));
    /// assert!(send(&tx, Msg::End, &control));
    /// assert!(matches!(mailbox.next(), Some(Msg::Batch(b)) if b == vec![1, 2]));
    /// assert!(matches!(mailbox.next(), Some(Msg::End)));
    /// ```
    pub fn new(rx: Receiver<Msg<T>>, control: Arc<StageControl>, ends: usize) -> Self {
        Mailbox {
            rx,
            control,
            ends: ends.max(1),
        }
    }
}

impl<T: Send> Inlet<T> for Mailbox<T> {
    fn next(&mut self) -> Option<Msg<T>> {
        loop {
            if self.control.aborted() {
                return None;
            }
            match self.rx.recv_timeout(POLL) {
                Ok(Msg::End) => {
                    self.ends -= 1;
                    if self.ends == 0 {
                        return Some(Msg::End);
                    }
                }
                Ok(m) => return Some(m),
                Err(RecvTimeoutError::Timeout) => return Some(Msg::Idle),
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

/// Sends `msg`, waiting while the mailbox is full (backpressure). Returns `false` if the run
/// was aborted or the receiver is gone.
///
/// ```
/// use partita_runtime::{send, ErrorPolicy, Msg, StageControl};
/// let control = StageControl::new(ErrorPolicy::Fail);
/// let (tx, rx) = crossbeam_channel::bounded(1);
/// assert!(send(&tx, Msg::Batch(vec![1]), &control));
/// control.abort();
/// assert!(!send(&tx, Msg::Batch(vec![2]), &control)); // full, and aborted
/// drop(rx);
/// ```
pub fn send<T>(tx: &Sender<Msg<T>>, mut msg: Msg<T>, control: &StageControl) -> bool {
    loop {
        if control.aborted() {
            return false;
        }
        match tx.send_timeout(msg, POLL) {
            Ok(()) => return true,
            Err(SendTimeoutError::Timeout(m)) => msg = m,
            Err(SendTimeoutError::Disconnected(_)) => return false,
        }
    }
}

/// What to do when an operator fails (returns an error or panics) on a record.
#[derive(Clone, Debug, Default)]
pub enum ErrorPolicy {
    /// Stop the pipeline; waiting on it returns the error.
    #[default]
    Fail,
    /// Drop the record, count it in the stage's `errors` metric, and go on.
    Skip,
    /// Send the record (when the operator still has it) and the error to this channel, count it,
    /// and go on.
    DeadLetter(Sender<DeadLetter>),
}

/// A record an operator failed on, with the reason.
#[derive(Debug)]
pub struct DeadLetter {
    /// The stage the operator runs in.
    pub stage: String,
    /// What went wrong (the error's text, or the panic message).
    pub error: String,
    /// The record, for operators that borrow it (`try_map`, `try_filter`); `None` when the
    /// operator had consumed it.
    pub record: Option<Box<dyn std::any::Any + Send>>,
}

/// Counters of one stage, updated as it runs and read by [`StageGroup::metrics`].
#[derive(Debug)]
pub struct StageCounters {
    /// Records that entered the stage.
    pub records_in: AtomicU64,
    /// Records the stage emitted.
    pub records_out: AtomicU64,
    /// Records an operator failed on.
    pub errors: AtomicU64,
    /// Late records sent to the side output.
    pub late: AtomicU64,
    /// The largest event time seen, for event-time stages (`i64::MIN` before any).
    pub max_event_time: AtomicI64,
    /// The current watermark, for event-time stages (`i64::MIN` before any).
    pub watermark: AtomicI64,
}

impl Default for StageCounters {
    fn default() -> Self {
        StageCounters {
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            late: AtomicU64::new(0),
            max_event_time: AtomicI64::new(i64::MIN),
            watermark: AtomicI64::new(i64::MIN),
        }
    }
}

/// A snapshot of one stage's metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageMetrics {
    /// The stage's name.
    pub name: String,
    /// Records that entered the stage.
    pub records_in: u64,
    /// Records the stage emitted.
    pub records_out: u64,
    /// Records an operator failed on (skipped or dead-lettered).
    pub errors: u64,
    /// Late records sent to the side output.
    pub late: u64,
    /// Batches waiting in the stage's mailbox.
    pub queue_depth: usize,
    /// The mailbox's capacity in batches.
    pub queue_capacity: usize,
    /// For event-time stages, how far the watermark trails the largest event time seen.
    pub watermark_lag: Option<i64>,
}

thread_local! {
    /// The first failure recorded on this stage thread, reported in its `TaskFailed` event.
    static STAGE_FAILURE: RefCell<Option<Arc<Error>>> = const { RefCell::new(None) };
    /// The group this stage thread belongs to (its shared state's address), or 0 off stage
    /// threads.
    static STAGE_GROUP: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The shared state of one group of stages: stop, abort, the first failure, the error policy.
#[derive(Debug)]
pub struct StageControl {
    stop: AtomicBool,
    abort: AtomicBool,
    failure: Mutex<Option<Error>>,
    policy: ErrorPolicy,
}

impl StageControl {
    /// A control for a run under `policy`, neither stopped nor aborted.
    ///
    /// ```
    /// use partita_runtime::{ErrorPolicy, StageControl};
    /// let control = StageControl::new(ErrorPolicy::Skip);
    /// assert!(!control.stopping());
    /// control.stop();
    /// assert!(control.stopping() && !control.aborted());
    /// ```
    pub fn new(policy: ErrorPolicy) -> Arc<StageControl> {
        Arc::new(StageControl {
            stop: AtomicBool::new(false),
            abort: AtomicBool::new(false),
            failure: Mutex::new(None),
            policy,
        })
    }

    /// The policy operators apply to a failed record.
    pub fn policy(&self) -> &ErrorPolicy {
        &self.policy
    }

    /// Asks the sources to stop; the stages downstream drain.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops every stage at its next poll; records in flight are dropped.
    pub fn abort(&self) {
        self.abort.store(true, Ordering::SeqCst);
    }

    /// Whether sources should stop producing (stopped or aborted).
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.aborted()
    }

    /// Whether the run was aborted.
    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }

    /// Records `error` (the first one wins) and aborts the run. Called on a stage thread, it
    /// also marks that stage as failed in its `TaskFailed` event.
    pub fn fail(&self, error: Error) {
        if STAGE_GROUP.with(std::cell::Cell::get) != 0 {
            STAGE_FAILURE.with(|f| {
                f.borrow_mut()
                    .get_or_insert_with(|| Arc::new(error.clone()));
            });
        }
        self.failure.lock().get_or_insert(error);
        self.abort();
    }

    fn take_failure(&self) -> Option<Error> {
        self.failure.lock().take()
    }
}

/// How full a stage's mailbox is: `(batches waiting, capacity)`.
pub type QueueDepth = Box<dyn Fn() -> (usize, usize) + Send + Sync>;

type Body = Box<dyn FnOnce() + Send>;

/// Builds a group of stages on a runtime: registers their counters, queues their bodies, and
/// [`start`](Self::start)s them together.
///
/// ```
/// use partita_runtime::{send, ErrorPolicy, Inlet, Launch, Mailbox, Msg, Runtime};
/// let rt = Runtime::builder().threads(1).build()?;
/// let mut launch = Launch::new(&rt, ErrorPolicy::Fail, 4, 100);
/// let (tx, rx) = crossbeam_channel::bounded(launch.capacity());
/// let control = launch.control().clone();
/// launch.spawn("numbers", move || {
///     send(&tx, Msg::Batch(vec![1, 2, 3]), &control);
///     send(&tx, Msg::End, &control);
/// });
/// let (sum_tx, sum_rx) = crossbeam_channel::bounded(1);
/// let mut inlet = Mailbox::new(rx, launch.control().clone(), 1);
/// launch.spawn("sum", move || {
///     let mut sum = 0;
///     loop {
///         match inlet.next() {
///             Some(Msg::Batch(b)) => sum += b.iter().sum::<i32>(),
///             Some(Msg::End) | None => break,
///             Some(_) => {}
///         }
///     }
///     let _ = sum_tx.send(sum);
/// });
/// let group = launch.start();
/// group.wait()?;
/// assert_eq!(sum_rx.recv().ok(), Some(6));
/// # Ok::<(), partita_runtime::Error>(())
/// ```
pub struct Launch {
    runtime: Runtime,
    control: Arc<StageControl>,
    bodies: Vec<(TaskKey, String, Body)>,
    stages: Vec<(String, Arc<StageCounters>, Option<QueueDepth>)>,
    names: HashMap<String, u64>,
    capacity: usize,
    batch: usize,
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch")
            .field(
                "stages",
                &self.bodies.iter().map(|b| &b.0).collect::<Vec<_>>(),
            )
            .field("capacity", &self.capacity)
            .field("batch", &self.batch)
            .finish()
    }
}

impl Launch {
    /// A group to start on `runtime` under `policy`, with mailboxes of `capacity` batches and
    /// sources emitting batches of `batch` records.
    pub fn new(runtime: &Runtime, policy: ErrorPolicy, capacity: usize, batch: usize) -> Launch {
        Launch {
            runtime: runtime.clone(),
            control: StageControl::new(policy),
            bodies: Vec::new(),
            stages: Vec::new(),
            names: HashMap::new(),
            capacity: capacity.max(1),
            batch: batch.max(1),
        }
    }

    /// The group's control.
    pub fn control(&self) -> &Arc<StageControl> {
        &self.control
    }

    /// Mailbox capacity, in batches.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records per batch at the sources.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Registers the counters of a stage (or of an operator chained into one) named `name`,
    /// with its mailbox's fill level when it has one.
    pub fn stage(&mut self, name: &str, depth: Option<QueueDepth>) -> Arc<StageCounters> {
        let counters = Arc::new(StageCounters::default());
        self.stages
            .push((name.to_string(), counters.clone(), depth));
        counters
    }

    /// Queues a stage thread running `body`; it starts with the others in
    /// [`start`](Self::start). A panic that escapes `body` fails the run with
    /// [`Error::TaskPanicked`] for the stage's key: `name`, numbered from 0 among the group's
    /// stages of that name.
    pub fn spawn(&mut self, name: &str, body: impl FnOnce() + Send + 'static) {
        let n = self.names.entry(name.to_string()).or_insert(0);
        let key = TaskKey::new(name, *n);
        *n += 1;
        let thread = format!("{}-stage-{name}", self.runtime.name());
        self.bodies.push((key, thread, Box::new(body)));
    }

    /// Starts every queued stage on its own thread, owned by the runtime, and returns the
    /// running group. A thread that cannot be started fails the run with
    /// [`Error::Spawn`](crate::Error::Spawn); the ones already started then stop.
    pub fn start(self) -> StageGroup {
        let Launch {
            runtime,
            control,
            bodies,
            stages,
            ..
        } = self;
        let id = ComputeId(runtime.next_id());
        let events = runtime.events().clone();
        let shared = Arc::new(GroupShared {
            control: control.clone(),
            threads: Mutex::new(Vec::with_capacity(bodies.len())),
        });
        runtime.stages().register(&shared);
        let count = bodies.len();
        events.compute(id, EventKind::ComputeStarted { tasks: count });
        let live = Arc::new(AtomicUsize::new(count));
        if count == 0 {
            events.compute(id, EventKind::ComputeFinished);
        }
        let runtime_ref = runtime.downgrade();
        let mut threads = shared.threads.lock();
        for (i, (key, thread, body)) in bodies.into_iter().enumerate() {
            let stage = StageThread {
                group: Arc::as_ptr(&shared) as usize,
                key: key.clone(),
                id,
                control: control.clone(),
                events: events.clone(),
                live: live.clone(),
            };
            events.task(id, EventKind::TaskQueued, &key, Duration::ZERO);
            let runtime_ref = runtime_ref.clone();
            match std::thread::Builder::new()
                .name(thread.clone())
                .spawn(move || runtime_ref.install(|| stage.run(body)))
            {
                Ok(handle) => threads.push(handle),
                Err(e) => {
                    control.fail(Error::Spawn {
                        thread,
                        source: Arc::new(e),
                    });
                    let unstarted = count - i;
                    if live.fetch_sub(unstarted, Ordering::AcqRel) == unstarted {
                        events.compute(id, EventKind::ComputeFinished);
                    }
                    break;
                }
            }
        }
        drop(threads);
        StageGroup { shared, stages }
    }
}

/// One stage thread's identity and what it reports to.
struct StageThread {
    /// The address of the group's shared state, its identity on this thread.
    group: usize,
    key: TaskKey,
    id: ComputeId,
    control: Arc<StageControl>,
    events: Arc<EventBus>,
    live: Arc<AtomicUsize>,
}

impl StageThread {
    fn run(self, body: Body) {
        STAGE_GROUP.with(|g| g.set(self.group));
        let started = Instant::now();
        self.events
            .task(self.id, EventKind::TaskStarted, &self.key, Duration::ZERO);
        if let Err(e) = catch_panic(&self.key, body) {
            self.control.fail(e);
        }
        let kind = match STAGE_FAILURE.with(|f| f.borrow_mut().take()) {
            Some(error) => EventKind::TaskFailed { error },
            None => EventKind::TaskFinished,
        };
        self.events
            .task(self.id, kind, &self.key, started.elapsed());
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.events.compute(self.id, EventKind::ComputeFinished);
        }
    }
}

/// What the runtime's registry and the group's handle share: the control and the threads.
struct GroupShared {
    control: Arc<StageControl>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// How long an abort waits for the stage threads to see it before it leaves them running: a
/// stage blocked in user code cannot be interrupted.
const ABORT_GRACE: Duration = Duration::from_millis(500);

impl GroupShared {
    /// Joins every stage thread but the calling one. The lock is held while joining, so a
    /// concurrent caller returns only once the threads are gone.
    fn join(&self) {
        self.join_by(None);
    }

    /// Joins every stage thread but the calling one, waiting no later than `deadline`; a
    /// thread still running then is left to end on its own (it sees the abort at its next
    /// poll). Returns whether every thread was joined.
    fn join_by(&self, deadline: Option<Instant>) -> bool {
        let me = std::thread::current().id();
        let mut threads = self.threads.lock();
        let mut all = true;
        for handle in threads.drain(..) {
            if handle.thread().id() == me {
                continue;
            }
            if let Some(deadline) = deadline {
                while !handle.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                if !handle.is_finished() {
                    tracing::warn!(
                        stage = handle.thread().name().unwrap_or("?"),
                        "a stream stage did not stop in time; it is left to end on its own"
                    );
                    all = false;
                    continue;
                }
            }
            let _ = handle.join();
        }
        all
    }

    /// Whether every stage thread has ended.
    fn finished(&self) -> bool {
        self.threads.lock().iter().all(JoinHandle::is_finished)
    }
}

/// A running group of stages. [`wait`](Self::wait) joins them; dropping the handle aborts and
/// joins them.
pub struct StageGroup {
    shared: Arc<GroupShared>,
    stages: Vec<(String, Arc<StageCounters>, Option<QueueDepth>)>,
}

impl std::fmt::Debug for StageGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageGroup")
            .field(
                "stages",
                &self.stages.iter().map(|s| &s.0).collect::<Vec<_>>(),
            )
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl StageGroup {
    /// The group's control.
    pub fn control(&self) -> &Arc<StageControl> {
        &self.shared.control
    }

    /// The metrics of every registered stage, in registration order.
    pub fn metrics(&self) -> Vec<StageMetrics> {
        self.stages
            .iter()
            .map(|(name, c, depth)| {
                let (queue_depth, queue_capacity) = depth.as_ref().map_or((0, 0), |d| d());
                let wm = c.watermark.load(Ordering::Relaxed);
                let max = c.max_event_time.load(Ordering::Relaxed);
                StageMetrics {
                    name: name.clone(),
                    records_in: c.records_in.load(Ordering::Relaxed),
                    records_out: c.records_out.load(Ordering::Relaxed),
                    errors: c.errors.load(Ordering::Relaxed),
                    late: c.late.load(Ordering::Relaxed),
                    queue_depth,
                    queue_capacity,
                    watermark_lag: (max != i64::MIN && wm != i64::MIN)
                        .then(|| max.saturating_sub(wm)),
                }
            })
            .collect()
    }

    /// Whether every stage thread has finished (or been joined).
    pub fn is_finished(&self) -> bool {
        self.shared
            .threads
            .lock()
            .iter()
            .all(JoinHandle::is_finished)
    }

    /// Waits for every stage to end and returns the run's first failure.
    ///
    /// # Errors
    /// The first failure the stages recorded: an operator's under [`ErrorPolicy::Fail`], a
    /// stage's panic as [`Error::TaskPanicked`], or a thread that could not start.
    pub fn wait(&self) -> Result<()> {
        self.shared.join();
        match self.shared.control.take_failure() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Stops the sources, lets every record drain, and waits as [`wait`](Self::wait) does.
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    pub fn stop(&self) -> Result<()> {
        self.shared.control.stop();
        self.wait()
    }

    /// Stops the sources and drains, as [`stop`](Self::stop) does, but for no longer than
    /// `timeout`; then aborts.
    ///
    /// # Errors
    /// As [`wait`](Self::wait); [`Error::TaskFailed`] naming the first stage when the stages
    /// did not drain in time.
    pub fn stop_within(&self, timeout: Duration) -> Result<()> {
        self.shared.control.stop();
        let deadline = Instant::now() + timeout;
        while !self.shared.finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if self.shared.finished() {
            return self.wait();
        }
        self.abort();
        let stage = self.stages.first().map_or("stream", |s| s.0.as_str());
        Err(Error::failed(
            TaskKey::new(stage.to_string(), 0),
            format!("the stream did not drain within {timeout:?}, so it was aborted"),
        ))
    }

    /// Stops every stage at once and joins them; records in flight are dropped. A stage
    /// blocked in user code is given half a second to see the abort, and then left to end on
    /// its own thread, so an abort always returns.
    pub fn abort(&self) {
        self.shared.control.abort();
        self.shared.join_by(Some(Instant::now() + ABORT_GRACE));
    }
}

impl Drop for StageGroup {
    fn drop(&mut self) {
        self.abort();
    }
}

/// The runtime's running stage groups, stopped and joined when the runtime shuts down.
#[derive(Default)]
pub(crate) struct StageRegistry {
    groups: Mutex<Vec<Weak<GroupShared>>>,
}

impl std::fmt::Debug for StageRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageRegistry")
            .field("groups", &self.groups.lock().len())
            .finish()
    }
}

impl StageRegistry {
    fn register(&self, group: &Arc<GroupShared>) {
        let mut groups = self.groups.lock();
        groups.retain(|g| g.strong_count() > 0);
        groups.push(Arc::downgrade(group));
    }
}

impl Drop for StageRegistry {
    fn drop(&mut self) {
        let groups = std::mem::take(&mut *self.groups.lock());
        let live: Vec<Arc<GroupShared>> = groups.iter().filter_map(Weak::upgrade).collect();
        for g in &live {
            g.control.abort();
        }
        // A stage that drops the last clone of its own runtime must not join its own group:
        // the group's handle may be joining this very thread. The handle joins it.
        let own = STAGE_GROUP.with(std::cell::Cell::get);
        let deadline = Instant::now() + ABORT_GRACE;
        for g in &live {
            if Arc::as_ptr(g) as usize != own {
                g.join_by(Some(deadline));
            }
        }
    }
}
