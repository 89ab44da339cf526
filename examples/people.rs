//! The seed's people table: ten people as CSV, read in two partitions.
//!
//! ```text
//! cargo run --example people
//! ```
//!
//! Prints the frame's structure (nothing computed yet), then the computed frame, whose row
//! labels restart at 0 in the second partition, then the number of people per last name.

use arrow::util::pretty::pretty_format_batches;
use partita::collections::size;
use partita::io::{read_csv, CsvOptions};
use partita::prelude::*;

const PEOPLE: &str = "\
Person ID,Last name,First name,Age
1,Smith,John,42
2,Williams,Bill,29
3,Williams,Jane,31
4,Jones,Cathy,35
5,Smith,Mary,28
6,Brown,Kim,41
7,Davis,Lee,33
8,Miller,Ann,25
9,Wilson,Sam,52
10,Moore,Tom,37
";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("partita-people-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("people.csv");
    std::fs::write(&path, PEOPLE)?;

    // Blocks of the header and five rows: two partitions of five people, as in the seed.
    let block: usize = PEOPLE.lines().take(6).map(|l| l.len() + 1).sum();
    let df = read_csv(
        path.as_path(),
        CsvOptions::default().blocksize(block as u64),
    )?;
    println!("{df}\n");

    let computed = df.compute()?;
    println!("{}\n", pretty_format_batches(&[computed])?);

    let per_name = df
        .groupby(&["Last name"])?
        .agg([size().alias("people")])?
        .reset_index()?;
    println!("{}", pretty_format_batches(&[per_name])?);

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
