//! The watchdog of a runtime with a task timeout: a pool worker busy with one job for longer
//! than the timeout is reported and retired, and a fresh worker takes its place.
//!
//! It samples each worker's job counters (see `Slot` in `mod.rs`): a worker whose `started`
//! count has not moved while it stayed busy has run one job since the first sample that saw
//! it. A job that waits and helps (a nested compute) starts other jobs, so it is not stuck.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::Registry;
use crate::events::{ComputeId, EventBus, EventKind};

/// Starts the watchdog thread; it ends when the pool stops.
pub(crate) fn start(
    registry: Arc<Registry>,
    events: Arc<EventBus>,
    timeout: Duration,
    name: &str,
) -> std::io::Result<()> {
    let tick = (timeout / 4).clamp(Duration::from_millis(5), Duration::from_millis(250));
    std::thread::Builder::new()
        .name(format!("{name}-watchdog"))
        .spawn(move || {
            // Per slot: the job count last seen, and since when.
            let mut seen: FxHashMap<usize, (u64, Instant)> = FxHashMap::default();
            while !registry.is_terminating() {
                std::thread::sleep(tick);
                let now = Instant::now();
                for (slot, started, busy) in registry.activity() {
                    if !busy {
                        seen.remove(&slot);
                        continue;
                    }
                    let since = match seen.get(&slot) {
                        Some(&(count, since)) if count == started => since,
                        _ => {
                            seen.insert(slot, (started, now));
                            continue;
                        }
                    };
                    let running = now - since;
                    if running >= timeout && registry.retire(slot) {
                        seen.remove(&slot);
                        let compute = registry.compute_of(slot).unwrap_or(u64::MAX);
                        tracing::warn!(
                            thread = slot,
                            ?running,
                            "a task ran past the task timeout; a fresh thread takes its place"
                        );
                        events.compute(
                            ComputeId(compute),
                            EventKind::TaskStuck {
                                thread: slot,
                                running,
                            },
                        );
                    }
                }
            }
        })
        .map(|_| ())
}
