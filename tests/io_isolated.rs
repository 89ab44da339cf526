//! `check_hdf5_isolated`: a good dataset checks, a corrupt one is an error naming it, and a
//! child that crashes (as libhdf5 does on some corrupt files) is an error, not the end of the
//! caller.
//!
//! The binary has its own `main`: it is also the checking child.

#[path = "common/harness.rs"]
mod harness;
#[path = "common/hdf5_dims.rs"]
mod hdf5_dims;

use std::path::{Path, PathBuf};
use std::time::Duration;

use partita::collections::Array;
use partita::io::{check_hdf5_isolated, to_hdf5, Error, Hdf5Write};

fn dataset(dir: &Path) -> PathBuf {
    let path = dir.join("good.h5");
    let x = Array::random(&[200, 4], &[50, 4], 1).unwrap();
    to_hdf5(&x, &path, "x", &Hdf5Write::new()).unwrap();
    path
}

fn a_good_dataset_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dataset(dir.path());
    check_hdf5_isolated(&path, "x", Duration::from_secs(60)).unwrap();
}

fn a_corrupt_dataset_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dataset(dir.path());
    let missing = check_hdf5_isolated(&path, "nope", Duration::from_secs(60)).unwrap_err();
    assert!(matches!(missing, Error::Hdf5 { .. }), "{missing:?}");
    assert!(missing.to_string().contains("no such dataset"), "{missing}");
    // 200 rows made 10^12.
    let bytes = hdf5_dims::with_first_dim(&path, &[200, 4], 1_000_000_000_000);
    let corrupt = dir.path().join("corrupt.h5");
    std::fs::write(&corrupt, &bytes).unwrap();
    let err = check_hdf5_isolated(&corrupt, "x", Duration::from_secs(60)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("corrupt.h5") && text.contains("1000000000000"),
        "{text}"
    );
}

fn a_crashing_child_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dataset(dir.path());
    let crash = dir.path().join("crash.h5");
    std::fs::copy(&path, &crash).unwrap();
    // This binary's main aborts a child asked to check `crash.h5`, standing in for libhdf5.
    let err = check_hdf5_isolated(&crash, "x", Duration::from_secs(60)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("crash.h5") && text.contains("crashed"),
        "{text}"
    );
    assert!(text.contains("signal 6"), "{text}");
}

fn main() {
    if std::env::var("PARTITA_CHECK_HDF5_FILE").is_ok_and(|f| f.ends_with("crash.h5")) {
        std::process::abort();
    }
    partita::worker_main();
    let tests: &[(&str, &dyn Fn())] = &[
        ("a_good_dataset_checks", &a_good_dataset_checks),
        (
            "a_corrupt_dataset_is_an_error_naming_it",
            &a_corrupt_dataset_is_an_error_naming_it,
        ),
        (
            "a_crashing_child_is_an_error",
            &a_crashing_child_is_an_error,
        ),
    ];
    if !harness::run(tests) {
        std::process::exit(1);
    }
}
