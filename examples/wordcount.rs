//! Word count over a folder of text files: `read_text → split_whitespace → frequencies →
//! topk(20)`, plus the total number of words, as `../shared/bench/w_bag.py` computes it. The
//! frequencies are `str_frequencies`: the words are counted as slices of their lines.
//!
//! ```text
//! cargo run --release --example wordcount -- /tmp/bench-data/text [--blocksize BYTES] [--threads N]
//! ```
//!
//! Prints, last, `RESULT name=bag.wordcount.partita seconds=<s> checksum=<sum of top-20 counts>
//! words=<total> top3=<w:c,w:c,w:c>`.

#[path = "common/rss.rs"]
mod rss;

use std::time::Instant;

/// Lines are short strings; mimalloc makes allocating them cheap.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use partita::collections::split_whitespace;
use partita::io::read_text;
use partita::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut blocksize = None;
    let mut threads = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--blocksize" => blocksize = Some(args.next().ok_or("--blocksize N")?.parse()?),
            "--threads" => threads = Some(args.next().ok_or("--threads N")?.parse()?),
            _ => dir = Some(a),
        }
    }
    let dir =
        dir.ok_or("usage: wordcount <dir with part-*.txt> [--blocksize BYTES] [--threads N]")?;
    let mut builder = Runtime::builder();
    if let Some(t) = threads {
        builder = builder.threads(t);
    }
    let rt = builder.build()?;
    let _progress = ProgressBar::new(&rt);

    let started = Instant::now();
    let lines = read_text(format!("{dir}/part-*.txt").as_str(), blocksize)?;
    // Each word is counted as a slice of its line; only a word new to a partition is copied.
    // `split_whitespace` gives the words `str::split_whitespace` gives, 64 bytes at a time.
    let frequencies = lines.str_frequencies(|line, count| split_whitespace(line).for_each(count));
    let frequencies = rt.install(|| frequencies.persist())?;
    let mut top = rt.install(|| frequencies.topk(20, |(_, n)| *n).compute())?;
    let total = rt.install(|| frequencies.map(|(_, n)| n).sum().compute())?;
    let seconds = started.elapsed().as_secs_f64();

    top.sort_by(|(wa, ca), (wb, cb)| cb.cmp(ca).then_with(|| wa.cmp(wb)));
    let checksum: u64 = top.iter().map(|(_, n)| n).sum();
    let top3: Vec<String> = top
        .iter()
        .take(3)
        .map(|(w, n)| format!("{w}:{n}"))
        .collect();
    eprintln!("top20 {top:?}");
    eprintln!(
        "partitions={} threads={} peak_rss_mb={:.1}",
        lines.npartitions(),
        rt.threads(),
        rss::peak_rss_mib()
    );
    println!(
        "RESULT name=bag.wordcount.partita seconds={seconds:.4} checksum={checksum} words={total} top3={}",
        top3.join(",")
    );
    Ok(())
}
