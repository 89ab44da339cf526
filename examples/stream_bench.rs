//! Streaming throughput: N generated events `(key, value, ts)` through
//! `key_by(key % 1000)` → tumbling event-time windows of 100,000 → sum per key → a sink that
//! adds up the window sums. The same sums computed in a plain loop are the reference.
//!
//! ```text
//! cargo run --release --example stream_bench -- --events 50000000
//! ```
//!
//! Prints `RESULT name=stream.window.loop ...` and, last,
//! `RESULT name=stream.window.partita seconds=<s> checksum=<sum of all window sums> events_per_s=<r> peak_rss_mb=<m>`.

#[path = "common/rss.rs"]
mod rss;

use std::time::Instant;

use partita::collections::{Stream, Window};

#[derive(Clone, Copy, Debug)]
struct Event {
    key: u64,
    value: f64,
    ts: i64,
}

/// A spread-out key for event `i` (splitmix64), a small integer value, and event time `i`.
fn event(i: u64) -> Event {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Event {
        key: z ^ (z >> 31),
        value: (i % 100) as f64,
        ts: i as i64,
    }
}

const WINDOW: i64 = 100_000;
const KEYS: u64 = 1000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut n: u64 = 50_000_000;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--events" => n = args.next().ok_or("--events N")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }

    // The pipeline first, so that its peak memory is measured alone.
    let t = Instant::now();
    let (checksum, fired) = Stream::generate(Some(n), None, event)
        .with_timestamps(|e: &Event| e.ts, 0)
        .key_by(|e| e.key % KEYS)
        .window(Window::tumbling(WINDOW))
        .sum(|e| e.value)
        .fold((0.0_f64, 0_usize), |acc, w| {
            acc.0 += w.value;
            acc.1 += 1;
        })
        .batch_size(4096)
        .start()
        .wait()?;
    let s = t.elapsed().as_secs_f64();
    let peak = rss::peak_rss_mib();

    // The reference: a plain single-threaded loop over the same events, with the same hasher.
    let t = Instant::now();
    let mut sums: std::collections::HashMap<(i64, u64), f64, foldhash::fast::RandomState> =
        Default::default();
    for i in 0..n {
        let e = event(i);
        *sums
            .entry((e.ts.div_euclid(WINDOW), e.key % KEYS))
            .or_insert(0.0) += e.value;
    }
    let windows = sums.len();
    let loop_checksum: f64 = sums.values().sum();
    let loop_s = t.elapsed().as_secs_f64();
    println!(
        "RESULT name=stream.window.loop seconds={loop_s:.4} checksum={loop_checksum} events_per_s={:.0} windows={windows}",
        n as f64 / loop_s
    );
    if checksum != loop_checksum || fired != windows {
        return Err(format!(
            "the pipeline disagrees with the loop: {checksum} in {fired} windows against {loop_checksum} in {windows}"
        )
        .into());
    }
    println!(
        "RESULT name=stream.window.partita seconds={s:.4} checksum={checksum} events_per_s={:.0} peak_rss_mb={:.1}",
        n as f64 / s,
        peak
    );
    Ok(())
}
