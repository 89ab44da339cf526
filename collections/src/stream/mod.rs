//! Streaming pipelines: unbounded streams through long-lived stages, with backpressure and
//! windows.
//!
//! A pipeline is a chain of stages. Each stage is a long-lived actor of the runtime the
//! pipeline starts on (a thread of its own, owned by that runtime, see
//! [`partita_runtime::Launch`]) with a bounded mailbox of record batches, so a slow stage slows everything upstream of it
//! (backpressure) and memory stays flat however long the stream runs. Element-wise operators
//! (`map`, `filter`, `flat_map`, `inspect`, `try_map`) chain into the stage that reads them
//! and cost no thread. Stateful operators (`key_by(..).fold`, windows) and sinks are stages.
//!
//! Life cycle: a sink makes a [`Topology`]; `start` runs it on [`partita_runtime::Runtime::current`]
//! (inside `rt.install(..)` for another runtime) and returns a [`Pipeline`]. Its stages report to that
//! runtime's events, and a panic in one becomes `Error::TaskPanicked` for the stage's key.
//! `Pipeline::stop` stops the sources and drains: every record a source accepted reaches the
//! sink (or the error policy). `abort` stops at once. `wait` waits for a finite stream to end.
//!
//! A pipeline whose every stage is data (a `generate` source, [`remote_fn!`](crate::remote_fn)
//! functions, windows with built-in aggregations) becomes one task of a graph with
//! [`Topology::delayed`], and can then run in another process like any graph.
//!
//! ```
//! use partita_collections::{Stream, Window};
//!
//! // (key, value, event time)
//! let events = (0..1000_i64).map(|i| (i % 3, 1.0, i));
//! let sums = Stream::iter(events)
//!     .with_timestamps(|e| e.2, 0)
//!     .key_by(|e| e.0)
//!     .window(Window::tumbling(100))
//!     .sum(|e| e.1)
//!     .collect(10_000)
//!     .start()
//!     .wait()?;
//! assert_eq!(sums.len(), 30); // 10 windows x 3 keys
//! assert_eq!(sums.iter().map(|w| w.value).sum::<f64>(), 1000.0);
//! # Ok::<(), partita_collections::Error>(())
//! ```

mod inlet;
mod keyed;
mod pipeline;
pub(crate) mod plan;
mod sink;
mod source;
mod window;

use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use partita_runtime::{
    catch_panic, send, Inlet, Launch, Mailbox, Msg, StageControl, StageCounters, TaskKey,
};
pub use partita_runtime::{DeadLetter, ErrorPolicy, StageMetrics};

use self::inlet::{Mapped, Timestamped};
pub use self::keyed::KeyedStream;
pub use self::pipeline::Pipeline;
use self::plan::{then, Plan, Step};
pub use self::sink::Topology;
pub use self::window::{Window, WindowResult, WindowedStream};

type Build<T> = Box<dyn FnOnce(&mut Launch) -> Box<dyn Inlet<T>> + Send>;
/// A stateful actor's message handler: what it does with each message, emitting output batches.
pub(crate) type Actor<I, U> = Box<dyn FnMut(Msg<I>, &mut dyn FnMut(Vec<U>)) + Send>;
type TimestampFn<T> = Arc<dyn Fn(&T) -> i64 + Send + Sync>;

/// A stream of records of type `T`, not yet started.
pub struct Stream<T> {
    build: Build<T>,
    /// Event time, when assigned by `with_timestamps`.
    event_time: Option<TimestampFn<T>>,
    /// The stream as data, if every stage so far is.
    plan: Plan,
}

impl<T> std::fmt::Debug for Stream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("type", &std::any::type_name::<T>())
            .field("event_time", &self.event_time.is_some())
            .field("plan", &self.plan)
            .finish()
    }
}

impl<T: Send + 'static> Stream<T> {
    fn new(build: Build<T>, plan: Plan) -> Self {
        Stream {
            build,
            event_time: None,
            plan,
        }
    }

    /// Applies a per-batch transformation in the reading stage, under the error policy.
    fn chain<U: Send + 'static>(
        self,
        name: &'static str,
        plan: Plan,
        op: impl FnMut(Vec<T>, &mut OpContext) -> Vec<U> + Send + 'static,
    ) -> Stream<U> {
        let build = self.build;
        Stream::new(
            Box::new(move |launch| {
                let inner = build(launch);
                let counters = launch.stage(name, None);
                let mut ctx = OpContext {
                    stage: name,
                    key: TaskKey::new(name, 0),
                    control: launch.control().clone(),
                    counters,
                };
                let mut op = op;
                Box::new(Mapped {
                    inner,
                    apply: Box::new(move |b: Vec<T>| {
                        ctx.counters
                            .records_in
                            .fetch_add(b.len() as u64, Ordering::Relaxed);
                        let out = op(b, &mut ctx);
                        ctx.counters
                            .records_out
                            .fetch_add(out.len() as u64, Ordering::Relaxed);
                        out
                    }),
                })
            }),
            plan,
        )
    }

    /// `f` applied to every record.
    pub fn map<U, F>(self, f: F) -> Stream<U>
    where
        U: Send + 'static,
        F: Fn(T) -> U + Send + 'static,
    {
        let plan = then::<F>(&self.plan, "map", Step::Map);
        self.chain("map", plan, move |b, ctx| {
            let mut out = Vec::with_capacity(b.len());
            for t in b {
                match catch_panic(&ctx.key, || f(t)) {
                    Ok(u) => out.push(u),
                    Err(e) => ctx.failed(e, None),
                }
            }
            out
        })
    }

    /// The records for which `keep` is true.
    pub fn filter<F>(self, keep: F) -> Stream<T>
    where
        F: Fn(&T) -> bool + Send + 'static,
    {
        let event_time = self.event_time.clone();
        let plan = then::<F>(&self.plan, "filter", Step::Filter);
        let mut s = self.chain("filter", plan, move |b, ctx| {
            let mut out = Vec::with_capacity(b.len());
            for t in b {
                match catch_panic(&ctx.key, || keep(&t)) {
                    Ok(true) => out.push(t),
                    Ok(false) => {}
                    Err(e) => ctx.failed(e, Some(Box::new(t))),
                }
            }
            out
        });
        s.event_time = event_time;
        s
    }

    /// Every item of every `f(record)`.
    pub fn flat_map<U, I, F>(self, f: F) -> Stream<U>
    where
        U: Send + 'static,
        I: IntoIterator<Item = U>,
        F: Fn(T) -> I + Send + 'static,
    {
        let plan = then::<F>(&self.plan, "flat_map", Step::FlatMap);
        self.chain("flat_map", plan, move |b, ctx| {
            let mut out = Vec::with_capacity(b.len());
            for t in b {
                match catch_panic(&ctx.key, || out.extend(f(t))) {
                    Ok(()) => {}
                    Err(e) => ctx.failed(e, None),
                }
            }
            out
        })
    }

    /// Calls `f` on every record as it passes.
    pub fn inspect<F>(self, f: F) -> Stream<T>
    where
        F: Fn(&T) + Send + 'static,
    {
        let event_time = self.event_time.clone();
        let mut s = self.chain("inspect", Err("inspect"), move |b, _| {
            b.iter().for_each(&f);
            b
        });
        s.event_time = event_time;
        s
    }

    /// `f` applied to every record, where an error (or a panic) is handled by the pipeline's
    /// [`ErrorPolicy`]; the dead-letter channel receives the record itself.
    pub fn try_map<U, E, F>(self, f: F) -> Stream<U>
    where
        U: Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        F: Fn(&T) -> std::result::Result<U, E> + Send + 'static,
    {
        self.chain("try_map", Err("try_map"), move |b, ctx| {
            let mut out = Vec::with_capacity(b.len());
            for t in b {
                match catch_panic(&ctx.key, || f(&t)) {
                    Ok(Ok(u)) => out.push(u),
                    Ok(Err(e)) => {
                        let error = partita_runtime::Error::TaskFailed {
                            key: ctx.key.clone(),
                            source: Arc::from(e.into()),
                        };
                        ctx.failed(error, Some(Box::new(t)));
                    }
                    Err(e) => ctx.failed(e, Some(Box::new(t))),
                }
            }
            out
        })
    }

    /// Assigns event time: `timestamp` of each record. The watermark trails the largest event
    /// time seen by `lateness`: a record may arrive up to `lateness` behind the newest one and
    /// still count in its event-time window; later ones go to the late side output.
    pub fn with_timestamps<F>(self, timestamp: F, lateness: i64) -> Stream<T>
    where
        F: Fn(&T) -> i64 + Send + Sync + 'static,
    {
        let timestamp: TimestampFn<T> = Arc::new(timestamp);
        let ts = timestamp.clone();
        let plan = then::<F>(&self.plan, "with_timestamps", |f| Step::Timestamps {
            f,
            lateness,
        });
        let build = self.build;
        Stream {
            build: Box::new(move |launch| {
                let inner = build(launch);
                Box::new(Timestamped {
                    inner,
                    timestamp: ts,
                    lateness: lateness.max(0),
                    max_seen: i64::MIN,
                    pending: None,
                })
            }),
            event_time: Some(timestamp),
            plan,
        }
    }

    /// Groups every `n` records into one `Vec`: a micro-batch, which can become a Bag
    /// partition (`Bag::from_sequence(batch, 1)`). The last batch may be shorter.
    pub fn batch(self, n: usize) -> Stream<Vec<T>> {
        self.batch_within(n, None)
    }

    /// Like [`batch`](Self::batch), but a batch is also emitted once its oldest record has
    /// waited `max_wait` (checked about every 20 ms), so a slow stream still flows.
    pub fn batch_within(self, n: usize, max_wait: impl Into<Option<Duration>>) -> Stream<Vec<T>> {
        let max_wait = max_wait.into();
        let n = n.max(1);
        let build = self.build;
        Stream::new(
            Box::new(move |launch| {
                let inner = build(launch);
                Box::new(Rebatch {
                    inner,
                    n,
                    max_wait,
                    since: None,
                    buffer: Vec::new(),
                    ended: false,
                })
            }),
            Err("batch"),
        )
    }

    /// Micro-batches as Arrow data: every `n` records (or what arrived within `max_wait`) go
    /// through `convert` into one `RecordBatch`, so DataFrame expressions and kernels can run
    /// on a stream. A failed conversion follows the error policy.
    pub fn record_batches<F>(
        self,
        n: usize,
        max_wait: impl Into<Option<Duration>>,
        convert: F,
    ) -> Stream<arrow::array::RecordBatch>
    where
        F: Fn(Vec<T>) -> std::result::Result<arrow::array::RecordBatch, arrow::error::ArrowError>
            + Send
            + 'static,
    {
        self.batch_within(n, max_wait).chain(
            "record_batches",
            Err("record_batches"),
            move |groups, ctx| {
                groups
                    .into_iter()
                    .filter_map(|rows| match convert(rows) {
                        Ok(batch) => Some(batch),
                        Err(e) => {
                            let error = partita_runtime::Error::failed_by(ctx.key.clone(), e);
                            ctx.failed(error, None);
                            None
                        }
                    })
                    .collect()
            },
        )
    }

    /// The records of both streams, interleaved as they arrive. Event time does not carry over:
    /// assign it after the union.
    pub fn union(self, other: Stream<T>) -> Stream<T> {
        let plan = match (self.plan, other.plan) {
            (Ok(mut a), Ok(b)) => {
                a.push(Step::Union(b));
                Ok(a)
            }
            (Err(stage), _) | (_, Err(stage)) => Err(stage),
        };
        let (a, b) = (self.build, other.build);
        Stream::new(
            Box::new(move |launch| {
                let (tx, rx) = crossbeam_channel::bounded(launch.capacity());
                for (i, build) in [a, b].into_iter().enumerate() {
                    let mut inlet = build(launch);
                    let (tx, control) = (tx.clone(), launch.control().clone());
                    launch.spawn(&format!("union-{i}"), move || loop {
                        match inlet.next() {
                            Some(Msg::Batch(b)) => {
                                if !send(&tx, Msg::Batch(b), &control) {
                                    return;
                                }
                            }
                            Some(Msg::Watermark(_) | Msg::Idle) => {}
                            Some(Msg::End) | None => {
                                send(&tx, Msg::End, &control);
                                return;
                            }
                        }
                    });
                }
                Box::new(Mailbox::new(rx, launch.control().clone(), 2))
            }),
            plan,
        )
    }

    /// Partitions the stream by `key`, for per-key state and windows.
    pub fn key_by<K, F>(self, key: F) -> KeyedStream<K, T>
    where
        K: Hash + Eq + Clone + Send + 'static,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let plan = then::<F>(&self.plan, "key_by", |f| Step::KeyBy { f, parallelism: 1 });
        KeyedStream {
            stream: self,
            key: Arc::new(key),
            parallelism: 1,
            plan,
        }
    }
}

/// What an operator needs to report a failed record.
pub(crate) struct OpContext {
    stage: &'static str,
    /// The operator's key in errors and events: its name, index 0.
    key: TaskKey,
    control: Arc<StageControl>,
    counters: Arc<StageCounters>,
}

impl OpContext {
    /// Applies the error policy to a failed record: `error` fails the run under
    /// [`ErrorPolicy::Fail`]; a dead letter carries its message.
    fn failed(
        &mut self,
        error: partita_runtime::Error,
        record: Option<Box<dyn std::any::Any + Send>>,
    ) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        match self.control.policy() {
            ErrorPolicy::Fail => self.control.fail(error),
            ErrorPolicy::Skip => {}
            ErrorPolicy::DeadLetter(tx) => {
                let _ = tx.send(DeadLetter {
                    stage: self.stage.to_string(),
                    error: error_text(&error),
                    record,
                });
            }
        }
    }
}

/// What a dead letter says: the operator's own message, without the key around it.
fn error_text(error: &partita_runtime::Error) -> String {
    match error {
        partita_runtime::Error::TaskPanicked { message, .. } => message.clone(),
        partita_runtime::Error::TaskFailed { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// Regroups records into batches of `n`, or of whatever arrived within `max_wait`.
struct Rebatch<T> {
    inner: Box<dyn Inlet<T>>,
    n: usize,
    max_wait: Option<Duration>,
    /// When the oldest buffered record arrived.
    since: Option<Instant>,
    buffer: Vec<T>,
    ended: bool,
}

impl<T: Send> Inlet<Vec<T>> for Rebatch<T> {
    fn next(&mut self) -> Option<Msg<Vec<T>>> {
        loop {
            if self.buffer.len() >= self.n {
                let rest = self.buffer.split_off(self.n);
                let full = std::mem::replace(&mut self.buffer, rest);
                self.since = (!self.buffer.is_empty()).then(Instant::now);
                return Some(Msg::Batch(vec![full]));
            }
            let overdue = match (self.max_wait, self.since) {
                (Some(wait), Some(since)) => since.elapsed() >= wait,
                _ => false,
            };
            if overdue && !self.buffer.is_empty() {
                self.since = None;
                return Some(Msg::Batch(vec![std::mem::take(&mut self.buffer)]));
            }
            if self.ended {
                return Some(Msg::End);
            }
            match self.inner.next()? {
                Msg::Batch(b) => {
                    if self.buffer.is_empty() && !b.is_empty() {
                        self.since = Some(Instant::now());
                    }
                    self.buffer.extend(b);
                }
                Msg::Watermark(_) | Msg::Idle => {}
                Msg::End => {
                    self.ended = true;
                    if !self.buffer.is_empty() {
                        return Some(Msg::Batch(vec![std::mem::take(&mut self.buffer)]));
                    }
                }
            }
        }
    }
}
