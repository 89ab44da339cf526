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

/// Counts the calls of a closure on threads of the runtime named `name` and on any other
/// thread, so a test can show where user code ran.
#[derive(Clone)]
struct Where {
    prefix: String,
    on: Arc<AtomicUsize>,
    off: Arc<AtomicUsize>,
}

impl Where {
    fn new(name: &str) -> Where {
        Where {
            prefix: format!("{name}-"),
            on: Arc::new(AtomicUsize::new(0)),
            off: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn note(&self) {
        let here = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with(&self.prefix));
        let counter = if here { &self.on } else { &self.off };
        counter.fetch_add(1, Ordering::SeqCst);
    }

    /// Panics unless the closure ran since the last call, and only on the runtime's threads.
    fn check(&self, what: &str) {
        let (on, off) = (
            self.on.swap(0, Ordering::SeqCst),
            self.off.swap(0, Ordering::SeqCst),
        );
        assert!(on > 0, "{what}: nothing ran on the installed runtime");
        assert_eq!(off, 0, "{what}: {off} calls ran on another runtime");
    }
}

/// A two-thread runtime named `name`, whose threads are `{name}-0` and `{name}-1`.
fn named(name: &str) -> Runtime {
    Runtime::builder().threads(2).name(name).build().unwrap()
}

fn table(n: i64) -> arrow::array::RecordBatch {
    arrow::array::RecordBatch::try_from_iter([
        (
            "k",
            Arc::new(arrow::array::Int64Array::from_iter_values(
                (0..n).map(|i| i % 7),
            )) as arrow::array::ArrayRef,
        ),
        (
            "v",
            Arc::new(arrow::array::Float64Array::from_iter_values(
                (0..n).map(|i| i as f64),
            )),
        ),
    ])
    .unwrap()
}

#[test]
fn every_delayed_compute_path_runs_on_the_installed_runtime() {
    let rt = named("inst-delayed");
    let w = Where::new("inst-delayed");
    let leaf = |i: u64| {
        let w = w.clone();
        delayed(move || {
            w.note();
            i
        })
    };
    rt.install(|| leaf(1).compute()).unwrap();
    w.check("compute");
    rt.install(|| compute_all(&[leaf(1), leaf(2)])).unwrap();
    w.check("compute_all");
    let kept = rt.install(|| leaf(3).persist()).unwrap();
    w.check("persist");
    assert_eq!(kept.compute().unwrap(), 3);
    // The runtime is chosen when the compute starts, not when its handle is awaited.
    let handle = rt.install(|| leaf(4).compute_async());
    assert_eq!(handle.wait().unwrap(), 4);
    w.check("compute_async");
}

#[test]
fn every_bag_compute_path_runs_on_the_installed_runtime() {
    let rt = named("inst-bag");
    let w = Where::new("inst-bag");
    let bag = {
        let w = w.clone();
        Bag::range(100, 4).map(move |x| {
            w.note();
            x * 2
        })
    };
    assert_eq!(rt.install(|| bag.compute()).unwrap().len(), 100);
    w.check("compute");
    assert_eq!(rt.install(|| bag.sum().compute()).unwrap(), 9900);
    w.check("sum");
    assert_eq!(rt.install(|| bag.take(3)).unwrap(), vec![0, 2, 4]);
    w.check("take");
    let kept = rt.install(|| bag.persist()).unwrap();
    w.check("persist");
    assert_eq!(kept.count().compute().unwrap(), 100);
    let items = rt.install(|| bag.compute_async());
    let got = futures_block_on(items).unwrap();
    assert_eq!(got.len(), 100);
    w.check("compute_async");
}

#[test]
fn every_array_compute_path_runs_on_the_installed_runtime() {
    let rt = named("inst-array");
    let w = Where::new("inst-array");
    let x = {
        let w = w.clone();
        Array::<f64>::ones(&[10, 10], &[5, 5])
            .unwrap()
            .map(move |v| {
                w.note();
                v
            })
    };
    assert_eq!(rt.install(|| x.compute()).unwrap().sum(), 100.0);
    w.check("compute");
    let total = rt.install(|| x.sum(Axes::All).unwrap().compute_scalar());
    assert_eq!(total.unwrap(), 100.0);
    w.check("compute_scalar");
    let both = rt
        .install(|| partita::compute_arrays([&x, &x.t()]))
        .unwrap();
    assert_eq!(both.len(), 2);
    w.check("compute_arrays");
    let kept = rt.install(|| x.persist()).unwrap();
    w.check("persist");
    assert_eq!(kept.compute().unwrap().sum(), 100.0);
}

#[test]
fn every_frame_compute_path_runs_on_the_installed_runtime() {
    let rt = named("inst-frame");
    let w = Where::new("inst-frame");
    let base = DataFrame::from_arrow(table(40), 4).unwrap();
    let df = {
        let w = w.clone();
        base.map_partitions(base.schema().clone(), move |b| {
            w.note();
            Ok::<_, std::convert::Infallible>(b)
        })
    };
    type Check<'a> = (&'a str, Box<dyn Fn() -> usize + 'a>);
    let checks: Vec<Check> = vec![
        ("compute", Box::new(|| df.compute().unwrap().num_rows())),
        (
            "compute_partitions",
            Box::new(|| df.compute_partitions().unwrap().len()),
        ),
        ("head", Box::new(|| df.head(3).unwrap().num_rows())),
        ("len", Box::new(|| df.len().unwrap())),
        (
            "reset_index",
            Box::new(|| df.reset_index().unwrap().num_rows()),
        ),
        ("describe", Box::new(|| df.describe().unwrap().num_rows())),
        (
            "set_index",
            Box::new(|| df.set_index("k", 2).unwrap().npartitions()),
        ),
        (
            "sort_values",
            Box::new(|| df.sort_values(&["v"], true, 2).unwrap().npartitions()),
        ),
        (
            "groupby",
            Box::new(|| {
                let by = df.groupby(&["k"]).unwrap();
                by.agg([partita::collections::sum("v")])
                    .unwrap()
                    .len()
                    .unwrap()
            }),
        ),
    ];
    for (what, run) in &checks {
        assert!(rt.install(run) > 0, "{what}");
        w.check(what);
    }
    let indexed = df.set_index("k", 2).unwrap(); // sampled on the default runtime
    w.on.store(0, Ordering::SeqCst);
    w.off.store(0, Ordering::SeqCst);
    assert_eq!(rt.install(|| indexed.loc(3_i64)).unwrap().num_rows(), 6);
    w.check("loc");
    let kept = rt.install(|| df.persist()).unwrap();
    w.check("persist");
    assert_eq!(kept.len().unwrap(), 40);
}

#[test]
fn every_writer_runs_on_the_installed_runtime() {
    use partita::io::{
        read_hdf5, store_hdf5, to_csv, to_hdf5, to_hdf5_dyn, to_ipc, to_parquet, to_textfiles,
        Hdf5Write,
    };
    let rt = named("inst-write");
    let w = Where::new("inst-write");
    let dir = tempfile::tempdir().unwrap();
    let base = DataFrame::from_arrow(table(30), 3).unwrap();
    let df = {
        let w = w.clone();
        base.map_partitions(base.schema().clone(), move |b| {
            w.note();
            Ok::<_, std::convert::Infallible>(b)
        })
    };
    assert_eq!(
        rt.install(|| to_csv(&df, dir.path().join("csv")))
            .unwrap()
            .len(),
        3
    );
    w.check("to_csv");
    let parquet = rt.install(|| to_parquet(&df, dir.path().join("parquet")));
    assert_eq!(parquet.unwrap().len(), 3);
    w.check("to_parquet");
    assert_eq!(
        rt.install(|| to_ipc(&df, dir.path().join("ipc")))
            .unwrap()
            .len(),
        3
    );
    w.check("to_ipc");
    let lines = {
        let w = w.clone();
        Bag::range(10, 2).map(move |i| {
            w.note();
            i.to_string()
        })
    };
    let text = rt.install(|| to_textfiles(&lines, dir.path().join("text")));
    assert_eq!(text.unwrap().len(), 2);
    w.check("to_textfiles");
    let x = {
        let w = w.clone();
        Array::<f64>::arange(20, 6).unwrap().map(move |v| {
            w.note();
            v
        })
    };
    let h5 = dir.path().join("x.h5");
    rt.install(|| to_hdf5(&x, &h5, "x", &Hdf5Write::new()))
        .unwrap();
    w.check("to_hdf5");
    let stored = store_hdf5(&x, dir.path().join("s.h5"), "x", &Hdf5Write::new()).unwrap();
    assert_eq!(rt.install(|| stored.compute()).unwrap().len(), 20);
    w.check("store_hdf5");
    // A run-time dtype has no closure to watch: the runtime's events show where it ran.
    let sub = rt.subscribe();
    let dynamic = read_hdf5(&h5, "x", None).unwrap();
    rt.install(|| to_hdf5_dyn(&dynamic, dir.path().join("d.h5"), "x", &Hdf5Write::new()))
        .unwrap();
    assert!(finished(&sub) >= 4, "to_hdf5_dyn ran elsewhere");
}

#[test]
fn a_compute_inside_a_task_runs_on_the_runtime_of_the_task() {
    for rt in [
        named("inst-nested"),
        Runtime::builder()
            .scheduler(Scheduler::Sync)
            .name("inst-nested")
            .build()
            .unwrap(),
    ] {
        let sync = rt.scheduler() == Scheduler::Sync;
        let w = Where::new("inst-nested");
        let inner = {
            let w = w.clone();
            delayed(move || {
                w.note();
                1_u64
            })
        };
        // Started with no install around it: the task's own runtime is current inside it.
        let outer = {
            let inner = inner.clone();
            rt.submit(move || inner.compute().unwrap() + 1)
        };
        assert_eq!(outer.result().unwrap(), 2);
        let nested = {
            let inner = inner.clone();
            from_value(1_u64).map(move |v| v + inner.compute().unwrap())
        };
        assert_eq!(rt.install(|| nested.compute()).unwrap(), 2);
        if sync {
            // The sync scheduler runs tasks on the caller's thread: check by the events.
            let sub = rt.subscribe();
            assert_eq!(
                rt.submit(move || inner.compute().unwrap())
                    .result()
                    .unwrap(),
                1
            );
            assert!(finished(&sub) >= 2, "the nested compute ran elsewhere");
        } else {
            w.check("nested compute");
        }
    }
}

/// Polls `f` to completion on this thread.
fn futures_block_on<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark()
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
