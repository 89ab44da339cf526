//! A progress bar for long computes, fed by the event stream.

use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{select, Sender};
use indicatif::{ProgressDrawTarget, ProgressStyle};

use crate::events::{EventKind, Subscription};
use crate::runtime::Runtime;

/// Shows a bar on standard error while a runtime computes, as Dask's `ProgressBar` does.
///
/// The bar appears once a compute has run for `min_duration` (half a second by default), and
/// only when standard error is a terminal; otherwise it stays silent. Dropping it stops it.
///
/// ```
/// use partita_runtime::{ProgressBar, Runtime};
/// let rt = Runtime::builder().threads(2).build()?;
/// let _bar = ProgressBar::new(&rt);
/// let fs = rt.map(|x: u32| x * 2, 0..100);
/// assert_eq!(partita_runtime::gather(&fs)?.len(), 100);
/// # Ok::<(), partita_runtime::Error>(())
/// ```
#[derive(Debug)]
pub struct ProgressBar {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressBar {
    /// Starts a bar for `runtime`'s computes.
    pub fn new(runtime: &Runtime) -> ProgressBar {
        ProgressBar::with_min_duration(runtime, Duration::from_millis(500))
    }

    /// Starts a bar that appears once a compute has run for `min_duration`.
    pub fn with_min_duration(runtime: &Runtime, min_duration: Duration) -> ProgressBar {
        let subscription = runtime.subscribe();
        let (stop, stopped) = crossbeam_channel::bounded(0);
        let thread = std::thread::Builder::new()
            .name("partita-progress".into())
            .spawn(move || draw(subscription, stopped, min_duration))
            .map_err(|e| tracing::warn!(error = %e, "no progress bar: cannot start its thread"))
            .ok();
        ProgressBar {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for ProgressBar {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn draw(subscription: Subscription, stopped: crossbeam_channel::Receiver<()>, min: Duration) {
    let style = ProgressStyle::with_template(
        "[{bar:40}] {percent:>3}% | {pos}/{len} tasks | {elapsed_precise}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("#> ");
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut running = 0usize;
    let mut since = std::time::Instant::now();
    let events = subscription.receiver();
    loop {
        select! {
            recv(stopped) -> _ => break,
            recv(events) -> event => {
                let Ok(event) = event else { break };
                match event.kind {
                    EventKind::ComputeStarted { tasks } => {
                        if running == 0 {
                            since = event.at;
                            let b = indicatif::ProgressBar::with_draw_target(
                                Some(0),
                                ProgressDrawTarget::hidden(),
                            );
                            b.set_style(style.clone());
                            bar = Some(b);
                        }
                        running += 1;
                        if let Some(b) = &bar {
                            b.inc_length(tasks as u64);
                        }
                    }
                    EventKind::ComputeFinished => {
                        running = running.saturating_sub(1);
                        if running == 0 {
                            if let Some(b) = bar.take() {
                                b.finish();
                            }
                        }
                    }
                    EventKind::TaskFinished | EventKind::TaskFailed { .. } if event.key.is_some() => {
                        if let Some(b) = &bar {
                            b.inc(1);
                            if b.is_hidden() && since.elapsed() >= min {
                                b.set_draw_target(ProgressDrawTarget::stderr());
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if let Some(b) = bar {
        b.abandon();
    }
}
