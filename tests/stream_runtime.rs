//! Pipelines run on a runtime: their stages report to its events, a stage's panic is captured
//! as a task's is, and the runtime owns, stops and joins the stage threads.

use std::time::{Duration, Instant};

use partita::collections::{Error, Stream};
use partita::prelude::*;
use partita::runtime::EventKind;

/// The threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                .filter(|name| name.trim().starts_with(prefix))
                .count()
        })
        .unwrap_or(0)
}

/// Waits up to two seconds for the kernel to reap joined threads, then counts them.
fn threads_left(prefix: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(2);
    while threads_named(prefix) != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    threads_named(prefix)
}

/// Starts a topology on `rt`, as a program does with `install`.
trait StartIn<R> {
    fn start_in(self, rt: &Runtime) -> partita::collections::Pipeline<R>;
}

impl<R: Send + 'static> StartIn<R> for partita::collections::Topology<R> {
    fn start_in(self, rt: &Runtime) -> partita::collections::Pipeline<R> {
        rt.install(|| self.start())
    }
}

fn runtime(name: &str) -> Runtime {
    Runtime::builder().threads(2).name(name).build().unwrap()
}

#[test]
fn a_stage_panic_is_the_pipelines_error_and_the_runtime_goes_on() {
    let rt = runtime("spanic");
    let err = Stream::iter(0..10_000_u64)
        .for_each(|x| {
            if x == 5000 {
                panic!("sink broke at {x}");
            }
        })
        .start_in(&rt)
        .wait()
        .unwrap_err();
    match err {
        Error::Runtime(partita::runtime::Error::TaskPanicked { key, message }) => {
            assert_eq!(key.name(), "for_each");
            assert_eq!(message, "sink broke at 5000");
        }
        other => panic!("expected a panicked stage, got {other}"),
    }

    let err = Stream::iter(0..100_u64)
        .map(|x| if x == 50 { panic!("map broke") } else { x })
        .count()
        .start_in(&rt)
        .wait()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Runtime(partita::runtime::Error::TaskPanicked { key, message })
            if key.name() == "map" && message == "map broke"),
        "{err}"
    );

    let xs: Vec<Delayed<u64>> = (0..100).map(|i| delayed(move || i)).collect();
    let total = combine(&xs, |v| v.iter().copied().sum::<u64>());
    assert_eq!(rt.install(|| total.compute()).unwrap(), 4950);
}

#[test]
fn a_pipeline_started_inside_install_reports_to_that_runtime() {
    let rt = runtime("sevents");
    let events = rt.subscribe();
    let n = rt
        .install(|| {
            Stream::iter(0..1000_u64)
                .filter(|x| x % 2 == 0)
                .count()
                .start()
                .wait()
        })
        .unwrap();
    assert_eq!(n, 500);
    let events: Vec<_> = events.receiver().try_iter().collect();
    assert!(
        matches!(
            events.first().map(|e| &e.kind),
            Some(EventKind::ComputeStarted { tasks: 2 })
        ),
        "{events:?}"
    );
    assert!(matches!(
        events.last().map(|e| &e.kind),
        Some(EventKind::ComputeFinished)
    ));
    let mut finished: Vec<String> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TaskFinished))
        .filter_map(|e| e.key.as_ref().map(|k| k.name().to_string()))
        .collect();
    finished.sort();
    assert_eq!(finished, ["count", "source"]);
    // Stage threads are not pool workers.
    assert!(events.iter().all(|e| e.thread.is_none()));
}

#[test]
fn a_failing_stage_reports_task_failed() {
    let rt = runtime("sfailed");
    let events = rt.subscribe();
    let err = Stream::iter(0..10_u64)
        .for_each(|_| panic!("no"))
        .start_in(&rt)
        .wait();
    assert!(err.is_err());
    let failed: Vec<_> = events
        .receiver()
        .try_iter()
        .filter_map(|e| match e.kind {
            EventKind::TaskFailed { error } => Some((e.key, error.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0.as_ref().map(|k| k.name()), Some("for_each"));
    assert!(failed[0].1.contains("panicked: no"), "{}", failed[0].1);
}

#[test]
fn stopping_or_dropping_a_pipeline_joins_its_threads() {
    let rt = runtime("sjoin");
    let pipeline = Stream::generate(None, None, |i| i).count().start_in(&rt);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(threads_named("sjoin-stage"), 2);
    assert!(pipeline.stop().unwrap() > 0);
    assert_eq!(threads_left("sjoin-stage"), 0);

    let pipeline = Stream::generate(None, None, |i| i)
        .key_by(|i| i % 4)
        .parallel(2)
        .fold(0_u64, |a, _| *a += 1)
        .count()
        .start_in(&rt);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(threads_named("sjoin-stage"), 5); // source, router, two actors, sink
    drop(pipeline);
    assert_eq!(threads_left("sjoin-stage"), 0);
}

#[test]
fn shutting_the_runtime_down_stops_a_running_pipeline() {
    let rt = runtime("sdown");
    let pipeline = Stream::generate(None, Some(10_000.0), |i| i)
        .map(|i| i * 2)
        .count()
        .start_in(&rt);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(threads_named("sdown-stage"), 2);
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        drop(rt);
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the runtime's shutdown hung on a running pipeline");
    assert_eq!(threads_left("sdown"), 0);
    assert!(pipeline.is_finished());
    let err = pipeline.wait().unwrap_err();
    assert!(
        matches!(err, Error::Runtime(partita::runtime::Error::Shutdown)),
        "{err}"
    );
}
