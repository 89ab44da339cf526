//! Memory: a limit per runtime, managed bytes counted per partition, spill to disk, and pause.
//!
//! Every value a task makes that its dependents, the caller or a persisted collection will
//! read is *held* until then. A held value of at least [`MANAGED_MIN`] bytes (as its codec
//! sizes it: Arrow buffers, ndarray blocks, a bincode estimate for serde values) is a managed
//! [`Cell`]: its bytes are counted in the runtime's [`Memory`], and it can spill.
//!
//! - **Spill.** Past the target fraction of the limit, the least recently used managed values
//!   that nobody is reading go to disk through their codec (frames as Arrow IPC), one file each
//!   in the spill directory. A spilled value is read back when a task needs it, and its file is
//!   removed when the value is released.
//! - **Pause.** Past the pause fraction, a source task (one without inputs) waits for memory to
//!   fall before it starts; tasks with inputs go on, since they consume what is held.
//! - **No OOM.** A value larger than the limit fails its task with [`Error::MemoryLimit`],
//!   naming the key, its size and the limit, instead of growing the process.
//!
//! A value that something else also holds (a graph's literal, a value a running kernel reads)
//! is counted but does not spill until it is held only here: spilling it would free nothing.
//! So the limit is exceeded only by such values, which the program holds anyway. Smaller
//! values are held as they are, uncounted: a graph of scalars pays one size estimate
//! per task and nothing else.

mod cell;
mod limit;
#[cfg(test)]
mod test;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub use self::cell::{Cell, Held};
pub use self::limit::{default_memory_limit, parse_bytes, system_memory};
use crate::error::{Error, Result};
use crate::events::{ComputeId, EventBus, EventKind};
use crate::graph::TaskKey;
use crate::remote::codec_of;
use crate::value::Value;

/// Values smaller than this are held uncounted and never spill.
pub(crate) const MANAGED_MIN: u64 = 16 * 1024;

/// The fraction of the limit past which values spill, by default (Dask's `target`).
pub(crate) const DEFAULT_TARGET: f64 = 0.6;

/// The fraction of the limit past which sources pause, by default (Dask's `pause`).
pub(crate) const DEFAULT_PAUSE: f64 = 0.8;

/// The fraction of the machine's memory (or of the cgroup's limit) that a runtime may use by
/// default.
pub(crate) const DEFAULT_LIMIT_FRACTION: f64 = 0.8;

/// How long a paused source waits for memory to fall before it starts anyway, so that work
/// holding memory that cannot spill still ends (then with a clear error if it does not fit).
const PAUSE_MAX: Duration = Duration::from_secs(2);

/// A runtime's memory settings, as the [`Builder`](crate::Builder) sets them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MemoryConfig {
    /// The most bytes of managed values held at once.
    pub(crate) limit: u64,
    /// The fraction of `limit` past which values spill.
    pub(crate) target: f64,
    /// The fraction of `limit` past which sources pause.
    pub(crate) pause: f64,
    /// Where spilled values go; a fresh directory under the system's temporary directory if
    /// `None`. The runtime makes a directory of its own inside, and removes it at shutdown.
    pub(crate) spill_dir: Option<PathBuf>,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            limit: default_memory_limit(),
            target: DEFAULT_TARGET,
            pause: DEFAULT_PAUSE,
            spill_dir: None,
        }
    }
}

/// What a runtime holds, at one moment: [`Runtime::memory`](crate::Runtime::memory).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// The limit, in bytes.
    pub limit: u64,
    /// Bytes of managed values held in memory now.
    pub managed: u64,
    /// Bytes of spilled values on disk now.
    pub spilled: u64,
    /// Bytes written to disk by spilling since the runtime started.
    pub spilled_total: u64,
    /// Values spilled since the runtime started.
    pub spill_count: u64,
    /// Spilled values read back since the runtime started.
    pub unspill_count: u64,
}

/// A memory ledger and spill store: each runtime has one, and a cluster worker keeps its
/// values in one of its own.
///
/// ```
/// use partita_runtime::{value, Memory, TaskKey};
///
/// let memory = Memory::with_limit(1 << 20, "doc");
/// let held: Vec<_> = (0..8)
///     .map(|i| memory.hold(&TaskKey::new("x", i), value(vec![i; 20_000])))
///     .collect::<Result<_, _>>()?;
/// let m = memory.stats();
/// assert!(m.spill_count > 0 && m.managed <= m.limit * 6 / 10, "{m:?}");
/// let first = held[0].get()?; // read back from disk
/// assert_eq!(first.downcast_ref::<Vec<u64>>().unwrap()[19_999], 0);
/// # Ok::<(), partita_runtime::Error>(())
/// ```
pub struct Memory {
    limit: u64,
    target: u64,
    pause: u64,
    managed: AtomicU64,
    spilled: AtomicU64,
    spilled_total: AtomicU64,
    spill_count: AtomicU64,
    unspill_count: AtomicU64,
    /// The managed values in memory, least recently used first.
    lru: Mutex<BTreeMap<u64, Weak<cell::Inner>>>,
    tick: AtomicU64,
    /// Whether a paused source waited [`PAUSE_MAX`] in vain.
    stuck: AtomicBool,
    store: cell::SpillStore,
    events: Arc<EventBus>,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Memory {
    /// A ledger of `limit` bytes with the default fractions (spill past 0.6, pause past 0.8),
    /// spilling under the system's temporary directory; `name` prefixes its spill directory.
    pub fn with_limit(limit: u64, name: &str) -> Arc<Memory> {
        let config = MemoryConfig {
            limit,
            ..MemoryConfig::default()
        };
        Memory::new(&config, name, Arc::new(EventBus::default()))
    }

    pub(crate) fn new(config: &MemoryConfig, name: &str, events: Arc<EventBus>) -> Arc<Memory> {
        let limit = config.limit.max(1);
        let fraction = |f: f64| ((limit as f64) * f.clamp(0.0, 1.0)) as u64;
        Arc::new(Memory {
            limit,
            target: fraction(config.target),
            pause: fraction(config.pause),
            managed: AtomicU64::new(0),
            spilled: AtomicU64::new(0),
            spilled_total: AtomicU64::new(0),
            spill_count: AtomicU64::new(0),
            unspill_count: AtomicU64::new(0),
            lru: Mutex::new(BTreeMap::new()),
            tick: AtomicU64::new(0),
            stuck: AtomicBool::new(false),
            store: cell::SpillStore::new(config.spill_dir.clone(), name),
            events,
        })
    }

    /// A snapshot of the ledger.
    pub fn stats(&self) -> MemoryStats {
        MemoryStats {
            limit: self.limit,
            managed: self.managed.load(Ordering::Relaxed),
            spilled: self.spilled.load(Ordering::Relaxed),
            spilled_total: self.spilled_total.load(Ordering::Relaxed),
            spill_count: self.spill_count.load(Ordering::Relaxed),
            unspill_count: self.unspill_count.load(Ordering::Relaxed),
        }
    }

    /// Holds `value`, task `key`'s, for the readers to come: as it is when it is small or its
    /// type has no codec, as a managed cell otherwise, spilling older values if this one takes
    /// the ledger past the target.
    ///
    /// # Errors
    /// [`Error::MemoryLimit`] if the value is larger than the limit.
    pub fn hold(self: &Arc<Self>, key: &TaskKey, value: Value) -> Result<Held> {
        self.hold_in(ComputeId(0), key, value)
    }

    /// [`hold`](Self::hold) for a value of compute `compute`, which its spill events name.
    pub(crate) fn hold_in(
        self: &Arc<Self>,
        compute: ComputeId,
        key: &TaskKey,
        value: Value,
    ) -> Result<Held> {
        let Some(codec) = codec_of(&value) else {
            return Ok(Held::Value(value));
        };
        let bytes = (codec.size)(&value) as u64;
        if bytes < MANAGED_MIN {
            return Ok(Held::Value(value));
        }
        if bytes > self.limit {
            return Err(self.too_big(key, bytes));
        }
        // Older values make room first, so that the new one (about to be read) stays.
        if self.managed.load(Ordering::Relaxed) + bytes > self.target {
            self.spill_to(self.target.saturating_sub(bytes));
        }
        let cell = Cell::new(self.clone(), compute, key.clone(), bytes, codec, value);
        Ok(Held::Cell(cell))
    }

    /// Whether sources should wait: the ledger is past the pause fraction.
    pub(crate) fn paused(&self) -> bool {
        self.managed.load(Ordering::Relaxed) > self.pause
    }

    /// Waits, before a source task starts, while the ledger is past the pause fraction, for at
    /// most [`PAUSE_MAX`]. Once a wait has timed out, sources stop waiting until the ledger
    /// has fallen below the pause fraction again: what is held then cannot spill, and waiting
    /// would only slow the work down.
    pub(crate) fn wait_unpaused(&self) {
        if !self.paused() {
            self.stuck.store(false, Ordering::Relaxed);
            return;
        }
        // What is held may be spillable now that its readers are done.
        self.spill_to(self.target);
        if self.stuck.load(Ordering::Relaxed) {
            return;
        }
        let start = Instant::now();
        while self.paused() {
            if start.elapsed() >= PAUSE_MAX {
                self.stuck.store(true, Ordering::Relaxed);
                tracing::warn!(
                    stats = ?self.stats(),
                    "memory stays past the pause fraction and cannot spill; sources go on"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Spills down to the target if the ledger is past it: at the end of a compute, when the
    /// values its kernels were reading may have become spillable.
    pub(crate) fn relieve(&self) {
        if self.managed.load(Ordering::Relaxed) > self.target {
            self.spill_to(self.target);
        }
    }

    fn next_tick(&self) -> u64 {
        self.tick.fetch_add(1, Ordering::Relaxed)
    }

    /// Spills least recently used values until the ledger is at most `goal`, or nothing more
    /// can spill.
    pub(crate) fn spill_to(&self, goal: u64) {
        while self.managed.load(Ordering::Relaxed) > goal {
            let Some(victim) = self.pick_victim() else {
                return;
            };
            if let Err(e) = victim.spill() {
                tracing::warn!(key = %victim.key(), error = %e, "a value could not spill");
                return;
            }
        }
    }

    /// The least recently used managed value that nobody is reading, taken off the LRU list.
    fn pick_victim(&self) -> Option<Cell> {
        // Cells upgraded here and not chosen are dropped after the lock is released: dropping
        // the last handle on one takes the lock to remove it.
        let mut passed = Vec::new();
        let chosen = {
            let mut lru = self.lru.lock();
            let mut chosen = None;
            let mut gone = Vec::new();
            for (&tick, weak) in lru.iter() {
                match weak.upgrade() {
                    Some(inner) => {
                        let cell = Cell::from_inner(inner);
                        if cell.spillable() {
                            chosen = Some((tick, cell));
                            break;
                        }
                        passed.push(cell);
                    }
                    None => gone.push(tick),
                }
            }
            for tick in gone {
                lru.remove(&tick);
            }
            if let Some((tick, cell)) = &chosen {
                lru.remove(tick);
                cell.left_lru();
            }
            chosen.map(|(_, c)| c)
        };
        drop(passed);
        chosen
    }

    fn too_big(&self, key: &TaskKey, bytes: u64) -> Error {
        Error::MemoryLimit {
            key: key.clone(),
            bytes,
            limit: self.limit,
        }
    }

    fn spilled_event(&self, compute: ComputeId, key: &TaskKey, bytes: u64) {
        self.events.task(
            compute,
            EventKind::Spilled {
                bytes,
                managed: self.managed.load(Ordering::Relaxed),
            },
            key,
            Duration::ZERO,
        );
    }
}
