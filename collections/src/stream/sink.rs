//! Sinks: where a stream's records end, and the [`Topology`] a sink makes.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use partita_runtime::{ErrorPolicy, Launch, Msg, Runtime};

use super::pipeline::Pipeline;
use super::plan::{SinkPlan, Step};
use super::Stream;

/// What a sink's callback may fail with: a `String`, a `&str` or any error type converts into it.
type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// The run's error for a failure of the sink `stage`, keeping the callback's error as the source.
fn sink_error(stage: &str, e: SinkError) -> partita_runtime::Error {
    partita_runtime::Error::TaskFailed {
        key: partita_runtime::TaskKey::new(stage, 0),
        source: Arc::from(e),
    }
}

impl<T: Send + 'static> Stream<T> {
    /// A sink that calls `f` on every record, in order.
    pub fn for_each<F>(self, f: F) -> Topology<()>
    where
        F: FnMut(T) + Send + 'static,
    {
        let mut f = f;
        self.sink(
            "for_each",
            move |b: Vec<T>, _: &mut ()| b.into_iter().for_each(&mut f),
            (),
        )
    }

    /// A sink that sends every record to `tx`, waiting while `tx` is full.
    pub fn to_channel(self, tx: Sender<T>) -> Topology<()> {
        self.sink(
            "to_channel",
            move |b: Vec<T>, _: &mut ()| {
                for t in b {
                    if tx.send(t).is_err() {
                        return;
                    }
                }
            },
            (),
        )
    }

    /// A sink that collects up to `max` records; more fail the run.
    pub fn collect(self, max: usize) -> Topology<Vec<T>> {
        let plan = self
            .plan
            .clone()
            .map(|steps| (steps, SinkPlan::Collect { max }));
        let mut t = self.sink_fallible(
            "collect",
            move |b: Vec<T>, acc: &mut Vec<T>| {
                if acc.len() + b.len() > max {
                    return Err(format!("collect: more than {max} records").into());
                }
                acc.extend(b);
                Ok(())
            },
            Vec::new(),
        );
        t.plan = plan;
        t
    }

    /// A sink that folds every record into an accumulator, starting from `init`.
    pub fn fold<A, F>(self, init: A, mut f: F) -> Topology<A>
    where
        A: Send + 'static,
        F: FnMut(&mut A, T) + Send + 'static,
    {
        self.sink(
            "fold",
            move |b: Vec<T>, acc: &mut A| b.into_iter().for_each(|t| f(acc, t)),
            init,
        )
    }

    /// A sink that counts the records.
    pub fn count(self) -> Topology<u64> {
        let plan = self.plan.clone().map(|steps| (steps, SinkPlan::Count));
        let mut t = self.sink("count", |b: Vec<T>, n: &mut u64| *n += b.len() as u64, 0);
        t.plan = plan;
        t
    }

    fn sink<R: Send + 'static>(
        self,
        name: &'static str,
        mut consume: impl FnMut(Vec<T>, &mut R) + Send + 'static,
        init: R,
    ) -> Topology<R> {
        self.sink_fallible(
            name,
            move |b, acc| {
                consume(b, acc);
                Ok(())
            },
            init,
        )
    }

    /// A sink that hands every batch to `write`, then calls `finish` once the stream has
    /// ended; an error from either fails the run, with that error (a `String`, or any error
    /// type, kept typed) as the failure's source. Custom sinks (files, databases) build on it.
    ///
    /// ```
    /// use partita_collections::Stream;
    /// let total = Stream::iter(1..=100_u64)
    ///     .sink_batches("sum", 0_u64, |sum, batch| { *sum += batch.iter().sum::<u64>(); Ok::<_, String>(()) }, Ok)
    ///     .start()
    ///     .wait()?;
    /// assert_eq!(total, 5050);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn sink_batches<S, R, E, W, F>(
        self,
        name: &'static str,
        state: S,
        mut write: W,
        finish: F,
    ) -> Topology<R>
    where
        S: Send + 'static,
        R: Send + 'static,
        E: Into<SinkError>,
        W: FnMut(&mut S, Vec<T>) -> std::result::Result<(), E> + Send + 'static,
        F: FnOnce(S) -> std::result::Result<R, E> + Send + 'static,
    {
        self.sink_finishing(
            name,
            move |b, s: &mut S| write(s, b).map_err(Into::into),
            state,
            move |s| finish(s).map_err(Into::into),
        )
    }

    fn sink_fallible<R: Send + 'static>(
        self,
        name: &'static str,
        consume: impl FnMut(Vec<T>, &mut R) -> std::result::Result<(), SinkError> + Send + 'static,
        init: R,
    ) -> Topology<R> {
        self.sink_finishing(name, consume, init, Ok)
    }

    fn sink_finishing<S: Send + 'static, R: Send + 'static>(
        self,
        name: &'static str,
        mut consume: impl FnMut(Vec<T>, &mut S) -> std::result::Result<(), SinkError> + Send + 'static,
        init: S,
        finish: impl FnOnce(S) -> std::result::Result<R, SinkError> + Send + 'static,
    ) -> Topology<R> {
        let build = self.build;
        Topology {
            start: Box::new(move |launch: &mut Launch| {
                let result = Arc::new(Mutex::new(None));
                let out = result.clone();
                let mut inlet = build(launch);
                let counters = launch.stage(name, None);
                let control = launch.control().clone();
                launch.spawn(name, move || {
                    let mut acc = init;
                    loop {
                        match inlet.next() {
                            Some(Msg::Batch(b)) => {
                                counters
                                    .records_in
                                    .fetch_add(b.len() as u64, Ordering::Relaxed);
                                if let Err(e) = consume(b, &mut acc) {
                                    control.fail(sink_error(name, e));
                                    return;
                                }
                            }
                            Some(Msg::Watermark(_) | Msg::Idle) => {}
                            Some(Msg::End) => break,
                            None => return,
                        }
                    }
                    match finish(acc) {
                        Ok(r) => *out.lock() = Some(r),
                        Err(e) => control.fail(sink_error(name, e)),
                    }
                });
                result
            }),
            policy: ErrorPolicy::Fail,
            capacity: 16,
            batch: 1024,
            plan: Err(name),
        }
    }
}

type StartFn<R> = Box<dyn FnOnce(&mut Launch) -> Arc<Mutex<Option<R>>> + Send>;

/// A pipeline ready to start: a stream with its sink.
pub struct Topology<R> {
    start: StartFn<R>,
    pub(super) policy: ErrorPolicy,
    pub(super) capacity: usize,
    pub(super) batch: usize,
    /// The pipeline as data, if every stage is: its steps and its sink.
    pub(super) plan: std::result::Result<(Vec<Step>, SinkPlan), &'static str>,
}

impl<R> std::fmt::Debug for Topology<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topology")
            .field("policy", &self.policy)
            .field("capacity", &self.capacity)
            .field("batch", &self.batch)
            .finish()
    }
}

impl<R: Send + 'static> Topology<R> {
    /// What to do when an operator fails on a record. Defaults to [`ErrorPolicy::Fail`].
    pub fn on_error(mut self, policy: ErrorPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Each mailbox holds at most this many batches (default 16).
    pub fn capacity(mut self, batches: usize) -> Self {
        self.capacity = batches.max(1);
        self
    }

    /// Sources emit batches of at most this many records (default 1024).
    pub fn batch_size(mut self, records: usize) -> Self {
        self.batch = records.max(1);
        self
    }

    /// Starts every stage on [`Runtime::current`] (the runtime installed on this thread with
    /// [`Runtime::install`], or the global one) and returns the running pipeline. The stages
    /// report to the runtime's event stream, each as a task keyed by its name, and their threads
    /// belong to the runtime: shutting it down stops and joins them.
    ///
    /// ```
    /// use partita_collections::Stream;
    /// use partita_runtime::{EventKind, Runtime};
    /// let rt = Runtime::builder().threads(1).build()?;
    /// let events = rt.subscribe();
    /// let n = rt.install(|| Stream::iter(0..100_u64).count().start()).wait()?;
    /// assert_eq!(n, 100);
    /// let stages = events
    ///     .receiver()
    ///     .try_iter()
    ///     .filter(|e| matches!(e.kind, EventKind::TaskFinished))
    ///     .count();
    /// assert_eq!(stages, 2); // the source and the sink
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn start(self) -> Pipeline<R> {
        let runtime = Runtime::current();
        let mut launch = Launch::new(&runtime, self.policy, self.capacity, self.batch);
        let result = (self.start)(&mut launch);
        Pipeline::new(launch.start(), result)
    }
}
