//! The memory limit: values spill to disk past the target and are read back equal, pipelines
//! under a small limit answer as they do without one, and a value that cannot fit fails its
//! task with a clear error while the runtime stays healthy.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use ndarray::Array2;
use num_complex::Complex64;
use partita::collections::sum;
use partita::prelude::*;
use partita::runtime::EventKind;

/// A runtime that spills past 60% of `limit` bytes, into a directory of the test's own.
fn limited(limit: u64, dir: &str) -> (Runtime, std::path::PathBuf) {
    let spill = std::env::temp_dir().join(format!("partita-{dir}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&spill);
    let rt = Runtime::builder()
        .threads(2)
        .memory_limit(limit)
        .spill_dir(&spill)
        .build()
        .unwrap();
    (rt, spill)
}

fn unlimited() -> Runtime {
    Runtime::builder().threads(2).build().unwrap()
}

/// The files under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    files_under(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

fn frame(n: i64) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Float64, true),
            Field::new("s", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(
                (0..n).map(|i| (i * 7919) % 101),
            )),
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| (i % 13 != 0).then_some(i as f64 / 4.0)),
            )),
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("row-{i}-{}", i % 9)),
            )),
        ],
    )
    .unwrap()
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Reading {
    sensor: String,
    values: Vec<f64>,
}
partita::register_value!(Vec<Reading>);

#[test]
fn persisted_partitions_of_every_type_spill_and_read_back_equal() {
    let (rt, dir) = limited(1 << 20, "spill-types");
    rt.install(|| {
        // Bags: strings, integers, a type of one's own.
        let words: Vec<String> = (0..40_000).map(|i| format!("word-{i:06}")).collect();
        let bag = Bag::from_sequence(words.clone(), 8).persist().unwrap();
        let numbers = Bag::from_sequence(0..80_000_u64, 8).persist().unwrap();
        let readings: Vec<Reading> = (0..2_000)
            .map(|i| Reading {
                sensor: format!("s{}", i % 17),
                values: (0..10).map(|j| (i * j) as f64).collect(),
            })
            .collect();
        let own = Bag::from_sequence(readings.clone(), 8).persist().unwrap();
        // A frame.
        let batch = frame(40_000);
        let df = DataFrame::from_arrow(batch.clone(), 8)
            .unwrap()
            .persist()
            .unwrap();
        // Array chunks in four dtypes.
        let f = Array2::from_shape_fn((300, 200), |(i, j)| (i * 200 + j) as f64 / 7.0);
        let ints = f.mapv(|x| x as i32 - 40);
        let complex = f.mapv(|x| Complex64::new(x, -x / 3.0));
        let flags = f.mapv(|x| (x as i64) % 3 == 0);
        let fa = Array::from_array(f.clone(), &[100, 100])
            .unwrap()
            .persist()
            .unwrap();
        let ia = Array::from_array(ints.clone(), &[100, 100])
            .unwrap()
            .persist()
            .unwrap();
        let ca = Array::from_array(complex.clone(), &[100, 100])
            .unwrap()
            .persist()
            .unwrap();
        let ba = Array::from_array(flags.clone(), &[150, 200])
            .unwrap()
            .persist()
            .unwrap();

        let m = rt.memory();
        assert!(m.spill_count >= 8, "{m:?}");
        assert!(m.managed <= m.limit, "{m:?}");
        assert!(
            files_under(&dir) >= 1,
            "spill files are in the spill directory"
        );

        // Read back: every value equals the original.
        assert_eq!(bag.compute().unwrap(), words);
        assert_eq!(
            numbers.compute().unwrap(),
            (0..80_000).collect::<Vec<u64>>()
        );
        assert_eq!(own.compute().unwrap(), readings);
        let back = df.compute().unwrap();
        // The frame has gained its index, the first column.
        assert_eq!(back.columns()[1..], batch.columns()[..]);
        assert_eq!(fa.compute().unwrap(), f.into_dyn());
        assert_eq!(ia.compute().unwrap(), ints.into_dyn());
        assert_eq!(ca.compute().unwrap(), complex.into_dyn());
        assert_eq!(ba.compute().unwrap(), flags.into_dyn());
        assert!(rt.memory().unspill_count > 0, "{:?}", rt.memory());
    });
    drop(rt);
    assert!(
        !dir.exists() || files_under(&dir) == 0,
        "spill files are removed"
    );
}

#[test]
fn pipelines_under_a_small_limit_answer_as_without_one() {
    let bag = |rt: &Runtime| {
        rt.install(|| {
            let xs = Bag::from_sequence(0..200_000_u64, 16).persist().unwrap();
            let squares = xs.map(|x| x * x % 1_000_003).persist().unwrap();
            let mut groups = squares
                .foldby(|x| x % 97, |a, x| a + x, 0_u64, |a, b| a + b)
                .compute()
                .unwrap();
            groups.sort();
            (xs.sum().compute().unwrap(), groups)
        })
    };
    let frame_answer = |rt: &Runtime| {
        rt.install(|| {
            let df = DataFrame::from_arrow(frame(60_000), 12)
                .unwrap()
                .persist()
                .unwrap();
            df.groupby(&["k"])
                .unwrap()
                .shuffle_above(0)
                .agg(vec![sum("v")])
                .unwrap()
                .sort_values(&["k"], true, 2)
                .unwrap()
                .compute()
                .unwrap()
        })
    };
    let array_answer = |rt: &Runtime| {
        rt.install(|| {
            let x = Array::<f64>::random(&[400, 400], &[100, 100], 5)
                .unwrap()
                .persist()
                .unwrap();
            let centred = &x - &x.mean(axis(1).keepdims()).unwrap();
            centred.compute().unwrap()
        })
    };
    let free = unlimited();
    let (small, _dir) = limited(600 << 10, "spill-pipelines");
    let (expected_sum, expected_groups) = bag(&free);
    assert_eq!(expected_sum, (0..200_000_u64).sum::<u64>());
    let by_hand: u64 = (0..200_000_u64).map(|x| x * x % 1_000_003).sum();
    assert_eq!(expected_groups.iter().map(|g| g.1).sum::<u64>(), by_hand);
    assert_eq!(bag(&small), (expected_sum, expected_groups));
    let spilled_bag = small.memory().spill_count;
    assert!(spilled_bag > 0, "{:?}", small.memory());

    assert_eq!(frame_answer(&small), frame_answer(&free));
    let a = array_answer(&small);
    assert_eq!(a, array_answer(&free));
    for row in a.rows() {
        assert!(row.sum().abs() < 1e-9);
    }
    assert!(
        small.memory().spill_count > spilled_bag,
        "{:?}",
        small.memory()
    );
}

#[test]
fn a_value_that_cannot_fit_fails_by_key_and_size_and_the_runtime_goes_on() {
    let (rt, _dir) = limited(256 << 10, "spill-too-big");
    let events = rt.subscribe();
    let err = rt
        .install(|| Bag::from_sequence(0..100_000_u64, 1).persist())
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("does not fit in the memory limit of 262144 bytes"),
        "{text}"
    );
    assert!(text.contains("memory_limit"), "{text}");
    assert!(text.contains("800008 bytes"), "{text}");
    // The runtime still computes.
    let small = rt.install(|| Bag::from_sequence(0..1_000_u64, 4).sum().compute());
    assert_eq!(small.unwrap(), 499_500);
    assert_eq!(rt.memory().managed, 0, "{:?}", rt.memory());
    // The failure was an event, naming the key.
    let failed = events
        .receiver()
        .try_iter()
        .filter(
            |e| matches!(&e.kind, EventKind::TaskFailed { error } if error.kind() == "MemoryLimit"),
        )
        .count();
    assert!(failed >= 1);
}

#[test]
fn spills_are_events_and_released_values_leave_nothing_behind() {
    let (rt, dir) = limited(1 << 20, "spill-events");
    let events = rt.subscribe();
    {
        let xs = rt
            .install(|| Bag::from_sequence(0..400_000_u64, 20).persist())
            .unwrap();
        assert_eq!(
            rt.install(|| xs.sum().compute()).unwrap(),
            (0..400_000_u64).sum::<u64>()
        );
        let spilled: Vec<u64> = events
            .receiver()
            .try_iter()
            .filter_map(|e| match e.kind {
                EventKind::Spilled { bytes, .. } => Some(bytes),
                _ => None,
            })
            .collect();
        assert!(!spilled.is_empty(), "{:?}", rt.memory());
        assert_eq!(spilled.iter().sum::<u64>(), rt.memory().spilled_total);
    }
    // The persisted bag is dropped: its partitions, in memory and on disk, are released.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while (rt.memory().managed, rt.memory().spilled) != (0, 0)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let m = rt.memory();
    assert_eq!((m.managed, m.spilled), (0, 0), "{m:?}");
    assert_eq!(files_under(&dir), 0);
}

#[test]
fn a_shuffles_received_pieces_are_counted_and_spill() {
    let (rt, _dir) = limited(1 << 20, "spill-shuffle");
    let events = rt.subscribe();
    let batch = frame(60_000);
    let shuffled = rt
        .install(|| {
            DataFrame::from_arrow(batch.clone(), 12)
                .unwrap()
                .shuffle(&["k"], 4)
                .unwrap()
                .compute()
        })
        .unwrap();
    assert_eq!(shuffled.num_rows(), 60_000);
    // Every row arrived once: the sum of a column is unchanged.
    let total = |b: &RecordBatch| -> f64 {
        let v = b.column_by_name("v").unwrap();
        v.as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .iter()
            .flatten()
            .sum()
    };
    assert_eq!(total(&shuffled), total(&batch));
    let pieces = events
        .receiver()
        .try_iter()
        .filter(|e| matches!(e.kind, EventKind::Spilled { .. }))
        .filter(|e| e.key.as_ref().is_some_and(|k| k.name() == "shuffle-piece"))
        .count();
    assert!(pieces > 0, "no received piece spilled: {:?}", rt.memory());
}
