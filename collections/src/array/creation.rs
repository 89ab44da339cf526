//! Arrays made from nothing: constants, ranges and seeded random numbers. Each block is made by
//! its own task, so nothing is held before it is needed.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use partita_runtime::{value, Graph, Kernel, TaskContext, TaskKey};
use serde::{Deserialize, Serialize};

use super::chunks::Chunks;
use super::dispatch::{any_dtype, arity, numeric_dtype, on_dtypes};
use super::dtype::{DType, Element, Numeric, Scalar};
use super::Array;
use crate::error::Result;
use crate::layer::{self, register_op, Op};
use crate::names::unique;

/// What a generated block holds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Fill {
    /// One value everywhere.
    Full(Scalar),
    /// Each element's position along the one axis.
    Arange,
    /// `num` evenly spaced values from `start` to `stop`.
    Linspace { start: f64, stop: f64, num: usize },
    /// Uniform random `f64`s in `[0, 1)`, from the block's own generator.
    Random { seed: u64 },
}

/// `array.generate`: one block made from nothing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct GenerateOp {
    dtype: DType,
    fill: Fill,
    /// The block's number in C order over the block grid.
    block: u64,
    /// The block's element offsets in the whole array.
    start: Vec<usize>,
    /// The block's shape.
    shape: Vec<usize>,
}

/// The kernel making a block with `make(start, shape)`.
fn make_kernel<T: Element>(
    start: Vec<usize>,
    shape: Vec<usize>,
    make: impl Fn(&[usize], &[usize]) -> ArrayD<T> + Send + Sync + 'static,
) -> Kernel {
    Arc::new(move |_| Ok(value(make(&start, &shape))))
}

impl Op for GenerateOp {
    const NAME: &'static str = "array.generate";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        const N: &str = GenerateOp::NAME;
        arity(N, cx, 0)?;
        let (start, shape, key, dt) = (self.start.clone(), self.shape.clone(), cx.key, self.dtype);
        if matches!(self.fill, Fill::Arange | Fill::Linspace { .. }) && start.len() != 1 {
            return Err(partita_runtime::Error::failed(
                key.clone(),
                format!("{N}: a range has one axis, not {}", start.len()),
            ));
        }
        match self.fill {
            Fill::Full(fill) => any_dtype!(N, key, dt, T => {
                let fill = T::from_scalar(fill);
                Ok(make_kernel::<T>(start, shape, move |_, s| ArrayD::from_elem(IxDyn(s), fill)))
            }),
            Fill::Arange => numeric_dtype!(N, key, dt, T => {
                Ok(make_kernel::<T>(start, shape, |start, s| {
                    ArrayD::from_shape_fn(IxDyn(s), |i| T::from_usize(start[0] + i[0]))
                }))
            }),
            Fill::Linspace {
                start: from,
                stop,
                num,
            } => numeric_dtype!(N, key, dt, T => {
                let step = if num > 1 {
                    (stop - from) / (num - 1) as f64
                } else {
                    0.0
                };
                Ok(make_kernel::<T>(start, shape, move |off, s| {
                    ArrayD::from_shape_fn(IxDyn(s), |i| {
                        let k = off[0] + i[0];
                        // NumPy sets the last point to `stop` exactly.
                        T::from_f64(if k + 1 == num && num > 1 {
                            stop
                        } else {
                            from + k as f64 * step
                        })
                    })
                }))
            }),
            Fill::Random { seed } => on_dtypes!(N, key, dt, T => {
                let block = self.block;
                Ok(make_kernel::<T>(start, shape, move |_, s| {
                    let mut rng = Xoshiro::new(seed, block);
                    ArrayD::from_shape_simple_fn(IxDyn(s), || rng.next_f64())
                }))
            }; F64 => f64),
        }
    }
}

register_op!(GenerateOp);

impl<T: Element> Array<T> {
    /// A layer whose every block is generated with `fill`.
    fn generate(shape: &[usize], chunk: &[usize], op: &str, fill: Fill) -> Result<Array<T>> {
        let chunks = Chunks::uniform(shape, chunk)?;
        let name = unique(op);
        let offsets: Vec<Vec<usize>> = (0..chunks.ndim()).map(|a| chunks.offsets(a)).collect();
        let tasks = chunks.blocks().map(|b| {
            let block = chunks.flat(&b);
            let op = GenerateOp {
                dtype: T::DTYPE,
                fill,
                block,
                start: b.iter().enumerate().map(|(a, &i)| offsets[a][i]).collect(),
                shape: chunks.block_shape(&b),
            };
            (TaskKey::new(name.clone(), block), vec![], op)
        });
        let mut graph = Graph::new();
        layer::layer(&mut graph, &name, tasks);
        Ok(Array::from_graph(graph, name, chunks))
    }

    /// An array of `shape` filled with `fill`, in blocks of `chunk`.
    ///
    /// ```
    /// let x = partita_collections::Array::full(&[3, 2], &[2, 2], 7_u8)?;
    /// assert_eq!(x.compute()?.sum(), 42);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) when `chunk` does not fit `shape`.
    pub fn full(shape: &[usize], chunk: &[usize], fill: T) -> Result<Array<T>> {
        Array::generate(shape, chunk, "full", Fill::Full(fill.to_scalar()))
    }
}

impl<T: Numeric> Array<T> {
    /// An array of zeros.
    ///
    /// # Errors
    /// As [`full`](Array::full).
    pub fn zeros(shape: &[usize], chunk: &[usize]) -> Result<Array<T>> {
        Array::full(shape, chunk, T::zero())
    }

    /// An array of ones.
    ///
    /// # Errors
    /// As [`full`](Array::full).
    pub fn ones(shape: &[usize], chunk: &[usize]) -> Result<Array<T>> {
        Array::full(shape, chunk, T::one())
    }

    /// `0, 1, ..., n - 1` in blocks of `chunk`.
    ///
    /// ```
    /// let x = partita_collections::Array::<i32>::arange(5, 2)?;
    /// assert_eq!(x.chunks().axis(0), &[2, 2, 1]);
    /// assert_eq!(x.compute()?.into_raw_vec_and_offset().0, vec![0, 1, 2, 3, 4]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) when `chunk` is 0.
    pub fn arange(n: usize, chunk: usize) -> Result<Array<T>> {
        Array::generate(&[n], &[chunk], "arange", Fill::Arange)
    }

    /// `num` evenly spaced values from `start` to `stop` inclusive, as NumPy's `linspace`.
    ///
    /// ```
    /// let x = partita_collections::Array::<f64>::linspace(0.0, 1.0, 5, 2)?;
    /// assert_eq!(x.compute()?.into_raw_vec_and_offset().0, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) when `chunk` is 0.
    pub fn linspace(start: f64, stop: f64, num: usize, chunk: usize) -> Result<Array<T>> {
        Array::generate(
            &[num],
            &[chunk],
            "linspace",
            Fill::Linspace { start, stop, num },
        )
    }
}

impl Array<f64> {
    /// Uniform random numbers in `[0, 1)`, reproducible from `seed`: each block draws from its
    /// own generator (xoshiro256++ seeded from `seed` and the block's number by SplitMix64), so
    /// the values do not depend on the scheduler or the order blocks run in.
    ///
    /// ```
    /// let a = partita_collections::Array::random(&[100, 10], &[30, 10], 42)?.compute()?;
    /// let b = partita_collections::Array::random(&[100, 10], &[30, 10], 42)?.compute()?;
    /// assert_eq!(a, b);
    /// assert!(a.iter().all(|v| (0.0..1.0).contains(v)));
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) when `chunk` does not fit `shape`.
    pub fn random(shape: &[usize], chunk: &[usize], seed: u64) -> Result<Array<f64>> {
        Array::generate(shape, chunk, "random", Fill::Random { seed })
    }
}

/// xoshiro256++ (Blackman and Vigna), seeded by SplitMix64.
struct Xoshiro([u64; 4]);

impl Xoshiro {
    fn new(seed: u64, stream: u64) -> Xoshiro {
        let mut x = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Xoshiro([next(), next(), next(), next()])
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    #[inline]
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1_u64 << 53) as f64)
    }
}
