//! HDF5 datasets as lazy arrays: [`read_hdf5`] reads one hyperslab per block, [`store_hdf5`]
//! and [`to_hdf5`] write each block to its hyperslab as it is computed.
//!
//! The HDF5 library is not thread-safe; its binding serialises every call behind one global
//! lock. Blocks therefore read and write one at a time, while other workers compute.

mod element;
mod isolated;
mod read;
#[cfg(test)]
mod test;
mod write;

use std::ops::Range;

use hdf5_metno::{Hyperslab, Selection, SliceOrIndex};
use partita_collections::Chunks;

pub use self::element::Hdf5Element;
pub use self::isolated::{check_hdf5_child, check_hdf5_isolated};
pub use self::read::{read_hdf5, read_hdf5_as};
pub use self::write::{store_hdf5, to_hdf5, to_hdf5_dyn, Hdf5Write};

/// The element ranges of every block of `chunks`, in C order (the blocks' task order).
fn block_ranges(chunks: &Chunks) -> Vec<Vec<Range<usize>>> {
    let offsets: Vec<Vec<usize>> = (0..chunks.ndim()).map(|a| chunks.offsets(a)).collect();
    chunks
        .blocks()
        .map(|b| {
            b.iter()
                .enumerate()
                .map(|(axis, &i)| offsets[axis][i]..offsets[axis][i + 1])
                .collect()
        })
        .collect()
}

/// The hyperslab of a block; the whole (scalar) dataspace for a 0-d array.
fn selection(ranges: &[Range<usize>]) -> Selection {
    if ranges.is_empty() {
        return Selection::All;
    }
    let slices: Vec<SliceOrIndex> = ranges.iter().cloned().map(SliceOrIndex::from).collect();
    Hyperslab::from(slices).into()
}
