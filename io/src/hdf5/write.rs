//! Writing an array to an HDF5 dataset, block by block, as the blocks are computed.
//!
//! The protocol, for an array of `n` blocks stored to `path`:
//!
//! 1. When the graph is built, the file is created at a temporary name beside `path`
//!    (`dir/.name.partial`, see [`write_atomic`](crate::write_atomic)) with the dataset in it,
//!    and the open file is shared by the tasks of one new layer: one task per block, each
//!    depending on its block.
//! 2. A task writes its block (in C layout) to the block's hyperslab, under the file's lock,
//!    then marks the block written. The task that marks the `n`th distinct block flushes and
//!    closes the file, syncs it when [`Hdf5Write::durable`] asks, and renames it to `path`.
//! 3. A block computed again (by a second compute of the same array) is not written again; after
//!    the rename nothing is written.
//! 4. If the array is dropped before every block was written (a failed block, a compute of
//!    only some blocks, or none), the temporary file is removed: nothing ever appears at
//!    `path` but the complete file.
//!
//! The write layer's tasks share the open file and its bookkeeping, which no other process can
//! take part in, so they carry no operation: a graph that stores to HDF5 stays in this process,
//! and shipping it fails, naming the `store-hdf5-<n>` layer.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use std::sync::{Arc, Mutex, MutexGuard};

use ndarray::ArrayD;
use partita_collections::{Array, Chunks, DynArray};
use partita_runtime::{downcast, value, Graph, Runtime, Task, TaskKey, Value};

use super::element::Hdf5Element;
use super::{block_ranges, selection};
use crate::atomic::temporary_name;
use crate::error::{Error, Result};
use crate::partitioned::layer_name;

/// How [`store_hdf5`] and [`to_hdf5`] lay out the dataset they write.
///
/// ```
/// use partita_io::Hdf5Write;
/// let options = Hdf5Write::new().chunks(&[1000, 1000]).gzip(4);
/// assert_eq!(options.chunk_shape(), Some(&[1000, 1000][..]));
/// assert_eq!(options.gzip_level(), Some(4));
/// assert_eq!(Hdf5Write::new().chunk_shape(), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hdf5Write {
    chunks: Option<Vec<usize>>,
    gzip: Option<u8>,
    durable: bool,
    append: bool,
}

impl Hdf5Write {
    /// Chunks of the array's first block shape, no compression.
    pub fn new() -> Hdf5Write {
        Hdf5Write::default()
    }

    /// The dataset's HDF5 chunk shape. A chunk longer than the array along an axis is cut to
    /// the array's length.
    pub fn chunks(mut self, chunks: &[usize]) -> Hdf5Write {
        self.chunks = Some(chunks.to_vec());
        self
    }

    /// Compresses the chunks with gzip (HDF5's deflate filter) at `level`, 0 to 9.
    pub fn gzip(mut self, level: u8) -> Hdf5Write {
        self.gzip = Some(level);
        self
    }

    /// Also flushes the complete file to the disk (`fsync`) before renaming it into place, so
    /// that it survives a power loss. Off by default: the rename alone already guarantees that
    /// `path` holds either nothing (or the old file) or the complete new one, and syncing a
    /// large file costs as long as the disk takes to write it.
    pub fn durable(mut self, durable: bool) -> Hdf5Write {
        self.durable = durable;
        self
    }

    /// Adds the dataset to the file already at `path`, keeping its other datasets (h5py's
    /// mode `"a"`, which Dask's `to_hdf5` uses), instead of replacing the file. The file is
    /// copied to the temporary name first and the copy renamed into place once complete, so
    /// `path` holds the old file until then, and keeps it if the write fails. Writing a dataset
    /// name the file already holds is an error. Without a file at `path`, one is created.
    ///
    /// ```
    /// use partita_collections::Array;
    /// use partita_io::{read_hdf5_as, to_hdf5, Hdf5Write};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("both.h5");
    /// to_hdf5(&Array::<i64>::arange(6, 3)?, &path, "x", &Hdf5Write::new())?;
    /// to_hdf5(&Array::<i64>::arange(4, 2)?, &path, "y", &Hdf5Write::new().append(true))?;
    /// assert_eq!(read_hdf5_as::<i64>(&path, "x", None)?.compute()?.len(), 6);
    /// assert_eq!(read_hdf5_as::<i64>(&path, "y", None)?.compute()?.len(), 4);
    /// # Ok::<(), partita_io::Error>(())
    /// ```
    pub fn append(mut self, append: bool) -> Hdf5Write {
        self.append = append;
        self
    }

    /// The chunk shape asked for, if any.
    pub fn chunk_shape(&self) -> Option<&[usize]> {
        self.chunks.as_deref()
    }

    /// The gzip level asked for, if any.
    pub fn gzip_level(&self) -> Option<u8> {
        self.gzip
    }

    /// The HDF5 chunk shape for an array of `shape` whose first block is `first`.
    /// `path` and `name` are the file and dataset, for the error.
    fn chunk_for(
        &self,
        path: &Path,
        name: &str,
        shape: &[usize],
        first: &[usize],
    ) -> Result<Vec<usize>> {
        let chunk = self.chunks.as_deref().unwrap_or(first);
        if chunk.len() != shape.len() {
            return Err(Error::hdf5(
                path,
                name,
                format!(
                    "chunks {chunk:?} have {} axes but the array has {} ({shape:?})",
                    chunk.len(),
                    shape.len()
                ),
            ));
        }
        if let Some(axis) = chunk.iter().position(|&c| c == 0) {
            if self.chunks.is_some() {
                return Err(Error::hdf5(
                    path,
                    name,
                    format!("chunks {chunk:?}: chunk size 0 on axis {axis}"),
                ));
            }
        }
        Ok(chunk
            .iter()
            .zip(shape)
            .map(|(&c, &n)| c.min(n).max(1))
            .collect())
    }
}

/// The file being written, and which blocks are in it.
struct Sink {
    path: PathBuf,
    tmp: PathBuf,
    name: String,
    /// The open file; `None` once it is closed (renamed, or failed to close).
    open: Mutex<Option<Open>>,
    written: Vec<AtomicBool>,
    remaining: AtomicUsize,
    committed: AtomicBool,
    /// Sync the file to disk before the rename.
    durable: bool,
    /// Direct chunk writes, when the dataset allows them.
    direct: Option<Direct>,
    /// The dataset's shape.
    shape: Vec<usize>,
}

/// Where each chunk of an uncompressed, early-allocated dataset lies in the file, so that a
/// block that is exactly one chunk is written there with `pwrite`, beside HDF5 and in parallel
/// with other blocks, instead of through HDF5's library-wide lock. The bytes are the chunk's
/// raw little-endian elements, as HDF5 would write them; edge chunks are padded to full size,
/// as HDF5 stores them.
struct Direct {
    file: std::fs::File,
    chunk: Vec<usize>,
    /// File offset of each chunk, by its C-order number in the chunk grid.
    addr: Vec<u64>,
    grid: Vec<usize>,
}

impl Direct {
    /// The chunk grid's positions of every chunk, with their file addresses.
    fn locate(
        tmp: &Path,
        dataset: &hdf5_metno::Dataset,
        shape: &[usize],
        chunk: &[usize],
    ) -> Option<Direct> {
        if !cfg!(target_endian = "little") || shape.is_empty() || shape.contains(&0) {
            return None;
        }
        let grid: Vec<usize> = shape
            .iter()
            .zip(chunk)
            .map(|(&n, &c)| n.div_ceil(c))
            .collect();
        let n: usize = grid.iter().product();
        if dataset.num_chunks()? != n {
            return None;
        }
        let mut addr = vec![u64::MAX; n];
        for i in 0..n {
            let info = dataset.chunk_info(i)?;
            let mut flat = 0;
            for ((&off, &c), &g) in info.offset.iter().zip(chunk).zip(&grid) {
                flat = flat * g + off as usize / c;
            }
            *addr.get_mut(flat)? = info.addr;
        }
        if addr.contains(&u64::MAX) {
            return None;
        }
        let file = std::fs::OpenOptions::new().write(true).open(tmp).ok()?;
        Some(Direct {
            file,
            chunk: chunk.to_vec(),
            addr,
            grid,
        })
    }

    /// Writes `block` at `ranges` directly, if it is exactly one chunk (an edge chunk may be
    /// cut short by the array's end). Returns `Ok(false)` when it is not.
    fn write<T: Hdf5Element>(
        &self,
        ranges: &[Range<usize>],
        shape: &[usize],
        block: &ArrayD<T>,
    ) -> std::io::Result<bool> {
        use std::os::unix::fs::FileExt;
        if block.ndim() != ranges.len()
            || block.shape().iter().zip(ranges).any(|(&n, r)| n != r.len())
        {
            // Not the block it claims to be: the checked path reports it.
            return Ok(false);
        }
        let mut flat = 0;
        for (((r, &c), &g), &n) in ranges.iter().zip(&self.chunk).zip(&self.grid).zip(shape) {
            let len = r.end - r.start;
            if r.start % c != 0 || !(len == c || (r.end == n && len < c)) {
                return Ok(false);
            }
            flat = flat * g + r.start / c;
        }
        let padded;
        let block = if block.shape() == self.chunk.as_slice() {
            block
        } else {
            // An edge chunk: HDF5 stores it at full size, the data in its low corner.
            let mut p = ArrayD::<T>::default(ndarray::IxDyn(&self.chunk));
            let info: Vec<ndarray::SliceInfoElem> = block
                .shape()
                .iter()
                .map(|&len| ndarray::Slice::from(0..len).into())
                .collect();
            p.slice_mut(info.as_slice()).assign(block);
            padded = p;
            &padded
        };
        // The bytes go out through a small buffer, so no block-sized copy is made.
        const BUFFER: usize = 256 << 10;
        let mut bytes = Vec::with_capacity(BUFFER + 16);
        let mut at = self.addr[flat];
        let per = (BUFFER / std::mem::size_of::<T>().max(1)).max(1);
        let standard = block.as_standard_layout();
        let xs = standard.as_slice().expect("standard layout");
        for part in xs.chunks(per) {
            T::put_all_le(part, &mut bytes);
            self.file.write_all_at(&bytes, at)?;
            at += bytes.len() as u64;
            bytes.clear();
        }
        self.file.write_all_at(&bytes, at)?;
        Ok(true)
    }
}

struct Open {
    file: hdf5_metno::File,
    dataset: hdf5_metno::Dataset,
}

impl Sink {
    /// Creates the file at its temporary name, holding an empty dataset of `T` in the shape of
    /// `chunks`.
    fn create<T: Hdf5Element>(
        path: &Path,
        name: &str,
        chunks: &Chunks,
        options: &Hdf5Write,
    ) -> Result<Sink> {
        let fail = |message: String| Error::hdf5(path, name, message);
        let shape = chunks.shape();
        let first = chunks.block_shape(&vec![0; chunks.ndim()]);
        if name.trim_matches('/').is_empty() {
            return Err(fail("a dataset needs a name".into()));
        }
        let chunk = options.chunk_for(path, name, &shape, &first)?;
        if let Some(level) = options.gzip {
            if level > 9 {
                return Err(fail(format!("gzip level {level} is not in 0..=9")));
            }
            if !hdf5_metno::filters::deflate_available() {
                return Err(fail(
                    "this HDF5 library has no gzip (deflate) filter".into(),
                ));
            }
        }
        let tmp = temporary_name(path);
        let file = if options.append && path.exists() {
            std::fs::copy(path, &tmp).map_err(|e| {
                let what = format!("cannot copy the file to {}", tmp.display());
                Error::hdf5_by(path, name, what, e)
            })?;
            hdf5_metno::File::open_rw(&tmp).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                Error::hdf5_by(path, name, "cannot open the file to add to", e)
            })?
        } else {
            hdf5_metno::File::create(&tmp).map_err(|e| {
                Error::hdf5_by(path, name, format!("cannot create {}", tmp.display()), e)
            })?
        };
        if options.append && file.link_exists(name) {
            let _ = file.close();
            let _ = std::fs::remove_file(&tmp);
            return Err(fail(
                "the file already holds something of this name: write the dataset under \
                 another name, or to a new file (without append)"
                    .into(),
            ));
        }
        let mut builder = file.new_dataset::<T>();
        if !shape.is_empty() {
            builder = builder.chunk(chunk.clone());
            match options.gzip {
                Some(level) => builder = builder.deflate(level),
                // Every chunk allocated now, so its place in the file is known (see `Direct`).
                None => {
                    builder = builder
                        .alloc_time(Some(hdf5_metno::plist::dataset_create::AllocTime::Early))
                        .fill_time(hdf5_metno::plist::dataset_create::FillTime::Never)
                }
            }
        }
        let dataset = match builder.shape(shape.clone()).create(name) {
            Ok(d) => d,
            Err(e) => {
                let _ = file.close();
                let _ = std::fs::remove_file(&tmp);
                return Err(Error::hdf5_by(path, name, "cannot create the dataset", e));
            }
        };
        let n = chunks.nblocks();
        let direct = if options.gzip.is_none() {
            Direct::locate(&tmp, &dataset, &shape, &chunk)
        } else {
            None
        };
        Ok(Sink {
            path: path.to_path_buf(),
            tmp,
            name: name.to_string(),
            open: Mutex::new(Some(Open { file, dataset })),
            written: (0..n).map(|_| AtomicBool::new(false)).collect(),
            remaining: AtomicUsize::new(n),
            committed: AtomicBool::new(false),
            durable: options.durable,
            direct,
            shape,
        })
    }

    /// [`Error::Hdf5`] for this sink's file and dataset: `what` failed with `source`.
    fn error(&self, what: String, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::hdf5_by(&self.path, &self.name, what, source)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Open>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes block `index` to `ranges` unless it is written already; the last block to be
    /// written closes the file and renames it into place.
    fn write<T: Hdf5Element>(
        &self,
        index: usize,
        ranges: &[Range<usize>],
        block: &ArrayD<T>,
    ) -> Result<()> {
        if self.written[index].load(Ordering::Acquire) {
            return Ok(());
        }
        if let Some(direct) = &self.direct {
            let done = direct.write(ranges, &self.shape, block).map_err(|e| {
                let what = format!("writing {ranges:?} to {}", self.tmp.display());
                self.error(what, e)
            })?;
            if done {
                let first_time = !self.written[index].swap(true, Ordering::AcqRel);
                if first_time && self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                    self.commit()?;
                }
                return Ok(());
            }
        }
        let block = block.as_standard_layout();
        {
            let open = self.lock();
            let Some(open) = open.as_ref() else {
                return Ok(());
            };
            open.dataset
                .write_slice(block.view(), selection(ranges))
                .map_err(|e| self.error(format!("writing {ranges:?}"), e))?;
        }
        let first_time = !self.written[index].swap(true, Ordering::AcqRel);
        if first_time && self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.commit()?;
        }
        Ok(())
    }

    /// Closes the complete file, syncs it if asked to, and renames it to its final name.
    fn commit(&self) -> Result<()> {
        let Some(Open { file, dataset }) = self.lock().take() else {
            return Ok(());
        };
        let closed = file.flush().and_then(|()| {
            drop(dataset);
            file.close()
        });
        closed.map_err(|e| self.error(format!("closing {}", self.tmp.display()), e))?;
        if self.durable {
            std::fs::File::open(&self.tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| self.error(format!("syncing {}", self.tmp.display()), e))?;
        }
        std::fs::rename(&self.tmp, &self.path)
            .map_err(|e| self.error(format!("renaming {} into place", self.tmp.display()), e))?;
        self.committed.store(true, Ordering::Release);
        Ok(())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if !self.committed.load(Ordering::Acquire) {
            drop(self.lock().take());
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The layer that writes each block of `array`: one task per block, returning the block itself
/// (`pass = true`) or `()`.
fn write_layer<T: Hdf5Element>(
    array: &Array<T>,
    path: &Path,
    dataset: &str,
    options: &Hdf5Write,
    pass: bool,
) -> Result<(Graph, Arc<str>)> {
    let sink = Arc::new(Sink::create::<T>(path, dataset, array.chunks(), options)?);
    let name = layer_name("store-hdf5");
    let tasks = block_ranges(array.chunks())
        .into_iter()
        .zip(array.keys())
        .enumerate()
        .map(|(i, (ranges, input))| {
            let key = TaskKey::new(name.clone(), i as u64);
            let (k, sink) = (key.clone(), sink.clone());
            Task::new(
                key,
                vec![input.clone()],
                Arc::new(move |mut inputs: Vec<Value>| {
                    let v = inputs.swap_remove(0);
                    let block = downcast::<ArrayD<T>>(&v, &input)?;
                    sink.write(i, &ranges, block)
                        .map_err(|e| partita_runtime::Error::failed_by(k.clone(), e))?;
                    Ok(if pass { v } else { value(()) })
                }),
            )
        })
        .collect();
    let mut graph = array.graph().clone();
    graph.add_layer(name.clone(), tasks);
    Ok((graph, name))
}

/// An array equal to `array` whose every block, when computed, is also written to the dataset
/// `dataset` of a new HDF5 file at `path`, as Dask's `store(..., return_stored=True)` gives.
///
/// Nothing is computed now; the file is created at a temporary name beside `path`, and is
/// renamed to `path` once every block is written, so `path` never holds a partial file (an
/// existing file there is replaced whole, or with [`Hdf5Write::append`] gains the dataset).
/// Computing anything that needs every block of the returned array writes the file: its `std`,
/// say, computes the statistic and stores the data in one pass. If the returned array (and everything built on it) is dropped before every
/// block was written, the temporary file is removed.
///
/// The dataset is chunked as `options` says (by default in the array's first block shape; a
/// 0-d array is stored unchunked and uncompressed). Intermediate groups in `dataset` are
/// created.
///
/// ```
/// use ndarray::array;
/// use partita_collections::{Array, Axes};
/// use partita_io::{read_hdf5_as, store_hdf5, Hdf5Write};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("out.h5");
/// let x = Array::from_array(array![[1.0_f64, 2.0], [3.0, 4.0]], &[1, 2])?;
/// let stored = store_hdf5(&x, &path, "/results/x", &Hdf5Write::new().gzip(4))?;
/// assert!(!path.exists());
/// assert_eq!(stored.sum(Axes::All)?.compute_scalar()?, 10.0);
/// assert_eq!(
///     read_hdf5_as::<f64>(&path, "/results/x", None)?.compute()?,
///     array![[1.0, 2.0], [3.0, 4.0]].into_dyn(),
/// );
/// # Ok::<(), partita_io::Error>(())
/// ```
///
/// # Errors
/// [`Error::Hdf5`] naming the file and the dataset when the file or the dataset cannot be
/// created, the chunks do not fit the array, or the gzip level is not 0 to 9. A block that
/// fails to write fails the compute, naming the file, the dataset and the block.
pub fn store_hdf5<T: Hdf5Element>(
    array: &Array<T>,
    path: impl AsRef<Path>,
    dataset: &str,
    options: &Hdf5Write,
) -> Result<Array<T>> {
    let (graph, name) = write_layer(array, path.as_ref(), dataset, options, true)?;
    Ok(Array::from_graph(graph, name, array.chunks().clone()))
}

/// Computes `array` on the current runtime ([`Runtime::current`]) and writes it to the dataset
/// `dataset` of a new HDF5 file at `path`, as [`store_hdf5`] lays it out; `path` appears only
/// once complete.
///
/// ```
/// use partita_collections::Array;
/// use partita_io::{read_hdf5, to_hdf5, Hdf5Write};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("random.h5");
/// let x = Array::random(&[100, 40], &[30, 40], 7)?;
/// to_hdf5(&x, &path, "x", &Hdf5Write::new())?;
/// let back = read_hdf5(&path, "x", None)?.into_typed::<f64>()?;
/// assert_eq!(back.chunks(), x.chunks());
/// assert_eq!(back.compute()?, x.compute()?);
///
/// // On a runtime of its own: the blocks are computed and written on `rt`.
/// let rt = partita_runtime::Runtime::builder().threads(2).build()?;
/// let flags = Array::<i64>::arange(10, 4)?.map(|v| v % 2 == 0);
/// let flags_path = dir.path().join("flags.h5");
/// rt.install(|| to_hdf5(&flags, &flags_path, "even", &Hdf5Write::new()))?;
/// let back = read_hdf5(&flags_path, "even", None)?.into_typed::<bool>()?.compute()?;
/// assert_eq!(back.iter().filter(|&&b| b).count(), 5);
/// # Ok::<(), partita_io::Error>(())
/// ```
///
/// # Errors
/// As [`store_hdf5`]; and the first failed block's error, in which case no file is left at
/// `path`.
pub fn to_hdf5<T: Hdf5Element>(
    array: &Array<T>,
    path: impl AsRef<Path>,
    dataset: &str,
    options: &Hdf5Write,
) -> Result<()> {
    let (graph, name) = write_layer(array, path.as_ref(), dataset, options, false)?;
    let keys: Vec<TaskKey> = (0..array.nblocks() as u64)
        .map(|i| TaskKey::new(name.clone(), i))
        .collect();
    Runtime::current().compute(&graph, &keys)?;
    Ok(())
}

/// [`to_hdf5`] of an array whose element type is known only at run time (as
/// [`read_hdf5`](crate::read_hdf5) returns it): the dataset gets the array's dtype.
///
/// ```
/// use partita_io::{read_hdf5, to_hdf5, to_hdf5_dyn, Hdf5Write};
/// use partita_collections::Array;
///
/// let dir = tempfile::tempdir().unwrap();
/// let (a, b) = (dir.path().join("a.h5"), dir.path().join("b.h5"));
/// to_hdf5(&Array::<u16>::arange(9, 4)?, &a, "x", &Hdf5Write::new())?;
/// let x = read_hdf5(&a, "x", None)?;              // a DynArray of u16
/// to_hdf5_dyn(&x, &b, "copy", &Hdf5Write::new())?;
/// let back = read_hdf5(&b, "copy", None)?;
/// assert_eq!(back.dtype(), x.dtype());
/// assert_eq!(back.into_typed::<u16>()?.compute()?, x.into_typed::<u16>()?.compute()?);
/// # Ok::<(), partita_io::Error>(())
/// ```
///
/// # Errors
/// As [`to_hdf5`]; [`Error::Hdf5`] naming the file and the dataset for 128-bit integers,
/// which HDF5's integer types (and h5py) do not hold.
pub fn to_hdf5_dyn(
    array: &DynArray,
    path: impl AsRef<Path>,
    dataset: &str,
    options: &Hdf5Write,
) -> Result<()> {
    let path = path.as_ref();
    match array {
        DynArray::Bool(a) => to_hdf5(a, path, dataset, options),
        DynArray::I8(a) => to_hdf5(a, path, dataset, options),
        DynArray::I16(a) => to_hdf5(a, path, dataset, options),
        DynArray::I32(a) => to_hdf5(a, path, dataset, options),
        DynArray::I64(a) => to_hdf5(a, path, dataset, options),
        DynArray::U8(a) => to_hdf5(a, path, dataset, options),
        DynArray::U16(a) => to_hdf5(a, path, dataset, options),
        DynArray::U32(a) => to_hdf5(a, path, dataset, options),
        DynArray::U64(a) => to_hdf5(a, path, dataset, options),
        DynArray::F32(a) => to_hdf5(a, path, dataset, options),
        DynArray::F64(a) => to_hdf5(a, path, dataset, options),
        DynArray::C64(a) => to_hdf5(a, path, dataset, options),
        DynArray::C128(a) => to_hdf5(a, path, dataset, options),
        DynArray::I128(_) | DynArray::U128(_) => Err(Error::hdf5(
            path,
            dataset,
            format!(
                "{} elements are 16 bytes; HDF5 integers (and h5py) hold at most 8",
                array.dtype()
            ),
        )),
    }
}
