//! `drop_duplicates`, `repartition`, `nlargest` and `nsmallest` against sequential references
//! over the whole table, under random partitionings, with duplicate keys, nulls, NaN, signed
//! zeros and empty partitions.

#[path = "common/cuts.rs"]
mod cuts;

use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use partita::prelude::*;
use proptest::prelude::*;

/// One row: a row id (unique, in order), an integer key, a string key and a float.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    id: i64,
    k: Option<i64>,
    s: Option<String>,
    f: Option<f64>,
}

fn schema(with_id: bool) -> Arc<Schema> {
    let mut fields = vec![];
    if with_id {
        fields.push(Field::new("id", DataType::Int64, false));
    }
    fields.extend([
        Field::new("k", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("f", DataType::Float64, true),
    ]);
    Arc::new(Schema::new(fields))
}

fn batch(rows: &[Row], with_id: bool) -> RecordBatch {
    let mut cols: Vec<Arc<dyn Array>> = vec![];
    if with_id {
        cols.push(Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.id),
        )));
    }
    cols.push(Arc::new(rows.iter().map(|r| r.k).collect::<Int64Array>()));
    cols.push(Arc::new(
        rows.iter().map(|r| r.s.clone()).collect::<StringArray>(),
    ));
    cols.push(Arc::new(rows.iter().map(|r| r.f).collect::<Float64Array>()));
    RecordBatch::try_new(schema(with_id), cols).unwrap()
}

/// `rows` cut at the given points (sorted, possibly equal: empty partitions).
fn frame(rows: &[Row], cuts: &[usize], with_id: bool) -> DataFrame {
    let parts = cuts::ranges(rows.len(), cuts)
        .into_iter()
        .map(|r| batch(&rows[r], with_id))
        .collect();
    DataFrame::from_batches(parts).unwrap()
}

fn rows_of(b: &RecordBatch) -> Vec<Row> {
    let col = |name: &str| b.column_by_name(name).cloned();
    let ids = col("id");
    let ids = ids
        .as_ref()
        .map(|c| c.as_any().downcast_ref::<Int64Array>().unwrap());
    let k = col("k").unwrap();
    let k = k.as_any().downcast_ref::<Int64Array>().unwrap();
    let s = col("s").unwrap();
    let s = s.as_any().downcast_ref::<StringArray>().unwrap();
    let f = col("f").unwrap();
    let f = f.as_any().downcast_ref::<Float64Array>().unwrap();
    (0..b.num_rows())
        .map(|i| Row {
            id: ids.map_or(-1, |c| c.value(i)),
            k: k.is_valid(i).then(|| k.value(i)),
            s: s.is_valid(i).then(|| s.value(i).to_string()),
            f: f.is_valid(i).then(|| f.value(i)),
        })
        .collect()
}

fn partitions(df: &DataFrame) -> Vec<Vec<Row>> {
    df.compute_partitions()
        .unwrap()
        .iter()
        .map(rows_of)
        .collect()
}

/// A float as pandas compares it for duplicates: `-0.0` is `0.0`, every NaN is one NaN.
fn float_key(f: Option<f64>) -> Option<u64> {
    f.map(|x| {
        if x.is_nan() {
            u64::MAX
        } else if x == 0.0 {
            0
        } else {
            x.to_bits()
        }
    })
}

type Key = (Option<i64>, Option<String>, Option<u64>);

fn key_of(r: &Row, subset: &[&str]) -> Key {
    (
        subset.contains(&"k").then_some(r.k).flatten(),
        subset.contains(&"s").then(|| r.s.clone()).flatten(),
        subset.contains(&"f").then(|| float_key(r.f)).flatten(),
    )
}

/// pandas' `drop_duplicates(subset, keep="first")`, by a quadratic scan: the ids of the rows
/// whose subset differs from every earlier row's.
fn first_ids(rows: &[Row], subset: &[&str]) -> Vec<i64> {
    let mut kept: Vec<(Key, i64)> = vec![];
    for r in rows {
        let key = key_of(r, subset);
        if !kept.iter().any(|(k, _)| *k == key) {
            kept.push((key, r.id));
        }
    }
    kept.into_iter().map(|(_, id)| id).collect()
}

fn row() -> impl Strategy<Value = (Option<i64>, Option<String>, Option<f64>)> {
    (
        prop_oneof![1 => Just(None), 5 => (0..4_i64).prop_map(Some)],
        prop_oneof![1 => Just(None), 4 => "[ab]".prop_map(Some)],
        prop_oneof![
            1 => Just(None),
            1 => Just(Some(f64::NAN)),
            1 => Just(Some(-f64::NAN)),
            1 => Just(Some(-0.0)),
            1 => Just(Some(0.0)),
            3 => (-2..3_i32).prop_map(|x| Some(f64::from(x) / 2.0)),
        ],
    )
}

fn table() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(row(), 0..40).prop_map(|rs| {
        rs.into_iter()
            .enumerate()
            .map(|(i, (k, s, f))| Row {
                id: i as i64,
                k,
                s,
                f,
            })
            .collect()
    })
}

fn subset() -> impl Strategy<Value = Vec<&'static str>> {
    prop_oneof![
        Just(vec!["k"]),
        Just(vec!["s"]),
        Just(vec!["f"]),
        Just(vec!["k", "s"]),
        Just(vec!["s", "f"]),
        Just(vec!["k", "s", "f"]),
    ]
}

/// Where Dask's plan for `repartition(npartitions=n)` puts the rows of partitions of `sizes`,
/// spelled out sequentially: the sizes of the new partitions.
fn plan_sizes(sizes: &[usize], n: usize) -> Vec<usize> {
    let m = sizes.len();
    if n <= m {
        return (0..n)
            .map(|j| sizes[j * m / n..(j + 1) * m / n].iter().sum())
            .collect();
    }
    let mut out = vec![];
    for (i, &len) in sizes.iter().enumerate() {
        // The outputs j with j * m / n == i split input i evenly.
        let pieces = (0..n).filter(|j| j * m / n == i).count();
        out.extend((0..pieces).map(|p| (p + 1) * len / pieces - p * len / pieces));
    }
    out
}

/// pandas' `nlargest`/`nsmallest` on `f` (keep="first"): drop null and NaN, stable sort, cut.
fn top_ids(rows: &[Row], n: usize, largest: bool) -> Vec<i64> {
    let mut ranked: Vec<&Row> = rows
        .iter()
        .filter(|r| r.f.is_some_and(|f| !f.is_nan()))
        .collect();
    ranked.sort_by(|a, b| {
        // Adding 0.0 makes -0.0 into 0.0: they tie, as in pandas.
        let o = (a.f.unwrap() + 0.0).total_cmp(&(b.f.unwrap() + 0.0));
        if largest {
            o.reverse()
        } else {
            o
        }
    });
    ranked.into_iter().take(n).map(|r| r.id).collect()
}

/// The same on the integer key `k` (nulls dropped).
fn top_ids_by_k(rows: &[Row], n: usize, largest: bool) -> Vec<i64> {
    let mut ranked: Vec<&Row> = rows.iter().filter(|r| r.k.is_some()).collect();
    ranked.sort_by_key(|r| if largest { -r.k.unwrap() } else { r.k.unwrap() });
    ranked.into_iter().take(n).map(|r| r.id).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn drop_duplicates_keeps_the_first_row_of_each_key(
        rows in table(),
        cuts in prop::collection::vec(0..50_usize, 0..6),
        subset in subset(),
    ) {
        let df = frame(&rows, &cuts, true);
        let out = df.drop_duplicates(Some(&subset)).unwrap();
        prop_assert_eq!(out.npartitions(), df.npartitions());
        let parts = partitions(&out);
        let mut got: Vec<i64> = parts.iter().flatten().map(|r| r.id).collect();
        got.sort_unstable();
        let mut want = first_ids(&rows, &subset);
        want.sort_unstable();
        prop_assert_eq!(got, want);
        for p in &parts {
            // Each partition keeps the frame's order, and each key lives in one partition.
            prop_assert!(p.windows(2).all(|w| w[0].id < w[1].id), "{:?}", p);
            for r in p {
                let key = key_of(r, &subset);
                let holders = parts.iter().filter(|q| q.iter().any(|x| key_of(x, &subset) == key)).count();
                prop_assert_eq!(holders, 1);
            }
        }
    }

    #[test]
    fn drop_duplicates_of_every_column_leaves_each_distinct_row_once(
        rows in table(),
        cuts in prop::collection::vec(0..50_usize, 0..6),
    ) {
        let all = ["k", "s", "f"];
        let out = frame(&rows, &cuts, false).drop_duplicates(None).unwrap();
        let mut got: Vec<Key> = partitions(&out).iter().flatten().map(|r| key_of(r, &all)).collect();
        got.sort();
        let firsts = first_ids(&rows, &all);
        let mut want: Vec<Key> = firsts.iter().map(|&id| key_of(&rows[id as usize], &all)).collect();
        want.sort();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn repartition_keeps_the_rows_in_order_in_dasks_plan(
        rows in table(),
        cuts in prop::collection::vec(0..50_usize, 0..8),
        n in 1..14_usize,
    ) {
        let df = frame(&rows, &cuts, true).filter(col("id").gt_eq(lit(0))).unwrap();
        let sizes: Vec<usize> = partitions(&df).iter().map(Vec::len).collect();
        let out = df.repartition(n).unwrap();
        prop_assert_eq!(out.npartitions(), n);
        let parts = partitions(&out);
        let got: Vec<Row> = parts.iter().flatten().cloned().collect();
        let ids: Vec<i64> = got.iter().map(|r| r.id).collect();
        prop_assert_eq!(ids, rows.iter().map(|r| r.id).collect::<Vec<_>>());
        prop_assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), plan_sizes(&sizes, n));
    }

    #[test]
    fn nlargest_and_nsmallest_match_a_stable_sort(
        rows in table(),
        cuts in prop::collection::vec(0..50_usize, 0..20),
        n in 0..45_usize,
    ) {
        let df = frame(&rows, &cuts, true);
        for largest in [true, false] {
            let (by_f, by_k) = if largest {
                (df.nlargest(n, "f").unwrap(), df.nlargest(n, "k").unwrap())
            } else {
                (df.nsmallest(n, "f").unwrap(), df.nsmallest(n, "k").unwrap())
            };
            prop_assert_eq!(by_f.npartitions(), 1);
            let got: Vec<i64> = partitions(&by_f).concat().iter().map(|r| r.id).collect();
            prop_assert_eq!(got, top_ids(&rows, n, largest));
            let got: Vec<i64> = partitions(&by_k).concat().iter().map(|r| r.id).collect();
            prop_assert_eq!(got, top_ids_by_k(&rows, n, largest));
        }
    }
}

#[test]
fn nulls_equal_nulls_and_signed_zeros_and_nans_are_duplicates() {
    let rows: Vec<Row> = [
        (None, Some(0.0)),
        (None, Some(-0.0)),
        (Some(1), Some(f64::NAN)),
        (Some(1), Some(-f64::NAN)),
        (Some(1), None),
        (Some(1), None),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (k, f))| Row {
        id: i as i64,
        k,
        s: None,
        f,
    })
    .collect();
    let df = frame(&rows, &[1, 3, 5], true);
    let out = df.drop_duplicates(Some(&["k", "f"])).unwrap();
    let mut ids: Vec<i64> = partitions(&out).concat().iter().map(|r| r.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![0, 2, 4]);
}

#[test]
fn ties_keep_the_first_row_across_many_partitions() {
    // 100 rows of the same value in 30 partitions: a three-level tree, every row tied.
    let rows: Vec<Row> = (0..100)
        .map(|i| Row {
            id: i,
            k: Some(7),
            s: None,
            f: Some(1.5),
        })
        .collect();
    let cuts: Vec<usize> = (1..30).map(|i| i * 100 / 30).collect();
    let df = frame(&rows, &cuts, true);
    assert_eq!(df.npartitions(), 30);
    for top in [
        df.nlargest(10, "f").unwrap(),
        df.nsmallest(10, "f").unwrap(),
        df.nlargest(10, "k").unwrap(),
    ] {
        let ids: Vec<i64> = partitions(&top).concat().iter().map(|r| r.id).collect();
        assert_eq!(ids, (0..10).collect::<Vec<_>>());
    }
    let strings = frame(&rows, &cuts, true).nsmallest(3, "s").unwrap();
    assert!(partitions(&strings).concat().is_empty(), "all nulls");
}

#[test]
fn repartition_to_one_and_to_the_same_count() {
    let rows: Vec<Row> = (0..10)
        .map(|i| Row {
            id: i,
            k: None,
            s: None,
            f: None,
        })
        .collect();
    let df = frame(&rows, &[3, 3, 8], true);
    assert_eq!(df.repartition(4).unwrap().npartitions(), 4);
    let one = df.repartition(0).unwrap();
    assert_eq!(one.npartitions(), 1);
    assert_eq!(partitions(&one)[0].len(), 10);
}

#[test]
fn unknown_and_unusable_columns_are_errors_that_name_them() {
    let df = frame(&[], &[], true);
    let err = df.drop_duplicates(Some(&["k", "nope"])).unwrap_err();
    assert!(err.to_string().contains("\"nope\""), "{err}");
    let err = df.drop_duplicates(Some(&[])).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    for err in [
        df.nlargest(3, "missing").unwrap_err(),
        df.nsmallest(3, "missing").unwrap_err(),
    ] {
        assert!(err.to_string().contains("\"missing\""), "{err}");
    }
}

#[test]
fn large_partitions_with_many_ties_keep_the_first_rows() {
    // Few distinct values in big partitions: an unstable sort would reorder ties.
    let rows: Vec<Row> = (0..3000)
        .map(|i| Row {
            id: i,
            k: (i % 11 != 0).then_some((i * 7919) % 5),
            s: None,
            f: Some(f64::from(((i * 104_729) % 4) as i32) - 1.5),
        })
        .collect();
    let df = frame(&rows, &[700, 1400, 2900], true);
    for n in [1, 37, 700, 2999] {
        for largest in [true, false] {
            let (by_f, by_k) = if largest {
                (df.nlargest(n, "f").unwrap(), df.nlargest(n, "k").unwrap())
            } else {
                (df.nsmallest(n, "f").unwrap(), df.nsmallest(n, "k").unwrap())
            };
            let got: Vec<i64> = partitions(&by_f).concat().iter().map(|r| r.id).collect();
            assert_eq!(
                got,
                top_ids(&rows, n, largest),
                "f, n={n}, largest={largest}"
            );
            let got: Vec<i64> = partitions(&by_k).concat().iter().map(|r| r.id).collect();
            assert_eq!(
                got,
                top_ids_by_k(&rows, n, largest),
                "k, n={n}, largest={largest}"
            );
        }
    }
}
