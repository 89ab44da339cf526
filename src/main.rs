//! The `partita` command: runtime information and a self-check.

use partita::prelude::*;

const USAGE: &str = "usage: partita <info | check>
  info    print the runtime's configuration
  check   run a small task graph and report what it computed";

fn main() -> std::process::ExitCode {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        Some("info") => {
            let rt = Runtime::global();
            println!("partita {}", env!("CARGO_PKG_VERSION"));
            println!(
                "scheduler={:?} threads={} fuse={}",
                rt.scheduler(),
                rt.threads(),
                rt.fuses()
            );
            std::process::ExitCode::SUCCESS
        }
        Some("check") => match check() {
            Ok(total) => {
                println!("ok: sum of inc(i) for i < 1000 = {total}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("partita check failed: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("{USAGE}");
            std::process::ExitCode::from(2)
        }
    }
}

fn check() -> partita::Result<u64> {
    let xs: Vec<Delayed<u64>> = (0..1000u64).map(|i| delayed(move || i + 1)).collect();
    let total = combine(&xs, |v| v.iter().copied().sum::<u64>());
    let got = total.compute()?;
    assert_eq!(got, 500_500, "the runtime computed a wrong sum");
    Ok(got)
}
