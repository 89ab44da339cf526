//! Cancelling work whose user code blocks: a future, a compute and a stream stage. Each cancel
//! returns at once, and the next compute finishes within a second, because the pool threads
//! the blocked code holds are replaced.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use partita::collections::{delayed, Bag, Stream};
use partita::prelude::*;
use partita::runtime::Error;
use partita::EventKind;

/// A gate the blocked code waits at until the test ends, so that its threads exit then.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cond: Condvar,
    waiting: AtomicUsize,
}

impl Gate {
    fn wait(&self) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.lock();
        while !*open {
            self.cond.wait(&mut open);
        }
    }

    fn until_waiting(&self, n: usize) {
        let start = Instant::now();
        while self.waiting.load(Ordering::SeqCst) < n {
            assert!(start.elapsed() < Duration::from_secs(30), "nothing blocked");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn open(&self) {
        *self.open.lock() = true;
        self.cond.notify_all();
    }
}

/// A small compute on `rt`, which must finish within a second.
fn next_compute_is_prompt(rt: &Runtime, what: &str) {
    let start = Instant::now();
    let sum: u64 = rt
        .install(|| {
            Bag::from_sequence((1..=100_u64).collect::<Vec<u64>>(), 4)
                .sum()
                .compute()
        })
        .unwrap();
    assert_eq!(sum, 5050);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "after {what}: {:?}",
        start.elapsed()
    );
}

#[test]
fn cancelled_blocked_futures_free_their_threads() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let gate = Arc::new(Gate::default());
    let futures: Vec<_> = (0..2)
        .map(|i| {
            let gate = gate.clone();
            rt.submit(move || {
                gate.wait();
                i
            })
        })
        .collect();
    gate.until_waiting(2);
    for f in &futures {
        assert!(f.cancel());
        assert!(matches!(f.result(), Err(Error::Cancelled { .. })));
    }
    next_compute_is_prompt(&rt, "two cancelled futures");
    gate.open();
}

#[test]
fn a_cancelled_blocked_compute_frees_its_threads() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let gate = Arc::new(Gate::default());
    let blocked = || {
        let (a, b) = (gate.clone(), gate.clone());
        let left = delayed(move || {
            a.wait();
            1_u64
        });
        let right = delayed(move || {
            b.wait();
            2_u64
        });
        left.zip_with(&right, |x: &u64, y: &u64| x + y)
    };
    let handle = rt.install(|| blocked().compute_async());
    gate.until_waiting(2);
    let start = Instant::now();
    assert!(handle.cancel());
    assert!(!handle.cancel(), "a second cancel finds it ended");
    let err = handle.wait().unwrap_err();
    assert!(
        matches!(
            err,
            partita::collections::Error::Runtime(Error::Cancelled { .. })
        ),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_millis(200));
    next_compute_is_prompt(&rt, "a cancelled compute");
    // A dropped handle cancels too.
    let handle = rt.install(|| blocked().compute_async());
    gate.until_waiting(4);
    drop(handle);
    next_compute_is_prompt(&rt, "a dropped compute");
    gate.open();
}

/// A stream on `rt` whose stage blocks at `gate` on its eleventh record.
fn blocked_stream(rt: &Runtime, gate: &Arc<Gate>) -> partita::collections::Pipeline<u64> {
    let g = gate.clone();
    rt.install(|| {
        Stream::generate(None, None, |i| i)
            .map(move |i| {
                if i == 10 {
                    g.wait();
                }
                i
            })
            .count()
            .start()
    })
}

#[test]
fn a_stream_with_a_blocked_stage_aborts_in_bounded_time() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let gate = Arc::new(Gate::default());
    let pipeline = blocked_stream(&rt, &gate);
    gate.until_waiting(1);
    let start = Instant::now();
    // Half a second of grace for the blocked stage, then it is left behind.
    pipeline.abort();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    next_compute_is_prompt(&rt, "an aborted stream");
    // A stop with a deadline drains what it can, then aborts.
    let pipeline = blocked_stream(&rt, &gate);
    gate.until_waiting(2);
    let start = Instant::now();
    let err = pipeline
        .stop_within(Duration::from_millis(100))
        .unwrap_err();
    assert!(err.to_string().contains("did not drain"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    gate.open();
}

#[test]
fn a_task_past_the_timeout_is_reported_and_its_thread_replaced() {
    let rt = Runtime::builder()
        .threads(1)
        .task_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let events = rt.subscribe();
    let gate = Arc::new(Gate::default());
    let g = gate.clone();
    let _stuck = rt.submit(move || g.wait());
    gate.until_waiting(1);
    // The only thread is held, yet the next compute runs once the watchdog replaces it.
    let start = Instant::now();
    let sum: u64 = rt
        .install(|| {
            Bag::from_sequence((1..=10_u64).collect::<Vec<u64>>(), 2)
                .sum()
                .compute()
        })
        .unwrap();
    assert_eq!(sum, 55);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let stuck = events
        .receiver()
        .try_iter()
        .find(|e| matches!(e.kind, EventKind::TaskStuck { .. }));
    match stuck.map(|e| e.kind) {
        Some(EventKind::TaskStuck { running, .. }) => {
            assert!(running >= Duration::from_millis(100), "{running:?}")
        }
        other => panic!("no TaskStuck event: {other:?}"),
    }
    gate.open();
}
