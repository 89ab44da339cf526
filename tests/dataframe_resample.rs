//! `resample(on, every).agg(...)` against pandas' answers (written down below with the pandas
//! code that gave them), across partitionings, with empty bins inside and across partitions.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use partita::collections::{col, count, max, mean, sum, Agg, AggFunc, DataFrame, DtUnit, Every};

/// pandas: `t = pd.to_datetime(['2024-01-01 00:10', '2024-01-01 00:20', '2024-01-01 02:05',
/// '2024-01-01 02:59', None, '2024-01-01 05:00', '2023-12-31 23:59'])`, `df =
/// pd.DataFrame({'t': t, 'x': pd.array([1, 2, 3, None, 5, 6, 7], dtype='Int64'), 'y': [0.5,
/// 1.5, 2.5, 3.5, 4.5, 5.5, 6.5]})`.
fn frame(npartitions: usize) -> DataFrame {
    let t = StringArray::from(vec![
        Some("2024-01-01T00:10:00"),
        Some("2024-01-01T00:20:00"),
        Some("2024-01-01T02:05:00"),
        Some("2024-01-01T02:59:00"),
        None,
        Some("2024-01-01T05:00:00"),
        Some("2023-12-31T23:59:00"),
    ]);
    let x = Int64Array::from(vec![
        Some(1),
        Some(2),
        Some(3),
        None,
        Some(5),
        Some(6),
        Some(7),
    ]);
    let y = Float64Array::from(vec![0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
    let batch = RecordBatch::try_from_iter([
        ("t", Arc::new(t) as _),
        ("x", Arc::new(x) as _),
        ("y", Arc::new(y) as _),
    ])
    .unwrap();
    DataFrame::from_arrow(batch, npartitions)
        .unwrap()
        .with_column("t", col("t").to_datetime(None))
        .unwrap()
}

fn strings(d: &DataFrame, c: &str) -> Vec<String> {
    d.column(c)
        .unwrap()
        .to_vec::<String>()
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect()
}

#[test]
fn hourly_bins_answer_as_pandas() {
    // df.resample('1h', on='t').agg({'x': ['sum', 'count', 'mean', 'max'], 'y': ['mean', 'size']}):
    //                       x                      y
    //                     sum count  mean   max mean size
    // 2023-12-31 23:00:00   7     1   7.0     7  6.5    1
    // 2024-01-01 00:00:00   3     2   1.5     2  1.0    2
    // 2024-01-01 01:00:00   0     0  <NA>  <NA>  NaN    0
    // 2024-01-01 02:00:00   3     1   3.0     3  3.0    2
    // 2024-01-01 03:00:00   0     0  <NA>  <NA>  NaN    0
    // 2024-01-01 04:00:00   0     0  <NA>  <NA>  NaN    0
    // 2024-01-01 05:00:00   6     1   6.0     6  5.5    1
    for parts in [1, 2, 3, 7] {
        let aggs = [
            sum("x"),
            count("x"),
            mean("x"),
            max("x"),
            mean("y"),
            Agg::new("y", AggFunc::Size),
        ];
        let out = frame(parts)
            .resample("t", Duration::from_secs(3600))
            .unwrap()
            .agg(aggs)
            .unwrap();
        let hours: Vec<String> = [
            "2023-12-31T23",
            "2024-01-01T00",
            "2024-01-01T01",
            "2024-01-01T02",
            "2024-01-01T03",
            "2024-01-01T04",
            "2024-01-01T05",
        ]
        .iter()
        .map(|h| format!("{h}:00:00"))
        .collect();
        assert_eq!(strings(&out, "t"), hours, "{parts} partitions");
        let ints = |c: &str| out.column(c).unwrap().to_vec::<i64>().unwrap();
        let floats = |c: &str| out.column(c).unwrap().to_vec::<f64>().unwrap();
        let some = |v: &[i64]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
        assert_eq!(
            ints("x_sum"),
            some(&[7, 3, 0, 3, 0, 0, 6]),
            "{parts} partitions"
        );
        assert_eq!(ints("x_count"), some(&[1, 2, 0, 1, 0, 0, 1]));
        assert_eq!(
            floats("x_mean"),
            [Some(7.0), Some(1.5), None, Some(3.0), None, None, Some(6.0)]
        );
        assert_eq!(
            ints("x_max"),
            [Some(7), Some(2), None, Some(3), None, None, Some(6)]
        );
        assert_eq!(
            floats("y_mean"),
            [Some(6.5), Some(1.0), None, Some(3.0), None, None, Some(5.5)]
        );
        assert_eq!(ints("size"), some(&[1, 2, 0, 2, 0, 0, 1]));
    }
}

#[test]
fn calendar_and_fixed_bins_answer_as_pandas() {
    // df.resample('MS', on='t').agg({'x': ['sum'], 'y': ['mean']}):
    // 2023-12-01: 7, 6.5; 2024-01-01: 12, 2.7.
    let out = frame(3)
        .resample("t", Every::Month)
        .unwrap()
        .agg([sum("x"), mean("y")])
        .unwrap();
    assert_eq!(
        strings(&out, "t"),
        ["2023-12-01T00:00:00", "2024-01-01T00:00:00"]
    );
    assert_eq!(
        out.column("x_sum").unwrap().to_vec::<i64>().unwrap(),
        [Some(7), Some(12)]
    );
    let y = out.column("y_mean").unwrap().to_vec::<f64>().unwrap();
    assert!((y[1].unwrap() - 2.7).abs() < 1e-12, "{y:?}");
    // df.resample('15min', on='t').agg({'x': ['sum']}): 22 bins from 2023-12-31 23:45, the
    // sums starting [7, 1, 2, 0].
    let out = frame(2)
        .resample("t", Duration::from_secs(900))
        .unwrap()
        .agg([sum("x")])
        .unwrap();
    let bins = strings(&out, "t");
    assert_eq!(bins.len(), 22);
    assert_eq!(bins[0], "2023-12-31T23:45:00");
    let sums = out.column("x_sum").unwrap().to_vec::<i64>().unwrap();
    assert_eq!(sums[..4], [Some(7), Some(1), Some(2), Some(0)]);
    // Units name their bins too; a day holds everything here but the first row of 2023.
    let out = frame(2)
        .resample("t", DtUnit::Day)
        .unwrap()
        .agg([count("y")])
        .unwrap();
    assert_eq!(
        out.column("y_count").unwrap().to_vec::<i64>().unwrap(),
        [Some(1), Some(5)]
    );
}

#[test]
fn resample_refuses_what_does_not_fit() {
    let df = frame(2);
    let err = df.resample("x", DtUnit::Day).unwrap_err().to_string();
    assert!(err.contains("not dates or times"), "{err}");
    let err = df.resample("t", Duration::ZERO).unwrap_err().to_string();
    assert!(err.contains("positive width"), "{err}");
    assert!(df.resample("nope", DtUnit::Day).is_err());
}
