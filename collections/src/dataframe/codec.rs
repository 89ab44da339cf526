//! Frames as bytes: the partition codec, and serde for the Arrow values that operations carry.
//!
//! A partition (one `RecordBatch`, its index, when it has one, a column like any other) crosses
//! a process boundary in the Arrow IPC stream format: the schema message, then the batch. The
//! parameters of frame operations hold schemas and arrays (a shuffle's boundaries, a frame's
//! divisions); they go through serde as IPC streams too, with the `#[serde(with = ...)]`
//! modules here. A single column (`ArrayRef`, a sort's sampled boundaries) travels as a
//! one-column stream. Decoding bytes from outside returns an error, never a panic.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use partita_runtime::{Error, Result, Value};

pub use self::array as serde_array;
pub use self::schema as serde_schema;

fn codec_error(message: impl std::fmt::Display) -> Error {
    Error::Codec {
        what: "frame partition".into(),
        message: message.to_string(),
    }
}

/// `batches` of `schema` as one IPC stream.
pub(crate) fn to_ipc(schema: &Schema, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut writer = StreamWriter::try_new(&mut out, schema).map_err(codec_error)?;
    for b in batches {
        writer.write(b).map_err(codec_error)?;
    }
    writer.finish().map_err(codec_error)?;
    drop(writer);
    Ok(out)
}

/// The end-of-stream marker every stream written here ends with.
const END_OF_STREAM: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

/// The schema and batches of an IPC stream, which must end with its end-of-stream marker and
/// nothing after it (a reader stops quietly at a cut between messages, so a stream cut short
/// would otherwise read as fewer batches).
pub(crate) fn from_ipc(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    // arrow's reader checks the messages and validates the arrays, but a buffer whose offset
    // lies outside the body still panics when it is sliced (arrow-ipc 60): bytes from outside
    // must give an error, so such a panic becomes one. Nothing is shared with the reader, so
    // no state is left half-changed.
    std::panic::catch_unwind(|| read_stream(bytes))
        .unwrap_or_else(|_| Err(codec_error("malformed record batch buffers")))
}

fn read_stream(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    if !bytes.ends_with(&END_OF_STREAM) {
        return Err(codec_error(
            "the stream does not end with its end-of-stream marker",
        ));
    }
    let mut reader =
        StreamReader::try_new(std::io::Cursor::new(bytes), None).map_err(codec_error)?;
    let schema = reader.schema();
    let batches = reader
        .by_ref()
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(codec_error)?;
    let read = reader.get_ref().position();
    if read != bytes.len() as u64 {
        return Err(codec_error(format!(
            "the stream ends after {read} of {} bytes",
            bytes.len()
        )));
    }
    Ok((schema, batches))
}

/// A batch as one IPC stream; for the codecs of values that hold one.
pub(crate) fn batch_to_ipc(batch: &RecordBatch) -> Result<Vec<u8>> {
    to_ipc(&batch.schema(), std::slice::from_ref(batch))
}

/// The batch of [`batch_to_ipc`]: the stream's batches as one. The encoder writes exactly
/// one, an empty batch too, so a stream without any batch is refused.
pub(crate) fn batch_from_ipc(bytes: &[u8]) -> Result<RecordBatch> {
    let (schema, batches) = from_ipc(bytes)?;
    match <[RecordBatch; 1]>::try_from(batches) {
        Ok([one]) => Ok(one),
        Err(none) if none.is_empty() => Err(codec_error("the stream holds no batch")),
        Err(many) => arrow::compute::concat_batches(&schema, &many).map_err(codec_error),
    }
}

/// A partition's bytes.
fn encode(v: &Value) -> Result<Vec<u8>> {
    let batch = v
        .downcast_ref::<RecordBatch>()
        .ok_or_else(|| codec_error("the value is not a record batch"))?;
    batch_to_ipc(batch)
}

/// A partition from its bytes.
fn decode(bytes: &[u8]) -> Result<Value> {
    Ok(Arc::new(batch_from_ipc(bytes)?))
}

/// The bytes of a column's part of its buffers: a slice counts only what it spans, so the
/// partitions sliced from one batch are not each counted as the whole.
fn column_size(a: &ArrayRef) -> usize {
    a.to_data()
        .get_slice_memory_size()
        .unwrap_or_else(|_| a.get_array_memory_size())
}

/// The bytes of a partition's Arrow buffers, as the memory limit counts them.
fn size(v: &Value) -> usize {
    v.downcast_ref::<RecordBatch>()
        .map_or(0, |b| b.columns().iter().map(column_size).sum())
}

partita_runtime::register_codec!(RecordBatch, "arrow.RecordBatch", encode, decode, size);

/// A column's bytes (a sort's sampled boundaries, a frame's divisions): a one-column stream.
fn encode_array(v: &Value) -> Result<Vec<u8>> {
    let a = v
        .downcast_ref::<ArrayRef>()
        .ok_or_else(|| codec_error("the value is not an arrow array"))?;
    let schema = Arc::new(Schema::new(vec![Field::new(
        "a",
        a.data_type().clone(),
        true,
    )]));
    let batch = RecordBatch::try_new(schema, vec![a.clone()]).map_err(codec_error)?;
    batch_to_ipc(&batch)
}

fn decode_array(bytes: &[u8]) -> Result<Value> {
    let batch = batch_from_ipc(bytes)?;
    if batch.num_columns() != 1 {
        return Err(codec_error("an array is a one-column stream"));
    }
    Ok(Arc::new(batch.column(0).clone()))
}

fn size_array(v: &Value) -> usize {
    v.downcast_ref::<ArrayRef>().map_or(0, column_size)
}

partita_runtime::register_codec!(
    ArrayRef,
    "arrow.Array",
    encode_array,
    decode_array,
    size_array
);

/// Serde for a [`SchemaRef`] as the schema message of an IPC stream, for
/// `#[serde(with = "partita_collections::serde_schema")]` on the parameters of an operation.
pub mod schema {
    use super::*;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes `schema`.
    ///
    /// # Errors
    /// The serializer's, or a schema IPC cannot write.
    pub fn serialize<S: Serializer>(schema: &SchemaRef, s: S) -> Result<S::Ok, S::Error> {
        let bytes = to_ipc(schema, &[]).map_err(serde::ser::Error::custom)?;
        bytes.serialize(s)
    }

    /// Reads a schema.
    ///
    /// # Errors
    /// Malformed bytes; never a panic.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SchemaRef, D::Error> {
        let bytes = Vec::<u8>::deserialize(d)?;
        let (schema, _) = from_ipc(&bytes).map_err(serde::de::Error::custom)?;
        Ok(schema)
    }
}

/// Serde for an [`ArrayRef`] as a one-column IPC stream, for
/// `#[serde(with = "partita_collections::serde_array")]` on the parameters of an operation.
pub mod array {
    use super::*;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes `a`.
    ///
    /// # Errors
    /// The serializer's, or an array IPC cannot write.
    pub fn serialize<S: Serializer>(a: &ArrayRef, s: S) -> Result<S::Ok, S::Error> {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "a",
            a.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(schema.clone(), vec![a.clone()])
            .map_err(serde::ser::Error::custom)?;
        let bytes = to_ipc(&schema, &[batch]).map_err(serde::ser::Error::custom)?;
        bytes.serialize(s)
    }

    /// Reads an array.
    ///
    /// # Errors
    /// Malformed bytes; never a panic.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ArrayRef, D::Error> {
        let bytes = Vec::<u8>::deserialize(d)?;
        let (schema, batches) = from_ipc(&bytes).map_err(serde::de::Error::custom)?;
        if schema.fields().len() != 1 {
            return Err(serde::de::Error::custom("an array is a one-column stream"));
        }
        let batch = match <[RecordBatch; 1]>::try_from(batches) {
            Ok([one]) => one,
            Err(_) => return Err(serde::de::Error::custom("an array is one batch")),
        };
        Ok(batch.column(0).clone())
    }
}
