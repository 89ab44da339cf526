//! Every Bag operation against the same computation on a plain `Vec`, under random
//! partitionings: the partitioning must never change the answer (for `groupby` and `distinct`,
//! whose partitions are by hash, the answer as a set).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use partita::prelude::*;
use proptest::prelude::*;

fn rt() -> &'static Runtime {
    static RT: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| Runtime::builder().threads(2).build().unwrap())
}

fn items() -> impl Strategy<Value = (Vec<i32>, usize)> {
    (proptest::collection::vec(-50_i32..50, 0..120), 1_usize..9)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn element_wise_chains((xs, n) in items()) {
        let bag = Bag::from_sequence(xs.clone(), n);
        prop_assert_eq!(bag.npartitions(), n);
        prop_assert_eq!(bag.compute().unwrap(), xs.clone());
        let chained = bag
            .map(|x| x * 3)
            .filter(|x| x % 2 == 0)
            .flat_map(|x| vec![x, -x])
            .pluck(|x| (*x as i64) + 1);
        let expected: Vec<i64> = xs
            .iter()
            .map(|x| x * 3)
            .filter(|x| x % 2 == 0)
            .flat_map(|x| vec![x, -x])
            .map(|x| x as i64 + 1)
            .collect();
        prop_assert_eq!(chained.compute().unwrap(), expected);
        let nested = Bag::from_sequence(xs.iter().map(|&x| vec![x; (x.unsigned_abs() % 3) as usize]).collect::<Vec<_>>(), n);
        let flat: Vec<i32> = xs.iter().flat_map(|&x| vec![x; (x.unsigned_abs() % 3) as usize]).collect();
        prop_assert_eq!(nested.flatten().compute().unwrap(), flat);
    }

    #[test]
    fn scalar_reductions((xs, n) in items()) {
        let bag = Bag::from_sequence(xs.clone(), n);
        prop_assert_eq!(bag.count().compute().unwrap(), xs.len() as u64);
        let wide = bag.map(i64::from);
        prop_assert_eq!(wide.sum().compute().unwrap(), xs.iter().map(|&x| x as i64).sum::<i64>());
        prop_assert_eq!(bag.min().compute().unwrap(), xs.iter().copied().min());
        prop_assert_eq!(bag.max().compute().unwrap(), xs.iter().copied().max());
        let mean = (!xs.is_empty()).then(|| xs.iter().map(|&x| x as f64).sum::<f64>() / xs.len() as f64);
        prop_assert_eq!(bag.mean().compute().unwrap(), mean);
        let folded = bag.fold(0_i64, |acc, x| acc + (x as i64) * (x as i64), |a, b| a + b);
        prop_assert_eq!(folded.compute().unwrap(), xs.iter().map(|&x| (x as i64) * (x as i64)).sum::<i64>());
        let longest = bag.reduction(|p| p.len(), |ls| ls.into_iter().max().unwrap_or(0));
        let sizes = partition_sizes(xs.len(), n);
        prop_assert_eq!(longest.compute().unwrap(), sizes.into_iter().max().unwrap_or(0));
    }

    #[test]
    fn grouping_reductions((xs, n) in items(), k in 0_usize..12) {
        let bag = Bag::from_sequence(xs.clone(), n);

        let mut freq: BTreeMap<i32, u64> = BTreeMap::new();
        for &x in &xs { *freq.entry(x).or_insert(0) += 1; }
        let mut got = bag.frequencies().compute().unwrap();
        got.sort();
        prop_assert_eq!(got, freq.into_iter().collect::<Vec<_>>());

        let mut sorted = xs.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        sorted.truncate(k);
        prop_assert_eq!(bag.topk(k, |x| *x).compute().unwrap(), sorted);

        let key = |x: &i32| x.rem_euclid(5);
        let groups = sequential_groups(&xs, key);
        let folded: Vec<(i32, i64)> = groups.iter().map(|(g, v)| (*g, v.iter().map(|&x| x as i64).sum())).collect();
        let got = bag.foldby(key, |acc: i64, x| acc + x as i64, 0, |a, b| a + b).compute().unwrap();
        prop_assert_eq!(got, folded);
    }

    #[test]
    fn partition_operations((xs, n) in items(), m in 1_usize..12, take in 0_usize..130) {
        let bag = Bag::from_sequence(xs.clone(), n);
        let re = bag.repartition(m);
        prop_assert_eq!(re.npartitions(), m);
        prop_assert_eq!(re.compute().unwrap(), xs.clone());
        prop_assert_eq!(re.map(|x| x + 1).repartition(n).compute().unwrap(), xs.iter().map(|x| x + 1).collect::<Vec<_>>());

        let sums = bag.map_partitions(|p| vec![p.iter().map(|&x| x as i64).sum::<i64>()]);
        let mut expected = Vec::new();
        let mut start = 0;
        for size in partition_sizes(xs.len(), n) {
            expected.push(xs[start..start + size].iter().map(|&x| x as i64).sum::<i64>());
            start += size;
        }
        prop_assert_eq!(sums.compute().unwrap(), expected);

        let doubled = bag.map(|x| x * 2);
        let zipped = bag.zip(&doubled).unwrap();
        prop_assert_eq!(zipped.compute().unwrap(), xs.iter().map(|&x| (x, x * 2)).collect::<Vec<_>>());

        prop_assert_eq!(bag.take(take).unwrap(), xs.iter().copied().take(take).collect::<Vec<_>>());

        let parts = bag.to_delayed();
        prop_assert_eq!(parts.len(), n);
        prop_assert_eq!(Bag::from_delayed(&parts).compute().unwrap(), xs.clone());
    }
}

/// The items grouped by `key`, sequentially: keys in order of first appearance, each group's
/// items in order.
fn sequential_groups<T: Clone, K: PartialEq>(xs: &[T], key: impl Fn(&T) -> K) -> Vec<(K, Vec<T>)> {
    let mut groups: Vec<(K, Vec<T>)> = Vec::new();
    for x in xs {
        let k = key(x);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(x.clone()),
            None => groups.push((k, vec![x.clone()])),
        }
    }
    groups
}

/// Each partition of `bag`, computed on its own.
fn partitions_of<T: Clone + Send + Sync + 'static>(bag: &Bag<T>) -> Vec<Vec<T>> {
    bag.to_delayed()
        .iter()
        .map(|d| d.compute().unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// `groupby` against a sequential grouping: the same groups, each whole in one of
    /// `npartitions` partitions, and the element-wise chain applied before the shuffle.
    #[test]
    fn groupby_shuffles_each_group_whole_into_one_partition(
        (xs, n) in items(),
        modulus in 1_i32..12,
    ) {
        let bag = Bag::from_sequence(xs.clone(), n).map(|x| x * 3).filter(|x| x % 2 != 0);
        let seen: Vec<i32> = xs.iter().map(|x| x * 3).filter(|x| x % 2 != 0).collect();
        let key = move |x: &i32| x.rem_euclid(modulus);
        let grouped = bag.groupby(key);
        prop_assert_eq!(grouped.npartitions(), n);

        let mut got = grouped.compute().unwrap();
        got.sort();
        let mut want = sequential_groups(&seen, key);
        want.sort();
        prop_assert_eq!(got, want);

        let parts = partitions_of(&grouped);
        prop_assert_eq!(parts.len(), n);
        let first = |k: i32| seen.iter().position(|x| key(x) == k).unwrap();
        for p in &parts {
            // Keys in order of first appearance within a partition.
            prop_assert!(p.windows(2).all(|w| first(w[0].0) < first(w[1].0)), "{:?}", p);
            for (k, _) in p {
                let holders = parts.iter().filter(|q| q.iter().any(|(j, _)| j == k)).count();
                prop_assert_eq!(holders, 1, "key {} in {} partitions", k, holders);
            }
        }
    }

    /// `distinct` against a sequential first-occurrence scan, likewise.
    #[test]
    fn distinct_shuffles_each_item_into_one_partition((xs, n) in items()) {
        let bag = Bag::from_sequence(xs.clone(), n).map(|x| x / 3);
        let seen: Vec<i32> = xs.iter().map(|x| x / 3).collect();
        let distinct = bag.distinct();
        prop_assert_eq!(distinct.npartitions(), n);

        let mut got = distinct.compute().unwrap();
        got.sort_unstable();
        let mut firsts = HashSet::new();
        let mut want: Vec<i32> = seen.iter().copied().filter(|x| firsts.insert(*x)).collect();
        want.sort_unstable();
        prop_assert_eq!(got, want);

        let parts = partitions_of(&distinct);
        prop_assert_eq!(parts.len(), n);
        let first = |x: i32| seen.iter().position(|y| *y == x).unwrap();
        for p in &parts {
            prop_assert!(p.windows(2).all(|w| first(w[0]) < first(w[1])), "{:?}", p);
            for x in p {
                prop_assert_eq!(parts.iter().filter(|q| q.contains(x)).count(), 1);
            }
        }
    }
}

#[test]
fn distinct_and_groupby_of_strings_and_of_no_partition() {
    let words: Vec<String> = "the cat and the hat and the bat"
        .split(' ')
        .map(str::to_string)
        .collect();
    let bag = Bag::from_sequence(words, 3);
    let mut d = bag.distinct().compute().unwrap();
    d.sort();
    assert_eq!(d, ["and", "bat", "cat", "hat", "the"]);
    let mut g = bag.groupby(|w| w.len()).compute().unwrap();
    g.sort();
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].1.len(), 8);

    let none: Vec<Delayed<Vec<i64>>> = Vec::new();
    let empty = Bag::from_delayed(&none);
    assert!(empty.distinct().compute().unwrap().is_empty());
    assert!(empty.groupby(|x| *x).compute().unwrap().is_empty());
    let hollow = Bag::from_sequence(Vec::<i64>::new(), 4);
    assert_eq!(hollow.groupby(|x| *x).npartitions(), 4);
    assert!(hollow.distinct().compute().unwrap().is_empty());
}

/// The sizes `from_sequence` gives: contiguous, differing by at most one.
fn partition_sizes(len: usize, n: usize) -> Vec<usize> {
    (0..n).map(|i| (i + 1) * len / n - i * len / n).collect()
}

#[test]
fn a_chain_of_element_wise_operations_is_one_task_per_partition() {
    let bag = Bag::from_sequence(0..1000_u32, 8)
        .map(|x| x + 1)
        .filter(|x| x % 3 != 0)
        .flat_map(|x| [x, x + 1])
        .map(|x| x * 2);
    let graph = bag.graph();
    let optimized = rt().optimize(&graph, &bag.keys()).unwrap();
    assert_eq!(optimized.len(), 8, "one fused task per partition");
}

#[test]
fn take_computes_only_the_partitions_it_needs() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let bag = Bag::from_sequence(0..100_u32, 10).map(move |x| {
        s.fetch_add(1, Ordering::SeqCst);
        x
    });
    assert_eq!(bag.take(3).unwrap(), vec![0, 1, 2]);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        10,
        "only the first partition ran"
    );
    assert_eq!(bag.take(15).unwrap(), (0..15).collect::<Vec<_>>());
    assert_eq!(seen.load(Ordering::SeqCst), 30);
}

#[test]
fn persist_keeps_partitions_and_later_operations_reuse_them() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let bag = Bag::range(1000, 4).map(move |x| {
        r.fetch_add(1, Ordering::SeqCst);
        x * 2
    });
    let kept = bag.persist().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1000);
    assert_eq!(kept.sum().compute().unwrap(), 999_000);
    assert_eq!(kept.count().compute().unwrap(), 1000);
    assert_eq!(kept.filter(|x| x % 4 == 0).count().compute().unwrap(), 500);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1000,
        "persisted partitions were recomputed"
    );
}

#[test]
fn zip_rejects_mismatched_bags() {
    let a = Bag::from_sequence(0..10, 2);
    assert!(a.zip(&Bag::from_sequence(0..10, 3)).is_err());
    let short = a.filter(|x| *x != 3);
    let err = a.zip(&short).unwrap().compute().unwrap_err();
    assert!(
        err.to_string()
            .contains("zip: partition 0 has 5 items on the left and 4 on the right"),
        "{err}"
    );
}

#[test]
fn a_panicking_map_fails_the_compute_and_names_the_message() {
    let bag = Bag::from_sequence(0..100_i32, 4).map(|x| {
        if x == 42 {
            panic!("cannot handle {x}");
        }
        x
    });
    let err = bag.sum().compute().unwrap_err();
    assert!(
        err.to_string().contains("panicked: cannot handle 42"),
        "{err}"
    );
    assert_eq!(Bag::range(10, 2).sum().compute().unwrap(), 45);
}

#[test]
fn empty_bags_reduce_to_neutral_values() {
    let empty = Bag::from_sequence(Vec::<i64>::new(), 3);
    assert_eq!(empty.count().compute().unwrap(), 0);
    assert_eq!(empty.sum().compute().unwrap(), 0);
    assert_eq!(empty.max().compute().unwrap(), None);
    assert_eq!(empty.mean().compute().unwrap(), None);
    assert!(empty.frequencies().compute().unwrap().is_empty());
    let none: Vec<Delayed<Vec<i64>>> = Vec::new();
    assert_eq!(Bag::from_delayed(&none).count().compute().unwrap(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn string_frequencies_match_a_plain_count(
        words in proptest::collection::vec("[a-c]{0,3}|[a-z ]{20,40}|é{1,30}", 0..200),
        n in 1_usize..7,
    ) {
        let mut reference: BTreeMap<String, u64> = BTreeMap::new();
        for w in &words {
            *reference.entry(w.clone()).or_insert(0) += 1;
        }
        let mut got = Bag::from_sequence(words, n).frequencies().compute().unwrap();
        got.sort();
        prop_assert_eq!(got, reference.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn borrowed_string_frequencies_match_a_plain_count(
        lines in proptest::collection::vec("[a-c \t]{0,12}|[a-z]{15,40}( [a-z]{1,3})*|é{1,30} \u{a0}x", 0..200),
        n in 1_usize..7,
    ) {
        let mut reference: BTreeMap<String, u64> = BTreeMap::new();
        for w in lines.iter().flat_map(|l| l.split_whitespace()) {
            *reference.entry(w.to_string()).or_insert(0) += 1;
        }
        let mut got = Bag::from_sequence(lines, n)
            .str_frequencies(|line, count| line.split_whitespace().for_each(count))
            .compute()
            .unwrap();
        got.sort();
        prop_assert_eq!(got, reference.into_iter().collect::<Vec<_>>());
    }
}
