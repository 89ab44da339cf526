//! Blocked matrix multiplication.
//!
//! Block `(i, j)` of `a @ b` is one task summing `a[i, l] @ b[l, j]` over `l` with ndarray's
//! GEMM (matrixmultiply for floats: SIMD kernels chosen at run time). The product of an array
//! with its own transpose is symmetric, so for `a @ a.t()` only the blocks on and above the
//! diagonal are multiplied; the others are their mirrors, as BLAS's `syrk` does.

use std::sync::Arc;

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayD, Ix2, LinalgScalar};
use partita_runtime::{value, Kernel, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::block::{block_of, take_block};
use super::chunks::Chunks;
use super::dispatch::{arity, numeric_dtype};
use super::dtype::{DType, Numeric};
use super::Array;
use crate::error::{Error, Result};
use crate::layer::{self, register_op, Op};
use crate::names::unique;

/// What one block of a matrix product is.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum MatmulBlock {
    /// The sum of `inner` products of an `a` block and a `b` block (or, `symmetric`, of two `a`
    /// blocks, the second transposed), into a `rows` by `cols` block.
    Product {
        inner: usize,
        rows: usize,
        cols: usize,
        symmetric: bool,
    },
    /// The transpose of its one input: the mirror block of a symmetric product.
    Mirror,
}

/// `array.matmul`: one block of a matrix product of `dtype`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct MatmulOp {
    dtype: DType,
    block: MatmulBlock,
}

fn mirror_kernel<T: Numeric>(k: TaskKey) -> Kernel {
    Arc::new(move |mut vals: Vec<Value>| {
        let m = take_block::<T>(vals.swap_remove(0), &k)?;
        Ok(value(m.reversed_axes().as_standard_layout().into_owned()))
    })
}

fn product_kernel<T: Numeric + LinalgScalar>(
    keys: Vec<TaskKey>,
    inner: usize,
    rows: usize,
    cols: usize,
    symmetric: bool,
) -> Kernel {
    Arc::new(move |vals: Vec<Value>| {
        let mut out = Array2::<T>::zeros((rows, cols));
        for l in 0..inner {
            let x = as2(block_of::<T>(&vals[l], &keys[l])?, &keys[l])?;
            let y = as2(
                block_of::<T>(&vals[inner + l], &keys[inner + l])?,
                &keys[inner + l],
            )?;
            let fits = if symmetric {
                x.ncols() == y.ncols() && (x.nrows(), y.nrows()) == (rows, cols)
            } else {
                x.ncols() == y.nrows() && (x.nrows(), y.ncols()) == (rows, cols)
            };
            if !fits {
                return Err(partita_runtime::Error::failed(
                    keys[l].clone(),
                    format!(
                        "matmul: blocks of shapes {:?} and {:?} do not make a {rows}x{cols} block",
                        x.shape(),
                        y.shape()
                    ),
                ));
            }
            if symmetric {
                general_mat_mul(
                    <T as Numeric>::one(),
                    &x,
                    &y.t(),
                    <T as Numeric>::one(),
                    &mut out,
                );
            } else {
                general_mat_mul(
                    <T as Numeric>::one(),
                    &x,
                    &y,
                    <T as Numeric>::one(),
                    &mut out,
                );
            }
        }
        Ok(value(out.into_dyn()))
    })
}

impl Op for MatmulOp {
    const NAME: &'static str = "array.matmul";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        const N: &str = MatmulOp::NAME;
        match self.block {
            MatmulBlock::Mirror => {
                arity(N, cx, 1)?;
                let k = cx.deps[0].clone();
                numeric_dtype!(N, cx.key, self.dtype, T => Ok(mirror_kernel::<T>(k)))
            }
            MatmulBlock::Product {
                inner,
                rows,
                cols,
                symmetric,
            } => {
                arity(N, cx, inner.saturating_mul(2))?;
                let keys = cx.deps.to_vec();
                numeric_dtype!(N, cx.key, self.dtype, T => {
                    Ok(product_kernel::<T>(keys, inner, rows, cols, symmetric))
                })
            }
        }
    }
}

register_op!(MatmulOp);

fn as2<'a, T: Clone>(
    b: &'a ArrayD<T>,
    key: &TaskKey,
) -> partita_runtime::Result<ndarray::ArrayView2<'a, T>> {
    b.view().into_dimensionality::<Ix2>().map_err(|e| {
        partita_runtime::Error::failed(key.clone(), format!("matmul needs 2-d blocks: {e}"))
    })
}

impl<T: Numeric + LinalgScalar> Array<T> {
    /// The matrix product of two 2-d arrays (NumPy's `a @ b`). `b`'s rows are rechunked to
    /// match `a`'s columns when they differ.
    ///
    /// ```
    /// use ndarray::array;
    /// use partita_collections::Array;
    /// let a = Array::from_array(array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], &[2, 1])?;
    /// let b = Array::from_array(array![[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]], &[2, 2])?;
    /// let c = a.matmul(&b)?;
    /// assert_eq!(c.compute()?, array![[1.0, 2.0, 8.0], [3.0, 4.0, 18.0], [5.0, 6.0, 28.0]].into_dyn());
    /// let g = a.matmul(&a.t())?; // symmetric: only the upper blocks are multiplied
    /// assert_eq!(g.compute()?, array![[5.0, 11.0, 17.0], [11.0, 25.0, 39.0], [17.0, 39.0, 61.0]].into_dyn());
    /// # Ok::<(), partita_collections::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] when either array is not 2-d or the inner dimensions differ.
    pub fn matmul(&self, b: &Array<T>) -> Result<Array<T>> {
        let (sa, sb) = (self.shape(), b.shape());
        if sa.len() != 2 || sb.len() != 2 || sa[1] != sb[0] {
            return Err(Error::shape(format!(
                "matmul: shapes {sa:?} and {sb:?} are not aligned (need 2-d arrays with a.shape[1] == b.shape[0])"
            )));
        }
        let symmetric = b.transpose_of.as_deref() == Some(&*self.name);
        let b = if symmetric {
            b.clone()
        } else {
            b.rechunk_to(Chunks::from_sizes(vec![
                self.chunks.axis(1).to_vec(),
                b.chunks.axis(1).to_vec(),
            ]))?
        };
        let inner = self.chunks.axis(1).len();
        let chunks = Chunks::from_sizes(vec![
            self.chunks.axis(0).to_vec(),
            b.chunks.axis(1).to_vec(),
        ]);
        let name = unique("matmul");
        let tasks = chunks.blocks().map(|p| {
            let (i, j) = (p[0], p[1]);
            let key = TaskKey::new(name.clone(), chunks.flat(&p));
            if symmetric && i > j {
                // The mirror of block (j, i).
                let src = TaskKey::new(name.clone(), chunks.flat(&[j, i]));
                let op = MatmulOp {
                    dtype: T::DTYPE,
                    block: MatmulBlock::Mirror,
                };
                return (key, vec![src], op);
            }
            let mut deps: Vec<TaskKey> = (0..inner).map(|l| self.key(&[i, l])).collect();
            if symmetric {
                deps.extend((0..inner).map(|l| self.key(&[j, l])));
            } else {
                deps.extend((0..inner).map(|l| b.key(&[l, j])));
            }
            let op = MatmulOp {
                dtype: T::DTYPE,
                block: MatmulBlock::Product {
                    inner,
                    rows: chunks.axis(0)[i],
                    cols: chunks.axis(1)[j],
                    symmetric,
                },
            };
            (key, deps, op)
        });
        let mut graph = self.graph.clone();
        graph.merge(&b.graph);
        layer::layer(&mut graph, &name, tasks);
        Ok(Array::from_graph(graph, name, chunks))
    }

    /// [`matmul`](Self::matmul), by its NumPy name.
    ///
    /// # Errors
    /// As [`matmul`](Self::matmul).
    pub fn dot(&self, b: &Array<T>) -> Result<Array<T>> {
        self.matmul(b)
    }
}
