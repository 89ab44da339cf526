//! Indexing: basic slicing with ranges, steps and integers (NumPy's `x[1:9:2, 3]`), and boolean
//! masks.

use std::ops::{Range, RangeFrom, RangeFull, RangeTo};
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, SliceInfoElem};
use partita_runtime::{value, Graph, Kernel, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::block::{block_of, kernel1};
use super::chunks::Chunks;
use super::dispatch::{any_dtype, arity};
use super::dtype::{DType, Element};
use super::Array;
use crate::error::{Error, Result};
use crate::layer::{self, register_op, Op};
use crate::names::unique;

/// One axis of a block's slicing, as data: ndarray's `SliceInfoElem` without its `NewAxis`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum AxisSlice {
    /// One position; the axis is dropped.
    At(isize),
    /// `start..end` by `step`, as `ndarray::Slice`.
    Range {
        start: isize,
        end: Option<isize>,
        step: isize,
    },
}

impl From<AxisSlice> for SliceInfoElem {
    fn from(s: AxisSlice) -> SliceInfoElem {
        match s {
            AxisSlice::At(i) => SliceInfoElem::Index(i),
            AxisSlice::Range { start, end, step } => ndarray::Slice::new(start, end, step).into(),
        }
    }
}

/// `array.slice`: a slice of one block of `dtype`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SliceOp {
    dtype: DType,
    info: Vec<AxisSlice>,
}

fn slice_kernel<T: Element>(input: TaskKey, info: Vec<SliceInfoElem>) -> Kernel {
    Arc::new(move |vals: Vec<Value>| {
        let block = block_of::<T>(&vals[0], &input)?;
        Ok(value(block.slice(info.as_slice()).to_owned()))
    })
}

impl Op for SliceOp {
    const NAME: &'static str = "array.slice";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        arity(Self::NAME, cx, 1)?;
        let input = cx.deps[0].clone();
        let info: Vec<SliceInfoElem> = self.info.iter().map(|&s| s.into()).collect();
        any_dtype!(Self::NAME, cx.key, self.dtype, T => Ok(slice_kernel::<T>(input, info)))
    }
}

register_op!(SliceOp);

/// `array.mask_count`: the number of true elements of a `bool` block, as a block of length-1
/// axes.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct MaskCountOp;

impl Op for MaskCountOp {
    const NAME: &'static str = "array.mask_count";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        arity(Self::NAME, cx, 1)?;
        let count = |k: &TaskKey, v: Value| {
            let b = block_of::<bool>(&v, k)?;
            let n = b.iter().filter(|&&x| x).count() as u64;
            Ok(ArrayD::from_elem(IxDyn(&vec![1; b.ndim()]), n))
        };
        Ok(kernel1(cx.deps[0].clone(), Arc::new(count)))
    }
}

register_op!(MaskCountOp);

/// `array.mask`: the elements of a block of `dtype` where a `bool` block of its shape is true.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct MaskOp {
    dtype: DType,
}

fn mask_kernel<T: Element>(kx: TaskKey, km: TaskKey) -> Kernel {
    Arc::new(move |vals: Vec<Value>| {
        let xb = block_of::<T>(&vals[0], &kx)?;
        let mb = block_of::<bool>(&vals[1], &km)?;
        if xb.shape() != mb.shape() {
            return Err(partita_runtime::Error::failed(
                kx.clone(),
                format!(
                    "a mask of shape {:?} for a block of shape {:?}",
                    mb.shape(),
                    xb.shape()
                ),
            ));
        }
        let picked: Vec<T> = xb
            .iter()
            .zip(mb.iter())
            .filter(|(_, &keep)| keep)
            .map(|(&v, _)| v)
            .collect();
        Ok(value(
            ArrayD::from_shape_vec(IxDyn(&[picked.len()]), picked).expect("1-d"),
        ))
    })
}

impl Op for MaskOp {
    const NAME: &'static str = "array.mask";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        arity(Self::NAME, cx, 2)?;
        let (kx, km) = (cx.deps[0].clone(), cx.deps[1].clone());
        any_dtype!(Self::NAME, cx.key, self.dtype, T => Ok(mask_kernel::<T>(kx, km)))
    }
}

register_op!(MaskOp);

/// One axis of a slicing: an integer (which drops the axis) or a range with a step. Negative
/// numbers count from the end, as in NumPy; a negative step walks backwards.
///
/// ```
/// use partita_collections::{Array, Index};
/// let x = partita_collections::Array::<i64>::arange(10, 3)?;
/// let y = x.slice(&[Index::range(Some(1), Some(9), 3)])?;
/// assert_eq!(y.compute()?.into_raw_vec_and_offset().0, vec![1, 4, 7]);
/// let r = x.slice(&[Index::range(None, None, -4)])?;
/// assert_eq!(r.compute()?.into_raw_vec_and_offset().0, vec![9, 5, 1]);
/// assert_eq!(x.slice(&[Index::At(-1)])?.compute_scalar()?, 9);
/// # Ok::<(), partita_collections::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    /// One position; the axis is dropped.
    At(isize),
    /// `start:stop:step`, each bound optional as in Python.
    Range {
        /// First position (default: the start, or the end for a negative step).
        start: Option<isize>,
        /// One past the last position (default: the end, or before the start).
        stop: Option<isize>,
        /// The step; not 0.
        step: isize,
    },
}

impl Index {
    /// `start:stop:step`.
    pub fn range(start: Option<isize>, stop: Option<isize>, step: isize) -> Index {
        Index::Range { start, stop, step }
    }

    /// The whole axis (`:`).
    pub fn all() -> Index {
        Index::range(None, None, 1)
    }

    /// The positions this index takes from an axis of length `n`: first, step and count, and
    /// whether the axis is kept.
    fn resolve(self, n: usize, axis: usize) -> Result<(isize, isize, usize, bool)> {
        let n = n as isize;
        match self {
            Index::At(i) => {
                let j = if i < 0 { i + n } else { i };
                if j < 0 || j >= n {
                    return Err(Error::shape(format!(
                        "index {i} is out of bounds for axis {axis} with size {n}"
                    )));
                }
                Ok((j, 1, 1, false))
            }
            Index::Range { start, stop, step } => {
                if step == 0 {
                    return Err(Error::shape(format!(
                        "slice step cannot be zero (axis {axis})"
                    )));
                }
                // Python's slice.indices.
                let clamp = |v: isize, lo: isize, hi: isize| v.max(lo).min(hi);
                let norm = |v: isize| if v < 0 { v + n } else { v };
                let (first, count) = if step > 0 {
                    let s = start.map_or(0, |s| clamp(norm(s), 0, n));
                    let e = stop.map_or(n, |e| clamp(norm(e), 0, n));
                    (s, if e > s { (e - s + step - 1) / step } else { 0 })
                } else {
                    let s = start.map_or(n - 1, |s| clamp(norm(s), -1, n - 1));
                    let e = stop.map_or(-1, |e| clamp(norm(e), -1, n - 1));
                    (s, if s > e { (s - e - step - 1) / -step } else { 0 })
                };
                Ok((first, step, count as usize, true))
            }
        }
    }
}

impl From<isize> for Index {
    fn from(i: isize) -> Index {
        Index::At(i)
    }
}

impl From<Range<usize>> for Index {
    fn from(r: Range<usize>) -> Index {
        Index::range(Some(r.start as isize), Some(r.end as isize), 1)
    }
}

impl From<RangeFrom<usize>> for Index {
    fn from(r: RangeFrom<usize>) -> Index {
        Index::range(Some(r.start as isize), None, 1)
    }
}

impl From<RangeTo<usize>> for Index {
    fn from(r: RangeTo<usize>) -> Index {
        Index::range(None, Some(r.end as isize), 1)
    }
}

impl From<RangeFull> for Index {
    fn from(_: RangeFull) -> Index {
        Index::all()
    }
}

/// Along one axis: for each output chunk, the source chunk and the local `(first, step, count)`.
fn axis_plan(
    sizes: &[usize],
    first: isize,
    step: isize,
    count: usize,
) -> Vec<(usize, isize, isize, usize)> {
    let mut starts = Vec::with_capacity(sizes.len());
    let mut at = 0;
    for &s in sizes {
        starts.push(at);
        at += s as isize;
    }
    let chunk_of = |i: isize| starts.partition_point(|&s| s <= i) - 1;
    let mut out: Vec<(usize, isize, isize, usize)> = Vec::new();
    for k in 0..count {
        let i = first + k as isize * step;
        let c = chunk_of(i);
        match out.last_mut() {
            Some(last) if last.0 == c => last.3 += 1,
            _ => out.push((c, i - starts[c], step, 1)),
        }
    }
    if out.is_empty() {
        out.push((0, 0, 1, 0));
    }
    out
}

impl<T: Element> Array<T> {
    /// Basic slicing: one [`Index`] per leading axis (missing ones take the whole axis). Each
    /// output block is a slice of one input block.
    ///
    /// ```
    /// use ndarray::array;
    /// use partita_collections::{Array, Index};
    /// let x = Array::from_array(array![[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]], &[2, 3])?;
    /// let y = x.slice(&[Index::from(1..3), Index::range(None, None, 2)])?;
    /// assert_eq!(y.compute()?, array![[4, 6], [8, 10]].into_dyn());
    /// let col = x.slice(&[Index::all(), Index::At(1)])?;
    /// assert_eq!(col.compute()?, array![1, 5, 9].into_dyn());
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] for more indices than axes, an integer out of bounds, or a zero step.
    pub fn slice(&self, index: &[Index]) -> Result<Array<T>> {
        let nd = self.ndim();
        if index.len() > nd {
            return Err(Error::shape(format!(
                "too many indices: {} for an array of {nd} dimensions",
                index.len()
            )));
        }
        let shape = self.shape();
        let mut plans = Vec::with_capacity(nd);
        let mut kept = Vec::with_capacity(nd);
        for (a, &n) in shape.iter().enumerate() {
            let ix = index.get(a).copied().unwrap_or_else(Index::all);
            let (first, step, count, keep) = ix.resolve(n, a)?;
            plans.push(axis_plan(self.chunks.axis(a), first, step, count));
            kept.push(keep);
        }
        let grid: Vec<usize> = plans.iter().map(Vec::len).collect();
        let sizes: Vec<Vec<usize>> = plans
            .iter()
            .zip(&kept)
            .filter(|(_, &k)| k)
            .map(|(p, _)| p.iter().map(|c| c.3).collect())
            .collect();
        let chunks = Chunks::from_sizes(sizes);
        let full = Chunks::from_sizes(grid.iter().map(|&g| vec![1; g]).collect());
        let name = unique("slice");
        let tasks = full.blocks().map(|b| {
            let src: Vec<usize> = b.iter().enumerate().map(|(a, &i)| plans[a][i].0).collect();
            let info: Vec<AxisSlice> = b
                .iter()
                .enumerate()
                .map(|(a, &i)| {
                    let (_, first, step, count) = plans[a][i];
                    if !kept[a] {
                        return AxisSlice::At(first);
                    }
                    if count == 0 {
                        return AxisSlice::Range {
                            start: 0,
                            end: Some(0),
                            step: 1,
                        };
                    }
                    let last = first + (count as isize - 1) * step;
                    if step > 0 {
                        AxisSlice::Range {
                            start: first,
                            end: Some(last + 1),
                            step,
                        }
                    } else {
                        // ndarray walks a negative step from the end of the range.
                        AxisSlice::Range {
                            start: last,
                            end: Some(first + 1),
                            step,
                        }
                    }
                })
                .collect();
            let op = SliceOp {
                dtype: T::DTYPE,
                info,
            };
            (
                TaskKey::new(name.clone(), full.flat(&b)),
                vec![self.key(&src)],
                op,
            )
        });
        let mut graph = self.graph.clone();
        layer::layer(&mut graph, &name, tasks);
        Ok(Array::from_graph(graph, name, chunks))
    }

    /// The elements where `mask` (of the same shape) is true, in C order, as NumPy's `x[mask]`.
    /// The result's chunk sizes depend on the mask's contents, so this computes the number of
    /// true elements in each block of the mask now (on the current runtime ([`Runtime::current`](partita_runtime::Runtime::current))); the selection itself
    /// stays lazy.
    ///
    /// ```
    /// use partita_collections::Array;
    /// let x = Array::<i64>::arange(10, 4)?;
    /// let odd = x.map(|v| v % 2 == 1);
    /// assert_eq!(x.mask(&odd)?.compute()?.into_raw_vec_and_offset().0, vec![1, 3, 5, 7, 9]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes differ; else the mask's computation's error.
    pub fn mask(&self, mask: &Array<bool>) -> Result<Array<T>> {
        if mask.shape() != self.shape() {
            return Err(Error::shape(format!(
                "boolean index of shape {:?} does not match the array's shape {:?}",
                mask.shape(),
                self.shape()
            )));
        }
        // Blocks that cut only the first axis, so that block order is C order.
        let mut rows = vec![self.chunks.axis(0).to_vec()];
        rows.extend(self.shape()[1..].iter().map(|&n| vec![n]));
        let rows = Chunks::from_sizes(rows);
        let this = self.rechunk_to(rows.clone())?;
        let mask = mask.rechunk_to(rows)?;
        let ones = Chunks::from_sizes(mask.chunks.grid().iter().map(|&g| vec![1; g]).collect());
        let counts = mask
            .op_blockwise1::<u64, _>(ones, "mask-count", &MaskCountOp)
            .compute()?;
        let sizes: Vec<usize> = counts.iter().map(|&c| c as usize).collect();
        let sizes = if sizes.is_empty() { vec![0] } else { sizes };
        let chunks = Chunks::from_sizes(vec![sizes]);
        let name = unique("mask");
        let mut graph: Graph = this.graph.clone();
        graph.merge(mask.graph());
        let op = MaskOp { dtype: T::DTYPE };
        let deps = this
            .keys()
            .into_iter()
            .zip(mask.keys())
            .map(|(x, m)| vec![x, m]);
        layer::blockwise(&mut graph, &name, &op, deps);
        Ok(Array::from_graph(graph, name, chunks))
    }
}
