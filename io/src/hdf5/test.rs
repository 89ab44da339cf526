use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use partita_collections::{Array, C128, C64};

use super::*;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/h5py_types.h5")
}

/// The HDF5 type of `dataset` in the file at `path`.
fn datatype(path: &Path, dataset: &str) -> hdf5_metno::Datatype {
    let file = hdf5_metno::File::open(path).unwrap();
    file.dataset(dataset).unwrap().dtype().unwrap()
}

fn written_type<T: Hdf5Element>(dir: &Path, fill: T) -> hdf5_metno::Datatype {
    let path = dir.join(format!("{}.h5", T::DTYPE));
    to_hdf5(
        &Array::full(&[2], &[2], fill).unwrap(),
        &path,
        "x",
        &Hdf5Write::new(),
    )
    .unwrap();
    datatype(&path, "x")
}

#[test]
fn bool_and_complex_are_written_with_h5pys_types() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(written_type(d, true) == datatype(&fixture(), "bool"));
    assert!(written_type(d, C64::new(1.0, 2.0)) == datatype(&fixture(), "complex64"));
    assert!(written_type(d, C128::new(1.0, 2.0)) == datatype(&fixture(), "complex128"));
    assert!(written_type(d, 1_u16) == datatype(&fixture(), "uint16"));
    assert!(written_type(d, 1.5_f32) == datatype(&fixture(), "float32"));
}

#[test]
fn a_large_contiguous_dataset_reads_in_8_mib_blocks_of_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contiguous.h5");
    let data = ArrayD::from_shape_fn(IxDyn(&[3000, 500]), |i| (i[0] * 500 + i[1]) as f64);
    {
        let file = hdf5_metno::File::create(&path).unwrap();
        let ds = file
            .new_dataset_builder()
            .with_data(&data)
            .create("x")
            .unwrap();
        assert!(!ds.is_chunked());
    }
    let x = read_hdf5_as::<f64>(&path, "x", None).unwrap();
    // 8 MiB / (500 * 8 bytes per row) = 2097 rows.
    assert_eq!(x.chunks().sizes(), &[vec![2097, 903], vec![500]]);
    assert_eq!(x.compute().unwrap(), data);
}

#[test]
fn a_written_file_has_the_requested_chunks_and_filter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.h5");
    let x = Array::<f64>::zeros(&[10, 6], &[4, 6]).unwrap();
    to_hdf5(&x, &path, "x", &Hdf5Write::new().chunks(&[5, 3]).gzip(7)).unwrap();
    let file = hdf5_metno::File::open(&path).unwrap();
    let ds = file.dataset("x").unwrap();
    assert_eq!(ds.chunk(), Some(vec![5, 3]));
    assert_eq!(ds.filters(), vec![hdf5_metno::filters::Filter::Deflate(7)]);
}
