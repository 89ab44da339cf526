//! Graphs leave the process: each workload's graph is serialised, computed by a child process of
//! this test binary, and its answer sent back must equal the local one.
//!
//! The binary has its own `main` (no libtest harness) so that it can also be the child:
//! `remote_graph --serve-graph` reads a graph on stdin and writes the outcome on stdout.

#[path = "common/child.rs"]
mod child;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use partita::collections::split_whitespace;
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

remote_fn! {
    /// The word count's user function: the words of a line, as `str::split_whitespace` finds them.
    fn words(line: &String, count: &mut dyn FnMut(&str)) {
        split_whitespace(line).for_each(count)
    }
}

remote_fn! {
    fn not_blank(line: &String) -> bool { !line.trim().is_empty() }
}

remote_fn! {
    fn shout(line: String) -> String { line.to_uppercase() }
}

remote_fn! {
    fn owned_words(line: String) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }
}

remote_fn! {
    fn length(word: &String) -> usize { word.len() }
}

/// Text files of Zipf-like words, some lines blank, in a temporary directory.
fn text_files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let vocabulary = [
        "the", "of", "partita", "dask", "ß", "naïve", "x", "word", "rare-one",
    ];
    let mut rng = 7_u64;
    for f in 0..3 {
        let mut text = String::new();
        for line in 0..400 {
            if line % 17 == 0 {
                text.push_str("   \n");
                continue;
            }
            for w in 0..(line % 9) {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pick = ((rng >> 33) % 81) as usize;
                let word = vocabulary[(pick as f64).sqrt() as usize];
                text.push_str(word);
                text.push(if w % 4 == 3 { '\t' } else { ' ' });
            }
            text.push('\n');
        }
        std::fs::write(dir.path().join(format!("part-{f}.txt")), text).unwrap();
    }
    dir
}

/// The word count over text files, with its user function: every (word, count) the child
/// computes equals the local answer and a plain sequential count.
fn word_count() {
    let dir = text_files();
    let lines =
        partita::read_text(dir.path().join("part-*.txt").to_str().unwrap(), Some(1500)).unwrap();
    assert!(lines.npartitions() > 6, "{}", lines.npartitions());
    let frequencies = lines.str_frequencies(words);
    let mut local = frequencies.compute().unwrap();
    local.sort();
    let remote = child::compute_remote(&frequencies.graph(), &frequencies.keys()).unwrap();
    let mut remote: Vec<(String, u64)> = remote
        .iter()
        .flat_map(|v| v.downcast_ref::<Vec<(String, u64)>>().unwrap().clone())
        .collect();
    remote.sort();
    assert_eq!(remote, local);
    let mut reference: std::collections::BTreeMap<String, u64> = Default::default();
    for f in 0..3 {
        let text = std::fs::read_to_string(dir.path().join(format!("part-{f}.txt"))).unwrap();
        for w in text.split_whitespace() {
            *reference.entry(w.to_string()).or_default() += 1;
        }
    }
    assert_eq!(remote, reference.into_iter().collect::<Vec<_>>());
}

/// A chain of registered item functions (filter, map, flat_map, pluck) over text lines and over
/// a sequence, collected in the child.
fn bag_chains() {
    let dir = text_files();
    let lines =
        partita::read_text(dir.path().join("part-*.txt").to_str().unwrap(), Some(4000)).unwrap();
    let chained = lines
        .filter(not_blank)
        .map(shout)
        .flat_map(owned_words)
        .pluck(length);
    let local = chained.compute().unwrap();
    let remote = child::compute_remote(&chained.graph(), &chained.keys()).unwrap();
    let remote: Vec<usize> = remote
        .iter()
        .flat_map(|v| v.downcast_ref::<Vec<usize>>().unwrap().clone())
        .collect();
    assert_eq!(remote, local);
    assert!(!local.is_empty());

    let only_lines = lines.filter(not_blank);
    let remote = child::compute_remote(&only_lines.graph(), &only_lines.keys()).unwrap();
    let remote: Vec<String> = remote
        .iter()
        .flat_map(|v| v.downcast_ref::<Vec<String>>().unwrap().clone())
        .collect();
    assert_eq!(remote, only_lines.compute().unwrap());

    let raw = partita::read_text(dir.path().join("part-0.txt").as_path(), None).unwrap();
    let remote = child::compute_remote(&raw.graph(), &raw.keys()).unwrap();
    assert_eq!(
        remote[0].downcast_ref::<Vec<String>>().unwrap(),
        &raw.compute().unwrap()
    );

    let seq = Bag::from_sequence(vec!["a b".to_string(), " ".into(), "c".into()], 2);
    let words_of = seq.flat_map(owned_words);
    let remote = child::compute_remote(&words_of.graph(), &words_of.keys()).unwrap();
    let remote: Vec<String> = remote
        .iter()
        .flat_map(|v| v.downcast_ref::<Vec<String>>().unwrap().clone())
        .collect();
    assert_eq!(remote, vec!["a", "b", "c"]);

    // One plain closure anywhere in the chain keeps the whole chain local.
    let mixed = lines.filter(not_blank).map(|l| l.len()).pluck(|n| n + 1);
    let err = encode_graph(&mixed.graph(), &mixed.keys()).unwrap_err();
    assert!(err.to_string().contains("layer bag-"), "{err}");
    let mixed_counts = lines.map(|l| l).str_frequencies(words);
    assert!(encode_graph(&mixed_counts.graph(), &mixed_counts.keys()).is_err());
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
        ("word_count", word_count),
        ("bag_chains", bag_chains),
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
