//! partita's executor: task graphs, partition actors, the work-stealing pool and the schedulers.
//!
//! This crate knows values only as opaque, type-erased partitions ([`Value`]). Collections (in
//! `partita-collections`) build [`Graph`]s of [`Task`]s whose [`Kernel`]s turn input partitions
//! into output partitions; a [`Runtime`] executes them.
//!
//! ```
//! use std::sync::Arc;
//! use partita_runtime::{downcast, value, Graph, Runtime, Task, TaskKey};
//!
//! let rt = Runtime::builder().threads(2).build()?;
//! let mut g = Graph::new();
//! let xs: Vec<TaskKey> = (0..4).map(|i| TaskKey::new("x", i)).collect();
//! g.add_layer("x", xs.iter().map(|k| {
//!     let i = k.index() as i64;
//!     Task::new(k.clone(), vec![], Arc::new(move |_| Ok(value(i * 10))))
//! }).collect());
//! let total = TaskKey::new("total", 0);
//! g.add_layer("total", vec![Task::new(total.clone(), xs.clone(), Arc::new(|inputs| {
//!     let mut sum = 0_i64;
//!     for (v, i) in inputs.iter().zip(0..) {
//!         sum += downcast::<i64>(v, &TaskKey::new("x", i))?;
//!     }
//!     Ok(value(sum))
//! }))]);
//! let out = rt.compute(&g, &[total])?;
//! assert_eq!(*out[0].downcast_ref::<i64>().unwrap(), 60);
//! # Ok::<(), partita_runtime::Error>(())
//! ```

mod actor;
mod codec;
mod completion;
mod error;
mod events;
mod future;
mod graph;
mod memory;
mod plan;
mod pool;
mod profiler;
mod progress;
mod remote;
mod runtime;
mod scheduler;
mod shuffle;
mod stage;
mod value;

pub use self::actor::{Fetch, PartitionActor, PartitionRef};
pub use self::codec::{BincodeCodec, Codec};
pub use self::error::{Error, Message, Result, SharedError};
pub use self::events::{ComputeId, Event, EventKind, Subscription};
pub use self::future::{as_completed, gather, wait, AsCompleted, Future, TaskBuilder};
pub use self::graph::{Graph, Layer, Task, TaskKey, TaskKind};
pub use self::memory::{
    default_memory_limit, parse_bytes, system_memory, Cell, Held, Memory, MemoryStats,
};
pub use self::profiler::Profiler;
pub use self::progress::ProgressBar;
#[doc(hidden)]
pub use self::remote::__private;
pub use self::remote::{
    codec_for, codec_named, codec_of, decode_graph, decode_outcome, decode_params, decode_value,
    duplicate_operators, encode_graph, encode_outcome, encode_params, encode_value, graph_shape,
    operator, serve_graph, user_fn_op, BuildId, ClusterClient, ClusterSpec, ClusterWorker,
    ComputeDone, ComputeEvents, Connector, GraphShape, NameIndex, Operation, Operator, PersistDone,
    PersistedPartition, RemoteFn, ShapeTask, TaskContext, Usage, ValueCodec, CONNECTORS,
    FIRST_INPUT, OPERATORS, PERSISTED, REMOTE_FNS, USER_FN, VALUE_CODECS, WIRE_VERSION,
};
pub use self::runtime::{notice, Builder, Runtime};
pub use self::scheduler::{ComputeHandle, Scheduler};
pub use self::shuffle::{
    add_shuffle, shuffle_kind, FinishFn, FoldFn, ShuffleFns, ShuffleKind, ShuffleSpec, SplitFn,
    SHUFFLE_KINDS,
};
pub use self::stage::{
    send, DeadLetter, ErrorPolicy, Inlet, Launch, Mailbox, Msg, QueueDepth, StageControl,
    StageCounters, StageGroup, StageMetrics,
};
pub use self::value::{catch_panic, downcast, downcast_owned, panic_message, value, Kernel, Value};

/// The names most programs need.
pub mod prelude {
    // `Future` (a submitted task's handle) stays out: it would shadow `std::future::Future`.
    pub use crate::{
        as_completed, gather, wait, Error, Graph, ProgressBar, Result, Runtime, Scheduler, Task,
        TaskKey,
    };
}
