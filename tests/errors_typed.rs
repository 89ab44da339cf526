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

/// A user's own error type.
#[derive(Debug)]
struct Unreadable(usize);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "partition {} is unreadable", self.0)
    }
}

impl StdError for Unreadable {}

/// `x: int64` = 1, 2, 3, 4 in two partitions.
fn ints_frame() -> partita::DataFrame {
    let batch = arrow::array::RecordBatch::try_from_iter([(
        "x",
        std::sync::Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3, 4]))
            as arrow::array::ArrayRef,
    )])
    .unwrap();
    partita::DataFrame::from_arrow(batch, 2).unwrap()
}

#[test]
fn a_closures_error_type_stays_the_tasks_source() {
    use partita::prelude::*;

    // A frame's map_partitions_indexed...
    let df = ints_frame();
    let broken = df.map_partitions_indexed(df.schema().clone(), |i, b| {
        if i == 1 {
            Err(Unreadable(i))
        } else {
            Ok(b)
        }
    });
    let err = broken.compute().unwrap_err();
    assert!(
        err.to_string().ends_with("partition 1 is unreadable"),
        "{err}"
    );
    let found = find_in_chain::<Unreadable>(&err).expect("the closure's own error");
    assert_eq!(found.0, 1);

    // ... a bag's try_map_partitions, where a `String` error keeps its text...
    let bag = Bag::from_sequence(vec!["1", "x"], 2);
    let parsed = bag.try_map_partitions(|_, part: Vec<&str>| {
        part.iter()
            .map(|s| s.parse::<i32>())
            .collect::<Result<Vec<_>, _>>()
    });
    let err = parsed.compute().unwrap_err();
    assert!(
        find_in_chain::<std::num::ParseIntError>(&err).is_some(),
        "{err}"
    );
    let texts = bag.try_map_partitions(|i, _: Vec<&str>| -> Result<Vec<u8>, String> {
        Err(format!("partition {i}"))
    });
    let err = texts.compute().unwrap_err();
    assert!(err.to_string().ends_with("failed: partition 0"), "{err}");

    // ... and a writer built on it: the OS error of a file that cannot be written.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("part-00000.txt")).unwrap(); // in the way
    let lines = Bag::from_sequence(vec!["a".to_string()], 1);
    let err = partita::io::to_textfiles(&lines, dir.path()).unwrap_err();
    assert!(err.to_string().contains("part-00000.txt"), "{err}");
    assert!(find_in_chain::<std::io::Error>(&err).is_some(), "{err:?}");
}

#[test]
fn a_partition_that_breaks_its_declared_schema_names_the_layer() {
    let df = ints_frame();
    // Declares `x: int64`, returns `x: float64`.
    let cast = df.map_partitions(df.schema().clone(), |b| {
        let x = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Float64)?;
        arrow::array::RecordBatch::try_from_iter([("x", x)])
    });
    let err = cast.compute().unwrap_err().to_string();
    assert!(
        err.contains("map_partitions (layer map-partitions"),
        "{err}"
    );
    assert!(err.contains("float64") && err.contains("int64"), "{err}");
}
