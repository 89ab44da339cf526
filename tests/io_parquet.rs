//! Parquet: row groups as partitions, nulls, projection, and round trips.

use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use partita::collections::sum;
use partita::io::{read_parquet, to_parquet, Error, ParquetOptions};
use partita::prelude::*;

#[path = "common/mutate.rs"]
mod mutate;

use mutate::{failed_naming, mutate};

/// (id, key, x)
type Row = (i64, Option<String>, Option<f64>);

/// 95 rows with nulls, written in row groups of 20 (5 groups).
fn fixture(dir: &std::path::Path) -> (std::path::PathBuf, Vec<Row>) {
    let rows: Vec<Row> = (0..95)
        .map(|i| {
            (
                i,
                (i % 7 != 0).then(|| format!("k{}", i % 4)),
                (i % 5 != 0).then_some(i as f64 / 2.0),
            )
        })
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("key", DataType::Utf8, true),
        Field::new("x", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    let path = dir.join("data.parquet");
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(20))
        .build();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    (path, rows)
}

#[test]
fn row_groups_become_partitions_and_nulls_survive() {
    let dir = tempfile::tempdir().unwrap();
    let (path, rows) = fixture(dir.path());
    let df = read_parquet(path.as_path(), ParquetOptions::default()).unwrap();
    assert_eq!(df.npartitions(), 5);
    let out = df.reset_index().unwrap();
    let keys: Vec<Option<String>> = out
        .column_by_name("key")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect();
    assert_eq!(keys, rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>());
    let xs: Vec<Option<f64>> = out
        .column_by_name("x")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(xs, rows.iter().map(|r| r.2).collect::<Vec<_>>());
}

#[test]
fn projection_reads_only_the_named_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (path, rows) = fixture(dir.path());
    let options = ParquetOptions {
        columns: Some(vec!["x".into(), "id".into()]),
    };
    let df = read_parquet(path.as_path(), options).unwrap();
    assert_eq!(df.columns(), ["id", "x"]);
    let total = df
        .groupby(&["id"])
        .unwrap()
        .agg([sum("x")])
        .unwrap()
        .reset_index()
        .unwrap();
    assert_eq!(total.num_rows(), rows.len());
    let err = read_parquet(
        path.as_path(),
        ParquetOptions {
            columns: Some(vec!["nope".into()]),
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Parquet { .. }));
    assert!(
        err.to_string().contains("data.parquet") && err.to_string().contains("nope"),
        "{err}"
    );
}

#[test]
fn to_parquet_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (path, rows) = fixture(dir.path());
    let df = read_parquet(path.as_path(), ParquetOptions::default()).unwrap();
    let rt = Runtime::builder().threads(2).build().unwrap();
    let files = rt
        .install(|| to_parquet(&df, dir.path().join("out")))
        .unwrap();
    assert_eq!(files.len(), 5);
    let back = read_parquet(
        format!("{}/out/*.parquet", dir.path().display()).as_str(),
        ParquetOptions::default(),
    )
    .unwrap();
    let ids: Vec<i64> = rt
        .install(|| back.reset_index())
        .unwrap()
        .column_by_name("id")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .values()
        .to_vec();
    assert_eq!(ids, rows.iter().map(|r| r.0).collect::<Vec<_>>());
}

#[test]
fn a_file_that_is_not_parquet_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake.parquet");
    std::fs::write(&path, b"not a parquet file at all").unwrap();
    let err = read_parquet(path.as_path(), ParquetOptions::default()).unwrap_err();
    assert!(err.to_string().contains("fake.parquet"), "{err}");
}

#[test]
fn filters_prune_row_groups_without_losing_rows() {
    use partita::collections::{col, lit};
    let dir = tempfile::tempdir().unwrap();
    let (path, rows) = fixture(dir.path());
    let df = read_parquet(path.as_path(), ParquetOptions::default()).unwrap();
    let rt = Runtime::builder().threads(2).build().unwrap();
    for threshold in [0_i64, 13, 40, 79, 80, 94, 95] {
        let q = df.filter(col("id").gt_eq(lit(threshold))).unwrap();
        let parts = rt.install(|| q.compute_partitions()).unwrap();
        assert_eq!(parts.len(), 5, "pruned row groups stay as empty partitions");
        let ids: Vec<i64> = parts
            .iter()
            .flat_map(|b| {
                b.column_by_name("id")
                    .unwrap()
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(
            ids,
            rows.iter()
                .map(|r| r.0)
                .filter(|&i| i >= threshold)
                .collect::<Vec<_>>()
        );
    }
    // A float filter over a column with nulls.
    let q = df
        .filter(col("x").lt(lit(3.0)).or(col("key").eq(lit("k3"))))
        .unwrap();
    let q = rt.install(|| q.reset_index()).unwrap();
    let expected: Vec<i64> = rows
        .iter()
        .filter(|r| r.2.is_some_and(|x| x < 3.0) || r.1.as_deref() == Some("k3"))
        .map(|r| r.0)
        .collect();
    let got: Vec<i64> = q
        .column_by_name("id")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .values()
        .to_vec();
    assert_eq!(got, expected);
}

/// Mutated files: every read either succeeds or fails with an error naming the file; no panic
/// of the decoder reaches the caller as a bare panic message.
#[test]
fn mutated_files_fail_with_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = fixture(dir.path());
    let good = std::fs::read(&path).unwrap();
    let rt = Runtime::builder().threads(2).build().unwrap();
    let mut rng = fastrand::Rng::with_seed(11);
    let mut failed = 0;
    for case in 0..300 {
        let bytes = mutate(&good, &mut rng);
        let mutant = dir.path().join(format!("mutant-{case}.parquet"));
        std::fs::write(&mutant, &bytes).unwrap();
        let name = mutant.file_name().unwrap().to_string_lossy().into_owned();
        let outcome = match read_parquet(mutant.as_path(), ParquetOptions::default()) {
            Ok(df) => rt
                .install(|| df.compute())
                .map(drop)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        failed += usize::from(failed_naming(outcome, &name, case));
        std::fs::remove_file(&mutant).unwrap();
    }
    assert!(failed > 0, "no mutation was caught");
}
