//! Parking tickets, as in the seed: 33 CSV files read as one DataFrame with `npartitions=33`,
//! its structure shown before anything runs, then a few questions answered with a progress bar:
//! counts per state, code and precinct, tickets per month from the parsed issue dates, and the
//! top vehicle makes once their names are stripped and upper-cased.
//!
//! ```text
//! cargo run --release --example parking [-- <rows per file>]
//! ```
//!
//! The data is generated (deterministically) into a temporary folder: the seed's columns,
//! Summons Number to Violation Precinct, with skewed states, codes and precincts.

use std::fmt::Write as _;
use std::time::Instant;

use arrow::util::pretty::pretty_format_batches;
use partita::io::{read_csv, CsvOptions};
use partita::prelude::*;

const FILES: usize = 33;
const STATES: &[&str] = &[
    "NY", "NJ", "PA", "CT", "FL", "MA", "VA", "MD", "NC", "TX", "99",
];
const PLATE_TYPES: &[&str] = &["PAS", "COM", "OMT", "SRF", "999"];
const BODIES: &[&str] = &["SUBN", "4DSD", "VAN", "DELV", "PICK", "2DSD", "TRAC"];
const MAKES: &[&str] = &[
    "FORD", "TOYOT", "HONDA", "NISSA", "CHEVR", "FRUEH", "ME/BE", "BMW",
];
const AGENCIES: &[&str] = &["T", "S", "P", "X", "K"];

/// A small xorshift generator: the same data on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// An index below `n`, skewed towards 0 (most tickets go to few values).
    fn skewed(&mut self, n: usize) -> usize {
        let a = self.next() as usize % n;
        let b = self.next() as usize % n;
        a.min(b)
    }
}

fn generate(dir: &std::path::Path, rows: usize) -> std::io::Result<()> {
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    let mut summons = 1_000_000_000_u64;
    for f in 0..FILES {
        let mut csv = String::from(
            "Summons Number,Plate ID,Registration State,Plate Type,Issue Date,Violation Code,\
             Vehicle Body Type,Vehicle Make,Issuing Agency,Street Code1,Vehicle Expiration Date,\
             Violation Location,Violation Precinct\n",
        );
        for _ in 0..rows {
            summons += 1 + rng.next() % 7;
            let precinct = [14, 19, 18, 1, 13, 114, 6, 109][rng.skewed(8)] as u64;
            let _ = writeln!(
                csv,
                "{summons},{}{:04},{},{},{:02}/{:02}/2017,{},{},{},{},{},{},{precinct},{precinct}",
                ["GBB", "HXR", "FPZ", "JDK"][rng.skewed(4)],
                rng.next() % 10_000,
                STATES[rng.skewed(STATES.len())],
                PLATE_TYPES[rng.skewed(PLATE_TYPES.len())],
                1 + rng.next() % 12,
                1 + rng.next() % 28,
                [21, 36, 38, 14, 37, 20, 46, 7, 40, 71][rng.skewed(10)],
                BODIES[rng.skewed(BODIES.len())],
                // As clerks type them: some in lower case, some with stray spaces.
                match rng.next() % 4 {
                    0 => MAKES[rng.skewed(MAKES.len())].to_lowercase(),
                    1 => format!(" {} ", MAKES[rng.skewed(MAKES.len())]),
                    _ => MAKES[rng.skewed(MAKES.len())].to_string(),
                },
                AGENCIES[rng.skewed(AGENCIES.len())],
                10_000 + rng.next() % 90_000,
                20_170_000 + rng.next() % 40_000,
            );
        }
        std::fs::write(dir.join(format!("tickets-{f:02}.csv")), csv)?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: usize = std::env::args().nth(1).map_or(Ok(20_000), |a| a.parse())?;
    let dir = std::env::temp_dir().join(format!("partita-parking-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    generate(&dir, rows)?;

    let rt = Runtime::builder().build()?;
    let _progress = ProgressBar::new(&rt);
    let started = Instant::now();
    // One partition per file.
    let tickets = read_csv(
        format!("{}/tickets-*.csv", dir.display()).as_str(),
        CsvOptions::default()
            .blocksize(None)
            .parse_date("Issue Date", Some("%m/%d/%Y")),
    )?;
    println!("{tickets}\n");

    for (question, column) in [
        ("Tickets per registration state", "Registration State"),
        ("The most common violation codes", "Violation Code"),
        ("The precincts with the most tickets", "Violation Precinct"),
    ] {
        let counts = rt.install(|| tickets.value_counts(column)?.head(5))?;
        println!("{question}:\n{}\n", pretty_format_batches(&[counts])?);
    }
    // Month by month, from the parsed dates.
    let months = tickets.with_column("Month", col("Issue Date").dt().strftime("%Y-%m"))?;
    let per_month = rt.install(|| {
        months
            .value_counts("Month")?
            .sort_values(&["Month"], true, 1)?
            .reset_index()
    })?;
    println!(
        "Tickets per month:\n{}\n",
        pretty_format_batches(&[per_month])?
    );
    // The makes, cleaned as they are counted.
    let makes = tickets.with_column("Make", col("Vehicle Make").str().strip().str().upper())?;
    let top = rt.install(|| makes.value_counts("Make")?.head(5))?;
    println!(
        "The top vehicle makes:\n{}\n",
        pretty_format_batches(&[top])?
    );
    let total = rt.install(|| tickets.len())?;
    println!(
        "{total} tickets in {} files, answered in {:.2} s",
        tickets.npartitions(),
        started.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
