//! Element-wise operations: maps, NumPy broadcasting between arrays and scalars, arithmetic
//! operators, comparisons, math functions, `clip` and `select` (NumPy's `where`).

use std::ops::{Add, Div, Mul, Neg, Sub};
use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, IxDyn, Zip};
use partita_runtime::{value, Task, TaskKey, Value};

use super::block::{block_of, try_own};
use super::chunks::Chunks;
use super::dtype::{cast, Element, Float, Numeric, Real};
use super::Array;
use crate::error::{Error, Result};
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

/// A layer with one task per block of `out`, whose inputs are the blocks of `inputs` that the
/// output block broadcasts from. The inputs' chunks must already match `out` where they are not
/// broadcast ([`Array::align_to`]).
pub(crate) fn blockwise<U: Element>(
    inputs: &[Input<'_>],
    out: Chunks,
    op: &str,
    f: Arc<BlockFn<U>>,
) -> Array<U> {
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
            let shape = out.block_shape(&b);
            let f = f.clone();
            let keys = deps.clone();
            Task::new(
                TaskKey::new(name.clone(), out.flat(&b)),
                deps,
                Arc::new(move |vals: Vec<Value>| Ok(value(f(vals, &keys, &shape)?))),
            )
        })
        .collect();
    graph.add_layer(name.clone(), tasks);
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
    block
        .broadcast(IxDyn(shape))
        .ok_or_else(|| partita_runtime::Error::TaskFailed {
            key: key.clone(),
            message: format!(
                "block of shape {:?} cannot broadcast to {shape:?}",
                block.shape()
            ),
        })
}

impl<T: Element> Array<T> {
    /// Applies `f` to every element.
    ///
    /// ```
    /// let x = partita_collections::Array::<i64>::arange(4, 2)?;
    /// let y = x.map(|v| v as f64 / 2.0);
    /// assert_eq!(y.compute()?.into_raw_vec_and_offset().0, vec![0.0, 0.5, 1.0, 1.5]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn map<U: Element>(&self, f: impl Fn(T) -> U + Send + Sync + 'static) -> Array<U> {
        let chunks = self.chunks.clone();
        if T::DTYPE == U::DTYPE {
            // Same type: update the block in place when this task holds the only reference.
            return self.blockwise1(chunks, "map", move |key, v| match try_own::<T>(v) {
                Ok(mut own) => {
                    own.mapv_inplace(|x| cast::<U, T>(f(x)));
                    Ok(retype(own))
                }
                Err(v) => Ok(block_of::<T>(&v, key)?.mapv(&f)),
            });
        }
        self.blockwise1(chunks, "map", move |key, v| {
            Ok(block_of::<T>(&v, key)?.mapv(&f))
        })
    }

    /// Applies `f` to the elements of `self` and `other` pairwise, broadcasting by NumPy's rules.
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
        let same = T::DTYPE == U::DTYPE && out.ndim() == self.ndim();
        let kernel: Arc<BlockFn<U>> = Arc::new(move |mut vals, keys, shape| {
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
        });
        Ok(blockwise(&[a.input(), b.input()], out, "zip", kernel))
    }

    /// Applies `f` with the operand: pairwise with an array (broadcast), or with a scalar.
    fn with<U: Element>(
        &self,
        rhs: Operand<'_, T>,
        f: impl Fn(T, T) -> U + Send + Sync + 'static,
    ) -> Result<Array<U>> {
        match rhs {
            Operand::Array(b) => self.zip_with(b, f),
            Operand::Scalar(s) => Ok(self.map(move |x| f(x, s))),
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
        let kernel: Arc<BlockFn<T>> = Arc::new(|vals, keys, shape| {
            let c = broadcast_view(block_of::<bool>(&vals[0], &keys[0])?, shape, &keys[0])?;
            let a = broadcast_view(block_of::<T>(&vals[1], &keys[1])?, shape, &keys[1])?;
            let b = broadcast_view(block_of::<T>(&vals[2], &keys[2])?, shape, &keys[2])?;
            Ok(Zip::from(&c)
                .and(&a)
                .and(&b)
                .map_collect(|&c, &x, &y| if c { x } else { y }))
        });
        Ok(blockwise(
            &[c.input(), a.input(), b.input()],
            out,
            "where",
            kernel,
        ))
    }

    /// Element-wise `==`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn equal<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.with(rhs.into(), |x, y| x == y)
    }

    /// Element-wise `!=`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn not_equal<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.with(rhs.into(), |x, y| x != y)
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
        self.map(cast::<T, U>)
    }
}

impl<T: Real> Array<T> {
    /// Element-wise `<`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn less<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.with(rhs.into(), |x, y| x < y)
    }

    /// Element-wise `<=`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn less_equal<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.with(rhs.into(), |x, y| x <= y)
    }

    /// Element-wise `>`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn greater<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.with(rhs.into(), |x, y| x > y)
    }

    /// Element-wise `>=`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn greater_equal<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<bool>> {
        self.with(rhs.into(), |x, y| x >= y)
    }

    /// Each element limited to `[min, max]`, as NumPy's `clip`.
    pub fn clip(&self, min: T, max: T) -> Array<T> {
        self.map(move |x| x.max2(min).min2(max))
    }

    /// The element-wise minimum (NaN wins, as in NumPy's `minimum`).
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn minimum<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.with(rhs.into(), Real::min2)
    }

    /// The element-wise maximum (NaN wins, as in NumPy's `maximum`).
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn maximum<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.with(rhs.into(), Real::max2)
    }
}

impl<T: Numeric> Array<T> {
    /// Element-wise `+`, broadcasting. The operators (`&a + &b`, `&a + 2.0`) do the same and
    /// panic where this returns an error, as ndarray's do.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn try_add<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.with(rhs.into(), Numeric::add)
    }

    /// Element-wise `-`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn try_sub<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.with(rhs.into(), Numeric::sub)
    }

    /// Element-wise `*`, broadcasting.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn try_mul<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.with(rhs.into(), Numeric::mul)
    }

    /// Element-wise `/`, broadcasting (integer division truncates; by zero gives 0).
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn try_div<'a>(&self, rhs: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.with(rhs.into(), Numeric::div)
    }

    /// The absolute value of each element.
    pub fn abs(&self) -> Array<T> {
        self.map(Numeric::abs)
    }
}

impl<T: Float> Array<T> {
    /// Square root of each element.
    pub fn sqrt(&self) -> Array<T> {
        self.map(Float::sqrt)
    }

    /// e to the power of each element.
    pub fn exp(&self) -> Array<T> {
        self.map(Float::exp)
    }

    /// Natural logarithm of each element.
    pub fn log(&self) -> Array<T> {
        self.map(Float::ln)
    }

    /// Sine of each element.
    pub fn sin(&self) -> Array<T> {
        self.map(Float::sin)
    }

    /// Cosine of each element.
    pub fn cos(&self) -> Array<T> {
        self.map(Float::cos)
    }

    /// Each element to the power of `e` (an array, broadcast, or a scalar).
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes cannot be broadcast together.
    pub fn pow<'a>(&self, e: impl Into<Operand<'a, T>>) -> Result<Array<T>> {
        self.with(e.into(), Float::powf)
    }
}

macro_rules! operator {
    ($trait:ident, $method:ident, $try:ident) => {
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
                self.map(move |x| Numeric::$method(x, rhs))
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

operator!(Add, add, try_add);
operator!(Sub, sub, try_sub);
operator!(Mul, mul, try_mul);
operator!(Div, div, try_div);

impl<T: Numeric> Neg for &Array<T> {
    type Output = Array<T>;
    fn neg(self) -> Array<T> {
        self.map(|x| Numeric::sub(T::zero(), x))
    }
}
