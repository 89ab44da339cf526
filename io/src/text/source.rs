//! `read_text`: files as a bag of lines, in byte-range partitions.
//!
//! An uncompressed file is cut into blocks of `blocksize` bytes. Block `[start, end)` owns exactly
//! the lines that *start* inside it: it skips the tail of a line begun in the previous block and
//! reads past `end` to finish its own last line. So every line belongs to exactly one block,
//! whatever the block size, with or without a final newline, with `\n` or `\r\n` endings.
//! Compressed files (`.gz`, `.zst`) cannot be split and are one partition each.
//!
//! A partition's value is only its block's description: the reader streams the block through a
//! small buffer while the partition's items are used, so a partition of any size holds
//! [`CHUNK`] bytes of text at a time (plus its longest line).
//!
//! Lines are yielded without their line terminator, as `str::lines` gives them.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use partita_collections::{AnyBox, Bag, ItemUse, Reader};
use partita_runtime::{
    decode_params, downcast, value, Graph, Kernel, Operation, Task, TaskContext, TaskKey, Value,
};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::partitioned::{layer_name, task_io_error};
use crate::paths::Source;

/// How a text file is compressed, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    let tasks = blocks
        .into_iter()
        .enumerate()
        .map(|(i, block)| {
            let op = Operation::new(BLOCK, &block);
            Task::new(
                TaskKey::new(name.clone(), i as u64),
                vec![],
                block_kernel(block),
            )
            .with_op(op)
        })
        .collect::<Vec<_>>();
    let n = tasks.len();
    let mut graph = Graph::new();
    graph.add_layer(name.clone(), tasks);
    let bag = Bag::from_partitions(graph, name, n, lines_reader(options.lossy));
    Ok(bag.with_item_source(LINES, &options.lossy))
}

/// The operator of a text block's task: its value is the block's description.
const BLOCK: &str = "text.block";

fn block_kernel(block: Block) -> Kernel {
    let block = Arc::new(block);
    Arc::new(move |_| Ok(value(block.clone())))
}

fn build_block(_: TaskContext<'_>, params: &[u8]) -> partita_runtime::Result<Kernel> {
    Ok(block_kernel(decode_params(BLOCK, params)?))
}

partita_runtime::register_operator!(BLOCK, build_block);

/// The item source that reads a block's lines.
const LINES: &str = "text.lines";

/// Reads the lines of a block partition.
fn lines_reader(lossy: bool) -> Reader<String> {
    Arc::new(
        move |v: Value, key: &TaskKey, emit: &mut dyn FnMut(String)| {
            let block = downcast::<Arc<Block>>(&v, key)?;
            read_block(block, lossy, CHUNK, &mut |line| emit(line.to_string()))
        },
    )
}

fn lines_source(params: &[u8]) -> partita_runtime::Result<AnyBox> {
    let lossy: bool = decode_params(LINES, params)?;
    Ok(Box::new(lines_reader(lossy)))
}

partita_collections::register_item_source!(LINES, lines_source, |usage: ItemUse, t| {
    partita_collections::__private::item::finish::<String>(usage, t)
});

/// Bytes read from a file at a time. A block is streamed through a buffer of this size, so a
/// partition of any size holds little memory, and the buffer stays in cache while its lines
/// are used.
const CHUNK: usize = 1 << 18;

/// Passes the lines that start in `block` to `emit`, reading `chunk` bytes at a time.
fn read_block(
    block: &Block,
    lossy: bool,
    chunk: usize,
    emit: &mut dyn FnMut(&str),
) -> partita_runtime::Result<()> {
    let path = &block.path;
    let err = |e| task_io_error(path, e);
    let file = File::open(path).map_err(err)?;
    let lines = Lines {
        path,
        lossy,
        chunk,
        end: match block.compression {
            Compression::None => block.end,
            // A compressed file is one block, and `end` is its compressed size.
            Compression::Gzip | Compression::Zstd => u64::MAX,
        },
    };
    match block.compression {
        Compression::Gzip => lines.read(flate2::read::MultiGzDecoder::new(file), 0, emit),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(file).map_err(err)?;
            lines.read(decoder, 0, emit)
        }
        Compression::None => {
            let mut file = file;
            let first = skip_to_first_line(&mut file, block.start).map_err(err)?;
            lines.read(file, first, emit)
        }
    }
}

/// Positions `file` at the first line that starts at or after `start`, and returns its offset.
fn skip_to_first_line(file: &mut File, start: u64) -> std::io::Result<u64> {
    if start == 0 {
        return Ok(0);
    }
    // The line containing byte `start - 1` belongs to the previous block unless it ended
    // exactly there.
    let mut r = BufReader::with_capacity(1 << 12, &mut *file);
    r.seek(SeekFrom::Start(start - 1))?;
    let mut skipped = Vec::new();
    let n = r.read_until(b'\n', &mut skipped)?;
    let first = start - 1 + n as u64;
    drop(r);
    file.seek(SeekFrom::Start(first))?;
    Ok(first)
}

/// Cuts a stream into lines, `chunk` bytes at a time.
struct Lines<'p> {
    path: &'p Path,
    lossy: bool,
    chunk: usize,
    /// Lines that start at or after this offset are not emitted.
    end: u64,
}

impl Lines<'_> {
    /// Emits the lines of `input`, whose first byte is at offset `first` of the file.
    fn read(
        &self,
        mut input: impl Read,
        first: u64,
        emit: &mut dyn FnMut(&str),
    ) -> partita_runtime::Result<()> {
        let err = |e| task_io_error(self.path, e);
        let mut buf: Vec<u8> = Vec::with_capacity(self.chunk);
        // The file offset of `buf[0]`.
        let mut at = first;
        loop {
            if at >= self.end {
                return Ok(());
            }
            // Keep the unfinished line at the front and read after it.
            let kept = buf.len();
            buf.resize(kept + self.chunk, 0);
            let n = read_some(&mut input, &mut buf[kept..]).map_err(err)?;
            buf.truncate(kept + n);
            if n == 0 {
                // The last line, without a line terminator.
                return self.emit_lines(&buf, at, emit);
            }
            let Some(last) = buf[kept..].iter().rposition(|&b| b == b'\n') else {
                continue;
            };
            let complete = kept + last + 1;
            // The lines that start before `end` are this block's: if `end` falls in the
            // complete lines, the last of them ends at the first newline from `end - 1` on.
            let room = (self.end - at) as usize;
            if room <= complete {
                let tail = buf[room - 1..complete].iter().position(|&b| b == b'\n');
                let cut = room + tail.unwrap_or(complete - room);
                return self.emit_lines(&buf[..cut], at, emit);
            }
            self.emit_lines(&buf[..complete], at, emit)?;
            buf.drain(..complete);
            at += complete as u64;
        }
    }

    /// Emits the lines of `bytes`, which start at file offset `at`, checking that they are UTF-8.
    fn emit_lines(
        &self,
        bytes: &[u8],
        at: u64,
        emit: &mut dyn FnMut(&str),
    ) -> partita_runtime::Result<()> {
        match std::str::from_utf8(bytes) {
            Ok(text) => text.lines().for_each(emit),
            Err(_) if self.lossy => String::from_utf8_lossy(bytes).lines().for_each(emit),
            Err(e) => {
                let offset = at + e.valid_up_to() as u64;
                return Err(task_io_error(
                    self.path,
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "invalid UTF-8 at byte {offset} (read with `lossy: true` to replace it)"
                        ),
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Reads into `buf`, retrying when interrupted; 0 at the end of the input.
fn read_some(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// Every block's lines, read `chunk` bytes at a time.
    fn lines_of(path: &Path, size: u64, blocksize: u64, chunk: usize) -> Vec<String> {
        let mut got = Vec::new();
        let mut start = 0;
        loop {
            let end = (start + blocksize).min(size);
            let block = Block {
                path: path.to_path_buf(),
                start,
                end,
                compression: Compression::None,
            };
            read_block(&block, false, chunk, &mut |l| got.push(l.to_string())).unwrap();
            start = end;
            if start >= size {
                return got;
            }
        }
    }

    #[test]
    fn small_chunks_cut_no_line_at_any_block_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let texts = [
            "",
            "\n\n",
            "a",
            "one\ntwo\nthree",
            "crlf\r\nline two\r\n\r\nlast\r\n",
            "a longer line than any chunk\nx\n\nyy\n",
            "héllo wörld\n日本語\nemoji 🎉\n",
        ];
        for (i, text) in texts.iter().enumerate() {
            let path = dir.path().join(format!("t{i}.txt"));
            std::fs::write(&path, text).unwrap();
            let want: Vec<String> = text.lines().map(str::to_string).collect();
            let size = text.len() as u64;
            for blocksize in 1..=size.max(1) + 1 {
                for chunk in [1, 2, 3, 5, 8, 64] {
                    assert_eq!(
                        lines_of(&path, size, blocksize, chunk),
                        want,
                        "{text:?} blocksize {blocksize} chunk {chunk}"
                    );
                }
            }
        }
    }

    #[test]
    fn invalid_utf8_offset_is_exact_whatever_the_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.txt");
        let mut bytes = b"fine line\nsecond\nthird ".to_vec();
        bytes.push(0xFF);
        bytes.extend_from_slice(b" tail\n");
        std::fs::write(&path, &bytes).unwrap();
        for chunk in [1, 4, 9, 1 << 10] {
            let block = Block {
                path: path.clone(),
                start: 0,
                end: bytes.len() as u64,
                compression: Compression::None,
            };
            let err = read_block(&block, false, chunk, &mut |_| {}).unwrap_err();
            assert!(err.to_string().contains("at byte 23"), "{err}");
        }
    }
}
