//! The event stream, the profiler's Chrome trace and the progress bar.

use std::time::Duration;

use partita::prelude::*;
use partita::runtime::{EventKind, Profiler};

#[test]
fn a_compute_emits_start_every_task_and_finish() {
    let rt = Runtime::builder().threads(2).fuse(false).build().unwrap();
    let sub = rt.subscribe();
    let xs: Vec<Delayed<u32>> = (0..10).map(|i| delayed(move || i)).collect();
    let total = combine(&xs, |v| v.iter().copied().sum::<u32>());
    assert_eq!(rt.install(|| total.compute()).unwrap(), 45);
    let events: Vec<_> = sub.receiver().try_iter().collect();
    assert!(matches!(
        events[0].kind,
        EventKind::ComputeStarted { tasks: 11 }
    ));
    let count = |f: fn(&EventKind) -> bool| events.iter().filter(|e| f(&e.kind)).count();
    assert_eq!(count(|k| matches!(k, EventKind::TaskQueued)), 11);
    assert_eq!(count(|k| matches!(k, EventKind::TaskStarted)), 11);
    assert_eq!(count(|k| matches!(k, EventKind::TaskFinished)), 11);
    assert!(matches!(
        events.last().unwrap().kind,
        EventKind::ComputeFinished
    ));
    assert!(events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TaskStarted))
        .all(|e| e.thread.is_some()));
}

#[test]
fn failures_are_events_too() {
    let rt = Runtime::builder().threads(1).build().unwrap();
    let sub = rt.subscribe();
    let bad = delayed(|| -> u8 { panic!("nope") });
    let after = bad.map(|v| v + 1);
    assert!(rt.install(|| after.compute()).is_err());
    let failed: Vec<String> = sub
        .receiver()
        .try_iter()
        .filter_map(|e| match e.kind {
            EventKind::TaskFailed { error } => Some(error.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed[0].ends_with("panicked: nope"));
    assert!(failed[1].contains("did not run because a dependency failed"));
}

#[test]
fn the_profiler_writes_a_chrome_trace_with_one_event_per_task() {
    let rt = Runtime::builder().threads(2).fuse(false).build().unwrap();
    let profiler = Profiler::new(&rt);
    let xs: Vec<Delayed<u64>> = (0..64)
        .map(|i| {
            delayed(move || {
                std::thread::sleep(Duration::from_micros(100));
                i
            })
        })
        .collect();
    rt.install(|| combine(&xs, |v| v.iter().copied().sum::<u64>()).compute())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.json");
    assert_eq!(profiler.write_chrome_trace(&path).unwrap(), 65);
    let text = std::fs::read_to_string(&path).unwrap();
    // Light structural checks without a JSON dependency in the tests.
    assert!(text.starts_with('{') && text.contains("\"traceEvents\""));
    assert_eq!(text.matches("\"ph\":\"X\"").count(), 65);
    assert!(text.contains("\"name\":\"(delayed, "));
}

#[test]
fn the_progress_bar_is_silent_off_a_terminal_and_does_not_disturb_results() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let _bar = ProgressBar::with_min_duration(&rt, Duration::ZERO);
    let xs: Vec<Delayed<u64>> = (0..5000).map(|i| delayed(move || i)).collect();
    let total = combine(&xs, |v| v.iter().copied().sum::<u64>());
    assert_eq!(rt.install(|| total.compute()).unwrap(), 5000 * 4999 / 2);
}
