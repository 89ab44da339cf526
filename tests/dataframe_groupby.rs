//! groupby-agg and value_counts against a sequential reference over the whole table, under
//! random partitionings: the partitioning must not change the answer.

use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use partita::collections::{count, first, last, max, mean, min, size, std, sum, var, DataFrame};
use partita::prelude::*;
use proptest::prelude::*;

type Row = (String, i64, Option<i64>, f64);

fn table(rows: &[Row]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("k2", DataType::Int64, false),
        Field::new("v", DataType::Int64, true),
        Field::new("f", DataType::Float64, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.0.clone()),
            )),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.3))),
        ],
    )
    .unwrap()
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::vec(
        (
            prop_oneof![Just("a"), Just("bb"), Just("ccc"), Just("日本")].prop_map(String::from),
            0_i64..3,
            proptest::option::weighted(0.8, -100_i64..100),
            (-50_i64..50).prop_map(|x| x as f64),
        ),
        1..150,
    )
}

/// The reference, per (k, k2) in order of first appearance:
/// (v sum, v mean, v count, size, v min, v max, f sum, f max)
#[derive(Debug, PartialEq)]
struct Expected {
    key: (String, i64),
    v_sum: i64,
    v_mean: Option<f64>,
    v_count: i64,
    size: i64,
    v_min: Option<i64>,
    v_max: Option<i64>,
    f_sum: f64,
    f_max: f64,
}

fn reference(rows: &[Row]) -> Vec<Expected> {
    let mut out: Vec<Expected> = Vec::new();
    for r in rows {
        let key = (r.0.clone(), r.1);
        let e = match out.iter_mut().position(|e| e.key == key) {
            Some(i) => &mut out[i],
            None => {
                out.push(Expected {
                    key,
                    v_sum: 0,
                    v_mean: None,
                    v_count: 0,
                    size: 0,
                    v_min: None,
                    v_max: None,
                    f_sum: 0.0,
                    f_max: f64::NEG_INFINITY,
                });
                out.last_mut().unwrap()
            }
        };
        e.size += 1;
        e.f_sum += r.3;
        e.f_max = e.f_max.max(r.3);
        if let Some(v) = r.2 {
            e.v_sum += v;
            e.v_count += 1;
            e.v_min = Some(e.v_min.map_or(v, |m| m.min(v)));
            e.v_max = Some(e.v_max.map_or(v, |m| m.max(v)));
        }
    }
    for e in &mut out {
        e.v_mean = (e.v_count > 0).then(|| e.v_sum as f64 / e.v_count as f64);
    }
    out
}

fn i64s(b: &RecordBatch, c: &str) -> Vec<Option<i64>> {
    b.column_by_name(c)
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .iter()
        .collect()
}

fn f64s(b: &RecordBatch, c: &str) -> Vec<Option<f64>> {
    b.column_by_name(c)
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .iter()
        .collect()
}

/// The sample variance (ddof 1), by its definition; none for fewer than two values.
fn sample_var(xs: &[f64]) -> Option<f64> {
    (xs.len() > 1).then(|| {
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64
    })
}

/// Equal up to rounding, or both missing.
fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * (1.0 + b.abs()),
        (None, None) => true,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    /// Whether the partials merge in one task or through the shuffle (`shuffle_above`), the
    /// groups come out in order of first appearance.
    fn groupby_agg_matches_a_sequential_reference(
        rows in rows(),
        n in 1_usize..12,
        shuffle_above in prop_oneof![Just(0_usize), Just(8), Just(usize::MAX)],
    ) {
        let df = DataFrame::from_arrow(table(&rows), n).unwrap();
        let out = df
            .groupby(&["k", "k2"])
            .unwrap()
            .shuffle_above(shuffle_above)
            .agg([
                sum("v"), mean("v"), count("v"), size(), min("v"), max("v"), sum("f"), max("f"),
            ])
            .unwrap()
            .reset_index()
            .unwrap();
        let expected = reference(&rows);
        let keys: Vec<(String, i64)> = out
            .column_by_name("k").unwrap().as_any().downcast_ref::<StringArray>().unwrap()
            .iter()
            .zip(i64s(&out, "k2"))
            .map(|(k, k2)| (k.unwrap().to_string(), k2.unwrap()))
            .collect();
        prop_assert_eq!(keys, expected.iter().map(|e| e.key.clone()).collect::<Vec<_>>());
        prop_assert_eq!(i64s(&out, "v_sum"), expected.iter().map(|e| Some(e.v_sum)).collect::<Vec<_>>());
        prop_assert_eq!(f64s(&out, "v_mean"), expected.iter().map(|e| e.v_mean).collect::<Vec<_>>());
        prop_assert_eq!(i64s(&out, "v_count"), expected.iter().map(|e| Some(e.v_count)).collect::<Vec<_>>());
        prop_assert_eq!(i64s(&out, "size"), expected.iter().map(|e| Some(e.size)).collect::<Vec<_>>());
        prop_assert_eq!(i64s(&out, "v_min"), expected.iter().map(|e| e.v_min).collect::<Vec<_>>());
        prop_assert_eq!(i64s(&out, "v_max"), expected.iter().map(|e| e.v_max).collect::<Vec<_>>());
        prop_assert_eq!(f64s(&out, "f_sum"), expected.iter().map(|e| Some(e.f_sum)).collect::<Vec<_>>());
        prop_assert_eq!(f64s(&out, "f_max"), expected.iter().map(|e| Some(e.f_max)).collect::<Vec<_>>());
    }

    #[test]
    fn value_counts_match_a_plain_count(rows in rows(), n in 1_usize..8) {
        let df = DataFrame::from_arrow(table(&rows), n).unwrap();
        let out = df.value_counts("k").unwrap().reset_index().unwrap();
        let got: Vec<(String, i64)> = out
            .column_by_name("k").unwrap().as_any().downcast_ref::<StringArray>().unwrap()
            .iter()
            .zip(i64s(&out, "count"))
            .map(|(k, c)| (k.unwrap().to_string(), c.unwrap()))
            .collect();
        let mut expected: Vec<(String, i64)> = Vec::new();
        for r in &rows {
            match expected.iter_mut().find(|(k, _)| *k == r.0) {
                Some((_, c)) => *c += 1,
                None => expected.push((r.0.clone(), 1)),
            }
        }
        expected.sort_by_key(|(_, c)| std::cmp::Reverse(*c));
        prop_assert_eq!(got, expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn var_std_first_last_match_a_sequential_reference(
        rows in rows(),
        n in 1_usize..9,
        shuffle_above in prop_oneof![Just(0_usize), Just(usize::MAX)],
    ) {
        let df = DataFrame::from_arrow(table(&rows), n).unwrap();
        let out = df
            .groupby(&["k"])
            .unwrap()
            .shuffle_above(shuffle_above)
            .agg([var("v"), std("f"), first("v"), last("k2"), first("k")])
            .unwrap()
            .reset_index()
            .unwrap();
        let mut groups: Vec<(String, Vec<&Row>)> = Vec::new();
        for r in &rows {
            match groups.iter_mut().find(|(k, _)| *k == r.0) {
                Some((_, g)) => g.push(r),
                None => groups.push((r.0.clone(), vec![r])),
            }
        }
        let got_var = f64s(&out, "v_var");
        let got_std = f64s(&out, "f_std");
        let got_first = i64s(&out, "v_first");
        let got_last = i64s(&out, "k2_last");
        for (i, (_, g)) in groups.iter().enumerate() {
            let vs: Vec<f64> = g.iter().filter_map(|r| r.2).map(|v| v as f64).collect();
            let fs: Vec<f64> = g.iter().map(|r| r.3).collect();
            prop_assert!(close(got_var[i], sample_var(&vs)), "var {:?} {:?}", got_var[i], sample_var(&vs));
            prop_assert!(close(got_std[i], sample_var(&fs).map(f64::sqrt)));
            prop_assert_eq!(got_first[i], g.iter().find_map(|r| r.2));
            prop_assert_eq!(got_last[i], g.last().map(|r| r.1));
        }
        let firsts = out.column_by_name("k_first").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        for (i, (k, _)) in groups.iter().enumerate() {
            prop_assert_eq!(firsts.value(i), k.as_str());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// `DataFrame::agg` (one group of every row) against the reference over all rows, after a
    /// filter that may leave partitions, or the whole frame, empty.
    #[test]
    fn whole_frame_aggregates_match_a_sequential_reference(rows in rows(), n in 1_usize..9, cut in -60_i64..60) {
        let df = DataFrame::from_arrow(table(&rows), n).unwrap();
        let out = df
            .filter(col("f").gt(lit(cut as f64)))
            .unwrap()
            .agg([
                sum("v"), mean("v"), count("v"), size(), min("v"), max("v"), sum("f"), max("f"),
                var("v"), std("f"), first("v"), last("k2"), first("k"),
            ])
            .unwrap()
            .reset_index()
            .unwrap();
        let kept: Vec<Row> = rows
            .iter()
            .filter(|r| r.3 > cut as f64)
            .map(|r| ("all".to_string(), 0, r.2, r.3))
            .collect();
        if kept.is_empty() {
            prop_assert_eq!(out.num_rows(), 0);
            return Ok(());
        }
        prop_assert_eq!(out.num_rows(), 1);
        let e = &reference(&kept)[0];
        prop_assert_eq!(i64s(&out, "v_sum"), vec![Some(e.v_sum)]);
        prop_assert_eq!(f64s(&out, "v_mean"), vec![e.v_mean]);
        prop_assert_eq!(i64s(&out, "v_count"), vec![Some(e.v_count)]);
        prop_assert_eq!(i64s(&out, "size"), vec![Some(e.size)]);
        prop_assert_eq!(i64s(&out, "v_min"), vec![e.v_min]);
        prop_assert_eq!(i64s(&out, "v_max"), vec![e.v_max]);
        prop_assert_eq!(f64s(&out, "f_sum"), vec![Some(e.f_sum)]);
        prop_assert_eq!(f64s(&out, "f_max"), vec![Some(e.f_max)]);
        let vs: Vec<f64> = kept.iter().filter_map(|r| r.2).map(|v| v as f64).collect();
        let fs: Vec<f64> = kept.iter().map(|r| r.3).collect();
        prop_assert!(close(f64s(&out, "v_var")[0], sample_var(&vs)));
        prop_assert!(close(f64s(&out, "f_std")[0], sample_var(&fs).map(f64::sqrt)));
        let first_row = rows.iter().find(|r| r.3 > cut as f64).unwrap();
        let last_row = rows.iter().rev().find(|r| r.3 > cut as f64).unwrap();
        prop_assert_eq!(i64s(&out, "v_first"), vec![kept.iter().find_map(|r| r.2)]);
        prop_assert_eq!(i64s(&out, "k2_last"), vec![Some(last_row.1)]);
        let k_first = out.column_by_name("k_first").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        prop_assert_eq!(k_first.value(0), first_row.0.as_str());
    }
}

/// `sum("v")` by `k`, merged through the shuffle from `above` partial groups on.
fn sum_by_k(df: &DataFrame, above: usize) -> Result<RecordBatch, partita::collections::Error> {
    df.groupby(&["k"])?
        .shuffle_above(above)
        .agg([sum("v")])?
        .reset_index()
}

/// Values far from zero: 1e9 + {0, 1, 2, 3}, each twice, in two groups' worth of rows, have the
/// sample variance 10/7 (by hand: deviations of ±0.5 and ±1.5 from the mean, each twice). A sum
/// of squares less the squared sum gives 0 here; the variance is the same at every partitioning,
/// through the tree merge and the shuffle, and for the whole frame.
#[test]
fn the_mean_of_large_integers_is_the_exact_sum_rounded_once() {
    // One 10^16 among a thousand ones per group: a float64 running sum drops every one
    // (10^16 + 1 rounds back to 10^16); pandas, summing with compensation, does not.
    let mut keys = Vec::new();
    let mut values = Vec::new();
    for k in 0..3_i64 {
        keys.push(k);
        values.push(Some(10_i64.pow(16) * (k + 1)));
        for r in 0..1000 {
            keys.push(k);
            values.push((r % 10 != 9).then_some(1));
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(keys.clone())),
            Arc::new(Int64Array::from(values.clone())),
        ],
    )
    .unwrap();
    // The reference: exact integer sums and counts, divided once.
    let want: Vec<f64> = (0..3_i64)
        .map(|k| {
            let mine = keys.iter().zip(&values).filter(|(g, _)| **g == k);
            let (sum, n) = mine.fold((0_i128, 0_i64), |(s, n), (_, v)| match v {
                Some(v) => (s + i128::from(*v), n + 1),
                None => (s, n),
            });
            sum as f64 / n as f64
        })
        .collect();
    let naive: f64 = values[..1001]
        .iter()
        .flatten()
        .fold(0.0, |s, &v| s + v as f64);
    assert_ne!(
        naive / 901.0,
        want[0],
        "the case loses digits in a float sum"
    );
    for parts in [1, 3, 7] {
        let df = DataFrame::from_arrow(batch.clone(), parts).unwrap();
        for above in [0, usize::MAX] {
            let out = df
                .groupby(&["k"])
                .unwrap()
                .shuffle_above(above)
                .agg([mean("v")])
                .unwrap()
                .reset_index()
                .unwrap();
            let k = out.column_by_name("k").unwrap();
            let k = k.as_any().downcast_ref::<Int64Array>().unwrap();
            let mut got: Vec<(i64, f64)> = k
                .values()
                .iter()
                .zip(f64s(&out, "v_mean"))
                .map(|(&k, m)| (k, m.unwrap()))
                .collect();
            got.sort_by_key(|p| p.0);
            let got: Vec<f64> = got.into_iter().map(|p| p.1).collect();
            assert_eq!(got, want, "{parts} parts, above {above}");
        }
        let whole = df.agg([mean("v")]).unwrap().compute().unwrap();
        let all = values
            .iter()
            .flatten()
            .map(|&v| i128::from(v))
            .sum::<i128>() as f64
            / values.iter().flatten().count() as f64;
        assert_eq!(
            f64s(&whole, "v_mean"),
            [Some(all)],
            "whole frame, {parts} parts"
        );
    }
}

#[test]
fn the_variance_of_values_far_from_zero_does_not_cancel() {
    let values: Vec<f64> = [0.0, 1.0, 2.0, 3.0, 0.0, 1.0, 2.0, 3.0]
        .iter()
        .map(|d| 1e9 + d)
        .collect();
    let keys = vec![1_i64; values.len()];
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(keys)),
            Arc::new(Float64Array::from(values)),
        ],
    )
    .unwrap();
    let want = 10.0 / 7.0;
    for parts in 1..=8 {
        let df = DataFrame::from_arrow(batch.clone(), parts).unwrap();
        for above in [0, usize::MAX] {
            let out = df
                .groupby(&["k"])
                .unwrap()
                .shuffle_above(above)
                .agg([var("v"), std("v")])
                .unwrap()
                .reset_index()
                .unwrap();
            let got = f64s(&out, "v_var")[0].unwrap();
            assert!(
                (got - want).abs() < 1e-6,
                "{parts} parts, above {above}: {got}"
            );
            let sd = f64s(&out, "v_std")[0].unwrap();
            assert!((sd - want.sqrt()).abs() < 1e-6, "{sd}");
        }
        let whole = df.agg([var("v")]).unwrap().compute().unwrap();
        let got = f64s(&whole, "v_var")[0].unwrap();
        assert!(
            (got - want).abs() < 1e-6,
            "whole frame, {parts} parts: {got}"
        );
    }
}

/// More partitions than receivers merge: every group once, with its sum, in order of first
/// appearance, whether the partials merge in one task or through the shuffle.
#[test]
fn many_partitions_merge_to_the_same_groups_either_way() {
    let n = 20_000_i64;
    let keys: Vec<i64> = (0..n).map(|i| (i * 7_919) % 1_009).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(keys.clone())),
            Arc::new(Int64Array::from_iter_values(0..n)),
        ],
    )
    .unwrap();
    let df = DataFrame::from_arrow(batch, 150).unwrap();
    let mut order: Vec<i64> = Vec::new();
    let mut sums = std::collections::HashMap::new();
    for (i, &k) in keys.iter().enumerate() {
        if !sums.contains_key(&k) {
            order.push(k);
        }
        *sums.entry(k).or_insert(0) += i as i64;
    }
    for above in [0, usize::MAX] {
        let out = sum_by_k(&df, above).unwrap();
        let got_keys: Vec<i64> = i64s(&out, "k").into_iter().map(Option::unwrap).collect();
        assert_eq!(got_keys, order, "shuffle_above {above}");
        let want: Vec<Option<i64>> = order.iter().map(|k| Some(sums[k])).collect();
        assert_eq!(i64s(&out, "v_sum"), want, "shuffle_above {above}");
    }
}

/// A partition that fails, or panics, fails the aggregate with its message, in either merge;
/// the runtime then computes the same aggregate of healthy partitions.
#[test]
fn a_failing_partition_fails_the_aggregate_and_leaves_the_runtime_healthy() {
    let rows: Vec<Row> = (0..400)
        .map(|i| (format!("k{}", i % 37), i % 3, Some(i), 1.0))
        .collect();
    let df = DataFrame::from_arrow(table(&rows), 8).unwrap();
    let schema = df.schema().clone();
    for (bad, above) in [(3, 0), (5, usize::MAX)] {
        let broken = df.map_partitions_indexed(schema.clone(), move |i, b| {
            if i == bad && above == 0 {
                return Err(format!("partition {i} is unreadable"));
            }
            if i == bad {
                panic!("partition {i} panicked");
            }
            Ok(b)
        });
        let err = sum_by_k(&broken, above).unwrap_err().to_string();
        assert!(err.contains(&format!("partition {bad}")), "{err}");
        let ok = sum_by_k(&df, above).unwrap();
        assert_eq!(ok.num_rows(), 37);
        let total: i64 = i64s(&ok, "v_sum").into_iter().map(Option::unwrap).sum();
        assert_eq!(total, (0..400).sum::<i64>());
    }
}

#[test]
fn aggregating_a_string_column_is_an_error_naming_it() {
    let df = DataFrame::from_arrow(table(&[("a".into(), 1, Some(1), 1.0)]), 1).unwrap();
    let err = df
        .groupby(&["k2"])
        .unwrap()
        .agg([sum("k")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot take the sum of \"k\", a string column"),
        "{err}"
    );
    assert!(df.groupby(&["nope"]).is_err());
}

#[test]
fn groupby_after_a_filter_runs_on_the_filtered_rows() {
    let rows: Vec<Row> = (0..100)
        .map(|i| (format!("g{}", i % 3), 0, Some(i), i as f64))
        .collect();
    let df = DataFrame::from_arrow(table(&rows), 4).unwrap();
    let out = df
        .filter(partita::collections::col("v").gt_eq(partita::collections::lit(50)))
        .unwrap()
        .groupby(&["k"])
        .unwrap()
        .agg([sum("v")])
        .unwrap()
        .reset_index()
        .unwrap();
    let total: i64 = i64s(&out, "v_sum").into_iter().flatten().sum();
    assert_eq!(total, (50..100).sum::<i64>());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 30, ..ProptestConfig::default() })]

    #[test]
    fn nunique_and_aggregates_of_expressions(rows in rows(), n in 1_usize..7) {
        use partita::collections::{col, Agg, AggFunc};
        let df = DataFrame::from_arrow(table(&rows), n).unwrap();
        let out = df.nunique(&["k"], "v").unwrap().reset_index().unwrap();
        let mut expected: Vec<(String, i64)> = Vec::new();
        for r in &rows {
            if r.2.is_none() {
                continue;
            }
            let distinct = rows.iter().filter(|x| x.0 == r.0).filter_map(|x| x.2).collect::<std::collections::BTreeSet<_>>().len() as i64;
            if !expected.iter().any(|(k, _)| *k == r.0) {
                expected.push((r.0.clone(), distinct));
            }
        }
        let got: Vec<(String, i64)> = out
            .column_by_name("k").unwrap().as_any().downcast_ref::<StringArray>().unwrap()
            .iter()
            .zip(i64s(&out, "v_nunique"))
            .map(|(k, c)| (k.unwrap().to_string(), c.unwrap()))
            .collect();
        prop_assert_eq!(got, expected);

        let weighted = df
            .groupby(&["k"]).unwrap()
            .agg([Agg::of(col("f") * col("k2"), AggFunc::Sum).alias("fk")])
            .unwrap()
            .reset_index()
            .unwrap();
        let got = f64s(&weighted, "fk");
        let mut keys: Vec<String> = Vec::new();
        for r in &rows {
            if !keys.contains(&r.0) {
                keys.push(r.0.clone());
            }
        }
        let expected: Vec<Option<f64>> = keys
            .iter()
            .map(|k| Some(rows.iter().filter(|r| &r.0 == k).map(|r| r.3 * r.1 as f64).sum()))
            .collect();
        prop_assert_eq!(got, expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// `split_out(m)`: the same groups and aggregates as the reference, each group in exactly one
    /// of the `m` partitions (compared sorted by key: the partitions order groups by hash).
    #[test]
    fn split_out_shuffles_partials_to_the_same_answer(rows in rows(), n in 1_usize..9, m in 1_usize..6) {
        let df = DataFrame::from_arrow(table(&rows), n).unwrap();
        let out = df
            .groupby(&["k", "k2"])
            .unwrap()
            .split_out(m)
            .agg([sum("v"), mean("v"), size(), max("f")])
            .unwrap();
        prop_assert_eq!(out.npartitions(), m);
        let parts = out.compute_partitions().unwrap();
        type Got = ((String, i64), Option<i64>, Option<f64>, Option<i64>, Option<f64>);
        let mut got: Vec<Got> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for p in &parts {
            let ks = p.column_by_name("k").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
            let (k2, s, me, sz, mx) = (i64s(p, "k2"), i64s(p, "v_sum"), f64s(p, "v_mean"), i64s(p, "size"), f64s(p, "f_max"));
            for i in 0..p.num_rows() {
                let key = (ks.value(i).to_string(), k2[i].unwrap());
                prop_assert!(seen.insert(key.clone()), "group {:?} in two partitions", key);
                got.push((key, s[i], me[i], sz[i], mx[i]));
            }
        }
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let mut want: Vec<Got> = reference(&rows)
            .into_iter()
            .map(|e| (e.key, Some(e.v_sum), e.v_mean, Some(e.size), Some(e.f_max)))
            .collect();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        prop_assert_eq!(got, want);
    }
}

#[test]
fn null_keys_form_no_group_unless_asked_as_in_pandas() {
    let keys: Vec<Option<i64>> = (0..120).map(|i| (i % 7 != 2).then_some(i % 5)).collect();
    let values: Vec<i64> = (0..120).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("v", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(keys.clone())),
            Arc::new(Int64Array::from(values.clone())),
        ],
    )
    .unwrap();
    // The reference: sums per key in order of first appearance, the null key apart.
    let mut order: Vec<Option<i64>> = Vec::new();
    for k in &keys {
        if !order.contains(k) {
            order.push(*k);
        }
    }
    let sum_of = |k: Option<i64>| -> i64 {
        keys.iter()
            .zip(&values)
            .filter(|(x, _)| **x == k)
            .map(|(_, v)| v)
            .sum()
    };
    let kept: Vec<(Option<i64>, i64)> = order.iter().map(|&k| (k, sum_of(k))).collect();
    let dropped: Vec<(Option<i64>, i64)> =
        kept.iter().filter(|(k, _)| k.is_some()).copied().collect();
    let pairs = |b: &RecordBatch| -> Vec<(Option<i64>, i64)> {
        let k = b.column_by_name("k").unwrap();
        let k = k.as_any().downcast_ref::<Int64Array>().unwrap();
        let v = b.column_by_name("v_sum").unwrap();
        let v = v.as_any().downcast_ref::<Int64Array>().unwrap();
        k.iter().zip(v.values().iter().copied()).collect()
    };
    for parts in [1, 3, 8] {
        let df = DataFrame::from_arrow(batch.clone(), parts).unwrap();
        for above in [0, usize::MAX] {
            let grouped = || df.groupby(&["k"]).unwrap().shuffle_above(above);
            let out = grouped().agg([sum("v")]).unwrap().reset_index().unwrap();
            assert_eq!(pairs(&out), dropped, "{parts} parts, above {above}");
            let out = grouped()
                .dropna(false)
                .agg([sum("v")])
                .unwrap()
                .reset_index()
                .unwrap();
            assert_eq!(
                pairs(&out),
                kept,
                "{parts} parts, above {above}, dropna(false)"
            );
        }
        let counts = df.value_counts("k").unwrap().reset_index().unwrap();
        let k = counts.column_by_name("k").unwrap();
        assert_eq!(k.null_count(), 0, "value_counts drops nulls");
        assert_eq!(k.len(), 5);
    }
}
