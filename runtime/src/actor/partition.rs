//! Partition actors: the owners of persisted values.
//!
//! `persist` hands each computed partition to a [`PartitionActor`]. Later computes read it by
//! sending the actor a [`Fetch`] message, whose reply callback delivers the value to the waiting
//! task as its `PartitionReady`. The actor lives while any [`PartitionRef`] to it does: when the
//! last reference is dropped its mailbox closes and actix stops it, releasing the value.

use std::sync::Arc;

use actix::{Actor, Addr, Context, Handler, Message};

use crate::completion::Completion;
use crate::error::{Error, Result};
use crate::graph::TaskKey;
use crate::memory::Held;
use crate::remote::ClusterClient;
use crate::value::Value;

type Deliver = Box<dyn FnOnce(Result<Value>) + Send>;

/// Owns one persisted partition: in memory, or spilled to disk under the runtime's memory
/// limit.
pub struct PartitionActor {
    key: TaskKey,
    value: Held,
}

impl std::fmt::Debug for PartitionActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionActor")
            .field("key", &self.key)
            .finish()
    }
}

impl PartitionActor {
    pub(crate) fn new(key: TaskKey, value: Held) -> Self {
        PartitionActor { key, value }
    }
}

impl Actor for PartitionActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        tracing::trace!(key = %self.key, "partition released");
    }
}

/// Asks a partition actor for its value. The callback receives it (its reply) on the actor's
/// thread. If the message can never be handled (the actor is gone), the callback receives
/// [`Error::PartitionReleased`] when the message is dropped: a fetch is never lost silently.
pub struct Fetch {
    key: TaskKey,
    deliver: Option<Deliver>,
}

impl std::fmt::Debug for Fetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetch").field("key", &self.key).finish()
    }
}

impl Message for Fetch {
    type Result = ();
}

impl Drop for Fetch {
    fn drop(&mut self) {
        if let Some(deliver) = self.deliver.take() {
            deliver(Err(Error::PartitionReleased {
                key: self.key.clone(),
            }));
        }
    }
}

impl Handler<Fetch> for PartitionActor {
    type Result = ();

    fn handle(&mut self, mut msg: Fetch, _ctx: &mut Self::Context) {
        if let Some(deliver) = msg.deliver.take() {
            deliver(self.value.get());
        }
    }
}

/// A location-transparent reference to a persisted partition: owned by an actor of this
/// runtime, or held by a cluster's workers. Cloning is cheap; the partition lives while any
/// clone does.
#[derive(Clone)]
pub struct PartitionRef {
    key: TaskKey,
    place: Place,
}

#[derive(Clone)]
enum Place {
    /// An actor of this runtime owns it.
    Local {
        addr: Addr<PartitionActor>,
        /// The value as the actor holds it, for a compute on this runtime to read on its own
        /// threads.
        held: Held,
    },
    /// Workers of a cluster hold it.
    Remote(Arc<RemotePartition>),
}

/// A partition persisted on a cluster's workers: its id there, its size, and the cluster.
/// Dropping the last reference forgets it on the workers.
struct RemotePartition {
    id: u64,
    nbytes: u64,
    cluster: Arc<dyn ClusterClient>,
}

impl Drop for RemotePartition {
    fn drop(&mut self) {
        self.cluster.forget_persisted(&[self.id]);
    }
}

impl std::fmt::Debug for PartitionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("PartitionRef");
        d.field("key", &self.key);
        if let Place::Remote(r) = &self.place {
            d.field("persisted", &r.id);
        }
        d.finish()
    }
}

impl PartitionRef {
    /// Starts an actor owning `value` on `arbiter`.
    pub(crate) fn spawn(arbiter: &actix::ArbiterHandle, key: TaskKey, value: Held) -> Self {
        let actor_key = key.clone();
        let held = value.clone();
        let addr = PartitionActor::start_in_arbiter(arbiter, move |_| {
            PartitionActor::new(actor_key, value)
        });
        PartitionRef {
            key,
            place: Place::Local { addr, held },
        }
    }

    /// A partition that `cluster`'s workers hold as persisted `id`, of `nbytes`.
    pub(crate) fn remote(
        key: TaskKey,
        id: u64,
        nbytes: u64,
        cluster: Arc<dyn ClusterClient>,
    ) -> Self {
        PartitionRef {
            key,
            place: Place::Remote(Arc::new(RemotePartition {
                id,
                nbytes,
                cluster,
            })),
        }
    }

    /// The partition's id on the cluster that holds it, if a cluster does.
    pub(crate) fn persisted_id(&self) -> Option<u64> {
        match &self.place {
            Place::Local { .. } => None,
            Place::Remote(r) => Some(r.id),
        }
    }

    /// The value, for a compute on this runtime's threads: as it is held here (a spilled one
    /// is read back), or fetched from a worker that holds it.
    pub(crate) fn read(&self) -> Result<Value> {
        match &self.place {
            Place::Local { held, .. } => held.get(),
            Place::Remote(r) => r.cluster.read_persisted(r.id, &self.key),
        }
    }

    /// An estimate of the value's bytes in memory, as its codec sizes it (0 without a codec),
    /// whether it is in memory, spilled or on a cluster: known without reading the value.
    pub fn nbytes(&self) -> u64 {
        match &self.place {
            Place::Local { held, .. } => held.nbytes(),
            Place::Remote(r) => r.nbytes,
        }
    }

    /// The partition's key.
    pub fn key(&self) -> &TaskKey {
        &self.key
    }

    /// Sends a [`Fetch`]; `deliver` gets the value or the reason there is none. A partition on a
    /// cluster is fetched from a worker that holds it, on this thread.
    pub fn fetch(&self, deliver: impl FnOnce(Result<Value>) + Send + 'static) {
        match &self.place {
            Place::Local { addr, .. } => addr.do_send(Fetch {
                key: self.key.clone(),
                deliver: Some(Box::new(deliver)),
            }),
            Place::Remote(_) => deliver(self.read()),
        }
    }

    /// Reads the value, blocking the calling thread until the actor (or the worker holding it)
    /// replies.
    ///
    /// # Errors
    /// [`Error::PartitionReleased`] if the actor is gone; a cluster's error if no worker that
    /// holds it can be reached.
    pub fn get(&self) -> Result<Value> {
        let done = Arc::new(Completion::<std::result::Result<Value, Error>>::new());
        let tx = done.clone();
        self.fetch(move |v| {
            tx.complete(v);
        });
        done.wait(None)
    }
}
