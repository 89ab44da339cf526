//! Futures: submit, map, gather, wait, as_completed, cancel, retries, nested waits.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use partita::runtime::{as_completed, gather, wait, Error, Future, Runtime, Scheduler};

fn rt(threads: usize) -> Runtime {
    Runtime::builder().threads(threads).build().unwrap()
}

#[test]
fn submit_and_result() {
    let rt = rt(2);
    let f = rt.submit(|| (1..=100).sum::<u64>());
    assert_eq!(f.result().unwrap(), 5050);
    assert!(f.done());
    // Every clone sees the same result.
    assert_eq!(f.clone().result().unwrap(), 5050);
}

#[test]
fn map_and_gather_keep_the_input_order() {
    let rt = rt(2);
    let fs = rt.map(
        |x: u64| {
            std::thread::sleep(Duration::from_micros((x * 37) % 200));
            x * x
        },
        0..200,
    );
    let expected: Vec<u64> = (0..200).map(|x| x * x).collect();
    assert_eq!(gather(&fs).unwrap(), expected);
}

#[test]
fn wait_returns_when_all_are_done() {
    let rt = rt(2);
    let fs = rt.map(|x: u32| x, 0..50);
    wait(&fs);
    assert!(fs.iter().all(Future::done));
}

#[test]
fn as_completed_yields_every_future_in_finishing_order() {
    let rt = rt(2);
    // The first-submitted task finishes last.
    let gate = Arc::new(AtomicBool::new(false));
    let g = gate.clone();
    let slow = rt.submit(move || {
        while !g.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        "slow"
    });
    let fast = rt.submit(|| "fast");
    let mut order = as_completed(vec![slow, fast]);
    assert_eq!(order.next().unwrap().result().unwrap(), "fast");
    gate.store(true, Ordering::SeqCst);
    assert_eq!(order.next().unwrap().result().unwrap(), "slow");
    assert!(order.next().is_none());
}

#[test]
fn as_completed_sum_matches_the_sequential_sum() {
    let rt = rt(2);
    let fs = rt.map(|x: u64| x * 3 + 1, 0..1000);
    let total: u64 = as_completed(fs).map(|f| f.result().unwrap()).sum();
    assert_eq!(total, (0..1000u64).map(|x| x * 3 + 1).sum::<u64>());
}

#[test]
fn a_panic_fails_its_future_and_the_runtime_stays_usable() {
    let rt = rt(1);
    let bad = rt.submit(|| -> u32 { panic!("bad input 42") });
    match bad.result() {
        Err(Error::TaskPanicked { message, .. }) => assert_eq!(message, "bad input 42"),
        other => panic!("expected a panic error, got {other:?}"),
    }
    assert_eq!(rt.submit(|| 7).result().unwrap(), 7);
}

#[test]
fn try_submit_reports_the_error_text() {
    let rt = rt(1);
    let f = rt.try_submit(|| "12x".parse::<i32>());
    match f.result() {
        Err(Error::TaskFailed { key, source }) => {
            assert_eq!(key.name(), "submit");
            assert_eq!(source.to_string(), "invalid digit found in string");
            assert!(source.downcast_ref::<std::num::ParseIntError>().is_some());
        }
        other => panic!("expected TaskFailed, got {other:?}"),
    }
}

#[test]
fn retries_rerun_a_failing_task_up_to_the_limit() {
    let rt = rt(1);
    let tries = Arc::new(AtomicU32::new(0));
    let t = tries.clone();
    let f = rt
        .try_task(move || {
            let n = t.fetch_add(1, Ordering::SeqCst);
            if n < 5 {
                Err(format!("attempt {n} failed"))
            } else {
                Ok(n)
            }
        })
        .retries(2)
        .submit();
    match f.result() {
        Err(Error::TaskFailed { source, .. }) => {
            assert_eq!(source.to_string(), "attempt 2 failed")
        }
        other => panic!("expected the third attempt's error, got {other:?}"),
    }
    assert_eq!(tries.load(Ordering::SeqCst), 3);
}

/// A one-thread runtime whose only worker is held until the returned gate is opened.
fn blocked_runtime() -> (Runtime, Arc<AtomicBool>, Future<()>) {
    let rt = rt(1);
    let gate = Arc::new(AtomicBool::new(false));
    let g = gate.clone();
    let blocker = rt.submit(move || {
        while !g.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    (rt, gate, blocker)
}

#[test]
fn cancel_before_start_means_the_task_never_runs() {
    let (rt, gate, blocker) = blocked_runtime();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let f = rt.submit(move || r.store(true, Ordering::SeqCst));
    assert!(f.cancel());
    assert!(matches!(f.result(), Err(Error::Cancelled { .. })));
    gate.store(true, Ordering::SeqCst);
    blocker.result().unwrap();
    rt.submit(|| ()).result().unwrap(); // the queue has drained past f
    assert!(!ran.load(Ordering::SeqCst));
    assert!(!f.cancel(), "a finished future cannot be cancelled again");
}

#[test]
fn dropping_every_handle_cancels_unstarted_work() {
    let (rt, gate, blocker) = blocked_runtime();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let f = rt.submit(move || r.store(true, Ordering::SeqCst));
    let g = f.clone();
    drop(f);
    drop(g);
    gate.store(true, Ordering::SeqCst);
    blocker.result().unwrap();
    rt.submit(|| ()).result().unwrap();
    assert!(!ran.load(Ordering::SeqCst));
}

fn fib(rt: &Runtime, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (r1, r2) = (rt.clone(), rt.clone());
    let a = rt.submit(move || fib(&r1, n - 1));
    let b = rt.submit(move || fib(&r2, n - 2));
    a.result().unwrap() + b.result().unwrap()
}

#[test]
fn nested_submit_and_wait_does_not_deadlock_a_one_thread_pool() {
    let rt = rt(1);
    let r = rt.clone();
    let f = rt.submit(move || fib(&r, 14));
    assert_eq!(f.result().unwrap(), 377);
}

#[test]
fn nested_as_completed_inside_a_task_on_a_one_thread_pool() {
    let rt = rt(1);
    let r = rt.clone();
    let f = rt.submit(move || {
        let inner = r.map(|x: u64| x + 1, 0..100);
        as_completed(inner)
            .map(|f| f.result().unwrap())
            .sum::<u64>()
    });
    assert_eq!(f.result().unwrap(), 5050);
}

#[test]
fn the_sync_scheduler_runs_futures_inline() {
    let rt = Runtime::builder()
        .scheduler(Scheduler::Sync)
        .build()
        .unwrap();
    let caller = std::thread::current().id();
    let f = rt.submit(move || std::thread::current().id() == caller);
    assert!(f.done());
    assert!(f.result().unwrap());
}

#[test]
fn as_completed_is_a_stream() {
    let rt = rt(2);
    let fs = rt.map(|x: u32| x * 2, 0..20);
    let mut stream = as_completed(fs);
    let sum = futures_executor_lite(async move {
        let mut total = 0;
        while let Some(f) =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut stream), cx))
                .await
        {
            total += f.await.unwrap();
        }
        total
    });
    assert_eq!(sum, (0..20).map(|x| x * 2).sum::<u32>());
}

/// A minimal block_on on a current-thread tokio runtime.
fn futures_executor_lite<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}
