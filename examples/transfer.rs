//! Moving Arrow data over the cluster's data plane (Arrow Flight) on loopback: 1 GiB as 16
//! frames of 64 MiB, persisted on a local cluster's 2 workers, then
//!
//! - read by one task that needs all 16 (worker to worker: the frames on the other worker
//!   travel, one Flight stream each, all at once), and
//! - collected by the client (worker to client, one stream per frame, all at once).
//!
//! ```text
//! cargo run --release --example transfer -- --rounds 3
//! ```
//!
//! Prints `RESULT name=transfer.worker_to_worker ...` and `RESULT name=transfer.to_client ...`
//! per round, with bytes moved and GB/s.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use partita::prelude::*;
use partita::remote_fn;

const FRAMES: u64 = 16;
const ROWS: i64 = 8 << 20; // 8 Mi rows of one i64 column: 64 MiB

remote_fn! {
    fn make_frame(i: &u64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let base = *i as i64 * ROWS;
        let column = Int64Array::from_iter_values(base..base + ROWS);
        RecordBatch::try_new(schema, vec![Arc::new(column)]).expect("one column")
    }
}
remote_fn! {
    fn rows(frames: &[&RecordBatch]) -> u64 {
        frames.iter().map(|f| f.num_rows() as u64).sum()
    }
}

fn main() {
    partita::worker_main();
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map_or(3, |v| v.parse().expect("--rounds N"));
    let rt = Runtime::builder()
        .local_cluster(2)
        .build()
        .expect("a local cluster");
    let cluster = rt.cluster().expect("a cluster").clone();
    let received = || -> u64 { cluster.workers().iter().map(|w| w.received).sum() };
    let frames: Vec<Delayed<RecordBatch>> = rt.install(|| {
        (0..FRAMES)
            .map(|i| from_value(i).map(make_frame).persist().expect("persisted"))
            .collect()
    });
    let gib = (FRAMES * ROWS as u64 * 8) as f64;
    for _ in 0..rounds {
        // Worker to worker: one task reads every frame; those on the other worker move.
        let before = received();
        let at = Instant::now();
        let n = rt
            .install(|| combine(&frames, rows).compute())
            .expect("the reader runs");
        let seconds = at.elapsed().as_secs_f64();
        assert_eq!(n, FRAMES * ROWS as u64);
        // The workers report what they received with their next message.
        std::thread::sleep(std::time::Duration::from_millis(1_500));
        let moved = received() - before;
        println!(
            "RESULT name=transfer.worker_to_worker seconds={seconds:.3} bytes={moved} gb_per_s={:.2}",
            moved as f64 / seconds / 1e9
        );

        // Worker to client: every frame, all at once.
        let at = Instant::now();
        let all = rt
            .install(|| compute_all(&frames))
            .expect("the frames arrive");
        let seconds = at.elapsed().as_secs_f64();
        let n: usize = all.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(n as u64, FRAMES * ROWS as u64);
        println!(
            "RESULT name=transfer.to_client seconds={seconds:.3} bytes={gib} gb_per_s={:.2}",
            gib / seconds / 1e9
        );
    }
}
