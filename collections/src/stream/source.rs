//! Sources: where a stream's records come from. Each source is a stage of its own, a thread
//! that produces batches into a bounded mailbox.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use futures_core::Stream as AsyncStream;

use partita_runtime::{send, Inlet, Launch, Mailbox, Msg, StageControl};

use super::plan::Step;
use super::Stream;

/// Starts a source stage: `produce` gets an `emit` that sends one batch (waiting while the
/// mailbox is full) and returns `false` once the run is aborted.
fn source<T: Send + 'static>(
    launch: &mut Launch,
    name: &str,
    produce: impl FnOnce(&mut dyn FnMut(Vec<T>) -> bool, &StageControl, usize) + Send + 'static,
) -> Box<dyn Inlet<T>> {
    let (tx, rx) = crossbeam_channel::bounded(launch.capacity());
    let depth_rx = rx.clone();
    let counters = launch.stage(
        name,
        Some(Box::new(move || {
            (depth_rx.len(), depth_rx.capacity().unwrap_or(0))
        })),
    );
    let control = launch.control().clone();
    let batch = launch.batch();
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
    Box::new(Mailbox::new(rx, launch.control().clone(), 1))
}

impl<T: Send + 'static> Stream<T> {
    /// A stream of the items of `iter`, pulled as fast as the pipeline takes them. The stream
    /// ends when the iterator does (or on `stop`).
    pub fn iter<I>(iter: I) -> Stream<T>
    where
        I: IntoIterator<Item = T> + Send + 'static,
        I::IntoIter: Send,
    {
        Stream::new(
            Box::new(move |launch| {
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
            }),
            Err("iter"),
        )
    }

    /// A stream of the records sent on `rx`. It ends when every sender is dropped (or on
    /// `stop`). Records are forwarded as soon as they arrive, in batches of what is waiting.
    pub fn from_channel(rx: Receiver<T>) -> Stream<T> {
        Stream::new(
            Box::new(move |launch| {
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
            }),
            Err("from_channel"),
        )
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
        Stream::new(
            Box::new(move |launch| {
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
            }),
            Err("from_async"),
        )
    }

    /// `n` records `f(0)`, `f(1)`, ... (or unbounded with `None`), at full speed or at about
    /// `per_second` records a second. For tests and benchmarks.
    pub fn generate<F>(n: Option<u64>, per_second: Option<f64>, f: F) -> Stream<T>
    where
        F: Fn(u64) -> T + Send + 'static,
    {
        let generate_plan = match crate::item_fn::item_fn_name::<F>() {
            Some(f) => Ok(vec![Step::Generate {
                n,
                per_second,
                f: f.to_string(),
            }]),
            None => Err("generate"),
        };
        Stream::new(
            Box::new(move |launch| {
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
            }),
            generate_plan,
        )
    }
}

impl Stream<String> {
    /// The lines appended to a text file, read as it grows (`tail -f`). The stream ends on
    /// `stop`; a line is emitted once its newline is written.
    pub fn tail(path: impl Into<std::path::PathBuf>) -> Stream<String> {
        let path = path.into();
        let plan_path = path.clone();
        Stream::new(
            Box::new(move |launch| {
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
            }),
            Ok(vec![Step::Tail { path: plan_path }]),
        )
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
