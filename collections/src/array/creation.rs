//! Arrays made from nothing: constants, ranges and seeded random numbers. Each block is made by
//! its own task, so nothing is held before it is needed.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use partita_runtime::{value, Graph, Task, TaskKey};

use super::chunks::Chunks;
use super::dtype::{Element, Numeric};
use super::Array;
use crate::error::Result;
use crate::names::unique;

impl<T: Element> Array<T> {
    /// A layer whose block at grid position `b` (with its element offsets) is `make(b, offsets)`.
    fn generate<F>(shape: &[usize], chunk: &[usize], op: &str, make: F) -> Result<Array<T>>
    where
        F: Fn(&[usize], &[usize], &[usize]) -> ArrayD<T> + Send + Sync + 'static,
    {
        let chunks = Chunks::uniform(shape, chunk)?;
        let name = unique(op);
        let make = Arc::new(make);
        let offsets: Vec<Vec<usize>> = (0..chunks.ndim()).map(|a| chunks.offsets(a)).collect();
        let tasks = chunks
            .blocks()
            .map(|b| {
                let make = make.clone();
                let start: Vec<usize> = b.iter().enumerate().map(|(a, &i)| offsets[a][i]).collect();
                let bshape = chunks.block_shape(&b);
                let pos = b.clone();
                Task::new(
                    TaskKey::new(name.clone(), chunks.flat(&b)),
                    vec![],
                    Arc::new(move |_| Ok(value(make(&pos, &start, &bshape)))),
                )
            })
            .collect();
        let mut graph = Graph::new();
        graph.add_layer(name.clone(), tasks);
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
        Array::generate(shape, chunk, "full", move |_, _, s| {
            ArrayD::from_elem(IxDyn(s), fill)
        })
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
        Array::generate(&[n], &[chunk], "arange", |_, start, s| {
            ArrayD::from_shape_fn(IxDyn(s), |i| T::from_usize(start[0] + i[0]))
        })
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
        let step = if num > 1 {
            (stop - start) / (num - 1) as f64
        } else {
            0.0
        };
        Array::generate(&[num], &[chunk], "linspace", move |_, off, s| {
            ArrayD::from_shape_fn(IxDyn(s), |i| {
                let k = off[0] + i[0];
                // NumPy sets the last point to `stop` exactly.
                T::from_f64(if k + 1 == num && num > 1 {
                    stop
                } else {
                    start + k as f64 * step
                })
            })
        })
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
        let grid = Chunks::uniform(shape, chunk)?;
        Array::generate(shape, chunk, "random", move |b, _, s| {
            let mut rng = Xoshiro::new(seed, grid.flat(b));
            ArrayD::from_shape_simple_fn(IxDyn(s), || rng.next_f64())
        })
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
