//! `melt` and `pivot_table` against pandas' answers on a small table (written down below with
//! the pandas code that gave them), and `melt` against a sequential evaluation under random
//! partitionings.

#[path = "common/cuts.rs"]
mod cuts;

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use partita::collections::{AggFunc, DataFrame};
use proptest::prelude::*;

/// pandas: `df = pd.DataFrame({'day': ['mon','tue','mon','wed','tue','mon','wed','mon'],
/// 'shop': ['a','b','b','a','a','c',None,'a'], 'sold': pd.array([1, 2, None, 4, 5, 6, 7, 8],
/// dtype='Int64'), 'price': [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5]})`.
fn shops(npartitions: usize) -> DataFrame {
    let batch = RecordBatch::try_from_iter([
        (
            "day",
            Arc::new(StringArray::from(vec![
                "mon", "tue", "mon", "wed", "tue", "mon", "wed", "mon",
            ])) as _,
        ),
        (
            "shop",
            Arc::new(StringArray::from(vec![
                Some("a"),
                Some("b"),
                Some("b"),
                Some("a"),
                Some("a"),
                Some("c"),
                None,
                Some("a"),
            ])) as _,
        ),
        (
            "sold",
            Arc::new(Int64Array::from(vec![
                Some(1),
                Some(2),
                None,
                Some(4),
                Some(5),
                Some(6),
                Some(7),
                Some(8),
            ])) as _,
        ),
        (
            "price",
            Arc::new(Float64Array::from(vec![
                1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5,
            ])) as _,
        ),
    ])
    .unwrap();
    DataFrame::from_arrow(batch, npartitions).unwrap()
}

#[test]
fn pivot_tables_answer_as_pandas() {
    for parts in [1, 3] {
        let df = shops(parts);
        let pivot = |f| df.pivot_table(&["day"], "shop", "sold", f).unwrap();
        // pivot_table(index='day', columns='shop', values='sold', aggfunc='sum'):
        // index [mon, tue, wed], {'a': [9, 5, 4], 'b': [0, 2, NaN], 'c': [6, NaN, NaN]}.
        let sum = pivot(AggFunc::Sum);
        assert_eq!(
            sum.column("day").unwrap().to_vec::<String>().unwrap(),
            ["mon", "tue", "wed"].map(|s| Some(s.to_string()))
        );
        let ints = |d: &DataFrame, c: &str| d.column(c).unwrap().to_vec::<i64>().unwrap();
        let floats = |d: &DataFrame, c: &str| d.column(c).unwrap().to_vec::<f64>().unwrap();
        assert_eq!(ints(&sum, "a"), [Some(9), Some(5), Some(4)]);
        assert_eq!(ints(&sum, "b"), [Some(0), Some(2), None]);
        assert_eq!(ints(&sum, "c"), [Some(6), None, None]);
        // aggfunc='mean': {'a': [4.5, 5.0, 4.0], 'b': [NaN, 2.0, NaN], 'c': [6.0, NaN, NaN]}.
        let mean = pivot(AggFunc::Mean);
        assert_eq!(floats(&mean, "a"), [Some(4.5), Some(5.0), Some(4.0)]);
        assert_eq!(floats(&mean, "b"), [None, Some(2.0), None]);
        assert_eq!(floats(&mean, "c"), [Some(6.0), None, None]);
        // aggfunc='count': {'a': [2, 1, 1], 'b': [0, 1, NaN], 'c': [1, NaN, NaN]}.
        let count = pivot(AggFunc::Count);
        assert_eq!(ints(&count, "a"), [Some(2), Some(1), Some(1)]);
        assert_eq!(ints(&count, "b"), [Some(0), Some(1), None]);
        assert_eq!(ints(&count, "c"), [Some(1), None, None]);
        // aggfunc='min' and 'max': {'a': [1, 5, 4]} and {'a': [8, 5, 4]}, 'b': [NaN, 2, NaN].
        let min = pivot(AggFunc::Min);
        assert_eq!(ints(&min, "a"), [Some(1), Some(5), Some(4)]);
        assert_eq!(ints(&min, "b"), [None, Some(2), None]);
        let max = pivot(AggFunc::Max);
        assert_eq!(ints(&max, "a"), [Some(8), Some(5), Some(4)]);
        assert_eq!(max.columns(), ["day", "a", "b", "c"]);
    }
}

#[test]
fn melt_answers_as_pandas() {
    // df.melt(id_vars=['day'], value_vars=['sold', 'price']): every 'sold' row, then every
    // 'price' row, the values as float64.
    let long = shops(3)
        .melt(&["day"], &["sold", "price"], "variable", "value")
        .unwrap();
    assert_eq!(long.columns(), ["day", "variable", "value"]);
    let days = ["mon", "tue", "mon", "wed", "tue", "mon", "wed", "mon"];
    let want_days: Vec<Option<String>> = days
        .iter()
        .chain(&days)
        .map(|d| Some(d.to_string()))
        .collect();
    assert_eq!(
        long.column("day").unwrap().to_vec::<String>().unwrap(),
        want_days
    );
    let vars = long.column("variable").unwrap().to_vec::<String>().unwrap();
    assert!(vars[..8].iter().all(|v| v.as_deref() == Some("sold")));
    assert!(vars[8..].iter().all(|v| v.as_deref() == Some("price")));
    let values = long.column("value").unwrap().to_vec::<f64>().unwrap();
    let want = [
        Some(1.0),
        Some(2.0),
        None,
        Some(4.0),
        Some(5.0),
        Some(6.0),
        Some(7.0),
        Some(8.0),
        Some(1.5),
        Some(2.5),
        Some(3.5),
        Some(4.5),
        Some(5.5),
        Some(6.5),
        Some(7.5),
        Some(8.5),
    ];
    assert_eq!(values, want);
}

#[test]
fn reshapes_refuse_what_does_not_fit() {
    let df = shops(2);
    let err = df.melt(&["nope"], &[], "variable", "value").unwrap_err();
    assert!(err.to_string().contains("no column \"nope\""), "{err}");
    let err = df.melt(&["day"], &[], "day", "value").unwrap_err();
    assert!(err.to_string().contains("id column"), "{err}");
    let err = df
        .pivot_table(&["day"], "price", "sold", AggFunc::Sum)
        .unwrap_err();
    assert!(err.to_string().contains("a float64 column"), "{err}");
    let err = df
        .pivot_table(&["day"], "shop", "sold", AggFunc::Size)
        .unwrap_err();
    assert!(err.to_string().contains("not size"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn melt_matches_a_sequential_evaluation(
        rows in prop::collection::vec((0_i64..5, prop::option::of(-9_i64..9), -9_i64..9), 0..30),
        cuts in prop::collection::vec(0_usize..40, 0..5),
    ) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("x", DataType::Int64, true),
            Field::new("y", DataType::Int64, false),
        ]));
        let parts = cuts::ranges(rows.len(), &cuts)
            .into_iter()
            .map(|r| {
                let rows = &rows[r];
                RecordBatch::try_new(schema.clone(), vec![
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                    Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
                ]).unwrap()
            })
            .collect();
        let df = DataFrame::from_batches(parts).unwrap();
        let long = df.melt(&["k"], &[], "var", "val").unwrap();
        let mut want_k = Vec::new();
        let mut want_var = Vec::new();
        let mut want_val = Vec::new();
        for (name, pick) in [("x", 0), ("y", 1)] {
            for r in &rows {
                want_k.push(Some(r.0));
                want_var.push(Some(name.to_string()));
                want_val.push(if pick == 0 { r.1 } else { Some(r.2) });
            }
        }
        prop_assert_eq!(long.column("k").unwrap().to_vec::<i64>().unwrap(), want_k);
        prop_assert_eq!(long.column("var").unwrap().to_vec::<String>().unwrap(), want_var);
        prop_assert_eq!(long.column("val").unwrap().to_vec::<i64>().unwrap(), want_val);
    }
}
