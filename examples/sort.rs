//! The sort workload of `../shared/bench/w_sort.py`: 1e7 rows indexed by a random int64 key,
//! `set_index("key")` into 16 partitions.
//!
//! ```text
//! cargo run --release --example sort -- /tmp/bench-data/sort
//! ```
//!
//! Load reads the 16 Parquet parts into memory (persisted); sort is `set_index` (sampling the
//! divisions, the range shuffle and the per-partition sorts), persisted, then the first and
//! last five rows. Prints `RESULT name=sort.{load,sort,e2e}.partita ...` with the checksum
//! (the sum of the 5 smallest and 5 largest keys) and `first5_v`/`last5_v`.

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

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch};
use partita::io::{read_parquet, ParquetOptions};
use partita::prelude::*;

/// The keys and `v`s of rows `range` of `batch`.
fn ends(batch: &RecordBatch, range: std::ops::Range<usize>) -> (i128, f64) {
    let k = batch
        .column_by_name("key")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .expect("an int64 key");
    let v = batch
        .column_by_name("v")
        .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
        .expect("a float64 v");
    range.fold((0, 0.0), |(ks, vs), i| {
        (ks + k.value(i) as i128, vs + v.value(i))
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: sort <sort dir>")?;
    let rt = Runtime::builder().build()?;

    let t = Instant::now();
    let x = read_parquet(
        format!("{dir}/parts/*.parquet").as_str(),
        ParquetOptions::default(),
    )?;
    let x = rt.install(|| x.persist())?;
    let load_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let parts = rt.install(|| x.set_index("key", 16)?.persist()?.compute_partitions())?;
    let rows: usize = parts.iter().map(RecordBatch::num_rows).sum();
    let first = parts.iter().find(|p| p.num_rows() > 0).ok_or("no rows")?;
    let last = parts
        .iter()
        .rev()
        .find(|p| p.num_rows() > 0)
        .ok_or("no rows")?;
    let (k1, v1) = ends(first, 0..5.min(first.num_rows()));
    let (k2, v2) = ends(last, last.num_rows().saturating_sub(5)..last.num_rows());
    let sort_s = t.elapsed().as_secs_f64();
    let lens: Vec<String> = parts.iter().map(|p| p.num_rows().to_string()).collect();
    eprintln!("partition lengths {}", lens.join("/"));
    eprintln!("peak RSS {:.0} MiB", rss::peak_rss_mib());
    let chk = k1 + k2;
    println!("RESULT name=sort.load.partita seconds={load_s:.4} checksum={rows}");
    println!(
        "RESULT name=sort.sort.partita seconds={sort_s:.4} checksum={chk} rows={rows} first5_v={} last5_v={} nparts={}",
        fmt_float(v1),
        fmt_float(v2),
        parts.len()
    );
    println!(
        "RESULT name=sort.e2e.partita seconds={:.4} checksum={chk} rows={rows}",
        load_s + sort_s
    );
    Ok(())
}
