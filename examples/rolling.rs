//! Rolling windows and shifts on the h2o groupby table, as `benches/peers/rolling.py` runs them
//! in pandas and Polars:
//!
//! ```text
//! cargo run --release --example rolling -- /tmp/bench-data/groupby/G1_1e7_1e2_0_0.parquet
//! ```
//!
//! Reads `v1` and `v3` into memory (persisted), then times the rolling mean of `v3` over 100
//! rows, its rolling standard deviation over 100 rows, the rolling maximum of `v1` over 1,000
//! rows, and `v3.diff(-1)`. Each step's time includes summing its result (the checksum), which
//! the peers do not time; the `sum` step times that sum alone. Prints
//! `RESULT name=rolling.<step>.partita seconds=<s> checksum=<c>`.

use std::time::Instant;

use partita::collections::DataFrame;
use partita::io::{read_parquet, ParquetOptions};
use partita::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: rolling <G1_1e7_1e2_0_0.parquet>")?;
    let rt = Runtime::builder().build()?;
    let t = Instant::now();
    let options = ParquetOptions {
        columns: Some(vec!["v1".into(), "v3".into()]),
    };
    let df = read_parquet(path.as_str(), options)?;
    let df = rt.install(|| df.persist())?;
    println!(
        "RESULT name=rolling.load.partita seconds={:.4}",
        t.elapsed().as_secs_f64()
    );
    type Step = fn(&DataFrame) -> partita::collections::Result<(DataFrame, &'static str)>;
    let steps: [(&str, Step); 5] = [
        // The sum alone: what every step below includes besides its own work.
        ("sum", |d| Ok((d.clone(), "v3"))),
        ("mean100", |d| Ok((d.rolling("v3", 100)?.mean()?, "v3"))),
        ("std100", |d| Ok((d.rolling("v3", 100)?.std(1)?, "v3"))),
        ("max1000", |d| Ok((d.rolling("v1", 1000)?.max()?, "v1"))),
        ("diff", |d| Ok((d.diff("v3", -1)?, "v3"))),
    ];
    for (name, step) in steps {
        let t = Instant::now();
        let total = rt.install(|| -> partita::collections::Result<f64> {
            let (out, column) = step(&df)?;
            Ok(out.column(column)?.sum::<f64>()?.unwrap_or(0.0))
        })?;
        println!(
            "RESULT name=rolling.{name}.partita seconds={:.4} checksum={total:.6}",
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
