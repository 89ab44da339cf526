//! The task-overhead graphs, shared by `examples/tasks` and `benches/tasks.rs`. They are the
//! graphs of `w_tasks.py`: `inc(i)` leaves summed by a fan-in tree, a dependent chain, and many
//! independent tasks.

use partita::prelude::*;

fn inc(x: u64) -> u64 {
    x + 1
}

/// `n` independent `inc(i)` tasks summed by a tree of `fanin`-ary sums. Returns the root and the
/// number of tasks.
pub(crate) fn tree(n: u64, fanin: usize) -> (Delayed<u64>, usize) {
    let mut layer: Vec<Delayed<u64>> = (0..n).map(|i| delayed(move || inc(i))).collect();
    let mut tasks = layer.len();
    while layer.len() > 1 {
        layer = layer
            .chunks(fanin)
            .map(|xs| combine(xs, |vs| vs.iter().copied().sum::<u64>()))
            .collect();
        tasks += layer.len();
    }
    (layer.pop().expect("n > 0"), tasks)
}

partita::remote_fn! {
    /// `inc` by name, so that a graph of it can leave the process.
    fn inc_named(x: &u64) -> u64 { x + 1 }
}

partita::remote_fn! {
    /// A fan-in sum by name.
    fn sum_named(xs: &[&u64]) -> u64 { xs.iter().copied().sum() }
}

/// [`tree`] of registered functions, which can run on a cluster: each leaf is the literal `i`
/// and `inc_named` of it. Returns the root and the number of tasks, literals included.
// The bench shares this file and runs in one process only.
#[allow(dead_code)]
pub(crate) fn shippable_tree(n: u64, fanin: usize) -> (Delayed<u64>, usize) {
    let mut layer: Vec<Delayed<u64>> = (0..n).map(|i| from_value(i).map(inc_named)).collect();
    let mut tasks = 2 * layer.len();
    while layer.len() > 1 {
        layer = layer
            .chunks(fanin)
            .map(|xs| combine(xs, sum_named))
            .collect();
        tasks += layer.len();
    }
    (layer.pop().expect("n > 0"), tasks)
}

/// `x0 = inc(0)`, `x(k+1) = inc(x(k))`: `n` tasks, each waiting for the one before.
pub(crate) fn chain(n: u64) -> (Delayed<u64>, usize) {
    let mut x = delayed(|| inc(0));
    for _ in 1..n {
        x = x.map(|v| inc(*v));
    }
    (x, n as usize)
}

/// `n` independent `inc(i)` tasks, all requested.
pub(crate) fn wide(n: u64) -> Vec<Delayed<u64>> {
    (0..n).map(|i| delayed(move || inc(i))).collect()
}
