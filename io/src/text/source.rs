//! `read_text`: files as a bag of lines, in byte-range partitions.
//!
//! An uncompressed file is cut into blocks of `blocksize` bytes. Block `[start, end)` owns exactly
//! the lines that *start* inside it: it skips the tail of a line begun in the previous block and
//! reads past `end` to finish its own last line. So every line belongs to exactly one block,
//! whatever the block size, with or without a final newline, with `\n` or `\r\n` endings.
//! Compressed files (`.gz`, `.zst`) cannot be split and are one partition each.
//!
//! Lines are yielded without their line terminator, as `str::lines` gives them.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use partita_collections::{Bag, Reader};
use partita_runtime::{downcast, value, Graph, Task, TaskKey, Value};

use crate::error::Result;
use crate::partitioned::{layer_name, task_io_error};
use crate::paths::Source;

/// How a text file is compressed, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Plain text, splittable into blocks.
    None,
    /// gzip (`.gz`), read whole.
    Gzip,
    /// Zstandard (`.zst`, `.zstd`), read whole.
    Zstd,
}

impl Compression {
    fn of(path: &Path) -> Compression {
        match path.extension().and_then(|e| e.to_str()) {
            Some("gz") => Compression::Gzip,
            Some("zst" | "zstd") => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// Options for [`read_text_with`].
#[derive(Clone, Debug, Default)]
pub struct TextOptions {
    /// Split uncompressed files into partitions of about this many bytes. `None`: one
    /// partition per file.
    pub blocksize: Option<u64>,
    /// Replace invalid UTF-8 with U+FFFD instead of failing.
    pub lossy: bool,
}

/// One partition: a byte range of a file.
#[derive(Clone, Debug)]
struct Block {
    path: PathBuf,
    start: u64,
    end: u64,
    compression: Compression,
}

/// The lines of the files `source` names, as a bag, one partition per file or per `blocksize`
/// bytes of a file.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("a.txt"), "one\ntwo\nthree\n").unwrap();
/// let path = dir.path().join("a.txt");
/// let lines = partita_io::read_text(path.as_path(), Some(5))?;
/// assert_eq!(lines.npartitions(), 3);
/// assert_eq!(lines.compute()?, vec!["one", "two", "three"]);
/// # Ok::<(), partita_io::Error>(())
/// ```
///
/// # Errors
/// A pattern that matches no file, or a file that cannot be read, named in the error. Invalid
/// UTF-8 fails the compute with an error naming the file and the byte offset.
pub fn read_text(source: impl Into<Source>, blocksize: Option<u64>) -> Result<Bag<String>> {
    read_text_with(
        source,
        TextOptions {
            blocksize,
            lossy: false,
        },
    )
}

/// [`read_text`] with all the options.
///
/// # Errors
/// As [`read_text`].
pub fn read_text_with(source: impl Into<Source>, options: TextOptions) -> Result<Bag<String>> {
    let files = source.into().files()?;
    let mut blocks = Vec::new();
    for path in files {
        let size = std::fs::metadata(&path)
            .map_err(|e| crate::error::Error::io(&path, e))?
            .len();
        let compression = Compression::of(&path);
        match options.blocksize {
            Some(bs) if compression == Compression::None && size > 0 => {
                let bs = bs.max(1);
                let mut start = 0;
                while start < size {
                    let end = (start + bs).min(size);
                    blocks.push(Block {
                        path: path.clone(),
                        start,
                        end,
                        compression,
                    });
                    start = end;
                }
            }
            _ => blocks.push(Block {
                path: path.clone(),
                start: 0,
                end: size,
                compression,
            }),
        }
    }
    let name: Arc<str> = layer_name("read-text");
    let lossy = options.lossy;
    let tasks = blocks
        .into_iter()
        .enumerate()
        .map(|(i, block)| {
            Task::new(
                TaskKey::new(name.clone(), i as u64),
                vec![],
                Arc::new(move |_| read_block(&block, lossy).map(value)),
            )
        })
        .collect::<Vec<_>>();
    let n = tasks.len();
    let mut graph = Graph::new();
    graph.add_layer(name.clone(), tasks);
    let reader: Reader<String> =
        Arc::new(|v: Value, key: &TaskKey, emit: &mut dyn FnMut(String)| {
            let block = downcast::<TextBlock>(&v, key)?;
            block.text().lines().map(str::to_string).for_each(emit);
            Ok(())
        });
    Ok(Bag::from_partitions(graph, name, n, reader))
}

/// The text of one block: valid UTF-8 (checked, or made so when reading lossily). Its buffer
/// goes back to a small pool when the block is dropped, so the next block reuses memory that is
/// already mapped instead of faulting in fresh zeroed pages.
#[derive(Debug)]
struct TextBlock {
    bytes: Vec<u8>,
}

impl TextBlock {
    fn text(&self) -> &str {
        // Checked when the block was made.
        std::str::from_utf8(&self.bytes).unwrap_or_default()
    }
}

/// Buffers of dropped blocks, for reuse: one per worker in flight (two workers on this class of
/// machine). A larger pool would hold memory that no block needs.
static POOL: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
const POOL_SIZE: usize = 2;

fn pooled_buffer() -> Vec<u8> {
    let mut pool = POOL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut buf = pool.pop().unwrap_or_default();
    buf.clear();
    buf
}

impl Drop for TextBlock {
    fn drop(&mut self) {
        let mut pool = POOL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.len() < POOL_SIZE {
            pool.push(std::mem::take(&mut self.bytes));
        }
    }
}

/// The text of the lines that start in `block`.
fn read_block(block: &Block, lossy: bool) -> partita_runtime::Result<TextBlock> {
    let path = &block.path;
    let err = |e| task_io_error(path, e);
    let file = File::open(path).map_err(err)?;
    let mut bytes = pooled_buffer();
    let first = match block.compression {
        Compression::Gzip => {
            flate2::read::MultiGzDecoder::new(file)
                .read_to_end(&mut bytes)
                .map_err(err)?;
            0
        }
        Compression::Zstd => {
            zstd::stream::read::Decoder::new(file)
                .and_then(|mut d| d.read_to_end(&mut bytes))
                .map_err(err)?;
            0
        }
        Compression::None => read_range(file, block.start, block.end, &mut bytes).map_err(err)?,
    };
    to_text(bytes, path, first, lossy)
}

/// Reads the bytes of the lines starting in `[start, end)` into `bytes`, and returns the offset
/// of the first of them.
fn read_range(file: File, start: u64, end: u64, bytes: &mut Vec<u8>) -> std::io::Result<u64> {
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut first = start;
    if start > 0 {
        // The line containing byte `start - 1` belongs to the previous block unless it ended
        // exactly there.
        r.seek(SeekFrom::Start(start - 1))?;
        let mut skipped = Vec::new();
        let n = r.read_until(b'\n', &mut skipped)?;
        first = start - 1 + n as u64;
    }
    if first >= end {
        return Ok(first);
    }
    // Room for the rest of the last line, so that finishing it rarely moves the whole block. A
    // pooled buffer too small for this block is replaced, not grown: growing would copy it.
    let need = (end - first) as usize + (1 << 16);
    if bytes.capacity() < need {
        *bytes = Vec::with_capacity(need + need / 16);
    }
    bytes.resize((end - first) as usize, 0);
    r.read_exact(bytes)?;
    if bytes.last() != Some(&b'\n') {
        r.read_until(b'\n', bytes)?;
    }
    Ok(first)
}

fn to_text(
    bytes: Vec<u8>,
    path: &Path,
    first: u64,
    lossy: bool,
) -> partita_runtime::Result<TextBlock> {
    match std::str::from_utf8(&bytes) {
        Ok(_) => Ok(TextBlock { bytes }),
        Err(_) if lossy => Ok(TextBlock {
            bytes: String::from_utf8_lossy(&bytes).into_owned().into_bytes(),
        }),
        Err(e) => {
            let offset = first + e.valid_up_to() as u64;
            Err(task_io_error(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "invalid UTF-8 at byte {offset} (read with `lossy: true` to replace it)"
                    ),
                ),
            ))
        }
    }
}
