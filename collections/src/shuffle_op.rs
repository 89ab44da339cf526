//! Built-in shuffles as data: the shuffle counterpart of [`Op`](crate::Op).
//!
//! A [`ShuffleOp`] is a serde struct of parameters with a stable name, registered at link time
//! with `register_shuffle_op!` as a runtime [`ShuffleKind`](partita_runtime::ShuffleKind). Its
//! [`fns`](ShuffleOp::fns) builds the split, fold and finish; [`described_shuffle`] calls it here
//! and records the op in the spec, and the far side of a shipped graph calls the same function
//! on the decoded parameters.

use partita_runtime::{decode_params, Operation, ShuffleFns, ShuffleSpec};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A built-in shuffle: parameters that build its split, fold and finish.
pub(crate) trait ShuffleOp: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The name it is registered under, stable across builds: `"<collection>.<shuffle>"`.
    const NAME: &'static str;

    /// The shuffle's three functions.
    fn fns(&self) -> ShuffleFns;
}

/// What the far side calls for a shuffle op: decodes its parameters and builds its functions.
pub(crate) fn build_shuffle_op<P: ShuffleOp>(params: &[u8]) -> partita_runtime::Result<ShuffleFns> {
    let p: P = decode_params(P::NAME, params)?;
    Ok(p.fns())
}

/// Registers a [`ShuffleOp`] type under its [`NAME`](ShuffleOp::NAME) at link time.
macro_rules! register_shuffle_op {
    ($t:ty) => {
        partita_runtime::register_shuffle!(
            <$t as $crate::shuffle_op::ShuffleOp>::NAME,
            $crate::shuffle_op::build_shuffle_op::<$t>
        );
    };
}
pub(crate) use register_shuffle_op;

/// The spec of shuffle `name` into `outputs` partitions, its functions built by `op` and `op`
/// recorded as its description.
pub(crate) fn described_shuffle<P: ShuffleOp>(
    name: std::sync::Arc<str>,
    outputs: usize,
    mailbox: usize,
    op: &P,
) -> ShuffleSpec {
    let fns = op.fns();
    ShuffleSpec {
        name,
        outputs,
        split: fns.split,
        fold: fns.fold,
        finish: fns.finish,
        mailbox,
        op: Some(Operation::new(P::NAME, op)),
    }
}
