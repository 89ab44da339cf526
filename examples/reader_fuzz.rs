//! Mutation fuzz of the readers: CSV, text, gzip and zstd text, Parquet, Arrow IPC and HDF5.
//!
//! ```text
//! cargo run --release --example reader_fuzz -- --reader csv [--cases 100000] [--seed 1]
//!     [--from 0] [--progress FILE] [--seed-file FILE]
//! ```
//!
//! Each case takes the reader's seed file (a real file of that format, made at start), applies
//! one to four random byte flips, overwrites, insertions, deletions or truncations (case `i`
//! of seed `s` always makes the same file, so a run can resume after a crash with `--from`),
//! and reads it through partita. It counts:
//! - **wrong**: a CSV read split at a random block size that differs from the whole-file read
//!   (one fails and the other does not, or their rows differ); text whose lines differ from
//!   `str::lines` of the file (of its decompressed bytes, for gzip and zstd), or that fails
//!   where the reference reads, or reads where the reference fails;
//! - **unnamed**: a panic that escapes partita, or an error that reports a panic without
//!   naming the file;
//! - **hangs**: a case still running after 20 s ends the process with exit code 3.
//!
//! Aborts (and libhdf5's own crashes) end the process; `scripts/fuzz.sh` counts them from the
//! `--progress` file, which holds the case being read, and resumes after it, with the same
//! seed file (`--seed-file`: written by the first run, read by the others). Prints
//! `RESULT name=fuzz.<reader> cases=<n> ok=<k> errors=<e> wrong=<w> unnamed=<u> seconds=<s>`.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use partita::collections::{Array, DataFrame};
use partita::io::{
    read_csv, read_hdf5, read_ipc, read_parquet, read_text_with, to_hdf5, to_ipc, to_parquet,
    CsvOptions, Hdf5Write, ParquetOptions, TextOptions,
};
use partita::prelude::*;

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

struct Args {
    reader: String,
    cases: u64,
    seed: u64,
    from: u64,
    progress: Option<PathBuf>,
    seed_file: Option<PathBuf>,
}

fn args() -> Fallible<Args> {
    let mut a = Args {
        reader: String::new(),
        cases: 100_000,
        seed: 1,
        from: 0,
        progress: None,
        seed_file: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--reader" => a.reader = value()?,
            "--cases" => a.cases = value()?.parse()?,
            "--seed" => a.seed = value()?.parse()?,
            "--from" => a.from = value()?.parse()?,
            "--progress" => a.progress = Some(value()?.into()),
            "--seed-file" => a.seed_file = Some(value()?.into()),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if a.reader.is_empty() {
        return Err("--reader csv|text|gzip|zstd|parquet|ipc|hdf5".into());
    }
    Ok(a)
}

/// CSV with quoted fields, newlines inside quotes, doubled quotes, stray quotes in unquoted
/// fields, nulls, numbers and floats.
fn csv_seed() -> Vec<u8> {
    let mut s = String::from("id,name,x,note\n");
    for i in 0..120 {
        let note = match i % 6 {
            0 => "\"two\nlines\"".to_string(),
            1 => format!("{i} \"inch"),
            2 => "\"say \"\"hi\"\"\"".to_string(),
            3 => String::new(),
            4 => "\"a, b\"".to_string(),
            _ => format!("plain {i}"),
        };
        s.push_str(&format!("{i},n{i},{}.5,{note}\n", i * 3));
    }
    s.into_bytes()
}

fn text_seed() -> Vec<u8> {
    let mut s = String::new();
    for i in 0..200 {
        let line = match i % 5 {
            0 => format!("line {i} with ünïcode ✓"),
            1 => String::new(),
            2 => format!("crlf {i}\r"),
            _ => format!("{i} {}", "word ".repeat(i % 7)),
        };
        s.push_str(&line);
        s.push('\n');
    }
    s.into_bytes()
}

fn frame() -> Fallible<DataFrame> {
    let n = 300;
    let batch = RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef,
        ),
        (
            "name",
            Arc::new(StringArray::from_iter(
                (0..n).map(|i| (i % 7 != 0).then(|| format!("name {i}"))),
            )),
        ),
        (
            "x",
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| (i % 5 != 0).then_some(i as f64 / 3.0)),
            )),
        ),
    ])?;
    Ok(DataFrame::from_arrow(batch, 3)?)
}

/// The seed file of `reader`, written under `dir`; returns its bytes and its extension.
fn seed(reader: &str, dir: &Path) -> Fallible<(Vec<u8>, &'static str)> {
    Ok(match reader {
        "csv" => (csv_seed(), "csv"),
        "text" => (text_seed(), "txt"),
        "gzip" => (compress(reader, &text_seed())?, "txt.gz"),
        "zstd" => (compress(reader, &text_seed())?, "txt.zst"),
        "parquet" | "ipc" => {
            let out = dir.join("seed");
            let files = if reader == "parquet" {
                to_parquet(&frame()?, &out)?
            } else {
                to_ipc(&frame()?, &out)?
            };
            let ext = if reader == "parquet" {
                "parquet"
            } else {
                "arrow"
            };
            (std::fs::read(&files[0])?, ext)
        }
        "hdf5" => {
            let path = dir.join("seed.h5");
            let x = Array::random(&[60, 8], &[16, 8], 3)?;
            to_hdf5(&x, &path, "x", &Hdf5Write::new())?;
            (std::fs::read(&path)?, "h5")
        }
        other => return Err(format!("no reader {other}").into()),
    })
}

/// `text` compressed as `reader` (`gzip` or `zstd`) reads it.
fn compress(reader: &str, text: &[u8]) -> Fallible<Vec<u8>> {
    Ok(match reader {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(text)?;
            e.finish()?
        }
        _ => zstd::encode_all(text, 3)?,
    })
}

/// One to four random edits of `bytes`.
fn mutate(bytes: &[u8], rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for _ in 0..rng.usize(1..=4) {
        if out.is_empty() {
            out.push(rng.u8(..));
            continue;
        }
        let i = rng.usize(..out.len());
        match rng.u8(..6) {
            0 => out[i] ^= 1 << rng.u8(..8),
            1 => out[i] = rng.u8(..),
            2 => {
                out[i] = *[b'"', b',', b'\n', b'\r', 0xff, 0]
                    .get(rng.usize(..6))
                    .unwrap_or(&0)
            }
            3 => out.insert(i, rng.u8(..)),
            4 => {
                out.remove(i);
            }
            _ => out.truncate(i),
        }
    }
    out
}

/// What one case found.
enum Found {
    Ok,
    /// An error that names the file.
    Error,
    Wrong(String),
    Unnamed(String),
}

/// An error's text: fine if it names the file, unnamed if it reports a panic without it.
fn judge_error(text: String, name: &str) -> Found {
    if text.contains(name) || !text.contains("panicked") {
        Found::Error
    } else {
        Found::Unnamed(text)
    }
}

fn csv_case(rt: &Runtime, path: &Path, name: &str, blocksize: u64) -> Found {
    let read = |bs: Option<u64>| -> Result<RecordBatch, String> {
        let df = read_csv(path, CsvOptions::default().blocksize(bs)).map_err(|e| e.to_string())?;
        rt.install(|| df.reset_index()).map_err(|e| e.to_string())
    };
    match (read(None), read(Some(blocksize))) {
        (Ok(a), Ok(b)) if a == b => Found::Ok,
        (Ok(_), Ok(_)) => Found::Wrong(format!("blocksize {blocksize}: the rows differ")),
        (Err(a), Err(_)) => judge_error(a, name),
        (Ok(_), Err(e)) => Found::Wrong(format!("blocksize {blocksize} fails alone: {e}")),
        (Err(e), Ok(_)) => Found::Wrong(format!("the whole read fails alone: {e}")),
    }
}

/// The lines of a text file by `str::lines`, after decompressing it as partita does.
fn reference_lines(bytes: &[u8], reader: &str, lossy: bool) -> Option<Vec<String>> {
    use std::io::Read;
    let mut raw = Vec::new();
    match reader {
        "gzip" => flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut raw)
            .ok()?,
        "zstd" => zstd::stream::read::Decoder::new(bytes)
            .ok()?
            .read_to_end(&mut raw)
            .ok()?,
        _ => {
            raw = bytes.to_vec();
            raw.len()
        }
    };
    let text = if lossy {
        String::from_utf8_lossy(&raw).into_owned()
    } else {
        String::from_utf8(raw).ok()?
    };
    Some(text.lines().map(str::to_string).collect())
}

fn text_case(
    rt: &Runtime,
    path: &Path,
    name: &str,
    bytes: &[u8],
    reader: &str,
    rng: &mut fastrand::Rng,
) -> Found {
    let lossy = rng.bool();
    let blocksize = rng.u64(1..=bytes.len().max(1) as u64 + 1);
    let options = TextOptions {
        blocksize: Some(blocksize),
        lossy,
    };
    let got = read_text_with(path, options)
        .map_err(|e| e.to_string())
        .and_then(|bag| rt.install(|| bag.compute()).map_err(|e| e.to_string()));
    match (got, reference_lines(bytes, reader, lossy)) {
        (Ok(a), Some(b)) if a == b => Found::Ok,
        (Ok(_), Some(_)) => Found::Wrong(format!(
            "blocksize {blocksize}, lossy {lossy}: the lines differ"
        )),
        (Ok(_), None) => Found::Wrong("read a file the reference cannot".into()),
        (Err(e), Some(_)) => Found::Wrong(format!("fails where the reference reads: {e}")),
        (Err(e), None) => judge_error(e, name),
    }
}

fn frame_case(rt: &Runtime, path: &Path, name: &str, reader: &str) -> Found {
    let got = match reader {
        "parquet" => read_parquet(path, ParquetOptions::default()),
        _ => read_ipc(path),
    };
    match got
        .map_err(|e| e.to_string())
        .and_then(|df| rt.install(|| df.compute()).map_err(|e| e.to_string()))
    {
        Ok(_) => Found::Ok,
        Err(e) => judge_error(e, name),
    }
}

fn hdf5_case(rt: &Runtime, path: &Path, name: &str) -> Found {
    // The seed is float64; a mutant of another dtype is read as it is, then cast.
    let got = read_hdf5(path, "x", None)
        .map_err(|e| e.to_string())
        .and_then(|x| {
            x.astype(partita::collections::DType::F64)
                .map_err(|e| e.to_string())
        })
        .and_then(|x| x.into_typed::<f64>().map_err(|e| e.to_string()))
        .and_then(|x| {
            rt.install(|| x.compute())
                .map(drop)
                .map_err(|e| e.to_string())
        });
    match got {
        Ok(()) => Found::Ok,
        Err(e) => judge_error(e, name),
    }
}

/// Reads the file at `path` (holding `bytes`) as `reader` does, and judges the outcome.
fn read_case(
    rt: &Runtime,
    reader: &str,
    path: &Path,
    name: &str,
    bytes: &[u8],
    rng: &mut fastrand::Rng,
) -> Found {
    match reader {
        "csv" => {
            let bs = rng.u64(1..=bytes.len().max(1) as u64 + 1);
            csv_case(rt, path, name, bs)
        }
        "text" | "gzip" | "zstd" => text_case(rt, path, name, bytes, reader, rng),
        "parquet" | "ipc" => frame_case(rt, path, name, reader),
        _ => hdf5_case(rt, path, name),
    }
}

fn main() -> Fallible<()> {
    let args = args()?;
    // Decoders panic on some mutants by design of their crates; partita catches those, and
    // what escapes is reported below. The default hook would print each one.
    std::panic::set_hook(Box::new(|_| {}));
    let dir = tempfile::tempdir()?;
    let rt = Runtime::builder().threads(2).build()?;
    let (mut seed, ext) = rt.install(|| seed(&args.reader, dir.path()))?;
    // A run that resumes after a crash reads the same seed file (an HDF5 file embeds the time
    // it was written, so a fresh one would make other mutants).
    if let Some(file) = &args.seed_file {
        match std::fs::read(file) {
            Ok(bytes) => seed = bytes,
            Err(_) => std::fs::write(file, &seed)?,
        }
    }
    // A case that runs past 20 s is a hang: say which, and end.
    let current = Arc::new(AtomicU64::new(u64::MAX));
    let watched = current.clone();
    std::thread::spawn(move || {
        let (mut last, mut since) = (u64::MAX, Instant::now());
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let now = watched.load(Ordering::Relaxed);
            if now != last {
                (last, since) = (now, Instant::now());
            } else if now != u64::MAX && since.elapsed() > Duration::from_secs(20) {
                println!("HANG case {now}");
                std::process::exit(3);
            }
        }
    });
    // The seed itself must read, or the cases test nothing.
    let name = format!("case.{ext}");
    let path = dir.path().join(&name);
    std::fs::write(&path, &seed)?;
    let mut rng = fastrand::Rng::with_seed(args.seed);
    if !matches!(
        read_case(&rt, &args.reader, &path, &name, &seed, &mut rng),
        Found::Ok
    ) {
        return Err(format!("the {} seed does not read", args.reader).into());
    }
    let started = Instant::now();
    let (mut ok, mut errors, mut wrong, mut unnamed) = (0_u64, 0_u64, 0_u64, 0_u64);
    for case in args.from..args.cases {
        current.store(case, Ordering::Relaxed);
        if let Some(p) = &args.progress {
            std::fs::write(p, case.to_string())?;
        }
        let mut rng =
            fastrand::Rng::with_seed(args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ case);
        // Half the compressed cases compress mutated text: valid streams of odd lines.
        let bytes = match args.reader.as_str() {
            "gzip" | "zstd" if rng.bool() => {
                compress(&args.reader, &mutate(&text_seed(), &mut rng))?
            }
            _ => mutate(&seed, &mut rng),
        };
        std::fs::write(&path, &bytes)?;
        let found = catch_unwind(AssertUnwindSafe(|| {
            read_case(&rt, &args.reader, &path, &name, &bytes, &mut rng)
        }))
        .unwrap_or_else(|p| {
            Found::Unnamed(format!(
                "escaped: {}",
                partita::runtime::panic_message(p.as_ref())
            ))
        });
        match found {
            Found::Ok => ok += 1,
            Found::Error => errors += 1,
            Found::Wrong(why) => {
                wrong += 1;
                eprintln!("WRONG case {case}: {why}");
            }
            Found::Unnamed(why) => {
                unnamed += 1;
                eprintln!("UNNAMED case {case}: {why}");
            }
        }
    }
    current.store(u64::MAX, Ordering::Relaxed);
    println!(
        "RESULT name=fuzz.{} cases={} ok={ok} errors={errors} wrong={wrong} unnamed={unnamed} seconds={:.1}",
        args.reader,
        args.cases - args.from,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
