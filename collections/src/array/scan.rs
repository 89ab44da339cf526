//! Cumulative sums and products along an axis, as NumPy's `cumsum` and `cumprod`, in NumPy's
//! type for them ([`Element::Sum`]).
//!
//! Three layers, as `dask.array` builds them: each block is scanned on its own; a chain along
//! the axis carries, for each block, the total of the blocks before it (the last slab of its
//! predecessor's scan, combined with its predecessor's carry); and each block but the first
//! combines its scan with its carry, broadcast along the axis. The chain is the only sequential
//! part, and each of its steps touches one slab.

use ndarray::{ArrayD, Axis};
use partita_runtime::{value, Kernel, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::block::{block_of, take_block};
use super::dispatch::any_dtype;
use super::dtype::{DType, Element, Numeric};
use super::Array;
use crate::error::Result;
use crate::layer::{self, register_op, Op};
use crate::names::unique;

/// One layer of a scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ScanStep {
    /// A block scanned along the axis: its one input is the block.
    Local,
    /// The total of every block before this one along the axis: its inputs are the
    /// predecessor's scan and, but for the second block, the predecessor's carry.
    Carry,
    /// The scan of the whole array in this block: its inputs are the block's scan and, but for
    /// the first block, its carry.
    Apply,
}

/// `array.scan`: one step of a cumulative sum (or product, `prod`) along `axis` of an array of
/// `dtype`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ScanOp {
    dtype: DType,
    prod: bool,
    axis: usize,
    step: ScanStep,
}

/// `a + b`, or `a * b` for a product.
#[inline]
fn combine<S: Numeric>(prod: bool, a: S, b: S) -> S {
    if prod {
        a.mul(b)
    } else {
        a.add(b)
    }
}

/// The block of input `i` of a task, with a clear error when it is not there.
fn input<'a, S: Element>(
    vals: &'a [Value],
    deps: &[TaskKey],
    i: usize,
) -> partita_runtime::Result<&'a ArrayD<S>> {
    block_of::<S>(&vals[i], &deps[i])
}

fn kernel<T: Element>(op: ScanOp, deps: Vec<TaskKey>) -> Kernel {
    let ScanOp {
        prod, axis, step, ..
    } = op;
    let ax = Axis(axis);
    std::sync::Arc::new(move |vals: Vec<Value>| match step {
        ScanStep::Local => {
            let block = input::<T>(&vals, &deps, 0)?;
            let mut out = block.mapv(Element::to_sum);
            out.accumulate_axis_inplace(ax, |&prev, cur| *cur = combine(prod, prev, *cur));
            Ok(value(out))
        }
        ScanStep::Carry => {
            let scan = input::<T::Sum>(&vals, &deps, 0)?;
            let n = scan.len_of(ax);
            let mut carry = if n == 0 {
                let mut shape = scan.shape().to_vec();
                shape[axis] = 1;
                let identity = if prod {
                    <T::Sum as Numeric>::one()
                } else {
                    <T::Sum as Numeric>::zero()
                };
                ArrayD::from_elem(shape, identity)
            } else {
                scan.index_axis(ax, n - 1).insert_axis(ax).to_owned()
            };
            if vals.len() > 1 {
                let before = input::<T::Sum>(&vals, &deps, 1)?;
                carry.zip_mut_with(before, |c, &b| *c = combine(prod, b, *c));
            }
            Ok(value(carry))
        }
        ScanStep::Apply => {
            let mut vals = vals;
            if vals.len() == 1 {
                return Ok(vals.pop().expect("one input"));
            }
            let carry = input::<T::Sum>(&vals, &deps, 1)?.clone();
            let mut out = take_block::<T::Sum>(vals.swap_remove(0), &deps[0])?;
            out.zip_mut_with(&carry, |x, &c| *x = combine(prod, c, *x));
            Ok(value(out))
        }
    })
}

impl Op for ScanOp {
    const NAME: &'static str = "array.scan";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let want = match self.step {
            ScanStep::Local => 1..=1,
            ScanStep::Carry | ScanStep::Apply => 1..=2,
        };
        if !want.contains(&cx.deps.len()) {
            return Err(partita_runtime::Error::failed(
                cx.key.clone(),
                format!(
                    "{} {:?} takes {want:?} inputs, the task has {}",
                    Self::NAME,
                    self.step,
                    cx.deps.len()
                ),
            ));
        }
        let deps = cx.deps.to_vec();
        let op = self.clone();
        any_dtype!(Self::NAME, cx.key, self.dtype, T => Ok(kernel::<T>(op, deps)))
    }
}

register_op!(ScanOp);

impl<T: Element> Array<T> {
    /// The scan of `self` along `axis`, a sum or (`prod`) a product.
    fn scan(&self, axis: isize, prod: bool, op: &str) -> Result<Array<T::Sum>> {
        let (axes, _) = super::axis(axis).resolve(self.ndim())?;
        let a = axes[0];
        let dtype = T::DTYPE;
        let step = |step| ScanOp {
            dtype,
            prod,
            axis: a,
            step,
        };
        let chunks = &self.chunks;
        let mut graph = self.graph.clone();
        let local = unique(&format!("{op}-local"));
        let tasks = chunks.blocks().map(|b| {
            let key = TaskKey::new(local.clone(), chunks.flat(&b));
            (key, vec![self.key(&b)], step(ScanStep::Local))
        });
        layer::layer(&mut graph, &local, tasks);
        // The block before `b` along the axis.
        let before = |b: &[usize]| {
            let mut p = b.to_vec();
            p[a] -= 1;
            chunks.flat(&p)
        };
        let carry = unique(&format!("{op}-carry"));
        let tasks = chunks.blocks().filter(|b| b[a] > 0).map(|b| {
            let key = TaskKey::new(carry.clone(), chunks.flat(&b));
            let mut deps = vec![TaskKey::new(local.clone(), before(&b))];
            if b[a] > 1 {
                deps.push(TaskKey::new(carry.clone(), before(&b)));
            }
            (key, deps, step(ScanStep::Carry))
        });
        layer::layer(&mut graph, &carry, tasks);
        let name = unique(op);
        let tasks = chunks.blocks().map(|b| {
            let i = chunks.flat(&b);
            let mut deps = vec![TaskKey::new(local.clone(), i)];
            if b[a] > 0 {
                deps.push(TaskKey::new(carry.clone(), i));
            }
            (TaskKey::new(name.clone(), i), deps, step(ScanStep::Apply))
        });
        layer::layer(&mut graph, &name, tasks);
        Ok(Array::from_graph(graph, name, chunks.clone()))
    }

    /// The cumulative sum along `axis` (negative counts from the end), in NumPy's type for sums
    /// ([`Element::Sum`]): `int8` values add up as `int64`, so they do not wrap. Use
    /// [`reshape`](Array::reshape) to one axis for NumPy's flat `cumsum()`.
    ///
    /// ```
    /// use ndarray::array;
    /// use partita_collections::Array;
    /// let x = Array::from_array(array![[1_i8, 2, 3], [100, 100, 100]], &[1, 2])?;
    /// assert_eq!(x.cumsum(1)?.compute()?, array![[1_i64, 3, 6], [100, 200, 300]].into_dyn());
    /// assert_eq!(x.cumsum(0)?.compute()?, array![[1_i64, 2, 3], [101, 102, 103]].into_dyn());
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) naming an axis out of range.
    pub fn cumsum(&self, axis: isize) -> Result<Array<T::Sum>> {
        self.scan(axis, false, "cumsum")
    }

    /// The cumulative product along `axis`, in [`Element::Sum`] as [`cumsum`](Array::cumsum)
    /// is.
    ///
    /// ```
    /// use ndarray::array;
    /// use partita_collections::Array;
    /// let x = Array::from_array(array![1_u8, 2, 3, 4, 5], &[2])?;
    /// assert_eq!(x.cumprod(-1)?.compute()?, array![1_u64, 2, 6, 24, 120].into_dyn());
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) naming an axis out of range.
    pub fn cumprod(&self, axis: isize) -> Result<Array<T::Sum>> {
        self.scan(axis, true, "cumprod")
    }
}
