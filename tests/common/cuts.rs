//! Random partitionings for tests: a table of `len` rows cut at arbitrary points.

use std::ops::Range;

/// The row ranges of `len` rows cut at `cuts` (each taken modulo `len + 1`, then sorted; equal
/// cuts give empty partitions). There is one range more than there are cuts.
pub(crate) fn ranges(len: usize, cuts: &[usize]) -> Vec<Range<usize>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (len + 1)).collect();
    at.sort_unstable();
    let mut bounds = vec![0];
    bounds.extend(at);
    bounds.push(len);
    bounds.windows(2).map(|w| w[0]..w[1]).collect()
}
