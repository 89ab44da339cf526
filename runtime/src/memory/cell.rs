//! A managed value: in memory, or spilled to a file of the runtime's spill directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::Memory;
use crate::error::{Error, Result, SharedError};
use crate::events::ComputeId;
use crate::graph::TaskKey;
use crate::remote::ValueCodec;
use crate::value::Value;

/// A value held for its readers: as it is, or as a managed [`Cell`] that may have spilled.
/// Made by [`Memory::hold`]; cloning shares it.
#[derive(Clone, Debug)]
pub enum Held {
    /// Small, or without a codec: held as it is, uncounted.
    Value(Value),
    /// Managed: counted, and able to spill.
    Cell(Cell),
}

impl Held {
    /// The value, read back from disk if it spilled.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Codec`] if a spilled value cannot be read back.
    pub fn get(&self) -> Result<Value> {
        match self {
            Held::Value(v) => Ok(v.clone()),
            Held::Cell(c) => c.get(),
        }
    }

    /// An estimate of the value's bytes in memory (its codec's size; 0 without a codec),
    /// whether or not it has spilled.
    pub fn nbytes(&self) -> u64 {
        match self {
            Held::Value(v) => crate::remote::codec_of(v).map_or(0, |c| (c.size)(v) as u64),
            Held::Cell(c) => c.0.bytes,
        }
    }

    /// The value, moved out when this is its last holder (so that a kernel can take it apart
    /// without copying), read back from disk if it spilled.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn into_value(self) -> Result<Value> {
        match self {
            Held::Value(v) => Ok(v),
            Held::Cell(c) => c.into_value(),
        }
    }
}

/// Where a managed value is.
enum State {
    Memory(Value),
    Spilled {
        path: PathBuf,
        len: u64,
    },
    /// Moved out by its last holder.
    Taken,
}

pub(super) struct Inner {
    memory: Arc<Memory>,
    compute: ComputeId,
    key: TaskKey,
    bytes: u64,
    codec: &'static ValueCodec,
    state: Mutex<State>,
    /// Its place in the LRU list, or [`NOT_LISTED`].
    tick: AtomicU64,
}

const NOT_LISTED: u64 = u64::MAX;

/// A shared handle on a managed value: counted in its [`Memory`], in memory or spilled.
#[derive(Clone)]
pub struct Cell(Arc<Inner>);

impl std::fmt::Debug for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cell")
            .field("key", &self.0.key)
            .field("bytes", &self.0.bytes)
            .finish()
    }
}

impl Cell {
    pub(super) fn new(
        memory: Arc<Memory>,
        compute: ComputeId,
        key: TaskKey,
        bytes: u64,
        codec: &'static ValueCodec,
        value: Value,
    ) -> Cell {
        memory.managed.fetch_add(bytes, Ordering::Relaxed);
        let inner = Arc::new(Inner {
            memory,
            compute,
            key,
            bytes,
            codec,
            state: Mutex::new(State::Memory(value)),
            tick: AtomicU64::new(NOT_LISTED),
        });
        let cell = Cell(inner);
        cell.list();
        cell
    }

    pub(super) fn from_inner(inner: Arc<Inner>) -> Cell {
        Cell(inner)
    }

    pub(super) fn key(&self) -> &TaskKey {
        &self.0.key
    }

    /// Puts the cell at the most recently used end of the LRU list.
    fn list(&self) {
        let memory = &self.0.memory;
        let tick = memory.next_tick();
        let mut lru = memory.lru.lock();
        let old = self.0.tick.swap(tick, Ordering::Relaxed);
        if old != NOT_LISTED {
            lru.remove(&old);
        }
        lru.insert(tick, Arc::downgrade(&self.0));
    }

    /// Marks the cell as off the LRU list (the list's lock is held by the caller).
    pub(super) fn left_lru(&self) {
        self.0.tick.store(NOT_LISTED, Ordering::Relaxed);
    }

    /// Whether spilling it would free memory now: it is in memory, nobody is reading it, and
    /// nobody else holds the value.
    pub(super) fn spillable(&self) -> bool {
        match self.0.state.try_lock().as_deref() {
            Some(State::Memory(v)) => Arc::strong_count(v) == 1,
            _ => false,
        }
    }

    /// Writes the value to its file and drops it from memory.
    pub(super) fn spill(&self) -> Result<()> {
        let inner = &*self.0;
        let mut state = inner.state.lock();
        let State::Memory(value) = &*state else {
            return Ok(());
        };
        if Arc::strong_count(value) != 1 {
            drop(state);
            self.list();
            return Ok(());
        }
        let bytes = match (inner.codec.encode)(value) {
            Ok(b) => b,
            Err(e) => {
                drop(state);
                self.list();
                return Err(e);
            }
        };
        let path = match inner.memory.store.write(&bytes) {
            Ok(p) => p,
            Err(e) => {
                drop(state);
                self.list();
                return Err(e);
            }
        };
        let len = bytes.len() as u64;
        *state = State::Spilled { path, len };
        drop(state);
        let memory = &inner.memory;
        memory.managed.fetch_sub(inner.bytes, Ordering::Relaxed);
        memory.spilled.fetch_add(len, Ordering::Relaxed);
        memory.spilled_total.fetch_add(len, Ordering::Relaxed);
        memory.spill_count.fetch_add(1, Ordering::Relaxed);
        memory.spilled_event(inner.compute, &inner.key, len);
        tracing::debug!(key = %inner.key, bytes = len, "spilled");
        Ok(())
    }

    /// Reads a spilled value back.
    fn read_back(&self, path: &PathBuf) -> Result<Value> {
        let inner = &*self.0;
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: SharedError::new(e),
        })?;
        inner.memory.unspill_count.fetch_add(1, Ordering::Relaxed);
        (inner.codec.decode)(&bytes).map_err(|e| Error::Codec {
            what: format!(
                "the spilled value of task {} ({})",
                inner.key,
                path.display()
            ),
            message: e.to_string(),
        })
    }

    /// The value. A spilled one is read back, and kept in memory again for its other readers
    /// if that keeps the ledger under the target; otherwise it stays on disk.
    pub fn get(&self) -> Result<Value> {
        let inner = &*self.0;
        let memory = &inner.memory;
        let mut state = inner.state.lock();
        match &*state {
            State::Memory(v) => {
                let v = v.clone();
                drop(state);
                self.list();
                Ok(v)
            }
            State::Taken => Err(Error::PartitionReleased {
                key: inner.key.clone(),
            }),
            State::Spilled { path, len } => {
                let (path, len) = (path.clone(), *len);
                let v = self.read_back(&path)?;
                if memory.managed.load(Ordering::Relaxed) + inner.bytes > memory.target {
                    // Keeping it would only spill another value: the reader gets this copy,
                    // and the value stays on disk.
                    return Ok(v);
                }
                *state = State::Memory(v.clone());
                drop(state);
                memory.spilled.fetch_sub(len, Ordering::Relaxed);
                memory.managed.fetch_add(inner.bytes, Ordering::Relaxed);
                memory.store.remove(&path);
                self.list();
                Ok(v)
            }
        }
    }

    /// The value, moved out if this is the last handle; a spilled one is read back without
    /// being kept.
    fn into_value(self) -> Result<Value> {
        match Arc::try_unwrap(self.0) {
            Ok(inner) => {
                let state = std::mem::replace(&mut *inner.state.lock(), State::Taken);
                match state {
                    State::Memory(v) => {
                        inner
                            .memory
                            .managed
                            .fetch_sub(inner.bytes, Ordering::Relaxed);
                        Ok(v)
                    }
                    State::Spilled { path, len } => {
                        let cell = Cell(Arc::new(inner));
                        let v = cell.read_back(&path);
                        cell.0.memory.spilled.fetch_sub(len, Ordering::Relaxed);
                        cell.0.memory.store.remove(&path);
                        v
                    }
                    State::Taken => Err(Error::PartitionReleased {
                        key: inner.key.clone(),
                    }),
                }
            }
            Err(shared) => Cell(shared).get(),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let tick = self.tick.load(Ordering::Relaxed);
        if tick != NOT_LISTED {
            self.memory.lru.lock().remove(&tick);
        }
        match std::mem::replace(self.state.get_mut(), State::Taken) {
            State::Memory(_) => {
                self.memory.managed.fetch_sub(self.bytes, Ordering::Relaxed);
            }
            State::Spilled { path, len } => {
                self.memory.spilled.fetch_sub(len, Ordering::Relaxed);
                self.memory.store.remove(&path);
            }
            State::Taken => {}
        }
    }
}

/// The runtime's spill directory, made on the first spill and removed with the runtime.
pub(super) struct SpillStore {
    parent: Option<PathBuf>,
    name: String,
    dir: OnceLock<std::result::Result<PathBuf, String>>,
    next: AtomicU64,
}

impl SpillStore {
    pub(super) fn new(parent: Option<PathBuf>, name: &str) -> SpillStore {
        SpillStore {
            parent,
            name: name.to_string(),
            dir: OnceLock::new(),
            next: AtomicU64::new(0),
        }
    }

    fn dir(&self) -> Result<&PathBuf> {
        static RUNTIMES: AtomicU64 = AtomicU64::new(0);
        let made = self.dir.get_or_init(|| {
            let parent = self.parent.clone().unwrap_or_else(std::env::temp_dir);
            let dir = parent.join(format!(
                "{}-spill-{}-{}",
                self.name,
                std::process::id(),
                RUNTIMES.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir)
                .map(|()| dir.clone())
                .map_err(|e| format!("{}: {e}", dir.display()))
        });
        made.as_ref().map_err(|message| Error::Io {
            path: message.clone(),
            source: SharedError::new(std::io::Error::other("cannot make the spill directory")),
        })
    }

    /// Writes one spilled value to a new file.
    pub(super) fn write(&self, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.dir()?.join(format!(
            "{}.spill",
            self.next.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, bytes).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: SharedError::new(e),
        })?;
        Ok(path)
    }

    /// Removes a spilled value's file.
    pub(super) fn remove(&self, path: &PathBuf) {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "a spill file could not be removed");
        }
    }

    /// The directory, if a value has spilled.
    #[cfg(test)]
    pub(super) fn made(&self) -> Option<PathBuf> {
        self.dir.get().and_then(|d| d.as_ref().ok()).cloned()
    }
}

impl Drop for SpillStore {
    fn drop(&mut self) {
        if let Some(Ok(dir)) = self.dir.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
