//! HDF5 errors: each names the file and the dataset, nothing panics, and a failed write leaves
//! no file behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use partita::collections::{Array, DType};
use partita::io::{read_hdf5, read_hdf5_as, store_hdf5, to_hdf5, Error, Hdf5Write};

#[path = "common/hdf5_dims.rs"]
mod hdf5_dims;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/h5py_types.h5")
}

/// Asserts that `err` is an [`Error::Hdf5`] whose message names `file`, `dataset` and `what`.
fn assert_names(err: &Error, file: &str, dataset: &str, what: &str) {
    assert!(matches!(err, Error::Hdf5 { .. }), "{err:?}");
    let text = err.to_string();
    for part in [file, dataset, what] {
        assert!(text.contains(part), "{text:?} does not name {part:?}");
    }
}

/// The names in `dir`, waiting briefly for workers to let go of a failed write.
fn settled_listing(dir: &Path, want: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        if names.len() <= want || Instant::now() > deadline {
            return names;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.h5");
    let err = read_hdf5(&path, "x", None).unwrap_err();
    assert_names(&err, "absent.h5", "x", "no such file");
    let err = read_hdf5_as::<f64>(&path, "x", None).unwrap_err();
    assert_names(&err, "absent.h5", "x", "no such file");
}

#[test]
fn a_file_that_is_not_hdf5_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.h5");
    std::fs::write(&path, "plain text, not HDF5").unwrap();
    let err = read_hdf5(&path, "x", None).unwrap_err();
    assert_names(&err, "notes.h5", "x", "not a readable HDF5 file");
    let err = read_hdf5(dir.path(), "x", None).unwrap_err();
    assert_names(&err, &dir.path().display().to_string(), "x", "directory");
}

#[test]
fn a_missing_dataset_is_named() {
    let err = read_hdf5(fixture(), "no_such_dataset", None).unwrap_err();
    assert_names(&err, "h5py_types.h5", "no_such_dataset", "no such dataset");
    let err = read_hdf5(fixture(), "missing_group/data", None).unwrap_err();
    assert_names(
        &err,
        "h5py_types.h5",
        "missing_group/data",
        "no such dataset",
    );
    let err = read_hdf5(fixture(), "", None).unwrap_err();
    assert_names(&err, "h5py_types.h5", "", "no such dataset");
    let err = read_hdf5(fixture(), "group", None).unwrap_err();
    assert_names(&err, "h5py_types.h5", "group", "not a dataset");
}

#[test]
fn a_dtype_mismatch_names_both_dtypes() {
    let err = read_hdf5_as::<f32>(fixture(), "int16", None).unwrap_err();
    match &err {
        Error::Hdf5DType {
            path,
            dataset,
            stored,
            asked,
        } => {
            assert_eq!(path, &fixture());
            assert_eq!(dataset, "int16");
            assert_eq!((*stored, *asked), (DType::I16, DType::F32));
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    for part in ["h5py_types.h5", "int16", "holds int16, not float32"] {
        assert!(text.contains(part), "{text:?} does not name {part:?}");
    }
    let err = read_hdf5_as::<bool>(fixture(), "uint8", None).unwrap_err();
    assert!(err.to_string().contains("holds uint8, not bool"), "{err}");
}

#[test]
fn unsupported_types_are_named() {
    let err = read_hdf5(fixture(), "text", None).unwrap_err();
    assert_names(&err, "h5py_types.h5", "text", "unsupported HDF5 type");
    let err = read_hdf5(fixture(), "int128", None).unwrap_err();
    assert_names(&err, "h5py_types.h5", "int128", "16 bytes");
    let err = read_hdf5_as::<i64>(fixture(), "int128", None).unwrap_err();
    assert_names(&err, "h5py_types.h5", "int128", "unsupported HDF5 type");
}

#[test]
fn chunks_that_do_not_fit_are_named() {
    let err = read_hdf5(fixture(), "int8", Some(&[2])).unwrap_err();
    assert_names(&err, "h5py_types.h5", "int8", "[2]");
    let err = read_hdf5(fixture(), "int8", Some(&[2, 0])).unwrap_err();
    assert_names(&err, "h5py_types.h5", "int8", "chunk size 0");

    let dir = tempfile::tempdir().unwrap();
    let x = Array::<f64>::zeros(&[4, 4], &[2, 2]).unwrap();
    let path = dir.path().join("x.h5");
    let err = to_hdf5(&x, &path, "x", &Hdf5Write::new().chunks(&[2])).unwrap_err();
    assert_names(&err, "x.h5", "x", "1 axes");
    let err = to_hdf5(&x, &path, "x", &Hdf5Write::new().chunks(&[2, 0])).unwrap_err();
    assert_names(&err, "x.h5", "x", "chunk size 0");
    let err = to_hdf5(&x, &path, "x", &Hdf5Write::new().gzip(10)).unwrap_err();
    assert_names(&err, "x.h5", "x", "gzip level 10");
    assert!(settled_listing(dir.path(), 0).is_empty());
}

#[test]
fn a_file_that_cannot_be_created_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("out.h5");
    let x = Array::<f64>::zeros(&[4], &[2]).unwrap();
    let err = to_hdf5(&x, &path, "x", &Hdf5Write::new()).unwrap_err();
    assert_names(&err, "out.h5", "x", "cannot create");
    let err = store_hdf5(&x, dir.path().join("ok.h5"), "/", &Hdf5Write::new()).unwrap_err();
    assert_names(&err, "ok.h5", "\"/\"", "a dataset needs a name");
    let err = store_hdf5(&x, dir.path().join("ok.h5"), "", &Hdf5Write::new()).unwrap_err();
    assert_names(&err, "ok.h5", "\"\"", "a dataset needs a name");
    assert!(settled_listing(dir.path(), 0).is_empty());
}

#[test]
fn a_failed_block_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.h5");
    std::fs::write(&path, "an older file").unwrap();
    let x = Array::<i64>::arange(100, 10).unwrap().map_blocks(|b| {
        if b.iter().any(|&v| v == 55) {
            panic!("block with 55 fails");
        }
        b.to_owned()
    });
    let err = to_hdf5(&x, &path, "x", &Hdf5Write::new()).unwrap_err();
    assert!(err.to_string().contains("block with 55 fails"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "an older file");
    assert_eq!(settled_listing(dir.path(), 1), vec!["out.h5".to_string()]);

    std::fs::remove_file(&path).unwrap();
    let stored = store_hdf5(&x, &path, "x", &Hdf5Write::new()).unwrap();
    assert!(stored.compute().is_err());
    assert!(!path.exists());
    drop(stored);
    assert!(settled_listing(dir.path(), 0).is_empty());
}

#[test]
fn a_failed_write_names_the_file_and_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.h5");
    // A kernel that breaks its promise to keep the block's shape: the write must refuse it.
    let x = Array::<f64>::zeros(&[6], &[3])
        .unwrap()
        .map_blocks(|b| ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&[b.len() + 1])));
    let err = to_hdf5(&x, &path, "data", &Hdf5Write::new()).unwrap_err();
    let text = err.to_string();
    for part in ["bad.h5", "data", "writing"] {
        assert!(text.contains(part), "{text:?} does not name {part:?}");
    }
    assert!(!path.exists());
    assert!(settled_listing(dir.path(), 0).is_empty());
}

#[test]
fn a_store_never_computed_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("never.h5");
    let x = Array::<f64>::ones(&[8, 8], &[4, 4]).unwrap();
    let stored = store_hdf5(&x, &path, "x", &Hdf5Write::new()).unwrap();
    // Computing some blocks is not enough for the file to appear.
    let part = stored
        .slice(&[
            partita::collections::Index::range(None, Some(4), 1),
            partita::collections::Index::all(),
        ])
        .unwrap();
    assert_eq!(part.compute().unwrap().len(), 32);
    assert!(!path.exists());
    drop((stored, part));
    assert!(settled_listing(dir.path(), 0).is_empty());
}

#[test]
fn appending_keeps_the_other_datasets_and_a_failed_append_keeps_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.h5");
    let append = Hdf5Write::new().append(true);
    // Appending to no file creates it; appending again adds, with gzip or without.
    let x = Array::<i64>::arange(10, 4).unwrap();
    to_hdf5(&x, &path, "x", &append).unwrap();
    let y = Array::<f64>::linspace(0.0, 1.0, 7, 3).unwrap();
    to_hdf5(&y, &path, "/group/y", &append.clone().gzip(3)).unwrap();
    let z = Array::<f64>::ones(&[5, 5], &[2, 5]).unwrap();
    to_hdf5(&z, &path, "z", &append).unwrap();
    let floats = |name: &str| {
        read_hdf5_as::<f64>(&path, name, None)
            .unwrap()
            .compute()
            .unwrap()
    };
    let read_x = || {
        read_hdf5_as::<i64>(&path, "x", None)
            .unwrap()
            .compute()
            .unwrap()
    };
    assert_eq!(read_x(), x.compute().unwrap());
    assert_eq!(floats("/group/y"), y.compute().unwrap());
    assert_eq!(floats("z"), z.compute().unwrap());

    // A name the file holds already: an error naming it, and the file as it was.
    let err = to_hdf5(&x, &path, "x", &append).unwrap_err();
    assert_names(&err, "many.h5", "x", "already holds something of this name");
    assert_eq!(read_x(), x.compute().unwrap());

    // A block that fails: the file keeps its datasets and gains nothing.
    let bad = Array::<i64>::arange(100, 10).unwrap().map_blocks(|b| {
        if b.iter().any(|&v| v == 55) {
            panic!("block with 55 fails");
        }
        b.to_owned()
    });
    assert!(to_hdf5(&bad, &path, "w", &append).is_err());
    assert_eq!(settled_listing(dir.path(), 1), vec!["many.h5".to_string()]);
    assert_eq!(read_x(), x.compute().unwrap());
    assert!(read_hdf5(&path, "w", None).is_err());

    // Without append the file is replaced whole.
    to_hdf5(&y, &path, "only", &Hdf5Write::new()).unwrap();
    assert!(read_hdf5(&path, "x", None).is_err());

    // Appending to a file that is not HDF5 names it and leaves it alone.
    let text = dir.path().join("notes.h5");
    std::fs::write(&text, "not hdf5").unwrap();
    let err = to_hdf5(&x, &text, "x", &append).unwrap_err();
    assert_names(&err, "notes.h5", "x", "cannot open the file to add to");
    assert_eq!(std::fs::read_to_string(&text).unwrap(), "not hdf5");
    assert_eq!(settled_listing(dir.path(), 2).len(), 2);
}

/// A file whose dataspace claims 10^12 rows: the read is an error naming the file, the dataset
/// and the bad figure, before anything is planned or allocated.
#[test]
fn a_corrupt_shape_is_an_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shape.h5");
    let data = ndarray::Array2::<f64>::from_shape_fn((1000, 3), |(i, j)| (i * 3 + j) as f64);
    let x = partita::collections::Array::from_array(data.into_dyn(), &[100, 3]).unwrap();
    partita::io::to_hdf5(&x, &path, "x", &partita::io::Hdf5Write::new()).unwrap();
    assert_eq!(read_hdf5(&path, "x", None).unwrap().shape(), &[1000, 3]);
    let bytes = hdf5_dims::with_first_dim(&path, &[1000, 3], 1_000_000_000_000);
    let corrupt = dir.path().join("corrupt.h5");
    std::fs::write(&corrupt, &bytes).unwrap();
    let err = read_hdf5(&corrupt, "x", None).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Hdf5 { .. }), "{err:?}");
    assert!(
        text.contains("corrupt.h5") && text.contains("\"x\""),
        "{text}"
    );
    assert!(text.contains("1000000000000"), "{text}");
}
