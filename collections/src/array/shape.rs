//! Operations on shape and blocking: `rechunk`, `transpose`, `reshape`, `concatenate`, `stack`.

use std::sync::Arc;

use ndarray::{ArrayD, Axis, IxDyn, SliceInfoElem};
use partita_runtime::{value, Kernel, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::block::{block_of, take_block};
use super::chunks::{overlaps, Chunks};
use super::dispatch::{any_dtype, arity};
use super::dtype::{DType, Element};
use super::Array;
use crate::error::{Error, Result};
use crate::layer::{self, register_op, Op};
use crate::names::unique;

fn slice_info(ranges: &[(usize, usize)]) -> Vec<SliceInfoElem> {
    ranges
        .iter()
        .map(|&(a, b)| ndarray::Slice::from(a..b).into())
        .collect()
}

/// A piece of a rechunked block: the range it takes from its input block along each axis, and
/// where that range lands in the new block.
type Piece = (Vec<(usize, usize)>, Vec<(usize, usize)>);

/// `array.rechunk`: one new block of `dtype` and `shape` assembled from the pieces of its
/// inputs, or (`whole`) its one input passed through.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RechunkOp {
    dtype: DType,
    shape: Vec<usize>,
    pieces: Vec<Piece>,
    whole: bool,
}

fn rechunk_kernel<T: Element>(
    keys: Vec<TaskKey>,
    shape: Vec<usize>,
    pieces: Vec<Piece>,
    whole: bool,
) -> Kernel {
    Arc::new(move |vals: Vec<Value>| {
        if whole {
            return Ok(vals.into_iter().next().expect("one input"));
        }
        let mut out = ArrayD::<T>::default(IxDyn(&shape));
        for ((v, k), (r, d)) in vals.iter().zip(&keys).zip(&pieces) {
            let src = block_of::<T>(v, k)?;
            out.slice_mut(slice_info(d).as_slice())
                .assign(&src.slice(slice_info(r).as_slice()));
        }
        Ok(value(out))
    })
}

impl Op for RechunkOp {
    const NAME: &'static str = "array.rechunk";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        arity(
            Self::NAME,
            cx,
            if self.whole { 1 } else { self.pieces.len() },
        )?;
        let (keys, shape, pieces) = (cx.deps.to_vec(), self.shape.clone(), self.pieces.clone());
        let whole = self.whole;
        any_dtype!(Self::NAME, cx.key, self.dtype, T => {
            Ok(rechunk_kernel::<T>(keys, shape, pieces, whole))
        })
    }
}

register_op!(RechunkOp);

/// How one block changes shape.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Reshape {
    /// The axes permuted: axis `i` of the result is axis `perm[i]` of the block.
    Permute(Vec<usize>),
    /// The whole array, reshaped to this shape.
    Whole(Vec<usize>),
    /// Whole rows of `inner` elements each, reshaped to rows of shape `tail`.
    Rows { inner: usize, tail: Vec<usize> },
    /// The block as it is, or with a length-1 axis inserted at this position.
    InsertAxis(Option<usize>),
}

/// `array.reshape`: one block of `dtype` with another shape.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ReshapeOp {
    dtype: DType,
    reshape: Reshape,
}

/// The error of a block that does not take the shape asked of it.
fn reshape_error(key: &TaskKey, e: impl std::fmt::Display) -> partita_runtime::Error {
    partita_runtime::Error::failed(key.clone(), format!("reshaping the block: {e}"))
}

fn reshape_kernel<T: Element>(input: TaskKey, reshape: Reshape) -> Kernel {
    let k = input;
    match reshape {
        Reshape::Permute(p) => Arc::new(move |mut vals: Vec<Value>| {
            let b = take_block::<T>(vals.swap_remove(0), &k)?;
            if b.ndim() != p.len() {
                return Err(reshape_error(
                    &k,
                    format!("{} axes, permutation {p:?}", b.ndim()),
                ));
            }
            Ok(value(b.permuted_axes(IxDyn(&p))))
        }),
        Reshape::Whole(to) => Arc::new(move |mut vals: Vec<Value>| {
            let b = take_block::<T>(vals.swap_remove(0), &k)?;
            let b = b.as_standard_layout().into_owned();
            Ok(value(
                b.into_shape_with_order(IxDyn(&to))
                    .map_err(|e| reshape_error(&k, e))?,
            ))
        }),
        Reshape::Rows { inner, tail } => Arc::new(move |mut vals: Vec<Value>| {
            let b = take_block::<T>(vals.swap_remove(0), &k)?;
            let mut s = vec![b.len() / inner.max(1)];
            s.extend(&tail);
            let b = b.as_standard_layout().into_owned();
            Ok(value(
                b.into_shape_with_order(IxDyn(&s))
                    .map_err(|e| reshape_error(&k, e))?,
            ))
        }),
        Reshape::InsertAxis(insert) => Arc::new(move |mut vals: Vec<Value>| {
            let v = vals.swap_remove(0);
            match insert {
                None => Ok(v),
                Some(a) => {
                    let b = take_block::<T>(v, &k)?;
                    if a > b.ndim() {
                        return Err(reshape_error(&k, format!("no axis {a} to insert")));
                    }
                    Ok(value(b.insert_axis(Axis(a))))
                }
            }
        }),
    }
}

impl Op for ReshapeOp {
    const NAME: &'static str = "array.reshape";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        arity(Self::NAME, cx, 1)?;
        if let Reshape::Permute(p) = &self.reshape {
            let mut sorted = p.clone();
            sorted.sort_unstable();
            if sorted.iter().enumerate().any(|(i, &a)| i != a) {
                return Err(reshape_error(cx.key, format!("{p:?} is not a permutation")));
            }
        }
        let (input, reshape) = (cx.deps[0].clone(), self.reshape.clone());
        any_dtype!(Self::NAME, cx.key, self.dtype, T => Ok(reshape_kernel::<T>(input, reshape)))
    }
}

register_op!(ReshapeOp);

impl<T: Element> Array<T> {
    /// The same array cut into blocks of `chunk` (the last block along an axis may be smaller).
    /// Each new block is assembled from the old blocks it overlaps; a block that is unchanged is
    /// passed through without a copy.
    ///
    /// ```
    /// let x = partita_collections::Array::<i32>::arange(10, 3)?;
    /// let y = x.rechunk(&[4])?;
    /// assert_eq!(y.chunks().axis(0), &[4, 4, 2]);
    /// assert_eq!(y.compute()?, x.compute()?);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] when `chunk` does not fit the shape.
    pub fn rechunk(&self, chunk: &[usize]) -> Result<Array<T>> {
        self.rechunk_to(Chunks::uniform(&self.shape(), chunk)?)
    }

    /// The same array cut as `chunks` says.
    ///
    /// # Errors
    /// [`Error::Shape`] when `chunks` cuts another shape.
    pub fn rechunk_to(&self, chunks: Chunks) -> Result<Array<T>> {
        if chunks.shape() != self.shape() {
            return Err(Error::shape(format!(
                "cannot rechunk an array of shape {:?} to chunks of shape {:?}",
                self.shape(),
                chunks.shape()
            )));
        }
        if chunks == self.chunks {
            return Ok(self.clone());
        }
        let per_axis: Vec<Vec<Vec<(usize, usize, usize)>>> = (0..self.ndim())
            .map(|a| overlaps(self.chunks.axis(a), chunks.axis(a)))
            .collect();
        let name = unique("rechunk");
        let tasks = chunks.blocks().map(|b| {
            // Every combination of the overlapped pieces along each axis: the source
            // block, the range within it, and where that range lands in the new block.
            type Located = (Vec<usize>, Vec<(usize, usize)>, Vec<(usize, usize)>);
            let mut pieces: Vec<Located> = vec![(vec![], vec![], vec![])];
            for (axis, &i) in b.iter().enumerate() {
                let mut next = Vec::new();
                for (pos, src, dst) in &pieces {
                    let mut at = 0;
                    for &(block, s, e) in &per_axis[axis][i] {
                        let (mut p, mut r, mut d) = (pos.clone(), src.clone(), dst.clone());
                        p.push(block);
                        r.push((s, e));
                        d.push((at, at + e - s));
                        at += e - s;
                        next.push((p, r, d));
                    }
                }
                pieces = next;
            }
            let deps: Vec<TaskKey> = pieces.iter().map(|(p, _, _)| self.key(p)).collect();
            let whole = pieces.len() == 1 && {
                let (p, r, _) = &pieces[0];
                r.iter()
                    .zip(self.chunks.block_shape(p))
                    .all(|(&(s, e), n)| s == 0 && e == n)
            };
            let op = RechunkOp {
                dtype: T::DTYPE,
                shape: chunks.block_shape(&b),
                pieces: pieces.into_iter().map(|(_, r, d)| (r, d)).collect(),
                whole,
            };
            (TaskKey::new(name.clone(), chunks.flat(&b)), deps, op)
        });
        let mut graph = self.graph.clone();
        layer::layer(&mut graph, &name, tasks);
        Ok(Array::from_graph(graph, name, chunks))
    }
}

impl<T: Element> Array<T> {
    /// A layer with one task per block of `chunks`, each reshaping one block of `self` as
    /// `reshape` says (`source` maps the output grid position to the input's).
    fn per_block<S>(&self, chunks: Chunks, op: &str, source: S, reshape: Reshape) -> Array<T>
    where
        S: Fn(&[usize]) -> Vec<usize>,
    {
        let name = unique(op);
        let op = ReshapeOp {
            dtype: T::DTYPE,
            reshape,
        };
        let deps: Vec<Vec<TaskKey>> = chunks
            .blocks()
            .map(|b| vec![self.key(&source(&b))])
            .collect();
        let mut graph = self.graph.clone();
        layer::blockwise(&mut graph, &name, &op, deps);
        Array::from_graph(graph, name, chunks)
    }

    /// The axes permuted: axis `i` of the result is axis `perm[i]` of `self`. Blocks are
    /// permuted without copying when nothing else holds them.
    ///
    /// ```
    /// use ndarray::array;
    /// let x = partita_collections::Array::from_array(array![[1, 2, 3], [4, 5, 6]], &[1, 2])?;
    /// assert_eq!(x.permute(&[1, 0])?.compute()?, array![[1, 4], [2, 5], [3, 6]].into_dyn());
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] when `perm` is not a permutation of the axes.
    pub fn permute(&self, perm: &[usize]) -> Result<Array<T>> {
        let n = self.ndim();
        let mut seen = vec![false; n];
        if perm.len() != n
            || perm
                .iter()
                .any(|&a| a >= n || std::mem::replace(&mut seen[a], true))
        {
            return Err(Error::shape(format!(
                "{perm:?} is not a permutation of the {n} axes"
            )));
        }
        let sizes = perm.iter().map(|&a| self.chunks.axis(a).to_vec()).collect();
        let chunks = Chunks::from_sizes(sizes);
        let back = perm.to_vec();
        let mut out = self.per_block(
            chunks,
            "transpose",
            move |b| {
                let mut src = vec![0; b.len()];
                for (i, &a) in back.iter().enumerate() {
                    src[a] = b[i];
                }
                src
            },
            Reshape::Permute(perm.to_vec()),
        );
        if perm == [1, 0] {
            out.transpose_of = Some(self.name.clone());
        }
        Ok(out)
    }

    /// The axes reversed (NumPy's `.T`).
    pub fn t(&self) -> Array<T> {
        let perm: Vec<usize> = (0..self.ndim()).rev().collect();
        self.permute(&perm).expect("a reversal is a permutation")
    }

    /// The same elements in C order with another shape. The array is first rechunked so that
    /// only its first axis is cut, and so that block boundaries fall on whole rows of the new
    /// shape; then each block reshapes on its own.
    ///
    /// ```
    /// let x = partita_collections::Array::<i64>::arange(12, 4)?;
    /// let y = x.reshape(&[3, 4])?;
    /// assert_eq!(y.compute()?, ndarray::Array::from_shape_vec((3, 4), (0..12).collect()).unwrap().into_dyn());
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] when the new shape has another number of elements.
    pub fn reshape(&self, shape: &[usize]) -> Result<Array<T>> {
        let old = self.shape();
        let n: usize = old.iter().product();
        if shape.iter().product::<usize>() != n {
            return Err(Error::shape(format!(
                "cannot reshape an array of shape {old:?} ({n} elements) into {shape:?}"
            )));
        }
        if old == shape {
            return Ok(self.clone());
        }
        if n == 0 || shape.is_empty() || old.is_empty() {
            let whole = self.rechunk_to(Chunks::single(&old))?;
            return Ok(whole.per_block(
                Chunks::single(shape),
                "reshape",
                |_| vec![0; old.len()],
                Reshape::Whole(shape.to_vec()),
            ));
        }
        let inner_old: usize = old[1..].iter().product();
        let inner_new: usize = shape[1..].iter().product();
        // Rows of the old array per unit at which both shapes have whole rows.
        let unit = lcm(inner_old, inner_new) / inner_old;
        let rows = old[0];
        let offsets = self.chunks.offsets(0);
        let aligned = offsets[1..offsets.len() - 1].iter().all(|&o| o % unit == 0);
        let first: Vec<usize> = if aligned {
            self.chunks.axis(0).to_vec()
        } else {
            let target = self.chunks.axis(0)[0].div_ceil(unit).max(1) * unit;
            Chunks::uniform(&[rows], &[target])?.axis(0).to_vec()
        };
        let mut sizes = vec![first];
        sizes.extend(old[1..].iter().map(|&d| vec![d]));
        let src = self.rechunk_to(Chunks::from_sizes(sizes))?;
        let new_first: Vec<usize> = src
            .chunks
            .axis(0)
            .iter()
            .map(|&r| r * inner_old / inner_new)
            .collect();
        let mut new_sizes = vec![new_first];
        new_sizes.extend(shape[1..].iter().map(|&d| vec![d]));
        let chunks = Chunks::from_sizes(new_sizes);
        let tail = shape[1..].to_vec();
        let nd_old = old.len();
        Ok(src.per_block(
            chunks,
            "reshape",
            move |b| {
                let mut p = vec![0; nd_old];
                p[0] = b[0];
                p
            },
            Reshape::Rows {
                inner: inner_new,
                tail,
            },
        ))
    }

    /// The arrays joined along an existing `axis`. Their other axes must agree; blocks pass
    /// through unchanged.
    ///
    /// ```
    /// use partita_collections::Array;
    /// let a = Array::<i32>::arange(3, 2)?;
    /// let b = Array::<i32>::arange(2, 2)?;
    /// let c = Array::concatenate(&[a, b], 0)?;
    /// assert_eq!(c.chunks().axis(0), &[2, 1, 2]);
    /// assert_eq!(c.compute()?.into_raw_vec_and_offset().0, vec![0, 1, 2, 0, 1]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] when there is no array, the axis is out of range, or the shapes differ
    /// off the axis.
    pub fn concatenate(arrays: &[Array<T>], axis: usize) -> Result<Array<T>> {
        let first = arrays
            .first()
            .ok_or_else(|| Error::shape("concatenate needs at least one array"))?;
        let nd = first.ndim();
        if axis >= nd {
            return Err(Error::shape(format!(
                "axis {axis} is out of bounds for arrays of {nd} dimensions"
            )));
        }
        let mut parts = Vec::with_capacity(arrays.len());
        for a in arrays {
            let (s, f) = (a.shape(), first.shape());
            if s.len() != nd || (0..nd).any(|i| i != axis && s[i] != f[i]) {
                return Err(Error::shape(format!(
                    "cannot concatenate shapes {f:?} and {s:?} along axis {axis}"
                )));
            }
            // Match the first array's chunks off the axis.
            let mut sizes = first.chunks.sizes().to_vec();
            sizes[axis] = a.chunks.axis(axis).to_vec();
            parts.push(a.rechunk_to(Chunks::from_sizes(sizes))?);
        }
        let mut sizes = first.chunks.sizes().to_vec();
        sizes[axis] = parts
            .iter()
            .flat_map(|p| p.chunks.axis(axis).to_vec())
            .collect();
        let chunks = Chunks::from_sizes(sizes);
        // Which part and local block index each block along the axis comes from.
        let owner: Vec<(usize, usize)> = parts
            .iter()
            .enumerate()
            .flat_map(|(i, p)| (0..p.chunks.axis(axis).len()).map(move |j| (i, j)))
            .collect();
        Ok(identity_layer(&parts, chunks, "concatenate", |b| {
            let (i, j) = owner[b[axis]];
            let mut pos = b.to_vec();
            pos[axis] = j;
            (i, pos, None)
        }))
    }

    /// The arrays, all of one shape, stacked along a new `axis` (0 to their rank).
    ///
    /// ```
    /// use partita_collections::Array;
    /// let a = Array::<i32>::arange(3, 2)?;
    /// let s = Array::stack(&[a.clone(), a], 1)?;
    /// assert_eq!(s.shape(), vec![3, 2]);
    /// assert_eq!(s.compute()?.into_raw_vec_and_offset().0, vec![0, 0, 1, 1, 2, 2]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] when there is no array, the shapes differ or the axis is out of range.
    pub fn stack(arrays: &[Array<T>], axis: usize) -> Result<Array<T>> {
        let first = arrays
            .first()
            .ok_or_else(|| Error::shape("stack needs at least one array"))?;
        if axis > first.ndim() {
            return Err(Error::shape(format!(
                "axis {axis} is out of bounds for stacking arrays of {} dimensions",
                first.ndim()
            )));
        }
        let mut parts = Vec::with_capacity(arrays.len());
        for a in arrays {
            if a.shape() != first.shape() {
                return Err(Error::shape(format!(
                    "cannot stack shapes {:?} and {:?}",
                    first.shape(),
                    a.shape()
                )));
            }
            parts.push(a.rechunk_to(first.chunks.clone())?);
        }
        let mut sizes = first.chunks.sizes().to_vec();
        sizes.insert(axis, vec![1; parts.len()]);
        let chunks = Chunks::from_sizes(sizes);
        Ok(identity_layer(&parts, chunks, "stack", |b| {
            let mut pos = b.to_vec();
            let i = pos.remove(axis);
            (i, pos, Some(axis))
        }))
    }
}

/// A layer whose every block is a block of one of `parts`, as `source` says (which part, its
/// grid position there, and an axis to insert, if any).
fn identity_layer<T: Element>(
    parts: &[Array<T>],
    chunks: Chunks,
    op: &str,
    source: impl Fn(&[usize]) -> (usize, Vec<usize>, Option<usize>),
) -> Array<T> {
    let name = unique(op);
    let mut graph = parts[0].graph.clone();
    for p in &parts[1..] {
        graph.merge(&p.graph);
    }
    let tasks = chunks.blocks().map(|b| {
        let (i, pos, insert) = source(&b);
        let op = ReshapeOp {
            dtype: T::DTYPE,
            reshape: Reshape::InsertAxis(insert),
        };
        (
            TaskKey::new(name.clone(), chunks.flat(&b)),
            vec![parts[i].key(&pos)],
            op,
        )
    });
    layer::layer(&mut graph, &name, tasks);
    Array::from_graph(graph, name, chunks)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn lcm(a: usize, b: usize) -> usize {
    if a == 0 || b == 0 {
        a.max(b).max(1)
    } else {
        a / gcd(a, b) * b
    }
}
