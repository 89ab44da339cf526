//! The join workload of `../shared/bench/w_join.py`: `x` (1e7 rows) joined with `y` (1e6 rows)
//! on `id1`, then `sum(v1 * v2)` and the number of rows.
//!
//! ```text
//! cargo run --release --example join -- /tmp/bench-data/join [--shuffle]
//! ```
//!
//! Load reads both sides' Parquet parts into memory (persisted); join is the merge and the
//! aggregate on the in-memory data. `merge` broadcasts `y` (16 MiB, under its threshold);
//! `--shuffle` forces the hash-shuffle join of both sides instead. Prints
//! `RESULT name=join.{load,join,e2e}.partita seconds=<s> checksum=<sum> rows=<n>`.

#[path = "common/pyfloat.rs"]
mod pyfloat;
#[path = "common/rss.rs"]
mod rss;

/// Partitions are tens of megabytes and short-lived; mimalloc reuses their memory where the
/// system allocator returns it to the kernel and faults it in again.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use pyfloat::fmt_float;

use arrow::array::{Array, Float64Array, Int64Array};
use partita::collections::{size, AggFunc, Merge};
use partita::io::{read_parquet, ParquetOptions};
use partita::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .ok_or("usage: join <join dir> [--shuffle]")?;
    let shuffle = args.iter().any(|a| a == "--shuffle");
    let rt = Runtime::builder().build()?;

    let t = Instant::now();
    let x = read_parquet(
        format!("{dir}/x/*.parquet").as_str(),
        ParquetOptions::default(),
    )?
    .persist_on(&rt)?;
    let y = read_parquet(
        format!("{dir}/y/*.parquet").as_str(),
        ParquetOptions::default(),
    )?
    .persist_on(&rt)?;
    let load_s = t.elapsed().as_secs_f64();
    eprintln!(
        "x: {} partitions, y: {} partitions",
        x.npartitions(),
        y.npartitions()
    );

    let t = Instant::now();
    let how = if shuffle {
        Merge::on(&["id1"]).broadcast(false)
    } else {
        Merge::on(&["id1"])
    };
    let joined = x.merge(&y, how)?;
    let product = partita::collections::Agg::of(col("v1") * col("v2"), AggFunc::Sum).alias("s");
    let out = joined.agg([product, size().alias("rows")])?;
    let batch = out.compute_on(&rt)?;
    let join_s = t.elapsed().as_secs_f64();
    let s = batch
        .column_by_name("s")
        .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
        .map(|c| c.value(0))
        .ok_or("no sum")?;
    let rows = batch
        .column_by_name("rows")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .map(|c| c.value(0))
        .ok_or("no row count")?;
    eprintln!("peak RSS {:.0} MiB", rss::peak_rss_mib());
    let name = if shuffle {
        "partita_shuffle"
    } else {
        "partita"
    };
    println!("RESULT name=join.load.{name} seconds={load_s:.4} checksum={rows} rows={rows}");
    println!(
        "RESULT name=join.join.{name} seconds={join_s:.4} checksum={} rows={rows}",
        fmt_float(s)
    );
    println!(
        "RESULT name=join.e2e.{name} seconds={:.4} checksum={} rows={rows}",
        load_s + join_s,
        fmt_float(s)
    );
    Ok(())
}
