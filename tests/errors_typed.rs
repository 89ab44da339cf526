//! Errors keep their typed cause: a corrupt Parquet file, a CSV value that does not parse, a
//! missing HDF5 dataset and a deleted input file each fail with an error whose source chain
//! reaches the library's own error, and whose message still names the file.

use std::error::Error as StdError;
use std::path::Path;

use partita::io::{read_csv, read_hdf5, read_parquet, CsvOptions, ParquetOptions};

/// The first error down the `source` chain of `err` (itself included) that is an `E`.
fn find_in_chain<'a, E: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        cur = e.source();
    }
    None
}

#[test]
fn corrupt_parquet_keeps_the_parquet_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.parquet");
    std::fs::write(&path, b"this is not a parquet file at all").unwrap();
    let err = read_parquet(path.as_path(), ParquetOptions::default()).unwrap_err();
    assert!(err.to_string().contains("broken.parquet"), "{err}");
    assert!(
        find_in_chain::<parquet::errors::ParquetError>(&err).is_some(),
        "{err:?}"
    );
}

#[test]
fn csv_value_that_does_not_parse_keeps_the_arrow_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("values.csv");
    let mut text = String::from("a,b\n");
    for i in 0..20 {
        text.push_str(&format!("{i},{}\n", i * 2));
    }
    text.push_str("oops,3\n");
    std::fs::write(&path, text).unwrap();
    let options = CsvOptions {
        sample_rows: 5,
        ..CsvOptions::default()
    };
    let err = read_csv(path.as_path(), options)
        .unwrap()
        .compute()
        .unwrap_err();
    let text = err.to_string();
    // The header is line 1, so the 21st row is line 22.
    assert!(text.contains("values.csv:22"), "{text}");
    let runtime = err.as_runtime().expect("a task failed");
    let root = runtime.root_cause();
    assert!(
        root.downcast_ref::<arrow::error::ArrowError>().is_some(),
        "{root:?}"
    );
    assert!(find_in_chain::<arrow::error::ArrowError>(&err).is_some());
}

#[test]
fn missing_hdf5_dataset_keeps_the_hdf5_error() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/h5py_types.h5");
    let err = read_hdf5(&path, "no/such/dataset", None).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("h5py_types.h5"), "{text}");
    assert!(text.contains("no such dataset"), "{text}");
    assert!(
        find_in_chain::<hdf5_metno::Error>(&err).is_some(),
        "{err:?}"
    );
}

#[test]
fn deleted_input_keeps_the_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.csv");
    std::fs::write(&path, "a,b\n1,2\n3,4\n").unwrap();
    let df = read_csv(path.as_path(), CsvOptions::default()).unwrap();
    std::fs::remove_file(&path).unwrap();
    let err = df.compute().unwrap_err();
    assert!(err.to_string().contains("gone.csv"), "{err}");
    let runtime = err.as_runtime().expect("a task failed");
    let io = runtime
        .root_cause()
        .downcast_ref::<std::io::Error>()
        .expect("the OS error");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn a_dependent_failure_has_the_failed_task_as_its_source() {
    use std::sync::Arc;

    use partita::runtime::{value, Error as RuntimeError, Graph, Kernel, Runtime, Task, TaskKey};

    let parse = TaskKey::new("parse", 0);
    let failing: Kernel = {
        let key = parse.clone();
        Arc::new(move |_| {
            let n = "17x"
                .parse::<u32>()
                .map_err(|e| RuntimeError::failed_by(key.clone(), e))?;
            Ok(value(n))
        })
    };
    let plus_one: Kernel =
        Arc::new(|inputs| Ok(value(*inputs[0].downcast_ref::<u32>().unwrap() + 1)));
    let sum = TaskKey::new("sum", 0);
    let mut graph = Graph::new();
    graph.add_layer("parse", vec![Task::new(parse.clone(), vec![], failing)]);
    graph.add_layer("sum", vec![Task::new(sum.clone(), vec![parse], plus_one)]);
    let rt = Runtime::builder().threads(2).build().unwrap();
    let err = rt.compute(&graph, &[sum]).unwrap_err();
    assert!(
        matches!(err, RuntimeError::DependencyFailed { .. }),
        "{err}"
    );
    // `source()` is the failed task's own error, typed...
    let cause = err.source().expect("the cause");
    let failed = cause
        .downcast_ref::<RuntimeError>()
        .expect("the runtime error of the failed task");
    assert!(
        matches!(failed, RuntimeError::TaskFailed { .. }),
        "{failed}"
    );
    // ... so a plain walk down the chain reaches the kernel's error, as `root_cause` does.
    let parsed = find_in_chain::<std::num::ParseIntError>(&err).expect("the parse error");
    assert_eq!(parsed.to_string(), "invalid digit found in string");
    assert!(err
        .root_cause()
        .downcast_ref::<std::num::ParseIntError>()
        .is_some());
    // The collections' error wraps it transparently: the same walk works from there.
    let wrapped = partita::collections::Error::from(err);
    assert!(find_in_chain::<std::num::ParseIntError>(&wrapped).is_some());
}
