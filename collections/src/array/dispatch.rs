//! From a dtype known only at run time (an operator's parameters) to the generic code of that
//! element type.
//!
//! An operator's parameters carry the [`DType`](super::DType) of its blocks; its kernel matches
//! on it once, when the kernel is built, and from then on runs the monomorphic code of that type,
//! exactly as a kernel built from a typed `Array<T>` does. Each macro covers one of the element
//! traits; a dtype outside it (a `sqrt` of integers, in a graph from outside) is an error.

use partita_runtime::{TaskContext, TaskKey};

use super::dtype::DType;

/// The error of an operator given a dtype it has no kernel for.
pub(crate) fn unsupported(op: &str, dtype: DType, key: &TaskKey) -> partita_runtime::Error {
    partita_runtime::Error::failed(
        key.clone(),
        format!("{op} has no kernel for {dtype} elements"),
    )
}

/// Checks that a task has `n` inputs, as its operator's kernel expects.
pub(crate) fn arity(op: &str, cx: TaskContext<'_>, n: usize) -> partita_runtime::Result<()> {
    if cx.deps.len() == n {
        Ok(())
    } else {
        Err(partita_runtime::Error::failed(
            cx.key.clone(),
            format!("{op} takes {n} inputs, the task has {}", cx.deps.len()),
        ))
    }
}

/// Runs `$body` with the type `$T` set to the element type of `$dt`, for the listed dtypes;
/// any other dtype gives [`unsupported`]. `$body` is a `partita_runtime::Result<_>`.
macro_rules! on_dtypes {
    ($op:expr, $key:expr, $dt:expr, $T:ident => $body:expr; $($v:ident => $t:ty),* $(,)?) => {
        match $dt {
            $($crate::array::DType::$v => {
                #[allow(dead_code)]
                type $T = $t;
                $body
            })*
            #[allow(unreachable_patterns)]
            other => Err($crate::array::dispatch::unsupported($op, other, $key)),
        }
    };
}
pub(crate) use on_dtypes;

/// [`on_dtypes!`] over every dtype.
macro_rules! any_dtype {
    ($op:expr, $key:expr, $dt:expr, $T:ident => $body:expr) => {
        $crate::array::dispatch::on_dtypes!($op, $key, $dt, $T => $body;
            Bool => bool, I8 => i8, I16 => i16, I32 => i32, I64 => i64, I128 => i128,
            U8 => u8, U16 => u16, U32 => u32, U64 => u64, U128 => u128,
            F32 => f32, F64 => f64, C64 => $crate::array::C64, C128 => $crate::array::C128)
    };
}
pub(crate) use any_dtype;

/// [`on_dtypes!`] over the [`Numeric`](super::Numeric) dtypes: all but `bool`.
macro_rules! numeric_dtype {
    ($op:expr, $key:expr, $dt:expr, $T:ident => $body:expr) => {
        $crate::array::dispatch::on_dtypes!($op, $key, $dt, $T => $body;
            I8 => i8, I16 => i16, I32 => i32, I64 => i64, I128 => i128,
            U8 => u8, U16 => u16, U32 => u32, U64 => u64, U128 => u128,
            F32 => f32, F64 => f64, C64 => $crate::array::C64, C128 => $crate::array::C128)
    };
}
pub(crate) use numeric_dtype;

/// [`on_dtypes!`] over the [`Real`](super::Real) dtypes: integers and floats.
macro_rules! real_dtype {
    ($op:expr, $key:expr, $dt:expr, $T:ident => $body:expr) => {
        $crate::array::dispatch::on_dtypes!($op, $key, $dt, $T => $body;
            I8 => i8, I16 => i16, I32 => i32, I64 => i64, I128 => i128,
            U8 => u8, U16 => u16, U32 => u32, U64 => u64, U128 => u128,
            F32 => f32, F64 => f64)
    };
}
pub(crate) use real_dtype;

/// [`on_dtypes!`] over the [`Float`](super::Float) dtypes.
macro_rules! float_dtype {
    ($op:expr, $key:expr, $dt:expr, $T:ident => $body:expr) => {
        $crate::array::dispatch::on_dtypes!($op, $key, $dt, $T => $body; F32 => f32, F64 => f64)
    };
}
pub(crate) use float_dtype;
