//! User functions of arrays written with [`remote_fn!`](crate::remote_fn): `map(f)` of every
//! element and `map_blocks(f)` of every block, as layers that can leave the process.
//!
//! Locally, `map` and `map_blocks` run the closure they are given, exactly as for a plain
//! closure; when that closure is a registered function, each task also carries an
//! [`ArrayFnOp`] naming it with the dtypes of its blocks. On the far side the function's
//! [`ItemFn`](crate::ItemFn) entry, which knows the function's argument and result types, builds
//! the same kernel ([`map_step`], [`blocks_step`]) after checking that those types are the
//! dtypes the task was built for.

use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD};
use partita_runtime::{Kernel, Operation, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::block::{block_of, kernel1};
use super::dispatch::arity;
use super::dtype::{DType, Element};
use super::elementwise::map_block;
use crate::item_fn::{apply, item_fn, item_fn_name, wire, AnyBox, ItemUse, Probe};
use crate::layer::{register_op, Op};

/// What an array use of a function is handed: the task's input block and the dtypes the task
/// was built for.
#[doc(hidden)]
#[derive(Debug)]
pub struct ArrayFnInput {
    /// The input block's key.
    pub input: TaskKey,
    /// The input block's dtype.
    pub dtype: DType,
    /// The output block's dtype.
    pub out: DType,
}

/// Takes the [`ArrayFnInput`] out of an adapter's box, checking that `A` and `R` are its dtypes.
fn input_of<A: Element, R: Element>(
    name: &str,
    prev: Option<AnyBox>,
) -> Result<TaskKey, partita_runtime::Error> {
    let input = prev
        .ok_or_else(|| wire(format!("{name}: an array step was given no input")))?
        .downcast::<ArrayFnInput>()
        .map_err(|_| {
            wire(format!(
                "{name}: an array step was given something else than its input"
            ))
        })?;
    if (input.dtype, input.out) != (A::DTYPE, R::DTYPE) {
        return Err(wire(format!(
            "{name} maps {} to {}, the task was built for {} to {}",
            A::DTYPE,
            R::DTYPE,
            input.dtype,
            input.out
        )));
    }
    Ok(input.input)
}

/// `map(f)`'s kernel for the function `f` of elements, named `name`.
#[doc(hidden)]
pub type MapFn<A, R> = fn(fn(A) -> R, &str, Option<AnyBox>) -> partita_runtime::Result<AnyBox>;

/// `map(f)`'s kernel: the same element-wise work as a local `map` (in place when it can be).
#[doc(hidden)]
pub fn map_step<A: Element, R: Element>(
    f: fn(A) -> R,
    name: &str,
    prev: Option<AnyBox>,
) -> partita_runtime::Result<AnyBox> {
    let input = input_of::<A, R>(name, prev)?;
    let kernel: Kernel = kernel1(input, Arc::new(map_block::<A, R, _>(f)));
    Ok(Box::new(kernel))
}

/// `map_blocks(f)`'s kernel: `f` of a view of each block.
#[doc(hidden)]
pub fn blocks_step<A: Element, R: Element>(
    f: fn(ArrayViewD<'_, A>) -> ArrayD<R>,
    name: &str,
    prev: Option<AnyBox>,
) -> partita_runtime::Result<AnyBox> {
    let input = input_of::<A, R>(name, prev)?;
    let kernel: Kernel = kernel1(input, Arc::new(blocks_fn::<A, R, _>(f)));
    Ok(Box::new(kernel))
}

/// The work of one `map_blocks` task: `f` of a view of its block.
pub(crate) fn blocks_fn<T: Element, U: Element, F>(
    f: F,
) -> impl Fn(&TaskKey, Value) -> partita_runtime::Result<ArrayD<U>> + Send + Sync + 'static
where
    F: Fn(ArrayViewD<'_, T>) -> ArrayD<U> + Send + Sync + 'static,
{
    move |key, v| Ok(f(block_of::<T>(&v, key)?.view()))
}

/// `map(f)` for a function of array elements.
#[doc(hidden)]
pub trait ViaElements<A, R> {
    /// `map`'s kernel.
    fn array_map_fn(&self) -> Option<MapFn<A, R>>;
}
impl<A: Element, R: Element> ViaElements<A, R> for Probe<(A, R)> {
    fn array_map_fn(&self) -> Option<MapFn<A, R>> {
        Some(map_step::<A, R>)
    }
}
/// No array `map` for a function of other types.
#[doc(hidden)]
pub trait NoElements<A, R> {
    /// None.
    fn array_map_fn(&self) -> Option<MapFn<A, R>> {
        None
    }
}
impl<A, R> NoElements<A, R> for &Probe<(A, R)> {}

/// `array.user_fn`: the registered function `f` used as `usage` (`ArrayMap`, `ArrayBlocks`) on
/// blocks of `dtype`, making blocks of `out`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ArrayFnOp {
    f: String,
    usage: ItemUse,
    dtype: DType,
    out: DType,
}

impl Op for ArrayFnOp {
    const NAME: &'static str = "array.user_fn";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        arity(Self::NAME, cx, 1)?;
        let input = ArrayFnInput {
            input: cx.deps[0].clone(),
            dtype: self.dtype,
            out: self.out,
        };
        apply(&self.f, self.usage, Some(Box::new(input)))?
            .downcast::<Kernel>()
            .map(|k| *k)
            .map_err(|_| wire(format!("{}: {} did not give a kernel", cx.key, self.f)))
    }
}

register_op!(ArrayFnOp);

/// The operation of a layer running `F` as `usage` on blocks of `T` into blocks of `U`, when
/// `F` is a function registered with that use; `None` for a plain closure.
pub(crate) fn array_fn_op<T: Element, U: Element, F: 'static>(usage: ItemUse) -> Option<Operation> {
    let name = item_fn_name::<F>()?;
    // A use the function has answers `Some` even without an input (an error saying so); one it
    // lacks (a block function whose argument type was spelt as a path) answers `None`.
    let adapt = item_fn(name).ok()?.adapt;
    let _no_input = adapt(usage, None)?;
    let op = ArrayFnOp {
        f: name.to_string(),
        usage,
        dtype: T::DTYPE,
        out: U::DTYPE,
    };
    Some(Operation::new(ArrayFnOp::NAME, &op))
}
