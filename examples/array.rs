//! The array workloads of `../shared/bench/w_array.py`.
//!
//! ```text
//! cargo run --release --example array -- --mode h5 /tmp/bench-data/array/big.h5 /tmp/out
//! cargo run --release --example array -- --mode mem [--n 20000] [--m 4000]
//! ```
//!
//! `h5`: `x = /big-data` in chunks of 1000×1000, `y = x - x.mean(axis=1, keepdims)`, `y.std()`,
//! and `y` written to `<outdir>/out-partita.h5` dataset `/y`, all in one pass over the file.
//! Prints `RESULT name=arr.h5.partita seconds=<s> checksum=<y.std()>`.
//!
//! `mem`: three in-memory results on seeded random data, each its own `RESULT` line:
//! `arr.mem_sym` = `(x + x.T).mean(axis=0).sum()` for `x` n×n, `arr.mem_mm1k` =
//! `(a @ a[:, :1000]).sum()` and `arr.mem_mm` = `(a @ a.T).sum()` for `a` m×m. The random
//! numbers come from partita's own generator, so the checksums match NumPy's only in
//! expectation (≈ n, m²·1000/4, m³/4). `gen_s` is the time to generate and persist `a`.

#[path = "common/pyfloat.rs"]
mod pyfloat;
#[path = "common/rss.rs"]
mod rss;

/// Blocks are megabytes each and short-lived; mimalloc reuses their memory where the system
/// allocator returns it to the kernel and faults it in again for the next block.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use pyfloat::fmt_float;

use partita::prelude::*;
use partita::Index;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mode = arg(&args, "--mode").ok_or("usage: array --mode h5|mem ...")?;
    let rt = Runtime::builder().build()?;
    match mode.as_str() {
        "h5" => rt.install(|| h5(&rt, &args)),
        "mem" => rt.install(|| mem(&args)),
        other => Err(format!("unknown mode {other:?}: use h5 or mem").into()),
    }
}

fn h5(rt: &Runtime, args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let positional: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with("--") && *a != "h5")
        .collect();
    let [src, outdir] = positional[..] else {
        return Err("usage: array --mode h5 <big.h5> <outdir>".into());
    };
    std::fs::create_dir_all(outdir)?;
    let out = std::path::Path::new(outdir).join("out-partita.h5");
    let _progress = ProgressBar::new(rt);
    let t = Instant::now();
    let x: Array<f64> = partita::io::read_hdf5_as(src, "/big-data", Some(&[1000, 1000]))?;
    let y = &x - &x.mean(axis(1).keepdims())?;
    let opts = partita::io::Hdf5Write::new().chunks(&[1000, 1000]);
    let stored = partita::io::store_hdf5(&y, &out, "/y", &opts)?;
    let s = stored.std(Axes::All, 0)?.compute()?;
    let s = s.into_iter().next().ok_or("std of an empty array")?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!("peak RSS {:.0} MiB", rss::peak_rss_mib());
    println!(
        "RESULT name=arr.h5.partita seconds={secs:.4} checksum={}",
        fmt_float(s)
    );
    Ok(())
}

fn mem(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = arg(args, "--n").map_or(Ok(20000), |v| v.parse())?;
    let m: usize = arg(args, "--m").map_or(Ok(4000), |v| v.parse())?;

    // (x + x.T).mean(axis=0).sum(), generation included (as Dask's graph includes it).
    let t = Instant::now();
    let x = Array::random(&[n, n], &[1000, 1000], 42)?;
    let v = (&x + &x.t()).mean(axis(0))?.sum(Axes::All)?.compute()?;
    let secs = t.elapsed().as_secs_f64();
    let v = v.into_iter().next().unwrap_or(f64::NAN);
    println!(
        "RESULT name=arr.mem_sym.partita seconds={secs:.4} checksum={} gen_s=0.0 n={n} m={m}",
        fmt_float(v)
    );

    // The matrix products on a persisted `a`, so they are timed apart from its generation.
    let t = Instant::now();
    let a = Array::random(&[m, m], &[1000, 1000], 42)?.persist()?;
    let gen_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let cols = a.slice(&[Index::all(), Index::from(0..1000.min(m))])?;
    let v = a.matmul(&cols)?.sum(Axes::All)?.compute()?;
    let secs = t.elapsed().as_secs_f64();
    let v = v.into_iter().next().unwrap_or(f64::NAN);
    println!(
        "RESULT name=arr.mem_mm1k.partita seconds={secs:.4} checksum={} gen_s={gen_s:.4} n={n} m={m}",
        fmt_float(v)
    );

    let t = Instant::now();
    let v = a.matmul(&a.t())?.sum(Axes::All)?.compute()?;
    let secs = t.elapsed().as_secs_f64();
    let v = v.into_iter().next().unwrap_or(f64::NAN);
    println!(
        "RESULT name=arr.mem_mm.partita seconds={secs:.4} checksum={} gen_s={gen_s:.4} n={n} m={m}",
        fmt_float(v)
    );
    eprintln!("peak RSS {:.0} MiB", rss::peak_rss_mib());
    Ok(())
}
