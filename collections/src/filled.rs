//! Vectors of fresh memory, written before they are read.
//!
//! `vec![0; n]` asks the allocator for zeroed memory, which for a large `n` is fresh pages from
//! the kernel that nobody has touched. A table or counter array that is then *read* before it
//! is written (a lookup, `+=`) faults every page twice: the first read maps the shared zero page,
//! the first write copies it, and the copy makes the kernel interrupt every other core to flush
//! its TLB. Writing the initial value out first faults each page once.

/// `n` copies of `value`, written out.
pub(crate) fn filled<T: Clone>(n: usize, value: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    v.resize(n, value);
    v
}

#[cfg(test)]
mod test {
    #[test]
    fn filled_holds_n_copies() {
        assert_eq!(super::filled(3, 7_u8), vec![7, 7, 7]);
        assert!(super::filled(0, 1.5_f64).is_empty());
    }
}
