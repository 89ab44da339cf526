//! partita: parallel and distributed dataflow for Rust.
//!
//! Build lazy collections ([`Delayed`], [`Bag`], [`DataFrame`]) or submit [`Future`]s; an actor
//! runtime executes the resulting task graphs on a work-stealing pool. [`Stream`]s run unbounded
//! data through long-lived stages.
//!
//! ```
//! use partita::prelude::*;
//!
//! let xs: Vec<Delayed<u64>> = (0..8).map(|i| delayed(move || i * i)).collect();
//! let total = combine(&xs, |v| v.iter().copied().sum::<u64>());
//! assert_eq!(total.compute()?, 140);
//! # Ok::<(), partita::Error>(())
//! ```

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use partita_cluster::{run_scheduler, run_worker, SchedulerOptions, Secret, WorkerOptions};
pub use partita_collections::{
    axis, col, combine, compute_all, compute_arrays, delayed, from_value, graph_all, lit,
    remote_fn, Array, AsF64, Axes, Bag, Chunks, DType, DataFrame, Delayed, DelayedHandle, DynArray,
    Expr, Index, Stream, Window, C128, C64,
};
pub use partita_io::{
    check_hdf5_isolated, read_csv, read_hdf5, read_hdf5_as, read_ipc, read_parquet, read_text,
    read_text_with, store_hdf5, to_csv, to_hdf5, to_hdf5_dyn, to_ipc, to_parquet, to_rolling_csv,
    to_rolling_parquet, to_rolling_textfiles, to_textfiles, write_atomic, Compression, CsvOptions,
    Error, Hdf5Element, Hdf5Write, ParquetOptions, Result, Roll, Source, TextOptions,
};
pub use partita_runtime::{
    as_completed, decode_graph, decode_outcome, default_memory_limit, encode_graph, gather,
    parse_bytes, register_value, serve_graph, system_memory, wait, AsCompleted, BincodeCodec,
    BuildId, Builder, Codec, ComputeHandle, Event, EventKind, Future, Graph, MemoryStats,
    Operation, PartitionRef, Profiler, ProgressBar, Runtime, Scheduler, Subscription, Task,
    TaskBuilder, TaskKey,
};

/// Call it first thing in `main` of every executable that runs on a cluster or checks HDF5
/// files in a child ([`check_hdf5_isolated`]): in a process this executable started as a
/// cluster worker or as a checking child, it does that work and never returns; anywhere else
/// it returns at once. See [`partita_cluster::worker_main`] for a worker's environment.
///
/// ```
/// partita::worker_main(); // returns: this process was not started as a worker
/// ```
pub fn worker_main() {
    partita_io::check_hdf5_child();
    partita_cluster::worker_main();
}

/// The executor's full API: graphs, kernels, values and the error type of the runtime.
pub mod runtime {
    pub use partita_runtime::*;
}

/// The collections' full API and error type.
pub mod collections {
    pub use partita_collections::*;
}

/// The distributed scheduler, workers and client, and their error type.
pub mod cluster {
    pub use partita_cluster::*;
}

/// The sources' and sinks' full API and error type.
pub mod io {
    pub use partita_io::*;
}

/// The names most programs need: `use partita::prelude::*;`.
pub mod prelude {
    pub use partita_collections::prelude::*;
    // `partita::Future` (a submitted task's handle) stays out: it would shadow
    // `std::future::Future` in every module that imports the prelude.
    pub use partita_runtime::prelude::{
        as_completed, gather, wait, Graph, ProgressBar, Runtime, Scheduler, Task, TaskKey,
    };

    pub use crate::{Error, Result};
}
