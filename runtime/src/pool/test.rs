use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;
use crate::completion::Completion;

#[test]
fn runs_every_job_spawned_from_many_threads() {
    let pool = Pool::start(3, "test", RuntimeRef::detached()).unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Completion::<()>::new());
    const PER_THREAD: usize = 5_000;
    const THREADS: usize = 8;
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let registry = pool.registry().clone();
            let count = count.clone();
            let done = done.clone();
            s.spawn(move || {
                for _ in 0..PER_THREAD {
                    let count = count.clone();
                    let done = done.clone();
                    registry.spawn(Job::Boxed(Box::new(move || {
                        if count.fetch_add(1, Ordering::SeqCst) + 1 == PER_THREAD * THREADS {
                            done.complete(());
                        }
                    })));
                }
            });
        }
    });
    done.wait(None);
    assert_eq!(count.load(Ordering::SeqCst), PER_THREAD * THREADS);
}

#[test]
fn jobs_spawned_by_jobs_run_and_are_stolen() {
    // One job fans out 10,000 children onto its own deque; both workers must end up running some.
    let pool = Pool::start(2, "test", RuntimeRef::detached()).unwrap();
    let registry = pool.registry().clone();
    let ran_on = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let done = Arc::new(Completion::<()>::new());
    let left = Arc::new(AtomicUsize::new(10_000));
    let (r, ran, d, l) = (registry.clone(), ran_on.clone(), done.clone(), left.clone());
    registry.spawn(Job::Boxed(Box::new(move || {
        for _ in 0..10_000 {
            let (ran, d, l) = (ran.clone(), d.clone(), l.clone());
            r.spawn(Job::Boxed(Box::new(move || {
                std::thread::sleep(std::time::Duration::from_micros(20));
                ran[current_worker_index().unwrap()].fetch_add(1, Ordering::SeqCst);
                if l.fetch_sub(1, Ordering::SeqCst) == 1 {
                    d.complete(());
                }
            })));
        }
    })));
    done.wait(None);
    let a = ran_on[0].load(Ordering::SeqCst);
    let b = ran_on[1].load(Ordering::SeqCst);
    assert_eq!(a + b, 10_000);
    assert!(a > 0 && b > 0, "work was not stolen: {a} / {b}");
}

#[test]
fn a_waiting_job_helps_instead_of_deadlocking_a_one_thread_pool() {
    let pool = Pool::start(1, "test", RuntimeRef::detached()).unwrap();
    let registry = pool.registry().clone();
    let outer = Arc::new(Completion::<u32>::new());
    let (r, o) = (registry.clone(), outer.clone());
    registry.spawn(Job::Boxed(Box::new(move || {
        let inner = Arc::new(Completion::<u32>::new());
        let i = inner.clone();
        r.spawn(Job::Boxed(Box::new(move || {
            i.complete(41);
        })));
        // The only worker waits for a job queued behind it: it must run that job itself.
        let v = inner.wait(Some(&r));
        o.complete(v + 1);
    })));
    assert_eq!(outer.wait(None), 42);
}

#[test]
fn a_panicking_job_does_not_kill_its_worker() {
    let pool = Pool::start(1, "test", RuntimeRef::detached()).unwrap();
    let registry = pool.registry().clone();
    registry.spawn(Job::Boxed(Box::new(|| panic!("job blew up"))));
    let done = Arc::new(Completion::<u8>::new());
    let d = done.clone();
    registry.spawn(Job::Boxed(Box::new(move || {
        d.complete(7);
    })));
    assert_eq!(done.wait(None), 7);
}

#[test]
fn dropping_the_pool_runs_queued_work_and_joins() {
    let count = Arc::new(AtomicUsize::new(0));
    {
        let pool = Pool::start(2, "test", RuntimeRef::detached()).unwrap();
        for _ in 0..1000 {
            let c = count.clone();
            pool.registry().spawn(Job::Boxed(Box::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            })));
        }
    }
    assert_eq!(count.load(Ordering::SeqCst), 1000);
}

#[test]
fn a_retired_worker_is_replaced_and_its_deque_handed_on() {
    // The only worker spawns ten jobs onto its own deque, then blocks. Once it is retired, its
    // replacement steals and runs them, and a job from outside runs too.
    let pool = Pool::start(1, "test", RuntimeRef::detached()).unwrap();
    let registry = pool.registry().clone();
    let gate = Arc::new(Completion::<()>::new());
    let ran = Arc::new(AtomicUsize::new(0));
    let all = Arc::new(Completion::<()>::new());
    let (r, g, n, a) = (registry.clone(), gate.clone(), ran.clone(), all.clone());
    registry.spawn(Job::Boxed(Box::new(move || {
        for _ in 0..10 {
            let (n, a) = (n.clone(), a.clone());
            r.spawn(Job::Boxed(Box::new(move || {
                if n.fetch_add(1, Ordering::SeqCst) + 1 == 11 {
                    a.complete(());
                }
            })));
        }
        g.wait(None);
    })));
    while registry.activity().iter().all(|&(_, _, busy)| !busy) {
        std::thread::yield_now();
    }
    assert!(registry.retire(0));
    assert!(!registry.retire(0), "retired once");
    let (n, a) = (ran.clone(), all.clone());
    registry.spawn(Job::Boxed(Box::new(move || {
        if n.fetch_add(1, Ordering::SeqCst) + 1 == 11 {
            a.complete(());
        }
    })));
    all.wait(None);
    assert_eq!(ran.load(Ordering::SeqCst), 11);
    assert_eq!(
        registry.activity().iter().map(|a| a.0).collect::<Vec<_>>(),
        vec![1]
    );
    gate.complete(());
    drop(pool);
}
