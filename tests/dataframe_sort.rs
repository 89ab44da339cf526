//! `set_index`, `sort_values`, `repartition_divisions` and `loc` against a sequential stable
//! sort, under random partitionings, with duplicate keys, skew (most rows on one key), nulls and
//! empty partitions.

#[path = "common/cuts.rs"]
mod cuts;

use std::sync::Arc;

use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use partita::prelude::*;
use proptest::prelude::*;

type Rows = Vec<(Option<i64>, i64)>;

fn frame(rows: &Rows, cuts: &[usize]) -> DataFrame {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("a", DataType::Int64, false),
    ]));
    let parts = cuts::ranges(rows.len(), cuts)
        .into_iter()
        .map(|r| {
            let r = &rows[r];
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(r.iter().map(|x| x.0).collect::<Int64Array>()),
                    Arc::new(Int64Array::from(r.iter().map(|x| x.1).collect::<Vec<_>>())),
                ],
            )
            .unwrap()
        })
        .collect();
    DataFrame::from_batches(parts).unwrap()
}

fn pairs(b: &RecordBatch, k: usize, a: usize) -> Rows {
    let kc = b.column(k).as_any().downcast_ref::<Int64Array>().unwrap();
    let ac = b.column(a).as_any().downcast_ref::<Int64Array>().unwrap();
    (0..b.num_rows())
        .map(|i| ((!kc.is_null(i)).then(|| kc.value(i)), ac.value(i)))
        .collect()
}

/// A stable sort by key, nulls last (descending reverses the non-null keys only).
fn reference(rows: &Rows, descending: bool) -> Rows {
    let mut v = rows.clone();
    v.sort_by(|x, y| match (x.0, y.0) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, _) => std::cmp::Ordering::Greater,
        (_, None) => std::cmp::Ordering::Less,
        (Some(a), Some(b)) if descending => b.cmp(&a),
        (Some(a), Some(b)) => a.cmp(&b),
    });
    v
}

/// Keys spread over -20..20 with some nulls, or skewed: most rows on one key.
fn rows() -> impl Strategy<Value = Rows> {
    let spread = prop_oneof![1 => Just(None), 8 => (-20..20_i64).prop_map(Some)];
    let skewed =
        prop_oneof![1 => Just(None), 2 => (-20..20_i64).prop_map(Some), 12 => Just(Some(3))];
    prop_oneof![
        prop::collection::vec((spread, any::<i64>()), 0..60),
        prop::collection::vec((skewed, any::<i64>()), 0..60),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn set_index_sorts_stably_and_divisions_cover(rows in rows(), cuts in prop::collection::vec(0..70_usize, 0..5), n in 1..6_usize) {
        let df = frame(&rows, &cuts).set_index("k", n).unwrap();
        prop_assert_eq!(df.index_name(), Some("k"));
        prop_assert_eq!(df.columns(), vec!["a".to_string()]);
        let parts = df.compute_partitions().unwrap();
        let got: Rows = parts.iter().flat_map(|p| pairs(p, 0, 1)).collect();
        prop_assert_eq!(&got, &reference(&rows, false));
        // compute() puts the index first.
        let all = df.compute().unwrap();
        let first = all.schema().field(0).name().clone();
        prop_assert_eq!(first, "k");
        if let Some(d) = df.divisions() {
            let d = d.as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec();
            prop_assert_eq!(d.len(), parts.len() + 1);
            prop_assert!(d.windows(2).all(|w| w[0] <= w[1]), "divisions {:?} not sorted", d);
            for (i, p) in parts.iter().enumerate() {
                for (k, _) in pairs(p, 0, 1) {
                    let Some(k) = k else { continue };
                    let last = i + 1 == parts.len();
                    prop_assert!(d[i] <= k && (k < d[i + 1] || (last && k <= d[i + 1])),
                        "key {} in partition {} outside {:?}", k, i, d);
                }
            }
            // loc reads the rows of one key.
            if let Some((Some(k), _)) = rows.first() {
                let hits = df.loc(*k).unwrap();
                prop_assert_eq!(hits.num_rows(), rows.iter().filter(|r| r.0 == Some(*k)).count());
            }
        } else {
            prop_assert!(rows.iter().all(|r| r.0.is_none()));
        }
    }

    /// New divisions cut the sorted rows at their bounds: same rows in the same order, each
    /// key inside its partition's range (the last one closed), nulls in the last partition.
    #[test]
    fn repartition_divisions_cuts_the_sorted_rows_at_the_new_bounds(
        rows in rows(),
        cuts in prop::collection::vec(0..70_usize, 0..5),
        n in 1..5_usize,
        inner in prop::collection::btree_set(-20..20_i64, 0..5),
    ) {
        let df = frame(&rows, &cuts).set_index("k", n).unwrap();
        let mut d = vec![-21_i64];
        d.extend(inner);
        d.push(21);
        let cut = df.repartition_divisions(Arc::new(Int64Array::from(d.clone()))).unwrap();
        prop_assert_eq!(cut.npartitions(), d.len() - 1);
        prop_assert_eq!(cut.index_name(), Some("k"));
        let got_d = cut.divisions().unwrap();
        prop_assert_eq!(got_d.as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec(), d.clone());
        let parts = cut.compute_partitions().unwrap();
        let got: Rows = parts.iter().flat_map(|p| pairs(p, 0, 1)).collect();
        prop_assert_eq!(got, reference(&rows, false));
        for (i, p) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            for (k, _) in pairs(p, 0, 1) {
                match k {
                    Some(k) => prop_assert!(d[i] <= k && (k < d[i + 1] || (last && k <= d[i + 1])),
                        "key {} in partition {} outside {:?}", k, i, d),
                    None => prop_assert!(last, "a null key in partition {}", i),
                }
            }
        }
    }

    /// A direction per column: the stable sort by (k, a) with each direction, nulls last.
    #[test]
    fn sort_values_by_matches_a_stable_sort_with_a_direction_per_column(
        rows in prop::collection::vec(
            (prop_oneof![1 => Just(None), 8 => (-5..5_i64).prop_map(Some)], -3..3_i64),
            0..60,
        ),
        cuts in prop::collection::vec(0..70_usize, 0..5),
        n in 1..6_usize,
        k_asc: bool,
        a_asc: bool,
    ) {
        let df = frame(&rows, &cuts).sort_values_by(&[("k", k_asc), ("a", a_asc)], n).unwrap();
        let parts = df.compute_partitions().unwrap();
        let got: Rows = parts.iter().flat_map(|p| pairs(p, 0, 1)).collect();
        let mut want = rows.clone();
        let dir = |o: std::cmp::Ordering, asc: bool| if asc { o } else { o.reverse() };
        want.sort_by(|x, y| {
            let k = match (x.0, y.0) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, _) => std::cmp::Ordering::Greater,
                (_, None) => std::cmp::Ordering::Less,
                (Some(p), Some(q)) => dir(p.cmp(&q), k_asc),
            };
            k.then(dir(x.1.cmp(&y.1), a_asc))
        });
        prop_assert_eq!(got, want);
    }

    #[test]
    fn sort_values_matches_a_stable_sort(rows in rows(), cuts in prop::collection::vec(0..70_usize, 0..5), n in 1..6_usize, ascending: bool) {
        let df = frame(&rows, &cuts).sort_values(&["k"], ascending, n).unwrap();
        let parts = df.compute_partitions().unwrap();
        let got: Rows = parts.iter().flat_map(|p| pairs(p, 0, 1)).collect();
        prop_assert_eq!(got, reference(&rows, !ascending));
    }
}

#[test]
fn sort_values_by_two_string_and_int_columns() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("s", DataType::Utf8, false),
        Field::new("n", DataType::Int64, false),
    ]));
    let b = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["b", "a", "b", "c", "a", "b"])),
            Arc::new(Int64Array::from(vec![3, 2, 1, 0, 5, 2])),
        ],
    )
    .unwrap();
    let df = DataFrame::from_arrow(b, 3)
        .unwrap()
        .sort_values(&["s", "n"], true, 2)
        .unwrap();
    let out = df.compute().unwrap();
    let s = out
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let n = out.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
    let got: Vec<(String, i64)> = (0..out.num_rows())
        .map(|i| (s.value(i).to_string(), n.value(i)))
        .collect();
    let want: Vec<(String, i64)> = [("a", 2), ("a", 5), ("b", 1), ("b", 2), ("b", 3), ("c", 0)]
        .iter()
        .map(|(a, b)| (a.to_string(), *b))
        .collect();
    assert_eq!(got, want);
    assert!(df.sort_values(&["nope"], true, 2).is_err());
    assert!(df.loc(1).is_err(), "no index, no loc");
}

#[test]
fn the_seeds_smiths_meet_in_one_partition() {
    // tests/data/people.csv: ten people, both Smiths and both Williamses split across the two
    // halves of the file.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/people.csv");
    let text = std::fs::read_to_string(path).unwrap();
    let block: usize = text.lines().take(6).map(|l| l.len() + 1).sum();
    let df =
        partita::read_csv(path, partita::CsvOptions::default().blocksize(block as u64)).unwrap();
    assert_eq!(df.npartitions(), 2);
    let by_name = df.set_index("Last name", 2).unwrap();
    let parts = by_name.compute_partitions().unwrap();
    let names = |p: &RecordBatch| -> Vec<String> {
        let c = p.column_by_name("Last name").unwrap();
        let s = c.as_any().downcast_ref::<StringArray>().unwrap();
        s.iter().flatten().map(str::to_string).collect()
    };
    for who in ["Smith", "Williams"] {
        let holders: Vec<usize> = (0..parts.len())
            .filter(|&i| names(&parts[i]).iter().any(|n| n == who))
            .collect();
        assert_eq!(holders.len(), 1, "{who} in partitions {holders:?}");
        assert_eq!(
            names(&parts[holders[0]])
                .iter()
                .filter(|n| *n == who)
                .count(),
            2
        );
    }
    let d = by_name.divisions().unwrap();
    let d = d.as_any().downcast_ref::<StringArray>().unwrap();
    let d: Vec<&str> = d.iter().flatten().collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");
    assert_eq!(d.first(), Some(&"Brown"));
    assert_eq!(d.last(), Some(&"Wilson"));
    assert_eq!(by_name.loc("Williams").unwrap().num_rows(), 2);
}

#[test]
fn repartition_divisions_errors_name_what_is_wrong() {
    let rows: Rows = (0..10).map(|i| (Some(i), i)).collect();
    let plain = frame(&rows, &[5]);
    let ints = |v: Vec<i64>| -> arrow::array::ArrayRef { Arc::new(Int64Array::from(v)) };
    let err = |r: Result<DataFrame, partita::collections::Error>| r.unwrap_err().to_string();
    assert!(err(plain.repartition_divisions(ints(vec![0, 9]))).contains("set_index"));
    let df = plain.set_index("k", 2).unwrap();
    assert!(err(df.repartition_divisions(ints(vec![0]))).contains("at least two"));
    assert!(err(df.repartition_divisions(ints(vec![0, 5, 5, 9]))).contains("strictly increasing"));
    assert!(err(df.repartition_divisions(ints(vec![0, 7, 3, 9]))).contains("3 follows 7"));
    assert!(err(df.repartition_divisions(ints(vec![1, 9]))).contains("do not cover"));
    assert!(err(df.repartition_divisions(ints(vec![0, 8]))).contains("do not cover"));
    let nulls: arrow::array::ArrayRef = Arc::new(Int64Array::from(vec![Some(0), None, Some(9)]));
    assert!(err(df.repartition_divisions(nulls)).contains("null"));
    let words: arrow::array::ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
    assert!(err(df.repartition_divisions(words)).contains("cast"));
    // Wider divisions of another integer type are fine.
    let wide: arrow::array::ArrayRef = Arc::new(arrow::array::Int32Array::from(vec![-5, 4, 20]));
    let cut = df.repartition_divisions(wide).unwrap();
    let sizes: Vec<usize> = cut
        .compute_partitions()
        .unwrap()
        .iter()
        .map(|p| p.num_rows())
        .collect();
    assert_eq!(sizes, vec![4, 6]);
}

/// A key of the wrong type is an error when written, not an empty answer; a number the index
/// type cannot hold exactly is in no row; an integer key finds a float index's equal value.
#[test]
fn loc_checks_the_keys_type_against_the_index() {
    let rows: Rows = (0..10).map(|i| (Some(i % 5), i)).collect();
    let by_k = frame(&rows, &[5]).set_index("k", 2).unwrap();
    let err = by_k.loc("3").unwrap_err().to_string();
    assert!(err.contains("\"k\""), "{err}");
    assert!(err.contains("int64"), "{err}");
    assert!(err.contains("string"), "{err}");
    assert!(by_k.loc(true).is_err());
    assert_eq!(by_k.loc(3).unwrap().num_rows(), 2);
    assert_eq!(by_k.loc(3.0).unwrap().num_rows(), 2);
    let half = by_k.loc(2.5).unwrap();
    assert_eq!(half.num_rows(), 0);
    assert_eq!(half.schema().field(0).name(), "k");
    let floats = frame(&rows, &[5])
        .with_column(
            "f",
            col("k").cast(partita::collections::ColumnType::Float64),
        )
        .unwrap()
        .set_index("f", 2)
        .unwrap();
    assert_eq!(floats.loc(4).unwrap().num_rows(), 2);
}
