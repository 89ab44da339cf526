//! The seed's HDF5 example: a float64 dataset `/big-data` read in 1000x1000 blocks, each row
//! centred on its mean, the result stored to a second file while its standard deviation is
//! computed, in one pass over the data.
//!
//! ```text
//! cargo run --release --example hdf5_mean [-- <file> [<rows> <cols>]]
//! ```
//!
//! `<file>` (default `myfile.hdf5`) is created first if it does not exist, holding `<rows> x
//! <cols>` (default 4000 x 3000) uniform random numbers in HDF5 chunks of 1000 x 1000. The
//! centred array goes to `<file stem>-centred.hdf5`, dataset `/centred`, beside it.

use std::path::PathBuf;
use std::time::Instant;

use partita::collections::{axis, Array, Axes};
use partita::io::{read_hdf5_as, store_hdf5, to_hdf5, Hdf5Write};
use partita::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().unwrap_or_else(|| "myfile.hdf5".into()));
    let rows: usize = args.next().map_or(Ok(4000), |a| a.parse())?;
    let cols: usize = args.next().map_or(Ok(3000), |a| a.parse())?;
    let rt = Runtime::global();
    let _progress = ProgressBar::new(rt);

    if !path.exists() {
        let t = Instant::now();
        let data = Array::random(&[rows, cols], &[1000, 1000], 42)?;
        to_hdf5(&data, &path, "/big-data", &Hdf5Write::new())?;
        println!(
            "wrote {} ({rows} x {cols} float64 in /big-data) in {:.2} s",
            path.display(),
            t.elapsed().as_secs_f64()
        );
    }

    let t = Instant::now();
    let x = read_hdf5_as::<f64>(&path, "/big-data", Some(&[1000, 1000]))?;
    println!("x = {x}");
    let y = &x - &x.mean(axis(1).keepdims())?;
    let stem = path
        .file_stem()
        .map_or("out".into(), |s| s.to_string_lossy());
    let out = path.with_file_name(format!("{stem}-centred.hdf5"));
    // The std needs every block of `stored`, so computing it also writes `y` to `out`.
    let stored = store_hdf5(&y, &out, "/centred", &Hdf5Write::new())?;
    let std = stored.std(Axes::All, 0)?;
    println!("std = {std}");
    let std = std.compute_scalar()?;
    println!(
        "std of x - x.mean(axis=1, keepdims=True): {std:.6} (wrote {}:/centred) in {:.2} s",
        out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
