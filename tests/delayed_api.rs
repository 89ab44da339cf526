//! Delayed: combinators, shared sub-graphs, persist, errors, DOT, async.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use partita::collections::{Error as CollectionsError, Result};
use partita::prelude::*;
use partita::runtime::Error;

fn sync_and_threads() -> [Runtime; 2] {
    [
        Runtime::builder()
            .scheduler(Scheduler::Sync)
            .build()
            .unwrap(),
        Runtime::builder().threads(2).build().unwrap(),
    ]
}

fn runtime_error(e: CollectionsError) -> Error {
    e.as_runtime().cloned().expect("a runtime error")
}

#[test]
fn combinators_compute_what_plain_code_computes() -> Result<()> {
    for rt in sync_and_threads() {
        let a = delayed(|| 6_i64);
        let b = from_value(vec![1_i64, 2, 3]);
        let c = a.zip_with(&b, |a, b| a * b.iter().sum::<i64>());
        let d = c.map(|v| v - 1);
        let pair = d.zip(&a);
        assert_eq!(rt.install(|| pair.compute())?, (35, 6));
    }
    Ok(())
}

#[test]
fn the_default_runtime_needs_no_setup() -> Result<()> {
    let x = delayed(|| 2_u8).map(|v| v * 21);
    assert_eq!(x.compute()?, 42);
    Ok(())
}

#[test]
fn shared_inputs_run_once_per_compute() -> Result<()> {
    for rt in sync_and_threads() {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let base = delayed(move || {
            r.fetch_add(1, Ordering::SeqCst);
            3_u64
        });
        let branches: Vec<Delayed<u64>> = (1..=10).map(|k| base.map(move |b| b * k)).collect();
        let total = combine(&branches, |vs| vs.iter().copied().sum::<u64>());
        assert_eq!(rt.install(|| total.compute())?, 3 * 55);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(
            rt.install(|| compute_all(&branches))?,
            (1..=10).map(|k| 3 * k).collect::<Vec<_>>()
        );
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
    Ok(())
}

#[test]
fn persist_computes_once_and_later_computes_read_the_partition_actor() -> Result<()> {
    for rt in sync_and_threads() {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let expensive = delayed(move || {
            r.fetch_add(1, Ordering::SeqCst);
            vec![1_u32, 2, 3]
        });
        let kept = rt.install(|| expensive.persist())?;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let len = kept.map(Vec::len);
        let sum = kept.map(|v| v.iter().sum::<u32>());
        assert_eq!(rt.install(|| len.compute())?, 3);
        assert_eq!(rt.install(|| sum.compute())?, 6);
        assert_eq!(rt.install(|| kept.compute())?, vec![1, 2, 3]);
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "the persisted value was recomputed"
        );
        assert!(kept.to_dot().contains("fillcolor=lightgrey"));
    }
    Ok(())
}

#[test]
fn a_panic_names_its_task_and_dependents_name_the_root_cause() {
    for rt in sync_and_threads() {
        let ok = delayed(|| 1_i32);
        let bad = delayed(|| -> i32 { panic!("cannot parse row 17") }).named("parse");
        let sum = ok.zip_with(&bad, |a, b| a + b).named("sum");
        let err = runtime_error(rt.install(|| sum.compute()).unwrap_err());
        match &err {
            Error::DependencyFailed { key, cause } => {
                assert_eq!(key.name(), "sum");
                match &**cause {
                    Error::TaskPanicked { key, message } => {
                        assert_eq!(key.name(), "parse");
                        assert_eq!(message, "cannot parse row 17");
                    }
                    other => panic!("unexpected cause {other}"),
                }
            }
            other => panic!("unexpected error {other}"),
        }
        // The runtime is still healthy.
        assert_eq!(rt.install(|| ok.map(|v| v + 1).compute()).unwrap(), 2);
    }
}

#[test]
fn a_long_chain_computes_and_drops_without_overflowing_the_stack() -> Result<()> {
    let rt = Runtime::builder().threads(2).fuse(true).build().unwrap();
    let mut x = delayed(|| 0_u64);
    for _ in 0..100_000 {
        x = x.map(|v| v + 1);
    }
    assert_eq!(rt.install(|| x.compute())?, 100_000);
    assert_eq!(
        rt.optimize(&x.graph(), &[x.key().clone()]).unwrap().len(),
        1
    );
    drop(x);
    Ok(())
}

#[test]
fn dot_export_shows_every_task_and_edge() {
    let a = delayed(|| 1).named("load");
    let b = a.map(|v| v + 1).named("clean");
    let c = combine(&[a.clone(), b], |vs| vs.iter().copied().sum::<i32>()).named("total");
    let dot = c.to_dot();
    for name in ["load", "clean", "total"] {
        assert!(dot.contains(&format!("label=\"({name}, ")), "{dot}");
    }
    assert_eq!(dot.matches(" -> ").count(), 3);
}

#[test]
fn compute_async_from_a_tokio_runtime() {
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let value = tokio_rt.block_on(async {
        let xs: Vec<Delayed<u64>> = (0..100).map(|i| delayed(move || i)).collect();
        combine(&xs, |v| v.iter().copied().sum::<u64>())
            .compute_async()
            .await
    });
    assert_eq!(value.unwrap(), 4950);
}
