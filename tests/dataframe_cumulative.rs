//! `cumsum`, `cummin`, `cummax`, `shift` and `diff` across partition boundaries, against a
//! sequential evaluation, under random partitionings with empty and one-row partitions.

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
        periods in 1_usize..5,
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

        let shifted: Vec<Option<i64>> = (0..ints.len())
            .map(|j| if j >= periods { ints[j - periods] } else { None })
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
