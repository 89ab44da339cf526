//! `merge` and `shuffle` against a nested-loop reference, under random partitionings, with
//! duplicate keys, null keys, empty partitions and skew.

#[path = "common/cuts.rs"]
mod cuts;

use std::sync::Arc;

use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use partita::collections::{How, Merge};
use partita::prelude::*;
use proptest::prelude::*;

type Row = Vec<Option<i64>>;

fn batch(names: [&str; 2], rows: &[(Option<i64>, i64)]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new(names[0], DataType::Int64, true),
        Field::new(names[1], DataType::Int64, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>()),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

/// Cuts `rows` at the given fractions (sorted, possibly equal: empty partitions).
fn frame(names: [&str; 2], rows: &[(Option<i64>, i64)], cuts: &[usize]) -> DataFrame {
    let parts = cuts::ranges(rows.len(), cuts)
        .into_iter()
        .map(|r| batch(names, &rows[r]))
        .collect();
    DataFrame::from_batches(parts).unwrap()
}

fn rows_of(b: &RecordBatch) -> Vec<Row> {
    let cols: Vec<&Int64Array> = (0..b.num_columns())
        .map(|i| b.column(i).as_any().downcast_ref::<Int64Array>().unwrap())
        .collect();
    let mut out: Vec<Row> = (0..b.num_rows())
        .map(|r| {
            cols.iter()
                .map(|c| (!c.is_null(r)).then(|| c.value(r)))
                .collect()
        })
        .collect();
    out.sort();
    out
}

/// pandas' merge on `k`, by nested loops: (k, a, b) rows.
fn reference(left: &[(Option<i64>, i64)], right: &[(Option<i64>, i64)], how: How) -> Vec<Row> {
    let mut out = Vec::new();
    let mut right_hit = vec![false; right.len()];
    for &(lk, a) in left {
        let mut hit = false;
        for (j, &(rk, b)) in right.iter().enumerate() {
            if lk.is_some() && lk == rk {
                out.push(vec![lk, Some(a), Some(b)]);
                hit = true;
                right_hit[j] = true;
            }
        }
        if !hit && matches!(how, How::Left | How::Outer) {
            out.push(vec![lk, Some(a), None]);
        }
    }
    if matches!(how, How::Right | How::Outer) {
        for (j, &(rk, b)) in right.iter().enumerate() {
            if !right_hit[j] {
                out.push(vec![rk, None, Some(b)]);
            }
        }
    }
    out.sort();
    out
}

fn side() -> impl Strategy<Value = Vec<(Option<i64>, i64)>> {
    // Keys 0..6 with nulls; values tell rows apart.
    prop::collection::vec(
        (
            prop_oneof![1 => Just(None), 6 => (0..6_i64).prop_map(Some)],
            -100..100_i64,
        ),
        0..25,
    )
}

fn how() -> impl Strategy<Value = How> {
    prop_oneof![
        Just(How::Inner),
        Just(How::Left),
        Just(How::Right),
        Just(How::Outer)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn merge_matches_nested_loops(
        left in side(),
        right in side(),
        lcuts in prop::collection::vec(0..30_usize, 0..4),
        rcuts in prop::collection::vec(0..30_usize, 0..4),
        how in how(),
        broadcast in prop::option::of(any::<bool>()),
        nparts in 1..5_usize,
        spread in prop_oneof![Just(1_i64), Just(1_000_003), Just(-(i64::MAX / 6))],
    ) {
        // Keys spread apart (as integers too far apart for a direct table) or not.
        let spread_keys = |rows: Vec<(Option<i64>, i64)>| -> Vec<(Option<i64>, i64)> {
            rows.into_iter().map(|(k, v)| (k.map(|k| k * spread), v)).collect()
        };
        let (left, right) = (spread_keys(left), spread_keys(right));
        let l = frame(["k", "a"], &left, &lcuts);
        let r = frame(["k", "b"], &right, &rcuts);
        let mut m = Merge::on(&["k"]).how(how).npartitions(nparts);
        if let Some(b) = broadcast {
            m = m.broadcast(b);
        }
        let got = l.merge(&r, m).unwrap().compute_partitions().unwrap();
        let mut rows: Vec<Row> = got.iter().flat_map(rows_of).collect();
        rows.sort();
        prop_assert_eq!(rows, reference(&left, &right, how));
    }

    /// A side whose keys are unique and fill a range (the probe computes rows from keys):
    /// probe keys inside and outside the range, nulls on both sides, every kind of join; a
    /// broadcast inner or left join keeps the left rows' order.
    #[test]
    fn a_side_whose_keys_fill_a_range_joins_as_nested_loops(
        left in prop::collection::vec(
            (prop_oneof![1 => Just(None), 8 => (-3..12_i64).prop_map(Some)], -100..100_i64),
            0..30,
        ),
        start in -2..4_i64,
        order in Just((0..9_i64).collect::<Vec<_>>()).prop_shuffle(),
        len in 0..9_usize,
        right_nulls in 0..3_usize,
        lcuts in prop::collection::vec(0..30_usize, 0..4),
        how in how(),
        broadcast in any::<bool>(),
    ) {
        let mut right: Vec<(Option<i64>, i64)> = order
            .iter()
            .filter(|&&i| (i as usize) < len)
            .map(|&i| (Some(start + i), 1000 + i))
            .collect();
        right.extend((0..right_nulls).map(|i| (None, -1 - i as i64)));
        let l = frame(["k", "a"], &left, &lcuts);
        let r = frame(["k", "b"], &right, &[]);
        let m = Merge::on(&["k"]).how(how).broadcast(broadcast).npartitions(3);
        let got = l.merge(&r, m).unwrap().compute_partitions().unwrap();
        let mut rows: Vec<Row> = got.iter().flat_map(rows_of).collect();
        rows.sort();
        prop_assert_eq!(rows, reference(&left, &right, how));
        if broadcast && matches!(how, How::Inner | How::Left) {
            let in_order: Vec<i64> = got
                .iter()
                .flat_map(|p| {
                    let a = p.column_by_name("a").unwrap().as_any().downcast_ref::<Int64Array>().unwrap();
                    a.values().to_vec()
                })
                .collect();
            let want: Vec<i64> = left
                .iter()
                .filter(|(k, _)| how == How::Left || right.iter().any(|(rk, _)| k.is_some() && rk == k))
                .map(|&(_, a)| a)
                .collect();
            prop_assert_eq!(in_order, want);
        }
    }

    #[test]
    fn shuffle_keeps_every_row_once_and_each_key_in_one_partition(
        rows in side(),
        cuts in prop::collection::vec(0..30_usize, 0..5),
        nparts in 1..6_usize,
    ) {
        let f = frame(["k", "a"], &rows, &cuts).shuffle(&["k"], nparts).unwrap();
        let parts = f.compute_partitions().unwrap();
        prop_assert_eq!(parts.len(), nparts);
        let mut all: Vec<Row> = parts.iter().flat_map(rows_of).collect();
        all.sort();
        let mut want: Vec<Row> = rows.iter().map(|&(k, a)| vec![k, Some(a)]).collect();
        want.sort();
        prop_assert_eq!(all, want);
        for k in (0..6).map(Some).chain([None]) {
            let holders = parts.iter().filter(|p| rows_of(p).iter().any(|r| r[0] == k)).count();
            prop_assert!(holders <= 1, "key {:?} in {} partitions", k, holders);
        }
    }
}

#[test]
fn different_key_names_keep_both_and_suffix_clashes() {
    let l =
        DataFrame::from_batches(vec![batch(["id", "v"], &[(Some(1), 10), (Some(2), 20)])]).unwrap();
    let r = DataFrame::from_batches(vec![batch(["key", "v"], &[(Some(2), 200), (Some(3), 300)])])
        .unwrap();
    let out = l
        .merge(
            &r,
            Merge::left_right(&["id"], &["key"])
                .how(How::Outer)
                .broadcast(false),
        )
        .unwrap()
        .compute()
        .unwrap();
    let names: Vec<String> = out
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["index", "id", "v_x", "key", "v_y"]);
    let b = out.project(&[1, 2, 3, 4]).unwrap();
    assert_eq!(
        rows_of(&b),
        vec![
            vec![None, None, Some(3), Some(300)],
            vec![Some(1), Some(10), None, None],
            vec![Some(2), Some(20), Some(2), Some(200)],
        ]
    );
}

#[test]
fn string_keys_and_a_skewed_key_join() {
    // Half the left rows share one key: the join of that key is 5,000 x 2 rows.
    let n = 10_000;
    let keys: Vec<String> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                "hot".into()
            } else {
                format!("k{i}")
            }
        })
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("x", DataType::Int64, false),
    ]));
    let left = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(keys.clone())),
            Arc::new(Int64Array::from((0..n as i64).collect::<Vec<_>>())),
        ],
    )
    .unwrap();
    let right = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["hot", "hot", "k1", "nope"])),
            Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
        ],
    )
    .unwrap();
    let l = DataFrame::from_arrow(left, 7).unwrap();
    let r = DataFrame::from_arrow(right, 2).unwrap();
    for broadcast in [true, false] {
        let out = l
            .merge(&r, Merge::on(&["k"]).broadcast(broadcast).npartitions(4))
            .unwrap();
        let got = out.compute().unwrap();
        assert_eq!(got.num_rows(), 5_000 * 2 + 1, "broadcast {broadcast}");
        let names: Vec<String> = got
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["index", "k", "x_x", "x_y"]);
    }
}

#[test]
fn missing_or_mistyped_keys_are_errors() {
    let l = DataFrame::from_batches(vec![batch(["id", "v"], &[(Some(1), 1)])]).unwrap();
    let r = DataFrame::from_batches(vec![batch(["key", "w"], &[(Some(1), 1)])]).unwrap();
    let err = l.merge(&r, Merge::on(&["id"])).unwrap_err().to_string();
    assert!(err.contains("right") && err.contains("\"id\""), "{err}");
    let s = Arc::new(Schema::new(vec![Field::new("key", DataType::Utf8, false)]));
    let strings = RecordBatch::try_new(s, vec![Arc::new(StringArray::from(vec!["1"]))]).unwrap();
    let r = DataFrame::from_batches(vec![strings]).unwrap();
    let err = l
        .merge(&r, Merge::left_right(&["id"], &["key"]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("Int64") && err.contains("Utf8"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// A join on an index with known divisions cuts the other side by them instead of hashing
    /// both: same answer, and the index side's partitions.
    #[test]
    fn joins_on_an_index_use_its_divisions(
        left in side(),
        right in side(),
        lcuts in prop::collection::vec(0..30_usize, 0..4),
        rcuts in prop::collection::vec(0..30_usize, 0..4),
        how in how(),
        nl in 1..4_usize,
        both: bool,
    ) {
        prop_assume!(left.iter().any(|r| r.0.is_some()));
        let l = frame(["k", "a"], &left, &lcuts).set_index("k", nl).unwrap();
        let mut r = frame(["k", "b"], &right, &rcuts);
        if both && right.iter().any(|x| x.0.is_some()) {
            r = r.set_index("k", nl).unwrap();
        }
        let joined = l.merge(&r, Merge::on(&["k"]).how(how).broadcast(false)).unwrap();
        prop_assert_eq!(joined.npartitions(), l.npartitions());
        let got = joined.compute_partitions().unwrap();
        let mut rows: Vec<Row> = got.iter().flat_map(rows_of).collect();
        rows.sort();
        prop_assert_eq!(rows, reference(&left, &right, how));
    }
}

#[test]
fn an_index_join_moves_only_the_side_without_the_divisions() {
    let rows: Vec<(Option<i64>, i64)> = (0..40).map(|i| (Some(i % 10), i)).collect();
    let l = frame(["k", "a"], &rows, &[10, 20, 30])
        .set_index("k", 3)
        .unwrap();
    let r = frame(["k", "b"], &rows, &[15]);
    let layers = |f: &DataFrame| -> Vec<String> {
        f.graph()
            .layers()
            .iter()
            .map(|l| l.name().to_string())
            .collect()
    };
    let joined = l.merge(&r, Merge::on(&["k"]).broadcast(false)).unwrap();
    let names = layers(&joined);
    assert!(
        names.iter().any(|n| n.starts_with("division-shuffle")),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("shuffle-")),
        "{names:?}"
    );
    assert_eq!(joined.len().unwrap(), 40 * 4);
    // Both sides indexed alike: nothing moves for the join itself.
    let r2 = frame(["k", "b"], &rows, &[15]).set_index("k", 3).unwrap();
    if r2.divisions().map(|d| d.to_data()) == l.divisions().map(|d| d.to_data()) {
        let names = layers(&l.merge(&r2, Merge::on(&["k"]).broadcast(false)).unwrap());
        assert!(
            !names.iter().any(|n| n.starts_with("division-shuffle")),
            "{names:?}"
        );
    }
}
