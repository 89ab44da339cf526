//! A profiler that writes Chrome trace-event JSON, which Perfetto and `chrome://tracing` open.

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use crate::error::{Error, Result};
use crate::events::{EventKind, Subscription};
use crate::runtime::Runtime;

/// Records every task that runs on a runtime while it lives.
///
/// ```
/// use partita_runtime::{Profiler, Runtime};
/// let rt = Runtime::builder().threads(2).build()?;
/// let profiler = Profiler::new(&rt);
/// partita_runtime::gather(&rt.map(|x: u32| x + 1, 0..8))?;
/// let trace = profiler.chrome_trace();
/// assert_eq!(trace["traceEvents"].as_array().unwrap().len(), 8);
/// # Ok::<(), partita_runtime::Error>(())
/// ```
#[derive(Debug)]
pub struct Profiler {
    subscription: Subscription,
    epoch: Instant,
}

impl Profiler {
    /// Starts recording.
    pub fn new(runtime: &Runtime) -> Profiler {
        Profiler {
            subscription: runtime.subscribe(),
            epoch: Instant::now(),
        }
    }

    /// The tasks recorded since the last call, as a Chrome trace: one complete (`"ph": "X"`)
    /// event per task, on one track per pool thread.
    pub fn chrome_trace(&self) -> serde_json::Value {
        let events: Vec<serde_json::Value> = self
            .subscription
            .receiver()
            .try_iter()
            .filter_map(|e| {
                let key = e.key?;
                let failed = match e.kind {
                    EventKind::TaskFinished => false,
                    EventKind::TaskFailed { .. } => true,
                    _ => return None,
                };
                let end = e.at.saturating_duration_since(self.epoch);
                let start = end.saturating_sub(e.duration);
                Some(json!({
                    "name": key.to_string(),
                    "cat": key.name(),
                    "ph": "X",
                    "ts": start.as_secs_f64() * 1e6,
                    "dur": e.duration.as_secs_f64() * 1e6,
                    "pid": 1,
                    "tid": e.thread.map_or(0, |t| t + 1),
                    "args": { "compute": e.compute.0, "failed": failed },
                }))
            })
            .collect();
        json!({ "traceEvents": events, "displayTimeUnit": "ms" })
    }

    /// Writes [`chrome_trace`](Self::chrome_trace) to `path` and returns the number of tasks in it.
    ///
    /// # Errors
    /// [`Error::Io`] naming the path.
    pub fn write_chrome_trace(&self, path: impl AsRef<Path>) -> Result<usize> {
        let path = path.as_ref();
        let trace = self.chrome_trace();
        let n = trace["traceEvents"].as_array().map_or(0, Vec::len);
        std::fs::write(path, trace.to_string())
            .map_err(|e| Error::io(path.display().to_string(), e))?;
        Ok(n)
    }
}
