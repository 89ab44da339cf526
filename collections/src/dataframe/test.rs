use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};

use super::*;
use crate::dataframe::groupby::{count, first, last, max, min};

/// The seed's people table: 10 rows.
fn people() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("Person ID", DataType::Int64, false),
        Field::new("Last name", DataType::Utf8, false),
        Field::new("First name", DataType::Utf8, false),
        Field::new("Age", DataType::Int64, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10])),
            Arc::new(StringArray::from(vec![
                "Smith", "Williams", "Williams", "Jones", "Smith", "Brown", "Davis", "Miller",
                "Wilson", "Moore",
            ])),
            Arc::new(StringArray::from(vec![
                "John", "Bill", "Jane", "Cathy", "Mary", "Kim", "Lee", "Ann", "Sam", "Tom",
            ])),
            Arc::new(Int64Array::from(vec![
                42, 29, 31, 35, 28, 41, 33, 25, 52, 37,
            ])),
        ],
    )
    .unwrap()
}

fn rt() -> Runtime {
    Runtime::builder().threads(2).build().unwrap()
}

fn labels(b: &RecordBatch) -> Vec<u64> {
    b.column(0)
        .as_any()
        .downcast_ref::<UInt64Array>()
        .unwrap()
        .values()
        .to_vec()
}

#[test]
fn the_index_restarts_in_each_partition_as_in_the_seed() {
    let df = DataFrame::from_arrow(people(), 2).unwrap();
    let out = df.compute().unwrap();
    assert_eq!(labels(&out), vec![0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    let global = df.reset_index().unwrap();
    assert_eq!(labels(&global), (0..10).collect::<Vec<_>>());
    let head = df.head(7).unwrap();
    assert_eq!(labels(&head), vec![0, 1, 2, 3, 4, 0, 1]);
}

#[test]
fn structure_is_known_without_computing() {
    let df = DataFrame::from_arrow(people(), 2).unwrap();
    assert_eq!(df.npartitions(), 2);
    assert_eq!(
        df.columns(),
        ["Person ID", "Last name", "First name", "Age"]
    );
    assert_eq!(
        df.dtypes(),
        vec![
            ("Person ID".to_string(), "int64".to_string()),
            ("Last name".into(), "string".into()),
            ("First name".into(), "string".into()),
            ("Age".into(), "int64".into()),
        ]
    );
    let shown = df.to_string();
    assert!(shown.contains("npartitions=2"), "{shown}");
    assert!(
        shown.contains("Last name") && shown.contains("string"),
        "{shown}"
    );
    assert!(shown.ends_with("2 tasks"), "{shown}");
    assert!(df.divisions().is_none());
}

#[test]
fn row_wise_operations_match_a_sequential_evaluation() {
    let full = people();
    for n in 1..=4 {
        let df = DataFrame::from_arrow(full.clone(), n).unwrap();
        let q = df
            .filter(
                col("Age")
                    .gt(lit(30))
                    .and(!col("Last name").starts_with("W")),
            )
            .unwrap()
            .with_column("Age next year", col("Age") + lit(1))
            .unwrap()
            .with_column("Half age", col("Age") / lit(2))
            .unwrap()
            .rename(&[("First name", "Given")])
            .unwrap()
            .drop(&["Person ID"])
            .unwrap();
        // Everything fuses into one task per partition on top of the source.
        assert_eq!(rt().optimize(&q.graph(), &q.keys()).unwrap().len(), n);
        let out = q.reset_index().unwrap();
        // The reference, by hand: ages > 30 whose last name does not start with W (Smith 42,
        // Jones 35, Brown 41, Davis 33, Moore 37).
        let ages = [42_i64, 35, 41, 33, 37];
        assert_eq!(out.num_rows(), ages.len());
        let got_age = out
            .column_by_name("Age")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(got_age.values(), &ages);
        let next = out
            .column_by_name("Age next year")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(next.values(), &ages.map(|a| a + 1));
        let half = out
            .column_by_name("Half age")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(half.values(), &ages.map(|a| a as f64 / 2.0));
        assert_eq!(
            q.columns(),
            ["Last name", "Given", "Age", "Age next year", "Half age"]
        );
        assert_eq!(out.schema().field(0).name(), "index");
    }
}

#[test]
fn select_expressions_cast_and_string_functions() {
    let df = DataFrame::from_arrow(people(), 3).unwrap();
    let q = df
        .select([
            col("First name").str_len().alias("len"),
            col("Last name").contains("ill").alias("has_ill"),
            col("Age").cast(ColumnType::Float64).alias("age_f"),
            col("Age").is_null().alias("missing"),
        ])
        .unwrap();
    assert_eq!(
        q.dtypes().into_iter().map(|(_, t)| t).collect::<Vec<_>>(),
        ["int32", "bool", "float64", "bool"]
    );
    let out = q.reset_index().unwrap();
    let len = out
        .column_by_name("len")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::Int32Array>()
        .unwrap();
    assert_eq!(len.values(), &[4, 4, 4, 5, 4, 3, 3, 3, 3, 3]);
    let ill = out
        .column_by_name("has_ill")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::BooleanArray>()
        .unwrap();
    let expect: Vec<bool> = people()
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .iter()
        .map(|s| s.unwrap().contains("ill"))
        .collect();
    assert_eq!(ill.iter().map(Option::unwrap).collect::<Vec<_>>(), expect);
}

#[test]
fn mistakes_are_reported_when_the_query_is_written() {
    let df = DataFrame::from_arrow(people(), 2).unwrap();
    let err = df.filter(col("Agee").gt(lit(3))).unwrap_err().to_string();
    assert!(err.contains("no column \"Agee\""), "{err}");
    assert!(err.contains("\"Age\""), "{err}");
    let err = df.filter(col("Age") + lit(1)).unwrap_err().to_string();
    assert!(err.contains("filter needs a boolean"), "{err}");
    let err = df
        .select([col("Last name") * lit(2)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot apply Mul to string and int64"),
        "{err}"
    );
    assert!(df.drop(&["nope"]).is_err());
    assert!(df.select([col("Age").starts_with("4")]).is_err());
}

#[test]
fn isin_matches_a_sequential_membership_test() {
    // Values with nulls, and lists short enough to scan and long enough to hash.
    let values: Vec<Option<i64>> = (0..300)
        .map(|i| (i % 7 != 3).then_some((i * 37) % 101))
        .collect();
    let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
    let batch =
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.clone()))]).unwrap();
    let df = DataFrame::from_arrow(batch, 3).unwrap();
    let short: Vec<i64> = vec![0, 5, 17, 99];
    let long: Vec<i64> = (0..40).map(|i| i * 3).collect();
    for (list, with_null) in [
        (&short, false),
        (&long, false),
        (&short, true),
        (&long, true),
    ] {
        let mut literals: Vec<Literal> = list.iter().map(|&v| Literal::Int(v)).collect();
        // A float that is an integer matches it; one that is not matches nothing.
        literals.push(Literal::Float(2.0));
        literals.push(Literal::Float(4.5));
        if with_null {
            literals.push(Literal::Null);
        }
        let out = df
            .select([col("v").isin(literals.clone()).alias("hit")])
            .unwrap()
            .compute()
            .unwrap();
        let got: Vec<Option<bool>> = out
            .column_by_name("hit")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::BooleanArray>()
            .unwrap()
            .iter()
            .collect();
        let expected: Vec<Option<bool>> = values
            .iter()
            .map(|v| {
                Some(match v {
                    None => with_null,
                    Some(v) => list.contains(v) || *v == 2,
                })
            })
            .collect();
        assert_eq!(
            got,
            expected,
            "list of {} with null {with_null}",
            list.len()
        );
    }
}

#[test]
fn isin_filters_strings_and_checks_types_when_written() {
    let df = DataFrame::from_arrow(people(), 3).unwrap();
    let smiths = df
        .filter(col("Last name").isin(["Smith", "Moore", "Nobody"]))
        .unwrap()
        .compute()
        .unwrap();
    let ids = smiths
        .column_by_name("Person ID")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .values()
        .to_vec();
    assert_eq!(ids, [1, 5, 10]);
    let err = df.filter(col("Age").isin(["42"])).unwrap_err().to_string();
    assert!(
        err.contains("isin: Age is int64, but the value Str(\"42\") is string"),
        "{err}"
    );
    let err = df
        .filter(col("Last name").isin([1]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("isin: Last name is string"), "{err}");
    // An empty list matches nothing.
    let none = df.filter(col("Age").isin(Vec::<i64>::new())).unwrap();
    assert_eq!(none.len().unwrap(), 0);
}

/// Values with nulls, negatives and NaN, for the expression tests.
fn mixed_values() -> RecordBatch {
    let n = 97;
    let a: Vec<Option<i64>> = (0..n)
        .map(|i| (i % 11 != 5).then_some(i * 7 % 23 - 11))
        .collect();
    let b: Vec<Option<f64>> = (0..n)
        .map(|i| match i % 13 {
            4 => None,
            9 => Some(f64::NAN),
            _ => Some((i as f64 - 48.0) / 8.0),
        })
        .collect();
    let s: Vec<Option<String>> = (0..n)
        .map(|i| {
            (i % 17 != 3).then(|| format!("  Item-{i}-{} ", ["ab", "CD", "éF"][i as usize % 3]))
        })
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(a)),
            Arc::new(Float64Array::from(b)),
            Arc::new(StringArray::from(s)),
        ],
    )
    .unwrap()
}

fn column_i64(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let c = b.column_by_name(name).unwrap();
    c.as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .iter()
        .collect()
}

fn column_f64(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let c = b.column_by_name(name).unwrap();
    c.as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .iter()
        .collect()
}

fn column_str(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let c = b.column_by_name(name).unwrap();
    let c = c.as_any().downcast_ref::<StringArray>().unwrap();
    c.iter().map(|s| s.map(str::to_string)).collect()
}

/// Strings as an Arrow array.
fn batch_s(values: &[Option<String>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

/// Floats equal as bits where NaN, by value elsewhere.
fn same_floats(got: &[Option<f64>], want: &[Option<f64>]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(g, w)| match (g, w) {
            (Some(g), Some(w)) => (g.is_nan() && w.is_nan()) || g == w,
            (None, None) => true,
            _ => false,
        })
}

#[test]
fn conditional_and_numeric_expressions_match_a_sequential_evaluation() {
    let batch = mixed_values();
    let a: Vec<Option<i64>> = column_i64(&batch, "a");
    let b: Vec<Option<f64>> = column_f64(&batch, "b");
    for parts in [1, 4, 9] {
        let df = DataFrame::from_arrow(batch.clone(), parts).unwrap();
        let out = df
            .select([
                when(col("a").gt(lit(0)))
                    .then(col("a"))
                    .otherwise(lit(0))
                    .alias("pos"),
                (col("a") % lit(7)).alias("rem"),
                col("a").abs().alias("abs"),
                col("a").fill_null(-1).alias("filled"),
                col("b").round(1).alias("round"),
                col("b").clip(-1.0, 1.0).alias("clip"),
                coalesce([col("b"), col("a"), lit(100)]).alias("first"),
                when(col("b").is_null())
                    .then(lit(0.5))
                    .otherwise(col("a"))
                    .alias("mix"),
            ])
            .unwrap()
            .compute()
            .unwrap();
        let python_rem = |x: i64, y: i64| ((x % y) + y) % y;
        let want_pos: Vec<Option<i64>> = a
            .iter()
            .map(|x| Some(x.filter(|&x| x > 0).unwrap_or(0)))
            .collect();
        assert_eq!(column_i64(&out, "pos"), want_pos, "{parts} parts");
        let want_rem: Vec<Option<i64>> = a.iter().map(|x| x.map(|x| python_rem(x, 7))).collect();
        assert_eq!(column_i64(&out, "rem"), want_rem);
        let want_abs: Vec<Option<i64>> = a.iter().map(|x| x.map(i64::abs)).collect();
        assert_eq!(column_i64(&out, "abs"), want_abs);
        let want_filled: Vec<Option<i64>> = a.iter().map(|x| Some(x.unwrap_or(-1))).collect();
        assert_eq!(column_i64(&out, "filled"), want_filled);
        let want_round: Vec<Option<f64>> = b
            .iter()
            .map(|x| x.map(|x| (x * 10.0).round_ties_even() / 10.0))
            .collect();
        assert!(same_floats(&column_f64(&out, "round"), &want_round));
        let want_clip: Vec<Option<f64>> = b
            .iter()
            .map(|x| x.map(|x| if x.is_nan() { x } else { x.clamp(-1.0, 1.0) }))
            .collect();
        assert!(same_floats(&column_f64(&out, "clip"), &want_clip));
        let want_first: Vec<Option<f64>> = b
            .iter()
            .zip(&a)
            .map(|(b, a)| Some(b.or(a.map(|a| a as f64)).unwrap_or(100.0)))
            .collect();
        assert!(same_floats(&column_f64(&out, "first"), &want_first));
        let want_mix: Vec<Option<f64>> = b
            .iter()
            .zip(&a)
            .map(|(b, a)| {
                if b.is_none() {
                    Some(0.5)
                } else {
                    a.map(|a| a as f64)
                }
            })
            .collect();
        assert!(same_floats(&column_f64(&out, "mix"), &want_mix));
        // between keeps both ends, and filters as pandas does.
        let inside = df
            .filter(col("a").between(lit(-3), lit(3)))
            .unwrap()
            .compute()
            .unwrap();
        let want: Vec<Option<i64>> = a
            .iter()
            .filter(|x| x.is_some_and(|x| (-3..=3).contains(&x)))
            .copied()
            .collect();
        assert_eq!(column_i64(&inside, "a"), want);
    }
}

#[test]
fn string_methods_match_a_sequential_evaluation() {
    let batch = mixed_values();
    let s = column_str(&batch, "s");
    let df = DataFrame::from_arrow(batch, 5).unwrap();
    let out = df
        .select([
            col("s").str().strip().str().upper().alias("upper"),
            col("s").str().lower().alias("lower"),
            col("s").str().split_get("-", 1).alias("number"),
            col("s").str().extract(r"-(\d+)-", 1).alias("extracted"),
            col("s").str().replace_regex(r"\d", "#").alias("hashed"),
            col("s").str().contains(r"[CD]{2}").alias("has_cd"),
            col("s").str().slice(2, Some(6)).alias("sliced"),
            col("s").str().strip().str().cat(lit("x"), "+").alias("cat"),
        ])
        .unwrap()
        .compute()
        .unwrap();
    let each = |f: &dyn Fn(&str) -> String| -> Vec<Option<String>> {
        s.iter().map(|v| v.as_deref().map(f)).collect()
    };
    assert_eq!(
        column_str(&out, "upper"),
        each(&|v| v.trim().to_uppercase())
    );
    assert_eq!(column_str(&out, "lower"), each(&|v| v.to_lowercase()));
    assert_eq!(
        column_str(&out, "number"),
        each(&|v| v.split('-').nth(1).unwrap().to_string())
    );
    assert_eq!(column_str(&out, "extracted"), column_str(&out, "number"));
    assert_eq!(
        column_str(&out, "hashed"),
        each(&|v| v
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect())
    );
    assert_eq!(
        column_str(&out, "sliced"),
        each(&|v| v.chars().skip(2).take(4).collect())
    );
    assert_eq!(
        column_str(&out, "cat"),
        each(&|v| format!("{}+x", v.trim()))
    );
    let has_cd: Vec<Option<bool>> = out
        .column_by_name("has_cd")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::BooleanArray>()
        .unwrap()
        .iter()
        .collect();
    let want: Vec<Option<bool>> = s
        .iter()
        .map(|v| v.as_ref().map(|v| v.contains("CD")))
        .collect();
    assert_eq!(has_cd, want);
    // Dictionary-encoded strings take the methods too.
    let dict_type = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let codes = arrow::compute::cast(&batch_s(&s), &dict_type).unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new("c", dict_type, true)]));
    let coded =
        DataFrame::from_arrow(RecordBatch::try_new(schema, vec![codes]).unwrap(), 3).unwrap();
    let upper = coded
        .select([col("c").str().upper().alias("u")])
        .unwrap()
        .compute()
        .unwrap();
    assert_eq!(column_str(&upper, "u"), each(&|v| v.to_uppercase()));
    // Mistakes are reported when the query is written.
    let err = df.select([col("a").str().upper()]).unwrap_err().to_string();
    assert!(err.contains("not a string"), "{err}");
    let err = df
        .select([col("s").str().contains("(")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not compile"), "{err}");
    let err = df.select([col("s").abs()]).unwrap_err().to_string();
    assert!(err.contains("needs numbers"), "{err}");
    let err = df
        .select([when(col("a").gt(lit(0))).then(lit("x")).otherwise(lit(1))])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no common type"), "{err}");
}

#[test]
fn dates_parse_group_by_month_and_compute_with_durations() {
    // 200 tickets, one every 1.7 days from 2017-01-03, as "MM/DD/YYYY" strings, with nulls.
    let start = chrono::NaiveDate::from_ymd_opt(2017, 1, 3).unwrap();
    let days: Vec<Option<chrono::NaiveDate>> = (0..200_i64)
        .map(|i| (i % 23 != 7).then(|| start + chrono::Days::new((i * 17 / 10) as u64)))
        .collect();
    let text: Vec<Option<String>> = days
        .iter()
        .map(|d| d.map(|d| d.format("%m/%d/%Y").to_string()))
        .collect();
    let schema = Arc::new(Schema::new(vec![Field::new(
        "issued",
        DataType::Utf8,
        true,
    )]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(text))]).unwrap();
    // The reference: tickets per month, by hand.
    let mut per_month = std::collections::BTreeMap::<String, i64>::new();
    for d in days.iter().flatten() {
        *per_month.entry(d.format("%Y-%m").to_string()).or_default() += 1;
    }
    for parts in [1, 3, 8] {
        let df = DataFrame::from_arrow(batch.clone(), parts)
            .unwrap()
            .with_column("when", col("issued").to_datetime(Some("%m/%d/%Y")))
            .unwrap()
            .with_column("month", col("when").dt().strftime("%Y-%m"))
            .unwrap();
        let counts = df
            .groupby(&["month"])
            .unwrap()
            .agg([
                count("when"),
                min("when"),
                max("when"),
                first("when"),
                last("when"),
            ])
            .unwrap()
            .reset_index()
            .unwrap();
        let months = column_str(&counts, "month");
        let n = column_i64(&counts, "when_count");
        let got: std::collections::BTreeMap<String, i64> = months
            .into_iter()
            .zip(n)
            .filter_map(|(m, n)| Some((m?, n?)))
            .collect();
        assert_eq!(got, per_month, "{parts} parts");
        assert_eq!(
            counts
                .schema()
                .field_with_name("when_min")
                .unwrap()
                .data_type(),
            &DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, None)
        );
        // Each month's least and greatest day, as the reference has them.
        let text = |c: &str| {
            let dates = counts.column_by_name(c).unwrap();
            let dates = arrow::compute::cast(dates, &DataType::Date32).unwrap();
            let dates = arrow::compute::cast(&dates, &DataType::Utf8).unwrap();
            dates
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .iter()
                .map(|s| s.map(str::to_string))
                .collect::<Vec<_>>()
        };
        for ((month, least), greatest) in column_str(&counts, "month")
            .into_iter()
            .zip(text("when_min"))
            .zip(text("when_max"))
        {
            let Some(month) = month else { continue };
            let mine: Vec<String> = days
                .iter()
                .flatten()
                .filter(|d| d.format("%Y-%m").to_string() == month)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .collect();
            assert_eq!(least.as_ref(), mine.iter().min(), "{month}");
            assert_eq!(greatest.as_ref(), mine.iter().max(), "{month}");
        }
        // A week later, and the gap back: durations.
        let week = Literal::from(std::time::Duration::from_secs(7 * 86_400));
        let later = df
            .select([
                (col("when") + lit(week.clone()))
                    .dt()
                    .strftime("%Y-%m-%d")
                    .alias("later"),
                ((col("when") + lit(week)) - col("when")).alias("gap"),
                col("when").dt().weekday().alias("weekday"),
            ])
            .unwrap()
            .compute()
            .unwrap();
        let want: Vec<Option<String>> = days
            .iter()
            .map(|d| d.map(|d| (d + chrono::Days::new(7)).format("%Y-%m-%d").to_string()))
            .collect();
        assert_eq!(column_str(&later, "later"), want);
        let gap = later.column_by_name("gap").unwrap();
        let gap = gap
            .as_any()
            .downcast_ref::<arrow::array::DurationNanosecondArray>()
            .unwrap();
        assert!(gap
            .iter()
            .flatten()
            .all(|g| g == 7 * 86_400 * 1_000_000_000));
        let weekday = later.column_by_name("weekday").unwrap();
        let weekday = weekday
            .as_any()
            .downcast_ref::<arrow::array::Int32Array>()
            .unwrap();
        let want: Vec<Option<i32>> = days
            .iter()
            .map(|d| d.map(|d| chrono::Datelike::weekday(&d).num_days_from_monday() as i32))
            .collect();
        assert_eq!(weekday.iter().collect::<Vec<_>>(), want);
        // A time against a string reads the string as a time.
        let spring = df
            .filter(
                col("when")
                    .gt_eq(lit("2017-03-01"))
                    .and(col("when").lt(lit("2017-06-01"))),
            )
            .unwrap();
        let want = days
            .iter()
            .flatten()
            .filter(|d| {
                d.format("%Y-%m").to_string().as_str() >= "2017-03"
                    && d.format("%Y-%m").to_string().as_str() < "2017-06"
            })
            .count();
        assert_eq!(spring.len().unwrap(), want);
    }
    let df = DataFrame::from_arrow(batch, 2).unwrap();
    let err = df
        .select([col("issued").dt().year()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a date or a time"), "{err}");
    let times = df
        .with_column("when", col("issued").to_datetime(Some("%m/%d/%Y")))
        .unwrap();
    let err = times
        .filter(col("when").gt(lit("next spring")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"next spring\" does not read as one"),
        "{err}"
    );
    let bad = df
        .select([col("issued").to_datetime(Some("%d.%m.%Y"))])
        .unwrap()
        .compute()
        .unwrap_err()
        .to_string();
    assert!(bad.contains("does not match the format"), "{bad}");
}

#[test]
fn series_answer_in_plain_values_as_a_sequential_reference() {
    let batch = mixed_values();
    let a = column_i64(&batch, "a");
    let s = column_str(&batch, "s");
    let valid: Vec<i64> = a.iter().flatten().copied().collect();
    // The reference, computed sequentially.
    let mut firsts: Vec<Option<i64>> = Vec::new();
    for v in &a {
        if !firsts.contains(v) {
            firsts.push(*v);
        }
    }
    let mut counts: Vec<(Option<i64>, u64)> = firsts
        .iter()
        .filter(|v| v.is_some())
        .map(|v| (*v, a.iter().filter(|x| *x == v).count() as u64))
        .collect();
    // Stable: ties stay in order of first appearance.
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    let mut sorted: Vec<f64> = valid.iter().map(|&v| v as f64).collect();
    sorted.sort_by(f64::total_cmp);
    let pandas_quantile = |q: f64| {
        let pos = q * (sorted.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
    };
    for parts in [1, 4, 9] {
        let df = DataFrame::from_arrow(batch.clone(), parts).unwrap();
        let series = df.column("a").unwrap();
        assert_eq!(series.name(), "a");
        assert_eq!(series.dtype(), "int64");
        assert_eq!(series.sum::<i64>().unwrap(), Some(valid.iter().sum()));
        let mean = valid.iter().sum::<i64>() as f64 / valid.len() as f64;
        assert_eq!(series.mean().unwrap(), Some(mean));
        assert_eq!(series.min::<i64>().unwrap(), valid.iter().min().copied());
        assert_eq!(series.max::<i64>().unwrap(), valid.iter().max().copied());
        assert_eq!(series.count().unwrap(), valid.len() as u64);
        assert_eq!(series.unique::<i64>().unwrap(), firsts, "{parts} parts");
        assert_eq!(
            series.nunique().unwrap(),
            firsts.iter().flatten().count() as u64
        );
        assert_eq!(
            series.value_counts::<i64>().unwrap(),
            counts,
            "{parts} parts"
        );
        for q in [0.0, 0.25, 0.5, 0.9, 1.0] {
            assert_eq!(
                series.quantile(q).unwrap(),
                Some(pandas_quantile(q)),
                "q {q}"
            );
        }
        assert_eq!(series.to_vec::<i64>().unwrap(), a);
        // Read as another type, or refused.
        let as_f64: Vec<Option<f64>> = a.iter().map(|v| v.map(|v| v as f64)).collect();
        assert_eq!(series.to_vec::<f64>().unwrap(), as_f64);
        assert_eq!(df.column("s").unwrap().to_vec::<String>().unwrap(), s);
        let err = df
            .column("s")
            .unwrap()
            .to_vec::<i64>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not read as int64"), "{err}");
        assert!(series.quantile(1.5).is_err());
        assert!(df.column("s").unwrap().quantile(0.5).is_err());
    }
    assert!(DataFrame::from_arrow(batch, 2)
        .unwrap()
        .column("nope")
        .is_err());
}

#[test]
fn a_failing_kernel_fails_its_task_with_the_message() {
    let df = DataFrame::from_arrow(people(), 2).unwrap();
    let q = df
        .with_column("n", col("Last name").cast(ColumnType::Int64))
        .unwrap();
    let err = q.compute().unwrap_err().to_string();
    assert!(err.contains("Cannot cast string 'Smith'"), "{err}");
    assert!(
        err.contains("cast of Last name to int64"),
        "names the column: {err}"
    );
}

#[test]
fn map_partitions_and_len() {
    let df = DataFrame::from_arrow(people(), 4).unwrap();
    assert_eq!(df.len().unwrap(), 10);
    let schema = df.schema().clone();
    let firsts = df.map_partitions(schema, |b: RecordBatch| Ok::<_, String>(b.slice(0, 1)));
    assert_eq!(firsts.len().unwrap(), 4);
}

#[test]
fn expressions_round_trip_through_serde() {
    let e = (col("a") + lit(2))
        .gt(lit(1.5))
        .and(!col("b").contains("x"))
        .or(col("c").cast(ColumnType::Int32).is_null())
        .or(col("d").isin([Literal::Int(1), Literal::Null]))
        .or(when(col("e").str().contains("x+").eq(lit(true)))
            .then(col("f").abs().clip(0, 9) % lit(2))
            .otherwise(coalesce([col("g").round(1), lit(0.5)]))
            .eq(lit(1)))
        .alias("flag");
    let json = serde_json::to_string(&e).unwrap();
    let back: Expr = serde_json::from_str(&json).unwrap();
    assert_eq!(back, e);
    assert!(serde_json::from_str::<Expr>("{\"Column\": 7}").is_err());
}

fn with_nulls() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, true),
        Field::new("score", DataType::Int64, true),
        Field::new("ratio", DataType::Float64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec![
                Some("a"),
                None,
                Some("c"),
                Some("d"),
                None,
            ])),
            Arc::new(Int64Array::from(vec![
                Some(1),
                Some(2),
                None,
                Some(4),
                None,
            ])),
            Arc::new(Float64Array::from(vec![
                None,
                Some(0.5),
                Some(1.5),
                None,
                Some(2.5),
            ])),
        ],
    )
    .unwrap()
}

#[test]
fn fillna_dropna_and_astype() {
    for n in 1..=3 {
        let df = DataFrame::from_arrow(with_nulls(), n).unwrap();
        let filled = df.fillna(0).unwrap().reset_index().unwrap();
        let score = filled
            .column_by_name("score")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(score.values(), &[1, 2, 0, 4, 0]);
        assert_eq!(score.null_count(), 0);
        let ratio = filled
            .column_by_name("ratio")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(ratio.values(), &[0.0, 0.5, 1.5, 0.0, 2.5]);
        // A number does not fill a string column.
        assert_eq!(filled.column_by_name("name").unwrap().null_count(), 2);
        let named = df.fillna("?").unwrap().reset_index().unwrap();
        assert_eq!(named.column_by_name("name").unwrap().null_count(), 0);
        assert_eq!(named.column_by_name("score").unwrap().null_count(), 2);

        assert_eq!(df.dropna(&[]).unwrap().len().unwrap(), 0);
        assert_eq!(df.dropna(&["score"]).unwrap().len().unwrap(), 3);
        assert_eq!(df.dropna(&["name", "score"]).unwrap().len().unwrap(), 2);
        assert!(df.dropna(&["nope"]).is_err());

        let cast = df.astype(&[("score", ColumnType::Float64)]).unwrap();
        assert_eq!(cast.dtypes()[1].1, "float64");
        assert_eq!(cast.reset_index().unwrap().column(2).null_count(), 2);
    }
}

#[test]
fn concat_and_whole_frame_aggregates() {
    let a = DataFrame::from_arrow(people(), 2).unwrap();
    let b = DataFrame::from_arrow(people(), 3).unwrap();
    let both = DataFrame::concat(&[a.clone(), b.filter(col("Age").gt(lit(40))).unwrap()]).unwrap();
    assert_eq!(both.npartitions(), 5);
    assert_eq!(both.len().unwrap(), 13);
    let totals = both
        .agg([
            super::sum("Age"),
            super::mean("Age"),
            super::max("Age"),
            super::size(),
        ])
        .unwrap()
        .reset_index()
        .unwrap();
    assert_eq!(totals.num_rows(), 1);
    let sum = totals
        .column_by_name("Age_sum")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    // 353 for the ten people, plus 42 + 41 + 52 for those over 40.
    assert_eq!(sum, 353 + 42 + 41 + 52);
    let size = totals
        .column_by_name("size")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(size, 13);
    assert_eq!(
        totals.schema().fields().len(),
        5,
        "the index and four aggregates"
    );
    let other = DataFrame::from_arrow(with_nulls(), 1).unwrap();
    assert!(DataFrame::concat(&[a, other]).is_err());
}

mod codec {
    use super::*;
    use arrow::array::{AsArray, DictionaryArray, Int32Array};
    use arrow::datatypes::Int32Type;
    use partita_runtime::codec_for;

    fn codec() -> &'static partita_runtime::ValueCodec {
        codec_for::<RecordBatch>().expect("frames have a codec")
    }

    fn round_trip(b: &RecordBatch) -> RecordBatch {
        let bytes = (codec().encode)(&value(b.clone())).unwrap();
        let back = (codec().decode)(&bytes).unwrap();
        back.downcast_ref::<RecordBatch>().unwrap().clone()
    }

    fn mixed() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
            Field::new(
                "d",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                false,
            ),
        ]));
        let dict: DictionaryArray<Int32Type> = DictionaryArray::try_new(
            Int32Array::from(vec![0, 1, 0]),
            Arc::new(StringArray::from(vec!["p", "q"])),
        )
        .unwrap();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc")])),
                Arc::new(Float64Array::from(vec![None, Some(1.5), Some(f64::NAN)])),
                Arc::new(dict),
            ],
        )
        .unwrap()
    }

    #[test]
    fn partitions_round_trip_with_nulls_and_strings() {
        let b = mixed();
        let back = round_trip(&b);
        assert_eq!(back.schema(), b.schema());
        assert_eq!(back.column(0).to_data(), b.column(0).to_data());
        assert_eq!(back.column(2).to_data(), b.column(2).to_data());
        // NaN != NaN: compare the bits.
        let (x, y) = (
            back.column(1)
                .as_primitive::<arrow::datatypes::Float64Type>(),
            b.column(1).as_primitive::<arrow::datatypes::Float64Type>(),
        );
        assert_eq!(x.nulls(), y.nulls());
        assert!(x
            .values()
            .iter()
            .zip(y.values())
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        assert_eq!(round_trip(&people()), people());
    }

    #[test]
    fn an_empty_partition_round_trips() {
        let empty = RecordBatch::new_empty(people().schema());
        assert_eq!(round_trip(&empty), empty);
        let none = RecordBatch::new_empty(Arc::new(Schema::empty()));
        assert_eq!(round_trip(&none).num_columns(), 0);
    }

    #[test]
    fn several_batches_decode_as_one_partition() {
        let p = people();
        let parts = [p.slice(0, 3), p.slice(3, 0), p.slice(3, 7)];
        let bytes = super::super::codec::to_ipc(&p.schema(), &parts).unwrap();
        let back = (codec().decode)(&bytes).unwrap();
        assert_eq!(back.downcast_ref::<RecordBatch>(), Some(&p));
    }

    #[test]
    fn an_indexed_partition_round_trips() {
        let df = DataFrame::from_arrow(people(), 3).unwrap();
        let indexed = df.set_index("Last name", 2).unwrap();
        for part in indexed.compute_partitions().unwrap() {
            assert_eq!(round_trip(&part), part);
        }
    }

    #[test]
    fn truncated_or_garbage_bytes_are_refused() {
        let bytes = (codec().encode)(&value(mixed())).unwrap();
        for n in 0..bytes.len() {
            assert!((codec().decode)(&bytes[..n]).is_err(), "{n} bytes decoded");
        }
        let mut s = 0x9e37_79b9_u64;
        for len in [1, 7, 64, 999] {
            let garbage: Vec<u8> = (0..len)
                .map(|_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (s >> 56) as u8
                })
                .collect();
            assert!((codec().decode)(&garbage).is_err());
        }
        // Flipped bytes in the body fail or decode, never panic.
        for i in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = (codec().decode)(&b);
        }
    }
}

/// Frame graphs shipped through the wire format and computed in this process.
mod shipped {
    use super::*;
    use partita_runtime::{decode_outcome, encode_graph, serve_graph};

    /// The partitions of `df` computed locally and through the wire; they must agree.
    fn check(df: &DataFrame) {
        let rt = rt();
        let local = rt.install(|| df.compute_partitions()).unwrap();
        let (graph, keys) = (df.graph(), df.keys());
        let reply = serve_graph(&rt, &encode_graph(&graph, &keys).unwrap());
        let remote: Vec<RecordBatch> = decode_outcome(&reply)
            .unwrap()
            .into_iter()
            .map(|(_, v)| v.downcast_ref::<RecordBatch>().unwrap().clone())
            .collect();
        assert_eq!(local, remote);
    }

    fn people_df(n: usize) -> DataFrame {
        DataFrame::from_arrow(people(), n).unwrap()
    }

    #[test]
    fn row_operations() {
        let df = people_df(3)
            .filter(col("Age").gt(lit(30)))
            .unwrap()
            .with_column("older", col("Age") + lit(1))
            .unwrap()
            .select([col("Last name"), col("older")])
            .unwrap();
        check(&df);
        check(&DataFrame::concat(&[df.clone(), df]).unwrap());
    }

    #[test]
    fn groupby_tree_shuffle_and_split_out() {
        let df = people_df(3);
        let g = df.groupby(&["Last name"]).unwrap();
        check(
            &g.clone()
                .agg([sum("Age"), mean("Age"), count("Age")])
                .unwrap(),
        );
        check(
            &g.clone()
                .shuffle_above(0)
                .agg([sum("Age"), first("First name")])
                .unwrap(),
        );
        check(&g.split_out(2).agg([max("Age"), std("Age")]).unwrap());
        check(&df.agg([min("Age"), var("Age")]).unwrap());
        check(&df.value_counts("Last name").unwrap());
        check(&df.nunique(&["Last name"], "First name").unwrap());
    }

    #[test]
    fn joins_sorts_and_the_rest() {
        let df = people_df(3);
        let right = people_df(2).select([col("Person ID"), col("Age")]).unwrap();
        let on = || Merge::on(&["Person ID"]);
        check(&df.merge(&right, on().broadcast(true)).unwrap());
        check(
            &df.merge(&right, on().broadcast(false).how(How::Outer))
                .unwrap(),
        );
        check(&df.set_index("Age", 3).unwrap());
        check(&df.sort_values(&["Last name", "Age"], false, 2).unwrap());
        check(&df.shuffle(&["Last name"], 4).unwrap());
        check(&df.drop_duplicates(Some(&["Last name"])).unwrap());
        check(&df.nlargest(3, "Age").unwrap());
        check(&df.repartition(5).unwrap());
        check(&df.repartition(2).unwrap());
    }

    #[test]
    fn a_plain_closure_is_refused_naming_its_layer() {
        let df = people_df(2);
        let mapped = df.map_partitions(df.schema().clone(), |b: RecordBatch| Ok::<_, String>(b));
        match encode_graph(&mapped.graph(), &mapped.keys()) {
            Err(partita_runtime::Error::NotTransportable { layer, .. }) => {
                assert!(layer.starts_with("map-partitions"), "{layer}")
            }
            other => panic!("expected NotTransportable, got {other:?}"),
        }
    }
}
