//! The shuffle moves every item to exactly one output, whatever the number of workers, the
//! mailbox size, and random delays between the messages a split sends.

use std::sync::Arc;
use std::time::Duration;

use partita::runtime::{
    add_shuffle, downcast, value, Graph, Runtime, ShuffleSpec, Task, TaskKey, Value,
};
use proptest::prelude::*;

type Tagged = Vec<(usize, Vec<u64>)>;

fn spec(outputs: usize, mailbox: usize, delay_seed: u64, fail_on: Option<u64>) -> ShuffleSpec {
    ShuffleSpec {
        name: "shuffle".into(),
        outputs,
        split: Arc::new(
            move |v: Value,
                  key: &TaskKey,
                  send: &mut dyn FnMut(usize, Value) -> partita::runtime::Result<()>| {
                let items = downcast::<Vec<u64>>(&v, key)?;
                let mut pieces = vec![Vec::new(); outputs];
                for &x in items {
                    if Some(x) == fail_on {
                        panic!("item {x} is poison");
                    }
                    pieces[(x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7) as usize % outputs].push(x);
                }
                let mut s = delay_seed ^ key.index();
                for (to, p) in pieces.into_iter().enumerate() {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    if (s >> 60) < 4 {
                        std::thread::sleep(Duration::from_micros((s >> 50) % 300));
                    }
                    send(to, value(p))?;
                }
                Ok(())
            },
        ),
        fold: Arc::new(|_, state, pieces| {
            let mut all: Tagged = state
                .map(|s| s.downcast_ref::<Tagged>().unwrap().clone())
                .unwrap_or_default();
            for (from, p) in pieces {
                all.push((from, p.downcast_ref::<Vec<u64>>().unwrap().clone()));
            }
            Ok(value(all))
        }),
        finish: Arc::new(|_, state| {
            let mut all: Tagged = state
                .map(|s| s.downcast_ref::<Tagged>().unwrap().clone())
                .unwrap_or_default();
            all.sort_by_key(|(from, _)| *from);
            Ok(value(
                all.into_iter().flat_map(|(_, p)| p).collect::<Vec<u64>>(),
            ))
        }),
        mailbox,
        op: None,
    }
}

fn graph(parts: &[Vec<u64>], spec: &ShuffleSpec, name: &str) -> (Graph, Vec<TaskKey>) {
    let mut g = Graph::new();
    let inputs: Vec<TaskKey> = (0..parts.len() as u64)
        .map(|i| TaskKey::new(name, i))
        .collect();
    g.add_layer(
        name,
        inputs
            .iter()
            .zip(parts)
            .map(|(k, p)| {
                let p = p.clone();
                Task::new(k.clone(), vec![], Arc::new(move |_| Ok(value(p.clone()))))
            })
            .collect(),
    );
    let outs = add_shuffle(&mut g, &inputs, spec);
    (g, outs)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_item_reaches_exactly_its_output(
        parts in prop::collection::vec(prop::collection::vec(0..1000_u64, 0..40), 1..12),
        outputs in 1..9_usize,
        mailbox in 1..5_usize,
        threads in 1..5_usize,
        delay_seed: u64,
    ) {
        let mut s = spec(outputs, mailbox, delay_seed, None);
        s.name = format!("shuffle-{delay_seed}").into();
        let (g, outs) = graph(&parts, &s, &format!("in-{delay_seed}"));
        let rt = Runtime::builder().threads(threads).build().unwrap();
        // Twice: each compute opens its own exchange.
        for _ in 0..2 {
            let got = rt.compute(&g, &outs).unwrap();
            for (j, v) in got.iter().enumerate() {
                let want: Vec<u64> = parts
                    .iter()
                    .flatten()
                    .copied()
                    .filter(|x| (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7) as usize % outputs == j)
                    .collect();
                prop_assert_eq!(v.downcast_ref::<Vec<u64>>().unwrap(), &want);
            }
        }
    }
}

#[test]
fn a_panicking_split_fails_the_shuffle_and_the_next_compute_is_clean() {
    let parts: Vec<Vec<u64>> = (0..6).map(|i| (i * 10..i * 10 + 10).collect()).collect();
    let rt = Runtime::builder().threads(2).build().unwrap();
    let bad = spec(3, 2, 1, Some(42));
    let (g, outs) = graph(&parts, &bad, "poisoned");
    let err = rt.compute(&g, &outs).unwrap_err().to_string();
    assert!(err.contains("item 42 is poison"), "{err}");
    let mut good = spec(3, 2, 1, None);
    good.name = "clean".into();
    let (g, outs) = graph(&parts, &good, "clean-in");
    let got = rt.compute(&g, &outs).unwrap();
    let total: usize = got
        .iter()
        .map(|v| v.downcast_ref::<Vec<u64>>().unwrap().len())
        .sum();
    assert_eq!(total, 60);
}

#[test]
fn the_graph_grows_linearly_with_partitions() {
    let parts: Vec<Vec<u64>> = (0..200).map(|i| vec![i]).collect();
    let mut s = spec(150, 4, 0, None);
    s.name = "wide".into();
    let (g, outs) = graph(&parts, &s, "wide-in");
    // inputs + open + splits + barrier + outputs, and edges likewise: O(inputs + outputs).
    assert_eq!(g.len(), 200 + 1 + 200 + 1 + 150);
    let edges: usize = g.tasks().map(|t| t.deps().len()).sum();
    assert_eq!(edges, 200 * 2 + 201 + 150);
    assert_eq!(outs.len(), 150);
}
