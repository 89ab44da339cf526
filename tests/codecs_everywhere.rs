//! Every collection operation on a runtime that round-trips values
//! (`Builder::round_trip_values`): each task's value goes through its codec, as it would between
//! the workers of a cluster, and the answers must equal the threads runtime's (and a value
//! computed by hand where that is simple). A value without a codec fails its task, so each test
//! proves that the operation's partitions, intermediate ones included, can move between workers.

use std::fmt::Debug;
use std::sync::{Arc, OnceLock};

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use partita::collections::{
    count, first, max, mean, min, size, std as stddev, sum, var, Agg, AggFunc, How, Merge,
    WindowResult,
};
use partita::prelude::*;
use partita::{remote_fn, Index, Stream, Window};

remote_fn! {
    fn inc(x: &u64) -> u64 { x + 1 }
}
remote_fn! {
    fn total(xs: &[&u64]) -> u64 { xs.iter().copied().sum() }
}
remote_fn! {
    fn times(a: &u64, b: &u64) -> u64 { a * b }
}
remote_fn! {
    fn words(line: &String, count: &mut dyn FnMut(&str)) { line.split_whitespace().for_each(count) }
}
remote_fn! {
    fn square(x: u64) -> u64 { x * x }
}
remote_fn! {
    fn is_odd(x: &u64) -> bool { x % 2 == 1 }
}
remote_fn! {
    fn digits(x: u64) -> Vec<u64> { vec![x / 10, x % 10] }
}
remote_fn! {
    fn neg(x: &u64) -> i64 { -(*x as i64) }
}
remote_fn! {
    fn halve(x: u64) -> f64 { x as f64 / 2.0 }
}
remote_fn! {
    fn label(x: u64) -> String { format!("w{}", x % 7) }
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
partita::register_value!(Vec<WindowResult<i64, f64>>);

fn threads() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::builder().threads(2).build().unwrap())
}

fn round_trip() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Runtime::builder()
            .threads(2)
            .round_trip_values(true)
            .build()
            .unwrap()
    })
}

/// `f` on both runtimes: the round-tripped answer, once it equals the threads runtime's.
fn both<T: PartialEq + Debug>(f: impl Fn() -> T) -> T {
    let here = threads().install(&f);
    let checked = round_trip().install(&f);
    assert_eq!(checked, here);
    checked
}

#[test]
fn a_value_without_a_codec_fails_its_task_by_key_and_type() {
    #[derive(Clone)]
    struct Opaque;
    let mut g = Graph::new();
    let key = TaskKey::new("opaque", 0);
    g.add_layer(
        "opaque",
        vec![Task::new(
            key.clone(),
            vec![],
            Arc::new(|_| Ok(partita::runtime::value(Opaque))),
        )],
    );
    assert!(threads().compute(&g, std::slice::from_ref(&key)).is_ok());
    let err = round_trip().compute(&g, &[key]).unwrap_err();
    assert_eq!(err.kind(), "TaskFailed");
    let text = err.to_string();
    assert!(text.contains("(opaque, 0)"), "{text}");
    assert!(text.contains("Opaque"), "{text}");
    assert!(text.contains("register_value!"), "{text}");
}

#[test]
fn delayed_values() {
    let got = both(|| {
        let xs: Vec<Delayed<u64>> = (0..40_u64).map(|i| from_value(i).map(inc)).collect();
        let s = combine(&xs, total);
        s.zip_with(&from_value(3_u64), times).compute().unwrap()
    });
    assert_eq!(got, 3 * (1..=40).sum::<u64>());
}

fn numbers() -> Bag<u64> {
    Bag::from_sequence(0..1_000_u64, 7)
}

#[test]
fn bag_aggregations() {
    let n = 1_000_u64;
    assert_eq!(both(|| numbers().count().compute().unwrap()), n);
    assert_eq!(both(|| numbers().sum().compute().unwrap()), n * (n - 1) / 2);
    assert_eq!(both(|| numbers().min().compute().unwrap()), Some(0));
    assert_eq!(both(|| numbers().max().compute().unwrap()), Some(n - 1));
    assert_eq!(
        both(|| numbers().mean().compute().unwrap()),
        Some((n - 1) as f64 / 2.0)
    );
    let odd_squares = both(|| {
        numbers()
            .filter(is_odd)
            .map(square)
            .sum()
            .compute()
            .unwrap()
    });
    assert_eq!(
        odd_squares,
        (0..n).filter(|x| x % 2 == 1).map(|x| x * x).sum::<u64>()
    );
    let negs = both(|| numbers().pluck(neg).min().compute().unwrap());
    assert_eq!(negs, Some(-(n as i64 - 1)));
    let halves = both(|| numbers().map(halve).sum().compute().unwrap());
    assert_eq!(halves, (n * (n - 1) / 2) as f64 / 2.0);
    let top = both(|| numbers().topk(3, neg).compute().unwrap());
    assert_eq!(top, vec![0, 1, 2]);
    let digit_total = both(|| numbers().flat_map(digits).sum().compute().unwrap());
    assert_eq!(digit_total, (0..n).map(|x| x / 10 + x % 10).sum::<u64>());
}

#[test]
fn bag_frequencies() {
    let mut f = both(|| {
        let mut f = numbers().map(label).frequencies().compute().unwrap();
        f.sort();
        f
    });
    f.sort();
    assert_eq!(f.len(), 7);
    assert_eq!(f.iter().map(|(_, c)| c).sum::<u64>(), 1_000);
    let mut by_digit = both(|| {
        let mut f = numbers().map(square).frequencies().compute().unwrap();
        f.sort();
        f
    });
    by_digit.sort();
    assert_eq!(by_digit.len(), 1_000);
    let lines: Vec<String> = (0..500)
        .map(|i| {
            format!(
                "w{} w{} common a-much-longer-word-than-sixteen-bytes",
                i % 17,
                i % 5
            )
        })
        .collect();
    let counts = both(|| {
        let mut f = Bag::from_sequence(lines.clone(), 5)
            .str_frequencies(words)
            .compute()
            .unwrap();
        f.sort();
        f
    });
    let common = counts.iter().find(|(w, _)| w == "common").unwrap().1;
    assert_eq!(common, 500);
    assert_eq!(counts.iter().map(|(_, c)| c).sum::<u64>(), 2_000);
}

remote_fn! {
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
    fn largest(part: Vec<u64>) -> u64 { part.into_iter().max().unwrap_or(0) }
}
remote_fn! {
    fn top_three(part: Vec<u64>) -> Vec<u64> {
        let mut part = part;
        part.sort_unstable_by(|a, b| b.cmp(a));
        part.truncate(3);
        part
    }
}
remote_fn! {
    fn merge_top_three(parts: Vec<Vec<u64>>) -> Vec<u64> {
        top_three(parts.into_iter().flatten().collect())
    }
}
remote_fn! {
    fn modulo_three(x: u64) -> u64 { x % 3 }
}

/// An accumulator of one's own: only the type itself has a codec (no `Option`, no `Vec` of it).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Tally {
    n: u64,
    total: u64,
}
partita::register_value!(Tally);
partita::register_value!(Vec<(u64, Tally)>);
partita::register_value!(Vec<(char, usize)>);
partita::register_value!(Vec<(u64, Vec<u64>)>);
partita::register_value!(Vec<(char, Vec<String>)>);

remote_fn! {
    fn tally(acc: Tally, x: u64) -> Tally { Tally { n: acc.n + 1, total: acc.total + x } }
}
remote_fn! {
    fn merge_tallies(a: Tally, b: Tally) -> Tally { Tally { n: a.n + b.n, total: a.total + b.total } }
}

fn fruit() -> Vec<String> {
    [
        "apple",
        "avocado",
        "banana",
        "blueberry",
        "cherry",
        "apricot",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn bag_user_aggregations() {
    // fold: shipped (registered functions), and by closures, over one and two levels of merges.
    assert_eq!(
        both(|| numbers().fold(0, add, add).compute().unwrap()),
        499_500
    );
    let many = || Bag::from_sequence(0..1_000_u64, 20);
    assert_eq!(
        both(|| many().fold(0, add, add).compute().unwrap()),
        499_500
    );
    let closures = both(|| {
        numbers()
            .fold(1_u64, |acc, x| acc.max(x + 1), |a, b| a.max(b))
            .compute()
            .unwrap()
    });
    assert_eq!(closures, 1_000);
    let t = both(|| {
        numbers()
            .fold(Tally::default(), tally, merge_tallies)
            .compute()
            .unwrap()
    });
    assert_eq!(
        t,
        Tally {
            n: 1_000,
            total: 499_500
        }
    );
    let none = || Bag::<u64>::from_delayed(&[]);
    assert_eq!(both(|| none().fold(7, add, add).compute().unwrap()), 7);
    let words = fruit();
    let letters = || Bag::from_sequence(fruit(), 4);
    assert_eq!(
        both(|| letters().fold(0, add_length, add_usize).compute().unwrap()),
        words.iter().map(String::len).sum::<usize>()
    );

    // foldby: a built-in key and accumulator, a char key, an accumulator of one's own, no items.
    let by_digit = both(|| {
        Bag::from_sequence(0..100_u64, 4)
            .foldby(last_digit, add, 0, add)
            .compute()
            .unwrap()
    });
    assert_eq!(
        by_digit,
        (0..10).map(|d| (d, 450 + 10 * d)).collect::<Vec<_>>()
    );
    let lengths = both(|| {
        letters()
            .foldby(first_letter, add_length, 0, add_usize)
            .compute()
            .unwrap()
    });
    assert_eq!(lengths, vec![('a', 19), ('b', 15), ('c', 6)]);
    let tallies = both(|| {
        numbers()
            .foldby(last_digit, tally, Tally::default(), merge_tallies)
            .compute()
            .unwrap()
    });
    let want: Vec<(u64, Tally)> = (0..10)
        .map(|d| {
            let total = (0..1_000).filter(|x| x % 10 == d).sum();
            (d, Tally { n: 100, total })
        })
        .collect();
    assert_eq!(tallies, want);
    let by_closure = both(|| {
        numbers()
            .foldby(|x| x % 3, |acc, x| acc + x, 0, |a, b| a + b)
            .compute()
            .unwrap()
    });
    let want: Vec<(u64, u64)> = (0..3)
        .map(|r| (r, (0..1_000).filter(|x| x % 3 == r).sum()))
        .collect();
    assert_eq!(by_closure, want);
    let empty = both(|| {
        numbers()
            .filter(|x| *x > 5_000)
            .foldby(last_digit, add, 0, add)
            .compute()
            .unwrap()
    });
    assert!(empty.is_empty());

    // reduction: partials of a built-in type, of a `Vec` (no `Vec<Vec<u64>>` codec), of none.
    let r = || Bag::from_sequence(0..1_000_u64, 9).map(modulo_three);
    assert_eq!(
        both(|| r().reduction(largest, largest).compute().unwrap()),
        2
    );
    let top = || Bag::from_sequence(vec![5_u64, 17, 3, 99, 42, 8, 61, 0, 23], 4);
    let best = both(|| {
        top()
            .reduction(top_three, merge_top_three)
            .compute()
            .unwrap()
    });
    assert_eq!(best, vec![99, 61, 42]);
    let best = both(|| {
        top()
            .reduction(
                |p| p.into_iter().max().unwrap_or(0),
                |ps| ps.into_iter().max().unwrap_or(0),
            )
            .compute()
            .unwrap()
    });
    assert_eq!(best, 99);
    assert_eq!(
        both(|| none().reduction(largest, largest).compute().unwrap()),
        0
    );
}

#[test]
fn bag_shuffles() {
    let groups = both(|| {
        let mut g = Bag::from_sequence(0..200_u64, 6)
            .filter(is_odd)
            .groupby(last_digit)
            .compute()
            .unwrap();
        g.sort();
        g
    });
    let want: Vec<(u64, Vec<u64>)> = [1, 3, 5, 7, 9]
        .into_iter()
        .map(|d| (d, (0..200).filter(|x| x % 10 == d).collect()))
        .collect();
    assert_eq!(groups, want);
    // (A groupby by a closure has no description: its exchange stays in the process.)
    let by_letter = both(|| {
        let mut g = Bag::from_sequence(fruit(), 3)
            .groupby(first_letter)
            .compute()
            .unwrap();
        g.sort();
        g
    });
    let s = |w: &[&str]| w.iter().map(|w| w.to_string()).collect::<Vec<String>>();
    assert_eq!(
        by_letter,
        vec![
            ('a', s(&["apple", "avocado", "apricot"])),
            ('b', s(&["banana", "blueberry"])),
            ('c', s(&["cherry"])),
        ]
    );

    let digits = both(|| {
        let mut d = Bag::from_sequence(0..1_000_u64, 7)
            .map(modulo_three)
            .distinct()
            .compute()
            .unwrap();
        d.sort();
        d
    });
    assert_eq!(digits, vec![0, 1, 2]);
    let labels = both(|| {
        let mut d = numbers().map(label).distinct().compute().unwrap();
        d.sort();
        d
    });
    assert_eq!(labels, (0..7).map(|i| format!("w{i}")).collect::<Vec<_>>());
    // Keys in order of first appearance within each output, whatever the order pieces arrive.
    let firsts = both(|| {
        Bag::from_sequence(vec![3_u64, 1, 3, 2, 1, 2], 3)
            .distinct()
            .compute()
            .unwrap()
    });
    let mut sorted = firsts.clone();
    sorted.sort();
    assert_eq!(sorted, vec![1, 2, 3]);

    for n in [1, 3, 7, 16] {
        let items = both(|| {
            Bag::from_sequence(0..50_u64, 7)
                .filter(is_odd)
                .repartition(n)
                .compute()
                .unwrap()
        });
        assert_eq!(items, (0..50).filter(|x| x % 2 == 1).collect::<Vec<u64>>());
    }
}

fn frame(n: i64) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Float64, true),
            Field::new("s", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(
                (0..n).map(|i| (i * 7919) % 41),
            )),
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| (i % 13 != 0).then_some(i as f64 / 4.0)),
            )),
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("s{}", i % 9)),
            )),
        ],
    )
    .unwrap()
}

fn df() -> DataFrame {
    DataFrame::from_arrow(frame(3_000), 6).unwrap()
}

#[test]
fn dataframe_groupby_tree_and_shuffle() {
    for shuffle_above in [usize::MAX, 0] {
        let got = both(|| {
            let g = df().groupby(&["k"]).unwrap().shuffle_above(shuffle_above);
            g.agg(vec![
                sum("v"),
                mean("v"),
                count("v"),
                size(),
                min("v"),
                max("v"),
                var("v"),
                stddev("v"),
                first("s"),
            ])
            .unwrap()
            .sort_values(&["k"], true, 2)
            .unwrap()
            .compute()
            .unwrap()
        });
        assert_eq!(got.num_rows(), 41);
    }
    let split = both(|| {
        df().groupby(&["s"])
            .unwrap()
            .split_out(3)
            .agg(vec![sum("k")])
            .unwrap()
            .sort_values(&["s"], true, 1)
            .unwrap()
            .compute()
            .unwrap()
    });
    assert_eq!(split.num_rows(), 9);
    let nunique = both(|| {
        df().nunique(&["s"], "k")
            .unwrap()
            .sort_values(&["s"], true, 1)
            .unwrap()
            .compute()
            .unwrap()
    });
    assert_eq!(nunique.num_rows(), 9);
    let counts = both(|| {
        df().value_counts("s")
            .unwrap()
            .sort_values(&["s"], true, 1)
            .unwrap()
            .compute()
            .unwrap()
    });
    assert_eq!(counts.num_rows(), 9);
}

#[test]
fn dataframe_whole_frame_aggregations() {
    let got = both(|| {
        df().agg([
            Agg::of(col("v"), AggFunc::Sum).alias("s"),
            Agg::of(col("k"), AggFunc::Max).alias("m"),
            Agg::of(col("v"), AggFunc::Mean).alias("mean"),
        ])
        .unwrap()
        .compute()
        .unwrap()
    });
    assert_eq!(got.num_rows(), 1);
    let want: f64 = (0..3_000)
        .filter(|i| i % 13 != 0)
        .map(|i| i as f64 / 4.0)
        .sum();
    let s = got
        .column_by_name("s")
        .unwrap_or_else(|| panic!("{:?}", got.schema()))
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert_eq!(s.value(0), want);
    let described = both(|| df().describe().unwrap());
    assert!(described.num_rows() > 0);
    assert_eq!(both(|| df().len().unwrap()), 3_000);
    let top = both(|| df().nlargest(5, "v").unwrap().compute().unwrap());
    assert_eq!(top.num_rows(), 5);
    let bottom = both(|| df().nsmallest(4, "k").unwrap().compute().unwrap());
    assert_eq!(bottom.num_rows(), 4);
}

#[test]
fn dataframe_joins() {
    let right = || {
        DataFrame::from_arrow(frame(200), 2)
            .unwrap()
            .drop(&["v", "s"])
            .unwrap()
    };
    for broadcast in [true, false] {
        for how in [How::Inner, How::Left] {
            let rows = both(|| {
                let j = df()
                    .merge(&right(), Merge::on(&["k"]).broadcast(broadcast).how(how))
                    .unwrap();
                j.len().unwrap()
            });
            // Each of the 41 keys occurs about 3000/41 times on the left, 200/41 on the right.
            let left_k: Vec<i64> = (0..3_000).map(|i| (i * 7919) % 41).collect();
            let right_k: Vec<i64> = (0..200).map(|i| (i * 7919) % 41).collect();
            let want: usize = left_k
                .iter()
                .map(|k| right_k.iter().filter(|r| *r == k).count().max(1))
                .sum();
            assert_eq!(rows, want, "broadcast {broadcast}, {how:?}");
        }
    }
}

#[test]
fn dataframe_shuffles_and_sorts() {
    let indexed = both(|| df().set_index("k", 3).unwrap().compute().unwrap());
    assert_eq!(indexed.num_rows(), 3_000);
    let sorted = both(|| {
        df().sort_values(&["v", "k"], false, 4)
            .unwrap()
            .compute()
            .unwrap()
    });
    assert_eq!(sorted.num_rows(), 3_000);
    let deduped = both(|| {
        df().drop_duplicates(Some(&["k", "s"]))
            .unwrap()
            .len()
            .unwrap()
    });
    assert_eq!(deduped, 41 * 9);
    let repartitioned = both(|| df().repartition(4).unwrap().compute().unwrap());
    assert_eq!(repartitioned.num_rows(), 3_000);
    let shuffled = both(|| {
        let mut parts = df()
            .shuffle(&["s"], 3)
            .unwrap()
            .compute_partitions()
            .unwrap();
        parts.sort_by_key(|b| b.num_rows());
        parts
    });
    assert_eq!(shuffled.iter().map(|b| b.num_rows()).sum::<usize>(), 3_000);
    let looked_up = both(|| df().set_index("k", 3).unwrap().loc(7_i64).unwrap());
    assert!(looked_up.num_rows() > 0);
}

fn matrix() -> Array<f64> {
    Array::<f64>::random(&[30, 20], &[8, 7], 11).unwrap()
}

#[test]
fn array_reductions() {
    let x = || matrix();
    for axes in [axis(0), axis(1), Axes::list(&[0, 1]), axis(1).keepdims()] {
        let a = axes.clone();
        both(|| x().sum(a.clone()).unwrap().compute().unwrap());
        both(|| x().prod(a.clone()).unwrap().compute().unwrap());
        both(|| x().min(a.clone()).unwrap().compute().unwrap());
        both(|| x().max(a.clone()).unwrap().compute().unwrap());
        both(|| x().mean(a.clone()).unwrap().compute().unwrap());
        both(|| x().var(a.clone(), 1).unwrap().compute().unwrap());
        both(|| x().std(a.clone(), 0).unwrap().compute().unwrap());
        both(|| {
            x().greater(0.5)
                .unwrap()
                .any(a.clone())
                .unwrap()
                .compute()
                .unwrap()
        });
        both(|| {
            x().greater(0.01)
                .unwrap()
                .all(a.clone())
                .unwrap()
                .compute()
                .unwrap()
        });
    }
    for ax in [0, 1] {
        both(|| x().argmin(ax).unwrap().compute().unwrap());
        both(|| x().argmax(ax).unwrap().compute().unwrap());
    }
    let ints = || Array::<i64>::arange(100, 9).unwrap();
    let s = both(|| ints().sum(axis(0)).unwrap().compute_scalar().unwrap());
    assert_eq!(s, (0..100).sum::<i64>());
    let m = both(|| ints().mean(axis(0)).unwrap().compute_scalar().unwrap());
    assert_eq!(m, 49.5);
    let centred = both(|| {
        let x = x();
        (&x - &x.mean(axis(1).keepdims()).unwrap())
            .compute()
            .unwrap()
    });
    for row in centred.rows() {
        assert!(row.sum().abs() < 1e-9);
    }
}

#[test]
fn array_structure() {
    let x = || matrix();
    let p = both(|| x().matmul(&x().t()).unwrap().compute().unwrap());
    assert_eq!(p.shape(), &[30, 30]);
    both(|| x().rechunk(&[5, 20]).unwrap().compute().unwrap());
    both(|| {
        x().slice(&[Index::range(Some(3), Some(25), 2), Index::At(4)])
            .unwrap()
            .compute()
            .unwrap()
    });
    both(|| {
        let x = x();
        x.mask(&x.greater(0.5).unwrap()).unwrap().compute().unwrap()
    });
    both(|| x().reshape(&[20, 30]).unwrap().compute().unwrap());
    both(|| {
        Array::concatenate(&[x(), x()], 0)
            .unwrap()
            .compute()
            .unwrap()
    });
    let u = both(|| {
        Array::<u32>::arange(10, 3)
            .unwrap()
            .astype::<f64>()
            .unwrap()
            .compute()
            .unwrap()
    });
    assert_eq!(u.len(), 10);
}

#[test]
fn a_stream_pipeline_task() {
    let mut got = both(|| {
        let windows = Stream::generate(Some(1_500), None, event)
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
    assert_eq!(got.len(), 9); // 3 windows x 3 keys
}
