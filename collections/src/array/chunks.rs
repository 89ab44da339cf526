//! Chunk specifications: how each axis of an array is cut into blocks.

use crate::error::{Error, Result};

/// How an array is cut into blocks: for each axis, the sizes of its chunks along that axis, as
/// Dask's `chunks` tuple of tuples.
///
/// ```
/// use partita_collections::Chunks;
/// let c = Chunks::uniform(&[5, 4], &[2, 4]).unwrap();
/// assert_eq!(c.axis(0), &[2, 2, 1]);
/// assert_eq!(c.axis(1), &[4]);
/// assert_eq!(c.nblocks(), 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Chunks {
    sizes: Vec<Vec<usize>>,
}

impl Chunks {
    /// Chunks of `chunk[i]` along axis `i` (the last one smaller if the shape is not a multiple).
    /// An axis of length 0 has one chunk of size 0.
    ///
    /// # Errors
    /// [`Error::Shape`] when the ranks differ or a chunk size is 0.
    pub fn uniform(shape: &[usize], chunk: &[usize]) -> Result<Chunks> {
        if shape.len() != chunk.len() {
            return Err(Error::shape(format!(
                "chunk shape {chunk:?} has {} axes but the array has {} ({shape:?})",
                chunk.len(),
                shape.len()
            )));
        }
        let sizes = shape
            .iter()
            .zip(chunk)
            .enumerate()
            .map(|(axis, (&n, &c))| {
                if c == 0 {
                    return Err(Error::shape(format!("chunk size 0 on axis {axis}")));
                }
                if n == 0 {
                    return Ok(vec![0]);
                }
                Ok((0..n).step_by(c).map(|s| c.min(n - s)).collect())
            })
            .collect::<Result<_>>()?;
        Ok(Chunks { sizes })
    }

    /// Explicit chunk sizes per axis, checked against `shape`.
    ///
    /// ```
    /// use partita_collections::Chunks;
    /// let c = Chunks::explicit(&[5], vec![vec![1, 4]]).unwrap();
    /// assert_eq!(c.offsets(0), vec![0, 1, 5]);
    /// assert!(Chunks::explicit(&[5], vec![vec![1, 3]]).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] when an axis's sizes do not add up to its length, or a chunk of a
    /// non-empty axis is empty.
    pub fn explicit(shape: &[usize], sizes: Vec<Vec<usize>>) -> Result<Chunks> {
        if shape.len() != sizes.len() {
            return Err(Error::shape(format!(
                "chunks give {} axes but the array has {} ({shape:?})",
                sizes.len(),
                shape.len()
            )));
        }
        for (axis, (n, s)) in shape.iter().zip(&sizes).enumerate() {
            let total: usize = s.iter().sum();
            if total != *n || s.is_empty() || (*n > 0 && s.contains(&0)) {
                return Err(Error::shape(format!(
                    "chunks {s:?} on axis {axis} do not cut its length {n}"
                )));
            }
        }
        Ok(Chunks { sizes })
    }

    /// One chunk holding the whole array.
    pub fn single(shape: &[usize]) -> Chunks {
        Chunks {
            sizes: shape.iter().map(|&n| vec![n]).collect(),
        }
    }

    /// The number of axes.
    pub fn ndim(&self) -> usize {
        self.sizes.len()
    }

    /// The chunk sizes along `axis`.
    pub fn axis(&self, axis: usize) -> &[usize] {
        &self.sizes[axis]
    }

    /// Every axis's chunk sizes.
    pub fn sizes(&self) -> &[Vec<usize>] {
        &self.sizes
    }

    /// The array's shape.
    pub fn shape(&self) -> Vec<usize> {
        self.sizes.iter().map(|s| s.iter().sum()).collect()
    }

    /// The number of blocks along each axis.
    pub fn grid(&self) -> Vec<usize> {
        self.sizes.iter().map(Vec::len).collect()
    }

    /// The total number of blocks.
    pub fn nblocks(&self) -> usize {
        self.sizes.iter().map(Vec::len).product()
    }

    /// The start of every chunk along `axis`, then the axis length.
    pub fn offsets(&self, axis: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.sizes[axis].len() + 1);
        let mut at = 0;
        out.push(0);
        for s in &self.sizes[axis] {
            at += s;
            out.push(at);
        }
        out
    }

    /// The shape of the block at grid position `block`.
    pub fn block_shape(&self, block: &[usize]) -> Vec<usize> {
        block.iter().zip(&self.sizes).map(|(&b, s)| s[b]).collect()
    }

    /// The flat (C-order) number of the block at grid position `block`: its task index.
    pub fn flat(&self, block: &[usize]) -> u64 {
        let mut i = 0_u64;
        for (&b, s) in block.iter().zip(&self.sizes) {
            i = i * s.len() as u64 + b as u64;
        }
        i
    }

    /// Every block's grid position, in C order (the order of [`flat`](Self::flat)).
    pub fn blocks(&self) -> impl Iterator<Item = Vec<usize>> + '_ {
        let grid = self.grid();
        let n = self.nblocks();
        (0..n).map(move |mut i| {
            let mut pos = vec![0; grid.len()];
            for axis in (0..grid.len()).rev() {
                pos[axis] = i % grid[axis];
                i /= grid[axis];
            }
            pos
        })
    }

    /// Every axis's block offsets ([`offsets`](Self::offsets)), for [`slice_at`].
    pub(crate) fn all_offsets(&self) -> Vec<Vec<usize>> {
        (0..self.sizes.len()).map(|a| self.offsets(a)).collect()
    }

    pub(crate) fn from_sizes(sizes: Vec<Vec<usize>>) -> Chunks {
        Chunks { sizes }
    }
}

/// For each chunk of `to` along one axis, the chunks of `from` it overlaps and the range within
/// each: `(from chunk, start, end)` in `from` chunk coordinates.
pub(crate) fn overlaps(from: &[usize], to: &[usize]) -> Vec<Vec<(usize, usize, usize)>> {
    let mut out = Vec::with_capacity(to.len());
    let mut from_start = 0; // start of from-chunk `fi` in array coordinates
    let mut fi = 0;
    let mut at = 0; // start of the current to-chunk
    for &len in to {
        let end = at + len;
        let mut pieces = Vec::new();
        if len == 0 {
            pieces.push((fi.min(from.len() - 1), 0, 0));
        }
        let mut pos = at;
        while pos < end {
            while from_start + from[fi] <= pos {
                from_start += from[fi];
                fi += 1;
            }
            let stop = end.min(from_start + from[fi]);
            pieces.push((fi, pos - from_start, stop - from_start));
            pos = stop;
        }
        out.push(pieces);
        at = end;
    }
    out
}

/// The element ranges of the block at grid position `block`, as an ndarray slice, given every
/// axis's offsets ([`Chunks::all_offsets`], computed once for all the blocks).
pub(crate) fn slice_at(offsets: &[Vec<usize>], block: &[usize]) -> Vec<ndarray::SliceInfoElem> {
    block
        .iter()
        .zip(offsets)
        .map(|(&i, o)| ndarray::Slice::from(o[i]..o[i + 1]).into())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_cover_each_target_chunk() {
        let o = overlaps(&[3, 3, 3], &[2, 5, 2]);
        assert_eq!(o[0], vec![(0, 0, 2)]);
        assert_eq!(o[1], vec![(0, 2, 3), (1, 0, 3), (2, 0, 1)]);
        assert_eq!(o[2], vec![(2, 1, 3)]);
        assert_eq!(overlaps(&[0], &[0]), vec![vec![(0, 0, 0)]]);
    }

    #[test]
    fn blocks_enumerate_in_flat_order() {
        let c = Chunks::uniform(&[3, 4, 2], &[2, 3, 1]).unwrap();
        for (i, b) in c.blocks().enumerate() {
            assert_eq!(c.flat(&b), i as u64);
        }
        assert_eq!(c.grid(), vec![2, 2, 2]);
        assert_eq!(c.block_shape(&[1, 1, 0]), vec![1, 1, 1]);
    }
}
