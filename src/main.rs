//! The `partita` command: runtime information, a self-check, and the cluster's processes.

use std::net::SocketAddr;

use partita::prelude::*;
use partita::Secret;

const USAGE: &str = "usage: partita <info | check | scheduler | worker | cluster>
  info                              print the runtime's configuration
  check                             run a small task graph and report what it computed
  scheduler [--listen ADDR] [--address-file F [--advertise ADDR]]
            [--allowed-failures N] [--worker-timeout SECONDS]
                                    run a scheduler (default 127.0.0.1:8786); write the
                                    address workers use into F; fail a task after N of its
                                    workers died (3); count a worker silent for SECONDS (5)
                                    as lost
  worker --scheduler ADDR [--listen ADDR] [--advertise ADDR] [--threads N] [--name NAME]
         [--memory-limit 4GiB]
                                    run a worker of built-in operations
  cluster local N [--listen ADDR]   run a scheduler and N workers on this host until stopped
The secret comes from PARTITA_SECRET or the file named by PARTITA_SECRET_FILE.";

fn main() -> std::process::ExitCode {
    partita::worker_main();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = args.first().cloned();
    match arg.as_deref() {
        Some("scheduler") => exit(scheduler(&args[1..])),
        Some("worker") => exit(worker(&args[1..])),
        Some("cluster") => exit(cluster(&args[1..])),
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

fn exit(result: Result<(), String>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("partita: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The value of `--name VALUE` in `args`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn addr(args: &[String], default: &str) -> Result<SocketAddr, String> {
    let a = flag(args, "--listen").unwrap_or(default);
    a.parse()
        .map_err(|_| format!("--listen {a}: not an address (host:port)"))
}

fn scheduler(args: &[String]) -> Result<(), String> {
    let listen = addr(args, "127.0.0.1:8786")?;
    let secret = Secret::from_env().map_err(|e| e.to_string())?;
    if let Some(path) = flag(args, "--address-file") {
        // Where workers and clients find the scheduler (a shared file under Slurm, say).
        let address = flag(args, "--advertise").map_or_else(|| listen.to_string(), str::to_string);
        partita::write_atomic(path, |f| {
            use std::io::Write;
            f.write_all(address.as_bytes())
        })
        .map_err(|e| e.to_string())?;
    }
    let mut options = partita::SchedulerOptions::from_env().map_err(|e| e.to_string())?;
    if let Some(n) = flag(args, "--allowed-failures") {
        options.allowed_failures = n
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or(format!("--allowed-failures {n}: not a positive count"))?;
    }
    if let Some(t) = flag(args, "--worker-timeout") {
        let seconds: f64 = t
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s > 0.0)
            .ok_or(format!("--worker-timeout {t}: not a number of seconds"))?;
        options.worker_timeout = std::time::Duration::from_secs_f64(seconds);
    }
    partita::run_scheduler(listen, secret, options).map_err(|e| e.to_string())
}

fn worker(args: &[String]) -> Result<(), String> {
    let scheduler = flag(args, "--scheduler").ok_or("worker needs --scheduler ADDR")?;
    let secret = Secret::from_env().map_err(|e| e.to_string())?;
    let mut options = partita::WorkerOptions::new(scheduler, secret);
    if flag(args, "--listen").is_some() {
        options.listen = addr(args, "")?;
    }
    if let Some(a) = flag(args, "--advertise") {
        options.advertise = Some(a.to_string());
    }
    if let Some(t) = flag(args, "--threads") {
        options.threads = t
            .parse()
            .map_err(|_| format!("--threads {t}: not a number"))?;
    }
    if let Some(n) = flag(args, "--name") {
        options.name = n.to_string();
    }
    if let Some(m) = flag(args, "--memory-limit") {
        options.memory_limit =
            partita::parse_bytes(m).ok_or(format!("--memory-limit {m}: not a size (4GiB)"))?;
    }
    partita::run_worker(options).map_err(|e| e.to_string())
}

/// `cluster local N`: a scheduler in this process and N workers of this executable, until the
/// process is stopped.
fn cluster(args: &[String]) -> Result<(), String> {
    let n: usize = match (args.first().map(String::as_str), args.get(1)) {
        (Some("local"), Some(n)) => n
            .parse()
            .map_err(|_| format!("cluster local {n}: not a number"))?,
        _ => return Err("usage: partita cluster local N [--listen ADDR]".into()),
    };
    let listen = addr(args, "127.0.0.1:8786")?;
    let secret = match Secret::from_env() {
        Ok(s) => s,
        Err(_) => {
            // A fresh secret, in a file only this user can read.
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let s = Secret::random().map_err(|e| e.to_string())?;
            let path = std::env::temp_dir().join(format!("partita-{}.secret", std::process::id()));
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut f| f.write_all(s.expose().as_bytes()))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!(
                "partita cluster: clients connect with PARTITA_SECRET_FILE={}",
                path.display()
            );
            s
        }
    };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let scheduler = std::thread::spawn({
        let secret = secret.clone();
        move || {
            let options = partita::SchedulerOptions::from_env()?;
            partita::run_scheduler(listen, secret, options)
        }
    });
    // The workers share the machine: each gets its part of the default limit.
    let memory = partita::default_memory_limit() / n.max(1) as u64;
    let mut workers = Vec::with_capacity(n);
    for i in 0..n {
        let child = std::process::Command::new(&exe)
            .args([
                "worker",
                "--scheduler",
                &listen.to_string(),
                "--name",
                &format!("local-{i}"),
                "--memory-limit",
                &memory.to_string(),
            ])
            .env("PARTITA_SECRET", secret.expose())
            .spawn()
            .map_err(|e| format!("starting worker {i}: {e}"))?;
        workers.push(child);
    }
    eprintln!("partita cluster: scheduler at {listen} with {n} workers");
    let result = scheduler.join();
    for mut w in workers {
        let _ = w.kill();
        let _ = w.wait();
    }
    match result {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("the scheduler thread panicked".into()),
    }
}
