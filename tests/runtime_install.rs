//! `Runtime::install`: every compute inside runs on the installed runtime, installs nest and
//! unwind, and threads do not see each other's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use partita::prelude::*;
use partita::EventKind;

/// The tasks finished since the last call.
fn finished(sub: &partita::Subscription) -> usize {
    sub.receiver()
        .try_iter()
        .filter(|e| matches!(e.kind, EventKind::TaskFinished))
        .count()
}

#[test]
fn compute_inside_install_runs_on_the_installed_runtime() {
    let rt = Runtime::builder().threads(1).build().unwrap();
    let sub = rt.subscribe();
    let x = from_value(20_u64).map(|v| v + 1);
    let got = rt.install(|| x.compute().unwrap());
    assert_eq!(got, 21);
    assert!(finished(&sub) >= 1, "the installed runtime ran nothing");
    // Outside the install, the default runtime computes; `rt` sees nothing more.
    assert_eq!(x.compute().unwrap(), 21);
    assert_eq!(finished(&sub), 0);
}

#[test]
fn every_collection_computes_on_the_installed_runtime() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let sub = rt.subscribe();
    let (bag, array, frame) = rt.install(|| {
        let bag = Bag::range(100, 4).sum().compute().unwrap();
        let array = Array::<f64>::ones(&[10, 10], &[5, 5])
            .unwrap()
            .sum(Axes::All)
            .unwrap()
            .compute_scalar()
            .unwrap();
        let table = arrow::array::RecordBatch::try_from_iter([(
            "x",
            std::sync::Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3]))
                as arrow::array::ArrayRef,
        )])
        .unwrap();
        let frame = DataFrame::from_arrow(table, 2).unwrap().len().unwrap();
        (bag, array, frame)
    });
    assert_eq!((bag, array, frame), (4950, 100.0, 3));
    // A bag sum, an array sum and a frame length: each ran some tasks on `rt`.
    assert!(
        finished(&sub) >= 3 + 4 + 2,
        "the installed runtime ran too little"
    );
}

#[test]
fn installs_nest_and_unwind_on_panic() {
    let outer = Runtime::builder()
        .scheduler(Scheduler::Sync)
        .build()
        .unwrap();
    let inner = Runtime::builder().threads(2).build().unwrap();
    outer.install(|| {
        assert_eq!(Runtime::current().scheduler(), Scheduler::Sync);
        inner.install(|| assert_eq!(Runtime::current().threads(), 2));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            inner.install(|| panic!("inside"));
        }));
        assert!(caught.is_err());
        assert_eq!(Runtime::current().scheduler(), Scheduler::Sync);
    });
    assert_eq!(Runtime::current().scheduler(), Scheduler::Threads);
}

#[test]
fn threads_install_their_own_runtimes() {
    let counts: Vec<AtomicUsize> = (0..8).map(|_| AtomicUsize::new(0)).collect();
    let counts = Arc::new(counts);
    std::thread::scope(|s| {
        for t in 0..8_u64 {
            let counts = counts.clone();
            s.spawn(move || {
                let rt = Runtime::builder()
                    .threads(1 + (t as usize % 2))
                    .build()
                    .unwrap();
                let sub = rt.subscribe();
                for round in 0..20_u64 {
                    let x = combine(
                        &(0..5)
                            .map(|i| from_value(t * 100 + round + i))
                            .collect::<Vec<_>>(),
                        |vs| vs.iter().copied().sum::<u64>(),
                    );
                    let got = rt.install(|| x.compute().unwrap());
                    assert_eq!(got, 5 * (t * 100 + round) + 10);
                    std::thread::sleep(std::time::Duration::from_micros(t * 37 % 200));
                }
                counts[t as usize].store(finished(&sub), Ordering::SeqCst);
            });
        }
    });
    // Each runtime ran its own thread's 20 computes of 6 tasks, and no other thread's.
    for c in counts.iter() {
        assert_eq!(c.load(Ordering::SeqCst), 20 * 6);
    }
}
