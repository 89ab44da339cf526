//! Reductions along axes as tree reductions over blocks: each block folds into partial
//! accumulators (keeping the folded axes as length 1), groups of partials combine level by
//! level until one block is left along every folded axis, and a last step turns accumulators
//! into values and drops the folded axes unless `keepdims` asks to keep them.
//!
//! The result types are NumPy's:
//!
//! | input | `sum`, `prod` | `mean` | `var`, `std` | `min`, `max` | `any`, `all` | `count_nonzero` |
//! |---|---|---|---|---|---|---|
//! | `bool` | `int64` | `float64` | `float64` | — | `bool` | `int64` |
//! | `int8`, `int16`, `int32` | `int64` | `float64` | `float64` | itself | `bool` | `int64` |
//! | `uint8`, `uint16`, `uint32` | `uint64` | `float64` | `float64` | itself | `bool` | `int64` |
//! | `int64`, `uint64`, 128-bit | itself | `float64` | `float64` | itself | `bool` | `int64` |
//! | `float32`, `float64` | itself | itself | itself | itself | `bool` | `int64` |
//! | `complex64` | itself | itself | `float32` | — | `bool` | `int64` |
//! | `complex128` | itself | itself | `float64` | — | `bool` | `int64` |
//!
//! Sums of 64-bit and wider integers wrap, as NumPy's do. Means, variances and deviations
//! accumulate in `f64` whatever the input (NumPy accumulates `float32` in `float32`), and a
//! complex variance is that of the real parts plus that of the imaginary parts.

use std::sync::Arc;

use ndarray::{ArrayD, ArrayView1, Axis, IxDyn, Zip};
use partita_runtime::{downcast, value, Kernel, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::axes::Axes;
use super::block::block_of;
use super::chunks::Chunks;
use super::dispatch::{any_dtype, real_dtype};
use super::dtype::{cast, DType, Element, Numeric, Real, Scalar};
use super::Array;
use crate::error::{Error, Result};
use crate::layer::{self, register_op, Op};
use crate::names::unique;

/// How many partial blocks one combine task takes along each folded axis.
const SPLIT_EVERY: usize = 8;

/// One kind of reduction: how elements fold into an accumulator, how accumulators combine, and
/// what value an accumulator gives.
pub(crate) trait Reducer<T>: Send + Sync + 'static {
    /// The partial result.
    type Acc: Clone + Send + Sync + 'static;
    /// The value of a reduced position.
    type Out: Element;
    /// Folds one lane along the folded axis; `start` is the lane's first element's position
    /// along that axis in the whole array (for the arg-reductions).
    fn fold(&self, lane: ArrayView1<'_, T>, start: usize) -> Self::Acc;
    /// The accumulator of one element at position `index` along the folded axis.
    fn init(&self, x: T, index: usize) -> Self::Acc;
    /// Adds one element to an accumulator.
    fn push(&self, acc: &mut Self::Acc, x: T, index: usize);
    /// Merges two accumulators; `b` covers positions after `a`'s.
    fn combine(&self, a: &mut Self::Acc, b: &Self::Acc);
    /// The value, or why there is none (an empty `min`, say).
    fn finish(&self, acc: &Self::Acc) -> Result<Self::Out>;
    /// This reduction as data.
    fn reduction(&self) -> Reduction;
}

/// A reduction as data: which [`Reducer`] a task runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Reduction {
    Sum,
    Prod,
    Min,
    Max,
    ArgMin,
    ArgMax,
    Mean,
    Var { ddof: f64 },
    Std { ddof: f64 },
    Any,
    All,
    CountNonzero,
}

/// Runs `$body` with `$T` the element type of `$dt` and `$r` the [`Reducer`] of `$red` on it.
macro_rules! with_reducer {
    ($op:expr, $key:expr, $red:expr, $dt:expr, $r:ident, $T:ident => $body:expr) => {
        match $red {
            Reduction::Sum => any_dtype!($op, $key, $dt, $T => { let $r = Sum; $body }),
            Reduction::Prod => any_dtype!($op, $key, $dt, $T => { let $r = Prod; $body }),
            Reduction::Min => real_dtype!($op, $key, $dt, $T => { let $r = Extreme::<false>; $body }),
            Reduction::Max => real_dtype!($op, $key, $dt, $T => { let $r = Extreme::<true>; $body }),
            Reduction::ArgMin => {
                real_dtype!($op, $key, $dt, $T => { let $r = ArgExtreme::<false>; $body })
            }
            Reduction::ArgMax => {
                real_dtype!($op, $key, $dt, $T => { let $r = ArgExtreme::<true>; $body })
            }
            Reduction::Mean => any_dtype!($op, $key, $dt, $T => { let $r = Mean; $body }),
            Reduction::Var { ddof } => any_dtype!($op, $key, $dt, $T => {
                let $r = Spread { ddof, sqrt: false };
                $body
            }),
            Reduction::Std { ddof } => any_dtype!($op, $key, $dt, $T => {
                let $r = Spread { ddof, sqrt: true };
                $body
            }),
            Reduction::Any => any_dtype!($op, $key, $dt, $T => { let $r = Logical::<false>; $body }),
            Reduction::All => any_dtype!($op, $key, $dt, $T => { let $r = Logical::<true>; $body }),
            Reduction::CountNonzero => any_dtype!($op, $key, $dt, $T => { let $r = CountNonzero; $body }),
        }
    };
}

/// Sums a slice in its [`Sum`](Element::Sum) type with eight accumulators, so floating-point
/// sums vectorise.
#[inline]
fn sum_slice<T: Element>(s: &[T]) -> T::Sum {
    let zero = <T::Sum as Numeric>::zero();
    let mut acc = [zero; 8];
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            acc[i] = acc[i].add(c[i].to_sum());
        }
    }
    let mut total = chunks
        .remainder()
        .iter()
        .fold(zero, |a, &x| a.add(x.to_sum()));
    for a in acc {
        total = total.add(a);
    }
    total
}

/// Sums one part (`IM`: the imaginary one) of a slice as `f64` with eight accumulators.
#[inline]
fn sum_f64<T: Element, const IM: bool>(s: &[T]) -> f64 {
    let part = |x: &T| if IM { x.parts().1 } else { x.parts().0 };
    let mut acc = [0.0_f64; 8];
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            acc[i] += part(&c[i]);
        }
    }
    chunks.remainder().iter().map(part).sum::<f64>() + acc.iter().sum::<f64>()
}

/// Sums the squared distances of one part of a slice from `mean` with eight accumulators.
#[inline]
fn sq_dev_slice<T: Element, const IM: bool>(s: &[T], mean: f64) -> f64 {
    let part = |x: &T| if IM { x.parts().1 } else { x.parts().0 };
    let mut acc = [0.0_f64; 8];
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            let d = part(&c[i]) - mean;
            acc[i] += d * d;
        }
    }
    let mut total: f64 = chunks
        .remainder()
        .iter()
        .map(|x| (part(x) - mean).powi(2))
        .sum();
    for a in acc {
        total += a;
    }
    total
}

/// Whether `T` is a complex type.
fn is_complex<T: Element>() -> bool {
    matches!(T::DTYPE, DType::C64 | DType::C128)
}

pub(crate) struct Sum;
impl<T: Element> Reducer<T> for Sum {
    type Acc = T::Sum;
    type Out = T::Sum;
    fn fold(&self, lane: ArrayView1<'_, T>, _: usize) -> T::Sum {
        match lane.as_slice() {
            Some(s) => sum_slice(s),
            None => lane
                .iter()
                .fold(<T::Sum as Numeric>::zero(), |a, &x| a.add(x.to_sum())),
        }
    }
    fn init(&self, x: T, _: usize) -> T::Sum {
        x.to_sum()
    }
    fn push(&self, acc: &mut T::Sum, x: T, _: usize) {
        *acc = acc.add(x.to_sum());
    }
    fn combine(&self, a: &mut T::Sum, b: &T::Sum) {
        *a = a.add(*b);
    }
    fn finish(&self, acc: &T::Sum) -> Result<T::Sum> {
        Ok(*acc)
    }
    fn reduction(&self) -> Reduction {
        Reduction::Sum
    }
}

pub(crate) struct Prod;
impl<T: Element> Reducer<T> for Prod {
    type Acc = T::Sum;
    type Out = T::Sum;
    fn fold(&self, lane: ArrayView1<'_, T>, _: usize) -> T::Sum {
        lane.iter()
            .fold(<T::Sum as Numeric>::one(), |a, &x| a.mul(x.to_sum()))
    }
    fn init(&self, x: T, _: usize) -> T::Sum {
        x.to_sum()
    }
    fn push(&self, acc: &mut T::Sum, x: T, _: usize) {
        *acc = acc.mul(x.to_sum());
    }
    fn combine(&self, a: &mut T::Sum, b: &T::Sum) {
        *a = a.mul(*b);
    }
    fn finish(&self, acc: &T::Sum) -> Result<T::Sum> {
        Ok(*acc)
    }
    fn reduction(&self) -> Reduction {
        Reduction::Prod
    }
}

/// `min` (`MAX == false`) or `max`.
pub(crate) struct Extreme<const MAX: bool>;
impl<T: Real, const MAX: bool> Reducer<T> for Extreme<MAX> {
    type Acc = Option<T>;
    type Out = T;
    fn fold(&self, lane: ArrayView1<'_, T>, _: usize) -> Option<T> {
        let mut it = lane.iter();
        let first = *it.next()?;
        Some(it.fold(first, |a, &x| if MAX { a.max2(x) } else { a.min2(x) }))
    }
    fn init(&self, x: T, _: usize) -> Option<T> {
        Some(x)
    }
    fn push(&self, acc: &mut Option<T>, x: T, _: usize) {
        *acc = Some(match *acc {
            None => x,
            Some(a) if MAX => a.max2(x),
            Some(a) => a.min2(x),
        });
    }
    fn combine(&self, a: &mut Option<T>, b: &Option<T>) {
        if let Some(x) = *b {
            self.push(a, x, 0);
        }
    }
    fn finish(&self, acc: &Option<T>) -> Result<T> {
        acc.ok_or_else(|| {
            let op = if MAX { "maximum" } else { "minimum" };
            Error::shape(format!(
                "zero-size array to reduction operation {op} which has no identity"
            ))
        })
    }
    fn reduction(&self) -> Reduction {
        if MAX {
            Reduction::Max
        } else {
            Reduction::Min
        }
    }
}

/// `argmin` (`MAX == false`) or `argmax`: the first position of the extreme value (of the first
/// NaN, if any, as NumPy).
pub(crate) struct ArgExtreme<const MAX: bool>;
impl<const MAX: bool> ArgExtreme<MAX> {
    /// Whether `x` replaces the current best `a` (positions come in increasing order).
    #[inline]
    fn better<T: Real>(a: T, x: T) -> bool {
        if a.is_nan() {
            false
        } else if x.is_nan() {
            true
        } else if MAX {
            x > a
        } else {
            x < a
        }
    }
}
impl<T: Real, const MAX: bool> Reducer<T> for ArgExtreme<MAX> {
    type Acc = Option<(T, usize)>;
    type Out = u64;
    fn fold(&self, lane: ArrayView1<'_, T>, start: usize) -> Self::Acc {
        let mut acc = None;
        for (i, &x) in lane.iter().enumerate() {
            self.push(&mut acc, x, start + i);
        }
        acc
    }
    fn init(&self, x: T, index: usize) -> Self::Acc {
        Some((x, index))
    }
    fn push(&self, acc: &mut Self::Acc, x: T, index: usize) {
        match acc {
            Some((a, _)) if !Self::better(*a, x) => {}
            _ => *acc = Some((x, index)),
        }
    }
    fn combine(&self, a: &mut Self::Acc, b: &Self::Acc) {
        if let Some((x, i)) = *b {
            self.push(a, x, i);
        }
    }
    fn finish(&self, acc: &Self::Acc) -> Result<u64> {
        acc.map(|(_, i)| i as u64).ok_or_else(|| {
            let op = if MAX { "argmax" } else { "argmin" };
            Error::shape(format!("attempt to get {op} of an empty sequence"))
        })
    }
    fn reduction(&self) -> Reduction {
        if MAX {
            Reduction::ArgMax
        } else {
            Reduction::ArgMin
        }
    }
}

/// Count, mean and sum of squared deviations of the real parts and of the imaginary parts,
/// combined by Chan et al.'s parallel formula (the imaginary ones stay 0 for real input).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
    mean_im: f64,
    m2_im: f64,
}

impl Moments {
    #[inline]
    fn merge(&mut self, b: &Moments) {
        if b.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = *b;
            return;
        }
        let n = self.n + b.n;
        let weight = self.n * b.n / n;
        let delta = b.mean - self.mean;
        self.mean += delta * b.n / n;
        self.m2 += b.m2 + delta * delta * weight;
        let delta = b.mean_im - self.mean_im;
        self.mean_im += delta * b.n / n;
        self.m2_im += b.m2_im + delta * delta * weight;
        self.n = n;
    }
}

impl Moments {
    /// The moments of a lane; `m2` only if `spread` asks for them.
    fn of_lane<T: Element>(lane: &ArrayView1<'_, T>, spread: bool) -> Moments {
        let n = lane.len() as f64;
        if n == 0.0 {
            return Moments::default();
        }
        let (mean, m2) = Self::lane_part::<T, false>(lane, spread);
        let (mean_im, m2_im) = if is_complex::<T>() {
            Self::lane_part::<T, true>(lane, spread)
        } else {
            (0.0, 0.0)
        };
        Moments {
            n,
            mean,
            m2,
            mean_im,
            m2_im,
        }
    }

    /// The mean and (if `spread`) the squared deviations from it of one part of a lane.
    fn lane_part<T: Element, const IM: bool>(lane: &ArrayView1<'_, T>, spread: bool) -> (f64, f64) {
        let n = lane.len() as f64;
        let part = |x: &T| if IM { x.parts().1 } else { x.parts().0 };
        // Two passes over the lane: the mean, then the squared deviations from it.
        match lane.as_slice() {
            Some(s) => {
                let mean = sum_f64::<T, IM>(s) / n;
                let m2 = if spread {
                    sq_dev_slice::<T, IM>(s, mean)
                } else {
                    0.0
                };
                (mean, m2)
            }
            None => {
                let mean = lane.iter().map(part).sum::<f64>() / n;
                (mean, lane.iter().map(|x| (part(x) - mean).powi(2)).sum())
            }
        }
    }

    /// The moments of one element.
    fn of<T: Element>(x: T) -> Moments {
        let (re, im) = x.parts();
        Moments {
            n: 1.0,
            mean: re,
            mean_im: im,
            ..Moments::default()
        }
    }

    /// Adds one element (Welford's update).
    #[inline]
    fn push<T: Element>(&mut self, x: T) {
        let (re, im) = x.parts();
        self.n += 1.0;
        let d = re - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (re - self.mean);
        if is_complex::<T>() {
            let d = im - self.mean_im;
            self.mean_im += d / self.n;
            self.m2_im += d * (im - self.mean_im);
        }
    }
}

/// `mean`: NaN over no element.
pub(crate) struct Mean;
impl<T: Element> Reducer<T> for Mean {
    type Acc = Moments;
    type Out = T::Mean;
    fn fold(&self, lane: ArrayView1<'_, T>, _: usize) -> Moments {
        Moments::of_lane(&lane, false)
    }
    fn init(&self, x: T, _: usize) -> Moments {
        Moments::of(x)
    }
    #[inline]
    fn push(&self, acc: &mut Moments, x: T, _: usize) {
        acc.push(x);
    }
    fn combine(&self, a: &mut Moments, b: &Moments) {
        a.merge(b);
    }
    fn finish(&self, acc: &Moments) -> Result<T::Mean> {
        let (re, im) = if acc.n == 0.0 {
            (f64::NAN, if is_complex::<T>() { f64::NAN } else { 0.0 })
        } else {
            (acc.mean, acc.mean_im)
        };
        Ok(T::Mean::from_scalar(Scalar::Complex(re, im)))
    }
    fn reduction(&self) -> Reduction {
        Reduction::Mean
    }
}

/// `var`, or `std` (`sqrt`), with `ddof` delta degrees of freedom: NaN when `ddof` leaves none.
pub(crate) struct Spread {
    ddof: f64,
    sqrt: bool,
}
impl<T: Element> Reducer<T> for Spread {
    type Acc = Moments;
    type Out = T::Var;
    fn fold(&self, lane: ArrayView1<'_, T>, _: usize) -> Moments {
        Moments::of_lane(&lane, true)
    }
    fn init(&self, x: T, _: usize) -> Moments {
        Moments::of(x)
    }
    #[inline]
    fn push(&self, acc: &mut Moments, x: T, _: usize) {
        acc.push(x);
    }
    fn combine(&self, a: &mut Moments, b: &Moments) {
        a.merge(b);
    }
    fn finish(&self, acc: &Moments) -> Result<T::Var> {
        let dof = acc.n - self.ddof;
        let var = if dof <= 0.0 {
            f64::NAN
        } else {
            (acc.m2 + acc.m2_im) / dof
        };
        let v = if self.sqrt { var.sqrt() } else { var };
        Ok(T::Var::from_scalar(Scalar::Float(v)))
    }
    fn reduction(&self) -> Reduction {
        if self.sqrt {
            Reduction::Std { ddof: self.ddof }
        } else {
            Reduction::Var { ddof: self.ddof }
        }
    }
}

/// `any` (`ALL == false`) or `all`: whether some or every element is nonzero.
pub(crate) struct Logical<const ALL: bool>;
impl<T: Element, const ALL: bool> Reducer<T> for Logical<ALL> {
    type Acc = bool;
    type Out = bool;
    fn fold(&self, lane: ArrayView1<'_, T>, _: usize) -> bool {
        if ALL {
            lane.iter().all(|&x| cast::<T, bool>(x))
        } else {
            lane.iter().any(|&x| cast::<T, bool>(x))
        }
    }
    fn init(&self, x: T, _: usize) -> bool {
        cast(x)
    }
    fn push(&self, acc: &mut bool, x: T, _: usize) {
        let x: bool = cast(x);
        *acc = if ALL { *acc && x } else { *acc || x };
    }
    fn combine(&self, a: &mut bool, b: &bool) {
        *a = if ALL { *a && *b } else { *a || *b };
    }
    fn finish(&self, acc: &bool) -> Result<bool> {
        Ok(*acc)
    }
    fn reduction(&self) -> Reduction {
        if ALL {
            Reduction::All
        } else {
            Reduction::Any
        }
    }
}

/// `count_nonzero`: how many elements are not zero (or `false`).
pub(crate) struct CountNonzero;
impl<T: Element> Reducer<T> for CountNonzero {
    type Acc = i64;
    type Out = i64;
    fn fold(&self, lane: ArrayView1<'_, T>, _: usize) -> i64 {
        lane.iter().filter(|&&x| cast::<T, bool>(x)).count() as i64
    }
    fn init(&self, x: T, _: usize) -> i64 {
        i64::from(cast::<T, bool>(x))
    }
    fn push(&self, acc: &mut i64, x: T, _: usize) {
        *acc += i64::from(cast::<T, bool>(x));
    }
    fn combine(&self, a: &mut i64, b: &i64) {
        *a += b;
    }
    fn finish(&self, acc: &i64) -> Result<i64> {
        Ok(*acc)
    }
    fn reduction(&self) -> Reduction {
        Reduction::CountNonzero
    }
}

/// Folds one block over `axes` (sorted), keeping them as length 1. `offsets` are the block's
/// element offsets in the whole array.
fn fold_block<T: Element, R: Reducer<T>>(
    r: &R,
    block: &ArrayD<T>,
    axes: &[usize],
    offsets: &[usize],
) -> ArrayD<R::Acc> {
    let nd = block.ndim();
    if axes.len() == nd && nd > 0 {
        // Every axis: one lane over the whole block.
        let std = block.as_standard_layout();
        let flat = std
            .view()
            .into_shape_with_order(IxDyn(&[block.len()]))
            .expect("standard layout")
            .into_dimensionality::<ndarray::Ix1>()
            .expect("one axis");
        let acc = r.fold(flat, if nd == 1 { offsets[0] } else { 0 });
        return ArrayD::from_elem(IxDyn(&vec![1; nd]), acc);
    }
    if axes.is_empty() || nd == 0 {
        return block.map(|&x| r.init(x, 0));
    }
    if nd == 0 {
        let x = *block.iter().next().expect("a 0-d block has one element");
        return ArrayD::from_elem(IxDyn(&[]), r.init(x, 0));
    }
    // The first folded axis over the elements, then the others over the accumulators.
    let a0 = axes[0];
    let mut acc: ArrayD<R::Acc> = if a0 == nd - 1 || block.len_of(Axis(a0)) == 0 {
        block
            .map_axis(Axis(a0), |lane| r.fold(lane, offsets[a0]))
            .insert_axis(Axis(a0))
    } else {
        // Walk the folded axis in slabs, pushing each slab into the accumulators: contiguous
        // access for a C-order block.
        let mut slabs = block.axis_iter(Axis(a0)).enumerate();
        let (_, first) = slabs.next().expect("a non-empty axis");
        let mut acc = first.map(|&x| r.init(x, offsets[a0]));
        for (i, slab) in slabs {
            Zip::from(&mut acc)
                .and(&slab)
                .for_each(|a, &x| r.push(a, x, offsets[a0] + i));
        }
        acc.insert_axis(Axis(a0))
    };
    for &a in &axes[1..] {
        acc = acc
            .map_axis(Axis(a), |lane| {
                let mut it = lane.iter();
                let Some(first) = it.next() else {
                    // An empty block along this axis: the accumulator of no element.
                    return r.fold(ArrayView1::from(&[] as &[T]), 0);
                };
                let mut first = first.clone();
                for x in it {
                    r.combine(&mut first, x);
                }
                first
            })
            .insert_axis(Axis(a));
    }
    acc
}

/// The kernel folding one block (the input `input`) over `axes`; `start` are the block's element
/// offsets in the whole array.
fn partial_kernel<T: Element, R: Reducer<T>>(
    r: R,
    input: TaskKey,
    axes: Vec<usize>,
    start: Vec<usize>,
) -> Kernel {
    Arc::new(move |vals: Vec<Value>| {
        let block = block_of::<T>(&vals[0], &input)?;
        if start.len() != block.ndim() || axes.iter().any(|&a| a >= block.ndim()) {
            return Err(partita_runtime::Error::failed(
                input.clone(),
                format!(
                    "cannot fold axes {axes:?} at offsets {start:?} of a block of shape {:?}",
                    block.shape()
                ),
            ));
        }
        Ok(value(fold_block(&r, block, &axes, &start)))
    })
}

/// The kernel merging the partial accumulators of its inputs, in order.
fn combine_kernel<T: Element, R: Reducer<T>>(r: R, keys: Vec<TaskKey>) -> Kernel {
    Arc::new(move |vals: Vec<Value>| {
        let mut acc = downcast::<ArrayD<R::Acc>>(&vals[0], &keys[0])?.clone();
        for (v, k) in vals[1..].iter().zip(&keys[1..]) {
            let other = downcast::<ArrayD<R::Acc>>(v, k)?;
            Zip::from(&mut acc)
                .and(other)
                .for_each(|a, b| r.combine(a, b));
        }
        Ok(value(acc))
    })
}

/// The kernel turning the accumulators of `input` into values, dropping the folded `axes`
/// unless `keepdims`.
fn finish_kernel<T: Element, R: Reducer<T>>(
    r: R,
    key: TaskKey,
    input: TaskKey,
    axes: Vec<usize>,
    keepdims: bool,
) -> Kernel {
    Arc::new(move |vals: Vec<Value>| {
        let acc = downcast::<ArrayD<R::Acc>>(&vals[0], &input)?;
        let mut failed = None;
        let done = acc.map(|a| match r.finish(a) {
            Ok(v) => v,
            Err(e) => {
                failed.get_or_insert(e);
                R::Out::default()
            }
        });
        if let Some(e) = failed {
            return Err(partita_runtime::Error::failed_by(key.clone(), e));
        }
        if keepdims {
            return Ok(value(done));
        }
        let shape: Vec<usize> = done
            .shape()
            .iter()
            .enumerate()
            .filter(|(a, _)| !axes.contains(a))
            .map(|(_, &n)| n)
            .collect();
        let dropped = done.into_shape_with_order(IxDyn(&shape)).map_err(|e| {
            partita_runtime::Error::failed(
                key.clone(),
                format!("dropping the folded axes {axes:?}: {e}"),
            )
        })?;
        Ok(value(dropped))
    })
}

/// `array.reduce_partial`: one block folded over `axes` into accumulators.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ReducePartial {
    dtype: DType,
    reduction: Reduction,
    axes: Vec<usize>,
    /// The block's element offsets in the whole array.
    start: Vec<usize>,
}

impl Op for ReducePartial {
    const NAME: &'static str = "array.reduce_partial";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        super::dispatch::arity(Self::NAME, cx, 1)?;
        let (input, axes, start) = (cx.deps[0].clone(), self.axes.clone(), self.start.clone());
        with_reducer!(Self::NAME, cx.key, self.reduction, self.dtype, r, T => {
            Ok(partial_kernel::<T, _>(r, input, axes, start))
        })
    }
}

register_op!(ReducePartial);

/// `array.reduce_combine`: the accumulators of several partial blocks merged.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ReduceCombine {
    dtype: DType,
    reduction: Reduction,
}

impl Op for ReduceCombine {
    const NAME: &'static str = "array.reduce_combine";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        if cx.deps.is_empty() {
            return Err(partita_runtime::Error::failed(
                cx.key.clone(),
                format!("{} needs at least one input", Self::NAME),
            ));
        }
        let keys = cx.deps.to_vec();
        with_reducer!(Self::NAME, cx.key, self.reduction, self.dtype, r, T => {
            Ok(combine_kernel::<T, _>(r, keys))
        })
    }
}

register_op!(ReduceCombine);

/// `array.reduce_finish`: accumulators to values, the folded axes dropped unless `keepdims`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ReduceFinish {
    dtype: DType,
    reduction: Reduction,
    axes: Vec<usize>,
    keepdims: bool,
}

impl Op for ReduceFinish {
    const NAME: &'static str = "array.reduce_finish";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        super::dispatch::arity(Self::NAME, cx, 1)?;
        let (key, input, axes) = (cx.key.clone(), cx.deps[0].clone(), self.axes.clone());
        let keepdims = self.keepdims;
        with_reducer!(Self::NAME, cx.key, self.reduction, self.dtype, r, T => {
            Ok(finish_kernel::<T, _>(r, key, input, axes, keepdims))
        })
    }
}

register_op!(ReduceFinish);

impl<T: Element> Array<T> {
    /// The tree reduction of `self` by `r` over `axes`.
    pub(crate) fn reduce<R: Reducer<T>>(
        &self,
        r: R,
        axes: &Axes,
        op: &str,
    ) -> Result<Array<R::Out>> {
        let (axes, keepdims) = axes.resolve(self.ndim())?;
        let (dtype, reduction) = (T::DTYPE, r.reduction());
        let nd = self.ndim();
        // Partial accumulators, one block per input block.
        let name = unique(&format!("{op}-partial"));
        let offsets: Vec<Vec<usize>> = (0..nd).map(|a| self.chunks.offsets(a)).collect();
        let mut grid = self.chunks.grid();
        let kept = |grid: &[usize]| {
            let sizes = (0..nd).map(|a| vec![1; grid[a]]).collect::<Vec<_>>();
            Chunks::from_sizes(sizes)
        };
        let tasks = self.chunks.blocks().map(|b| {
            let op = ReducePartial {
                dtype,
                reduction,
                axes: axes.clone(),
                start: b.iter().enumerate().map(|(a, &i)| offsets[a][i]).collect(),
            };
            let key = TaskKey::new(name.clone(), self.chunks.flat(&b));
            (key, vec![self.key(&b)], op)
        });
        let mut graph = self.graph.clone();
        layer::layer(&mut graph, &name, tasks);
        let mut level = name;
        // Combine groups of partials until one is left along each folded axis.
        let combine = ReduceCombine { dtype, reduction };
        while axes.iter().any(|&a| grid[a] > 1) {
            let old = kept(&grid);
            let next_grid: Vec<usize> = (0..nd)
                .map(|a| {
                    if axes.contains(&a) {
                        grid[a].div_ceil(SPLIT_EVERY)
                    } else {
                        grid[a]
                    }
                })
                .collect();
            let new = kept(&next_grid);
            let name = unique(&format!("{op}-combine"));
            // In C order over `new`'s grid, so task `i` is block `i` of `new`.
            let deps = new.blocks().map(|b| {
                let mut groups: Vec<Vec<usize>> = vec![vec![]];
                for a in 0..nd {
                    let range: Vec<usize> = if axes.contains(&a) {
                        (b[a] * SPLIT_EVERY..((b[a] + 1) * SPLIT_EVERY).min(grid[a])).collect()
                    } else {
                        vec![b[a]]
                    };
                    groups = groups
                        .into_iter()
                        .flat_map(|g| {
                            range.iter().map(move |&i| {
                                let mut g = g.clone();
                                g.push(i);
                                g
                            })
                        })
                        .collect();
                }
                groups
                    .iter()
                    .map(|p| TaskKey::new(level.clone(), old.flat(p)))
                    .collect::<Vec<TaskKey>>()
            });
            layer::blockwise(&mut graph, &name, &combine, deps);
            level = name;
            grid = next_grid;
        }
        // Accumulators to values, dropping the folded axes unless kept.
        let last = kept(&grid);
        let mut sizes: Vec<Vec<usize>> = Vec::with_capacity(nd);
        for a in 0..nd {
            if !axes.contains(&a) {
                sizes.push(self.chunks.axis(a).to_vec());
            } else if keepdims {
                sizes.push(vec![1]);
            }
        }
        let out = Chunks::from_sizes(sizes);
        let name = unique(op);
        let finish = ReduceFinish {
            dtype,
            reduction,
            axes,
            keepdims,
        };
        let deps = (0..last.nblocks() as u64).map(|i| vec![TaskKey::new(level.clone(), i)]);
        layer::blockwise(&mut graph, &name, &finish, deps);
        // The output's block numbering: the grid over the kept axes (and the length-1 folded
        // ones), which is the same C order as `last`'s.
        Ok(Array::from_graph(graph, name, out))
    }
}

impl<T: Element> Array<T> {
    /// The sum over `axes`, in NumPy's type for it ([`Element::Sum`]): `bool` and integers
    /// narrower than 64 bits are summed as `int64` or `uint64`, so they do not wrap; wider
    /// integers wrap, as NumPy's do.
    ///
    /// ```
    /// use ndarray::array;
    /// use partita_collections::{axis, Array, Axes};
    /// let x = Array::from_array(array![[1_i32, 2, 3], [4, 5, 6]], &[1, 2])?;
    /// assert_eq!(x.sum(axis(1))?.compute()?, array![6_i64, 15].into_dyn());
    /// assert_eq!(x.sum(axis(0).keepdims())?.compute()?, array![[5_i64, 7, 9]].into_dyn());
    /// assert_eq!(x.sum(Axes::All)?.compute_scalar()?, 21_i64);
    /// // As numpy.array([100, 100], dtype=numpy.int8).sum(): 200, not -56.
    /// let small = Array::from_array(array![100_i8, 100], &[1])?;
    /// assert_eq!(small.sum(Axes::All)?.compute_scalar()?, 200_i64);
    /// let flags = Array::from_array(array![true, false, true], &[2])?;
    /// assert_eq!(flags.sum(Axes::All)?.compute_scalar()?, 2_i64);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) naming an axis out of range.
    pub fn sum(&self, axes: impl Into<Axes>) -> Result<Array<T::Sum>> {
        self.reduce(Sum, &axes.into(), "sum")
    }

    /// The product over `axes`, in [`Element::Sum`] as [`sum`](Array::sum) is.
    ///
    /// ```
    /// use partita_collections::{Array, Axes};
    /// let x = Array::from_array(ndarray::array![16_u8, 16, 2], &[2])?;
    /// assert_eq!(x.prod(Axes::All)?.compute_scalar()?, 512_u64);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn prod(&self, axes: impl Into<Axes>) -> Result<Array<T::Sum>> {
        self.reduce(Prod, &axes.into(), "prod")
    }

    /// The arithmetic mean over `axes`, accumulated in `f64`: `float64` for `bool` and the
    /// integers, the input's type for floats and complex numbers ([`Element::Mean`]). NaN over
    /// no element.
    ///
    /// ```
    /// use partita_collections::{Array, Axes, C128};
    /// let x = Array::from_array(ndarray::array![true, false, false, true], &[2])?;
    /// assert_eq!(x.mean(Axes::All)?.compute_scalar()?, 0.5);
    /// let z = Array::from_array(ndarray::array![C128::new(1.0, 2.0), C128::new(3.0, 0.0)], &[1])?;
    /// assert_eq!(z.mean(Axes::All)?.compute_scalar()?, C128::new(2.0, 1.0));
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn mean(&self, axes: impl Into<Axes>) -> Result<Array<T::Mean>> {
        self.reduce(Mean, &axes.into(), "mean")
    }

    /// The variance over `axes` with `ddof` delta degrees of freedom (NumPy's default is 0),
    /// always real ([`Element::Var`]): a complex variance is that of the real parts plus that
    /// of the imaginary parts.
    ///
    /// ```
    /// use partita_collections::{Array, Axes, C128};
    /// let z = Array::from_array(ndarray::array![C128::new(1.0, 1.0), C128::new(-1.0, -1.0)], &[1])?;
    /// // numpy.var([1+1j, -1-1j]) == 2.0
    /// assert_eq!(z.var(Axes::All, 0)?.compute_scalar()?, 2.0);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn var(&self, axes: impl Into<Axes>, ddof: usize) -> Result<Array<T::Var>> {
        let spread = Spread {
            ddof: ddof as f64,
            sqrt: false,
        };
        self.reduce(spread, &axes.into(), "var")
    }

    /// The standard deviation over `axes` with `ddof` delta degrees of freedom, in
    /// [`Element::Var`] as [`var`](Array::var) is.
    ///
    /// ```
    /// use partita_collections::{Array, Axes};
    /// let x = Array::from_array(ndarray::array![2.0_f64, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], &[3])?;
    /// assert_eq!(x.std(Axes::All, 0)?.compute_scalar()?, 2.0);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn std(&self, axes: impl Into<Axes>, ddof: usize) -> Result<Array<T::Var>> {
        let spread = Spread {
            ddof: ddof as f64,
            sqrt: true,
        };
        self.reduce(spread, &axes.into(), "std")
    }

    /// Whether any element over `axes` is nonzero (`true`, for `bool`).
    ///
    /// ```
    /// use ndarray::array;
    /// use partita_collections::{axis, Array};
    /// let x = Array::from_array(array![[0, 0], [0, 3]], &[1, 2])?;
    /// assert_eq!(x.any(axis(1))?.compute()?, array![false, true].into_dyn());
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn any(&self, axes: impl Into<Axes>) -> Result<Array<bool>> {
        self.reduce(Logical::<false>, &axes.into(), "any")
    }

    /// Whether every element over `axes` is nonzero (`true`, for `bool`).
    pub fn all(&self, axes: impl Into<Axes>) -> Result<Array<bool>> {
        self.reduce(Logical::<true>, &axes.into(), "all")
    }

    /// How many elements over `axes` are nonzero (`true`, for `bool`), as `int64`: NumPy's
    /// `count_nonzero`.
    ///
    /// ```
    /// use ndarray::array;
    /// use partita_collections::{axis, Array, Axes};
    /// let x = Array::from_array(array![[0.0, 1.5], [f64::NAN, 0.0]], &[1, 2])?;
    /// assert_eq!(x.count_nonzero(axis(0))?.compute()?, array![1_i64, 1].into_dyn());
    /// assert_eq!(x.count_nonzero(Axes::All)?.compute_scalar()?, 2);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn count_nonzero(&self, axes: impl Into<Axes>) -> Result<Array<i64>> {
        self.reduce(CountNonzero, &axes.into(), "count_nonzero")
    }
}

impl<T: Real> Array<T> {
    /// The minimum over `axes` (NaN if any element is NaN). Computing it fails on an empty axis.
    pub fn min(&self, axes: impl Into<Axes>) -> Result<Array<T>> {
        self.reduce(Extreme::<false>, &axes.into(), "min")
    }

    /// The maximum over `axes` (NaN if any element is NaN). Computing it fails on an empty axis.
    pub fn max(&self, axes: impl Into<Axes>) -> Result<Array<T>> {
        self.reduce(Extreme::<true>, &axes.into(), "max")
    }

    /// The position of the first minimum along `axis` (use [`reshape`](Array::reshape) to a
    /// single axis for NumPy's flat `argmin()`).
    ///
    /// ```
    /// use ndarray::array;
    /// let x = partita_collections::Array::from_array(array![[3, 1, 2], [0, 5, 0]], &[1, 2])?;
    /// assert_eq!(x.argmin(1)?.compute()?, array![1_u64, 0].into_dyn());
    /// assert_eq!(x.argmax(0)?.compute()?, array![0_u64, 1, 0].into_dyn());
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    pub fn argmin(&self, axis: isize) -> Result<Array<u64>> {
        self.reduce(ArgExtreme::<false>, &super::axis(axis), "argmin")
    }

    /// The position of the first maximum along `axis`.
    pub fn argmax(&self, axis: isize) -> Result<Array<u64>> {
        self.reduce(ArgExtreme::<true>, &super::axis(axis), "argmax")
    }
}
