//! Task overhead: how many tasks per second the runtime executes when every task is tiny.
//!
//! ```text
//! cargo run --release --example tasks -- --variant tree --n 100000 --fanin 16
//! cargo run --release --example tasks -- --variant chain --n 10000
//! cargo run --release --example tasks -- --variant wide --n 1000000
//! cargo run --release --example tasks -- --variant tree --n 100000 --fanin 16 --local-cluster 2
//! ```
//!
//! Fusion is off, so each task runs as its own task actor through the pool. Prints, last,
//! `RESULT name=tasks.<variant>.partita seconds=<compute s> checksum=<c> tasks=<n> tasks_per_s=<r> build_s=<s>`.
//! With `--local-cluster N` the tree runs on a scheduler and N worker processes of this example
//! (`RESULT name=tasks.tree.cluster ...`); its leaves are then `from_value(i).map(inc)`, two
//! tasks each, all counted.

mod graphs;
#[path = "../common/rss.rs"]
mod rss;

// As the other throughput examples: many small allocations on many threads.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use partita::prelude::*;

struct Args {
    variant: String,
    n: u64,
    fanin: usize,
    threads: Option<usize>,
    scheduler: Scheduler,
    fuse: bool,
    local_cluster: Option<usize>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        variant: "tree".into(),
        n: 0,
        fanin: 16,
        threads: None,
        scheduler: Scheduler::Threads,
        fuse: false,
        local_cluster: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--variant" => args.variant = value()?,
            "--n" => args.n = value()?.parse().map_err(|e| format!("--n: {e}"))?,
            "--fanin" => args.fanin = value()?.parse().map_err(|e| format!("--fanin: {e}"))?,
            "--threads" => {
                args.threads = Some(value()?.parse().map_err(|e| format!("--threads: {e}"))?)
            }
            "--scheduler" => {
                args.scheduler = match value()?.as_str() {
                    "sync" => Scheduler::Sync,
                    "threads" => Scheduler::Threads,
                    other => return Err(format!("unknown scheduler {other}")),
                }
            }
            "--fuse" => args.fuse = true,
            "--local-cluster" => {
                args.local_cluster = Some(
                    value()?
                        .parse()
                        .map_err(|e| format!("--local-cluster: {e}"))?,
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.n == 0 {
        args.n = match args.variant.as_str() {
            "chain" => 10_000,
            "wide" => 1_000_000,
            _ => 100_000,
        };
    }
    if args.fanin < 2 {
        return Err("--fanin must be at least 2".into());
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    partita::worker_main();
    let args = parse().map_err(|e| {
        format!("{e}\nusage: tasks --variant tree|chain|wide [--n N] [--fanin F] [--threads T] [--scheduler sync|threads] [--fuse] [--local-cluster N]")
    })?;
    let mut builder = Runtime::builder().scheduler(args.scheduler).fuse(args.fuse);
    if let Some(t) = args.threads {
        builder = builder.threads(t);
    }
    if let Some(n) = args.local_cluster {
        if args.variant != "tree" {
            return Err("--local-cluster runs the tree variant".into());
        }
        builder = builder.local_cluster(n);
    }
    let rt = builder.build()?;
    let rss_before = rss::peak_rss_mib();

    let built = Instant::now();
    let (checksum, tasks, seconds, build_s) = match args.variant.as_str() {
        "tree" | "chain" => {
            let (root, tasks) = if args.local_cluster.is_some() {
                graphs::shippable_tree(args.n, args.fanin)
            } else if args.variant == "tree" {
                graphs::tree(args.n, args.fanin)
            } else {
                graphs::chain(args.n)
            };
            let build_s = built.elapsed().as_secs_f64();
            let t = Instant::now();
            let v = rt.install(|| root.compute())?;
            (v, tasks, t.elapsed().as_secs_f64(), build_s)
        }
        "wide" => {
            let xs = graphs::wide(args.n);
            let build_s = built.elapsed().as_secs_f64();
            let t = Instant::now();
            let vs = rt.install(|| compute_all(&xs))?;
            let seconds = t.elapsed().as_secs_f64();
            (vs.iter().sum(), xs.len(), seconds, build_s)
        }
        other => return Err(format!("unknown variant {other}").into()),
    };
    let expected = match args.variant.as_str() {
        "chain" => args.n,
        _ => args.n * (args.n + 1) / 2,
    };
    if checksum != expected {
        return Err(format!("wrong checksum {checksum}, expected {expected}").into());
    }
    let peak = rss::peak_rss_mib();
    eprintln!(
        "scheduler={:?} threads={} fuse={} peak_rss_mib={peak:.1} (at start {rss_before:.1}) bytes_per_task={:.0}",
        rt.scheduler(),
        rt.threads(),
        rt.fuses(),
        (peak - rss_before) * 1024.0 * 1024.0 / tasks as f64,
    );
    println!(
        "RESULT name=tasks.{}.{} seconds={seconds:.6} checksum={checksum} tasks={tasks} tasks_per_s={:.1} build_s={build_s:.4} peak_rss_mb={peak:.1}",
        args.variant,
        if args.local_cluster.is_some() { "cluster" } else { "partita" },
        tasks as f64 / seconds,
    );
    Ok(())
}
