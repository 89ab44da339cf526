//! Graphs leave the process: each workload's graph is serialised, computed by a child process of
//! this test binary, and its answer sent back must equal the local one.
//!
//! The binary has its own `main` (no libtest harness) so that it can also be the child:
//! `remote_graph --serve-graph` reads a graph on stdin and writes the outcome on stdout.

#[path = "common/child.rs"]
mod child;
#[path = "common/harness.rs"]
mod harness;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use ndarray::{array, ArrayD, ArrayViewD, IxDyn, SliceInfoElem};
use num_complex::Complex;
use partita::collections::split_whitespace;
use partita::collections::Element;
use partita::collections::WindowResult;
use partita::collections::{mean, sum as total, Agg, AggFunc, Merge};
use partita::io::{read_csv, read_parquet, to_parquet, CsvOptions, ParquetOptions};
use partita::prelude::*;
use partita::runtime::value;
use partita::runtime::Value;
use partita::{encode_graph, graph_all, remote_fn, Graph, Index, TaskKey};
use partita::{to_hdf5, Hdf5Write};
use partita::{Stream, Window};

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

remote_fn! {
    /// The key `topk` ranks words by.
    fn by_count(pair: &(String, u64)) -> u64 { pair.1 }
}

remote_fn! {
    fn count_only(pair: (String, u64)) -> u64 { pair.1 }
}

/// `examples/wordcount` whole: frequencies persisted, the top 20, and the total, each shipped.
fn word_count_pipeline() {
    let dir = text_files();
    let lines =
        partita::read_text(dir.path().join("part-*.txt").to_str().unwrap(), Some(2000)).unwrap();
    let frequencies = lines.str_frequencies(words).persist().unwrap();
    let top = frequencies.topk(5, by_count);
    let local = top.compute().unwrap();
    let remote = child::compute_remote(&top.graph(), &top.keys()).unwrap();
    let remote = remote[0]
        .downcast_ref::<Vec<(String, u64)>>()
        .unwrap()
        .clone();
    // Ties may be cut either way; the counts, in order, must agree.
    let counts = |v: &[(String, u64)]| v.iter().map(|p| p.1).collect::<Vec<_>>();
    assert_eq!(counts(&remote), counts(&local));
    let mut all = frequencies.compute().unwrap();
    all.sort_by_key(|p| std::cmp::Reverse(p.1));
    assert_eq!(counts(&remote), counts(&all[..5]));

    let total = frequencies.map(count_only).sum();
    let remote = child::compute_remote(&total.graph(), std::slice::from_ref(total.key())).unwrap();
    let words_in_files: u64 = (0..3)
        .map(|f| {
            std::fs::read_to_string(dir.path().join(format!("part-{f}.txt")))
                .unwrap()
                .split_whitespace()
                .count() as u64
        })
        .sum();
    assert_eq!(*remote[0].downcast_ref::<u64>().unwrap(), words_in_files);
    assert_eq!(total.compute().unwrap(), words_in_files);
}

/// `count`, `sum`, `min` and `max` of registered item types, over generated, given and read
/// items, and over empty bags.
fn bag_aggregates() {
    let r = Bag::range(1_000, 7);
    let shipped = |d: &Delayed<u64>| {
        let v = child::compute_remote(&d.graph(), std::slice::from_ref(d.key())).unwrap();
        *v[0].downcast_ref::<u64>().unwrap()
    };
    assert_eq!(shipped(&r.sum()), 499_500);
    assert_eq!(shipped(&r.count()), 1_000);
    let extremes = |d: &Delayed<Option<u64>>| {
        let v = child::compute_remote(&d.graph(), std::slice::from_ref(d.key())).unwrap();
        *v[0].downcast_ref::<Option<u64>>().unwrap()
    };
    assert_eq!(extremes(&r.min()), Some(0));
    assert_eq!(extremes(&r.max()), Some(999));
    assert_eq!(r.max().compute().unwrap(), Some(999));
    let empty = Bag::range(0, 3).filter(is_even_u64);
    assert_eq!(extremes(&empty.max()), None);
    assert_eq!(shipped(&empty.count()), 0);

    let lengths =
        Bag::from_sequence(vec!["ab".to_string(), "c".into(), String::new()], 2).pluck(length);
    let sum = lengths.sum();
    let v = child::compute_remote(&sum.graph(), std::slice::from_ref(sum.key())).unwrap();
    assert_eq!(*v[0].downcast_ref::<usize>().unwrap(), 3);

    let mean = r.mean();
    let v = child::compute_remote(&mean.graph(), std::slice::from_ref(mean.key())).unwrap();
    assert_eq!(*v[0].downcast_ref::<Option<f64>>().unwrap(), Some(499.5));
    assert_eq!(mean.compute().unwrap(), Some(499.5));

    let parity = Bag::range(10, 3).map(modulo_three).frequencies();
    let v = child::compute_remote(&parity.graph(), &parity.keys()).unwrap();
    let mut got = v[0].downcast_ref::<Vec<(u64, u64)>>().unwrap().clone();
    got.sort();
    assert_eq!(got, vec![(0, 4), (1, 3), (2, 3)]);

    let words = Bag::from_sequence(["b", "a", "b", "c", "b"].map(String::from).to_vec(), 2);
    let f = words.frequencies();
    let v = child::compute_remote(&f.graph(), &f.keys()).unwrap();
    let mut got = v[0].downcast_ref::<Vec<(String, u64)>>().unwrap().clone();
    got.sort();
    let expect: Vec<(String, u64)> = vec![("a".into(), 1), ("b".into(), 3), ("c".into(), 1)];
    assert_eq!(got, expect);
}

remote_fn! {
    fn modulo_three(x: u64) -> u64 { x % 3 }
}

remote_fn! {
    fn is_even_u64(x: &u64) -> bool { x.is_multiple_of(2) }
}

remote_fn! {
    /// A partition's running totals.
    fn running_totals(part: Vec<u64>) -> Vec<u64> {
        part.iter()
            .scan(0, |acc, x| {
                *acc += x;
                Some(*acc)
            })
            .collect()
    }
}

/// `map_partitions` of a registered function, after a chain and on its own, then aggregated.
fn bag_map_partitions() {
    let b = Bag::range(100, 4)
        .filter(is_even_u64)
        .map_partitions(running_totals);
    let local = b.compute().unwrap();
    let remote = child::compute_remote(&b.graph(), &b.keys()).unwrap();
    let remote: Vec<u64> = remote
        .iter()
        .flat_map(|v| v.downcast_ref::<Vec<u64>>().unwrap().clone())
        .collect();
    assert_eq!(remote, local);
    // Four partitions of 25 numbers each; the totals restart in each.
    let reference: Vec<u64> = (0..4_u64)
        .flat_map(|p| running_totals((p * 25..(p + 1) * 25).filter(|x| x % 2 == 0).collect()))
        .collect();
    assert_eq!(remote, reference);
    let top = b.max();
    let v = child::compute_remote(&top.graph(), std::slice::from_ref(top.key())).unwrap();
    assert_eq!(
        *v[0].downcast_ref::<Option<u64>>().unwrap(),
        local.iter().copied().max()
    );
}

remote_fn! {
    /// A fold step and its combine: addition.
    fn add(acc: u64, x: u64) -> u64 { acc + x }
}

remote_fn! {
    fn last_digit(x: &u64) -> u64 { x % 10 }
}

remote_fn! {
    fn first_letter(word: &String) -> char { word.chars().next().unwrap_or(' ') }
}

remote_fn! {
    fn add_length(acc: usize, word: String) -> usize { acc + word.len() }
}

remote_fn! {
    fn add_usize(a: usize, b: usize) -> usize { a + b }
}

remote_fn! {
    fn parity_pair(x: &u64) -> (u64, u64) { (x % 2, x % 3) }
}

remote_fn! {
    /// A reduction's partial: the largest item of a partition, 0 for none.
    fn largest(part: Vec<u64>) -> u64 { part.into_iter().max().unwrap_or(0) }
}

remote_fn! {
    /// The three largest items of a partition, largest first.
    fn top_three(part: Vec<u64>) -> Vec<u64> {
        let mut part = part;
        part.sort_unstable_by(|a, b| b.cmp(a));
        part.truncate(3);
        part
    }
}

remote_fn! {
    /// The three largest of partial top threes.
    fn merge_top_three(parts: Vec<Vec<u64>>) -> Vec<u64> {
        top_three(parts.into_iter().flatten().collect())
    }
}

partita::register_value!(Vec<(char, usize)>);

/// Computes `d` here and in a child, asserts both agree, and returns the value.
fn both_ways<T: Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static>(d: &Delayed<T>) -> T {
    let local = d.compute().unwrap();
    let remote = child::compute_remote(&d.graph(), std::slice::from_ref(d.key())).unwrap();
    let remote = remote[0].downcast_ref::<T>().unwrap().clone();
    assert_eq!(remote, local);
    remote
}

/// Computes `b` here and in a child, asserts both agree, and returns the items.
fn bag_both_ways<T: Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static>(
    b: &Bag<T>,
) -> Vec<T> {
    let local = b.compute().unwrap();
    let remote = child::compute_remote(&b.graph(), &b.keys()).unwrap();
    let remote: Vec<T> = remote
        .iter()
        .flat_map(|v| v.downcast_ref::<Vec<T>>().unwrap().clone())
        .collect();
    assert_eq!(remote, local);
    remote
}

/// `fold`, `foldby` and `reduction` by registered functions, after a chain and over empty bags,
/// each computed here and in the child and checked against a sequential answer.
fn bag_user_aggregations() {
    let evens = Bag::range(1_000, 7).filter(is_even_u64);
    let reference: u64 = (0..1_000).filter(|x| x % 2 == 0).sum();
    assert_eq!(both_ways(&evens.fold(0, add, add)), reference);
    // More partials than one combine reads: two levels of merges.
    let many = Bag::range(1_000, 20);
    assert_eq!(both_ways(&many.fold(0, add, add)), 499_500);
    // Partitions with no items keep the initial value; a bag with no partition is the empty
    // partial.
    assert_eq!(both_ways(&Bag::range(0, 3).fold(0, add, add)), 0);
    let none = Bag::<u64>::from_delayed(&[]);
    assert_eq!(both_ways(&none.fold(0, add, add)), 0);

    let words: Vec<String> = [
        "apple",
        "avocado",
        "banana",
        "blueberry",
        "cherry",
        "apricot",
    ]
    .map(String::from)
    .to_vec();
    let letters = Bag::from_sequence(words.clone(), 4);
    assert_eq!(
        both_ways(&letters.fold(0, add_length, add_usize)),
        words.iter().map(String::len).sum::<usize>()
    );

    let by_digit = bag_both_ways(&Bag::range(100, 4).foldby(last_digit, add, 0, add));
    let reference: Vec<(u64, u64)> = (0..10).map(|d| (d, 450 + 10 * d)).collect();
    assert_eq!(by_digit, reference);
    let lengths = bag_both_ways(&letters.foldby(first_letter, add_length, 0, add_usize));
    assert_eq!(lengths, vec![('a', 19), ('b', 15), ('c', 6)]);
    let empty = bag_both_ways(
        &Bag::range(10, 3)
            .filter(is_even_u64)
            .filter(is_odd)
            .foldby(last_digit, add, 0, add),
    );
    assert!(empty.is_empty());

    let r = Bag::range(1_000, 9).map(modulo_three);
    assert_eq!(both_ways(&r.reduction(largest, largest)), 2);
    let top = Bag::from_sequence(vec![5_u64, 17, 3, 99, 42, 8, 61, 0, 23], 4);
    assert_eq!(
        both_ways(&top.reduction(top_three, merge_top_three)),
        vec![99, 61, 42]
    );
    assert_eq!(both_ways(&none.reduction(largest, largest)), 0);
}

remote_fn! {
    fn is_odd(x: &u64) -> bool { !x.is_multiple_of(2) }
}

/// Aggregations with a plain closure, or a key type no shipped `foldby` groups by, stay local:
/// encoding names the layer, and they still compute here.
fn bag_user_aggregations_refused() {
    let r = Bag::range(10, 3);
    let folded = r.fold(0, add, |a, b| a + b);
    let err = encode_graph(&folded.graph(), std::slice::from_ref(folded.key())).unwrap_err();
    assert!(err.to_string().contains("layer fold-partial-"), "{err}");
    assert_eq!(folded.compute().unwrap(), 45);

    let pairs = r.foldby(parity_pair, add, 0, add);
    let err = encode_graph(&pairs.graph(), &pairs.keys()).unwrap_err();
    assert!(err.to_string().contains("layer foldby-partial-"), "{err}");
    assert_eq!(pairs.compute().unwrap().len(), 6);

    let parts = Bag::from_delayed(&[
        from_value(vec![1_u64, 2]),
        from_value(vec![5_u64]),
        from_value(vec![9_u64, 3]),
    ]);
    let reduced = parts.reduction(largest, |parts: Vec<u64>| parts.into_iter().sum());
    let err = encode_graph(&reduced.graph(), std::slice::from_ref(reduced.key())).unwrap_err();
    assert!(
        err.to_string().contains("layer reduction-partial-"),
        "{err}"
    );
    // The three partitions' largest items: 2, 5 and 9.
    assert_eq!(reduced.compute().unwrap(), 16);
}

partita::register_value!(Vec<(u64, Vec<u64>)>);
partita::register_value!(Vec<(char, Vec<String>)>);

/// `groupby` by a registered key, `distinct` and `repartition` of registered item types, after
/// chains: each shipped shuffle or layer gives the local partitions, and a sequential answer.
fn bag_shuffles() {
    let numbers = Bag::range(200, 6).filter(is_odd);
    let groups = bag_both_ways(&numbers.groupby(last_digit));
    let mut sorted = groups.clone();
    sorted.sort();
    let reference: Vec<(u64, Vec<u64>)> = [1, 3, 5, 7, 9]
        .into_iter()
        .map(|d| (d, (0..200).filter(|x| x % 10 == d).collect()))
        .collect();
    assert_eq!(sorted, reference);

    let words: Vec<String> = ["apple", "banana", "avocado", "cherry", "blueberry"]
        .map(String::from)
        .to_vec();
    let mut by_letter = bag_both_ways(&Bag::from_sequence(words, 2).groupby(first_letter));
    by_letter.sort();
    let expect: Vec<(char, Vec<String>)> = vec![
        ('a', vec!["apple".into(), "avocado".into()]),
        ('b', vec!["banana".into(), "blueberry".into()]),
        ('c', vec!["cherry".into()]),
    ];
    assert_eq!(by_letter, expect);

    let digits = Bag::range(1_000, 7).map(modulo_three);
    let mut distinct = bag_both_ways(&digits.distinct());
    distinct.sort();
    assert_eq!(distinct, vec![0, 1, 2]);

    for n in [1, 3, 7, 16] {
        let r = Bag::range(50, 7).filter(is_even_u64).repartition(n);
        assert_eq!(r.npartitions(), n);
        let items = bag_both_ways(&r);
        assert_eq!(items, (0..50).filter(|x| x % 2 == 0).collect::<Vec<u64>>());
    }

    // A key or an item type that no entry names stays local, and the shipped graph says where.
    let pairs = Bag::range(10, 2).groupby(|x| x % 3);
    let err = encode_graph(&pairs.graph(), &pairs.keys()).unwrap_err();
    assert!(err.to_string().contains("layer groupby-"), "{err}");
    assert_eq!(pairs.compute().unwrap().len(), 3);
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

/// A small table shaped like the h2o groupby data: `id1..id3` strings (10, 10 and 500 values),
/// `id4..id6` integers (10, 10 and 500 values), `v1`, `v2` integers and `v3` floats.
fn h2o_batch(rows: usize) -> RecordBatch {
    let mut s = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % n
    };
    let mut ids: Vec<Vec<u64>> = vec![Vec::new(); 6];
    let mut vs: Vec<Vec<i64>> = vec![Vec::new(); 2];
    let mut v3 = Vec::with_capacity(rows);
    for _ in 0..rows {
        for (i, k) in [10, 10, 500, 10, 10, 500].into_iter().enumerate() {
            ids[i].push(next(k) + 1);
        }
        vs[0].push(next(5) as i64 + 1);
        vs[1].push(next(15) as i64 + 1);
        v3.push((next(10_000) as f64) / 100.0);
    }
    let strings = |xs: &[u64], width: usize| -> StringArray {
        xs.iter().map(|x| Some(format!("id{x:0width$}"))).collect()
    };
    let ints = |xs: &[u64]| Int64Array::from_iter_values(xs.iter().map(|&x| x as i64));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id1", DataType::Utf8, false),
        Field::new("id2", DataType::Utf8, false),
        Field::new("id3", DataType::Utf8, false),
        Field::new("id4", DataType::Int64, false),
        Field::new("id5", DataType::Int64, false),
        Field::new("id6", DataType::Int64, false),
        Field::new("v1", DataType::Int64, false),
        Field::new("v2", DataType::Int64, false),
        Field::new("v3", DataType::Float64, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(strings(&ids[0], 3)),
            Arc::new(strings(&ids[1], 3)),
            Arc::new(strings(&ids[2], 10)),
            Arc::new(ints(&ids[3])),
            Arc::new(ints(&ids[4])),
            Arc::new(ints(&ids[5])),
            Arc::new(Int64Array::from(vs[0].clone())),
            Arc::new(Int64Array::from(vs[1].clone())),
            Arc::new(Float64Array::from(v3)),
        ],
    )
    .unwrap()
}

/// `h2o_batch(rows)` written as one CSV file in `dir`, read back in blocks of about 16 KiB.
fn h2o_csv(dir: &Path, rows: usize) -> DataFrame {
    let path = dir.join("G1_small.csv");
    let file = std::fs::File::create(&path).unwrap();
    let mut w = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(file);
    w.write(&h2o_batch(rows)).unwrap();
    drop(w);
    let df = read_csv(path.as_path(), CsvOptions::default().blocksize(16 << 10)).unwrap();
    assert!(df.npartitions() >= 2, "{} partitions", df.npartitions());
    df
}

/// The partitions of `df`, computed here and in a child process, concatenated: they must be
/// equal. Returns the local table.
fn same_here_and_there(df: &DataFrame) -> RecordBatch {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let local = rt.install(|| df.compute_partitions()).unwrap();
    let remote: Vec<RecordBatch> = child::compute_remote(&df.graph(), &df.keys())
        .unwrap()
        .iter()
        .map(|v| v.downcast_ref::<RecordBatch>().unwrap().clone())
        .collect();
    assert_eq!(remote.len(), local.len());
    let schema = df.schema().clone();
    let local = arrow::compute::concat_batches(&schema, &local).unwrap();
    let remote = arrow::compute::concat_batches(&schema, &remote).unwrap();
    assert_eq!(remote, local);
    local
}

/// The h2o groupby questions q1–q5 of `examples/groupby.rs` on a CSV read in blocks, each merged
/// in one task and through the merge shuffle.
fn h2o_groupby_q1_to_q5() {
    let dir = tempfile::tempdir().unwrap();
    let x = h2o_csv(dir.path(), 5_000);
    let queries: Vec<(&str, Vec<&str>, Vec<Agg>)> = vec![
        ("q1", vec!["id1"], vec![total("v1")]),
        ("q2", vec!["id1", "id2"], vec![total("v1")]),
        ("q3", vec!["id3"], vec![total("v1"), mean("v3")]),
        ("q4", vec!["id4"], vec![mean("v1"), mean("v2"), mean("v3")]),
        (
            "q5",
            vec!["id6"],
            vec![total("v1"), total("v2"), total("v3")],
        ),
    ];
    for (name, by, aggs) in queries {
        for shuffle_above in [usize::MAX, 0] {
            let q = x.groupby(&by).unwrap().shuffle_above(shuffle_above);
            let ans = same_here_and_there(&q.agg(aggs.clone()).unwrap());
            assert!(ans.num_rows() > 1, "{name}: {} groups", ans.num_rows());
        }
    }
}

/// The join of `examples/join.rs` (x joined with a small y on `id1`, then the sum of
/// `v1 * v2`) on Parquet files, broadcast and hash-shuffled.
fn join_broadcast_and_shuffle() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::builder().threads(2).build().unwrap();
    let n = 4_000_i64;
    let x = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id1", DataType::Int64, false),
            Field::new("v1", DataType::Float64, false),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(
                (0..n).map(|i| (i * 7919) % 1000),
            )),
            Arc::new(Float64Array::from_iter_values(
                (0..n).map(|i| i as f64 / 8.0),
            )),
        ],
    )
    .unwrap();
    let y = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id1", DataType::Int64, false),
            Field::new("v2", DataType::Float64, false),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(
                (0..1000).map(|i| (i * 31) % 1000),
            )),
            Arc::new(Float64Array::from_iter_values((0..1000).map(|i| i as f64))),
        ],
    )
    .unwrap();
    for (name, batch, parts) in [("x", x, 4), ("y", y, 2)] {
        let df = DataFrame::from_arrow(batch, parts).unwrap();
        rt.install(|| to_parquet(&df, dir.path().join(name)))
            .unwrap();
    }
    let read = |name: &str| {
        let pattern = format!("{}/{name}/*.parquet", dir.path().display());
        read_parquet(pattern.as_str(), ParquetOptions::default()).unwrap()
    };
    let (x, y) = (read("x"), read("y"));
    for how in [Merge::on(&["id1"]), Merge::on(&["id1"]).broadcast(false)] {
        let joined = x.merge(&y, how).unwrap();
        let table = same_here_and_there(&joined);
        assert_eq!(table.num_rows(), n as usize);
        let product = Agg::of(col("v1") * col("v2"), AggFunc::Sum).alias("s");
        same_here_and_there(&joined.agg([product]).unwrap());
    }
}

/// `set_index` (a sampled range shuffle) and `sort_values`, shipped; `loc` on the index reads
/// the rows the shipped partitions hold.
fn set_index_loc_and_sort() {
    let dir = tempfile::tempdir().unwrap();
    let x = h2o_csv(dir.path(), 3_000);
    let indexed = x.set_index("id6", 4).unwrap();
    let table = same_here_and_there(&indexed);
    let ids = table.column_by_name("id6").unwrap();
    let ids = ids.as_any().downcast_ref::<Int64Array>().unwrap();
    assert!(ids.values().is_sorted());
    let key = ids.value(ids.len() / 2);
    let found = indexed.loc(key).unwrap();
    let want = ids.values().iter().filter(|&&v| v == key).count();
    assert_eq!(found.num_rows(), want);
    same_here_and_there(&x.sort_values(&["id3", "v3"], false, 3).unwrap());
}

/// Row-wise expressions (pushed into the CSV reader as a projection) and a filter, shipped.
fn filter_with_column_select() {
    let dir = tempfile::tempdir().unwrap();
    let x = h2o_csv(dir.path(), 3_000);
    let df = x
        .filter(col("v1").gt(lit(2)).and(!col("id1").eq(lit("id003"))))
        .unwrap()
        .with_column("w", col("v2") * lit(2) + col("v3"))
        .unwrap()
        .select([col("id2"), col("w"), col("v1")])
        .unwrap();
    let table = same_here_and_there(&df);
    assert!(table.num_rows() > 0);
    assert_eq!(table.num_columns(), 3);
}

/// A `map_partitions` with a plain closure cannot leave the process: encoding names its layer.
fn frame_closure_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let x = h2o_csv(dir.path(), 500);
    let mapped = x.map_partitions(x.schema().clone(), |b: RecordBatch| {
        Ok::<_, String>(b.slice(0, 1))
    });
    let err = encode_graph(&mapped.graph(), &mapped.keys()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("layer map-partitions-"), "{text}");
    assert!(text.contains("plain closure"), "{text}");
    assert_eq!(mapped.len().unwrap(), x.npartitions());
}

remote_fn! {
    /// The first two rows of a partition whose `v1` is positive.
    fn head_positive(b: RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
        let v1 = b
            .column_by_name("v1")
            .ok_or_else(|| arrow::error::ArrowError::SchemaError("no v1".into()))?;
        let keep = arrow::compute::kernels::cmp::gt(v1, &Int64Array::new_scalar(0))?;
        let kept = arrow::compute::filter_record_batch(&b, &keep)?;
        Ok(kept.slice(0, kept.num_rows().min(2)))
    }
}

/// A `map_partitions` of a registered function ships, and its answer is the function's.
fn frame_map_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let x = h2o_csv(dir.path(), 500);
    let mapped = x.map_partitions(x.schema().clone(), head_positive);
    let table = same_here_and_there(&mapped);
    assert_eq!(table.num_rows(), 2 * x.npartitions());
}

/// The whole array from its blocks, as they came back from the child.
fn assemble<T: Element>(a: &Array<T>, parts: Vec<Value>) -> ArrayD<T> {
    let chunks = a.chunks();
    let offsets: Vec<Vec<usize>> = (0..chunks.ndim()).map(|ax| chunks.offsets(ax)).collect();
    let mut out = ArrayD::<T>::default(IxDyn(&a.shape()));
    for (b, part) in chunks.blocks().zip(parts) {
        let block = part
            .downcast_ref::<ArrayD<T>>()
            .expect("a block of the array's dtype");
        let info: Vec<SliceInfoElem> = b
            .iter()
            .enumerate()
            .map(|(ax, &i)| ndarray::Slice::from(offsets[ax][i]..offsets[ax][i + 1]).into())
            .collect();
        out.slice_mut(info.as_slice()).assign(block);
    }
    out
}

type Check = Box<dyn FnOnce(Vec<Value>)>;

/// Arrays of any dtypes, computed here and then together by one child, each answer compared
/// with the local one.
#[derive(Default)]
struct Shipment {
    graph: Graph,
    keys: Vec<TaskKey>,
    checks: Vec<(usize, Check)>,
}

impl Shipment {
    fn add<T: Element>(&mut self, a: &Array<T>) -> &mut Self {
        let local = a.compute().unwrap();
        self.graph.merge(a.graph());
        self.keys.extend(a.keys());
        let (n, a, label) = (a.nblocks(), a.clone(), a.to_string());
        let check = move |parts: Vec<Value>| assert_eq!(assemble(&a, parts), local, "{label}");
        self.checks.push((n, Box::new(check)));
        self
    }

    fn ship(self) {
        let values = child::compute_remote(&self.graph, &self.keys).unwrap();
        let mut values = values.into_iter();
        for (n, check) in self.checks {
            check(values.by_ref().take(n).collect());
        }
    }
}

/// The seed's HDF5 workload: a float64 dataset written with `to_hdf5`, read back in chunks, and
/// each row centred on its mean. The child reopens the file from the reader's parameters.
fn hdf5_centred_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("myfile.hdf5");
    let data = Array::random(&[40, 30], &[10, 10], 42).unwrap();
    to_hdf5(&data, &path, "/big-data", &Hdf5Write::new()).unwrap();
    let x = partita::read_hdf5(&path, "/big-data", Some(&[10, 10]))
        .unwrap()
        .into_typed::<f64>()
        .unwrap();
    let y = &x - &x.mean(axis(1).keepdims()).unwrap();
    let local = y.compute().unwrap();
    assert_eq!(local.shape(), &[40, 30]);
    let remote = child::compute_remote(y.graph(), &y.keys()).unwrap();
    assert_eq!(assemble(&y, remote), local);
    // With the file gone, the child cannot reopen it, and says which file it wanted.
    std::fs::remove_file(&path).unwrap();
    let err = child::compute_remote(y.graph(), &y.keys())
        .unwrap_err()
        .to_string();
    assert!(err.contains("myfile.hdf5"), "{err}");
    assert!(err.contains("no such file"), "{err}");
}

/// Creation, broadcasting, scalars, math functions, reductions along axes, slicing with
/// negative steps, rechunk, reshape, transpose, concatenate, stack, matmul, select, masks and
/// casts, over several dtypes: each shipped array's answer equals the local one.
fn array_operations() {
    let back = |n| Index::range(None, None, n);
    let mut ship = Shipment::default();

    // float64
    let x = Array::random(&[7, 5], &[3, 2], 7).unwrap();
    let row = Array::<f64>::linspace(-1.0, 1.0, 5, 2).unwrap();
    let col = Array::from_array(
        array![[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0]],
        &[4, 1],
    )
    .unwrap();
    let z = &(&(&x + &row) * &col) - 0.5;
    ship.add(&z)
        .add(&(&z / 3.0).abs().sqrt())
        .add(&(&x + 1.0).log().exp().sin().cos())
        .add(&x.pow(&row).unwrap())
        .add(&x.pow(2.0).unwrap().clip(0.1, 0.6))
        .add(&-&x.minimum(&row).unwrap().maximum(0.25).unwrap())
        .add(&z.sum(axis(0)).unwrap())
        .add(&z.mean(axis(1).keepdims()).unwrap())
        .add(&z.var(axis(0), 1).unwrap())
        .add(&z.std(Axes::All, 0).unwrap())
        .add(&z.min(axis(1)).unwrap())
        .add(&z.max(Axes::All).unwrap())
        .add(&z.prod(axis(-1)).unwrap())
        .add(&z.argmax(1).unwrap())
        .add(&z.argmin(0).unwrap())
        .add(
            &z.slice(&[back(-2), Index::range(Some(4), Some(0), -1)])
                .unwrap(),
        )
        .add(&z.slice(&[Index::At(-1)]).unwrap())
        .add(&z.rechunk(&[2, 5]).unwrap())
        .add(&z.reshape(&[5, 7]).unwrap())
        .add(&z.t())
        .add(&Array::concatenate(&[z.clone(), x.clone()], 0).unwrap())
        .add(&Array::stack(&[z.clone(), x.clone()], 1).unwrap())
        .add(&z.matmul(&x.t()).unwrap())
        .add(&x.matmul(&x.t()).unwrap())
        .add(&Array::select(&x.greater(0.5).unwrap(), &x, &z).unwrap())
        .add(&Array::<f64>::ones(&[3, 4], &[2, 2]).unwrap())
        .add(&x.astype_unchecked::<i32>());

    // int32
    let i = Array::<i32>::arange(12, 5)
        .unwrap()
        .reshape(&[3, 4])
        .unwrap();
    let j = (&i * -3) + 7;
    ship.add(&j)
        .add(&(&j / &i))
        .add(&j.sum(axis(1)).unwrap())
        .add(&j.min(axis(0).keepdims()).unwrap())
        .add(&j.argmax(0).unwrap())
        .add(&j.slice(&[back(-1), back(-3)]).unwrap())
        .add(&Array::concatenate(&[j.clone(), i.clone()], 1).unwrap())
        .add(&j.matmul(&i.t()).unwrap())
        .add(&j.astype::<f64>().unwrap().mean(Axes::All).unwrap());

    // uint8: wrapping arithmetic.
    let u = Array::full(&[4, 3], &[3, 2], 200_u8).unwrap();
    let v = &u + &Array::<u8>::arange(3, 2).unwrap();
    ship.add(&(&v + 100))
        .add(&v.max(axis(0)).unwrap())
        .add(&v.prod(Axes::All).unwrap())
        .add(&v.sum(axis(1)).unwrap())
        .add(&v.astype::<f32>().unwrap());

    // bool
    let b = x.greater(0.3).unwrap();
    ship.add(&b)
        .add(&b.any(axis(0)).unwrap())
        .add(&b.all(axis(1)).unwrap())
        .add(&b.equal(&x.less_equal(0.8).unwrap()).unwrap())
        .add(&b.t().rechunk(&[5, 7]).unwrap())
        .add(&x.mask(&b).unwrap());

    // complex128
    let c = Array::from_array(
        ArrayD::from_shape_fn(IxDyn(&[4, 4]), |ix| {
            Complex::new(ix[0] as f64 - 1.5, ix[1] as f64 * 0.5)
        }),
        &[3, 2],
    )
    .unwrap();
    let d = &(&c * &c) + Complex::new(1.0, -1.0);
    ship.add(&d)
        .add(&d.abs())
        .add(&d.sum(axis(0)).unwrap())
        .add(&d.matmul(&c).unwrap())
        .add(&d.t().rechunk(&[4, 1]).unwrap())
        .add(&d.not_equal(&c).unwrap());

    // int128
    let w = Array::<i128>::arange(10, 4).unwrap();
    let w = &(&w * i128::MAX / 10) - 3;
    ship.add(&w)
        .add(&w.sum(Axes::All).unwrap())
        .add(&w.slice(&[Index::range(Some(8), None, -3)]).unwrap())
        .add(&w.reshape(&[2, 5]).unwrap().maximum(0).unwrap())
        .add(&Array::<i128>::zeros(&[0, 3], &[2, 2]).unwrap());
    ship.ship();
}

/// A block function given as a plain closure cannot go remote: encoding fails, naming its
/// layer; the built-in layers before it were fine.
fn array_plain_closure_is_refused() {
    let x = Array::<f64>::arange(6, 4).unwrap().sqrt();
    assert!(encode_graph(x.graph(), &x.keys()).is_ok());
    let y = x.map_blocks(|b| b.mapv(|v| v * 3.0));
    let err = encode_graph(y.graph(), &y.keys()).unwrap_err().to_string();
    assert!(err.contains("layer map-blocks-"), "{err}");
    let z = x.map(|v| v as i64);
    let err = encode_graph(z.graph(), &z.keys()).unwrap_err().to_string();
    assert!(err.contains("layer map-"), "{err}");
    // They still run locally.
    assert_eq!(y.compute().unwrap().len(), 6);
}

remote_fn! {
    /// Each element squared, a block at a time.
    fn square(b: ArrayViewD<'_, f64>) -> ArrayD<f64> { b.mapv(|v| v * v) }
}
remote_fn! {
    fn half(x: f64) -> f64 { x / 2.0 }
}
remote_fn! {
    /// Another dtype out: rounded down to an integer.
    fn floor_i32(x: f64) -> i32 { x.floor() as i32 }
}
remote_fn! {
    /// Each row's running sum, a 2-d block at a time (each block on its own).
    fn row_cumsum(b: ArrayViewD<'_, i32>) -> ArrayD<i64> {
        let mut out = b.mapv(i64::from);
        if let Some(last) = out.ndim().checked_sub(1) {
            out.accumulate_axis_inplace(ndarray::Axis(last), |prev, cur| *cur += *prev);
        }
        out
    }
}
remote_fn! {
    /// Its argument spelt as a path, so not recognised as a block function: local only.
    fn cube(b: ndarray::ArrayViewD<'_, f64>) -> ndarray::ArrayD<f64> { b.mapv(|v| v * v * v) }
}

/// `map_blocks` and `map` of registered functions ship; each answer is the local one and the
/// hand-computed one.
fn array_user_fns() {
    let x = Array::<f64>::arange(10, 3).unwrap();
    let y = x.map_blocks(square).map(half);
    let local = y.compute().unwrap();
    let by_hand: Vec<f64> = (0..10).map(|i| (i * i) as f64 / 2.0).collect();
    assert_eq!(local.clone().into_raw_vec_and_offset().0, by_hand);
    let remote = child::compute_remote(y.graph(), &y.keys()).unwrap();
    assert_eq!(assemble(&y, remote), local);

    // Other dtypes out, and 2-d blocks that each see only their own columns.
    let m = Array::from_array(
        array![
            [0.5, 1.5, 2.5, 3.5],
            [4.5, 5.5, 6.5, 7.5],
            [-0.5, -1.5, 8.0, 9.9]
        ],
        &[2, 2],
    )
    .unwrap();
    let sums = m.map(floor_i32).map_blocks(row_cumsum);
    let local = sums.compute().unwrap();
    let by_hand = array![[0_i64, 1, 2, 5], [4, 9, 6, 13], [-1, -3, 8, 17]].into_dyn();
    assert_eq!(local, by_hand);
    let remote = child::compute_remote(sums.graph(), &sums.keys()).unwrap();
    assert_eq!(assemble(&sums, remote), by_hand);

    // Mixed with built-in layers, in one shipment.
    let mut ship = Shipment::default();
    ship.add(&(&x.map(half) + 1.0).map_blocks(square))
        .add(&x.map(half).sum(Axes::All).unwrap())
        .add(&m.map(floor_i32).astype::<f64>().unwrap().map(half));
    ship.ship();
}

/// An array function that is a plain closure, or a block function registered under a shape
/// `map_blocks` does not know, stays local: shipping names its layer.
fn array_user_fns_refused() {
    let x = Array::<f64>::arange(6, 4).unwrap();
    let y = x.map_blocks(cube);
    let err = encode_graph(y.graph(), &y.keys()).unwrap_err().to_string();
    assert!(err.contains("layer map-blocks-"), "{err}");
    assert_eq!(
        y.compute().unwrap().into_raw_vec_and_offset().0,
        vec![0.0, 1.0, 8.0, 27.0, 64.0, 125.0]
    );
    let z = x.map(half).map(|v| v + 1.0);
    let err = encode_graph(z.graph(), &z.keys()).unwrap_err().to_string();
    assert!(err.contains("layer map-"), "{err}");
    let registered = x.map(half);
    assert!(encode_graph(registered.graph(), &registered.keys()).is_ok());
}

remote_fn! {
    fn parse_answer() -> Result<u64, std::num::ParseIntError> { "42".parse() }
}
remote_fn! {
    fn parse_nothing() -> Result<u64, std::num::ParseIntError> { "x".parse() }
}
remote_fn! {
    fn checked() -> Result<u64, String> { Err("no answer".to_string()) }
}
partita::register_value!(Result<u64, String>);
remote_fn! {
    /// A `Result` behind an alias: registered as `fn() -> R` only, so `try_submit` keeps it local.
    fn aliased() -> std::io::Result<u64> { Ok(3) }
}

/// Submitted registered functions ship as one-task graphs; the child's answer is the local
/// future's, and its failure reads as the local one.
fn submitted_futures() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let f = rt.submit(seven);
    let keys = [f.key().clone()];
    let remote = child::compute_remote(&f.graph(), &keys).unwrap();
    assert_eq!(*remote[0].downcast_ref::<u64>().unwrap(), 7);
    assert_eq!(f.result().unwrap(), 7);
    // The graph computed here reads the future's result.
    let here = rt.compute(&f.graph(), &keys).unwrap();
    assert_eq!(*here[0].downcast_ref::<u64>().unwrap(), 7);

    let g = rt.try_submit(parse_answer);
    let remote = child::compute_remote(&g.graph(), &[g.key().clone()]).unwrap();
    assert_eq!(*remote[0].downcast_ref::<u64>().unwrap(), 42);
    assert_eq!(g.result().unwrap(), 42);

    let bad = rt.try_task(parse_nothing).name("parse").submit();
    let local = bad.result().unwrap_err().to_string();
    let remote = child::compute_remote(&bad.graph(), &[bad.key().clone()])
        .unwrap_err()
        .to_string();
    assert!(local.contains("invalid digit"), "{local}");
    assert_eq!(remote, local);

    // `submit` of a function returning a `Result` ships it as a value; `try_submit` unpacks it.
    let as_value = rt.submit(checked);
    let remote = child::compute_remote(&as_value.graph(), &[as_value.key().clone()]).unwrap();
    let remote = remote[0].downcast_ref::<Result<u64, String>>().unwrap();
    assert_eq!(remote, &Err("no answer".to_string()));
    assert_eq!(as_value.result().unwrap(), Err("no answer".to_string()));
    let unpacked = rt.try_submit(checked);
    let remote = child::compute_remote(&unpacked.graph(), &[unpacked.key().clone()])
        .unwrap_err()
        .to_string();
    assert!(remote.contains("no answer"), "{remote}");
    assert_eq!(remote, unpacked.result().unwrap_err().to_string());

    // A closure, or a function without `try_submit`'s shape, stays local.
    let closure = rt.submit(|| 7_u64);
    let err = encode_graph(&closure.graph(), &[closure.key().clone()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("layer submit,"), "{err}");
    assert_eq!(closure.result().unwrap(), 7);
    let alias = rt.try_submit(aliased);
    assert!(encode_graph(&alias.graph(), &[alias.key().clone()]).is_err());
    assert_eq!(alias.result().unwrap(), 3);
}

/// An event of the windowed stream: (key, value, event time).
type Event = (i64, f64, i64);

remote_fn! {
    /// Event `i`: four keys, values 0..7, event times in order.
    fn event(i: u64) -> (i64, f64, i64) { ((i % 4) as i64, (i % 7) as f64, i as i64) }
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
    fn not_sixes(e: &(i64, f64, i64)) -> bool { e.1 != 6.0 }
}
remote_fn! {
    fn doubled(e: (i64, f64, i64)) -> (i64, f64, i64) { (e.0, 2.0 * e.1, e.2) }
}
remote_fn! {
    fn twice(e: (i64, f64, i64)) -> Vec<(i64, f64, i64)> { vec![e, e] }
}
partita::register_value!(Vec<WindowResult<i64, f64>>);

fn sorted_windows(v: &Value) -> Vec<(i64, i64, f64)> {
    let mut w: Vec<(i64, i64, f64)> = v
        .downcast_ref::<Vec<WindowResult<i64, f64>>>()
        .unwrap()
        .iter()
        .map(|w| (w.key, w.start, w.value))
        .collect();
    w.sort_by(|a, b| a.partial_cmp(b).unwrap());
    w
}

/// A windowed stream: generate, filter, map, event time, key_by on two actors, tumbling
/// windows summed; shipped as one task that runs the pipeline, its windows equal to the
/// local run's and to a sequential reference.
fn windowed_stream() {
    let n = 20_000_u64;
    let pipeline = || {
        Stream::generate(Some(n), None, event)
            .filter(not_sixes)
            .map(doubled)
            .with_timestamps(event_time, 0)
            .key_by(event_key)
            .parallel(2)
            .window(Window::tumbling(1_000))
            .sum(event_value)
            .collect(1_000_000)
    };
    let shipped = pipeline().delayed().unwrap();
    let local = shipped.compute().unwrap();
    let there = child::compute_remote(&shipped.graph(), &[shipped.key().clone()]).unwrap();
    let there = sorted_windows(&there[0]);
    assert_eq!(there, sorted_windows(&value(local)));
    // The same pipeline started here, not as a task.
    let started = pipeline().start().wait().unwrap();
    assert_eq!(there, sorted_windows(&value(started)));
    // A sequential reference.
    let mut reference: std::collections::BTreeMap<(i64, i64), f64> = Default::default();
    for i in 0..n {
        let (k, v, t): Event = ((i % 4) as i64, (i % 7) as f64, i as i64);
        if v != 6.0 {
            *reference.entry((k, t / 1_000 * 1_000)).or_default() += 2.0 * v;
        }
    }
    let reference: Vec<(i64, i64, f64)> =
        reference.into_iter().map(|((k, s), v)| (k, s, v)).collect();
    assert_eq!(there, reference);

    // Counted windows over a union with a flat_map, into a count sink.
    let left = Stream::generate(Some(1_000), None, event).flat_map(twice);
    let right = Stream::generate(Some(500), None, event);
    let windows = left
        .union(right)
        .with_timestamps(event_time, 0)
        .key_by(event_key)
        .window(Window::sliding(100, 50))
        .count()
        .count()
        .delayed()
        .unwrap();
    let there = child::compute_remote(&windows.graph(), &[windows.key().clone()]).unwrap();
    let there = *there[0].downcast_ref::<u64>().unwrap();
    assert_eq!(there, windows.compute().unwrap());
    // Times 0..1000, every key each window: windows start every 50 from -50 to 950: 21 of them.
    assert_eq!(there, 21 * 4);
}

/// A stage with a plain closure keeps its pipeline in this process, naming the stage.
fn stream_closure_is_refused() {
    let err = Stream::generate(Some(10), None, event)
        .map(|e: Event| e.1)
        .count()
        .delayed()
        .unwrap_err()
        .to_string();
    assert!(err.contains("`map`"), "{err}");
    assert!(err.contains("remote_fn!"), "{err}");
    let err = Stream::iter(0..10_u64)
        .count()
        .delayed()
        .unwrap_err()
        .to_string();
    assert!(err.contains("`iter`"), "{err}");
}

fn main() {
    if std::env::args().any(|a| a == child::SERVE_FLAG) {
        child::serve();
        return;
    }
    let tests: &[(&str, &dyn Fn())] = &[
        ("task_tree", &task_tree),
        ("delayed_shapes", &delayed_shapes),
        (
            "remote_failure_reads_as_local",
            &remote_failure_reads_as_local,
        ),
        ("another_build_is_refused", &another_build_is_refused),
        ("a_plain_closure_is_refused", &a_plain_closure_is_refused),
        ("bag_sources", &bag_sources),
        ("word_count", &word_count),
        ("bag_chains", &bag_chains),
        ("word_count_pipeline", &word_count_pipeline),
        ("bag_aggregates", &bag_aggregates),
        ("bag_map_partitions", &bag_map_partitions),
        ("bag_user_aggregations", &bag_user_aggregations),
        ("bag_shuffles", &bag_shuffles),
        (
            "bag_user_aggregations_refused",
            &bag_user_aggregations_refused,
        ),
        ("h2o_groupby_q1_to_q5", &h2o_groupby_q1_to_q5),
        ("join_broadcast_and_shuffle", &join_broadcast_and_shuffle),
        ("set_index_loc_and_sort", &set_index_loc_and_sort),
        ("filter_with_column_select", &filter_with_column_select),
        ("frame_closure_is_refused", &frame_closure_is_refused),
        ("frame_map_partitions", &frame_map_partitions),
        ("hdf5_centred_rows", &hdf5_centred_rows),
        ("array_operations", &array_operations),
        (
            "array_plain_closure_is_refused",
            &array_plain_closure_is_refused,
        ),
        ("array_user_fns", &array_user_fns),
        ("array_user_fns_refused", &array_user_fns_refused),
        ("submitted_futures", &submitted_futures),
        ("windowed_stream", &windowed_stream),
        ("stream_closure_is_refused", &stream_closure_is_refused),
    ];
    let ok = harness::run(tests);
    if !ok {
        std::process::exit(1);
    }
}
