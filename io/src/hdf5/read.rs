//! Reading an HDF5 dataset as a lazy array, one hyperslab per block.
//!
//! The file and dataset are opened once, when the graph is built, and the dataset's handle is
//! shared by every block's task; they close when the last array using them is dropped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use partita_collections::{Array, Chunks, DType, DynArray};
use partita_runtime::{value, Graph, Task, TaskKey};

use super::element::{dtype_of, Hdf5Element};
use super::{block_ranges, selection};
use crate::error::{Error, Result};
use crate::partitioned::layer_name;

/// Blocks of a contiguous (unchunked) dataset hold about this many bytes.
const CONTIGUOUS_BLOCK_BYTES: usize = 8 << 20;

/// An open dataset, shared by the tasks that read its blocks.
struct Opened {
    path: PathBuf,
    name: String,
    dataset: hdf5_metno::Dataset,
    /// Holds the file open as long as the dataset is read.
    _file: hdf5_metno::File,
    dtype: DType,
    shape: Vec<usize>,
}

impl Opened {
    fn open(path: &Path, name: &str) -> Result<Opened> {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => return Err(Error::hdf5(path, name, "is a directory")),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::hdf5(path, name, "no such file"))
            }
            Err(e) => return Err(Error::hdf5(path, name, e)),
        }
        let file = hdf5_metno::File::open(path)
            .map_err(|e| Error::hdf5(path, name, format!("not a readable HDF5 file: {e}")))?;
        if !file.link_exists(name) {
            let mut names = file.member_names().unwrap_or_default();
            names.truncate(20);
            return Err(Error::hdf5(
                path,
                name,
                format!("no such dataset in the file (its top level holds {names:?})"),
            ));
        }
        let dataset = file
            .dataset(name)
            .map_err(|e| Error::hdf5(path, name, format!("not a dataset: {e}")))?;
        let datatype = dataset
            .dtype()
            .map_err(|e| Error::hdf5(path, name, format!("cannot read its type: {e}")))?;
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
        Ok(Opened {
            path: path.to_path_buf(),
            name: name.to_string(),
            dataset,
            _file: file,
            dtype,
            shape,
        })
    }

    /// `asked`, or else the dataset's own chunk shape, or else (for a contiguous dataset)
    /// blocks of about [`CONTIGUOUS_BLOCK_BYTES`] along the first axis.
    fn chunks(&self, asked: Option<&[usize]>) -> Result<Chunks> {
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

const SUPPORTED: &str = "partita reads bool, integers up to 64 bits, float32, float64, \
                         and complex64/complex128 stored as h5py stores them";

/// One task per block of `chunks`, each reading its hyperslab of the dataset.
fn plan<T: Hdf5Element>(opened: Opened, chunks: Chunks) -> Array<T> {
    let opened = Arc::new(opened);
    let name = layer_name("read-hdf5");
    let tasks = block_ranges(&chunks)
        .into_iter()
        .enumerate()
        .map(|(i, ranges)| {
            let key = TaskKey::new(name.clone(), i as u64);
            let (k, opened) = (key.clone(), opened.clone());
            Task::new(
                key,
                vec![],
                Arc::new(move |_| {
                    T::read(&opened.dataset, selection(&ranges))
                        .map(value)
                        .map_err(|e| partita_runtime::Error::TaskFailed {
                            key: k.clone(),
                            message: format!(
                                "{}, dataset {:?}: reading {ranges:?}: {e}",
                                opened.path.display(),
                                opened.name
                            ),
                        })
                }),
            )
        })
        .collect();
    let mut graph = Graph::new();
    graph.add_layer(name.clone(), tasks);
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
