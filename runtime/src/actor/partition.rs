//! Partition actors: the owners of persisted values.
//!
//! `persist` hands each computed partition to a [`PartitionActor`]. Later computes read it by
//! sending the actor a [`Fetch`] message, whose reply callback delivers the value to the waiting
//! task as its `PartitionReady`. The actor lives while any [`PartitionRef`] to it does: when the
//! last reference is dropped its mailbox closes and actix stops it, releasing the value.

use actix::{Actor, Addr, Context, Handler, Message};

use crate::completion::Completion;
use crate::error::{Error, Result};
use crate::graph::TaskKey;
use crate::memory::Held;
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

/// A location-transparent reference to a persisted partition. Cloning is cheap; the partition
/// lives while any clone does.
#[derive(Clone)]
pub struct PartitionRef {
    key: TaskKey,
    addr: Addr<PartitionActor>,
    /// The value as the actor holds it, for a compute on this runtime to read on its own
    /// threads.
    held: Held,
}

impl std::fmt::Debug for PartitionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionRef")
            .field("key", &self.key)
            .finish()
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
        PartitionRef { key, addr, held }
    }

    /// The value as it is held, in memory or spilled.
    pub(crate) fn held(&self) -> &Held {
        &self.held
    }

    /// An estimate of the value's bytes in memory, as its codec sizes it (0 without a codec),
    /// whether it is in memory or spilled: known without reading the value.
    pub fn nbytes(&self) -> u64 {
        self.held.nbytes()
    }

    /// The partition's key.
    pub fn key(&self) -> &TaskKey {
        &self.key
    }

    /// Sends a [`Fetch`]; `deliver` gets the value or the reason there is none.
    pub fn fetch(&self, deliver: impl FnOnce(Result<Value>) + Send + 'static) {
        self.addr.do_send(Fetch {
            key: self.key.clone(),
            deliver: Some(Box::new(deliver)),
        });
    }

    /// Reads the value, blocking the calling thread until the actor replies.
    ///
    /// # Errors
    /// [`Error::PartitionReleased`] if the actor is gone.
    pub fn get(&self) -> Result<Value> {
        let done = std::sync::Arc::new(Completion::<std::result::Result<Value, Error>>::new());
        let tx = done.clone();
        self.fetch(move |v| {
            tx.complete(v);
        });
        done.wait(None)
    }
}
