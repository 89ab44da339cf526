//! Arrow IPC files: record batches as partitions, nulls and types preserved, errors named.

use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use partita::collections::DataFrame;
use partita::io::{read_ipc, to_ipc, Error};
use partita::prelude::*;

#[path = "common/mutate.rs"]
mod mutate;

use mutate::{failed_naming, mutate};

fn batch() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("x", DataType::Float64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..30)),
            Arc::new(StringArray::from_iter(
                (0..30).map(|i| (i % 4 != 0).then(|| format!("n{i}"))),
            )),
            Arc::new(Float64Array::from_iter(
                (0..30).map(|i| (i % 3 != 0).then_some(i as f64)),
            )),
        ],
    )
    .unwrap()
}

#[test]
fn round_trips_with_nulls_and_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::builder().threads(2).build().unwrap();
    let df = DataFrame::from_arrow(batch(), 4).unwrap();
    let files = rt.install(|| to_ipc(&df, dir.path())).unwrap();
    assert_eq!(files.len(), 4);
    let back = read_ipc(format!("{}/part-*.arrow", dir.path().display()).as_str()).unwrap();
    assert_eq!(back.npartitions(), 4);
    assert_eq!(back.dtypes(), df.dtypes());
    let out = rt.install(|| back.reset_index()).unwrap();
    let original = batch();
    for c in ["id", "name", "x"] {
        assert_eq!(
            out.column_by_name(c).unwrap().to_data(),
            original.column_by_name(c).unwrap().to_data(),
            "column {c}"
        );
    }
}

#[test]
fn a_file_that_is_not_arrow_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake.arrow");
    std::fs::write(&path, b"definitely not arrow").unwrap();
    let err = read_ipc(path.as_path()).unwrap_err();
    assert!(matches!(err, Error::Ipc { .. }), "{err}");
    assert!(err.to_string().contains("fake.arrow"), "{err}");
}

#[test]
fn an_empty_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.arrow");
    std::fs::write(&path, b"").unwrap();
    let err = read_ipc(path.as_path()).unwrap_err().to_string();
    assert!(err.contains("empty.arrow"), "{err}");
    assert!(err.contains("the file is empty"), "{err}");
}

/// Mutated files: every read either succeeds or fails with an error naming the file; no panic
/// of the decoder reaches the caller as a bare panic message.
#[test]
fn mutated_files_fail_with_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::builder().threads(2).build().unwrap();
    let df = DataFrame::from_arrow(batch(), 2).unwrap();
    let files = rt.install(|| to_ipc(&df, dir.path())).unwrap();
    let good = std::fs::read(&files[0]).unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    let (mut failed, mut corrupt) = (0, 0);
    for case in 0..400 {
        let bytes = mutate(&good, &mut rng);
        let path = dir.path().join(format!("mutant-{case}.arrow"));
        std::fs::write(&path, &bytes).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let outcome = match read_ipc(path.as_path()) {
            Ok(df) => rt
                .install(|| df.compute())
                .map(drop)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(text) = &outcome {
            corrupt += usize::from(text.contains("malformed data"));
        }
        failed += usize::from(failed_naming(outcome, &name, case));
        std::fs::remove_file(&path).unwrap();
    }
    assert!(failed > 0, "no mutation was caught");
    println!("{failed} of 400 mutants failed, {corrupt} of them inside the decoder");
}
