//! A multi-file write killed midway leaves no trap: globs skip its temporary files, a
//! committed read refuses the folder, and the next write clears the leftovers and commits.
//!
//! The binary has its own `main`: it is also the child process whose write is killed.

#[path = "common/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use partita::collections::Bag;
use partita::io::{read_text, to_textfiles, Error, Source};
use partita::prelude::*;

/// In the child: the folder to write into.
const WRITE_INTO: &str = "PARTITA_TEST_WRITE_INTO";
const PARTS: usize = 16;
const LINES: usize = 300;

/// A line that takes a millisecond to hand to the writer, so that each part's temporary file
/// exists for a while.
#[derive(Clone)]
struct Slow(String);

impl AsRef<str> for Slow {
    fn as_ref(&self) -> &str {
        std::thread::sleep(Duration::from_millis(1));
        &self.0
    }
}

fn slow_write(dir: &Path) {
    let items: Vec<Slow> = (0..PARTS * LINES)
        .map(|i| Slow(format!("line {i} {}", "x".repeat(100))))
        .collect();
    let bag = Bag::from_sequence(items, PARTS);
    let rt = Runtime::builder().threads(2).build().expect("runtime");
    rt.install(|| to_textfiles(&bag, dir)).expect("the write");
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn a_killed_write_leaves_no_trap() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = KillOnDrop(
        Command::new(exe)
            .env(WRITE_INTO, dir.path())
            .spawn()
            .unwrap(),
    );
    // Kill it once some parts are complete and another is partly written.
    let start = Instant::now();
    loop {
        let n = names(dir.path());
        let done = n.iter().filter(|n| n.starts_with("part-")).count();
        // A temporary file with some of its lines in it.
        let partial = n.iter().any(|n| {
            n.ends_with(".partial")
                && std::fs::metadata(dir.path().join(n)).is_ok_and(|m| m.len() > 0)
        });
        if done >= 2 && partial {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the write never reached two parts and a temporary file: {n:?}"
        );
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the writer ended early"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let left = names(dir.path());
    assert!(left.iter().any(|n| n.ends_with(".partial")), "{left:?}");
    assert!(!left.iter().any(|n| n == partita::io::SUCCESS), "{left:?}");
    // What a glob sees is exactly the complete parts: each has all its lines.
    let complete: Vec<PathBuf> = left
        .iter()
        .filter(|n| n.starts_with("part-"))
        .map(|n| dir.path().join(n))
        .collect();
    let reference: Vec<String> = complete
        .iter()
        .flat_map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            text.lines().map(str::to_string).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(reference.len(), complete.len() * LINES);
    let rt = Runtime::builder().threads(2).build().unwrap();
    let pattern = format!("{}/*", dir.path().display());
    let read = rt
        .install(|| {
            read_text(pattern.as_str(), None)?
                .compute()
                .map_err(Error::from)
        })
        .unwrap();
    assert_eq!(read, reference);
    // Asked for a committed write, the folder is refused.
    let refused = read_text(Source::committed(dir.path()), None);
    assert!(
        matches!(refused, Err(Error::Uncommitted { ref dir }) if dir == dir.as_path()),
        "{refused:?}"
    );
    // The next write clears the leftovers of its format and commits: a committed read gives
    // its lines only, though the killed write's later parts are still in the folder.
    let lines: Vec<String> = (0..10).map(|i| format!("new {i}")).collect();
    let bag = Bag::from_sequence(lines.clone(), 3);
    rt.install(|| to_textfiles(&bag, dir.path())).unwrap();
    let after = names(dir.path());
    assert!(!after.iter().any(|n| n.ends_with(".partial")), "{after:?}");
    let committed = rt
        .install(|| {
            read_text(Source::committed(dir.path()), None)?
                .compute()
                .map_err(Error::from)
        })
        .unwrap();
    assert_eq!(committed, lines);
}

fn main() {
    if let Some(dir) = std::env::var_os(WRITE_INTO) {
        slow_write(Path::new(&dir));
        return;
    }
    let tests: &[(&str, &dyn Fn())] = &[(
        "a_killed_write_leaves_no_trap",
        &a_killed_write_leaves_no_trap,
    )];
    if !harness::run(tests) {
        std::process::exit(1);
    }
}
