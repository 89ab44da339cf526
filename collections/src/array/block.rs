//! Blocks as partition values: borrowing and taking them, and wrapping typed block kernels.

use std::sync::Arc;

use ndarray::ArrayD;
use partita_runtime::{downcast, value, Kernel, TaskKey, Value};

use super::dtype::Element;

/// Borrows a block.
pub(crate) fn block_of<'a, T: Element>(
    v: &'a Value,
    key: &TaskKey,
) -> partita_runtime::Result<&'a ArrayD<T>> {
    downcast::<ArrayD<T>>(v, key)
}

/// Takes a block out of its value: moved when nobody else holds it, copied otherwise.
pub(crate) fn take_block<T: Element>(
    v: Value,
    key: &TaskKey,
) -> partita_runtime::Result<ArrayD<T>> {
    block_of::<T>(&v, key)?;
    match v.downcast::<ArrayD<T>>() {
        Ok(arc) => Ok(Arc::try_unwrap(arc).unwrap_or_else(|shared| (*shared).clone())),
        Err(_) => unreachable!("checked above"),
    }
}

/// Takes a block out of its value when nobody else holds it.
pub(crate) fn try_own<T: Element>(v: Value) -> Result<ArrayD<T>, Value> {
    match v.downcast::<ArrayD<T>>() {
        Ok(arc) => Arc::try_unwrap(arc).map_err(|shared| shared as Value),
        Err(v) => Err(v),
    }
}

/// A kernel over one input block (whose key is `input`), producing one block.
pub(crate) fn kernel1<U, F>(input: TaskKey, f: Arc<F>) -> Kernel
where
    U: Element,
    F: Fn(&TaskKey, Value) -> partita_runtime::Result<ArrayD<U>> + Send + Sync + 'static,
{
    Arc::new(move |mut inputs: Vec<Value>| {
        let v = inputs.swap_remove(0);
        Ok(value(f(&input, v)?))
    })
}
