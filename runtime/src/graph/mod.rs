//! Task graphs: keys, tasks and layers, with culling, linear fusion and DOT export.
//!
//! A [`Graph`] is a list of named [`Layer`]s, as Dask's `HighLevelGraph` is. A collection adds one
//! layer per operation (one task per output partition), so merging two collections' graphs keeps
//! one copy of each shared layer. Nothing here runs anything: the schedulers compile a graph into a
//! plan at compute time.

mod cull;
mod dot;
mod fuse;
mod key;
#[cfg(test)]
mod test;

use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

pub use self::key::TaskKey;
use crate::actor::PartitionRef;
use crate::error::{Error, Result};
use crate::remote::Operation;
use crate::value::Kernel;

/// How a task gets its value.
#[derive(Clone)]
pub enum TaskKind {
    /// Run a kernel on the pool over the task's inputs.
    Compute(Kernel),
    /// Read a persisted partition from the actor that owns it.
    Stored(PartitionRef),
}

impl std::fmt::Debug for TaskKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskKind::Compute(_) => f.write_str("Compute"),
            TaskKind::Stored(p) => write!(f, "Stored({})", p.key()),
        }
    }
}

/// One task: a key, the keys of its inputs in order, and how to produce its value.
///
/// A task may also carry its [`Operation`]: the same work described as data (a registered
/// operator's name and its parameters), which is what lets the task leave the process. The local
/// schedulers never look at it; they call the kernel.
#[derive(Clone, Debug)]
pub struct Task {
    key: TaskKey,
    deps: Vec<TaskKey>,
    kind: TaskKind,
    op: Option<Operation>,
}

impl Task {
    /// A task that runs `kernel` over the values of `deps`, in that order.
    pub fn new(key: TaskKey, deps: Vec<TaskKey>, kernel: Kernel) -> Self {
        Task {
            key,
            deps,
            kind: TaskKind::Compute(kernel),
            op: None,
        }
    }

    /// The same task, described as data by `op` so that it can be shipped. `op` must compute what
    /// the kernel computes; the operators' own tests check that each of them does.
    pub fn with_op(mut self, op: Operation) -> Self {
        self.op = Some(op);
        self
    }

    /// The same task with `op` when there is one.
    pub fn with_op_opt(mut self, op: Option<Operation>) -> Self {
        self.op = op;
        self
    }

    /// The task as data, when it has a description that can leave the process.
    pub fn op(&self) -> Option<&Operation> {
        self.op.as_ref()
    }

    /// A task whose value is a persisted partition, read from its owning actor.
    pub fn stored(partition: PartitionRef) -> Self {
        Task {
            key: partition.key().clone(),
            deps: Vec::new(),
            kind: TaskKind::Stored(partition),
            op: None,
        }
    }

    /// The task's key.
    pub fn key(&self) -> &TaskKey {
        &self.key
    }

    /// The keys of the task's inputs, in the order its kernel receives them.
    pub fn deps(&self) -> &[TaskKey] {
        &self.deps
    }

    /// How the task produces its value.
    pub fn kind(&self) -> &TaskKind {
        &self.kind
    }

    /// Whether `other` is this very task (same key, same kernel or partition), as happens when
    /// two collections that share an input are merged into one graph.
    pub fn is_same(&self, other: &Task) -> bool {
        self.key == other.key
            && self.deps == other.deps
            && match (&self.kind, &other.kind) {
                (TaskKind::Compute(a), TaskKind::Compute(b)) => {
                    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
                }
                (TaskKind::Stored(_), TaskKind::Stored(_)) => true,
                _ => false,
            }
    }
}

/// A named group of tasks, usually one per partition of one collection operation.
#[derive(Clone, Debug)]
pub struct Layer {
    name: Arc<str>,
    tasks: Vec<Task>,
}

impl Layer {
    /// The layer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The layer's tasks.
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }
}

/// A task graph made of layers.
///
/// ```
/// use std::sync::Arc;
/// use partita_runtime::{value, Graph, Task, TaskKey};
///
/// let mut g = Graph::new();
/// let a = TaskKey::new("a", 0);
/// let b = TaskKey::new("b", 0);
/// g.add_layer("a", vec![Task::new(a.clone(), vec![], Arc::new(|_| Ok(value(1_i64))))]);
/// g.add_layer("b", vec![Task::new(b.clone(), vec![a], Arc::new(|xs| {
///     let x = xs[0].downcast_ref::<i64>().unwrap();
///     Ok(value(x + 1))
/// }))]);
/// assert_eq!(g.len(), 2);
/// assert_eq!(g.cull(&[TaskKey::new("a", 0)]).unwrap().len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Graph {
    layers: Vec<Arc<Layer>>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Graph::default()
    }

    /// Adds a layer of tasks. A layer whose name is already present is not added again: layers are
    /// named by the operation that made them, so the same name means the same tasks.
    pub fn add_layer(&mut self, name: impl Into<Arc<str>>, tasks: Vec<Task>) {
        let name = name.into();
        if !self.has_layer(&name) {
            self.layers.push(Arc::new(Layer { name, tasks }));
        }
    }

    /// Whether a layer of that name is present.
    pub fn has_layer(&self, name: &str) -> bool {
        self.layers.iter().any(|l| &*l.name == name)
    }

    /// Adds every layer of `other` that this graph lacks.
    pub fn merge(&mut self, other: &Graph) {
        for layer in &other.layers {
            if !self.has_layer(&layer.name) {
                self.layers.push(layer.clone());
            }
        }
    }

    /// The layers, in the order they were added.
    pub fn layers(&self) -> &[Arc<Layer>] {
        &self.layers
    }

    /// Every task, layer by layer.
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.layers.iter().flat_map(|l| l.tasks.iter())
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.layers.iter().map(|l| l.tasks.len()).sum()
    }

    /// Whether the graph has no task.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A map from key to task.
    ///
    /// # Errors
    /// [`Error::DuplicateKey`] when two different tasks share a key.
    pub(crate) fn index(&self) -> Result<FxHashMap<&TaskKey, &Task>> {
        let mut index: FxHashMap<&TaskKey, &Task> = FxHashMap::default();
        index.reserve(self.len());
        for task in self.tasks() {
            if let Some(old) = index.insert(&task.key, task) {
                if !old.is_same(task) {
                    return Err(Error::DuplicateKey {
                        key: task.key.clone(),
                    });
                }
            }
        }
        Ok(index)
    }

    /// A copy keeping only the tasks whose keys are in `keep`, layer structure intact.
    fn retain(&self, keep: &FxHashSet<&TaskKey>) -> Graph {
        let layers = self
            .layers
            .iter()
            .filter_map(|l| {
                let tasks: Vec<Task> = l
                    .tasks
                    .iter()
                    .filter(|t| keep.contains(&t.key))
                    .cloned()
                    .collect();
                (!tasks.is_empty()).then(|| {
                    Arc::new(Layer {
                        name: l.name.clone(),
                        tasks,
                    })
                })
            })
            .collect();
        Graph { layers }
    }
}
