//! The seed's people table: ten people as CSV, read in two partitions.
//!
//! ```text
//! cargo run --example people
//! ```
//!
//! Prints the frame's structure (nothing computed yet), then the computed frame, whose row
//! labels restart at 0 in the second partition, then the number of people per last name.
//! Then `set_index("Last name")`: the Smiths (and the Williamses), who were in both
//! partitions, are moved into one partition each, and the divisions are printed. Last, a merge
//! with a small table of cities keyed by Person ID.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::pretty::{pretty_format_batches, pretty_format_columns};
use partita::collections::{size, Merge};
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
    println!("{}\n", pretty_format_batches(&[per_name])?);

    // The Smiths span both partitions; after set_index each last name lives in one.
    let by_name = df.set_index("Last name", 2)?;
    if let Some(d) = by_name.divisions() {
        println!("{}", pretty_format_columns("divisions", &[d])?);
    }
    for (i, part) in by_name.compute_partitions()?.into_iter().enumerate() {
        println!("partition {i}:\n{}", pretty_format_batches(&[part])?);
    }
    println!("Smiths: {} rows\n", by_name.loc("Smith")?.num_rows());

    // A merge with a small table of cities, keyed by Person ID (broadcast: it is small).
    let cities = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("Person ID", DataType::Int64, false),
            Field::new("City", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![1, 3, 5, 6, 9])),
            Arc::new(StringArray::from(vec![
                "Boston", "Austin", "Boston", "Denver", "Austin",
            ])),
        ],
    )?;
    let cities = DataFrame::from_batches(vec![cities])?;
    let with_city = df.merge(&cities, Merge::on(&["Person ID"]))?;
    println!("{}", pretty_format_batches(&[with_city.reset_index()?])?);

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
