//! Graphs that can leave the process: operations as data, user functions by name, codecs, and
//! the wire format.
//!
//! A task's kernel is an opaque closure, which no other process can run. So every task that may
//! be shipped also carries an [`Operation`]: the name of a registered [`Operator`] and its
//! parameters, from which the operator builds the same kernel on the far side. User code goes by
//! name too ([`register_fn!`](crate::register_fn)), and values by their registered [`ValueCodec`].
//! The far side must run the same executable, which the [`BuildId`] in every graph checks.
//! `README.md` beside this file argues the choice of mechanism.
//!
//! The protocol of one shipped compute:
//! 1. The sender calls [`encode_graph`]. Every task must have an operation (a persisted partition
//!    becomes a literal of its value); the first that has none fails the call with
//!    [`Error::NotTransportable`](crate::Error::NotTransportable), naming its layer, before any
//!    byte is sent.
//! 2. The receiver calls [`serve_graph`]: [`decode_graph`] checks the build id and rebuilds every
//!    kernel through its operator, the runtime computes the requested keys, and
//!    [`encode_outcome`] writes the values through their codecs, or the failure.
//! 3. The sender calls [`decode_outcome`]: the values, or the far side's error as
//!    [`Error::Remote`](crate::Error::Remote).

mod build_id;
mod cluster;
mod name_index;
mod operation;
#[cfg(test)]
mod test;
mod user_fn;
mod value_codec;
mod wire;

pub use self::build_id::BuildId;
pub(crate) use self::cluster::connect;
pub use self::cluster::{
    ClusterClient, ClusterSpec, ClusterWorker, ComputeDone, ComputeEvents, Connector, PersistDone,
    PersistedPartition, CONNECTORS,
};
pub use self::name_index::NameIndex;
pub use self::operation::{
    decode_params, duplicate_operators, encode_params, operator, Operation, Operator, TaskContext,
    FIRST_INPUT, OPERATORS, PERSISTED,
};
pub(crate) use self::user_fn::callable_op;
pub use self::user_fn::{user_fn_op, RemoteFn, Usage, REMOTE_FNS, USER_FN};
pub(crate) use self::value_codec::round_trip;
pub use self::value_codec::{
    codec_for, codec_named, codec_of, decode_value, encode_value, ValueCodec, VALUE_CODECS,
};
pub use self::wire::{
    decode_graph, decode_outcome, encode_graph, encode_outcome, graph_shape, serve_graph,
    GraphShape, ShapeTask, WIRE_VERSION,
};

/// What the registration macros expand to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use super::user_fn::{
        call0, ref1, ref2, slice, try_call0, try_owned1, type_id_of, NoError, Probe, TryCall0Fn,
        ViaError,
    };
    pub use super::value_codec::{bincode_decode, bincode_encode, bincode_size, size_unknown};
    pub use linkme;
}
