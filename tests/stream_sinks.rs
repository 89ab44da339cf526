//! Rolling file sinks and time-bounded micro-batches.

use std::time::{Duration, Instant};

use partita::collections::Stream;
use partita::io::{to_rolling_textfiles, Roll};

#[test]
fn rolling_files_are_complete_whenever_they_are_visible() {
    let dir = tempfile::tempdir().unwrap();
    let roll = Roll {
        max_records: Some(1000),
        ..Roll::default()
    };
    let stream = Stream::generate(None, None, |i: u64| format!("record {i}"));
    let pipeline = to_rolling_textfiles(stream, dir.path(), roll)
        .unwrap()
        .batch_size(100)
        .start();
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline {
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("part-") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert_eq!(
                    text.lines().count(),
                    1000,
                    "{name} is visible but incomplete"
                );
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let files = pipeline.stop().unwrap();
    assert!(files.len() >= 2);
    // Every record generated is in exactly one file, in order.
    let mut next = 0_u64;
    for f in &files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            assert_eq!(line, format!("record {next}"));
            next += 1;
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_micro_batch_is_emitted_after_its_wait_even_when_not_full() {
    let (tx, rx) = crossbeam_channel::unbounded::<u32>();
    let (out_tx, out_rx) = crossbeam_channel::unbounded();
    let pipeline = Stream::from_channel(rx)
        .batch_within(1000, Duration::from_millis(50))
        .to_channel(out_tx)
        .start();
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    let first = out_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(first, vec![0, 1, 2, 3, 4]);
    tx.send(5).unwrap();
    drop(tx);
    pipeline.wait().unwrap();
    assert_eq!(out_rx.try_iter().collect::<Vec<_>>(), vec![vec![5]]);
}
