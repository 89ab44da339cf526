//! Element types: NumPy's dtype table plus 128-bit integers, the numeric traits the array
//! kernels are written against, and NumPy's safe-casting and promotion rules.
//!
//! Integer arithmetic wraps and integer division by zero gives 0, as NumPy does (without its
//! warnings), so no kernel can panic on data.

use std::fmt;

use num_complex::Complex;
use serde::{Deserialize, Serialize};

/// complex64: two `f32`s, as NumPy's `complex64`.
pub type C64 = Complex<f32>;
/// complex128: two `f64`s, as NumPy's `complex128`.
pub type C128 = Complex<f64>;

/// An array element type, named as NumPy names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DType {
    /// `bool`
    Bool,
    /// `int8`
    I8,
    /// `int16`
    I16,
    /// `int32`
    I32,
    /// `int64`
    I64,
    /// 128-bit signed integer (beyond NumPy).
    I128,
    /// `uint8`
    U8,
    /// `uint16`
    U16,
    /// `uint32`
    U32,
    /// `uint64`
    U64,
    /// 128-bit unsigned integer (beyond NumPy).
    U128,
    /// `float32`
    F32,
    /// `float64`
    F64,
    /// `complex64`
    C64,
    /// `complex128`
    C128,
}

/// The kind of a dtype, as NumPy's `dtype.kind` letters group them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Signed,
    Unsigned,
    Float,
    Complex,
}

impl DType {
    /// Every dtype, in the order [`promote`](DType::promote) tries them as a common type.
    pub const ALL: [DType; 15] = [
        DType::Bool,
        DType::U8,
        DType::I8,
        DType::U16,
        DType::I16,
        DType::U32,
        DType::I32,
        DType::U64,
        DType::I64,
        DType::F32,
        DType::F64,
        DType::C64,
        DType::C128,
        DType::I128,
        DType::U128,
    ];

    /// NumPy's name for the type (`"float64"`), or `"int128"`/`"uint128"`.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::I128 => "int128",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::U128 => "uint128",
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::C64 => "complex64",
            DType::C128 => "complex128",
        }
    }

    /// The size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 | DType::C64 => 8,
            DType::I128 | DType::U128 | DType::C128 => 16,
        }
    }

    fn kind(self) -> Kind {
        match self {
            DType::Bool => Kind::Bool,
            DType::I8 | DType::I16 | DType::I32 | DType::I64 | DType::I128 => Kind::Signed,
            DType::U8 | DType::U16 | DType::U32 | DType::U64 | DType::U128 => Kind::Unsigned,
            DType::F32 | DType::F64 => Kind::Float,
            DType::C64 | DType::C128 => Kind::Complex,
        }
    }

    /// The bits of mantissa a float (or each half of a complex) has, counting the implicit one.
    fn mantissa(self) -> u32 {
        match self {
            DType::F32 | DType::C64 => 24,
            _ => 53,
        }
    }

    /// Whether every value of `self` converts to `to` without loss, by NumPy's `can_cast(...,
    /// casting="safe")` table. As in NumPy, `int64` and `uint64` cast safely to `float64`. The
    /// 128-bit integers go beyond NumPy: smaller integers widen into them exactly, and they cast
    /// safely to nothing but themselves (`uint128` also to nothing signed).
    ///
    /// ```
    /// use partita_collections::DType;
    /// assert!(DType::I16.can_cast(DType::F32));
    /// assert!(!DType::I32.can_cast(DType::F32));
    /// assert!(DType::U8.can_cast(DType::I16));
    /// assert!(!DType::F64.can_cast(DType::I64));
    /// ```
    pub fn can_cast(self, to: DType) -> bool {
        use Kind::*;
        if self == to {
            return true;
        }
        let (from_bits, to_bits) = (self.size() as u32 * 8, to.size() as u32 * 8);
        match (self.kind(), to.kind()) {
            (Bool, _) => true,
            (_, Bool) => false,
            (Signed, Signed) | (Unsigned, Unsigned) => to_bits > from_bits,
            (Unsigned, Signed) => to_bits > from_bits,
            (Signed, Unsigned) => false,
            (Signed | Unsigned, Float | Complex) => {
                if from_bits == 128 {
                    return false;
                }
                // NumPy: 8- and 16-bit integers fit float32, wider ones need float64.
                let need = if from_bits <= 16 { 24 } else { 53 };
                to.mantissa() >= need
            }
            (Float, Float) => to_bits > from_bits,
            (Float, Complex) => to.mantissa() >= self.mantissa(),
            (Complex, Complex) => to_bits > from_bits,
            (Float | Complex, Signed | Unsigned) | (Complex, Float) => false,
        }
    }

    /// NumPy's `result_type` of two dtypes: the first type both cast to safely, trying them in
    /// the order of [`DType::ALL`]. So `int64` with `uint64` gives `float64`, as in NumPy.
    /// `None` when no type holds both (`int128` with `uint128`, say).
    ///
    /// ```
    /// use partita_collections::DType;
    /// assert_eq!(DType::I8.promote(DType::U8), Some(DType::I16));
    /// assert_eq!(DType::I64.promote(DType::U64), Some(DType::F64));
    /// assert_eq!(DType::F32.promote(DType::I32), Some(DType::F64));
    /// assert_eq!(DType::C64.promote(DType::F64), Some(DType::C128));
    /// ```
    pub fn promote(self, other: DType) -> Option<DType> {
        DType::ALL
            .into_iter()
            .find(|&t| self.can_cast(t) && other.can_cast(t))
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Any element value, wide enough to carry every dtype exactly; the go-between of casts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Scalar {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i128),
    /// An unsigned integer.
    Uint(u128),
    /// A real number.
    Float(f64),
    /// A complex number (real, imaginary).
    Complex(f64, f64),
}

mod sealed {
    pub trait Sealed {}
}

/// A type an array can hold: one of [`DType`]'s. Implemented for `bool`, the integers up to 128
/// bits, `f32`, `f64`, [`C64`] and [`C128`].
pub trait Element:
    Copy + Send + Sync + fmt::Debug + PartialEq + Default + 'static + sealed::Sealed
{
    /// The dtype of this type.
    const DTYPE: DType;
    /// The value as a [`Scalar`], exactly.
    fn to_scalar(self) -> Scalar;
    /// The value converted from a [`Scalar`] as Rust's `as` converts: integers wrap, floats to
    /// integers saturate, complex to real drops the imaginary part.
    fn from_scalar(s: Scalar) -> Self;

    /// The type NumPy's `sum`, `prod`, `cumsum` and `cumprod` return for this one: `int64` for
    /// `bool` and the signed integers narrower than 64 bits, `uint64` for the narrower unsigned
    /// ones, the type itself otherwise. So a sum of `int8`s does not wrap at 127.
    type Sum: Numeric;
    /// The type `mean` returns: `float64` for `bool` and the integers, the type itself for
    /// floats and complex numbers.
    type Mean: Element;
    /// The type `var` and `std` return, always real: `float64` for `bool` and the integers, the
    /// type itself for floats, and the type of its parts for a complex type.
    type Var: Element;
    /// The value as [`Sum`](Element::Sum), exactly.
    fn to_sum(self) -> Self::Sum;
    /// The real and the imaginary part as `f64` (the imaginary part of a real is 0; `true` is
    /// 1): what `mean`, `var` and `std` accumulate.
    fn parts(self) -> (f64, f64);
}

/// Elements with arithmetic: every dtype but `bool`.
pub trait Numeric: Element {
    /// 0.
    fn zero() -> Self;
    /// 1.
    fn one() -> Self;
    /// `self + rhs` (integers wrap).
    fn add(self, rhs: Self) -> Self;
    /// `self - rhs` (integers wrap).
    fn sub(self, rhs: Self) -> Self;
    /// `self * rhs` (integers wrap).
    fn mul(self, rhs: Self) -> Self;
    /// `self / rhs`; integer division truncates, and by zero gives 0 as NumPy does.
    fn div(self, rhs: Self) -> Self;
    /// `n` as this type (for `arange` and counts).
    fn from_usize(n: usize) -> Self;
    /// `x` as this type, as `as` converts.
    fn from_f64(x: f64) -> Self;
    /// The absolute value (integers wrap at their minimum; complex gives the modulus as a real
    /// part).
    fn abs(self) -> Self;
}

/// Numeric elements with an order: integers and floats.
pub trait Real: Numeric + PartialOrd {
    /// The value as `f64` (the accumulator of `mean`, `var` and `std`).
    fn to_f64(self) -> f64;
    /// The smaller of two, propagating NaN as NumPy's `minimum` does.
    fn min2(self, other: Self) -> Self;
    /// The larger of two, propagating NaN as NumPy's `maximum` does.
    fn max2(self, other: Self) -> Self;
    /// Whether the value is NaN (never, for integers).
    fn is_nan(self) -> bool;
}

/// Floating-point elements: `f32` and `f64`.
pub trait Float: Real {
    /// Square root.
    fn sqrt(self) -> Self;
    /// e to the power of `self`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Sine.
    fn sin(self) -> Self;
    /// Cosine.
    fn cos(self) -> Self;
    /// `self` to the power of `e`.
    fn powf(self, e: Self) -> Self;
}

impl sealed::Sealed for bool {}
impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn to_scalar(self) -> Scalar {
        Scalar::Bool(self)
    }
    fn from_scalar(s: Scalar) -> Self {
        match s {
            Scalar::Bool(b) => b,
            Scalar::Int(i) => i != 0,
            Scalar::Uint(u) => u != 0,
            Scalar::Float(f) => f != 0.0,
            Scalar::Complex(re, im) => re != 0.0 || im != 0.0,
        }
    }
    type Sum = i64;
    type Mean = f64;
    type Var = f64;
    #[inline]
    fn to_sum(self) -> i64 {
        i64::from(self)
    }
    #[inline]
    fn parts(self) -> (f64, f64) {
        (f64::from(u8::from(self)), 0.0)
    }
}

macro_rules! int_element {
    ($t:ty, $dt:ident, $variant:ident, $wide:ty, $sum:ty) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$dt;
            fn to_scalar(self) -> Scalar {
                Scalar::$variant(self as $wide)
            }
            fn from_scalar(s: Scalar) -> Self {
                match s {
                    Scalar::Bool(b) => b as $t,
                    Scalar::Int(i) => i as $t,
                    Scalar::Uint(u) => u as $t,
                    Scalar::Float(f) => f as $t,
                    Scalar::Complex(re, _) => re as $t,
                }
            }
            type Sum = $sum;
            type Mean = f64;
            type Var = f64;
            #[inline]
            fn to_sum(self) -> $sum {
                self as $sum
            }
            #[inline]
            fn parts(self) -> (f64, f64) {
                (self as f64, 0.0)
            }
        }
        impl Numeric for $t {
            fn zero() -> Self {
                0
            }
            fn one() -> Self {
                1
            }
            #[inline]
            fn add(self, rhs: Self) -> Self {
                self.wrapping_add(rhs)
            }
            #[inline]
            fn sub(self, rhs: Self) -> Self {
                self.wrapping_sub(rhs)
            }
            #[inline]
            fn mul(self, rhs: Self) -> Self {
                self.wrapping_mul(rhs)
            }
            #[inline]
            fn div(self, rhs: Self) -> Self {
                self.checked_div(rhs).unwrap_or(0)
            }
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline]
            #[allow(unused_comparisons)]
            fn abs(self) -> Self {
                if self < 0 {
                    (0 as $t).wrapping_sub(self)
                } else {
                    self
                }
            }
        }
        impl Real for $t {
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn min2(self, other: Self) -> Self {
                std::cmp::min(self, other)
            }
            #[inline]
            fn max2(self, other: Self) -> Self {
                std::cmp::max(self, other)
            }
            fn is_nan(self) -> bool {
                false
            }
        }
    };
}

int_element!(i8, I8, Int, i128, i64);
int_element!(i16, I16, Int, i128, i64);
int_element!(i32, I32, Int, i128, i64);
int_element!(i64, I64, Int, i128, i64);
int_element!(i128, I128, Int, i128, i128);
int_element!(u8, U8, Uint, u128, u64);
int_element!(u16, U16, Uint, u128, u64);
int_element!(u32, U32, Uint, u128, u64);
int_element!(u64, U64, Uint, u128, u64);
int_element!(u128, U128, Uint, u128, u128);

macro_rules! float_element {
    ($t:ty, $dt:ident) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$dt;
            fn to_scalar(self) -> Scalar {
                Scalar::Float(self as f64)
            }
            fn from_scalar(s: Scalar) -> Self {
                match s {
                    Scalar::Bool(b) => b as u8 as $t,
                    Scalar::Int(i) => i as $t,
                    Scalar::Uint(u) => u as $t,
                    Scalar::Float(f) => f as $t,
                    Scalar::Complex(re, _) => re as $t,
                }
            }
            type Sum = $t;
            type Mean = $t;
            type Var = $t;
            #[inline]
            fn to_sum(self) -> $t {
                self
            }
            #[inline]
            fn parts(self) -> (f64, f64) {
                (self as f64, 0.0)
            }
        }
        impl Numeric for $t {
            fn zero() -> Self {
                0.0
            }
            fn one() -> Self {
                1.0
            }
            #[inline]
            fn add(self, rhs: Self) -> Self {
                self + rhs
            }
            #[inline]
            fn sub(self, rhs: Self) -> Self {
                self - rhs
            }
            #[inline]
            fn mul(self, rhs: Self) -> Self {
                self * rhs
            }
            #[inline]
            fn div(self, rhs: Self) -> Self {
                self / rhs
            }
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
        }
        impl Real for $t {
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn min2(self, other: Self) -> Self {
                if self.is_nan() || self <= other {
                    self
                } else {
                    other
                }
            }
            #[inline]
            fn max2(self, other: Self) -> Self {
                if self.is_nan() || self >= other {
                    self
                } else {
                    other
                }
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
        impl Float for $t {
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            fn powf(self, e: Self) -> Self {
                <$t>::powf(self, e)
            }
        }
    };
}

float_element!(f32, F32);
float_element!(f64, F64);

macro_rules! complex_element {
    ($t:ty, $f:ty, $dt:ident) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$dt;
            fn to_scalar(self) -> Scalar {
                Scalar::Complex(self.re as f64, self.im as f64)
            }
            fn from_scalar(s: Scalar) -> Self {
                match s {
                    Scalar::Complex(re, im) => Complex::new(re as $f, im as $f),
                    other => Complex::new(<$f>::from_scalar(other), 0.0),
                }
            }
            type Sum = $t;
            type Mean = $t;
            type Var = $f;
            #[inline]
            fn to_sum(self) -> $t {
                self
            }
            #[inline]
            fn parts(self) -> (f64, f64) {
                (self.re as f64, self.im as f64)
            }
        }
        impl Numeric for $t {
            fn zero() -> Self {
                Complex::new(0.0, 0.0)
            }
            fn one() -> Self {
                Complex::new(1.0, 0.0)
            }
            #[inline]
            fn add(self, rhs: Self) -> Self {
                self + rhs
            }
            #[inline]
            fn sub(self, rhs: Self) -> Self {
                self - rhs
            }
            #[inline]
            fn mul(self, rhs: Self) -> Self {
                self * rhs
            }
            #[inline]
            fn div(self, rhs: Self) -> Self {
                self / rhs
            }
            fn from_usize(n: usize) -> Self {
                Complex::new(n as $f, 0.0)
            }
            fn from_f64(x: f64) -> Self {
                Complex::new(x as $f, 0.0)
            }
            fn abs(self) -> Self {
                Complex::new(self.norm(), 0.0)
            }
        }
    };
}

complex_element!(C64, f32, C64);
complex_element!(C128, f64, C128);

/// Converts one element to another type as Rust's `as` does (through [`Scalar`]).
#[inline]
pub(crate) fn cast<T: Element, U: Element>(x: T) -> U {
    U::from_scalar(x.to_scalar())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_casts_follow_numpy_table() {
        // Spot checks against numpy.can_cast(a, b, "safe").
        let yes = [
            (DType::Bool, DType::I8),
            (DType::U8, DType::I16),
            (DType::U32, DType::I64),
            (DType::I16, DType::F32),
            (DType::I64, DType::F64),
            (DType::U64, DType::F64),
            (DType::F32, DType::C64),
            (DType::F64, DType::C128),
            (DType::I32, DType::C128),
            (DType::U64, DType::I128),
        ];
        let no = [
            (DType::I8, DType::U8),
            (DType::U64, DType::I64),
            (DType::I32, DType::F32),
            (DType::F64, DType::F32),
            (DType::F64, DType::C64),
            (DType::C64, DType::F64),
            (DType::F32, DType::I64),
            (DType::I8, DType::Bool),
            (DType::I128, DType::F64),
            (DType::U128, DType::I128),
        ];
        for (a, b) in yes {
            assert!(a.can_cast(b), "{a} -> {b}");
        }
        for (a, b) in no {
            assert!(!a.can_cast(b), "{a} -> {b}");
        }
    }

    #[test]
    fn promotion_matches_numpy_result_type() {
        // numpy.result_type of each pair, written out.
        let cases = [
            (DType::Bool, DType::Bool, DType::Bool),
            (DType::Bool, DType::I8, DType::I8),
            (DType::U8, DType::I8, DType::I16),
            (DType::U16, DType::I32, DType::I32),
            (DType::U32, DType::I32, DType::I64),
            (DType::U64, DType::I64, DType::F64),
            (DType::I16, DType::F32, DType::F32),
            (DType::I32, DType::F32, DType::F64),
            (DType::F32, DType::C64, DType::C64),
            (DType::F64, DType::C64, DType::C128),
            (DType::U8, DType::U64, DType::U64),
        ];
        for (a, b, want) in cases {
            assert_eq!(a.promote(b), Some(want), "{a} + {b}");
            assert_eq!(b.promote(a), Some(want), "{b} + {a}");
        }
        assert_eq!(DType::I128.promote(DType::U128), None);
        assert_eq!(DType::I64.promote(DType::I128), Some(DType::I128));
    }

    #[test]
    fn integer_arithmetic_never_panics() {
        assert_eq!(Numeric::add(i8::MAX, 1), i8::MIN);
        assert_eq!(Numeric::div(7_i32, 0), 0);
        assert_eq!(Numeric::div(i32::MIN, -1), 0);
        assert_eq!(Numeric::abs(-5_i64), 5);
        assert_eq!(Numeric::abs(7_u8), 7);
    }

    #[test]
    fn casts_are_exact_where_safe() {
        assert_eq!(cast::<i64, i128>(i64::MIN), i64::MIN as i128);
        assert_eq!(cast::<u64, f64>(1 << 53), 9007199254740992.0);
        assert_eq!(cast::<f32, C128>(1.5), Complex::new(1.5, 0.0));
        assert!(cast::<i8, bool>(3));
        assert_eq!(cast::<bool, f64>(true), 1.0);
        assert_eq!(cast::<C64, f32>(Complex::new(2.0, 9.0)), 2.0);
        assert!(f64::NAN.min2(1.0).is_nan() && 1.0_f64.min2(f64::NAN).is_nan());
    }
}
