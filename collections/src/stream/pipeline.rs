//! A running pipeline: its stage threads, its controls, its metrics and its failures.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use crate::error::{Error, Result};

/// What to do when an operator fails (returns an error or panics) on a record.
#[derive(Clone, Debug, Default)]
pub enum ErrorPolicy {
    /// Stop the pipeline; [`Pipeline::wait`] returns the error.
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

/// Counters of one stage, updated as it runs.
#[derive(Debug, Default)]
pub(crate) struct StageCounters {
    pub(crate) records_in: AtomicU64,
    pub(crate) records_out: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) late: AtomicU64,
    /// The largest event time seen and the current watermark, for event-time stages.
    pub(crate) max_event_time: AtomicI64,
    pub(crate) watermark: AtomicI64,
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

/// Shared state of one run.
pub(crate) struct Control {
    pub(crate) stop: AtomicBool,
    pub(crate) abort: AtomicBool,
    pub(crate) failure: Mutex<Option<Error>>,
    pub(crate) policy: ErrorPolicy,
}

impl Control {
    pub(crate) fn new(policy: ErrorPolicy) -> Arc<Control> {
        Arc::new(Control {
            stop: AtomicBool::new(false),
            abort: AtomicBool::new(false),
            failure: Mutex::new(None),
            policy,
        })
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.aborted()
    }

    pub(crate) fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }

    /// Records the first failure and aborts the run.
    pub(crate) fn fail(&self, error: Error) {
        self.failure.lock().get_or_insert(error);
        self.abort.store(true, Ordering::SeqCst);
    }
}

type Depth = Box<dyn Fn() -> (usize, usize) + Send + Sync>;

/// Everything `start` creates: threads to join, stages to watch.
pub(crate) struct Launch {
    pub(crate) control: Arc<Control>,
    pub(crate) threads: Vec<JoinHandle<()>>,
    pub(crate) stages: Vec<(String, Arc<StageCounters>, Option<Depth>)>,
    /// Mailbox capacity, in batches.
    pub(crate) capacity: usize,
    /// Records per batch at the sources.
    pub(crate) batch: usize,
}

impl Launch {
    pub(crate) fn stage(&mut self, name: &str, depth: Option<Depth>) -> Arc<StageCounters> {
        let counters = Arc::new(StageCounters::default());
        counters.watermark.store(i64::MIN, Ordering::Relaxed);
        counters.max_event_time.store(i64::MIN, Ordering::Relaxed);
        self.stages
            .push((name.to_string(), counters.clone(), depth));
        counters
    }

    /// Starts a stage thread. A panic that escapes the stage fails the run.
    pub(crate) fn spawn(&mut self, name: &str, body: impl FnOnce() + Send + 'static) {
        let control = self.control.clone();
        let stage = name.to_string();
        let handle = std::thread::Builder::new()
            .name(format!("partita-stream-{name}"))
            .spawn(move || {
                if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
                    control.fail(
                        partita_runtime::Error::failed(
                            partita_runtime::TaskKey::new(stage, 0),
                            panic_text(payload.as_ref()),
                        )
                        .into(),
                    );
                }
            });
        match handle {
            Ok(h) => self.threads.push(h),
            Err(e) => self.control.fail(
                partita_runtime::Error::Spawn {
                    thread: name.to_string(),
                    source: Arc::new(e),
                }
                .into(),
            ),
        }
    }
}

pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-string payload".into())
}

/// A started pipeline. [`stop`](Self::stop) drains it, [`abort`](Self::abort) stops it at once,
/// [`wait`](Self::wait) waits for a finite stream to end.
pub struct Pipeline<R> {
    control: Arc<Control>,
    threads: Vec<JoinHandle<()>>,
    stages: Vec<(String, Arc<StageCounters>, Option<Depth>)>,
    result: Arc<Mutex<Option<R>>>,
}

impl<R> std::fmt::Debug for Pipeline<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field(
                "stages",
                &self.stages.iter().map(|s| &s.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<R> Pipeline<R> {
    pub(crate) fn new(launch: Launch, result: Arc<Mutex<Option<R>>>) -> Self {
        Pipeline {
            control: launch.control,
            threads: launch.threads,
            stages: launch.stages,
            result,
        }
    }

    /// The metrics of every stage, source first.
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

    /// Whether every stage has finished.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// Waits for the stream to end (a finite source ran out, or [`stop`](Self::stop) was called
    /// from another handle) and returns the sink's result.
    ///
    /// # Errors
    /// The first failure, under [`ErrorPolicy::Fail`], or a stage that died.
    pub fn wait(mut self) -> Result<R> {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(e) = self.control.failure.lock().take() {
            return Err(e);
        }
        self.result
            .lock()
            .take()
            .ok_or_else(|| partita_runtime::Error::Shutdown.into())
    }

    /// Stops the sources and drains: every record a source has accepted goes through to the
    /// sink. Returns the sink's result.
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    pub fn stop(self) -> Result<R> {
        self.control.stop.store(true, Ordering::SeqCst);
        self.wait()
    }

    /// Stops every stage at once; records in flight are dropped.
    pub fn abort(mut self) {
        self.control.abort.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl<R> Drop for Pipeline<R> {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.control.abort.store(true, Ordering::SeqCst);
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        }
    }
}
