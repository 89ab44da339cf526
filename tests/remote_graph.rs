//! Graphs leave the process: each workload's graph is serialised, computed by a child process of
//! this test binary, and its answer sent back must equal the local one.
//!
//! The binary has its own `main` (no libtest harness) so that it can also be the child:
//! `remote_graph --serve-graph` reads a graph on stdin and writes the outcome on stdout.

#[path = "common/child.rs"]
mod child;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use partita::prelude::*;
use partita::{encode_graph, graph_all, remote_fn};

remote_fn! {
    /// `inc(i)`, the leaves of the task tree.
    fn inc(x: &u64) -> u64 { x + 1 }
}

remote_fn! {
    /// The inner nodes of the task tree.
    fn sum(xs: &[&u64]) -> u64 { xs.iter().copied().sum() }
}

remote_fn! {
    fn product(a: &u64, b: &u64) -> u64 { a * b }
}

remote_fn! {
    fn seven() -> u64 { 7 }
}

remote_fn! {
    fn fails(x: &u64) -> u64 {
        if *x > 0 {
            panic!("no positive input, got {x}");
        }
        0
    }
}

/// The 100k task tree of `examples/tasks` (`inc(i)` leaves summed 16 at a time), with the
/// leaves' inputs as literals.
fn task_tree() {
    let n = 100_000_u64;
    let mut layer: Vec<Delayed<u64>> = (0..n).map(|i| from_value(i).map(inc)).collect();
    while layer.len() > 1 {
        layer = layer.chunks(16).map(|xs| combine(xs, sum)).collect();
    }
    let root = layer.pop().unwrap();
    let local = root.compute().unwrap();
    assert_eq!(local, n * (n + 1) / 2);
    let remote = child::compute_remote(&root.graph(), std::slice::from_ref(root.key())).unwrap();
    assert_eq!(*remote[0].downcast_ref::<u64>().unwrap(), local);
}

/// Every shape of user function, a renamed value, and a persisted input.
fn delayed_shapes() {
    let a = delayed(seven).named("seven");
    let b = from_value(6_u64).persist().unwrap();
    let c = a.zip_with(&b, product).map(inc);
    let d = combine(&[c.clone(), a.clone(), b.clone()], sum);
    let keys = [c.key().clone(), d.key().clone()];
    let local = compute_all(&[c.clone(), d.clone()]).unwrap();
    assert_eq!(local, vec![43, 56]);
    let remote = child::compute_remote(&graph_all(&[c, d]), &keys).unwrap();
    let remote: Vec<u64> = remote
        .iter()
        .map(|v| *v.downcast_ref::<u64>().unwrap())
        .collect();
    assert_eq!(remote, local);
}

/// A task that panics in the child fails there; the error that comes back names the task and
/// reads as the local one does.
fn remote_failure_reads_as_local() {
    let x = from_value(3_u64).map(fails).map(inc);
    let local = x.compute().unwrap_err().to_string();
    let remote = child::compute_remote(&x.graph(), std::slice::from_ref(x.key()))
        .unwrap_err()
        .to_string();
    assert_eq!(remote, local);
    assert!(remote.contains("no positive input, got 3"), "{remote}");
}

/// A graph built by another executable is refused by the child, with a clear error.
fn another_build_is_refused() {
    let x = from_value(1_u64).map(inc);
    let mut bytes = encode_graph(&x.graph(), std::slice::from_ref(x.key())).unwrap();
    bytes[6] ^= 0x55; // the first byte of the sender's build id
    let reply = child::exchange(&bytes, Duration::from_secs(60));
    let err = partita::decode_outcome(&reply).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("was built by executable"), "{text}");
    assert!(text.contains("same build"), "{text}");
}

/// A plain closure cannot go remote: encoding fails before anything is sent, naming the layer
/// and the fix.
fn a_plain_closure_is_refused() {
    let x = from_value(1_u64).map(|v| v + 1);
    let err = encode_graph(&x.graph(), std::slice::from_ref(x.key())).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("layer delayed-"), "{text}");
    assert!(text.contains("(map, "), "{text}");
    assert!(text.contains("remote_fn!"), "{text}");
    // It still runs locally.
    assert_eq!(x.compute().unwrap(), 2);
}

/// Bags whose partitions are generated or given: `range`, `from_sequence`, `from_delayed`.
fn bag_sources() {
    let r = Bag::range(1_000, 7);
    let remote = child::compute_remote(&r.graph(), &r.keys()).unwrap();
    let items: Vec<u64> = remote
        .iter()
        .flat_map(|v| v.downcast_ref::<Vec<u64>>().unwrap().clone())
        .collect();
    assert_eq!(items, (0..1_000).collect::<Vec<u64>>());

    let words: Vec<String> = ["a", "bb", "", "dddd", "é"].map(String::from).to_vec();
    let b = Bag::from_sequence(words.clone(), 3);
    let remote = child::compute_remote(&b.graph(), &b.keys()).unwrap();
    let items: Vec<String> = remote
        .iter()
        .flat_map(|v| v.downcast_ref::<Vec<String>>().unwrap().clone())
        .collect();
    assert_eq!(items, words);

    let parts = vec![
        from_value(vec![1_u64, 2]).map(double_all),
        from_value(vec![3_u64]),
    ];
    let d = Bag::from_delayed(&parts);
    let local = d.compute().unwrap();
    let remote = child::compute_remote(&d.graph(), &d.keys()).unwrap();
    let items: Vec<u64> = remote
        .iter()
        .flat_map(|v| v.downcast_ref::<Vec<u64>>().unwrap().clone())
        .collect();
    assert_eq!(items, local);
    assert_eq!(items, vec![2, 4, 3]);

    // An element-wise closure is local-only; shipping names the layer that runs it.
    let mapped = Bag::range(10, 2).map(|x| x * 2);
    let err = encode_graph(&mapped.graph(), &mapped.keys()).unwrap_err();
    assert!(err.to_string().contains("layer bag-"), "{err}");
}

remote_fn! {
    fn double_all(xs: &Vec<u64>) -> Vec<u64> { xs.iter().map(|x| x * 2).collect() }
}

fn main() {
    if std::env::args().any(|a| a == child::SERVE_FLAG) {
        child::serve();
        return;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let tests: &[(&str, fn())] = &[
        ("task_tree", task_tree),
        ("delayed_shapes", delayed_shapes),
        (
            "remote_failure_reads_as_local",
            remote_failure_reads_as_local,
        ),
        ("another_build_is_refused", another_build_is_refused),
        ("a_plain_closure_is_refused", a_plain_closure_is_refused),
        ("bag_sources", bag_sources),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        match catch_unwind(AssertUnwindSafe(test)) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
