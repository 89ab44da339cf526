//! Operations as data: a registered operator's name plus its serde parameters.
//!
//! Every operator is a [`Operator`] entry in the link-time slice [`OPERATORS`]: a stable name and
//! a function that builds the task's kernel from the parameters. A task carries its
//! [`Operation`] beside its kernel; the local schedulers call the kernel and never look at the
//! operation, so describing work as data costs nothing per task. Only when a graph leaves the
//! process is the operation written out, and on the far side the operator named in it builds
//! the same kernel again.

use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::graph::TaskKey;
use crate::remote::name_index::NameIndex;
use crate::remote::value_codec::{self, ValueCodec};
use crate::value::{Kernel, Value};

/// What an operator's builder is given on the far side: the task's key and its inputs' keys.
#[derive(Debug, Clone, Copy)]
pub struct TaskContext<'a> {
    /// The task being rebuilt.
    pub key: &'a TaskKey,
    /// Its inputs, in the order its kernel receives them.
    pub deps: &'a [TaskKey],
}

/// A registered operator: the stable name a graph uses for it, and how to build a kernel from
/// the parameters a graph carries.
///
/// Register one with [`register_operator!`](crate::register_operator).
#[derive(Debug)]
pub struct Operator {
    /// The stable name, unique in the executable.
    pub name: &'static str,
    /// Builds the task's kernel from its parameters.
    ///
    /// # Errors
    /// Malformed parameters; never a panic.
    pub build: fn(TaskContext<'_>, &[u8]) -> Result<Kernel>,
}

/// Every operator linked into the executable.
// The slice lives in a link section that linkme declares; no unsafe code is written here.
#[allow(unsafe_code)]
#[linkme::distributed_slice]
pub static OPERATORS: [Operator];

fn operators() -> &'static NameIndex<Operator> {
    static BY_NAME: OnceLock<NameIndex<Operator>> = OnceLock::new();
    BY_NAME.get_or_init(|| NameIndex::new(&OPERATORS, |op| op.name))
}

/// The operator registered as `name`.
///
/// # Errors
/// [`Error::Wire`] if no operator, or more than one, has that name.
pub fn operator(name: &str) -> Result<&'static Operator> {
    operators().get("operator", name)
}

/// The names registered more than once; empty in a healthy executable.
pub fn duplicate_operators() -> Vec<&'static str> {
    operators().duplicates()
}

/// One task's work as data: an operator name and its parameters.
///
/// Cloning is cheap; the tasks of one layer usually share one operation.
///
/// ```
/// use partita_runtime::{Operation, TaskKey};
/// let op = Operation::literal(&41_i64).expect("i64 has a codec");
/// assert_eq!(op.name(), "partita.literal");
/// let kernel = op.build(&TaskKey::new("x", 0), &[])?;
/// assert_eq!(*kernel(vec![])?.downcast_ref::<i64>().unwrap(), 41);
/// # Ok::<(), partita_runtime::Error>(())
/// ```
#[derive(Clone)]
pub struct Operation(Arc<Inner>);

struct Inner {
    name: &'static str,
    params: Params,
}

enum Params {
    /// Parameters already encoded.
    Bytes(Vec<u8>),
    /// A literal value, encoded only if the graph is shipped.
    Literal(Value, &'static ValueCodec),
    /// Parameters that could not be encoded; shipping the task fails with this message.
    Invalid(String),
}

impl std::fmt::Debug for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Operation({})", self.0.name)
    }
}

/// bincode with a decoding limit, so that a length read from outside cannot allocate without
/// bound.
pub(crate) fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ 1 << 32 }>()
}

/// Encodes parameters as [`decode_params`] reads them.
///
/// # Errors
/// [`Error::Wire`] naming `what` if the value cannot be encoded.
///
/// ```
/// let bytes = partita_runtime::encode_params("p", &(7_u32, "x".to_string()))?;
/// let back: (u32, String) = partita_runtime::decode_params("p", &bytes)?;
/// assert_eq!(back, (7, "x".to_string()));
/// # Ok::<(), partita_runtime::Error>(())
/// ```
pub fn encode_params(what: &str, params: &impl Serialize) -> Result<Vec<u8>> {
    bincode::serde::encode_to_vec(params, config()).map_err(|e| Error::wire(format!("{what}: {e}")))
}

/// Decodes one serde value that must fill `bytes` exactly.
///
/// # Errors
/// [`Error::Wire`] naming `what` for malformed, truncated or trailing bytes.
pub fn decode_params<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    let (v, read): (T, usize) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| Error::wire(format!("{what}: {e}")))?;
    if read != bytes.len() {
        return Err(Error::wire(format!(
            "{what}: {} trailing bytes",
            bytes.len() - read
        )));
    }
    Ok(v)
}

/// The literal operator's parameters: a codec name and the value's bytes.
const LITERAL: &str = "partita.literal";

impl Operation {
    /// The operator `name` with `params`. A parameter that cannot be encoded (a map whose keys
    /// are not strings in some formats, say) does not fail here: the task stays runnable, and
    /// shipping it fails naming the operator.
    pub fn new(name: &'static str, params: &impl Serialize) -> Operation {
        let params = match bincode::serde::encode_to_vec(params, config()) {
            Ok(bytes) => Params::Bytes(bytes),
            Err(e) => Params::Invalid(format!("parameters of {name} cannot be encoded: {e}")),
        };
        Operation(Arc::new(Inner { name, params }))
    }

    /// A task that returns `value`, when its type has a registered codec
    /// ([`register_value!`](crate::register_value)); `None` otherwise. Nothing is encoded unless
    /// the graph is shipped.
    pub fn literal<T: Clone + Send + Sync + 'static>(value: &T) -> Option<Operation> {
        Self::literal_value(crate::value::value(value.clone()))
    }

    /// [`literal`](Self::literal) for a value already shared as a partition.
    pub fn literal_value(value: Value) -> Option<Operation> {
        let codec = value_codec::codec_of(&value)?;
        Some(Operation(Arc::new(Inner {
            name: LITERAL,
            params: Params::Literal(value, codec),
        })))
    }

    /// The identity of this operation's shared parameters, for de-duplication.
    pub(crate) fn identity(&self) -> *const () {
        Arc::as_ptr(&self.0).cast()
    }

    /// The operator's name.
    pub fn name(&self) -> &'static str {
        self.0.name
    }

    /// The parameters as bytes, as a graph carries them.
    ///
    /// # Errors
    /// [`Error::Codec`] if a literal cannot be encoded, [`Error::Wire`] if the parameters could
    /// not be encoded when the operation was made.
    pub fn params(&self) -> Result<Vec<u8>> {
        match &self.0.params {
            Params::Bytes(b) => Ok(b.clone()),
            Params::Literal(v, codec) => {
                let bytes = (codec.encode)(v)?;
                bincode::serde::encode_to_vec((codec.name, bytes), config())
                    .map_err(|e| Error::wire(format!("literal of {}: {e}", codec.name)))
            }
            Params::Invalid(message) => Err(Error::wire(message.clone())),
        }
    }

    /// Builds the kernel this operation describes, as the far side does.
    ///
    /// # Errors
    /// As [`Operator::build`], and [`Error::Wire`] for an unknown operator.
    pub fn build(&self, key: &TaskKey, deps: &[TaskKey]) -> Result<Kernel> {
        let params = self.params()?;
        (operator(self.0.name)?.build)(TaskContext { key, deps }, &params)
    }
}

fn build_literal(cx: TaskContext<'_>, params: &[u8]) -> Result<Kernel> {
    let (codec, bytes): (String, Vec<u8>) = decode_params(LITERAL, params)?;
    let value = (value_codec::codec_named(&codec)?.decode)(&bytes).map_err(|e| Error::Codec {
        what: format!("literal {}", cx.key),
        message: e.to_string(),
    })?;
    Ok(Arc::new(move |_| Ok(value.clone())))
}

crate::register_operator!(LITERAL, build_literal);

/// A partition persisted on a cluster, by its id there (a `u64`): the cluster's scheduler and
/// workers resolve it to the copies they hold; it does not run anywhere else.
pub const PERSISTED: &str = "partita.persisted";

fn build_persisted(cx: TaskContext<'_>, params: &[u8]) -> Result<Kernel> {
    let id: u64 = decode_params(PERSISTED, params)?;
    let key = cx.key.clone();
    Ok(Arc::new(move |_| {
        Err(Error::Cluster {
            message: format!(
                "{key} is persisted on a cluster (as {id}); only that cluster's workers read it"
            ),
        })
    }))
}

crate::register_operator!(PERSISTED, build_persisted);

/// Passes its first input through: renames, and partitions taken from another collection.
pub const FIRST_INPUT: &str = "partita.first_input";

fn build_first_input(cx: TaskContext<'_>, params: &[u8]) -> Result<Kernel> {
    let () = decode_params(FIRST_INPUT, params)?;
    let key = cx.key.clone();
    Ok(Arc::new(move |mut inputs: Vec<Value>| {
        if inputs.is_empty() {
            return Err(Error::MissingKey { key: key.clone() });
        }
        Ok(inputs.swap_remove(0))
    }))
}

crate::register_operator!(FIRST_INPUT, build_first_input);

/// Registers an operator under a stable name, at link time.
///
/// `build` is a `fn(TaskContext, &[u8]) -> Result<Kernel>` that decodes the parameters (with
/// [`decode_params`](crate::decode_params)) and returns the kernel.
///
/// ```
/// use std::sync::Arc;
/// use partita_runtime::{decode_params, register_operator, value, Kernel, Operation, Result, TaskContext, TaskKey};
///
/// fn build_add(_: TaskContext<'_>, params: &[u8]) -> Result<Kernel> {
///     let n: i64 = decode_params("doc.add", params)?;
///     Ok(Arc::new(move |_| Ok(value(n + 1))))
/// }
/// register_operator!("doc.add", build_add);
///
/// let kernel = Operation::new("doc.add", &41_i64).build(&TaskKey::new("a", 0), &[])?;
/// assert_eq!(*kernel(vec![])?.downcast_ref::<i64>().unwrap(), 42);
/// # Ok::<(), partita_runtime::Error>(())
/// ```
#[macro_export]
macro_rules! register_operator {
    ($name:expr, $build:expr) => {
        // A link-time entry of the slice (linkme places it in the slice's link section).
        #[allow(unsafe_code)]
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::OPERATORS)]
            #[linkme(crate = $crate::__private::linkme)]
            static OPERATOR: $crate::Operator = $crate::Operator {
                name: $name,
                build: $build,
            };
        };
    };
}
