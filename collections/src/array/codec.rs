//! Array chunks as bytes, for the values that cross a process boundary.
//!
//! Every `ArrayD<T>` of the fifteen dtypes has a codec registered at link time
//! ([`register_codec!`](partita_runtime::register_codec)), named `array.<dtype>`. The layout:
//!
//! | bytes         | what                                                   |
//! |---------------|--------------------------------------------------------|
//! | 1             | the dtype's tag (its position in [`TAGS`])             |
//! | 4             | the number of axes, `u32` little-endian                |
//! | 8 per axis    | the shape, `u64` little-endian each                    |
//! | the rest      | the elements in C order, little-endian                 |
//!
//! A `bool` is one byte, 0 or 1; a complex number is its real part then its imaginary part.
//! Decoding checks every length before it allocates: a wrong tag, a truncated header or body,
//! trailing bytes, a shape whose size overflows, or a `bool` byte other than 0 and 1 is an
//! error, never a panic.
//!
//! The accumulators of reductions, which travel between a reduction's partial, combine and
//! finish tasks, have codecs too: `min`/`max`'s `Option<T>`, `argmin`/`argmax`'s
//! `Option<(T, position)>` for each ordered dtype, and `mean`/`var`/`std`'s moments, as their
//! shape and elements in bincode. (`sum`, `prod`, `any` and `all` accumulate in the dtype
//! itself.)

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use partita_runtime::{Error, Result, Value};

use super::dtype::{DType, Element, C128, C64};

/// The dtypes in tag order: a chunk's first byte is its dtype's position here.
const TAGS: [DType; 15] = [
    DType::Bool,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::I64,
    DType::I128,
    DType::U8,
    DType::U16,
    DType::U32,
    DType::U64,
    DType::U128,
    DType::F32,
    DType::F64,
    DType::C64,
    DType::C128,
];

fn tag_of(dtype: DType) -> u8 {
    TAGS.iter().position(|&d| d == dtype).unwrap_or(usize::MAX) as u8
}

/// An element's little-endian bytes.
pub(crate) trait LeBytes: Element {
    /// The number of bytes of one element.
    const WIDTH: usize;
    /// Appends the element's bytes.
    fn put(self, out: &mut Vec<u8>);
    /// The element from exactly [`WIDTH`](Self::WIDTH) bytes; `None` for bytes that are no
    /// value of the type.
    fn get(bytes: &[u8]) -> Option<Self>;
}

impl LeBytes for bool {
    const WIDTH: usize = 1;
    fn put(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
    fn get(bytes: &[u8]) -> Option<bool> {
        match bytes {
            [0] => Some(false),
            [1] => Some(true),
            _ => None,
        }
    }
}

macro_rules! le_number {
    ($($t:ty),*) => {
        $(impl LeBytes for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Option<$t> {
                Some(<$t>::from_le_bytes(bytes.try_into().ok()?))
            }
        })*
    };
}

le_number!(i8, i16, i32, i64, i128, u8, u16, u32, u64, u128, f32, f64);

macro_rules! le_complex {
    ($t:ty, $f:ty) => {
        impl LeBytes for $t {
            const WIDTH: usize = 2 * std::mem::size_of::<$f>();
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.re.to_le_bytes());
                out.extend_from_slice(&self.im.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Option<$t> {
                let (re, im) = bytes.split_at_checked(std::mem::size_of::<$f>())?;
                Some(<$t>::new(
                    <$f>::from_le_bytes(re.try_into().ok()?),
                    <$f>::from_le_bytes(im.try_into().ok()?),
                ))
            }
        }
    };
}

le_complex!(C64, f32);
le_complex!(C128, f64);

fn codec_error<T: Element>(message: impl Into<String>) -> Error {
    Error::Codec {
        what: format!("an array chunk of {}", T::DTYPE),
        message: message.into(),
    }
}

/// The bytes of a chunk of `T`.
///
/// # Errors
/// [`Error::Codec`] when the value is not an `ArrayD<T>`.
pub(crate) fn encode<T: LeBytes>(v: &Value) -> Result<Vec<u8>> {
    let a = v
        .downcast_ref::<ArrayD<T>>()
        .ok_or_else(|| codec_error::<T>("the value is of another type"))?;
    let ndim = u32::try_from(a.ndim()).map_err(|_| codec_error::<T>("too many axes"))?;
    let mut out = Vec::with_capacity(5 + 8 * a.ndim() + a.len() * T::WIDTH);
    out.push(tag_of(T::DTYPE));
    out.extend_from_slice(&ndim.to_le_bytes());
    for &n in a.shape() {
        out.extend_from_slice(&(n as u64).to_le_bytes());
    }
    match a.as_slice() {
        Some(xs) => xs.iter().for_each(|&x| x.put(&mut out)),
        None => a.iter().for_each(|&x| x.put(&mut out)),
    }
    Ok(out)
}

/// A chunk of `T` from its bytes.
///
/// # Errors
/// [`Error::Codec`] for bytes that are not such a chunk; never a panic.
pub(crate) fn decode<T: LeBytes>(bytes: &[u8]) -> Result<Value> {
    let (&tag, rest) = bytes
        .split_first()
        .ok_or_else(|| codec_error::<T>("no bytes"))?;
    if tag != tag_of(T::DTYPE) {
        let found = TAGS
            .get(tag as usize)
            .map_or_else(|| format!("unknown tag {tag}"), |d| d.to_string());
        return Err(codec_error::<T>(format!("the bytes hold {found}")));
    }
    let (ndim, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| codec_error::<T>("truncated before the number of axes"))?;
    let ndim = u32::from_le_bytes(*ndim) as usize;
    let (dims, data) = ndim
        .checked_mul(8)
        .and_then(|n| rest.split_at_checked(n))
        .ok_or_else(|| codec_error::<T>(format!("truncated in the shape of {ndim} axes")))?;
    let shape = dims
        .chunks_exact(8)
        .map(|d| {
            let n = u64::from_le_bytes(d.try_into().unwrap_or_default());
            usize::try_from(n).map_err(|_| codec_error::<T>(format!("axis of length {n}")))
        })
        .collect::<Result<Vec<usize>>>()?;
    // ndarray refuses shapes whose product of non-zero lengths exceeds isize::MAX.
    let too_many = || codec_error::<T>(format!("shape {shape:?} has too many elements"));
    shape
        .iter()
        .try_fold(1_usize, |a, &n| a.checked_mul(n.max(1)))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(too_many)?;
    // Within isize::MAX, as the product of the non-zero lengths is.
    let len = shape.iter().product::<usize>();
    let need = len.checked_mul(T::WIDTH).ok_or_else(too_many)?;
    if data.len() != need {
        return Err(codec_error::<T>(format!(
            "shape {shape:?} needs {need} bytes of elements, found {}",
            data.len()
        )));
    }
    let xs = data
        .chunks_exact(T::WIDTH.max(1))
        .map(T::get)
        .collect::<Option<Vec<T>>>()
        .ok_or_else(|| codec_error::<T>("an element's bytes are no value of the type"))?;
    let a = ArrayD::from_shape_vec(IxDyn(&shape), xs)
        .map_err(|e| codec_error::<T>(format!("shape {shape:?}: {e}")))?;
    Ok(Arc::new(a))
}

/// The bytes of a block's elements, as the memory limit counts them.
fn size<T: 'static>(v: &Value) -> usize {
    v.downcast_ref::<ArrayD<T>>()
        .map_or(0, |a| a.len() * std::mem::size_of::<T>())
}

macro_rules! register_chunks {
    ($($t:ty => $name:literal),* $(,)?) => {
        $(partita_runtime::register_codec!(
            ArrayD<$t>,
            $name,
            encode::<$t>,
            decode::<$t>,
            size::<$t>
        );)*
    };
}

register_chunks!(
    bool => "array.bool",
    i8 => "array.int8",
    i16 => "array.int16",
    i32 => "array.int32",
    i64 => "array.int64",
    i128 => "array.int128",
    u8 => "array.uint8",
    u16 => "array.uint16",
    u32 => "array.uint32",
    u64 => "array.uint64",
    u128 => "array.uint128",
    f32 => "array.float32",
    f64 => "array.float64",
    C64 => "array.complex64",
    C128 => "array.complex128",
);

/// The bytes of a reduction's block of accumulators (`min`'s `Option<T>`, `argmin`'s
/// `Option<(T, position)>`, `mean`'s moments): its shape and its elements in C order, in
/// bincode.
fn encode_acc<A: serde::Serialize + 'static>(v: &Value) -> Result<Vec<u8>> {
    let what = || format!("a block of {}", std::any::type_name::<A>());
    let a = v.downcast_ref::<ArrayD<A>>().ok_or_else(|| Error::Codec {
        what: what(),
        message: "the value is of another type".into(),
    })?;
    let shape: Vec<u64> = a.shape().iter().map(|&n| n as u64).collect();
    let elements: Vec<&A> = a.iter().collect();
    partita_runtime::encode_params(&what(), &(shape, elements))
}

/// A block of accumulators from its bytes; a shape that does not fit its elements is refused.
fn decode_acc<A: serde::de::DeserializeOwned + Send + Sync + 'static>(
    bytes: &[u8],
) -> Result<Value> {
    let what = || format!("a block of {}", std::any::type_name::<A>());
    let (shape, elements): (Vec<u64>, Vec<A>) = partita_runtime::decode_params(&what(), bytes)?;
    let shape = shape
        .into_iter()
        .map(usize::try_from)
        .collect::<std::result::Result<Vec<usize>, _>>()
        .map_err(|e| Error::Codec {
            what: what(),
            message: e.to_string(),
        })?;
    let a = ArrayD::from_shape_vec(IxDyn(&shape), elements).map_err(|e| Error::Codec {
        what: what(),
        message: format!("shape {shape:?}: {e}"),
    })?;
    Ok(Arc::new(a))
}

/// The accumulators of `min`/`max` and `argmin`/`argmax` for each ordered dtype.
macro_rules! register_accumulators {
    ($($t:ty => $name:literal),* $(,)?) => {
        $(
            partita_runtime::register_codec!(
                ArrayD<Option<$t>>,
                concat!("array.extreme.", $name),
                encode_acc::<Option<$t>>,
                decode_acc::<Option<$t>>,
                size::<Option<$t>>
            );
            partita_runtime::register_codec!(
                ArrayD<Option<($t, usize)>>,
                concat!("array.arg_extreme.", $name),
                encode_acc::<Option<($t, usize)>>,
                decode_acc::<Option<($t, usize)>>,
                size::<Option<($t, usize)>>
            );
        )*
    };
}

register_accumulators!(
    i8 => "int8",
    i16 => "int16",
    i32 => "int32",
    i64 => "int64",
    i128 => "int128",
    u8 => "uint8",
    u16 => "uint16",
    u32 => "uint32",
    u64 => "uint64",
    u128 => "uint128",
    f32 => "float32",
    f64 => "float64",
);

partita_runtime::register_codec!(
    ArrayD<super::reduce::Moments>,
    "array.moments",
    encode_acc::<super::reduce::Moments>,
    decode_acc::<super::reduce::Moments>,
    size::<super::reduce::Moments>
);

#[cfg(test)]
mod tests {
    use super::*;
    use num_complex::Complex;
    use partita_runtime::{codec_for, value};

    fn round_trip<T: LeBytes>(a: ArrayD<T>) {
        let codec = codec_for::<ArrayD<T>>().expect("a codec for every dtype");
        let bytes = (codec.encode)(&value(a.clone())).unwrap();
        let back = (codec.decode)(&bytes).unwrap();
        assert_eq!(back.downcast_ref::<ArrayD<T>>(), Some(&a), "{}", T::DTYPE);
        // A 0-length axis and a 0-d array.
        let empty = ArrayD::<T>::default(IxDyn(&[3, 0, 2]));
        let bytes = (codec.encode)(&value(empty.clone())).unwrap();
        assert_eq!(bytes.len(), 5 + 3 * 8);
        let back = (codec.decode)(&bytes).unwrap();
        assert_eq!(back.downcast_ref::<ArrayD<T>>(), Some(&empty));
        let scalar = ArrayD::from_elem(IxDyn(&[]), a.iter().next().copied().unwrap_or_default());
        let back = (codec.decode)(&(codec.encode)(&value(scalar.clone())).unwrap()).unwrap();
        assert_eq!(back.downcast_ref::<ArrayD<T>>(), Some(&scalar));
    }

    fn sample<T: Element>(f: impl Fn(usize) -> T) -> ArrayD<T> {
        ArrayD::from_shape_fn(IxDyn(&[2, 3, 4]), |i| f(i[0] * 12 + i[1] * 4 + i[2]))
    }

    #[test]
    fn every_dtype_round_trips() {
        round_trip(sample(|i| i % 3 == 0));
        round_trip(sample(|i| i as i8 - 12));
        round_trip(sample(|i| i as i16 * -1000));
        round_trip(sample(|i| i as i32 * -100_000));
        round_trip(sample(|i| (i as i64 - 12) * (i64::MAX / 24)));
        round_trip(sample(|i| (i as i128 - 12) * (i128::MAX / 24)));
        round_trip(sample(|i| i as u8 * 10));
        round_trip(sample(|i| i as u16 * 2000));
        round_trip(sample(|i| i as u32 * 100_000_000 + 7));
        round_trip(sample(|i| u64::MAX - i as u64));
        round_trip(sample(|i| u128::MAX - i as u128));
        round_trip(sample(|i| i as f32 / 3.0 - 1.0));
        round_trip(sample(|i| {
            if i == 5 {
                f64::INFINITY
            } else {
                i as f64 / 7.0
            }
        }));
        round_trip(sample(|i| Complex::new(i as f32, -(i as f32))));
        round_trip(sample(|i| Complex::new(i as f64 / 3.0, 1e300)));
    }

    #[test]
    fn a_transposed_view_is_written_in_logical_order() {
        let a = sample(|i| i as i32).permuted_axes(IxDyn(&[2, 0, 1]));
        let bytes = encode::<i32>(&value(a.clone())).unwrap();
        let back = decode::<i32>(&bytes).unwrap();
        assert_eq!(back.downcast_ref::<ArrayD<i32>>(), Some(&a));
    }

    #[test]
    fn malformed_bytes_are_refused() {
        let good = encode::<u16>(&value(sample(|i| i as u16))).unwrap();
        for n in 0..good.len() {
            assert!(decode::<u16>(&good[..n]).is_err(), "truncated to {n}");
        }
        let mut long = good.clone();
        long.push(0);
        assert!(decode::<u16>(&long).is_err(), "trailing byte");
        // Another dtype's tag, and an unknown one.
        assert!(decode::<i16>(&good).is_err());
        let mut unknown = good.clone();
        unknown[0] = 200;
        let e = decode::<u16>(&unknown).unwrap_err().to_string();
        assert!(e.contains("unknown tag 200"), "{e}");
        // A shape whose size overflows, a huge one, and a huge number of axes.
        let header = |dims: &[u64]| {
            let mut b = vec![tag_of(DType::U16)];
            b.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                b.extend_from_slice(&d.to_le_bytes());
            }
            b
        };
        assert!(decode::<u16>(&header(&[u64::MAX, u64::MAX])).is_err());
        assert!(decode::<u16>(&header(&[1 << 40, 1 << 40])).is_err());
        assert!(decode::<u16>(&header(&[0, u64::MAX, u64::MAX])).is_err());
        assert!(decode::<u16>(&header(&[1 << 62])).is_err());
        let mut many = vec![tag_of(DType::U16)];
        many.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode::<u16>(&many).is_err());
        // A bool byte that is neither 0 nor 1.
        let mut flags = encode::<bool>(&value(ArrayD::from_elem(IxDyn(&[2]), true))).unwrap();
        *flags.last_mut().unwrap() = 2;
        assert!(decode::<bool>(&flags).is_err());
        // A value of another type.
        assert!(encode::<u16>(&value(1_u16)).is_err());
    }

    #[test]
    fn accumulators_round_trip_and_bad_bytes_are_refused() {
        let a: ArrayD<Option<(i32, usize)>> = ArrayD::from_shape_fn(IxDyn(&[2, 3]), |i| {
            (i[1] != 1).then_some((i[0] as i32, i[1]))
        });
        let bytes = encode_acc::<Option<(i32, usize)>>(&value(a.clone())).unwrap();
        let back = decode_acc::<Option<(i32, usize)>>(&bytes).unwrap();
        assert_eq!(
            back.downcast_ref::<ArrayD<Option<(i32, usize)>>>(),
            Some(&a)
        );
        for n in 0..bytes.len() {
            assert!(
                decode_acc::<Option<(i32, usize)>>(&bytes[..n]).is_err(),
                "{n}"
            );
        }
        // A shape that does not fit the elements, and one whose size overflows.
        let lying = partita_runtime::encode_params("t", &(vec![7_u64], vec![Some(1.0_f64)]));
        assert!(decode_acc::<Option<f64>>(&lying.unwrap()).is_err());
        let huge = partita_runtime::encode_params("t", &(vec![u64::MAX, 3], Vec::<f64>::new()));
        assert!(decode_acc::<f64>(&huge.unwrap()).is_err());
        assert!(codec_for::<ArrayD<super::super::reduce::Moments>>().is_some());
        assert!(codec_for::<ArrayD<Option<u128>>>().is_some());
    }
}
