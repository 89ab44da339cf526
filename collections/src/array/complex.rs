//! The parts of complex numbers, element-wise, as NumPy's `real`, `imag`, `conj`, `angle` and
//! `abs` give them: every one but `conj` is real, in the type of the parts (`float32` for
//! `complex64`, `float64` for `complex128`).

use partita_runtime::{Kernel, TaskContext};
use serde::{Deserialize, Serialize};

use super::dispatch::{arity, unsupported};
use super::dtype::{DType, Element, C128, C64};
use super::elementwise::map_kernel;
use super::Array;
use crate::layer::{register_op, Op};

/// One function of a complex element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ComplexFn {
    Real,
    Imag,
    Conj,
    /// The argument, in radians in (-π, π], as `numpy.angle`.
    Angle,
    /// The modulus, as `numpy.abs`.
    Abs,
}

/// `array.complex`: a [`ComplexFn`] of each element of a `complex64` or `complex128` block.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ComplexOp {
    dtype: DType,
    func: ComplexFn,
}

/// The kernel of `func` on complex elements of type `Complex<F>`.
macro_rules! complex_kernel {
    ($input:expr, $func:expr, $c:ty) => {
        match $func {
            ComplexFn::Real => map_kernel::<$c, _>($input, |z: $c| z.re),
            ComplexFn::Imag => map_kernel::<$c, _>($input, |z: $c| z.im),
            ComplexFn::Conj => map_kernel::<$c, $c>($input, |z: $c| z.conj()),
            ComplexFn::Angle => map_kernel::<$c, _>($input, |z: $c| z.arg()),
            ComplexFn::Abs => map_kernel::<$c, _>($input, |z: $c| z.norm()),
        }
    };
}

impl Op for ComplexOp {
    const NAME: &'static str = "array.complex";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        arity(Self::NAME, cx, 1)?;
        let input = cx.deps[0].clone();
        match self.dtype {
            DType::C64 => Ok(complex_kernel!(input, self.func, C64)),
            DType::C128 => Ok(complex_kernel!(input, self.func, C128)),
            other => Err(unsupported(Self::NAME, other, cx.key)),
        }
    }
}

register_op!(ComplexOp);

impl<T: Element> Array<T> {
    fn complex_op<U: Element>(&self, func: ComplexFn) -> Array<U> {
        let op = ComplexOp {
            dtype: T::DTYPE,
            func,
        };
        self.op_blockwise1(self.chunks.clone(), "complex", &op)
    }
}

/// The methods of both complex types, each with `$f` the type of its parts.
macro_rules! complex_methods {
    ($c:ty, $f:ty) => {
        impl Array<$c> {
            /// The real part of each element.
            ///
            /// ```
            /// use partita_collections::{Array, C128};
            /// let z = Array::from_array(ndarray::array![C128::new(3.0, -4.0), C128::new(0.0, 1.0)], &[1])?;
            /// assert_eq!(z.real().compute()?.into_raw_vec_and_offset().0, vec![3.0, 0.0]);
            /// assert_eq!(z.imag().compute()?.into_raw_vec_and_offset().0, vec![-4.0, 1.0]);
            /// assert_eq!(z.abs().compute()?.into_raw_vec_and_offset().0, vec![5.0, 1.0]);
            /// assert_eq!(z.angle().compute()?.into_raw_vec_and_offset().0[1], std::f64::consts::FRAC_PI_2);
            /// assert_eq!(z.conj().compute()?.into_raw_vec_and_offset().0[0], C128::new(3.0, 4.0));
            /// # Ok::<(), partita_collections::Error>(())
            /// ```
            pub fn real(&self) -> Array<$f> {
                self.complex_op(ComplexFn::Real)
            }

            /// The imaginary part of each element.
            pub fn imag(&self) -> Array<$f> {
                self.complex_op(ComplexFn::Imag)
            }

            /// The complex conjugate of each element.
            pub fn conj(&self) -> Array<$c> {
                self.complex_op(ComplexFn::Conj)
            }

            /// The argument of each element in radians, in (-π, π] (`numpy.angle`).
            pub fn angle(&self) -> Array<$f> {
                self.complex_op(ComplexFn::Angle)
            }

            /// The modulus of each element, a real number as `numpy.abs` gives it.
            pub fn abs(&self) -> Array<$f> {
                self.complex_op(ComplexFn::Abs)
            }
        }
    };
}

complex_methods!(C64, f32);
complex_methods!(C128, f64);
