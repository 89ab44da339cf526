//! The memory ledger counts what the process really holds: after persisting arrays of known
//! size, the managed bytes are within 25% of the growth of the resident set. Alone in its
//! binary, so that no other test's allocations move the resident set.

use partita::prelude::*;

/// The resident set of this process, from `/proc/self/statm`.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn managed_bytes_are_close_to_the_resident_set() {
    let rt = Runtime::builder()
        .threads(2)
        .memory_limit(8 << 30)
        .build()
        .unwrap();
    // Warm the runtime's threads and allocator up on a small compute first.
    rt.install(|| {
        Array::<f64>::random(&[100, 100], &[50, 50], 1)
            .unwrap()
            .compute()
    })
    .unwrap();
    let before = rss_bytes();
    let x = rt
        .install(|| {
            Array::<f64>::random(&[4_000, 4_000], &[1_000, 1_000], 7)
                .unwrap()
                .persist()
        })
        .unwrap();
    let after = rss_bytes();
    let managed = rt.memory().managed;
    // 16 blocks of a million f64: 128 MiB, counted exactly.
    assert_eq!(managed, 4_000 * 4_000 * 8);
    let grown = after.saturating_sub(before);
    let ratio = managed as f64 / grown as f64;
    assert!(
        (0.75..=1.25).contains(&ratio),
        "managed {managed} bytes, resident set grew by {grown} bytes (ratio {ratio:.3})"
    );
    drop(x);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while rt.memory().managed != 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(rt.memory().managed, 0);
}
