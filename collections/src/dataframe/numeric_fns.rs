//! Numeric functions of expressions, with NumPy's semantics: `abs`, `round` (half to even),
//! `clip`, and `%` (the result takes the divisor's sign, as in Python).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, PrimitiveArray};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Int8Type,
};
use serde::{Deserialize, Serialize};

use super::expr::{arrow_error, Literal};
use crate::error::{Error, Result};

/// A numeric function: see [`Expr::abs`](super::Expr::abs), [`Expr::round`](super::Expr::round)
/// and [`Expr::clip`](super::Expr::clip).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NumOp {
    /// The absolute value.
    Abs,
    /// Rounded to this many decimals (negative: to tens, hundreds, ...), half to even.
    Round(i32),
    /// Bounded below and above; a null bound is no bound.
    Clip {
        /// The lower bound.
        lower: Literal,
        /// The upper bound.
        upper: Literal,
    },
}

impl NumOp {
    /// The result's type for an operand of type `t`, or why there is none.
    pub(crate) fn data_type(&self, t: &DataType) -> std::result::Result<DataType, String> {
        let numeric = t.is_integer() || t.is_floating();
        if !numeric && t != &DataType::Null {
            return Err(format!("needs numbers, not {}", super::expr::dtype_name(t)));
        }
        Ok(match self {
            NumOp::Abs | NumOp::Round(_) => t.clone(),
            NumOp::Clip { lower, upper } => {
                for b in [lower, upper] {
                    if !matches!(b, Literal::Int(_) | Literal::Float(_) | Literal::Null) {
                        return Err(format!("bounds are numbers, not {b:?}"));
                    }
                }
                let float = t.is_floating()
                    || matches!(lower, Literal::Float(_))
                    || matches!(upper, Literal::Float(_));
                if float {
                    DataType::Float64
                } else {
                    DataType::Int64
                }
            }
        })
    }
}

/// `op` over `v`.
pub(crate) fn evaluate(v: &ArrayRef, op: &NumOp) -> Result<ArrayRef> {
    let out_type = op
        .data_type(v.data_type())
        .map_err(|m| Error::Schema { message: m })?;
    if v.data_type() == &DataType::Null {
        return Ok(arrow::array::new_null_array(&out_type, v.len()));
    }
    Ok(match op {
        NumOp::Abs => match v.data_type() {
            DataType::Int8 => unary::<Int8Type>(v, i8::wrapping_abs),
            DataType::Int16 => unary::<Int16Type>(v, i16::wrapping_abs),
            DataType::Int32 => unary::<Int32Type>(v, i32::wrapping_abs),
            DataType::Int64 => unary::<Int64Type>(v, i64::wrapping_abs),
            DataType::Float32 => unary::<Float32Type>(v, f32::abs),
            DataType::Float64 => unary::<Float64Type>(v, f64::abs),
            // Unsigned: already.
            _ => v.clone(),
        },
        NumOp::Round(d) => match v.data_type() {
            DataType::Float64 => unary::<Float64Type>(v, |x| round_f64(x, *d)),
            DataType::Float32 => unary::<Float32Type>(v, |x| round_f64(f64::from(x), *d) as f32),
            _ if *d >= 0 => v.clone(),
            t => {
                let wide = arrow::compute::cast(v, &DataType::Int64).map_err(arrow_error)?;
                let rounded = unary::<Int64Type>(&wide, |x| round_i64(x, *d));
                arrow::compute::cast(&rounded, t).map_err(arrow_error)?
            }
        },
        NumOp::Clip { lower, upper } => {
            let v = arrow::compute::cast(v, &out_type).map_err(arrow_error)?;
            if out_type == DataType::Float64 {
                let bound = |b: &Literal| match b {
                    Literal::Int(i) => Some(*i as f64),
                    Literal::Float(f) => Some(*f),
                    _ => None,
                };
                let (lo, hi) = (bound(lower), bound(upper));
                // Comparisons with NaN are false: NaN stays NaN, as in NumPy.
                unary::<Float64Type>(&v, |x| match (lo, hi) {
                    (Some(lo), _) if x < lo => lo,
                    (_, Some(hi)) if x > hi => hi,
                    _ => x,
                })
            } else {
                let bound = |b: &Literal| match b {
                    Literal::Int(i) => Some(*i),
                    _ => None,
                };
                let (lo, hi) = (bound(lower), bound(upper));
                unary::<Int64Type>(&v, |x| {
                    let x = lo.map_or(x, |lo| x.max(lo));
                    hi.map_or(x, |hi| x.min(hi))
                })
            }
        }
    })
}

fn unary<T: ArrowPrimitiveType>(v: &ArrayRef, f: impl Fn(T::Native) -> T::Native) -> ArrayRef {
    let a: &PrimitiveArray<T> = v.as_primitive::<T>();
    Arc::new(a.unary::<_, T>(f))
}

/// NumPy's `round(x, d)`: scaled, rounded half to even, scaled back.
fn round_f64(x: f64, d: i32) -> f64 {
    if d >= 0 {
        let p = 10_f64.powi(d);
        (x * p).round_ties_even() / p
    } else {
        let p = 10_f64.powi(-d);
        (x / p).round_ties_even() * p
    }
}

/// An integer rounded to `-d` zeros, half to even (NumPy: `round(25, -1)` is 20).
fn round_i64(x: i64, d: i32) -> i64 {
    let Some(p) = 10_i64.checked_pow(d.unsigned_abs()) else {
        return 0;
    };
    let (q, r) = (x.div_euclid(p), x.rem_euclid(p));
    let up = match (2 * i128::from(r)).cmp(&i128::from(p)) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => q % 2 != 0,
    };
    (q + i64::from(up)).wrapping_mul(p)
}

/// `l % r` as NumPy's `remainder` (Python's `%`): the result has the divisor's sign. Integers
/// give null for a zero divisor; floats give NaN, as NumPy does.
pub(crate) fn remainder(l: &ArrayRef, r: &ArrayRef) -> Result<ArrayRef> {
    match l.data_type() {
        DataType::Float64 => {
            let (a, b) = (
                l.as_primitive::<Float64Type>(),
                r.as_primitive::<Float64Type>(),
            );
            let out: Float64Array = a
                .iter()
                .zip(b.iter())
                .map(|(x, y)| {
                    let (x, y) = (x?, y?);
                    let m = x % y;
                    Some(if m != 0.0 && (m < 0.0) != (y < 0.0) {
                        m + y
                    } else {
                        m
                    })
                })
                .collect();
            Ok(Arc::new(out))
        }
        _ => {
            let wide = |a: &ArrayRef| arrow::compute::cast(a, &DataType::Int64);
            let (a, b) = (wide(l).map_err(arrow_error)?, wide(r).map_err(arrow_error)?);
            let (a, b) = (a.as_primitive::<Int64Type>(), b.as_primitive::<Int64Type>());
            let out: Int64Array = a
                .iter()
                .zip(b.iter())
                .map(|(x, y)| {
                    let (x, y) = (x?, y?);
                    let m = x.checked_rem(y)?;
                    Some(if m != 0 && (m < 0) != (y < 0) {
                        m + y
                    } else {
                        m
                    })
                })
                .collect();
            arrow::compute::cast(&(Arc::new(out) as ArrayRef), l.data_type()).map_err(arrow_error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_to_even_as_numpy() {
        // From numpy.round: [0.5, 1.5, 2.5, -0.5] to 0, -0, 2, 2; 1234.5678 to -2 places 1200;
        // 25, 35, -25, -26 to -1 places 20, 40, -20, -30; 149 to -2 places 100.
        assert_eq!(round_f64(0.5, 0), 0.0);
        assert_eq!(round_f64(1.5, 0), 2.0);
        assert_eq!(round_f64(2.5, 0), 2.0);
        assert_eq!(round_f64(-0.5, 0), -0.0);
        // NumPy scales first: np.round(2.675, 2) == 2.68 (Python's round gives 2.67).
        assert_eq!(round_f64(2.675, 2), 2.68);
        assert_eq!(round_f64(0.285, 2), 0.28);
        assert_eq!(round_f64(1.005, 2), 1.0);
        assert_eq!(round_f64(1234.5678, -2), 1200.0);
        assert_eq!(round_i64(25, -1), 20);
        assert_eq!(round_i64(35, -1), 40);
        assert_eq!(round_i64(-25, -1), -20);
        assert_eq!(round_i64(-26, -1), -30);
        assert_eq!(round_i64(149, -2), 100);
    }

    #[test]
    fn remainders_take_the_divisors_sign() {
        // Python: [7 % 3, -7 % 3, 7 % -3, -7 % -3, 6 % 3] == [1, 2, -2, -1, 0]
        let l: ArrayRef = Arc::new(Int64Array::from(vec![7, -7, 7, -7, 6, 1]));
        let r: ArrayRef = Arc::new(Int64Array::from(vec![3, 3, -3, -3, 3, 0]));
        let out = remainder(&l, &r).unwrap();
        let got: Vec<Option<i64>> = out.as_primitive::<Int64Type>().iter().collect();
        assert_eq!(got, [Some(1), Some(2), Some(-2), Some(-1), Some(0), None]);
        // Python: [7.5 % 2, -7.5 % 2, 7.5 % -2] == [1.5, 0.5, -0.5]
        let l: ArrayRef = Arc::new(Float64Array::from(vec![7.5, -7.5, 7.5]));
        let r: ArrayRef = Arc::new(Float64Array::from(vec![2.0, 2.0, -2.0]));
        let out = remainder(&l, &r).unwrap();
        assert_eq!(
            out.as_primitive::<Float64Type>().values(),
            &[1.5, 0.5, -0.5]
        );
    }

    #[test]
    fn clip_keeps_nan_and_widens_to_float_bounds() {
        let v: ArrayRef = Arc::new(Float64Array::from(vec![-5.0, 0.5, f64::NAN, 9.0]));
        let op = NumOp::Clip {
            lower: Literal::Int(0),
            upper: Literal::Float(1.0),
        };
        let out = evaluate(&v, &op).unwrap();
        let got = out.as_primitive::<Float64Type>().values().to_vec();
        assert_eq!((got[0], got[1], got[3]), (0.0, 0.5, 1.0));
        assert!(got[2].is_nan());
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(-5), None, Some(7)]));
        let op = NumOp::Clip {
            lower: Literal::Null,
            upper: Literal::Int(3),
        };
        let out = evaluate(&ints, &op).unwrap();
        let got: Vec<Option<i64>> = out.as_primitive::<Int64Type>().iter().collect();
        assert_eq!(got, [Some(-5), None, Some(3)]);
        assert!(NumOp::Abs.data_type(&DataType::Utf8).is_err());
    }
}
