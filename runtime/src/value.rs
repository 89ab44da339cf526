//! Type erasure, kept in one place: partition values and task kernels.
//!
//! The runtime never names the concrete types that flow through it. A partition is a [`Value`]
//! (an `Arc<dyn Any>`), and a task's work is a [`Kernel`] from its input values to its output
//! value. Collections wrap typed closures into kernels and downcast values back with
//! [`downcast`].

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::graph::TaskKey;

/// A partition's value, shared without copying.
pub type Value = Arc<dyn Any + Send + Sync>;

/// A task's work: its inputs, in dependency order, to its output. The kernel owns its inputs,
/// so it can take a partition apart without copying when nobody else shares it.
pub type Kernel = Arc<dyn Fn(Vec<Value>) -> Result<Value> + Send + Sync>;

/// The outcome of one task as its dependents see it.
pub(crate) type Outcome = std::result::Result<Value, Arc<Error>>;

/// Wraps a value as a partition.
///
/// ```
/// let v = partita_runtime::value(41_i64);
/// assert_eq!(*partita_runtime::downcast::<i64>(&v, &partita_runtime::TaskKey::new("x", 0)).unwrap(), 41);
/// ```
pub fn value<T: Send + Sync + 'static>(v: T) -> Value {
    if type_names::RECORDING.load(std::sync::atomic::Ordering::Relaxed) {
        type_names::record::<T>();
    }
    Arc::new(v)
}

/// The Rust names of the types wrapped by [`value`], recorded only once a runtime that
/// round-trips values ([`Builder::round_trip_values`](crate::Builder::round_trip_values)) has
/// started, so that a value without a codec can be named in its error. Until then, [`value`]
/// pays one relaxed load.
pub(crate) mod type_names {
    use std::any::TypeId;
    use std::sync::atomic::AtomicBool;
    use std::sync::OnceLock;

    use parking_lot::RwLock;
    use rustc_hash::FxHashMap;

    use super::Value;

    /// Whether [`value`](super::value) records its types' names.
    pub(crate) static RECORDING: AtomicBool = AtomicBool::new(false);

    fn names() -> &'static RwLock<FxHashMap<TypeId, &'static str>> {
        static NAMES: OnceLock<RwLock<FxHashMap<TypeId, &'static str>>> = OnceLock::new();
        NAMES.get_or_init(Default::default)
    }

    /// Starts recording, for the rest of the process.
    pub(crate) fn start() {
        RECORDING.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    #[cold]
    pub(crate) fn record<T: 'static>() {
        let id = TypeId::of::<T>();
        if !names().read().contains_key(&id) {
            names().write().insert(id, std::any::type_name::<T>());
        }
    }

    /// The name of the type inside `v`, if [`value`](super::value) wrapped one since recording
    /// started.
    pub(crate) fn of(v: &Value) -> Option<&'static str> {
        let any: &(dyn std::any::Any + Send + Sync) = &**v;
        names().read().get(&any.type_id()).copied()
    }
}

/// Borrows a partition as a `T`.
///
/// # Errors
/// [`Error::TypeMismatch`] naming `key` when the value is not a `T`.
pub fn downcast<'a, T: 'static>(v: &'a Value, key: &TaskKey) -> Result<&'a T> {
    v.downcast_ref::<T>().ok_or_else(|| Error::TypeMismatch {
        key: key.clone(),
        expected: std::any::type_name::<T>(),
    })
}

/// Takes a partition as an owned `T`, cloning only if someone else still shares it.
///
/// # Errors
/// [`Error::TypeMismatch`] naming `key` when the value is not a `T`.
pub fn downcast_owned<T: Clone + Send + Sync + 'static>(v: Value, key: &TaskKey) -> Result<T> {
    match v.downcast::<T>() {
        Ok(arc) => Ok(Arc::try_unwrap(arc).unwrap_or_else(|shared| (*shared).clone())),
        Err(_) => Err(Error::TypeMismatch {
            key: key.clone(),
            expected: std::any::type_name::<T>(),
        }),
    }
}

/// Runs a kernel, turning a panic into [`Error::TaskPanicked`] for `key`.
pub(crate) fn run_kernel(key: &TaskKey, kernel: &Kernel, inputs: Vec<Value>) -> Result<Value> {
    catch_panic(key, || kernel(inputs)).and_then(|result| result)
}

/// Runs `f`, turning a panic into [`Error::TaskPanicked`] for `key`: the capture every task
/// kernel and every stream stage goes through.
///
/// # Errors
/// [`Error::TaskPanicked`] with the panic's message when `f` panics.
///
/// ```
/// use partita_runtime::{catch_panic, Error, TaskKey};
/// let key = TaskKey::new("map", 0);
/// assert_eq!(catch_panic(&key, || 7).ok(), Some(7));
/// let err = catch_panic(&key, || -> i32 { panic!("seven") }).unwrap_err();
/// assert!(matches!(err, Error::TaskPanicked { message, .. } if message == "seven"));
/// ```
pub fn catch_panic<R>(key: &TaskKey, f: impl FnOnce() -> R) -> Result<R> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| Error::TaskPanicked {
        key: key.clone(),
        message: panic_message(payload.as_ref()),
    })
}

/// The text of a panic payload: its message when it is a string.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("seven")).unwrap_err();
/// assert_eq!(partita_runtime::panic_message(payload.as_ref()), "seven");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}
