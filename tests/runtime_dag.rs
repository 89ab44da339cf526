//! Random DAGs with random fan-in and random panicking tasks: the threads scheduler (fused or
//! not) gives exactly the values and errors that the sync scheduler gives, and both agree with an
//! independent sequential evaluation written here.

use std::sync::{Arc, Once};

use partita::runtime::{downcast, value, Error, Graph, Runtime, Scheduler, Task, TaskKey, Value};
use proptest::prelude::*;

/// Task i reads `deps[i]` (all earlier tasks), computes `i + sum(inputs)` (wrapping), or panics.
#[derive(Clone, Debug)]
struct Dag {
    deps: Vec<Vec<usize>>,
    panics: Vec<bool>,
    requested: Vec<usize>,
}

fn dag(max: usize) -> impl Strategy<Value = Dag> {
    (1..=max).prop_flat_map(|n| {
        let deps = (0..n)
            .map(|i| {
                if i == 0 {
                    Just(Vec::new()).boxed()
                } else {
                    proptest::collection::vec(0..i, 0..=6.min(i)).boxed()
                }
            })
            .collect::<Vec<_>>();
        let panics = proptest::collection::vec(proptest::bool::weighted(0.03), n);
        let requested = proptest::collection::vec(0..n, 1..=8.min(n));
        (deps, panics, requested).prop_map(|(deps, panics, requested)| Dag {
            deps,
            panics,
            requested,
        })
    })
}

fn key(i: usize) -> TaskKey {
    // Several layer names, so keys are not all alike.
    TaskKey::new(["a", "b", "c"][i % 3], i as u64)
}

fn graph(d: &Dag) -> Graph {
    let tasks = (0..d.deps.len())
        .map(|i| {
            let deps: Vec<TaskKey> = d.deps[i].iter().map(|&j| key(j)).collect();
            let dep_keys = deps.clone();
            let panics = d.panics[i];
            Task::new(
                key(i),
                deps,
                Arc::new(move |inputs: Vec<Value>| {
                    if panics {
                        panic!("boom {i}");
                    }
                    let mut sum = i as i64;
                    for (v, k) in inputs.iter().zip(&dep_keys) {
                        sum = sum.wrapping_add(*downcast::<i64>(v, k)?);
                    }
                    Ok(value(sum))
                }),
            )
        })
        .collect();
    let mut g = Graph::new();
    g.add_layer("dag", tasks);
    g
}

/// The reference: a plain loop over the tasks in index order.
fn reference(d: &Dag) -> Vec<Result<i64, String>> {
    // Ok(value) or Err((root message, display of the error this task reports))
    let mut out: Vec<Result<i64, (String, String)>> = Vec::with_capacity(d.deps.len());
    for i in 0..d.deps.len() {
        let first_failed = d.deps[i].iter().find_map(|&j| out[j].as_ref().err());
        let r = if let Some((root, _)) = first_failed {
            let shown = format!(
                "task {} did not run because a dependency failed: {root}",
                key(i)
            );
            Err((root.clone(), shown))
        } else if d.panics[i] {
            let root = format!("task {} panicked: boom {i}", key(i));
            Err((root.clone(), root))
        } else {
            let mut sum = i as i64;
            for &j in &d.deps[i] {
                sum = sum.wrapping_add(*out[j].as_ref().unwrap());
            }
            Ok(sum)
        };
        out.push(r);
    }
    out.into_iter()
        .map(|r| r.map_err(|(_, shown)| shown))
        .collect()
}

/// Every requested key's outcome, computed one key at a time, plus the all-keys outcome.
/// Per-key outcomes and the all-keys outcome.
type Outcomes = (Vec<Result<i64, String>>, Result<Vec<i64>, String>);

fn run(rt: &Runtime, g: &Graph, d: &Dag) -> Outcomes {
    let unpack = |vs: Vec<Value>| {
        vs.iter()
            .map(|v| *v.downcast_ref::<i64>().unwrap())
            .collect()
    };
    let each = d
        .requested
        .iter()
        .map(|&i| {
            rt.compute(g, &[key(i)])
                .map(|vs| *vs[0].downcast_ref::<i64>().unwrap())
                .map_err(|e: Error| e.to_string())
        })
        .collect();
    let keys: Vec<TaskKey> = d.requested.iter().map(|&i| key(i)).collect();
    let all = rt.compute(g, &keys).map(unpack).map_err(|e| e.to_string());
    (each, all)
}

fn quiet_boom_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .unwrap_or("");
            if !msg.starts_with("boom ") {
                default(info);
            }
        }));
    });
}

fn runtimes() -> &'static [Runtime; 4] {
    static RTS: std::sync::OnceLock<[Runtime; 4]> = std::sync::OnceLock::new();
    RTS.get_or_init(|| {
        let b = || Runtime::builder();
        [
            b().scheduler(Scheduler::Sync).fuse(false).build().unwrap(),
            b().threads(2).fuse(false).build().unwrap(),
            b().threads(4).fuse(true).build().unwrap(),
            b().threads(1).fuse(true).build().unwrap(),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn threads_matches_sync_and_the_sequential_reference(d in dag(300)) {
        quiet_boom_panics();
        let g = graph(&d);
        let expected = reference(&d);
        let expected_each: Vec<_> = d.requested.iter().map(|&i| expected[i].clone()).collect();
        let expected_all: Result<Vec<i64>, String> =
            d.requested.iter().map(|&i| expected[i].clone()).collect();
        for rt in runtimes() {
            let (each, all) = run(rt, &g, &d);
            prop_assert_eq!(&each, &expected_each, "{:?}", rt);
            prop_assert_eq!(&all, &expected_all, "{:?}", rt);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn large_dags_up_to_two_thousand_tasks(d in dag(2000)) {
        quiet_boom_panics();
        let g = graph(&d);
        let expected = reference(&d);
        let expected_each: Vec<_> = d.requested.iter().map(|&i| expected[i].clone()).collect();
        for rt in runtimes() {
            let (each, _) = run(rt, &g, &d);
            prop_assert_eq!(&each, &expected_each, "{:?}", rt);
        }
    }
}
