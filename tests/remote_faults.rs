//! Lost workers on a local cluster: a worker SIGKILLed in the middle of a task tree, a word
//! count, a hash-shuffle join and a `set_index` costs no answer. Each answer equals one computed
//! here without the cluster, and the test asserts from the runtime's events that the lost
//! worker's values were recomputed. A task that kills every worker it runs on fails, after 3
//! of them, with the poison error. The local cluster starts each killed worker again, and the
//! test checks that it rejoins.
//!
//! The binary has its own `main` (no libtest harness) so that it can also be the workers:
//! `partita::worker_main()` is its first line. Each test's cluster, and so every process it
//! started, is dropped (killed) when the test ends, also when it fails.

#[path = "common/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array as _, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use partita::collections::{Agg, AggFunc, Merge};
use partita::prelude::*;
use partita::runtime::ClusterWorker;
use partita::{remote_fn, EventKind, Subscription};

remote_fn! {
    fn slow_inc(x: &u64) -> u64 { std::thread::sleep(Duration::from_micros(300)); x + 1 }
}
remote_fn! {
    fn sum(xs: &[&u64]) -> u64 { xs.iter().copied().sum() }
}
remote_fn! {
    fn slow_lines(part: Vec<String>) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(25));
        part
    }
}
remote_fn! {
    fn words(line: &String, count: &mut dyn FnMut(&str)) { line.split_whitespace().for_each(count) }
}
remote_fn! {
    fn slow_frame(b: RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
        std::thread::sleep(Duration::from_millis(25));
        Ok(b)
    }
}
remote_fn! {
    fn abort_worker(x: &u64) -> u64 {
        if *x == 1 {
            // As a segfault or the kernel's OOM killer would: the process dies at once, without
            // unwinding (and, unlike abort(), without leaving a core file).
            let me = std::process::id().to_string();
            let _ = std::process::Command::new("kill").args(["-9", &me]).status();
            std::thread::sleep(Duration::from_secs(60));
        }
        *x
    }
}

const WORKERS: usize = 3;

fn cluster() -> Runtime {
    let rt = Runtime::builder().local_cluster(WORKERS).build().unwrap();
    assert_eq!(rt.cluster().unwrap().workers().len(), WORKERS);
    rt
}

/// What a compute's events said: the workers lost and the tasks recomputed.
#[derive(Debug, Default)]
struct Seen {
    tasks: usize,
    lost: Vec<String>,
    recomputed: Vec<TaskKey>,
}

fn seen(events: &Subscription) -> Seen {
    let mut s = Seen::default();
    for e in events.receiver().try_iter() {
        match e.kind {
            EventKind::ComputeStarted { tasks } => s.tasks = tasks,
            EventKind::WorkerLost { worker } => s.lost.push(worker),
            EventKind::TaskRecomputed => s.recomputed.extend(e.key),
            _ => {}
        }
    }
    s
}

/// Runs `work` on `rt` (a fresh cluster) twice undisturbed, then again, SIGKILLing a worker once
/// half of the compute's tasks are done, the one that holds the most values still needed.
/// Checks that both answers are equal and returns the second, what its events said, and the
/// seconds from the kill to the answer.
///
/// A compute this thread saw only near its end (it was not scheduled in time) is let finish
/// and run again, up to three times, so that the kill always lands in the middle.
fn killed_midway<T: PartialEq + std::fmt::Debug + Send + 'static>(
    name: &str,
    rt: &Runtime,
    work: impl Fn() -> T + Send + Sync + 'static,
) -> (T, Seen, f64) {
    let work = Arc::new(work);
    // Once to connect the workers to each other, once timed.
    rt.install(|| work());
    let clean = Instant::now();
    let undisturbed = rt.install(|| work());
    let clean = clean.elapsed().as_secs_f64();
    let cluster = rt.cluster().unwrap().clone();
    let done_so_far = || -> u64 { cluster.workers().iter().map(|w| w.tasks_done).sum() };
    for attempt in 1..=3 {
        let events = rt.subscribe();
        let before = done_so_far();
        let started = Instant::now();
        let worker = {
            let (rt, work) = (rt.clone(), work.clone());
            std::thread::spawn(move || rt.install(|| work()))
        };
        // The compute's size comes with its first event.
        let start = Instant::now();
        let mut total = 0;
        let (victim, done) = loop {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the compute never got halfway"
            );
            assert!(!worker.is_finished(), "the compute ended before the kill");
            for e in events.receiver().try_iter() {
                if let EventKind::ComputeStarted { tasks } = e.kind {
                    total = tasks as u64;
                }
            }
            let workers = cluster.workers();
            let done: u64 = workers.iter().map(|w| w.tasks_done).sum::<u64>() - before;
            let holder = workers.iter().max_by_key(|w| w.held).cloned();
            match holder {
                Some(w) if total > 0 && done * 2 >= total && w.held > 0 => break (w, done),
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        if done * 10 > total * 9 {
            eprintln!("attempt {attempt}: first saw the compute {done} tasks of {total} in");
            assert_eq!(worker.join().unwrap(), undisturbed);
            continue;
        }
        let killed = Command::new("kill")
            .args(["-9", &victim.pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let at = Instant::now();
        let answer = worker.join().unwrap();
        let seconds = at.elapsed().as_secs_f64();
        let total_seconds = started.elapsed().as_secs_f64();
        assert_eq!(answer, undisturbed);
        let mut s = seen(&events);
        s.tasks = total as usize;
        assert!(
            s.lost.iter().any(|l| l.starts_with(&victim.name)),
            "the events name the lost worker {} (killed {done} tasks of {total} in, the answer \
             came {seconds:.3} s later, {} tasks recomputed): {:?}",
            victim.name,
            s.recomputed.len(),
            s.lost
        );
        assert!(
            !s.recomputed.is_empty(),
            "{} held {} values, so some were recomputed",
            victim.name,
            victim.held
        );
        println!(
            "RESULT name=faults.{name} seconds_clean={clean:.3} \
             seconds_with_kill={total_seconds:.3} seconds_after_kill={seconds:.3} \
             tasks={total} recomputed={}",
            s.recomputed.len()
        );
        rejoined(rt, &victim);
        return (answer, s, seconds);
    }
    panic!("three computes in a row were first seen near their end");
}

/// The local cluster starts the killed worker again, and it rejoins.
fn rejoined(rt: &Runtime, victim: &ClusterWorker) {
    let start = Instant::now();
    loop {
        let workers = rt.cluster().unwrap().workers();
        if workers.len() == WORKERS && workers.iter().all(|w| w.pid != victim.pid) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the killed worker did not rejoin: {workers:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tree of about 10,000 tasks: 5,000 slow leaves, summed 16 at a time.
fn a_task_tree_survives() {
    let rt = cluster();
    let n = 5_000_u64;
    let (got, seen, _) = killed_midway("tree", &rt, move || {
        let mut layer: Vec<Delayed<u64>> = (0..n).map(|i| from_value(i).map(slow_inc)).collect();
        while layer.len() > 1 {
            layer = layer.chunks(16).map(|xs| combine(xs, sum)).collect();
        }
        layer.pop().unwrap().compute().unwrap()
    });
    assert_eq!(got, n * (n + 1) / 2);
    assert!(seen.tasks > 10_000, "{} tasks", seen.tasks);
    // Afterwards the cluster answers as before.
    let again = rt.install(|| {
        let xs: Vec<Delayed<u64>> = (0..100).map(|i| from_value(i).map(slow_inc)).collect();
        combine(&xs, sum).compute().unwrap()
    });
    assert_eq!(again, 5_050);
}

fn lines() -> Vec<String> {
    (0..6_000)
        .map(|i| format!("w{} w{} common", i % 17, i % 5))
        .collect()
}

fn a_word_count_survives() {
    let rt = cluster();
    let (got, _, _) = killed_midway("wordcount", &rt, || {
        let mut counts = Bag::from_sequence(lines(), 60)
            .map_partitions(slow_lines)
            .str_frequencies(words)
            .compute()
            .unwrap();
        counts.sort();
        counts
    });
    let mut reference: HashMap<String, u64> = HashMap::new();
    for line in lines() {
        for w in line.split_whitespace() {
            *reference.entry(w.to_string()).or_default() += 1;
        }
    }
    let mut reference: Vec<(String, u64)> = reference.into_iter().collect();
    reference.sort();
    assert_eq!(got, reference);
}

const ROWS: i64 = 200_000;

fn key_of(i: i64) -> i64 {
    (i * 7919) % 97
}

/// `ROWS` rows of `k` (97 keys) and `v = i / 4`, in 24 partitions of about 130 kB.
fn frame() -> DataFrame {
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Float64, false),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values((0..ROWS).map(key_of))),
            Arc::new(Float64Array::from_iter_values(
                (0..ROWS).map(|i| i as f64 / 4.0),
            )),
        ],
    )
    .unwrap();
    let x = DataFrame::from_arrow(batch, 24).unwrap();
    x.map_partitions(x.schema().clone(), slow_frame)
}

/// A hash-shuffle join of the frame with a table that holds each key `k % 3 + 1` times, summed.
fn a_hash_join_survives() {
    let rt = cluster();
    let right: Vec<i64> = (0..97)
        .flat_map(|k| vec![k; (k % 3 + 1) as usize])
        .collect();
    let y = {
        let b = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)])),
            vec![Arc::new(Int64Array::from(right.clone()))],
        )
        .unwrap();
        DataFrame::from_arrow(b, 4).unwrap()
    };
    let (got, _, _) = killed_midway("join", &rt, move || {
        let j = frame()
            .merge(&y, Merge::on(&["k"]).broadcast(false))
            .unwrap();
        j.agg([
            Agg::of(col("v"), AggFunc::Sum).alias("s"),
            Agg::of(col("v"), AggFunc::Count).alias("n"),
        ])
        .unwrap()
        .compute()
        .unwrap()
    });
    let (mut s, mut n) = (0.0, 0_i64);
    for i in 0..ROWS {
        let times = key_of(i) % 3 + 1;
        s += (i as f64 / 4.0) * times as f64;
        n += times;
    }
    let sum = got
        .column_by_name("s")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .value(0);
    let count = got.column_by_name("n").unwrap();
    let count = arrow::compute::cast(count, &DataType::Int64).unwrap();
    let count = count
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(count, n);
    assert!((sum - s).abs() <= 1e-9 * s, "{sum} against {s}");
}

/// `set_index("k")`: every row once, ordered by `k` across the partitions.
fn a_set_index_survives() {
    let rt = cluster();
    let (got, _, _) = killed_midway("set_index", &rt, || {
        frame().set_index("k", 4).unwrap().compute().unwrap()
    });
    assert_eq!(got.num_rows() as i64, ROWS);
    let k = got
        .column_by_name("k")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let v = got
        .column_by_name("v")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert!(k.values().windows(2).all(|w| w[0] <= w[1]), "ordered by k");
    // The same rows: each v (i / 4) once, with its own key.
    let mut rows: Vec<(i64, i64)> = (0..got.num_rows())
        .map(|r| ((v.value(r) * 4.0) as i64, k.value(r)))
        .collect();
    rows.sort_unstable();
    let reference: Vec<(i64, i64)> = (0..ROWS).map(|i| (i, key_of(i))).collect();
    assert_eq!(rows, reference);
}

/// A task that kills its process fails its compute once it has taken down 3 workers, naming
/// itself and them; the cluster starts them again and goes on.
fn a_task_that_kills_its_worker_is_poison() {
    let rt = cluster();
    let start = Instant::now();
    let err = rt
        .install(|| from_value(1_u64).map(abort_worker).compute())
        .unwrap_err();
    let message = err.to_string();
    let partita::collections::Error::Runtime(err) = err else {
        panic!("a runtime error: {message}");
    };
    assert_eq!(err.kind(), "KilledWorker", "{message}");
    assert!(message.contains("running on 3 workers"), "{message}");
    assert_eq!(message.matches("local-").count(), 3, "{message}");
    assert!(start.elapsed() < Duration::from_secs(60));
    println!("{message}");
    let start = Instant::now();
    while rt.cluster().unwrap().workers().len() < WORKERS {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "workers did not rejoin"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let fine = rt.install(|| from_value(2_u64).map(abort_worker).compute().unwrap());
    assert_eq!(fine, 2);
}

/// `persist` with `replicas(3)` on 4 workers: each partition has 3 copies, on 3 workers. Two of
/// the three holders of one partition are SIGKILLed; later computes are right, the events show
/// nothing recomputed, and within a bounded time every partition has 3 copies again.
fn three_replicas_survive_two_lost_holders() {
    let rt = Runtime::builder()
        .local_cluster(4)
        .replicas(3)
        .build()
        .unwrap();
    let cluster = rt.cluster().unwrap().clone();
    let plain = {
        let x = frame();
        let b = x.compute().unwrap();
        DataFrame::from_arrow(b.project(&[1, 2]).unwrap(), 8).unwrap()
    };
    let total = |df: &DataFrame| {
        df.agg([
            Agg::of(col("v"), AggFunc::Sum).alias("s"),
            Agg::of(col("k"), AggFunc::Sum).alias("ks"),
        ])
        .unwrap()
        .compute()
        .unwrap()
    };
    let reference = total(&plain);
    let persisted = rt.install(|| plain.persist()).unwrap();
    let copies = |want: usize| {
        let start = Instant::now();
        loop {
            let parts = cluster.persisted();
            if parts.len() == 8 && parts.iter().all(|p| p.holders.len() == want) {
                return parts;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "not {want} copies of each partition within 30 s: {parts:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let parts = copies(3);
    for p in &parts {
        let mut holders = p.holders.clone();
        holders.dedup();
        assert_eq!(holders.len(), 3, "on distinct workers: {p:?}");
    }
    let events = rt.subscribe();
    assert_eq!(rt.install(|| total(&persisted)), reference);

    // Kill two of the three holders of the first partition.
    let workers = cluster.workers();
    let victims: Vec<&ClusterWorker> = parts[0]
        .holders
        .iter()
        .take(2)
        .map(|name| workers.iter().find(|w| &w.name == name).unwrap())
        .collect();
    for v in &victims {
        let killed = Command::new("kill")
            .args(["-9", &v.pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }
    for _ in 0..3 {
        assert_eq!(rt.install(|| total(&persisted)), reference);
    }
    let healed = Instant::now();
    copies(3);
    println!(
        "RESULT name=faults.replicas seconds_to_three_copies={:.3}",
        healed.elapsed().as_secs_f64()
    );
    let seen = seen(&events);
    assert!(
        seen.recomputed.is_empty(),
        "nothing is recomputed: {:?}",
        seen.recomputed
    );
    // Reading a partition straight from a copy.
    let first = rt.install(|| persisted.compute_partitions()).unwrap();
    assert_eq!(
        first.iter().map(RecordBatch::num_rows).sum::<usize>() as i64,
        ROWS
    );
    // Dropping the frame forgets its partitions on the workers.
    drop(persisted);
    let start = Instant::now();
    while !cluster.persisted().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "not forgotten");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills every process it holds when dropped, also when the test fails.
struct Processes(Vec<std::process::Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

const SECRET: &str = "faults-test-secret-0123456789abcdef";

/// A `partita scheduler` process and two worker processes of this binary on loopback, and a
/// runtime connected to them.
fn standalone() -> (Processes, String, Runtime) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut processes = Processes(Vec::new());
    processes.0.push(
        Command::new(env!("CARGO_BIN_EXE_partita"))
            .args(["scheduler", "--listen", &address])
            .env("PARTITA_SECRET", SECRET)
            .spawn()
            .unwrap(),
    );
    for i in 0..2 {
        processes.0.push(
            Command::new(std::env::current_exe().unwrap())
                .env(partita::cluster::WORKER_OF, &address)
                .env("PARTITA_SECRET", SECRET)
                .env("PARTITA_WORKER_NAME", format!("standalone-{i}"))
                .env("PARTITA_WORKER_THREADS", "1")
                .spawn()
                .unwrap(),
        );
    }
    std::env::set_var("PARTITA_SECRET", SECRET);
    let start = Instant::now();
    let rt = loop {
        match Runtime::connect(&address) {
            Ok(rt) if rt.cluster().unwrap().workers().len() == 2 => break rt,
            _ => {
                assert!(start.elapsed() < Duration::from_secs(30), "no cluster");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    std::env::remove_var("PARTITA_SECRET");
    (processes, address, rt)
}

/// The scheduler is SIGKILLed in the middle of a compute: the client gets an error naming the
/// scheduler, and the workers exit rather than hang.
fn a_dead_scheduler_is_a_clear_error() {
    let (mut processes, address, rt) = standalone();
    let start = Instant::now();
    let work = {
        let rt = rt.clone();
        std::thread::spawn(move || {
            rt.install(|| {
                let xs: Vec<Delayed<u64>> =
                    (0..20_000).map(|i| from_value(i).map(slow_inc)).collect();
                combine(&xs, sum).compute()
            })
        })
    };
    while rt
        .cluster()
        .unwrap()
        .workers()
        .iter()
        .all(|w| w.tasks_done == 0)
    {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(10));
    }
    processes.0[0].kill().unwrap();
    let err = work.join().unwrap().unwrap_err().to_string();
    println!("{err}");
    assert!(err.contains("scheduler") && err.contains(&address), "{err}");
    let killed = Instant::now();
    for w in &mut processes.0[1..] {
        loop {
            if w.try_wait().unwrap().is_some() {
                break;
            }
            assert!(
                killed.elapsed() < Duration::from_secs(15),
                "a worker outlived its scheduler by 15 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The environment variable that makes this binary a client that persists a bag and waits.
const CLIENT_OF: &str = "FAULTS_CLIENT_OF";

/// A client process: persists 4 partitions with 2 copies each on the cluster at `address`, says
/// so, and waits to be killed.
fn persisting_client(address: &str) -> ! {
    let rt = Runtime::builder()
        .connect(address)
        .replicas(2)
        .build()
        .unwrap();
    let kept = rt.install(|| Bag::range(1_000, 4).persist()).unwrap();
    println!("persisted");
    std::thread::sleep(Duration::from_secs(120));
    drop(kept);
    std::process::exit(0);
}

/// A client that vanishes (SIGKILL) releases what it persisted: the workers forget it.
fn a_vanished_client_releases_its_partitions() {
    let (_processes, address, rt) = standalone();
    let mut client = Processes(vec![Command::new(std::env::current_exe().unwrap())
        .env(CLIENT_OF, &address)
        .env("PARTITA_SECRET", SECRET)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()]);
    let mut line = String::new();
    let stdout = client.0[0].stdout.take().unwrap();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    assert_eq!(line.trim(), "persisted");
    let cluster = rt.cluster().unwrap().clone();
    let parts = cluster.persisted();
    assert_eq!(parts.len(), 4, "{parts:?}");
    client.0[0].kill().unwrap();
    let _ = client.0[0].wait();
    let start = Instant::now();
    while !cluster.persisted().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "a vanished client's partitions are still kept: {:?}",
            cluster.persisted()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn main() {
    partita::worker_main();
    if let Ok(address) = std::env::var(CLIENT_OF) {
        persisting_client(&address);
    }
    let tests: &[(&str, &dyn Fn())] = &[
        ("a_task_tree_survives", &a_task_tree_survives),
        ("a_word_count_survives", &a_word_count_survives),
        ("a_hash_join_survives", &a_hash_join_survives),
        ("a_set_index_survives", &a_set_index_survives),
        (
            "a_task_that_kills_its_worker_is_poison",
            &a_task_that_kills_its_worker_is_poison,
        ),
        (
            "three_replicas_survive_two_lost_holders",
            &three_replicas_survive_two_lost_holders,
        ),
        (
            "a_vanished_client_releases_its_partitions",
            &a_vanished_client_releases_its_partitions,
        ),
        (
            "a_dead_scheduler_is_a_clear_error",
            &a_dead_scheduler_is_a_clear_error,
        ),
    ];
    if !harness::run(tests) {
        std::process::exit(1);
    }
}
