//! Which element types HDF5 stores, and as what (the table is on [`Hdf5Element`]).

use hdf5_metno::types::{FloatSize, IntSize, TypeDescriptor};
use hdf5_metno::{Dataset, H5Type, Selection};
use ndarray::ArrayD;
use partita_collections::{DType, Element, C128, C64};

/// An element type an HDF5 dataset can hold. Sealed. Each is stored as h5py stores the NumPy
/// dtype of the same name:
///
/// | dtype                      | HDF5 type                                              |
/// |----------------------------|--------------------------------------------------------|
/// | `bool`                     | an 8-bit signed enum `FALSE = 0, TRUE = 1`             |
/// | `int8` to `int64`          | signed integers of 1 to 8 bytes                        |
/// | `uint8` to `uint64`        | unsigned integers of 1 to 8 bytes                      |
/// | `float32`, `float64`       | IEEE floats of 4 and 8 bytes                           |
/// | `complex64`, `complex128`  | a compound of two floats named `r` and `i`             |
///
/// Reading converts any byte order to the machine's. A `bool` dataset is read through its
/// 8-bit integer values (any non-zero value is `true`), so a file holding values outside the
/// enum cannot produce an invalid `bool`.
///
/// `int128` and `uint128` cannot be stored: the HDF5 binding this crate uses describes
/// integers of at most 8 bytes, and NumPy (so h5py) has no 128-bit integer either. The trait
/// is not implemented for them, so writing an `Array<i128>` is a compile error saying so; cast
/// it to `i64`, `u64` or `f64` first. A dataset of 16-byte integers (which C programs can
/// write) is reported by [`read_hdf5`](crate::read_hdf5) as an unsupported type.
///
/// ```
/// fn storable<T: partita_io::Hdf5Element>() {}
/// storable::<bool>();
/// storable::<u64>();
/// storable::<partita_collections::C128>();
/// ```
///
/// The 128-bit integers are not storable:
///
/// ```compile_fail
/// fn storable<T: partita_io::Hdf5Element>() {}
/// storable::<i128>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in HDF5",
    label = "HDF5 holds no element of type `{Self}`",
    note = "HDF5 stores bool, integers up to 64 bits, f32, f64, C64 and C128; \
            cast 128-bit integers to i64, u64 or f64 first"
)]
pub trait Hdf5Element: Element + sealed::Sealed {}

pub(crate) mod sealed {
    use super::*;

    /// Reading a block of `Self` from a dataset.
    pub trait Sealed: H5Type + Sized + Copy {
        /// Appends the value's bytes as the HDF5 type of [`Hdf5Element`]'s table stores them on a
        /// little-endian machine (a chunk's raw bytes).
        fn put_le(self, out: &mut Vec<u8>);

        /// Appends the bytes of every value of `xs`, as [`put_le`](Self::put_le) does.
        fn put_all_le(xs: &[Self], out: &mut Vec<u8>) {
            for &x in xs {
                x.put_le(out);
            }
        }

        /// The elements of `selection`, converted from the file's type.
        fn read(dataset: &Dataset, selection: Selection) -> hdf5_metno::Result<ArrayD<Self>> {
            dataset.read_slice::<Self, _, ndarray::IxDyn>(selection)
        }
    }
}

impl sealed::Sealed for bool {
    fn put_le(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }

    fn read(dataset: &Dataset, selection: Selection) -> hdf5_metno::Result<ArrayD<bool>> {
        let raw = dataset.read_slice::<i8, _, ndarray::IxDyn>(selection)?;
        Ok(raw.mapv(|v| v != 0))
    }
}

macro_rules! storable {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }

            fn put_all_le(xs: &[Self], out: &mut Vec<u8>) {
                const W: usize = std::mem::size_of::<$t>();
                let at = out.len();
                out.resize(at + xs.len() * W, 0);
                for (dst, x) in out[at..].chunks_exact_mut(W).zip(xs) {
                    dst.copy_from_slice(&x.to_le_bytes());
                }
            }
        }
        impl Hdf5Element for $t {}
    )*};
}

macro_rules! storable_complex {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.re.to_le_bytes());
                out.extend_from_slice(&self.im.to_le_bytes());
            }
        }
        impl Hdf5Element for $t {}
    )*};
}

impl Hdf5Element for bool {}
storable!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);
storable_complex!(C64, C128);

/// The dtype of a dataset whose HDF5 type is `desc`, if it has one.
pub(crate) fn dtype_of(desc: &TypeDescriptor) -> Option<DType> {
    let float = |t: &TypeDescriptor| match t {
        TypeDescriptor::Float(FloatSize::U4) => Some(DType::F32),
        TypeDescriptor::Float(FloatSize::U8) => Some(DType::F64),
        _ => None,
    };
    Some(match desc {
        TypeDescriptor::Boolean => DType::Bool,
        TypeDescriptor::Integer(size) => match size {
            IntSize::U1 => DType::I8,
            IntSize::U2 => DType::I16,
            IntSize::U4 => DType::I32,
            IntSize::U8 => DType::I64,
        },
        TypeDescriptor::Unsigned(size) => match size {
            IntSize::U1 => DType::U8,
            IntSize::U2 => DType::U16,
            IntSize::U4 => DType::U32,
            IntSize::U8 => DType::U64,
        },
        TypeDescriptor::Float(_) => float(desc)?,
        TypeDescriptor::Compound(compound) => {
            let [r, i] = compound.fields.as_slice() else {
                return None;
            };
            let (r, i) = if r.name == "r" { (r, i) } else { (i, r) };
            if r.name != "r" || i.name != "i" {
                return None;
            }
            match (float(&r.ty)?, float(&i.ty)?) {
                (DType::F32, DType::F32) => DType::C64,
                (DType::F64, DType::F64) => DType::C128,
                _ => return None,
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: Hdf5Element>() {
        assert_eq!(
            dtype_of(&T::type_descriptor()),
            Some(T::DTYPE),
            "{}",
            T::DTYPE
        );
    }

    #[test]
    fn every_storable_type_maps_back_to_its_dtype() {
        round_trips::<bool>();
        round_trips::<i8>();
        round_trips::<i16>();
        round_trips::<i32>();
        round_trips::<i64>();
        round_trips::<u8>();
        round_trips::<u16>();
        round_trips::<u32>();
        round_trips::<u64>();
        round_trips::<f32>();
        round_trips::<f64>();
        round_trips::<C64>();
        round_trips::<C128>();
    }

    #[test]
    fn other_types_have_no_dtype() {
        assert_eq!(dtype_of(&TypeDescriptor::VarLenUnicode), None);
        assert_eq!(dtype_of(&TypeDescriptor::FixedAscii(4)), None);
        let mixed = TypeDescriptor::Compound(hdf5_metno::types::CompoundType {
            fields: vec![
                hdf5_metno::types::CompoundField::typed::<f32>("r", 0, 0),
                hdf5_metno::types::CompoundField::typed::<f64>("i", 4, 1),
            ],
            size: 12,
        });
        assert_eq!(dtype_of(&mixed), None);
    }
}
