//! A corrupt HDF5 header made by hand: the first dimension of a dataset's dataspace changed.

use std::path::Path;

/// The bytes of the HDF5 file at `path` with the dataspace dims `dims` (little-endian u64s, as
/// the dataspace message stores them) changed to start with `first`.
pub(crate) fn with_first_dim(path: &Path, dims: &[u64], first: u64) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    let wanted: Vec<u8> = dims.iter().flat_map(|d| d.to_le_bytes()).collect();
    let at = bytes
        .windows(wanted.len())
        .position(|w| w == wanted.as_slice())
        .expect("the dataspace's dims");
    bytes[at..at + 8].copy_from_slice(&first.to_le_bytes());
    bytes
}
