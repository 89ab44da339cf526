//! Codecs: how a partition crosses a process boundary (remote transfer, spill).
//!
//! In process, values are shared `Arc`s and nothing is serialised. A collection that wants its
//! partitions to move or spill gives the runtime a [`Codec`] for them. Decoding bytes from outside
//! returns an error, never a panic.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::graph::TaskKey;
use crate::value::{downcast, Value};

/// Encodes and decodes one kind of partition.
pub trait Codec: Send + Sync {
    /// The value's bytes.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] if `value` is not of this codec's type, [`Error::Codec`] if it
    /// cannot be encoded.
    fn encode(&self, key: &TaskKey, value: &Value) -> Result<Vec<u8>>;

    /// The value back from its bytes.
    ///
    /// # Errors
    /// [`Error::Codec`] naming `key` for malformed, truncated or trailing bytes.
    fn decode(&self, key: &TaskKey, bytes: &[u8]) -> Result<Value>;
}

/// The codec for any serde type, through bincode. Bag items use it.
///
/// ```
/// use partita_runtime::{value, BincodeCodec, Codec, TaskKey};
/// let codec = BincodeCodec::<Vec<String>>::new();
/// let key = TaskKey::new("words", 0);
/// let bytes = codec.encode(&key, &value(vec!["a".to_string(), "b".to_string()]))?;
/// let back = codec.decode(&key, &bytes)?;
/// assert_eq!(back.downcast_ref::<Vec<String>>().unwrap(), &["a", "b"]);
/// assert!(codec.decode(&key, &bytes[..1]).is_err());
/// # Ok::<(), partita_runtime::Error>(())
/// ```
pub struct BincodeCodec<T>(PhantomData<fn() -> T>);

impl<T> BincodeCodec<T> {
    /// The codec.
    pub fn new() -> Self {
        BincodeCodec(PhantomData)
    }
}

impl<T> Default for BincodeCodec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for BincodeCodec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BincodeCodec<{}>", std::any::type_name::<T>())
    }
}

/// Decoding never allocates more than this for one value.
const LIMIT: usize = 1 << 32;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<LIMIT>()
}

impl<T> Codec for BincodeCodec<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn encode(&self, key: &TaskKey, value: &Value) -> Result<Vec<u8>> {
        let v: &T = downcast(value, key)?;
        bincode::serde::encode_to_vec(v, config()).map_err(|e| Error::Codec {
            what: key.to_string(),
            message: e.to_string(),
        })
    }

    fn decode(&self, key: &TaskKey, bytes: &[u8]) -> Result<Value> {
        let codec_error = |message: String| Error::Codec {
            what: key.to_string(),
            message,
        };
        let (v, read): (T, usize) = bincode::serde::decode_from_slice(bytes, config())
            .map_err(|e| codec_error(e.to_string()))?;
        if read != bytes.len() {
            return Err(codec_error(format!(
                "{} trailing bytes after the value",
                bytes.len() - read
            )));
        }
        Ok(std::sync::Arc::new(v))
    }
}
