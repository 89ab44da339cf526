use std::sync::Arc;

use super::limit::{cgroup_limit, mem_total};
use super::*;
use crate::events::EventBus;

fn memory(limit: u64, dir: &std::path::Path) -> Arc<Memory> {
    let config = MemoryConfig {
        limit,
        target: 0.5,
        pause: 0.8,
        spill_dir: Some(dir.to_path_buf()),
    };
    Memory::new(&config, "test", Arc::new(EventBus::default()))
}

fn big(n: usize, x: i64) -> Value {
    crate::value::value(vec![x; n])
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("partita-memtest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn reads_meminfo_and_cgroup_texts() {
    assert_eq!(
        mem_total("MemTotal:       16315268 kB\nMemFree: 1 kB\n"),
        Some(16315268 * 1024)
    );
    assert_eq!(mem_total("MemFree: 1 kB\n"), None);
    assert_eq!(cgroup_limit("max\n"), None);
    assert_eq!(cgroup_limit("2147483648\n"), Some(2 << 30));
    assert_eq!(cgroup_limit("9223372036854771712\n"), None);
    assert!(system_memory() > 1 << 20);
}

#[test]
fn small_values_are_not_managed() {
    let dir = tmp("small");
    let m = memory(1 << 20, &dir);
    let h = m
        .hold(&TaskKey::new("x", 0), crate::value::value(7_i64))
        .unwrap();
    assert!(matches!(h, Held::Value(_)));
    assert_eq!(m.stats().managed, 0);
}

#[test]
fn past_the_target_the_oldest_spill_and_read_back_equal() {
    let dir = tmp("lru");
    // Each value is 8 * 10_000 bytes of bincode plus a length: four fit under 200 kB * 0.5.
    let m = memory(200_000, &dir);
    let held: Vec<Held> = (0..4)
        .map(|i| {
            m.hold(&TaskKey::new("x", i), big(10_000, i as i64))
                .unwrap()
        })
        .collect();
    let s = m.stats();
    assert!(s.spill_count >= 2, "{s:?}");
    assert!(s.managed <= 100_000, "{s:?}");
    assert!(s.spilled > 0 && s.spilled == s.spilled_total, "{s:?}");
    let files = std::fs::read_dir(m.store.made().unwrap()).unwrap().count() as u64;
    assert_eq!(files, s.spill_count);
    // The oldest went first.
    assert!(matches!(&held[0], Held::Cell(c) if !c.spillable()));
    for (i, h) in held.iter().enumerate() {
        let v = h.get().unwrap();
        assert_eq!(
            v.downcast_ref::<Vec<i64>>().unwrap(),
            &vec![i as i64; 10_000]
        );
    }
    assert!(m.stats().unspill_count >= 2);
    drop(held);
    let s = m.stats();
    assert_eq!((s.managed, s.spilled), (0, 0), "{s:?}");
    assert!(m.lru.lock().is_empty());
    let files = std::fs::read_dir(m.store.made().unwrap()).unwrap().count();
    assert_eq!(files, 0);
    let made = m.store.made().unwrap();
    drop(m);
    assert!(
        !made.exists(),
        "the spill directory is removed with the runtime"
    );
}

#[test]
fn a_value_being_read_does_not_spill_and_too_much_fails_clearly() {
    let dir = tmp("pinned");
    let m = memory(200_000, &dir);
    let a = m.hold(&TaskKey::new("a", 0), big(10_000, 1)).unwrap();
    let reading = a.get().unwrap();
    let b = m.hold(&TaskKey::new("b", 0), big(10_000, 2)).unwrap();
    let c = m.hold(&TaskKey::new("c", 0), big(10_000, 3));
    // a is read (pinned); b spills for c.
    assert!(c.is_ok());
    assert_eq!(m.stats().spill_count, 1);
    drop((b, c));
    // A value larger than the limit is refused with its key, size and the limit.
    let err = m
        .hold(&TaskKey::new("huge", 3), big(30_000, 0))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("(huge, 3)") && err.contains("200000") && err.contains("memory_limit"),
        "{err}"
    );
    drop((a, reading));
}

#[test]
fn into_value_moves_a_last_holders_value_out() {
    let dir = tmp("move");
    let m = memory(1 << 30, &dir);
    let h = m.hold(&TaskKey::new("x", 0), big(10_000, 5)).unwrap();
    assert!(m.stats().managed > 0);
    let v = h.into_value().unwrap();
    assert_eq!(Arc::strong_count(&v), 1);
    assert_eq!(m.stats().managed, 0);
    assert!(m.lru.lock().is_empty());
}

#[test]
fn many_threads_hold_read_and_drop_under_a_small_limit() {
    let dir = tmp("threads");
    let m = memory(400_000, &dir);
    std::thread::scope(|s| {
        for t in 0..8_i64 {
            let m = m.clone();
            s.spawn(move || {
                let mut kept = Vec::new();
                for i in 0..40_i64 {
                    let x = t * 1000 + i;
                    let h = m.hold(&TaskKey::new("t", x as u64), big(5_000, x)).unwrap();
                    kept.push((x, h));
                    if i % 3 == 0 {
                        let (x, h) = kept.remove(0);
                        let v = h.into_value().unwrap();
                        assert_eq!(v.downcast_ref::<Vec<i64>>().unwrap()[4_999], x);
                    }
                }
                for (x, h) in kept {
                    assert_eq!(h.get().unwrap().downcast_ref::<Vec<i64>>().unwrap()[0], x);
                }
            });
        }
    });
    let s = m.stats();
    assert_eq!((s.managed, s.spilled), (0, 0), "{s:?}");
    assert!(s.spill_count > 0, "{s:?}");
}
