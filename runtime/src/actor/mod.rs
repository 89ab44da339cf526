//! The runtime's actix actors and the threads they live on.
//!
//! actix actors need a running actix `System`, and starting one inside a tokio multi-thread
//! runtime panics. So the runtime starts its own `System` on a dedicated thread and hands out only
//! `Send` addresses: callers may be plain threads, tokio tasks or actix handlers, and none of them
//! needs to know about actix.
//!
//! Shutdown protocol:
//! 1. dropping the runtime calls `System::stop` on the actor thread's system;
//! 2. the system's event loop returns, dropping every actor still alive (and the partitions they
//!    own);
//! 3. the runtime joins the thread.

mod partition;

use std::sync::Arc;
use std::thread::JoinHandle;

pub use self::partition::{Fetch, PartitionActor, PartitionRef};
use crate::error::{Error, Result};

/// The actix system of one runtime, on a thread of its own.
pub(crate) struct ActorSystem {
    system: actix::System,
    arbiter: actix::ArbiterHandle,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ActorSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorSystem")
            .field("system", &self.system.id())
            .finish()
    }
}

impl ActorSystem {
    /// Starts an actix system on a new thread named `{name}-actors`.
    pub(crate) fn start(name: &str) -> Result<ActorSystem> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let thread = format!("{name}-actors");
        let handle = std::thread::Builder::new()
            .name(thread.clone())
            .spawn(move || {
                let runner = actix::System::new();
                let _ = tx.send((actix::System::current(), actix::Arbiter::current()));
                if let Err(e) = runner.run() {
                    tracing::error!(error = %e, "the actor system stopped with an error");
                }
            })
            .map_err(|e| Error::Spawn {
                thread: thread.clone(),
                source: Arc::new(e),
            })?;
        let (system, arbiter) = rx.recv().map_err(|_| Error::Spawn {
            thread,
            source: Arc::new(std::io::Error::other("the actor thread exited at start-up")),
        })?;
        Ok(ActorSystem {
            system,
            arbiter,
            thread: Some(handle),
        })
    }

    /// The arbiter new actors start on.
    pub(crate) fn arbiter(&self) -> &actix::ArbiterHandle {
        &self.arbiter
    }
}

impl Drop for ActorSystem {
    fn drop(&mut self) {
        self.system.stop();
        if let Some(handle) = self.thread.take() {
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}
