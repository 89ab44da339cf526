//! Many callers at once, random delays, panics under load, persist release, tokio and actix
//! callers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use partita::prelude::*;
use partita::runtime::{downcast, value, Error, Graph, Scheduler, Task, TaskKey, Value};

/// A small xorshift, so delays are random but reproducible.
fn rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A tree-sum graph over `n` leaves whose kernels sleep a random few microseconds.
fn jittery_tree(name: &str, n: u64, seed: u64) -> (Graph, TaskKey) {
    let mut state = seed | 1;
    let leaves: Vec<Task> = (0..n)
        .map(|i| {
            let sleep = rand(&mut state) % 50;
            Task::new(
                TaskKey::new(format!("{name}-leaf"), i),
                vec![],
                Arc::new(move |_| {
                    std::thread::sleep(Duration::from_micros(sleep));
                    Ok(value(i))
                }),
            )
        })
        .collect();
    let mut g = Graph::new();
    let mut layer: Vec<TaskKey> = leaves.iter().map(|t| t.key().clone()).collect();
    g.add_layer(format!("{name}-leaf"), leaves);
    let mut level = 0;
    while layer.len() > 1 {
        let lname = format!("{name}-sum{level}");
        let tasks: Vec<Task> = layer
            .chunks(4)
            .enumerate()
            .map(|(j, deps)| {
                let keys = deps.to_vec();
                Task::new(
                    TaskKey::new(lname.as_str(), j as u64),
                    deps.to_vec(),
                    Arc::new(move |xs: Vec<Value>| {
                        let mut s = 0_u64;
                        for (v, k) in xs.iter().zip(&keys) {
                            s += downcast::<u64>(v, k)?;
                        }
                        Ok(value(s))
                    }),
                )
            })
            .collect();
        layer = tasks.iter().map(|t| t.key().clone()).collect();
        g.add_layer(lname, tasks);
        level += 1;
    }
    (g, layer.pop().unwrap())
}

#[test]
fn eight_threads_compute_concurrently_on_one_runtime() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    std::thread::scope(|s| {
        for t in 0..8_u64 {
            let rt = rt.clone();
            s.spawn(move || {
                for round in 0..5 {
                    let n = 200 + t * 37 + round;
                    let (g, root) = jittery_tree(&format!("t{t}r{round}"), n, t * 100 + round);
                    let out = rt.compute(&g, &[root]).unwrap();
                    assert_eq!(*out[0].downcast_ref::<u64>().unwrap(), n * (n - 1) / 2);
                }
            });
        }
    });
}

#[test]
fn panics_under_concurrent_load_fail_only_their_own_computes() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    std::thread::scope(|s| {
        for t in 0..8_u64 {
            let rt = rt.clone();
            s.spawn(move || {
                let xs: Vec<Delayed<u64>> = (0..100)
                    .map(|i| {
                        delayed(move || {
                            if t % 2 == 1 && i == 57 {
                                panic!("thread {t} task {i}");
                            }
                            i
                        })
                    })
                    .collect();
                let total = combine(&xs, |v| v.iter().copied().sum::<u64>());
                let r = rt.install(|| total.compute());
                if t % 2 == 1 {
                    let e = r.unwrap_err();
                    let root = e.as_runtime().unwrap().root().to_string();
                    assert!(
                        root.ends_with(&format!("panicked: thread {t} task 57")),
                        "{root}"
                    );
                } else {
                    assert_eq!(r.unwrap(), 4950);
                }
            });
        }
    });
}

#[test]
fn a_persisted_partition_is_released_when_its_last_reference_drops() {
    struct Tracker(Arc<AtomicBool>);
    impl Drop for Tracker {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let rt = Runtime::builder().threads(2).build().unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let mut g = Graph::new();
    let key = TaskKey::new("tracked", 0);
    let cell = Arc::new(parking_lot_free_cell(d));
    g.add_layer(
        "tracked",
        vec![Task::new(
            key.clone(),
            vec![],
            Arc::new(move |_| Ok(value(Tracker(cell.take())))),
        )],
    );
    let refs = rt.persist(&g, &[key]).unwrap();
    assert!(refs[0].get().is_ok());
    assert!(!dropped.load(Ordering::SeqCst));
    let copy = refs[0].clone();
    drop(refs);
    assert!(copy.get().is_ok(), "a clone keeps the partition alive");
    drop(copy);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !dropped.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the partition was never released"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A take-once cell for moving a value into a `Fn` kernel.
struct TakeOnce<T>(std::sync::Mutex<Option<T>>);
impl<T> TakeOnce<T> {
    fn take(&self) -> T {
        self.0.lock().unwrap().take().expect("kernel ran once")
    }
}
fn parking_lot_free_cell<T>(v: T) -> TakeOnce<T> {
    TakeOnce(std::sync::Mutex::new(Some(v)))
}

#[test]
fn usable_from_tokio_tasks_and_blocking_sections() {
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    tokio_rt.block_on(async {
        // Built inside an async context: the actix system lives on its own thread.
        let rt = Runtime::builder().threads(2).build().unwrap();
        let mut handles = Vec::new();
        for t in 0..8_u64 {
            let rt = rt.clone();
            handles.push(tokio::spawn(async move {
                let f = rt.submit(move || t * 10);
                let d = rt.install(|| delayed(move || t).map(|v| v + 1).compute_async());
                f.await.unwrap() + d.await.unwrap()
            }));
        }
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap();
        }
        assert_eq!(total, (0..8).map(|t| t * 10 + t + 1).sum::<u64>());
        let r2 = rt.clone();
        let blocking = tokio::task::spawn_blocking(move || {
            r2.install(|| delayed(|| 5_u32).map(|v| v * 2).compute())
                .unwrap()
        });
        assert_eq!(blocking.await.unwrap(), 10);
    });
}

#[test]
fn usable_from_inside_an_actix_system() {
    let system = actix::System::new();
    let out = system.block_on(async {
        let rt = Runtime::builder().threads(2).build().unwrap();
        let persisted = rt.install(|| delayed(|| vec![3_u8; 4]).persist()).unwrap();
        let f = rt.submit(|| 40_u32);
        let n = rt
            .install(|| persisted.map(|v| v.len() as u32).compute_async())
            .await;
        f.await.unwrap() + n.unwrap()
    });
    assert_eq!(out, 44);
}

#[test]
fn an_error_reaches_every_requested_key_and_nothing_hangs() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let root = delayed(|| -> u32 { panic!("root failed") });
    let leaves: Vec<Delayed<u32>> = (0..50).map(|i| root.map(move |v| v + i)).collect();
    let err = rt.install(|| compute_all(&leaves)).unwrap_err();
    assert!(matches!(
        err.as_runtime(),
        Some(Error::DependencyFailed { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_tokio_main_style_runtime() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let xs: Vec<Delayed<u64>> = (0..1000).map(|i| delayed(move || i)).collect();
    let total = combine(&xs, |v| v.iter().copied().sum::<u64>());
    assert_eq!(rt.install(|| total.compute_async()).await.unwrap(), 499_500);
    let fs = rt.map(|x: u64| x + 1, 0..10);
    let mut sum = 0;
    for f in fs {
        sum += f.await.unwrap();
    }
    assert_eq!(sum, 55);
}

#[test]
fn a_value_is_released_once_its_last_dependent_has_consumed_it() {
    struct Tracked(Arc<AtomicBool>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    for scheduler in [Scheduler::Sync, Scheduler::Threads] {
        let rt = Runtime::builder()
            .scheduler(scheduler)
            .fuse(false)
            .build()
            .unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let (r1, r2) = (released.clone(), released.clone());
        let k = |n: &str| TaskKey::new(n, 0);
        let mut g = Graph::new();
        g.add_layer(
            "a",
            vec![Task::new(
                k("a"),
                vec![],
                Arc::new(move |_| Ok(value(Tracked(r1.clone())))),
            )],
        );
        g.add_layer(
            "b",
            vec![Task::new(
                k("b"),
                vec![k("a")],
                Arc::new(|_| Ok(value(1_u8))),
            )],
        );
        // c runs after b has finished, so by then nothing may hold a's value.
        g.add_layer(
            "c",
            vec![Task::new(
                k("c"),
                vec![k("b")],
                Arc::new(move |_| Ok(value(r2.load(Ordering::SeqCst)))),
            )],
        );
        let out = rt.compute(&g, &[k("c")]).unwrap();
        assert!(
            *out[0].downcast_ref::<bool>().unwrap(),
            "{scheduler:?}: a's value outlived its only consumer"
        );
    }
}
