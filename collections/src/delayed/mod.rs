//! Delayed: lazy values built from plain Rust closures, as `dask.delayed` gives.
//!
//! A [`Delayed<T>`] is a task that will produce a `T`, together with everything it depends on.
//! Building one does no work; [`Delayed::compute`] turns the sub-graph behind it into a task graph
//! and runs it. Shared inputs are computed once, however many delayed values use them.

#[cfg(test)]
mod test;

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use partita_runtime::{
    downcast, downcast_owned, user_fn_op, value, ComputeHandle, Graph, Kernel, Operation, Runtime,
    Task, TaskKey, TaskKind, Usage, Value, FIRST_INPUT,
};
use rustc_hash::FxHashSet;

use crate::error::Result;

/// One node of the lazy graph: a task and the nodes it reads, or a key of a collection's graph.
struct Node {
    key: TaskKey,
    deps: Vec<Arc<Node>>,
    body: Body,
    /// The task as data, when it can leave the process.
    op: Option<Operation>,
}

enum Body {
    Task(TaskKind),
    /// The task `key` of this graph (a collection's reduction, say).
    Graph(Arc<Graph>),
}

impl Drop for Node {
    // Dropping a long chain recursively would overflow the stack; unlink it iteratively.
    fn drop(&mut self) {
        let mut stack = std::mem::take(&mut self.deps);
        while let Some(node) = stack.pop() {
            if let Some(mut node) = Arc::into_inner(node) {
                stack.append(&mut node.deps);
            }
        }
    }
}

/// A lazy value of type `T`.
///
/// ```
/// use partita_collections::{delayed, Delayed};
/// let x: Delayed<i64> = delayed(|| 20);
/// let y = x.map(|v| v + 1);
/// let z = x.zip_with(&y, |a, b| a + b);
/// assert_eq!(z.compute()?, 41);
/// # Ok::<(), partita_collections::Error>(())
/// ```
pub struct Delayed<T> {
    node: Arc<Node>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Delayed<T> {
    fn clone(&self) -> Self {
        Delayed {
            node: self.node.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Delayed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Delayed<{}>({})",
            std::any::type_name::<T>(),
            self.node.key
        )
    }
}

static NEXT_INDEX: AtomicU64 = AtomicU64::new(0);

/// A fresh key named `name`.
fn new_key(name: &'static str) -> TaskKey {
    thread_local! {
        static NAMES: std::cell::RefCell<Vec<(&'static str, Arc<str>)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    let shared = NAMES.with(|names| {
        let mut names = names.borrow_mut();
        match names.iter().find(|(n, _)| *n == name) {
            Some((_, arc)) => arc.clone(),
            None => {
                let arc: Arc<str> = Arc::from(name);
                names.push((name, arc.clone()));
                arc
            }
        }
    });
    TaskKey::new(shared, NEXT_INDEX.fetch_add(1, Ordering::Relaxed))
}

fn node<T>(
    key: TaskKey,
    deps: Vec<Arc<Node>>,
    kernel: Kernel,
    op: Option<Operation>,
) -> Delayed<T> {
    Delayed {
        node: Arc::new(Node {
            key,
            deps,
            body: Body::Task(TaskKind::Compute(kernel)),
            op,
        }),
        _type: PhantomData,
    }
}

/// A lazy call of `f`. It runs when the value is computed, once per compute.
///
/// ```
/// let x = partita_collections::delayed(|| "hello".len());
/// assert_eq!(x.compute()?, 5);
/// # Ok::<(), partita_collections::Error>(())
/// ```
///
/// Values cross threads, so they must be `Send + Sync`; an `Rc` is refused at compile time:
///
/// ```compile_fail
/// let x = partita_collections::delayed(|| std::rc::Rc::new(1));
/// ```
///
/// and so is a closure that borrows from the caller's stack:
///
/// ```compile_fail
/// let local = vec![1, 2, 3];
/// let x = partita_collections::delayed(|| local.len());
/// ```
pub fn delayed<T, F>(f: F) -> Delayed<T>
where
    T: Send + Sync + 'static,
    F: Fn() -> T + Send + Sync + 'static,
{
    node(
        new_key("delayed"),
        Vec::new(),
        Arc::new(move |_| Ok(value(f()))),
        user_fn_op::<F>(Usage::Call0),
    )
}

/// A value already in hand, as a delayed input that other delayed values can share.
///
/// ```
/// let data = partita_collections::from_value(vec![1, 2, 3]);
/// assert_eq!(data.map(|v| v.iter().sum::<i32>()).compute()?, 6);
/// # Ok::<(), partita_collections::Error>(())
/// ```
pub fn from_value<T: Send + Sync + 'static>(v: T) -> Delayed<T> {
    let v = value(v);
    let op = Operation::literal_value(v.clone());
    node(
        new_key("value"),
        Vec::new(),
        Arc::new(move |_| Ok(v.clone())),
        op,
    )
}

/// One lazy value from many: `f` receives the inputs' values in order. This is how a fan-in (a
/// tree reduction's inner node, say) is written.
///
/// ```
/// use partita_collections::{combine, delayed};
/// let xs: Vec<_> = (1..=4).map(|i| delayed(move || i)).collect();
/// let total = combine(&xs, |vs| vs.iter().copied().sum::<i32>());
/// assert_eq!(total.compute()?, 10);
/// # Ok::<(), partita_collections::Error>(())
/// ```
pub fn combine<T, U, F>(items: &[Delayed<T>], f: F) -> Delayed<U>
where
    T: Send + Sync + 'static,
    U: Send + Sync + 'static,
    F: Fn(&[&T]) -> U + Send + Sync + 'static,
{
    let keys: Vec<TaskKey> = items.iter().map(|d| d.node.key.clone()).collect();
    let kernel: Kernel = Arc::new(move |inputs: Vec<Value>| {
        let vs = inputs
            .iter()
            .zip(&keys)
            .map(|(v, k)| downcast::<T>(v, k))
            .collect::<partita_runtime::Result<Vec<&T>>>()?;
        Ok(value(f(&vs)))
    });
    node(
        new_key("combine"),
        items.iter().map(|d| d.node.clone()).collect(),
        kernel,
        user_fn_op::<F>(Usage::Slice),
    )
}

impl<T: Send + Sync + 'static> Delayed<T> {
    /// The key of the task that produces this value.
    pub fn key(&self) -> &TaskKey {
        &self.node.key
    }

    /// The same value under a task name of your choice (shown in errors, progress and DOT).
    ///
    /// ```
    /// let x = partita_collections::delayed(|| 1).named("load");
    /// assert_eq!(x.key().name(), "load");
    /// ```
    pub fn named(self, name: &str) -> Delayed<T> {
        let key = TaskKey::new(name, self.node.key.index());
        Delayed {
            node: Arc::new(Node {
                key,
                deps: self.node.deps.clone(),
                op: self.node.op.clone(),
                body: match &self.node.body {
                    Body::Task(kind) => Body::Task(kind.clone()),
                    // A key inside a collection's graph cannot be renamed; wrap it instead.
                    Body::Graph(_) => {
                        let input = self.node.key.clone();
                        return node(
                            TaskKey::new(name, self.node.key.index()),
                            vec![self.node.clone()],
                            Arc::new(move |mut inputs: Vec<Value>| {
                                inputs.pop().ok_or(partita_runtime::Error::MissingKey {
                                    key: input.clone(),
                                })
                            }),
                            Some(Operation::new(FIRST_INPUT, &())),
                        );
                    }
                },
            }),
            _type: PhantomData,
        }
    }

    /// A lazy `f(self)`.
    pub fn map<U, F>(&self, f: F) -> Delayed<U>
    where
        U: Send + Sync + 'static,
        F: Fn(&T) -> U + Send + Sync + 'static,
    {
        let input = self.node.key.clone();
        node(
            new_key("map"),
            vec![self.node.clone()],
            Arc::new(move |inputs: Vec<Value>| Ok(value(f(downcast::<T>(&inputs[0], &input)?)))),
            user_fn_op::<F>(Usage::Ref1),
        )
    }

    /// A lazy `f(self, other)`.
    pub fn zip_with<U, V, F>(&self, other: &Delayed<U>, f: F) -> Delayed<V>
    where
        U: Send + Sync + 'static,
        V: Send + Sync + 'static,
        F: Fn(&T, &U) -> V + Send + Sync + 'static,
    {
        let (ka, kb) = (self.node.key.clone(), other.node.key.clone());
        node(
            new_key("zip"),
            vec![self.node.clone(), other.node.clone()],
            Arc::new(move |inputs: Vec<Value>| {
                let a = downcast::<T>(&inputs[0], &ka)?;
                let b = downcast::<U>(&inputs[1], &kb)?;
                Ok(value(f(a, b)))
            }),
            user_fn_op::<F>(Usage::Ref2),
        )
    }

    /// A lazy pair of both values.
    pub fn zip<U>(&self, other: &Delayed<U>) -> Delayed<(T, U)>
    where
        T: Clone,
        U: Clone + Send + Sync + 'static,
    {
        self.zip_with(other, |a, b| (a.clone(), b.clone()))
    }

    /// The task graph behind this value.
    pub fn graph(&self) -> Graph {
        graph_of(std::slice::from_ref(self))
    }

    /// The task graph in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        self.graph().to_dot()
    }

    /// Computes the value on the current runtime ([`Runtime::current`]: the one installed with
    /// [`Runtime::install`], else the process-wide default).
    ///
    /// ```
    /// use partita_collections::delayed;
    /// use partita_runtime::{Runtime, Scheduler};
    ///
    /// let x = delayed(|| 20).map(|v| v + 1);
    /// let debug = Runtime::builder().scheduler(Scheduler::Sync).build()?;
    /// assert_eq!(debug.install(|| x.compute())?, 21); // on `debug`: one thread, in order
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// The failure of the task, or of a task it depends on.
    pub fn compute(&self) -> Result<T>
    where
        T: Clone,
    {
        let runtime = Runtime::current();
        let mut values = runtime.compute(&self.graph(), std::slice::from_ref(self.key()))?;
        let v = values.pop().ok_or(partita_runtime::Error::MissingKey {
            key: self.key().clone(),
        })?;
        Ok(downcast_owned(v, self.key())?)
    }

    /// Starts computing on the current runtime ([`Runtime::current`]); await the handle for the
    /// value. The runtime's threads do the work, so awaiting never blocks an async executor.
    /// The runtime is the one current when this is called: `rt.install(|| x.compute_async())`
    /// runs on `rt` however late the handle is awaited.
    pub fn compute_async(&self) -> DelayedHandle<T> {
        let runtime = Runtime::current();
        DelayedHandle {
            key: self.key().clone(),
            inner: runtime.compute_async(&self.graph(), std::slice::from_ref(self.key())),
            _type: PhantomData,
        }
    }

    /// Computes the value on the current runtime ([`Runtime::current`]) and keeps it in a
    /// partition actor. The result is a delayed value that reads the kept partition, so later
    /// computes reuse it.
    ///
    /// # Errors
    /// As [`compute`](Self::compute).
    pub fn persist(&self) -> Result<Delayed<T>> {
        let runtime = Runtime::current();
        let mut refs = runtime.persist(&self.graph(), std::slice::from_ref(self.key()))?;
        let partition = refs.pop().ok_or(partita_runtime::Error::MissingKey {
            key: self.key().clone(),
        })?;
        let task = Task::stored(partition);
        Ok(Delayed {
            node: Arc::new(Node {
                key: task.key().clone(),
                deps: Vec::new(),
                body: Body::Task(task.kind().clone()),
                op: None,
            }),
            _type: PhantomData,
        })
    }
}

impl<T> Delayed<T> {
    /// The value of task `key` in `graph`, as a delayed value. Collections use this to hand out
    /// their reductions. If the task's value is not a `T`, computing it fails with
    /// [`TypeMismatch`](partita_runtime::Error::TypeMismatch).
    pub fn from_graph(graph: Arc<Graph>, key: TaskKey) -> Delayed<T> {
        Delayed {
            node: Arc::new(Node {
                key,
                deps: Vec::new(),
                body: Body::Graph(graph),
                op: None,
            }),
            _type: PhantomData,
        }
    }
}

/// The graph behind several delayed values, each shared node once.
fn graph_of<T>(roots: &[Delayed<T>]) -> Graph {
    let mut seen: FxHashSet<*const Node> = FxHashSet::default();
    let mut stack: Vec<&Arc<Node>> = roots.iter().map(|d| &d.node).collect();
    let mut tasks = Vec::new();
    let mut graphs: Vec<&Arc<Graph>> = Vec::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(Arc::as_ptr(n)) {
            continue;
        }
        let deps = n.deps.iter().map(|d| d.key.clone()).collect();
        match &n.body {
            Body::Task(TaskKind::Compute(k)) => {
                tasks.push(Task::new(n.key.clone(), deps, k.clone()).with_op_opt(n.op.clone()))
            }
            Body::Task(TaskKind::Stored(p)) => tasks.push(Task::stored(p.clone())),
            Body::Graph(g) => graphs.push(g),
        }
        stack.extend(n.deps.iter());
    }
    let mut g = Graph::new();
    for other in graphs {
        g.merge(other);
    }
    // Each graph gets its own layer name; a task that two of them share is merged by key.
    let layer = crate::names::unique("delayed");
    g.add_layer(layer, tasks);
    g
}

/// The graph behind several delayed values.
pub fn graph_all<T>(items: &[Delayed<T>]) -> Graph {
    graph_of(items)
}

/// Computes several delayed values in one graph, so the work they share runs once.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use partita_collections::{compute_all, delayed};
///
/// let runs = Arc::new(AtomicUsize::new(0));
/// let r = runs.clone();
/// let shared = delayed(move || { r.fetch_add(1, Ordering::SeqCst); 10 });
/// let a = shared.map(|x| x + 1);
/// let b = shared.map(|x| x * 2);
/// assert_eq!(compute_all(&[a, b])?, vec![11, 20]);
/// assert_eq!(runs.load(Ordering::SeqCst), 1);
/// # Ok::<(), partita_collections::Error>(())
/// ```
///
/// # Errors
/// The first failure among the requested values, in order.
pub fn compute_all<T>(items: &[Delayed<T>]) -> Result<Vec<T>>
where
    T: Clone + Send + Sync + 'static,
{
    let keys: Vec<TaskKey> = items.iter().map(|d| d.key().clone()).collect();
    let values = Runtime::current().compute(&graph_of(items), &keys)?;
    values
        .into_iter()
        .zip(&keys)
        .map(|(v, k)| Ok(downcast_owned(v, k)?))
        .collect()
}

/// A delayed compute in flight; `.await` it, or [`wait`](Self::wait).
pub struct DelayedHandle<T> {
    key: TaskKey,
    inner: ComputeHandle,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for DelayedHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelayedHandle")
            .field("key", &self.key)
            .finish()
    }
}

impl<T: Clone + Send + Sync + 'static> DelayedHandle<T> {
    /// Blocks until the value is ready.
    ///
    /// # Errors
    /// As [`Delayed::compute`].
    pub fn wait(self) -> Result<T> {
        let key = self.key;
        unpack(self.inner.wait(), &key)
    }

    /// Cancels the compute, as [`ComputeHandle::cancel`] does: [`wait`](Self::wait) returns
    /// [`Cancelled`](partita_runtime::Error::Cancelled) at once, and a kernel that blocks
    /// forever costs the pool no thread. Dropping the handle cancels too. Returns `false` if
    /// the compute had already ended.
    pub fn cancel(&self) -> bool {
        self.inner.cancel()
    }
}

fn unpack<T: Clone + Send + Sync + 'static>(
    values: partita_runtime::Result<Vec<Value>>,
    key: &TaskKey,
) -> Result<T> {
    let v = values?
        .pop()
        .ok_or_else(|| partita_runtime::Error::MissingKey { key: key.clone() })?;
    Ok(downcast_owned(v, key)?)
}

impl<T: Clone + Send + Sync + 'static> std::future::Future for DelayedHandle<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        match Pin::new(&mut self.inner).poll(cx) {
            Poll::Ready(values) => Poll::Ready(unpack(values, &self.key)),
            Poll::Pending => Poll::Pending,
        }
    }
}
