//! `describe` against statistics computed directly from the values, under random partitionings.

use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use partita::prelude::*;
use proptest::prelude::*;

/// pandas' statistics of the non-null values: count, mean, std (ddof 1), min, quartiles, max.
fn reference(xs: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut v: Vec<f64> = xs.iter().flatten().copied().collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return vec![Some(0.0), None, None, None, None, None, None, None];
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    let std = if n > 1 {
        Some((v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt())
    } else {
        None
    };
    let q = |q: f64| {
        let pos = q * (n - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
    };
    vec![
        Some(n as f64),
        Some(mean),
        std,
        Some(v[0]),
        q(0.25),
        q(0.5),
        q(0.75),
        Some(v[n - 1]),
    ]
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => {
            x.is_nan() && y.is_nan() || (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs()))
        }
        (Some(x), None) | (None, Some(x)) => x.is_nan(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn describe_matches_direct_statistics(
        rows in prop::collection::vec((prop::option::weighted(0.85, -1000_i64..1000), -1e3..1e3_f64), 1..80),
        n in 1_usize..7,
    ) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("i", DataType::Int64, true),
            Field::new("f", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(schema, vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "x"))),
            Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>()),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.1))),
        ]).unwrap();
        let d = DataFrame::from_arrow(batch, n).unwrap().describe().unwrap();
        let names: Vec<String> = d.schema().fields().iter().map(|f| f.name().clone()).collect();
        prop_assert_eq!(names, vec!["statistic".to_string(), "i".into(), "f".into()]);
        let col = |c: &str| -> Vec<Option<f64>> {
            let a = d.column_by_name(c).unwrap().as_any().downcast_ref::<Float64Array>().unwrap().clone();
            (0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i))).collect()
        };
        let want_i = reference(&rows.iter().map(|r| r.0.map(|v| v as f64)).collect::<Vec<_>>());
        let want_f = reference(&rows.iter().map(|r| Some(r.1)).collect::<Vec<_>>());
        for (got, want) in [(col("i"), want_i), (col("f"), want_f)] {
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                prop_assert!(close(*g, *w), "statistic {} : {:?} vs {:?}", k, g, w);
            }
        }
    }
}

#[test]
fn a_frame_without_numbers_cannot_be_described() {
    let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
    let b = RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec!["a"]))]).unwrap();
    let err = DataFrame::from_batches(vec![b])
        .unwrap()
        .describe()
        .unwrap_err()
        .to_string();
    assert!(err.contains("no numeric column"), "{err}");
}
