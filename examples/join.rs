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
//!
//! `--skew` replaces `x` by 1e7 generated rows (16 partitions) of which half have `id1 = 1`,
//! the rest spread over `y`'s keys: in a shuffle, the hot key's rows all land in one partition.
//! The sum and row count are checked against a plain loop over the same rows, and printed as
//! `RESULT name=join_skew.{load,join,e2e}.partita ...`.

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

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use partita::collections::{size, AggFunc, Merge};
use partita::io::{read_parquet, ParquetOptions};
use partita::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .ok_or("usage: join <join dir> [--shuffle] [--skew]")?;
    let shuffle = args.iter().any(|a| a == "--shuffle");
    let skew = args.iter().any(|a| a == "--skew");
    let rt = Runtime::builder().build()?;

    let t = Instant::now();
    let x = if skew {
        DataFrame::from_batches((0..16).map(|p| skewed_part(p, SKEW_ROWS / 16)).collect())?
    } else {
        let x = read_parquet(
            format!("{dir}/x/*.parquet").as_str(),
            ParquetOptions::default(),
        )?;
        rt.install(|| x.persist())?
    };
    let y = read_parquet(
        format!("{dir}/y/*.parquet").as_str(),
        ParquetOptions::default(),
    )?;
    let y = rt.install(|| y.persist())?;
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
    let batch = rt.install(|| out.compute())?;
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
    if skew {
        let want = skewed_reference(&rt.install(|| y.compute())?)?;
        if rows != SKEW_ROWS as i64 || (s - want).abs() > 1e-9 * want.abs() {
            let got = format!("sum {s} over {rows} rows");
            return Err(
                format!("skewed join: {got}; a plain loop: {want} over {SKEW_ROWS}").into(),
            );
        }
        eprintln!("skewed join: sum and rows equal a plain loop's ({want})");
    }
    let workload = if skew { "join_skew" } else { "join" };
    let tool = if shuffle {
        "partita_shuffle"
    } else {
        "partita"
    };
    println!("RESULT name={workload}.load.{tool} seconds={load_s:.4} checksum={rows} rows={rows}");
    println!(
        "RESULT name={workload}.join.{tool} seconds={join_s:.4} checksum={} rows={rows}",
        fmt_float(s)
    );
    println!(
        "RESULT name={workload}.e2e.{tool} seconds={:.4} checksum={} rows={rows}",
        load_s + join_s,
        fmt_float(s)
    );
    Ok(())
}

/// Rows of the skewed `x`.
const SKEW_ROWS: usize = 10_000_000;
/// `y`'s keys are `1..=Y_KEYS`.
const Y_KEYS: u64 = 1_000_000;

/// A deterministic stream of pseudo-random numbers (splitmix64) by row.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Row `i` of the skewed `x`: every even row has the hot key 1.
fn skewed_row(i: u64) -> (i64, f64) {
    let h = mix(i);
    let id1 = if i.is_multiple_of(2) {
        1
    } else {
        (h % Y_KEYS) as i64 + 1
    };
    (id1, (h >> 40) as f64 / (1u64 << 24) as f64 * 100.0)
}

/// Partition `p` of the skewed `x`: `n` rows from row `p * n`.
fn skewed_part(p: usize, n: usize) -> RecordBatch {
    let rows = (p * n) as u64..((p + 1) * n) as u64;
    let (id1, v1): (Vec<i64>, Vec<f64>) = rows.map(skewed_row).unzip();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id1", DataType::Int64, false),
        Field::new("v1", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(id1)),
        Arc::new(Float64Array::from(v1)),
    ];
    RecordBatch::try_new(schema, columns).expect("two columns of equal length")
}

/// `sum(v1 * v2)` over the skewed `x` joined with `y`, by a plain loop over an array of `v2`
/// by key.
fn skewed_reference(y: &RecordBatch) -> Result<f64, Box<dyn std::error::Error>> {
    let ids = y
        .column_by_name("id1")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .ok_or("y has no int64 id1")?;
    let v2 = y
        .column_by_name("v2")
        .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
        .ok_or("y has no float64 v2")?;
    let mut by_key = vec![f64::NAN; Y_KEYS as usize + 1];
    for (k, v) in ids.values().iter().zip(v2.values()) {
        by_key[*k as usize] = *v;
    }
    let sum = (0..SKEW_ROWS as u64)
        .map(skewed_row)
        .map(|(k, v1)| v1 * by_key[k as usize])
        .sum();
    Ok(sum)
}
