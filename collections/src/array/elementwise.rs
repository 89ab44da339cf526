//! Element-wise operations: maps, NumPy broadcasting between arrays and scalars, arithmetic
//! operators, comparisons, math functions, `clip` and `select` (NumPy's `where`).

use std::ops::{Add, Div, Mul, Neg, Sub};
use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, IxDyn, Zip};
use partita_runtime::{value, Kernel, Task, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::block::{block_of, kernel1, try_own};
use super::chunks::Chunks;
use super::dispatch::{any_dtype, arity, float_dtype, numeric_dtype, real_dtype};
use super::dtype::{cast, DType, Element, Float, Numeric, Real, Scalar};
use super::user_fn::array_fn_op;
use super::Array;
use crate::error::{Error, Result};
use crate::item_fn::ItemUse;
use crate::layer::{self, register_op, Op};
use crate::names::unique;

/// The right-hand side of an element-wise operation: another array (broadcast against this one)
/// or a scalar.
#[derive(Debug)]
pub enum Operand<'a, T: Element> {
    /// An array, broadcast by NumPy's rules.
    Array(&'a Array<T>),
    /// One value for every element.
    Scalar(T),
}

impl<'a, T: Element> From<&'a Array<T>> for Operand<'a, T> {
    fn from(a: &'a Array<T>) -> Self {
        Operand::Array(a)
    }
}

impl<T: Element> From<T> for Operand<'_, T> {
    fn from(s: T) -> Self {
        Operand::Scalar(s)
    }
}

/// The broadcast shape of `shapes`, by NumPy's rules.
pub(crate) fn broadcast_shape(shapes: &[Vec<usize>]) -> Result<Vec<usize>> {
    let ndim = shapes.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = vec![1; ndim];
    for (axis, o) in out.iter_mut().enumerate() {
        let mut dim: Option<usize> = None;
        for s in shapes {
            let Some(i) = (axis + s.len()).checked_sub(ndim) else {
                continue;
            };
            match (dim, s[i]) {
                (_, 1) => {}
                (None, d) => dim = Some(d),
                (Some(a), d) if a == d => {}
                _ => {
                    let list: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
                    return Err(Error::shape(format!(
                        "operands could not be broadcast together with shapes {}",
                        list.join(" ")
                    )));
                }
            }
        }
        *o = dim.unwrap_or(1);
    }
    Ok(out)
}

/// The output chunks of broadcasting `operands`: along each axis, the chunks of the first
/// operand that is not broadcast there.
fn broadcast_chunks(operands: &[&Chunks]) -> Result<Chunks> {
    let shapes: Vec<Vec<usize>> = operands.iter().map(|c| c.shape()).collect();
    let shape = broadcast_shape(&shapes)?;
    let ndim = shape.len();
    let sizes = (0..ndim)
        .map(|axis| {
            operands
                .iter()
                .zip(&shapes)
                .find_map(|(c, s)| {
                    let i = (axis + s.len()).checked_sub(ndim)?;
                    (s[i] == shape[axis]).then(|| c.axis(i).to_vec())
                })
                .unwrap_or_else(|| vec![shape[axis]])
        })
        .collect();
    Ok(Chunks::from_sizes(sizes))
}

impl<T: Element> Array<T> {
    /// This array with its chunks matching `out` on every axis it is not broadcast along.
    pub(crate) fn align_to(&self, out: &Chunks) -> Result<Array<T>> {
        let ndim = out.ndim();
        let shape = self.shape();
        let offset = ndim - shape.len();
        let mut target = self.chunks.sizes().to_vec();
        let mut differs = false;
        for (i, t) in target.iter_mut().enumerate() {
            if shape[i] == out.shape()[i + offset] && t.as_slice() != out.axis(i + offset) {
                *t = out.axis(i + offset).to_vec();
                differs = true;
            }
        }
        if differs {
            self.rechunk_to(Chunks::from_sizes(target))
        } else {
            Ok(self.clone())
        }
    }
}

/// One input of a blockwise layer, its element type erased.
pub(crate) struct Input<'a> {
    pub(crate) graph: &'a partita_runtime::Graph,
    pub(crate) name: &'a Arc<str>,
    pub(crate) chunks: &'a Chunks,
}

impl<T: Element> Array<T> {
    pub(crate) fn input(&self) -> Input<'_> {
        Input {
            graph: &self.graph,
            name: &self.name,
            chunks: &self.chunks,
        }
    }
}

/// The kernel of a broadcasting blockwise layer: the input blocks, their keys, and the output
/// block's shape.
type BlockFn<U> =
    dyn Fn(Vec<Value>, &[TaskKey], &[usize]) -> partita_runtime::Result<ArrayD<U>> + Send + Sync;

/// One task of a broadcasting layer before it gets its work: its key, its inputs, and the shape
/// of its output block.
type Planned = (TaskKey, Vec<TaskKey>, Vec<usize>);

/// A broadcasting layer's tasks before they get their work: the merged graph, the layer's name,
/// and for each block of `out` its key, its inputs (the blocks of `inputs` it broadcasts from)
/// and its shape. The inputs' chunks must already match `out` where they are not broadcast
/// ([`Array::align_to`]).
fn broadcast_plan(
    inputs: &[Input<'_>],
    out: &Chunks,
    op: &str,
) -> (partita_runtime::Graph, Arc<str>, Vec<Planned>) {
    let name = unique(op);
    let ndim = out.ndim();
    let mut graph = inputs[0].graph.clone();
    for i in &inputs[1..] {
        graph.merge(i.graph);
    }
    let tasks = out
        .blocks()
        .map(|b| {
            let deps: Vec<TaskKey> = inputs
                .iter()
                .map(|i| {
                    let offset = ndim - i.chunks.ndim();
                    let pos: Vec<usize> = (0..i.chunks.ndim())
                        .map(|a| {
                            if i.chunks.axis(a).len() == 1 {
                                0
                            } else {
                                b[a + offset]
                            }
                        })
                        .collect();
                    TaskKey::new(i.name.clone(), i.chunks.flat(&pos))
                })
                .collect();
            (
                TaskKey::new(name.clone(), out.flat(&b)),
                deps,
                out.block_shape(&b),
            )
        })
        .collect();
    (graph, name, tasks)
}

/// The kernel of one broadcasting task: `f` over its input blocks, making a block of `shape`.
fn broadcast_kernel<U: Element>(
    f: Arc<BlockFn<U>>,
    keys: Vec<TaskKey>,
    shape: Vec<usize>,
) -> Kernel {
    Arc::new(move |vals: Vec<Value>| Ok(value(f(vals, &keys, &shape)?)))
}

/// A broadcasting layer over `inputs` whose tasks run the plain closure `f` (a user's, which
/// cannot leave the process).
fn blockwise_plain<U: Element>(
    inputs: &[Input<'_>],
    out: Chunks,
    op: &str,
    f: Arc<BlockFn<U>>,
) -> Array<U> {
    let (mut graph, name, plan) = broadcast_plan(inputs, &out, op);
    let tasks = plan
        .into_iter()
        .map(|(key, deps, shape)| {
            let kernel = broadcast_kernel(f.clone(), deps.clone(), shape);
            Task::new(key, deps, kernel)
        })
        .collect();
    graph.add_layer(name.clone(), tasks);
    Array::from_graph(graph, name, out)
}

/// A broadcasting layer over `inputs` whose task for an output block of shape `s` runs
/// `op(s)`.
fn blockwise<U: Element, P: Op>(
    inputs: &[Input<'_>],
    out: Chunks,
    name: &str,
    op: impl Fn(Vec<usize>) -> P,
) -> Array<U> {
    let (mut graph, name, plan) = broadcast_plan(inputs, &out, name);
    layer::layer(
        &mut graph,
        &name,
        plan.into_iter()
            .map(|(key, deps, shape)| (key, deps, op(shape))),
    );
    Array::from_graph(graph, name, out)
}

/// `x` as `U`, which is the same type as `T` (checked by the caller through their dtypes).
fn retype<T: Element, U: Element>(x: ArrayD<T>) -> ArrayD<U> {
    let boxed: Box<dyn std::any::Any> = Box::new(x);
    *boxed
        .downcast::<ArrayD<U>>()
        .expect("retype between equal dtypes")
}

/// A view of `block` broadcast to `shape`.
pub(crate) fn broadcast_view<'a, T>(
    block: &'a ArrayD<T>,
    shape: &[usize],
    key: &TaskKey,
) -> partita_runtime::Result<ArrayViewD<'a, T>> {
    block.broadcast(IxDyn(shape)).ok_or_else(|| {
        partita_runtime::Error::failed(
            key.clone(),
            format!(
                "block of shape {:?} cannot broadcast to {shape:?}",
                block.shape()
            ),
        )
    })
}

/// The work of one `map` task on a block of `T`: `f` on every element, in place when `U` is `T`
/// and this task holds the only reference to the block.
pub(crate) fn map_block<T: Element, U: Element, F: Fn(T) -> U + Send + Sync + 'static>(
    f: F,
) -> impl Fn(&TaskKey, Value) -> partita_runtime::Result<ArrayD<U>> + Send + Sync + 'static {
    let same = T::DTYPE == U::DTYPE;
    move |key, v| {
        if same {
            // Same type: update the block in place when this task holds the only reference.
            return match try_own::<T>(v) {
                Ok(mut own) => {
                    own.mapv_inplace(|x| cast::<U, T>(f(x)));
                    Ok(retype(own))
                }
                Err(v) => Ok(block_of::<T>(&v, key)?.mapv(&f)),
            };
        }
        Ok(block_of::<T>(&v, key)?.mapv(&f))
    }
}

/// The kernel of a `map` task reading the block `input`.
pub(crate) fn map_kernel<T: Element, U: Element>(
    input: TaskKey,
    f: impl Fn(T) -> U + Send + Sync + 'static,
) -> Kernel {
    kernel1(input, Arc::new(map_block::<T, U, _>(f)))
}

/// The work of one broadcasting task combining blocks of `T` and `B` pairwise with `f`. With
/// `in_place` (when `U` is `T` and `a` is not broadcast), `a`'s block is updated in place when
/// the task holds the only reference to it.
fn zip_block<T: Element, B: Element, U: Element>(
    in_place: bool,
    f: impl Fn(T, B) -> U + Send + Sync + 'static,
) -> Arc<BlockFn<U>> {
    let same = in_place && T::DTYPE == U::DTYPE;
    Arc::new(move |mut vals, keys, shape| {
        let vb = vals.pop().expect("two inputs");
        let mut va = vals.pop().expect("two inputs");
        let bb = block_of::<B>(&vb, &keys[1])?;
        if same {
            // Update `a`'s block in place when this task holds the only reference to it.
            match try_own::<T>(va) {
                Ok(mut own) if own.shape() == shape => {
                    let bv = broadcast_view(bb, shape, &keys[1])?;
                    Zip::from(&mut own)
                        .and(&bv)
                        .for_each(|x, &y| *x = cast::<U, T>(f(*x, y)));
                    return Ok(retype(own));
                }
                Ok(own) => va = value(own),
                Err(shared) => va = shared,
            }
        }
        let ab = block_of::<T>(&va, &keys[0])?;
        let av = broadcast_view(ab, shape, &keys[0])?;
        let bv = broadcast_view(bb, shape, &keys[1])?;
        Ok(Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y)))
    })
}

/// A built-in function of two elements, as data: arithmetic, NumPy's `minimum`/`maximum`,
/// powers, and comparisons (which give `bool`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum BinaryFn {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Minimum,
    Maximum,
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

/// Runs `$body` with `$T` the element type of `$dt` and `$f` the monomorphic function of the
/// [`BinaryFn`] `$func` on it (`fn(T, T) -> T` or `-> bool`).
macro_rules! with_binary {
    ($op:expr, $key:expr, $func:expr, $dt:expr, $T:ident, $f:ident => $body:expr) => {
        match $func {
            BinaryFn::Add => numeric_dtype!($op, $key, $dt, $T => { let $f = <$T as Numeric>::add; $body }),
            BinaryFn::Sub => numeric_dtype!($op, $key, $dt, $T => { let $f = <$T as Numeric>::sub; $body }),
            BinaryFn::Mul => numeric_dtype!($op, $key, $dt, $T => { let $f = <$T as Numeric>::mul; $body }),
            BinaryFn::Div => numeric_dtype!($op, $key, $dt, $T => { let $f = <$T as Numeric>::div; $body }),
            BinaryFn::Pow => float_dtype!($op, $key, $dt, $T => { let $f = <$T as Float>::powf; $body }),
            BinaryFn::Minimum => real_dtype!($op, $key, $dt, $T => { let $f = <$T as Real>::min2; $body }),
            BinaryFn::Maximum => real_dtype!($op, $key, $dt, $T => { let $f = <$T as Real>::max2; $body }),
            BinaryFn::Equal => any_dtype!($op, $key, $dt, $T => { let $f = |x: $T, y: $T| x == y; $body }),
            BinaryFn::NotEqual => any_dtype!($op, $key, $dt, $T => { let $f = |x: $T, y: $T| x != y; $body }),
            BinaryFn::Less => real_dtype!($op, $key, $dt, $T => { let $f = |x: $T, y: $T| x < y; $body }),
            BinaryFn::LessEqual => real_dtype!($op, $key, $dt, $T => { let $f = |x: $T, y: $T| x <= y; $body }),
            BinaryFn::Greater => real_dtype!($op, $key, $dt, $T => { let $f = |x: $T, y: $T| x > y; $body }),
            BinaryFn::GreaterEqual => real_dtype!($op, $key, $dt, $T => { let $f = |x: $T, y: $T| x >= y; $body }),
        }
    };
}

/// A built-in function of one element, as data.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum UnaryFn {
    Abs,
    Neg,
    Sqrt,
    Exp,
    Ln,
    Sin,
    Cos,
    /// Converted to this dtype as Rust's `as` converts.
    Cast(DType),
    /// Limited to `[min, max]`.
    Clip {
        min: Scalar,
        max: Scalar,
    },
    /// `x func rhs` with one value for every element.
    WithScalar {
        func: BinaryFn,
        rhs: Scalar,
    },
}

/// `array.map`: a built-in function of each element of a block of `dtype`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct MapOp {
    dtype: DType,
    func: UnaryFn,
}

impl Op for MapOp {
    const NAME: &'static str = "array.map";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        const N: &str = MapOp::NAME;
        arity(N, cx, 1)?;
        let (input, key, dt) = (cx.deps[0].clone(), cx.key, self.dtype);
        match self.func {
            UnaryFn::Abs => {
                numeric_dtype!(N, key, dt, T => Ok(map_kernel::<T, T>(input, Numeric::abs)))
            }
            UnaryFn::Neg => numeric_dtype!(N, key, dt, T => {
                Ok(map_kernel::<T, T>(input, |x| Numeric::sub(T::zero(), x)))
            }),
            UnaryFn::Sqrt => {
                float_dtype!(N, key, dt, T => Ok(map_kernel::<T, T>(input, Float::sqrt)))
            }
            UnaryFn::Exp => {
                float_dtype!(N, key, dt, T => Ok(map_kernel::<T, T>(input, Float::exp)))
            }
            UnaryFn::Ln => float_dtype!(N, key, dt, T => Ok(map_kernel::<T, T>(input, Float::ln))),
            UnaryFn::Sin => {
                float_dtype!(N, key, dt, T => Ok(map_kernel::<T, T>(input, Float::sin)))
            }
            UnaryFn::Cos => {
                float_dtype!(N, key, dt, T => Ok(map_kernel::<T, T>(input, Float::cos)))
            }
            UnaryFn::Cast(to) => any_dtype!(N, key, dt, T => any_dtype!(N, key, to, U => {
                Ok(map_kernel::<T, U>(input, cast::<T, U>))
            })),
            UnaryFn::Clip { min, max } => real_dtype!(N, key, dt, T => {
                let (min, max) = (T::from_scalar(min), T::from_scalar(max));
                Ok(map_kernel::<T, T>(input, move |x| x.max2(min).min2(max)))
            }),
            UnaryFn::WithScalar { func, rhs } => with_binary!(N, key, func, dt, T, f => {
                let s = T::from_scalar(rhs);
                Ok(map_kernel(input, move |x: T| f(x, s)))
            }),
        }
    }
}

register_op!(MapOp);

/// `array.zip`: a built-in function of two blocks of `dtype`, broadcast to `shape`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ZipOp {
    dtype: DType,
    func: BinaryFn,
    /// The first input is not broadcast, so its block may be updated in place.
    in_place: bool,
    /// The output block's shape.
    shape: Vec<usize>,
}

impl Op for ZipOp {
    const NAME: &'static str = "array.zip";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        const N: &str = ZipOp::NAME;
        arity(N, cx, 2)?;
        let (key, dt) = (cx.key, self.dtype);
        let (keys, shape) = (cx.deps.to_vec(), self.shape.clone());
        with_binary!(N, key, self.func, dt, T, f => {
            Ok(broadcast_kernel(zip_block::<T, T, _>(self.in_place, f), keys, shape))
        })
    }
}

register_op!(ZipOp);

/// `array.where`: NumPy's `where` over a `bool` block and two blocks of `dtype`, broadcast to
/// `shape`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WhereOp {
    dtype: DType,
    shape: Vec<usize>,
}

fn where_block<T: Element>() -> Arc<BlockFn<T>> {
    Arc::new(|vals, keys, shape| {
        let c = broadcast_view(block_of::<bool>(&vals[0], &keys[0])?, shape, &keys[0])?;
        let a = broadcast_view(block_of::<T>(&vals[1], &keys[1])?, shape, &keys[1])?;
        let b = broadcast_view(block_of::<T>(&vals[2], &keys[2])?, shape, &keys[2])?;
        Ok(Zip::from(&c)
            .and(&a)
            .and(&b)
            .map_collect(|&c, &x, &y| if c { x } else { y }))
    })
}

impl Op for WhereOp {
    const NAME: &'static str = "array.where";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        arity(Self::NAME, cx, 3)?;
        let (keys, shape) = (cx.deps.to_vec(), self.shape.clone());
        any_dtype!(Self::NAME, cx.key, self.dtype, T => {
            Ok(broadcast_kernel(where_block::<T>(), keys, shape))
        })
    }
}

register_op!(WhereOp);

impl<T: Element> Array<T> {
    /// Applies `f` to every element.
    ///
    /// When `f` is a function written with [`remote_fn!`](crate::remote_fn) (`fn(T) -> U`), the
    /// new layer can leave the process. A plain closure runs only in this process: shipping its
    /// graph to another one fails, naming the layer (`map-<n>`). The built-in functions
    /// (`sqrt`, `+ 2.0`, `astype`, ...) have no such limit.
    ///
    /// ```
    /// use partita_collections::{remote_fn, Array};
    /// use partita_runtime::encode_graph;
    ///
    /// remote_fn! {
    ///     fn half(x: f64) -> f64 { x / 2.0 }
    /// }
    ///
    /// let x = Array::<i64>::arange(4, 2)?;
    /// let y = x.map(|v| v as f64 / 2.0);
    /// assert_eq!(y.compute()?.into_raw_vec_and_offset().0, vec![0.0, 0.5, 1.0, 1.5]);
    /// assert!(encode_graph(y.graph(), &y.keys()).is_err());
    ///
    /// let z = x.astype::<f64>()?.map(half);
    /// assert!(encode_graph(z.graph(), &z.keys()).is_ok());
    /// assert_eq!(z.compute()?, y.compute()?);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn map<U: Element, F>(&self, f: F) -> Array<U>
    where
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        let op = array_fn_op::<T, U, F>(ItemUse::ArrayMap);
        let chunks = self.chunks.clone();
        self.blockwise1(chunks, "map", map_block::<T, U, _>(f), op)
    }

    /// The built-in function `func` of every element, as a layer that can leave the process.
    pub(crate) fn map_op<U: Element>(&self, func: UnaryFn) -> Array<U> {
        let op = MapOp {
            dtype: T::DTYPE,
            func,
        };
        self.op_blockwise1(self.chunks.clone(), "map", &op)
    }

    /// Applies `f` to the elements of `self` and `other` pairwise, broadcasting by NumPy's rules.
    ///
    /// `f` is a plain closure, so the new layer runs only in this process (see
    /// [`map`](Self::map)).
    ///
    /// ```
    /// use ndarray::array;
    /// use partita_collections::Array;
    /// let a = Array::from_array(array![[1, 2], [3, 4]], &[1, 2])?;
    /// let b = Array::from_array(array![10, 20], &[1])?;
    /// let c = a.zip_with(&b, |x, y| x * y)?;
    /// assert_eq!(c.compute()?, array![[10, 40], [30, 80]].into_dyn());
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn zip_with<B: Element, U: Element>(
        &self,
        other: &Array<B>,
        f: impl Fn(T, B) -> U + Send + Sync + 'static,
    ) -> Result<Array<U>> {
        let out = broadcast_chunks(&[&self.chunks, &other.chunks])?;
        let a = self.align_to(&out)?;
        let b = other.align_to(&out)?;
        let kernel = zip_block::<T, B, U>(out.ndim() == self.ndim(), f);
        Ok(blockwise_plain(&[a.input(), b.input()], out, "zip", kernel))
    }

    /// Applies the built-in `func` with the operand: pairwise with an array (broadcast), or with
    /// a scalar. `U` is `func`'s output type: `T`, or `bool` for the comparisons.
    fn with<U: Element>(&self, rhs: Operand<'_, T>, func: BinaryFn) -> Result<Array<U>> {
        match rhs {
            Operand::Array(other) => {
                let out = broadcast_chunks(&[&self.chunks, &other.chunks])?;
                let a = self.align_to(&out)?;
                let b = other.align_to(&out)?;
                let in_place = out.ndim() == self.ndim();
                Ok(blockwise(&[a.input(), b.input()], out, "zip", |shape| {
                    ZipOp {
                        dtype: T::DTYPE,
                        func,
                        in_place,
                        shape,
                    }
                }))
            }
            Operand::Scalar(s) => Ok(self.map_op(UnaryFn::WithScalar {
                func,
                rhs: s.to_scalar(),
            })),
        }
    }

    /// Picks from `a` where `cond` holds and from `b` elsewhere, broadcasting all three: NumPy's
    /// `where`.
    ///
    /// ```
    /// use ndarray::array;
    /// use partita_collections::Array;
    /// let x = Array::from_array(array![-2.0, 3.0, -1.0], &[2])?;
    /// let y = Array::select(&x.greater(0.0)?, &x, &x.map(|v| -v))?;
    /// assert_eq!(y.compute()?, array![2.0, 3.0, 1.0].into_dyn());
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn select(cond: &Array<bool>, a: &Array<T>, b: &Array<T>) -> Result<Array<T>> {
        let out = broadcast_chunks(&[&cond.chunks, &a.chunks, &b.chunks])?;
        let (c, a, b) = (cond.align_to(&out)?, a.align_to(&out)?, b.align_to(&out)?);
        Ok(blockwise(
            &[c.input(), a.input(), b.input()],
            out,
            "where",
            |shape| WhereOp {
                dtype: T::DTYPE,
                shape,
            },
        ))
    }

    /// Element-wise `==`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn equal<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.with(rhs.into(), BinaryFn::Equal)
    }

    /// Element-wise `!=`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn not_equal<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.with(rhs.into(), BinaryFn::NotEqual)
    }

    /// The elements converted to `U` when every value of `T` fits `U` exactly, by NumPy's safe
    /// casting table ([`DType::can_cast`](super::DType::can_cast)).
    ///
    /// ```
    /// let x = partita_collections::Array::<i16>::arange(3, 2)?;
    /// assert_eq!(x.astype::<f32>()?.compute()?.into_raw_vec_and_offset().0, vec![0.0, 1.0, 2.0]);
    /// assert!(x.astype::<u8>().is_err());
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::DType`] naming both types when the cast can lose values; use
    /// [`astype_unchecked`](Self::astype_unchecked) to convert anyway.
    pub fn astype<U: Element>(&self) -> Result<Array<U>> {
        if !T::DTYPE.can_cast(U::DTYPE) {
            return Err(Error::dtype(format!(
                "cannot cast {} to {} safely: values may not fit; use astype_unchecked to convert as Rust's `as` does",
                T::DTYPE,
                U::DTYPE
            )));
        }
        Ok(self.astype_unchecked())
    }

    /// The elements converted to `U` as Rust's `as` does: integers wrap, floats saturate into
    /// integers, complex drops the imaginary part (NumPy's `casting="unsafe"`).
    pub fn astype_unchecked<U: Element>(&self) -> Array<U> {
        self.map_op(UnaryFn::Cast(U::DTYPE))
    }
}

impl<T: Real> Array<T> {
    /// The absolute value of each element (integers wrap at their minimum, as NumPy's do). A
    /// complex array has its own `abs`, the modulus, which is real.
    pub fn abs(&self) -> Array<T> {
        self.map_op(UnaryFn::Abs)
    }

    /// Element-wise `<`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn less<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.with(rhs.into(), BinaryFn::Less)
    }

    /// Element-wise `<=`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn less_equal<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.with(rhs.into(), BinaryFn::LessEqual)
    }

    /// Element-wise `>`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn greater<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.with(rhs.into(), BinaryFn::Greater)
    }

    /// Element-wise `>=`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn greater_equal<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.with(rhs.into(), BinaryFn::GreaterEqual)
    }

    /// Each element limited to `[min, max]`, as NumPy's `clip`.
    pub fn clip(&self, min: T, max: T) -> Array<T> {
        self.map_op(UnaryFn::Clip {
            min: min.to_scalar(),
            max: max.to_scalar(),
        })
    }

    /// The element-wise minimum (NaN wins, as in NumPy's `minimum`).
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn minimum<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.with(rhs.into(), BinaryFn::Minimum)
    }

    /// The element-wise maximum (NaN wins, as in NumPy's `maximum`).
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn maximum<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.with(rhs.into(), BinaryFn::Maximum)
    }
}

impl<T: Numeric> Array<T> {
    /// Element-wise `+`, broadcasting. The operators (`&a + &b`, `&a + 2.0`) do the same and
    /// panic where this returns an error, as ndarray's do.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn try_add<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.with(rhs.into(), BinaryFn::Add)
    }

    /// Element-wise `-`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn try_sub<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.with(rhs.into(), BinaryFn::Sub)
    }

    /// Element-wise `*`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn try_mul<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.with(rhs.into(), BinaryFn::Mul)
    }

    /// Element-wise `/`, broadcasting (integer division truncates; by zero gives 0).
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn try_div<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.with(rhs.into(), BinaryFn::Div)
    }
}

impl<T: Float> Array<T> {
    /// Square root of each element.
    pub fn sqrt(&self) -> Array<T> {
        self.map_op(UnaryFn::Sqrt)
    }

    /// e to the power of each element.
    pub fn exp(&self) -> Array<T> {
        self.map_op(UnaryFn::Exp)
    }

    /// Natural logarithm of each element.
    pub fn log(&self) -> Array<T> {
        self.map_op(UnaryFn::Ln)
    }

    /// Sine of each element.
    pub fn sin(&self) -> Array<T> {
        self.map_op(UnaryFn::Sin)
    }

    /// Cosine of each element.
    pub fn cos(&self) -> Array<T> {
        self.map_op(UnaryFn::Cos)
    }

    /// Each element to the power of `e` (an array, broadcast, or a scalar).
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn pow<'a>(&self, e: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.with(e.into(), BinaryFn::Pow)
    }
}

macro_rules! operator {
    ($trait:ident, $method:ident, $try:ident, $func:ident) => {
        impl<T: Numeric> $trait<&Array<T>> for &Array<T> {
            type Output = Array<T>;
            /// # Panics
            /// When the shapes cannot be broadcast together.
            fn $method(self, rhs: &Array<T>) -> Array<T> {
                self.$try(rhs).unwrap_or_else(|e| panic!("{e}"))
            }
        }
        impl<T: Numeric> $trait<Array<T>> for Array<T> {
            type Output = Array<T>;
            /// # Panics
            /// When the shapes cannot be broadcast together.
            fn $method(self, rhs: Array<T>) -> Array<T> {
                (&self).$method(&rhs)
            }
        }
        impl<T: Numeric> $trait<T> for &Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: T) -> Array<T> {
                self.map_op(UnaryFn::WithScalar {
                    func: BinaryFn::$func,
                    rhs: rhs.to_scalar(),
                })
            }
        }
        impl<T: Numeric> $trait<T> for Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: T) -> Array<T> {
                (&self).$method(rhs)
            }
        }
    };
}

operator!(Add, add, try_add, Add);
operator!(Sub, sub, try_sub, Sub);
operator!(Mul, mul, try_mul, Mul);
operator!(Div, div, try_div, Div);

impl<T: Numeric> Neg for &Array<T> {
    type Output = Array<T>;
    fn neg(self) -> Array<T> {
        self.map_op(UnaryFn::Neg)
    }
}
