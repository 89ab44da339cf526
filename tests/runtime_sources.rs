//! Sources are withheld: the threads scheduler releases root tasks in the order the graph lists
//! them, a few at a time, so a graph over many sources holds a few of them at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use partita::runtime::{downcast, value, Graph, Runtime, Task, TaskKey, Value};

/// A source's value: counts how many are alive, and the most that ever were.
struct Tracked {
    live: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A grid of `rows` × `width` sources, as a chunked array's blocks: each row has a task that
/// needs the whole row (a row mean), and each source has a task that needs it and its row's
/// task (the centred block). The output needs the centred blocks in column-major order, so the
/// order the plan discovers sources in interleaves the rows. Returns the graph, the output key,
/// and the live and peak counters.
fn rows_graph(
    rows: usize,
    width: usize,
    order: &Arc<Mutex<Vec<usize>>>,
) -> (Graph, TaskKey, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let source = |i: usize| TaskKey::new("source", i as u64);
    let mut g = Graph::new();
    let sources = (0..rows * width)
        .map(|i| {
            let (live, peak, order) = (live.clone(), peak.clone(), order.clone());
            Task::new(
                source(i),
                vec![],
                Arc::new(move |_| {
                    order.lock().push(i);
                    let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_micros(200));
                    Ok(value(Tracked { live: live.clone() }))
                }),
            )
        })
        .collect();
    g.add_layer("source", sources);
    let row_tasks = (0..rows)
        .map(|r| {
            let deps = (0..width).map(|c| source(r * width + c)).collect();
            Task::new(
                TaskKey::new("row", r as u64),
                deps,
                Arc::new(move |inputs: Vec<Value>| Ok(value(inputs.len()))),
            )
        })
        .collect();
    g.add_layer("row", row_tasks);
    let cells = (0..rows * width)
        .map(|i| {
            let deps = vec![source(i), TaskKey::new("row", (i / width) as u64)];
            Task::new(
                TaskKey::new("cell", i as u64),
                deps,
                Arc::new(move |_: Vec<Value>| Ok(value(1_usize))),
            )
        })
        .collect();
    g.add_layer("cell", cells);
    let total = TaskKey::new("total", 0);
    let deps: Vec<TaskKey> = (0..width)
        .flat_map(|c| (0..rows).map(move |r| TaskKey::new("cell", (r * width + c) as u64)))
        .collect();
    let keys = deps.clone();
    g.add_layer(
        "total",
        vec![Task::new(
            total.clone(),
            deps,
            Arc::new(move |inputs: Vec<Value>| {
                let mut n = 0;
                for (v, k) in inputs.iter().zip(&keys) {
                    n += downcast::<usize>(v, k)?;
                }
                Ok(value(n))
            }),
        )],
    );
    (g, total, live, peak)
}

#[test]
fn sources_start_in_graph_order_on_one_worker() {
    let rt = Runtime::builder().threads(1).build().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let (g, total, _, peak) = rows_graph(20, 4, &order);
    let out = rt.compute(&g, &[total]).unwrap();
    assert_eq!(*out[0].downcast_ref::<usize>().unwrap(), 80);
    assert_eq!(*order.lock(), (0..80).collect::<Vec<_>>());
    // One row at a time, plus the one source released ahead.
    assert!(
        peak.load(Ordering::SeqCst) <= 5,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
}

#[test]
fn many_sources_are_held_a_few_rows_at_a_time() {
    for _ in 0..3 {
        let rt = Runtime::builder().threads(2).build().unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let (g, total, live, peak) = rows_graph(100, 4, &order);
        let out = rt.compute(&g, &[total]).unwrap();
        assert_eq!(*out[0].downcast_ref::<usize>().unwrap(), 400);
        assert_eq!(live.load(Ordering::SeqCst), 0, "every source was released");
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= 12, "{peak} of 400 sources alive at once");
    }
}
