//! Two hosts: a scheduler and two workers, each in a Linux network namespace of its own, joined
//! to this process's namespace by veth pairs on a bridge. On the seed's people table, partition
//! 1 is computed on one host and partition 2 on the other, `set_index("Last name")` brings the
//! two Smiths together on one host, and this process (the client) combines the results.
//!
//! A network partition: the link of one worker's host is cut (`ip link set down`) in the middle
//! of a compute. The scheduler notices within 10 seconds, with the default settings, and the
//! compute finishes on the host that is left, with the right answer.
//!
//! The test makes its namespaces itself and removes them, and kills every process it starts,
//! also when it fails. It fails, never skips, if the namespaces cannot be made. It has its own
//! `main` (no libtest harness) because the workers are this executable.

#[path = "common/harness.rs"]
mod harness;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use partita::prelude::*;
use partita::{remote_fn, EventKind};

/// Runs `ip args`, panicking with its output if it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` (iproute2; scripts/deps.sh installs it): {e}"));
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The namespaces, bridge and processes of the test; all removed when it drops.
struct Hosts {
    tag: String,
    namespaces: Vec<String>,
    children: Vec<Child>,
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for (i, ns) in self.namespaces.iter().enumerate() {
            // The pair goes with its namespace, but later: deleted here, it is gone now.
            let outside = format!("v{}{i}o", self.tag);
            let _ = Command::new("ip").args(["link", "del", &outside]).status();
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &format!("br{}", self.tag)])
            .status();
    }
}

impl Hosts {
    /// A bridge with this process at `10.77.0.1`, and one namespace per name in `hosts`, at
    /// `10.77.0.2`, `.3`, ...
    fn new(hosts: &[&str]) -> Hosts {
        // Unique per set of hosts, also within one process (the kernel removes a deleted
        // namespace's links some time after).
        static SETS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let set = SETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 10;
        let tag = format!("{}{set}", std::process::id() % 100_000);
        let mut h = Hosts {
            tag: tag.clone(),
            namespaces: Vec::new(),
            children: Vec::new(),
        };
        let bridge = format!("br{tag}");
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", "10.77.0.1/24", "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        for (i, name) in hosts.iter().enumerate() {
            let ns = format!("pt{tag}{name}");
            ip(&["netns", "add", &ns]);
            h.namespaces.push(ns.clone());
            let (outside, inside) = (format!("v{tag}{i}o"), format!("v{tag}{i}i"));
            ip(&[
                "link", "add", &outside, "type", "veth", "peer", "name", &inside,
            ]);
            ip(&["link", "set", &inside, "netns", &ns]);
            ip(&["link", "set", &outside, "master", &bridge]);
            ip(&["link", "set", &outside, "up"]);
            let addr = format!("10.77.0.{}/24", i + 2);
            ip(&[
                "netns", "exec", &ns, "ip", "addr", "add", &addr, "dev", &inside,
            ]);
            ip(&["netns", "exec", &ns, "ip", "link", "set", &inside, "up"]);
            ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
        }
        h
    }

    /// Cuts the link between host `i` and the bridge, as a failed switch port would.
    fn cut(&self, i: usize) {
        ip(&["link", "set", &format!("v{}{i}o", self.tag), "down"]);
    }

    /// Starts `program args` inside namespace `i` with `env`.
    fn spawn(&mut self, i: usize, program: &str, args: &[&str], env: &[(&str, String)]) {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.namespaces[i], program])
            .args(args)
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        self.children.push(c.spawn().unwrap());
    }
}

fn people() -> RecordBatch {
    let last = [
        "Smith", "Williams", "Williams", "Jones", "Smith", "Brown", "Davis", "Miller", "Wilson",
        "Moore",
    ];
    let first = [
        "John", "Bill", "Jane", "Cathy", "Mary", "Kim", "Lee", "Ann", "Sam", "Tom",
    ];
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("Person ID", DataType::Int64, false),
            Field::new("Last name", DataType::Utf8, false),
            Field::new("First name", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(1..=10)),
            Arc::new(StringArray::from(last.to_vec())),
            Arc::new(StringArray::from(first.to_vec())),
        ],
    )
    .unwrap()
}

const SECRET: &str = "two-hosts-test-secret-0123456789";

/// A scheduler on host 0 and a worker on each of hosts 1 and 2, and a runtime connected to them.
fn two_workers(hosts: &mut Hosts) -> Runtime {
    let scheduler = "10.77.0.2:8786";
    hosts.spawn(
        0,
        env!("CARGO_BIN_EXE_partita"),
        &["scheduler", "--listen", scheduler],
        &[("PARTITA_SECRET", SECRET.into())],
    );
    let exe = std::env::current_exe().unwrap();
    for (i, addr) in [(1, "10.77.0.3"), (2, "10.77.0.4")] {
        hosts.spawn(
            i,
            exe.to_str().unwrap(),
            &[],
            &[
                ("PARTITA_SECRET", SECRET.into()),
                (partita::cluster::WORKER_OF, scheduler.into()),
                ("PARTITA_WORKER_NAME", format!("host-{i}")),
                ("PARTITA_WORKER_THREADS", "1".into()),
                ("PARTITA_WORKER_LISTEN", format!("{addr}:8788")),
                ("PARTITA_WORKER_ADVERTISE", format!("http://{addr}:8788")),
            ],
        );
    }
    std::env::set_var("PARTITA_SECRET", SECRET);
    let start = Instant::now();
    let rt = loop {
        match Runtime::connect(scheduler) {
            Ok(rt) if rt.cluster().unwrap().workers().len() == 2 => break rt,
            Ok(_) | Err(_) if start.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Ok(rt) => panic!(
                "{} of 2 workers joined",
                rt.cluster().unwrap().workers().len()
            ),
            Err(e) => panic!("{e}"),
        }
    };
    std::env::remove_var("PARTITA_SECRET");
    rt
}

fn two_hosts() {
    let mut hosts = Hosts::new(&["s", "a", "b"]);
    let rt = two_workers(&mut hosts);
    let workers = rt.cluster().unwrap().workers();
    let mut addresses: Vec<&str> = workers.iter().map(|w| w.address.as_str()).collect();
    addresses.sort();
    assert_eq!(
        addresses,
        ["http://10.77.0.3:8788", "http://10.77.0.4:8788"]
    );

    // Two partitions of five people; each a root, so each goes to an idle host.
    let df = DataFrame::from_arrow(people(), 2).unwrap();
    let by_name = df.set_index("Last name", 2).unwrap();
    let parts: Vec<RecordBatch> = rt
        .compute(&by_name.graph(), &by_name.keys())
        .unwrap()
        .iter()
        .map(|v| v.downcast_ref::<RecordBatch>().unwrap().clone())
        .collect();
    let done: Vec<u64> = rt
        .cluster()
        .unwrap()
        .workers()
        .iter()
        .map(|w| w.tasks_done)
        .collect();
    assert!(
        done.iter().all(|&d| d > 0),
        "both hosts ran tasks: {done:?}"
    );

    // The two Smiths, from both input partitions, are in one output partition.
    let smiths: Vec<usize> = parts
        .iter()
        .map(|p| {
            let names = p
                .column_by_name("Last name")
                .or_else(|| p.column_by_name("index"))
                .map(|c| c.as_any().downcast_ref::<StringArray>().unwrap().clone());
            names.map_or(0, |n| n.iter().filter(|v| *v == Some("Smith")).count())
        })
        .collect();
    assert_eq!(smiths.iter().sum::<usize>(), 2, "{smiths:?}");
    assert!(smiths.contains(&2), "the Smiths are together: {smiths:?}");

    // The client combines: the same table as in one process.
    let here = by_name.compute().unwrap();
    let there = rt.install(|| by_name.compute()).unwrap();
    assert_eq!(there, here);
    assert_eq!(there.num_rows(), 10);
}

remote_fn! {
    fn slow_inc(x: &u64) -> u64 { std::thread::sleep(Duration::from_millis(2)); x + 1 }
}
remote_fn! {
    fn sum(xs: &[&u64]) -> u64 { xs.iter().copied().sum() }
}

/// The link of host 2 goes down while both hosts work on a tree: the scheduler counts host 2
/// lost within 10 s, and the tree's sum is still right.
fn a_cut_link_is_noticed() {
    let mut hosts = Hosts::new(&["s", "a", "b"]);
    let rt = two_workers(&mut hosts);
    let events = rt.subscribe();
    let n = 2_000_u64;
    let work = {
        let rt = rt.clone();
        std::thread::spawn(move || {
            rt.install(|| {
                let mut layer: Vec<Delayed<u64>> =
                    (0..n).map(|i| from_value(i).map(slow_inc)).collect();
                while layer.len() > 1 {
                    layer = layer.chunks(16).map(|xs| combine(xs, sum)).collect();
                }
                layer.pop().unwrap().compute()
            })
        })
    };
    let start = Instant::now();
    loop {
        let workers = rt.cluster().unwrap().workers();
        if workers.iter().all(|w| w.tasks_done > 0 && w.held > 0) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{workers:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    hosts.cut(2);
    let cut = Instant::now();
    let lost = loop {
        let seen = events
            .receiver()
            .recv_timeout(Duration::from_secs(20))
            .expect("the scheduler notices the cut within 20 s");
        if let EventKind::WorkerLost { worker } = seen.kind {
            break worker;
        }
    };
    let noticed = cut.elapsed();
    println!(
        "RESULT name=faults.cut_link seconds_to_notice={:.3}",
        noticed.as_secs_f64()
    );
    assert!(lost.starts_with("host-2"), "{lost}");
    assert!(noticed < Duration::from_secs(10), "{noticed:?}");
    let got = work.join().unwrap().unwrap();
    assert_eq!(got, n * (n + 1) / 2);
    assert_eq!(rt.cluster().unwrap().workers().len(), 1);
}

fn main() {
    partita::worker_main();
    let tests: &[(&str, &dyn Fn())] = &[
        ("two_hosts", &two_hosts),
        ("a_cut_link_is_noticed", &a_cut_link_is_noticed),
    ];
    if !harness::run(tests) {
        std::process::exit(1);
    }
}
