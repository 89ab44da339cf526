//! Streaming pipelines: unbounded streams through long-lived stages, with backpressure and
//! windows.
//!
//! A pipeline is a chain of stages. Each stage is a long-lived actor (a thread of its own)
//! with a bounded mailbox of record batches, so a slow stage slows everything upstream of it
//! (backpressure) and memory stays flat however long the stream runs. Element-wise operators
//! (`map`, `filter`, `flat_map`, `inspect`, `try_map`) chain into the stage that reads them
//! and cost no thread. Stateful operators (`key_by(..).fold`, windows) and sinks are stages.
//!
//! Life cycle: a sink makes a [`Topology`]; `start` runs it and returns a [`Pipeline`].
//! `Pipeline::stop` stops the sources and drains: every record a source accepted reaches the
//! sink (or the error policy). `abort` stops at once. `wait` waits for a finite stream to end.
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
mod pipeline;
mod window;

use std::hash::Hash;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use futures_core::Stream as AsyncStream;
use parking_lot::Mutex;

use self::inlet::{send, Inlet, Mailbox, Mapped, Msg, Timestamped};
pub(crate) use self::pipeline::StageCounters;
use self::pipeline::{panic_text, Control, Launch};
pub use self::pipeline::{DeadLetter, ErrorPolicy, Pipeline, StageMetrics};
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
}

impl<T> std::fmt::Debug for Stream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("type", &std::any::type_name::<T>())
            .field("event_time", &self.event_time.is_some())
            .finish()
    }
}

/// Starts a source stage: `produce` gets an `emit` that sends one batch (waiting while the
/// mailbox is full) and returns `false` once the run is aborted.
fn source<T: Send + 'static>(
    launch: &mut Launch,
    name: &str,
    produce: impl FnOnce(&mut dyn FnMut(Vec<T>) -> bool, &Control, usize) + Send + 'static,
) -> Box<dyn Inlet<T>> {
    let (tx, rx) = crossbeam_channel::bounded(launch.capacity);
    let depth_rx = rx.clone();
    let counters = launch.stage(
        name,
        Some(Box::new(move || {
            (depth_rx.len(), depth_rx.capacity().unwrap_or(0))
        })),
    );
    let control = launch.control.clone();
    let batch = launch.batch;
    launch.spawn(name, move || {
        let mut emit = |b: Vec<T>| {
            counters
                .records_out
                .fetch_add(b.len() as u64, Ordering::Relaxed);
            send(&tx, Msg::Batch(b), &control)
        };
        produce(&mut emit, &control, batch);
        send(&tx, Msg::End, &control);
    });
    Box::new(Mailbox {
        rx,
        control: launch.control.clone(),
        ends: 1,
    })
}

impl<T: Send + 'static> Stream<T> {
    fn new(build: Build<T>) -> Self {
        Stream {
            build,
            event_time: None,
        }
    }

    /// A stream of the items of `iter`, pulled as fast as the pipeline takes them. The stream
    /// ends when the iterator does (or on `stop`).
    pub fn iter<I>(iter: I) -> Stream<T>
    where
        I: IntoIterator<Item = T> + Send + 'static,
        I::IntoIter: Send,
    {
        Stream::new(Box::new(move |launch| {
            source(launch, "source", move |emit, control, batch| {
                let mut it = iter.into_iter();
                while !control.stopping() {
                    let b: Vec<T> = it.by_ref().take(batch).collect();
                    let last = b.len() < batch;
                    if !b.is_empty() && !emit(b) {
                        return;
                    }
                    if last {
                        return;
                    }
                }
            })
        }))
    }

    /// A stream of the records sent on `rx`. It ends when every sender is dropped (or on
    /// `stop`). Records are forwarded as soon as they arrive, in batches of what is waiting.
    pub fn from_channel(rx: Receiver<T>) -> Stream<T> {
        Stream::new(Box::new(move |launch| {
            source(launch, "channel", move |emit, control, batch| {
                while !control.stopping() {
                    match rx.recv_timeout(Duration::from_millis(20)) {
                        Ok(first) => {
                            let mut b = Vec::with_capacity(batch.min(1024));
                            b.push(first);
                            b.extend(rx.try_iter().take(batch - 1));
                            if !emit(b) {
                                return;
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
        }))
    }

    /// A stream of the records sent on a tokio channel: async senders (an HTTP handler, say)
    /// wait while the pipeline is full, without blocking their executor. It ends when every
    /// sender is dropped (or on `stop`).
    pub fn from_tokio(rx: tokio::sync::mpsc::Receiver<T>) -> Stream<T> {
        Stream::from_async(TokioReceiver(rx))
    }

    /// A stream of the items of an async stream (a tokio channel through `poll_recv`, say).
    /// The source polls it on a thread of its own, so no async runtime is needed here.
    pub fn from_async<S>(source_stream: S) -> Stream<T>
    where
        S: AsyncStream<Item = T> + Send + Unpin + 'static,
    {
        Stream::new(Box::new(move |launch| {
            source(launch, "async", move |emit, control, batch| {
                let mut s = source_stream;
                let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
                let mut cx = std::task::Context::from_waker(&waker);
                let mut b = Vec::new();
                while !control.stopping() {
                    match std::pin::Pin::new(&mut s).poll_next(&mut cx) {
                        std::task::Poll::Ready(Some(t)) => {
                            b.push(t);
                            if b.len() >= batch && !emit(std::mem::take(&mut b)) {
                                return;
                            }
                        }
                        std::task::Poll::Ready(None) => break,
                        std::task::Poll::Pending => {
                            if !b.is_empty() && !emit(std::mem::take(&mut b)) {
                                return;
                            }
                            std::thread::park_timeout(Duration::from_millis(20));
                        }
                    }
                }
                if !b.is_empty() {
                    emit(b);
                }
            })
        }))
    }

    /// `n` records `f(0)`, `f(1)`, ... (or unbounded with `None`), at full speed or at about
    /// `per_second` records a second. For tests and benchmarks.
    pub fn generate<F>(n: Option<u64>, per_second: Option<f64>, f: F) -> Stream<T>
    where
        F: Fn(u64) -> T + Send + 'static,
    {
        Stream::new(Box::new(move |launch| {
            source(launch, "generate", move |emit, control, batch| {
                let started = Instant::now();
                let mut i = 0_u64;
                let end = n.unwrap_or(u64::MAX);
                while i < end && !control.stopping() {
                    if let Some(rate) = per_second {
                        let due = started + Duration::from_secs_f64(i as f64 / rate);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait.min(Duration::from_millis(20)));
                            continue;
                        }
                    }
                    let take = match per_second {
                        Some(rate) => {
                            let allowed = (started.elapsed().as_secs_f64() * rate) as u64 + 1;
                            (allowed.saturating_sub(i)).clamp(1, batch as u64)
                        }
                        None => batch as u64,
                    }
                    .min(end - i);
                    let b: Vec<T> = (i..i + take).map(&f).collect();
                    i += take;
                    if !emit(b) {
                        return;
                    }
                }
            })
        }))
    }

    /// Applies a per-batch transformation in the reading stage, under the error policy.
    fn chain<U: Send + 'static>(
        self,
        name: &'static str,
        op: impl FnMut(Vec<T>, &mut OpContext) -> Vec<U> + Send + 'static,
    ) -> Stream<U> {
        let build = self.build;
        Stream::new(Box::new(move |launch| {
            let inner = build(launch);
            let counters = launch.stage(name, None);
            let mut ctx = OpContext {
                stage: name,
                control: launch.control.clone(),
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
        }))
    }

    /// `f` applied to every record.
    pub fn map<U, F>(self, f: F) -> Stream<U>
    where
        U: Send + 'static,
        F: Fn(T) -> U + Send + 'static,
    {
        self.chain("map", move |b, ctx| {
            let mut out = Vec::with_capacity(b.len());
            for t in b {
                match catch_unwind(AssertUnwindSafe(|| f(t))) {
                    Ok(u) => out.push(u),
                    Err(p) => ctx.failed(panic_text(p.as_ref()), None),
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
        let mut s = self.chain("filter", move |b, ctx| {
            let mut out = Vec::with_capacity(b.len());
            for t in b {
                match catch_unwind(AssertUnwindSafe(|| keep(&t))) {
                    Ok(true) => out.push(t),
                    Ok(false) => {}
                    Err(p) => ctx.failed(panic_text(p.as_ref()), Some(Box::new(t))),
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
        self.chain("flat_map", move |b, ctx| {
            let mut out = Vec::with_capacity(b.len());
            for t in b {
                match catch_unwind(AssertUnwindSafe(|| out.extend(f(t)))) {
                    Ok(()) => {}
                    Err(p) => ctx.failed(panic_text(p.as_ref()), None),
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
        let mut s = self.chain("inspect", move |b, _| {
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
        E: std::fmt::Display,
        F: Fn(&T) -> std::result::Result<U, E> + Send + 'static,
    {
        self.chain("try_map", move |b, ctx| {
            let mut out = Vec::with_capacity(b.len());
            for t in b {
                match catch_unwind(AssertUnwindSafe(|| f(&t))) {
                    Ok(Ok(u)) => out.push(u),
                    Ok(Err(e)) => ctx.failed(e.to_string(), Some(Box::new(t))),
                    Err(p) => ctx.failed(panic_text(p.as_ref()), Some(Box::new(t))),
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
        Stream::new(Box::new(move |launch| {
            let inner = build(launch);
            Box::new(Rebatch {
                inner,
                n,
                max_wait,
                since: None,
                buffer: Vec::new(),
                ended: false,
            })
        }))
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
        self.batch_within(n, max_wait)
            .chain("record_batches", move |groups, ctx| {
                groups
                    .into_iter()
                    .filter_map(|rows| match convert(rows) {
                        Ok(batch) => Some(batch),
                        Err(e) => {
                            ctx.failed(e.to_string(), None);
                            None
                        }
                    })
                    .collect()
            })
    }

    /// The records of both streams, interleaved as they arrive. Event time does not carry over:
    /// assign it after the union.
    pub fn union(self, other: Stream<T>) -> Stream<T> {
        let (a, b) = (self.build, other.build);
        Stream::new(Box::new(move |launch| {
            let (tx, rx) = crossbeam_channel::bounded(launch.capacity);
            for (i, build) in [a, b].into_iter().enumerate() {
                let mut inlet = build(launch);
                let (tx, control) = (tx.clone(), launch.control.clone());
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
            Box::new(Mailbox {
                rx,
                control: launch.control.clone(),
                ends: 2,
            })
        }))
    }

    /// Partitions the stream by `key`, for per-key state and windows.
    pub fn key_by<K, F>(self, key: F) -> KeyedStream<K, T>
    where
        K: Hash + Eq + Clone + Send + 'static,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        KeyedStream {
            stream: self,
            key: Arc::new(key),
            parallelism: 1,
        }
    }

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
        self.sink_fallible(
            "collect",
            move |b: Vec<T>, acc: &mut Vec<T>| {
                if acc.len() + b.len() > max {
                    return Err(format!("collect: more than {max} records"));
                }
                acc.extend(b);
                Ok(())
            },
            Vec::new(),
        )
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
        self.sink("count", |b: Vec<T>, n: &mut u64| *n += b.len() as u64, 0)
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
    /// ended; an error from either fails the run. Custom sinks (files, databases) build on it.
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
        E: std::fmt::Display,
        W: FnMut(&mut S, Vec<T>) -> std::result::Result<(), E> + Send + 'static,
        F: FnOnce(S) -> std::result::Result<R, E> + Send + 'static,
    {
        self.sink_finishing(
            name,
            move |b, s: &mut S| write(s, b).map_err(|e| e.to_string()),
            state,
            move |s| finish(s).map_err(|e| e.to_string()),
        )
    }

    fn sink_fallible<R: Send + 'static>(
        self,
        name: &'static str,
        consume: impl FnMut(Vec<T>, &mut R) -> std::result::Result<(), String> + Send + 'static,
        init: R,
    ) -> Topology<R> {
        self.sink_finishing(name, consume, init, Ok)
    }

    fn sink_finishing<S: Send + 'static, R: Send + 'static>(
        self,
        name: &'static str,
        mut consume: impl FnMut(Vec<T>, &mut S) -> std::result::Result<(), String> + Send + 'static,
        init: S,
        finish: impl FnOnce(S) -> std::result::Result<R, String> + Send + 'static,
    ) -> Topology<R> {
        let build = self.build;
        Topology {
            start: Box::new(move |launch: &mut Launch| {
                let result = Arc::new(Mutex::new(None));
                let out = result.clone();
                let mut inlet = build(launch);
                let counters = launch.stage(name, None);
                let control = launch.control.clone();
                launch.spawn(name, move || {
                    let mut acc = init;
                    loop {
                        match inlet.next() {
                            Some(Msg::Batch(b)) => {
                                counters
                                    .records_in
                                    .fetch_add(b.len() as u64, Ordering::Relaxed);
                                if let Err(e) = consume(b, &mut acc) {
                                    control.fail(stream_error(name, e));
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
                        Err(e) => control.fail(stream_error(name, e)),
                    }
                });
                result
            }),
            policy: ErrorPolicy::Fail,
            capacity: 16,
            batch: 1024,
        }
    }
}

impl Stream<String> {
    /// The lines appended to a text file, read as it grows (`tail -f`). The stream ends on
    /// `stop`; a line is emitted once its newline is written.
    pub fn tail(path: impl Into<std::path::PathBuf>) -> Stream<String> {
        let path = path.into();
        Stream::new(Box::new(move |launch| {
            source(launch, "tail", move |emit, control, batch| {
                use std::io::{BufRead, Seek};
                let mut offset = 0_u64;
                let mut partial = Vec::new();
                while !control.stopping() {
                    let mut lines = Vec::new();
                    if let Ok(file) = std::fs::File::open(&path) {
                        let mut r = std::io::BufReader::new(file);
                        if r.seek(std::io::SeekFrom::Start(offset)).is_ok() {
                            loop {
                                let n = r.read_until(b'\n', &mut partial).unwrap_or(0);
                                if n == 0 || partial.last() != Some(&b'\n') {
                                    offset += n as u64;
                                    break;
                                }
                                offset += n as u64;
                                partial.pop();
                                if partial.last() == Some(&b'\r') {
                                    partial.pop();
                                }
                                lines.push(String::from_utf8_lossy(&partial).into_owned());
                                partial.clear();
                                if lines.len() >= batch {
                                    break;
                                }
                            }
                        }
                    }
                    if lines.is_empty() {
                        std::thread::sleep(Duration::from_millis(20));
                    } else if !emit(lines) {
                        return;
                    }
                }
            })
        }))
    }
}

/// A tokio receiver as an async stream.
struct TokioReceiver<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> AsyncStream for TokioReceiver<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

/// Wakes the source thread that polls an async stream.
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn stream_error(stage: &str, message: String) -> crate::error::Error {
    partita_runtime::Error::TaskFailed {
        key: partita_runtime::TaskKey::new(stage, 0),
        message,
    }
    .into()
}

/// What an operator needs to report a failed record.
pub(crate) struct OpContext {
    stage: &'static str,
    control: Arc<Control>,
    counters: Arc<StageCounters>,
}

impl OpContext {
    /// Applies the error policy to a failed record.
    fn failed(&mut self, error: String, record: Option<Box<dyn std::any::Any + Send>>) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        match &self.control.policy {
            ErrorPolicy::Fail => self.control.fail(stream_error(self.stage, error)),
            ErrorPolicy::Skip => {}
            ErrorPolicy::DeadLetter(tx) => {
                let _ = tx.send(DeadLetter {
                    stage: self.stage.to_string(),
                    error,
                    record,
                });
            }
        }
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

/// A stream partitioned by key. Made by [`Stream::key_by`].
pub struct KeyedStream<K, T> {
    stream: Stream<T>,
    key: Arc<dyn Fn(&T) -> K + Send + Sync>,
    parallelism: usize,
}

impl<K, T> std::fmt::Debug for KeyedStream<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedStream")
            .field("parallelism", &self.parallelism)
            .finish()
    }
}

impl<K, T> KeyedStream<K, T>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Send + 'static,
{
    /// Runs the next stateful stage as `n` actors. Records are routed by a hash of their key,
    /// so each key's records stay in order on one actor.
    pub fn parallel(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        self
    }

    /// Keeps one accumulator per key, starting from `init`, and updates it with `step` for every
    /// record. After each batch, emits `(key, accumulator)` for every key the batch touched.
    pub fn fold<A, F>(self, init: A, step: F) -> Stream<(K, A)>
    where
        A: Clone + Send + 'static,
        F: Fn(&mut A, T) + Send + Sync + 'static,
    {
        let step = Arc::new(step);
        self.stateful("fold", move |_| {
            let step = step.clone();
            let init = init.clone();
            let mut state: std::collections::HashMap<K, A> = std::collections::HashMap::new();
            Box::new(move |msg: Msg<(K, T)>, emit: &mut dyn FnMut(Vec<(K, A)>)| {
                if let Msg::Batch(b) = msg {
                    let mut touched = Vec::new();
                    let mut seen = std::collections::HashSet::new();
                    for (k, t) in b {
                        let acc = state.entry(k.clone()).or_insert_with(|| init.clone());
                        step(acc, t);
                        if seen.insert(k.clone()) {
                            touched.push(k);
                        }
                    }
                    let out = touched
                        .into_iter()
                        .filter_map(|k| state.get(&k).map(|a| (k, a.clone())))
                        .collect();
                    emit(out);
                }
            })
        })
    }

    /// Like [`fold`](Self::fold) with the first record of each key as its start.
    pub fn reduce<F>(self, f: F) -> Stream<(K, T)>
    where
        T: Clone,
        F: Fn(&T, &T) -> T + Send + Sync + 'static,
    {
        self.fold(None::<T>, move |acc, t| {
            *acc = Some(match acc.take() {
                Some(a) => f(&a, &t),
                None => t,
            });
        })
        .flat_map(|(k, v)| v.map(|v| (k, v)))
    }

    /// Windows per key; aggregate them with the methods of [`WindowedStream`].
    pub fn window(self, window: Window) -> WindowedStream<K, T> {
        WindowedStream::new(self, window)
    }

    /// Starts the stateful stage: routes records by key to `parallelism` actors, each running
    /// its own `make()` handler, and merges their output into one mailbox.
    fn stateful<U: Send + 'static>(
        self,
        name: &'static str,
        make: impl Fn(&Arc<StageCounters>) -> Actor<(K, T), U> + Send + 'static,
    ) -> Stream<U> {
        let KeyedStream {
            stream,
            key,
            parallelism,
        } = self;
        let build = stream.build;
        Stream::new(Box::new(move |launch| {
            let mut inlet = build(launch);
            let n = parallelism;
            let (out_tx, out_rx) = crossbeam_channel::bounded(launch.capacity);
            if n == 1 {
                // One actor: it keys the records itself, with no router in between.
                let counters = launch.stage(&format!("{name}-0"), None);
                let handler = make(&counters);
                let keyed: Box<dyn Inlet<(K, T)>> = Box::new(Mapped {
                    inner: inlet,
                    apply: Box::new(move |b: Vec<T>| b.into_iter().map(|t| (key(&t), t)).collect()),
                });
                let control = launch.control.clone();
                launch.spawn(&format!("{name}-0"), move || {
                    run_actor(keyed, handler, &counters, &out_tx, &control)
                });
                return Box::new(Mailbox {
                    rx: out_rx,
                    control: launch.control.clone(),
                    ends: 1,
                }) as Box<dyn Inlet<U>>;
            }
            let mut inboxes = Vec::with_capacity(n);
            for i in 0..n {
                let (tx, rx) = crossbeam_channel::bounded::<Msg<(K, T)>>(launch.capacity);
                let depth_rx = rx.clone();
                let counters = launch.stage(
                    &format!("{name}-{i}"),
                    Some(Box::new(move || {
                        (depth_rx.len(), depth_rx.capacity().unwrap_or(0))
                    })),
                );
                inboxes.push(tx);
                let handler = make(&counters);
                let (out_tx, control) = (out_tx.clone(), launch.control.clone());
                let mailbox = Box::new(Mailbox {
                    rx,
                    control: control.clone(),
                    ends: 1,
                });
                launch.spawn(&format!("{name}-{i}"), move || {
                    run_actor(mailbox, handler, &counters, &out_tx, &control)
                });
            }
            // The router: keys records and sends each to its actor; watermarks go to all.
            let control = launch.control.clone();
            launch.spawn(&format!("{name}-router"), move || {
                let hasher = foldhash::fast::FixedState::with_seed(7);
                loop {
                    match inlet.next() {
                        Some(Msg::Batch(b)) => {
                            let mut parts: Vec<Vec<(K, T)>> = (0..n).map(|_| Vec::new()).collect();
                            for t in b {
                                let k = key(&t);
                                let i = if n == 1 {
                                    0
                                } else {
                                    (std::hash::BuildHasher::hash_one(&hasher, &k) % n as u64)
                                        as usize
                                };
                                parts[i].push((k, t));
                            }
                            for (i, p) in parts.into_iter().enumerate() {
                                if !p.is_empty() && !send(&inboxes[i], Msg::Batch(p), &control) {
                                    return;
                                }
                            }
                        }
                        Some(Msg::Watermark(w)) => {
                            for tx in &inboxes {
                                if !send(tx, Msg::Watermark(w), &control) {
                                    return;
                                }
                            }
                        }
                        Some(Msg::End) => {
                            for tx in &inboxes {
                                send(tx, Msg::End, &control);
                            }
                            return;
                        }
                        Some(Msg::Idle) => {}
                        None => return,
                    }
                }
            });
            Box::new(Mailbox {
                rx: out_rx,
                control: launch.control.clone(),
                ends: n,
            })
        }))
    }
}

type StartFn<R> = Box<dyn FnOnce(&mut Launch) -> Arc<Mutex<Option<R>>> + Send>;

/// The loop of one stateful actor: feeds its handler every message from `inlet` and sends what
/// the handler emits downstream, until the end of the stream or an abort.
fn run_actor<I, U>(
    mut inlet: Box<dyn Inlet<I>>,
    mut handler: Actor<I, U>,
    counters: &StageCounters,
    out_tx: &Sender<Msg<U>>,
    control: &Control,
) {
    let mut emit = |b: Vec<U>| {
        if !b.is_empty() {
            counters
                .records_out
                .fetch_add(b.len() as u64, Ordering::Relaxed);
            send(out_tx, Msg::Batch(b), control);
        }
    };
    loop {
        match inlet.next() {
            Some(Msg::Idle) => {}
            Some(Msg::End) => {
                handler(Msg::End, &mut emit);
                send(out_tx, Msg::End, control);
                return;
            }
            Some(m) => {
                match &m {
                    Msg::Batch(b) => {
                        counters
                            .records_in
                            .fetch_add(b.len() as u64, Ordering::Relaxed);
                    }
                    Msg::Watermark(w) => counters.watermark.store(*w, Ordering::Relaxed),
                    Msg::End | Msg::Idle => {}
                }
                handler(m, &mut emit);
            }
            None => return,
        }
    }
}

/// A pipeline ready to start: a stream with its sink.
pub struct Topology<R> {
    start: StartFn<R>,
    policy: ErrorPolicy,
    capacity: usize,
    batch: usize,
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

    /// Starts every stage and returns the running pipeline.
    pub fn start(self) -> Pipeline<R> {
        let mut launch = Launch {
            control: Control::new(self.policy),
            threads: Vec::new(),
            stages: Vec::new(),
            capacity: self.capacity,
            batch: self.batch,
        };
        let result = (self.start)(&mut launch);
        Pipeline::new(launch, result)
    }
}
