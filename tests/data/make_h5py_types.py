"""Writes h5py_types.h5, the HDF5 fixture of tests/io_hdf5_roundtrip.rs and io_hdf5_errors.rs.

Run from the repository root with h5py and NumPy installed:

    python tests/data/make_h5py_types.py

Every value comes from a formula over n = np.arange(20) that the Rust test repeats.
"""

import h5py
import numpy as np

n = np.arange(20)

# One 4x5 contiguous dataset per NumPy dtype, named by the dtype.
DATASETS = {
    "bool": n % 3 == 0,
    "int8": (n - 10).astype(np.int8),
    "int16": (n * 1000 - 10000).astype(np.int16),
    "int32": (n * 100000 - 1000000).astype(np.int32),
    "int64": (n * 10**12 - 10**13).astype(np.int64),
    "uint8": (n * 10).astype(np.uint8),
    "uint16": (n * 3000).astype(np.uint16),
    "uint32": (n * 200_000_000).astype(np.uint32),
    "uint64": n.astype(np.uint64) * np.uint64(900_000_000_000_000_000),
    "float32": (n / 4).astype(np.float32),
    "float64": n / 8 - 1,
    "complex64": (n + 1j * (20 - n)).astype(np.complex64),
    "complex128": n / 2 - 1j * n,
}

with h5py.File("tests/data/h5py_types.h5", "w", libver="earliest", track_order=False) as f:
    for name, values in DATASETS.items():
        f.create_dataset(name, data=values.reshape(4, 5))
    # Big-endian storage: HDF5 converts to the machine's order on read.
    f.create_dataset("int32_be", data=(n - 10).reshape(4, 5).astype(">i4"))
    # Chunked (4, 3) and gzip-compressed, 10x7, in a group.
    f.create_dataset(
        "group/chunked_gzip",
        data=(np.arange(70) * 0.5).reshape(10, 7),
        chunks=(4, 3),
        compression="gzip",
        compression_opts=4,
    )
    # Contiguous 3-d, 2x3x4.
    f.create_dataset("contiguous", data=np.arange(24, dtype=np.int64).reshape(2, 3, 4))
    # A 0-d dataset.
    f.create_dataset("scalar", data=np.float64(3.5))
    # A bool dataset whose bytes are 0, 1, 2 and -1: the last two are outside h5py's
    # FALSE/TRUE enum, written through the enum type itself so no conversion checks them.
    raw = f.create_dataset("bool_raw", shape=(4,), dtype=bool)
    raw_bytes = np.array([0, 1, 2, -1], dtype=np.int8)
    raw.id.write(h5py.h5s.ALL, h5py.h5s.ALL, raw_bytes, mtype=raw.id.get_type())
    # Types partita does not read: fixed-length strings, and a 16-byte integer (all zeros,
    # its fill value; NumPy has no 128-bit integer to write).
    f.create_dataset("text", data=np.array([b"ab", b"cd"]))
    int128 = h5py.h5t.STD_I64LE.copy()
    int128.set_size(16)
    int128.set_precision(128)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_obj_track_times(False)  # no timestamp, so every run writes the same bytes
    h5py.h5d.create(f.id, b"int128", int128, h5py.h5s.create_simple((3,)), dcpl=dcpl)
