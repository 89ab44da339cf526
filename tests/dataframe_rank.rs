//! `rank` over the whole frame: pandas' answers on a small series (written down below with the
//! pandas code that gave them), and a proptest against the definition (each value's rank
//! counted over every other value) under random partitionings.

#[path = "common/cuts.rs"]
mod cuts;

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use partita::collections::{DataFrame, RankMethod};
use proptest::prelude::*;

const METHODS: [RankMethod; 4] = [
    RankMethod::Average,
    RankMethod::Min,
    RankMethod::Max,
    RankMethod::Dense,
];

#[test]
fn ranks_answer_as_pandas() {
    // s = pd.Series([3.0, 1.0, np.nan, 3.0, 2.0, 3.0, -1.0]); s.rank(method=m, ascending=a)
    let s = Float64Array::from(vec![3.0, 1.0, f64::NAN, 3.0, 2.0, 3.0, -1.0]);
    let batch = RecordBatch::try_from_iter([("s", Arc::new(s) as _)]).unwrap();
    let want: [([f64; 7], [f64; 7]); 4] = [
        (
            [5.0, 2.0, -9.0, 5.0, 3.0, 5.0, 1.0],
            [2.0, 5.0, -9.0, 2.0, 4.0, 2.0, 6.0],
        ),
        (
            [4.0, 2.0, -9.0, 4.0, 3.0, 4.0, 1.0],
            [1.0, 5.0, -9.0, 1.0, 4.0, 1.0, 6.0],
        ),
        (
            [6.0, 2.0, -9.0, 6.0, 3.0, 6.0, 1.0],
            [3.0, 5.0, -9.0, 3.0, 4.0, 3.0, 6.0],
        ),
        (
            [4.0, 2.0, -9.0, 4.0, 3.0, 4.0, 1.0],
            [1.0, 3.0, -9.0, 1.0, 2.0, 1.0, 4.0],
        ),
    ];
    // -9 stands for pandas' NaN: a null here.
    let as_opts = |w: &[f64; 7]| -> Vec<Option<f64>> {
        w.iter().map(|&v| (v != -9.0).then_some(v)).collect()
    };
    for parts in [1, 3, 7] {
        let df = DataFrame::from_arrow(batch.clone(), parts).unwrap();
        for (method, (up, down)) in METHODS.iter().zip(&want) {
            let got = |asc| {
                df.rank("s", *method, asc)
                    .unwrap()
                    .column("s")
                    .unwrap()
                    .to_vec::<f64>()
                    .unwrap()
            };
            assert_eq!(
                got(true),
                as_opts(up),
                "{method:?} ascending, {parts} partitions"
            );
            assert_eq!(
                got(false),
                as_opts(down),
                "{method:?} descending, {parts} partitions"
            );
        }
    }
}

#[test]
fn rank_needs_a_numeric_column() {
    let batch = RecordBatch::try_from_iter([(
        "s",
        Arc::new(arrow::array::StringArray::from(vec!["a"])) as _,
    )])
    .unwrap();
    let df = DataFrame::from_arrow(batch, 1).unwrap();
    let err = df
        .rank("s", RankMethod::Average, true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("a string column"), "{err}");
    assert!(df.rank("nope", RankMethod::Min, true).is_err());
}

/// Each value's rank by the definition, over every value of the column.
fn definition(xs: &[Option<i64>], method: RankMethod, ascending: bool) -> Vec<Option<f64>> {
    let values: Vec<i64> = xs.iter().flatten().copied().collect();
    let mut distinct = values.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if !ascending {
        distinct.reverse();
    }
    xs.iter()
        .map(|x| {
            let x = (*x)?;
            let before = values
                .iter()
                .filter(|&&v| if ascending { v < x } else { v > x })
                .count() as f64;
            let ties = values.iter().filter(|&&v| v == x).count() as f64;
            Some(match method {
                RankMethod::Average => before + (ties + 1.0) / 2.0,
                RankMethod::Min => before + 1.0,
                RankMethod::Max => before + ties,
                RankMethod::Dense => distinct.iter().position(|&d| d == x).unwrap() as f64 + 1.0,
            })
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn ranks_match_their_definition(
        xs in prop::collection::vec(prop::option::weighted(0.85, -6_i64..6), 0..40),
        cuts in prop::collection::vec(0_usize..50, 0..6),
        ascending: bool,
    ) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("i", DataType::Int64, true),
            Field::new("f", DataType::Float64, true),
        ]));
        let parts = cuts::ranges(xs.len(), &cuts)
            .into_iter()
            .map(|r| {
                let xs = &xs[r];
                RecordBatch::try_new(schema.clone(), vec![
                    Arc::new(Int64Array::from(xs.to_vec())),
                    Arc::new(Float64Array::from(
                        xs.iter().map(|x| x.map(|v| v as f64 / 2.0)).collect::<Vec<_>>(),
                    )),
                ]).unwrap()
            })
            .collect();
        let df = DataFrame::from_batches(parts).unwrap();
        for method in METHODS {
            let want = definition(&xs, method, ascending);
            for column in ["i", "f"] {
                let got = df.rank(column, method, ascending).unwrap();
                prop_assert_eq!(got.column(column).unwrap().to_vec::<f64>().unwrap(), want.clone());
            }
        }
    }
}
