//! The same programs on a local cluster: a scheduler in this process and worker processes of
//! this test binary, on loopback. Every answer must equal the `threads` runtime's, and the
//! cluster must refuse a wrong secret and a worker of another build.
//!
//! The binary has its own `main` (no libtest harness) so that it can also be the workers:
//! `partita::worker_main()` is its first line.

#[path = "common/harness.rs"]
mod harness;

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use partita::collections::{mean, sum as total, Agg, Merge, WindowResult};
use partita::prelude::*;
use partita::{remote_fn, Secret, Stream, Window};

remote_fn! {
    fn inc(x: &u64) -> u64 { x + 1 }
}
remote_fn! {
    fn sum(xs: &[&u64]) -> u64 { xs.iter().copied().sum() }
}
remote_fn! {
    fn words(line: &String, count: &mut dyn FnMut(&str)) { line.split_whitespace().for_each(count) }
}
remote_fn! {
    fn fails_at_13(x: &u64) -> u64 { assert!(*x != 13, "thirteen is unlucky"); *x }
}
remote_fn! {
    fn event(i: u64) -> (i64, f64, i64) { ((i % 3) as i64, (i % 5) as f64, i as i64) }
}
remote_fn! {
    fn event_time(e: &(i64, f64, i64)) -> i64 { e.2 }
}
remote_fn! {
    fn event_key(e: &(i64, f64, i64)) -> i64 { e.0 }
}
remote_fn! {
    fn event_value(e: &(i64, f64, i64)) -> f64 { e.1 }
}
remote_fn! {
    fn slowly(x: &u64) -> u64 { std::thread::sleep(Duration::from_millis(100)); *x }
}
remote_fn! {
    fn sluggish(x: u64) -> u64 { std::thread::sleep(Duration::from_millis(300)); x }
}
partita::register_value!(Vec<WindowResult<i64, f64>>);
remote_fn! {
    fn add(acc: u64, x: u64) -> u64 { acc + x }
}
remote_fn! {
    fn last_digit(x: &u64) -> u64 { x % 10 }
}
remote_fn! {
    fn top_two(part: Vec<u64>) -> Vec<u64> {
        let mut part = part;
        part.sort_unstable_by(|a, b| b.cmp(a));
        part.truncate(2);
        part
    }
}
remote_fn! {
    fn merge_top_two(parts: Vec<Vec<u64>>) -> Vec<u64> {
        top_two(parts.into_iter().flatten().collect())
    }
}
partita::register_value!(Vec<(u64, Vec<u64>)>);

/// A bag's fold, foldby, reduction, groupby and distinct, whose partial tables, accumulators
/// and shuffle pieces move between the workers.
fn bag_user_operations(rts: &Runtimes) {
    let n = 2_000_u64;
    let numbers = || Bag::from_sequence(0..n, 12);
    assert_eq!(
        rts.both(|| numbers().fold(0, add, add).compute().unwrap()),
        n * (n - 1) / 2
    );
    let by_digit = rts.both(|| numbers().foldby(last_digit, add, 0, add).compute().unwrap());
    let want: Vec<(u64, u64)> = (0..10)
        .map(|d| (d, (0..n).filter(|x| x % 10 == d).sum()))
        .collect();
    assert_eq!(by_digit, want);
    let top = rts.both(|| {
        numbers()
            .reduction(top_two, merge_top_two)
            .compute()
            .unwrap()
    });
    assert_eq!(top, vec![n - 1, n - 2]);
    let mut groups = rts.both(|| numbers().groupby(last_digit).compute().unwrap());
    groups.sort();
    assert_eq!(groups.len(), 10);
    assert_eq!(
        groups[7].1,
        (0..n).filter(|x| x % 10 == 7).collect::<Vec<u64>>()
    );
    let mut digits = rts.both(|| {
        let mut d = numbers().pluck(last_digit).distinct().compute().unwrap();
        d.sort();
        d
    });
    digits.sort();
    assert_eq!(digits, (0..10).collect::<Vec<u64>>());
}

/// A cluster of 3 workers for the tests that compare answers, and the threads runtime.
struct Runtimes {
    cluster: Runtime,
    threads: Runtime,
}

impl Runtimes {
    fn both<T: PartialEq + std::fmt::Debug>(&self, f: impl Fn() -> T) -> T {
        let here = self.threads.install(&f);
        let there = self.cluster.install(&f);
        assert_eq!(there, here);
        there
    }
}

/// The task tree: `inc(i)` leaves summed 16 at a time.
fn task_tree(rts: &Runtimes) {
    let n = 5_000_u64;
    let got = rts.both(|| {
        let mut layer: Vec<Delayed<u64>> = (0..n).map(|i| from_value(i).map(inc)).collect();
        while layer.len() > 1 {
            layer = layer.chunks(16).map(|xs| combine(xs, sum)).collect();
        }
        layer.pop().unwrap().compute().unwrap()
    });
    assert_eq!(got, n * (n + 1) / 2);
}

/// The workers' task events reach the client's event stream: the compute's start with its
/// task count, one `TaskFinished` per task, its end; and so the profiler's trace.
fn events_from_the_workers(rts: &Runtimes) {
    let rt = &rts.cluster;
    let profiler = partita::Profiler::new(rt);
    let events = rt.subscribe();
    let n = 200_u64;
    let got = rt.install(|| {
        let xs: Vec<Delayed<u64>> = (0..n).map(|i| from_value(i).map(inc)).collect();
        combine(&xs, sum).compute().unwrap()
    });
    assert_eq!(got, n * (n + 1) / 2);
    let seen: Vec<partita::Event> = events.receiver().try_iter().collect();
    let started: Vec<usize> = seen
        .iter()
        .filter_map(|e| match e.kind {
            partita::EventKind::ComputeStarted { tasks } => Some(tasks),
            _ => None,
        })
        .collect();
    let tasks = 2 * n as usize + 1;
    assert_eq!(started, vec![tasks]);
    let finished: Vec<&partita::Event> = seen
        .iter()
        .filter(|e| matches!(e.kind, partita::EventKind::TaskFinished))
        .collect();
    assert_eq!(finished.len(), tasks);
    let mut keys: Vec<String> = finished
        .iter()
        .map(|e| e.key.as_ref().unwrap().to_string())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), tasks, "each task once");
    assert!(finished.iter().all(|e| e.thread.is_some()));
    assert!(seen
        .iter()
        .any(|e| matches!(e.kind, partita::EventKind::ComputeFinished)));
    let trace = profiler.chrome_trace();
    assert_eq!(trace["traceEvents"].as_array().unwrap().len(), tasks);
}

/// A word count over a bag, through its user function.
fn word_count(rts: &Runtimes) {
    let lines: Vec<String> = (0..2_000)
        .map(|i| format!("w{} w{} common", i % 17, i % 5))
        .collect();
    let got = rts.both(|| {
        let mut f = Bag::from_sequence(lines.clone(), 7)
            .str_frequencies(words)
            .compute()
            .unwrap();
        f.sort();
        f
    });
    let common = got.iter().find(|(w, _)| w == "common").unwrap().1;
    assert_eq!(common, 2_000);
    assert_eq!(got.iter().map(|(_, c)| c).sum::<u64>(), 6_000);
}

fn frame(n: i64) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Float64, false),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(
                (0..n).map(|i| (i * 7919) % 97),
            )),
            Arc::new(Float64Array::from_iter_values(
                (0..n).map(|i| i as f64 / 4.0),
            )),
        ],
    )
    .unwrap()
}

/// Groupby in one merge and through the shuffle, a join and `set_index`: the rows moved
/// between workers must come together as they do in one process.
fn dataframes(rts: &Runtimes) {
    let x = DataFrame::from_arrow(frame(6_000), 6).unwrap();
    for shuffle_above in [usize::MAX, 0] {
        let got = rts.both(|| {
            let g = x.groupby(&["k"]).unwrap().shuffle_above(shuffle_above);
            let t = g.agg(vec![total("v"), mean("v")]).unwrap();
            t.sort_values(&["k"], true, 2).unwrap().compute().unwrap()
        });
        assert_eq!(got.num_rows(), 97);
    }
    let y = DataFrame::from_arrow(frame(500), 2).unwrap();
    let y = y.drop(&["v"]).unwrap();
    let joined = rts.both(|| {
        let j = x.merge(&y, Merge::on(&["k"]).broadcast(false)).unwrap();
        j.agg([Agg::of(col("v"), partita::collections::AggFunc::Sum).alias("s")])
            .unwrap()
            .compute()
            .unwrap()
    });
    assert_eq!(joined.num_rows(), 1);
    let indexed = rts.both(|| x.set_index("k", 3).unwrap().compute().unwrap());
    assert_eq!(indexed.num_rows(), 6_000);
    // The shuffles moved pieces between workers, and the workers say how many bytes.
    let start = Instant::now();
    let received = || -> u64 {
        let workers = rts.cluster.cluster().unwrap().workers();
        workers.iter().map(|w| w.received).sum()
    };
    while received() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no bytes reported received"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The seed's `x - x.mean(axis=1)` on a chunked array.
fn arrays(rts: &Runtimes) {
    let got = rts.both(|| {
        let x = Array::random(&[60, 40], &[20, 20], 7).unwrap();
        let y = &x - &x.mean(axis(1).keepdims()).unwrap();
        y.compute().unwrap()
    });
    for row in got.rows() {
        assert!(row.sum().abs() < 1e-9);
    }
    // NumPy's types on the workers: int8 sums widen to int64, a scan crosses the blocks.
    let (total, scan) = rts.both(|| {
        let x = Array::<i8>::arange(200, 30).unwrap();
        let total = x.sum(Axes::All).unwrap().compute_scalar().unwrap();
        (total, x.cumsum(0).unwrap().compute().unwrap())
    });
    // arange(200) as int8 wraps at 128: 0..=127 then -128..=-57.
    let want: Vec<i64> = (0..200)
        .map(|i| i64::from(i as u8 as i8))
        .scan(0, |s, v| {
            *s += v;
            Some(*s)
        })
        .collect();
    assert_eq!(total, *want.last().unwrap());
    assert_eq!(scan.into_raw_vec_and_offset().0, want);
}

/// A windowed stream, shipped as one task to a worker.
fn windowed_stream(rts: &Runtimes) {
    let mut got = rts.both(|| {
        let windows = Stream::generate(Some(3_000), None, event)
            .with_timestamps(event_time, 0)
            .key_by(event_key)
            .window(Window::tumbling(500))
            .sum(event_value)
            .collect(10_000)
            .delayed()
            .unwrap();
        let mut w: Vec<(i64, i64, u64)> = windows
            .compute()
            .unwrap()
            .iter()
            .map(|w| (w.key, w.start, w.value as u64))
            .collect();
        w.sort();
        w
    });
    got.sort();
    assert_eq!(got.len(), 18); // 6 windows x 3 keys
}

/// A task that panics fails the compute with the same kind and key as in one process, and the
/// cluster goes on.
fn a_panic_reads_as_local(rts: &Runtimes) {
    let build = || {
        let xs: Vec<Delayed<u64>> = (0..20_u64)
            .map(|i| from_value(i).map(fails_at_13))
            .collect();
        combine(&xs, sum)
    };
    let here = rts.threads.install(|| build().compute().unwrap_err());
    let there = rts.cluster.install(|| build().compute().unwrap_err());
    let (here, there) = (here.as_runtime().unwrap(), there.as_runtime().unwrap());
    assert_eq!(there.kind(), "DependencyFailed", "{there}");
    assert_eq!(there.kind(), here.kind());
    // Each build names its tasks afresh: the chains agree in their layers.
    let layers = |e: &partita::runtime::Error| -> Vec<String> {
        e.key_chain().iter().map(|k| k.name().to_string()).collect()
    };
    assert_eq!(layers(there), layers(here));
    assert_eq!(layers(there), ["combine", "map"]);
    assert!(there.to_string().contains("thirteen is unlucky"), "{there}");
    task_tree(rts);
}

/// A graph with a plain closure is refused before anything is sent, naming its layer.
fn a_plain_closure_is_refused(rts: &Runtimes) {
    let err = rts
        .cluster
        .install(|| delayed(|| 1_u64).map(|x| x + 1).compute())
        .unwrap_err()
        .to_string();
    assert!(err.contains("remote_fn!"), "{err}");
}

/// Kills its process when dropped, also when a test fails.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn wait_for_workers(rt: &Runtime, n: usize) {
    let start = Instant::now();
    while rt.cluster().unwrap().workers().len() < n {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "workers did not join"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A scheduler started on its own with a known secret: a client with the wrong secret is
/// refused, one with the right secret computes, and a worker of another executable (the
/// `partita` binary) is refused for its build.
fn secrets_and_builds() {
    let addr = free_port();
    let secret = "a-test-secret-of-some-length";
    std::thread::spawn(move || {
        partita::run_scheduler(addr, Secret::new(secret).unwrap(), Default::default())
    });
    let spawn_worker = |exe: &std::path::Path, args: &[&str]| {
        let mut c = Command::new(exe);
        c.args(args)
            .env("PARTITA_SECRET", secret)
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        if args.is_empty() {
            c.env(partita::cluster::WORKER_OF, addr.to_string());
        }
        KillOnDrop(c.spawn().unwrap())
    };
    // This executable's worker fixes the cluster's build.
    let _ours = spawn_worker(&std::env::current_exe().unwrap(), &[]);
    std::env::set_var("PARTITA_SECRET", secret);
    let start = Instant::now();
    let rt = loop {
        match Runtime::connect(addr.to_string()) {
            Ok(rt) => break rt,
            Err(e) => {
                assert!(start.elapsed() < Duration::from_secs(30), "{e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    std::env::remove_var("PARTITA_SECRET");
    wait_for_workers(&rt, 1);
    let x = rt.install(|| from_value(41_u64).map(inc).compute().unwrap());
    assert_eq!(x, 42);

    let err = partita::cluster::Client::connect(
        &addr.to_string(),
        Secret::new("not-the-secret-at-all").unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("secret"), "{err}");

    // The data plane refuses a request without the secret too.
    let flight = rt.cluster().unwrap().workers()[0].address.clone();
    let io = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let refused = io.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(flight)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut c = arrow_flight::flight_service_client::FlightServiceClient::new(channel);
        c.do_get(arrow_flight::Ticket::default()).await.unwrap_err()
    });
    assert_eq!(refused.code(), tonic_code_unauthenticated(), "{refused}");

    // A worker of another executable is refused, and says why.
    let mut other = spawn_worker(
        std::path::Path::new(env!("CARGO_BIN_EXE_partita")),
        &["worker", "--scheduler", &addr.to_string()],
    );
    let status = other.0.wait().unwrap();
    let mut stderr = String::new();
    other
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("build"), "{stderr}");
    assert_eq!(rt.cluster().unwrap().workers().len(), 1);
}

remote_fn! {
    fn double(x: u64) -> u64 { 2 * x }
}

/// Workers under a small memory limit spill what they hold and serve it back: a bag of 20
/// partitions of 160 kB each, all held on the workers until the client fetches them, under
/// 1 MiB per worker.
fn workers_spill_under_a_small_limit() {
    let rt = Runtime::builder()
        .local_cluster(2)
        .memory_limit(1 << 20)
        .build()
        .unwrap();
    let n = 400_000_u64;
    let xs = rt.install(|| Bag::range(n, 20).map(double));
    let got = rt.install(|| xs.compute()).unwrap();
    assert_eq!(got, (0..n).map(|x| 2 * x).collect::<Vec<u64>>());
    // The workers report their ledgers with each batch of results.
    let spilled = || -> u64 {
        let workers = rt.cluster().unwrap().workers();
        workers.iter().map(|w| w.spilled).sum()
    };
    let start = Instant::now();
    while spilled() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no worker spilled"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let total = rt.install(|| xs.sum().compute()).unwrap();
    assert_eq!(total, n * (n - 1));
}

/// A cancelled compute stops on the cluster: its waiter hears at once, the workers run none of
/// its tasks that had not started, the scheduler's count of running tasks goes back to zero,
/// and the next compute runs at once.
fn a_cancelled_compute_stops_on_the_cluster(rts: &Runtimes) {
    let rt = &rts.cluster;
    let workers = || rt.cluster().unwrap().workers();
    let done = || workers().iter().map(|w| w.tasks_done).sum::<u64>();
    let busy = || workers().iter().map(|w| w.processing).sum::<u64>();
    let threads: u64 = 3 * std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let before = done();
    // 120 tasks of 300 ms: 12 s of work on 3 workers of one thread, at least 3 s on 12.
    let slow = rt.install(|| Bag::range(120, 120).map(sluggish));
    let handle = rt.compute_async(&slow.graph(), &slow.keys());
    std::thread::sleep(Duration::from_millis(700));
    let asked = Instant::now();
    assert!(handle.cancel());
    assert!(
        matches!(
            handle.wait(),
            Err(partita::runtime::Error::Cancelled { .. })
        ),
        "the waiter hears of the cancel"
    );
    assert!(asked.elapsed() < Duration::from_millis(500));
    while busy() > 0 {
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "the cluster still runs {} tasks of a cancelled compute",
            busy()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let ran = done() - before;
    // The range tasks (120) and the sluggish ones that started before the cancel reached the
    // workers, or were running then: far from all 120 of them.
    let started = (1_000 / 300 + 2) * threads;
    assert!(
        ran < 120 + started.min(100),
        "{ran} tasks ran after a cancel (threads {threads})"
    );
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        done() - before,
        ran,
        "tasks of the cancelled compute went on"
    );
    let next = Instant::now();
    let got = rt
        .install(|| Bag::range(10, 2).map(double).compute())
        .unwrap();
    assert_eq!(got, (0..10).map(|x| 2 * x).collect::<Vec<u64>>());
    assert!(next.elapsed() < Duration::from_secs(2));
}

fn tonic_code_unauthenticated() -> tonic::Code {
    tonic::Code::Unauthenticated
}

fn main() {
    partita::worker_main();
    let rts = Runtimes {
        cluster: Runtime::builder().local_cluster(3).build().unwrap(),
        threads: Runtime::builder().threads(2).build().unwrap(),
    };
    assert_eq!(rts.cluster.cluster().unwrap().workers().len(), 3);
    let tests: &[(&str, &dyn Fn())] = &[
        ("task_tree", &|| task_tree(&rts)),
        ("word_count", &|| word_count(&rts)),
        ("events_from_the_workers", &|| events_from_the_workers(&rts)),
        ("bag_user_operations", &|| bag_user_operations(&rts)),
        ("dataframes", &|| dataframes(&rts)),
        ("arrays", &|| arrays(&rts)),
        ("windowed_stream", &|| windowed_stream(&rts)),
        ("a_panic_reads_as_local", &|| a_panic_reads_as_local(&rts)),
        ("a_cancelled_compute_stops_on_the_cluster", &|| {
            a_cancelled_compute_stops_on_the_cluster(&rts)
        }),
        ("a_plain_closure_is_refused", &|| {
            a_plain_closure_is_refused(&rts)
        }),
        ("secrets_and_builds", &secrets_and_builds),
        (
            "workers_spill_under_a_small_limit",
            &workers_spill_under_a_small_limit,
        ),
    ];
    let ok = harness::run(tests);
    drop(rts);
    if !ok {
        std::process::exit(1);
    }
}
