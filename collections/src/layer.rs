//! Built-in operations as data, and the one helper that adds their layers.
//!
//! Every operation a collection builds is an [`Op`]: a serde struct of parameters with a stable
//! [`NAME`](Op::NAME), registered at link time with [`register_op!`]. Its
//! [`kernel`](Op::kernel) is the only code that does the work: [`blockwise`] and [`layer`] call it
//! here to build each task's kernel and record the op beside it, and the far side of a shipped
//! graph calls the very same function on the decoded parameters. So the local path pays nothing
//! for being shippable, and the two sides cannot disagree about what a task does.

use std::sync::Arc;

use partita_runtime::{decode_params, Graph, Kernel, Operation, Task, TaskContext, TaskKey};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A built-in operation: parameters that build a task's kernel.
///
/// Sources outside this crate (the readers of `partita-io`) implement it too, register it with
/// [`register_op!`](crate::register_op) and add their layers with [`blockwise`] or [`layer`].
///
/// ```
/// use std::sync::Arc;
/// use partita_collections::{blockwise, register_op, Op};
/// use partita_runtime::{decode_graph, encode_graph, value, Graph, Kernel, Result, Runtime, TaskContext};
///
/// /// Yields `n * (task index + 1)`.
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Times { n: u64 }
/// impl Op for Times {
///     const NAME: &'static str = "doc.times";
///     fn kernel(&self, cx: TaskContext<'_>) -> Result<Kernel> {
///         let v = self.n * (cx.key.index() + 1);
///         Ok(Arc::new(move |_| Ok(value(v))))
///     }
/// }
/// register_op!(Times);
///
/// let mut g = Graph::new();
/// let keys = blockwise(&mut g, &"times".into(), &Times { n: 7 }, vec![vec![]; 3]);
/// let (shipped, outputs) = decode_graph(&encode_graph(&g, &keys)?)?;
/// let got = Runtime::builder().threads(1).build()?.compute(&shipped, &outputs)?;
/// assert_eq!(*got[2].downcast_ref::<u64>().unwrap(), 21);
/// # Ok::<(), partita_runtime::Error>(())
/// ```
pub trait Op: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The name it is registered under, stable across builds: `"<collection>.<operation>"`.
    const NAME: &'static str;

    /// The kernel of one task, given its key and its inputs' keys (for error messages and
    /// downcasts).
    ///
    /// # Errors
    /// Parameters that do not fit the task (the wrong number of inputs, say); never a panic.
    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel>;
}

/// What the far side calls for an op: decodes its parameters and builds its kernel.
#[doc(hidden)]
pub fn build_op<P: Op>(cx: TaskContext<'_>, params: &[u8]) -> partita_runtime::Result<Kernel> {
    let p: P = decode_params(P::NAME, params)?;
    p.kernel(cx)
}

/// Registers an [`Op`] type under its [`NAME`](Op::NAME) at link time.
#[macro_export]
macro_rules! register_op {
    ($t:ty) => {
        $crate::__private::partita_runtime::register_operator!(
            <$t as $crate::Op>::NAME,
            $crate::__private::build_op::<$t>
        );
    };
}
#[allow(unused_imports)]
pub(crate) use crate::register_op;

/// One task running `op` over `deps`, its kernel built by the op itself. A kernel that cannot
/// be built (a bug in the caller) becomes a task that fails with that error.
pub(crate) fn task<P: Op>(key: TaskKey, deps: Vec<TaskKey>, op: &P, data: &Operation) -> Task {
    let kernel = op
        .kernel(TaskContext {
            key: &key,
            deps: &deps,
        })
        .unwrap_or_else(|e| {
            let e = Arc::new(e);
            Arc::new(move |_| Err((*e).clone()))
        });
    Task::new(key, deps, kernel).with_op(data.clone())
}

/// Adds layer `name` to `graph`: task `i` runs `op` over `deps[i]` and is keyed `(name, i)`.
/// Returns the keys. The tasks share one encoded copy of the parameters.
pub fn blockwise<P: Op>(
    graph: &mut Graph,
    name: &Arc<str>,
    op: &P,
    deps: impl IntoIterator<Item = Vec<TaskKey>>,
) -> Vec<TaskKey> {
    let data = Operation::new(P::NAME, op);
    let tasks: Vec<Task> = deps
        .into_iter()
        .enumerate()
        .map(|(i, deps)| task(TaskKey::new(name.clone(), i as u64), deps, op, &data))
        .collect();
    let keys = tasks.iter().map(|t| t.key().clone()).collect();
    graph.add_layer(name.clone(), tasks);
    keys
}

/// Adds layer `name` to `graph` from `(key, deps, op)` triples, for layers whose tasks differ in
/// their parameters (a slice's bounds, a block's offsets). Returns the keys.
pub fn layer<P: Op>(
    graph: &mut Graph,
    name: &Arc<str>,
    tasks: impl IntoIterator<Item = (TaskKey, Vec<TaskKey>, P)>,
) -> Vec<TaskKey> {
    let tasks: Vec<Task> = tasks
        .into_iter()
        .map(|(key, deps, op)| {
            let data = Operation::new(P::NAME, &op);
            task(key, deps, &op, &data)
        })
        .collect();
    let keys = tasks.iter().map(|t| t.key().clone()).collect();
    graph.add_layer(name.clone(), tasks);
    keys
}
