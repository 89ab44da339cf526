//! partita's distributed mode: a scheduler, workers on many hosts, and a client, on gRPC
//! (tonic) for control and Arrow Flight for data.
//!
//! - The **scheduler** (`partita scheduler --listen ADDR`) runs no user code. It reads the
//!   structure of each graph a client ships, keeps every task's state, and hands ready tasks to
//!   workers in batches, by data locality then occupancy, withholding them while every worker is
//!   full. It keeps each compute's graph, so when a worker is lost (a broken stream, or no
//!   heartbeat for [`SchedulerOptions::worker_timeout`]) it recomputes what the worker held from
//!   lineage and runs its tasks elsewhere.
//! - A **worker** is the user's own executable in worker mode: `partita::worker_main()` at the top
//!   of `main` turns the process into one when `PARTITA_WORKER_OF` names a scheduler. It runs the
//!   tasks it is given (rebuilt from their registered operations, so no code is serialised) and
//!   serves their values to its peers and to clients over Flight.
//! - A **client** is a runtime built with `Runtime::builder().connect(addr)` or
//!   `.local_cluster(n)`: every collection's compute ships its graph there unchanged. A local
//!   cluster starts a worker again when its process dies.
//!
//! Everything binds to loopback by default, and every connection on both planes must carry the
//! cluster's secret (`PARTITA_SECRET` or `PARTITA_SECRET_FILE`). A connection without it is
//! refused and logged with its address; the secret is never logged.
//!
//! ```no_run
//! fn main() -> partita_runtime::Result<()> {
//!     partita_cluster::worker_main(); // a worker process never returns from here
//!     let rt = partita_runtime::Runtime::builder().local_cluster(2).build()?;
//!     assert_eq!(rt.cluster().map(|c| c.workers().len()), Some(2));
//!     Ok(())
//! }
//! ```

#![forbid(unsafe_code)]

mod client;
mod error;
mod proto;
mod scheduler;
mod secret;
mod worker;

pub use self::client::{Client, WORKER_OF};
pub use self::error::{Error, Result};
pub use self::scheduler::SchedulerOptions;
pub use self::secret::Secret;
pub use self::worker::{run_worker, WorkerOptions};

use std::net::SocketAddr;

// The runtime finds the cluster implementation through this entry; linkme places it in the
// runtime's link section, so it is a `forbid(unsafe_code)` exception in name only.
#[linkme::distributed_slice(partita_runtime::CONNECTORS)]
#[linkme(crate = linkme)]
static CONNECTOR: partita_runtime::Connector = partita_runtime::Connector {
    name: "partita-cluster",
    connect: client::connect,
};

/// Turns this process into a worker if `PARTITA_WORKER_OF` names a scheduler, and never returns
/// then; otherwise returns at once. Call it first thing in `main` of every executable that runs
/// on a cluster (a local cluster's workers are started as this executable).
///
/// The worker reads its secret from `PARTITA_SECRET` or `PARTITA_SECRET_FILE`, its name from
/// `PARTITA_WORKER_NAME`, its task slots from `PARTITA_WORKER_THREADS`, its Flight address from
/// `PARTITA_WORKER_LISTEN` (default `127.0.0.1:0`) and the address it advertises from
/// `PARTITA_WORKER_ADVERTISE`, and its memory limit from `PARTITA_WORKER_MEMORY` (`4GiB`).
pub fn worker_main() {
    let Ok(scheduler) = std::env::var(WORKER_OF) else {
        return;
    };
    let code = match worker_options(scheduler).and_then(run_worker) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("partita worker: {e}");
            1
        }
    };
    std::process::exit(code);
}

/// A worker's options from its environment.
fn worker_options(scheduler: String) -> Result<WorkerOptions> {
    let mut options = WorkerOptions::new(scheduler, Secret::from_env()?);
    if let Ok(name) = std::env::var("PARTITA_WORKER_NAME") {
        options.name = name;
    }
    if let Ok(t) = std::env::var("PARTITA_WORKER_THREADS") {
        options.threads = t.parse().map_err(|_| Error::Config {
            message: format!("PARTITA_WORKER_THREADS={t} is not a number"),
        })?;
    }
    if let Ok(l) = std::env::var("PARTITA_WORKER_LISTEN") {
        options.listen = l.parse::<SocketAddr>().map_err(|_| Error::Config {
            message: format!("PARTITA_WORKER_LISTEN={l} is not an address (host:port)"),
        })?;
    }
    if let Ok(a) = std::env::var("PARTITA_WORKER_ADVERTISE") {
        options.advertise = Some(a);
    }
    if let Ok(m) = std::env::var("PARTITA_WORKER_MEMORY") {
        options.memory_limit = partita_runtime::parse_bytes(&m).ok_or_else(|| Error::Config {
            message: format!("PARTITA_WORKER_MEMORY={m} is not a size (4GiB, 512MiB, ...)"),
        })?;
    }
    Ok(options)
}

/// Runs a scheduler on `listen` until the process ends, requiring `secret` of every connection,
/// with the failure settings `options` (see [`SchedulerOptions::from_env`]).
///
/// # Errors
/// The address cannot be bound or served.
pub fn run_scheduler(listen: SocketAddr, secret: Secret, options: SchedulerOptions) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("partita-scheduler")
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            path: "the scheduler's threads".into(),
            source,
        })?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| Error::Io {
                path: listen.to_string(),
                source,
            })?;
        eprintln!(
            "partita scheduler: listening on {}",
            listener.local_addr().map_or(listen, |a| a)
        );
        scheduler::serve_scheduler(listener, secret, options, std::future::pending()).await
    })
}
