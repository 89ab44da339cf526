//! The h2o db-benchmark groupby questions q1–q5 on `G1_1e7_1e2_0_0.csv` (or `.parquet`), as
//! `../shared/bench/w_groupby.py` runs them: load (read the CSV into memory, persisted), then
//! the five queries on the in-memory data.
//!
//! ```text
//! cargo run --release --example groupby -- /tmp/bench-data/groupby/G1_1e7_1e2_0_0.csv
//! ```
//!
//! `--memory-limit 2GiB` sets the runtime's memory limit: past 60% of it, persisted partitions
//! and intermediate values spill to disk.
//!
//! Prints `RESULT name=groupby.{load,queries,e2e}.partita seconds=<s> checksum=<c> rows=<r>
//! spilled_bytes=<b>`; the checksum is the sum over the queries of the sums of every
//! aggregate column, and `spilled_bytes` what went to disk.

#[path = "common/pyfloat.rs"]
mod pyfloat;
#[path = "common/rss.rs"]
mod rss;

use std::time::Instant;

use pyfloat::fmt_float;

use arrow::array::{Array, Float64Array, Int64Array};
use partita::collections::{mean, sum, Agg};
use partita::io::{read_csv, read_parquet, CsvOptions, ParquetOptions};
use partita::prelude::*;

fn queries() -> Vec<(&'static str, Vec<&'static str>, Vec<Agg>)> {
    vec![
        ("q1", vec!["id1"], vec![sum("v1")]),
        ("q2", vec!["id1", "id2"], vec![sum("v1")]),
        ("q3", vec!["id3"], vec![sum("v1"), mean("v3")]),
        ("q4", vec!["id4"], vec![mean("v1"), mean("v2"), mean("v3")]),
        ("q5", vec!["id6"], vec![sum("v1"), sum("v2"), sum("v3")]),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const USAGE: &str = "usage: groupby <G1_1e7_1e2_0_0.csv> [--memory-limit 2GiB]";
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut builder = Runtime::builder();
    while let Some(arg) = args.next() {
        if arg == "--memory-limit" {
            let text = args.next().ok_or(USAGE)?;
            let bytes = partita::parse_bytes(&text).ok_or(format!("not a size: {text}"))?;
            builder = builder.memory_limit(bytes);
        } else {
            path = Some(arg);
        }
    }
    let path = path.ok_or(USAGE)?;
    let rt = builder.build()?;
    let _progress = ProgressBar::new(&rt);

    let t = Instant::now();
    let df = if path.ends_with(".parquet") {
        read_parquet(path.as_str(), ParquetOptions::default())?
    } else {
        // 32 MiB blocks (16 partitions): two blocks parse at a time, so the text and parse
        // buffers in flight, which set the peak, are half those of 64 MiB blocks.
        read_csv(path.as_str(), CsvOptions::default().blocksize(32 << 20))?
    };
    let x = rt.install(|| df.persist())?;
    let load_s = t.elapsed().as_secs_f64();
    eprintln!("{x}");

    let mut queries_s = 0.0;
    let mut checksum = 0.0;
    let mut rows = 0;
    for (name, by, aggs) in queries() {
        let names: Vec<String> = aggs.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>();
        let t = Instant::now();
        // q3 and q5 have 100,000 groups: their partial aggregates are merged through a
        // shuffle, chosen at run time (`GroupBy::shuffle_above`).
        let ans = rt.install(|| x.groupby(&by)?.agg(aggs)?.reset_index())?;
        let s = t.elapsed().as_secs_f64();
        queries_s += s;
        let mut chk = 0.0;
        for field in ans.schema().fields().iter().skip(1 + by.len()) {
            let c = ans.column_by_name(field.name()).ok_or("missing column")?;
            chk += if let Some(a) = c.as_any().downcast_ref::<Int64Array>() {
                a.iter().flatten().map(|v| v as f64).sum::<f64>()
            } else if let Some(a) = c.as_any().downcast_ref::<Float64Array>() {
                a.iter().flatten().sum::<f64>()
            } else {
                0.0
            };
        }
        eprintln!(
            "{name}: {s:.3} s, {} rows, checksum {} ({names:?})",
            ans.num_rows(),
            fmt_float(chk)
        );
        checksum += chk;
        rows += ans.num_rows();
    }
    eprintln!("peak_rss_mb={:.1}", rss::peak_rss_mib());
    let c = fmt_float(checksum);
    let spilled = rt.memory().spilled_total;
    println!(
        "RESULT name=groupby.load.partita seconds={load_s:.4} checksum={c} rows={rows} spilled_bytes={spilled}"
    );
    println!(
        "RESULT name=groupby.queries.partita seconds={queries_s:.4} checksum={c} rows={rows} spilled_bytes={spilled}"
    );
    println!(
        "RESULT name=groupby.e2e.partita seconds={:.4} checksum={c} rows={rows} spilled_bytes={spilled}",
        load_s + queries_s
    );
    Ok(())
}
