//! `read_csv`: quoted newlines at every block size, inference and its errors, nulls, globs, and
//! `to_csv` round trips.

use std::path::Path;

use arrow::array::{Array, Int64Array, RecordBatch, StringArray, UInt64Array};
use partita::collections::ColumnType;
use partita::io::{read_csv, to_csv, CsvOptions, Error};
use partita::prelude::*;

fn rt() -> Runtime {
    Runtime::builder().threads(2).build().unwrap()
}

fn strings(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

fn ints(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .iter()
        .collect()
}

/// CSV quoting by hand, for building fixtures whose answers are known.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[test]
fn quoted_newlines_survive_every_blocksize() {
    let rows: Vec<(i64, String)> = (0..12)
        .map(|i| {
            let text = match i % 4 {
                0 => format!("line one\nline two of {i}"),
                1 => format!("plain {i}"),
                2 => format!("comma, \"quoted\" and\nnewline {i}"),
                _ => "\n".repeat(i as usize % 3 + 1),
            };
            (i, text)
        })
        .collect();
    let mut csv = String::from("id,text\n");
    for (id, text) in &rows {
        csv.push_str(&format!("{id},{}\n", quote(text)));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.csv");
    std::fs::write(&path, &csv).unwrap();
    let rt = rt();
    for bs in 1..=csv.len() as u64 + 1 {
        let df = read_csv(path.as_path(), CsvOptions::default().blocksize(bs)).unwrap();
        let out = rt.install(|| df.reset_index()).unwrap();
        let ids: Vec<Option<i64>> = rows.iter().map(|r| Some(r.0)).collect();
        let texts: Vec<Option<String>> = rows.iter().map(|r| Some(r.1.clone())).collect();
        assert_eq!(ints(&out, "id"), ids, "blocksize {bs}");
        assert_eq!(strings(&out, "text"), texts, "blocksize {bs}");
    }
}

#[test]
fn the_seed_people_table_keeps_its_restarting_index() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/people.csv");
    // Blocks of the header and five rows: two partitions of five people, as in the seed.
    let text = std::fs::read_to_string(&path).unwrap();
    let block: usize = text.lines().take(6).map(|l| l.len() + 1).sum();
    let df = read_csv(
        path.as_path(),
        CsvOptions::default().blocksize(block as u64),
    )
    .unwrap();
    assert_eq!(df.npartitions(), 2);
    assert_eq!(
        df.dtypes(),
        vec![
            ("Person ID".into(), "int64".into()),
            ("Last name".into(), "string".into()),
            ("First name".into(), "string".into()),
            ("Age".into(), "int64".into()),
        ]
    );
    let out = df.compute().unwrap();
    let labels: Vec<u64> = out
        .column(0)
        .as_any()
        .downcast_ref::<UInt64Array>()
        .unwrap()
        .values()
        .to_vec();
    assert_eq!(labels, vec![0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    let mut counts = std::collections::BTreeMap::new();
    for name in strings(&out, "Last name") {
        *counts.entry(name.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(counts["Smith"], 2);
    assert_eq!(counts["Williams"], 2);
    assert_eq!(counts.values().sum::<i32>(), 10);
}

#[test]
fn a_type_change_late_in_the_file_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.csv");
    let mut csv = String::from("id,amount\n");
    for i in 0..3000 {
        if i == 2500 {
            csv.push_str("2500,n/a\n");
        } else {
            csv.push_str(&format!("{i},{}\n", i * 10));
        }
    }
    std::fs::write(&path, &csv).unwrap();
    for bs in [None, Some(4096)] {
        let df = read_csv(path.as_path(), CsvOptions::default().blocksize(bs)).unwrap();
        assert_eq!(df.dtypes()[1].1, "int64");
        let err = df.compute().unwrap_err().to_string();
        // Row 2500 is on line 2502 (after the header).
        assert!(err.contains("late.csv:2502:"), "{err}");
        assert!(!err.contains(" line "), "one location, not two: {err}");
        assert!(err.contains("\"amount\""), "{err}");
        assert!(
            err.contains("dtype(\"amount\", ColumnType::String)"),
            "{err}"
        );
    }
    let df = read_csv(
        path.as_path(),
        CsvOptions::default().dtype("amount", ColumnType::String),
    )
    .unwrap();
    let out = df.reset_index().unwrap();
    assert_eq!(strings(&out, "amount")[2500].as_deref(), Some("n/a"));
}

#[test]
fn a_ragged_row_is_an_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ragged.csv");
    std::fs::write(&path, "a,b\n1,2\n3,4\n5,6,7\n8,9\n").unwrap();
    // Within the sample, inference reports it.
    let err = read_csv(path.as_path(), CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("ragged.csv:4:"), "{err}");
    assert!(!err.contains(" line "), "one location, not two: {err}");
    // Past the sample, the compute reports it.
    let options = CsvOptions {
        sample_rows: 2,
        ..CsvOptions::default()
    };
    let err = read_csv(path.as_path(), options)
        .unwrap()
        .compute()
        .unwrap_err()
        .to_string();
    assert!(err.contains("ragged.csv:4:"), "{err}");
    assert!(!err.contains(" line "), "one location, not two: {err}");
}

#[test]
fn bad_lines_can_be_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ragged.csv");
    let mut csv = String::from("a,b\n");
    for i in 0..2000 {
        if i % 500 == 7 {
            csv.push_str(&format!("{i},{i},{i}\n"));
        } else {
            csv.push_str(&format!("{i},{}\n", i * 2));
        }
    }
    std::fs::write(&path, &csv).unwrap();
    let rt = rt();
    for bs in [None, Some(1000)] {
        let skipped = partita::io::SkippedRows::default();
        let options = CsvOptions {
            skip_bad_lines: true,
            blocksize: bs,
            ..CsvOptions::default()
        };
        let events = rt.subscribe();
        let df = read_csv(path.as_path(), options.count_skipped(&skipped)).unwrap();
        let out = rt.install(|| df.reset_index()).unwrap();
        let expected: Vec<Option<i64>> = (0..2000)
            .filter(|i| i % 500 != 7)
            .map(|i| Some(i * 2))
            .collect();
        assert_eq!(ints(&out, "b"), expected);
        // Rows 7, 507, 1007 and 1507 are on lines 9, 509, 1009 and 1509 (after the header).
        assert_eq!(skipped.count(), 4);
        let lines: Vec<u64> = skipped.rows().into_iter().map(|(_, l)| l).collect();
        assert_eq!(lines, [9, 509, 1009, 1509]);
        let reported: usize = events
            .receiver()
            .try_iter()
            .filter_map(|e| match e.kind {
                partita::EventKind::Notice { message } => Some(message),
                _ => None,
            })
            .map(|m| {
                assert!(m.contains("ragged.csv") && m.contains("skipped"), "{m}");
                let n = m.split("skipped ").nth(1).and_then(|r| r.split(' ').next());
                n.and_then(|n| n.parse::<usize>().ok()).unwrap_or(0)
            })
            .sum();
        assert_eq!(reported, 4, "blocksize {bs:?}");
    }
}

#[test]
fn empty_and_header_only_files() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let err = read_csv(empty.as_path(), CsvOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Csv { .. }), "{err}");
    assert!(err.to_string().contains("empty.csv"), "{err}");

    let header = dir.path().join("header.csv");
    std::fs::write(&header, "x,y\n").unwrap();
    let df = read_csv(header.as_path(), CsvOptions::default()).unwrap();
    assert_eq!(df.columns(), ["x", "y"]);
    assert_eq!(df.len().unwrap(), 0);

    // An empty file among others contributes an empty partition.
    let data = dir.path().join("data.csv");
    std::fs::write(&data, "x,y\n1,2\n").unwrap();
    let df = read_csv(vec![empty, data], CsvOptions::default()).unwrap();
    assert_eq!(df.len().unwrap(), 1);
}

#[test]
fn null_values_delimiters_and_no_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("semi.csv");
    std::fs::write(&path, "1;NA;x\n2;5;\n3;;z\n").unwrap();
    let options = CsvOptions {
        has_header: false,
        delimiter: b';',
        null_values: vec!["NA".into()],
        ..CsvOptions::default()
    };
    let df = read_csv(path.as_path(), options).unwrap();
    assert_eq!(df.columns(), ["column_1", "column_2", "column_3"]);
    let out = df.reset_index().unwrap();
    assert_eq!(ints(&out, "column_2"), vec![None, Some(5), None]);
}

#[test]
fn a_path_column_records_each_rows_file() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..2 {
        std::fs::write(
            dir.path().join(format!("f{i}.csv")),
            format!("x\n{i}\n{i}\n"),
        )
        .unwrap();
    }
    let options = CsvOptions {
        include_path_column: Some("path".into()),
        ..CsvOptions::default()
    };
    let df = read_csv(format!("{}/f*.csv", dir.path().display()).as_str(), options).unwrap();
    assert_eq!(df.dtypes()[1], ("path".to_string(), "category".to_string()));
    let out = df.reset_index().unwrap();
    let paths = arrow::compute::cast(
        out.column_by_name("path").unwrap(),
        &arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let paths = paths.as_any().downcast_ref::<StringArray>().unwrap();
    let names: Vec<&str> = paths
        .iter()
        .map(|p| p.unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(names, ["f0.csv", "f0.csv", "f1.csv", "f1.csv"]);
}

#[test]
fn globs_read_every_file_and_to_csv_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        let mut csv = String::from("k,v\n");
        for j in 0..5 {
            csv.push_str(&format!("k{i},{}\n", i * 100 + j));
        }
        std::fs::write(dir.path().join(format!("part-{i}.csv")), csv).unwrap();
    }
    let pattern = format!("{}/part-*.csv", dir.path().display());
    let df = read_csv(pattern.as_str(), CsvOptions::default()).unwrap();
    assert_eq!(df.npartitions(), 3);
    let out_dir = dir.path().join("out");
    let rt = rt();
    let files = rt.install(|| to_csv(&df, &out_dir)).unwrap();
    assert_eq!(files.len(), 3);
    let back = read_csv(
        format!("{}/part-*.csv", out_dir.display()).as_str(),
        CsvOptions::default(),
    )
    .unwrap();
    let back = rt.install(|| back.reset_index()).unwrap();
    let expected: Vec<Option<i64>> = (0..3)
        .flat_map(|i| (0..5).map(move |j| Some(i * 100 + j)))
        .collect();
    assert_eq!(ints(&back, "v"), expected);
}

#[test]
fn a_query_decodes_only_the_columns_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.csv");
    let mut csv = String::from("k,v,junk\n");
    for i in 0..100 {
        csv.push_str(&format!("k{},{i},not-a-number\n", i % 3));
    }
    std::fs::write(&path, csv).unwrap();
    // `junk` is declared an integer it is not: decoding it fails.
    let options = CsvOptions::default().dtype("junk", ColumnType::Int64);
    let df = read_csv(path.as_path(), options).unwrap();
    assert!(df.compute().is_err(), "reading every column decodes junk");
    // These queries never touch junk, so it is never decoded.
    let total = df
        .groupby(&["k"])
        .unwrap()
        .agg([partita::collections::sum("v")])
        .unwrap()
        .reset_index()
        .unwrap();
    assert_eq!(
        ints(&total, "v_sum").into_iter().flatten().sum::<i64>(),
        4950
    );
    let selected = df
        .filter(partita::collections::col("v").lt(partita::collections::lit(10)))
        .unwrap()
        .select([partita::collections::col("v")])
        .unwrap()
        .reset_index()
        .unwrap();
    assert_eq!(ints(&selected, "v"), (0..10).map(Some).collect::<Vec<_>>());
    let dropped = df.drop(&["junk"]).unwrap().len().unwrap();
    assert_eq!(dropped, 100);
}

/// Files of one read whose headers differ (other names, or the same names in another order)
/// are an error naming both files; files that agree read as one table, an empty one among them.
#[test]
fn files_with_different_headers_are_an_error_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let a = write("a.csv", "a,b\n1,2\n3,4\n");
    let same = write("same.csv", "a,b\n5,6\n");
    let empty = write("empty.csv", "");
    let ok = read_csv(vec![a.clone(), empty, same], CsvOptions::default()).unwrap();
    assert_eq!(rt().install(|| ok.compute()).unwrap().num_rows(), 3);
    for (name, text) in [("x.csv", "x,y\n5,6\n"), ("ba.csv", "b,a\n6,5\n")] {
        let other = write(name, text);
        let err =
            read_csv(vec![a.clone(), other.clone()], CsvOptions::default()).expect_err("refused");
        let message = err.to_string();
        assert!(message.contains(name), "{message}");
        assert!(message.contains("a.csv"), "{message}");
        assert!(message.contains("same columns"), "{message}");
    }
}

/// Rows with a quote inside an unquoted field (`5 "inch`), which pandas and pyarrow read as a
/// literal character, among quoted fields holding newlines and doubled quotes.
fn stray_quote_rows() -> (String, Vec<(i64, String, i64)>) {
    let rows: Vec<(i64, String, i64)> = (0..300)
        .map(|i| {
            let text = match i % 5 {
                0 => format!("{i} \"inch"),
                1 => format!("quoted, with\nnewline {i}"),
                2 => format!("say \"{i}\""),
                3 => format!("{i}\"\""),
                _ => format!("plain {i}"),
            };
            (i, text, i * 3)
        })
        .collect();
    let mut csv = String::from("id,text,n\n");
    for (id, text, n) in &rows {
        // Unquoted fields stay unquoted even with a quote inside, as people write them.
        let field = if text.contains([',', '\n']) || text.starts_with('"') {
            quote(text)
        } else {
            text.clone()
        };
        csv.push_str(&format!("{id},{field},{n}\n"));
    }
    (csv, rows)
}

#[test]
fn a_stray_quote_in_an_unquoted_field_reads_the_same_at_every_blocksize() {
    let (csv, rows) = stray_quote_rows();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inch.csv");
    std::fs::write(&path, &csv).unwrap();
    let rt = rt();
    let ids: Vec<Option<i64>> = rows.iter().map(|r| Some(r.0)).collect();
    let texts: Vec<Option<String>> = rows.iter().map(|r| Some(r.1.clone())).collect();
    let ns: Vec<Option<i64>> = rows.iter().map(|r| Some(r.2)).collect();
    let sizes = [1, 2, 7, 13, 64, 100, 333, 1000, 4096, csv.len() as u64];
    for bs in sizes.into_iter().map(Some).chain([None]) {
        let df = read_csv(path.as_path(), CsvOptions::default().blocksize(bs)).unwrap();
        let out = rt.install(|| df.reset_index()).unwrap();
        assert_eq!(ints(&out, "id"), ids, "blocksize {bs:?}");
        assert_eq!(strings(&out, "text"), texts, "blocksize {bs:?}");
        assert_eq!(ints(&out, "n"), ns, "blocksize {bs:?}");
    }
}

#[test]
fn skipping_bad_lines_after_a_stray_quote_keeps_every_good_row() {
    let (mut csv, rows) = stray_quote_rows();
    // Two ragged rows, after the stray quotes.
    csv.push_str("900,x,1,2\n901\n");
    csv.push_str("902,5 \"inch,7\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inch.csv");
    std::fs::write(&path, &csv).unwrap();
    let mut ids: Vec<Option<i64>> = rows.iter().map(|r| Some(r.0)).collect();
    ids.push(Some(902));
    for bs in [None, Some(100), Some(1000)] {
        let options = CsvOptions {
            skip_bad_lines: true,
            blocksize: bs,
            ..CsvOptions::default()
        };
        let df = read_csv(path.as_path(), options).unwrap();
        let out = rt().install(|| df.reset_index()).unwrap();
        assert_eq!(ints(&out, "id"), ids, "blocksize {bs:?}");
    }
}

#[test]
fn an_unterminated_quote_is_an_error_naming_the_line_it_opens_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open.csv");
    let mut csv = String::from("a,b\n");
    for i in 0..50 {
        csv.push_str(&format!("{i},{i}\n"));
    }
    // Line 52 opens a quote that nothing closes: the parser alone would read the rest of the
    // file as one field, and one row fewer.
    csv.push_str("50,\"fifty\n51,51\n52,52\n");
    std::fs::write(&path, &csv).unwrap();
    let rt = rt();
    for bs in [None, Some(16), Some(10_000)] {
        let options = CsvOptions {
            sample_rows: 10,
            ..CsvOptions::default().blocksize(bs)
        };
        let df = read_csv(path.as_path(), options).unwrap();
        let err = rt.install(|| df.compute()).unwrap_err().to_string();
        assert!(err.contains("open.csv:52:"), "blocksize {bs:?}: {err}");
        assert!(err.contains("never closed"), "blocksize {bs:?}: {err}");
    }
}

/// With `align_columns`, files that list the same columns in another order are matched by
/// name, at every block size and through a query that reads one column; files with other
/// columns are still refused.
#[test]
fn align_columns_matches_headers_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let ab = write("ab.csv", "a,b,c\n1,x,10\n2,y,20\n");
    let ba = write("ba.csv", "c,b,a\n30,z,3\n40,\"w\nv\",4\n");
    let rt = rt();
    for bs in [None, Some(5), Some(1000)] {
        let options = CsvOptions {
            align_columns: true,
            ..CsvOptions::default().blocksize(bs)
        };
        let df = read_csv(vec![ab.clone(), ba.clone()], options).unwrap();
        assert_eq!(df.columns(), ["a", "b", "c"]);
        let out = rt.install(|| df.reset_index()).unwrap();
        assert_eq!(ints(&out, "a"), [1, 2, 3, 4].map(Some), "blocksize {bs:?}");
        assert_eq!(
            ints(&out, "c"),
            [10, 20, 30, 40].map(Some),
            "blocksize {bs:?}"
        );
        let b: Vec<Option<String>> = ["x", "y", "z", "w\nv"].map(|s| Some(s.to_string())).into();
        assert_eq!(strings(&out, "b"), b, "blocksize {bs:?}");
        // A query that needs `c` and `a` decodes those two, in the frame's order.
        let total = rt
            .install(|| {
                df.groupby(&["a"])?
                    .agg([partita::collections::sum("c")])?
                    .reset_index()
            })
            .unwrap();
        let mut sums = ints(&total, "c_sum");
        sums.sort();
        assert_eq!(sums, [10, 20, 30, 40].map(Some), "blocksize {bs:?}");
    }
    let plain = read_csv(vec![ab.clone(), ba.clone()], CsvOptions::default()).unwrap_err();
    assert!(plain.to_string().contains("align_columns"), "{plain}");
    let other = write("other.csv", "a,b,d\n1,x,10\n");
    let options = CsvOptions {
        align_columns: true,
        ..CsvOptions::default()
    };
    let err = read_csv(vec![ab, other], options).unwrap_err().to_string();
    assert!(
        err.contains("other.csv") && err.contains("different columns"),
        "{err}"
    );
}

fn floats(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .unwrap()
        .iter()
        .collect()
}

/// `id,x` rows where `x` is `i` for the first `turn` rows and `i + 0.5` after: a column that
/// turns float after its first rows.
fn turning(rows: usize, turn: usize) -> (String, Vec<Option<f64>>) {
    let mut text = String::from("id,x\n");
    let mut expected = Vec::with_capacity(rows);
    for i in 0..rows {
        if i < turn {
            text.push_str(&format!("{i},{i}\n"));
            expected.push(Some(i as f64));
        } else {
            text.push_str(&format!("{i},{i}.5\n"));
            expected.push(Some(i as f64 + 0.5));
        }
    }
    (text, expected)
}

fn notices(sub: &partita::Subscription) -> Vec<String> {
    sub.receiver()
        .try_iter()
        .filter_map(|e| match e.kind {
            partita::EventKind::Notice { message } => Some(message),
            _ => None,
        })
        .collect()
}

#[test]
fn a_column_that_turns_float_is_widened_in_every_partition() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("turns.csv");
    let (text, expected) = turning(200_000, 150_000);
    std::fs::write(&path, &text).unwrap();
    let rt = rt();
    for bs in [None, Some(1 << 20), Some(100_000)] {
        let events = rt.subscribe();
        let options = CsvOptions::default().blocksize(bs);
        let df = rt.install(|| read_csv(path.as_path(), options)).unwrap();
        assert_eq!(df.dtypes()[1].1, "float64", "blocksize {bs:?}");
        assert_eq!(df.dtypes()[0].1, "int64");
        let out = rt.install(|| df.reset_index()).unwrap();
        assert_eq!(floats(&out, "x"), expected, "blocksize {bs:?}");
        let said = notices(&events);
        assert!(
            said.iter()
                .any(|m| m.contains("turns.csv") && m.contains("\"x\"") && m.contains("float64")),
            "{said:?}"
        );
    }
}

#[test]
fn strict_types_fail_where_the_first_non_integer_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("turns.csv");
    let (text, _) = turning(200_000, 150_000);
    std::fs::write(&path, &text).unwrap();
    let options = CsvOptions {
        strict_types: true,
        ..CsvOptions::default()
    };
    let df = read_csv(path.as_path(), options).unwrap();
    assert_eq!(df.dtypes()[1].1, "int64");
    let err = df.compute().unwrap_err().to_string();
    // Row 150,000 (from 0) is on line 150,002, after the header.
    assert!(err.contains("turns.csv:150002:"), "{err}");
    assert!(err.contains("ColumnType::Float64"), "{err}");
    assert!(
        err.contains("for column \"x\""),
        "named, not counted: {err}"
    );
    assert!(!err.contains(" line "), "one location, not two: {err}");
}

#[test]
fn reading_every_row_finds_a_lone_float_the_samples_miss() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lone.csv");
    let rows = 400_000;
    let line = |i: usize| format!("{i},{}\n", i * 2);
    let total: usize = 5 + (0..rows).map(|i| line(i).len()).sum::<usize>();
    // The samples read 16 KiB at 32 points evenly spaced over the file; the lone float sits
    // between the windows of the first and second points.
    let (window, step) = (16 << 10, (total - (16 << 10)) / 32);
    assert!(
        step > window + 4096,
        "the file leaves gaps between the samples"
    );
    let target = step + window + (step - window) / 2;
    let mut text = String::from("a,b\n");
    let mut lone = None;
    let mut expected = Vec::with_capacity(rows);
    for i in 0..rows {
        if lone.is_none() && text.len() >= target {
            lone = Some(i);
            text.push_str(&format!("{i},{}.25\n", i * 2));
            expected.push(Some(i as f64 * 2.0 + 0.25));
        } else {
            text.push_str(&line(i));
            expected.push(Some(i as f64 * 2.0));
        }
    }
    std::fs::write(&path, &text).unwrap();
    let lone = lone.unwrap();
    // The samples do not see it: the compute fails on its line.
    let err = read_csv(path.as_path(), CsvOptions::default())
        .unwrap()
        .compute()
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("lone.csv:{}:", lone + 2)), "{err}");
    assert!(err.contains("sample_rows: usize::MAX"), "{err}");
    // Reading every row does.
    let options = CsvOptions {
        sample_rows: usize::MAX,
        ..CsvOptions::default().blocksize(1 << 20)
    };
    let df = read_csv(path.as_path(), options).unwrap();
    assert_eq!(df.dtypes()[1].1, "float64");
    let out = rt().install(|| df.reset_index()).unwrap();
    assert_eq!(floats(&out, "b"), expected);
}

#[test]
fn a_widened_column_refuses_integers_float64_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let (mut text, _) = turning(100_000, 50_000);
    // 2^53 + 1 rounds to 2^53 in float64.
    text.push_str("100000,9007199254740993\n");
    std::fs::write(&path, &text).unwrap();
    let err = read_csv(path.as_path(), CsvOptions::default())
        .unwrap()
        .compute()
        .unwrap_err()
        .to_string();
    assert!(err.contains("big.csv:100002:"), "{err}");
    assert!(err.contains("2^53"), "{err}");
    // Read as strings, nothing is lost.
    let options = CsvOptions::default().dtype("x", ColumnType::String);
    let out = read_csv(path.as_path(), options)
        .unwrap()
        .compute()
        .unwrap();
    let x = strings(&out, "x");
    assert_eq!(x[100_000].as_deref(), Some("9007199254740993"));
    assert_eq!(x[50_000].as_deref(), Some("50000.5"));
}

#[test]
fn parse_dates_reads_formats_and_iso_at_every_blocksize() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tickets.csv");
    let mut text = String::from("id,issued,stamp\n");
    let mut want_days = Vec::new();
    for i in 0..3000_i64 {
        let (m, d) = (1 + i % 12, 1 + i % 28);
        let y = 2000 + i % 20;
        text.push_str(&format!(
            "{i},{m:02}/{d:02}/{y},{y}-{m:02}-{d:02}T{:02}:30:00\n",
            i % 24
        ));
        // Days since the epoch, by hand (a reference independent of the parser).
        let days = days_from_civil(y, m, d);
        want_days.push((days, i % 24));
    }
    std::fs::write(&path, &text).unwrap();
    for bs in [None, Some(10_000)] {
        let options = CsvOptions::default()
            .blocksize(bs)
            .parse_date("issued", Some("%m/%d/%Y"))
            .parse_date("stamp", None);
        let df = read_csv(path.as_path(), options).unwrap();
        let out = df.compute().unwrap();
        let nanos = |name: &str| -> Vec<i64> {
            let c = out.column_by_name(name).unwrap();
            let c = c
                .as_any()
                .downcast_ref::<arrow::array::TimestampNanosecondArray>()
                .unwrap();
            c.values().to_vec()
        };
        const DAY: i64 = 86_400 * 1_000_000_000;
        let issued: Vec<i64> = want_days.iter().map(|(d, _)| d * DAY).collect();
        assert_eq!(nanos("issued"), issued, "blocksize {bs:?}");
        let stamp: Vec<i64> = want_days
            .iter()
            .map(|(d, h)| d * DAY + (h * 3600 + 1800) * 1_000_000_000)
            .collect();
        assert_eq!(nanos("stamp"), stamp, "blocksize {bs:?}");
    }
    // A value that does not match fails the read, naming the file and the value.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "id,issued\n1,06/14/2017\n2,2017-06-15\n").unwrap();
    let options = CsvOptions::default().parse_date("issued", Some("%m/%d/%Y"));
    let err = read_csv(bad.as_path(), options)
        .unwrap()
        .compute()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.csv") && err.contains("\"2017-06-15\""),
        "{err}"
    );
    let options = CsvOptions::default().parse_date("nope", None);
    assert!(read_csv(bad.as_path(), options).is_err());
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
