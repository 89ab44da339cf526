//! A chaos soak: a groupby over a hash join runs again and again on a local cluster while a
//! random worker is SIGKILLed on a Poisson schedule (and started again by the cluster), until
//! `--kills` workers have died. Every answer is checked against the `threads` runtime's, and a
//! compute that takes more than `--hang` seconds counts as hung.
//!
//! ```text
//! cargo run --release --example chaos -- --kills 20 --every 2.0 --workers 3 --rows 2000000
//! cargo run --release --example chaos -- --kills 0 --computes 10   # the same, undisturbed
//! ```
//!
//! Prints one line per compute and `RESULT name=chaos ...` at the end; exits with 1 if any
//! answer was wrong or any compute hung or failed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use partita::collections::{count, sum, Merge};
use partita::prelude::*;

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} {v}: not a number"))
        })
}

/// `rows` rows of a key (1,000 keys) and a value, and a table of each key with a weight.
fn tables(rows: i64) -> (DataFrame, DataFrame) {
    let facts = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Float64, false),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(
                (0..rows).map(|i| (i * 7919) % 1000),
            )),
            Arc::new(Float64Array::from_iter_values(
                (0..rows).map(|i| (i % 101) as f64 / 8.0),
            )),
        ],
    )
    .expect("columns of one length");
    let dims = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("w", DataType::Int64, false),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(0..1000)),
            Arc::new(Int64Array::from_iter_values((0..1000).map(|k| k % 7))),
        ],
    )
    .expect("columns of one length");
    (
        DataFrame::from_arrow(facts, 32).expect("a table"),
        DataFrame::from_arrow(dims, 4).expect("a table"),
    )
}

/// The job: join the facts to their keys' weights by a hash shuffle, then sum and count the
/// values per weight.
fn job(facts: &DataFrame, dims: &DataFrame) -> partita::collections::Result<RecordBatch> {
    let joined = facts.merge(dims, Merge::on(&["k"]).broadcast(false))?;
    joined
        .groupby(&["w"])?
        .agg(vec![sum("v"), count("v")])?
        .sort_values(&["w"], true, 1)?
        .compute()
}

fn main() {
    partita::worker_main();
    let kills = arg("--kills", 20.0) as usize;
    let every = arg("--every", 2.0);
    let workers = arg("--workers", 3.0) as usize;
    let rows = arg("--rows", 2_000_000.0) as i64;
    let hang = Duration::from_secs_f64(arg("--hang", 120.0));
    // At least this many computes: with `--kills 0`, an undisturbed baseline.
    let at_least = arg("--computes", 0.0) as usize;

    let (facts, dims) = tables(rows);
    let reference = job(&facts, &dims).expect("the threads runtime computes the job");
    let rt = Runtime::builder()
        .local_cluster(workers)
        .build()
        .expect("a local cluster");
    let cluster = rt.cluster().expect("a cluster").clone();

    let stop = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicUsize::new(0));
    let killer = {
        let (stop, killed, cluster) = (stop.clone(), killed.clone(), cluster.clone());
        std::thread::spawn(move || {
            let mut rng = fastrand::Rng::new();
            while killed.load(Ordering::Relaxed) < kills && !stop.load(Ordering::Relaxed) {
                // Exponential gaps: a Poisson schedule with `every` seconds between kills.
                let gap = -every * (1.0 - rng.f64()).ln();
                std::thread::sleep(Duration::from_secs_f64(gap));
                let alive = cluster.workers();
                if alive.is_empty() {
                    continue;
                }
                let victim = &alive[rng.usize(..alive.len())];
                let ok = std::process::Command::new("kill")
                    .args(["-9", &victim.pid.to_string()])
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    let n = killed.fetch_add(1, Ordering::Relaxed) + 1;
                    println!("kill {n}: {} (pid {})", victim.name, victim.pid);
                }
            }
        })
    };

    let started = Instant::now();
    let (mut computes, mut wrong, mut failed, mut hung) = (0, 0, 0, 0);
    let mut slowest = Duration::ZERO;
    let mut times = Vec::new();
    while killed.load(Ordering::Relaxed) < kills || computes < at_least {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let at = Instant::now();
        {
            let (rt, facts, dims) = (rt.clone(), facts.clone(), dims.clone());
            std::thread::spawn(move || {
                let _ = tx.send(rt.install(|| job(&facts, &dims)));
            });
        }
        computes += 1;
        match rx.recv_timeout(hang) {
            Ok(Ok(answer)) => {
                let took = at.elapsed();
                slowest = slowest.max(took);
                times.push(took.as_secs_f64());
                let right = answer == reference;
                wrong += usize::from(!right);
                println!(
                    "compute {computes}: {:.2} s, {}",
                    took.as_secs_f64(),
                    if right { "right" } else { "WRONG" }
                );
            }
            Ok(Err(e)) => {
                failed += 1;
                println!("compute {computes}: FAILED: {e}");
            }
            Err(_) => {
                hung += 1;
                println!("compute {computes}: HUNG for {hang:?}");
                break;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = killer.join();
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(0.0);
    println!(
        "RESULT name=chaos kills={} computes={computes} wrong={wrong} failed={failed} hung={hung} \
         median_s={median:.2} slowest_s={:.2} seconds={:.1}",
        killed.load(Ordering::Relaxed),
        slowest.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    drop(rt);
    if wrong + failed + hung > 0 {
        std::process::exit(1);
    }
}
