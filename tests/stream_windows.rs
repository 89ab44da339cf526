//! Window results against a batch computation over the same records, with out-of-order
//! arrival within the allowed lateness; late records; count windows; keyed state.

use std::collections::BTreeMap;

use partita::collections::{Stream, Window, WindowResult};
use proptest::prelude::*;

/// (key, value, event time)
type Event = (u8, i64, i64);

/// Events in time order, then displaced by up to `lateness` (a bounded shuffle).
fn events(n: usize, lateness: i64, seed: u64) -> Vec<Event> {
    let mut s = seed | 1;
    let mut rand = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut evs: Vec<(i64, Event)> = (0..n as i64)
        .map(|i| {
            let e = ((rand() % 5) as u8, (rand() % 100) as i64, i);
            // Arrival order: event time plus a random delay below the lateness.
            let delay = if lateness > 0 {
                (rand() % lateness as u64) as i64
            } else {
                0
            };
            (i + delay, e)
        })
        .collect();
    evs.sort_by_key(|(arrival, e)| (*arrival, e.2));
    evs.into_iter().map(|(_, e)| e).collect()
}

/// The reference: sums per (key, window start) over every event.
fn reference(evs: &[Event], size: i64, slide: i64) -> BTreeMap<(u8, i64), i64> {
    let mut out = BTreeMap::new();
    for &(k, v, ts) in evs {
        let mut s = ts.div_euclid(slide) * slide;
        while s > ts - size {
            *out.entry((k, s)).or_insert(0) += v;
            s -= slide;
        }
    }
    out
}

fn as_map(results: Vec<WindowResult<u8, f64>>, size: i64) -> BTreeMap<(u8, i64), i64> {
    let mut out = BTreeMap::new();
    for r in results {
        assert_eq!(r.end - r.start, size);
        assert!(
            out.insert((r.key, r.start), r.value as i64).is_none(),
            "a window fired twice"
        );
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn event_time_windows_match_a_batch_computation(
        n in 0_usize..3000,
        size in 1_i64..200,
        slide_div in 1_i64..4,
        lateness in 0_i64..50,
        parallel in 1_usize..4,
        batch in 1_usize..300,
        seed in any::<u64>(),
    ) {
        let slide = (size / slide_div).max(1);
        let evs = events(n, lateness, seed);
        let expected = reference(&evs, size, slide);
        let window = if slide == size { Window::tumbling(size) } else { Window::sliding(size, slide) };
        let pipeline = Stream::iter(evs)
            .with_timestamps(|e: &Event| e.2, lateness)
            .key_by(|e| e.0)
            .parallel(parallel)
            .window(window)
            .sum(|e| e.1 as f64)
            .collect(1_000_000)
            .batch_size(batch)
            .start();
        let got = pipeline.wait().unwrap();
        prop_assert_eq!(as_map(got, size), expected);
    }
}

#[test]
fn late_records_are_counted_and_sent_to_the_side_output() {
    let mut evs: Vec<Event> = (0..100).map(|i| (1, 1, i)).collect();
    // Far behind the watermark once 99 has been seen (lateness 5): window [0, 10) has fired.
    evs.push((1, 1000, 3));
    let (late_tx, late_rx) = crossbeam_channel::unbounded();
    let pipeline = Stream::iter(evs)
        .with_timestamps(|e: &Event| e.2, 5)
        .key_by(|e| e.0)
        .window(Window::tumbling(10))
        .late_records(late_tx)
        .sum(|e| e.1 as f64)
        .collect(1000)
        .batch_size(7)
        .start();
    let got = pipeline.wait().unwrap();
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|w| w.value == 10.0), "{got:?}");
    assert_eq!(late_rx.try_iter().collect::<Vec<_>>(), vec![(1, 1000, 3)]);
}

#[test]
fn the_late_metric_counts_late_records() {
    let evs: Vec<Event> = vec![(0, 1, 100), (0, 1, 1), (0, 1, 2), (0, 1, 150)];
    let pipeline = Stream::iter(evs)
        .with_timestamps(|e: &Event| e.2, 0)
        .key_by(|e| e.0)
        .window(Window::tumbling(10))
        .count()
        .collect(100)
        .batch_size(1)
        .start();
    // Read the metrics after the end: the window actor counted two late records.
    let metrics_late = {
        let p = pipeline;
        while !p.is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let late: u64 = p.metrics().iter().map(|m| m.late).sum();
        let got = p.wait().unwrap();
        assert_eq!(got.iter().map(|w| w.value).sum::<u64>(), 2);
        late
    };
    assert_eq!(metrics_late, 2);
}

#[test]
fn count_windows_match_a_sequential_computation() {
    let evs: Vec<Event> = (0..1000).map(|i| ((i % 3) as u8, i, i)).collect();
    let tumbling = Stream::iter(evs.clone())
        .key_by(|e: &Event| e.0)
        .window(Window::count(7))
        .sum(|e| e.1 as f64)
        .collect(10_000)
        .start()
        .wait()
        .unwrap();
    let mut expected = Vec::new();
    for k in 0..3_u8 {
        let vals: Vec<i64> = evs.iter().filter(|e| e.0 == k).map(|e| e.1).collect();
        for (j, chunk) in vals.chunks(7).enumerate() {
            expected.push((k, (j * 7) as i64, chunk.iter().sum::<i64>()));
        }
    }
    let mut got: Vec<(u8, i64, i64)> = tumbling
        .iter()
        .map(|w| (w.key, w.start, w.value as i64))
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);

    let sliding = Stream::iter(evs.clone())
        .key_by(|e: &Event| e.0)
        .window(Window::sliding_count(5, 2))
        .sum(|e| e.1 as f64)
        .collect(10_000)
        .start()
        .wait()
        .unwrap();
    let mut expected = Vec::new();
    for k in 0..3_u8 {
        let vals: Vec<i64> = evs.iter().filter(|e| e.0 == k).map(|e| e.1).collect();
        for n in (2..=vals.len()).step_by(2) {
            let from = n.saturating_sub(5);
            expected.push((k, from as i64, vals[from..n].iter().sum::<i64>()));
        }
    }
    let mut got: Vec<(u8, i64, i64)> = sliding
        .iter()
        .map(|w| (w.key, w.start, w.value as i64))
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn keyed_fold_and_reduce_keep_per_key_state() {
    let evs: Vec<Event> = (0..500).map(|i| ((i % 4) as u8, i, i)).collect();
    let updates = Stream::iter(evs.clone())
        .key_by(|e: &Event| e.0)
        .parallel(2)
        .fold(0_i64, |acc, e| *acc += e.1)
        .collect(10_000)
        .batch_size(50)
        .start()
        .wait()
        .unwrap();
    // The last update of each key is its total.
    let mut last = BTreeMap::new();
    for (k, v) in updates {
        last.insert(k, v);
    }
    for k in 0..4_u8 {
        let total: i64 = evs.iter().filter(|e| e.0 == k).map(|e| e.1).sum();
        assert_eq!(last[&k], total);
    }
    let maxes = Stream::iter(evs.clone())
        .key_by(|e: &Event| e.0)
        .reduce(|a, b| if a.1 >= b.1 { *a } else { *b })
        .collect(10_000)
        .start()
        .wait()
        .unwrap();
    let mut last = BTreeMap::new();
    for (k, e) in maxes {
        last.insert(k, e.1);
    }
    assert_eq!(
        last.into_iter().collect::<Vec<_>>(),
        vec![(0, 496), (1, 497), (2, 498), (3, 499)]
    );
}

#[test]
fn mean_min_max_and_fold_per_window() {
    let evs: Vec<Event> = (0..40).map(|i| (0, i, i)).collect();
    let run = |w: partita::collections::WindowedStream<u8, Event>| w;
    let base = || {
        Stream::iter(evs.clone())
            .with_timestamps(|e: &Event| e.2, 0)
            .key_by(|e| e.0)
            .window(Window::tumbling(10))
    };
    let mut means = run(base())
        .mean(|e| e.1 as f64)
        .collect(10)
        .start()
        .wait()
        .unwrap();
    means.sort_by_key(|w| w.start);
    assert_eq!(
        means.iter().map(|w| w.value).collect::<Vec<_>>(),
        vec![4.5, 14.5, 24.5, 34.5]
    );
    let mut mins = base()
        .min(|e| e.1 as f64)
        .collect(10)
        .start()
        .wait()
        .unwrap();
    mins.sort_by_key(|w| w.start);
    assert_eq!(
        mins.iter().map(|w| w.value).collect::<Vec<_>>(),
        vec![0.0, 10.0, 20.0, 30.0]
    );
    let mut maxs = base()
        .max(|e| e.1 as f64)
        .collect(10)
        .start()
        .wait()
        .unwrap();
    maxs.sort_by_key(|w| w.start);
    assert_eq!(
        maxs.iter().map(|w| w.value).collect::<Vec<_>>(),
        vec![9.0, 19.0, 29.0, 39.0]
    );
    let mut lists = base()
        .fold(Vec::new(), |acc: &mut Vec<i64>, e| acc.push(e.1))
        .collect(10)
        .start()
        .wait()
        .unwrap();
    lists.sort_by_key(|w| w.start);
    assert_eq!(lists[1].value, (10..20).collect::<Vec<_>>());
}
