//! Array: a lazy n-dimensional array cut into chunks, as `dask.array` gives.
//!
//! An [`Array<T>`] is a graph whose last layer has one task per block, numbered in C order over
//! the block grid ([`Chunks::flat`]); each block's value is an `ndarray::ArrayD<T>` of the block's
//! shape. Operations add layers and compute nothing. Element-wise operations add one task per
//! block, and the runtime's fusion turns a chain of them into one task per block that updates the
//! block in place when nothing else holds it. Reductions along axes are tree reductions over the
//! blocks, and `keepdims` keeps the reduced axes as length 1, so `&x - &x.mean(axis(1).keepdims())`
//! broadcasts as in NumPy.
//!
//! Every layer a built-in operation adds is a registered operator (`array.map`, `array.zip`,
//! `array.reduce_partial`, ...) whose parameters carry the dtype, so a graph of them can be
//! computed by another process; blocks cross it through the chunk codec of their dtype.
//! [`Array::map`] and [`Array::map_blocks`] of a function written with
//! [`remote_fn!`](crate::remote_fn) carry its name (`array.user_fn`) and leave the process too;
//! a layer running a plain closure (those two, [`Array::zip_with`]) stays in this process.

mod axes;
mod block;
mod chunks;
mod codec;
mod complex;
mod creation;
mod dispatch;
mod dtype;
mod dynamic;
mod elementwise;
mod index;
mod linalg;
mod reduce;
mod scan;
mod shape;
#[cfg(test)]
mod test;
mod user_fn;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use partita_runtime::{value, Graph, Operation, Runtime, Task, TaskKey, Value};

pub use self::axes::{axis, Axes};
pub use self::chunks::Chunks;
pub use self::dtype::{DType, Element, Float, Numeric, Real, Scalar, C128, C64};
pub use self::dynamic::DynArray;
pub use self::elementwise::Operand;
pub use self::index::Index;
#[doc(hidden)]
pub use self::user_fn::{blocks_step, map_step, ArrayFnInput, MapFn, NoElements, ViaElements};

use self::block::{block_of, kernel1};
use crate::error::{Error, Result};
use crate::layer::{self, Op};
use crate::names::unique;

/// A lazy, chunked n-dimensional array of `T`.
///
/// ```
/// use ndarray::array;
/// use partita_collections::{axis, Array};
///
/// let x = Array::from_array(array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], &[1, 2])?;
/// let y = &x - &x.mean(axis(1).keepdims())?;
/// assert_eq!(y.compute()?, array![[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]].into_dyn());
/// assert_eq!(x.sum(axis(0))?.compute()?, array![5.0, 7.0, 9.0].into_dyn());
/// # Ok::<(), partita_collections::Error>(())
/// ```
pub struct Array<T> {
    graph: Graph,
    name: Arc<str>,
    chunks: Chunks,
    /// The layer this array is the 2-d transpose of, if it is one (for symmetric `matmul`).
    transpose_of: Option<Arc<str>>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            graph: self.graph.clone(),
            name: self.name.clone(),
            chunks: self.chunks.clone(),
            transpose_of: self.transpose_of.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: Element> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Array")
            .field("dtype", &T::DTYPE)
            .field("shape", &self.shape())
            .field("chunks", &self.chunks.sizes())
            .field("name", &self.name)
            .finish()
    }
}

/// Shows the structure without computing anything, as Dask's array repr does.
///
/// ```
/// let x = partita_collections::Array::<f64>::zeros(&[4, 6], &[2, 3])?;
/// assert_eq!(
///     x.to_string(),
///     "Array<float64> shape=(4, 6) chunks=(2, 3) blocks=4 tasks=4",
/// );
/// # Ok::<(), partita_collections::Error>(())
/// ```
impl<T: Element> fmt::Display for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tuple = |v: &[usize]| {
            let parts: Vec<String> = v.iter().map(|n| n.to_string()).collect();
            if parts.len() == 1 {
                format!("({},)", parts[0])
            } else {
                format!("({})", parts.join(", "))
            }
        };
        let first: Vec<usize> = self
            .chunks
            .sizes()
            .iter()
            .map(|s| s.first().copied().unwrap_or(0))
            .collect();
        write!(
            f,
            "Array<{}> shape={} chunks={} blocks={} tasks={}",
            T::DTYPE,
            tuple(&self.shape()),
            tuple(&first),
            self.chunks.nblocks(),
            self.graph.len()
        )
    }
}

impl<T: Element> Array<T> {
    /// An array whose blocks are the tasks `(name, 0..chunks.nblocks())` of `graph`, numbered in
    /// C order over the block grid. Each task's value must be an `ArrayD<T>` of its block's
    /// shape. Sources (such as HDF5 datasets) build arrays with this.
    pub fn from_graph(graph: Graph, name: Arc<str>, chunks: Chunks) -> Array<T> {
        Array {
            graph,
            name,
            chunks,
            transpose_of: None,
            _type: PhantomData,
        }
    }

    /// An array over `data`, cut into blocks of shape `chunk` (the last block along an axis may
    /// be smaller). Each block is copied out of `data` once, now.
    ///
    /// # Errors
    /// [`Error::Shape`] when `chunk` has another rank than `data` or a zero size.
    pub fn from_array<D: ndarray::Dimension>(
        data: ndarray::Array<T, D>,
        chunk: &[usize],
    ) -> Result<Array<T>> {
        let data = data.into_dyn();
        let chunks = Chunks::uniform(data.shape(), chunk)?;
        let name = unique("array");
        let offsets = chunks.all_offsets();
        let tasks = chunks
            .blocks()
            .map(|b| {
                let info = self::chunks::slice_at(&offsets, &b);
                let block = value(data.slice(info.as_slice()).to_owned());
                // The block is the task's literal: shipped through the chunk codec.
                let op = Operation::literal_value(block.clone());
                Task::new(
                    TaskKey::new(name.clone(), chunks.flat(&b)),
                    vec![],
                    Arc::new(move |_| Ok(block.clone())),
                )
                .with_op_opt(op)
            })
            .collect();
        let mut graph = Graph::new();
        graph.add_layer(name.clone(), tasks);
        Ok(Array::from_graph(graph, name, chunks))
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        T::DTYPE
    }

    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        self.chunks.shape()
    }

    /// The number of axes.
    pub fn ndim(&self) -> usize {
        self.chunks.ndim()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// Whether the array has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How the array is cut into blocks.
    pub fn chunks(&self) -> &Chunks {
        &self.chunks
    }

    /// The number of blocks.
    pub fn nblocks(&self) -> usize {
        self.chunks.nblocks()
    }

    /// The task graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The name of the layer holding the blocks.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The key of the block at grid position `block`.
    pub fn key(&self, block: &[usize]) -> TaskKey {
        TaskKey::new(self.name.clone(), self.chunks.flat(block))
    }

    /// Every block's key, in C order.
    pub fn keys(&self) -> Vec<TaskKey> {
        (0..self.chunks.nblocks() as u64)
            .map(|i| TaskKey::new(self.name.clone(), i))
            .collect()
    }

    /// Applies `f` to every block; `f` must return a block of the same shape.
    ///
    /// When `f` is a function written with [`remote_fn!`](crate::remote_fn)
    /// (`fn(ArrayViewD<'_, T>) -> ArrayD<U>`), the new layer can leave the process. A plain
    /// closure runs only in this process: shipping its graph to another one fails, naming the
    /// layer (`map-blocks-<n>`).
    ///
    /// ```
    /// use ndarray::{ArrayD, ArrayViewD};
    /// use partita_collections::{remote_fn, Array};
    /// use partita_runtime::encode_graph;
    ///
    /// remote_fn! {
    ///     fn square(b: ArrayViewD<'_, i64>) -> ArrayD<i64> { b.mapv(|v| v * v) }
    /// }
    ///
    /// let x = Array::<i64>::arange(6, 4)?;
    /// let y = x.map_blocks(square);
    /// assert!(encode_graph(y.graph(), &y.keys()).is_ok());
    /// assert_eq!(y.compute()?.into_raw_vec_and_offset().0, vec![0, 1, 4, 9, 16, 25]);
    ///
    /// let z = x.map_blocks(|b| b.mapv(|v| v * v));
    /// assert!(encode_graph(z.graph(), &z.keys()).is_err());
    /// assert_eq!(z.compute()?, y.compute()?);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn map_blocks<U, F>(&self, f: F) -> Array<U>
    where
        U: Element,
        F: Fn(ndarray::ArrayViewD<'_, T>) -> ArrayD<U> + Send + Sync + 'static,
    {
        let op = user_fn::array_fn_op::<T, U, F>(crate::item_fn::ItemUse::ArrayBlocks);
        let chunks = self.chunks.clone();
        self.blockwise1(chunks, "map-blocks", user_fn::blocks_fn(f), op)
    }

    /// A layer with one task per output block of `chunks`, each running `op` on the
    /// same-numbered block of `self`.
    pub(crate) fn op_blockwise1<U: Element, P: Op>(
        &self,
        chunks: Chunks,
        name: &str,
        op: &P,
    ) -> Array<U> {
        let name = unique(name);
        let mut graph = self.graph.clone();
        layer::blockwise(
            &mut graph,
            &name,
            op,
            self.keys().into_iter().map(|k| vec![k]),
        );
        Array::from_graph(graph, name, chunks)
    }

    /// A layer with one task per output block of `chunks`, each reading the same-numbered block
    /// of `self` with the closure `f` (a user's), and described by `op` when that closure is a
    /// registered function (else the layer cannot leave the process).
    pub(crate) fn blockwise1<U, F>(
        &self,
        chunks: Chunks,
        op: &str,
        f: F,
        data: Option<Operation>,
    ) -> Array<U>
    where
        U: Element,
        F: Fn(&TaskKey, Value) -> partita_runtime::Result<ArrayD<U>> + Send + Sync + 'static,
    {
        let name = unique(op);
        let f = Arc::new(f);
        let tasks = self
            .keys()
            .into_iter()
            .map(|k| {
                let out = TaskKey::new(name.clone(), k.index());
                Task::new(out, vec![k.clone()], kernel1(k, f.clone())).with_op_opt(data.clone())
            })
            .collect();
        let mut graph = self.graph.clone();
        graph.add_layer(name.clone(), tasks);
        Array::from_graph(graph, name, chunks)
    }

    /// Computes the whole array on the current runtime ([`Runtime::current`](partita_runtime::Runtime::current)).
    ///
    /// # Errors
    /// The first failed block's error.
    pub fn compute(&self) -> Result<ArrayD<T>> {
        let keys = self.keys();
        let parts = Runtime::current().compute(&self.graph, &keys)?;
        self.assemble(parts, &keys)
    }

    /// Starts computing the whole array on the current runtime
    /// ([`Runtime::current`](partita_runtime::Runtime::current), chosen now) and returns a
    /// future of it. The runtime's threads do the work, so awaiting it never blocks an async
    /// executor's threads; dropping the future cancels the compute.
    ///
    /// ```
    /// use ndarray::array;
    /// let rt = partita_runtime::Runtime::builder().threads(2).build()?;
    /// let x = partita_collections::Array::from_array(array![[1.0, 2.0], [3.0, 4.0]], &[1, 2])?;
    /// let sums = x.sum(partita_collections::axis(0))?;
    /// let sums = rt.install(|| sums.compute_async());
    /// assert_eq!(block_on(sums)?, array![4.0, 6.0].into_dyn());
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     struct W(std::thread::Thread);
    /// #     impl std::task::Wake for W { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
    /// #     let waker = std::task::Waker::from(std::sync::Arc::new(W(std::thread::current())));
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v } std::thread::park() }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compute_async(
        &self,
    ) -> impl std::future::Future<Output = Result<ArrayD<T>>> + Send + 'static {
        let keys = self.keys();
        let handle = Runtime::current().compute_async(&self.graph, &keys);
        let array = self.clone();
        async move {
            let parts = handle.await?;
            array.assemble(parts, &keys)
        }
    }

    /// Builds the whole array from its computed blocks.
    pub(crate) fn assemble(&self, parts: Vec<Value>, keys: &[TaskKey]) -> Result<ArrayD<T>> {
        let shape = self.shape();
        if self.chunks.nblocks() == 1 {
            let part = parts.into_iter().next().expect("one block");
            return Ok(block::take_block::<T>(part, &keys[0])?);
        }
        let mut out = ArrayD::<T>::default(IxDyn(&shape));
        let offsets = self.chunks.all_offsets();
        for ((b, part), key) in self.chunks.blocks().zip(parts).zip(keys) {
            let block = block_of::<T>(&part, key)?;
            let info = self::chunks::slice_at(&offsets, &b);
            out.slice_mut(info.as_slice()).assign(block);
        }
        Ok(out)
    }

    /// Computes a 0-d array (the result of reducing every axis) to its one value.
    ///
    /// ```
    /// use partita_collections::{Array, Axes};
    /// let x = Array::<i64>::arange(10, 3)?;
    /// assert_eq!(x.sum(Axes::All)?.compute_scalar()?, 45);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] when the array is not 0-d; else as [`compute`](Self::compute).
    pub fn compute_scalar(&self) -> Result<T> {
        if self.ndim() != 0 {
            return Err(Error::shape(format!(
                "compute_scalar needs a 0-d array, this one has shape {:?}",
                self.shape()
            )));
        }
        let a = self.compute()?;
        Ok(a.into_iter().next().expect("a 0-d array has one element"))
    }

    /// Computes the blocks on the current runtime ([`Runtime::current`](partita_runtime::Runtime::current)) and keeps them in partition actors; the
    /// returned array reads them from there.
    ///
    /// # Errors
    /// The first failed block's error.
    pub fn persist(&self) -> Result<Array<T>> {
        let refs = Runtime::current().persist(&self.graph, &self.keys())?;
        let mut graph = Graph::new();
        graph.add_layer(
            self.name.clone(),
            refs.into_iter().map(Task::stored).collect(),
        );
        Ok(Array::from_graph(
            graph,
            self.name.clone(),
            self.chunks.clone(),
        ))
    }

    /// The DOT text of the array's task graph.
    pub fn to_dot(&self) -> String {
        self.graph.to_dot()
    }
}

/// Computes several arrays in one pass over the shared graph, on the current runtime
/// ([`Runtime::current`]), so common inputs (an HDF5 read, say) are computed once. Returns the
/// arrays in order.
///
/// ```
/// use partita_collections::{compute_arrays, Array, Axes};
/// let x = Array::<f64>::arange(8, 3)?;
/// let y = x.map(|v| v * 2.0);
/// let [a, b] = compute_arrays([&y, &y.sum(Axes::All)?])?
///     .try_into()
///     .unwrap();
/// assert_eq!(b.into_iter().next(), Some(56.0));
/// assert_eq!(a.len(), 8);
/// # Ok::<(), partita_collections::Error>(())
/// ```
///
/// # Errors
/// The first failed block's error.
pub fn compute_arrays<'a, T: Element>(
    arrays: impl IntoIterator<Item = &'a Array<T>>,
) -> Result<Vec<ArrayD<T>>> {
    let arrays: Vec<&Array<T>> = arrays.into_iter().collect();
    let mut graph = Graph::new();
    let mut keys = Vec::new();
    for a in &arrays {
        graph.merge(&a.graph);
        keys.extend(a.keys());
    }
    let mut parts = Runtime::current().compute(&graph, &keys)?.into_iter();
    let mut at = 0;
    arrays
        .iter()
        .map(|a| {
            let n = a.nblocks();
            let mine: Vec<Value> = parts.by_ref().take(n).collect();
            let out = a.assemble(mine, &keys[at..at + n]);
            at += n;
            out
        })
        .collect()
}
