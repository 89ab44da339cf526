//! `cumsum`, `cummin`, `cummax`, `shift` and `diff` (both ways) and rolling windows across
//! partition boundaries, against a sequential evaluation, under random partitionings with empty
//! and one-row partitions; and rolling windows against pandas' answers on a small series.

#[path = "common/cuts.rs"]
mod cuts;

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use partita::collections::DataFrame;
use proptest::prelude::*;

fn frame(ints: &[Option<i64>], floats: &[Option<f64>], cuts: &[usize]) -> DataFrame {
    let schema = Arc::new(Schema::new(vec![
        Field::new("i", DataType::Int64, true),
        Field::new("f", DataType::Float64, true),
    ]));
    let parts = cuts::ranges(ints.len(), cuts)
        .into_iter()
        .map(|r| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ints[r.clone()].to_vec())),
                    Arc::new(Float64Array::from(floats[r].to_vec())),
                ],
            )
            .unwrap()
        })
        .collect();
    DataFrame::from_batches(parts).unwrap()
}

/// The running `step` of the values, nulls (and NaN) left in place and skipped, as pandas.
fn running<T: Copy>(
    xs: &[Option<T>],
    skip: impl Fn(T) -> bool,
    step: impl Fn(T, T) -> T,
) -> Vec<Option<T>> {
    let mut acc: Option<T> = None;
    xs.iter()
        .map(|x| match x {
            Some(x) if !skip(*x) => {
                let s = acc.map_or(*x, |s| step(s, *x));
                acc = Some(s);
                Some(s)
            }
            other => *other,
        })
        .collect()
}

fn same(got: &[Option<f64>], want: &[Option<f64>]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(g, w)| match (g, w) {
            (Some(g), Some(w)) => {
                (g.is_nan() && w.is_nan()) || (g - w).abs() <= 1e-9 * w.abs().max(1.0)
            }
            (None, None) => true,
            _ => false,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn running_and_shifted_columns_match_a_sequential_evaluation(
        ints in prop::collection::vec(prop::option::weighted(0.8, -50_i64..50), 0..60),
        cuts in prop::collection::vec(0_usize..100, 0..7),
        nan_at in prop::collection::vec(0_usize..100, 0..3),
        periods in -4_isize..5,
    ) {
        let mut floats: Vec<Option<f64>> = ints.iter().map(|x| x.map(|x| x as f64 / 4.0)).collect();
        for &p in &nan_at {
            if let Some(f) = floats.get_mut(p % (ints.len() + 1)) {
                *f = Some(f64::NAN);
            }
        }
        let df = frame(&ints, &floats, &cuts);
        let i64s = |d: &DataFrame| d.column("i").unwrap().to_vec::<i64>().unwrap();
        let f64s = |d: &DataFrame, c: &str| d.column(c).unwrap().to_vec::<f64>().unwrap();

        prop_assert_eq!(i64s(&df.cumsum("i").unwrap()), running(&ints, |_| false, |s, x| s + x));
        prop_assert_eq!(i64s(&df.cummin("i").unwrap()), running(&ints, |_| false, i64::min));
        prop_assert_eq!(i64s(&df.cummax("i").unwrap()), running(&ints, |_| false, i64::max));
        let want = running(&floats, f64::is_nan, |s, x| s + x);
        prop_assert!(same(&f64s(&df.cumsum("f").unwrap(), "f"), &want));
        let want = running(&floats, f64::is_nan, f64::max);
        prop_assert!(same(&f64s(&df.cummax("f").unwrap(), "f"), &want));

        let n = ints.len() as isize;
        let shifted: Vec<Option<i64>> = (0..n)
            .map(|j| {
                let from = j - periods;
                if (0..n).contains(&from) { ints[from as usize] } else { None }
            })
            .collect();
        prop_assert_eq!(i64s(&df.shift("i", periods).unwrap()), shifted.clone());
        let diffs: Vec<Option<f64>> = ints
            .iter()
            .zip(&shifted)
            .map(|(x, s)| Some(((*x)? - (*s)?) as f64))
            .collect();
        prop_assert!(same(&f64s(&df.diff("i", periods).unwrap(), "i"), &diffs));
        // The other column passes through, and the partitions stay as they were.
        let out = df.cumsum("i").unwrap();
        prop_assert_eq!(out.npartitions(), df.npartitions());
        prop_assert!(same(&f64s(&out, "f"), &floats));
    }
}

/// One window by its definition: `agg` of the values (nulls and NaN left out) among the
/// `window` rows ending at row `i`, or none with fewer than `min_periods` values (rows, for
/// `count`).
fn window_of(
    xs: &[Option<f64>],
    i: usize,
    window: usize,
    min_periods: usize,
    agg: &str,
) -> Option<f64> {
    let rows = &xs[(i + 1).saturating_sub(window)..=i];
    let vals: Vec<f64> = rows
        .iter()
        .flatten()
        .copied()
        .filter(|x| !x.is_nan())
        .collect();
    let n = vals.len() as f64;
    if agg == "count" {
        return (rows.len() >= min_periods).then_some(n);
    }
    if vals.len() < min_periods {
        return None;
    }
    let mean = vals.iter().sum::<f64>() / n;
    let var = |ddof: f64| {
        (n - ddof > 0.0).then(|| vals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - ddof))
    };
    match agg {
        "sum" => Some(vals.iter().sum()),
        "mean" => (n > 0.0).then_some(mean),
        "min" => vals.iter().copied().reduce(f64::min),
        "max" => vals.iter().copied().reduce(f64::max),
        "var" => var(1.0),
        "std0" => var(0.0).map(f64::sqrt),
        _ => unreachable!(),
    }
}

fn rolled(r: &partita::collections::Rolling, agg: &str) -> DataFrame {
    match agg {
        "sum" => r.sum(),
        "mean" => r.mean(),
        "min" => r.min(),
        "max" => r.max(),
        "count" => r.count(),
        "var" => r.var(1),
        "std0" => r.std(0),
        _ => unreachable!(),
    }
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn rolling_windows_match_their_definition(
        ints in prop::collection::vec(prop::option::weighted(0.8, -50_i64..50), 0..50),
        cuts in prop::collection::vec(0_usize..100, 0..7),
        nan_at in prop::collection::vec(0_usize..100, 0..3),
        window in 1_usize..7,
        min_periods in prop::option::of(0_usize..7),
    ) {
        let mut floats: Vec<Option<f64>> = ints.iter().map(|x| x.map(|x| x as f64 / 4.0)).collect();
        for &p in &nan_at {
            if let Some(f) = floats.get_mut(p % (ints.len() + 1)) {
                *f = Some(f64::NAN);
            }
        }
        let df = frame(&ints, &floats, &cuts);
        for column in ["i", "f"] {
            let xs: Vec<Option<f64>> = match column {
                "i" => ints.iter().map(|x| x.map(|x| x as f64)).collect(),
                _ => floats.clone(),
            };
            let mut r = df.rolling(column, window).unwrap();
            if let Some(m) = min_periods {
                r = r.min_periods(m);
            }
            let m = min_periods.unwrap_or(window);
            for agg in ["sum", "mean", "min", "max", "count", "var", "std0"] {
                let got = rolled(&r, agg).column(column).unwrap().to_vec::<f64>().unwrap();
                let want: Vec<Option<f64>> =
                    (0..xs.len()).map(|i| window_of(&xs, i, window, m, agg)).collect();
                prop_assert!(same(&got, &want), "{} {} w={} m={}: {:?} vs {:?}", column, agg, window, m, got, want);
            }
        }
    }
}

/// pandas 3.1.1's answers for `pd.Series([1, 2, None, 4, 5, nan, nan, 8, 9, 10.0])`, in three
/// partitions (NaN there is a null here).
#[test]
fn rolling_windows_answer_as_pandas() {
    let xs = [
        Some(1.0),
        Some(2.0),
        None,
        Some(4.0),
        Some(5.0),
        Some(f64::NAN),
        None,
        Some(8.0),
        Some(9.0),
        Some(10.0),
    ];
    let ints: Vec<Option<i64>> = vec![Some(0); xs.len()];
    let df = frame(&ints, &xs, &[3, 7]);
    let nan = None;
    let run = |r: partita::collections::Rolling, agg: &str| {
        rolled(&r, agg)
            .column("f")
            .unwrap()
            .to_vec::<f64>()
            .unwrap()
    };
    let r3 = || df.rolling("f", 3).unwrap();
    let tail = |v: f64| {
        let mut w = vec![nan; 9];
        w.push(Some(v));
        w
    };
    // s.rolling(3).sum() / mean() / min() / max() / std(): only the last window is full.
    assert_eq!(run(r3(), "sum"), tail(27.0));
    assert_eq!(run(r3(), "mean"), tail(9.0));
    assert_eq!(run(r3(), "min"), tail(8.0));
    assert_eq!(run(r3(), "max"), tail(10.0));
    assert_eq!(run(r3(), "var"), tail(1.0));
    // s.rolling(3).count(): [nan, nan, 2, 2, 2, 2, 1, 1, 2, 3]
    let counts = [2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 2.0, 3.0].map(Some);
    assert_eq!(run(r3(), "count"), [&[nan, nan][..], &counts[..]].concat());
    // s.rolling(3, min_periods=1).sum(): [1, 3, 3, 6, 9, 9, 5, 8, 17, 27]
    let sums = [1.0, 3.0, 3.0, 6.0, 9.0, 9.0, 5.0, 8.0, 17.0, 27.0].map(Some);
    assert_eq!(run(r3().min_periods(1), "sum"), sums);
    // s.rolling(3, min_periods=0).count(): [1, 2, 2, 2, 2, 2, 1, 1, 2, 3]
    let counts = [1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 2.0, 3.0].map(Some);
    assert_eq!(run(r3().min_periods(0), "count"), counts);
}

#[test]
fn a_rolling_window_needs_a_numeric_column_and_a_row() {
    let df = frame(&[Some(1)], &[Some(1.0)], &[]);
    let err = df.rolling("f", 0).unwrap_err().to_string();
    assert!(err.contains("at least one row"), "{err}");
    let err = df.rolling("nope", 2).unwrap_err().to_string();
    assert!(err.contains("no column \"nope\""), "{err}");
}

#[test]
fn a_string_column_shifts_but_does_not_sum() {
    let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
    let batch = RecordBatch::try_new(
        schema,
        vec![Arc::new(arrow::array::StringArray::from(vec![
            "a", "b", "c", "d",
        ]))],
    )
    .unwrap();
    let df = DataFrame::from_arrow(batch, 3).unwrap();
    let shifted = df
        .shift("s", 2)
        .unwrap()
        .column("s")
        .unwrap()
        .to_vec::<String>()
        .unwrap();
    assert_eq!(shifted, [None, None, Some("a".into()), Some("b".into())]);
    let err = df.cumsum("s").unwrap_err().to_string();
    assert!(err.contains("cumsum of \"s\", a string column"), "{err}");
    assert!(df.diff("nope", 1).is_err());
}
