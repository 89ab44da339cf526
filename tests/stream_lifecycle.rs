//! Backpressure, stop without loss, abort, error policies, sources and sinks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use partita::collections::{ErrorPolicy, Stream};

#[test]
fn a_slow_sink_bounds_every_queue() {
    let produced = Arc::new(AtomicU64::new(0));
    let p = produced.clone();
    let pipeline = Stream::generate(None, None, move |i| {
        p.fetch_add(1, Ordering::Relaxed);
        i
    })
    .map(|i| i * 2)
    .for_each(|_| std::thread::sleep(Duration::from_micros(50)))
    .capacity(4)
    .batch_size(100)
    .start();
    let mut max_depth = 0;
    let deadline = Instant::now() + Duration::from_millis(600);
    while Instant::now() < deadline {
        for m in pipeline.metrics() {
            assert!(m.queue_depth <= m.queue_capacity, "{m:?}");
            max_depth = max_depth.max(m.queue_depth);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let made = produced.load(Ordering::Relaxed);
    let consumed: u64 = pipeline
        .metrics()
        .iter()
        .find(|m| m.name == "for_each")
        .map(|m| m.records_in)
        .unwrap();
    // At most the mailbox (4 batches), one batch being sent and one being consumed are in flight.
    assert!(
        made <= consumed + 6 * 100 + 100,
        "made {made}, consumed {consumed}"
    );
    assert!(max_depth >= 3, "the mailbox never filled: {max_depth}");
    pipeline.abort();
}

#[test]
fn stop_drains_every_accepted_record() {
    let generated = Arc::new(AtomicU64::new(0));
    let arrived = Arc::new(AtomicU64::new(0));
    let (g, a) = (generated.clone(), arrived.clone());
    let pipeline = Stream::generate(None, None, move |i| {
        g.fetch_add(1, Ordering::Relaxed);
        i
    })
    .filter(|i| i % 2 == 0)
    .map(|i| i / 2)
    .for_each(move |_| {
        a.fetch_add(1, Ordering::Relaxed);
    })
    .capacity(8)
    .start();
    std::thread::sleep(Duration::from_millis(200));
    pipeline.stop().unwrap();
    let n = generated.load(Ordering::Relaxed);
    assert!(n > 0);
    // Records 0..n were generated; every even one must have reached the sink.
    assert_eq!(arrived.load(Ordering::Relaxed), n.div_ceil(2));
}

#[test]
fn stop_loses_nothing_end_to_end() {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(1000);
    let producer = std::thread::spawn(move || {
        let mut sent = 0_u64;
        for i in 0.. {
            if tx.send(i).is_err() {
                break;
            }
            sent += 1;
            if sent == 200_000 {
                break;
            }
        }
        sent
    });
    let pipeline = Stream::from_channel(rx).map(|x| x + 1).count().start();
    let sent = producer.join().unwrap();
    // The producer is done and its sender dropped: the stream ends by itself with everything.
    assert_eq!(pipeline.wait().unwrap(), sent);
}

#[test]
fn abort_stops_at_once() {
    let pipeline = Stream::generate(None, None, |i: u64| i)
        .for_each(|_| std::thread::sleep(Duration::from_millis(1)))
        .start();
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    pipeline.abort();
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn the_fail_policy_fails_the_pipeline_with_the_error() {
    let err = Stream::iter(0..1000_i32)
        .try_map(|x| {
            if *x == 500 {
                Err(format!("bad record {x}"))
            } else {
                Ok(*x)
            }
        })
        .count()
        .start()
        .wait()
        .unwrap_err();
    assert!(err.to_string().contains("bad record 500"), "{err}");
}

#[test]
fn a_failed_record_keeps_its_typed_error() {
    let err = Stream::iter(["1", "2", "x", "4"])
        .try_map(|s| s.parse::<i64>())
        .count()
        .start()
        .wait()
        .unwrap_err();
    let runtime = err.as_runtime().expect("a runtime error");
    assert!(
        runtime
            .root_cause()
            .downcast_ref::<std::num::ParseIntError>()
            .is_some(),
        "{err}"
    );
}

#[test]
fn the_skip_policy_counts_and_goes_on() {
    let pipeline = Stream::iter(0..1000_i32)
        .try_map(|x| {
            if x % 10 == 0 {
                Err("multiple of ten")
            } else {
                Ok(*x)
            }
        })
        .map(|x| {
            if x == 7 {
                panic!("seven");
            }
            x
        })
        .count()
        .on_error(ErrorPolicy::Skip)
        .start();
    while !pipeline.is_finished() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let errors: u64 = pipeline.metrics().iter().map(|m| m.errors).sum();
    assert_eq!(pipeline.wait().unwrap(), 1000 - 100 - 1);
    assert_eq!(errors, 101);
}

#[test]
fn the_dead_letter_policy_receives_records_and_errors() {
    let (tx, rx) = crossbeam_channel::unbounded();
    let n = Stream::iter(0..100_i32)
        .try_map(|x| {
            if x % 25 == 3 {
                Err(format!("no {x}"))
            } else {
                Ok(*x)
            }
        })
        .count()
        .on_error(ErrorPolicy::DeadLetter(tx))
        .start()
        .wait()
        .unwrap();
    assert_eq!(n, 96);
    let letters: Vec<_> = rx.try_iter().collect();
    assert_eq!(letters.len(), 4);
    let records: Vec<i32> = letters
        .iter()
        .map(|l| *l.record.as_ref().unwrap().downcast_ref::<i32>().unwrap())
        .collect();
    assert_eq!(records, vec![3, 28, 53, 78]);
    assert_eq!(letters[0].error, "no 3");
    assert_eq!(letters[0].stage, "try_map");
}

#[test]
fn union_batch_inspect_and_channel_sink() {
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    let (tx, rx) = crossbeam_channel::unbounded();
    Stream::iter(0..50_u64)
        .union(Stream::iter(100..150_u64))
        .inspect(move |_| {
            s.fetch_add(1, Ordering::Relaxed);
        })
        .batch(8)
        .to_channel(tx)
        .start()
        .wait()
        .unwrap();
    let batches: Vec<Vec<u64>> = rx.try_iter().collect();
    assert_eq!(seen.load(Ordering::Relaxed), 100);
    assert!(batches.iter().all(|b| b.len() <= 8));
    assert_eq!(batches.iter().filter(|b| b.len() < 8).count(), 1);
    let mut all: Vec<u64> = batches.into_iter().flatten().collect();
    all.sort();
    assert_eq!(all, (0..50).chain(100..150).collect::<Vec<_>>());
}

#[test]
fn collect_is_bounded() {
    let err = Stream::iter(0..100).collect(10).start().wait().unwrap_err();
    assert!(err.to_string().contains("more than 10 records"), "{err}");
}

#[test]
fn a_rate_limited_generator_keeps_its_rate() {
    let t = Instant::now();
    let n = Stream::generate(Some(500), Some(5_000.0), |i| i)
        .count()
        .start()
        .wait()
        .unwrap();
    assert_eq!(n, 500);
    let s = t.elapsed().as_secs_f64();
    // Never faster than the rate allows (0.1 s). The upper bound only says it is not stuck:
    // a machine busy with the other tests can stall a stage for seconds.
    assert!(
        (0.08..10.0).contains(&s),
        "500 records at 5000/s took {s} s"
    );
}

#[test]
fn tail_reads_lines_as_the_file_grows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.txt");
    std::fs::write(&path, "one\ntwo\n").unwrap();
    let pipeline = Stream::tail(path.clone()).collect(100).start();
    std::thread::sleep(Duration::from_millis(100));
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"three\r\nfour").unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // "four" has no newline yet: it is not a line until it does.
        f.write_all(b" and more\n").unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while pipeline.metrics()[0].records_out < 4 {
        assert!(Instant::now() < deadline, "tail never saw the new lines");
        std::thread::sleep(Duration::from_millis(10));
    }
    let lines = pipeline.stop().unwrap();
    assert_eq!(lines, vec!["one", "two", "three", "four and more"]);
}

#[test]
fn a_tokio_channel_source_gives_async_senders_backpressure() {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let pipeline = Stream::from_tokio(rx).map(|x: u64| x + 1).count().start();
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tokio_rt.block_on(async move {
        for i in 0..10_000 {
            tx.send(i).await.unwrap();
        }
    });
    assert_eq!(pipeline.wait().unwrap(), 10_000);
}

#[test]
fn an_async_stream_source_ends_when_its_senders_are_gone() {
    struct Rx(tokio::sync::mpsc::Receiver<u32>);
    impl futures_core::Stream for Rx {
        type Item = u32;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<u32>> {
            self.0.poll_recv(cx)
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let pipeline = Stream::from_async(Rx(rx))
        .map(|x| x * 2)
        .collect(1000)
        .start();
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tokio_rt.block_on(async move {
        for i in 0..100 {
            tx.send(i).await.unwrap();
        }
    });
    assert_eq!(
        pipeline.wait().unwrap(),
        (0..100).map(|x| x * 2).collect::<Vec<_>>()
    );
}
