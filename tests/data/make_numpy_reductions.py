"""Writes numpy_reductions.txt, NumPy's answers to the reductions, the cumulative sums and
products, and the element-wise functions of complex numbers of tests/array_numpy.rs.

Run from the repository root with NumPy installed (h5py is not needed):

    python tests/data/make_numpy_reductions.py

The arrays are those of make_h5py_types.py (each 4x5, from formulas over n = np.arange(20)),
which the Rust test reads from h5py_types.h5. Each line is one reduction:

    <dataset> <op> <axis> <result dtype> <shape> <value>...

`axis` is `all` or an axis number (`-` for an element-wise function); `shape` is the result's shape, comma-separated (`-` for a
0-d result); values are in C order, booleans as `true`/`false`, complex numbers as `re,im`, and
floats as Python's repr, which reads back exactly.
"""

import numpy as np

n = np.arange(20)

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

OPS = {
    "sum": lambda x, a: np.sum(x, axis=a),
    "prod": lambda x, a: np.prod(x, axis=a),
    "mean": lambda x, a: np.mean(x, axis=a),
    "var": lambda x, a: np.var(x, axis=a),
    "var1": lambda x, a: np.var(x, axis=a, ddof=1),
    "std": lambda x, a: np.std(x, axis=a),
    "any": lambda x, a: np.any(x, axis=a),
    "all": lambda x, a: np.all(x, axis=a),
    # As an array, so that axis=None gives NumPy's intp and not a Python int.
    "count_nonzero": lambda x, a: np.asarray(np.count_nonzero(x, axis=a), dtype=np.intp),
    "cumsum": lambda x, a: np.cumsum(x, axis=a),
    "cumprod": lambda x, a: np.cumprod(x, axis=a),
    "min": lambda x, a: np.min(x, axis=a),
    "max": lambda x, a: np.max(x, axis=a),
}


# Element-wise, on the complex datasets.
COMPLEX = {
    "real": np.real,
    "imag": np.imag,
    "conj": np.conj,
    "angle": np.angle,
    "abs": np.abs,
}


def text(v):
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (complex, np.complexfloating)):
        return f"{repr(float(v.real))},{repr(float(v.imag))}"
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(int(v))


with np.errstate(over="ignore"), open("tests/data/numpy_reductions.txt", "w") as out:
    for name, values in DATASETS.items():
        x = values.reshape(4, 5)
        for op, f in OPS.items():
            if op in ("min", "max") and x.dtype.kind in "bc":
                continue
            for axis in (None, 0, 1):
                if axis is None and op.startswith("cum"):
                    continue  # NumPy flattens; partita scans along an axis
                r = np.asarray(f(x, axis))
                shape = ",".join(map(str, r.shape)) or "-"
                vals = " ".join(text(v) for v in r.ravel())
                a = "all" if axis is None else str(axis)
                out.write(f"{name} {op} {a} {r.dtype.name} {shape} {vals}\n")
        if x.dtype.kind == "c":
            for op, f in COMPLEX.items():
                r = np.asarray(f(x))
                shape = ",".join(map(str, r.shape))
                vals = " ".join(text(v) for v in r.ravel())
                out.write(f"{name} {op} - {r.dtype.name} {shape} {vals}\n")
