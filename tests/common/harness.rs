//! The runner of the test binaries that have their own `main` (they are also the child or
//! worker processes they start): runs each named test, or those whose names contain an argument,
//! catching each one's panic, and reports as libtest does.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `tests`, filtered by the command line's arguments; returns whether all passed.
pub(crate) fn run(tests: &[(&str, &dyn Fn())]) -> bool {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        match catch_unwind(AssertUnwindSafe(test)) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    failed == 0
}
