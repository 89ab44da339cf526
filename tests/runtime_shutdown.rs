//! Dropping a runtime joins every thread it started. This file holds a single test so that no
//! other test's threads come and go while it counts.

use partita::prelude::*;

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                .map(|s| s.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn dropping_runtimes_leaks_no_threads() {
    let before = thread_count();
    for round in 0..5 {
        let rt = Runtime::builder().threads(3).build().unwrap();
        let xs: Vec<Delayed<u64>> = (0..1000).map(|i| delayed(move || i)).collect();
        let total = combine(&xs, |v| v.iter().copied().sum::<u64>());
        let kept = rt.install(|| total.persist()).unwrap();
        assert_eq!(
            rt.install(|| kept.map(move |v| v + round).compute())
                .unwrap(),
            499_500 + round
        );
        let fs = rt.map(|x: u64| x + 1, 0..100);
        assert_eq!(partita::gather(&fs).unwrap().len(), 100);
        let bar = ProgressBar::new(&rt);
        assert!(thread_count() > before);
        drop(bar);
        drop(fs);
        drop(kept);
        drop(rt);
        // A joined thread has finished, but the kernel may list it for a few more microseconds
        // while it reaps it; give it a moment before counting.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while thread_count() != before && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(
            thread_count(),
            before,
            "round {round} left threads behind: {:?}",
            thread_names()
        );
    }
}
