//! Codecs for the intermediate values of a bag's generic operations: a `foldby`'s partial tables,
//! the pieces a `groupby` or a `distinct` shuffles, a `fold`'s or a `reduction`'s accumulators.
//!
//! Their types are generic over the user's types (`Ordered<K, A>`, `Option<A>`), so no codec can
//! be registered for each of them at link time. Instead each travels as one registered type,
//! [`Portable`]: in the process that made it, the typed value itself, boxed (so the local path
//! pays one allocation per task, never a conversion); on the wire, the value written as a few
//! parts that have codecs of their own, which a [`Form`] chooses:
//!
//! - a table `Ordered<K, V>` as its entries, a `Vec<(K, V)>` (what a `foldby` or `groupby` gives
//!   as its result, so its codec is needed anyway), or as its keys alone, a `Vec<K>`, when the
//!   values are `()` (a `distinct`);
//! - an accumulator `Option<A>` as none or one `A` (the codec a shipped `fold` needs anyway for
//!   its initial value).
//!
//! Decoding gives the parts back as values; the typed kernel that reads the value rebuilds it
//! from them ([`take`]), and malformed bytes or parts of the wrong type are errors, never panics.

use std::any::Any;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use partita_runtime::{
    decode_params, decode_value, downcast_owned, encode_params, encode_value, value, Error, Result,
    TaskKey, Value,
};

use super::reduce::Ordered;
use super::Reader;

/// How a typed value is written as values that have codecs, and read back from them.
pub(super) trait Form: 'static {
    /// The typed value.
    type X: Clone + Send + Sync + 'static;

    /// What the parts are, for errors.
    fn parts_name() -> &'static str;

    /// The values with codecs that `x` is written as.
    fn parts(x: &Self::X) -> Vec<Value>;

    /// The value again from its parts (of a value read at `key`).
    ///
    /// # Errors
    /// [`Error::Codec`] if the parts are not what [`Form::parts`] writes.
    fn from_parts(parts: Vec<Value>, key: &TaskKey) -> Result<Self::X>;
}

/// A typed value of a generic type, as one task value with a codec; see the module doc.
#[derive(Clone)]
pub(super) struct Portable(Body);

#[derive(Clone)]
enum Body {
    /// As made in this process.
    Here(Held),
    /// As read back from bytes: the parts, each decoded by its codec.
    Parts(Vec<Value>),
}

/// The typed value, behind its form's functions.
struct Held {
    value: Box<dyn Any + Send + Sync>,
    /// The type's name and its parts', for errors.
    name: &'static str,
    written_as: &'static str,
    parts: fn(&(dyn Any + Send + Sync)) -> Option<Vec<Value>>,
    clone: fn(&(dyn Any + Send + Sync)) -> Option<Box<dyn Any + Send + Sync>>,
}

impl Clone for Held {
    fn clone(&self) -> Self {
        Held {
            // The box always holds the type whose functions these are.
            value: (self.clone)(&*self.value).unwrap_or_else(|| Box::new(())),
            ..*self
        }
    }
}

impl std::fmt::Debug for Portable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Body::Here(h) => write!(f, "Portable({})", h.name),
            Body::Parts(p) => write!(f, "Portable({} parts)", p.len()),
        }
    }
}

fn parts_of<F: Form>(x: &(dyn Any + Send + Sync)) -> Option<Vec<Value>> {
    x.downcast_ref::<F::X>().map(F::parts)
}

fn clone_of<F: Form>(x: &(dyn Any + Send + Sync)) -> Option<Box<dyn Any + Send + Sync>> {
    x.downcast_ref::<F::X>()
        .map(|x| Box::new(x.clone()) as Box<dyn Any + Send + Sync>)
}

impl Portable {
    /// `x`, to be written with form `F`.
    pub(super) fn new<F: Form>(x: F::X) -> Portable {
        Portable(Body::Here(Held {
            value: Box::new(x),
            name: std::any::type_name::<F::X>(),
            written_as: F::parts_name(),
            parts: parts_of::<F>,
            clone: clone_of::<F>,
        }))
    }
}

/// `x` as a task value written with form `F`.
pub(super) fn put<F: Form>(x: F::X) -> Value {
    value(Portable::new::<F>(x))
}

/// The typed value of form `F` in `v`, the value of task `key`.
///
/// # Errors
/// [`Error::TypeMismatch`] if `v` is not a [`Portable`] of `F::X`, [`Error::Codec`] if it was
/// read back from parts that `F` did not write.
pub(super) fn take<F: Form>(v: Value, key: &TaskKey) -> Result<F::X> {
    let mismatch = || Error::TypeMismatch {
        key: key.clone(),
        expected: std::any::type_name::<F::X>(),
    };
    match downcast_owned::<Portable>(v, key)?.0 {
        Body::Here(held) => held
            .value
            .downcast::<F::X>()
            .map(|x| *x)
            .map_err(|_| mismatch()),
        Body::Parts(parts) => F::from_parts(parts, key),
    }
}

fn malformed(key: &TaskKey, message: String) -> Error {
    Error::Codec {
        what: format!("the value read for {key}"),
        message,
    }
}

/// The one part of `parts`, as a `P`.
fn one_part<P: Clone + Send + Sync + 'static>(parts: Vec<Value>, key: &TaskKey) -> Result<P> {
    let n = parts.len();
    let [part]: [Value; 1] = parts
        .try_into()
        .map_err(|_| malformed(key, format!("{n} parts, not 1")))?;
    downcast_owned::<P>(part, key)
}

/// A table `Ordered<K, V>` as its entries, a `Vec<(K, V)>`.
pub(super) struct Entries<K, V>(PhantomData<fn() -> (K, V)>);

impl<K, V> Form for Entries<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    type X = Ordered<K, V>;
    fn parts_name() -> &'static str {
        std::any::type_name::<Vec<(K, V)>>()
    }

    fn parts(x: &Ordered<K, V>) -> Vec<Value> {
        vec![value(x.entries().to_vec())]
    }

    fn from_parts(parts: Vec<Value>, key: &TaskKey) -> Result<Ordered<K, V>> {
        let entries: Vec<(K, V)> = one_part(parts, key)?;
        Ordered::from_entries(entries)
            .ok_or_else(|| malformed(key, "a table with a key twice".into()))
    }
}

/// A table of keys alone, `Ordered<K, ()>`, as its keys, a `Vec<K>`.
pub(super) struct Keys<K>(PhantomData<fn() -> K>);

impl<K> Form for Keys<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    type X = Ordered<K, ()>;
    fn parts_name() -> &'static str {
        std::any::type_name::<Vec<K>>()
    }

    fn parts(x: &Ordered<K, ()>) -> Vec<Value> {
        vec![value(
            x.entries()
                .iter()
                .map(|(k, ())| k.clone())
                .collect::<Vec<K>>(),
        )]
    }

    fn from_parts(parts: Vec<Value>, key: &TaskKey) -> Result<Ordered<K, ()>> {
        let keys: Vec<K> = one_part(parts, key)?;
        Ordered::from_entries(keys.into_iter().map(|k| (k, ())).collect())
            .ok_or_else(|| malformed(key, "a set with a key twice".into()))
    }
}

/// An accumulator `Option<A>` as none or one `A`.
pub(super) struct Maybe<A>(PhantomData<fn() -> A>);

impl<A: Clone + Send + Sync + 'static> Form for Maybe<A> {
    type X = Option<A>;
    fn parts_name() -> &'static str {
        std::any::type_name::<A>()
    }

    fn parts(x: &Option<A>) -> Vec<Value> {
        x.iter().map(|a| value(a.clone())).collect()
    }

    fn from_parts(parts: Vec<Value>, key: &TaskKey) -> Result<Option<A>> {
        match parts.len() {
            0 => Ok(None),
            1 => one_part(parts, key).map(Some),
            n => Err(malformed(key, format!("{n} parts, not 0 or 1"))),
        }
    }
}

/// How a tree of `reduce.rs` stores its values of type `A` as task values and takes them back.
pub(super) struct Store<A> {
    /// `A` as a task value.
    pub(super) put: fn(A) -> Value,
    /// The `A` in the value of a task.
    pub(super) take: fn(Value, &TaskKey) -> Result<A>,
}

impl<A> Clone for Store<A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A> Copy for Store<A> {}

impl<A: Clone + Send + Sync + 'static> Store<A> {
    /// Values as themselves (types with a codec of their own).
    pub(super) fn plain() -> Store<A> {
        Store {
            put: value::<A>,
            take: downcast_owned::<A>,
        }
    }
}

/// Values as [`Portable`]s of form `F`.
pub(super) fn store<F: Form>() -> Store<F::X> {
    Store {
        put: put::<F>,
        take: take::<F>,
    }
}

/// The reader of partitions that are a [`Portable`] `Option<A>`: its item, if any.
pub(super) fn maybe_reader<A: Clone + Send + Sync + 'static>() -> Reader<A> {
    Arc::new(|v: Value, key: &TaskKey, emit: &mut dyn FnMut(A)| {
        take::<Maybe<A>>(v, key)?.into_iter().for_each(emit);
        Ok(())
    })
}

/// The bytes of a [`Portable`]: each part as its codec's `(name, bytes)`.
fn encode(v: &Value) -> Result<Vec<u8>> {
    let other = || Error::Codec {
        what: "a bag's intermediate value".into(),
        message: "the value is of another type".into(),
    };
    let p = v.downcast_ref::<Portable>().ok_or_else(other)?;
    let (name, what, parts) = match &p.0 {
        Body::Here(held) => (
            held.name,
            format!("{}, written as {}", held.name, held.written_as),
            (held.parts)(&*held.value).ok_or_else(other)?,
        ),
        Body::Parts(parts) => (
            "a bag's intermediate value",
            "a part of a bag's intermediate value".to_string(),
            parts.clone(),
        ),
    };
    let written = parts
        .iter()
        .map(|part| {
            let (codec, bytes) = encode_value(&what, part)?;
            Ok((codec.to_string(), bytes))
        })
        .collect::<Result<Vec<(String, Vec<u8>)>>>()?;
    encode_params(name, &written)
}

/// A [`Portable`] read back as its parts.
fn decode(bytes: &[u8]) -> Result<Value> {
    let written: Vec<(String, Vec<u8>)> = decode_params("a bag's intermediate value", bytes)?;
    let parts = written
        .into_iter()
        .map(|(codec, b)| decode_value("a part of a bag's intermediate value", &codec, &b))
        .collect::<Result<Vec<Value>>>()?;
    Ok(value(Portable(Body::Parts(parts))))
}

partita_runtime::register_codec!(Portable, "bag.portable", encode, decode);

#[cfg(test)]
mod test {
    use super::*;

    fn round_trip(v: &Value) -> Result<Value> {
        let codec = partita_runtime::codec_of(v).expect("a codec");
        (codec.decode)(&(codec.encode)(v)?)
    }

    fn table() -> Ordered<String, u64> {
        let mut t = Ordered::default();
        t.insert_new("c".to_string(), 3);
        t.insert_new("a".to_string(), 1);
        t
    }

    #[test]
    fn tables_and_accumulators_round_trip() {
        let key = TaskKey::new("t", 0);
        let v = put::<Entries<String, u64>>(table());
        let here = take::<Entries<String, u64>>(v.clone(), &key).expect("here");
        let back = take::<Entries<String, u64>>(round_trip(&v).expect("codec"), &key).unwrap();
        assert_eq!(here.entries(), table().entries());
        assert_eq!(back.entries(), table().entries());
        // A value read back can be written again, as a cluster's worker passes it on.
        let again = round_trip(&round_trip(&v).unwrap()).unwrap();
        let again = take::<Entries<String, u64>>(again, &key).unwrap();
        assert_eq!(again.entries(), table().entries());

        let mut set = Ordered::default();
        set.insert_new("x".to_string(), ());
        let v = round_trip(&put::<Keys<String>>(set)).unwrap();
        let back = take::<Keys<String>>(v, &key).unwrap();
        assert_eq!(back.entries(), &[("x".to_string(), ())]);

        for acc in [None, Some(7_u64)] {
            let v = round_trip(&put::<Maybe<u64>>(acc)).unwrap();
            assert_eq!(take::<Maybe<u64>>(v, &key).unwrap(), acc);
        }
    }

    #[test]
    fn malformed_values_are_errors() {
        let key = TaskKey::new("t", 0);
        let codec = partita_runtime::codec_for::<Portable>().expect("registered");
        let bytes = (codec.encode)(&put::<Entries<String, u64>>(table())).unwrap();
        for cut in 0..bytes.len() {
            assert!((codec.decode)(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!((codec.decode)(&[0xff; 9]).is_err());
        // Parts of another type, or a key twice, are errors of the reader.
        let v = round_trip(&put::<Maybe<u64>>(Some(1))).unwrap();
        assert!(take::<Entries<String, u64>>(v.clone(), &key).is_err());
        assert!(take::<Maybe<String>>(v, &key).is_err());
        let twice = Portable(Body::Parts(vec![value(vec![1_u64, 1])]));
        let pairs = vec![("a".to_string(), 1_u64), ("a".to_string(), 2)];
        let pairs = Portable(Body::Parts(vec![value(pairs)]));
        assert!(take::<Entries<String, u64>>(value(pairs), &key).is_err());
        assert!(take::<Keys<u64>>(value(twice), &key).is_err());
        let two = Portable(Body::Parts(vec![value(1_u64), value(2_u64)]));
        assert!(take::<Maybe<u64>>(value(two), &key).is_err());
        // A value typed here is taken only as its own type.
        let v = put::<Maybe<u64>>(Some(1));
        assert!(take::<Maybe<u32>>(v, &key).is_err());
        // A value whose parts have no codec fails to encode, naming its type.
        #[derive(Clone)]
        struct Opaque;
        let err = (codec.encode)(&put::<Maybe<Opaque>>(Some(Opaque))).unwrap_err();
        assert!(err.to_string().contains("Opaque"), "{err}");
        // A table whose entries have no codec names them.
        let mut t = Ordered::default();
        t.insert_new(1_u64, Opaque);
        let err = (codec.encode)(&put::<Entries<u64, Opaque>>(t)).unwrap_err();
        assert!(
            err.to_string()
                .contains("written as alloc::vec::Vec<(u64, "),
            "{err}"
        );
    }
}
