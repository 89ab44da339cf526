//! Rolling file sinks and time-bounded micro-batches.

use std::time::{Duration, Instant};

use partita::collections::Stream;
use partita::io::{to_rolling_textfiles, Roll};

#[test]
fn rolling_files_are_complete_whenever_they_are_visible() {
    let dir = tempfile::tempdir().unwrap();
    let roll = Roll {
        max_records: Some(1000),
        ..Roll::default()
    };
    let stream = Stream::generate(None, None, |i: u64| format!("record {i}"));
    let pipeline = to_rolling_textfiles(stream, dir.path(), roll)
        .unwrap()
        .batch_size(100)
        .start();
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline {
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("part-") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert_eq!(
                    text.lines().count(),
                    1000,
                    "{name} is visible but incomplete"
                );
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let files = pipeline.stop().unwrap();
    assert!(files.len() >= 2);
    // Every record generated is in exactly one file, in order.
    let mut next = 0_u64;
    for f in &files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            assert_eq!(line, format!("record {next}"));
            next += 1;
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_micro_batch_is_emitted_after_its_wait_even_when_not_full() {
    let (tx, rx) = crossbeam_channel::unbounded::<u32>();
    let (out_tx, out_rx) = crossbeam_channel::unbounded();
    // Queued before the start, so that a busy machine cannot stall the sender past the wait
    // between two of them.
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    let pipeline = Stream::from_channel(rx)
        .batch_within(1000, Duration::from_millis(300))
        .to_channel(out_tx)
        .start();
    let first = out_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(first, vec![0, 1, 2, 3, 4]);
    tx.send(5).unwrap();
    drop(tx);
    pipeline.wait().unwrap();
    assert_eq!(out_rx.try_iter().collect::<Vec<_>>(), vec![vec![5]]);
}

mod arrow_sinks {
    use std::sync::Arc;
    use std::time::Duration;

    use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use partita::collections::Stream;
    use partita::io::{
        read_csv, read_parquet, to_rolling_csv, to_rolling_parquet, CsvOptions, ParquetOptions,
        Roll,
    };

    fn events(n: i64) -> Stream<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
        ]));
        Stream::iter(0..n).record_batches(100, Duration::from_millis(20), move |rows| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(rows.clone())),
                    Arc::new(StringArray::from_iter_values(
                        rows.iter().map(|i| format!("e{i}")),
                    )),
                ],
            )
        })
    }

    fn ids(b: &RecordBatch) -> Vec<i64> {
        b.column_by_name("id")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .values()
            .to_vec()
    }

    #[test]
    fn rolling_parquet_files_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let roll = Roll {
            max_records: Some(300),
            ..Roll::default()
        };
        let files = to_rolling_parquet(events(1000), dir.path(), roll)
            .unwrap()
            .start()
            .wait()
            .unwrap();
        assert_eq!(files.len(), 4); // 300, 300, 300, 100 rows: batches of 100 never split
        let df = read_parquet(
            format!("{}/part-*.parquet", dir.path().display()).as_str(),
            ParquetOptions::default(),
        )
        .unwrap();
        let all = df.reset_index().unwrap();
        assert_eq!(ids(&all), (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn rolling_csv_files_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let roll = Roll {
            max_records: Some(500),
            ..Roll::default()
        };
        let files = to_rolling_csv(events(1000), dir.path(), roll)
            .unwrap()
            .start()
            .wait()
            .unwrap();
        assert_eq!(files.len(), 2);
        let df = read_csv(
            format!("{}/part-*.csv", dir.path().display()).as_str(),
            CsvOptions::default(),
        )
        .unwrap();
        assert_eq!(
            ids(&df.reset_index().unwrap()),
            (0..1000).collect::<Vec<_>>()
        );
    }

    #[test]
    fn dataframe_expressions_run_on_stream_batches() {
        let filtered = events(1000)
            .map(|b| {
                let mask = partita::collections::col("id")
                    .gt_eq(partita::collections::lit(990))
                    .evaluate(&b)
                    .unwrap();
                let mask = mask
                    .as_any()
                    .downcast_ref::<arrow::array::BooleanArray>()
                    .unwrap()
                    .clone();
                arrow::compute::filter_record_batch(&b, &mask).unwrap()
            })
            .collect(100)
            .start()
            .wait()
            .unwrap();
        let kept: Vec<i64> = filtered.iter().flat_map(ids).collect();
        assert_eq!(kept, (990..1000).collect::<Vec<_>>());
    }
}
