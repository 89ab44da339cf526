//! The value codecs linked into the executable, found by type or by name.
//!
//! A value crosses a process boundary as `(codec name, bytes)`. Each [`ValueCodec`] is a
//! link-time entry of [`VALUE_CODECS`]; [`register_value!`](crate::register_value) adds one for
//! any serde type through bincode, and the collections register Arrow IPC for frames and a
//! dtype-shape-bytes layout for array chunks. Decoding bytes from outside returns an error,
//! never a panic.

use std::any::{Any, TypeId};
use std::sync::OnceLock;

use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::graph::TaskKey;
use crate::remote::name_index::NameIndex;
use crate::remote::operation::{config, decode_params};
use crate::value::Value;

/// How one type of partition value is written as bytes and read back.
#[derive(Debug)]
pub struct ValueCodec {
    /// The stable name, unique in the executable.
    pub name: &'static str,
    /// The type this codec reads and writes.
    pub type_id: fn() -> TypeId,
    /// The value's bytes.
    ///
    /// # Errors
    /// [`Error::Codec`] if the value is not of this codec's type or cannot be encoded.
    pub encode: fn(&Value) -> Result<Vec<u8>>,
    /// The value back from its bytes.
    ///
    /// # Errors
    /// [`Error::Codec`] or [`Error::Wire`] for malformed bytes; never a panic.
    pub decode: fn(&[u8]) -> Result<Value>,
    /// An estimate of the bytes the value takes in memory, which the runtime's memory limit
    /// counts; 0 when unknown (the value is then not counted and does not spill).
    pub size: fn(&Value) -> usize,
}

/// Every value codec linked into the executable.
// The slice lives in a link section that linkme declares; no unsafe code is written here.
#[allow(unsafe_code)]
#[linkme::distributed_slice]
pub static VALUE_CODECS: [ValueCodec];

struct Index {
    by_type: FxHashMap<TypeId, &'static ValueCodec>,
    by_name: NameIndex<ValueCodec>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut by_type: FxHashMap<TypeId, &'static ValueCodec> = FxHashMap::default();
        let by_name = NameIndex::new(&VALUE_CODECS, |c| c.name);
        for c in VALUE_CODECS.iter() {
            // Two codecs for one type (a user registering a type the runtime already covers):
            // keep the one whose name sorts first, so every process of the build picks the same.
            by_type
                .entry((c.type_id)())
                .and_modify(|old| {
                    if c.name < old.name {
                        *old = c;
                    }
                })
                .or_insert(c);
        }
        Index { by_type, by_name }
    })
}

/// The codec for the concrete type inside `value`, if one is registered.
pub fn codec_of(value: &Value) -> Option<&'static ValueCodec> {
    let any: &(dyn Any + Send + Sync) = &**value;
    index().by_type.get(&any.type_id()).copied()
}

/// The codec for `T`, if one is registered.
pub fn codec_for<T: 'static>() -> Option<&'static ValueCodec> {
    index().by_type.get(&TypeId::of::<T>()).copied()
}

/// The codec registered as `name`.
///
/// # Errors
/// [`Error::Wire`] if no codec, or more than one, has that name.
pub fn codec_named(name: &str) -> Result<&'static ValueCodec> {
    index().by_name.get("value codec", name)
}

/// Encodes `value` as `(codec name, bytes)`.
///
/// # Errors
/// [`Error::Codec`] naming `what` when its type has no codec, or the codec fails.
pub fn encode_value(what: &str, value: &Value) -> Result<(&'static str, Vec<u8>)> {
    let codec = codec_of(value).ok_or_else(|| Error::Codec {
        what: what.to_string(),
        message:
            "its type has no registered codec; register it with partita::register_value!(Type)"
                .to_string(),
    })?;
    Ok((codec.name, (codec.encode)(value)?))
}

/// Decodes a value written by [`encode_value`].
///
/// # Errors
/// [`Error::Wire`] for an unknown codec, [`Error::Codec`] for malformed bytes.
pub fn decode_value(what: &str, codec: &str, bytes: &[u8]) -> Result<Value> {
    (codec_named(codec)?.decode)(bytes).map_err(|e| Error::Codec {
        what: what.to_string(),
        message: e.to_string(),
    })
}

/// `value`, encoded with its codec and decoded back, as a task's value reaches a task on
/// another worker: what a runtime that round-trips values
/// ([`Builder::round_trip_values`](crate::Builder::round_trip_values)) hands on.
///
/// # Errors
/// [`Error::TaskFailed`] for `key` whose source is an [`Error::Codec`] naming the value's Rust
/// type (when [`value`](crate::value) wrapped it) if the type has no codec or its codec fails.
pub(crate) fn round_trip(key: &TaskKey, value: &Value) -> Result<Value> {
    let type_name = || {
        crate::value::type_names::of(value).map_or_else(
            || "a type not wrapped by partita_runtime::value".to_string(),
            str::to_string,
        )
    };
    let failed = |message: String| {
        Error::failed_by(
            key.clone(),
            Error::Codec {
                what: format!("the value of task {key} ({})", type_name()),
                message,
            },
        )
    };
    let codec = codec_of(value).ok_or_else(|| {
        failed(
            "its type has no registered codec, so it cannot move between workers; register \
             it with partita::register_value!(Type), or register_codec! for a custom codec"
                .to_string(),
        )
    })?;
    let bytes = (codec.encode)(value).map_err(|e| failed(format!("encoding: {e}")))?;
    (codec.decode)(&bytes).map_err(|e| failed(format!("decoding {}: {e}", codec.name)))
}

/// Writes a serde value with bincode; used by [`register_value!`](crate::register_value).
#[doc(hidden)]
pub fn bincode_encode<T: Serialize + 'static>(value: &Value) -> Result<Vec<u8>> {
    let v = value.downcast_ref::<T>().ok_or_else(|| Error::Codec {
        what: std::any::type_name::<T>().to_string(),
        message: "the value is of another type".to_string(),
    })?;
    bincode::serde::encode_to_vec(v, config()).map_err(|e| Error::Codec {
        what: std::any::type_name::<T>().to_string(),
        message: e.to_string(),
    })
}

/// The bytes of a serde value's fixed-width bincode form (8 bytes for an `i64`, a length and
/// the bytes for a `String`), an estimate of its size in memory; used by
/// [`register_value!`](crate::register_value).
#[doc(hidden)]
pub fn bincode_size<T: Serialize + 'static>(value: &Value) -> usize {
    let Some(v) = value.downcast_ref::<T>() else {
        return 0;
    };
    let fixed = bincode::config::standard().with_fixed_int_encoding();
    bincode::serde::encode_into_std_write(v, &mut std::io::sink(), fixed).unwrap_or(0)
}

/// The size of a value whose codec gives none: unknown, so it is not counted.
#[doc(hidden)]
pub fn size_unknown(_: &Value) -> usize {
    0
}

/// Reads a serde value with bincode; used by [`register_value!`](crate::register_value).
#[doc(hidden)]
pub fn bincode_decode<T: DeserializeOwned + Send + Sync + 'static>(bytes: &[u8]) -> Result<Value> {
    let v: T = decode_params(std::any::type_name::<T>(), bytes)?;
    Ok(std::sync::Arc::new(v))
}

/// Registers a serde type's bincode codec at link time, so that its values can be literals of a
/// shipped graph, results sent back, and (later) spilled.
///
/// The name defaults to the type as written, prefixed by the module; give one explicitly to keep
/// it stable when the type moves.
///
/// ```
/// use partita_runtime::{register_value, value, Operation};
///
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct Point { x: f64, y: f64 }
/// register_value!(Point);
///
/// assert!(Operation::literal(&Point { x: 1.0, y: 2.0 }).is_some());
/// ```
#[macro_export]
macro_rules! register_value {
    ($t:ty) => {
        $crate::register_value!($t, concat!(module_path!(), "::", stringify!($t)));
    };
    ($t:ty, $name:expr) => {
        $crate::register_codec!(
            $t,
            $name,
            $crate::__private::bincode_encode::<$t>,
            $crate::__private::bincode_decode::<$t>,
            $crate::__private::bincode_size::<$t>
        );
    };
}

/// Registers a codec of one's own for type `$t` at link time: `encode` is a
/// `fn(&Value) -> Result<Vec<u8>>` and `decode` a `fn(&[u8]) -> Result<Value>` that returns an
/// error, never panics, on malformed bytes. Frames and array chunks register theirs this way.
/// An optional fifth argument, a `fn(&Value) -> usize`, estimates a value's bytes in memory,
/// so that the runtime's memory limit counts it and it can spill; without one the value is
/// not counted.
///
/// ```
/// use std::sync::Arc;
/// use partita_runtime::{codec_for, register_codec, Error, Result, Value};
///
/// struct Celsius(f32);
/// fn encode(v: &Value) -> Result<Vec<u8>> {
///     let c = v.downcast_ref::<Celsius>().ok_or(Error::Shutdown)?;
///     Ok(c.0.to_le_bytes().to_vec())
/// }
/// fn decode(b: &[u8]) -> Result<Value> {
///     let bytes: [u8; 4] = b.try_into().map_err(|_| Error::Codec {
///         what: "Celsius".into(),
///         message: format!("{} bytes, not 4", b.len()),
///     })?;
///     Ok(Arc::new(Celsius(f32::from_le_bytes(bytes))))
/// }
/// register_codec!(Celsius, "doc::Celsius", encode, decode);
///
/// let codec = codec_for::<Celsius>().unwrap();
/// let v: Value = Arc::new(Celsius(21.5));
/// let back = (codec.decode)(&(codec.encode)(&v)?)?;
/// assert_eq!(back.downcast_ref::<Celsius>().unwrap().0, 21.5);
/// assert!((codec.decode)(&[1, 2]).is_err());
/// # Ok::<(), partita_runtime::Error>(())
/// ```
#[macro_export]
macro_rules! register_codec {
    ($t:ty, $name:expr, $encode:expr, $decode:expr) => {
        $crate::register_codec!($t, $name, $encode, $decode, $crate::__private::size_unknown);
    };
    ($t:ty, $name:expr, $encode:expr, $decode:expr, $size:expr) => {
        // A link-time entry of the slice (linkme places it in the slice's link section).
        #[allow(unsafe_code)]
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::VALUE_CODECS)]
            #[linkme(crate = $crate::__private::linkme)]
            static CODEC: $crate::ValueCodec = $crate::ValueCodec {
                name: $name,
                type_id: ::std::any::TypeId::of::<$t>,
                encode: $encode,
                decode: $decode,
                size: $size,
            };
        };
    };
}

macro_rules! builtin {
    ($($t:ty),* $(,)?) => {
        $(
            crate::register_value!($t, stringify!($t));
            crate::register_value!(Vec<$t>, concat!("Vec<", stringify!($t), ">"));
            crate::register_value!(Option<$t>, concat!("Option<", stringify!($t), ">"));
        )*
    };
}

builtin!(bool, i8, i16, i32, i64, i128, u8, u16, u32, u64, u128, f32, f64, String, usize);
crate::register_value!((), "()");
crate::register_value!(Vec<(String, u64)>, "Vec<(String, u64)>");
crate::register_value!(Vec<(String, usize)>, "Vec<(String, usize)>");
crate::register_value!(Vec<Vec<String>>, "Vec<Vec<String>>");
crate::register_value!(Vec<(u64, u64)>, "Vec<(u64, u64)>");
crate::register_value!(Vec<(i64, u64)>, "Vec<(i64, u64)>");
