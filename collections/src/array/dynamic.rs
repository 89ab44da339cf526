//! Arrays whose element type is known only at run time, such as an HDF5 dataset's.

use std::any::Any;

use super::chunks::Chunks;
use super::dtype::{DType, Element, C128, C64};
use super::Array;
use crate::error::{Error, Result};

/// An [`Array`] of any [`DType`]: what a reader returns when the file decides the type.
///
/// ```
/// use partita_collections::{Array, DType, DynArray};
/// let d = DynArray::from(Array::<i16>::arange(4, 2)?);
/// assert_eq!(d.dtype(), DType::I16);
/// let f: Array<f64> = d.astype(DType::F64)?.into_typed()?;
/// assert_eq!(f.compute()?.into_raw_vec_and_offset().0, vec![0.0, 1.0, 2.0, 3.0]);
/// assert!(d.into_typed::<u8>().is_err());
/// # Ok::<(), partita_collections::Error>(())
/// ```
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub enum DynArray {
    Bool(Array<bool>),
    I8(Array<i8>),
    I16(Array<i16>),
    I32(Array<i32>),
    I64(Array<i64>),
    I128(Array<i128>),
    U8(Array<u8>),
    U16(Array<u16>),
    U32(Array<u32>),
    U64(Array<u64>),
    U128(Array<u128>),
    F32(Array<f32>),
    F64(Array<f64>),
    C64(Array<C64>),
    C128(Array<C128>),
}

/// Runs `$body` with `$a` bound to the typed array inside `$d`.
macro_rules! dispatch {
    ($d:expr, $a:ident => $body:expr) => {
        match $d {
            DynArray::Bool($a) => $body,
            DynArray::I8($a) => $body,
            DynArray::I16($a) => $body,
            DynArray::I32($a) => $body,
            DynArray::I64($a) => $body,
            DynArray::I128($a) => $body,
            DynArray::U8($a) => $body,
            DynArray::U16($a) => $body,
            DynArray::U32($a) => $body,
            DynArray::U64($a) => $body,
            DynArray::U128($a) => $body,
            DynArray::F32($a) => $body,
            DynArray::F64($a) => $body,
            DynArray::C64($a) => $body,
            DynArray::C128($a) => $body,
        }
    };
}

/// `x` as `U`, when it is one.
fn retype<T: Any, U: Any>(x: T) -> Option<U> {
    let boxed: Box<dyn Any> = Box::new(x);
    boxed.downcast::<U>().ok().map(|b| *b)
}

impl<T: Element> From<Array<T>> for DynArray {
    fn from(a: Array<T>) -> DynArray {
        match T::DTYPE {
            DType::Bool => DynArray::Bool(retype(a).expect("dtype matches its type")),
            DType::I8 => DynArray::I8(retype(a).expect("dtype matches its type")),
            DType::I16 => DynArray::I16(retype(a).expect("dtype matches its type")),
            DType::I32 => DynArray::I32(retype(a).expect("dtype matches its type")),
            DType::I64 => DynArray::I64(retype(a).expect("dtype matches its type")),
            DType::I128 => DynArray::I128(retype(a).expect("dtype matches its type")),
            DType::U8 => DynArray::U8(retype(a).expect("dtype matches its type")),
            DType::U16 => DynArray::U16(retype(a).expect("dtype matches its type")),
            DType::U32 => DynArray::U32(retype(a).expect("dtype matches its type")),
            DType::U64 => DynArray::U64(retype(a).expect("dtype matches its type")),
            DType::U128 => DynArray::U128(retype(a).expect("dtype matches its type")),
            DType::F32 => DynArray::F32(retype(a).expect("dtype matches its type")),
            DType::F64 => DynArray::F64(retype(a).expect("dtype matches its type")),
            DType::C64 => DynArray::C64(retype(a).expect("dtype matches its type")),
            DType::C128 => DynArray::C128(retype(a).expect("dtype matches its type")),
        }
    }
}

impl DynArray {
    /// The element type.
    pub fn dtype(&self) -> DType {
        dispatch!(self, a => a.dtype())
    }

    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        dispatch!(self, a => a.shape())
    }

    /// How the array is cut into blocks.
    pub fn chunks(&self) -> &Chunks {
        dispatch!(self, a => a.chunks())
    }

    /// The typed array, when its dtype is `T`'s.
    ///
    /// # Errors
    /// [`Error::DType`] naming both dtypes otherwise.
    pub fn into_typed<T: Element>(self) -> Result<Array<T>> {
        let have = self.dtype();
        dispatch!(self, a => retype::<_, Array<T>>(a)).ok_or_else(|| {
            Error::dtype(format!(
                "the array holds {have}, not {}; convert it with astype",
                T::DTYPE
            ))
        })
    }

    /// The array converted to `dtype` when that is safe by NumPy's casting table.
    ///
    /// # Errors
    /// [`Error::DType`] when values could be lost.
    pub fn astype(&self, dtype: DType) -> Result<DynArray> {
        if !self.dtype().can_cast(dtype) {
            return Err(Error::dtype(format!(
                "cannot cast {} to {dtype} safely: values may not fit; use astype_unchecked",
                self.dtype()
            )));
        }
        Ok(self.astype_unchecked(dtype))
    }

    /// The array converted to `dtype` as Rust's `as` converts.
    pub fn astype_unchecked(&self, dtype: DType) -> DynArray {
        dispatch!(self, a => match dtype {
            DType::Bool => DynArray::Bool(a.astype_unchecked()),
            DType::I8 => DynArray::I8(a.astype_unchecked()),
            DType::I16 => DynArray::I16(a.astype_unchecked()),
            DType::I32 => DynArray::I32(a.astype_unchecked()),
            DType::I64 => DynArray::I64(a.astype_unchecked()),
            DType::I128 => DynArray::I128(a.astype_unchecked()),
            DType::U8 => DynArray::U8(a.astype_unchecked()),
            DType::U16 => DynArray::U16(a.astype_unchecked()),
            DType::U32 => DynArray::U32(a.astype_unchecked()),
            DType::U64 => DynArray::U64(a.astype_unchecked()),
            DType::U128 => DynArray::U128(a.astype_unchecked()),
            DType::F32 => DynArray::F32(a.astype_unchecked()),
            DType::F64 => DynArray::F64(a.astype_unchecked()),
            DType::C64 => DynArray::C64(a.astype_unchecked()),
            DType::C128 => DynArray::C128(a.astype_unchecked()),
        })
    }
}
