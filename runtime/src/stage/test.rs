use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::events::EventKind;

/// A group of one source of `n` numbers and one summing sink, on `rt`.
fn numbers(rt: &Runtime, n: Option<u64>) -> (StageGroup, Arc<AtomicU64>) {
    let mut launch = Launch::new(rt, ErrorPolicy::Fail, 2, 10);
    let (tx, rx) = crossbeam_channel::bounded(launch.capacity());
    let control = launch.control().clone();
    launch.spawn("numbers", move || {
        let mut i = 0;
        while n.is_none_or(|n| i < n) && !control.stopping() {
            if !send(&tx, Msg::Batch(vec![i]), &control) {
                return;
            }
            i += 1;
        }
        send(&tx, Msg::End, &control);
    });
    let sum = Arc::new(AtomicU64::new(0));
    let total = sum.clone();
    let mut inlet = Mailbox::new(rx, launch.control().clone(), 1);
    launch.spawn("sum", move || loop {
        match inlet.next() {
            Some(Msg::Batch(b)) => {
                total.fetch_add(b.iter().sum::<u64>(), Ordering::Relaxed);
            }
            Some(Msg::End) | None => return,
            Some(Msg::Watermark(_) | Msg::Idle) => {}
        }
    });
    (launch.start(), sum)
}

#[test]
fn a_group_runs_to_the_end_and_reports_each_stage() {
    let rt = Runtime::builder().threads(1).build().unwrap();
    let events = rt.subscribe();
    let (group, sum) = numbers(&rt, Some(100));
    group.wait().unwrap();
    assert_eq!(sum.load(Ordering::Relaxed), 4950);
    let kinds: Vec<_> = events.receiver().try_iter().collect();
    let finished = kinds
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TaskFinished))
        .count();
    assert_eq!(finished, 2);
    assert!(matches!(
        kinds.last().map(|e| &e.kind),
        Some(EventKind::ComputeFinished)
    ));
}

#[test]
fn a_panicking_stage_fails_the_group_with_its_key() {
    let rt = Runtime::builder().threads(1).build().unwrap();
    let mut launch = Launch::new(&rt, ErrorPolicy::Fail, 2, 10);
    launch.spawn("bad", || panic!("stage broke"));
    launch.spawn("bad", || panic!("stage broke"));
    let err = launch.start().wait().unwrap_err();
    match err {
        Error::TaskPanicked { key, message } => {
            assert_eq!(key.name(), "bad");
            assert_eq!(message, "stage broke");
        }
        other => panic!("expected TaskPanicked, got {other}"),
    }
}

#[test]
fn stop_drains_and_dropping_the_runtime_joins_a_running_group() {
    let rt = Runtime::builder().threads(1).build().unwrap();
    let (group, _) = numbers(&rt, None);
    std::thread::sleep(Duration::from_millis(20));
    group.stop().unwrap();
    assert!(group.is_finished());

    let (group, _) = numbers(&rt, None);
    std::thread::sleep(Duration::from_millis(20));
    drop(rt);
    assert!(group.is_finished());
    assert!(group.control().aborted());
}

#[test]
fn a_stage_holding_the_last_runtime_clone_does_not_deadlock() {
    let rt = Runtime::builder().threads(1).build().unwrap();
    let mut launch = Launch::new(&rt, ErrorPolicy::Fail, 2, 10);
    let held = rt.clone();
    launch.spawn("holder", move || {
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
    });
    let group = launch.start();
    drop(rt);
    group.wait().unwrap();
}

#[test]
fn a_stage_runs_inside_its_runtimes_install() {
    let rt = Runtime::builder()
        .scheduler(crate::Scheduler::Sync)
        .name("owner")
        .build()
        .unwrap();
    let mut launch = Launch::new(&rt, ErrorPolicy::Fail, 2, 10);
    let (tx, rx) = crossbeam_channel::bounded(1);
    launch.spawn("asks", move || {
        let current = Runtime::current();
        let _ = tx.send((current.name().to_string(), current.scheduler()));
    });
    launch.start().wait().unwrap();
    assert_eq!(
        rx.recv().unwrap(),
        ("owner".to_string(), crate::Scheduler::Sync)
    );
}

#[test]
fn a_stage_does_not_keep_its_runtime_alive() {
    let rt = Runtime::builder()
        .threads(1)
        .name("short-lived")
        .build()
        .unwrap();
    let mut launch = Launch::new(&rt, ErrorPolicy::Fail, 2, 10);
    let control = launch.control().clone();
    let (tx, rx) = crossbeam_channel::bounded(1);
    launch.spawn("outlives", move || {
        while !control.aborted() {
            std::thread::sleep(Duration::from_millis(1));
        }
        // The runtime is shutting down: it is no longer current here.
        let _ = tx.send(Runtime::current().name().to_string());
    });
    let group = launch.start();
    drop(rt); // aborts and joins the stage, which holds the runtime only weakly
    assert!(group.is_finished());
    assert_eq!(rx.recv().unwrap(), "partita");
}
