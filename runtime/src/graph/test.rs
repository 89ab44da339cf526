use std::sync::Arc;

use super::*;
use crate::value::{downcast, value, Value};
use crate::{Runtime, Scheduler};

fn add_one(key: TaskKey, dep: TaskKey) -> Task {
    let input = dep.clone();
    Task::new(
        key,
        vec![dep],
        Arc::new(move |xs: Vec<Value>| Ok(value(downcast::<i64>(&xs[0], &input)? + 1))),
    )
}

fn source(key: TaskKey, v: i64) -> Task {
    Task::new(key, vec![], Arc::new(move |_| Ok(value(v))))
}

/// a -> b -> c -> d, plus e reading b.
fn diamond_tail() -> Graph {
    let k = |n: &str| TaskKey::new(n, 0);
    let mut g = Graph::new();
    g.add_layer("a", vec![source(k("a"), 1)]);
    g.add_layer("b", vec![add_one(k("b"), k("a"))]);
    g.add_layer("c", vec![add_one(k("c"), k("b"))]);
    g.add_layer("d", vec![add_one(k("d"), k("c"))]);
    g.add_layer("e", vec![add_one(k("e"), k("b"))]);
    g
}

#[test]
fn cull_keeps_only_what_the_keys_need() {
    let g = diamond_tail();
    let culled = g.cull(&[TaskKey::new("e", 0)]).unwrap();
    let mut keys: Vec<String> = culled.tasks().map(|t| t.key().name().to_string()).collect();
    keys.sort();
    assert_eq!(keys, ["a", "b", "e"]);
}

#[test]
fn cull_reports_missing_keys_and_dependencies() {
    let g = diamond_tail();
    let err = g.cull(&[TaskKey::new("zzz", 0)]).unwrap_err();
    assert!(matches!(err, Error::MissingKey { .. }), "{err}");
    let mut g = Graph::new();
    g.add_layer(
        "b",
        vec![add_one(TaskKey::new("b", 0), TaskKey::new("a", 0))],
    );
    let err = g.cull(&[TaskKey::new("b", 0)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "task (b, 0) depends on (a, 0), which is not in the graph"
    );
}

#[test]
fn duplicate_keys_are_rejected() {
    let mut g = Graph::new();
    g.add_layer(
        "x",
        vec![
            source(TaskKey::new("x", 0), 1),
            source(TaskKey::new("x", 0), 2),
        ],
    );
    assert!(matches!(
        g.cull(&[TaskKey::new("x", 0)]),
        Err(Error::DuplicateKey { .. })
    ));
}

#[test]
fn fuse_merges_linear_chains_only() {
    let g = diamond_tail();
    // a -> b fuses into b and c -> d into d; b feeds two tasks, so neither absorbs it.
    let fused = g
        .fuse(&[TaskKey::new("d", 0), TaskKey::new("e", 0)])
        .unwrap();
    let mut keys: Vec<String> = fused.tasks().map(|t| t.key().name().to_string()).collect();
    keys.sort();
    assert_eq!(keys, ["b", "d", "e"]);
    let b = fused.tasks().find(|t| t.key().name() == "b").unwrap();
    assert!(b.deps().is_empty());
    let d = fused.tasks().find(|t| t.key().name() == "d").unwrap();
    assert_eq!(d.deps(), &[TaskKey::new("b", 0)]);
}

#[test]
fn fused_graph_computes_the_same_values() {
    let k = |i: u64| TaskKey::new("chain", i);
    let mut g = Graph::new();
    let mut tasks = vec![source(k(0), 0)];
    tasks.extend((1..1000).map(|i| add_one(k(i), k(i - 1))));
    g.add_layer("chain", tasks);
    let fused = g.fuse(&[k(999)]).unwrap();
    assert_eq!(fused.len(), 1, "the whole chain is one task");
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let rt = Runtime::builder().scheduler(scheduler).build().unwrap();
        let out = rt.compute(&fused, &[k(999)]).unwrap();
        assert_eq!(*out[0].downcast_ref::<i64>().unwrap(), 999);
    }
}

#[test]
fn a_panic_inside_a_fused_chain_names_the_stage_and_matches_the_unfused_error() {
    let k = |i: u64| TaskKey::new("chain", i);
    let mut g = Graph::new();
    g.add_layer(
        "chain",
        vec![
            source(k(0), 0),
            Task::new(k(1), vec![k(0)], Arc::new(|_| panic!("stage one broke"))),
            add_one(k(2), k(1)),
        ],
    );
    let unfused = Runtime::builder()
        .scheduler(Scheduler::Sync)
        .fuse(false)
        .build()
        .unwrap();
    let fused = Runtime::builder().threads(2).build().unwrap();
    assert_eq!(fused.optimize(&g, &[k(2)]).unwrap().len(), 1);
    let a = unfused.compute(&g, &[k(2)]).unwrap_err().to_string();
    let b = fused.compute(&g, &[k(2)]).unwrap_err().to_string();
    assert_eq!(a, b);
    assert_eq!(
        a,
        "task (chain, 2) did not run because a dependency failed: task (chain, 1) panicked: stage one broke"
    );
}

#[test]
fn kept_keys_stay_visible() {
    let g = diamond_tail();
    let keep = [
        TaskKey::new("c", 0),
        TaskKey::new("d", 0),
        TaskKey::new("e", 0),
    ];
    let fused = g.fuse(&keep).unwrap();
    let mut keys: Vec<String> = fused.tasks().map(|t| t.key().name().to_string()).collect();
    keys.sort();
    assert_eq!(keys, ["b", "c", "d", "e"]);
}

#[test]
fn dot_has_a_node_per_task_and_an_edge_per_dependency() {
    let dot = diamond_tail().to_dot();
    assert_eq!(dot.matches(" [label=").count(), 5);
    assert_eq!(dot.matches(" -> ").count(), 4);
    assert!(dot.contains("label=\"(d, 0)\""));
    assert!(dot.trim_end().ends_with('}'));
}

#[test]
fn a_cycle_is_an_error_not_a_hang() {
    let k = |n: &str| TaskKey::new(n, 0);
    let mut g = Graph::new();
    g.add_layer(
        "loop",
        vec![add_one(k("a"), k("b")), add_one(k("b"), k("a"))],
    );
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let rt = Runtime::builder().scheduler(scheduler).build().unwrap();
        let err = rt.compute(&g, &[k("a")]).unwrap_err();
        assert!(matches!(err, Error::Cycle { .. }), "{err}");
    }
}
