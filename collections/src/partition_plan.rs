//! Cutting work into partitions by count: even ranges of items, and which input partitions
//! make each output when a collection is repartitioned without knowing its partitions' lengths.
//!
//! Repartitioning `m` partitions into `n` follows Dask's `repartition(npartitions=n)` for
//! unknown lengths: when `n <= m`, output `j` concatenates the neighbouring inputs
//! `j*m/n .. (j+1)*m/n`; when `n > m`, each input is split into equal pieces, input `i` giving
//! outputs `ceil(i*n/m) .. ceil((i+1)*n/m)`, so the pieces per input differ by at most one.
//! Concatenating the outputs in order gives the inputs in order.

use std::ops::Range;

/// Splits `len` items into `n` contiguous ranges whose sizes differ by at most one.
pub(crate) fn even_ranges(len: usize, n: usize) -> impl Iterator<Item = Range<usize>> {
    let n = n.max(1);
    (0..n).map(move |i| (i * len / n)..((i + 1) * len / n))
}

/// Where one output partition of a repartition comes from: the whole of `inputs`, or (when
/// `pieces > 1`) piece `piece` of `pieces` equal pieces of the one input in `inputs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Source {
    pub(crate) inputs: Range<usize>,
    pub(crate) piece: usize,
    pub(crate) pieces: usize,
}

impl Source {
    /// The range of `len` items of its input that this output takes.
    pub(crate) fn slice(&self, len: usize) -> Range<usize> {
        even_ranges(len, self.pieces)
            .nth(self.piece)
            .unwrap_or(0..0)
    }
}

/// The sources of the `n` outputs of repartitioning `m` inputs (`n` at least 1). With no input,
/// every output is empty.
pub(crate) fn sources(m: usize, n: usize) -> Vec<Source> {
    let n = n.max(1);
    (0..n)
        .map(|j| {
            if n <= m || m == 0 {
                Source {
                    inputs: (j * m / n)..((j + 1) * m / n),
                    piece: 0,
                    pieces: 1,
                }
            } else {
                let i = j * m / n;
                let first = (i * n).div_ceil(m);
                let next = ((i + 1) * n).div_ceil(m);
                Source {
                    inputs: i..i + 1,
                    piece: j - first,
                    pieces: next - first,
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn even_ranges_cover_everything_once() {
        for len in 0..20 {
            for n in 1..8 {
                let rs: Vec<_> = even_ranges(len, n).collect();
                assert_eq!(rs.len(), n);
                assert_eq!(rs[0].start, 0);
                assert_eq!(rs[n - 1].end, len);
                for w in rs.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let sizes: Vec<usize> = rs.iter().map(|r| r.len()).collect();
                assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
            }
        }
    }

    #[test]
    fn sources_take_every_input_once_in_order() {
        for m in 0..10 {
            for n in 1..25 {
                let s = sources(m, n);
                assert_eq!(s.len(), n);
                // Each input's pieces, in output order, must be 0..pieces of that input.
                let mut next_input = 0;
                let mut next_piece = 0;
                for src in &s {
                    if src.pieces == 1 {
                        assert_eq!(next_piece, 0, "m={m} n={n}");
                        assert_eq!(src.inputs.start, next_input, "m={m} n={n}");
                        next_input = src.inputs.end;
                    } else {
                        assert_eq!(src.inputs, next_input..next_input + 1, "m={m} n={n}");
                        assert_eq!(src.piece, next_piece, "m={m} n={n}");
                        next_piece += 1;
                        if next_piece == src.pieces {
                            next_piece = 0;
                            next_input += 1;
                        }
                    }
                }
                assert_eq!((next_input, next_piece), (m, 0), "m={m} n={n}");
                if n > m && m > 0 {
                    let per: Vec<usize> = (0..m)
                        .map(|i| s.iter().filter(|x| x.inputs.start == i).count())
                        .collect();
                    let (lo, hi) = (per.iter().min().unwrap(), per.iter().max().unwrap());
                    assert!(hi - lo <= 1, "m={m} n={n}: {per:?}");
                }
            }
        }
    }
}
