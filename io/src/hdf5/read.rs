//! Reading an HDF5 dataset as a lazy array, one hyperslab per block.
//!
//! The file and dataset are opened once, when the graph is built, and the dataset's handle is
//! shared by every block's task; they close when the last array using them is dropped.
//!
//! Each block's task is the operator `hdf5.read` with the file's path, the dataset's name, the
//! block's element ranges and the dtype as its parameters, so a graph that reads a file can be
//! computed by another process that sees the same file. There, the first block's kernel opens
//! the file again, and the dataset's other blocks share that handle.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use partita_collections::{layer, register_op, Array, Chunks, DType, DynArray, Op};
use partita_runtime::{value, Graph, Kernel, TaskContext, TaskKey};
use serde::{Deserialize, Serialize};

use super::element::{dtype_of, Hdf5Element};
use super::{block_ranges, selection};
use crate::error::{Error, Result};
use crate::partitioned::layer_name;

/// Blocks of a contiguous (unchunked) dataset hold about this many bytes.
const CONTIGUOUS_BLOCK_BYTES: usize = 8 << 20;

/// An open dataset, shared by the tasks that read its blocks.
pub(super) struct Opened {
    path: PathBuf,
    name: String,
    dataset: hdf5_metno::Dataset,
    /// Holds the file open as long as the dataset is read.
    _file: hdf5_metno::File,
    dtype: DType,
    shape: Vec<usize>,
}

impl Opened {
    pub(super) fn open(path: &Path, name: &str) -> Result<Opened> {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => return Err(Error::hdf5(path, name, "is a directory")),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::hdf5(path, name, "no such file"))
            }
            Err(e) => return Err(Error::hdf5_by(path, name, "cannot read the file", e)),
        }
        let file = hdf5_metno::File::open(path)
            .map_err(|e| Error::hdf5_by(path, name, "not a readable HDF5 file", e))?;
        let dataset = match file.dataset(name) {
            Ok(dataset) => dataset,
            Err(e) if !file.link_exists(name) => {
                let mut names = file.member_names().unwrap_or_default();
                names.truncate(20);
                let what = format!("no such dataset in the file (its top level holds {names:?})");
                return Err(Error::hdf5_by(path, name, what, e));
            }
            Err(e) => return Err(Error::hdf5_by(path, name, "not a dataset", e)),
        };
        let datatype = dataset
            .dtype()
            .map_err(|e| Error::hdf5_by(path, name, "cannot read its type", e))?;
        let dtype = match datatype.to_descriptor() {
            Ok(desc) => dtype_of(&desc).ok_or_else(|| {
                Error::hdf5(
                    path,
                    name,
                    format!("unsupported HDF5 type {desc}; {SUPPORTED}"),
                )
            })?,
            Err(e) => {
                return Err(Error::hdf5(
                    path,
                    name,
                    format!(
                        "unsupported HDF5 type ({e}, {} bytes); {SUPPORTED}",
                        datatype.size()
                    ),
                ))
            }
        };
        let shape = dataset.shape();
        let opened = Opened {
            path: path.to_path_buf(),
            name: name.to_string(),
            dataset,
            _file: file,
            dtype,
            shape,
        };
        opened.check_size()?;
        Ok(opened)
    }

    /// Checks the header's shape against what the file stores, so that a corrupt shape is an
    /// error here rather than an allocation that aborts or a plan of billions of blocks.
    fn check_size(&self) -> Result<()> {
        let fail = |message: String| Err(Error::hdf5(&self.path, &self.name, message));
        let bytes = self
            .shape
            .iter()
            .try_fold(self.dtype.size() as u128, |a, &n| a.checked_mul(n as u128));
        let Some(bytes) = bytes else {
            return fail(format!(
                "its shape {:?} holds more elements than can be counted: the header is corrupt",
                self.shape
            ));
        };
        let stored = u128::from(self.dataset.storage_size());
        let file = std::fs::metadata(&self.path).map_or(u64::MAX, |m| m.len());
        if stored > u128::from(file) {
            return fail(format!(
                "the file is {file} bytes, but the dataset claims {stored} bytes of storage: \
                 the header is corrupt"
            ));
        }
        // A contiguous dataset that has storage stores exactly its elements.
        if !self.dataset.is_chunked() && stored > 0 && stored != bytes {
            return fail(format!(
                "its shape {:?} of {} makes {bytes} bytes, but the file stores {stored} bytes \
                 for it: the header is corrupt",
                self.shape, self.dtype
            ));
        }
        Ok(())
    }

    /// `asked`, or else the dataset's own chunk shape, or else (for a contiguous dataset)
    /// blocks of about [`CONTIGUOUS_BLOCK_BYTES`] along the first axis.
    pub(super) fn chunks(&self, asked: Option<&[usize]>) -> Result<Chunks> {
        let chunk = match asked {
            Some(c) => c.to_vec(),
            None => self.dataset.chunk().unwrap_or_else(|| {
                let mut chunk = self.shape.clone();
                if let Some(first) = chunk.first_mut() {
                    let row: usize = self.shape[1..].iter().product::<usize>() * self.dtype.size();
                    *first = (CONTIGUOUS_BLOCK_BYTES / row.max(1)).max(1);
                }
                chunk
            }),
        };
        if chunk.len() == self.shape.len() {
            self.check_blocks(&chunk, asked.is_some())?;
        }
        Chunks::uniform(&self.shape, &chunk).map_err(|e| {
            Error::hdf5(
                &self.path,
                &self.name,
                format!(
                    "cannot cut shape {:?} into chunks {chunk:?}: {e}",
                    self.shape
                ),
            )
        })
    }
}

impl Opened {
    /// Refuses a cut into more blocks than a plan should hold, and, for chunks from the file,
    /// blocks larger than HDF5's own limit on a chunk: either means a corrupt header (or
    /// chunks to pass by hand).
    fn check_blocks(&self, chunk: &[usize], asked: bool) -> Result<()> {
        let fail = |message: String| Err(Error::hdf5(&self.path, &self.name, message));
        let blocks = self
            .shape
            .iter()
            .zip(chunk)
            .try_fold(1_u128, |a, (&n, &c)| {
                a.checked_mul(n.div_ceil(c.max(1)).max(1) as u128)
            })
            .unwrap_or(u128::MAX);
        if blocks > MAX_BLOCKS {
            return fail(format!(
                "cutting its shape {:?} into chunks {chunk:?} makes {blocks} blocks, more than \
                 the {MAX_BLOCKS} a read plans: pass larger chunks, or the header is corrupt",
                self.shape
            ));
        }
        let block = self
            .shape
            .iter()
            .zip(chunk)
            .try_fold(self.dtype.size() as u128, |a, (&n, &c)| {
                a.checked_mul(n.min(c) as u128)
            })
            .unwrap_or(u128::MAX);
        if !asked && block > MAX_BLOCK_BYTES {
            return fail(format!(
                "its chunks {chunk:?} make blocks of {block} bytes, more than HDF5's limit of \
                 {MAX_BLOCK_BYTES} on a chunk: pass smaller chunks, or the header is corrupt"
            ));
        }
        Ok(())
    }
}

/// The most blocks one read plans (a task each, and one HDF5 call each, made one at a time):
/// past this many, larger chunks read faster (a block may span many of the file's chunks).
const MAX_BLOCKS: u128 = 1 << 18;

/// HDF5 stores no chunk larger than 4 GiB; a block from the file's chunks is never larger.
const MAX_BLOCK_BYTES: u128 = 1 << 32;

const SUPPORTED: &str = "partita reads bool, integers up to 64 bits, float32, float64, \
                         and complex64/complex128 stored as h5py stores them";

/// Which file a handle was opened on, to tell a file replaced at the same path.
#[derive(Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileId {
    fn of(path: &Path) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// The datasets open for graphs from other processes: path, dataset name, which file, handle.
type OpenCache = Mutex<Vec<(PathBuf, String, Option<FileId>, Weak<Opened>)>>;

/// The dataset `name` of the file at `path`, opened for the blocks of a graph that came from
/// another process: the first block's kernel opens it, the others share the handle while any
/// of them lives (and while the file at `path` is the same file).
fn open_shared(path: &Path, name: &str) -> Result<Arc<Opened>> {
    static OPEN: OpenCache = Mutex::new(Vec::new());
    let id = FileId::of(path);
    let mut open = OPEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    open.retain(|(_, _, _, handle)| handle.strong_count() > 0);
    let found = open
        .iter()
        .filter(|(p, n, was, _)| p == path && n == name && id.is_some() && *was == id)
        .find_map(|(_, _, _, handle)| handle.upgrade());
    if let Some(opened) = found {
        return Ok(opened);
    }
    let opened = Arc::new(Opened::open(path, name)?);
    open.push((
        path.to_path_buf(),
        name.to_string(),
        id,
        Arc::downgrade(&opened),
    ));
    Ok(opened)
}

/// `hdf5.read`: one block of a dataset, read as one hyperslab.
#[derive(Serialize, Deserialize)]
pub(super) struct ReadBlock {
    path: PathBuf,
    dataset: String,
    dtype: DType,
    /// The block's element range along each axis.
    ranges: Vec<Range<usize>>,
    /// The dataset, when the graph was built in this process; a graph from another process
    /// opens it again.
    #[serde(skip)]
    opened: Option<Arc<Opened>>,
}

impl ReadBlock {
    /// The read of the block `ranges` of an open dataset.
    pub(super) fn of(opened: &Arc<Opened>, ranges: Vec<Range<usize>>) -> ReadBlock {
        ReadBlock {
            path: opened.path.clone(),
            dataset: opened.name.clone(),
            dtype: opened.dtype,
            ranges,
            opened: Some(opened.clone()),
        }
    }
}

/// The kernel reading the hyperslab `ranges` of an open dataset of `T`.
fn read_kernel<T: Hdf5Element>(
    key: TaskKey,
    opened: Arc<Opened>,
    ranges: Vec<Range<usize>>,
) -> Kernel {
    Arc::new(move |_| {
        T::read(&opened.dataset, selection(&ranges))
            .map(value)
            .map_err(|e| {
                let what = format!("reading {ranges:?}");
                let e = Error::hdf5_by(&opened.path, &opened.name, what, e);
                partita_runtime::Error::failed_by(key.clone(), e)
            })
    })
}

impl Op for ReadBlock {
    const NAME: &'static str = "hdf5.read";

    fn kernel(&self, cx: TaskContext<'_>) -> partita_runtime::Result<Kernel> {
        let failed = |message: String| partita_runtime::Error::failed(cx.key.clone(), message);
        if !cx.deps.is_empty() {
            return Err(failed(format!("{} takes no inputs", Self::NAME)));
        }
        let opened = match &self.opened {
            Some(opened) => opened.clone(),
            None => open_shared(&self.path, &self.dataset)
                .map_err(|e| partita_runtime::Error::failed_by(cx.key.clone(), e))?,
        };
        if opened.dtype != self.dtype || opened.shape.len() != self.ranges.len() {
            return Err(failed(format!(
                "{}, dataset {:?}: holds {} of shape {:?}, the graph reads {} over {:?}",
                self.path.display(),
                self.dataset,
                opened.dtype,
                opened.shape,
                self.dtype,
                self.ranges
            )));
        }
        let (key, ranges) = (cx.key.clone(), self.ranges.clone());
        Ok(match self.dtype {
            DType::Bool => read_kernel::<bool>(key, opened, ranges),
            DType::I8 => read_kernel::<i8>(key, opened, ranges),
            DType::I16 => read_kernel::<i16>(key, opened, ranges),
            DType::I32 => read_kernel::<i32>(key, opened, ranges),
            DType::I64 => read_kernel::<i64>(key, opened, ranges),
            DType::U8 => read_kernel::<u8>(key, opened, ranges),
            DType::U16 => read_kernel::<u16>(key, opened, ranges),
            DType::U32 => read_kernel::<u32>(key, opened, ranges),
            DType::U64 => read_kernel::<u64>(key, opened, ranges),
            DType::F32 => read_kernel::<f32>(key, opened, ranges),
            DType::F64 => read_kernel::<f64>(key, opened, ranges),
            DType::C64 => read_kernel::<partita_collections::C64>(key, opened, ranges),
            DType::C128 => read_kernel::<partita_collections::C128>(key, opened, ranges),
            other => return Err(failed(format!("{other} cannot be read from HDF5"))),
        })
    }
}

register_op!(ReadBlock);

/// One task per block of `chunks`, each reading its hyperslab of the dataset.
fn plan<T: Hdf5Element>(opened: Opened, chunks: Chunks) -> Array<T> {
    let opened = Arc::new(opened);
    let name = layer_name("read-hdf5");
    let tasks = block_ranges(&chunks)
        .into_iter()
        .enumerate()
        .map(|(i, ranges)| {
            let op = ReadBlock {
                path: opened.path.clone(),
                dataset: opened.name.clone(),
                dtype: T::DTYPE,
                ranges,
                opened: Some(opened.clone()),
            };
            (TaskKey::new(name.clone(), i as u64), vec![], op)
        });
    let mut graph = Graph::new();
    layer(&mut graph, &name, tasks);
    Array::from_graph(graph, name, chunks)
}

/// The dataset `dataset` of the HDF5 file at `path`, as a lazy array of the dtype the file
/// stores, cut into blocks of `chunks` (the last block along an axis may be smaller). Each
/// block is one hyperslab read, made when the block is computed.
///
/// `chunks: None` uses the dataset's own chunk shape, or, for a contiguous dataset, blocks of
/// about 8 MiB along the first axis. See [`Hdf5Element`] for the HDF5 types read, and
/// [`read_hdf5_as`] for a typed array.
///
/// ```
/// use ndarray::array;
/// use partita_collections::{Array, DType};
/// use partita_io::{read_hdf5, to_hdf5, Hdf5Write};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("data.h5");
/// let x = Array::from_array(array![[1_i32, 2, 3], [4, 5, 6]], &[1, 3])?;
/// to_hdf5(&x, &path, "x", &Hdf5Write::new().chunks(&[1, 2]))?;
///
/// let back = read_hdf5(&path, "x", None)?;
/// assert_eq!(back.dtype(), DType::I32);
/// assert_eq!(back.chunks().sizes(), &[vec![1, 1], vec![2, 1]]);
/// let back = back.into_typed::<i32>()?;
/// assert_eq!(back.compute()?, array![[1, 2, 3], [4, 5, 6]].into_dyn());
/// # Ok::<(), partita_io::Error>(())
/// ```
///
/// # Errors
/// [`Error::Hdf5`] naming the file and the dataset when the file is missing or not HDF5, the
/// dataset is missing, its type has no dtype, or `chunks` does not fit its shape. A block that
/// fails to read fails the compute, naming the file, the dataset and the block.
pub fn read_hdf5(
    path: impl AsRef<Path>,
    dataset: &str,
    chunks: Option<&[usize]>,
) -> Result<DynArray> {
    let opened = Opened::open(path.as_ref(), dataset)?;
    let chunks = opened.chunks(chunks)?;
    Ok(match opened.dtype {
        DType::Bool => plan::<bool>(opened, chunks).into(),
        DType::I8 => plan::<i8>(opened, chunks).into(),
        DType::I16 => plan::<i16>(opened, chunks).into(),
        DType::I32 => plan::<i32>(opened, chunks).into(),
        DType::I64 => plan::<i64>(opened, chunks).into(),
        DType::U8 => plan::<u8>(opened, chunks).into(),
        DType::U16 => plan::<u16>(opened, chunks).into(),
        DType::U32 => plan::<u32>(opened, chunks).into(),
        DType::U64 => plan::<u64>(opened, chunks).into(),
        DType::F32 => plan::<f32>(opened, chunks).into(),
        DType::F64 => plan::<f64>(opened, chunks).into(),
        DType::C64 => plan::<partita_collections::C64>(opened, chunks).into(),
        DType::C128 => plan::<partita_collections::C128>(opened, chunks).into(),
        other => {
            return Err(Error::hdf5(
                &opened.path,
                &opened.name,
                format!("{other} cannot be read from HDF5"),
            ))
        }
    })
}

/// The dataset `dataset` of the HDF5 file at `path` as an `Array<T>`, as [`read_hdf5`] reads
/// it, when the dataset holds `T`.
///
/// ```
/// use partita_collections::Array;
/// use partita_io::{read_hdf5_as, to_hdf5, Error, Hdf5Write};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("data.h5");
/// to_hdf5(&Array::<f64>::linspace(0.0, 1.0, 5, 2)?, &path, "grid", &Hdf5Write::new())?;
///
/// let grid = read_hdf5_as::<f64>(&path, "grid", Some(&[5]))?;
/// assert_eq!(grid.nblocks(), 1);
/// assert_eq!(grid.compute()?.into_raw_vec_and_offset().0, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
/// let wrong = read_hdf5_as::<f32>(&path, "grid", None).unwrap_err();
/// assert!(matches!(wrong, Error::Hdf5DType { .. }));
/// assert!(wrong.to_string().contains("holds float64, not float32"), "{wrong}");
/// # Ok::<(), partita_io::Error>(())
/// ```
///
/// # Errors
/// [`Error::Hdf5DType`] naming the file, the dataset and both dtypes when the dataset holds
/// another dtype; otherwise as [`read_hdf5`].
pub fn read_hdf5_as<T: Hdf5Element>(
    path: impl AsRef<Path>,
    dataset: &str,
    chunks: Option<&[usize]>,
) -> Result<Array<T>> {
    let opened = Opened::open(path.as_ref(), dataset)?;
    if opened.dtype != T::DTYPE {
        return Err(Error::Hdf5DType {
            path: opened.path.clone(),
            dataset: opened.name.clone(),
            stored: opened.dtype,
            asked: T::DTYPE,
        });
    }
    let chunks = opened.chunks(chunks)?;
    Ok(plan::<T>(opened, chunks))
}
